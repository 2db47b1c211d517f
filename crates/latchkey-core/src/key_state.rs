//! A key's state: whether it is usable and, if not, why.
//!
//! One enum, [`KeyState`], serves both questions latchkey asks about a key:
//!
//! * **its lifecycle status at a time** ([`IssuedKey::status`]): `Valid`,
//!   `Expired`, `Revoked` or `Disabled`, shown by the key APIs as `active`,
//!   `expired`, `revoked`, `disabled` ([`KeyState::status_str`]);
//! * **the verifier's answer to one request**: any of the ten members, the
//!   `code` of a verify answer (`VALID`, `NOT_FOUND`, …, [`KeyState::as_str`]).
//!   `Malformed` and `NotFound` have no key behind them; `InsufficientScope`,
//!   `IpNotAllowed`, `RateLimited` and `UsageExceeded` refuse one request of a key that is
//!   otherwise valid.
//!
//! The rules that decide the lifecycle status and what a key may do (its
//! scopes bounded by its owner's current role) are here, over the few facts
//! a stored key provides ([`IssuedKey`]); storage records implement it.

use crate::time_fmt::Millis;
use crate::{Role, Scope, ScopeSet};

/// Why a key is or is not usable: its lifecycle status, or the answer to a
/// verification (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Usable (status `active`).
    Valid,
    /// Not a well-formed key, or its checksum fails.
    Malformed,
    /// Well-formed, but no such key (or not one of the asking organization).
    NotFound,
    /// Past its expiry.
    Expired,
    /// Revoked (immediately or at the end of a rotation grace period).
    Revoked,
    /// Its owner is no longer a member of the organization.
    Disabled,
    /// Lacks a required scope, or belongs to another project.
    InsufficientScope,
    /// Over its per-minute or per-day limit.
    RateLimited,
    /// Out of usage credits.
    UsageExceeded,
    /// Used from an address outside the key's networks (its own, or its
    /// organization policy's): decided before rate limits and credits, so
    /// a key used elsewhere spends none of its owner's quota.
    IpNotAllowed,
}

impl KeyState {
    /// Every state, in wire order ([`KeyState::index`] is the position).
    pub const ALL: [Self; 10] = [
        Self::Valid,
        Self::Malformed,
        Self::NotFound,
        Self::Expired,
        Self::Revoked,
        Self::Disabled,
        Self::InsufficientScope,
        Self::RateLimited,
        Self::UsageExceeded,
        Self::IpNotAllowed,
    ];

    /// The verify answer's `code` (`VALID`, `NOT_FOUND`, …), also the
    /// outcome label of metrics and usage counts.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::Malformed => "MALFORMED",
            Self::NotFound => "NOT_FOUND",
            Self::Expired => "EXPIRED",
            Self::Revoked => "REVOKED",
            Self::Disabled => "DISABLED",
            Self::InsufficientScope => "INSUFFICIENT_SCOPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::UsageExceeded => "USAGE_EXCEEDED",
            Self::IpNotAllowed => "IP_NOT_ALLOWED",
        }
    }

    /// The key APIs' `status` of a lifecycle state (`active`, `expired`,
    /// `revoked`, `disabled`); `None` for the states only a request has.
    /// Every state [`IssuedKey::status`] returns has one.
    pub const fn status_str(self) -> Option<&'static str> {
        match self {
            Self::Valid => Some("active"),
            Self::Expired => Some("expired"),
            Self::Revoked => Some("revoked"),
            Self::Disabled => Some("disabled"),
            Self::Malformed
            | Self::NotFound
            | Self::InsufficientScope
            | Self::RateLimited
            | Self::UsageExceeded
            | Self::IpNotAllowed => None,
        }
    }

    /// The position in [`KeyState::ALL`]: an index into per-state arrays
    /// (counters, metrics).
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// What a stored key says about itself that decides its [`KeyState`] and
/// what it may do. Storage records implement the accessors; the rules are
/// the provided methods, written once here.
pub trait IssuedKey {
    /// When the key was revoked, or will be at the end of a rotation grace
    /// period.
    fn revoked_at(&self) -> Option<Millis>;

    /// When the key expires, if it does.
    fn expires_at(&self) -> Option<Millis>;

    /// Whether a person owns the key (`false`: the organization does).
    fn has_owner(&self) -> bool;

    /// The owner's current role in the key's organization; `None` for an
    /// organization-owned key, and for an owner who is no longer a member.
    fn owner_role(&self) -> Option<Role>;

    /// The scopes the key holds.
    fn scopes(&self) -> &ScopeSet;

    /// The lifecycle status at `now`: `Valid`, `Expired`, `Revoked` or
    /// `Disabled`. Revocation wins over expiry, expiry over a departed
    /// owner. Decided against `now`, so expiry needs no invalidation.
    fn status(&self, now: Millis) -> KeyState {
        if self.revoked_at().is_some_and(|t| t <= now) {
            KeyState::Revoked
        } else if self.expires_at().is_some_and(|t| t <= now) {
            KeyState::Expired
        } else if self.has_owner() && self.owner_role().is_none() {
            KeyState::Disabled
        } else {
            KeyState::Valid
        }
    }

    /// Whether the key may do `scope`: it holds it, and its owner's current
    /// role allows it (the role ceiling, [`Role::allows`]; an
    /// organization-owned key has none). Demoting an owner narrows their
    /// keys at once.
    #[inline]
    fn allows(&self, scope: &Scope) -> bool {
        self.refusal(scope).is_none()
    }

    /// Why the key may not do `scope` ([`IssuedKey::allows`] is `false`
    /// exactly when this is `Some`): it does not hold it, or it does and
    /// its owner's current role does not allow it.
    #[inline]
    fn refusal(&self, scope: &Scope) -> Option<ScopeRefusal> {
        if !self.scopes().allows(scope) {
            Some(ScopeRefusal::NotGranted)
        } else if self.owner_role().is_some_and(|r| !r.allows(scope)) {
            Some(ScopeRefusal::RoleCeiling)
        } else {
            None
        }
    }
}

/// Why a key may not do a scope ([`IssuedKey::refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeRefusal {
    /// None of the key's scopes covers it.
    NotGranted,
    /// The key holds it, but its owner's current role does not allow it
    /// (an admin's key after the admin was made a member).
    RoleCeiling,
}

impl ScopeRefusal {
    /// The wire form (`not_granted`, `role_ceiling`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotGranted => "not_granted",
            Self::RoleCeiling => "role_ceiling",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facts of a key, as a record would hold them.
    struct Facts {
        revoked_at: Option<Millis>,
        expires_at: Option<Millis>,
        owned: bool,
        role: Option<Role>,
        scopes: ScopeSet,
    }

    impl IssuedKey for Facts {
        fn revoked_at(&self) -> Option<Millis> {
            self.revoked_at
        }
        fn expires_at(&self) -> Option<Millis> {
            self.expires_at
        }
        fn has_owner(&self) -> bool {
            self.owned
        }
        fn owner_role(&self) -> Option<Role> {
            self.role
        }
        fn scopes(&self) -> &ScopeSet {
            &self.scopes
        }
    }

    fn key(revoked_at: Option<Millis>, expires_at: Option<Millis>, owned: bool, role: Option<Role>) -> Facts {
        Facts { revoked_at, expires_at, owned, role, scopes: ScopeSet::all() }
    }

    #[test]
    fn status_precedence_revoked_then_expired_then_disabled() {
        let member = Some(Role::Member);
        let cases = [
            (key(None, None, true, member), KeyState::Valid),
            (key(None, None, false, None), KeyState::Valid),
            (key(Some(100), None, true, member), KeyState::Revoked),
            (key(Some(100), Some(50), true, None), KeyState::Revoked),
            (key(None, Some(100), true, member), KeyState::Expired),
            (key(None, Some(100), true, None), KeyState::Expired),
            (key(None, None, true, None), KeyState::Disabled),
            // Revocation or expiry in the future (a grace period) is not yet in force.
            (key(Some(101), Some(101), true, member), KeyState::Valid),
        ];
        for (i, (k, want)) in cases.iter().enumerate() {
            assert_eq!(k.status(100), *want, "case {i}");
            assert!(want.status_str().is_some(), "case {i}: a status has a wire form");
        }
    }

    #[test]
    fn the_owner_role_caps_what_a_key_allows() {
        let p = |s: &str| Scope::parse(s).unwrap_or_else(|| panic!("{s}"));
        let member = key(None, None, true, Some(Role::Member));
        let org = key(None, None, false, None);
        let left = key(None, None, true, None);
        for scope in ["org:write", "admin:resources", "*"] {
            assert!(!member.allows(&p(scope)), "{scope}");
            assert!(org.allows(&p(scope)), "{scope}");
        }
        assert!(member.allows(&p("sandbox:read")) && member.allows(&p("org:read")));
        // Disabled by status, not by the ceiling: a departed owner's key is refused earlier.
        assert!(left.allows(&p("sandbox:read")));
        let narrow = Facts { scopes: ScopeSet::from_stored(&["sandbox:read"]), ..key(None, None, false, None) };
        assert!(narrow.allows(&p("sandbox:read")) && !narrow.allows(&p("sandbox:write")));
        // Why not: the grant first, then the ceiling.
        assert_eq!(member.refusal(&p("org:write")), Some(ScopeRefusal::RoleCeiling));
        assert_eq!(narrow.refusal(&p("sandbox:write")), Some(ScopeRefusal::NotGranted));
        let narrow_member =
            Facts { scopes: ScopeSet::from_stored(&["sandbox:read"]), ..key(None, None, true, Some(Role::Member)) };
        assert_eq!(
            narrow_member.refusal(&p("org:write")),
            Some(ScopeRefusal::NotGranted),
            "not held before not allowed"
        );
        assert_eq!(member.refusal(&p("sandbox:read")), None);
        for k in [&member, &org, &left, &narrow, &narrow_member] {
            for scope in ["org:write", "org:read", "sandbox:write", "*", "secret:resolve"] {
                assert_eq!(k.allows(&p(scope)), k.refusal(&p(scope)).is_none(), "{scope}");
            }
        }
    }

    #[test]
    fn wire_forms_and_indexes() {
        for (i, state) in KeyState::ALL.iter().enumerate() {
            assert_eq!(state.index(), i, "{state:?}");
        }
        let codes: Vec<&str> = KeyState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            codes,
            [
                "VALID",
                "MALFORMED",
                "NOT_FOUND",
                "EXPIRED",
                "REVOKED",
                "DISABLED",
                "INSUFFICIENT_SCOPE",
                "RATE_LIMITED",
                "USAGE_EXCEEDED",
                "IP_NOT_ALLOWED"
            ]
        );
        let statuses: Vec<&str> = KeyState::ALL.iter().filter_map(|s| s.status_str()).collect();
        assert_eq!(statuses, ["active", "expired", "revoked", "disabled"]);
    }
}
