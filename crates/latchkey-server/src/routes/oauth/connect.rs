//! `POST /v1/oauth/connect` and `GET /v1/oauth/connect/{id}`: starting a
//! connection to a provider for a person, and polling it while the person
//! goes through the browser half (`callback.rs`).
//!
//! Starting makes the request's `state` (256 random bits) and PKCE
//! verifier and stores the state's SHA-256 and the verifier; the state goes
//! to the person only, inside the `authorizeUrl` of latchkey's own
//! authorization page, which checks it and that the signed-in person is
//! the one who asked before sending the browser to the provider. A request
//! lives 10 minutes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::oauth::{ConnectRequestView, ConnectStarted, ConnectState, StartConnect};
use latchkey_api_types::{Data, ErrorEnvelope};
use latchkey_core::KeyHash;
use latchkey_core::id::OAuthConnectRequestId;
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_store::{ConnectStatus, OAuthConnectRequest};

use crate::auth::Caller;
use crate::authz::{AuthCheck, OAUTH_READ, OAUTH_WRITE};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::oauth::client::{new_pkce_verifier, new_state};
use crate::oauth::{OAuthProviderConfig, authorize_page_url, credentials, provider, scope_list};
use crate::state::AppState;

/// How long a connect request waits for the provider's callback.
pub(crate) const PENDING_MS: i64 = 10 * 60 * 1000;
/// Most scopes one connect may ask for.
const MAX_SCOPES: usize = 50;
/// Longest scope.
const MAX_SCOPE_LEN: usize = 200;

/// Who may call [`start`].
const START: AuthCheck = AuthCheck::any().scope(OAUTH_WRITE);
/// A shared connection (the organization's).
pub(crate) const SHARED: AuthCheck =
    AuthCheck::any().admin_because("the organization's shared connections are made by admins");

/// The scopes to ask for: the provider's defaults when none are named;
/// each 1–200 visible ASCII characters with neither a space nor the
/// provider's separator, at most 50, duplicates dropped.
fn checked_scopes(p: &OAuthProviderConfig, asked: Option<&[String]>) -> Result<Vec<String>, ApiError> {
    let Some(asked) = asked else { return Ok(p.scopes.clone()) };
    if asked.len() > MAX_SCOPES {
        return Err(ApiError::bad_request(format!("scopes: at most {MAX_SCOPES}")));
    }
    let mut out: Vec<String> = Vec::with_capacity(asked.len());
    for s in asked {
        let ok = (1..=MAX_SCOPE_LEN).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_graphic())
            && !s.chars().any(|c| p.scope_separator.contains(c));
        if !ok {
            let shown: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
            return Err(ApiError::bad_request(format!(
                "scopes: `{shown}` is not a scope of {}: 1–{MAX_SCOPE_LEN} visible ASCII characters, without spaces \
                 or the provider's separator `{}`",
                p.display_name, p.scope_separator
            )));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// `POST /v1/oauth/connect`: starts connecting the caller's account at a
/// provider (or, `shared: true`, the organization's). Open `authorizeUrl`
/// in a browser signed in to latchkey as the same person, then poll `GET
/// /v1/oauth/connect/{id}`.
#[utoipa::path(
    post,
    path = "/v1/oauth/connect",
    operation_id = "startOAuthConnect",
    tag = "oauth",
    request_body = StartConnect,
    responses((status = 201, description = "Started: open `authorizeUrl` before `expiresAt` (10 minutes)", body = Data<ConnectStarted>), (status = 400, description = "`bad_request`: a malformed scope or too many; `provider_not_configured`: no client credentials for the provider", body = ErrorEnvelope), (status = 403, description = "`forbidden`: an organization-owned key (no person to finish the connect), or `shared` by a member", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such provider in the catalog", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(START)))
)]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<StartConnect>,
) -> Result<(StatusCode, Json<Data<ConnectStarted>>), ApiError> {
    START.check(&caller)?;
    let user_id = caller.user_id.clone().ok_or_else(|| {
        ApiError::forbidden(
            "an organization-owned key acts for no person, and only the person who starts a connect can finish \
                 it in their browser: use a session or a member's key",
        )
    })?;
    let shared = req.shared.unwrap_or(false);
    if shared {
        SHARED.check(&caller)?;
    }
    let p = provider(&state, &req.provider)?;
    let scopes = checked_scopes(p, req.scopes.as_deref())?;
    // Refused now rather than at the provider: nothing could finish it.
    credentials(&state, &caller.org_id, p).await?;
    let oauth_state = new_state();
    let now = now_ms();
    let request = OAuthConnectRequest {
        id: OAuthConnectRequestId::new(),
        org_id: caller.org_id.clone(),
        user_id,
        provider: p.id.clone(),
        scopes: scopes.join(" "),
        shared,
        state_hash: KeyHash::of(&oauth_state),
        pkce_verifier: new_pkce_verifier(),
        status: ConnectStatus::Pending,
        error: None,
        connection_id: None,
        created_at: now,
        expires_at: now + PENDING_MS,
    };
    state.store.insert_connect_request(&request).await?;
    tracing::info!(request = %request.id, provider = %p.id, shared, scopes = scope_list(&request.scopes).len(), "connect started");
    let started = ConnectStarted {
        id: request.id.to_string(),
        authorize_url: authorize_page_url(&state, &request.id, &oauth_state),
        expires_at: to_rfc3339(request.expires_at),
    };
    Ok((StatusCode::CREATED, Json(Data { data: started })))
}

/// Who may call [`get`].
const GET: AuthCheck = AuthCheck::any().scope(OAUTH_READ);

/// `GET /v1/oauth/connect/{id}`: where a connect stands (`pending` until the
/// provider's callback is done, then `completed` with the connection or
/// `failed` with why; `expired` once past `expiresAt` unfinished). Only the
/// person who started it sees it.
#[utoipa::path(
    get,
    path = "/v1/oauth/connect/{id}",
    operation_id = "getOAuthConnect",
    tag = "oauth",
    params(("id" = String, Path, description = "The connect request's id (`ocr_…`)")),
    responses((status = 200, description = "Where it stands", body = Data<ConnectRequestView>), (status = 404, description = "`not_found`: no such request of the caller's (another person's, admins' included, another organization's)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GET)))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Data<ConnectRequestView>>, ApiError> {
    GET.check(&caller)?;
    let not_found = || ApiError::not_found("connect request");
    let id = OAuthConnectRequestId::from(id);
    let request = state.store.get_connect_request(&caller.org_id, &id).await?.ok_or_else(not_found)?;
    if caller.user_id.as_ref() != Some(&request.user_id) {
        return Err(not_found());
    }
    Ok(Json(Data { data: request_view(&request, now_ms()) }))
}

/// A connect request as its person sees it at `now`.
fn request_view(r: &OAuthConnectRequest, now: i64) -> ConnectRequestView {
    let status = match r.status {
        ConnectStatus::Pending if now >= r.expires_at => ConnectState::Expired,
        ConnectStatus::Pending | ConnectStatus::Exchanging => ConnectState::Pending,
        ConnectStatus::Completed => ConnectState::Completed,
        ConnectStatus::Failed => ConnectState::Failed,
    };
    ConnectRequestView {
        id: r.id.to_string(),
        provider: r.provider.clone(),
        status,
        connection_id: r.connection_id.as_ref().map(ToString::to_string),
        error: r.error.clone(),
        expires_at: to_rfc3339(r.expires_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(separator: &str) -> OAuthProviderConfig {
        OAuthProviderConfig {
            id: "github".into(),
            display_name: "GitHub".into(),
            authorize_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            revocation_url: None,
            userinfo_url: None,
            userinfo_id_field: "id".into(),
            userinfo_label_field: "login".into(),
            scopes: vec!["repo".into()],
            scope_separator: separator.into(),
            pkce: true,
            client_id: None,
            client_secret: None,
        }
    }

    #[test]
    fn scopes_default_to_the_providers_and_are_checked() {
        let p = github(" ");
        assert_eq!(checked_scopes(&p, None).unwrap(), ["repo"]);
        let asked = ["read:user".to_owned(), "repo".to_owned(), "read:user".to_owned()];
        assert_eq!(checked_scopes(&p, Some(&asked)).unwrap(), ["read:user", "repo"]);
        assert!(checked_scopes(&p, Some(&[])).unwrap().is_empty());
        for bad in ["", "a b", "tab\t", "é", &"x".repeat(201)] {
            assert!(checked_scopes(&p, Some(&[bad.to_owned()])).is_err(), "{bad:?}");
        }
        assert!(checked_scopes(&github(","), Some(&["a,b".to_owned()])).is_err());
        assert!(checked_scopes(&github(","), Some(&["a.b".to_owned()])).is_ok());
        let many: Vec<String> = (0..51).map(|i| format!("s{i}")).collect();
        assert!(checked_scopes(&p, Some(&many)).is_err());
        assert_eq!(checked_scopes(&p, Some(&many[..50])).unwrap().len(), 50);
    }

    #[test]
    fn a_request_waiting_past_its_expiry_reads_expired_and_an_exchange_reads_pending() {
        let r = OAuthConnectRequest {
            id: "ocr_1".into(),
            org_id: "org_1".into(),
            user_id: "usr_1".into(),
            provider: "github".into(),
            scopes: "repo".into(),
            shared: false,
            state_hash: KeyHash::of("s"),
            pkce_verifier: String::new(),
            status: ConnectStatus::Pending,
            error: None,
            connection_id: None,
            created_at: 0,
            expires_at: 1000,
        };
        assert_eq!(request_view(&r, 999).status, ConnectState::Pending);
        assert_eq!(request_view(&r, 1000).status, ConnectState::Expired);
        let exchanging = OAuthConnectRequest { status: ConnectStatus::Exchanging, ..r.clone() };
        assert_eq!(request_view(&exchanging, 5000).status, ConnectState::Pending);
        let failed = OAuthConnectRequest { status: ConnectStatus::Failed, error: Some("x".into()), ..r };
        assert_eq!(request_view(&failed, 5000).status, ConnectState::Failed);
    }
}
