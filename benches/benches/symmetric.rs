//! Encrypt, Decrypt and GenerateDataKey through the facade, each beside a baseline of the
//! primitives the operation cannot avoid, measured in the same run: drawing a random salt and
//! nonce, deriving the per-message key with HKDF-SHA256, and an AES-256-GCM seal (or open) of
//! the same size with ring. Paired: both sides alternate, batch by batch (`coffer_benches`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms};
use coffer_benches::{paired, Batched};
use coffer_crypto::aead::{Aes256Gcm, Nonce};
use coffer_crypto::{hkdf_sha256, RandomSource, SymmetricKey, SystemRandom};
use criterion::{criterion_group, criterion_main, Criterion};

/// An identity policy allowing every KMS action (the principal still needs the key policy).
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn setup() -> (Kms, Caller, String, EncryptionContext) {
    let kms = Kms::builder()
        .quotas(coffer_benches::bench_quotas())
        .build()
        .unwrap();
    let caller = Caller::new("arn:aws:iam::111122223333:user/bench")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let key = kms
        .create_key(&caller, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let ctx: EncryptionContext = [("tenant", "acme"), ("purpose", "bench")]
        .into_iter()
        .collect();
    (kms, caller, key, ctx)
}

/// The floor: what any implementation of this blob format must do per Encrypt. The salt and
/// nonce come from the same source coffer draws them from (`fill_public`: the system CSPRNG
/// through a per-thread buffer), so the ratio is what coffer adds around the primitives.
fn baseline_seal(rng: &SystemRandom, backing: &SymmetricKey, pt: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut salt_nonce = [0u8; 44];
    rng.fill_public(&mut salt_nonce).unwrap();
    let key = hkdf_sha256(backing, &salt_nonce[..32], &INFO).unwrap();
    let mut n = [0u8; 12];
    n.copy_from_slice(&salt_nonce[32..]);
    let mut out = Vec::with_capacity(pt.len() + 16);
    Aes256Gcm::new(&key)
        .unwrap()
        .seal_append(&Nonce::from_bytes(n), aad, pt, &mut out)
        .unwrap();
    out
}

/// The HKDF info of the blob format: its 27-byte label, then the key id and the backing-key
/// version id (16 bytes each). Its length decides how many SHA-256 blocks the expand takes (59
/// bytes and the counter: two), so the baseline derives with an info of the same shape.
const LABEL: &[u8; 27] = b"coffer/v1/symmetric-default";
const INFO: [&[u8]; 3] = [LABEL, &[0x11; 16], &[0x22; 16]];

/// Inputs per timed batch: calls of a few microseconds are timed sixteen at a time.
const BATCH: usize = 16;

fn symmetric(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let (kms, caller, key, ctx) = setup();
    let rng = SystemRandom::new();
    let backing = SymmetricKey::generate(&rng).unwrap();
    let aad = vec![0u8; 77 + ctx.canonical_bytes().len()];

    // Both sides take a wiped-on-drop plaintext built outside the timed call (coffer wipes
    // every secret); the request is the caller's work, built outside too.
    let encrypt_group = |c: &mut Criterion, name: &str, key_id: &str, pt: &[u8]| {
        paired(
            c,
            name,
            None,
            &mut Batched::new(
                BATCH,
                || coffer::SecretBytes::copy_from(pt),
                |p: coffer::SecretBytes| baseline_seal(&rng, &backing, p.expose(), &aad),
            ),
            &mut Batched::new(
                BATCH,
                || EncryptRequest {
                    key_id: key_id.to_owned(),
                    plaintext: pt.to_vec().into(),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                },
                |req| kms.encrypt(&caller, req).unwrap(),
            ),
        );
    };

    for size in [1024usize, 4096] {
        let pt = vec![0x42u8; size];
        encrypt_group(c, &format!("encrypt_{size}"), &key, &pt);

        let blob = kms
            .encrypt(
                &caller,
                EncryptRequest {
                    key_id: key.clone(),
                    plaintext: pt.clone().into(),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                },
            )
            .unwrap()
            .ciphertext_blob;
        let sealed = baseline_seal(&rng, &backing, &pt, &aad);
        paired(
            c,
            &format!("decrypt_{size}"),
            None,
            // Derive the message key, open: what any Decrypt of this format must do (a wrong
            // derived key: the same work as a success).
            &mut Batched::new(
                BATCH,
                || (),
                |()| {
                    let key = hkdf_sha256(&backing, &[7u8; 32], &INFO).unwrap();
                    let opened = Aes256Gcm::new(&key).unwrap().open(
                        &Nonce::from_bytes([0u8; 12]),
                        &aad,
                        &sealed,
                    );
                    assert!(opened.is_err());
                },
            ),
            &mut Batched::new(
                BATCH,
                || DecryptRequest {
                    ciphertext_blob: blob.clone(),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                },
                |req| kms.decrypt(&caller, req).unwrap(),
            ),
        );
    }

    // Encrypt naming its key by alias, the form applications use: the key id's work plus the
    // alias's check and its lookup in the cache (a map by account, then name: no allocation).
    kms.create_alias(
        &caller,
        AliasRequest {
            alias_name: "alias/bench".into(),
            target_key_id: key.clone(),
        },
    )
    .unwrap();
    encrypt_group(c, "encrypt_1024_alias", "alias/bench", &[0x42u8; 1024]);

    paired(
        c,
        "generate_data_key",
        None,
        &mut Batched::new(
            BATCH,
            || (),
            |()| {
                let dk = coffer::SecretBytes::random(&rng, 32).unwrap();
                (baseline_seal(&rng, &backing, dk.expose(), &aad), dk)
            },
        ),
        &mut Batched::new(
            BATCH,
            || GenerateDataKeyRequest {
                key_id: key.clone(),
                key_spec: Some(DataKeySpec::Aes256),
                encryption_context: ctx.clone(),
                ..Default::default()
            },
            |req| kms.generate_data_key(&caller, req).unwrap(),
        ),
    );
}

criterion_group!(benches, symmetric);
criterion_main!(benches);
