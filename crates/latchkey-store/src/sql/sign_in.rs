//! Identities at identity providers and sign-ins in progress.

use async_trait::async_trait;
use latchkey_core::id::{IdentityId, OrgId, UserId};
use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, Role};

use super::orgs::add_member;
use super::rows::{auth_request, identity, org, user};
use super::{Dialect, ReadRow, SqlStore, Tx, commit, commit_one, query};
use crate::{
    AuditEvent, AuthRequest, AuthRequestKind, Conflict, Decision, Identity, NewUser, Org, Session, SignInStore,
    StoreResult, Unique, User,
};

/// Inserts an identity on `tx`; a linked (issuer, subject) is a conflict
/// ([`Unique::Identity`]).
async fn insert_identity<D: Dialect>(tx: &mut Tx<D>, i: &Identity) -> StoreResult<()> {
    query::<D>(
        "INSERT INTO user_identities (id, user_id, provider, issuer, subject, email, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&i.id)
    .bind(&i.user_id)
    .bind(&i.provider)
    .bind(&i.issuer)
    .bind(&i.subject)
    .bind(&i.email)
    .bind(i.created_at)
    .bind(i.last_used_at)
    .on_unique(Unique::Identity)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl<D: Dialect> SignInStore for SqlStore<D> {
    async fn identity(&self, issuer: &str, subject: &str) -> StoreResult<Option<Identity>> {
        let row = query::<D>(concat!(identity_columns!(), "WHERE issuer = $1 AND subject = $2"))
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(identity).transpose()
    }

    async fn list_identities(&self, user_id: &UserId) -> StoreResult<Vec<Identity>> {
        let rows = query::<D>(concat!(identity_columns!(), "WHERE user_id = $1 ORDER BY id"))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(identity).collect()
    }

    async fn link_identity(&self, i: &Identity, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        insert_identity::<D>(&mut tx, i).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn unlink_identity(&self, user_id: &UserId, id: &IdentityId, event: &AuditEvent) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        // The account's row, locked (PostgreSQL; SQLite's write transaction
        // excludes other writers), so that two unlinks of its last two
        // identities cannot both see the other one still there. The counts
        // are read by a statement of their own, after the lock: one that
        // waited reads what the other committed.
        let locked =
            query::<D>(for_update!(D, "SELECT password_hash IS NOT NULL AS has_password FROM users WHERE id = $1"))
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(locked) = locked else { return Ok(false) };
        let row = query::<D>(
            "SELECT (SELECT count(*) FROM user_identities WHERE user_id = $1) AS identities, \
             (SELECT count(*) FROM user_identities WHERE user_id = $1 AND id = $2) AS found",
        )
        .bind(user_id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if row.i64("found")? == 0 {
            return Ok(false);
        }
        if !locked.bool("has_password")? && row.i64("identities")? <= 1 {
            return Err(Conflict::LastSignInMethod.into());
        }
        let done = query::<D>("DELETE FROM user_identities WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit_one::<D>(tx, done, event).await
    }

    async fn sign_in_with_identity(
        &self,
        id: &IdentityId,
        email: Option<&str>,
        s: &Session,
        event: &AuditEvent,
    ) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        query::<D>("UPDATE user_identities SET last_used_at = $2, email = $3 WHERE id = $1")
            .bind(id)
            .bind(s.created_at)
            .bind(email)
            .execute(&mut *tx)
            .await?;
        super::people::insert_session_on::<D>(&mut *tx, s).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn sign_up_with_identity(
        &self,
        u: &NewUser,
        email_verified: bool,
        org_id: &OrgId,
        role: Role,
        i: &Identity,
        s: &Session,
        events: &[AuditEvent],
    ) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        query::<D>(
            "INSERT INTO users (id, email, display_name, created_at, email_verified_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&u.id)
        .bind(&u.email)
        .bind(&u.display_name)
        .bind(u.created_at)
        .bind(email_verified.then_some(u.created_at))
        .on_unique(Unique::UserEmail)
        .execute(&mut *tx)
        .await?;
        add_member::<D>(&mut tx, org_id, &u.id, role, u.created_at).await?;
        insert_identity::<D>(&mut tx, i).await?;
        super::people::insert_session_on::<D>(&mut *tx, s).await?;
        commit::<D>(tx, events).await
    }

    async fn verified_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = query::<D>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.email = $1 AND u.email_verified_at IS NOT NULL"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user).transpose()
    }

    async fn org_by_id_or_slug(&self, id_or_slug: &str) -> StoreResult<Option<Org>> {
        let row = query::<D>(concat!("SELECT ", org_columns!(), " FROM orgs o WHERE o.id = $1 OR o.slug = $1"))
            .bind(id_or_slug)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(org).transpose()
    }

    async fn insert_auth_request(&self, r: &AuthRequest) -> StoreResult<()> {
        query::<D>("DELETE FROM auth_requests WHERE expires_at <= $1").bind(r.created_at).execute(&self.pool).await?;
        query::<D>(
            "INSERT INTO auth_requests (hash, kind, user_code_hash, payload, user_id, org_id, decision, polled_at, \
             prev_polled_at, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(r.hash.as_bytes().as_slice())
        .bind(r.kind.as_str())
        .bind(r.user_code_hash.as_ref().map(|h| h.as_bytes().as_slice()))
        .bind(&r.payload)
        .bind(&r.user_id)
        .bind(&r.org_id)
        .bind(r.decision.map(Decision::as_str))
        .bind(r.polled_at)
        .bind(r.prev_polled_at)
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_auth_request(
        &self,
        kind: AuthRequestKind,
        hash: &KeyHash,
        now: Millis,
    ) -> StoreResult<Option<AuthRequest>> {
        let row = query::<D>(concat!(
            "DELETE FROM auth_requests WHERE hash = $1 AND kind = $2 AND expires_at > $3 RETURNING ",
            auth_request_columns!()
        ))
        .bind(hash.as_bytes().as_slice())
        .bind(kind.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(auth_request).transpose()
    }

    async fn pending_device(&self, user_code_hash: &KeyHash, now: Millis) -> StoreResult<Option<AuthRequest>> {
        let row = query::<D>(concat!(
            "SELECT ",
            auth_request_columns!(),
            " FROM auth_requests WHERE user_code_hash = $1 AND kind = 'device' AND decision IS NULL AND expires_at > $2"
        ))
        .bind(user_code_hash.as_bytes().as_slice())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(auth_request).transpose()
    }

    async fn decide_device(
        &self,
        user_code_hash: &KeyHash,
        decision: Decision,
        user_id: &UserId,
        org_id: Option<&OrgId>,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let done = query::<D>(
            "UPDATE auth_requests SET decision = $2, user_id = $3, org_id = $4 \
             WHERE user_code_hash = $1 AND kind = 'device' AND decision IS NULL AND expires_at > $5",
        )
        .bind(user_code_hash.as_bytes().as_slice())
        .bind(decision.as_str())
        .bind(user_id)
        .bind(org_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        commit_one::<D>(tx, done, event).await
    }

    async fn poll_device(&self, hash: &KeyHash, now: Millis) -> StoreResult<Option<AuthRequest>> {
        // Every assignment reads the row as it was: `prev_polled_at` gets the
        // poll before this one.
        let row = query::<D>(concat!(
            "UPDATE auth_requests SET prev_polled_at = polled_at, polled_at = $2 \
             WHERE hash = $1 AND kind = 'device' RETURNING ",
            auth_request_columns!()
        ))
        .bind(hash.as_bytes().as_slice())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(auth_request).transpose()
    }

    async fn redeem_device(&self, hash: &KeyHash, s: &Session, event: &AuditEvent) -> StoreResult<Option<AuthRequest>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let row = query::<D>(concat!(
            "DELETE FROM auth_requests WHERE hash = $1 AND kind = 'device' AND decision = 'approved' \
             AND expires_at > $2 AND user_id = $3 RETURNING ",
            auth_request_columns!()
        ))
        .bind(hash.as_bytes().as_slice())
        .bind(s.created_at)
        .bind(&s.user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let taken = auth_request(&row)?;
        super::people::insert_session_on::<D>(&mut *tx, s).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(Some(taken))
    }

    async fn drop_auth_request(&self, hash: &KeyHash) -> StoreResult<()> {
        query::<D>("DELETE FROM auth_requests WHERE hash = $1")
            .bind(hash.as_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
