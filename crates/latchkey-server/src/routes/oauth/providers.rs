//! `/v1/oauth/providers`: the operator's catalog of providers as the
//! caller's organization sees it, and the organization's own client
//! credentials at a provider (admins), which take precedence over the
//! operator's.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::oauth::{OAuthClientView, OAuthProviderView, PutOAuthClient};
use latchkey_api_types::{Data, ErrorEnvelope};
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_store::OAuthClient;
use serde_json::json;
use zeroize::Zeroize as _;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, OAUTH_READ, OAUTH_WRITE};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::oauth::{OAuthProviderConfig, client_secret_aad, provider};
use crate::sealing::{SealError, data_key};
use crate::state::AppState;

/// Longest client id.
const MAX_CLIENT_ID: usize = 256;
/// Longest client secret.
const MAX_CLIENT_SECRET: usize = 4096;

/// A catalog provider as an organization sees it.
fn view(p: &OAuthProviderConfig, own: Option<&OAuthClient>) -> OAuthProviderView {
    OAuthProviderView {
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        default_scopes: p.scopes.clone(),
        revokes_on_disconnect: p.revocation_url.is_some(),
        configured: p.client_id.is_some() || own.is_some(),
        org_client: own.map(|c| OAuthClientView {
            client_id: c.client_id.clone(),
            has_client_secret: c.client_secret_sealed.is_some(),
            updated_at: to_rfc3339(c.updated_at),
        }),
    }
}

/// Who may call [`list`].
const LIST: AuthCheck = AuthCheck::any().scope(OAUTH_READ);

/// `GET /v1/oauth/providers`: the providers that can be connected, with
/// whether each is configured for the caller's organization.
#[utoipa::path(
    get,
    path = "/v1/oauth/providers",
    operation_id = "listOAuthProviders",
    tag = "oauth",
    responses((status = 200, description = "The operator's catalog, in its order (empty when none is configured)", body = Data<Vec<OAuthProviderView>>)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Data<Vec<OAuthProviderView>>>, ApiError> {
    LIST.check(&caller)?;
    let own = state.store.list_oauth_clients(&caller.org_id).await?;
    let data = state.settings.oauth.iter().map(|p| view(p, own.iter().find(|c| c.provider == p.id))).collect();
    Ok(Json(Data { data }))
}

/// Who may call [`put`] and [`delete`].
pub(crate) const SET: AuthCheck =
    AuthCheck::any().admin_because("an organization's client credentials are set by its admins").scope(OAUTH_WRITE);

/// `PUT /v1/oauth/providers/{id}`: sets the organization's own client
/// credentials at a provider (the secret sealed; audited without it).
#[utoipa::path(
    put,
    path = "/v1/oauth/providers/{id}",
    operation_id = "putOAuthProviderClient",
    tag = "oauth",
    params(("id" = String, Path, description = "The catalog provider's id")),
    request_body = PutOAuthClient,
    responses((status = 200, description = "The provider, with the organization's client (never its secret)", body = Data<OAuthProviderView>), (status = 400, description = "`bad_request`: a client id of 1–256 characters, a secret of at most 4 KiB", body = ErrorEnvelope), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such provider in the catalog", body = ErrorEnvelope), (status = 503, description = "`unavailable`: the database cannot be reached, or this server has no master key", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(SET)))
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<String>,
    JsonBody(mut req): JsonBody<PutOAuthClient>,
) -> Result<Json<Data<OAuthProviderView>>, ApiError> {
    let result = put_inner(&state, &caller, &audit, &id, &req).await;
    if let Some(secret) = &mut req.client_secret {
        secret.zeroize();
    }
    result.map(|data| Json(Data { data }))
}

async fn put_inner(
    state: &AppState,
    caller: &Caller,
    audit: &Audit,
    id: &str,
    req: &PutOAuthClient,
) -> Result<OAuthProviderView, ApiError> {
    SET.check(caller)?;
    let p = provider(state, id)?;
    let client_id = req.client_id.trim();
    if client_id.is_empty() || client_id.chars().count() > MAX_CLIENT_ID || client_id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "clientId must be 1–{MAX_CLIENT_ID} characters, without control characters"
        )));
    }
    let secret = req.client_secret.as_deref().map(str::trim);
    if let Some(s) = secret
        && (s.is_empty() || s.len() > MAX_CLIENT_SECRET)
    {
        return Err(ApiError::bad_request(format!(
            "clientSecret must be 1–{} KiB when given (leave it out for a public client)",
            MAX_CLIENT_SECRET / 1024
        )));
    }
    let sealed = match secret {
        Some(s) => {
            let key =
                data_key(state, &caller.org_id, true).await?.ok_or_else(|| ApiError::not_found("organization"))?;
            let sealed = key.seal(&client_secret_aad(&caller.org_id, &p.id), s.as_bytes()).map_err(|e| {
                ApiError::internal(&SealError {
                    what: format!("cannot seal the client secret of {} at {}", caller.org_id, p.id),
                    source: e,
                })
            })?;
            Some(sealed)
        }
        None => None,
    };
    let client = OAuthClient {
        org_id: caller.org_id.clone(),
        provider: p.id.clone(),
        client_id: client_id.to_owned(),
        client_secret_sealed: sealed,
        updated_at: now_ms(),
    };
    let details = json!({"provider": p.id, "clientId": client.client_id,
                         "hasClientSecret": client.client_secret_sealed.is_some()});
    let event = audit.event_by(caller, "oauth.client.set", Some(("oauth_provider", &p.id)), &details);
    state.store.put_oauth_client(&client, &event).await?;
    Ok(view(p, Some(&client)))
}

/// `DELETE /v1/oauth/providers/{id}`: removes the organization's own
/// client credentials (the operator's apply again, if any).
#[utoipa::path(
    delete,
    path = "/v1/oauth/providers/{id}",
    operation_id = "deleteOAuthProviderClient",
    tag = "oauth",
    params(("id" = String, Path, description = "The catalog provider's id")),
    responses((status = 204, description = "Removed"), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such provider, or the organization has no credentials of its own there", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(SET)))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    SET.check(&caller)?;
    let p = provider(&state, &id)?;
    let event =
        audit.event_by(&caller, "oauth.client.delete", Some(("oauth_provider", &p.id)), &json!({"provider": p.id}));
    if !state.store.delete_oauth_client(&caller.org_id, &p.id, &event).await? {
        return Err(ApiError::not_found("organization client credentials"));
    }
    Ok(StatusCode::NO_CONTENT)
}
