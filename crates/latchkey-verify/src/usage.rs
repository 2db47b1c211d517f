//! Write-behind usage: `lastUsedAt` and per-day counts by outcome are added
//! up in memory per verification and written by periodic flushes, a few
//! keys per transaction, never one write per request. What is pending, and
//! how the flusher takes it, is `pending.rs`.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use latchkey_core::time_fmt::{Millis, day_string};
use latchkey_core::{KeyHash, KeyId, KeyState};
use latchkey_store::{ApiKeyRecord, StoreError, UsageCount};

use crate::KeyVerifier;
use crate::pending::KeyPending;

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
    /// One shard of the pending usage is locked for one map update
    /// (`pending.rs`).
    pub fn count(&self, key: &ApiKeyRecord, code: KeyState, now: Millis) {
        self.pending.count(key.hash, &key.id, code, now);
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
        let mut left = budget.min(self.pending.len());
        let mut written = 0;
        while left > 0 {
            let chunk = self.pending.take(FLUSH_CHUNK.min(left));
            if chunk.is_empty() {
                break;
            }
            left -= chunk.len();
            if let Err(e) = self.write(&chunk).await {
                self.pending.put_back(chunk);
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
