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

#[tokio::test]
async fn an_unknown_person_is_created_just_in_time_and_signs_in_again_as_themselves() {
    let sso = Sso::start(JIT).await;
    let sub = sso.person("pat@corp.example", true, None).await;
    let first = sign_in(&sso, &sub).await;
    let token = first.signed_in();
    assert!(token.starts_with("lks_"), "the same session as a password login");
    assert_eq!(first.location.as_deref(), Some("/dashboard/keys"), "to return_to");
    let who = me(&sso, &token).await;
    assert_eq!(who["user"]["email"], "pat@corp.example");
    assert_eq!(who["user"]["displayName"], "Pat Example");
    assert_eq!(
        (who["org"]["id"].as_str(), who["role"].as_str()),
        (Some(sso.server.admin.org_id.as_str()), Some("member"))
    );
    let linked = identities(&sso.server.with_bearer(&token)).await;
    assert_eq!(linked.len(), 1);
    assert_eq!((linked[0]["provider"].as_str(), linked[0]["providerName"].as_str()), (Some("corp"), Some("Corp SSO")));
    assert_eq!(
        (linked[0]["issuer"].as_str(), linked[0]["subject"].as_str()),
        (Some(idp().issuer.as_str()), Some(sub.as_str()))
    );

    // Again, after the provider changed the person's email: the same
    // account, found by issuer and subject, never by the email.
    idp()
        .add_user(IdpUser {
            sub: &sub,
            email: "pat.renamed@corp.example",
            email_verified: true,
            name: "Pat",
            tamper: None,
            deny: false,
        })
        .await;
    let again = sign_in(&sso, &sub).await.signed_in();
    assert_ne!(again, token, "a new session");
    let who_again = me(&sso, &again).await;
    assert_eq!(who_again["user"]["id"], who["user"]["id"]);
    let linked = identities(&sso.server.with_bearer(&again)).await;
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["email"], "pat.renamed@corp.example", "the email the provider gave last");
    assert!(linked[0]["lastUsedAt"].is_string());
    assert_eq!(sso.member_emails().await.iter().filter(|e| e.contains("pat")).count(), 1, "one account");
    let actions = audit_actions(&sso).await;
    assert!(actions.contains(&"user.jit_create".to_owned()), "{actions:?}");
    assert!(actions.iter().filter(|a| *a == "session.create").count() >= 2, "{actions:?}");

    // The dashboard's session: the cookie opens its pages.
    let page = reqwest::Client::new()
        .get(format!("{}/dashboard/account", sso.server.url))
        .header("cookie", format!("latchkey_session={again}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Corp SSO") && html.contains(&sub), "the Sign-in methods page lists the identity");
}

#[tokio::test]
async fn without_jit_or_linking_an_unknown_person_has_no_account() {
    let sso = Sso::start("").await;
    let sub = sso.person("nobody@corp.example", true, None).await;
    let refused = sign_in(&sso, &sub).await;
    assert_eq!((refused.status, refused.code()), (403, "no_account"), "{}", refused.text);
    assert!(refused.session.is_none());
    assert!(!sso.member_emails().await.contains(&"nobody@corp.example".to_owned()));
    // A browser gets the same refusal as a page.
    let browser = Browser::new();
    let start = format!("{}/v1/auth/oidc/corp/start?login_hint={sub}", sso.server.url);
    let callback = to_callback(&browser, &start).await;
    let page = finish(&browser, &callback, true).await;
    assert_eq!(page.status, 403);
    assert!(page.text.contains("no_account") && page.text.contains("<html"), "{}", page.text);
}

#[tokio::test]
async fn email_linking_needs_it_switched_on_and_the_email_verified_on_both_sides() {
    // Off (the default): the operator's admin, whose email is verified,
    // is not found by email.
    let off = Sso::start("").await;
    let sub = off.person("ada@example.com", true, None).await;
    assert_eq!(sign_in(&off, &sub).await.code(), "no_account");

    let on = Sso::start("link_by_verified_email = true").await;
    // The provider did not verify it: no.
    let unverified = on.person("ada@example.com", false, None).await;
    assert_eq!(sign_in(&on, &unverified).await.code(), "no_account");
    // Someone who signed themselves up (latchkey never verified that email): no.
    let self_made = signup(&on.server, "sam@example.com", "Sam's").await;
    let sam = on.person("sam@example.com", true, None).await;
    assert_eq!(sign_in(&on, &sam).await.code(), "no_account");
    assert!(identities(&on.server.with_bearer(&self_made.token)).await.is_empty());
    // Both verified: linked, and signed in as the admin.
    let ada = on.person("ada@example.com", true, None).await;
    let token = sign_in(&on, &ada).await.signed_in();
    let who = me(&on, &token).await;
    assert_eq!(
        (who["user"]["id"].as_str(), who["role"].as_str()),
        (Some(on.server.admin.user_id.as_str()), Some("admin"))
    );
    let linked = identities(&on.server.with_bearer(&token)).await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["subject"], ada.as_str());
    assert!(audit_actions(&on).await.contains(&"identity.link".to_owned()));

    // With just-in-time accounts too, an unverified local account with the
    // email is not taken over: a conflict that says what to do.
    let both = Sso::start(&format!("link_by_verified_email = true\n{JIT}")).await;
    let self_made = signup(&both.server, "sue@example.com", "Sue's").await;
    let sue = both.person("sue@example.com", true, None).await;
    let refused = sign_in(&both, &sue).await;
    assert_eq!((refused.status, refused.code()), (409, "account_exists"), "{}", refused.text);
    assert!(identities(&both.server.with_bearer(&self_made.token)).await.is_empty());
}

#[tokio::test]
async fn only_verified_emails_of_the_allowed_domains_sign_in() {
    let sso = Sso::start(&format!("allowed_email_domains = [\"corp.example\"]\n{JIT}")).await;
    for (email, verified) in
        [("eve@evil.example", true), ("eve@corp.example.evil.example", true), ("eve@corp.example", false)]
    {
        let sub = sso.person(email, verified, None).await;
        let refused = sign_in(&sso, &sub).await;
        assert_eq!((refused.status, refused.code()), (403, "email_domain_not_allowed"), "{email}: {}", refused.text);
        assert!(refused.session.is_none());
        assert!(!sso.member_emails().await.contains(&email.to_owned()), "{email} was created");
    }
    let sub = sso.person("kim@CORP.example", true, None).await;
    let token = sign_in(&sso, &sub).await.signed_in();
    assert_eq!(me(&sso, &token).await["user"]["email"], "kim@corp.example");
}

#[tokio::test]
async fn every_bad_answer_of_the_provider_is_refused_and_creates_nothing() {
    let sso = Sso::start(JIT).await;
    let cases = [
        ("foreign_key", 401, "invalid_signature"),
        ("alg_none", 401, "invalid_signature"),
        ("wrong_aud", 401, "invalid_audience"),
        ("wrong_nonce", 401, "invalid_nonce"),
        ("expired", 401, "token_expired"),
        ("wrong_iss", 401, "issuer_mismatch"),
        ("iss_param", 400, "issuer_mismatch"),
    ];
    for (tamper, status, code) in cases {
        let email = format!("{}@corp.example", tamper.replace('_', "-"));
        let sub = sso.person(&email, true, Some(tamper)).await;
        let refused = sign_in(&sso, &sub).await;
        assert_eq!((refused.status, refused.code()), (status, code), "{tamper}: {}", refused.text);
        assert!(refused.session.is_none(), "{tamper}");
        assert!(!sso.member_emails().await.contains(&email), "{tamper}: an account was created");
    }
    // The person refuses at the provider.
    let sub = unique_sub("denier");
    idp()
        .add_user(IdpUser {
            sub: &sub,
            email: "no@corp.example",
            email_verified: true,
            name: "No",
            tamper: None,
            deny: true,
        })
        .await;
    let refused = sign_in(&sso, &sub).await;
    assert_eq!((refused.status, refused.code()), (403, "access_denied"), "{}", refused.text);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("Corp SSO refused the sign-in"));
    assert!(!sso.member_emails().await.contains(&"no@corp.example".to_owned()));
    // Signing in still works.
    let fine = sso.person("fine@corp.example", true, None).await;
    sign_in(&sso, &fine).await.signed_in();
}

#[tokio::test]
async fn a_state_is_used_once_and_only_in_the_browser_that_started_it() {
    let sso = Sso::start(JIT).await;
    let sub = sso.person("once@corp.example", true, None).await;
    let browser = Browser::new();
    let done = sign_in_in(&browser, &sso, &sub, "/dashboard").await;
    done.signed_in();
    // Replayed, in the same browser: the state is used up.
    let replay = finish(&browser, &done.callback, false).await;
    assert_eq!((replay.status, replay.code()), (400, "invalid_state"), "{}", replay.text);
    assert!(replay.session.is_none());

    // A callback carried to another browser (a login-CSRF attempt): refused,
    // and the state is burnt for the browser that started it too.
    let started_in = Browser::new();
    let start = format!("{}/v1/auth/oidc/corp/start?login_hint={sub}", sso.server.url);
    let callback = to_callback(&started_in, &start).await;
    let elsewhere = finish(&Browser::new(), &callback, false).await;
    assert_eq!((elsewhere.status, elsewhere.code()), (400, "state_mismatch"), "{}", elsewhere.text);
    assert!(elsewhere.session.is_none());
    let late = finish(&started_in, &callback, false).await;
    assert_eq!(late.code(), "invalid_state");

    // Unknown or missing state.
    let http = reqwest::Client::new();
    for query in ["state=made-up&code=x", "code=x", ""] {
        let r = http.get(format!("{}/v1/auth/oidc/corp/callback?{query}", sso.server.url)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_state", "{query}");
    }
}

#[tokio::test]
async fn return_to_stays_on_this_server() {
    let sso = Sso::start(JIT).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for bad in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"] {
        let url = Url::parse_with_params(&format!("{}/v1/auth/oidc/corp/start", sso.server.url), &[("return_to", bad)])
            .unwrap();
        let r = http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_return_to", "{bad}");
    }
    let r = http.get(format!("{}/v1/auth/oidc/nope/start", sso.server.url)).send().await.unwrap();
    assert_eq!(r.status(), 404, "an unknown provider");
    // The redirect to the provider carries state, nonce and PKCE (S256).
    let r = http
        .get(format!("{}/v1/auth/oidc/corp/start?return_to=/dashboard/audit", sso.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert!(to.as_str().starts_with(&idp().issuer));
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
    for p in ["state", "nonce", "code_challenge"] {
        assert!(q.get(p).is_some_and(|v| v.len() >= 16), "{p}: {q:?}");
    }
    assert_eq!(q.get("client_id"), Some(&sso.client_id));
    assert!(r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("latchkey_oidc=")));
    // And the person ends where return_to said.
    let sub = sso.person("ret@corp.example", true, None).await;
    let done = sign_in_in(&Browser::new(), &sso, &sub, "/dashboard/audit").await;
    assert_eq!(done.location.as_deref(), Some("/dashboard/audit"));
}

#[tokio::test]
async fn the_sign_in_page_offers_each_provider_and_providers_are_listed() {
    let sso = Sso::start("").await;
    let page = reqwest::get(format!("{}/dashboard/login", sso.server.url)).await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in with Corp SSO"), "{page}");
    assert!(page.contains("/v1/auth/oidc/corp/start"));
    let r = sso.server.anonymous().get("/v1/auth/oidc/providers").await;
    assert_eq!(r.body, json!({"data": [{"id": "corp", "displayName": "Corp SSO"}]}));
}

/// A dashboard session in `browser` for `email` with [`PASSWORD`].
async fn dashboard_sign_in(browser: &Browser, server: &TestServer, email: &str) {
    let page = browser.get(&format!("{}/dashboard/login", server.url)).await.response.text().await.unwrap();
    let csrf = field(&page, "csrf");
    let done = browser
        .post_form(
            &format!("{}/dashboard/login", server.url),
            &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(done.response.status(), 200);
    assert!(!done.visited.last().unwrap().path().ends_with("/login"), "signed in: {:?}", done.visited);
}

/// The value of the first hidden input `name` of a page.
fn field(page: &str, name: &str) -> String {
    let at = page.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} in {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Starts linking `corp` from the account page of `browser`'s session;
/// returns the callback the provider sends back to.
async fn start_linking(browser: &Browser, server: &TestServer, sub: &str) -> Url {
    let page = browser.get(&format!("{}/dashboard/account", server.url)).await.response.text().await.unwrap();
    assert!(page.contains("Link Corp SSO"), "{page}");
    let csrf = field(&page, "csrf");
    let r = browser
        .client()
        .post(format!("{}/dashboard/account/link", server.url))
        .header("origin", &server.url)
        .form(&[("csrf", csrf.as_str()), ("provider", "corp")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    // The provider signs in `sub` (its login_hint is not sent when linking:
    // the client's default user stands in for the person at the provider).
    let _ = sub;
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    to_callback(browser, &to).await
}

#[tokio::test]
async fn a_signed_in_person_links_an_identity_signs_in_with_it_and_unlinks_it() {
    let sso = Sso::start("").await;
    let dana = signup(&sso.server, "dana@example.com", "Dana's").await;
    let sub = sso.person("dana@corp.example", true, None).await;
    idp().set_default_user_for(&sso.client_id, &sub).await;
    let browser = Browser::new();
    dashboard_sign_in(&browser, &sso.server, "dana@example.com").await;
    let callback = start_linking(&browser, &sso.server, &sub).await;
    let linked = finish(&browser, &callback, true).await;
    assert_eq!(
        (linked.status, linked.location.as_deref()),
        (303, Some("/dashboard/account?done=linked")),
        "{}",
        linked.text
    );
    assert!(linked.session.is_none(), "linking keeps the session it has");
    let api = sso.server.with_bearer(&dana.token);
    let list = identities(&api).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["subject"], sub.as_str());
    let page =
        browser.get(&format!("{}/dashboard/account?done=linked", sso.server.url)).await.response.text().await.unwrap();
    assert!(page.contains("Identity linked.") && page.contains(&sub));

    // Now it signs dana in.
    let token = sign_in(&sso, &sub).await.signed_in();
    assert_eq!(me(&sso, &token).await["user"]["id"], dana.user_id.as_str());

    // Someone else cannot link the same identity.
    let _erin = signup(&sso.server, "erin@example.com", "Erin's").await;
    let other = Browser::new();
    dashboard_sign_in(&other, &sso.server, "erin@example.com").await;
    let callback = start_linking(&other, &sso.server, &sub).await;
    let refused = finish(&other, &callback, false).await;
    assert_eq!((refused.status, refused.code()), (409, "identity_linked_elsewhere"), "{}", refused.text);

    // Linking completes only for the person who asked, still signed in.
    let second = sso.person("dana2@corp.example", true, None).await;
    idp().set_default_user_for(&sso.client_id, &second).await;
    let callback = start_linking(&browser, &sso.server, &second).await;
    let page = browser.get(&format!("{}/dashboard/account", sso.server.url)).await.response.text().await.unwrap();
    let csrf = field(&page, "csrf");
    browser
        .client()
        .post(format!("{}/dashboard/logout", sso.server.url))
        .header("origin", &sso.server.url)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let refused = finish(&browser, &callback, false).await;
    assert_eq!((refused.status, refused.code()), (403, "link_session_mismatch"), "{}", refused.text);
    assert_eq!(identities(&api).await.len(), 1);

    // Unlinking: a key may not; another person's id is not found; dana may.
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let as_key = sso.server.admin().delete(&format!("/v1/me/identities/{id}")).await;
    assert_eq!(as_key.status, 403, "{}", as_key.text);
    let erin = sso.server.with_bearer(&_erin.token);
    assert_eq!(erin.delete(&format!("/v1/me/identities/{id}")).await.status, 404);
    assert_eq!(erin.delete("/v1/me/identities/not-an-id").await.status, 404);
    let gone = api.delete(&format!("/v1/me/identities/{id}")).await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert!(identities(&api).await.is_empty());
    let actions: Vec<String> = {
        let r = api.get("/v1/audit-events?limit=100").await;
        r.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
    };
    assert!(
        actions.contains(&"identity.link".to_owned()) && actions.contains(&"identity.unlink".to_owned()),
        "{actions:?}"
    );
    // And the identity no longer signs dana in.
    assert_eq!(sign_in(&sso, &sub).await.code(), "no_account");
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let sso = Sso::start(JIT).await;
    let sub = sso.person("only@corp.example", true, None).await;
    let token = sign_in(&sso, &sub).await.signed_in();
    let api = sso.server.with_bearer(&token);
    let id = identities(&api).await[0]["id"].as_str().unwrap().to_owned();
    let refused = api.delete(&format!("/v1/me/identities/{id}")).await;
    assert_eq!((refused.status, refused.error_code()), (409, "last_sign_in_method"), "{}", refused.text);
    assert_eq!(identities(&api).await.len(), 1);
}

#[tokio::test]
async fn a_provider_down_at_start_is_retried_and_the_server_serves_meanwhile() {
    // A loopback port with nothing on it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    let config = tempfile::tempdir().unwrap();
    let file = config.path().join("latchkey.toml");
    std::fs::write(
        &file,
        format!(
            "[[auth.oidc]]\nid = \"late\"\nissuer = \"{issuer}\"\nclient_id = \"late\"\nclient_secret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let server = TestServer::start_with(&["--config", file.to_str().unwrap()]).await;
    assert_eq!(server.anonymous().get("/healthz").await.status, 200);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let start = format!("{}/v1/auth/oidc/late/start", server.url);
    let r = http.get(&start).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "provider_unavailable");
    // The provider comes up: the next start (on demand, or the background
    // retry) discovers it.
    let _late_idp = crate::idp::Idp::start_on_port(port);
    let ok = crate::common::eventually(std::time::Duration::from_secs(15), || async {
        http.get(&start).send().await.unwrap().status() == 303
    })
    .await;
    assert!(ok, "the provider was not discovered once it came up: {}", server.logs());
    assert!(server.logs().contains("identity provider not discovered; retrying"));
}

#[tokio::test]
async fn a_provider_on_plain_http_elsewhere_than_loopback_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(&file, "[[auth.oidc]]\nid = \"corp\"\nissuer = \"http://login.example.com\"\nclient_id = \"x\"\n")
        .unwrap();
    let data = dir.path().join("data");
    let out = crate::common::run_cli(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("issuer `http://login.example.com` must be an https:// URL"), "{err}");
}

#[tokio::test]
async fn sign_ins_started_from_one_address_are_limited() {
    let sso = Sso::start("").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let start = format!("{}/v1/auth/oidc/corp/start", sso.server.url);
    let mut statuses = Vec::new();
    for _ in 0..61 {
        statuses.push(http.get(&start).send().await.unwrap().status().as_u16());
    }
    assert!(statuses[..60].iter().all(|s| *s == 303), "{statuses:?}");
    let r = http.get(&start).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_cli_signs_in_through_the_identity_provider_in_a_browser_and_with_a_device() {
    use crate::cli_login::{Cli, csrf_of, finish, line_after};

    let sso = Sso::start(JIT).await;
    let sub = sso.person("cli@corp.example", true, None).await;
    // The CLI's URL carries no login hint: the client's default user signs in.
    idp().set_default_user_for(&sso.client_id, &sub).await;

    // Loopback: the printed URL leads, signed out, through Corp SSO to the
    // authorization page; authorizing sends the code to the CLI's listener.
    let cli = Cli::new(&sso.server);
    let (child, rx) = cli.spawn(&["login", "--sso", "corp", "--no-browser"]);
    let mut seen = Vec::new();
    let url = line_after(&rx, "Open this URL to sign in:", &mut seen);
    let browser = Browser::new();
    let page = browser.get(&url).await;
    let went: Vec<String> = page.visited.iter().map(ToString::to_string).collect();
    assert!(went.iter().any(|u| u.contains("/v1/auth/oidc/corp/start")), "{went:?}");
    assert!(went.iter().any(|u| u.starts_with(&idp().issuer)), "{went:?}");
    let authorize = page.visited.last().unwrap().clone();
    assert_eq!(authorize.path(), "/dashboard/cli/authorize", "{went:?}");
    let html = page.response.text().await.unwrap();
    assert!(
        html.contains("Authorize the latchkey CLI on this machine?") && html.contains("cli@corp.example"),
        "{html}"
    );
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("csrf".into(), csrf_of(&html)));
    form.push(("decision".into(), "authorize".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut action = authorize.clone();
    action.set_query(None);
    let landed = browser.post_form(action.as_str(), &form).await;
    assert!(landed.visited.last().unwrap().as_str().starts_with("http://127.0.0.1:"), "{:?}", landed.visited);
    assert!(landed.response.text().await.unwrap().contains("Signed in; you can close this window"));
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {seen:?} {stderr}");
    let status = cli.status();
    assert_eq!(
        (status["authType"].as_str(), status["user"]["email"].as_str()),
        (Some("session"), Some("cli@corp.example"))
    );

    // Device: the verification URL leads through Corp SSO too, to the
    // device page with the code filled in; approving signs the CLI in.
    let device = Cli::new(&sso.server);
    let (child, rx) = device.spawn(&["login", "--device", "--sso", "corp"]);
    let mut seen = Vec::new();
    let user_code = line_after(&rx, "and enter the code", &mut seen);
    let complete = line_after(&rx, "or open:", &mut seen);
    let browser = Browser::new();
    let page = browser.get(&complete).await;
    assert!(page.visited.iter().any(|u| u.as_str().starts_with(&idp().issuer)), "{:?}", page.visited);
    let html = page.response.text().await.unwrap();
    assert!(html.contains(&format!("value=\"{user_code}\"")), "prefilled: {html}");
    let entered = browser
        .post_form(
            &format!("{}/dashboard/device", sso.server.url),
            &[("csrf", &csrf_of(&html)), ("user_code", &user_code)],
        )
        .await;
    let html = entered.response.text().await.unwrap();
    assert!(html.contains("Approve this sign-in?"), "{html}");
    let approved = browser
        .post_form(
            &format!("{}/dashboard/device/decide", sso.server.url),
            &[("csrf", &csrf_of(&html)), ("user_code", &user_code), ("decision", "approve")],
        )
        .await;
    assert!(approved.response.text().await.unwrap().contains("Device approved"));
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {seen:?} {stderr}");
    assert_eq!(device.status()["user"]["email"], "cli@corp.example");
}
