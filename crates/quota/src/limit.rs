//! The token-bucket arithmetic, in whole nanoseconds.
//!
//! A bucket is kept as its *theoretical arrival time* (`tat`, the generic cell rate algorithm):
//! one token is worth `interval` nanoseconds (`interval = ceil(1e9 / rate)`), a full bucket of
//! `burst` tokens is `burst * interval`, and the tokens missing from the bucket at time `now` are
//! `(tat - now) / interval`. Taking a token adds `interval` to `tat`; the bucket is full again
//! once `tat <= now`. This is the token bucket of the quota, with exact integer arithmetic and
//! one `u64` of state.

use std::time::Duration;

const NANOS_PER_SEC: f64 = 1_000_000_000.0;

/// The smallest configurable rate: one request in about eleven and a half days.
pub const MIN_RATE: f64 = 0.000_001;
/// The largest configurable rate: one request per nanosecond.
pub const MAX_RATE: f64 = 1_000_000_000.0;
/// The largest configurable burst.
pub const MAX_BURST: u64 = 1_000_000_000;
/// A full bucket (`burst * interval`) must fit in this many nanoseconds (about 73 years).
const MAX_WINDOW_NS: u64 = 1 << 61;

/// The effective limit of one bucket: a refill interval per token and a burst size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    interval_ns: u64,
    burst: u64,
    /// `(burst - 1) * interval_ns`: how far `tat` may run ahead of now before a call is refused.
    tolerance_ns: u64,
}

impl Limit {
    /// One request per second, no burst.
    pub const ONE_PER_SECOND: Limit = Limit {
        interval_ns: 1_000_000_000,
        burst: 1,
        tolerance_ns: 0,
    };

    /// A limit of `rate` requests per second with bursts of up to `burst` requests.
    ///
    /// The interval between tokens is `1e9 / rate` nanoseconds rounded *up*, so the limit
    /// never grants more than `rate` per second. `None` if `rate` is not in
    /// [`MIN_RATE`]..=[`MAX_RATE`], `burst` is not in 1..=[`MAX_BURST`], or a full bucket
    /// would span more than 2^61 ns.
    pub fn new(rate: f64, burst: u64) -> Option<Limit> {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) || !(1..=MAX_BURST).contains(&burst) {
            return None;
        }
        let interval = (NANOS_PER_SEC / rate).ceil();
        // In range by the checks above: 1 <= interval <= 1e15.
        if !(1.0..=1e15).contains(&interval) {
            return None;
        }
        let interval_ns = interval as u64;
        let window = interval_ns.checked_mul(burst)?;
        if window > MAX_WINDOW_NS {
            return None;
        }
        Some(Limit {
            interval_ns,
            burst,
            tolerance_ns: window - interval_ns,
        })
    }

    /// The default burst for a rate: one second of it, and at least one request.
    pub fn default_burst(rate: f64) -> u64 {
        if rate.is_finite() && rate >= 1.0 {
            // Saturating float-to-int conversion; MAX_BURST caps it.
            (rate.floor() as u64).min(MAX_BURST)
        } else {
            1
        }
    }

    /// The time one token takes to refill.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }

    /// The largest number of requests granted back to back from a full bucket.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// The effective rate per second (`1e9 / interval`).
    pub fn rate(&self) -> f64 {
        NANOS_PER_SEC / self.interval_ns as f64
    }

    #[cfg(test)]
    pub(crate) fn interval_ns(&self) -> u64 {
        self.interval_ns
    }
}

/// One account's bucket for one class.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    /// Theoretical arrival time, in ns since the Unix epoch.
    tat: u64,
    interval_ns: u64,
    tolerance_ns: u64,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn full(limit: &Limit, now: u64) -> Bucket {
        Bucket {
            tat: now,
            interval_ns: limit.interval_ns,
            tolerance_ns: limit.tolerance_ns,
        }
    }

    /// Takes one token at `now`, or says how many nanoseconds until one is there.
    #[inline]
    pub(crate) fn take(&mut self, now: u64) -> Result<(), u64> {
        let tat = self.tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance_ns {
            return Err(ahead - self.tolerance_ns);
        }
        self.tat = tat.saturating_add(self.interval_ns);
        Ok(())
    }

    /// A full bucket carries no information: dropping it changes no later decision.
    #[inline]
    pub(crate) fn is_full(&self, now: u64) -> bool {
        self.tat <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_up() {
        assert_eq!(Limit::new(10_000.0, 1).unwrap().interval_ns(), 100_000);
        assert_eq!(Limit::new(3.0, 1).unwrap().interval_ns(), 333_333_334);
        assert_eq!(Limit::new(0.25, 1).unwrap().interval_ns(), 4_000_000_000);
        assert_eq!(Limit::new(0.1, 1).unwrap().interval_ns(), 10_000_000_000);
        assert_eq!(Limit::new(MAX_RATE, 1).unwrap().interval_ns(), 1);
    }

    #[test]
    fn rejects_bad_limits() {
        for rate in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            MIN_RATE / 2.0,
            MAX_RATE * 2.0,
        ] {
            assert_eq!(Limit::new(rate, 1), None, "{rate}");
        }
        assert_eq!(Limit::new(1.0, 0), None);
        assert_eq!(Limit::new(1.0, MAX_BURST + 1), None);
        // A window longer than 2^61 ns.
        assert_eq!(Limit::new(MIN_RATE, MAX_BURST), None);
    }

    #[test]
    fn default_burst_is_one_second_at_least_one() {
        assert_eq!(Limit::default_burst(10_000.0), 10_000);
        assert_eq!(Limit::default_burst(2.5), 2);
        assert_eq!(Limit::default_burst(0.1), 1);
        assert_eq!(Limit::default_burst(f64::NAN), 1);
    }

    #[test]
    fn gcra_grants_burst_then_one_per_interval() {
        let limit = Limit::new(10.0, 3).unwrap();
        let t0 = 1_000_000_000_000;
        let mut b = Bucket::full(&limit, t0);
        assert_eq!(b.take(t0), Ok(()));
        assert_eq!(b.take(t0), Ok(()));
        assert_eq!(b.take(t0), Ok(()));
        assert_eq!(b.take(t0), Err(100_000_000));
        assert_eq!(b.take(t0 + 40_000_000), Err(60_000_000));
        assert_eq!(b.take(t0 + 100_000_000), Ok(()));
        assert_eq!(b.take(t0 + 100_000_000), Err(100_000_000));
        assert!(!b.is_full(t0 + 399_999_999));
        assert!(b.is_full(t0 + 400_000_000));
        // A clock that steps back never grants more.
        assert_eq!(b.take(t0), Err(200_000_000));
    }
}
