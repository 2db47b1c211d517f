//! Connected apps (`/v1/oauth/…`): the providers people may connect, an
//! organization's own client credentials, connections in progress, the
//! connections, and the access token handed to the platform's tools.
//!
//! Tokens and client secrets appear in exactly two shapes:
//! [`PutOAuthClient`] (the request that sets an organization's client
//! secret) and [`OAuthToken`] (the answer that hands out an access token);
//! their `Debug` prints `"…"` instead of the value. No shape ever carries a
//! refresh token.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::secrets::OwnerScope;

/// An organization's own client credentials at a provider (never the
/// secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientView {
    /// The client id registered at the provider.
    pub client_id: String,
    /// Whether a client secret is set (a public client otherwise).
    pub has_client_secret: bool,
    /// Last change.
    pub updated_at: String,
}

/// `GET /v1/oauth/providers`: a provider of the operator's catalog.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthProviderView {
    /// Used in URLs and commands (`github`).
    pub id: String,
    /// Shown to people (`GitHub`).
    pub display_name: String,
    /// The scopes asked for when a connect names none.
    pub default_scopes: Vec<String>,
    /// Whether disconnecting revokes the grant at the provider.
    pub revokes_on_disconnect: bool,
    /// Whether it can be connected in this organization: the operator's
    /// catalog or the organization has client credentials for it.
    pub configured: bool,
    /// The organization's own client credentials, when an admin set them
    /// (they take precedence over the operator's).
    pub org_client: Option<OAuthClientView>,
}

/// `PUT /v1/oauth/providers/{id}` (admins): the organization's own client
/// credentials at a provider, replacing any.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutOAuthClient {
    /// The client id registered at the provider (1–256 characters).
    #[schema(min_length = 1, max_length = 256)]
    pub client_id: String,
    /// The client secret (at most 4 KiB); absent for a public client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl fmt::Debug for PutOAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutOAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .finish()
    }
}

/// `POST /v1/oauth/connect`: start connecting an account at a provider.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartConnect {
    /// The catalog provider's id (`github`).
    pub provider: String,
    /// The scopes to ask for (default: the provider's default scopes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `true`: the organization's shared connection, which every member's
    /// tools may use (admins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
}

/// The answer to `POST /v1/oauth/connect`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectStarted {
    /// `ocr_…`: poll `GET /v1/oauth/connect/{id}`.
    pub id: String,
    /// The latchkey page to open in a browser signed in as the same person;
    /// it sends the browser on to the provider.
    pub authorize_url: String,
    /// The provider must send the person back before this.
    pub expires_at: String,
}

/// Where a connection in progress stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectState {
    /// Waiting for the person (and the provider).
    Pending,
    /// The connection is stored (`connectionId`).
    Completed,
    /// It failed (`error`).
    Failed,
    /// Nobody finished it in time.
    Expired,
}

/// `GET /v1/oauth/connect/{id}`: a connection in progress.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectRequestView {
    /// `ocr_…`
    pub id: String,
    /// The catalog provider's id.
    pub provider: String,
    /// Where it stands.
    pub status: ConnectState,
    /// The connection it stored (`completed`).
    pub connection_id: Option<String>,
    /// Why it failed (`failed`).
    pub error: Option<String>,
    /// The provider must send the person back before this.
    pub expires_at: String,
}

/// A connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Usable.
    Active,
    /// The provider refused the grant: its owner must connect again.
    NeedsReauthorization,
    /// Revoked.
    Revoked,
}

/// A connected app: a person's or the organization's grant at a provider
/// (never its tokens).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConnectionView {
    /// `ocn_…`
    pub id: String,
    /// The catalog provider's id.
    pub provider: String,
    /// The account's id at the provider.
    pub account_id: String,
    /// How the account is shown (a login, an email).
    pub account_label: String,
    /// `user` (a person's own) or `org` (the organization's shared one).
    pub owner: OwnerScope,
    /// The person it belongs to (`null` for the organization's).
    pub owner_user_id: Option<String>,
    /// Its owner's default for the provider.
    pub is_default: bool,
    /// The scopes asked for.
    pub requested_scopes: Vec<String>,
    /// The scopes the provider granted (it may grant fewer).
    pub granted_scopes: Vec<String>,
    /// Whether it can be used.
    pub status: ConnectionState,
    /// When the current access token expires (`null`: the provider did not
    /// say).
    pub expires_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// `POST /v1/oauth/token`: a fresh access token for a tool (a service key
/// holding `oauth:token`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// The catalog provider's id.
    pub provider: String,
    /// The member the tool runs for (id or email); their default connection
    /// is used, else the organization's shared one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// A particular connection (`ocn_…`), instead of the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// Scopes the tool needs: the grant must hold each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// The answer to `POST /v1/oauth/token` (`Cache-Control: no-store`).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthToken {
    /// The access token.
    pub access_token: String,
    /// `bearer`, usually.
    pub token_type: String,
    /// When it expires (`null`: the provider did not say).
    pub expires_at: Option<String>,
    /// The scopes the grant holds.
    pub granted_scopes: Vec<String>,
    /// The connection it came from.
    pub connection_id: String,
    /// Its account's label.
    pub account_label: String,
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthToken")
            .field("access_token", &"…")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("granted_scopes", &self.granted_scopes)
            .field("connection_id", &self.connection_id)
            .field("account_label", &self.account_label)
            .finish()
    }
}
