//! Test harness: runs the real `latchkey` binary on an ephemeral loopback
//! port with a temporary data directory, and hands out HTTP clients.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

/// Credentials of an organization created by `init` or `admin create-org`.
#[derive(Debug, Clone)]
pub struct OrgCreds {
    pub org_id: String,
    pub user_id: String,
    pub api_key: String,
}

/// A running server.
pub struct TestServer {
    pub url: String,
    pub admin: OrgCreds,
    dir: tempfile::TempDir,
    child: Option<Child>,
    http: reqwest::Client,
}

/// Runs `latchkey <args>` to completion.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).env_remove("LATCHKEY_DATA_DIR").output().expect("run latchkey")
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
    }
}

impl TestServer {
    /// `latchkey init` + `latchkey serve` on a fresh data directory.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let admin = create_org(&dir.path().join("data"), &["init"], "Acme", "ada@example.com");
        let mut s = Self { url: String::new(), admin, dir, child: None, http: reqwest::Client::new() };
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
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir().to_str().unwrap()])
            .env("LATCHKEY_LOG", "debug")
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
        self.url = rx.recv_timeout(Duration::from_secs(20)).expect("server did not report its address");
        self.child = Some(child);
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
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        req = match &self.auth {
            Auth::None => req,
            Auth::XApiKey(k) => req.header("X-API-Key", k),
            Auth::Bearer(t) => req.header("Authorization", format!("Bearer {t}")),
            Auth::BearerInOrg(t, org) => {
                req.header("Authorization", format!("Bearer {t}")).header("X-Latchkey-Org", org.as_str())
            }
        };
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
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
    let acc = server.with_bearer(&person.token).post_empty(&format!("/v1/invitations/{token}/accept")).await;
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
