//! Credentials › Secrets: names and metadata over `GET /v1/secrets` (the
//! viewer's personal secrets and the organization's), never a value; adding
//! or replacing one (`PUT /v1/secrets/{name}`), revealing one after a
//! confirmation (`POST /v1/secrets/{name}/reveal`, audited), and deleting
//! one. Organization-wide secrets are set and deleted by admins only: a
//! member sees those controls disabled with the API's reason.
//!
//! A value appears in exactly one page: the answer to the reveal form,
//! which the dashboard never stores (`Cache-Control: no-store`, as every
//! dashboard page). A refused form is shown again without the value typed.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_api_types::secrets::{OwnerScope, PutSecret, RevealedSecret, SecretView};
use serde::Deserialize;
use zeroize::Zeroize as _;

use super::page::{Chrome, Problem, Reasons, denial, done, notice, render, short_time};
use super::session::{Submitted, Viewer};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::routes::secrets::{self, ListQuery, ScopeQuery};
use crate::state::AppState;

/// The list.
const PATH: &str = "/dashboard/secrets";

/// Secrets listed per page.
const PAGE_SIZE: u32 = 50;

/// The category the add form suggests (the CLI's default).
const DEFAULT_CATEGORY: &str = "general";

/// What `?done=` may announce.
const NOTICES: [(&str, &str); 3] = [
    ("created", "Secret added."),
    ("replaced", "Secret replaced: its version went up by one."),
    ("deleted", "Secret deleted."),
];

/// The secret pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list).post(put))
        .route("/dashboard/secrets/{name}/reveal", post(reveal))
        .route("/dashboard/secrets/{name}/delete", post(delete))
}

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    /// The page after this cursor.
    cursor: Option<String>,
    /// The change just made (its notice).
    done: Option<String>,
}

/// How a page names a scope.
fn scope_label(scope: OwnerScope) -> &'static str {
    match scope {
        OwnerScope::User => "Personal",
        OwnerScope::Org => "Organization",
    }
}

/// How a form sends a scope.
fn scope_value(scope: OwnerScope) -> &'static str {
    match scope {
        OwnerScope::User => "user",
        OwnerScope::Org => "org",
    }
}

/// A secret as a row of the table shows it (never its value).
struct Row {
    id: String,
    name: String,
    category: String,
    scope: OwnerScope,
    version: i64,
    updated: String,
    /// The id of the reason the viewer may not delete it.
    delete_why: Option<String>,
    /// The reveal confirmation is open (a reveal was refused).
    open_reveal: bool,
    /// The delete confirmation is open (a deletion was refused).
    open_delete: bool,
}

impl Row {
    fn scope_label(&self) -> &'static str {
        scope_label(self.scope)
    }

    fn scope_value(&self) -> &'static str {
        scope_value(self.scope)
    }
}

/// The add dialog's state: never the value.
struct AddDialog {
    /// Open on load (the API refused the form).
    open: bool,
    name: String,
    category: String,
    org_wide: bool,
    /// Why the viewer may not choose organization-wide (if they may not).
    org_wide_denied: Option<String>,
}

/// A revealed value, shown once in a dialog opened on load; wiped when
/// the page is rendered.
struct Revealed {
    name: String,
    scope: &'static str,
    version: i64,
    value: String,
}

impl Drop for Revealed {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

#[derive(Template)]
#[template(path = "dashboard/secrets.html")]
struct SecretsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    /// The page shown (forms send it back, so a refusal shows the same page).
    cursor: Option<String>,
    next: Option<String>,
    notice: Option<&'static str>,
    reasons: Reasons,
    add: AddDialog,
    /// The API's refusal, shown in the open dialog.
    problem: Option<Problem>,
    /// The refusal is shown above the table instead: the viewer's page has
    /// no dialog for that form.
    page_problem: bool,
    revealed: Option<Revealed>,
}

/// What the page shows besides the list: a refused form, or a value.
enum Outcome {
    /// The list alone (with a notice, maybe).
    Listed(Option<&'static str>),
    /// The add form, refused: what was typed (not the value).
    AddRefused { name: String, category: String, org_wide: bool, error: ApiError },
    /// A row's reveal or delete form, refused.
    RowRefused { name: String, scope: OwnerScope, reveal: bool, error: ApiError },
    /// A value revealed.
    Revealed(Revealed),
}

/// `GET /dashboard/secrets`
async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    show(&state, &viewer, p.cursor, Outcome::Listed(notice(p.done.as_deref(), &NOTICES))).await
}

/// The list and `outcome`, with the status of the API's answer. A refused
/// form about a secret not on the page (another member's private one,
/// another organization's) is the error page.
async fn show(
    state: &AppState,
    viewer: &Viewer,
    cursor: Option<String>,
    outcome: Outcome,
) -> Result<Response, ApiError> {
    let chrome = Chrome::load(state, viewer, "Secrets").await?;
    let cursor = cursor.filter(|c| !c.is_empty());
    let q = ListQuery { org_only: false, limit: Some(PAGE_SIZE), cursor: cursor.clone() };
    let page = secrets::list(State(state.clone()), viewer.caller.clone(), Query(q)).await?.0;
    let mut reasons = Reasons::default();
    let org_wide_why = reasons.cite(&secrets::ORG_WIDE, viewer);
    let mut rows: Vec<Row> = page.data.into_iter().map(|s| row(s, org_wide_why.as_ref())).collect();
    let org_wide_denied = denial(&secrets::ORG_WIDE, viewer);
    let mut add = AddDialog {
        open: false,
        name: String::new(),
        category: DEFAULT_CATEGORY.to_owned(),
        org_wide: false,
        org_wide_denied: org_wide_denied.clone(),
    };
    let mut status = StatusCode::OK;
    let mut problem = None;
    let mut page_problem = false;
    let mut shown_notice = None;
    let mut revealed = None;
    match outcome {
        Outcome::Listed(n) => shown_notice = n,
        Outcome::Revealed(r) => revealed = Some(r),
        Outcome::AddRefused { name, category, org_wide, error } => {
            add = AddDialog { open: true, name, category, org_wide, org_wide_denied };
            status = error.status();
            problem = Some(Problem::new(&error, viewer.request_id.as_deref()));
        }
        Outcome::RowRefused { name, scope, reveal, error } => {
            let Some(r) = rows.iter_mut().find(|r| r.name == name && r.scope == scope) else {
                return Err(error);
            };
            if reveal {
                r.open_reveal = true;
            } else {
                r.open_delete = true;
                page_problem = r.delete_why.is_some();
            }
            status = error.status();
            problem = Some(Problem::new(&error, viewer.request_id.as_deref()));
        }
    }
    Ok(render(
        status,
        &SecretsPage {
            chrome,
            rows,
            cursor,
            next: page.next_cursor,
            notice: shown_notice,
            reasons,
            add,
            problem,
            page_problem,
            revealed,
        },
    ))
}

/// The row of `s`; `org_wide_why` is why the viewer may not delete an
/// organization-wide secret (if they may not).
fn row(s: SecretView, org_wide_why: Option<&String>) -> Row {
    Row {
        delete_why: if s.scope == OwnerScope::Org { org_wide_why.cloned() } else { None },
        updated: short_time(&s.updated_at),
        id: s.id,
        name: s.name,
        category: s.category,
        scope: s.scope,
        version: s.version,
        open_reveal: false,
        open_delete: false,
    }
}

/// The add dialog's fields.
#[derive(Deserialize)]
struct AddForm {
    name: String,
    value: String,
    category: String,
    /// `user` (default) or `org`.
    scope: Option<OwnerScope>,
    /// The page the form was on.
    cursor: Option<String>,
}

/// `POST /dashboard/secrets`: `PUT /v1/secrets/{name}` (creates, or
/// replaces a secret of that name and scope).
async fn put(State(state): State<AppState>, audit: Audit, s: Submitted<AddForm>) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    let AddForm { name, value, category, scope, cursor } = form;
    let org_wide = scope == Some(OwnerScope::Org);
    let name = name.trim().to_owned();
    // The handler wipes the value once it is sealed.
    let req = PutSecret { value, category: category.clone(), org_wide: Some(org_wide) };
    match secrets::put(State(state.clone()), viewer.caller.clone(), audit, Path(name.clone()), JsonBody(req)).await {
        Ok((StatusCode::CREATED, _)) => Ok(done(PATH, "created")),
        Ok(_) => Ok(done(PATH, "replaced")),
        Err(error) => show(&state, &viewer, cursor, Outcome::AddRefused { name, category, org_wide, error }).await,
    }
}

/// A row's reveal and delete forms: which of two secrets of one name, and
/// the page the form was on.
#[derive(Debug, Deserialize)]
struct RowForm {
    scope: OwnerScope,
    cursor: Option<String>,
}

/// `POST /dashboard/secrets/{name}/reveal`: `POST /v1/secrets/{name}/reveal`
/// (audited), the value shown in a dialog of this answer only.
async fn reveal(
    State(state): State<AppState>,
    audit: Audit,
    Path(name): Path<String>,
    s: Submitted<RowForm>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    match secrets::revealed(&state, &viewer.caller, &audit, &name, Some(form.scope)).await {
        Ok(RevealedSecret { secret, value }) => {
            let shown =
                Revealed { name: secret.name, scope: scope_label(secret.scope), version: secret.version, value };
            show(&state, &viewer, form.cursor, Outcome::Revealed(shown)).await
        }
        Err(error) => {
            let refused = Outcome::RowRefused { name, scope: form.scope, reveal: true, error };
            show(&state, &viewer, form.cursor, refused).await
        }
    }
}

/// `POST /dashboard/secrets/{name}/delete`: `DELETE /v1/secrets/{name}`.
async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    Path(name): Path<String>,
    s: Submitted<RowForm>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    let q = ScopeQuery { scope: Some(form.scope) };
    match secrets::delete(State(state.clone()), viewer.caller.clone(), audit, Path(name.clone()), Query(q)).await {
        Ok(_) => Ok(done(PATH, "deleted")),
        Err(error) => {
            let refused = Outcome::RowRefused { name, scope: form.scope, reveal: false, error };
            show(&state, &viewer, form.cursor, refused).await
        }
    }
}
