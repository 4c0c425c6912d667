//! `--config FILE`: the TOML configuration file, and the permission checks on files that hold
//! secrets or say who may do what.

use std::path::Path;

use crate::Error;

/// Refuses a file that its group or others may read or write: the configuration, credential
/// and passphrase files must be the owner's alone.
pub(crate) fn check_private(path: &Path) -> Result<(), Error> {
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
