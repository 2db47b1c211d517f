//! You › Sign-in methods: the identities at identity providers linked to the
//! viewer's account (`GET /v1/me/identities`), linking another one (the
//! single sign-on flow, for the signed-in person) and unlinking
//! (`DELETE /v1/me/identities/{id}`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_api_types::{IdentityView, OidcProviderView};
use serde::Deserialize;

use super::login::Empty;
use super::page::{Chrome, Problem, done, notice, render, short_time};
use super::session::{Submitted, Viewer};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::{identities, sso};
use crate::state::AppState;

/// The page.
const ACCOUNT: &str = "/dashboard/account";

/// The page and its forms.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(ACCOUNT, get(show))
        .route("/dashboard/account/link", post(link))
        .route("/dashboard/account/identities/{id}/remove", post(unlink))
}

#[derive(Template)]
#[template(path = "dashboard/account.html")]
struct AccountPage {
    chrome: Chrome,
    identities: Vec<IdentityView>,
    providers: Vec<OidcProviderView>,
    notice: Option<&'static str>,
    problem: Option<Problem>,
}

/// The page's query string.
#[derive(Debug, Default, Deserialize)]
struct AccountParams {
    done: Option<String>,
}

/// The notices after a change (`?done=…`).
const DONE: [(&str, &str); 2] = [("linked", "Identity linked."), ("unlinked", "Identity unlinked.")];

async fn page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    notice: Option<&'static str>,
    problem: Option<Problem>,
) -> Result<Response, ApiError> {
    let chrome = Chrome::load(state, viewer, "Sign-in methods").await?;
    let identities = identities::list(State(state.clone()), viewer.caller.clone()).await?.0.data;
    let providers = sso::provider_views(state);
    Ok(render(status, &AccountPage { chrome, identities, providers, notice, problem }))
}

/// `GET /dashboard/account`
async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<AccountParams>,
) -> Result<Response, ApiError> {
    page(&state, &viewer, StatusCode::OK, notice(p.done.as_deref(), &DONE), None).await
}

/// The link form's field.
#[derive(Debug, Deserialize)]
struct Link {
    provider: String,
}

/// `POST /dashboard/account/link`: the single sign-on flow with the
/// provider, linking what it returns to the viewer's account.
async fn link(State(state): State<AppState>, parts: Parts, s: Submitted<Link>) -> Result<Response, ApiError> {
    let user_id = s.viewer.caller.acting_user()?.clone();
    let back = format!("{ACCOUNT}?done=linked");
    match sso::begin(&state, &parts, &s.form.provider, &back, None, Some(&user_id)).await {
        Ok(res) => Ok(res),
        Err(e) => {
            let problem = Some(Problem::new(&e, s.viewer.request_id.as_deref()));
            page(&state, &s.viewer, e.status(), None, problem).await
        }
    }
}

/// `POST /dashboard/account/identities/{id}/remove`: `DELETE /v1/me/identities/{id}`.
async fn unlink(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    s: Submitted<Empty>,
) -> Result<Response, ApiError> {
    match identities::unlink(State(state.clone()), s.viewer.caller.clone(), audit, Path(id)).await {
        Ok(_) => Ok(done(ACCOUNT, "unlinked")),
        Err(e) => {
            let problem = Some(Problem::new(&e, s.viewer.request_id.as_deref()));
            page(&state, &s.viewer, e.status(), None, problem).await
        }
    }
}

/// `2026-12-06T11:58:00Z` as the page shows it, for the template.
fn when(t: &str) -> String {
    short_time(t)
}
