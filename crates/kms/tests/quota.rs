//! Request quotas through the facade: ThrottlingException with AWS's message, charged to the
//! caller's account, before authorization (so denied calls are throttled too), refilled by time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use coffer::model::*;
use coffer::testing::ManualClock;
use coffer::{Caller, Kms, LimitOverride, QuotaClass, QuotaConfig};

/// An identity policy allowing every KMS action (the principal still needs the key policy).
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn kms(config: QuotaConfig) -> (Kms, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
    let kms = Kms::builder()
        .clock(clock.clone())
        .quotas(config)
        .build()
        .unwrap();
    (kms, clock)
}

fn code<T>(r: Result<T, coffer::Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn create_key_is_held_to_five_per_second() {
    let (kms, clock) = kms(QuotaConfig::default());
    let alice = Caller::new("arn:aws:iam::111122223333:user/alice")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    for _ in 0..5 {
        kms.create_key(&alice, CreateKeyRequest::default()).unwrap();
    }
    let err = kms
        .create_key(&alice, CreateKeyRequest::default())
        .unwrap_err();
    assert_eq!(err.code(), "ThrottlingException");
    assert_eq!(
        err.message(),
        "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
    );
    // Nothing was created by the refused call.
    let listed = kms.list_keys(&alice, ListKeysRequest::default()).unwrap();
    assert_eq!(listed.keys.len(), 5);
    // Another account has its own bucket.
    let bob = Caller::new("arn:aws:iam::999988887777:user/bob")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    assert_eq!(
        code(kms.create_key(&bob, CreateKeyRequest::default())),
        "ok"
    );
    // A fifth of a second buys one more call.
    clock.advance(Duration::from_millis(200));
    assert_eq!(
        code(kms.create_key(&alice, CreateKeyRequest::default())),
        "ok"
    );
    assert_eq!(
        code(kms.create_key(&alice, CreateKeyRequest::default())),
        "ThrottlingException"
    );
}

#[test]
fn denied_calls_are_throttled_too_and_charged_to_the_caller() {
    let mut defaults = BTreeMap::new();
    defaults.insert(
        QuotaClass::SymmetricCryptographic,
        LimitOverride {
            rate: Some(3.0),
            burst: Some(3),
        },
    );
    let (kms, _clock) = kms(QuotaConfig {
        defaults,
        ..Default::default()
    });
    let alice = Caller::new("arn:aws:iam::111122223333:user/alice")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let mallory = Caller::new("arn:aws:iam::444455556666:user/mallory")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let key = kms
        .create_key(&alice, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let enc = |who: &Caller| {
        kms.encrypt(
            who,
            EncryptRequest {
                key_id: key.arn.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )
    };
    // Mallory is refused, then throttled: the quota is checked before authorization.
    for _ in 0..3 {
        assert_eq!(code(enc(&mallory)), "AccessDeniedException");
    }
    assert_eq!(code(enc(&mallory)), "ThrottlingException");
    // Her flood was charged to her account, not to the key owner's.
    for _ in 0..3 {
        assert_eq!(code(enc(&alice)), "ok");
    }
    assert_eq!(code(enc(&alice)), "ThrottlingException");
}

#[test]
fn symmetric_operations_share_one_quota() {
    let mut defaults = BTreeMap::new();
    defaults.insert(
        QuotaClass::SymmetricCryptographic,
        LimitOverride {
            rate: Some(4.0),
            burst: Some(4),
        },
    );
    let (kms, clock) = kms(QuotaConfig {
        defaults,
        ..Default::default()
    });
    let alice = Caller::new("arn:aws:iam::111122223333:user/alice")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let key = kms
        .create_key(&alice, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let blob = kms
        .encrypt(
            &alice,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob;
    kms.decrypt(
        &alice,
        DecryptRequest {
            ciphertext_blob: blob,
            ..Default::default()
        },
    )
    .unwrap();
    kms.generate_data_key(
        &alice,
        GenerateDataKeyRequest {
            key_id: key.key_id.clone(),
            number_of_bytes: Some(16),
            ..Default::default()
        },
    )
    .unwrap();
    kms.generate_random(
        &alice,
        GenerateRandomRequest {
            number_of_bytes: Some(8),
        },
    )
    .unwrap();
    assert_eq!(
        code(kms.generate_random(
            &alice,
            GenerateRandomRequest {
                number_of_bytes: Some(8)
            }
        )),
        "ThrottlingException"
    );
    // Management operations have their own buckets.
    assert_eq!(
        code(kms.describe_key(
            &alice,
            DescribeKeyRequest {
                key_id: key.key_id.clone(),
                ..Default::default()
            }
        )),
        "ok"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        code(kms.generate_random(
            &alice,
            GenerateRandomRequest {
                number_of_bytes: Some(8)
            }
        )),
        "ok"
    );
}
