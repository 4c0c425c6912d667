use std::time::{Duration, SystemTime};

/// The time source. Injected, so that deletion windows, rotation schedules, quotas and signature
/// skew can be tested without waiting.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// The current wall-clock time to within the kernel's tick (1–4 ms), for readings that
    /// need no finer: a call's audit `eventTime` (whole seconds), its quota charge, the
    /// policies' `aws:CurrentTime` (whole seconds) and its keys' last use. It may lag
    /// [`now`](Self::now) by up to a tick, never lead it. By default the same as `now`.
    fn now_coarse(&self) -> SystemTime {
        self.now()
    }

    /// [`now_coarse`](Self::now_coarse) as the time since the Unix epoch (zero before it):
    /// what a call's quota charge and last use count in, read without converting a
    /// `SystemTime` back (each conversion is ~30 instructions of a call's few thousand).
    fn since_epoch_coarse(&self) -> Duration {
        self.now_coarse()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// Linux's `CLOCK_REALTIME_COARSE`: the time of the last tick, read from the vDSO without
    /// the TSC read a precise reading makes (4.9 against 22.4 ns on the benchmark VM, so about
    /// 1 % of an Encrypt of 1 KiB). Elsewhere the precise clock.
    fn now_coarse(&self) -> SystemTime {
        coarse_since_epoch()
            .and_then(|d| SystemTime::UNIX_EPOCH.checked_add(d))
            .unwrap_or_else(SystemTime::now)
    }

    fn since_epoch_coarse(&self) -> Duration {
        coarse_since_epoch().unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
        })
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn coarse_since_epoch() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u32::try_from(t.tv_nsec).ok()?;
    // A kernel's tv_nsec is below 10^9; Duration::new would carry it into seconds anyway.
    (nanos < 1_000_000_000).then(|| Duration::new(secs, nanos))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn coarse_since_epoch() -> Option<Duration> {
    None
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }

    fn now_coarse(&self) -> SystemTime {
        (**self).now_coarse()
    }

    fn since_epoch_coarse(&self) -> Duration {
        (**self).since_epoch_coarse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_is_the_wall_clock_to_within_a_tick() {
        for _ in 0..1000 {
            let before = SystemTime::now();
            let coarse = SystemClock.now_coarse();
            let after = SystemTime::now();
            // Never ahead of a precise reading taken after it, and behind one taken before it
            // by at most a tick (a generous bound: 1 s, well above any kernel's tick).
            assert!(coarse <= after, "{coarse:?} after {after:?}");
            assert!(
                before.duration_since(coarse).unwrap_or(Duration::ZERO) < Duration::from_secs(1),
                "{coarse:?} long before {before:?}"
            );
        }
    }

    #[test]
    fn a_shared_clock_reads_as_the_clock_it_shares() {
        struct Fixed;
        impl Clock for Fixed {
            fn now(&self) -> SystemTime {
                SystemTime::UNIX_EPOCH + Duration::from_secs(7)
            }
        }
        let shared: std::sync::Arc<dyn Clock> = std::sync::Arc::new(Fixed);
        assert_eq!(
            shared.now(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(7)
        );
        assert_eq!(shared.now_coarse(), shared.now());
        assert_eq!(shared.since_epoch_coarse(), Duration::from_secs(7));
    }

    #[test]
    fn the_coarse_time_since_the_epoch_is_the_coarse_clock_s() {
        for _ in 0..1000 {
            let a = SystemClock.now_coarse();
            let d = SystemClock.since_epoch_coarse();
            let b = SystemClock.now_coarse();
            let at = SystemTime::UNIX_EPOCH + d;
            assert!(a <= at && at <= b, "{a:?} {at:?} {b:?}");
        }
        // A clock before the epoch counts zero.
        struct Before;
        impl Clock for Before {
            fn now(&self) -> SystemTime {
                SystemTime::UNIX_EPOCH - Duration::from_secs(1)
            }
        }
        assert_eq!(Before.since_epoch_coarse(), Duration::ZERO);
    }
}
