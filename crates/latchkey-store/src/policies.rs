//! [`KeyPolicyStore`], in a file of its own (`lib.rs` holds the other traits).

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::id::OrgId;
use latchkey_core::policy::KeyPolicy;
use latchkey_core::time_fmt::Millis;

use crate::{AuditEvent, StoreResult};

/// Organizations' key policies ([`latchkey_core::policy`]): one per
/// organization, the default (no rule) until one is set. Whether a key
/// keeps a policy is decided above storage; storage only keeps it, and
/// joins its networks to every key record it reads
/// ([`crate::ApiKeyRecord::policy_cidrs`]).
#[async_trait]
pub trait KeyPolicyStore: Send + Sync {
    /// The key policy of `org_id` (the default when it has none).
    async fn key_policy(&self, org_id: &OrgId) -> StoreResult<KeyPolicy>;

    /// Sets the key policy of `org_id` with its audit event (one
    /// transaction). Answers the hashes of the keys whose verification
    /// changes: when the policy's networks change, the organization's keys
    /// without networks of their own (to evict from caches; the change log
    /// names them too).
    async fn put_key_policy(
        &self,
        org_id: &OrgId,
        policy: &KeyPolicy,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Vec<KeyHash>>;
}
