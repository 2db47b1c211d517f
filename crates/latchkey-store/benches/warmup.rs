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

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_core::id::{IdKind, OrgId, UserId, new_id};
use latchkey_core::{Environment, KeyPrefix, PlainKey};
use latchkey_store::postgres::PgStore;
use latchkey_store::sql::{PRUNE_KEY_CHANGES, USABLE_KEYS};
use latchkey_store::sqlite::{DB_FILE, SqliteStore};
use latchkey_store::{NewApiKey, Org, PRUNE_BATCH, Store, User};
use sqlx::{AssertSqlSafe, Connection as _, Row as _};

/// Keys in the database.
const KEYS: i64 = 100_000;
/// Change-log entries pruned.
const CHANGES: i64 = 200_000;
/// Runs of each measurement.
const RUNS: usize = 3;
/// The warm-up's page (`KeyVerifier::warm`).
const PAGE: i64 = 1_000;
/// The time the keys are read at.
const NOW: i64 = 1_750_000_000_000;
/// The old prune: everything older in one statement.
const PRUNE_AT_ONCE: &str = "DELETE FROM key_changes WHERE changed_at < $1";

/// One backend's raw connections, to run the statements as the store does
/// (prepared once, by their text).
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool.
macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match $self {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

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

    /// Runs one statement of text made here.
    async fn run(&self, sql: String) {
        on_pool!(self, pool => { sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap(); });
    }
}

/// The database's keys: one through the store, `KEYS - 1` copies of it.
async fn fill_keys(store: &dyn Store, pool: &Pool) {
    let org = Org {
        id: OrgId::new(),
        name: "bench".into(),
        slug: "bench".into(),
        members_see_all_keys: false,
        created_at: NOW,
    };
    let user =
        User { id: UserId::new(), email: "bench@example.com".into(), display_name: "bench".into(), created_at: NOW };
    let plain = PlainKey::generate(&KeyPrefix::branded("lk", Environment::Live).unwrap());
    let key = NewApiKey::admin(&plain, &org.id, &user.id, "bench", NOW);
    store.bootstrap(&org, &user, &key, &[]).await.unwrap();
    let columns = "org_id, project_id, name, key_prefix, key_hint, environment, kind, scopes, owner_user_id, \
                   created_by_user_id, created_by_key_id, rate_limit_per_minute, rate_limit_per_day, expires_at, \
                   created_at, updated_at, rotated_from, remaining, refill_amount, refill_interval, refilled_at, surface_id";
    let (series, id, hash) = match pool {
        Pool::Sqlite(_) => (
            format!(
                "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) SELECT i FROM n)",
                KEYS - 1
            ),
            "printf('key_01bench%015d', s.i)",
            "randomblob(32)",
        ),
        Pool::Postgres(_) => (
            format!("(SELECT generate_series(1, {}) AS i)", KEYS - 1),
            "'key_01bench' || lpad(s.i::text, 15, '0')",
            "sha256(s.i::text::bytea)",
        ),
    };
    pool.run(format!(
        "INSERT INTO api_keys (id, key_hash, {columns}) SELECT {id}, {hash}, {columns} \
         FROM api_keys k, {series} s WHERE k.id = '{}'",
        key.id
    ))
    .await;
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

/// Milliseconds of `d`.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints one figure.
fn result(backend: &str, what: &str, run: usize, d: Duration) {
    println!("RESULT {backend} {what} run={run} ms={:.1}", ms(d));
}

/// Every measurement, `RUNS` times, on `store` (and `pool`, its database).
async fn measure(backend: &str, store: Arc<dyn Store>, pool: Pool) {
    let t = Instant::now();
    fill_keys(&*store, &pool).await;
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
        fill_changes(&pool).await;
        let t = Instant::now();
        assert_eq!(pool.execute(PRUNE_AT_ONCE, &[2000]).await, CHANGES.unsigned_abs());
        result(backend, "prune_one_statement", run, t.elapsed());

        fill_changes(&pool).await;
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

        fill_changes(&pool).await;
        let t = Instant::now();
        assert_eq!(store.prune_key_changes(2000).await.unwrap(), CHANGES.unsigned_abs());
        result(backend, "prune_store_total", run, t.elapsed());
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let target = std::env::args().nth(1).expect("usage: warmup sqlite | warmup postgres://…");
    if target == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join(DB_FILE));
        let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(4).connect_with(options).await.unwrap();
        measure("sqlite", store, Pool::Sqlite(pool)).await;
        return;
    }
    let server = target.trim_end_matches('/');
    let name = format!("latchkey_bench_{}", new_id(IdKind::Event).trim_start_matches("evt_"));
    let url = format!("{server}/{name}");
    let store = Arc::new(PgStore::connect(&url).await.unwrap());
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&url).await.unwrap();
    measure("postgres", store.clone(), Pool::Postgres(pool.clone())).await;
    pool.close().await;
    drop(store);
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .unwrap();
}
