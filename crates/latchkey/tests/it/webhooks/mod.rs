//! Webhooks (issue 26): endpoints, signed deliveries that survive failures
//! and crashes, the scheduler's events, SSRF refusals and who may manage
//! them. A receiver on loopback ([`Receiver`]) checks every signature it
//! gets, independently of the server's code (HMAC-SHA256 here).

mod cluster;
mod delivery;
mod guard;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64ct::{Base64, Encoding as _};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::common::{TestServer, eventually, now_ms};

/// One message the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signatures: Vec<String>,
    pub body: Value,
    pub raw: Vec<u8>,
    /// When it arrived (ms since the epoch).
    pub at: i64,
}

#[derive(Default)]
struct Inner {
    got: Vec<Received>,
    /// Requests still to answer 503 before answering 200.
    fail_next: usize,
    /// Answer every request with 500.
    always_fail: bool,
}

/// A webhook receiver: a real HTTP server on 127.0.0.1.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
}

async fn receive(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut inner = inner.lock().unwrap();
    if inner.always_fail {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let got = Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp").parse().unwrap_or(0),
        signatures: h("webhook-signature").split(' ').map(str::to_owned).collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body.to_vec(),
        at: now_ms(),
    };
    if inner.fail_next > 0 {
        inner.fail_next -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    inner.got.push(got);
    StatusCode::NO_CONTENT
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(receive).with_state(Arc::clone(&inner));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url: format!("http://127.0.0.1:{port}/hook"), port, inner }
    }

    /// Answer the next `n` requests with 503.
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().unwrap().fail_next = n;
    }

    /// Answer every request with 500 (or not).
    pub fn always_fail(&self, on: bool) {
        self.inner.lock().unwrap().always_fail = on;
    }

    /// Everything accepted so far.
    pub fn got(&self) -> Vec<Received> {
        self.inner.lock().unwrap().got.clone()
    }

    /// The types accepted so far.
    pub fn types(&self) -> BTreeSet<String> {
        self.got().iter().map(|r| r.body["type"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// Waits until a message of `event_type` arrived; returns it.
    pub async fn wait_for(&self, event_type: &str, timeout: Duration) -> Received {
        let found = eventually(timeout, || async { self.types().contains(event_type) }).await;
        assert!(found, "no {event_type} arrived in {timeout:?}; got {:?}", self.types());
        self.got().into_iter().find(|r| r.body["type"] == event_type).unwrap()
    }
}

/// The `v1,` signature of a message with the secret `whsec`, computed here.
pub fn expected_signature(whsec: &str, r: &Received) -> String {
    let key = Base64::decode_vec(whsec.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
    mac.update(&r.raw);
    format!("v1,{}", Base64::encode_string(&mac.finalize().into_bytes()))
}

/// Asserts that `r` is signed with `whsec`, its id is the header's, its
/// timestamp is recent, and its payload has the documented shape.
pub fn assert_signed(whsec: &str, r: &Received) {
    assert!(r.signatures.contains(&expected_signature(whsec, r)), "bad signature on {}: {:?}", r.id, r.signatures);
    assert_eq!(r.body["id"], r.id.as_str(), "the payload's id is the webhook-id");
    assert!((r.timestamp * 1000 - r.at).abs() < 300_000, "a timestamp in seconds, near now");
    for field in ["id", "type", "createdAt", "orgId", "data"] {
        assert!(!r.body[field].is_null(), "{field} missing in {}", r.body);
    }
}

/// `latchkey.toml` with a `[webhooks]` table; the directory keeps it.
pub fn config(table: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(&file, format!("[webhooks]\n{table}\n")).unwrap();
    let path = file.to_str().unwrap().to_owned();
    (dir, path)
}

/// A server whose webhooks may target loopback, retrying every `retry`.
pub async fn server(table: &str) -> (TestServer, tempfile::TempDir) {
    let (dir, path) = config(table);
    (TestServer::start_with(&["--config", &path]).await, dir)
}

/// Creates an endpoint subscribed to `events`; returns (id, whsec).
pub async fn create_webhook(api: &crate::common::Api, url: &str, events: &[&str]) -> (String, String) {
    let r = api.post("/v1/webhooks", serde_json::json!({"url": url, "events": events})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["data"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (r.body["data"]["id"].as_str().unwrap().to_owned(), secret)
}
