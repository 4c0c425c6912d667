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

fn lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
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
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx = std::sync::Mutex::new(tx);
    sink.on_durable(Arc::new(move || {
        let _ = tx.lock().unwrap().send(());
    }));
    let rng = DeterministicRandom::new(b"append");
    let mut last = 0;
    for i in 0..50 {
        let seq = sink.append(&event(&rng, i)).unwrap();
        assert!(i == 0 || seq > last);
        last = seq;
    }
    // Woken by the hook (no sleeping), until the flusher has fsynced the last one.
    while sink.durable_through().unwrap() <= last {
        rx.recv().unwrap();
    }
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
                .durability(durability),
        )
        .unwrap(),
    );
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
}

fn crash_run(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
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
    let report = match verify(dir.path(), &vk) {
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
    // The sink reopens on the crashed log and the result verifies completely.
    drop(FileSink::open(dir.path(), key(), FileSinkOptions::default()).unwrap());
    let after = verify(dir.path(), &vk).unwrap();
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
