//! `latchkey admin migrate`: a whole SQLite installation into an empty
//! PostgreSQL database, all or nothing.
//!
//! Generic over the schema, so tables added by later migrations are copied
//! without changing this code:
//! - the tables are SQLite's own list (`sqlite_master`, without SQLite's
//!   internal tables and sqlx's `_sqlx_migrations`), which must be the
//!   target's list after its migrations ran (the same binary's two
//!   dialects), else nothing is copied;
//! - each table's columns are copied by name; values travel as JSON text
//!   (blobs as `\x…` hex) and are cast to the target column's type by
//!   PostgreSQL's own input functions (`1`/`0` → `BOOLEAN`, `\x…` →
//!   `BYTEA`, JSON text → `JSONB`, digits → `BIGINT`), so the type
//!   differences of the two schemas need no table of their own; target
//!   columns SQLite does not have (`key_changes.tx`) take their defaults;
//! - tables are filled parents first (the target's foreign keys, sorted),
//!   with their ordinary triggers disabled for the copy (the key change
//!   log's triggers would add rows of their own), in one transaction:
//!   a failure leaves the target's tables empty, and a second run starts
//!   again; a superuser's copy also skips the foreign-key checks
//!   (`session_replication_role = replica`, the source's foreign keys
//!   held), which is most of PostgreSQL's work per row;
//! - sequences (`BIGSERIAL`) continue after the largest copied value.
//!
//! The source is read in one read transaction: a consistent snapshot even
//! if a server still writes (stop it first anyway: what it writes after the
//! snapshot is not copied).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sqlx::AssertSqlSafe;

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{StoreError, StoreResult};

/// Rows per `INSERT` (one JSON array each).
const CHUNK: usize = 2000;

/// One table's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table.
    pub table: String,
    /// Rows copied (equal to the rows in the source and in the target).
    pub rows: u64,
}

/// Tables whose rows the schema's own migrations write (reference data,
/// the same on both sides): an empty installation has them, so the
/// emptiness check passes over them and the copy replaces them with the
/// source's.
const SEEDED: [&str; 1] = ["webhook_event_types"];

/// An identifier, double-quoted (SQLite and PostgreSQL alike).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The user tables of a SQLite database, sorted: not SQLite's own, not
/// sqlx's migration table.
pub async fn sqlite_tables(pool: &sqlx::SqlitePool) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await?)
}

/// The tables of the PostgreSQL database's current schema, sorted, without
/// sqlx's migration table.
pub async fn postgres_tables(pool: &sqlx::PgPool) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations' \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await?)
}

/// Refuses a PostgreSQL database that holds any row (sqlx's migration
/// table aside): a fresh database, or one with latchkey's empty schema
/// (left by an earlier run that failed), is fine. A database that does not
/// exist yet is fine too (it is created).
async fn ensure_empty(url: &str) -> StoreResult<()> {
    use std::str::FromStr as _;
    let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(options)
        .await
    {
        Ok(pool) => pool,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(super::UNDEFINED_DATABASE) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let result = async {
        for table in postgres_tables(&pool).await?.into_iter().filter(|t| !SEEDED.contains(&t.as_str())) {
            let any: bool =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT EXISTS (SELECT 1 FROM {})", ident(&table))))
                    .fetch_one(&pool)
                    .await?;
            if any {
                return Err(StoreError::Refused(format!(
                    "the target database is not empty (table {table} has rows): migrate only into an empty database"
                )));
            }
        }
        Ok(())
    }
    .await;
    pool.close().await;
    result
}

/// Sorts `tables` so that every table comes after the tables its foreign
/// keys reference (`edges`: child → parent); a table referencing itself is
/// fine (its rows are copied in their stored order).
fn parents_first(tables: &[String], edges: &[(String, String)]) -> StoreResult<Vec<String>> {
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = tables.iter().map(|t| (t.as_str(), BTreeSet::new())).collect();
    for (child, parent) in edges {
        if child != parent
            && let Some(p) = parents.get_mut(child.as_str())
        {
            p.insert(parent.as_str());
        }
    }
    let mut order: Vec<String> = Vec::with_capacity(tables.len());
    while order.len() < tables.len() {
        let ready: Vec<&str> = parents
            .iter()
            .filter(|(t, ps)| !order.iter().any(|o| o == *t) && ps.iter().all(|p| order.iter().any(|o| o == p)))
            .map(|(t, _)| *t)
            .collect();
        if ready.is_empty() {
            return Err(StoreError::Refused(
                "the tables' foreign keys form a cycle; this latchkey cannot order the copy".to_owned(),
            ));
        }
        order.extend(ready.into_iter().map(str::to_owned));
    }
    Ok(order)
}

/// Copies the SQLite installation in `data_dir` into the empty PostgreSQL
/// database at `url` (created if missing, migrated to this binary's
/// schema), in one transaction; returns the rows per table, in copy order.
/// The source is migrated to this binary's schema first (as `serve`
/// would).
pub async fn sqlite_to_postgres(data_dir: &Path, url: &str) -> StoreResult<Vec<TableCount>> {
    ensure_empty(url).await?;
    let source = SqliteStore::open(data_dir).await?;
    let target = PgStore::connect(url).await?;
    let result = copy(&source.pool, &target.pool).await;
    source.pool.close().await;
    target.pool.close().await;
    result
}

async fn copy(src: &sqlx::SqlitePool, dst: &sqlx::PgPool) -> StoreResult<Vec<TableCount>> {
    let tables = sqlite_tables(src).await?;
    let target_tables = postgres_tables(dst).await?;
    if tables != target_tables {
        let only = |a: &[String], b: &[String]| a.iter().filter(|t| !b.contains(t)).cloned().collect::<Vec<_>>();
        return Err(StoreError::Refused(format!(
            "the two schemas differ (only in SQLite: {:?}; only in PostgreSQL: {:?}); nothing was copied",
            only(&tables, &target_tables),
            only(&target_tables, &tables)
        )));
    }
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint \
         WHERE contype = 'f' AND connamespace = current_schema()::regnamespace",
    )
    .fetch_all(dst)
    .await?;
    let edges: Vec<(String, String)> =
        edges.into_iter().map(|(c, p)| (c.trim_matches('"').to_owned(), p.trim_matches('"').to_owned())).collect();
    let order = parents_first(&tables, &edges)?;

    // One snapshot of the source for every table.
    let mut reader = src.acquire().await?;
    sqlx::query("BEGIN").execute(&mut *reader).await?;
    let mut tx = dst.begin().await?;
    // As a superuser, skip the foreign-key checks too (the source's own
    // foreign keys held): one savepoint tries, and without the privilege
    // the copy goes on with them.
    sqlx::query("SAVEPOINT replica").execute(&mut *tx).await?;
    if sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT replica").execute(&mut *tx).await?;
    }
    let mut counts = Vec::with_capacity(order.len());
    for table in &order {
        if SEEDED.contains(&table.as_str()) {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {}", ident(table)))).execute(&mut *tx).await?;
        }
        let rows = copy_table(&mut reader, &mut tx, table).await?;
        counts.push(TableCount { table: table.clone(), rows });
    }
    sqlx::query("COMMIT").execute(&mut *reader).await?;
    restart_sequences(&mut tx).await?;
    // Every table holds exactly what was read.
    for c in &counts {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {}", ident(&c.table))))
            .fetch_one(&mut *tx)
            .await?;
        if u64::try_from(n).ok() != Some(c.rows) {
            return Err(StoreError::Refused(format!(
                "table {} holds {n} rows after the copy, {} were read; nothing was copied",
                c.table, c.rows
            )));
        }
    }
    tx.commit().await?;
    Ok(counts)
}

/// Copies one table; returns its rows.
async fn copy_table(reader: &mut sqlx::SqliteConnection, tx: &mut sqlx::PgConnection, table: &str) -> StoreResult<u64> {
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
        .bind(table)
        .fetch_all(&mut *reader)
        .await?;
    let target: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
         WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''",
    )
    .bind(ident(table))
    .fetch_all(&mut *tx)
    .await?;
    let mut casts = Vec::with_capacity(columns.len());
    for c in &columns {
        let Some((_, ty)) = target.iter().find(|(name, _)| name == c) else {
            return Err(StoreError::Refused(format!(
                "column {table}.{c} is not in the PostgreSQL schema; nothing was copied"
            )));
        };
        casts.push(format!("(r ->> '{}')::{ty}", c.replace('\'', "''")));
    }
    let names = columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    // Each row as one JSON object: blobs (hashes, sealed values) as
    // PostgreSQL's `\x` hex text, everything else as it is.
    let fields = columns
        .iter()
        .map(|c| {
            let q = ident(c);
            format!("'{}', CASE typeof({q}) WHEN 'blob' THEN '\\x' || hex({q}) ELSE {q} END", c.replace('\'', "''"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    // Pages by rowid: every table but a `WITHOUT ROWID` one has it.
    let select = format!(
        "SELECT rowid, json_object({fields}) FROM {} WHERE rowid > $1 ORDER BY rowid LIMIT {CHUNK}",
        ident(table)
    );
    let insert = format!(
        "INSERT INTO {} ({names}) SELECT {} FROM jsonb_array_elements($1::jsonb) r",
        ident(table),
        casts.join(", ")
    );
    sqlx::query(AssertSqlSafe(format!("ALTER TABLE {} DISABLE TRIGGER USER", ident(table)))).execute(&mut *tx).await?;
    let (mut after, mut total) = (i64::MIN, 0u64);
    loop {
        let page: Vec<(i64, String)> =
            sqlx::query_as(AssertSqlSafe(select.clone())).bind(after).fetch_all(&mut *reader).await?;
        let Some(&(last, _)) = page.last() else { break };
        let json = format!("[{}]", page.iter().map(|(_, row)| row.as_str()).collect::<Vec<_>>().join(","));
        sqlx::query(AssertSqlSafe(insert.clone())).bind(json).execute(&mut *tx).await?;
        total += page.len() as u64;
        after = last;
    }
    sqlx::query(AssertSqlSafe(format!("ALTER TABLE {} ENABLE TRIGGER USER", ident(table)))).execute(&mut *tx).await?;
    Ok(total)
}

/// Every sequence owned by a column of the current schema continues after
/// the column's largest value.
async fn restart_sequences(tx: &mut sqlx::PgConnection) -> StoreResult<()> {
    let owned: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.relname::text, a.attname::text, s.oid::regclass::text FROM pg_class s \
         JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') \
         JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE s.relkind = 'S' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (table, column, sequence) in owned {
        let sql = format!(
            "SELECT setval($1::regclass, coalesce(max({c}), 1), max({c}) IS NOT NULL) FROM {t}",
            c = ident(&column),
            t = ident(&table)
        );
        sqlx::query(AssertSqlSafe(sql)).bind(sequence).execute(&mut *tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parents_first;

    #[test]
    fn parents_come_first_and_cycles_are_refused() {
        let t = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let e = |v: &[(&str, &str)]| v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect::<Vec<_>>();
        let order = parents_first(
            &t(&["keys", "orgs", "usage", "users"]),
            &e(&[("usage", "keys"), ("keys", "orgs"), ("keys", "users"), ("keys", "keys")]),
        )
        .unwrap();
        let pos = |name: &str| order.iter().position(|o| o == name).unwrap();
        assert!(pos("orgs") < pos("keys") && pos("users") < pos("keys") && pos("keys") < pos("usage"), "{order:?}");
        assert!(parents_first(&t(&["a", "b"]), &e(&[("a", "b"), ("b", "a")])).is_err());
    }
}
