//! Holding an answer back until its audit record is durable, without holding a thread.
//!
//! With the synchronous audit log every call's record is fsynced before the client hears of
//! the call. Run on a blocking thread, a call parks that thread for the group commit; for the
//! cryptographic operations — which change nothing, so there is nothing to commit after the
//! record — cofferd instead runs the call on the reactor with the record only *appended*
//! (`FileSink::append`), then awaits the flusher's signal that the record is durable before it
//! sends the answer. The client's guarantee is unchanged: no answer, success or error, before
//! its record is on disk; if the record cannot be written, the answer is KMSInternalException
//! and the computed response is wiped unsent. Operations that change state keep recording
//! synchronously before they commit, on a blocking thread. The same path serves the `periodic`
//! and `buffered` durabilities (the record is then as safe as those promise when `append`
//! returns); a fail-open log keeps the synchronous path, where a lost record is counted rather
//! than failing the call.

use std::cell::Cell;
use std::sync::Arc;

use coffer::audit_log::{AuditError, AuditEvent, AuditSink, FileSink};
use coffer::Operation;
use parking_lot::Mutex;
use std::task::{Poll, Waker};

/// The operations run on the reactor with a deferred record: they read keys (from the key
/// cache once warm) and change nothing.
pub(crate) const DEFERRED_OPERATIONS: &[Operation] = &[
    Operation::Encrypt,
    Operation::Decrypt,
    Operation::ReEncrypt,
    Operation::GenerateDataKey,
    Operation::GenerateDataKeyWithoutPlaintext,
    Operation::GenerateRandom,
    Operation::GenerateMac,
    Operation::VerifyMac,
];

thread_local! {
    static DEFERRING: Cell<bool> = const { Cell::new(false) };
    static PENDING: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The audit sink the server's `Kms` records to: the data dir's log, with records of read-only
/// events appended without waiting while [`run_deferred`] runs on this thread.
pub(crate) struct DeferringSink {
    file: Arc<FileSink>,
}

impl DeferringSink {
    pub(crate) fn new(file: Arc<FileSink>) -> Self {
        Self { file }
    }
}

impl AuditSink for DeferringSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        if DEFERRING.with(Cell::get) && event.read_only {
            let seq = self.file.append(event)?;
            PENDING.with(|p| p.set(Some(p.get().map_or(seq, |q| q.max(seq)))));
            return Ok(());
        }
        self.file.record(event)
    }

    fn flush(&self) -> Result<(), AuditError> {
        self.file.flush()
    }

    fn lost_events(&self) -> u64 {
        self.file.lost_events()
    }
}

/// Resets the thread's deferral state, even if the call panics.
struct Reset;

impl Drop for Reset {
    fn drop(&mut self) {
        DEFERRING.with(|d| d.set(false));
    }
}

/// Runs `call` with read-only records deferred; returns its output and the sequence number of
/// the last record it deferred, which must be durable before the output is released.
pub(crate) fn run_deferred<T>(call: impl FnOnce() -> T) -> (T, Option<u64>) {
    PENDING.with(|p| p.set(None));
    DEFERRING.with(|d| d.set(true));
    let reset = Reset;
    let out = call();
    drop(reset);
    (out, PENDING.with(Cell::take))
}

/// Waits, asynchronously, for records to become durable.
///
/// Each waiting call leaves its record's sequence number and its task's waker; when a batch
/// becomes durable the flusher wakes exactly the calls whose records it covers (all of them
/// if the log failed). The calls whose records are still in the next batch sleep on, where a
/// broadcast polled each of them once per batch for nothing. (Measured, BENCHMARKS.md: the
/// hook's share of the server's CPU fell from 2.8 % to 2.0 %; throughput and context
/// switches per request did not move.)
pub(crate) struct DurableWaiter {
    file: Arc<FileSink>,
    waiting: Arc<Waiting>,
}

/// The calls waiting for their records: `(sequence number, waker)`, in no order (a few per
/// connection in flight; each batch scans them once).
#[derive(Default)]
struct Waiting {
    list: Mutex<Vec<(u64, Waker)>>,
}

impl Waiting {
    /// Wakes the calls whose records are below `mark` (every call if the log failed: `None`).
    fn wake(&self, mark: Option<u64>) {
        let woken: Vec<Waker> = {
            let mut list = self.list.lock();
            match mark {
                None => list.drain(..).map(|(_, w)| w).collect(),
                Some(mark) => {
                    let mut woken = Vec::new();
                    list.retain(|(seq, w)| {
                        if *seq < mark {
                            woken.push(w.clone());
                            false
                        } else {
                            true
                        }
                    });
                    woken
                }
            }
        };
        // Outside the lock: a wake may run the woken task's scheduler hooks.
        for w in woken {
            w.wake();
        }
    }
}

impl DurableWaiter {
    pub(crate) fn new(file: Arc<FileSink>) -> Self {
        let waiting = Arc::new(Waiting::default());
        let w = waiting.clone();
        // The sink passes its new mark (`None`: it failed); the hook may run under the sink's
        // lock, so it does not call back into the sink.
        file.on_durable(Arc::new(move |mark| w.wake(mark)));
        Self { file, waiting }
    }

    /// Returns once record `seq` is durable; an error if the log has failed.
    pub(crate) async fn wait(&self, seq: u64) -> Result<(), AuditError> {
        std::future::poll_fn(|cx| {
            if self.file.durable_through()? > seq {
                return Poll::Ready(Ok(()));
            }
            // Each pending poll leaves its waker (a spurious poll leaves a second one, woken
            // with the first: harmless, and it cannot be told from a real wake here).
            self.waiting.list.lock().push((seq, cx.waker().clone()));
            // Checked again after registering: a batch that became durable between the first
            // check and the registration has already run its wake-ups.
            if self.file.durable_through()? > seq {
                return Poll::Ready(Ok(()));
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer::audit_log::FileSinkOptions;
    use coffer::{Caller, Kms};

    /// Only served operations that change nothing may answer before their record is durable.
    #[test]
    fn deferred_operations_are_served_and_read_only() {
        for op in DEFERRED_OPERATIONS {
            assert!(op.served() && op.is_read_only(), "{op:?}");
        }
    }

    struct TmpDir(std::path::PathBuf);

    impl TmpDir {
        fn new(name: &str) -> Self {
            let mut b = [0u8; 8];
            coffer::RandomSource::fill(&coffer::SystemRandom::new(), &mut b).unwrap();
            let p = std::env::temp_dir()
                .join(format!("cofferd-deferred-{name}-{}", crate::sigv4::hex(&b)));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }

    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn service(dir: &std::path::Path, opts: FileSinkOptions) -> (Kms, Arc<FileSink>) {
        let key = coffer_crypto::SigningKey::from_seed(&[9; 32]).unwrap();
        let file = Arc::new(FileSink::open(dir, key, opts).unwrap());
        let kms = Kms::builder()
            .audit_sink(Arc::new(DeferringSink::new(file.clone())))
            .build()
            .unwrap();
        (kms, file)
    }

    fn root() -> Caller {
        Caller::new("arn:aws:iam::111122223333:root").unwrap()
    }

    /// A read-only call (GenerateRandom) run with deferral: its result and deferred record.
    fn deferred_read(
        kms: &Kms,
        caller: &Caller,
    ) -> (Result<Vec<u8>, crate::ApiError>, Option<u64>) {
        run_deferred(|| {
            crate::protocol::dispatch(kms, caller, "GenerateRandom", br#"{"NumberOfBytes":16}"#)
        })
    }

    #[tokio::test]
    async fn reads_are_appended_and_awaited_changes_are_recorded_before_they_return() {
        let tmp = TmpDir::new("ok");
        let (kms, file) = service(&tmp.0, FileSinkOptions::default());
        let waiter = DurableWaiter::new(file.clone());
        let caller = root();

        // A change inside run_deferred is still recorded synchronously: nothing pending.
        let (created, pending) =
            run_deferred(|| crate::protocol::dispatch(&kms, &caller, "CreateKey", b"{}"));
        created.unwrap();
        assert_eq!(pending, None);
        assert_eq!(file.unsynced_records(), 0);

        for _ in 0..20 {
            let (out, pending) = deferred_read(&kms, &caller);
            out.unwrap();
            let seq = pending.expect("a read-only call's record is deferred");
            waiter.wait(seq).await.unwrap();
            assert!(file.durable_through().unwrap() > seq);
        }
        // Outside run_deferred, the same call records synchronously.
        crate::protocol::dispatch(&kms, &caller, "GenerateRandom", br#"{"NumberOfBytes":16}"#)
            .unwrap();
        assert_eq!(file.unsynced_records(), 0);
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn wakes(c: &Count) -> usize {
        c.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A durable batch wakes the calls it covers and no other; a failed log wakes them all.
    #[test]
    fn a_batch_wakes_only_the_calls_whose_records_it_made_durable() {
        let waiting = Waiting::default();
        let (early, w) = counting();
        waiting.list.lock().push((4, w));
        let (late, w) = counting();
        waiting.list.lock().push((9, w));
        let (later, w) = counting();
        waiting.list.lock().push((12, w));

        // Records 0..5 are durable: only record 4's call wakes.
        waiting.wake(Some(5));
        assert_eq!((wakes(&early), wakes(&late), wakes(&later)), (1, 0, 0));
        assert_eq!(waiting.list.lock().len(), 2);
        // Nothing new is durable: nobody wakes.
        waiting.wake(Some(5));
        assert_eq!((wakes(&early), wakes(&late), wakes(&later)), (1, 0, 0));
        // 0..10: record 9's call.
        waiting.wake(Some(10));
        assert_eq!((wakes(&early), wakes(&late), wakes(&later)), (1, 1, 0));
        // The log fails: every remaining call wakes, to read the failure.
        waiting.wake(None);
        assert_eq!((wakes(&early), wakes(&late), wakes(&later)), (1, 1, 1));
        assert!(waiting.list.lock().is_empty());
    }

    /// Many calls awaiting their records at once, each answered once its own record is durable
    /// (the waiter list drains: no call is left behind, none waits forever).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_all_finish_and_leave_no_waker_behind() {
        let tmp = TmpDir::new("many");
        let (kms, file) = service(&tmp.0, FileSinkOptions::default());
        let kms = Arc::new(kms);
        let waiter = Arc::new(DurableWaiter::new(file.clone()));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (kms, waiter, file) = (kms.clone(), waiter.clone(), file.clone());
            tasks.push(tokio::spawn(async move {
                let caller = root();
                for _ in 0..25 {
                    let (out, pending) = deferred_read(&kms, &caller);
                    out.unwrap();
                    let seq = pending.unwrap();
                    waiter.wait(seq).await.unwrap();
                    assert!(file.durable_through().unwrap() > seq);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Each waker left is one whose call returned before the batch that covers it ran
        // its wake-ups (the re-check after registering): the next batch drains them all.
        let mark = file.durable_through().unwrap();
        waiter.waiting.wake(Some(mark));
        assert!(waiter.waiting.list.lock().is_empty());
    }

    #[tokio::test]
    async fn a_log_that_fails_fails_the_awaiting_call() {
        let tmp = TmpDir::new("fail");
        let (kms, file) = service(&tmp.0, FileSinkOptions::default().max_file_bytes(4096));
        let waiter = DurableWaiter::new(file.clone());
        // The next log file cannot be created: the first rollover fails the log.
        std::fs::create_dir(tmp.0.join("audit-0000000002.jsonl")).unwrap();
        let caller = root();
        let mut failed_at = None;
        for i in 0..200 {
            let (out, pending) = deferred_read(&kms, &caller);
            let ok = match (out, pending) {
                (Ok(_), Some(seq)) => waiter.wait(seq).await.is_ok(),
                (Ok(_), None) => panic!("a successful read was not deferred"),
                (Err(e), _) => {
                    assert_eq!(e.code(), "KMSInternalException");
                    false
                }
            };
            match (ok, failed_at) {
                (false, None) => failed_at = Some(i),
                (true, Some(at)) => panic!("call {i} succeeded after the log failed at {at}"),
                _ => {}
            }
        }
        assert!(failed_at.is_some_and(|at| at > 0), "{failed_at:?}");
    }
}
