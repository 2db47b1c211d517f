//! The optional configuration file, `latchkey.toml`:
//!
//! ```toml
//! # Failed authentications per client address and minute before 429s.
//! failed_auth_per_minute = 30
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
    for r in file.auth_check.routes {
        let scope = Scope::parse(&r.scope)
            .filter(|s| settings.catalog.contains(s))
            .with_context(|| format!("{}: unknown scope `{}` in auth_check.routes", path.display(), r.scope))?;
        anyhow::ensure!(r.path_prefix.starts_with('/'), "auth_check.routes path_prefix must start with `/`");
        settings.routes.push(RouteRule { method: r.method, path_prefix: r.path_prefix, scope });
    }
    Ok(Some(path))
}
