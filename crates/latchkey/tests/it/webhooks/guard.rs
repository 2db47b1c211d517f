//! What webhooks refuse: targets a delivery may not reach (at creation, and
//! at delivery after DNS resolution), bad URLs and event lists, members,
//! keys without the scope, and other organizations.

use std::time::Duration;

use serde_json::json;

use super::{Receiver, create_webhook};
use crate::common::{TestServer, eventually, join_org};

#[tokio::test]
async fn private_targets_bad_input_members_narrow_keys_and_other_tenants_are_refused() {
    // No [webhooks] table: private targets are refused.
    let server = TestServer::start().await;
    let admin = server.admin();
    let receiver = Receiver::start().await;

    for url in [
        receiver.url.clone(),
        format!("http://[::1]:{}/hook", receiver.port),
        format!("http://[::ffff:127.0.0.1]:{}/hook", receiver.port),
        format!("http://2130706433:{}/hook", receiver.port),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/hook".to_owned(),
        "http://[fe80::1]/hook".to_owned(),
        "http://0.0.0.0/hook".to_owned(),
        "http://224.0.0.1/hook".to_owned(),
        "ftp://example.com/hook".to_owned(),
        "https://user:pass@example.com/hook".to_owned(),
        format!("https://example.com/{}", "a".repeat(3000)),
        "not a url".to_owned(),
    ] {
        let r = admin.post("/v1/webhooks", json!({"url": url, "events": ["api_key.created"]})).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{url}: {}", r.text);
    }
    let ok_url = "https://hooks.example.com/latchkey";
    for (body, why) in [
        (json!({"url": ok_url, "events": []}), "no events"),
        (json!({"url": ok_url, "events": ["api_key.*"]}), "unknown event"),
        (json!({"url": ok_url, "events": ["api_key.created", "api_key.created"]}), "twice"),
        (json!({"url": ok_url, "events": ["webhook.test"]}), "not subscribable"),
        (json!({"url": ok_url, "events": ["api_key.created"], "description": "d".repeat(256)}), "long description"),
        (json!({"url": ok_url, "events": ["api_key.created"], "secret": "whsec_AAAA"}), "unknown field"),
        (json!({"url": ok_url}), "events missing"),
    ] {
        let r = admin.post("/v1/webhooks", body).await;
        assert_eq!(r.status, 400, "{why}: {}", r.text);
    }
    let huge = json!({"url": ok_url, "events": vec!["api_key.created"; 10_000]}).to_string();
    assert_eq!(admin.post_raw("/v1/webhooks", huge).await.status, 413);
    assert_eq!(admin.get("/v1/webhooks").await.body["data"], json!([]), "nothing stored");

    // A name is resolved at each delivery: `localhost` is accepted at
    // creation, and refused when it resolves to 127.0.0.1.
    let (named, _) =
        create_webhook(&admin, &format!("http://localhost:{}/hook", receiver.port), &["api_key.created"]).await;
    TestServer::create_key(&admin, json!({"name": "ssrf"})).await;
    let path = format!("/v1/webhooks/{named}/deliveries");
    let refused = eventually(Duration::from_secs(10), || async {
        admin.get(&path).await.body["data"][0]["attempts"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no public address"))
    })
    .await;
    assert!(refused, "{}", admin.get(&path).await.text);
    assert!(receiver.got().is_empty(), "the receiver on loopback got nothing");
    let r = admin.patch(&format!("/v1/webhooks/{named}"), json!({"url": "http://127.0.0.1:9/"})).await;
    assert_eq!(r.status, 400, "an update is checked too: {}", r.text);

    // Members and keys without org:write/read are refused; other
    // organizations see nothing.
    let member = join_org(&server, &admin, &server.admin.org_id, "webhook-member@example.com", "member").await;
    let member = server.with_session_in_org(&member.token, &server.admin.org_id);
    let narrow = server.with_key(&server.service_key(&["sandbox:*"]));
    let other = server.second_org("Other", "other-admin@example.com");
    let other = server.with_key(&other.api_key);
    let base = format!("/v1/webhooks/{named}");
    for api in [&member, &narrow] {
        assert_eq!(api.get("/v1/webhooks").await.status, 403);
        assert_eq!(api.get(&base).await.status, 403);
        let r = api.post("/v1/webhooks", json!({"url": ok_url, "events": ["api_key.created"]})).await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(api.post_empty(&format!("{base}/rotate-secret")).await.status, 403);
    }
    assert_eq!(other.get("/v1/webhooks").await.body["data"], json!([]));
    for r in [
        other.get(&base).await,
        other.patch(&base, json!({"enabled": false})).await,
        other.post_empty(&format!("{base}/rotate-secret")).await,
        other.post_empty(&format!("{base}/test")).await,
        other.get(&format!("{base}/deliveries")).await,
        other.post_empty(&format!("{base}/deliveries/whd_00000000000000000000000000/retry")).await,
        other.delete(&base).await,
    ] {
        assert_eq!((r.status, r.error_code()), (404, "not_found"), "{}", r.text);
    }
    assert_eq!(admin.get(&base).await.status, 200, "still there");
    assert_eq!(admin.delete(&base).await.status, 204);
    assert_eq!(admin.get(&base).await.status, 404);
}
