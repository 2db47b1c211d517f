//! latchkey's object-store access (`latchkey_server::workspaces`) against
//! a real S3 server ([`super::weed`]): what a presigned URL lets its holder
//! do, and what the store refuses of it (another object, another method,
//! after its expiry); listings under a prefix, paged.
//!
//! Every test works under an organization prefix of its own, so they share
//! one bucket safely.

use std::time::Duration;

use latchkey_server::workspaces::{ObjectMethod, ObjectStore, Prefix, StorageError};
use reqwest::StatusCode;

use super::weed;
use crate::idp::unique_sub;

/// The prefix of `workspace` in `org` (as `latchkey_store::storage_prefix`
/// makes them), in an organization no other test uses.
fn prefix(org: &str, workspace: &str) -> Prefix {
    Prefix::new(&format!("orgs/{org}/workspaces/{workspace}/")).unwrap()
}

/// A fresh organization id for one test.
fn org() -> String {
    unique_sub("org")
}

/// `method` the object at `path` through a URL signed for it, valid a minute.
fn url(store: &ObjectStore, prefix: &Prefix, path: &str, method: ObjectMethod) -> String {
    store.presign(prefix, path, method, Duration::from_secs(60)).unwrap().url
}

async fn put(store: &ObjectStore, prefix: &Prefix, path: &str, body: impl Into<reqwest::Body>) {
    let res = reqwest::Client::new().put(url(store, prefix, path, ObjectMethod::Put)).body(body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "upload of {path}: {}", res.text().await.unwrap());
}

/// Status and body of a request to a (possibly altered) URL.
async fn send(method: reqwest::Method, url: &str) -> (StatusCode, Vec<u8>) {
    let res = reqwest::Client::new().request(method, url).send().await.unwrap();
    (res.status(), res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn s3_a_presigned_put_then_get_round_trips_the_bytes() {
    let Some(weed) = weed().await else { return };
    let store = weed.store();
    let wsp = prefix(&org(), "wsp_1");
    // Every byte value, and more than one read's worth.
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    put(&store, &wsp, "dir/data v1+2.bin", bytes.clone()).await;

    let (status, body) = send(reqwest::Method::GET, &url(&store, &wsp, "dir/data v1+2.bin", ObjectMethod::Get)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == bytes, "the bytes come back as uploaded ({} of {})", body.len(), bytes.len());

    // The store checks signatures: one made with a wrong secret, or none, is refused.
    let forged = url(&weed.store_with_wrong_secret(), &wsp, "dir/data v1+2.bin", ObjectMethod::Get);
    assert_eq!(send(reqwest::Method::GET, &forged).await.0, StatusCode::FORBIDDEN);
    let unsigned = forged.split('?').next().unwrap().to_owned();
    assert_eq!(send(reqwest::Method::GET, &unsigned).await.0, StatusCode::FORBIDDEN);
    // An upload through a forged URL changes nothing.
    let forged_put = url(&weed.store_with_wrong_secret(), &wsp, "dir/data v1+2.bin", ObjectMethod::Put);
    let res = reqwest::Client::new().put(forged_put).body("overwritten").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, body) = send(reqwest::Method::GET, &url(&store, &wsp, "dir/data v1+2.bin", ObjectMethod::Get)).await;
    assert!(body == bytes);
}

#[tokio::test]
async fn s3_a_url_for_one_workspace_cannot_reach_another_workspaces_object() {
    let Some(weed) = weed().await else { return };
    let store = weed.store();
    let org = org();
    let (mine, theirs) = (prefix(&org, "wsp_1"), prefix(&org, "wsp_2"));
    put(&store, &mine, "notes.txt", "mine").await;
    put(&store, &theirs, "notes.txt", "theirs").await;

    let get = url(&store, &mine, "notes.txt", ObjectMethod::Get);
    assert_eq!(send(reqwest::Method::GET, &get).await, (StatusCode::OK, b"mine".to_vec()));

    // The signature covers the path: the same URL pointed at the other
    // workspace's object, directly or through `..`, is refused.
    let swapped = get.replace("/wsp_1/notes.txt", "/wsp_2/notes.txt");
    assert_ne!(swapped, get);
    let dotted = get.replace("/wsp_1/notes.txt", "/wsp_1/../wsp_2/notes.txt");
    let encoded = get.replace("/wsp_1/notes.txt", "/wsp_1/%2E%2E/wsp_2/notes.txt");
    for altered in [&swapped, &dotted, &encoded] {
        let (status, body) = send(reqwest::Method::GET, altered).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{altered}");
        assert!(!String::from_utf8_lossy(&body).contains("theirs"), "{altered}");
    }
    // Nor may it delete or replace it: the method is signed too.
    let delete_mine = url(&store, &mine, "notes.txt", ObjectMethod::Delete);
    let delete_theirs = delete_mine.replace("/wsp_1/notes.txt", "/wsp_2/notes.txt");
    assert_eq!(send(reqwest::Method::DELETE, &delete_theirs).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(reqwest::Method::DELETE, &get).await.0, StatusCode::FORBIDDEN, "a GET URL used to DELETE");
    let res = reqwest::Client::new().put(&get).body("replaced").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a GET URL used to PUT");

    let theirs_get = url(&store, &theirs, "notes.txt", ObjectMethod::Get);
    assert_eq!(send(reqwest::Method::GET, &theirs_get).await, (StatusCode::OK, b"theirs".to_vec()));
    assert_eq!(send(reqwest::Method::GET, &get).await, (StatusCode::OK, b"mine".to_vec()));
}

#[tokio::test]
async fn s3_an_expired_url_is_refused() {
    let Some(weed) = weed().await else { return };
    let store = weed.store();
    let wsp = prefix(&org(), "wsp_1");
    put(&store, &wsp, "a.txt", "hello").await;
    let short = store.presign(&wsp, "a.txt", ObjectMethod::Get, Duration::from_secs(1)).unwrap();
    let put_short = store.presign(&wsp, "b.txt", ObjectMethod::Put, Duration::from_secs(1)).unwrap();
    let long = store.presign(&wsp, "a.txt", ObjectMethod::Get, Duration::from_secs(60)).unwrap();
    assert!((59_000..=60_000).contains(&(long.expires_at - short.expires_at)), "both signed now");
    // The signature counts whole seconds: a 1 s URL is dead within 2 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = send(reqwest::Method::GET, &short.url).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&body));
    assert_eq!(send(reqwest::Method::GET, &long.url).await, (StatusCode::OK, b"hello".to_vec()));
    // An expired upload URL writes nothing.
    let res = reqwest::Client::new().put(&put_short.url).body("late").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let listed = store.list(&wsp, "", None, 10).await.unwrap();
    assert_eq!(listed.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["a.txt"]);
}

#[tokio::test]
async fn s3_a_presigned_delete_removes_the_object_it_names_only() {
    let Some(weed) = weed().await else { return };
    let store = weed.store();
    let wsp = prefix(&org(), "wsp_1");
    put(&store, &wsp, "keep.txt", "keep").await;
    put(&store, &wsp, "drop.txt", "drop").await;

    let delete = url(&store, &wsp, "drop.txt", ObjectMethod::Delete);
    let altered = delete.replace("/drop.txt", "/keep.txt");
    assert_eq!(send(reqwest::Method::DELETE, &altered).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(reqwest::Method::DELETE, &delete).await.0, StatusCode::NO_CONTENT);

    assert_eq!(
        send(reqwest::Method::GET, &url(&store, &wsp, "drop.txt", ObjectMethod::Get)).await.0,
        StatusCode::NOT_FOUND
    );
    let kept = send(reqwest::Method::GET, &url(&store, &wsp, "keep.txt", ObjectMethod::Get)).await;
    assert_eq!(kept, (StatusCode::OK, b"keep".to_vec()));
    let listed = store.list(&wsp, "", None, 10).await.unwrap();
    assert_eq!(listed.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["keep.txt"]);
}

#[tokio::test]
async fn s3_a_listing_shows_exactly_its_prefixs_objects_paged() {
    let Some(weed) = weed().await else { return };
    let org = org();
    let (one, ten, other) = (prefix(&org, "wsp_1"), prefix(&org, "wsp_10"), prefix(&unique_sub("org"), "wsp_1"));
    let store = weed.store();
    let started = latchkey_core::time_fmt::now_ms() - 2000;
    let mine = ["a.txt", "b/c.txt", "b/d e.txt", "docs/readme.md", "docs/report-2026.pdf", "z"];
    for (i, path) in mine.iter().enumerate() {
        put(&store, &one, path, "x".repeat(i + 1)).await;
    }
    for path in ["a.txt", "docs/other.md"] {
        put(&store, &ten, path, "sibling").await;
    }
    put(&store, &other, "a.txt", "another org").await;

    // Two objects per request: six objects take three requests and their tokens.
    let paged = store.clone().with_page_size(2);
    let all = paged.list(&one, "", None, 1000).await.unwrap();
    assert!(!all.truncated);
    assert_eq!(all.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), mine);
    for (i, o) in all.objects.iter().enumerate() {
        assert_eq!(o.size, i as u64 + 1, "{}", o.key);
        let at = o.last_modified.expect("a last-modified time");
        assert!((started..=latchkey_core::time_fmt::now_ms() + 2000).contains(&at), "{}: {at}", o.key);
    }

    // A limit cuts the listing; `after` resumes it where it stopped.
    let first = paged.list(&one, "", None, 3).await.unwrap();
    assert!(first.truncated);
    assert_eq!(first.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), &mine[..3]);
    let rest = paged.list(&one, "", Some(&first.objects[2].key), 3).await.unwrap();
    assert_eq!(rest.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), &mine[3..]);
    assert!(!rest.truncated, "exactly the rest");
    let exact = store.list(&one, "", None, 6).await.unwrap();
    assert!(!exact.truncated && exact.objects.len() == 6);

    // Under a folder, or the start of a name.
    let docs = paged.list(&one, "docs/", None, 1000).await.unwrap();
    assert_eq!(
        docs.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["docs/readme.md", "docs/report-2026.pdf"]
    );
    let re = paged.list(&one, "docs/rep", None, 1000).await.unwrap();
    assert_eq!(re.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["docs/report-2026.pdf"]);
    let b = paged.list(&one, "b", None, 1000).await.unwrap();
    assert_eq!(b.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["b/c.txt", "b/d e.txt"]);

    // wsp_10 shares wsp_1's string prefix but not its objects, either way round.
    let sibling = store.list(&ten, "", None, 1000).await.unwrap();
    assert_eq!(sibling.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["a.txt", "docs/other.md"]);
    let empty = store.list(&prefix(&org, "wsp_2"), "", None, 1000).await.unwrap();
    assert_eq!(empty, Default::default());

    // Paths that would leave the prefix are refused before any request.
    for (under, after) in [("../wsp_10/", None), ("/", None), ("", Some("../wsp_10/a.txt")), ("a\0", None)] {
        let err = store.list(&one, under, after, 10).await.unwrap_err();
        assert!(matches!(err, StorageError::Key(_)), "{under:?} {after:?}: {err:?}");
    }
    // A listing signed with a wrong secret is refused by the store, and the
    // error names no signed URL.
    let err = weed.store_with_wrong_secret().list(&one, "", None, 10).await.unwrap_err();
    assert!(matches!(&err, StorageError::Unreachable(m) if m.contains("403")), "{err:?}");
    assert!(!err.to_string().contains("X-Amz-Signature"), "{err}");
}
