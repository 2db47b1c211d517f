//! [`WebhookStore`], in a file of its own (`lib.rs` holds the other traits).

use async_trait::async_trait;
use latchkey_core::id::{OrgId, WebhookDeliveryId, WebhookId};
use latchkey_core::time_fmt::Millis;

use crate::{
    AttemptOutcome, AuditEvent, ClaimedDelivery, Delivery, NewWebhook, Page, SecretRotation, StoreResult, Webhook,
    WebhookEvent, WebhookPatch,
};

/// Webhook endpoints, the outbox of events and their deliveries.
///
/// The outbox is filled by the database itself (migration 0013): every
/// audit event whose action maps to an event type becomes a webhook event,
/// in the transaction that appends it, when an enabled endpoint of its
/// organization subscribes to that type; every webhook event becomes one
/// pending delivery per subscribed endpoint. So a change is stored with its
/// webhook event or not at all, whichever store method made it.
///
/// Deliveries are claimed with a lease ([`WebhookStore::claim_deliveries`]:
/// PostgreSQL `FOR UPDATE SKIP LOCKED`, so one node attempts each) and
/// their outcome recorded under it; a node that dies mid-attempt leaves a
/// lease that expires, and the delivery is attempted again (at least once,
/// with the same event id).
///
/// Every read and change by a person is scoped by organization: another
/// organization's endpoint is `None`.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Creates an endpoint with its subscriptions and appends `event`,
    /// atomically.
    async fn create_webhook(&self, new: &NewWebhook, event: &AuditEvent) -> StoreResult<Webhook>;

    /// An endpoint of `org_id`.
    async fn get_webhook(&self, org_id: &OrgId, id: &WebhookId) -> StoreResult<Option<Webhook>>;

    /// Endpoints of `org_id`, newest first (`page.limit` + 1 at most).
    async fn list_webhooks(&self, org_id: &OrgId, page: &Page) -> StoreResult<Vec<Webhook>>;

    /// Applies `patch` (its subscriptions follow its events and whether it
    /// is enabled) and appends `event`, atomically; `None` if `org_id` has
    /// no such endpoint.
    async fn update_webhook(
        &self,
        org_id: &OrgId,
        id: &WebhookId,
        patch: &WebhookPatch,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Webhook>>;

    /// Deletes an endpoint with its deliveries and appends `event`; `false`
    /// if `org_id` has no such endpoint.
    async fn delete_webhook(&self, org_id: &OrgId, id: &WebhookId, event: &AuditEvent) -> StoreResult<bool>;

    /// Rotates the signing secret ([`SecretRotation`]) and appends `event`;
    /// `None` if `org_id` has no such endpoint or its secret is no longer at
    /// `rotation.from_version` (a concurrent rotation won).
    async fn rotate_webhook_secret(
        &self,
        org_id: &OrgId,
        id: &WebhookId,
        rotation: &SecretRotation,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Webhook>>;

    /// Adds `event` to the outbox unless an event of its id is there
    /// already (then `false`, nothing written): fanned out to the endpoints
    /// subscribed to its type, or to `only` alone (a test event).
    async fn enqueue_webhook_event(&self, event: &WebhookEvent, only: Option<&WebhookId>) -> StoreResult<bool>;

    /// Deliveries to an endpoint of `org_id`, newest first, with their
    /// attempts (`page.limit` + 1 at most).
    async fn list_deliveries(&self, org_id: &OrgId, webhook_id: &WebhookId, page: &Page) -> StoreResult<Vec<Delivery>>;

    /// Makes a delivery due now again (whatever its state) and appends
    /// `event`; `None` if the endpoint of `org_id` has no such delivery.
    async fn retry_delivery(
        &self,
        org_id: &OrgId,
        webhook_id: &WebhookId,
        id: &WebhookDeliveryId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Delivery>>;

    /// Leases up to `limit` deliveries due at `now` whose lease (if any)
    /// has expired, until `now + lease_ms`, under `lease_token`; the
    /// oldest due first. Concurrent claims (other nodes) get others.
    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: u32,
        lease_token: &str,
    ) -> StoreResult<Vec<ClaimedDelivery>>;

    /// Records an attempt under its lease, atomically: the attempt, the
    /// delivery's new state, the endpoint's failing streak, and disabling
    /// it (with its audit event) when it has failed for too long. `false`,
    /// nothing recorded, when the lease was lost.
    async fn record_attempt(&self, outcome: &AttemptOutcome) -> StoreResult<bool>;

    /// Writes the scheduled events due at `now` (the endpoints' organizations
    /// only): `api_key.expiring` 7 days and 1 day before a key's expiry,
    /// `api_key.expired`, `api_key.usage_threshold` at 80 % and 100 % of a
    /// credit grant spent. Each has an id made of what it is about, so
    /// running again (on this node or another, before or after a restart)
    /// writes none twice. Returns how many were written.
    async fn enqueue_scheduled_events(&self, now: Millis) -> StoreResult<u64>;
}
