//! Secrets and the organizations' wrapped data keys that seal them.

use latchkey_core::id::{OrgId, SecretId, UserId};
use latchkey_core::time_fmt::Millis;

/// An organization's data key, wrapped by a master key.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    /// The organization.
    pub org_id: OrgId,
    /// Id of the master key that wrapped it (`mk_…`).
    pub master_key_id: String,
    /// `MasterKey::wrap` output.
    pub wrapped: Vec<u8>,
    /// Creation time.
    pub created_at: Millis,
    /// Last re-wrap.
    pub updated_at: Millis,
}

impl std::fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("org_id", &self.org_id)
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

/// A data key re-wrapped by a new master key (`latchkey admin
/// rotate-master-key`).
#[derive(Clone)]
pub struct Rewrap {
    /// The organization.
    pub org_id: OrgId,
    /// The master key it was wrapped by (the update applies only if it
    /// still is).
    pub old_master_key_id: String,
    /// The new master key.
    pub new_master_key_id: String,
    /// Wrapped by the new master key.
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for Rewrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewrap")
            .field("org_id", &self.org_id)
            .field("old_master_key_id", &self.old_master_key_id)
            .field("new_master_key_id", &self.new_master_key_id)
            .finish_non_exhaustive()
    }
}

/// A stored secret: metadata and the sealed value (never the plaintext).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// `sec_…`
    pub id: SecretId,
    /// Owning organization.
    pub org_id: OrgId,
    /// `A-Z0-9_` name.
    pub name: String,
    /// `provider`, `tool`, …
    pub category: String,
    /// The member it belongs to; `None` for an organization-wide secret.
    pub owner_user_id: Option<UserId>,
    /// The value sealed with the organization's data key.
    pub ciphertext: Vec<u8>,
    /// 1 on creation, +1 on every replacement.
    pub version: i64,
    /// Creation time.
    pub created_at: Millis,
    /// Last replacement.
    pub updated_at: Millis,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("owner_user_id", &self.owner_user_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Which secrets to list.
#[derive(Debug, Clone, Default)]
pub struct SecretFilter {
    /// Include this member's own secrets (`None`: no user secrets).
    pub user_id: Option<UserId>,
    /// Include organization-wide secrets.
    pub org_wide: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_material_is_not_in_debug() {
        let secret = SecretRecord {
            id: "sec_1".into(),
            org_id: "org_1".into(),
            name: "N".into(),
            category: "tool".into(),
            owner_user_id: None,
            ciphertext: vec![0xde, 0xad, 0xbe, 0xef],
            version: 1,
            created_at: 0,
            updated_at: 0,
        };
        let key = WrappedDataKey {
            org_id: "org_1".into(),
            master_key_id: "mk_1".into(),
            wrapped: vec![0xde, 0xad, 0xbe, 0xef],
            created_at: 0,
            updated_at: 0,
        };
        let shown = format!("{secret:?} {key:?}");
        assert!(shown.contains("sec_1") && shown.contains("mk_1"), "{shown}");
        assert!(!shown.contains("222") && !shown.contains("173"), "{shown}");
    }
}
