//! Organizations, users, memberships.

use async_trait::async_trait;
use latchkey_core::Role;
use latchkey_core::id::{OrgId, UserId};
use latchkey_core::time_fmt::Millis;

use super::keys::insert_key;
use super::rows::{member, org, parse_role, role, user};
use super::{Dialect, ReadRow, SqlStore, Tx, commit, page_limit, query};
use crate::{
    AuditEvent, Conflict, LeakAction, Member, NewApiKey, NewOrg, NewUser, Org, OrgPatch, OrgStore, Page, StoreResult,
    Unique, User,
};

#[async_trait]
impl<D: Dialect> OrgStore for SqlStore<D> {
    async fn bootstrap(
        &self,
        org: &NewOrg,
        admin: &NewUser,
        key: &NewApiKey,
        events: &[AuditEvent],
    ) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        // Every other writer of `orgs` (another bootstrap, a sign-up) waits
        // until this transaction ends, so "no organization yet" stays true
        // until ours is in.
        if let Some(lock) = D::BOOTSTRAP_LOCK {
            query::<D>(lock).execute(&mut *tx).await?;
        }
        let existing = query::<D>("SELECT name FROM orgs ORDER BY id LIMIT 1").fetch_optional(&mut *tx).await?;
        if let Some(row) = existing {
            return Err(Conflict::AlreadyInitialized { org_name: row.text("name")? }.into());
        }
        insert_org_admin::<D>(&mut tx, org, admin, key).await?;
        commit::<D>(tx, events).await
    }

    async fn create_org_with_admin(
        &self,
        org: &NewOrg,
        admin: &NewUser,
        key: &NewApiKey,
        events: &[AuditEvent],
    ) -> StoreResult<UserId> {
        let mut tx = D::begin_write(&self.pool).await?;
        let user_id = insert_org_admin::<D>(&mut tx, org, admin, key).await?;
        commit::<D>(tx, events).await?;
        Ok(user_id)
    }

    async fn get_org(&self, id: &OrgId) -> StoreResult<Option<Org>> {
        let row = query::<D>(concat!("SELECT ", org_columns!(), " FROM orgs o WHERE o.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(org).transpose()
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let row = query::<D>(concat!("SELECT ", user_columns!(), " FROM users u WHERE u.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user).transpose()
    }

    async fn create_org(&self, o: &NewOrg, admin_user_id: &UserId, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        insert_org::<D>(&mut tx, o).await?;
        add_member::<D>(&mut tx, &o.id, admin_user_id, Role::Admin, o.created_at).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn update_org(&self, id: &OrgId, patch: &OrgPatch, event: &AuditEvent) -> StoreResult<Option<Org>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let row = query::<D>(
            "UPDATE orgs SET name = COALESCE($2, name), slug = COALESCE($3, slug), \
             members_see_all_keys = COALESCE($4, members_see_all_keys), leak_action = COALESCE($5, leak_action) \
             WHERE id = $1 RETURNING id, name, slug, members_see_all_keys, leak_action, created_at",
        )
        .bind(id)
        .bind(&patch.name)
        .bind(&patch.slug)
        .bind(patch.members_see_all_keys)
        .bind(patch.leak_action.map(LeakAction::as_str))
        .on_unique(Unique::OrgSlug)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        org(&row).map(Some)
    }

    async fn user_orgs(&self, user_id: &UserId, page: &Page) -> StoreResult<Vec<(Org, Role)>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            org_columns!(),
            ", m.role FROM memberships m JOIN orgs o ON o.id = m.org_id \
             WHERE m.user_id = $1 AND ($2 IS NULL OR o.id < $2) ORDER BY o.id DESC LIMIT $3"
        ))
        .bind(user_id)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((org(r)?, role(r)?))).collect()
    }

    async fn role_of(&self, org_id: &OrgId, user_id: &UserId) -> StoreResult<Option<Role>> {
        let row = query::<D>("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(role).transpose()
    }

    async fn list_members(&self, org_id: &OrgId, page: &Page) -> StoreResult<Vec<Member>> {
        let rows = query::<D>(concat!(select_members!(), "AND ($2 IS NULL OR u.id < $2) ORDER BY u.id DESC LIMIT $3"))
            .bind(org_id)
            .bind(&page.before)
            .bind(page_limit(page) + 1)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(member).collect()
    }

    async fn set_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        new_role: Role,
        event: &AuditEvent,
    ) -> StoreResult<Option<Member>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let Some((current, admins)) = lock_memberships::<D>(&mut tx, org_id, user_id).await? else {
            return Ok(None);
        };
        if current == Role::Admin && new_role != Role::Admin && admins <= 1 {
            return Err(Conflict::LastAdmin.into());
        }
        query::<D>("UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .bind(new_role.as_str())
            .execute(&mut *tx)
            .await?;
        let row = query::<D>(concat!(select_members!(), "AND m.user_id = $2"))
            .bind(org_id)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        member(&row).map(Some)
    }

    async fn remove_member(&self, org_id: &OrgId, user_id: &UserId, event: &AuditEvent) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let Some((current, admins)) = lock_memberships::<D>(&mut tx, org_id, user_id).await? else {
            return Ok(false);
        };
        if current == Role::Admin && admins <= 1 {
            return Err(Conflict::LastAdmin.into());
        }
        // Their connected apps and connects in progress in the
        // organization go with them.
        for statement in [
            "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2",
            "DELETE FROM oauth_connections WHERE org_id = $1 AND owner_user_id = $2",
            "DELETE FROM oauth_connect_requests WHERE org_id = $1 AND user_id = $2",
        ] {
            query::<D>(statement).bind(org_id).bind(user_id).execute(&mut *tx).await?;
        }
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(true)
    }
}

/// Locks the admin memberships of `org_id` and `user_id`'s membership until
/// the transaction ends, and returns `user_id`'s role and the number of
/// admins (`None` if not a member).
///
/// PostgreSQL locks the rows (`FOR UPDATE`) in user-id order, so concurrent
/// callers queue instead of deadlocking. A caller that had to wait sees the
/// rows as the other one left them (a demoted admin no longer matches), so
/// two concurrent demotions of the last two admins cannot both pass the
/// last-admin rule. SQLite's write transaction holds the database's write
/// lock from its start: the second caller starts after the first committed.
async fn lock_memberships<D: Dialect>(
    tx: &mut Tx<D>,
    org_id: &OrgId,
    user_id: &UserId,
) -> StoreResult<Option<(Role, usize)>> {
    let rows = query::<D>(for_update!(
        D,
        "SELECT user_id, role FROM memberships WHERE org_id = $1 AND (role = 'admin' OR user_id = $2) \
         ORDER BY user_id"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut current = None;
    let mut admins = 0;
    for r in &rows {
        let role = r.text("role")?;
        if role == Role::Admin.as_str() {
            admins += 1;
        }
        if r.text("user_id")? == *user_id {
            current = Some(role);
        }
    }
    current.map(|role| Ok((parse_role(&role, "memberships")?, admins))).transpose()
}

/// Inserts an organization.
pub(super) async fn insert_org<D: Dialect>(tx: &mut Tx<D>, o: &NewOrg) -> StoreResult<()> {
    query::<D>(
        "INSERT INTO orgs (id, name, slug, members_see_all_keys, leak_action, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&o.id)
    .bind(&o.name)
    .bind(&o.slug)
    .bind(o.members_see_all_keys)
    .bind(o.leak_action.as_str())
    .bind(o.created_at)
    .on_unique(Unique::OrgSlug)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds a member.
pub(super) async fn add_member<D: Dialect>(
    tx: &mut Tx<D>,
    org_id: &OrgId,
    user_id: &UserId,
    role: Role,
    at: Millis,
) -> StoreResult<()> {
    query::<D>("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
        .bind(org_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts org, user (or reuses the user with that email), admin membership
/// and the first key. Returns the user id.
async fn insert_org_admin<D: Dialect>(
    tx: &mut Tx<D>,
    org: &NewOrg,
    admin: &NewUser,
    key: &NewApiKey,
) -> StoreResult<UserId> {
    insert_org::<D>(tx, org).await?;
    // The operator named the email: it counts as verified. Insert-or-reuse in one statement: a concurrent transaction creating
    // the same email makes this one wait, then reuse that user.
    let inserted = query::<D>(
        "INSERT INTO users (id, email, display_name, created_at, email_verified_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&admin.id)
    .bind(&admin.email)
    .bind(&admin.display_name)
    .bind(admin.created_at)
    .fetch_optional(&mut **tx)
    .await?;
    let user_id = match inserted {
        Some(row) => row.id("id")?,
        None => query::<D>("SELECT id FROM users WHERE email = $1")
            .bind(&admin.email)
            .fetch_one(&mut **tx)
            .await?
            .id("id")?,
    };
    add_member::<D>(tx, &org.id, &user_id, Role::Admin, org.created_at).await?;
    let key =
        NewApiKey { owner_user_id: Some(user_id.clone()), created_by_user_id: Some(user_id.clone()), ..key.clone() };
    insert_key::<D>(tx, &key).await?;
    Ok(user_id)
}
