//! What the connected-apps routes share: the provider a request names, the
//! client credentials used there (an organization's own, sealed, else the
//! operator's), the tokens of a connection sealed with the organization's
//! data key and opened again, a connection as the API shows it, and the
//! URLs latchkey hands out (the one callback, where a person reconnects).
//!
//! Sealed values are bound to (organization, provider, owner, account,
//! field) ([`OAuthAad`]): a client secret has no owner and the account
//! `""`; a connection's tokens carry its unique key, which a reconnect of
//! the same account keeps.

use axum::http::StatusCode;
use latchkey_api_types::oauth::{ConnectionState, OAuthConnectionView};
use latchkey_api_types::secrets::OwnerScope;
use latchkey_core::crypto::{CryptoError, DataKey, OAuthAad, OAuthField};
use latchkey_core::id::OrgId;
use latchkey_core::time_fmt::to_rfc3339;
use latchkey_store::{ConnectionStatus, OAuthConnection};
use zeroize::Zeroizing;

use super::OAuthProviderConfig;
use super::client::{Credentials, Tokens};
use crate::error::ApiError;
use crate::oidc::ClientSecret;
use crate::sealing::{SealError, data_key};
use crate::state::AppState;

/// The provider `id` of the operator's catalog, or 404 `not_found`.
pub(crate) fn provider<'a>(state: &'a AppState, id: &str) -> Result<&'a OAuthProviderConfig, ApiError> {
    state.settings.oauth.iter().find(|p| p.id == id).ok_or_else(|| ApiError::not_found("OAuth provider"))
}

/// What an organization's client secret at `provider` is bound to.
pub(crate) fn client_secret_aad<'a>(org_id: &'a OrgId, provider: &'a str) -> OAuthAad<'a> {
    OAuthAad { org_id, provider, owner_user_id: None, account_id: "", field: OAuthField::ClientSecret }
}

/// The client credentials latchkey uses at `provider` for `org_id`: the
/// organization's own (its secret opened), else the operator's catalog's;
/// 400 `provider_not_configured` when neither has a client id.
pub(crate) async fn credentials(
    state: &AppState,
    org_id: &OrgId,
    provider: &OAuthProviderConfig,
) -> Result<Credentials, ApiError> {
    if let Some(own) = state.store.get_oauth_client(org_id, &provider.id).await? {
        let client_secret = match &own.client_secret_sealed {
            Some(sealed) => {
                let key = existing_key(state, org_id, "a client secret").await?;
                let plain = key.open(&client_secret_aad(org_id, &provider.id), sealed).map_err(|e| {
                    seal_error(format!("cannot open the client secret of {org_id} at {}", provider.id), e)
                })?;
                let text = std::str::from_utf8(&plain).map_err(|_| {
                    seal_error(
                        format!("the client secret of {org_id} at {} is not UTF-8", provider.id),
                        CryptoError::Malformed,
                    )
                })?;
                ClientSecret::new(text)
            }
            None => None,
        };
        return Ok(Credentials { client_id: own.client_id, client_secret });
    }
    match &provider.client_id {
        Some(client_id) => {
            Ok(Credentials { client_id: client_id.clone(), client_secret: provider.client_secret.clone() })
        }
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "provider_not_configured",
            format!(
                "{} cannot be connected yet: neither the server's configuration nor this organization has client \
                 credentials for it (an admin sets them with PUT /v1/oauth/providers/{})",
                provider.display_name, provider.id
            ),
        )),
    }
}

/// The unique key of a connection, which its sealed tokens are bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionKey<'a> {
    /// The organization.
    pub(crate) org_id: &'a str,
    /// The person it belongs to (`None`: the organization's shared one).
    pub(crate) owner_user_id: Option<&'a str>,
    /// The catalog provider's id.
    pub(crate) provider: &'a str,
    /// The account's id at the provider.
    pub(crate) account_id: &'a str,
}

impl<'a> ConnectionKey<'a> {
    /// The key of a stored connection.
    pub(crate) fn of(c: &'a OAuthConnection) -> Self {
        Self {
            org_id: &c.org_id,
            owner_user_id: c.owner_user_id.as_deref(),
            provider: &c.provider,
            account_id: &c.account_id,
        }
    }

    fn aad(self, field: OAuthField) -> OAuthAad<'a> {
        OAuthAad {
            org_id: self.org_id,
            provider: self.provider,
            owner_user_id: self.owner_user_id,
            account_id: self.account_id,
            field,
        }
    }
}

/// A connection's tokens, opened. Their buffers are wiped when dropped.
pub(crate) struct OpenedTokens {
    /// The access token.
    pub(crate) access: Zeroizing<String>,
    /// The refresh token, if the provider gave one.
    pub(crate) refresh: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for OpenedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedTokens").field("has_refresh", &self.refresh.is_some()).finish_non_exhaustive()
    }
}

/// Seals `tokens` for the connection `c`: (access token, refresh token if
/// any).
pub(crate) fn seal_tokens(
    key: &DataKey,
    c: ConnectionKey<'_>,
    tokens: &Tokens,
) -> Result<(Vec<u8>, Option<Vec<u8>>), ApiError> {
    let seal = |field: OAuthField, value: &str| {
        key.seal(&c.aad(field), value.as_bytes()).map_err(|e| {
            seal_error(format!("cannot seal a token of {} at {} for {}", c.org_id, c.provider, c.account_id), e)
        })
    };
    let access = seal(OAuthField::AccessToken, &tokens.access_token)?;
    let refresh = tokens.refresh_token.as_ref().map(|r| seal(OAuthField::RefreshToken, r)).transpose()?;
    Ok((access, refresh))
}

/// Opens the tokens of a stored connection (one read with its tokens, not
/// from a list).
pub(crate) async fn open_tokens(state: &AppState, c: &OAuthConnection) -> Result<OpenedTokens, ApiError> {
    open_tokens_with(&existing_key(state, &c.org_id, "a connection").await?, c)
}

/// [`open_tokens`] with the organization's data key at hand (a refresh
/// seals the new tokens with the same key).
pub(crate) fn open_tokens_with(key: &DataKey, c: &OAuthConnection) -> Result<OpenedTokens, ApiError> {
    let k = ConnectionKey::of(c);
    let open = |field: OAuthField, sealed: &[u8]| {
        let plain = key
            .open(&k.aad(field), sealed)
            .map_err(|e| seal_error(format!("cannot open a token of connection {} of {}", c.id, c.org_id), e))?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| {
            seal_error(format!("a token of connection {} of {} is not UTF-8", c.id, c.org_id), CryptoError::Malformed)
        })
    };
    let access = open(OAuthField::AccessToken, &c.access_token_sealed)?;
    let refresh = c.refresh_token_sealed.as_deref().map(|r| open(OAuthField::RefreshToken, r)).transpose()?;
    Ok(OpenedTokens { access, refresh })
}

/// The organization's data key, which must exist since something is sealed
/// with it.
pub(crate) async fn existing_key(state: &AppState, org_id: &OrgId, what: &str) -> Result<DataKey, ApiError> {
    data_key(state, org_id, false)
        .await?
        .ok_or_else(|| seal_error(format!("{org_id} has {what} sealed but no data key"), CryptoError::Malformed))
}

fn seal_error(what: String, source: CryptoError) -> ApiError {
    ApiError::internal(&SealError { what, source })
}

/// Space-separated scopes as a list.
pub(crate) fn scope_list(scopes: &str) -> Vec<String> {
    scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A connection as the API shows it (never its tokens).
pub(crate) fn connection_view(c: &OAuthConnection) -> OAuthConnectionView {
    OAuthConnectionView {
        id: c.id.to_string(),
        provider: c.provider.clone(),
        account_id: c.account_id.clone(),
        account_label: c.account_label.clone(),
        owner: if c.owner_user_id.is_some() { OwnerScope::User } else { OwnerScope::Org },
        owner_user_id: c.owner_user_id.clone().map(String::from),
        is_default: c.is_default,
        requested_scopes: scope_list(&c.requested_scopes),
        granted_scopes: scope_list(&c.granted_scopes),
        status: match c.status {
            ConnectionStatus::Active => ConnectionState::Active,
            ConnectionStatus::NeedsReauthorization => ConnectionState::NeedsReauthorization,
            ConnectionStatus::Revoked => ConnectionState::Revoked,
        },
        expires_at: c.expires_at.map(to_rfc3339),
        created_at: to_rfc3339(c.created_at),
        updated_at: to_rfc3339(c.updated_at),
    }
}

/// The origin of the URLs latchkey hands out without a request at hand:
/// `public_url`, else the address it listens on (see
/// [`crate::Settings::listen_origin`]).
fn origin(state: &AppState) -> &str {
    let s = &state.settings;
    s.public_url.as_deref().or(s.listen_origin.as_deref()).unwrap_or("http://localhost").trim_end_matches('/')
}

/// The one callback of every provider, `{origin}/v1/oauth/callback`: what
/// is registered at each provider as the redirect URI.
pub(crate) fn redirect_uri(state: &AppState) -> String {
    format!("{}/v1/oauth/callback", origin(state))
}

/// Where a person goes to connect (again) to `provider`: the dashboard's
/// Connected apps page for it (errors carry it as `connectUrl`).
pub(crate) fn connect_url(state: &AppState, provider: &str) -> String {
    let provider = url::form_urlencoded::byte_serialize(provider.as_bytes()).collect::<String>();
    format!("{}/dashboard/connected-apps?connect={provider}", origin(state))
}

/// A connect request's authorization page, `{origin}/v1/oauth/connect/{id}/authorize?state=…`.
pub(crate) fn authorize_page_url(state: &AppState, id: &str, oauth_state: &str) -> String {
    let oauth_state = url::form_urlencoded::byte_serialize(oauth_state.as_bytes()).collect::<String>();
    format!("{}/v1/oauth/connect/{id}/authorize?state={oauth_state}", origin(state))
}
