//! `/v1/workspaces`: storage spaces of the organization and of its members
//! (issue 24; DESIGN.md §10).
//!
//! * `records.rs` — create, list, read, change and delete the records;
//! * `mounts.rs` — whether a sandbox may mount one, with a signed grant,
//!   and the keys that verify grants;
//! * `files.rs` — presigned URLs for one object and the objects listed,
//!   when an object store is configured (501 `storage_not_configured`
//!   otherwise).
//!
//! Who may do what:
//! * reading needs `files:read`, changing `files:write` (a session holds
//!   both; its role allows them); mounting `ro` needs `files:read`, `rw`
//!   `files:write`; a presigned `GET` `files:read`, `PUT` and `DELETE`
//!   `files:write`;
//! * organization workspaces are created, changed and deleted by admins (a
//!   key acts within its owner's role: the admin ceiling); every member
//!   reads, mounts and uses their files;
//! * a personal workspace exists for its owner and the organization's
//!   admins only: anyone else gets 404, as for another organization's;
//!   it is never mounted (403 `personal_workspace_not_mountable`);
//! * a key bound to a project sees, creates and uses only that project's
//!   workspaces: another's is 403 `project_mismatch`, and its lists hold
//!   its project's only.

pub(crate) mod files;
pub(crate) mod mounts;
pub(crate) mod records;

use axum::http::StatusCode;
use latchkey_api_types::workspaces::{WorkspaceKind as KindView, WorkspaceView};
use latchkey_core::id::{IdKind, ProjectId, WorkspaceId, is_valid};
use latchkey_core::time_fmt::to_rfc3339;
use latchkey_store::{Workspace, WorkspaceKind};

use crate::auth::Caller;
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::state::AppState;
use crate::workspaces::{ObjectStore, Prefix, StorageError};

/// Creating, changing and deleting an organization workspace.
pub(crate) const ORG_WORKSPACES: AuthCheck =
    AuthCheck::any().admin_because("organization workspaces are created, changed and deleted by admins");

fn kind_view(kind: WorkspaceKind) -> KindView {
    match kind {
        WorkspaceKind::Org => KindView::Org,
        WorkspaceKind::Personal => KindView::Personal,
    }
}

fn view(w: Workspace) -> WorkspaceView {
    WorkspaceView {
        id: w.id.into(),
        name: w.name,
        kind: kind_view(w.kind),
        owner_user_id: w.owner_user_id.map(Into::into),
        project_id: w.project_id.map(Into::into),
        storage_prefix: w.storage_prefix,
        quota_bytes: w.quota_bytes,
        created_by_user_id: w.created_by_user_id.map(Into::into),
        created_by_key_id: w.created_by_key_id.map(Into::into),
        created_at: to_rfc3339(w.created_at),
        updated_at: to_rfc3339(w.updated_at),
    }
}

/// The project the caller's key is bound to, if it is.
fn bound_project(caller: &Caller) -> Option<&ProjectId> {
    caller.key().and_then(|k| k.project_id())
}

/// 403 `project_mismatch`.
fn project_mismatch() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "project_mismatch",
        "this key is bound to a project; the workspace belongs to another project, or to none",
    )
}

/// Refuses a project-bound key a workspace of another project (or of none).
fn check_project(caller: &Caller, project_id: Option<&ProjectId>) -> Result<(), ApiError> {
    match bound_project(caller) {
        Some(bound) if project_id != Some(bound) => Err(project_mismatch()),
        _ => Ok(()),
    }
}

/// Whether the caller may see `w`: an organization workspace, or a
/// personal one of theirs, or any as an admin.
fn visible(caller: &Caller, w: &Workspace) -> bool {
    w.kind == WorkspaceKind::Org || caller.can_manage_owned_by(w.owner_user_id.as_deref())
}

/// Workspace `id` of the caller's organization as stored, whoever may see
/// it, or 404.
async fn stored(state: &AppState, caller: &Caller, id: &WorkspaceId) -> Result<Workspace, ApiError> {
    if !is_valid(IdKind::Workspace, id) {
        return Err(ApiError::not_found("workspace"));
    }
    state.store.get_workspace(&caller.org_id, id).await?.ok_or_else(|| ApiError::not_found("workspace"))
}

/// Workspace `id` as the caller may use it: 404 when it is not theirs to
/// see (another organization's, another member's personal one), 403
/// `project_mismatch` for a project-bound key and another project's.
async fn find(state: &AppState, caller: &Caller, id: &WorkspaceId) -> Result<Workspace, ApiError> {
    let w = stored(state, caller, id).await?;
    if !visible(caller, &w) {
        return Err(ApiError::not_found("workspace"));
    }
    check_project(caller, w.project_id.as_ref())?;
    Ok(w)
}

/// Refuses a change of `w` to a member when it is the organization's (a
/// personal workspace the caller found is theirs, or they are an admin).
fn check_change(caller: &Caller, w: &Workspace) -> Result<(), ApiError> {
    match w.kind {
        WorkspaceKind::Org => ORG_WORKSPACES.check(caller),
        WorkspaceKind::Personal => Ok(()),
    }
}

/// The object store, or 501 `storage_not_configured`.
fn object_store(state: &AppState) -> Result<&ObjectStore, ApiError> {
    state.object_store.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "storage_not_configured",
            "this server has no object store for workspaces' files ([workspaces.storage] in latchkey.toml)",
        )
    })
}

/// `w`'s storage prefix, as the object store takes it.
fn prefix(w: &Workspace) -> Result<Prefix, ApiError> {
    Prefix::new(&w.storage_prefix).map_err(|e| {
        ApiError::internal(&StorageError::BadAnswer(format!("workspace {} has a bad storage prefix: {e}", w.id)))
    })
}

/// The answer to a failed object-store call: 400 `invalid_path` for a path
/// the caller gave, 502 `storage_unavailable` (logged) when the store
/// could not be asked or answered nonsense.
fn storage_error(e: &StorageError) -> ApiError {
    match e {
        StorageError::Key(k) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", k.to_string()),
        StorageError::Expiry => ApiError::bad_request("expiresIn must be between 1 and 3600 seconds"),
        StorageError::Unreachable(_) | StorageError::BadAnswer(_) => {
            tracing::warn!(error = %e, "the workspaces' object store failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "storage_unavailable",
                "the object store could not be reached; try again shortly",
            )
        }
    }
}
