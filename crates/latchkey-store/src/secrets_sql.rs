//! The queries of secrets, the organizations' wrapped data keys and SSH
//! public keys, written once for both adapters. They differ only in how a
//! write transaction is opened (SQLite `BEGIN IMMEDIATE`; PostgreSQL a plain
//! `BEGIN`, with a table lock for the data-key re-wrap) and in row locks
//! (`FOR UPDATE` on PostgreSQL), which each adapter passes in.

/// Implements [`crate::SecretStore`] and [`crate::SshKeyStore`] for an
/// adapter; invoked once in each adapter's `secrets` module, where the row
/// readers and `page_limit` are in scope.
macro_rules! secret_store_impls {
    (
        store: $store:ty,
        begin_rewrap: |$rewrap_pool:ident| $begin_rewrap:expr,
        begin_write: |$write_pool:ident| $begin_write:expr,
        for_update: $for_update:literal $(,)?
    ) => {
    #[async_trait]
    impl SecretStore for $store {
        async fn data_key(&self, org_id: &str) -> StoreResult<Option<WrappedDataKey>> {
            let row = sqlx::query(concat!("SELECT ", data_key_columns!(), " FROM org_data_keys WHERE org_id = $1"))
                .bind(org_id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(data_key))
        }

        async fn insert_data_key(&self, k: &WrappedDataKey) -> StoreResult<WrappedDataKey> {
            sqlx::query(
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
            let rows = sqlx::query(concat!("SELECT ", data_key_columns!(), " FROM org_data_keys ORDER BY org_id"))
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.iter().map(data_key).collect())
        }

        async fn rewrap_data_keys(&self, rewraps: &[Rewrap], now: Millis) -> StoreResult<usize> {
            let mut tx = {
                let $rewrap_pool = &self.pool;
                $begin_rewrap
            };
            for r in rewraps {
                let done = sqlx::query(
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
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "the data key of {} changed during the re-wrap; nothing was changed",
                        r.org_id
                    )));
                }
            }
            tx.commit().await?;
            Ok(rewraps.len())
        }

        async fn get_secret(
            &self,
            org_id: &str,
            owner_user_id: Option<&str>,
            name: &str,
        ) -> StoreResult<Option<SecretRecord>> {
            let row = sqlx::query(concat!(
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
            Ok(row.as_ref().map(secret))
        }

        async fn list_secrets(&self, org_id: &str, filter: &SecretFilter, page: &Page) -> StoreResult<Vec<SecretRecord>> {
            let rows = sqlx::query(concat!(
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
            Ok(rows.iter().map(secret).collect())
        }

        async fn put_secret(
            &self,
            s: &SecretRecord,
            expected_version: Option<i64>,
            event: &AuditEvent,
        ) -> StoreResult<bool> {
            let mut tx = {
                let $write_pool = &self.pool;
                $begin_write
            };
            let Some(expected) = expected_version else {
                let inserted = sqlx::query(
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
                .execute(&mut *tx)
                .await;
                return match inserted {
                    Ok(_) => {
                        insert_event(&mut *tx, event).await?;
                        tx.commit().await?;
                        Ok(true)
                    }
                    Err(e) => match StoreError::from(e) {
                        StoreError::Conflict(_) => Ok(false),
                        other => Err(other),
                    },
                };
            };
            let done = sqlx::query(
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
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            insert_event(&mut *tx, event).await?;
            tx.commit().await?;
            Ok(true)
        }

        async fn delete_secret(&self, org_id: &str, id: &str, event: &AuditEvent) -> StoreResult<bool> {
            let mut tx = {
                let $write_pool = &self.pool;
                $begin_write
            };
            let done = sqlx::query("DELETE FROM secrets WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            insert_event(&mut *tx, event).await?;
            tx.commit().await?;
            Ok(true)
        }
    }

    #[async_trait]
    impl SshKeyStore for $store {
        async fn insert_ssh_key(&self, k: &SshKeyRecord, event: &AuditEvent) -> StoreResult<SshKeyRecord> {
            let mut tx = {
                let $write_pool = &self.pool;
                $begin_write
            };
            let row = sqlx::query(concat!(
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
            .fetch_one(&mut *tx)
            .await?;
            insert_event(&mut *tx, event).await?;
            tx.commit().await?;
            Ok(ssh_key(&row))
        }

        async fn get_ssh_key(&self, org_id: &str, id: &str) -> StoreResult<Option<SshKeyRecord>> {
            let row = sqlx::query(concat!("SELECT ", ssh_key_columns!(), " FROM ssh_keys WHERE org_id = $1 AND id = $2"))
                .bind(org_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(ssh_key))
        }

        async fn list_ssh_keys(&self, org_id: &str, f: &SshKeyFilter, page: &Page) -> StoreResult<Vec<SshKeyRecord>> {
            let rows = sqlx::query(concat!(
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
            Ok(rows.iter().map(ssh_key).collect())
        }

        async fn authorized_ssh_keys(&self, org_id: &str, user_id: &str) -> StoreResult<Vec<SshKeyRecord>> {
            let rows = sqlx::query(concat!(
                "SELECT ",
                ssh_key_columns!(),
                " FROM ssh_keys WHERE org_id = $1 AND (owner_user_id IS NULL OR owner_user_id = $2) ORDER BY id"
            ))
            .bind(org_id)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(ssh_key).collect())
        }

        async fn delete_ssh_key(&self, org_id: &str, id: &str, event: &AuditEvent) -> StoreResult<bool> {
            let mut tx = {
                let $write_pool = &self.pool;
                $begin_write
            };
            let done = sqlx::query("DELETE FROM ssh_keys WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            insert_event(&mut *tx, event).await?;
            tx.commit().await?;
            Ok(true)
        }

        async fn set_default_ssh_key(
            &self,
            org_id: &str,
            user_id: &str,
            id: &str,
            event: &AuditEvent,
        ) -> StoreResult<Option<SshKeyRecord>> {
            let mut tx = {
                let $write_pool = &self.pool;
                $begin_write
            };
            let owned: Option<String> = sqlx::query_scalar(concat!(
                "SELECT id FROM ssh_keys WHERE org_id = $1 AND owner_user_id = $2 AND id = $3",
                $for_update
            ))
            .bind(org_id)
            .bind(user_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if owned.is_none() {
                return Ok(None);
            }
            sqlx::query("UPDATE ssh_keys SET is_default = $3 WHERE org_id = $1 AND owner_user_id = $2 AND is_default = $4")
                .bind(org_id)
                .bind(user_id)
                .bind(false)
                .bind(true)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query(concat!(
                "UPDATE ssh_keys SET is_default = $3 WHERE org_id = $1 AND id = $2 RETURNING ",
                ssh_key_columns!()
            ))
            .bind(org_id)
            .bind(id)
            .bind(true)
            .fetch_one(&mut *tx)
            .await?;
            insert_event(&mut *tx, event).await?;
            tx.commit().await?;
            Ok(Some(ssh_key(&row)))
        }
    }
    };
}
