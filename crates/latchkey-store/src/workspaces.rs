//! [`WorkspaceStore`], in a file of its own (`lib.rs` holds the other traits).

use async_trait::async_trait;
use latchkey_core::id::{OrgId, WorkspaceId};
use latchkey_core::time_fmt::Millis;

use crate::{AuditEvent, NewWorkspace, Page, StoreResult, Workspace, WorkspaceFilter, WorkspacePatch};

/// Workspaces: the records of an organization's storage spaces in the
/// platform's object store (its own, and its members' personal ones). The
/// objects themselves are not latchkey's: nothing here reads, writes or
/// deletes them, and a deleted record leaves them under its prefix for the
/// platform to clean up.
///
/// Every read and change is scoped by organization: another
/// organization's workspace is `None`. Who may see a personal workspace
/// (its owner and the organization's admins) is decided above storage;
/// [`WorkspaceStore::list_workspaces`] takes it as a filter.
///
/// Changes take their [`AuditEvent`] into their transaction, as in
/// [`crate::KeyStore`]: stored with it or not at all, and no event when
/// nothing changed (a `None` answer or an error).
///
/// Invariants, held by the schema as well: a workspace's id, organization,
/// kind, owner and storage prefix (`orgs/{orgId}/workspaces/{wspId}/`)
/// never change; a name is unique among the organization's workspaces and
/// among each member's personal ones ([`crate::Unique::WorkspaceName`]);
/// its project is one of its organization's, and deleting a project is
/// refused while workspaces belong to it
/// ([`crate::Conflict::ProjectHasWorkspaces`]).
///
/// A member who leaves the organization ([`crate::OrgStore::remove_member`])
/// leaves their personal workspaces behind, unchanged: the files in them may
/// be the organization's to keep, and deleting the records would orphan the
/// objects, which latchkey does not delete. The departed person no longer
/// reaches them (they act in the organization no more); its admins do
/// ([`WorkspaceFilter::all_org`]), and may delete them. Should the person
/// rejoin, they are theirs again. (Unlike their connected apps, which go
/// with them: a kept connection would still hand out their tokens.)
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Creates a workspace (personal when `new` names an owner) and appends
    /// `event`, atomically; returns it as stored. Refused, with nothing
    /// stored: [`crate::Unique::WorkspaceName`] if the name is taken in its
    /// scope, [`crate::Conflict::NoSuchProject`] if the project is not one
    /// of the organization's, [`crate::Conflict::NotAMember`] if the owner
    /// is not a member. The project and the membership are checked under
    /// a lock that a concurrent project deletion or member removal waits
    /// for (or that waits for it).
    async fn create_workspace(&self, new: &NewWorkspace, event: &AuditEvent) -> StoreResult<Workspace>;

    /// A workspace of `org_id`.
    async fn get_workspace(&self, org_id: &OrgId, id: &WorkspaceId) -> StoreResult<Option<Workspace>>;

    /// Workspaces of `org_id` matching `filter`, newest first: at most
    /// `page.limit` + 1 (one more than asked tells that there is a next
    /// page), with ids below `page.before`.
    async fn list_workspaces(
        &self,
        org_id: &OrgId,
        filter: &WorkspaceFilter,
        page: &Page,
    ) -> StoreResult<Vec<Workspace>>;

    /// Applies `patch` (name, quota, project; never the kind, owner or
    /// prefix) and appends `event`, atomically; `None` (nothing appended)
    /// if `org_id` has no such workspace. Refused as
    /// [`WorkspaceStore::create_workspace`] is for a taken name or another
    /// organization's project.
    async fn update_workspace(
        &self,
        org_id: &OrgId,
        id: &WorkspaceId,
        patch: &WorkspacePatch,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Workspace>>;

    /// Deletes a workspace's record and appends `event`, atomically;
    /// returns it as it was, or `None` (nothing appended) if `org_id` has no
    /// such workspace. Its objects stay in the store.
    async fn delete_workspace(
        &self,
        org_id: &OrgId,
        id: &WorkspaceId,
        event: &AuditEvent,
    ) -> StoreResult<Option<Workspace>>;
}
