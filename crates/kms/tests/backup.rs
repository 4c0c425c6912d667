//! Whole-directory backups at the library level: `DataDir::backup_online` and
//! `DataDir::restore_backup` round trip; a backup file with an entry name that would leave the
//! directory is refused and leaves nothing; the audit public key is never replaced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::{Path, PathBuf};

use coffer::{DataDir, RootKeySource, AUDIT_PUBLIC_KEY_FILE};

struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "coffer-backup-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(base: &Path) -> RootKeySource {
    RootKeySource::key_file(base.join("root.key"))
}

/// A backup file built by hand: entries as given, with a valid checksum.
fn handmade(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"coffer-backup/1\n".to_vec();
    for (name, data) in entries {
        out.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(data.len() as u64).to_be_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(&0u16.to_be_bytes());
    let sum = coffer_crypto::sha256(&out);
    out.extend_from_slice(&sum);
    out
}

#[test]
fn a_backup_round_trips_and_the_restored_log_continues_the_chain() {
    let t = Tmp::new("round-trip");
    let data = t.0.join("data");
    let dir = DataDir::open(&data, key(&t.0)).unwrap();
    let public = std::fs::read(data.join(AUDIT_PUBLIC_KEY_FILE)).unwrap();
    let file = t.0.join("b.backup");
    let summary = DataDir::backup_online(&data, &file, &["credentials.json"]).unwrap();
    assert!(summary.audit_last_seq.is_some());
    drop(dir);
    let restored = t.0.join("restored");
    let again = DataDir::restore_backup(&file, &restored).unwrap();
    assert_eq!(again.audit_last_hash, summary.audit_last_hash);
    assert_eq!(
        std::fs::read(restored.join(AUDIT_PUBLIC_KEY_FILE)).unwrap(),
        public
    );
    let dir = DataDir::open(&restored, key(&t.0)).unwrap();
    dir.audit_log().close().unwrap();
    // The first record after the restore names the backup's last record.
    let log = std::fs::read_to_string(restored.join("audit/audit-0000000001.jsonl")).unwrap();
    let next: serde_json::Value = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["seq"].as_u64() == Some(summary.audit_last_seq.unwrap() + 1))
        .unwrap();
    assert_eq!(
        next["prev"].as_str(),
        summary.audit_last_hash.as_deref(),
        "{next}"
    );
}

#[test]
fn an_entry_name_that_leaves_the_directory_is_refused_and_nothing_is_left() {
    let t = Tmp::new("traversal");
    for bad in [
        "../escape",
        "audit/../../escape",
        "/etc/escape",
        "audit/x.jsonl",
        "coffer.lock",
        "coffer.db-wal",
    ] {
        let file = t.0.join("bad.backup");
        let _ = std::fs::remove_file(&file);
        std::fs::write(
            &file,
            handmade(&[("manifest.json", br#"{"format":1}"#), (bad, b"x")]),
        )
        .unwrap();
        let target = t.0.join("target");
        let e = DataDir::restore_backup(&file, &target).expect_err(bad);
        assert!(e.to_string().contains("invalid entry name"), "{bad}: {e}");
        assert!(!target.exists(), "{bad}");
        assert!(!t.0.join("escape").exists());
    }
}

#[test]
fn the_audit_public_key_is_never_replaced() {
    let t = Tmp::new("public-key");
    let data = t.0.join("data");
    drop(DataDir::open(&data, key(&t.0)).unwrap());
    let file = data.join(AUDIT_PUBLIC_KEY_FILE);
    let forged = format!("{}\n", "ab".repeat(32));
    std::fs::write(&file, &forged).unwrap();
    let e = DataDir::open(&data, key(&t.0)).expect_err("a replaced public key");
    assert!(e.to_string().contains("is never replaced"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), forged);
}
