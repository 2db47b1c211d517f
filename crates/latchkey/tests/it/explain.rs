//! "What can this key do" (issue 27, point 3): `POST /v1/keys/explain`.
//! A table of keys (role ceiling, project binding, expired, revoked,
//! rotated in grace, leaked, networks, a key policy broken), each answer
//! held against what verify answers for the same request; that explaining
//! counts and spends nothing (no rate-limit token, no credit, no usage
//! count, no `lastUsedAt`); who may ask (another organization, a caller
//! without `keys:verify`, a member by id) and bad bodies; the CLI. In the
//! PostgreSQL pass the server has Redis, so the shared limiter's windows
//! are the ones read.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::User;
use crate::common::{Api, Resp, TestServer, eventually, join_org, pg_base};

/// The server: in the PostgreSQL pass, with Redis's shared limits.
async fn server() -> TestServer {
    match pg_base() {
        Some(_) => {
            let redis =
                std::env::var("LATCHKEY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
            TestServer::start_with(&["--redis-url", &redis]).await
        }
        None => TestServer::start().await,
    }
}

/// `POST /v1/keys/explain` with `body`, expecting 200; the explanation.
async fn explain(api: &Api, body: Value) -> Value {
    let r = api.post("/v1/keys/explain", body.clone()).await;
    assert_eq!(r.status, 200, "{body}: {}", r.text);
    r.body["data"].clone()
}

/// `POST /v1/keys/verify` with `body`, expecting 200; the verdict.
async fn verify(api: &Api, body: Value) -> Value {
    let r = api.post("/v1/keys/verify", body.clone()).await;
    assert_eq!(r.status, 200, "{body}: {}", r.text);
    r.body["data"].clone()
}

/// The permission `name` of an explanation: (allowed, reason).
fn permission(e: &Value, name: &str) -> (bool, Value) {
    let p = e["permissions"].as_array().unwrap().iter().find(|p| p["permission"] == name);
    let p = p.unwrap_or_else(|| panic!("no {name} in {e}"));
    (p["allowed"].as_bool().unwrap(), p["reason"].clone())
}

/// The reasons of every permission the key is refused, deduplicated.
fn reasons(e: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        e["permissions"].as_array().unwrap().iter().filter_map(|p| p["reason"].as_str().map(str::to_owned)).collect();
    out.sort();
    out.dedup();
    out
}

/// The rules of the key policy an explained key breaks, in order.
fn broken(e: &Value) -> Vec<&str> {
    e["policy"]["violations"].as_array().unwrap().iter().map(|v| v["rule"].as_str().unwrap()).collect()
}

fn code(e: &Value) -> &str {
    e["verdict"]["code"].as_str().unwrap_or_else(|| panic!("no verdict: {e}"))
}

fn status(r: &Resp, want: u16, code: &str, what: &str) {
    assert_eq!((r.status, r.error_code()), (want, code), "{what}: {}", r.text);
}

/// A project of `api`'s organization named `name`; its id.
async fn project(api: &Api, name: &str) -> String {
    let r = api.post("/v1/projects", json!({"name": name})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

/// One row of the table: a request about a key, and what explain must say.
struct Case<'a> {
    what: &'static str,
    /// Who asks (the key's organization's admin).
    who: &'a Api,
    /// The key's plaintext, for verify's answer to the same request.
    plain: &'a str,
    /// The explain body (`keyId` or `key`, and what a request would be).
    body: Value,
    status: &'static str,
    /// Verify's code, which explain's verdict must be.
    verdict: &'static str,
    /// One permission and what it must be: (allowed, reason).
    permission: (&'static str, bool, Option<&'static str>),
    /// The key policy's rules it breaks.
    breaks: &'static [&'static str],
}

#[tokio::test]
async fn explain_answers_a_table_of_keys_as_verify_would() {
    let server = server().await;
    let admin = server.admin();
    let org = server.admin.org_id.clone();
    let create = |body: Value| {
        let admin = admin.clone();
        async move { TestServer::create_key(&admin, body).await }
    };

    // Role ceiling: an admin's key holding `org:write`, its owner then made a member.
    let carol = join_org(&server, &admin, &org, "carol@example.com", "admin").await;
    let carol_api = server.with_session_in_org(&carol.token, &org);
    let (carols, carols_plain) =
        TestServer::create_key(&carol_api, json!({"name": "carol's", "scopes": ["org:write", "sandbox:read"]})).await;
    let r = admin.patch(&format!("/v1/members/{}", carol.user_id), json!({"role": "member"})).await;
    assert_eq!(r.status, 200, "demote: {}", r.text);
    // Project binding: a key of project A.
    let (a, b) = (project(&admin, "A").await, project(&admin, "B").await);
    let (bound, bound_plain) = create(json!({"name": "bound", "scopes": ["sandbox:*"], "projectId": a})).await;
    // Expired, revoked, rotated in its grace period, leaked.
    let (expiring, expiring_plain) =
        create(json!({"name": "expiring", "scopes": ["sandbox:read"], "expiresIn": "1s"})).await;
    let (revoked, revoked_plain) = create(json!({"name": "revoked", "scopes": ["sandbox:read"]})).await;
    assert_eq!(admin.post_empty(&format!("/v1/api-keys/{revoked}/revoke")).await.status, 200);
    let (graced, graced_plain) = create(json!({"name": "graced", "scopes": ["sandbox:read"]})).await;
    let r = admin.post(&format!("/v1/api-keys/{graced}/rotate"), json!({"gracePeriod": "1h"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let successor = r.body["data"]["id"].as_str().unwrap().to_owned();
    let (leaked, leaked_plain) = create(json!({"name": "leaked", "scopes": ["sandbox:read"]})).await;
    assert_eq!(admin.post(&format!("/v1/api-keys/{leaked}/report-leak"), json!({})).await.status, 200);
    // Networks: a key fenced to 203.0.113.0/24.
    let (fenced, fenced_plain) =
        create(json!({"name": "fenced", "scopes": ["sandbox:read"], "allowedCidrs": ["203.0.113.0/24"]})).await;
    // A key policy tightened after another organization's keys were made:
    // they break it, and its networks bind the key without its own.
    let other = server.second_org("Other", "oz@example.com");
    let other_api = server.with_key(&other.api_key);
    let (loose, loose_plain) =
        TestServer::create_key(&other_api, json!({"name": "loose", "scopes": ["org:read", "sandbox:read"]})).await;
    let walled_body =
        json!({"name": "walled", "scopes": ["sandbox:read"], "expiresIn": "30d", "allowedCidrs": ["203.0.113.0/24"]});
    let (walled, walled_plain) = TestServer::create_key(&other_api, walled_body).await;
    let policy = json!({"requireExpiry": true, "allowedScopes": ["sandbox:*"], "allowedCidrs": ["127.0.0.0/8"]});
    let r = other_api.put(&format!("/v1/orgs/{}/key-policy", other.org_id), policy).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let expired = eventually(Duration::from_secs(5), || {
        let admin = admin.clone();
        let id = expiring.clone();
        async move { explain(&admin, json!({"keyId": id})).await["status"] == "expired" }
    })
    .await;
    assert!(expired, "the key never read as expired");

    let read = ["sandbox:read"];
    #[rustfmt::skip]
    let table = [
        Case { what: "role ceiling", who: &admin, plain: &carols_plain, body: json!({"keyId": carols, "scopes": ["org:write"]}),
               status: "active", verdict: "INSUFFICIENT_SCOPE", permission: ("org:write", false, Some("role_ceiling")), breaks: &[] },
        Case { what: "role ceiling, within the role", who: &admin, plain: &carols_plain, body: json!({"keyId": carols, "scopes": read}),
               status: "active", verdict: "VALID", permission: ("sandbox:read", true, None), breaks: &[] },
        Case { what: "project binding", who: &admin, plain: &bound_plain, body: json!({"keyId": bound, "projectId": b, "scopes": read}),
               status: "active", verdict: "INSUFFICIENT_SCOPE", permission: ("sandbox:read", false, Some("project_binding")), breaks: &[] },
        Case { what: "its own project", who: &admin, plain: &bound_plain, body: json!({"keyId": bound, "projectId": a, "scopes": read}),
               status: "active", verdict: "VALID", permission: ("sandbox:read", true, None), breaks: &[] },
        Case { what: "expired", who: &admin, plain: &expiring_plain, body: json!({"keyId": expiring, "scopes": read}),
               status: "expired", verdict: "EXPIRED", permission: ("sandbox:write", false, Some("not_granted")), breaks: &[] },
        Case { what: "revoked, by its plaintext", who: &admin, plain: &revoked_plain, body: json!({"key": revoked_plain, "scopes": read}),
               status: "revoked", verdict: "REVOKED", permission: ("sandbox:read", true, None), breaks: &[] },
        Case { what: "rotated, in its grace period", who: &admin, plain: &graced_plain, body: json!({"keyId": graced, "scopes": read}),
               status: "active", verdict: "VALID", permission: ("sandbox:read", true, None), breaks: &[] },
        Case { what: "leaked", who: &admin, plain: &leaked_plain, body: json!({"keyId": leaked, "scopes": read}),
               status: "revoked", verdict: "REVOKED", permission: ("sandbox:read", true, None), breaks: &[] },
        Case { what: "outside its networks", who: &admin, plain: &fenced_plain, body: json!({"keyId": fenced, "ip": "198.51.100.7", "scopes": read}),
               status: "active", verdict: "IP_NOT_ALLOWED", permission: ("sandbox:read", false, Some("ip_not_allowed")), breaks: &[] },
        Case { what: "inside its networks", who: &admin, plain: &fenced_plain, body: json!({"keyId": fenced, "ip": "203.0.113.9", "scopes": read}),
               status: "active", verdict: "VALID", permission: ("sandbox:read", true, None), breaks: &[] },
        Case { what: "inside, IPv4-mapped", who: &admin, plain: &fenced_plain, body: json!({"keyId": fenced, "ip": "::ffff:203.0.113.9", "scopes": read}),
               status: "active", verdict: "VALID", permission: ("sandbox:read", true, None), breaks: &[] },
        Case { what: "networks, no address", who: &admin, plain: &fenced_plain, body: json!({"keyId": fenced, "scopes": read}),
               status: "active", verdict: "IP_NOT_ALLOWED", permission: ("sandbox:read", true, None), breaks: &[] },
        Case { what: "policy violation, outside the policy's networks", who: &other_api, plain: &loose_plain, body: json!({"keyId": loose, "ip": "192.0.2.1", "scopes": read}),
               status: "active", verdict: "IP_NOT_ALLOWED", permission: ("sandbox:read", false, Some("policy")), breaks: &["requireExpiry", "allowedScopes"] },
        Case { what: "policy violation, inside the policy's networks", who: &other_api, plain: &loose_plain, body: json!({"keyId": loose, "ip": "127.0.0.1", "scopes": ["org:read"]}),
               status: "active", verdict: "VALID", permission: ("org:read", true, None), breaks: &["requireExpiry", "allowedScopes"] },
        Case { what: "policy violation, its own networks", who: &other_api, plain: &walled_plain, body: json!({"keyId": walled, "ip": "203.0.113.9", "scopes": read}),
               status: "active", verdict: "VALID", permission: ("sandbox:read", true, None), breaks: &["allowedCidrs"] },
    ];
    for case in &table {
        let what = case.what;
        let e = explain(case.who, case.body.clone()).await;
        assert_eq!(e["status"], case.status, "{what}: {e}");
        assert_eq!(code(&e), case.verdict, "{what}: {e}");
        assert_eq!(e["verdict"]["valid"], case.verdict == "VALID", "{what}: {e}");
        let (name, allowed, reason) = case.permission;
        assert_eq!(permission(&e, name), (allowed, json!(reason)), "{what}: {name}");
        assert_eq!(
            (e["policy"]["compliant"].as_bool(), broken(&e)),
            (Some(case.breaks.is_empty()), case.breaks.to_vec()),
            "{what}: {e}"
        );
        assert!(!e.to_string().contains(case.plain), "{what}: the plaintext is never echoed");
        // Verify, asked the same, answers the same.
        let mut asked = case.body.clone();
        let fields = asked.as_object_mut().unwrap();
        fields.remove("keyId");
        fields.insert("key".to_owned(), json!(case.plain));
        assert_eq!(verify(case.who, asked).await["code"], case.verdict, "{what}: explain and verify disagree");
    }

    // Around the table: every permission of the catalog, each refused for
    // its first reason; the key's own fields.
    let e = explain(&admin, json!({"keyId": carols})).await;
    assert_eq!(
        (e["ownerRole"].as_str(), e["verdict"].is_null()),
        (Some("member"), true),
        "no request, no verdict: {e}"
    );
    assert_eq!(permission(&e, "secret:resolve"), (false, json!("not_granted")), "reserved: no wildcard grants it");
    assert_eq!(reasons(&e), ["not_granted", "role_ceiling"]);
    let every: Vec<&str> =
        e["permissions"].as_array().unwrap().iter().map(|p| p["permission"].as_str().unwrap()).collect();
    assert!(every.len() > 20 && every.contains(&"keys:verify") && every.contains(&"admin:resources"), "{every:?}");
    let e = explain(&admin, json!({"keyId": bound, "projectId": b})).await;
    assert_eq!(
        (reasons(&e), e["projectId"].as_str()),
        (vec!["not_granted".to_owned(), "project_binding".to_owned()], Some(a.as_str()))
    );
    let e = explain(&admin, json!({"keyId": graced})).await;
    assert_eq!(e["rotatedTo"].as_str(), Some(successor.as_str()));
    assert!(e["graceEndsAt"].is_string() && e["graceEndsAt"] == e["revokedAt"], "{e}");
    let e = explain(&admin, json!({"keyId": leaked})).await;
    assert!(e["leakedAt"].is_string() && e["graceEndsAt"].is_null(), "{e}");
    let e = explain(&admin, json!({"keyId": fenced, "ip": "198.51.100.7"})).await;
    assert_eq!(
        e["network"],
        json!({"allowedCidrs": ["203.0.113.0/24"], "source": "key", "ip": "198.51.100.7", "ipAllowed": false})
    );
    let e = explain(&other_api, json!({"keyId": loose, "ip": "192.0.2.1"})).await;
    assert_eq!(
        e["network"],
        json!({"allowedCidrs": ["127.0.0.0/8"], "source": "policy", "ip": "192.0.2.1", "ipAllowed": false})
    );

    // The CLI's summary, and its JSON.
    let cli = User::new(&server.url);
    let env = [("LATCHKEY_API_KEY", server.admin.api_key.as_str())];
    let r = cli.run_with(&["auth", "keys", "explain", &carols, "--scope", "org:write"], &env, "");
    let text = r.ok();
    for want in [
        "Verify would say  INSUFFICIENT_SCOPE (for org:write)",
        "beyond its owner's current role",
        "(member)",
        "compliant",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
    let r = cli.run_with(&["auth", "keys", "explain", &fenced, "--ip", "198.51.100.7", "--json"], &env, "");
    let e = r.json();
    assert_eq!((code(&e), permission(&e, "sandbox:read")), ("IP_NOT_ALLOWED", (false, json!("ip_not_allowed"))));
}

#[tokio::test]
async fn explaining_counts_and_spends_nothing() {
    let server = server().await;
    let admin = server.admin();
    let body = json!({"name": "limited", "scopes": ["sandbox:read"], "rateLimitPerMinute": 3, "rateLimitPerDay": 100, "remaining": 10});
    let (limited, limited_plain) = TestServer::create_key(&admin, body).await;
    let (idle, idle_plain) = TestServer::create_key(&admin, json!({"name": "idle", "scopes": ["sandbox:read"]})).await;

    // However often it is explained, by id or plaintext, with a verdict
    // asked or not, its windows stay full and its credits whole.
    for i in 0..20 {
        let asked = if i % 2 == 0 { json!({"keyId": limited}) } else { json!({"key": limited_plain}) };
        let mut asked_verdict = asked.clone();
        asked_verdict["scopes"] = json!(["sandbox:read"]);
        for body in [asked, asked_verdict] {
            let e = explain(&admin, body).await;
            assert_eq!(e["limits"]["perMinute"], json!({"limit": 3, "remaining": 3, "reset": 0}), "{e}");
            assert_eq!(
                (e["limits"]["perDay"]["remaining"].as_u64(), e["credits"]["remaining"].as_i64()),
                (Some(100), Some(10)),
                "{e}"
            );
        }
        explain(&admin, json!({"key": idle_plain, "scopes": ["sandbox:read"]})).await;
    }
    // A verify afterwards has the whole budget; explain then reads what it spent.
    let v = verify(&admin, json!({"key": limited_plain, "scopes": ["sandbox:read"]})).await;
    assert_eq!(
        (v["code"].as_str(), v["ratelimit"]["remaining"].as_u64(), v["remaining"].as_i64()),
        (Some("VALID"), Some(2), Some(9)),
        "{v}"
    );
    let e = explain(&admin, json!({"keyId": limited})).await;
    assert_eq!(
        (e["limits"]["perMinute"]["remaining"].as_u64(), e["limits"]["perDay"]["remaining"].as_u64()),
        (Some(2), Some(99)),
        "{e}"
    );
    assert_eq!(e["credits"]["remaining"], 9);
    assert!(e["limits"]["perMinute"]["reset"].as_u64().unwrap() > 0, "{e}");
    for _ in 0..2 {
        assert_eq!(verify(&admin, json!({"key": limited_plain})).await["code"], "VALID");
    }
    for _ in 0..3 {
        let e = explain(&admin, json!({"keyId": limited, "scopes": ["sandbox:read"]})).await;
        assert_eq!((code(&e), e["limits"]["perMinute"]["remaining"].as_u64()), ("RATE_LIMITED", Some(0)), "{e}");
        assert_eq!(e["credits"]["remaining"], 7);
    }
    // The minute's window is spent by the 3 verifies alone: a 4th is refused.
    assert_eq!(verify(&admin, json!({"key": limited_plain})).await["code"], "RATE_LIMITED");

    // Counts and `lastUsedAt` are written behind, together: once the
    // verifies' are, any of the explanations before them would be too.
    let usage = format!("/v1/api-keys/{limited}/usage?days=1");
    let counted = eventually(Duration::from_secs(10), || {
        let (admin, usage) = (admin.clone(), usage.clone());
        async move { admin.get(&usage).await.body["data"][0]["total"].as_i64().unwrap_or(0) >= 4 }
    })
    .await;
    assert!(counted, "the verifies were never counted");
    let days = admin.get(&usage).await.body["data"].clone();
    assert_eq!(days[0]["counts"], json!({"VALID": 3, "RATE_LIMITED": 1}), "only the verifies counted: {days}");
    let idle_view = admin.get(&format!("/v1/api-keys/{idle}")).await.body["data"].clone();
    assert!(idle_view["lastUsedAt"].is_null(), "explanations set no lastUsedAt: {idle_view}");
    let idle_days = admin.get(&format!("/v1/api-keys/{idle}/usage?days=1")).await.body["data"].clone();
    let idle_total: i64 = idle_days.as_array().unwrap().iter().map(|d| d["total"].as_i64().unwrap_or(0)).sum();
    assert_eq!(idle_total, 0, "explanations are no verifications: {idle_days}");
    let limited_view = admin.get(&format!("/v1/api-keys/{limited}")).await.body["data"].clone();
    assert!(limited_view["lastUsedAt"].is_string(), "the verifies did set it: {limited_view}");

    // Without credits left, explain says so, and still spends nothing.
    let (broke, _) =
        TestServer::create_key(&admin, json!({"name": "broke", "scopes": ["sandbox:read"], "remaining": 0})).await;
    let e = explain(&admin, json!({"keyId": broke, "scopes": ["sandbox:read"]})).await;
    assert_eq!((code(&e), e["credits"]["remaining"].as_i64()), ("USAGE_EXCEEDED", Some(0)), "{e}");
}

#[tokio::test]
async fn only_the_keys_organization_with_keys_verify_may_explain_it() {
    let server = server().await;
    let admin = server.admin();
    let org = server.admin.org_id.clone();
    let (mine, mine_plain) = TestServer::create_key(&admin, json!({"name": "mine", "scopes": ["sandbox:read"]})).await;

    // Another tenant finds nothing, by id or plaintext, as for an unknown key.
    let other = server.second_org("Other", "oz@example.com");
    let other_api = server.with_key(&other.api_key);
    let (theirs, theirs_plain) =
        TestServer::create_key(&other_api, json!({"name": "theirs", "scopes": ["sandbox:read"]})).await;
    let (gone, gone_plain) = TestServer::create_key(&admin, json!({"name": "gone", "scopes": ["sandbox:read"]})).await;
    assert_eq!(admin.delete(&format!("/v1/api-keys/{gone}")).await.status, 204);
    let unknown = admin.post("/v1/keys/explain", json!({"keyId": gone})).await;
    status(&unknown, 404, "not_found", "a deleted key");
    for (who, body) in [
        (&other_api, json!({"keyId": mine})),
        (&other_api, json!({"key": mine_plain})),
        (&admin, json!({"keyId": theirs})),
        (&admin, json!({"key": theirs_plain})),
        (&admin, json!({"key": gone_plain})),
        (&admin, json!({"keyId": "key_nope"})),
        (&admin, json!({"key": "lk_live_not_a_key"})),
    ] {
        let r = who.post("/v1/keys/explain", body.clone()).await;
        status(&r, 404, "not_found", &body.to_string());
        assert_eq!(r.body, unknown.body, "{body}: the same answer as an unknown key");
    }
    assert_eq!(explain(&other_api, json!({"keyId": theirs})).await["keyId"], theirs.as_str(), "its own organization");

    // A key without `keys:verify` is refused, even about itself.
    let narrow = server.with_key(&mine_plain);
    for body in [json!({"keyId": mine}), json!({"key": mine_plain})] {
        status(&narrow.post("/v1/keys/explain", body.clone()).await, 403, "insufficient_scope", &body.to_string());
    }
    // A member: their own key by id, another's only by its plaintext.
    let dan = join_org(&server, &admin, &org, "dan@example.com", "member").await;
    let dan_api = server.with_session_in_org(&dan.token, &org);
    let (dans, _) = TestServer::create_key(&dan_api, json!({"name": "dan's", "scopes": ["sandbox:read"]})).await;
    assert_eq!(explain(&dan_api, json!({"keyId": dans})).await["keyId"], dans.as_str());
    status(&dan_api.post("/v1/keys/explain", json!({"keyId": mine})).await, 404, "not_found", "another's key by id");
    assert_eq!(explain(&dan_api, json!({"key": mine_plain})).await["keyId"], mine.as_str(), "a member holding the key");

    // Bad bodies.
    for (body, code) in [
        (json!({}), "invalid_request"),
        (json!({"key": mine_plain, "keyId": mine}), "invalid_request"),
        (json!({"keyId": mine, "ip": "not an address"}), "invalid_request"),
        (json!({"keyId": mine, "scopes": ["NOPE"]}), "invalid_scopes"),
        (json!({"keyId": mine, "cost": 1}), "invalid_request"),
        (json!({"keyId": mine, "scopes": vec!["sandbox:read"; 101]}), "invalid_scopes"),
    ] {
        let r = admin.post("/v1/keys/explain", body.clone()).await;
        status(&r, 400, code, &body.to_string());
        assert!(!r.text.contains(&mine_plain), "the plaintext is never echoed: {}", r.text);
    }
}
