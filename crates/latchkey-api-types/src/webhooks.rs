//! `/v1/webhooks`: endpoints that receive an organization's events, signed
//! as the Standard Webhooks specification says, and their deliveries.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::present;

/// `POST /v1/webhooks`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: an `http(s)` URL of at most 2,048
    /// characters, without credentials, whose host is not a loopback,
    /// private, link-local or metadata address (checked again at each
    /// delivery, after DNS resolution).
    #[schema(max_length = 2048)]
    pub url: String,
    /// The event types to receive (at least one, each once): `api_key.created`,
    /// `api_key.rotated`, `api_key.revoked`, `api_key.deleted`,
    /// `api_key.expiring`, `api_key.expired`, `api_key.leaked`,
    /// `api_key.usage_threshold`, `member.joined`, `member.removed`,
    /// `member.role_changed`, `secret.changed`.
    pub events: Vec<String>,
    /// A note for people, at most 255 characters.
    #[serde(default)]
    #[schema(max_length = 255)]
    pub description: Option<String>,
}

/// `PATCH /v1/webhooks/{id}`
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhook {
    /// A new URL (as on create).
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// New event types (as on create).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// A new note; `null` removes it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub description: Option<Option<String>>,
    /// `false` disables the endpoint (nothing is sent to it); `true`
    /// enables it again and forgets its failures.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A webhook endpoint (never its signing secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// `whk_…`
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// A note for people.
    pub description: Option<String>,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// When it was disabled (by request, or after failing for 5 days).
    pub disabled_at: Option<String>,
    /// Since when every attempt has failed (`null` after a success).
    pub failing_since: Option<String>,
    /// Until when the signing secret replaced by the last rotation signs
    /// too (`null`: only the current one signs).
    pub previous_secret_expires_at: Option<String>,
    /// Created (ISO-8601).
    pub created_at: String,
    /// Last changed (ISO-8601).
    pub updated_at: String,
}

/// A webhook endpoint with its signing secret, shown once (create, rotate).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_…`: the signing secret (base64 after the prefix), shown once.
    pub secret: String,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttemptView {
    /// When it started (ISO-8601).
    pub at: String,
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// Why it failed; `null` when delivered.
    pub error: Option<String>,
}

/// A delivery of one event to one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// `whd_…`
    pub id: String,
    /// The event's id: the `webhook-id` header of every attempt.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// When the next attempt is due, while pending (ISO-8601).
    pub next_attempt_at: Option<String>,
    /// Created (ISO-8601).
    pub created_at: String,
    /// The attempts so far, first first.
    pub attempts: Vec<DeliveryAttemptView>,
}

/// `POST /v1/webhooks/{id}/test`: the test event queued for the endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTestView {
    /// The event's id (its `webhook-id`); its type is `webhook.test`.
    pub event_id: String,
}
