//! Secrets (sealed values), the organizations' wrapped data keys, and SSH
//! public keys: the shared queries (`secrets_sql.rs`) with this adapter's
//! transactions and row locks.

use async_trait::async_trait;
use latchkey_core::time_fmt::Millis;

use super::rows::{data_key, secret, ssh_key};
use super::{SqliteStore, insert_event, page_limit};
use crate::{
    AuditEvent, Page, Rewrap, SecretFilter, SecretRecord, SecretStore, SshKeyFilter, SshKeyRecord, SshKeyStore,
    StoreError, StoreResult, WrappedDataKey,
};

secret_store_impls! {
    store: SqliteStore,
    begin_rewrap: |pool| pool.begin_with("BEGIN IMMEDIATE").await?,
    begin_write: |pool| pool.begin_with("BEGIN IMMEDIATE").await?,
    for_update: "",
}
