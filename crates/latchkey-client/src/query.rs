//! Query strings of the list endpoints.

use latchkey_api_types::workspaces::WorkspaceKind;
use serde::Serialize;

/// `?limit=&cursor=` of any list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageRequest {
    /// Items per page (server default 50, at most 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `GET /v1/api-keys` query.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyListQuery {
    /// Every key of the organization, not only the caller's (admins).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub all_org: bool,
    /// Only keys of this project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageRequest,
}

/// `GET /v1/audit-events` query.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    /// Only this action (`api_key.create`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Only this actor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// Only this target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// At or after (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Before (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageRequest,
}

/// `GET /v1/secrets` query.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretListQuery {
    /// Only organization-wide secrets.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub org_only: bool,
    /// Paging.
    #[serde(flatten)]
    pub page: PageRequest,
}

/// `GET /v1/ssh-keys` query.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SshKeyListQuery {
    /// Only organization-wide keys.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub org_only: bool,
    /// Every member's keys (admins).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub all_org: bool,
    /// Paging.
    #[serde(flatten)]
    pub page: PageRequest,
}

/// `GET /v1/oauth/connections` query.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConnectionQuery {
    /// Only connections to this provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Every member's connections too (admins).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub all_org: bool,
}

/// `GET /v1/workspaces` query.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceListQuery {
    /// Every member's personal workspaces too (admins).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub all_org: bool,
    /// Only this kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<WorkspaceKind>,
    /// Only this project's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageRequest,
}

/// `GET /v1/workspaces/{id}/files` query.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceFileQuery {
    /// Only objects whose path starts with this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageRequest,
}
