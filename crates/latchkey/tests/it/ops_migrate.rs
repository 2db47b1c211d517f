//! `latchkey admin migrate`: a populated SQLite installation moved into a
//! fresh PostgreSQL database, every table and every row, then checked
//! against a PostgreSQL node. Needs `LATCHKEY_TEST_DATABASE_URL` (skipped,
//! with a printed reason, without it).

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Node, TestServer, join_org, pg_base, run_cli};
use crate::ssh_keys::{add as add_ssh_key, keygen};

/// A fresh database name on the test PostgreSQL server, dropped on drop.
struct FreshDb(String);

impl FreshDb {
    fn new(base: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        Self(format!("{base}/lk_test_migrate_{}_{nanos}", std::process::id()))
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let (server, name) = self.0.rsplit_once('/').unwrap();
        let _ = std::process::Command::new("psql")
            .args([
                &format!("{server}/postgres"),
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            ])
            .output();
    }
}

async fn put_secret(api: &crate::common::Api, name: &str, body: Value) {
    let r = api.send(Method::PUT, &format!("/v1/secrets/{name}"), Some(body.to_string().into())).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Rows per table, sorted by table (sqlx's migration table aside).
async fn sqlite_counts(path: &std::path::Path) -> Vec<(String, i64)> {
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display())).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM \"{t}\"")))
            .fetch_one(&db)
            .await
            .unwrap();
        out.push((t, n));
    }
    db.close().await;
    out
}

async fn pg_counts(url: &str) -> Vec<(String, i64)> {
    let db = sqlx::PgPool::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
         AND tablename <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM \"{t}\"")))
            .fetch_one(&db)
            .await
            .unwrap();
        out.push((t, n));
    }
    db.close().await;
    out
}

#[tokio::test]
async fn a_populated_sqlite_installation_moves_to_postgres_whole() {
    let Some(base) = pg_base() else {
        println!("skipped: migrate needs PostgreSQL (set LATCHKEY_TEST_DATABASE_URL)");
        return;
    };
    let mut server = TestServer::start_sqlite(&[]).await;
    let admin = server.admin();
    // Every kind of record: keys (one rotated in grace, one revoked, one
    // with credits), usage, org-wide and personal secrets, SSH keys, a
    // member with a session, a second organization.
    let (old_id, old_key) = TestServer::create_key(&admin, json!({"name": "rotating"})).await;
    let rotated = admin.post(&format!("/v1/api-keys/{old_id}/rotate"), json!({"gracePeriod": "1h"})).await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let new_key = rotated.body["data"]["key"].as_str().unwrap().to_owned();
    let (revoked_id, revoked_key) = TestServer::create_key(&admin, json!({"name": "revoked"})).await;
    assert_eq!(admin.post_empty(&format!("/v1/api-keys/{revoked_id}/revoke")).await.status, 200);
    let (credit_id, credit_key) = TestServer::create_key(&admin, json!({"name": "credits", "remaining": 5})).await;
    for _ in 0..2 {
        let r = admin.post("/v1/keys/verify", json!({"key": credit_key})).await;
        assert_eq!(r.body["data"]["code"], "VALID", "{}", r.text);
    }
    put_secret(&admin, "ORG_WIDE", json!({"value": "v-org", "category": "tool", "orgWide": true})).await;
    let bob = join_org(&server, &admin, &server.admin.org_id, "bob@example.com", "member").await;
    let bob_api = server.with_session_in_org(&bob.token, &server.admin.org_id);
    put_secret(&bob_api, "BOB_OWN", json!({"value": "v-bob", "category": "provider"})).await;
    let scratch = tempfile::tempdir().unwrap();
    let pair = keygen(scratch.path(), "id_ed25519", "ed25519", None);
    let r = add_ssh_key(&bob_api, "laptop", &pair.public, false).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let other = server.second_org("Globex", "gus@example.com");
    // Usage is written behind: a clean stop flushes it.
    assert!(server.terminate(), "clean stop");
    let data_dir = server.data_dir();
    let before = sqlite_counts(&data_dir.join("latchkey.db")).await;
    for table in ["key_usage", "secrets", "ssh_keys", "sessions", "org_data_keys", "audit_events", "key_changes"] {
        assert!(before.iter().any(|(t, n)| t == table && *n > 0), "{table} has rows to copy: {before:?}");
    }

    let target = FreshDb::new(&base);
    let dir = data_dir.to_str().unwrap().to_owned();
    let out = run_cli(&["admin", "migrate", "--data-dir", &dir, "--to", &target.0]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "migrate: {printed}{}", String::from_utf8_lossy(&out.stderr));
    // Every table, every row: the lists of both schemas and their counts
    // are the same (a table left out would differ here).
    let after = pg_counts(&target.0).await;
    assert_eq!(after, before, "tables and rows of PostgreSQL after the migration vs SQLite");
    for (table, n) in &before {
        assert!(
            printed.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == [table.as_str(), &n.to_string()]),
            "{table} {n} printed: {printed}"
        );
    }
    // A second run refuses the now non-empty target and changes nothing.
    let again = run_cli(&["admin", "migrate", "--data-dir", &dir, "--to", &target.0]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(pg_counts(&target.0).await, before);

    // A PostgreSQL node with the installation's master key.
    let node_dir = scratch.path().join("pg-node");
    std::fs::create_dir(&node_dir).unwrap();
    std::fs::copy(data_dir.join("master.key"), node_dir.join("master.key")).unwrap();
    let node = Node::serve(&node_dir, Some(&target.0), &scratch.path().join("pg-node.log"));
    let api = node.with_key(&server.admin.api_key);
    let code = |r: &crate::common::Resp| r.body["data"]["code"].as_str().unwrap_or_default().to_owned();
    let mut codes = Vec::new();
    for key in [&old_key, &new_key, &revoked_key] {
        codes.push(code(&api.post("/v1/keys/verify", json!({"key": key})).await));
    }
    // Verification is scoped to the caller's organization.
    codes.push(code(&node.with_key(&other.api_key).post("/v1/keys/verify", json!({"key": other.api_key})).await));
    assert_eq!(codes, ["VALID", "VALID", "REVOKED", "VALID"], "old in grace, new, revoked, another org's");
    let r = api.post("/v1/keys/verify", json!({"key": credit_key})).await;
    assert_eq!(
        (code(&r).as_str(), r.body["data"]["remaining"].as_i64()),
        ("VALID", Some(2)),
        "credits carried over: {}",
        r.text
    );
    let r = api.get(&format!("/v1/api-keys/{old_id}")).await;
    assert!(
        r.body["data"]["revokedAt"].is_string() || r.body["data"]["expiresAt"].is_string(),
        "grace kept: {}",
        r.text
    );
    let usage = api.get(&format!("/v1/api-keys/{credit_id}/usage")).await;
    let valid: i64 = usage.body["data"].as_array().unwrap().iter().filter_map(|d| d["counts"]["VALID"].as_i64()).sum();
    assert!(valid >= 2, "usage rows carried over: {}", usage.text);
    let r = api.post_empty("/v1/secrets/ORG_WIDE/reveal").await;
    assert_eq!(r.body["data"]["value"], "v-org", "{}", r.text);
    // Bob's session still works on the new node, and reveals his secret.
    let bob_node = node.with_bearer(&bob.token);
    let me = bob_node.get("/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    let r = node.with_bearer_in_org(&bob.token, &server.admin.org_id).post_empty("/v1/secrets/BOB_OWN/reveal").await;
    assert_eq!(r.body["data"]["value"], "v-bob", "{}", r.text);
    let keys = node.with_bearer_in_org(&bob.token, &server.admin.org_id).get("/v1/ssh-keys").await;
    assert!(keys.text.contains(&pair.fingerprint), "{}", keys.text);
    // Writes work: the sequences continue after the copied rows.
    let (_, fresh) = TestServer::create_key(&api, json!({"name": "after-migration"})).await;
    assert_eq!(code(&api.post("/v1/keys/verify", json!({"key": fresh})).await), "VALID");
}
