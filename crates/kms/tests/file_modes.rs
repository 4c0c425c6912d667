//! Every directory and file of a data directory is its owner's alone (directories 0700, files
//! 0600) after a realistic session, whatever the umask; a directory left with looser modes is
//! tightened on open and the paths are reported.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic
#![allow(clippy::print_stdout)] // the child reports that it ran

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use coffer::audit_log::FileSinkOptions;
use coffer::model::*;
use coffer::{Caller, DataDir, DataDirOptions, Kms, RootKeySource};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
const CHILD_DIR: &str = "COFFER_FILE_MODES_DIR";

fn alice() -> Caller {
    Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
}

/// A temporary directory, removed on drop.
struct TmpDir(PathBuf);

impl TmpDir {
    fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "coffer-file-modes-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every entry under `dir` (itself included) with its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let meta = std::fs::metadata(dir).unwrap();
    let mut out = vec![(dir.to_path_buf(), true, meta.permissions().mode() & 0o777)];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::metadata(&p).unwrap();
        if m.is_dir() {
            out.extend(modes(&p));
        } else {
            out.push((p, false, m.permissions().mode() & 0o777));
        }
    }
    out
}

fn assert_owner_only(dir: &Path) -> Vec<PathBuf> {
    let all = modes(dir);
    for (p, is_dir, mode) in &all {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}", p.display());
    }
    all.into_iter().map(|(p, ..)| p).collect()
}

fn open(data: &Path, key: &Path) -> DataDir {
    let audit = FileSinkOptions::default()
        .max_file_bytes(4096)
        .max_total_bytes(Some(12 * 1024));
    DataDir::open_with_options(
        data,
        RootKeySource::key_file(key),
        DataDirOptions::default().audit(audit),
    )
    .unwrap()
}

/// A session: create a key, encrypt until the audit log has rolled over and pruned, rotate.
fn session(kms: &Kms) {
    let key = kms
        .create_key(&alice(), CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    for _ in 0..40 {
        kms.encrypt(
            &alice(),
            EncryptRequest {
                key_id: key.clone(),
                plaintext: b"secret".to_vec().into(),
                ..Default::default()
            },
        )
        .unwrap();
    }
    kms.rotate_key_on_demand(&alice(), KeyIdRequest { key_id: key })
        .unwrap();
}

/// The child of `a_session_leaves_only_owner_only_files_whatever_the_umask`, run under
/// `umask 000`.
#[test]
#[ignore = "child process of a_session_leaves_only_owner_only_files_whatever_the_umask"]
fn session_child() {
    let Ok(root) = std::env::var(CHILD_DIR) else {
        return;
    };
    let root = Path::new(&root);
    let data = root.join("data");
    let key = root.join("root.key");
    let dir = open(&data, &key);
    assert!(dir.tightened_permissions().is_empty());
    let kms = dir.builder().build().unwrap();
    session(&kms);
    dir.audit_log().write_digest().unwrap();
    // While open: the WAL and shared-memory files exist, the audit log has rolled over.
    let paths = assert_owner_only(&data);
    for f in ["coffer.db", "coffer.db-wal", "coffer.db-shm", "coffer.lock"] {
        assert!(paths.contains(&data.join(f)), "{f} missing: {paths:?}");
    }
    let audit_files = paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .count();
    assert!(audit_files >= 2, "{paths:?}");
    let backup = root.join("backup.db");
    dir.backup_to(&backup).unwrap();
    drop(kms);
    drop(dir);
    assert_owner_only(&data);
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Reopened: the log was pruned, and it verifies.
    let dir = open(&data, &key);
    assert!(dir.tightened_permissions().is_empty());
    drop(dir);
    let public = std::fs::read_to_string(data.join(coffer::AUDIT_PUBLIC_KEY_FILE)).unwrap();
    let vk = coffer::audit_log::public_key_from_hex(&public).unwrap();
    let report = coffer::audit_log::verify(data.join(coffer::AUDIT_DIR), &vk).unwrap();
    assert!(report.pruned.is_some(), "{report:?}");
    assert_owner_only(&data);
    println!("SESSION CHECKED");
}

#[test]
fn a_session_leaves_only_owner_only_files_whatever_the_umask() {
    let root = TmpDir::new();
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "umask 000 && exec \"$0\" --exact session_child --ignored --nocapture --test-threads=1",
        ])
        .arg(std::env::current_exe().unwrap())
        .env(CHILD_DIR, &root.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("SESSION CHECKED"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn loose_modes_are_tightened_on_open_and_reported() {
    let root = TmpDir::new();
    let data = root.0.join("data");
    let key = root.0.join("root.key");
    {
        let dir = open(&data, &key);
        session(&dir.builder().build().unwrap());
    }
    // As an older coffer left it: everything readable by group and others.
    let mut loosened = Vec::new();
    for (p, is_dir, _) in modes(&data) {
        let mode = if is_dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        loosened.push(p);
    }
    let dir = open(&data, &key);
    let mut tightened = dir.tightened_permissions().to_vec();
    tightened.sort();
    loosened.sort();
    assert_eq!(tightened, loosened);
    drop(dir);
    assert_owner_only(&data);
}
