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
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Barrier};
    use std::thread;

    use super::*;

    /// An arbitrary, realistic epoch time.
    const T0: i64 = 1_750_000_000_000;

    fn minute(l: u32) -> Limits {
        Limits { per_minute: Some(l), per_day: None }
    }

    fn day(l: u32) -> Limits {
        Limits { per_minute: None, per_day: Some(l) }
    }

    fn both(per_minute: u32, per_day: u32) -> Limits {
        Limits { per_minute: Some(per_minute), per_day: Some(per_day) }
    }

    fn check(rl: &RateLimiter, key: &str, limits: Limits, now: i64) -> RateDecision {
        rl.check(key, limits, now).unwrap()
    }

    /// Sends requests at `now` until one is refused; returns how many were
    /// admitted.
    fn burst(rl: &RateLimiter, key: &str, limits: Limits, now: i64) -> u32 {
        let mut n = 0;
        while check(rl, key, limits, now).allowed {
            n += 1;
            assert!(n <= 10_000_000, "runaway burst");
        }
        n
    }

    #[test]
    fn limiter_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RateLimiter>();
        assert_send_sync::<Arc<RateLimiter>>();
    }

    #[test]
    fn no_limits_is_none_and_stores_nothing() {
        let rl = RateLimiter::new();
        assert_eq!(rl.check("k", Limits::default(), T0), None);
        assert!(rl.is_empty());
    }

    #[test]
    fn admits_exactly_limit_from_idle_then_refuses() {
        // Including limits whose emission interval is not a whole number of
        // milliseconds (7/min), below 1 ms (100 000/min) and per day.
        for limits in [minute(1), minute(100), minute(7), minute(100_000), day(1000), day(7)] {
            let rl = RateLimiter::new();
            let expected = limits.per_minute.or(limits.per_day).unwrap();
            assert_eq!(burst(&rl, "k", limits, T0), expected, "{limits:?}");
            // Still refused, any number of times, at the same instant.
            for _ in 0..5 {
                assert!(!check(&rl, "k", limits, T0).allowed);
            }
        }
    }

    #[test]
    fn one_more_admitted_after_each_emission_interval() {
        // 100/min: T = 600 ms exactly.
        let rl = RateLimiter::new();
        assert_eq!(burst(&rl, "k", minute(100), T0), 100);
        assert!(!check(&rl, "k", minute(100), T0 + 599).allowed);
        assert!(check(&rl, "k", minute(100), T0 + 600).allowed);
        assert!(!check(&rl, "k", minute(100), T0 + 600).allowed);
        assert!(!check(&rl, "k", minute(100), T0 + 1199).allowed);
        assert!(check(&rl, "k", minute(100), T0 + 1200).allowed);

        // 7/min: T = 8571.43 ms; the k-th extra request is due at
        // ceil(k · 60000 / 7), never a millisecond earlier.
        let rl = RateLimiter::new();
        assert_eq!(burst(&rl, "k", minute(7), T0), 7);
        for k in 1..=20_i64 {
            let due = (k * 60_000 + 6) / 7;
            assert!(!check(&rl, "k", minute(7), T0 + due - 1).allowed, "k={k}");
            assert!(check(&rl, "k", minute(7), T0 + due).allowed, "k={k}");
        }
    }

    #[test]
    fn first_period_admits_burst_plus_one_per_interval() {
        // Documents the GCRA semantics: from idle, a burst of L and then one
        // per T gives 2L - 1 within the first period, L + floor(D/T) within
        // any interval of length D.
        let rl = RateLimiter::new();
        let mut admitted = burst(&rl, "k", minute(10), T0);
        for t in (T0 + 1..T0 + MINUTE_MS).step_by(100) {
            admitted += u32::from(check(&rl, "k", minute(10), t).allowed);
        }
        assert_eq!(admitted, 19);
    }

    #[test]
    fn remaining_counts_down_to_zero() {
        let rl = RateLimiter::new();
        for expected in (0..100).rev() {
            let d = check(&rl, "k", minute(100), T0);
            assert!(d.allowed);
            assert_eq!((d.limit, d.remaining), (100, expected));
        }
        let d = check(&rl, "k", minute(100), T0);
        assert!(!d.allowed);
        assert_eq!((d.limit, d.remaining), (100, 0));
        // Half a minute later half the window is back; this request uses one.
        let d = check(&rl, "k", minute(100), T0 + 30_000);
        assert!(d.allowed);
        assert_eq!(d.remaining, 49);
    }

    #[test]
    fn retry_after_is_exact() {
        let rl = RateLimiter::new();
        let d = check(&rl, "k", minute(100), T0);
        assert_eq!(d.retry_after_ms, 0, "0 when allowed");
        burst(&rl, "k", minute(100), T0);
        let d = check(&rl, "k", minute(100), T0);
        assert_eq!(d.retry_after_ms, 600);
        assert_eq!(d.retry_after_secs(), 1);
        let d = check(&rl, "k", minute(100), T0 + 250);
        assert_eq!(d.retry_after_ms, 350);

        // Waiting exactly retry_after succeeds, one ms less does not, for a
        // non-integer interval too.
        let rl = RateLimiter::new();
        let mut now = T0;
        burst(&rl, "k", minute(7), now);
        for _ in 0..10 {
            let d = check(&rl, "k", minute(7), now);
            assert!(!d.allowed);
            assert!(d.retry_after_ms > 0);
            assert!(!check(&rl, "k", minute(7), now + d.retry_after_ms - 1).allowed);
            now += d.retry_after_ms;
            assert_eq!(check(&rl, "k", minute(7), now).retry_after_ms, 0);
        }

        // Per day, 2/day: T = 12 h, tau = 12 h.
        let rl = RateLimiter::new();
        burst(&rl, "k", day(2), T0);
        let d = check(&rl, "k", day(2), T0 + 1000);
        assert_eq!(d.retry_after_ms, 43_200_000 - 1000);
    }

    #[test]
    fn reset_is_time_until_fully_replenished() {
        let rl = RateLimiter::new();
        let d = check(&rl, "k", minute(100), T0);
        assert_eq!(d.reset_ms, 600);
        for _ in 1..100 {
            check(&rl, "k", minute(100), T0);
        }
        let d = check(&rl, "k", minute(100), T0);
        assert!(!d.allowed);
        assert_eq!(d.reset_ms, 60_000);
        assert_eq!(d.reset_secs(), 60);
        let d = check(&rl, "k", minute(100), T0 + 30_000);
        assert_eq!((d.remaining, d.reset_ms), (49, 30_600));
        // After exactly reset_ms, the full limit is available again.
        let d = check(&rl, "k", minute(100), T0 + 30_000 + 30_600);
        assert_eq!((d.remaining, d.reset_ms), (99, 600));

        // Rounded up to a whole millisecond (T = 8571.43 ms), then seconds.
        let rl = RateLimiter::new();
        let d = check(&rl, "k", minute(7), T0);
        assert_eq!(d.reset_ms, 8572);
        assert_eq!(d.reset_secs(), 9);
    }

    #[test]
    fn header_seconds_round_up() {
        let d = RateDecision { allowed: false, limit: 1, remaining: 0, reset_ms: 1001, retry_after_ms: 1 };
        assert_eq!((d.reset_secs(), d.retry_after_secs()), (2, 1));
        let d = RateDecision { reset_ms: 2000, retry_after_ms: 0, ..d };
        assert_eq!((d.reset_secs(), d.retry_after_secs()), (2, 0));
    }

    #[test]
    fn day_refusal_does_not_charge_minute() {
        let rl = RateLimiter::new();
        let limits = both(10, 3);
        assert_eq!(burst(&rl, "k", limits, T0), 3);
        for _ in 0..50 {
            let d = check(&rl, "k", limits, T0);
            assert!(!d.allowed);
            assert_eq!((d.limit, d.remaining), (3, 0), "reports the day window");
        }
        // The minute window was charged for the 3 admitted requests only.
        let d = check(&rl, "k", minute(10), T0);
        assert!(d.allowed);
        assert_eq!(d.remaining, 10 - 3 - 1);
    }

    #[test]
    fn minute_refusal_does_not_charge_day() {
        let rl = RateLimiter::new();
        let limits = both(2, 10);
        assert_eq!(burst(&rl, "k", limits, T0), 2);
        for _ in 0..50 {
            let d = check(&rl, "k", limits, T0);
            assert!(!d.allowed);
            assert_eq!((d.limit, d.remaining), (2, 0), "reports the minute window");
            assert_eq!(d.retry_after_ms, 30_000);
        }
        // The day window was charged for the 2 admitted requests only.
        let d = check(&rl, "k", day(10), T0 + MINUTE_MS);
        assert!(d.allowed);
        assert_eq!(d.remaining, 10 - 2 - 1);
    }

    #[test]
    fn reports_most_constraining_window() {
        let rl = RateLimiter::new();
        let d = check(&rl, "a", both(100, 1000), T0);
        assert_eq!((d.limit, d.remaining, d.reset_ms), (100, 99, 600));
        let d = check(&rl, "b", both(100, 5), T0);
        assert_eq!((d.limit, d.remaining, d.reset_ms), (5, 4, 17_280_000));
        // Both exhausted: the tie goes to the window that resets later.
        let d = check(&rl, "c", both(2, 2), T0);
        assert_eq!((d.limit, d.remaining), (2, 1));
        let d = check(&rl, "c", both(2, 2), T0);
        assert_eq!((d.limit, d.remaining, d.reset_ms), (2, 0, DAY_MS));
    }

    #[test]
    fn retry_after_waits_for_every_window() {
        // 1/min and 2/day: by the third request the day window refuses, for
        // far longer than the minute window would.
        let rl = RateLimiter::new();
        let limits = both(1, 2);
        assert!(check(&rl, "k", limits, T0).allowed);
        assert!(check(&rl, "k", limits, T0 + MINUTE_MS).allowed);
        let now = T0 + 2 * MINUTE_MS;
        let d = check(&rl, "k", limits, now);
        assert!(!d.allowed);
        // Day TAT = T0 + 2 · 12 h; admitted once TAT - now <= tau = 12 h.
        let expected = T0 + DAY_MS - 43_200_000 - now;
        assert_eq!(d.retry_after_ms, expected);
        assert!(!check(&rl, "k", limits, now + expected - 1).allowed);
        assert!(check(&rl, "k", limits, now + expected).allowed);
    }

    #[test]
    fn zero_limit_refuses_without_state() {
        let rl = RateLimiter::new();
        let d = check(&rl, "k", both(0, 10), T0);
        assert!(!d.allowed);
        assert_eq!((d.limit, d.remaining), (0, 0));
        assert_eq!((d.reset_ms, d.retry_after_ms), (MINUTE_MS, MINUTE_MS));
        let d = check(&rl, "k", both(10, 0), T0);
        assert_eq!(d.retry_after_ms, DAY_MS);
        assert!(rl.is_empty());
    }

    #[test]
    fn forget_starts_afresh_with_new_limits() {
        let rl = RateLimiter::new();
        assert_eq!(burst(&rl, "k", minute(100), T0), 100);
        rl.forget("k");
        assert!(rl.is_empty());
        assert_eq!(burst(&rl, "k", minute(200), T0), 200);
        rl.forget("k");
        assert_eq!(burst(&rl, "k", minute(50), T0), 50);
        rl.forget("absent");
    }

    #[test]
    fn limit_change_without_forget_keeps_consumed_fraction() {
        let rl = RateLimiter::new();
        // Half of 100/min used; at 200/min half is 100 requests.
        for _ in 0..50 {
            assert!(check(&rl, "k", minute(100), T0).allowed);
        }
        assert_eq!(burst(&rl, "k", minute(200), T0), 100);
        // Exhausted at 200/min; at 10/min still exhausted, retry after T.
        let d = check(&rl, "k", minute(10), T0);
        assert_eq!((d.allowed, d.retry_after_ms), (false, 6_000));
        // Adding a day window starts it fresh; dropping the minute window
        // forgets it.
        assert_eq!(burst(&rl, "k", day(3), T0), 3);
    }

    #[test]
    fn sweep_removes_idle_keeps_active() {
        let rl = RateLimiter::new();
        check(&rl, "light", minute(100), T0); // TAT = T0 + 600
        burst(&rl, "heavy", minute(100), T0); // TAT = T0 + 60 000
        check(&rl, "daily", both(100, 10), T0); // day TAT = T0 + 8 640 000
        assert_eq!(rl.len(), 3);

        rl.sweep(T0 + 599);
        assert_eq!(rl.len(), 3);
        rl.sweep(T0 + 600);
        assert_eq!(rl.len(), 2);
        // The swept key behaves as fresh, which it would have anyway.
        assert_eq!(check(&rl, "light", minute(100), T0 + 600).remaining, 99);
        rl.forget("light");

        rl.sweep(T0 + 59_999);
        assert_eq!(rl.len(), 2);
        // A key is kept while any window is active.
        rl.sweep(T0 + 60_000);
        assert_eq!(rl.len(), 1);
        rl.sweep(T0 + 8_639_999);
        assert_eq!(rl.len(), 1);
        rl.sweep(T0 + 8_640_000);
        assert!(rl.is_empty());
        assert_eq!(burst(&rl, "heavy", minute(100), T0 + 60_000), 100);
    }

    #[test]
    fn sweep_shrinks_after_a_spike() {
        let rl = RateLimiter::new();
        for i in 0..20_000 {
            check(&rl, &format!("key-{i}"), minute(10), T0);
        }
        check(&rl, "active", minute(1), T0 + 1000);
        rl.sweep(T0 + 6000);
        assert_eq!(rl.len(), 1);
        let capacity: usize = rl.shards.iter().map(|s| s.0.lock().unwrap().capacity()).sum();
        assert!(capacity < 20_000, "capacity {capacity}");
    }

    /// A peek is the next check without the request: the same window
    /// figures as the check just made, the same admission as the next
    /// check, and no state of its own however often it is called.
    #[test]
    fn peek_reads_the_windows_without_counting() {
        let rl = RateLimiter::new();
        let limits = both(5, 7);
        let fresh = rl.peek("k", limits, T0).unwrap();
        let full = |limit| Some(WindowState { limit, remaining: limit, reset_ms: 0 });
        assert_eq!((fresh.per_minute, fresh.per_day, fresh.retry_after_ms), (full(5), full(7), 0));
        assert!(fresh.allowed() && rl.is_empty(), "a peek stores nothing");
        assert_eq!(rl.peek("k", Limits::default(), T0), None);
        for _ in 0..100 {
            rl.peek("k", limits, T0);
        }
        for i in 0..6_u32 {
            let seen = rl.peek("k", limits, T0).unwrap();
            let d = check(&rl, "k", limits, T0);
            assert_eq!(seen.allowed(), d.allowed, "request {i}");
            assert_eq!(seen.per_minute.unwrap().remaining, 5_u32.saturating_sub(i), "request {i}");
            if d.allowed {
                let after = rl.peek("k", limits, T0).unwrap();
                let reported = after.decision().unwrap();
                assert_eq!((reported.limit, reported.remaining, reported.reset_ms), (d.limit, d.remaining, d.reset_ms));
            } else {
                assert_eq!(seen.decision().unwrap().retry_after_ms, d.retry_after_ms, "request {i}");
            }
        }
        // Exhausted per minute: one more is admitted after 12 s, not before.
        let seen = rl.peek("k", limits, T0 + 11_999).unwrap();
        assert!(!seen.allowed());
        assert_eq!(seen.per_day.unwrap().remaining, 2, "the day window still has room");
        assert!(rl.peek("k", limits, T0 + 12_000).unwrap().allowed());
        assert!(check(&rl, "k", limits, T0 + 12_000).allowed, "the peeks spent nothing");
        // A changed limit reads as check would rescale it; zero refuses.
        let rescaled = rl.peek("k", both(10, 7), T0 + 12_000).unwrap();
        assert_eq!(rescaled.per_minute.unwrap().remaining, 0);
        let zero = rl.peek("k", both(0, 7), T0).unwrap();
        assert_eq!(zero.per_minute, Some(WindowState { limit: 0, remaining: 0, reset_ms: MINUTE_MS }));
        assert_eq!(zero.decision().unwrap().retry_after_ms, MINUTE_MS);
        assert!(!zero.allowed());
    }

    #[test]
    fn earlier_time_than_last_call_is_stricter() {
        let rl = RateLimiter::new();
        burst(&rl, "k", minute(100), T0);
        let d = check(&rl, "k", minute(100), T0 - 1000);
        assert_eq!((d.allowed, d.retry_after_ms), (false, 1600));
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let rl = RateLimiter::new();
        let limits = both(u32::MAX, u32::MAX);
        for now in [i64::MIN / 2, -1, 0, T0, i64::MAX / 2] {
            rl.forget("k");
            let d = check(&rl, "k", limits, now);
            assert!(d.allowed);
            assert_eq!(d.remaining, u32::MAX - 1);
        }
        // Limits far above a millisecond's worth, exactly enforced.
        assert_eq!(burst(&rl, "big", minute(200_000), T0), 200_000);
    }

    /// The continuous-state leaky bucket of ITU-T I.371, an equivalent but
    /// independently written formulation of GCRA, in ticks of 1/L ms.
    struct LeakyBucket {
        t: i128,
        tau: i128,
        x: i128,
        lct: i128,
    }

    impl LeakyBucket {
        fn new(limit: u32, period_ms: i64) -> Self {
            let (l, p) = (i128::from(limit), i128::from(period_ms));
            Self { t: p, tau: p * l - p, x: 0, lct: i128::MIN / 4 }
        }

        fn arrive(&mut self, now_ms: i64, limit: u32) -> bool {
            let ta = i128::from(now_ms) * i128::from(limit);
            let x = (self.x - (ta - self.lct)).max(0);
            if x > self.tau {
                return false;
            }
            self.x = x + self.t;
            self.lct = ta;
            true
        }
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    #[test]
    fn matches_reference_leaky_bucket_on_random_traffic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..200 {
            let per_minute = 1 + u32::try_from(rng.below(50)).unwrap();
            let per_day = 1 + u32::try_from(rng.below(400)).unwrap();
            let limits = both(per_minute, per_day);
            let rl = RateLimiter::new();
            let mut m = LeakyBucket::new(per_minute, MINUTE_MS);
            let mut d = LeakyBucket::new(per_day, DAY_MS);
            let mut now = T0;
            let mut admitted = Vec::new();
            for _ in 0..500 {
                // Mostly short gaps, sometimes long ones.
                now += i64::try_from(match rng.below(10) {
                    0 => rng.below(4 * 3_600_000),
                    1..=3 => 0,
                    _ => rng.below(5_000),
                })
                .unwrap();
                let got = check(&rl, "k", limits, now);
                // Check both reference windows first, charge only if both admit.
                let (sm, sd) = ((m.x, m.lct), (d.x, d.lct));
                let want = m.arrive(now, per_minute) & d.arrive(now, per_day);
                if !want {
                    (m.x, m.lct) = sm;
                    (d.x, d.lct) = sd;
                }
                assert_eq!(got.allowed, want, "case {case} at {now}");
                if got.allowed {
                    admitted.push(now);
                }
            }
            // The GCRA bound: at most L + floor(D / T) in any interval D,
            // per window.
            for (l, p) in [(per_minute, MINUTE_MS), (per_day, DAY_MS)] {
                let (l, p) = (i64::from(l), i128::from(p));
                for (i, &a) in admitted.iter().enumerate() {
                    for (j, &b) in admitted.iter().enumerate().skip(i) {
                        let n = i64::try_from(j - i + 1).unwrap();
                        let bound = l + i64::try_from(i128::from(b - a) * i128::from(l) / p).unwrap();
                        assert!(n <= bound, "case {case}: {n} in {} ms", b - a);
                    }
                }
            }
        }
    }

    #[test]
    fn concurrent_requests_for_one_key_are_exact() {
        const THREADS: usize = 64;
        const ATTEMPTS: usize = 10;
        let rl = Arc::new(RateLimiter::new());
        let barrier = Arc::new(Barrier::new(THREADS));
        let admitted = Arc::new(AtomicU32::new(0));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (rl, barrier, admitted) = (Arc::clone(&rl), Arc::clone(&barrier), Arc::clone(&admitted));
                thread::spawn(move || {
                    let mut seen = Vec::new();
                    barrier.wait();
                    for _ in 0..ATTEMPTS {
                        let d = check(&rl, "shared", minute(100), T0);
                        if d.allowed {
                            admitted.fetch_add(1, Ordering::Relaxed);
                            seen.push(d.remaining);
                        }
                    }
                    seen
                })
            })
            .collect();
        let mut remaining = Vec::new();
        for h in handles {
            remaining.extend(h.join().unwrap());
        }
        assert_eq!(admitted.load(Ordering::Relaxed), 100);
        // Each admission saw a distinct count: the check and commit were
        // atomic.
        let distinct: BTreeSet<u32> = remaining.iter().copied().collect();
        assert_eq!(remaining.len(), 100);
        assert_eq!(distinct, (0..100).collect());
    }

    #[test]
    fn concurrent_requests_for_many_keys_are_exact() {
        const THREADS: usize = 8;
        const KEYS: usize = 32;
        let rl = Arc::new(RateLimiter::new());
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (rl, barrier) = (Arc::clone(&rl), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    let mut admitted = [0_u32; KEYS];
                    for _ in 0..20 {
                        for (k, n) in admitted.iter_mut().enumerate() {
                            let key = format!("key-{k}");
                            *n += u32::from(check(&rl, &key, both(30, 1000), T0).allowed);
                        }
                    }
                    admitted
                })
            })
            .collect();
        let mut totals = [0_u32; KEYS];
        for h in handles {
            for (t, n) in totals.iter_mut().zip(h.join().unwrap()) {
                *t += n;
            }
        }
        assert_eq!(totals, [30; KEYS]);
        assert_eq!(rl.len(), KEYS);
    }
}
