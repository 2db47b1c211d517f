//! Three nodes on one PostgreSQL database deliver 1,000 events, each
//! exactly once (claims take rows with `FOR UPDATE SKIP LOCKED` under a
//! lease). PostgreSQL pass only.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Receiver, assert_signed, config, create_webhook};
use crate::common::{TestServer, eventually, pg_base};

#[tokio::test]
async fn three_nodes_deliver_each_of_a_thousand_events_once() {
    if pg_base().is_none() {
        eprintln!("multi-node webhook delivery runs in the PostgreSQL pass; skipped here");
        return;
    }
    let (_dir, path) = config("allow_private_targets = true\npoll_interval = \"50ms\"");
    let server = TestServer::start_with(&["--config", &path]).await;
    let _two = server.node(2, &["--config", &path]);
    let _three = server.node(3, &["--config", &path]);
    let admin = server.admin();
    let receiver = Receiver::start().await;
    let (_, secret) = create_webhook(&admin, &receiver.url, &["api_key.created"]).await;

    let started = Instant::now();
    let keys: Vec<_> = (0..1000).map(|i| json!({"name": format!("k{i}")})).collect();
    let r = admin.post("/v1/api-keys/batch", json!({"keys": keys})).await;
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(500)]);
    let all = eventually(Duration::from_secs(60), || async { receiver.got().len() >= 1000 }).await;
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await; // a late duplicate would arrive meanwhile
    let got = receiver.got();
    assert!(all, "only {} of 1000 delivered", got.len());
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &got {
        *counts.entry(r.id.as_str()).or_default() += 1;
    }
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!("3 nodes: {} events delivered in {elapsed:?}, {duplicates} duplicates", counts.len());
    assert_eq!((counts.len(), duplicates), (1000, 0));
    for r in got.iter().step_by(97) {
        assert_signed(&secret, r);
    }
}
