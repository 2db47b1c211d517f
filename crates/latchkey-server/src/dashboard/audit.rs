//! Organization › Audit log: the organization's trail, newest first
//! (`GET /v1/audit-events`, admins), filtered by action (kept in the URL)
//! and paged by cursor. Actors and targets are shown by name: a person's
//! name and email, a key's name and prefix.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use latchkey_api_types::{AuditEventView, RefView};
use latchkey_core::id::{KeyId, OrgId, UserId};
use serde::Deserialize;
use serde_json::Value;

use super::page::{Chrome, Problem, render, short_time};
use super::session::Viewer;
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::orgs::{self, AuditQuery};
use crate::state::AppState;

/// The Audit log page.
const AUDIT: &str = "/dashboard/audit";

/// Events listed per page.
const PAGE_SIZE: u32 = 50;

/// The Audit log page.
pub fn routes() -> Router<AppState> {
    Router::new().route(AUDIT, get(show))
}

/// The page's query string.
#[derive(Debug, Default, Deserialize)]
struct AuditParams {
    /// Only this action; empty: every action.
    action: Option<String>,
    /// The page after this cursor.
    cursor: Option<String>,
}

/// An event as a row shows it.
struct EventRow {
    at: String,
    actor: String,
    action: String,
    /// This page filtered by the row's action.
    action_href: String,
    target: String,
    ip: String,
    details: String,
}

#[derive(Template)]
#[template(path = "dashboard/audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<EventRow>,
    /// The action filtered by (empty: none).
    action: String,
    /// The actions of this page, offered as filters.
    actions: Vec<String>,
    /// The older events' page.
    next: Option<String>,
    /// This is not the newest page.
    paged: bool,
    /// The API's refusal (a member: admins only).
    problem: Option<Problem>,
}

/// `GET /dashboard/audit`
async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<AuditParams>,
) -> Result<Response, ApiError> {
    let chrome = Chrome::load(&state, &viewer, "Audit log").await?;
    let action = p.action.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let cursor = p.cursor.filter(|c| !c.is_empty());
    let q = AuditQuery {
        action: (!action.is_empty()).then(|| action.clone()),
        actor_id: None,
        target_id: None,
        since: None,
        until: None,
        limit: Some(PAGE_SIZE),
        cursor: cursor.clone(),
    };
    let mut t = AuditPage {
        chrome,
        rows: Vec::new(),
        actions: Vec::new(),
        next: None,
        paged: cursor.is_some(),
        problem: None,
        action,
    };
    let page = match orgs::audit_events(State(state.clone()), viewer.caller.clone(), Query(q)).await {
        Ok(page) => page.0,
        // A member (admins only), a cursor that is not one: the page says so.
        Err(e) => {
            t.problem = Some(Problem::new(&e, viewer.request_id.as_deref()));
            return Ok(render(e.status(), &t));
        }
    };
    let names = Names::of(&state, (&viewer.caller.org_id, &t.chrome.org_name), &page.data).await?;
    t.next = page.next_cursor.map(|c| filtered(&t.action, Some(&c)));
    t.rows = page.data.into_iter().map(|e| names.row(e)).collect();
    t.actions = t.rows.iter().map(|r| r.action.clone()).collect();
    t.actions.sort();
    t.actions.dedup();
    Ok(render(StatusCode::OK, &t))
}

/// The page's address filtered by `action` (none if empty), from `cursor`.
fn filtered(action: &str, cursor: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if !action.is_empty() {
        pairs.push(("action", action));
    }
    if let Some(c) = cursor {
        pairs.push(("cursor", c));
    }
    match serde_html_form::to_string(&pairs) {
        Ok(q) if !q.is_empty() => format!("{AUDIT}?{q}"),
        _ => AUDIT.to_owned(),
    }
}

/// What the people and keys a page of events names are called.
#[derive(Default)]
struct Names {
    /// User id → "Name (email)".
    users: HashMap<String, String>,
    /// Key id → "name (prefix…)".
    keys: HashMap<String, String>,
    /// The organization's id and name.
    org: (String, String),
}

impl Names {
    /// The names of the actors and targets of `events` (one lookup per
    /// person or key named).
    async fn of(state: &AppState, org: (&OrgId, &str), events: &[AuditEventView]) -> Result<Self, ApiError> {
        let (org_id, org_name) = org;
        let mut names = Self { org: (org_id.to_string(), org_name.to_owned()), ..Self::default() };
        let named: Vec<(&str, &str)> = events
            .iter()
            .flat_map(|e| std::iter::once(&e.actor).chain(e.target.as_ref()))
            .filter_map(|r| Some((r.kind.as_str(), r.id.as_deref()?)))
            .collect();
        for (kind, id) in named {
            match kind {
                "user" | "member" if !names.users.contains_key(id) => {
                    let shown = match state.store.get_user(&UserId::from(id)).await? {
                        Some(u) => format!("{} ({})", u.display_name, u.email),
                        None => id.to_owned(),
                    };
                    names.users.insert(id.to_owned(), shown);
                }
                "key" | "api_key" if !names.keys.contains_key(id) => {
                    let shown = match state.store.get_key(org_id, &KeyId::from(id)).await? {
                        Some(k) => format!("{} ({}…)", k.name, k.key_prefix),
                        None => format!("{id} (deleted)"),
                    };
                    names.keys.insert(id.to_owned(), shown);
                }
                _ => {}
            }
        }
        Ok(names)
    }

    /// `r` as a cell shows it.
    fn shown(&self, r: &RefView) -> String {
        let id = r.id.as_deref().unwrap_or_default();
        let known = match r.kind.as_str() {
            "user" | "member" => self.users.get(id),
            "key" | "api_key" => self.keys.get(id),
            "org" => (self.org.0 == id).then_some(&self.org.1),
            _ => None,
        };
        match (r.kind.as_str(), known) {
            ("user", Some(name)) => name.clone(),
            ("key" | "api_key", Some(name)) => format!("key {name}"),
            (kind, Some(name)) => format!("{kind} {name}"),
            (kind, None) if id.is_empty() => kind.to_owned(),
            (kind, None) => format!("{kind} {id}"),
        }
    }

    fn row(&self, e: AuditEventView) -> EventRow {
        EventRow {
            at: short_time(&e.at),
            actor: self.shown(&e.actor),
            action_href: filtered(&e.action, None),
            target: e.target.as_ref().map(|t| self.shown(t)).unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            details: details(&e.details),
            action: e.action,
        }
    }
}

/// An event's (non-secret) details on one line: `key: value, …`.
fn details(v: &Value) -> String {
    let Value::Object(map) = v else { return String::new() };
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(" ")
        }
        other => other.to_string(),
    };
    map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| format!("{k}: {}", scalar(v))).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn details_read_as_one_line_without_empty_fields() {
        let d = json!({"name": "ci", "scopes": ["a:read", "b:write"], "role": null, "left": false});
        assert_eq!(details(&d), "left: false, name: ci, scopes: a:read b:write");
        assert_eq!(details(&json!({})), "");
        assert_eq!(details(&json!("odd")), "");
    }

    #[test]
    fn filter_links_encode_the_action_and_keep_the_cursor() {
        assert_eq!(filtered("", None), "/dashboard/audit");
        assert_eq!(filtered("member.update", None), "/dashboard/audit?action=member.update");
        assert_eq!(filtered("a&b c", Some("evt_1")), "/dashboard/audit?action=a%26b+c&cursor=evt_1");
    }

    #[test]
    fn actors_and_targets_read_by_name_or_by_kind_and_id() {
        let mut names = Names::default();
        names.users.insert("usr_1".into(), "Ada (ada@example.com)".into());
        names.keys.insert("key_1".into(), "ci (lk_live_AbCd…)".into());
        let r = |kind: &str, id: Option<&str>| RefView { kind: kind.into(), id: id.map(str::to_owned) };
        assert_eq!(names.shown(&r("user", Some("usr_1"))), "Ada (ada@example.com)");
        assert_eq!(names.shown(&r("member", Some("usr_1"))), "member Ada (ada@example.com)");
        assert_eq!(names.shown(&r("key", Some("key_1"))), "key ci (lk_live_AbCd…)");
        assert_eq!(names.shown(&r("api_key", Some("key_1"))), "key ci (lk_live_AbCd…)");
        assert_eq!(names.shown(&r("project", Some("prj_1"))), "project prj_1");
        assert_eq!(names.shown(&r("operator", None)), "operator");
        names.org = ("org_1".into(), "Acme".into());
        assert_eq!(names.shown(&r("org", Some("org_1"))), "org Acme");
        assert_eq!(names.shown(&r("org", Some("org_2"))), "org org_2");
    }
}
