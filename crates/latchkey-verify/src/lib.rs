//! The verification hot path.
//!
//! Every request to latchkey, and every `verify` call from the platform's
//! services, goes through [`KeyVerifier::verify`]. Its stages:
//!
//! 1. **Format and checksum** ([`PlainKey::parse`]): a malformed string or a
//!    typo is answered `Malformed` from CPU work alone, before any lookup.
//! 2. **Hash**: SHA-256 of the key, the only form ever stored.
//! 3. **Cache**: an in-memory map from hash to the key's record, holding
//!    *negative* entries for unknown hashes too, so a flood of well-formed
//!    random keys does not reach the database either. Entries live at most
//!    `cache_ttl`; every mutation made through this node evicts the entry
//!    ([`KeyVerifier::invalidate`]) so the very next verify sees it.
//! 4. **Storage**: on a miss, one indexed lookup by hash; the result (found
//!    or not) is cached.
//! 5. **Verdict**: the record's state at `now` becomes a typed [`Verdict`]
//!    (`Valid`, `Revoked`, `Expired`, `Disabled`, …), never an error; only
//!    storage failures are errors.
//!
//! `lastUsedAt` is not written per request: [`KeyVerifier::record_use`] puts
//! the time in a map, and a background task ([`KeyVerifier::flush`]) writes
//! the map in one transaction per interval and at shutdown.
//!
//! Concurrency: the cache is a lock-free concurrent map (moka); the usage map
//! is a mutex held for one insert. Two concurrent misses for the same hash
//! may both query storage; both get the same answer.

pub mod ratelimit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, PlainKey};
use latchkey_store::{ApiKeyRecord, KeyStatus, Store, StoreError};

/// Verifier settings.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// How long a cached record (or a negative entry) may be served without
    /// re-reading storage. Bounds staleness for changes made by other
    /// processes.
    pub cache_ttl: Duration,
    /// Most records kept.
    pub cache_capacity: u64,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self { cache_ttl: Duration::from_secs(30), cache_capacity: 1_000_000 }
    }
}

/// The outcome of verifying a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Usable.
    Valid(Arc<ApiKeyRecord>),
    /// Not a well-formed key, or its checksum fails.
    Malformed,
    /// Well-formed, but no such key.
    NotFound,
    /// Past its expiry.
    Expired(Arc<ApiKeyRecord>),
    /// Revoked.
    Revoked(Arc<ApiKeyRecord>),
    /// Its owner is no longer a member.
    Disabled(Arc<ApiKeyRecord>),
}

impl Verdict {
    /// The wire code (`VALID`, `NOT_FOUND`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Valid(_) => "VALID",
            Self::Malformed => "MALFORMED",
            Self::NotFound => "NOT_FOUND",
            Self::Expired(_) => "EXPIRED",
            Self::Revoked(_) => "REVOKED",
            Self::Disabled(_) => "DISABLED",
        }
    }
}

/// The verifier: cache, negative cache and write-behind usage.
pub struct KeyVerifier {
    store: Arc<dyn Store>,
    cache: moka::sync::Cache<KeyHash, Option<Arc<ApiKeyRecord>>>,
    last_used: Mutex<HashMap<String, Millis>>,
}

impl std::fmt::Debug for KeyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVerifier").field("cached", &self.cache.entry_count()).finish_non_exhaustive()
    }
}

impl KeyVerifier {
    /// A verifier over `store`.
    pub fn new(store: Arc<dyn Store>, config: &VerifierConfig) -> Self {
        let cache =
            moka::sync::Cache::builder().max_capacity(config.cache_capacity).time_to_live(config.cache_ttl).build();
        Self { store, cache, last_used: Mutex::new(HashMap::new()) }
    }

    /// Verifies a presented key at time `now`.
    pub async fn verify(&self, presented: &str, now: Millis) -> Result<Verdict, StoreError> {
        let Ok(key) = PlainKey::parse(presented) else {
            return Ok(Verdict::Malformed);
        };
        let hash = key.hash();
        let record = match self.cache.get(&hash) {
            Some(hit) => hit,
            None => {
                let loaded = self.store.find_key_by_hash(&hash).await?.map(Arc::new);
                self.cache.insert(hash, loaded.clone());
                loaded
            }
        };
        let Some(record) = record else {
            return Ok(Verdict::NotFound);
        };
        Ok(match record.status(now) {
            KeyStatus::Active => Verdict::Valid(record),
            KeyStatus::Expired => Verdict::Expired(record),
            KeyStatus::Revoked => Verdict::Revoked(record),
            KeyStatus::Disabled => Verdict::Disabled(record),
        })
    }

    /// Evicts a key's cached record; call after every mutation of the key.
    pub fn invalidate(&self, hash: &KeyHash) {
        self.cache.invalidate(hash);
    }

    /// Evicts everything (e.g. after a membership change).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }

    /// Notes a successful use of a key, to be written by the next flush.
    pub fn record_use(&self, key_id: &str, now: Millis) {
        let mut map = self.last_used.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(key_id) {
            Some(t) => *t = (*t).max(now),
            None => {
                map.insert(key_id.to_owned(), now);
            }
        }
    }

    /// Writes pending `lastUsedAt` values in one batch. On failure the batch
    /// is put back for the next attempt.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let batch: Vec<(String, Millis)> = {
            let mut map = self.last_used.lock().unwrap_or_else(PoisonError::into_inner);
            map.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        match self.store.record_last_used(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                for (id, at) in batch {
                    self.record_use(&id, at);
                }
                Err(e)
            }
        }
    }

    /// Flushes usage every `interval` until the returned handle is aborted.
    pub fn spawn_flusher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = this.flush().await {
                    tracing::warn!(error = %e, "could not write key usage; will retry");
                }
            }
        })
    }
}
