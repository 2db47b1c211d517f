//! `/v1/projects`.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn project_crud() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let r = admin.post("/v1/projects", json!({"name": "Production", "description": "live traffic"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("prj_"));
    assert_eq!(r.body["data"]["description"], "live traffic");

    let got = admin.get(&format!("/v1/projects/{id}")).await;
    assert_eq!(got.body["data"]["name"], "Production");

    let patched = admin.patch(&format!("/v1/projects/{id}"), json!({"name": "Prod"})).await;
    assert_eq!(patched.body["data"]["name"], "Prod");
    assert_eq!(patched.body["data"]["description"], "live traffic", "absent fields are kept");
    let cleared = admin.patch(&format!("/v1/projects/{id}"), json!({"description": null})).await;
    assert!(cleared.body["data"]["description"].is_null());

    let list = admin.get("/v1/projects").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);

    assert_eq!(admin.delete(&format!("/v1/projects/{id}")).await.status, 204);
    assert_eq!(admin.get(&format!("/v1/projects/{id}")).await.status, 404);
}

#[tokio::test]
async fn a_project_with_active_keys_cannot_be_deleted() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let id = admin.post("/v1/projects", json!({"name": "p"})).await.body["data"]["id"].as_str().unwrap().to_owned();
    let (key_id, _) = TestServer::create_key(&admin, json!({"name": "k", "projectId": id})).await;
    let r = admin.delete(&format!("/v1/projects/{id}")).await;
    assert_eq!((r.status, r.error_code()), (409, "conflict"));
    assert_eq!(admin.get(&format!("/v1/projects/{id}")).await.status, 200);
    admin.post_empty(&format!("/v1/api-keys/{key_id}/revoke")).await;
    assert_eq!(admin.delete(&format!("/v1/projects/{id}")).await.status, 204);
}

#[tokio::test]
async fn a_key_can_only_join_a_project_of_its_org() {
    let server = TestServer::start().await;
    let other = server.second_org("Globex", "gus@example.com");
    let theirs = server.with_key(&other.api_key).post("/v1/projects", json!({"name": "theirs"})).await;
    let their_project = theirs.body["data"]["id"].as_str().unwrap();
    let r = server.admin().post("/v1/api-keys", json!({"name": "sneaky", "projectId": their_project})).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    let r = server.admin().post("/v1/api-keys", json!({"name": "typo", "projectId": "prj_nope"})).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn projects_page_with_a_stable_cursor() {
    let server = TestServer::start().await;
    let admin = server.admin();
    for i in 0..5 {
        admin.post("/v1/projects", json!({"name": format!("p{i}")})).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/projects?limit=2&cursor={c}"),
            None => "/v1/projects?limit=2".to_owned(),
        };
        let r = admin.get(&path).await;
        for p in r.body["data"].as_array().unwrap() {
            seen.push(p["name"].as_str().unwrap().to_owned());
        }
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec!["p4", "p3", "p2", "p1", "p0"], "newest first, each once");
}
