//! Credentials › API keys: the landing page, a table of keys over
//! `GET /v1/api-keys`.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use latchkey_api_types::ApiKeyView;
use latchkey_store::Page;
use serde::Deserialize;

use super::page::{Chrome, render, short_time};
use super::session::Viewer;
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::api_keys::{self, ListQuery};
use crate::state::AppState;

/// The landing page.
pub const HOME: &str = "/dashboard/keys";

/// Keys listed per page.
const PAGE_SIZE: u32 = 50;

/// The API-key pages.
pub fn routes() -> Router<AppState> {
    Router::new().route(HOME, get(list))
}

/// The list's query string: whose keys, which project, which page.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    /// Every member's keys (admins, or everyone when the organization lets
    /// members see all keys).
    #[serde(default)]
    all: bool,
    /// Only this project's keys.
    project: Option<String>,
    /// The page after this cursor.
    cursor: Option<String>,
}

/// A key as a row of the table shows it.
struct Row {
    id: String,
    name: String,
    shown: String,
    environment: String,
    scopes: Vec<String>,
    project: Option<String>,
    created: String,
    created_by: String,
    last_used: Option<String>,
    expires: Option<String>,
    expires_soon: bool,
    status: String,
}

#[derive(Template)]
#[template(path = "dashboard/keys.html")]
struct KeysPage {
    chrome: Chrome,
    rows: Vec<Row>,
    all: bool,
    project: Option<String>,
    projects: Vec<(String, String)>,
    next: Option<String>,
}

/// `GET /dashboard/keys`
async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let chrome = Chrome::load(&state, &viewer, "API keys").await?;
    // An empty choice in the form means no filter.
    let project = p.project.filter(|id| !id.is_empty());
    let q = ListQuery {
        all_org: p.all,
        project_id: project.clone(),
        limit: Some(PAGE_SIZE),
        cursor: p.cursor,
        ..ListQuery::default()
    };
    let page = api_keys::list(State(state.clone()), viewer.caller.clone(), Query(q)).await?.0;
    let everyone = Page { limit: 100, before: None };
    let projects: Vec<(String, String)> = state
        .store
        .list_projects(&viewer.caller.org_id, &everyone)
        .await?
        .into_iter()
        .map(|p| (p.id.to_string(), p.name))
        .collect();
    let names: HashMap<String, String> = state
        .store
        .list_members(&viewer.caller.org_id, &everyone)
        .await?
        .into_iter()
        .map(|m| (m.user.id.to_string(), m.user.display_name))
        .collect();
    let soon = latchkey_core::time_fmt::to_rfc3339(latchkey_core::time_fmt::now_ms() + 7 * 86_400_000);
    let rows = page.data.into_iter().map(|k| row(k, &projects, &names, &soon)).collect();
    Ok(render(StatusCode::OK, &KeysPage { chrome, rows, all: p.all, project, projects, next: page.next_cursor }))
}

/// The row of `k`; `soon` is the time (RFC 3339) before which an expiry
/// earns a warning.
fn row(k: ApiKeyView, projects: &[(String, String)], names: &HashMap<String, String>, soon: &str) -> Row {
    let created_by = match &k.created_by {
        Some(r) if r.kind == "user" => {
            r.id.as_ref().and_then(|id| names.get(id)).cloned().unwrap_or_else(|| "a former member".to_owned())
        }
        Some(r) => format!("key {}", r.id.as_deref().unwrap_or("-")),
        None => "the operator".to_owned(),
    };
    Row {
        shown: format!("{}…{}", k.key_prefix, k.key_hint),
        project: k
            .project_id
            .as_ref()
            .map(|id| projects.iter().find(|(pid, _)| pid == id).map_or_else(|| id.clone(), |(_, n)| n.clone())),
        created: short_time(&k.created_at),
        last_used: k.last_used_at.as_deref().map(short_time),
        expires_soon: k.status == "active" && k.expires_at.as_deref().is_some_and(|e| e < soon),
        expires: k.expires_at.as_deref().map(short_time),
        created_by,
        id: k.id,
        name: k.name,
        environment: k.environment,
        scopes: k.scopes,
        status: k.status,
    }
}
