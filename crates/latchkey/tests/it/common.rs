//! Test harness: runs the real `latchkey` binary on an ephemeral loopback
//! port with a temporary data directory, and hands out HTTP clients.
//!
//! The suite runs on either backend: by default each server has its own
//! SQLite database in its data directory; with
//! `LATCHKEY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432` each data
//! directory stands for a fresh PostgreSQL database of its own on that
//! server (created by latchkey on first use, dropped when the test ends), and
//! every command the tests run gets it through `LATCHKEY_DATABASE_URL`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::canary::{assert_no_secrets_logged, remember_secret, remember_secrets_in};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

/// The servers' log level: `LATCHKEY_TEST_LOG` (the test command runs the
/// SQLite pass at `trace`, see [`assert_no_secrets_logged`]), else `debug`.
pub fn server_log_level() -> String {
    std::env::var("LATCHKEY_TEST_LOG").ok().filter(|l| !l.is_empty()).unwrap_or_else(|| "debug".to_owned())
}

/// Credentials of an organization created by `init` or `admin create-org`.
#[derive(Debug, Clone)]
pub struct OrgCreds {
    pub org_id: String,
    pub user_id: String,
    pub api_key: String,
    /// The first admin's password, which `init` (not `admin create-org`)
    /// makes and prints once.
    pub password: Option<String>,
}

/// A running server.
pub struct TestServer {
    pub url: String,
    /// Extra `serve` arguments, kept across restarts.
    extra: Vec<String>,
    /// `LATCHKEY_LOG` of the server ([`server_log_level`] unless started
    /// with [`TestServer::start_with_log`]).
    log_filter: String,
    pub admin: OrgCreds,
    dir: tempfile::TempDir,
    child: Option<Child>,
    http: reqwest::Client,
}

/// The PostgreSQL server the suite runs against, if any
/// (`LATCHKEY_TEST_DATABASE_URL`, without a database name).
pub fn pg_base() -> Option<String> {
    std::env::var("LATCHKEY_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| u.trim_end_matches('/').to_owned())
}

/// Data directories bound to a database of their own choosing
/// ([`TestServer::start_on_database`]).
static BOUND: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());

/// The PostgreSQL database a data directory stands for: one it was bound
/// to, else (PostgreSQL mode) a fresh one named after it.
pub fn database_url_for(data_dir: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let bound = BOUND.lock().unwrap().iter().find(|(d, _)| d == data_dir).map(|(_, url)| url.clone());
    if let Some(url) = bound {
        // Bound to "": the embedded SQLite database, whatever the mode.
        return Some(url).filter(|u| !u.is_empty());
    }
    let base = pg_base()?;
    // SipHash with fixed keys: the same directory always maps to the same database.
    let mut h = std::hash::DefaultHasher::new();
    data_dir.hash(&mut h);
    Some(format!("{base}/lk_test_{:016x}", h.finish()))
}

/// `latchkey <args>`, with the storage that the `--data-dir` in `args`
/// stands for (see the module doc).
pub fn cli(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("LATCHKEY_DATA_DIR").env_remove("LATCHKEY_DATABASE_URL");
    let dir = args.iter().position(|a| *a == "--data-dir").and_then(|i| args.get(i + 1));
    if let Some(url) = dir.and_then(|d| database_url_for(Path::new(d))) {
        cmd.env("LATCHKEY_DATABASE_URL", url);
    }
    cmd
}

/// Starts `latchkey serve` on a free loopback port; returns its URL once it
/// listens.
fn spawn_serve(data_dir: &Path, log: &Path, extra: &[&str], log_filter: &str) -> (String, Child) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut child = cli(&args)
        .env("LATCHKEY_LOG", log_filter)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn latchkey serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("latchkey listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(20)).expect("server did not report its address");
    (url, child)
}

/// One more server process on a [`TestServer`]'s storage; killed on drop.
pub struct Node {
    pub url: String,
    child: Option<Child>,
    log: PathBuf,
    http: reqwest::Client,
}

impl Node {
    /// A client authenticating with `key` in `X-API-Key`.
    pub fn with_key(&self, key: &str) -> Api {
        Api { base: self.url.clone(), auth: Auth::XApiKey(key.to_owned()), http: self.http.clone() }
    }

    /// Everything the node logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            assert_no_secrets_logged(&self.logs(), &self.log.display().to_string());
        }
    }
}

impl Node {
    /// `latchkey serve` on an existing data directory `data_dir` (an
    /// installation restored or migrated by a test), logging to `log`;
    /// on PostgreSQL `url` if given (bound to the directory), else on the
    /// directory's SQLite database.
    pub fn serve(data_dir: &Path, url: Option<&str>, log: &Path) -> Self {
        BOUND.lock().unwrap().push((data_dir.to_owned(), url.unwrap_or_default().to_owned()));
        let (url, child) = spawn_serve(data_dir, log, &[], &server_log_level());
        Node { url, child: Some(child), log: log.to_owned(), http: reqwest::Client::new() }
    }

    /// A client authenticating with `Authorization: Bearer`.
    pub fn with_bearer(&self, token: &str) -> Api {
        Api { base: self.url.clone(), auth: Auth::Bearer(token.to_owned()), http: self.http.clone() }
    }

    /// A session token acting in `org_id` (`X-Latchkey-Org`).
    pub fn with_bearer_in_org(&self, token: &str, org_id: &str) -> Api {
        Api {
            base: self.url.clone(),
            auth: Auth::BearerInOrg(token.to_owned(), org_id.to_owned()),
            http: self.http.clone(),
        }
    }
}

/// Runs `latchkey <args>` to completion.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    cli(args).output().expect("run latchkey")
}

/// Drops the PostgreSQL database of `data_dir` (PostgreSQL mode), ending
/// its connections first. Best effort: a leftover database is harmless.
fn drop_database(data_dir: &Path) {
    let Some(url) = database_url_for(data_dir) else { return };
    let Some((server, name)) = url.rsplit_once('/') else { return };
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    let _ = Command::new("psql")
        .args([&format!("{server}/postgres"), "-q", "-c", &sql])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn create_org(data_dir: &Path, sub: &[&str], org: &str, email: &str) -> OrgCreds {
    let dir = data_dir.to_str().unwrap();
    let mut args = sub.to_vec();
    args.extend(["--org", org, "--email", email, "--data-dir", dir, "--json"]);
    let out = run_cli(&args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("init --json prints JSON");
    OrgCreds {
        org_id: v["orgId"].as_str().unwrap().to_owned(),
        user_id: v["userId"].as_str().unwrap().to_owned(),
        api_key: v["apiKey"].as_str().unwrap().to_owned(),
        password: v["password"].as_str().map(str::to_owned),
    }
}

impl TestServer {
    /// `latchkey init` + `latchkey serve` on a fresh data directory.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`TestServer::start`] with extra `serve` arguments.
    pub async fn start_with(extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), extra, &server_log_level())
    }

    /// [`TestServer::start_with`] logging with the filter `log_filter`
    /// (`LATCHKEY_LOG`, e.g. `trace`; the default is [`server_log_level`]).
    pub async fn start_with_log(log_filter: &str, extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), extra, log_filter)
    }

    /// A server on its embedded SQLite database whatever the suite's mode
    /// (the source of `latchkey admin migrate`, or of a backup).
    pub async fn start_sqlite(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        BOUND.lock().unwrap().push((dir.path().join("data"), String::new()));
        Self::start_in(dir, extra, &server_log_level())
    }

    /// A server on the PostgreSQL database `url` (whatever the suite's
    /// mode), e.g. one on a private PostgreSQL instance for fault tests.
    pub async fn start_on_database(url: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        BOUND.lock().unwrap().push((dir.path().join("data"), url.to_owned()));
        Self::start_in(dir, extra, &server_log_level())
    }

    fn start_in(dir: tempfile::TempDir, extra: &[&str], log_filter: &str) -> Self {
        let admin = create_org(&dir.path().join("data"), &["init"], "Acme", "ada@example.com");
        let extra = extra.iter().map(|s| (*s).to_owned()).collect();
        let mut s = Self {
            url: String::new(),
            extra,
            log_filter: log_filter.to_owned(),
            admin,
            dir,
            child: None,
            http: reqwest::Client::new(),
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn spawn(&mut self) {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let (url, child) = spawn_serve(&self.data_dir(), &self.log_path(), &extra, &self.log_filter);
        self.url = url;
        self.child = Some(child);
    }

    /// Another `latchkey serve` process on the same storage (a second node
    /// of a cluster in PostgreSQL mode), with `extra` arguments; its log
    /// goes to `node-<n>.log` in the test's directory.
    pub fn node(&self, n: usize, extra: &[&str]) -> Node {
        let log = self.dir.path().join(format!("node-{n}.log"));
        let (url, child) = spawn_serve(&self.data_dir(), &log, extra, &self.log_filter);
        Node { url, child: Some(child), log, http: self.http.clone() }
    }

    /// Another organization with its own admin key.
    pub fn second_org(&self, name: &str, email: &str) -> OrgCreds {
        create_org(&self.data_dir(), &["admin", "create-org"], name, email)
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait; returns whether it exited successfully within 10 s.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else { return false };
        Command::new("kill").args(["-TERM", &c.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                c.kill().ok();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same data directory (new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A client authenticating with `key` in `X-API-Key`.
    pub fn with_key(&self, key: &str) -> Api {
        Api { base: self.url.clone(), auth: Auth::XApiKey(key.to_owned()), http: self.http.clone() }
    }

    /// A service key of the first organization holding `scopes`, minted by
    /// the operator (`latchkey admin create-service-key`), e.g. with the
    /// reserved `secret:resolve` no request can grant.
    pub fn service_key(&self, scopes: &[&str]) -> String {
        let dir = self.data_dir();
        let mut args = vec!["admin", "create-service-key", "--org", &self.admin.org_id, "--json"];
        args.extend(["--data-dir", dir.to_str().unwrap()]);
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        let out = run_cli(&args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("create-service-key --json prints JSON");
        v["apiKey"].as_str().unwrap().to_owned()
    }

    /// A client authenticating with `Authorization: Bearer`.
    pub fn with_bearer(&self, token: &str) -> Api {
        Api { base: self.url.clone(), auth: Auth::Bearer(token.to_owned()), http: self.http.clone() }
    }

    /// The admin of the first organization.
    pub fn admin(&self) -> Api {
        self.with_key(&self.admin.api_key)
    }

    /// A session token in `Authorization: Bearer`, acting in `org_id`
    /// through `X-Latchkey-Org`.
    pub fn with_session_in_org(&self, token: &str, org_id: &str) -> Api {
        Api {
            base: self.url.clone(),
            auth: Auth::BearerInOrg(token.to_owned(), org_id.to_owned()),
            http: self.http.clone(),
        }
    }

    /// No credentials.
    pub fn anonymous(&self) -> Api {
        Api { base: self.url.clone(), auth: Auth::None, http: self.http.clone() }
    }

    /// No credentials, connecting from the loopback address `local` (any of
    /// 127.0.0.0/8 works on Linux): another client address.
    pub fn anonymous_from(&self, local: &str) -> Api {
        let http =
            reqwest::Client::builder().local_address(local.parse::<std::net::IpAddr>().unwrap()).build().unwrap();
        Api { base: self.url.clone(), auth: Auth::None, http }
    }

    /// `key` in `X-API-Key`, connecting from the loopback address `local`.
    pub fn with_key_from(&self, key: &str, local: &str) -> Api {
        let http =
            reqwest::Client::builder().local_address(local.parse::<std::net::IpAddr>().unwrap()).build().unwrap();
        Api { base: self.url.clone(), auth: Auth::XApiKey(key.to_owned()), http }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Creates a key as `api` and returns (id, plaintext).
    pub async fn create_key(api: &Api, body: Value) -> (String, String) {
        let r = api.post("/v1/api-keys", body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        (r.body["data"]["id"].as_str().unwrap().to_owned(), r.body["data"]["key"].as_str().unwrap().to_owned())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            assert_no_secrets_logged(&self.logs(), "the server");
        }
        let dir = self.data_dir();
        let mut bound = BOUND.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let was_bound = bound.iter().any(|(d, _)| *d == dir);
        bound.retain(|(d, _)| *d != dir);
        drop(bound);
        if !was_bound {
            drop_database(&dir);
        }
    }
}

#[derive(Clone)]
enum Auth {
    None,
    XApiKey(String),
    Bearer(String),
    /// Bearer token plus `X-Latchkey-Org`.
    BearerInOrg(String, String),
}

/// An HTTP client bound to one server and one credential.
#[derive(Clone)]
pub struct Api {
    base: String,
    auth: Auth,
    http: reqwest::Client,
}

/// A response: status, parsed JSON (Null if not JSON) and raw text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// The error code of an error envelope (asserting its shape).
    pub fn error_code(&self) -> &str {
        let err = &self.body["error"];
        assert!(err["message"].is_string(), "not an error envelope: {}", self.text);
        assert_eq!(self.body.as_object().unwrap().len(), 1, "extra top-level fields: {}", self.text);
        err["code"].as_str().unwrap()
    }
}

impl Api {
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<reqwest::Body>) -> Resp {
        self.send_with(method, path, body, &[]).await
    }

    /// [`Api::send`] with extra request headers.
    pub async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<reqwest::Body>,
        headers: &[(String, String)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        for (name, value) in headers {
            req = req.header(name.as_str(), value.as_str());
        }
        req = match &self.auth {
            Auth::None => req,
            Auth::XApiKey(k) => req.header("X-API-Key", k),
            Auth::Bearer(t) => req.header("Authorization", format!("Bearer {t}")),
            Auth::BearerInOrg(t, org) => {
                req.header("Authorization", format!("Bearer {t}")).header("X-Latchkey-Org", org.as_str())
            }
        };
        if let Auth::XApiKey(secret) | Auth::Bearer(secret) | Auth::BearerInOrg(secret, _) = &self.auth {
            remember_secret(secret);
        }
        if let Some(b) = body {
            if let Some(sent) = b.as_bytes().and_then(|raw| serde_json::from_slice::<Value>(raw).ok()) {
                remember_secrets_in(&sent);
            }
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        remember_secrets_in(&body);
        Resp { status, body, text, headers }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(body.to_string().into())).await
    }

    pub async fn post_empty(&self, path: &str) -> Resp {
        self.send(reqwest::Method::POST, path, None).await
    }

    pub async fn post_raw(&self, path: &str, raw: impl Into<reqwest::Body>) -> Resp {
        self.send(reqwest::Method::POST, path, Some(raw.into())).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PUT, path, Some(body.to_string().into())).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PATCH, path, Some(body.to_string().into())).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None).await
    }
}

/// `{}` helper for readability.
pub fn empty() -> Value {
    json!({})
}

/// Polls `f` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The password every test user signs up with (at least 12 characters).
pub const PASSWORD: &str = "correct-horse-battery-staple";

/// A person who signed up through `POST /v1/auth/signup`.
#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    /// The session token (`lks_…`) from the signup.
    pub token: String,
    pub session_id: String,
    pub user_id: String,
    /// The organization created at signup (the session's current org).
    pub org_id: String,
}

/// Signs `email` up with [`PASSWORD`], creating the organization `org`.
pub async fn signup(server: &TestServer, email: &str, org: &str) -> Person {
    let display = email.split('@').next().unwrap_or(email);
    let r = server
        .anonymous()
        .post("/v1/auth/signup", json!({"email": email, "password": PASSWORD, "displayName": display, "orgName": org}))
        .await;
    assert_eq!(r.status, 201, "signup {email}: {}", r.text);
    let d = &r.body["data"];
    Person {
        email: d["user"]["email"].as_str().unwrap().to_owned(),
        token: d["token"].as_str().unwrap().to_owned(),
        session_id: d["sessionId"].as_str().unwrap().to_owned(),
        user_id: d["user"]["id"].as_str().unwrap().to_owned(),
        org_id: d["org"]["id"].as_str().unwrap().to_owned(),
    }
}

/// `POST /v1/auth/login`, returning the raw response.
pub async fn login(server: &TestServer, email: &str, password: &str) -> Resp {
    server.anonymous().post("/v1/auth/login", json!({"email": email, "password": password})).await
}

/// `admin` invites `email` with `role`; that person signs up (with an org of
/// their own) and accepts with their session. Returns the person; act in the
/// joined org with [`TestServer::with_session_in_org`].
pub async fn join_org(server: &TestServer, admin: &Api, org_id: &str, email: &str, role: &str) -> Person {
    let inv = admin.post("/v1/invitations", json!({"email": email, "role": role})).await;
    assert_eq!(inv.status, 201, "invite {email}: {}", inv.text);
    let token = inv.body["data"]["token"].as_str().unwrap().to_owned();
    let person = signup(server, email, &format!("{email} home")).await;
    let acc = server.with_bearer(&person.token).post("/v1/invitations/accept", json!({"token": token})).await;
    assert_eq!(acc.status, 200, "accept {email}: {}", acc.text);
    assert_eq!(acc.body["data"]["id"], org_id, "{}", acc.text);
    assert_eq!(acc.body["data"]["role"], role, "{}", acc.text);
    person
}

/// The `x-request-id` response header.
pub fn request_id(r: &Resp) -> String {
    r.headers.get("x-request-id").expect("x-request-id header").to_str().unwrap().to_owned()
}

/// The `id` fields of a list response's `data`.
pub fn ids(r: &Resp, field: &str) -> Vec<String> {
    r.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", r.text))
        .iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

/// Milliseconds since the epoch of an RFC 3339 timestamp.
pub fn ms(ts: &Value) -> i64 {
    let t = time::OffsetDateTime::parse(ts.as_str().unwrap(), &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{ts} is not RFC 3339: {e}"));
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
