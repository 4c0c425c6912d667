//! Shared measurement for the criterion benches in `benches/`: the paired harness.
//!
//! **Paired measurement.** This machine is shared, and its load moves by a factor of two within
//! seconds; two benchmarks run one after the other then differ by more than the facade costs. So
//! a paired benchmark runs *both* sides, alternating one call (or one small batch of calls) of
//! the baseline with one through coffer, and reports the time of its own side only
//! (`iter_custom`): both sides see the same load, call by call. Inputs are built, and outputs
//! dropped, outside the timed calls. Each group then prints a `paired` line: the medians of both
//! sides over every pair and the median per-pair ratio, the figure to quote.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};

/// One side of a paired benchmark: builds its input (untimed), then makes the call (timed);
/// returns the time of one call.
pub trait Side {
    /// One timed call (or the mean of one batch), its input built before the clock starts.
    fn call(&mut self) -> Duration;
}

impl<I, O, S: FnMut() -> I, R: FnMut(I) -> O> Side for (S, R) {
    fn call(&mut self) -> Duration {
        let input = (self.0)();
        let start = Instant::now();
        let output = black_box((self.1)(black_box(input)));
        let elapsed = start.elapsed();
        drop(output);
        elapsed
    }
}

/// A side for calls of a few microseconds: `n` inputs built, then `n` calls timed together (the
/// clock read once per batch, not per call), outputs kept until the clock stops; the mean.
pub struct Batched<S, R> {
    setup: S,
    routine: R,
    n: usize,
}

impl<S, R> std::fmt::Debug for Batched<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batched")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl<S, R> Batched<S, R> {
    /// `n` calls per timed batch (at least one).
    pub fn new(n: usize, setup: S, routine: R) -> Self {
        Self {
            setup,
            routine,
            n: n.max(1),
        }
    }
}

impl<I, O, S: FnMut() -> I, R: FnMut(I) -> O> Side for Batched<S, R> {
    fn call(&mut self) -> Duration {
        let inputs: Vec<I> = (0..self.n).map(|_| (self.setup)()).collect();
        let mut outputs: Vec<O> = Vec::with_capacity(self.n);
        let start = Instant::now();
        for input in inputs {
            outputs.push(black_box((self.routine)(black_box(input))));
        }
        let elapsed = start.elapsed();
        drop(outputs);
        elapsed / u32::try_from(self.n).unwrap_or(u32::MAX)
    }
}

/// What a paired group measured: medians over every pair of calls.
#[derive(Debug, Clone, Copy)]
pub struct Paired {
    /// How many pairs.
    pub pairs: usize,
    /// Median time of one baseline call.
    pub baseline: Duration,
    /// Median time of one coffer call.
    pub coffer: Duration,
    /// Median of the per-pair ratios coffer ÷ baseline (robust to a call preempted by another
    /// process).
    pub median_ratio: f64,
}

/// Benchmarks `baseline` and `coffer` in group `name`, each benchmark alternating one call of
/// each side and timing its own; slow operations (`slow`: the measurement time) get 10 flat
/// samples. Prints the group's `paired` line on stdout and returns it (`None` when filtered out).
#[allow(clippy::print_stdout)] // the paired summary is the bench's output
pub fn paired(
    c: &mut Criterion,
    name: &str,
    slow: Option<Duration>,
    baseline: &mut dyn Side,
    coffer: &mut dyn Side,
) -> Option<Paired> {
    let mut pairs: Vec<(Duration, Duration)> = Vec::new();
    let mut g = c.benchmark_group(name);
    if let Some(t) = slow {
        g.sampling_mode(SamplingMode::Flat);
        g.sample_size(10);
        g.measurement_time(t);
    }
    for own_is_baseline in [true, false] {
        let id = if own_is_baseline {
            "baseline"
        } else {
            "coffer"
        };
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut own = Duration::ZERO;
                for _ in 0..iters {
                    let p = baseline.call();
                    let k = coffer.call();
                    own += if own_is_baseline { p } else { k };
                    pairs.push((p, k));
                }
                own
            })
        });
    }
    g.finish();
    if pairs.is_empty() {
        return None;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let p = median(pairs.iter().map(|(p, _)| p.as_secs_f64()).collect());
    let k = median(pairs.iter().map(|(_, k)| k.as_secs_f64()).collect());
    let r = median(
        pairs
            .iter()
            .map(|(p, k)| k.as_secs_f64() / p.as_secs_f64().max(1e-12))
            .collect(),
    );
    println!(
        "paired {name}: {} pairs, median baseline {:.3} µs, median coffer {:.3} µs, ratio of medians {:.3}, median ratio {:.3}",
        pairs.len(),
        p * 1e6,
        k * 1e6,
        k / p,
        r
    );
    Some(Paired {
        pairs: pairs.len(),
        baseline: Duration::from_secs_f64(p),
        coffer: Duration::from_secs_f64(k),
        median_ratio: r,
    })
}

/// AWS's default quotas would throttle a bench within milliseconds: every class lifted, so the
/// quota check still runs (and is measured) but never refuses.
pub fn bench_quotas() -> coffer::QuotaConfig {
    let lifted = coffer::LimitOverride {
        rate: Some(1e9),
        burst: Some(1_000_000_000),
    };
    let mut config = coffer::QuotaConfig::default();
    for class in coffer::QuotaClass::ALL {
        config.defaults.insert(*class, lifted);
    }
    config
}
