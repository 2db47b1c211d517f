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
mod model;
mod oauth;
pub mod ops;
mod policies;
#[macro_use]
pub mod sql;
pub mod postgres;
pub mod sqlite;
mod webhooks;
mod workspaces;

use async_trait::async_trait;
use latchkey_core::id::{
    IdentityId, InvitationId, KeyId, OrgId, ProductId, ProjectId, SecretId, SessionId, SshKeyId, SurfaceId, UserId,
};
use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, Role};

pub use error::{Conflict, StoreError, Unique};
pub use model::*;
pub use oauth::OAuthStore;
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

/// People: accounts, passwords, sessions, invitations. Changes that are
/// audited take their [`AuditEvent`]s into their transaction, as in
/// [`KeyStore`].
#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Creates a user with a password hash, an organization they administer
    /// and their first session, and appends `events`, atomically.
    /// [`Unique::UserEmail`] or [`Unique::OrgSlug`] if the email or the slug
    /// is taken.
    async fn sign_up(
        &self,
        user: &NewUser,
        password_hash: &str,
        org: &NewOrg,
        session: &Session,
        events: &[AuditEvent],
    ) -> StoreResult<()>;

    /// A user and their password hash by (lowercased) email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, Option<String>)>>;

    /// Sets a user's password hash; `false` if there is no such user.
    async fn set_password(&self, user_id: &UserId, password_hash: &str) -> StoreResult<bool>;

    /// Inserts a session (a login).
    async fn insert_session(&self, session: &Session, event: &AuditEvent) -> StoreResult<()>;

    /// A session by token hash (whatever its state).
    async fn session_by_hash(&self, hash: &KeyHash) -> StoreResult<Option<Session>>;

    /// Notes a request made with a session (callers throttle this).
    async fn touch_session(&self, id: &SessionId, at: Millis) -> StoreResult<()>;

    /// A user's sessions that are neither revoked nor expired at `now`,
    /// newest first.
    async fn list_sessions(&self, user_id: &UserId, now: Millis, page: &Page) -> StoreResult<Vec<Session>>;

    /// Revokes one of `user_id`'s sessions; `false` if there is no such
    /// active session of theirs.
    async fn revoke_session(
        &self,
        user_id: &UserId,
        id: &SessionId,
        at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool>;

    /// Sets the organization a session acts in by default.
    async fn set_session_org(&self, id: &SessionId, org_id: &OrgId) -> StoreResult<()>;

    /// Inserts an invitation (with its audit event, in one transaction).
    async fn insert_invitation(&self, invitation: &Invitation, event: &AuditEvent) -> StoreResult<()>;

    /// Pending (not accepted, revoked or expired) invitations of `org_id`.
    async fn list_invitations(&self, org_id: &OrgId, now: Millis, page: &Page) -> StoreResult<Vec<Invitation>>;

    /// Revokes a pending invitation of `org_id` (with its audit event, in one
    /// transaction); `false` if none.
    async fn revoke_invitation(
        &self,
        org_id: &OrgId,
        id: &InvitationId,
        at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool>;

    /// The pending (neither accepted nor revoked, and not expired at `now`)
    /// invitation with this token hash.
    async fn pending_invitation(&self, token_hash: &KeyHash, now: Millis) -> StoreResult<Option<Invitation>>;

    /// Signs a new person up through the pending invitation with this token
    /// hash, atomically: `user` (whose email must be the invited one, else
    /// [`AcceptError::WrongUser`]), their membership of the invitation's
    /// organization with its role, the invitation used up, `session` and
    /// `events`. Nothing is stored if the invitation is not pending
    /// ([`AcceptError::NotFound`]) or the email is taken (a conflict,
    /// [`Unique::UserEmail`]).
    async fn sign_up_invited(
        &self,
        token_hash: &KeyHash,
        user: &NewUser,
        password_hash: &str,
        session: &Session,
        now: Millis,
        events: &[AuditEvent],
    ) -> StoreResult<Result<Invitation, AcceptError>>;

    /// Accepts the pending invitation with this token hash for `user`,
    /// atomically adding the membership, using up the invitation and
    /// appending the audit event `event` builds from the invitation found
    /// (its organization and id are known only then).
    async fn accept_invitation(
        &self,
        token_hash: &KeyHash,
        user: &User,
        now: Millis,
        event: &(dyn for<'i> Fn(&'i Invitation) -> AuditEvent + Send + Sync),
    ) -> StoreResult<Result<Invitation, AcceptError>>;
}

/// Signing in without a password: identities at identity providers, and
/// sign-ins in progress ([`AuthRequest`]). Changes that are audited take
/// their [`AuditEvent`]s into their transaction.
#[async_trait]
pub trait SignInStore: Send + Sync {
    /// The identity with this issuer and subject.
    async fn identity(&self, issuer: &str, subject: &str) -> StoreResult<Option<Identity>>;

    /// A person's identities, oldest first.
    async fn list_identities(&self, user_id: &UserId) -> StoreResult<Vec<Identity>>;

    /// Links `identity` to its user and appends `event`, atomically.
    /// [`Unique::Identity`] if the issuer and subject are linked already.
    async fn link_identity(&self, identity: &Identity, event: &AuditEvent) -> StoreResult<()>;

    /// Unlinks one of `user_id`'s identities and appends `event`; `false` if
    /// they have no such identity. [`Conflict::LastSignInMethod`] (nothing
    /// changed) if it is the only way they can sign in: no password and no
    /// other identity.
    async fn unlink_identity(&self, user_id: &UserId, id: &IdentityId, event: &AuditEvent) -> StoreResult<bool>;

    /// Signs in with a linked identity: notes the sign-in and the email the
    /// provider gave on the identity, inserts `session` and appends
    /// `event`, atomically.
    async fn sign_in_with_identity(
        &self,
        id: &IdentityId,
        email: Option<&str>,
        session: &Session,
        event: &AuditEvent,
    ) -> StoreResult<()>;

    /// Creates a person who arrives from an identity provider (just in
    /// time): `user` without a password (its email verified at its creation
    /// when `email_verified`), their membership of `org_id` with `role`,
    /// `identity`, `session` and `events`, atomically. [`Unique::UserEmail`]
    /// or [`Unique::Identity`] if either is taken.
    #[expect(clippy::too_many_arguments, reason = "one atomic sign-up, each part a record of its own")]
    async fn sign_up_with_identity(
        &self,
        user: &NewUser,
        email_verified: bool,
        org_id: &OrgId,
        role: Role,
        identity: &Identity,
        session: &Session,
        events: &[AuditEvent],
    ) -> StoreResult<()>;

    /// The user with this (lowercased) email, if their email is verified.
    async fn verified_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;

    /// An organization by id or slug.
    async fn org_by_id_or_slug(&self, id_or_slug: &str) -> StoreResult<Option<Org>>;

    /// Stores a sign-in in progress; expired ones are dropped on the way.
    async fn insert_auth_request(&self, request: &AuthRequest) -> StoreResult<()>;

    /// Takes (deletes and returns) the unexpired request of `kind` with
    /// this hash: a second take of the same one finds nothing.
    async fn take_auth_request(
        &self,
        kind: AuthRequestKind,
        hash: &KeyHash,
        now: Millis,
    ) -> StoreResult<Option<AuthRequest>>;

    /// The unexpired device authorization with this user code, undecided.
    async fn pending_device(&self, user_code_hash: &KeyHash, now: Millis) -> StoreResult<Option<AuthRequest>>;

    /// Records a person's decision on the undecided, unexpired device
    /// authorization with this user code (approving binds it to `user_id`
    /// acting in `org_id`), and appends `event`; `false` if there is none.
    async fn decide_device(
        &self,
        user_code_hash: &KeyHash,
        decision: Decision,
        user_id: &UserId,
        org_id: Option<&OrgId>,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool>;

    /// A device's poll: notes it (keeping the poll before it in
    /// `prev_polled_at`) and returns the authorization as it stands, expired
    /// or not; `None` if there is no such device code.
    async fn poll_device(&self, hash: &KeyHash, now: Millis) -> StoreResult<Option<AuthRequest>>;

    /// Takes the approved device authorization with this hash (as
    /// [`SignInStore::take_auth_request`], only once approved), inserts
    /// `session` for the approver and appends `event`, atomically; `None`
    /// (nothing stored) if another poll took it first.
    async fn redeem_device(
        &self,
        hash: &KeyHash,
        session: &Session,
        event: &AuditEvent,
    ) -> StoreResult<Option<AuthRequest>>;

    /// Drops a device authorization (expired or denied, once its device
    /// was told).
    async fn drop_auth_request(&self, hash: &KeyHash) -> StoreResult<()>;
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

/// API keys.
///
/// Every method that changes a key takes the [`AuditEvent`] describing the
/// change and appends it in the same transaction: a change is stored with
/// its event or not at all (a crash between two commits cannot leave one
/// without the other). The event is appended only when the change is made
/// (not for a `None` answer).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a key.
    async fn insert_key(&self, key: &NewApiKey, event: &AuditEvent) -> StoreResult<()>;

    /// Inserts `keys` and appends `events` in one transaction (one commit,
    /// one WAL sync; one statement per table whatever the count): all of
    /// them, or none if any fails. Answers the keys as stored, in order,
    /// with their owners' details as a read of them would (those are read
    /// in the same transaction; the rest is what was written).
    async fn insert_keys(&self, keys: &[NewApiKey], events: &[AuditEvent]) -> StoreResult<Vec<ApiKeyRecord>>;

    /// A key of `org_id` by id, with its owner.
    async fn get_key(&self, org_id: &OrgId, id: &KeyId) -> StoreResult<Option<ApiKeyRecord>>;

    /// The key whose hash is `hash`, in any organization: the verify path.
    async fn find_key_by_hash(&self, hash: &KeyHash) -> StoreResult<Option<ApiKeyRecord>>;

    /// The keys whose hashes are in `hashes` (a few hundred at most), in one
    /// query: the verifier's background re-reads. Unknown hashes are absent.
    async fn find_keys_by_hashes(&self, hashes: &[KeyHash]) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Keys of `org_id` matching `filter`, newest first.
    async fn list_keys(&self, org_id: &OrgId, filter: &KeyFilter, page: &Page) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Applies `patch` to a key; `None` if no such key.
    async fn update_key(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        patch: &KeyPatch,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>>;

    /// Revokes a key at `at`; `None` if no such key. Revocation only ever
    /// moves `revoked_at` earlier: an earlier (or equal) revocation time is
    /// kept, a later one (a rotation's grace period) is brought forward; a
    /// wait until unused ends at `at`.
    async fn revoke_key(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>>;

    /// Records that a key was reported leaked at `at` (`leaked_at`, kept
    /// from the first report) and, with `revoke`, revokes it at `at` the way
    /// [`KeyStore::revoke_key`] does (an earlier revocation time is kept);
    /// `event` (`api_key.leaked`) is appended in the same transaction.
    /// `None` if no such key.
    async fn report_leak(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        at: Millis,
        revoke: bool,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>>;

    /// Inserts `new` as the successor of `old_id` and schedules the old key's
    /// revocation ([`GraceEnd::revoked_at`]; with [`GraceEnd::WhenUnused`]
    /// the old key also waits to go unused from `new.created_at` on,
    /// [`ApiKeyRecord::until_unused`]), atomically. `None` (and nothing
    /// changed) if `old_id` does not exist, has been rotated, or has a
    /// revocation time at all, as decided under the row's write lock: a
    /// revocation that committed first always wins, and one that commits
    /// later only moves `revoked_at` earlier (and ends a wait until unused).
    /// The successor's credit balance (and last refill) is the old key's at
    /// that moment, and from then on the old key spends from it
    /// ([`KeyStore::spend_credits`]).
    async fn rotate_key(
        &self,
        org_id: &OrgId,
        old_id: &KeyId,
        new: &NewApiKey,
        old_end: GraceEnd,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>>;

    /// Keys rotated until unused whose wait may be over at `now`, of every
    /// organization, at most `limit`, the earliest end of longest grace
    /// first: still waiting (not revoked meanwhile), and either unused for
    /// their quiet time by their stored last use (`lastUsedAt` since the
    /// rotation, else the rotation itself) or past their longest grace.
    /// Usage is written behind: the caller writes what it holds of these
    /// keys' usage before [`KeyStore::end_unused_rotation`] decides.
    async fn unused_rotations_due(&self, now: Millis, limit: i64) -> StoreResult<Vec<DueUnused>>;

    /// Ends the wait of the key `id` rotated until unused if it is over at
    /// `now` (as [`KeyStore::unused_rotations_due`] says), decided under the
    /// row's write lock against the row as committed: the key is revoked at
    /// `now` (or stays revoked at the end of its longest grace, if that
    /// came first), its wait ends at `now`, and `event` of the key as
    /// changed is appended, in one transaction. `None`, and nothing
    /// written, if the wait is not over or has ended already (another
    /// node's sweeper, or a revocation, came first): of concurrent callers
    /// one wins.
    async fn end_unused_rotation(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        now: Millis,
        event: &(dyn for<'k> Fn(&'k ApiKeyRecord) -> AuditEvent + Send + Sync),
    ) -> StoreResult<Option<ApiKeyRecord>>;

    /// Deletes a key; returns its hash (to evict caches) if it existed.
    async fn delete_key(&self, org_id: &OrgId, id: &KeyId, event: &AuditEvent) -> StoreResult<Option<KeyHash>>;

    /// Spends `cost` credits of a key atomically (exact under any
    /// concurrency, across processes sharing the database). When the key
    /// refills and its last refill is before `period_start`, the balance is
    /// first reset to the refill amount.
    ///
    /// A rotated key shares its balance with its successor: the credits are
    /// spent from the end of its rotation chain (`rotated_to`, followed), so
    /// an old key in its grace period and its successor together spend what
    /// the old key had left, once. If the successor was deleted, the old key
    /// has nothing left to spend.
    async fn spend_credits(
        &self,
        key_id: &KeyId,
        cost: i64,
        now: Millis,
        period_start: Option<Millis>,
    ) -> StoreResult<Spend>;

    /// The balance [`KeyStore::spend_credits`] would spend from now, without
    /// spending or refilling anything: the end of `key_id`'s rotation
    /// chain's credits, or its refill amount when it refills and its last
    /// refill is before `period_start`. `None` when that key has no credit
    /// budget (or is gone).
    async fn credit_balance(&self, key_id: &KeyId, period_start: Option<Millis>) -> StoreResult<Option<i64>>;

    /// Adds batched verification counts.
    async fn record_usage(&self, batch: &[UsageCount]) -> StoreResult<()>;

    /// Verification counts of a key of `org_id` from `since_day` on, by day
    /// (ascending) and outcome.
    async fn key_usage(&self, org_id: &OrgId, key_id: &KeyId, since_day: &str) -> StoreResult<Vec<UsageCount>>;

    /// Writes batched `lastUsedAt` values (key id, time); never moves a
    /// value backwards.
    async fn record_last_used(&self, batch: &[(KeyId, Millis)]) -> StoreResult<()>;

    /// How many keys' usage [`KeyStore::record_key_usage`] best writes at
    /// once on this backend, and whether that work runs in this process.
    fn usage_batching(&self) -> UsageBatching;

    /// A flush's `lastUsedAt` values and counts
    /// ([`KeyStore::record_last_used`] and [`KeyStore::record_usage`]) in
    /// one transaction: a few statements whatever the batch's size.
    async fn record_key_usage(&self, last_used: &[(KeyId, Millis)], counts: &[UsageCount]) -> StoreResult<()>;

    /// Chunk `chunk` of the usage spill `spill` (usage a node could not
    /// write in time at shutdown), written as [`KeyStore::record_key_usage`]
    /// does, in one transaction with a record that this chunk was written
    /// at `now`. `false`, writing nothing, if it was already: a replay cut
    /// short and repeated counts nothing twice.
    async fn replay_usage_chunk(
        &self,
        spill: &str,
        chunk: i64,
        now: Millis,
        last_used: &[(KeyId, Millis)],
        counts: &[UsageCount],
    ) -> StoreResult<bool>;

    /// Forgets which chunks of the spill `spill` were written (its file is
    /// gone).
    async fn forget_usage_spill(&self, spill: &str) -> StoreResult<()>;

    /// Keys usable at `now` (not revoked, not expired) of every organization,
    /// by id after `after_id`, at most `limit` (the verifier warms its cache
    /// with the recently used ones only: [`KeyStore::recently_used_keys`]).
    async fn usable_keys(&self, after_id: Option<&KeyId>, limit: i64, now: Millis) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Keys last used at or after `since` and usable at `now`, of every
    /// organization, most recently used first (ties by id, descending),
    /// below `below` (a last use and id: where the previous page ended), at
    /// most `limit`: how the verifier warms its cache at start-up.
    async fn recently_used_keys(
        &self,
        since: Millis,
        below: Option<(Millis, &KeyId)>,
        limit: i64,
        now: Millis,
    ) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Hashes of the keys `user_id` owns in `org_id` (to evict them from
    /// caches when the member's role changes or they leave).
    async fn owned_key_hashes(&self, org_id: &OrgId, user_id: &UserId) -> StoreResult<Vec<KeyHash>>;

    /// The organizations that hold keys imported from another system
    /// (`imported`, whatever their state): the verifier refuses presented
    /// strings of another format for any other organization without
    /// looking them up.
    async fn orgs_with_imported_keys(&self) -> StoreResult<Vec<OrgId>>;

    /// Makes a key organization-owned (its creator stays on record); `None`
    /// if there is no such key.
    async fn transfer_key_to_org(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>>;
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
