//! [`KeyStore`], in a file of its own (`lib.rs` holds the smaller traits).

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::id::{KeyId, OrgId, UserId};
use latchkey_core::time_fmt::Millis;

use crate::{
    ApiKeyRecord, AuditEvent, DueUnused, GraceEnd, KeyFilter, KeyPatch, NewApiKey, Page, Spend, StoreResult,
    UsageBatching, UsageCount,
};

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
    /// organization, most recently used first by ten-minute buckets of the
    /// last use (within one, by id, descending), below `below` (a last use
    /// and id: where the previous page ended), at most `limit`: how the
    /// verifier warms its cache at start-up.
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
