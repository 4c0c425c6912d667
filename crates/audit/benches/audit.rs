//! FileSink::record of a typical Encrypt event beside NullSink in the same run, with one and
//! several threads, synchronous (group commit) and periodic fsync; and verification of 1 million
//! records generated in the setup.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure
#![allow(clippy::print_stdout)] // it prints the verification throughput

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use coffer_audit::{
    verify, AuditEvent, AuditSink, Durability, FileSink, FileSinkOptions, NullSink, UserIdentity,
    DEFAULT_PREALLOCATE_BYTES,
};
use coffer_core::{Caller, Region};
use coffer_crypto::{SigningKey, SystemRandom};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// An Encrypt event as the facade writes one: caller with access key, source IP, user agent,
/// encryption context, key resource, request id.
fn encrypt_event(rng: &SystemRandom) -> AuditEvent {
    let caller = Caller::new("arn:aws:iam::111122223333:user/app-server").unwrap();
    AuditEvent::new(
        rng,
        "Encrypt",
        SystemTime::now(),
        &Region::parse("us-east-1").unwrap(),
        UserIdentity::from_caller(&caller).access_key_id("AKIAIOSFODNN7EXAMPLE"),
    )
    .unwrap()
    .request_parameters(serde_json::json!({
        "keyId": KEY_ARN,
        "encryptionContext": {"tenant": "acme", "purpose": "invoice-pdf"},
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
    .resource(KEY_ARN, "111122223333")
    .source_ip("192.0.2.10")
    .user_agent("aws-sdk-rust/1.0 os/linux")
    .request_id("7c6b2b42-1c5b-4c61-9a6e-2b1f1c4d2e10")
}

fn file_sink(dir: &std::path::Path, durability: Durability, preallocate: u64) -> FileSink {
    let rng = SystemRandom::new();
    FileSink::open(
        dir,
        SigningKey::generate(&rng).unwrap(),
        FileSinkOptions::default()
            .durability(durability)
            .preallocate(preallocate),
    )
    .unwrap()
}

/// Wall time for `iters` records spread over `threads` threads.
fn run_threads(
    sink: &Arc<dyn AuditSink>,
    event: &AuditEvent,
    threads: u64,
    iters: u64,
) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let n = iters / threads + u64::from(t < iters % threads);
            s.spawn(move || {
                for _ in 0..n {
                    sink.record(event).unwrap();
                }
            });
        }
    });
    start.elapsed()
}

fn record(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let rng = SystemRandom::new();
    let event = encrypt_event(&rng);
    println!(
        "typical Encrypt event: {} bytes of JSON",
        event.to_json().unwrap().len()
    );
    let mut g = c.benchmark_group("audit_record");
    let null: Arc<dyn AuditSink> = Arc::new(NullSink);
    g.bench_function("null", |b| b.iter(|| null.record(&event).unwrap()));

    // `file_sync_appended`: the synchronous sink appending (no zeros written ahead), the
    // baseline of the preallocated tail (docs/AUDIT.md).
    let ahead = DEFAULT_PREALLOCATE_BYTES;
    let sinks = [
        (
            "file_buffered_1s",
            Durability::Buffered(Duration::from_secs(1)),
            ahead,
        ),
        (
            "file_periodic_1s",
            Durability::Periodic(Duration::from_secs(1)),
            ahead,
        ),
        ("file_sync", Durability::Sync, ahead),
        ("file_sync_appended", Durability::Sync, 0),
    ];
    for (name, durability, preallocate) in sinks {
        let dir = tempfile::tempdir().unwrap();
        let sink: Arc<dyn AuditSink> = Arc::new(file_sink(dir.path(), durability, preallocate));
        for threads in [1u64, 4, 16] {
            g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
                b.iter_custom(|iters| run_threads(&sink, &event, threads, iters));
            });
        }
    }
    g.finish();
}

/// One million Encrypt events, timer digests every 10,000, in a temporary directory.
fn generate(dir: &std::path::Path, n: u64) -> coffer_crypto::VerifyingKey {
    let rng = SystemRandom::new();
    let event = encrypt_event(&rng);
    let sink = file_sink(
        dir,
        Durability::Periodic(Duration::from_secs(1)),
        DEFAULT_PREALLOCATE_BYTES,
    );
    let vk = sink.verifying_key();
    let sink = Arc::new(sink);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (sink, event) = (&sink, &event);
            s.spawn(move || {
                for i in 0..n / 2 {
                    sink.record(event).unwrap();
                    if i % 10_000 == 0 {
                        sink.write_digest().unwrap();
                    }
                }
            });
        }
    });
    drop(sink);
    vk
}

fn verification(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let vk = generate(dir.path(), N);
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "generated {N} events ({} MiB) in {:.1} s",
        bytes >> 20,
        started.elapsed().as_secs_f64()
    );
    let mut g = c.benchmark_group("audit_verify");
    g.sample_size(10);
    g.bench_function("1M_records", |b| {
        b.iter(|| {
            let r = verify(dir.path(), &vk).unwrap();
            assert!(r.events == N);
        });
    });
    g.finish();
    let t = Instant::now();
    let r = verify(dir.path(), &vk).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "verify: {} records in {} files ({} digests) in {secs:.2} s = {:.0} records/s",
        r.records,
        r.files,
        r.digests,
        r.records as f64 / secs
    );
}

criterion_group!(benches, record, verification);
criterion_main!(benches);
