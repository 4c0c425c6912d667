//! `cofferd check --data-dir DIR`: the full integrity check finds damage SQLite's quick check
//! at open cannot see and names the keys it touches; a sound data directory passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::process::Command;

use coffer::model::{CreateKeyRequest, EncryptRequest};
use coffer::{Caller, DataDir, RootKeySource};

mod common;

use common::TempDir;

fn check(dir: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .arg("check")
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

#[test]
fn check_finds_damage_the_quick_check_misses_and_names_the_key() {
    let tmp = TempDir::new("check");
    let data = tmp.path().join("data");
    let key_file = tmp.path().join("root.key");
    let root = Caller::account_root("111122223333".parse().unwrap());
    let (good, bad) = {
        let dir = DataDir::open(&data, RootKeySource::key_file(&key_file)).unwrap();
        let kms = dir.builder().build().unwrap();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let k = kms
                .create_key(&root, CreateKeyRequest::default())
                .unwrap()
                .key_metadata
                .key_id;
            kms.encrypt(
                &root,
                EncryptRequest {
                    key_id: k.clone(),
                    plaintext: b"x".to_vec().into(),
                    ..Default::default()
                },
            )
            .unwrap();
            ids.push(k);
        }
        (ids[0].clone(), ids[1].clone())
    };

    // Sound: exit 0, every row accounted for.
    let (code, out, err) = check(&data, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("SQLite integrity_check: ok"), "{out}");
    assert!(out.contains("every digest matches"), "{out}");

    // One key's wrapped material zeroed in place: the pages stay sound.
    let conn = rusqlite::Connection::open(data.join("coffer.db")).unwrap();
    let bad_id: coffer::KeyId = bad.parse().unwrap();
    let n = conn
        .execute(
            "UPDATE versions SET wrapped = zeroblob(length(wrapped)) WHERE key_id = ?1",
            [bad_id.as_bytes().as_slice()],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);

    let (code, out, err) = check(&data, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("SQLite integrity_check: ok"), "{out}");
    assert!(out.contains(&format!("damaged keys: {bad}")), "{out}");
    assert!(!out.contains(&good), "{out}");
    let (code, out, _) = check(&data, &["--json"]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["damagedKeys"], serde_json::json!([bad]));
    assert_eq!(v["damaged"][0]["table"], "versions");

    // A directory without a database: the check cannot run (2), and says why.
    let (code, _, err) = check(&tmp.path().join("nothing-here"), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.starts_with("cofferd check: "), "{err}");
    // Usage errors are 2 as well; --help is 0.
    let (code, _, _) = check(&data, &["--frobnicate"]);
    assert_eq!(code, Some(2));
    let o = Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .args(["check", "--help"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8(o.stdout).unwrap().contains("--data-dir"));
}
