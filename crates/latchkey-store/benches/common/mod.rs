//! What the store's benchmarks share: a backend opened from the command
//! line (`sqlite`, or a PostgreSQL server URL: a fresh database, dropped
//! afterwards), its raw pool, a database of many keys made in one
//! statement, and the `RESULT` lines `bench/*.sh` take medians of.

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::id::{IdKind, OrgId, UserId, new_id};
use latchkey_core::{Environment, KeyPrefix, PlainKey};
use latchkey_store::postgres::PgStore;
use latchkey_store::sqlite::{DB_FILE, SqliteStore};
use latchkey_store::{NewApiKey, Org, Store, User};
use sqlx::{AssertSqlSafe, Connection as _};

/// The time the keys are made and read at.
pub const NOW: i64 = 1_750_000_000_000;

/// One backend's raw connections, to run the statements as the store does
/// (prepared once, by their text).
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool.
#[macro_export]
macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match $self {
            $crate::common::Pool::Sqlite($pool) => $body,
            $crate::common::Pool::Postgres($pool) => $body,
        }
    };
}

impl Pool {
    /// Runs one statement of text made here.
    pub async fn run(&self, sql: String) {
        on_pool!(self, pool => { sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap(); });
    }
}

/// A backend to measure: its name, the store, its raw pool, and what to
/// drop when done.
pub struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    pub pool: Pool,
    /// The temporary SQLite directory, or the PostgreSQL server and
    /// database name.
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[expect(dead_code, reason = "held until the end")] tempfile::TempDir),
    Database { server: String, name: String },
}

impl Backend {
    /// `target` is `sqlite` or a PostgreSQL server URL.
    pub async fn open(target: &str) -> Self {
        if target == "sqlite" {
            let dir = tempfile::tempdir().unwrap();
            let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join(DB_FILE));
            let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(4).connect_with(options).await.unwrap();
            return Self { name: "sqlite", store, pool: Pool::Sqlite(pool), cleanup: Cleanup::Dir(dir) };
        }
        let server = target.trim_end_matches('/').to_owned();
        let name = format!("latchkey_bench_{}", new_id(IdKind::Event).trim_start_matches("evt_"));
        let url = format!("{server}/{name}");
        let store = Arc::new(PgStore::connect(&url).await.unwrap());
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&url).await.unwrap();
        Self { name: "postgres", store, pool: Pool::Postgres(pool), cleanup: Cleanup::Database { server, name } }
    }

    /// Closes the connections and drops the PostgreSQL database.
    pub async fn close(self) {
        on_pool!(&self.pool, pool => pool.close().await);
        drop(self.store);
        if let Cleanup::Database { server, name } = self.cleanup {
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
            sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

/// `keys` keys: one through the store, the rest copies of its row with ids
/// `key_01bench000000000000001` on (in id order).
pub async fn fill_keys(store: &dyn Store, pool: &Pool, keys: i64) {
    let org = Org {
        id: OrgId::new(),
        name: "bench".into(),
        slug: "bench".into(),
        members_see_all_keys: false,
        leak_action: latchkey_store::LeakAction::default(),
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
                keys - 1
            ),
            "printf('key_01bench%015d', s.i)",
            "randomblob(32)",
        ),
        Pool::Postgres(_) => (
            format!("(SELECT generate_series(1, {}) AS i)", keys - 1),
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

/// Milliseconds of `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints one figure, in milliseconds.
pub fn result(backend: &str, what: &str, run: usize, d: Duration) {
    println!("RESULT {backend} {what} run={run} ms={:.3}", ms(d));
}
