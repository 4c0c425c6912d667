//! What one synchronization step costs on this machine, uncontended (one thread): the price
//! the request path pays for each lock it takes. GetKeyLastUsage's record was a global mutex's
//! lock and unlock per cryptographic call; it is now a relaxed load and, when the word
//! changed, a relaxed store into the key's own cell (`crates/kms/src/last_usage.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};

fn sync(c: &mut Criterion) {
    let word = AtomicU64::new(0);
    c.bench_function("atomic_fetch_add", |b| {
        b.iter(|| black_box(&word).fetch_add(1, Ordering::AcqRel))
    });
    let mutex = parking_lot::Mutex::new(0u64);
    c.bench_function("mutex_lock_unlock", |b| {
        b.iter(|| *black_box(&mutex).lock() += 1)
    });
    // The last-use cell: read the word, store it when it differs (here: every time).
    let mut n = 0u64;
    c.bench_function("relaxed_load_store", |b| {
        b.iter(|| {
            n += 1;
            let cell = black_box(&word);
            if cell.load(Ordering::Relaxed) != n {
                cell.store(n, Ordering::Relaxed);
            }
        })
    });
}

criterion_group!(benches, sync);
criterion_main!(benches);
