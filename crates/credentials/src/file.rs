//! Where the sealed credential set is kept: the [`CredentialBackend`] trait and its file
//! implementation, with the owner-only, atomic and durable file handling both credential files
//! share.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use coffer_crypto::SecretBytes;

use crate::Error;

/// Keeps the sealed credential set: one document (format 3 JSON; every secret in it sealed,
/// except in a format-1 set awaiting migration) that is loaded at open and replaced as a whole
/// at each change. The file implementation is [`FileBackend`]; a database can be another.
pub trait CredentialBackend: fmt::Debug + Send + Sync {
    /// Where the set is kept, as errors name it (a file's path).
    fn location(&self) -> &Path;

    /// The set as last committed; `None` when none was ever committed (first start).
    fn load(&self) -> Result<Option<SecretBytes>, Error>;

    /// Replaces the set atomically and durably: once this returns `Ok`, a [`load`] (in this
    /// process or after a crash) returns `set`; after an error it returns the previous set or
    /// `set`, never a mix.
    ///
    /// [`load`]: CredentialBackend::load
    fn commit(&self, set: &[u8]) -> Result<(), Error>;

    /// Whether other processes (other nodes) change the set too: the store then reads it
    /// again before each change ([`CredentialStore::refresh`]) and commits with
    /// [`commit_if`](CredentialBackend::commit_if). `false` for a file, which one process
    /// holds.
    ///
    /// [`CredentialStore::refresh`]: crate::CredentialStore::refresh
    fn shared(&self) -> bool {
        false
    }

    /// [`commit`](CredentialBackend::commit), only if the set is still `expected` (`None`:
    /// none was committed): `Ok(false)`, committing nothing, when another process changed it
    /// first. The default (a backend one process holds) commits unconditionally.
    fn commit_if(&self, set: &[u8], expected: Option<&[u8]>) -> Result<bool, Error> {
        let _ = expected;
        self.commit(set).map(|()| true)
    }
}

/// The set in one file (`DATA_DIR/credentials.json`): refused when its group or others may
/// read or write it, written 0600 through a synced temporary file and a rename.
#[derive(Debug, Clone)]
pub struct FileBackend {
    path: PathBuf,
}

impl FileBackend {
    /// The set in the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl CredentialBackend for FileBackend {
    fn location(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<Option<SecretBytes>, Error> {
        if !self.path.exists() {
            return Ok(None);
        }
        check_private(&self.path)?;
        read_secret_file(&self.path).map(Some)
    }

    fn commit(&self, set: &[u8]) -> Result<(), Error> {
        write_private(&self.path, set)
    }
}

/// Refuses a file its group or others may read or write ([`Error::Permissions`]).
pub fn check_private(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(Error::io(path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::Permissions {
                path: path.to_owned(),
                mode: mode & 0o777,
            });
        }
    }
    Ok(())
}

/// A file's bytes, wiped when dropped.
pub(crate) fn read_secret_file(path: &Path) -> Result<SecretBytes, Error> {
    Ok(SecretBytes::new(
        std::fs::read(path).map_err(Error::io(path))?,
    ))
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        // Make a rename or unlink durable; not every platform can open a directory, so best
        // effort.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, synced, then
/// renamed, then the directory synced), readable and writable by the owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp: PathBuf = path.with_extension("json.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(Error::io(&tmp))?;
    #[cfg(unix)]
    {
        // The mode above applies only to a new file; make sure of it for a stale one.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(Error::io(&tmp))?;
    }
    f.write_all(bytes).map_err(Error::io(&tmp))?;
    f.sync_all().map_err(Error::io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(Error::io(path))?;
    sync_dir(path);
    Ok(())
}

/// Overwrites a file with zeros, syncs it, then unlinks it (best effort against recovery: a
/// copy-on-write or journaling file system may keep the old blocks).
pub(crate) fn wipe_and_remove(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(mut f) => {
            let len = f.metadata()?.len();
            let zeros = [0u8; 4096];
            let mut left = len;
            while left > 0 {
                let n = usize::try_from(left.min(4096)).unwrap_or(4096);
                f.write_all(zeros.get(..n).unwrap_or(&zeros))?;
                left = left.saturating_sub(n as u64);
            }
            f.sync_all()?;
            drop(f);
            std::fs::remove_file(path)?;
            sync_dir(path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
