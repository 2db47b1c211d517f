//! `/v1/me/identities`: the identities at identity providers linked to the
//! caller's account.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::{Data, ErrorEnvelope, IdentityView};
use latchkey_core::id::{IdKind, IdentityId, is_valid};
use latchkey_core::time_fmt::to_rfc3339;
use latchkey_store::Identity;
use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::state::AppState;

/// Who may call [`list`] and [`unlink`]: a person, for themselves.
const IDENTITIES: AuthCheck = AuthCheck::session_only();

fn identity_view(state: &AppState, i: Identity) -> IdentityView {
    let provider_name = state.oidc.config(&i.provider).map_or_else(|| i.provider.clone(), |c| c.display_name.clone());
    IdentityView {
        id: i.id.to_string(),
        provider_name,
        provider: i.provider,
        issuer: i.issuer,
        subject: i.subject,
        email: i.email,
        created_at: to_rfc3339(i.created_at),
        last_used_at: i.last_used_at.map(to_rfc3339),
    }
}

/// `GET /v1/me/identities`: the identities linked to the caller's account.
#[utoipa::path(
    get,
    path = "/v1/me/identities",
    operation_id = "listMyIdentities",
    tag = "people",
    responses((status = 200, description = "The caller's linked identities, oldest first", body = Data<Vec<IdentityView>>)),
    extensions(("x-latchkey-auth" = json!(IDENTITIES)))
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Data<Vec<IdentityView>>>, ApiError> {
    let session = IDENTITIES.check_session(&caller)?;
    let list = state.store.list_identities(&session.user_id).await?;
    Ok(Json(Data { data: list.into_iter().map(|i| identity_view(&state, i)).collect() }))
}

/// `DELETE /v1/me/identities/{id}`: unlinks one of the caller's identities.
#[utoipa::path(
    delete,
    path = "/v1/me/identities/{id}",
    operation_id = "unlinkMyIdentity",
    tag = "people",
    params(("id" = String, Path, description = "`idn_…`")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "`not_found`: no such identity of the caller's", body = ErrorEnvelope),
        (status = 409, description = "`last_sign_in_method`: the account has no password and no other identity", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(IDENTITIES)))
)]
pub async fn unlink(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session = IDENTITIES.check_session(&caller)?;
    if !is_valid(IdKind::Identity, &id) {
        return Err(ApiError::not_found("identity"));
    }
    let id = IdentityId::from(id);
    let event = audit.event_by(&caller, "identity.unlink", Some(("identity", &id)), &json!({}));
    if state.store.unlink_identity(&session.user_id, &id, &event).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("identity"))
    }
}
