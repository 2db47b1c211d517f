//! How the compatibility profiles' scope vocabularies map onto the one scope
//! model (DESIGN §3, §5).
//!
//! * **Runloop** (`reference/003_…`): a restricted key carries structured
//!   scopes `{resource_type, access_level}`. Each resource type is a catalog
//!   resource with the actions `read` and `write`; `ACCESS_LEVEL_WRITE`
//!   implies `READ`, `ACCESS_LEVEL_NONE` grants nothing.
//!   `RESOURCE_TYPE_ACCOUNT` is latchkey's own `org` resource, so ACCOUNT
//!   WRITE is `org:write`, the permission that manages keys.
//! * **Runtype** (`reference/004_…`): scopes are written `action:resource`
//!   (`read:products`); they are the same scopes as `products:read`, and are
//!   stored in that canonical form.

use crate::scope::{Catalog, Scope};

/// Runloop resource types, the catalog resource each one is, and what it
/// covers. `RESOURCE_TYPE_ACCOUNT` maps to the built-in `org` resource.
pub const RUNLOOP_RESOURCES: [(&str, &str, &str); 9] = [
    ("RESOURCE_TYPE_DEVBOXES", "devboxes", "Runloop devboxes"),
    ("RESOURCE_TYPE_BLUEPRINTS", "blueprints", "Runloop blueprints"),
    ("RESOURCE_TYPE_SNAPSHOTS", "snapshots", "Runloop devbox snapshots"),
    ("RESOURCE_TYPE_BENCHMARKS", "benchmarks", "Runloop benchmarks"),
    ("RESOURCE_TYPE_SCENARIOS", "scenarios", "Runloop scenarios"),
    ("RESOURCE_TYPE_REPO_CONNECTIONS", "repo-connections", "Runloop repository connections"),
    ("RESOURCE_TYPE_AGENTS", "agents", "Runloop agents"),
    ("RESOURCE_TYPE_OBJECTS", "objects", "Runloop storage objects"),
    ("RESOURCE_TYPE_ACCOUNT", "org", "Organization settings, API keys and members"),
];

/// A Runloop access level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessLevel {
    /// `ACCESS_LEVEL_NONE`: nothing.
    None,
    /// `ACCESS_LEVEL_READ`: `read`.
    Read,
    /// `ACCESS_LEVEL_WRITE`: `read` and `write`.
    Write,
}

impl AccessLevel {
    /// Parses the wire form (`ACCESS_LEVEL_READ`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACCESS_LEVEL_NONE" => Some(Self::None),
            "ACCESS_LEVEL_READ" => Some(Self::Read),
            "ACCESS_LEVEL_WRITE" => Some(Self::Write),
            _ => None,
        }
    }

    /// The actions this level grants, lowest first.
    pub const fn actions(self) -> &'static [&'static str] {
        match self {
            Self::None => &[],
            Self::Read => &["read"],
            Self::Write => &["read", "write"],
        }
    }
}

/// The catalog resource of a Runloop resource type (`RESOURCE_TYPE_DEVBOXES`
/// → `devboxes`).
pub fn runloop_resource(resource_type: &str) -> Option<&'static str> {
    RUNLOOP_RESOURCES.iter().find(|(t, _, _)| *t == resource_type).map(|(_, r, _)| *r)
}

/// Adds the Runloop resources (`devboxes`, `blueprints`, …; each with `read`
/// and `write`) to `catalog`. `org` is already there.
pub fn add_runloop_resources(catalog: &mut Catalog) {
    for (_, resource, description) in RUNLOOP_RESOURCES {
        if resource != "org" {
            catalog.add(resource, &["read", "write"], description);
        }
    }
}

/// Why a list of Runloop scope entries is refused; each entry named as
/// `TYPE/LEVEL (reason)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scopes: {}", .0.join(", "))]
pub struct InvalidRunloopScopes(pub Vec<String>);

/// The canonical scopes granted by Runloop entries `(resource_type,
/// access_level)`, in entry order (read before write). Unknown types or
/// levels and a resource type given twice are refused, naming every bad
/// entry. An empty list, or only `NONE` entries, grants nothing.
pub fn runloop_scopes<S: AsRef<str>>(entries: &[(S, S)]) -> Result<Vec<Scope>, InvalidRunloopScopes> {
    let mut bad = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (resource_type, level) in entries {
        let (resource_type, level) = (resource_type.as_ref(), level.as_ref());
        let name = format!("{resource_type}/{level}");
        let (Some(resource), Some(level)) = (runloop_resource(resource_type), AccessLevel::parse(level)) else {
            let reason = if runloop_resource(resource_type).is_none() {
                "unknown resource type"
            } else {
                "unknown access level"
            };
            bad.push(format!("{name} ({reason})"));
            continue;
        };
        if seen.contains(&resource_type) {
            bad.push(format!("{name} (resource type given twice)"));
            continue;
        }
        seen.push(resource_type);
        out.extend(level.actions().iter().map(|a| Scope::action(resource, a)));
    }
    if bad.is_empty() { Ok(out) } else { Err(InvalidRunloopScopes(bad)) }
}

/// Parses a Runtype scope `action:resource` (`read:products`, `*:orders`)
/// into the scope it names (`products:read`, `orders:*`). `None` for
/// anything else.
pub fn runtype_scope(s: &str) -> Option<Scope> {
    let (action, resource) = s.split_once(':')?;
    if resource.contains(':') || resource == "*" {
        return None;
    }
    Scope::parse(&format!("{resource}:{action}"))
}

/// The catalog every latchkey serves: the RunTools resources (reference
/// documents 000–002, plus `keys:verify`) and the Runloop preset.
pub fn default_catalog() -> Catalog {
    let mut c = Catalog::runtools();
    add_runloop_resources(&mut c);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(scopes: &[Scope]) -> Vec<String> {
        scopes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn levels_map_to_actions_and_write_implies_read() {
        let got = runloop_scopes(&[
            ("RESOURCE_TYPE_DEVBOXES", "ACCESS_LEVEL_WRITE"),
            ("RESOURCE_TYPE_ACCOUNT", "ACCESS_LEVEL_READ"),
            ("RESOURCE_TYPE_SNAPSHOTS", "ACCESS_LEVEL_NONE"),
            ("RESOURCE_TYPE_REPO_CONNECTIONS", "ACCESS_LEVEL_READ"),
        ])
        .unwrap();
        assert_eq!(strings(&got), ["devboxes:read", "devboxes:write", "org:read", "repo-connections:read"]);
    }

    #[test]
    fn none_and_empty_grant_nothing() {
        assert!(runloop_scopes::<&str>(&[]).unwrap().is_empty());
        assert!(runloop_scopes(&[("RESOURCE_TYPE_AGENTS", "ACCESS_LEVEL_NONE")]).unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_all_named() {
        let err = runloop_scopes(&[
            ("RESOURCE_TYPE_PIZZA", "ACCESS_LEVEL_READ"),
            ("RESOURCE_TYPE_DEVBOXES", "ACCESS_LEVEL_ADMIN"),
            ("RESOURCE_TYPE_OBJECTS", "ACCESS_LEVEL_READ"),
            ("RESOURCE_TYPE_OBJECTS", "ACCESS_LEVEL_WRITE"),
            ("resource_type_devboxes", "ACCESS_LEVEL_READ"),
        ])
        .unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
        assert!(err.0[0].contains("RESOURCE_TYPE_PIZZA") && err.0[0].contains("unknown resource type"));
        assert!(err.0[1].contains("unknown access level"));
        assert!(err.0[2].contains("given twice"));
    }

    #[test]
    fn every_runloop_scope_is_in_the_default_catalog() {
        let catalog = default_catalog();
        for (t, _, _) in RUNLOOP_RESOURCES {
            for scope in runloop_scopes(&[(t, "ACCESS_LEVEL_WRITE")]).unwrap() {
                assert!(catalog.contains(&scope), "{scope}");
            }
        }
        // ACCOUNT WRITE is the permission that manages keys.
        let account = runloop_scopes(&[("RESOURCE_TYPE_ACCOUNT", "ACCESS_LEVEL_WRITE")]).unwrap();
        assert!(account.contains(&Scope::action("org", "write")));
    }

    #[test]
    fn runtype_scopes_are_action_then_resource() {
        let cases = [
            ("read:products", Some("products:read")),
            ("write:orders", Some("orders:write")),
            ("*:orders", Some("orders:*")),
            ("read:repo-connections", Some("repo-connections:read")),
            ("products", None),
            ("read:", None),
            (":products", None),
            ("Read:products", None),
            ("read:products:x", None),
            ("read:*", None),
            ("*", None),
            ("", None),
        ];
        for (given, want) in cases {
            assert_eq!(runtype_scope(given).map(|s| s.to_string()).as_deref(), want, "{given}");
        }
    }
}
