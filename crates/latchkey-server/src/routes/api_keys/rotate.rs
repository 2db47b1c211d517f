//! `POST /v1/api-keys/{id}/rotate`: a successor with the same grants, and
//! the old key's end: now, after a fixed grace period, or once unused
//! ([`crate::rotation`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::{ApiKeyView, ErrorEnvelope, RotateApiKey, Shown};
use latchkey_core::id::KeyId;
use latchkey_core::time_fmt::now_ms;
use latchkey_core::{IssuedKey, KeyState};
use latchkey_store::GraceEnd;
use serde_json::json;

use super::{brand_prefix, find, shown};
use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::extract::{OptionalJson, check_name};
use crate::keys::{KeySpec, key_policy, mint, owner_ceiling};
use crate::rotation::{UNTIL_UNUSED, grace_end};
use crate::state::AppState;

/// Who may call [`rotate`].
pub(crate) const ROTATE: AuthCheck = AuthCheck::key_managers();

/// `POST /v1/api-keys/{id}/rotate` `{name?, gracePeriod?, maxGrace?,
/// quietFor?}`: a new key with the same grants (scopes, project,
/// environment, owner, limits, and the same lifetime length if the old one
/// expires), shown once; the old key is revoked now, when the grace period
/// ends, or (`gracePeriod: "until-unused"`) once it has not been used for
/// `quietFor` since the rotation, at the latest when `maxGrace` ends
/// ([`crate::rotation`]).
#[utoipa::path(
    post,
    path = "/v1/api-keys/{id}/rotate",
    operation_id = "rotateApiKey",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key (`key_…`)")),
    request_body = Option<RotateApiKey>,
    responses((status = 201, description = "The new key, its plaintext shown this once", body = Shown<ApiKeyView>), (status = 400, description = "`invalid_request`: a field is invalid (a grace period or `maxGrace` over 30 days, a `quietFor` below the server's minimum or beyond `maxGrace`, `maxGrace` or `quietFor` without `gracePeriod: \"until-unused\"`)", body = ErrorEnvelope), (status = 403, description = "`insufficient_scope`: the key holds what the caller may not grant (a reserved scope, or beyond its owner's role)", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such key the caller may manage (another member's key, another organization's)", body = ErrorEnvelope), (status = 409, description = "`conflict`: the key is not active, or was rotated already", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(ROTATE)))
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<KeyId>,
    OptionalJson(req): OptionalJson<RotateApiKey>,
) -> Result<(StatusCode, Json<Shown<ApiKeyView>>), ApiError> {
    ROTATE.check(&caller)?;
    let old = find(&state, &caller, &id).await?;
    let now = now_ms();
    if old.status(now) != KeyState::Valid || old.rotated_to.is_some() {
        return Err(ApiError::conflict("only an active key that has not been rotated can be rotated"));
    }
    let name = match &req.name {
        Some(n) => check_name(n)?,
        None => old.name.clone(),
    };
    let old_end = grace_end(&req, &state.settings.rotation, now)?;
    let spec = KeySpec {
        org_id: old.org_id.clone(),
        project_id: old.project_id.clone(),
        name,
        environment: old.environment,
        kind: old.kind,
        scopes: old.scopes.clone(),
        owner_user_id: old.owner_user_id.clone(),
        owner_role: owner_ceiling(&old),
        rate_limit_per_minute: old.rate_limit_per_minute,
        rate_limit_per_day: old.rate_limit_per_day,
        remaining: old.remaining,
        refill: old.refill,
        expires_at: old.expires_at.map(|e| now + (e - old.created_at)),
        rotated_from: Some(old.id.clone()),
        surface_id: old.surface_id.clone(),
        allowed_cidrs: old.allowed_cidrs.clone(),
    };
    let policy = key_policy(&state, &caller.org_id).await?;
    // An imported key's successor is a key of this server's own format.
    let prefix = match old.key_prefix.prefix() {
        Some(issued) => issued.clone(),
        None => brand_prefix(&state, old.environment)?,
    };
    let minted = mint(&prefix, spec, &caller, now, &policy)?;
    let grace_ms = old_end.revoked_at() - now;
    let details = match old_end {
        GraceEnd::At(_) => json!({"newKeyId": minted.record.id, "gracePeriodMs": grace_ms}),
        GraceEnd::WhenUnused { quiet_ms, .. } => json!({
            "newKeyId": minted.record.id,
            "gracePeriod": UNTIL_UNUSED,
            "maxGraceMs": grace_ms,
            "quietForMs": quiet_ms,
        }),
    };
    let event = audit.event_by(&caller, "api_key.rotate", Some(("api_key", &old.id)), &details);
    let new = state
        .store
        .rotate_key(&caller.org_id, &old.id, &minted.record, old_end, &event)
        .await?
        .ok_or_else(|| ApiError::conflict("the key was revoked or rotated meanwhile"))?;
    state.invalidate_keys(&[old.hash]).await;
    tracing::info!(old_key_id = %old.id, new_key_id = %new.id, grace_ms, until_unused = matches!(old_end, GraceEnd::WhenUnused { .. }), "api key rotated");
    Ok((StatusCode::CREATED, Json(shown(&new, &minted.plain, now))))
}
