//! Webhook endpoints, the outbox and deliveries ([`WebhookStore`]).
//!
//! The outbox rows of changes are written by triggers (migration 0013);
//! what is here writes endpoints, test and scheduled events, and the
//! delivery worker's claims and outcomes.

use async_trait::async_trait;
use latchkey_core::id::{OrgId, WebhookDeliveryId, WebhookId};
use latchkey_core::time_fmt::Millis;

use super::{Dialect, ReadRow, SqlStore, Tx, commit, insert_event, page_limit, query};
use crate::{
    AttemptOutcome, AuditEvent, ClaimedDelivery, Delivery, DeliveryAttempt, DeliveryState, NewWebhook, Page,
    SecretRotation, StoreError, StoreResult, Webhook, WebhookEvent, WebhookPatch, WebhookStore,
};

macro_rules! webhook_columns {
    () => {
        "w.id, w.org_id, w.url, w.description, w.events, w.secret, w.secret_version, w.previous_secret, \
         w.previous_until, w.disabled_at, w.failing_since, w.created_by_user_id, w.created_by_key_id, w.created_at, \
         w.updated_at"
    };
}

/// Deliveries with their event's type and their attempts (one row per
/// attempt, or one with NULL attempt columns): callers add `FROM`/`WHERE`.
macro_rules! delivery_columns {
    () => {
        "d.id, d.webhook_id, d.event_id, e.type AS event_type, d.state, d.next_attempt_at, d.created_at, \
         a.n AS attempt_n, a.at AS attempt_at, a.status_code, a.duration_ms, a.error "
    };
}

/// Leases due deliveries (`$1` now, `$2` lease end, `$3` token, `$4`
/// limit); callers close the parenthesis, after `FOR UPDATE SKIP LOCKED`
/// on PostgreSQL: rows another node is claiming are skipped, not waited
/// for (SQLite's write transaction excludes other claims).
macro_rules! claim_deliveries {
    () => {
        "UPDATE webhook_deliveries SET lease_until = $2, lease_token = $3 WHERE id IN (\
         SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_attempt_at LIMIT $4"
    };
}

fn webhook(r: &impl ReadRow) -> StoreResult<Webhook> {
    let events: Vec<String> =
        serde_json::from_str(&r.text("events")?).map_err(|e| StoreError::Corrupt(format!("webhooks.events: {e}")))?;
    Ok(Webhook {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        url: r.text("url")?,
        description: r.opt_text("description")?,
        events,
        secret: r.bytes("secret")?,
        secret_version: r.i64("secret_version")?,
        previous_secret: r.opt_bytes("previous_secret")?,
        previous_until: r.opt_i64("previous_until")?,
        disabled_at: r.opt_i64("disabled_at")?,
        failing_since: r.opt_i64("failing_since")?,
        created_by_user_id: r.opt_id("created_by_user_id")?,
        created_by_key_id: r.opt_id("created_by_key_id")?,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
    })
}

/// Groups rows of [`delivery_columns!`] (ordered by delivery, then
/// attempt) into deliveries.
fn deliveries(rows: &[impl ReadRow]) -> StoreResult<Vec<Delivery>> {
    let mut out: Vec<Delivery> = Vec::new();
    for r in rows {
        let id: WebhookDeliveryId = r.id("id")?;
        if out.last().is_none_or(|d| d.id != id) {
            out.push(Delivery {
                id,
                webhook_id: r.id("webhook_id")?,
                event_id: r.text("event_id")?,
                event_type: r.text("event_type")?,
                state: DeliveryState::parse(&r.text("state")?)
                    .ok_or_else(|| StoreError::Corrupt("webhook_deliveries.state".to_owned()))?,
                next_attempt_at: r.opt_i64("next_attempt_at")?,
                created_at: r.i64("created_at")?,
                attempts: Vec::new(),
            });
        }
        if let (Some(n), Some(last)) = (r.opt_i64("attempt_n")?, out.last_mut()) {
            last.attempts.push(DeliveryAttempt {
                n,
                at: r.i64("attempt_at")?,
                status_code: r.opt_i64("status_code")?,
                duration_ms: r.i64("duration_ms")?,
                error: r.opt_text("error")?,
            });
        }
    }
    Ok(out)
}

fn events_json(events: &[String]) -> String {
    serde_json::Value::from(events.to_vec()).to_string()
}

/// Makes `webhook_subscriptions` say what the endpoint's row says: its
/// events while enabled, nothing while disabled.
async fn sync_subscriptions<D: Dialect>(tx: &mut Tx<D>, id: &WebhookId) -> StoreResult<()> {
    query::<D>("DELETE FROM webhook_subscriptions WHERE webhook_id = $1").bind(id).execute(&mut **tx).await?;
    let row = query::<D>("SELECT org_id, events, disabled_at FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(()) };
    if row.opt_i64("disabled_at")?.is_some() {
        return Ok(());
    }
    let org_id: OrgId = row.id("org_id")?;
    let events: Vec<String> =
        serde_json::from_str(&row.text("events")?).map_err(|e| StoreError::Corrupt(format!("webhooks.events: {e}")))?;
    for event_type in events {
        query::<D>(
            "INSERT INTO webhook_subscriptions (org_id, event_type, webhook_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&org_id)
        .bind(event_type)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn get_in<D: Dialect>(tx: &mut Tx<D>, org_id: &OrgId, id: &WebhookId) -> StoreResult<Option<Webhook>> {
    let row = query::<D>(concat!("SELECT ", webhook_columns!(), " FROM webhooks w WHERE w.org_id = $1 AND w.id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(webhook).transpose()
}

/// Inserts an outbox event (a no-op if its id is there already); the
/// trigger fans it out. Whether it was inserted.
async fn insert_outbox<D: Dialect>(tx: &mut Tx<D>, e: &WebhookEvent, only: Option<&WebhookId>) -> StoreResult<bool> {
    let n = query::<D>(
        "INSERT INTO webhook_events (id, org_id, type, created_at, data, webhook_id) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&e.id)
    .bind(&e.org_id)
    .bind(&e.event_type)
    .bind(e.created_at)
    .bind(&e.data)
    .bind(only)
    .execute(&mut **tx)
    .await?;
    Ok(n > 0)
}

/// What a scheduled event is about, read by [`scheduled`] queries.
struct Due {
    id: String,
    org_id: OrgId,
    key_id: String,
    event_type: &'static str,
    details: serde_json::Value,
}

/// One day, in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// [`expiry_due`]'s statement (`$1` the event type, `$2` and `$3` the
/// expiry window, `$4` the kind in the event's id): the keys of the
/// organizations subscribed to the event that expire in the window and have
/// not had it yet. It seeks on `api_keys_by_expiry (org_id, expires_at)` to
/// the window (migration 0021): the scheduler runs it three times a minute,
/// and without that index it read every key, 0.25 s at a million keys with
/// nothing subscribed, inside a write transaction.
/// Public so that the store suite can read its query plan.
pub const EXPIRY_DUE: &str = "SELECT k.id, k.org_id, k.expires_at FROM api_keys k \
     WHERE k.org_id IN (SELECT org_id FROM webhook_subscriptions WHERE event_type = $1) \
       AND k.expires_at > $2 AND k.expires_at <= $3 AND (k.revoked_at IS NULL OR k.revoked_at > k.expires_at) \
       AND NOT EXISTS (SELECT 1 FROM webhook_events e \
                       WHERE e.id = 'whe_' || k.id || '_' || $4 || '_' || CAST(k.expires_at AS TEXT)) \
     LIMIT 1000";

/// The keys `api_key.expiring` is due for, `days` before their expiry
/// (`days` = 7: between 7 and 1 day before; 1: the last day), and
/// `api_key.expired` (`days` = 0: expired within the last 7 days, not
/// revoked before), in organizations subscribed to the type, not sent yet.
async fn expiry_due<D: Dialect>(tx: &mut Tx<D>, now: Millis, days: i64) -> StoreResult<Vec<Due>> {
    let (event_type, kind, from, to) = match days {
        7 => ("api_key.expiring", "expiring_7d", now + DAY_MS, now + 7 * DAY_MS),
        1 => ("api_key.expiring", "expiring_1d", now, now + DAY_MS),
        _ => ("api_key.expired", "expired", now - 7 * DAY_MS, now),
    };
    let rows = query::<D>(EXPIRY_DUE).bind(event_type).bind(from).bind(to).bind(kind).fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|r| {
            let key_id = r.text("id")?;
            let expires_at = r.i64("expires_at")?;
            Ok(Due {
                id: format!("whe_{key_id}_{kind}_{expires_at}"),
                org_id: r.id("org_id")?,
                details: match days {
                    0 => serde_json::json!({"expiresAt": expires_at}),
                    d => serde_json::json!({"expiresAt": expires_at, "daysBefore": d}),
                },
                key_id,
                event_type,
            })
        })
        .collect()
}

/// The keys `api_key.usage_threshold` is due for: `percent` of their last
/// credit grant spent, not sent yet for that grant.
async fn usage_due<D: Dialect>(tx: &mut Tx<D>, percent: i64) -> StoreResult<Vec<Due>> {
    let rows = query::<D>(
        "SELECT k.id, k.org_id, k.remaining, g.granted, g.granted_at FROM key_credit_grants g \
         JOIN api_keys k ON k.id = g.key_id \
         WHERE g.org_id IN (SELECT org_id FROM webhook_subscriptions WHERE event_type = 'api_key.usage_threshold') \
           AND k.revoked_at IS NULL AND k.remaining IS NOT NULL AND k.remaining * 100 <= g.granted * (100 - $1) \
           AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.id = \
                           'whe_' || k.id || '_usage' || CAST($1 AS TEXT) || '_' || CAST(g.granted_at AS TEXT)) \
         LIMIT 1000",
    )
    .bind(percent)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            let key_id = r.text("id")?;
            let granted_at = r.i64("granted_at")?;
            Ok(Due {
                id: format!("whe_{key_id}_usage{percent}_{granted_at}"),
                org_id: r.id("org_id")?,
                details: serde_json::json!({"percent": percent, "granted": r.i64("granted")?,
                                            "remaining": r.i64("remaining")?}),
                key_id,
                event_type: "api_key.usage_threshold",
            })
        })
        .collect()
}

#[async_trait]
impl<D: Dialect> WebhookStore for SqlStore<D> {
    async fn create_webhook(&self, n: &NewWebhook, event: &AuditEvent) -> StoreResult<Webhook> {
        let mut tx = D::begin_write(&self.pool).await?;
        query::<D>(
            "INSERT INTO webhooks (id, org_id, url, description, events, secret, secret_version, created_by_user_id, \
             created_by_key_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $9)",
        )
        .bind(&n.id)
        .bind(&n.org_id)
        .bind(&n.url)
        .bind(&n.description)
        .bind(events_json(&n.events))
        .bind(&n.secret)
        .bind(&n.created_by_user_id)
        .bind(&n.created_by_key_id)
        .bind(n.at)
        .execute(&mut *tx)
        .await?;
        sync_subscriptions::<D>(&mut tx, &n.id).await?;
        let stored = get_in::<D>(&mut tx, &n.org_id, &n.id).await?.ok_or(StoreError::Corrupt("webhook".into()))?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(stored)
    }

    async fn get_webhook(&self, org_id: &OrgId, id: &WebhookId) -> StoreResult<Option<Webhook>> {
        let row =
            query::<D>(concat!("SELECT ", webhook_columns!(), " FROM webhooks w WHERE w.org_id = $1 AND w.id = $2"))
                .bind(org_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(webhook).transpose()
    }

    async fn list_webhooks(&self, org_id: &OrgId, page: &Page) -> StoreResult<Vec<Webhook>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            webhook_columns!(),
            " FROM webhooks w WHERE w.org_id = $1 AND w.id < coalesce($2, ",
            id_ceiling!(),
            ") ORDER BY w.id DESC LIMIT $3"
        ))
        .bind(org_id)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook).collect()
    }

    async fn update_webhook(
        &self,
        org_id: &OrgId,
        id: &WebhookId,
        p: &WebhookPatch,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Webhook>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let changed = query::<D>(
            "UPDATE webhooks SET url = coalesce($3, url), \
               description = CASE WHEN $4 THEN $5 ELSE description END, \
               events = coalesce($6, events), \
               disabled_at = CASE WHEN $7 IS NULL THEN disabled_at WHEN $7 THEN NULL ELSE coalesce(disabled_at, $8) END, \
               failing_since = CASE WHEN $7 THEN NULL ELSE failing_since END, \
               updated_at = $8 \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .bind(&p.url)
        .bind(p.description.is_some())
        .bind(p.description.as_ref().and_then(Option::as_deref))
        .bind(p.events.as_deref().map(events_json).as_deref())
        .bind(p.enabled)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if changed == 0 {
            return Ok(None);
        }
        sync_subscriptions::<D>(&mut tx, id).await?;
        let stored = get_in::<D>(&mut tx, org_id, id).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(stored)
    }

    async fn delete_webhook(&self, org_id: &OrgId, id: &WebhookId, event: &AuditEvent) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let n = query::<D>("DELETE FROM webhooks WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        super::commit_one::<D>(tx, n, event).await
    }

    async fn rotate_webhook_secret(
        &self,
        org_id: &OrgId,
        id: &WebhookId,
        r: &SecretRotation,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Webhook>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let n = query::<D>(
            "UPDATE webhooks SET previous_secret = secret, previous_until = $4, secret = $5, \
               secret_version = secret_version + 1, updated_at = $6 \
             WHERE org_id = $1 AND id = $2 AND secret_version = $3",
        )
        .bind(org_id)
        .bind(id)
        .bind(r.from_version)
        .bind(r.previous_until)
        .bind(&r.secret)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if n == 0 {
            return Ok(None);
        }
        let stored = get_in::<D>(&mut tx, org_id, id).await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(stored)
    }

    async fn enqueue_webhook_event(&self, e: &WebhookEvent, only: Option<&WebhookId>) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        let inserted = insert_outbox::<D>(&mut tx, e, only).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn list_deliveries(&self, org_id: &OrgId, webhook_id: &WebhookId, page: &Page) -> StoreResult<Vec<Delivery>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            delivery_columns!(),
            "FROM (SELECT * FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2 AND id < coalesce($3, ",
            id_ceiling!(),
            ") ORDER BY id DESC LIMIT $4) d JOIN webhook_events e ON e.id = d.event_id \
             LEFT JOIN webhook_attempts a ON a.delivery_id = d.id ORDER BY d.id DESC, a.n"
        ))
        .bind(org_id)
        .bind(webhook_id)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        deliveries(&rows)
    }

    async fn retry_delivery(
        &self,
        org_id: &OrgId,
        webhook_id: &WebhookId,
        id: &WebhookDeliveryId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Delivery>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let n = query::<D>(
            "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $4, lease_until = NULL, \
               lease_token = NULL, updated_at = $4 \
             WHERE org_id = $1 AND webhook_id = $2 AND id = $3",
        )
        .bind(org_id)
        .bind(webhook_id)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if n == 0 {
            return Ok(None);
        }
        let rows = query::<D>(concat!(
            "SELECT ",
            delivery_columns!(),
            "FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
             LEFT JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.id = $1 ORDER BY d.id, a.n"
        ))
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(deliveries(&rows)?.pop())
    }

    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: u32,
        lease_token: &str,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let claimed = query::<D>(if D::ROW_LOCKS {
            concat!(claim_deliveries!(), " FOR UPDATE SKIP LOCKED)")
        } else {
            concat!(claim_deliveries!(), ")")
        })
        .bind(now)
        .bind(now + lease_ms)
        .bind(lease_token)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?;
        if claimed == 0 {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let rows = query::<D>(concat!(
            "SELECT d.id AS delivery_id, d.attempts, e.id AS event_id, e.type AS event_type, \
             e.created_at AS event_created_at, e.data, ",
            webhook_columns!(),
            " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.lease_token = $1 ORDER BY d.next_attempt_at"
        ))
        .bind(lease_token)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let webhook = webhook(r)?;
                Ok(ClaimedDelivery {
                    id: r.id("delivery_id")?,
                    attempts: r.i64("attempts")?,
                    event: WebhookEvent {
                        id: r.text("event_id")?,
                        org_id: webhook.org_id.clone(),
                        event_type: r.text("event_type")?,
                        created_at: r.i64("event_created_at")?,
                        data: r.text("data")?,
                    },
                    webhook,
                })
            })
            .collect()
    }

    async fn record_attempt(&self, o: &AttemptOutcome) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        if D::ROW_LOCKS {
            // The endpoint first, then its delivery: the order in which
            // deleting an endpoint locks them (its row, then the cascade),
            // so an attempt recorded during a delete waits instead of
            // deadlocking with it.
            query::<D>(
                "SELECT 1 FROM webhooks WHERE id = (SELECT webhook_id FROM webhook_deliveries WHERE id = $1) \
                 FOR UPDATE",
            )
            .bind(&o.delivery_id)
            .fetch_optional(&mut *tx)
            .await?;
        }
        let state = match (o.delivered, o.next_attempt_at) {
            (true, _) => DeliveryState::Delivered,
            (false, Some(_)) => DeliveryState::Pending,
            (false, None) => DeliveryState::Failed,
        };
        let row = query::<D>(
            "UPDATE webhook_deliveries SET state = $3, attempts = attempts + 1, next_attempt_at = $4, \
               lease_until = NULL, lease_token = NULL, updated_at = $5 \
             WHERE id = $1 AND lease_token = $2 RETURNING webhook_id, attempts",
        )
        .bind(&o.delivery_id)
        .bind(&o.lease_token)
        .bind(state.as_str())
        .bind(if o.delivered { None } else { o.next_attempt_at })
        .bind(o.attempt.at + o.attempt.duration_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let webhook_id: WebhookId = row.id("webhook_id")?;
        let a = &o.attempt;
        query::<D>(
            "INSERT INTO webhook_attempts (delivery_id, n, at, status_code, duration_ms, error) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&o.delivery_id)
        .bind(row.i64("attempts")?)
        .bind(a.at)
        .bind(a.status_code)
        .bind(a.duration_ms)
        .bind(&a.error)
        .execute(&mut *tx)
        .await?;
        if o.delivered {
            query::<D>("UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
                .bind(&webhook_id)
                .execute(&mut *tx)
                .await?;
        } else {
            let disabled = query::<D>(
                "UPDATE webhooks SET failing_since = coalesce(failing_since, $2), \
                   disabled_at = CASE WHEN disabled_at IS NULL AND coalesce(failing_since, $2) <= $3 THEN $2 \
                                      ELSE disabled_at END \
                 WHERE id = $1 RETURNING coalesce(disabled_at = $2, false) AS just_disabled",
            )
            .bind(&webhook_id)
            .bind(a.at)
            .bind(o.disable_if_failing_since)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(d) = disabled
                && d.bool("just_disabled")?
            {
                sync_subscriptions::<D>(&mut tx, &webhook_id).await?;
                query::<D>(
                    "UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL \
                     WHERE webhook_id = $1 AND state = 'pending' AND lease_token IS NULL",
                )
                .bind(&webhook_id)
                .execute(&mut *tx)
                .await?;
                insert_event::<D>(&mut *tx, &o.disable_event).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn enqueue_scheduled_events(&self, now: Millis) -> StoreResult<u64> {
        let mut tx = D::begin_write(&self.pool).await?;
        if let Some(lock) = D::SCHEDULER_LOCK {
            // Another node is running the schedule: it writes these.
            if !query::<D>(lock).fetch_one(&mut *tx).await?.bool("locked")? {
                return Ok(0);
            }
        }
        let mut due = Vec::new();
        for days in [7, 1, 0] {
            due.extend(expiry_due::<D>(&mut tx, now, days).await?);
        }
        for percent in [80, 100] {
            due.extend(usage_due::<D>(&mut tx, percent).await?);
        }
        let mut written = 0;
        for d in due {
            let data = serde_json::json!({
                "object": {"type": "api_key", "id": d.key_id},
                "actor": {"type": "system", "id": null},
                "details": d.details,
            });
            let event = WebhookEvent {
                id: d.id,
                org_id: d.org_id,
                event_type: d.event_type.to_owned(),
                created_at: now,
                data: data.to_string(),
            };
            if insert_outbox::<D>(&mut tx, &event, None).await? {
                written += 1;
            }
        }
        tx.commit().await?;
        Ok(written)
    }
}
