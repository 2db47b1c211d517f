//! The PostgreSQL adapter, for several nodes sharing one database: the same
//! schema and behaviour as the SQLite adapter, in PostgreSQL types (`BIGINT`
//! epoch milliseconds, `BYTEA` hashes, `BOOLEAN` flags, `TEXT` ids sorted in
//! byte order), migrations applied at connect.
//!
//! Where the SQLite adapter reads and then writes under `BEGIN IMMEDIATE`
//! (one writer at a time), this adapter runs ordinary `READ COMMITTED`
//! transactions and locks the rows it decides on (`SELECT … FOR UPDATE`),
//! or does the whole decision in one conditional statement, which
//! PostgreSQL re-checks against the latest row version when it had to wait.
//!
//! Key-cache invalidations travel between nodes with `NOTIFY` on the
//! `latchkey_keys` channel.

mod keys;
mod orgs;
mod people;
mod products;
mod projects;
mod secrets;

/// The shared row readers (`crate::rows`) for PostgreSQL rows.
mod rows {
    row_readers!(sqlx::postgres::PgRow);
}

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor as _};

use latchkey_core::KeyHash;
use latchkey_core::time_fmt::Millis;

use crate::{ChangeCursor, Invalidation, InvalidationSink, MAX_KEY_CHANGES, Page, PoolStats, Store, StoreResult};

/// The `NOTIFY` channel carrying key-cache invalidations.
const CHANNEL: &str = "latchkey_keys";

/// Hashes per notification: 64 hex digits and a comma each, so a payload
/// stays well below PostgreSQL's 8,000-byte limit (here at most 6,499 bytes).
const HASHES_PER_NOTIFICATION: usize = 100;

/// First and longest wait before the invalidation listener reconnects.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// SQLSTATE `invalid_catalog_name`: the database does not exist.
const UNDEFINED_DATABASE: &str = "3D000";
/// SQLSTATE `duplicate_database`.
const DUPLICATE_DATABASE: &str = "42P04";
/// SQLSTATE `unique_violation` (two `CREATE DATABASE` racing on the catalog).
const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATE `object_in_use` (the template database is busy).
const OBJECT_IN_USE: &str = "55006";

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:5432/name`),
    /// creating the database if it does not exist, and applies pending
    /// migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = match pool_options().connect_with(options.clone()).await {
            Ok(pool) => pool,
            Err(e) if sqlstate(&e).as_deref() == Some(UNDEFINED_DATABASE) => {
                create_database(&options).await?;
                pool_options().connect_with(options).await?
            }
            Err(e) => return Err(e.into()),
        };
        // Several nodes may start together against a fresh database: sqlx's
        // migrator takes a session-level PostgreSQL advisory lock
        // (`pg_advisory_lock`, keyed by the database name; see
        // `PgConnection::lock` in sqlx-postgres' migrate.rs, called by
        // `Migrator::run_direct` since `Migrator::locking` defaults to true)
        // before it reads `_sqlx_migrations`, so one node migrates while the
        // others wait, then find nothing left to do.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Opens a listener on the invalidation channel.
    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }
}

/// At most 16 connections; a request waits at most 3 s for one, so an
/// unreachable database turns into `Unavailable` (503) quickly.
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(3))
}

/// The SQLSTATE of a database error.
fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Creates the database `options` names, connecting to the same server's
/// `postgres` database. Another node creating it at the same time is fine.
async fn create_database(options: &PgConnectOptions) -> StoreResult<()> {
    // Without a database name PostgreSQL uses the user name.
    let name = options.get_database().unwrap_or_else(|| options.get_username()).to_owned();
    tracing::info!(database = %name, "creating the PostgreSQL database");
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options.clone().database("postgres"))
        .await?;
    // An identifier cannot be a bind parameter: quote it.
    let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        match admin.execute(AssertSqlSafe(sql.clone())).await {
            Ok(_) => break Ok(()),
            Err(e) => match sqlstate(&e).as_deref() {
                Some(DUPLICATE_DATABASE | UNIQUE_VIOLATION) => break Ok(()),
                Some(OBJECT_IN_USE) if attempt < 5 => tokio::time::sleep(Duration::from_millis(200)).await,
                _ => break Err(e),
            },
        }
    };
    admin.close().await;
    Ok(result?)
}

/// Lowercase hex of a hash.
fn hex(hash: &KeyHash) -> String {
    let mut s = String::with_capacity(64);
    for b in hash.as_bytes() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A hash from 64 hex digits.
fn parse_hex(s: &str) -> Option<KeyHash> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let bytes = (0..32).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?;
    KeyHash::from_bytes(&bytes)
}

/// Notification payloads for `hashes`: comma-separated lowercase hex, at
/// most [`HASHES_PER_NOTIFICATION`] each.
fn payloads(hashes: &[KeyHash]) -> Vec<String> {
    hashes.chunks(HASHES_PER_NOTIFICATION).map(|c| c.iter().map(hex).collect::<Vec<_>>().join(",")).collect()
}

/// The hashes of a notification payload (comma-separated hex); garbage is
/// skipped with a warning.
fn parse_payload(payload: &str) -> Vec<KeyHash> {
    let mut hashes = Vec::new();
    for part in payload.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match parse_hex(part) {
            Some(h) => hashes.push(h),
            None => tracing::warn!(part, "ignoring a malformed key hash in a `{CHANNEL}` notification"),
        }
    }
    hashes
}

/// Doubles `backoff`, up to [`MAX_BACKOFF`].
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(MAX_BACKOFF)
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats { size: self.pool.size(), idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX) }
    }

    async fn publish_invalidation(&self, hashes: &[KeyHash]) -> StoreResult<()> {
        for payload in payloads(hashes) {
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Returns only when the pool has been closed (the process is ending).
    async fn watch_invalidations(&self, sink: InvalidationSink) -> StoreResult<()> {
        let mut backoff = MIN_BACKOFF;
        let mut first = true;
        loop {
            let mut listener = match self.listen().await {
                Ok(listener) => listener,
                Err(sqlx::Error::PoolClosed) => return Ok(()),
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "cannot listen for key invalidations");
                    tokio::time::sleep(backoff).await;
                    backoff = next_backoff(backoff);
                    continue;
                }
            };
            if first {
                first = false;
            } else {
                tracing::info!("listening for key invalidations again; dropping every cached key");
                sink(Invalidation::All);
            }
            backoff = MIN_BACKOFF;
            let error = loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        let hashes = parse_payload(notification.payload());
                        if !hashes.is_empty() {
                            sink(Invalidation::Keys(hashes));
                        }
                    }
                    // The connection was lost: notifications sent from now
                    // until a new listener is in place are gone. The cache
                    // is dropped when listening again (above), not now: while
                    // the database is down, cached keys go on verifying, and
                    // nothing can be revoked meanwhile.
                    Ok(None) => break None,
                    Err(error) => break Some(error),
                }
            };
            match error {
                Some(sqlx::Error::PoolClosed) => return Ok(()),
                Some(error) => tracing::warn!(%error, retry_in = ?backoff, "lost the key-invalidation listener"),
                None => tracing::warn!(retry_in = ?backoff, "lost the key-invalidation listener's connection"),
            }
            drop(listener);
            tokio::time::sleep(backoff).await;
            backoff = next_backoff(backoff);
        }
    }

    /// The oldest transaction id still running: every log entry of an older
    /// transaction is committed (or gone with a rollback), and every later
    /// one has a transaction id at least this.
    async fn key_changes_cursor(&self) -> StoreResult<ChangeCursor> {
        let (xmin,): (i64,) = sqlx::query_as("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(&self.pool)
            .await?;
        Ok(ChangeCursor(xmin))
    }

    /// Entries of the transactions that finished since `cursor`: those
    /// from `cursor` up to (not including) the oldest still running.
    async fn key_changes(&self, cursor: ChangeCursor) -> StoreResult<(Invalidation, ChangeCursor)> {
        let rows: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as(
            "WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) \
             SELECT s.xmin::text::bigint, c.key_hash FROM s LEFT JOIN LATERAL ( \
               SELECT key_hash FROM key_changes \
               WHERE tx >= $1::text::xid8 AND tx < s.xmin ORDER BY tx LIMIT $2) c ON true",
        )
        .bind(cursor.0.to_string())
        .bind(crate::KEY_CHANGES_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        let next = ChangeCursor(rows.first().map_or(cursor.0, |(xmin, _)| *xmin));
        let hashes: Vec<&Vec<u8>> = rows.iter().filter_map(|(_, h)| h.as_ref()).collect();
        if hashes.len() > MAX_KEY_CHANGES {
            return Ok((Invalidation::All, next));
        }
        Ok((Invalidation::Keys(crate::change_log_hashes(hashes.into_iter())?), next))
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
    exec: impl sqlx::Executor<'c, Database = sqlx::Postgres>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_payloads() {
        let a = KeyHash::of("a");
        let b = KeyHash::of("b");
        let payload = [hex(&a), hex(&b)].join(",");
        assert_eq!(payload.len(), 129);
        assert_eq!(parse_payload(&payload), vec![a, b]);
        assert_eq!(parse_payload(""), vec![]);
        assert_eq!(parse_payload(&format!("zz,{},{}x", hex(&a), hex(&b))), vec![a]);
        assert!(parse_payload("é".repeat(32).as_str()).is_empty());
    }

    #[test]
    fn payloads_stay_small() {
        assert!(payloads(&[]).is_empty());
        let hashes: Vec<KeyHash> = (0..250).map(|i| KeyHash::of(&i.to_string())).collect();
        let all = payloads(&hashes);
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|p| p.len() < 7_000));
        assert_eq!(all.iter().flat_map(|p| parse_payload(p)).collect::<Vec<_>>(), hashes);
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let mut b = MIN_BACKOFF;
        let mut seen = vec![];
        for _ in 0..8 {
            seen.push(b.as_millis());
            b = next_backoff(b);
        }
        assert_eq!(seen, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}
