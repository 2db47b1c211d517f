//! Organizations, members, invitations and roles (issue 4).

use serde_json::{Value, json};

use super::{DAY_MS, assert_error, key_id_of, verify};
use crate::common::{TestServer, ids, join_org, ms, now_ms, signup};

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
