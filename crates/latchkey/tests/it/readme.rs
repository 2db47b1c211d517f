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

#[tokio::test]
async fn the_curl_walkthrough_works_as_written() {
    if Command::new("jq").arg("--version").output().is_err() {
        panic!("jq is needed by the README walkthrough test (.ci/run installs it)");
    }
    let server = TestServer::start().await;
    let script = shell_block_after("In another terminal")
        .lines()
        .map(|l| {
            if l.starts_with("export LK=") {
                format!("export LK={}", server.url)
            } else if l.starts_with("export ADMIN_KEY=") {
                format!("export ADMIN_KEY={}", server.admin.api_key)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "walkthrough failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
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
    let script = shell_block_after("### People: sign-up, login, inviting a member")
        .lines()
        .map(|l| if l.starts_with("export LK=") { format!("export LK={}", server.url) } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n");
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "walkthrough failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
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
