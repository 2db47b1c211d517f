//! `/v1/workspaces`: workspaces' records, mount decisions, presigned URLs
//! for their files, and the keys that verify mount grants.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::present;

/// Whose a workspace is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceKind {
    /// The organization's: admins create and change it, sandboxes may
    /// mount it.
    Org,
    /// A member's own: only they and the organization's admins reach it;
    /// never mounted into a sandbox.
    Personal,
}

/// `POST /v1/workspaces`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWorkspace {
    /// Display name, 1–255 characters; unique among the organization's
    /// workspaces, or among the caller's personal ones.
    #[schema(value_type = crate::constraints::Name)]
    pub name: String,
    /// `org` (admins) or `personal` (the caller's own).
    pub kind: WorkspaceKind,
    /// The project it belongs to (`prj_…`); a project-bound key's own
    /// project by default.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The most it may hold, in bytes (> 0); none by default.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub quota_bytes: Option<i64>,
}

/// `PATCH /v1/workspaces/{id}`: the kind, owner and storage prefix never
/// change.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWorkspace {
    /// New name.
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::Name>)]
    pub name: Option<String>,
    /// New project; `null` detaches it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Option<String>>,
    /// New quota in bytes (> 0); `null` removes it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub quota_bytes: Option<Option<i64>>,
}

/// A workspace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceView {
    /// `wsp_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// `org` or `personal`.
    pub kind: WorkspaceKind,
    /// The member a personal workspace belongs to (`null` for the
    /// organization's).
    pub owner_user_id: Option<String>,
    /// The project it belongs to.
    pub project_id: Option<String>,
    /// Where its objects live in the object store:
    /// `orgs/{orgId}/workspaces/{wspId}/`; never changes.
    pub storage_prefix: String,
    /// The most it may hold, in bytes (`null`: no quota).
    pub quota_bytes: Option<i64>,
    /// The user who created it.
    pub created_by_user_id: Option<String>,
    /// The key that created it, if created with a key.
    pub created_by_key_id: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// How a sandbox mounts a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MountMode {
    /// Read-only: needs `files:read`.
    Ro,
    /// Read-write: needs `files:write`.
    Rw,
}

impl MountMode {
    /// `ro` or `rw`, as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ro => "ro",
            Self::Rw => "rw",
        }
    }
}

/// `POST /v1/workspaces/{id}/mounts`: may this sandbox mount this
/// workspace here?
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountRequest {
    /// The sandbox, as the platform names it: 1–128 printable ASCII
    /// characters.
    #[schema(min_length = 1, max_length = 128)]
    pub sandbox_id: String,
    /// Where in the sandbox: an absolute path, not `/`, without `.` or `..`
    /// segments, not at or under `/proc`, `/sys`, `/dev` or `/etc`, at most
    /// 1024 bytes.
    #[schema(min_length = 2, max_length = 1024)]
    pub path: String,
    /// `ro` or `rw`.
    pub mode: MountMode,
}

/// An allowed mount, with its grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MountDecision {
    /// Always `true` (a refusal is an error).
    pub allowed: bool,
    /// A compact JWS (`alg: EdDSA`, `typ: latchkey-mount+jwt`) naming the
    /// workspace (`sub`), its organization (`org`), storage prefix
    /// (`prefix`), `sandboxId`, `path` and `mode`, with `aud:
    /// latchkey:mount`; valid until `expiresAt`. Verify it offline with
    /// the key of its `kid` from `GET /v1/workspaces/grant-keys`.
    pub grant: String,
    /// When the grant expires (5 minutes after it was made).
    pub expires_at: String,
    /// The workspace.
    pub workspace_id: String,
    /// The sandbox.
    pub sandbox_id: String,
    /// The mount path.
    pub path: String,
    /// The mode.
    pub mode: MountMode,
}

/// One public key of [`GrantKeys`] (RFC 8037: an Ed25519 `OKP` key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GrantKey {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// The key's id: its RFC 7638 thumbprint; a grant's header names it.
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

/// `GET /v1/workspaces/grant-keys`: a JWK Set of the keys mount grants are
/// signed with (the current one first; others the server may still have
/// signed with during a master key rotation).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantKeys {
    /// The keys.
    pub keys: Vec<GrantKey>,
}

/// What a presigned URL lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PresignMethod {
    /// Download the object (`files:read`).
    Get,
    /// Upload or replace it (`files:write`).
    Put,
    /// Delete it (`files:write`).
    Delete,
}

/// `POST /v1/workspaces/{id}/presign`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresignRequest {
    /// The object's path relative to the workspace (`notes/today.md`): no
    /// leading `/`, no empty, `.` or `..` segment, no control character or
    /// backslash.
    #[schema(min_length = 1, max_length = 1024)]
    pub path: String,
    /// `GET`, `PUT` or `DELETE`.
    pub method: PresignMethod,
    /// Seconds the URL is valid, 1–3600 (default 900).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3600)]
    pub expires_in: Option<u64>,
}

/// A presigned URL for one object of a workspace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresignedUrl {
    /// The URL, to be used with `method` before `expiresAt`; it is a
    /// credential for that one object until then.
    pub url: String,
    /// The method it is signed for.
    pub method: PresignMethod,
    /// The object's path relative to the workspace.
    pub path: String,
    /// When the object store starts refusing it.
    pub expires_at: String,
}

/// One object of a workspace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    /// Its path relative to the workspace.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, when the store says.
    pub last_modified: Option<String>,
}

/// `GET /v1/workspaces/{id}/files`: objects by path.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileList {
    /// Objects, in path order.
    pub data: Vec<FileView>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_detaches_and_absent_leaves_alone() {
        let p: UpdateWorkspace = serde_json::from_str(r#"{"projectId":null,"quotaBytes":5}"#).unwrap();
        assert_eq!((p.project_id, p.quota_bytes), (Some(None), Some(Some(5))));
        let p: UpdateWorkspace = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!((p.project_id, p.quota_bytes), (None, None));
    }

    #[test]
    fn the_wire_names_of_kinds_modes_and_methods() {
        let kind: WorkspaceKind = serde_json::from_str(r#""personal""#).unwrap();
        assert_eq!(kind, WorkspaceKind::Personal);
        assert_eq!(serde_json::to_string(&MountMode::Rw).unwrap(), r#""rw""#);
        assert_eq!(serde_json::to_string(&PresignMethod::Delete).unwrap(), r#""DELETE""#);
        assert!(serde_json::from_str::<PresignMethod>(r#""POST""#).is_err());
    }
}
