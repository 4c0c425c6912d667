//! Cost of a quota check, against the clock read it includes and the smallest operation it
//! guards (AES-256-GCM seal of 1 KiB, as in Encrypt).
// Bench set-up: a failed unwrap aborts the bench, which is what we want.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_core::{AccountId, Clock, SystemClock};
use coffer_crypto::aead::{seal, Nonce};
use coffer_crypto::{SymmetricKey, SystemRandom};
use coffer_quota::{LimitOverride, QuotaClass, QuotaConfig, Quotas, MAX_BURST, MAX_RATE};
use criterion::{criterion_group, criterion_main, Criterion};

fn acct(n: u64) -> AccountId {
    AccountId::parse(&format!("{n:012}")).unwrap()
}

/// Quotas that always grant the symmetric class (1e9/s, burst 1e9), so the bench measures
/// the granting path; the throttling path is measured separately.
fn generous() -> Quotas {
    let mut config = QuotaConfig::default();
    config.defaults.insert(
        QuotaClass::SymmetricCryptographic,
        LimitOverride {
            rate: Some(MAX_RATE),
            burst: Some(MAX_BURST),
        },
    );
    Quotas::new(&config, Arc::new(SystemClock)).unwrap()
}

/// Runs `per_thread` on two threads at once, `iters` times each; returns the wall time, so
/// the figure is the latency of one check while the other core checks too.
fn two_threads(iters: u64, q: &Quotas, accounts: [&AccountId; 2]) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for a in accounts {
            s.spawn(move || {
                for _ in 0..iters {
                    let _ = black_box(q.check(black_box(a), QuotaClass::SymmetricCryptographic));
                }
            });
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("quota");

    let clock = SystemClock;
    g.bench_function("baseline_system_clock_now", |b| {
        b.iter(|| black_box(clock.now()))
    });

    let rng = SystemRandom::new();
    let key = SymmetricKey::generate(&rng).unwrap();
    let nonce = Nonce::random(&rng).unwrap();
    let plaintext = vec![7u8; 1024];
    g.bench_function("baseline_aes256gcm_seal_1KiB", |b| {
        b.iter(|| black_box(seal(&key, &nonce, b"aad", black_box(&plaintext)).unwrap()))
    });

    let q = generous();
    let a = acct(111_122_223_333);
    g.bench_function("check_uncontended_granted", |b| {
        b.iter(|| black_box(q.check(black_box(&a), QuotaClass::SymmetricCryptographic)))
    });

    let now = SystemClock.now();
    g.bench_function("check_at_uncontended_granted", |b| {
        b.iter(|| {
            black_box(q.check_at(
                black_box(&a),
                QuotaClass::SymmetricCryptographic,
                black_box(now),
            ))
        })
    });

    let strict = Quotas::new(&QuotaConfig::default(), Arc::new(SystemClock)).unwrap();
    g.bench_function("check_uncontended_throttled", |b| {
        b.iter(|| black_box(strict.check(black_box(&a), QuotaClass::CreateKey)))
    });

    let many: Vec<AccountId> = (0..10_000).map(acct).collect();
    let mut i = 0usize;
    g.bench_function("check_uncontended_10k_accounts_round_robin", |b| {
        b.iter(|| {
            i = (i + 1) % many.len();
            black_box(q.check(&many[i], QuotaClass::SymmetricCryptographic))
        })
    });

    let b_acct = acct(444_455_556_666);
    g.bench_function("check_contended_2_threads_same_bucket", |b| {
        b.iter_custom(|iters| two_threads(iters, &q, [&a, &a]))
    });
    g.bench_function("check_contended_2_threads_two_accounts", |b| {
        b.iter_custom(|iters| two_threads(iters, &q, [&a, &b_acct]))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
