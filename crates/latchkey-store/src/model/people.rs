//! Organizations and the people in them: users, memberships, login
//! sessions and invitations.

use latchkey_core::id::{InvitationId, OrgId, SessionId, UserId};
use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, Role};

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// `org_…`
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Unique URL-safe name.
    pub slug: String,
    /// Policy: members may list every key of the organization.
    pub members_see_all_keys: bool,
    /// What a report that one of its live keys leaked does.
    pub leak_action: LeakAction,
    /// Creation time.
    pub created_at: Millis,
}

/// What a leak report (a secret scanner's, or an admin's) does to a live
/// key of an organization: its setting `leakAction`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LeakAction {
    /// Revoke the key at once (the default).
    #[default]
    Revoke,
    /// Only mark it leaked (`leaked_at`); it keeps working.
    Flag,
}

impl LeakAction {
    /// The stored and wire form: `revoke`, `flag`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoke => "revoke",
            Self::Flag => "flag",
        }
    }

    /// The action named `s` ([`LeakAction::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "revoke" => Some(Self::Revoke),
            "flag" => Some(Self::Flag),
            _ => None,
        }
    }
}

/// A new organization.
pub type NewOrg = Org;

/// A person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `usr_…`
    pub id: UserId,
    /// Lowercased email.
    pub email: String,
    /// Name shown to others.
    pub display_name: String,
    /// Creation time.
    pub created_at: Millis,
}

/// A new user.
pub type NewUser = User;

/// Changes to an organization; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OrgPatch {
    /// New display name.
    pub name: Option<String>,
    /// New slug.
    pub slug: Option<String>,
    /// New key-visibility policy.
    pub members_see_all_keys: Option<bool>,
    /// New leak action.
    pub leak_action: Option<LeakAction>,
}

/// A person's membership of an organization, with the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The person.
    pub user: User,
    /// Their role.
    pub role: Role,
    /// When they joined.
    pub joined_at: Millis,
}

/// A login session. Only the token's SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `ses_…`
    pub id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// SHA-256 of the `lks_…` token.
    pub token_hash: KeyHash,
    /// The organization requests act in when they name none.
    pub current_org_id: Option<OrgId>,
    /// Client address at login.
    pub ip: Option<String>,
    /// `User-Agent` at login.
    pub user_agent: Option<String>,
    /// Login time.
    pub created_at: Millis,
    /// End of validity.
    pub expires_at: Millis,
    /// Last authenticated request (minute precision).
    pub last_used_at: Option<Millis>,
    /// Logout or revocation time.
    pub revoked_at: Option<Millis>,
}

/// An invitation to join an organization. Only the token's SHA-256 is
/// stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// `inv_…`
    pub id: InvitationId,
    /// The organization to join.
    pub org_id: OrgId,
    /// Lowercased email of the invited person.
    pub email: String,
    /// Role given on acceptance.
    pub role: Role,
    /// SHA-256 of the `lki_…` token.
    pub token_hash: KeyHash,
    /// Who invited.
    pub invited_by: Option<UserId>,
    /// Creation time.
    pub created_at: Millis,
    /// End of validity.
    pub expires_at: Millis,
    /// Acceptance time.
    pub accepted_at: Option<Millis>,
    /// Revocation time.
    pub revoked_at: Option<Millis>,
}

/// Why accepting an invitation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// Unknown, used, revoked or expired.
    NotFound,
    /// The accepting user's email is not the invited one.
    WrongUser,
    /// Already a member.
    AlreadyMember,
}
