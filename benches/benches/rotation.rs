//! Encrypt and Decrypt stay flat as a key accumulates backing-key versions: the current version
//! and the version a blob names are found by hash lookup, never by scanning. Versions come from
//! automatic rotation driven by a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use std::sync::Arc;
use std::time::Duration;

use coffer::model::*;
use coffer::testing::ManualClock;
use coffer::{Caller, Kms};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// An identity policy allowing every KMS action (the principal still needs the key policy).
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn rotation(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
    let kms = Kms::builder()
        .quotas(coffer_benches::bench_quotas())
        .clock(clock.clone())
        .build()
        .unwrap();
    let caller = Caller::new("arn:aws:iam::111122223333:user/bench")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let mut g = c.benchmark_group("by_versions");
    for versions in [1usize, 10, 100, 1000] {
        let key = kms
            .create_key(&caller, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id;
        let blob_first = kms
            .encrypt(
                &caller,
                EncryptRequest {
                    key_id: key.clone(),
                    plaintext: vec![1u8; 1024].into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .ciphertext_blob;
        kms.enable_key_rotation(
            &caller,
            EnableKeyRotationRequest {
                key_id: key.clone(),
                rotation_period_in_days: Some(90),
            },
        )
        .unwrap();
        for _ in 1..versions {
            clock.advance(Duration::from_secs(90 * 86_400));
            kms.run_maintenance().unwrap();
        }
        kms.disable_key_rotation(
            &caller,
            KeyIdRequest {
                key_id: key.clone(),
            },
        )
        .unwrap();
        let rotations = kms
            .list_key_rotations(
                &caller,
                ListKeyRotationsRequest {
                    key_id: key.clone(),
                    limit: Some(1000),
                    marker: None,
                },
            )
            .unwrap()
            .rotations
            .len();
        assert_eq!(rotations + 1, versions);
        g.bench_with_input(
            BenchmarkId::new("encrypt_1024", versions),
            &key,
            |b, key| {
                b.iter(|| {
                    kms.encrypt(
                        &caller,
                        EncryptRequest {
                            key_id: key.clone(),
                            plaintext: vec![1u8; 1024].into(),
                            ..Default::default()
                        },
                    )
                    .unwrap()
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("decrypt_oldest_1024", versions),
            &blob_first,
            |b, blob| {
                b.iter(|| {
                    kms.decrypt(
                        &caller,
                        DecryptRequest {
                            ciphertext_blob: blob.clone(),
                            ..Default::default()
                        },
                    )
                    .unwrap()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, rotation);
criterion_main!(benches);
