//! Faults of the services a node depends on, on private instances (their
//! own Redis and PostgreSQL on free loopback ports, so stopping them
//! disturbs nothing else): Redis down → per-node limits, never "no limit";
//! PostgreSQL down → cached keys keep verifying, writes answer 503
//! `unavailable` promptly and recover by themselves.
//!
//! They run in the SQLite pass only (their storage is private anyway, so
//! the PostgreSQL pass would only repeat them).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{TestServer, eventually, pg_base};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `redis-server` of our own; killed on drop.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) is needed by this test");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child: Some(child) }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn code(api: &crate::common::Api, key: &str) -> String {
    let r = api.post("/v1/keys/verify", json!({"key": key})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"]["code"].as_str().unwrap().to_owned()
}

fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn with_redis_down_limits_fall_back_to_each_node_never_to_no_limit() {
    if pg_base().is_some() {
        return; // see the module doc
    }
    let mut redis = PrivateRedis::start_on(free_port());
    let port = redis.port;
    let server = TestServer::start_with(&["--redis-url", &redis.url()]).await;
    let admin = server.admin();
    assert_eq!(admin.get("/readyz").await.status, 200);
    let (_, limited) = TestServer::create_key(&admin, json!({"name": "l", "rateLimitPerMinute": 5})).await;
    assert_eq!(code(&admin, &limited).await, "VALID");
    assert_eq!(code(&admin, &limited).await, "VALID");

    redis.kill();
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(code(&admin, &limited).await);
    }
    // The node's own limiter starts fresh: 5 more at most, then refusals.
    let valid = codes.iter().filter(|c| *c == "VALID").count();
    assert!(valid <= 5, "Redis down must not mean no limit: {codes:?}");
    assert!(codes.iter().filter(|c| *c == "RATE_LIMITED").count() >= 7, "{codes:?}");
    assert!(server.logs().contains("limiting on this node alone"), "a warning is logged");
    let page = server.anonymous().get("/metrics").await.text;
    assert!(metric(&page, "latchkey_ratelimit_fallback_total") >= 1.0, "{page}");
    let ready = server.anonymous().get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.error_code(), "unavailable");
    assert!(ready.text.contains("redis"), "{}", ready.text);

    // Redis back: ready again, limits shared again.
    let _redis = PrivateRedis::start_on(port);
    let anon = server.anonymous();
    assert!(
        eventually(Duration::from_secs(10), || {
            let anon = anon.clone();
            async move { anon.get("/readyz").await.status == 200 }
        })
        .await,
        "ready again once Redis is back"
    );
}

/// A PostgreSQL cluster of our own (initdb in a temporary directory, run as
/// the `postgres` user when we are root); stopped on drop.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    fn as_owner(&self, program: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).output().unwrap()
    }

    fn start_new() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin")).find(|p| p.join("initdb").exists()))
            .expect("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are needed by this test");
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(status.success());
        }
        let pg = Self { bin, dir, port: free_port() };
        let data = pg.data();
        let out = pg.as_owner("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg.start();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("pg").to_str().unwrap().to_owned()
    }

    fn start(&self) {
        let opts = format!("-p {} -c listen_addresses=127.0.0.1 -k {}", self.port, self.dir.path().display());
        let log = self.dir.path().join("pg.log");
        let out =
            self.as_owner("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", log.to_str().unwrap(), "-w", "start"]);
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn stop(&self) {
        let out = self.as_owner("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/latchkey", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.as_owner("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[tokio::test]
async fn with_postgres_down_cached_keys_verify_writes_fail_fast_with_503_and_recover() {
    if pg_base().is_some() {
        return; // see the module doc
    }
    let pg = PrivatePostgres::start_new();
    let server = TestServer::start_on_database(&pg.url(), &[]).await;
    let admin = server.admin();
    let (_, key) = TestServer::create_key(&admin, json!({"name": "cached"})).await;
    assert_eq!(code(&admin, &key).await, "VALID");

    pg.stop();
    // Verification of known keys goes on from the cache.
    for _ in 0..20 {
        assert_eq!(code(&admin, &key).await, "VALID");
    }
    // Writes fail with 503 `unavailable`, promptly: no hang, no 500.
    let started = Instant::now();
    let r = admin.post("/v1/api-keys", json!({"name": "during the outage"})).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.error_code(), "unavailable");
    assert!(started.elapsed() < Duration::from_secs(10), "answered in {:?}", started.elapsed());
    assert_eq!(server.anonymous().get("/readyz").await.status, 503);

    pg.start();
    assert!(
        eventually(Duration::from_secs(15), || {
            let admin = admin.clone();
            async move { admin.post("/v1/api-keys", json!({"name": "after"})).await.status == 201 }
        })
        .await,
        "writes recover by themselves once PostgreSQL is back"
    );
    assert_eq!(server.anonymous().get("/readyz").await.status, 200);
    assert_eq!(code(&admin, &key).await, "VALID");
}
