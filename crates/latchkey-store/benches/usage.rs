//! The write-behind's cost per key and per chunk (issue 25, point 5):
//! `bench/usage.sh` runs it (release build) on SQLite and on PostgreSQL and
//! prints medians.
//!
//! A database of `KEYS` keys (`common::fill_keys`). Then, `RUNS` times,
//! for each chunk size in `CHUNKS` (the order alternating between runs):
//! `SWEEP` keys' usage written as the flusher writes it, in id order,
//! `chunk` keys per `KeyStore::record_key_usage` call: each key's
//! `lastUsedAt` (later each time, so every row is updated) and two counts
//! (two outcomes of one day); and, as before issue 25, chunks of 50 with
//! `lastUsedAt` and counts in two transactions (`chunk50_split`: what
//! PostgreSQL did; SQLite wrote both in one). Figures per chunk size and run: the median
//! and the longest chunk, and the cost per key (the sweep's time over its
//! keys), in milliseconds.
//!
//! Usage: `usage sqlite` or `usage postgres://user@host:port` (a fresh
//! database, dropped afterwards).
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

mod common;

use std::time::{Duration, Instant};

use common::{Backend, NOW, fill_keys, result};
use latchkey_core::id::KeyId;
use latchkey_store::UsageCount;

/// Keys in the database.
const KEYS: i64 = 100_000;
/// Keys written per chunk size and run.
const SWEEP: usize = 20_000;
/// The chunk sizes measured.
const CHUNKS: [usize; 4] = [50, 500, 2_000, 5_000];
/// Runs of each measurement.
const RUNS: usize = 3;

/// The id of the `i`th copied key (`common::fill_keys`).
fn key_id(i: usize) -> KeyId {
    KeyId::from(format!("key_01bench{i:015}").as_str())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let target = std::env::args().nth(1).expect("usage: usage sqlite | usage postgres://…");
    let backend = Backend::open(&target).await;
    let t = Instant::now();
    fill_keys(&*backend.store, &backend.pool, KEYS).await;
    eprintln!("{}: {KEYS} keys made in {:.1} s", backend.name, t.elapsed().as_secs_f64());
    let (store, name) = (&backend.store, backend.name);
    let mut at = NOW;
    // Each sweep starts where the last stopped, so that no run reads pages
    // the previous one just wrote.
    let mut next = 1;
    for run in 0..RUNS {
        let mut order: Vec<(usize, bool)> = CHUNKS.iter().map(|c| (*c, false)).collect();
        order.insert(0, (50, true));
        if run % 2 == 1 {
            order.reverse();
        }
        for (chunk, split) in order {
            let label = if split { format!("chunk{chunk}_split") } else { format!("chunk{chunk}") };
            at += 60_000;
            let mut times = Vec::with_capacity(SWEEP / chunk);
            let started = Instant::now();
            for first in (0..SWEEP).step_by(chunk) {
                let ids: Vec<KeyId> =
                    (first..first + chunk).map(|i| key_id((next + i) % (KEYS as usize - 1) + 1)).collect();
                let last_used: Vec<(KeyId, i64)> = ids.iter().map(|id| (id.clone(), at)).collect();
                let counts: Vec<UsageCount> = ids
                    .iter()
                    .flat_map(|id| {
                        ["VALID", "RATE_LIMITED"].map(|outcome| UsageCount {
                            key_id: id.clone(),
                            day: "2025-06-15".to_owned(),
                            outcome: outcome.to_owned(),
                            count: 3,
                        })
                    })
                    .collect();
                let t = Instant::now();
                if split {
                    store.record_last_used(&last_used).await.unwrap();
                    store.record_usage(&counts).await.unwrap();
                } else {
                    store.record_key_usage(&last_used, &counts).await.unwrap();
                }
                times.push(t.elapsed());
            }
            let total = started.elapsed();
            next += SWEEP;
            times.sort();
            result(name, &format!("{label}_median"), run, times[times.len() / 2]);
            result(name, &format!("{label}_longest"), run, times[times.len() - 1]);
            result(name, &format!("{label}_per_key"), run, total / u32::try_from(SWEEP).unwrap());
            eprintln!(
                "{name} run {run} {label}: {:.0} keys/s",
                SWEEP as f64 / total.as_secs_f64().max(Duration::from_micros(1).as_secs_f64())
            );
        }
    }
    backend.close().await;
}
