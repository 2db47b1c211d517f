//! `latchkey admin backup | restore | migrate | check`: running an
//! installation for years (README, "Running in production").
//!
//! A backup is two files: `FILE`, a SQLite database taken online with
//! `VACUUM INTO` (a consistent snapshot while the server reads and writes),
//! and `FILE.manifest.json` ([`Manifest`]): latchkey's version, the schema
//! version, the time, the key and organization counts, the ids of the
//! master keys the secrets are sealed with (never a key), and the
//! database file's size and SHA-256, so that a damaged copy is refused
//! before `PRAGMA integrity_check` even runs. The master key is not in the
//! backup: it is kept apart, and `restore` says whether the key it finds
//! matches.

pub mod check;

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use latchkey_server::keyring::sync_dir;
use latchkey_store::ops::{self, SqliteFacts};
use latchkey_store::{files, sqlite::DB_FILE};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::master_key::MasterKeyArgs;
use crate::storage::StorageArgs;

/// The manifest's `format`.
const FORMAT: &str = "latchkey-backup/1";

/// `FILE.manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    format: String,
    /// The latchkey that took it.
    latchkey_version: String,
    /// The last migration applied to the copied database.
    schema_version: i64,
    /// When (RFC 3339).
    created_at: String,
    /// API keys in the copy.
    keys: i64,
    /// Organizations in the copy.
    orgs: i64,
    /// The master keys the copy's secrets are sealed with (ids only).
    master_key_ids: Vec<String>,
    /// The database file's size in bytes.
    bytes: u64,
    /// Its SHA-256, hex.
    sha256: String,
}

/// The manifest's path for the backup `file`.
fn manifest_path(file: &Path) -> PathBuf {
    let mut p = file.as_os_str().to_owned();
    p.push(".manifest.json");
    PathBuf::from(p)
}

/// Size and SHA-256 (hex) of `path`.
fn digest(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher)?;
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((bytes, hex))
}

/// A new file `path`, mode 0600.
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(files::FILE_MODE)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes `bytes` to a new file `path`, mode 0600, synced.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = create_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Copies `from` to a new file `to`, mode 0600, synced.
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut f = create_private(to)?;
    std::io::copy(&mut std::fs::File::open(from)?, &mut f)?;
    f.sync_all()?;
    Ok(())
}

/// `latchkey admin backup`
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The backup file to create (a SQLite database); the manifest goes
    /// next to it as `FILE.manifest.json`. Neither may exist.
    #[arg(long)]
    to: PathBuf,
}

/// Takes an online backup of the SQLite installation.
pub async fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    if args.storage.database_url.is_some() {
        anyhow::bail!(
            "backup copies the embedded SQLite database; this installation is on PostgreSQL ({}): back it up with \
             PostgreSQL's own tools, `pg_dump --format=custom` for a copy or continuous WAL archiving for \
             point-in-time recovery (README, \"Running in production\")",
            args.storage.describe()
        );
    }
    let manifest_file = manifest_path(&args.to);
    for p in [&args.to, &manifest_file] {
        anyhow::ensure!(!p.exists(), "{} exists already; choose a new name", p.display());
    }
    let started = Instant::now();
    ops::sqlite_backup(&args.storage.data_dir, &args.to)
        .await
        .with_context(|| format!("cannot back up the database in {}", args.storage.data_dir.display()))?;
    let took = started.elapsed();
    let facts = ops::sqlite_facts(&args.to).await.context("cannot read the backup back")?;
    if !facts.integrity.is_empty() {
        let _ = std::fs::remove_file(&args.to);
        anyhow::bail!("the backup failed its integrity check: {}", facts.integrity.join("; "));
    }
    let (bytes, sha256) = digest(&args.to)?;
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        latchkey_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version: facts.schema.applied,
        created_at: latchkey_core::time_fmt::to_rfc3339(latchkey_core::time_fmt::now_ms()),
        keys: facts.keys,
        orgs: facts.orgs,
        master_key_ids: facts.master_key_ids.clone(),
        bytes,
        sha256,
    };
    let mut text = serde_json::to_vec_pretty(&manifest)?;
    text.push(b'\n');
    write_private(&manifest_file, &text)?;
    sync_dir(&args.to)?;
    println!(
        "backup of {} written to {} ({bytes} bytes, {} ms): schema version {}, {} keys, {} organizations",
        args.storage.data_dir.display(),
        args.to.display(),
        took.as_millis(),
        manifest.schema_version,
        manifest.keys,
        manifest.orgs
    );
    println!("manifest: {}", manifest_file.display());
    if !manifest.master_key_ids.is_empty() {
        println!(
            "secrets are sealed with master key {}, which is not in the backup: keep a copy of it apart",
            manifest.master_key_ids.join(", ")
        );
    }
    Ok(())
}

/// `latchkey admin restore`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file (its manifest is `FILE.manifest.json`).
    #[arg(long)]
    from: PathBuf,
    /// The new data directory: must not exist or be empty.
    #[arg(long)]
    data_dir: PathBuf,
    #[command(flatten)]
    master_key: MasterKeyArgs,
}

/// Checks a backup against its manifest and restores it into an empty
/// data directory.
pub async fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    if let Ok(mut entries) = std::fs::read_dir(&args.data_dir) {
        anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: restore only into a new or empty directory",
            args.data_dir.display()
        );
    }
    let manifest_file = manifest_path(&args.from);
    let text = std::fs::read(&manifest_file)
        .with_context(|| format!("cannot read the manifest {}", manifest_file.display()))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a latchkey backup manifest", manifest_file.display()))?;
    anyhow::ensure!(
        manifest.format == FORMAT,
        "unknown backup format {:?} (this latchkey reads {FORMAT})",
        manifest.format
    );
    let (bytes, sha256) = digest(&args.from)?;
    anyhow::ensure!(
        bytes == manifest.bytes && sha256 == manifest.sha256,
        "{} does not match its manifest ({bytes} bytes, SHA-256 {sha256}; the manifest says {} bytes, {}): the copy \
         is damaged or was changed; nothing was restored",
        args.from.display(),
        manifest.bytes,
        manifest.sha256
    );
    let facts = ops::sqlite_facts(&args.from)
        .await
        .with_context(|| format!("{} is not a readable SQLite database; nothing was restored", args.from.display()))?;
    check_facts(&facts, &manifest)?;

    files::private_dir(&args.data_dir).with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let target = args.data_dir.join(DB_FILE);
    let partial = args.data_dir.join(format!("{DB_FILE}.restoring"));
    copy_private(&args.from, &partial)?;
    std::fs::rename(&partial, &target)?;
    sync_dir(&target)?;
    println!(
        "restored {} into {}: schema version {}, {} keys, {} organizations (backup of {})",
        args.from.display(),
        target.display(),
        facts.schema.applied,
        facts.keys,
        facts.orgs,
        manifest.created_at
    );
    println!("{}", master_key_verdict(&args.master_key, &args.data_dir, &facts.master_key_ids));
    Ok(())
}

/// The database's own checks against the manifest.
fn check_facts(facts: &SqliteFacts, manifest: &Manifest) -> anyhow::Result<()> {
    anyhow::ensure!(
        facts.integrity.is_empty(),
        "the backup failed PRAGMA integrity_check: {}; nothing was restored",
        facts.integrity.join("; ")
    );
    facts.schema.check()?;
    anyhow::ensure!(
        facts.schema.applied == manifest.schema_version
            && facts.keys == manifest.keys
            && facts.orgs == manifest.orgs
            && facts.master_key_ids == manifest.master_key_ids,
        "the backup's contents differ from its manifest (schema {}, {} keys, {} organizations); nothing was restored",
        facts.schema.applied,
        facts.keys,
        facts.orgs
    );
    Ok(())
}

/// Whether the master key this process finds (`LATCHKEY_MASTER_KEY`,
/// `--master-key-file`, or `<data-dir>/master.key`) is the one the data
/// keys `sealed_with` name, as one sentence.
fn master_key_verdict(args: &MasterKeyArgs, data_dir: &Path, sealed_with: &[String]) -> String {
    if sealed_with.is_empty() {
        return "no secrets are sealed in this backup: any master key will do".to_owned();
    }
    let sealed = sealed_with.join(", ");
    match args.load(data_dir, false) {
        Ok((ring, _)) => {
            let ids = ring.ids();
            if sealed_with.iter().all(|id| ids.contains(id)) {
                format!("master key {sealed} (from {}) matches the sealed secrets", ring.source().describe())
            } else {
                format!(
                    "WARNING: the secrets are sealed with master key {sealed}, but the available key is {} (from {}): \
                     secrets will not reveal and `serve` refuses to start until that key is given \
                     (LATCHKEY_MASTER_KEY, or its file as {}/master.key)",
                    ids.join(", "),
                    ring.source().describe(),
                    data_dir.display()
                )
            }
        }
        Err(e) => format!(
            "WARNING: the secrets are sealed with master key {sealed}, and no master key is available ({e:#}): copy \
             that key's file to {}/master.key (mode 0600) or set LATCHKEY_MASTER_KEY before starting",
            data_dir.display()
        ),
    }
}

/// `latchkey admin migrate`
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite installation's data directory.
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "./latchkey-data")]
    data_dir: PathBuf,
    /// The empty PostgreSQL database to move it to
    /// (`postgres://user@host:5432/latchkey`; created if missing).
    #[arg(long)]
    to: String,
}

/// Copies the SQLite installation into an empty PostgreSQL database.
pub async fn migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    let db = args.data_dir.join(DB_FILE);
    anyhow::ensure!(db.exists(), "no SQLite database at {}", db.display());
    let target = StorageArgs { data_dir: args.data_dir.clone(), database_url: Some(args.to.clone()) };
    let started = Instant::now();
    let counts = ops::copy::sqlite_to_postgres(&args.data_dir, &args.to)
        .await
        .with_context(|| format!("cannot migrate {} to {}", args.data_dir.display(), target.describe()))?;
    let took = started.elapsed();
    let width = counts.iter().map(|c| c.table.len()).max().unwrap_or(0);
    let mut sorted: Vec<_> = counts.iter().collect();
    sorted.sort_by(|a, b| a.table.cmp(&b.table));
    for c in sorted {
        println!("{:<width$}  {}", c.table, c.rows);
    }
    let total: u64 = counts.iter().map(|c| c.rows).sum();
    println!(
        "copied {total} rows in {} tables to {} in {:.1} s, in one transaction",
        counts.len(),
        target.describe(),
        took.as_secs_f64()
    );
    println!(
        "start every node with --database-url (LATCHKEY_DATABASE_URL) and the same master key as this installation \
         ({}/master.key or LATCHKEY_MASTER_KEY)",
        args.data_dir.display()
    );
    Ok(())
}
