//! Issue 4: users, sessions, organizations, members, invitations, roles
//! and the audit trail (`/tmp/issue4-spec.md`): sign-up, login and sessions
//! here; organizations, members and roles in `orgs`; the audit trail in `audit`.

mod audit;
mod orgs;

use serde_json::{Value, json};

use crate::common::{Api, PASSWORD, Resp, TestServer, ids, login, ms, now_ms, signup};

const DAY_MS: i64 = 86_400_000;

/// `POST /v1/keys/verify` as `api`, returning `data`.
async fn verify(api: &Api, body: Value) -> Value {
    let r = api.post("/v1/keys/verify", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

/// The key id behind an API-key client.
async fn key_id_of(api: &Api) -> String {
    let r = api.get("/v1/me").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"]["keyId"].as_str().unwrap().to_owned()
}

fn assert_error(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.error_code(), code, "{what}: {}", r.text);
}

// ---------------------------------------------------------------- signup

#[tokio::test]
async fn signup_creates_a_user_an_org_and_a_session() {
    let server = TestServer::start().await;
    let before = now_ms();
    let r = server
        .anonymous()
        .post(
            "/v1/auth/signup",
            json!({"email": "Bea.Smith@Example.COM", "password": PASSWORD, "displayName": "Bea", "orgName": "Bea Labs"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = &r.body["data"];
    let token = d["token"].as_str().unwrap();
    assert!(token.starts_with("lks_"), "{token}");
    assert!(d["sessionId"].as_str().unwrap().starts_with("ses_"), "{}", r.text);
    let ttl = ms(&d["expiresAt"]) - before;
    assert!((30 * DAY_MS - 60_000..=30 * DAY_MS + 60_000).contains(&ttl), "30 days by default: {ttl} ms");
    let user = &d["user"];
    assert!(user["id"].as_str().unwrap().starts_with("usr_"), "{}", r.text);
    assert_eq!(user["email"], "bea.smith@example.com", "email is lowercased");
    assert_eq!(user["displayName"], "Bea");
    let org = &d["org"];
    assert!(org["id"].as_str().unwrap().starts_with("org_"), "{}", r.text);
    assert_eq!(org["name"], "Bea Labs");
    assert!(org["slug"].as_str().is_some_and(|s| !s.is_empty()), "{}", r.text);
    assert_eq!(org["role"], "admin");
    ms(&org["createdAt"]);

    let me = server.with_bearer(token).get("/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    let m = &me.body["data"];
    assert_eq!(m["authType"], "session");
    assert_eq!(m["user"]["id"], user["id"]);
    assert_eq!(m["user"]["email"], "bea.smith@example.com");
    assert_eq!(m["org"]["id"], org["id"]);
    assert_eq!(m["role"], "admin");
    assert!(m["keyId"].is_null(), "a session has no key: {}", me.text);

    // The new org is separate from the bootstrap one.
    assert_ne!(org["id"], server.admin.org_id.as_str());
}

#[tokio::test]
async fn signup_refuses_bad_input_and_duplicates() {
    let server = TestServer::start().await;
    let anon = server.anonymous();
    let body = |email: &str, password: &str| json!({"email": email, "password": password, "displayName": "X", "orgName": format!("org of {email}")});
    let cases = vec![
        ("11-character password", body("short@example.com", "elevenchars")),
        ("empty password", body("short@example.com", "")),
        ("no @", body("not-an-email", PASSWORD)),
        ("empty email", body("", PASSWORD)),
        ("no domain", body("someone@", PASSWORD)),
        ("no local part", body("@example.com", PASSWORD)),
        ("spaces", body("some one@example.com", PASSWORD)),
        (
            "unknown field",
            json!({"email": "x@example.com", "password": PASSWORD, "displayName": "X", "orgName": "X", "role": "admin"}),
        ),
        ("missing orgName", json!({"email": "x@example.com", "password": PASSWORD, "displayName": "X"})),
    ];
    for (what, b) in cases {
        let r = anon.post("/v1/auth/signup", b).await;
        assert_error(&r, 400, "invalid_request", what);
    }
    // Exactly 12 characters is enough.
    let ok = anon.post("/v1/auth/signup", body("twelve@example.com", "twelve-chars")).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    // The same address again, in any case, is a conflict.
    for email in ["twelve@example.com", "TWELVE@example.com"] {
        let r = anon.post("/v1/auth/signup", body(email, PASSWORD)).await;
        assert_error(&r, 409, "conflict", email);
    }
    // The refused signups created nobody: their addresses can still sign up.
    let r = anon.post("/v1/auth/signup", body("short@example.com", PASSWORD)).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn signup_and_session_lifetime_come_from_the_config() {
    let mut server = TestServer::start().await;
    signup(&server, "early@example.com", "Early Co").await;
    std::fs::write(server.data_dir().join("latchkey.toml"), "signup = false\nsession_ttl = \"1h\"\n").unwrap();
    server.restart();
    let r = server
        .anonymous()
        .post(
            "/v1/auth/signup",
            json!({"email": "nope@example.com", "password": PASSWORD, "displayName": "N", "orgName": "N"}),
        )
        .await;
    assert_error(&r, 403, "signup_disabled", "signup = false");
    assert_eq!(server.admin().get("/v1/me").await.status, 200);
    // Existing users still log in, with the configured lifetime.
    let before = now_ms();
    let l = login(&server, "early@example.com", PASSWORD).await;
    assert_eq!(l.status, 200, "{}", l.text);
    let ttl = ms(&l.body["data"]["expiresAt"]) - before;
    assert!((3_600_000 - 60_000..=3_600_000 + 60_000).contains(&ttl), "session_ttl = 1h: {ttl} ms");
}

// ----------------------------------------------------------------- login

#[tokio::test]
async fn login_returns_a_new_session_and_never_says_which_part_was_wrong() {
    let server = TestServer::start().await;
    let p = signup(&server, "lena@example.com", "Lena Co").await;
    let r = login(&server, "lena@example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.body["data"];
    let token = d["token"].as_str().unwrap();
    assert!(token.starts_with("lks_"), "{token}");
    assert_ne!(token, p.token);
    assert!(d["sessionId"].as_str().unwrap().starts_with("ses_"));
    assert_ne!(d["sessionId"], p.session_id.as_str());
    ms(&d["expiresAt"]);
    assert_eq!(d["user"]["id"], p.user_id.as_str());
    assert_eq!(d["user"]["email"], "lena@example.com");
    let me = server.with_bearer(token).get("/v1/me").await;
    assert_eq!((me.status, me.body["data"]["authType"].as_str()), (200, Some("session")), "{}", me.text);
    assert_eq!(me.body["data"]["org"]["id"], p.org_id.as_str());

    let wrong_password = login(&server, "lena@example.com", "not-the-password-at-all").await;
    let unknown_email = login(&server, "nobody@example.com", PASSWORD).await;
    for (what, r) in [("wrong password", &wrong_password), ("unknown email", &unknown_email)] {
        assert_error(r, 401, "unauthorized", what);
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.to_lowercase().contains("invalid email or password"), "{what}: {msg}");
    }
    assert_eq!(wrong_password.body, unknown_email.body, "the same answer for both");
}

#[tokio::test]
async fn five_failed_logins_lock_the_email_even_for_the_right_password() {
    let server = TestServer::start().await;
    signup(&server, "mo@example.com", "Mo Co").await;
    signup(&server, "nell@example.com", "Nell Co").await;
    for i in 0..5 {
        let r = login(&server, "mo@example.com", "wrong-password-guess").await;
        assert_error(&r, 401, "unauthorized", &format!("failure {}", i + 1));
    }
    let r = login(&server, "mo@example.com", PASSWORD).await;
    assert_error(&r, 429, "rate_limited", "sixth attempt with the right password");
    let retry: u64 = r.headers.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry after {retry} s");
    // Another email from the same address is not locked.
    let other = login(&server, "nell@example.com", PASSWORD).await;
    assert_eq!(other.status, 200, "{}", other.text);
}

#[tokio::test]
async fn twenty_failed_logins_from_one_address_lock_that_address() {
    let server = TestServer::start().await;
    for i in 0..20 {
        let r = login(&server, &format!("ghost{i}@example.com"), "wrong-password-guess").await;
        assert_error(&r, 401, "unauthorized", &format!("failure {}", i + 1));
    }
    let r = login(&server, "ghost-last@example.com", "wrong-password-guess").await;
    assert_error(&r, 429, "rate_limited", "21st failure from the address");
    assert!(r.headers.contains_key("retry-after"));
}

// -------------------------------------------------------------- sessions

#[tokio::test]
async fn logout_ends_the_session_and_needs_a_session() {
    let server = TestServer::start().await;
    let p = signup(&server, "olga@example.com", "Olga Co").await;
    let second = login(&server, "olga@example.com", PASSWORD).await.body["data"]["token"].as_str().unwrap().to_owned();
    let api = server.with_bearer(&p.token);
    assert_eq!(api.get("/v1/me").await.status, 200);
    let r = api.post_empty("/v1/auth/logout").await;
    assert_eq!(r.status, 204, "{}", r.text);
    let after = api.get("/v1/me").await;
    assert_error(&after, 401, "unauthorized", "token after logout");
    assert_eq!(server.with_bearer(&second).get("/v1/me").await.status, 200, "other sessions live on");

    let key = server.admin().post_empty("/v1/auth/logout").await;
    assert_error(&key, 403, "forbidden", "logout with an API key");
    assert_eq!(server.admin().get("/v1/me").await.status, 200);
    let anon = server.anonymous().post_empty("/v1/auth/logout").await;
    assert_error(&anon, 401, "unauthorized", "logout without credentials");
}

#[tokio::test]
async fn sessions_lists_own_sessions_and_revokes_them() {
    let server = TestServer::start().await;
    let p = signup(&server, "pia@example.com", "Pia Co").await;
    let l2 = login(&server, "pia@example.com", PASSWORD).await;
    let l3 = login(&server, "pia@example.com", PASSWORD).await;
    let (t2, s2) = (l2.body["data"]["token"].as_str().unwrap(), l2.body["data"]["sessionId"].as_str().unwrap());
    let (t3, s3) = (l3.body["data"]["token"].as_str().unwrap(), l3.body["data"]["sessionId"].as_str().unwrap());
    let other = signup(&server, "quin@example.com", "Quin Co").await;

    let api = server.with_bearer(&p.token);
    let r = api.get("/v1/sessions").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.body["data"].as_array().unwrap();
    let mut seen = ids(&r, "id");
    seen.sort();
    let mut want = vec![p.session_id.clone(), s2.to_owned(), s3.to_owned()];
    want.sort();
    assert_eq!(seen, want, "exactly the caller's own sessions: {}", r.text);
    assert!(!r.text.contains(&other.session_id), "another user's session listed");
    for s in list {
        for field in ["id", "createdAt", "expiresAt", "lastUsedAt", "ip", "userAgent", "current"] {
            assert!(s.get(field).is_some(), "{field} missing: {s}");
        }
        assert_eq!(s["current"], s["id"] == p.session_id.as_str(), "current marks the caller's session: {s}");
    }
    let created: Vec<i64> = list.iter().map(|s| ms(&s["createdAt"])).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first: {created:?}");
    assert!(r.body.get("nextCursor").is_some(), "paged: {}", r.text);
    // Paging.
    let page1 = api.get("/v1/sessions?limit=2").await;
    assert_eq!(page1.body["data"].as_array().unwrap().len(), 2, "{}", page1.text);
    let cursor = page1.body["nextCursor"].as_str().expect("a next page").to_owned();
    let page2 = api.get(&format!("/v1/sessions?limit=2&cursor={cursor}")).await;
    assert_eq!(page2.body["data"].as_array().unwrap().len(), 1, "{}", page2.text);
    assert!(page2.body["nextCursor"].is_null());
    let mut paged = ids(&page1, "id");
    paged.extend(ids(&page2, "id"));
    paged.sort();
    assert_eq!(paged, want);
    let from_t3 = server.with_bearer(t3).get("/v1/sessions").await;
    let current: Vec<&Value> =
        from_t3.body["data"].as_array().unwrap().iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{}", from_t3.text);
    assert_eq!(current[0]["id"], s3, "current follows the token used");

    // Someone else's session is not there to delete.
    let r = api.delete(&format!("/v1/sessions/{}", other.session_id)).await;
    assert_error(&r, 404, "not_found", "another user's session");
    assert_eq!(server.with_bearer(&other.token).get("/v1/me").await.status, 200, "still signed in");
    let r = api.delete("/v1/sessions/ses_01aaaaaaaaaaaaaaaaaaaaaaaa").await;
    assert_error(&r, 404, "not_found", "unknown session");

    // Revoking one of one's own sessions ends it at once.
    assert_eq!(server.with_bearer(t2).get("/v1/me").await.status, 200);
    let r = api.delete(&format!("/v1/sessions/{s2}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(&server.with_bearer(t2).get("/v1/me").await, 401, "unauthorized", "revoked session");
    assert_eq!(api.get("/v1/me").await.status, 200);
    assert_eq!(server.with_bearer(t3).get("/v1/me").await.status, 200);
    let left = ids(&api.get("/v1/sessions").await, "id");
    assert!(!left.contains(&s2.to_owned()), "revoked session still listed: {left:?}");
    assert_eq!(left.len(), 2);

    // API keys have no sessions.
    assert_error(&server.admin().get("/v1/sessions").await, 403, "forbidden", "GET /v1/sessions with an API key");
    assert_error(&server.anonymous().get("/v1/sessions").await, 401, "unauthorized", "GET /v1/sessions anonymous");
}

// ------------------------------------------------------ bodies and routes

#[tokio::test]
async fn new_lists_and_bodies_are_validated() {
    let server = TestServer::start().await;
    let p = signup(&server, "ida@example.com", "Ida Co").await;
    let api = server.with_bearer(&p.token);
    for list in ["/v1/sessions", "/v1/orgs", "/v1/members", "/v1/invitations", "/v1/audit-events"] {
        assert_eq!(api.get(&format!("{list}?limit=100")).await.status, 200, "{list}");
        for bad in ["limit=0", "limit=101", "limit=x"] {
            let r = api.get(&format!("{list}?{bad}")).await;
            assert_error(&r, 400, "invalid_request", &format!("{list}?{bad}"));
        }
    }
    let (key_id, _) = TestServer::create_key(&api, json!({"name": "k", "scopes": ["sandbox:*"]})).await;
    let rows: Vec<(&str, String, Value)> = vec![
        ("POST", "/v1/auth/login".to_owned(), json!({"email": p.email, "password": PASSWORD, "remember": true})),
        ("POST", "/v1/orgs".to_owned(), json!({"name": "x", "plan": "pro"})),
        ("PATCH", format!("/v1/orgs/{}", p.org_id), json!({"owner": "me"})),
        ("POST", "/v1/me/org".to_owned(), json!({"orgId": p.org_id, "sticky": true})),
        ("PATCH", format!("/v1/members/{}", p.user_id), json!({"role": "admin", "title": "boss"})),
        ("POST", "/v1/invitations".to_owned(), json!({"email": "x@example.com", "role": "member", "note": "hi"})),
        ("POST", format!("/v1/api-keys/{key_id}/transfer"), json!({"to": "org", "why": "because"})),
    ];
    for (method, path, body) in rows {
        let r = api.send(method.parse().unwrap(), &path, Some(body.to_string().into())).await;
        assert_error(&r, 400, "invalid_request", &format!("unknown field: {method} {path}"));
    }
    // Nothing of that happened.
    assert_eq!(ids(&api.get("/v1/orgs").await, "id"), vec![p.org_id.clone()]);
    assert!(ids(&api.get("/v1/invitations").await, "id").is_empty());
    assert_eq!(api.get(&format!("/v1/api-keys/{key_id}")).await.body["data"]["owner"], "user");
}

#[tokio::test]
async fn new_routes_need_credentials() {
    let server = TestServer::start().await;
    let anon = server.anonymous();
    for (method, path) in [
        ("GET", "/v1/sessions"),
        ("DELETE", "/v1/sessions/ses_01aaaaaaaaaaaaaaaaaaaaaaaa"),
        ("GET", "/v1/orgs"),
        ("POST", "/v1/orgs"),
        ("POST", "/v1/me/org"),
        ("GET", "/v1/members"),
        ("GET", "/v1/invitations"),
        ("POST", "/v1/invitations"),
        ("POST", "/v1/invitations/lki_x/accept"),
        ("GET", "/v1/audit-events"),
    ] {
        let body = (method == "POST").then(|| json!({}).to_string().into());
        let r = anon.send(method.parse().unwrap(), path, body).await;
        assert_error(&r, 401, "unauthorized", &format!("{method} {path}"));
    }
}
