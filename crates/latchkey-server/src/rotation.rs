//! Rotations and their grace periods: what a rotation request asks of the
//! old key ([`grace_end`]), and the sweeper that ends the wait of old keys
//! rotated `gracePeriod: "until-unused"` ([`spawn`]).
//!
//! # Until unused
//!
//! `POST /v1/api-keys/{id}/rotate {gracePeriod: "until-unused", maxGrace,
//! quietFor}` keeps the old key working until it has not been used for
//! `quietFor` since the rotation, and at the latest until `maxGrace` has
//! passed. The old key's revocation time is set to the end of `maxGrace`
//! at the rotation, so every node stops it then with no further step (the
//! cached record carries it). Before that, each node's sweeper looks every
//! [`RotationSettings::sweep_interval`] for old keys whose stored last use
//! since the rotation (or the rotation itself) is `quietFor` ago, writes
//! this node's pending usage of those keys first
//! ([`latchkey_verify::KeyVerifier::flush_keys`]), and ends each wait with
//! [`latchkey_store::KeyStore::end_unused_rotation`]: a conditional update
//! decided under the row's lock against the row as stored (still waiting,
//! not revoked meanwhile, still quiet), which revokes the key at that
//! moment and appends `api_key.revoke` (actor `system`, details `reason:
//! "unused"` or `"maxGrace"`) in the same transaction: the audit trail and
//! the `api_key.revoked` webhook, as a revocation by hand. Of several
//! nodes' sweepers one wins; the others change nothing. Then the key is
//! evicted from every node's cache (`NOTIFY`, and the key change log that
//! every node follows), as `POST …/revoke` does. A revocation during the
//! wait ends it (the sweeper then finds nothing); a rotation of the new
//! key does not touch the old key's wait.
//!
//! # What "unused" can see
//!
//! Usage is written behind (`latchkey-verify`, `usage.rs`): every node adds
//! up its verifications in memory and writes them every 2 s, and under
//! heavy load (thousands of keys in use per node) a key's turn can take up
//! to [`latchkey_verify::FLUSH_LAG`] (50 s). The `lastUsedAt` of a key in a
//! grace period is written by each flush that has a newer one (other keys'
//! once a minute). So when the sweeper decides, storage holds every use of
//! the key made on its own node (written just before), and every use made
//! on other nodes more than about a minute earlier. Hence the guarantee:
//! **an old key used at least once every `quietFor` − 1 minute, on any
//! node, is never revoked as unused** (node clocks agreeing within
//! seconds). A key is revoked at most one sweep interval after its quiet
//! time ran out; a use on another node in the last minute before the
//! sweep may be missed, so a client that comes back after `quietFor` of
//! silence may find the key revoked. `quietFor` is therefore at least
//! [`RotationSettings::min_quiet_for`] (5 minutes by default, five times
//! that bound).

use std::time::Duration;

use latchkey_api_types::RotateApiKey;
pub use latchkey_api_types::UNTIL_UNUSED;
use latchkey_core::time_fmt::{Millis, now_ms};
use latchkey_core::{format_duration, parse_duration};
use latchkey_store::{ApiKeyRecord, GraceEnd};
use latchkey_verify::Background;
use serde_json::json;

use crate::audit::{Actor, Audit};
use crate::error::ApiError;
use crate::state::AppState;

/// `[rotation]` in `latchkey.toml`.
#[derive(Debug, Clone)]
pub struct RotationSettings {
    /// How often each node looks for old keys that have gone unused.
    pub sweep_interval: Duration,
    /// The shortest `quietFor` a rotation may ask for.
    pub min_quiet_for: Duration,
}

impl Default for RotationSettings {
    fn default() -> Self {
        Self { sweep_interval: Duration::from_secs(15), min_quiet_for: Duration::from_secs(300) }
    }
}

/// The longest grace period, fixed or `maxGrace`: 30 days.
pub const MAX_GRACE_SECS: u64 = 30 * 86_400;

/// `maxGrace` when a rotation until unused does not say: 7 days.
pub const DEFAULT_MAX_GRACE_SECS: u64 = 7 * 86_400;

/// `quietFor` when a rotation until unused does not say: 1 hour (or the
/// configured minimum if longer, or `maxGrace` if shorter).
pub const DEFAULT_QUIET_FOR_SECS: u64 = 3_600;

/// Old keys one sweep ends at most (the next sweep goes on).
const SWEEP_BATCH: i64 = 500;

/// When the old key of the rotation `req` asks for stops working, for a
/// rotation at `now`: now (no `gracePeriod`), at the end of a fixed grace
/// period (`"24h"`, at most 30 days), or once unused (`"until-unused"`, with
/// `maxGrace`, at most 30 days, default 7, and `quietFor`, from
/// [`RotationSettings::min_quiet_for`] to `maxGrace`, default 1 hour).
///
/// # Errors
/// 400 `invalid_request` naming the field: a value that is not a duration,
/// out of its range, or `maxGrace`/`quietFor` without `"until-unused"`.
pub(crate) fn grace_end(req: &RotateApiKey, settings: &RotationSettings, now: Millis) -> Result<GraceEnd, ApiError> {
    let secs =
        |field: &str, text: &str| parse_duration(text).map_err(|e| ApiError::bad_request(format!("{field}: {e}")));
    let ms = |secs: u64| i64::try_from(secs).unwrap_or(i64::MAX / 2_000) * 1000;
    let max = format_duration(MAX_GRACE_SECS);
    if req.grace_period.as_deref() != Some(UNTIL_UNUSED) {
        if req.max_grace.is_some() || req.quiet_for.is_some() {
            return Err(ApiError::bad_request(format!(
                "maxGrace and quietFor apply only to gracePeriod \"{UNTIL_UNUSED}\""
            )));
        }
        let Some(period) = req.grace_period.as_deref() else { return Ok(GraceEnd::At(now)) };
        let grace = parse_duration(period)
            .map_err(|e| ApiError::bad_request(format!("gracePeriod: {e}; or \"{UNTIL_UNUSED}\"")))?;
        if grace > MAX_GRACE_SECS {
            return Err(ApiError::bad_request(format!("gracePeriod must be at most {max}")));
        }
        return Ok(GraceEnd::At(now + ms(grace)));
    }
    let max_grace =
        req.max_grace.as_deref().map(|t| secs("maxGrace", t)).transpose()?.unwrap_or(DEFAULT_MAX_GRACE_SECS);
    if max_grace > MAX_GRACE_SECS {
        return Err(ApiError::bad_request(format!("maxGrace must be at most {max}")));
    }
    let min_quiet = settings.min_quiet_for.as_secs().max(1);
    let quiet_for = match req.quiet_for.as_deref() {
        Some(t) => secs("quietFor", t)?,
        None => DEFAULT_QUIET_FOR_SECS.max(min_quiet).min(max_grace),
    };
    if quiet_for < min_quiet {
        return Err(ApiError::bad_request(format!("quietFor must be at least {}", format_duration(min_quiet))));
    }
    if quiet_for > max_grace {
        return Err(ApiError::bad_request(format!(
            "quietFor must not be longer than maxGrace ({})",
            format_duration(max_grace)
        )));
    }
    Ok(GraceEnd::WhenUnused { quiet_ms: ms(quiet_for), latest: now + ms(max_grace) })
}

/// Starts this node's sweeper of rotations until unused.
/// Stop it with [`Background::stop`], so that usage it is writing is not
/// cut short.
pub fn spawn(state: AppState) -> Background {
    Background::spawn("the rotation sweeper", |mut stop| async move {
        let mut every = tokio::time::interval(state.settings.rotation.sweep_interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            match sweep(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "old keys revoked at the end of their wait until unused"),
                Err(e) => tracing::warn!(error = %e, "could not end waits until unused; will retry"),
            }
        }
    })
}

/// One sweep: ends the waits that are over, as the module says; how many
/// this node ended.
async fn sweep(state: &AppState) -> Result<usize, latchkey_store::StoreError> {
    let due = state.store.unused_rotations_due(now_ms(), SWEEP_BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    // What this node counted of these keys is in storage before the
    // decision (their last uses included, precisely).
    let hashes: Vec<_> = due.iter().map(|d| d.hash).collect();
    state.verifier.flush_keys(&hashes).await?;
    let now = now_ms();
    let mut ended = Vec::new();
    for d in &due {
        if let Some(key) = state.store.end_unused_rotation(&d.org_id, &d.id, now, &revocation).await? {
            let plan = key.until_unused;
            tracing::info!(
                key_id = %key.id,
                org_id = %key.org_id,
                reason = reason(&key),
                last_used_since_rotation = plan.and_then(|p| p.last_used_since(key.last_used_at)),
                "api key revoked: its wait until unused is over"
            );
            ended.push(key.hash);
        }
    }
    if !ended.is_empty() {
        state.invalidate_keys(&ended).await;
    }
    Ok(ended.len())
}

/// Why the wait of `key` (as it ended) is over: `unused`, or `maxGrace`
/// (it stopped at the end of its longest grace).
fn reason(key: &ApiKeyRecord) -> &'static str {
    match (key.until_unused, key.revoked_at) {
        (Some(plan), Some(at)) if at < plan.max_until => "unused",
        _ => "maxGrace",
    }
}

/// The audit event of the sweeper's revocation of `key`: `api_key.revoke`,
/// as a revocation by hand (so the `api_key.revoked` webhook follows), by
/// the system, with why and the plan.
fn revocation(key: &ApiKeyRecord) -> latchkey_store::AuditEvent {
    let plan = key.until_unused;
    let details = json!({
        "reason": reason(key),
        "rotatedTo": key.rotated_to,
        "quietForMs": plan.map(|p| p.quiet_ms),
        "lastUsedSinceRotationAt": plan.and_then(|p| p.last_used_since(key.last_used_at)),
    });
    let actor = Actor { kind: "system", id: None };
    Audit::default().event(Some(&key.org_id), actor, "api_key.revoke", Some(("api_key", &key.id)), &details)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_750_000_000_000;

    fn rotate(grace: Option<&str>, max_grace: Option<&str>, quiet_for: Option<&str>) -> RotateApiKey {
        RotateApiKey {
            name: None,
            grace_period: grace.map(str::to_owned),
            max_grace: max_grace.map(str::to_owned),
            quiet_for: quiet_for.map(str::to_owned),
        }
    }

    /// Every accepted form, with its defaults, and every refusal with the
    /// field it names.
    #[test]
    fn grace_periods_are_read_with_their_defaults_and_limits() {
        let settings = RotationSettings::default();
        let end = |g, m, q| grace_end(&rotate(g, m, q), &settings, NOW);
        let until =
            |quiet_s: i64, max_s: i64| GraceEnd::WhenUnused { quiet_ms: quiet_s * 1000, latest: NOW + max_s * 1000 };
        assert_eq!(end(None, None, None).unwrap(), GraceEnd::At(NOW));
        assert_eq!(end(Some("24h"), None, None).unwrap(), GraceEnd::At(NOW + 86_400_000));
        assert_eq!(end(Some("30d"), None, None).unwrap(), GraceEnd::At(NOW + 30 * 86_400_000));
        assert_eq!(end(Some(UNTIL_UNUSED), None, None).unwrap(), until(3_600, 7 * 86_400));
        assert_eq!(end(Some(UNTIL_UNUSED), Some("30d"), Some("5m")).unwrap(), until(300, 30 * 86_400));
        assert_eq!(end(Some(UNTIL_UNUSED), Some("30m"), None).unwrap(), until(1_800, 1_800), "at most maxGrace");
        assert_eq!(end(Some(UNTIL_UNUSED), Some("1h"), Some("1h")).unwrap(), until(3_600, 3_600));

        let refused = [
            (Some("forever"), None, None, "gracePeriod: invalid duration `forever`"),
            (Some("31d"), None, None, "gracePeriod must be at most 30d"),
            (Some("until_unused"), None, None, "gracePeriod: invalid duration"),
            (None, Some("7d"), None, "maxGrace and quietFor apply only to gracePeriod \"until-unused\""),
            (Some("1h"), None, Some("5m"), "maxGrace and quietFor apply only"),
            (Some(UNTIL_UNUSED), Some("31d"), None, "maxGrace must be at most 30d"),
            (Some(UNTIL_UNUSED), Some("soon"), None, "maxGrace: invalid duration `soon`"),
            (Some(UNTIL_UNUSED), None, Some("0s"), "quietFor: invalid duration `0s`"),
            (Some(UNTIL_UNUSED), None, Some("4m59s"), "quietFor must be at least 5m"),
            (Some(UNTIL_UNUSED), Some("2m"), None, "quietFor must be at least 5m"),
            (Some(UNTIL_UNUSED), Some("1h"), Some("61m"), "quietFor must not be longer than maxGrace (1h)"),
        ];
        for (g, m, q, why) in refused {
            let e = end(g, m, q).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{g:?} {m:?} {q:?}");
            assert!(e.message().contains(why), "{g:?} {m:?} {q:?}: {}", e.message());
        }

        // A lower minimum (tests) lets a short quietFor through.
        let fast = RotationSettings { min_quiet_for: Duration::from_secs(1), ..RotationSettings::default() };
        assert_eq!(grace_end(&rotate(Some(UNTIL_UNUSED), Some("1m"), Some("2s")), &fast, NOW).unwrap(), until(2, 60));
    }
}
