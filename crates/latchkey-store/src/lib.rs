//! latchkey's storage: small capability traits ([`OrgStore`],
//! [`PeopleStore`], [`SignInStore`], [`ProjectStore`], [`ProductStore`], [`KeyStore`],
//! [`AuditStore`], [`SecretStore`], [`SshKeyStore`], [`OAuthStore`], [`WorkspaceStore`],
//! [`WebhookStore`])
//! gathered in [`Store`], and the adapters that implement them. The server
//! picks one adapter at start-up and holds it as `Arc<dyn Store>`; no
//! handler knows which database is behind it.
//!
//! Every query is scoped by organization id: a record of another
//! organization is indistinguishable from a missing one.
//!
//! Two adapters: [`sqlite::SqliteStore`], one embedded database file for a
//! single node, and [`postgres::PgStore`], a PostgreSQL database shared by
//! several nodes (which also carries key-cache invalidations between them).
//! Both are [`sql::SqlStore`] over a [`sql::Dialect`]: the SQL is written
//! once ([`sql`]), and each dialect holds only what differs (transactions,
//! locks, batch upserts, the change log, notifications).

mod error;
pub mod files;
mod keys;
mod model;
mod oauth;
pub mod ops;
mod people;
mod policies;
#[macro_use]
pub mod sql;
pub mod postgres;
pub mod sqlite;
mod webhooks;
mod workspaces;

use async_trait::async_trait;
use latchkey_core::id::{OrgId, ProductId, ProjectId, SecretId, SshKeyId, SurfaceId, UserId};
use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, Role};

pub use error::{Conflict, StoreError, Unique};
pub use keys::KeyStore;
pub use model::*;
pub use oauth::OAuthStore;
pub use people::{PeopleStore, SignInStore};
pub use policies::KeyPolicyStore;
pub use webhooks::WebhookStore;
pub use workspaces::WorkspaceStore;

/// Result alias for storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// Organizations, users and memberships. Changes take their
/// [`AuditEvent`]s into their transaction, as in [`KeyStore`].
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Creates the first organization, its admin user and the admin's first
    /// key, and appends `events`, atomically. Fails with
    /// [`Conflict::AlreadyInitialized`] (changing nothing) if any
    /// organization exists already.
    async fn bootstrap(&self, org: &NewOrg, admin: &NewUser, key: &NewApiKey, events: &[AuditEvent])
    -> StoreResult<()>;

    /// Creates another organization with an admin (reusing the user if the
    /// email is known) and the admin's first key, and appends `events`,
    /// atomically.
    async fn create_org_with_admin(
        &self,
        org: &NewOrg,
        admin: &NewUser,
        key: &NewApiKey,
        events: &[AuditEvent],
    ) -> StoreResult<UserId>;

    /// An organization by id.
    async fn get_org(&self, id: &OrgId) -> StoreResult<Option<Org>>;

    /// A user by id.
    async fn get_user(&self, id: &UserId) -> StoreResult<Option<User>>;

    /// Creates an organization with `admin_user_id` as its admin.
    /// [`Unique::OrgSlug`] if the slug is taken.
    async fn create_org(&self, org: &NewOrg, admin_user_id: &UserId, event: &AuditEvent) -> StoreResult<()>;

    /// Changes an organization; `None` if there is no such organization,
    /// [`Unique::OrgSlug`] if the new slug is taken.
    async fn update_org(&self, id: &OrgId, patch: &OrgPatch, event: &AuditEvent) -> StoreResult<Option<Org>>;

    /// Organizations `user_id` belongs to, with their role, newest first.
    async fn user_orgs(&self, user_id: &UserId, page: &Page) -> StoreResult<Vec<(Org, Role)>>;

    /// `user_id`'s role in `org_id`, if a member.
    async fn role_of(&self, org_id: &OrgId, user_id: &UserId) -> StoreResult<Option<Role>>;

    /// Members of `org_id`, by user id descending.
    async fn list_members(&self, org_id: &OrgId, page: &Page) -> StoreResult<Vec<Member>>;

    /// Changes a member's role. [`Conflict::LastAdmin`] if that would leave
    /// the organization without an admin; `None` if not a member.
    async fn set_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        event: &AuditEvent,
    ) -> StoreResult<Option<Member>>;

    /// Removes a member, with their connected apps (OAuth connections and
    /// connects in progress) in the organization, atomically. Their
    /// personal workspaces stay, for the organization's admins
    /// ([`WorkspaceStore`] says why).
    /// [`Conflict::LastAdmin`] if they are the last admin; `false` if not a
    /// member.
    async fn remove_member(&self, org_id: &OrgId, user_id: &UserId, event: &AuditEvent) -> StoreResult<bool>;
}

/// The audit trail: append and read, nothing else.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event.
    async fn append_event(&self, event: &AuditEvent) -> StoreResult<()>;

    /// Events of `org_id` matching `filter`, newest first.
    async fn list_events(&self, org_id: &OrgId, filter: &AuditFilter, page: &Page) -> StoreResult<Vec<AuditEvent>>;
}

/// Projects: a grouping layer inside an organization. Changes take their
/// [`AuditEvent`] into their transaction, as in [`KeyStore`].
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Inserts a project.
    async fn insert_project(&self, project: &Project, event: &AuditEvent) -> StoreResult<()>;

    /// A project of `org_id`.
    async fn get_project(&self, org_id: &OrgId, id: &ProjectId) -> StoreResult<Option<Project>>;

    /// Projects of `org_id`, newest first.
    async fn list_projects(&self, org_id: &OrgId, page: &Page) -> StoreResult<Vec<Project>>;

    /// Changes name and/or description; `None` if no such project.
    async fn update_project(
        &self,
        org_id: &OrgId,
        id: &ProjectId,
        patch: &ProjectPatch,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Project>>;

    /// Deletes a project. Refused with [`Conflict::InUse`] while active
    /// (unrevoked) keys belong to it, then with
    /// [`Conflict::ProjectHasWorkspaces`] while workspaces do (nothing
    /// changed, no event). `false` if no such project.
    async fn delete_project(
        &self,
        org_id: &OrgId,
        id: &ProjectId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool>;
}

/// Runtype products and their surfaces (organization-owned containers that
/// surface keys are bound to). Changes take their [`AuditEvent`] into their
/// transaction, as in [`KeyStore`].
#[async_trait]
pub trait ProductStore: Send + Sync {
    /// Inserts a product.
    async fn insert_product(&self, product: &Product, event: &AuditEvent) -> StoreResult<()>;

    /// A product of `org_id`.
    async fn get_product(&self, org_id: &OrgId, id: &ProductId) -> StoreResult<Option<Product>>;

    /// Products of `org_id`, newest first.
    async fn list_products(&self, org_id: &OrgId, page: &Page) -> StoreResult<Vec<Product>>;

    /// Inserts a surface (its product must exist).
    async fn insert_surface(&self, surface: &Surface, event: &AuditEvent) -> StoreResult<()>;

    /// A surface of a product of `org_id`.
    async fn get_surface(&self, org_id: &OrgId, product_id: &ProductId, id: &SurfaceId)
    -> StoreResult<Option<Surface>>;

    /// Surfaces of a product of `org_id`, newest first.
    async fn list_surfaces(&self, org_id: &OrgId, product_id: &ProductId, page: &Page) -> StoreResult<Vec<Surface>>;
}

/// Secrets (sealed values only; encryption happens above storage) and the
/// organizations' wrapped data keys. Changes of secrets take their
/// [`AuditEvent`] into their transaction, as in [`KeyStore`].
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The wrapped data key of `org_id`, if it has one yet.
    async fn data_key(&self, org_id: &OrgId) -> StoreResult<Option<WrappedDataKey>>;

    /// Stores `key` as its organization's data key unless it has one
    /// already (another node may have been first); returns the one stored.
    async fn insert_data_key(&self, key: &WrappedDataKey) -> StoreResult<WrappedDataKey>;

    /// Every organization's wrapped data key.
    async fn all_data_keys(&self) -> StoreResult<Vec<WrappedDataKey>>;

    /// Replaces wrapped data keys in one transaction; each applies only if
    /// the key is still wrapped by its `old_master_key_id`, and if any does
    /// not, nothing changes ([`Conflict::Changed`]). Returns how many
    /// were re-wrapped.
    async fn rewrap_data_keys(&self, rewraps: &[Rewrap], now: Millis) -> StoreResult<usize>;

    /// The secret `name` of `org_id` owned by `owner_user_id` (`None`: the
    /// organization-wide one).
    async fn get_secret(
        &self,
        org_id: &OrgId,
        owner_user_id: Option<&UserId>,
        name: &str,
    ) -> StoreResult<Option<SecretRecord>>;

    /// Secrets of `org_id` matching `filter`, newest first. The records
    /// carry no ciphertext (empty).
    async fn list_secrets(&self, org_id: &OrgId, filter: &SecretFilter, page: &Page) -> StoreResult<Vec<SecretRecord>>;

    /// Inserts `secret` (`expected_version` `None`) or replaces the stored
    /// one whose version is `expected_version`. `false` when another write
    /// came first (the name was taken meanwhile, or the version moved on):
    /// the caller re-reads and seals again.
    async fn put_secret(
        &self,
        secret: &SecretRecord,
        expected_version: Option<i64>,
        event: &AuditEvent,
    ) -> StoreResult<bool>;

    /// Deletes a secret of `org_id`; `false` if none.
    async fn delete_secret(&self, org_id: &OrgId, id: &SecretId, event: &AuditEvent) -> StoreResult<bool>;
}

/// SSH public keys. Changes take their [`AuditEvent`] into their
/// transaction, as in [`KeyStore`].
#[async_trait]
pub trait SshKeyStore: Send + Sync {
    /// Inserts a key; it becomes its owner's default if they have none.
    /// [`Unique::SshKeyFingerprint`] if the same key (fingerprint) is
    /// already registered in the same scope (the owner's, or
    /// organization-wide).
    async fn insert_ssh_key(&self, key: &SshKeyRecord, event: &AuditEvent) -> StoreResult<SshKeyRecord>;

    /// A key of `org_id`.
    async fn get_ssh_key(&self, org_id: &OrgId, id: &SshKeyId) -> StoreResult<Option<SshKeyRecord>>;

    /// Keys of `org_id` matching `filter`, newest first.
    async fn list_ssh_keys(&self, org_id: &OrgId, filter: &SshKeyFilter, page: &Page)
    -> StoreResult<Vec<SshKeyRecord>>;

    /// Every key that lets `user_id` in: theirs and the organization-wide
    /// ones, oldest first.
    async fn authorized_ssh_keys(&self, org_id: &OrgId, user_id: &UserId) -> StoreResult<Vec<SshKeyRecord>>;

    /// Deletes a key; `false` if none.
    async fn delete_ssh_key(&self, org_id: &OrgId, id: &SshKeyId, event: &AuditEvent) -> StoreResult<bool>;

    /// Makes `id` (a key `user_id` owns) their one default key; `None` if
    /// they own no such key.
    async fn set_default_ssh_key(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        id: &SshKeyId,
        event: &AuditEvent,
    ) -> StoreResult<Option<SshKeyRecord>>;
}

/// What a node must drop from its key cache because another node (or this
/// one) changed keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// These keys changed (revoked, rotated, updated, deleted, transferred,
    /// or their owner's role changed).
    Keys(Vec<KeyHash>),
    /// Anything may have changed (the listener reconnected after missing
    /// messages): drop everything.
    All,
}

/// Receives invalidations from [`Store::watch_invalidations`].
pub type InvalidationSink = std::sync::Arc<dyn Fn(Invalidation) + Send + Sync>;

/// Connection-pool figures, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
}

/// Everything the server needs from storage.
#[async_trait]
pub trait Store:
    OrgStore
    + PeopleStore
    + SignInStore
    + ProjectStore
    + ProductStore
    + KeyStore
    + AuditStore
    + SecretStore
    + SshKeyStore
    + OAuthStore
    + WorkspaceStore
    + WebhookStore
    + KeyPolicyStore
    + 'static
{
    /// `sqlite` or `postgres`.
    fn backend_name(&self) -> &'static str;

    /// Whether the database answers (readiness): one trivial query.
    async fn ping(&self) -> StoreResult<()>;

    /// Connection-pool figures.
    fn pool_stats(&self) -> PoolStats;

    /// Tells every node sharing this database (this one included) to drop
    /// `hashes` from its key cache. Single-node backends do nothing.
    async fn publish_invalidation(&self, hashes: &[KeyHash]) -> StoreResult<()>;

    /// Delivers every published invalidation to `sink` until the process
    /// ends; after losing its connection it reconnects (with backoff) and
    /// then sends [`Invalidation::All`], since messages may have been
    /// missed. Single-node backends return at once.
    async fn watch_invalidations(&self, sink: InvalidationSink) -> StoreResult<()>;

    /// Where the key change log ends now: [`Store::key_changes`] from this
    /// cursor on returns every change committed after this call (and any
    /// still uncommitted). Take it before reading keys into a cache.
    async fn key_changes_cursor(&self) -> StoreResult<ChangeCursor>;

    /// The keys changed since `cursor` by any writer (triggers log every
    /// change that can alter a verification), and the cursor to ask from
    /// next time. More than [`MAX_KEY_CHANGES`] at once come back as
    /// [`Invalidation::All`].
    async fn key_changes(&self, cursor: ChangeCursor) -> StoreResult<(Invalidation, ChangeCursor)>;

    /// Deletes change-log entries made before `before` (ms since the
    /// epoch), [`PRUNE_BATCH`] at a time with a pause between batches, so
    /// that a large prune never holds the log (or SQLite's write lock) for
    /// long; returns how many.
    async fn prune_key_changes(&self, before: Millis) -> StoreResult<u64>;
}

/// A position in the key change log (SQLite: the last entry read;
/// PostgreSQL: the oldest transaction id not yet finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeCursor(pub i64);

/// The hashes of change-log rows.
fn change_log_hashes<'a>(rows: impl Iterator<Item = &'a Vec<u8>>) -> StoreResult<Vec<KeyHash>> {
    rows.map(|h| KeyHash::from_bytes(h).ok_or_else(|| StoreError::Corrupt("a key_changes hash is not 32 bytes".into())))
        .collect()
}

/// Changed keys one [`Store::key_changes`] call returns one by one at most;
/// beyond that it answers [`Invalidation::All`].
pub const MAX_KEY_CHANGES: usize = 10_000;

/// Change-log entries one statement of [`Store::prune_key_changes`]
/// deletes at most: a few milliseconds of work (a prune of a million
/// entries in one statement took 1–1.5 s, during which verification
/// throughput halved).
pub const PRUNE_BATCH: i64 = 5_000;

/// The `LIMIT` of a change-log read: one row more than
/// [`MAX_KEY_CHANGES`], to tell "exactly that many" from "more".
const KEY_CHANGES_LIMIT: i64 = MAX_KEY_CHANGES as i64 + 1;
