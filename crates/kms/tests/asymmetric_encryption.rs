//! RSA-OAEP Encrypt, Decrypt and ReEncrypt across symmetric and asymmetric keys, data key pairs
//! (GenerateDataKeyPair(+WithoutPlaintext)) and GetKeyLastUsage, through the facade.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::collections::BTreeMap;
use std::sync::Arc;

use coffer::audit_log::MemorySink;
use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms, SecretBytes};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn kms_with(sink: Arc<MemorySink>) -> Kms {
    Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .audit_sink(sink)
        .build()
        .unwrap()
}

fn kms() -> Kms {
    kms_with(Arc::new(MemorySink::new()))
}

fn alice() -> Caller {
    Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
}

fn key(kms: &Kms, spec: KeySpec, usage: KeyUsage) -> KeyMetadata {
    kms.create_key(
        &alice(),
        CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(usage),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
}

fn encrypt(
    kms: &Kms,
    key_id: &str,
    pt: &[u8],
    alg: EncryptionAlgorithmSpec,
) -> Result<EncryptResponse, coffer::Error> {
    kms.encrypt(
        &alice(),
        EncryptRequest {
            key_id: key_id.into(),
            plaintext: SecretBytes::copy_from(pt),
            encryption_algorithm: Some(alg),
            ..Default::default()
        },
    )
}

fn decrypt(
    kms: &Kms,
    key_id: Option<&str>,
    ct: &[u8],
    alg: EncryptionAlgorithmSpec,
) -> Result<DecryptResponse, coffer::Error> {
    kms.decrypt(
        &alice(),
        DecryptRequest {
            key_id: key_id.map(Into::into),
            ciphertext_blob: ct.to_vec(),
            encryption_algorithm: Some(alg),
            ..Default::default()
        },
    )
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    EncryptionContext::from(map)
}

#[test]
fn rsa_oaep_round_trips_at_the_aws_size_limits() {
    let kms = kms();
    use EncryptionAlgorithmSpec::*;
    for (spec, sha1, sha256) in [(KeySpec::Rsa2048, 214, 190), (KeySpec::Rsa3072, 342, 318)] {
        let k = key(&kms, spec, KeyUsage::EncryptDecrypt);
        assert_eq!(k.encryption_algorithms, [RsaesOaepSha1, RsaesOaepSha256]);
        for (alg, max) in [(RsaesOaepSha1, sha1), (RsaesOaepSha256, sha256)] {
            let pt = vec![0x5a; max];
            let ct = encrypt(&kms, &k.key_id, &pt, alg).unwrap();
            assert_eq!(ct.encryption_algorithm, alg);
            let back = decrypt(&kms, Some(&k.key_id), &ct.ciphertext_blob, alg).unwrap();
            assert_eq!(back.plaintext.expose(), &pt[..]);
            assert_eq!(back.encryption_algorithm, alg);
            let e = encrypt(&kms, &k.key_id, &vec![0x5a; max + 1], alg).unwrap_err();
            assert_eq!(e.code(), "ValidationException", "{spec} {alg}");
        }
        // No KeyId: an OAEP ciphertext names no key.
        let ct = encrypt(&kms, &k.key_id, b"x", RsaesOaepSha256).unwrap();
        let e = decrypt(&kms, None, &ct.ciphertext_blob, RsaesOaepSha256).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        // The other OAEP hash, a tampered ciphertext: InvalidCiphertextException, no detail.
        let e = decrypt(&kms, Some(&k.key_id), &ct.ciphertext_blob, RsaesOaepSha1).unwrap_err();
        assert_eq!(e.code(), "InvalidCiphertextException");
        let mut bad = ct.ciphertext_blob.clone();
        bad[7] ^= 1;
        let e = decrypt(&kms, Some(&k.key_id), &bad, RsaesOaepSha256).unwrap_err();
        assert_eq!(e.code(), "InvalidCiphertextException");
        assert!(e.message().is_empty(), "{}", e.message());
        // SYMMETRIC_DEFAULT on an RSA key, OAEP on a symmetric key, a context: refused.
        let e = encrypt(&kms, &k.key_id, b"x", SymmetricDefault).unwrap_err();
        assert_eq!(e.code(), "InvalidKeyUsageException");
        let e = kms
            .encrypt(
                &alice(),
                EncryptRequest {
                    key_id: k.key_id.clone(),
                    plaintext: SecretBytes::copy_from(b"x"),
                    encryption_algorithm: Some(RsaesOaepSha256),
                    encryption_context: ctx(&[("a", "b")]),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        // An OAEP ciphertext sent without its algorithm (SYMMETRIC_DEFAULT, stated or not)
        // while naming the RSA key: the algorithm does not fit the key, as AWS answers. (One
        // OAEP ciphertext in 128 starts with one of coffer's blob format bytes, 1 (a blob) or 2
        // (a custom key store's blob), and is judged as a coffer blob, which names some other
        // key: IncorrectKeyException. Take one that does not, so that the test is
        // deterministic.)
        let ct = (0..64)
            .map(|_| encrypt(&kms, &k.key_id, b"x", RsaesOaepSha256).unwrap())
            .find(|c| !matches!(c.ciphertext_blob[0], 1 | 2))
            .unwrap();
        let e = decrypt(&kms, Some(&k.key_id), &ct.ciphertext_blob, SymmetricDefault).unwrap_err();
        assert_eq!(e.code(), "InvalidKeyUsageException");
        let no_alg = |caller: &Caller| {
            kms.decrypt(
                caller,
                DecryptRequest {
                    key_id: Some(k.arn.clone()),
                    ciphertext_blob: ct.ciphertext_blob.clone(),
                    ..Default::default()
                },
            )
            .unwrap_err()
        };
        assert_eq!(no_alg(&alice()).code(), "InvalidKeyUsageException");
        // Another principal learns nothing about the key: refused before its spec is looked at.
        let mallory = Caller::new("arn:aws:iam::444455556666:user/mallory").unwrap();
        assert_eq!(no_alg(&mallory).code(), "AccessDeniedException");
    }
    let sym = key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    // Garbage naming a symmetric key: the blob is bad.
    let e = decrypt(&kms, Some(&sym.key_id), &[7u8; 300], SymmetricDefault).unwrap_err();
    assert_eq!(e.code(), "InvalidCiphertextException");
    let e = encrypt(&kms, &sym.key_id, b"x", RsaesOaepSha256).unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
    let signer = key(&kms, KeySpec::Rsa2048, KeyUsage::SignVerify);
    let e = encrypt(&kms, &signer.key_id, b"x", RsaesOaepSha256).unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
}

#[test]
fn re_encrypt_moves_between_symmetric_and_rsa_keys() {
    let kms = kms();
    use EncryptionAlgorithmSpec::*;
    let sym = key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let rsa = key(&kms, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
    let rsa2 = key(&kms, KeySpec::Rsa3072, KeyUsage::EncryptDecrypt);
    let secret = b"moved without leaving the service";
    let ct = kms
        .encrypt(
            &alice(),
            EncryptRequest {
                key_id: sym.key_id.clone(),
                plaintext: SecretBytes::copy_from(secret),
                encryption_context: ctx(&[("purpose", "test")]),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob;
    // Symmetric → RSA.
    let to_rsa = kms
        .re_encrypt(
            &alice(),
            ReEncryptRequest {
                ciphertext_blob: ct,
                source_encryption_context: ctx(&[("purpose", "test")]),
                destination_key_id: rsa.key_id.clone(),
                destination_encryption_algorithm: Some(RsaesOaepSha256),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(to_rsa.destination_encryption_algorithm, RsaesOaepSha256);
    assert_eq!(to_rsa.source_key_id, sym.arn);
    let back = decrypt(
        &kms,
        Some(&rsa.key_id),
        &to_rsa.ciphertext_blob,
        RsaesOaepSha256,
    )
    .unwrap();
    assert_eq!(back.plaintext.expose(), secret);
    // RSA → RSA (SourceKeyId required) → symmetric.
    let e = kms
        .re_encrypt(
            &alice(),
            ReEncryptRequest {
                ciphertext_blob: to_rsa.ciphertext_blob.clone(),
                source_encryption_algorithm: Some(RsaesOaepSha256),
                destination_key_id: rsa2.key_id.clone(),
                destination_encryption_algorithm: Some(RsaesOaepSha1),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let to_rsa2 = kms
        .re_encrypt(
            &alice(),
            ReEncryptRequest {
                ciphertext_blob: to_rsa.ciphertext_blob,
                source_key_id: Some(rsa.key_id.clone()),
                source_encryption_algorithm: Some(RsaesOaepSha256),
                destination_key_id: rsa2.key_id.clone(),
                destination_encryption_algorithm: Some(RsaesOaepSha1),
                ..Default::default()
            },
        )
        .unwrap();
    let to_sym = kms
        .re_encrypt(
            &alice(),
            ReEncryptRequest {
                ciphertext_blob: to_rsa2.ciphertext_blob,
                source_key_id: Some(rsa2.key_id.clone()),
                source_encryption_algorithm: Some(RsaesOaepSha1),
                destination_key_id: sym.key_id.clone(),
                destination_encryption_context: ctx(&[("back", "home")]),
                ..Default::default()
            },
        )
        .unwrap();
    let back = kms
        .decrypt(
            &alice(),
            DecryptRequest {
                ciphertext_blob: to_sym.ciphertext_blob,
                encryption_context: ctx(&[("back", "home")]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(back.plaintext.expose(), secret);
}

#[test]
fn data_key_pairs_of_every_spec_are_usable_and_wrapped() {
    let kms = kms();
    let wrapper = key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    use DataKeyPairSpec::*;
    for spec in [
        Rsa2048,
        EccNistP256,
        EccNistP384,
        EccNistP521,
        EccSecgP256k1,
        EccNistEdwards25519,
        MlKem512,
        MlKem768,
        MlKem1024,
    ] {
        let pair = kms
            .generate_data_key_pair(
                &alice(),
                GenerateDataKeyPairRequest {
                    key_id: wrapper.key_id.clone(),
                    key_pair_spec: Some(spec),
                    encryption_context: ctx(&[("pair", spec.as_str())]),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(pair.key_pair_spec, spec);
        assert_eq!(pair.key_id, wrapper.arn);
        assert_eq!(pair.public_key.first(), Some(&0x30), "{spec}");
        assert_eq!(
            pair.private_key_plaintext.expose().first(),
            Some(&0x30),
            "{spec}"
        );
        // The wrapped private key decrypts (with its context) to the plaintext one.
        let opened = kms
            .decrypt(
                &alice(),
                DecryptRequest {
                    ciphertext_blob: pair.private_key_ciphertext_blob.clone(),
                    encryption_context: ctx(&[("pair", spec.as_str())]),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            opened.plaintext.expose(),
            pair.private_key_plaintext.expose()
        );
        assert!(
            !format!("{pair:?}").contains(&format!("{:?}", pair.private_key_plaintext.expose()))
        );
        let without = kms
            .generate_data_key_pair_without_plaintext(
                &alice(),
                GenerateDataKeyPairRequest {
                    key_id: wrapper.key_id.clone(),
                    key_pair_spec: Some(spec),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_ne!(
            without.public_key, pair.public_key,
            "a fresh pair each call"
        );
    }
    // SM2 is not implemented; an asymmetric key cannot wrap; the spec is required.
    let req = |key_id: &str, spec| GenerateDataKeyPairRequest {
        key_id: key_id.into(),
        key_pair_spec: spec,
        ..Default::default()
    };
    let e = kms
        .generate_data_key_pair(&alice(), req(&wrapper.key_id, Some(Sm2)))
        .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
    let rsa = key(&kms, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
    let e = kms
        .generate_data_key_pair(&alice(), req(&rsa.key_id, Some(EccNistP256)))
        .unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
    let e = kms
        .generate_data_key_pair(&alice(), req(&wrapper.key_id, None))
        .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
}

#[test]
fn data_key_pairs_draw_from_their_spec_quota() {
    // A clock that moves only when told: an RSA-4096 key generation that takes seconds on a
    // loaded machine must not refill the bucket between the two calls.
    let clock = Arc::new(coffer::testing::ManualClock::new(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
    ));
    let kms = Kms::builder()
        .quotas(coffer::QuotaConfig::default())
        .clock(clock)
        .build()
        .unwrap();
    let wrapper = key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let req = || GenerateDataKeyPairRequest {
        key_id: wrapper.key_id.clone(),
        key_pair_spec: Some(DataKeyPairSpec::Rsa4096),
        ..Default::default()
    };
    // RSA_4096 data key pairs: 0.1 per second; the bucket holds one, the second is throttled
    // (the clock does not move between the two calls).
    let first = kms.generate_data_key_pair_without_plaintext(&alice(), req());
    assert!(first.is_ok(), "{first:?}");
    let e = kms
        .generate_data_key_pair_without_plaintext(&alice(), req())
        .unwrap_err();
    assert_eq!(e.code(), "ThrottlingException");
    // Other pair specs and Encrypt are unaffected.
    kms.generate_data_key_pair_without_plaintext(
        &alice(),
        GenerateDataKeyPairRequest {
            key_pair_spec: Some(DataKeyPairSpec::EccNistP256),
            ..req()
        },
    )
    .unwrap();
    encrypt(
        &kms,
        &wrapper.key_id,
        b"x",
        EncryptionAlgorithmSpec::SymmetricDefault,
    )
    .unwrap();
}

#[test]
fn get_key_last_usage_reports_the_last_successful_cryptographic_call() {
    let sink = Arc::new(MemorySink::new());
    let kms = kms_with(sink.clone());
    let k = key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let usage =
        |id: &str| kms.get_key_last_usage(&alice(), GetKeyLastUsageRequest { key_id: id.into() });
    let fresh = usage(&k.key_id).unwrap();
    assert_eq!(fresh.key_last_usage, None);
    assert_eq!(fresh.key_creation_date, k.creation_date);
    assert!(fresh.tracking_start_date <= fresh.key_creation_date);
    assert_eq!(fresh.key_id, k.arn);
    let ct = encrypt(
        &kms,
        &k.key_id,
        b"x",
        EncryptionAlgorithmSpec::SymmetricDefault,
    )
    .unwrap();
    let last = usage(&k.key_id).unwrap().key_last_usage.unwrap();
    assert_eq!(last.operation, "Encrypt");
    let event = sink
        .events()
        .into_iter()
        .rev()
        .find(|e| e.event_name == "Encrypt")
        .unwrap();
    assert_eq!(
        last.cloud_trail_event_id.as_deref(),
        Some(event.event_id.as_str())
    );
    // A failed call and non-cryptographic calls leave it alone.
    kms.decrypt(
        &alice(),
        DecryptRequest {
            ciphertext_blob: ct.ciphertext_blob.clone(),
            encryption_context: ctx(&[("wrong", "context")]),
            ..Default::default()
        },
    )
    .unwrap_err();
    kms.describe_key(
        &alice(),
        DescribeKeyRequest {
            key_id: k.key_id.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        usage(&k.key_id).unwrap().key_last_usage.unwrap().operation,
        "Encrypt"
    );
    decrypt(
        &kms,
        None,
        &ct.ciphertext_blob,
        EncryptionAlgorithmSpec::SymmetricDefault,
    )
    .unwrap();
    assert_eq!(
        usage(&k.key_id).unwrap().key_last_usage.unwrap().operation,
        "Decrypt"
    );
    // ReEncrypt uses two keys: both record it, with the one event.
    let k2 = key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    kms.re_encrypt(
        &alice(),
        ReEncryptRequest {
            ciphertext_blob: ct.ciphertext_blob.clone(),
            destination_key_id: k2.key_id.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let (a, b) = (
        usage(&k.key_id).unwrap().key_last_usage.unwrap(),
        usage(&k2.key_id).unwrap().key_last_usage.unwrap(),
    );
    assert_eq!(
        (a.operation.as_str(), b.operation.as_str()),
        ("ReEncrypt", "ReEncrypt")
    );
    assert!(a.cloud_trail_event_id.is_some());
    assert_eq!(a.cloud_trail_event_id, b.cloud_trail_event_id);
    // Aliases are refused (key id or ARN only), as AWS refuses them.
    kms.create_alias(
        &alice(),
        AliasRequest {
            alias_name: "alias/used".into(),
            target_key_id: k.key_id.clone(),
        },
    )
    .unwrap();
    assert_eq!(usage("alias/used").unwrap_err().code(), "NotFoundException");
    assert!(usage(&k.arn).is_ok());
}
