//! Counting events in a sliding window, for slowing password guessing
//! (failed logins) and sign-ups.
//!
//! Unlike a rate limit, a window is *read* before the attempt (a blocked
//! account is refused without checking its password, so guessing costs the
//! attacker time, not us argon2 work) and *charged* only when the attempt
//! counts (a failed login, a sign-up).
//!
//! Memory is bounded whatever the callers send: at most `subjects` subjects
//! are tracked (a `quick_cache` cache, which evicts the least useful ones
//! when full), and at most [`MAX_PER_SUBJECT`] times per subject.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The times of one subject's events, oldest first.
type Times = Arc<Mutex<VecDeque<Instant>>>;

/// Event times per subject (an account, a client address, both) over a
/// window.
pub struct FailureWindow {
    window: Duration,
    events: quick_cache::sync::Cache<String, Times>,
}

impl std::fmt::Debug for FailureWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureWindow").field("window", &self.window).field("subjects", &self.events.len()).finish()
    }
}

/// Subjects tracked by default (about 10 MB at most).
pub const MAX_SUBJECTS: usize = 50_000;

/// Events remembered per subject: more than any limit counts.
pub const MAX_PER_SUBJECT: usize = 1_000;

impl FailureWindow {
    /// An empty window of length `window`, tracking up to [`MAX_SUBJECTS`].
    pub fn new(window: Duration) -> Self {
        Self::with_capacity(window, MAX_SUBJECTS)
    }

    /// An empty window of length `window` tracking at most `subjects`.
    pub fn with_capacity(window: Duration, subjects: usize) -> Self {
        Self { window, events: quick_cache::sync::Cache::new(subjects.max(1)) }
    }

    /// `Some(seconds to wait)` if `subject` has `limit` or more events in
    /// the window.
    pub fn blocked(&self, subject: &str, limit: u32) -> Option<u64> {
        let now = Instant::now();
        let times = self.events.get(subject)?;
        let mut times = times.lock().unwrap_or_else(PoisonError::into_inner);
        self.prune(&mut times, now);
        let over = times.len().checked_sub(limit as usize)?;
        // The wait until the window holds fewer than `limit`.
        let oldest = *times.get(over)?;
        let wait = self.window.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs().max(1))
    }

    /// Counts an event of `subject`.
    pub fn record(&self, subject: &str) {
        let now = Instant::now();
        let Ok(times) = self.events.get_or_insert_with(subject, || Ok::<_, Infallible>(Times::default()));
        let mut times = times.lock().unwrap_or_else(PoisonError::into_inner);
        self.prune(&mut times, now);
        if times.len() >= MAX_PER_SUBJECT {
            times.pop_front();
        }
        times.push_back(now);
    }

    /// How many subjects are tracked.
    pub fn subjects(&self) -> usize {
        self.events.len()
    }

    fn prune(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_at_the_limit_and_forgets_after_the_window() {
        let w = FailureWindow::new(Duration::from_millis(200));
        for _ in 0..3 {
            assert_eq!(w.blocked("a", 3), None);
            w.record("a");
        }
        assert!(w.blocked("a", 3).is_some_and(|s| s >= 1));
        assert_eq!(w.blocked("b", 3), None, "subjects are independent");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(w.blocked("a", 3), None);
    }

    #[test]
    fn d18_memory_stays_bounded_whatever_the_subjects() {
        let w = FailureWindow::with_capacity(Duration::from_secs(60), 1_000);
        for i in 0..20_000 {
            w.record(&format!("ip:10.0.{}.{}", i / 256, i % 256));
        }
        assert!(w.subjects() <= 1_000, "{} subjects tracked", w.subjects());
        for _ in 0..(MAX_PER_SUBJECT + 50) {
            w.record("busy");
        }
        let times = w.events.get("busy").map(|t| t.lock().unwrap().len());
        assert_eq!(times, Some(MAX_PER_SUBJECT));
        assert!(w.blocked("busy", 5).is_some());
    }
}
