//! The facade on a data directory (SqliteStore: WAL, synchronous = FULL) beside the same
//! operations on the in-memory store, measured in the same run: CreateKey and RotateKeyOnDemand
//! pay for a durable commit; Encrypt with a warm cache must not pay anything for durability.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use std::path::PathBuf;
use std::time::{Duration, Instant};

use coffer::model::*;
use coffer::{Caller, DataDir, Kms, RootKeySource};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};

const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The two services under comparison: in memory, and on a fresh data directory. The data
/// directory lives under the target directory (a real disk, not a tmpfs), so fsync is real.
fn services() -> Vec<(&'static str, Kms, Option<Tmp>)> {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join(format!("durable-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let memory = Kms::builder()
        .quotas(coffer_benches::bench_quotas())
        .build()
        .unwrap();
    let dir = DataDir::open(
        base.join("data"),
        RootKeySource::key_file(base.join("root.key")),
    )
    .unwrap();
    let sqlite = dir
        .builder()
        .quotas(coffer_benches::bench_quotas())
        .build()
        .unwrap();
    vec![
        ("memory", memory, None),
        ("sqlite", sqlite, Some(Tmp(base))),
    ]
}

fn create(kms: &Kms, caller: &Caller) -> String {
    kms.create_key(caller, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id
}

fn durable(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let caller = Caller::new("arn:aws:iam::111122223333:user/bench")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let services = services();

    let mut g = c.benchmark_group("create_key");
    for (name, kms, _) in &services {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| create(kms, &caller))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("rotate_key_on_demand");
    for (name, kms, _) in &services {
        // A key takes at most 25 on-demand rotations: switch keys outside the timed part.
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut key = create(kms, &caller);
                for i in 0..iters {
                    if i % 25 == 24 {
                        key = create(kms, &caller);
                    }
                    let req = KeyIdRequest {
                        key_id: key.clone(),
                    };
                    let t = Instant::now();
                    kms.rotate_key_on_demand(&caller, req).unwrap();
                    total += t.elapsed();
                }
                total
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("encrypt_1024_warm");
    for (name, kms, _) in &services {
        let key = create(kms, &caller);
        let pt = vec![0x42u8; 1024];
        // Warm the cache.
        kms.encrypt(
            &caller,
            EncryptRequest {
                key_id: key.clone(),
                plaintext: pt.clone().into(),
                ..Default::default()
            },
        )
        .unwrap();
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched(
                || EncryptRequest {
                    key_id: key.clone(),
                    plaintext: pt.clone().into(),
                    ..Default::default()
                },
                |req| kms.encrypt(&caller, req).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, durable);
criterion_main!(benches);
