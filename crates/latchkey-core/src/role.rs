//! Organization roles.

use std::fmt;
use std::str::FromStr;

use crate::{Scope, ScopeRef};

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Organization settings, every member's resources, `allOrg` views.
    Admin,
    /// Own resources, and shared ones the organization's policy allows.
    Member,
}

impl Role {
    /// The most a credential acting for this role may do: an admin
    /// anything in the organization; a member anything but `*`, `org:*`,
    /// `org:write`, `org:members` and `admin:*` (`org:read` stays). A key
    /// is checked against its scopes *and* its owner's role at the time of
    /// use, so demoting an admin narrows their keys at once.
    pub fn allows(self, scope: &Scope) -> bool {
        self.allows_ref(scope.borrowed())
    }

    /// [`Role::allows`] for a borrowed scope.
    pub fn allows_ref(self, scope: ScopeRef<'_>) -> bool {
        match self {
            Self::Admin => true,
            Self::Member => match scope {
                ScopeRef::All => false,
                ScopeRef::Resource(r) => !matches!(r, "org" | "admin"),
                ScopeRef::Action(r, a) => match r {
                    "org" => a == "read",
                    "admin" => false,
                    _ => true,
                },
            },
        }
    }

    /// The stored and wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown role name.
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}` (expected `admin` or `member`)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ceiling() {
        let p = |s: &str| Scope::parse(s).unwrap_or_else(|| panic!("{s}"));
        for held in ["sandbox:*", "sandbox:read", "agent:run", "keys:verify", "org:read", "files:*"] {
            assert!(Role::Member.allows(&p(held)), "{held}");
        }
        for refused in ["*", "org:*", "org:write", "org:members", "admin:*", "admin:resources"] {
            assert!(!Role::Member.allows(&p(refused)), "{refused}");
            assert!(Role::Admin.allows(&p(refused)), "{refused}");
        }
    }
}
