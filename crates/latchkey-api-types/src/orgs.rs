//! Organizations and who belongs to them: `/v1/orgs`, `/v1/me/org`,
//! `/v1/members`, `/v1/invitations`, `/v1/audit-events`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::RefView;

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgView {
    /// `org_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// URL-safe name.
    pub slug: String,
    /// The caller's role in it (organization lists and views).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Policy: members may list every key of the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_see_all_keys: Option<bool>,
    /// What a report that a live key of the organization leaked does:
    /// `revoke` it at once (the default) or only `flag` it (`leakedAt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak_action: Option<crate::LeakAction>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// `POST /v1/orgs`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrg {
    /// Display name.
    #[schema(value_type = crate::constraints::Name)]
    pub name: String,
    /// URL-safe name (derived from the name when absent).
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::Slug>)]
    pub slug: Option<String>,
}

/// `PATCH /v1/orgs/{id}`
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOrg {
    /// New display name.
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::Name>)]
    pub name: Option<String>,
    /// New slug.
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::Slug>)]
    pub slug: Option<String>,
    /// Let members list every key of the organization.
    #[serde(default)]
    pub members_see_all_keys: Option<bool>,
    /// What a report that a live key of the organization leaked does
    /// (`revoke` or `flag`).
    #[serde(default)]
    pub leak_action: Option<crate::LeakAction>,
}

/// `POST /v1/me/org`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchOrg {
    /// The organization to act in by default.
    pub org_id: String,
}

/// `POST /v1/invitations/accept`: the token travels in the body, never in
/// a path (paths are logged).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The `lki_…` token from the invitation.
    pub token: String,
}

impl std::fmt::Debug for AcceptInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptInvitation").field("token", &"…").finish()
    }
}

/// A member of an organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// `usr_…`
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// `admin` or `member`.
    pub role: String,
    /// When they joined.
    pub joined_at: String,
}

/// `PATCH /v1/members/{userId}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMember {
    /// `admin` or `member`.
    #[schema(value_type = crate::constraints::RoleName)]
    pub role: String,
}

/// `POST /v1/invitations`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInvitation {
    /// Who is invited.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// `admin` or `member`.
    #[schema(value_type = crate::constraints::RoleName)]
    pub role: String,
}

/// An invitation. `token` only in the create response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    /// `inv_…`
    pub id: String,
    /// `lki_…`, one-time: create response only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Who is invited.
    pub email: String,
    /// Role on acceptance.
    pub role: String,
    /// End of validity.
    pub expires_at: String,
    /// Creation time.
    pub created_at: String,
}

/// One audit event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    /// `evt_…`
    pub id: String,
    /// When.
    pub at: String,
    /// Who acted.
    pub actor: RefView,
    /// What happened (`api_key.create`, …).
    pub action: String,
    /// On what.
    pub target: Option<RefView>,
    /// Client address.
    pub ip: Option<String>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// Non-secret facts (names, scopes, roles).
    pub details: serde_json::Value,
}
