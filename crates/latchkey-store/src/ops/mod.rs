//! Operator tools on a whole database, for `latchkey admin backup`,
//! `restore`, `migrate` and `check`: the schema version against this
//! binary's migrations, an online SQLite backup (`VACUUM INTO`), a look
//! inside a SQLite file without changing it, and the copy of a SQLite
//! installation into an empty PostgreSQL database ([`copy`]).

pub mod copy;

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use crate::{StoreError, StoreResult, files};

/// The SQLite migrations this binary knows (applied by
/// [`crate::sqlite::SqliteStore::open`]).
pub static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL migrations this binary knows (applied by
/// [`crate::postgres::PgStore::connect`]).
pub static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The last migration `migrator` knows: the schema version of this binary.
pub fn latest(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A database's schema against this binary's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersion {
    /// The last migration applied (0: none, a new database).
    pub applied: i64,
    /// The last migration this binary knows.
    pub known: i64,
    /// Applied migrations this binary does not know: the database was
    /// migrated by a newer latchkey.
    pub unknown: Vec<i64>,
    /// Migrations this binary would apply at start.
    pub pending: usize,
}

impl SchemaVersion {
    fn of(applied: &[i64], migrator: &Migrator) -> Self {
        let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
        Self {
            applied: applied.iter().copied().max().unwrap_or(0),
            known: latest(migrator),
            unknown: applied.iter().copied().filter(|v| !known.contains(v)).collect(),
            pending: known.iter().filter(|v| !applied.contains(v)).count(),
        }
    }

    /// Refuses a database migrated by a newer latchkey
    /// ([`StoreError::NewerSchema`]).
    pub fn check(&self) -> StoreResult<()> {
        match self.unknown.first() {
            Some(&version) => Err(StoreError::NewerSchema { version, known: self.known }),
            None => Ok(()),
        }
    }
}

/// Applies `migrator`'s pending migrations; a database that holds a
/// migration this binary does not know is refused with
/// [`StoreError::NewerSchema`] (sqlx's own error names no cause).
pub(crate) async fn migrate<'a, A>(migrator: &Migrator, on: A) -> StoreResult<()>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    match migrator.run(on).await {
        Err(MigrateError::VersionMissing(version)) => Err(StoreError::NewerSchema { version, known: latest(migrator) }),
        other => Ok(other?),
    }
}

/// The applied migrations (`_sqlx_migrations`) of a SQLite database.
pub async fn sqlite_schema(pool: &SqlitePool) -> StoreResult<SchemaVersion> {
    let (exists,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_one(pool)
            .await?;
    let applied: Vec<i64> = if exists == 0 {
        Vec::new()
    } else {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?
    };
    Ok(SchemaVersion::of(&applied, &SQLITE_MIGRATIONS))
}

/// The applied migrations (`_sqlx_migrations`) of a PostgreSQL database.
pub async fn postgres_schema(pool: &sqlx::PgPool) -> StoreResult<SchemaVersion> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
    let applied: Vec<i64> = if exists {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?
    } else {
        Vec::new()
    };
    Ok(SchemaVersion::of(&applied, &POSTGRES_MIGRATIONS))
}

/// Opens an existing SQLite database file without migrating it or changing
/// its mode (never creating it), one connection, for inspection and backup.
pub async fn open_sqlite_file(path: &Path, read_only: bool) -> StoreResult<SqlitePool> {
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(false)
        .read_only(read_only)
        .busy_timeout(Duration::from_secs(5));
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?)
}

/// Takes a consistent copy of the live SQLite database in `data_dir` into
/// `to` (a new file, mode 0600) with `VACUUM INTO`: one read transaction on
/// the source, so writers and readers go on (WAL) while it runs. `to` must
/// not exist.
pub async fn sqlite_backup(data_dir: &Path, to: &Path) -> StoreResult<()> {
    let source = data_dir.join(crate::sqlite::DB_FILE);
    if !source.exists() {
        return Err(StoreError::Corrupt(format!("no database at {}", source.display())));
    }
    // Created empty and private first: VACUUM INTO accepts an empty file
    // and keeps its mode (it would make a new one world-readable).
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(files::FILE_MODE)
        .open(to)
        .map_err(sqlx::Error::Io)?;
    let pool = open_sqlite_file(&source, false).await?;
    let schema = sqlite_schema(&pool).await?;
    schema.check()?;
    let result = sqlx::query("VACUUM INTO $1").bind(to.to_string_lossy().into_owned()).execute(&pool).await;
    pool.close().await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(to);
        return Err(e.into());
    }
    std::fs::File::open(to).and_then(|f| f.sync_all()).map_err(sqlx::Error::Io)?;
    Ok(())
}

/// What a SQLite database file holds, read without changing it.
#[derive(Debug, Clone)]
pub struct SqliteFacts {
    /// Its schema against this binary.
    pub schema: SchemaVersion,
    /// API keys (every status).
    pub keys: i64,
    /// Organizations.
    pub orgs: i64,
    /// The master keys the organizations' data keys are wrapped with (ids
    /// only), sorted.
    pub master_key_ids: Vec<String>,
    /// `PRAGMA integrity_check`'s complaints; empty when the file is sound.
    pub integrity: Vec<String>,
}

/// Reads [`SqliteFacts`] from the SQLite file `path` (read-only).
pub async fn sqlite_facts(path: &Path) -> StoreResult<SqliteFacts> {
    let pool = open_sqlite_file(path, true).await?;
    let result = facts(&pool).await;
    pool.close().await;
    result
}

async fn facts(pool: &SqlitePool) -> StoreResult<SqliteFacts> {
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(pool).await?;
    let integrity = if integrity == ["ok"] { Vec::new() } else { integrity };
    let schema = sqlite_schema(pool).await?;
    let count = |table: &'static str| async move {
        let has: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1")
            .bind(table)
            .fetch_one(pool)
            .await?;
        if has == 0 {
            return Ok::<i64, StoreError>(0);
        }
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"))).fetch_one(pool).await?)
    };
    let keys = count("api_keys").await?;
    let orgs = count("orgs").await?;
    let master_key_ids = if count("org_data_keys").await? > 0 {
        sqlx::query_scalar("SELECT DISTINCT master_key_id FROM org_data_keys ORDER BY 1").fetch_all(pool).await?
    } else {
        Vec::new()
    };
    Ok(SqliteFacts { schema, keys, orgs, master_key_ids, integrity })
}

/// The master keys the data keys of a PostgreSQL database are wrapped with.
pub async fn postgres_master_key_ids(pool: &sqlx::PgPool) -> StoreResult<Vec<String>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('org_data_keys') IS NOT NULL").fetch_one(pool).await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar("SELECT DISTINCT master_key_id FROM org_data_keys ORDER BY 1").fetch_all(pool).await?)
}

/// What `latchkey admin check` needs of a database, read without changing
/// it: `None` when there is no database yet (it is created at first start).
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Its schema against this binary.
    pub schema: SchemaVersion,
    /// The master keys its data keys are wrapped with (ids only).
    pub sealed_with: Vec<String>,
}

/// [`Inspection`] of the SQLite database in `data_dir` (opened read-only).
pub async fn inspect_sqlite(data_dir: &Path) -> StoreResult<Option<Inspection>> {
    let path = data_dir.join(crate::sqlite::DB_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let pool = open_sqlite_file(&path, true).await?;
    let result = async {
        let schema = sqlite_schema(&pool).await?;
        let has: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'org_data_keys'")
            .fetch_one(&pool)
            .await?;
        let sealed_with = if has == 0 {
            Vec::new()
        } else {
            sqlx::query_scalar("SELECT DISTINCT master_key_id FROM org_data_keys ORDER BY 1").fetch_all(&pool).await?
        };
        Ok(Some(Inspection { schema, sealed_with }))
    }
    .await;
    pool.close().await;
    result
}

/// [`Inspection`] of the PostgreSQL database at `url`, giving up after 3 s.
pub async fn inspect_postgres(url: &str) -> StoreResult<Option<Inspection>> {
    let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options.clone())
        .await
    {
        Ok(pool) => pool,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNDEFINED_DATABASE) => return Ok(None),
        Err(sqlx::Error::PoolTimedOut) => return Err(why_unreachable(options).await.into()),
        Err(e) => return Err(e.into()),
    };
    let result = async {
        let schema = postgres_schema(&pool).await?;
        let sealed_with = postgres_master_key_ids(&pool).await?;
        Ok(Some(Inspection { schema, sealed_with }))
    }
    .await;
    pool.close().await;
    result
}

/// Why a PostgreSQL server could not be reached: the pool only says that it
/// gave up waiting, one connection attempt says why (refused, no such
/// host, authentication failed, …).
async fn why_unreachable(options: sqlx::postgres::PgConnectOptions) -> sqlx::Error {
    use sqlx::Connection as _;
    match tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect_with(&options)).await {
        Ok(Err(e)) => e,
        Ok(Ok(_)) | Err(_) => sqlx::Error::PoolTimedOut,
    }
}

/// SQLSTATE `invalid_catalog_name`: the database does not exist.
pub(crate) const UNDEFINED_DATABASE: &str = "3D000";
