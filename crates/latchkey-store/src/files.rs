//! The data directory's modes: it holds the database (key hashes, sealed
//! secrets, the audit trail) and the master key, so it is created 0700 and
//! its files 0600 whatever the umask, and an existing directory or database
//! file that others may read is tightened at start, with a warning.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Mode of the data directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files in it.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700, or tightens an
/// existing `dir` that group or others may enter to 0700, with a warning.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    tighten(dir, DIR_MODE, "data directory")
}

/// Creates the file `path` empty with mode 0600 if it does not exist, or
/// tightens an existing one that group or others may read, with a warning.
pub fn private_file(path: &Path) -> io::Result<()> {
    match OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(path, FILE_MODE, "database file"),
        Err(e) => Err(e),
    }
}

/// Tightens `path` to `mode` if it exists and grants group or others
/// anything (a failure to change it is a warning, not an error: the file
/// may belong to someone else, and is readable to us anyway).
pub fn tighten_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(_) => tighten(path, FILE_MODE, "database file"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn tighten(path: &Path, mode: u32, what: &str) -> io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 == 0 {
        return Ok(());
    }
    match std::fs::set_permissions(path, Permissions::from_mode(mode)) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            from = format!("{current:o}"),
            to = format!("{mode:o}"),
            "the {what} was readable by others than its owner; its mode was tightened"
        ),
        Err(e) => tracing::warn!(
            path = %path.display(),
            mode = format!("{current:o}"),
            error = %e,
            "the {what} is readable by others than its owner and its mode could not be changed; chmod it yourself"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_private_and_loose_ones_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("x.db");
        private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        private_dir(&dir).unwrap();
        private_file(&db).unwrap();
        assert_eq!((mode(&dir), mode(&db)), (0o700, 0o600));
        // Stricter modes are left alone; missing files stay missing.
        std::fs::set_permissions(&db, Permissions::from_mode(0o400)).unwrap();
        private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o400);
        tighten_if_exists(&dir.join("missing")).unwrap();
        assert!(!dir.join("missing").exists());
    }
}
