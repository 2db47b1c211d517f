//! The optional configuration file, `latchkey.toml`:
//!
//! ```toml
//! # Failed authentications per client address and minute before 429s.
//! failed_auth_per_minute = 30
//!
//! # People: open sign-up (POST /v1/auth/signup), session lifetime, and how
//! # many failed logins per account / per client address and minute are
//! # allowed before further attempts get 429.
//! signup = true
//! session_ttl = "30d"
//! login_failures_per_account = 5
//! login_failures_per_ip = 20
//!
//! # Forward auth (GET /v1/auth/check): required scope by method and path
//! # prefix of the forwarded request; the longest prefix wins, and an
//! # `X-Latchkey-Scope` header takes precedence.
//! [[auth_check.routes]]
//! method = "POST"            # optional; any method when absent
//! path_prefix = "/v1/sandboxes"
//! scope = "sandbox:create"
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use latchkey_core::Scope;
use latchkey_server::Settings;
use latchkey_server::state::RouteRule;
use serde::Deserialize;

/// The file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Failed authentications per client address and minute.
    pub failed_auth_per_minute: Option<u32>,
    /// Whether sign-up is open.
    pub signup: Option<bool>,
    /// Session lifetime (`30d`, `12h`, …).
    pub session_ttl: Option<String>,
    /// Failed logins per account and minute.
    pub login_failures_per_account: Option<u32>,
    /// Failed logins per client address and minute.
    pub login_failures_per_ip: Option<u32>,
    /// Forward-auth settings.
    #[serde(default)]
    pub auth_check: AuthCheckConfig,
}

/// `[auth_check]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthCheckConfig {
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
    if let Some(ttl) = &file.session_ttl {
        let secs = latchkey_core::parse_duration(ttl).map_err(|e| anyhow::anyhow!("session_ttl: {e}"))?;
        anyhow::ensure!((60..=366 * 86_400).contains(&secs), "session_ttl must be between 1m and 366d");
        settings.session_ttl_ms = i64::try_from(secs)? * 1000;
    }
    for (value, target, name) in [
        (file.login_failures_per_account, &mut settings.login_failures_per_account, "login_failures_per_account"),
        (file.login_failures_per_ip, &mut settings.login_failures_per_ip, "login_failures_per_ip"),
    ] {
        if let Some(n) = value {
            anyhow::ensure!(n >= 1, "{name} must be at least 1");
            *target = n;
        }
    }
    for r in file.auth_check.routes {
        let scope = Scope::parse(&r.scope)
            .filter(|s| settings.catalog.contains(s))
            .with_context(|| format!("{}: unknown scope `{}` in auth_check.routes", path.display(), r.scope))?;
        anyhow::ensure!(r.path_prefix.starts_with('/'), "auth_check.routes path_prefix must start with `/`");
        settings.routes.push(RouteRule { method: r.method, path_prefix: r.path_prefix, scope });
    }
    Ok(Some(path))
}
