//! In-memory per-key rate limiting for the verification hot path.
//!
//! # Algorithm: GCRA
//!
//! Each window (per minute, per day) of a key is a GCRA (generic cell rate
//! algorithm) meter. With a limit of `L` requests per period `P`, the
//! *emission interval* is `T = P / L` and the *burst tolerance* is
//! `tau = P - T`. The only state is the *theoretical arrival time* `TAT`: the
//! instant at which the window would be fully replenished. A request at `now`
//! is admitted iff `max(TAT, now) - now <= tau`, and admitting it sets
//! `TAT = max(TAT, now) + T`. Consequences, exactly:
//!
//! * from idle, `L` back-to-back requests are admitted and the `(L + 1)`-th is
//!   refused; one more is admitted each time a further `T` elapses;
//! * over any interval of length `D`, at most `L + floor(D / T)` requests are
//!   admitted: the long-run rate is `L` per `P`, and the largest burst is `L`.
//!   Note this is *not* a fixed or sliding quota of `L` per `P`: a client that
//!   bursts `L` and then sends one request every `T` gets `2L - 1` admitted
//!   within the first period. (`tau = 0` would cap every period at `L`, but
//!   would allow no burst at all.)
//!
//! `T` is generally not a whole number of milliseconds (`60 000 / 7`), so time
//! is kept in exact integer *ticks* of `1/L` ms (`i128`): `T` is `P` ticks and
//! `tau` is `P·L − P` ticks. No rounding ever admits an extra request; the
//! durations reported back are rounded *up* to whole milliseconds.
//!
//! # Two windows
//!
//! A request is admitted only if *every* configured window admits it. Both
//! windows are checked first and charged only if both admit, so a refusal by
//! the per-day window does not consume per-minute capacity, and vice versa.
//! Check and commit happen under one lock, atomically per key.
//!
//! # Concurrency
//!
//! State lives in 64 shards, each a `Mutex<HashMap<String, _>>`, chosen by a
//! hash of the key id. The lock is held only for the lookup, a few integer
//! comparisons and the commit; the reported figures are computed after it is
//! released. Lookups borrow the `&str`; a `String` is allocated only when a
//! key is first seen (or first seen again after [`RateLimiter::sweep`]).
//! Concurrent requests for one key are therefore exact: with a limit of `L`
//! and an idle key, exactly `L` of any number of simultaneous requests are
//! admitted.
//!
//! Time is passed in by the caller (`now_ms`, milliseconds since the Unix
//! epoch); there is no clock here. Callers on different threads may pass
//! slightly out-of-order times; an earlier `now` than a previous call only
//! makes the answer stricter, never more lenient.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};

/// Number of shards; a power of two so the shard is a mask of the hash.
const SHARDS: usize = 64;
/// The period of the per-minute window, in milliseconds.
const MINUTE_MS: i64 = 60_000;
/// The period of the per-day window, in milliseconds.
const DAY_MS: i64 = 86_400_000;
/// Periods by window index: `[per_minute, per_day]`.
const PERIODS_MS: [i64; 2] = [MINUTE_MS, DAY_MS];

/// The rate limits of one key. `None` means that window is not enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Requests per 60 seconds: from idle a burst of this many, then one
    /// every `60 s / per_minute`. `Some(0)` refuses every request.
    pub per_minute: Option<u32>,
    /// Requests per 24 hours: from idle a burst of this many, then one every
    /// `24 h / per_day`. `Some(0)` refuses every request.
    pub per_day: Option<u32>,
}

impl Limits {
    /// The limits in window-index order, `[per_minute, per_day]`.
    fn windows(self) -> [Option<u32>; 2] {
        [self.per_minute, self.per_day]
    }
}

/// The outcome of [`RateLimiter::check`], shaped for the IETF `RateLimit`
/// header fields (`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`)
/// and `Retry-After`.
///
/// `limit`, `remaining` and `reset_ms` describe the *most constraining*
/// window: the one with the fewest `remaining` (ties: the one with the larger
/// `reset_ms`): the policy closest to exhaustion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateDecision {
    /// Whether the request is admitted (and has been counted).
    pub allowed: bool,
    /// The configured limit of the reported window (`RateLimit-Limit`).
    pub limit: u32,
    /// How many more requests the reported window would admit right now,
    /// after this decision (`RateLimit-Remaining`). Counts down `L-1, L-2, …,
    /// 0` over a burst from idle; always 0 for the refusing window.
    pub remaining: u32,
    /// Milliseconds until the reported window is fully replenished, i.e.
    /// until `remaining` would be back at `limit` if no further request
    /// arrived (`RateLimit-Reset`, see [`RateDecision::reset_secs`]). For
    /// GCRA this is `TAT − now`, rounded up to a whole millisecond.
    pub reset_ms: i64,
    /// 0 when admitted; otherwise the milliseconds until a request would next
    /// be admitted by every window (`Retry-After`, see
    /// [`RateDecision::retry_after_secs`]). Retrying after exactly this long
    /// succeeds (if nothing else was admitted meanwhile); any earlier is
    /// refused.
    pub retry_after_ms: i64,
}

impl RateDecision {
    /// [`reset_ms`](Self::reset_ms) in whole seconds, rounded up, for the
    /// `RateLimit-Reset` header (delta-seconds).
    pub fn reset_secs(&self) -> u64 {
        ceil_secs(self.reset_ms)
    }

    /// [`retry_after_ms`](Self::retry_after_ms) in whole seconds, rounded
    /// up, for the `Retry-After` header (delta-seconds).
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after_ms)
    }
}

/// Milliseconds to whole seconds, rounded up; negative counts as 0.
fn ceil_secs(ms: i64) -> u64 {
    u64::try_from(ms).map_or(0, |ms| ms.div_ceil(1000))
}

/// One window of a key's limits as it stands: what a request now would
/// find there, nothing counted ([`RatePeek`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowState {
    /// The window's limit.
    pub limit: u32,
    /// How many requests it would admit now.
    pub remaining: u32,
    /// Milliseconds until it is full again (0: it is).
    pub reset_ms: i64,
}

impl WindowState {
    /// [`reset_ms`](Self::reset_ms) in whole seconds, rounded up (as
    /// `RateLimit-Reset`).
    pub fn reset_secs(&self) -> u64 {
        ceil_secs(self.reset_ms)
    }
}

/// A key's rate-limit windows as they stand, read without counting a
/// request or changing any state ([`RateLimiter::peek`], and the shared
/// limiter's `peek`): what "explain" shows, and what its verdict decides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RatePeek {
    /// The per-minute window, if enforced.
    pub per_minute: Option<WindowState>,
    /// The per-day window, if enforced.
    pub per_day: Option<WindowState>,
    /// Milliseconds until every window would admit a request (0: they do
    /// now).
    pub retry_after_ms: i64,
}

impl RatePeek {
    fn windows(&self) -> impl Iterator<Item = WindowState> {
        self.per_minute.into_iter().chain(self.per_day)
    }

    /// Whether a request now would be admitted: every window has room.
    pub fn allowed(&self) -> bool {
        self.windows().all(|w| w.remaining > 0)
    }

    /// What a request now would be told, before it is counted: the most
    /// constraining window ([`most_constraining`]), and whether it would
    /// be admitted. `None` without windows.
    pub fn decision(&self) -> Option<RateDecision> {
        let w = most_constraining(self.windows())?;
        let allowed = self.allowed();
        Some(RateDecision {
            allowed,
            limit: w.limit,
            remaining: w.remaining,
            reset_ms: w.reset_ms,
            retry_after_ms: if allowed { 0 } else { self.retry_after_ms },
        })
    }
}

/// The window a decision reports, of every limiter: the one with the
/// fewest `remaining`, ties going to the one that resets later (then to
/// the first).
pub(crate) fn most_constraining(windows: impl IntoIterator<Item = WindowState>) -> Option<WindowState> {
    windows.into_iter().min_by_key(|w| (w.remaining, std::cmp::Reverse(w.reset_ms)))
}

/// `ceil(a / b)` for `b > 0`.
fn div_ceil(a: i128, b: i128) -> i128 {
    -((-a).div_euclid(b))
}

/// A window's parameters for one call, computed before taking the lock.
#[derive(Debug, Clone, Copy)]
struct Params {
    /// `L`, at least 1.
    limit: u32,
    /// `P` in milliseconds, which is also `T` in ticks (`1/L` ms).
    period: i128,
    /// `now` in ticks: `now_ms · L`.
    now: i128,
    /// `P` in ticks: `P · L`. A request is admitted iff
    /// `max(TAT, now) + T <= now + horizon`, i.e. `max(TAT, now) - now <= tau`.
    horizon: i128,
}

impl Params {
    fn new(limit: u32, period_ms: i64, now_ms: i64) -> Self {
        let l = i128::from(limit);
        let period = i128::from(period_ms);
        Self { limit, period, now: i128::from(now_ms) * l, horizon: period * l }
    }

    /// What the reported figures are for a window whose TAT is `tat`:
    /// `(remaining, reset_ms, wait_ms)`, `wait_ms` being the time until it
    /// would admit a request.
    fn describe(self, tat: i128) -> (u32, i64, i64) {
        let l = i128::from(self.limit);
        let used = (tat - self.now).max(0);
        let remaining = (self.horizon - used).div_euclid(self.period).clamp(0, l);
        let reset = div_ceil(used, l);
        let wait = div_ceil(used - (self.horizon - self.period), l).max(0);
        (
            u32::try_from(remaining).unwrap_or(0),
            i64::try_from(reset).unwrap_or(i64::MAX),
            i64::try_from(wait).unwrap_or(i64::MAX),
        )
    }
}

/// One window's GCRA state.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    /// The limit the TAT is scaled by; 0 means the window holds no state.
    limit: u32,
    /// Theoretical arrival time in ticks of `1/limit` ms since the epoch.
    tat: i128,
}

/// A key's state: one GCRA window per period.
#[derive(Debug, Clone, Copy, Default)]
struct KeyState {
    windows: [Window; 2],
}

impl KeyState {
    /// Checks every configured window and charges them all only if all admit.
    /// Returns whether admitted and each window's TAT after the decision.
    /// Runs under the shard lock: comparisons and additions only, except
    /// when a window's limit changed (a rescale).
    fn admit(&mut self, params: &[Option<Params>; 2]) -> (bool, [i128; 2]) {
        let mut tats = [0; 2];
        let mut allowed = true;
        for ((w, p), tat) in self.windows.iter_mut().zip(params).zip(&mut tats) {
            let Some(p) = p else {
                *w = Window::default();
                continue;
            };
            if w.limit != p.limit {
                w.rescale(p);
            }
            *tat = w.tat.max(p.now);
            allowed &= *tat + p.period <= p.now + p.horizon;
        }
        if allowed {
            for ((w, p), tat) in self.windows.iter_mut().zip(params).zip(&mut tats) {
                if let Some(p) = p {
                    *tat += p.period;
                    w.tat = *tat;
                }
            }
        }
        (allowed, tats)
    }

    /// Whether every window is fully replenished at `now_ms`, which makes
    /// the state indistinguishable from a fresh one.
    fn is_idle(&self, now_ms: i64) -> bool {
        self.windows.iter().all(|w| w.limit == 0 || w.tat <= i128::from(now_ms) * i128::from(w.limit))
    }
}

impl Window {
    /// Adopts `p.limit`. A fresh window starts idle; an existing one keeps its
    /// TAT as the same instant (rounded up to a tick), i.e. keeps the fraction
    /// of the period already consumed.
    fn rescale(&mut self, p: &Params) {
        self.tat =
            if self.limit == 0 { p.now } else { div_ceil(self.tat * i128::from(p.limit), i128::from(self.limit)) };
        self.limit = p.limit;
    }
}

/// One shard, padded to its own cache lines so that neighbouring locks do
/// not false-share.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<HashMap<String, KeyState>>);

/// The per-key rate limiter. `Send + Sync`; share it with `Arc`.
///
/// See the [module documentation](self) for the algorithm and its exact
/// semantics.
pub struct RateLimiter {
    hasher: RandomState,
    shards: [Shard; SHARDS],
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter").field("keys", &self.len()).finish_non_exhaustive()
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self { hasher: RandomState::new(), shards: std::array::from_fn(|_| Shard::default()) }
    }

    fn shard(&self, key_id: &str) -> &Mutex<HashMap<String, KeyState>> {
        // Truncation on 32-bit targets is fine: only the low bits are used.
        let h = self.hasher.hash_one(key_id) as usize;
        &self.shards[h & (SHARDS - 1)].0
    }

    /// Decides whether a request by `key_id` at `now_ms` (milliseconds since
    /// the Unix epoch) is admitted under `limits`, and counts it if so.
    ///
    /// Returns `None`, without locking or allocating, when `limits` has
    /// neither window. A window whose limit is `Some(0)` refuses every
    /// request without touching any state; as no wait would help, its
    /// `reset_ms` and `retry_after_ms` are its period (60 000 or
    /// 86 400 000), so that clients back off for a whole window.
    ///
    /// The state of a key is built for the limits it is checked with. If a
    /// window's limit differs from the last call's, the window keeps the
    /// fraction of its period already consumed; call [`forget`](Self::forget)
    /// first to start afresh instead. A window absent from `limits` is
    /// dropped.
    pub fn check(&self, key_id: &str, limits: Limits, now_ms: i64) -> Option<RateDecision> {
        let wanted = limits.windows();
        if wanted.iter().all(Option::is_none) {
            return None;
        }
        // A zero limit admits nothing; report the longest such window.
        if let Some(period) = wanted.iter().zip(PERIODS_MS).filter(|(l, _)| **l == Some(0)).map(|(_, p)| p).max() {
            return Some(RateDecision {
                allowed: false,
                limit: 0,
                remaining: 0,
                reset_ms: period,
                retry_after_ms: period,
            });
        }
        let mut params = [None; 2];
        for ((p, limit), period) in params.iter_mut().zip(wanted).zip(PERIODS_MS) {
            *p = limit.map(|l| Params::new(l, period, now_ms));
        }

        let (allowed, tats) = {
            let mut map = self.shard(key_id).lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(state) = map.get_mut(key_id) {
                state.admit(&params)
            } else {
                let mut state = KeyState::default();
                let outcome = state.admit(&params);
                if outcome.0 {
                    map.insert(key_id.to_owned(), state);
                }
                outcome
            }
        };

        // The most constraining window, and the longest wait of any window.
        let mut described = [None; 2];
        let mut wait_ms = 0;
        for ((p, tat), slot) in params.iter().zip(tats).zip(&mut described) {
            let Some(p) = p else { continue };
            let (remaining, reset_ms, wait) = p.describe(tat);
            wait_ms = wait_ms.max(wait);
            *slot = Some(WindowState { limit: p.limit, remaining, reset_ms });
        }
        let w = most_constraining(described.into_iter().flatten())?;
        Some(RateDecision {
            allowed,
            limit: w.limit,
            remaining: w.remaining,
            reset_ms: w.reset_ms,
            retry_after_ms: if allowed { 0 } else { wait_ms },
        })
    }

    /// The windows of `key_id` under `limits` at `now_ms` as a request
    /// would find them ([`check`](Self::check) without the request): nothing
    /// is counted and no state changes, however often it is called. A
    /// window whose limit changed since the key's last check reads as
    /// `check` would rescale it; a zero limit as `check` refuses it (no
    /// room, a whole period to wait). `None` when `limits` has neither
    /// window.
    pub fn peek(&self, key_id: &str, limits: Limits, now_ms: i64) -> Option<RatePeek> {
        let wanted = limits.windows();
        if wanted.iter().all(Option::is_none) {
            return None;
        }
        let state = self.shard(key_id).lock().unwrap_or_else(PoisonError::into_inner).get(key_id).copied();
        let mut out = [None; 2];
        let mut wait_ms = 0;
        for (((slot, limit), period), mut window) in
            out.iter_mut().zip(wanted).zip(PERIODS_MS).zip(state.unwrap_or_default().windows)
        {
            let Some(limit) = limit else { continue };
            if limit == 0 {
                *slot = Some(WindowState { limit: 0, remaining: 0, reset_ms: period });
                wait_ms = wait_ms.max(period);
                continue;
            }
            let p = Params::new(limit, period, now_ms);
            if window.limit != p.limit {
                window.rescale(&p);
            }
            let (remaining, reset_ms, wait) = p.describe(window.tat.max(p.now));
            wait_ms = wait_ms.max(wait);
            *slot = Some(WindowState { limit, remaining, reset_ms });
        }
        let [per_minute, per_day] = out;
        Some(RatePeek { per_minute, per_day, retry_after_ms: wait_ms })
    }

    /// Drops all state of `key_id`; its next request starts from idle. Call
    /// when a key's limits change or the key is deleted.
    pub fn forget(&self, key_id: &str) {
        self.shard(key_id).lock().unwrap_or_else(PoisonError::into_inner).remove(key_id);
    }

    /// Drops the state of every key that is fully replenished at `now_ms`
    /// (its TAT is not after `now_ms` in any window): such state behaves
    /// exactly like no state, so this never changes a decision. Locks one
    /// shard at a time, for the length of a scan of that shard; call it
    /// periodically (e.g. every minute) from a background task.
    pub fn sweep(&self, now_ms: i64) {
        for shard in &self.shards {
            let mut map = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
            map.retain(|_, state| !state.is_idle(now_ms));
            // Give back the table of a past spike of keys.
            if map.capacity() > 64 && map.len() < map.capacity() / 4 {
                let len = map.len();
                map.shrink_to(len * 2);
            }
        }
    }

    /// How many keys currently hold state (for metrics and tests).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    /// Whether no key holds state.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
