//! The OAuth clients latchkey is configured as: `[oauth]`, the providers
//! people connect their accounts at (connected apps), and `[auth]`, the
//! OpenID providers people sign in with; and their client secrets (inline,
//! in a file, or from the environment, which wins).

use std::path::PathBuf;

use anyhow::Context;
use latchkey_core::Role;
use latchkey_server::oauth::OAuthProviderConfig;
use latchkey_server::oidc::{ClientSecret, JitConfig, ProviderConfig};
use serde::Deserialize;

/// `[oauth]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The providers people may connect.
    #[serde(default)]
    pub providers: Vec<OAuthProviderTable>,
}

/// `[[oauth.providers]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthProviderTable {
    /// Used in URLs and commands.
    pub id: String,
    /// Shown to people.
    pub display_name: Option<String>,
    /// The authorization endpoint.
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The revocation endpoint (RFC 7009).
    pub revocation_url: Option<String>,
    /// Where the account's id and label are read.
    pub userinfo_url: Option<String>,
    /// The userinfo field of the account id (default `id`).
    pub userinfo_id_field: Option<String>,
    /// The userinfo field of its label (default `login`).
    pub userinfo_label_field: Option<String>,
    /// Default scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Scope separator (default a space).
    pub scope_separator: Option<String>,
    /// PKCE (default on).
    pub pkce: Option<bool>,
    /// latchkey's client id there.
    pub client_id: Option<String>,
    /// Its client secret.
    pub client_secret: Option<String>,
    /// A file holding it.
    pub client_secret_file: Option<PathBuf>,
}

/// A client secret from `inline`, `file` or the environment variable
/// `LATCHKEY_<KIND>_<ID>_CLIENT_SECRET` (which wins); `table` names the
/// table in messages (`auth.oidc`, `oauth.providers`).
fn client_secret(
    table: &str,
    kind: &str,
    id: &str,
    inline: Option<&String>,
    file: Option<&PathBuf>,
) -> anyhow::Result<Option<ClientSecret>> {
    let env = format!("LATCHKEY_{kind}_{}_CLIENT_SECRET", id.to_ascii_uppercase().replace('-', "_"));
    read_secret(&format!("{table} `{id}`"), ["client_secret", "client_secret_file"], &env, inline, file)
}

/// A secret from the environment variable `env` (which wins), `inline` or
/// `file` (trimmed; `None` when empty or nowhere); `setting` names the
/// table in messages, `names` the two settings, which exclude each other.
pub(super) fn read_secret(
    setting: &str,
    names: [&str; 2],
    env: &str,
    inline: Option<&String>,
    file: Option<&PathBuf>,
) -> anyhow::Result<Option<ClientSecret>> {
    anyhow::ensure!(inline.is_none() || file.is_none(), "{setting}: set {} or {}, not both", names[0], names[1]);
    let secret = match (std::env::var(env).ok(), inline, file) {
        (Some(s), _, _) => Some(s),
        (None, Some(s), _) => Some(s.clone()),
        (None, None, Some(file)) => {
            Some(std::fs::read_to_string(file).with_context(|| format!("{setting}: cannot read {}", file.display()))?)
        }
        (None, None, None) => None,
    };
    Ok(secret.as_deref().and_then(ClientSecret::new))
}

/// The catalog entry `t` describes.
pub(super) fn oauth_provider(t: OAuthProviderTable) -> anyhow::Result<OAuthProviderConfig> {
    let client_secret =
        client_secret("oauth.providers", "OAUTH", &t.id, t.client_secret.as_ref(), t.client_secret_file.as_ref())?;
    Ok(OAuthProviderConfig {
        display_name: t.display_name.unwrap_or_else(|| t.id.clone()),
        authorize_url: t.authorize_url,
        token_url: t.token_url,
        revocation_url: t.revocation_url,
        userinfo_url: t.userinfo_url,
        userinfo_id_field: t.userinfo_id_field.unwrap_or_else(|| "id".to_owned()),
        userinfo_label_field: t.userinfo_label_field.unwrap_or_else(|| "login".to_owned()),
        scopes: t.scopes,
        scope_separator: t.scope_separator.unwrap_or_else(|| " ".to_owned()),
        pkce: t.pkce.unwrap_or(true),
        client_id: t.client_id,
        client_secret,
        id: t.id,
    })
}

/// `[auth]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// OpenID Connect providers.
    #[serde(default)]
    pub oidc: Vec<OidcConfig>,
}

/// `[[auth.oidc]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Used in URLs.
    pub id: String,
    /// On the sign-in button.
    pub display_name: Option<String>,
    /// The issuer URL.
    pub issuer: String,
    /// latchkey's client id there.
    pub client_id: String,
    /// latchkey's client secret there.
    pub client_secret: Option<String>,
    /// A file holding it.
    pub client_secret_file: Option<PathBuf>,
    /// Scopes (default `openid email profile`).
    pub scopes: Option<Vec<String>>,
    /// Email domains allowed to sign in (all when absent).
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// Just-in-time accounts.
    pub jit: Option<JitTable>,
    /// Link unknown identities by verified email.
    #[serde(default)]
    pub link_by_verified_email: bool,
}

/// `jit = { org = "acme", role = "member" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitTable {
    /// Organization id or slug.
    pub org: String,
    /// `admin` or `member` (default `member`).
    pub role: Option<String>,
}

/// The provider `c` describes, its secret read from `client_secret`,
/// `client_secret_file` or `LATCHKEY_OIDC_<ID>_CLIENT_SECRET` (which wins).
pub(super) fn oidc_provider(c: OidcConfig) -> anyhow::Result<ProviderConfig> {
    let secret = client_secret("auth.oidc", "OIDC", &c.id, c.client_secret.as_ref(), c.client_secret_file.as_ref())?;
    let role = match c.jit.as_ref().and_then(|j| j.role.as_deref()).unwrap_or("member") {
        "member" => Role::Member,
        "admin" => Role::Admin,
        other => anyhow::bail!("auth.oidc `{}`: jit role must be `member` or `admin`, not `{other}`", c.id),
    };
    let provider = ProviderConfig {
        display_name: c.display_name.unwrap_or_else(|| c.id.clone()),
        issuer: c.issuer.trim_end_matches('/').to_owned(),
        client_id: c.client_id,
        client_secret: secret,
        scopes: c.scopes.unwrap_or_else(|| ["openid", "email", "profile"].map(str::to_owned).to_vec()),
        allowed_email_domains: c.allowed_email_domains.into_iter().map(|d| d.to_ascii_lowercase()).collect(),
        jit: c.jit.map(|j| JitConfig { org: j.org, role }),
        link_by_verified_email: c.link_by_verified_email,
        id: c.id,
    };
    Ok(provider)
}
