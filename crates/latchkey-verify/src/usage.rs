//! Write-behind usage: `lastUsedAt` and per-day counts by outcome are added
//! up in memory per verification and written by periodic flushes, a few
//! keys per transaction, never one write per request.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use latchkey_core::time_fmt::{Millis, day_string, epoch_day};
use latchkey_core::{KeyHash, KeyId, KeyState};
use latchkey_store::{ApiKeyRecord, StoreError, UsageCount};

use crate::KeyVerifier;

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
pub(crate) struct Pending {
    map: HashMap<KeyHash, KeyPending>,
    by_id: BTreeMap<KeyId, KeyHash>,
    /// The id taken last: the sweep goes on after it.
    cursor: Option<KeyId>,
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
    #[inline]
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
    id: KeyId,
    last_used: Option<Millis>,
    /// The newest day counted and its counts.
    day: i64,
    counts: Counts,
    /// Other days not yet written (a flush that spans midnight, or one put
    /// back after a failed write).
    other_days: Vec<(i64, Counts)>,
}

impl KeyPending {
    fn new(id: &KeyId, day: i64) -> Self {
        Self { id: id.clone(), last_used: None, day, counts: [0; KeyState::ALL.len()], other_days: Vec::new() }
    }

    /// Adds `counts` for `day`.
    #[inline]
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

/// `lastUsedAt` is written at most this often per key (and node).
pub const LAST_USED_PRECISION_MS: Millis = 60_000;

impl KeyVerifier {
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
        let last_used: Vec<(KeyId, Millis)> = {
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
            pending.entry(hash(id), || KeyPending::new(&KeyId::from(id), 0));
        }
        let ids = |taken: Vec<(KeyHash, KeyPending)>| taken.into_iter().map(|(_, p)| p.id).collect::<Vec<_>>();
        assert_eq!(ids(pending.take(2)), ["k1", "k2"]);
        // k1 is counted again: it is behind the sweep now.
        pending.entry(hash("k1"), || KeyPending::new(&KeyId::from("k1"), 0));
        assert_eq!(ids(pending.take(2)), ["k3", "k4"]);
        assert_eq!(ids(pending.take(5)), ["k5", "k1"]);
        assert!(pending.take(5).is_empty());
        assert!(pending.map.is_empty() && pending.by_id.is_empty());
    }
}
