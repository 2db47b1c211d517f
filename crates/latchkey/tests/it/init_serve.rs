//! `latchkey init`, `latchkey serve`, durability and shutdown.

use std::time::Duration;

use serde_json::json;

use crate::common::{TestServer, eventually, run_cli};

#[tokio::test]
async fn init_prints_credentials_once_and_refuses_a_second_time() {
    let mut server = TestServer::start().await;
    let admin = server.admin.clone();
    assert!(admin.org_id.starts_with("org_"));
    assert!(admin.user_id.starts_with("usr_"));
    assert!(admin.api_key.starts_with("lk_live_"));

    let dir = server.data_dir();
    let again = run_cli(&["init", "--org", "Other", "--email", "eve@example.com", "--data-dir", dir.to_str().unwrap()]);
    assert!(!again.status.success(), "second init must fail");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already initialized"), "{stderr}");
    assert!(again.stdout.is_empty(), "nothing printed on stdout, no key minted");

    // Nothing changed: same org, the admin key still works.
    server.restart();
    let me = server.admin().get("/v1/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["data"]["org"]["id"], admin.org_id.as_str());
    assert_eq!(me.body["data"]["org"]["name"], "Acme");
    assert_eq!(me.body["data"]["scopes"], json!(["*"]));
}

/// A newcomer with the README's two commands signs in to the dashboard with
/// the password `init` printed once; `admin create-org` (whose admin may
/// already have one) prints none.
#[tokio::test]
async fn the_first_admin_signs_in_with_the_password_init_printed() {
    let server = TestServer::start().await;
    let password = server.admin.password.clone().expect("init prints a password");
    assert!(password.len() >= 22, "{password}");
    let ok = crate::common::login(&server, "ada@example.com", &password).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let wrong = crate::common::login(&server, "ada@example.com", &format!("{password}x")).await;
    assert_eq!(wrong.status, 401);

    let other = server.second_org("Other", "bo@example.com");
    assert_eq!(other.password, None);
}

#[tokio::test]
async fn init_human_output_shows_the_key_and_validates_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let out = run_cli(&["init", "--org", "Acme", "--email", "ada@example.com", "--data-dir", d.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("shown once"), "{text}");
    assert_eq!(text.matches("lk_live_").count(), 1, "{text}");
    assert!(text.contains("sign in as ada@example.com with this password (shown once)"), "{text}");

    let bad = run_cli(&[
        "init",
        "--org",
        "X",
        "--email",
        "not-an-email",
        "--data-dir",
        dir.path().join("e").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an email"));
}

#[tokio::test]
async fn healthz_answers() {
    let server = TestServer::start().await;
    let r = server.anonymous().get("/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    assert!(r.headers.contains_key("x-request-id"), "every response carries a request id");
}

#[tokio::test]
async fn an_acknowledged_create_survives_sigkill() {
    let mut server = TestServer::start().await;
    let (_, key) =
        TestServer::create_key(&server.admin(), json!({"name": "durable", "scopes": ["sandbox:create"]})).await;
    server.kill9();
    server.restart();
    let r = server.with_key(&key).get("/v1/me").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["scopes"], json!(["sandbox:create"]));
}

#[tokio::test]
async fn an_acknowledged_revoke_survives_sigkill() {
    let mut server = TestServer::start().await;
    let (id, key) = TestServer::create_key(&server.admin(), json!({"name": "doomed"})).await;
    assert_eq!(server.admin().post_empty(&format!("/v1/api-keys/{id}/revoke")).await.status, 200);
    server.kill9();
    server.restart();
    assert_eq!(server.with_key(&key).get("/v1/me").await.status, 401);
}

#[tokio::test]
async fn last_used_is_written_behind_and_flushed_on_sigterm() {
    let mut server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "used"})).await;
    let before = admin.get(&format!("/v1/api-keys/{id}")).await;
    assert!(before.body["data"]["lastUsedAt"].is_null());

    assert_eq!(server.with_key(&key).get("/v1/me").await.status, 200);
    let path = format!("/v1/api-keys/{id}");
    let written = eventually(Duration::from_secs(6), || {
        let admin = admin.clone();
        let path = path.clone();
        async move { admin.get(&path).await.body["data"]["lastUsedAt"].is_string() }
    })
    .await;
    assert!(written, "lastUsedAt was not written behind");

    // A use right before SIGTERM is flushed by the graceful shutdown.
    let (id2, key2) = TestServer::create_key(&admin, json!({"name": "used-at-exit"})).await;
    assert_eq!(server.with_key(&key2).get("/v1/me").await.status, 200);
    assert!(server.terminate(), "server did not exit cleanly on SIGTERM");
    server.restart();
    let r = server.admin().get(&format!("/v1/api-keys/{id2}")).await;
    assert!(r.body["data"]["lastUsedAt"].is_string(), "{}", r.text);
}

/// Usage of a thousand keys counted up to SIGTERM, with no time to write it
/// at shutdown (`--usage-flush-deadline 0s`): what the periodic flushes did
/// not write is spilled to the data directory, and the next start writes
/// it; every key's counts are exact (nothing lost, nothing counted twice)
/// and the spill is gone.
#[tokio::test]
async fn usage_left_at_shutdown_is_spilled_and_written_at_the_next_start() {
    const KEYS: usize = 1_000;
    let mut server = TestServer::start_with(&["--usage-flush-deadline", "0s"]).await;
    let admin = server.admin();
    let mut keys = Vec::new();
    for batch in 0..KEYS / 500 {
        let items: Vec<_> =
            (0..500).map(|i| json!({"name": format!("k{batch}-{i}"), "scopes": ["sandbox:read"]})).collect();
        let r = admin.post("/v1/api-keys/batch", json!({ "keys": items })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        for k in r.body["data"].as_array().unwrap() {
            keys.push((k["id"].as_str().unwrap().to_owned(), k["key"].as_str().unwrap().to_owned()));
        }
    }
    // Key i: i % 3 + 1 valid checks, and, if i is even, one refused for a
    // scope it lacks.
    for (i, (_, key)) in keys.iter().enumerate() {
        for _ in 0..=i % 3 {
            assert_eq!(admin.post("/v1/keys/verify", json!({"key": key})).await.body["data"]["valid"], true);
        }
        if i % 2 == 0 {
            let r = admin.post("/v1/keys/verify", json!({"key": key, "scopes": ["agent:run"]})).await;
            assert_eq!(r.body["data"]["code"], "INSUFFICIENT_SCOPE", "{}", r.text);
        }
    }
    assert!(server.terminate(), "server did not exit cleanly on SIGTERM");
    assert!(server.logs().contains("key usage written at shutdown"), "{}", server.logs());
    server.restart();
    let spills = |dir: std::path::PathBuf| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("usage-spill-"))
            .count()
    };
    let dir = server.data_dir();
    let replayed = eventually(Duration::from_secs(20), || {
        let dir = dir.clone();
        async move { spills(dir) == 0 }
    })
    .await;
    assert!(replayed, "the spill was not written and removed");
    let admin = server.admin();
    for (i, (id, _)) in keys.iter().enumerate() {
        let r = admin.get(&format!("/v1/api-keys/{id}/usage")).await;
        let days = r.body["data"].as_array().unwrap();
        assert_eq!(days.len(), 1, "key {i}: {}", r.text);
        let counts = &days[0]["counts"];
        assert_eq!(counts["VALID"], i % 3 + 1, "key {i}: {}", r.text);
        let refused = if i % 2 == 0 { json!(1) } else { json!(null) };
        assert_eq!(counts["INSUFFICIENT_SCOPE"], refused, "key {i}: {}", r.text);
        let key = admin.get(&format!("/v1/api-keys/{id}")).await;
        assert!(key.body["data"]["lastUsedAt"].is_string(), "key {i}: {}", key.text);
    }
}

#[tokio::test]
async fn plaintext_keys_never_reach_the_log() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "secret"})).await;
    server.with_key(&key).get("/v1/me").await;
    let rotated = admin.post(&format!("/v1/api-keys/{id}/rotate"), json!({})).await;
    let new_key = rotated.body["data"]["key"].as_str().unwrap().to_owned();
    server.with_key(&new_key).get("/v1/me").await;
    server.with_key(&key).get("/v1/me").await; // refused: logged as a failure
    let logs = server.logs();
    assert!(logs.contains("api key rotated"), "the log is being captured");
    for secret in [&key, &new_key, &server.admin.api_key] {
        let body = &secret[8..];
        assert!(!logs.contains(body), "plaintext key found in the log");
    }
}

/// `latchkey admin set-password` gives the user `init` created a password, so
/// they can log in; the password comes from stdin and is checked for length.
#[tokio::test]
async fn admin_set_password_lets_the_init_user_log_in() {
    use std::io::Write;
    use std::process::Stdio;

    let server = TestServer::start().await;
    let dir = server.data_dir();
    let set = |password: &str| {
        let mut child = crate::common::cli(&[
            "admin",
            "set-password",
            "--email",
            "ADA@example.com",
            "--data-dir",
            dir.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let login = |password: &'static str| {
        let api = server.anonymous();
        async move { api.post("/v1/auth/login", json!({"email": "ada@example.com", "password": password})).await }
    };
    assert_eq!(login("a brand new passphrase").await.status, 401, "no password yet");

    let short = set("too short");
    assert!(!short.status.success(), "a short password is refused");
    let ok = set("a brand new passphrase");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(!String::from_utf8_lossy(&ok.stdout).contains("passphrase"), "the password is not echoed");

    let r = login("a brand new passphrase").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["data"]["token"].as_str().unwrap().to_owned();
    let me = server.with_bearer(&token).get("/v1/me").await;
    assert_eq!(me.body["data"]["org"]["id"], server.admin.org_id.as_str());
    assert_eq!(me.body["data"]["role"], "admin");
}

/// `--workers 1` runs the server on tokio's current-thread scheduler (what a
/// process pinned to one core gets by default): verification, the next-request
/// revocation, background usage writes and the graceful shutdown all work
/// there too.
#[tokio::test]
async fn one_worker_serves_verifies_and_shuts_down_cleanly() {
    let mut server = TestServer::start_with(&["--workers", "1"]).await;
    assert!(server.logs().contains("workers=1"), "{}", server.logs());
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "one-thread"})).await;
    let verify = |admin: crate::common::Api, key: String| async move {
        admin.post("/v1/keys/verify", json!({"key": key})).await.body["data"]["code"].as_str().unwrap().to_owned()
    };
    assert_eq!(verify(admin.clone(), key.clone()).await, "VALID");
    assert_eq!(admin.post_empty(&format!("/v1/api-keys/{id}/revoke")).await.status, 200);
    assert_eq!(verify(admin.clone(), key.clone()).await, "REVOKED");
    assert!(server.terminate(), "server did not exit cleanly on SIGTERM");
    server.restart();
    let usage = server.admin().get(&format!("/v1/api-keys/{id}/usage")).await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    let days = usage.body["data"].as_array().unwrap();
    let count = |outcome: &str| days.iter().filter_map(|d| d["counts"][outcome].as_i64()).sum::<i64>();
    assert_eq!((count("VALID"), count("REVOKED")), (1, 1), "{}", usage.text);
}

#[test]
fn zero_workers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        run_cli(&["serve", "--workers", "0", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--workers"), "{stderr}");
}
