//! Shared application state and server settings.

use std::sync::Arc;

use latchkey_core::forward_path::{self, AmbiguousPath};
use latchkey_core::{Catalog, KeyHash, Scope};
use latchkey_store::Store;
use latchkey_verify::KeyVerifier;
use latchkey_verify::ratelimit::RateLimiter;

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Brand of minted keys: `lk` gives `lk_live_…` / `lk_test_…`.
    pub brand: String,
    /// The scope catalog.
    pub catalog: Catalog,
    /// Failed authentications allowed per client address and minute
    /// before they are answered 429.
    pub failed_auth_per_minute: u32,
    /// Forward-auth route map: method and path prefix → required scope.
    pub routes: Vec<RouteRule>,
    /// What the route map does with an ambiguous forwarded path.
    pub ambiguous_paths: AmbiguousPaths,
    /// Mounts `POST /bench/echo`, a route that parses a verify body and does
    /// nothing else: the ceiling the verify path is measured against
    /// (`bench/`). Off unless `latchkey serve --bench-echo`.
    pub bench_echo: bool,
    /// Whether `POST /v1/auth/signup` is open.
    pub signup: bool,
    /// Lifetime of a login session, in milliseconds.
    pub session_ttl_ms: i64,
    /// Whether people reach the server over HTTPS (through a proxy that
    /// ends TLS): the dashboard's cookies are then `Secure`.
    pub behind_https: bool,
    /// Failed logins per account (email) *and* client address, and minute,
    /// before that address gets 429s for that account.
    pub login_failures_per_account_and_ip: u32,
    /// Failed logins per account (email) and minute, from every address
    /// together, before 429s: a ceiling well above the per-address one, so
    /// that nobody locks a person out from a few addresses.
    pub login_failures_per_account: u32,
    /// Failed logins per client address and minute before 429s.
    pub login_failures_per_ip: u32,
    /// Sign-ups per client address and hour before 429s.
    pub signups_per_hour_per_ip: u32,
    /// Proxies whose `X-Forwarded-For` names the client
    /// ([`crate::auth::client_ip`]); none by default.
    pub trusted_proxies: crate::forwarded::TrustedProxies,
    /// Connection limits and timeouts of the listener.
    pub connections: crate::conn::ConnectionLimits,
    /// With a token, `GET /metrics` needs `Authorization: Bearer <token>`;
    /// without, it is public.
    pub metrics_token: Option<MetricsToken>,
    /// With an address, `GET /metrics` is served there and not on the main
    /// listener.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The origin people and identity providers reach this server at
    /// (`https://latchkey.example.com`); when unset, each request's `Host`
    /// ([`crate::extract::public_origin`]).
    pub public_url: Option<String>,
    /// `http://{the address the server listens on}`: the origin of the
    /// URLs made without a request at hand (connected apps' callback and
    /// connect links) when [`Settings::public_url`] is unset.
    pub listen_origin: Option<String>,
    /// The OpenID Connect providers people may sign in with.
    pub oidc: Vec<crate::oidc::ProviderConfig>,
    /// The OAuth providers people may connect their accounts at.
    pub oauth: Vec<crate::oauth::OAuthProviderConfig>,
    /// The object store workspaces' files are in (`[workspaces.storage]`);
    /// without one, file access answers 501 `storage_not_configured`.
    pub workspace_storage: Option<crate::workspaces::StorageConfig>,
    /// On shutdown, time the pending key usage gets to be written; what is
    /// left then goes to a spill file in [`Settings::usage_spill_dir`].
    pub usage_flush_deadline: std::time::Duration,
    /// Where usage not written at shutdown is spilled, and where the next
    /// start looks for spills to write (the data directory); none: what
    /// the deadline leaves stays unwritten.
    pub usage_spill_dir: Option<std::path::PathBuf>,
    /// The public keys that may sign leak reports (`POST /v1/leaks`,
    /// `[[leaks.signers]]`); none by default: every report is refused.
    pub leak_signers: Vec<crate::leaks::LeakSigner>,
    /// Webhook delivery and scheduling (`[webhooks]`).
    pub webhooks: crate::webhooks::WebhookSettings,
    /// Rotations until unused: the sweeper's period and the shortest
    /// `quietFor` (`[rotation]`).
    pub rotation: crate::rotation::RotationSettings,
}

/// The bearer token `GET /metrics` asks for. Its `Debug` is redacted.
#[derive(Clone)]
pub struct MetricsToken(zeroize::Zeroizing<String>);

impl MetricsToken {
    /// A token; `None` if it is empty.
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty()).then(|| Self(zeroize::Zeroizing::new(token.to_owned())))
    }

    /// Whether `presented` is the token, compared in constant time (the
    /// length aside).
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

/// One entry of the forward-auth route map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// HTTP method, or any when `None`.
    pub method: Option<String>,
    /// Path prefix of the forwarded request: plain characters only
    /// ([`forward_path::is_route_prefix`]).
    pub path_prefix: String,
    /// The scope the key needs.
    pub scope: Scope,
}

impl Settings {
    /// The required scope of a forwarded request: the rule with the longest
    /// matching prefix wins (a method-specific rule over an any-method one).
    /// Prefixes match whole segments, ASCII case-insensitively
    /// ([`forward_path::prefix_matches`]), so `/V1/Sandboxes/x` matches a
    /// `/v1/sandboxes` rule and `/v1/sandboxes-old` does not. A path that
    /// routers could read two ways (`/v1/sandboxes/..%2fpublic`) is refused
    /// ([`forward_path::normalize`]), unless [`Settings::ambiguous_paths`]
    /// says to read it the older, lenient way.
    pub fn route_scope(&self, method: &str, uri: &str) -> Result<Option<&Scope>, AmbiguousPath> {
        if self.routes.is_empty() {
            return Ok(None);
        }
        let lenient;
        let path = match self.ambiguous_paths {
            AmbiguousPaths::Refuse => forward_path::normalize(uri)?,
            AmbiguousPaths::Normalize => {
                lenient = forward_path::normalize_lenient(uri);
                &lenient
            }
        };
        Ok(self
            .routes
            .iter()
            .filter(|r| r.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method)))
            .filter(|r| forward_path::prefix_matches(&r.path_prefix, path))
            .max_by_key(|r| (r.path_prefix.trim_end_matches('/').len(), r.method.is_some()))
            .map(|r| &r.scope))
    }
}

/// What forward auth does with a forwarded path that routers could read
/// two ways (`auth_check.ambiguous_paths` in `latchkey.toml`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AmbiguousPaths {
    /// Refuse the check (403 `ambiguous_path`): the default.
    #[default]
    Refuse,
    /// Decode, resolve dot segments and lowercase, then match
    /// ([`forward_path::normalize_lenient`]); only safe when the service
    /// behind the proxy routes paths exactly so.
    Normalize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            brand: "lk".to_owned(),
            catalog: latchkey_core::profiles::default_catalog(),
            failed_auth_per_minute: 30,
            routes: Vec::new(),
            ambiguous_paths: AmbiguousPaths::Refuse,
            bench_echo: false,
            signup: true,
            session_ttl_ms: 30 * 86_400_000,
            behind_https: false,
            login_failures_per_account_and_ip: 5,
            login_failures_per_account: 100,
            login_failures_per_ip: 20,
            trusted_proxies: crate::forwarded::TrustedProxies::default(),
            connections: crate::conn::ConnectionLimits::default(),
            metrics_token: None,
            metrics_listen: None,
            signups_per_hour_per_ip: 20,
            public_url: None,
            listen_origin: None,
            oidc: Vec::new(),
            oauth: Vec::new(),
            workspace_storage: None,
            usage_flush_deadline: std::time::Duration::from_secs(2),
            usage_spill_dir: None,
            leak_signers: Vec::new(),
            webhooks: crate::webhooks::WebhookSettings::default(),
            rotation: crate::rotation::RotationSettings::default(),
        }
    }
}

/// State shared by every handler: one `Arc`, so the per-request clones
/// that axum's router makes cost one reference count, not one per field.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.inner
    }
}

impl From<Shared> for AppState {
    fn from(shared: Shared) -> Self {
        Self { inner: Arc::new(shared) }
    }
}

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct Shared {
    /// Storage, chosen at start-up.
    pub store: Arc<dyn Store>,
    /// Writes new keys, concurrent ones in one transaction (group commit).
    pub key_writer: Arc<crate::key_writer::KeyWriter>,
    /// The verification path (cache, usage).
    pub verifier: Arc<KeyVerifier>,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Failed authentications per client address.
    pub failed_auth: Arc<RateLimiter>,
    /// Failed logins per account, per client address, and per both.
    pub login_failures: Arc<crate::throttle::FailureWindow>,
    /// Sign-ups per client address (an hour's window).
    pub signups: Arc<crate::throttle::FailureWindow>,
    /// The master keys that wrap the organizations' data keys; without
    /// them the secret routes answer 503.
    pub keyring: Option<Arc<crate::keyring::Keyring>>,
    /// The OpenID Connect providers, discovered or not yet.
    pub oidc: Arc<crate::oidc::Providers>,
    /// The object store of workspaces' files, made once at start from
    /// [`Settings::workspace_storage`]; without one, file access answers
    /// 501 `storage_not_configured`.
    pub object_store: Option<crate::workspaces::ObjectStore>,
}

impl AppState {
    /// The same state with `keyring` for secrets.
    #[must_use]
    pub fn with_keyring(mut self, keyring: Arc<crate::keyring::Keyring>) -> Self {
        Arc::make_mut(&mut self.inner).keyring = Some(keyring);
        self
    }

    /// Evicts keys from this node's cache and tells every other node sharing
    /// the database to do the same (PostgreSQL `NOTIFY`). If publishing
    /// fails, other nodes see the change when their cached copy reaches its
    /// TTL.
    pub async fn invalidate_keys(&self, hashes: &[KeyHash]) {
        for hash in hashes {
            self.verifier.invalidate(hash);
        }
        if let Err(e) = self.store.publish_invalidation(hashes).await {
            tracing::warn!(error = %e, keys = hashes.len(), "could not tell other nodes about changed keys");
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("backend", &self.store.backend_name()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_and_method_win() {
        let rule = |m: Option<&str>, p: &str, s: &str| RouteRule {
            method: m.map(str::to_owned),
            path_prefix: p.to_owned(),
            scope: Scope::parse(s).unwrap(),
        };
        let settings = Settings {
            routes: vec![
                rule(None, "/v1/sandboxes", "sandbox:read"),
                rule(Some("POST"), "/v1/sandboxes", "sandbox:create"),
                rule(None, "/v1/sandboxes/exec", "sandbox:write"),
            ],
            ..Settings::default()
        };
        let scope = |m, p| settings.route_scope(m, p).unwrap().map(ToString::to_string);
        assert_eq!(scope("GET", "/v1/sandboxes/1"), Some("sandbox:read".into()));
        assert_eq!(scope("post", "/v1/sandboxes"), Some("sandbox:create".into()));
        assert_eq!(scope("POST", "/v1/sandboxes/exec/9"), Some("sandbox:write".into()));
        assert_eq!(scope("GET", "/v1/agents"), None);
        for plain in ["/V1/Sandboxes", "/v1/sandboxes?a=b", "/v1/sandboxes/"] {
            assert_eq!(scope("POST", plain), Some("sandbox:create".into()), "{plain}");
        }
        for sneaky in
            ["/v1/%73andboxes", "//v1/sandboxes", "/v1/./sandboxes", "/v1/x/../sandboxes", "/v1/sandboxes/..%2fx"]
        {
            assert!(settings.route_scope("POST", sneaky).is_err(), "{sneaky}");
        }
        let lenient = Settings { ambiguous_paths: AmbiguousPaths::Normalize, ..settings.clone() };
        for sneaky in ["/v1/%73andboxes", "//v1/sandboxes", "/v1/./sandboxes", "/v1/x/../sandboxes"] {
            assert_eq!(
                lenient.route_scope("POST", sneaky).unwrap().map(ToString::to_string),
                Some("sandbox:create".into()),
                "{sneaky}"
            );
        }
        assert_eq!(scope("POST", "/v1/sandboxes-old"), None, "prefixes match whole segments");
    }
}
