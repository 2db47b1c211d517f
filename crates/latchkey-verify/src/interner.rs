//! Shared grants: one [`Grant`] per distinct (organization, project, owner,
//! role, environment, scopes, limits, credit rule), held by every cached
//! key that has it.
//!
//! The table is split in [`SHARDS`] shards by the grant's hash, each behind
//! its own mutex, taken when a key is loaded (a miss, a re-read, the
//! warm-up), never on a cache hit. A grant no cached key uses any more (the
//! table holds its only reference) is dropped by [`Grants::sweep`], which
//! the change-log follower runs every few seconds, a shard at a time.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::record::Grant;

/// Shards of the table (a power of two).
const SHARDS: usize = 64;

/// Interned grants.
pub(crate) struct Grants {
    shards: Box<[Mutex<HashSet<Arc<Grant>>>]>,
    hasher: RandomState,
}

impl Default for Grants {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), hasher: RandomState::new() }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Grants {
    fn shard(&self, grant: &Grant) -> &Mutex<HashSet<Arc<Grant>>> {
        let hash = usize::try_from(self.hasher.hash_one(grant) >> 32).unwrap_or_default();
        &self.shards[hash % SHARDS]
    }

    /// The shared grant equal to `grant`, and whether this call added it
    /// (the caller's entry is then charged for it).
    pub(crate) fn intern(&self, grant: Grant) -> (Arc<Grant>, bool) {
        let mut shard = lock(self.shard(&grant));
        if let Some(shared) = shard.get(&grant) {
            return (Arc::clone(shared), false);
        }
        let shared = Arc::new(grant);
        shard.insert(Arc::clone(&shared));
        (shared, true)
    }

    /// Drops every grant that only the table holds; returns how many.
    pub(crate) fn sweep(&self) -> usize {
        let mut dropped = 0;
        for shard in &*self.shards {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|g| Arc::strong_count(g) > 1);
            dropped += before - shard.len();
            // Give back a table that emptied out (after a clear, say).
            let len = shard.len();
            if shard.capacity() > 64 && len < shard.capacity() / 4 {
                shard.shrink_to(len * 2);
            }
        }
        dropped
    }

    /// Number of grants held.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use latchkey_core::id::{OrgId, UserId};
    use latchkey_core::{Environment, Role, Scope, ScopeSet};

    use super::*;
    use crate::ratelimit::Limits;
    use crate::record::Credits;

    fn grant(owner: &str, scopes: &[&str]) -> Grant {
        let record = latchkey_store::ApiKeyRecord {
            owner_user_id: Some(UserId::from(owner)),
            owner_role: Some(Role::Member),
            scopes: ScopeSet::from_scopes(scopes.iter().map(|s| Scope::parse(s).unwrap())),
            ..crate::record::tests_support::record("key_1", OrgId::from("org_1"))
        };
        let g = Grant::of(&record);
        assert_eq!((g.environment, g.limits, g.credits), (Environment::Live, Limits::default(), Credits::Unlimited));
        g
    }

    #[test]
    fn equal_grants_are_shared_and_dropped_when_unused() {
        let grants = Grants::default();
        let (a, added) = grants.intern(grant("usr_a", &["keys:read", "keys:verify"]));
        assert!(added);
        let (b, added) = grants.intern(grant("usr_a", &["keys:read", "keys:verify"]));
        assert!(!added, "an equal grant is shared");
        assert!(Arc::ptr_eq(&a, &b));
        let (c, added) = grants.intern(grant("usr_b", &["keys:read", "keys:verify"]));
        assert!(added, "another owner is another grant");
        let (d, added) = grants.intern(grant("usr_a", &["keys:read"]));
        assert!(added, "other scopes are another grant");
        assert_eq!(grants.len(), 3);

        assert_eq!(grants.sweep(), 0, "every grant is in use");
        drop((a, c));
        assert_eq!(grants.sweep(), 1, "usr_b's grant is unused; usr_a's is still held by b");
        drop((b, d));
        assert_eq!(grants.sweep(), 2);
        assert_eq!(grants.len(), 0);
    }
}
