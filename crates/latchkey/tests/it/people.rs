//! Issue 4: users, sessions, organizations, members, invitations, roles
//! and the audit trail (`/tmp/issue4-spec.md`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, PASSWORD, Resp, TestServer, ids, join_org, login, ms, now_ms, request_id, signup};

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

// ------------------------------------------------------------------ orgs

#[tokio::test]
async fn a_user_can_create_select_and_switch_orgs() {
    let server = TestServer::start().await;
    let p = signup(&server, "ravi@example.com", "Ravi Home").await;
    let api = server.with_bearer(&p.token);

    let r = api.post("/v1/orgs", json!({"name": "Ravi Second", "slug": "ravi-second"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let second = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert!(second.starts_with("org_"));
    assert_eq!(r.body["data"]["name"], "Ravi Second");
    assert_eq!(r.body["data"]["slug"], "ravi-second");
    let dup = api.post("/v1/orgs", json!({"name": "Another", "slug": "ravi-second"})).await;
    assert_error(&dup, 409, "conflict", "duplicate slug");
    assert_error(
        &server.admin().post("/v1/orgs", json!({"name": "By key"})).await,
        403,
        "forbidden",
        "POST /v1/orgs with an API key",
    );

    // Both orgs listed, admin of both.
    let orgs = api.get("/v1/orgs").await;
    assert_eq!(orgs.status, 200, "{}", orgs.text);
    let list = orgs.body["data"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", orgs.text);
    for o in list {
        assert!(o["id"] == p.org_id.as_str() || o["id"] == second.as_str(), "{o}");
        assert_eq!(o["role"], "admin", "{o}");
        for field in ["name", "slug", "createdAt"] {
            assert!(o.get(field).is_some(), "{field} missing: {o}");
        }
    }
    // An API key sees only its own org.
    let key_orgs = server.admin().get("/v1/orgs").await;
    assert_eq!(ids(&key_orgs, "id"), vec![server.admin.org_id.clone()], "{}", key_orgs.text);

    // The org view, default policy.
    let view = api.get(&format!("/v1/orgs/{second}")).await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.body["data"]["membersSeeAllKeys"], false);
    let renamed = api.patch(&format!("/v1/orgs/{second}"), json!({"name": "Ravi Two"})).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["data"]["name"], "Ravi Two");
    assert_error(&api.get(&format!("/v1/orgs/{}", server.admin.org_id)).await, 404, "not_found", "GET another org");

    // Without the header: the signup org. With it: the named one.
    assert_eq!(api.get("/v1/me").await.body["data"]["org"]["id"], p.org_id.as_str());
    let in_second = server.with_session_in_org(&p.token, &second);
    let me = in_second.get("/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["data"]["org"]["id"], second.as_str());
    assert_eq!(me.body["data"]["role"], "admin");
    // Resources land in the org acted in.
    let prj = in_second.post("/v1/projects", json!({"name": "second-only"})).await;
    assert_eq!(prj.status, 201, "{}", prj.text);
    let prj_id = prj.body["data"]["id"].as_str().unwrap();
    assert!(!api.get("/v1/projects").await.text.contains(prj_id), "project leaked into the signup org");
    assert!(in_second.get("/v1/projects").await.text.contains(prj_id));
    // A foreign org in the header is unknown.
    let foreign = server.with_session_in_org(&p.token, &server.admin.org_id);
    assert_error(&foreign.get("/v1/me").await, 404, "not_found", "X-Latchkey-Org of a non-member org");
    assert_error(&foreign.get("/v1/projects").await, 404, "not_found", "X-Latchkey-Org of a non-member org");

    // Switching the session's current org.
    let sw = api.post("/v1/me/org", json!({"orgId": second})).await;
    assert_eq!(sw.status, 200, "{}", sw.text);
    assert_eq!(sw.body["data"]["id"], second.as_str());
    assert_eq!(sw.body["data"]["role"], "admin");
    for field in ["name", "slug", "createdAt"] {
        assert!(sw.body["data"].get(field).is_some(), "{field} missing: {}", sw.text);
    }
    assert_eq!(api.get("/v1/me").await.body["data"]["org"]["id"], second.as_str(), "now the current org");
    let bad = api.post("/v1/me/org", json!({"orgId": server.admin.org_id})).await;
    assert_error(&bad, 404, "not_found", "switch to a non-member org");
    assert_eq!(api.get("/v1/me").await.body["data"]["org"]["id"], second.as_str(), "unchanged by the refusal");
}

// ------------------------------------------------- members, invitations

#[tokio::test]
async fn invitations_let_the_invited_person_join() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org_a = server.admin.org_id.clone();
    let before = now_ms();
    let inv = admin.post("/v1/invitations", json!({"email": "sam@example.com", "role": "member"})).await;
    assert_eq!(inv.status, 201, "{}", inv.text);
    let d = &inv.body["data"];
    let inv_id = d["id"].as_str().unwrap().to_owned();
    let token = d["token"].as_str().unwrap().to_owned();
    assert!(inv_id.starts_with("inv_"), "{inv_id}");
    assert!(token.starts_with("lki_"), "{token}");
    assert_eq!(d["email"], "sam@example.com");
    assert_eq!(d["role"], "member");
    let ttl = ms(&d["expiresAt"]) - before;
    assert!((7 * DAY_MS - 60_000..=7 * DAY_MS + 60_000).contains(&ttl), "7 days: {ttl} ms");

    let pending = admin.get("/v1/invitations").await;
    assert_eq!(pending.status, 200, "{}", pending.text);
    assert_eq!(ids(&pending, "id"), vec![inv_id.clone()]);
    let p0 = &pending.body["data"][0];
    assert_eq!((p0["email"].as_str(), p0["role"].as_str()), (Some("sam@example.com"), Some("member")));
    ms(&p0["createdAt"]);
    assert!(!pending.text.contains(&token), "the token is never listed: {}", pending.text);

    // Someone with another email cannot use it.
    let tess = signup(&server, "tess@example.com", "Tess Co").await;
    let r = server.with_bearer(&tess.token).post_empty(&format!("/v1/invitations/{token}/accept")).await;
    assert_error(&r, 403, "forbidden", "accept by a user with another email");
    assert_error(
        &server.with_session_in_org(&tess.token, &org_a).get("/v1/me").await,
        404,
        "not_found",
        "tess did not join",
    );

    // The invited person signs up and accepts.
    let sam = signup(&server, "sam@example.com", "Sam Co").await;
    let r = server.with_bearer(&sam.token).post_empty(&format!("/v1/invitations/{token}/accept")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["id"], org_a.as_str());
    assert_eq!(r.body["data"]["role"], "member");
    for field in ["name", "slug", "createdAt"] {
        assert!(r.body["data"].get(field).is_some(), "{field} missing: {}", r.text);
    }
    let members = admin.get("/v1/members").await;
    assert_eq!(members.status, 200, "{}", members.text);
    let list = members.body["data"].as_array().unwrap();
    let sam_row = list.iter().find(|m| m["userId"] == sam.user_id.as_str()).expect("sam listed");
    assert_eq!(sam_row["email"], "sam@example.com");
    assert_eq!(sam_row["role"], "member");
    ms(&sam_row["joinedAt"]);
    assert!(sam_row.get("displayName").is_some());
    let ada = list.iter().find(|m| m["userId"] == server.admin.user_id.as_str()).expect("ada listed");
    assert_eq!(ada["role"], "admin");
    assert!(!members.text.contains(&tess.user_id), "tess is not a member");
    assert_eq!(admin.get("/v1/members?limit=1").await.body["data"].as_array().unwrap().len(), 1);

    // Sam acts in the org as a member.
    let sam_a = server.with_session_in_org(&sam.token, &org_a);
    let me = sam_a.get("/v1/me").await;
    assert_eq!(
        (me.body["data"]["org"]["id"].as_str(), me.body["data"]["role"].as_str()),
        (Some(&*org_a), Some("member"))
    );
    assert!(ids(&sam_a.get("/v1/members").await, "userId").contains(&sam.user_id), "members may list members");
    let orgs = ids(&server.with_bearer(&sam.token).get("/v1/orgs").await, "id");
    assert!(orgs.contains(&org_a) && orgs.contains(&sam.org_id), "{orgs:?}");

    // The token is one-time; accepted invitations are no longer pending.
    let again = server.with_bearer(&sam.token).post_empty(&format!("/v1/invitations/{token}/accept")).await;
    assert_error(&again, 404, "not_found", "token reuse");
    assert!(ids(&admin.get("/v1/invitations").await, "id").is_empty());
    let unknown = server.with_bearer(&sam.token).post_empty("/v1/invitations/lki_nothing_like_this/accept").await;
    assert_error(&unknown, 404, "not_found", "unknown token");

    // Members cannot invite.
    let r = sam_a.post("/v1/invitations", json!({"email": "uma@example.com", "role": "member"})).await;
    assert_error(&r, 403, "forbidden", "member inviting");

    // A deleted invitation cannot be accepted.
    let inv2 = admin.post("/v1/invitations", json!({"email": "uma@example.com", "role": "admin"})).await;
    assert_eq!(inv2.status, 201, "{}", inv2.text);
    let (inv2_id, token2) =
        (inv2.body["data"]["id"].as_str().unwrap().to_owned(), inv2.body["data"]["token"].as_str().unwrap().to_owned());
    assert_eq!(admin.delete(&format!("/v1/invitations/{inv2_id}")).await.status, 204);
    assert!(ids(&admin.get("/v1/invitations").await, "id").is_empty());
    let uma = signup(&server, "uma@example.com", "Uma Co").await;
    let r = server.with_bearer(&uma.token).post_empty(&format!("/v1/invitations/{token2}/accept")).await;
    assert_error(&r, 404, "not_found", "deleted invitation");

    // Inviting someone who is already a member: refused now or at accept.
    let inv3 = admin.post("/v1/invitations", json!({"email": "sam@example.com", "role": "member"})).await;
    if inv3.status == 201 {
        let t3 = inv3.body["data"]["token"].as_str().unwrap();
        let r = server.with_bearer(&sam.token).post_empty(&format!("/v1/invitations/{t3}/accept")).await;
        assert_eq!(r.status, 409, "already a member: {}", r.text);
    } else {
        assert_eq!(inv3.status, 409, "{}", inv3.text);
    }

    // Bad invitations.
    for bad in [
        json!({"email": "x@example.com", "role": "owner"}),
        json!({"email": "not-an-email", "role": "member"}),
        json!({"email": "x@example.com", "role": "member", "extra": true}),
    ] {
        let r = admin.post("/v1/invitations", bad.clone()).await;
        assert_error(&r, 400, "invalid_request", &bad.to_string());
    }
}

#[tokio::test]
async fn the_last_admin_can_be_neither_demoted_nor_removed() {
    let server = TestServer::start().await;
    let vic = signup(&server, "vic@example.com", "Vic Co").await;
    let vic_api = server.with_bearer(&vic.token);
    let org = vic.org_id.clone();

    let r = vic_api.patch(&format!("/v1/members/{}", vic.user_id), json!({"role": "member"})).await;
    assert_error(&r, 409, "last_admin", "demote the only admin");
    let r = vic_api.delete(&format!("/v1/members/{}", vic.user_id)).await;
    assert_error(&r, 409, "last_admin", "remove the only admin");
    assert_eq!(vic_api.get("/v1/me").await.body["data"]["role"], "admin");

    // With a second admin, the first may step down.
    let wes = join_org(&server, &vic_api, &org, "wes@example.com", "admin").await;
    let wes_api = server.with_session_in_org(&wes.token, &org);
    let r = vic_api.patch(&format!("/v1/members/{}", vic.user_id), json!({"role": "member"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["userId"], vic.user_id.as_str());
    assert_eq!(r.body["data"]["role"], "member");
    assert_eq!(vic_api.get("/v1/me").await.body["data"]["role"], "member");
    // Now wes is the last admin.
    let r = wes_api.patch(&format!("/v1/members/{}", wes.user_id), json!({"role": "member"})).await;
    assert_error(&r, 409, "last_admin", "demote the new last admin");
    let r = wes_api.delete(&format!("/v1/members/{}", wes.user_id)).await;
    assert_error(&r, 409, "last_admin", "the last admin leaving");
    // Vic, now a member, cannot change roles.
    let r = vic_api.patch(&format!("/v1/members/{}", wes.user_id), json!({"role": "member"})).await;
    assert_error(&r, 403, "forbidden", "member changing roles");
    let r = wes_api.patch(&format!("/v1/members/{}", vic.user_id), json!({"role": "owner"})).await;
    assert_error(&r, 400, "invalid_request", "unknown role");

    // A member may leave by themself.
    let r = vic_api.delete(&format!("/v1/members/{}", vic.user_id)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let members = ids(&wes_api.get("/v1/members").await, "userId");
    assert_eq!(members, vec![wes.user_id.clone()]);
    let vic_in_org = server.with_session_in_org(&vic.token, &org);
    assert_error(&vic_in_org.get("/v1/me").await, 404, "not_found", "vic left the org");
    let r = wes_api.delete("/v1/members/usr_01aaaaaaaaaaaaaaaaaaaaaaaa").await;
    assert_error(&r, 404, "not_found", "unknown member");
}

// ------------------------------------------------------------------ roles

#[tokio::test]
async fn a_member_cannot_mint_admin_scopes() {
    let server = TestServer::start().await;
    let org_a = server.admin.org_id.clone();
    let xan = join_org(&server, &server.admin(), &org_a, "xan@example.com", "member").await;
    let api = server.with_session_in_org(&xan.token, &org_a);
    for scopes in [
        json!(["*"]),
        json!(["org:*"]),
        json!(["org:write"]),
        json!(["org:members"]),
        json!(["admin:*"]),
        json!(["admin:resources"]),
        json!(["sandbox:*", "org:write"]),
    ] {
        let r = api.post("/v1/api-keys", json!({"name": "escalate", "scopes": scopes})).await;
        assert_error(&r, 403, "insufficient_scope", &format!("member minting {scopes}"));
    }
    let r = api.post("/v1/api-keys", json!({"name": "mine", "scopes": ["sandbox:*"]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = &r.body["data"];
    assert_eq!(d["owner"], "user");
    assert_eq!(d["ownerUserId"], xan.user_id.as_str());
    assert_eq!(d["createdBy"], json!({"type": "user", "id": xan.user_id}));
    let key = d["key"].as_str().unwrap();
    let me = server.with_key(key).get("/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["data"]["org"]["id"], org_a.as_str());
    assert_eq!(me.body["data"]["role"], "member");
    let r = api.post("/v1/api-keys", json!({"name": "reader", "scopes": ["org:read"]})).await;
    assert_eq!(r.status, 201, "members may hold org:read: {}", r.text);
    // A member's key cannot mint admin scopes either.
    let r = server.with_key(key).post("/v1/api-keys", json!({"name": "x", "scopes": ["org:write"]})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Only the two allowed keys were stored.
    let mine = api.get("/v1/api-keys").await;
    assert_eq!(mine.body["data"].as_array().unwrap().len(), 2, "{}", mine.text);
}

#[tokio::test]
async fn members_see_their_own_keys_unless_the_org_lets_them_see_all() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org_a = server.admin.org_id.clone();
    let yara = join_org(&server, &admin, &org_a, "yara@example.com", "member").await;
    let zed = join_org(&server, &admin, &org_a, "zed@example.com", "member").await;
    let yara_api = server.with_session_in_org(&yara.token, &org_a);
    let zed_api = server.with_session_in_org(&zed.token, &org_a);
    let (admin_key, _) = TestServer::create_key(&admin, json!({"name": "admin-key"})).await;
    let (yara_key, _) = TestServer::create_key(&yara_api, json!({"name": "yara-key", "scopes": ["sandbox:*"]})).await;
    let (zed_key, _) = TestServer::create_key(&zed_api, json!({"name": "zed-key", "scopes": ["sandbox:*"]})).await;

    let own = yara_api.get("/v1/api-keys").await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(ids(&own, "id"), vec![yara_key.clone()], "a member sees only their own keys");
    let all = yara_api.get("/v1/api-keys?allOrg=true").await;
    assert_error(&all, 403, "forbidden", "member asking allOrg");

    // Another member's key is not there for a member.
    for (method, path, body) in [
        ("GET", format!("/v1/api-keys/{zed_key}"), None),
        ("PATCH", format!("/v1/api-keys/{zed_key}"), Some(json!({"name": "mine now"}))),
        ("POST", format!("/v1/api-keys/{zed_key}/revoke"), None),
        ("POST", format!("/v1/api-keys/{zed_key}/rotate"), Some(json!({}))),
        ("DELETE", format!("/v1/api-keys/{zed_key}"), None),
        ("GET", format!("/v1/api-keys/{admin_key}"), None),
        ("POST", format!("/v1/api-keys/{admin_key}/revoke"), None),
    ] {
        let r = yara_api.send(method.parse().unwrap(), &path, body.map(|b: Value| b.to_string().into())).await;
        assert_error(&r, 404, "not_found", &format!("member: {method} {path}"));
    }
    let z = admin.get(&format!("/v1/api-keys/{zed_key}")).await;
    assert_eq!((z.body["data"]["name"].as_str(), z.body["data"]["status"].as_str()), (Some("zed-key"), Some("active")));
    // Their own key they manage.
    let r = yara_api.patch(&format!("/v1/api-keys/{yara_key}"), json!({"name": "yara-renamed"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(yara_api.get(&format!("/v1/api-keys/{yara_key}")).await.status, 200);

    // Admins: their own keys by default, every key with allOrg.
    let own = ids(&admin.get("/v1/api-keys").await, "id");
    assert!(own.contains(&admin_key) && !own.contains(&yara_key) && !own.contains(&zed_key), "{own:?}");
    let all = ids(&admin.get("/v1/api-keys?allOrg=true").await, "id");
    assert!(all.contains(&admin_key) && all.contains(&yara_key) && all.contains(&zed_key), "{all:?}");

    // The org policy opens the full list to members.
    let r = admin.patch(&format!("/v1/orgs/{org_a}"), json!({"membersSeeAllKeys": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["membersSeeAllKeys"], true);
    assert_eq!(admin.get(&format!("/v1/orgs/{org_a}")).await.body["data"]["membersSeeAllKeys"], true);
    let all = yara_api.get("/v1/api-keys?allOrg=true").await;
    assert_eq!(all.status, 200, "{}", all.text);
    let all = ids(&all, "id");
    assert!(all.contains(&admin_key) && all.contains(&yara_key) && all.contains(&zed_key), "{all:?}");
    // Seeing is not managing.
    let r = yara_api.delete(&format!("/v1/api-keys/{zed_key}")).await;
    assert!(matches!(r.status, 403 | 404), "{}", r.text);
    assert_eq!(admin.get(&format!("/v1/api-keys/{zed_key}")).await.status, 200);
}

#[tokio::test]
async fn demoting_an_admin_narrows_their_keys() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org_a = server.admin.org_id.clone();
    let bo = join_org(&server, &admin, &org_a, "bo@example.com", "admin").await;
    let bo_api = server.with_session_in_org(&bo.token, &org_a);
    let (_, bo_key) = TestServer::create_key(&bo_api, json!({"name": "bo-all", "scopes": ["*"]})).await;
    let bo_key_api = server.with_key(&bo_key);
    let r = bo_key_api.post("/v1/invitations", json!({"email": "first@example.com", "role": "member"})).await;
    assert_eq!(r.status, 201, "an admin's * key may invite: {}", r.text);
    assert_eq!(verify(&admin, json!({"key": bo_key, "scopes": ["org:write"]})).await["code"], "VALID");

    let r = admin.patch(&format!("/v1/members/{}", bo.user_id), json!({"role": "member"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["role"], "member");

    let r = bo_key_api.post("/v1/invitations", json!({"email": "second@example.com", "role": "member"})).await;
    assert_eq!(r.status, 403, "a demoted admin's * key may not invite: {}", r.text);
    let r = bo_api.post("/v1/invitations", json!({"email": "third@example.com", "role": "member"})).await;
    assert_error(&r, 403, "forbidden", "demoted admin's session inviting");
    let r = bo_key_api.get("/v1/audit-events").await;
    assert_eq!(r.status, 403, "{}", r.text);
    let d = verify(&admin, json!({"key": bo_key, "scopes": ["org:write"]})).await;
    assert_eq!((d["valid"].as_bool(), d["code"].as_str()), (Some(false), Some("INSUFFICIENT_SCOPE")), "{d}");
    let d = verify(&admin, json!({"key": bo_key, "scopes": ["sandbox:create"]})).await;
    assert_eq!(d["code"], "VALID", "member-level scopes still work: {d}");
    let me = bo_key_api.get("/v1/me").await;
    assert_eq!((me.status, me.body["data"]["role"].as_str()), (200, Some("member")), "{}", me.text);
    let pending = ids(&admin.get("/v1/invitations").await, "email");
    assert_eq!(pending, vec!["first@example.com".to_owned()]);
}

#[tokio::test]
async fn removing_a_member_disables_their_keys_but_not_org_keys() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let admin_key_id = key_id_of(&admin).await;
    let org_a = server.admin.org_id.clone();
    let cy = join_org(&server, &admin, &org_a, "cy@example.com", "member").await;
    let cy_api = server.with_session_in_org(&cy.token, &org_a);
    let (_, cy_key) = TestServer::create_key(&cy_api, json!({"name": "cy-own", "scopes": ["sandbox:*"]})).await;
    let (moved_id, moved_key) =
        TestServer::create_key(&cy_api, json!({"name": "cy-moved", "scopes": ["sandbox:*"]})).await;

    // An org-owned key, created by the admin.
    let r = admin.post("/v1/api-keys", json!({"name": "org-key", "owner": "org", "scopes": ["sandbox:*"]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let org_key = r.body["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(r.body["data"]["owner"], "org");
    assert!(r.body["data"]["ownerUserId"].is_null(), "{}", r.text);
    assert_eq!(r.body["data"]["createdBy"], json!({"type": "key", "id": admin_key_id}), "{}", r.text);
    let r = admin.post("/v1/api-keys", json!({"name": "x", "owner": "team"})).await;
    assert_error(&r, 400, "invalid_request", "owner team");

    // Transfer one of cy's keys to the org.
    let r = admin.post(&format!("/v1/api-keys/{moved_id}/transfer"), json!({"to": "org"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["id"], moved_id.as_str());
    assert_eq!(r.body["data"]["owner"], "org");
    assert!(r.body["data"]["ownerUserId"].is_null(), "{}", r.text);
    assert_eq!(r.body["data"]["createdBy"], json!({"type": "user", "id": cy.user_id}), "{}", r.text);
    let r = admin.post(&format!("/v1/api-keys/{moved_id}/transfer"), json!({"to": "someone"})).await;
    assert_error(&r, 400, "invalid_request", "transfer to someone");

    for k in [&cy_key, &moved_key, &org_key] {
        assert_eq!(server.with_key(k).get("/v1/me").await.status, 200);
    }
    let r = admin.delete(&format!("/v1/members/{}", cy.user_id)).await;
    assert_eq!(r.status, 204, "{}", r.text);

    let r = server.with_key(&cy_key).get("/v1/me").await;
    assert_error(&r, 401, "unauthorized", "a removed member's own key");
    let d = verify(&admin, json!({"key": cy_key})).await;
    assert_eq!((d["valid"].as_bool(), d["code"].as_str()), (Some(false), Some("DISABLED")), "{d}");
    for (what, k) in [("transferred key", &moved_key), ("org key", &org_key)] {
        assert_eq!(server.with_key(k).get("/v1/me").await.status, 200, "{what} keeps working");
        assert_eq!(verify(&admin, json!({"key": k})).await["code"], "VALID", "{what}");
    }
    let moved = admin.get(&format!("/v1/api-keys/{moved_id}")).await;
    assert_eq!(moved.body["data"]["createdBy"], json!({"type": "user", "id": cy.user_id}), "createdBy kept");
    assert_eq!(moved.body["data"]["owner"], "org");
    assert!(!ids(&admin.get("/v1/members").await, "userId").contains(&cy.user_id));
    assert_error(&cy_api.get("/v1/me").await, 404, "not_found", "cy's session in the org left");
    assert_eq!(server.with_bearer(&cy.token).get("/v1/me").await.status, 200, "cy's own org is untouched");
}

// ------------------------------------------------------------------ audit

fn events(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap_or_else(|| panic!("not a list: {}", r.text)).clone()
}

/// The event written by the request whose response was `r`.
fn event_of<'a>(all: &'a [Value], r: &Resp, action: &str) -> &'a Value {
    let rid = request_id(r);
    all.iter()
        .find(|e| e["requestId"] == rid.as_str() && e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} event with requestId {rid} in {all:#?}"))
}

#[tokio::test]
async fn audit_records_every_mutation_with_actor_target_and_request_id() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org_a = server.admin.org_id.clone();
    let ada_key = key_id_of(&admin).await;
    let by_key = json!({"type": "key", "id": ada_key});

    // (response, action, expected target id) of each mutation by the admin key.
    let mut done: Vec<(Resp, &str, Option<String>)> = Vec::new();
    let r = admin.post("/v1/projects", json!({"name": "audited"})).await;
    let prj = r.body["data"]["id"].as_str().unwrap().to_owned();
    done.push((r, "project.create", Some(prj.clone())));
    done.push((
        admin.patch(&format!("/v1/projects/{prj}"), json!({"name": "audited-2"})).await,
        "project.update",
        Some(prj.clone()),
    ));
    let r = admin.post("/v1/api-keys", json!({"name": "k", "scopes": ["sandbox:*"]})).await;
    let key = r.body["data"]["id"].as_str().unwrap().to_owned();
    done.push((r, "api_key.create", Some(key.clone())));
    done.push((
        admin.patch(&format!("/v1/api-keys/{key}"), json!({"name": "k2"})).await,
        "api_key.update",
        Some(key.clone()),
    ));
    let rot = admin.post(&format!("/v1/api-keys/{key}/rotate"), json!({})).await;
    assert_eq!(rot.status, 201, "{}", rot.text);
    let new_key = rot.body["data"]["id"].as_str().unwrap().to_owned();
    let rot_rid = request_id(&rot);
    done.push((
        admin.post_empty(&format!("/v1/api-keys/{new_key}/revoke")).await,
        "api_key.revoke",
        Some(new_key.clone()),
    ));
    done.push((admin.delete(&format!("/v1/api-keys/{new_key}")).await, "api_key.delete", Some(new_key.clone())));
    done.push((admin.delete(&format!("/v1/projects/{prj}")).await, "project.delete", Some(prj.clone())));
    let r = admin.post("/v1/invitations", json!({"email": "dee@example.com", "role": "member"})).await;
    let inv = r.body["data"]["id"].as_str().unwrap().to_owned();
    let inv_token = r.body["data"]["token"].as_str().unwrap().to_owned();
    done.push((r, "invitation.create", Some(inv.clone())));
    let r = admin.post("/v1/invitations", json!({"email": "eve@example.com", "role": "member"})).await;
    let inv2 = r.body["data"]["id"].as_str().unwrap().to_owned();
    done.push((admin.delete(&format!("/v1/invitations/{inv2}")).await, "invitation.delete", Some(inv2.clone())));
    let dee = signup(&server, "dee@example.com", "Dee Co").await;
    let accept = server.with_bearer(&dee.token).post_empty(&format!("/v1/invitations/{inv_token}/accept")).await;
    assert_eq!(accept.status, 200, "{}", accept.text);
    done.push((
        admin.patch(&format!("/v1/members/{}", dee.user_id), json!({"role": "admin"})).await,
        "member.update",
        Some(dee.user_id.clone()),
    ));
    let dee_api = server.with_session_in_org(&dee.token, &org_a);
    let dee_key = dee_api.post("/v1/api-keys", json!({"name": "dee", "scopes": ["sandbox:*"]})).await;
    assert_eq!(dee_key.status, 201, "{}", dee_key.text);
    let dee_key_id = dee_key.body["data"]["id"].as_str().unwrap().to_owned();
    done.push((
        admin.patch(&format!("/v1/orgs/{org_a}"), json!({"name": "Acme Corp"})).await,
        "org.update",
        Some(org_a.clone()),
    ));
    done.push((
        admin.post(&format!("/v1/api-keys/{dee_key_id}/transfer"), json!({"to": "org"})).await,
        "api_key.transfer",
        Some(dee_key_id.clone()),
    ));
    done.push((
        admin.delete(&format!("/v1/members/{}", dee.user_id)).await,
        "member.remove",
        Some(dee.user_id.clone()),
    ));
    for (r, action, _) in &done {
        assert!((200..300).contains(&r.status), "{action}: {}", r.text);
    }

    let all = events(&admin.get("/v1/audit-events?limit=100").await);
    for (r, action, target) in &done {
        let e = event_of(&all, r, action);
        assert!(e["id"].as_str().unwrap().starts_with("evt_"), "{e}");
        ms(&e["at"]);
        assert_eq!(e["actor"], by_key, "{action}: actor is the admin's key: {e}");
        if let Some(t) = target {
            assert_eq!(e["target"]["id"], t.as_str(), "{action}: {e}");
            assert!(e["target"]["type"].is_string(), "{action}: {e}");
        }
        for field in ["ip", "details"] {
            assert!(e.get(field).is_some(), "{action}: {field} missing: {e}");
        }
    }
    // Rotation: one event, about the old or the new key.
    let e = all.iter().find(|e| e["requestId"] == rot_rid.as_str() && e["action"] == "api_key.rotate");
    let e = e.unwrap_or_else(|| panic!("no api_key.rotate event: {all:#?}"));
    assert!(e["target"]["id"] == key.as_str() || e["target"]["id"] == new_key.as_str(), "{e}");
    // Session-made changes name the user.
    let e = event_of(&all, &accept, "invitation.accept");
    assert_eq!(e["actor"], json!({"type": "user", "id": dee.user_id}), "{e}");
    let e = event_of(&all, &dee_key, "api_key.create");
    assert_eq!(e["actor"], json!({"type": "user", "id": dee.user_id}), "{e}");
    assert_eq!(e["target"]["id"], dee_key_id.as_str());
    // Newest first.
    let ats: Vec<i64> = all.iter().map(|e| ms(&e["at"])).collect();
    assert!(ats.windows(2).all(|w| w[0] >= w[1]), "newest first: {ats:?}");
    let mut seen: Vec<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), all.len(), "no duplicates");
    // Reads write nothing.
    let count = all.len();
    admin.get("/v1/api-keys").await;
    admin.get("/v1/members").await;
    assert_eq!(events(&admin.get("/v1/audit-events?limit=100").await).len(), count, "GETs are not audited");
}

#[tokio::test]
async fn audit_events_filter_and_page() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org_a = server.admin.org_id.clone();
    let ada_key = key_id_of(&admin).await;
    let p1 = admin.post("/v1/projects", json!({"name": "p1"})).await.body["data"]["id"].as_str().unwrap().to_owned();
    admin.patch(&format!("/v1/projects/{p1}"), json!({"name": "p1b"})).await;
    TestServer::create_key(&admin, json!({"name": "k"})).await;
    let fred = join_org(&server, &admin, &org_a, "fred@example.com", "admin").await;
    let fred_api = server.with_session_in_org(&fred.token, &org_a);
    fred_api.post("/v1/projects", json!({"name": "fred's"})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mid = time::OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let p2 = admin.post("/v1/projects", json!({"name": "p2"})).await.body["data"]["id"].as_str().unwrap().to_owned();
    let mid = mid.format(&time::format_description::well_known::Rfc3339).unwrap();
    assert!(mid.ends_with('Z'), "{mid}");

    let all = events(&admin.get("/v1/audit-events?limit=100").await);
    let by = |q: String| {
        let admin = admin.clone();
        async move { events(&admin.get(&format!("/v1/audit-events?limit=100&{q}")).await) }
    };

    let created = by("action=project.create".into()).await;
    assert_eq!(created.len(), 3, "{created:#?}");
    assert!(created.iter().all(|e| e["action"] == "project.create"));

    let about_p1 = by(format!("targetId={p1}")).await;
    let mut actions: Vec<&str> = about_p1.iter().map(|e| e["action"].as_str().unwrap()).collect();
    actions.sort_unstable();
    assert_eq!(actions, vec!["project.create", "project.update"], "{about_p1:#?}");

    let by_fred = by(format!("actorId={}", fred.user_id)).await;
    assert!(by_fred.len() >= 2, "fred accepted and created a project: {by_fred:#?}");
    assert!(by_fred.iter().all(|e| e["actor"]["id"] == fred.user_id.as_str()), "{by_fred:#?}");
    let by_ada = by(format!("actorId={ada_key}")).await;
    assert!(by_ada.len() >= 5, "{by_ada:#?}");
    assert!(by_ada.iter().all(|e| e["actor"]["id"] == ada_key.as_str()), "{by_ada:#?}");

    let since = by(format!("since={mid}")).await;
    assert_eq!(since.len(), 1, "only p2's creation is after {mid}: {since:#?}");
    assert_eq!(since[0]["target"]["id"], p2.as_str());
    let until = by(format!("until={mid}")).await;
    assert_eq!(until.len(), all.len() - 1, "everything but p2's creation: {until:#?}");
    assert!(until.iter().all(|e| e["target"]["id"] != p2.as_str()));
    let both = by(format!("action=project.create&until={mid}&actorId={ada_key}")).await;
    assert_eq!(both.len(), 1, "{both:#?}");
    assert_eq!(both[0]["target"]["id"], p1.as_str());
    assert!(by("action=no.such.action".into()).await.is_empty());

    // Paging: one at a time, newest first, every event once.
    let first = admin.get("/v1/audit-events?limit=1").await;
    let page = events(&first);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["id"], all[0]["id"], "newest first");
    let cursor = first.body["nextCursor"].as_str().expect("more pages").to_owned();
    let second = events(&admin.get(&format!("/v1/audit-events?limit=1&cursor={cursor}")).await);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["id"], all[1]["id"]);
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/audit-events?limit=3&cursor={c}"),
            None => "/v1/audit-events?limit=3".to_owned(),
        };
        let r = admin.get(&path).await;
        walked.extend(events(&r).iter().map(|e| e["id"].clone()));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(walked.len() <= all.len(), "paging does not end");
    }
    let all_ids: Vec<Value> = all.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(walked, all_ids);
    // Paging within a filter.
    let f1 = admin.get("/v1/audit-events?action=project.create&limit=2").await;
    assert_eq!(events(&f1).len(), 2);
    let c = f1.body["nextCursor"].as_str().expect("a third project.create").to_owned();
    let f2 = events(&admin.get(&format!("/v1/audit-events?action=project.create&limit=2&cursor={c}")).await);
    assert_eq!(f2.len(), 1);
    assert_eq!(f2[0]["action"], "project.create");

    for bad in ["limit=0", "limit=101", "since=yesterday", "until=2026-13-45"] {
        let r = admin.get(&format!("/v1/audit-events?{bad}")).await;
        assert_error(&r, 400, "invalid_request", bad);
    }
}

#[tokio::test]
async fn audit_is_for_admins_and_never_holds_a_secret() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org_a = server.admin.org_id.clone();
    let mut secrets: Vec<String> = vec![server.admin.api_key.clone(), PASSWORD.to_owned()];

    let (id, key) = TestServer::create_key(&admin, json!({"name": "secret"})).await;
    secrets.push(key);
    let rot = admin.post(&format!("/v1/api-keys/{id}/rotate"), json!({})).await;
    secrets.push(rot.body["data"]["key"].as_str().unwrap().to_owned());
    let inv = admin.post("/v1/invitations", json!({"email": "gil@example.com", "role": "member"})).await;
    let inv_token = inv.body["data"]["token"].as_str().unwrap().to_owned();
    secrets.push(inv_token.clone());
    let gil = signup(&server, "gil@example.com", "Gil Co").await;
    secrets.push(gil.token.clone());
    let acc = server.with_bearer(&gil.token).post_empty(&format!("/v1/invitations/{inv_token}/accept")).await;
    assert_eq!(acc.status, 200, "{}", acc.text);
    let wrong = "wrong-password-but-still-long";
    secrets.push(wrong.to_owned());
    assert_eq!(login(&server, "gil@example.com", wrong).await.status, 401);
    let l = login(&server, "gil@example.com", PASSWORD).await;
    secrets.push(l.body["data"]["token"].as_str().unwrap().to_owned());
    let gil_api = server.with_session_in_org(&gil.token, &org_a);
    let (_, gil_key) = TestServer::create_key(&gil_api, json!({"name": "gil", "scopes": ["sandbox:*"]})).await;
    secrets.push(gil_key);
    // Session revoke and logout are mutations too.
    let sid = l.body["data"]["sessionId"].as_str().unwrap();
    assert_eq!(server.with_bearer(&gil.token).delete(&format!("/v1/sessions/{sid}")).await.status, 204);

    let r = gil_api.get("/v1/audit-events").await;
    assert_error(&r, 403, "forbidden", "a member reading the audit trail");
    assert_error(&server.anonymous().get("/v1/audit-events").await, 401, "unauthorized", "anonymous");

    let a = admin.get("/v1/audit-events?limit=100").await;
    let own = server.with_bearer(&gil.token).get("/v1/audit-events?limit=100").await;
    assert!(!events(&a).is_empty() && !events(&own).is_empty());
    for (org, r) in [("org A", &a), ("gil's org", &own)] {
        for s in &secrets {
            // The secret part, without any public prefix.
            let tail = &s[s.len().saturating_sub(24)..];
            assert!(!r.text.contains(tail), "{org}: audit events contain the secret {s}: {}", r.text);
        }
    }
    assert!(own.text.contains("session.revoke"), "session revoke audited: {}", own.text);
}

#[tokio::test]
async fn logins_and_signups_are_audited_in_the_users_org() {
    let server = TestServer::start().await;
    let hal = signup(&server, "hal@example.com", "Hal Co").await;
    let failed = login(&server, "hal@example.com", "wrong-password-long-enough").await;
    assert_eq!(failed.status, 401);
    let ok = login(&server, "hal@example.com", PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let api = server.with_bearer(&hal.token);

    let all = events(&api.get("/v1/audit-events?limit=100").await);
    let e = event_of(&all, &failed, "auth.login_failed");
    assert_ne!(e["actor"]["type"], "key", "{e}");
    let e = event_of(&all, &ok, "session.create");
    assert_eq!(e["actor"], json!({"type": "user", "id": hal.user_id}), "{e}");
    let signups = events(&api.get("/v1/audit-events?action=user.signup").await);
    assert_eq!(signups.len(), 1, "{signups:#?}");
    assert_eq!(signups[0]["actor"]["id"], hal.user_id.as_str());
    let failures = events(&api.get("/v1/audit-events?action=auth.login_failed").await);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    let logout = server.with_bearer(ok.body["data"]["token"].as_str().unwrap()).post_empty("/v1/auth/logout").await;
    assert_eq!(logout.status, 204);
    let all = events(&api.get("/v1/audit-events?limit=100").await);
    let e = event_of(&all, &logout, "session.revoke");
    assert_eq!(e["actor"]["id"], hal.user_id.as_str(), "{e}");

    // None of it shows up in another org.
    let other = server.admin().get("/v1/audit-events?limit=100").await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert!(!other.text.contains(&hal.user_id), "hal's events leaked into org A: {}", other.text);
    assert!(!other.text.contains(&request_id(&failed)));
}

#[tokio::test]
async fn audit_events_cannot_be_changed_or_deleted() {
    let server = TestServer::start().await;
    let admin = server.admin();
    admin.post("/v1/projects", json!({"name": "p"})).await;
    let all = events(&admin.get("/v1/audit-events").await);
    let id = all[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/audit-events/{id}");
    for (what, r) in [
        ("PATCH", admin.patch(&path, json!({"action": "nothing.happened"})).await),
        ("DELETE", admin.delete(&path).await),
        ("PUT", admin.send(reqwest::Method::PUT, &path, Some(json!({}).to_string().into())).await),
        ("POST", admin.post("/v1/audit-events", json!({"action": "project.create"})).await),
        ("DELETE all", admin.delete("/v1/audit-events").await),
    ] {
        assert!(matches!(r.status, 404 | 405), "{what} {path}: {} {}", r.status, r.text);
    }
    let again = events(&admin.get("/v1/audit-events").await);
    assert_eq!(again.len(), all.len());
    assert_eq!(again[0], all[0], "unchanged");
}

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
