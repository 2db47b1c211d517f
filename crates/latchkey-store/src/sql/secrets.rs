//! Secrets (sealed values only; encryption happens above storage) and the
//! organizations' wrapped data keys.

use async_trait::async_trait;
use latchkey_core::id::{OrgId, SecretId, UserId};
use latchkey_core::time_fmt::Millis;

use super::rows::{data_key, secret};
use super::{Dialect, SqlStore, commit_one, page_limit, query};
use crate::{
    AuditEvent, Conflict, Page, Rewrap, SecretFilter, SecretRecord, SecretStore, StoreError, StoreResult, Unique,
    WrappedDataKey,
};

#[async_trait]
impl<D: Dialect> SecretStore for SqlStore<D> {
    async fn data_key(&self, org_id: &OrgId) -> StoreResult<Option<WrappedDataKey>> {
        let row = query::<D>(concat!("SELECT ", data_key_columns!(), " FROM org_data_keys WHERE org_id = $1"))
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(data_key).transpose()
    }

    async fn insert_data_key(&self, k: &WrappedDataKey) -> StoreResult<WrappedDataKey> {
        query::<D>(
            "INSERT INTO org_data_keys (org_id, master_key_id, wrapped, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(&k.org_id)
        .bind(&k.master_key_id)
        .bind(&k.wrapped)
        .bind(k.created_at)
        .bind(k.updated_at)
        .execute(&self.pool)
        .await?;
        self.data_key(&k.org_id).await?.ok_or_else(|| StoreError::Corrupt("org_data_keys: row vanished".to_owned()))
    }

    async fn all_data_keys(&self) -> StoreResult<Vec<WrappedDataKey>> {
        let rows = query::<D>(concat!("SELECT ", data_key_columns!(), " FROM org_data_keys ORDER BY org_id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(data_key).collect()
    }

    async fn rewrap_data_keys(&self, rewraps: &[Rewrap], now: Millis) -> StoreResult<usize> {
        let mut tx = D::begin_write(&self.pool).await?;
        if let Some(lock) = D::REWRAP_LOCK {
            query::<D>(lock).execute(&mut *tx).await?;
        }
        for r in rewraps {
            let done = query::<D>(
                "UPDATE org_data_keys SET master_key_id = $3, wrapped = $4, updated_at = $5 \
                 WHERE org_id = $1 AND master_key_id = $2",
            )
            .bind(&r.org_id)
            .bind(&r.old_master_key_id)
            .bind(&r.new_master_key_id)
            .bind(&r.wrapped)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done != 1 {
                return Err(Conflict::Changed { org_id: r.org_id.clone() }.into());
            }
        }
        tx.commit().await?;
        Ok(rewraps.len())
    }

    async fn get_secret(
        &self,
        org_id: &OrgId,
        owner_user_id: Option<&UserId>,
        name: &str,
    ) -> StoreResult<Option<SecretRecord>> {
        let row = query::<D>(concat!(
            "SELECT ",
            secret_columns!(),
            " FROM secrets WHERE org_id = $1 AND name = $2 \
             AND (($3 IS NULL AND owner_user_id IS NULL) OR owner_user_id = $3)"
        ))
        .bind(org_id)
        .bind(name)
        .bind(owner_user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(secret).transpose()
    }

    async fn list_secrets(&self, org_id: &OrgId, filter: &SecretFilter, page: &Page) -> StoreResult<Vec<SecretRecord>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            secret_meta_columns!(),
            " FROM secrets WHERE org_id = $1 AND ((owner_user_id IS NULL AND $2) OR owner_user_id = $3) \
             AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
        ))
        .bind(org_id)
        .bind(filter.org_wide)
        .bind(&filter.user_id)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(secret).collect()
    }

    async fn put_secret(
        &self,
        s: &SecretRecord,
        expected_version: Option<i64>,
        event: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let Some(expected) = expected_version else {
            let inserted = query::<D>(
                "INSERT INTO secrets (id, org_id, owner_user_id, name, category, ciphertext, version, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&s.id)
            .bind(&s.org_id)
            .bind(&s.owner_user_id)
            .bind(&s.name)
            .bind(&s.category)
            .bind(&s.ciphertext)
            .bind(s.version)
            .bind(s.created_at)
            .bind(s.updated_at)
            .on_unique(Unique::SecretName)
            .execute(&mut *tx)
            .await;
            return match inserted {
                Ok(done) => commit_one::<D>(tx, done, event).await,
                Err(e) => match e {
                    StoreError::Conflict(Conflict::Unique { what: Unique::SecretName }) => Ok(false),
                    other => Err(other),
                },
            };
        };
        let done = query::<D>(
            "UPDATE secrets SET category = $3, ciphertext = $4, version = $5, updated_at = $6 \
             WHERE org_id = $1 AND id = $2 AND version = $7",
        )
        .bind(&s.org_id)
        .bind(&s.id)
        .bind(&s.category)
        .bind(&s.ciphertext)
        .bind(s.version)
        .bind(s.updated_at)
        .bind(expected)
        .execute(&mut *tx)
        .await?;
        commit_one::<D>(tx, done, event).await
    }

    async fn delete_secret(&self, org_id: &OrgId, id: &SecretId, event: &AuditEvent) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let done = query::<D>("DELETE FROM secrets WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit_one::<D>(tx, done, event).await
    }
}
