//! Asymmetric signing keys through the facade: CreateKey with each SIGN_VERIFY spec, metadata,
//! GetPublicKey, Sign and Verify with RAW and DIGEST messages, usage and algorithm checks,
//! message-type rules, invalid signatures, key state, grants and audit records without the
//! message or the signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;

use coffer::audit_log::MemorySink;
use coffer::model::*;
use coffer::{Caller, Kms, SecretBytes};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:role/bob";
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

fn sign(
    kms: &Kms,
    key_id: &str,
    message: &[u8],
    message_type: MessageType,
    alg: SigningAlgorithmSpec,
) -> Result<SignResponse, coffer::Error> {
    kms.sign(
        &alice(),
        SignRequest {
            key_id: key_id.into(),
            message: SecretBytes::copy_from(message),
            message_type: Some(message_type),
            signing_algorithm: Some(alg),
            ..Default::default()
        },
    )
}

fn verify(
    kms: &Kms,
    key_id: &str,
    message: &[u8],
    message_type: MessageType,
    alg: SigningAlgorithmSpec,
    signature: &[u8],
) -> Result<VerifyResponse, coffer::Error> {
    kms.verify(
        &alice(),
        VerifyRequest {
            key_id: key_id.into(),
            message: SecretBytes::copy_from(message),
            message_type: Some(message_type),
            signature: signature.to_vec(),
            signing_algorithm: Some(alg),
            ..Default::default()
        },
    )
}

fn sha(alg: SigningAlgorithmSpec, m: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest as _;
    let name = alg.as_str();
    Some(if name.ends_with("_256") && !name.starts_with("ML_DSA") {
        sha2::Sha256::digest(m).to_vec()
    } else if name.ends_with("_384") {
        sha2::Sha384::digest(m).to_vec()
    } else if name.ends_with("_512") && !name.starts_with("ED25519") {
        sha2::Sha512::digest(m).to_vec()
    } else {
        return None;
    })
}

const SIGNING_SPECS: [KeySpec; 10] = [
    KeySpec::Rsa2048,
    KeySpec::Rsa3072,
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
    KeySpec::EccSecgP256k1,
    KeySpec::EccNistEdwards25519,
    KeySpec::MlDsa44,
    KeySpec::MlDsa65,
    KeySpec::MlDsa87,
];

#[test]
fn every_signing_spec_signs_and_verifies_each_of_its_algorithms() {
    let kms = kms_with(Arc::new(MemorySink::new()));
    for spec in SIGNING_SPECS {
        let meta = key(&kms, spec, KeyUsage::SignVerify);
        assert_eq!(meta.key_spec, spec);
        assert!(meta.encryption_algorithms.is_empty(), "{spec}");
        assert!(!meta.signing_algorithms.is_empty(), "{spec}");
        let public = kms
            .get_public_key(
                &alice(),
                GetPublicKeyRequest {
                    key_id: meta.key_id.clone(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(public.signing_algorithms, meta.signing_algorithms);
        assert_eq!(public.key_usage, KeyUsage::SignVerify);
        assert_eq!(public.public_key.first(), Some(&0x30), "DER SPKI");
        for &alg in &meta.signing_algorithms {
            if alg == SigningAlgorithmSpec::Ed25519PhSha512 {
                // DIGEST only: a 64-byte SHA-512 digest, prehashed again as AWS does.
                use sha2::Digest as _;
                let d = sha2::Sha512::digest(b"sign me").to_vec();
                let s = sign(&kms, &meta.key_id, &d, MessageType::Digest, alg).unwrap();
                verify(
                    &kms,
                    &meta.key_id,
                    &d,
                    MessageType::Digest,
                    alg,
                    &s.signature,
                )
                .unwrap();
                let e = verify(
                    &kms,
                    &meta.key_id,
                    &d[..],
                    MessageType::Digest,
                    alg,
                    &[0; 64],
                )
                .unwrap_err();
                assert_eq!(e.code(), "KMSInvalidSignatureException");
                let e = sign(&kms, &meta.key_id, &d, MessageType::Raw, alg).unwrap_err();
                assert_eq!(e.code(), "ValidationException");
                let e = sign(&kms, &meta.key_id, &d[..32], MessageType::Digest, alg).unwrap_err();
                assert_eq!(e.code(), "ValidationException");
                continue;
            }
            let msg = b"sign me, coffer";
            let s = sign(&kms, &meta.key_id, msg, MessageType::Raw, alg).unwrap();
            assert_eq!(s.signing_algorithm, alg);
            assert_eq!(s.key_id, meta.arn);
            let v = verify(&kms, &meta.key_id, msg, MessageType::Raw, alg, &s.signature).unwrap();
            assert!(v.signature_valid);
            let e = verify(
                &kms,
                &meta.key_id,
                b"another",
                MessageType::Raw,
                alg,
                &s.signature,
            )
            .unwrap_err();
            assert_eq!(e.code(), "KMSInvalidSignatureException", "{spec} {alg}");
            match sha(alg, msg) {
                Some(d) => {
                    let ds = sign(&kms, &meta.key_id, &d, MessageType::Digest, alg).unwrap();
                    verify(
                        &kms,
                        &meta.key_id,
                        msg,
                        MessageType::Raw,
                        alg,
                        &ds.signature,
                    )
                    .unwrap();
                    verify(
                        &kms,
                        &meta.key_id,
                        &d,
                        MessageType::Digest,
                        alg,
                        &s.signature,
                    )
                    .unwrap();
                    let e =
                        sign(&kms, &meta.key_id, &d[1..], MessageType::Digest, alg).unwrap_err();
                    assert_eq!(e.code(), "ValidationException", "{spec} {alg}");
                }
                None => {
                    let e =
                        sign(&kms, &meta.key_id, &[0; 64], MessageType::Digest, alg).unwrap_err();
                    assert_eq!(e.code(), "ValidationException", "{spec} {alg}");
                }
            }
        }
    }
}

#[test]
fn usage_algorithm_and_message_rules_are_enforced() {
    let kms = kms_with(Arc::new(MemorySink::new()));
    let p256 = key(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let e = sign(
        &kms,
        &p256.key_id,
        b"m",
        MessageType::Raw,
        SigningAlgorithmSpec::EcdsaSha384,
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
    let e = sign(
        &kms,
        &p256.key_id,
        b"m",
        MessageType::Raw,
        SigningAlgorithmSpec::RsassaPssSha256,
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
    let e = sign(
        &kms,
        &p256.key_id,
        &[],
        MessageType::Raw,
        SigningAlgorithmSpec::EcdsaSha256,
    )
    .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let e = sign(
        &kms,
        &p256.key_id,
        &[1; 4097],
        MessageType::Raw,
        SigningAlgorithmSpec::EcdsaSha256,
    )
    .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let e = sign(
        &kms,
        &p256.key_id,
        &[1; 64],
        MessageType::ExternalMu,
        SigningAlgorithmSpec::EcdsaSha256,
    )
    .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    // A symmetric key, an RSA decryption key and an ML-DSA key with DIGEST.
    let sym = key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let e = sign(
        &kms,
        &sym.key_id,
        b"m",
        MessageType::Raw,
        SigningAlgorithmSpec::EcdsaSha256,
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
    let e = kms
        .get_public_key(
            &alice(),
            GetPublicKeyRequest {
                key_id: sym.key_id,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
    let rsa = key(&kms, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
    assert!(rsa.signing_algorithms.is_empty());
    let e = sign(
        &kms,
        &rsa.key_id,
        b"m",
        MessageType::Raw,
        SigningAlgorithmSpec::RsassaPssSha256,
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
    let mldsa = key(&kms, KeySpec::MlDsa65, KeyUsage::SignVerify);
    let e = sign(
        &kms,
        &mldsa.key_id,
        &[0; 32],
        MessageType::Digest,
        SigningAlgorithmSpec::MlDsaShake256,
    )
    .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let e = sign(
        &kms,
        &mldsa.key_id,
        &[0; 64],
        MessageType::ExternalMu,
        SigningAlgorithmSpec::MlDsaShake256,
    )
    .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
    // Usage a spec does not allow; SM2 is not implemented.
    let e = kms
        .create_key(
            &alice(),
            CreateKeyRequest {
                key_spec: Some(KeySpec::EccSecgP256k1),
                key_usage: Some(KeyUsage::KeyAgreement),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let e = kms
        .create_key(
            &alice(),
            CreateKeyRequest {
                key_spec: Some(KeySpec::Sm2),
                key_usage: Some(KeyUsage::SignVerify),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
}

#[test]
fn disabled_keys_other_principals_and_rotation() {
    let kms = kms_with(Arc::new(MemorySink::new()));
    let meta = key(&kms, KeySpec::EccNistP384, KeyUsage::SignVerify);
    let alg = SigningAlgorithmSpec::EcdsaSha384;
    let s = sign(&kms, &meta.key_id, b"m", MessageType::Raw, alg).unwrap();
    // Bob has no policy of his own and the key policy gives the account to IAM: denied.
    let bob = Caller::new(BOB).unwrap();
    let e = kms
        .sign(
            &bob,
            SignRequest {
                key_id: meta.key_id.clone(),
                message: SecretBytes::copy_from(b"m"),
                signing_algorithm: Some(alg),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    kms.disable_key(
        &alice(),
        KeyIdRequest {
            key_id: meta.key_id.clone(),
        },
    )
    .unwrap();
    let e = verify(
        &kms,
        &meta.key_id,
        b"m",
        MessageType::Raw,
        alg,
        &s.signature,
    )
    .unwrap_err();
    assert_eq!(e.code(), "DisabledException");
    let e = kms
        .enable_key_rotation(
            &alice(),
            EnableKeyRotationRequest {
                key_id: meta.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap_err();
    // The key state is checked before what the key supports, as AWS's key-state table
    // applies to every operation on a key.
    assert_eq!(e.code(), "DisabledException");
    kms.enable_key(
        &alice(),
        KeyIdRequest {
            key_id: meta.key_id.clone(),
        },
    )
    .unwrap();
    let e = kms
        .rotate_key_on_demand(
            &alice(),
            KeyIdRequest {
                key_id: meta.key_id.clone(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
    let e = kms
        .enable_key_rotation(
            &alice(),
            EnableKeyRotationRequest {
                key_id: meta.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
}

#[test]
fn audit_records_name_the_algorithm_never_the_message_or_signature() {
    let sink = Arc::new(MemorySink::new());
    let kms = kms_with(sink.clone());
    let meta = key(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let alg = SigningAlgorithmSpec::EcdsaSha256;
    let message = b"a very recognisable message 0123456789";
    let s = sign(&kms, &meta.key_id, message, MessageType::Raw, alg).unwrap();
    verify(
        &kms,
        &meta.key_id,
        message,
        MessageType::Raw,
        alg,
        &s.signature,
    )
    .unwrap();
    let mut bad = s.signature.clone();
    bad[10] ^= 1;
    verify(&kms, &meta.key_id, message, MessageType::Raw, alg, &bad).unwrap_err();
    let events = sink.events();
    let names: Vec<_> = events.iter().map(|e| &*e.event_name).collect();
    assert_eq!(names, ["CreateKey", "Sign", "Verify", "Verify"]);
    assert_eq!(
        events[3].error_code.as_deref(),
        Some("KMSInvalidSignatureException")
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        b64.encode(message),
        b64.encode(&s.signature),
        String::from_utf8_lossy(message).into_owned(),
        s.signature
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    ];
    for e in &events[1..] {
        assert!(e.read_only);
        assert_eq!(e.resources[0].arn, meta.arn);
        let params = e.request_parameters.as_ref().unwrap();
        assert_eq!(params["signingAlgorithm"], "ECDSA_SHA_256");
        assert_eq!(params["messageType"], "RAW");
        let json = serde_json::to_string(e).unwrap();
        for f in &forms {
            assert!(!json.contains(f.as_str()), "{f} in {json}");
        }
    }
}

#[test]
fn signing_keys_survive_a_reopen_of_the_data_directory() {
    use coffer::{DataDir, RootKeySource};
    let tmp = std::env::temp_dir().join(format!("coffer-sign-reopen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let (data, key_file) = (tmp.join("data"), tmp.join("root.key"));
    let open = || {
        DataDir::open(&data, RootKeySource::key_file(&key_file))
            .unwrap()
            .builder()
            .quotas(coffer::QuotaConfig {
                enabled: false,
                ..Default::default()
            })
            .build()
            .unwrap()
    };
    let mut made = Vec::new();
    {
        let kms = open();
        for spec in [
            KeySpec::Rsa2048,
            KeySpec::EccNistP521,
            KeySpec::EccNistEdwards25519,
            KeySpec::MlDsa44,
        ] {
            let meta = key(&kms, spec, KeyUsage::SignVerify);
            let public = kms
                .get_public_key(
                    &alice(),
                    GetPublicKeyRequest {
                        key_id: meta.key_id.clone(),
                        ..Default::default()
                    },
                )
                .unwrap()
                .public_key;
            made.push((meta, public));
        }
    }
    let kms = open();
    for (meta, public) in &made {
        // The private key came back from the store, unwrapped under the root key.
        let again = kms
            .get_public_key(
                &alice(),
                GetPublicKeyRequest {
                    key_id: meta.key_id.clone(),
                    ..Default::default()
                },
            )
            .unwrap()
            .public_key;
        assert_eq!(&again, public);
        let alg = meta.signing_algorithms[0];
        let s = sign(&kms, &meta.key_id, b"m", MessageType::Raw, alg).unwrap();
        verify(
            &kms,
            &meta.key_id,
            b"m",
            MessageType::Raw,
            alg,
            &s.signature,
        )
        .unwrap();
    }
    drop(kms);
    let _ = std::fs::remove_dir_all(&tmp);
}
