//! Key agreement (DeriveSharedSecret, ECDH) and key encapsulation (Encapsulate, Decapsulate,
//! ML-KEM) through the facade: both parties reach one secret, usage and input checks, implicit
//! rejection, and audit records without any secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;

use coffer::audit_log::MemorySink;
use coffer::model::*;
use coffer::{Caller, Kms};

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

fn public_key(kms: &Kms, key_id: &str) -> Vec<u8> {
    kms.get_public_key(
        &alice(),
        GetPublicKeyRequest {
            key_id: key_id.into(),
            ..Default::default()
        },
    )
    .unwrap()
    .public_key
}

fn derive(
    kms: &Kms,
    key_id: &str,
    peer: &[u8],
) -> Result<DeriveSharedSecretResponse, coffer::Error> {
    kms.derive_shared_secret(
        &alice(),
        DeriveSharedSecretRequest {
            key_id: key_id.into(),
            key_agreement_algorithm: Some(KeyAgreementAlgorithmSpec::Ecdh),
            public_key: peer.to_vec(),
            ..Default::default()
        },
    )
}

#[test]
fn ecdh_keys_of_each_curve_agree_with_each_other() {
    let kms = kms_with(Arc::new(MemorySink::new()));
    for (spec, len) in [
        (KeySpec::EccNistP256, 32),
        (KeySpec::EccNistP384, 48),
        (KeySpec::EccNistP521, 66),
    ] {
        let a = key(&kms, spec, KeyUsage::KeyAgreement);
        let b = key(&kms, spec, KeyUsage::KeyAgreement);
        assert_eq!(
            a.key_agreement_algorithms,
            [KeyAgreementAlgorithmSpec::Ecdh]
        );
        assert!(a.signing_algorithms.is_empty());
        let (pa, pb) = (public_key(&kms, &a.key_id), public_key(&kms, &b.key_id));
        let ab = derive(&kms, &a.key_id, &pb).unwrap();
        let ba = derive(&kms, &b.key_id, &pa).unwrap();
        assert_eq!(
            ab.shared_secret.expose(),
            ba.shared_secret.expose(),
            "{spec}"
        );
        assert_eq!(ab.shared_secret.len(), len);
        assert_eq!(ab.key_origin, Origin::AwsKms);
        assert_eq!(ab.key_id, a.arn);
    }
}

#[test]
fn ecdh_refuses_bad_peers_and_wrong_usage() {
    let kms = kms_with(Arc::new(MemorySink::new()));
    let a = key(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let other_curve = key(&kms, KeySpec::EccNistP384, KeyUsage::KeyAgreement);
    let e = derive(&kms, &a.key_id, &public_key(&kms, &other_curve.key_id)).unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let e = derive(&kms, &a.key_id, b"\x30\x03\x02\x01\x00").unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let e = derive(&kms, &a.key_id, &[]).unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    // A signing key of the same curve cannot agree.
    let signer = key(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let e = derive(&kms, &signer.key_id, &public_key(&kms, &a.key_id)).unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
    // And the agreement key cannot sign.
    let e = kms
        .sign(
            &alice(),
            SignRequest {
                key_id: a.key_id.clone(),
                message: coffer::SecretBytes::copy_from(b"m"),
                signing_algorithm: Some(SigningAlgorithmSpec::EcdsaSha256),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
    let e = kms
        .derive_shared_secret(
            &alice(),
            DeriveSharedSecretRequest {
                key_id: a.key_id.clone(),
                public_key: public_key(&kms, &a.key_id),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
}

fn encapsulate(kms: &Kms, key_id: &str) -> Result<EncapsulateResponse, coffer::Error> {
    kms.encapsulate(
        &alice(),
        EncapsulateRequest {
            key_id: key_id.into(),
            encapsulation_algorithm: Some(EncapsulationAlgorithmSpec::MlKem),
            ..Default::default()
        },
    )
}

fn decapsulate(kms: &Kms, key_id: &str, ct: &[u8]) -> Result<DecapsulateResponse, coffer::Error> {
    kms.decapsulate(
        &alice(),
        DecapsulateRequest {
            key_id: key_id.into(),
            shared_secret_ciphertext_blob: ct.to_vec(),
            encapsulation_algorithm: Some(EncapsulationAlgorithmSpec::MlKem),
            ..Default::default()
        },
    )
}

#[test]
fn ml_kem_keys_encapsulate_and_decapsulate() {
    let kms = kms_with(Arc::new(MemorySink::new()));
    let mut made = Vec::new();
    for (spec, ct_len) in [
        (KeySpec::MlKem512, 768),
        (KeySpec::MlKem768, 1088),
        (KeySpec::MlKem1024, 1568),
    ] {
        let k = key(&kms, spec, KeyUsage::EncapsulateDecapsulate);
        assert_eq!(
            k.encapsulation_algorithms,
            [EncapsulationAlgorithmSpec::MlKem]
        );
        let enc = encapsulate(&kms, &k.key_id).unwrap();
        assert_eq!(enc.shared_secret_ciphertext_blob.len(), ct_len, "{spec}");
        assert_eq!(enc.shared_secret.len(), 32);
        let dec = decapsulate(&kms, &k.key_id, &enc.shared_secret_ciphertext_blob).unwrap();
        assert_eq!(dec.shared_secret.expose(), enc.shared_secret.expose());
        // The wrong length for the key: InvalidCiphertextException.
        let e = decapsulate(&kms, &k.key_id, &enc.shared_secret_ciphertext_blob[1..]).unwrap_err();
        assert_eq!(e.code(), "InvalidCiphertextException");
        made.push((k, enc));
    }
    // Another key of the same spec: implicit rejection, an unrelated secret.
    let other = key(&kms, KeySpec::MlKem512, KeyUsage::EncapsulateDecapsulate);
    let dec = decapsulate(
        &kms,
        &other.key_id,
        &made[0].1.shared_secret_ciphertext_blob,
    )
    .unwrap();
    assert_eq!(dec.shared_secret.len(), 32);
    assert_ne!(dec.shared_secret.expose(), made[0].1.shared_secret.expose());
    // ML-KEM keys do nothing else, and other keys do not encapsulate.
    let e = kms
        .sign(
            &alice(),
            SignRequest {
                key_id: other.key_id.clone(),
                message: coffer::SecretBytes::copy_from(b"m"),
                signing_algorithm: Some(SigningAlgorithmSpec::MlDsaShake256),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "InvalidKeyUsageException");
    let sym = key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    assert_eq!(
        encapsulate(&kms, &sym.key_id).unwrap_err().code(),
        "InvalidKeyUsageException"
    );
    let e = kms
        .create_key(
            &alice(),
            CreateKeyRequest {
                key_spec: Some(KeySpec::MlKem768),
                key_usage: Some(KeyUsage::EncryptDecrypt),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
}

#[test]
fn audit_records_never_hold_a_shared_secret() {
    let sink = Arc::new(MemorySink::new());
    let kms = kms_with(sink.clone());
    let a = key(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let b = key(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let ab = derive(&kms, &a.key_id, &public_key(&kms, &b.key_id)).unwrap();
    let k = key(&kms, KeySpec::MlKem768, KeyUsage::EncapsulateDecapsulate);
    let enc = encapsulate(&kms, &k.key_id).unwrap();
    decapsulate(&kms, &k.key_id, &enc.shared_secret_ciphertext_blob).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        b64.encode(ab.shared_secret.expose()),
        b64.encode(enc.shared_secret.expose()),
        b64.encode(&enc.shared_secret_ciphertext_blob[..48]),
        ab.shared_secret
            .expose()
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>(),
    ];
    let events = sink.events();
    let names: Vec<_> = events.iter().map(|e| &*e.event_name).collect();
    assert!(
        names.contains(&"DeriveSharedSecret") && names.contains(&"Decapsulate"),
        "{names:?}"
    );
    for e in &events {
        let json = serde_json::to_string(e).unwrap();
        for f in &forms {
            assert!(!json.contains(&f[..24]), "{f} in {json}");
        }
    }
    let shown = format!("{ab:?} {enc:?}");
    assert!(!shown.contains(&format!("{:?}", ab.shared_secret.expose())));
}
