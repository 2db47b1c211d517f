//! Organization › Settings: the organization's name and whether members see
//! every key (`GET` and `PATCH /v1/orgs/{id}`). Admins change them; members
//! see the form disabled with the API's reason.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use latchkey_api_types::{OrgView, UpdateOrg};
use serde::Deserialize;

use super::page::{Chrome, Problem, Reasons, done, notice, render};
use super::session::{Submitted, Viewer};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::routes::orgs;
use crate::state::AppState;

/// The Settings page.
const SETTINGS: &str = "/dashboard/settings";

/// The Settings page and its form.
pub fn routes() -> Router<AppState> {
    Router::new().route(SETTINGS, get(show).post(save))
}

/// The form's fields. An unchecked checkbox sends nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    members_see_all_keys: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    org: OrgView,
    /// The name in the form: the organization's, or what was typed.
    name: String,
    members_see_all_keys: bool,
    /// Why the viewer's controls are disabled.
    reasons: Reasons,
    /// The id of the reason the viewer may not change them (`None`: they may).
    update_why: Option<String>,
    notice: Option<&'static str>,
    problem: Option<Problem>,
}

/// The page's query string.
#[derive(Debug, Default, Deserialize)]
struct SettingsParams {
    /// What was just done (a notice).
    done: Option<String>,
}

/// The notice after a change (`?done=…`).
const DONE: [(&str, &str); 1] = [("saved", "Settings saved.")];

/// The page, its form holding `typed` (or the organization's values).
async fn page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    typed: Option<SettingsForm>,
    notice: Option<&'static str>,
    problem: Option<Problem>,
) -> Result<Response, ApiError> {
    let chrome = Chrome::load(state, viewer, "Settings").await?;
    let id = viewer.caller.org_id.clone();
    let org = orgs::get(State(state.clone()), viewer.caller.clone(), Path(id)).await?.0.data;
    let (name, members_see_all_keys) = match typed {
        Some(f) => (f.name, f.members_see_all_keys.is_some()),
        None => (org.name.clone(), org.members_see_all_keys.unwrap_or(false)),
    };
    let mut reasons = Reasons::default();
    let update_why = reasons.cite(&orgs::UPDATE, viewer);
    let t = SettingsPage { chrome, org, name, members_see_all_keys, reasons, update_why, notice, problem };
    Ok(render(status, &t))
}

/// `GET /dashboard/settings`
async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<SettingsParams>,
) -> Result<Response, ApiError> {
    page(&state, &viewer, StatusCode::OK, None, notice(p.done.as_deref(), &DONE), None).await
}

/// `POST /dashboard/settings`: `PATCH /v1/orgs/{id}` of the organization
/// the viewer acts in.
async fn save(State(state): State<AppState>, audit: Audit, s: Submitted<SettingsForm>) -> Result<Response, ApiError> {
    let body = UpdateOrg {
        name: Some(s.form.name.clone()),
        slug: None,
        members_see_all_keys: Some(s.form.members_see_all_keys.is_some()),
        leak_action: None,
    };
    let id = s.viewer.caller.org_id.clone();
    match orgs::update(State(state.clone()), s.viewer.caller.clone(), audit, Path(id), JsonBody(body)).await {
        Ok(_) => Ok(done(SETTINGS, "saved")),
        Err(e) => {
            let problem = Some(Problem::new(&e, s.viewer.request_id.as_deref()));
            page(&state, &s.viewer, e.status(), Some(s.form), None, problem).await
        }
    }
}
