//! `/v1/orgs/{id}/key-policy`: an organization's key policy
//! ([`latchkey_core::policy`]), read and replaced by its admins.
//!
//! The rules are checked where keys are minted and changed
//! (`crate::keys::mint`, and `PATCH /v1/api-keys/{id}`); a new policy
//! changes no existing key (`GET /v1/api-keys?compliant=false` lists those
//! that break it). Its networks apply at verification to every key of the
//! organization without its own, so a change of them evicts those keys
//! from every node's cache.

use axum::Json;
use axum::extract::{Path, State};
use latchkey_api_types::{Data, ErrorEnvelope, KeyPolicyView};
use latchkey_core::id::OrgId;
use latchkey_core::ip::IpRules;
use latchkey_core::policy::{KeyPolicy, MaxLifetime};
use latchkey_core::time_fmt::now_ms;
use serde_json::json;

use crate::audit::{Actor, Audit};
use crate::auth::Caller;
use crate::authz::{AuthCheck, ORG_READ, ORG_WRITE};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::keys::{check_cidrs, check_limit, check_scope_count, key_policy};
use crate::lookup;
use crate::state::AppState;

/// The API view of `p`.
pub(crate) fn policy_view(p: &KeyPolicy) -> KeyPolicyView {
    KeyPolicyView {
        max_lifetime: p.max_lifetime.as_ref().map(|m| m.as_str().to_owned()),
        require_expiry: p.require_expiry,
        forbid_wildcard_in_live: p.forbid_wildcard_in_live,
        allowed_scopes: p.allowed_scopes.as_ref().map(latchkey_core::ScopeSet::to_strings),
        default_rate_limit_per_minute: p.default_rate_limit_per_minute,
        default_rate_limit_per_day: p.default_rate_limit_per_day,
        allowed_cidrs: p.allowed_cidrs.as_ref().map(IpRules::to_strings),
    }
}

/// The policy `req` asks for, every field checked (400 naming the field).
fn parse(state: &AppState, req: &KeyPolicyView) -> Result<KeyPolicy, ApiError> {
    let max_lifetime = req
        .max_lifetime
        .as_deref()
        .map(MaxLifetime::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("maxLifetime: {e}")))?;
    let allowed_scopes = match &req.allowed_scopes {
        Some(list) if list.is_empty() => {
            return Err(ApiError::bad_request(
                "allowedScopes: an empty list would refuse every key; use null for no rule",
            ));
        }
        Some(list) => {
            check_scope_count(list.len())?;
            Some(state.settings.catalog.parse_scopes(list).map_err(|e| ApiError::invalid_scopes(&e.0))?)
        }
        None => None,
    };
    Ok(KeyPolicy {
        max_lifetime,
        require_expiry: req.require_expiry,
        forbid_wildcard_in_live: req.forbid_wildcard_in_live,
        allowed_scopes,
        default_rate_limit_per_minute: check_limit("defaultRateLimitPerMinute", req.default_rate_limit_per_minute)?,
        default_rate_limit_per_day: check_limit("defaultRateLimitPerDay", req.default_rate_limit_per_day)?,
        allowed_cidrs: check_cidrs("allowedCidrs", req.allowed_cidrs.as_deref())?,
    })
}

/// Who may call [`get`].
pub(crate) const GET: AuthCheck =
    AuthCheck::any().admin_because("reading the key policy needs the admin role").key_scope(ORG_READ);

/// `GET /v1/orgs/{id}/key-policy`: admins.
#[utoipa::path(
    get,
    path = "/v1/orgs/{id}/key-policy",
    operation_id = "getKeyPolicy",
    tag = "orgs",
    params(("id" = String, Path, description = "The organization (`org_…`)")),
    responses((status = 200, description = "The key policy (every rule off until one is set)", body = Data<KeyPolicyView>), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no organization of the caller's with this id", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GET)))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OrgId>,
) -> Result<Json<Data<KeyPolicyView>>, ApiError> {
    let (_, role) = lookup::org_role(&state, &caller, &id).await?;
    GET.check_as(&caller, role)?;
    Ok(Json(Data { data: policy_view(&key_policy(&state, &id).await?) }))
}

/// Who may call [`put`].
pub(crate) const PUT: AuthCheck =
    AuthCheck::any().admin_because("changing the key policy needs the admin role").key_scope(ORG_WRITE);

/// `PUT /v1/orgs/{id}/key-policy`: replaces the policy (absent fields:
/// off, `null`); admins. Existing keys are not changed. Audited
/// (`org.key_policy.update`).
#[utoipa::path(
    put,
    path = "/v1/orgs/{id}/key-policy",
    operation_id = "putKeyPolicy",
    tag = "orgs",
    params(("id" = String, Path, description = "The organization (`org_…`)")),
    request_body = KeyPolicyView,
    responses((status = 200, description = "The key policy as stored", body = Data<KeyPolicyView>), (status = 400, description = "`invalid_request` or `invalid_scopes`: a field is invalid (a duration, a scope not in the catalog, a network, more than 100 entries)", body = ErrorEnvelope), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no organization of the caller's with this id", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(PUT)))
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<OrgId>,
    JsonBody(req): JsonBody<KeyPolicyView>,
) -> Result<Json<Data<KeyPolicyView>>, ApiError> {
    let (_, role) = lookup::org_role(&state, &caller, &id).await?;
    PUT.check_as(&caller, role)?;
    let policy = parse(&state, &req)?;
    let view = policy_view(&policy);
    let event = audit.event(Some(&id), Actor::from(&caller), "org.key_policy.update", Some(("org", &id)), &json!(view));
    let changed = state.store.put_key_policy(&id, &policy, now_ms(), &event).await?;
    state.invalidate_keys(&changed).await;
    tracing::info!(org_id = %id, keys_evicted = changed.len(), "key policy updated");
    Ok(Json(Data { data: view }))
}
