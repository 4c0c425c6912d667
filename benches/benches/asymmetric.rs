//! Asymmetric operations through the facade, each beside the raw coffer-crypto primitive on a key
//! of the same spec, measured in the same run:
//!
//! - Sign and Verify of a 1 KiB RAW message for every signing spec (RSA with RSASSA-PSS SHA-256)
//!   against `PrivateKey::sign` / `asym::verify`;
//! - Decrypt with RSAES_OAEP_SHA_256 of a 32-byte plaintext for each RSA size against
//!   `PrivateKey::decrypt_oaep`;
//! - GenerateDataKeyPair for each pair spec against `PrivateKey::generate` of the same algorithm,
//!   and (except RSA) against generate + PKCS #8 + sealing that as a symmetric blob is sealed.
//!
//! **Paired measurement.** This machine is shared, and its load moves by a factor of two within
//! seconds; two benchmarks run one after the other then differ by more than the facade costs. So
//! each benchmark here runs *both* sides, alternating one call of the primitive with one call
//! through the facade, and reports the time of its own side only (`iter_custom`): both sides see
//! the same load, call by call. Inputs are built, and outputs dropped, outside the timed calls.
//! Each group then prints a `paired` line: the medians of both sides over every pair of calls and
//! the median per-pair ratio, the figure to quote (criterion's two estimates still come from two
//! different stretches of time).
//!
//! The facade is built as in the tests: quotas off, no audit sink, the default key policy and an
//! admin identity policy on the caller. Target: at most 1.1× the primitive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench may panic on setup failure

use std::time::Duration;

use coffer_benches::paired;

use coffer::model::*;
use coffer::{Caller, Kms, SecretBytes};
use coffer_crypto::aead::{Aes256Gcm, Nonce};
use coffer_crypto::asym::{
    self, AsymmetricAlgorithm, KeyRole, OaepHash, PrivateKey, SignedMessage,
};
use coffer_crypto::{hkdf_sha256, RandomSource, SymmetricKey, SystemRandom};
use criterion::{criterion_group, criterion_main, Criterion};

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

/// Every pair spec coffer implements, with the role the facade generates it for.
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

fn sign_verify(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let (kms, caller) = setup();
    let message = vec![0x5au8; MESSAGE_LEN];
    for (spec, algorithm) in SIGNING {
        let key_id = create(&kms, &caller, spec, KeyUsage::SignVerify);
        let alg = spec.asymmetric().unwrap();
        let scheme = algorithm.scheme().unwrap();
        let raw = PrivateKey::generate(alg, KeyRole::Sign).unwrap();
        let rsa = spec.as_str().starts_with("RSA");
        let slow = rsa.then_some(Duration::from_secs(3));
        let sign_request = || SignRequest {
            key_id: key_id.clone(),
            message: SecretBytes::copy_from(&message),
            message_type: Some(MessageType::Raw),
            signing_algorithm: Some(algorithm),
            ..Default::default()
        };

        // Both sides take a wiped-on-drop copy of the message built outside the timed call.
        paired(
            c,
            &format!("sign/{spec}"),
            slow,
            &mut (
                || SecretBytes::copy_from(&message),
                |m: SecretBytes| (raw.sign(scheme, SignedMessage::Raw(m.expose())).unwrap(), m),
            ),
            &mut (sign_request, |req: SignRequest| {
                kms.sign(&caller, req).unwrap()
            }),
        );

        let raw_sig = raw.sign(scheme, SignedMessage::Raw(&message)).unwrap();
        let kms_sig = kms.sign(&caller, sign_request()).unwrap().signature;
        let public = raw.public_key_der().to_vec();
        paired(
            c,
            &format!("verify/{spec}"),
            None,
            &mut (
                || SecretBytes::copy_from(&message),
                |m: SecretBytes| {
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
            ),
            &mut (
                || VerifyRequest {
                    key_id: key_id.clone(),
                    message: SecretBytes::copy_from(&message),
                    message_type: Some(MessageType::Raw),
                    signature: kms_sig.clone(),
                    signing_algorithm: Some(algorithm),
                    ..Default::default()
                },
                |req: VerifyRequest| assert!(kms.verify(&caller, req).unwrap().signature_valid),
            ),
        );
    }
}

fn rsa_decrypt(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
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
        paired(
            c,
            &format!("decrypt_oaep_sha256/{spec}"),
            Some(Duration::from_secs(3)),
            &mut (
                || (),
                |()| raw.decrypt_oaep(OaepHash::Sha256, &raw_blob).unwrap(),
            ),
            &mut (request, |req: DecryptRequest| {
                kms.decrypt(&caller, req).unwrap()
            }),
        );
    }
}

fn data_key_pairs(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let (kms, caller) = setup();
    let key_id = create(
        &kms,
        &caller,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    let rng = SystemRandom::new();
    let backing = SymmetricKey::generate(&rng).unwrap();
    for (spec, role) in PAIRS {
        let request = || GenerateDataKeyPairRequest {
            key_id: key_id.clone(),
            key_pair_spec: Some(spec),
            ..Default::default()
        };
        let pair = kms.generate_data_key_pair(&caller, request()).unwrap();
        assert_eq!(pair.key_pair_spec, spec);
        let alg: AsymmetricAlgorithm = spec.algorithm().unwrap();
        // RSA key generation takes up to seconds a key, with a wide spread (the prime search).
        let slow = match spec {
            DataKeyPairSpec::Rsa4096 => Some(Duration::from_secs(10)),
            DataKeyPairSpec::Rsa2048 | DataKeyPairSpec::Rsa3072 => Some(Duration::from_secs(5)),
            _ => None,
        };
        paired(
            c,
            &format!("generate_data_key_pair/{spec}"),
            slow,
            &mut (|| (), |()| PrivateKey::generate(alg, role).unwrap()),
            &mut (request, |req: GenerateDataKeyPairRequest| {
                kms.generate_data_key_pair(&caller, req).unwrap()
            }),
        );
        // The operation's own floor beside it: the key generated, its PKCS #8 encoding, and that
        // sealed as a symmetric ciphertext blob is (random salt and nonce, HKDF-SHA256,
        // AES-256-GCM): what any GenerateDataKeyPair must do. (Not for RSA: its key generation
        // varies too much from key to key to show a few microseconds.)
        if slow.is_none() {
            paired(
                c,
                &format!("generate_data_key_pair_vs_sealed/{spec}"),
                None,
                &mut (
                    || (),
                    |()| {
                        let key = PrivateKey::generate(alg, role).unwrap();
                        let pkcs8 = key.pkcs8();
                        let blob = seal_like_a_blob(&rng, &backing, pkcs8.expose());
                        (key, pkcs8, blob)
                    },
                ),
                &mut (request, |req: GenerateDataKeyPairRequest| {
                    kms.generate_data_key_pair(&caller, req).unwrap()
                }),
            );
        }
    }
}

/// What sealing `plaintext` as a symmetric ciphertext blob costs at the least: a 32-byte salt and a
/// 12-byte nonce from the OS, HKDF-SHA256, AES-256-GCM with the blob header as additional data
/// (the symmetric bench's baseline).
fn seal_like_a_blob(rng: &SystemRandom, backing: &SymmetricKey, plaintext: &[u8]) -> Vec<u8> {
    let mut salt_nonce = [0u8; 44];
    rng.fill(&mut salt_nonce).unwrap();
    let key = hkdf_sha256(backing, &salt_nonce[..32], &[b"info"]).unwrap();
    let mut n = [0u8; 12];
    n.copy_from_slice(&salt_nonce[32..]);
    let mut out = Vec::with_capacity(77 + plaintext.len() + 16);
    let aad = [0u8; 77];
    out.extend_from_slice(&aad);
    Aes256Gcm::new(&key)
        .unwrap()
        .seal_append(&Nonce::from_bytes(n), &aad, plaintext, &mut out)
        .unwrap();
    out
}

criterion_group!(benches, sign_verify, rsa_decrypt, data_key_pairs);
criterion_main!(benches);
