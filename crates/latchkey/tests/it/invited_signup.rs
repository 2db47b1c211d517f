//! `POST /v1/invitations/signup`: a person without an account signs up
//! through an invitation, and joins the inviting organization, even when
//! open sign-up is turned off.

use serde_json::{Value, json};

use crate::common::{Api, PASSWORD, Resp, TestServer, ids, login, signup};

fn assert_error(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.error_code(), code, "{what}: {}", r.text);
}

/// An invitation of `email` as `role` by `admin`: (id, token).
async fn invite(admin: &Api, email: &str, role: &str) -> (String, String) {
    let r = admin.post("/v1/invitations", json!({"email": email, "role": role})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = &r.body["data"];
    (d["id"].as_str().unwrap().to_owned(), d["token"].as_str().unwrap().to_owned())
}

fn body(token: &str, name: &str, password: &str) -> Value {
    json!({"token": token, "displayName": name, "password": password})
}

/// The actions of the organization's audit trail, newest first.
async fn actions(admin: &Api) -> Vec<String> {
    ids(&admin.get("/v1/audit-events?limit=100").await, "action")
}

#[tokio::test]
async fn an_invitation_signs_the_invited_person_up_into_the_organization_only() {
    let mut server = TestServer::start().await;
    std::fs::write(server.data_dir().join("latchkey.toml"), "signup = false\n").unwrap();
    server.restart();
    let admin = server.admin();
    let anon = server.anonymous();
    let org = server.admin.org_id.clone();
    let (inv_id, token) = invite(&admin, "nia@example.com", "member").await;

    // Open sign-up is off; the invitation is the way in.
    let closed = anon
        .post(
            "/v1/auth/signup",
            json!({"email": "nia@example.com", "password": PASSWORD, "displayName": "Nia", "orgName": "Nia Co"}),
        )
        .await;
    assert_error(&closed, 403, "signup_disabled", "open sign-up");

    // Refusals that store nothing: bad fields, a token that is not one, an
    // unknown token, unknown fields.
    let short = anon.post("/v1/invitations/signup", body(&token, "Nia", "short")).await;
    assert_error(&short, 400, "invalid_request", "short password");
    let unnamed = anon.post("/v1/invitations/signup", body(&token, " ", PASSWORD)).await;
    assert_error(&unnamed, 400, "invalid_request", "empty name");
    for bad in ["", "lki_nothing_like_this", "lks_not_an_invitation", &token.replace("lki_", "lk_live_")] {
        let r = anon.post("/v1/invitations/signup", body(bad, "Nia", PASSWORD)).await;
        assert_error(&r, 404, "not_found", bad);
    }
    let mut extra = body(&token, "Nia", PASSWORD);
    extra["email"] = json!("mallory@example.com");
    assert_error(
        &anon.post("/v1/invitations/signup", extra).await,
        400,
        "invalid_request",
        "the email is the invitation's",
    );
    assert_eq!(ids(&admin.get("/v1/invitations").await, "id"), vec![inv_id.clone()], "still pending");

    let r = anon.post("/v1/invitations/signup", body(&token, "Nia Okafor", PASSWORD)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = &r.body["data"];
    assert_eq!(d["user"]["email"], "nia@example.com");
    assert_eq!(d["user"]["displayName"], "Nia Okafor");
    assert_eq!((d["org"]["id"].as_str(), d["org"]["role"].as_str()), (Some(&*org), Some("member")));
    let nia_token = d["token"].as_str().unwrap().to_owned();
    assert!(nia_token.starts_with("lks_"), "{}", r.text);
    assert!(!r.text.contains(&token), "the invitation token is not echoed");

    // Her session acts in the organization, as a member; she has no
    // organization of her own.
    let nia = server.with_bearer(&nia_token);
    let me = nia.get("/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(
        (me.body["data"]["org"]["id"].as_str(), me.body["data"]["role"].as_str()),
        (Some(&*org), Some("member"))
    );
    assert_eq!(ids(&nia.get("/v1/orgs").await, "id"), vec![org.clone()]);
    let r = nia.post("/v1/invitations", json!({"email": "x@example.com", "role": "member"})).await;
    assert_error(&r, 403, "forbidden", "a member inviting");
    // She logs in with the password she chose.
    assert_eq!(login(&server, "nia@example.com", PASSWORD).await.status, 200);

    // The invitation is used up: neither sign-up nor acceptance again.
    assert!(ids(&admin.get("/v1/invitations").await, "id").is_empty());
    let again = anon.post("/v1/invitations/signup", body(&token, "Nia", PASSWORD)).await;
    assert_error(&again, 404, "not_found", "a used invitation");
    let accept = nia.post("/v1/invitations/accept", json!({"token": token})).await;
    assert_error(&accept, 404, "not_found", "a used invitation, accepted");

    // The trail: who signed up, through which invitation, and her session.
    let trail = admin.get("/v1/audit-events?limit=100").await;
    let events = trail.body["data"].as_array().unwrap();
    let nia_id = d["user"]["id"].as_str().unwrap();
    for action in ["user.signup", "invitation.accept", "session.create"] {
        let e = events.iter().find(|e| e["action"] == action && e["actor"]["id"] == nia_id);
        assert!(e.is_some(), "{action} by nia: {}", trail.text);
    }
    let accepted = events.iter().find(|e| e["action"] == "invitation.accept").unwrap();
    assert_eq!(accepted["target"]["id"], inv_id.as_str());
    assert!(!trail.text.contains(&token) && !trail.text.contains(PASSWORD), "no secret in the trail");
}

#[tokio::test]
async fn revoked_and_taken_invitations_sign_nobody_up() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let anon = server.anonymous();

    // Revoked.
    let (id, token) = invite(&admin, "rex@example.com", "admin").await;
    assert_eq!(admin.delete(&format!("/v1/invitations/{id}")).await.status, 204);
    let r = anon.post("/v1/invitations/signup", body(&token, "Rex", PASSWORD)).await;
    assert_error(&r, 404, "not_found", "a revoked invitation");
    assert_eq!(login(&server, "rex@example.com", PASSWORD).await.status, 401, "no account was made");

    // An email with an account: it is refused (409) and stays pending for
    // that person to accept with their login.
    let tom = signup(&server, "tom@example.com", "Tom Co").await;
    let (id, token) = invite(&admin, "tom@example.com", "member").await;
    let before = actions(&admin).await.len();
    let r = anon.post("/v1/invitations/signup", body(&token, "Impostor", "another-long-password")).await;
    assert_error(&r, 409, "conflict", "the invited email has an account");
    assert!(r.text.contains("log in"), "{}", r.text);
    assert_eq!(ids(&admin.get("/v1/invitations").await, "id"), vec![id]);
    assert_eq!(actions(&admin).await.len(), before, "nothing audited");
    assert_eq!(login(&server, "tom@example.com", "another-long-password").await.status, 401, "password unchanged");
    let accept = server.with_bearer(&tom.token).post("/v1/invitations/accept", json!({"token": token})).await;
    assert_eq!(accept.status, 200, "{}", accept.text);
}
