//! SSH public keys.

use async_trait::async_trait;
use latchkey_core::id::{OrgId, SshKeyId, UserId};

use super::rows::ssh_key;
use super::{Dialect, SqlStore, commit, commit_one, page_limit, query};
use crate::{AuditEvent, Page, SshKeyFilter, SshKeyRecord, SshKeyStore, StoreResult, Unique};

#[async_trait]
impl<D: Dialect> SshKeyStore for SqlStore<D> {
    async fn insert_ssh_key(&self, k: &SshKeyRecord, event: &AuditEvent) -> StoreResult<SshKeyRecord> {
        let mut tx = D::begin_write(&self.pool).await?;
        let row = query::<D>(concat!(
            "INSERT INTO ssh_keys (id, org_id, owner_user_id, name, algorithm, public_key, comment, fingerprint, \
             bits, created_at, is_default) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             CASE WHEN $3 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ssh_keys \
             WHERE org_id = $2 AND owner_user_id = $3 AND is_default = $11) THEN $11 ELSE $12 END) RETURNING ",
            ssh_key_columns!()
        ))
        .bind(&k.id)
        .bind(&k.org_id)
        .bind(&k.owner_user_id)
        .bind(&k.name)
        .bind(&k.algorithm)
        .bind(&k.public_key)
        .bind(&k.comment)
        .bind(&k.fingerprint)
        .bind(k.bits)
        .bind(k.created_at)
        .bind(true)
        .bind(false)
        .on_unique(Unique::SshKeyFingerprint)
        .fetch_one(&mut *tx)
        .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        ssh_key(&row)
    }

    async fn get_ssh_key(&self, org_id: &OrgId, id: &SshKeyId) -> StoreResult<Option<SshKeyRecord>> {
        let row = query::<D>(concat!("SELECT ", ssh_key_columns!(), " FROM ssh_keys WHERE org_id = $1 AND id = $2"))
            .bind(org_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ssh_key).transpose()
    }

    async fn list_ssh_keys(&self, org_id: &OrgId, f: &SshKeyFilter, page: &Page) -> StoreResult<Vec<SshKeyRecord>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            ssh_key_columns!(),
            " FROM ssh_keys WHERE org_id = $1 AND ((owner_user_id IS NULL AND $2) \
             OR (owner_user_id IS NOT NULL AND $3) OR owner_user_id = $4) \
             AND ($5 IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
        ))
        .bind(org_id)
        .bind(f.org_wide)
        .bind(f.all_users)
        .bind(&f.user_id)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ssh_key).collect()
    }

    async fn authorized_ssh_keys(&self, org_id: &OrgId, user_id: &UserId) -> StoreResult<Vec<SshKeyRecord>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            ssh_key_columns!(),
            " FROM ssh_keys WHERE org_id = $1 AND (owner_user_id IS NULL OR owner_user_id = $2) ORDER BY id"
        ))
        .bind(org_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ssh_key).collect()
    }

    async fn delete_ssh_key(&self, org_id: &OrgId, id: &SshKeyId, event: &AuditEvent) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let done = query::<D>("DELETE FROM ssh_keys WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit_one::<D>(tx, done, event).await
    }

    async fn set_default_ssh_key(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        id: &SshKeyId,
        event: &AuditEvent,
    ) -> StoreResult<Option<SshKeyRecord>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let owned =
            query::<D>(for_update!(D, "SELECT id FROM ssh_keys WHERE org_id = $1 AND owner_user_id = $2 AND id = $3"))
                .bind(org_id)
                .bind(user_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if owned.is_none() {
            return Ok(None);
        }
        query::<D>("UPDATE ssh_keys SET is_default = $3 WHERE org_id = $1 AND owner_user_id = $2 AND is_default = $4")
            .bind(org_id)
            .bind(user_id)
            .bind(false)
            .bind(true)
            .execute(&mut *tx)
            .await?;
        let row = query::<D>(concat!(
            "UPDATE ssh_keys SET is_default = $3 WHERE org_id = $1 AND id = $2 RETURNING ",
            ssh_key_columns!()
        ))
        .bind(org_id)
        .bind(id)
        .bind(true)
        .fetch_one(&mut *tx)
        .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        ssh_key(&row).map(Some)
    }
}
