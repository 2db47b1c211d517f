//! The embedded SQLite adapter: one database file in the data directory, WAL
//! journal, `synchronous = FULL` (an acknowledged write survives a crash of
//! the process or the machine; the written-behind usage, on a connection of
//! its own, is the one exception), foreign keys on, migrations applied at
//! open.
//!
//! Writes that read before they write use `BEGIN IMMEDIATE`, so two writers
//! queue on the busy timeout instead of failing on a lock upgrade.

mod keys;
mod orgs;
mod people;
mod products;
mod projects;
mod secrets;

/// The shared row readers (`crate::rows`) for SQLite rows.
mod rows {
    row_readers!(sqlx::sqlite::SqliteRow);
}

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use latchkey_core::KeyHash;
use latchkey_core::time_fmt::Millis;

use crate::{
    ChangeCursor, Invalidation, InvalidationSink, MAX_KEY_CHANGES, Page, PoolStats, Store, StoreResult, files,
};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "latchkey.db";

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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
            // 1 MiB of page cache per connection (SQLite's default is 2 MiB):
            // verification reads keys from latchkey's own cache, and the OS
            // caches the file anyway; this keeps the eight connections' share
            // of the resident memory small.
            .pragma("cache_size", "-1024");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let usage = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await?;
        Ok(Self { pool, usage })
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats { size: self.pool.size(), idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX) }
    }

    /// One process owns an SQLite database: its own cache is evicted by the
    /// caller, and there is nobody else to tell.
    async fn publish_invalidation(&self, _hashes: &[KeyHash]) -> StoreResult<()> {
        Ok(())
    }

    async fn watch_invalidations(&self, _sink: InvalidationSink) -> StoreResult<()> {
        Ok(())
    }

    /// SQLite writers take turns, so log entries commit in `seq` order: the
    /// cursor is the last `seq` read.
    async fn key_changes_cursor(&self) -> StoreResult<ChangeCursor> {
        let (seq,): (i64,) =
            sqlx::query_as("SELECT coalesce(max(seq), 0) FROM key_changes").fetch_one(&self.pool).await?;
        Ok(ChangeCursor(seq))
    }

    async fn key_changes(&self, cursor: ChangeCursor) -> StoreResult<(Invalidation, ChangeCursor)> {
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, key_hash FROM key_changes WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(cursor.0)
                .bind(crate::KEY_CHANGES_LIMIT)
                .fetch_all(&self.pool)
                .await?;
        let Some(&(last, _)) = rows.last() else {
            return Ok((Invalidation::Keys(Vec::new()), cursor));
        };
        if rows.len() > MAX_KEY_CHANGES {
            // Too many to evict one by one: drop everything, and go on from
            // the end of the log.
            return Ok((Invalidation::All, self.key_changes_cursor().await?));
        }
        Ok((Invalidation::Keys(crate::change_log_hashes(rows.iter().map(|(_, h)| h))?), ChangeCursor(last)))
    }

    async fn prune_key_changes(&self, before: Millis) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM key_changes WHERE changed_at < $1").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}

/// `limit + 1` rows are fetched by callers that page; this clamps the limit.
fn page_limit(page: &Page) -> i64 {
    i64::from(page.limit.clamp(1, 100))
}

/// Appends an audit event with `exec` (inside the transaction of the change
/// it describes, or alone).
pub(super) async fn insert_event<'c>(
    exec: impl sqlx::Executor<'c, Database = sqlx::Sqlite>,
    e: &crate::AuditEvent,
) -> StoreResult<()> {
    sqlx::query(crate::INSERT_AUDIT_EVENT)
        .bind(&e.id)
        .bind(&e.org_id)
        .bind(e.at)
        .bind(&e.actor_type)
        .bind(&e.actor_id)
        .bind(&e.action)
        .bind(&e.target_type)
        .bind(&e.target_id)
        .bind(&e.ip)
        .bind(&e.request_id)
        .bind(&e.details)
        .execute(exec)
        .await?;
    Ok(())
}
