//! `POST /v1/keys/verify`, rate limits, credits, usage counts, forward auth
//! without a proxy, and failed-auth protection.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, eventually};

/// The verify answer's `data`, after checking it is exactly the documented
/// `VerifyView`: every field present, none extra, no field renamed.
async fn verify(api: &crate::common::Api, body: Value) -> Value {
    let r = api.post("/v1/keys/verify", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers.get("content-type").map(|v| v.to_str().unwrap()), Some("application/json"));
    assert!(!crate::common::request_id(&r).is_empty(), "the hot path has request ids too");
    let data = r.body["data"].clone();
    let typed: latchkey_api_types::VerifyView = serde_json::from_value(data.clone()).unwrap();
    assert_eq!(serde_json::to_value(typed).unwrap(), data, "the answer is not VerifyView's JSON");
    data
}

#[tokio::test]
async fn verify_answers_every_code() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let project =
        admin.post("/v1/projects", json!({"name": "p"})).await.body["data"]["id"].as_str().unwrap().to_owned();
    let (_, valid) = TestServer::create_key(
        &admin,
        json!({"name": "v", "scopes": ["sandbox:*"], "projectId": project, "isTest": true}),
    )
    .await;
    let (revoked_id, revoked) = TestServer::create_key(&admin, json!({"name": "r"})).await;
    admin.post_empty(&format!("/v1/api-keys/{revoked_id}/revoke")).await;
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(800))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, expiring) = TestServer::create_key(&admin, json!({"name": "e", "expiresAt": soon})).await;
    let (_, limited) = TestServer::create_key(&admin, json!({"name": "l", "rateLimitPerMinute": 1})).await;
    let (_, credited) = TestServer::create_key(&admin, json!({"name": "c", "remaining": 1})).await;
    let other = server.second_org("Globex", "gus@example.com");
    let (_, foreign) = TestServer::create_key(&server.with_key(&other.api_key), json!({"name": "f"})).await;
    let mut tampered = valid.clone().into_bytes();
    tampered[10] = if tampered[10] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;

    let ok = verify(&admin, json!({"key": valid, "scopes": ["sandbox:create"], "projectId": project})).await;
    assert_eq!(ok["valid"], true);
    assert_eq!(ok["code"], "VALID");
    assert_eq!(ok["orgId"], server.admin.org_id.as_str());
    assert_eq!(ok["projectId"], project.as_str());
    assert_eq!(ok["environment"], "test");
    assert_eq!(ok["scopes"], json!(["sandbox:*"]));
    assert_eq!(ok["ownerUserId"], server.admin.user_id.as_str());
    assert!(ok["keyId"].as_str().unwrap().starts_with("key_"));
    assert!(ok["ratelimit"].is_null());
    for field in [
        "valid",
        "code",
        "keyId",
        "orgId",
        "projectId",
        "environment",
        "scopes",
        "ownerUserId",
        "expiresAt",
        "ratelimit",
    ] {
        assert!(ok.get(field).is_some(), "{field} missing");
    }

    let cases = [
        (json!({"key": "not-a-key"}), "MALFORMED"),
        (json!({"key": tampered}), "MALFORMED"),
        (json!({"key": foreign}), "NOT_FOUND"),
        (json!({"key": revoked}), "REVOKED"),
        (json!({"key": expiring}), "EXPIRED"),
        (json!({"key": valid, "scopes": ["agent:run"]}), "INSUFFICIENT_SCOPE"),
        (json!({"key": valid, "projectId": "prj_01aaaaaaaaaaaaaaaaaaaaaaaa"}), "INSUFFICIENT_SCOPE"),
    ];
    for (body, code) in cases {
        let d = verify(&admin, body.clone()).await;
        assert_eq!((d["valid"].as_bool(), d["code"].as_str()), (Some(false), Some(code)), "{body}");
    }
    // Another org's key reveals nothing.
    let f = verify(&admin, json!({"key": foreign})).await;
    assert!(f["keyId"].is_null() && f["orgId"].is_null());

    assert_eq!(verify(&admin, json!({"key": limited})).await["code"], "VALID");
    let l = verify(&admin, json!({"key": limited})).await;
    assert_eq!(l["code"], "RATE_LIMITED");
    assert_eq!(l["ratelimit"]["limit"], 1);
    assert_eq!(l["ratelimit"]["remaining"], 0);
    assert!(l["ratelimit"]["reset"].as_u64().unwrap() >= 1);

    let c = verify(&admin, json!({"key": credited})).await;
    assert_eq!((c["code"].as_str(), c["remaining"].as_i64()), (Some("VALID"), Some(0)));
    assert_eq!(verify(&admin, json!({"key": credited})).await["code"], "USAGE_EXCEEDED");
}

#[tokio::test]
async fn verifying_needs_keys_verify_and_well_formed_input() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (_, verifier) = TestServer::create_key(&admin, json!({"name": "svc", "scopes": ["keys:verify"]})).await;
    let (_, sandbox) = TestServer::create_key(&admin, json!({"name": "s", "scopes": ["sandbox:*"]})).await;
    let d = verify(&server.with_key(&verifier), json!({"key": sandbox})).await;
    assert_eq!(d["code"], "VALID");
    let r = server.with_key(&sandbox).post("/v1/keys/verify", json!({"key": verifier})).await;
    assert_eq!((r.status, r.error_code()), (403, "insufficient_scope"));
    let r = server.anonymous().post("/v1/keys/verify", json!({"key": sandbox})).await;
    assert_eq!(r.status, 401);
    let r = admin.post("/v1/keys/verify", json!({"key": sandbox, "scopes": ["not a scope"]})).await;
    assert_eq!((r.status, r.error_code()), (400, "invalid_scopes"));
    let r = admin.post("/v1/keys/verify", json!({"key": sandbox, "extra": 1})).await;
    assert_eq!(r.status, 400);
    let r = admin.post("/v1/keys/verify", json!({"key": sandbox, "cost": -1})).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn a_revoked_key_fails_verify_on_the_very_next_call() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "k"})).await;
    assert_eq!(verify(&admin, json!({"key": key})).await["code"], "VALID");
    admin.post_empty(&format!("/v1/api-keys/{id}/revoke")).await;
    assert_eq!(verify(&admin, json!({"key": key})).await["code"], "REVOKED");
    // Rotation and deletion take effect at once too.
    let (id2, key2) = TestServer::create_key(&admin, json!({"name": "k2"})).await;
    assert_eq!(verify(&admin, json!({"key": key2})).await["code"], "VALID");
    let rotated = admin.post(&format!("/v1/api-keys/{id2}/rotate"), json!({})).await;
    assert_eq!(verify(&admin, json!({"key": key2})).await["code"], "REVOKED");
    let key3 = rotated.body["data"]["key"].as_str().unwrap().to_owned();
    let id3 = rotated.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(verify(&admin, json!({"key": key3})).await["code"], "VALID");
    admin.delete(&format!("/v1/api-keys/{id3}")).await;
    assert_eq!(verify(&admin, json!({"key": key3})).await["code"], "NOT_FOUND");
}

/// Another server process on the same storage (two processes on one SQLite
/// data directory, or a node whose `NOTIFY` never arrived) is not told of a
/// change made here; it reads the key change log each second, so a
/// revocation and a deletion made here are refused there within seconds,
/// not after the 5-minute cache TTL.
#[tokio::test]
async fn a_change_made_by_another_process_shows_within_seconds() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let other = server.node(2, &[]);
    let there = other.with_key(&server.admin.api_key);
    let (revoked_id, revoked) = TestServer::create_key(&admin, json!({"name": "r"})).await;
    let (deleted_id, deleted) = TestServer::create_key(&admin, json!({"name": "d"})).await;
    // Cached by the other process.
    assert_eq!(verify(&there, json!({"key": revoked})).await["code"], "VALID");
    assert_eq!(verify(&there, json!({"key": deleted})).await["code"], "VALID");

    let started = std::time::Instant::now();
    admin.post_empty(&format!("/v1/api-keys/{revoked_id}/revoke")).await;
    admin.delete(&format!("/v1/api-keys/{deleted_id}")).await;
    let seen = eventually(Duration::from_secs(10), || async {
        verify(&there, json!({"key": revoked})).await["code"] == "REVOKED"
            && verify(&there, json!({"key": deleted})).await["code"] == "NOT_FOUND"
    })
    .await;
    assert!(seen, "the other process still accepts the keys after {:?}", started.elapsed());
    eprintln!("the other process refused both keys after {:?}", started.elapsed());
}

#[tokio::test]
async fn credits_are_exact_under_concurrency() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "metered", "remaining": 100})).await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let admin = admin.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut valid = 0;
            for _ in 0..3 {
                let d = verify(&admin, json!({"key": key})).await;
                match d["code"].as_str().unwrap() {
                    "VALID" => valid += 1,
                    "USAGE_EXCEEDED" => {}
                    other => panic!("unexpected {other}"),
                }
            }
            valid
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 100, "exactly the credits, no more, no less");
    let k = admin.get(&format!("/v1/api-keys/{id}")).await;
    assert_eq!(k.body["data"]["remaining"], 0);

    // `cost` spends several at once; topping up through PATCH works at once.
    admin.patch(&format!("/v1/api-keys/{id}"), json!({"remaining": 10})).await;
    let d = verify(&admin, json!({"key": key, "cost": 7})).await;
    assert_eq!((d["code"].as_str(), d["remaining"].as_i64()), (Some("VALID"), Some(3)));
    assert_eq!(verify(&admin, json!({"key": key, "cost": 4})).await["code"], "USAGE_EXCEEDED");
    assert_eq!(verify(&admin, json!({"key": key, "cost": 3})).await["remaining"], 0);
}

#[tokio::test]
async fn rate_limits_apply_to_every_authenticated_request_with_headers() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "tight", "rateLimitPerMinute": 3})).await;
    let api = server.with_key(&key);
    for expected_remaining in ["2", "1", "0"] {
        let r = api.get("/v1/me").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["ratelimit-limit"], "3");
        assert_eq!(r.headers["ratelimit-remaining"], expected_remaining);
        assert!(r.headers.contains_key("ratelimit-reset"));
    }
    let r = api.get("/v1/me").await;
    assert_eq!((r.status, r.error_code()), (429, "rate_limited"));
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "one token returns after 20 s: {retry}");
    assert_eq!(r.headers["ratelimit-remaining"], "0");

    // Raising the limit takes effect at once; clearing it removes the headers.
    let p = admin.patch(&format!("/v1/api-keys/{id}"), json!({"rateLimitPerMinute": 100})).await;
    assert_eq!(p.body["data"]["rateLimitPerMinute"], 100);
    assert_eq!(api.get("/v1/me").await.status, 200);
    admin.patch(&format!("/v1/api-keys/{id}"), json!({"rateLimitPerMinute": null})).await;
    let r = api.get("/v1/me").await;
    assert_eq!(r.status, 200);
    assert!(!r.headers.contains_key("ratelimit-limit"));

    // Per-day limits refuse too, and bad limits are refused at create.
    let (_, daily) = TestServer::create_key(&admin, json!({"name": "d", "rateLimitPerDay": 1})).await;
    assert_eq!(server.with_key(&daily).get("/v1/me").await.status, 200);
    assert_eq!(server.with_key(&daily).get("/v1/me").await.status, 429);
    for bad in [
        json!({"name": "x", "rateLimitPerMinute": 0}),
        json!({"name": "x", "rateLimitPerDay": -5}),
        json!({"name": "x", "remaining": -1}),
        json!({"name": "x", "refill": {"amount": 5, "interval": "daily"}}),
        json!({"name": "x", "remaining": 5, "refill": {"amount": 5, "interval": "hourly"}}),
    ] {
        assert_eq!(admin.post("/v1/api-keys", bad.clone()).await.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn usage_counts_verifications_by_day_and_outcome() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "counted", "scopes": ["sandbox:read"]})).await;
    for _ in 0..3 {
        verify(&admin, json!({"key": key})).await;
    }
    verify(&admin, json!({"key": key, "scopes": ["agent:run"]})).await;
    server.with_key(&key).get("/v1/me").await;
    let path = format!("/v1/api-keys/{id}/usage");
    let counted = eventually(Duration::from_secs(6), || {
        let admin = admin.clone();
        let path = path.clone();
        async move {
            let r = admin.get(&path).await;
            r.body["data"].as_array().is_some_and(|days| days.len() == 1 && days[0]["total"] == 5)
        }
    })
    .await;
    assert!(counted, "usage not written behind");
    let r = admin.get(&path).await;
    let today = &r.body["data"][0];
    assert_eq!(today["counts"]["VALID"], 4);
    assert_eq!(today["counts"]["INSUFFICIENT_SCOPE"], 1);
    assert_eq!(today["date"].as_str().unwrap().len(), 10);
    assert_eq!(admin.get(&format!("{path}?days=0")).await.status, 400);
    let other = server.second_org("Globex", "gus@example.com");
    assert_eq!(server.with_key(&other.api_key).get(&path).await.status, 404);
}

#[tokio::test]
async fn forward_auth_answers_with_identity_headers() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "fa", "scopes": ["sandbox:create"]})).await;
    let check = |k: Option<&str>, scope: Option<&str>| {
        let mut req = reqwest::Client::new().get(format!("{}/v1/auth/check", server.url));
        if let Some(k) = k {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        if let Some(s) = scope {
            req = req.header("X-Latchkey-Scope", s);
        }
        req.send()
    };
    let ok = check(Some(&key), Some("sandbox:create")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-latchkey-org-id"], server.admin.org_id.as_str());
    assert_eq!(ok.headers()["x-latchkey-key-id"], id.as_str());
    assert_eq!(ok.headers()["x-latchkey-environment"], "live");
    assert_eq!(check(Some(&key), Some("agent:run")).await.unwrap().status(), 403);
    assert_eq!(check(None, None).await.unwrap().status(), 401);
    let unknown = check(Some("lk_live_nope"), None).await.unwrap();
    assert_eq!(unknown.status(), 401);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn forward_auth_route_map_comes_from_the_config_file() {
    let mut server = TestServer::start().await;
    std::fs::write(
        server.data_dir().join("latchkey.toml"),
        "[[auth_check.routes]]\nmethod = \"POST\"\npath_prefix = \"/v1/sandboxes\"\nscope = \"sandbox:create\"\n\n\
         [[auth_check.routes]]\npath_prefix = \"/v1/agents\"\nscope = \"agent:run\"\n",
    )
    .unwrap();
    server.restart();
    let (_, key) = TestServer::create_key(&server.admin(), json!({"name": "s", "scopes": ["sandbox:create"]})).await;
    let check = |method: &str, uri: &str| {
        reqwest::Client::new()
            .get(format!("{}/v1/auth/check", server.url))
            .header("X-API-Key", &key)
            .header("X-Forwarded-Method", method)
            .header("X-Forwarded-Uri", uri)
            .send()
    };
    assert_eq!(check("POST", "/v1/sandboxes?x=1").await.unwrap().status(), 200);
    assert_eq!(check("POST", "/v1/agents/run").await.unwrap().status(), 403);
    assert_eq!(check("GET", "/v1/other").await.unwrap().status(), 200, "no rule: any valid key");
    assert_eq!(check("POST", "/v1/%61gents//run").await.unwrap().status(), 403, "encoded paths are normalized");
    // A scope header smuggled by the client adds a requirement, never lifts one.
    let smuggled = reqwest::Client::new()
        .get(format!("{}/v1/auth/check", server.url))
        .header("X-API-Key", &key)
        .header("X-Latchkey-Scope", "sandbox:create")
        .header("X-Original-Method", "POST")
        .header("X-Original-URI", "/v1/agents/run")
        .send()
        .await
        .unwrap();
    assert_eq!(smuggled.status(), 403);
}

#[tokio::test]
async fn a_broken_config_file_stops_the_server_with_a_clear_error() {
    let server = TestServer::start().await;
    std::fs::write(
        server.data_dir().join("latchkey.toml"),
        "[[auth_check.routes]]\npath_prefix = \"/x\"\nscope = \"warp:*\"\n",
    )
    .unwrap();
    let out =
        crate::common::cli(&["serve", "--listen", "127.0.0.1:0", "--data-dir", server.data_dir().to_str().unwrap()])
            .output()
            .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope `warp:*`"));
}

#[tokio::test]
async fn repeated_bad_keys_from_one_address_are_slowed_but_valid_callers_are_not() {
    let server = TestServer::start().await;
    let bogus = server.with_key("lk_live_definitely_not_a_real_key_at_all_000");
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(bogus.get("/v1/me").await.status);
    }
    assert_eq!(statuses[0], 401);
    assert!(statuses.iter().filter(|&&s| s == 401).count() <= 31, "{statuses:?}");
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    let r = bogus.get("/v1/me").await;
    assert_eq!(r.error_code(), "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    // The admin, from the same address, is unaffected.
    assert_eq!(server.admin().get("/v1/me").await.status, 200);
}
