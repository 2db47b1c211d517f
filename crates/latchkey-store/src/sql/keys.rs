//! API keys.

use async_trait::async_trait;
use latchkey_core::id::{KeyId, OrgId, UserId};
use latchkey_core::time_fmt::Millis;
use latchkey_core::{Environment, KeyHash, KeyState};

use super::key_batch::{self, KeyBatch};
use super::rows::{cidrs_text, key_hash, record};
use super::{Dialect, ReadRow, Runner, SqlStore, Tx, commit, page_limit, query};
use crate::{
    ApiKeyRecord, AuditEvent, DueUnused, GraceEnd, KeyFilter, KeyPatch, KeyStore, NewApiKey, Page, Spend, StoreResult,
    UsageCount,
};

/// The revocation time a key gets when revoked at `$at` (a placeholder):
/// revocation only ever moves `revoked_at` earlier, so an earlier (or
/// equal) time is kept and a later one (a rotation's grace period) is
/// brought forward. One expression for every path that revokes
/// ([`KeyStore::revoke_key`], [`KeyStore::report_leak`]).
macro_rules! revoked_at_by {
    ($at:literal) => {
        concat!("CASE WHEN revoked_at IS NOT NULL AND revoked_at <= ", $at, " THEN revoked_at ELSE ", $at, " END")
    };
}

/// A rotation chain from key `$1` (`chain(id, next, depth)`, at most 64
/// steps): the balance of a rotated key is its chain's end's. One text for
/// [`SPEND_CREDITS`] and [`CREDIT_BALANCE`].
macro_rules! credit_chain {
    () => {
        "WITH RECURSIVE chain(id, next, depth) AS ( \
           SELECT id, rotated_to, 0 FROM api_keys WHERE id = $1 \
           UNION ALL \
           SELECT k.id, k.rotated_to, c.depth + 1 FROM api_keys k JOIN chain c ON k.id = c.next WHERE c.depth < 64) "
    };
}

/// Whether a key's credits are due a refill for the period starting at
/// `$start` (a placeholder; NULL: the key does not refill).
macro_rules! refill_due {
    ($start:literal) => {
        concat!(
            "(",
            $start,
            " IS NOT NULL AND refill_amount IS NOT NULL AND (refilled_at IS NULL OR refilled_at < ",
            $start,
            "))"
        )
    };
}

/// A key's balance for the period starting at `$start`: its refill amount
/// when a refill is due ([`refill_due`]), else what it has left.
macro_rules! balance_for {
    ($start:literal) => {
        concat!("(CASE WHEN ", refill_due!($start), " THEN refill_amount ELSE remaining END)")
    };
}

/// The end of a rotation's wait for its old key to go unused
/// (`unused_ended_at`) when the key is revoked at `$at`: a revocation
/// during the wait ends it, so the rotation sweeper writes no second
/// revocation ([`KeyStore::end_unused_rotation`]).
macro_rules! unused_ended_by {
    ($at:literal) => {
        concat!(
            "CASE WHEN unused_quiet_ms IS NOT NULL AND unused_ended_at IS NULL THEN ",
            $at,
            " ELSE unused_ended_at END"
        )
    };
}

/// [`KeyStore::unused_rotations_due`]' and [`KeyStore::end_unused_rotation`]'s
/// condition at `$now`: a key still waiting to go unused (no revocation
/// came first: its revocation time is still the end of its longest
/// grace), whose stored last use since the rotation (or the rotation
/// itself) is at least its quiet time ago, or whose longest grace has
/// ended.
macro_rules! unused_wait_over {
    ($now:literal) => {
        concat!(
            "unused_quiet_ms IS NOT NULL AND unused_ended_at IS NULL AND revoked_at = unused_max_until \
             AND (revoked_at <= ",
            $now,
            " OR (CASE WHEN last_used_at > unused_since THEN last_used_at ELSE unused_since END) + unused_quiet_ms <= ",
            $now,
            ")"
        )
    };
}

/// Spends `$2` credits at `$3` (refilling first if the last refill is
/// before `$4`) from the balance key `$1` spends from: the end of its
/// rotation chain (the key itself unless rotated). It returns the balance
/// left, or no row when there is not enough (or the chain's end was
/// rotated meanwhile: `rotated_to IS NULL` is re-checked against the locked
/// row, so a balance a rotation has just handed over is never spent twice).
const SPEND_CREDITS: &str = concat!(
    credit_chain!(),
    "UPDATE api_keys SET remaining = ",
    balance_for!("$4"),
    " - $2, refilled_at = CASE WHEN ",
    refill_due!("$4"),
    " THEN $3 ELSE refilled_at END \
     WHERE id = (SELECT id FROM chain WHERE next IS NULL) AND rotated_to IS NULL AND remaining IS NOT NULL AND ",
    balance_for!("$4"),
    " >= $2 RETURNING remaining"
);

/// The balance [`SPEND_CREDITS`] would spend from (`$1` the key, `$2` the
/// period's start), read without a lock or a write.
const CREDIT_BALANCE: &str = concat!(
    credit_chain!(),
    "SELECT ",
    balance_for!("$2"),
    " AS balance FROM api_keys WHERE id = (SELECT id FROM chain WHERE next IS NULL) AND remaining IS NOT NULL"
);

/// [`KeyStore::usable_keys`]' statement (`$1` now, `$2` the id to go on
/// after or NULL, `$3` the page size): pages through every usable key. `k.id > coalesce($2, '')` (every id is above the empty
/// text) seeks on the primary key to where the page starts, on SQLite and in
/// PostgreSQL's generic plan alike, where `($2 IS NULL OR k.id > $2)` made
/// each page scan from the first key (a quadratic warm-up). Public so that
/// the store suite can read its query plan.
pub const USABLE_KEYS: &str = concat!(
    select_keys!(),
    "WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $1) \
     AND k.id > coalesce($2, '') ORDER BY k.id LIMIT $3"
);

/// How finely the warm-up orders keys by their last use: `api_keys.last_used_bucket`
/// is `last_used_at` rounded down to this (ten minutes; migration 0020 filled
/// the existing rows with the same), and only a change of it moves the key in
/// the index `api_keys_by_last_use_bucket (last_used_bucket, id)`, at most once
/// per ten minutes of use, where an index on `last_used_at` moved every key at
/// every usage flush.
pub(crate) const LAST_USE_BUCKET_MS: Millis = 600_000;

/// [`KeyStore::recently_used_keys`]' statement (`$1` now, `$2` the earliest
/// last use, `$3` the earliest bucket, `$4` and `$5` the bucket and id to go
/// on below or NULL, `$6` the page size): the verifier's warm-up. The row
/// value `(last_used_bucket, id)` compared with the page's start
/// (`coalesce` standing in for NULL) seeks on `api_keys_by_last_use_bucket`,
/// on SQLite and in PostgreSQL's generic plan alike; the exact last use is
/// checked on the rows read. Public so that the store suite can read its
/// query plan.
pub const RECENTLY_USED_KEYS: &str = concat!(
    select_keys!(),
    "WHERE k.last_used_bucket >= $3 \
     AND (k.last_used_bucket, k.id) < (coalesce($4, 9223372036854775807), coalesce($5, ",
    id_ceiling!(),
    ")) \
     AND k.last_used_at >= $2 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $1) \
     ORDER BY k.last_used_bucket DESC, k.id DESC LIMIT $6"
);

/// The bucket of a last use ([`LAST_USE_BUCKET_MS`]).
fn last_use_bucket(at: Millis) -> Millis {
    at - at.rem_euclid(LAST_USE_BUCKET_MS)
}

/// `list_keys`' statement, `$like` the dialect's case-insensitive `LIKE`.
/// Each filter is its own `AND` term, so that those over the key's own
/// columns are decided before the owner's rows are joined: the status as
/// `IssuedKey::status` decides it (revocation, then expiry, then a departed
/// owner) is two terms, the time-decided part (`$7`: `revoked`, `expired`
/// or `live`, at `$8`) and the owner's membership (`$9`: whether the owner
/// has left, for `disabled` and `active`). `$4`, the id to go below, is
/// compared with `id_ceiling!` standing in for NULL, so that each page
/// seeks on `api_keys_by_org`.
macro_rules! list_keys_sql {
    ($like:literal) => {
        concat!(
            select_keys!(),
            "WHERE k.org_id = $1 AND ($2 IS NULL OR k.owner_user_id = $2) \
             AND ($3 IS NULL OR k.project_id = $3) AND k.id < coalesce($4, ", id_ceiling!(), ") \
             AND ($6 IS NULL OR k.environment = $6) \
             AND ($7 IS NULL OR (CASE WHEN k.revoked_at <= $8 THEN 'revoked' WHEN k.expires_at <= $8 THEN 'expired' \
                  ELSE 'live' END) = $7) \
             AND ($9 IS NULL OR (k.owner_user_id IS NOT NULL AND m.role IS NULL) = $9) \
             AND ($10 IS NULL OR k.name ",
            $like,
            " $11 ESCAPE '\\' OR k.id = $10 \
                  OR (substr(k.key_prefix, 1, length($12)) = $12 \
                      AND ($13 IS NULL OR (k.key_prefix = $12 AND substr(k.key_hint, 1, length($13)) = $13)))) \
             AND ($14 IS NULL OR k.external_id = $14) \
             ORDER BY k.id DESC LIMIT $5"
        )
    };
}

/// `text` with the `LIKE` wildcards (`%`, `_`) and the escape character
/// (`\`) escaped, to match literally.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A key's scopes as stored: their canonical texts as a JSON array.
pub(super) fn scopes_text(k: &NewApiKey) -> String {
    serde_json::to_string(&k.scopes).unwrap_or_else(|_| "[]".to_owned())
}

/// Inserts a key inside a transaction (bootstrap, rotation, a new key).
pub(super) async fn insert_key<D: Dialect>(tx: &mut Tx<D>, k: &NewApiKey) -> StoreResult<()> {
    let cidrs = cidrs_text(k.allowed_cidrs.as_ref());
    query::<D>(concat!(
        insert_api_keys!(),
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18, $19, $20, $21, \
         $17, $22, $23, $24, $25)"
    ))
    .bind(&k.id)
    .bind(&k.org_id)
    .bind(&k.project_id)
    .bind(&k.name)
    .bind(k.hash.as_bytes().as_slice())
    .bind(k.key_prefix.to_string())
    .bind(&k.key_hint)
    .bind(k.environment.as_str())
    .bind(k.kind.as_str())
    .bind(scopes_text(k))
    .bind(&k.owner_user_id)
    .bind(&k.created_by_user_id)
    .bind(&k.created_by_key_id)
    .bind(k.rate_limit_per_minute)
    .bind(k.rate_limit_per_day)
    .bind(k.expires_at)
    .bind(k.created_at)
    .bind(&k.rotated_from)
    .bind(k.remaining)
    .bind(k.refill.map(|r| r.amount))
    .bind(k.refill.map(|r| r.interval.as_str()))
    .bind(&k.surface_id)
    .bind(&cidrs)
    .bind(k.key_prefix.prefix().is_none())
    .bind(&k.external_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A key of `org_id` with its owner, read on `on`.
async fn fetch_key<D: Dialect>(on: impl Runner<D>, org_id: &OrgId, id: &KeyId) -> StoreResult<Option<ApiKeyRecord>> {
    let row = query::<D>(concat!(select_keys!(), "WHERE k.org_id = $1 AND k.id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(on)
        .await?;
    row.as_ref().map(record).transpose()
}

impl<D: Dialect> SqlStore<D> {
    /// Whether `key_id` has been rotated (so its balance lives, or has just
    /// moved, further down its rotation chain).
    async fn is_rotated(&self, key_id: &KeyId) -> StoreResult<bool> {
        let row =
            query::<D>("SELECT rotated_to FROM api_keys WHERE id = $1").bind(key_id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.opt_text("rotated_to")).transpose()?.flatten().is_some())
    }

    /// Runs a key change that updates one row (`change`, binding `org_id`
    /// and `id` as `$1` and `$2`): the key as changed, with `event`, or
    /// `None` (nothing changed) if there is no such key.
    async fn change_key(
        &self,
        change: super::Query<D>,
        org_id: &OrgId,
        id: &KeyId,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let mut tx = D::begin_write(&self.pool).await?;
        if change.execute(&mut *tx).await? == 0 {
            return Ok(None);
        }
        let rec = fetch_key::<D>(&mut *tx, org_id, id).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(rec)
    }
}

#[async_trait]
impl<D: Dialect> KeyStore for SqlStore<D> {
    async fn insert_key(&self, key: &NewApiKey, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        insert_key::<D>(&mut tx, key).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn insert_keys(&self, keys: &[NewApiKey], events: &[AuditEvent]) -> StoreResult<Vec<ApiKeyRecord>> {
        if keys.is_empty() && events.is_empty() {
            return Ok(Vec::new());
        }
        let owners = D::insert_key_batch(self, KeyBatch::new(keys, events)?).await?;
        key_batch::records(keys, &owners)
    }

    async fn get_key(&self, org_id: &OrgId, id: &KeyId) -> StoreResult<Option<ApiKeyRecord>> {
        fetch_key::<D>(&self.pool, org_id, id).await
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> StoreResult<Option<ApiKeyRecord>> {
        let row = query::<D>(concat!(select_keys!(), "WHERE k.key_hash = $1"))
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    async fn find_keys_by_hashes(&self, hashes: &[KeyHash]) -> StoreResult<Vec<ApiKeyRecord>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        D::find_keys_by_hashes(self, hashes).await
    }

    async fn list_keys(&self, org_id: &OrgId, filter: &KeyFilter, page: &Page) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = if D::ILIKE { list_keys_sql!("ILIKE") } else { list_keys_sql!("LIKE") };
        // The status: its time-decided part, and whether the owner has left.
        let (by_time, departed) = match filter.status.map(|s| s.status) {
            None => (None, None),
            Some(KeyState::Revoked) => (Some("revoked"), None),
            Some(KeyState::Expired) => (Some("expired"), None),
            Some(KeyState::Valid) => (Some("live"), Some(false)),
            Some(KeyState::Disabled) => (Some("live"), Some(true)),
            // A state no key's status can be matches no key.
            Some(_) => (Some(""), None),
        };
        let search = filter.search.as_deref();
        // A shown key (`lk_live_AbCd…wxyz`) is matched from its start: the
        // prefix up to `…`, then the hint.
        let (shown_prefix, shown_hint) = match search.map(|s| s.split_once('…')) {
            Some(Some((prefix, hint))) => (Some(prefix), Some(hint)),
            Some(None) => (search, None),
            None => (None, None),
        };
        let rows = query::<D>(sql)
            .bind(org_id)
            .bind(&filter.owner_user_id)
            .bind(&filter.project_id)
            .bind(&page.before)
            .bind(page_limit(page) + 1)
            .bind(filter.environment.map(Environment::as_str))
            .bind(by_time)
            .bind(filter.status.map(|s| s.at))
            .bind(departed)
            .bind(search)
            .bind(&search.map(|s| format!("%{}%", like_escaped(s))))
            .bind(shown_prefix)
            .bind(shown_hint)
            .bind(&filter.external_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    async fn update_key(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        patch: &KeyPatch,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        // Each optional field: a "set?" flag and the new value (NULL clears).
        fn part<T: Copy>(v: Option<Option<T>>) -> (bool, Option<T>) {
            (v.is_some(), v.flatten())
        }
        let (set_rpm, rpm) = part(patch.rate_limit_per_minute);
        let (set_rpd, rpd) = part(patch.rate_limit_per_day);
        let (set_rem, rem) = part(patch.remaining);
        let (set_refill, refill) = part(patch.refill);
        let set_cidrs = patch.allowed_cidrs.is_some();
        let cidrs = cidrs_text(patch.allowed_cidrs.as_ref().and_then(Option::as_ref));
        let change = query::<D>(
            "UPDATE api_keys SET name = COALESCE($3, name), \
             rate_limit_per_minute = CASE WHEN $4 THEN $5 ELSE rate_limit_per_minute END, \
             rate_limit_per_day = CASE WHEN $6 THEN $7 ELSE rate_limit_per_day END, \
             remaining = CASE WHEN $8 THEN $9 ELSE remaining END, \
             refill_amount = CASE WHEN $10 THEN $11 ELSE refill_amount END, \
             refill_interval = CASE WHEN $10 THEN $12 ELSE refill_interval END, \
             refilled_at = CASE WHEN $8 OR $10 THEN $13 ELSE refilled_at END, \
             allowed_cidrs = CASE WHEN $14 THEN $15 ELSE allowed_cidrs END, \
             updated_at = $13 WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .bind(&patch.name)
        .bind(set_rpm)
        .bind(rpm)
        .bind(set_rpd)
        .bind(rpd)
        .bind(set_rem)
        .bind(rem)
        .bind(set_refill)
        .bind(refill.map(|r| r.amount))
        .bind(refill.map(|r| r.interval.as_str()))
        .bind(now)
        .bind(set_cidrs)
        .bind(&cidrs);
        self.change_key(change, org_id, id, event).await
    }

    async fn spend_credits(
        &self,
        key_id: &KeyId,
        cost: i64,
        now: Millis,
        period_start: Option<Millis>,
    ) -> StoreResult<Spend> {
        // One statement: refill if a new period began, then spend if enough
        // is left. On PostgreSQL a concurrent spend makes it wait for the
        // row, after which PostgreSQL re-evaluates the condition and the new
        // balance against the row as the other spend left it (SQLite runs
        // one writer at a time): exact under any concurrency. A rotation of
        // the balance's key that commits while this statement waits makes it
        // find no row (the balance moved to the successor): for a rotated
        // key, another attempt, on a new snapshot, follows the chain to it
        // (a key never rotated is simply exhausted).
        for _ in 0..3 {
            let row = query::<D>(SPEND_CREDITS)
                .bind(key_id)
                .bind(cost)
                .bind(now)
                .bind(period_start)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = row {
                return Ok(Spend::Spent(row.i64("remaining")?));
            }
            if !self.is_rotated(key_id).await? {
                break;
            }
        }
        Ok(Spend::Exhausted)
    }

    async fn credit_balance(&self, key_id: &KeyId, period_start: Option<Millis>) -> StoreResult<Option<i64>> {
        let row = query::<D>(CREDIT_BALANCE).bind(key_id).bind(period_start).fetch_optional(&self.pool).await?;
        row.map(|r| r.i64("balance")).transpose()
    }

    async fn record_usage(&self, batch: &[UsageCount]) -> StoreResult<()> {
        self.record_key_usage(&[], batch).await
    }

    async fn key_usage(&self, org_id: &OrgId, key_id: &KeyId, since_day: &str) -> StoreResult<Vec<UsageCount>> {
        let rows = query::<D>(
            "SELECT u.key_id, u.day, u.outcome, u.count FROM key_usage u JOIN api_keys k ON k.id = u.key_id \
             WHERE k.org_id = $1 AND u.key_id = $2 AND u.day >= $3 ORDER BY u.day, u.outcome",
        )
        .bind(org_id)
        .bind(key_id)
        .bind(since_day)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UsageCount {
                    key_id: r.id("key_id")?,
                    day: r.text("day")?,
                    outcome: r.text("outcome")?,
                    count: r.i64("count")?,
                })
            })
            .collect()
    }

    async fn revoke_key(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let change = query::<D>(concat!(
            "UPDATE api_keys SET revoked_at = ",
            revoked_at_by!("$3"),
            ", unused_ended_at = ",
            unused_ended_by!("$3"),
            ", updated_at = $3 WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .bind(at);
        self.change_key(change, org_id, id, event).await
    }

    async fn report_leak(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        at: Millis,
        revoke: bool,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let change = query::<D>(concat!(
            "UPDATE api_keys SET leaked_at = COALESCE(leaked_at, $3), revoked_at = CASE WHEN $4 THEN ",
            revoked_at_by!("$3"),
            " ELSE revoked_at END, unused_ended_at = CASE WHEN $4 THEN ",
            unused_ended_by!("$3"),
            " ELSE unused_ended_at END, updated_at = $3 WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .bind(at)
        .bind(revoke);
        self.change_key(change, org_id, id, event).await
    }

    async fn rotate_key(
        &self,
        org_id: &OrgId,
        old_id: &KeyId,
        new: &NewApiKey,
        old_end: GraceEnd,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let mut tx = D::begin_write(&self.pool).await?;
        // Decided under the row's write lock, against the row as committed:
        // a key with any revocation time (a revoke that came first) is not
        // rotated, so the rotation never postpones a revocation. A wait
        // until unused begins now and ends at the latest at its revocation
        // time.
        let quiet_ms = match old_end {
            GraceEnd::At(_) => None,
            GraceEnd::WhenUnused { quiet_ms, .. } => Some(quiet_ms),
        };
        let n = query::<D>(
            "UPDATE api_keys SET revoked_at = $3, rotated_to = $4, updated_at = $5, unused_quiet_ms = $6, \
             unused_since = CASE WHEN $6 IS NULL THEN NULL ELSE $5 END, \
             unused_max_until = CASE WHEN $6 IS NULL THEN NULL ELSE $3 END \
             WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL AND rotated_to IS NULL",
        )
        .bind(org_id)
        .bind(old_id)
        .bind(old_end.revoked_at())
        .bind(&new.id)
        .bind(new.created_at)
        .bind(quiet_ms)
        .execute(&mut *tx)
        .await?;
        if n == 0 {
            return Ok(None);
        }
        insert_key::<D>(&mut tx, new).await?;
        // The successor takes over the balance as it is now (spends since
        // the caller read the old key included); the old key spends from it.
        query::<D>(
            "UPDATE api_keys SET remaining = o.remaining, refilled_at = o.refilled_at \
             FROM (SELECT remaining, refilled_at FROM api_keys WHERE id = $2) o WHERE api_keys.id = $1",
        )
        .bind(&new.id)
        .bind(old_id)
        .execute(&mut *tx)
        .await?;
        let rec = fetch_key::<D>(&mut *tx, org_id, &new.id).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(rec)
    }

    async fn unused_rotations_due(&self, now: Millis, limit: i64) -> StoreResult<Vec<DueUnused>> {
        let rows = query::<D>(concat!(
            "SELECT id, org_id, key_hash FROM api_keys WHERE ",
            unused_wait_over!("$1"),
            " ORDER BY unused_max_until LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueUnused { id: r.id("id")?, org_id: r.id("org_id")?, hash: key_hash(r, "key_hash", "api_keys")? })
            })
            .collect()
    }

    async fn end_unused_rotation(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        now: Millis,
        event: &(dyn for<'k> Fn(&'k ApiKeyRecord) -> AuditEvent + Send + Sync),
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let mut tx = D::begin_write(&self.pool).await?;
        // On PostgreSQL a concurrent end (another node's sweeper) or
        // revocation makes this statement wait for the row, then re-check
        // the condition against the row as that one left it: one winner.
        let n = query::<D>(concat!(
            "UPDATE api_keys SET revoked_at = CASE WHEN revoked_at <= $3 THEN revoked_at ELSE $3 END, \
             unused_ended_at = $3, updated_at = $3 WHERE org_id = $1 AND id = $2 AND ",
            unused_wait_over!("$3")
        ))
        .bind(org_id)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if n == 0 {
            return Ok(None);
        }
        let Some(rec) = fetch_key::<D>(&mut *tx, org_id, id).await? else { return Ok(None) };
        commit::<D>(tx, &[event(&rec)]).await?;
        Ok(Some(rec))
    }

    async fn delete_key(&self, org_id: &OrgId, id: &KeyId, event: &AuditEvent) -> StoreResult<Option<KeyHash>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let row = query::<D>("DELETE FROM api_keys WHERE org_id = $1 AND id = $2 RETURNING key_hash")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        key_hash(&row, "key_hash", "api_keys").map(Some)
    }

    async fn owned_key_hashes(&self, org_id: &OrgId, user_id: &UserId) -> StoreResult<Vec<KeyHash>> {
        let rows = query::<D>("SELECT key_hash FROM api_keys WHERE org_id = $1 AND owner_user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| key_hash(r, "key_hash", "api_keys")).collect()
    }

    async fn orgs_with_imported_keys(&self) -> StoreResult<Vec<OrgId>> {
        // `= TRUE` as the partial index `api_keys_imported` says it, so
        // that both dialects answer from that index.
        let rows =
            query::<D>("SELECT DISTINCT org_id FROM api_keys WHERE imported = TRUE").fetch_all(&self.pool).await?;
        rows.iter().map(|r| r.id("org_id")).collect()
    }

    async fn transfer_key_to_org(
        &self,
        org_id: &OrgId,
        id: &KeyId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let change =
            query::<D>("UPDATE api_keys SET owner_user_id = NULL, updated_at = $3 WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .bind(now);
        self.change_key(change, org_id, id, event).await
    }

    async fn usable_keys(&self, after_id: Option<&KeyId>, limit: i64, now: Millis) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = query::<D>(USABLE_KEYS).bind(now).bind(after_id).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(record).collect()
    }

    async fn recently_used_keys(
        &self,
        since: Millis,
        below: Option<(Millis, &KeyId)>,
        limit: i64,
        now: Millis,
    ) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = query::<D>(RECENTLY_USED_KEYS)
            .bind(now)
            .bind(since)
            .bind(last_use_bucket(since))
            .bind(below.map(|(t, _)| last_use_bucket(t)))
            .bind(below.map(|(_, id)| id))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    async fn record_last_used(&self, batch: &[(KeyId, Millis)]) -> StoreResult<()> {
        self.record_key_usage(batch, &[]).await
    }

    fn usage_batching(&self) -> crate::UsageBatching {
        D::USAGE_BATCHING
    }

    /// One transaction on the usage pool ([`Dialect::usage_pool`]): one
    /// commit for both.
    async fn record_key_usage(&self, last_used: &[(KeyId, Millis)], counts: &[UsageCount]) -> StoreResult<()> {
        if last_used.is_empty() && counts.is_empty() {
            return Ok(());
        }
        let mut tx = D::begin_write(D::usage_pool(self)).await?;
        D::write_key_usage(&mut tx, last_used, counts).await?;
        tx.commit().await?;
        Ok(())
    }

    /// On the main pool (on SQLite the one whose commits wait for `fsync`:
    /// once a spill's file is removed, its chunks must have survived a
    /// power cut). The chunk's row is inserted first: on PostgreSQL a
    /// replay of the same chunk elsewhere waits for this transaction, then
    /// finds the row and writes nothing.
    async fn replay_usage_chunk(
        &self,
        spill: &str,
        chunk: i64,
        now: Millis,
        last_used: &[(KeyId, Millis)],
        counts: &[UsageCount],
    ) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let fresh = query::<D>(
            "INSERT INTO usage_spill_chunks (spill, chunk, applied_at) VALUES ($1, $2, $3) \
             ON CONFLICT (spill, chunk) DO NOTHING",
        )
        .bind(spill)
        .bind(chunk)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if fresh == 0 {
            return Ok(false);
        }
        D::write_key_usage(&mut tx, last_used, counts).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn forget_usage_spill(&self, spill: &str) -> StoreResult<()> {
        query::<D>("DELETE FROM usage_spill_chunks WHERE spill = $1").bind(spill).execute(&self.pool).await?;
        Ok(())
    }
}
