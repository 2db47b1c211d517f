//! The verifier's warm-up read and the change-log prune at scale (issue 25),
//! before and after, in one run: `bench/warmup.sh` runs it (release build)
//! on SQLite and on PostgreSQL and prints medians.
//!
//! A database of `KEYS` keys: one stored through the store's API
//! (`bootstrap`), the rest copies of its row made by one `INSERT … SELECT`
//! with their own ids and hashes (the key-change triggers log each, as they
//! do for the server's inserts). Then, `RUNS` times, alternating:
//!
//! * the warm-up, paging to the end 1,000 keys at a time as
//!   `KeyVerifier::warm` does: with the statement as it was (`before`,
//!   `($2 IS NULL OR k.id > $2)`), as it is (`after`), and through
//!   `KeyStore::usable_keys` (`store`);
//! * the prune of `CHANGES` change-log entries: one `DELETE` (`before`),
//!   the batches one by one ([`PRUNE_KEY_CHANGES`]: the longest statement),
//!   and `Store::prune_key_changes` with its pauses (`store`).
//!
//! Usage: `warmup sqlite` or `warmup postgres://user@host:port` (a fresh
//! database, dropped afterwards). Prints one `RESULT` line per figure and
//! run, in milliseconds.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Backend, NOW, Pool, fill_keys, result};
use latchkey_store::sql::{PRUNE_KEY_CHANGES, USABLE_KEYS};
use latchkey_store::{PRUNE_BATCH, Store};
use sqlx::Row as _;

/// Keys in the database.
const KEYS: i64 = 100_000;
/// Change-log entries pruned.
const CHANGES: i64 = 200_000;
/// Runs of each measurement.
const RUNS: usize = 3;
/// The warm-up's page (`KeyVerifier::warm`).
const PAGE: i64 = 1_000;
/// The old prune: everything older in one statement.
const PRUNE_AT_ONCE: &str = "DELETE FROM key_changes WHERE changed_at < $1";

/// The warm-up's statements and the prune's, on the raw pool.
impl Pool {
    /// Pages through the usable keys with `sql` (a warm-up statement):
    /// how many, and the last id.
    async fn page_through(&self, sql: &'static str) -> (i64, String) {
        let (mut n, mut after): (i64, Option<String>) = (0, None);
        loop {
            let ids: Vec<String> = on_pool!(self, pool => {
                let rows = sqlx::query(sql).bind(NOW).bind(after.as_deref()).bind(PAGE).fetch_all(pool).await.unwrap();
                rows.iter().map(|r| r.get::<String, _>("id")).collect()
            });
            n += ids.len() as i64;
            let full = ids.len() as i64 == PAGE;
            if let Some(last) = ids.into_iter().next_back() {
                after = Some(last);
            }
            if !full {
                return (n, after.unwrap_or_default());
            }
        }
    }

    /// Runs `sql` binding `binds` (integers); rows changed.
    async fn execute(&self, sql: &'static str, binds: &[i64]) -> u64 {
        on_pool!(self, pool => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(pool).await.unwrap().rows_affected()
        })
    }
}

/// `CHANGES` change-log entries made at 1 s after the epoch.
async fn fill_changes(pool: &Pool) {
    let sql = match pool {
        Pool::Sqlite(_) => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {CHANGES}) \
             INSERT INTO key_changes (key_hash, changed_at) SELECT randomblob(32), 1000 FROM n"
        ),
        Pool::Postgres(_) => format!(
            "INSERT INTO key_changes (key_hash, changed_at) \
             SELECT sha256(i::text::bytea), 1000 FROM generate_series(1, {CHANGES}) i"
        ),
    };
    pool.run(sql).await;
}

/// Every measurement, `RUNS` times, on `store` (and `pool`, its database).
async fn measure(backend: &str, store: Arc<dyn Store>, pool: &Pool) {
    let t = Instant::now();
    fill_keys(&*store, pool, KEYS).await;
    eprintln!("{backend}: {KEYS} keys made in {:.1} s", t.elapsed().as_secs_f64());
    let before: &'static str = USABLE_KEYS.replace("k.id > coalesce($2, '')", "($2 IS NULL OR k.id > $2)").leak();
    assert_ne!(before, USABLE_KEYS, "the warm-up statement changed: update the `before` form");
    // One untimed pass: the first read of fresh rows sets their hint bits
    // and fills the page cache, whichever statement comes first.
    pool.page_through(USABLE_KEYS).await;

    for run in 0..RUNS {
        // Alternated: before, after, store; then the other way round.
        let order: [&str; 3] = if run % 2 == 0 { ["before", "after", "store"] } else { ["store", "after", "before"] };
        for what in order {
            let t = Instant::now();
            let (n, last) = match what {
                "before" => pool.page_through(before).await,
                "after" => pool.page_through(USABLE_KEYS).await,
                _ => {
                    let (mut n, mut after) = (0, None);
                    loop {
                        let page = store.usable_keys(after.as_ref(), PAGE, NOW).await.unwrap();
                        n += page.len() as i64;
                        let full = page.len() as i64 == PAGE;
                        after = page.last().map(|k| k.id.clone()).or(after);
                        if !full {
                            break (n, after.map(|a| a.to_string()).unwrap_or_default());
                        }
                    }
                }
            };
            result(backend, &format!("warmup_{what}"), run, t.elapsed());
            assert_eq!(n, KEYS, "{what}: every key once");
            assert!(last.starts_with("key_01bench") || last.starts_with("key_"), "{last}");
        }

        // The prune: one statement; the batches one by one; the store's.
        fill_changes(pool).await;
        let t = Instant::now();
        assert_eq!(pool.execute(PRUNE_AT_ONCE, &[2000]).await, CHANGES.unsigned_abs());
        result(backend, "prune_one_statement", run, t.elapsed());

        fill_changes(pool).await;
        let (mut longest, mut total, mut pruned) = (Duration::ZERO, Duration::ZERO, 0);
        loop {
            let t = Instant::now();
            let n = pool.execute(PRUNE_KEY_CHANGES, &[2000, PRUNE_BATCH]).await;
            let took = t.elapsed();
            (longest, total, pruned) = (longest.max(took), total + took, pruned + n);
            if n < PRUNE_BATCH.unsigned_abs() {
                break;
            }
        }
        assert_eq!(pruned, CHANGES.unsigned_abs());
        result(backend, "prune_batch_longest", run, longest);
        result(backend, "prune_batches_sum", run, total);

        fill_changes(pool).await;
        let t = Instant::now();
        assert_eq!(store.prune_key_changes(2000).await.unwrap(), CHANGES.unsigned_abs());
        result(backend, "prune_store_total", run, t.elapsed());
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let target = std::env::args().nth(1).expect("usage: warmup sqlite | warmup postgres://…");
    let backend = Backend::open(&target).await;
    measure(backend.name, Arc::clone(&backend.store), &backend.pool).await;
    backend.close().await;
}
