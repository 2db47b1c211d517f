//! Issue 17, the HTTP edge: connection limits and timeouts (d02), the
//! client address behind proxies (d03), ambiguous forwarded paths (d08),
//! client request ids (d12), hyper's own error answers (d17) and the
//! metrics token (d19).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestServer;

/// `host:port` of a server URL.
fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Writes `latchkey.toml` into the server's data directory and restarts it.
fn configure(server: &mut TestServer, toml: &str) {
    std::fs::write(server.data_dir().join("latchkey.toml"), toml).unwrap();
    server.restart();
}

/// Sends `raw` on a fresh connection and reads the answer until the server
/// closes it: (status, headers in lowercase, body).
async fn raw_exchange(server: &TestServer, raw: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr(server)).await.unwrap();
    // The server may answer (and close) before it has read everything.
    let _ = s.write_all(raw).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await.unwrap().ok();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {head}"));
    (status, head.to_lowercase(), body.to_owned())
}

fn assert_envelope(body: &str, code: &str) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    assert_eq!(v["error"]["code"], code, "{body}");
    assert!(v["error"]["message"].is_string(), "{body}");
    assert_eq!(v.as_object().unwrap().len(), 1, "{body}");
}

/// Keeps `n` connections open that never finish their headers, opening a
/// new one whenever the server closes one; returns (closed by the server,
/// answered 503).
async fn slow_clients(url: String, n: usize, until: Instant) -> (usize, usize) {
    let mut closed = 0;
    let mut refused = 0;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let url = url.clone();
        tasks.spawn(async move {
            let (mut closed, mut refused) = (0, 0);
            while Instant::now() < until {
                let Ok(mut s) = TcpStream::connect(&url).await else { continue };
                let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
                let mut buf = Vec::new();
                let left = until.saturating_duration_since(Instant::now());
                if let Ok(Ok(_)) = tokio::time::timeout(left, s.read_to_end(&mut buf)).await {
                    closed += 1;
                    if buf.starts_with(b"HTTP/1.1 503") {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (closed, refused)
        });
    }
    while let Some(Ok((c, r))) = tasks.join_next().await {
        closed += c;
        refused += r;
    }
    (closed, refused)
}

/// Keeps `n` kept-alive connections idle after one request each.
async fn idle_clients(url: String, n: usize, until: Instant) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let url = url.clone();
        tasks.spawn(async move {
            let mut closed = 0;
            while Instant::now() < until {
                let Ok(mut s) = TcpStream::connect(&url).await else { continue };
                let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                if !buf[..n].starts_with(b"HTTP/1.1 200") {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                // Now idle until the server gives up on us.
                let left = until.saturating_duration_since(Instant::now());
                if let Ok(Ok(0)) = tokio::time::timeout(left, s.read(&mut buf)).await {
                    closed += 1;
                }
            }
            closed
        });
    }
    let mut closed = 0;
    while let Some(Ok(c)) = tasks.join_next().await {
        closed += c;
    }
    closed
}

#[tokio::test]
async fn d02_slow_and_idle_clients_beyond_the_limit_do_not_starve_a_normal_client() {
    let server =
        TestServer::start_with(&["--max-connections", "20", "--header-read-timeout", "1s", "--idle-timeout", "1s"])
            .await;
    let normal = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let healthz = format!("{}/healthz", server.url);
    // The normal client's connection is open before the flood.
    assert_eq!(normal.get(&healthz).send().await.unwrap().status(), 200);

    let until = Instant::now() + Duration::from_secs(5);
    let idle = tokio::spawn(idle_clients(addr(&server), 10, until));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let slow = tokio::spawn(slow_clients(addr(&server), 30, until));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let r = normal.get(&healthz).send().await.expect("the normal client is answered");
        assert_eq!(r.status(), 200);
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");

    let (slow_closed, refused) = slow.await.unwrap();
    let idle_closed = idle.await.unwrap();
    // 40 clients against a limit of 20: the surplus is answered 503, and
    // the server closes slow and idle connections after their timeouts.
    assert!(refused > 0, "no connection was refused at the limit");
    assert!(slow_closed > refused, "slow clients were never timed out ({slow_closed} closed, {refused} refused)");
    eprintln!(
        "slow clients closed: {slow_closed}, refused: {refused}; idle clients closed: {idle_closed}; p99 {p99:?}"
    );
    assert!(idle_closed > 0, "idle clients were never timed out");
    // Refused connections got the envelope.
    let mut s = Vec::new();
    for _ in 0..25 {
        s.push(TcpStream::connect(addr(&server)).await.unwrap());
    }
    let (status, head, body) = raw_exchange(&server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_envelope(&body, "unavailable");
    drop(s);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = reqwest::Client::new();
    assert_eq!(fresh.get(&healthz).send().await.unwrap().status(), 200, "serving again after the flood");
    let logs = server.logs();
    assert!(!logs.contains("Too many open files"), "{logs}");
}

#[tokio::test]
async fn d02_a_half_sent_request_does_not_block_shutdown() {
    let mut server =
        TestServer::start_with(&["--shutdown-deadline", "1s", "--header-read-timeout", "60s", "--idle-timeout", "60s"])
            .await;
    let mut half = TcpStream::connect(addr(&server)).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ").await.unwrap();
    // An idle kept-alive connection too.
    let mut idle = TcpStream::connect(addr(&server)).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).await.unwrap() > 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    assert!(server.terminate(), "the server did not exit cleanly on SIGTERM:\n{}", server.logs());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "SIGTERM took {took:?} with a 1 s deadline");
    assert!(server.logs().contains("shutdown deadline passed"), "{}", server.logs());
}

#[tokio::test]
async fn d02_a_trickling_body_does_not_hold_a_connection() {
    let server = TestServer::start_with(&["--header-read-timeout", "1s", "--idle-timeout", "1s"]).await;
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    s.write_all(
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ =
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await.expect("still open after 10 s");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
}

/// A `/v1/auth/check` with a bad key, as from `xff` when given.
async fn bad_check(server: &TestServer, xff: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new()
        .get(format!("{}/v1/auth/check", server.url))
        .header("X-API-Key", format!("lk_live_{}", "B".repeat(38)));
    if let Some(xff) = xff {
        req = req.header("X-Forwarded-For", xff);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn d03_forwarded_for_from_an_untrusted_peer_does_not_split_the_budget() {
    let server = TestServer::start().await;
    let mut statuses = Vec::new();
    for i in 0..60 {
        statuses.push(bad_check(&server, Some(&format!("198.51.100.{i}"))).await);
    }
    assert!(statuses[..30].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[30..].iter().all(|s| *s == 429), "60 spoofed addresses are one client: {statuses:?}");
    // A 20 KB value is no address: it neither fails nor buys a budget.
    let huge = "1".repeat(20_000);
    assert_eq!(bad_check(&server, Some(&huge)).await, 429);
}

#[tokio::test]
async fn d03_behind_a_trusted_proxy_the_right_most_untrusted_entry_is_counted() {
    let mut server = TestServer::start().await;
    configure(&mut server, "failed_auth_per_minute = 5\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n");
    // The client writes whatever it likes on the left; the proxy appends the
    // address it saw (1.1.1.1), a trusted hop (10.0.0.7) appends its own peer.
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(bad_check(&server, Some(&format!("6.6.6.{i}, 1.1.1.1, 10.0.0.7"))).await);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429], "1.1.1.1 is counted, not the spoofed entries");
    assert_eq!(bad_check(&server, Some("1.1.1.1, 2.2.2.2")).await, 401, "2.2.2.2 has a budget of its own");
    assert_eq!(bad_check(&server, Some(&"2".repeat(20_000))).await, 401, "garbage: the proxy itself is counted");

    // The same address is the one the audit trail records.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/auth/login", server.url))
        .header("X-Forwarded-For", "6.6.6.6, 203.0.113.5")
        .json(&json!({"email": "ada@example.com", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let events = server.admin().get("/v1/audit-events?limit=100").await;
    let failed: Vec<&Value> =
        events.body["data"].as_array().unwrap().iter().filter(|e| e["action"] == "auth.login_failed").collect();
    assert_eq!(failed.len(), 1, "{}", events.text);
    assert_eq!(failed[0]["ip"], "203.0.113.5");
}

#[tokio::test]
async fn d03_through_the_documented_nginx_a_client_cannot_choose_its_address() {
    let mut server = TestServer::start().await;
    configure(&mut server, "trusted_proxies = [\"127.0.0.1\", \"::1\"]\n");
    let nginx = crate::forward_auth_nginx::Nginx::start(&server.url).await;
    let bad = format!("lk_live_{}", "C".repeat(38));
    let mut statuses = Vec::new();
    for i in 0..40 {
        let spoofed = format!("198.51.100.{i}");
        let r = nginx.post("/v1/sandboxes", &[("X-API-Key", &bad), ("X-Forwarded-For", &spoofed)]).await;
        statuses.push(r.status);
    }
    assert!(statuses[..30].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[30..].iter().all(|s| *s == 429), "spoofed X-Forwarded-For split the budget: {statuses:?}");
}

/// `/v1/auth/check` for `key` on a forwarded request, through either pair
/// of headers.
async fn check(server: &TestServer, key: &str, nginx_style: bool, method: &str, uri: &[u8]) -> reqwest::Response {
    let (m, u) =
        if nginx_style { ("X-Original-Method", "X-Original-URI") } else { ("X-Forwarded-Method", "X-Forwarded-Uri") };
    reqwest::Client::new()
        .get(format!("{}/v1/auth/check", server.url))
        .header("X-API-Key", key)
        .header(m, method)
        .header(u, reqwest::header::HeaderValue::from_bytes(uri).unwrap())
        .send()
        .await
        .unwrap()
}

const ROUTES: &str = "[[auth_check.routes]]\npath_prefix = \"/v1/sandboxes\"\nscope = \"sandbox:create\"\n";

#[tokio::test]
async fn d08_ambiguous_forwarded_paths_are_refused() {
    let mut server = TestServer::start().await;
    configure(&mut server, ROUTES);
    let (_, agent) = TestServer::create_key(&server.admin(), json!({"name": "a", "scopes": ["agent:run"]})).await;
    for nginx_style in [false, true] {
        let r = check(&server, &agent, nginx_style, "POST", b"/v1/sandboxes").await;
        assert_eq!(r.status(), 403, "the route needs sandbox:create");
        assert_eq!(check(&server, &agent, nginx_style, "POST", b"/v1/agents/run?x=1").await.status(), 200);
        for sneaky in [
            &b"/v1/sandboxes/..%2fpublic"[..],
            b"/v1/sandboxes%2f..%2fpublic",
            b"/v1/sandboxes%2F..%2Fpublic",
            b"/v1/sandboxes%5c..%5cpublic",
            b"/v1/sandboxes\\..\\public",
            b"/v1/sandboxes/../public",
            b"/v1/sandboxes/%2e%2e/public",
            b"/v1/sandboxes;x/../public",
            b"/v1/sandboxes%00/../public",
            b"/v1/public%252f..%252fsandboxes",
            b"/v1/%73andboxes",
            b"//v1/sandboxes",
            b"/v1/sandboxes/x/%2e",
            b"http://evil/v1/sandboxes",
            b"/v1/sandbox\xc3\xa9s",
        ] {
            let r = check(&server, &agent, nginx_style, "POST", sneaky).await;
            let shown = String::from_utf8_lossy(sneaky);
            assert_eq!(r.status(), 403, "{shown}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "ambiguous_path", "{shown}: {body}");
        }
    }
    // The spelling of a plain path does not matter to the match: case, a
    // trailing slash, the query.
    for plain in [&b"/V1/SANDBOXES"[..], b"/v1/sandboxes/", b"/v1/sandboxes?../x"] {
        let r = check(&server, &agent, false, "POST", plain).await;
        assert_eq!(r.status(), 403, "{}", String::from_utf8_lossy(plain));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "insufficient_scope");
    }
}

#[tokio::test]
async fn d08_the_lenient_reading_is_a_choice() {
    let mut server = TestServer::start().await;
    configure(&mut server, &format!("[auth_check]\nambiguous_paths = \"normalize\"\n\n{ROUTES}"));
    let (_, agent) = TestServer::create_key(&server.admin(), json!({"name": "a", "scopes": ["agent:run"]})).await;
    // Decoded and resolved, as before: a service that routes paths this way
    // is protected, one that does not is not (hence the default).
    assert_eq!(check(&server, &agent, false, "POST", b"/v1/%73andboxes").await.status(), 403);
    assert_eq!(check(&server, &agent, false, "POST", b"/v1/x/../sandboxes").await.status(), 403);
    assert_eq!(check(&server, &agent, false, "POST", b"/v1/sandboxes/..%2fpublic").await.status(), 200);
}

/// A failed login carrying `id` as its request id: the id answered and the
/// one in the audit event.
async fn login_with_request_id(server: &TestServer, id: &[u8]) -> (String, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/auth/login", server.url))
        .header("X-Request-Id", reqwest::header::HeaderValue::from_bytes(id).unwrap())
        .json(&json!({"email": "ada@example.com", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let answered = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let events = server.admin().get("/v1/audit-events?limit=1").await;
    let event = &events.body["data"][0];
    assert_eq!(event["action"], "auth.login_failed", "{}", events.text);
    (answered, event["requestId"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn d12_client_request_ids_are_bounded_and_plain() {
    let server = TestServer::start().await;
    let (answered, audited) = login_with_request_id(&server, b"checkout-7f3a:42_b.c").await;
    assert_eq!((answered.as_str(), audited.as_str()), ("checkout-7f3a:42_b.c", "checkout-7f3a:42_b.c"));
    let huge = "r".repeat(20_000);
    // Five failed logins in all: a sixth within the minute would be refused.
    for bad in [huge.as_bytes(), b"id\tred", b"<script> caf\xc3\xa9", &[b'x'; 129]] {
        let (answered, audited) = login_with_request_id(&server, bad).await;
        let shown = String::from_utf8_lossy(bad);
        assert_eq!(answered, audited, "{shown}");
        assert!(answered.len() <= 64 && answered.as_bytes() != bad, "{shown} kept: {answered}");
    }
}

#[tokio::test]
async fn d17_hyper_errors_carry_the_envelope() {
    let server = TestServer::start().await;
    let big = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(70_000));
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    for (raw, status, code) in [
        (big.as_bytes(), 431, "headers_too_large"),
        (many.as_bytes(), 431, "headers_too_large"),
        (&b"GARBAGE\r\n\r\n"[..], 400, "invalid_request"),
        (b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n", 400, "invalid_request"),
        (b"GET /he\x01lthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_request"),
    ] {
        let (got, head, body) = raw_exchange(&server, raw).await;
        assert_eq!(got, status, "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        assert_envelope(&body, code);
    }
    // A malformed request after a good one on the same connection too.
    let (status, _, body) =
        raw_exchange(&server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n").await;
    assert_eq!(status, 200);
    let second = body.split_once("HTTP/1.1 ").map(|(_, rest)| rest).unwrap_or_default();
    assert!(second.starts_with("400 "), "{body}");
    assert_envelope(second.split_once("\r\n\r\n").unwrap().1, "invalid_request");
}

#[tokio::test]
async fn d19_metrics_can_require_a_token() {
    let mut server = TestServer::start().await;
    assert_eq!(server.anonymous().get("/metrics").await.status, 200, "public by default");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics-token");
    std::fs::write(&token_file, "m3trics-t0ken\n").unwrap();
    configure(&mut server, &format!("metrics_token_file = {:?}\n", token_file.to_str().unwrap()));
    for auth in [None, Some("Bearer wrong"), Some("Bearer m3trics-t0ke"), Some("Basic m3trics-t0ken")] {
        let mut req = reqwest::Client::new().get(format!("{}/metrics", server.url));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_envelope(&r.text().await.unwrap(), "unauthorized");
    }
    let r = server.with_bearer("m3trics-t0ken").get("/metrics").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("latchkey_"), "{}", r.text);
}

#[tokio::test]
async fn d19_metrics_can_have_a_listener_of_their_own() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let at = format!("127.0.0.1:{port}");
    let server = TestServer::start_with(&["--metrics-listen", &at]).await;
    let r = server.anonymous().get("/metrics").await;
    assert_eq!(r.status, 404, "not on the main listener: {}", r.text);
    assert_envelope(&r.text, "not_found");
    let page = reqwest::get(format!("http://{at}/metrics")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("latchkey_"));
    let other = reqwest::get(format!("http://{at}/v1/me")).await.unwrap();
    assert_eq!(other.status(), 404, "only the metrics there");
}
