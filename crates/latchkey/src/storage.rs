//! Options shared by every subcommand that opens storage.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use latchkey_store::Store;
use latchkey_store::postgres::PgStore;
use latchkey_store::sqlite::SqliteStore;

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Data directory: the embedded SQLite database (unless
    /// `--database-url` is given) and `latchkey.toml`.
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "./latchkey-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL instead of the embedded database, for several nodes
    /// (`postgres://user@host:5432/latchkey`; the database is created if
    /// missing).
    #[arg(long, env = "LATCHKEY_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StorageArgs {
    /// Opens the store, applying migrations.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        if let Some(url) = &self.database_url {
            // The data directory still holds `latchkey.toml` (and the master
            // key file): private like the SQLite one.
            latchkey_store::files::private_dir(&self.data_dir)
                .with_context(|| format!("cannot create the data directory {}", self.data_dir.display()))?;
            let store = PgStore::connect(url)
                .await
                .with_context(|| format!("cannot open the PostgreSQL database {}", self.describe()))?;
            return Ok(Arc::new(store));
        }
        let store = SqliteStore::open(&self.data_dir)
            .await
            .with_context(|| format!("cannot open the database in {}", self.data_dir.display()))?;
        Ok(Arc::new(store))
    }

    /// Where the data is, for messages: the data directory, or the database
    /// URL without its password.
    pub fn describe(&self) -> String {
        match &self.database_url {
            Some(url) => redact_password(url),
            None => self.data_dir.display().to_string(),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (auth, host) = match rest.split_once('@') {
        Some(parts) => parts,
        None => return url.to_owned(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact_password("postgres://u:s3cret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_password("postgres://h/db"), "postgres://h/db");
    }
}
