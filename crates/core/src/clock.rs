use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time source. Injected, so that deletion windows, rotation schedules, quotas and signature
/// skew can be tested without waiting.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// Seconds since the Unix epoch, with fractions, as the AWS JSON protocol encodes timestamps.
/// Times before the epoch are reported as 0.
pub fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}
