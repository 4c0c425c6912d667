//! Integration tests: the file sink end to end, every kind of tampering, crash safety.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic
#![allow(clippy::print_stdout, clippy::print_stderr)] // the crash child reports acknowledgements on stdout

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use coffer_audit::{
    verify, verify_with, AuditError, AuditEvent, AuditRecord, AuditSink, Durability, FailureMode,
    FileSink, FileSinkOptions, TamperKind, UserIdentity, VerifyOptions,
};
use coffer_core::testing::ManualClock;
use coffer_core::{Caller, Region};
use coffer_crypto::testing::DeterministicRandom;
use coffer_crypto::{SigningKey, SystemRandom, VerifyingKey};

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn key() -> SigningKey {
    SigningKey::from_seed(&[7; 32]).unwrap()
}

fn event(rng: &DeterministicRandom, n: u64) -> AuditEvent {
    let caller = Caller::new("arn:aws:iam::111122223333:user/alice").unwrap();
    AuditEvent::new(
        rng,
        "Encrypt",
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n),
        &Region::parse("us-east-1").unwrap(),
        UserIdentity::from_caller(&caller).access_key_id("AKIAEXAMPLE"),
    )
    .unwrap()
    .request_parameters(serde_json::json!({
        "keyId": KEY_ARN,
        "encryptionContext": {"tenant": format!("t{n}")},
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
    .resource(KEY_ARN, "111122223333")
    .request_id(format!("req-{n}"))
}

fn opts() -> FileSinkOptions {
    FileSinkOptions::default()
        .max_file_bytes(4096)
        .clock(Arc::new(ManualClock::at_epoch_seconds(1_700_000_000)))
}

/// A closed log of `n` events over several files, with a timer digest every 10 events.
fn build_log(n: u64) -> (tempfile::TempDir, VerifyingKey) {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(dir.path(), key(), opts()).unwrap();
    let rng = DeterministicRandom::new(b"log");
    for i in 0..n {
        sink.record(&event(&rng, i)).unwrap();
        if i % 10 == 9 {
            sink.write_digest().unwrap();
        }
    }
    sink.close().unwrap();
    let vk = sink.verifying_key();
    drop(sink);
    (dir, vk)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The lines of a log file (up to the zeros a live or crashed log holds ahead of its records).
fn lines(p: &Path) -> Vec<String> {
    let data = fs::read(p).unwrap();
    std::str::from_utf8(coffer_audit::file_records(&data))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(p: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    fs::write(p, s).unwrap();
}

fn tamper(dir: &Path, vk: &VerifyingKey) -> coffer_audit::Tampering {
    match verify(dir, vk) {
        Err(AuditError::Tampered(t)) => *t,
        other => panic!("expected tampering, got {other:?}"),
    }
}

/// Index of the first event line of `lines` after line `after`.
fn event_line_after(lines: &[String], after: usize) -> usize {
    (after..lines.len())
        .find(|&i| lines[i].contains("\"type\":\"event\""))
        .unwrap()
}

#[test]
fn intact_log_verifies_with_counts() {
    let (dir, vk) = build_log(60);
    let r = verify(dir.path(), &vk).unwrap();
    assert!(r.files >= 3, "{r:?}");
    assert_eq!(r.events, 60);
    // open + 6 timer + rollovers + close
    assert_eq!(r.records, r.events + r.digests);
    assert!(r.digests >= 8 + r.files - 1, "{r:?}");
    assert_eq!(r.records_after_last_digest, 0);
    assert!(r.closed);
    assert_eq!(r.torn_tail, None);
    // Every record parses, and events round-trip.
    let mut seen = 0;
    for f in files(dir.path()) {
        for l in lines(&f) {
            let rec = AuditRecord::parse_line(&l).unwrap();
            assert_eq!(rec.to_line().unwrap(), l);
            seen += 1;
        }
    }
    assert_eq!(seen, r.records);
}

#[test]
fn edited_field_is_detected() {
    let (dir, vk) = build_log(30);
    let f = &files(dir.path())[0];
    let mut ls = lines(f);
    let i = event_line_after(&ls, 1);
    assert!(ls[i].contains("\"tenant\":\"t"));
    ls[i] = ls[i].replacen("\"tenant\":\"t", "\"tenant\":\"x", 1);
    write_lines(f, &ls);
    let t = tamper(dir.path(), &vk);
    assert_eq!(
        (&t.file, t.line, &t.kind),
        (f, i as u64 + 2, &TamperKind::ChainBroken)
    );
}

#[test]
fn rewriting_the_chain_after_an_edit_is_caught_by_the_signed_digest() {
    let (dir, vk) = build_log(30);
    let f = &files(dir.path())[0];
    let mut ls = lines(f);
    let i = event_line_after(&ls, 1);
    ls[i] = ls[i].replace("req-", "rEq-");
    // Recompute every later link in the file, as an attacker without the key can.
    for j in i + 1..ls.len() {
        let prev = coffer_audit::line_hash(ls[j - 1].as_bytes());
        let hexp: String = prev.iter().map(|b| format!("{b:02x}")).collect();
        let start = ls[j].find("\"prev\":\"").unwrap() + 8;
        ls[j].replace_range(start..start + 64, &hexp);
    }
    write_lines(f, &ls);
    let t = tamper(dir.path(), &vk);
    assert_eq!(t.kind, TamperKind::BadSignature);
    assert!(ls[t.line as usize - 1].contains("\"type\":\"digest\""));
}

#[test]
fn deleted_line_is_detected() {
    let (dir, vk) = build_log(30);
    let f = &files(dir.path())[0];
    let mut ls = lines(f);
    let i = event_line_after(&ls, 1);
    ls.remove(i);
    write_lines(f, &ls);
    let t = tamper(dir.path(), &vk);
    assert_eq!(t.line, i as u64 + 1);
    assert!(matches!(t.kind, TamperKind::Gap { expected, found } if found == expected + 1));
}

#[test]
fn inserted_line_is_detected() {
    let (dir, vk) = build_log(30);
    let f = &files(dir.path())[0];
    let mut ls = lines(f);
    let i = event_line_after(&ls, 2);
    let copy = ls[1].clone();
    ls.insert(i, copy);
    write_lines(f, &ls);
    let t = tamper(dir.path(), &vk);
    assert_eq!(t.line, i as u64 + 1);
    assert!(matches!(t.kind, TamperKind::OutOfOrder { .. }), "{t:?}");
}

#[test]
fn swapped_lines_are_detected() {
    let (dir, vk) = build_log(30);
    let f = &files(dir.path())[0];
    let mut ls = lines(f);
    let i = event_line_after(&ls, 1);
    ls.swap(i, i + 1);
    write_lines(f, &ls);
    let t = tamper(dir.path(), &vk);
    assert_eq!(t.line, i as u64 + 1);
    assert!(matches!(t.kind, TamperKind::Gap { .. }), "{t:?}");
}

#[test]
fn file_cut_mid_line_is_detected() {
    let (dir, vk) = build_log(60);
    let f = &files(dir.path())[0];
    let bytes = fs::read(f).unwrap();
    fs::write(f, &bytes[..bytes.len() / 2]).unwrap();
    let t = tamper(dir.path(), &vk);
    assert_eq!(&t.file, f);
    assert_eq!(t.kind, TamperKind::TruncatedLine);
}

#[test]
fn last_file_cut_mid_line_is_a_torn_tail_caught_by_anchors_and_strict_mode() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(dir.path(), key(), opts_plain()).unwrap();
    let rng = DeterministicRandom::new(b"a");
    for i in 0..5 {
        sink.record(&event(&rng, i)).unwrap();
    }
    let anchor = sink.close().unwrap().anchor();
    let vk = sink.verifying_key();
    drop(sink);
    let f = files(dir.path()).pop().unwrap();
    let bytes = fs::read(&f).unwrap();
    fs::write(&f, &bytes[..bytes.len() - 40]).unwrap();
    // Alone, the cut looks like a crash: reported, not refused.
    let r = verify(dir.path(), &vk).unwrap();
    assert!(r.torn_tail.is_some());
    assert!(!r.closed);
    assert_eq!(r.records_after_last_digest, 5);
    // Strict mode refuses it; an exported anchor shows what is missing.
    let strict = VerifyOptions::default().allow_torn_tail(false);
    assert_eq!(
        verify_with(dir.path(), &vk, &strict)
            .unwrap_err()
            .tampering()
            .unwrap()
            .kind,
        TamperKind::TruncatedLine
    );
    let anchored = VerifyOptions::default().anchor(anchor);
    assert_eq!(
        verify_with(dir.path(), &vk, &anchored)
            .unwrap_err()
            .tampering()
            .unwrap()
            .kind,
        TamperKind::AnchorNotFound { seq: anchor.seq }
    );
}

#[test]
fn anchors_pass_on_an_intact_log_and_catch_a_rewritten_one() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(dir.path(), key(), opts()).unwrap();
    let rng = DeterministicRandom::new(b"b");
    sink.record(&event(&rng, 0)).unwrap();
    let exported = sink.write_digest().unwrap();
    let line = exported.line.clone();
    let anchor = coffer_audit::SignedDigest::parse(&line).unwrap().anchor();
    assert_eq!(anchor, exported.anchor());
    sink.record(&event(&rng, 1)).unwrap();
    let vk = sink.verifying_key();
    drop(sink);
    let opts = VerifyOptions::default().anchor(anchor);
    let r = verify_with(dir.path(), &vk, &opts).unwrap();
    assert_eq!(r.events, 2);
    // The whole log deleted and a fresh one started under the same key: the anchor is gone.
    let fresh = tempfile::tempdir().unwrap();
    let sink = FileSink::open(fresh.path(), key(), opts_plain()).unwrap();
    drop(sink);
    assert!(verify(fresh.path(), &vk).is_ok());
    assert!(matches!(
        verify_with(fresh.path(), &vk, &opts)
            .unwrap_err()
            .tampering()
            .unwrap()
            .kind,
        TamperKind::AnchorNotFound { .. }
    ));
}

fn opts_plain() -> FileSinkOptions {
    FileSinkOptions::default()
}

#[test]
fn deleted_file_is_detected_in_the_middle_and_at_the_end() {
    let (dir, vk) = build_log(60);
    let fs_ = files(dir.path());
    assert!(fs_.len() >= 3);
    fs::remove_file(&fs_[1]).unwrap();
    assert!(matches!(
        tamper(dir.path(), &vk).kind,
        TamperKind::MissingFile { .. }
    ));

    let (dir, vk) = build_log(60);
    let last = files(dir.path()).pop().unwrap();
    fs::remove_file(&last).unwrap();
    let t = tamper(dir.path(), &vk);
    assert_eq!(
        t.kind,
        TamperKind::MissingFile {
            name: last.file_name().unwrap().to_str().unwrap().to_owned()
        }
    );

    let (dir, vk) = build_log(60);
    fs::remove_file(&files(dir.path())[0]).unwrap();
    assert!(matches!(
        tamper(dir.path(), &vk).kind,
        TamperKind::MissingFile { .. }
    ));

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(tamper(empty.path(), &vk).kind, TamperKind::Empty);
}

#[test]
fn replaced_digest_signature_is_detected() {
    let (dir, vk) = build_log(30);
    let f = &files(dir.path())
        .into_iter()
        .find(|f| lines(f).iter().any(|l| l.contains("\"reason\":\"timer\"")))
        .unwrap();
    let mut ls = lines(f);
    let i = ls
        .iter()
        .position(|l| l.contains("\"reason\":\"timer\""))
        .unwrap();
    let start = ls[i].find("\"signature\":\"").unwrap() + 13;
    let forged: String = "ab".repeat(64);
    ls[i].replace_range(start..start + 128, &forged);
    write_lines(f, &ls);
    let t = tamper(dir.path(), &vk);
    assert_eq!((t.line, t.kind), (i as u64 + 1, TamperKind::BadSignature));
}

#[test]
fn digests_under_another_key_are_refused() {
    let (dir, _) = build_log(5);
    let other = SigningKey::from_seed(&[8; 32]).unwrap().verifying_key();
    let t = tamper(dir.path(), &other);
    assert_eq!((t.line, t.kind), (1, TamperKind::ForeignKey));
}

#[test]
fn reopening_continues_the_chain_and_cuts_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let rng = DeterministicRandom::new(b"re");
    {
        let sink = FileSink::open(dir.path(), key(), opts()).unwrap();
        sink.record(&event(&rng, 0)).unwrap();
    }
    // A crash mid-write leaves half a line.
    let f = files(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&f).unwrap();
    let torn = b"{\"seq\":3,\"prev\":\"00";
    bytes.extend_from_slice(torn);
    fs::write(&f, &bytes).unwrap();
    let vk = key().verifying_key();
    assert!(verify(dir.path(), &vk).unwrap().torn_tail.is_some());
    {
        let sink = FileSink::open(dir.path(), key(), opts()).unwrap();
        sink.record(&event(&rng, 1)).unwrap();
    }
    let r = verify(dir.path(), &vk).unwrap();
    assert_eq!((r.events, r.torn_tail, r.closed), (2, None, true));
    let opens: Vec<_> = files(dir.path())
        .iter()
        .flat_map(|f| lines(f))
        .filter_map(|l| match AuditRecord::parse_line(&l).unwrap() {
            AuditRecord::Digest(d) if d.reason == coffer_audit::DigestReason::Open => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(opens.len(), 2);
    assert_eq!(opens[1].truncated_bytes, torn.len() as u64);
}

#[test]
fn many_threads_group_commit_into_one_intact_log() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(
        FileSink::open(
            dir.path(),
            key(),
            FileSinkOptions::default().max_file_bytes(64 * 1024),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || {
                let rng = DeterministicRandom::new(&t.to_be_bytes());
                for i in 0..100 {
                    sink.record(&event(&rng, t * 1000 + i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    sink.flush().unwrap();
    let vk = sink.verifying_key();
    drop(sink);
    let r = verify(dir.path(), &vk).unwrap();
    assert_eq!(r.events, 800);
    assert!(r.files > 1);
}

#[test]
fn synchronous_records_are_fsynced_when_record_returns() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(dir.path(), key(), FileSinkOptions::default()).unwrap();
    let rng = DeterministicRandom::new(b"sync");
    for i in 0..20 {
        sink.record(&event(&rng, i)).unwrap();
        // The flusher thread wrote and fsynced it (and everything before it).
        assert_eq!(sink.unsynced_records(), 0);
    }
    let vk = sink.verifying_key();
    assert_eq!(verify(dir.path(), &vk).unwrap().events, 20);
}

#[test]
fn appended_records_become_durable_and_the_hook_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(dir.path(), key(), FileSinkOptions::default()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Option<u64>>();
    let tx = std::sync::Mutex::new(tx);
    sink.on_durable(Arc::new(move |mark| {
        let _ = tx.lock().unwrap().send(mark);
    }));
    let rng = DeterministicRandom::new(b"append");
    let mut last = 0;
    for i in 0..50 {
        let seq = sink.append(&event(&rng, i)).unwrap();
        assert!(i == 0 || seq > last);
        last = seq;
    }
    // Woken by the hook (no sleeping), which says how far the log is durable, until the
    // flusher has fsynced the last one; the marks only grow and never run ahead of the sink.
    let mut seen = 0;
    while seen <= last {
        let mark = rx.recv().unwrap().expect("the sink did not fail");
        assert!(mark >= seen, "the mark went back from {seen} to {mark}");
        assert!(mark <= sink.durable_through().unwrap());
        seen = mark;
    }
    assert!(sink.durable_through().unwrap() > last);
    assert_eq!(sink.unsynced_records(), 0);
    let vk = sink.verifying_key();
    assert_eq!(verify(dir.path(), &vk).unwrap().events, 50);
}

#[test]
fn record_after_close_fails() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(dir.path(), key(), opts()).unwrap();
    sink.close().unwrap();
    let rng = DeterministicRandom::new(b"c");
    assert!(matches!(
        sink.record(&event(&rng, 0)),
        Err(AuditError::Closed)
    ));
    assert!(matches!(sink.close(), Err(AuditError::Closed)));
}

/// Makes the next file name a directory, so the rollover's write fails.
fn break_rollover(dir: &Path) {
    fs::create_dir(dir.join("audit-0000000002.jsonl")).unwrap();
}

#[test]
fn write_failure_fails_closed_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(dir.path(), key(), opts()).unwrap();
    break_rollover(dir.path());
    let rng = DeterministicRandom::new(b"fc");
    let results: Vec<_> = (0..20).map(|i| sink.record(&event(&rng, i))).collect();
    let first_err = results.iter().position(Result::is_err).unwrap();
    assert!(first_err > 0);
    assert!(results[first_err..].iter().all(Result::is_err));
    assert!(matches!(results[19], Err(AuditError::Failed { .. })));
    assert_eq!(sink.lost_events(), 0);
}

#[test]
fn write_failure_fails_open_when_chosen_and_counts_losses() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(
        dir.path(),
        key(),
        opts().failure_mode(FailureMode::FailOpen),
    )
    .unwrap();
    break_rollover(dir.path());
    let rng = DeterministicRandom::new(b"fo");
    for i in 0..20 {
        sink.record(&event(&rng, i)).unwrap();
    }
    assert!(sink.lost_events() > 0);
    let lost = sink.lost_events();
    sink.record(&event(&rng, 99)).unwrap();
    assert_eq!(sink.lost_events(), lost + 1);
}

#[test]
fn a_sink_recovers_once_the_rollover_file_can_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(
        dir.path(),
        key(),
        opts().retry_interval(Duration::from_secs(3600)),
    )
    .unwrap();
    break_rollover(dir.path());
    let rng = DeterministicRandom::new(b"rec");
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for i in 0..40 {
        match sink.record(&event(&rng, i)) {
            Ok(()) => acknowledged.push(i),
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 0 && sink.is_failed());
    // Still in the way: the retry fails, the sink stays failed.
    assert!(sink.retry().is_err());
    assert!(sink.durable_through().is_err());
    fs::remove_dir(dir.path().join("audit-0000000002.jsonl")).unwrap();
    sink.retry().unwrap();
    assert!(sink.durable_through().is_ok());
    for i in 100..110 {
        sink.record(&event(&rng, i)).unwrap();
        acknowledged.push(i);
    }
    let vk = sink.verifying_key();
    drop(sink);
    let report = verify_with(
        dir.path(),
        &vk,
        &VerifyOptions::default().allow_torn_tail(false),
    )
    .unwrap();
    assert_eq!(report.recoveries, 1);
    assert!(report.closed);
    let text = all_lines(dir.path());
    for i in acknowledged {
        assert!(
            text.contains(&format!("\"req-{i}\"")),
            "req-{i} acknowledged, not logged"
        );
    }
}

/// Every line of every log file, concatenated.
fn all_lines(dir: &Path) -> String {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect()
}

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with a message) unless the test runs as root and may mount.
    fn mount(bytes: u64) -> Option<Self> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("skipped: a real full disk needs root (mount -t tmpfs)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("skipped: mount -t tmpfs failed here (no CAP_SYS_ADMIN?)");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system of `path` with a file of that name until a write fails.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|()| f.sync_all()) {
            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
            return;
        }
    }
}

#[test]
fn a_sink_on_a_full_tmpfs_fails_closed_then_recovers_when_space_returns() {
    let Some(fs_) = Tmpfs::mount(512 * 1024) else {
        return;
    };
    let log = fs_.path().join("log");
    let sink = FileSink::open(
        &log,
        key(),
        opts().retry_interval(Duration::from_secs(3600)),
    )
    .unwrap();
    let rng = DeterministicRandom::new(b"tmpfs");
    sink.record(&event(&rng, 0)).unwrap();
    let filler = fs_.path().join("filler");
    fill(&filler);

    // The disk is full: records go into the log's last page until it is full too (bounded).
    let mut acknowledged = vec![0];
    let mut n = 1;
    let first_error = loop {
        assert!(n < 10_000, "the full file system never refused a record");
        match sink.record(&event(&rng, n)) {
            Ok(()) => acknowledged.push(n),
            Err(e) => break e,
        }
        n += 1;
    };
    assert!(
        matches!(
            first_error,
            AuditError::Failed {
                kind: std::io::ErrorKind::StorageFull
            }
        ),
        "{first_error}"
    );
    for i in n + 1..n + 5 {
        assert!(sink.record(&event(&rng, i)).is_err());
    }
    assert!(sink.retry().is_err(), "still full");
    assert!(sink.durable_through().is_err());

    // Space returns: explicit retries (bounded) bring the sink back without reopening it.
    fs::remove_file(&filler).unwrap();
    let mut attempts = 0;
    while sink.retry().is_err() {
        attempts += 1;
        assert!(attempts < 10, "no recovery after space returned");
    }
    for i in 1000..1010 {
        sink.record(&event(&rng, i)).unwrap();
        acknowledged.push(i);
    }
    let vk = sink.verifying_key();
    drop(sink);
    let report = verify_with(&log, &vk, &VerifyOptions::default().allow_torn_tail(false)).unwrap();
    assert_eq!(report.recoveries, 1);
    assert!(report.refused_in_gaps >= 4);
    assert!(report.closed);
    let text = all_lines(&log);
    assert!(text.contains("\"error\":\"StorageFull\""));
    for i in acknowledged {
        assert!(
            text.contains(&format!("\"req-{i}\"")),
            "req-{i} acknowledged, not logged"
        );
    }
}

#[test]
fn buffered_durability_records_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(
        dir.path(),
        key(),
        opts().durability(Durability::Buffered(Duration::from_secs(3600))),
    )
    .unwrap();
    let rng = DeterministicRandom::new(b"buf");
    for i in 0..50 {
        sink.record(&event(&rng, i)).unwrap();
    }
    // Nothing is written yet beyond the open digest; flush writes and fsyncs.
    let vk = sink.verifying_key();
    assert_eq!(verify(dir.path(), &vk).unwrap().events, 0);
    // The 50 events, the open digest and the rollover digests of the small files.
    assert!(sink.unsynced_records() > 50);
    sink.flush().unwrap();
    assert_eq!(sink.unsynced_records(), 0);
    assert_eq!(verify(dir.path(), &vk).unwrap().events, 50);
    drop(sink);
    assert!(verify(dir.path(), &vk).unwrap().closed);
}

#[test]
fn periodic_durability_records_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(
        dir.path(),
        key(),
        opts().durability(Durability::Periodic(Duration::from_millis(5))),
    )
    .unwrap();
    let rng = DeterministicRandom::new(b"p");
    for i in 0..50 {
        sink.record(&event(&rng, i)).unwrap();
    }
    let vk = sink.verifying_key();
    drop(sink);
    assert_eq!(verify(dir.path(), &vk).unwrap().events, 50);
}

// ---- crash safety: SIGKILL a child after acknowledged records ----

const CHILD_DIR: &str = "COFFER_AUDIT_CRASH_DIR";
const CHILD_MODE: &str = "COFFER_AUDIT_CRASH_MODE";
const CHILD_ANCHORS: &str = "COFFER_AUDIT_CRASH_ANCHORS";

/// The child process of `acknowledged_records_survive_sigkill`: records events from 4 threads and
/// prints `ACK <requestID>` after each `record` returns. Stops by itself after 20,000 records.
#[test]
#[ignore = "child process of acknowledged_records_survive_sigkill"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let durability = match std::env::var(CHILD_MODE).as_deref() {
        Ok("periodic") => Durability::Periodic(Duration::from_millis(50)),
        _ => Durability::Sync,
    };
    let sink = Arc::new(
        FileSink::open(
            &dir,
            key(),
            FileSinkOptions::default()
                .max_file_bytes(32 * 1024)
                .durability(durability)
                .anchor_dir(std::env::var_os(CHILD_ANCHORS).map(PathBuf::from)),
        )
        .unwrap(),
    );
    // Timer digests meanwhile, so that the kill can land between a digest and its anchor.
    let digests = {
        let sink = Arc::clone(&sink);
        std::thread::spawn(move || {
            for _ in 0..2000 {
                sink.write_digest().unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || {
                let rng = SystemRandom::new();
                let shape = DeterministicRandom::new(b"shape");
                for i in 0..5000 {
                    let mut e = event(&shape, i);
                    e.event_id = coffer_audit::uuid_v4(&rng).unwrap();
                    let e = e.request_id(format!("t{t}-{i}"));
                    sink.record(&e).unwrap();
                    println!("ACK t{t}-{i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    digests.join().unwrap();
}

fn crash_run(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let anchors = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_MODE, mode)
        .env(CHILD_ANCHORS, anchors.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = HashSet::new();
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.insert(id.to_owned());
            if acked.len() == 600 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(acked.len(), 600, "child stopped early");

    let vk = key().verifying_key();
    // Verifies up to a clean cut (at most a torn last line).
    // ... and holds every digest published in the anchor directory.
    let report = match coffer_audit::verify_with_anchors(dir.path(), &vk, anchors.path()) {
        Ok(r) => r,
        Err(e) => {
            for f in files(dir.path()) {
                let b = fs::read(&f).unwrap();
                let tail = String::from_utf8_lossy(&b[b.len().saturating_sub(300)..]).into_owned();
                eprintln!("{} {} ...{}", f.display(), b.len(), tail);
            }
            panic!("{e:?}");
        }
    };
    assert!(report.events >= 600, "{report:?}");
    let mut logged = HashSet::new();
    for f in files(dir.path()) {
        let text = fs::read_to_string(&f).unwrap();
        for l in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            if let AuditRecord::Event { event, .. } = AuditRecord::parse_line(l.trim_end()).unwrap()
            {
                logged.insert(event.request_id.unwrap());
            }
        }
    }
    let missing: Vec<_> = acked.difference(&logged).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert!(report.anchors_checked > 0, "{report:?}");
    // The sink reopens on the crashed log (the tail check and the anchors pass) and the result
    // verifies completely, anchors included.
    let reopened = FileSinkOptions::default().anchor_dir(Some(anchors.path().to_path_buf()));
    drop(FileSink::open(dir.path(), key(), reopened).unwrap());
    let after = coffer_audit::verify_with_anchors(dir.path(), &vk, anchors.path()).unwrap();
    assert!(after.closed && after.torn_tail.is_none());
    assert_eq!(after.events, report.events);
}

#[test]
fn acknowledged_records_survive_sigkill() {
    crash_run("sync");
}

#[test]
fn acknowledged_records_survive_sigkill_with_periodic_fsync() {
    crash_run("periodic");
}

#[test]
fn empty_file_left_ahead_of_a_rollover_by_a_crash_is_accepted_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let rng = DeterministicRandom::new(b"ahead");
    {
        let sink = FileSink::open(dir.path(), key(), opts()).unwrap();
        sink.record(&event(&rng, 0)).unwrap();
        std::mem::forget(sink); // a crash: no close digest
    }
    fs::write(dir.path().join("audit-0000000002.jsonl"), b"").unwrap();
    let vk = key().verifying_key();
    let r = verify(dir.path(), &vk).unwrap();
    assert_eq!((r.files, r.events, r.records_after_last_digest), (2, 1, 1));
    drop(FileSink::open(dir.path(), key(), opts()).unwrap());
    let r = verify(dir.path(), &vk).unwrap();
    assert_eq!((r.files, r.events, r.closed), (1, 1, true));
}

// ---------------------------------------------------------------------------------------------
// Retention: size-based pruning of the oldest files, anchored by signed prune digests.

/// A closed log of `n` events with 4 KiB files and a timer digest every 10 events, written under
/// the retention budget `budget`.
fn build_pruned_log(n: u64, budget: Option<u64>) -> (tempfile::TempDir, VerifyingKey) {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(dir.path(), key(), opts().max_total_bytes(budget)).unwrap();
    let rng = DeterministicRandom::new(b"log");
    for i in 0..n {
        sink.record(&event(&rng, i)).unwrap();
        if i % 10 == 9 {
            sink.write_digest().unwrap();
        }
    }
    let vk = sink.verifying_key();
    drop(sink);
    (dir, vk)
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect()
}

fn index_of(p: &Path) -> u64 {
    let name = p.file_name().unwrap().to_str().unwrap();
    name["audit-".len().."audit-".len() + 10].parse().unwrap()
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_owned()
}

/// The (file, 0-based line) of every prune digest.
fn prune_lines(dir: &Path) -> Vec<(PathBuf, usize)> {
    let mut out = Vec::new();
    for f in log_files(dir) {
        for (i, l) in lines(&f).iter().enumerate() {
            if l.contains("\"reason\":\"prune\"") {
                out.push((f.clone(), i));
            }
        }
    }
    out
}

/// Rewrites every `prev` after line `from` of `file` (and in the files after it) so the chain
/// is consistent again: what someone who can write the files can do.
fn rechain_from(dir: &Path, file: &Path, from: usize) {
    let mut prev: Option<[u8; 32]> = None;
    for f in log_files(dir).into_iter().filter(|f| f.as_path() >= file) {
        let mut ls = lines(&f);
        for (i, l) in ls.iter_mut().enumerate() {
            if f.as_path() == file && i < from {
                continue;
            }
            if let Some(p) = prev {
                let hex: String = p.iter().map(|b| format!("{b:02x}")).collect();
                let start = l.find("\"prev\":\"").unwrap() + 8;
                l.replace_range(start..start + 64, &hex);
            }
            prev = Some(coffer_audit::line_hash(l.as_bytes()));
        }
        write_lines(&f, &ls);
    }
}

/// The numbers of the events in the log (from their request ids `req-N`), in order.
fn kept_request_ids(dir: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    for f in log_files(dir) {
        for l in lines(&f) {
            if let AuditRecord::Event { event, .. } = AuditRecord::parse_line(&l).unwrap() {
                let id = event.request_id.unwrap();
                out.push(id.strip_prefix("req-").unwrap().parse().unwrap());
            }
        }
    }
    out
}

#[test]
fn retention_prunes_the_oldest_files_and_the_rest_verifies() {
    let budget = 16 * 1024;
    let (dir, vk) = build_pruned_log(300, Some(budget));
    let fs_ = log_files(dir.path());
    let first = index_of(&fs_[0]);
    assert!(first > 1, "nothing was pruned: {fs_:?}");
    // Every file but the newest fits the budget (the live file may add up to one file).
    let old: u64 = fs_[..fs_.len() - 1]
        .iter()
        .map(|f| fs::metadata(f).unwrap().len())
        .sum();
    assert!(old <= budget, "{old} > {budget}");
    let r = verify(dir.path(), &vk).unwrap();
    let p = r.pruned.clone().expect("a prune summary");
    assert_eq!(p.files, first - 1);
    assert_eq!(p.records, r.first_seq);
    assert_eq!(p.through, format!("audit-{:010}.jsonl", first - 1));
    assert_eq!(p.time, "2023-11-14T22:13:20Z");
    assert!(r.prune_digests >= 1);
    assert!(r.closed && r.events < 300 && r.first_seq > 0);
    // The kept log is exactly the tail of the whole log: first_seq + records = all records.
    let (whole, _) = build_pruned_log(300, None);
    let all = verify(whole.path(), &vk).unwrap();
    assert!(all.pruned.is_none() && all.first_seq == 0 && all.prune_digests == 0);
    // (plus the prune digests, of which the pruned ones are gone with their files).
    assert!(r.first_seq + r.records >= all.records + r.prune_digests);
    assert_eq!(
        kept_request_ids(dir.path()),
        (300 - r.events..300).collect::<Vec<_>>()
    );
}

#[test]
fn prune_digest_names_the_files_their_records_and_the_boundary() {
    let (dir, vk) = build_pruned_log(200, Some(12 * 1024));
    let (file, line) = prune_lines(dir.path()).pop().unwrap();
    let AuditRecord::Digest(d) = AuditRecord::parse_line(&lines(&file)[line]).unwrap() else {
        panic!("not a digest");
    };
    assert!(d.verify_signature(&vk));
    let p = d.pruned.unwrap();
    let kept = log_files(dir.path());
    assert_eq!(
        p.last_file,
        format!("audit-{:010}.jsonl", index_of(&kept[0]) - 1)
    );
    assert!(p.records > 0 && p.bytes > 0);
    // The boundary is the first kept record: its seq, and its prev = the last pruned hash.
    let first = AuditRecord::parse_line(&lines(&kept[0])[0]).unwrap();
    assert_eq!((p.next_seq, p.last_hash), (first.seq(), *first.prev()));
}

#[test]
fn retention_never_removes_the_live_file_even_with_a_tiny_budget() {
    let dir = tempfile::tempdir().unwrap();
    let rng = DeterministicRandom::new(b"tiny");
    let vk = key().verifying_key();
    for round in 0..3 {
        let sink = FileSink::open(dir.path(), key(), opts().max_total_bytes(Some(1))).unwrap();
        for i in 0..60 {
            sink.record(&event(&rng, round * 100 + i)).unwrap();
            // The file being written is there after every record.
            let live = log_files(dir.path()).pop().unwrap();
            assert!(fs::metadata(&live).unwrap().len() > 0);
        }
        drop(sink);
        // Only the live file is left, and it verifies on its own, anchored by its prune digest.
        let kept = log_files(dir.path());
        assert_eq!(kept.len(), 1, "{kept:?}");
        let r = verify(dir.path(), &vk).unwrap();
        assert!(r.closed && r.pruned.is_some(), "{r:?}");
    }
}

#[test]
fn hand_deleted_kept_file_is_detected_after_pruning() {
    let (dir, vk) = build_pruned_log(300, Some(16 * 1024));
    let kept = log_files(dir.path());
    assert!(kept.len() >= 3);
    // The oldest kept file: its loss is not accounted for by any prune digest.
    fs::remove_file(&kept[0]).unwrap();
    let t = tamper(dir.path(), &vk);
    assert_eq!(
        t.kind,
        TamperKind::MissingFile {
            name: name_of(&kept[0])
        }
    );

    let (dir, vk) = build_pruned_log(300, Some(16 * 1024));
    let kept = log_files(dir.path());
    fs::remove_file(&kept[1]).unwrap();
    assert_eq!(
        tamper(dir.path(), &vk).kind,
        TamperKind::MissingFile {
            name: name_of(&kept[1])
        }
    );
}

#[test]
fn files_deleted_by_hand_without_retention_are_detected() {
    let (dir, vk) = build_pruned_log(120, None);
    let fs_ = log_files(dir.path());
    for f in &fs_[..2] {
        fs::remove_file(f).unwrap();
    }
    assert_eq!(
        tamper(dir.path(), &vk).kind,
        TamperKind::MissingFile {
            name: name_of(&fs_[1])
        }
    );
}

#[test]
fn records_cut_from_the_start_of_the_oldest_kept_file_are_detected() {
    let (dir, vk) = build_pruned_log(300, Some(16 * 1024));
    let kept = log_files(dir.path());
    let mut ls = lines(&kept[0]);
    ls.remove(0);
    write_lines(&kept[0], &ls);
    assert_eq!(tamper(dir.path(), &vk).kind, TamperKind::DigestMismatch);
}

#[test]
fn edited_prune_digest_is_detected() {
    let edits: [(&str, &str); 3] = [
        ("\"records\":", "\"records\":1"),
        ("\"nextSeq\":", "\"nextSeq\":1"),
        ("\"through\":\"audit-", "\"through\":\"audit-1"),
    ];
    for (from, to) in edits {
        let (dir, vk) = build_pruned_log(300, Some(16 * 1024));
        let (file, line) = prune_lines(dir.path()).pop().unwrap();
        let mut ls = lines(&file);
        ls[line] = ls[line].replacen(from, to, 1);
        write_lines(&file, &ls);
        // The digest's own signature gives the edit away...
        let t = tamper(dir.path(), &vk);
        assert_eq!(
            (t.kind, t.line),
            (TamperKind::BadSignature, line as u64 + 1),
            "{to}"
        );
        // ...also with the chain rewritten after it.
        rechain_from(dir.path(), &file, line + 1);
        let t = tamper(dir.path(), &vk);
        assert_eq!(
            (t.kind, t.line),
            (TamperKind::BadSignature, line as u64 + 1),
            "{to}"
        );
    }
    // A prune digest turned into another kind (its reason edited) no longer verifies either.
    let (dir, vk) = build_pruned_log(300, Some(16 * 1024));
    let (file, line) = prune_lines(dir.path()).pop().unwrap();
    let mut ls = lines(&file);
    ls[line] = ls[line].replacen("\"reason\":\"prune\"", "\"reason\":\"timer\"", 1);
    write_lines(&file, &ls);
    rechain_from(dir.path(), &file, line + 1);
    assert_eq!(tamper(dir.path(), &vk).kind, TamperKind::BadSignature);
}

/// Copies the files of `from` missing in `to` into it.
fn restore_missing(from: &Path, to: &Path) -> Vec<PathBuf> {
    let mut restored = Vec::new();
    for f in log_files(from) {
        let dest = to.join(f.file_name().unwrap());
        if !dest.exists() {
            fs::copy(&f, &dest).unwrap();
            restored.push(dest);
        }
    }
    restored
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for f in log_files(from) {
        fs::copy(&f, to.path().join(f.file_name().unwrap())).unwrap();
    }
    to
}

#[test]
fn crash_between_the_prune_digest_and_the_deletes_is_finished_on_open() {
    // A log of many files, then reopened under a budget: the open prunes.
    let (whole, vk) = build_pruned_log(200, None);
    let pruned = copy_dir(whole.path());
    drop(
        FileSink::open(
            pruned.path(),
            key(),
            opts().max_total_bytes(Some(12 * 1024)),
        )
        .unwrap(),
    );
    let kept = log_files(pruned.path());
    assert!(index_of(&kept[0]) > 1);
    assert!(verify(pruned.path(), &vk).unwrap().pruned.is_some());

    // The state a crash right after the prune digest leaves: every file still there.
    let crashed = copy_dir(pruned.path());
    let restored = restore_missing(whole.path(), crashed.path());
    assert!(!restored.is_empty());
    let r = verify(crashed.path(), &vk).unwrap();
    assert!(
        r.pruned.is_none() && r.first_seq == 0 && r.prune_digests == 1,
        "{r:?}"
    );
    // A crash half-way through the deletes (the oldest removed first) verifies too.
    let half = copy_dir(crashed.path());
    fs::remove_file(half.path().join(restored[0].file_name().unwrap())).unwrap();
    assert!(verify(half.path(), &vk).unwrap().pruned.is_some());

    // Reopening finishes the deletes the digest announced, even with retention now off, and
    // writes no second prune digest for them.
    for dir in [&crashed, &half] {
        drop(FileSink::open(dir.path(), key(), opts()).unwrap());
        for f in &restored {
            assert!(!dir.path().join(f.file_name().unwrap()).exists(), "{f:?}");
        }
        let r = verify(dir.path(), &vk).unwrap();
        assert_eq!(r.prune_digests, 1);
        assert_eq!(r.pruned.unwrap().files, index_of(&kept[0]) - 1);
        // Opening again changes nothing more.
        let before = log_files(dir.path()).len();
        drop(FileSink::open(dir.path(), key(), opts()).unwrap());
        assert_eq!(log_files(dir.path()).len(), before);
        verify(dir.path(), &vk).unwrap();
    }
}

#[test]
fn anchors_of_pruned_records_are_reported_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let rng = DeterministicRandom::new(b"anchors");
    let vk = key().verifying_key();
    let sink = FileSink::open(dir.path(), key(), opts().max_total_bytes(Some(12 * 1024))).unwrap();
    sink.record(&event(&rng, 0)).unwrap();
    let early = sink.write_digest().unwrap().anchor();
    for i in 1..200 {
        sink.record(&event(&rng, i)).unwrap();
    }
    let late = sink.write_digest().unwrap().anchor();
    drop(sink);
    let r = verify_with(
        dir.path(),
        &vk,
        &VerifyOptions::default().anchor(early).anchor(late),
    )
    .unwrap();
    assert!(r.first_seq > early.seq);
    assert_eq!(r.anchors_pruned, 1);
    // A wrong hash for a kept record is still caught.
    let mut bad = late;
    bad.hash[0] ^= 1;
    assert!(matches!(
        verify_with(dir.path(), &vk, &VerifyOptions::default().anchor(bad))
            .unwrap_err()
            .tampering()
            .unwrap()
            .kind,
        TamperKind::AnchorNotFound { .. }
    ));
}

#[cfg(unix)]
#[test]
fn log_directory_and_files_are_owner_only_and_loose_ones_are_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("audit");
    let rng = DeterministicRandom::new(b"modes");
    {
        let sink = FileSink::open(&dir, key(), opts()).unwrap();
        assert!(sink.tightened_permissions().is_empty());
        for i in 0..40 {
            sink.record(&event(&rng, i)).unwrap();
        }
    }
    assert_eq!(mode(&dir), 0o700);
    let fs_ = log_files(&dir);
    assert!(fs_.len() >= 2);
    for f in &fs_ {
        assert_eq!(mode(f), 0o600, "{f:?}");
    }
    // Loosened by hand (or by an older coffer): tightened on open, and said so.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&fs_[0], fs::Permissions::from_mode(0o644)).unwrap();
    let sink = FileSink::open(&dir, key(), opts()).unwrap();
    assert_eq!(sink.tightened_permissions(), &[dir.clone(), fs_[0].clone()]);
    assert_eq!((mode(&dir), mode(&fs_[0])), (0o700, 0o600));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
    /// Whatever the budget, file size, digest rhythm and restarts: the kept log verifies, it is
    /// the tail of everything written, and every file but the live one fits the budget.
    #[test]
    fn pruned_logs_always_verify(
        budget in 1u64..40_000,
        file_kib in 4u64..9,
        every in 1u64..15,
        restart_at in 0u64..150,
        n in 1u64..150,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let vk = key().verifying_key();
        let rng = DeterministicRandom::new(b"prop");
        let o = || opts()
            .max_file_bytes(file_kib * 1024)
            .max_total_bytes(Some(budget))
            .durability(Durability::Periodic(Duration::from_secs(3600)));
        let mut sink = FileSink::open(dir.path(), key(), o()).unwrap();
        let mut written = 1; // the open digest
        for i in 0..n {
            if i == restart_at {
                drop(sink);
                sink = FileSink::open(dir.path(), key(), o()).unwrap();
                written += 2; // close, open
            }
            sink.record(&event(&rng, i)).unwrap();
            written += 1;
            if i % every == every - 1 {
                sink.write_digest().unwrap();
                written += 1;
            }
        }
        drop(sink);
        written += 1; // close
        let r = verify(dir.path(), &vk).unwrap();
        let fs_ = log_files(dir.path());
        let old: u64 = fs_[..fs_.len() - 1].iter().map(|f| fs::metadata(f).unwrap().len()).sum();
        proptest::prop_assert!(old <= budget, "{} > {}", old, budget);
        // Everything written (plus the rollover and prune digests) = pruned + kept, and the
        // kept events are the newest ones, none missing.
        proptest::prop_assert!(r.first_seq + r.records >= written);
        proptest::prop_assert_eq!(kept_request_ids(dir.path()), (n - r.events..n).collect::<Vec<_>>());
        proptest::prop_assert_eq!(r.pruned.is_some(), index_of(&fs_[0]) > 1);
        proptest::prop_assert!(r.closed);
    }
}

// ---- The tail check at open, and the anchor directory ----

/// Options with an anchor directory, one file per log (no rollover) unless the test wants more.
fn anchored(anchors: &Path) -> FileSinkOptions {
    opts_plain()
        .clock(Arc::new(ManualClock::at_epoch_seconds(1_700_000_000)))
        .anchor_dir(Some(anchors.to_path_buf()))
}

/// A log with an anchor directory: `n` events, a timer digest after every 4, closed cleanly.
fn anchored_log(n: u64) -> (tempfile::TempDir, tempfile::TempDir) {
    let (dir, anchors) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sink = FileSink::open(dir.path(), key(), anchored(anchors.path())).unwrap();
    let rng = DeterministicRandom::new(b"anchored");
    for i in 0..n {
        sink.record(&event(&rng, i)).unwrap();
        if i % 4 == 3 {
            sink.write_digest().unwrap();
        }
    }
    sink.close().unwrap();
    drop(sink);
    (dir, anchors)
}

fn the_log(dir: &Path) -> PathBuf {
    let f = files(dir);
    assert_eq!(f.len(), 1, "{f:?}");
    f.into_iter().next().unwrap()
}

fn rejected_at_open(dir: &Path, opts: FileSinkOptions) -> coffer_audit::Tampering {
    let before: Vec<(PathBuf, Vec<u8>)> = files(dir)
        .into_iter()
        .map(|f| (f.clone(), fs::read(&f).unwrap()))
        .collect();
    let t = match FileSink::open(dir, key(), opts) {
        Err(AuditError::TailRejected(t)) => *t,
        other => panic!("expected the tail to be refused, got {other:?}"),
    };
    // Nothing was written or cut.
    let after: Vec<(PathBuf, Vec<u8>)> = files(dir)
        .into_iter()
        .map(|f| (f.clone(), fs::read(&f).unwrap()))
        .collect();
    assert!(before == after, "the refused open changed the log");
    t
}

fn anchored_tamper(dir: &Path, anchors: &Path) -> coffer_audit::Tampering {
    match coffer_audit::verify_with_anchors(dir, &key().verifying_key(), anchors) {
        Err(AuditError::Tampered(t)) => *t,
        other => panic!("expected tampering, got {other:?}"),
    }
}

#[test]
fn every_digest_is_published_to_the_anchor_directory_and_the_hook() {
    let (dir, anchors) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let seen = Arc::new(parking_lot_free::Seen::default());
    let hook_seen = seen.clone();
    let opts = anchored(anchors.path()).on_digest(Arc::new(move |d| hook_seen.push(d.anchor())));
    let sink = FileSink::open(dir.path(), key(), opts).unwrap();
    let rng = DeterministicRandom::new(b"pub");
    sink.record(&event(&rng, 0)).unwrap();
    let timer = sink.write_digest().unwrap();
    assert_eq!(sink.latest_digest().unwrap().anchor(), timer.anchor());
    sink.record(&event(&rng, 1)).unwrap();
    let close = sink.close().unwrap();
    assert_eq!(sink.latest_digest().unwrap(), close);
    drop(sink);

    let vk = key().verifying_key();
    let set = coffer_audit::read_anchors(anchors.path(), &vk).unwrap();
    let report = verify(dir.path(), &vk).unwrap();
    assert_eq!(set.anchors.len() as u64, report.digests);
    assert_eq!(set.latest(), Some(&close.anchor()));
    assert_eq!(seen.all(), set.anchors);
    // The file holds the log's digest lines exactly.
    let published = lines(&anchors.path().join(coffer_audit::ANCHORS_FILE));
    let in_log: Vec<String> = lines(&the_log(dir.path()))
        .into_iter()
        .filter(|l| l.contains("\"type\":\"digest\""))
        .collect();
    assert_eq!(published, in_log);
    let r = coffer_audit::verify_with_anchors(dir.path(), &vk, anchors.path()).unwrap();
    assert_eq!(r.anchors_checked, report.digests);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(anchors.path()), 0o700);
        assert_eq!(
            mode(&anchors.path().join(coffer_audit::ANCHORS_FILE)),
            0o600
        );
    }
}

/// A tiny thread-safe collector for the digest hook.
mod parking_lot_free {
    use std::sync::Mutex;

    #[derive(Default)]
    pub(crate) struct Seen(Mutex<Vec<coffer_audit::Anchor>>);

    impl Seen {
        pub(crate) fn push(&self, a: coffer_audit::Anchor) {
            self.0.lock().unwrap().push(a);
        }
        pub(crate) fn all(&self) -> Vec<coffer_audit::Anchor> {
            self.0.lock().unwrap().clone()
        }
    }
}

#[test]
fn cutting_the_last_records_is_refused_at_open_and_caught_by_verify_with_anchors() {
    for n in [1, 3] {
        let (dir, anchors) = anchored_log(9);
        let log = the_log(dir.path());
        let mut l = lines(&log);
        l.truncate(l.len() - n);
        write_lines(&log, &l);
        // The remaining records chain: alone, the log looks like one left by a crash.
        verify(dir.path(), &key().verifying_key()).unwrap();
        let t = rejected_at_open(dir.path(), anchored(anchors.path()));
        assert!(
            matches!(t.kind, TamperKind::AnchorNotFound { .. }),
            "{n}: {t}"
        );
        assert_eq!((t.file.clone(), t.line), (log.clone(), l.len() as u64));
        let t = anchored_tamper(dir.path(), anchors.path());
        assert!(
            matches!(t.kind, TamperKind::AnchorNotFound { .. }),
            "{n}: {t}"
        );
    }
}

#[test]
fn a_cut_back_to_a_digest_boundary_is_invisible_without_anchors_and_caught_with_them() {
    let (dir, anchors) = anchored_log(10);
    let log = the_log(dir.path());
    let mut l = lines(&log);
    // Delete the last digest (the close) and the events before it back to the digest before:
    // the log now ends at that digest, exactly as if the server had stopped there.
    let digests: Vec<usize> = (0..l.len())
        .filter(|&i| l[i].contains("\"type\":\"digest\""))
        .collect();
    let cut = digests[digests.len() - 2];
    l.truncate(cut + 1);
    assert!(l.last().unwrap().contains("\"type\":\"digest\""));
    write_lines(&log, &l);

    let vk = key().verifying_key();
    // Without anchors nothing can tell: the log verifies, and would be continued.
    verify(dir.path(), &vk).unwrap();
    let copy = tempfile::tempdir().unwrap();
    fs::copy(&log, copy.path().join(log.file_name().unwrap())).unwrap();
    drop(FileSink::open(copy.path(), key(), opts_plain()).unwrap());
    verify(copy.path(), &vk).unwrap();
    // With them, both the verifier and the sink see the cut.
    let t = anchored_tamper(dir.path(), anchors.path());
    assert!(matches!(t.kind, TamperKind::AnchorNotFound { .. }), "{t}");
    let t = rejected_at_open(dir.path(), anchored(anchors.path()));
    assert!(matches!(t.kind, TamperKind::AnchorNotFound { .. }), "{t}");
    // The whole log deleted is refused too.
    fs::remove_file(&log).unwrap();
    assert!(matches!(
        FileSink::open(dir.path(), key(), anchored(anchors.path())),
        Err(AuditError::TailRejected(_))
    ));
}

/// A log whose writer "crashed" after a timer digest and four more records (the sink is leaked:
/// no close digest), without an anchor directory unless given.
fn crashed_log(anchors: Option<&Path>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = match anchors {
        Some(a) => anchored(a),
        None => opts_plain(),
    };
    let sink = FileSink::open(dir.path(), key(), opts).unwrap();
    let rng = DeterministicRandom::new(b"crash");
    sink.record(&event(&rng, 0)).unwrap();
    sink.write_digest().unwrap();
    for i in 1..5 {
        sink.record(&event(&rng, i)).unwrap();
    }
    // Every record is durable (Sync); forgetting the sink is a crash before the next digest.
    std::mem::forget(sink);
    dir
}

#[test]
fn an_edited_record_since_the_last_digest_is_refused_at_open() {
    let dir = crashed_log(None);
    let log = the_log(dir.path());
    let mut l = lines(&log);
    let n = l.len();
    // The second-to-last record (an event after the timer digest) gets another tenant.
    l[n - 2] = l[n - 2].replace("\"t3\"", "\"tX\"");
    write_lines(&log, &l);
    let t = rejected_at_open(dir.path(), opts_plain());
    assert_eq!((t.kind, t.line), (TamperKind::ChainBroken, n as u64));
    assert_eq!(tamper(dir.path(), &key().verifying_key()).line, n as u64);
    // A deleted record in the tail is a gap.
    let dir = crashed_log(None);
    let log = the_log(dir.path());
    let mut l = lines(&log);
    l.remove(l.len() - 2);
    write_lines(&log, &l);
    let t = rejected_at_open(dir.path(), opts_plain());
    assert!(matches!(t.kind, TamperKind::Gap { .. }), "{t}");
    // The digest itself edited: the record after it no longer chains.
    let dir = crashed_log(None);
    let log = the_log(dir.path());
    let mut l = lines(&log);
    let d = l
        .iter()
        .rposition(|x| x.contains("\"reason\":\"timer\""))
        .unwrap();
    l[d] = l[d].replace("\"reason\":\"timer\"", "\"reason\":\"close\"");
    write_lines(&log, &l);
    let t = rejected_at_open(dir.path(), opts_plain());
    assert_eq!((t.kind, t.line), (TamperKind::ChainBroken, d as u64 + 2));
    // ... and with the chain after it rewritten, its signature fails.
    let dir = crashed_log(None);
    let log = the_log(dir.path());
    let mut l = lines(&log);
    let d = l.len() - 1;
    // The last record replaced by a copy of the timer digest, chained properly: its signature
    // no longer covers what it says.
    let digest_line = lines(&log)
        .into_iter()
        .rfind(|x| x.contains("\"reason\":\"timer\""))
        .unwrap();
    let mut rec = AuditRecord::parse_line(&digest_line).unwrap();
    if let AuditRecord::Digest(dg) = &mut rec {
        let prev_line = &l[d - 1];
        dg.seq = d as u64;
        dg.prev = coffer_audit::line_hash(prev_line.as_bytes());
    }
    l[d] = rec.to_line().unwrap();
    write_lines(&log, &l);
    let t = rejected_at_open(dir.path(), opts_plain());
    assert_eq!((t.kind, t.line), (TamperKind::BadSignature, d as u64 + 1));
}

#[test]
fn a_crash_tail_and_a_torn_last_line_open_and_are_kept() {
    let anchors = tempfile::tempdir().unwrap();
    let dir = crashed_log(Some(anchors.path()));
    let log = the_log(dir.path());
    let records = lines(&log).len();
    let mut bytes = coffer_audit::file_records(&fs::read(&log).unwrap()).to_vec();
    bytes.extend_from_slice(b"{\"seq\":99,\"prev\":\"ab");
    fs::write(&log, &bytes).unwrap();
    // The anchor file may be torn too (a crash mid-append).
    let af = anchors.path().join(coffer_audit::ANCHORS_FILE);
    let mut a = fs::read(&af).unwrap();
    a.extend_from_slice(b"{\"seq\":");
    fs::write(&af, &a).unwrap();

    let sink = FileSink::open(dir.path(), key(), anchored(anchors.path())).unwrap();
    sink.close().unwrap();
    drop(sink);
    let l = lines(&log);
    // Every record before the torn line is kept, then the open and close digests.
    assert_eq!(l.len(), records + 2);
    let vk = key().verifying_key();
    let r = coffer_audit::verify_with_anchors(dir.path(), &vk, anchors.path()).unwrap();
    assert_eq!((r.events, r.torn_tail, r.closed), (5, None, true));
    assert_eq!(r.anchors_checked, r.digests);
}

#[test]
fn an_anchor_directory_that_lags_the_log_is_caught_up_at_open() {
    // A crash between the digest's fsync in the log and its line in the anchor file.
    let (dir, anchors) = anchored_log(5);
    let af = anchors.path().join(coffer_audit::ANCHORS_FILE);
    let mut l = lines(&af);
    let last = l.pop().unwrap();
    write_lines(&af, &l);
    let sink = FileSink::open(dir.path(), key(), anchored(anchors.path())).unwrap();
    drop(sink);
    let now = lines(&af);
    assert_eq!(now[l.len()], last, "the missing digest is published first");
    coffer_audit::verify_with_anchors(dir.path(), &key().verifying_key(), anchors.path()).unwrap();
}

#[test]
fn anchors_of_another_key_are_refused() {
    let (dir, anchors) = anchored_log(2);
    let other = SigningKey::from_seed(&[8; 32]).unwrap();
    match FileSink::open(dir.path(), other, anchored(anchors.path())) {
        Err(AuditError::TailRejected(t)) => assert_eq!(t.kind, TamperKind::ForeignKey),
        other => panic!("{other:?}"),
    }
    let vk = SigningKey::from_seed(&[8; 32]).unwrap().verifying_key();
    assert!(matches!(
        coffer_audit::read_anchors(anchors.path(), &vk),
        Err(AuditError::BadAnchor { line: 1, .. })
    ));
}

#[test]
fn after_a_rollover_the_tail_chains_from_the_rollover_digest_of_the_file_before() {
    let build = || {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::open(dir.path(), key(), opts()).unwrap();
        let rng = DeterministicRandom::new(b"roll");
        let mut i = 0;
        while files(dir.path()).len() < 2 {
            sink.record(&event(&rng, i)).unwrap();
            i += 1;
        }
        sink.record(&event(&rng, i)).unwrap();
        // A crash: the new file holds two events and no digest.
        std::mem::forget(sink);
        dir
    };
    let dir = build();
    let f = files(dir.path());
    assert!(lines(&f[1])
        .iter()
        .all(|l| l.contains("\"type\":\"event\"")));
    drop(FileSink::open(dir.path(), key(), opts()).unwrap());
    verify(dir.path(), &key().verifying_key()).unwrap();

    // The rollover digest deleted: the new file's records chain from nothing signed.
    let dir = build();
    let f = files(dir.path());
    let mut l = lines(&f[0]);
    assert!(l.pop().unwrap().contains("\"reason\":\"rollover\""));
    write_lines(&f[0], &l);
    let t = rejected_at_open(dir.path(), opts());
    assert_eq!(
        (t.kind, t.file, t.line),
        (TamperKind::MissingDigest, f[1].clone(), 1)
    );
    // The new file's first record edited (its link to the rollover digest): refused there.
    let dir = build();
    let f = files(dir.path());
    let mut l = lines(&f[1]);
    let mut first: serde_json::Value = serde_json::from_str(&l[0]).unwrap();
    first["prev"] = serde_json::json!("00".repeat(32));
    l[0] = serde_json::to_string(&first).unwrap();
    write_lines(&f[1], &l);
    let t = rejected_at_open(dir.path(), opts());
    assert_eq!(t.file, f[1]);
}

#[test]
fn a_node_stamps_its_id_on_every_event_and_the_log_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::open(dir.path(), key(), opts().node_id("node-7f3a")).unwrap();
    let rng = DeterministicRandom::new(b"node");
    for i in 0..5 {
        sink.record(&event(&rng, i)).unwrap();
    }
    // An event that already names a node keeps it.
    let mut named = event(&rng, 99);
    named.node_id = Some("other".to_owned());
    sink.record(&named).unwrap();
    sink.close().unwrap();
    let vk = sink.verifying_key();
    drop(sink);
    let r = verify(dir.path(), &vk).unwrap();
    assert_eq!(r.events, 6);
    let mut ids = Vec::new();
    for f in files(dir.path()) {
        for l in lines(&f) {
            if let AuditRecord::Event { event: e, .. } = AuditRecord::parse_line(&l).unwrap() {
                ids.push(e.node_id.clone());
            }
        }
    }
    let want: Vec<Option<String>> = (0..5)
        .map(|_| Some("node-7f3a".to_owned()))
        .chain([Some("other".to_owned())])
        .collect();
    assert_eq!(ids, want);
    // A log without a node id writes no such field (single-node logs are unchanged).
    let (plain, _) = build_log(3);
    for f in files(plain.path()) {
        for l in lines(&f) {
            assert!(!l.contains("nodeId"), "{l}");
        }
    }
}
