//! Signing in without a password: identities at identity providers, and
//! sign-ins in progress (an OpenID Connect authorization request, a CLI's
//! one-time code, a device authorization).

use latchkey_core::KeyHash;
use latchkey_core::id::{IdentityId, OrgId, UserId};
use latchkey_core::time_fmt::Millis;

/// A person's identity at an identity provider, linked to their account by
/// (issuer, subject): never by a claim that can change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `idn_…`
    pub id: IdentityId,
    /// The account.
    pub user_id: UserId,
    /// The configured provider's id (`corp`).
    pub provider: String,
    /// The provider's issuer URL.
    pub issuer: String,
    /// The provider's `sub` for the person.
    pub subject: String,
    /// The email the provider gave at the last sign-in.
    pub email: Option<String>,
    /// When it was linked.
    pub created_at: Millis,
    /// Last sign-in with it.
    pub last_used_at: Option<Millis>,
}

/// What a sign-in in progress is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRequestKind {
    /// An OpenID Connect authorization request waiting for its callback;
    /// found by its `state`.
    Oidc,
    /// A one-time code handed to a CLI on its loopback redirect, waiting to
    /// be exchanged.
    CliCode,
    /// A device authorization (RFC 8628) waiting for a person's decision
    /// and the device's poll; found by its device code or its user code.
    Device,
}

impl AuthRequestKind {
    /// As stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::CliCode => "cli_code",
            Self::Device => "device",
        }
    }

    /// From its stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Oidc, Self::CliCode, Self::Device].into_iter().find(|k| k.as_str() == s)
    }
}

/// A person's answer to a device authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sign the device in.
    Approved,
    /// Refuse it.
    Denied,
}

impl Decision {
    /// As stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }

    /// From its stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Approved, Self::Denied].into_iter().find(|d| d.as_str() == s)
    }
}

/// A sign-in in progress. Found by the SHA-256 of a secret its client holds
/// (`state`, code, device code); single use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// SHA-256 of the client's secret.
    pub hash: KeyHash,
    /// What it is.
    pub kind: AuthRequestKind,
    /// Device authorizations: SHA-256 of the normalized user code.
    pub user_code_hash: Option<KeyHash>,
    /// The kind's own fields, as JSON (the server's business).
    pub payload: String,
    /// Whom it signs in (a CLI code; an approved device), or who started it
    /// (linking an identity).
    pub user_id: Option<UserId>,
    /// The organization the session will act in.
    pub org_id: Option<OrgId>,
    /// Device authorizations: the person's answer.
    pub decision: Option<Decision>,
    /// Device authorizations: the latest poll.
    pub polled_at: Option<Millis>,
    /// Device authorizations: the poll before it (what `slow_down` is
    /// decided on).
    pub prev_polled_at: Option<Millis>,
    /// Creation time.
    pub created_at: Millis,
    /// End of validity.
    pub expires_at: Millis,
}
