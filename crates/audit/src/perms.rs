//! Owner-only permissions: the log directory is created 0700 and its files 0600, whatever the
//! process umask; an existing directory or file open to group or others is tightened on open.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use crate::{layout, AuditError};

/// Mode of the log directory.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of every log file.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Makes `opts` create a file 0600 (the umask can only remove bits from that).
pub(crate) fn private_file(opts: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(FILE_MODE);
    }
    #[cfg(not(unix))]
    let _ = opts;
}

/// Creates `dir` (and missing parents) 0700, and tightens `dir` and the log files in it to
/// owner-only if they are open to group or others. Returns the paths it tightened.
pub(crate) fn create_private_dir(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(dir).map_err(|e| AuditError::io(dir, e))?;
    let mut tightened = Vec::new();
    if tighten(dir, DIR_MODE)? {
        tightened.push(dir.to_path_buf());
    }
    for (_, path) in layout::list(dir)? {
        if tighten(&path, FILE_MODE)? {
            tightened.push(path);
        }
    }
    Ok(tightened)
}

/// Sets `path`'s permission bits to `mode` if group or others have any; returns whether it did.
pub(crate) fn tighten(path: &Path, mode: u32) -> Result<bool, AuditError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = fs::metadata(path)
            .map_err(|e| AuditError::io(path, e))?
            .permissions()
            .mode();
        if current & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| AuditError::io(path, e))?;
            return Ok(true);
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(false)
}
