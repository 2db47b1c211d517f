//! Keys as a service of the server: minting, the validators of a key's
//! fields, and storing a minted key. The routes call it (`POST
//! /v1/api-keys` and rotation in `routes/api_keys.rs`, the Runloop
//! `/v1/apikeys` and `/v1/restricted_keys` in `routes/runloop.rs`, Runtype
//! surface keys in `routes/runtype.rs`); it knows no extractor and no route:
//! it takes the state, the caller and plain values, and returns domain
//! results or an [`ApiError`].
//!
//! A path builds a [`KeySpec`] and calls [`mint`], which refuses (403
//! `insufficient_scope`), in this one place:
//!
//! * a reserved scope (`secret:resolve`, `oauth:token`): only the operator mints such a
//!   key, from the command line (`latchkey admin create-service-key`);
//! * a scope the caller may not use itself (its credential's scopes bounded
//!   by its role): nobody grants what they do not hold;
//! * a scope beyond the role of the key's owner (a member's keys never hold
//!   `*`, `org:write`, `org:members` or `admin:*`; an organization-owned
//!   key may hold what an admin may).
//!
//! and then, with 400 `policy_violation` naming the rule, a key that breaks
//! its organization's key policy ([`latchkey_core::policy`]; the caller
//! reads it with [`key_policy`] before minting, so before the key is queued
//! for the group committer). A key that sets no rate limits takes the
//! policy's defaults there too.
//!
//! [`store_minted`] then writes the key with its audit event. A key
//! imported by its hash (`routes/api_keys/import.rs`) goes through the same
//! checks ([`admit`]) and becomes a row the same way ([`new_key`]).

use std::net::IpAddr;

use latchkey_api_types::{RefillIntervalView, RefillView};
use latchkey_core::id::{KeyId, OrgId, ProjectId, SurfaceId, UserId};
use latchkey_core::ip::IpRules;
use latchkey_core::policy::{KeyFacts, KeyPolicy};
use latchkey_core::time_fmt::{Millis, parse_rfc3339};
use latchkey_core::{
    DisplayPrefix, Environment, KeyHash, KeyPrefix, MAX_SCOPES, PlainKey, Role, Scope, ScopeSet, parse_duration,
};
use latchkey_store::{ApiKeyRecord, KeyKind, NewApiKey, Refill, RefillInterval};

use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// 400 `invalid_scopes` for a list of more than [`MAX_SCOPES`] scopes,
/// checked before any entry is parsed.
pub(crate) fn check_scope_count(n: usize) -> Result<(), ApiError> {
    if n > MAX_SCOPES {
        Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_scopes",
            format!("at most {MAX_SCOPES} scopes, not {n}"),
        ))
    } else {
        Ok(())
    }
}

/// Parses the scopes a request requires of a key (syntax only: a key may
/// hold scopes outside the catalog through `*` or `resource:*`); at most
/// [`MAX_SCOPES`]. Verify and explain take them.
pub(crate) fn required_scopes(raw: &[String]) -> Result<Vec<Scope>, ApiError> {
    check_scope_count(raw.len())?;
    let mut bad = Vec::new();
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        match Scope::parse(s) {
            Some(scope) => out.push(scope),
            None => bad.push(s.clone()),
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(ApiError::invalid_scopes(&bad)) }
}

/// The client address a request says a key is used from (`ip` of verify
/// and explain), or 400.
pub(crate) fn client_address(text: Option<&str>) -> Result<Option<IpAddr>, ApiError> {
    text.map(|t| {
        t.trim().parse::<IpAddr>().map_err(|_| {
            ApiError::bad_request("ip must be an IPv4 or IPv6 address (the client's, as the platform saw it)")
        })
    })
    .transpose()
}

/// Fails with 403 `insufficient_scope` unless `caller` may give a key owned
/// by someone of role `owner_role` (an organization-owned key: admin) every
/// scope of `requested`.
pub(crate) fn check_grant(caller: &Caller, requested: &ScopeSet, owner_role: Role) -> Result<(), ApiError> {
    let reserved: Vec<String> = requested.iter().filter(|s| s.is_reserved()).map(ToString::to_string).collect();
    if !reserved.is_empty() {
        return Err(ApiError::insufficient_scope(format!(
            "{} cannot be granted through the API: only the operator mints such a key, with `latchkey admin \
             create-service-key`",
            reserved.join(", ")
        )));
    }
    let missing: Vec<String> = requested.iter().filter(|s| !caller.allows(s)).map(ToString::to_string).collect();
    if !missing.is_empty() {
        return Err(ApiError::insufficient_scope(format!(
            "cannot grant scopes this credential does not hold: {}",
            missing.join(", ")
        )));
    }
    check_ceiling(requested, owner_role)
}

/// Fails with 403 `insufficient_scope` if `scopes` go beyond what a key
/// owned by someone of `role` may hold.
pub(crate) fn check_ceiling(scopes: &ScopeSet, role: Role) -> Result<(), ApiError> {
    let beyond: Vec<String> = scopes.iter().filter(|s| !role.allows(s)).map(ToString::to_string).collect();
    if beyond.is_empty() {
        Ok(())
    } else {
        Err(ApiError::insufficient_scope(format!(
            "a key of a {role} cannot hold: {} (the {role} role does not allow it)",
            beyond.join(", ")
        )))
    }
}

/// The most `key` may hold: its owner's role now (a member once they left,
/// whose key no longer works anyway); admin for an organization-owned key.
pub(crate) fn owner_ceiling(key: &ApiKeyRecord) -> Role {
    match (&key.owner_user_id, key.owner_role) {
        (None, _) => Role::Admin,
        (Some(_), Some(role)) => role,
        (Some(_), None) => Role::Member,
    }
}

/// A freshly minted key: its plaintext and the record to insert.
pub(crate) struct Minted {
    /// The plaintext, for the one response that shows it.
    pub plain: PlainKey,
    /// What is stored.
    pub record: NewApiKey,
}

/// The fields of a new key that are not derived from its plaintext.
pub(crate) struct KeySpec {
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub name: String,
    pub environment: Environment,
    pub kind: KeyKind,
    pub scopes: ScopeSet,
    pub owner_user_id: Option<UserId>,
    /// The owner's role now (admin for an organization-owned key): the
    /// most the key may hold.
    pub owner_role: Role,
    pub rate_limit_per_minute: Option<i64>,
    pub rate_limit_per_day: Option<i64>,
    pub remaining: Option<i64>,
    pub refill: Option<Refill>,
    pub expires_at: Option<Millis>,
    pub rotated_from: Option<KeyId>,
    pub surface_id: Option<SurfaceId>,
    /// The key's own networks (`None`: the policy's, if any).
    pub allowed_cidrs: Option<IpRules>,
}

impl KeySpec {
    /// A key of the caller's organization owned by the caller (its user, or
    /// the organization for an organization-owned key), with no project,
    /// limits, credits or expiry (callers set what they need).
    pub(crate) fn new(caller: &Caller, name: String, kind: KeyKind, scopes: ScopeSet) -> Self {
        Self {
            org_id: caller.org_id.clone(),
            project_id: None,
            name,
            environment: Environment::Live,
            kind,
            scopes,
            owner_user_id: caller.user_id.clone(),
            owner_role: caller.role,
            rate_limit_per_minute: None,
            rate_limit_per_day: None,
            remaining: None,
            refill: None,
            expires_at: None,
            rotated_from: None,
            surface_id: None,
            allowed_cidrs: None,
        }
    }

    /// The same key owned by the organization (ceiling: admin).
    pub(crate) fn owned_by_org(self) -> Self {
        Self { owner_user_id: None, owner_role: Role::Admin, ..self }
    }
}

/// Prefix of the Runloop profile's standard keys (`POST /v1/apikeys`).
/// Never change: issued keys carry it.
pub(crate) const RUNLOOP_KEY_PREFIX: &str = "ak_";
/// Prefix of the Runloop profile's restricted keys (`POST
/// /v1/restricted_keys`). Never change.
pub(crate) const RUNLOOP_RESTRICTED_PREFIX: &str = "rk_";
/// Brand of the Runtype profile's surface keys (`sk_live_`, `sk_test_`).
/// Never change.
pub(crate) const RUNTYPE_BRAND: &str = "sk";

/// Every prefix this server mints keys under with `brand` (the native
/// API's `…_live_` and `…_test_`, and the profiles'): what the verifier
/// refuses a typo under without a lookup
/// ([`latchkey_verify::KeyVerifier::with_issued_prefixes`]).
pub(crate) fn issued_prefixes(brand: &str) -> Vec<KeyPrefix> {
    let mut prefixes = Vec::new();
    for brand in [brand, RUNTYPE_BRAND] {
        for env in [Environment::Live, Environment::Test] {
            prefixes.extend(KeyPrefix::branded(brand, env).ok());
        }
    }
    prefixes.extend([RUNLOOP_KEY_PREFIX, RUNLOOP_RESTRICTED_PREFIX].iter().filter_map(|p| KeyPrefix::new(p).ok()));
    prefixes
}

/// The key policy of `org_id` (the default, no rule, when it has none).
pub(crate) async fn key_policy(state: &AppState, org_id: &OrgId) -> Result<KeyPolicy, ApiError> {
    Ok(state.store.key_policy(org_id).await?)
}

/// What the policy's rules are decided over, for a stored key.
pub(crate) fn facts(key: &ApiKeyRecord) -> KeyFacts<'_> {
    KeyFacts {
        environment: key.environment,
        scopes: &key.scopes,
        created_at: key.created_at,
        expires_at: key.expires_at,
        allowed_cidrs: key.allowed_cidrs.as_ref(),
    }
}

/// A list of networks from a request (`field` names it in the 400).
pub(crate) fn check_cidrs(field: &str, v: Option<&[String]>) -> Result<Option<IpRules>, ApiError> {
    v.map(|list| IpRules::parse(list).map_err(|e| ApiError::bad_request(format!("{field}: {e}")))).transpose()
}

/// A new key of `spec` with a fresh plaintext under `prefix`, after
/// [`admit`]: what every minting path goes through.
pub(crate) fn mint(
    prefix: &KeyPrefix,
    spec: KeySpec,
    caller: &Caller,
    now: Millis,
    policy: &KeyPolicy,
) -> Result<Minted, ApiError> {
    let spec = admit(spec, caller, now, policy)?;
    let plain = PlainKey::generate(prefix);
    let record = new_key(spec, caller, now, plain.hash(), plain.display_prefix(), plain.hint());
    Ok(Minted { plain, record })
}

/// `spec` if `caller` may make such a key ([`check_grant`]) and it keeps
/// the organization's key `policy`, with the policy's default limits
/// filled in first: the checks of every new key, minted ([`mint`]) or
/// imported by its hash.
pub(crate) fn admit(mut spec: KeySpec, caller: &Caller, now: Millis, policy: &KeyPolicy) -> Result<KeySpec, ApiError> {
    check_grant(caller, &spec.scopes, spec.owner_role)?;
    (spec.rate_limit_per_minute, spec.rate_limit_per_day) =
        policy.default_limits(spec.rate_limit_per_minute, spec.rate_limit_per_day);
    let facts = KeyFacts {
        environment: spec.environment,
        scopes: &spec.scopes,
        created_at: now,
        expires_at: spec.expires_at,
        allowed_cidrs: spec.allowed_cidrs.as_ref(),
    };
    latchkey_core::policy::check(policy, &facts).map_err(ApiError::policy_violation)?;
    Ok(spec)
}

/// The row of a new key of `spec` ([`admit`]ted) made by `caller` at
/// `now`, known by `hash` and shown as `key_prefix`…`key_hint`.
pub(crate) fn new_key(
    spec: KeySpec,
    caller: &Caller,
    now: Millis,
    hash: KeyHash,
    key_prefix: DisplayPrefix,
    key_hint: String,
) -> NewApiKey {
    NewApiKey {
        id: KeyId::new(),
        org_id: spec.org_id,
        project_id: spec.project_id,
        name: spec.name,
        hash,
        key_prefix,
        key_hint,
        environment: spec.environment,
        kind: spec.kind,
        scopes: spec.scopes,
        owner_user_id: spec.owner_user_id,
        created_by_user_id: caller.user_id.clone(),
        created_by_key_id: caller.key().map(latchkey_verify::CachedKey::key_id),
        rate_limit_per_minute: spec.rate_limit_per_minute,
        rate_limit_per_day: spec.rate_limit_per_day,
        remaining: spec.remaining,
        refill: spec.refill,
        expires_at: spec.expires_at,
        created_at: now,
        rotated_from: spec.rotated_from,
        surface_id: spec.surface_id,
        allowed_cidrs: spec.allowed_cidrs,
        external_id: None,
    }
}

/// Stores a freshly minted key with its audit event (one transaction) and
/// answers it as stored; logs the creation (`details` go to the audit event, never
/// the plaintext).
pub(crate) async fn store_minted(
    state: &AppState,
    caller: &Caller,
    audit: &Audit,
    minted: &Minted,
    details: serde_json::Value,
) -> Result<ApiKeyRecord, ApiError> {
    let mut stored = store_all_minted(state, caller, audit, std::slice::from_ref(minted), vec![details]).await?;
    stored.pop().ok_or_else(|| ApiError::internal(&std::io::Error::other("created key vanished")))
}

/// Stores freshly minted keys, each with its audit event (`details[i]` for
/// `minted[i]`), all in one transaction or none (through the group
/// committer, [`crate::key_writer`]), and answers them as stored, in order.
pub(crate) async fn store_all_minted(
    state: &AppState,
    caller: &Caller,
    audit: &Audit,
    minted: &[Minted],
    details: Vec<serde_json::Value>,
) -> Result<Vec<ApiKeyRecord>, ApiError> {
    let events = minted
        .iter()
        .zip(&details)
        .map(|(m, d)| audit.event_by(caller, "api_key.create", Some(("api_key", &m.record.id)), d))
        .collect();
    let stored = state.key_writer.insert(minted.iter().map(|m| m.record.clone()).collect(), events).await?;
    for k in &stored {
        tracing::info!(key_id = %k.id, org_id = %k.org_id, kind = k.kind.as_str(), "api key created");
    }
    Ok(stored)
}

/// Expiry from `expiresIn` (duration) or `expiresAt` (RFC 3339), not both.
pub(crate) fn expiry(
    expires_in: Option<&str>,
    expires_at: Option<&str>,
    now: Millis,
) -> Result<Option<Millis>, ApiError> {
    match (expires_in, expires_at) {
        (Some(_), Some(_)) => Err(ApiError::bad_request("give either expiresIn or expiresAt, not both")),
        (Some(d), None) => {
            let secs = parse_duration(d).map_err(|e| ApiError::bad_request(format!("expiresIn: {e}")))?;
            Ok(Some(now + i64::try_from(secs).unwrap_or(i64::MAX / 2) * 1000))
        }
        (None, Some(t)) => {
            let at =
                parse_rfc3339(t).ok_or_else(|| ApiError::bad_request("expiresAt must be an RFC 3339 timestamp"))?;
            if at <= now {
                return Err(ApiError::bad_request("expiresAt must be in the future"));
            }
            Ok(Some(at))
        }
        (None, None) => Ok(None),
    }
}

/// Longest external id of an imported key, in characters.
pub(crate) const MAX_EXTERNAL_ID: usize = 255;

/// An imported key's id in the system it came from (also a filter of the
/// key list): 1–[`MAX_EXTERNAL_ID`] characters, none a control character,
/// kept exactly as given.
pub(crate) fn check_external_id(id: &str) -> Result<&str, ApiError> {
    let n = id.chars().count();
    if n == 0 || n > MAX_EXTERNAL_ID || id.chars().any(latchkey_core::text::is_display_control) {
        return Err(ApiError::bad_request(format!(
            "externalId must be 1 to {MAX_EXTERNAL_ID} characters without control characters"
        )));
    }
    Ok(id)
}

/// Validates a rate limit (≥ 1, at most a billion).
pub(crate) fn check_limit(field: &str, v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        Some(n) if !(1..=1_000_000_000).contains(&n) => {
            Err(ApiError::bad_request(format!("{field} must be between 1 and 1000000000")))
        }
        other => Ok(other),
    }
}

/// Validates a credit balance (≥ 0).
pub(crate) fn check_remaining(v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        Some(n) if !(0..=1_000_000_000_000).contains(&n) => {
            Err(ApiError::bad_request("remaining must be between 0 and 1000000000000"))
        }
        other => Ok(other),
    }
}

/// Validates a refill.
pub(crate) fn check_refill(v: Option<RefillView>) -> Result<Option<Refill>, ApiError> {
    let Some(r) = v else { return Ok(None) };
    if !(1..=1_000_000_000_000).contains(&r.amount) {
        return Err(ApiError::bad_request("refill.amount must be between 1 and 1000000000000"));
    }
    let interval = match r.interval {
        RefillIntervalView::Daily => RefillInterval::Daily,
        RefillIntervalView::Monthly => RefillInterval::Monthly,
    };
    Ok(Some(Refill { amount: r.amount, interval }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal names the range, whichever side the value fell off.
    #[test]
    fn limits_name_their_range_on_both_sides() {
        for n in [0, 1_000_000_001] {
            let e = format!("{:?}", check_limit("rateLimitPerMinute", Some(n)).unwrap_err());
            assert!(e.contains("\"rateLimitPerMinute must be between 1 and 1000000000\""), "{n}: {e}");
        }
        assert_eq!(check_limit("rateLimitPerMinute", Some(1_000_000_000)).unwrap(), Some(1_000_000_000));
        for n in [-1, 1_000_000_000_001] {
            let e = format!("{:?}", check_remaining(Some(n)).unwrap_err());
            assert!(e.contains("\"remaining must be between 0 and 1000000000000\""), "{n}: {e}");
        }
    }
}
