//! Workspaces: storage spaces in the platform's object store, the
//! organization's or a member's. Only their records are here; their
//! objects live in the store under [`Workspace::storage_prefix`].

use latchkey_core::id::{KeyId, OrgId, ProjectId, UserId, WorkspaceId};
use latchkey_core::time_fmt::Millis;

/// Whose a workspace is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceKind {
    /// The organization's: sandboxes may mount it.
    Org,
    /// A member's own: only they and the organization's admins reach it,
    /// and no sandbox mounts it.
    Personal,
}

impl WorkspaceKind {
    /// As stored (and on the wire).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Org => "org",
            Self::Personal => "personal",
        }
    }

    /// From its stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Org, Self::Personal].into_iter().find(|k| k.as_str() == s)
    }
}

/// The storage prefix of workspace `id` of `org_id`:
/// `orgs/{orgId}/workspaces/{wspId}/`. Every object of the workspace lives
/// under it; it is fixed at creation (the schema holds the row to it).
pub fn storage_prefix(org_id: &OrgId, id: &WorkspaceId) -> String {
    format!("orgs/{org_id}/workspaces/{id}/")
}

/// A workspace to create ([`crate::WorkspaceStore::create_workspace`]); its
/// kind follows from its owner, its storage prefix from its ids.
#[derive(Debug, Clone)]
pub struct NewWorkspace {
    /// `wsp_…`, minted by the caller (its audit event names it).
    pub id: WorkspaceId,
    /// Owning organization.
    pub org_id: OrgId,
    /// The member a personal workspace belongs to; `None`: an organization
    /// workspace.
    pub owner_user_id: Option<UserId>,
    /// The project it belongs to, one of the organization's.
    pub project_id: Option<ProjectId>,
    /// Display name: unique among the organization's workspaces, or among
    /// the owner's personal ones.
    pub name: String,
    /// The most it may hold, in bytes (`None`: no quota).
    pub quota_bytes: Option<i64>,
    /// The user who created it (directly or through one of their keys).
    pub created_by_user_id: Option<UserId>,
    /// The key that created it, if created with a key.
    pub created_by_key_id: Option<KeyId>,
    /// Creation time.
    pub at: Millis,
}

/// A stored workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// `wsp_…`
    pub id: WorkspaceId,
    /// Owning organization.
    pub org_id: OrgId,
    /// The organization's or a member's.
    pub kind: WorkspaceKind,
    /// The member a personal workspace belongs to (`None` for an
    /// organization workspace). Kept when they leave the organization.
    pub owner_user_id: Option<UserId>,
    /// The project it belongs to.
    pub project_id: Option<ProjectId>,
    /// Display name.
    pub name: String,
    /// `orgs/{orgId}/workspaces/{wspId}/` ([`storage_prefix`]); never
    /// changes.
    pub storage_prefix: String,
    /// The most it may hold, in bytes (`None`: no quota).
    pub quota_bytes: Option<i64>,
    /// The user who created it.
    pub created_by_user_id: Option<UserId>,
    /// The key that created it, if created with a key.
    pub created_by_key_id: Option<KeyId>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// Changes to a workspace; `None` leaves a field as it is. The kind, the
/// owner and the storage prefix never change.
#[derive(Debug, Clone, Default)]
pub struct WorkspacePatch {
    /// New name.
    pub name: Option<String>,
    /// New quota (`Some(None)` removes it).
    pub quota_bytes: Option<Option<i64>>,
    /// New project (`Some(None)`: none).
    pub project_id: Option<Option<ProjectId>>,
}

/// Which workspaces to list. The organization's workspaces are always
/// included (unless `kind` says personal); personal ones as said here.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceFilter {
    /// This person's personal workspaces too (`None`: none, unless
    /// `all_org`).
    pub viewer: Option<UserId>,
    /// Every member's personal workspaces too (admins); `viewer` is then
    /// ignored.
    pub all_org: bool,
    /// Only this project's.
    pub project_id: Option<ProjectId>,
    /// Only this kind.
    pub kind: Option<WorkspaceKind>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_form() {
        for k in [WorkspaceKind::Org, WorkspaceKind::Personal] {
            assert_eq!(WorkspaceKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(WorkspaceKind::parse("Org"), None);
        assert_eq!(WorkspaceKind::parse("shared"), None);
    }

    #[test]
    fn the_storage_prefix_names_the_organization_and_the_workspace() {
        let (org, wsp) = (OrgId::from("org_01a"), WorkspaceId::from("wsp_01b"));
        assert_eq!(storage_prefix(&org, &wsp), "orgs/org_01a/workspaces/wsp_01b/");
    }
}
