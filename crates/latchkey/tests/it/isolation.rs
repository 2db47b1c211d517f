//! Tenant isolation: another org's ids are 404 on every route, lists never
//! show them, and a member cannot do an admin's work (issue 4).

use serde_json::{Value, json};

use crate::common::{Api, Person, TestServer, ids, join_org, signup};

/// One request of a matrix: method, path, JSON body.
type Row = (&'static str, String, Option<Value>);

/// Two orgs, each with an admin, a member, a key and a project.
struct World {
    server: TestServer,
    /// Org A: the bootstrap org; its admin is the bootstrap key's owner.
    a_org: String,
    a_member: Person,
    a_key_id: String,
    a_key: String,
    a_member_key_id: String,
    a_project: String,
    a_invitation: String,
    /// Org B: made by a signup.
    b_admin: Person,
    b_member: Person,
    b_key_id: String,
    b_key: String,
    b_project: String,
}

impl World {
    async fn new() -> Self {
        let server = TestServer::start().await;
        let a_org = server.admin.org_id.clone();
        let ada = server.admin();
        let a_member = join_org(&server, &ada, &a_org, "bob@a.example.com", "member").await;
        let (a_key_id, a_key) = TestServer::create_key(&ada, json!({"name": "a-key"})).await;
        let bob = server.with_session_in_org(&a_member.token, &a_org);
        let (a_member_key_id, _) =
            TestServer::create_key(&bob, json!({"name": "bob-key", "scopes": ["sandbox:*"]})).await;
        let a_project = created_id(&ada, "/v1/projects", json!({"name": "a-project"})).await;
        let a_invitation =
            created_id(&ada, "/v1/invitations", json!({"email": "pending@a.example.com", "role": "member"})).await;

        let b_admin = signup(&server, "carl@b.example.com", "Org B").await;
        let carl = server.with_bearer(&b_admin.token);
        let b_member = join_org(&server, &carl, &b_admin.org_id, "dina@b.example.com", "member").await;
        let (b_key_id, b_key) = TestServer::create_key(&carl, json!({"name": "b-key", "scopes": ["*"]})).await;
        let b_project = created_id(&carl, "/v1/projects", json!({"name": "b-project"})).await;
        Self {
            server,
            a_org,
            a_member,
            a_key_id,
            a_key,
            a_member_key_id,
            a_project,
            a_invitation,
            b_admin,
            b_member,
            b_key_id,
            b_key,
            b_project,
        }
    }

    /// Everything of org A that org B must never see.
    fn a_secrets(&self) -> Vec<String> {
        let s = &self.server.admin;
        vec![
            self.a_org.clone(),
            s.user_id.clone(),
            s.api_key.clone(),
            "ada@example.com".to_owned(),
            self.a_member.user_id.clone(),
            self.a_member.email.clone(),
            self.a_member.session_id.clone(),
            self.a_member.org_id.clone(),
            self.a_key_id.clone(),
            self.a_key.clone(),
            self.a_member_key_id.clone(),
            self.a_project.clone(),
            self.a_invitation.clone(),
            "pending@a.example.com".to_owned(),
        ]
    }

    /// B's admin: session and `*` key.
    fn b_admins(&self) -> Vec<(&'static str, Api, bool)> {
        vec![
            ("B admin session", self.server.with_bearer(&self.b_admin.token), true),
            ("B admin key", self.server.with_key(&self.b_key), false),
        ]
    }
}

async fn created_id(api: &Api, path: &str, body: Value) -> String {
    let r = api.post(path, body).await;
    assert_eq!(r.status, 201, "POST {path}: {}", r.text);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn call(api: &Api, (method, path, body): &Row) -> crate::common::Resp {
    api.send(method.parse().unwrap(), path, body.as_ref().map(|b| b.to_string().into())).await
}

#[tokio::test]
async fn another_orgs_ids_are_not_found_on_every_route() {
    let w = World::new().await;
    let (key, member_key, prj, org) = (&w.a_key_id, &w.a_member_key_id, &w.a_project, &w.a_org);
    let (ada, bob, inv) = (&w.server.admin.user_id, &w.a_member.user_id, &w.a_invitation);
    let rows: Vec<Row> = vec![
        ("GET", format!("/v1/api-keys/{key}"), None),
        ("PATCH", format!("/v1/api-keys/{key}"), Some(json!({"name": "pwned"}))),
        ("POST", format!("/v1/api-keys/{key}/revoke"), None),
        ("POST", format!("/v1/api-keys/{key}/rotate"), Some(json!({}))),
        ("GET", format!("/v1/api-keys/{key}/usage"), None),
        ("POST", format!("/v1/api-keys/{key}/transfer"), Some(json!({"to": "org"}))),
        ("DELETE", format!("/v1/api-keys/{key}"), None),
        ("GET", format!("/v1/api-keys/{member_key}"), None),
        ("PATCH", format!("/v1/api-keys/{member_key}"), Some(json!({"name": "pwned"}))),
        ("POST", format!("/v1/api-keys/{member_key}/revoke"), None),
        ("POST", format!("/v1/api-keys/{member_key}/rotate"), Some(json!({}))),
        ("POST", format!("/v1/api-keys/{member_key}/transfer"), Some(json!({"to": "org"}))),
        ("DELETE", format!("/v1/api-keys/{member_key}"), None),
        ("POST", "/v1/api-keys".to_owned(), Some(json!({"name": "in-their-project", "projectId": prj}))),
        ("GET", format!("/v1/projects/{prj}"), None),
        ("PATCH", format!("/v1/projects/{prj}"), Some(json!({"name": "pwned"}))),
        ("DELETE", format!("/v1/projects/{prj}"), None),
        ("GET", format!("/v1/orgs/{org}"), None),
        ("PATCH", format!("/v1/orgs/{org}"), Some(json!({"name": "pwned"}))),
        ("PATCH", format!("/v1/orgs/{org}"), Some(json!({"membersSeeAllKeys": true}))),
        ("PATCH", format!("/v1/members/{bob}"), Some(json!({"role": "admin"}))),
        ("PATCH", format!("/v1/members/{ada}"), Some(json!({"role": "member"}))),
        ("DELETE", format!("/v1/members/{bob}"), None),
        ("DELETE", format!("/v1/members/{ada}"), None),
        ("DELETE", format!("/v1/invitations/{inv}"), None),
    ];
    // Routes only a session may call.
    let session_rows: Vec<Row> = vec![
        ("DELETE", format!("/v1/sessions/{}", w.a_member.session_id), None),
        ("POST", "/v1/me/org".to_owned(), Some(json!({"orgId": org}))),
    ];
    for (who, api, is_session) in w.b_admins() {
        let extra = if is_session { session_rows.clone() } else { Vec::new() };
        for row in rows.iter().chain(&extra) {
            let r = call(&api, row).await;
            let what = format!("{who}: {} {}", row.0, row.1);
            assert_eq!(r.status, 404, "{what}: {}", r.text);
            assert_eq!(r.error_code(), "not_found", "{what}");
        }
    }
    // B's member gets the same for what a member could otherwise read or do
    // (reads, and managing keys).
    let dina = w.server.with_session_in_org(&w.b_member.token, &w.b_admin.org_id);
    let member_rows =
        rows.iter().filter(|r| r.0 == "GET" || (r.1.starts_with("/v1/api-keys/") && !r.1.ends_with("/transfer")));
    for row in member_rows {
        let r = call(&dina, row).await;
        let what = format!("B member: {} {}", row.0, row.1);
        assert_eq!(r.status, 404, "{what}: {}", r.text);
        assert_eq!(r.error_code(), "not_found", "{what}");
    }

    // Nothing of A changed.
    let admin = w.server.admin();
    let k = admin.get(&format!("/v1/api-keys/{key}")).await;
    assert_eq!(
        (k.status, k.body["data"]["name"].as_str(), k.body["data"]["status"].as_str()),
        (200, Some("a-key"), Some("active")),
        "{}",
        k.text
    );
    assert_eq!(w.server.with_key(&w.a_key).get("/v1/me").await.status, 200);
    let mk = admin.get(&format!("/v1/api-keys/{member_key}")).await;
    assert_eq!(
        (mk.body["data"]["name"].as_str(), mk.body["data"]["status"].as_str()),
        (Some("bob-key"), Some("active")),
        "{}",
        mk.text
    );
    assert_eq!(mk.body["data"]["owner"], "user", "{}", mk.text);
    let p = admin.get(&format!("/v1/projects/{prj}")).await;
    assert_eq!((p.status, p.body["data"]["name"].as_str()), (200, Some("a-project")), "{}", p.text);
    let o = admin.get(&format!("/v1/orgs/{org}")).await;
    assert_eq!(
        (o.body["data"]["name"].as_str(), o.body["data"]["membersSeeAllKeys"].as_bool()),
        (Some("Acme"), Some(false)),
        "{}",
        o.text
    );
    let members = admin.get("/v1/members").await;
    let roles: Vec<(String, String)> = members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["userId"].as_str().unwrap().to_owned(), m["role"].as_str().unwrap().to_owned()))
        .collect();
    assert!(roles.contains(&(ada.clone(), "admin".to_owned())), "{roles:?}");
    assert!(roles.contains(&(bob.clone(), "member".to_owned())), "{roles:?}");
    assert_eq!(roles.len(), 2, "{roles:?}");
    assert_eq!(ids(&admin.get("/v1/invitations").await, "id"), vec![inv.clone()]);
    assert_eq!(w.server.with_bearer(&w.a_member.token).get("/v1/me").await.status, 200, "bob's session lives");
    assert_eq!(w.server.with_session_in_org(&w.a_member.token, org).get("/v1/me").await.status, 200);
    let keys = ids(&admin.get("/v1/api-keys?allOrg=true").await, "id");
    assert_eq!(keys.len(), 3, "bootstrap, a-key, bob-key; nothing added: {keys:?}");
}

#[tokio::test]
async fn naming_another_org_in_the_header_is_not_found() {
    let w = World::new().await;
    let s = &w.server;
    let cases = vec![
        ("B admin in A", s.with_session_in_org(&w.b_admin.token, &w.a_org)),
        ("B member in A", s.with_session_in_org(&w.b_member.token, &w.a_org)),
        ("A member in B", s.with_session_in_org(&w.a_member.token, &w.b_admin.org_id)),
        ("A member in B's member's own org", s.with_session_in_org(&w.a_member.token, &w.b_member.org_id)),
    ];
    let rows: Vec<Row> = vec![
        ("GET", "/v1/me".to_owned(), None),
        ("GET", "/v1/api-keys".to_owned(), None),
        ("GET", "/v1/projects".to_owned(), None),
        ("GET", "/v1/members".to_owned(), None),
        ("GET", "/v1/audit-events".to_owned(), None),
        ("POST", "/v1/projects".to_owned(), Some(json!({"name": "smuggled"}))),
        ("POST", "/v1/api-keys".to_owned(), Some(json!({"name": "smuggled", "scopes": ["sandbox:*"]}))),
        ("POST", "/v1/invitations".to_owned(), Some(json!({"email": "x@example.com", "role": "admin"}))),
    ];
    for (who, api) in cases {
        for row in &rows {
            let r = call(&api, row).await;
            let what = format!("{who}: {} {}", row.0, row.1);
            assert_eq!(r.status, 404, "{what}: {}", r.text);
            assert_eq!(r.error_code(), "not_found", "{what}");
        }
    }
    let projects = w.server.admin().get("/v1/projects").await;
    assert!(!projects.text.contains("smuggled"), "{}", projects.text);
    let keys = w.server.admin().get("/v1/api-keys?allOrg=true").await;
    assert!(!keys.text.contains("smuggled"), "{}", keys.text);
    let b_projects = w.server.with_bearer(&w.b_admin.token).get("/v1/projects").await;
    assert!(!b_projects.text.contains("smuggled"), "{}", b_projects.text);
    assert!(ids(&w.server.admin().get("/v1/invitations").await, "email").iter().all(|e| e != "x@example.com"));
}

#[tokio::test]
async fn lists_never_show_another_orgs_things() {
    let w = World::new().await;
    let s = &w.server;
    let mut paths = vec![
        "/v1/me".to_owned(),
        "/v1/api-keys".to_owned(),
        "/v1/api-keys?allOrg=true".to_owned(),
        "/v1/projects".to_owned(),
        "/v1/orgs".to_owned(),
        "/v1/members".to_owned(),
        "/v1/invitations".to_owned(),
        "/v1/audit-events?limit=100".to_owned(),
        format!("/v1/audit-events?targetId={}", w.a_key_id),
        format!("/v1/audit-events?actorId={}", w.a_member.user_id),
        format!("/v1/audit-events?actorId={}", w.server.admin.user_id),
    ];
    let mut callers = w.b_admins();
    callers.push(("B member session", s.with_session_in_org(&w.b_member.token, &w.b_admin.org_id), true));
    for (who, api, is_session) in callers {
        let admin = who.starts_with("B admin");
        let mut own = paths.clone();
        if is_session {
            own.push("/v1/sessions".to_owned());
        }
        for path in &own {
            let admin_only = path.contains("allOrg") || path.contains("invitations") || path.contains("audit-events");
            let r = api.get(path).await;
            if !admin && admin_only {
                assert_eq!(r.status, 403, "{who}: GET {path}: {}", r.text);
                continue;
            }
            assert_eq!(r.status, 200, "{who}: GET {path}: {}", r.text);
            for secret in w.a_secrets() {
                assert!(!r.text.contains(&secret), "{who}: GET {path} shows A's {secret}: {}", r.text);
            }
        }
    }
    // B's own things are there (the lists are not just empty).
    let carl = s.with_bearer(&w.b_admin.token);
    assert!(carl.get("/v1/api-keys?allOrg=true").await.text.contains(&w.b_key_id));
    assert!(carl.get("/v1/projects").await.text.contains(&w.b_project));
    assert!(carl.get("/v1/members").await.text.contains(&w.b_member.user_id));
    assert!(!ids(&carl.get("/v1/audit-events?limit=100").await, "id").is_empty());

    // And the other way round: A sees nothing of B.
    let b_things = [
        &w.b_admin.user_id,
        &w.b_admin.org_id,
        &w.b_member.user_id,
        &w.b_member.org_id,
        &w.b_key_id,
        &w.b_key,
        &w.b_project,
    ];
    paths.retain(|p| !p.contains("Id="));
    let ada = s.admin();
    let bob = s.with_session_in_org(&w.a_member.token, &w.a_org);
    for (who, api) in [("A admin key", &ada), ("A member session", &bob)] {
        for path in &paths {
            let r = api.get(path).await;
            if r.status == 403 && who == "A member session" {
                continue;
            }
            assert_eq!(r.status, 200, "{who}: GET {path}: {}", r.text);
            for t in b_things {
                assert!(!r.text.contains(t.as_str()), "{who}: GET {path} shows B's {t}: {}", r.text);
            }
        }
    }
}

#[tokio::test]
async fn verify_does_not_see_another_orgs_keys() {
    let w = World::new().await;
    let s = &w.server;
    let member_key = {
        let bob = s.with_session_in_org(&w.a_member.token, &w.a_org);
        TestServer::create_key(&bob, json!({"name": "bob-2", "scopes": ["sandbox:*"]})).await.1
    };
    let cases = [
        ("B key verifies A's key", s.with_key(&w.b_key), w.a_key.clone()),
        ("B key verifies A's bootstrap key", s.with_key(&w.b_key), s.admin.api_key.clone()),
        ("B key verifies A member's key", s.with_key(&w.b_key), member_key),
        ("A key verifies B's key", s.admin(), w.b_key.clone()),
    ];
    for (what, api, key) in cases {
        let r = api.post("/v1/keys/verify", json!({"key": key})).await;
        assert_eq!(r.status, 200, "{what}: {}", r.text);
        let d = &r.body["data"];
        assert_eq!((d["valid"].as_bool(), d["code"].as_str()), (Some(false), Some("NOT_FOUND")), "{what}: {d}");
        assert!(d["keyId"].is_null() && d["orgId"].is_null() && d["ownerUserId"].is_null(), "{what}: {d}");
    }
    // Sanity: each verifies its own.
    let own = s.with_key(&w.b_key).post("/v1/keys/verify", json!({"key": w.b_key})).await;
    assert_eq!(own.body["data"]["code"], "VALID", "{}", own.text);
    assert_eq!(own.body["data"]["orgId"], w.b_admin.org_id.as_str());
}

#[tokio::test]
async fn a_member_cannot_do_admin_work() {
    let w = World::new().await;
    let s = &w.server;
    let (org, ada, bob, inv) = (&w.a_org, &s.admin.user_id, &w.a_member.user_id, &w.a_invitation);
    let bob_key = &w.a_member_key_id;
    let member = s.with_session_in_org(&w.a_member.token, org);
    let rows: Vec<Row> = vec![
        ("POST", "/v1/invitations".to_owned(), Some(json!({"email": "friend@example.com", "role": "member"}))),
        ("POST", "/v1/invitations".to_owned(), Some(json!({"email": "friend@example.com", "role": "admin"}))),
        ("GET", "/v1/invitations".to_owned(), None),
        ("DELETE", format!("/v1/invitations/{inv}"), None),
        ("PATCH", format!("/v1/members/{bob}"), Some(json!({"role": "admin"}))),
        ("PATCH", format!("/v1/members/{ada}"), Some(json!({"role": "member"}))),
        ("DELETE", format!("/v1/members/{ada}"), None),
        ("GET", "/v1/audit-events".to_owned(), None),
        ("GET", format!("/v1/audit-events?actorId={bob}"), None),
        ("PATCH", format!("/v1/orgs/{org}"), Some(json!({"name": "Bob's now"}))),
        ("PATCH", format!("/v1/orgs/{org}"), Some(json!({"membersSeeAllKeys": true}))),
        ("GET", "/v1/api-keys?allOrg=true".to_owned(), None),
        ("POST", "/v1/api-keys".to_owned(), Some(json!({"name": "org-key", "owner": "org", "scopes": ["sandbox:*"]}))),
        ("POST", format!("/v1/api-keys/{bob_key}/transfer"), Some(json!({"to": "org"}))),
    ];
    for row in &rows {
        let r = call(&member, row).await;
        let what = format!("A member: {} {}", row.0, row.1);
        assert_eq!(r.status, 403, "{what}: {}", r.text);
        assert_eq!(r.error_code(), "forbidden", "{what}");
    }

    // Nothing changed.
    let admin = s.admin();
    let pending = admin.get("/v1/invitations").await;
    assert_eq!(ids(&pending, "id"), vec![inv.clone()], "{}", pending.text);
    let members = admin.get("/v1/members").await;
    for m in members.body["data"].as_array().unwrap() {
        let want = if m["userId"] == ada.as_str() { "admin" } else { "member" };
        assert_eq!(m["role"], want, "{m}");
    }
    assert_eq!(members.body["data"].as_array().unwrap().len(), 2);
    let o = admin.get(&format!("/v1/orgs/{org}")).await;
    assert_eq!(
        (o.body["data"]["name"].as_str(), o.body["data"]["membersSeeAllKeys"].as_bool()),
        (Some("Acme"), Some(false)),
        "{}",
        o.text
    );
    let k = admin.get(&format!("/v1/api-keys/{bob_key}")).await;
    assert_eq!(k.body["data"]["owner"], "user", "{}", k.text);
    let all = admin.get("/v1/api-keys?allOrg=true").await;
    assert!(!all.text.contains("org-key"), "{}", all.text);
    assert_eq!(all.body["data"].as_array().unwrap().len(), 3, "{}", all.text);

    // What a member may do still works.
    assert_eq!(member.get("/v1/members").await.status, 200);
    assert_eq!(member.get("/v1/api-keys").await.status, 200);
    assert_eq!(member.get(&format!("/v1/orgs/{org}")).await.status, 200);
    let own = member.post("/v1/api-keys", json!({"name": "fine", "scopes": ["sandbox:*"]})).await;
    assert_eq!(own.status, 201, "{}", own.text);
    // Leaving is the one member change a member may make, and only for themself.
    let leave = member.delete(&format!("/v1/members/{bob}")).await;
    assert_eq!(leave.status, 204, "{}", leave.text);
}
