//! Records as stored and loaded.

use latchkey_core::time_fmt::Millis;
use latchkey_core::{DisplayPrefix, Environment, KeyHash, Role, ScopeSet};

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// `org_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unique URL-safe name.
    pub slug: String,
    /// Policy: members may list every key of the organization.
    pub members_see_all_keys: bool,
    /// Creation time.
    pub created_at: Millis,
}

/// A new organization.
pub type NewOrg = Org;

/// A person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `usr_…`
    pub id: String,
    /// Lowercased email.
    pub email: String,
    /// Name shown to others.
    pub display_name: String,
    /// Creation time.
    pub created_at: Millis,
}

/// A new user.
pub type NewUser = User;

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `prj_…`
    pub id: String,
    /// Owning organization.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
}

/// A Runtype product: a container for surfaces (organization-owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `prd_…`
    pub id: String,
    /// Owning organization.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: Millis,
}

/// A Runtype surface of a product: what surface keys are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    /// `srf_…`
    pub id: String,
    /// Owning organization.
    pub org_id: String,
    /// The product.
    pub product_id: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: Millis,
}

/// Whether a key has the full power of its owner or a restricted set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A normal key.
    Standard,
    /// A restricted key (Runloop `rk_`).
    Restricted,
}

impl KeyKind {
    /// Stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Restricted => "restricted",
        }
    }
}

/// A key to insert. Holds the hash, never the plaintext.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// `key_…`
    pub id: String,
    /// Owning organization.
    pub org_id: String,
    /// Optional project.
    pub project_id: Option<String>,
    /// Display name.
    pub name: String,
    /// SHA-256 of the key.
    pub hash: KeyHash,
    /// Prefix plus the first 4 body characters.
    pub key_prefix: DisplayPrefix,
    /// Last 4 characters.
    pub key_hint: String,
    /// live / test.
    pub environment: Environment,
    /// standard / restricted.
    pub kind: KeyKind,
    /// Scopes (stored as their canonical text).
    pub scopes: ScopeSet,
    /// The member who owns the key.
    pub owner_user_id: Option<String>,
    /// The user who created it (directly or through one of their keys).
    pub created_by_user_id: Option<String>,
    /// The key that created it, if created with a key.
    pub created_by_key_id: Option<String>,
    /// Requests per minute, if limited.
    pub rate_limit_per_minute: Option<i64>,
    /// Requests per day, if limited.
    pub rate_limit_per_day: Option<i64>,
    /// Expiry, if any.
    pub expires_at: Option<Millis>,
    /// Usage credits left, if the key has a credit budget.
    pub remaining: Option<i64>,
    /// Periodic credit refill.
    pub refill: Option<Refill>,
    /// Creation time.
    pub created_at: Millis,
    /// The key this one replaced (rotation).
    pub rotated_from: Option<String>,
    /// The Runtype surface the key belongs to, if any.
    pub surface_id: Option<String>,
}

impl NewApiKey {
    /// A live `*` key for `plain`, owned and created by `user_id`, with no
    /// limits, credits or expiry: the bootstrap admin key of `latchkey init`
    /// (and of fixtures that need one).
    pub fn admin(plain: &latchkey_core::PlainKey, org_id: &str, user_id: &str, name: &str, now: Millis) -> Self {
        Self::operator(plain, org_id, Some(user_id), name, ScopeSet::all(), now)
    }

    /// A live key for `plain` with `scopes`, minted by the operator on the
    /// command line (`latchkey init`, `latchkey admin create-service-key`):
    /// owned and created by `owner_user_id` (organization-owned if `None`),
    /// with no limits, credits or expiry.
    pub fn operator(
        plain: &latchkey_core::PlainKey,
        org_id: &str,
        owner_user_id: Option<&str>,
        name: &str,
        scopes: ScopeSet,
        now: Millis,
    ) -> Self {
        Self {
            id: latchkey_core::id::new_id(latchkey_core::id::IdKind::Key),
            org_id: org_id.to_owned(),
            project_id: None,
            name: name.to_owned(),
            hash: plain.hash(),
            key_prefix: plain.display_prefix(),
            key_hint: plain.hint(),
            environment: Environment::Live,
            kind: KeyKind::Standard,
            scopes,
            owner_user_id: owner_user_id.map(str::to_owned),
            created_by_user_id: owner_user_id.map(str::to_owned),
            created_by_key_id: None,
            rate_limit_per_minute: None,
            rate_limit_per_day: None,
            expires_at: None,
            remaining: None,
            refill: None,
            created_at: now,
            rotated_from: None,
            surface_id: None,
        }
    }
}

/// How often credits are refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefillInterval {
    /// At 00:00 UTC every day.
    Daily,
    /// At 00:00 UTC on the first day of every month.
    Monthly,
}

impl RefillInterval {
    /// Stored and wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "daily" => Some(Self::Daily),
            "monthly" => Some(Self::Monthly),
            _ => None,
        }
    }
}

/// A credit refill: `remaining` is set back to `amount` at the start of
/// every `interval` (on the first spend in that period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    /// Credits after a refill.
    pub amount: i64,
    /// When.
    pub interval: RefillInterval,
}

/// Changes to a key; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    /// New name.
    pub name: Option<String>,
    /// New per-minute limit.
    pub rate_limit_per_minute: Option<Option<i64>>,
    /// New per-day limit.
    pub rate_limit_per_day: Option<Option<i64>>,
    /// New credit balance.
    pub remaining: Option<Option<i64>>,
    /// New refill rule.
    pub refill: Option<Option<Refill>>,
}

/// The result of spending credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Spent; this many are left.
    Spent(i64),
    /// Not enough credits; nothing was spent.
    Exhausted,
}

/// Verification count of one key, day and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCount {
    /// The key.
    pub key_id: String,
    /// UTC date `YYYY-MM-DD`.
    pub day: String,
    /// The verification's code (`VALID`, `REVOKED`, …, [`latchkey_core::KeyState::as_str`]).
    pub outcome: String,
    /// How many.
    pub count: i64,
}

/// A stored key with its owner's details, as the API and the verifier see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// `key_…`
    pub id: String,
    /// Owning organization.
    pub org_id: String,
    /// Optional project.
    pub project_id: Option<String>,
    /// Display name.
    pub name: String,
    /// SHA-256 of the key.
    pub hash: KeyHash,
    /// Prefix plus the first 4 body characters.
    pub key_prefix: DisplayPrefix,
    /// Last 4 characters.
    pub key_hint: String,
    /// live / test.
    pub environment: Environment,
    /// standard / restricted.
    pub kind: KeyKind,
    /// Scopes (parsed once when the record is loaded).
    pub scopes: ScopeSet,
    /// The member who owns the key.
    pub owner_user_id: Option<String>,
    /// Owner's email.
    pub owner_email: Option<String>,
    /// Owner's display name.
    pub owner_display_name: Option<String>,
    /// Owner's current role in the key's organization; `None` if the owner
    /// is no longer a member (the key is then disabled).
    pub owner_role: Option<Role>,
    /// The user who created it.
    pub created_by_user_id: Option<String>,
    /// The key that created it.
    pub created_by_key_id: Option<String>,
    /// Requests per minute, if limited.
    pub rate_limit_per_minute: Option<i64>,
    /// Requests per day, if limited.
    pub rate_limit_per_day: Option<i64>,
    /// Expiry, if any.
    pub expires_at: Option<Millis>,
    /// Usage credits left when the record was read (the live balance is in
    /// storage; a cached copy may be stale).
    pub remaining: Option<i64>,
    /// Periodic credit refill.
    pub refill: Option<Refill>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// Last successful use (written behind; may lag by a flush interval).
    pub last_used_at: Option<Millis>,
    /// Revocation time; in the future while a rotation grace period runs.
    pub revoked_at: Option<Millis>,
    /// Predecessor (rotation).
    pub rotated_from: Option<String>,
    /// Successor (rotation).
    pub rotated_to: Option<String>,
    /// The Runtype surface the key belongs to, if any.
    pub surface_id: Option<String>,
}

impl latchkey_core::IssuedKey for ApiKeyRecord {
    fn revoked_at(&self) -> Option<Millis> {
        self.revoked_at
    }

    fn expires_at(&self) -> Option<Millis> {
        self.expires_at
    }

    fn has_owner(&self) -> bool {
        self.owner_user_id.is_some()
    }

    fn owner_role(&self) -> Option<Role> {
        self.owner_role
    }

    fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }
}

/// Which keys to list.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Only keys owned by this user.
    pub owner_user_id: Option<String>,
    /// Only keys of this project.
    pub project_id: Option<String>,
}

/// A page request: at most `limit` items with ids below `before`.
#[derive(Debug, Clone)]
pub struct Page {
    /// Items per page (1..=100).
    pub limit: u32,
    /// Cursor: the last id of the previous page.
    pub before: Option<String>,
}

/// Changes to an organization; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OrgPatch {
    /// New display name.
    pub name: Option<String>,
    /// New slug.
    pub slug: Option<String>,
    /// New key-visibility policy.
    pub members_see_all_keys: Option<bool>,
}

/// A person's membership of an organization, with the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The person.
    pub user: User,
    /// Their role.
    pub role: Role,
    /// When they joined.
    pub joined_at: Millis,
}

/// A login session. Only the token's SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `ses_…`
    pub id: String,
    /// Whose session.
    pub user_id: String,
    /// SHA-256 of the `lks_…` token.
    pub token_hash: KeyHash,
    /// The organization requests act in when they name none.
    pub current_org_id: Option<String>,
    /// Client address at login.
    pub ip: Option<String>,
    /// `User-Agent` at login.
    pub user_agent: Option<String>,
    /// Login time.
    pub created_at: Millis,
    /// End of validity.
    pub expires_at: Millis,
    /// Last authenticated request (minute precision).
    pub last_used_at: Option<Millis>,
    /// Logout or revocation time.
    pub revoked_at: Option<Millis>,
}

/// An invitation to join an organization. Only the token's SHA-256 is
/// stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// `inv_…`
    pub id: String,
    /// The organization to join.
    pub org_id: String,
    /// Lowercased email of the invited person.
    pub email: String,
    /// Role given on acceptance.
    pub role: Role,
    /// SHA-256 of the `lki_…` token.
    pub token_hash: KeyHash,
    /// Who invited.
    pub invited_by: Option<String>,
    /// Creation time.
    pub created_at: Millis,
    /// End of validity.
    pub expires_at: Millis,
    /// Acceptance time.
    pub accepted_at: Option<Millis>,
    /// Revocation time.
    pub revoked_at: Option<Millis>,
}

/// Why accepting an invitation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// Unknown, used, revoked or expired.
    NotFound,
    /// The accepting user's email is not the invited one.
    WrongUser,
    /// Already a member.
    AlreadyMember,
}

/// One audit event. Never updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// `evt_…` (time-ordered).
    pub id: String,
    /// The organization it belongs to (`None`: no organization, e.g. a
    /// failed login for an unknown email).
    pub org_id: Option<String>,
    /// When.
    pub at: Millis,
    /// `user` or `key` (or `anonymous`, or `operator` at the command line).
    pub actor_type: String,
    /// The user or key id.
    pub actor_id: Option<String>,
    /// What happened, e.g. `api_key.create`.
    pub action: String,
    /// Kind of the target (`api_key`, `member`, …).
    pub target_type: Option<String>,
    /// Its id.
    pub target_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// A JSON object of non-secret details.
    pub details: String,
}

impl AuditEvent {
    /// An event of the operator at the command line (`latchkey init`,
    /// `latchkey admin …`): actor type `operator`, no client address or
    /// request id.
    pub fn operator(org_id: &str, action: &str, target: (&str, &str), details: &serde_json::Value, at: Millis) -> Self {
        Self {
            id: latchkey_core::id::new_id(latchkey_core::id::IdKind::Event),
            org_id: Some(org_id.to_owned()),
            at,
            actor_type: "operator".to_owned(),
            actor_id: None,
            action: action.to_owned(),
            target_type: Some(target.0.to_owned()),
            target_id: Some(target.1.to_owned()),
            ip: None,
            request_id: None,
            details: details.to_string(),
        }
    }
}

/// Filters for listing audit events.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action.
    pub action: Option<String>,
    /// Exact actor id.
    pub actor_id: Option<String>,
    /// Exact target id.
    pub target_id: Option<String>,
    /// At or after.
    pub since: Option<Millis>,
    /// Before.
    pub until: Option<Millis>,
}

/// An organization's data key, wrapped by a master key.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    /// The organization.
    pub org_id: String,
    /// Id of the master key that wrapped it (`mk_…`).
    pub master_key_id: String,
    /// `MasterKey::wrap` output.
    pub wrapped: Vec<u8>,
    /// Creation time.
    pub created_at: Millis,
    /// Last re-wrap.
    pub updated_at: Millis,
}

impl std::fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("org_id", &self.org_id)
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

/// A data key re-wrapped by a new master key (`latchkey admin
/// rotate-master-key`).
#[derive(Clone)]
pub struct Rewrap {
    /// The organization.
    pub org_id: String,
    /// The master key it was wrapped by (the update applies only if it
    /// still is).
    pub old_master_key_id: String,
    /// The new master key.
    pub new_master_key_id: String,
    /// Wrapped by the new master key.
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for Rewrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewrap")
            .field("org_id", &self.org_id)
            .field("old_master_key_id", &self.old_master_key_id)
            .field("new_master_key_id", &self.new_master_key_id)
            .finish_non_exhaustive()
    }
}

/// A stored secret: metadata and the sealed value (never the plaintext).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// `sec_…`
    pub id: String,
    /// Owning organization.
    pub org_id: String,
    /// `A-Z0-9_` name.
    pub name: String,
    /// `provider`, `tool`, …
    pub category: String,
    /// The member it belongs to; `None` for an organization-wide secret.
    pub owner_user_id: Option<String>,
    /// The value sealed with the organization's data key.
    pub ciphertext: Vec<u8>,
    /// 1 on creation, +1 on every replacement.
    pub version: i64,
    /// Creation time.
    pub created_at: Millis,
    /// Last replacement.
    pub updated_at: Millis,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("owner_user_id", &self.owner_user_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Which secrets to list.
#[derive(Debug, Clone, Default)]
pub struct SecretFilter {
    /// Include this member's own secrets (`None`: no user secrets).
    pub user_id: Option<String>,
    /// Include organization-wide secrets.
    pub org_wide: bool,
}

/// A registered SSH public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeyRecord {
    /// `ssh_…`
    pub id: String,
    /// Owning organization.
    pub org_id: String,
    /// The member it belongs to; `None` for an organization-wide key.
    pub owner_user_id: Option<String>,
    /// Display name (`personal-laptop`).
    pub name: String,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub algorithm: String,
    /// `<type> <base64>`.
    pub public_key: String,
    /// The comment given with the key.
    pub comment: String,
    /// `SHA256:…`
    pub fingerprint: String,
    /// Key size.
    pub bits: i64,
    /// The owner's default key.
    pub is_default: bool,
    /// Creation time.
    pub created_at: Millis,
}

/// Which SSH keys to list.
#[derive(Debug, Clone, Default)]
pub struct SshKeyFilter {
    /// Include this member's own keys.
    pub user_id: Option<String>,
    /// Include organization-wide keys.
    pub org_wide: bool,
    /// Every member's keys (admins' `allOrg` view).
    pub all_users: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_material_is_not_in_debug() {
        let secret = SecretRecord {
            id: "sec_1".into(),
            org_id: "org_1".into(),
            name: "N".into(),
            category: "tool".into(),
            owner_user_id: None,
            ciphertext: vec![0xde, 0xad, 0xbe, 0xef],
            version: 1,
            created_at: 0,
            updated_at: 0,
        };
        let key = WrappedDataKey {
            org_id: "org_1".into(),
            master_key_id: "mk_1".into(),
            wrapped: vec![0xde, 0xad, 0xbe, 0xef],
            created_at: 0,
            updated_at: 0,
        };
        let shown = format!("{secret:?} {key:?}");
        assert!(shown.contains("sec_1") && shown.contains("mk_1"), "{shown}");
        assert!(!shown.contains("222") && !shown.contains("173"), "{shown}");
    }
}
