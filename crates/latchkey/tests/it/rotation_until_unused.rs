//! Rotation that waits for traffic (issue 27, point 4):
//! `gracePeriod: "until-unused"` keeps the old key working while it is used
//! and revokes it once it has gone unused for `quietFor` (or `maxGrace`
//! has passed): once, audited, with the `api_key.revoked` webhook; a
//! revocation during the wait wins; bad inputs, other tenants. On
//! PostgreSQL, two nodes: a use on either keeps it, both refuse it after
//! the sweep, and it is revoked once. Short durations: the servers sweep
//! every 200 ms and accept a `quietFor` of a second.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::User;
use crate::common::{Api, TestServer, eventually, ms, pg_base};
use crate::webhooks::{Receiver, config, create_webhook};

/// `latchkey.toml`: webhooks to loopback, polled often; sweeps every
/// 200 ms and a `quietFor` from a second on.
const FAST: &str = "allow_private_targets = true\npoll_interval = \"50ms\"\n\n[rotation]\nsweep_interval = \"200ms\"\nmin_quiet_for = \"1s\"\n";

/// How long a test waits for what a sweep does.
const BOUND: Duration = Duration::from_secs(30);

/// A verification's code for `key`, asked through `api`.
async fn code(api: &Api, key: &str) -> String {
    let r = api.post("/v1/keys/verify", json!({"key": key})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"]["code"].as_str().unwrap().to_owned()
}

/// Rotates `id` with `body`; the new key's (id, plaintext).
async fn rotate(api: &Api, id: &str, body: Value) -> (String, String) {
    let r = api.post(&format!("/v1/api-keys/{id}/rotate"), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.body["data"]["id"].as_str().unwrap().to_owned(), r.body["data"]["key"].as_str().unwrap().to_owned())
}

/// The key `id` as `api` sees it.
async fn key(api: &Api, id: &str) -> Value {
    let r = api.get(&format!("/v1/api-keys/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

/// `api_key.revoke` events about the key `id`.
async fn revocations(api: &Api, id: &str) -> Vec<Value> {
    let r = api.get(&format!("/v1/audit-events?action=api_key.revoke&targetId={id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

/// Verifies `plain` through `api` every 200 ms for at least `at_least`, or
/// until it is refused; the codes seen.
async fn keep_using(api: &Api, plain: &str, at_least: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut codes = Vec::new();
    while started.elapsed() < at_least {
        let c = code(api, plain).await;
        let refused = c != "VALID";
        codes.push(c);
        if refused {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    codes
}

/// Polls until the key `id` has ended its wait (its sweep is written).
async fn wait_ended(api: &Api, id: &str) -> Value {
    let ended = eventually(BOUND, || async { !key(api, id).await["untilUnused"]["endedAt"].is_null() }).await;
    let last = key(api, id).await;
    assert!(ended, "the wait of {id} did not end within {BOUND:?}: {last}");
    last
}

#[tokio::test]
async fn an_old_key_works_while_used_and_is_revoked_once_unused_or_at_max_grace() {
    let (_dir, path) = config(FAST);
    let server = TestServer::start_with(&["--config", &path]).await;
    let admin = server.admin();
    let receiver = Receiver::start().await;
    create_webhook(&admin, &receiver.url, &["api_key.revoked"]).await;

    // Bad inputs: 400, and nothing stored (the key is still active, not rotated).
    let (id, _) = TestServer::create_key(&admin, json!({"name": "bad inputs"})).await;
    for body in [
        json!({"gracePeriod": "until-unused", "maxGrace": "31d"}),
        json!({"gracePeriod": "until-unused", "maxGrace": "1h", "quietFor": "2h"}),
        json!({"gracePeriod": "until-unused", "quietFor": "500ms"}),
        json!({"gracePeriod": "until-unused", "quietFor": "0s"}),
        json!({"gracePeriod": "until-unused", "maxGrace": 3600}),
        json!({"gracePeriod": "until-unused", "quietFor": 60}),
        json!({"gracePeriod": 3600}),
        json!({"gracePeriod": "until unused"}),
        json!({"maxGrace": "7d"}),
        json!({"gracePeriod": "1h", "quietFor": "5m"}),
        json!({"gracePeriod": "until-unused", "quietFor": "5m", "idleFor": "5m"}),
    ] {
        let r = admin.post(&format!("/v1/api-keys/{id}/rotate"), body.clone()).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{body}: {}", r.text);
    }
    let untouched = key(&admin, &id).await;
    assert_eq!((untouched["status"].as_str(), untouched["rotatedTo"].as_str()), (Some("active"), None));

    // Another organization can neither rotate nor see it.
    let other = server.with_key(&server.second_org("Globex", "gus@example.com").api_key);
    let r = other.post(&format!("/v1/api-keys/{id}/rotate"), json!({"gracePeriod": "until-unused"})).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    // A narrow key (no `org:write`) may not rotate either.
    let (_, narrow) = TestServer::create_key(&admin, json!({"name": "narrow", "scopes": ["sandbox:read"]})).await;
    let r = server
        .with_key(&narrow)
        .post(&format!("/v1/api-keys/{id}/rotate"), json!({"gracePeriod": "until-unused"}))
        .await;
    assert_eq!((r.status, r.error_code()), (403, "insufficient_scope"), "{}", r.text);

    // Rotated from the CLI with the defaults' flags; revoked by hand during
    // the wait: that revocation wins, and the sweeper adds none (checked at
    // the end, after many sweeps).
    let (by_hand, _) = TestServer::create_key(&admin, json!({"name": "revoked by hand"})).await;
    let cli = User::new(&server.url);
    let env = [("LATCHKEY_API_KEY", server.admin.api_key.as_str())];
    let args =
        ["auth", "keys", "rotate", &by_hand, "--grace", "until-unused", "--quiet-for", "1s", "--max-grace", "1h"];
    let out = cli.run_with(&args, &env, "");
    assert!(out.ok().contains("keeps working until it has gone unused for 1s, at the latest until"), "{out:?}");
    let waiting = key(&admin, &by_hand).await;
    assert_eq!((waiting["status"].as_str(), waiting["untilUnused"]["quietFor"].as_str()), (Some("active"), Some("1s")));
    assert_eq!(other.get(&format!("/v1/api-keys/{by_hand}")).await.status, 404);
    assert_eq!(admin.post_empty(&format!("/v1/api-keys/{by_hand}/revoke")).await.status, 200);
    let revoked = key(&admin, &by_hand).await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["untilUnused"]["endedAt"], revoked["revokedAt"], "the revocation ended the wait");

    // Used, then quiet: two keys at once, one used until it is quiet, one
    // used until its longest grace stops it.
    let (quiet_id, quiet_plain) = TestServer::create_key(&admin, json!({"name": "goes quiet"})).await;
    let (busy_id, busy_plain) = TestServer::create_key(&admin, json!({"name": "busy"})).await;
    let (successor, successor_plain) =
        rotate(&admin, &quiet_id, json!({"gracePeriod": "until-unused", "maxGrace": "1h", "quietFor": "3s"})).await;
    rotate(&admin, &busy_id, json!({"gracePeriod": "until-unused", "maxGrace": "4s", "quietFor": "4s"})).await;
    let waiting = key(&admin, &quiet_id).await;
    let wait = &waiting["untilUnused"];
    assert_eq!((wait["quietFor"].as_str(), wait["endedAt"].as_str()), (Some("3s"), None), "{waiting}");
    assert_eq!(ms(&wait["maxGraceEndsAt"]) - ms(&wait["since"]), 3_600_000);
    assert_eq!(waiting["revokedAt"], wait["maxGraceEndsAt"], "it stops at the end of maxGrace at the latest");
    assert_eq!((waiting["status"].as_str(), waiting["rotatedTo"].as_str()), (Some("active"), Some(successor.as_str())));
    assert!(waiting["lastUsedSinceRotationAt"].is_null(), "{waiting}");
    // A rotation of the successor leaves the old key's wait alone.
    rotate(&admin, &successor, json!({})).await;
    assert_eq!(code(&admin, &successor_plain).await, "REVOKED");

    let (quiet_codes, busy_codes) = tokio::join!(
        keep_using(&admin, &quiet_plain, Duration::from_secs(5)),
        keep_using(&admin, &busy_plain, Duration::from_secs(60)),
    );
    assert!(quiet_codes.iter().all(|c| c == "VALID"), "used, it kept working past quietFor: {quiet_codes:?}");
    assert_eq!(busy_codes.last().map(String::as_str), Some("REVOKED"), "{busy_codes:?}");
    assert!(busy_codes[..busy_codes.len() - 1].iter().all(|c| c == "VALID"), "{busy_codes:?}");

    // Quiet now: revoked about quietFor after its last use, never earlier.
    let gone = wait_ended(&admin, &quiet_id).await;
    assert_eq!(gone["status"], "revoked", "{gone}");
    let last_used = ms(&gone["lastUsedSinceRotationAt"]);
    assert!(last_used >= ms(&gone["untilUnused"]["since"]), "{gone}");
    assert!(ms(&gone["revokedAt"]) - last_used >= 3_000, "revoked only after 3 s without a use: {gone}");
    assert_eq!(gone["untilUnused"]["endedAt"], gone["revokedAt"]);
    assert_eq!(code(&admin, &quiet_plain).await, "REVOKED");
    let busy = wait_ended(&admin, &busy_id).await;
    assert_eq!(busy["revokedAt"], busy["untilUnused"]["maxGraceEndsAt"], "stopped at the end of maxGrace: {busy}");
    assert!(!busy["lastUsedSinceRotationAt"].is_null());

    // Audited once each, by the system, with why; and the webhook.
    for (id, reason) in [(&quiet_id, "unused"), (&busy_id, "maxGrace")] {
        let events = revocations(&admin, id).await;
        assert_eq!(events.len(), 1, "{id}: {events:?}");
        assert_eq!(
            (events[0]["actor"]["type"].as_str(), events[0]["details"]["reason"].as_str()),
            (Some("system"), Some(reason)),
            "{events:?}"
        );
        let delivered = eventually(BOUND, || async {
            receiver
                .got()
                .iter()
                .any(|r| r.body["type"] == "api_key.revoked" && r.body["data"]["object"]["id"] == id.as_str())
        })
        .await;
        assert!(delivered, "no api_key.revoked for {id}: {:?}", receiver.types());
    }
    let sent = receiver.got().into_iter().find(|r| r.body["data"]["object"]["id"] == quiet_id.as_str()).unwrap();
    assert_eq!(sent.body["data"]["details"]["reason"], "unused", "{}", sent.body);
    let by_hand_events = revocations(&admin, &by_hand).await;
    assert_eq!(by_hand_events.len(), 1, "only the revocation by hand: {by_hand_events:?}");
    assert_eq!(by_hand_events[0]["actor"]["type"], "key");
}

/// Two nodes on one PostgreSQL database: a key used on the second node
/// keeps working past `quietFor` (the first node's sweeper sees those uses
/// through storage); once quiet, both nodes' sweepers race, one revokes it,
/// and both nodes refuse it.
#[tokio::test]
async fn two_nodes_keep_a_used_key_and_refuse_it_once_it_is_revoked_once() {
    if pg_base().is_none() {
        eprintln!("the two-node rotation test runs in the PostgreSQL pass; skipped here");
        return;
    }
    let (_dir, path) = config(FAST);
    let server = TestServer::start_with(&["--config", &path]).await;
    let two = server.node(2, &["--config", &path]);
    let (one, two) = (server.admin(), two.with_key(&server.admin.api_key));
    let (id, plain) = TestServer::create_key(&one, json!({"name": "two nodes"})).await;
    rotate(&one, &id, json!({"gracePeriod": "until-unused", "maxGrace": "1h", "quietFor": "5s"})).await;
    assert_eq!(code(&one, &plain).await, "VALID");
    let codes = keep_using(&two, &plain, Duration::from_secs(7)).await;
    assert!(codes.iter().all(|c| c == "VALID"), "used on node 2, it kept working past quietFor: {codes:?}");

    // Watched without using it (a verification is a use).
    let gone = wait_ended(&two, &id).await;
    assert!(ms(&gone["revokedAt"]) - ms(&gone["lastUsedSinceRotationAt"]) >= 5_000, "{gone}");
    let refused =
        eventually(BOUND, || async { code(&one, &plain).await == "REVOKED" && code(&two, &plain).await == "REVOKED" })
            .await;
    assert!(refused, "not refused by both nodes within {BOUND:?}");
    // Several more sweeps of both nodes: still one revocation.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(revocations(&one, &id).await.len(), 1);
}
