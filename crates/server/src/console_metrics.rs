//! The web console's metrics: totals by operation from the server's counters (`metrics.rs`),
//! and a history of the last [`WINDOW_SECS`] in [`STEP_SECS`] steps.
//!
//! The history is sampled on request, not by a timer: the first request after a step boundary
//! records the counters' totals as they stood at that boundary (no request has been answered
//! since, but those in flight). A boundary no request followed saw no new request, so its totals
//! are those of the next sample taken. Memory is a ring of at most `WINDOW_SECS / STEP_SECS + 2`
//! samples.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::metrics::{Metrics, Totals};

/// One history sample per this many seconds.
pub(crate) const STEP_SECS: i64 = 10;
/// The history covers this many seconds.
pub(crate) const WINDOW_SECS: i64 = 30 * 60;
const KEPT: usize = (WINDOW_SECS / STEP_SECS) as usize + 2;

/// The samples: (step boundary, totals then).
pub(crate) struct Sampler {
    last: AtomicI64,
    ring: Mutex<VecDeque<(i64, Totals)>>,
}

impl Sampler {
    pub(crate) fn new() -> Self {
        Self {
            last: AtomicI64::new(i64::MIN),
            ring: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }

    /// Records `totals` (read only if needed) for the step `now` falls in, once per step.
    pub(crate) fn sample(&self, now: i64, totals: impl FnOnce() -> Totals) {
        let boundary = now - now.rem_euclid(STEP_SECS);
        if self.last.load(Ordering::Relaxed) >= boundary {
            return;
        }
        let mut ring = self.ring.lock();
        if self.last.load(Ordering::Relaxed) >= boundary {
            return;
        }
        self.last.store(boundary, Ordering::Relaxed);
        ring.push_back((boundary, totals()));
        while ring.len() > KEPT {
            ring.pop_front();
        }
    }

    /// The history at `now`: for each step of the window, oldest first, what was answered
    /// during it (`current`: the totals now).
    pub(crate) fn history(&self, now: i64, current: Totals) -> Vec<(i64, Totals)> {
        let ring = self.ring.lock();
        let at = |t: i64| -> Totals {
            ring.iter()
                .find(|(b, _)| *b >= t)
                .map_or(current, |(_, totals)| *totals)
        };
        let end = now - now.rem_euclid(STEP_SECS);
        let start = end - WINDOW_SECS + STEP_SECS;
        (0..WINDOW_SECS / STEP_SECS)
            .map(|i| {
                let t = start + i * STEP_SECS;
                let (a, b) = (at(t), at(t + STEP_SECS));
                (
                    t,
                    Totals {
                        requests: b.requests.saturating_sub(a.requests),
                        errors: b.errors.saturating_sub(a.errors),
                        throttles: b.throttles.saturating_sub(a.throttles),
                    },
                )
            })
            .collect()
    }
}

/// The answer of `GET /console/api/metrics`.
pub(crate) fn answer(sampler: &Sampler, metrics: &Metrics, now: i64) -> Value {
    sampler.sample(now, || metrics.totals());
    let operations: Vec<Value> = metrics
        .by_operation()
        .into_iter()
        .map(|(op, t)| {
            json!({
                "operation": op,
                "requests": t.requests,
                "errors": t.errors,
                "throttles": t.throttles,
            })
        })
        .collect();
    let history: Vec<Value> = sampler
        .history(now, metrics.totals())
        .into_iter()
        .map(|(t, d)| {
            json!({
                "t": t,
                "requests": d.requests,
                "errors": d.errors,
                "throttles": d.throttles,
            })
        })
        .collect();
    json!({ "now": now, "operations": operations, "history": history })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(requests: u64, errors: u64) -> Totals {
        Totals {
            requests,
            errors,
            throttles: 0,
        }
    }

    #[test]
    fn history_has_one_sample_per_step_and_puts_requests_in_their_step() {
        let s = Sampler::new();
        let base = 1_000_000; // a step boundary
        s.sample(base + 1, || t(0, 0));
        // 5 requests during [base, base+10): the next step's first request sees them.
        s.sample(base + 12, || t(5, 1));
        s.sample(base + 15, || panic!("sampled twice in a step"));
        // Nothing for two steps, then 3 more requests during [base+40, base+50).
        s.sample(base + 41, || t(5, 1));
        let h = s.history(base + 47, t(8, 1));
        assert_eq!(h.len() as i64, WINDOW_SECS / STEP_SECS);
        let by_t = |x: i64| h.iter().find(|(tt, _)| *tt == x).unwrap().1;
        assert_eq!(by_t(base), t(5, 1));
        assert_eq!(by_t(base + 10), t(0, 0));
        assert_eq!(by_t(base + 20), t(0, 0));
        assert_eq!(by_t(base + 30), t(0, 0));
        assert_eq!(by_t(base + 40), t(3, 0));
        assert_eq!(h.last().unwrap().0, base + 40);
        assert!(h.windows(2).all(|w| w[1].0 - w[0].0 == STEP_SECS));
    }

    #[test]
    fn the_ring_is_bounded() {
        let s = Sampler::new();
        for i in 0..1000 {
            s.sample(i * STEP_SECS, || t(i as u64, 0));
        }
        assert_eq!(s.ring.lock().len(), KEPT);
        let h = s.history(999 * STEP_SECS, t(999, 0));
        assert!(h.iter().all(|(_, d)| d.requests <= 1));
    }
}
