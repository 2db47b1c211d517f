//! People and their sessions (`/v1/auth/*`, `/v1/sessions`), and who the
//! caller is (`/v1/me`, `/v1/scopes`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::OrgView;

/// `GET /v1/me`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    /// The person behind the credential, if any.
    pub user: Option<UserView>,
    /// The organization the request acts in.
    pub org: OrgView,
    /// The person's role in it.
    pub role: Option<String>,
    /// `api_key` or `session`.
    pub auth_type: String,
    /// The key used, for key callers.
    pub key_id: Option<String>,
    /// The scopes in force for this request.
    pub scopes: Vec<String>,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// `usr_…`
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
}

/// `POST /v1/auth/signup`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignUp {
    /// Email (lowercased).
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// At least 12 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    /// Name shown to others.
    #[schema(value_type = crate::constraints::Name)]
    pub display_name: String,
    /// The organization created for the new user.
    #[schema(value_type = crate::constraints::Name)]
    pub org_name: String,
}

/// `POST /v1/auth/login`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Login {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /v1/invitations/signup`: an account for the invited person (the
/// invitation's email), who joins the inviting organization.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvitedSignUp {
    /// The `lki_…` token from the invitation.
    pub token: String,
    /// At least 12 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    /// Name shown to others.
    #[schema(value_type = crate::constraints::Name)]
    pub display_name: String,
}

impl std::fmt::Debug for InvitedSignUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitedSignUp")
            .field("token", &"…")
            .field("password", &"…")
            .field("display_name", &self.display_name)
            .finish()
    }
}

/// The answer to sign-up and login: the session token, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionGrant {
    /// `lks_…`: send as `Authorization: Bearer`.
    pub token: String,
    /// End of validity.
    pub expires_at: String,
    /// `ses_…`
    pub session_id: String,
    /// Who logged in.
    pub user: UserView,
    /// The organization created at sign-up, or joined by an invited
    /// sign-up (the session acts in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<OrgView>,
}

/// A login session (never its token).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// `ses_…`
    pub id: String,
    /// Login time.
    pub created_at: String,
    /// End of validity.
    pub expires_at: String,
    /// Last request (minute precision).
    pub last_used_at: Option<String>,
    /// Client address at login.
    pub ip: Option<String>,
    /// `User-Agent` at login.
    pub user_agent: Option<String>,
    /// Whether this request uses it.
    pub current: bool,
}

/// One entry of `GET /v1/scopes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeView {
    /// The scope text (`sandbox:create`, `sandbox:*`, `*`).
    pub scope: String,
    /// Resource, or `null` for `*`.
    pub resource: Option<String>,
    /// Action, `*`, or `null` for `*`.
    pub action: Option<String>,
    /// What it grants.
    pub description: String,
}
