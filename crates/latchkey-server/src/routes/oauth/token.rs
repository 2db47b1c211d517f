//! `POST /v1/oauth/token`: a fresh access token for the platform's tool
//! runtime (issue 23, point 4), from the named connection, else the
//! person's default for the provider, else the organization's shared
//! default, refreshed first when due ([`crate::oauth::refresh`]).
//!
//! It needs `oauth:token`, a reserved scope like `secret:resolve`: no
//! wildcard covers it and no API request grants it; only the operator mints
//! a service key holding it (`latchkey admin create-service-key --scope
//! oauth:token`), so that no organization admin can read a member's tokens.
//! The refresh token never leaves latchkey. Each token handed out is
//! audited (`oauth.token.issue`, without the token).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_api_types::oauth::{OAuthToken, TokenRequest};
use latchkey_api_types::{Data, ErrorEnvelope};
use latchkey_core::id::{IdKind, OAuthConnectionId, is_valid};
use latchkey_core::time_fmt::to_rfc3339;
use latchkey_store::OAuthConnection;
use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, OAUTH_TOKEN};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::lookup::member_id;
use crate::oauth::{connect_url, open_tokens, provider, refresh, scope_list};
use crate::state::AppState;
use crate::views::no_store;

/// Who may call [`token`]: a service key the operator minted.
pub(crate) const TOKEN: AuthCheck = AuthCheck::any().scope(OAUTH_TOKEN);

/// Most scopes one request may require.
const MAX_SCOPES: usize = 50;

/// 404 `not_connected`, naming where to connect.
fn not_connected(state: &AppState, provider: &str, whose: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_connected", format!("{whose} no connection to {provider}"))
        .with_connect_url(connect_url(state, provider))
}

/// The connection a request names, or the defaults in order.
async fn choose(
    state: &AppState,
    caller: &Caller,
    req: &TokenRequest,
    user: Option<&latchkey_core::id::UserId>,
) -> Result<OAuthConnection, ApiError> {
    let org = &caller.org_id;
    if let Some(id) = &req.connection_id {
        let found = if is_valid(IdKind::OAuthConnection, id) {
            state.store.get_connection(org, &OAuthConnectionId::from(id.as_str())).await?
        } else {
            None
        };
        // Another provider's, or another member's than the one named, is
        // not theirs to use.
        return found
            .filter(|c| c.provider == req.provider)
            .filter(|c| c.owner_user_id.is_none() || user.is_none() || c.owner_user_id.as_ref() == user)
            .ok_or_else(|| not_connected(state, &req.provider, &format!("there is no connection {id} with")));
    }
    if let Some(u) = user
        && let Some(c) = state.store.default_connection(org, Some(u), &req.provider).await?
    {
        return Ok(c);
    }
    if let Some(c) = state.store.default_connection(org, None, &req.provider).await? {
        return Ok(c);
    }
    let whose = if user.is_some() { "the member and the organization have" } else { "the organization has" };
    Err(not_connected(state, &req.provider, whose))
}

/// `POST /v1/oauth/token`: a fresh access token for a tool (see the module
/// doc).
#[utoipa::path(
    post,
    path = "/v1/oauth/token",
    operation_id = "issueOAuthToken",
    tag = "oauth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A fresh access token (audited; `Cache-Control: no-store`)", body = Data<OAuthToken>),
        (status = 400, description = "`bad_request`: too many scopes, or a malformed body", body = ErrorEnvelope),
        (status = 403, description = "`insufficient_scope`: the caller lacks `oauth:token`, or the grant lacks a requested scope (with `connectUrl`)", body = ErrorEnvelope),
        (status = 404, description = "`not_connected` (with `connectUrl`): no such connection, and no default; `not_found`: no such provider or member", body = ErrorEnvelope),
        (status = 409, description = "`needs_reauthorization` (with `connectUrl`): the provider refused the grant", body = ErrorEnvelope),
        (status = 503, description = "`provider_unavailable`: the token expired and the provider could not refresh it; `unavailable`: the database, or no master key", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(TOKEN)))
)]
pub async fn token(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Response, ApiError> {
    TOKEN.check(&caller)?;
    let wanted = req.scopes.clone().unwrap_or_default();
    if wanted.len() > MAX_SCOPES {
        return Err(ApiError::bad_request(format!("scopes: at most {MAX_SCOPES}")));
    }
    let p = provider(&state, &req.provider)?;
    let user = match &req.user_id {
        Some(u) => Some(member_id(&state, &caller.org_id, u).await?),
        None => None,
    };
    let chosen = choose(&state, &caller, &req, user.as_ref()).await?;
    let c = refresh::fresh(&state, p, chosen, &audit).await?;
    let granted = scope_list(&c.granted_scopes);
    let missing: Vec<&str> = wanted.iter().map(String::as_str).filter(|w| !granted.iter().any(|g| g == w)).collect();
    if !missing.is_empty() {
        return Err(ApiError::insufficient_scope(format!(
            "the grant of {} to {} lacks {}: connect it again asking for them",
            c.id,
            c.provider,
            missing.join(", ")
        ))
        .with_connect_url(connect_url(&state, &c.provider)));
    }
    let opened = open_tokens(&state, &c).await?;
    audit
        .by(
            &state,
            &caller,
            "oauth.token.issue",
            Some(("oauth_connection", &c.id)),
            json!({"provider": c.provider, "accountLabel": c.account_label, "forUserId": user,
                   "owner": if c.owner_user_id.is_some() { "user" } else { "org" }, "version": c.version}),
        )
        .await;
    let body = OAuthToken {
        access_token: opened.access.to_string(),
        token_type: c.token_type.clone(),
        expires_at: c.expires_at.map(to_rfc3339),
        granted_scopes: granted,
        connection_id: c.id.to_string(),
        account_label: c.account_label.clone(),
    };
    Ok(no_store(body))
}
