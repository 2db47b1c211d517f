//! The store suite: every method of latchkey's storage traits, with the
//! behaviour its documentation promises, on both adapters. Each case is
//! written once, as `async fn case(store: Arc<dyn Store>)`, and runs on a
//! fresh SQLite file in a temporary directory (always) and on a fresh
//! PostgreSQL database (when `LATCHKEY_TEST_DATABASE_URL` names a server,
//! e.g. `postgres://postgres@127.0.0.1:5432`; the database,
//! `latchkey_test_<random>`, is dropped afterwards, also when the case
//! fails). The case `x` of module `m` runs as the tests `m::x::sqlite` and
//! `m::x::postgres`, so a failure names its backend and
//! `cargo test --test store postgres` runs one backend.
//!
//! One module per trait (`KeyStore` spread over `keys`, `rotation`,
//! `credits` and `usage`); `changes` covers the [`Store`] methods
//! themselves (the key change log), and `postgres_only` what only the
//! PostgreSQL adapter does (database creation, `NOTIFY` invalidations
//! across a lost connection, late commits in the change log).
#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected state")]

/// Generates the tests `x::sqlite` and `x::postgres` for each case `x`, an
/// `async fn x(store: Arc<dyn Store>)` of the invoking module; the cases
/// listed after `with_db:` also take the case's [`Db`].
macro_rules! store_tests {
    (with_db: $($case:ident),* $(,)?) => {
        $(store_tests!(@one $case, |store, db| super::$case(store, db));)*
    };
    ($($case:ident),* $(,)?) => {
        $(store_tests!(@one $case, |store, _db| super::$case(store));)*
    };
    (@one $case:ident, $call:expr) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::on_sqlite($call).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::on_postgres(stringify!($case), $call).await;
            }
        }
    };
}

mod fixtures;

mod audit;
mod changes;
mod credits;
mod key_batches;
mod keys;
mod leaks;
mod oauth;
mod oauth_refresh;
mod orgs;
mod people;
mod plans;
mod policies;
mod postgres_only;
mod products;
mod projects;
mod rotation;
mod secrets;
mod sign_in;
mod ssh_keys;
mod usage;
mod warm_up;
mod webhooks;
mod workspaces;

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::id::{IdKind, new_id};
use latchkey_store::Store;
use latchkey_store::postgres::PgStore;
use latchkey_store::sqlite::{DB_FILE, SqliteStore};
use sqlx::Connection as _;

/// How long one case may run: a deadlock fails the case instead of hanging
/// the suite.
const CASE_TIMEOUT: Duration = Duration::from_secs(300);

/// A case's database, for the few cases that must know which one it is or
/// reach it with plain SQL (what the schema must refuse).
pub enum Db {
    /// The SQLite database file.
    Sqlite(PathBuf),
    /// The PostgreSQL database.
    Postgres(Arc<PgDb>),
}

impl Db {
    /// The [`Store::backend_name`] of the store on this database.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Runs one statement on a connection of its own.
    pub async fn execute(&self, sql: &'static str) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(path) => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
                sqlx::query(sql).execute(&mut conn).await?;
                conn.close().await
            }
            Self::Postgres(db) => {
                let mut conn = db.conn().await;
                sqlx::query(sql).execute(&mut conn).await?;
                conn.close().await
            }
        }
    }
}

/// A fresh database on the PostgreSQL test server: created by the first
/// [`PgStore::connect`] to `url`, dropped by [`PgDb::run`].
pub struct PgDb {
    /// The database's URL.
    pub url: String,
    /// The server's `postgres` database, to drop this one and to see its
    /// sessions.
    admin_url: String,
    /// Its name, `latchkey_test_<random>`.
    pub name: String,
}

impl PgDb {
    /// A new database name on the server `LATCHKEY_TEST_DATABASE_URL` names,
    /// or `None` (saying that `case` is skipped) when it is not set.
    pub fn from_env(case: &str) -> Option<Self> {
        let Ok(base) = std::env::var("LATCHKEY_TEST_DATABASE_URL") else {
            eprintln!("LATCHKEY_TEST_DATABASE_URL is not set: skipping `{case}` on PostgreSQL");
            return None;
        };
        let (server, query) = match base.split_once('?') {
            Some((s, q)) => (s.trim_end_matches('/').to_owned(), format!("?{q}")),
            None => (base.trim_end_matches('/').to_owned(), String::new()),
        };
        let random = new_id(IdKind::Event);
        let name = format!("latchkey_test_{}", random.trim_start_matches("evt_"));
        Some(Self { url: format!("{server}/{name}{query}"), admin_url: format!("{server}/postgres{query}"), name })
    }

    /// A connection to the server's `postgres` database.
    pub async fn admin(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.admin_url).await.unwrap()
    }

    /// A connection to this database.
    pub async fn conn(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url).await.unwrap()
    }

    /// Runs `body` with this database, then drops it `WITH (FORCE)` (closing
    /// whatever connections are left), also when `body` panics or times
    /// out; a panic is passed on once the database is gone.
    pub async fn run<F, Fut>(self, body: F)
    where
        F: FnOnce(Arc<Self>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let db = Arc::new(self);
        let outcome = guarded(body(Arc::clone(&db))).await;
        let mut admin = db.admin().await;
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db.name);
        sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Runs `case` on a store over a fresh SQLite database in a temporary
/// directory (removed afterwards).
pub async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>, Db) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let outcome = guarded(async move {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        case(store, Db::Sqlite(path.join(DB_FILE))).await;
    })
    .await;
    drop(dir);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `case` (named `name`) on a store over a fresh PostgreSQL database,
/// or says it is skipped when no server is configured.
pub async fn on_postgres<F, Fut>(name: &str, case: F)
where
    F: FnOnce(Arc<dyn Store>, Db) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = PgDb::from_env(name) else { return };
    db.run(|db| async move {
        let store: Arc<dyn Store> = Arc::new(PgStore::connect(&db.url).await.unwrap());
        case(store, Db::Postgres(db)).await;
    })
    .await;
}

/// Runs `body` on a task of its own for at most [`CASE_TIMEOUT`]; its
/// panic (or the timeout, as one) comes back as the error, so that the
/// caller can clean up before passing it on.
async fn guarded(body: impl Future<Output = ()> + Send + 'static) -> Result<(), Box<dyn Any + Send>> {
    let mut task = tokio::spawn(body);
    match tokio::time::timeout(CASE_TIMEOUT, &mut task).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.is_panic() => Err(e.into_panic()),
        Ok(Err(e)) => Err(Box::new(format!("the case's task failed: {e}"))),
        Err(_) => {
            task.abort();
            Err(Box::new(format!("the case ran longer than {CASE_TIMEOUT:?}")))
        }
    }
}
