//! The Runloop key profile (reference document 003): `POST /v1/apikeys`
//! (standard `ak_` keys with their creator's access) and
//! `POST /v1/restricted_keys` (`rk_` keys with per-resource access levels
//! mapped onto native scopes), who may call them, no escalation, and how the
//! keys verify.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::{Api, Resp, TestServer, ms, now_ms, signup};

const DAY_MS: i64 = 86_400_000;

/// The exact field set of `POST /v1/apikeys`.
const API_KEY_FIELDS: &[&str] = &["id", "name", "key_secret", "expires_at_ms"];
/// The exact field set of `POST /v1/restricted_keys`.
const RESTRICTED_KEY_FIELDS: &[&str] = &["id", "name", "key_secret", "scopes", "expires_at_ms"];

/// Asserts that `v` is an object with exactly the keys `expected`.
fn assert_fields(v: &Value, expected: &[&str], what: &str) {
    let got: BTreeSet<&str> =
        v.as_object().unwrap_or_else(|| panic!("{what}: not an object: {v}")).keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = expected.iter().copied().collect();
    assert_eq!(got, want, "{what}: fields of {v}");
}

/// Asserts `secret` is `<prefix>` followed by exactly 38 ASCII alphanumerics.
fn assert_secret(secret: &Value, prefix: &str) -> String {
    let s = secret.as_str().unwrap_or_else(|| panic!("key_secret is not a string: {secret}"));
    let rest = s.strip_prefix(prefix).unwrap_or_else(|| panic!("{s} does not start with {prefix}"));
    assert_eq!(rest.len(), 38, "{s}");
    assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{s}");
    s.to_owned()
}

/// A scope entry of the Runloop wire format.
fn entry(resource: &str, level: &str) -> Value {
    json!({"resource_type": format!("RESOURCE_TYPE_{resource}"), "access_level": format!("ACCESS_LEVEL_{level}")})
}

fn assert_error(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.error_code(), code, "{what}: {}", r.text);
}

/// A created standard key: (id, secret), after checking the response shape.
async fn create_ak(api: &Api, body: Option<Value>) -> (String, String) {
    let r = match body {
        Some(b) => api.post("/v1/apikeys", b).await,
        None => api.post_empty("/v1/apikeys").await,
    };
    assert_eq!(r.status, 200, "{}", r.text);
    assert_fields(&r.body, API_KEY_FIELDS, "POST /v1/apikeys");
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("key_"), "{}", r.text);
    (id, assert_secret(&r.body["key_secret"], "ak_"))
}

/// A created restricted key with `scopes`: (id, secret), after checking the
/// response shape and the echo of the scopes.
async fn create_rk(api: &Api, scopes: Value) -> (String, String) {
    let r = api.post("/v1/restricted_keys", json!({"name": "rk", "scopes": scopes})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_fields(&r.body, RESTRICTED_KEY_FIELDS, "POST /v1/restricted_keys");
    assert_eq!(r.body["scopes"], scopes, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("key_"), "{}", r.text);
    (id, assert_secret(&r.body["key_secret"], "rk_"))
}

/// The native view (`GET /v1/api-keys/{id}` as the org admin) of a key.
async fn native(server: &TestServer, id: &str) -> Value {
    let r = server.admin().get(&format!("/v1/api-keys/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

/// The number of keys in the admin's organization.
async fn key_count(server: &TestServer) -> usize {
    let r = server.admin().get("/v1/api-keys?allOrg=true&limit=100").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().len()
}

/// `POST /v1/keys/verify` as `api`, returning `data`.
async fn verify(api: &Api, body: Value) -> Value {
    let r = api.post("/v1/keys/verify", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

/// The `(valid, code)` of verifying `key` for `scopes` as `api`.
async fn verdict(api: &Api, key: &str, scopes: &[&str]) -> (Option<bool>, String) {
    let d = verify(api, json!({"key": key, "scopes": scopes})).await;
    (d["valid"].as_bool(), d["code"].as_str().unwrap_or_default().to_owned())
}

fn flip_one_char(key: &str, pos: usize) -> String {
    let mut b = key.as_bytes().to_vec();
    b[pos] = if b[pos] == b'a' { b'b' } else { b'a' };
    String::from_utf8(b).unwrap()
}

#[tokio::test]
async fn create_api_key_answers_with_the_documented_bare_object() {
    let server = TestServer::start().await;
    let admin = server.with_bearer(&server.admin.api_key);
    let expires = now_ms() + 30 * DAY_MS;
    let r = admin.post("/v1/apikeys", json!({"name": "ci deploy", "expires_at_ms": expires})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_fields(&r.body, API_KEY_FIELDS, "full body");
    assert!(r.body.get("data").is_none(), "bare object, not wrapped: {}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("key_"), "{}", r.text);
    assert_eq!(r.body["name"], "ci deploy");
    assert_eq!(r.body["expires_at_ms"].as_i64(), Some(expires), "{}", r.text);
    let secret = assert_secret(&r.body["key_secret"], "ak_");

    // Full access of its creator: the admin key holds `*`.
    let n = native(&server, &id).await;
    assert_eq!(n["scopes"], json!(["*"]), "{n}");
    assert_eq!(n["kind"], "standard", "{n}");
    assert_eq!(n["name"], "ci deploy", "{n}");
    assert_eq!(ms(&n["expiresAt"]), expires, "the expiry is stored: {n}");

    // No body at all, `{}` and an explicit null expiry: empty name, no expiry.
    for body in [None, Some(json!({})), Some(json!({"expires_at_ms": null}))] {
        let r = match &body {
            Some(b) => admin.post("/v1/apikeys", b.clone()).await,
            None => admin.post_empty("/v1/apikeys").await,
        };
        assert_eq!(r.status, 200, "{body:?}: {}", r.text);
        assert_fields(&r.body, API_KEY_FIELDS, "minimal body");
        assert_eq!(r.body["name"], "", "{body:?}: {}", r.text);
        assert!(r.body["expires_at_ms"].is_null(), "{body:?}: {}", r.text);
        assert!(r.body["id"].as_str().unwrap().starts_with("key_"), "{}", r.text);
        assert_secret(&r.body["key_secret"], "ak_");
    }

    // The ak_ key is a credential in both header styles, and can itself mint
    // keys (which again carry `*`).
    for api in [server.with_bearer(&secret), server.with_key(&secret)] {
        let me = api.get("/v1/me").await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.body["data"]["org"]["id"], server.admin.org_id.as_str(), "{}", me.text);
        assert_eq!(me.body["data"]["keyId"], id.as_str(), "{}", me.text);
    }
    let (child, child_secret) = create_ak(&server.with_bearer(&secret), Some(json!({"name": "child"}))).await;
    assert_ne!(child, id);
    assert_ne!(child_secret, secret);
    let n = native(&server, &child).await;
    assert_eq!((n["scopes"].clone(), n["kind"].clone()), (json!(["*"]), json!("standard")), "{n}");
}

#[tokio::test]
async fn create_api_key_refuses_bad_bodies_and_stores_nothing() {
    let server = TestServer::start().await;
    let admin = server.with_bearer(&server.admin.api_key);
    let before = key_count(&server).await;
    let cases = [
        ("unknown field scopes", json!({"name": "x", "scopes": []})),
        ("misspelled name", json!({"nme": "x"})),
        ("expiry in the past", json!({"name": "x", "expires_at_ms": now_ms() - 60_000})),
    ];
    for (what, body) in cases {
        let r = admin.post("/v1/apikeys", body).await;
        assert_error(&r, 400, "invalid_request", what);
    }
    for (what, body) in [
        ("expiry as text", json!({"name": "x", "expires_at_ms": "tomorrow"})),
        ("name as a number", json!({"name": 5})),
    ] {
        let r = admin.post("/v1/apikeys", body).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        r.error_code();
    }
    let r = admin.post_raw("/v1/apikeys", "{not json").await;
    assert_eq!(r.status, 400, "malformed JSON: {}", r.text);
    r.error_code();
    assert_eq!(key_count(&server).await, before, "a refused create stores nothing");
}

#[tokio::test]
async fn restricted_keys_echo_their_scopes_and_map_onto_native_scopes() {
    let server = TestServer::start().await;
    let admin = server.with_bearer(&server.admin.api_key);

    let expires = now_ms() + DAY_MS;
    let scopes = json!([entry("DEVBOXES", "WRITE"), entry("ACCOUNT", "READ"), entry("SNAPSHOTS", "NONE")]);
    let r = admin
        .post("/v1/restricted_keys", json!({"name": "ci-readonly", "scopes": scopes, "expires_at_ms": expires}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_fields(&r.body, RESTRICTED_KEY_FIELDS, "restricted key");
    assert_eq!(r.body["name"], "ci-readonly");
    assert_eq!(r.body["expires_at_ms"].as_i64(), Some(expires), "{}", r.text);
    assert_eq!(r.body["scopes"], scopes, "echoed in order, NONE included: {}", r.text);
    for s in r.body["scopes"].as_array().unwrap() {
        assert_fields(s, &["resource_type", "access_level"], "scope entry");
    }
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("key_"), "{}", r.text);
    let secret = assert_secret(&r.body["key_secret"], "rk_");
    let n = native(&server, &id).await;
    assert_eq!(n["scopes"], json!(["devboxes:read", "devboxes:write", "org:read"]), "{n}");
    assert_eq!(n["kind"], "restricted", "{n}");
    // It is a working credential.
    assert_eq!(server.with_bearer(&secret).get("/v1/me").await.status, 200);

    // Every resource type, in an order that is not alphabetical: request
    // order is kept, read before write, NONE adds nothing.
    let all = json!([
        entry("ACCOUNT", "WRITE"),
        entry("OBJECTS", "READ"),
        entry("AGENTS", "WRITE"),
        entry("REPO_CONNECTIONS", "READ"),
        entry("SCENARIOS", "WRITE"),
        entry("BENCHMARKS", "READ"),
        entry("SNAPSHOTS", "WRITE"),
        entry("BLUEPRINTS", "READ"),
        entry("DEVBOXES", "NONE"),
    ]);
    let (id, _) = create_rk(&admin, all).await;
    let n = native(&server, &id).await;
    assert_eq!(
        n["scopes"],
        json!([
            "org:read",
            "org:write",
            "objects:read",
            "agents:read",
            "agents:write",
            "repo-connections:read",
            "scenarios:read",
            "scenarios:write",
            "benchmarks:read",
            "snapshots:read",
            "snapshots:write",
            "blueprints:read",
        ]),
        "{n}"
    );
    assert_eq!(n["kind"], "restricted", "{n}");
    let (id, _) = create_rk(&admin, json!([entry("REPO_CONNECTIONS", "WRITE"), entry("DEVBOXES", "READ")])).await;
    assert_eq!(
        native(&server, &id).await["scopes"],
        json!(["repo-connections:read", "repo-connections:write", "devboxes:read"])
    );

    // No body, `{}`: no name, no scopes, no expiry, and the key holds nothing.
    for body in [None, Some(json!({}))] {
        let r = match &body {
            Some(b) => admin.post("/v1/restricted_keys", b.clone()).await,
            None => admin.post_empty("/v1/restricted_keys").await,
        };
        assert_eq!(r.status, 200, "{body:?}: {}", r.text);
        assert_fields(&r.body, RESTRICTED_KEY_FIELDS, "minimal restricted key");
        assert_eq!(r.body["name"], "", "{}", r.text);
        assert_eq!(r.body["scopes"], json!([]), "{}", r.text);
        assert!(r.body["expires_at_ms"].is_null(), "{}", r.text);
        assert_secret(&r.body["key_secret"], "rk_");
        let n = native(&server, r.body["id"].as_str().unwrap()).await;
        assert_eq!((n["scopes"].clone(), n["kind"].clone()), (json!([]), json!("restricted")), "{n}");
    }
}

#[tokio::test]
async fn restricted_keys_refuse_invalid_scopes_and_store_nothing() {
    let server = TestServer::start().await;
    let admin = server.with_bearer(&server.admin.api_key);
    let before = key_count(&server).await;
    let scopes_cases = [
        (
            "unknown resource type",
            json!([{"resource_type": "RESOURCE_TYPE_PIZZA", "access_level": "ACCESS_LEVEL_READ"}]),
        ),
        (
            "unknown access level",
            json!([{"resource_type": "RESOURCE_TYPE_DEVBOXES", "access_level": "ACCESS_LEVEL_ADMIN"}]),
        ),
        ("duplicate type, same level", json!([entry("DEVBOXES", "READ"), entry("DEVBOXES", "READ")])),
        ("duplicate type, other level", json!([entry("DEVBOXES", "READ"), entry("DEVBOXES", "WRITE")])),
        (
            "duplicate with NONE",
            json!([entry("ACCOUNT", "NONE"), entry("BLUEPRINTS", "READ"), entry("ACCOUNT", "WRITE")]),
        ),
        ("a good entry and a bad one", json!([entry("DEVBOXES", "READ"), entry("PIZZA", "READ")])),
    ];
    for (what, scopes) in scopes_cases {
        let r = admin.post("/v1/restricted_keys", json!({"name": "bad", "scopes": scopes})).await;
        assert_error(&r, 400, "invalid_scopes", what);
    }
    let request_cases = [
        (
            "unknown field in a scope entry",
            json!({"scopes": [{"resource_type": "RESOURCE_TYPE_DEVBOXES", "access_level": "ACCESS_LEVEL_READ", "extra": 1}]}),
        ),
        ("unknown top-level field", json!({"name": "x", "scopes": [], "role": "admin"})),
    ];
    for (what, body) in request_cases {
        let r = admin.post("/v1/restricted_keys", body).await;
        assert_error(&r, 400, "invalid_request", what);
    }
    let r = admin.post("/v1/restricted_keys", json!({"scopes": [entry("DEVBOXES", "READ")], "expires_at_ms": 1})).await;
    assert_eq!(r.status, 400, "expiry in the past: {}", r.text);
    r.error_code();
    let r = admin.post("/v1/restricted_keys", json!({"scopes": "RESOURCE_TYPE_DEVBOXES"})).await;
    assert_eq!(r.status, 400, "scopes not a list: {}", r.text);
    r.error_code();
    assert_eq!(key_count(&server).await, before, "a refused create stores nothing");
}

#[tokio::test]
async fn only_credentials_with_account_write_may_create_keys() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let both = |api: &Api| {
        let api = api.clone();
        async move {
            [api.post("/v1/apikeys", json!({"name": "n"})).await, api.post("/v1/restricted_keys", json!({})).await]
        }
    };

    // 401: nothing, garbage, a tampered ak_ key, a revoked ak_ key.
    let (ak_id, ak) = create_ak(&admin, Some(json!({"name": "real"}))).await;
    let (revoked_id, revoked) = create_ak(&admin, Some(json!({"name": "revoked"}))).await;
    let rv = admin.post_empty(&format!("/v1/api-keys/{revoked_id}/revoke")).await;
    assert_eq!(rv.status, 200, "{}", rv.text);
    let tampered = flip_one_char(&ak, 10);
    assert!(tampered.starts_with("ak_") && tampered.len() == ak.len() && tampered != ak);
    let unauthenticated = [
        ("no credential", server.anonymous()),
        ("garbage", server.with_bearer("hello-there")),
        ("tampered ak_", server.with_bearer(&tampered)),
        ("revoked ak_", server.with_bearer(&revoked)),
    ];
    for (what, api) in unauthenticated {
        for r in both(&api).await {
            assert_error(&r, 401, "unauthorized", what);
        }
    }

    // 403: valid credentials without ACCOUNT write.
    let (_, rk_no_account_write) =
        create_rk(&admin, json!([entry("DEVBOXES", "WRITE"), entry("ACCOUNT", "READ")])).await;
    let (_, sandbox) = TestServer::create_key(&admin, json!({"name": "sandbox", "scopes": ["sandbox:*"]})).await;
    for (what, api) in [
        ("rk_ without ACCOUNT write", server.with_bearer(&rk_no_account_write)),
        ("sandbox:* key", server.with_bearer(&sandbox)),
    ] {
        for r in both(&api).await {
            assert_error(&r, 403, "insufficient_scope", what);
        }
    }

    // Allowed: the admin key (both header styles), an ak_ key, a native key
    // with org:write, an rk_ key with ACCOUNT write, an admin's session.
    let (native_id, native_key) =
        TestServer::create_key(&admin, json!({"name": "native", "scopes": ["org:write", "devboxes:*"]})).await;
    let (_, rk_account_write) = create_rk(&admin, json!([entry("ACCOUNT", "WRITE")])).await;
    let founder = signup(&server, "founder@example.com", "Founder Inc").await;
    let allowed = [
        ("admin key, X-API-Key", server.with_key(&server.admin.api_key)),
        ("admin key, Bearer", server.with_bearer(&server.admin.api_key)),
        ("ak_ key", server.with_bearer(&ak)),
        ("native org:write key", server.with_bearer(&native_key)),
        ("rk_ with ACCOUNT write", server.with_bearer(&rk_account_write)),
        ("admin session", server.with_bearer(&founder.token)),
    ];
    for (what, api) in allowed {
        let [a, r] = both(&api).await;
        assert_eq!(a.status, 200, "{what} /v1/apikeys: {}", a.text);
        assert_secret(&a.body["key_secret"], "ak_");
        assert_eq!(r.status, 200, "{what} /v1/restricted_keys: {}", r.text);
        assert_secret(&r.body["key_secret"], "rk_");
    }
    // The tampered key did not lock out the real one.
    assert_eq!(server.with_bearer(&ak).get("/v1/me").await.status, 200);
    assert_eq!(native(&server, &ak_id).await["status"], "active");

    // An ak_ key minted by the native key carries exactly its scopes.
    let (child, _) = create_ak(&server.with_bearer(&native_key), None).await;
    let n = native(&server, &child).await;
    assert_eq!(n["scopes"], native(&server, &native_id).await["scopes"], "{n}");
    assert_eq!(n["scopes"], json!(["org:write", "devboxes:*"]), "{n}");
}

#[tokio::test]
async fn restricted_keys_cannot_mint_more_than_they_hold() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (rk_id, rk) = create_rk(&admin, json!([entry("ACCOUNT", "WRITE"), entry("DEVBOXES", "READ")])).await;
    let rk_scopes = native(&server, &rk_id).await["scopes"].clone();
    assert_eq!(rk_scopes, json!(["org:read", "org:write", "devboxes:read"]));
    let minter = server.with_bearer(&rk);

    let before = key_count(&server).await;
    for (what, scopes) in [
        ("DEVBOXES WRITE", json!([entry("DEVBOXES", "WRITE")])),
        ("BLUEPRINTS READ", json!([entry("BLUEPRINTS", "READ")])),
        ("held plus one more", json!([entry("DEVBOXES", "READ"), entry("OBJECTS", "READ")])),
    ] {
        let r = minter.post("/v1/restricted_keys", json!({"name": "more", "scopes": scopes})).await;
        assert_error(&r, 403, "insufficient_scope", what);
    }
    assert_eq!(key_count(&server).await, before, "a refused mint stores nothing");

    let (narrow_id, _) = create_rk(&minter, json!([entry("DEVBOXES", "READ")])).await;
    assert_eq!(native(&server, &narrow_id).await["scopes"], json!(["devboxes:read"]));

    // The ak_ key of an rk_ key has the rk_ key's scopes, not `*`.
    let (ak_id, ak) = create_ak(&minter, Some(json!({"name": "from rk"}))).await;
    let n = native(&server, &ak_id).await;
    assert_eq!(n["scopes"], rk_scopes, "{n}");
    assert_eq!(n["kind"], "standard", "{n}");
    // ... so it cannot escalate either.
    let r = server.with_bearer(&ak).post("/v1/restricted_keys", json!({"scopes": [entry("DEVBOXES", "WRITE")]})).await;
    assert_error(&r, 403, "insufficient_scope", "ak_ of an rk_ minting DEVBOXES WRITE");
    let (_, grandchild) = create_ak(&server.with_bearer(&ak), None).await;
    let v = verify(&admin, json!({"key": grandchild, "scopes": ["devboxes:write"]})).await;
    assert_eq!(v["code"], "INSUFFICIENT_SCOPE", "{v}");
}

#[tokio::test]
async fn restricted_keys_verify_by_access_level_and_tenant() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (read_id, read) = create_rk(&admin, json!([entry("DEVBOXES", "READ")])).await;
    let (_, write) = create_rk(&admin, json!([entry("DEVBOXES", "WRITE")])).await;
    let (_, none) = create_rk(&admin, json!([entry("DEVBOXES", "NONE"), entry("BLUEPRINTS", "READ")])).await;
    let (_, empty) = create_rk(&admin, json!([])).await;

    let ok = verify(&admin, json!({"key": read, "scopes": ["devboxes:read"]})).await;
    assert_eq!((ok["valid"].as_bool(), ok["code"].as_str()), (Some(true), Some("VALID")), "{ok}");
    assert_eq!(ok["keyId"], read_id.as_str(), "{ok}");
    assert_eq!(ok["scopes"], json!(["devboxes:read"]), "{ok}");
    assert_eq!(ok["orgId"], server.admin.org_id.as_str(), "{ok}");

    let valid = (Some(true), "VALID".to_owned());
    let insufficient = (Some(false), "INSUFFICIENT_SCOPE".to_owned());
    assert_eq!(verdict(&admin, &write, &["devboxes:read"]).await, valid, "WRITE implies READ");
    assert_eq!(verdict(&admin, &write, &["devboxes:write"]).await, valid);
    assert_eq!(verdict(&admin, &none, &["devboxes:read"]).await, insufficient, "NONE grants nothing");
    assert_eq!(verdict(&admin, &none, &["blueprints:read"]).await, valid);
    assert_eq!(verdict(&admin, &read, &["devboxes:write"]).await, insufficient, "READ is not WRITE");
    assert_eq!(verdict(&admin, &read, &["blueprints:read"]).await, insufficient);
    assert_eq!(verdict(&admin, &empty, &[]).await, valid, "no scopes required");
    assert_eq!(verdict(&admin, &empty, &["devboxes:read"]).await, insufficient, "empty never means everything");

    // The catalog lists the Runloop resources, for any valid key.
    let r = server.with_bearer(&read).get("/v1/scopes").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed: BTreeSet<&str> =
        r.body["data"].as_array().unwrap().iter().filter_map(|s| s["scope"].as_str()).collect();
    for s in ["devboxes:read", "devboxes:write", "repo-connections:write", "objects:read"] {
        assert!(listed.contains(s), "{s} missing from {}", r.text);
    }

    // An ak_ key of another org is unknown here, valid there.
    let other = server.second_org("Globex", "gus@example.com");
    let other_admin = server.with_bearer(&other.api_key);
    let (_, foreign) = create_ak(&other_admin, Some(json!({"name": "globex"}))).await;
    let f = verify(&admin, json!({"key": foreign})).await;
    assert_eq!((f["valid"].as_bool(), f["code"].as_str()), (Some(false), Some("NOT_FOUND")), "{f}");
    assert!(f["keyId"].is_null() && f["orgId"].is_null(), "reveals nothing: {f}");
    let home = verify(&other_admin, json!({"key": foreign})).await;
    assert_eq!(home["code"], "VALID", "{home}");
    assert_eq!(home["orgId"], other.org_id.as_str(), "{home}");
}
