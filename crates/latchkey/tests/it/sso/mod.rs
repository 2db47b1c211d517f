//! Single sign-on through a real OpenID provider (issue 22): the test IdP
//! of `idp.rs` (panva's oidc-provider) and latchkey servers configured with
//! it, on both backends. Who signs in (just in time, a linked identity,
//! email linking on and off, a domain not allowed), every refusal of a bad
//! answer (replayed or foreign state, the provider's `access_denied`, an ID
//! token signed by another key, for another audience, with another nonce,
//! expired, from another issuer, unsigned, another `iss` in the response,
//! a `return_to` elsewhere), a provider that is down at start, and linking
//! and unlinking identities.

use std::collections::HashMap;

use reqwest::Url;
use serde_json::{Value, json};

mod cli;
mod linking;
mod refusals;
mod startup;
mod who;

use crate::canary::remember_secret;
use crate::common::{Api, PASSWORD, TestServer, signup};
use crate::idp::{Browser, IdpUser, idp, unique_sub};

/// The client secret every test server uses at the IdP.
const SECRET: &str = "test-client-secret-0123456789";

/// A latchkey server with the provider `corp` (the test IdP) configured by
/// `options` (extra lines of its `[[auth.oidc]]` table), and its client at
/// the IdP registered.
struct Sso {
    server: TestServer,
    client_id: String,
    _config: tempfile::TempDir,
}

impl Sso {
    /// `options` may name the organization `init` made as `{org}` (its id
    /// is known only once the server ran: the server starts, then restarts
    /// with the whole configuration).
    async fn start(options: &str) -> Self {
        // The client secret, like every code, state and session below, must
        // never reach the server's log (the canary, canary.rs).
        remember_secret(SECRET);
        let client_id = unique_sub("latchkey");
        let config = tempfile::tempdir().unwrap();
        let file = config.path().join("latchkey.toml");
        std::fs::write(&file, "").unwrap();
        let mut server = TestServer::start_with(&["--config", file.to_str().unwrap()]).await;
        let toml = format!(
            "failed_auth_per_minute = 100000\n\n[[auth.oidc]]\nid = \"corp\"\ndisplay_name = \"Corp SSO\"\n\
             issuer = \"{}\"\nclient_id = \"{client_id}\"\nclient_secret = \"{SECRET}\"\n{}\n",
            idp().issuer,
            options.replace("{org}", &server.admin.org_id)
        );
        std::fs::write(&file, toml).unwrap();
        server.restart();
        let callback = format!("{}/v1/auth/oidc/corp/callback", server.url);
        idp().register_client(&client_id, SECRET, &[&callback]).await;
        Self { server, client_id, _config: config }
    }

    /// A user of the IdP, with a subject of their own.
    async fn person(&self, email: &str, verified: bool, tamper: Option<&str>) -> String {
        let sub = unique_sub("sub");
        idp()
            .add_user(IdpUser { sub: &sub, email, email_verified: verified, name: "Pat Example", tamper, deny: false })
            .await;
        sub
    }

    /// The admin's members of the organization, by email.
    async fn member_emails(&self) -> Vec<String> {
        let r = self.server.admin().get("/v1/members?limit=100").await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["data"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap().to_owned()).collect()
    }
}

/// The end of a sign-in: latchkey's answer to the callback.
struct Outcome {
    status: u16,
    location: Option<String>,
    /// The `latchkey_session` cookie it set.
    session: Option<String>,
    /// The callback URL the provider sent the browser to.
    callback: Url,
    body: Value,
    text: String,
}

impl Outcome {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {} {}", self.status, self.text))
    }

    fn signed_in(&self) -> String {
        assert_eq!(self.status, 303, "{}", self.text);
        self.session.clone().unwrap_or_else(|| panic!("no session cookie: {}", self.text))
    }
}

/// Follows `url` in `browser` through the IdP until latchkey's callback,
/// then requests the callback itself (as JSON, or as a browser when
/// `html`), without following its answer.
async fn to_callback(browser: &Browser, url: &str) -> Url {
    let http = browser.client();
    let mut url = Url::parse(url).unwrap();
    for _ in 0..20 {
        if url.path().ends_with("/callback") && url.path().starts_with("/v1/auth/oidc/") {
            return url;
        }
        let r = http.get(url.clone()).send().await.unwrap();
        let Some(next) = r.headers().get("location").filter(|_| r.status().is_redirection()) else {
            panic!("stopped at {url}: {} {}", r.status(), r.text().await.unwrap());
        };
        url = url.join(next.to_str().unwrap()).unwrap();
    }
    panic!("no callback after 20 hops");
}

async fn finish(browser: &Browser, callback: &Url, html: bool) -> Outcome {
    for (name, value) in callback.query_pairs() {
        if name == "code" || name == "state" {
            remember_secret(&value);
        }
    }
    let accept = if html { "text/html" } else { "application/json" };
    let r = browser.client().get(callback.clone()).header("accept", accept).send().await.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find_map(|c| c.strip_prefix("latchkey_session=").map(|v| v.split(';').next().unwrap().to_owned()))
        .filter(|v| !v.is_empty());
    if let Some(token) = &session {
        remember_secret(token);
    }
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Outcome { status, location, session, callback: callback.clone(), body, text }
}

/// A whole sign-in of `sub` in a fresh browser.
async fn sign_in(sso: &Sso, sub: &str) -> Outcome {
    sign_in_in(&Browser::new(), sso, sub, "/dashboard/keys").await
}

async fn sign_in_in(browser: &Browser, sso: &Sso, sub: &str, return_to: &str) -> Outcome {
    let start = format!("{}/v1/auth/oidc/corp/start?login_hint={sub}&return_to={return_to}", sso.server.url);
    let callback = to_callback(browser, &start).await;
    finish(browser, &callback, false).await
}

/// `/v1/me` with a session token.
async fn me(sso: &Sso, token: &str) -> Value {
    let r = sso.server.with_bearer(token).get("/v1/me").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

async fn identities(api: &Api) -> Vec<Value> {
    let r = api.get("/v1/me/identities").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

/// The audit actions of the admin's organization, newest first.
async fn audit_actions(sso: &Sso) -> Vec<String> {
    let r = sso.server.admin().get("/v1/audit-events?limit=100").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

/// Just-in-time accounts land in init's organization as members.
const JIT: &str = "jit = { org = \"{org}\", role = \"member\" }";
