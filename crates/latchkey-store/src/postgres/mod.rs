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
//! `latchkey_keys` channel (`notify.rs`).
//!
//! The queries are [`crate::sql`]'s; this module holds only what is
//! PostgreSQL's own: connecting (and creating the database), the table
//! locks, the batch statements, the change-log cursor and notifications.

mod notify;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Executor as _};

use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, KeyId};

use crate::sql::{Dialect, KeyBatch, LAST_USE_BUCKET_MS, SqlStore, Tx, query, record};
use crate::{
    ApiKeyRecord, ChangeCursor, Invalidation, InvalidationSink, MAX_KEY_CHANGES, StoreResult, UsageBatching, UsageCount,
};

/// SQLSTATE `invalid_catalog_name`: the database does not exist.
const UNDEFINED_DATABASE: &str = "3D000";
/// SQLSTATE `duplicate_database`.
const DUPLICATE_DATABASE: &str = "42P04";
/// SQLSTATE `unique_violation` (two `CREATE DATABASE` racing on the catalog).
const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATE `object_in_use` (the template database is busy).
const OBJECT_IN_USE: &str = "55006";

/// [`KeyBatch`] in one statement (so one round trip, and one transaction
/// without `BEGIN` or `COMMIT`): the keys (`$1`) and the events (`$2`)
/// inserted by data-modifying `WITH` clauses, which run to completion
/// whatever the main query reads, and the owners (`$3`) selected.
const INSERT_KEY_BATCH: &str = concat!(
    "WITH new_keys AS (",
    insert_api_keys!(),
    "SELECT r.id, r.org_id, r.project_id, r.name, decode(r.key_hash, 'hex'), r.key_prefix, r.key_hint, \
       r.environment, r.kind, r.scopes, r.owner_user_id, r.created_by_user_id, r.created_by_key_id, \
       r.rate_limit_per_minute, r.rate_limit_per_day, r.expires_at, r.created_at, r.created_at, r.rotated_from, \
       r.remaining, r.refill_amount, r.refill_interval, r.created_at, r.surface_id, r.allowed_cidrs, r.imported, \
       r.external_id \
     FROM json_to_recordset($1::json) AS r(id text, org_id text, project_id text, name text, key_hash text, \
       key_prefix text, key_hint text, environment text, kind text, scopes text, owner_user_id text, \
       created_by_user_id text, created_by_key_id text, rate_limit_per_minute bigint, rate_limit_per_day bigint, \
       expires_at bigint, created_at bigint, rotated_from text, remaining bigint, refill_amount bigint, \
       refill_interval text, surface_id text, allowed_cidrs text, imported boolean, external_id text)), \
     new_events AS (",
    insert_audit_events!(),
    "SELECT r.id, r.org_id, r.at, r.actor_type, r.actor_id, r.action, r.target_type, r.target_id, r.ip, \
       r.request_id, r.details \
     FROM json_to_recordset($2::json) AS r(id text, org_id text, at bigint, actor_type text, actor_id text, \
       action text, target_type text, target_id text, ip text, request_id text, details text)) \
     SELECT o.org_id, u.id AS user_id, u.email, u.display_name, m.role \
     FROM json_to_recordset($3::json) AS o(org_id text, user_id text) JOIN users u ON u.id = o.user_id \
     LEFT JOIN memberships m ON m.org_id = o.org_id AND m.user_id = u.id"
);

/// The PostgreSQL store.
pub type PgStore = SqlStore<Postgres>;

/// The PostgreSQL dialect.
#[derive(Debug, Clone, Copy)]
pub enum Postgres {}

driver_impls!(PgArguments, PgRow);

impl Dialect for Postgres {
    type Db = sqlx::Postgres;
    type Args = PgArguments;
    type Row = PgRow;
    type State = ();

    const NAME: &'static str = "postgres";
    const ROW_LOCKS: bool = true;
    const ILIKE: bool = true;
    // Blocks every other writer of `orgs` (another bootstrap, a sign-up)
    // until the transaction ends.
    const BOOTSTRAP_LOCK: Option<&'static str> = Some("LOCK TABLE orgs IN SHARE ROW EXCLUSIVE MODE");
    // No data key may be added while the re-wrap runs (readers go on).
    const REWRAP_LOCK: Option<&'static str> = Some("LOCK TABLE org_data_keys IN SHARE ROW EXCLUSIVE MODE");
    // One node runs the webhook schedule at a time; the others skip a tick.
    const SCHEDULER_LOCK: Option<&'static str> = Some("SELECT pg_try_advisory_xact_lock(7420026) AS locked");

    // Larger chunks cost less per key here (bench/usage.sh, bench/RESULTS.md
    // "Issue 25: usage flush and creation, session 16"), and the work is
    // the database server's, not this process's.
    const USAGE_BATCHING: UsageBatching = UsageBatching { chunk: 2_000, in_process: false };

    run_queries!();

    /// A plain `READ COMMITTED` transaction: statements lock the rows they
    /// decide on ([`Dialect::ROW_LOCKS`]) or decide in one conditional
    /// statement.
    async fn begin_write(pool: &PgPool) -> StoreResult<Tx<Self>> {
        Ok(pool.begin().await?)
    }

    async fn find_keys_by_hashes(store: &PgStore, hashes: &[KeyHash]) -> StoreResult<Vec<ApiKeyRecord>> {
        let raw: Vec<&[u8]> = hashes.iter().map(|h| h.as_bytes().as_slice()).collect();
        let rows =
            sqlx::query(concat!(select_keys!(), "WHERE k.key_hash = ANY($1)")).bind(raw).fetch_all(&store.pool).await?;
        rows.iter().map(record).collect()
    }

    /// One statement ([`INSERT_KEY_BATCH`]).
    async fn insert_key_batch(store: &PgStore, batch: KeyBatch) -> StoreResult<Vec<PgRow>> {
        query::<Self>(INSERT_KEY_BATCH)
            .bind(batch.keys)
            .bind(batch.events)
            .bind(batch.owners)
            .fetch_all(&store.pool)
            .await
    }

    fn usage_pool(store: &PgStore) -> &PgPool {
        &store.pool
    }

    /// `lastUsedAt` values, then counts: one statement each, in one
    /// transaction (one commit, one WAL flush).
    async fn write_key_usage(
        tx: &mut Tx<Self>,
        last_used: &[(KeyId, Millis)],
        counts: &[UsageCount],
    ) -> StoreResult<()> {
        if !last_used.is_empty() {
            write_last_used(tx, last_used).await?;
        }
        if !counts.is_empty() {
            write_usage(tx, counts).await?;
        }
        Ok(())
    }

    async fn publish_invalidation(store: &PgStore, hashes: &[KeyHash]) -> StoreResult<()> {
        notify::publish(store, hashes).await
    }

    /// Returns only when the pool has been closed (the process is ending).
    async fn watch_invalidations(store: &PgStore, sink: InvalidationSink) -> StoreResult<()> {
        notify::watch(store, &sink).await
    }

    /// The oldest transaction id still running: every log entry of an older
    /// transaction is committed (or gone with a rollback), and every later
    /// one has a transaction id at least this.
    async fn key_changes_cursor(store: &PgStore) -> StoreResult<ChangeCursor> {
        let (xmin,): (i64,) = sqlx::query_as("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(&store.pool)
            .await?;
        Ok(ChangeCursor(xmin))
    }

    /// Entries of the transactions that finished since `cursor`: those
    /// from `cursor` up to (not including) the oldest still running.
    async fn key_changes(store: &PgStore, cursor: ChangeCursor) -> StoreResult<(Invalidation, ChangeCursor)> {
        let rows: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as(
            "WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) \
             SELECT s.xmin::text::bigint, c.key_hash FROM s LEFT JOIN LATERAL ( \
               SELECT key_hash FROM key_changes \
               WHERE tx >= $1::text::xid8 AND tx < s.xmin ORDER BY tx LIMIT $2) c ON true",
        )
        .bind(cursor.0.to_string())
        .bind(crate::KEY_CHANGES_LIMIT)
        .fetch_all(&store.pool)
        .await?;
        let next = ChangeCursor(rows.first().map_or(cursor.0, |(xmin, _)| *xmin));
        let hashes: Vec<&Vec<u8>> = rows.iter().filter_map(|(_, h)| h.as_ref()).collect();
        if hashes.len() > MAX_KEY_CHANGES {
            return Ok((Invalidation::All, next));
        }
        Ok((Invalidation::Keys(crate::change_log_hashes(hashes.into_iter())?), next))
    }
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
        crate::ops::migrate(&crate::ops::POSTGRES_MIGRATIONS, &pool).await?;
        Ok(Self { pool, state: () })
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

/// Adds verification counts: one statement for the whole batch.
async fn write_usage(on: &mut sqlx::PgConnection, batch: &[UsageCount]) -> StoreResult<()> {
    // One statement for the whole batch: the rows travel as four typed
    // arrays (unnested, no JSON to parse). Each count is joined to its key
    // row, share-locked: a key deleted meanwhile is skipped (a deletion
    // waits for this transaction, or has removed the row before this
    // statement sees it), and no count is added for a key that is gone
    // (migration 0016: this lock is what keeps key_usage's rows to
    // existing keys; their deletion follows the key's by trigger).
    // Duplicates are summed first (PostgreSQL refuses to update one row
    // twice in a statement), and rows are locked and written in key order
    // so that concurrent flushes cannot deadlock.
    let mut cols = (Vec::with_capacity(batch.len()), Vec::with_capacity(batch.len()));
    let mut more = (Vec::with_capacity(batch.len()), Vec::with_capacity(batch.len()));
    for u in batch {
        cols.0.push(u.key_id.as_str());
        cols.1.push(u.day.as_str());
        more.0.push(u.outcome.as_str());
        more.1.push(u.count);
    }
    sqlx::query(
        "INSERT INTO key_usage (key_id, day, outcome, count) \
         SELECT b.key_id, b.day, b.outcome, b.count FROM ( \
           SELECT u.key_id, u.day, u.outcome, SUM(u.count)::bigint AS count \
           FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(key_id, day, outcome, count) \
           GROUP BY 1, 2, 3) b \
         JOIN api_keys k ON k.id = b.key_id \
         ORDER BY b.key_id, b.day, b.outcome \
         FOR KEY SHARE OF k \
         ON CONFLICT (key_id, day, outcome) DO UPDATE SET count = key_usage.count + excluded.count",
    )
    .bind(cols.0)
    .bind(cols.1)
    .bind(more.0)
    .bind(more.1)
    .execute(on)
    .await?;
    Ok(())
}

/// Writes `lastUsedAt` values: one statement for the whole batch.
async fn write_last_used(on: &mut sqlx::PgConnection, batch: &[(KeyId, Millis)]) -> StoreResult<()> {
    // One statement for the whole batch (two typed arrays); a value never
    // moves backwards. The rows are locked in id order first, so that
    // flushes of several nodes cannot deadlock; a key deleted meanwhile is
    // skipped. The bucket is assigned every time: PostgreSQL compares an
    // indexed column's old and new values, and an unchanged bucket leaves
    // the update free to stay on its page (HOT, no index entry written).
    let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
    let ats: Vec<Millis> = batch.iter().map(|(_, at)| *at).collect();
    sqlx::query(
        "WITH u AS ( \
           SELECT b.id, MAX(b.at) AS at FROM unnest($1::text[], $2::bigint[]) AS b(id, at) GROUP BY 1), \
         locked AS MATERIALIZED ( \
           SELECT k.id, u.at FROM api_keys k JOIN u ON k.id = u.id \
           WHERE k.last_used_at IS NULL OR k.last_used_at < u.at \
           ORDER BY k.id FOR NO KEY UPDATE OF k) \
         UPDATE api_keys SET last_used_at = locked.at, last_used_bucket = locked.at - locked.at % $3 FROM locked \
         WHERE api_keys.id = locked.id AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < locked.at)",
    )
    .bind(ids)
    .bind(ats)
    .bind(LAST_USE_BUCKET_MS)
    .execute(on)
    .await?;
    Ok(())
}
