//! Organizations, users, memberships.

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use super::keys::insert_key_tx;
use crate::{NewApiKey, NewOrg, NewUser, Org, OrgStore, StoreError, StoreResult, User};

#[async_trait]
impl OrgStore for SqliteStore {
    async fn bootstrap(&self, org: &NewOrg, admin: &NewUser, key: &NewApiKey) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT name FROM orgs LIMIT 1").fetch_optional(&mut *tx).await?;
        if let Some(name) = existing {
            return Err(StoreError::Conflict(format!("already initialized (organization `{name}` exists)")));
        }
        insert_org_admin(&mut tx, org, admin, key).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_org_with_admin(&self, org: &NewOrg, admin: &NewUser, key: &NewApiKey) -> StoreResult<String> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let user_id = insert_org_admin(&mut tx, org, admin, key).await?;
        tx.commit().await?;
        Ok(user_id)
    }

    async fn get_org(&self, id: &str) -> StoreResult<Option<Org>> {
        let row = sqlx::query("SELECT id, name, slug, created_at FROM orgs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Org {
            id: r.get("id"),
            name: r.get("name"),
            slug: r.get("slug"),
            created_at: r.get("created_at"),
        }))
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT id, email, display_name, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| User {
            id: r.get("id"),
            email: r.get("email"),
            display_name: r.get("display_name"),
            created_at: r.get("created_at"),
        }))
    }
}

/// Inserts org, user (or reuses the user with that email), admin membership
/// and the first key. Returns the user id.
async fn insert_org_admin(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    org: &NewOrg,
    admin: &NewUser,
    key: &NewApiKey,
) -> StoreResult<String> {
    sqlx::query("INSERT INTO orgs (id, name, slug, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&org.id)
        .bind(&org.name)
        .bind(&org.slug)
        .bind(org.created_at)
        .execute(&mut **tx)
        .await?;
    let existing: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&admin.email)
        .fetch_optional(&mut **tx)
        .await?;
    let user_id = match existing {
        Some(id) => id,
        None => {
            sqlx::query("INSERT INTO users (id, email, display_name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&admin.id)
                .bind(&admin.email)
                .bind(&admin.display_name)
                .bind(admin.created_at)
                .execute(&mut **tx)
                .await?;
            admin.id.clone()
        }
    };
    sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'admin', $3)")
        .bind(&org.id)
        .bind(&user_id)
        .bind(org.created_at)
        .execute(&mut **tx)
        .await?;
    let key =
        NewApiKey { owner_user_id: Some(user_id.clone()), created_by_user_id: Some(user_id.clone()), ..key.clone() };
    insert_key_tx(tx, &key).await?;
    Ok(user_id)
}
