//! Write-behind usage: `lastUsedAt` and per-day counts by outcome are added
//! up in memory per verification and written by periodic flushes, hundreds
//! of keys per transaction, never one write per request, at a rate that
//! grows with what is pending ([`flush_budget`]). How many keys one
//! transaction writes, and whether the flusher may rest between chunks to
//! leave the CPU to verification, is the store's
//! ([`latchkey_store::KeyStore::usage_batching`]: SQLite writes on this
//! process's CPU, PostgreSQL on the database server's).
//!
//! Memory: the keys pending are held to a target set by the key cache's
//! budget ([`crate::VerifierConfig::pending_keys`]). Above it the sweep shortens
//! and SQLite's chunks stop resting, so writing takes the CPU it needs; if
//! the writes still fall behind (more than twice the target pending), the
//! excess goes to a spill file in the data directory (`spill.rs`: a
//! sequential append, far cheaper than writing it to storage), written to
//! storage once the backlog is back under half the target. At shutdown
//! what cannot be written within the deadline is spilled the same way.
//! What is pending, and how the flusher takes it, is `pending.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use latchkey_core::time_fmt::{Millis, day_string};
use latchkey_core::{KeyHash, KeyId, KeyState};
use latchkey_store::{StoreError, UsageBatching, UsageCount};

use crate::KeyVerifier;
use crate::background::Background;
use crate::pending::{KeyPending, Tag};
use crate::spill::{self, SpillError};

/// Keys whose usage one periodic flush writes at least (all of them when
/// fewer are pending).
pub const FLUSH_BUDGET: usize = 2_000;

/// How far behind the written usage may fall: a periodic flush writes at
/// least the pending keys' share of this (pending × interval / lag), so one
/// sweep over every pending key takes about this long, and a key counted
/// right after its turn is written within it. Shorter while more keys are
/// pending than the target ([`flush_budget`]).
pub const FLUSH_LAG: Duration = Duration::from_secs(50);

/// What one pending key costs in memory, about: its compact entry and
/// map slot (64 bytes, `pending.rs`) over the map's load (measured by
/// `examples/cache_memory.rs`). By default the pending target is the key
/// cache's budget over eight times this ([`crate::VerifierConfig::pending_keys`]).
pub const PENDING_KEY_BYTES: u64 = 100;

/// Keys one periodic flush every `interval` writes when `pending` keys
/// have usage pending and the flusher aims to hold them to `target`: at
/// least [`FLUSH_BUDGET`]; with more pending, their share of a sweep of
/// [`FLUSH_LAG`], a lag that shortens with the fourth power of the excess
/// once more than `target` are pending (half again the target: a fifth of
/// the lag, so 7.6 times the keys a flush; twice the target: a sixteenth),
/// so what is pending stays near the target as long as storage can take
/// the writes. Held near it, the pending shards' maps keep the size they
/// were made with: each doubles once its keys pass 7/8 of its room, and
/// keeps that room afterwards (`pending.rs`).
#[must_use]
pub fn flush_budget(pending: usize, target: usize, interval: Duration) -> usize {
    let lag = FLUSH_LAG.as_secs_f64() * (target.max(1) as f64 / pending.max(1) as f64).min(1.0).powi(4);
    FLUSH_BUDGET.max((pending as f64 * interval.as_secs_f64() / lag).ceil() as usize)
}

/// At most this many keys' last written `lastUsedAt` are remembered (a
/// few MiB): with more keys in use, each is written about once a sweep
/// anyway, and one not remembered only has its `lastUsedAt` written again.
const LAST_WRITTEN_MAX: usize = 65_536;

/// Keys per transaction at shutdown, with no verification left to share
/// the CPU with.
const SHUTDOWN_CHUNK: usize = 5_000;

/// Keys per spill file written while the writes fall behind (`relieve`).
const SPILL_SLICE: usize = 16_384;

/// `lastUsedAt` is written at most this often per key (and node).
pub const LAST_USED_PRECISION_MS: Millis = 60_000;

/// What the shutdown flush did ([`KeyVerifier::flush_at_shutdown`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownFlush {
    /// Keys whose usage was written to storage.
    pub flushed: usize,
    /// Keys whose usage went to the spill file instead.
    pub spilled: usize,
    /// The spill file, if one was written.
    pub spill: Option<PathBuf>,
}

/// The periodic flusher ([`KeyVerifier::spawn_flusher`]); stop it with
/// [`Background::stop`] so that no chunk is cut short.
pub type Flusher = Background;

/// Whether `stop` was not yet set.
fn running(stop: &watch::Receiver<bool>) -> bool {
    !*stop.borrow()
}

/// Sleeps `d`, or less if `stop` is set meanwhile; whether still running.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if !d.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
    running(stop)
}

impl KeyVerifier {
    /// Notes a verification of a key with its outcome, to be written by the
    /// next flush (`lastUsedAt` for valid ones, daily counts for all).
    /// One shard of the pending usage is locked for one map update
    /// (`pending.rs`); the id is copied only when the key has nothing
    /// pending yet, not on every check. A key in a rotation's grace period
    /// (`in_grace`: valid, with a revocation time ahead) has its
    /// `lastUsedAt` written by every flush that has a newer one, not once a
    /// minute ([`LAST_USED_PRECISION_MS`]): a rotation until unused decides
    /// on it ([`KeyVerifier::flush_keys`]).
    pub fn count(&self, hash: KeyHash, id: &str, code: KeyState, now: Millis, in_grace: bool) {
        self.pending.count(hash, id, code, now, in_grace);
    }

    /// How many keys have usage not yet written.
    pub fn pending_usage(&self) -> usize {
        self.pending.len()
    }

    /// Writes every pending `lastUsedAt` value and usage count, in the
    /// store's chunks (one transaction each). Returns how many keys'
    /// usage was written. On failure the chunk that failed is put back for
    /// the next attempt (with the rest, which was never taken).
    pub async fn flush(&self) -> Result<usize, StoreError> {
        self.flush_next(usize::MAX, Duration::ZERO).await
    }

    /// Writes the usage of up to `budget` keys, the next ones of the sweep
    /// in id order, in the store's chunks spread over about `spread`.
    /// SQLite writes on this process's CPU: a batch of many thousands of
    /// keys written at once would stall verification for tens of
    /// milliseconds, while chunks with pauses between them keep its latency
    /// flat. Keys are taken one chunk at a time, and a chunk that fails is
    /// put back.
    pub async fn flush_next(&self, budget: usize, spread: Duration) -> Result<usize, StoreError> {
        let (_stop, mut never) = watch::channel(false);
        self.flush_paced(budget, spread, false, &mut never).await
    }

    /// [`KeyVerifier::flush_next`], stopping between chunks once `stop` is
    /// set. The pause after a chunk is its share of `spread`; where the
    /// store writes in this process (SQLite), it is also at least as long
    /// as the chunk took unless the flusher is `behind` (more keys pending
    /// than the target): usage then takes at most about half of the CPU
    /// while verification goes on. A database server's chunks (PostgreSQL)
    /// only keep to their share, so that the flush rate is the server's.
    async fn flush_paced(
        &self,
        budget: usize,
        spread: Duration,
        behind: bool,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<usize, StoreError> {
        let UsageBatching { chunk, in_process } = self.store.usage_batching();
        let mut left = budget.min(self.pending.len());
        let share = spread / u32::try_from(left.div_ceil(chunk).max(1)).unwrap_or(u32::MAX);
        let mut written = 0;
        while left > 0 && running(stop) {
            // Taken and written in one turn: usage no longer pending is
            // stored ([`KeyVerifier::flush_keys`]).
            let turn = self.flushing.lock().await;
            let taken = self.pending.take(chunk.min(left));
            if taken.is_empty() {
                break;
            }
            left -= taken.len();
            let started = Instant::now();
            if let Err(e) = self.write(&taken).await {
                self.pending.put_back(taken);
                return Err(e);
            }
            drop(turn);
            written += taken.len();
            self.meters.flushed.increment(taken.len() as u64);
            let took = started.elapsed();
            let rest =
                if in_process && !behind { share.saturating_sub(took).max(took) } else { share.saturating_sub(took) };
            if left > 0 && !spread.is_zero() && !pause(rest, stop).await {
                break;
            }
        }
        self.meters.pending.set(self.pending.len() as f64);
        Ok(written)
    }

    /// Writes the pending usage of the keys `hashes` now, in one
    /// transaction, after any chunk a flush is writing: once it returns,
    /// every use of these keys this node counted before the call is in
    /// storage (their `lastUsedAt` precisely, if they are in a grace
    /// period). The rotation sweeper calls it before it decides that a key
    /// has gone unused. Returns how many keys had usage to write; on
    /// failure the usage is put back.
    pub async fn flush_keys(&self, hashes: &[KeyHash]) -> Result<usize, StoreError> {
        let _turn = self.flushing.lock().await;
        let taken = self.pending.take_keys(hashes);
        if taken.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.write(&taken).await {
            self.pending.put_back(taken);
            return Err(e);
        }
        self.meters.flushed.increment(taken.len() as u64);
        self.meters.pending.set(self.pending.len() as f64);
        Ok(taken.len())
    }

    /// Writes one chunk: `lastUsedAt` (at most once a minute per key that
    /// is remembered, unless it is precise), then the counts, in one
    /// transaction.
    async fn write(&self, chunk: &[(Tag, KeyPending)]) -> Result<(), StoreError> {
        let last_used: Vec<(Tag, KeyId, Millis)> = {
            let written = self.last_written.lock().unwrap_or_else(PoisonError::into_inner);
            chunk
                .iter()
                .filter_map(|(hash, p)| p.last_used.map(|t| (hash, p, t)))
                .filter(|(hash, p, t)| {
                    written.get(*hash).is_none_or(|w| if p.precise { t > w } else { t - w >= LAST_USED_PRECISION_MS })
                })
                .map(|(hash, p, t)| (*hash, p.id.clone(), t))
                .collect()
        };
        let counts = usage_counts(chunk);
        let ids: Vec<(KeyId, Millis)> = last_used.iter().map(|(_, id, t)| (id.clone(), *t)).collect();
        // Re-writing last-used values after a failure here is idempotent,
        // and counts cannot be half-written (one transaction).
        self.store.record_key_usage(&ids, &counts).await?;
        let mut written = self.last_written.lock().unwrap_or_else(PoisonError::into_inner);
        for (hash, _, t) in last_used {
            if written.len() < LAST_WRITTEN_MAX || written.contains_key(&hash) {
                written.insert(hash, t);
            }
        }
        Ok(())
    }

    /// Stops `flusher`, then writes pending usage until `deadline` has
    /// passed (from now), in large chunks, and whatever is left to a spill
    /// file in `spill_dir` ([`crate::spill`]), which the next start's
    /// flusher writes to storage. Without `spill_dir`, what is left stays
    /// pending (and is lost with the process). A chunk in flight at the
    /// deadline is finished, never cut short, so nothing is written twice.
    pub async fn flush_at_shutdown(
        &self,
        flusher: Flusher,
        deadline: Duration,
        spill_dir: Option<&Path>,
    ) -> Result<ShutdownFlush, SpillError> {
        let until = Instant::now() + deadline;
        flusher.stop().await;
        let mut done = ShutdownFlush { flushed: 0, spilled: 0, spill: None };
        // Everything at once, in id order (neighbours share pages).
        let mut all = self.pending.take_all();
        all.sort_unstable_by(|(_, a), (_, b)| a.id.cmp(&b.id));
        let mut rest = all.as_slice();
        while !rest.is_empty() && Instant::now() < until {
            let (chunk, after) = rest.split_at(SHUTDOWN_CHUNK.min(rest.len()));
            if let Err(e) = self.write(chunk).await {
                tracing::warn!(error = %e, "could not write key usage at shutdown");
                break;
            }
            done.flushed += chunk.len();
            self.meters.flushed.increment(chunk.len() as u64);
            rest = after;
        }
        if !rest.is_empty() {
            let left = all.split_off(all.len() - rest.len());
            let chunk = self.store.usage_batching().chunk;
            match spill_dir.map(|dir| spill::write_spill(dir, &left, chunk)) {
                Some(Ok(path)) => (done.spilled, done.spill) = (left.len(), Some(path)),
                Some(Err(e)) => {
                    self.pending.put_back(left);
                    return Err(e);
                }
                None => self.pending.put_back(left),
            }
        }
        self.meters.pending.set(self.pending.len() as f64);
        Ok(done)
    }

    /// Flushes usage (and sweeps idle rate-limit state) every `interval`
    /// until stopped ([`Background::stop`]): the next [`flush_budget`] keys of the
    /// sweep, over about half the interval. With `spill_dir`, usage spilled
    /// there (by the last shutdown, or by this flusher while the writes
    /// fell behind) is written to storage whenever fewer than half the
    /// target keys are pending, and an excess over twice the target is
    /// spilled there.
    pub fn spawn_flusher(self: &Arc<Self>, interval: Duration, spill_dir: Option<PathBuf>) -> Flusher {
        let this = Arc::clone(self);
        Background::spawn("the usage flusher", |mut stop| async move {
            // Spills of the last run may be there: look once.
            let mut spills = spill_dir.is_some();
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                if let Some(dir) = &spill_dir {
                    this.relieve(dir, &mut spills, interval, &stop).await;
                }
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                let pending = this.pending.len();
                let budget = flush_budget(pending, this.pending_target, interval);
                let behind = pending > this.pending_target;
                if let Err(e) = this.flush_paced(budget, interval / 2, behind, &mut stop).await {
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

    /// The spill side of the flusher, in `dir`: with more than twice the
    /// target keys pending, the excess (the next keys of the sweep, but
    /// not those of keys in a rotation's grace period, whose last use a
    /// sweeper waits for) goes to a new spill file; with fewer than half
    /// the target pending and `spills` possibly there, they are written to
    /// storage, paced like a flush, until the pending keys reach the target
    /// again. `spills` says whether spill files may be there.
    async fn relieve(
        self: &Arc<Self>,
        dir: &Path,
        spills: &mut bool,
        interval: Duration,
        stop: &watch::Receiver<bool>,
    ) {
        let target = self.pending_target;
        let chunk = self.store.usage_batching().chunk;
        let pending = self.pending.len();
        if pending > 2 * target {
            // In one turn with flushes: usage no longer pending is stored,
            // or in a spill ([`KeyVerifier::flush_keys`] waits for it).
            // Off the runtime's threads: taking a large excess sorts it,
            // and the file is synced.
            let _turn = self.flushing.lock().await;
            let (this, dir) = (Arc::clone(self), dir.to_owned());
            // A file per SPILL_SLICE keys, so that what is taken at once
            // stays small (the excess is 165,000 keys at the default
            // budget: ~20 MB if taken at once).
            let done = tokio::task::spawn_blocking(move || {
                let (mut left, mut keys, mut last) = (pending - target, 0, None);
                while left > 0 {
                    let taken = this.pending.take(left.min(SPILL_SLICE));
                    if taken.is_empty() {
                        break;
                    }
                    left = left.saturating_sub(taken.len());
                    let (kept, spilled): (Vec<_>, Vec<_>) = taken.into_iter().partition(|(_, p)| p.precise);
                    this.pending.put_back(kept);
                    match spill::write_spill(&dir, &spilled, chunk) {
                        Ok(path) => (keys, last) = (keys + spilled.len(), Some(path)),
                        Err(e) => {
                            this.pending.put_back(spilled);
                            return (keys, last, Some(e));
                        }
                    }
                }
                (keys, last, None)
            })
            .await;
            match done {
                Ok((keys, last, failed)) => {
                    if let Some(path) = last {
                        *spills = true;
                        tracing::warn!(
                            keys,
                            pending = self.pending.len(),
                            last_file = %path.display(),
                            "key usage writes fall behind verification: usage spilled to the data directory, written once they catch up"
                        );
                    }
                    if let Some(e) = failed {
                        tracing::error!(error = %e, "could not spill key usage; it stays pending");
                    }
                }
                Err(e) => tracing::error!(error = %e, "the usage spill task failed"),
            }
            self.meters.pending.set(self.pending.len() as f64);
        } else if *spills && pending < target / 2 {
            let chunks = FLUSH_BUDGET.div_ceil(chunk);
            let pause = interval / 2 / u32::try_from(chunks).unwrap_or(1);
            let go_on = || running(stop) && self.pending.len() < target;
            match self.replay_spills(dir, pause, go_on).await {
                Ok(_) => *spills = !matches!(spill::spill_files(dir), Ok(files) if files.is_empty()),
                Err(e) => {
                    // Not again every tick: the spills stay for the next
                    // start (or the next spill of this run).
                    *spills = false;
                    tracing::error!(error = %e, "could not write spilled key usage; it is kept for a later attempt");
                }
            }
        }
    }
}

/// The counts of `chunk`, one row per key, day and outcome counted.
fn usage_counts(chunk: &[(Tag, KeyPending)]) -> Vec<UsageCount> {
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
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flush interval the server uses.
    const INTERVAL: Duration = Duration::from_secs(2);

    /// A flush writes at least its budget; up to the target, the pending
    /// keys' share of a 50 s sweep; past it, a sweep that shortens with the
    /// fourth power of the excess, so the keys written per flush grow with
    /// its fifth power, and never fall as more are pending.
    #[test]
    fn the_budget_grows_with_the_backlog_and_faster_past_the_target() {
        assert_eq!(flush_budget(0, 100_000, INTERVAL), FLUSH_BUDGET);
        assert_eq!(flush_budget(30_000, 100_000, INTERVAL), FLUSH_BUDGET);
        assert_eq!(flush_budget(100_000, 100_000, INTERVAL), 4_000);
        assert_eq!(flush_budget(150_000, 100_000, INTERVAL), 30_375);
        assert_eq!(flush_budget(200_000, 100_000, INTERVAL), 128_000);
        let mut last = 0;
        for pending in (0..1_000_000).step_by(7_919) {
            let budget = flush_budget(pending, 100_000, INTERVAL);
            assert!(budget >= last, "{pending}: {budget} < {last}");
            last = budget;
        }
    }
}
