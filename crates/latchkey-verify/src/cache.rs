//! Stages 3–4: key records by hash, in memory, with negative entries for
//! unknown hashes; read from storage on a miss, re-read in the background
//! before they expire, evicted on every change (see the [crate
//! documentation](crate) for the rules).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use latchkey_core::KeyHash;
use latchkey_core::id::KeyId;
use latchkey_core::time_fmt::Millis;
use latchkey_store::{ApiKeyRecord, Store, StoreError};

use crate::interner::Grants;
use crate::record::{CachedKey, Grant, SLOT_BYTES};
use crate::{KeyVerifier, VerifierConfig};

/// One cached answer: the key of a hash (or none), until when it is
/// served, and what it weighs. Stored inline in the cache (16 bytes): a
/// lookup copies it out without following another pointer.
#[derive(Debug, Clone)]
struct Entry {
    key: Option<Arc<CachedKey>>,
    /// [`Stamp`]: the deadline and the grant's charge.
    stamp: Stamp,
}

/// An entry's deadline (ms after the cache was made, low 48 bits: 8,900
/// years) and the bytes of the grant its insertion created ([`crate::record`]'s
/// accounting; high 16 bits, in units of 8 bytes, at most 512 KiB).
#[derive(Debug, Clone, Copy)]
struct Stamp(u64);

/// Bits of a [`Stamp`] that hold the deadline.
const DEADLINE_BITS: u32 = 48;

impl Stamp {
    fn new(expires_ms: u64, charge: u64) -> Self {
        let units = charge.div_ceil(8).min(u64::from(u16::MAX));
        Self((units << DEADLINE_BITS) | (expires_ms & ((1 << DEADLINE_BITS) - 1)))
    }

    /// Served until then (ms after the cache was made).
    fn expires_ms(self) -> u64 {
        self.0 & ((1 << DEADLINE_BITS) - 1)
    }

    /// Bytes of the grant charged to the entry.
    fn charge(self) -> u64 {
        (self.0 >> DEADLINE_BITS) * 8
    }
}

impl Entry {
    /// What the entry weighs in the cache's budget: its slot, its record
    /// and the grant it paid for ([`crate::record`]'s accounting). Fixed
    /// for the entry's life, as the cache requires.
    fn weight(&self) -> u64 {
        SLOT_BYTES + self.key.as_deref().map_or(0, CachedKey::own_weight) + self.stamp.charge()
    }
}

/// The cache's weigher: [`Entry::weight`].
#[derive(Debug, Clone, Copy)]
struct Weigh;

impl quick_cache::Weighter<KeyHash, Entry> for Weigh {
    fn weight(&self, _hash: &KeyHash, entry: &Entry) -> u64 {
        entry.weight()
    }
}

type Cache = quick_cache::sync::Cache<KeyHash, Entry, Weigh>;

/// What a cached key with shared parts weighs, for sizing the cache's
/// table from its budget.
const TYPICAL_ENTRY_BYTES: u64 = 192;

/// The cache, the grants its keys share, and the invalidation epoch that
/// guards it.
#[derive(Clone)]
pub(crate) struct Records {
    cache: Arc<Cache>,
    /// Shared parts of the cached keys.
    pub(crate) grants: Arc<Grants>,
    /// Bumped by every invalidation. A storage read is cached only if no
    /// invalidation happened since it started.
    epoch: Arc<AtomicU64>,
    /// How long an entry is served.
    ttl: Duration,
    /// What entries' deadlines count from.
    born: Instant,
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
    /// An empty cache of `config`'s budget and TTL.
    pub(crate) fn new(config: &VerifierConfig) -> Self {
        let items = usize::try_from(config.cache_bytes / TYPICAL_ENTRY_BYTES).unwrap_or(usize::MAX).max(1);
        let cache = Cache::with_weighter(items, config.cache_bytes, Weigh);
        Self {
            cache: Arc::new(cache),
            grants: Arc::default(),
            epoch: Arc::new(AtomicU64::new(0)),
            ttl: config.cache_ttl,
            born: Instant::now(),
            rereads: Arc::default(),
        }
    }

    /// `at` as ms after the cache was made.
    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.born).as_millis()).unwrap_or(u64::MAX)
    }

    /// The compact form of `record` with its grant interned, and the bytes
    /// of the grant if this created it (charged to the entry that caches it).
    fn compact(&self, record: &ApiKeyRecord) -> (Arc<CachedKey>, u64) {
        let (grant, added) = self.grants.intern(Grant::of(record));
        let charge = if added { grant.weight() } else { 0 };
        (Arc::new(CachedKey::new(record, grant)), charge)
    }

    /// Caches `record` (or its absence) for `hash` unless an invalidation
    /// happened since `epoch`; returns the compact record either way.
    fn insert_record_if_current(
        &self,
        epoch: u64,
        hash: KeyHash,
        record: Option<&ApiKeyRecord>,
    ) -> Option<Arc<CachedKey>> {
        let (key, charge) = match record.map(|r| self.compact(r)) {
            Some((key, charge)) => (Some(key), charge),
            None => (None, 0),
        };
        self.insert_if_current(epoch, hash, key.clone(), charge);
        key
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
                    let found: HashMap<KeyHash, ApiKeyRecord> = found.into_iter().map(|k| (k.hash, k)).collect();
                    // A hash not found any more is a deleted key: cached as unknown.
                    for hash in &batch {
                        self.insert_record_if_current(epoch, *hash, found.get(hash));
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

    /// Caches `key` for `hash` (its insertion created a grant of `charge`
    /// bytes) unless an invalidation happened since `epoch` (the read may
    /// predate a mutation).
    fn insert_if_current(&self, epoch: u64, hash: KeyHash, key: Option<Arc<CachedKey>>, charge: u64) {
        if self.epoch() == epoch {
            let expires = self.ms(Instant::now()).saturating_add(duration_ms(self.ttl));
            self.cache.insert(hash, Entry { key, stamp: Stamp::new(expires, charge) });
            // An invalidation between the check and the insert wins: it
            // bumped the epoch first, so drop what may be stale.
            if self.epoch() != epoch {
                self.cache.remove(&hash);
            }
        }
    }

    /// The bytes the cache may hold.
    fn budget(&self) -> u64 {
        self.cache.capacity()
    }
}

/// `d` in whole ms.
fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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

/// How far back the warm-up looks for used keys (ms): keys used in the last
/// hour are likely used again soon; the others load on first use.
pub const WARM_WINDOW_MS: Millis = 3_600_000;

/// How long the server's warm-up pauses after each page once it has run
/// for [`WARM_AT_ONCE`], in multiples of the time the page took: it then
/// takes at most a tenth of the time. Loaded all at once, a million
/// recently used keys' 130,000–275,000 took 7–16 s of a loaded core, and
/// requests ran at 65–80 % of their rate meanwhile (`bench/scale.sh`,
/// restart under load; bench/RESULTS.md).
pub const WARM_PAUSE: u32 = 9;

/// How long the warm-up loads without pausing: ten thousand keys, all of
/// a small node's, load well within it (paced from the start, a 10,000-key
/// node took 3–5 s to reach its rate instead of 1–2).
pub const WARM_AT_ONCE: Duration = Duration::from_secs(1);

/// The warm-up stops loading at this share of the budget (in 1/16ths), so
/// that it never evicts what it loaded first (the most recently used).
const WARM_FILL_SIXTEENTHS: u64 = 15;

impl KeyVerifier {
    /// Number of cached records (positive and negative).
    pub fn cached(&self) -> usize {
        self.records.cache.len()
    }

    /// Bytes the cached records weigh in the cache's budget
    /// ([`crate::record`]'s accounting).
    pub fn cached_bytes(&self) -> u64 {
        self.records.cache.weight()
    }

    /// The cache's budget in bytes.
    pub fn cache_budget(&self) -> u64 {
        self.records.budget()
    }

    /// Number of shared grants held for the cached keys.
    pub fn shared_grants(&self) -> usize {
        self.records.grants.len()
    }

    /// Loads the keys used in the [`WARM_WINDOW_MS`] before `now` and still
    /// usable at `now`, most recently used first (by ten-minute buckets),
    /// until the cache is nearly full (15/16 of its budget), so that the
    /// first requests after a start do not each wait for storage. Pages seek
    /// on `api_keys_by_last_use_bucket` (from where the last page stopped,
    /// never from the start). Keys not
    /// loaded load on first use. Returns how many were loaded.
    ///
    /// After its first [`WARM_AT_ONCE`], it pauses after each page `pause`
    /// times as long as the page took (the server's [`WARM_PAUSE`]): a
    /// restarted node under load loads its most recently used keys at
    /// once (all of a small set), then serves requests first (each miss
    /// reads its own key) and loads the rest in the time they leave.
    pub async fn warm(&self, now: Millis, pause: u32) -> Result<u64, StoreError> {
        const PAGE: u64 = 1000;
        let full = self.records.budget() / 16 * WARM_FILL_SIXTEENTHS;
        let since = now.saturating_sub(WARM_WINDOW_MS);
        let mut before: Option<(Millis, KeyId)> = None;
        let mut loaded = 0;
        let begun = Instant::now();
        loop {
            let room = full.saturating_sub(self.cached_bytes()) / TYPICAL_ENTRY_BYTES;
            let limit = PAGE.min(room);
            if limit == 0 {
                break;
            }
            let started = Instant::now();
            let epoch = self.records.epoch();
            let after = before.as_ref().map(|(t, id)| (*t, id));
            let page = self.store.recently_used_keys(since, after, i64::try_from(limit).unwrap_or(0), now).await?;
            let last_page = (page.len() as u64) < limit;
            before = page.last().map(|k| (k.last_used_at.unwrap_or(since), k.id.clone()));
            for k in &page {
                loaded += 1;
                self.records.insert_record_if_current(epoch, k.hash, Some(k));
            }
            if last_page {
                break;
            }
            if pause > 0 && begun.elapsed() >= WARM_AT_ONCE {
                tokio::time::sleep(started.elapsed() * pause).await;
            }
        }
        Ok(loaded)
    }

    /// The cached answer for `hash`, reading storage on a miss. A record
    /// past its refresh point ([`refresh_delay`]) is re-read in the
    /// background (queued once, read with other due keys by one task,
    /// [`Records::reread`]) while this one answers.
    pub(crate) async fn lookup(&self, hash: KeyHash, now: Instant) -> Result<Option<Arc<CachedKey>>, StoreError> {
        let now_ms = self.records.ms(now);
        if let Some(entry) = self.records.cache.get(&hash).filter(|e| now_ms < e.stamp.expires_ms()) {
            self.meters.hits.increment(1);
            let ttl = duration_ms(self.records.ttl);
            let refresh_at =
                entry.stamp.expires_ms().saturating_sub(ttl) + duration_ms(refresh_delay(self.records.ttl, &hash));
            if entry.key.is_some()
                && now_ms >= refresh_at
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
                && self.records.queue_reread(hash)
            {
                runtime.spawn(self.records.clone().reread(Arc::clone(&self.store)));
            }
            return Ok(entry.key);
        }
        self.meters.misses.increment(1);
        let epoch = self.records.epoch();
        let loaded = self.store.find_key_by_hash(&hash).await?;
        Ok(self.records.insert_record_if_current(epoch, hash, loaded.as_ref()))
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

    /// Drops the shared grants no cached key uses any more; returns how
    /// many. The change-log follower runs it every few seconds.
    pub fn sweep_grants(&self) -> usize {
        self.records.grants.sweep()
    }
}

#[cfg(test)]
mod tests {
    use latchkey_core::id::{KeyId, OrgId, UserId};
    use latchkey_core::{Role, Scope, ScopeSet};

    use super::*;
    use crate::record::tests_support::record;

    /// A key of `usr_01jf…` in `org_01jf…` with three scopes, as latchkey
    /// mints them (ids of 30 characters).
    fn three_scopes() -> ApiKeyRecord {
        ApiKeyRecord {
            owner_user_id: Some(UserId::new()),
            owner_role: Some(Role::Member),
            scopes: ScopeSet::from_scopes(["keys:read", "keys:verify", "projects:*"].map(|s| Scope::parse(s).unwrap())),
            expires_at: Some(1_900_000_000_000),
            ..record(&KeyId::new(), OrgId::new())
        }
    }

    fn records(mib: u64) -> Records {
        Records::new(&VerifierConfig { cache_bytes: mib << 20, ..VerifierConfig::default() })
    }

    /// The weight of an entry as the cache's weigher computes it.
    fn weigh(records: &Records, hash: &KeyHash) -> u64 {
        let entry = records.cache.get(hash).unwrap();
        quick_cache::Weighter::weight(&Weigh, hash, &entry)
    }

    /// A key with three scopes weighs at most 200 bytes, slot included,
    /// once its grant is shared (the first key of a grant pays for it);
    /// a negative entry weighs its slot.
    #[test]
    fn a_cached_key_with_three_scopes_weighs_at_most_200_bytes() {
        let records = records(1);
        let first = three_scopes();
        let second = ApiKeyRecord { id: KeyId::new(), hash: KeyHash::of("second"), ..first.clone() };
        records.insert_record_if_current(0, first.hash, Some(&first));
        records.insert_record_if_current(0, second.hash, Some(&second));
        let shared = weigh(&records, &second.hash);
        assert!(shared <= 200, "{shared} bytes");
        assert_eq!(shared, SLOT_BYTES + 80);
        let paid = weigh(&records, &first.hash);
        let grant = records.cache.get(&first.hash).unwrap().key.unwrap().grant().weight();
        assert_eq!(paid, shared + grant.div_ceil(8) * 8, "the first key pays for the grant");
        assert!(grant < 1_000, "{grant} bytes");
        records.insert_record_if_current(0, KeyHash::of("unknown"), None);
        assert_eq!(weigh(&records, &KeyHash::of("unknown")), SLOT_BYTES);
        assert_eq!(records.cache.weight(), paid + shared + SLOT_BYTES);
    }

    /// [`SLOT_BYTES`] covers what the cache itself allocates per entry (its
    /// slots, ghost slots and table, by its own count) once it is full and
    /// evicting.
    #[test]
    fn the_slot_estimate_covers_the_cache_own_memory() {
        let records = records(4);
        let template = three_scopes();
        for i in 0..80_000_u32 {
            let key = ApiKeyRecord { id: KeyId::new(), hash: KeyHash::of(&i.to_string()), ..template.clone() };
            records.insert_record_if_current(0, key.hash, Some(&key));
        }
        assert!(records.cache.weight() <= records.budget());
        let used = records.cache.memory_used();
        let per_entry = (used.entries + used.map) / records.cache.len();
        assert!(per_entry as u64 <= SLOT_BYTES, "{per_entry} bytes per entry");
    }

    #[test]
    fn stamps_keep_the_deadline_and_the_charge() {
        let stamp = Stamp::new(123_456_789, 1_001);
        assert_eq!((stamp.expires_ms(), stamp.charge()), (123_456_789, 1_008));
        assert_eq!(Stamp::new(5, 0).charge(), 0);
        assert_eq!(Stamp::new(5, u64::MAX).charge(), u64::from(u16::MAX) * 8);
    }
}
