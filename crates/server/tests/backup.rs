//! `cofferd backup` and `cofferd restore` with the real binary: an online backup taken while a
//! writer keeps creating keys and encrypting, restored into a new directory, serves the same
//! credentials, which decrypt every ciphertext acknowledged before the backup; the restored
//! audit log verifies; a wrong root key, a non-empty target and a damaged backup are refused.
//! And a data directory missing one of its parts is refused, naming it, with every remaining
//! file unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use base64::Engine;
use common::{signed_call, Admin, Server, TempDir};
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn start(data: &Path, root_key: &Path) -> Server {
    let mut cmd = Server::command(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--root-key",
        root_key.to_str().unwrap(),
    ]);
    cmd.stderr(Stdio::null());
    Server::spawn(cmd)
}

/// SIGTERM, then wait for the drained exit (status 0).
fn terminate(srv: Server) {
    let mut srv = srv;
    let killed = Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = srv.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

fn cofferd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .args(args)
        .output()
        .unwrap()
}

/// A signed call that must succeed; its answer.
fn ok(addr: &str, who: &Admin, target: &str, body: &Value) -> Value {
    let (status, v) = signed_call(
        addr,
        &who.access_key_id,
        &who.secret,
        &who.region,
        target,
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{target}: {v}");
    v
}

fn create_key(addr: &str, who: &Admin) -> String {
    ok(addr, who, "TrentService.CreateKey", &json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn encrypt(addr: &str, who: &Admin, key: &str, plaintext: &[u8]) -> String {
    ok(
        addr,
        who,
        "TrentService.Encrypt",
        &json!({"KeyId": key, "Plaintext": b64(plaintext)}),
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn decrypt(addr: &str, who: &Admin, blob: &str) -> String {
    ok(
        addr,
        who,
        "TrentService.Decrypt",
        &json!({"CiphertextBlob": blob}),
    )["Plaintext"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A non-bootstrap credential of the administrator's account, allowed the KMS calls.
fn app_credential(addr: &str, admin: &Admin) -> Admin {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:CreateKey"],"Resource":"*"}]}"#;
    let v = ok(
        addr,
        admin,
        "CofferAdmin.CreateCredential",
        &json!({
            "PrincipalArn": format!("arn:aws:iam::{}:user/app", admin.account_id),
            "IdentityPolicies": [policy],
        }),
    );
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    Admin {
        access_key_id: s("AccessKeyId"),
        secret: s("SecretAccessKey"),
        account_id: s("AccountId"),
        principal_arn: s("PrincipalArn"),
        region: s("Region"),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn an_online_backup_under_load_restores_to_the_same_credentials_and_ciphertexts() {
    let base = TempDir::new("backup");
    let data = base.path().join("data");
    let root_key = base.path().join("root.key");
    let backup = base.path().join("coffer.backup");
    let restored = base.path().join("restored");

    let srv = start(&data, &root_key);
    let addr = srv.addr.clone();
    let admin = Admin::of(&data);
    let app = app_credential(&addr, &admin);
    let keys: Vec<String> = (0..3).map(|_| create_key(&addr, &app)).collect();
    // (who, ciphertext, plaintext) of every acknowledged Encrypt.
    let acked: Arc<Mutex<Vec<(bool, String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    for i in 0..30 {
        let pt = format!("before-{i}");
        let blob = encrypt(&addr, &app, &keys[i % keys.len()], pt.as_bytes());
        acked
            .lock()
            .unwrap()
            .push((false, blob, b64(pt.as_bytes())));
    }

    // A writer that keeps creating keys and encrypting until told to stop; it says when it has
    // acknowledged its first round, so the backup runs under load.
    let stop = Arc::new(AtomicBool::new(false));
    let (running_tx, running_rx) = mpsc::channel();
    let writer = {
        let (stop, acked, addr, admin) = (stop.clone(), acked.clone(), addr.clone(), admin.clone());
        std::thread::spawn(move || {
            let mut round = 0u64;
            let mut key = create_key(&addr, &admin);
            while !stop.load(Ordering::SeqCst) {
                // A new key whenever the CreateKey quota allows, else the last one.
                let (status, v) = signed_call(
                    &addr,
                    &admin.access_key_id,
                    &admin.secret,
                    &admin.region,
                    "TrentService.CreateKey",
                    b"{}",
                );
                match status {
                    200 => key = v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned(),
                    _ => assert_eq!(v["__type"], "ThrottlingException", "{v}"),
                }
                let pt = format!("load-{round}");
                let blob = encrypt(&addr, &admin, &key, pt.as_bytes());
                acked.lock().unwrap().push((true, blob, b64(pt.as_bytes())));
                if round == 0 {
                    running_tx.send(()).unwrap();
                }
                round += 1;
            }
            round
        })
    };
    running_rx.recv().unwrap();
    let before_backup = acked.lock().unwrap().clone();
    let out = cofferd(&[
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        backup.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("coffer.db"), "{report}");
    assert!(report.contains("credentials.json"), "{report}");
    assert!(report.contains("audit/audit-0000000001.jsonl"), "{report}");
    stop.store(true, Ordering::SeqCst);
    let rounds = writer.join().unwrap();
    assert!(rounds >= 1);
    terminate(srv);

    // The file: owner only, and no secret in clear.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let bytes = std::fs::read(&backup).unwrap();
    for secret in [&admin.secret, &app.secret] {
        assert!(!contains(&bytes, secret.as_bytes()), "a secret in clear");
    }
    assert!(!contains(&bytes, &std::fs::read(&root_key).unwrap()));

    // A wrong root key is refused and leaves nothing behind.
    let wrong = base.path().join("wrong.key");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&wrong)
            .unwrap();
        f.write_all(&[7u8; 32]).unwrap();
    }
    let out = cofferd(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--root-key",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong root key"), "{err}");
    assert!(!restored.exists());

    // A non-empty target is refused.
    let occupied = base.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("x"), b"x").unwrap();
    let out = cofferd(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        occupied.to_str().unwrap(),
        "--root-key",
        root_key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    // A damaged backup is refused before anything is written.
    let damaged = base.path().join("damaged.backup");
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    std::fs::write(&damaged, &flipped).unwrap();
    let out = cofferd(&[
        "restore",
        "--from",
        damaged.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--root-key",
        root_key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"));
    assert!(!restored.exists());

    // The restore.
    let out = cofferd(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--root-key",
        root_key.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!restored.join(cofferd::ADMIN_CREDENTIALS_FILE).exists());
    let verify = cofferd(&["audit", "verify", "--data-dir", restored.to_str().unwrap()]);
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // The same credentials decrypt every ciphertext acknowledged before the backup.
    let srv = start(&restored, &root_key);
    assert!(before_backup.len() > 30);
    for (by_admin, blob, pt) in &before_backup {
        let who = if *by_admin { &admin } else { &app };
        assert_eq!(&decrypt(&srv.addr, who, blob), pt);
    }
    // And the restored server keeps working.
    let key = create_key(&srv.addr, &app);
    let blob = encrypt(&srv.addr, &app, &key, b"after");
    assert_eq!(decrypt(&srv.addr, &app, &blob), b64(b"after"));
    terminate(srv);
    let verify = cofferd(&["audit", "verify", "--data-dir", restored.to_str().unwrap()]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// Every file under `dir` with its SHA-256 and modification time.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, [u8; 32], std::time::SystemTime)> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let hash = coffer_crypto::sha256(&std::fs::read(&f).unwrap());
            let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
            (f, hash, mtime)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

#[test]
fn a_data_dir_missing_a_part_is_refused_naming_it_and_nothing_changes() {
    let base = TempDir::new("missing-part");
    let data = base.path().join("data");
    let root_key = base.path().join("root.key");
    let srv = start(&data, &root_key);
    let admin = Admin::of(&data);
    let key = create_key(&srv.addr, &admin);
    encrypt(&srv.addr, &admin, &key, b"x");
    terminate(srv);

    for part in [
        "coffer.db",
        "audit",
        "audit-public-key.hex",
        "credentials.json",
    ] {
        let dir = base.path().join(format!("without-{part}"));
        copy_dir(&data, &dir);
        let p = dir.join(part);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
        let before = fingerprint(&dir);
        let stderr_path = base.path().join(format!("stderr-{part}"));
        let mut cmd = Server::command(&[
            "--data-dir",
            dir.to_str().unwrap(),
            "--root-key",
            root_key.to_str().unwrap(),
        ]);
        cmd.stderr(std::fs::File::create(&stderr_path).unwrap());
        if Server::try_spawn(cmd).is_ok() {
            panic!("cofferd started on a data dir without {part}");
        }
        let stderr = std::fs::read_to_string(&stderr_path).unwrap();
        assert!(
            stderr.contains(&format!("{part} missing"))
                || stderr.contains(&format!("{part}/ missing")),
            "{part}: {stderr}"
        );
        assert!(
            stderr.contains("nothing was created or changed"),
            "{stderr}"
        );
        assert!(!p.exists(), "{part} was made anew");
        assert_eq!(before, fingerprint(&dir), "{part}: a file changed");
    }
}
