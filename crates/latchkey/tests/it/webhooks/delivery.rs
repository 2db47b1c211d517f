//! Delivery: every event type produced and delivered signed; a rotated
//! secret signing alongside the new one; retries until a receiver comes
//! back; disabling an endpoint that keeps failing; a SIGKILL between a
//! change's commit and its delivery.

use std::time::Duration;

use serde_json::json;

use super::{Receiver, assert_signed, create_webhook, expected_signature, server};
use crate::common::{TestServer, join_org};

/// Fast polls and short schedules: these tests wait for real deliveries.
const FAST: &str = "allow_private_targets = true\npoll_interval = \"50ms\"\nschedule_interval = \"200ms\"\n";

const ALL: &[&str] = &[
    "api_key.created",
    "api_key.rotated",
    "api_key.revoked",
    "api_key.deleted",
    "api_key.expiring",
    "api_key.expired",
    "api_key.leaked",
    "api_key.usage_threshold",
    "member.joined",
    "member.removed",
    "member.role_changed",
    "secret.changed",
];

fn median(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[tokio::test]
async fn every_event_type_is_delivered_signed_and_a_rotated_secret_signs_alongside_the_new_one() {
    let (server, _config) = server(&format!("{FAST}retry_schedule = [\"200ms\", \"200ms\", \"200ms\"]")).await;
    let admin = server.admin();
    let receiver = Receiver::start().await;
    let (webhook, secret) = create_webhook(&admin, &receiver.url, ALL).await;
    let mut plains = Vec::new();

    // api_key.created, .rotated, .revoked, .deleted
    let (id, plain) = TestServer::create_key(&admin, json!({"name": "lifecycle"})).await;
    plains.push(plain);
    let r = admin.post(&format!("/v1/api-keys/{id}/rotate"), json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let successor = r.body["data"]["id"].as_str().unwrap().to_owned();
    plains.push(r.body["data"]["key"].as_str().unwrap().to_owned());
    let r = admin.post(&format!("/v1/api-keys/{successor}/revoke"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(admin.delete(&format!("/v1/api-keys/{successor}")).await.status, 204);
    // api_key.expiring (1 day and 7 days before) and api_key.expired
    for expires in ["12h", "3d", "1s"] {
        let (_, plain) = TestServer::create_key(&admin, json!({"name": expires, "expiresIn": expires})).await;
        plains.push(plain);
    }
    // api_key.usage_threshold: 80 % then 100 % of 5 credits
    let (_, credited) = TestServer::create_key(&admin, json!({"name": "credits", "remaining": 5})).await;
    for _ in 0..5 {
        let r = admin.post("/v1/keys/verify", json!({"key": credited})).await;
        assert_eq!(r.body["data"]["code"], "VALID", "{}", r.text);
    }
    plains.push(credited);
    // member.joined, .role_changed, .removed
    let person = join_org(&server, &admin, &server.admin.org_id, "webhooks-member@example.com", "member").await;
    let path = format!("/v1/members/{}", person.user_id);
    assert_eq!(admin.patch(&path, json!({"role": "admin"})).await.status, 200);
    assert_eq!(admin.delete(&path).await.status, 204);
    // secret.changed
    let r = admin
        .send(
            reqwest::Method::PUT,
            "/v1/secrets/OPENAI_KEY",
            Some(json!({"value": "sk-webhook-canary-value", "category": "provider"}).to_string().into()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // api_key.leaked: an admin reports a key found in public (as a scanner's
    // signed report does, tests/it/leaks.rs)
    let (leaked, plain) = TestServer::create_key(&admin, json!({"name": "leaked"})).await;
    plains.push(plain);
    let r = admin.post(&format!("/v1/api-keys/{leaked}/report-leak"), json!({"url": "https://example.com/.env"})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    for t in ALL {
        receiver.wait_for(t, Duration::from_secs(15)).await;
    }
    let got = receiver.got();
    let mut latencies = Vec::new();
    for r in &got {
        assert_signed(&secret, r);
        assert_eq!(r.body["orgId"], server.admin.org_id.as_str());
        let text = String::from_utf8_lossy(&r.raw);
        for plain in &plains {
            assert!(!text.contains(plain.as_str()), "{} carries a key", r.body["type"]);
        }
        assert!(!text.contains("sk-webhook-canary-value"), "a secret value was sent");
        if !r.id.starts_with("whe_") {
            latencies.push(r.at - crate::common::ms(&r.body["createdAt"]));
        }
    }
    let revoked = got.iter().find(|r| r.body["type"] == "api_key.revoked").unwrap();
    assert_eq!(revoked.body["data"]["object"], json!({"type": "api_key", "id": successor}));
    let usage: Vec<i64> = got
        .iter()
        .filter(|r| r.body["type"] == "api_key.usage_threshold")
        .map(|r| r.body["data"]["details"]["percent"].as_i64().unwrap())
        .collect();
    assert!(usage.contains(&80) && usage.contains(&100), "{usage:?}");
    let expiring: Vec<i64> = got
        .iter()
        .filter(|r| r.body["type"] == "api_key.expiring")
        .map(|r| r.body["data"]["details"]["daysBefore"].as_i64().unwrap())
        .collect();
    assert!(expiring.contains(&1) && expiring.contains(&7), "{expiring:?}");
    eprintln!("webhook delivery latency (commit to receipt), median of {}: {} ms", latencies.len(), median(latencies));

    // The scheduler runs every 200 ms: nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let ids: Vec<String> = receiver.got().iter().map(|r| r.id.clone()).collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "an event was delivered twice");

    // Every delivery is listed with its attempt (recorded once the receiver's answer is back:
    // the receiver may have the last event first).
    let listed = format!("/v1/webhooks/{webhook}/deliveries?limit=100");
    crate::common::eventually(Duration::from_secs(5), || {
        let (admin, path) = (admin.clone(), listed.clone());
        async move {
            let r = admin.get(&path).await;
            r.body["data"].as_array().is_some_and(|l| l.iter().all(|d| d["state"] == "delivered"))
        }
    })
    .await;
    let r = admin.get(&listed).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.body["data"].as_array().unwrap();
    assert_eq!(list.len(), ids.len());
    assert!(list.iter().all(|d| d["state"] == "delivered" && d["attempts"][0]["statusCode"] == 204), "{}", r.text);

    // A rotated secret: both sign for 24 h.
    let r = admin.post(&format!("/v1/webhooks/{webhook}/rotate-secret"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_secret = r.body["data"]["secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(r.body["data"]["previousSecretExpiresAt"].is_string(), "{}", r.text);
    let r = admin.post(&format!("/v1/webhooks/{webhook}/test"), json!({})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let test = receiver.wait_for("webhook.test", Duration::from_secs(10)).await;
    assert_eq!(test.id, r.body["data"]["eventId"].as_str().unwrap());
    assert_eq!(test.signatures.len(), 2, "{:?}", test.signatures);
    assert_signed(&new_secret, &test);
    assert_signed(&secret, &test);
    assert_eq!(test.signatures[0], expected_signature(&new_secret, &test), "the current secret signs first");
    // Neither secret is ever shown again.
    let r = admin.get(&format!("/v1/webhooks/{webhook}")).await;
    assert!(r.body["data"].get("secret").is_none() && !r.text.contains("whsec_"), "{}", r.text);
}

#[tokio::test]
async fn a_receiver_down_for_three_attempts_gets_the_event_on_the_fourth_and_one_always_down_is_disabled() {
    let schedule = "retry_schedule = [\"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\"]";
    let (server, _config) = server(&format!("{FAST}disable_after = \"2s\"\n{schedule}")).await;
    let admin = server.admin();
    let flaky = Receiver::start().await;
    let down = Receiver::start().await;
    let (flaky_id, secret) = create_webhook(&admin, &flaky.url, &["api_key.created"]).await;
    let (down_id, _) = create_webhook(&admin, &down.url, &["api_key.created"]).await;
    flaky.fail_next(3);
    down.always_fail(true);

    let (key_id, _) = TestServer::create_key(&admin, json!({"name": "retried"})).await;
    let got = flaky.wait_for("api_key.created", Duration::from_secs(10)).await;
    assert_signed(&secret, &got);
    assert_eq!(got.body["data"]["object"]["id"], key_id.as_str());
    // The receiver has the event before the server has recorded its answer.
    let deliveries = format!("/v1/webhooks/{flaky_id}/deliveries");
    let recorded = crate::common::eventually(Duration::from_secs(5), || {
        let (admin, path) = (admin.clone(), deliveries.clone());
        async move { admin.get(&path).await.body["data"][0]["state"] == "delivered" }
    })
    .await;
    let r = admin.get(&deliveries).await;
    let d = &r.body["data"][0];
    assert!(recorded, "{}", r.text);
    assert_eq!(d["state"], "delivered", "{}", r.text);
    let statuses: Vec<i64> =
        d["attempts"].as_array().unwrap().iter().map(|a| a["statusCode"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [503, 503, 503, 204], "{}", r.text);
    assert!(d["attempts"][0]["error"].as_str().unwrap().contains("503"));
    assert!(d["attempts"][3]["error"].is_null() && d["attempts"][3]["durationMs"].is_i64());
    assert_eq!(d["eventId"], got.id.as_str(), "one webhook-id through every attempt");

    // A manual retry sends the same event (same webhook-id) again.
    let delivery = d["id"].as_str().unwrap();
    let r = admin.post_empty(&format!("/v1/webhooks/{flaky_id}/deliveries/{delivery}/retry")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(crate::common::eventually(Duration::from_secs(5), || async { flaky.got().len() == 2 }).await);
    assert_eq!(flaky.got()[1].id, got.id);
    let r = admin.post_empty(&format!("/v1/webhooks/{flaky_id}/deliveries/whd_00000000000000000000000000/retry")).await;
    assert_eq!(r.status, 404, "{}", r.text);

    // Failing for 2 s (disable_after) disables the endpoint, and the
    // organization's audit trail says so.
    let disabled = crate::common::eventually(Duration::from_secs(10), || async {
        admin.get(&format!("/v1/webhooks/{down_id}")).await.body["data"]["enabled"] == false
    })
    .await;
    assert!(disabled, "an endpoint failing for longer than disable_after is disabled");
    let r = admin.get("/v1/audit-events?action=webhook.disabled").await;
    assert_eq!(r.body["data"][0]["target"]["id"], down_id.as_str(), "{}", r.text);
    assert_eq!(r.body["data"][0]["actor"]["type"], "system", "{}", r.text);
    let r = admin.post_empty(&format!("/v1/webhooks/{down_id}/test")).await;
    assert_eq!((r.status, r.error_code()), (409, "webhook_disabled"), "{}", r.text);
    let r = admin.get(&format!("/v1/webhooks/{down_id}/deliveries")).await;
    assert_eq!(r.body["data"][0]["state"], "failed", "{}", r.text);
    // Enabled again by hand, it receives again.
    down.always_fail(false);
    let r = admin.patch(&format!("/v1/webhooks/{down_id}"), json!({"enabled": true})).await;
    assert_eq!((r.status, &r.body["data"]["enabled"]), (200, &json!(true)), "{}", r.text);
    assert!(r.body["data"]["failingSince"].is_null());
    TestServer::create_key(&admin, json!({"name": "after"})).await;
    down.wait_for("api_key.created", Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_revoke_committed_right_before_a_sigkill_is_delivered_after_the_restart() {
    // The worker looks for deliveries at start, then once an hour: nothing
    // can be delivered between the revoke and the kill.
    let (mut server, _config) = server("allow_private_targets = true\npoll_interval = \"1h\"").await;
    let admin = server.admin();
    let receiver = Receiver::start().await;
    let (_, secret) = create_webhook(&admin, &receiver.url, &["api_key.revoked"]).await;
    let (key_id, _) = TestServer::create_key(&admin, json!({"name": "doomed"})).await;
    let r = admin.post(&format!("/v1/api-keys/{key_id}/revoke"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    server.kill9();
    assert!(receiver.got().is_empty(), "not delivered before the kill");
    server.restart();
    let got = receiver.wait_for("api_key.revoked", Duration::from_secs(10)).await;
    assert_signed(&secret, &got);
    assert_eq!(got.body["data"]["object"]["id"], key_id.as_str());
}
