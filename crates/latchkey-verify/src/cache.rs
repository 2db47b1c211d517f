//! Stages 3–4: key records by hash, in memory, with negative entries for
//! unknown hashes; read from storage on a miss, re-read in the background
//! before they expire, evicted on every change (see the [crate
//! documentation](crate) for the rules).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, KeyId};
use latchkey_store::{ApiKeyRecord, Store, StoreError};

use crate::{KeyVerifier, VerifierConfig};

/// A key as the cache holds it: the record storage returned, and what is
/// rendered from it once and kept for as long as the entry lives. One
/// allocation per cached key, shared by every answer that names it; the
/// record itself stays plain data.
#[derive(Debug)]
pub struct CachedKey {
    /// The stored record.
    pub record: ApiKeyRecord,
    /// The key's identity as a verify answer writes it (`"keyId":…` to
    /// `"expiresAt":…`), rendered by the server on the first verification
    /// that answers with it.
    pub verify_json: Memo,
}

impl CachedKey {
    /// An entry for `record`, with nothing rendered yet.
    pub fn new(record: ApiKeyRecord) -> Self {
        Self { record, verify_json: Memo::default() }
    }
}

/// A text computed on first use and kept.
#[derive(Default)]
pub struct Memo(std::sync::OnceLock<Box<str>>);

impl Memo {
    /// The text, computed by `make` if this is its first use.
    pub fn get_or_init(&self, make: impl FnOnce() -> Box<str>) -> &str {
        self.0.get_or_init(make)
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "Memo(set)" } else { "Memo(empty)" })
    }
}

/// One cached answer: the key of a hash (or none) and its deadlines.
/// Stored inline in the cache: a lookup copies it out without following
/// another pointer.
#[derive(Debug, Clone)]
struct Entry {
    key: Option<Arc<CachedKey>>,
    /// Served until then; a lookup after it reads storage.
    expires: Instant,
    /// From then on a lookup also starts a background re-read.
    refresh_at: Instant,
}

type Cache = quick_cache::sync::Cache<KeyHash, Entry>;

/// The cache and the invalidation epoch that guards it.
#[derive(Clone)]
pub(crate) struct Records {
    cache: Arc<Cache>,
    /// Bumped by every invalidation. A storage read is cached only if no
    /// invalidation happened since it started.
    epoch: Arc<AtomicU64>,
    /// How long an entry is served.
    ttl: Duration,
    /// Hashes due for a background re-read.
    rereads: Arc<Mutex<Rereads>>,
}

/// Background re-reads: hashes queue up and one task reads them together,
/// up to [`REREAD_BATCH`] per query. One storage round trip (and, on
/// SQLite, one wake-up of its thread) per batch instead of per key: with
/// 10,000 keys in use, about 500 single-key reads a second became about
/// twenty queries.
#[derive(Default)]
struct Rereads {
    /// Queued or being read (each hash once).
    pending: std::collections::HashSet<KeyHash>,
    /// Queued, in order.
    queue: Vec<KeyHash>,
    /// Whether a task is draining the queue.
    reading: bool,
}

/// Hashes read by one re-read query at most.
const REREAD_BATCH: usize = 200;

/// How long the re-read task lets due hashes gather before its first query.
const REREAD_GATHER: Duration = Duration::from_millis(50);

impl Records {
    /// An empty cache of `config`'s capacity and TTL.
    pub(crate) fn new(config: &VerifierConfig) -> Self {
        let cache = Cache::new(usize::try_from(config.cache_capacity).unwrap_or(usize::MAX));
        Self {
            cache: Arc::new(cache),
            epoch: Arc::new(AtomicU64::new(0)),
            ttl: config.cache_ttl,
            rereads: Arc::default(),
        }
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Queues `hash` for a re-read unless it is queued or being read
    /// already. True if no task is draining the queue: the caller starts
    /// one ([`Records::reread`]).
    fn queue_reread(&self, hash: KeyHash) -> bool {
        let mut r = self.rereads.lock().unwrap_or_else(PoisonError::into_inner);
        if !r.pending.insert(hash) {
            return false;
        }
        r.queue.push(hash);
        !std::mem::replace(&mut r.reading, true)
    }

    /// Drains the re-read queue, a batch per query, then stops. A failed
    /// query drops its batch: those keys are queued again on their next use.
    async fn reread(self, store: Arc<dyn Store>) {
        tokio::time::sleep(REREAD_GATHER).await;
        loop {
            let batch: Vec<KeyHash> = {
                let mut r = self.rereads.lock().unwrap_or_else(PoisonError::into_inner);
                if r.queue.is_empty() {
                    r.reading = false;
                    return;
                }
                let n = r.queue.len().min(REREAD_BATCH);
                r.queue.drain(..n).collect()
            };
            let epoch = self.epoch();
            match store.find_keys_by_hashes(&batch).await {
                Ok(found) => {
                    let mut found: HashMap<KeyHash, ApiKeyRecord> = found.into_iter().map(|k| (k.hash, k)).collect();
                    // A hash not found any more is a deleted key: cached as unknown.
                    for hash in &batch {
                        self.insert_if_current(epoch, *hash, found.remove(hash).map(|k| Arc::new(CachedKey::new(k))));
                    }
                }
                Err(e) => tracing::warn!(error = %e, keys = batch.len(), "could not re-read cached keys; will retry"),
            }
            let mut r = self.rereads.lock().unwrap_or_else(PoisonError::into_inner);
            for hash in &batch {
                r.pending.remove(hash);
            }
        }
    }

    /// Caches `key` for `hash` unless an invalidation happened since
    /// `epoch` (the read may predate a mutation).
    fn insert_if_current(&self, epoch: u64, hash: KeyHash, key: Option<Arc<CachedKey>>) {
        if self.epoch() == epoch {
            let now = Instant::now();
            let entry = Entry { key, expires: now + self.ttl, refresh_at: now + refresh_delay(self.ttl, &hash) };
            self.cache.insert(hash, entry);
            // An invalidation between the check and the insert wins: it
            // bumped the epoch first, so drop what may be stale.
            if self.epoch() != epoch {
                self.cache.remove(&hash);
            }
        }
    }
}

/// When a cached record is re-read: somewhere between half and nine tenths
/// of the TTL, spread by the key's hash. Keys loaded together (the warm-up
/// loads them all at once) are then re-read spread over a third of the TTL,
/// not in one burst of storage reads that would stall verification.
fn refresh_delay(ttl: Duration, hash: &KeyHash) -> Duration {
    let b = hash.as_bytes();
    let spread = f64::from(u16::from_le_bytes([b[0], b[1]])) / f64::from(u16::MAX);
    ttl.mul_f64(0.5 + 0.4 * spread)
}

impl KeyVerifier {
    /// Number of cached records (positive and negative).
    pub fn cached(&self) -> usize {
        self.records.cache.len()
    }

    /// Loads every key usable at `now` into the cache (up to its capacity),
    /// page by page, so the first requests after a start do not each wait
    /// for storage. Returns how many were loaded.
    pub async fn warm(&self, now: Millis) -> Result<u64, StoreError> {
        const PAGE: i64 = 1000;
        let mut after: Option<KeyId> = None;
        let mut loaded = 0;
        while loaded < self.capacity {
            let epoch = self.records.epoch();
            let page = self.store.usable_keys(after.as_ref(), PAGE, now).await?;
            let full = page.len() as i64 == PAGE;
            after = page.last().map(|k| k.id.clone());
            for k in page {
                loaded += 1;
                self.records.insert_if_current(epoch, k.hash, Some(Arc::new(CachedKey::new(k))));
            }
            if !full {
                break;
            }
        }
        Ok(loaded)
    }

    /// The cached answer for `hash`, reading storage on a miss. A record
    /// past its refresh point ([`refresh_delay`]) is re-read in the
    /// background (queued once, read with other due keys by one task,
    /// [`Records::reread`]) while this one answers.
    pub(crate) async fn lookup(&self, hash: KeyHash, now: Instant) -> Result<Option<Arc<CachedKey>>, StoreError> {
        if let Some(entry) = self.records.cache.get(&hash).filter(|e| now < e.expires) {
            self.meters.hits.increment(1);
            if entry.key.is_some()
                && now >= entry.refresh_at
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
                && self.records.queue_reread(hash)
            {
                runtime.spawn(self.records.clone().reread(Arc::clone(&self.store)));
            }
            return Ok(entry.key);
        }
        self.meters.misses.increment(1);
        let epoch = self.records.epoch();
        let loaded = self.store.find_key_by_hash(&hash).await?.map(|k| Arc::new(CachedKey::new(k)));
        self.records.insert_if_current(epoch, hash, loaded.clone());
        Ok(loaded)
    }

    /// Evicts a key's cached record and its rate-limit state; call after
    /// every mutation of the key.
    pub fn invalidate(&self, hash: &KeyHash) {
        self.records.epoch.fetch_add(1, Ordering::AcqRel);
        self.records.cache.remove(hash);
    }

    /// Evicts every cached record (positive and negative): what a node does
    /// when it may have missed invalidations from other nodes.
    pub fn clear(&self) {
        self.records.epoch.fetch_add(1, Ordering::AcqRel);
        self.records.cache.clear();
    }
}
