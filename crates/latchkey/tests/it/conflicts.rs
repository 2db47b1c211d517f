//! Issue 18: a refused change answers with a fixed sentence naming the
//! field, the same on SQLite and PostgreSQL, and never the database's own
//! message (table, constraint or driver names); that message goes to the
//! server log, with the request id. One test per conflict kind that HTTP or
//! the CLI can reach.

use serde_json::json;

use crate::common::{PASSWORD, Resp, TestServer, request_id, run_cli, signup};
use crate::ssh_keys::{add, keygen};

/// What a database says about a unique violation, on either backend.
const DRIVER_TEXT: [&str; 8] = [
    "UNIQUE constraint",
    "duplicate key",
    "constraint",
    "violates",
    "_key\"",
    "error returned from database",
    "sqlx",
    "SQLSTATE",
];

/// `r` is a 409 with `code` and exactly `message`, and no database text.
fn refused(r: &Resp, code: &str, message: &str) {
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.error_code(), code, "{}", r.text);
    assert_eq!(r.body["error"]["message"], message, "{}", r.text);
    for text in DRIVER_TEXT {
        assert!(!r.text.contains(text), "the answer carries database text `{text}`: {}", r.text);
    }
}

/// The database's message about `r`'s unique violation is in the server
/// log, on a line of the request's span.
fn logged_with_request_id(server: &TestServer, r: &Resp) {
    let id = request_id(r);
    let logs = server.logs();
    let line = logs
        .lines()
        .find(|l| l.contains(&id) && l.contains("unique violation"))
        .unwrap_or_else(|| panic!("no `unique violation` line with request id {id} in the log:\n{logs}"));
    assert!(
        line.contains("UNIQUE constraint failed") || line.contains("duplicate key value violates unique constraint"),
        "the database's own message is logged: {line}"
    );
}

#[tokio::test]
async fn a_taken_org_slug_is_named_not_quoted() {
    let server = TestServer::start().await;
    let ravi = signup(&server, "ravi@example.com", "Ravi Home").await;
    let api = server.with_bearer(&ravi.token);
    let r = api.post("/v1/orgs", json!({"name": "First", "slug": "taken-slug"})).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let dup = api.post("/v1/orgs", json!({"name": "Second", "slug": "taken-slug"})).await;
    refused(&dup, "conflict", "an organization with this slug already exists");
    logged_with_request_id(&server, &dup);

    // Renaming another organization to the taken slug: the same answer.
    let r = api.patch(&format!("/v1/orgs/{}", ravi.org_id), json!({"slug": "taken-slug"})).await;
    refused(&r, "conflict", "an organization with this slug already exists");
    logged_with_request_id(&server, &r);
    let home = api.get(&format!("/v1/orgs/{}", ravi.org_id)).await;
    assert_ne!(home.body["data"]["slug"], "taken-slug", "{}", home.text);
}

#[tokio::test]
async fn a_taken_email_at_sign_up_is_named_whoever_gets_there_first() {
    let server = TestServer::start().await;
    // Concurrent sign-ups (each from its own address, below the per-address
    // limit) with one email: those that pass the early check together meet
    // at the store's unique email; every loser gets the same answer.
    let body = json!({"email": "twin@example.com", "password": PASSWORD, "displayName": "Twin", "orgName": "Twin Co"});
    let mut tasks = tokio::task::JoinSet::new();
    for address in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let (client, body) = (server.anonymous_from(address), body.clone());
        tasks.spawn(async move { client.post("/v1/auth/signup", body).await });
    }
    let answers = tasks.join_all().await;
    assert_eq!(answers.iter().filter(|r| r.status == 201).count(), 1, "{answers:?}");
    for r in answers.iter().filter(|r| r.status != 201) {
        refused(r, "conflict", "an account with this email exists; log in");
    }
}

#[tokio::test]
async fn a_registered_ssh_key_is_named_by_its_fingerprint() {
    let server = TestServer::start().await;
    let ada = server.admin();
    let dir = tempfile::tempdir().unwrap();
    let pair = keygen(dir.path(), "laptop", "ed25519", None);
    for org_wide in [false, true] {
        assert_eq!(add(&ada, "laptop", &pair.public, org_wide).await.status, 201);
        let dup = add(&ada, "laptop again", &pair.public, org_wide).await;
        let scope = if org_wide { "organization-wide" } else { "for you" };
        refused(&dup, "conflict", &format!("the SSH key {} is already registered {scope}", pair.fingerprint));
        logged_with_request_id(&server, &dup);
    }
}

#[tokio::test]
async fn the_last_admin_is_refused_with_its_own_code() {
    let server = TestServer::start().await;
    let vic = signup(&server, "vic@example.com", "Vic Co").await;
    let api = server.with_bearer(&vic.token);
    let sentence = "an organization needs an admin: promote another member first";
    refused(
        &api.patch(&format!("/v1/members/{}", vic.user_id), json!({"role": "member"})).await,
        "last_admin",
        sentence,
    );
    refused(&api.delete(&format!("/v1/members/{}", vic.user_id)).await, "last_admin", sentence);
}

#[tokio::test]
async fn a_project_in_use_says_how_many_keys_hold_it() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let id = admin.post("/v1/projects", json!({"name": "p"})).await.body["data"]["id"].as_str().unwrap().to_owned();
    for name in ["k1", "k2"] {
        TestServer::create_key(&admin, json!({"name": name, "projectId": id})).await;
    }
    let r = admin.delete(&format!("/v1/projects/{id}")).await;
    refused(&r, "conflict", "project has 2 active API key(s); revoke or delete them first");
}

#[tokio::test]
async fn init_on_an_initialized_database_names_the_organization() {
    let server = TestServer::start().await;
    let data = server.data_dir();
    let again =
        run_cli(&["init", "--org", "Other", "--email", "eve@example.com", "--data-dir", data.to_str().unwrap()]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("is already initialized (organization `Acme` exists); nothing was changed"), "{stderr}");
    for text in DRIVER_TEXT {
        assert!(!stderr.contains(text), "database text `{text}`: {stderr}");
    }
}
