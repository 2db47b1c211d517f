//! Secrets (sealed values), the organizations' wrapped data keys, and SSH
//! public keys: the shared queries (`secrets_sql.rs`) with this adapter's
//! transactions and row locks.

use async_trait::async_trait;
use latchkey_core::time_fmt::Millis;

use super::rows::{data_key, secret, ssh_key};
use super::{PgStore, insert_event, page_limit};
use crate::{
    AuditEvent, Page, Rewrap, SecretFilter, SecretRecord, SecretStore, SshKeyFilter, SshKeyRecord, SshKeyStore,
    StoreError, StoreResult, WrappedDataKey,
};

secret_store_impls! {
    store: PgStore,
    begin_rewrap: |pool| {
        let mut tx = pool.begin().await?;
        // No data key may be added while the re-wrap runs (readers go on).
        sqlx::query("LOCK TABLE org_data_keys IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
        tx
    },
    begin_write: |pool| pool.begin().await?,
    for_update: " FOR UPDATE",
}
