//! The SQL both adapters run, written once.
//!
//! SQLite and PostgreSQL agree on almost every statement latchkey needs
//! (`$n` placeholders, epoch-millisecond integers, text ids, `RETURNING`,
//! `ON CONFLICT`), so the store traits are implemented once, for
//! [`SqlStore<D>`], in ordinary generic Rust over a small [`Dialect`]: one
//! file per trait (`keys.rs`, `orgs.rs`, …) and the row readers in
//! `rows.rs`. What really differs stays in the two dialects
//! ([`crate::sqlite`], [`crate::postgres`]): how a write transaction opens,
//! row and table locks, batch upserts, the change log, `LISTEN`/`NOTIFY`.
//!
//! sqlx's own generic API cannot be used from generic code here: running a
//! query needs `for<'c> &'c mut D::Connection: Executor<'c>`, a bound a
//! trait's where-clause does not carry to its users (rust-lang/rust#20671),
//! so every function would have to repeat it. Instead every sqlx generic
//! stays in the two concrete dialect impls:
//!
//! * a statement is a [`Query<D>`]: `&'static str` SQL and the driver's
//!   own argument buffer, filled through [`Bind`] (concrete methods per
//!   value kind) by the Rust values that implement [`SqlValue`];
//! * it runs through [`Dialect::fetch_all`] and its siblings, on a pool or
//!   on a transaction's connection ([`Runner`]), as `sqlx::query_with`
//!   would: the same prepared-statement cache (keyed by the SQL text), the
//!   same argument encoding, no allocation of ours per query;
//! * rows are read through [`ReadRow`] (by column name, typed accessors).
//!
//! Call sites read as they did with sqlx:
//! `query::<D>(SQL).bind(org_id).bind(id).fetch_optional(&mut *tx).await?`.

#[macro_use]
mod macros;
#[macro_use]
mod rows;
mod key_batch;
mod keys;
mod oauth;
mod orgs;
mod people;
mod policies;
mod products;
mod projects;
mod secrets;
mod sign_in;
mod ssh_keys;
mod store;
mod webhooks;
mod workspaces;

use std::fmt::Debug;
use std::future::Future;

use latchkey_core::KeyHash;
use latchkey_core::id::{
    EventId, IdentityId, InvitationId, KeyId, OAuthConnectRequestId, OAuthConnectionId, OrgId, ProductId, ProjectId,
    SecretId, SessionId, SshKeyId, SurfaceId, UserId, WebhookDeliveryId, WebhookId, WorkspaceId,
};
use latchkey_core::time_fmt::Millis;

use crate::{
    ApiKeyRecord, AuditEvent, ChangeCursor, Invalidation, InvalidationSink, MAX_PAGE, Page, StoreError, StoreResult,
    Unique, UsageCount,
};

pub use key_batch::KeyBatch;
pub(crate) use keys::LAST_USE_BUCKET_MS;
pub use keys::{RECENTLY_USED_KEYS, USABLE_KEYS};
pub(crate) use rows::record;
pub use store::PRUNE_KEY_CHANGES;
pub use webhooks::EXPIRY_DUE;

/// An encoding failure of a bound value (sqlx's boxed error).
pub type BindError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A transaction of dialect `D`.
pub type Tx<D> = sqlx::Transaction<'static, <D as Dialect>::Db>;

/// A connection of dialect `D` (what a [`Tx`] dereferences to).
pub type Conn<D> = <<D as Dialect>::Db as sqlx::Database>::Connection;

/// What differs between the databases. Implemented by [`crate::sqlite::Sqlite`]
/// and [`crate::postgres::Postgres`], and nothing else.
pub trait Dialect: Debug + Send + Sync + Sized + 'static {
    /// The sqlx driver.
    type Db: sqlx::Database;
    /// The driver's argument buffer.
    type Args: Bind + Default + Send;
    /// The driver's row.
    type Row: ReadRow + Send;
    /// What a store of this dialect holds besides its pool.
    type State: Debug + Clone + Send + Sync;

    /// `sqlite` or `postgres` ([`crate::Store::backend_name`]).
    const NAME: &'static str;

    /// Whether statements that decide under a row lock take it with a
    /// `FOR UPDATE` suffix (`for_update!`). SQLite has no row locks (and
    /// refuses the clause): its write transactions hold the database's one
    /// write lock from their start (`BEGIN IMMEDIATE`).
    const ROW_LOCKS: bool;

    /// Whether a case-insensitive `LIKE` is spelled `ILIKE` (PostgreSQL,
    /// whose `LIKE` heeds case) rather than `LIKE` (SQLite's ignores the
    /// case of ASCII letters).
    const ILIKE: bool;

    /// Run first in `bootstrap`'s transaction, to keep every other writer of
    /// `orgs` out until it ends (`None` where the transaction alone does).
    const BOOTSTRAP_LOCK: Option<&'static str>;

    /// Run first in the data-key re-wrap's transaction, so that no data key
    /// is added meanwhile (`None` where the transaction alone does).
    const REWRAP_LOCK: Option<&'static str>;

    /// Run first in the webhook scheduler's transaction: one column
    /// `locked`, false when another node holds the lock (`None` where the
    /// write transaction alone excludes the others).
    const SCHEDULER_LOCK: Option<&'static str>;

    /// Opens a transaction that reads before it writes.
    fn begin_write(pool: &sqlx::Pool<Self::Db>) -> impl Future<Output = StoreResult<Tx<Self>>> + Send;

    /// Runs `q` on `conn`; every row.
    fn fetch_all(conn: &mut Conn<Self>, q: Query<Self>) -> impl Future<Output = StoreResult<Vec<Self::Row>>> + Send;

    /// Runs `q` on `conn`; the first row, if any.
    fn fetch_optional(
        conn: &mut Conn<Self>,
        q: Query<Self>,
    ) -> impl Future<Output = StoreResult<Option<Self::Row>>> + Send;

    /// Runs `q` on `conn`; the first row, which must exist.
    fn fetch_one(conn: &mut Conn<Self>, q: Query<Self>) -> impl Future<Output = StoreResult<Self::Row>> + Send;

    /// Runs `q` on `conn`; the number of rows it changed.
    fn execute(conn: &mut Conn<Self>, q: Query<Self>) -> impl Future<Output = StoreResult<u64>> + Send;

    /// [`crate::KeyStore::find_keys_by_hashes`]: one statement whatever the
    /// count (`hashes` is not empty).
    fn find_keys_by_hashes(
        store: &SqlStore<Self>,
        hashes: &[KeyHash],
    ) -> impl Future<Output = StoreResult<Vec<ApiKeyRecord>>> + Send;

    /// [`crate::KeyStore::insert_keys`]: writes `batch`'s keys and events,
    /// all or none (one transaction), and answers the rows of its owners
    /// ([`KeyBatch::owners`]), read in the same transaction.
    fn insert_key_batch(
        store: &SqlStore<Self>,
        batch: KeyBatch,
    ) -> impl Future<Output = StoreResult<Vec<Self::Row>>> + Send;

    /// [`crate::KeyStore::usage_batching`].
    const USAGE_BATCHING: crate::UsageBatching;

    /// The pool the verifier's write-behind usage is written on
    /// ([`crate::KeyStore::record_key_usage`]).
    fn usage_pool(store: &SqlStore<Self>) -> &sqlx::Pool<Self::Db>;

    /// Writes `lastUsedAt` values (never moving one back) and adds counts
    /// (skipping keys deleted meanwhile) on `tx`: one statement each,
    /// whatever the batch's size.
    fn write_key_usage(
        tx: &mut Tx<Self>,
        last_used: &[(KeyId, Millis)],
        counts: &[UsageCount],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// [`crate::Store::publish_invalidation`].
    fn publish_invalidation(store: &SqlStore<Self>, hashes: &[KeyHash])
    -> impl Future<Output = StoreResult<()>> + Send;

    /// [`crate::Store::watch_invalidations`].
    fn watch_invalidations(
        store: &SqlStore<Self>,
        sink: InvalidationSink,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// [`crate::Store::key_changes_cursor`].
    fn key_changes_cursor(store: &SqlStore<Self>) -> impl Future<Output = StoreResult<ChangeCursor>> + Send;

    /// [`crate::Store::key_changes`].
    fn key_changes(
        store: &SqlStore<Self>,
        cursor: ChangeCursor,
    ) -> impl Future<Output = StoreResult<(Invalidation, ChangeCursor)>> + Send;
}

/// A store over a database of dialect `D`.
#[derive(Debug, Clone)]
pub struct SqlStore<D: Dialect> {
    /// The connections the queries run on (SQLite's written-behind usage
    /// has one of its own, in `state`).
    pub(crate) pool: sqlx::Pool<D::Db>,
    /// The dialect's own state.
    pub(crate) state: D::State,
}

/// A driver's argument buffer, filled one value at a time
/// (`sqlx::Arguments::add`); implemented for each driver by `driver_impls!`.
pub trait Bind {
    /// Text.
    fn text(&mut self, v: &str) -> Result<(), BindError>;
    /// Text the buffer takes over (no copy).
    fn string(&mut self, v: String) -> Result<(), BindError>;
    /// Text or NULL.
    fn opt_text(&mut self, v: Option<&str>) -> Result<(), BindError>;
    /// A 64-bit integer.
    fn i64(&mut self, v: i64) -> Result<(), BindError>;
    /// A 64-bit integer or NULL.
    fn opt_i64(&mut self, v: Option<i64>) -> Result<(), BindError>;
    /// A boolean.
    fn bool(&mut self, v: bool) -> Result<(), BindError>;
    /// A boolean or NULL.
    fn opt_bool(&mut self, v: Option<bool>) -> Result<(), BindError>;
    /// Bytes.
    fn bytes(&mut self, v: &[u8]) -> Result<(), BindError>;
    /// Bytes or NULL.
    fn opt_bytes(&mut self, v: Option<&[u8]>) -> Result<(), BindError>;
}

/// A Rust value a statement binds.
pub trait SqlValue {
    /// Adds `self` to `args`.
    fn bind_to(self, args: &mut impl Bind) -> Result<(), BindError>;
}

/// `SqlValue` for types bound by one `Bind` method (`$conv` turns the
/// value into that method's argument).
macro_rules! sql_values {
    ($($ty:ty => $method:ident $(($conv:expr))?),* $(,)?) => {$(
        impl SqlValue for $ty {
            fn bind_to(self, args: &mut impl Bind) -> Result<(), BindError> {
                args.$method($(($conv))?(self))
            }
        }
    )*};
}

sql_values! {
    &str => text,
    &String => text,
    String => string,
    Option<&str> => opt_text,
    &Option<String> => opt_text(Option::as_deref),
    i64 => i64,
    Option<i64> => opt_i64,
    bool => bool,
    Option<bool> => opt_bool,
    &[u8] => bytes,
    &Vec<u8> => bytes,
    Option<&[u8]> => opt_bytes,
}

/// A typed id or NULL, as text.
fn opt_id_text<T: AsRef<str>>(id: Option<&T>) -> Option<&str> {
    id.map(AsRef::as_ref)
}

/// `SqlValue` for the typed ids ([`latchkey_core::id`]): bound as their
/// text, like the strings they were.
macro_rules! sql_id_values {
    ($($ty:ty),* $(,)?) => {$(
        sql_values! {
            &$ty => text,
            $ty => string(String::from),
            Option<&$ty> => opt_text(opt_id_text),
            &Option<$ty> => opt_text(Option::as_deref),
        }
    )*};
}

sql_id_values!(
    IdentityId,
    OrgId,
    UserId,
    ProjectId,
    KeyId,
    SessionId,
    EventId,
    InvitationId,
    ProductId,
    SurfaceId,
    SecretId,
    SshKeyId,
    OAuthConnectRequestId,
    OAuthConnectionId,
    WorkspaceId,
    WebhookId,
    WebhookDeliveryId
);

/// Typed reads of a driver's row by column name; implemented for each driver
/// by `driver_impls!`. A column that is missing or of another type is
/// [`StoreError::Corrupt`].
pub trait ReadRow {
    /// A text column.
    fn text(&self, column: &str) -> StoreResult<String>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    /// An integer column.
    fn i64(&self, column: &str) -> StoreResult<i64>;
    /// A nullable integer column.
    fn opt_i64(&self, column: &str) -> StoreResult<Option<i64>>;
    /// A boolean column.
    fn bool(&self, column: &str) -> StoreResult<bool>;
    /// A binary column.
    fn bytes(&self, column: &str) -> StoreResult<Vec<u8>>;
    /// A nullable binary column.
    fn opt_bytes(&self, column: &str) -> StoreResult<Option<Vec<u8>>>;

    /// A text column read as a typed id ([`latchkey_core::id`]).
    fn id<T: From<String>>(&self, column: &str) -> StoreResult<T> {
        self.text(column).map(T::from)
    }

    /// A nullable text column read as a typed id.
    fn opt_id<T: From<String>>(&self, column: &str) -> StoreResult<Option<T>> {
        Ok(self.opt_text(column)?.map(T::from))
    }
}

/// A column that could not be read.
pub(crate) fn unreadable(column: &str, e: &sqlx::Error) -> StoreError {
    StoreError::Corrupt(format!("column `{column}`: {e}"))
}

/// A statement and its arguments, run by [`Query::fetch_all`] and its
/// siblings.
#[must_use = "a query does nothing until it runs"]
pub struct Query<D: Dialect> {
    /// The SQL (`&'static`: the drivers cache prepared statements by it).
    pub(crate) sql: &'static str,
    /// The arguments bound so far, or the first value that failed to encode
    /// (reported when the query runs, as sqlx does).
    pub(crate) args: Result<D::Args, BindError>,
    /// What a unique violation of this statement means ([`Query::on_unique`]).
    pub(crate) unique: Option<Unique>,
}

/// A statement of dialect `D`.
pub fn query<D: Dialect>(sql: &'static str) -> Query<D> {
    Query { sql, args: Ok(D::Args::default()), unique: None }
}

impl<D: Dialect> Query<D> {
    /// Binds the next placeholder (`$1`, `$2`, … in order).
    pub fn bind(mut self, value: impl SqlValue) -> Self {
        if let Ok(args) = &mut self.args
            && let Err(e) = value.bind_to(args)
        {
            self.args = Err(e);
        }
        self
    }

    /// Declares what a unique violation of this statement means: it fails
    /// with [`Conflict::Unique`] naming `what` (a statement that declares
    /// nothing fails with [`Unique::Other`]).
    ///
    /// [`Conflict::Unique`]: crate::Conflict::Unique
    pub fn on_unique(mut self, what: Unique) -> Self {
        self.unique = Some(what);
        self
    }

    /// Every row.
    pub async fn fetch_all(self, on: impl Runner<D>) -> StoreResult<Vec<D::Row>> {
        on.fetch_all(self).await
    }

    /// The first row, if any.
    pub async fn fetch_optional(self, on: impl Runner<D>) -> StoreResult<Option<D::Row>> {
        on.fetch_optional(self).await
    }

    /// The first row, which must exist.
    pub async fn fetch_one(self, on: impl Runner<D>) -> StoreResult<D::Row> {
        on.fetch_one(self).await
    }

    /// The number of rows changed.
    pub async fn execute(self, on: impl Runner<D>) -> StoreResult<u64> {
        on.execute(self).await
    }
}

/// Where a [`Query`] runs: a pool (it takes a connection for the query) or
/// a connection (a transaction's: `&mut *tx`).
pub trait Runner<D: Dialect>: Send {
    /// [`Dialect::fetch_all`].
    fn fetch_all(self, q: Query<D>) -> impl Future<Output = StoreResult<Vec<D::Row>>> + Send;
    /// [`Dialect::fetch_optional`].
    fn fetch_optional(self, q: Query<D>) -> impl Future<Output = StoreResult<Option<D::Row>>> + Send;
    /// [`Dialect::fetch_one`].
    fn fetch_one(self, q: Query<D>) -> impl Future<Output = StoreResult<D::Row>> + Send;
    /// [`Dialect::execute`].
    fn execute(self, q: Query<D>) -> impl Future<Output = StoreResult<u64>> + Send;
}

impl<D: Dialect> Runner<D> for &mut Conn<D> {
    fn fetch_all(self, q: Query<D>) -> impl Future<Output = StoreResult<Vec<D::Row>>> + Send {
        D::fetch_all(self, q)
    }
    fn fetch_optional(self, q: Query<D>) -> impl Future<Output = StoreResult<Option<D::Row>>> + Send {
        D::fetch_optional(self, q)
    }
    fn fetch_one(self, q: Query<D>) -> impl Future<Output = StoreResult<D::Row>> + Send {
        D::fetch_one(self, q)
    }
    fn execute(self, q: Query<D>) -> impl Future<Output = StoreResult<u64>> + Send {
        D::execute(self, q)
    }
}

impl<D: Dialect> Runner<D> for &sqlx::Pool<D::Db> {
    async fn fetch_all(self, q: Query<D>) -> StoreResult<Vec<D::Row>> {
        D::fetch_all(&mut *self.acquire().await?, q).await
    }
    async fn fetch_optional(self, q: Query<D>) -> StoreResult<Option<D::Row>> {
        D::fetch_optional(&mut *self.acquire().await?, q).await
    }
    async fn fetch_one(self, q: Query<D>) -> StoreResult<D::Row> {
        D::fetch_one(&mut *self.acquire().await?, q).await
    }
    async fn execute(self, q: Query<D>) -> StoreResult<u64> {
        D::execute(&mut *self.acquire().await?, q).await
    }
}

/// `limit + 1` rows are fetched by callers that page; this clamps the limit
/// ([`MAX_PAGE`]).
fn page_limit(page: &Page) -> i64 {
    i64::from(page.limit.clamp(1, MAX_PAGE))
}

/// The statement appending an [`AuditEvent`].
const INSERT_AUDIT_EVENT: &str =
    concat!(insert_audit_events!(), "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");

/// Appends an audit event on `on` (inside the transaction of the change it
/// describes, or alone).
async fn insert_event<D: Dialect>(on: impl Runner<D>, e: &AuditEvent) -> StoreResult<()> {
    query::<D>(INSERT_AUDIT_EVENT)
        .bind(&e.id)
        .bind(&e.org_id)
        .bind(e.at)
        .bind(&e.actor_type)
        .bind(&e.actor_id)
        .bind(&e.action)
        .bind(&e.target_type)
        .bind(&e.target_id)
        .bind(&e.ip)
        .bind(&e.request_id)
        .bind(&e.details)
        .execute(on)
        .await?;
    Ok(())
}

/// Appends the events describing a change to its transaction, and commits
/// both: a change is stored with its events or not at all.
async fn commit<D: Dialect>(mut tx: Tx<D>, events: &[AuditEvent]) -> StoreResult<()> {
    for e in events {
        insert_event::<D>(&mut *tx, e).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Commits a change of at most one row (`changed`: how many changed) with
/// its event; `false`, and nothing stored, if no row changed.
async fn commit_one<D: Dialect>(tx: Tx<D>, changed: u64, event: &AuditEvent) -> StoreResult<bool> {
    if changed == 0 {
        return Ok(false);
    }
    commit::<D>(tx, std::slice::from_ref(event)).await?;
    Ok(true)
}
