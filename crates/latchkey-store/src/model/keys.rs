//! API keys: what is inserted, what is read back (with the owner's
//! details), changes, credits and usage counts.

use latchkey_core::id::{KeyId, OrgId, ProjectId, SurfaceId, UserId};
use latchkey_core::ip::IpRules;
use latchkey_core::time_fmt::Millis;
use latchkey_core::{DisplayPrefix, Environment, KeyHash, KeyState, Role, ScopeSet};

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
    pub id: KeyId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Optional project.
    pub project_id: Option<ProjectId>,
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
    pub owner_user_id: Option<UserId>,
    /// The user who created it (directly or through one of their keys).
    pub created_by_user_id: Option<UserId>,
    /// The key that created it, if created with a key.
    pub created_by_key_id: Option<KeyId>,
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
    pub rotated_from: Option<KeyId>,
    /// The Runtype surface the key belongs to, if any.
    pub surface_id: Option<SurfaceId>,
    /// The networks the key may be used from (`None`: the organization
    /// policy's, if any).
    pub allowed_cidrs: Option<IpRules>,
    /// The key's id in the system it was imported from, if any (an
    /// imported key is one whose `key_prefix` is
    /// [`DisplayPrefix::imported`]).
    pub external_id: Option<String>,
}

impl NewApiKey {
    /// A live `*` key for `plain`, owned and created by `user_id`, with no
    /// limits, credits or expiry: the bootstrap admin key of `latchkey init`
    /// (and of fixtures that need one).
    pub fn admin(plain: &latchkey_core::PlainKey, org_id: &OrgId, user_id: &UserId, name: &str, now: Millis) -> Self {
        Self::operator(plain, org_id, Some(user_id), name, ScopeSet::all(), now)
    }

    /// A live key for `plain` with `scopes`, minted by the operator on the
    /// command line (`latchkey init`, `latchkey admin create-service-key`):
    /// owned and created by `owner_user_id` (organization-owned if `None`),
    /// with no limits, credits or expiry.
    pub fn operator(
        plain: &latchkey_core::PlainKey,
        org_id: &OrgId,
        owner_user_id: Option<&UserId>,
        name: &str,
        scopes: ScopeSet,
        now: Millis,
    ) -> Self {
        Self {
            id: KeyId::new(),
            org_id: org_id.clone(),
            project_id: None,
            name: name.to_owned(),
            hash: plain.hash(),
            key_prefix: plain.display_prefix(),
            key_hint: plain.hint(),
            environment: Environment::Live,
            kind: KeyKind::Standard,
            scopes,
            owner_user_id: owner_user_id.cloned(),
            created_by_user_id: owner_user_id.cloned(),
            created_by_key_id: None,
            rate_limit_per_minute: None,
            rate_limit_per_day: None,
            expires_at: None,
            remaining: None,
            refill: None,
            created_at: now,
            rotated_from: None,
            surface_id: None,
            allowed_cidrs: None,
            external_id: None,
        }
    }
}

/// How often credits are refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// New networks (`Some(None)`: the policy's, if any).
    pub allowed_cidrs: Option<Option<IpRules>>,
}

/// When a rotated key stops working ([`crate::KeyStore::rotate_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraceEnd {
    /// At this time: the rotation's (revoked now), or the end of a fixed
    /// grace period.
    At(Millis),
    /// Once it has gone unused for `quiet_ms` since the rotation (the
    /// rotation sweeper revokes it, [`crate::KeyStore::end_unused_rotation`]),
    /// and at the latest at `latest`, its revocation time meanwhile.
    WhenUnused {
        /// How long without a use ends the wait, in milliseconds.
        quiet_ms: i64,
        /// The end of the longest grace (`maxGrace`).
        latest: Millis,
    },
}

impl GraceEnd {
    /// The revocation time the old key gets at the rotation.
    pub const fn revoked_at(self) -> Millis {
        match self {
            Self::At(at) | Self::WhenUnused { latest: at, .. } => at,
        }
    }
}

/// The wait of a key rotated until unused ([`GraceEnd::WhenUnused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UntilUnused {
    /// How long without a use ends the wait, in milliseconds.
    pub quiet_ms: i64,
    /// When the wait began: the rotation.
    pub since: Millis,
    /// The end of the longest grace: the key stops working then at the
    /// latest.
    pub max_until: Millis,
    /// When the wait ended (the sweeper's revocation, the end of the
    /// longest grace, or a revocation meanwhile); `None` while it lasts.
    pub ended_at: Option<Millis>,
}

impl UntilUnused {
    /// The key's last use since the rotation, given its last use.
    pub fn last_used_since(&self, last_used_at: Option<Millis>) -> Option<Millis> {
        last_used_at.filter(|t| *t >= self.since)
    }
}

/// A key rotated until unused whose wait may be over
/// ([`crate::KeyStore::unused_rotations_due`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueUnused {
    /// The key.
    pub id: KeyId,
    /// Its organization.
    pub org_id: OrgId,
    /// Its hash (to evict caches once it is revoked).
    pub hash: KeyHash,
}

/// The result of spending credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Spent; this many are left.
    Spent(i64),
    /// Not enough credits; nothing was spent.
    Exhausted,
}

/// How a backend best takes the verifier's write-behind usage
/// ([`crate::KeyStore::usage_batching`]); measured with `bench/usage.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageBatching {
    /// Keys whose usage one [`crate::KeyStore::record_key_usage`] call
    /// (one transaction) writes.
    pub chunk: usize,
    /// Whether writing runs on this process's CPU (SQLite, in process):
    /// the flusher then rests after each chunk at least as long as the
    /// chunk took, leaving the CPU to verification. A database server
    /// (PostgreSQL) does the work in its own processes.
    pub in_process: bool,
}

/// Verification count of one key, day and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCount {
    /// The key.
    pub key_id: KeyId,
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
    pub id: KeyId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Optional project.
    pub project_id: Option<ProjectId>,
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
    pub owner_user_id: Option<UserId>,
    /// Owner's email.
    pub owner_email: Option<String>,
    /// Owner's display name.
    pub owner_display_name: Option<String>,
    /// Owner's current role in the key's organization; `None` if the owner
    /// is no longer a member (the key is then disabled).
    pub owner_role: Option<Role>,
    /// The user who created it.
    pub created_by_user_id: Option<UserId>,
    /// The key that created it.
    pub created_by_key_id: Option<KeyId>,
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
    /// When the key was first reported leaked, if ever
    /// ([`KeyStore::report_leak`](crate::KeyStore::report_leak)).
    pub leaked_at: Option<Millis>,
    /// Predecessor (rotation).
    pub rotated_from: Option<KeyId>,
    /// Successor (rotation).
    pub rotated_to: Option<KeyId>,
    /// The Runtype surface the key belongs to, if any.
    pub surface_id: Option<SurfaceId>,
    /// The key's own networks, if any.
    pub allowed_cidrs: Option<IpRules>,
    /// The organization policy's networks when the record was read (they
    /// apply when the key has none of its own); `None` in the records
    /// [`crate::KeyStore::insert_keys`] answers, which are not read back.
    pub policy_cidrs: Option<IpRules>,
    /// The key's id in the system it was imported from, if any.
    pub external_id: Option<String>,
    /// The wait of a key rotated until unused (its predecessor side);
    /// `None` for every other key.
    pub until_unused: Option<UntilUnused>,
}

impl ApiKeyRecord {
    /// Whether the key was imported from another system by its hash
    /// (`POST /v1/api-keys/import`) rather than minted here.
    pub fn is_imported(&self) -> bool {
        self.key_prefix.prefix().is_none()
    }

    /// The networks the key may be used from: its own, else the policy's.
    pub fn effective_cidrs(&self) -> Option<&IpRules> {
        self.allowed_cidrs.as_ref().or(self.policy_cidrs.as_ref())
    }
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

/// Which keys to list. Every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Only keys owned by this user.
    pub owner_user_id: Option<UserId>,
    /// Only keys of this project.
    pub project_id: Option<ProjectId>,
    /// Only keys of this environment.
    pub environment: Option<Environment>,
    /// Only keys in this lifecycle status at a time.
    pub status: Option<StatusAt>,
    /// Only keys whose name contains this text (ignoring case: on SQLite
    /// the case of ASCII letters only), whose shown form
    /// (`lk_live_AbCd…wxyz`) starts with it, or whose id it is.
    pub search: Option<String>,
    /// Only keys imported with this external id.
    pub external_id: Option<String>,
}

/// A lifecycle status ([`latchkey_core::IssuedKey::status`]) as judged at
/// a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusAt {
    /// `Valid`, `Expired`, `Revoked` or `Disabled` (the states a key's
    /// status can be; any other matches no key).
    pub status: KeyState,
    /// When.
    pub at: Millis,
}
