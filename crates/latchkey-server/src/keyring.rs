//! The master keys of this node: where they come from, and finding the one
//! that wrapped a given data key.
//!
//! The master key is 32 bytes, given as base64 or hex, from (first match):
//!
//! 1. `LATCHKEY_MASTER_KEY`: the key itself, in the environment;
//! 2. `LATCHKEY_MASTER_KEY_FILE` (`--master-key-file`): a file holding it;
//! 3. `<data-dir>/master.key`, created with mode 0600 on first start.
//!
//! Every node sharing a database must have the same master key. With a key
//! file, a node re-reads the file (and `<file>.new`, the key a running
//! `latchkey admin rotate-master-key` is moving to) when it meets a data key
//! wrapped by a key it does not know, and before it wraps a new data key,
//! so a rotation does not need a restart. Keys read once stay in memory
//! for unwrapping.
//!
//! Nothing here logs or prints key bytes; `Debug` shows ids only.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use latchkey_core::crypto::{CryptoError, MasterKey};

/// Environment variable holding the master key itself.
pub const MASTER_KEY_ENV: &str = "LATCHKEY_MASTER_KEY";
/// File name of the master key in the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Why the master key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// A key file cannot be read or written.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key text is not a key.
    #[error("{origin}: {source}")]
    Invalid {
        /// Where it came from (the variable or the file).
        origin: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
    /// No file and creating one was not asked for.
    #[error(
        "no master key: set LATCHKEY_MASTER_KEY or LATCHKEY_MASTER_KEY_FILE, or start `latchkey serve` once to create {0}"
    )]
    Missing(PathBuf),
    /// A key could not be generated.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A data key is wrapped by a master key this node does not have.
    #[error(
        "data is wrapped by master key {needed}, but this node has {have}: every node must use the same master key \
         (LATCHKEY_MASTER_KEY, LATCHKEY_MASTER_KEY_FILE or the same <data-dir>/master.key)"
    )]
    Unknown {
        /// The key id needed.
        needed: String,
        /// The ids this node has.
        have: String,
    },
}

/// Where this node's master key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `LATCHKEY_MASTER_KEY`.
    Env,
    /// A file: `LATCHKEY_MASTER_KEY_FILE`, or `<data-dir>/master.key`.
    File(PathBuf),
}

impl KeySource {
    /// Picks the source: `LATCHKEY_MASTER_KEY` if `env_key_set`, else
    /// `key_file`, else `<data_dir>/master.key`.
    pub fn choose(env_key_set: bool, key_file: Option<&Path>, data_dir: &Path) -> Self {
        if env_key_set {
            Self::Env
        } else if let Some(file) = key_file {
            Self::File(file.to_owned())
        } else {
            Self::File(data_dir.join(MASTER_KEY_FILE))
        }
    }

    /// For messages: the variable's name or the file's path.
    pub fn describe(&self) -> String {
        match self {
            Self::Env => MASTER_KEY_ENV.to_owned(),
            Self::File(p) => p.display().to_string(),
        }
    }
}

/// The master keys this node holds: the current one (which wraps new data
/// keys) and any other it has read (for unwrapping).
pub struct Keyring {
    source: KeySource,
    /// `[0]` is current.
    keys: RwLock<Vec<Arc<MasterKey>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("source", &self.source).field("keys", &self.ids()).finish()
    }
}

impl Keyring {
    /// Loads the key from `source`. For a file source, `create` makes a
    /// new random key (mode 0600) when the file does not exist.
    /// `env_key` is the value of `LATCHKEY_MASTER_KEY` for [`KeySource::Env`].
    pub fn load(source: KeySource, env_key: Option<&str>, create: bool) -> Result<(Self, bool), KeyringError> {
        let mut created = false;
        let keys = match &source {
            KeySource::Env => {
                let text = env_key.unwrap_or_default();
                vec![
                    MasterKey::parse(text)
                        .map_err(|e| KeyringError::Invalid { origin: MASTER_KEY_ENV.to_owned(), source: e })?,
                ]
            }
            KeySource::File(path) => {
                if create && !path.exists() {
                    let key = MasterKey::generate()?;
                    match write_key_file(path, &key) {
                        Ok(()) => created = true,
                        // Another process created it first: use theirs.
                        Err(KeyringError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                if !path.exists() {
                    return Err(KeyringError::Missing(path.clone()));
                }
                read_with_pending(path)?
            }
        };
        let ring = Self { source, keys: RwLock::new(keys.into_iter().map(Arc::new).collect()) };
        Ok((ring, created))
    }

    /// A keyring of one key that never reloads.
    pub fn from_key(key: MasterKey) -> Self {
        Self { source: KeySource::Env, keys: RwLock::new(vec![Arc::new(key)]) }
    }

    /// Where the key comes from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The ids of the keys held, current first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).iter().map(|k| k.id().to_owned()).collect()
    }

    /// Every key held, current first (as last read).
    pub fn all(&self) -> Vec<Arc<MasterKey>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The current key (as last read).
    pub fn current(&self) -> Arc<MasterKey> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        // `load` and `from_key` never leave the list empty.
        Arc::clone(&keys[0])
    }

    /// The current key, re-reading a key file first: what a new data key is
    /// wrapped with, so that it is never a key a rotation has just retired.
    pub fn current_fresh(&self) -> Result<Arc<MasterKey>, KeyringError> {
        self.reload()?;
        Ok(self.current())
    }

    /// The key with id `id`; on a miss a key file is re-read, in case a
    /// rotation moved to a new key (a miss is rare: after a rotation, or on
    /// a node configured with the wrong key, which then fails anyway).
    pub fn get(&self, id: &str) -> Result<Arc<MasterKey>, KeyringError> {
        if let Some(k) = self.find(id) {
            return Ok(k);
        }
        self.reload()?;
        self.find(id).ok_or_else(|| KeyringError::Unknown { needed: id.to_owned(), have: self.ids().join(", ") })
    }

    fn find(&self, id: &str) -> Option<Arc<MasterKey>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).iter().find(|k| k.id() == id).cloned()
    }

    /// Re-reads a key file source: its key becomes current, `<file>.new`
    /// (if any) is added, keys read before are kept.
    fn reload(&self) -> Result<(), KeyringError> {
        let KeySource::File(path) = &self.source else { return Ok(()) };
        let fresh = read_with_pending(path)?;
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let mut merged: Vec<Arc<MasterKey>> = fresh.into_iter().map(Arc::new).collect();
        for old in keys.iter() {
            if !merged.iter().any(|k| k.id() == old.id()) {
                merged.push(Arc::clone(old));
            }
        }
        if merged[0].id() != keys[0].id() {
            tracing::info!(master_key = merged[0].id(), previous = keys[0].id(), "the master key file changed");
        }
        *keys = merged;
        Ok(())
    }
}

/// `<file>.new`: where `rotate-master-key` puts the new key until every data
/// key is re-wrapped.
pub fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".new");
    path.with_file_name(name)
}

/// The key in `path`, then the one in `<path>.new` if that exists.
fn read_with_pending(path: &Path) -> Result<Vec<MasterKey>, KeyringError> {
    let mut keys = vec![read_key_file(path)?];
    let pending = pending_path(path);
    if pending.exists() {
        let k = read_key_file(&pending)?;
        if k.id() != keys[0].id() {
            keys.push(k);
        }
    }
    Ok(keys)
}

/// Reads a key file (base64 or hex, surrounding whitespace ignored). Warns
/// when others than its owner may read it.
pub fn read_key_file(path: &Path) -> Result<MasterKey, KeyringError> {
    let io = |source| KeyringError::Io { path: path.to_owned(), source };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(file = %path.display(), "the master key file is readable by others than its owner; chmod 600 it");
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    MasterKey::parse(&text).map_err(|e| KeyringError::Invalid { origin: path.display().to_string(), source: e })
}

/// Writes `key` to a new file `path` (mode 0600, never overwriting) and
/// syncs it and its directory. The file appears complete or not at all
/// (written aside, then hard-linked into place), so a node starting at the
/// same moment never reads half a key.
pub fn write_key_file(path: &Path, key: &MasterKey) -> Result<(), KeyringError> {
    let io = |source| KeyringError::Io { path: path.to_owned(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
    }
    let mut aside = path.as_os_str().to_os_string();
    aside.push(format!(".tmp-{}", std::process::id()));
    let aside = PathBuf::from(aside);
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&aside)?;
        let text = key.to_base64();
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::hard_link(&aside, path)
    })();
    let _ = std::fs::remove_file(&aside);
    written.map_err(io)?;
    sync_dir(path).map_err(io)
}

/// Syncs the directory holding `path` (so a created or renamed file
/// survives a crash).
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_file_is_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::choose(false, None, dir.path());
        let (ring, created) = Keyring::load(source.clone(), None, true).unwrap();
        assert!(created);
        let path = dir.path().join(MASTER_KEY_FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let first = ring.current();
        // A second load reads the same key.
        let (again, created) = Keyring::load(source, None, true).unwrap();
        assert!(!created);
        assert_eq!(again.current().id(), first.id());

        // A rotation writes `<file>.new`: the ring finds it on a miss.
        let next = MasterKey::generate().unwrap();
        write_key_file(&pending_path(&path), &next).unwrap();
        assert_eq!(ring.get(next.id()).unwrap().id(), next.id());
        assert_eq!(ring.current().id(), first.id(), "the file's key stays current until renamed");
        // ... then renames it over the file: it becomes current; the old key stays known.
        std::fs::rename(pending_path(&path), &path).unwrap();
        assert_eq!(ring.current_fresh().unwrap().id(), next.id());
        assert_eq!(ring.get(first.id()).unwrap().id(), first.id());
        let unknown = ring.get("mk_0000000000000000").unwrap_err().to_string();
        assert!(unknown.contains("every node must use the same master key"), "{unknown}");
        let shown = format!("{ring:?}");
        assert!(shown.contains(next.id()) && !shown.contains(next.to_base64().as_str()), "{shown}");
    }

    #[test]
    fn env_and_missing() {
        let key = MasterKey::generate().unwrap();
        let (ring, _) = Keyring::load(KeySource::Env, Some(&key.to_base64()), false).unwrap();
        assert_eq!(ring.current().id(), key.id());
        let err = Keyring::load(KeySource::Env, Some("nope"), false).unwrap_err().to_string();
        assert!(err.starts_with("LATCHKEY_MASTER_KEY: "), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let missing = Keyring::load(KeySource::choose(false, None, dir.path()), None, false).unwrap_err();
        assert!(matches!(missing, KeyringError::Missing(_)), "{missing}");
    }
}
