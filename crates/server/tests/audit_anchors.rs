//! The audit log's anchors end to end, with the real binary: cofferd publishes every signed
//! digest to `[audit] anchor_dir` and logs it, `CofferAdmin.GetLatestAuditDigest` returns the
//! newest one, `cofferd audit verify --anchors` catches a log cut back after SIGTERM, and a
//! restart on the cut log is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{signed_call, Admin, Server, TempDir};

/// A configuration file (0600) for a data dir and an anchor dir under `dir`, JSON logs.
fn config(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("cofferd.toml");
    let text = format!(
        "data_dir = {:?}\n[log]\nformat = \"json\"\n[audit]\nanchor_dir = {:?}\n",
        dir.join("data").display().to_string(),
        dir.join("anchors").display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn start(cfg: &Path) -> Server {
    let mut cmd = Server::command(&["--config", cfg.to_str().unwrap()]);
    cmd.stderr(Stdio::piped());
    Server::spawn(cmd)
}

/// SIGTERM, then the server's stderr once it has drained and exited 0.
fn terminate(srv: Server) -> String {
    use std::io::Read;
    let mut srv = srv;
    let mut stderr = srv.child.stderr.take().unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut logs = String::new();
    stderr.read_to_string(&mut logs).unwrap();
    let status = srv.child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{logs}");
    logs
}

fn call(srv: &Server, a: &Admin, target: &str, body: &serde_json::Value) -> serde_json::Value {
    let (status, v) = signed_call(
        &srv.addr,
        &a.access_key_id,
        &a.secret,
        &a.region,
        target,
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{target}: {v}");
    v
}

/// GetLatestAuditDigest, checked against the anchor directory: its line is published there,
/// and it is at least as new as the newest line published before the call (the maintenance
/// timer may sign another digest meanwhile).
fn latest_digest(srv: &Server, a: &Admin, dir: &Path) -> serde_json::Value {
    let seq = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    let before = seq(anchor_lines(dir).last().unwrap());
    let d = call(
        srv,
        a,
        "CofferAdmin.GetLatestAuditDigest",
        &serde_json::json!({}),
    );
    let line = d["Line"].as_str().unwrap();
    assert!(anchor_lines(dir).iter().any(|l| l == line), "{d}");
    assert!(d["Sequence"].as_u64().unwrap() >= before, "{d}");
    assert_eq!(seq(line), d["Sequence"].as_u64().unwrap());
    assert_eq!(
        d["Anchor"],
        format!("{}:{}", d["Sequence"], d["Hash"].as_str().unwrap())
    );
    d
}

fn anchor_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("anchors").join("anchors.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `cofferd audit verify --data-dir DIR [--anchors DIR]`.
fn verify(dir: &Path, anchors: bool) -> Output {
    let data = dir.join("data");
    let anchor_dir = dir.join("anchors");
    let mut args = vec!["audit", "verify", "--data-dir", data.to_str().unwrap()];
    if anchors {
        args.extend(["--anchors", anchor_dir.to_str().unwrap()]);
    }
    Server::command(&args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The (single) audit log file of the data dir.
fn log_file(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("data").join(coffer::AUDIT_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

fn keep_lines(file: &Path, n: usize) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut kept: String = text.lines().take(n).collect::<Vec<_>>().join("\n");
    kept.push('\n');
    std::fs::write(file, kept).unwrap();
}

/// Starts cofferd on a log it must refuse: the exit status and stderr (a bounded wait, so a
/// server that wrongly starts fails the test instead of hanging it).
fn refused_start(cfg: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Server::command(&["--config", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            assert!(
                !text(&out.stdout).contains("listening"),
                "started: {}",
                text(&out.stdout)
            );
            return (out.status, text(&out.stderr));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cofferd started on a cut log");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn anchors_catch_a_cut_log_that_verifies_without_them_and_a_restart_refuses_it() {
    let tmp = TempDir::new("audit-anchors");
    let dir = tmp.path();
    let cfg = config(dir);

    // First run: some calls; the latest digest is the one the anchor directory ends with.
    let srv = start(&cfg);
    let a = Admin::of(&dir.join("data"));
    let key = call(
        &srv,
        &a,
        "TrentService.CreateKey",
        &serde_json::json!({"Description": "anchored"}),
    );
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    for i in 0..3 {
        call(
            &srv,
            &a,
            "TrentService.Encrypt",
            &serde_json::json!({"KeyId": key_id, "Plaintext": "aGVsbG8=",
                                "EncryptionContext": {"n": i.to_string()}}),
        );
    }
    latest_digest(&srv, &a, dir);
    let logs = terminate(srv);
    // The drain wrote a close digest: published, and in the structured log.
    let anchors = anchor_lines(dir);
    let close: serde_json::Value = serde_json::from_str(anchors.last().unwrap()).unwrap();
    assert_eq!(close["digest"]["reason"], "close");
    let close_seq = close["seq"].as_u64().unwrap();
    let logged: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &serde_json::Value| l["message"] == "audit digest signed")
        .collect();
    assert!(
        logged
            .iter()
            .any(|l| l["seq"] == close_seq && l["reason"] == "close" && l["hash"].is_string()),
        "no close digest in the log:\n{logs}"
    );

    // Second run on the intact log: it starts, and its open digest is the latest.
    let srv = start(&cfg);
    let d = latest_digest(&srv, &a, dir);
    assert!(d["Sequence"].as_u64().unwrap() > close_seq, "{d}");
    call(
        &srv,
        &a,
        "TrentService.Encrypt",
        &serde_json::json!({"KeyId": key_id, "Plaintext": "aGVsbG8="}),
    );
    terminate(srv);
    let ok = verify(dir, true);
    assert!(ok.status.success(), "{}", text(&ok.stdout));
    let report = text(&ok.stdout);
    assert!(report.contains("OK, the log verifies"), "{report}");
    let published = anchor_lines(dir).len();
    assert!(
        report.contains(&format!("{published} of {published} found")),
        "{report}"
    );
    let intact = std::fs::read(log_file(dir)).unwrap();

    // Cut the last three records (the close digest among them).
    let file = log_file(dir);
    let n = std::fs::read_to_string(&file).unwrap().lines().count();
    keep_lines(&file, n - 3);
    let plain = verify(dir, false);
    assert!(
        plain.status.success(),
        "without anchors the cut is invisible: {}",
        text(&plain.stdout)
    );
    let caught = verify(dir, true);
    assert_eq!(caught.status.code(), Some(1), "{}", text(&caught.stdout));
    let report = text(&caught.stdout);
    assert!(
        report.contains(&format!("FAILED: {}:{}:", file.display(), n - 3)),
        "{report}"
    );
    assert!(report.contains("is not in the log"), "{report}");
    let (status, stderr) = refused_start(&cfg);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refusing to continue the audit log")
            && stderr.contains(&format!("{}:{}", file.display(), n - 3)),
        "{stderr}"
    );
    // Nothing was written to the refused log.
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count(),
        n - 3
    );

    // A cut back exactly to a digest (the first run's close digest, dropping the second run):
    // a log that ends cleanly, that only the anchors can tell is short.
    std::fs::write(&file, &intact).unwrap();
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let boundary = lines
        .iter()
        .position(|l| l.contains(&format!("{{\"seq\":{close_seq},")))
        .unwrap();
    keep_lines(&file, boundary + 1);
    assert!(verify(dir, false).status.success());
    let caught = verify(dir, true);
    assert_eq!(caught.status.code(), Some(1), "{}", text(&caught.stdout));
    let (status, stderr) = refused_start(&cfg);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not in the log"), "{stderr}");
}

#[test]
fn audit_verify_reports_an_edited_record_with_its_file_and_line() {
    let tmp = TempDir::new("audit-verify-edit");
    let dir = tmp.path();
    let cfg = config(dir);
    let srv = start(&cfg);
    let a = Admin::of(&dir.join("data"));
    call(
        &srv,
        &a,
        "TrentService.CreateKey",
        &serde_json::json!({"Description": "before"}),
    );
    terminate(srv);
    let file = log_file(dir);
    let text_before = std::fs::read_to_string(&file).unwrap();
    let edited_line = text_before
        .lines()
        .position(|l| l.contains("\"before\""))
        .unwrap();
    std::fs::write(&file, text_before.replace("\"before\"", "\"after!\"")).unwrap();
    let out = verify(dir, false);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    // The edit shows at the next line, whose link no longer matches.
    assert!(
        report.contains(&format!("FAILED: {}:{}:", file.display(), edited_line + 2)),
        "{report}"
    );
    assert!(report.contains("hash chain broken"), "{report}");
    // A pinned key that is not the log's: every digest is foreign.
    let other: String = coffer_crypto::SigningKey::from_seed(&[1; 32])
        .unwrap()
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let data = dir.join("data");
    std::fs::write(&file, text_before).unwrap();
    let out = Server::command(&[
        "audit",
        "verify",
        "--data-dir",
        data.to_str().unwrap(),
        "--public-key",
        &other,
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("another key"));
}

#[test]
fn sigkill_rounds_leave_a_log_that_verifies_with_anchors_and_restarts() {
    let tmp = TempDir::new("audit-anchors-kill");
    let dir = tmp.path();
    let cfg = config(dir);
    let mut key_id = None;
    for round in 0..4 {
        let srv = start(&cfg);
        let a = Admin::of(&dir.join("data"));
        let id = key_id.get_or_insert_with(|| {
            let key = call(
                &srv,
                &a,
                "TrentService.CreateKey",
                &serde_json::json!({"Description": "kill"}),
            );
            key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
        });
        for i in 0..5 {
            call(
                &srv,
                &a,
                "TrentService.Encrypt",
                &serde_json::json!({"KeyId": id, "Plaintext": "aGVsbG8=",
                                    "EncryptionContext": {"round": format!("{round}.{i}")}}),
            );
        }
        // SIGKILL: no drain, no close digest; the acknowledged records follow the last digest.
        srv.stop();
        let out = verify(dir, true);
        assert!(out.status.success(), "round {round}: {}", text(&out.stdout));
        assert!(
            text(&out.stdout).contains("closed:      no"),
            "{}",
            text(&out.stdout)
        );
    }
    let srv = start(&cfg);
    terminate(srv);
    let out = verify(dir, true);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("closed:      yes"));
}
