//! A real OpenID provider for the sign-in tests (issue 22), and a small
//! browser to drive sign-ins through it.
//!
//! [`idp()`] starts `node tests/idp/server.mjs` (panva's `oidc-provider`,
//! pinned in `tests/idp/package-lock.json`) once per test binary on an
//! ephemeral loopback port; its issuer is `http://127.0.0.1:PORT`. Its stdin
//! stays open for the life of this process, so the IdP ends when the tests
//! do, however they end. When `tests/idp/node_modules` is missing it first
//! runs `npm ci` there (scripts/test.sh normally has).
//!
//! Tests configure it over its control API: [`Idp::register_client`] (each
//! latchkey server registers its own client once its port is known),
//! [`Idp::add_user`] (with an optional `tamper` mode or `deny`) and
//! [`Idp::set_default_user`]. The IdP signs in, without a form, the user
//! named by the authorization request's `login_hint`, else the client's
//! default user, else the default user; everything is global to the test
//! binary, so tests use [`unique_sub`] and clients of their own.
//!
//! [`Browser`] follows redirects itself with a cookie jar, as a browser
//! does, so a test sees every URL of a sign-in (latchkey start → IdP
//! authorize → interaction → IdP resume → latchkey callback → …).
//!
//! It is also a GitHub-like OAuth 2.0 provider for the connected-apps tests
//! (issue 23; `tests/idp/oauth.mjs`): [`Idp::register_oauth_client`] makes a
//! client that gets rotated refresh tokens (reuse of a rotated one revokes
//! the grant) and access tokens of the lifetime it asks for; requests may
//! leave out `openid` and ask for [`OAUTH_SCOPES`]; [`Idp::oauth_endpoints`]
//! names the endpoints a provider catalog needs (the account is at
//! `GET /user`, `{sub, preferred_username, name, email}`, for a token with
//! `read:user`); [`Idp::revoke_grant`] revokes a person's grant from the
//! provider's side, [`Idp::stats`] counts a client's refreshes and
//! [`Idp::issued_tokens`] lists the tokens it issued to a client.
//!
//! Its own tests (`idp/self_tests.rs`) prove the IdP does what latchkey's
//! tests rely on: a code flow with PKCE, state, nonce and `iss`, the claims
//! in the ID token, every tamper mode, and `deny`; `idp/oauth_self_tests.rs`
//! the GitHub-like flow, refresh, rotation and reuse, revocation, the
//! controls and short lifetimes.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

/// The GitHub-like scopes the IdP knows beside `openid email profile`.
pub const OAUTH_SCOPES: &str = "repo read:user";

/// How long the IdP may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How much of the IdP's stderr is kept for [`Idp::log_tail`].
const LOG_KEEP: usize = 64 * 1024;

/// The running test IdP (see the module doc).
pub struct Idp {
    /// `http://127.0.0.1:PORT`: the issuer, and the base of every endpoint.
    pub issuer: String,
    /// The tail of the IdP's stderr.
    log: Arc<Mutex<String>>,
    /// The `node` process; its stdin is held open until this process exits
    /// (or this is dropped: then it is killed).
    process: Child,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A user of the test IdP ([`Idp::add_user`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct IdpUser<'a> {
    /// The subject: stable, what latchkey links an identity by.
    pub sub: &'a str,
    /// The `email` claim.
    pub email: &'a str,
    /// The `email_verified` claim.
    pub email_verified: bool,
    /// The `name` claim.
    pub name: &'a str,
    /// What the IdP does wrong for this user: `foreign_key`, `wrong_aud`,
    /// `wrong_nonce`, `expired`, `wrong_iss`, `alg_none` (the ID token from
    /// the token endpoint) or `iss_param` (the `iss` of the redirect back to
    /// the client).
    pub tamper: Option<&'a str>,
    /// The user refuses: the authorization ends with `error=access_denied`.
    pub deny: bool,
}

/// The endpoints of the IdP that an OAuth 2.0 client is configured with
/// ([`Idp::oauth_endpoints`]).
#[derive(Debug, Clone)]
pub struct OAuthEndpoints {
    /// The authorization endpoint (`/auth`).
    pub authorize: String,
    /// The token endpoint (`/token`): codes and refresh tokens.
    pub token: String,
    /// The revocation endpoint (`/token/revocation`, RFC 7009): revoking an
    /// access or a refresh token ends its whole grant.
    pub revocation: String,
    /// The GitHub-like account endpoint (`/user`): `{sub,
    /// preferred_username, name, email}` for an access token with
    /// `read:user`, with or without `openid`.
    pub user: String,
}

/// What the IdP saw of one client ([`Idp::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdpStats {
    /// Token endpoint requests with `grant_type=refresh_token` by the
    /// client (authenticated), answered or refused.
    pub refresh_grants: u64,
    /// How many of those were refused (`invalid_grant` and the like).
    pub refresh_grant_errors: u64,
}

/// The test IdP, started on first use (once per test binary).
pub fn idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(Idp::start)
}

/// A subject (or any id) no other test uses: `prefix` and a unique suffix.
pub fn unique_sub(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{}-{nanos:09}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The repository's `tests/idp`.
fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/idp")
}

/// Runs `npm ci` in `tests/idp` when its packages are not installed, once
/// even when several test processes start at the same time (an exclusive
/// lock on its package-lock.json).
fn install_packages(dir: &Path) {
    // npm writes node_modules/.package-lock.json at the end of an install.
    let installed = || dir.join("node_modules/.package-lock.json").exists();
    if installed() {
        return;
    }
    let lock = std::fs::File::open(dir.join("package-lock.json")).unwrap();
    lock.lock().unwrap();
    if installed() {
        return;
    }
    let out =
        Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(dir).output().unwrap_or_else(|e| {
            panic!("cannot run npm ({e}): the test IdP needs Node 20 and npm (.ci/run installs them)")
        });
    assert!(
        out.status.success(),
        "npm ci in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Idp {
    /// Starts the IdP and waits for its `idp listening on …` line.
    fn start() -> Self {
        Self::launch(0)
    }

    /// Another IdP, on `port` (a test of a provider that comes up late);
    /// killed when dropped.
    pub fn start_on_port(port: u16) -> Self {
        Self::launch(port)
    }

    fn launch(port: u16) -> Self {
        let dir = idp_dir();
        install_packages(&dir);
        let mut process = Command::new("node")
            .arg(dir.join("server.mjs"))
            .args(["--port", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node ({e}): the test IdP needs Node 20 (.ci/run installs it)"));

        // Both pipes are read for the IdP's whole life, so it never blocks on a full one.
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = BufReader::new(process.stderr.take().unwrap());
        let stderr_reader = std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                for line in stderr.lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                    if log.len() > 2 * LOG_KEEP {
                        let cut = log.ceil_char_boundary(log.len() - LOG_KEEP);
                        log.drain(..cut);
                    }
                }
            }
        });
        let stdout = BufReader::new(process.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("idp listening on ") {
                    let _ = tx.send(issuer.to_owned());
                }
            }
        });

        match rx.recv_timeout(START_TIMEOUT) {
            Ok(issuer) => Self { issuer, log, process },
            Err(e) => {
                let _ = process.kill();
                let status = process.wait();
                let _ = stderr_reader.join();
                panic!("the test IdP did not start ({e}; {status:?}); its stderr:\n{}", log.lock().unwrap());
            }
        }
    }

    /// The last lines the IdP logged (for a failing test's message).
    pub fn log_tail(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `POST {issuer}{path}` with a JSON body; panics unless 204.
    async fn control(&self, path: &str, body: Value) {
        // A client per call: each test has its own runtime, and a pooled
        // connection must not outlive the runtime it was made in.
        let res = reqwest::Client::new().post(format!("{}{path}", self.issuer)).json(&body).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT, "test IdP {path} {body}: {text}");
    }

    /// Registers (or replaces) a confidential client: authorization code
    /// flow with PKCE, `client_secret_basic` or `client_secret_post`.
    pub async fn register_client(&self, client_id: &str, client_secret: &str, redirect_uris: &[&str]) {
        self.control(
            "/__test/clients",
            json!({"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris}),
        )
        .await;
    }

    /// Registers (or replaces) a GitHub-like OAuth client: the
    /// authorization code flow with PKCE and the refresh token grant, a
    /// refresh token with every code, rotated at every use (presenting a
    /// rotated one again revokes the grant). Its access tokens live
    /// `access_token_ttl` (whole seconds, at least one), or an hour.
    pub async fn register_oauth_client(
        &self,
        client_id: &str,
        client_secret: &str,
        redirect_uris: &[&str],
        access_token_ttl: Option<Duration>,
    ) {
        let ttl = access_token_ttl.map(|ttl| {
            assert!(ttl.subsec_nanos() == 0 && ttl.as_secs() >= 1, "the IdP's token lifetimes are whole seconds");
            ttl.as_secs()
        });
        self.control(
            "/__test/clients",
            json!({
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": redirect_uris,
                "grant_types": ["authorization_code", "refresh_token"],
                "access_token_ttl": ttl,
            }),
        )
        .await;
    }

    /// The endpoints an OAuth client of the IdP is configured with.
    pub fn oauth_endpoints(&self) -> OAuthEndpoints {
        OAuthEndpoints {
            authorize: format!("{}/auth", self.issuer),
            token: format!("{}/token", self.issuer),
            revocation: format!("{}/token/revocation", self.issuer),
            user: format!("{}/user", self.issuer),
        }
    }

    /// Revokes every grant of user `sub` to `client_id` at the provider,
    /// with all its tokens, as a person who revokes an app there: the
    /// client's next refresh gets `invalid_grant`. Returns how many grants
    /// there were.
    pub async fn revoke_grant(&self, sub: &str, client_id: &str) -> u64 {
        let res = reqwest::Client::new()
            .post(format!("{}/__test/revoke-grant", self.issuer))
            .json(&json!({"sub": sub, "client_id": client_id}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "test IdP /__test/revoke-grant: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        body["revoked"].as_u64().unwrap_or_else(|| panic!("test IdP /__test/revoke-grant: {text}"))
    }

    /// Makes the token endpoint answer `client_id` 503
    /// `temporarily_unavailable` for `seconds` (0 ends an outage): a
    /// provider that is down.
    pub async fn token_outage(&self, client_id: &str, seconds: u64) {
        self.control("/__test/token-outage", json!({"client_id": client_id, "seconds": seconds})).await;
    }

    /// What the IdP saw of `client_id` so far (zeros for a client it never
    /// heard from).
    pub async fn stats(&self, client_id: &str) -> IdpStats {
        let mut url = Url::parse(&format!("{}/__test/stats", self.issuer)).unwrap();
        url.query_pairs_mut().append_pair("client_id", client_id);
        let res = reqwest::Client::new().get(url).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "test IdP /__test/stats: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let count = |name: &str| body[name].as_u64().unwrap_or_else(|| panic!("test IdP /__test/stats: {text}"));
        IdpStats { refresh_grants: count("refresh_grants"), refresh_grant_errors: count("refresh_grant_errors") }
    }

    /// Every access and refresh token the IdP's token endpoint issued to
    /// `client_id` so far, in order (none for a client it never heard
    /// from): what a client must keep out of its logs, lists and storage.
    pub async fn issued_tokens(&self, client_id: &str) -> Vec<String> {
        let mut url = Url::parse(&format!("{}/__test/tokens", self.issuer)).unwrap();
        url.query_pairs_mut().append_pair("client_id", client_id);
        let res = reqwest::Client::new().get(url).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "test IdP /__test/tokens: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let tokens = body["tokens"].as_array().unwrap_or_else(|| panic!("test IdP /__test/tokens: {text}"));
        tokens.iter().map(|t| t.as_str().unwrap().to_owned()).collect()
    }

    /// Registers (or replaces) a user.
    pub async fn add_user(&self, user: IdpUser<'_>) {
        self.control(
            "/__test/users",
            json!({
                "sub": user.sub,
                "email": user.email,
                "email_verified": user.email_verified,
                "name": user.name,
                "tamper": user.tamper,
                "deny": user.deny,
            }),
        )
        .await;
    }

    /// Who signs in when an authorization request has no `login_hint` and
    /// its client has no default user of its own. Global to the test binary:
    /// tests that run at the same time want [`Idp::set_default_user_for`].
    pub async fn set_default_user(&self, sub: &str) {
        self.control("/__test/default-user", json!({"sub": sub})).await;
    }

    /// Who signs in through `client_id` when its authorization request has
    /// no `login_hint`.
    pub async fn set_default_user_for(&self, client_id: &str, sub: &str) {
        self.control("/__test/default-user", json!({"sub": sub, "client_id": client_id})).await;
    }
}

/// A client that behaves like a browser: a cookie jar, and redirects
/// followed one hop at a time (up to 20) so that every URL is seen, across
/// hosts and ports.
pub struct Browser {
    http: reqwest::Client,
}

/// Where a [`Browser`] went and what it got in the end.
pub struct Navigation {
    /// The last hop's response (not a redirect).
    pub response: reqwest::Response,
    /// Every URL requested, in order; the last one gave `response`.
    pub visited: Vec<Url>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// Redirects followed at most.
    const MAX_HOPS: usize = 20;

    /// A browser with an empty cookie jar.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { http }
    }

    /// A browser whose jar holds the cookie `name=value` for `url`'s host
    /// (a latchkey dashboard session: `latchkey_session`, the session
    /// token).
    pub fn with_cookie(url: &str, name: &str, value: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        jar.add_cookie_str(&format!("{name}={value}; Path=/"), &Url::parse(url).unwrap());
        let http = reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { http }
    }

    /// The underlying client (same cookie jar, redirects not followed), for
    /// requests that are not navigations.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET url`, following redirects.
    pub async fn get(&self, url: &str) -> Navigation {
        self.navigate(Method::GET, url, None).await
    }

    /// `POST url` with a form, following redirects (a 301, 302 or 303 turns
    /// it into a GET, as browsers do; a 307 or 308 posts the form again).
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Navigation {
        self.navigate(Method::POST, url, Some(form)).await
    }

    async fn navigate(&self, mut method: Method, url: &str, mut form: Option<&[(&str, &str)]>) -> Navigation {
        let mut url = Url::parse(url).unwrap_or_else(|e| panic!("browser: bad URL {url}: {e}"));
        let mut visited = Vec::new();
        loop {
            visited.push(url.clone());
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(form) = form {
                request = request.form(form);
            }
            let response =
                request.send().await.unwrap_or_else(|e| panic!("browser: {method} {url}: {e}; visited {visited:?}"));
            let location = response.headers().get(reqwest::header::LOCATION);
            let Some(location) = location.filter(|_| response.status().is_redirection()) else {
                return Navigation { response, visited };
            };
            assert!(visited.len() <= Self::MAX_HOPS, "browser: more than {} redirects: {visited:?}", Self::MAX_HOPS);
            let location =
                location.to_str().unwrap_or_else(|e| panic!("browser: Location from {url} is not text: {e}"));
            url = url.join(location).unwrap_or_else(|e| panic!("browser: bad Location {location} from {url}: {e}"));
            if !matches!(response.status(), StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT) {
                method = Method::GET;
                form = None;
            }
        }
    }
}

/// The query parameters of `url`.
pub fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

mod oauth_self_tests;
mod self_tests;
