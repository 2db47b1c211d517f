//! Signing in and out, and switching organizations: the API's login,
//! logout and switch handlers, with the session token in a cookie. The
//! sign-in form carries `return_to` (the page a visitor without a session
//! opened) and leads there once signed in, when it is a local path.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use latchkey_api_types::{Login, SwitchOrg};
use serde::Deserialize;

use super::page::{Problem, render};
use super::session::{
    AnonymousForm, LOGIN, LOGIN_CSRF_COOKIE, PageQuery, SESSION_COOKIE, Submitted, Viewer, clear_cookie,
    new_login_csrf, request_id, set_cookie,
};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::extract::{JsonBody, local_path};
use crate::routes::{orgs, people};
use crate::state::AppState;

/// The sign-in routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(LOGIN, get(form).post(sign_in))
        .route("/dashboard/logout", post(sign_out))
        .route("/dashboard/org", post(switch_org))
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    /// Where to go after signing in (a local path), carried by the form.
    return_to: Option<String>,
    problem: Option<Problem>,
    /// One button per identity provider.
    providers: Vec<latchkey_api_types::OidcProviderView>,
}

impl LoginPage {
    /// `return_to` (or the dashboard) for the provider buttons' links,
    /// percent-encoded.
    fn provider_return_to(&self) -> String {
        let to = self.return_to.as_deref().unwrap_or("/dashboard");
        url::form_urlencoded::byte_serialize(to.as_bytes()).collect()
    }
}

/// Where a sign-in leads: `return_to` when it is a path on this server
/// ([`local_path`]), else the keys page.
pub(super) fn after_sign_in(return_to: Option<&str>) -> &str {
    return_to.and_then(local_path).unwrap_or(super::keys::HOME)
}

/// The sign-in page's query string.
#[derive(Debug, Default, Deserialize)]
struct LoginParams {
    /// The page to come back to.
    return_to: Option<String>,
}

/// The sign-in form with a fresh double-submit token in its cookie.
fn login_page(
    state: &AppState,
    status: StatusCode,
    email: String,
    return_to: Option<String>,
    problem: Option<Problem>,
) -> Result<Response, ApiError> {
    let providers = crate::routes::sso::provider_views(state);
    // Only a local path is carried on: anything else is dropped here.
    let return_to = return_to.filter(|to| local_path(to).is_some());
    with_anonymous_csrf(state, |csrf| render(status, &LoginPage { csrf, email, return_to, problem, providers }))
}

/// The page `page` renders with a fresh double-submit token for its forms
/// sent before there is a session ([`AnonymousForm`]), and the cookie that
/// carries the token.
pub(super) fn with_anonymous_csrf(
    state: &AppState,
    page: impl FnOnce(String) -> Response,
) -> Result<Response, ApiError> {
    let csrf = new_login_csrf()?;
    // Short-lived: the form is filled in within minutes.
    let cookie = set_cookie(LOGIN_CSRF_COOKIE, &csrf, Some(3600), state.settings.behind_https);
    let mut res = page(csrf);
    res.headers_mut().append(SET_COOKIE, cookie);
    Ok(res)
}

/// The answer to a sign-in that granted the session `token`: its cookie
/// set, the sign-in form's cookie forgotten, and on to `to`.
pub(crate) fn signed_in(state: &AppState, token: &str, to: &str) -> Response {
    let mut res = Redirect::to(to).into_response();
    let h = res.headers_mut();
    h.append(SET_COOKIE, session_cookie(state, token));
    h.append(SET_COOKIE, clear_cookie(LOGIN_CSRF_COOKIE));
    res
}

/// The session cookie carrying `token`, for as long as the session lasts.
pub(crate) fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let ttl_secs = state.settings.session_ttl_ms / 1000;
    set_cookie(SESSION_COOKIE, token, Some(ttl_secs), state.settings.behind_https)
}

/// A refused login as a page tells it: the same words for an unknown email
/// and a wrong password.
pub(super) fn login_refusal(e: ApiError) -> ApiError {
    if e.code() == "unauthorized" {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Wrong email or password.")
    } else {
        e
    }
}

/// `GET /dashboard/login`: the form, or the keys page for a signed-in
/// visitor.
async fn form(
    State(state): State<AppState>,
    viewer: Result<Viewer, Response>,
    PageQuery(q): PageQuery<LoginParams>,
) -> Result<Response, ApiError> {
    if viewer.is_ok() {
        return Ok(Redirect::to(after_sign_in(q.return_to.as_deref())).into_response());
    }
    login_page(&state, StatusCode::OK, String::new(), q.return_to, None)
}

/// The sign-in form's fields.
#[derive(Deserialize)]
struct SignIn {
    email: String,
    password: String,
    /// The page to come back to (a hidden field).
    return_to: Option<String>,
}

/// `POST /dashboard/login`: `POST /v1/auth/login`, its token set as the
/// session cookie.
async fn sign_in(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    AnonymousForm(f): AnonymousForm<SignIn>,
) -> Result<Response, ApiError> {
    let rid = request_id(&parts.headers);
    let email = f.email.clone();
    match people::login(State(state.clone()), audit, parts, JsonBody(Login { email: f.email, password: f.password }))
        .await
    {
        Ok(grant) => Ok(signed_in(&state, &grant.0.data.token, after_sign_in(f.return_to.as_deref()))),
        Err(e) => {
            let e = login_refusal(e);
            login_page(&state, e.status(), email, f.return_to, Some(Problem::new(&e, rid.as_deref())))
        }
    }
}

/// No fields but the CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct Empty {}

/// `POST /dashboard/logout`: ends the session on the server
/// (`POST /v1/auth/logout`) and forgets the cookie.
async fn sign_out(State(state): State<AppState>, audit: Audit, s: Submitted<Empty>) -> Result<Response, ApiError> {
    people::logout(State(state), s.viewer.caller, audit).await?;
    let mut res = Redirect::to(LOGIN).into_response();
    res.headers_mut().append(SET_COOKIE, clear_cookie(SESSION_COOKIE));
    Ok(res)
}

/// The switcher's field.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Switch {
    org_id: String,
}

/// `POST /dashboard/org`: `POST /v1/me/org`, then the keys page of the
/// organization switched to.
async fn switch_org(State(state): State<AppState>, s: Submitted<Switch>) -> Result<Response, ApiError> {
    let _switched = orgs::switch(State(state), s.viewer.caller, JsonBody(SwitchOrg { org_id: s.form.org_id })).await?;
    Ok(Redirect::to(super::keys::HOME).into_response())
}
