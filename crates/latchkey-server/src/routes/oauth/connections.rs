//! `/v1/oauth/connections`: the connections the caller may see (their own
//! and the organization's shared ones; admins every member's with
//! `allOrg=true`), disconnecting one (revoked at the provider when it can
//! be), and choosing the default per provider.
//!
//! A person's connection exists only for them and the admins: any other
//! member gets 404 for it. The organization's shared connections are seen
//! by every member and changed by admins only (403 otherwise).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::oauth::OAuthConnectionView;
use latchkey_api_types::{Data, ErrorEnvelope};
use latchkey_core::id::{OAuthConnectionId, OrgId, UserId};
use latchkey_core::time_fmt::now_ms;
use latchkey_store::{ConnectionFilter, OAuthConnection};
use serde::Deserialize;
use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, OAUTH_READ, OAUTH_WRITE};
use crate::error::ApiError;
use crate::extract::Query;
use crate::oauth::client::{self, TokenError};
use crate::oauth::{OpenedTokens, connection_view, credentials, open_tokens, provider};
use crate::state::AppState;

/// Every member's connections (`allOrg=true`).
pub(crate) const ALL_ORG: AuthCheck =
    AuthCheck::any().admin_because("listing every member's connections needs the admin role");
/// Changing the organization's shared connections.
pub(crate) const SHARED: AuthCheck =
    AuthCheck::any().admin_because("the organization's shared connections are changed by admins only");

/// `GET /v1/oauth/connections?provider=&allOrg=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this provider's.
    pub provider: Option<String>,
    /// Every member's connections too (admins only).
    #[serde(default)]
    pub all_org: bool,
}

/// Who may call [`list`].
const LIST: AuthCheck = AuthCheck::any().scope(OAUTH_READ);

/// `GET /v1/oauth/connections`: the caller's own connections and the
/// organization's shared ones (an organization-owned key: the shared ones),
/// by provider and then oldest first; never tokens.
#[utoipa::path(
    get,
    path = "/v1/oauth/connections",
    operation_id = "listOAuthConnections",
    tag = "oauth",
    params(ListQuery),
    responses((status = 200, description = "The connections (never their tokens)", body = Data<Vec<OAuthConnectionView>>), (status = 403, description = "`forbidden`: `allOrg` by a member", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Data<Vec<OAuthConnectionView>>>, ApiError> {
    LIST.check(&caller)?;
    if q.all_org {
        ALL_ORG.check(&caller)?;
    }
    let filter = ConnectionFilter {
        owner: caller.user_id.clone(),
        all_org: q.all_org,
        provider: q.provider.filter(|p| !p.is_empty()),
    };
    let rows = state.store.list_connections(&caller.org_id, &filter).await?;
    Ok(Json(Data { data: rows.iter().map(connection_view).collect() }))
}

/// The connection `id` if the caller may change it: their own; another
/// member's only for admins (404 otherwise, as if it did not exist); a
/// shared one only for admins (403).
async fn find(state: &AppState, caller: &Caller, id: String) -> Result<OAuthConnection, ApiError> {
    let not_found = || ApiError::not_found("connection");
    let c = state.store.get_connection(&caller.org_id, &OAuthConnectionId::from(id)).await?.ok_or_else(not_found)?;
    match &c.owner_user_id {
        Some(owner) if caller.user_id.as_ref() == Some(owner) => {}
        Some(_) if caller.is_admin() => {}
        Some(_) => return Err(not_found()),
        None => SHARED.check(caller)?,
    }
    Ok(c)
}

/// Who may call [`delete`].
const DELETE: AuthCheck = AuthCheck::any().scope(OAUTH_WRITE);

/// `DELETE /v1/oauth/connections/{id}`: disconnects, revoking the grant at
/// the provider when it has a revocation endpoint. A provider that fails
/// does not keep the connection: it is deleted all the same, and the audit
/// event says `revokedAtProvider: false` and why. The owner's oldest other
/// connection to the provider becomes the default.
#[utoipa::path(
    delete,
    path = "/v1/oauth/connections/{id}",
    operation_id = "deleteOAuthConnection",
    tag = "oauth",
    params(("id" = String, Path, description = "The connection's id (`ocn_…`)")),
    responses((status = 204, description = "Disconnected"), (status = 403, description = "`forbidden`: a shared connection, by a member", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such connection the caller may see", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(DELETE)))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    DELETE.check(&caller)?;
    let c = find(&state, &caller, id).await?;
    let revoked = revoke(&state, &c).await;
    let mut details = json!({"provider": c.provider, "accountId": c.account_id, "accountLabel": c.account_label,
                             "shared": c.owner_user_id.is_none(), "ownerUserId": c.owner_user_id});
    match &revoked {
        Ok(Some(())) => details["revokedAtProvider"] = json!(true),
        Ok(None) => details["revokedAtProvider"] = json!(null),
        Err(why) => {
            tracing::warn!(connection = %c.id, provider = %c.provider, error = %why, "could not revoke a grant at its provider; disconnecting anyway");
            details["revokedAtProvider"] = json!(false);
            details["revocationError"] = json!(why);
        }
    }
    let event = audit.event_by(&caller, "oauth.connection.delete", Some(("oauth_connection", &c.id)), &details);
    if state.store.delete_connection(&caller.org_id, &c.id, now_ms(), &event).await?.is_none() {
        return Err(ApiError::not_found("connection"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes `c`'s grant at its provider (its refresh token, else its access
/// token): `Ok(None)` when the provider has no revocation endpoint, `Err`
/// with why it failed (no secret in it). Also used when a member leaves
/// (`routes::orgs::remove_member`).
pub(crate) async fn revoke(state: &AppState, c: &OAuthConnection) -> Result<Option<()>, String> {
    let p = provider(state, &c.provider).map_err(|_| "the provider is no longer in the catalog".to_owned())?;
    if p.revocation_url.is_none() {
        return Ok(None);
    }
    let creds = credentials(state, &c.org_id, p).await.map_err(|e| e.message().to_owned())?;
    let tokens: OpenedTokens = open_tokens(state, c).await.map_err(|e| e.message().to_owned())?;
    let http = client::http_client();
    match client::revoke(&http, p, &creds, &tokens.access, tokens.refresh.as_deref().map(String::as_str)).await {
        Ok(true) => Ok(Some(())),
        Ok(false) => Ok(None),
        Err(TokenError::InvalidGrant(why) | TokenError::Other(why)) => Err(why),
    }
}

/// Who may call [`set_default`].
const SET_DEFAULT: AuthCheck = AuthCheck::any().scope(OAUTH_WRITE);

/// `POST /v1/oauth/connections/{id}/default`: makes a connection its
/// owner's default for its provider (the previous default no longer is).
#[utoipa::path(
    post,
    path = "/v1/oauth/connections/{id}/default",
    operation_id = "setDefaultOAuthConnection",
    tag = "oauth",
    params(("id" = String, Path, description = "The connection's id (`ocn_…`)")),
    responses((status = 200, description = "The connection, now the default", body = Data<OAuthConnectionView>), (status = 403, description = "`forbidden`: a shared connection, by a member", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such connection the caller may see", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(SET_DEFAULT)))
)]
pub async fn set_default(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<Json<Data<OAuthConnectionView>>, ApiError> {
    SET_DEFAULT.check(&caller)?;
    let c = find(&state, &caller, id).await?;
    let details = json!({"provider": c.provider, "accountLabel": c.account_label, "shared": c.owner_user_id.is_none()});
    let event = audit.event_by(&caller, "oauth.connection.set_default", Some(("oauth_connection", &c.id)), &details);
    let updated = state
        .store
        .set_default_connection(&caller.org_id, &c.id, now_ms(), &event)
        .await?
        .ok_or_else(|| ApiError::not_found("connection"))?;
    Ok(Json(Data { data: connection_view(&updated) }))
}

/// `user_id`'s OAuth connections in `org_id`, with their tokens.
pub(crate) async fn of_member(
    state: &AppState,
    org_id: &OrgId,
    user_id: &UserId,
) -> Result<Vec<OAuthConnection>, ApiError> {
    let filter = ConnectionFilter { owner: Some(user_id.clone()), ..Default::default() };
    let mut out = Vec::new();
    for listed in state.store.list_connections(org_id, &filter).await? {
        if listed.owner_user_id.as_ref() == Some(user_id)
            && let Some(c) = state.store.get_connection(org_id, &listed.id).await?
        {
            out.push(c);
        }
    }
    Ok(out)
}

/// Revokes a departed member's grants at their providers, after the answer
/// (a provider may take its 10 seconds); failures are logged.
pub(crate) fn revoke_departed(state: AppState, connections: Vec<OAuthConnection>) {
    if connections.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for c in &connections {
            match revoke(&state, c).await {
                Ok(done) => {
                    tracing::info!(connection = %c.id, revoked = done.is_some(), "a departed member's connection");
                }
                Err(why) => {
                    tracing::warn!(connection = %c.id, error = %why, "could not revoke a departed member's grant");
                }
            }
        }
    });
}
