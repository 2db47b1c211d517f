//! Webhooks: an organization's endpoints, the events of its outbox, and
//! their deliveries with each attempt.

use latchkey_core::id::{KeyId, OrgId, UserId, WebhookDeliveryId, WebhookId};
use latchkey_core::time_fmt::Millis;

use crate::AuditEvent;

/// A webhook endpoint as stored. Its signing secrets are sealed (bound to
/// the organization, the endpoint and the secret's version); they never
/// leave the server but in the response that creates or rotates one.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `whk_…`
    pub id: WebhookId,
    /// Its organization.
    pub org_id: OrgId,
    /// Where events are POSTed.
    pub url: String,
    /// A note for people.
    pub description: Option<String>,
    /// The event types it subscribes to.
    pub events: Vec<String>,
    /// The current signing secret, sealed with version [`Webhook::secret_version`].
    pub secret: Vec<u8>,
    /// The current secret's version (1, then one more per rotation).
    pub secret_version: i64,
    /// The secret before the last rotation, sealed with version - 1.
    pub previous_secret: Option<Vec<u8>>,
    /// Until when the previous secret signs too.
    pub previous_until: Option<Millis>,
    /// When it was disabled (failing for too long, or by request).
    pub disabled_at: Option<Millis>,
    /// Since when every attempt has failed.
    pub failing_since: Option<Millis>,
    /// Who created it.
    pub created_by_user_id: Option<UserId>,
    /// The key that created it.
    pub created_by_key_id: Option<KeyId>,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("events", &self.events)
            .field("secret_version", &self.secret_version)
            .finish_non_exhaustive()
    }
}

/// A new endpoint (its secret's version is 1).
#[derive(Clone)]
pub struct NewWebhook {
    /// `whk_…`
    pub id: WebhookId,
    /// Its organization.
    pub org_id: OrgId,
    /// Where events are POSTed.
    pub url: String,
    /// A note for people.
    pub description: Option<String>,
    /// The event types it subscribes to (known ones, no duplicates).
    pub events: Vec<String>,
    /// The signing secret, sealed with version 1.
    pub secret: Vec<u8>,
    /// Who creates it.
    pub created_by_user_id: Option<UserId>,
    /// The key that creates it.
    pub created_by_key_id: Option<KeyId>,
    /// When.
    pub at: Millis,
}

/// Changes to an endpoint; `None`: unchanged.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    /// A new URL.
    pub url: Option<String>,
    /// A new note (`Some(None)`: none).
    pub description: Option<Option<String>>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// `true` re-enables a disabled endpoint (and forgets its failures),
    /// `false` disables it.
    pub enabled: Option<bool>,
}

/// A signing-secret rotation: the current secret becomes the previous one
/// (signing too until `previous_until`), `secret` the current one.
#[derive(Clone)]
pub struct SecretRotation {
    /// The version the endpoint's secret has now (the rotation is refused
    /// if another one came first).
    pub from_version: i64,
    /// The new secret, sealed with `from_version + 1`.
    pub secret: Vec<u8>,
    /// Until when the replaced secret signs too.
    pub previous_until: Millis,
}

/// An event of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// Its id: the `webhook-id` of every delivery of it.
    pub id: String,
    /// Its organization.
    pub org_id: OrgId,
    /// Its type (`api_key.revoked`, …).
    pub event_type: String,
    /// When it happened.
    pub created_at: Millis,
    /// Its `data`, a JSON object (never a key or a secret value).
    pub data: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Due at `next_attempt_at` (again).
    Pending,
    /// An attempt got a 2xx answer.
    Delivered,
    /// Every attempt of the schedule failed (or the endpoint was disabled).
    Failed,
}

impl DeliveryState {
    /// As stored (and on the wire).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// From its stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed].into_iter().find(|k| k.as_str() == s)
    }
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt.
    pub n: i64,
    /// When it started.
    pub at: Millis,
    /// The endpoint's status code, if it answered.
    pub status_code: Option<i64>,
    /// How long it took.
    pub duration_ms: i64,
    /// Why it failed (no answer, refused address, a non-2xx status).
    pub error: Option<String>,
}

/// A delivery of one event to one endpoint, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `whd_…`
    pub id: WebhookDeliveryId,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// The event (`webhook-id`).
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// When it is due, while pending.
    pub next_attempt_at: Option<Millis>,
    /// Created (when the event was).
    pub created_at: Millis,
    /// The attempts so far, first first.
    pub attempts: Vec<DeliveryAttempt>,
}

/// A delivery a node has claimed (leased), with what it needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// `whd_…`
    pub id: WebhookDeliveryId,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The endpoint.
    pub webhook: Webhook,
    /// The event.
    pub event: WebhookEvent,
}

/// What an attempt came to, to record under the claim's lease.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The delivery.
    pub delivery_id: WebhookDeliveryId,
    /// The lease token of the claim (nothing is recorded without it).
    pub lease_token: String,
    /// The attempt.
    pub attempt: DeliveryAttempt,
    /// Whether it was delivered (a 2xx answer).
    pub delivered: bool,
    /// When to try again; `None` after a failure: the schedule is over.
    pub next_attempt_at: Option<Millis>,
    /// A failed attempt disables the endpoint if it has been failing since
    /// this time or earlier, appending `disable_event` with the change.
    pub disable_if_failing_since: Millis,
    /// The audit event of disabling it (`webhook.disabled`).
    pub disable_event: AuditEvent,
}
