//! The verifier: its settings, its state, and the pipeline a presented key
//! goes through (stages 1–2 and 5–8 of the [crate documentation](crate);
//! the cache of stages 3–4 is `cache.rs`). The same stages run read-only
//! for "explain" ([`KeyVerifier::peek`]): the rate limits and credits are
//! read instead of spent, and nothing is counted.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_core::imported::{Presented, classify};
use latchkey_core::time_fmt::{Millis, start_of_day, start_of_month};
use latchkey_core::{IssuedKey, KeyHash, KeyId, KeyPrefix, KeyState};
use latchkey_store::{RefillInterval, Spend, Store, StoreError};

use crate::cache::Records;
use crate::outcome::{Checks, Identified, Outcome};
use crate::pending::{Pending, Tag};
use crate::ratelimit::{Limits, RateDecision, RateLimiter, RatePeek};
use crate::record::{CachedKey, Credits};
use crate::shared_limits::RedisLimiter;
use crate::usage::{FLUSH_BUDGET, PENDING_KEY_BYTES};

/// Verifier settings.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// How long a cached record (or a negative entry) may be served without
    /// re-reading storage: the last-resort bound on staleness, should a
    /// change escape both the invalidations and the change log
    /// ([`KeyVerifier::follow_changes`]), which normally show it within a
    /// second.
    pub cache_ttl: Duration,
    /// The key cache's budget in bytes, as [`crate::record`] accounts them:
    /// when the cached keys weigh more, the least used are evicted (and load
    /// again from storage on their next use).
    pub cache_bytes: u64,
    /// How many keys' usage may wait to be written before the flusher
    /// hurries (and, past twice as many, spills the excess to the data
    /// directory; `usage.rs`). `None`: the key cache's budget over eight
    /// times [`PENDING_KEY_BYTES`], so pending usage takes at most about a
    /// quarter as much memory as the cache (twice the target, where the
    /// excess is spilled): 83,886 keys at the default 64 MiB.
    pub pending_keys: Option<usize>,
}

/// The key cache's default budget: 64 MiB, about 350,000 keys.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

impl Default for VerifierConfig {
    fn default() -> Self {
        Self { cache_ttl: Duration::from_secs(300), cache_bytes: DEFAULT_CACHE_BYTES, pending_keys: None }
    }
}

/// The verifier: cache, negative cache, rate limits, credits and
/// write-behind usage.
pub struct KeyVerifier {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) records: Records,
    pub(crate) limiter: RateLimiter,
    /// Limits shared across nodes (Redis), if configured; `limiter` is the
    /// fallback while Redis is unreachable.
    pub(crate) shared: Option<RedisLimiter>,
    /// Until when (ms) the next fallback warning is suppressed.
    pub(crate) fallback_warned_until: std::sync::atomic::AtomicI64,
    /// Usage not yet written.
    pub(crate) pending: Pending,
    /// How many keys' usage the flusher aims to hold pending at most
    /// ([`VerifierConfig::pending_keys`]).
    pub(crate) pending_target: usize,
    /// The `lastUsedAt` this node wrote last per key (by hash), within the
    /// last [`LAST_USED_PRECISION_MS`](crate::LAST_USED_PRECISION_MS): a
    /// busy key's value is rewritten once a minute, not on every flush. At
    /// most 65,536 keys (`usage.rs`).
    pub(crate) last_written: Mutex<HashMap<Tag, Millis>>,
    /// Held while usage is taken from `pending` and written (a flush's
    /// chunk, [`KeyVerifier::flush_keys`]), so that usage no longer pending
    /// is stored.
    pub(crate) flushing: tokio::sync::Mutex<()>,
    pub(crate) meters: Meters,
    /// The prefixes latchkey issues keys under ([`KeyVerifier::with_issued_prefixes`]);
    /// empty: every prefix of latchkey's shape.
    issued: Vec<KeyPrefix>,
    /// Whether storage holds imported keys: [`IMPORTED_UNKNOWN`],
    /// [`IMPORTED_NONE`] or [`IMPORTED_SOME`], only ever rising
    /// ([`KeyVerifier::refresh_imported`]). Read first, so that strings of
    /// another format cost one atomic load while no key is imported.
    imported: AtomicU8,
    /// The organizations that hold imported keys, as far as this node
    /// knows (only ever growing): a string of another format presented for
    /// one organization is looked up only if it is one of them.
    importers: Mutex<HashSet<String>>,
}

/// Not asked yet: the first presented string of another format asks
/// storage.
const IMPORTED_UNKNOWN: u8 = 0;
/// No key is imported: strings of another format are `MALFORMED` at once.
const IMPORTED_NONE: u8 = 1;
/// Some key is imported: strings of another format are looked up by their
/// hash (for an organization in [`KeyVerifier::importers`] only, when the
/// organization is known). Kept until the process ends, even if every
/// imported key is deleted: looking up is then merely slower than refusing,
/// never wrong.
const IMPORTED_SOME: u8 = 2;

/// The verifier's metrics, registered once: on the hot path each is one
/// atomic add, not a registry lookup. Registered with whatever recorder is
/// installed when the verifier is built (none: they count nowhere).
pub(crate) struct Meters {
    pub(crate) hits: metrics::Counter,
    pub(crate) misses: metrics::Counter,
    pub(crate) outcomes: [metrics::Counter; KeyState::ALL.len()],
    pub(crate) duration: metrics::Histogram,
    pub(crate) rejections: metrics::Counter,
    pub(crate) fallbacks: metrics::Counter,
    /// Keys with usage not yet written.
    pub(crate) pending: metrics::Gauge,
    /// Keys whose usage a flush wrote.
    pub(crate) flushed: metrics::Counter,
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
            pending: metrics::gauge!("latchkey_usage_pending_keys"),
            flushed: metrics::counter!("latchkey_usage_flushed_keys_total"),
        }
    }
}

impl std::fmt::Debug for KeyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVerifier").field("cached", &self.cached()).finish_non_exhaustive()
    }
}

impl KeyVerifier {
    /// A verifier over `store`.
    pub fn new(store: Arc<dyn Store>, config: &VerifierConfig) -> Self {
        Self {
            store,
            records: Records::new(config),
            limiter: RateLimiter::new(),
            shared: None,
            fallback_warned_until: std::sync::atomic::AtomicI64::new(0),
            pending: Pending::default(),
            pending_target: config
                .pending_keys
                .unwrap_or_else(|| {
                    usize::try_from(config.cache_bytes / 8 / PENDING_KEY_BYTES).unwrap_or(usize::MAX).max(FLUSH_BUDGET)
                })
                .max(1),
            last_written: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
            meters: Meters::new(),
            issued: Vec::new(),
            imported: AtomicU8::new(IMPORTED_UNKNOWN),
            importers: Mutex::new(HashSet::new()),
        }
    }

    /// Names the prefixes latchkey issues keys under (the brand's
    /// `…_live_` and `…_test_`, the profiles' `ak_`, `rk_`, `sk_…`): a
    /// presented string of latchkey's shape with a wrong checksum under one
    /// of them is a typo, `MALFORMED` without a lookup; under another
    /// prefix it may be a key imported from another system. Without this,
    /// every prefix counts as issued.
    #[must_use]
    pub fn with_issued_prefixes(mut self, prefixes: Vec<KeyPrefix>) -> Self {
        self.issued = prefixes;
        self
    }

    /// Notes that `org_id` just imported keys (through this node): strings
    /// of another format presented for it are looked up from now on. Other
    /// nodes learn it from the key change log
    /// ([`KeyVerifier::follow_changes`]).
    pub fn note_imported(&self, org_id: &str) {
        self.importers().insert(org_id.to_owned());
        self.imported.store(IMPORTED_SOME, Ordering::Release);
    }

    /// Asks storage which organizations hold imported keys, and remembers
    /// them (once known, for good): what decides whether strings of another
    /// format are looked up. Whether any does.
    ///
    /// # Errors
    /// Storage failed; nothing is remembered.
    pub async fn refresh_imported(&self) -> Result<bool, StoreError> {
        let orgs = self.store.orgs_with_imported_keys().await?;
        let seen = if orgs.is_empty() { IMPORTED_NONE } else { IMPORTED_SOME };
        self.importers().extend(orgs.into_iter().map(String::from));
        Ok(self.imported.fetch_max(seen, Ordering::AcqRel).max(seen) == IMPORTED_SOME)
    }

    /// The organizations known to hold imported keys.
    fn importers(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.importers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a string of another format presented for `org_id` (`None`:
    /// any organization's key) is to be looked up: some key is imported
    /// (storage is asked the first time), by that organization when it is
    /// named. Never called for a string of latchkey's own format.
    async fn looks_up_foreign(&self, org_id: Option<&str>) -> Result<bool, StoreError> {
        let some = match self.imported.load(Ordering::Acquire) {
            IMPORTED_SOME => true,
            IMPORTED_NONE => false,
            _ => self.refresh_imported().await?,
        };
        Ok(some && org_id.is_none_or(|org| self.importers().contains(org)))
    }

    /// Whether latchkey issues keys under `prefix`.
    fn is_issued(&self, prefix: &str) -> bool {
        self.issued.is_empty() || self.issued.iter().any(|p| p.as_str() == prefix)
    }

    /// Enforces rate limits through `shared` (Redis), so every node using it
    /// shares one count per key.
    #[must_use]
    pub fn with_shared_limits(mut self, shared: RedisLimiter) -> Self {
        self.shared = Some(shared);
        self
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
                Err(e) => self.shared_failed(&e, now),
            }
        }
        self.limiter.check(key_id, limits, now)
    }

    /// [`KeyVerifier::rate_decision`] without the request: the windows of
    /// `key_id` as the next request would find them, from the same limiter
    /// (shared when configured and reachable), nothing counted.
    async fn rate_peek(&self, key_id: &str, limits: Limits, now: Millis) -> Option<RatePeek> {
        if let Some(shared) = &self.shared {
            match shared.peek(key_id, limits, now).await {
                Ok(peek) => return peek,
                Err(e) => self.shared_failed(&e, now),
            }
        }
        self.limiter.peek(key_id, limits, now)
    }

    /// Counts a fallback from the shared limiter to this node's, warning at
    /// most every 10 s.
    fn shared_failed(&self, e: &crate::shared_limits::SharedLimitError, now: Millis) {
        self.meters.fallbacks.increment(1);
        if now >= self.fallback_warned_until.swap(now + 10_000, Ordering::Relaxed) {
            tracing::warn!(error = %e, "shared rate limits unavailable; limiting on this node alone");
        }
    }

    /// `key`'s rate-limit windows as its next request would find them,
    /// nothing counted (`None`: the key has no limits).
    pub async fn rate_windows(&self, key: &CachedKey, now: Millis) -> Option<RatePeek> {
        self.rate_peek(key.id(), key.grant().limits, now).await
    }

    /// The credits `key`'s next request would spend from (its rotation
    /// chain's end's, refilled if a new period began), nothing spent;
    /// `None` for a key without a credit budget.
    pub async fn credit_balance(&self, key: &CachedKey, now: Millis) -> Result<Option<i64>, StoreError> {
        match key.grant().credits {
            Credits::Unlimited => Ok(None),
            Credits::Budget(refill) => self.store.credit_balance(&key.key_id(), period_start(refill, now)).await,
        }
    }

    /// Stages 1–5: who the key is and whether it is usable at `now`. Does not
    /// count usage or apply limits; see [`KeyVerifier::check`].
    pub async fn verify(&self, presented: &str, now: Millis) -> Result<Identified, StoreError> {
        self.verify_at(presented, now, Instant::now()).await
    }

    /// [`KeyVerifier::verify`] with the monotonic time of the request too
    /// (one clock read serves the cache deadlines and the timing metric).
    async fn verify_at(&self, presented: &str, now: Millis, instant: Instant) -> Result<Identified, StoreError> {
        Ok(self.identify(presented, None, now, instant).await?.1)
    }

    /// [`KeyVerifier::verify_at`], with the presented key's hash when it is
    /// well-formed; `org_id` names the organization the key must belong to,
    /// if one does.
    async fn identify(
        &self,
        presented: &str,
        org_id: Option<&str>,
        now: Millis,
        instant: Instant,
    ) -> Result<(Option<KeyHash>, Identified), StoreError> {
        let hash = match classify(presented, |p| self.is_issued(p)) {
            Presented::Issued(hash) => hash,
            Presented::Foreign if self.looks_up_foreign(org_id).await? => KeyHash::of(presented),
            Presented::Foreign | Presented::Refused(_) => {
                return Ok((None, Identified { code: KeyState::Malformed, key: None }));
            }
        };
        let Some(key) = self.lookup(hash, instant).await? else {
            return Ok((Some(hash), Identified { code: KeyState::NotFound, key: None }));
        };
        Ok((Some(hash), Identified { code: key.status(now), key: Some(key) }))
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
        let (hash, Identified { mut code, mut key }) = self.identify(presented, checks.org_id, now, started).await?;
        if let (Some(org), Some(k)) = (checks.org_id, &key)
            && k.org_id() != org
        {
            (code, key) = (KeyState::NotFound, None);
        }
        let mut outcome = Outcome { code, key, ratelimit: None, remaining: None };
        let (Some(k), Some(hash)) = (outcome.key.clone(), hash) else {
            return Ok(outcome);
        };
        if outcome.code == KeyState::Valid {
            outcome.code = self.grants(&k, checks, now, &mut outcome, Mode::Count).await?;
        }
        // Valid with a revocation time: ahead, in a rotation's grace period.
        self.count(hash, k.id(), outcome.code, now, k.revoked_at().is_some());
        Ok(outcome)
    }

    /// What [`KeyVerifier::check`] would answer for `key` (a record as
    /// storage has it, [`CachedKey::standalone`]) at `now`, stages 5–8 run
    /// by the same code, read-only: the rate limits are read and not
    /// counted, the credits read and not spent, and neither the outcome nor
    /// `lastUsedAt` is counted (nor the verify metrics). `ratelimit` is the
    /// most constraining window before the request; `remaining` the credits
    /// before it.
    pub async fn peek(&self, key: Arc<CachedKey>, checks: &Checks<'_>, now: Millis) -> Result<Outcome, StoreError> {
        let code =
            if checks.org_id.is_some_and(|org| key.org_id() != org) { KeyState::NotFound } else { key.status(now) };
        if code == KeyState::NotFound {
            return Ok(Outcome { code, key: None, ratelimit: None, remaining: None });
        }
        let mut outcome = Outcome { code, key: Some(key.clone()), ratelimit: None, remaining: None };
        if code == KeyState::Valid {
            outcome.code = self.grants(&key, checks, now, &mut outcome, Mode::Peek).await?;
        }
        Ok(outcome)
    }

    /// Stages 6–8 for a key that is otherwise valid: counting and spending
    /// ([`Mode::Count`]), or reading what they would find ([`Mode::Peek`]).
    async fn grants(
        &self,
        k: &CachedKey,
        checks: &Checks<'_>,
        now: Millis,
        out: &mut Outcome,
        mode: Mode,
    ) -> Result<KeyState, StoreError> {
        let grant = k.grant();
        if !grant.allows_ip(checks.ip) {
            return Ok(KeyState::IpNotAllowed);
        }
        if !checks.scopes.iter().all(|s| k.allows(s)) || !grant.allows_project(checks.project_id) {
            return Ok(KeyState::InsufficientScope);
        }
        let decision = match mode {
            Mode::Count => self.rate_decision(k.id(), grant.limits, now).await,
            Mode::Peek => self.rate_peek(k.id(), grant.limits, now).await.and_then(|p| p.decision()),
        };
        if let Some(decision) = decision {
            out.ratelimit = Some(decision);
            if !decision.allowed {
                if mode == Mode::Count {
                    self.meters.rejections.increment(1);
                }
                return Ok(KeyState::RateLimited);
            }
        }
        if checks.cost > 0
            && let Credits::Budget(refill) = grant.credits
        {
            let period_start = period_start(refill, now);
            let spend = match mode {
                Mode::Count => self.store.spend_credits(&k.key_id(), checks.cost, now, period_start).await?,
                Mode::Peek => match self.store.credit_balance(&k.key_id(), period_start).await? {
                    Some(balance) if balance >= checks.cost => Spend::Spent(balance),
                    _ => Spend::Exhausted,
                },
            };
            match spend {
                Spend::Spent(left) => out.remaining = Some(left),
                Spend::Exhausted => {
                    out.remaining = Some(0);
                    return Ok(KeyState::UsageExceeded);
                }
            }
        }
        Ok(KeyState::Valid)
    }

    /// Forgets a key's rate-limit state (its limits changed).
    pub fn reset_limits(&self, key_id: &KeyId) {
        self.limiter.forget(key_id);
    }
}

/// Whether [`KeyVerifier::grants`] counts and spends (verify, forward auth)
/// or only reads (explain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Count the request against the rate limits, spend its credits.
    Count,
    /// Read the rate limits and the credit balance; change nothing.
    Peek,
}

/// The start of the credit period a spend at `now` refills for, if the key
/// refills.
fn period_start(refill: Option<RefillInterval>, now: Millis) -> Option<Millis> {
    refill.map(|interval| match interval {
        RefillInterval::Daily => start_of_day(now),
        RefillInterval::Monthly => start_of_month(now),
    })
}
