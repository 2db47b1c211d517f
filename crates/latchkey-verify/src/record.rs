//! What the cache holds per key: a compact record of what verification and
//! the request's caller need, and the accounting of what it weighs.
//!
//! A [`CachedKey`] is one small allocation per key: its id (inline), its
//! times, and a shared [`Grant`]: the organization, project, owner, role,
//! environment, scopes, rate limits and credit rule, which repeat across
//! the keys of one owner and are interned ([`crate::interner`]), so a
//! thousand keys of one owner with the same scopes hold one copy. Display
//! strings (name, owner email and name, prefix, hint) are not cached: code
//! that shows them reads the stored record.
//!
//! # Accounting
//!
//! The cache's budget counts bytes the process holds for an entry
//! ([`CachedKey::weight`]): its slot in the cache ([`SLOT_BYTES`]), the
//! record's allocation as the allocator hands it out ([`heap_block`]), and
//! the grant's bytes when the entry created the grant. An interned grant is
//! charged once, to the entry whose insertion created it; the keys that
//! share it later are charged nothing for it. A grant that outlives the
//! entry that paid for it (others still use it) is then uncounted, and one
//! created again after a sweep is counted again: the error is at most the
//! grants of the evicted payers, a small share where keys share grants, and
//! it goes both ways.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use latchkey_core::id::{KeyId, OrgId, ProjectId, UserId};
use latchkey_core::ip::IpRules;
use latchkey_core::time_fmt::Millis;
use latchkey_core::{Environment, IssuedKey, Role, Scope, ScopeSet};
use latchkey_store::{ApiKeyRecord, RefillInterval};

use crate::ratelimit::Limits;

/// Bytes one entry takes in the cache itself, whatever it holds: the
/// cache's slot (64 bytes for a 32-byte hash and a 16-byte entry), the
/// ghost slots it keeps for recently evicted hashes (up to half as many as
/// entries: 32 bytes per entry) and its hash table (about 8 bytes per
/// entry, up to twice that just after it grew). A test measures the cache's
/// own count of its memory against this.
pub const SLOT_BYTES: u64 = 112;

/// Bytes the allocator hands out for a request of `n` bytes: glibc's malloc
/// on a 64-bit system keeps 8 bytes of header, rounds to 16 and gives at
/// least 32; nothing for `n = 0` (no allocation).
#[must_use]
pub const fn heap_block(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let block = (n + 8 + 15) & !15;
    if block < 32 { 32 } else { block }
}

/// A key's id, inline when it fits (every minted id does: `key_` and 26
/// characters), so the record needs no second allocation.
#[derive(Clone, PartialEq, Eq)]
enum KeyText {
    /// The first `len` bytes of `bytes`.
    Inline { len: u8, bytes: [u8; INLINE_ID] },
    /// A longer id (never minted by latchkey; kept correct all the same).
    Heap(Box<str>),
}

/// Bytes of an id kept inline.
const INLINE_ID: usize = 30;

impl KeyText {
    fn new(id: &str) -> Self {
        let mut bytes = [0; INLINE_ID];
        match (bytes.get_mut(..id.len()), u8::try_from(id.len())) {
            (Some(head), Ok(len)) => {
                head.copy_from_slice(id.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(id.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from a `&str` whole: always UTF-8.
            Self::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Self::Heap(s) => s,
        }
    }

    /// Bytes held outside the record.
    fn heap_bytes(&self) -> usize {
        match self {
            Self::Inline { .. } => 0,
            Self::Heap(s) => heap_block(s.len()),
        }
    }
}

/// A key's credit rule, as verification applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credits {
    /// No credit budget: verification never spends.
    Unlimited,
    /// A budget, refilled at the start of each interval if one is set.
    Budget(Option<RefillInterval>),
}

/// What a key may do and on whose behalf: the part of a key's record that
/// repeats across the keys of one owner, shared between them
/// ([`crate::interner`]).
#[derive(Debug)]
pub struct Grant {
    /// Owning organization.
    pub org_id: OrgId,
    /// The project the key is bound to, if any.
    pub project_id: Option<ProjectId>,
    /// The member who owns the key (`None`: the organization).
    pub owner_user_id: Option<UserId>,
    /// The owner's role in the organization when the key was read; `None`
    /// for an organization-owned key or an owner who has left.
    pub owner_role: Option<Role>,
    /// live / test.
    pub environment: Environment,
    /// Scopes.
    pub scopes: ScopeSet,
    /// Rate limits.
    pub limits: Limits,
    /// Credit rule.
    pub credits: Credits,
    /// The networks the key may be used from (its own, else its
    /// organization policy's); `None`, one word compared, for a key without.
    pub ip_rules: Option<IpRules>,
    /// The grant's part of a verify answer, rendered by the server on first
    /// use ([`Grant::identity_json`]).
    identity: OnceLock<Box<str>>,
}

impl PartialEq for Grant {
    fn eq(&self, other: &Self) -> bool {
        self.org_id == other.org_id
            && self.project_id == other.project_id
            && self.owner_user_id == other.owner_user_id
            && self.owner_role == other.owner_role
            && self.environment == other.environment
            && self.scopes == other.scopes
            && self.limits == other.limits
            && self.credits == other.credits
            && self.ip_rules == other.ip_rules
    }
}

impl Eq for Grant {}

impl std::hash::Hash for Grant {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.org_id.hash(state);
        self.project_id.hash(state);
        self.owner_user_id.hash(state);
        self.owner_role.hash(state);
        self.environment.hash(state);
        self.scopes.hash(state);
        self.limits.hash(state);
        self.credits.hash(state);
        self.ip_rules.hash(state);
    }
}

impl Grant {
    /// The grant of `record`.
    pub fn of(record: &ApiKeyRecord) -> Self {
        Self {
            org_id: record.org_id.clone(),
            project_id: record.project_id.clone(),
            owner_user_id: record.owner_user_id.clone(),
            owner_role: record.owner_role,
            environment: record.environment,
            scopes: record.scopes.clone(),
            limits: Limits {
                per_minute: record.rate_limit_per_minute.and_then(|l| u32::try_from(l).ok()),
                per_day: record.rate_limit_per_day.and_then(|l| u32::try_from(l).ok()),
            },
            credits: match record.remaining {
                Some(_) => Credits::Budget(record.refill.map(|r| r.interval)),
                None => Credits::Unlimited,
            },
            ip_rules: record.effective_cidrs().cloned(),
            identity: OnceLock::new(),
        }
    }

    /// The grant's fields as a verify answer writes them (`"orgId":…` to
    /// `"ownerUserId":…`), rendered by `render` on first use and kept: one
    /// rendering per grant, shared by its keys.
    pub fn identity_json(&self, render: impl FnOnce(&Self) -> Box<str>) -> &str {
        self.identity.get_or_init(|| render(self))
    }

    /// Whether a client at `ip` may use the key: always for a key without
    /// networks; never with no address to match (a caller that does not
    /// say where the key is used from cannot pass a key that is bound to
    /// networks).
    #[inline]
    pub fn allows_ip(&self, ip: Option<IpAddr>) -> bool {
        match &self.ip_rules {
            None => true,
            Some(rules) => ip.is_some_and(|ip| rules.allows(ip)),
        }
    }

    /// Whether the key may be used for a request for `project` (`None`:
    /// no project named): always, unless it is bound to another project.
    #[inline]
    pub fn allows_project(&self, project: Option<&str>) -> bool {
        match (project, &self.project_id) {
            (Some(want), Some(bound)) => want == bound.as_str(),
            _ => true,
        }
    }

    /// Bytes the grant holds: its allocation, its texts, its scopes, its networks, the
    /// rendered identity (estimated from the texts before it is rendered)
    /// and its slot in the interner.
    pub fn weight(&self) -> u64 {
        let ids = [Some(&*self.org_id), self.project_id.as_deref(), self.owner_user_id.as_deref()];
        let texts: usize = ids.iter().flatten().map(|s| heap_block(s.len())).sum();
        let scopes =
            heap_block(self.scopes.len() * size_of::<Scope>()) + self.scopes.iter().map(scope_heap).sum::<usize>();
        // `"orgId":"…","projectId":"…","environment":"test","scopes":[…],"ownerUserId":"…"`
        let identity = 84
            + ids.iter().flatten().map(|s| s.len() + 2).sum::<usize>()
            + self.scopes.iter().map(|s| scope_text_len(s) + 3).sum::<usize>();
        let nets = self.ip_rules.as_ref().map_or(0, |r| heap_block(r.len() * size_of::<ipnet::IpNet>()));
        let total = heap_block(16 + size_of::<Self>()) + texts + scopes + nets + heap_block(identity) + INTERNER_SLOT;
        total as u64
    }
}

/// Bytes the interner's table takes per grant (a pointer and its control
/// byte, at most 7/8 full, twice that just after it grew).
const INTERNER_SLOT: usize = 16;

/// Bytes a scope holds outside its `Scope` value.
fn scope_heap(scope: &Scope) -> usize {
    match scope {
        Scope::All => 0,
        Scope::Resource(r) => heap_block(r.len()),
        Scope::Action(r, a) => heap_block(r.len()) + heap_block(a.len()),
    }
}

/// Length of a scope's canonical text.
fn scope_text_len(scope: &Scope) -> usize {
    match scope {
        Scope::All => 1,
        Scope::Resource(r) => r.len() + 2,
        Scope::Action(r, a) => r.len() + 1 + a.len(),
    }
}

/// A time that is not set: never revoked, never expires. A stored time of
/// `i64::MAX` ms (292 million years) reads as not set.
const NEVER: Millis = Millis::MAX;

/// A key as the cache holds it: its id, its revocation and expiry, and its
/// shared [`Grant`]. 56 bytes, one allocation (72 with the reference counts:
/// an 80-byte block).
#[derive(Clone)]
pub struct CachedKey {
    id: KeyText,
    grant: Arc<Grant>,
    expires_at: Millis,
    revoked_at: Millis,
}

impl std::fmt::Debug for CachedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedKey").field("id", &self.id()).field("org_id", &self.grant.org_id).finish_non_exhaustive()
    }
}

impl CachedKey {
    /// The compact form of `record`, its grant `grant` (interned, or
    /// [`Grant::of`] the record for a key not cached).
    pub fn new(record: &ApiKeyRecord, grant: Arc<Grant>) -> Self {
        Self {
            id: KeyText::new(&record.id),
            grant,
            expires_at: record.expires_at.unwrap_or(NEVER),
            revoked_at: record.revoked_at.unwrap_or(NEVER),
        }
    }

    /// The compact form of `record`, with a grant of its own (not shared).
    pub fn standalone(record: &ApiKeyRecord) -> Self {
        Self::new(record, Arc::new(Grant::of(record)))
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The key's id, owned.
    pub fn key_id(&self) -> KeyId {
        KeyId::from(self.id())
    }

    /// What the key may do and on whose behalf.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// Owning organization.
    pub fn org_id(&self) -> &OrgId {
        &self.grant.org_id
    }

    /// The project the key is bound to, if any.
    pub fn project_id(&self) -> Option<&ProjectId> {
        self.grant.project_id.as_ref()
    }

    /// The member who owns the key (`None`: the organization).
    pub fn owner_user_id(&self) -> Option<&UserId> {
        self.grant.owner_user_id.as_ref()
    }

    /// live / test.
    pub fn environment(&self) -> Environment {
        self.grant.environment
    }

    /// Bytes this record holds on its own: its allocation (inside an
    /// `Arc`) and a long id's text; not its grant, not the cache slot.
    pub fn own_weight(&self) -> u64 {
        (heap_block(16 + size_of::<Self>()) + self.id.heap_bytes()) as u64
    }
}

impl IssuedKey for CachedKey {
    fn revoked_at(&self) -> Option<Millis> {
        (self.revoked_at != NEVER).then_some(self.revoked_at)
    }

    fn expires_at(&self) -> Option<Millis> {
        (self.expires_at != NEVER).then_some(self.expires_at)
    }

    fn has_owner(&self) -> bool {
        self.grant.owner_user_id.is_some()
    }

    fn owner_role(&self) -> Option<Role> {
        self.grant.owner_role
    }

    fn scopes(&self) -> &ScopeSet {
        &self.grant.scopes
    }
}

/// Records for unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use latchkey_core::id::OrgId;
    use latchkey_core::{DisplayPrefix, Environment, KeyHash, Scope, ScopeSet};
    use latchkey_store::{ApiKeyRecord, KeyKind};

    /// A live, organization-owned key `id` of `org` with `*`, no limits,
    /// credits, expiry or project.
    pub(crate) fn record(id: &str, org: OrgId) -> ApiKeyRecord {
        ApiKeyRecord {
            id: id.into(),
            org_id: org,
            project_id: None,
            name: "a key with a name".into(),
            hash: KeyHash::of(id),
            key_prefix: DisplayPrefix::parse("lk_live_abcd").unwrap(),
            key_hint: "wxyz".into(),
            environment: Environment::Live,
            kind: KeyKind::Standard,
            scopes: ScopeSet::from_scopes([Scope::All]),
            owner_user_id: None,
            owner_email: None,
            owner_display_name: None,
            owner_role: None,
            created_by_user_id: None,
            created_by_key_id: None,
            rate_limit_per_minute: None,
            rate_limit_per_day: None,
            expires_at: None,
            remaining: None,
            refill: None,
            created_at: 0,
            updated_at: 0,
            last_used_at: None,
            revoked_at: None,
            leaked_at: None,
            rotated_from: None,
            rotated_to: None,
            surface_id: None,
            allowed_cidrs: None,
            policy_cidrs: None,
            external_id: None,
            until_unused: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_inline_when_they_fit_and_read_back_whole() {
        let minted = KeyId::new();
        let short = KeyText::new(&minted);
        assert!(matches!(short, KeyText::Inline { .. }), "a minted id is inline");
        assert_eq!(short.as_str(), minted.as_str());
        assert_eq!(short.heap_bytes(), 0);
        let long = "key_".to_owned() + &"x".repeat(40);
        let text = KeyText::new(&long);
        assert_eq!(text.as_str(), long);
        assert_eq!(text.heap_bytes(), 64);
        assert_eq!(KeyText::new("").as_str(), "");
    }

    #[test]
    fn the_record_is_one_small_block() {
        assert_eq!(size_of::<KeyText>(), 32);
        assert_eq!(size_of::<CachedKey>(), 56);
        assert_eq!(heap_block(16 + size_of::<CachedKey>()), 80);
    }

    #[test]
    fn heap_blocks_are_what_malloc_hands_out() {
        assert_eq!(heap_block(0), 0);
        assert_eq!(heap_block(1), 32);
        assert_eq!(heap_block(24), 32);
        assert_eq!(heap_block(25), 48);
        assert_eq!(heap_block(30), 48);
        assert_eq!(heap_block(72), 80);
    }
}
