//! Bad input gets a clear error and changes nothing; other orgs' ids are 404.

use serde_json::{Value, json};

use crate::common::TestServer;

async fn key_count(server: &TestServer) -> usize {
    server.admin().get("/v1/api-keys?allOrg=true").await.body["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn malformed_bodies_are_400_and_store_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let before = key_count(&server).await;
    let long_name = "n".repeat(256);
    let cases: Vec<(String, &str)> = vec![
        ("{\"name\":".to_owned(), "malformed JSON"),
        ("not json".to_owned(), "malformed JSON"),
        ("".to_owned(), "malformed JSON"),
        (json!({"name": 42}).to_string(), "invalid request body"),
        (json!({"name": "x", "scopes": "sandbox:create"}).to_string(), "invalid request body"),
        (json!({"name": "x", "isTest": "yes"}).to_string(), "invalid request body"),
        (json!({"name": "x", "role": "admin"}).to_string(), "unknown field"),
        (json!({"scopes": ["*"]}).to_string(), "missing field `name`"),
        (json!({"name": long_name}).to_string(), "at most 255"),
        (json!({"name": "   "}).to_string(), "must not be empty"),
        ("[]".to_owned(), "must be a JSON object"),
    ];
    for (body, expect) in cases {
        let r = admin.post_raw("/v1/api-keys", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.error_code(), "invalid_request", "{body}");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(expect), "{body}: {msg}");
    }
    let ok_255 = admin.post("/v1/api-keys", json!({"name": "n".repeat(255)})).await;
    assert_eq!(ok_255.status, 201);
    assert_eq!(key_count(&server).await, before + 1);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let huge = json!({"name": "x".repeat(70 * 1024)}).to_string();
    let r = admin.post_raw("/v1/api-keys", huge).await;
    assert_eq!((r.status, r.error_code()), (413, "payload_too_large"));
    let r = admin.post_raw("/v1/projects", vec![b' '; 65 * 1024]).await;
    assert_eq!(r.status, 413);
    // The hot path (untraced, outside the middleware) has the same limit.
    let r = admin.post_raw("/v1/keys/verify", json!({"key": "k".repeat(70 * 1024)}).to_string()).await;
    assert_eq!((r.status, r.error_code()), (413, "payload_too_large"));
    // Just under the limit is read (and then judged on its content).
    let r = admin.post_raw("/v1/projects", json!({"name": "ok", "description": "d".repeat(900)}).to_string()).await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn unknown_ids_and_routes_are_404_with_the_envelope() {
    let server = TestServer::start().await;
    let admin = server.admin();
    for path in
        ["/v1/api-keys/key_01aaaaaaaaaaaaaaaaaaaaaaaa", "/v1/api-keys/nonsense", "/v1/projects/prj_x", "/v1/nothing"]
    {
        let r = admin.get(path).await;
        assert_eq!((r.status, r.error_code()), (404, "not_found"), "{path}");
    }
    let r = admin.send(reqwest::Method::PUT, "/v1/api-keys", None).await;
    assert_eq!((r.status, r.error_code()), (405, "method_not_allowed"));
}

#[tokio::test]
async fn another_orgs_ids_are_404_never_403() {
    let server = TestServer::start().await;
    let globex = server.second_org("Globex", "gus@example.com");
    let theirs = server.with_key(&globex.api_key);
    let (their_key_id, their_key) = TestServer::create_key(&theirs, json!({"name": "theirs"})).await;
    let their_project =
        theirs.post("/v1/projects", json!({"name": "p"})).await.body["data"]["id"].as_str().unwrap().to_owned();

    let us = server.admin();
    let k = format!("/v1/api-keys/{their_key_id}");
    let p = format!("/v1/projects/{their_project}");
    let attempts: Vec<(&str, reqwest::Method, String, Option<Value>)> = vec![
        ("get key", reqwest::Method::GET, k.clone(), None),
        ("rename key", reqwest::Method::PATCH, k.clone(), Some(json!({"name": "mine now"}))),
        ("revoke key", reqwest::Method::POST, format!("{k}/revoke"), None),
        ("rotate key", reqwest::Method::POST, format!("{k}/rotate"), Some(json!({}))),
        ("delete key", reqwest::Method::DELETE, k.clone(), None),
        ("get project", reqwest::Method::GET, p.clone(), None),
        ("rename project", reqwest::Method::PATCH, p.clone(), Some(json!({"name": "x"}))),
        ("delete project", reqwest::Method::DELETE, p.clone(), None),
    ];
    for (what, method, path, body) in attempts {
        let r = us.send(method, &path, body.map(|b| b.to_string().into())).await;
        assert_eq!((r.status, r.error_code()), (404, "not_found"), "{what}: {}", r.text);
    }
    // Their key and project are untouched.
    let mine = theirs.get(&format!("/v1/api-keys/{their_key_id}")).await;
    assert_eq!(mine.body["data"]["name"], "theirs");
    assert_eq!(mine.body["data"]["status"], "active");
    assert_eq!(server.with_key(&their_key).get("/v1/me").await.status, 200);
    assert_eq!(theirs.get(&p).await.status, 200);
    // Lists never show the other org's records.
    let list = us.get("/v1/projects").await;
    assert!(list.body["data"].as_array().unwrap().is_empty());
}
