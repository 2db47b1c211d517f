//! Organization › Projects: the list over `GET /v1/projects`; creating,
//! editing and deleting a project through the API's own handlers, so a
//! member's refusal and a project still in use (409, with the number of
//! keys that hold it) are the API's answers.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_api_types::{CreateProject, ProjectView, UpdateProject};
use latchkey_core::id::ProjectId;
use serde::Deserialize;

use super::page::{Chrome, Problem, Reasons, done, notice, render, short_time};
use super::session::{Submitted, Viewer};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query};
use crate::routes::projects;
use crate::state::AppState;

/// The list.
const PATH: &str = "/dashboard/projects";

/// Projects listed per page.
const PAGE_SIZE: u32 = 50;

/// What `?done=` may announce.
const NOTICES: [(&str, &str); 3] =
    [("created", "Project created."), ("updated", "Project saved."), ("deleted", "Project deleted.")];

/// The project pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list).post(create))
        .route("/dashboard/projects/{id}", post(update))
        .route("/dashboard/projects/{id}/delete", post(delete))
}

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    /// The page after this cursor.
    cursor: Option<String>,
    /// The change just made (its notice).
    done: Option<String>,
}

/// A project as a row of the table shows it, with its dialogs.
struct Row {
    id: String,
    name: String,
    description: Option<String>,
    created: String,
    updated: String,
    /// What the edit dialog holds: the project's values, or what was typed
    /// in an edit the API refused.
    edit_name: String,
    edit_description: String,
    /// The edit dialog is open (an edit was refused).
    open_edit: bool,
    /// The delete dialog is open (a deletion was refused).
    open_delete: bool,
}

impl From<ProjectView> for Row {
    fn from(p: ProjectView) -> Self {
        Self {
            edit_name: p.name.clone(),
            edit_description: p.description.clone().unwrap_or_default(),
            created: short_time(&p.created_at),
            updated: short_time(&p.updated_at),
            id: p.id,
            name: p.name,
            description: p.description.filter(|d| !d.is_empty()),
            open_edit: false,
            open_delete: false,
        }
    }
}

/// The create dialog's state.
#[derive(Debug, Default)]
struct CreateDialog {
    /// Open on load (a creation was refused).
    open: bool,
    name: String,
    description: String,
}

#[derive(Template)]
#[template(path = "dashboard/projects.html")]
struct ProjectsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    /// The page shown (forms send it back, so a refusal shows the same page).
    cursor: Option<String>,
    next: Option<String>,
    /// The keys links show every member's keys (admins: the API lets them).
    every_key: bool,
    notice: Option<&'static str>,
    reasons: Reasons,
    /// The ids of the reasons creating, editing and deleting are refused.
    create_why: Option<String>,
    edit_why: Option<String>,
    delete_why: Option<String>,
    create: CreateDialog,
    /// The API's refusal, shown in the open dialog.
    problem: Option<Problem>,
    /// The refusal is shown above the table instead: the viewer's page has
    /// no dialog for that form.
    page_problem: bool,
}

/// A form the API refused, shown again in its dialog.
enum Refused {
    Create { name: String, description: String },
    Edit { id: String, name: String, description: String },
    Delete { id: String },
}

/// `GET /dashboard/projects`
async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let shown = notice(p.done.as_deref(), &NOTICES);
    show(&state, &viewer, p.cursor, shown, None).await
}

/// The list, with the dialog of a refused form open (its status the
/// API's). A refused form about a project not on the page (another
/// organization's, say) is the error page.
async fn show(
    state: &AppState,
    viewer: &Viewer,
    cursor: Option<String>,
    notice: Option<&'static str>,
    refused: Option<(Refused, ApiError)>,
) -> Result<Response, ApiError> {
    let chrome = Chrome::load(state, viewer, "Projects").await?;
    let cursor = cursor.filter(|c| !c.is_empty());
    let q = PageQuery { limit: Some(PAGE_SIZE), cursor: cursor.clone() };
    let page = projects::list(State(state.clone()), viewer.caller.clone(), Query(q)).await?.0;
    let mut rows: Vec<Row> = page.data.into_iter().map(Row::from).collect();
    let mut reasons = Reasons::default();
    let create_why = reasons.cite(&projects::CREATE, viewer);
    let edit_why = reasons.cite(&projects::UPDATE, viewer);
    let delete_why = reasons.cite(&projects::DELETE, viewer);
    let mut create = CreateDialog::default();
    let mut status = axum::http::StatusCode::OK;
    let mut problem = None;
    // A form sent although the page shows its control disabled (so no
    // dialog to show the refusal in): above the table.
    let mut page_problem = false;
    if let Some((form, e)) = refused {
        match form {
            Refused::Create { name, description } => {
                create = CreateDialog { open: true, name, description };
                page_problem = create_why.is_some();
            }
            Refused::Edit { id, name, description } => match rows.iter_mut().find(|r| r.id == id) {
                Some(r) => {
                    r.open_edit = true;
                    r.edit_name = name;
                    r.edit_description = description;
                    page_problem = edit_why.is_some();
                }
                None => return Err(e),
            },
            Refused::Delete { id } => match rows.iter_mut().find(|r| r.id == id) {
                Some(r) => {
                    r.open_delete = true;
                    page_problem = delete_why.is_some();
                }
                None => return Err(e),
            },
        }
        status = e.status();
        problem = Some(Problem::new(&e, viewer.request_id.as_deref()));
    }
    Ok(render(
        status,
        &ProjectsPage {
            chrome,
            rows,
            cursor,
            next: page.next_cursor,
            every_key: viewer.caller.is_admin(),
            notice,
            reasons,
            create_why,
            edit_why,
            delete_why,
            create,
            problem,
            page_problem,
        },
    ))
}

/// The create and edit dialogs' fields.
#[derive(Debug, Deserialize)]
struct ProjectForm {
    name: String,
    #[serde(default)]
    description: String,
    /// The page the form was on.
    cursor: Option<String>,
}

/// A row's delete form: the page it was on.
#[derive(Debug, Deserialize)]
struct RowForm {
    cursor: Option<String>,
}

/// An empty description is none.
fn described(d: &str) -> Option<String> {
    let d = d.trim();
    (!d.is_empty()).then(|| d.to_owned())
}

/// `POST /dashboard/projects`: `POST /v1/projects`.
async fn create(State(state): State<AppState>, audit: Audit, s: Submitted<ProjectForm>) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    let req = CreateProject { name: form.name.clone(), description: described(&form.description) };
    match projects::create(State(state.clone()), viewer.caller.clone(), audit, JsonBody(req)).await {
        Ok(_) => Ok(done(PATH, "created")),
        Err(e) => {
            let refused = Refused::Create { name: form.name, description: form.description };
            show(&state, &viewer, form.cursor, None, Some((refused, e))).await
        }
    }
}

/// `POST /dashboard/projects/{id}`: `PATCH /v1/projects/{id}` (name and
/// description; an empty description clears it).
async fn update(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<ProjectId>,
    s: Submitted<ProjectForm>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    let req = UpdateProject { name: Some(form.name.clone()), description: Some(described(&form.description)) };
    match projects::update(State(state.clone()), viewer.caller.clone(), audit, Path(id.clone()), JsonBody(req)).await {
        Ok(_) => Ok(done(PATH, "updated")),
        Err(e) => {
            let refused = Refused::Edit { id: id.to_string(), name: form.name, description: form.description };
            show(&state, &viewer, form.cursor, None, Some((refused, e))).await
        }
    }
}

/// `POST /dashboard/projects/{id}/delete`: `DELETE /v1/projects/{id}`,
/// refused while active keys belong to the project.
async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<ProjectId>,
    s: Submitted<RowForm>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    match projects::delete(State(state.clone()), viewer.caller.clone(), audit, Path(id.clone())).await {
        Ok(_) => Ok(done(PATH, "deleted")),
        Err(e) => show(&state, &viewer, form.cursor, None, Some((Refused::Delete { id: id.to_string() }, e))).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_description_is_none_and_others_are_trimmed() {
        assert_eq!(described("  "), None);
        assert_eq!(described(" Payments "), Some("Payments".to_owned()));
    }
}
