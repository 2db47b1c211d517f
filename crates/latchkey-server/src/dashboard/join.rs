//! The page an invitation link opens: `/dashboard/join#lki_…`.
//!
//! The token rides in the link's fragment, which browsers never send: the
//! script copies it into the page's forms (and drops it from the address
//! bar), so it reaches the server only in a POSTed form, never in a path
//! that is logged, a proxy's log or a `Referer`. Without script the person
//! pastes it. Then:
//!
//! * a visitor without an account creates one (`Name`, `Password`) and
//!   joins: `POST /v1/invitations/signup`, which makes the account with the
//!   invited email, in the inviting organization only;
//! * a visitor with an account signs in and joins: `POST /v1/auth/login`,
//!   then `POST /v1/invitations/accept` with that session;
//! * a signed-in visitor joins with their session.
//!
//! Either way the session then acts in the organization joined. A wrong,
//! revoked, expired or used token, or an account of another email, shows
//! the API's error.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use latchkey_api_types::{AcceptInvitation, InvitedSignUp, Login, SwitchOrg};
use latchkey_core::time_fmt::now_ms;
use serde::Deserialize;

use super::login::{login_refusal, session_cookie, signed_in, with_anonymous_csrf};
use super::page::{Problem, render};
use super::session::{AnonymousForm, Submitted, Viewer, request_id, session_csrf};
use super::team::JOIN;
use crate::audit::Audit;
use crate::auth::{Caller, SessionRefusal, session_caller};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::routes::{orgs, people};
use crate::state::AppState;

/// The join page and its forms.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(JOIN, get(show))
        .route("/dashboard/join/signup", post(sign_up))
        .route("/dashboard/join/login", post(sign_in))
        .route("/dashboard/join/accept", post(accept))
}

/// Who is signed in, on the page for a signed-in visitor.
struct SignedIn {
    email: String,
    /// Their session's CSRF token.
    csrf: String,
}

#[derive(Template)]
#[template(path = "dashboard/join.html")]
struct JoinPage {
    /// The signed-in visitor; `None`: the forms to sign up or sign in.
    signed_in: Option<SignedIn>,
    /// The anonymous forms' double-submit token.
    csrf: String,
    /// The invitation token sent with a refused form, shown again (it is
    /// the visitor's own, and the page is not cached).
    token: String,
    /// The name typed into a refused sign-up.
    name: String,
    /// The email typed into a refused sign-in.
    email: String,
    problem: Option<Problem>,
}

/// What a refused form sends back to the page.
#[derive(Default)]
struct Typed {
    token: String,
    name: String,
    email: String,
}

/// The page for a visitor without a session, with `status`.
fn anonymous_page(
    state: &AppState,
    status: StatusCode,
    typed: Typed,
    problem: Option<Problem>,
) -> Result<Response, ApiError> {
    with_anonymous_csrf(state, |csrf| {
        let Typed { token, name, email } = typed;
        render(status, &JoinPage { signed_in: None, csrf, token, name, email, problem })
    })
}

/// The page for the signed-in `caller`, whose forms carry `csrf`.
async fn signed_in_page(
    state: &AppState,
    caller: &Caller,
    csrf: String,
    status: StatusCode,
    token: String,
    problem: Option<Problem>,
) -> Result<Response, ApiError> {
    let user = state.store.get_user(caller.acting_user()?).await?.ok_or_else(ApiError::unauthorized)?;
    let signed_in = Some(SignedIn { email: user.email, csrf });
    let page = JoinPage { signed_in, csrf: String::new(), token, name: String::new(), email: String::new(), problem };
    Ok(render(status, &page))
}

/// `GET /dashboard/join`: the forms of a visitor with or without a session.
async fn show(State(state): State<AppState>, viewer: Result<Viewer, Response>) -> Result<Response, ApiError> {
    match viewer {
        Ok(v) => signed_in_page(&state, &v.caller, v.csrf, StatusCode::OK, String::new(), None).await,
        Err(_) => anonymous_page(&state, StatusCode::OK, Typed::default(), None),
    }
}

/// The sign-up form's fields.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignUpForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

/// `POST /dashboard/join/signup`: `POST /v1/invitations/signup`, its
/// session set as the cookie, then the organization's keys.
async fn sign_up(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    AnonymousForm(f): AnonymousForm<SignUpForm>,
) -> Result<Response, ApiError> {
    let rid = request_id(&parts.headers);
    let token = f.token.trim().to_owned();
    let body = InvitedSignUp { token: token.clone(), password: f.password, display_name: f.display_name.clone() };
    match people::signup_invited(State(state.clone()), audit, parts, JsonBody(body)).await {
        Ok((_, grant)) => Ok(signed_in(&state, &grant.0.data.token, super::keys::HOME)),
        Err(e) => {
            let typed = Typed { token, name: f.display_name, email: String::new() };
            anonymous_page(&state, e.status(), typed, Some(Problem::new(&e, rid.as_deref())))
        }
    }
}

/// The sign-in form's fields.
#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /dashboard/join/login`: `POST /v1/auth/login`, then the
/// invitation accepted with that session. A sign-in that succeeded stays
/// signed in even if the invitation is refused: the page then shows the
/// API's error to the signed-in visitor.
async fn sign_in(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    AnonymousForm(f): AnonymousForm<SignInForm>,
) -> Result<Response, ApiError> {
    let rid = request_id(&parts.headers);
    let token = f.token.trim().to_owned();
    let login = JsonBody(Login { email: f.email.clone(), password: f.password });
    let session = match people::login(State(state.clone()), audit.clone(), parts, login).await {
        Ok(grant) => grant.0.data.token,
        Err(e) => {
            let e = login_refusal(e);
            let typed = Typed { token, name: String::new(), email: f.email };
            return anonymous_page(&state, e.status(), typed, Some(Problem::new(&e, rid.as_deref())));
        }
    };
    let caller = match session_caller(&state, None, &session, now_ms()).await {
        Ok(caller) => caller,
        Err(SessionRefusal::Invalid) => return Err(ApiError::unauthorized()),
        Err(SessionRefusal::Error(e)) => return Err(e),
    };
    match join(&state, &caller, audit, &token).await {
        Ok(()) => Ok(signed_in(&state, &session, super::keys::HOME)),
        Err(e) => {
            let problem = Some(Problem::new(&e, rid.as_deref()));
            let mut res = signed_in_page(&state, &caller, session_csrf(&session), e.status(), token, problem).await?;
            res.headers_mut().append(SET_COOKIE, session_cookie(&state, &session));
            Ok(res)
        }
    }
}

/// The accept form's field.
#[derive(Deserialize)]
struct AcceptForm {
    #[serde(default)]
    token: String,
}

/// `POST /dashboard/join/accept`: a signed-in visitor accepts
/// (`POST /v1/invitations/accept`).
async fn accept(State(state): State<AppState>, audit: Audit, s: Submitted<AcceptForm>) -> Result<Response, ApiError> {
    let token = s.form.token.trim().to_owned();
    match join(&state, &s.viewer.caller, audit, &token).await {
        Ok(()) => Ok(Redirect::to(super::keys::HOME).into_response()),
        Err(e) => {
            let problem = Some(Problem::new(&e, s.viewer.request_id.as_deref()));
            signed_in_page(&state, &s.viewer.caller, s.viewer.csrf.clone(), e.status(), token, problem).await
        }
    }
}

/// Accepts the invitation `token` with `caller`'s session, which then acts
/// in the organization joined.
async fn join(state: &AppState, caller: &Caller, audit: Audit, token: &str) -> Result<(), ApiError> {
    let body = JsonBody(AcceptInvitation { token: token.to_owned() });
    let joined = orgs::accept(State(state.clone()), caller.clone(), audit, body).await?.0.data;
    let _switched =
        orgs::switch(State(state.clone()), caller.clone(), JsonBody(SwitchOrg { org_id: joined.id })).await?;
    Ok(())
}
