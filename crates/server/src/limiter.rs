//! The pre-authentication limiter: failure budgets, token buckets charged only by requests
//! refused before an operation (a bad or missing signature, an unknown access key, a malformed
//! request…). A source whose budget is empty is refused before its signature is computed;
//! authenticated traffic is never charged (the facade's per-account quotas bound that). The
//! buckets are the quotas' ([`coffer_quota::Bucket`]), read in nanoseconds since the limiter was
//! made.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use coffer_quota::{Bucket, Limit};
use parking_lot::Mutex;

/// A token-bucket rate: `rate` requests per second on average, bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second (may be fractional; must be positive). Counted in whole
    /// nanoseconds per token, between [`coffer_quota::MIN_RATE`] and
    /// [`coffer_quota::MAX_RATE`].
    pub rate: f64,
    /// Bucket size (at least 1; a fraction is dropped).
    pub burst: f64,
}

impl RateLimit {
    /// A rate, if it is usable (finite, `rate > 0`, `burst >= 1`).
    pub fn new(rate: f64, burst: f64) -> Option<Self> {
        (rate.is_finite() && burst.is_finite() && rate > 0.0 && burst >= 1.0)
            .then_some(Self { rate, burst })
    }
}

/// Where a request comes from, as the limiter counts it: an IPv4 address, or the /64 prefix of
/// an IPv6 address (one host usually holds a whole /64, so counting its addresses one by one
/// would give it 2^64 budgets). An IPv4-mapped IPv6 address counts as its IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Source(IpAddr);

impl Source {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
        }
    }
}

/// Longest access key id kept in a limiter key (AWS's are at most 128 characters); longer ones
/// are cut, so a key costs a bounded amount of memory.
const MAX_KEY_ID_LEN: usize = 128;

/// The limiter key of an access key id claimed from a source: the failure budget of one
/// claimed key id is the source's own, so a flood under the key id from elsewhere does not
/// touch it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SourceKey(Source, Box<str>);

impl SourceKey {
    pub(crate) fn new(source: Source, access_key_id: &str) -> Self {
        let mut end = access_key_id.len().min(MAX_KEY_ID_LEN);
        while !access_key_id.is_char_boundary(end) {
            end -= 1;
        }
        Self(source, access_key_id.get(..end).unwrap_or_default().into())
    }
}

const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Failure budgets per key, with bounded memory. A key has a bucket only once it has been
/// charged (an absent key has a full budget). When `max_keys` buckets exist, those that have
/// refilled (which behave as absent ones) are dropped, at most once a second; if none has, keys
/// without a bucket share one overflow bucket until room is made.
#[derive(Debug)]
pub(crate) struct Limiter<K> {
    limit: Limit,
    /// Time 0 of the buckets.
    origin: Instant,
    max_keys: usize,
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    buckets: HashMap<K, Bucket>,
    overflow: Option<Bucket>,
    last_sweep: Option<Instant>,
}

impl<K> State<K> {
    fn sweep(&mut self, max_keys: usize, now: Instant, now_ns: u64) {
        let due = self
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY);
        if due && self.buckets.len() >= max_keys {
            self.last_sweep = Some(now);
            self.buckets.retain(|_, b| !b.is_full(now_ns));
        }
    }
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub(crate) fn new(limit: RateLimit, max_keys: usize) -> Self {
        Self {
            limit: Limit::saturating(limit.rate, limit.burst),
            origin: Instant::now(),
            max_keys: max_keys.max(1),
            state: Mutex::new(State {
                buckets: HashMap::new(),
                overflow: None,
                last_sweep: None,
            }),
        }
    }

    /// `now` in the buckets' nanoseconds (saturating; 0 before the limiter was made).
    fn nanos(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether `key` may still fail: `false` once its budget is empty. Takes nothing.
    pub(crate) fn allows(&self, key: &K, now: Instant) -> bool {
        let now_ns = self.nanos(now);
        let mut st = self.state.lock();
        let st = &mut *st;
        if let Some(b) = st.buckets.get(key) {
            return b.has_token(now_ns);
        }
        // A full map is swept (at most once a second) before a key is sent to the overflow.
        st.sweep(self.max_keys, now, now_ns);
        if st.buckets.len() < self.max_keys {
            return true;
        }
        st.overflow.as_ref().is_none_or(|b| b.has_token(now_ns))
    }

    /// Charges one failure to `key`: an empty budget stays empty (failures that raced past
    /// [`allows`](Self::allows) do not push its refill further away).
    pub(crate) fn charge(&self, key: &K, now: Instant) {
        let now_ns = self.nanos(now);
        let fresh = Bucket::full(&self.limit, now_ns);
        let mut st = self.state.lock();
        let st = &mut *st;
        if !st.buckets.contains_key(key) {
            st.sweep(self.max_keys, now, now_ns);
        }
        let bucket = if st.buckets.contains_key(key) || st.buckets.len() < self.max_keys {
            st.buckets.entry(key.clone()).or_insert(fresh)
        } else {
            st.overflow.get_or_insert(fresh)
        };
        bucket.charge(now_ns);
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

    /// Charges `key` while it is allowed, up to `max` times; how many charges it took.
    fn drain<K: Hash + Eq + Clone>(l: &Limiter<K>, key: &K, now: Instant, max: usize) -> usize {
        let mut n = 0;
        while n < max && l.allows(key, now) {
            l.charge(key, now);
            n += 1;
        }
        n
    }

    #[test]
    fn only_failures_spend_the_budget() {
        let l = Limiter::new(RateLimit::new(2.0, 3.0).unwrap(), 10);
        let t0 = Instant::now();
        // Asking costs nothing: a key that never fails is never refused, and holds no bucket.
        assert!((0..1000).all(|_| l.allows(&"good", t0)));
        assert_eq!(l.len(), 0);
        // Three failures empty a bucket of three.
        assert_eq!(drain(&l, &"bad", t0, 100), 3);
        assert!(!l.allows(&"bad", t0));
        // Other keys are independent.
        assert!(l.allows(&"good", t0));
        // Half a second at 2/s is one token.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(drain(&l, &"bad", t1, 100), 1);
        // Charging an empty bucket (requests that raced past the check) does not go negative.
        l.charge(&"bad", t1);
        l.charge(&"bad", t1);
        assert!(l.allows(&"bad", t1 + Duration::from_millis(500)));
    }

    #[test]
    fn memory_is_bounded() {
        let l = Limiter::new(RateLimit::new(1.0, 1.0).unwrap(), 4);
        let t0 = Instant::now();
        for k in 0..100u32 {
            l.charge(&k, t0);
        }
        assert!(l.len() <= 4);
        // Keys beyond the bound share the overflow bucket, which is now empty.
        assert!(!l.allows(&1000, t0));
        // Tracked keys keep their own.
        assert!(!l.allows(&0, t0));
        // Once buckets refill they are dropped and new keys get their own again.
        let t1 = t0 + Duration::from_secs(5);
        assert!(l.allows(&2000, t1));
        l.charge(&2000, t1);
        assert!(l.len() <= 4);
        assert!(!l.allows(&2000, t1));
    }

    #[test]
    fn sources_group_ipv6_by_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(Source::of(v4), Source::of(mapped));
        assert_ne!(
            Source::of(v4),
            Source::of("192.0.2.8".parse::<IpAddr>().unwrap())
        );
    }

    #[test]
    fn source_keys_are_bounded_and_per_source() {
        let s1 = Source::of("127.0.0.1".parse().unwrap());
        let s2 = Source::of("127.0.0.2".parse().unwrap());
        let long = "A".repeat(10_000);
        assert_eq!(SourceKey::new(s1, &long).1.len(), MAX_KEY_ID_LEN);
        let l = Limiter::new(RateLimit::new(0.001, 2.0).unwrap(), 10);
        let t0 = Instant::now();
        let flooded = SourceKey::new(s2, "AKIAOWNER");
        assert_eq!(drain(&l, &flooded, t0, 100), 2);
        // The same key id from another source is untouched.
        assert!(l.allows(&SourceKey::new(s1, "AKIAOWNER"), t0));
    }

    #[test]
    fn rejects_unusable_rates() {
        assert!(RateLimit::new(0.0, 1.0).is_none());
        assert!(RateLimit::new(1.0, 0.5).is_none());
        assert!(RateLimit::new(f64::NAN, 1.0).is_none());
        assert!(RateLimit::new(0.001, 5.0).is_some());
    }
}
