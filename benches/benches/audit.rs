//! What the audit log adds to an Encrypt of 1 KiB: the same facade call with a `NullSink`
//! (events built, then discarded) and with the file sink in its buffered, periodic and
//! synchronous (group-commit fsync) modes, in the same run. Target: the file sink adds at most
//! 3 µs (median) over the null sink.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use std::sync::Arc;
use std::time::Duration;

use coffer::audit_log::{AuditSink, Durability, FileSink, FileSinkOptions, NullSink};
use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn audit(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let alice = Caller::new("arn:aws:iam::111122223333:user/alice")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let ctx: EncryptionContext = [("app", "billing"), ("order", "42")].into_iter().collect();
    let root = std::env::temp_dir().join(format!("coffer-audit-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let file_sink = |name: &str, durability: Durability| -> Arc<dyn AuditSink> {
        let rng = coffer::SystemRandom::new();
        let key = coffer_crypto::SigningKey::generate(&rng).unwrap();
        Arc::new(
            FileSink::open(
                root.join(name),
                key,
                FileSinkOptions::default().durability(durability),
            )
            .unwrap(),
        )
    };
    let sinks: Vec<(&str, Arc<dyn AuditSink>)> = vec![
        ("null_sink", Arc::new(NullSink)),
        (
            "file_buffered_1s",
            file_sink("buffered", Durability::Buffered(Duration::from_secs(1))),
        ),
        (
            "file_periodic_1s",
            file_sink("periodic", Durability::Periodic(Duration::from_secs(1))),
        ),
        ("file_sync", file_sink("sync", Durability::Sync)),
    ];
    let mut g = c.benchmark_group("encrypt_1024_audit");
    for (name, sink) in sinks {
        if name == "file_sync" {
            // One fsync per call on a single thread: milliseconds, so fewer samples.
            g.sample_size(10);
        }
        let kms = Kms::builder()
            .quotas(coffer::QuotaConfig {
                enabled: false,
                ..Default::default()
            })
            .audit_sink(sink)
            .build()
            .unwrap();
        let key = kms
            .create_key(&alice, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id;
        g.bench_function(name, |b| {
            b.iter_batched(
                || EncryptRequest {
                    key_id: key.clone(),
                    plaintext: vec![0x42u8; 1024].into(),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                },
                |req| kms.encrypt(&alice, req).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&root);
}

criterion_group!(benches, audit);
criterion_main!(benches);
