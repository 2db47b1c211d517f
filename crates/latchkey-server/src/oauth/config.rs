//! The catalog of third-party OAuth providers people may connect
//! (`[[oauth.providers]]` in `latchkey.toml`).

use crate::oidc::ClientSecret;
use crate::oidc::config::endpoint_allowed;

/// A provider people may connect their accounts at.
#[derive(Debug, Clone)]
pub struct OAuthProviderConfig {
    /// Used in URLs and commands (`latchkey oauth connect github`): 1–32
    /// lowercase letters, digits and `-`.
    pub id: String,
    /// Shown to people (`GitHub`).
    pub display_name: String,
    /// The authorization endpoint.
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The token revocation endpoint (RFC 7009), when the provider has one.
    pub revocation_url: Option<String>,
    /// Where the account's id and label are read with the access token.
    pub userinfo_url: Option<String>,
    /// The userinfo field holding the account's id (`id`, `sub`).
    pub userinfo_id_field: String,
    /// The userinfo field holding a label people recognise (`login`, `email`).
    pub userinfo_label_field: String,
    /// Scopes asked for when a connect names none.
    pub scopes: Vec<String>,
    /// How the provider separates scopes (` `, or `,` for some).
    pub scope_separator: String,
    /// Whether to use PKCE (S256); on by default.
    pub pkce: bool,
    /// latchkey's client id there, for every organization that has not set
    /// its own.
    pub client_id: Option<String>,
    /// Its client secret.
    pub client_secret: Option<ClientSecret>,
}

/// Why a catalog entry is refused at start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    /// A bad `id`.
    #[error("oauth.providers id `{0}` must be 1-32 lowercase letters, digits and `-`")]
    Id(String),
    /// Two providers with one id.
    #[error("oauth.providers id `{0}` is used twice")]
    DuplicateId(String),
    /// An endpoint that is not `https://`, or `http://` on loopback.
    #[error("oauth.providers `{id}`: {field} `{url}` must be an https:// URL (http:// only on a loopback address)")]
    Endpoint {
        /// The provider.
        id: String,
        /// Which endpoint.
        field: &'static str,
        /// What was given.
        url: String,
    },
    /// An empty scope separator or field name.
    #[error("oauth.providers `{id}`: {field} must not be empty")]
    Empty {
        /// The provider.
        id: String,
        /// Which setting.
        field: &'static str,
    },
}

impl OAuthProviderConfig {
    /// Checks what can be checked without the network.
    pub fn check(&self) -> Result<(), CatalogError> {
        let id_ok = (1..=32).contains(&self.id.len())
            && self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(CatalogError::Id(self.id.clone()));
        }
        let endpoints = [
            ("authorize_url", Some(&self.authorize_url)),
            ("token_url", Some(&self.token_url)),
            ("revocation_url", self.revocation_url.as_ref()),
            ("userinfo_url", self.userinfo_url.as_ref()),
        ];
        for (field, url) in endpoints {
            if let Some(url) = url
                && !endpoint_allowed(url)
            {
                return Err(CatalogError::Endpoint { id: self.id.clone(), field, url: url.clone() });
            }
        }
        for (field, value) in [
            ("scope_separator", &self.scope_separator),
            ("userinfo_id_field", &self.userinfo_id_field),
            ("userinfo_label_field", &self.userinfo_label_field),
        ] {
            if value.is_empty() {
                return Err(CatalogError::Empty { id: self.id.clone(), field });
            }
        }
        Ok(())
    }
}

/// Checks a whole catalog: each provider, and ids unique.
pub fn check_catalog(providers: &[OAuthProviderConfig]) -> Result<(), CatalogError> {
    let mut seen = std::collections::HashSet::new();
    for p in providers {
        p.check()?;
        if !seen.insert(p.id.as_str()) {
            return Err(CatalogError::DuplicateId(p.id.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github() -> OAuthProviderConfig {
        OAuthProviderConfig {
            id: "github".into(),
            display_name: "GitHub".into(),
            authorize_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            revocation_url: None,
            userinfo_url: Some("https://api.github.com/user".into()),
            userinfo_id_field: "id".into(),
            userinfo_label_field: "login".into(),
            scopes: vec!["repo".into(), "read:user".into()],
            scope_separator: " ".into(),
            pkce: true,
            client_id: Some("Iv1.abc".into()),
            client_secret: ClientSecret::new("s3cret"),
        }
    }

    #[test]
    fn endpoints_are_https_or_loopback() {
        assert_eq!(github().check(), Ok(()));
        let local = OAuthProviderConfig { token_url: "http://127.0.0.1:9000/token".into(), ..github() };
        assert_eq!(local.check(), Ok(()));
        let plain = OAuthProviderConfig { token_url: "http://github.com/token".into(), ..github() };
        assert!(matches!(plain.check(), Err(CatalogError::Endpoint { field: "token_url", .. })));
        let revoke = OAuthProviderConfig { revocation_url: Some("ftp://x".into()), ..github() };
        assert!(matches!(revoke.check(), Err(CatalogError::Endpoint { field: "revocation_url", .. })));
    }

    #[test]
    fn ids_and_settings_are_checked() {
        assert!(matches!(OAuthProviderConfig { id: "Git Hub".into(), ..github() }.check(), Err(CatalogError::Id(_))));
        let empty = OAuthProviderConfig { scope_separator: String::new(), ..github() };
        assert!(matches!(empty.check(), Err(CatalogError::Empty { field: "scope_separator", .. })));
        assert_eq!(check_catalog(&[github(), github()]), Err(CatalogError::DuplicateId("github".into())));
    }
}
