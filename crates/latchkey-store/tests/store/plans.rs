//! Query plans of the store's statements, as the store runs them: how the
//! suite checks that a statement over every key seeks on an index.

use sqlx::{Connection as _, Row as _};

use crate::Db;

/// A statement's parameter, for [`plan`].
pub enum Arg<'a> {
    Int(i64),
    Text(&'a str),
}

/// The plan of `statement` with `args` as the store runs it, one line per
/// step: SQLite's `EXPLAIN QUERY PLAN`, and PostgreSQL's `EXPLAIN` of the
/// prepared statement's generic plan (the one a pooled connection settles
/// on after a few executions, where a parameter's value is unknown). On a
/// table of a few rows reading all of them is cheapest whatever the
/// predicate, so PostgreSQL is told to use neither a table scan nor a
/// bitmap (whose sort a large table's `LIMIT` avoids): what remains, an
/// ordered index scan, shows whether the predicate can bound it (`Index
/// Cond`) or only filter it, reading every key from the first.
pub async fn plan(db: &Db, statement: &str, args: &[Arg<'_>]) -> Vec<String> {
    match db {
        Db::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
            let explain = format!("EXPLAIN QUERY PLAN {statement}");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(explain));
            for arg in args {
                query = match arg {
                    Arg::Int(i) => query.bind(*i),
                    Arg::Text(t) => query.bind(*t),
                };
            }
            let rows = query.fetch_all(&mut conn).await.unwrap();
            rows.iter().map(|r| r.get::<String, _>("detail")).collect()
        }
        Db::Postgres(pg) => {
            let mut conn = pg.conn().await;
            let settings =
                ["SET plan_cache_mode = force_generic_plan", "SET enable_seqscan = off", "SET enable_bitmapscan = off"];
            for setting in settings {
                sqlx::query(setting).execute(&mut conn).await.unwrap();
            }
            let types: Vec<&str> =
                args.iter().map(|a| if matches!(a, Arg::Int(_)) { "bigint" } else { "text" }).collect();
            let values: Vec<String> = args
                .iter()
                .map(|a| match a {
                    Arg::Int(i) => i.to_string(),
                    Arg::Text(t) => format!("'{t}'"),
                })
                .collect();
            let prepare = format!("PREPARE planned ({}) AS {statement}", types.join(", "));
            sqlx::query(sqlx::AssertSqlSafe(prepare)).execute(&mut conn).await.unwrap();
            let explain = format!("EXPLAIN EXECUTE planned ({})", values.join(", "));
            let rows = sqlx::query(sqlx::AssertSqlSafe(explain)).fetch_all(&mut conn).await.unwrap();
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        }
    }
}

/// SQLite's step on `api_keys k` in `plan` (`SEARCH k …` or `SCAN k …`).
pub fn sqlite_step_on_keys(plan: &[String]) -> &str {
    plan.iter()
        .find(|l| l.starts_with("SEARCH k ") || l.starts_with("SCAN k"))
        .unwrap_or_else(|| panic!("no step on api_keys: {plan:#?}"))
}

/// PostgreSQL's scan of `api_keys k` in `plan` and the lines that detail
/// it (`Index Cond:`, `Filter:`, up to the next node).
pub fn postgres_scan_of_keys(plan: &[String]) -> (&str, Vec<&str>) {
    let at = plan
        .iter()
        .position(|l| l.contains(" on api_keys k"))
        .unwrap_or_else(|| panic!("no scan of api_keys: {plan:#?}"));
    let details = plan[at + 1..].iter().take_while(|l| !l.contains("->")).map(String::as_str).collect();
    (&plan[at], details)
}
