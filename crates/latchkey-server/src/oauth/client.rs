//! What latchkey asks of an OAuth provider (the `oauth2` crate over
//! [`crate::outbound`]'s client: redirects never followed, 10 s timeout): the authorization URL
//! (state, PKCE S256), the code exchange, a refresh, a revocation (RFC
//! 7009, by hand: the crate's insists on https, and test providers are on
//! loopback), and the account behind a token (its userinfo URL).

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, TokenResponse, TokenUrl,
};
use zeroize::Zeroizing;

use super::OAuthProviderConfig;
use crate::oidc::ClientSecret;

/// Largest userinfo answer read.
const MAX_USERINFO: usize = 256 * 1024;

/// The client credentials latchkey uses at a provider (the catalog's, or an
/// organization's own).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The client id.
    pub client_id: String,
    /// The client secret (a public client when `None`).
    pub client_secret: Option<ClientSecret>,
}

/// Tokens a provider issued. Their `Debug` is redacted.
pub struct Tokens {
    /// The access token.
    pub access_token: Zeroizing<String>,
    /// The refresh token, when the provider issued one (a rotated one on a
    /// refresh).
    pub refresh_token: Option<Zeroizing<String>>,
    /// `bearer`, usually.
    pub token_type: String,
    /// When the access token expires (epoch ms), if the provider said.
    pub expires_at: Option<i64>,
    /// The scopes granted, when the provider said (it may grant fewer than
    /// asked).
    pub granted_scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("granted_scopes", &self.granted_scopes)
            .finish_non_exhaustive()
    }
}

/// Why a token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The provider refused the grant (`invalid_grant`: revoked, expired,
    /// reused): the connection needs the person again.
    #[error("the provider refused the grant: {0}")]
    InvalidGrant(String),
    /// Anything else (the network, a 5xx, a refusal of another kind): may
    /// pass.
    #[error("{0}")]
    Other(String),
}

/// The HTTP client for providers ([`crate::outbound::client`]).
pub fn http_client() -> reqwest::Client {
    crate::outbound::client()
}

fn client(
    p: &OAuthProviderConfig,
    creds: &Credentials,
) -> Result<
    BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    TokenError,
> {
    let bad = |e: &dyn std::fmt::Display| TokenError::Other(format!("{}: {e}", p.display_name));
    let auth = AuthUrl::new(p.authorize_url.clone()).map_err(|e| bad(&e))?;
    let token = TokenUrl::new(p.token_url.clone()).map_err(|e| bad(&e))?;
    let mut c = BasicClient::new(ClientId::new(creds.client_id.clone())).set_auth_uri(auth).set_token_uri(token);
    if let Some(secret) = &creds.client_secret {
        c = c.set_client_secret(oauth2::ClientSecret::new(secret.expose().to_owned()));
    }
    Ok(c)
}

/// A fresh `state` for an authorization request: 256 random bits,
/// base64url (URL-safe as it is).
pub fn new_state() -> String {
    CsrfToken::new_random_len(32).secret().clone()
}

/// A fresh PKCE code verifier (RFC 7636: 32 random bytes, base64url, 43
/// characters).
pub fn new_pkce_verifier() -> String {
    PkceCodeChallenge::new_random_sha256().1.secret().clone()
}

/// The authorization URL for `scopes` (joined with the provider's
/// separator), carrying `state` and, when the provider uses PKCE, the S256
/// challenge of `pkce_verifier`; both made by the caller ([`new_state`],
/// [`new_pkce_verifier`]), who keeps them for the callback.
pub fn authorize(
    p: &OAuthProviderConfig,
    creds: &Credentials,
    redirect_uri: &str,
    scopes: &[String],
    state: &str,
    pkce_verifier: &str,
) -> Result<String, TokenError> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| TokenError::Other(e.to_string()))?;
    let c = client(p, creds)?.set_redirect_uri(redirect);
    let state = state.to_owned();
    let mut request = c.authorize_url(move || CsrfToken::new(state));
    if !scopes.is_empty() {
        request = request.add_extra_param("scope", scopes.join(&p.scope_separator));
    }
    if p.pkce {
        let verifier = PkceCodeVerifier::new(pkce_verifier.to_owned());
        request = request.set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
    }
    Ok(request.url().0.to_string())
}

/// Reads a token answer: scopes split on the provider's separator (or
/// spaces), the expiry made absolute.
fn tokens(p: &OAuthProviderConfig, r: &oauth2::basic::BasicTokenResponse, now: i64) -> Tokens {
    let granted = r.scopes().map(|scopes| {
        scopes
            .iter()
            .flat_map(|s| s.as_str().split(|c: char| c.is_whitespace() || p.scope_separator.contains(c)))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    Tokens {
        access_token: Zeroizing::new(r.access_token().secret().clone()),
        refresh_token: r.refresh_token().map(|t| Zeroizing::new(t.secret().clone())),
        token_type: r.token_type().as_ref().to_ascii_lowercase(),
        expires_at: r.expires_in().map(|d| now + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)),
        granted_scopes: granted,
    }
}

fn token_error<RE: std::error::Error + 'static>(
    err: &RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> TokenError {
    match err {
        RequestTokenError::ServerResponse(r) => {
            let detail = match r.error_description() {
                Some(d) => format!("{} ({d})", r.error().as_ref()),
                None => r.error().as_ref().to_owned(),
            };
            if matches!(r.error(), oauth2::basic::BasicErrorResponseType::InvalidGrant) {
                TokenError::InvalidGrant(detail)
            } else {
                TokenError::Other(detail)
            }
        }
        other => TokenError::Other(other.to_string()),
    }
}

/// Exchanges an authorization code (with its PKCE verifier).
pub async fn exchange(
    http: &reqwest::Client,
    p: &OAuthProviderConfig,
    creds: &Credentials,
    redirect_uri: &str,
    code: &str,
    pkce_verifier: Option<&str>,
    now: i64,
) -> Result<Tokens, TokenError> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| TokenError::Other(e.to_string()))?;
    let c = client(p, creds)?.set_redirect_uri(redirect);
    let mut request = c.exchange_code(AuthorizationCode::new(code.to_owned()));
    if let Some(v) = pkce_verifier {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(v.to_owned()));
    }
    let r = request.request_async(http).await.map_err(|e| token_error(&e))?;
    Ok(tokens(p, &r, now))
}

/// Refreshes with `refresh_token`.
pub async fn refresh(
    http: &reqwest::Client,
    p: &OAuthProviderConfig,
    creds: &Credentials,
    refresh_token: &str,
    now: i64,
) -> Result<Tokens, TokenError> {
    let c = client(p, creds)?;
    let token = RefreshToken::new(refresh_token.to_owned());
    let r = c.exchange_refresh_token(&token).request_async(http).await.map_err(|e| token_error(&e))?;
    Ok(tokens(p, &r, now))
}

/// Revokes `refresh_token` (or, without one, `access_token`) at the
/// provider's revocation endpoint (RFC 7009: a form POST with the client's
/// credentials; the catalog admits only https and loopback endpoints);
/// `Ok(false)` when it has none.
pub async fn revoke(
    http: &reqwest::Client,
    p: &OAuthProviderConfig,
    creds: &Credentials,
    access_token: &str,
    refresh_token: Option<&str>,
) -> Result<bool, TokenError> {
    let Some(url) = &p.revocation_url else { return Ok(false) };
    let (token, hint) = match refresh_token {
        Some(r) => (r, "refresh_token"),
        None => (access_token, "access_token"),
    };
    let mut request = http.post(url).header("accept", "application/json");
    let mut form = vec![("token", token), ("token_type_hint", hint)];
    match &creds.client_secret {
        Some(secret) => request = request.basic_auth(&creds.client_id, Some(secret.expose())),
        None => form.push(("client_id", &creds.client_id)),
    }
    let res = request.form(&form).send().await.map_err(|e| TokenError::Other(e.to_string()))?;
    // RFC 7009: 200 whether or not the token was still valid.
    if res.status().is_success() {
        Ok(true)
    } else {
        Err(TokenError::Other(format!("{url} answered {}", res.status())))
    }
}

/// The account behind `access_token`: (id, label) read from the provider's
/// userinfo URL with its configured fields; numbers are read as text.
pub async fn account(
    http: &reqwest::Client,
    p: &OAuthProviderConfig,
    access_token: &str,
) -> Result<Option<(String, String)>, TokenError> {
    let Some(url) = &p.userinfo_url else { return Ok(None) };
    let res = http
        .get(url)
        .bearer_auth(access_token)
        .header("accept", "application/json")
        .header("user-agent", "latchkey")
        .send()
        .await
        .map_err(|e| TokenError::Other(e.to_string()))?;
    let body = crate::outbound::read_capped(res, url, MAX_USERINFO).await.map_err(TokenError::Other)?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| TokenError::Other(format!("{url}: {e}")))?;
    let text = |field: &str| match v.get(field) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let id = text(&p.userinfo_id_field)
        .ok_or_else(|| TokenError::Other(format!("{url} has no `{}` field", p.userinfo_id_field)))?;
    let label = text(&p.userinfo_label_field).unwrap_or_else(|| id.clone());
    Ok(Some((id, label)))
}
