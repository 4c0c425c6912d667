//! The pre-authentication limiter: token buckets keyed by source IP and by access key id, so a
//! flood of unauthenticated requests is refused before any signature is computed.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use parking_lot::Mutex;

/// A token-bucket rate: `rate` requests per second on average, bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second (may be fractional; must be positive).
    pub rate: f64,
    /// Bucket size (at least 1).
    pub burst: f64,
}

impl RateLimit {
    /// A rate, if it is usable (finite, `rate > 0`, `burst >= 1`).
    pub fn new(rate: f64, burst: f64) -> Option<Self> {
        (rate.is_finite() && burst.is_finite() && rate > 0.0 && burst >= 1.0)
            .then_some(Self { rate, burst })
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, limit: RateLimit, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * limit.rate).min(limit.burst);
        self.last = now;
    }
}

const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Token buckets per key, with bounded memory: when `max_keys` buckets exist, full ones (which
/// behave as absent ones) are dropped (at most once a second); if none is, new keys share one overflow bucket.
#[derive(Debug)]
pub(crate) struct Limiter<K> {
    limit: RateLimit,
    max_keys: usize,
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    buckets: HashMap<K, Bucket>,
    overflow: Option<Bucket>,
    last_sweep: Option<Instant>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub(crate) fn new(limit: RateLimit, max_keys: usize) -> Self {
        Self {
            limit,
            max_keys: max_keys.max(1),
            state: Mutex::new(State {
                buckets: HashMap::new(),
                overflow: None,
                last_sweep: None,
            }),
        }
    }

    /// Takes one token for `key`; `false` when its bucket is empty.
    pub(crate) fn check(&self, key: &K, now: Instant) -> bool {
        let limit = self.limit;
        let fresh = Bucket {
            tokens: limit.burst,
            last: now,
        };
        let mut st = self.state.lock();
        let st = &mut *st;
        // A full map is swept at most once a second, so a flood of new keys costs a sweep per
        // second, not per request.
        let sweep_due = st
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY);
        if sweep_due && !st.buckets.contains_key(key) && st.buckets.len() >= self.max_keys {
            st.last_sweep = Some(now);
            st.buckets.retain(|_, b| {
                b.refill(limit, now);
                b.tokens < limit.burst
            });
        }
        let bucket = if st.buckets.contains_key(key) || st.buckets.len() < self.max_keys {
            st.buckets.entry(key.clone()).or_insert(fresh)
        } else {
            st.overflow.get_or_insert(fresh)
        };
        bucket.refill(limit, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let l = Limiter::new(RateLimit::new(2.0, 3.0).unwrap(), 10);
        let t0 = Instant::now();
        assert!((0..3).all(|_| l.check(&"a", t0)));
        assert!(!l.check(&"a", t0));
        // Other keys are independent.
        assert!(l.check(&"b", t0));
        // Half a second at 2/s is one token.
        let t1 = t0 + Duration::from_millis(500);
        assert!(l.check(&"a", t1));
        assert!(!l.check(&"a", t1));
    }

    #[test]
    fn memory_is_bounded() {
        let l = Limiter::new(RateLimit::new(1.0, 1.0).unwrap(), 4);
        let t0 = Instant::now();
        for k in 0..100u32 {
            l.check(&k, t0);
        }
        assert!(l.len() <= 4);
        // Keys beyond the bound share the overflow bucket, which is now empty.
        assert!(!l.check(&1000, t0));
        // Once buckets refill they are dropped and new keys get their own again.
        let t1 = t0 + Duration::from_secs(5);
        assert!(l.check(&2000, t1));
        assert!(l.len() <= 4);
    }

    #[test]
    fn rejects_unusable_rates() {
        assert!(RateLimit::new(0.0, 1.0).is_none());
        assert!(RateLimit::new(1.0, 0.5).is_none());
        assert!(RateLimit::new(f64::NAN, 1.0).is_none());
        assert!(RateLimit::new(0.001, 5.0).is_some());
    }
}
