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
use tokio::sync::Notify;

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
pub(crate) struct DurableWaiter {
    file: Arc<FileSink>,
    notify: Arc<Notify>,
}

impl DurableWaiter {
    pub(crate) fn new(file: Arc<FileSink>) -> Self {
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        file.on_durable(Arc::new(move || n.notify_waiters()));
        Self { file, notify }
    }

    /// Returns once record `seq` is durable; an error if the log has failed.
    pub(crate) async fn wait(&self, seq: u64) -> Result<(), AuditError> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a signal between check and await is not lost.
            notified.as_mut().enable();
            if self.file.durable_through()? > seq {
                return Ok(());
            }
            notified.await;
        }
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
