//! latchkey's storage: small capability traits ([`OrgStore`],
//! [`ProjectStore`], [`KeyStore`]) gathered in [`Store`], and the adapters
//! that implement them. The server picks one adapter at start-up and holds it
//! as `Arc<dyn Store>`; no handler knows which database is behind it.
//!
//! Every query is scoped by organization id: a record of another
//! organization is indistinguishable from a missing one.
//!
//! SQL is written to run unchanged on SQLite and PostgreSQL (`$n`
//! placeholders, epoch-millisecond integers, text ids, `RETURNING`), so a
//! second adapter is mostly a copy of the connection set-up and migrations.

mod error;
mod model;
pub mod sqlite;

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::time_fmt::Millis;

pub use error::StoreError;
pub use model::*;

/// Result alias for storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// Organizations, users and memberships.
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Creates the first organization, its admin user and the admin's first
    /// key, atomically. Fails with [`StoreError::Conflict`] (changing nothing)
    /// if any organization exists already.
    async fn bootstrap(&self, org: &NewOrg, admin: &NewUser, key: &NewApiKey) -> StoreResult<()>;

    /// Creates another organization with an admin (reusing the user if the
    /// email is known) and the admin's first key, atomically.
    async fn create_org_with_admin(&self, org: &NewOrg, admin: &NewUser, key: &NewApiKey) -> StoreResult<String>;

    /// An organization by id.
    async fn get_org(&self, id: &str) -> StoreResult<Option<Org>>;

    /// A user by id.
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
}

/// Projects: a grouping layer inside an organization.
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Inserts a project.
    async fn insert_project(&self, project: &Project) -> StoreResult<()>;

    /// A project of `org_id`.
    async fn get_project(&self, org_id: &str, id: &str) -> StoreResult<Option<Project>>;

    /// Projects of `org_id`, newest first.
    async fn list_projects(&self, org_id: &str, page: &Page) -> StoreResult<Vec<Project>>;

    /// Changes name and/or description; `None` if no such project.
    async fn update_project(
        &self,
        org_id: &str,
        id: &str,
        patch: &ProjectPatch,
        now: Millis,
    ) -> StoreResult<Option<Project>>;

    /// Deletes a project. Refused with [`StoreError::Conflict`] while active
    /// (unrevoked) keys belong to it. `false` if no such project.
    async fn delete_project(&self, org_id: &str, id: &str, now: Millis) -> StoreResult<bool>;
}

/// API keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a key.
    async fn insert_key(&self, key: &NewApiKey) -> StoreResult<()>;

    /// A key of `org_id` by id, with its owner.
    async fn get_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ApiKeyRecord>>;

    /// The key whose hash is `hash`, in any organization: the verify path.
    async fn find_key_by_hash(&self, hash: &KeyHash) -> StoreResult<Option<ApiKeyRecord>>;

    /// Keys of `org_id` matching `filter`, newest first.
    async fn list_keys(&self, org_id: &str, filter: &KeyFilter, page: &Page) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Applies `patch` to a key; `None` if no such key.
    async fn update_key(
        &self,
        org_id: &str,
        id: &str,
        patch: &KeyPatch,
        now: Millis,
    ) -> StoreResult<Option<ApiKeyRecord>>;

    /// Revokes a key at `at` (keeping an earlier revocation time if there is
    /// one); `None` if no such key.
    async fn revoke_key(&self, org_id: &str, id: &str, at: Millis) -> StoreResult<Option<ApiKeyRecord>>;

    /// Inserts `new` as the successor of `old_id` and schedules the old key's
    /// revocation at `old_revoked_at`, atomically. `None` if `old_id` does not
    /// exist or is already revoked.
    async fn rotate_key(
        &self,
        org_id: &str,
        old_id: &str,
        new: &NewApiKey,
        old_revoked_at: Millis,
    ) -> StoreResult<Option<ApiKeyRecord>>;

    /// Deletes a key; returns its hash (to evict caches) if it existed.
    async fn delete_key(&self, org_id: &str, id: &str) -> StoreResult<Option<KeyHash>>;

    /// Spends `cost` credits of a key atomically (exact under any
    /// concurrency, across processes sharing the database). When the key
    /// refills and its last refill is before `period_start`, the balance is
    /// first reset to the refill amount.
    async fn spend_credits(
        &self,
        key_id: &str,
        cost: i64,
        now: Millis,
        period_start: Option<Millis>,
    ) -> StoreResult<Spend>;

    /// Adds batched verification counts.
    async fn record_usage(&self, batch: &[UsageCount]) -> StoreResult<()>;

    /// Verification counts of a key of `org_id` from `since_day` on, by day
    /// (ascending) and outcome.
    async fn key_usage(&self, org_id: &str, key_id: &str, since_day: &str) -> StoreResult<Vec<UsageCount>>;

    /// Writes batched `lastUsedAt` values (key id, time); never moves a
    /// value backwards.
    async fn record_last_used(&self, batch: &[(String, Millis)]) -> StoreResult<()>;
}

/// Everything the server needs from storage.
pub trait Store: OrgStore + ProjectStore + KeyStore + 'static {
    /// Whether the database answers (for readiness checks).
    fn backend_name(&self) -> &'static str;
}
