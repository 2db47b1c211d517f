//! The browser's half of a connect: latchkey's authorization page
//! (`GET /v1/oauth/connect/{id}/authorize?state=`, the `authorizeUrl` of
//! `POST /v1/oauth/connect`) and the one callback of every provider (`GET
//! /v1/oauth/callback`).
//!
//! **The page** needs the dashboard session of the person who asked: a
//! visitor without one signs in first and comes back; anyone else gets a
//! refusal and nothing changes. The request must be pending and unexpired
//! and the `state` its own (its SHA-256 compared in constant time); then
//! the browser goes on to the provider with the state, the PKCE S256
//! challenge, the scopes and the callback as `redirect_uri`.
//!
//! **The callback** takes the request by its state first (so that a replay
//! finds nothing), then checks that the browser is still the same person's,
//! reads the provider's `error`, exchanges the code with the stored
//! verifier and reads the account (its id and label from the provider's
//! userinfo URL; a provider without one has a single account per owner: id
//! the provider's id, label its display name). The tokens are sealed with
//! the organization's data key and the connection stored (the same account
//! again: updated in place) with its audit event in one transaction. Any
//! failure after the take fails the request with its reason, which the
//! waiting client reads; nothing is stored half-way.
//!
//! Both answer browsers with pages: a refusal shows its code and message.
//! A connect started from the dashboard's Connected apps page in this
//! browser goes back there once stored (`crate::dashboard::connect_returned`);
//! any other shows a page saying so, with a link to it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_api_types::ErrorEnvelope;
use latchkey_core::KeyHash;
use latchkey_core::id::{OAuthConnectRequestId, OAuthConnectionId, OrgId, UserId};
use latchkey_core::time_fmt::now_ms;
use latchkey_store::{ConnectStatus, ConnectionFilter, NewOAuthConnection, OAuthConnectRequest, Page};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::audit::{Actor, Audit};
use crate::authz::AuthCheck;
use crate::dashboard::{Viewer, connect_returned, refusal_answer, render, with_security_headers};
use crate::error::ApiError;
use crate::extract::Query;
use crate::oauth::client::{self, TokenError};
use crate::oauth::{
    ConnectionKey, OAuthProviderConfig, connect_url, credentials, provider, redirect_uri, scope_list, seal_tokens,
};
use crate::sealing::data_key;
use crate::state::AppState;

/// Where the page that shows a person's connections is.
const CONNECTED_APPS: &str = "/dashboard/connected-apps";
/// Longest `state` read.
const MAX_STATE: usize = 512;
/// Longest authorization code read.
const MAX_CODE: usize = 2048;

/// `authorize`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// The connect's `state` (in `authorizeUrl`).
    state: Option<String>,
}

/// Who may call [`authorize`]: no API credential; the dashboard session of
/// the person who started the connect.
const AUTHORIZE: AuthCheck = AuthCheck::public();

/// `GET /v1/oauth/connect/{id}/authorize`: the page `authorizeUrl` opens;
/// sends the person who started the connect on to the provider.
#[utoipa::path(
    get,
    path = "/v1/oauth/connect/{id}/authorize",
    operation_id = "authorizeOAuthConnect",
    tag = "oauth",
    params(("id" = String, Path, description = "The connect request's id (`ocr_…`)"), AuthorizeQuery),
    responses(
        (status = 303, description = "To the provider's authorization page (state, PKCE S256, scopes); without a dashboard session, to the sign-in page, coming back here"),
        (status = 400, description = "`invalid_state` (not this request's state, or finished already), `expired`, `provider_not_configured` (a page for a browser, else the envelope)", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: the connect was started by someone else", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such connect request in the person's organizations", body = ErrorEnvelope),
        (status = 502, description = "`provider_error`: the provider's authorization URL cannot be made", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(AUTHORIZE)))
)]
pub async fn authorize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
    viewer: Result<Viewer, Response>,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let viewer = match viewer {
        Ok(v) => v,
        // Not signed in: the sign-in page, coming back here.
        Err(refusal) => return refusal,
    };
    match to_provider(&state, &viewer, &id, q.state.as_deref()).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => {
            tracing::info!(request = %id.chars().take(40).collect::<String>(), code = e.code(), "connect page refused");
            refusal_answer(&parts.headers, e)
        }
    }
}

/// 400 `invalid_state`.
fn invalid_state(why: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_state", format!("{why}; start connecting again"))
}

/// 403: the connect is someone else's.
fn someone_elses() -> ApiError {
    ApiError::forbidden(
        "this connect was started by someone else: only the person who started it, signed in to latchkey in this \
         browser, can finish it",
    )
}

/// The checks of the page; the provider's authorization URL.
async fn to_provider(state: &AppState, viewer: &Viewer, id: &str, given: Option<&str>) -> Result<String, ApiError> {
    let user = viewer.caller.acting_user()?;
    let request = find_request(state, &viewer.caller.org_id, user, id).await?;
    if request.user_id != *user {
        return Err(someone_elses());
    }
    let given = given
        .filter(|s| !s.is_empty() && s.len() <= MAX_STATE)
        .ok_or_else(|| invalid_state("this link has no state"))?;
    if !bool::from(KeyHash::of(given).as_bytes().ct_eq(request.state_hash.as_bytes())) {
        return Err(invalid_state("this link's state is not the connect's"));
    }
    let again = || connect_url(state, &request.provider);
    if request.status != ConnectStatus::Pending {
        return Err(invalid_state("this connect is finished already").with_connect_url(again()));
    }
    if now_ms() >= request.expires_at {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "expired",
            "this connect expired (it waits 10 minutes); start connecting again",
        )
        .with_connect_url(again()));
    }
    let p = provider(state, &request.provider)?;
    let creds = credentials(state, &request.org_id, p).await?;
    client::authorize(p, &creds, &redirect_uri(state), &scope_list(&request.scopes), given, &request.pkce_verifier)
        .map_err(|e| provider_error(p, &e))
}

/// The connect request `id` in the viewer's current organization, else in
/// another of the person's organizations (a connect started with
/// `X-Latchkey-Org`), or 404.
async fn find_request(
    state: &AppState,
    current: &OrgId,
    user: &UserId,
    id: &str,
) -> Result<OAuthConnectRequest, ApiError> {
    let id = OAuthConnectRequestId::from(id.to_owned());
    if let Some(r) = state.store.get_connect_request(current, &id).await? {
        return Ok(r);
    }
    for (org, _) in state.store.user_orgs(user, &Page { limit: 100, before: None }).await? {
        if org.id != *current
            && let Some(r) = state.store.get_connect_request(&org.id, &id).await?
        {
            return Ok(r);
        }
    }
    Err(ApiError::not_found("connect request"))
}

/// 502 `provider_error`.
fn provider_error(p: &OAuthProviderConfig, e: &TokenError) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", format!("{}: {e}", p.display_name))
}

/// Text from the provider shown back: at most 200 characters, no control
/// characters.
fn shown(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// `callback`'s query: the provider's answer.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The connect's `state`.
    state: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    error: Option<String>,
    /// Its explanation.
    error_description: Option<String>,
}

/// Who may call [`callback`]: no API credential; the dashboard session of
/// the person who started the connect.
const CALLBACK: AuthCheck = AuthCheck::public();

/// The page of a stored connection.
#[derive(Template)]
#[template(path = "dashboard/oauth_connected.html")]
struct ConnectedPage<'a> {
    provider: &'a str,
    label: &'a str,
    dashboard: &'a str,
}

/// `GET /v1/oauth/callback`: where every provider sends the browser back;
/// stores the connection and says so.
#[utoipa::path(
    get,
    path = "/v1/oauth/callback",
    operation_id = "finishOAuthConnect",
    tag = "oauth",
    params(CallbackQuery),
    responses(
        (status = 200, description = "A page: the account is connected (the connect request is `completed`)"),
        (status = 303, description = "The account is connected, and this browser started the connect from the dashboard's Connected apps page: back there"),
        (status = 400, description = "`invalid_state` (unknown, used or expired), `invalid_request` (no code); a page for a browser, else the envelope", body = ErrorEnvelope),
        (status = 403, description = "`forbidden` (this browser is not signed in as the person who started the connect), `access_denied` (refused at the provider)", body = ErrorEnvelope),
        (status = 502, description = "`provider_error`: the provider failed the exchange or the account", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(CALLBACK)))
)]
pub async fn callback(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    viewer: Result<Viewer, Response>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(given) = q.state.as_deref().filter(|s| !s.is_empty() && s.len() <= MAX_STATE) else {
        return refusal_answer(&parts.headers, invalid_state("the provider's answer has no state"));
    };
    // Taken first: whatever follows, this state is used up.
    let request = match state.store.take_pending_by_state(&KeyHash::of(given), now_ms()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return refusal_answer(
                &parts.headers,
                invalid_state("this connect is unknown, was finished already or expired"),
            );
        }
        Err(e) => return refusal_answer(&parts.headers, e.into()),
    };
    match complete(&state, &audit, viewer.ok().as_ref(), &request, &q).await {
        Ok((provider, label, connection)) => {
            if let Err(e) = state.store.finish_connect_request(&request.org_id, &request.id, Ok(&connection)).await {
                // The connection is stored; only the waiting client misses it.
                tracing::error!(error = %e, request = %request.id, "could not mark a connect completed");
            }
            // Started from the dashboard in this browser: back to its page.
            if let Some(back) = connect_returned(&parts.headers, &request.id, &connection) {
                return with_security_headers(back);
            }
            let page = ConnectedPage { provider: &provider, label: &label, dashboard: CONNECTED_APPS };
            with_security_headers(render(StatusCode::OK, &page))
        }
        Err(e) => {
            tracing::info!(request = %request.id, provider = %request.provider, code = e.code(), "connect failed");
            let e = e.with_connect_url(connect_url(&state, &request.provider));
            let reason = format!("{}: {}", e.code(), e.message());
            if let Err(err) = state.store.finish_connect_request(&request.org_id, &request.id, Err(&reason)).await {
                tracing::error!(error = %err, request = %request.id, "could not mark a connect failed");
            }
            refusal_answer(&parts.headers, e)
        }
    }
}

/// The callback's work once the request is taken: (the provider's display
/// name, the account's label, the connection stored).
async fn complete(
    state: &AppState,
    audit: &Audit,
    viewer: Option<&Viewer>,
    request: &OAuthConnectRequest,
    q: &CallbackQuery,
) -> Result<(String, String, OAuthConnectionId), ApiError> {
    if viewer.and_then(|v| v.caller.user_id.as_ref()) != Some(&request.user_id) {
        return Err(someone_elses());
    }
    let p = provider(state, &request.provider)?;
    if let Some(error) = q.error.as_deref() {
        let why = q.error_description.as_deref().map(|d| format!(": {}", shown(d))).unwrap_or_default();
        return Err(if error == "access_denied" {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!("{} refused the connection{why}", p.display_name),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "provider_error",
                format!("{} answered `{}`{why}", p.display_name, shown(error)),
            )
        });
    }
    let code = q.code.as_deref().filter(|c| !c.is_empty() && c.len() <= MAX_CODE).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the provider's answer has no authorization code")
    })?;
    let creds = credentials(state, &request.org_id, p).await?;
    let http = client::http_client();
    let verifier = p.pkce.then_some(request.pkce_verifier.as_str());
    let tokens = client::exchange(&http, p, &creds, &redirect_uri(state), code, verifier, now_ms())
        .await
        .map_err(|e| provider_error(p, &e))?;
    let (account_id, label) = client::account(&http, p, &tokens.access_token)
        .await
        .map_err(|e| provider_error(p, &e))?
        .unwrap_or_else(|| (p.id.clone(), p.display_name.clone()));
    let requested = request.scopes.clone();
    let granted = tokens.granted_scopes.as_ref().map_or_else(|| requested.clone(), |g| g.join(" "));
    let owner = (!request.shared).then(|| request.user_id.clone());
    let key = data_key(state, &request.org_id, true).await?.ok_or_else(|| ApiError::not_found("organization"))?;
    let at = ConnectionKey {
        org_id: &request.org_id,
        owner_user_id: owner.as_deref(),
        provider: &p.id,
        account_id: &account_id,
    };
    let (access, refresh) = seal_tokens(&key, at, &tokens)?;
    // The same account again keeps its connection: its id goes in the event.
    let filter = ConnectionFilter { owner: owner.clone(), all_org: false, provider: Some(p.id.clone()) };
    let existing = state
        .store
        .list_connections(&request.org_id, &filter)
        .await?
        .into_iter()
        .find(|c| c.owner_user_id == owner && c.account_id == account_id);
    let new = NewOAuthConnection {
        id: existing.as_ref().map_or_else(OAuthConnectionId::new, |c| c.id.clone()),
        org_id: request.org_id.clone(),
        owner_user_id: owner,
        provider: p.id.clone(),
        account_id,
        account_label: label.clone(),
        requested_scopes: requested,
        granted_scopes: granted,
        access_token_sealed: access,
        refresh_token_sealed: refresh,
        token_type: tokens.token_type.clone(),
        expires_at: tokens.expires_at,
        at: now_ms(),
    };
    let details = json!({
        "provider": p.id, "accountId": new.account_id, "accountLabel": new.account_label,
        "shared": request.shared, "requestedScopes": scope_list(&new.requested_scopes),
        "grantedScopes": scope_list(&new.granted_scopes), "reconnected": existing.is_some(),
        "connectRequestId": request.id,
    });
    let actor = Actor { kind: "user", id: Some(&request.user_id) };
    let event = audit.event(
        Some(&request.org_id),
        actor,
        "oauth.connection.connect",
        Some(("oauth_connection", &new.id)),
        &details,
    );
    let stored = state.store.upsert_connection(&new, &event).await?;
    tracing::info!(connection = %stored.id, provider = %p.id, shared = request.shared, "account connected");
    Ok((p.display_name.clone(), stored.account_label, stored.id))
}
