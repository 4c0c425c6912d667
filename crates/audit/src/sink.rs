//! The sink trait and the in-memory sinks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::{AuditError, AuditEvent};

/// Where audit events go. Shared by the facade across threads.
///
/// Fail-closed contract: when [`AuditSink::record`] returns `Err`, the event was not recorded and
/// the caller (the facade) must fail the call (`KMSInternalException`). A sink configured to fail
/// open returns `Ok` instead and counts the event in [`AuditSink::lost_events`].
pub trait AuditSink: Send + Sync {
    /// Records `event`. Returns once the event is as durable as the sink promises (for
    /// [`crate::FileSink`] with the default [`crate::Durability::Sync`]: fsynced).
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError>;

    /// Makes everything recorded so far durable (fsync); a no-op for sinks that keep nothing.
    fn flush(&self) -> Result<(), AuditError> {
        Ok(())
    }

    /// Events dropped because the sink failed while configured to fail open.
    fn lost_events(&self) -> u64 {
        0
    }
}

impl<T: AuditSink + ?Sized> AuditSink for std::sync::Arc<T> {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        (**self).record(event)
    }
    fn flush(&self) -> Result<(), AuditError> {
        (**self).flush()
    }
    fn lost_events(&self) -> u64 {
        (**self).lost_events()
    }
}

/// What a sink does when it cannot record an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// `record` returns `Err`, and the facade fails the call. The default.
    #[default]
    FailClosed,
    /// `record` returns `Ok`, the event is lost and counted in `lost_events()`: availability over
    /// completeness, an explicit choice.
    FailOpen,
}

/// A sink that discards every event (benchmarks, and tests that do not look at the log).
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl AuditSink for NullSink {
    fn record(&self, _event: &AuditEvent) -> Result<(), AuditError> {
        Ok(())
    }
}

/// A sink that keeps events in memory, for tests; it can be told to fail, to test fail-closed
/// and fail-open behaviour above it.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
    failing: AtomicBool,
    mode: FailureMode,
    lost: AtomicU64,
}

impl MemorySink {
    /// An empty, fail-closed sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty sink with the given failure mode.
    pub fn with_failure_mode(mode: FailureMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// Makes every following `record` fail (or, failing open, lose the event) until set back.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// A copy of the events recorded so far, in order.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().clone()
    }

    /// The last event recorded.
    pub fn last(&self) -> Option<AuditEvent> {
        self.events.lock().last().cloned()
    }

    /// How many events were recorded.
    pub fn len(&self) -> usize {
        self.events.lock().len()
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.lock().is_empty()
    }

    /// Forgets the events recorded so far.
    pub fn clear(&self) {
        self.events.lock().clear();
    }
}

impl AuditSink for MemorySink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        if self.failing.load(Ordering::SeqCst) {
            return match self.mode {
                FailureMode::FailClosed => Err(AuditError::Failed {
                    kind: std::io::ErrorKind::Other,
                }),
                FailureMode::FailOpen => {
                    self.lost.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
            };
        }
        self.events.lock().push(event.clone());
        Ok(())
    }

    fn lost_events(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserIdentity;
    use coffer_core::Region;
    use coffer_crypto::testing::DeterministicRandom;
    use std::time::UNIX_EPOCH;

    fn event() -> AuditEvent {
        AuditEvent::new(
            &DeterministicRandom::new(b"s"),
            "Encrypt",
            UNIX_EPOCH,
            &Region::parse("us-east-1").unwrap(),
            UserIdentity::unknown(None),
        )
        .unwrap()
    }

    #[test]
    fn memory_sink_collects_and_fails_on_demand() {
        let s = MemorySink::new();
        s.record(&event()).unwrap();
        assert_eq!(s.len(), 1);
        s.set_failing(true);
        assert!(matches!(s.record(&event()), Err(AuditError::Failed { .. })));
        assert_eq!(s.len(), 1);
        s.set_failing(false);
        s.record(&event()).unwrap();
        assert_eq!(s.events().len(), 2);
        assert_eq!(s.lost_events(), 0);
    }

    #[test]
    fn memory_sink_fail_open_counts_losses() {
        let s = MemorySink::with_failure_mode(FailureMode::FailOpen);
        s.set_failing(true);
        s.record(&event()).unwrap();
        s.record(&event()).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.lost_events(), 2);
        let shared: std::sync::Arc<dyn AuditSink> = std::sync::Arc::new(s);
        assert_eq!(shared.lost_events(), 2);
        assert!(NullSink.record(&event()).is_ok());
    }
}
