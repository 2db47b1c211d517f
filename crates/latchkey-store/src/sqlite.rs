//! The embedded SQLite adapter: one database file in the data directory, WAL
//! journal, `synchronous = FULL` (an acknowledged write survives a crash of
//! the process or the machine; the written-behind usage, on a connection of
//! its own, is the one exception), foreign keys on, migrations applied at
//! open.
//!
//! Writes that read before they write use `BEGIN IMMEDIATE`, so two writers
//! queue on the busy timeout instead of failing on a lock upgrade.
//!
//! The queries are [`crate::sql`]'s; this module holds only what is
//! SQLite's own: opening the file, the transaction opener, the JSON batch
//! statements and the change-log cursor.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use tokio::sync::Mutex;

use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, KeyId};

use crate::sql::{Dialect, KeyBatch, LAST_USE_BUCKET_MS, Runner, SqlStore, Tx, query, record};
use crate::{
    ApiKeyRecord, ChangeCursor, Invalidation, InvalidationSink, MAX_KEY_CHANGES, StoreError, StoreResult,
    UsageBatching, UsageCount, files,
};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "latchkey.db";

/// A group of new keys ([`KeyBatch`]) in one command to the connection's
/// thread: its transaction (`BEGIN IMMEDIATE`), the keys (`$1`) into
/// `api_keys` and the events (`$2`) into `audit_events`, in their order,
/// the owners (`$3`) with their role in the key's organization (the rows it
/// answers), and the commit. One command, not five: each is a hand-off to
/// the connection's thread and back, and at a few keys a group the
/// hand-offs were most of a creation's cost (bench/RESULTS.md, "Issue 25:
/// creation, session 20").
const KEY_GROUP: &str = concat!(
    "BEGIN IMMEDIATE; ",
    insert_api_keys!(),
    "SELECT r.value ->> 'id', r.value ->> 'org_id', r.value ->> 'project_id', r.value ->> 'name', \
       unhex(r.value ->> 'key_hash'), r.value ->> 'key_prefix', r.value ->> 'key_hint', r.value ->> 'environment', \
       r.value ->> 'kind', r.value ->> 'scopes', r.value ->> 'owner_user_id', r.value ->> 'created_by_user_id', \
       r.value ->> 'created_by_key_id', r.value ->> 'rate_limit_per_minute', r.value ->> 'rate_limit_per_day', \
       r.value ->> 'expires_at', r.value ->> 'created_at', r.value ->> 'created_at', r.value ->> 'rotated_from', \
       r.value ->> 'remaining', r.value ->> 'refill_amount', r.value ->> 'refill_interval', r.value ->> 'created_at', \
       r.value ->> 'surface_id', r.value ->> 'allowed_cidrs', r.value ->> 'imported', r.value ->> 'external_id' \
     FROM jsonb_each($1) r ORDER BY r.key; ",
    insert_audit_events!(),
    "SELECT r.value ->> 'id', r.value ->> 'org_id', r.value ->> 'at', r.value ->> 'actor_type', \
       r.value ->> 'actor_id', r.value ->> 'action', r.value ->> 'target_type', r.value ->> 'target_id', \
       r.value ->> 'ip', r.value ->> 'request_id', r.value ->> 'details' \
     FROM jsonb_each($2) r ORDER BY r.key; ",
    "SELECT o.value ->> 'org_id' AS org_id, u.id AS user_id, u.email, u.display_name, m.role \
     FROM jsonb_each($3) o JOIN users u ON u.id = o.value ->> 'user_id' \
     LEFT JOIN memberships m ON m.org_id = o.value ->> 'org_id' AND m.user_id = u.id; ",
    "COMMIT"
);

/// The SQLite store.
pub type SqliteStore = SqlStore<Sqlite>;

/// The SQLite dialect.
#[derive(Debug, Clone, Copy)]
pub enum Sqlite {}

/// What a SQLite store holds besides its pool.
#[derive(Debug, Clone)]
pub struct SqliteState {
    /// One connection of its own for the verifier's write-behind usage
    /// (counts and `lastUsedAt`), with `synchronous = NORMAL`. Its page
    /// cache stays warm between flushes (SQLite empties a connection's
    /// cache whenever another connection wrote, so flushes spread over the
    /// shared pool started cold, reading every page back through a system
    /// call), and its commits do not wait for a WAL `fsync`: usage is
    /// written behind anyway, the `fsync` of any later commit (every API
    /// write, the next checkpoint) covers it, and only a power cut in
    /// between can lose it, never a crash of the process.
    usage: SqlitePool,
    /// One connection of its own for new keys (the group committer's
    /// [`KEY_GROUP`]s): its page cache stays warm from one group to the
    /// next (the pool's connections take turns, and each found its cache
    /// emptied by the last group's commit on another). Not a pool of one:
    /// sqlx's pool pings a connection's thread each time it is given back,
    /// a round trip between two groups.
    keys: Arc<Mutex<SqliteConnection>>,
}

driver_impls!(SqliteArguments, SqliteRow);

impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;
    type Args = SqliteArguments;
    type Row = SqliteRow;
    type State = SqliteState;

    const NAME: &'static str = "sqlite";
    const ROW_LOCKS: bool = false;
    const ILIKE: bool = false;
    const BOOTSTRAP_LOCK: Option<&'static str> = None;
    const REWRAP_LOCK: Option<&'static str> = None;
    const SCHEDULER_LOCK: Option<&'static str> = None;
    // SQLite commits on this process's CPU, while verification waits for
    // the core: 500 keys (about 16 ms) is the most a chunk writes before
    // its time, not its count, matters (bench/usage.sh).
    const USAGE_BATCHING: UsageBatching = UsageBatching { chunk: 500, in_process: true };

    run_queries!();

    /// `BEGIN IMMEDIATE`: the transaction takes the write lock at once, so
    /// two writers that read first queue on the busy timeout instead of
    /// failing on a lock upgrade, and what one read stays true until it
    /// commits.
    async fn begin_write(pool: &SqlitePool) -> StoreResult<Tx<Self>> {
        Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn find_keys_by_hashes(store: &SqliteStore, hashes: &[KeyHash]) -> StoreResult<Vec<ApiKeyRecord>> {
        // One statement whatever the count: the hashes travel as one JSON
        // array of hex strings.
        let hex: Vec<String> = hashes.iter().map(|h| hex::encode(h.as_bytes())).collect();
        let rows =
            query::<Self>(concat!(select_keys!(), "WHERE k.key_hash IN (SELECT unhex(value) FROM json_each($1))"))
                .bind(serde_json::to_string(&hex).map_err(|e| StoreError::Corrupt(e.to_string()))?)
                .fetch_all(&store.pool)
                .await?;
        rows.iter().map(record).collect()
    }

    /// [`KEY_GROUP`], on the key connection ([`SqliteState`]); if it
    /// fails, whatever of its transaction began is rolled back.
    async fn insert_key_batch(store: &SqliteStore, batch: KeyBatch) -> StoreResult<Vec<SqliteRow>> {
        let mut conn = store.state.keys.lock().await;
        let written =
            query::<Self>(KEY_GROUP).bind(batch.keys).bind(batch.events).bind(batch.owners).fetch_all(&mut *conn).await;
        if written.is_err() {
            // Nothing of the group is kept (the transaction may not have
            // begun: then there is nothing to roll back, and that error is
            // not the one to report).
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        written
    }

    /// The usage connection ([`SqliteState`]).
    fn usage_pool(store: &SqliteStore) -> &SqlitePool {
        &store.state.usage
    }

    async fn write_key_usage(
        tx: &mut Tx<Self>,
        last_used: &[(KeyId, Millis)],
        counts: &[UsageCount],
    ) -> StoreResult<()> {
        write_last_used(tx, last_used).await?;
        write_usage(&mut **tx, counts).await
    }

    /// One process owns an SQLite database: its own cache is evicted by the
    /// caller, and there is nobody else to tell.
    async fn publish_invalidation(_store: &SqliteStore, _hashes: &[KeyHash]) -> StoreResult<()> {
        Ok(())
    }

    async fn watch_invalidations(_store: &SqliteStore, _sink: InvalidationSink) -> StoreResult<()> {
        Ok(())
    }

    /// SQLite writers take turns, so log entries commit in `seq` order: the
    /// cursor is the last `seq` read.
    async fn key_changes_cursor(store: &SqliteStore) -> StoreResult<ChangeCursor> {
        let (seq,): (i64,) =
            sqlx::query_as("SELECT coalesce(max(seq), 0) FROM key_changes").fetch_one(&store.pool).await?;
        Ok(ChangeCursor(seq))
    }

    async fn key_changes(store: &SqliteStore, cursor: ChangeCursor) -> StoreResult<(Invalidation, ChangeCursor)> {
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, key_hash FROM key_changes WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(cursor.0)
                .bind(crate::KEY_CHANGES_LIMIT)
                .fetch_all(&store.pool)
                .await?;
        let Some(&(last, _)) = rows.last() else {
            return Ok((Invalidation::Keys(Vec::new()), cursor));
        };
        if rows.len() > MAX_KEY_CHANGES {
            // Too many to evict one by one: drop everything, and go on from
            // the end of the log.
            return Ok((Invalidation::All, Self::key_changes_cursor(store).await?));
        }
        Ok((Invalidation::Keys(crate::change_log_hashes(rows.iter().map(|(_, h)| h))?), ChangeCursor(last)))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/latchkey.db` and applies
    /// pending migrations. The directory is created 0700 and the database
    /// 0600 ([`crate::files`]).
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        // The directory 0700 and the database 0600, whatever the umask
        // (SQLite gives its -wal and -shm files the database file's mode);
        // looser modes left by an older version are tightened.
        let path = data_dir.join(DB_FILE);
        files::private_dir(data_dir).map_err(sqlx::Error::Io)?;
        files::private_file(&path).map_err(sqlx::Error::Io)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            files::tighten_if_exists(Path::new(&side)).map_err(sqlx::Error::Io)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // 1 MiB of page cache for the writers' connections (SQLite's
            // default is 2 MiB): verification reads keys from latchkey's own
            // cache, and the OS caches the file anyway.
            .pragma("cache_size", "-1024");
        // The pool's eight connections read: a connection's page cache is
        // emptied whenever another connection has committed since its last
        // read (the WAL index changed), which the usage writer does several
        // times a second under load, so a read mostly starts cold whatever
        // the cache's size. 256 KiB each holds what a key lookup touches and
        // keeps their share of the resident memory small
        // (bench/RESULTS.md, session 24).
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone().pragma("cache_size", "-256"))
            .await?;
        crate::ops::migrate(&crate::ops::SQLITE_MIGRATIONS, &pool).await?;
        let keys = Arc::new(Mutex::new(options.connect().await?));
        let usage = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await?;
        Ok(Self { pool, state: SqliteState { usage, keys } })
    }
}

/// Adds verification counts: one statement for the whole batch.
async fn write_usage(on: impl Runner<Sqlite>, batch: &[UsageCount]) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    // One statement for the whole batch: the rows travel as one JSON array
    // `[[key_id, day, outcome, count], ...]`. Keys deleted meanwhile are
    // skipped (the foreign key would refuse them).
    let rows: Vec<(&str, &str, &str, i64)> =
        batch.iter().map(|u| (u.key_id.as_str(), u.day.as_str(), u.outcome.as_str(), u.count)).collect();
    query::<Sqlite>(
        "INSERT INTO key_usage (key_id, day, outcome, count) \
         SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3 FROM jsonb_each($1) j \
         WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = j.value ->> 0) \
         ON CONFLICT (key_id, day, outcome) DO UPDATE SET count = key_usage.count + excluded.count",
    )
    .bind(serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?)
    .execute(on)
    .await?;
    Ok(())
}

/// Writes `lastUsedAt` values (and their buckets): two statements for the whole batch.
async fn write_last_used(on: &mut SqliteConnection, batch: &[(KeyId, Millis)]) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    // Two statements for the whole batch (`[[key_id, at_ms], ...]`); a value
    // never moves backwards. A key named twice takes its latest time (an
    // `UPDATE … FROM` with several rows for one target row would use any
    // one of them). The bucket is set by a second statement, for the keys
    // whose bucket changed only: SQLite rewrites the index entry of every
    // row an UPDATE assigns an indexed column, changed or not.
    let rows = serde_json::to_string(batch).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    query::<Sqlite>(
        "UPDATE api_keys SET last_used_at = u.at \
         FROM (SELECT j.value ->> 0 AS id, MAX(j.value ->> 1) AS at FROM jsonb_each($1) j GROUP BY 1) u \
         WHERE api_keys.id = u.id AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < u.at)",
    )
    .bind(&rows)
    .execute(&mut *on)
    .await?;
    query::<Sqlite>(
        "UPDATE api_keys SET last_used_bucket = last_used_at - last_used_at % $2 \
         WHERE id IN (SELECT j.value ->> 0 FROM jsonb_each($1) j) \
           AND last_used_bucket IS NOT last_used_at - last_used_at % $2",
    )
    .bind(&rows)
    .bind(LAST_USE_BUCKET_MS)
    .execute(on)
    .await?;
    Ok(())
}
