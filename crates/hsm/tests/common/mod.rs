//! SoftHSM2 for the tests of one test binary: SoftHSM reads its configuration (`SOFTHSM2_CONF`)
//! once, at `C_Initialize`, so each binary gets one token directory, and each test its own
//! token in it, made before the module is first loaded.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use coffer_hsm::softhsm::SoftHsmDir;
use coffer_hsm::{TokenConfig, TokenSelector};

pub(crate) const MODULE: &str = coffer_hsm::softhsm::SOFTHSM_MODULE;
pub(crate) const PIN: &str = "4321-user";
pub(crate) const SO_PIN: &str = "8765-so";

pub(crate) struct SoftHsm {
    pub(crate) dir: PathBuf,
    pub(crate) conf: PathBuf,
    pub(crate) tokens: PathBuf,
}

/// The binary's SoftHSM, with one token per label in `labels` (the first call decides).
pub(crate) fn softhsm(labels: &[&str]) -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| {
        assert!(
            Path::new(MODULE).exists() && which("softhsm2-util"),
            "SoftHSM2 is not installed: apt-get install softhsm2"
        );
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "hsm".into());
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_stale(&tmp, &format!("softhsm-{name}-"));
        let dir = tmp.join(format!("softhsm-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let hsm = SoftHsmDir::create(&dir, "slots.removable = true\n").unwrap();
        for label in labels {
            hsm.init_token(label, PIN, SO_PIN).unwrap();
        }
        let (conf, tokens) = (hsm.conf().to_path_buf(), hsm.tokens().to_path_buf());
        // Read by the module at C_Initialize, which happens after this (the first load).
        std::env::set_var("SOFTHSM2_CONF", &conf);
        SoftHsm { dir, conf, tokens }
    })
}

/// Removes the token directories `prefix` + PID of earlier runs whose process is gone.
fn remove_stale(tmp: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn which(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub(crate) fn token(label: &str) -> TokenConfig {
    TokenConfig::new(MODULE, TokenSelector::Label(label.into()))
}

impl SoftHsm {
    /// The directory holding the token labelled `label`.
    pub(crate) fn token_dir(&self, label: &str) -> PathBuf {
        for entry in std::fs::read_dir(&self.tokens).unwrap() {
            let p = entry.unwrap().path();
            let object = std::fs::read(p.join("token.object")).unwrap_or_default();
            let padded = format!("{label:<32}");
            if object.windows(padded.len()).any(|w| w == padded.as_bytes()) {
                return p;
            }
        }
        panic!("no token labelled {label}");
    }
}
