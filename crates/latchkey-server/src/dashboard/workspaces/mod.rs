//! Organization › Workspaces: the organization's workspaces and the
//! viewer's personal ones over `GET /v1/workspaces` (admins may add every
//! member's, `?allOrg=true`); creating one (`POST /v1/workspaces`) and
//! deleting one (`DELETE /v1/workspaces/{id}`) through the API's handlers,
//! so a member's refusal (organization workspaces are the admins') and a
//! workspace that still has files (409 `workspace_not_empty`) are the
//! API's answers. A workspace's page (`detail.rs`) lists its files when the
//! server has an object store.

mod detail;
mod form;

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_api_types::workspaces::{WorkspaceKind, WorkspaceView};
use latchkey_core::id::WorkspaceId;
use latchkey_store::Page;
use serde::Deserialize;

use self::form::{CreateForm, DEFAULT_UNIT, UNITS, size_label};
use super::page::{Chrome, FormAnswer, Place, Problem, Reasons, denial, notice, render, short_time};
use super::session::{Submitted, Viewer};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::routes::workspaces::{ORG_WORKSPACES, records};
use crate::state::AppState;

/// The list.
const PATH: &str = "/dashboard/workspaces";

/// Workspaces listed per page.
const PAGE_SIZE: u32 = 50;

/// What `?done=` may announce.
const NOTICES: [(&str, &str); 2] = [("created", "Workspace created."), ("deleted", "Workspace deleted.")];

/// The workspace pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list).post(create))
        .route("/dashboard/workspaces/{id}", get(detail::show))
        .route("/dashboard/workspaces/{id}/delete", post(delete))
}

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    #[serde(default)]
    all: bool,
    cursor: Option<String>,
    /// The change just made (its notice).
    done: Option<String>,
}

/// How a page names a kind.
fn kind_label(kind: WorkspaceKind) -> &'static str {
    match kind {
        WorkspaceKind::Org => "Organization",
        WorkspaceKind::Personal => "Personal",
    }
}

/// The names a row shows in place of ids: the organization's projects
/// (which the create form's menu lists too) and members.
struct Names {
    /// (project id, name), as the menu lists them.
    projects: Vec<(String, String)>,
    /// Member id → display name (when other members' workspaces are shown).
    members: HashMap<String, String>,
}

impl Names {
    /// The organization's projects, and its members when `members`.
    async fn load(state: &AppState, viewer: &Viewer, members: bool) -> Result<Self, ApiError> {
        let everyone = Page { limit: 100, before: None };
        let org = &viewer.caller.org_id;
        let projects =
            state.store.list_projects(org, &everyone).await?.into_iter().map(|p| (p.id.to_string(), p.name)).collect();
        let members = if members {
            state
                .store
                .list_members(org, &everyone)
                .await?
                .into_iter()
                .map(|m| (m.user.id.to_string(), m.user.display_name))
                .collect()
        } else {
            HashMap::new()
        };
        Ok(Self { projects, members })
    }

    /// The name of the project `id`, or the id.
    fn project(&self, id: &str) -> String {
        self.projects.iter().find(|(pid, _)| pid == id).map_or_else(|| id.to_owned(), |(_, n)| n.clone())
    }

    /// Who owns `w`, as the member `me` reads it: `Organization`, `You`, or
    /// the member's name (their id once they left).
    fn owner(&self, w: &WorkspaceView, me: Option<&str>) -> String {
        match (&w.kind, w.owner_user_id.as_deref()) {
            (WorkspaceKind::Org, _) | (_, None) => "Organization".to_owned(),
            (_, Some(id)) if Some(id) == me => "You".to_owned(),
            (_, Some(id)) => self.members.get(id).cloned().unwrap_or_else(|| id.to_owned()),
        }
    }
}

/// A workspace as a row of the table (and its page) shows it.
struct Row {
    id: String,
    name: String,
    kind: &'static str,
    owner: String,
    project: Option<String>,
    quota: Option<String>,
    created: String,
    /// The id of the reason the viewer may not delete it.
    delete_why: Option<String>,
    /// The delete confirmation is open (a deletion was refused).
    open_delete: bool,
}

impl Row {
    /// The row of `w` for the member `me`; `org_why` is why the viewer may
    /// not delete an organization workspace (if they may not).
    fn new(w: WorkspaceView, names: &Names, me: Option<&str>, org_why: Option<&String>) -> Self {
        Self {
            owner: names.owner(&w, me),
            kind: kind_label(w.kind),
            project: w.project_id.as_deref().map(|p| names.project(p)),
            quota: w.quota_bytes.map(|q| size_label(u64::try_from(q).unwrap_or(0))),
            created: short_time(&w.created_at),
            delete_why: if w.kind == WorkspaceKind::Org { org_why.cloned() } else { None },
            id: w.id,
            name: w.name,
            open_delete: false,
        }
    }
}

/// The create dialog's state.
struct CreateDialog {
    /// Open on load (the API refused the form).
    open: bool,
    /// What was typed, or the defaults.
    form: CreateForm,
    /// Why the viewer may not create organization workspaces.
    org_denied: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/workspaces.html")]
struct WorkspacesPage {
    chrome: Chrome,
    rows: Vec<Row>,
    place: Place,
    next: Option<String>,
    notice: Option<&'static str>,
    reasons: Reasons,
    /// The id of the reason the viewer may not list every member's.
    all_why: Option<String>,
    /// (project id, name) of the create form's menu.
    projects: Vec<(String, String)>,
    units: [(&'static str, i64); 3],
    create: CreateDialog,
    /// The API's refusal: in the open dialog, or above the table.
    problem: Option<Problem>,
    /// The refusal concerns no dialog the page shows.
    page_problem: bool,
}

/// What the page shows besides the list.
enum Outcome {
    /// The list alone (with a notice, maybe).
    Listed(Option<&'static str>),
    /// The create form, refused: what was typed.
    CreateRefused { form: CreateForm, error: ApiError },
    /// A row's delete form, refused.
    DeleteRefused { id: String, error: ApiError },
}

/// `GET /dashboard/workspaces`
async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let place = Place { all: p.all, cursor: p.cursor };
    show(&state, &viewer, place, Outcome::Listed(notice(p.done.as_deref(), &NOTICES))).await
}

/// The list and `outcome`, with the status of the API's answer. A refused
/// form about a workspace not on the page (another organization's,
/// another member's personal one) is the error page.
async fn show(state: &AppState, viewer: &Viewer, place: Place, outcome: Outcome) -> Result<Response, ApiError> {
    let chrome = Chrome::load(state, viewer, "Workspaces").await?;
    let place = place.cleaned();
    let q = records::ListQuery {
        all_org: place.all,
        limit: Some(PAGE_SIZE),
        cursor: place.cursor.clone(),
        ..Default::default()
    };
    let page = records::list(State(state.clone()), viewer.caller.clone(), Query(q)).await?.0;
    let names = Names::load(state, viewer, place.all).await?;
    let mut reasons = Reasons::default();
    let all_why = reasons.cite(&records::ALL_ORG, viewer);
    let org_why = reasons.cite(&ORG_WORKSPACES, viewer);
    let me = viewer.caller.user_id.as_deref();
    let mut rows: Vec<Row> = page.data.into_iter().map(|w| Row::new(w, &names, me, org_why.as_ref())).collect();
    let org_denied = denial(&ORG_WORKSPACES, viewer);
    let defaults = CreateForm {
        kind: if org_denied.is_some() { "personal" } else { "org" }.to_owned(),
        quota_unit: DEFAULT_UNIT.to_owned(),
        ..CreateForm::default()
    };
    let mut create = CreateDialog { open: false, form: defaults, org_denied };
    let mut answer = FormAnswer::default();
    let mut shown_notice = None;
    match outcome {
        Outcome::Listed(n) => shown_notice = n,
        Outcome::CreateRefused { form, error } => {
            create = CreateDialog { open: true, form, ..create };
            answer = FormAnswer::in_dialog(&error, viewer);
        }
        Outcome::DeleteRefused { id, error } => {
            // A deletion the page shows disabled has no dialog: the
            // refusal goes above the table.
            let open = |r: &mut Row| {
                r.open_delete = r.delete_why.is_none();
                r.open_delete
            };
            answer = FormAnswer::on_row(&mut rows, |r| r.id == id, open, error, viewer)?;
        }
    }
    Ok(render(
        answer.status,
        &WorkspacesPage {
            chrome,
            rows,
            place,
            next: page.next_cursor,
            notice: shown_notice,
            reasons,
            all_why,
            projects: names.projects,
            units: UNITS,
            create,
            problem: answer.problem,
            page_problem: answer.above_table,
        },
    ))
}

/// `POST /dashboard/workspaces`: `POST /v1/workspaces`.
async fn create(State(state): State<AppState>, audit: Audit, s: Submitted<CreateForm>) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    let place = Place { all: form.all, cursor: form.cursor.clone() };
    let created = match form.request() {
        Ok(req) => records::create(State(state.clone()), viewer.caller.clone(), audit, JsonBody(req)).await.map(drop),
        Err(e) => Err(e),
    };
    match created {
        Ok(()) => Ok(place.done(PATH, "created")),
        Err(error) => show(&state, &viewer, place, Outcome::CreateRefused { form, error }).await,
    }
}

/// `POST /dashboard/workspaces/{id}/delete`: `DELETE /v1/workspaces/{id}`.
async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<WorkspaceId>,
    s: Submitted<Place>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form: place } = s;
    match records::delete(State(state.clone()), viewer.caller.clone(), audit, Path(id.clone())).await {
        Ok(_) => Ok(place.done(PATH, "deleted")),
        Err(error) => show(&state, &viewer, place, Outcome::DeleteRefused { id: id.to_string(), error }).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(kind: WorkspaceKind, owner: Option<&str>, quota: Option<i64>) -> WorkspaceView {
        WorkspaceView {
            id: "wsp_1".into(),
            name: "scratch".into(),
            kind,
            owner_user_id: owner.map(str::to_owned),
            project_id: Some("prj_1".into()),
            storage_prefix: "orgs/org_1/workspaces/wsp_1/".into(),
            quota_bytes: quota,
            created_by_user_id: None,
            created_by_key_id: None,
            created_at: "2026-12-06T11:58:16Z".into(),
            updated_at: "2026-12-06T11:58:16Z".into(),
        }
    }

    #[test]
    fn a_row_names_its_owner_project_and_quota() {
        let names = Names {
            projects: vec![("prj_1".into(), "Checkout".into())],
            members: HashMap::from([("usr_b".to_owned(), "Bea".to_owned())]),
        };
        let why = "why-1".to_owned();
        let org = Row::new(workspace(WorkspaceKind::Org, None, Some(10 << 30)), &names, Some("usr_a"), Some(&why));
        assert_eq!((org.kind, org.owner.as_str()), ("Organization", "Organization"));
        assert_eq!((org.project.as_deref(), org.quota.as_deref()), (Some("Checkout"), Some("10 GiB")));
        assert_eq!(org.delete_why.as_deref(), Some("why-1"));
        let mine = Row::new(workspace(WorkspaceKind::Personal, Some("usr_a"), None), &names, Some("usr_a"), Some(&why));
        assert_eq!((mine.kind, mine.owner.as_str(), mine.quota), ("Personal", "You", None));
        assert_eq!(mine.delete_why, None, "one's own personal workspace is one's to delete");
        let theirs = Row::new(workspace(WorkspaceKind::Personal, Some("usr_b"), None), &names, Some("usr_a"), None);
        assert_eq!(theirs.owner, "Bea");
        let gone = Row::new(workspace(WorkspaceKind::Personal, Some("usr_c"), None), &names, Some("usr_a"), None);
        assert_eq!(gone.owner, "usr_c", "a member who left is named by id");
    }
}
