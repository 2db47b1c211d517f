//! `GET /dashboard/keys`: the keys table over `GET /v1/api-keys`, with its
//! search, filters and cursor paging kept in the URL.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_api_types::{KeyEnvironment, KeyStatus};
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use serde::Deserialize;

use super::create::CreateDialog;
use super::{HOME, NOTICES, Row, Shown, frame, row};
use crate::dashboard::page::{Chrome, Reasons, notice, render};
use crate::dashboard::session::{PageQuery, Viewer};
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::api_keys::{self, ListQuery};
use crate::state::AppState;

/// Keys listed per page.
const PAGE_SIZE: u32 = 50;

/// The list's query string: the filters, the page, and what was just done.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListParams {
    /// A name, the start of a shown key (`lk_live_AbCd…`), or a key id.
    pub search: Option<String>,
    /// Only keys in this status.
    pub status: Option<KeyStatus>,
    /// Only keys of this environment.
    pub environment: Option<KeyEnvironment>,
    /// Only this project's keys.
    pub project: Option<String>,
    /// Every member's keys (admins, or everyone when the organization lets
    /// members see all keys).
    #[serde(default)]
    pub all: bool,
    /// The page after this cursor.
    pub cursor: Option<String>,
    /// What the previous request did (`revoked`), for a notice.
    pub done: Option<String>,
}

impl ListParams {
    /// The list's URL with these filters, at the page after `cursor`.
    fn href(&self, cursor: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = self.search.as_deref() {
            pairs.push(("search", s));
        }
        if let Some(s) = self.status {
            pairs.push(("status", s.as_str()));
        }
        if let Some(e) = self.environment {
            pairs.push(("environment", e.as_str()));
        }
        if let Some(p) = self.project.as_deref() {
            pairs.push(("project", p));
        }
        if self.all {
            pairs.push(("all", "true"));
        }
        if let Some(c) = cursor {
            pairs.push(("cursor", c));
        }
        match serde_html_form::to_string(&pairs) {
            Ok(q) if !q.is_empty() => format!("{HOME}?{q}"),
            _ => HOME.to_owned(),
        }
    }

    /// Whether any filter is set.
    fn filtered(&self) -> bool {
        self.search.is_some() || self.status.is_some() || self.environment.is_some() || self.project.is_some()
    }
}

/// What a page built by an action shows besides the list.
#[derive(Debug)]
pub(super) struct Extras {
    /// The create dialog, open (with what was typed and why it failed) or not.
    pub create: CreateDialog,
    /// A key shown once.
    pub shown: Option<Shown>,
    /// The answer's status.
    pub status: StatusCode,
}

#[derive(Template)]
#[template(path = "dashboard/keys.html")]
struct KeysPage {
    chrome: Chrome,
    p: ListParams,
    filtered: bool,
    rows: Vec<Row>,
    projects: Vec<(String, String)>,
    statuses: [KeyStatus; 4],
    environments: [KeyEnvironment; 2],
    /// The reasons the disabled controls cite.
    reasons: Reasons,
    /// Why the viewer may not create keys (a paragraph's id).
    create_why: Option<String>,
    /// Why the viewer may not list every member's keys (a paragraph's id).
    all_why: Option<String>,
    next: Option<String>,
    first: Option<String>,
    notice: Option<&'static str>,
    create: CreateDialog,
    shown: Option<Shown>,
    /// Where the row actions come back to.
    from: &'static str,
}

/// `GET /dashboard/keys`. A query with empty or untrimmed fields (the
/// filter form sends every field) is redirected to its shortest form, so
/// the URL says only what is in force.
pub(super) async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    PageQuery(mut p): PageQuery<ListParams>,
) -> Result<Response, ApiError> {
    p.search = p.search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let canonical = p.href(p.cursor.as_deref());
    if p.done.is_none() && uri.path_and_query().is_some_and(|asked| asked.as_str() != canonical) {
        return Ok(Redirect::to(&canonical).into_response());
    }
    let create = CreateDialog::closed(&state, &viewer).await?;
    page(&state, &viewer, p, Extras { create, shown: None, status: StatusCode::OK }).await
}

/// The list page for the filters `p`, with `extras`.
pub(super) async fn page(
    state: &AppState,
    viewer: &Viewer,
    p: ListParams,
    extras: Extras,
) -> Result<Response, ApiError> {
    let q = ListQuery {
        all_org: p.all,
        project_id: p.project.clone(),
        status: p.status,
        environment: p.environment,
        search: p.search.clone(),
        limit: Some(PAGE_SIZE),
        cursor: p.cursor.clone(),
        compliant: None,
        external_id: None,
    };
    let listed = api_keys::list(State(state.clone()), viewer.caller.clone(), Query(q)).await?.0;
    let (chrome, names) = frame(state, viewer, &listed.data).await?;
    let mut reasons = Reasons::default();
    let create_why = reasons.cite(&api_keys::CREATE, viewer);
    let all_why =
        api_keys::check_all_org(state, &viewer.caller).await.err().map(|e| reasons.id_of(e.message().to_owned()));
    let now = to_rfc3339(now_ms());
    let rows = listed.data.into_iter().map(|k| row(k, &names, viewer, &now, &mut reasons)).collect();
    let page = KeysPage {
        chrome,
        filtered: p.filtered(),
        rows,
        statuses: KeyStatus::ALL,
        environments: KeyEnvironment::ALL,
        reasons,
        create_why,
        all_why,
        next: listed.next_cursor.as_deref().map(|c| p.href(Some(c))),
        first: p.cursor.is_some().then(|| p.href(None)),
        notice: notice(p.done.as_deref(), &NOTICES),
        projects: names.projects,
        create: extras.create,
        shown: extras.shown,
        from: "list",
        p,
    };
    Ok(render(extras.status, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_every_filter_and_encode_the_search() {
        let p = ListParams {
            search: Some("a b&c…".into()),
            status: Some(KeyStatus::Revoked),
            environment: Some(KeyEnvironment::Test),
            project: Some("prj_1".into()),
            all: true,
            cursor: Some("key_old".into()),
            done: Some("revoked".into()),
        };
        assert_eq!(
            p.href(Some("key_2")),
            "/dashboard/keys?search=a+b%26c%E2%80%A6&status=revoked&environment=test&project=prj_1&all=true&cursor=key_2"
        );
        assert_eq!(
            p.href(None),
            "/dashboard/keys?search=a+b%26c%E2%80%A6&status=revoked&environment=test&project=prj_1&all=true"
        );
        assert_eq!(ListParams::default().href(None), "/dashboard/keys");
        assert!(p.filtered() && !ListParams { all: true, ..ListParams::default() }.filtered());
    }
}
