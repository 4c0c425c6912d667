//! SoftHSM2 token directories for tests and benches (feature `testing`): one configuration file
//! (what `SOFTHSM2_CONF` names) over one token directory, and tokens initialised in it with
//! `softhsm2-util`. SoftHSM reads `SOFTHSM2_CONF` once per process, at `C_Initialize`, so a test
//! binary uses one directory for all its tokens, or runs each cofferd as a child process with its
//! own.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's SoftHSM2 PKCS#11 module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A SoftHSM2 configuration and its token directory.
#[derive(Debug, Clone)]
pub struct SoftHsmDir {
    conf: PathBuf,
    tokens: PathBuf,
}

impl SoftHsmDir {
    /// Writes `dir/softhsm2.conf` over the token directory `dir/tokens` (file object store,
    /// errors-only logging, then `extra_conf` lines such as `slots.removable = true`).
    pub fn create(dir: &Path, extra_conf: &str) -> Result<Self, String> {
        if !Path::new(SOFTHSM_MODULE).exists() {
            return Err("SoftHSM2 is not installed: apt-get install softhsm2".into());
        }
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).map_err(|e| format!("{}: {e}", tokens.display()))?;
        let conf = dir.join("softhsm2.conf");
        let text = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n{extra_conf}",
            tokens.display()
        );
        std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
        Ok(Self { conf, tokens })
    }

    /// Initialises a token labelled `label` with user PIN `pin` (and security officer PIN
    /// `so_pin`) in the first free slot.
    pub fn init_token(&self, label: &str, pin: &str, so_pin: &str) -> Result<(), String> {
        let out = self
            .command("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", pin, "--so-pin", so_pin])
            .output()
            .map_err(|e| format!("softhsm2-util (apt-get install softhsm2): {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "softhsm2-util --init-token {label}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A command (`softhsm2-util`, `pkcs11-tool`, cofferd) with `SOFTHSM2_CONF` set to this
    /// configuration.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", &self.conf);
        c
    }

    /// The configuration file (what `SOFTHSM2_CONF` names).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The token directory.
    pub fn tokens(&self) -> &Path {
        &self.tokens
    }
}
