//! [`OAuthStore`], in a file of its own (`lib.rs` holds the other traits).

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::id::{OAuthConnectRequestId, OAuthConnectionId, OrgId, UserId};
use latchkey_core::time_fmt::Millis;

use crate::{
    AuditEvent, ConnectionFilter, NewOAuthConnection, OAuthClient, OAuthConnectRequest, OAuthConnection,
    RefreshedTokens, StoreResult,
};

/// OAuth connections to third-party providers: organizations' client
/// credentials, connections in progress, and the connections (grants) with
/// their sealed tokens, defaults and refresh leases. Sealing happens above
/// storage: only ciphertext comes here.
///
/// Changes people make (credentials, connections, defaults, a connection
/// becoming unusable) take their [`AuditEvent`] into their transaction, as
/// in [`crate::KeyStore`]; the refresh machinery (leases, refreshed tokens,
/// cooldowns) and connect requests are not audited here.
///
/// Defaults: exactly one connection per owner and provider is the default
/// (the organization's shared connections counting as one owner). Every
/// change that can move it ([`OAuthStore::upsert_connection`],
/// [`OAuthStore::delete_connection`],
/// [`OAuthStore::set_default_connection`]) decides under the
/// organization's write lock (PostgreSQL: its `orgs` row, `FOR NO KEY
/// UPDATE`; SQLite: the database's), so concurrent ones take turns.
///
/// Refreshes: at most one at a time per connection, across nodes. A node
/// takes a lease on the version it read ([`OAuthStore::try_lease`]), one
/// conditional statement that only one caller can win; it stores what the
/// provider answered only while it still holds the lease on that version
/// ([`OAuthStore::store_refreshed`]), which moves the version on. The
/// others wait for the version to move and read the new token.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Sets an organization's client credentials for a provider (replacing
    /// any), and appends `event`, atomically.
    async fn put_oauth_client(&self, client: &OAuthClient, event: &AuditEvent) -> StoreResult<()>;

    /// An organization's client credentials for a provider.
    async fn get_oauth_client(&self, org_id: &OrgId, provider: &str) -> StoreResult<Option<OAuthClient>>;

    /// An organization's client credentials, by provider.
    async fn list_oauth_clients(&self, org_id: &OrgId) -> StoreResult<Vec<OAuthClient>>;

    /// Deletes an organization's client credentials for a provider and
    /// appends `event`; `false` (nothing appended) if it had none.
    async fn delete_oauth_client(&self, org_id: &OrgId, provider: &str, event: &AuditEvent) -> StoreResult<bool>;

    /// Stores a connection in progress. Requests that expired a day or more
    /// before its creation are dropped on the way (until then a waiting
    /// client can still learn that its request expired).
    async fn insert_connect_request(&self, request: &OAuthConnectRequest) -> StoreResult<()>;

    /// A connection in progress of `org_id`, whatever its status.
    async fn get_connect_request(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectRequestId,
    ) -> StoreResult<Option<OAuthConnectRequest>>;

    /// The provider's callback: the pending, unexpired request with this
    /// `state` hash, moved to [`crate::ConnectStatus::Exchanging`] in the
    /// same statement, so that a state is used once (a second take, or a
    /// concurrent one, finds nothing).
    async fn take_pending_by_state(
        &self,
        state_hash: &KeyHash,
        now: Millis,
    ) -> StoreResult<Option<OAuthConnectRequest>>;

    /// Ends a request being exchanged: completed with the connection it
    /// stored, or failed with why. `false` if there is no such request
    /// being exchanged (never taken, or finished already).
    async fn finish_connect_request(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectRequestId,
        outcome: Result<&OAuthConnectionId, &str>,
    ) -> StoreResult<bool>;

    /// Stores a grant and appends `event`, atomically. A connection of the
    /// same organization, owner, provider and account is updated in place:
    /// label, scopes, tokens (as given) and expiry replaced, status back to
    /// active, version + 1, any lease and cooldown cleared; it keeps its id,
    /// creation time and default flag. Otherwise `new` is inserted at
    /// version 1, as its owner's default for the provider if they have
    /// none. Returns the connection as stored.
    async fn upsert_connection(&self, new: &NewOAuthConnection, event: &AuditEvent) -> StoreResult<OAuthConnection>;

    /// A connection of `org_id`, with its sealed tokens.
    async fn get_connection(&self, org_id: &OrgId, id: &OAuthConnectionId) -> StoreResult<Option<OAuthConnection>>;

    /// Connections of `org_id` matching `filter`, by provider and then
    /// oldest first. The records carry no tokens (empty access token, no
    /// refresh token).
    async fn list_connections(&self, org_id: &OrgId, filter: &ConnectionFilter) -> StoreResult<Vec<OAuthConnection>>;

    /// Deletes a connection of `org_id` and appends `event`, atomically;
    /// returns it as it was (with its tokens, to revoke them at the
    /// provider), or `None` (nothing appended) if there is no such
    /// connection. If it was the default, its owner's oldest other
    /// connection to the provider becomes the default (its `updated_at`
    /// set to `now`).
    async fn delete_connection(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<OAuthConnection>>;

    /// Makes a connection its owner's default for its provider (the
    /// previous default no longer is) and appends `event`, atomically;
    /// returns it, or `None` (nothing appended) if there is no such
    /// connection in `org_id`.
    async fn set_default_connection(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<OAuthConnection>>;

    /// The default connection to `provider` of `owner` (`None`: the
    /// organization's shared default), with its sealed tokens, whatever its
    /// status.
    async fn default_connection(
        &self,
        org_id: &OrgId,
        owner: Option<&UserId>,
        provider: &str,
    ) -> StoreResult<Option<OAuthConnection>>;

    /// Takes the refresh lease of a connection for `holder` until `until`.
    /// `true` only if, in one statement that a single caller can win, the
    /// connection is active, still at `expected_version`, not cooling down
    /// at `now`, and nobody holds a lease that is live at `now` (an
    /// expired lease is taken over).
    async fn try_lease(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        holder: &str,
        now: Millis,
        until: Millis,
        expected_version: i64,
    ) -> StoreResult<bool>;

    /// Stores what a refresh obtained: tokens, expiry and (when given)
    /// granted scopes replaced, version + 1, the lease and any cooldown
    /// cleared. `true` only if `holder` still holds the lease (live or
    /// expired, as long as nobody took it over) on `expected_version`;
    /// otherwise nothing changes.
    async fn store_refreshed(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        holder: &str,
        tokens: &RefreshedTokens,
        expected_version: i64,
    ) -> StoreResult<bool>;

    /// Gives up `holder`'s lease (the refresh did not happen); `false` if
    /// they do not hold it.
    async fn release_lease(&self, org_id: &OrgId, id: &OAuthConnectionId, holder: &str) -> StoreResult<bool>;

    /// Marks a connection whose grant the provider refused (`invalid_grant`)
    /// as needing its owner to connect again, clears any lease and appends
    /// `event`, atomically. `false` (nothing changed) if it is no longer at
    /// `expected_version` (a reconnect or a refresh came first) or not
    /// active.
    async fn mark_needs_reauthorization(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        expected_version: i64,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool>;

    /// Pauses refreshes of a connection until `until` (the provider failed:
    /// its still valid token is used meanwhile); `false` if there is no
    /// such connection.
    async fn set_cooldown(&self, org_id: &OrgId, id: &OAuthConnectionId, until: Millis) -> StoreResult<bool>;

    /// Marks a connection revoked, clears any lease and appends `event`,
    /// atomically; `false` (nothing appended) if there is no such
    /// connection or it is revoked already.
    async fn mark_revoked(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool>;
}
