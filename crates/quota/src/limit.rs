//! The token-bucket arithmetic, in whole nanoseconds.
//!
//! A bucket is kept as its *theoretical arrival time* (`tat`, the generic cell rate algorithm):
//! one token is worth `interval` nanoseconds (`interval = ceil(1e9 / rate)`), a full bucket of
//! `burst` tokens is `burst * interval`, and the tokens missing from the bucket at time `now` are
//! `(tat - now) / interval`. Taking a token adds `interval` to `tat`; the bucket is full again
//! once `tat <= now`. This is the token bucket of the quota, with exact integer arithmetic and
//! one `u64` of state, and the one token bucket of coffer: cofferd's pre-authentication limiter
//! counts its failure budgets with it too.

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

    /// The nearest usable limit to `rate` requests per second with bursts of `burst`, for rates
    /// that were checked elsewhere: the rate is clamped to [`MIN_RATE`]..=[`MAX_RATE`] (`NaN`
    /// counts as the smallest), the burst rounded down and clamped to 1..=[`MAX_BURST`] and to
    /// what a 2^61 ns bucket holds at that rate.
    pub fn saturating(rate: f64, burst: f64) -> Limit {
        let rate = if rate.is_nan() {
            MIN_RATE
        } else {
            rate.clamp(MIN_RATE, MAX_RATE)
        };
        // In 1..=1e15 for a rate in range; saturating float-to-int conversion.
        let interval_ns = ((NANOS_PER_SEC / rate).ceil() as u64).max(1);
        let most = (MAX_WINDOW_NS / interval_ns).clamp(1, MAX_BURST);
        // Saturating float-to-int conversion (NaN gives 0, raised to 1).
        let burst = (burst.floor() as u64).clamp(1, most);
        Limit {
            interval_ns,
            burst,
            tolerance_ns: (burst - 1) * interval_ns,
        }
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

/// One token bucket (one account's for one class; one failure budget of cofferd's limiter),
/// read at times in nanoseconds from any fixed origin.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    /// Theoretical arrival time, in ns since the Unix epoch.
    tat: u64,
    interval_ns: u64,
    tolerance_ns: u64,
}

impl Bucket {
    /// A full bucket.
    pub fn full(limit: &Limit, now: u64) -> Bucket {
        Bucket {
            tat: now,
            interval_ns: limit.interval_ns,
            tolerance_ns: limit.tolerance_ns,
        }
    }

    /// Takes one token at `now`, or says how many nanoseconds until one is there.
    #[inline]
    pub fn take(&mut self, now: u64) -> Result<(), u64> {
        let tat = self.tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance_ns {
            return Err(ahead - self.tolerance_ns);
        }
        self.tat = tat.saturating_add(self.interval_ns);
        Ok(())
    }

    /// Whether a token is there at `now`: whether [`take`](Self::take) would succeed. Takes
    /// nothing.
    #[inline]
    pub fn has_token(&self, now: u64) -> bool {
        self.tat.saturating_sub(now) <= self.tolerance_ns
    }

    /// Takes a token at `now` whether or not one is there: an empty bucket stays empty (it
    /// never owes tokens), and a fraction of a token left is spent.
    #[inline]
    pub fn charge(&mut self, now: u64) {
        let window = self.tolerance_ns.saturating_add(self.interval_ns);
        self.tat = self
            .tat
            .max(now)
            .saturating_add(self.interval_ns)
            .min(now.saturating_add(window));
    }

    /// A full bucket carries no information: dropping it changes no later decision.
    #[inline]
    pub fn is_full(&self, now: u64) -> bool {
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

    #[test]
    fn charge_spends_what_is_there_and_never_owes() {
        let limit = Limit::new(2.0, 3).unwrap();
        let t0 = 1_000_000_000_000;
        let mut b = Bucket::full(&limit, t0);
        for _ in 0..3 {
            assert!(b.has_token(t0));
            b.charge(t0);
        }
        assert!(!b.has_token(t0));
        // Charging an empty bucket does not push its refill further away.
        b.charge(t0);
        b.charge(t0);
        assert!(b.has_token(t0 + 500_000_000));
        // Half a token left is spent by a charge: the next token is a whole interval away.
        let t1 = t0 + 250_000_000;
        b.charge(t1);
        assert!(!b.has_token(t1 + 499_999_999));
        assert!(b.has_token(t1 + 500_000_000));
    }

    #[test]
    fn saturating_limits() {
        assert_eq!(Limit::saturating(10.0, 3.0), Limit::new(10.0, 3).unwrap());
        assert_eq!(Limit::saturating(10.0, 3.9), Limit::new(10.0, 3).unwrap());
        assert_eq!(Limit::saturating(0.001, 5.0), Limit::new(0.001, 5).unwrap());
        assert_eq!(
            Limit::saturating(1e-12, 1.0),
            Limit::new(MIN_RATE, 1).unwrap()
        );
        assert_eq!(
            Limit::saturating(f64::NAN, 0.0),
            Limit::new(MIN_RATE, 1).unwrap()
        );
        assert_eq!(
            Limit::saturating(1e12, 1e12),
            Limit::new(MAX_RATE, MAX_BURST).unwrap()
        );
        let slowest = Limit::new(MIN_RATE, 1).unwrap().interval_ns();
        let wide = Limit::saturating(MIN_RATE, 1e9);
        assert_eq!(wide.interval_ns(), slowest);
        assert_eq!(wide.burst(), MAX_WINDOW_NS / slowest);
        assert_eq!(Some(wide), Limit::new(MIN_RATE, wide.burst()));
    }

    proptest::proptest! {
        /// `has_token` says what `take` would do, and `charge` does what `take` does when a
        /// token is there.
        #[test]
        fn has_token_predicts_take(
            rate in 0.01f64..1000.0,
            burst in 1u64..20,
            steps in proptest::collection::vec((0u64..2_000_000_000, proptest::bool::ANY), 1..50),
        ) {
            let limit = Limit::new(rate, burst).unwrap();
            let mut now = 1_000_000_000_000u64;
            let (mut a, mut b) = (Bucket::full(&limit, now), Bucket::full(&limit, now));
            for (dt, take) in steps {
                now += dt;
                let there = a.has_token(now);
                if take {
                    proptest::prop_assert_eq!(a.take(now).is_ok(), there);
                    if there {
                        b.charge(now);
                    }
                } else {
                    a.charge(now);
                    b.charge(now);
                }
                proptest::prop_assert_eq!(a.tat, b.tat);
            }
        }
    }
}
