//! Credentials › SSH keys: the viewer's SSH public keys and the
//! organization's over `GET /v1/ssh-keys` (admins may add every member's,
//! `?allOrg=true`); adding one from pasted text, choosing the default, and
//! removing one, through the API's handlers. Organization-wide keys are
//! added and removed by admins only: a member sees those controls disabled
//! with the API's reason.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_api_types::secrets::{CreateSshKey, OwnerScope, SshKeyView};
use latchkey_core::id::SshKeyId;
use latchkey_store::Page;
use serde::Deserialize;

use super::page::{Chrome, FormAnswer, Place, Problem, Reasons, denial, notice, render, short_time};
use super::session::{Submitted, Viewer};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::routes::ssh_keys::{self, ListQuery};
use crate::state::AppState;

/// The list.
const PATH: &str = "/dashboard/ssh-keys";

/// Keys listed per page.
const PAGE_SIZE: u32 = 50;

/// What `?done=` may announce.
const NOTICES: [(&str, &str); 3] =
    [("added", "SSH key added."), ("default", "Default SSH key set."), ("removed", "SSH key removed.")];

/// The SSH key pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list).post(add))
        .route("/dashboard/ssh-keys/{id}/default", post(set_default))
        .route("/dashboard/ssh-keys/{id}/delete", post(delete))
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

/// A key as a row of the table shows it.
struct Row {
    id: String,
    name: String,
    fingerprint: String,
    algorithm: String,
    bits: i64,
    comment: String,
    /// `You`, `Organization`, or the member's name.
    owner: String,
    is_default: bool,
    added: String,
    /// One of the viewer's own keys that is not their default yet.
    may_set_default: bool,
    /// The id of the reason the viewer may not remove it.
    delete_why: Option<String>,
    /// The remove confirmation is open (a removal was refused).
    open_delete: bool,
}

/// The add dialog's state.
struct AddDialog {
    /// Open on load (the API refused the form).
    open: bool,
    name: String,
    public_key: String,
    org_wide: bool,
    /// Why the viewer may not add organization-wide keys.
    org_wide_denied: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/ssh_keys.html")]
struct SshKeysPage {
    chrome: Chrome,
    rows: Vec<Row>,
    place: Place,
    next: Option<String>,
    notice: Option<&'static str>,
    reasons: Reasons,
    /// The id of the reason the viewer may not list every member's keys.
    all_why: Option<String>,
    add: AddDialog,
    /// The API's refusal: in the open dialog, or above the table.
    problem: Option<Problem>,
    /// The refusal concerns no dialog (setting the default).
    page_problem: bool,
}

/// What the page shows besides the list.
enum Outcome {
    /// The list alone (with a notice, maybe).
    Listed(Option<&'static str>),
    /// The add form, refused: what was typed.
    AddRefused { name: String, public_key: String, org_wide: bool, error: ApiError },
    /// A row's form, refused (`remove`: the remove dialog, else set default).
    RowRefused { id: String, remove: bool, error: ApiError },
}

/// `GET /dashboard/ssh-keys`
async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let place = Place { all: p.all, cursor: p.cursor };
    show(&state, &viewer, place, Outcome::Listed(notice(p.done.as_deref(), &NOTICES))).await
}

/// The list and `outcome`, with the status of the API's answer. A refused
/// form about a key not on the page (another organization's, another
/// member's) is the error page.
async fn show(state: &AppState, viewer: &Viewer, place: Place, outcome: Outcome) -> Result<Response, ApiError> {
    let chrome = Chrome::load(state, viewer, "SSH keys").await?;
    let place = place.cleaned();
    let q = ListQuery { org_only: false, all_org: place.all, limit: Some(PAGE_SIZE), cursor: place.cursor.clone() };
    let page = ssh_keys::list(State(state.clone()), viewer.caller.clone(), Query(q)).await?.0;
    let mut reasons = Reasons::default();
    let all_why = reasons.cite(&ssh_keys::ALL_ORG, viewer);
    let org_wide_why = reasons.cite(&ssh_keys::ORG_WIDE, viewer);
    // Other members' names, when their keys are listed.
    let names: HashMap<String, String> = if place.all {
        state
            .store
            .list_members(&viewer.caller.org_id, &Page { limit: 100, before: None })
            .await?
            .into_iter()
            .map(|m| (m.user.id.to_string(), m.user.display_name))
            .collect()
    } else {
        HashMap::new()
    };
    let me = viewer.caller.user_id.as_deref();
    let mut rows: Vec<Row> = page.data.into_iter().map(|k| row(k, me, &names, org_wide_why.as_ref())).collect();
    let org_wide_denied = denial(&ssh_keys::ORG_WIDE, viewer);
    let mut add =
        AddDialog { open: false, name: String::new(), public_key: String::new(), org_wide: false, org_wide_denied };
    let mut answer = FormAnswer::default();
    let mut shown_notice = None;
    match outcome {
        Outcome::Listed(n) => shown_notice = n,
        Outcome::AddRefused { name, public_key, org_wide, error } => {
            add = AddDialog { open: true, name, public_key, org_wide, ..add };
            answer = FormAnswer::in_dialog(&error, viewer);
        }
        Outcome::RowRefused { id, remove, error } => {
            // Setting the default has no dialog, nor has a removal the
            // page shows disabled: the refusal goes above the table.
            let open = |r: &mut Row| {
                r.open_delete = remove && r.delete_why.is_none();
                r.open_delete
            };
            answer = FormAnswer::on_row(&mut rows, |r| r.id == id, open, error, viewer)?;
        }
    }
    Ok(render(
        answer.status,
        &SshKeysPage {
            chrome,
            rows,
            place,
            next: page.next_cursor,
            notice: shown_notice,
            reasons,
            all_why,
            add,
            problem: answer.problem,
            page_problem: answer.above_table,
        },
    ))
}

/// The row of `k` as the member `me` sees it; `names` are members' names
/// by id; `org_wide_why` is why the viewer may not remove an
/// organization-wide key (if they may not).
fn row(k: SshKeyView, me: Option<&str>, names: &HashMap<String, String>, org_wide_why: Option<&String>) -> Row {
    let own = k.owner_user_id.is_some() && k.owner_user_id.as_deref() == me;
    let owner = match (&k.scope, &k.owner_user_id) {
        (OwnerScope::Org, _) | (_, None) => "Organization".to_owned(),
        _ if own => "You".to_owned(),
        (_, Some(id)) => names.get(id).cloned().unwrap_or_else(|| id.clone()),
    };
    Row {
        may_set_default: own && !k.is_default,
        delete_why: if k.scope == OwnerScope::Org { org_wide_why.cloned() } else { None },
        added: short_time(&k.created_at),
        owner,
        id: k.id,
        name: k.name,
        fingerprint: k.fingerprint,
        algorithm: k.algorithm,
        bits: k.bits,
        comment: k.comment,
        is_default: k.is_default,
        open_delete: false,
    }
}

/// The add dialog's fields.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddForm {
    name: String,
    public_key: String,
    /// The "Organization-wide" checkbox.
    #[serde(default)]
    org_wide: bool,
    #[serde(default)]
    all: bool,
    cursor: Option<String>,
}

/// `POST /dashboard/ssh-keys`: `POST /v1/ssh-keys` with the pasted key.
async fn add(State(state): State<AppState>, audit: Audit, s: Submitted<AddForm>) -> Result<Response, ApiError> {
    let Submitted { viewer, form } = s;
    let AddForm { name, public_key, org_wide, all, cursor } = form;
    let place = Place { all, cursor };
    let req = CreateSshKey { name: name.clone(), public_key: public_key.clone(), org_wide: Some(org_wide) };
    match ssh_keys::create(State(state.clone()), viewer.caller.clone(), audit, JsonBody(req)).await {
        Ok(_) => Ok(place.done(PATH, "added")),
        Err(error) => show(&state, &viewer, place, Outcome::AddRefused { name, public_key, org_wide, error }).await,
    }
}

/// `POST /dashboard/ssh-keys/{id}/default`: `POST /v1/ssh-keys/{id}/default`.
async fn set_default(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<SshKeyId>,
    s: Submitted<Place>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form: place } = s;
    match ssh_keys::set_default(State(state.clone()), viewer.caller.clone(), audit, Path(id.clone())).await {
        Ok(_) => Ok(place.done(PATH, "default")),
        Err(error) => {
            show(&state, &viewer, place, Outcome::RowRefused { id: id.to_string(), remove: false, error }).await
        }
    }
}

/// `POST /dashboard/ssh-keys/{id}/delete`: `DELETE /v1/ssh-keys/{id}`.
async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<SshKeyId>,
    s: Submitted<Place>,
) -> Result<Response, ApiError> {
    let Submitted { viewer, form: place } = s;
    match ssh_keys::delete(State(state.clone()), viewer.caller.clone(), audit, Path(id.clone())).await {
        Ok(_) => Ok(place.done(PATH, "removed")),
        Err(error) => {
            show(&state, &viewer, place, Outcome::RowRefused { id: id.to_string(), remove: true, error }).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: OwnerScope, owner: Option<&str>, is_default: bool) -> SshKeyView {
        SshKeyView {
            id: "ssh_1".into(),
            name: "laptop".into(),
            scope,
            owner_user_id: owner.map(str::to_owned),
            algorithm: "ssh-ed25519".into(),
            bits: 256,
            fingerprint: "SHA256:x".into(),
            public_key: "ssh-ed25519 AAAA".into(),
            comment: String::new(),
            is_default,
            created_at: "2026-12-06T11:58:16Z".into(),
        }
    }

    #[test]
    fn only_ones_own_other_keys_may_become_the_default() {
        let names = HashMap::from([("usr_b".to_owned(), "Bea".to_owned())]);
        let why = "why-2".to_owned();
        let mine = row(key(OwnerScope::User, Some("usr_a"), false), Some("usr_a"), &names, Some(&why));
        assert!(mine.may_set_default);
        assert_eq!(mine.owner, "You");
        assert_eq!(mine.delete_why, None);
        let default = row(key(OwnerScope::User, Some("usr_a"), true), Some("usr_a"), &names, None);
        assert!(!default.may_set_default);
        let theirs = row(key(OwnerScope::User, Some("usr_b"), false), Some("usr_a"), &names, None);
        assert!(!theirs.may_set_default);
        assert_eq!(theirs.owner, "Bea");
        let org = row(key(OwnerScope::Org, None, false), Some("usr_a"), &names, Some(&why));
        assert!(!org.may_set_default);
        assert_eq!(org.owner, "Organization");
        assert_eq!(org.delete_why.as_deref(), Some("why-2"));
    }
}
