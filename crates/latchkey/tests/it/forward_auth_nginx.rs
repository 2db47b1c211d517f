//! Forward auth through a real nginx: `auth_request` asks `GET /v1/auth/check`
//! about every request, and the upstream (a stub `server` block in the same
//! nginx that echoes the identity headers it was handed) sees only admitted
//! requests. The config is the one documented in docs/forward-auth.md.
//!
//! nginx is a system package (`/usr/sbin/nginx`, installed by `.ci/run`); each
//! test runs its own instance on two ephemeral loopback ports with every path
//! (pid, logs, temp files) inside a temporary directory.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Resp, TestServer};

/// The nginx binary (Debian package `nginx-light`, or `nginx`).
const NGINX: &str = "/usr/sbin/nginx";

/// How long nginx may take to start answering.
const NGINX_START_TIMEOUT: Duration = Duration::from_secs(10);

/// The config under test; `@DIR@`, `@FRONT_PORT@`, `@UPSTREAM_PORT@` and
/// `@LATCHKEY@` (host:port) are filled in by [`Nginx::start`]. Keep in step
/// with docs/forward-auth.md.
const NGINX_CONF: &str = r#"
daemon off;
master_process off;
worker_processes 1;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log warn;

events {
    worker_connections 64;
}

http {
    access_log @DIR@/access.log;
    client_body_temp_path @DIR@/client_body;
    proxy_temp_path @DIR@/proxy;
    fastcgi_temp_path @DIR@/fastcgi;
    uwsgi_temp_path @DIR@/uwsgi;
    scgi_temp_path @DIR@/scgi;

    # The protected service: a stub that echoes the identity nginx handed it.
    server {
        listen 127.0.0.1:@UPSTREAM_PORT@;
        location / {
            return 200 "upstream ok org=$http_x_latchkey_org_id key=$http_x_latchkey_key_id project=$http_x_latchkey_project_id env=$http_x_latchkey_environment user=$http_x_latchkey_user_id\n";
        }
    }

    server {
        listen 127.0.0.1:@FRONT_PORT@;

        # Every request in this server needs a valid key; a location narrows
        # that to a scope with `set $latchkey_scope <scope>;`.
        auth_request /_latchkey;
        auth_request_set $latchkey_status $upstream_status;
        auth_request_set $latchkey_org $upstream_http_x_latchkey_org_id;
        auth_request_set $latchkey_key $upstream_http_x_latchkey_key_id;
        auth_request_set $latchkey_project $upstream_http_x_latchkey_project_id;
        auth_request_set $latchkey_env $upstream_http_x_latchkey_environment;
        auth_request_set $latchkey_user $upstream_http_x_latchkey_user_id;
        auth_request_set $latchkey_rl_limit $upstream_http_ratelimit_limit;
        auth_request_set $latchkey_rl_remaining $upstream_http_ratelimit_remaining;
        auth_request_set $latchkey_rl_reset $upstream_http_ratelimit_reset;
        auth_request_set $latchkey_retry_after $upstream_http_retry_after;
        # auth_request lets through 2xx, 401 and 403 only; any other answer
        # (429 included) becomes a 500. @latchkey_denied restores the status.
        error_page 401 403 500 = @latchkey_denied;

        # The identity goes to the upstream. A client's own copies of these
        # headers are overwritten, or removed when the value is empty.
        proxy_set_header X-Latchkey-Org-Id $latchkey_org;
        proxy_set_header X-Latchkey-Key-Id $latchkey_key;
        proxy_set_header X-Latchkey-Project-Id $latchkey_project;
        proxy_set_header X-Latchkey-Environment $latchkey_env;
        proxy_set_header X-Latchkey-User-Id $latchkey_user;
        proxy_set_header X-Latchkey-Scope "";
        add_header RateLimit-Limit $latchkey_rl_limit always;
        add_header RateLimit-Remaining $latchkey_rl_remaining always;
        add_header RateLimit-Reset $latchkey_rl_reset always;

        location = /_latchkey {
            internal;
            # $latchkey_scope is unset in locations that need no scope.
            uninitialized_variable_warn off;
            proxy_pass http://@LATCHKEY@/v1/auth/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            # Set here, never taken from the client.
            proxy_set_header X-Latchkey-Scope $latchkey_scope;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Uri $request_uri;
        }

        location @latchkey_denied {
            auth_request off;
            default_type application/json;
            add_header RateLimit-Limit $latchkey_rl_limit always;
            add_header RateLimit-Remaining $latchkey_rl_remaining always;
            add_header RateLimit-Reset $latchkey_rl_reset always;
            add_header Retry-After $latchkey_retry_after always;
            if ($latchkey_status = 401) {
                return 401 '{"error":{"code":"unauthorized","message":"Invalid or missing authentication"}}\n';
            }
            if ($latchkey_status = 403) {
                return 403 '{"error":{"code":"insufficient_scope","message":"This key lacks the scope this route requires"}}\n';
            }
            if ($latchkey_status = 429) {
                return 429 '{"error":{"code":"rate_limited","message":"Rate limit exceeded; retry after Retry-After seconds"}}\n';
            }
            return 503 '{"error":{"code":"unavailable","message":"The key check is unavailable"}}\n';
        }

        location = /healthz {
            auth_request off;
            return 200 "ok\n";
        }

        location /v1/sandboxes {
            set $latchkey_scope sandbox:create;
            proxy_pass http://127.0.0.1:@UPSTREAM_PORT@;
        }

        location /v1/agents {
            set $latchkey_scope agent:run;
            proxy_pass http://127.0.0.1:@UPSTREAM_PORT@;
        }
    }
}
"#;

/// A running nginx; killed on drop.
pub struct Nginx {
    /// `http://127.0.0.1:PORT`, the server block with `auth_request`.
    front: String,
    dir: tempfile::TempDir,
    child: Child,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Nginx {
    /// Starts nginx in front of the latchkey server at `latchkey_url`.
    pub async fn start(latchkey_url: &str) -> Self {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} not found: the forward-auth tests run a real nginx. Install it with \
             `apt-get install nginx-light` (or `nginx`); .ci/run installs it when missing."
        );
        let latchkey = latchkey_url.strip_prefix("http://").expect("latchkey serves plain http");
        // The ports are free when picked but not held; retry if one is taken meanwhile.
        for attempt in 1..=3 {
            match Self::try_start(latchkey).await {
                Ok(nginx) => return nginx,
                Err(log) if attempt < 3 && log.contains("Address already in use") => {}
                Err(log) => panic!("nginx did not start:\n{log}"),
            }
        }
        unreachable!()
    }

    async fn try_start(latchkey: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let dir_str = dir.path().to_str().unwrap().to_owned();
        let (front_port, upstream_port) = (free_port(), free_port());
        let conf = NGINX_CONF
            .replace("@DIR@", &dir_str)
            .replace("@FRONT_PORT@", &front_port.to_string())
            .replace("@UPSTREAM_PORT@", &upstream_port.to_string())
            .replace("@LATCHKEY@", latchkey);
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(NGINX)
            .args(["-p", &format!("{dir_str}/"), "-c", conf_path.to_str().unwrap()])
            .args(["-e", &format!("{dir_str}/error.log")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {NGINX}: {e}"));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let mut nginx = Self { front: format!("http://127.0.0.1:{front_port}"), dir, child, http };

        // Ready when the stub upstream answers (nginx binds every listener
        // before serving any) and the front port accepts connections.
        let upstream = format!("http://127.0.0.1:{upstream_port}/");
        let deadline = Instant::now() + NGINX_START_TIMEOUT;
        loop {
            if let Some(status) = nginx.child.try_wait().unwrap() {
                return Err(format!("nginx exited with {status}\n{}", nginx.logs()));
            }
            let upstream_ok = match nginx.http.get(&upstream).timeout(Duration::from_millis(500)).send().await {
                Ok(r) => r.status() == 200 && r.text().await.unwrap_or_default().starts_with("upstream ok"),
                Err(_) => false,
            };
            if upstream_ok && tokio::net::TcpStream::connect(("127.0.0.1", front_port)).await.is_ok() {
                return Ok(nginx);
            }
            if Instant::now() > deadline {
                return Err(format!("nginx not answering after {NGINX_START_TIMEOUT:?}\n{}", nginx.logs()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `http://127.0.0.1:PORT`: the server block with `auth_request`.
    pub fn front(&self) -> &str {
        &self.front
    }

    /// nginx's stderr and error log, for failure messages.
    pub fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("--- nginx stderr:\n{}--- nginx error.log:\n{}", read("stderr.log"), read("error.log"))
    }

    /// A request to the front server block with the given headers.
    async fn send(&self, method: reqwest::Method, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.front));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if method == reqwest::Method::POST {
            req = req.header("content-type", "application/json").body(r#"{"image":"ubuntu"}"#);
        }
        let res = req.send().await.expect("request through nginx");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text, headers }
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(reqwest::Method::POST, path, headers).await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(reqwest::Method::GET, path, headers).await
    }

    /// Asserts `r` has `status` (and, for a refusal, the error `code`), with
    /// nginx's log in the message: a refusal nginx could not map shows there
    /// as `auth request unexpected status`.
    pub fn expect(&self, r: &Resp, status: u16, code: Option<&str>, what: &str) {
        assert_eq!(r.status, status, "{what}: {}\n{}", r.text, self.logs());
        if let Some(code) = code {
            assert_eq!(r.error_code(), code, "{what}");
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn nginx_admits_a_scoped_key_and_hands_the_upstream_its_identity() {
    let server = TestServer::start().await;
    let nginx = Nginx::start(&server.url).await;
    assert_eq!(nginx.get("/healthz", &[]).await.text, "ok\n", "the public location needs no key");
    let (id, key) =
        TestServer::create_key(&server.admin(), json!({"name": "sandboxes", "scopes": ["sandbox:create"]})).await;
    let bearer = format!("Bearer {key}");
    let expected =
        format!("upstream ok org={} key={id} project= env=live user={}\n", server.admin.org_id, server.admin.user_id);
    for (style, credential) in [("X-API-Key", ("X-API-Key", key.as_str())), ("Bearer", ("Authorization", &bearer))] {
        // The client's own identity headers must not reach the upstream.
        let spoofed = [
            credential,
            ("X-Latchkey-Org-Id", "org_spoofed"),
            ("X-Latchkey-Key-Id", "key_spoofed"),
            ("X-Latchkey-Project-Id", "prj_spoofed"),
            ("X-Latchkey-User-Id", "usr_spoofed"),
        ];
        let r = nginx.post("/v1/sandboxes", &spoofed).await;
        nginx.expect(&r, 200, None, style);
        assert_eq!(r.text, expected, "{style}: the upstream sees the key's org and id, not the client's");
        assert!(header(&r, "RateLimit-Limit").is_none(), "{style}: no rate limit on this key");
    }
}

#[tokio::test]
async fn nginx_refuses_missing_garbage_and_underscoped_keys() {
    let server = TestServer::start().await;
    let nginx = Nginx::start(&server.url).await;
    let (_, agent_key) =
        TestServer::create_key(&server.admin(), json!({"name": "agents", "scopes": ["agent:run"]})).await;

    let r = nginx.post("/v1/sandboxes", &[("X-API-Key", &agent_key)]).await;
    nginx.expect(&r, 403, Some("insufficient_scope"), "agent:run key on a sandbox:create route");
    // Asking for the scope itself does not help: nginx sets X-Latchkey-Scope.
    let r = nginx.post("/v1/sandboxes", &[("X-API-Key", &agent_key), ("X-Latchkey-Scope", "agent:run")]).await;
    nginx.expect(&r, 403, Some("insufficient_scope"), "client-chosen scope header");
    let r = nginx.get("/v1/agents", &[("X-API-Key", &agent_key)]).await;
    nginx.expect(&r, 200, None, "agent:run key on an agent:run route");
    assert!(r.text.starts_with(&format!("upstream ok org={} ", server.admin.org_id)), "{}", r.text);

    let well_formed_unknown = format!("lk_live_{}", "A".repeat(38));
    let cases: [(&str, &[(&str, &str)]); 5] = [
        ("no key", &[]),
        ("garbage X-API-Key", &[("X-API-Key", "hello")]),
        ("garbage Bearer", &[("Authorization", "Bearer hello")]),
        ("wrong scheme", &[("Authorization", "Basic aGVsbG86d29ybGQ=")]),
        ("never issued", &[("X-API-Key", &well_formed_unknown)]),
    ];
    for (what, headers) in cases {
        let r = nginx.post("/v1/sandboxes", headers).await;
        nginx.expect(&r, 401, Some("unauthorized"), what);
    }
}

#[tokio::test]
async fn nginx_refuses_a_revoked_key_on_the_very_next_request() {
    let server = TestServer::start().await;
    let nginx = Nginx::start(&server.url).await;
    let admin = server.admin();
    let (id, key) = TestServer::create_key(&admin, json!({"name": "short-lived", "scopes": ["sandbox:create"]})).await;
    let r = nginx.post("/v1/sandboxes", &[("X-API-Key", &key)]).await;
    nginx.expect(&r, 200, None, "before revocation");
    let revoked = admin.post_empty(&format!("/v1/api-keys/{id}/revoke")).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let r = nginx.post("/v1/sandboxes", &[("X-API-Key", &key)]).await;
    nginx.expect(&r, 401, Some("unauthorized"), "right after revocation");
}

#[tokio::test]
async fn nginx_passes_on_429_with_retry_after_when_a_key_is_rate_limited() {
    let server = TestServer::start().await;
    let nginx = Nginx::start(&server.url).await;
    let admin = server.admin();
    let limited = json!({"name": "limited", "scopes": ["sandbox:create"], "rateLimitPerMinute": 2});
    let (_, key) = TestServer::create_key(&admin, limited).await;
    let (_, other) = TestServer::create_key(&admin, json!({"name": "other", "scopes": ["sandbox:create"]})).await;

    for remaining in ["1", "0"] {
        let r = nginx.post("/v1/sandboxes", &[("X-API-Key", &key)]).await;
        nginx.expect(&r, 200, None, "within the burst of 2");
        assert!(r.text.starts_with("upstream ok "), "{}", r.text);
        assert_eq!(header(&r, "RateLimit-Limit"), Some("2"), "{:?}", r.headers);
        assert_eq!(header(&r, "RateLimit-Remaining"), Some(remaining), "{:?}", r.headers);
    }
    let r = nginx.post("/v1/sandboxes", &[("X-API-Key", &key)]).await;
    nginx.expect(&r, 429, Some("rate_limited"), "third request within the minute");
    let retry_after: u64 = header(&r, "Retry-After")
        .unwrap_or_else(|| panic!("429 without Retry-After: {:?}", r.headers))
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(header(&r, "RateLimit-Remaining"), Some("0"), "{:?}", r.headers);

    // The limit is the key's own: another key of the same org is unaffected.
    let r = nginx.post("/v1/sandboxes", &[("X-API-Key", &other)]).await;
    nginx.expect(&r, 200, None, "another key");
}

#[tokio::test]
async fn nginx_answers_503_when_latchkey_is_down() {
    let mut server = TestServer::start().await;
    let nginx = Nginx::start(&server.url).await;
    let (_, key) =
        TestServer::create_key(&server.admin(), json!({"name": "sandboxes", "scopes": ["sandbox:create"]})).await;
    server.kill9();
    let r = nginx.post("/v1/sandboxes", &[("X-API-Key", &key)]).await;
    nginx.expect(&r, 503, Some("unavailable"), "the check cannot be reached: fail closed");
}
