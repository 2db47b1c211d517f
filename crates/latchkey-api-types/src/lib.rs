//! latchkey's wire format: request bodies, response views and the envelopes,
//! shared by the server, the client and the CLI.
//!
//! Conventions (RunTools): JSON in camelCase; success is `{"data": …}` (plus
//! `"message"` where a secret is shown once, and `"nextCursor"` on pages);
//! failure is `{"error": {"code", "message"}}`. Request bodies refuse unknown
//! fields. The compatibility profiles' own shapes are in [`runloop`] and
//! [`runtype`].

use serde::{Deserialize, Deserializer, Serialize};

pub mod runloop;
pub mod runtype;
pub mod secrets;

/// `{"data": …}`
#[derive(Debug, Serialize, Deserialize)]
pub struct Data<T> {
    /// The payload.
    pub data: T,
}

/// `{"data": …, "message": …}`: the response that shows a secret once.
#[derive(Debug, Serialize, Deserialize)]
pub struct Shown<T> {
    /// The payload, including the secret.
    pub data: T,
    /// The warning that goes with it.
    pub message: String,
}

/// The message that goes with every shown-once key.
pub const SHOWN_ONCE: &str = "Store this key securely. You will not be able to see it again.";

/// A page of a list: `{"data": […], "nextCursor": "…" | null}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    /// Items, newest first.
    pub data: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `{"error": {"code", "message"}}`
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The body of an error.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code (`unauthorized`, `invalid_scopes`, …).
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

/// `POST /v1/api-keys`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKey {
    /// Display name, 1–255 characters.
    pub name: String,
    /// Scopes; empty means `["*"]`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime such as `30d`, `90d`, `1y`, `12h`.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// Absolute expiry (RFC 3339); exclusive with `expiresIn`.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// `true` mints a `…_test_` key.
    #[serde(default)]
    pub is_test: bool,
    /// Project of the caller's organization.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Requests per minute (≥ 1), enforced on verify and on every request.
    #[serde(default)]
    pub rate_limit_per_minute: Option<i64>,
    /// Requests per day (≥ 1).
    #[serde(default)]
    pub rate_limit_per_day: Option<i64>,
    /// Usage credits (≥ 0): each valid verify spends one (or `cost`).
    #[serde(default)]
    pub remaining: Option<i64>,
    /// Periodic refill of the credits.
    #[serde(default)]
    pub refill: Option<RefillView>,
    /// `user` (default: the key stops working when its owner leaves) or
    /// `org` (admins only: it outlives its creator's membership).
    #[serde(default)]
    pub owner: KeyOwner,
}

/// A credit refill: `remaining` is set back to `amount` every day or month
/// (00:00 UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefillView {
    /// Credits after a refill (≥ 1).
    pub amount: i64,
    /// `daily` or `monthly`.
    pub interval: RefillIntervalView,
}

/// Refill interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefillIntervalView {
    /// Every day at 00:00 UTC.
    Daily,
    /// On the first of every month at 00:00 UTC.
    Monthly,
}

/// `PATCH /v1/api-keys/{id}`: absent fields are kept, `null` clears.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateApiKey {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// New per-minute limit (`null`: unlimited).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<Option<i64>>,
    /// New per-day limit (`null`: unlimited).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_day: Option<Option<i64>>,
    /// New credit balance (`null`: no credit budget).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub remaining: Option<Option<i64>>,
    /// New refill (`null`: none).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub refill: Option<Option<RefillView>>,
}

/// `POST /v1/api-keys/{id}/rotate`
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateApiKey {
    /// Name of the new key (default: the old key's name).
    #[serde(default)]
    pub name: Option<String>,
    /// How long the old key keeps working (`1h`); default: revoked now.
    #[serde(default)]
    pub grace_period: Option<String>,
}

/// An API key as the API shows it. `key` is present only in the create and
/// rotate responses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// `key_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Prefix plus the first 4 body characters.
    pub key_prefix: String,
    /// Last 4 characters.
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
    /// The plaintext key: create and rotate responses only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `POST /v1/projects`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProject {
    /// Display name, 1–255 characters.
    pub name: String,
    /// Optional description (≤ 1,000 characters).
    #[serde(default)]
    pub description: Option<String>,
}

/// `PATCH /v1/projects/{id}`
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProject {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description; `null` clears it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
}

/// Tells a field that is present with `null` from an absent one.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A project.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    /// `prj_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// `GET /v1/me`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    /// The person behind the credential, if any.
    pub user: Option<UserView>,
    /// The organization the request acts in.
    pub org: OrgView,
    /// The person's role in it.
    pub role: Option<String>,
    /// `api_key` or `session`.
    pub auth_type: String,
    /// The key used, for key callers.
    pub key_id: Option<String>,
    /// The scopes in force for this request.
    pub scopes: Vec<String>,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// `usr_…`
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgView {
    /// `org_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// URL-safe name.
    pub slug: String,
    /// The caller's role in it (organization lists and views).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Policy: members may list every key of the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_see_all_keys: Option<bool>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// `POST /v1/auth/signup`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignUp {
    /// Email (lowercased).
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    /// Name shown to others.
    pub display_name: String,
    /// The organization created for the new user.
    pub org_name: String,
}

/// `POST /v1/auth/login`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Login {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// The answer to sign-up and login: the session token, shown once.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionGrant {
    /// `lks_…`: send as `Authorization: Bearer`.
    pub token: String,
    /// End of validity.
    pub expires_at: String,
    /// `ses_…`
    pub session_id: String,
    /// Who logged in.
    pub user: UserView,
    /// The organization created at sign-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<OrgView>,
}

/// A login session (never its token).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// `ses_…`
    pub id: String,
    /// Login time.
    pub created_at: String,
    /// End of validity.
    pub expires_at: String,
    /// Last request (minute precision).
    pub last_used_at: Option<String>,
    /// Client address at login.
    pub ip: Option<String>,
    /// `User-Agent` at login.
    pub user_agent: Option<String>,
    /// Whether this request uses it.
    pub current: bool,
}

/// `POST /v1/orgs`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrg {
    /// Display name.
    pub name: String,
    /// URL-safe name (derived from the name when absent).
    #[serde(default)]
    pub slug: Option<String>,
}

/// `PATCH /v1/orgs/{id}`
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOrg {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// New slug.
    #[serde(default)]
    pub slug: Option<String>,
    /// Let members list every key of the organization.
    #[serde(default)]
    pub members_see_all_keys: Option<bool>,
}

/// `POST /v1/me/org`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchOrg {
    /// The organization to act in by default.
    pub org_id: String,
}

/// `POST /v1/invitations/accept`: the token travels in the body, never in
/// a path (paths are logged).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The `lki_…` token from the invitation.
    pub token: String,
}

impl std::fmt::Debug for AcceptInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptInvitation").field("token", &"…").finish()
    }
}

/// A member of an organization.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// `usr_…`
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// `admin` or `member`.
    pub role: String,
    /// When they joined.
    pub joined_at: String,
}

/// `PATCH /v1/members/{userId}`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMember {
    /// `admin` or `member`.
    pub role: String,
}

/// `POST /v1/invitations`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInvitation {
    /// Who is invited.
    pub email: String,
    /// `admin` or `member`.
    pub role: String,
}

/// An invitation. `token` only in the create response.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    /// `inv_…`
    pub id: String,
    /// `lki_…`, one-time: create response only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Who is invited.
    pub email: String,
    /// Role on acceptance.
    pub role: String,
    /// End of validity.
    pub expires_at: String,
    /// Creation time.
    pub created_at: String,
}

/// `{type, id}` of an actor or target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefView {
    /// `user`, `key`, `api_key`, `member`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The id.
    pub id: Option<String>,
}

/// One audit event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    /// `evt_…`
    pub id: String,
    /// When.
    pub at: String,
    /// Who acted.
    pub actor: RefView,
    /// What happened (`api_key.create`, …).
    pub action: String,
    /// On what.
    pub target: Option<RefView>,
    /// Client address.
    pub ip: Option<String>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// Non-secret facts (names, scopes, roles).
    pub details: serde_json::Value,
}

/// `POST /v1/api-keys/{id}/transfer`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferApiKey {
    /// Only `org`.
    pub to: String,
}

/// Who owns a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyOwner {
    /// A member: the key stops working when they leave.
    #[default]
    User,
    /// The organization: the key outlives its creator's membership.
    Org,
}

/// One entry of `GET /v1/scopes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeView {
    /// The scope text (`sandbox:create`, `sandbox:*`, `*`).
    pub scope: String,
    /// Resource, or `null` for `*`.
    pub resource: Option<String>,
    /// Action, `*`, or `null` for `*`.
    pub action: Option<String>,
    /// What it grants.
    pub description: String,
}

/// `POST /v1/keys/verify`
#[derive(Debug, Serialize, Deserialize)]
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
}

/// The answer of `POST /v1/keys/verify` (always 200).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyView {
    /// Whether the key may be used for this request.
    pub valid: bool,
    /// `VALID`, `MALFORMED`, `NOT_FOUND`, `EXPIRED`, `REVOKED`, `DISABLED`,
    /// `INSUFFICIENT_SCOPE`, `RATE_LIMITED` or `USAGE_EXCEEDED`.
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitView {
    /// Requests per window.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Seconds until the window is full again.
    pub reset: u64,
}

/// One day of `GET /v1/api-keys/{id}/usage`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

    #[test]
    fn null_description_clears() {
        let p: UpdateProject = serde_json::from_str(r#"{"description":null}"#).unwrap();
        assert_eq!(p.description, Some(None));
        let p: UpdateProject = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(p.description, None);
    }
}
