//! The CLI's sign-ins without a password (issue 22, point 5): the browser
//! sign-in over a loopback redirect with PKCE (RFC 8252) and the device
//! flow (RFC 8628), end to end with the real binary as a child process and
//! the dashboard driven by a cookie-holding HTTP client signed in through
//! `/dashboard/login`; and every refusal over HTTP.
//!
//! Expiry is tested over HTTP by ageing the stored request in the database
//! (`expires_at` in the past), not by waiting 2 or 10 minutes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::common::{BIN, PASSWORD, Person, TestServer, signup};
use crate::db::Db;

const AUTHORIZE: &str = "/dashboard/cli/authorize";
/// A PKCE verifier and its S256 challenge (RFC 7636, appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:45678/callback";

/// A browser: a cookie store, redirects not followed (so that they can be
/// looked at).
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The value of the hidden `csrf` field of a page.
pub(crate) fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no csrf field in {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// Signs `email` in through the dashboard's form (with `return_to`, when
/// given); returns the browser and where the sign-in led.
async fn dashboard_sign_in(server: &TestServer, email: &str, return_to: Option<&str>) -> (reqwest::Client, String) {
    let b = browser();
    let page = b.get(format!("{}/dashboard/login", server.url)).send().await.unwrap().text().await.unwrap();
    let mut form = vec![("csrf", csrf_of(&page)), ("email", email.to_owned()), ("password", PASSWORD.to_owned())];
    if let Some(to) = return_to {
        form.push(("return_to", to.to_owned()));
    }
    let res = b.post(format!("{}/dashboard/login", server.url)).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.text().await);
    assert!(res.headers().get_all(SET_COOKIE).iter().any(|c| c.to_str().unwrap().starts_with("latchkey_session=")));
    let to = location(&res);
    (b, to)
}

/// The authorize page's query for `redirect_uri`.
fn authorize_query(redirect_uri: &str, state: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .finish()
}

/// Opens the authorize page for `query` and presses `decision`; returns
/// the answer to the form.
async fn decide(b: &reqwest::Client, server: &TestServer, query: &str, decision: &str) -> reqwest::Response {
    let page = b.get(format!("{}{AUTHORIZE}?{query}", server.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains("Authorize the latchkey CLI on this machine?"), "{html}");
    let mut form: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let port = form.iter().find(|(k, _)| k == "redirect_uri").unwrap().1.replace("/callback", "");
    assert!(csp.contains(&format!("form-action 'self' {port}")), "{csp}");
    form.push(("csrf".into(), csrf_of(&html)));
    form.push(("decision".into(), decision.into()));
    b.post(format!("{}{AUTHORIZE}", server.url)).form(&form).send().await.unwrap()
}

/// Authorizes a code for `redirect_uri`; returns it.
async fn authorize(b: &reqwest::Client, server: &TestServer, redirect_uri: &str) -> String {
    let res = decide(b, server, &authorize_query(redirect_uri, "st-1"), "authorize").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    let query = to.strip_prefix(&format!("{redirect_uri}?")).unwrap_or_else(|| panic!("{to}"));
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    assert_eq!(params[1], ("state".to_owned(), "st-1".to_owned()));
    assert_eq!(params[0].0, "code");
    params[0].1.clone()
}

async fn exchange(server: &TestServer, code: &str, verifier: &str, redirect_uri: &str) -> crate::common::Resp {
    server
        .anonymous()
        .post("/v1/auth/cli/token", json!({"code": code, "codeVerifier": verifier, "redirectUri": redirect_uri}))
        .await
}

/// The CLI as a child process with a config directory of its own.
pub(crate) struct Cli {
    home: tempfile::TempDir,
    url: String,
}

impl Cli {
    pub(crate) fn new(server: &TestServer) -> Self {
        Self { home: tempfile::tempdir().unwrap(), url: server.url.clone() }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("LATCHKEY_API_URL", &self.url)
            .env("BROWSER", "/bin/false")
            .env_remove("LATCHKEY_API_KEY")
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `args`; its stderr lines arrive on the receiver.
    pub(crate) fn spawn(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = self.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// Runs `args` to the end with `stdin` as its standard input; returns
    /// (exit code, stdout, stderr).
    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child =
            self.cmd(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    pub(crate) fn status(&self) -> Value {
        let out = self.cmd(&["auth", "status", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn credentials(&self) -> std::path::PathBuf {
        self.home.path().join("config").join("latchkey").join("credentials.toml")
    }
}

/// The first stderr line starting with `prefix`, the rest of it.
pub(crate) fn line_after(rx: &mpsc::Receiver<String>, prefix: &str, seen: &mut Vec<String>) -> String {
    loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("no {prefix:?} in {seen:?}"));
        seen.push(line.clone());
        if let Some(rest) = line.split_once(prefix).map(|(_, r)| r) {
            return rest.trim().to_owned();
        }
    }
}

/// Waits for the child; returns (exit code, stdout, the rest of stderr).
pub(crate) fn finish(child: Child, rx: &mpsc::Receiver<String>) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    // Every line the child wrote: the reader thread sends them until the
    // pipe closes (the child has exited), then drops its sender.
    let rest: Vec<String> = rx.iter().collect();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), rest.join("\n"))
}

async fn audited(server: &TestServer, who: &Person, action: &str) -> Vec<Value> {
    let r = server.with_bearer(&who.token).get(&format!("/v1/audit-events?action={action}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_cli_signs_in_through_the_browser_and_a_cancel_is_access_denied() {
    let server = TestServer::start().await;
    let ann = signup(&server, "ann@example.com", "Ann's").await;
    let (b, _) = dashboard_sign_in(&server, &ann.email, None).await;
    let cli = Cli::new(&server);

    let (child, rx) = cli.spawn(&["login", "--browser", "--no-browser"]);
    let mut seen = Vec::new();
    let url = line_after(&rx, "Open this URL to sign in:", &mut seen);
    let query = url.strip_prefix(&format!("{}{AUTHORIZE}?", server.url)).unwrap_or_else(|| panic!("{url}")).to_owned();
    let res = decide(&b, &server, &query, "authorize").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let callback = location(&res);
    assert!(callback.starts_with("http://127.0.0.1:") && callback.contains("/callback?code=lkc_"), "{callback}");
    // The browser follows the redirect to the CLI's listener.
    let landing = reqwest::get(&callback).await.unwrap();
    assert_eq!(landing.status(), StatusCode::OK);
    assert!(landing.text().await.unwrap().contains("Signed in; you can close this window"));
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {seen:?} {stderr}");
    assert!(stdout.contains("Logged in to") && stdout.contains("ann@example.com"), "{stdout}");
    let status = cli.status();
    assert_eq!(status["authType"], "session");
    assert_eq!(status["user"]["email"], "ann@example.com");
    assert_eq!(status["org"]["id"], ann.org_id.as_str());
    let stored = std::fs::read_to_string(cli.credentials()).unwrap();
    assert!(!stored.contains(callback.split("code=").nth(1).unwrap()), "the one-time code is not stored");
    let events = audited(&server, &ann, "cli.authorize").await;
    assert_eq!(events.len(), 1);
    assert!(!events[0].to_string().contains("lkc_"), "no code in the audit trail: {}", events[0]);
    let sessions = audited(&server, &ann, "session.create").await;
    assert!(sessions.iter().any(|e| e["details"]["via"] == "cli"), "{sessions:?}");

    // Cancel: the CLI says access denied and fails.
    let other = Cli::new(&server);
    let (child, rx) = other.spawn(&["login", "--browser", "--no-browser", "--json"]);
    let mut seen = Vec::new();
    let url = line_after(&rx, "Open this URL to sign in:", &mut seen);
    let query = url.split_once('?').unwrap().1.to_owned();
    let res = decide(&b, &server, &query, "cancel").await;
    let callback = location(&res);
    assert!(callback.contains("/callback?error=access_denied&state="), "{callback}");
    let landing = reqwest::get(&callback).await.unwrap();
    assert!(landing.text().await.unwrap().contains("cancelled"));
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("access denied"), "{stderr}");
    assert!(!other.credentials().exists());
}

#[tokio::test]
async fn the_authorize_page_refuses_bad_requests_and_sends_strangers_to_sign_in_first() {
    let server = TestServer::start().await;
    let ann = signup(&server, "ann@example.com", "Ann's").await;
    let (b, _) = dashboard_sign_in(&server, &ann.email, None).await;
    for bad in [
        "http://localhost:45678/callback",
        "https://127.0.0.1:45678/callback",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:0/callback",
        "http://127.0.0.1:65536/callback",
        "http://127.0.0.1:45678/other",
        "http://127.0.0.1:45678/callback?x=1",
        "http://127.0.0.1:45678/callback#x",
        "http://user@127.0.0.1:45678/callback",
        "http://127.0.0.1:45678@evil.example/callback",
        "http://127.0.0.2:45678/callback",
        "http://evil.example/callback",
        "",
    ] {
        let res = b.get(format!("{}{AUTHORIZE}?{}", server.url, authorize_query(bad, "s"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(res.headers().get(LOCATION).is_none(), "{bad}");
        let html = res.text().await.unwrap();
        assert!(html.contains("invalid_request") && html.contains("redirect_uri must be"), "{bad}: {html}");
    }
    let good = authorize_query(REDIRECT, "s");
    for (bad, why) in [
        (good.replace("S256", "plain"), "code_challenge_method must be S256"),
        (good.replace(CHALLENGE, &CHALLENGE[..42]), "code_challenge must be"),
        (good.replace("state=s", "state="), "state must be"),
        (good.replace("state=s", "state=a+b"), "state must be"),
    ] {
        let res = b.get(format!("{}{AUTHORIZE}?{bad}", server.url)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(res.text().await.unwrap().contains(why), "{bad}");
    }
    // The IPv6 loopback is a loopback too.
    let v6 = b.get(format!("{}{AUTHORIZE}?{}", server.url, authorize_query("http://[::1]:45678/callback", "s")));
    assert_eq!(v6.send().await.unwrap().status(), StatusCode::OK);

    // A stranger signs in first and comes back; through a provider when named.
    let stranger = browser();
    let res = stranger.get(format!("{}{AUTHORIZE}?{good}", server.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    let here = format!("{AUTHORIZE}?{good}");
    let encoded: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    assert_eq!(to, format!("/dashboard/login?return_to={encoded}"));
    let login = stranger.get(format!("{}{to}", server.url)).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("name=\"return_to\""), "{login}");
    let res = stranger.get(format!("{}{AUTHORIZE}?{good}&provider=corp", server.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let via = location(&res);
    assert!(via.starts_with("/v1/auth/oidc/corp/start?return_to=%2Fdashboard%2Fcli%2Fauthorize%3F"), "{via}");
    let (_, led_to) = dashboard_sign_in(&server, &ann.email, Some(&here)).await;
    assert_eq!(led_to, here, "signing in returns to the page");
    for elsewhere in ["https://evil.example/", "//evil.example/x", "/\\evil.example"] {
        let (_, led_to) = dashboard_sign_in(&server, &ann.email, Some(elsewhere)).await;
        assert_eq!(led_to, "/dashboard/keys", "{elsewhere}");
    }
    // Any dashboard page asks for its return.
    let res = browser().get(format!("{}/dashboard/team?x=1", server.url)).send().await.unwrap();
    assert_eq!(location(&res), "/dashboard/login?return_to=%2Fdashboard%2Fteam%3Fx%3D1");

    // A POST without the CSRF token does nothing.
    let form = [
        ("redirect_uri", REDIRECT),
        ("state", "s"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("decision", "authorize"),
    ];
    let res = b.post(format!("{}{AUTHORIZE}", server.url)).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get(LOCATION).is_none());
    assert!(res.text().await.unwrap().contains("csrf_failed"));
    assert!(audited(&server, &ann, "cli.authorize").await.is_empty());
}

#[tokio::test]
async fn a_code_is_exchanged_once_with_its_verifier_and_redirect_uri_by_anyone_for_its_authorizer() {
    let server = TestServer::start().await;
    let ann = signup(&server, "ann@example.com", "Ann's").await;
    let bob = signup(&server, "bob@example.com", "Bob's").await;
    let (b, _) = dashboard_sign_in(&server, &ann.email, None).await;

    let code = authorize(&b, &server, REDIRECT).await;
    let ok = exchange(&server, &code, VERIFIER, REDIRECT).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let grant = &ok.body["data"];
    assert!(grant["token"].as_str().unwrap().starts_with("lks_"));
    assert_eq!(grant["user"]["email"], "ann@example.com");
    let me = server.with_bearer(grant["token"].as_str().unwrap()).get("/v1/me").await;
    assert_eq!(me.body["data"]["org"]["id"], ann.org_id.as_str());
    // Used twice.
    let again = exchange(&server, &code, VERIFIER, REDIRECT).await;
    assert_eq!((again.status, again.error_code()), (400, "invalid_grant"), "{}", again.text);

    // A wrong verifier spends the code: the right one is refused after it.
    let code = authorize(&b, &server, REDIRECT).await;
    let wrong = exchange(&server, &code, &VERIFIER.replace('d', "e"), REDIRECT).await;
    assert_eq!((wrong.status, wrong.error_code()), (400, "invalid_grant"));
    assert!(wrong.text.contains("codeVerifier does not match"), "{}", wrong.text);
    let after = exchange(&server, &code, VERIFIER, REDIRECT).await;
    assert_eq!((after.status, after.error_code()), (400, "invalid_grant"));
    let code = authorize(&b, &server, REDIRECT).await;
    let short = exchange(&server, &code, &VERIFIER[..42], REDIRECT).await;
    assert_eq!((short.status, short.error_code()), (400, "invalid_grant"));

    // A wrong redirect URI.
    let code = authorize(&b, &server, REDIRECT).await;
    let other = exchange(&server, &code, VERIFIER, "http://127.0.0.1:45679/callback").await;
    assert_eq!((other.status, other.error_code()), (400, "invalid_grant"));
    assert!(other.text.contains("redirectUri"), "{}", other.text);

    // Unknown and malformed codes.
    for code in ["lkc_nope", "", "lks_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
        let r = exchange(&server, code, VERIFIER, REDIRECT).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_grant"), "{code}");
    }

    // Expired (2 minutes): the stored request aged past its end.
    let code = authorize(&b, &server, REDIRECT).await;
    let db = Db::connect(&server).await;
    assert_eq!(db.exec("UPDATE auth_requests SET expires_at = 1 WHERE kind = 'cli_code'").await, 1);
    let expired = exchange(&server, &code, VERIFIER, REDIRECT).await;
    assert_eq!((expired.status, expired.error_code()), (400, "invalid_grant"));

    // The code is bound to who authorized it: Bob presenting it with his
    // own session gets Ann's session, never one of his.
    let code = authorize(&b, &server, REDIRECT).await;
    let body = json!({"code": code, "codeVerifier": VERIFIER, "redirectUri": REDIRECT});
    let by_bob = server.with_bearer(&bob.token).post("/v1/auth/cli/token", body).await;
    assert_eq!(by_bob.status, 200, "{}", by_bob.text);
    assert_eq!(by_bob.body["data"]["user"]["id"], ann.user_id.as_str());
    assert_ne!(by_bob.body["data"]["user"]["id"], bob.user_id.as_str());
    // Nothing was created by the refusals: one session per good exchange.
    let sessions = audited(&server, &ann, "session.create").await;
    assert_eq!(sessions.iter().filter(|e| e["details"]["via"] == "cli").count(), 2, "{sessions:?}");
}

/// `POST /v1/auth/device/code`.
async fn device_code(server: &TestServer, name: &str) -> Value {
    let r = server.anonymous().post("/v1/auth/device/code", json!({"clientName": name})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

async fn poll(server: &TestServer, device_code: &str) -> crate::common::Resp {
    server.anonymous().post("/v1/auth/device/token", json!({"deviceCode": device_code})).await
}

/// Types `user_code` on the device page; returns the answer's status and
/// page.
async fn enter_code(b: &reqwest::Client, server: &TestServer, user_code: &str) -> (StatusCode, String) {
    let page = b.get(format!("{}/dashboard/device", server.url)).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", csrf_of(&page)), ("user_code", user_code.to_owned())];
    let res = b.post(format!("{}/dashboard/device", server.url)).form(&form).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Approves or denies `user_code` through the pages.
async fn device_decide(
    b: &reqwest::Client,
    server: &TestServer,
    user_code: &str,
    decision: &str,
) -> (StatusCode, String) {
    let (status, page) = enter_code(b, server, user_code).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let form = [("csrf", csrf_of(&page)), ("user_code", user_code.to_owned()), ("decision", decision.to_owned())];
    let res = b.post(format!("{}/dashboard/device/decide", server.url)).form(&form).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_cli_signs_in_with_a_device_code_approved_on_the_dashboard() {
    let server = TestServer::start().await;
    let ann = signup(&server, "ann@example.com", "Ann's").await;
    let cli = Cli::new(&server);
    let (child, rx) = cli.spawn(&["login", "--device", "--json"]);
    let mut seen = Vec::new();
    let code = line_after(&rx, "and enter the code", &mut seen);
    let complete = line_after(&rx, "or open:", &mut seen);
    assert_eq!(complete, format!("{}/dashboard/device?user_code={code}", server.url));

    // Signed out, the complete URI leads to sign-in and back.
    let path = complete.strip_prefix(&server.url).unwrap();
    let (b, led_to) = dashboard_sign_in(&server, &ann.email, Some(path)).await;
    assert_eq!(led_to, path);
    let page = b.get(&complete).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("value=\"{code}\"")), "prefilled: {page}");
    let (status, page) = enter_code(&b, &server, &code.to_lowercase().replace('-', " ")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Approve this sign-in?") && page.contains("latchkey CLI"), "{page}");
    let (status, page) = device_decide(&b, &server, &code, "approve").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Device approved"), "{page}");

    let (exit, stdout, stderr) = finish(child, &rx);
    assert_eq!(exit, 0, "stdout: {stdout}\nstderr: {seen:?} {stderr}");
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["user"]["email"], "ann@example.com");
    assert_eq!(cli.status()["user"]["email"], "ann@example.com");
    assert_eq!(audited(&server, &ann, "device.approve").await.len(), 1);
    let sessions = audited(&server, &ann, "session.create").await;
    assert!(sessions.iter().any(|e| e["details"]["via"] == "device"), "{sessions:?}");
}

#[tokio::test]
async fn device_polls_answer_pending_slow_down_denied_expired_and_grant_once() {
    let server = TestServer::start().await;
    let ann = signup(&server, "ann@example.com", "Ann's").await;
    let (b, _) = dashboard_sign_in(&server, &ann.email, None).await;

    let d = device_code(&server, "build box").await;
    let user_code = d["userCode"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert!(user_code.chars().all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)), "{user_code}");
    assert_eq!(d["verificationUri"], format!("{}/dashboard/device", server.url));
    assert_eq!(d["verificationUriComplete"], format!("{}/dashboard/device?user_code={user_code}", server.url));
    assert_eq!((d["expiresIn"].as_u64(), d["interval"].as_u64()), (Some(600), Some(5)));
    let device = d["deviceCode"].as_str().unwrap();
    assert!(device.starts_with("lkd_"));

    let first = poll(&server, device).await;
    assert_eq!((first.status, first.error_code()), (400, "authorization_pending"), "{}", first.text);
    let quick = poll(&server, device).await;
    assert_eq!((quick.status, quick.error_code()), (400, "slow_down"));

    let (status, page) = device_decide(&b, &server, user_code, "approve").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Approved twice: the second finds nothing pending.
    let (status, page) = enter_code(&b, &server, user_code).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("No pending sign-in has this code"), "{page}");
    let form = [("csrf", csrf_of(&page)), ("user_code", user_code.to_owned()), ("decision", "approve".to_owned())];
    let res = b.post(format!("{}/dashboard/device/decide", server.url)).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(audited(&server, &ann, "device.approve").await.len(), 1);

    let granted = poll(&server, device).await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert_eq!(granted.body["data"]["user"]["email"], "ann@example.com");
    let me = server.with_bearer(granted.body["data"]["token"].as_str().unwrap()).get("/v1/me").await;
    assert_eq!(me.body["data"]["org"]["id"], ann.org_id.as_str());
    let used = poll(&server, device).await;
    assert_eq!((used.status, used.error_code()), (400, "invalid_grant"));

    // Denied: told once, then forgotten.
    let d = device_code(&server, "stranger's box").await;
    let (status, page) = device_decide(&b, &server, d["userCode"].as_str().unwrap(), "deny").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Sign-in denied"), "{page}");
    let denied = poll(&server, d["deviceCode"].as_str().unwrap()).await;
    assert_eq!((denied.status, denied.error_code()), (400, "access_denied"));
    let gone = poll(&server, d["deviceCode"].as_str().unwrap()).await;
    assert_eq!((gone.status, gone.error_code()), (400, "invalid_grant"));
    assert_eq!(audited(&server, &ann, "device.deny").await.len(), 1);

    // Expired (10 minutes): aged in the database; the page no longer finds it.
    let d = device_code(&server, "slow box").await;
    let db = Db::connect(&server).await;
    assert_eq!(db.exec("UPDATE auth_requests SET expires_at = 1 WHERE kind = 'device'").await, 1);
    let (status, _) = enter_code(&b, &server, d["userCode"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let expired = poll(&server, d["deviceCode"].as_str().unwrap()).await;
    assert_eq!((expired.status, expired.error_code()), (400, "expired_token"));

    for unknown in ["lkd_nope", "", "lkc_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
        let r = poll(&server, unknown).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_grant"), "{unknown}");
    }
}

#[tokio::test]
async fn wrong_user_codes_and_device_requests_are_throttled() {
    let server = TestServer::start().await;
    let ann = signup(&server, "ann@example.com", "Ann's").await;
    let (b, _) = dashboard_sign_in(&server, &ann.email, None).await;
    for typed in ["BBBB-BBBB", "CCCC-CCCC", "not a code", "DDDD-DDDD", "FFFF-FFFF"] {
        let (status, _) = enter_code(&b, &server, typed).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{typed}");
    }
    // Past the limit even a right code is not looked up.
    let d = device_code(&server, "box").await;
    let (status, page) = enter_code(&b, &server, d["userCode"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    assert!(page.contains("too many wrong codes"), "{page}");
    // Another person is not held back by Ann's mistakes.
    signup(&server, "bob@example.com", "Bob's").await;
    let (bob, _) = dashboard_sign_in(&server, "bob@example.com", None).await;
    assert_eq!(enter_code(&bob, &server, d["userCode"].as_str().unwrap()).await.0, StatusCode::OK);

    // Device codes per client address: 20 an hour (sign-ups' budget).
    let mut last = None;
    for _ in 0..25 {
        let r = server.anonymous().post("/v1/auth/device/code", json!({})).await;
        if r.status == 429 {
            last = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let refused = last.expect("a 429 within 25 requests");
    assert_eq!(refused.error_code(), "rate_limited");
    assert!(refused.headers.get("retry-after").is_some());
}

/// The device and authorize pages keep the dashboard's security headers
/// (the authorize page widens only `form-action`).
#[tokio::test]
async fn the_pages_keep_the_security_headers() {
    let server = TestServer::start().await;
    let ann = signup(&server, "ann@example.com", "Ann's").await;
    let (b, _) = dashboard_sign_in(&server, &ann.email, None).await;
    let res = b.get(format!("{}/dashboard/device", server.url)).send().await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self';") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let res = b.get(format!("{}{AUTHORIZE}?{}", server.url, authorize_query(REDIRECT, "s"))).send().await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self' http://127.0.0.1:45678;"), "{csp}");
    assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
}
