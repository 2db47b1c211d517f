//! The README's curl walkthrough, run verbatim (with the server's address
//! and admin key filled in) against a real server.

use std::process::Command;

use crate::common::TestServer;

/// The first ```sh block after `marker` in the README.
fn shell_block_after(marker: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find(marker).expect("marker in README");
    let rest = &readme[start..];
    let open = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let close = rest[open..].find("```").unwrap();
    rest[open..open + close].to_owned()
}

/// Runs the block after `marker` with bash (`-euo pipefail`), with the
/// server's address and admin key in place of the `export LK=` and `export
/// ADMIN_KEY=` lines; returns its standard output.
fn run_block(server: &TestServer, marker: &str) -> String {
    run_block_with(server, marker, &[], &[])
}

/// [`run_block`], also replacing each line that starts with one of
/// `replace`'s prefixes and adding `env`.
fn run_block_with(server: &TestServer, marker: &str, replace: &[(&str, String)], env: &[(&str, String)]) -> String {
    let script = shell_block_after(marker)
        .lines()
        .map(|l| {
            if l.starts_with("export LK=") {
                format!("export LK={}", server.url)
            } else if l.starts_with("export ADMIN_KEY=") {
                format!("export ADMIN_KEY={}", server.admin.api_key)
            } else if let Some((_, with)) = replace.iter().find(|(prefix, _)| l.starts_with(prefix)) {
                with.clone()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{marker} failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The `# …` output lines the README shows in the block after `marker`
/// (comment lines that follow a command, not the explanatory ones before).
fn shown_outputs(marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_command = false;
    for line in shell_block_after(marker).lines() {
        if let Some(shown) = line.strip_prefix("# ") {
            if after_command {
                out.push(shown.to_owned());
            }
        } else {
            after_command = !line.trim().is_empty();
        }
    }
    out
}

#[tokio::test]
async fn the_profile_walkthroughs_work_as_written() {
    let server = TestServer::start().await;
    for marker in [
        "### Runloop: `POST /v1/apikeys`",
        "### Runtype: products, surfaces and surface keys",
        "## Key policies and IP rules",
    ] {
        let stdout = run_block(&server, marker);
        let lines: Vec<&str> = stdout.lines().collect();
        let shown = shown_outputs(marker);
        assert!(shown.len() >= 3, "{marker}: the README shows outputs");
        assert_eq!(lines, shown, "{marker}: the outputs the README shows");
    }
}

/// On a server of its own: the previous blocks' key policy would refuse
/// its key.
#[tokio::test]
async fn the_rotation_until_unused_walkthrough_works_as_written() {
    let server = TestServer::start().await;
    let marker = "## Rotation until unused\n";
    let stdout = run_block(&server, marker);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, shown_outputs(marker), "the outputs the README shows");
}

#[tokio::test]
async fn the_curl_walkthrough_works_as_written() {
    if Command::new("jq").arg("--version").output().is_err() {
        panic!("jq is needed by the README walkthrough test (.ci/run installs it)");
    }
    let server = TestServer::start().await;
    let stdout = run_block(&server, "In another terminal");
    assert!(stdout.contains("\"sandbox:create\""), "the new key is used: {stdout}");
    assert!(stdout.contains("insufficient_scope"), "escalation refused: {stdout}");
    assert!(stdout.contains("\"revoked\""), "revoked: {stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with(r#"{"error":{"code":"unauthorized","message":"Invalid or missing authentication"}}"#),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_people_walkthrough_works_as_written() {
    let server = TestServer::start().await;
    let stdout = run_block(&server, "### People: sign-up, login, inviting a member");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"user":"ana@example.com","role":"admin"}"#,
            r#"[{"email":"ben@example.com","role":"member"},{"email":"ana@example.com","role":"admin"}]"#,
            r#"{"owner":"user","scopes":["sandbox:*"]}"#,
            "api_key.create",
            "invitation.accept",
            "invitation.create",
            "204",
        ],
        "the outputs the README shows"
    );
    for secret in ["a long passphrase", "another long one"] {
        assert!(!server.logs().contains(secret), "a password reached the log");
    }
}

#[tokio::test]
async fn the_cli_walkthrough_works_as_written() {
    let server = TestServer::start().await;
    // The admin `scripts/run.sh` initializes.
    server.second_org("My Org", "admin@example.com");
    let home = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(crate::common::BIN).parent().unwrap().display().to_string();
    let data_dir = server.data_dir();
    let mut env = vec![
        ("HOME", home.path().display().to_string()),
        ("XDG_CONFIG_HOME", home.path().join("config").display().to_string()),
        ("LATCHKEY_DATA_DIR", data_dir.display().to_string()),
        ("NO_COLOR", "1".to_owned()),
    ];
    if let Some(url) = crate::common::database_url_for(&data_dir) {
        env.push(("LATCHKEY_DATABASE_URL", url));
    }
    let replace = [
        ("export PATH=", format!("export PATH=\"{bin_dir}:$PATH\"")),
        ("export LATCHKEY_API_URL=", format!("export LATCHKEY_API_URL={}", server.url)),
    ];
    let marker = "## Walkthrough (CLI)";
    let stdout = run_block_with(&server, marker, &replace, &env);
    // What each step shows.
    for want in [
        "Logged in to",
        "admin@example.com",
        "Created API key",
        "shown once",
        "sandbox:create",
        "Rotated API key",
        "keeps working for 1h",
        "Revoked",
        "Created project Payments",
        "Invited ben@example.com as member",
        "lki_",
        "api_key.revoke",
        "Saved ANTHROPIC_API_KEY (user, provider, version 1)",
        "\nsk-ant-xxx\n",
        "Added personal-laptop",
        "\nssh-ed25519 ",
        "agent-memory",
        "read-only mount of wsp_",
        "Logged out of",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
    let verdicts: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("Verdict")).map(str::trim).collect();
    assert_eq!(verdicts, ["VALID", "INSUFFICIENT_SCOPE", "REVOKED"], "{stdout}");
    let refused: Vec<&str> = stdout.lines().filter(|l| *l == "refused").collect();
    assert_eq!(refused.len(), 2, "the wrong scope and the revoked key are refused:\n{stdout}");
    assert_eq!(refused.len(), shown_outputs(marker).iter().filter(|l| *l == "refused").count());
    assert!(!home.path().join("config/latchkey/credentials.toml").exists(), "logged out");
    assert!(!server.logs().contains("a long passphrase"), "the password reached the log");
}

#[tokio::test]
async fn the_secrets_ssh_key_leaked_key_webhook_and_import_walkthroughs_work_as_written() {
    let server = TestServer::start().await;
    for marker in
        ["## Secrets\n", "## SSH keys\n", "## Leaked keys\n", "## Webhooks\n", "## Importing and exporting keys\n"]
    {
        let stdout = run_block(&server, marker);
        let lines: Vec<&str> = stdout.lines().collect();
        let shown = shown_outputs(marker);
        assert!(shown.len() >= 3, "{marker}: the README shows outputs");
        assert_eq!(lines, shown, "{marker}: the outputs the README shows");
    }
    assert!(!server.logs().contains("sk-ant-xxx"), "a secret value reached the log");
}

#[tokio::test]
async fn the_backup_walkthrough_works_as_written() {
    let server = TestServer::start_sqlite(&[]).await;
    // A secret, so that the backup holds a data key sealed by the master key.
    let body = serde_json::json!({"value": "v", "category": "tool", "orgWide": true}).to_string();
    let r = server.admin().send(reqwest::Method::PUT, "/v1/secrets/S", Some(body.into())).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let scratch = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(crate::common::BIN).parent().unwrap().display().to_string();
    let restored = scratch.path().join("restored");
    let replace = [
        ("export LATCHKEY_DATA_DIR=", format!("export LATCHKEY_DATA_DIR={}", server.data_dir().display())),
        ("BACKUP=", format!("BACKUP={}", scratch.path().join("backup.db").display())),
        ("RESTORED=", format!("RESTORED={}", restored.display())),
    ];
    let env = [("PATH", format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default()))];
    let stdout = run_block_with(&server, "### Backups (SQLite)", &replace, &env);
    for want in ["backup of", "1 keys, 1 organizations", "restored", "matches the sealed secrets", "all checks passed"]
    {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
    assert!(restored.join("latchkey.db").exists() && restored.join("master.key").exists());
}
