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
//!
//! This file holds the client and how it talks (requests, errors, paging);
//! the endpoints are in one module per resource: health, people and
//! sessions, signing in without a password, organizations, API keys, verification, projects, the
//! compatibility profiles, secrets, SSH keys, connected apps and workspaces.

mod health;
mod keys;
mod oauth;
mod orgs;
mod people;
mod profiles;
mod projects;
mod query;
mod secrets;
mod sign_in;
mod ssh_keys;
mod verify;
mod workspaces;

use std::fmt;
use std::time::Duration;

pub use keys::KeyExport;
pub use latchkey_api_types as types;
use latchkey_api_types::{Data, ErrorEnvelope, Paged, Shown};
pub use query::{
    AuditQuery, KeyListQuery, OAuthConnectionQuery, PageRequest, SecretListQuery, SshKeyListQuery, WorkspaceFileQuery,
    WorkspaceListQuery,
};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
pub use sign_in::Provider;
pub use verify::ForwardIdentity;

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
        /// Where the person can connect (or reconnect) the app a
        /// connected-app error is about, when the server says.
        connect_url: Option<String>,
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

    /// Where the person can connect (or reconnect) the app a connected-app
    /// error is about ([`Error::Api`]'s `connectUrl`).
    pub fn connect_url(&self) -> Option<&str> {
        match self {
            Self::Api { connect_url, .. } => connect_url.as_deref(),
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
            Ok(env) => Err(Error::Api {
                status,
                code: env.error.code,
                message: env.error.message,
                connect_url: env.error.connect_url,
            }),
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
