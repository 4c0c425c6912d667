//! The facade end to end: every operation's happy path and every error by exception name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;

use coffer::model::*;
use coffer::testing::{CountingStore, DeterministicRandom, ManualClock};
use coffer::{Caller, EncryptionContext, Error, Kms, MemoryStore};
use proptest::prelude::*;

/// An identity policy allowing every KMS action (the principal still needs the key policy).
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const MALLORY: &str = "arn:aws:iam::444455556666:user/mallory";

fn kms() -> Kms {
    Kms::builder()
        .clock(Arc::new(ManualClock::at_epoch_seconds(1_700_000_000)))
        .build()
        .unwrap()
}

fn caller(arn: &str) -> Caller {
    Caller::new(arn)
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().copied().collect()
}

fn new_key(kms: &Kms, who: &Caller) -> KeyMetadata {
    kms.create_key(who, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
}

fn encrypt(kms: &Kms, who: &Caller, key: &str, pt: &[u8], c: &EncryptionContext) -> Vec<u8> {
    kms.encrypt(
        who,
        EncryptRequest {
            key_id: key.into(),
            plaintext: pt.to_vec().into(),
            encryption_context: c.clone(),
            ..Default::default()
        },
    )
    .unwrap()
    .ciphertext_blob
}

fn decrypt(
    kms: &Kms,
    who: &Caller,
    blob: &[u8],
    c: &EncryptionContext,
) -> Result<DecryptResponse, Error> {
    kms.decrypt(
        who,
        DecryptRequest {
            ciphertext_blob: blob.to_vec(),
            encryption_context: c.clone(),
            ..Default::default()
        },
    )
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn create_and_describe() {
    let kms = kms();
    let alice = caller(ALICE);
    let created = kms
        .create_key(
            &alice,
            CreateKeyRequest {
                description: Some("payments".into()),
                tags: vec![Tag {
                    tag_key: "env".into(),
                    tag_value: "prod".into(),
                }],
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata;
    assert_eq!(created.aws_account_id, "111122223333");
    assert_eq!(
        created.arn,
        format!("arn:aws:kms:us-east-1:111122223333:key/{}", created.key_id)
    );
    assert_eq!(created.key_spec, KeySpec::SymmetricDefault);
    assert_eq!(created.key_usage, KeyUsage::EncryptDecrypt);
    assert_eq!(created.key_state, KeyState::Enabled);
    assert!(created.enabled);
    assert_eq!(created.origin, Origin::AwsKms);
    assert_eq!(created.key_manager, "CUSTOMER");
    assert_eq!(
        created.encryption_algorithms,
        vec![EncryptionAlgorithmSpec::SymmetricDefault]
    );
    assert_eq!(created.description, "payments");
    assert_eq!(
        created.creation_date,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
    );

    for id in [
        created.key_id.clone(),
        created.arn.clone(),
        created.key_id.to_uppercase(),
    ] {
        let d = kms
            .describe_key(
                &alice,
                DescribeKeyRequest {
                    key_id: id,
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata;
        assert_eq!(d, created);
    }
    // Another principal of the same account sees it too.
    let bob = caller(BOB);
    assert!(kms
        .describe_key(
            &bob,
            DescribeKeyRequest {
                key_id: created.key_id.clone(),
                ..Default::default()
            }
        )
        .is_ok());
}

#[test]
fn create_key_errors() {
    let kms = kms();
    let alice = caller(ALICE);
    let cases: Vec<(CreateKeyRequest, &str)> = vec![
        (
            CreateKeyRequest {
                description: Some("x".repeat(8193)),
                ..Default::default()
            },
            "ValidationException",
        ),
        (
            CreateKeyRequest {
                key_spec: Some(KeySpec::SymmetricDefault),
                customer_master_key_spec: Some(KeySpec::SymmetricDefault),
                ..Default::default()
            },
            "ValidationException",
        ),
        (
            CreateKeyRequest {
                key_usage: Some(KeyUsage::SignVerify),
                ..Default::default()
            },
            "ValidationException",
        ),
        (
            CreateKeyRequest {
                // SM2: AWS offers it only in the China regions; coffer does not implement it.
                key_spec: Some(KeySpec::Sm2),
                key_usage: Some(KeyUsage::SignVerify),
                ..Default::default()
            },
            "UnsupportedOperationException",
        ),
        (
            CreateKeyRequest {
                tags: vec![Tag {
                    tag_key: "aws:reserved".into(),
                    tag_value: String::new(),
                }],
                ..Default::default()
            },
            "TagException",
        ),
        (
            CreateKeyRequest {
                tags: (0..51)
                    .map(|i| Tag {
                        tag_key: format!("k{i}"),
                        tag_value: String::new(),
                    })
                    .collect(),
                ..Default::default()
            },
            "TagException",
        ),
    ];
    for (req, want) in cases {
        let got = code(kms.create_key(&alice, req.clone()));
        assert_eq!(got, want, "{req:?}");
    }
}

#[test]
fn encrypt_decrypt_round_trip_and_context_binding() {
    let kms = kms();
    let alice = caller(ALICE);
    let key = new_key(&kms, &alice);
    let c = ctx(&[("tenant", "acme"), ("purpose", "test")]);
    let blob = encrypt(&kms, &alice, &key.key_id, b"attack at dawn", &c);
    assert_eq!(blob.len(), 14 + 93);

    let out = decrypt(&kms, &alice, &blob, &c).unwrap();
    assert_eq!(out.plaintext.expose(), b"attack at dawn");
    assert_eq!(out.key_id, key.arn);
    assert_eq!(
        out.encryption_algorithm,
        EncryptionAlgorithmSpec::SymmetricDefault
    );

    // Same pairs, other order: the context is a set.
    let reordered = ctx(&[("purpose", "test"), ("tenant", "acme")]);
    assert!(decrypt(&kms, &alice, &blob, &reordered).is_ok());

    // Missing, extra, changed, case-changed pairs all fail.
    for bad in [
        ctx(&[]),
        ctx(&[("tenant", "acme")]),
        ctx(&[("tenant", "acme"), ("purpose", "test"), ("x", "y")]),
        ctx(&[("tenant", "acme"), ("purpose", "prod")]),
        ctx(&[("Tenant", "acme"), ("purpose", "test")]),
        ctx(&[("tenant", "ACME"), ("purpose", "test")]),
    ] {
        assert_eq!(
            code(decrypt(&kms, &alice, &blob, &bad)),
            "InvalidCiphertextException",
            "{bad:?}"
        );
    }
}

#[test]
fn encrypt_errors() {
    let kms = kms();
    let alice = caller(ALICE);
    let key = new_key(&kms, &alice);
    let ok = || EncryptRequest {
        key_id: key.key_id.clone(),
        plaintext: b"x".to_vec().into(),
        ..Default::default()
    };
    let cases: Vec<(EncryptRequest, &str)> = vec![
        (
            EncryptRequest {
                plaintext: Vec::new().into(),
                ..ok()
            },
            "ValidationException",
        ),
        (
            EncryptRequest {
                plaintext: vec![0u8; 4097].into(),
                ..ok()
            },
            "ValidationException",
        ),
        (
            EncryptRequest {
                key_id: String::new(),
                ..ok()
            },
            "ValidationException",
        ),
        (
            EncryptRequest {
                key_id: "not-a-key".into(),
                ..ok()
            },
            "NotFoundException",
        ),
        (
            EncryptRequest {
                key_id: "00000000-0000-4000-8000-000000000000".into(),
                ..ok()
            },
            "NotFoundException",
        ),
        (
            EncryptRequest {
                key_id: "alias/none".into(),
                ..ok()
            },
            "NotFoundException",
        ),
        (
            EncryptRequest {
                key_id: key.arn.replace("us-east-1", "eu-west-1"),
                ..ok()
            },
            "NotFoundException",
        ),
        (
            EncryptRequest {
                key_id: key.arn.replace("111122223333", "444455556666"),
                ..ok()
            },
            "NotFoundException",
        ),
        (
            EncryptRequest {
                grant_tokens: vec!["t".into(); 11],
                ..ok()
            },
            "ValidationException",
        ),
        (
            EncryptRequest {
                encryption_context: ctx(&[("k", &"v".repeat(9000))]),
                ..ok()
            },
            "ValidationException",
        ),
        (
            EncryptRequest {
                encryption_algorithm: Some(EncryptionAlgorithmSpec::RsaesOaepSha256),
                ..ok()
            },
            "InvalidKeyUsageException",
        ),
        (
            EncryptRequest {
                dry_run: true,
                ..ok()
            },
            "DryRunOperationException",
        ),
    ];
    for (req, want) in cases {
        let desc = format!("{:?}", req.key_id);
        assert_eq!(code(kms.encrypt(&alice, req)), want, "{desc}");
    }
    assert!(kms.encrypt(&alice, ok()).is_ok());
    assert!(kms
        .encrypt(
            &alice,
            EncryptRequest {
                plaintext: vec![7u8; 4096].into(),
                ..ok()
            }
        )
        .is_ok());
}

#[test]
fn other_accounts_are_refused() {
    let kms = kms();
    let alice = caller(ALICE);
    let mallory = caller(MALLORY);
    let key = new_key(&kms, &alice);
    let blob = encrypt(&kms, &alice, &key.key_id, b"secret", &ctx(&[]));

    // By ARN: the key exists, but belongs to another account.
    let r = kms.encrypt(
        &mallory,
        EncryptRequest {
            key_id: key.arn.clone(),
            plaintext: b"x".to_vec().into(),
            ..Default::default()
        },
    );
    let err = r.unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
    assert!(!err.message().contains("secret"));
    // By bare key id: looked up in the caller's own account, where it does not exist.
    assert_eq!(
        code(kms.describe_key(
            &mallory,
            DescribeKeyRequest {
                key_id: key.key_id.clone(),
                ..Default::default()
            }
        )),
        "NotFoundException"
    );
    assert_eq!(
        code(kms.describe_key(
            &mallory,
            DescribeKeyRequest {
                key_id: key.arn.clone(),
                ..Default::default()
            }
        )),
        "AccessDeniedException"
    );
    // Ciphertext names its key; the caller may not use it.
    assert_eq!(
        code(decrypt(&kms, &mallory, &blob, &ctx(&[]))),
        "AccessDeniedException"
    );
    // Mallory's own keys are hers.
    let hers = new_key(&kms, &mallory);
    assert_eq!(hers.aws_account_id, "444455556666");
}

#[test]
fn decrypt_errors() {
    let kms = kms();
    let alice = caller(ALICE);
    let key = new_key(&kms, &alice);
    let other = new_key(&kms, &alice);
    let c = ctx(&[("a", "b")]);
    let blob = encrypt(&kms, &alice, &key.key_id, b"payload", &c);

    assert_eq!(code(decrypt(&kms, &alice, &[], &c)), "ValidationException");
    assert_eq!(
        code(decrypt(&kms, &alice, &vec![1u8; 6145], &c)),
        "ValidationException"
    );
    assert_eq!(
        code(decrypt(&kms, &alice, &[1u8; 50], &c)),
        "InvalidCiphertextException"
    );
    assert_eq!(
        code(decrypt(&kms, &alice, &[9u8; 200], &c)),
        "InvalidCiphertextException"
    );

    // A blob naming a key that does not exist.
    let mut unknown = blob.clone();
    unknown[1..17].copy_from_slice(&[0x42; 16]);
    assert_eq!(
        code(decrypt(&kms, &alice, &unknown, &c)),
        "NotFoundException"
    );

    // A blob naming another existing key of ours: authenticates under that key's material, and
    // fails.
    let mut moved = blob.clone();
    let other_id: coffer::KeyId = other.key_id.parse().unwrap();
    moved[1..17].copy_from_slice(other_id.as_bytes());
    assert_eq!(
        code(decrypt(&kms, &alice, &moved, &c)),
        "InvalidCiphertextException"
    );

    // KeyId given: must be the key that encrypted.
    let with_key = |k: &str| {
        kms.decrypt(
            &alice,
            DecryptRequest {
                ciphertext_blob: blob.clone(),
                encryption_context: c.clone(),
                key_id: Some(k.into()),
                ..Default::default()
            },
        )
    };
    assert!(with_key(&key.key_id).is_ok());
    assert!(with_key(&key.arn).is_ok());
    assert_eq!(code(with_key(&other.key_id)), "IncorrectKeyException");
    assert_eq!(code(with_key("alias/none")), "NotFoundException");

    let dry = kms.decrypt(
        &alice,
        DecryptRequest {
            ciphertext_blob: blob.clone(),
            encryption_context: c.clone(),
            dry_run: true,
            ..Default::default()
        },
    );
    assert_eq!(code(dry), "DryRunOperationException");
}

#[test]
fn re_encrypt_moves_between_keys_and_contexts() {
    let kms = kms();
    let alice = caller(ALICE);
    let k1 = new_key(&kms, &alice);
    let k2 = new_key(&kms, &alice);
    let c1 = ctx(&[("stage", "one")]);
    let c2 = ctx(&[("stage", "two")]);
    let blob = encrypt(&kms, &alice, &k1.key_id, b"moving", &c1);
    let out = kms
        .re_encrypt(
            &alice,
            ReEncryptRequest {
                ciphertext_blob: blob.clone(),
                source_encryption_context: c1.clone(),
                destination_key_id: k2.arn.clone(),
                destination_encryption_context: c2.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.source_key_id, k1.arn);
    assert_eq!(out.key_id, k2.arn);
    assert_eq!(
        out.source_encryption_algorithm,
        EncryptionAlgorithmSpec::SymmetricDefault
    );
    let back = decrypt(&kms, &alice, &out.ciphertext_blob, &c2).unwrap();
    assert_eq!(back.key_id, k2.arn);
    assert_eq!(back.plaintext.expose(), b"moving");
    assert_eq!(
        code(decrypt(&kms, &alice, &out.ciphertext_blob, &c1)),
        "InvalidCiphertextException"
    );

    let base = || ReEncryptRequest {
        ciphertext_blob: blob.clone(),
        source_encryption_context: c1.clone(),
        destination_key_id: k2.key_id.clone(),
        ..Default::default()
    };
    let cases: Vec<(ReEncryptRequest, &str)> = vec![
        (
            ReEncryptRequest {
                source_encryption_context: c2.clone(),
                ..base()
            },
            "InvalidCiphertextException",
        ),
        (
            ReEncryptRequest {
                source_key_id: Some(k2.key_id.clone()),
                ..base()
            },
            "IncorrectKeyException",
        ),
        (
            ReEncryptRequest {
                destination_key_id: "alias/missing".into(),
                ..base()
            },
            "NotFoundException",
        ),
        (
            ReEncryptRequest {
                ciphertext_blob: vec![],
                ..base()
            },
            "ValidationException",
        ),
        (
            ReEncryptRequest {
                dry_run: true,
                ..base()
            },
            "DryRunOperationException",
        ),
    ];
    for (req, want) in cases {
        assert_eq!(code(kms.re_encrypt(&alice, req)), want);
    }
    // Into another account's key: refused.
    let mallory = caller(MALLORY);
    let hers = new_key(&kms, &mallory);
    assert_eq!(
        code(kms.re_encrypt(
            &alice,
            ReEncryptRequest {
                destination_key_id: hers.arn,
                ..base()
            }
        )),
        "AccessDeniedException"
    );
}

#[test]
fn generate_data_key_variants() {
    let kms = kms();
    let alice = caller(ALICE);
    let key = new_key(&kms, &alice);
    let c = ctx(&[("file", "report.pdf")]);
    for (spec, bytes, len) in [
        (Some(DataKeySpec::Aes256), None, 32),
        (Some(DataKeySpec::Aes128), None, 16),
        (None, Some(1), 1),
        (None, Some(1024), 1024),
    ] {
        let out = kms
            .generate_data_key(
                &alice,
                GenerateDataKeyRequest {
                    key_id: key.key_id.clone(),
                    encryption_context: c.clone(),
                    key_spec: spec,
                    number_of_bytes: bytes,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(out.plaintext.len(), len);
        assert_eq!(out.key_id, key.arn);
        let unwrapped = decrypt(&kms, &alice, &out.ciphertext_blob, &c).unwrap();
        assert_eq!(unwrapped.plaintext.expose(), out.plaintext.expose());
    }
    let without = kms
        .generate_data_key_without_plaintext(
            &alice,
            GenerateDataKeyRequest {
                key_id: key.key_id.clone(),
                key_spec: Some(DataKeySpec::Aes256),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        decrypt(&kms, &alice, &without.ciphertext_blob, &ctx(&[]))
            .unwrap()
            .plaintext
            .len(),
        32
    );

    let base = || GenerateDataKeyRequest {
        key_id: key.key_id.clone(),
        ..Default::default()
    };
    let cases: Vec<(GenerateDataKeyRequest, &str)> = vec![
        (base(), "ValidationException"),
        (
            GenerateDataKeyRequest {
                key_spec: Some(DataKeySpec::Aes256),
                number_of_bytes: Some(32),
                ..base()
            },
            "ValidationException",
        ),
        (
            GenerateDataKeyRequest {
                number_of_bytes: Some(0),
                ..base()
            },
            "ValidationException",
        ),
        (
            GenerateDataKeyRequest {
                number_of_bytes: Some(1025),
                ..base()
            },
            "ValidationException",
        ),
        (
            GenerateDataKeyRequest {
                key_id: "alias/nope".into(),
                key_spec: Some(DataKeySpec::Aes256),
                ..base()
            },
            "NotFoundException",
        ),
        (
            GenerateDataKeyRequest {
                key_spec: Some(DataKeySpec::Aes256),
                dry_run: true,
                ..base()
            },
            "DryRunOperationException",
        ),
    ];
    for (req, want) in cases {
        assert_eq!(code(kms.generate_data_key(&alice, req.clone())), want);
        assert_eq!(
            code(kms.generate_data_key_without_plaintext(&alice, req)),
            want
        );
    }
}

#[test]
fn generate_random_bounds() {
    let kms = kms();
    let alice = caller(ALICE);
    for n in [1u32, 32, 1024] {
        let r = kms
            .generate_random(
                &alice,
                GenerateRandomRequest {
                    number_of_bytes: Some(n),
                },
            )
            .unwrap();
        assert_eq!(r.plaintext.len(), n as usize);
    }
    for n in [None, Some(0), Some(1025)] {
        assert_eq!(
            code(kms.generate_random(&alice, GenerateRandomRequest { number_of_bytes: n })),
            "ValidationException"
        );
    }
    // Two draws differ (a broken source would repeat).
    let a = kms
        .generate_random(
            &alice,
            GenerateRandomRequest {
                number_of_bytes: Some(32),
            },
        )
        .unwrap();
    let b = kms
        .generate_random(
            &alice,
            GenerateRandomRequest {
                number_of_bytes: Some(32),
            },
        )
        .unwrap();
    assert_ne!(a.plaintext.expose(), b.plaintext.expose());
}

#[test]
fn secrets_never_print() {
    let kms = kms();
    let alice = caller(ALICE);
    let key = new_key(&kms, &alice);
    let secret = b"SUPERSECRETPLAINTEXT-0123456789";
    let req = EncryptRequest {
        key_id: key.key_id.clone(),
        plaintext: secret.to_vec().into(),
        ..Default::default()
    };
    let req_debug = format!("{req:?}");
    let blob = kms.encrypt(&alice, req).unwrap().ciphertext_blob;
    let dec = decrypt(&kms, &alice, &blob, &ctx(&[])).unwrap();
    let dk = kms
        .generate_data_key(
            &alice,
            GenerateDataKeyRequest {
                key_id: key.key_id.clone(),
                key_spec: Some(DataKeySpec::Aes256),
                ..Default::default()
            },
        )
        .unwrap();
    let err = decrypt(&kms, &alice, &blob, &ctx(&[("x", "y")])).unwrap_err();
    let dumps = [
        req_debug,
        format!("{dec:?}"),
        format!("{dec:#?}"),
        format!("{dk:?}"),
        format!("{err:?}"),
        format!("{err}"),
        format!("{kms:?}"),
    ];
    let dk_hex: String = dk
        .plaintext
        .expose()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dk_list = format!("{:?}", dk.plaintext.expose());
    let secret_list = format!("{:?}", secret.as_slice());
    for d in &dumps {
        assert!(!d.contains("SUPERSECRET"), "{d}");
        assert!(!d.contains(&secret_list[1..20]), "{d}");
        assert!(!d.contains(&dk_hex), "{d}");
        assert!(!d.contains(&dk_list[1..dk_list.len() - 1]), "{d}");
    }
    assert!(dumps[1].contains("[redacted]"));
    assert!(dumps[3].contains("[redacted]"));
}

#[test]
fn warm_cache_means_no_store_reads() {
    let store = CountingStore::new(MemoryStore::new());
    let reads = store.counter();
    let kms = Kms::builder().store(Arc::new(store)).build().unwrap();
    let alice = caller(ALICE);
    let key = new_key(&kms, &alice);
    let c = ctx(&[]);
    let blob = encrypt(&kms, &alice, &key.key_id, b"warm", &c); // loads the key
    decrypt(&kms, &alice, &blob, &c).unwrap();
    let before = reads.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..100 {
        let b = encrypt(&kms, &alice, &key.arn, b"warm", &c);
        decrypt(&kms, &alice, &b, &c).unwrap();
    }
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), before);
}

#[test]
fn deterministic_randomness_gives_reproducible_blobs() {
    let make = || {
        Kms::builder()
            .random(Arc::new(DeterministicRandom::new(b"seed")))
            .clock(Arc::new(ManualClock::at_epoch_seconds(1_700_000_000)))
            .build()
            .unwrap()
    };
    let alice = caller(ALICE);
    let (a, b) = (make(), make());
    let ka = new_key(&a, &alice);
    let kb = new_key(&b, &alice);
    assert_eq!(ka.key_id, kb.key_id);
    let c = ctx(&[("k", "v")]);
    assert_eq!(
        encrypt(&a, &alice, &ka.key_id, b"same", &c),
        encrypt(&b, &alice, &kb.key_id, b"same", &c)
    );
}

#[test]
fn concurrent_use_from_many_threads() {
    let kms = Arc::new(kms());
    let alice = caller(ALICE);
    let key = new_key(&kms, &alice);
    std::thread::scope(|s| {
        for t in 0..4 {
            let kms = kms.clone();
            let alice = alice.clone();
            let key = key.key_id.clone();
            s.spawn(move || {
                for i in 0..200 {
                    let msg = format!("thread {t} message {i}");
                    let c = ctx(&[("t", &t.to_string())]);
                    let blob = encrypt(&kms, &alice, &key, msg.as_bytes(), &c);
                    let out = decrypt(&kms, &alice, &blob, &c).unwrap();
                    assert_eq!(out.plaintext.expose(), msg.as_bytes());
                }
            });
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_any_length_and_context(
        len in 1usize..=4096,
        byte in any::<u8>(),
        pairs in proptest::collection::btree_map("[a-zA-Z0-9:_-]{0,12}", ".{0,12}", 0..6),
    ) {
        let kms = kms();
        let alice = caller(ALICE);
        let key = new_key(&kms, &alice);
        let c: EncryptionContext = pairs.clone().into();
        let pt = vec![byte; len];
        let blob = encrypt(&kms, &alice, &key.key_id, &pt, &c);
        prop_assert_eq!(blob.len(), len + 93);
        let reversed: EncryptionContext = pairs.into_iter().rev().collect();
        let out = decrypt(&kms, &alice, &blob, &reversed).unwrap();
        prop_assert_eq!(out.plaintext.expose(), &pt[..]);
    }

    #[test]
    fn any_flipped_bit_fails(bit in 0usize..(8 * (93 + 40)), seed in any::<u64>()) {
        let kms = kms();
        let alice = caller(ALICE);
        let key = new_key(&kms, &alice);
        let c = ctx(&[("seed", &seed.to_string())]);
        let mut blob = encrypt(&kms, &alice, &key.key_id, &[0x5a; 40], &c);
        blob[bit / 8] ^= 1 << (bit % 8);
        let e = decrypt(&kms, &alice, &blob, &c).unwrap_err();
        // Flips in the key-id field name another (missing) key; everything else is invalid.
        prop_assert!(matches!(e.code(), "InvalidCiphertextException" | "NotFoundException"), "{}", e.code());
        if !(8..136).contains(&bit) {
            prop_assert_eq!(e.code(), "InvalidCiphertextException");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_decrypt(bytes in proptest::collection::vec(any::<u8>(), 1..300)) {
        let kms = kms();
        let alice = caller(ALICE);
        let _ = new_key(&kms, &alice);
        prop_assert!(decrypt(&kms, &alice, &bytes, &ctx(&[])).is_err());
    }
}
