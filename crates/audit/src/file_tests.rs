//! Recovery after a failed write or fsync, with faults injected below the sink.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::sync::mpsc;
use std::time::UNIX_EPOCH;

use coffer_core::testing::ManualClock;
use coffer_core::{Caller, Region};
use coffer_crypto::testing::DeterministicRandom;

use super::fault::{Fault, Hook, Op};
use super::*;
use crate::{verify_with, verify_with_anchors, UserIdentity, VerifyOptions, VerifyReport};

/// Faults to inject, in order: each applies to the next operation of its kind.
#[derive(Default)]
struct Script {
    queue: parking_lot::Mutex<VecDeque<(Kind, Fault)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Write,
    Sync,
    Publish,
}

impl Script {
    fn push(&self, n: usize, kind: Kind, fault: Fault) {
        self.queue
            .lock()
            .extend(std::iter::repeat_n((kind, fault), n));
    }

    fn fail_writes(&self, n: usize, fault: Fault) {
        self.push(n, Kind::Write, fault);
    }

    fn fail_syncs(&self, n: usize, kind: ErrorKind) {
        self.push(n, Kind::Sync, Fault::Fail(kind));
    }

    fn hook(self: &Arc<Self>) -> Hook {
        let me = Arc::clone(self);
        Arc::new(move |op| {
            let kind = match op {
                Op::Write(_) => Kind::Write,
                Op::Sync => Kind::Sync,
                Op::Publish => Kind::Publish,
            };
            let mut q = me.queue.lock();
            match q.front() {
                Some((k, _)) if *k == kind => q.pop_front().map(|(_, f)| f),
                _ => None,
            }
        })
    }
}

fn key() -> SigningKey {
    SigningKey::from_seed(&[9; 32]).unwrap()
}

fn event(rng: &DeterministicRandom, n: u64) -> AuditEvent {
    let caller = Caller::new("arn:aws:iam::111122223333:user/alice").unwrap();
    AuditEvent::new(
        rng,
        "Encrypt",
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n),
        &Region::parse("us-east-1").unwrap(),
        UserIdentity::from_caller(&caller),
    )
    .unwrap()
    .request_id(format!("req-{n}"))
}

/// Options with the faults of `script` and no background retries: the tests retry explicitly.
fn opts(script: &Arc<Script>) -> FileSinkOptions {
    FileSinkOptions::default()
        .clock(Arc::new(ManualClock::at_epoch_seconds(1_700_000_000)))
        .retry_interval(Duration::from_secs(3600))
        .faults(script.hook())
}

/// Every event's request id in the log, in order.
fn logged_ids(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for (_, path) in layout::list(dir).unwrap() {
        for line in fs::read_to_string(&path).unwrap().lines() {
            if let Ok(AuditRecord::Event { event, .. }) = AuditRecord::parse_line(line) {
                let json = serde_json::to_value(&*event).unwrap();
                ids.push(json["requestID"].as_str().unwrap().to_owned());
            }
        }
    }
    ids
}

/// Every `recover` digest in the log.
fn gaps(dir: &Path) -> Vec<Gap> {
    let mut out = Vec::new();
    for (_, path) in layout::list(dir).unwrap() {
        for line in fs::read_to_string(&path).unwrap().lines() {
            if let Ok(AuditRecord::Digest(d)) = AuditRecord::parse_line(line) {
                if d.reason == DigestReason::Recover {
                    out.push(*d.gap.unwrap());
                }
            }
        }
    }
    out
}

fn strict(dir: &Path, key: &VerifyingKey) -> VerifyReport {
    verify_with(dir, key, &VerifyOptions::default().allow_torn_tail(false)).unwrap()
}

#[test]
fn a_failed_write_refuses_records_until_a_retry_succeeds_then_the_gap_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(dir.path(), key(), opts(&script)).unwrap();
    let rng = DeterministicRandom::new(b"gap");
    for n in 0..3 {
        sink.record(&event(&rng, n)).unwrap();
    }

    // The disk fills: the write of event 3 fails, and so do the next two attempts.
    script.fail_writes(3, Fault::Fail(ErrorKind::StorageFull));
    let err = sink.record(&event(&rng, 3)).unwrap_err();
    // (The flusher thread met the error; the caller is told its kind.)
    assert!(matches!(
        err,
        AuditError::Failed {
            kind: ErrorKind::StorageFull
        }
    ));
    assert!(sink.is_failed());
    // Nothing is acknowledged meanwhile: records, appends, digests and flushes all fail.
    for n in 4..8 {
        assert!(matches!(
            sink.record(&event(&rng, n)),
            Err(AuditError::Failed {
                kind: ErrorKind::StorageFull
            })
        ));
    }
    assert!(sink.append(&event(&rng, 8)).is_err());
    assert!(sink.write_digest().is_err());
    assert!(sink.flush().is_err());
    assert!(sink.durable_through().is_err());
    assert!(!sink.retry().unwrap_err().to_string().is_empty());
    assert!(sink.retry().is_err());
    assert!(sink.is_failed());

    // Space is back: the next attempt recovers, without reopening.
    sink.retry().unwrap();
    assert!(!sink.is_failed());
    let through = sink.durable_through().unwrap();
    sink.record(&event(&rng, 9)).unwrap();
    assert!(sink.durable_through().unwrap() > through);
    let vk = sink.verifying_key();
    drop(sink);

    let report = strict(dir.path(), &vk);
    assert!(report.closed);
    assert_eq!((report.recoveries, report.refused_in_gaps), (1, 5));
    // Event 3 was queued when the write failed: it is written on recovery (its caller got an
    // error: the log may say more than the caller was told, never less). 4 to 8 were refused.
    let ids = logged_ids(dir.path());
    assert_eq!(ids, ["req-0", "req-1", "req-2", "req-3", "req-9"]);
    let gap = gaps(dir.path());
    assert_eq!(gap.len(), 1);
    let g = &gap[0];
    assert_eq!((g.refused, g.failures), (5, 3));
    assert_eq!(g.error, "StorageFull");
    assert_eq!(g.first_failure, "2023-11-14T22:13:20Z");
}

#[test]
fn a_torn_write_and_a_failed_fsync_are_cut_back_before_the_retry() {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(dir.path(), key(), opts(&script)).unwrap();
    let rng = DeterministicRandom::new(b"torn");
    sink.record(&event(&rng, 0)).unwrap();
    let live = dir.path().join(layout::file_name(1));
    let before = fs::read(&live).unwrap();
    // The live file holds zeros ahead of its records.
    let records = padding::content(&before).len();
    assert!(before.len() > records && before[records..].iter().all(|&b| b == 0));

    // Half a line reaches the file, over the zeros, then the write fails.
    script.fail_writes(1, Fault::Partial(40, ErrorKind::StorageFull));
    assert!(sink.record(&event(&rng, 1)).is_err());
    let torn = fs::read(&live).unwrap();
    let torn = padding::content(&torn);
    assert_eq!(torn.len(), records + 40);
    assert!(!torn.ends_with(b"\n"));

    // The retry writes, but its fsync fails: still failed, nothing acknowledged.
    script.fail_syncs(1, ErrorKind::PermissionDenied);
    assert!(matches!(
        sink.retry(),
        Err(AuditError::Io { ref source, .. }) if source.kind() == ErrorKind::PermissionDenied
    ));
    assert!(sink.record(&event(&rng, 2)).is_err());

    // The next one works: the torn line and the unsynced batch were cut, the chain is whole.
    sink.retry().unwrap();
    sink.record(&event(&rng, 3)).unwrap();
    let vk = sink.verifying_key();
    drop(sink);
    let report = strict(dir.path(), &vk);
    assert_eq!(report.recoveries, 1);
    assert_eq!(logged_ids(dir.path()), ["req-0", "req-1", "req-3"]);
    let g = &gaps(dir.path())[0];
    assert_eq!(
        (g.refused, g.failures, g.error.as_str()),
        (1, 2, "PermissionDenied")
    );

    // And the log reopens cleanly: nothing to cut, the tail checks.
    let sink = FileSink::open(dir.path(), key(), opts(&script)).unwrap();
    drop(sink);
    strict(dir.path(), &vk);
}

#[test]
fn faults_across_rollovers_and_anchors_leave_a_log_that_verifies_with_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let anchors = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let o = opts(&script)
        .max_file_bytes(4096)
        .anchor_dir(Some(anchors.path().to_path_buf()));
    let sink = FileSink::open(dir.path(), key(), o.clone()).unwrap();
    let rng = DeterministicRandom::new(b"roll");
    let mut acknowledged = Vec::new();
    let faults = [
        (true, Fault::Partial(100, ErrorKind::StorageFull)),
        (false, Fault::Fail(ErrorKind::Other)),
        (true, Fault::Fail(ErrorKind::PermissionDenied)),
        (true, Fault::Partial(1, ErrorKind::StorageFull)),
    ];
    let mut recoveries = 0;
    for n in 0..120u64 {
        if n % 9 == 4 {
            let (write, fault) = faults[(n as usize / 9) % faults.len()];
            if write {
                script.fail_writes(1, fault);
            } else {
                script.fail_syncs(1, ErrorKind::Other);
            }
        }
        match sink.record(&event(&rng, n)) {
            Ok(()) => acknowledged.push(format!("req-{n}")),
            Err(_) => {
                assert!(sink.is_failed());
                sink.retry().unwrap();
                recoveries += 1;
            }
        }
        if n % 25 == 0 {
            sink.write_digest().unwrap();
        }
    }
    assert!(recoveries >= 10, "{recoveries}");
    let vk = sink.verifying_key();
    drop(sink);
    let report = verify_with_anchors(dir.path(), &vk, anchors.path()).unwrap();
    assert!(report.files > 3 && report.closed, "{report:?}");
    assert_eq!(report.recoveries, recoveries);
    assert!(report.anchors_checked >= report.digests - 1);
    let logged = logged_ids(dir.path());
    for id in &acknowledged {
        assert!(logged.contains(id), "{id} acknowledged but not in the log");
    }
    // It reopens and goes on.
    let sink = FileSink::open(dir.path(), key(), o).unwrap();
    sink.record(&event(&rng, 999)).unwrap();
    drop(sink);
    verify_with_anchors(dir.path(), &vk, anchors.path()).unwrap();
}

#[test]
fn the_flusher_retries_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(
        dir.path(),
        key(),
        opts(&script).retry_interval(Duration::from_millis(5)),
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = parking_lot::Mutex::new(tx);
    sink.on_durable(Arc::new(move |_| {
        let _ = tx.lock().send(());
    }));
    let rng = DeterministicRandom::new(b"auto");
    script.fail_writes(3, Fault::Fail(ErrorKind::StorageFull));
    assert!(sink.record(&event(&rng, 0)).is_err());
    // Woken by the hook after each attempt (no sleeping), bounded.
    let mut wakes = 0;
    while sink.is_failed() {
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        wakes += 1;
        assert!(wakes < 100);
    }
    sink.record(&event(&rng, 1)).unwrap();
    let vk = sink.verifying_key();
    drop(sink);
    let report = strict(dir.path(), &vk);
    assert_eq!(report.recoveries, 1);
    assert_eq!(gaps(dir.path())[0].failures, 3);
}

#[test]
fn failing_open_counts_losses_and_the_gap_says_how_many() {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(
        dir.path(),
        key(),
        opts(&script).failure_mode(FailureMode::FailOpen),
    )
    .unwrap();
    let rng = DeterministicRandom::new(b"open");
    script.fail_writes(1, Fault::Fail(ErrorKind::StorageFull));
    for n in 0..4 {
        sink.record(&event(&rng, n)).unwrap();
    }
    assert_eq!(sink.lost_events(), 4);
    sink.retry().unwrap();
    sink.record(&event(&rng, 4)).unwrap();
    let vk = sink.verifying_key();
    drop(sink);
    strict(dir.path(), &vk);
    // Event 0 was in the failed batch and is written on recovery; 1 to 3 are lost.
    assert_eq!(logged_ids(dir.path()), ["req-0", "req-4"]);
    assert_eq!(gaps(dir.path())[0].refused, 3);
}

#[test]
fn an_append_in_the_failed_batch_is_durable_only_once_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(
        dir.path(),
        key(),
        opts(&script).durability(Durability::Buffered(Duration::from_secs(3600))),
    )
    .unwrap();
    let rng = DeterministicRandom::new(b"append");
    let seq = sink.append(&event(&rng, 0)).unwrap();
    script.fail_syncs(1, ErrorKind::StorageFull);
    assert!(sink.flush().is_err());
    assert!(sink.durable_through().is_err());
    sink.retry().unwrap();
    assert!(sink.durable_through().unwrap() > seq);
    drop(sink);
    assert_eq!(logged_ids(dir.path()), ["req-0"]);
}

#[test]
fn a_digest_that_cannot_be_published_fails_the_sink_until_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let anchors = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let o = opts(&script).anchor_dir(Some(anchors.path().to_path_buf()));
    let sink = FileSink::open(dir.path(), key(), o.clone()).unwrap();
    let rng = DeterministicRandom::new(b"publish");
    sink.record(&event(&rng, 0)).unwrap();
    // The digest is durable in the log but the anchor directory refuses it (twice).
    script.push(2, Kind::Publish, Fault::Fail(ErrorKind::StorageFull));
    // (Its caller may be told Ok: the digest is durable. Whoever led the batch got the error.)
    let _ = sink.write_digest();
    assert!(sink.is_failed());
    assert!(sink.record(&event(&rng, 1)).is_err());
    // The first retry writes the gap digest but cannot publish: still failed, nothing doubled.
    assert!(sink.retry().is_err());
    assert!(sink.record(&event(&rng, 2)).is_err());
    sink.retry().unwrap();
    sink.record(&event(&rng, 3)).unwrap();
    let vk = sink.verifying_key();
    drop(sink);
    let report = verify_with_anchors(dir.path(), &vk, anchors.path()).unwrap();
    assert_eq!(report.recoveries, 2);
    assert_eq!(report.refused_in_gaps, 2);
    assert_eq!(report.anchors_checked, report.digests);
    assert_eq!(logged_ids(dir.path()), ["req-0", "req-3"]);
    // The log and its anchors agree: it reopens.
    drop(FileSink::open(dir.path(), key(), o).unwrap());
    verify_with_anchors(dir.path(), &vk, anchors.path()).unwrap();
}

#[test]
fn concurrent_callers_through_repeated_faults_lose_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    // Every 7th write and every 11th fsync fails, some writes torn; the flusher retries by
    // itself every millisecond.
    let ops = Arc::new(AtomicU64::new(0));
    let armed = Arc::new(AtomicBool::new(true));
    let (counter, on) = (Arc::clone(&ops), Arc::clone(&armed));
    let hook: Hook = Arc::new(move |op| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        if !on.load(Ordering::SeqCst) {
            return None;
        }
        match op {
            Op::Write(len) if n % 7 == 3 => Some(Fault::Partial(len / 2, ErrorKind::StorageFull)),
            Op::Sync if n % 11 == 5 => Some(Fault::Fail(ErrorKind::Other)),
            _ => None,
        }
    });
    let o = FileSinkOptions::default()
        .clock(Arc::new(ManualClock::at_epoch_seconds(1_700_000_000)))
        .max_file_bytes(8192)
        .retry_interval(Duration::from_millis(1))
        .faults(hook);
    let sink = Arc::new(FileSink::open(dir.path(), key(), o).unwrap());
    let acknowledged = parking_lot::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (sink, acknowledged) = (&sink, &acknowledged);
            s.spawn(move || {
                let rng = DeterministicRandom::new(format!("t{t}").as_bytes());
                for i in 0..150 {
                    let n = t * 1000 + i;
                    if sink.record(&event(&rng, n)).is_ok() {
                        acknowledged.lock().push(format!("req-{n}"));
                    } else {
                        // Callers retry too, concurrently with the flusher and each other.
                        let _ = sink.retry();
                    }
                }
            });
        }
    });
    // The faults stop: the next attempt ends the last outage.
    armed.store(false, Ordering::SeqCst);
    sink.retry().unwrap();
    assert!(ops.load(Ordering::SeqCst) > 20);
    let vk = sink.verifying_key();
    drop(sink);
    let report = strict(dir.path(), &vk);
    assert!(report.recoveries > 0, "{report:?}");
    assert!(report.closed);
    let logged: std::collections::HashSet<_> = logged_ids(dir.path()).into_iter().collect();
    let acknowledged = acknowledged.into_inner();
    assert!(acknowledged.len() > 100, "{}", acknowledged.len());
    for id in &acknowledged {
        assert!(logged.contains(id), "{id} acknowledged but not in the log");
    }
}

/// The watermark `durable_through` reads without the lock follows each mode's promise: in
/// `Periodic` an appended record counts once written, and a failed fsync makes it an error
/// (the failure flag) until a retry writes again.
#[test]
fn the_lock_free_watermark_follows_periodic_writes_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(
        dir.path(),
        key(),
        opts(&script).durability(Durability::Periodic(Duration::from_secs(3600))),
    )
    .unwrap();
    let rng = DeterministicRandom::new(b"watermark");
    let first = sink.append(&event(&rng, 0)).unwrap();
    assert!(sink.durable_through().unwrap() > first);
    assert!(!sink.is_failed());
    script.fail_syncs(1, ErrorKind::StorageFull);
    assert!(sink.flush().is_err());
    assert!(sink.is_failed());
    assert!(sink.durable_through().is_err());
    sink.retry().unwrap();
    assert!(!sink.is_failed());
    let second = sink.append(&event(&rng, 1)).unwrap();
    assert!(second > first);
    assert!(sink.durable_through().unwrap() > second);
}

/// The records of a log file and what follows them.
fn split_padding(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let data = fs::read(path).unwrap();
    let n = padding::content_end(&data);
    (data[..n].to_vec(), data[n..].to_vec())
}

#[test]
fn records_are_written_over_zeros_that_rollover_and_close_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let (limit, ahead) = (32u64 << 10, 16u64 << 10);
    let o = opts(&script).max_file_bytes(limit).preallocate(ahead);
    let sink = FileSink::open(dir.path(), key(), o.clone()).unwrap();
    let rng = DeterministicRandom::new(b"prealloc");
    let mut n = 0;
    while layout::list(dir.path()).unwrap().len() < 3 {
        sink.record(&event(&rng, n)).unwrap();
        n += 1;
    }
    let vk = sink.verifying_key();
    let files = layout::list(dir.path()).unwrap();
    // Full files end at their rollover digest, their padding cut off.
    for (_, path) in &files[..files.len() - 1] {
        let (records, rest) = split_padding(path);
        assert!(records.ends_with(b"\n") && rest.is_empty(), "{path:?}");
    }
    // The live file is written over zeros: a quarter of the stretch and more is left ahead,
    // and never past the size at which the file rolls over.
    let live = &files[files.len() - 1].1;
    let (records, rest) = split_padding(live);
    assert!(records.ends_with(b"\n"));
    assert!(!rest.is_empty() && rest.iter().all(|&b| b == 0));
    let size = (records.len() + rest.len()) as u64;
    assert!(rest.len() as u64 >= ahead / 4 || size == limit, "{size}");
    assert!(size <= limit, "{size}");
    // A log being written verifies, strictly: the zeros are no torn line.
    let report = strict(dir.path(), &vk);
    assert_eq!(report.torn_tail, None);
    assert_eq!(logged_ids(dir.path()).len() as u64, n);

    // Close cuts the live file's padding.
    sink.close().unwrap();
    drop(sink);
    let (records, rest) = split_padding(live);
    assert!(records.ends_with(b"\n") && rest.is_empty());
    strict(dir.path(), &vk);

    // And the log continues where it was, over new zeros.
    let sink = FileSink::open(dir.path(), key(), o).unwrap();
    sink.record(&event(&rng, n)).unwrap();
    assert_eq!(sink.latest_digest().unwrap().record.truncated_bytes, 0);
    drop(sink);
    assert_eq!(logged_ids(dir.path()).len() as u64, n + 1);
    strict(dir.path(), &vk);
}

#[test]
fn a_crash_leaves_zeros_and_pieces_of_a_lost_batch_that_the_next_open_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(dir.path(), key(), opts(&script)).unwrap();
    let rng = DeterministicRandom::new(b"crash");
    for n in 0..5 {
        sink.record(&event(&rng, n)).unwrap();
    }
    let vk = sink.verifying_key();
    sink.close().unwrap();
    drop(sink);
    let live = dir.path().join(layout::file_name(1));
    let (records, _) = split_padding(&live);

    // What a crash leaves after its last acknowledged batch: the zeros written ahead.
    let mut data = records.clone();
    data.extend_from_slice(&[0u8; 8192]);
    fs::write(&live, &data).unwrap();
    assert_eq!(strict(dir.path(), &vk).torn_tail, None);

    // Or the zeros with a later page of a batch it cut short on disk: a torn tail, which a
    // strict verification refuses and the next open cuts (and counts: only what is not zero).
    data[records.len() + 4096..records.len() + 4096 + 30].fill(b'x');
    fs::write(&live, &data).unwrap();
    let refused = verify_with(
        dir.path(),
        &vk,
        &VerifyOptions::default().allow_torn_tail(false),
    );
    assert!(
        matches!(refused, Err(AuditError::Tampered(ref t)) if t.kind == TamperKind::TruncatedLine),
        "{refused:?}"
    );
    let torn = verify_with(
        dir.path(),
        &vk,
        &VerifyOptions::default().allow_torn_tail(true),
    )
    .unwrap()
    .torn_tail
    .unwrap();
    assert_eq!(torn.file, live);

    let sink = FileSink::open(dir.path(), key(), opts(&script)).unwrap();
    assert_eq!(sink.latest_digest().unwrap().record.truncated_bytes, 30);
    sink.record(&event(&rng, 5)).unwrap();
    drop(sink);
    strict(dir.path(), &vk);
    assert_eq!(logged_ids(dir.path()).len(), 6);
    let (records_after, _) = split_padding(&live);
    assert!(records_after.starts_with(&records));
    assert!(!records_after.contains(&b'x'));
}

#[test]
fn with_no_preallocation_the_log_is_appended_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(dir.path(), key(), opts(&script).preallocate(0)).unwrap();
    let rng = DeterministicRandom::new(b"append");
    sink.record(&event(&rng, 0)).unwrap();
    let live = dir.path().join(layout::file_name(1));
    let (records, rest) = split_padding(&live);
    assert!(records.ends_with(b"\n") && rest.is_empty());
    let vk = sink.verifying_key();
    drop(sink);
    strict(dir.path(), &vk);
}

#[test]
fn an_event_whose_fields_hold_nul_bytes_is_written_without_one() {
    // A file's records end at its first NUL byte, so no record may hold one: JSON escapes it.
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(dir.path(), key(), opts(&script)).unwrap();
    let rng = DeterministicRandom::new(b"nul");
    let e = event(&rng, 0)
        .request_id("req-\0-0")
        .user_agent("agent\0\u{1}")
        .request_parameters(
            serde_json::json!({"keyId": "a\0b", "encryptionContext": {"k\0": "v\0"}}),
        );
    sink.record(&e).unwrap();
    sink.record(&event(&rng, 1)).unwrap();
    let vk = sink.verifying_key();
    drop(sink);
    let data = fs::read(dir.path().join(layout::file_name(1))).unwrap();
    assert!(!data.contains(&0));
    assert_eq!(logged_ids(dir.path()), ["req-\0-0", "req-1"]);
    assert_eq!(strict(dir.path(), &vk).events, 2);
}

/// A closed log of five events, its lines without the `close` digest (what a crash before the
/// close leaves), and that digest's line, to tear.
fn log_cut_before_close() -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let script = Arc::new(Script::default());
    let sink = FileSink::open(dir.path(), key(), opts(&script)).unwrap();
    let rng = DeterministicRandom::new(b"prop");
    for n in 0..5 {
        sink.record(&event(&rng, n)).unwrap();
    }
    sink.close().unwrap();
    drop(sink);
    let (records, _) = split_padding(&dir.path().join(layout::file_name(1)));
    let body = records.strip_suffix(b"\n").unwrap();
    let at = body.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    (dir, records[..at].to_vec(), body[at..].to_vec())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever a crash leaves after the last complete record — the zeros written ahead, a
    /// line cut short, pieces of a lost batch among the zeros — the next open keeps every
    /// complete record, cuts the rest, counts exactly its bytes that are not zero, and the
    /// log then verifies strictly.
    #[test]
    fn any_crash_tail_is_cut_counted_and_leaves_a_log_that_verifies(
        torn in 0usize..400,
        zeros in 0usize..12_000,
        strays in proptest::collection::vec(
            (0usize..12_000, proptest::collection::vec(proptest::prelude::any::<u8>(), 1..48)),
            0..4,
        ),
    ) {
        let (dir, records, last) = log_cut_before_close();
        let live = dir.path().join(layout::file_name(1));
        let torn = torn.min(last.len() - 1);
        let mut tail = last[..torn].to_vec();
        let mut pad = vec![0u8; zeros];
        for (at, bytes) in &strays {
            for (i, b) in bytes.iter().enumerate() {
                if let Some(slot) = pad.get_mut(at + i) {
                    *slot = *b;
                }
            }
        }
        tail.extend_from_slice(&pad);
        let mut data = records.clone();
        data.extend_from_slice(&tail);
        fs::write(&live, &data).unwrap();
        let vk = key().verifying_key();

        let script = Arc::new(Script::default());
        let sink = FileSink::open(dir.path(), key(), opts(&script)).unwrap();
        let cut = sink.latest_digest().unwrap().record.truncated_bytes;
        proptest::prop_assert_eq!(cut, tail.iter().filter(|&&b| b != 0).count() as u64);
        let rng = DeterministicRandom::new(b"after");
        sink.record(&event(&rng, 5)).unwrap();
        drop(sink);
        let (now, rest) = split_padding(&live);
        proptest::prop_assert!(now.starts_with(&records));
        proptest::prop_assert!(rest.is_empty());
        proptest::prop_assert_eq!(strict(dir.path(), &vk).events, 6);
        proptest::prop_assert_eq!(
            logged_ids(dir.path()),
            ["req-0", "req-1", "req-2", "req-3", "req-4", "req-5"]
        );
    }
}
