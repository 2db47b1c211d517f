//! `/v1/auth/oidc/…` and `/v1/me/identities`: single sign-on through
//! OpenID Connect providers ([`crate::oidc`]), and the identities linked to
//! a person's account.
//!
//! **Start** stores the pending request server-side (the SHA-256 of its
//! `state`; nonce, PKCE verifier, `return_to`; single use, 10 minutes) and
//! binds it to the browser that started it: a random `latchkey_oidc`
//! cookie, whose hash the request keeps. **Callback** takes the request
//! (so a replayed `state` finds nothing), checks the browser, the
//! provider's `error`, the `iss` of the response (RFC 9207), then exchanges
//! the code and verifies the ID token. Then who it is: an identity linked
//! by (issuer, subject); else, with `link_by_verified_email`, the account
//! whose email is verified on both sides; else, with `jit`, a new account
//! in the configured organization; else 403 `no_account`. The person gets
//! the same `lks_` session a password login gives, as the dashboard's
//! cookie, and is sent to `return_to` (paths on this server only). Linking
//! from the dashboard runs the same flow for the signed-in person, and the
//! callback links only for that same person's session.
//!
//! Browsers get refusals as a page; other clients as the error envelope.
//! Who the identity signs in as is `accounts.rs`'s; the caller's own
//! identities are `routes/identities.rs`.

mod accounts;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_api_types::{Data, ErrorEnvelope, OidcProviderView};
use latchkey_core::KeyHash;
use latchkey_core::id::UserId;
use latchkey_core::time_fmt::now_ms;
use latchkey_store::{AuthRequest, AuthRequestKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::audit::{Actor, Audit};
use crate::auth::client_subject;
use crate::authz::AuthCheck;
use crate::dashboard::{cookie, new_login_csrf, refusal_answer, set_cookie};
use crate::error::ApiError;
use crate::extract::{Query, local_path, public_origin};
use crate::oidc::OidcError;
use crate::state::AppState;

/// The cookie binding a sign-in in progress to the browser that started it.
const BROWSER_COOKIE: &str = "latchkey_oidc";
/// How long a started sign-in waits for its callback.
const PENDING_MS: i64 = 10 * 60 * 1000;
/// Where a sign-in goes when it names no `return_to`.
const DEFAULT_RETURN: &str = "/dashboard";
/// Sign-ins one client address may start a minute: each stores a pending
/// request for ten minutes, so starts are counted (in the one-minute window
/// of failed logins, under a subject of their own) and refused with 429
/// beyond this.
const STARTS_PER_MINUTE_PER_IP: u32 = 60;

/// What a started sign-in keeps for its callback (the stored request's
/// payload).
#[derive(Serialize, Deserialize)]
struct Pending {
    provider: String,
    nonce: String,
    pkce_verifier: String,
    redirect_uri: String,
    return_to: String,
    /// SHA-256 (base64url) of the browser's `latchkey_oidc` cookie.
    browser: String,
}

/// Who may call [`providers`].
const PROVIDERS: AuthCheck = AuthCheck::public();

/// `GET /v1/auth/oidc/providers`: the identity providers people may sign in
/// with (empty when none is configured).
#[utoipa::path(
    get,
    path = "/v1/auth/oidc/providers",
    operation_id = "listOidcProviders",
    tag = "people",
    responses((status = 200, description = "The configured providers", body = Data<Vec<OidcProviderView>>)),
    extensions(("x-latchkey-auth" = json!(PROVIDERS)))
)]
pub async fn providers(State(state): State<AppState>) -> Json<Data<Vec<OidcProviderView>>> {
    Json(Data { data: provider_views(&state) })
}

/// The configured providers as people see them (the list above, the
/// sign-in page's buttons).
pub(crate) fn provider_views(state: &AppState) -> Vec<OidcProviderView> {
    state.oidc.configs().map(|c| OidcProviderView { id: c.id.clone(), display_name: c.display_name.clone() }).collect()
}

/// `start`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// Where to go once signed in: a path on this server (default
    /// `/dashboard`).
    return_to: Option<String>,
    /// Passed to the provider (an email or user name to preselect).
    login_hint: Option<String>,
}

/// Who may call [`start`].
const START: AuthCheck = AuthCheck::public();

/// `GET /v1/auth/oidc/{id}/start`: redirects the browser to the provider.
#[utoipa::path(
    get,
    path = "/v1/auth/oidc/{id}/start",
    operation_id = "startOidcSignIn",
    tag = "people",
    params(("id" = String, Path, description = "The provider's id"), StartQuery),
    responses(
        (status = 303, description = "To the provider's authorization page (state, nonce, PKCE S256)"),
        (status = 400, description = "`invalid_return_to`: `return_to` is not a path on this server; `bad_request`: `login_hint` is too long", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such provider", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: too many sign-ins started from this address (`Retry-After`)", body = ErrorEnvelope),
        (status = 503, description = "`provider_unavailable`: the provider cannot be reached (discovery is retried)", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(START)))
)]
pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
    Query(q): Query<StartQuery>,
) -> Result<Response, ApiError> {
    let return_to = match q.return_to.as_deref() {
        None | Some("") => DEFAULT_RETURN,
        Some(to) => local_path(to).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_return_to", "return_to must be a path on this server")
        })?,
    };
    let hint = q.login_hint.as_deref().filter(|h| !h.is_empty());
    if hint.is_some_and(|h| h.len() > 256 || h.chars().any(char::is_control)) {
        return Err(ApiError::bad_request("login_hint must be at most 256 characters, without control characters"));
    }
    begin(&state, &parts, &id, return_to, hint, None).await
}

/// Starts a sign-in with provider `id` (or, with `link`, the linking of an
/// identity to that signed-in person's account) and answers the redirect
/// to the provider, binding the request to this browser.
pub(crate) async fn begin(
    state: &AppState,
    parts: &Parts,
    id: &str,
    return_to: &str,
    login_hint: Option<&str>,
    link: Option<&UserId>,
) -> Result<Response, ApiError> {
    let address = format!("oidc-start ip:{}", client_subject(parts, &state.settings).as_deref().unwrap_or("-"));
    if let Some(wait) = state.login_failures.blocked(&address, STARTS_PER_MINUTE_PER_IP) {
        return Err(ApiError::rate_limited("too many sign-ins started from this address; try again shortly", wait));
    }
    let redirect_uri = format!("{}/v1/auth/oidc/{id}/callback", public_origin(parts, &state.settings));
    let auth = match state.oidc.authorize(id, &redirect_uri, login_hint).await {
        None => return Err(ApiError::not_found("identity provider")),
        Some(started) => started.map_err(|e| oidc_refusal(&e))?,
    };
    // One binding per browser, reused while it lasts, so that two sign-ins
    // started in two tabs both complete.
    let (binding, fresh) = match cookie(&parts.headers, BROWSER_COOKIE).filter(|v| (16..=64).contains(&v.len())) {
        Some(v) => (v.to_owned(), false),
        None => (new_login_csrf()?, true),
    };
    let pending = Pending {
        provider: id.to_owned(),
        nonce: auth.nonce,
        pkce_verifier: auth.pkce_verifier,
        redirect_uri,
        return_to: return_to.to_owned(),
        browser: browser_hash(&binding),
    };
    let now = now_ms();
    let request = AuthRequest {
        hash: KeyHash::of(&auth.state),
        kind: AuthRequestKind::Oidc,
        user_code_hash: None,
        payload: serde_json::to_string(&pending).map_err(|e| ApiError::internal(&e))?,
        user_id: link.cloned(),
        org_id: None,
        decision: None,
        polled_at: None,
        prev_polled_at: None,
        created_at: now,
        expires_at: now + PENDING_MS,
    };
    state.login_failures.record(&address);
    state.store.insert_auth_request(&request).await?;
    let mut res = Redirect::to(&auth.url).into_response();
    if fresh {
        let max_age = PENDING_MS / 1000;
        res.headers_mut()
            .append(SET_COOKIE, set_cookie(BROWSER_COOKIE, &binding, Some(max_age), state.settings.behind_https));
    }
    Ok(res)
}

fn browser_hash(binding: &str) -> String {
    Base64UrlUnpadded::encode_string(KeyHash::of(binding).as_bytes())
}

/// `callback`'s query: the provider's answer.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The `state` of the sign-in.
    state: Option<String>,
    /// The issuer that answered (RFC 9207).
    iss: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    error: Option<String>,
    /// Its explanation.
    error_description: Option<String>,
}

/// Who may call [`callback`].
const CALLBACK: AuthCheck = AuthCheck::public();

/// `GET /v1/auth/oidc/{id}/callback`: where the provider sends the browser
/// back; signs the person in and redirects to `return_to`.
#[utoipa::path(
    get,
    path = "/v1/auth/oidc/{id}/callback",
    operation_id = "finishOidcSignIn",
    tag = "people",
    params(("id" = String, Path, description = "The provider's id"), CallbackQuery),
    responses(
        (status = 303, description = "Signed in (the session cookie is set) or identity linked: to `return_to`"),
        (status = 400, description = "`invalid_state` (unknown, used or expired), `state_mismatch` (started in another browser), `issuer_mismatch`, `invalid_request`", body = ErrorEnvelope),
        (status = 401, description = "The ID token is refused: `invalid_signature`, `invalid_audience`, `invalid_nonce`, `token_expired`, `issuer_mismatch`, `invalid_id_token`", body = ErrorEnvelope),
        (status = 403, description = "`access_denied` (the provider refused), `no_account`, `email_domain_not_allowed`, `link_session_mismatch`", body = ErrorEnvelope),
        (status = 409, description = "`account_exists` (an unlinked account has this email), `identity_linked_elsewhere`", body = ErrorEnvelope),
        (status = 502, description = "`provider_error`: the provider failed the code exchange", body = ErrorEnvelope),
        (status = 503, description = "`provider_unavailable`", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(CALLBACK)))
)]
pub async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    audit: Audit,
    parts: Parts,
    Query(q): Query<CallbackQuery>,
) -> Response {
    match complete(&state, &audit, &parts, &id, q).await {
        Ok(res) => res,
        Err(e) => {
            tracing::info!(provider = %id, code = e.code(), "single sign-on refused");
            let details =
                json!({"via": "oidc", "provider": id.chars().take(32).collect::<String>(), "reason": e.code()});
            audit.record(&state, None, Actor { kind: "anonymous", id: None }, "auth.login_failed", None, details).await;
            refusal_answer(&parts.headers, e)
        }
    }
}

/// 400 `invalid_state`.
fn invalid_state() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_state",
        "this sign-in is unknown, was used already or has expired (after 10 minutes); start again",
    )
}

/// How a provider's failure reads.
fn oidc_refusal(e: &OidcError) -> ApiError {
    match e {
        OidcError::Unavailable(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable", e.to_string())
        }
        OidcError::Provider { .. } => ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", e.to_string()),
        OidcError::IdToken { code, .. } => ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string()),
    }
}

/// Text from the provider shown back: at most 200 characters, no control
/// characters.
fn shown(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The callback's work; every refusal is an [`ApiError`].
async fn complete(
    state: &AppState,
    audit: &Audit,
    parts: &Parts,
    id: &str,
    q: CallbackQuery,
) -> Result<Response, ApiError> {
    let given = q.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 512).ok_or_else(invalid_state)?;
    // Taken first: whatever follows, this state is used up.
    let request = state
        .store
        .take_auth_request(AuthRequestKind::Oidc, &KeyHash::of(given), now_ms())
        .await?
        .ok_or_else(invalid_state)?;
    let pending: Pending = serde_json::from_str(&request.payload).map_err(|e| ApiError::internal(&e))?;
    let config = state.oidc.config(id).filter(|_| pending.provider == id).ok_or_else(invalid_state)?;
    let browser = cookie(&parts.headers, BROWSER_COOKIE).map(browser_hash).unwrap_or_default();
    if !bool::from(browser.as_bytes().ct_eq(pending.browser.as_bytes())) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "state_mismatch",
            "this sign-in was started in another browser (or its cookie is gone); start again here",
        ));
    }
    if let Some(error) = q.error.as_deref() {
        let why = q.error_description.as_deref().map(|d| format!(": {}", shown(d))).unwrap_or_default();
        return Err(if error == "access_denied" {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!("{} refused the sign-in{why}", config.display_name),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "provider_error",
                format!("{} answered `{}`{why}", config.display_name, shown(error)),
            )
        });
    }
    if !state.oidc.response_issuer_ok(id, q.iss.as_deref()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "issuer_mismatch",
            format!("the answer does not come from {}'s issuer", config.display_name),
        ));
    }
    let code = q.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 2048).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the provider's answer has no authorization code")
    })?;
    let who = state
        .oidc
        .finish(id, &pending.redirect_uri, code, &pending.pkce_verifier, &pending.nonce)
        .await
        .map_err(|e| oidc_refusal(&e))?;
    let domain_ok = who.email_verified && who.email.as_deref().is_some_and(|e| config.email_allowed(e));
    if !config.allowed_email_domains.is_empty() && !domain_ok {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "email_domain_not_allowed",
            format!(
                "{} may be used only with a verified email address of {}",
                config.display_name,
                config.allowed_email_domains.join(", ")
            ),
        ));
    }
    if let Some(user_id) = &request.user_id {
        return accounts::link(state, audit, parts, config, &who, user_id, &pending.return_to).await;
    }
    accounts::sign_in(state, audit, parts, config, &who, &pending.return_to).await
}
