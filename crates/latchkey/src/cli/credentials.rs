//! The stored login: `$XDG_CONFIG_HOME/latchkey/credentials.toml` (else
//! `~/.config/latchkey/`), mode 0600 in a 0700 directory. It holds the
//! session token and what `auth status` shows without asking the server;
//! never an API key.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};

/// File name inside the config directory.
const FILE: &str = "credentials.toml";

/// A login session saved by `latchkey login`.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredLogin {
    /// The server that issued the session; the token is never sent anywhere else.
    pub api_url: String,
    /// `lks_…`
    pub token: String,
    /// `ses_…`
    pub session_id: String,
    /// End of validity (RFC 3339).
    pub expires_at: String,
    /// `usr_…`
    pub user_id: String,
    /// The user's email.
    pub email: String,
}

impl fmt::Debug for StoredLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredLogin")
            .field("api_url", &self.api_url)
            .field("token", &"<redacted>")
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// `$XDG_CONFIG_HOME/latchkey`, else `$HOME/.config/latchkey`.
pub fn dir() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| anyhow!("neither XDG_CONFIG_HOME nor HOME is set: cannot find the config directory"))?;
    Ok(base.join("latchkey"))
}

/// The credentials file.
pub fn path() -> anyhow::Result<PathBuf> {
    Ok(dir()?.join(FILE))
}

/// The stored login, if any (none where there is no config directory, as
/// under sshd's `AuthorizedKeysCommand`).
pub fn load() -> anyhow::Result<Option<StoredLogin>> {
    let Ok(path) = path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let login =
        toml::from_str(&text).with_context(|| format!("{} is damaged; run `latchkey login` again", path.display()))?;
    Ok(Some(login))
}

/// Saves `login`, replacing any earlier one atomically; the file is created
/// 0600 (never readable by others, not even for a moment).
pub fn save(login: &StoredLogin) -> anyhow::Result<PathBuf> {
    let dir = dir()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(FILE);
    let tmp = dir.join(format!(".{FILE}.{}", std::process::id()));
    let text = toml::to_string(login)?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        // An older file at `tmp` keeps its mode through open(); force it.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Deletes the stored login; whether there was one.
pub fn remove() -> anyhow::Result<bool> {
    let path = path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot delete {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let login = StoredLogin {
            api_url: "http://127.0.0.1:7420".into(),
            token: "lks_supersecret".into(),
            session_id: "ses_1".into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
            user_id: "usr_1".into(),
            email: "a@example.com".into(),
        };
        let shown = format!("{login:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
    }
}
