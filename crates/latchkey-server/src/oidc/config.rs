//! A configured OpenID Connect provider (`[[auth.oidc]]` in `latchkey.toml`).

use latchkey_core::Role;

/// One identity provider people may sign in with.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Used in URLs (`/v1/auth/oidc/{id}/start`): 1–32 lowercase letters,
    /// digits and `-`.
    pub id: String,
    /// On the sign-in button (`Sign in with Corp SSO`).
    pub display_name: String,
    /// The issuer; discovery reads `{issuer}/.well-known/openid-configuration`.
    /// `https://`, or `http://` on a loopback address only.
    pub issuer: String,
    /// latchkey's client id at the provider.
    pub client_id: String,
    /// latchkey's client secret there (a public client when `None`).
    pub client_secret: Option<ClientSecret>,
    /// Scopes asked for (`openid` always among them).
    pub scopes: Vec<String>,
    /// When not empty, only emails of these domains may sign in.
    pub allowed_email_domains: Vec<String>,
    /// Unknown people are created in this organization with this role.
    pub jit: Option<JitConfig>,
    /// Unknown identities are linked to the account with the same email
    /// when both sides verified it.
    pub link_by_verified_email: bool,
}

/// Just-in-time accounts: where unknown people land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitConfig {
    /// The organization's id or slug.
    pub org: String,
    /// The role they get.
    pub role: Role,
}

/// A client secret; its `Debug` is redacted.
#[derive(Clone)]
pub struct ClientSecret(zeroize::Zeroizing<String>);

impl ClientSecret {
    /// A secret; `None` if it is empty.
    pub fn new(secret: &str) -> Option<Self> {
        let secret = secret.trim();
        (!secret.is_empty()).then(|| Self(zeroize::Zeroizing::new(secret.to_owned())))
    }

    /// The secret, for the token request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// Why a provider's configuration is refused at start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A bad `id`.
    #[error("auth.oidc id `{0}` must be 1-32 lowercase letters, digits and `-`")]
    Id(String),
    /// Two providers with one id.
    #[error("auth.oidc id `{0}` is used twice")]
    DuplicateId(String),
    /// An issuer that is not `https://`, or `http://` on loopback.
    #[error("auth.oidc `{id}`: issuer `{issuer}` must be an https:// URL (http:// only on a loopback address)")]
    Issuer {
        /// The provider.
        id: String,
        /// What was given.
        issuer: String,
    },
    /// No `openid` scope.
    #[error("auth.oidc `{0}`: scopes must include `openid`")]
    Scopes(String),
    /// An empty client id.
    #[error("auth.oidc `{0}`: client_id must not be empty")]
    ClientId(String),
}

impl ProviderConfig {
    /// Checks what can be checked without the network.
    pub fn check(&self) -> Result<(), ConfigError> {
        let id_ok = (1..=32).contains(&self.id.len())
            && self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(ConfigError::Id(self.id.clone()));
        }
        if !endpoint_allowed(&self.issuer) {
            return Err(ConfigError::Issuer { id: self.id.clone(), issuer: self.issuer.clone() });
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(ConfigError::Scopes(self.id.clone()));
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::ClientId(self.id.clone()));
        }
        Ok(())
    }

    /// Whether `email` may sign in through this provider.
    pub fn email_allowed(&self, email: &str) -> bool {
        if self.allowed_email_domains.is_empty() {
            return true;
        }
        let Some((_, domain)) = email.rsplit_once('@') else { return false };
        self.allowed_email_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// Checks a whole list: each provider, and ids unique.
pub fn check_all(providers: &[ProviderConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for p in providers {
        p.check()?;
        if !seen.insert(p.id.as_str()) {
            return Err(ConfigError::DuplicateId(p.id.clone()));
        }
    }
    Ok(())
}

/// Whether latchkey may call `url` (an issuer, an OAuth endpoint):
/// `https://…`, or `http://` with a loopback IP address or `localhost` as
/// its host; no user info, query or fragment.
pub(crate) fn endpoint_allowed(issuer: &str) -> bool {
    let Ok(url) = url::Url::parse(issuer) else { return false };
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return false;
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: &str, issuer: &str) -> ProviderConfig {
        ProviderConfig {
            id: id.to_owned(),
            display_name: "Corp SSO".to_owned(),
            issuer: issuer.to_owned(),
            client_id: "latchkey".to_owned(),
            client_secret: ClientSecret::new("s3cret"),
            scopes: vec!["openid".into(), "email".into()],
            allowed_email_domains: vec!["example.com".into()],
            jit: None,
            link_by_verified_email: false,
        }
    }

    #[test]
    fn http_issuers_only_on_loopback() {
        for ok in [
            "https://login.example.com",
            "http://127.0.0.1:8080",
            "http://[::1]:9000/realms/x",
            "http://localhost:3000",
        ] {
            assert_eq!(provider("corp", ok).check(), Ok(()), "{ok}");
        }
        for bad in [
            "http://login.example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "https://user:pw@login.example.com",
            "https://login.example.com/?x=1",
            "not a url",
        ] {
            assert!(matches!(provider("corp", bad).check(), Err(ConfigError::Issuer { .. })), "{bad}");
        }
    }

    #[test]
    fn ids_scopes_and_duplicates_are_checked() {
        assert!(matches!(provider("Corp", "https://a.example").check(), Err(ConfigError::Id(_))));
        assert!(matches!(provider("", "https://a.example").check(), Err(ConfigError::Id(_))));
        let no_openid = ProviderConfig { scopes: vec!["email".into()], ..provider("corp", "https://a.example") };
        assert!(matches!(no_openid.check(), Err(ConfigError::Scopes(_))));
        let twice = [provider("corp", "https://a.example"), provider("corp", "https://b.example")];
        assert_eq!(check_all(&twice), Err(ConfigError::DuplicateId("corp".into())));
        assert_eq!(format!("{:?}", ClientSecret::new("s3cret").unwrap()), "ClientSecret(<redacted>)");
    }

    #[test]
    fn allowed_domains_match_the_whole_domain() {
        let p = provider("corp", "https://a.example");
        assert!(p.email_allowed("ann@example.com"));
        assert!(p.email_allowed("ann@EXAMPLE.com"));
        assert!(!p.email_allowed("ann@evil-example.com"));
        assert!(!p.email_allowed("ann@example.com.evil.net"));
        assert!(!p.email_allowed("example.com"));
        let open = ProviderConfig { allowed_email_domains: vec![], ..p };
        assert!(open.email_allowed("ann@anywhere.net"));
    }
}
