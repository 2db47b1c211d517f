//! Organization roles.

use std::fmt;
use std::str::FromStr;

use crate::{Catalog, Scope, ScopeRef, ScopeSet};

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

    /// The part of `held` this role may use, as scopes: each held scope the
    /// role allows, and in place of a wildcard it does not allow (`*` or
    /// `org:*` for a member) the catalog scopes under it that it does
    /// (`sandbox:*`, …, `org:read`). What "the full access" of a credential
    /// is for a key minted from it (a Runloop `ak_` key), so that a member's
    /// never holds `*`. Reserved scopes are never included.
    pub fn narrow(self, held: &ScopeSet, catalog: &Catalog) -> ScopeSet {
        let mut out = Vec::new();
        for scope in held.iter() {
            if scope.is_reserved() {
                continue;
            }
            if self.allows(scope) {
                out.push(scope.clone());
                continue;
            }
            for (resource, res) in catalog.resources() {
                let wildcard = Scope::Resource(resource.to_owned());
                if !scope.covers(&wildcard) {
                    continue;
                }
                if self.allows(&wildcard) {
                    out.push(wildcard);
                } else {
                    out.extend(
                        res.actions
                            .iter()
                            .map(|a| Scope::action(resource, a))
                            .filter(|s| !s.is_reserved() && self.allows(s)),
                    );
                }
            }
        }
        ScopeSet::from_scopes(out)
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
    fn d05_narrowing_expands_wildcards_into_what_the_role_allows() {
        let catalog = Catalog::runtools();
        let set = |items: &[&str]| catalog.parse_scopes(items).unwrap();
        let member_all = Role::Member.narrow(&ScopeSet::all(), &catalog);
        assert!(!member_all.allows(&Scope::All));
        for held in ["sandbox:*", "secret:read", "secret:write", "org:read", "keys:verify"] {
            assert!(member_all.allows(&Scope::parse(held).unwrap()), "{held} in {member_all:?}");
        }
        for refused in ["org:write", "org:members", "admin:resources", "secret:resolve", "oauth:token"] {
            assert!(!member_all.allows(&Scope::parse(refused).unwrap()), "{refused} in {member_all:?}");
        }
        assert!(member_all.iter().all(|s| Role::Member.allows(s)));
        assert_eq!(
            Role::Member.narrow(&set(&["org:*", "agent:run"]), &catalog).to_strings(),
            ["org:read", "agent:run"]
        );
        assert_eq!(Role::Member.narrow(&set(&["org:write", "admin:*"]), &catalog).to_strings(), Vec::<String>::new());
        assert_eq!(Role::Admin.narrow(&ScopeSet::all(), &catalog), ScopeSet::all());
        assert_eq!(Role::Admin.narrow(&set(&["secret:resolve", "agent:run"]), &catalog).to_strings(), ["agent:run"]);
    }

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
