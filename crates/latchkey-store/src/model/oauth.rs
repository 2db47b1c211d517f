//! OAuth connections: latchkey as the OAuth client of third-party providers.
//! An organization's own client credentials for a provider, connections in
//! progress (connect requests), and the connections themselves (a person's
//! or the organization's grant, with its sealed tokens and its refresh
//! lease).
//!
//! Tokens and client secrets are sealed with the organization's data key
//! above storage, like secrets: records carry ciphertext only, and their
//! `Debug` leaves it (and the PKCE verifier) out.

use latchkey_core::KeyHash;
use latchkey_core::id::{OAuthConnectRequestId, OAuthConnectionId, OrgId, UserId};
use latchkey_core::time_fmt::Millis;

/// An organization's own client credentials for a catalog provider (set by
/// its admins; the operator's, from the configuration, apply otherwise).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The organization.
    pub org_id: OrgId,
    /// The catalog provider's id (`github`).
    pub provider: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret sealed with the organization's data key; `None`
    /// for a public client.
    pub client_secret_sealed: Option<Vec<u8>>,
    /// Last change.
    pub updated_at: Millis,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("org_id", &self.org_id)
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("has_client_secret", &self.client_secret_sealed.is_some())
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// Where a connect request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectStatus {
    /// Waiting for the person to authorize at the provider (its callback
    /// has not come).
    Pending,
    /// The callback came (its `state` is used up) and the code is being
    /// exchanged; still waiting, as far as the polling client is concerned.
    Exchanging,
    /// The connection is stored ([`OAuthConnectRequest::connection_id`]).
    Completed,
    /// It failed ([`OAuthConnectRequest::error`]).
    Failed,
}

impl ConnectStatus {
    /// As stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Exchanging => "exchanging",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// From its stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Exchanging, Self::Completed, Self::Failed].into_iter().find(|k| k.as_str() == s)
    }
}

/// A connection in progress (`POST /v1/oauth/connect` starts it, `GET
/// /v1/oauth/connect/{id}` polls it, the provider's callback finishes it),
/// found by id or by the SHA-256 of the `state` sent to the provider.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthConnectRequest {
    /// `ocr_…`
    pub id: OAuthConnectRequestId,
    /// The organization.
    pub org_id: OrgId,
    /// Who asked: only they may finish it.
    pub user_id: UserId,
    /// The catalog provider's id.
    pub provider: String,
    /// The requested scopes, space-separated.
    pub scopes: String,
    /// Whether it makes the organization's shared connection.
    pub shared: bool,
    /// SHA-256 of the `state` sent to the provider (unique).
    pub state_hash: KeyHash,
    /// The PKCE code verifier (kept on the server; its challenge went to
    /// the provider).
    pub pkce_verifier: String,
    /// Where it stands.
    pub status: ConnectStatus,
    /// Why it failed ([`ConnectStatus::Failed`]).
    pub error: Option<String>,
    /// The connection it stored ([`ConnectStatus::Completed`]; `None` again
    /// if that connection was deleted since).
    pub connection_id: Option<OAuthConnectionId>,
    /// Creation time.
    pub created_at: Millis,
    /// The callback must come before this.
    pub expires_at: Millis,
}

impl std::fmt::Debug for OAuthConnectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConnectRequest")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .field("provider", &self.provider)
            .field("scopes", &self.scopes)
            .field("shared", &self.shared)
            .field("status", &self.status)
            .field("error", &self.error)
            .field("connection_id", &self.connection_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Usable.
    Active,
    /// The grant is gone at the provider (`invalid_grant` on refresh): the
    /// owner must connect again.
    NeedsReauthorization,
    /// Revoked.
    Revoked,
}

impl ConnectionStatus {
    /// As stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauthorization => "needs_reauthorization",
            Self::Revoked => "revoked",
        }
    }

    /// From its stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::NeedsReauthorization, Self::Revoked].into_iter().find(|k| k.as_str() == s)
    }
}

/// A stored grant at a provider: a person's, or the organization's shared
/// one. One per (organization, owner, provider, account at the provider).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthConnection {
    /// `ocn_…`
    pub id: OAuthConnectionId,
    /// The organization.
    pub org_id: OrgId,
    /// The person it belongs to; `None`: the organization's shared
    /// connection, which every member's tools may use.
    pub owner_user_id: Option<UserId>,
    /// The catalog provider's id.
    pub provider: String,
    /// The provider's id of the account.
    pub account_id: String,
    /// How the account is shown (a login, an email).
    pub account_label: String,
    /// The scopes asked for, space-separated.
    pub requested_scopes: String,
    /// The scopes the provider granted (it may grant less), space-separated.
    pub granted_scopes: String,
    /// The access token sealed with the organization's data key (empty in
    /// lists).
    pub access_token_sealed: Vec<u8>,
    /// The refresh token sealed likewise, if the provider gave one (`None`
    /// in lists).
    pub refresh_token_sealed: Option<Vec<u8>>,
    /// `Bearer`, usually.
    pub token_type: String,
    /// When the access token expires (`None`: the provider did not say).
    pub expires_at: Option<Millis>,
    /// Whether it can be used.
    pub status: ConnectionStatus,
    /// The owner's default for the provider (exactly one per owner and
    /// provider, the organization counting as one owner).
    pub is_default: bool,
    /// 1 on creation, +1 on every token change: what a refresh lease is
    /// taken on.
    pub version: i64,
    /// Until when a refresh is under way ([`crate::OAuthStore::try_lease`]).
    pub refresh_lease_until: Option<Millis>,
    /// Who holds the refresh lease (a node and attempt of the server's
    /// choosing).
    pub refresh_lease_holder: Option<String>,
    /// No refresh before this (the provider failed lately).
    pub cooldown_until: Option<Millis>,
    /// When the current tokens were stored (the connect, or the last
    /// refresh): the access token's lifetime counts from here. Unlike
    /// `updated_at`, nothing else moves it.
    pub tokens_at: Millis,
    /// Creation time.
    pub created_at: Millis,
    /// Last change of tokens, scopes, label, status or default.
    pub updated_at: Millis,
}

impl OAuthConnection {
    /// Whether a refresh lease is held at `now`.
    pub fn leased_at(&self, now: Millis) -> bool {
        self.refresh_lease_until.is_some_and(|until| until > now)
    }

    /// Whether refreshes are paused at `now` ([`crate::OAuthStore::set_cooldown`]).
    pub fn cooling_down_at(&self, now: Millis) -> bool {
        self.cooldown_until.is_some_and(|until| until > now)
    }
}

impl std::fmt::Debug for OAuthConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConnection")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("owner_user_id", &self.owner_user_id)
            .field("provider", &self.provider)
            .field("account_id", &self.account_id)
            .field("account_label", &self.account_label)
            .field("requested_scopes", &self.requested_scopes)
            .field("granted_scopes", &self.granted_scopes)
            .field("has_refresh_token", &self.refresh_token_sealed.is_some())
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("status", &self.status)
            .field("is_default", &self.is_default)
            .field("version", &self.version)
            .field("refresh_lease_until", &self.refresh_lease_until)
            .field("refresh_lease_holder", &self.refresh_lease_holder)
            .field("cooldown_until", &self.cooldown_until)
            .field("tokens_at", &self.tokens_at)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// A grant just obtained (the connect flow's code exchange), for
/// [`crate::OAuthStore::upsert_connection`].
#[derive(Clone, PartialEq, Eq)]
pub struct NewOAuthConnection {
    /// The id it gets if it is new (`ocn_…`); an existing connection of the
    /// same account keeps its own.
    pub id: OAuthConnectionId,
    /// The organization.
    pub org_id: OrgId,
    /// The person it belongs to; `None`: the organization's shared
    /// connection.
    pub owner_user_id: Option<UserId>,
    /// The catalog provider's id.
    pub provider: String,
    /// The provider's id of the account.
    pub account_id: String,
    /// How the account is shown.
    pub account_label: String,
    /// The scopes asked for, space-separated.
    pub requested_scopes: String,
    /// The scopes granted, space-separated.
    pub granted_scopes: String,
    /// The access token, sealed.
    pub access_token_sealed: Vec<u8>,
    /// The refresh token, sealed, if the provider gave one. Stored as
    /// given: `None` leaves none.
    pub refresh_token_sealed: Option<Vec<u8>>,
    /// The token type.
    pub token_type: String,
    /// When the access token expires.
    pub expires_at: Option<Millis>,
    /// Now: its creation time if new, its update time either way.
    pub at: Millis,
}

impl std::fmt::Debug for NewOAuthConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOAuthConnection")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("owner_user_id", &self.owner_user_id)
            .field("provider", &self.provider)
            .field("account_id", &self.account_id)
            .field("account_label", &self.account_label)
            .field("requested_scopes", &self.requested_scopes)
            .field("granted_scopes", &self.granted_scopes)
            .field("has_refresh_token", &self.refresh_token_sealed.is_some())
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// What a refresh obtained, for [`crate::OAuthStore::store_refreshed`].
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshedTokens {
    /// The new access token, sealed.
    pub access_token_sealed: Vec<u8>,
    /// The refresh token to keep, sealed: the rotated one when the
    /// provider sent one, else the one in use (sealed again if its
    /// associated data names the version). Stored as given: `None` leaves
    /// none.
    pub refresh_token_sealed: Option<Vec<u8>>,
    /// The token type.
    pub token_type: String,
    /// When the new access token expires.
    pub expires_at: Option<Millis>,
    /// The scopes now granted, space-separated (`None`: unchanged, the
    /// provider did not say).
    pub granted_scopes: Option<String>,
    /// Now.
    pub at: Millis,
}

impl std::fmt::Debug for RefreshedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshedTokens")
            .field("has_refresh_token", &self.refresh_token_sealed.is_some())
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("granted_scopes", &self.granted_scopes)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// Which connections to list.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    /// This person's own connections and the organization's shared ones
    /// (`None` and not `all_org`: the shared ones only).
    pub owner: Option<UserId>,
    /// Every connection of the organization, whoever owns it (admins);
    /// `owner` is then ignored.
    pub all_org: bool,
    /// Only this provider's.
    pub provider: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_material_and_the_verifier_are_not_in_debug() {
        let sealed = vec![0xde, 0xad, 0xbe, 0xef];
        let client = OAuthClient {
            org_id: "org_1".into(),
            provider: "github".into(),
            client_id: "cid".into(),
            client_secret_sealed: Some(sealed.clone()),
            updated_at: 0,
        };
        let request = OAuthConnectRequest {
            id: "ocr_1".into(),
            org_id: "org_1".into(),
            user_id: "usr_1".into(),
            provider: "github".into(),
            scopes: "repo".into(),
            shared: false,
            state_hash: KeyHash::of("state"),
            pkce_verifier: "verifier-plaintext".into(),
            status: ConnectStatus::Pending,
            error: None,
            connection_id: None,
            created_at: 0,
            expires_at: 0,
        };
        let new = NewOAuthConnection {
            id: "ocn_1".into(),
            org_id: "org_1".into(),
            owner_user_id: None,
            provider: "github".into(),
            account_id: "42".into(),
            account_label: "octocat".into(),
            requested_scopes: "repo".into(),
            granted_scopes: "repo".into(),
            access_token_sealed: sealed.clone(),
            refresh_token_sealed: Some(sealed.clone()),
            token_type: "Bearer".into(),
            expires_at: None,
            at: 0,
        };
        let connection = OAuthConnection {
            id: new.id.clone(),
            org_id: new.org_id.clone(),
            owner_user_id: None,
            provider: new.provider.clone(),
            account_id: new.account_id.clone(),
            account_label: new.account_label.clone(),
            requested_scopes: new.requested_scopes.clone(),
            granted_scopes: new.granted_scopes.clone(),
            access_token_sealed: sealed.clone(),
            refresh_token_sealed: Some(sealed.clone()),
            token_type: "Bearer".into(),
            expires_at: None,
            status: ConnectionStatus::Active,
            is_default: true,
            version: 1,
            refresh_lease_until: None,
            refresh_lease_holder: None,
            cooldown_until: None,
            tokens_at: 0,
            created_at: 0,
            updated_at: 0,
        };
        let refreshed = RefreshedTokens {
            access_token_sealed: sealed.clone(),
            refresh_token_sealed: Some(sealed),
            token_type: "Bearer".into(),
            expires_at: None,
            granted_scopes: None,
            at: 0,
        };
        let shown = format!("{client:?} {request:?} {new:?} {connection:?} {refreshed:?}");
        assert!(shown.contains("ocr_1") && shown.contains("ocn_1") && shown.contains("octocat"), "{shown}");
        // Neither the bytes (as numbers or hex) nor the verifier.
        assert!(!shown.contains("222") && !shown.contains("173") && !shown.contains("dead"), "{shown}");
        assert!(!shown.contains("verifier-plaintext"), "{shown}");
    }

    #[test]
    fn statuses_round_trip_through_their_stored_form() {
        for s in [ConnectStatus::Pending, ConnectStatus::Exchanging, ConnectStatus::Completed, ConnectStatus::Failed] {
            assert_eq!(ConnectStatus::parse(s.as_str()), Some(s));
        }
        for s in [ConnectionStatus::Active, ConnectionStatus::NeedsReauthorization, ConnectionStatus::Revoked] {
            assert_eq!(ConnectionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ConnectStatus::parse("Pending"), None);
        assert_eq!(ConnectionStatus::parse("expired"), None);
    }
}
