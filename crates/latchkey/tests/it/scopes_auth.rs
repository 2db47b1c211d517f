//! Callers, key format, scopes and escalation.

use serde_json::{Value, json};

use crate::common::TestServer;

fn flip_one_char(key: &str, pos: usize) -> String {
    let mut b = key.as_bytes().to_vec();
    b[pos] = if b[pos] == b'a' { b'b' } else { b'a' };
    String::from_utf8(b).unwrap()
}

#[tokio::test]
async fn both_header_styles_authenticate() {
    let server = TestServer::start().await;
    let key = &server.admin.api_key;
    for api in [server.with_key(key), server.with_bearer(key)] {
        let r = api.get("/v1/me").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let d = &r.body["data"];
        assert_eq!(d["user"]["id"], server.admin.user_id.as_str());
        assert_eq!(d["user"]["email"], "ada@example.com");
        assert_eq!(d["org"]["id"], server.admin.org_id.as_str());
        assert_eq!(d["role"], "admin");
        assert_eq!(d["authType"], "api_key");
        assert!(d["keyId"].as_str().unwrap().starts_with("key_"));
    }
}

#[tokio::test]
async fn bad_credentials_get_the_same_401_envelope() {
    let server = TestServer::start().await;
    let key = server.admin.api_key.clone();
    let unknown = {
        // Well-formed with a valid checksum, but never issued.
        let admin = server.admin();
        let (id, k) = TestServer::create_key(&admin, json!({"name": "gone"})).await;
        assert_eq!(admin.delete(&format!("/v1/api-keys/{id}")).await.status, 204);
        k
    };
    let cases: Vec<(&str, crate::common::Api)> = vec![
        ("no credential", server.anonymous()),
        ("garbage", server.with_key("hello")),
        ("tampered body", server.with_key(&flip_one_char(&key, 12))),
        ("tampered checksum", server.with_key(&flip_one_char(&key, key.len() - 1))),
        ("tampered prefix", server.with_key(&key.replacen("lk_live_", "lk_test_", 1))),
        ("deleted key", server.with_key(&unknown)),
        ("oversized key", server.with_key(&"a".repeat(4096))),
        ("wrong scheme", server.with_bearer("").clone()),
    ];
    for (what, api) in cases {
        let r = api.get("/v1/me").await;
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        assert_eq!(
            r.body,
            json!({"error": {"code": "unauthorized", "message": "Invalid or missing authentication"}}),
            "{what}"
        );
    }
}

#[tokio::test]
async fn revoked_key_is_refused_on_the_very_next_request() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "short-lived"})).await;
    let user = server.with_key(&key);
    assert_eq!(user.get("/v1/me").await.status, 200); // now cached
    let r = admin.post_empty(&format!("/v1/api-keys/{id}/revoke")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["status"], "revoked");
    assert!(r.body["data"]["revokedAt"].is_string());
    assert_eq!(user.get("/v1/me").await.status, 401);
    // Revoking again is harmless and keeps the first revocation time.
    let again = admin.post_empty(&format!("/v1/api-keys/{id}/revoke")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["data"]["revokedAt"], r.body["data"]["revokedAt"]);
}

#[tokio::test]
async fn expired_key_is_refused() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let soon = latchkey_core_time(1500);
    let (id, key) = TestServer::create_key(&admin, json!({"name": "brief", "expiresAt": soon})).await;
    assert_eq!(server.with_key(&key).get("/v1/me").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    assert_eq!(server.with_key(&key).get("/v1/me").await.status, 401);
    assert_eq!(admin.get(&format!("/v1/api-keys/{id}")).await.body["data"]["status"], "expired");
}

/// An RFC 3339 timestamp `ms` milliseconds from now.
fn latchkey_core_time(ms: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(ms);
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test]
async fn scopes_catalog_lists_the_documented_scopes() {
    let server = TestServer::start().await;
    let r = server.admin().get("/v1/scopes").await;
    assert_eq!(r.status, 200);
    let listed: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|s| s["scope"].as_str().unwrap()).collect();
    for s in [
        "*",
        "sandbox:create",
        "sandbox:read",
        "sandbox:write",
        "sandbox:*",
        "agent:run",
        "agent:*",
        "files:*",
        "org:read",
        "org:write",
        "org:members",
        "org:*",
        "admin:resources",
        "admin:*",
        "workflow:*",
        "tool:*",
        "ssh-key:*",
        "keys:verify",
    ] {
        assert!(listed.contains(&s), "{s} missing from {listed:?}");
    }
    assert_eq!(server.anonymous().get("/v1/scopes").await.status, 401);
}

#[tokio::test]
async fn empty_scopes_mean_everything_and_unknown_scopes_are_named() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let r = admin.post("/v1/api-keys", json!({"name": "all"})).await;
    assert_eq!(r.body["data"]["scopes"], json!(["*"]));
    let r = admin.post("/v1/api-keys", json!({"name": "all", "scopes": []})).await;
    assert_eq!(r.body["data"]["scopes"], json!(["*"]));

    let r =
        admin.post("/v1/api-keys", json!({"name": "x", "scopes": ["sandbox:create", "sandbox:fly", "warp:*"]})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "invalid_scopes");
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("sandbox:fly") && msg.contains("warp:*") && !msg.contains("sandbox:create"), "{msg}");
}

#[tokio::test]
async fn a_key_cannot_grant_more_than_it_holds() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (_, sandbox_admin) =
        TestServer::create_key(&admin, json!({"name": "s", "scopes": ["sandbox:*", "org:write"]})).await;
    let api = server.with_key(&sandbox_admin);
    let before = admin.get("/v1/api-keys?allOrg=true").await.body["data"].as_array().unwrap().len();

    for scopes in [json!(["*"]), json!([]), json!(["org:*"]), json!(["sandbox:create", "agent:run"])] {
        let r = api.post("/v1/api-keys", json!({"name": "escalate", "scopes": scopes})).await;
        assert_eq!(r.status, 403, "{scopes}: {}", r.text);
        assert_eq!(r.error_code(), "insufficient_scope");
    }
    // Within its own scopes it may mint.
    let ok = api.post("/v1/api-keys", json!({"name": "narrow", "scopes": ["sandbox:create"]})).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let after = admin.get("/v1/api-keys?allOrg=true").await.body["data"].as_array().unwrap().len();
    assert_eq!(after, before + 1, "refused creates stored nothing");

    // Rotating the `*` admin key would hand out a `*` key: refused too.
    let admin_key_id = admin.get("/v1/me").await.body["data"]["keyId"].as_str().unwrap().to_owned();
    let r = api.post(&format!("/v1/api-keys/{admin_key_id}/rotate"), json!({})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(server.admin().get("/v1/me").await.status, 200, "the admin key was not rotated away");
}

#[tokio::test]
async fn managing_keys_needs_org_write() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (_, reader) = TestServer::create_key(&admin, json!({"name": "r", "scopes": ["org:read", "sandbox:*"]})).await;
    let (_, sandbox) = TestServer::create_key(&admin, json!({"name": "s", "scopes": ["sandbox:create"]})).await;
    let (victim, _) = TestServer::create_key(&admin, json!({"name": "v"})).await;

    let r = server.with_key(&reader);
    let w = r.post("/v1/api-keys", json!({"name": "x", "scopes": ["sandbox:create"]})).await;
    assert_eq!((w.status, w.error_code()), (403, "insufficient_scope"));
    assert_eq!(r.post_empty(&format!("/v1/api-keys/{victim}/revoke")).await.status, 403);
    assert_eq!(r.delete(&format!("/v1/api-keys/{victim}")).await.status, 403);
    assert_eq!(r.get("/v1/api-keys").await.status, 200, "org:read may list");

    let s = server.with_key(&sandbox);
    assert_eq!(s.get("/v1/api-keys").await.status, 403);
    assert_eq!(s.get("/v1/me").await.status, 200, "any valid key may ask who it is");
    let v: Value = admin.get(&format!("/v1/api-keys/{victim}")).await.body;
    assert_eq!(v["data"]["status"], "active");
}

/// Reading the organization (`GET /v1/orgs`, `GET /v1/orgs/{id}`) needs
/// `org:read`, like its members, keys and projects: a key made to create
/// sandboxes learns nothing about the organization. Sessions and `*` keys
/// read it as before.
#[tokio::test]
async fn reading_the_organization_needs_org_read() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org = &server.admin.org_id;
    let (_, narrow) = TestServer::create_key(&admin, json!({"name": "narrow", "scopes": ["sandbox:create"]})).await;
    let (_, reader) = TestServer::create_key(&admin, json!({"name": "reader", "scopes": ["org:read"]})).await;
    for path in ["/v1/orgs".to_owned(), format!("/v1/orgs/{org}")] {
        let r = server.with_key(&narrow).get(&path).await;
        assert_eq!((r.status, r.error_code()), (403, "insufficient_scope"), "narrow key: GET {path}: {}", r.text);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("org:read"), "{}", r.text);
        for (who, api) in [("org:read key", server.with_key(&reader)), ("admin key", server.admin())] {
            let r = api.get(&path).await;
            assert_eq!(r.status, 200, "{who}: GET {path}: {}", r.text);
            assert!(r.text.contains(org.as_str()), "{who}: GET {path}: {}", r.text);
        }
    }
}
