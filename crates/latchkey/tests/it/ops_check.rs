//! `latchkey admin check` finds each planted problem (and `serve` refuses
//! a database migrated by a newer latchkey); `deploy/latchkey.service`
//! passes `systemd-analyze verify`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use reqwest::Method;
use serde_json::json;

use crate::common::{BIN, TestServer, database_url_for, run_cli};
use crate::db::Db;

/// `latchkey admin check --data-dir <dir> <extra>`: (passed, stdout).
fn check(dir: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["admin", "check", "--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run_cli(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let failures = stdout.lines().filter(|l| l.starts_with("FAIL")).count();
    assert_eq!(out.status.success(), failures == 0, "exit status vs findings: {stdout}");
    (out.status.success(), stdout)
}

/// The one `FAIL` line of `stdout`, asserting there is exactly one.
fn finding(stdout: &str) -> &str {
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(lines.len(), 1, "one finding expected: {stdout}");
    lines[0]
}

#[tokio::test]
async fn check_finds_each_planted_problem() {
    let server = TestServer::start().await;
    let dir = server.data_dir();
    // A secret, so that a data key is wrapped by the master key.
    let r = server
        .admin()
        .send(Method::PUT, "/v1/secrets/S", Some(json!({"value": "v", "category": "tool"}).to_string().into()))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (passed, said) = check(&dir, &[]);
    assert!(passed && said.contains("all checks passed"), "{said}");

    // An unknown configuration key, with its line.
    let config = dir.join("latchkey.toml");
    std::fs::write(&config, "signup = true\n\nsingup_typo = 3\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, said) = check(&dir, &[]);
    let line = finding(&said);
    assert!(line.starts_with("FAIL  config:") && line.contains("line 3") && line.contains("singup_typo"), "{said}");
    // A bad value, with its line.
    std::fs::write(&config, "signup = true\nsession_ttl = \"2s\"\n").unwrap();
    let line = finding(&check(&dir, &[]).1).to_owned();
    assert!(line.contains("line 2") && line.contains("session_ttl"), "{line}");
    std::fs::remove_file(&config).unwrap();

    // Another master key than the one the data keys are wrapped with.
    let scratch = tempfile::tempdir().unwrap();
    let other = scratch.path().join("other.key");
    std::fs::write(&other, "11".repeat(32)).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, said) = check(&dir, &["--master-key-file", other.to_str().unwrap()]);
    assert!(finding(&said).starts_with("FAIL  master key:"), "{said}");

    // A world-readable database (SQLite) or key file (either).
    let planted = if database_url_for(&dir).is_none() { dir.join("latchkey.db") } else { dir.join("master.key") };
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, said) = check(&dir, &[]);
    let line = finding(&said);
    assert!(line.starts_with("FAIL  permissions:") && line.contains("everyone"), "{said}");
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o600)).unwrap();

    // An unreachable database.
    let (_, said) = check(&dir, &["--database-url", "postgres://postgres@127.0.0.1:1/nowhere"]);
    // It says why (not only that a pool gave up waiting).
    assert!(said.lines().any(|l| l.starts_with("FAIL  database:") && l.contains("Connection refused")), "{said}");
    // An unreachable Redis; a reachable one (when the suite has one) passes.
    let (_, said) = check(&dir, &["--redis-url", "redis://127.0.0.1:1"]);
    assert!(finding(&said).starts_with("FAIL  redis:"), "{said}");
    if let Ok(url) = std::env::var("LATCHKEY_TEST_REDIS_URL") {
        let (passed, said) = check(&dir, &["--redis-url", &url]);
        assert!(passed && said.contains("ok    redis:"), "{said}");
    }

    // A database migrated by a newer latchkey: check and serve refuse it.
    let db = Db::connect(&server).await;
    let n = db
        .exec_bytes(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990001, 'from the future', TRUE, $1, 0)",
            &[0u8; 4],
        )
        .await;
    assert_eq!(n, 1);
    let (_, said) = check(&dir, &[]);
    let line = finding(&said);
    assert!(
        line.starts_with("FAIL  schema:") && line.contains("newer latchkey") && line.contains("99990001"),
        "{said}"
    );
    let out = run_cli(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("migrated by a newer latchkey"), "{stderr}");
    db.exec("DELETE FROM _sqlx_migrations WHERE version = 99990001").await;
    db.close().await;
    assert!(check(&dir, &[]).0, "all well again");
}

#[test]
fn the_service_unit_passes_systemd_analyze_verify() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/latchkey.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for needed in [
        "User=latchkey",
        "StateDirectory=latchkey",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "LimitNOFILE=",
        "ExecStartPre=/usr/local/bin/latchkey admin check",
    ] {
        assert!(text.contains(needed), "{needed} in {}", unit.display());
    }
    let Ok(probe) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        println!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(probe.status.success());
    // The unit as installed, with this build standing in for
    // /usr/local/bin/latchkey (verify checks that the binary exists).
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("latchkey.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/latchkey", BIN)).unwrap();
    let out = std::process::Command::new("systemd-analyze").arg("verify").arg(&copy).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !said.contains("latchkey.service:"), "systemd-analyze verify: {said}");
}
