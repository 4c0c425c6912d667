//! Asymmetric operations through the facade, each beside the raw coffer-crypto primitive on a key
//! of the same spec, measured in the same run:
//!
//! - Sign and Verify of a 1 KiB RAW message for every signing spec (RSA with RSASSA-PSS SHA-256)
//!   against `PrivateKey::sign` / `asym::verify`;
//! - Decrypt with RSAES_OAEP_SHA_256 of a 32-byte plaintext for each RSA size against
//!   `PrivateKey::decrypt_oaep`;
//! - GenerateDataKeyPair for each pair spec against `PrivateKey::generate` of the same algorithm.
//!
//! The facade is built as in the tests: quotas off, no audit sink, the default key policy and an
//! admin identity policy on the caller. Target: at most 1.1× the primitive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench may panic on setup failure

use std::time::Duration;

use coffer::model::*;
use coffer::{Caller, Kms, SecretBytes};
use coffer_crypto::asym::{
    self, AsymmetricAlgorithm, KeyRole, OaepHash, PrivateKey, SignedMessage,
};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};

/// An identity policy allowing every KMS action (the principal still needs the key policy).
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

const MESSAGE_LEN: usize = 1024;

/// Every signing spec with the algorithm benched for it.
const SIGNING: [(KeySpec, SigningAlgorithmSpec); 11] = [
    (KeySpec::Rsa2048, SigningAlgorithmSpec::RsassaPssSha256),
    (KeySpec::Rsa3072, SigningAlgorithmSpec::RsassaPssSha256),
    (KeySpec::Rsa4096, SigningAlgorithmSpec::RsassaPssSha256),
    (KeySpec::EccNistP256, SigningAlgorithmSpec::EcdsaSha256),
    (KeySpec::EccNistP384, SigningAlgorithmSpec::EcdsaSha384),
    (KeySpec::EccNistP521, SigningAlgorithmSpec::EcdsaSha512),
    (KeySpec::EccSecgP256k1, SigningAlgorithmSpec::EcdsaSha256),
    (
        KeySpec::EccNistEdwards25519,
        SigningAlgorithmSpec::Ed25519Sha512,
    ),
    (KeySpec::MlDsa44, SigningAlgorithmSpec::MlDsaShake256),
    (KeySpec::MlDsa65, SigningAlgorithmSpec::MlDsaShake256),
    (KeySpec::MlDsa87, SigningAlgorithmSpec::MlDsaShake256),
];

/// Every pair spec coffer implements, with the role the baseline generates it for.
const PAIRS: [(DataKeyPairSpec, KeyRole); 11] = [
    (DataKeyPairSpec::Rsa2048, KeyRole::Sign),
    (DataKeyPairSpec::Rsa3072, KeyRole::Sign),
    (DataKeyPairSpec::Rsa4096, KeyRole::Sign),
    (DataKeyPairSpec::EccNistP256, KeyRole::Sign),
    (DataKeyPairSpec::EccNistP384, KeyRole::Sign),
    (DataKeyPairSpec::EccNistP521, KeyRole::Sign),
    (DataKeyPairSpec::EccSecgP256k1, KeyRole::Sign),
    (DataKeyPairSpec::EccNistEdwards25519, KeyRole::Sign),
    (DataKeyPairSpec::MlKem512, KeyRole::Decapsulate),
    (DataKeyPairSpec::MlKem768, KeyRole::Decapsulate),
    (DataKeyPairSpec::MlKem1024, KeyRole::Decapsulate),
];

fn setup() -> (Kms, Caller) {
    let kms = Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .build()
        .unwrap();
    let caller = Caller::new("arn:aws:iam::111122223333:user/bench")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    (kms, caller)
}

fn create(kms: &Kms, caller: &Caller, spec: KeySpec, usage: KeyUsage) -> String {
    kms.create_key(
        caller,
        CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(usage),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .key_id
}

/// Key generation and RSA private operations are slow: a few flat samples keep the run short.
fn slow(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
}

fn sign_verify(c: &mut Criterion) {
    let (kms, caller) = setup();
    let message = vec![0x5au8; MESSAGE_LEN];
    for (spec, algorithm) in SIGNING {
        let key_id = create(&kms, &caller, spec, KeyUsage::SignVerify);
        let alg = spec.asymmetric().unwrap();
        let scheme = algorithm.scheme().unwrap();
        let raw = PrivateKey::generate(alg, KeyRole::Sign).unwrap();
        let name = spec.as_str();

        let mut g = c.benchmark_group(format!("sign/{name}"));
        if spec.as_str().starts_with("RSA") {
            slow(&mut g);
        }
        // Both sides take a wiped-on-drop copy of the message built outside the timed routine.
        g.bench_function("primitive", |b| {
            b.iter_batched(
                || SecretBytes::copy_from(&message),
                |m| {
                    let sig = raw.sign(scheme, SignedMessage::Raw(m.expose())).unwrap();
                    (sig, m)
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("coffer", |b| {
            b.iter_batched(
                || SignRequest {
                    key_id: key_id.clone(),
                    message: SecretBytes::copy_from(&message),
                    message_type: Some(MessageType::Raw),
                    signing_algorithm: Some(algorithm),
                    ..Default::default()
                },
                |req| kms.sign(&caller, req).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.finish();

        let raw_sig = raw.sign(scheme, SignedMessage::Raw(&message)).unwrap();
        let kms_sig = kms
            .sign(
                &caller,
                SignRequest {
                    key_id: key_id.clone(),
                    message: SecretBytes::copy_from(&message),
                    message_type: Some(MessageType::Raw),
                    signing_algorithm: Some(algorithm),
                    ..Default::default()
                },
            )
            .unwrap()
            .signature;
        let public = raw.public_key_der().to_vec();
        let mut g = c.benchmark_group(format!("verify/{name}"));
        g.bench_function("primitive", |b| {
            b.iter_batched(
                || SecretBytes::copy_from(&message),
                |m| {
                    let ok = asym::verify(
                        alg,
                        &public,
                        scheme,
                        SignedMessage::Raw(m.expose()),
                        &raw_sig,
                    )
                    .unwrap();
                    assert!(ok);
                    m
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("coffer", |b| {
            b.iter_batched(
                || VerifyRequest {
                    key_id: key_id.clone(),
                    message: SecretBytes::copy_from(&message),
                    message_type: Some(MessageType::Raw),
                    signature: kms_sig.clone(),
                    signing_algorithm: Some(algorithm),
                    ..Default::default()
                },
                |req| assert!(kms.verify(&caller, req).unwrap().signature_valid),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

fn rsa_decrypt(c: &mut Criterion) {
    let (kms, caller) = setup();
    let data_key = [0x24u8; 32];
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        let key_id = create(&kms, &caller, spec, KeyUsage::EncryptDecrypt);
        let public = kms
            .get_public_key(
                &caller,
                GetPublicKeyRequest {
                    key_id: key_id.clone(),
                    ..Default::default()
                },
            )
            .unwrap()
            .public_key;
        let blob = asym::encrypt_oaep(&public, OaepHash::Sha256, &data_key).unwrap();
        let request = || DecryptRequest {
            ciphertext_blob: blob.clone(),
            key_id: Some(key_id.clone()),
            encryption_algorithm: Some(EncryptionAlgorithmSpec::RsaesOaepSha256),
            ..Default::default()
        };
        let out = kms.decrypt(&caller, request()).unwrap();
        assert_eq!(out.plaintext.expose(), &data_key[..]);
        let raw = PrivateKey::generate(spec.asymmetric().unwrap(), KeyRole::Decrypt).unwrap();
        let raw_blob =
            asym::encrypt_oaep(raw.public_key_der(), OaepHash::Sha256, &data_key).unwrap();

        let mut g = c.benchmark_group(format!("decrypt_oaep_sha256/{spec}"));
        slow(&mut g);
        // Both sides under the same harness: outputs kept until the batch ends.
        g.bench_function("primitive", |b| {
            b.iter_batched(
                || (),
                |()| raw.decrypt_oaep(OaepHash::Sha256, &raw_blob).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.bench_function("coffer", |b| {
            b.iter_batched(
                request,
                |req| kms.decrypt(&caller, req).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

fn data_key_pairs(c: &mut Criterion) {
    let (kms, caller) = setup();
    let key_id = create(
        &kms,
        &caller,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    for (spec, role) in PAIRS {
        let request = || GenerateDataKeyPairRequest {
            key_id: key_id.clone(),
            key_pair_spec: Some(spec),
            ..Default::default()
        };
        let pair = kms.generate_data_key_pair(&caller, request()).unwrap();
        assert_eq!(pair.key_pair_spec, spec);
        let alg: AsymmetricAlgorithm = spec.algorithm().unwrap();
        let mut g = c.benchmark_group(format!("generate_data_key_pair/{spec}"));
        if spec.as_str().starts_with("RSA") {
            slow(&mut g);
            // RSA-4096 takes up to seconds a key, with a wide spread (the prime search).
            g.measurement_time(Duration::from_secs(if spec == DataKeyPairSpec::Rsa4096 {
                10
            } else {
                5
            }));
        }
        // Both sides under the same harness, and both drop what they made inside the timed
        // routine (as a caller would): a batch of kept key objects or responses would otherwise
        // grow the heap during the measurement, unequally for the two sides.
        g.bench_function("primitive", |b| {
            b.iter_batched(
                || (),
                |()| drop(black_box(PrivateKey::generate(alg, role).unwrap())),
                BatchSize::SmallInput,
            )
        });
        g.bench_function("coffer", |b| {
            b.iter_batched(
                request,
                |req| drop(black_box(kms.generate_data_key_pair(&caller, req).unwrap())),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, sign_verify, rsa_decrypt, data_key_pairs);
criterion_main!(benches);
