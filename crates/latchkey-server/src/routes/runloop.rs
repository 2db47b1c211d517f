//! The Runloop profile (`reference/003_…`): `POST /v1/apikeys` mints a
//! standard `ak_` key with its creator's full access, `POST
//! /v1/restricted_keys` a restricted `rk_` key with structured scopes. Both
//! are thin adapters over the native key model: the structured scopes become
//! canonical scopes (`RESOURCE_TYPE_DEVBOXES`/`WRITE` → `devboxes:read`,
//! `devboxes:write`; see [`latchkey_core::profiles`]) and the key is an
//! ordinary key of the caller's organization from then on.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_api_types::ErrorEnvelope;
use latchkey_api_types::runloop::{
    ApiKeyCreateParameters, ApiKeyCreatedView, RestrictedKeyCreateParameters, RestrictedKeyCreatedView,
};
use latchkey_core::profiles::runloop_scopes;
use latchkey_core::time_fmt::{Millis, now_ms};
use latchkey_core::{KeyPrefix, ScopeSet};
use latchkey_store::KeyKind;
use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::extract::{OptionalJson, check_name};
use crate::keys::{
    KeySpec, RUNLOOP_KEY_PREFIX, RUNLOOP_RESTRICTED_PREFIX, check_scope_count, key_policy, mint, store_minted,
};
use crate::state::AppState;

/// Latest accepted expiry: 9999-12-31T23:59:59.999Z.
const MAX_EXPIRY_MS: i64 = 253_402_300_799_999;

/// The name as given; absent or empty is an unnamed key (`""`).
fn name(given: Option<&str>) -> Result<String, ApiError> {
    match given {
        None | Some("") => Ok(String::new()),
        Some(n) => check_name(n),
    }
}

/// `expires_at_ms` must lie in the future (and before year 10000).
fn expiry(expires_at_ms: Option<i64>, now: Millis) -> Result<Option<Millis>, ApiError> {
    match expires_at_ms {
        Some(at) if at <= now => Err(ApiError::bad_request("expires_at_ms must be in the future")),
        Some(at) if at > MAX_EXPIRY_MS => Err(ApiError::bad_request("expires_at_ms is beyond the year 9999")),
        other => Ok(other),
    }
}

fn prefix(text: &str) -> Result<KeyPrefix, ApiError> {
    KeyPrefix::new(text).map_err(|_| ApiError::internal(&std::io::Error::other("invalid profile key prefix")))
}

/// Who may call [`create_api_key`].
const CREATE_API_KEY: AuthCheck = AuthCheck::key_managers();

/// `POST /v1/apikeys`: a standard `ak_` key with the full access of its
/// creator: the creator's scopes as far as its role allows them (an admin
/// session's or `*` key's `*`; a member's `*` becomes every catalog scope a
/// member may hold; a restricted key's own set), owned like a native key,
/// so it can never do more than the credential that made it. Answers 200.
#[utoipa::path(
    post,
    path = "/v1/apikeys",
    operation_id = "createAPIKey",
    tag = "runloop",
    request_body = Option<ApiKeyCreateParameters>,
    responses((status = 200, description = "OK", body = ApiKeyCreatedView), (status = 403, description = "`insufficient_scope`: the credential holds nothing its role lets it pass on", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CREATE_API_KEY)))
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    OptionalJson(req): OptionalJson<ApiKeyCreateParameters>,
) -> Result<Json<ApiKeyCreatedView>, ApiError> {
    CREATE_API_KEY.check(&caller)?;
    let now = now_ms();
    let name = name(req.name.as_deref())?;
    let expires_at = expiry(req.expires_at_ms, now)?;
    // The creator's full access: its scopes as far as its role allows them
    // (a member's `*` is every scope but the admin ones, never `*` itself).
    let scopes = caller.role.narrow(caller.scopes(), &state.settings.catalog);
    if scopes.is_empty() {
        return Err(ApiError::insufficient_scope("this credential holds nothing its role allows to pass on"));
    }
    let spec = KeySpec { expires_at, ..KeySpec::new(&caller, name, KeyKind::Standard, scopes) };
    let policy = key_policy(&state, &caller.org_id).await?;
    let minted = mint(&prefix(RUNLOOP_KEY_PREFIX)?, spec, &caller, now, &policy)?;
    let details = json!({"profile": "runloop", "name": minted.record.name, "scopes": minted.record.scopes});
    let stored = store_minted(&state, &caller, &audit, &minted, details).await?;
    Ok(Json(ApiKeyCreatedView {
        id: stored.id.into(),
        name: stored.name,
        key_secret: minted.plain.expose().to_owned(),
        expires_at_ms: stored.expires_at,
    }))
}

/// Who may call [`create_restricted_key`].
const CREATE_RESTRICTED_KEY: AuthCheck = AuthCheck::key_managers();

/// `POST /v1/restricted_keys`: an `rk_` key holding what its structured
/// scopes grant, which the caller must hold itself (403 otherwise). Invalid
/// scopes (unknown type or level, a type given twice) answer 400
/// `invalid_scopes`. Answers 200.
#[utoipa::path(
    post,
    path = "/v1/restricted_keys",
    operation_id = "createRestrictedKey",
    tag = "runloop",
    request_body = Option<RestrictedKeyCreateParameters>,
    responses((status = 200, description = "OK", body = RestrictedKeyCreatedView), (status = 400, description = "Invalid scopes (`invalid_scopes`), or another invalid field (`invalid_request`)", body = ErrorEnvelope), (status = 403, description = "`insufficient_scope`: the scopes grant what the caller may not use", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CREATE_RESTRICTED_KEY)))
)]
pub async fn create_restricted_key(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    OptionalJson(req): OptionalJson<RestrictedKeyCreateParameters>,
) -> Result<Json<RestrictedKeyCreatedView>, ApiError> {
    CREATE_RESTRICTED_KEY.check(&caller)?;
    let now = now_ms();
    let name = name(req.name.as_deref())?;
    let entries = req.scopes.unwrap_or_default();
    check_scope_count(entries.len())?;
    let pairs: Vec<(&str, &str)> =
        entries.iter().map(|e| (e.resource_type.as_str(), e.access_level.as_str())).collect();
    let granted = runloop_scopes(&pairs)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_scopes", format!("{e}; see GET /v1/scopes")))?;
    let granted = ScopeSet::from_scopes(granted);
    let expires_at = expiry(req.expires_at_ms, now)?;
    let spec = KeySpec { expires_at, ..KeySpec::new(&caller, name, KeyKind::Restricted, granted) };
    let policy = key_policy(&state, &caller.org_id).await?;
    let minted = mint(&prefix(RUNLOOP_RESTRICTED_PREFIX)?, spec, &caller, now, &policy)?;
    let details = json!({"profile": "runloop", "name": minted.record.name, "scopes": minted.record.scopes});
    let stored = store_minted(&state, &caller, &audit, &minted, details).await?;
    Ok(Json(RestrictedKeyCreatedView {
        id: stored.id.into(),
        name: stored.name,
        key_secret: minted.plain.expose().to_owned(),
        scopes: entries,
        expires_at_ms: stored.expires_at,
    }))
}
