//! Scopes and the permission check.
//!
//! A scope is `resource:action`, `resource:*` or `*`. Scopes are parsed into
//! [`Scope`] values (validated against a [`Catalog`]) and stored as their
//! canonical text, never by position in an enum.
//!
//! The one permission question is [`ScopeSet::allows`]: does any held scope
//! cover the required one? "No escalation" is [`ScopeSet::missing_from`]:
//! every scope a caller grants must be covered by what the caller holds.
//!
//! A few scopes are *reserved* ([`RESERVED`]): no wildcard covers them (not
//! `*`, not `secret:*`), and no request can grant them; only the operator
//! mints a key holding one, from the command line.

use std::collections::BTreeMap;
use std::fmt;

/// One scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `*`: everything in the organization.
    All,
    /// `resource:*`: every action on one resource.
    Resource(String),
    /// `resource:action`.
    Action(String, String),
}

impl Scope {
    /// Parses the syntax only (no catalog check). Resource and action names
    /// are lowercase ASCII letters, digits and `-`.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "*" {
            return Some(Self::All);
        }
        let (resource, action) = s.split_once(':')?;
        if !is_name(resource) {
            return None;
        }
        if action == "*" {
            Some(Self::Resource(resource.to_owned()))
        } else if is_name(action) {
            Some(Self::Action(resource.to_owned(), action.to_owned()))
        } else {
            None
        }
    }

    /// Shorthand for `resource:action` (an owned scope; a check against a
    /// static requirement takes a [`ScopeRef`] and allocates nothing).
    pub fn action(resource: &str, action: &str) -> Self {
        Self::Action(resource.to_owned(), action.to_owned())
    }

    /// Whether holding `self` grants `other` (which may itself be a wildcard).
    pub fn covers(&self, other: &Self) -> bool {
        self.borrowed().covers(other.borrowed())
    }

    /// The borrowed form the checks compare.
    pub fn borrowed(&self) -> ScopeRef<'_> {
        match self {
            Self::All => ScopeRef::All,
            Self::Resource(r) => ScopeRef::Resource(r),
            Self::Action(r, a) => ScopeRef::Action(r, a),
        }
    }

    /// Whether this is a [`RESERVED`] scope.
    pub fn is_reserved(&self) -> bool {
        self.borrowed().is_reserved()
    }
}

/// A scope borrowed: what the permission checks compare, so that checking a
/// handler's static requirement (`ScopeRef::Action("org", "read")`)
/// allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeRef<'a> {
    /// `*`.
    All,
    /// `resource:*`.
    Resource(&'a str),
    /// `resource:action`.
    Action(&'a str, &'a str),
}

impl ScopeRef<'_> {
    /// Whether holding `self` grants `other` (which may itself be a wildcard).
    /// A reserved scope is covered only by itself.
    pub fn covers(self, other: ScopeRef<'_>) -> bool {
        match (self, other) {
            (Self::All, _) => !other.is_reserved(),
            (Self::Resource(r), ScopeRef::Resource(o)) => r == o,
            (Self::Resource(r), ScopeRef::Action(o, _)) => r == o && !other.is_reserved(),
            (Self::Action(r, a), ScopeRef::Action(o, b)) => r == o && a == b,
            _ => false,
        }
    }

    /// Whether this is a [`RESERVED`] scope.
    pub fn is_reserved(self) -> bool {
        matches!(self, Self::Action(r, a) if RESERVED.contains(&(r, a)))
    }
}

/// Scopes no wildcard covers and no API request can grant: a key holds one
/// only when the operator minted it from the command line
/// (`latchkey admin create-service-key`). `secret:resolve` resolves any
/// member's private secrets and `oauth:token` hands out any member's
/// connected-app access tokens: the platform's jobs, not an organization
/// admin's.
pub const RESERVED: [(&str, &str); 2] = [("secret", "resolve"), ("oauth", "token")];

/// The most scopes one request may name (a key's scopes, the scopes a
/// verify requires): longer lists are refused before any parsing.
pub const MAX_SCOPES: usize = 100;

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Resource(r) => write!(f, "{r}:*"),
            Self::Action(r, a) => write!(f, "{r}:{a}"),
        }
    }
}

/// A scope serializes as its canonical text (`*`, `sandbox:*`,
/// `agent:run`), joined on the stack (parsed names are at most 64
/// characters) with no `String` and no formatting machinery.
impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (resource, action) = match self.borrowed() {
            ScopeRef::All => return serializer.serialize_str("*"),
            ScopeRef::Resource(r) => (r, "*"),
            ScopeRef::Action(r, a) => (r, a),
        };
        let mut buf = [0u8; 160];
        let len = resource.len() + 1 + action.len();
        let Some(out) = buf.get_mut(..len) else {
            return serializer.collect_str(self);
        };
        out[..resource.len()].copy_from_slice(resource.as_bytes());
        out[resource.len()] = b':';
        out[resource.len() + 1..].copy_from_slice(action.as_bytes());
        // Joined from two `str`s and an ASCII colon: valid UTF-8.
        match std::str::from_utf8(out) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => serializer.collect_str(self),
        }
    }
}

/// Scopes that are not in the catalog (or not scopes at all), by their text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scopes: {}", .0.join(", "))]
pub struct InvalidScopes(pub Vec<String>);

/// A set of scopes held by a key, in the order given, without duplicates.
/// It serializes as the list of its scopes' canonical text: the stored form
/// ([`ScopeSet::from_stored`] reads it back) and the wire form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ScopeSet(Vec<Scope>);

impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(&self.0)
    }
}

impl ScopeSet {
    /// `["*"]`.
    pub fn all() -> Self {
        Self(vec![Scope::All])
    }

    /// Builds a set from already validated scopes, dropping duplicates.
    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut out: Vec<Scope> = Vec::new();
        for s in scopes {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Self(out)
    }

    /// Rebuilds a set from stored canonical text; entries that no longer
    /// parse are dropped (they can grant nothing).
    pub fn from_stored<S: AsRef<str>>(items: &[S]) -> Self {
        Self::from_scopes(items.iter().filter_map(|s| Scope::parse(s.as_ref())))
    }

    /// Whether some held scope covers `required`.
    pub fn allows(&self, required: &Scope) -> bool {
        self.allows_ref(required.borrowed())
    }

    /// [`ScopeSet::allows`] for a borrowed requirement.
    pub fn allows_ref(&self, required: ScopeRef<'_>) -> bool {
        self.0.iter().any(|held| held.borrowed().covers(required))
    }

    /// The scopes of `requested` that this set does not cover (empty when
    /// granting `requested` is no escalation).
    pub fn missing_from(&self, requested: &Self) -> Vec<String> {
        requested.0.iter().filter(|r| !self.allows(r)).map(ToString::to_string).collect()
    }

    /// Canonical text of each scope, for storage and responses.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty (grants nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The resources and actions scopes may name. The default is the RunTools
/// list from the reference documents, plus `keys:verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    resources: BTreeMap<String, CatalogResource>,
}

/// One resource of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogResource {
    /// Actions, in display order.
    pub actions: Vec<String>,
    /// What the resource covers, for `GET /v1/scopes`.
    pub description: String,
}

impl Catalog {
    /// The RunTools scope list (reference documents 000–002).
    pub fn runtools() -> Self {
        let mut c = Self { resources: BTreeMap::new() };
        c.add("sandbox", &["create", "read", "write"], "Sandbox lifecycle and command execution");
        c.add("agent", &["run", "read", "write"], "Agent management and runs");
        c.add("workflow", &["read", "write", "run"], "Workflow management, runs, triggers, and versions");
        c.add("tool", &["read", "write", "run"], "Tool Hub installs, credentials, and execution");
        c.add("ssh-key", &["read", "write"], "SSH key management");
        c.add("files", &["read", "write"], "Workspace file access");
        c.add(
            "secret",
            &["read", "write", "resolve"],
            "Secrets: reveal and resolve values (read), set and delete (write); resolve any member's (resolve: \
             operator-issued service keys only, never granted through the API)",
        );
        c.add(
            "oauth",
            &["read", "write", "token"],
            "Connected apps: list providers and connections (read); connect, disconnect, choose defaults and set the \
             organization's client credentials (write); hand out any member's access tokens (token: operator-issued \
             service keys only, never granted through the API)",
        );
        c.add("org", &["read", "write", "members"], "Organization settings, API keys and members");
        c.add("admin", &["resources"], "Administrative access to organization resources");
        c.add("keys", &["verify"], "Verify API keys of the organization (POST /v1/keys/verify)");
        c
    }

    /// Adds (or replaces) a resource.
    pub fn add(&mut self, resource: &str, actions: &[&str], description: &str) {
        self.resources.insert(
            resource.to_owned(),
            CatalogResource {
                actions: actions.iter().map(|a| (*a).to_owned()).collect(),
                description: description.to_owned(),
            },
        );
    }

    /// The resources, by name.
    pub fn resources(&self) -> impl Iterator<Item = (&str, &CatalogResource)> {
        self.resources.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether the catalog knows `scope`.
    pub fn contains(&self, scope: &Scope) -> bool {
        match scope {
            Scope::All => true,
            Scope::Resource(r) => self.resources.contains_key(r),
            Scope::Action(r, a) => self.resources.get(r).is_some_and(|res| res.actions.contains(a)),
        }
    }

    /// Parses requested scopes. Empty input means `["*"]`. Every entry that
    /// is not a valid scope of this catalog is named in the error; more than
    /// [`MAX_SCOPES`] entries are refused before any is parsed.
    pub fn parse_scopes<S: AsRef<str>>(&self, input: &[S]) -> Result<ScopeSet, InvalidScopes> {
        if input.is_empty() {
            return Ok(ScopeSet::all());
        }
        if input.len() > MAX_SCOPES {
            return Err(InvalidScopes(vec![format!("(more than {MAX_SCOPES} scopes)")]));
        }
        let mut bad = Vec::new();
        let mut good = Vec::new();
        for raw in input {
            let raw = raw.as_ref();
            match Scope::parse(raw) {
                Some(s) if self.contains(&s) => good.push(s),
                _ => bad.push(raw.to_owned()),
            }
        }
        if bad.is_empty() { Ok(ScopeSet::from_scopes(good)) } else { Err(InvalidScopes(bad)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> ScopeSet {
        Catalog::runtools().parse_scopes(items).unwrap()
    }

    #[test]
    fn covers_table() {
        // (held, required, allowed)
        let cases = [
            ("*", "sandbox:create", true),
            ("*", "org:*", true),
            ("*", "*", true),
            ("sandbox:*", "sandbox:create", true),
            ("sandbox:*", "sandbox:*", true),
            ("sandbox:*", "agent:run", false),
            ("sandbox:*", "*", false),
            ("sandbox:create", "sandbox:create", true),
            ("sandbox:create", "sandbox:read", false),
            ("sandbox:create", "sandbox:*", false),
            ("org:write", "org:read", false),
            ("org:*", "org:write", true),
            // Reserved: covered by nothing but itself.
            ("*", "secret:resolve", false),
            ("secret:*", "secret:resolve", false),
            ("secret:*", "secret:read", true),
            ("secret:resolve", "secret:resolve", true),
            ("secret:resolve", "secret:read", false),
            ("*", "oauth:token", false),
            ("oauth:*", "oauth:token", false),
            ("oauth:*", "oauth:read", true),
            ("oauth:token", "oauth:token", true),
            ("oauth:token", "oauth:read", false),
        ];
        for (held, required, allowed) in cases {
            let h = Scope::parse(held).unwrap();
            let r = Scope::parse(required).unwrap();
            assert_eq!(h.covers(&r), allowed, "{held} covers {required}");
        }
    }

    #[test]
    fn scopes_serialize_as_their_canonical_text() {
        let long = "a".repeat(64);
        let texts = ["*".to_owned(), "sandbox:*".to_owned(), "keys:verify".to_owned(), format!("{long}:{long}")];
        let set = ScopeSet::from_scopes(texts.iter().map(|t| Scope::parse(t).unwrap()));
        assert_eq!(serde_json::to_value(&set).unwrap(), serde_json::json!(set.to_strings()));
        assert_eq!(set.to_strings(), texts);
        // Longer than the stack buffer (never parsed, but constructible): the same text.
        let huge = Scope::action(&"r".repeat(100), &"a".repeat(100));
        assert_eq!(serde_json::to_value(&huge).unwrap(), serde_json::json!(huge.to_string()));
        // What storage writes, it reads back.
        let stored = serde_json::to_string(&set).unwrap();
        assert_eq!(ScopeSet::from_stored(&serde_json::from_str::<Vec<String>>(&stored).unwrap()), set);
    }

    #[test]
    fn empty_means_everything() {
        assert_eq!(set(&[]), ScopeSet::all());
    }

    #[test]
    fn documented_scopes_are_in_the_catalog() {
        let documented = [
            "sandbox:create",
            "sandbox:read",
            "sandbox:write",
            "sandbox:*",
            "agent:run",
            "agent:read",
            "agent:write",
            "agent:*",
            "files:read",
            "files:write",
            "files:*",
            "org:read",
            "org:write",
            "org:members",
            "org:*",
            "admin:resources",
            "admin:*",
            "*",
            "workflow:*",
            "tool:*",
            "ssh-key:*",
            "ssh-key:read",
            "ssh-key:write",
            "secret:read",
            "secret:write",
            "secret:*",
            "secret:resolve",
            "keys:verify",
            "oauth:read",
            "oauth:write",
            "oauth:token",
            "oauth:*",
        ];
        assert_eq!(set(&documented).len(), documented.len());
    }

    #[test]
    fn unknown_scopes_are_named() {
        let err = Catalog::runtools()
            .parse_scopes(&["sandbox:create", "sandbox:fly", "nope:*", "junk", "", "SANDBOX:create"])
            .unwrap_err();
        assert_eq!(err.0, vec!["sandbox:fly", "nope:*", "junk", "", "SANDBOX:create"]);
    }

    #[test]
    fn duplicates_are_dropped_in_order() {
        assert_eq!(set(&["agent:run", "sandbox:*", "agent:run"]).to_strings(), vec!["agent:run", "sandbox:*"]);
    }

    #[test]
    fn d15_too_many_scopes_are_refused_before_parsing() {
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("nope{i}:x")).collect();
        let err = Catalog::runtools().parse_scopes(&many).unwrap_err();
        assert_eq!(err.0.len(), 1, "one message, not {} parsed entries", many.len());
        assert_eq!(Catalog::runtools().parse_scopes(&many[..MAX_SCOPES]).unwrap_err().0.len(), MAX_SCOPES);
    }

    #[test]
    fn d07_no_wildcard_grants_a_reserved_scope() {
        assert!(ScopeSet::all().missing_from(&set(&["secret:resolve"])) == vec!["secret:resolve"]);
        assert!(set(&["secret:*"]).missing_from(&set(&["secret:resolve"])) == vec!["secret:resolve"]);
        assert!(Scope::parse("secret:resolve").unwrap().is_reserved());
        assert!(Scope::parse("oauth:token").unwrap().is_reserved());
        assert!(set(&["oauth:*"]).missing_from(&set(&["oauth:token"])) == vec!["oauth:token"]);
        assert!(!Scope::parse("secret:read").unwrap().is_reserved());
        assert!(!Scope::All.is_reserved());
    }

    #[test]
    fn escalation_is_detected() {
        let held = set(&["sandbox:*", "org:write"]);
        assert!(held.missing_from(&set(&["sandbox:create", "org:write"])).is_empty());
        assert_eq!(held.missing_from(&set(&["*"])), vec!["*"]);
        assert_eq!(held.missing_from(&set(&["org:*", "agent:run"])), vec!["org:*", "agent:run"]);
        assert!(ScopeSet::all().missing_from(&set(&["org:*", "admin:*"])).is_empty());
    }
}
