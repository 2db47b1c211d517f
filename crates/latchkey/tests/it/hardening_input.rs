//! Issue 17's input defects: control characters in names (14) and JSON
//! arrays taken as object bodies (16).

use serde_json::{Value, json};

use crate::common::{BIN, TestServer, signup};
use crate::db::Db;

/// Names a terminal or a page would act on: ESC sequences, NUL, CR/LF, a
/// C1 control and the bidirectional overrides.
const HOSTILE: [&str; 7] = [
    "evil\u{1b}[2J",
    "nul\u{0}byte",
    "forged\r\nline",
    "c1\u{9b}31m",
    "rlo\u{202e}txt.exe",
    "isolate\u{2066}x\u{2069}",
    "del\u{7f}",
];

#[tokio::test]
async fn d14_control_characters_in_names_are_refused_everywhere() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let person = server.with_bearer(&signup(&server, "ana@example.com", "Ana's").await.token);
    let (key_id, _) = TestServer::create_key(&admin, json!({"name": "plain"})).await;
    let project = admin.post("/v1/projects", json!({"name": "plain"})).await;
    let project_id = project.body["data"]["id"].as_str().unwrap().to_owned();
    let product = admin.post("/v1/products", json!({"name": "plain"})).await;
    assert_eq!(product.status, 201, "{}", product.text);
    let product_id = product.body["id"].as_str().unwrap().to_owned();

    for name in HOSTILE {
        let r = person.post("/v1/orgs", json!({"name": name})).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "POST /v1/orgs {name:?}: {}", r.text);
        let cases: [(&str, String, Value); 8] = [
            ("POST", "/v1/api-keys".into(), json!({"name": name})),
            ("PATCH", format!("/v1/api-keys/{key_id}"), json!({"name": name})),
            ("POST", "/v1/projects".into(), json!({"name": name})),
            ("PATCH", format!("/v1/projects/{project_id}"), json!({"name": name})),
            ("POST", "/v1/products".into(), json!({"name": name})),
            ("POST", format!("/v1/products/{product_id}/surfaces"), json!({"name": name})),
            ("POST", "/v1/apikeys".into(), json!({"name": name})),
            ("POST", "/v1/restricted_keys".into(), json!({"name": name})),
        ];
        for (method, path, body) in cases {
            let r = match method {
                "PATCH" => admin.patch(&path, body).await,
                _ => admin.post(&path, body).await,
            };
            assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{method} {path} {name:?}: {}", r.text);
            let msg = r.body["error"]["message"].as_str().unwrap();
            assert!(msg.contains("control characters") && !msg.chars().any(char::is_control), "{msg:?}");
        }
        for (display, org) in [(name, "Acme"), ("Ana", name)] {
            let r = server
                .anonymous()
                .post(
                    "/v1/auth/signup",
                    json!({"email": "bo@example.com", "password": "a long passphrase", "displayName": display, "orgName": org}),
                )
                .await;
            assert_eq!(r.status, 400, "signup {display:?} {org:?}: {}", r.text);
        }
    }
    // Nothing was stored half-way: the original names stand, no extra rows.
    let keys = admin.get("/v1/api-keys?allOrg=true").await;
    assert!(
        keys.body["data"].as_array().unwrap().iter().all(|k| !k["name"].as_str().unwrap().contains(['\u{1b}', '\0']))
    );
    assert_eq!(admin.get(&format!("/v1/projects/{project_id}")).await.body["data"]["name"], "plain");
    // Ordinary non-ASCII text stays welcome.
    let ok = admin.post("/v1/api-keys", json!({"name": "Déploiement — 日本 👩‍💻"})).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
}

#[tokio::test]
async fn d14_the_cli_never_prints_control_characters_raw() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key_id, _) = TestServer::create_key(&admin, json!({"name": "soon hostile"})).await;
    // A name stored before names were checked (or written by another tool).
    let db = Db::connect(&server).await;
    let hostile = "evil\u{1b}]0;owned\u{7}\u{1b}[2J\r\nforged \u{202e}line";
    assert_eq!(db.exec(&format!("UPDATE api_keys SET name = '{hostile}' WHERE id = '{key_id}'")).await, 1);

    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["auth", "keys", "list"])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("LATCHKEY_API_URL", &server.url)
        .env("LATCHKEY_API_KEY", &server.admin.api_key)
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(&key_id), "{stdout}");
    assert!(stdout.contains("evil\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{d}\\u{a}forged \\u{202e}line"), "{stdout}");
    assert!(!stdout.chars().any(|c| latchkey_core::text::is_display_control(c) && c != '\n'), "{stdout:?}");
}

#[tokio::test]
async fn d16_json_arrays_are_not_object_bodies() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key_id, _) = TestServer::create_key(&admin, json!({"name": "kept"})).await;
    let before = admin.get("/v1/api-keys?allOrg=true").await.body["data"].as_array().unwrap().len();

    let cases: [(&str, String, &str); 6] = [
        ("PATCH", format!("/v1/api-keys/{key_id}"), r#"["renamed"]"#),
        ("POST", "/v1/apikeys".into(), "[]"),
        ("POST", "/v1/restricted_keys".into(), " [ ] "),
        ("POST", "/v1/api-keys".into(), r#"["x", ["*"]]"#),
        ("POST", "/v1/projects".into(), r#"["p"]"#),
        ("POST", "/v1/keys/verify".into(), r#"["lk_live_x"]"#),
    ];
    for (method, path, body) in cases {
        let r = match method {
            "PATCH" => admin.send(reqwest::Method::PATCH, &path, Some(body.to_owned().into())).await,
            _ => admin.post_raw(&path, body.to_owned()).await,
        };
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{method} {path} {body}: {}", r.text);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("JSON object"), "{}", r.text);
    }
    assert_eq!(admin.get(&format!("/v1/api-keys/{key_id}")).await.body["data"]["name"], "kept");
    let after = admin.get("/v1/api-keys?allOrg=true").await.body["data"].as_array().unwrap().len();
    assert_eq!(after, before, "no key was minted");
    // An empty body where one is optional still means the defaults.
    assert_eq!(admin.post_raw("/v1/apikeys", "").await.status, 200);
}

/// Found by fuzzing (`fuzz/key_parse`): a presented key with a multi-byte
/// character where the prefix ends panicked the key parser, and with it
/// the request (no answer at all).
#[tokio::test]
async fn fuzz_non_ascii_presented_keys_are_malformed_not_a_dropped_request() {
    let server = TestServer::start().await;
    let admin = server.admin();
    for key in [format!("lk_live_\u{95}{}", "a".repeat(37)), format!("ab_ҟ{}", "A".repeat(37))] {
        let r = admin.post("/v1/keys/verify", json!({"key": key})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["data"]["valid"], false, "{}", r.text);
    }
    assert_eq!(admin.get("/v1/me").await.status, 200);
}

/// The log canary (`common::assert_no_secrets_logged`, run on every test
/// server's log when it stops) finds what it is there to find.
#[test]
fn canary_finds_credentials_and_remembered_secrets_in_a_log() {
    use latchkey_core::{KeyPrefix, PlainKey};

    use crate::canary::{assert_no_secrets_logged, remember_secret};
    let caught = |log: String| std::panic::catch_unwind(|| assert_no_secrets_logged(&log, "a log")).is_err();
    for prefix in ["lk_live_", "lks_", "lki_", "ak_", "sk_test_"] {
        let key = PlainKey::generate(&KeyPrefix::new(prefix).unwrap());
        assert!(caught(format!("INFO request path=/v1/x/{}/accept", key.expose())), "{prefix}");
        assert!(caught(format!("key=\"{}\"", key.expose())), "{prefix}");
        assert!(!caught(format!("key_prefix={} hint={}", key.display_prefix(), key.hint())), "{prefix}");
    }
    remember_secret("correct horse battery staple");
    assert!(caught("DEBUG body={\"value\":\"correct horse battery staple\"}".to_owned()));
    assert!(!caught("DEBUG secret set name=DB_PASSWORD version=2".to_owned()));
}

/// Like a client's request id (defect 12), the email of a failed login is
/// kept in the audit trail only as far as it is an address: not 20 KB of
/// it, and not a password typed into the email field.
#[tokio::test]
async fn d12_a_failed_login_keeps_only_an_email_address_in_the_audit_trail() {
    let server = TestServer::start().await;
    let anon = server.anonymous();
    let huge = format!("{}@example.com", "a".repeat(20_000));
    for email in [huge.as_str(), "my secret passphrase", "Ada@Example.com"] {
        let r = anon.post("/v1/auth/login", json!({"email": email, "password": "wrong password"})).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let db = Db::connect(&server).await;
    let details =
        db.strings("SELECT details FROM audit_events WHERE action = 'auth.login_failed' ORDER BY at", "details").await;
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(details.iter().all(|d| d.len() < 300), "{details:?}");
    assert!(!details.iter().any(|d| d.contains("passphrase")), "{details:?}");
    assert!(details.iter().any(|d| d.contains("ada@example.com")), "{details:?}");
}
