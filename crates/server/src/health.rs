//! `/healthz`: `200 ok` while the audit log and the store can be written, `503` with the
//! reasons while either cannot.
//!
//! The audit log says itself when it has failed ([`FileSink::durable_through`] errs from a
//! failed write or fsync until the sink's own retries have written its queue and a `recover`
//! digest again; no restart is needed, and `/healthz` is back to 200 then). The store keeps no such state, so it is probed: a one-row write
//! transaction, at most once per [`STORE_PROBE_INTERVAL`] however often `/healthz` is asked
//! (it is unauthenticated), the last result answering in between.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer::audit_log::FileSink;
use coffer::SqliteStore;

/// The longest a store probe's result is reused.
pub(crate) const STORE_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The name of the store's row that the probe rewrites (the time of the last probe).
const PROBE_ROW: &str = "health_probe";

/// Why a part cannot be written: its error, for [`crate::error_chain`].
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A check of one part: `Err` with the cause while it cannot be written.
pub(crate) type Probe = Box<dyn Fn() -> Result<(), Cause> + Send + Sync>;

/// The health of the parts a call needs to write.
pub(crate) struct Health {
    audit: Probe,
    store: Arc<Probe>,
    /// The last store probe: when, and its reason if it failed.
    last_store: tokio::sync::Mutex<Option<(Instant, Option<String>)>>,
}

impl Health {
    /// The health of `audit` and `store`.
    pub(crate) fn new(audit: Arc<FileSink>, store: Arc<SqliteStore>) -> Self {
        Self::with_probes(
            Box::new(move || audit.durable_through().map(drop).map_err(Cause::from)),
            Box::new(move || {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                store
                    .set_meta(&[(PROBE_ROW, &now.to_be_bytes())])
                    .map_err(Cause::from)
            }),
        )
    }

    /// The health of `audit` and of a store probed by `store` (a shared database).
    pub(crate) fn with_store_probe(audit: Arc<FileSink>, store: Probe) -> Self {
        Self::with_probes(
            Box::new(move || audit.durable_through().map(drop).map_err(Cause::from)),
            store,
        )
    }

    /// Health from two probes (tests inject failing ones).
    pub(crate) fn with_probes(audit: Probe, store: Probe) -> Self {
        Self {
            audit,
            store: Arc::new(store),
            last_store: tokio::sync::Mutex::new(None),
        }
    }

    /// The answer to `/healthz`: the status and the text body.
    pub(crate) async fn check(&self) -> (u16, String) {
        let audit = (self.audit)().err().map(|e| {
            tracing::warn!(
                cause = crate::error_chain(&*e),
                "healthz: the audit log cannot be written"
            );
            root_cause(&*e)
        });
        let store = self.store_problem().await;
        answer(audit.as_deref(), store.as_deref())
    }

    /// The store's problem, from a fresh probe or one at most [`STORE_PROBE_INTERVAL`] old.
    /// One probe runs at a time; those who asked meanwhile take its result.
    async fn store_problem(&self) -> Option<String> {
        let mut last = self.last_store.lock().await;
        if let Some((at, problem)) = &*last {
            if at.elapsed() < STORE_PROBE_INTERVAL {
                return problem.clone();
            }
        }
        let probe = self.store.clone();
        // The probe writes (and may fsync): off the reactor.
        let problem = match tokio::task::spawn_blocking(move || probe()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                tracing::warn!(
                    cause = crate::error_chain(&*e),
                    "healthz: the store cannot be written"
                );
                Some(root_cause(&*e))
            }
            Err(e) => Some(format!("the probe did not finish: {e}")),
        };
        *last = Some((Instant::now(), problem.clone()));
        problem
    }
}

/// What `/healthz` tells anyone who asks (it is unauthenticated): the innermost cause, such as
/// `No space left on device (os error 28)`, without the outer contexts that name paths in the
/// data directory; the whole chain goes to the operator's log.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `200 ok` when neither part has a problem, else `503` with a line per problem:
/// `audit log: cannot write (…)`, `store: cannot write (…)`.
pub(crate) fn answer(audit: Option<&str>, store: Option<&str>) -> (u16, String) {
    let mut body = String::new();
    for (part, problem) in [("audit log", audit), ("store", store)] {
        if let Some(p) = problem {
            body.push_str(&format!("{part}: cannot write ({p})\n"));
        }
    }
    if body.is_empty() {
        (200, "ok\n".to_owned())
    } else {
        (503, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[test]
    fn answer_is_ok_or_503_with_each_reason() {
        assert_eq!(answer(None, None), (200, "ok\n".to_owned()));
        assert_eq!(
            answer(Some("disk full"), None),
            (503, "audit log: cannot write (disk full)\n".to_owned())
        );
        assert_eq!(
            answer(None, Some("read-only")),
            (503, "store: cannot write (read-only)\n".to_owned())
        );
        assert_eq!(
            answer(Some("a"), Some("b")),
            (
                503,
                "audit log: cannot write (a)\nstore: cannot write (b)\n".to_owned()
            )
        );
    }

    /// A probe that fails while `failing` is set, counting its runs.
    fn probe(
        failing: &Arc<AtomicBool>,
        runs: &Arc<AtomicUsize>,
        kind: std::io::ErrorKind,
    ) -> Probe {
        let (failing, runs) = (failing.clone(), runs.clone());
        Box::new(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            if failing.load(Ordering::SeqCst) {
                Err(Cause::from(std::io::Error::from(kind)))
            } else {
                Ok(())
            }
        })
    }

    #[test]
    fn the_body_names_the_root_cause_not_the_paths_around_it() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot append to /var/lib/coffer/audit/audit-0000000007.jsonl")]
        struct Context(#[source] std::io::Error);
        let e = Context(std::io::Error::from(std::io::ErrorKind::StorageFull));
        let shown = root_cause(&e);
        assert_eq!(
            shown,
            std::io::Error::from(std::io::ErrorKind::StorageFull).to_string()
        );
        assert!(!shown.contains("/var/lib"), "{shown}");
    }

    #[tokio::test]
    async fn failing_parts_answer_503_until_they_recover() {
        let audit_failing = Arc::new(AtomicBool::new(false));
        let store_failing = Arc::new(AtomicBool::new(false));
        let (audit_runs, store_runs) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let full = std::io::ErrorKind::StorageFull;
        let health = Health::with_probes(
            probe(&audit_failing, &audit_runs, full),
            probe(
                &store_failing,
                &store_runs,
                std::io::ErrorKind::ReadOnlyFilesystem,
            ),
        );
        assert_eq!(health.check().await, (200, "ok\n".to_owned()));

        // The audit log is asked every time.
        audit_failing.store(true, Ordering::SeqCst);
        let (status, body) = health.check().await;
        assert_eq!(status, 503);
        let full_text = std::io::Error::from(full).to_string();
        assert_eq!(body, format!("audit log: cannot write ({full_text})\n"));
        audit_failing.store(false, Ordering::SeqCst);
        assert_eq!(health.check().await.0, 200);
        assert_eq!(audit_runs.load(Ordering::SeqCst), 3);

        // The store's probe result is reused within the interval: one probe so far.
        assert_eq!(store_runs.load(Ordering::SeqCst), 1);
        // A stale result is replaced by a fresh probe.
        store_failing.store(true, Ordering::SeqCst);
        *health.last_store.lock().await = Some((
            Instant::now().checked_sub(STORE_PROBE_INTERVAL).unwrap(),
            None,
        ));
        let (status, body) = health.check().await;
        assert_eq!(status, 503);
        assert!(body.starts_with("store: cannot write ("), "{body}");
        assert_eq!(store_runs.load(Ordering::SeqCst), 2);
    }
}
