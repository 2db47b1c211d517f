//! Organizations, users, memberships.

use async_trait::async_trait;
use latchkey_core::Role;
use latchkey_core::time_fmt::Millis;

use super::keys::insert_key_tx;
use super::rows::{member, org, role, user};
use super::{PgStore, insert_event, page_limit};
use crate::{
    AuditEvent, LAST_ADMIN, Member, NewApiKey, NewOrg, NewUser, Org, OrgPatch, OrgStore, Page, StoreError, StoreResult,
    User,
};

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

#[async_trait]
impl OrgStore for PgStore {
    async fn bootstrap(
        &self,
        org: &NewOrg,
        admin: &NewUser,
        key: &NewApiKey,
        events: &[AuditEvent],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Blocks every other writer of `orgs` (another bootstrap, a sign-up)
        // until this transaction ends, so "no organization yet" stays true
        // until ours is in.
        sqlx::query("LOCK TABLE orgs IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT name FROM orgs ORDER BY id LIMIT 1").fetch_optional(&mut *tx).await?;
        if let Some(name) = existing {
            return Err(StoreError::Conflict(format!("already initialized (organization `{name}` exists)")));
        }
        insert_org_admin(&mut tx, org, admin, key).await?;
        for e in events {
            insert_event(&mut *tx, e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_org_with_admin(
        &self,
        org: &NewOrg,
        admin: &NewUser,
        key: &NewApiKey,
        events: &[AuditEvent],
    ) -> StoreResult<String> {
        let mut tx = self.pool.begin().await?;
        let user_id = insert_org_admin(&mut tx, org, admin, key).await?;
        for e in events {
            insert_event(&mut *tx, e).await?;
        }
        tx.commit().await?;
        Ok(user_id)
    }

    async fn get_org(&self, id: &str) -> StoreResult<Option<Org>> {
        let row = sqlx::query(concat!("SELECT ", org_columns!(), " FROM orgs o WHERE o.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(org))
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users u WHERE u.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user))
    }

    async fn create_org(&self, o: &NewOrg, admin_user_id: &str, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        insert_org(&mut tx, o).await?;
        add_member(&mut tx, &o.id, admin_user_id, Role::Admin, o.created_at).await?;
        insert_event(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_org(&self, id: &str, patch: &OrgPatch, event: &AuditEvent) -> StoreResult<Option<Org>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE orgs o SET name = COALESCE($2, o.name), slug = COALESCE($3, o.slug), \
             members_see_all_keys = COALESCE($4, o.members_see_all_keys) WHERE o.id = $1 RETURNING ",
            org_columns!()
        ))
        .bind(id)
        .bind(&patch.name)
        .bind(&patch.slug)
        .bind(patch.members_see_all_keys)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_some() {
            insert_event(&mut *tx, event).await?;
            tx.commit().await?;
        }
        Ok(row.as_ref().map(org))
    }

    async fn user_orgs(&self, user_id: &str, page: &Page) -> StoreResult<Vec<(Org, Role)>> {
        let rows = sqlx::query(concat!(
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
        rows.iter().map(|r| Ok((org(r), role(r)?))).collect()
    }

    async fn role_of(&self, org_id: &str, user_id: &str) -> StoreResult<Option<Role>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        role.map(|r| parse_role(&r)).transpose()
    }

    async fn list_members(&self, org_id: &str, page: &Page) -> StoreResult<Vec<Member>> {
        let rows = sqlx::query(concat!(select_members!(), "AND ($2 IS NULL OR u.id < $2) ORDER BY u.id DESC LIMIT $3"))
            .bind(org_id)
            .bind(&page.before)
            .bind(page_limit(page) + 1)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(member).collect()
    }

    async fn set_role(
        &self,
        org_id: &str,
        user_id: &str,
        new_role: Role,
        event: &AuditEvent,
    ) -> StoreResult<Option<Member>> {
        let mut tx = self.pool.begin().await?;
        let Some((current, admins)) = lock_memberships(&mut tx, org_id, user_id).await? else {
            return Ok(None);
        };
        if current == Role::Admin && new_role != Role::Admin && admins <= 1 {
            return Err(StoreError::Conflict(LAST_ADMIN.to_owned()));
        }
        sqlx::query("UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .bind(new_role.as_str())
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(concat!(select_members!(), "AND m.user_id = $2"))
            .bind(org_id)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        insert_event(&mut *tx, event).await?;
        tx.commit().await?;
        member(&row).map(Some)
    }

    async fn remove_member(&self, org_id: &str, user_id: &str, event: &AuditEvent) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let Some((current, admins)) = lock_memberships(&mut tx, org_id, user_id).await? else {
            return Ok(false);
        };
        if current == Role::Admin && admins <= 1 {
            return Err(StoreError::Conflict(LAST_ADMIN.to_owned()));
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Locks the admin memberships of `org_id` and `user_id`'s membership until
/// the transaction ends, and returns `user_id`'s role and the number of
/// admins (`None` if not a member).
///
/// Rows are locked in user-id order, so concurrent callers queue instead of
/// deadlocking. A caller that had to wait sees the rows as the other one
/// left them (a demoted admin no longer matches), so two concurrent
/// demotions of the last two admins cannot both pass the last-admin rule.
async fn lock_memberships(tx: &mut Tx, org_id: &str, user_id: &str) -> StoreResult<Option<(Role, usize)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT user_id, role FROM memberships WHERE org_id = $1 AND (role = 'admin' OR user_id = $2) \
         ORDER BY user_id FOR UPDATE",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    let Some((_, current)) = rows.iter().find(|(u, _)| u == user_id) else {
        return Ok(None);
    };
    let admins = rows.iter().filter(|(_, r)| r == Role::Admin.as_str()).count();
    Ok(Some((parse_role(current)?, admins)))
}

fn parse_role(role: &str) -> StoreResult<Role> {
    role.parse().map_err(|_| StoreError::Corrupt("memberships.role".to_owned()))
}

pub(super) async fn insert_org(tx: &mut Tx, o: &NewOrg) -> StoreResult<()> {
    sqlx::query("INSERT INTO orgs (id, name, slug, members_see_all_keys, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&o.id)
        .bind(&o.name)
        .bind(&o.slug)
        .bind(o.members_see_all_keys)
        .bind(o.created_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(super) async fn add_member(tx: &mut Tx, org_id: &str, user_id: &str, role: Role, at: Millis) -> StoreResult<()> {
    sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
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
async fn insert_org_admin(tx: &mut Tx, org: &NewOrg, admin: &NewUser, key: &NewApiKey) -> StoreResult<String> {
    insert_org(tx, org).await?;
    // Insert-or-reuse in one statement: a concurrent transaction creating
    // the same email makes this one wait, then reuse that user.
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO users (id, email, display_name, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&admin.id)
    .bind(&admin.email)
    .bind(&admin.display_name)
    .bind(admin.created_at)
    .fetch_optional(&mut **tx)
    .await?;
    let user_id = match inserted {
        Some(id) => id,
        None => {
            sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(&admin.email).fetch_one(&mut **tx).await?
        }
    };
    add_member(tx, &org.id, &user_id, Role::Admin, org.created_at).await?;
    let key =
        NewApiKey { owner_user_id: Some(user_id.clone()), created_by_user_id: Some(user_id.clone()), ..key.clone() };
    insert_key_tx(tx, &key).await?;
    Ok(user_id)
}
