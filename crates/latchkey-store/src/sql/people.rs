//! Accounts, sessions, invitations and the audit trail.

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::id::{InvitationId, OrgId, SessionId, UserId};
use latchkey_core::time_fmt::Millis;

use super::orgs::{add_member, insert_org};
use super::rows::{event, invitation, session, user};
use super::{Dialect, ReadRow, Runner, SqlStore, Tx, commit, commit_one, insert_event, page_limit, query};
use crate::{
    AcceptError, AuditEvent, AuditFilter, AuditStore, Invitation, NewOrg, NewUser, Page, PeopleStore, Session,
    StoreResult, Unique, User,
};

/// The `WHERE` clause of a pending invitation by token hash (`$1`) at `$2`.
macro_rules! pending_by_hash {
    () => {
        "WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2"
    };
}

/// The pending invitation with this token hash, locked for the rest of
/// `tx`: a concurrent acceptance of the same token waits (PostgreSQL's row
/// lock; SQLite's write transaction excludes every other writer), then
/// finds it used up.
async fn lock_pending<D: Dialect>(
    tx: &mut Tx<D>,
    token_hash: &KeyHash,
    now: Millis,
) -> StoreResult<Option<Invitation>> {
    let row = query::<D>(for_update!(D, invitation_columns!(), pending_by_hash!()))
        .bind(token_hash.as_bytes().as_slice())
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(invitation).transpose()
}

/// Marks `inv` accepted by `user_id` at `now`, and the user's email (the
/// invited one: callers check) verified: the invitation's token was sent
/// to it.
async fn use_up<D: Dialect>(tx: &mut Tx<D>, inv: Invitation, user_id: &UserId, now: Millis) -> StoreResult<Invitation> {
    query::<D>("UPDATE invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1")
        .bind(&inv.id)
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    query::<D>("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $1")
        .bind(user_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(Invitation { accepted_at: Some(now), ..inv })
}

/// Inserts a person who signs up with a password; a taken email is a
/// conflict ([`Unique::UserEmail`]).
async fn insert_user<D: Dialect>(tx: &mut Tx<D>, u: &NewUser, password_hash: &str) -> StoreResult<()> {
    query::<D>("INSERT INTO users (id, email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&u.id)
        .bind(&u.email)
        .bind(&u.display_name)
        .bind(password_hash)
        .bind(u.created_at)
        .on_unique(Unique::UserEmail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts a session on `on`.
pub(super) async fn insert_session_on<D: Dialect>(on: impl Runner<D>, s: &Session) -> StoreResult<()> {
    query::<D>(
        "INSERT INTO sessions (id, user_id, token_hash, current_org_id, ip, user_agent, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&s.id)
    .bind(&s.user_id)
    .bind(s.token_hash.as_bytes().as_slice())
    .bind(&s.current_org_id)
    .bind(&s.ip)
    .bind(&s.user_agent)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(on)
    .await?;
    Ok(())
}

#[async_trait]
impl<D: Dialect> PeopleStore for SqlStore<D> {
    async fn sign_up(
        &self,
        u: &NewUser,
        password_hash: &str,
        org: &NewOrg,
        s: &Session,
        events: &[AuditEvent],
    ) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        insert_user::<D>(&mut tx, u, password_hash).await?;
        insert_org::<D>(&mut tx, org).await?;
        add_member::<D>(&mut tx, &org.id, &u.id, latchkey_core::Role::Admin, org.created_at).await?;
        insert_session_on::<D>(&mut *tx, s).await?;
        commit::<D>(tx, events).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, Option<String>)>> {
        let row = query::<D>(concat!("SELECT ", user_columns!(), ", u.password_hash FROM users u WHERE u.email = $1"))
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((user(&r)?, r.opt_text("password_hash")?))).transpose()
    }

    async fn set_password(&self, user_id: &UserId, password_hash: &str) -> StoreResult<bool> {
        let done = query::<D>("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .execute(&self.pool)
            .await?;
        Ok(done > 0)
    }

    async fn insert_session(&self, s: &Session, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        insert_session_on::<D>(&mut *tx, s).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn session_by_hash(&self, h: &KeyHash) -> StoreResult<Option<Session>> {
        let row = query::<D>(concat!(session_columns!(), "WHERE token_hash = $1"))
            .bind(h.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session).transpose()
    }

    async fn touch_session(&self, id: &SessionId, at: Millis) -> StoreResult<()> {
        query::<D>("UPDATE sessions SET last_used_at = $2 WHERE id = $1").bind(id).bind(at).execute(&self.pool).await?;
        Ok(())
    }

    async fn list_sessions(&self, user_id: &UserId, now: Millis, page: &Page) -> StoreResult<Vec<Session>> {
        let rows = query::<D>(concat!(
            session_columns!(),
            "WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND id < coalesce($3, ",
            id_ceiling!(),
            ") ORDER BY id DESC LIMIT $4"
        ))
        .bind(user_id)
        .bind(now)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session).collect()
    }

    async fn revoke_session(
        &self,
        user_id: &UserId,
        id: &SessionId,
        at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let done = query::<D>(
            "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(user_id)
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        commit_one::<D>(tx, done, event).await
    }

    async fn set_session_org(&self, id: &SessionId, org_id: &OrgId) -> StoreResult<()> {
        query::<D>("UPDATE sessions SET current_org_id = $2 WHERE id = $1")
            .bind(id)
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_invitation(&self, i: &Invitation, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        query::<D>(
            "INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&i.id)
        .bind(&i.org_id)
        .bind(&i.email)
        .bind(i.role.as_str())
        .bind(i.token_hash.as_bytes().as_slice())
        .bind(&i.invited_by)
        .bind(i.created_at)
        .bind(i.expires_at)
        .execute(&mut *tx)
        .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn list_invitations(&self, org_id: &OrgId, now: Millis, page: &Page) -> StoreResult<Vec<Invitation>> {
        let rows = query::<D>(concat!(
            invitation_columns!(),
            "WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        ))
        .bind(org_id)
        .bind(now)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(invitation).collect()
    }

    async fn revoke_invitation(
        &self,
        org_id: &OrgId,
        id: &InvitationId,
        at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let done = query::<D>(
            "UPDATE invitations SET revoked_at = $3 WHERE org_id = $1 AND id = $2 \
             AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(org_id)
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        commit_one::<D>(tx, done, event).await
    }

    async fn pending_invitation(&self, token_hash: &KeyHash, now: Millis) -> StoreResult<Option<Invitation>> {
        let row = query::<D>(concat!(invitation_columns!(), pending_by_hash!()))
            .bind(token_hash.as_bytes().as_slice())
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(invitation).transpose()
    }

    async fn sign_up_invited(
        &self,
        token_hash: &KeyHash,
        u: &NewUser,
        password_hash: &str,
        s: &Session,
        now: Millis,
        events: &[AuditEvent],
    ) -> StoreResult<Result<Invitation, AcceptError>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let Some(inv) = lock_pending::<D>(&mut tx, token_hash, now).await? else {
            return Ok(Err(AcceptError::NotFound));
        };
        if !inv.email.eq_ignore_ascii_case(&u.email) {
            return Ok(Err(AcceptError::WrongUser));
        }
        insert_user::<D>(&mut tx, u, password_hash).await?;
        add_member::<D>(&mut tx, &inv.org_id, &u.id, inv.role, now).await?;
        let accepted = use_up::<D>(&mut tx, inv, &u.id, now).await?;
        insert_session_on::<D>(&mut *tx, s).await?;
        commit::<D>(tx, events).await?;
        Ok(Ok(accepted))
    }

    async fn accept_invitation(
        &self,
        token_hash: &KeyHash,
        u: &User,
        now: Millis,
        event: &(dyn for<'i> Fn(&'i Invitation) -> AuditEvent + Send + Sync),
    ) -> StoreResult<Result<Invitation, AcceptError>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let Some(inv) = lock_pending::<D>(&mut tx, token_hash, now).await? else {
            return Ok(Err(AcceptError::NotFound));
        };
        if !inv.email.eq_ignore_ascii_case(&u.email) {
            return Ok(Err(AcceptError::WrongUser));
        }
        // Check and insert in one statement, so a membership added meanwhile
        // (another invitation to the same organization) is still reported
        // as `AlreadyMember`, not as a conflict.
        let added = query::<D>(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, user_id) DO NOTHING",
        )
        .bind(&inv.org_id)
        .bind(&u.id)
        .bind(inv.role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if added == 0 {
            return Ok(Err(AcceptError::AlreadyMember));
        }
        let accepted = use_up::<D>(&mut tx, inv, &u.id, now).await?;
        commit::<D>(tx, &[event(&accepted)]).await?;
        Ok(Ok(accepted))
    }
}

#[async_trait]
impl<D: Dialect> AuditStore for SqlStore<D> {
    async fn append_event(&self, e: &AuditEvent) -> StoreResult<()> {
        insert_event::<D>(&self.pool, e).await
    }

    async fn list_events(&self, org_id: &OrgId, f: &AuditFilter, page: &Page) -> StoreResult<Vec<AuditEvent>> {
        // `id < coalesce($7, …)`: pages seek on `audit_events_by_org`
        // (`id_ceiling!`).
        let rows = query::<D>(concat!(
            "SELECT id, org_id, at, actor_type, actor_id, action, target_type, target_id, ip, request_id, details \
             FROM audit_events WHERE org_id = $1 AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR actor_id = $3) \
             AND ($4 IS NULL OR target_id = $4) AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) \
             AND id < coalesce($7, ",
            id_ceiling!(),
            ") ORDER BY id DESC LIMIT $8"
        ))
        .bind(org_id)
        .bind(&f.action)
        .bind(&f.actor_id)
        .bind(&f.target_id)
        .bind(f.since)
        .bind(f.until)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event).collect()
    }
}
