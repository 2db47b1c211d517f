//! The audit trail (issue 4): every mutation recorded with actor, target and
//! request id; filters and pages; admins only; append-only.

use std::time::Duration;

use serde_json::{Value, json};

use super::{assert_error, key_id_of};
use crate::common::{PASSWORD, Resp, TestServer, join_org, login, ms, request_id, signup};

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
