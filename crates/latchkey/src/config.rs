//! The optional configuration file, `latchkey.toml`:
//!
//! ```toml
//! # Failed authentications per client address and minute before 429s.
//! failed_auth_per_minute = 30
//!
//! # People: open sign-up (POST /v1/auth/signup), sign-ups per client
//! # address and hour, session lifetime, and how many failed logins per
//! # minute are allowed before further attempts get 429: per account from
//! # one client address, per account from all addresses together, and per
//! # client address.
//! signup = true
//! signups_per_hour_per_ip = 20
//! session_ttl = "30d"
//! login_failures_per_account_and_ip = 5
//! login_failures_per_account = 100
//! login_failures_per_ip = 20
//!
//! # The dashboard's cookies are `Secure` when people reach the server over
//! # HTTPS (a proxy in front ends TLS); off by default (plain http on loopback).
//! behind_https = true
//!
//! # Proxies whose X-Forwarded-For names the client (addresses or networks);
//! # none by default: the client is the TCP peer.
//! trusted_proxies = ["127.0.0.1", "::1"]
//!
//! # GET /metrics needs `Authorization: Bearer <token>` when a token is set
//! # (or LATCHKEY_METRICS_TOKEN); public otherwise.
//! metrics_token_file = "/etc/latchkey/metrics-token"
//! # Or serve it on an address of its own (then not on the main listener).
//! metrics_listen = "127.0.0.1:9464"
//!
//! # The origin people and identity providers reach the server at; by
//! # default each request's Host.
//! public_url = "https://latchkey.example.com"
//!
//! # Single sign-on: any number of OpenID Connect providers (README,
//! # "Single sign-on").
//! [[auth.oidc]]
//! id = "corp"                          # in URLs: /v1/auth/oidc/corp/start
//! display_name = "Corp SSO"            # on the sign-in button
//! issuer = "https://login.example.com" # http:// only on loopback
//! client_id = "latchkey"
//! client_secret_file = "/etc/latchkey/corp.secret"  # or client_secret, or LATCHKEY_OIDC_CORP_CLIENT_SECRET
//! scopes = ["openid", "email", "profile"]
//! allowed_email_domains = ["example.com"]           # optional
//! jit = { org = "acme", role = "member" }           # optional
//! link_by_verified_email = false                    # optional
//!
//! # Workspaces' files: the S3-compatible object store latchkey presigns
//! # URLs for (README, "Workspaces"); file access answers 501 without it.
//! [workspaces.storage]
//! endpoint = "https://s3.eu-west-1.amazonaws.com"  # http:// only on loopback
//! bucket = "latchkey-workspaces"
//! region = "eu-west-1"
//! access_key_id = "AKIA…"
//! secret_access_key_file = "/etc/latchkey/s3.secret"  # or secret_access_key, or LATCHKEY_WORKSPACES_SECRET_ACCESS_KEY
//! path_style = true                                   # default; false: bucket.endpoint/key
//!
//! # Webhooks: see config/webhooks.rs and README, "Webhooks".
//! [webhooks]
//! allow_private_targets = false
//! retry_schedule = ["5s", "5m", "30m", "2h", "5h", "10h", "1d", "1d", "1d"]
//!
//! # Rotations until unused: see config/rotation.rs and README, "Rotation
//! # until unused".
//! [rotation]
//! sweep_interval = "15s"
//! min_quiet_for = "5m"
//!
//! # Connections (flags of the same names override these).
//! [server]
//! header_read_timeout = "10s"   # to complete a request's headers
//! idle_timeout = "60s"          # between requests on a kept-alive connection
//! max_connections = 10000       # more are answered 503 (default: fits the open-file limit)
//! shutdown_deadline = "10s"     # on SIGTERM, then remaining connections are dropped
//! usage_flush_deadline = "2s"   # then pending key usage is spilled to the data directory
//!
//! # Leaked keys: the public keys whose signed reports POST /v1/leaks takes
//! # (README, "Leaked keys"); GitHub's are listed, with their key_identifier,
//! # at https://api.github.com/meta/public_keys/secret_scanning. None by
//! # default: every report is refused.
//! [[leaks.signers]]
//! key_id = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c"
//! public_key_pem = """
//! -----BEGIN PUBLIC KEY-----
//! MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…
//! -----END PUBLIC KEY-----
//! """
//!
//! # Forward auth (GET /v1/auth/check): required scope by method and path
//! # prefix of the forwarded request; the longest prefix wins, and an
//! # `X-Latchkey-Scope` header takes precedence. Ambiguous forwarded paths
//! # (`..`, `%2F`, `;`, …) are refused unless `ambiguous_paths = "normalize"`.
//! [auth_check]
//! ambiguous_paths = "refuse"
//!
//! [[auth_check.routes]]
//! method = "POST"            # optional; any method when absent
//! path_prefix = "/v1/sandboxes"
//! scope = "sandbox:create"
//! ```

mod providers;
mod rotation;
mod webhooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use latchkey_core::Scope;
use latchkey_core::forward_path::is_route_prefix;
use latchkey_server::Settings;
use latchkey_server::forwarded::TrustedProxies;
use latchkey_server::leaks::{LeakSigner, check_signers};
use latchkey_server::state::{AmbiguousPaths, MetricsToken, RouteRule};
use latchkey_server::workspaces::{StorageConfig, StorageConfigError};
use serde::Deserialize;

use providers::{AuthConfig, OAuthConfig, oauth_provider, oidc_provider, read_secret};

/// The file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Failed authentications per client address and minute.
    pub failed_auth_per_minute: Option<u32>,
    /// Whether sign-up is open.
    pub signup: Option<bool>,
    /// Sign-ups per client address and hour.
    pub signups_per_hour_per_ip: Option<u32>,
    /// Session lifetime (`30d`, `12h`, …).
    pub session_ttl: Option<String>,
    /// Whether people reach the server over HTTPS (`Secure` cookies).
    pub behind_https: Option<bool>,
    /// Failed logins per account and client address, and minute.
    pub login_failures_per_account_and_ip: Option<u32>,
    /// Failed logins per account (from every address) and minute.
    pub login_failures_per_account: Option<u32>,
    /// Failed logins per client address and minute.
    pub login_failures_per_ip: Option<u32>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Option<Vec<String>>,
    /// The bearer token of `GET /metrics`.
    pub metrics_token: Option<String>,
    /// A file holding it.
    pub metrics_token_file: Option<PathBuf>,
    /// Where `GET /metrics` is served instead of the main listener.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Connection limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// Forward-auth settings.
    #[serde(default)]
    pub auth_check: AuthCheckConfig,
    /// The origin people reach the server at (`https://latchkey.example.com`).
    pub public_url: Option<String>,
    /// Sign-in settings.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Connected apps.
    #[serde(default)]
    pub oauth: OAuthConfig,
    /// Workspaces.
    #[serde(default)]
    pub workspaces: WorkspacesConfig,
    /// Webhooks (`config/webhooks.rs`).
    #[serde(default)]
    pub webhooks: webhooks::WebhooksConfig,
    /// Rotations until unused (`config/rotation.rs`).
    #[serde(default)]
    pub rotation: rotation::RotationConfig,
    /// Leaked keys.
    #[serde(default)]
    pub leaks: LeaksConfig,
}

/// `[leaks]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaksConfig {
    /// The public keys that may sign `POST /v1/leaks` reports.
    #[serde(default)]
    pub signers: Vec<LeakSignerTable>,
}

/// `[[leaks.signers]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakSignerTable {
    /// What `Github-Public-Key-Identifier` names it by.
    pub key_id: String,
    /// Its ECDSA P-256 public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

/// `[workspaces]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspacesConfig {
    /// The object store their files are in.
    pub storage: Option<StorageTable>,
}

/// `[workspaces.storage]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageTable {
    /// The S3 endpoint.
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The region signatures are made for.
    pub region: String,
    /// The access key id.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: Option<String>,
    /// A file holding it.
    pub secret_access_key_file: Option<PathBuf>,
    /// Path-style URLs (default true).
    pub path_style: Option<bool>,
}

/// The object store `t` describes, its secret read from
/// `secret_access_key`, `secret_access_key_file` or
/// `LATCHKEY_WORKSPACES_SECRET_ACCESS_KEY` (which wins), checked.
fn workspace_storage(t: StorageTable) -> anyhow::Result<StorageConfig> {
    let names = ["secret_access_key", "secret_access_key_file"];
    let file = t.secret_access_key_file.as_ref();
    let secret = read_secret(
        "workspaces.storage",
        names,
        "LATCHKEY_WORKSPACES_SECRET_ACCESS_KEY",
        t.secret_access_key.as_ref(),
        file,
    )?
    .ok_or(StorageConfigError::Secret)?;
    let config = StorageConfig {
        endpoint: t.endpoint,
        bucket: t.bucket,
        region: t.region,
        access_key_id: t.access_key_id,
        secret_access_key: secret,
        path_style: t.path_style.unwrap_or(true),
    };
    config.check()?;
    Ok(config)
}

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Time to complete a request's headers.
    pub header_read_timeout: Option<String>,
    /// Time a connection may be idle between requests.
    pub idle_timeout: Option<String>,
    /// Connections served at once.
    pub max_connections: Option<usize>,
    /// Time in-flight requests get on shutdown.
    pub shutdown_deadline: Option<String>,
    /// Time pending key usage gets to be written on shutdown.
    pub usage_flush_deadline: Option<String>,
}

/// `[auth_check]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthCheckConfig {
    /// `refuse` (default) or `normalize`.
    pub ambiguous_paths: Option<String>,
    /// The route map.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// `[[auth_check.routes]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// HTTP method (any when absent).
    pub method: Option<String>,
    /// Path prefix.
    pub path_prefix: String,
    /// Required scope.
    pub scope: String,
}

/// Reads `explicit`, or `<data_dir>/latchkey.toml` if it exists, into
/// `settings`. An explicit file that is missing or wrong is an error.
pub fn apply(explicit: Option<&Path>, data_dir: &Path, settings: &mut Settings) -> anyhow::Result<Option<PathBuf>> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = data_dir.join("latchkey.toml");
            if !p.exists() {
                return Ok(None);
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: FileConfig =
        toml::from_str(&text).with_context(|| format!("invalid configuration in {}", path.display()))?;
    if let Some(n) = file.failed_auth_per_minute {
        anyhow::ensure!(n >= 1, "failed_auth_per_minute must be at least 1");
        settings.failed_auth_per_minute = n;
    }
    if let Some(open) = file.signup {
        settings.signup = open;
    }
    if let Some(https) = file.behind_https {
        settings.behind_https = https;
    }
    if let Some(ttl) = &file.session_ttl {
        let secs = latchkey_core::parse_duration(ttl).map_err(|e| anyhow::anyhow!("session_ttl: {e}"))?;
        anyhow::ensure!((60..=366 * 86_400).contains(&secs), "session_ttl must be between 1m and 366d");
        settings.session_ttl_ms = i64::try_from(secs)? * 1000;
    }
    for (value, target, name) in [
        (file.signups_per_hour_per_ip, &mut settings.signups_per_hour_per_ip, "signups_per_hour_per_ip"),
        (
            file.login_failures_per_account_and_ip,
            &mut settings.login_failures_per_account_and_ip,
            "login_failures_per_account_and_ip",
        ),
        (file.login_failures_per_account, &mut settings.login_failures_per_account, "login_failures_per_account"),
        (file.login_failures_per_ip, &mut settings.login_failures_per_ip, "login_failures_per_ip"),
    ] {
        if let Some(n) = value {
            anyhow::ensure!(n >= 1, "{name} must be at least 1");
            *target = n;
        }
    }
    if let Some(proxies) = &file.trusted_proxies {
        settings.trusted_proxies = TrustedProxies::parse(proxies)
            .map_err(|bad| anyhow::anyhow!("trusted_proxies: `{bad}` is not an IP address or network"))?;
    }
    anyhow::ensure!(
        file.metrics_token.is_none() || file.metrics_token_file.is_none(),
        "set metrics_token or metrics_token_file, not both"
    );
    if let Some(token) = &file.metrics_token {
        settings.metrics_token = Some(MetricsToken::new(token).context("metrics_token must not be empty")?);
    }
    if let Some(file) = &file.metrics_token_file {
        let token = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        settings.metrics_token =
            Some(MetricsToken::new(&token).with_context(|| format!("{} is empty", file.display()))?);
    }
    if let Some(at) = file.metrics_listen {
        settings.metrics_listen = Some(at);
    }
    let server = &file.server;
    let conns = &mut settings.connections;
    for (value, target, name) in [
        (&server.header_read_timeout, &mut conns.header_read_timeout, "server.header_read_timeout"),
        (&server.idle_timeout, &mut conns.idle_timeout, "server.idle_timeout"),
        (&server.shutdown_deadline, &mut conns.shutdown_deadline, "server.shutdown_deadline"),
    ] {
        if let Some(text) = value {
            *target = seconds(text).with_context(|| name.to_owned())?;
        }
    }
    if let Some(text) = &server.usage_flush_deadline {
        settings.usage_flush_deadline = usage_flush_deadline(text).context("server.usage_flush_deadline")?;
    }
    if let Some(n) = server.max_connections {
        anyhow::ensure!(n >= 1, "server.max_connections must be at least 1");
        conns.max_connections = n;
    }
    if let Some(url) = &file.public_url {
        let ok = url::Url::parse(url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.query().is_none() && u.path() == "/"
        });
        anyhow::ensure!(ok, "public_url must be an http(s) origin such as https://latchkey.example.com, not `{url}`");
        settings.public_url = Some(url.trim_end_matches('/').to_owned());
    }
    for c in file.auth.oidc {
        settings.oidc.push(oidc_provider(c)?);
    }
    latchkey_server::oidc::check_all(&settings.oidc)?;
    for t in file.oauth.providers {
        settings.oauth.push(oauth_provider(t)?);
    }
    latchkey_server::oauth::check_catalog(&settings.oauth)?;
    webhooks::apply(file.webhooks, &mut settings.webhooks)?;
    rotation::apply(file.rotation, |_| None, &mut settings.rotation)?;
    if let Some(t) = file.workspaces.storage {
        settings.workspace_storage = Some(workspace_storage(t)?);
    }
    for t in &file.leaks.signers {
        settings.leak_signers.push(LeakSigner::from_pem(&t.key_id, &t.public_key_pem).context("leaks.signers")?);
    }
    check_signers(&settings.leak_signers).context("leaks.signers")?;
    match file.auth_check.ambiguous_paths.as_deref() {
        None | Some("refuse") => {}
        Some("normalize") => settings.ambiguous_paths = AmbiguousPaths::Normalize,
        Some(other) => anyhow::bail!("auth_check.ambiguous_paths must be `refuse` or `normalize`, not `{other}`"),
    }
    for r in file.auth_check.routes {
        let scope = Scope::parse(&r.scope)
            .filter(|s| settings.catalog.contains(s))
            .with_context(|| format!("{}: unknown scope `{}` in auth_check.routes", path.display(), r.scope))?;
        anyhow::ensure!(
            is_route_prefix(&r.path_prefix),
            "auth_check.routes path_prefix `{}` must start with `/` and hold only letters, digits, `-._~` and \
             `/`, with no empty, `.` or `..` segment",
            r.path_prefix
        );
        settings.routes.push(RouteRule { method: r.method, path_prefix: r.path_prefix, scope });
    }
    Ok(Some(path))
}

/// Applies `LATCHKEY_METRICS_TOKEN` and `LATCHKEY_ROTATION_*`, which win
/// over the file.
pub fn apply_env(settings: &mut Settings) -> anyhow::Result<()> {
    if let Some(token) = std::env::var("LATCHKEY_METRICS_TOKEN").ok().as_deref().and_then(MetricsToken::new) {
        settings.metrics_token = Some(token);
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    rotation::apply(rotation::RotationConfig::default(), env, &mut settings.rotation)
}

/// A duration of at least a second (`10s`, `1m`), for the connection
/// settings.
pub fn seconds(text: &str) -> anyhow::Result<Duration> {
    let secs = latchkey_core::parse_duration(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!((1..=86_400).contains(&secs), "must be between 1s and 1d");
    Ok(Duration::from_secs(secs))
}

/// A usage flush deadline: `0s` (spill everything at once) to `60s`.
pub fn usage_flush_deadline(text: &str) -> anyhow::Result<Duration> {
    if matches!(text.trim(), "0" | "0s") {
        return Ok(Duration::ZERO);
    }
    let secs = latchkey_core::parse_duration(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(secs <= 60, "must be between 0s and 60s");
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use latchkey_core::Role;
    use latchkey_server::oidc::{ClientSecret, JitConfig};

    use super::*;

    /// The README's single sign-on example, as an operator would copy it.
    fn readme_example() -> String {
        let readme = include_str!("../../../README.md");
        let section = &readme[readme.find("## Single sign-on").unwrap()..];
        let block = &section[section.find("```toml\n").unwrap() + 8..];
        block[..block.find("```").unwrap()].to_owned()
    }

    #[test]
    fn the_readme_single_sign_on_example_configures_a_provider() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("corp.secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = readme_example().replace("/etc/latchkey/corp.secret", secret.to_str().unwrap());
        let file = dir.path().join("latchkey.toml");
        std::fs::write(&file, text).unwrap();
        let mut settings = Settings::default();
        apply(Some(&file), dir.path(), &mut settings).unwrap();
        assert_eq!(settings.public_url.as_deref(), Some("https://latchkey.example.com"));
        let corp = &settings.oidc[0];
        assert_eq!((corp.id.as_str(), corp.display_name.as_str()), ("corp", "Corp SSO"));
        assert_eq!((corp.issuer.as_str(), corp.client_id.as_str()), ("https://login.example.com", "latchkey"));
        assert_eq!(
            corp.client_secret.as_ref().map(ClientSecret::expose),
            Some("s3cret"),
            "read from the file, trimmed"
        );
        assert_eq!(corp.scopes, ["openid", "email", "profile"]);
        assert_eq!(corp.allowed_email_domains, ["example.com"]);
        assert_eq!(corp.jit, Some(JitConfig { org: "acme".into(), role: Role::Member }));
        assert!(!corp.link_by_verified_email);
    }

    #[test]
    fn a_wrong_provider_configuration_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("issuer = \"http://login.example.com\"\nclient_id = \"x\"", "must be an https:// URL"),
            ("issuer = \"https://a.example\"\nclient_id = \"x\"\nscopes = [\"email\"]", "scopes must include `openid`"),
            ("issuer = \"https://a.example\"\nclient_id = \"x\"\njit = { org = \"a\", role = \"owner\" }", "jit role"),
            (
                "issuer = \"https://a.example\"\nclient_id = \"x\"\nclient_secret = \"a\"\nclient_secret_file = \"/x\"",
                "not both",
            ),
            ("issuer = \"https://a.example\"\nclient_id = \"x\"\nclient_secret_file = \"/nonexistent\"", "cannot read"),
        ];
        for (table, reason) in cases {
            let file = dir.path().join("latchkey.toml");
            std::fs::write(&file, format!("[[auth.oidc]]\nid = \"corp\"\n{table}\n")).unwrap();
            let err = apply(Some(&file), dir.path(), &mut Settings::default()).unwrap_err();
            assert!(format!("{err:#}").contains(reason), "{table}: {err:#}");
        }
        let file = dir.path().join("latchkey.toml");
        std::fs::write(&file, "public_url = \"https://x.example/path?q\"\n").unwrap();
        assert!(apply(Some(&file), dir.path(), &mut Settings::default()).is_err());
    }

    #[test]
    fn an_oauth_catalog_is_read_with_its_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("latchkey.toml");
        let toml = "[[oauth.providers]]\nid = \"github\"\ndisplay_name = \"GitHub\"\n\
                    authorize_url = \"https://github.com/login/oauth/authorize\"\n\
                    token_url = \"https://github.com/login/oauth/access_token\"\n\
                    userinfo_url = \"https://api.github.com/user\"\nscopes = [\"repo\", \"read:user\"]\n\
                    client_id = \"Iv1.x\"\nclient_secret = \"s3cret\"\n";
        std::fs::write(&file, toml).unwrap();
        let mut settings = Settings::default();
        apply(Some(&file), dir.path(), &mut settings).unwrap();
        let gh = &settings.oauth[0];
        assert_eq!((gh.id.as_str(), gh.display_name.as_str()), ("github", "GitHub"));
        assert_eq!((gh.userinfo_id_field.as_str(), gh.userinfo_label_field.as_str()), ("id", "login"));
        assert_eq!((gh.scope_separator.as_str(), gh.pkce), (" ", true));
        assert_eq!(gh.client_secret.as_ref().map(ClientSecret::expose), Some("s3cret"));
        std::fs::write(&file, toml.replace("https://github.com/login/oauth/access_token", "http://github.com/t"))
            .unwrap();
        let err = apply(Some(&file), dir.path(), &mut Settings::default()).unwrap_err();
        assert!(format!("{err:#}").contains("token_url `http://github.com/t` must be an https:// URL"), "{err:#}");
    }
    /// A P-256 public key (its private half was thrown away).
    const P256_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEH+l7r3OQw24E2u2zr8vxjLvun9hT
jC47UmmxMMKVzlDn2TneAbjKsrkCFgFFAuNlOTkxZlmjvmIs9dGZmupfkQ==
-----END PUBLIC KEY-----
";

    #[test]
    fn leak_signers_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("latchkey.toml");
        let signer = |id: &str, pem: &str| {
            format!("[[leaks.signers]]\nkey_id = \"{id}\"\npublic_key_pem = \"\"\"\n{pem}\"\"\"\n")
        };
        std::fs::write(&file, signer("gh-1", P256_PEM) + &signer("gh-2", P256_PEM)).unwrap();
        let mut settings = Settings::default();
        apply(Some(&file), dir.path(), &mut settings).unwrap();
        let ids: Vec<&str> = settings.leak_signers.iter().map(LeakSigner::key_id).collect();
        assert_eq!(ids, ["gh-1", "gh-2"]);
        assert!(Settings::default().leak_signers.is_empty(), "none by default");
        let cases = [
            (signer("gh-1", P256_PEM) + &signer("gh-1", P256_PEM), "two leak signers have the key_id `gh-1`"),
            (signer("gh-1", "not a key"), "not a PEM public key"),
            (signer("", P256_PEM), "key_id must be"),
            ("[[leaks.signers]]\nkey_id = \"x\"\n".to_owned(), "missing field `public_key_pem`"),
            ("[leaks]\nsigner = []\n".to_owned(), "unknown field"),
        ];
        for (text, reason) in cases {
            std::fs::write(&file, &text).unwrap();
            let err = apply(Some(&file), dir.path(), &mut Settings::default()).unwrap_err();
            assert!(format!("{err:#}").contains(reason), "{text}: {err:#}");
        }
    }

    #[test]
    fn workspace_storage_is_read_with_its_defaults_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("s3.secret");
        std::fs::write(&secret, "wJalrXUtnFEMI\n").unwrap();
        let file = dir.path().join("latchkey.toml");
        let table = format!(
            "[workspaces.storage]\nendpoint = \"http://127.0.0.1:8333\"\nbucket = \"latchkey-workspaces\"\n\
             region = \"us-east-1\"\naccess_key_id = \"AKID\"\nsecret_access_key_file = \"{}\"\n",
            secret.display()
        );
        std::fs::write(&file, &table).unwrap();
        let mut settings = Settings::default();
        apply(Some(&file), dir.path(), &mut settings).unwrap();
        let storage = settings.workspace_storage.as_ref().unwrap();
        assert_eq!(
            (storage.endpoint.as_str(), storage.bucket.as_str()),
            ("http://127.0.0.1:8333", "latchkey-workspaces")
        );
        assert_eq!((storage.region.as_str(), storage.access_key_id.as_str()), ("us-east-1", "AKID"));
        assert_eq!(storage.secret_access_key.expose(), "wJalrXUtnFEMI", "read from the file, trimmed");
        assert!(storage.path_style, "path-style by default");
        assert!(!format!("{settings:?}").contains("wJalrXUtnFEMI"), "redacted in Debug");
        assert!(Settings::default().workspace_storage.is_none());

        let inline =
            table.replace(&format!("secret_access_key_file = \"{}\"", secret.display()), "secret_access_key = \"x\"");
        let cases = [
            (table.replace("http://127.0.0.1:8333", "http://s3.example.com"), "must be an https:// URL"),
            (table.replace("latchkey-workspaces", "Latchkey_Workspaces"), "bucket `Latchkey_Workspaces`"),
            (
                table.replace(&format!("secret_access_key_file = \"{}\"\n", secret.display()), ""),
                "set secret_access_key",
            ),
            (table.replace(&secret.display().to_string(), "/nonexistent"), "cannot read /nonexistent"),
            (format!("{table}secret_access_key = \"x\"\n"), "not both"),
            (format!("{table}sessionToken = \"x\"\n"), "unknown field"),
            (format!("{inline}path_style = false\n"), "no bucket URL"),
        ];
        for (text, reason) in cases {
            std::fs::write(&file, &text).unwrap();
            let err = apply(Some(&file), dir.path(), &mut Settings::default()).unwrap_err();
            assert!(format!("{err:#}").contains(reason), "{text}: {err:#}");
        }
        std::fs::write(
            &file,
            format!("{inline}path_style = false\n").replace("http://127.0.0.1:8333", "https://s3.example.com"),
        )
        .unwrap();
        let mut settings = Settings::default();
        apply(Some(&file), dir.path(), &mut settings).unwrap();
        let storage = settings.workspace_storage.unwrap();
        assert!(!storage.path_style);
        assert_eq!(storage.secret_access_key.expose(), "x");
    }
}
