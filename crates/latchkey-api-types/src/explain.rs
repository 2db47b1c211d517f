//! `POST /v1/keys/explain`: what a key can do, and why, without using it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{KeyStatus, RateLimitView, RefillView, VerifyCode};

/// `POST /v1/keys/explain`: the key by its plaintext (`key`) or its id
/// (`keyId`), one of the two; with `scopes`, `projectId` or `ip` the answer
/// also says what `POST /v1/keys/verify` would answer for them.
#[derive(Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExplainKey {
    /// The key's plaintext, never echoed or logged (or `keyId`).
    #[serde(default)]
    pub key: Option<String>,
    /// The key's id (`key_…`), instead of `key`: admins name any key of the
    /// organization, members their own.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Scopes a request would need (at most 100).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub scopes: Vec<String>,
    /// The project a request would be for.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The client's address a request would come from (IPv4 or IPv6).
    #[serde(default)]
    pub ip: Option<String>,
}

impl std::fmt::Debug for ExplainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplainKey")
            .field("key", &self.key.as_ref().map(|_| "…"))
            .field("key_id", &self.key_id)
            .field("scopes", &self.scopes)
            .field("project_id", &self.project_id)
            .field("ip", &self.ip)
            .finish()
    }
}

/// The answer of `POST /v1/keys/explain`: the key as it stands, what each
/// permission of the catalog is for it and why, its limits' current
/// windows, credits, networks and compliance with the organization's key
/// policy. Reading it counts nothing and spends nothing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExplainView {
    /// `key_…`
    pub key_id: String,
    /// Display name.
    pub name: String,
    /// Prefix plus the first 4 body characters.
    pub key_prefix: String,
    /// Last 4 characters.
    pub key_hint: String,
    /// `live` or `test`.
    pub environment: String,
    /// Its lifecycle status now: `active`, `expired`, `revoked` or
    /// `disabled`.
    #[schema(value_type = KeyStatus)]
    pub status: String,
    /// The scopes it holds (before its owner's role bounds them).
    pub scopes: Vec<String>,
    /// The project it is bound to.
    pub project_id: Option<String>,
    /// Its owner (`null`: the organization).
    pub owner_user_id: Option<String>,
    /// The owner's role now (`admin`, `member`; `null` for an organization's
    /// key, or an owner who left): the ceiling of what the key may do.
    pub owner_role: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Expiry.
    pub expires_at: Option<String>,
    /// Revocation time (past: revoked; future: the end of a rotation's
    /// grace period).
    pub revoked_at: Option<String>,
    /// Until when it works as a rotated key in its grace period; `null`
    /// otherwise.
    pub grace_ends_at: Option<String>,
    /// When it was reported leaked, if ever.
    pub leaked_at: Option<String>,
    /// The key this one replaced.
    pub rotated_from: Option<String>,
    /// The key that replaced it.
    pub rotated_to: Option<String>,
    /// Every permission of the catalog (`resource:action`), allowed or not
    /// for a request with the `projectId` and `ip` asked about, and why.
    pub permissions: Vec<PermissionView>,
    /// Its rate limits and their current windows.
    pub limits: LimitsView,
    /// Its credit budget, if it has one.
    pub credits: Option<CreditsView>,
    /// Its networks, and whether the `ip` asked about is inside them.
    pub network: NetworkView,
    /// Whether it keeps the organization's current key policy.
    pub policy: ComplianceView,
    /// What `POST /v1/keys/verify` would answer with the `scopes`,
    /// `projectId` and `ip` asked about (cost 1); `null` when none was.
    pub verdict: Option<VerdictView>,
}

/// One permission of the catalog for a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionView {
    /// `resource:action`.
    pub permission: String,
    /// Whether a request needing it would pass the key's grants.
    pub allowed: bool,
    /// Why not (`null` when allowed).
    pub reason: Option<PermissionReason>,
}

/// Why a key may not use a permission, in the order they are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PermissionReason {
    /// None of its scopes covers it.
    NotGranted,
    /// It holds it, but its owner's current role does not allow it.
    RoleCeiling,
    /// It is bound to another project than the one asked about.
    ProjectBinding,
    /// The address asked about is outside the key's own networks.
    IpNotAllowed,
    /// The address asked about is outside the networks the organization's
    /// key policy sets for keys without their own.
    Policy,
}

impl PermissionReason {
    /// The reason in words, for people (the CLI, the dashboard).
    pub const fn describe(self) -> &'static str {
        match self {
            Self::NotGranted => "not granted",
            Self::RoleCeiling => "beyond its owner's current role",
            Self::ProjectBinding => "bound to another project",
            Self::IpNotAllowed => "the address is outside the key's networks",
            Self::Policy => "the address is outside the key policy's networks",
        }
    }
}

/// A key's rate limits: each window as the next request would find it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsView {
    /// The per-minute window (`null`: no per-minute limit).
    pub per_minute: Option<RateLimitView>,
    /// The per-day window (`null`: no per-day limit).
    pub per_day: Option<RateLimitView>,
}

/// A key's credits now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditsView {
    /// What its next request would spend from (refilled if a new period
    /// began; a rotated key's successor's balance, which the two share).
    pub remaining: i64,
    /// Its refill.
    pub refill: Option<RefillView>,
}

/// Where a key may be used from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkView {
    /// The networks it may be used from (`null`: anywhere).
    pub allowed_cidrs: Option<Vec<String>>,
    /// Whose networks they are: `key` (its own) or `policy` (the
    /// organization's, for keys without their own); `null` without any.
    pub source: Option<String>,
    /// The address asked about, as read.
    pub ip: Option<String>,
    /// Whether that address may use the key (`null`: none asked about; a
    /// key with networks is refused without one).
    pub ip_allowed: Option<bool>,
}

/// A key against the organization's current key policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceView {
    /// Whether it breaks no rule.
    pub compliant: bool,
    /// Each rule it breaks.
    pub violations: Vec<ViolationView>,
}

/// A rule of the key policy a key breaks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ViolationView {
    /// `maxLifetime`, `requireExpiry`, `forbidWildcardInLive`,
    /// `allowedScopes` or `allowedCidrs`.
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

/// What verify would answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerdictView {
    /// Whether the key would be accepted.
    pub valid: bool,
    /// Verify's `code`.
    #[schema(value_type = VerifyCode)]
    pub code: String,
}
