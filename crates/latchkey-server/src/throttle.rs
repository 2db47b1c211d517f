//! Counting failures in a sliding window, for slowing password guessing.
//!
//! Unlike a rate limit, a failure window is *read* before the attempt (a
//! blocked account is refused without checking its password, so guessing
//! costs the attacker time, not us argon2 work) and *charged* only when the
//! attempt fails.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failure times per subject (an account, a client address) over a window.
#[derive(Debug)]
pub struct FailureWindow {
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Subjects tracked before idle ones are swept.
const SWEEP_AT: usize = 10_000;

impl FailureWindow {
    /// An empty window of length `window`.
    pub fn new(window: Duration) -> Self {
        Self { window, failures: Mutex::new(HashMap::new()) }
    }

    /// `Some(seconds to wait)` if `subject` has `limit` or more failures in
    /// the window.
    pub fn blocked(&self, subject: &str, limit: u32) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let times = map.get_mut(subject)?;
        self.prune(times, now);
        if times.len() < limit as usize {
            return None;
        }
        let oldest = *times.front()?;
        let wait = self.window.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs().max(1))
    }

    /// Counts a failure of `subject`.
    pub fn record(&self, subject: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= SWEEP_AT {
            map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        let times = map.entry(subject.to_owned()).or_default();
        self.prune(times, now);
        times.push_back(now);
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
}
