//! Credentials › API keys: the landing page (a filtered, paged table of
//! keys), creating, rotating and revoking a key, and a key's detail page
//! with its verifications chart. Every action calls the JSON API's own
//! handler (`crate::routes::api_keys`).
//!
//! * `list.rs` — `GET /dashboard/keys`: the table, its filters and paging,
//!   and the page that the create and rotate answers render.
//! * `create.rs` — the `Create key` dialog and `POST /dashboard/keys`.
//! * `actions.rs` — `Rotate` and `Revoke` on a key.
//! * `detail.rs` — `GET /dashboard/keys/{id}`.

mod actions;
mod create;
mod detail;
mod list;

use std::collections::HashMap;

use axum::Router;
use axum::routing::{get, post};
use latchkey_api_types::ApiKeyView;
use latchkey_core::id::KeyId;
use latchkey_store::Page;

use super::page::{Chrome, Reasons, short_time};
use super::session::Viewer;
use crate::error::ApiError;
use crate::routes::api_keys;
use crate::state::AppState;

/// The landing page.
pub const HOME: &str = "/dashboard/keys";

/// Why a member may not rotate or revoke a key that is not theirs (the API
/// answers such a request as if the key did not exist).
const NOT_YOURS: &str = "Only the key's owner or an admin can rotate or revoke it.";

/// The notices after a change (`?done=CODE`).
const NOTICES: [(&str, &str); 1] = [("revoked", "The key was revoked: it stops working at once.")];

/// The API-key pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HOME, get(list::list).post(create::create))
        .route("/dashboard/keys/{id}", get(detail::detail))
        .route("/dashboard/keys/{id}/rotate", post(actions::rotate))
        .route("/dashboard/keys/{id}/revoke", post(actions::revoke))
}

/// A key's plaintext, shown once, in a dialog opened when the page loads.
#[derive(Debug, Clone)]
pub(super) struct Shown {
    /// The dialog's heading (`Key created`, `Key rotated`).
    title: &'static str,
    /// The key's name.
    name: String,
    /// The plaintext.
    key: String,
    /// What else to know (when a rotated key's predecessor stops working).
    note: Option<String>,
}

/// The names a key row shows in place of ids: projects, members, and the
/// keys that created keys.
struct Names {
    /// (project id, name), as the project menus list them.
    projects: Vec<(String, String)>,
    /// Member id → display name.
    members: HashMap<String, String>,
    /// Key id → name, of the keys that created the keys shown.
    creators: HashMap<String, String>,
}

impl Names {
    /// The organization's projects and members, and the names of the keys
    /// that created `keys`, for `viewer`.
    async fn load(state: &AppState, viewer: &Viewer, keys: &[ApiKeyView]) -> Result<Self, ApiError> {
        let everyone = Page { limit: 100, before: None };
        let org = &viewer.caller.org_id;
        let projects =
            state.store.list_projects(org, &everyone).await?.into_iter().map(|p| (p.id.to_string(), p.name)).collect();
        let members = state
            .store
            .list_members(org, &everyone)
            .await?
            .into_iter()
            .map(|m| (m.user.id.to_string(), m.user.display_name))
            .collect();
        let mut creators = HashMap::new();
        let by_keys = keys.iter().filter_map(|k| k.created_by.as_ref()).filter(|r| r.kind == "key");
        for id in by_keys.filter_map(|r| r.id.as_deref()) {
            if !creators.contains_key(id)
                && let Some(k) = state.store.get_key(org, &KeyId::from(id)).await?
            {
                creators.insert(id.to_owned(), k.name);
            }
        }
        Ok(Self { projects, members, creators })
    }

    /// The name of the project `id`, or the id.
    fn project(&self, id: &str) -> String {
        self.projects.iter().find(|(pid, _)| pid == id).map_or_else(|| id.to_owned(), |(_, n)| n.clone())
    }
}

/// A key as the table and the detail page show it.
#[derive(Debug, Clone)]
pub(super) struct Row {
    id: String,
    name: String,
    /// `lk_live_AbCd…wxyz`
    shown: String,
    environment: String,
    scopes: Vec<String>,
    project: Option<String>,
    /// The creation time (`2026-12-06 11:58 UTC`).
    created: String,
    /// Its day (`2026-12-06`).
    created_day: String,
    created_by: String,
    owner: String,
    last_used: Option<String>,
    expires: Option<String>,
    /// The expiry's day.
    expires_day: Option<String>,
    expires_soon: bool,
    status: String,
    /// A rotated key's end of grace (`revokedAt` still ahead).
    until: Option<String>,
    /// The detail page exists for the viewer (they may manage the key).
    linked: bool,
    /// `Rotate` is offered: active, not rotated yet, and the viewer may.
    can_rotate: bool,
    /// `Revoke` is offered: active (a grace period included), and the viewer may.
    can_revoke: bool,
    /// Why the viewer may not rotate or revoke this active key: the id of
    /// the paragraph that says so ([`Reasons`]).
    why: Option<String>,
}

/// The row of `k` for `viewer`; `now` is the current time (RFC 3339). The
/// reasons of its disabled controls are cited in `reasons`.
fn row(k: ApiKeyView, names: &Names, viewer: &Viewer, now: &str, reasons: &mut Reasons) -> Row {
    let created_by = match &k.created_by {
        Some(r) if r.kind == "user" => {
            r.id.as_ref().and_then(|id| names.members.get(id)).cloned().unwrap_or_else(|| "a former member".to_owned())
        }
        Some(r) => match r.id.as_deref().map(|id| (id, names.creators.get(id))) {
            Some((_, Some(name))) => format!("API key “{name}”"),
            Some((id, None)) => format!("API key {id}"),
            None => "an API key".to_owned(),
        },
        None => "the operator".to_owned(),
    };
    let owner = match (&k.owner_display_name, &k.owner_email, &k.owner_user_id) {
        (Some(name), Some(email), _) => format!("{name} ({email})"),
        (_, _, Some(_)) => "a former member".to_owned(),
        _ => "the organization".to_owned(),
    };
    // Expiry within 7 days earns a warning.
    let soon = latchkey_core::time_fmt::to_rfc3339(latchkey_core::time_fmt::now_ms() + 7 * 86_400_000);
    let active = k.status == "active";
    let manage = viewer.caller.can_manage_owned_by(k.owner_user_id.as_deref());
    let (rotate_why, revoke_why) = if active && manage {
        (reasons.cite(&api_keys::rotate::ROTATE, viewer), reasons.cite(&api_keys::REVOKE, viewer))
    } else {
        (None, None)
    };
    let why = if !active {
        None
    } else if !manage {
        Some(reasons.id_of(NOT_YOURS.to_owned()))
    } else {
        rotate_why.clone().or_else(|| revoke_why.clone())
    };
    Row {
        shown: format!("{}…{}", k.key_prefix, k.key_hint),
        project: k.project_id.as_deref().map(|id| names.project(id)),
        created: short_time(&k.created_at),
        created_day: short_day(&k.created_at),
        last_used: k.last_used_at.as_deref().map(short_time),
        expires_soon: active && k.expires_at.as_deref().is_some_and(|e| e < soon.as_str()),
        expires: k.expires_at.as_deref().map(short_time),
        expires_day: k.expires_at.as_deref().map(short_day),
        until: k.revoked_at.as_deref().filter(|t| *t > now).map(short_time),
        linked: manage,
        can_rotate: active && manage && k.rotated_to.is_none() && rotate_why.is_none(),
        can_revoke: active && manage && revoke_why.is_none(),
        why,
        created_by,
        owner,
        id: k.id,
        name: k.name,
        environment: k.environment,
        scopes: k.scopes,
        status: k.status,
    }
}

/// The header of a key page and the names its keys (`keys`) show.
async fn frame(state: &AppState, viewer: &Viewer, keys: &[ApiKeyView]) -> Result<(Chrome, Names), ApiError> {
    Ok((Chrome::load(state, viewer, "API keys").await?, Names::load(state, viewer, keys).await?))
}

/// The day of an RFC 3339 time (`2026-12-06`), as the table shows it.
fn short_day(rfc3339: &str) -> String {
    rfc3339.get(..10).unwrap_or(rfc3339).to_owned()
}
