//! An organization's key policy: the rules no key of the organization may
//! break, and the defaults new keys take.
//!
//! The rules ([`Rule`]) are decided over a few facts of a key
//! ([`KeyFacts`]), in one place: [`violations`] lists every rule a key
//! breaks (what `GET /v1/api-keys?compliant=false` lists, and what a
//! later "explain" shows), [`check`] refuses the first (every path that
//! mints or changes a key). A policy never changes an existing key: a key
//! made before a rule was tightened keeps working and is listed as not
//! compliant.
//!
//! * `maxLifetime` (`90d`): a key must expire, at most that long after it
//!   was created;
//! * `requireExpiry`: a key must expire;
//! * `forbidWildcardInLive`: a live key may not hold `*` (a test key may);
//! * `allowedScopes`: every scope of a key must be covered by the list
//!   (`sandbox:*` in the list allows `sandbox:read`; `sandbox:read` does
//!   not allow `sandbox:*`);
//! * `allowedCidrs`: the networks keys may be used from: a key without
//!   networks of its own is held to the policy's at verification; a key
//!   with its own may only narrow them (each of its networks inside one of
//!   the policy's).
//!
//! The default rate limits are not rules: a new key that sets none takes
//! them ([`KeyPolicy::default_limits`]).

use crate::ip::IpRules;
use crate::time_fmt::Millis;
use crate::{Environment, Scope, ScopeSet, parse_duration};

/// The longest lifetime a key may be given, as written (`90d`) and in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxLifetime {
    text: String,
    secs: u64,
}

impl MaxLifetime {
    /// Parses a duration string ([`parse_duration`]).
    ///
    /// # Errors
    /// The duration's error.
    pub fn parse(text: &str) -> Result<Self, crate::DurationError> {
        let secs = parse_duration(text)?;
        Ok(Self { text: text.trim().to_owned(), secs })
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// In milliseconds.
    pub fn millis(&self) -> Millis {
        i64::try_from(self.secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
    }
}

/// An organization's key policy (see the [module documentation](self)).
/// The default is no policy: every rule off, no defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Longest lifetime of a key.
    pub max_lifetime: Option<MaxLifetime>,
    /// Every key must expire.
    pub require_expiry: bool,
    /// No live key may hold `*`.
    pub forbid_wildcard_in_live: bool,
    /// The scopes keys may hold.
    pub allowed_scopes: Option<ScopeSet>,
    /// Per-minute limit of a new key that sets none.
    pub default_rate_limit_per_minute: Option<i64>,
    /// Per-day limit of a new key that sets none.
    pub default_rate_limit_per_day: Option<i64>,
    /// The networks keys may be used from.
    pub allowed_cidrs: Option<IpRules>,
}

impl KeyPolicy {
    /// A new key's `(per minute, per day)` limits: what it set, else the
    /// policy's defaults.
    pub fn default_limits(&self, per_minute: Option<i64>, per_day: Option<i64>) -> (Option<i64>, Option<i64>) {
        (per_minute.or(self.default_rate_limit_per_minute), per_day.or(self.default_rate_limit_per_day))
    }
}

/// A rule of a [`KeyPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `maxLifetime`
    MaxLifetime,
    /// `requireExpiry`
    RequireExpiry,
    /// `forbidWildcardInLive`
    ForbidWildcardInLive,
    /// `allowedScopes`
    AllowedScopes,
    /// `allowedCidrs`
    AllowedCidrs,
}

impl Rule {
    /// The rule's name, as the policy's field (`maxLifetime`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MaxLifetime => "maxLifetime",
            Self::RequireExpiry => "requireExpiry",
            Self::ForbidWildcardInLive => "forbidWildcardInLive",
            Self::AllowedScopes => "allowedScopes",
            Self::AllowedCidrs => "allowedCidrs",
        }
    }
}

/// A rule a key breaks, and a sentence saying how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// What is wrong, for people (names the rule).
    pub message: String,
}

/// What the rules are decided over: a key as it is, or as it would be.
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts<'a> {
    /// live / test.
    pub environment: Environment,
    /// The scopes.
    pub scopes: &'a ScopeSet,
    /// When the key was (or is being) created.
    pub created_at: Millis,
    /// When it expires, if it does.
    pub expires_at: Option<Millis>,
    /// Its own networks, if any.
    pub allowed_cidrs: Option<&'a IpRules>,
}

/// Every rule of `policy` that `key` breaks, in the order of [`Rule`]'s
/// fields in the policy (`requireExpiry` before `maxLifetime`).
pub fn violations(policy: &KeyPolicy, key: &KeyFacts<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut add = |rule: Rule, message: String| {
        out.push(Violation { rule, message: format!("the organization's key policy ({}): {message}", rule.as_str()) });
    };
    if policy.require_expiry && key.expires_at.is_none() {
        add(Rule::RequireExpiry, "keys must expire; set expiresIn or expiresAt".to_owned());
    }
    if let Some(max) = &policy.max_lifetime {
        match key.expires_at {
            None => add(Rule::MaxLifetime, format!("keys must expire within {}; set an expiry", max.as_str())),
            Some(at) if at.saturating_sub(key.created_at) > max.millis() => {
                add(Rule::MaxLifetime, format!("keys must expire within {} of their creation", max.as_str()));
            }
            Some(_) => {}
        }
    }
    if policy.forbid_wildcard_in_live
        && key.environment == Environment::Live
        && key.scopes.iter().any(|s| *s == Scope::All)
    {
        add(Rule::ForbidWildcardInLive, "a live key may not hold `*`; name its scopes".to_owned());
    }
    if let Some(allowed) = &policy.allowed_scopes {
        let beyond: Vec<String> = key.scopes.iter().filter(|s| !allowed.allows(s)).map(|s| format!("`{s}`")).collect();
        if !beyond.is_empty() {
            add(Rule::AllowedScopes, format!("scopes not allowed: {}", beyond.join(", ")));
        }
    }
    if let (Some(allowed), Some(own)) = (&policy.allowed_cidrs, key.allowed_cidrs) {
        let outside = own.outside(allowed);
        if !outside.is_empty() {
            add(Rule::AllowedCidrs, format!("networks outside the allowed ones: {}", outside.join(", ")));
        }
    }
    out
}

/// The first rule of `policy` that `key` breaks, if any.
///
/// # Errors
/// The [`Violation`].
pub fn check(policy: &KeyPolicy, key: &KeyFacts<'_>) -> Result<(), Violation> {
    match violations(policy, key).into_iter().next() {
        Some(v) => Err(v),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 86_400_000;

    fn scopes(list: &[&str]) -> ScopeSet {
        ScopeSet::from_stored(list)
    }

    fn rules(
        policy: &KeyPolicy,
        env: Environment,
        s: &ScopeSet,
        expires: Option<Millis>,
        cidrs: Option<&IpRules>,
    ) -> Vec<Rule> {
        let facts =
            KeyFacts { environment: env, scopes: s, created_at: 1_000, expires_at: expires, allowed_cidrs: cidrs };
        violations(policy, &facts).into_iter().map(|v| v.rule).collect()
    }

    /// Each rule, on each side of its line.
    #[test]
    fn each_rule_decides_its_own_case() {
        use Environment::{Live, Test};
        let all = scopes(&["*"]);
        let read = scopes(&["sandbox:read"]);
        assert!(rules(&KeyPolicy::default(), Live, &all, None, None).is_empty(), "no policy, no rule");

        let expiry = KeyPolicy { require_expiry: true, ..KeyPolicy::default() };
        assert_eq!(rules(&expiry, Live, &read, None, None), [Rule::RequireExpiry]);
        assert!(rules(&expiry, Live, &read, Some(1_000 + 400 * DAY), None).is_empty());

        let max = KeyPolicy { max_lifetime: Some(MaxLifetime::parse("90d").unwrap()), ..KeyPolicy::default() };
        assert_eq!(rules(&max, Live, &read, None, None), [Rule::MaxLifetime]);
        assert_eq!(rules(&max, Live, &read, Some(1_000 + 90 * DAY + 1), None), [Rule::MaxLifetime]);
        assert!(rules(&max, Live, &read, Some(1_000 + 90 * DAY), None).is_empty());

        let wild = KeyPolicy { forbid_wildcard_in_live: true, ..KeyPolicy::default() };
        assert_eq!(rules(&wild, Live, &all, None, None), [Rule::ForbidWildcardInLive]);
        assert!(rules(&wild, Test, &all, None, None).is_empty(), "test keys may");
        assert!(rules(&wild, Live, &scopes(&["sandbox:*"]), None, None).is_empty(), "only `*`");

        let allowed = KeyPolicy { allowed_scopes: Some(scopes(&["sandbox:*", "agent:read"])), ..KeyPolicy::default() };
        assert!(rules(&allowed, Live, &scopes(&["sandbox:read", "sandbox:*", "agent:read"]), None, None).is_empty());
        let v = violations(
            &allowed,
            &KeyFacts {
                environment: Live,
                scopes: &scopes(&["agent:*", "sandbox:write"]),
                created_at: 0,
                expires_at: None,
                allowed_cidrs: None,
            },
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].message, "the organization's key policy (allowedScopes): scopes not allowed: `agent:*`");

        let nets = KeyPolicy { allowed_cidrs: Some(IpRules::parse(&["10.0.0.0/8"]).unwrap()), ..KeyPolicy::default() };
        let inside = IpRules::parse(&["10.1.0.0/16"]).unwrap();
        let outside = IpRules::parse(&["10.1.0.0/16", "192.0.2.0/24"]).unwrap();
        assert!(rules(&nets, Live, &read, None, None).is_empty(), "the policy's list applies");
        assert!(rules(&nets, Live, &read, None, Some(&inside)).is_empty());
        assert_eq!(rules(&nets, Live, &read, None, Some(&outside)), [Rule::AllowedCidrs]);
    }

    #[test]
    fn check_refuses_the_first_and_defaults_fill_only_what_is_unset() {
        let p = KeyPolicy {
            require_expiry: true,
            max_lifetime: Some(MaxLifetime::parse("1d").unwrap()),
            default_rate_limit_per_minute: Some(60),
            default_rate_limit_per_day: Some(1_000),
            ..KeyPolicy::default()
        };
        let s = scopes(&["*"]);
        let facts = KeyFacts {
            environment: Environment::Live,
            scopes: &s,
            created_at: 0,
            expires_at: None,
            allowed_cidrs: None,
        };
        assert_eq!(check(&p, &facts).unwrap_err().rule, Rule::RequireExpiry);
        assert_eq!(violations(&p, &facts).len(), 2);
        assert_eq!(p.default_limits(None, Some(5)), (Some(60), Some(5)));
        assert_eq!(KeyPolicy::default().default_limits(None, None), (None, None));
    }
}
