//! The RunTools key API (reference document 000): create, list, get,
//! update, revoke, rotate, delete.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::{TestServer, empty, ids, join_org};

fn keys_of(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn assert_key_shape(key: &str, env: &str) {
    let prefix = format!("lk_{env}_");
    assert!(key.starts_with(&prefix), "{key}");
    let rest = &key[prefix.len()..];
    assert_eq!(rest.len(), 38, "32 body + 6 check characters: {key}");
    assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
}

fn ms(ts: &Value) -> i64 {
    let t = time::OffsetDateTime::parse(ts.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[tokio::test]
async fn create_answers_exactly_as_documented() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let project = admin.post("/v1/projects", json!({"name": "prod"})).await;
    let project_id = project.body["data"]["id"].as_str().unwrap();
    let r = admin
        .post(
            "/v1/api-keys",
            json!({"name": "ci", "scopes": ["sandbox:create"], "expiresIn": "30d", "isTest": false, "projectId": project_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["message"], "Store this key securely. You will not be able to see it again.");
    let d = &r.body["data"];
    let documented: BTreeSet<String> = [
        "id",
        "name",
        "keyPrefix",
        "scopes",
        "projectId",
        "expiresAt",
        "lastUsedAt",
        "revokedAt",
        "createdAt",
        "status",
        "ownerUserId",
        "ownerDisplayName",
        "ownerEmail",
        "key",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let fields = keys_of(d);
    assert!(documented.is_subset(&fields), "missing: {:?}", documented.difference(&fields).collect::<Vec<_>>());
    assert!(d["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(d["name"], "ci");
    assert_eq!(d["scopes"], json!(["sandbox:create"]));
    assert_eq!(d["projectId"], project_id);
    assert_eq!(d["status"], "active");
    assert!(d["lastUsedAt"].is_null() && d["revokedAt"].is_null());
    assert_eq!(d["ownerUserId"], server.admin.user_id.as_str());
    assert_eq!(d["ownerEmail"], "ada@example.com");
    assert_eq!(d["ownerDisplayName"], "ada");
    let key = d["key"].as_str().unwrap();
    assert_key_shape(key, "live");
    assert_eq!(d["keyPrefix"], &key[..12]);
    assert_eq!(d["keyHint"], &key[key.len() - 4..]);
    let lifetime = ms(&d["expiresAt"]) - ms(&d["createdAt"]);
    assert_eq!(lifetime, 30 * 86_400_000);
}

#[tokio::test]
async fn expires_in_accepts_the_documented_durations() {
    let server = TestServer::start().await;
    let admin = server.admin();
    for (s, secs) in [("12h", 12 * 3600), ("30d", 30 * 86_400), ("90d", 90 * 86_400), ("1y", 365 * 86_400)] {
        let r = admin.post("/v1/api-keys", json!({"name": s, "expiresIn": s})).await;
        assert_eq!(r.status, 201, "{s}: {}", r.text);
        assert_eq!(ms(&r.body["data"]["expiresAt"]) - ms(&r.body["data"]["createdAt"]), secs * 1000, "{s}");
    }
    let none = admin.post("/v1/api-keys", json!({"name": "forever"})).await;
    assert!(none.body["data"]["expiresAt"].is_null());
    for bad in [
        json!({"name": "x", "expiresIn": "soon"}),
        json!({"name": "x", "expiresIn": "0d"}),
        json!({"name": "x", "expiresAt": "2001-01-01T00:00:00Z"}),
        json!({"name": "x", "expiresIn": "1d", "expiresAt": "2999-01-01T00:00:00Z"}),
    ] {
        let r = admin.post("/v1/api-keys", bad.clone()).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{bad}");
    }
}

#[tokio::test]
async fn is_test_mints_a_test_key() {
    let server = TestServer::start().await;
    let r = server.admin().post("/v1/api-keys", json!({"name": "t", "isTest": true})).await;
    assert_key_shape(r.body["data"]["key"].as_str().unwrap(), "test");
    assert_eq!(r.body["data"]["environment"], "test");
    let k = r.body["data"]["key"].as_str().unwrap();
    assert_eq!(server.with_key(k).get("/v1/me").await.status, 200);
}

#[tokio::test]
async fn list_get_and_rename_never_show_the_plaintext() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "one"})).await;
    let responses = vec![
        admin.get("/v1/api-keys").await,
        admin.get("/v1/api-keys?allOrg=true").await,
        admin.get(&format!("/v1/api-keys/{id}")).await,
        admin.patch(&format!("/v1/api-keys/{id}"), json!({"name": "renamed"})).await,
        admin.post_empty(&format!("/v1/api-keys/{id}/revoke")).await,
    ];
    for r in &responses {
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(!r.text.contains(&key[8..]), "plaintext leaked: {}", r.text);
        assert!(!r.text.contains("\"key\":"), "key field present: {}", r.text);
    }
    assert_eq!(responses[3].body["data"]["name"], "renamed");
    assert_eq!(admin.get(&format!("/v1/api-keys/{id}")).await.body["data"]["name"], "renamed");
}

#[tokio::test]
async fn list_filters_by_project_and_pages_with_a_cursor() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let p = admin.post("/v1/projects", json!({"name": "p"})).await.body["data"]["id"].as_str().unwrap().to_owned();
    let mut ids = BTreeSet::new();
    for i in 0..5 {
        let body = if i % 2 == 0 {
            json!({"name": format!("k{i}"), "projectId": p})
        } else {
            json!({"name": format!("k{i}")})
        };
        ids.insert(TestServer::create_key(&admin, body).await.0);
    }
    let in_project = admin.get(&format!("/v1/api-keys?projectId={p}")).await;
    assert_eq!(in_project.body["data"].as_array().unwrap().len(), 3);
    assert!(in_project.body["data"].as_array().unwrap().iter().all(|k| k["projectId"] == p.as_str()));

    // 6 keys (5 + the bootstrap key), pages of 4 then 2.
    let first = admin.get("/v1/api-keys?limit=4").await;
    let page1 = first.body["data"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 4);
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = admin.get(&format!("/v1/api-keys?limit=4&cursor={cursor}")).await;
    let page2 = second.body["data"].as_array().unwrap().clone();
    assert_eq!(page2.len(), 2);
    assert!(second.body["nextCursor"].is_null());
    let seen: BTreeSet<String> = page1.iter().chain(&page2).map(|k| k["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seen.len(), 6);
    assert!(ids.is_subset(&seen));
    for bad in ["limit=0", "limit=101", "limit=x", "allOrg=maybe", "surprise=1"] {
        let r = admin.get(&format!("/v1/api-keys?{bad}")).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{bad}");
    }
}

#[tokio::test]
async fn list_filters_by_status_environment_and_search() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org = server.admin.org_id.clone();
    let (live, _) = TestServer::create_key(&admin, json!({"name": "Deploy bot"})).await;
    let (test, test_key) = TestServer::create_key(&admin, json!({"name": "deploy-test", "isTest": true})).await;
    let (revoked, _) = TestServer::create_key(&admin, json!({"name": "old 100%_key"})).await;
    let (expiring, _) = TestServer::create_key(&admin, json!({"name": "short", "expiresIn": "1s"})).await;
    assert_eq!(admin.post_empty(&format!("/v1/api-keys/{revoked}/revoke")).await.status, 200);
    let bob = join_org(&server, &admin, &org, "bob@example.com", "member").await;
    let bob_api = server.with_session_in_org(&bob.token, &org);
    let (bobs, _) = TestServer::create_key(&bob_api, json!({"name": "bob deploys", "scopes": ["org:read"]})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let names = |r: &crate::common::Resp| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["data"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap().to_owned()).collect()
    };
    let list = |q: &str| {
        let (admin, path) = (admin.clone(), format!("/v1/api-keys?{q}"));
        async move { admin.get(&path).await }
    };
    assert_eq!(names(&list("environment=test").await), ["deploy-test"]);
    let expired = list("status=expired").await;
    assert_eq!(ids(&expired, "id"), [expiring.as_str()]);
    assert_eq!(expired.body["data"][0]["status"], "expired");
    assert_eq!(ids(&list("status=revoked").await, "id"), [revoked.as_str()]);
    assert_eq!(names(&list("status=disabled").await), Vec::<String>::new());
    let active = list("status=active&environment=live").await;
    assert!(ids(&active, "id").contains(&live) && !ids(&active, "id").contains(&test), "{}", active.text);
    assert!(active.body["data"].as_array().unwrap().iter().all(|k| k["status"] == "active"));
    // The name (any case, LIKE's wildcards literal), the shown form's start, the id.
    assert_eq!(names(&list("search=DEPLOY").await), ["deploy-test", "Deploy bot"]);
    assert_eq!(names(&list("search=100%25_").await), ["old 100%_key"]);
    assert_eq!(names(&list("search=%25").await), ["old 100%_key"]);
    assert_eq!(names(&list("search=lk_test_").await), ["deploy-test"]);
    let shown = format!("{}…{}", &test_key[..12], &test_key[test_key.len() - 4..]);
    let by_shown = list(&format!("search={}", urlencoding(&shown))).await;
    assert_eq!(ids(&by_shown, "id"), [test.as_str()]);
    assert_eq!(ids(&list(&format!("search={live}")).await, "id"), [live.as_str()]);
    // Another member's key only with allOrg, which a member may not use.
    assert_eq!(names(&list("search=deploy&allOrg=true").await), ["bob deploys", "deploy-test", "Deploy bot"]);
    let bobs_list = bob_api.get("/v1/api-keys?search=deploy").await;
    assert_eq!(ids(&bobs_list, "id"), [bobs.as_str()]);
    let refused = bob_api.get("/v1/api-keys?search=deploy&allOrg=true").await;
    assert_eq!((refused.status, refused.error_code()), (403, "forbidden"));
    // Filters keep the cursor's order.
    let first = list("search=deploy&allOrg=true&limit=2").await;
    assert_eq!(names(&first), ["bob deploys", "deploy-test"]);
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let rest = list(&format!("search=deploy&allOrg=true&limit=2&cursor={cursor}")).await;
    assert_eq!(names(&rest), ["Deploy bot"]);
    assert!(rest.body["nextCursor"].is_null());
    let too_long = "x".repeat(101);
    for bad in ["status=rotating", "status=ACTIVE", "environment=prod", &format!("search={too_long}")] {
        let r = list(bad).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{bad}: {}", r.text);
    }
    // An empty or blank search is no search.
    assert_eq!(ids(&list("search=%20").await, "id").len(), ids(&list("").await, "id").len());
}

/// `s` percent-encoded for a query string.
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn rotate_without_grace_replaces_the_key_at_once() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (old_id, old_key) = TestServer::create_key(
        &admin,
        json!({"name": "svc", "scopes": ["agent:run", "sandbox:read"], "expiresIn": "90d"}),
    )
    .await;
    let r = admin.post(&format!("/v1/api-keys/{old_id}/rotate"), json!({"name": "svc-2026-05"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["message"], "Store this key securely. You will not be able to see it again.");
    let d = &r.body["data"];
    let new_key = d["key"].as_str().unwrap();
    assert_key_shape(new_key, "live");
    assert_ne!(new_key, old_key);
    assert_eq!(d["name"], "svc-2026-05");
    assert_eq!(d["scopes"], json!(["agent:run", "sandbox:read"]));
    assert_eq!(d["rotatedFrom"], old_id.as_str());
    assert_eq!(ms(&d["expiresAt"]) - ms(&d["createdAt"]), 90 * 86_400_000, "same lifetime as the old key");

    assert_eq!(server.with_key(&old_key).get("/v1/me").await.status, 401);
    assert_eq!(server.with_key(new_key).get("/v1/me").await.status, 200);
    let old = admin.get(&format!("/v1/api-keys/{old_id}")).await;
    assert_eq!(old.body["data"]["status"], "revoked");
    assert_eq!(old.body["data"]["rotatedTo"], d["id"]);
    // A rotated key cannot be rotated again.
    let again = admin.post(&format!("/v1/api-keys/{old_id}/rotate"), empty()).await;
    assert_eq!((again.status, again.error_code()), (409, "conflict"));
}

#[tokio::test]
async fn rotate_with_grace_keeps_the_old_key_working_until_it_ends() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (old_id, old_key) = TestServer::create_key(&admin, json!({"name": "svc", "isTest": true})).await;
    let r = admin.post(&format!("/v1/api-keys/{old_id}/rotate"), json!({"gracePeriod": "2s"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new_key = r.body["data"]["key"].as_str().unwrap().to_owned();
    assert_key_shape(&new_key, "test");
    assert_eq!(r.body["data"]["name"], "svc");
    assert_eq!(server.with_key(&old_key).get("/v1/me").await.status, 200, "old key works during the grace period");
    assert_eq!(server.with_key(&new_key).get("/v1/me").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    assert_eq!(server.with_key(&old_key).get("/v1/me").await.status, 401, "old key refused after the grace period");
    assert_eq!(server.with_key(&new_key).get("/v1/me").await.status, 200);

    // An empty body is fine; a bad grace period is not.
    let (id2, _) = TestServer::create_key(&admin, json!({"name": "other"})).await;
    let bad = admin.post(&format!("/v1/api-keys/{id2}/rotate"), json!({"gracePeriod": "forever"})).await;
    assert_eq!((bad.status, bad.error_code()), (400, "invalid_request"));
    let too_long = admin.post(&format!("/v1/api-keys/{id2}/rotate"), json!({"gracePeriod": "1y"})).await;
    assert_eq!(too_long.status, 400);
    assert_eq!(admin.post_empty(&format!("/v1/api-keys/{id2}/rotate")).await.status, 201);
}

#[tokio::test]
async fn delete_removes_the_key_and_it_stops_working() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "bye"})).await;
    assert_eq!(server.with_key(&key).get("/v1/me").await.status, 200);
    let r = admin.delete(&format!("/v1/api-keys/{id}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(server.with_key(&key).get("/v1/me").await.status, 401);
    assert_eq!(admin.get(&format!("/v1/api-keys/{id}")).await.status, 404);
    assert_eq!(admin.delete(&format!("/v1/api-keys/{id}")).await.status, 404);
}

#[tokio::test]
async fn all_org_lists_every_key_of_the_org_only() {
    let server = TestServer::start().await;
    let other = server.second_org("Globex", "gus@example.com");
    let admin = server.admin();
    TestServer::create_key(&admin, json!({"name": "mine"})).await;
    TestServer::create_key(&server.with_key(&other.api_key), json!({"name": "theirs"})).await;
    let all = admin.get("/v1/api-keys?allOrg=true").await;
    let names: Vec<&str> = all.body["data"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"mine") && !names.contains(&"theirs"), "{names:?}");
}
