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

/// An organization's key policy: `GET` answers it, `PUT` replaces it
/// (absent fields: off, `null`). Rules apply to every key minted or
/// changed afterwards; existing keys are never changed
/// (`GET /v1/api-keys?compliant=false` lists those that break it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyPolicyView {
    /// Longest lifetime of a key (`90d`); keys must then expire.
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::Duration>)]
    pub max_lifetime: Option<String>,
    /// Every key must expire.
    #[serde(default)]
    pub require_expiry: bool,
    /// No live key may hold `*`.
    #[serde(default)]
    pub forbid_wildcard_in_live: bool,
    /// The scopes keys may hold (catalog scopes or wildcards), at most 100.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub allowed_scopes: Option<Vec<String>>,
    /// Per-minute limit of a new key that sets none.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub default_rate_limit_per_minute: Option<i64>,
    /// Per-day limit of a new key that sets none.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub default_rate_limit_per_day: Option<i64>,
    /// The networks keys may be used from when they have none of their own
    /// (a key's own must lie inside them), at most 100.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub allowed_cidrs: Option<Vec<String>>,
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
