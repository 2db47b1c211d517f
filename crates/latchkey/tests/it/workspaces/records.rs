//! Workspaces' records: create, list, read, change, delete; who may.

use serde_json::json;

use super::{Org, create, id, refused};
use crate::common::ids;

#[tokio::test]
async fn a_workspace_is_created_listed_read_changed_and_deleted() {
    let org = Org::start().await;
    let org_id = org.server.admin.org_id.clone();
    let w = create(&org.admin, json!({"name": "shared", "kind": "org", "quotaBytes": 1_000_000})).await;
    let wsp = id(&w);
    assert!(wsp.starts_with("wsp_"), "{w}");
    assert_eq!((w["name"].as_str(), w["kind"].as_str()), (Some("shared"), Some("org")));
    assert_eq!((&w["ownerUserId"], &w["projectId"], &w["quotaBytes"]), (&json!(null), &json!(null), &json!(1_000_000)));
    assert_eq!(w["storagePrefix"], format!("orgs/{org_id}/workspaces/{wsp}/"));
    assert_eq!(w["createdByUserId"], org.server.admin.user_id.as_str());
    assert!(w["createdByKeyId"].as_str().is_some_and(|k| k.starts_with("key_")), "{w}");

    let mine = create(&org.member, json!({"name": "scratch", "kind": "personal"})).await;
    assert_eq!(
        (mine["kind"].as_str(), mine["ownerUserId"].as_str()),
        (Some("personal"), Some(org.member_person.user_id.as_str()))
    );
    // Names are unique per organization and per member: the same name is
    // fine for another member's personal workspace and the organization.
    create(&org.other_member, json!({"name": "scratch", "kind": "personal"})).await;
    create(&org.admin, json!({"name": "scratch", "kind": "org"})).await;
    let taken = org.member.post("/v1/workspaces", json!({"name": "scratch", "kind": "personal"})).await;
    refused(&taken, 409, "conflict");

    let listed = org.member.get("/v1/workspaces").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let seen = ids(&listed, "id");
    assert!(seen.contains(&wsp) && seen.contains(&id(&mine)), "{seen:?}");
    assert_eq!(seen.len(), 3, "the organization's two and the member's own: {seen:?}");
    let orgs_only = org.member.get("/v1/workspaces?kind=org").await;
    assert!(orgs_only.body["data"].as_array().unwrap().iter().all(|w| w["kind"] == "org"), "{}", orgs_only.text);
    let page = org.member.get("/v1/workspaces?limit=1").await;
    let cursor = page.body["nextCursor"].as_str().unwrap().to_owned();
    let next = org.member.get(&format!("/v1/workspaces?limit=1&cursor={cursor}")).await;
    assert_ne!(ids(&page, "id"), ids(&next, "id"));

    let got = org.member.get(&format!("/v1/workspaces/{wsp}")).await;
    assert_eq!((got.status, &got.body["data"]), (200, &w));

    let project = org.project("data").await;
    let patched = org
        .admin
        .patch(&format!("/v1/workspaces/{wsp}"), json!({"name": "shared-2", "quotaBytes": null, "projectId": project}))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let p = &patched.body["data"];
    assert_eq!(
        (p["name"].as_str(), &p["quotaBytes"], p["projectId"].as_str()),
        (Some("shared-2"), &json!(null), Some(project.as_str()))
    );
    assert_eq!(p["storagePrefix"], w["storagePrefix"], "the prefix never changes");
    let filtered = org.admin.get(&format!("/v1/workspaces?projectId={project}")).await;
    assert_eq!(ids(&filtered, "id"), vec![wsp.clone()]);

    assert_eq!(org.admin.delete(&format!("/v1/workspaces/{wsp}")).await.status, 204);
    refused(&org.admin.get(&format!("/v1/workspaces/{wsp}")).await, 404, "not_found");
    for action in ["workspace.create", "workspace.update", "workspace.delete"] {
        assert_eq!(org.events(action, &wsp).await.len(), 1, "{action}");
    }
}

#[tokio::test]
async fn members_use_organization_workspaces_and_only_their_own_personal_ones() {
    let org = Org::start().await;
    // An organization workspace is the admins' to make and change.
    let r = org.member.post("/v1/workspaces", json!({"name": "team", "kind": "org"})).await;
    refused(&r, 403, "forbidden");
    let member_key = org.member_key(&["files:read", "files:write"]).await;
    refused(&member_key.post("/v1/workspaces", json!({"name": "team", "kind": "org"})).await, 403, "forbidden");
    let team = id(&create(&org.admin, json!({"name": "team", "kind": "org"})).await);
    refused(&org.member.patch(&format!("/v1/workspaces/{team}"), json!({"name": "mine"})).await, 403, "forbidden");
    refused(&org.member.delete(&format!("/v1/workspaces/{team}")).await, 403, "forbidden");
    assert_eq!(org.member.get(&format!("/v1/workspaces/{team}")).await.status, 200);

    // A personal workspace: its owner's (with a key too), hidden from others.
    let mine = id(&create(&member_key, json!({"name": "notes", "kind": "personal"})).await);
    let path = format!("/v1/workspaces/{mine}");
    refused(&org.other_member.get(&path).await, 404, "not_found");
    refused(&org.other_member.patch(&path, json!({"name": "x"})).await, 404, "not_found");
    refused(&org.other_member.delete(&path).await, 404, "not_found");
    assert!(!ids(&org.other_member.get("/v1/workspaces").await, "id").contains(&mine));
    refused(&org.other_member.get("/v1/workspaces?allOrg=true").await, 403, "forbidden");
    assert_eq!(org.member.patch(&path, json!({"name": "notes-2"})).await.status, 200);

    // Admins see members' personal workspaces with allOrg, and may change
    // and delete them.
    assert!(!ids(&org.admin.get("/v1/workspaces").await, "id").contains(&mine));
    let all = org.admin.get("/v1/workspaces?allOrg=true&kind=personal").await;
    assert_eq!(ids(&all, "id"), vec![mine.clone()]);
    assert_eq!(org.admin.get(&path).await.status, 200);
    assert_eq!(org.admin.patch(&path, json!({"quotaBytes": 10})).await.status, 200);
    assert_eq!(org.admin.delete(&path).await.status, 204);
}

#[tokio::test]
async fn another_organizations_workspace_is_not_found() {
    let org = Org::start().await;
    let wsp = id(&create(&org.admin, json!({"name": "ours", "kind": "org"})).await);
    let theirs = org.server.second_org("Elsewhere", "else@example.com");
    let them = org.server.with_key(&theirs.api_key);
    let path = format!("/v1/workspaces/{wsp}");
    refused(&them.get(&path).await, 404, "not_found");
    refused(&them.patch(&path, json!({"name": "stolen"})).await, 404, "not_found");
    refused(&them.delete(&path).await, 404, "not_found");
    let mount = json!({"sandboxId": "sbx_1", "path": "/workspace", "mode": "ro"});
    refused(&them.post(&format!("{path}/mounts"), mount).await, 404, "not_found");
    // Files too: the workspace is looked up before the object store is.
    let presign = json!({"path": "a.txt", "method": "GET"});
    refused(&them.post(&format!("{path}/presign"), presign).await, 404, "not_found");
    refused(&them.get(&format!("{path}/files")).await, 404, "not_found");
    assert!(!ids(&them.get("/v1/workspaces?allOrg=true").await, "id").contains(&wsp));
    assert_eq!(org.admin.get(&path).await.body["data"]["name"], "ours", "unchanged");
}

#[tokio::test]
async fn reading_needs_files_read_and_changing_files_write() {
    let org = Org::start().await;
    let wsp = id(&create(&org.admin, json!({"name": "w", "kind": "org"})).await);
    let path = format!("/v1/workspaces/{wsp}");
    let reader = org.admin_key(&["files:read"], None).await;
    assert_eq!(reader.get("/v1/workspaces").await.status, 200);
    assert_eq!(reader.get(&path).await.status, 200);
    refused(&reader.post("/v1/workspaces", json!({"name": "r", "kind": "org"})).await, 403, "insufficient_scope");
    refused(&reader.patch(&path, json!({"name": "r"})).await, 403, "insufficient_scope");
    refused(&reader.delete(&path).await, 403, "insufficient_scope");
    let other = org.admin_key(&["sandbox:read"], None).await;
    refused(&other.get("/v1/workspaces").await, 403, "insufficient_scope");
    refused(&other.get(&path).await, 403, "insufficient_scope");
    let writer = org.admin_key(&["files:write"], None).await;
    refused(&writer.get(&path).await, 403, "insufficient_scope");
    assert_eq!(writer.patch(&path, json!({"name": "w2"})).await.status, 200);
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let org = Org::start().await;
    let bad = [
        json!({"name": "", "kind": "org"}),
        json!({"name": "x".repeat(256), "kind": "org"}),
        json!({"name": "a\u{0}b", "kind": "org"}),
        json!({"name": "ok", "kind": "shared"}),
        json!({"name": "ok"}),
        json!({"name": "ok", "kind": "org", "quotaBytes": 0}),
        json!({"name": "ok", "kind": "org", "quotaBytes": -5}),
        json!({"name": "ok", "kind": "org", "owner": "someone"}),
    ];
    for body in bad {
        refused(&org.admin.post("/v1/workspaces", body.clone()).await, 400, "invalid_request");
    }
    let r = org.admin.post("/v1/workspaces", json!({"name": "ok", "kind": "org", "projectId": "prj_nope"})).await;
    refused(&r, 404, "not_found");
    let theirs = org.server.second_org("Elsewhere", "else@example.com");
    let their_project = org.server.with_key(&theirs.api_key).post("/v1/projects", json!({"name": "p"})).await;
    let their_project = their_project.body["data"]["id"].as_str().unwrap().to_owned();
    let r = org.admin.post("/v1/workspaces", json!({"name": "ok", "kind": "org", "projectId": their_project})).await;
    refused(&r, 404, "not_found");
    assert!(ids(&org.admin.get("/v1/workspaces?allOrg=true").await, "id").is_empty(), "nothing stored");

    let wsp = id(&create(&org.admin, json!({"name": "ok", "kind": "org"})).await);
    let path = format!("/v1/workspaces/{wsp}");
    refused(&org.admin.patch(&path, json!({"quotaBytes": 0})).await, 400, "invalid_request");
    refused(&org.admin.patch(&path, json!({"name": " "})).await, 400, "invalid_request");
    refused(&org.admin.patch(&path, json!({"kind": "personal"})).await, 400, "invalid_request");
    refused(&org.admin.patch(&path, json!({"projectId": "prj_nope"})).await, 404, "not_found");
    for nope in ["nope", "wsp_", "prj_01J0000000000000000000000", "wsp_01J0000000000000000000000"] {
        refused(&org.admin.get(&format!("/v1/workspaces/{nope}")).await, 404, "not_found");
    }
    // A project with workspaces is not deleted from under them.
    let project = org.project("p").await;
    create(&org.admin, json!({"name": "in-p", "kind": "org", "projectId": project})).await;
    refused(&org.admin.delete(&format!("/v1/projects/{project}")).await, 409, "conflict");
}

#[tokio::test]
async fn a_project_bound_key_sees_creates_and_uses_only_its_projects_workspaces() {
    let org = Org::start().await;
    let (p, q) = (org.project("p").await, org.project("q").await);
    let in_q = id(&create(&org.admin, json!({"name": "in-q", "kind": "org", "projectId": q})).await);
    let unbound = id(&create(&org.admin, json!({"name": "no-project", "kind": "org"})).await);
    let key = org.admin_key(&["files:read", "files:write"], Some(&p)).await;

    let made = create(&key, json!({"name": "in-p", "kind": "org"})).await;
    assert_eq!(made["projectId"], p.as_str(), "its project by default");
    let r = key.post("/v1/workspaces", json!({"name": "in-q-2", "kind": "org", "projectId": q})).await;
    refused(&r, 403, "project_mismatch");
    assert_eq!(ids(&key.get("/v1/workspaces").await, "id"), [id(&made)]);
    refused(&key.get(&format!("/v1/workspaces?projectId={q}")).await, 403, "project_mismatch");
    for other in [&in_q, &unbound] {
        let path = format!("/v1/workspaces/{other}");
        refused(&key.get(&path).await, 403, "project_mismatch");
        refused(&key.patch(&path, json!({"name": "x"})).await, 403, "project_mismatch");
        refused(&key.delete(&path).await, 403, "project_mismatch");
    }
    let own = format!("/v1/workspaces/{}", id(&made));
    refused(&key.patch(&own, json!({"projectId": q})).await, 403, "project_mismatch");
    refused(&key.patch(&own, json!({"projectId": null})).await, 403, "project_mismatch");
    assert_eq!(key.get(&own).await.status, 200);
    assert_eq!(key.delete(&own).await.status, 204);
}
