//! Issue 8: secrets. User-private and organization-wide secrets over HTTP,
//! who may do what (admin, member, keys, other organizations), resolution
//! with shadowing, envelope encryption at rest (no plaintext in the
//! database, ciphertexts bound to their row and organization), master-key
//! rotation, and values that never reach logs, lists, audit events or
//! error messages.

use std::process::{Child, Command, Stdio};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Api, Person, Resp, TestServer, cli, join_org, run_cli, signup};
use crate::db::Db;

async fn put(api: &Api, name: &str, body: Value) -> Resp {
    api.send(Method::PUT, &format!("/v1/secrets/{name}"), Some(body.to_string().into())).await
}

async fn reveal(api: &Api, path: &str) -> Resp {
    api.post_empty(&format!("/v1/secrets/{path}")).await
}

/// Reveals `name` (`?scope=` optional) and returns the value.
async fn value_of(api: &Api, name_and_query: &str) -> String {
    let (name, query) = name_and_query.split_once('?').map_or((name_and_query, ""), |(n, q)| (n, q));
    let path = if query.is_empty() { format!("{name}/reveal") } else { format!("{name}/reveal?{query}") };
    let r = reveal(api, &path).await;
    assert_eq!(r.status, 200, "reveal {name_and_query}: {}", r.text);
    r.body["data"]["value"].as_str().unwrap().to_owned()
}

fn expect(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.error_code(), code, "{what}");
}

/// Org A (the bootstrap org; `ada` is its admin) with members Bob and Cy;
/// org B (Dee, admin, by signup).
struct World {
    server: TestServer,
    org: String,
    bob: Person,
    cy: Person,
    dee: Person,
}

impl World {
    async fn new() -> Self {
        Self::on(TestServer::start().await).await
    }

    async fn on(server: TestServer) -> Self {
        let org = server.admin.org_id.clone();
        let ada = server.admin();
        let bob = join_org(&server, &ada, &org, "bob@a.example.com", "member").await;
        let cy = join_org(&server, &ada, &org, "cy@a.example.com", "member").await;
        let dee = signup(&server, "dee@b.example.com", "Org B").await;
        Self { server, org, bob, cy, dee }
    }

    fn ada(&self) -> Api {
        self.server.admin()
    }

    fn bob(&self) -> Api {
        self.server.with_session_in_org(&self.bob.token, &self.org)
    }

    fn cy(&self) -> Api {
        self.server.with_session_in_org(&self.cy.token, &self.org)
    }

    fn dee(&self) -> Api {
        self.server.with_bearer(&self.dee.token)
    }

    /// A key minted by `api` with `body`, as a client.
    async fn key(&self, api: &Api, body: Value) -> Api {
        let (_, key) = TestServer::create_key(api, body).await;
        self.server.with_key(&key)
    }
}

#[tokio::test]
async fn a_member_sets_lists_reveals_and_deletes_own_secrets() {
    let w = World::new().await;
    let bob = w.bob();
    let r = put(&bob, "ANTHROPIC_API_KEY", json!({"value": "sk-ant-first", "category": "provider"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = &r.body["data"];
    assert!(d["id"].as_str().unwrap().starts_with("sec_"), "{}", r.text);
    assert_eq!(
        (d["name"].as_str(), d["category"].as_str(), d["scope"].as_str(), d["version"].as_i64()),
        (Some("ANTHROPIC_API_KEY"), Some("provider"), Some("user"), Some(1))
    );
    assert_eq!(d["ownerUserId"], w.bob.user_id.as_str());
    assert!(d.get("value").is_none(), "{}", r.text);
    let id = d["id"].as_str().unwrap().to_owned();

    // Replacing keeps the id, bumps the version.
    let r = put(&bob, "ANTHROPIC_API_KEY", json!({"value": "sk-ant-second", "category": "provider"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["data"]["id"].as_str(), r.body["data"]["version"].as_i64()), (Some(id.as_str()), Some(2)));
    assert_eq!(value_of(&bob, "ANTHROPIC_API_KEY").await, "sk-ant-second");

    let list = bob.get("/v1/secrets").await;
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.body["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.text);
    assert_eq!(items[0]["name"], "ANTHROPIC_API_KEY");
    assert!(!list.text.contains("sk-ant"), "lists never carry values: {}", list.text);
    assert!(list.body["nextCursor"].is_null());
    let meta = bob.get("/v1/secrets/ANTHROPIC_API_KEY").await;
    assert_eq!((meta.status, meta.body["data"]["id"].as_str()), (200, Some(id.as_str())), "{}", meta.text);
    assert!(!meta.text.contains("sk-ant"), "{}", meta.text);
    let shown = reveal(&bob, "ANTHROPIC_API_KEY/reveal").await;
    assert_eq!(shown.body["data"]["value"], "sk-ant-second", "{}", shown.text);
    assert_eq!(shown.headers["cache-control"], "no-store");
    assert_eq!(shown.body["data"]["version"], 2);

    // Bad input.
    for (name, body, what) in [
        ("lower_case", json!({"value": "v", "category": "tool"}), "lowercase name"),
        ("A-B", json!({"value": "v", "category": "tool"}), "dash in name"),
        (&*"A".repeat(129), json!({"value": "v", "category": "tool"}), "long name"),
        ("OK", json!({"value": "v", "category": "Not OK"}), "bad category"),
        ("OK", json!({"value": "", "category": "tool"}), "empty value"),
        ("OK", json!({"value": "x".repeat(33 * 1024), "category": "tool"}), "value over 32 KiB"),
        ("OK", json!({"value": "v", "category": "tool", "extra": 1}), "unknown field"),
        ("OK", json!({"category": "tool"}), "missing value"),
    ] {
        expect(&put(&bob, name, body).await, 400, "invalid_request", what);
    }
    assert_eq!(bob.get("/v1/secrets").await.body["data"].as_array().unwrap().len(), 1, "nothing stored");

    assert_eq!(bob.delete("/v1/secrets/ANTHROPIC_API_KEY").await.status, 204);
    expect(&reveal(&bob, "ANTHROPIC_API_KEY/reveal").await, 404, "not_found", "deleted");
    expect(&bob.delete("/v1/secrets/ANTHROPIC_API_KEY").await, 404, "not_found", "deleted twice");
    expect(&bob.get("/v1/secrets/NOPE").await, 404, "not_found", "unknown");

    // Every change is audited, by name, without the value.
    let events = w.ada().get(&format!("/v1/audit-events?targetId={id}")).await;
    let actions: Vec<&str> =
        events.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["secret.delete", "secret.reveal", "secret.reveal", "secret.set", "secret.set"],
        "{}",
        events.text
    );
    assert!(events.text.contains("ANTHROPIC_API_KEY") && !events.text.contains("sk-ant"), "{}", events.text);
}

#[tokio::test]
async fn org_wide_secrets_need_an_admin_to_write_and_any_member_reads() {
    let w = World::new().await;
    let (ada, bob) = (w.ada(), w.bob());
    let body = json!({"value": "crm_shared", "category": "tool", "orgWide": true});
    expect(&put(&bob, "SHARED_CRM_KEY", body.clone()).await, 403, "forbidden", "member writes org-wide");
    let r = put(&ada, "SHARED_CRM_KEY", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!((r.body["data"]["scope"].as_str(), r.body["data"]["ownerUserId"].as_null()), (Some("org"), Some(())));
    put(&bob, "BOB_ONLY", json!({"value": "bob-private", "category": "tool"})).await;

    // Members list it (orgOnly narrows to it), read its metadata and reveal it.
    let all = bob.get("/v1/secrets").await;
    let names: Vec<&str> = all.body["data"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["BOB_ONLY", "SHARED_CRM_KEY"], "{}", all.text);
    let org_only = bob.get("/v1/secrets?orgOnly=true").await;
    let names: Vec<&str> =
        org_only.body["data"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["SHARED_CRM_KEY"], "{}", org_only.text);
    assert_eq!(bob.get("/v1/secrets/SHARED_CRM_KEY").await.body["data"]["scope"], "org");
    assert_eq!(value_of(&w.cy(), "SHARED_CRM_KEY").await, "crm_shared");

    // Members can neither replace nor delete it.
    expect(
        &put(&bob, "SHARED_CRM_KEY", json!({"value": "x", "category": "tool", "orgWide": true})).await,
        403,
        "forbidden",
        "member replaces org-wide",
    );
    expect(&bob.delete("/v1/secrets/SHARED_CRM_KEY").await, 403, "forbidden", "member deletes org-wide");
    assert_eq!(value_of(&bob, "SHARED_CRM_KEY").await, "crm_shared");

    // A member's own secret of the same name shadows it for them only.
    put(&bob, "SHARED_CRM_KEY", json!({"value": "bob-crm", "category": "tool"})).await;
    assert_eq!(value_of(&bob, "SHARED_CRM_KEY").await, "bob-crm");
    assert_eq!(value_of(&bob, "SHARED_CRM_KEY?scope=org").await, "crm_shared");
    assert_eq!(value_of(&w.cy(), "SHARED_CRM_KEY").await, "crm_shared");
    // Bob deleting "his" name deletes his own; the org's stays.
    assert_eq!(bob.delete("/v1/secrets/SHARED_CRM_KEY").await.status, 204);
    assert_eq!(value_of(&bob, "SHARED_CRM_KEY").await, "crm_shared");
    assert_eq!(ada.delete("/v1/secrets/SHARED_CRM_KEY").await.status, 204);
    expect(&reveal(&bob, "SHARED_CRM_KEY/reveal").await, 404, "not_found", "deleted by the admin");
}

#[tokio::test]
async fn a_user_secret_is_visible_to_its_owner_only() {
    let w = World::new().await;
    put(&w.bob(), "BOB_TOKEN", json!({"value": "bob-token-value", "category": "tool"})).await;
    // Another member and the admin: not found, whatever they try.
    for (who, api) in [("cy", w.cy()), ("ada (admin)", w.ada())] {
        for q in ["", "?scope=user"] {
            expect(&api.get(&format!("/v1/secrets/BOB_TOKEN{q}")).await, 404, "not_found", who);
            expect(&reveal(&api, &format!("BOB_TOKEN/reveal{q}")).await, 404, "not_found", who);
            expect(&api.delete(&format!("/v1/secrets/BOB_TOKEN{q}")).await, 404, "not_found", who);
        }
        let list = api.get("/v1/secrets").await;
        assert_eq!(list.status, 200);
        assert!(!list.text.contains("BOB_TOKEN"), "{who}: {}", list.text);
    }
    // Cy setting the same name makes her own, separate secret.
    assert_eq!(put(&w.cy(), "BOB_TOKEN", json!({"value": "cy-value", "category": "tool"})).await.status, 201);
    assert_eq!(value_of(&w.cy(), "BOB_TOKEN").await, "cy-value");
    assert_eq!(value_of(&w.bob(), "BOB_TOKEN").await, "bob-token-value");
}

#[tokio::test]
async fn keys_need_the_secret_scopes_and_act_for_their_owner() {
    let w = World::new().await;
    let (ada, bob) = (w.ada(), w.bob());
    put(&bob, "BOB_OWN", json!({"value": "bob-own-value", "category": "tool"})).await;
    put(&ada, "ORG_SHARED", json!({"value": "org-shared-value", "category": "tool", "orgWide": true})).await;

    let no_scope = w.key(&bob, json!({"name": "sandbox", "scopes": ["sandbox:*"]})).await;
    let reader = w.key(&bob, json!({"name": "reader", "scopes": ["secret:read"]})).await;
    let writer = w.key(&bob, json!({"name": "writer", "scopes": ["secret:write"]})).await;
    let body = json!({"value": "from-a-key", "category": "tool"});
    for (what, r) in [
        ("list", no_scope.get("/v1/secrets").await),
        ("get", no_scope.get("/v1/secrets/BOB_OWN").await),
        ("reveal", reveal(&no_scope, "BOB_OWN/reveal").await),
        ("resolve", no_scope.get("/v1/secrets/resolve?names=BOB_OWN").await),
        ("put", put(&no_scope, "FROM_KEY", body.clone()).await),
        ("delete", no_scope.delete("/v1/secrets/BOB_OWN").await),
        ("reader put", put(&reader, "FROM_KEY", body.clone()).await),
        ("reader delete", reader.delete("/v1/secrets/BOB_OWN").await),
        ("writer reveal", reveal(&writer, "BOB_OWN/reveal").await),
        ("writer list", writer.get("/v1/secrets").await),
    ] {
        expect(&r, 403, "insufficient_scope", what);
    }
    // Bob's keys act for Bob: his own secrets and the organization's.
    assert_eq!(value_of(&reader, "BOB_OWN").await, "bob-own-value");
    assert_eq!(value_of(&reader, "ORG_SHARED").await, "org-shared-value");
    assert_eq!(put(&writer, "FROM_KEY", body.clone()).await.status, 201);
    assert_eq!(value_of(&bob, "FROM_KEY").await, "from-a-key", "the key wrote Bob's secret");
    // ... but never more than Bob: no org-wide writes.
    let org_body = json!({"value": "v", "category": "tool", "orgWide": true});
    expect(&put(&writer, "ORG_TRY", org_body.clone()).await, 403, "forbidden", "member's key writes org-wide");
    // A `*` key of the admin may.
    let ada_key = w.key(&ada, json!({"name": "ada-secrets", "scopes": ["secret:*"]})).await;
    assert_eq!(put(&ada_key, "ORG_TRY", org_body.clone()).await.status, 201);

    // An organization-owned key has no user: organization-wide secrets only.
    let service = w.key(&ada, json!({"name": "svc", "owner": "org", "scopes": ["secret:*"]})).await;
    expect(&put(&service, "SVC_OWN", body.clone()).await, 403, "forbidden", "org key, user secret");
    assert_eq!(put(&service, "SVC_ORG", org_body).await.status, 201);
    let list = service.get("/v1/secrets").await;
    let names: Vec<&str> = list.body["data"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["SVC_ORG", "ORG_TRY", "ORG_SHARED"], "{}", list.text);
    expect(&reveal(&service, "BOB_OWN/reveal").await, 404, "not_found", "org key, Bob's secret");
    assert_eq!(value_of(&service, "ORG_SHARED").await, "org-shared-value");
}

#[tokio::test]
async fn another_orgs_secrets_are_not_found() {
    let w = World::new().await;
    put(&w.ada(), "A_SHARED", json!({"value": "a-shared-value", "category": "tool", "orgWide": true})).await;
    put(&w.bob(), "A_BOB", json!({"value": "a-bob-value", "category": "tool"})).await;
    let dee = w.dee();
    let dee_key = w.key(&dee, json!({"name": "b", "owner": "org", "scopes": ["*"]})).await;
    for (who, api) in [("B admin session", dee.clone()), ("B org key", dee_key.clone())] {
        for name in ["A_SHARED", "A_BOB"] {
            for q in ["", "?scope=org", "?scope=user"] {
                expect(&api.get(&format!("/v1/secrets/{name}{q}")).await, 404, "not_found", who);
                expect(&reveal(&api, &format!("{name}/reveal{q}")).await, 404, "not_found", who);
                expect(&api.delete(&format!("/v1/secrets/{name}{q}")).await, 404, "not_found", who);
            }
        }
        let list = api.get("/v1/secrets").await;
        assert_eq!((list.status, list.body["data"].as_array().map(Vec::len)), (200, Some(0)), "{who}: {}", list.text);
        let resolved = api.get("/v1/secrets/resolve?names=A_SHARED,A_BOB").await;
        assert_eq!(resolved.status, 200, "{}", resolved.text);
        assert_eq!(resolved.body["data"]["secrets"], json!([]), "{who}: {}", resolved.text);
        expect(
            &api.get(&format!("/v1/secrets/resolve?names=A_BOB&user={}", w.bob.user_id)).await,
            404,
            "not_found",
            "resolve for another org's member",
        );
    }
    // B writing the same names makes B's own; A's are untouched.
    let r = put(&dee, "A_SHARED", json!({"value": "b-value", "category": "tool", "orgWide": true})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(value_of(&w.bob(), "A_SHARED").await, "a-shared-value");
    // A session naming org A in the header while not a member: 404.
    let dee_in_a = w.server.with_session_in_org(&w.dee.token, &w.org);
    expect(&dee_in_a.get("/v1/secrets").await, 404, "not_found", "B admin naming org A");
}

#[tokio::test]
async fn resolve_lets_a_members_secret_shadow_the_organizations() {
    let w = World::new().await;
    let (ada, bob) = (w.ada(), w.bob());
    for (name, value) in [("API_KEY", "org-api"), ("REGION", "org-region")] {
        put(&ada, name, json!({"value": value, "category": "provider", "orgWide": true})).await;
    }
    put(&bob, "API_KEY", json!({"value": "bob-api", "category": "provider"})).await;
    put(&w.cy(), "CY_ONLY", json!({"value": "cy-only", "category": "provider"})).await;
    // The platform's key: `secret:resolve`, which only the operator mints.
    let service = w.server.with_key(&w.server.service_key(&["secret:resolve"]));
    let org_key = w.key(&ada, json!({"name": "org", "owner": "org", "scopes": ["secret:read"]})).await;

    let values = |r: &Resp| -> Vec<(String, String, String)> {
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["data"]["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().into(),
                    s["scope"].as_str().unwrap().into(),
                    s["value"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let t = |n: &str, s: &str, v: &str| (n.to_owned(), s.to_owned(), v.to_owned());
    for user in [w.bob.user_id.as_str(), "bob@a.example.com", "BOB@A.example.com"] {
        let r = service.get(&format!("/v1/secrets/resolve?names=API_KEY,REGION,CY_ONLY,MISSING&user={user}")).await;
        assert_eq!(values(&r), [t("API_KEY", "user", "bob-api"), t("REGION", "org", "org-region")], "{user}");
        assert_eq!(r.body["data"]["missing"], json!(["CY_ONLY", "MISSING"]), "{}", r.text);
    }
    // Without a user: the organization's only.
    let r = service.get("/v1/secrets/resolve?names=API_KEY,REGION").await;
    assert_eq!(values(&r), [t("API_KEY", "org", "org-api"), t("REGION", "org", "org-region")]);
    // A member resolves for themself (default and by name), never for others.
    assert_eq!(values(&bob.get("/v1/secrets/resolve?names=API_KEY").await), [t("API_KEY", "user", "bob-api")]);
    let own = bob.get(&format!("/v1/secrets/resolve?names=API_KEY&user={}", w.bob.user_id)).await;
    assert_eq!(values(&own), [t("API_KEY", "user", "bob-api")]);
    for (who, api) in [("member", bob.clone()), ("admin's key", ada.clone()), ("org-owned key", org_key.clone())] {
        expect(
            &api.get(&format!("/v1/secrets/resolve?names=CY_ONLY&user={}", w.cy.user_id)).await,
            403,
            "forbidden",
            who,
        );
    }
    expect(&service.get("/v1/secrets/resolve?names=A&user=nobody@example.com").await, 404, "not_found", "unknown user");
    expect(&service.get("/v1/secrets/resolve?names=bad-name").await, 400, "invalid_request", "bad name");
    expect(&service.get("/v1/secrets/resolve?names=,").await, 400, "invalid_request", "no names");
    let many = (0..101).map(|i| format!("N{i}")).collect::<Vec<_>>().join(",");
    expect(&service.get(&format!("/v1/secrets/resolve?names={many}")).await, 400, "invalid_request", "101 names");

    // Each value handed out is audited as a reveal, naming the member.
    let events = ada.get("/v1/audit-events?action=secret.reveal").await;
    let ev = &events.body["data"].as_array().unwrap();
    assert!(
        ev.iter().any(|e| e["details"]["via"] == "resolve" && e["details"]["forUserId"] == w.bob.user_id.as_str()),
        "{}",
        events.text
    );
    assert!(!events.text.contains("bob-api") && !events.text.contains("org-region"), "{}", events.text);
}

/// The lowercase hex of `s` (how PostgreSQL dumps `bytea`).
fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn values_are_encrypted_at_rest_and_never_leak() {
    let w = World::new().await;
    let (ada, bob) = (w.ada(), w.bob());
    let values = [
        ("PLAIN_ONE", "sk-ant-PLAINTEXT-one-7f3a9c", false),
        ("PLAIN_TWO", "crm_PLAINTEXT_two_c41d08", true),
        ("PLAIN_THREE", "ghp_PLAINTEXT_three_99b2e1", false),
    ];
    for (name, value, org_wide) in values {
        let api = if org_wide { &ada } else { &bob };
        let r = put(api, name, json!({"value": value, "category": "provider", "orgWide": org_wide})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(!r.text.contains(value), "the set response has no value: {}", r.text);
    }
    // Exercise every route that touches them, including failures.
    let mut seen = String::new();
    for path in ["/v1/secrets", "/v1/secrets?orgOnly=true", "/v1/secrets/PLAIN_ONE", "/v1/secrets/PLAIN_TWO"] {
        seen += &bob.get(path).await.text;
    }
    assert_eq!(value_of(&bob, "PLAIN_ONE").await, values[0].1);
    assert_eq!(value_of(&bob, "PLAIN_TWO").await, values[1].1);
    let service = w.server.with_key(&w.server.service_key(&["secret:resolve"]));
    let resolved = service.get(&format!("/v1/secrets/resolve?names=PLAIN_ONE,PLAIN_TWO&user={}", w.bob.user_id)).await;
    assert!(resolved.text.contains(values[0].1) && resolved.text.contains(values[1].1), "{}", resolved.text);
    // Refused writes that carry a value.
    for body in [
        json!({"value": values[2].1, "category": "BAD CATEGORY"}),
        json!({"value": values[2].1, "category": "tool", "orgWide": true}),
        json!({"value": values[2].1, "category": "tool", "unknown": true}),
    ] {
        let r = put(&bob, "PLAIN_THREE", body).await;
        assert!(r.status >= 400, "{}", r.text);
        seen += &r.text;
    }
    seen += &ada.get("/v1/audit-events?limit=100").await.text;
    assert_eq!(bob.delete("/v1/secrets/PLAIN_THREE").await.status, 204);
    assert!(seen.contains("PLAIN_ONE") && seen.contains("secret.set"), "the responses were read: {seen}");

    let logs = w.server.logs();
    assert!(logs.contains("/v1/secrets/PLAIN_ONE/reveal"), "the server logs at debug: {logs}");
    let dump = Db::raw_dump(&w.server);
    let dump_text = String::from_utf8_lossy(&dump).to_lowercase();
    for (name, value, _) in values {
        assert!(!seen.contains(value), "{name}'s value in a list, metadata, audit or error response");
        assert!(!logs.contains(value), "{name}'s value in the server log");
        assert!(!dump.windows(value.len()).any(|win| win == value.as_bytes()), "{name}'s value in the database");
        assert!(!dump_text.contains(&hex(value)), "{name}'s value (hex) in the database");
    }
    // What is there: the names, and ciphertext.
    assert!(dump.windows(9).any(|win| win == b"PLAIN_ONE"), "the database dump is real");
}

#[tokio::test]
async fn tampered_or_moved_ciphertexts_do_not_decrypt() {
    let w = World::new().await;
    let (ada, bob) = (w.ada(), w.bob());
    put(&bob, "FIRST", json!({"value": "first-value-3b8e", "category": "tool"})).await;
    put(&bob, "SECOND", json!({"value": "second-value-0c5d", "category": "tool"})).await;
    put(&ada, "ORG_ONE", json!({"value": "org-one-value-77aa", "category": "tool", "orgWide": true})).await;
    put(&w.dee(), "B_SECRET", json!({"value": "b-value-1f2e", "category": "tool", "orgWide": true})).await;
    let db = Db::connect(&w.server).await;
    let id = |name: &str| format!("(SELECT id FROM secrets WHERE name = '{name}')");
    let first_id = db.strings("SELECT id FROM secrets WHERE name = 'FIRST'", "id").await.remove(0);
    let ciphertext = |name: &str| format!("SELECT ciphertext FROM secrets WHERE id = {}", id(name));

    // 1. A ciphertext copied to another row of the same org and owner.
    let first = db.bytes(&ciphertext("FIRST"), "ciphertext").await;
    let second_id = db.strings("SELECT id FROM secrets WHERE name = 'SECOND'", "id").await.remove(0);
    db.set_bytes("secrets", "ciphertext", "id", &second_id, &first).await;
    let r = reveal(&bob, "SECOND/reveal").await;
    expect(&r, 500, "internal", "ciphertext moved to another row");
    assert!(!r.text.contains("first-value") && !r.text.contains("decrypt"), "generic message: {}", r.text);
    assert_eq!(value_of(&bob, "FIRST").await, "first-value-3b8e", "the source row still opens");

    // 2. One flipped bit.
    let mut flipped = first.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    db.set_bytes("secrets", "ciphertext", "id", &first_id, &flipped).await;
    expect(&reveal(&bob, "FIRST/reveal").await, 500, "internal", "tampered ciphertext");
    db.set_bytes("secrets", "ciphertext", "id", &first_id, &first).await;
    assert_eq!(value_of(&bob, "FIRST").await, "first-value-3b8e", "restored");

    // 3. A user secret's row handed to another member (owner changed).
    db.exec(&format!("UPDATE secrets SET owner_user_id = '{}' WHERE id = '{first_id}'", w.cy.user_id)).await;
    expect(&reveal(&w.cy(), "FIRST/reveal").await, 500, "internal", "row moved to another owner");
    db.exec(&format!("UPDATE secrets SET owner_user_id = '{}' WHERE id = '{first_id}'", w.bob.user_id)).await;

    // 4. A row copied into another organization (which has a data key).
    let b_org = &w.dee.org_id;
    db.exec(&format!(
        "INSERT INTO secrets (id, org_id, owner_user_id, name, category, ciphertext, version, created_at, updated_at) \
         SELECT 'sec_01aaaaaaaaaaaaaaaaaaaaaaaa', '{b_org}', NULL, 'STOLEN', category, ciphertext, version, created_at, \
         updated_at FROM secrets WHERE name = 'ORG_ONE'"
    ))
    .await;
    expect(&reveal(&w.dee(), "STOLEN/reveal").await, 500, "internal", "ciphertext copied to another org");
    // ... even with org A's wrapped data key copied along.
    let a_wrapped = db.bytes(&format!("SELECT wrapped FROM org_data_keys WHERE org_id = '{}'", w.org), "wrapped").await;
    db.set_bytes("org_data_keys", "wrapped", "org_id", b_org, &a_wrapped).await;
    expect(&reveal(&w.dee(), "STOLEN/reveal").await, 500, "internal", "wrapped key and ciphertext copied");
    expect(&reveal(&w.dee(), "B_SECRET/reveal").await, 500, "internal", "B's own secret, B's key replaced");
    db.close().await;

    // The causes are in the log (ids, never values).
    let logs = w.server.logs();
    assert!(logs.contains(&format!("cannot open secret {second_id}")), "{logs}");
    assert!(logs.contains(&format!("cannot unwrap the data key of {b_org}")), "{logs}");
    for v in ["first-value-3b8e", "second-value-0c5d", "org-one-value-77aa", "b-value-1f2e"] {
        assert!(!logs.contains(v), "{v} in the log");
    }
    // Org A is unaffected.
    assert_eq!(value_of(&bob, "ORG_ONE").await, "org-one-value-77aa");
}

fn read_master_key(server: &TestServer) -> String {
    std::fs::read_to_string(server.data_dir().join("master.key")).unwrap().trim().to_owned()
}

#[tokio::test]
async fn rotating_the_master_key_rewraps_data_keys_and_secrets_still_reveal() {
    let mut w = World::new().await;
    let data_dir = w.server.data_dir();
    let dir = data_dir.to_str().unwrap().to_owned();
    let key_file = data_dir.join("master.key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600, "created 0600");
    let old_key = read_master_key(&w.server);
    put(&w.bob(), "OLD_USER", json!({"value": "old-user-value", "category": "tool"})).await;
    put(&w.ada(), "OLD_ORG", json!({"value": "old-org-value", "category": "tool", "orgWide": true})).await;
    put(&w.dee(), "OLD_B", json!({"value": "old-b-value", "category": "tool", "orgWide": true})).await;
    let db = Db::connect(&w.server).await;
    let ids_before = db.strings("SELECT master_key_id FROM org_data_keys", "master_key_id").await;
    let sealed_before = db.bytes("SELECT ciphertext FROM secrets WHERE name = 'OLD_USER'", "ciphertext").await;
    assert_eq!(ids_before.len(), 2, "one data key per organization");

    let out = run_cli(&["admin", "rotate-master-key", "--data-dir", &dir]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("re-wrapped 2 data key(s)"), "{stdout}");
    let new_key = read_master_key(&w.server);
    assert_ne!(new_key, old_key);
    assert!(!stdout.contains(&new_key) && !stdout.contains(&old_key), "keys are never printed: {stdout}");
    assert!(!data_dir.join("master.key.new").exists());
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let ids_after = db.strings("SELECT master_key_id FROM org_data_keys", "master_key_id").await;
    assert!(ids_after.iter().all(|id| !ids_before.contains(id)), "{ids_before:?} → {ids_after:?}");
    assert_eq!(ids_after.iter().collect::<std::collections::BTreeSet<_>>().len(), 1, "{ids_after:?}");
    let sealed_after = db.bytes("SELECT ciphertext FROM secrets WHERE name = 'OLD_USER'", "ciphertext").await;
    assert_eq!(sealed_after, sealed_before, "values are not re-encrypted");

    // The running server reads the new key file by itself.
    assert_eq!(value_of(&w.bob(), "OLD_USER").await, "old-user-value");
    assert_eq!(value_of(&w.bob(), "OLD_ORG").await, "old-org-value");
    assert_eq!(value_of(&w.dee(), "OLD_B").await, "old-b-value");
    put(&w.bob(), "NEW_USER", json!({"value": "new-user-value", "category": "tool"})).await;
    // A third organization's first secret: a data key wrapped by the new key.
    let eve = signup(&w.server, "eve@c.example.com", "Org C").await;
    let eve_api = w.server.with_bearer(&eve.token);
    put(&eve_api, "NEW_C", json!({"value": "new-c-value", "category": "tool", "orgWide": true})).await;
    let ids_now = db.strings("SELECT master_key_id FROM org_data_keys", "master_key_id").await;
    assert_eq!(ids_now.iter().collect::<std::collections::BTreeSet<_>>().len(), 1, "{ids_now:?}");

    // After a restart (only the new key on disk) old and new secrets reveal.
    w.server.restart();
    let eve_api = w.server.with_bearer(&eve.token);
    assert_eq!(value_of(&w.bob(), "OLD_USER").await, "old-user-value");
    assert_eq!(value_of(&w.bob(), "NEW_USER").await, "new-user-value");
    assert_eq!(value_of(&w.bob(), "OLD_ORG").await, "old-org-value");
    assert_eq!(value_of(&w.dee(), "OLD_B").await, "old-b-value");
    assert_eq!(value_of(&eve_api, "NEW_C").await, "new-c-value");

    // Again, to a key the operator supplies.
    let supplied = tempfile::tempdir().unwrap();
    let supplied_file = supplied.path().join("next.key");
    let supplied_key = "ab".repeat(32);
    std::fs::write(&supplied_file, format!("{supplied_key}\n")).unwrap();
    let out =
        run_cli(&["admin", "rotate-master-key", "--data-dir", &dir, "--new-key-file", supplied_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-wrapped 3 data key(s)"));
    // The data directory's key file now holds the supplied key (as base64).
    let now_key = read_master_key(&w.server);
    assert_ne!(now_key, new_key);
    assert_eq!(value_of(&w.bob(), "OLD_USER").await, "old-user-value");
    assert_eq!(value_of(&eve_api, "NEW_C").await, "new-c-value");
    w.server.restart();
    assert_eq!(value_of(&w.bob(), "NEW_USER").await, "new-user-value");
    assert_eq!(value_of(&w.dee(), "OLD_B").await, "old-b-value");
    db.close().await;

    // No key material in the log.
    let logs = w.server.logs();
    for k in [&old_key, &new_key, &now_key, &supplied_key] {
        assert!(!logs.contains(k.as_str()), "a master key in the log");
    }
}

/// `latchkey serve` on `data_dir` with extra environment, until it reports
/// its address or exits; returns (url, child) or the exit's stderr.
fn serve_with_env(data_dir: &std::path::Path, env: &[(&str, &str)], extra: &[&str]) -> Result<(String, Child), String> {
    use std::io::{BufRead, BufReader};
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut cmd: Command = cli(&args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(url) = line.strip_prefix("latchkey listening on ") {
            return Ok((url.to_owned(), child));
        }
    }
    let out = child.wait_with_output().unwrap();
    Err(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn the_master_key_comes_from_a_file_or_the_environment_and_nodes_must_share_it() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("operator.key");
    let key_b64 = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=";
    std::fs::write(&key_file, key_b64).unwrap();
    let server = TestServer::start_with(&["--master-key-file", key_file.to_str().unwrap()]).await;
    let data_dir = server.data_dir();
    let w = World::on(server).await;
    put(&w.ada(), "FROM_FILE", json!({"value": "file-keyed-value", "category": "tool", "orgWide": true})).await;
    assert!(!data_dir.join("master.key").exists(), "no key is created when one is given");
    let logs = w.server.logs();
    assert!(logs.contains("master key loaded") && logs.contains("operator.key"), "{logs}");
    assert!(logs.contains("readable by others"), "a 0644 key file is warned about: {logs}");
    let World { mut server, .. } = w;
    let token = server.admin.api_key.clone();

    // The same key from LATCHKEY_MASTER_KEY (hex works too).
    server.kill9();
    let hex_key: String = {
        let bytes = [
            0xab_u8, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
        ];
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    for key in [key_b64, hex_key.as_str()] {
        let (url, mut child) = serve_with_env(&data_dir, &[("LATCHKEY_MASTER_KEY", key)], &[]).unwrap();
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/secrets/FROM_FILE/reveal"))
            .header("X-API-Key", &token)
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["data"]["value"], "file-keyed-value", "{body}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(!data_dir.join("master.key").exists());

    // Both set: refused.
    let err = serve_with_env(
        &data_dir,
        &[("LATCHKEY_MASTER_KEY", key_b64)],
        &["--master-key-file", key_file.to_str().unwrap()],
    )
    .err()
    .unwrap();
    assert!(err.contains("not both"), "{err}");
    // A node with another key (here: a fresh master.key in its data
    // directory) refuses to start, naming both key ids.
    let err = serve_with_env(&data_dir, &[], &[]).err().unwrap();
    assert!(err.contains("every node") && err.contains("same master key"), "{err}");
    assert!(!err.contains(key_b64), "{err}");
    // Rotating with LATCHKEY_MASTER_KEY needs the new key given.
    let out = cli(&["admin", "rotate-master-key", "--data-dir", data_dir.to_str().unwrap()])
        .env("LATCHKEY_MASTER_KEY", key_b64)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--new-key-file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
