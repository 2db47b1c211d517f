//! `POST /v1/keys/explain`: what a key can do, and why, without using it.
//!
//! The key is read from storage as it stands, and every question is
//! answered by the code that decides it at verification, read-only: its
//! status ([`IssuedKey::status`]), each catalog permission under its
//! owner's current role ([`IssuedKey::refusal`]), its project binding and
//! networks (the verifier's [`latchkey_verify::Grant`]), its rate-limit windows and credit
//! balance as the next request would find them (the verifier's peeks,
//! through the shared limiter where there is one), its compliance with the
//! organization's key policy ([`latchkey_core::policy::violations`]), and,
//! asked about scopes, a project or an address, the verdict verify would
//! give ([`latchkey_verify::KeyVerifier::peek`]: the same stages, nothing
//! counted or spent). A key of another organization is not found, as an
//! unknown one is; a plaintext key is never echoed or logged.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use latchkey_api_types::{
    ComplianceView, CreditsView, Data, ErrorEnvelope, ExplainKey, ExplainView, LimitsView, NetworkView,
    PermissionReason, PermissionView, RateLimitView, VerdictView, ViolationView,
};
use latchkey_core::id::{IdKind, KeyId, is_valid};
use latchkey_core::ip::IpRules;
use latchkey_core::policy::violations;
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_core::{Catalog, IssuedKey, KeyState, PlainKey, Role, Scope, ScopeRefusal};
use latchkey_store::ApiKeyRecord;
use latchkey_verify::ratelimit::WindowState;
use latchkey_verify::{CachedKey, Checks};

use crate::auth::Caller;
use crate::authz::{AuthCheck, KEYS_VERIFY};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::keys::{client_address, facts, key_policy, required_scopes};
use crate::state::AppState;

/// Who may call [`explain`]: whoever may verify the organization's keys.
const EXPLAIN: AuthCheck = AuthCheck::any().scope(KEYS_VERIFY);

/// `POST /v1/keys/explain` `{key | keyId, scopes?, projectId?, ip?}`: the
/// key's status, each catalog permission (allowed or not, and why), its
/// limits' current windows, credits, expiry, networks and compliance with
/// the key policy; with `scopes`, `projectId` or `ip`, what
/// `POST /v1/keys/verify` would answer for them. Nothing is counted or
/// spent. The caller needs `keys:verify` and finds keys of its own
/// organization only; by `keyId`, a member finds their own keys only.
#[utoipa::path(
    post,
    path = "/v1/keys/explain",
    operation_id = "explainKey",
    tag = "verify",
    request_body = ExplainKey,
    responses((status = 200, description = "What the key can do and why, counting and spending nothing", body = Data<ExplainView>), (status = 400, description = "`invalid_request` or `invalid_scopes`: neither or both of `key` and `keyId`, an invalid address, a required scope that is no scope", body = ErrorEnvelope), (status = 403, description = "`insufficient_scope`: the caller lacks `keys:verify`", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such key in the caller's organization (by `keyId`: none the caller may manage)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(EXPLAIN)))
)]
pub async fn explain(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<ExplainKey>,
) -> Result<Json<Data<ExplainView>>, ApiError> {
    EXPLAIN.check(&caller)?;
    let scopes = required_scopes(&req.scopes)?;
    let ip = client_address(req.ip.as_deref())?;
    let record = find(&state, &caller, &req).await?;
    let now = now_ms();
    let key = Arc::new(CachedKey::standalone(&record));
    let windows = state.verifier.rate_windows(&key, now).await;
    let balance = state.verifier.credit_balance(&key, now).await?;
    let policy = key_policy(&state, &caller.org_id).await?;
    let project = req.project_id.as_deref();
    let verdict = if scopes.is_empty() && project.is_none() && ip.is_none() {
        None
    } else {
        let checks = Checks { org_id: Some(&caller.org_id), scopes: &scopes, project_id: project, cost: 1, ip };
        let o = state.verifier.peek(key.clone(), &checks, now).await?;
        Some(VerdictView { valid: o.code == KeyState::Valid, code: o.code.as_str().to_owned() })
    };
    let window = |w: Option<WindowState>| {
        w.map(|w| RateLimitView { limit: w.limit, remaining: w.remaining, reset: w.reset_secs() })
    };
    let breaks = violations(&policy, &facts(&record));
    let view = ExplainView {
        key_id: record.id.to_string(),
        name: record.name.clone(),
        key_prefix: record.key_prefix.to_string(),
        key_hint: record.key_hint.clone(),
        environment: record.environment.as_str().to_owned(),
        // A status is always a lifecycle state, which has a wire form.
        status: record.status(now).status_str().unwrap_or_default().to_owned(),
        scopes: record.scopes.to_strings(),
        project_id: record.project_id.as_ref().map(ToString::to_string),
        owner_user_id: record.owner_user_id.as_ref().map(ToString::to_string),
        owner_role: record.owner_role.map(|r| Role::as_str(r).to_owned()),
        created_at: to_rfc3339(record.created_at),
        expires_at: record.expires_at.map(to_rfc3339),
        revoked_at: record.revoked_at.map(to_rfc3339),
        grace_ends_at: record.revoked_at.filter(|t| *t > now).map(to_rfc3339),
        leaked_at: record.leaked_at.map(to_rfc3339),
        rotated_from: record.rotated_from.as_ref().map(ToString::to_string),
        rotated_to: record.rotated_to.as_ref().map(ToString::to_string),
        permissions: permissions(&state.settings.catalog, &key, &record, project, ip),
        limits: LimitsView {
            per_minute: window(windows.and_then(|w| w.per_minute)),
            per_day: window(windows.and_then(|w| w.per_day)),
        },
        credits: balance
            .map(|remaining| CreditsView { remaining, refill: record.refill.map(crate::views::refill_view) }),
        network: NetworkView {
            allowed_cidrs: record.effective_cidrs().map(IpRules::to_strings),
            source: networks_source(&record).map(|s| s.0.to_owned()),
            ip: ip.map(|a| a.to_string()),
            ip_allowed: ip.map(|a| key.grant().allows_ip(Some(a))),
        },
        policy: ComplianceView {
            compliant: breaks.is_empty(),
            violations: breaks
                .into_iter()
                .map(|v| ViolationView { rule: v.rule.as_str().to_owned(), message: v.message })
                .collect(),
        },
        verdict,
    };
    Ok(Json(Data { data: view }))
}

/// The key `req` names, of the caller's organization: by its plaintext
/// (whoever holds a key may ask about it, as with verify), or by its id
/// (admins any key, members their own). Anything else, a malformed key
/// included, is the same 404.
async fn find(state: &AppState, caller: &Caller, req: &ExplainKey) -> Result<ApiKeyRecord, ApiError> {
    let found = match (req.key.as_deref(), req.key_id.as_deref()) {
        (Some(plain), None) => match PlainKey::hash_presented(plain) {
            Ok(hash) => state.store.find_key_by_hash(&hash).await?.filter(|k| k.org_id == caller.org_id),
            Err(_) => None,
        },
        (None, Some(id)) if is_valid(IdKind::Key, id) => {
            state.store.get_key(&caller.org_id, &KeyId::from(id)).await?.filter(|k| caller.can_manage(k))
        }
        (None, Some(_)) => None,
        _ => return Err(ApiError::bad_request("name the key by `key` (its plaintext) or `keyId`, one of the two")),
    };
    found.ok_or_else(|| ApiError::not_found("API key"))
}

/// Whose networks bind `k`: its own (`key`), else its organization
/// policy's (`policy`), with the reason a permission is refused from an
/// address outside them.
fn networks_source(k: &ApiKeyRecord) -> Option<(&'static str, PermissionReason)> {
    if k.allowed_cidrs.is_some() {
        Some(("key", PermissionReason::IpNotAllowed))
    } else if k.policy_cidrs.is_some() {
        Some(("policy", PermissionReason::Policy))
    } else {
        None
    }
}

/// Every permission of `catalog` for `key` (`record` as stored), as a
/// request for `project` from `ip` needing it would find it: refused by
/// the key's grants ([`IssuedKey::refusal`]), its project binding, or its
/// networks (only when an address is asked about), in that order.
fn permissions(
    catalog: &Catalog,
    key: &CachedKey,
    record: &ApiKeyRecord,
    project: Option<&str>,
    ip: Option<IpAddr>,
) -> Vec<PermissionView> {
    let grant = key.grant();
    let network = ip.filter(|a| !grant.allows_ip(Some(*a))).and(networks_source(record)).map(|(_, why)| why);
    let project_bound = !grant.allows_project(project);
    catalog
        .resources()
        .flat_map(|(resource, r)| r.actions.iter().map(move |action| Scope::action(resource, action)))
        .map(|scope| {
            let reason = match key.refusal(&scope) {
                Some(ScopeRefusal::NotGranted) => Some(PermissionReason::NotGranted),
                Some(ScopeRefusal::RoleCeiling) => Some(PermissionReason::RoleCeiling),
                None if project_bound => Some(PermissionReason::ProjectBinding),
                None => network,
            };
            PermissionView { permission: scope.to_string(), allowed: reason.is_none(), reason }
        })
        .collect()
}
