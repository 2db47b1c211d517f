//! The configured providers at run time: discovery (retried, never fatal),
//! the authorization request, and the code exchange with the ID token's
//! verification.
//!
//! Discovery reads `{issuer}/.well-known/openid-configuration` and the
//! provider's JWKS itself ([`crate::outbound`]: no redirects followed, 10 s
//! timeout; 1 MiB at most), checks that the document names the configured issuer, and keeps
//! the result. A provider that cannot be discovered at start is retried in
//! the background (1 s, doubling to a minute) and on demand when someone
//! starts a sign-in with it (at most every 2 s): the server starts without
//! it. The keys are fetched again (at most every 10 s) when an ID token's
//! signature does not verify with the ones known, so a provider's key
//! rotation needs no restart, and a token signed by a key the provider
//! does not publish is still refused.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

use super::ProviderConfig;

/// Largest discovery document or key set read.
const MAX_DOCUMENT: usize = 1024 * 1024;
/// Least time between two on-demand discovery attempts of one provider.
const RETRY_ON_DEMAND: Duration = Duration::from_secs(2);
/// Least time between two key refreshes of one provider.
const JWKS_REFRESH: Duration = Duration::from_secs(10);
/// The background retry's longest wait.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A client made from discovered metadata.
type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// Why a sign-in through a provider failed, as the person is told.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Not discovered (yet): the provider is down or misconfigured.
    #[error("{0} cannot be reached right now; try again shortly")]
    Unavailable(String),
    /// The provider answered the token request with an error, or nonsense.
    #[error("{provider} did not complete the sign-in: {detail}")]
    Provider {
        /// Display name.
        provider: String,
        /// What went wrong.
        detail: String,
    },
    /// The ID token is not valid for this sign-in.
    #[error("{message}")]
    IdToken {
        /// `invalid_signature`, `invalid_audience`, …
        code: &'static str,
        /// Why.
        message: String,
    },
}

/// What a verified ID token says about the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The provider's issuer.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`, lowercased.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
    /// `name`, else `preferred_username`.
    pub name: Option<String>,
}

/// A started authorization request: where to send the browser, and what to
/// keep for the callback.
#[derive(Debug)]
pub struct Authorization {
    /// The provider's authorization URL with every parameter.
    pub url: String,
    /// `state` (the browser carries it back).
    pub state: String,
    /// `nonce` (the ID token must carry it).
    pub nonce: String,
    /// The PKCE verifier (the token request proves it).
    pub pkce_verifier: String,
}

/// What discovery found.
#[derive(Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
    /// RFC 9207: the provider puts `iss` in its authorization responses.
    iss_in_response: bool,
    jwks_fetched: Instant,
}

/// One provider: its configuration and what discovery found.
struct Entry {
    config: ProviderConfig,
    discovered: RwLock<Option<Discovered>>,
    /// When discovery was last attempted; held while an attempt runs, so
    /// that a sign-in started meanwhile waits for its outcome.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

/// Every configured provider.
pub struct Providers {
    http: reqwest::Client,
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| &e.config.id)).finish()
    }
}

/// A JSON document from `url`, at most [`MAX_DOCUMENT`] bytes.
async fn get_json(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let res = http.get(url).header("accept", "application/json").send().await.map_err(|e| e.to_string())?;
    crate::outbound::read_capped(res, url, MAX_DOCUMENT).await
}

impl Providers {
    /// The providers of `configs`, none discovered yet.
    pub fn new(configs: &[ProviderConfig]) -> Self {
        let http = crate::outbound::client();
        let entries = configs
            .iter()
            .map(|c| Entry {
                config: c.clone(),
                discovered: RwLock::new(None),
                last_attempt: tokio::sync::Mutex::new(None),
            })
            .collect();
        Self { http, entries }
    }

    /// The configured providers, in configuration order.
    pub fn configs(&self) -> impl Iterator<Item = &ProviderConfig> {
        self.entries.iter().map(|e| &e.config)
    }

    /// The provider `id`.
    pub fn config(&self, id: &str) -> Option<&ProviderConfig> {
        self.entry(id).map(|e| &e.config)
    }

    fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.config.id == id)
    }

    /// Discovers every provider, retrying those that fail (1 s, doubling up
    /// to a minute) until all are discovered; then returns.
    pub async fn discover_all(self: Arc<Self>) {
        let mut wait = Duration::from_secs(1);
        loop {
            let mut missing = 0;
            for e in &self.entries {
                if self.discovered(e).is_none() && self.discover(e).await.is_err() {
                    missing += 1;
                }
            }
            if missing == 0 {
                return;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_BACKOFF);
        }
    }

    fn discovered(&self, e: &Entry) -> Option<Discovered> {
        e.discovered.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reads the discovery document and the keys of `e`, and keeps them.
    async fn discover(&self, e: &Entry) -> Result<Discovered, String> {
        let mut last = e.last_attempt.lock().await;
        if let Some(d) = self.discovered(e) {
            return Ok(d);
        }
        self.attempt(e, &mut last).await
    }

    /// One discovery attempt of `e` (its `last_attempt` lock held by the
    /// caller); keeps what it found.
    async fn attempt(&self, e: &Entry, last: &mut Option<Instant>) -> Result<Discovered, String> {
        *last = Some(Instant::now());
        let result = self.fetch_metadata(&e.config).await;
        match &result {
            Ok(d) => {
                tracing::info!(provider = %e.config.id, issuer = %e.config.issuer, "identity provider discovered");
                *e.discovered.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(d.clone());
            }
            Err(why) => {
                tracing::warn!(provider = %e.config.id, issuer = %e.config.issuer, error = %why, "identity provider not discovered; retrying");
            }
        }
        result
    }

    async fn fetch_metadata(&self, c: &ProviderConfig) -> Result<Discovered, String> {
        let url = format!("{}/.well-known/openid-configuration", c.issuer);
        let body = get_json(&self.http, &url).await?;
        let metadata: CoreProviderMetadata =
            serde_json::from_slice(&body).map_err(|e| format!("{url} is not a discovery document: {e}"))?;
        if metadata.issuer().as_str().trim_end_matches('/') != c.issuer {
            return Err(format!("{url} names the issuer {}, not {}", metadata.issuer().as_str(), c.issuer));
        }
        let raw: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let iss_in_response =
            raw.get("authorization_response_iss_parameter_supported").and_then(serde_json::Value::as_bool)
                == Some(true);
        let jwks = self.fetch_jwks(&metadata).await?;
        Ok(Discovered { metadata: metadata.set_jwks(jwks), iss_in_response, jwks_fetched: Instant::now() })
    }

    async fn fetch_jwks(&self, metadata: &CoreProviderMetadata) -> Result<CoreJsonWebKeySet, String> {
        let url = metadata.jwks_uri().url().as_str();
        let body = get_json(&self.http, url).await?;
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not a key set: {e}"))
    }

    /// What discovery found for `e`; discovers now if it has not and the
    /// last attempt was long enough ago.
    async fn ready(&self, e: &Entry) -> Result<Discovered, OidcError> {
        if let Some(d) = self.discovered(e) {
            return Ok(d);
        }
        // Waits for an attempt in flight (the one at start, say), then
        // takes its outcome, or tries again if the last attempt is old.
        let mut last = e.last_attempt.lock().await;
        if let Some(d) = self.discovered(e) {
            return Ok(d);
        }
        let recent = last.is_some_and(|at| at.elapsed() < RETRY_ON_DEMAND);
        if !recent && let Ok(d) = self.attempt(e, &mut last).await {
            return Ok(d);
        }
        Err(OidcError::Unavailable(e.config.display_name.clone()))
    }

    fn client(c: &ProviderConfig, d: &Discovered, redirect_uri: &str) -> Result<Client, OidcError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| OidcError::Provider { provider: c.display_name.clone(), detail: e.to_string() })?;
        Ok(CoreClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(c.client_id.clone()),
            c.client_secret.as_ref().map(|s| openidconnect::ClientSecret::new(s.expose().to_owned())),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in with provider `id`: the authorization URL (code
    /// flow, PKCE S256, fresh `state` and `nonce`), with `login_hint` when
    /// given. `None` for an unknown provider.
    pub async fn authorize(
        &self,
        id: &str,
        redirect_uri: &str,
        login_hint: Option<&str>,
    ) -> Option<Result<Authorization, OidcError>> {
        let e = self.entry(id)?;
        Some(self.authorize_with(e, redirect_uri, login_hint).await)
    }

    async fn authorize_with(
        &self,
        e: &Entry,
        redirect_uri: &str,
        login_hint: Option<&str>,
    ) -> Result<Authorization, OidcError> {
        let d = self.ready(e).await?;
        let client = Self::client(&e.config, &d, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge)
            .add_scopes(e.config.scopes.iter().filter(|s| *s != "openid").map(|s| Scope::new(s.clone())));
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state, nonce) = request.url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Whether `iss` from an authorization response is acceptable for
    /// provider `id` (RFC 9207): when present it must be the issuer; when
    /// absent, the provider must not have promised to send it.
    pub fn response_issuer_ok(&self, id: &str, iss: Option<&str>) -> bool {
        let Some(e) = self.entry(id) else { return false };
        let Some(d) = self.discovered(e) else { return false };
        match iss {
            Some(iss) => iss.trim_end_matches('/') == e.config.issuer,
            None => !d.iss_in_response,
        }
    }

    /// Exchanges `code` (with the PKCE verifier) at provider `id`'s token
    /// endpoint and verifies the ID token it returns: signature (the
    /// provider's published keys), issuer, audience, expiry and `nonce`.
    pub async fn finish(
        &self,
        id: &str,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Verified, OidcError> {
        let e = self.entry(id).ok_or_else(|| OidcError::Unavailable(id.to_owned()))?;
        let d = self.ready(e).await?;
        let provider = || e.config.display_name.clone();
        let client = Self::client(&e.config, &d, redirect_uri)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|err| OidcError::Provider { provider: provider(), detail: err.to_string() })?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|err| OidcError::Provider { provider: provider(), detail: token_error(&err) })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Provider { provider: provider(), detail: "no ID token in its answer".into() })?;
        let nonce = Nonce::new(nonce.to_owned());
        let first = id_token.claims(&client.id_token_verifier(), &nonce).map(verified);
        match first {
            Ok(v) => Ok(v),
            Err(ClaimsVerificationError::SignatureVerification(_)) if d.jwks_fetched.elapsed() >= JWKS_REFRESH => {
                // Perhaps the provider rotated its keys: read them again, once.
                let jwks = self
                    .fetch_jwks(&d.metadata)
                    .await
                    .map_err(|detail| OidcError::Provider { provider: provider(), detail })?;
                let fresh = Discovered {
                    metadata: d.metadata.clone().set_jwks(jwks),
                    iss_in_response: d.iss_in_response,
                    jwks_fetched: Instant::now(),
                };
                *e.discovered.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh.clone());
                let client = Self::client(&e.config, &fresh, redirect_uri)?;
                id_token.claims(&client.id_token_verifier(), &nonce).map(verified).map_err(|e| refusal(&e))
            }
            Err(err) => Err(refusal(&err)),
        }
    }
}

/// A token endpoint's failure, as the person is told (the provider's
/// `error` and description when it sent them).
fn token_error<RE: std::error::Error + 'static>(
    err: &openidconnect::RequestTokenError<
        RE,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> String {
    match err {
        openidconnect::RequestTokenError::ServerResponse(r) => match r.error_description() {
            Some(d) => format!("{} ({d})", r.error().as_ref()),
            None => r.error().as_ref().to_owned(),
        },
        other => other.to_string(),
    }
}

/// The person a verified ID token names.
fn verified(claims: &CoreIdTokenClaims) -> Verified {
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()));
    Verified {
        issuer: claims.issuer().as_str().trim_end_matches('/').to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().trim().to_lowercase()),
        email_verified: claims.email_verified() == Some(true),
        name,
    }
}

/// A refused ID token, with a code per reason.
fn refusal(err: &ClaimsVerificationError) -> OidcError {
    let (code, message) = match err {
        ClaimsVerificationError::SignatureVerification(_) => {
            ("invalid_signature", "the ID token is not signed by a key the provider publishes")
        }
        ClaimsVerificationError::InvalidAudience(_) => {
            ("invalid_audience", "the ID token was issued to another client")
        }
        ClaimsVerificationError::InvalidNonce(_) => ("invalid_nonce", "the ID token does not belong to this sign-in"),
        ClaimsVerificationError::Expired(_) => ("token_expired", "the ID token has expired"),
        ClaimsVerificationError::InvalidIssuer(_) => ("issuer_mismatch", "the ID token comes from another issuer"),
        _ => ("invalid_id_token", "the ID token is not valid"),
    };
    tracing::warn!(error = %err, code, "ID token refused");
    OidcError::IdToken { code, message: message.to_owned() }
}
