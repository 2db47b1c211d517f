//! Direct access to a test server's database (SQLite file or PostgreSQL
//! database), for tests that tamper with stored rows or look at raw bytes.

use sqlx::{AssertSqlSafe, Row as _};

use crate::common::{TestServer, database_url_for};

/// A connection pool on the server's database.
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Db {
    pub async fn connect(server: &TestServer) -> Self {
        match database_url_for(&server.data_dir()) {
            Some(url) => Self::Pg(sqlx::PgPool::connect(&url).await.unwrap()),
            None => {
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(server.data_dir().join("latchkey.db"))
                    .busy_timeout(std::time::Duration::from_secs(5));
                Self::Sqlite(sqlx::SqlitePool::connect_with(opts).await.unwrap())
            }
        }
    }

    /// Runs a statement (plain SQL, no parameters); returns rows affected.
    pub async fn exec(&self, sql: &str) -> u64 {
        match self {
            Self::Sqlite(p) => sqlx::query(AssertSqlSafe(sql.to_owned())).execute(p).await.unwrap().rows_affected(),
            Self::Pg(p) => sqlx::query(AssertSqlSafe(sql.to_owned())).execute(p).await.unwrap().rows_affected(),
        }
    }

    /// Runs a statement whose one parameter (`$1`) is `value`; returns
    /// rows affected.
    pub async fn exec_bytes(&self, sql: &str, value: &[u8]) -> u64 {
        match self {
            Self::Sqlite(p) => {
                sqlx::query(AssertSqlSafe(sql.to_owned())).bind(value).execute(p).await.unwrap().rows_affected()
            }
            Self::Pg(p) => {
                sqlx::query(AssertSqlSafe(sql.to_owned())).bind(value).execute(p).await.unwrap().rows_affected()
            }
        }
    }

    /// The bytes in column `col` of the first row of `sql`.
    pub async fn bytes(&self, sql: &str, col: &str) -> Vec<u8> {
        match self {
            Self::Sqlite(p) => sqlx::query(AssertSqlSafe(sql.to_owned())).fetch_one(p).await.unwrap().get(col),
            Self::Pg(p) => sqlx::query(AssertSqlSafe(sql.to_owned())).fetch_one(p).await.unwrap().get(col),
        }
    }

    /// The text in column `col` of every row of `sql`.
    pub async fn strings(&self, sql: &str, col: &str) -> Vec<String> {
        match self {
            Self::Sqlite(p) => sqlx::query(AssertSqlSafe(sql.to_owned()))
                .fetch_all(p)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(col))
                .collect(),
            Self::Pg(p) => sqlx::query(AssertSqlSafe(sql.to_owned()))
                .fetch_all(p)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(col))
                .collect(),
        }
    }

    /// `UPDATE <table> SET <col> = $1 WHERE id = '<id>'` with `value`.
    pub async fn set_bytes(&self, table: &str, col: &str, id_col: &str, id: &str, value: &[u8]) {
        let sql = format!("UPDATE {table} SET {col} = $1 WHERE {id_col} = '{id}'");
        let n = match self {
            Self::Sqlite(p) => sqlx::query(AssertSqlSafe(sql)).bind(value).execute(p).await.unwrap().rows_affected(),
            Self::Pg(p) => sqlx::query(AssertSqlSafe(sql)).bind(value).execute(p).await.unwrap().rows_affected(),
        };
        assert_eq!(n, 1);
    }

    /// Every byte the database holds: the SQLite files, or a `pg_dump`.
    pub fn raw_dump(server: &TestServer) -> Vec<u8> {
        match database_url_for(&server.data_dir()) {
            Some(url) => {
                let out = std::process::Command::new("pg_dump").args(["--data-only", &url]).output().unwrap();
                assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
                out.stdout
            }
            None => {
                let mut all = Vec::new();
                for entry in std::fs::read_dir(server.data_dir()).unwrap() {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    if name.starts_with("latchkey.db") {
                        all.extend(std::fs::read(&path).unwrap());
                    }
                }
                assert!(all.len() > 4096, "the SQLite files were read");
                all
            }
        }
    }

    pub async fn close(self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Pg(p) => p.close().await,
        }
    }
}
