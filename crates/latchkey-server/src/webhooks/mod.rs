//! Webhooks: the endpoints' targets and signing secrets, the delivery
//! worker ([`delivery`]) and the scheduler of expiry and credit events
//! ([`scheduler`]). The routes are `routes/webhooks.rs`; the outbox is
//! written by the database in the transaction of each change (migration
//! 0013, [`latchkey_store::WebhookStore`]).

pub mod delivery;
pub mod scheduler;

use std::time::Duration;

use latchkey_core::crypto::WebhookAad;
use latchkey_core::id::OrgId;
use latchkey_core::time_fmt::Millis;
use latchkey_core::webhook::{SigningSecret, is_public};
use latchkey_store::Webhook;

use crate::error::ApiError;
use crate::sealing::{SealError, data_key};
use crate::state::AppState;

/// `[webhooks]` in `latchkey.toml`.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Whether endpoints may be on loopback, private, link-local or
    /// metadata addresses (tests, a trusted private network). Off by default.
    pub allow_private_targets: bool,
    /// The delays before the 2nd, 3rd, … attempt of a delivery (each
    /// stretched by up to 10 % of jitter); after the last, it has failed.
    pub retry_schedule: Vec<Duration>,
    /// An endpoint whose attempts have all failed for this long is disabled.
    pub disable_after: Duration,
    /// How often each node looks for due deliveries when idle.
    pub poll_interval: Duration,
    /// How often the scheduler looks for expiring keys and spent credits.
    pub schedule_interval: Duration,
}

/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then daily for 3 days.
pub const DEFAULT_RETRY_SCHEDULE: &[u64] = &[5, 300, 1800, 7200, 18_000, 36_000, 86_400, 86_400, 86_400];

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            retry_schedule: DEFAULT_RETRY_SCHEDULE.iter().map(|s| Duration::from_secs(*s)).collect(),
            disable_after: Duration::from_secs(5 * 86_400),
            poll_interval: Duration::from_millis(500),
            schedule_interval: Duration::from_secs(60),
        }
    }
}

/// A state that should not be (logged as a 500's cause).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Broken(String);

/// The longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2048;

/// Why a target is refused (the public message of a 400).
fn refused(why: &str) -> ApiError {
    ApiError::bad_request(format!("url: {why}"))
}

/// Checks an endpoint's URL: `http` or `https`, at most [`MAX_URL_LEN`]
/// characters, no credentials, and, unless private targets are allowed, a
/// host that is not an address a delivery may not reach (a name is
/// checked at each delivery, after it is resolved).
pub fn check_url(text: &str, allow_private: bool) -> Result<String, ApiError> {
    if text.len() > MAX_URL_LEN {
        return Err(refused(&format!("at most {MAX_URL_LEN} characters")));
    }
    let url = url::Url::parse(text).map_err(|_| refused("not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("only http and https URLs receive webhooks"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("credentials in the URL are not allowed"));
    }
    if url.fragment().is_some() {
        return Err(refused("a fragment is not allowed"));
    }
    match url.host() {
        None => return Err(refused("a host is needed")),
        Some(host) if !allow_private && !host_allowed(&host) => {
            return Err(refused("loopback, private, link-local and metadata addresses are not allowed"));
        }
        Some(_) => {}
    }
    Ok(url.to_string())
}

/// Whether a URL's host may be connected to as written: an address must
/// be public; a name is judged after resolution.
fn host_allowed(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => is_public((*ip).into()),
        url::Host::Ipv6(ip) => is_public((*ip).into()),
        url::Host::Domain(_) => true,
    }
}

/// An endpoint's secret sealed with the organization's data key (created
/// on first use), bound to the endpoint and `version`.
pub(crate) async fn seal_secret(
    state: &AppState,
    org_id: &OrgId,
    webhook_id: &str,
    version: i64,
    secret: &SigningSecret,
) -> Result<Vec<u8>, ApiError> {
    let key = data_key(state, org_id, true)
        .await?
        .ok_or_else(|| ApiError::internal(&Broken("no data key was created".to_owned())))?;
    let aad = WebhookAad { org_id: org_id.as_str(), webhook_id, version };
    key.seal(&aad, secret.as_bytes()).map_err(|e| {
        ApiError::internal(&SealError { what: format!("cannot seal the signing secret of {webhook_id}"), source: e })
    })
}

/// The secrets that sign a message to `w` at `now`: the current one, and
/// the one the last rotation replaced while it still signs.
pub(crate) async fn signing_secrets(
    state: &AppState,
    w: &Webhook,
    now: Millis,
) -> Result<Vec<SigningSecret>, ApiError> {
    let key = data_key(state, &w.org_id, false)
        .await?
        .ok_or_else(|| ApiError::internal(&Broken(format!("{} has a sealed secret but no data key", w.org_id))))?;
    let open = |sealed: &[u8], version: i64| {
        let aad = WebhookAad { org_id: w.org_id.as_str(), webhook_id: w.id.as_str(), version };
        key.open(&aad, sealed).map(SigningSecret::from_bytes).map_err(|e| {
            ApiError::internal(&SealError { what: format!("cannot open the signing secret of {}", w.id), source: e })
        })
    };
    let mut secrets = vec![open(&w.secret, w.secret_version)?];
    if let (Some(previous), Some(until)) = (&w.previous_secret, w.previous_until)
        && until > now
    {
        secrets.push(open(previous, w.secret_version - 1)?);
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_before_anything_is_stored() {
        let ok = |u: &str| check_url(u, false).is_ok();
        assert!(ok("https://hooks.example.com/latchkey?x=1"));
        assert!(ok("http://93.184.216.34:8080/"));
        assert!(ok("http://localhost:9/"), "names are checked after resolution, at delivery");
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "not a url",
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
        ] {
            assert!(!ok(bad), "{bad} must be refused");
        }
        assert!(!ok(&format!("https://example.com/{}", "a".repeat(MAX_URL_LEN))));
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok(), "allowed when private targets are");
        assert!(check_url("file:///etc/passwd", true).is_err());
    }
}
