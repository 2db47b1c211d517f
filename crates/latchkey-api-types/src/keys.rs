//! `/v1/api-keys`: creating, changing, rotating and transferring keys, their
//! view and their daily usage.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{RefView, present};

/// `POST /v1/api-keys`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKey {
    /// Display name, 1–255 characters.
    #[schema(value_type = crate::constraints::Name)]
    pub name: String,
    /// Scopes; empty means `["*"]`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime such as `30d`, `90d`, `1y`, `12h`.
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::Duration>)]
    pub expires_in: Option<String>,
    /// Absolute expiry (RFC 3339); exclusive with `expiresIn`.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// `true` mints a `…_test_` key.
    #[serde(default)]
    pub is_test: bool,
    /// Project of the caller's organization.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Requests per minute (≥ 1), enforced on verify and on every request.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub rate_limit_per_minute: Option<i64>,
    /// Requests per day (≥ 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub rate_limit_per_day: Option<i64>,
    /// Usage credits (≥ 0): each valid verify spends one (or `cost`).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000.0)]
    pub remaining: Option<i64>,
    /// Periodic refill of the credits.
    #[serde(default)]
    pub refill: Option<RefillView>,
    /// `user` (default: the key stops working when its owner leaves) or
    /// `org` (admins only: it outlives its creator's membership).
    #[serde(default)]
    pub owner: KeyOwner,
    /// The networks the key may be used from (CIDR such as `203.0.113.0/24`
    /// or `2001:db8::/32`, or an address), at most 100; absent or `null`:
    /// the organization policy's, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    pub allowed_cidrs: Option<Vec<String>>,
}

/// Most keys one `POST /v1/api-keys/batch` creates.
pub const MAX_BATCH_KEYS: usize = 1_000;

/// `POST /v1/api-keys/batch`: 1–1,000 keys, each as `POST /v1/api-keys`
/// takes it, created all together or not at all.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeys {
    /// The keys, in the order the answer lists them.
    #[schema(min_items = 1, max_items = 1000)]
    pub keys: Vec<CreateApiKey>,
}

/// A credit refill: `remaining` is set back to `amount` every day or month
/// (00:00 UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefillView {
    /// Credits after a refill (≥ 1).
    #[schema(minimum = 1, maximum = 1_000_000_000_000.0)]
    pub amount: i64,
    /// `daily` or `monthly`.
    pub interval: RefillIntervalView,
}

/// Refill interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefillIntervalView {
    /// Every day at 00:00 UTC.
    Daily,
    /// On the first of every month at 00:00 UTC.
    Monthly,
}

/// `PATCH /v1/api-keys/{id}`: absent fields are kept, `null` clears.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateApiKey {
    /// New display name.
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::Name>)]
    pub name: Option<String>,
    /// New per-minute limit (`null`: unlimited).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub rate_limit_per_minute: Option<Option<i64>>,
    /// New per-day limit (`null`: unlimited).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub rate_limit_per_day: Option<Option<i64>>,
    /// New credit balance (`null`: no credit budget).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000.0)]
    pub remaining: Option<Option<i64>>,
    /// New refill (`null`: none).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub refill: Option<Option<RefillView>>,
    /// New networks the key may be used from, at most 100 (`null`: the
    /// organization policy's, if any).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    pub allowed_cidrs: Option<Option<Vec<String>>>,
}

/// `POST /v1/api-keys/{id}/rotate`
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateApiKey {
    /// Name of the new key (default: the old key's name).
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::Name>)]
    pub name: Option<String>,
    /// How long the old key keeps working: a duration (`24h`, at most
    /// `30d`), or `until-unused`: until it has not been used for
    /// `quietFor` since the rotation, and at the latest for `maxGrace`.
    /// Default: revoked now.
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::GracePeriod>)]
    pub grace_period: Option<String>,
    /// With `gracePeriod: "until-unused"`: the longest the old key keeps
    /// working, used or not (at most `30d`; default `7d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::constraints::Duration>)]
    pub max_grace: Option<String>,
    /// With `gracePeriod: "until-unused"`: how long without a use (since
    /// the rotation) ends the wait; from the server's minimum (`5m` by
    /// default) to `maxGrace`; default `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::constraints::Duration>)]
    pub quiet_for: Option<String>,
}

/// The `gracePeriod` of a rotation that waits for the old key to go unused.
pub const UNTIL_UNUSED: &str = "until-unused";

/// The wait of a key rotated `gracePeriod: "until-unused"` (shown on the
/// old key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UntilUnusedView {
    /// How long without a use ends the wait (`1h`).
    pub quiet_for: String,
    /// When the wait began: the rotation.
    pub since: String,
    /// When the key stops working at the latest, used or not (the end of
    /// `maxGrace`).
    pub max_grace_ends_at: String,
    /// When the wait ended (revoked as unused, at the end of `maxGrace`, or
    /// by a revocation meanwhile); `null` while it lasts.
    pub ended_at: Option<String>,
}

/// An API key as the API shows it. `key` is present only in the create and
/// rotate responses.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// `key_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Prefix plus the first 4 body characters (an imported key: the
    /// prefix its import gave, possibly empty).
    pub key_prefix: String,
    /// Last 4 characters (an imported key: empty).
    pub key_hint: String,
    /// Canonical scopes.
    pub scopes: Vec<String>,
    /// Project, if any.
    pub project_id: Option<String>,
    /// `live` or `test`.
    pub environment: String,
    /// Expiry.
    pub expires_at: Option<String>,
    /// Last successful use (batched; may lag a few seconds).
    pub last_used_at: Option<String>,
    /// Revocation time (in the future during a rotation grace period).
    pub revoked_at: Option<String>,
    /// When the key was first reported leaked (by a secret scanner's
    /// report, `POST /v1/leaks`, or an admin's, `POST
    /// /v1/api-keys/{id}/report-leak`); `null` if never. A key of an
    /// organization whose `leakAction` is `flag` keeps working with it set.
    #[serde(default)]
    pub leaked_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// `active`, `expired`, `revoked` or `disabled`.
    pub status: String,
    /// Owning member.
    pub owner_user_id: Option<String>,
    /// Owner's display name.
    pub owner_display_name: Option<String>,
    /// Owner's email.
    pub owner_email: Option<String>,
    /// The key this one replaced.
    pub rotated_from: Option<String>,
    /// The key that replaced this one.
    pub rotated_to: Option<String>,
    /// Requests per minute, if limited.
    pub rate_limit_per_minute: Option<i64>,
    /// Requests per day, if limited.
    pub rate_limit_per_day: Option<i64>,
    /// Usage credits left (as last read; `null`: no credit budget).
    pub remaining: Option<i64>,
    /// Credit refill.
    pub refill: Option<RefillView>,
    /// `user` or `org`.
    pub owner: KeyOwner,
    /// Who created it (`user` or `key`), kept when ownership moves.
    pub created_by: Option<RefView>,
    /// `standard`, or `restricted` (a Runloop `rk_` key).
    pub kind: String,
    /// The Runtype surface the key belongs to (surface keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surface_id: Option<String>,
    /// A key rotated until unused: its last successful use since the
    /// rotation (batched, as `lastUsedAt`; `null` if unused since, or not
    /// rotated so).
    #[serde(default)]
    pub last_used_since_rotation_at: Option<String>,
    /// A key rotated until unused: its wait (absent for other keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_unused: Option<UntilUnusedView>,
    /// The key's own networks (absent: the organization policy's apply, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_cidrs: Option<Vec<String>>,
    /// Whether the key was imported from another system by its hash
    /// (`POST /v1/api-keys/import`) rather than minted here: its
    /// `keyPrefix` is what the import gave and its `keyHint` is empty.
    #[serde(default)]
    pub imported: bool,
    /// The key's id in the system it was imported from (imported keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The plaintext key: create and rotate responses only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `POST /v1/api-keys/{id}/transfer`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferApiKey {
    /// Only `org`.
    #[schema(value_type = crate::constraints::TransferTarget)]
    pub to: String,
}

/// Who owns a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyOwner {
    /// A member: the key stops working when they leave.
    #[default]
    User,
    /// The organization: the key outlives its creator's membership.
    Org,
}

/// A key's lifecycle status, as `GET /v1/api-keys?status=` filters by it
/// (a key's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked (at once, or at the end of a rotation's grace period).
    Revoked,
    /// Its owner is no longer a member of the organization.
    Disabled,
}

impl KeyStatus {
    /// Every status, in this order.
    pub const ALL: [Self; 4] = [Self::Active, Self::Expired, Self::Revoked, Self::Disabled];

    /// The wire form (`active`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Disabled => "disabled",
        }
    }
}

/// A key's environment, as `GET /v1/api-keys?environment=` filters by it
/// (a key's `environment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyEnvironment {
    /// `…_live_…` keys.
    Live,
    /// `…_test_…` keys.
    Test,
}

impl KeyEnvironment {
    /// Both environments, in this order.
    pub const ALL: [Self; 2] = [Self::Live, Self::Test];

    /// The wire form (`live`, `test`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

/// One day of `GET /v1/api-keys/{id}/usage`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageDayView {
    /// UTC date `YYYY-MM-DD`.
    pub date: String,
    /// Verifications by outcome code (only codes that occurred).
    pub counts: std::collections::BTreeMap<String, i64>,
    /// Sum of `counts`.
    pub total: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<CreateApiKey>(r#"{"name":"a","admin":true}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `admin`"), "{err}");
    }

    #[test]
    fn documented_create_body_parses() {
        let body = r#"{"name":"ci","scopes":["sandbox:create"],"expiresIn":"30d","isTest":false,
                       "projectId":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}"#;
        let req: CreateApiKey = serde_json::from_str(body).unwrap();
        assert_eq!(req.scopes, vec!["sandbox:create"]);
        assert_eq!(req.expires_in.as_deref(), Some("30d"));
    }
}
