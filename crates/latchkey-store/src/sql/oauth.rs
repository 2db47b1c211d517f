//! OAuth connections: organizations' client credentials, connections in
//! progress, and the connections with their defaults and refresh leases.
//!
//! The statements that decide alone (a lease, a refresh, a state taken
//! once) are single conditional `UPDATE`s: SQLite runs one writer at a
//! time, and PostgreSQL re-checks the `WHERE` of an `UPDATE` that waited
//! for a row against the row as the winner left it, so exactly one of
//! several concurrent callers changes it. Changes that move a default read
//! before they write, under the organization's lock ([`lock_org`]).

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::id::{OAuthConnectRequestId, OAuthConnectionId, OrgId, UserId};
use latchkey_core::time_fmt::Millis;

use super::rows::{connect_request, connection, oauth_client};
use super::{Dialect, ReadRow, SqlStore, Tx, commit, commit_one, query};
use crate::{
    AuditEvent, ConnectStatus, ConnectionFilter, NewOAuthConnection, OAuthClient, OAuthConnectRequest, OAuthConnection,
    OAuthStore, RefreshedTokens, StoreResult,
};

/// How long a connect request is kept after it expired (a waiting client
/// can still learn that it did), in milliseconds: a day.
const CONNECT_REQUEST_KEPT_AFTER_EXPIRY: Millis = 24 * 3_600_000;

/// Takes the organization's lock for a change of its connections that can
/// move a default: on PostgreSQL its `orgs` row, `FOR NO KEY UPDATE` (which
/// inserts of rows referencing the organization do not wait for); SQLite's
/// write transaction holds the database's one write lock already.
async fn lock_org<D: Dialect>(tx: &mut Tx<D>, org_id: &OrgId) -> StoreResult<()> {
    if D::ROW_LOCKS {
        query::<D>("SELECT id FROM orgs WHERE id = $1 FOR NO KEY UPDATE")
            .bind(org_id)
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl<D: Dialect> OAuthStore for SqlStore<D> {
    async fn put_oauth_client(&self, c: &OAuthClient, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        query::<D>(
            "INSERT INTO oauth_clients (org_id, provider, client_id, client_secret_sealed, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, provider) DO UPDATE SET \
             client_id = excluded.client_id, client_secret_sealed = excluded.client_secret_sealed, \
             updated_at = excluded.updated_at",
        )
        .bind(&c.org_id)
        .bind(&c.provider)
        .bind(&c.client_id)
        .bind(c.client_secret_sealed.as_deref())
        .bind(c.updated_at)
        .execute(&mut *tx)
        .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn get_oauth_client(&self, org_id: &OrgId, provider: &str) -> StoreResult<Option<OAuthClient>> {
        let row = query::<D>(concat!(
            "SELECT ",
            oauth_client_columns!(),
            " FROM oauth_clients WHERE org_id = $1 AND provider = $2"
        ))
        .bind(org_id)
        .bind(provider)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(oauth_client).transpose()
    }

    async fn list_oauth_clients(&self, org_id: &OrgId) -> StoreResult<Vec<OAuthClient>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            oauth_client_columns!(),
            " FROM oauth_clients WHERE org_id = $1 ORDER BY provider"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(oauth_client).collect()
    }

    async fn delete_oauth_client(&self, org_id: &OrgId, provider: &str, event: &AuditEvent) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let done = query::<D>("DELETE FROM oauth_clients WHERE org_id = $1 AND provider = $2")
            .bind(org_id)
            .bind(provider)
            .execute(&mut *tx)
            .await?;
        commit_one::<D>(tx, done, event).await
    }

    async fn insert_connect_request(&self, r: &OAuthConnectRequest) -> StoreResult<()> {
        query::<D>("DELETE FROM oauth_connect_requests WHERE expires_at <= $1")
            .bind(r.created_at - CONNECT_REQUEST_KEPT_AFTER_EXPIRY)
            .execute(&self.pool)
            .await?;
        query::<D>(
            "INSERT INTO oauth_connect_requests (id, org_id, user_id, provider, scopes, shared, state_hash, \
             pkce_verifier, status, error, connection_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&r.id)
        .bind(&r.org_id)
        .bind(&r.user_id)
        .bind(&r.provider)
        .bind(&r.scopes)
        .bind(r.shared)
        .bind(r.state_hash.as_bytes().as_slice())
        .bind(&r.pkce_verifier)
        .bind(r.status.as_str())
        .bind(&r.error)
        .bind(&r.connection_id)
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_connect_request(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectRequestId,
    ) -> StoreResult<Option<OAuthConnectRequest>> {
        let row = query::<D>(concat!(
            "SELECT ",
            connect_request_columns!(),
            " FROM oauth_connect_requests WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connect_request).transpose()
    }

    async fn take_pending_by_state(
        &self,
        state_hash: &KeyHash,
        now: Millis,
    ) -> StoreResult<Option<OAuthConnectRequest>> {
        let row = query::<D>(concat!(
            "UPDATE oauth_connect_requests SET status = 'exchanging' \
             WHERE state_hash = $1 AND status = 'pending' AND expires_at > $2 RETURNING ",
            connect_request_columns!()
        ))
        .bind(state_hash.as_bytes().as_slice())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connect_request).transpose()
    }

    async fn finish_connect_request(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectRequestId,
        outcome: Result<&OAuthConnectionId, &str>,
    ) -> StoreResult<bool> {
        let (status, connection_id, error) = match outcome {
            Ok(connection_id) => (ConnectStatus::Completed, Some(connection_id), None),
            Err(error) => (ConnectStatus::Failed, None, Some(error)),
        };
        let done = query::<D>(
            "UPDATE oauth_connect_requests SET status = $3, connection_id = $4, error = $5 \
             WHERE org_id = $1 AND id = $2 AND status = 'exchanging'",
        )
        .bind(org_id)
        .bind(id)
        .bind(status.as_str())
        .bind(connection_id)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(done == 1)
    }

    async fn upsert_connection(&self, n: &NewOAuthConnection, event: &AuditEvent) -> StoreResult<OAuthConnection> {
        let mut tx = D::begin_write(&self.pool).await?;
        lock_org::<D>(&mut tx, &n.org_id).await?;
        let updated = bind_grant(
            n,
            query::<D>(concat!(
                "UPDATE oauth_connections SET account_label = $5, requested_scopes = $6, granted_scopes = $7, \
             access_token_sealed = $8, refresh_token_sealed = $9, token_type = $10, expires_at = $11, \
             status = 'active', version = version + 1, refresh_lease_until = NULL, refresh_lease_holder = NULL, \
             cooldown_until = NULL, tokens_at = $12, updated_at = $12 \
             WHERE org_id = $1 AND coalesce(owner_user_id, '') = coalesce($2, '') AND provider = $3 \
             AND account_id = $4 RETURNING ",
                connection_columns!()
            )),
        )
        .fetch_optional(&mut *tx)
        .await?;
        let row = match updated {
            Some(row) => row,
            // New: the owner's default for the provider if they have none.
            None => bind_grant(
                n,
                query::<D>(concat!(
                    "INSERT INTO oauth_connections (id, org_id, owner_user_id, provider, account_id, account_label, \
                     requested_scopes, granted_scopes, access_token_sealed, refresh_token_sealed, token_type, \
                     expires_at, status, is_default, version, tokens_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active', \
                     NOT EXISTS (SELECT 1 FROM oauth_connections WHERE org_id = $2 \
                     AND coalesce(owner_user_id, '') = coalesce($3, '') AND provider = $4 AND is_default), \
                     1, $13, $13, $13) RETURNING ",
                    connection_columns!()
                ))
                .bind(&n.id),
            )
            .fetch_one(&mut *tx)
            .await?,
        };
        let stored = connection(&row)?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(stored)
    }

    async fn get_connection(&self, org_id: &OrgId, id: &OAuthConnectionId) -> StoreResult<Option<OAuthConnection>> {
        let row = query::<D>(concat!(
            "SELECT ",
            connection_columns!(),
            " FROM oauth_connections WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connection).transpose()
    }

    async fn list_connections(&self, org_id: &OrgId, f: &ConnectionFilter) -> StoreResult<Vec<OAuthConnection>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            connection_meta_columns!(),
            " FROM oauth_connections WHERE org_id = $1 \
             AND ($2 OR owner_user_id IS NULL OR owner_user_id = $3) AND ($4 IS NULL OR provider = $4) \
             ORDER BY provider, id"
        ))
        .bind(org_id)
        .bind(f.all_org)
        .bind(&f.owner)
        .bind(&f.provider)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(connection).collect()
    }

    async fn delete_connection(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<OAuthConnection>> {
        let mut tx = D::begin_write(&self.pool).await?;
        lock_org::<D>(&mut tx, org_id).await?;
        let row = query::<D>(concat!(
            "DELETE FROM oauth_connections WHERE org_id = $1 AND id = $2 RETURNING ",
            connection_columns!()
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let deleted = connection(&row)?;
        if deleted.is_default {
            query::<D>(
                "UPDATE oauth_connections SET is_default = $4, updated_at = $5 WHERE id = (\
                 SELECT id FROM oauth_connections WHERE org_id = $1 \
                 AND coalesce(owner_user_id, '') = coalesce($2, '') AND provider = $3 \
                 ORDER BY created_at, id LIMIT 1)",
            )
            .bind(org_id)
            .bind(&deleted.owner_user_id)
            .bind(&deleted.provider)
            .bind(true)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(Some(deleted))
    }

    async fn set_default_connection(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<OAuthConnection>> {
        let mut tx = D::begin_write(&self.pool).await?;
        lock_org::<D>(&mut tx, org_id).await?;
        let found = query::<D>("SELECT owner_user_id, provider FROM oauth_connections WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(found) = found else { return Ok(None) };
        let owner: Option<UserId> = found.opt_id("owner_user_id")?;
        query::<D>(
            "UPDATE oauth_connections SET is_default = $5, updated_at = $6 WHERE org_id = $1 \
             AND coalesce(owner_user_id, '') = coalesce($2, '') AND provider = $3 AND is_default AND id <> $4",
        )
        .bind(org_id)
        .bind(&owner)
        .bind(found.text("provider")?)
        .bind(id)
        .bind(false)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = query::<D>(concat!(
            "UPDATE oauth_connections SET is_default = $3, updated_at = CASE WHEN is_default THEN updated_at ELSE $4 END \
             WHERE org_id = $1 AND id = $2 RETURNING ",
            connection_columns!()
        ))
        .bind(org_id)
        .bind(id)
        .bind(true)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let stored = connection(&row)?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(Some(stored))
    }

    async fn default_connection(
        &self,
        org_id: &OrgId,
        owner: Option<&UserId>,
        provider: &str,
    ) -> StoreResult<Option<OAuthConnection>> {
        let row = query::<D>(concat!(
            "SELECT ",
            connection_columns!(),
            " FROM oauth_connections WHERE org_id = $1 AND coalesce(owner_user_id, '') = coalesce($2, '') \
             AND provider = $3 AND is_default"
        ))
        .bind(org_id)
        .bind(owner)
        .bind(provider)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connection).transpose()
    }

    async fn try_lease(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        holder: &str,
        now: Millis,
        until: Millis,
        expected_version: i64,
    ) -> StoreResult<bool> {
        let done = query::<D>(
            "UPDATE oauth_connections SET refresh_lease_until = $5, refresh_lease_holder = $3 \
             WHERE org_id = $1 AND id = $2 AND version = $6 AND status = 'active' \
             AND (refresh_lease_until IS NULL OR refresh_lease_until <= $4) \
             AND (cooldown_until IS NULL OR cooldown_until <= $4)",
        )
        .bind(org_id)
        .bind(id)
        .bind(holder)
        .bind(now)
        .bind(until)
        .bind(expected_version)
        .execute(&self.pool)
        .await?;
        Ok(done == 1)
    }

    async fn store_refreshed(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        holder: &str,
        t: &RefreshedTokens,
        expected_version: i64,
    ) -> StoreResult<bool> {
        let done = query::<D>(
            "UPDATE oauth_connections SET access_token_sealed = $4, refresh_token_sealed = $5, token_type = $6, \
             expires_at = $7, granted_scopes = coalesce($8, granted_scopes), version = version + 1, \
             refresh_lease_until = NULL, refresh_lease_holder = NULL, cooldown_until = NULL, tokens_at = $9, \
             updated_at = $9 WHERE org_id = $1 AND id = $2 AND refresh_lease_holder = $3 AND version = $10",
        )
        .bind(org_id)
        .bind(id)
        .bind(holder)
        .bind(&t.access_token_sealed)
        .bind(t.refresh_token_sealed.as_deref())
        .bind(&t.token_type)
        .bind(t.expires_at)
        .bind(&t.granted_scopes)
        .bind(t.at)
        .bind(expected_version)
        .execute(&self.pool)
        .await?;
        Ok(done == 1)
    }

    async fn release_lease(&self, org_id: &OrgId, id: &OAuthConnectionId, holder: &str) -> StoreResult<bool> {
        let done = query::<D>(
            "UPDATE oauth_connections SET refresh_lease_until = NULL, refresh_lease_holder = NULL \
             WHERE org_id = $1 AND id = $2 AND refresh_lease_holder = $3",
        )
        .bind(org_id)
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(done == 1)
    }

    async fn mark_needs_reauthorization(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        expected_version: i64,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let done = query::<D>(
            "UPDATE oauth_connections SET status = 'needs_reauthorization', refresh_lease_until = NULL, \
             refresh_lease_holder = NULL, updated_at = $4 \
             WHERE org_id = $1 AND id = $2 AND version = $3 AND status = 'active'",
        )
        .bind(org_id)
        .bind(id)
        .bind(expected_version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        commit_one::<D>(tx, done, event).await
    }

    async fn set_cooldown(&self, org_id: &OrgId, id: &OAuthConnectionId, until: Millis) -> StoreResult<bool> {
        let done = query::<D>("UPDATE oauth_connections SET cooldown_until = $3 WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .bind(until)
            .execute(&self.pool)
            .await?;
        Ok(done == 1)
    }

    async fn mark_revoked(
        &self,
        org_id: &OrgId,
        id: &OAuthConnectionId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let done = query::<D>(
            "UPDATE oauth_connections SET status = 'revoked', refresh_lease_until = NULL, \
             refresh_lease_holder = NULL, updated_at = $3 \
             WHERE org_id = $1 AND id = $2 AND status <> 'revoked'",
        )
        .bind(org_id)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        commit_one::<D>(tx, done, event).await
    }
}

/// Binds a grant's values in the order both statements of
/// [`OAuthStore::upsert_connection`] name them (after the INSERT's id):
/// organization, owner, provider, account, label, requested and granted
/// scopes, sealed tokens, token type, expiry, time.
fn bind_grant<D: Dialect>(n: &NewOAuthConnection, q: super::Query<D>) -> super::Query<D> {
    q.bind(&n.org_id)
        .bind(&n.owner_user_id)
        .bind(&n.provider)
        .bind(&n.account_id)
        .bind(&n.account_label)
        .bind(&n.requested_scopes)
        .bind(&n.granted_scopes)
        .bind(&n.access_token_sealed)
        .bind(n.refresh_token_sealed.as_deref())
        .bind(&n.token_type)
        .bind(n.expires_at)
        .bind(n.at)
}
