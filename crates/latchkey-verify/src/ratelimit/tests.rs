//! The rate limiter's tests: GCRA's exact admissions, both windows, peeks,
//! concurrency, sweeping.

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
