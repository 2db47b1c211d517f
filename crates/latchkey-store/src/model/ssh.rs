//! Registered SSH public keys.

use latchkey_core::id::{OrgId, SshKeyId, UserId};
use latchkey_core::time_fmt::Millis;

/// A registered SSH public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeyRecord {
    /// `ssh_…`
    pub id: SshKeyId,
    /// Owning organization.
    pub org_id: OrgId,
    /// The member it belongs to; `None` for an organization-wide key.
    pub owner_user_id: Option<UserId>,
    /// Display name (`personal-laptop`).
    pub name: String,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub algorithm: String,
    /// `<type> <base64>`.
    pub public_key: String,
    /// The comment given with the key.
    pub comment: String,
    /// `SHA256:…`
    pub fingerprint: String,
    /// Key size.
    pub bits: i64,
    /// The owner's default key.
    pub is_default: bool,
    /// Creation time.
    pub created_at: Millis,
}

/// Which SSH keys to list.
#[derive(Debug, Clone, Default)]
pub struct SshKeyFilter {
    /// Include this member's own keys.
    pub user_id: Option<UserId>,
    /// Include organization-wide keys.
    pub org_wide: bool,
    /// Every member's keys (admins' `allOrg` view).
    pub all_users: bool,
}
