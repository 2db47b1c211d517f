//! `POST /v1/api-keys/batch` (all or nothing, the checks of single
//! creation), `latchkey auth keys create --count`, and the durability of
//! group-committed creations across `kill -9`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::cli::User;
use crate::common::{Api, Resp, TestServer, join_org, signup};

const BATCH: &str = "/v1/api-keys/batch";

/// Whether `admin` (holding `keys:verify`) finds `key` VALID.
async fn valid(admin: &Api, key: &str) -> bool {
    let r = admin.post("/v1/keys/verify", json!({"key": key})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"]["valid"] == true && r.body["data"]["code"] == "VALID"
}

/// The organization's keys (ids) and its `api_key.create` events (target
/// ids), at most 100 of each: what a refused batch must leave unchanged.
async fn stored(admin: &Api) -> (BTreeSet<String>, BTreeSet<String>) {
    let keys = admin.get("/v1/api-keys?allOrg=true&limit=100").await;
    assert_eq!(keys.status, 200, "{}", keys.text);
    let events = admin.get("/v1/audit-events?action=api_key.create&limit=100").await;
    assert_eq!(events.status, 200, "{}", events.text);
    let of = |r: &Resp, f: &dyn Fn(&Value) -> Option<String>| {
        r.body["data"].as_array().unwrap().iter().filter_map(f).collect::<BTreeSet<_>>()
    };
    (
        of(&keys, &|k| k["id"].as_str().map(str::to_owned)),
        of(&events, &|e| e["target"]["id"].as_str().map(str::to_owned)),
    )
}

/// Asserts `r` refuses item `index` with `status` and `code`.
fn refused_at(r: &Resp, status: u16, code: &str, index: usize) {
    assert_eq!((r.status, r.error_code()), (status, code), "{}", r.text);
    assert_eq!(r.body["error"]["index"], index, "{}", r.text);
    let prefix = format!("keys[{index}]: ");
    assert!(r.body["error"]["message"].as_str().unwrap().starts_with(&prefix), "{}", r.text);
}

#[tokio::test]
async fn batch_creates_every_key_in_order_each_shown_once_and_valid() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let project = admin.post("/v1/projects", json!({"name": "prod"})).await.body["data"]["id"].clone();
    let (keys_before, events_before) = stored(&admin).await;
    let r = admin
        .post(
            BATCH,
            json!({"keys": [
                {"name": "a", "scopes": ["sandbox:read"]},
                {"name": "b", "scopes": ["sandbox:create"], "projectId": project, "isTest": true},
                {"name": "c", "expiresIn": "30d", "remaining": 5, "refill": {"amount": 5, "interval": "daily"}},
                {"name": "d", "owner": "org"},
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["message"], "Store this key securely. You will not be able to see it again.");
    let data = r.body["data"].as_array().unwrap();
    let names: Vec<&str> = data.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(data[1]["projectId"], project);
    assert!(data[1]["key"].as_str().unwrap().starts_with("lk_test_"), "{}", data[1]);
    assert_eq!(data[2]["remaining"], 5);
    assert_eq!(data[3]["owner"], "org");
    assert!(data[3]["ownerUserId"].is_null());
    // Each item is what single creation answers, field for field.
    let single = admin.post("/v1/api-keys", json!({"name": "single"})).await;
    let fields = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(fields(&data[0]), fields(&single.body["data"]));
    let ids: BTreeSet<String> = data.iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 4);
    for k in data {
        assert!(valid(&admin, k["key"].as_str().unwrap()).await, "{k}");
        // Shown once: reading it back never shows the plaintext.
        let got = admin.get(&format!("/v1/api-keys/{}", k["id"].as_str().unwrap())).await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert!(got.body["data"].get("key").is_none_or(Value::is_null), "{}", got.text);
    }
    // One audit event per key.
    let (keys_after, events_after) = stored(&admin).await;
    let single_id = single.body["data"]["id"].as_str().unwrap().to_owned();
    let new_keys: BTreeSet<String> =
        keys_after.difference(&keys_before).filter(|id| **id != single_id).cloned().collect();
    let new_events: BTreeSet<String> =
        events_after.difference(&events_before).filter(|id| **id != single_id).cloned().collect();
    assert_eq!(new_keys, ids);
    assert_eq!(new_events, ids);
}

#[tokio::test]
async fn one_refused_item_refuses_the_whole_batch_and_stores_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin();
    TestServer::create_key(&admin, json!({"name": "existing"})).await;
    let before = stored(&admin).await;
    let ok = json!({"name": "fine", "scopes": ["sandbox:read"]});
    let cases = [
        (json!({"name": "x", "scopes": ["nope:nope"]}), 400, "invalid_scopes"),
        (json!({"name": "  "}), 400, "invalid_request"),
        (json!({"name": "x", "refill": {"amount": 5, "interval": "daily"}}), 400, "invalid_request"),
        (json!({"name": "x", "expiresIn": "30d", "expiresAt": "2999-01-01T00:00:00Z"}), 400, "invalid_request"),
        (json!({"name": "x", "projectId": "prj_doesnotexist"}), 404, "not_found"),
        (json!({"name": "x", "scopes": ["secret:resolve"]}), 403, "insufficient_scope"),
    ];
    for (bad, status, code) in cases {
        for index in [0, 2] {
            let mut keys = vec![ok.clone(), ok.clone(), ok.clone()];
            keys[index] = bad.clone();
            let r = admin.post(BATCH, json!({ "keys": keys })).await;
            refused_at(&r, status, code, index);
            assert_eq!(stored(&admin).await, before, "nothing stored after {bad}");
        }
    }
    // A malformed item is refused by the body's parser: nothing stored either.
    let r = admin.post(BATCH, json!({"keys": [ok, {"name": "x", "colour": "red"}]})).await;
    assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{}", r.text);
    assert_eq!(stored(&admin).await, before);
}

#[tokio::test]
async fn a_batch_holds_one_to_a_thousand_keys() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let item = |i: usize| json!({"name": format!("k{i}"), "scopes": ["sandbox:read"]});
    for n in [0, 1001] {
        let r = admin.post(BATCH, json!({"keys": (0..n).map(item).collect::<Vec<_>>()})).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{n}: {}", r.text);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("1 to 1000"), "{}", r.text);
    }
    assert_eq!(stored(&admin).await.0.len(), 1, "only the admin's own key");
    // 1,000 keys with long names fit the body limit, and all are stored.
    let long =
        |i: usize| json!({"name": format!("{i:04}-{}", "n".repeat(250)), "scopes": ["sandbox:read", "agent:run"]});
    let body = json!({"keys": (0..1000).map(long).collect::<Vec<_>>()});
    assert!(body.to_string().len() > 64 * 1024);
    let r = admin.post(BATCH, body).await;
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(500)]);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1000);
    let ids: BTreeSet<&str> = data.iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1000);
    for i in [0, 499, 999] {
        assert!(data[i]["name"].as_str().unwrap().starts_with(&format!("{i:04}-")));
        assert!(valid(&admin, data[i]["key"].as_str().unwrap()).await);
    }
    // A body over the batch limit (1 MiB) is refused before it is parsed.
    let huge = format!("{{\"keys\":[{{\"name\":\"{}\"}}]}}", "x".repeat(1024 * 1024));
    let r = admin.post_raw(BATCH, huge).await;
    assert_eq!((r.status, r.error_code()), (413, "payload_too_large"), "{}", r.text);
    // Single creation keeps its 64 KiB limit.
    let r = admin.post_raw("/v1/api-keys", format!("{{\"name\":\"{}\"}}", "x".repeat(70 * 1024))).await;
    assert_eq!((r.status, r.error_code()), (413, "payload_too_large"), "{}", r.text);
}

#[tokio::test]
async fn a_members_batch_grants_no_more_than_single_creation() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org = server.admin.org_id.clone();
    let bob = join_org(&server, &admin, &org, "bob@example.com", "member").await;
    let bob_api = server.with_session_in_org(&bob.token, &org);
    let before = stored(&admin).await;
    let ok = json!({"name": "mine", "scopes": ["sandbox:read"]});
    // Beyond a member's role, an organization-owned key: refused as single creation refuses them.
    for (bad, status, code) in [
        (json!({"name": "x", "scopes": ["org:write"]}), 403, "insufficient_scope"),
        (json!({"name": "x", "scopes": ["*"]}), 403, "insufficient_scope"),
        (json!({"name": "x"}), 403, "insufficient_scope"),
        (json!({"name": "x", "scopes": ["sandbox:read"], "owner": "org"}), 403, "forbidden"),
    ] {
        let single = bob_api.post("/v1/api-keys", bad.clone()).await;
        assert_eq!((single.status, single.error_code()), (status, code), "{}", single.text);
        let r = bob_api.post(BATCH, json!({"keys": [ok.clone(), bad]})).await;
        refused_at(&r, status, code, 1);
        assert_eq!(
            r.body["error"]["message"],
            format!("keys[1]: {}", single.body["error"]["message"].as_str().unwrap())
        );
    }
    assert_eq!(stored(&admin).await, before);
    // A key holding only `sandbox:read` grants nothing broader, and one
    // without `org:write` creates nothing at all.
    let (_, narrow) =
        TestServer::create_key(&admin, json!({"name": "narrow", "scopes": ["sandbox:read", "org:write"]})).await;
    let narrow_api = server.with_key(&narrow);
    let r = narrow_api.post(BATCH, json!({"keys": [ok.clone(), {"name": "y", "scopes": ["sandbox:create"]}]})).await;
    refused_at(&r, 403, "insufficient_scope", 1);
    let (_, reader) = TestServer::create_key(&admin, json!({"name": "reader", "scopes": ["org:read"]})).await;
    let r = server.with_key(&reader).post(BATCH, json!({"keys": [{"name": "z", "scopes": ["org:read"]}]})).await;
    assert_eq!((r.status, r.error_code()), (403, "insufficient_scope"), "{}", r.text);
    assert!(r.body["error"].get("index").is_none(), "{}", r.text);
    // What a member may grant, a member's batch creates, owned by the member.
    let r = bob_api.post(BATCH, json!({"keys": [ok.clone(), ok]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    for k in r.body["data"].as_array().unwrap() {
        assert_eq!(k["ownerUserId"], bob.user_id.as_str());
        assert!(valid(&admin, k["key"].as_str().unwrap()).await);
    }
}

#[tokio::test]
async fn another_organizations_project_refuses_the_batch() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let other = server.second_org("Globex", "hank@example.com");
    let theirs = server.with_key(&other.api_key).post("/v1/projects", json!({"name": "theirs"})).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    let theirs = theirs.body["data"]["id"].as_str().unwrap().to_owned();
    let ours = admin.post("/v1/projects", json!({"name": "ours"})).await.body["data"]["id"].clone();
    let before = stored(&admin).await;
    let r = admin
        .post(BATCH, json!({"keys": [{"name": "a", "projectId": ours}, {"name": "b", "projectId": theirs}]}))
        .await;
    refused_at(&r, 404, "not_found", 1);
    assert_eq!(r.body["error"]["message"], "keys[1]: project not found");
    assert_eq!(stored(&admin).await, before);
    let listed = server.with_key(&other.api_key).get("/v1/api-keys?allOrg=true").await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1, "{}", listed.text);
}

#[tokio::test]
async fn every_acknowledged_key_survives_kill_9() {
    let mut server = TestServer::start().await;
    let admin = server.admin();
    // Concurrent single creations (sharing group commits) and batches.
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let admin = admin.clone();
        tasks.spawn(async move {
            let mut keys = Vec::new();
            for i in 0..20 {
                if i % 10 == 9 {
                    let items: Vec<Value> = (0..10).map(|j| json!({"name": format!("b{t}-{i}-{j}")})).collect();
                    let r = admin.post(BATCH, json!({ "keys": items })).await;
                    assert_eq!(r.status, 201, "{}", r.text);
                    keys.extend(
                        r.body["data"].as_array().unwrap().iter().map(|k| k["key"].as_str().unwrap().to_owned()),
                    );
                } else {
                    keys.push(TestServer::create_key(&admin, json!({"name": format!("s{t}-{i}")})).await.1);
                }
            }
            keys
        });
    }
    let mut acknowledged = Vec::new();
    while let Some(keys) = tasks.join_next().await {
        acknowledged.extend(keys.unwrap());
    }
    assert_eq!(acknowledged.len(), 8 * (18 + 2 * 10));
    server.kill9();
    server.restart();
    let admin = server.admin();
    for key in &acknowledged {
        assert!(valid(&admin, key).await, "an acknowledged key was lost");
    }
}

#[tokio::test]
async fn cli_creates_many_keys_with_count() {
    let server = TestServer::start().await;
    signup(&server, "ana@example.com", "Acme").await;
    let u = User::new(&server.url);
    u.login("ana@example.com").ok();
    let created = u.run(&["auth", "keys", "create", "ci", "--count", "3", "--scope", "sandbox:read", "--json"]).json();
    let keys = created.as_array().unwrap();
    assert_eq!(keys.len(), 3, "{created}");
    let plain: BTreeSet<&str> = keys.iter().map(|k| k["key"].as_str().unwrap()).collect();
    assert_eq!(plain.len(), 3);
    for k in keys {
        assert_eq!(k["name"], "ci");
        assert_eq!(k["scopes"], json!(["sandbox:read"]));
    }
    // Ana's keys belong to her own organization; verify them with one of hers.
    let mine = u.run(&["auth", "keys", "create", "verifier", "--scope", "keys:verify", "--json"]).json();
    let verifier = server.with_key(mine["key"].as_str().unwrap());
    for k in plain {
        assert!(valid(&verifier, k).await, "{k}");
    }
    // People get a table and the shown-once warning.
    let human = u.run(&["auth", "keys", "create", "ci", "--count", "2"]);
    assert!(human.ok().contains("Created 2 API keys") && human.stdout.contains("shown once"), "{human:?}");
    assert_eq!(human.stdout.matches("lk_live_").count(), 2, "{human:?}");
    // More than 1,000 is refused before anything is sent.
    let over = u.run(&["auth", "keys", "create", "ci", "--count", "1001", "--json"]);
    assert_ne!(over.code, 0, "{over:?}");
    assert!(over.stderr.contains("1001"), "{over:?}");
}
