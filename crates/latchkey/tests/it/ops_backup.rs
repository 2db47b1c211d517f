//! `latchkey admin backup` and `restore`: an online backup taken while a
//! client creates keys as fast as it can restores into a new data
//! directory where every key acknowledged before the backup began
//! verifies and every secret reveals; damaged backups are refused.

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::common::{Node, TestServer, pg_base, run_cli};

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn refused(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    stderr
}

fn restore(from: &Path, to: &Path, key_file: Option<&Path>) -> Output {
    let mut args = vec!["admin", "restore", "--from", from.to_str().unwrap(), "--data-dir", to.to_str().unwrap()];
    if let Some(k) = key_file {
        args.extend(["--master-key-file", k.to_str().unwrap()]);
    }
    run_cli(&args)
}

#[tokio::test]
async fn a_backup_taken_under_writes_restores_every_acknowledged_key_and_secret() {
    let server = TestServer::start_sqlite(&[]).await;
    let admin = server.admin();
    let r = admin
        .send(
            Method::PUT,
            "/v1/secrets/SHARED",
            Some(json!({"value": "v-shared", "category": "tool", "orgWide": true}).to_string().into()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("latchkey.backup");
    let data_dir = server.data_dir();

    // A client creating keys as fast as it can (two connections), for as
    // long as the backup runs and a little before and after.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (api, acked, stop) = (admin.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = api
                        .post("/v1/api-keys", json!({"name": format!("w{w}-{i}"), "scopes": ["sandbox:read"]}))
                        .await;
                    assert_eq!(r.status, 201, "{}", r.text);
                    acked.lock().unwrap().push(r.body["data"]["key"].as_str().unwrap().to_owned());
                    i += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before: Vec<String> = acked.lock().unwrap().clone();
    let started = Instant::now();
    let (d, f) = (data_dir.to_str().unwrap().to_owned(), file.to_str().unwrap().to_owned());
    let out =
        tokio::task::spawn_blocking(move || run_cli(&["admin", "backup", "--data-dir", &d, "--to", &f])).await.unwrap();
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let printed = ok(&out, "backup");
    let during = acked.lock().unwrap().len() - before.len();
    println!("backup took {took:?}; {} keys acknowledged before it, {during} during and after", before.len());
    assert!(!before.is_empty() && during > 0, "keys were created before and while the backup ran");
    assert!(printed.contains("schema version"), "{printed}");

    // The manifest: counts, versions, the master key's id, never the key.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scratch.path().join("latchkey.backup.manifest.json")).unwrap()).unwrap();
    let master = std::fs::read_to_string(data_dir.join("master.key")).unwrap();
    assert!(manifest["keys"].as_i64().unwrap() > before.len() as i64, "{manifest}");
    assert_eq!(manifest["orgs"], 1);
    assert_eq!(manifest["latchkeyVersion"], env!("CARGO_PKG_VERSION"));
    assert!(manifest["schemaVersion"].as_i64().unwrap() >= 12, "{manifest}");
    let mk_id = manifest["masterKeyIds"][0].as_str().unwrap().to_owned();
    assert!(mk_id.starts_with("mk_"), "{manifest}");
    assert!(!manifest.to_string().contains(master.trim()), "no key material in the manifest");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "the backup is private");

    // Restore: refused into a non-empty directory; without the master key
    // it says so; with it, it says the key matches.
    let nonempty = scratch.path().join("nonempty");
    std::fs::create_dir(&nonempty).unwrap();
    std::fs::write(nonempty.join("x"), "x").unwrap();
    assert!(refused(&restore(&file, &nonempty, None), "restore into a non-empty dir").contains("not empty"));
    let keyless = scratch.path().join("keyless");
    let said = ok(&restore(&file, &keyless, None), "restore without the key");
    assert!(said.contains("WARNING") && said.contains(&mk_id), "{said}");
    let restored = scratch.path().join("restored");
    let said = ok(&restore(&file, &restored, Some(&data_dir.join("master.key"))), "restore");
    assert!(said.contains(&format!("master key {mk_id}")) && said.contains("matches"), "{said}");

    // The restored copy on its own node (with the master key copied in).
    std::fs::copy(data_dir.join("master.key"), restored.join("master.key")).unwrap();
    let node = Node::serve(&restored, None, &scratch.path().join("restored.log"));
    let api = node.with_key(&server.admin.api_key);
    for key in &before {
        let r = api.post("/v1/keys/verify", json!({"key": key})).await;
        assert_eq!(r.body["data"]["code"], "VALID", "a key acknowledged before the backup: {}", r.text);
    }
    let r = api.post_empty("/v1/secrets/SHARED/reveal").await;
    assert_eq!((r.status, r.body["data"]["value"].as_str()), (200, Some("v-shared")), "{}", r.text);
    // The audit trail is complete: one creation event per key in the copy.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", restored.join("latchkey.db").display()))
        .await
        .unwrap();
    let (keys, events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM api_keys), (SELECT count(*) FROM audit_events WHERE action = 'api_key.create')",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(keys, manifest["keys"].as_i64().unwrap());
    assert_eq!(events, keys, "every key's creation is in the restored audit trail");
    db.close().await;
}

#[tokio::test]
async fn damaged_backups_are_refused_and_postgres_points_to_pg_dump() {
    let server = TestServer::start_sqlite(&[]).await;
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("b.db");
    let dir = server.data_dir();
    ok(&run_cli(&["admin", "backup", "--data-dir", dir.to_str().unwrap(), "--to", file.to_str().unwrap()]), "backup");
    let again = run_cli(&["admin", "backup", "--data-dir", dir.to_str().unwrap(), "--to", file.to_str().unwrap()]);
    assert!(refused(&again, "a backup over an existing file").contains("exists already"));

    // A flipped byte: refused by the manifest's checksum.
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0xff;
    std::fs::write(&file, &bad).unwrap();
    let said = refused(&restore(&file, &scratch.path().join("r1"), None), "a damaged backup");
    assert!(said.contains("does not match its manifest"), "{said}");
    assert!(!scratch.path().join("r1").join("latchkey.db").exists(), "nothing restored");

    // Damaged pages with a manifest made to match: refused by SQLite's
    // integrity check (or cannot even be opened).
    let mut pages = good.clone();
    for b in &mut pages[4096..good.len() - 4096] {
        *b = b.wrapping_add(1);
    }
    std::fs::write(&file, &pages).unwrap();
    let manifest_path = scratch.path().join("b.db.manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    use sha2::Digest as _;
    let sha: String = sha2::Sha256::digest(&pages).iter().map(|b| format!("{b:02x}")).collect();
    manifest["sha256"] = json!(sha);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let said = refused(&restore(&file, &scratch.path().join("r2"), None), "a corrupted database");
    assert!(said.contains("integrity") || said.contains("not a readable SQLite database"), "{said}");
    assert!(!scratch.path().join("r2").join("latchkey.db").exists(), "nothing restored");

    // On PostgreSQL, backup says how instead of pretending.
    let out = run_cli(&[
        "admin",
        "backup",
        "--data-dir",
        dir.to_str().unwrap(),
        "--database-url",
        &format!("{}/whatever", pg_base().unwrap_or_else(|| "postgres://127.0.0.1:1".to_owned())),
        "--to",
        scratch.path().join("pg.db").to_str().unwrap(),
    ]);
    let said = refused(&out, "backup on PostgreSQL");
    assert!(said.contains("pg_dump") && said.contains("point-in-time"), "{said}");
}
