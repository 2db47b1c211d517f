//! Where this process gets the master key from, for `serve` and
//! `admin rotate-master-key` (the rules are in `latchkey_server::keyring`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use latchkey_server::keyring::{KeySource, Keyring, MASTER_KEY_ENV};
use latchkey_store::Store;
use zeroize::Zeroizing;

/// The master key's source.
#[derive(Debug, Clone, Args)]
pub struct MasterKeyArgs {
    /// File holding the master key that encrypts secrets (32 bytes, base64
    /// or hex). Default: the key in `LATCHKEY_MASTER_KEY` if set, else
    /// `<data-dir>/master.key`, created on first start. Every node sharing
    /// a database needs the same key.
    #[arg(long, env = "LATCHKEY_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl MasterKeyArgs {
    /// Loads the keyring; with `create`, a missing `<data-dir>/master.key`
    /// (or `--master-key-file`) is created. Returns whether it was.
    pub fn load(&self, data_dir: &Path, create: bool) -> anyhow::Result<(Keyring, bool)> {
        let env_key = std::env::var(MASTER_KEY_ENV).ok().filter(|v| !v.trim().is_empty()).map(Zeroizing::new);
        if env_key.is_some() && self.master_key_file.is_some() {
            anyhow::bail!("set either {MASTER_KEY_ENV} or LATCHKEY_MASTER_KEY_FILE (--master-key-file), not both");
        }
        let source = KeySource::choose(env_key.is_some(), self.master_key_file.as_deref(), data_dir);
        let described = source.describe();
        Keyring::load(source, env_key.as_deref().map(String::as_str), create)
            .with_context(|| format!("cannot load the master key ({described})"))
    }
}

/// Refuses to go on when the database holds data keys wrapped by a master
/// key this node does not have (a node started with another key than the
/// others, or a lost key file), naming both ids.
pub async fn check_data_keys(store: &dyn Store, keyring: &Keyring) -> anyhow::Result<usize> {
    let keys = store.all_data_keys().await.context("cannot read the organizations' data keys")?;
    let unknown = unknown_master_keys(keys.iter().map(|k| k.master_key_id.as_str()), keyring);
    if !unknown.is_empty() {
        anyhow::bail!(
            "the database's secrets are encrypted under master key {} but this node has {} (from {}): every node \
             sharing a database must use the same master key; set LATCHKEY_MASTER_KEY or LATCHKEY_MASTER_KEY_FILE, \
             or copy the other nodes' master.key into the data directory",
            unknown.join(", "),
            keyring.ids().join(", "),
            keyring.source().describe()
        );
    }
    Ok(keys.len())
}

/// The master key ids among `wrapped_with` (the data keys' master key ids)
/// that `keyring` does not hold, each once.
pub fn unknown_master_keys<'a>(wrapped_with: impl Iterator<Item = &'a str>, keyring: &Keyring) -> Vec<&'a str> {
    let mut unknown: Vec<&str> = Vec::new();
    for id in wrapped_with {
        if keyring.get(id).is_err() && !unknown.contains(&id) {
            unknown.push(id);
        }
    }
    unknown
}
