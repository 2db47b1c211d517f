//! `POST /v1/keys/verify`: the request and the verdict.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/keys/verify`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyKey {
    /// The key to verify.
    pub key: String,
    /// Scopes the key must hold.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The project the request is for.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Credits to spend when the key has a budget (default 1).
    #[serde(default)]
    pub cost: Option<i64>,
    /// The client's address as the platform saw it (IPv4 or IPv6), matched
    /// against the key's networks. A key bound to networks verified
    /// without it is `IP_NOT_ALLOWED`.
    #[serde(default)]
    pub ip: Option<String>,
}

/// A verify answer's `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    /// The key may be used.
    Valid,
    /// Not a well-formed key, or its checksum fails.
    Malformed,
    /// No such key (in the caller's organization).
    NotFound,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// Its owner left the organization.
    Disabled,
    /// Lacks a required scope, or belongs to another project.
    InsufficientScope,
    /// Over a rate limit.
    RateLimited,
    /// Out of usage credits.
    UsageExceeded,
    /// Used from an address outside its networks (or with no address).
    IpNotAllowed,
}

/// The answer of `POST /v1/keys/verify` (always 200).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyView {
    /// Whether the key may be used for this request.
    pub valid: bool,
    /// `VALID`, `MALFORMED`, `NOT_FOUND`, `EXPIRED`, `REVOKED`, `DISABLED`,
    /// `INSUFFICIENT_SCOPE`, `RATE_LIMITED`, `USAGE_EXCEEDED` or
    /// `IP_NOT_ALLOWED`.
    #[schema(value_type = VerifyCode)]
    pub code: String,
    /// The key (unless malformed or not found).
    pub key_id: Option<String>,
    /// Its organization.
    pub org_id: Option<String>,
    /// Its project.
    pub project_id: Option<String>,
    /// `live` or `test`.
    pub environment: Option<String>,
    /// Its scopes.
    pub scopes: Option<Vec<String>>,
    /// Its owner.
    pub owner_user_id: Option<String>,
    /// Its expiry.
    pub expires_at: Option<String>,
    /// The most constraining rate-limit window, for limited keys.
    pub ratelimit: Option<RateLimitView>,
    /// Credits left, for keys with a budget.
    pub remaining: Option<i64>,
}

/// Rate-limit state of a key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitView {
    /// Requests per window.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Seconds until the window is full again.
    pub reset: u64,
}
