//! Envelope encryption with the in-process Kms as data-key provider: multi-CMK messages open
//! with each CMK, access and state are enforced per call, and the cache saves calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use coffer::envelope::{
    decrypt, encrypt, CacheLimits, CachingProvider, DecryptOptions, DecryptingReader,
    EncryptOptions, EncryptingWriter, EnvelopeError,
};
use coffer::model::*;
use coffer::testing::ManualClock;
use coffer::{Caller, EncryptionContext, Kms, KmsDataKeys};

/// An identity policy allowing every KMS action (the principal still needs the key policy).
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn setup() -> (Arc<Kms>, Caller, Vec<String>) {
    let kms = Arc::new(
        Kms::builder()
            .quotas(coffer::QuotaConfig {
                enabled: false,
                ..Default::default()
            })
            .build()
            .unwrap(),
    );
    let alice = Caller::new("arn:aws:iam::111122223333:user/alice")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let keys = (0..3)
        .map(|_| {
            kms.create_key(&alice, CreateKeyRequest::default())
                .unwrap()
                .key_metadata
                .arn
        })
        .collect();
    (kms, alice, keys)
}

#[test]
fn multi_cmk_message_opens_with_each_key() {
    let (kms, alice, keys) = setup();
    let provider = kms.data_keys(alice.clone());
    let ids: Vec<&str> = keys.iter().map(String::as_str).collect();
    let ctx: EncryptionContext = [("file", "ledger.csv")].into_iter().collect();
    let data = vec![7u8; 200_000];
    let msg = encrypt(&provider, &ids, &ctx, &data, &EncryptOptions::new()).unwrap();
    // Each CMK alone can open it: disable the other two each time.
    for (i, k) in keys.iter().enumerate() {
        for (j, other) in keys.iter().enumerate() {
            let req = KeyIdRequest {
                key_id: other.clone(),
            };
            if i == j {
                kms.enable_key(&alice, req).unwrap();
            } else {
                kms.disable_key(&alice, req).unwrap();
            }
        }
        let out = decrypt(
            &provider,
            &msg,
            &DecryptOptions::new().expect_context(ctx.clone()),
        )
        .unwrap_or_else(|e| panic!("key {k}: {e}"));
        assert_eq!(out.plaintext().expose(), &data[..]);
    }
    // With all three disabled, nothing opens, and the reason carries the AWS code.
    for k in &keys {
        kms.disable_key(&alice, KeyIdRequest { key_id: k.clone() })
            .unwrap();
    }
    match decrypt(&provider, &msg, &DecryptOptions::new()) {
        Err(EnvelopeError::NoDecryptableDataKey { last, .. }) => {
            let last = last.expect("a provider error");
            assert_eq!(last.code(), "DisabledException");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_accounts_cannot_open() {
    let (kms, alice, keys) = setup();
    let ctx = EncryptionContext::new();
    let msg = encrypt(
        &kms.data_keys(alice),
        &[keys[0].as_str()],
        &ctx,
        b"x",
        &EncryptOptions::new(),
    )
    .unwrap();
    let mallory = Caller::new("arn:aws:iam::444455556666:user/mallory")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let err = decrypt(&kms.data_keys(mallory), &msg, &DecryptOptions::new()).unwrap_err();
    match err {
        EnvelopeError::NoDecryptableDataKey { last, .. } => {
            assert_eq!(last.unwrap().code(), "AccessDeniedException")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn streaming_round_trip_through_kms() {
    let (kms, alice, keys) = setup();
    let provider = KmsDataKeys::new(kms.clone(), alice);
    let ctx: EncryptionContext = [("purpose", "backup")].into_iter().collect();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = EncryptingWriter::new(
        &provider,
        &[keys[1].as_str()],
        &ctx,
        &EncryptOptions::new(),
        Vec::new(),
    )
    .unwrap();
    for chunk in data.chunks(10_007) {
        w.write_all(chunk).unwrap();
    }
    let msg = w.finish().unwrap();
    let mut r = DecryptingReader::new(&provider, &msg[..], &DecryptOptions::new()).unwrap();
    let mut back = Vec::new();
    r.read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
}

#[test]
fn cache_saves_kms_calls() {
    let (kms, alice, keys) = setup();
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
    let cached = CachingProvider::new(
        kms.data_keys(alice),
        CacheLimits::new(10, Duration::from_secs(300)).with_max_messages(50),
        clock,
    );
    let ctx = EncryptionContext::new();
    for i in 0..100u32 {
        let msg = encrypt(
            &cached,
            &[keys[0].as_str()],
            &ctx,
            &i.to_be_bytes(),
            &EncryptOptions::new().with_plaintext_len(4),
        )
        .unwrap();
        let out = decrypt(&cached, &msg, &DecryptOptions::new()).unwrap();
        assert_eq!(out.plaintext().expose(), &i.to_be_bytes());
    }
    let stats = cached.stats();
    // 100 messages at 50 per data key: 2 GenerateDataKey calls instead of 100.
    assert_eq!(stats.encrypt_misses, 2);
    assert_eq!(stats.encrypt_hits, 98);
    assert!(stats.decrypt_hits >= 98, "{stats:?}");
}
