//! Connected apps over HTTP (issue 23, points 1–3): the provider catalog and
//! organizations' client credentials, the connect flow through latchkey's
//! authorization page and the one callback, and the connections (defaults,
//! sharing, disconnecting), against the test IdP as a GitHub-like OAuth
//! server (`idp.rs`), on both backends.
//!
//! [`OAuth::start`] runs a server whose `latchkey.toml` names three
//! providers at the IdP: `octo` (userinfo and revocation, the catalog's
//! client), `plain` (no userinfo, no revocation: one account per owner)
//! and `bare` (no client credentials: an organization brings its own).
//! [`connect`] runs the whole flow for a person, as a browser signed in to
//! the dashboard does; other tests (the token endpoint, the CLI, the
//! dashboard) build on it.

use reqwest::{Method, Url};
use serde_json::{Value, json};

mod connections;
mod dashboard;
mod flow;
mod providers;
mod secrecy;
mod token;

use crate::canary::remember_secret;
use crate::common::{Api, Person, TestServer, join_org, signup};
use crate::idp::{Browser, IdpUser, idp, unique_sub};

/// The client secret of the catalog's clients at the IdP.
pub(crate) const CATALOG_SECRET: &str = "catalog-client-secret-0123456789";

/// A latchkey server with the providers `octo`, `plain` and `bare` (see
/// the module doc), and its catalog clients registered at the IdP.
pub(crate) struct OAuth {
    pub(crate) server: TestServer,
    /// The catalog's client id of `octo` at the IdP.
    pub(crate) octo_client: String,
    /// The catalog's client id of `plain` at the IdP.
    pub(crate) plain_client: String,
    _config: tempfile::TempDir,
}

impl OAuth {
    /// The server, logging at the suite's level.
    pub(crate) async fn start() -> Self {
        Self::start_logging(&crate::common::server_log_level()).await
    }

    /// The server, logging with `filter` (`trace`).
    pub(crate) async fn start_logging(filter: &str) -> Self {
        remember_secret(CATALOG_SECRET);
        let (octo_client, plain_client) = (unique_sub("octo-app"), unique_sub("plain-app"));
        let config = tempfile::tempdir().unwrap();
        let file = config.path().join("latchkey.toml");
        std::fs::write(&file, catalog(&octo_client, &plain_client)).unwrap();
        let server = TestServer::start_with_log(filter, &["--config", file.to_str().unwrap()]).await;
        let callback = callback_of(&server);
        for client in [&octo_client, &plain_client] {
            idp().register_oauth_client(client, CATALOG_SECRET, &[&callback], None).await;
        }
        Self { server, octo_client, plain_client, _config: config }
    }

    /// A new account at the IdP (its subject), who signs in on `client`'s
    /// authorization requests from now on.
    pub(crate) async fn account_at(&self, client: &str) -> String {
        let sub = unique_sub("acct");
        let email = format!("{sub}@octo.example");
        idp()
            .add_user(IdpUser {
                sub: &sub,
                email: &email,
                email_verified: true,
                name: "Octo Cat",
                ..IdpUser::default()
            })
            .await;
        idp().set_default_user_for(client, &sub).await;
        sub
    }

    /// A member of the first organization with `role`: their session acts
    /// there.
    pub(crate) async fn member(&self, role: &str) -> Session {
        let email = format!("{}@example.com", unique_sub("m"));
        let p = join_org(&self.server, &self.server.admin(), &self.server.admin.org_id, &email, role).await;
        let r = self.server.with_bearer(&p.token).post("/v1/me/org", json!({"orgId": self.server.admin.org_id})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        Session::of(&self.server, p)
    }

    /// Someone who signed up with an organization of their own (admin
    /// there).
    pub(crate) async fn outsider(&self) -> Session {
        let email = format!("{}@elsewhere.example", unique_sub("o"));
        let p = signup(&self.server, &email, "Elsewhere").await;
        Session::of(&self.server, p)
    }

    /// Every token the IdP issued to the catalog's clients and to `more`,
    /// remembered for the log canary.
    pub(crate) async fn issued_tokens(&self, more: &[&str]) -> Vec<String> {
        let mut all = Vec::new();
        for client in [self.octo_client.as_str(), self.plain_client.as_str()].iter().chain(more) {
            all.extend(idp().issued_tokens(client).await);
        }
        all.iter().for_each(|t| remember_secret(t));
        all
    }
}

/// The one callback of a server.
pub(crate) fn callback_of(server: &TestServer) -> String {
    format!("{}/v1/oauth/callback", server.url)
}

/// The catalog: `octo` and `plain` with the catalog's clients, `bare`
/// without one.
fn catalog(octo_client: &str, plain_client: &str) -> String {
    let ep = idp().oauth_endpoints();
    format!(
        "failed_auth_per_minute = 100000\n\n\
         [[oauth.providers]]\nid = \"octo\"\ndisplay_name = \"Octo\"\nauthorize_url = \"{a}\"\ntoken_url = \"{t}\"\n\
         revocation_url = \"{r}\"\nuserinfo_url = \"{u}\"\nuserinfo_id_field = \"sub\"\n\
         userinfo_label_field = \"preferred_username\"\nscopes = [\"repo\", \"read:user\"]\n\
         client_id = \"{octo_client}\"\nclient_secret = \"{CATALOG_SECRET}\"\n\n\
         [[oauth.providers]]\nid = \"plain\"\ndisplay_name = \"Plain\"\nauthorize_url = \"{a}\"\ntoken_url = \"{t}\"\n\
         scopes = [\"repo\"]\nclient_id = \"{plain_client}\"\nclient_secret = \"{CATALOG_SECRET}\"\n\n\
         [[oauth.providers]]\nid = \"bare\"\ndisplay_name = \"Bare\"\nauthorize_url = \"{a}\"\ntoken_url = \"{t}\"\n\
         revocation_url = \"{r}\"\nuserinfo_url = \"{u}\"\nuserinfo_id_field = \"sub\"\n\
         userinfo_label_field = \"preferred_username\"\nscopes = [\"read:user\"]\n",
        a = ep.authorize,
        t = ep.token,
        r = ep.revocation,
        u = ep.user,
    )
}

/// A person's dashboard session: their API client (the session token as a
/// bearer token) and the browser signed in with it.
pub(crate) struct Session {
    pub(crate) person: Person,
    pub(crate) api: Api,
    pub(crate) browser: Browser,
}

impl Session {
    /// `person`'s session on `server`.
    pub(crate) fn of(server: &TestServer, person: Person) -> Self {
        let api = server.with_bearer(&person.token);
        let browser = Browser::with_cookie(&server.url, "latchkey_session", &person.token);
        Self { person, api, browser }
    }

    /// The person's user id.
    pub(crate) fn user_id(&self) -> &str {
        &self.person.user_id
    }
}

/// What a connect asks for ([`connect`]): the provider's default scopes
/// unless `scopes`, a person's own connection unless `shared`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ask<'a> {
    pub(crate) scopes: Option<&'a [&'a str]>,
    pub(crate) shared: bool,
}

/// `POST /v1/oauth/connect` as `api`: the raw answer.
pub(crate) async fn start_connect(api: &Api, provider: &str, ask: Ask<'_>) -> crate::common::Resp {
    let mut body = json!({"provider": provider});
    if let Some(scopes) = ask.scopes {
        body["scopes"] = json!(scopes);
    }
    if ask.shared {
        body["shared"] = json!(true);
    }
    api.post("/v1/oauth/connect", body).await
}

/// A started connect: its id and `authorizeUrl` (whose state is
/// remembered for the log canary).
pub(crate) async fn started(api: &Api, provider: &str, ask: Ask<'_>) -> (String, String) {
    let r = start_connect(api, provider, ask).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let url = r.body["data"]["authorizeUrl"].as_str().unwrap().to_owned();
    let state = Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    remember_secret(&state);
    (r.body["data"]["id"].as_str().unwrap().to_owned(), url)
}

/// Follows `url` in `browser` (latchkey's authorization page, the IdP)
/// up to the callback, which it does not request: its URL, with the code
/// and state remembered for the log canary. Panics if the browser stops
/// anywhere else.
pub(crate) async fn to_callback(browser: &Browser, url: &str) -> Url {
    let http = browser.client();
    let mut url = Url::parse(url).unwrap();
    for _ in 0..20 {
        if url.path() == "/v1/oauth/callback" {
            for (name, value) in url.query_pairs() {
                if name == "code" || name == "state" {
                    remember_secret(&value);
                }
            }
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

/// A page's status and text, requested in `browser` (redirects not
/// followed).
pub(crate) async fn page(browser: &Browser, url: &str) -> (u16, String, Option<String>) {
    let r = browser.client().get(url).header("accept", "text/html").send().await.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (status, r.text().await.unwrap(), location)
}

/// `GET /v1/oauth/connect/{id}` as `api`: the request's view.
pub(crate) async fn poll(api: &Api, id: &str) -> Value {
    let r = api.get(&format!("/v1/oauth/connect/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

/// The whole connect flow for the person of `session` at `provider`:
/// `POST /v1/oauth/connect` with their session, `authorizeUrl` opened in
/// their signed-in browser, the IdP (whose client's default user signs in,
/// [`OAuth::account_at`]), the callback's page; then the request polled
/// `completed`. Returns the connection's id.
pub(crate) async fn connect(session: &Session, provider: &str, ask: Ask<'_>) -> String {
    connect_as(&session.api, &session.browser, provider, ask).await
}

/// [`connect`] with any API client of the person (a key of theirs, a
/// session acting in another organization) and their browser.
pub(crate) async fn connect_as(api: &Api, browser: &Browser, provider: &str, ask: Ask<'_>) -> String {
    let (id, url) = started(api, provider, ask).await;
    let callback = to_callback(browser, &url).await;
    let (status, text, _) = page(browser, callback.as_str()).await;
    assert_eq!(status, 200, "the callback's page: {text}");
    assert!(text.contains("You can close this window."), "{text}");
    let done = poll(api, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    done["connectionId"].as_str().unwrap().to_owned()
}

/// `GET /v1/oauth/connections` (with `query`) as `api`: the list.
pub(crate) async fn connections(api: &Api, query: &str) -> Vec<Value> {
    let r = api.get(&format!("/v1/oauth/connections{query}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

/// The connection `id` in a list.
pub(crate) fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id} not in {list:?}"))
}

/// `PUT /v1/oauth/providers/{id}` as `api`.
pub(crate) async fn put_client(api: &Api, provider: &str, body: &Value) -> crate::common::Resp {
    if let Some(secret) = body["clientSecret"].as_str() {
        remember_secret(secret);
    }
    api.send(Method::PUT, &format!("/v1/oauth/providers/{provider}"), Some(body.to_string().into())).await
}

/// The audit events of the first organization, newest first (as its
/// admin).
pub(crate) async fn audit_events(server: &TestServer) -> Vec<Value> {
    let r = server.admin().get("/v1/audit-events?limit=100").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}
