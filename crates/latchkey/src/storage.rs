//! Options shared by every subcommand that opens storage.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use latchkey_store::Store;
use latchkey_store::sqlite::SqliteStore;

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Data directory of the embedded SQLite database.
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "./latchkey-data")]
    pub data_dir: PathBuf,
}

impl StorageArgs {
    /// Opens the store, applying migrations.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        let store = SqliteStore::open(&self.data_dir)
            .await
            .with_context(|| format!("cannot open the database in {}", self.data_dir.display()))?;
        Ok(Arc::new(store))
    }
}
