//! Owner-only files: the data directory is 0700 and every file the store makes in it 0600,
//! whatever the process umask (a library must not change the umask).
//!
//! SQLite creates a new database file with mode 0644 less the umask, but its WAL, shared-memory
//! and rollback-journal files with the database file's own mode (its unix VFS reads the
//! database's mode and `fchmod`s a new `-wal`, `-shm` or `-journal` file to it, umask or not).
//! So the store creates every database file itself, empty and 0600, before SQLite opens it, and
//! tightens an existing database and its companions that group or others may reach.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Mode of the data directory.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of every file in it.
pub(crate) const FILE_MODE: u32 = 0o600;

/// The files SQLite keeps beside a database.
pub(crate) const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

fn io_err(context: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Backend {
        context,
        source: Box::new(e),
    }
}

/// Options that create a file 0600 (the umask can only remove bits from that).
pub(crate) fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    o
}

/// Creates `path`, which must not exist, empty and 0600: SQLite then takes it as a new database
/// and gives its journal and WAL files the same mode.
pub(crate) fn create_empty(path: &Path) -> Result<File, StoreError> {
    private_options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("creating a database file"))
}

/// Creates `dir` (and missing parents) 0700.
pub(crate) fn create_dir(dir: &Path) -> Result<(), StoreError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(dir).map_err(io_err("creating the data directory"))
}

/// Sets `path`'s permission bits to `mode` if it exists and group or others have any; returns
/// whether it did.
pub(crate) fn tighten(path: &Path, mode: u32) -> Result<bool, StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => return Ok(false),
            Ok(m) => m.permissions().mode(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err("reading a file's permissions")(e)),
        };
        if current & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(io_err("restricting a file to its owner"))?;
            return Ok(true);
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(false)
}

/// Tightens the data directory, its lock file, and the database with its companions; returns
/// the paths it changed.
pub(crate) fn tighten_data_dir(
    dir: &Path,
    db_path: &Path,
    lock_path: &Path,
) -> Result<Vec<PathBuf>, StoreError> {
    let mut paths = vec![
        (dir.to_path_buf(), DIR_MODE),
        (lock_path.to_path_buf(), FILE_MODE),
        (db_path.to_path_buf(), FILE_MODE),
    ];
    paths.extend(
        COMPANIONS
            .iter()
            .map(|suffix| (companion(db_path, suffix), FILE_MODE)),
    );
    let mut changed = Vec::new();
    for (path, mode) in paths {
        if tighten(&path, mode)? {
            changed.push(path);
        }
    }
    Ok(changed)
}

/// `db_path` with `suffix` appended (`coffer.db-wal`).
pub(crate) fn companion(db_path: &Path, suffix: &str) -> PathBuf {
    let mut s = db_path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
