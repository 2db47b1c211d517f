//! API keys.

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::time_fmt::Millis;
use sqlx::Row;

use super::rows::record;
use super::{SqliteStore, insert_event, page_limit};
use crate::{
    ApiKeyRecord, AuditEvent, KeyFilter, KeyPatch, KeyStore, NewApiKey, Page, Spend, StoreError, StoreResult,
    UsageCount,
};

/// Inserts a key inside a transaction (bootstrap, rotation).
pub(super) async fn insert_key_tx(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, k: &NewApiKey) -> StoreResult<()> {
    insert(k).execute(&mut **tx).await?;
    Ok(())
}

fn insert(k: &NewApiKey) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    sqlx::query(
        "INSERT INTO api_keys (id, org_id, project_id, name, key_hash, key_prefix, key_hint, environment, kind, \
         scopes, owner_user_id, created_by_user_id, created_by_key_id, rate_limit_per_minute, rate_limit_per_day, \
         expires_at, created_at, updated_at, rotated_from, remaining, refill_amount, refill_interval, refilled_at, \
         surface_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18, $19, $20, $21, $17, \
         $22)",
    )
    .bind(&k.id)
    .bind(&k.org_id)
    .bind(&k.project_id)
    .bind(&k.name)
    .bind(k.hash.as_bytes().as_slice())
    .bind(k.key_prefix.to_string())
    .bind(&k.key_hint)
    .bind(k.environment.as_str())
    .bind(k.kind.as_str())
    .bind(serde_json::to_string(&k.scopes).unwrap_or_else(|_| "[]".to_owned()))
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
}

impl SqliteStore {
    async fn fetch_key<'e, E>(&self, executor: E, org_id: &str, id: &str) -> StoreResult<Option<ApiKeyRecord>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        let row = sqlx::query(concat!(select_keys!(), "WHERE k.org_id = $1 AND k.id = $2"))
            .bind(org_id)
            .bind(id)
            .fetch_optional(executor)
            .await?;
        row.as_ref().map(record).transpose()
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &NewApiKey, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        insert(key).execute(&mut *tx).await?;
        insert_event(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        self.fetch_key(&self.pool, org_id, id).await
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(concat!(select_keys!(), "WHERE k.key_hash = $1"))
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    async fn find_keys_by_hashes(&self, hashes: &[KeyHash]) -> StoreResult<Vec<ApiKeyRecord>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        // One statement whatever the count: the hashes travel as one JSON
        // array of hex strings.
        let hex: Vec<String> = hashes.iter().map(|h| hex::encode(h.as_bytes())).collect();
        let rows = sqlx::query(concat!(select_keys!(), "WHERE k.key_hash IN (SELECT unhex(value) FROM json_each($1))"))
            .bind(serde_json::to_string(&hex).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    async fn list_keys(&self, org_id: &str, filter: &KeyFilter, page: &Page) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(concat!(
            select_keys!(),
            "WHERE k.org_id = $1 AND ($2 IS NULL OR k.owner_user_id = $2) \
             AND ($3 IS NULL OR k.project_id = $3) AND ($4 IS NULL OR k.id < $4) \
             ORDER BY k.id DESC LIMIT $5"
        ))
        .bind(org_id)
        .bind(&filter.owner_user_id)
        .bind(&filter.project_id)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    async fn update_key(
        &self,
        org_id: &str,
        id: &str,
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let n = sqlx::query(
            "UPDATE api_keys SET name = COALESCE($3, name), \
             rate_limit_per_minute = CASE WHEN $4 THEN $5 ELSE rate_limit_per_minute END, \
             rate_limit_per_day = CASE WHEN $6 THEN $7 ELSE rate_limit_per_day END, \
             remaining = CASE WHEN $8 THEN $9 ELSE remaining END, \
             refill_amount = CASE WHEN $10 THEN $11 ELSE refill_amount END, \
             refill_interval = CASE WHEN $10 THEN $12 ELSE refill_interval END, \
             refilled_at = CASE WHEN $8 OR $10 THEN $13 ELSE refilled_at END, \
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
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let rec = self.fetch_key(&mut *tx, org_id, id).await?;
        insert_event(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn spend_credits(
        &self,
        key_id: &str,
        cost: i64,
        now: Millis,
        period_start: Option<Millis>,
    ) -> StoreResult<Spend> {
        // One statement: refill if a new period began, then spend if enough
        // is left. Atomic in both SQLite and PostgreSQL.
        let left: Option<i64> = sqlx::query_scalar(crate::SPEND_CREDITS)
            .bind(key_id)
            .bind(cost)
            .bind(now)
            .bind(period_start)
            .fetch_optional(&self.pool)
            .await?;
        Ok(left.map_or(Spend::Exhausted, Spend::Spent))
    }

    async fn record_usage(&self, batch: &[UsageCount]) -> StoreResult<()> {
        write_usage(&self.usage, batch).await
    }

    async fn key_usage(&self, org_id: &str, key_id: &str, since_day: &str) -> StoreResult<Vec<UsageCount>> {
        let rows = sqlx::query(
            "SELECT u.key_id, u.day, u.outcome, u.count FROM key_usage u JOIN api_keys k ON k.id = u.key_id \
             WHERE k.org_id = $1 AND u.key_id = $2 AND u.day >= $3 ORDER BY u.day, u.outcome",
        )
        .bind(org_id)
        .bind(key_id)
        .bind(since_day)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| UsageCount {
                key_id: r.get("key_id"),
                day: r.get("day"),
                outcome: r.get("outcome"),
                count: r.get("count"),
            })
            .collect())
    }

    async fn revoke_key(
        &self,
        org_id: &str,
        id: &str,
        at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at = CASE WHEN revoked_at IS NOT NULL AND revoked_at <= $3 \
             THEN revoked_at ELSE $3 END, updated_at = $3 WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let rec = self.fetch_key(&mut *tx, org_id, id).await?;
        insert_event(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn rotate_key(
        &self,
        org_id: &str,
        old_id: &str,
        new: &NewApiKey,
        old_revoked_at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Decided under the row's write lock, against the row as committed:
        // a key with any revocation time (a revoke that came first) is not
        // rotated, so the rotation never postpones a revocation.
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at = $3, rotated_to = $4, updated_at = $5 \
             WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL AND rotated_to IS NULL",
        )
        .bind(org_id)
        .bind(old_id)
        .bind(old_revoked_at)
        .bind(&new.id)
        .bind(new.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        insert_key_tx(&mut tx, new).await?;
        // The successor takes over the balance as it is now (spends since
        // the caller read the old key included); the old key spends from it.
        sqlx::query(
            "UPDATE api_keys SET remaining = o.remaining, refilled_at = o.refilled_at \
             FROM (SELECT remaining, refilled_at FROM api_keys WHERE id = $2) o WHERE api_keys.id = $1",
        )
        .bind(&new.id)
        .bind(old_id)
        .execute(&mut *tx)
        .await?;
        let rec = self.fetch_key(&mut *tx, org_id, &new.id).await?;
        insert_event(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn delete_key(&self, org_id: &str, id: &str, event: &AuditEvent) -> StoreResult<Option<KeyHash>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let hash: Option<Vec<u8>> =
            sqlx::query_scalar("DELETE FROM api_keys WHERE org_id = $1 AND id = $2 RETURNING key_hash")
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if hash.is_none() {
            return Ok(None);
        }
        insert_event(&mut *tx, event).await?;
        tx.commit().await?;
        hash.map(|h| KeyHash::from_bytes(&h).ok_or_else(|| StoreError::Corrupt("api_keys.key_hash".into()))).transpose()
    }

    async fn owned_key_hashes(&self, org_id: &str, user_id: &str) -> StoreResult<Vec<KeyHash>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE org_id = $1 AND owner_user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|h| KeyHash::from_bytes(h).ok_or_else(|| StoreError::Corrupt("api_keys.key_hash".to_owned())))
            .collect()
    }

    async fn transfer_key_to_org(
        &self,
        org_id: &str,
        id: &str,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done =
            sqlx::query("UPDATE api_keys SET owner_user_id = NULL, updated_at = $3 WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let rec = self.fetch_key(&mut *tx, org_id, id).await?;
        insert_event(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn usable_keys(&self, after_id: Option<&str>, limit: i64, now: Millis) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(concat!(
            select_keys!(),
            "WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $1) \
             AND ($2 IS NULL OR k.id > $2) ORDER BY k.id LIMIT $3"
        ))
        .bind(now)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    async fn record_last_used(&self, batch: &[(String, Millis)]) -> StoreResult<()> {
        write_last_used(&self.usage, batch).await
    }

    /// One transaction (one commit, one WAL sync) for both: a flush chunk
    /// costs the verifying core one commit instead of two.
    async fn record_key_usage(&self, last_used: &[(String, Millis)], counts: &[UsageCount]) -> StoreResult<()> {
        if last_used.is_empty() || counts.is_empty() {
            write_last_used(&self.usage, last_used).await?;
            return write_usage(&self.usage, counts).await;
        }
        let mut tx = self.usage.begin_with("BEGIN IMMEDIATE").await?;
        write_last_used(&mut *tx, last_used).await?;
        write_usage(&mut *tx, counts).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Adds verification counts: one statement for the whole batch.
async fn write_usage<'c>(
    exec: impl sqlx::Executor<'c, Database = sqlx::Sqlite>,
    batch: &[UsageCount],
) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    // One statement for the whole batch: the rows travel as one JSON array
    // `[[key_id, day, outcome, count], ...]`. Keys deleted meanwhile are
    // skipped (the foreign key would refuse them).
    let rows: Vec<(&str, &str, &str, i64)> =
        batch.iter().map(|u| (u.key_id.as_str(), u.day.as_str(), u.outcome.as_str(), u.count)).collect();
    sqlx::query(
        "INSERT INTO key_usage (key_id, day, outcome, count) \
         SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3 FROM json_each($1) j \
         WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = j.value ->> 0) \
         ON CONFLICT (key_id, day, outcome) DO UPDATE SET count = key_usage.count + excluded.count",
    )
    .bind(serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?)
    .execute(exec)
    .await?;
    Ok(())
}

/// Writes `lastUsedAt` values: one statement for the whole batch.
async fn write_last_used<'c>(
    exec: impl sqlx::Executor<'c, Database = sqlx::Sqlite>,
    batch: &[(String, Millis)],
) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    // One statement for the whole batch (`[[key_id, at_ms], ...]`); a value
    // never moves backwards. A key named twice takes its latest time (an
    // `UPDATE … FROM` with several rows for one target row would use any
    // one of them).
    sqlx::query(
        "UPDATE api_keys SET last_used_at = u.at \
         FROM (SELECT j.value ->> 0 AS id, MAX(j.value ->> 1) AS at FROM json_each($1) j GROUP BY 1) u \
         WHERE api_keys.id = u.id AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < u.at)",
    )
    .bind(serde_json::to_string(batch).map_err(|e| StoreError::Corrupt(e.to_string()))?)
    .execute(exec)
    .await?;
    Ok(())
}
