//! A typed client for latchkey's HTTP API.
//!
//! One method per endpoint, taking and returning the wire types of
//! [`latchkey_api_types`] (re-exported as [`types`]). Every failure is an
//! [`Error`]: the server's refusal with its `code` and `message`
//! ([`Error::Api`]), a server that cannot be reached ([`Error::Unreachable`]),
//! or an answer that is not latchkey's ([`Error::Protocol`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), latchkey_client::Error> {
//! use latchkey_client::{Client, types::CreateApiKey};
//! let client = Client::new("http://127.0.0.1:7420")?.with_token(std::env::var("LATCHKEY_API_KEY").unwrap_or_default());
//! let me = client.me().await?;
//! println!("acting in {}", me.org.name);
//! # Ok(()) }
//! ```
//!
//! Keys and session tokens are sent as `Authorization: Bearer`; a session may
//! pick the organization it acts in with [`Client::with_org`]
//! (`X-Latchkey-Org`). The client never logs or prints a credential, and its
//! `Debug` output hides the token.

mod query;

use std::fmt;
use std::time::Duration;

pub use latchkey_api_types as types;
use latchkey_api_types::runloop::{
    ApiKeyCreateParameters, ApiKeyCreatedView, RestrictedKeyCreateParameters, RestrictedKeyCreatedView,
};
use latchkey_api_types::runtype::{
    CreateProduct, CreateSurface, CreateSurfaceKey, ProductView, SurfaceKeyView, SurfaceView,
};
use latchkey_api_types::secrets::{
    CreateSshKey, OwnerScope, PutSecret, ResolvedSecrets, RevealedSecret, SecretView, SshKeyView,
};
use latchkey_api_types::{
    AcceptInvitation, ApiKeyView, AuditEventView, CreateApiKey, CreateInvitation, CreateOrg, CreateProject, Data,
    ErrorEnvelope, InvitationView, Login, MeView, MemberView, OrgView, Paged, ProjectView, RotateApiKey, ScopeView,
    SessionGrant, SessionView, Shown, SignUp, SwitchOrg, TransferApiKey, UpdateApiKey, UpdateMember, UpdateOrg,
    UpdateProject, UsageDayView, VerifyKey, VerifyView,
};
pub use query::{AuditQuery, KeyListQuery, PageRequest, SecretListQuery, SshKeyListQuery};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where a fresh install serves (`latchkey serve`'s default).
pub const DEFAULT_URL: &str = "http://127.0.0.1:7420";

/// Everything that can go wrong talking to latchkey.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused: its status, stable `code` and message.
    #[error("{message} ({code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable machine-readable code (`unauthorized`, `insufficient_scope`, …).
        code: String,
        /// The server's sentence for people.
        message: String,
    },
    /// No answer: connection refused, DNS, TLS or timeout.
    #[error("cannot reach latchkey at {url}: {reason}")]
    Unreachable {
        /// The server address tried.
        url: String,
        /// What the connection attempt ran into.
        reason: String,
    },
    /// An answer that is not latchkey's (wrong address, proxy page, …).
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    Protocol {
        /// The server address.
        url: String,
        /// HTTP status of the answer.
        status: u16,
        /// What did not fit.
        detail: String,
    },
    /// The server address is not an `http://` or `https://` URL.
    #[error("invalid server address {0:?}: expected http://host:port or https://host")]
    InvalidUrl(String),
}

impl Error {
    /// The server's error code, for [`Error::Api`].
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Protocol { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What a forward-auth check (`GET /v1/auth/check`) tells a proxy about a
/// key it let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardIdentity {
    /// `X-Latchkey-Org-Id`
    pub org_id: String,
    /// `X-Latchkey-Key-Id`
    pub key_id: String,
    /// `X-Latchkey-Project-Id` (empty when the key has no project)
    pub project_id: Option<String>,
    /// `X-Latchkey-Environment`
    pub environment: String,
}

/// A latchkey API client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    org: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("org", &self.org)
            .finish()
    }
}

/// Characters kept as they are in a path segment; everything else
/// (including `/`, `.`, `?`, `#`) is percent-encoded, so an id can never
/// change the route.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

fn seg(s: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(s, SEGMENT)
}

impl Client {
    /// A client for the server at `base_url` (`http://127.0.0.1:7420`),
    /// without a credential.
    pub fn new(base_url: &str) -> Result<Self, Error> {
        let base = base_url.trim().trim_end_matches('/').to_owned();
        let rest = base.strip_prefix("http://").or_else(|| base.strip_prefix("https://"));
        if rest.is_none_or(|host| host.is_empty() || host.contains(char::is_whitespace)) {
            return Err(Error::InvalidUrl(base_url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("latchkey-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Unreachable { url: base.clone(), reason: e.to_string() })?;
        Ok(Self { http, base, token: None, org: None })
    }

    /// Sends `token` (an API key or a session token) as `Authorization: Bearer`.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into()).filter(|t| !t.is_empty());
        self
    }

    /// Acts in organization `org_id` (sessions only: `X-Latchkey-Org`).
    #[must_use]
    pub fn with_org(mut self, org_id: impl Into<String>) -> Self {
        self.org = Some(org_id.into());
        self
    }

    /// The server address.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether a credential is set.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(org) = &self.org {
            req = req.header("x-latchkey-org", org);
        }
        req
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let resp = req.send().await.map_err(|e| Error::Unreachable { url: self.base.clone(), reason: cause(&e) })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| Error::Unreachable { url: self.base.clone(), reason: cause(&e) })?;
        match serde_json::from_slice::<ErrorEnvelope>(&body) {
            Ok(env) => Err(Error::Api { status, code: env.error.code, message: env.error.message }),
            Err(_) => Err(Error::Protocol { url: self.base.clone(), status, detail: snippet(&body) }),
        }
    }

    async fn decode<T: DeserializeOwned>(&self, resp: reqwest::Response) -> Result<T, Error> {
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| Error::Unreachable { url: self.base.clone(), reason: cause(&e) })?;
        serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            url: self.base.clone(),
            status,
            detail: format!("{e}: {}", snippet(&body)),
        })
    }

    async fn call<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, Error> {
        let resp = self.send(req).await?;
        self.decode(resp).await
    }

    async fn data<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, Error> {
        Ok(self.call::<Data<T>>(req).await?.data)
    }

    async fn shown<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, Error> {
        Ok(self.call::<Shown<T>>(req).await?.data)
    }

    async fn empty(&self, req: reqwest::RequestBuilder) -> Result<(), Error> {
        self.send(req).await.map(drop)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(Method::GET, path)
    }

    fn post<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> reqwest::RequestBuilder {
        self.request(Method::POST, path).json(body)
    }

    fn post_empty(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(Method::POST, path)
    }

    fn patch<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> reqwest::RequestBuilder {
        self.request(Method::PATCH, path).json(body)
    }

    fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(Method::DELETE, path)
    }

    // --- health -----------------------------------------------------------

    /// `GET /healthz`: the server is up.
    pub async fn healthz(&self) -> Result<(), Error> {
        self.empty(self.get("/healthz")).await
    }

    /// `GET /readyz`: the database (and Redis) answer; [`Error::Api`] with
    /// `unavailable` naming what does not.
    pub async fn readyz(&self) -> Result<serde_json::Value, Error> {
        self.call(self.get("/readyz")).await
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, Error> {
        let resp = self.send(self.get("/metrics")).await?;
        resp.text().await.map_err(|e| Error::Unreachable { url: self.base.clone(), reason: cause(&e) })
    }

    // --- people and sessions --------------------------------------------

    /// `POST /v1/auth/signup`: a user, their organization and a session.
    pub async fn signup(&self, body: &SignUp) -> Result<SessionGrant, Error> {
        self.data(self.post("/v1/auth/signup", body)).await
    }

    /// `POST /v1/auth/login`: a new session (its token is in the answer once).
    pub async fn login(&self, body: &Login) -> Result<SessionGrant, Error> {
        self.data(self.post("/v1/auth/login", body)).await
    }

    /// `POST /v1/auth/logout`: ends the session this client uses.
    pub async fn logout(&self) -> Result<(), Error> {
        self.empty(self.post_empty("/v1/auth/logout")).await
    }

    /// `GET /v1/sessions`: the caller's active sessions.
    pub async fn sessions(&self, page: &PageRequest) -> Result<Paged<SessionView>, Error> {
        self.call(self.get("/v1/sessions").query(page)).await
    }

    /// `DELETE /v1/sessions/{id}`
    pub async fn revoke_session(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/sessions/{}", seg(id)))).await
    }

    /// `GET /v1/me`: who the caller is.
    pub async fn me(&self) -> Result<MeView, Error> {
        self.data(self.get("/v1/me")).await
    }

    /// `GET /v1/scopes`: the scope catalog.
    pub async fn scopes(&self) -> Result<Vec<ScopeView>, Error> {
        self.data(self.get("/v1/scopes")).await
    }

    /// `POST /v1/me/org`: the organization this session acts in by default.
    pub async fn switch_org(&self, org_id: &str) -> Result<OrgView, Error> {
        self.data(self.post("/v1/me/org", &SwitchOrg { org_id: org_id.to_owned() })).await
    }

    // --- organizations, members, invitations, audit ---------------------

    /// `GET /v1/orgs`: the caller's organizations.
    pub async fn orgs(&self, page: &PageRequest) -> Result<Paged<OrgView>, Error> {
        self.call(self.get("/v1/orgs").query(page)).await
    }

    /// `POST /v1/orgs`: a new organization with the caller as admin.
    pub async fn create_org(&self, body: &CreateOrg) -> Result<OrgView, Error> {
        self.data(self.post("/v1/orgs", body)).await
    }

    /// `GET /v1/orgs/{id}`
    pub async fn org(&self, id: &str) -> Result<OrgView, Error> {
        self.data(self.get(&format!("/v1/orgs/{}", seg(id)))).await
    }

    /// `PATCH /v1/orgs/{id}`
    pub async fn update_org(&self, id: &str, body: &UpdateOrg) -> Result<OrgView, Error> {
        self.data(self.patch(&format!("/v1/orgs/{}", seg(id)), body)).await
    }

    /// `GET /v1/members`
    pub async fn members(&self, page: &PageRequest) -> Result<Paged<MemberView>, Error> {
        self.call(self.get("/v1/members").query(page)).await
    }

    /// `PATCH /v1/members/{userId}`: change a member's role.
    pub async fn set_member_role(&self, user_id: &str, role: &str) -> Result<MemberView, Error> {
        let body = UpdateMember { role: role.to_owned() };
        self.data(self.patch(&format!("/v1/members/{}", seg(user_id)), &body)).await
    }

    /// `DELETE /v1/members/{userId}`
    pub async fn remove_member(&self, user_id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/members/{}", seg(user_id)))).await
    }

    /// `GET /v1/invitations`: pending invitations.
    pub async fn invitations(&self, page: &PageRequest) -> Result<Paged<InvitationView>, Error> {
        self.call(self.get("/v1/invitations").query(page)).await
    }

    /// `POST /v1/invitations`: the answer carries the one-time token.
    pub async fn invite(&self, body: &CreateInvitation) -> Result<InvitationView, Error> {
        self.shown(self.post("/v1/invitations", body)).await
    }

    /// `DELETE /v1/invitations/{id}`
    pub async fn revoke_invitation(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/invitations/{}", seg(id)))).await
    }

    /// `POST /v1/invitations/accept` `{token}`: joins the organization (the
    /// token travels in the body, never in a path that could be logged).
    pub async fn accept_invitation(&self, token: &str) -> Result<OrgView, Error> {
        let body = AcceptInvitation { token: token.to_owned() };
        self.data(self.post("/v1/invitations/accept", &body)).await
    }

    /// `GET /v1/audit-events`: newest first.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Paged<AuditEventView>, Error> {
        self.call(self.get("/v1/audit-events").query(query)).await
    }

    // --- API keys -----------------------------------------------------------

    /// `POST /v1/api-keys`: the answer's `key` is the plaintext, shown once.
    pub async fn create_key(&self, body: &CreateApiKey) -> Result<ApiKeyView, Error> {
        self.shown(self.post("/v1/api-keys", body)).await
    }

    /// `GET /v1/api-keys`
    pub async fn keys(&self, query: &KeyListQuery) -> Result<Paged<ApiKeyView>, Error> {
        self.call(self.get("/v1/api-keys").query(query)).await
    }

    /// `GET /v1/api-keys/{id}`
    pub async fn key(&self, id: &str) -> Result<ApiKeyView, Error> {
        self.data(self.get(&format!("/v1/api-keys/{}", seg(id)))).await
    }

    /// `PATCH /v1/api-keys/{id}`
    pub async fn update_key(&self, id: &str, body: &UpdateApiKey) -> Result<ApiKeyView, Error> {
        self.data(self.patch(&format!("/v1/api-keys/{}", seg(id)), body)).await
    }

    /// `POST /v1/api-keys/{id}/revoke`
    pub async fn revoke_key(&self, id: &str) -> Result<ApiKeyView, Error> {
        self.data(self.post_empty(&format!("/v1/api-keys/{}/revoke", seg(id)))).await
    }

    /// `POST /v1/api-keys/{id}/rotate`: the new key, its plaintext shown once.
    pub async fn rotate_key(&self, id: &str, body: &RotateApiKey) -> Result<ApiKeyView, Error> {
        self.shown(self.post(&format!("/v1/api-keys/{}/rotate", seg(id)), body)).await
    }

    /// `DELETE /v1/api-keys/{id}`
    pub async fn delete_key(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/api-keys/{}", seg(id)))).await
    }

    /// `POST /v1/api-keys/{id}/transfer`: the organization takes the key over.
    pub async fn transfer_key_to_org(&self, id: &str) -> Result<ApiKeyView, Error> {
        let body = TransferApiKey { to: "org".to_owned() };
        self.data(self.post(&format!("/v1/api-keys/{}/transfer", seg(id)), &body)).await
    }

    /// `GET /v1/api-keys/{id}/usage?days=`: daily counts by outcome.
    pub async fn key_usage(&self, id: &str, days: Option<u32>) -> Result<Vec<UsageDayView>, Error> {
        let req = self.get(&format!("/v1/api-keys/{}/usage", seg(id))).query(&[("days", days)]);
        self.data(req).await
    }

    /// `POST /v1/keys/verify`: the verdict (always 200 for a caller with
    /// `keys:verify`).
    pub async fn verify(&self, body: &VerifyKey) -> Result<VerifyView, Error> {
        self.data(self.post("/v1/keys/verify", body)).await
    }

    /// `GET /v1/auth/check`, as a reverse proxy calls it: `key` in
    /// `X-API-Key`, the required scope in `X-Latchkey-Scope`.
    pub async fn forward_auth(&self, key: &str, scope: Option<&str>) -> Result<ForwardIdentity, Error> {
        let mut req = self.http.get(format!("{}/v1/auth/check", self.base)).header("x-api-key", key);
        if let Some(scope) = scope {
            req = req.header("x-latchkey-scope", scope);
        }
        let resp = self.send(req).await?;
        let h = resp.headers();
        let get = |name: &str| header(h, name);
        Ok(ForwardIdentity {
            org_id: get("x-latchkey-org-id").unwrap_or_default(),
            key_id: get("x-latchkey-key-id").unwrap_or_default(),
            project_id: get("x-latchkey-project-id").filter(|p| !p.is_empty()),
            environment: get("x-latchkey-environment").unwrap_or_default(),
        })
    }

    // --- projects -----------------------------------------------------------

    /// `POST /v1/projects`
    pub async fn create_project(&self, body: &CreateProject) -> Result<ProjectView, Error> {
        self.data(self.post("/v1/projects", body)).await
    }

    /// `GET /v1/projects`
    pub async fn projects(&self, page: &PageRequest) -> Result<Paged<ProjectView>, Error> {
        self.call(self.get("/v1/projects").query(page)).await
    }

    /// `GET /v1/projects/{id}`
    pub async fn project(&self, id: &str) -> Result<ProjectView, Error> {
        self.data(self.get(&format!("/v1/projects/{}", seg(id)))).await
    }

    /// `PATCH /v1/projects/{id}`
    pub async fn update_project(&self, id: &str, body: &UpdateProject) -> Result<ProjectView, Error> {
        self.data(self.patch(&format!("/v1/projects/{}", seg(id)), body)).await
    }

    /// `DELETE /v1/projects/{id}`
    pub async fn delete_project(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/projects/{}", seg(id)))).await
    }

    // --- Runloop profile ------------------------------------------------

    /// `POST /v1/apikeys` (Runloop): an `ak_…` key with the caller's grants.
    pub async fn runloop_create_api_key(&self, body: &ApiKeyCreateParameters) -> Result<ApiKeyCreatedView, Error> {
        self.call(self.post("/v1/apikeys", body)).await
    }

    /// `POST /v1/restricted_keys` (Runloop): an `rk_…` key with structured scopes.
    pub async fn runloop_create_restricted_key(
        &self,
        body: &RestrictedKeyCreateParameters,
    ) -> Result<RestrictedKeyCreatedView, Error> {
        self.call(self.post("/v1/restricted_keys", body)).await
    }

    // --- Runtype profile ------------------------------------------------

    /// `POST /v1/products` (Runtype)
    pub async fn create_product(&self, body: &CreateProduct) -> Result<ProductView, Error> {
        self.call(self.post("/v1/products", body)).await
    }

    /// `GET /v1/products` (Runtype)
    pub async fn products(&self, page: &PageRequest) -> Result<Paged<ProductView>, Error> {
        self.call(self.get("/v1/products").query(page)).await
    }

    /// `GET /v1/products/{id}` (Runtype)
    pub async fn product(&self, id: &str) -> Result<ProductView, Error> {
        self.call(self.get(&format!("/v1/products/{}", seg(id)))).await
    }

    /// `POST /v1/products/{id}/surfaces` (Runtype)
    pub async fn create_surface(&self, product_id: &str, body: &CreateSurface) -> Result<SurfaceView, Error> {
        self.call(self.post(&format!("/v1/products/{}/surfaces", seg(product_id)), body)).await
    }

    /// `GET /v1/products/{id}/surfaces` (Runtype)
    pub async fn surfaces(&self, product_id: &str, page: &PageRequest) -> Result<Paged<SurfaceView>, Error> {
        self.call(self.get(&format!("/v1/products/{}/surfaces", seg(product_id))).query(page)).await
    }

    /// `GET /v1/products/{id}/surfaces/{surfaceId}` (Runtype)
    pub async fn surface(&self, product_id: &str, surface_id: &str) -> Result<SurfaceView, Error> {
        self.call(self.get(&format!("/v1/products/{}/surfaces/{}", seg(product_id), seg(surface_id)))).await
    }

    /// `POST /v1/products/{id}/surfaces/{surfaceId}/keys` (Runtype): an
    /// `sk_live_`/`sk_test_` key, shown once.
    pub async fn create_surface_key(
        &self,
        product_id: &str,
        surface_id: &str,
        body: &CreateSurfaceKey,
    ) -> Result<SurfaceKeyView, Error> {
        let path = format!("/v1/products/{}/surfaces/{}/keys", seg(product_id), seg(surface_id));
        self.call(self.post(&path, body)).await
    }

    // --- secrets -------------------------------------------------------------

    /// `PUT /v1/secrets/{name}`: creates or replaces (a new version).
    pub async fn put_secret(&self, name: &str, body: &PutSecret) -> Result<SecretView, Error> {
        self.data(self.request(Method::PUT, &format!("/v1/secrets/{}", seg(name))).json(body)).await
    }

    /// `GET /v1/secrets`: metadata only.
    pub async fn secrets(&self, query: &SecretListQuery) -> Result<Paged<SecretView>, Error> {
        self.call(self.get("/v1/secrets").query(query)).await
    }

    /// `GET /v1/secrets/{name}?scope=`: metadata; without `scope`, the
    /// caller's own secret, else the organization's.
    pub async fn secret(&self, name: &str, scope: Option<OwnerScope>) -> Result<SecretView, Error> {
        self.data(self.get(&format!("/v1/secrets/{}", seg(name))).query(&[("scope", scope)])).await
    }

    /// `POST /v1/secrets/{name}/reveal?scope=`: the value (audited).
    pub async fn reveal_secret(&self, name: &str, scope: Option<OwnerScope>) -> Result<RevealedSecret, Error> {
        self.data(self.post_empty(&format!("/v1/secrets/{}/reveal", seg(name))).query(&[("scope", scope)])).await
    }

    /// `DELETE /v1/secrets/{name}?scope=`
    pub async fn delete_secret(&self, name: &str, scope: Option<OwnerScope>) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/secrets/{}", seg(name))).query(&[("scope", scope)])).await
    }

    /// `GET /v1/secrets/resolve?names=&user=`: each name's value, the
    /// member's own shadowing the organization's.
    pub async fn resolve_secrets(&self, names: &[&str], user: Option<&str>) -> Result<ResolvedSecrets, Error> {
        let names = names.join(",");
        self.data(self.get("/v1/secrets/resolve").query(&[("names", Some(names.as_str())), ("user", user)])).await
    }

    // --- SSH keys -------------------------------------------------------------

    /// `POST /v1/ssh-keys`
    pub async fn add_ssh_key(&self, body: &CreateSshKey) -> Result<SshKeyView, Error> {
        self.data(self.post("/v1/ssh-keys", body)).await
    }

    /// `GET /v1/ssh-keys`
    pub async fn ssh_keys(&self, query: &SshKeyListQuery) -> Result<Paged<SshKeyView>, Error> {
        self.call(self.get("/v1/ssh-keys").query(query)).await
    }

    /// `DELETE /v1/ssh-keys/{id}`
    pub async fn delete_ssh_key(&self, id: &str) -> Result<(), Error> {
        self.empty(self.delete(&format!("/v1/ssh-keys/{}", seg(id)))).await
    }

    /// `POST /v1/ssh-keys/{id}/default`
    pub async fn set_default_ssh_key(&self, id: &str) -> Result<SshKeyView, Error> {
        self.data(self.post_empty(&format!("/v1/ssh-keys/{}/default", seg(id)))).await
    }

    /// `GET /v1/ssh-keys/authorized-keys?user=`: an `authorized_keys` file.
    pub async fn authorized_keys(&self, user: Option<&str>) -> Result<String, Error> {
        let resp = self.send(self.get("/v1/ssh-keys/authorized-keys").query(&[("user", user)])).await?;
        resp.text().await.map_err(|e| Error::Unreachable { url: self.base.clone(), reason: cause(&e) })
    }

    /// Fetches every page of a list, following `nextCursor`.
    pub async fn all<T, F, Fut>(&self, mut fetch: F) -> Result<Vec<T>, Error>
    where
        F: FnMut(PageRequest) -> Fut,
        Fut: Future<Output = Result<Paged<T>, Error>>,
    {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = fetch(PageRequest { limit: Some(100), cursor }).await?;
            out.extend(page.data);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }
}

/// The innermost cause of a transport error ("Connection refused"), which
/// is what a person needs; reqwest's own top line only names the URL.
fn cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    if e.is_timeout() { "timed out".to_owned() } else { source.to_string() }
}

fn header(h: &HeaderMap<HeaderValue>, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The start of a body that is not latchkey's, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "empty body".to_owned();
    }
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalized() {
        assert_eq!(Client::new("http://127.0.0.1:7420/").unwrap().base_url(), "http://127.0.0.1:7420");
        assert_eq!(Client::new(" https://lk.example.com ").unwrap().base_url(), "https://lk.example.com");
        for bad in ["127.0.0.1:7420", "ftp://x", "http://", "", "http://a b"] {
            assert!(matches!(Client::new(bad), Err(Error::InvalidUrl(_))), "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Client::new(DEFAULT_URL).unwrap().with_token("lk_live_secretsecret");
        let shown = format!("{c:?}");
        assert!(!shown.contains("secretsecret"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn ids_cannot_change_the_route() {
        assert_eq!(seg("../x/y?z#w").to_string(), "%2E%2E%2Fx%2Fy%3Fz%23w");
        assert_eq!(seg("key_01ABC-d~").to_string(), "key_01ABC-d~");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        // Bind then drop: the port is free and nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = Client::new(&format!("http://127.0.0.1:{port}")).unwrap();
        match c.healthz().await {
            Err(Error::Unreachable { url, reason }) => {
                assert_eq!(url, format!("http://127.0.0.1:{port}"));
                assert!(reason.to_lowercase().contains("refused"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
