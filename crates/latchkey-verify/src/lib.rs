//! The verification hot path.
//!
//! Every request to latchkey, every `POST /v1/keys/verify` and every
//! forward-auth check goes through [`KeyVerifier`]. The stages, cheapest
//! first, stopping at the first refusal:
//!
//! 1. **Format and checksum** ([`PlainKey::hash_presented`]): a malformed string or a
//!    typo is `MALFORMED` from CPU work alone, before any lookup.
//! 2. **Hash**: SHA-256 of the key, the only form ever stored.
//! 3. **Cache**: an in-memory map from hash to the key's record, holding
//!    *negative* entries for unknown hashes too, so a flood of well-formed
//!    random keys does not reach the database either. Entries live at most
//!    `cache_ttl`; a record used after half to nine tenths of its life
//!    (spread by its hash, so keys loaded together are not all re-read at
//!    once) is re-read in the background while the cached one keeps
//!    answering, so busy keys never wait for storage; due keys are read
//!    together, up to 200 per query. Every mutation made through this node evicts the
//!    entry ([`KeyVerifier::invalidate`]) so the very next verify sees it,
//!    and a read that raced with a mutation is not cached. Changes made
//!    elsewhere (other nodes, other processes) arrive as invalidations
//!    (PostgreSQL `NOTIFY`) and through the key change log, which storage
//!    triggers fill and every node reads each second
//!    ([`KeyVerifier::follow_changes`]); the TTL (5 minutes) only bounds
//!    what escapes both. At start-up [`KeyVerifier::warm`] loads every
//!    usable key.
//! 4. **Storage**: on a miss, one indexed lookup by hash; the result (found
//!    or not) is cached.
//! 5. **State**: revoked, expired, owner gone → `REVOKED`, `EXPIRED`,
//!    `DISABLED` (decided against `now`, so expiry needs no invalidation).
//! 6. **Grants** ([`KeyVerifier::check`] only): wrong organization →
//!    `NOT_FOUND`; a required scope or another project → `INSUFFICIENT_SCOPE`.
//! 7. **Rate limits**: per-key GCRA in memory ([`ratelimit`]) →
//!    `RATE_LIMITED`.
//! 8. **Credits**: for keys with a credit budget, one atomic decrement in
//!    storage (exact under any concurrency, refilled per day or month) →
//!    `USAGE_EXCEEDED`. Keys without credits never write on this path. A
//!    rotated key in its grace period spends from its successor's balance
//!    (storage follows the rotation chain), so the two share one budget.
//!
//! The result is a typed [`Outcome`], never an error; only storage failures
//! are errors. `lastUsedAt` and per-day counts by outcome are not written per
//! request: they are added up in memory and written in one transaction per
//! flush interval and at shutdown ([`KeyVerifier::flush`]).
//!
//! Concurrency: the cache is a sharded concurrent map (quick_cache, S3-FIFO
//! eviction at capacity); the limiter is sharded
//! by key; pending usage sits behind one mutex held for a map update (keyed
//! by the record's inline hash, with the day's counts inline). A periodic
//! flush writes at most [`FLUSH_BUDGET`] keys, in key-id order (a sweep), in small paced
//! chunks, so write-behind never stalls verification. Two
//! concurrent misses for the same hash may both query storage; both get the
//! same answer. Reads from storage carry the invalidation epoch they started
//! in and are dropped instead of cached if any invalidation happened
//! meanwhile, so a revocation can never be overwritten by an older read.

pub mod ratelimit;
pub mod shared_limits;

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use latchkey_core::time_fmt::{Millis, day_string, epoch_day, start_of_day, start_of_month};
use latchkey_core::{IssuedKey, KeyHash, KeyState, PlainKey, Scope};
use latchkey_store::{ApiKeyRecord, ChangeCursor, Invalidation, RefillInterval, Spend, Store, StoreError, UsageCount};

use crate::ratelimit::{Limits, RateDecision, RateLimiter};
use crate::shared_limits::RedisLimiter;

/// Verifier settings.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// How long a cached record (or a negative entry) may be served without
    /// re-reading storage: the last-resort bound on staleness, should a
    /// change escape both the invalidations and the change log
    /// ([`KeyVerifier::follow_changes`]), which normally show it within a
    /// second.
    pub cache_ttl: Duration,
    /// Most records kept.
    pub cache_capacity: u64,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self { cache_ttl: Duration::from_secs(300), cache_capacity: 1_000_000 }
    }
}

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

/// The identity stage's answer ([`KeyVerifier::verify`]): the key's state at
/// the time asked (`Valid`, `Malformed`, `NotFound`, `Expired`, `Revoked` or
/// `Disabled`), and its record whenever the key exists.
#[derive(Debug, Clone)]
pub struct Identified {
    /// Why the key is or is not usable.
    pub code: KeyState,
    /// The key, when it exists.
    pub key: Option<Arc<CachedKey>>,
}

/// What to check beyond the key's own state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checks<'a> {
    /// Only keys of this organization are found.
    pub org_id: Option<&'a str>,
    /// Scopes the key must hold.
    pub scopes: &'a [Scope],
    /// The project the request is for; a key bound to another project is
    /// refused.
    pub project_id: Option<&'a str>,
    /// Credits to spend when the key has a credit budget (0: do not spend).
    pub cost: i64,
}

/// The full answer of [`KeyVerifier::check`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Why the key is or is not usable.
    pub code: KeyState,
    /// The key, when it exists (and belongs to the asking organization).
    pub key: Option<Arc<CachedKey>>,
    /// The most constraining rate-limit window, for limited keys.
    pub ratelimit: Option<RateDecision>,
    /// Credits left after this request, for keys with a budget.
    pub remaining: Option<i64>,
}

/// Counts of one day by outcome.
type Counts = [u32; KeyState::ALL.len()];

/// Usage not yet written: by key hash (hashing the inline hash of a cached
/// record touches no other memory), and the same keys by id. Flushes sweep
/// the keys in id order, from where the last one stopped: keys made one
/// after another sit side by side in storage, so a chunk of neighbours
/// rewrites a few pages where a chunk of keys taken in any order rewrites a
/// page per key. Each pending key is written once per sweep, so none waits
/// longer than one sweep, as with first in, first out.
#[derive(Debug, Default)]
struct Pending {
    map: HashMap<KeyHash, KeyPending>,
    by_id: BTreeMap<String, KeyHash>,
    /// The id taken last: the sweep goes on after it.
    cursor: Option<String>,
}

impl Pending {
    /// Takes up to `n` keys' usage, the next ones in id order after the
    /// last taken (starting again from the first id at the end).
    fn take(&mut self, n: usize) -> Vec<(KeyHash, KeyPending)> {
        let mut out = Vec::with_capacity(n.min(self.map.len()));
        while out.len() < n {
            let next = self
                .cursor
                .as_deref()
                .and_then(|c| self.by_id.range::<str, _>((Bound::Excluded(c), Bound::Unbounded)).next())
                .or_else(|| self.by_id.first_key_value())
                .map(|(id, hash)| (id.clone(), *hash));
            let Some((id, hash)) = next else { break };
            self.by_id.remove(&id);
            if let Some(p) = self.map.remove(&hash) {
                out.push((hash, p));
            }
            self.cursor = Some(id);
        }
        out
    }

    /// The entry of `hash`, created (and queued) with `make` if absent.
    fn entry(&mut self, hash: KeyHash, make: impl FnOnce() -> KeyPending) -> &mut KeyPending {
        match self.map.entry(hash) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let p = make();
                self.by_id.insert(p.id.clone(), hash);
                v.insert(p)
            }
        }
    }
}

/// Pending writes of one key: last use and counts per day and outcome. The
/// current day's counts sit inline, so counting a verification touches one
/// map slot and no other allocation.
#[derive(Debug)]
struct KeyPending {
    id: String,
    last_used: Option<Millis>,
    /// The newest day counted and its counts.
    day: i64,
    counts: Counts,
    /// Other days not yet written (a flush that spans midnight, or one put
    /// back after a failed write).
    other_days: Vec<(i64, Counts)>,
}

impl KeyPending {
    fn new(id: &str, day: i64) -> Self {
        Self { id: id.to_owned(), last_used: None, day, counts: [0; KeyState::ALL.len()], other_days: Vec::new() }
    }

    /// Adds `counts` for `day`.
    fn add(&mut self, day: i64, counts: &Counts) {
        let slot = if day == self.day {
            &mut self.counts
        } else if day > self.day {
            let older = std::mem::replace(&mut self.counts, [0; KeyState::ALL.len()]);
            self.other_days.push((std::mem::replace(&mut self.day, day), older));
            &mut self.counts
        } else {
            // An older day (rare: a count put back after a failed write).
            let i = match self.other_days.iter().position(|(d, _)| *d == day) {
                Some(i) => i,
                None => {
                    self.other_days.push((day, [0; KeyState::ALL.len()]));
                    self.other_days.len() - 1
                }
            };
            &mut self.other_days[i].1
        };
        slot.iter_mut().zip(counts).for_each(|(a, b)| *a = a.saturating_add(*b));
    }

    /// Every day with its counts.
    fn days(&self) -> impl Iterator<Item = (i64, &Counts)> {
        std::iter::once((self.day, &self.counts)).chain(self.other_days.iter().map(|(d, c)| (*d, c)))
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
struct Records {
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

/// The verifier: cache, negative cache, rate limits, credits and
/// write-behind usage.
pub struct KeyVerifier {
    store: Arc<dyn Store>,
    records: Records,
    capacity: u64,
    limiter: RateLimiter,
    /// Limits shared across nodes (Redis), if configured; `limiter` is the
    /// fallback while Redis is unreachable.
    shared: Option<RedisLimiter>,
    /// Until when (ms) the next fallback warning is suppressed.
    fallback_warned_until: std::sync::atomic::AtomicI64,
    /// Usage not yet written.
    pending: Mutex<Pending>,
    /// The `lastUsedAt` this node wrote last per key, within the last
    /// [`LAST_USED_PRECISION_MS`]: a busy key's value is rewritten once a
    /// minute, not on every flush.
    last_written: Mutex<HashMap<String, Millis>>,
    meters: Meters,
}

/// The verifier's metrics, registered once: on the hot path each is one
/// atomic add, not a registry lookup. Registered with whatever recorder is
/// installed when the verifier is built (none: they count nowhere).
struct Meters {
    hits: metrics::Counter,
    misses: metrics::Counter,
    outcomes: [metrics::Counter; KeyState::ALL.len()],
    duration: metrics::Histogram,
    rejections: metrics::Counter,
    fallbacks: metrics::Counter,
}

impl Meters {
    fn new() -> Self {
        Self {
            hits: metrics::counter!("latchkey_key_cache_hits_total"),
            misses: metrics::counter!("latchkey_key_cache_misses_total"),
            outcomes: KeyState::ALL.map(|c| metrics::counter!("latchkey_verify_total", "outcome" => c.as_str())),
            duration: metrics::histogram!("latchkey_verify_duration_seconds"),
            rejections: metrics::counter!("latchkey_ratelimit_rejections_total"),
            fallbacks: metrics::counter!("latchkey_ratelimit_fallback_total"),
        }
    }
}

/// Keys whose usage one flush transaction writes. Small on purpose: on
/// SQLite each is a commit on this process's CPU, during which the
/// verifying thread waits. Measured on one core (session 5, keys in any
/// order on the shared pool): 25 keys 0.4–0.6 ms, 250 keys 2–3 ms, which
/// raised the p99 of verify at 64 connections from about 2 to 3–4 ms.
/// Swept in id order, on the usage connection, as one transaction: a chunk
/// of 50 costs 0.2 ms (median; 0.4 ms p90), and half as many chunks as 25
/// each means half as many pauses of the verifying thread.
pub const FLUSH_CHUNK: usize = 50;

/// Keys whose usage one periodic flush writes at most (125 keys a second
/// at the 2 s interval): the write rate, in pages, that usage may cost.
/// With more keys in use, each waits its turn (one sweep over the pending
/// keys in id order) and its counts add up in memory meanwhile.
pub const FLUSH_BUDGET: usize = 250;

/// The periodic flush's pause between chunks: a full budget (5 chunks)
/// is spread over about one second of the two-second interval.
const FLUSH_PAUSE: Duration = Duration::from_millis(200);

/// How often a server reads the key change log
/// ([`KeyVerifier::follow_changes`]): the staleness bound for changes it
/// was not told about.
pub const CHANGE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Change-log entries are kept this long (ms): a node that could not read
/// the log for longer may miss changes until their cache TTL.
pub const CHANGE_LOG_KEEP_MS: Millis = 3_600_000;

/// The change log is pruned every this many polls.
const PRUNE_EVERY_POLLS: u32 = 60;

/// `lastUsedAt` is written at most this often per key (and node).
pub const LAST_USED_PRECISION_MS: Millis = 60_000;

impl std::fmt::Debug for KeyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVerifier").field("cached", &self.records.cache.len()).finish_non_exhaustive()
    }
}

impl KeyVerifier {
    /// A verifier over `store`.
    pub fn new(store: Arc<dyn Store>, config: &VerifierConfig) -> Self {
        let cache = Cache::new(usize::try_from(config.cache_capacity).unwrap_or(usize::MAX));
        Self {
            store,
            records: Records {
                cache: Arc::new(cache),
                epoch: Arc::new(AtomicU64::new(0)),
                ttl: config.cache_ttl,
                rereads: Arc::default(),
            },
            capacity: config.cache_capacity,
            limiter: RateLimiter::new(),
            shared: None,
            fallback_warned_until: std::sync::atomic::AtomicI64::new(0),
            pending: Mutex::default(),
            last_written: Mutex::new(HashMap::new()),
            meters: Meters::new(),
        }
    }

    /// Enforces rate limits through `shared` (Redis), so every node using it
    /// shares one count per key.
    #[must_use]
    pub fn with_shared_limits(mut self, shared: RedisLimiter) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Number of cached records (positive and negative).
    pub fn cached(&self) -> usize {
        self.records.cache.len()
    }

    /// The shared limiter, if any (for readiness checks).
    pub fn shared_limits(&self) -> Option<&RedisLimiter> {
        self.shared.as_ref()
    }

    /// The rate-limit decision for a request of `key_id`: shared (Redis)
    /// when configured and reachable, else this node's own. A Redis failure
    /// never means "no limit": the node limits alone, logs a warning (at
    /// most every 10 s) and counts `latchkey_ratelimit_fallback_total`.
    async fn rate_decision(&self, key_id: &str, limits: Limits, now: Millis) -> Option<RateDecision> {
        if let Some(shared) = &self.shared {
            match shared.check(key_id, limits, now).await {
                Ok(decision) => return decision,
                Err(e) => {
                    self.meters.fallbacks.increment(1);
                    if now >= self.fallback_warned_until.swap(now + 10_000, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "shared rate limits unavailable; limiting on this node alone");
                    }
                }
            }
        }
        self.limiter.check(key_id, limits, now)
    }

    /// Loads every key usable at `now` into the cache (up to its capacity),
    /// page by page, so the first requests after a start do not each wait
    /// for storage. Returns how many were loaded.
    pub async fn warm(&self, now: Millis) -> Result<u64, StoreError> {
        const PAGE: i64 = 1000;
        let mut after: Option<String> = None;
        let mut loaded = 0;
        while loaded < self.capacity {
            let epoch = self.records.epoch();
            let page = self.store.usable_keys(after.as_deref(), PAGE, now).await?;
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
    async fn lookup(&self, hash: KeyHash, now: Instant) -> Result<Option<Arc<CachedKey>>, StoreError> {
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

    /// Stages 1–5: who the key is and whether it is usable at `now`. Does not
    /// count usage or apply limits; see [`KeyVerifier::check`].
    pub async fn verify(&self, presented: &str, now: Millis) -> Result<Identified, StoreError> {
        self.verify_at(presented, now, Instant::now()).await
    }

    /// [`KeyVerifier::verify`] with the monotonic time of the request too
    /// (one clock read serves the cache deadlines and the timing metric).
    async fn verify_at(&self, presented: &str, now: Millis, instant: Instant) -> Result<Identified, StoreError> {
        let Ok(hash) = PlainKey::hash_presented(presented) else {
            return Ok(Identified { code: KeyState::Malformed, key: None });
        };
        let Some(key) = self.lookup(hash, instant).await? else {
            return Ok(Identified { code: KeyState::NotFound, key: None });
        };
        Ok(Identified { code: key.record.status(now), key: Some(key) })
    }

    /// The whole pipeline (stages 1–8) for `presented` at `now`, counting the
    /// outcome in the key's usage.
    pub async fn check(&self, presented: &str, checks: &Checks<'_>, now: Millis) -> Result<Outcome, StoreError> {
        let started = Instant::now();
        let outcome = self.check_inner(presented, checks, now, started).await?;
        self.meters.outcomes[outcome.code.index()].increment(1);
        self.meters.duration.record(started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    async fn check_inner(
        &self,
        presented: &str,
        checks: &Checks<'_>,
        now: Millis,
        started: Instant,
    ) -> Result<Outcome, StoreError> {
        let Identified { mut code, mut key } = self.verify_at(presented, now, started).await?;
        if let (Some(org), Some(k)) = (checks.org_id, &key)
            && k.record.org_id != org
        {
            (code, key) = (KeyState::NotFound, None);
        }
        let mut outcome = Outcome { code, key, ratelimit: None, remaining: None };
        let Some(k) = outcome.key.clone() else {
            return Ok(outcome);
        };
        if outcome.code == KeyState::Valid {
            outcome.code = self.grants(&k.record, checks, now, &mut outcome).await?;
        }
        self.count(&k.record, outcome.code, now);
        Ok(outcome)
    }

    /// Stages 6–8 for a key that is otherwise valid.
    async fn grants(
        &self,
        k: &ApiKeyRecord,
        checks: &Checks<'_>,
        now: Millis,
        out: &mut Outcome,
    ) -> Result<KeyState, StoreError> {
        if !checks.scopes.iter().all(|s| k.allows(s)) {
            return Ok(KeyState::InsufficientScope);
        }
        if let (Some(want), Some(bound)) = (checks.project_id, &k.project_id)
            && want != bound
        {
            return Ok(KeyState::InsufficientScope);
        }
        let limits = Limits {
            per_minute: k.rate_limit_per_minute.and_then(|l| u32::try_from(l).ok()),
            per_day: k.rate_limit_per_day.and_then(|l| u32::try_from(l).ok()),
        };
        if let Some(decision) = self.rate_decision(&k.id, limits, now).await {
            out.ratelimit = Some(decision);
            if !decision.allowed {
                self.meters.rejections.increment(1);
                return Ok(KeyState::RateLimited);
            }
        }
        if checks.cost > 0 && k.remaining.is_some() {
            let period_start = k.refill.map(|r| match r.interval {
                RefillInterval::Daily => start_of_day(now),
                RefillInterval::Monthly => start_of_month(now),
            });
            match self.store.spend_credits(&k.id, checks.cost, now, period_start).await? {
                Spend::Spent(left) => out.remaining = Some(left),
                Spend::Exhausted => {
                    out.remaining = Some(0);
                    return Ok(KeyState::UsageExceeded);
                }
            }
        }
        Ok(KeyState::Valid)
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

    /// Forgets a key's rate-limit state (its limits changed).
    pub fn reset_limits(&self, key_id: &str) {
        self.limiter.forget(key_id);
    }

    /// Notes a verification of a key with its outcome, to be written by the
    /// next flush (`lastUsedAt` for valid ones, daily counts for all).
    pub fn count(&self, key: &ApiKeyRecord, code: KeyState, now: Millis) {
        let day = epoch_day(now);
        let mut one = [0; KeyState::ALL.len()];
        one[code.index()] = 1;
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = pending.entry(key.hash, || KeyPending::new(&key.id, day));
        if code == KeyState::Valid {
            entry.last_used = Some(entry.last_used.map_or(now, |t| t.max(now)));
        }
        entry.add(day, &one);
    }

    /// Writes every pending `lastUsedAt` value and usage count, in chunks of
    /// [`FLUSH_CHUNK`] keys (two statements each; one transaction on SQLite). Returns how many keys'
    /// usage was written. On failure the chunk that failed is put back for
    /// the next attempt (with the rest, which was never taken).
    pub async fn flush(&self) -> Result<usize, StoreError> {
        self.flush_next(usize::MAX, Duration::ZERO).await
    }

    /// Writes the usage of up to `budget` keys, the next ones of the sweep
    /// in id order, pausing `pause` between chunks. SQLite writes on this process's CPU:
    /// a batch of thousands of keys written at once would stall
    /// verification for tens of milliseconds, while small chunks with pauses
    /// keep its latency flat, and the budget bounds the write work per
    /// flush when very many keys are in use (their counts keep adding up in
    /// memory until their turn). Keys are taken one chunk at a time, so a
    /// flush cut short loses at most the chunk in flight.
    pub async fn flush_next(&self, budget: usize, pause: Duration) -> Result<usize, StoreError> {
        let mut left = budget.min(self.pending.lock().unwrap_or_else(PoisonError::into_inner).map.len());
        let mut written = 0;
        while left > 0 {
            let chunk = self.pending.lock().unwrap_or_else(PoisonError::into_inner).take(FLUSH_CHUNK.min(left));
            if chunk.is_empty() {
                break;
            }
            left -= chunk.len();
            if let Err(e) = self.write(&chunk).await {
                self.put_back(chunk);
                return Err(e);
            }
            written += chunk.len();
            if !pause.is_zero() && left > 0 {
                tokio::time::sleep(pause).await;
            }
        }
        Ok(written)
    }

    /// Writes one chunk: `lastUsedAt` (at most once a minute per key), then
    /// the counts.
    async fn write(&self, chunk: &[(KeyHash, KeyPending)]) -> Result<(), StoreError> {
        let last_used: Vec<(String, Millis)> = {
            let written = self.last_written.lock().unwrap_or_else(PoisonError::into_inner);
            chunk
                .iter()
                .filter_map(|(_, p)| p.last_used.map(|t| (&p.id, t)))
                .filter(|(id, t)| written.get(*id).is_none_or(|w| t - w >= LAST_USED_PRECISION_MS))
                .map(|(id, t)| (id.clone(), t))
                .collect()
        };
        let mut counts = Vec::new();
        for (_, p) in chunk {
            for (day, c) in p.days() {
                for code in KeyState::ALL {
                    let n = c[code.index()];
                    if n > 0 {
                        counts.push(UsageCount {
                            key_id: p.id.clone(),
                            day: day_string(day),
                            outcome: code.as_str().to_owned(),
                            count: i64::from(n),
                        });
                    }
                }
            }
        }
        // Re-writing last-used values after a failure here is idempotent,
        // and counts cannot be half-written (one statement, at least).
        self.store.record_key_usage(&last_used, &counts).await?;
        self.last_written.lock().unwrap_or_else(PoisonError::into_inner).extend(last_used);
        Ok(())
    }

    /// Returns an unwritten chunk to the pending map.
    fn put_back(&self, chunk: Vec<(KeyHash, KeyPending)>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (hash, p) in chunk {
            let mine = pending.entry(hash, || KeyPending::new(&p.id, p.day));
            mine.last_used = mine.last_used.max(p.last_used);
            for (day, c) in p.days() {
                mine.add(day, c);
            }
        }
    }

    /// Where the key change log ends now, or `None` (logged) if storage
    /// cannot say. Take it before [`KeyVerifier::warm`], then hand it to
    /// [`KeyVerifier::follow_changes`]: a change committed while warming is
    /// then evicted after it.
    pub async fn change_cursor(&self) -> Option<ChangeCursor> {
        match self.store.key_changes_cursor().await {
            Ok(cursor) => Some(cursor),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the key change log; will retry");
                None
            }
        }
    }

    /// Reads the key change log every `interval` from `cursor` on and evicts
    /// every key it names, whoever changed it (another node whose `NOTIFY`
    /// was lost, another process on the same SQLite file, the admin CLI), so
    /// such changes show within about `interval` instead of the cache TTL.
    /// Deletes log entries older than [`CHANGE_LOG_KEEP_MS`] now and then.
    /// Runs until aborted.
    pub async fn follow_changes(self: Arc<Self>, mut cursor: Option<ChangeCursor>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut polls: u32 = 0;
        let mut failing = false;
        loop {
            tick.tick().await;
            polls = polls.wrapping_add(1);
            let Some(from) = cursor else {
                // No cursor since start-up: what changed meanwhile is unknown.
                cursor = self.change_cursor().await;
                if cursor.is_some() {
                    self.clear();
                }
                continue;
            };
            match self.store.key_changes(from).await {
                Ok((changed, next)) => {
                    failing = false;
                    cursor = Some(next);
                    match changed {
                        Invalidation::Keys(hashes) => hashes.iter().for_each(|h| self.invalidate(h)),
                        Invalidation::All => {
                            tracing::info!("many keys changed at once; dropping every cached key");
                            self.clear();
                        }
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot read the key change log; will retry");
                }
                Err(_) => {}
            }
            if polls.is_multiple_of(PRUNE_EVERY_POLLS) {
                let before = latchkey_core::time_fmt::now_ms() - CHANGE_LOG_KEEP_MS;
                if let Err(e) = self.store.prune_key_changes(before).await {
                    tracing::debug!(error = %e, "could not prune the key change log");
                }
            }
        }
    }

    /// Flushes usage (and sweeps idle rate-limit state) every `interval`
    /// until the returned handle is aborted.
    pub fn spawn_flusher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = this.flush_next(FLUSH_BUDGET, FLUSH_PAUSE).await {
                    tracing::warn!(error = %e, "could not write key usage; will retry");
                }
                let now = latchkey_core::time_fmt::now_ms();
                this.limiter.sweep(now);
                this.last_written
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .retain(|_, w| now - *w < LAST_USED_PRECISION_MS);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flushes sweep pending keys in id order from where the last one
    /// stopped, wrapping around; a key counted again after its turn waits
    /// for the next sweep, so every key is written once per sweep.
    #[test]
    fn flushes_sweep_keys_in_id_order() {
        let mut pending = Pending::default();
        let hash = |id: &str| KeyHash::of(id);
        for id in ["k5", "k1", "k4", "k2", "k3"] {
            pending.entry(hash(id), || KeyPending::new(id, 0));
        }
        let ids = |taken: Vec<(KeyHash, KeyPending)>| taken.into_iter().map(|(_, p)| p.id).collect::<Vec<_>>();
        assert_eq!(ids(pending.take(2)), ["k1", "k2"]);
        // k1 is counted again: it is behind the sweep now.
        pending.entry(hash("k1"), || KeyPending::new("k1", 0));
        assert_eq!(ids(pending.take(2)), ["k3", "k4"]);
        assert_eq!(ids(pending.take(5)), ["k5", "k1"]);
        assert!(pending.take(5).is_empty());
        assert!(pending.map.is_empty() && pending.by_id.is_empty());
    }
}
