//! Workspaces' files through presigned URLs, against SeaweedFS
//! (`crate::s3`; skipped, and said so, when `weed` is not installed), and
//! the 501 of a server without an object store.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Org, create, id, refused};
use crate::common::{Api, Resp};

async fn presign(api: &Api, wsp: &str, body: Value) -> Resp {
    api.post(&format!("/v1/workspaces/{wsp}/presign"), body).await
}

/// A presigned URL for `path`, asserting 200.
async fn url(api: &Api, wsp: &str, path: &str, method: &str, expires_in: Option<u64>) -> String {
    let mut body = json!({"path": path, "method": method});
    if let Some(secs) = expires_in {
        body["expiresIn"] = json!(secs);
    }
    let r = presign(api, wsp, body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!((&r.body["data"]["method"], &r.body["data"]["path"]), (&json!(method), &json!(path)));
    r.body["data"]["url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn presigned_urls_move_bytes_for_exactly_one_object_of_one_workspace() {
    let Some(weed) = crate::s3::weed().await else { return };
    let org = Org::with_store(weed).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let a = id(&create(&org.admin, json!({"name": "a", "kind": "org"})).await);
    let b = id(&create(&org.admin, json!({"name": "b", "kind": "org"})).await);

    // Up through a presigned PUT, down through a presigned GET.
    let bytes = b"agent memory \x00\xff bytes".to_vec();
    let put = url(&org.member, &a, "notes/today.md", "PUT", None).await;
    let r = http.put(&put).body(bytes.clone()).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let get = url(&org.member, &a, "notes/today.md", "GET", Some(60)).await;
    let r = http.get(&get).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);

    // Workspace B's object: A's URL with B's path is refused by the store.
    let b_put = url(&org.admin, &b, "secret.txt", "PUT", None).await;
    assert!(http.put(&b_put).body("b's").send().await.unwrap().status().is_success());
    let a_prefix = format!("/workspaces/{a}/notes/today.md");
    assert!(get.contains(&a_prefix), "{get}");
    let moved = get.replace(&a_prefix, &format!("/workspaces/{b}/secret.txt"));
    let r = http.get(&moved).send().await.unwrap();
    assert_eq!(r.status(), 403, "the signature covers the path");
    assert!(!r.text().await.unwrap().contains("b's"));

    // An expired URL is refused by the store.
    let short = url(&org.member, &a, "notes/today.md", "GET", Some(1)).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(http.get(&short).send().await.unwrap().status(), 403, "expired");

    // Paths that escape the workspace, and bad expiries, are never signed.
    for bad in ["", "/notes/today.md", "../wsp_x/a", "a/../../b", "a//b", "a/", ".", "a\\b", "a\u{0}"] {
        refused(&presign(&org.member, &a, json!({"path": bad, "method": "GET"})).await, 400, "invalid_path");
    }
    for secs in [0, 3601] {
        let r = presign(&org.member, &a, json!({"path": "x", "method": "GET", "expiresIn": secs})).await;
        refused(&r, 400, "invalid_request");
    }

    // The listing: the uploaded object with its size, paths relative to A.
    let listed = org.member.get(&format!("/v1/workspaces/{a}/files")).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1, "{}", listed.text);
    let f = &listed.body["data"][0];
    assert_eq!((&f["path"], &f["size"]), (&json!("notes/today.md"), &json!(bytes.len())));
    assert!(f["lastModified"].is_string(), "{f}");
    assert_eq!(listed.body["nextCursor"], json!(null));
    let put2 = url(&org.member, &a, "notes/z.md", "PUT", None).await;
    assert!(http.put(&put2).body("z").send().await.unwrap().status().is_success());
    let page = org.member.get(&format!("/v1/workspaces/{a}/files?limit=1")).await;
    assert_eq!(
        (page.body["data"][0]["path"].as_str(), page.body["nextCursor"].as_str()),
        (Some("notes/today.md"), Some("notes/today.md"))
    );
    let next = org.member.get(&format!("/v1/workspaces/{a}/files?limit=1&cursor=notes/today.md")).await;
    assert_eq!(next.body["data"][0]["path"], "notes/z.md", "{}", next.text);
    let under = org.member.get(&format!("/v1/workspaces/{a}/files?prefix=notes/z")).await;
    assert_eq!(under.body["data"].as_array().unwrap().len(), 1, "{}", under.text);
    refused(&org.member.get(&format!("/v1/workspaces/{a}/files?prefix=../")).await, 400, "invalid_path");

    // GET needs files:read, PUT and DELETE files:write.
    let reader = org.admin_key(&["files:read"], None).await;
    url(&reader, &a, "notes/today.md", "GET", None).await;
    for method in ["PUT", "DELETE"] {
        let r = presign(&reader, &a, json!({"path": "notes/today.md", "method": method})).await;
        refused(&r, 403, "insufficient_scope");
    }
    let writer = org.admin_key(&["files:write"], None).await;
    refused(&presign(&writer, &a, json!({"path": "x", "method": "GET"})).await, 403, "insufficient_scope");

    // The trail has each presigned URL's path and method, never the URL.
    let events = org.events("workspace.presign", &a).await;
    assert!(events.iter().any(|e| e["details"]["path"] == "notes/today.md" && e["details"]["method"] == "PUT"));
    assert!(events.iter().all(|e| !e.to_string().contains("X-Amz-Signature")), "{events:#?}");

    // A workspace holding objects is not deleted; once emptied, it is.
    refused(&org.admin.delete(&format!("/v1/workspaces/{a}")).await, 409, "workspace_not_empty");
    for path in ["notes/today.md", "notes/z.md"] {
        let del = url(&org.admin, &a, path, "DELETE", None).await;
        assert!(http.delete(&del).send().await.unwrap().status().is_success());
    }
    assert_eq!(org.admin.delete(&format!("/v1/workspaces/{a}")).await.status, 204);
}

#[tokio::test]
async fn personal_workspaces_files_are_their_owners_and_admins_only() {
    let Some(weed) = crate::s3::weed().await else { return };
    let org = Org::with_store(weed).await;
    let mine = id(&create(&org.member, json!({"name": "mine", "kind": "personal"})).await);
    let body = json!({"path": "diary.txt", "method": "GET"});
    refused(&presign(&org.other_member, &mine, body.clone()).await, 404, "not_found");
    refused(&org.other_member.get(&format!("/v1/workspaces/{mine}/files")).await, 404, "not_found");
    assert_eq!(presign(&org.member, &mine, body.clone()).await.status, 200);
    assert_eq!(presign(&org.admin, &mine, body).await.status, 200);
    assert_eq!(org.admin.get(&format!("/v1/workspaces/{mine}/files")).await.status, 200);
}

#[tokio::test]
async fn without_an_object_store_files_answer_501_and_the_rest_works() {
    let org = Org::start().await;
    let wsp = id(&create(&org.admin, json!({"name": "w", "kind": "org"})).await);
    let r = presign(&org.member, &wsp, json!({"path": "a.txt", "method": "GET"})).await;
    refused(&r, 501, "storage_not_configured");
    refused(&org.member.get(&format!("/v1/workspaces/{wsp}/files")).await, 501, "storage_not_configured");
    let r = org
        .member
        .post(&format!("/v1/workspaces/{wsp}/mounts"), json!({"sandboxId": "s", "path": "/w", "mode": "ro"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(org.admin.patch(&format!("/v1/workspaces/{wsp}"), json!({"name": "w2"})).await.status, 200);
    assert_eq!(org.admin.delete(&format!("/v1/workspaces/{wsp}")).await.status, 204);
}
