//! Imported key material (origin EXTERNAL) through the facade: PendingImport, wrapping with
//! RSA-OAEP and RSA_AES_KEY_WRAP, imports of symmetric, HMAC and EC material checked against
//! results computed locally, tokens bound to their key and to 24 hours, IncorrectKeyMaterial,
//! delete and re-import, expiry by the maintenance sweep on a settable clock, audit records
//! without material, and no copy of deleted material in the data directory's files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;
use std::time::Duration;

use coffer::audit_log::MemorySink;
use coffer::model::*;
use coffer::testing::ManualClock;
use coffer::Clock as _;
use coffer::{Caller, Kms, SecretBytes};
use coffer_crypto::asym::{self, AsymmetricAlgorithm, KeyRole, OaepHash, PrivateKey};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn kms_with(clock: Arc<ManualClock>, sink: Arc<MemorySink>) -> Kms {
    Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .clock(clock)
        .audit_sink(sink)
        .build()
        .unwrap()
}

fn setup() -> (Kms, Arc<ManualClock>, Arc<MemorySink>) {
    let clock = Arc::new(ManualClock::new(
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let sink = Arc::new(MemorySink::new());
    (kms_with(clock.clone(), sink.clone()), clock, sink)
}

fn alice() -> Caller {
    Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
}

fn external_key(kms: &Kms, spec: KeySpec, usage: KeyUsage) -> KeyMetadata {
    kms.create_key(
        &alice(),
        CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(usage),
            origin: Some(Origin::External),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
}

fn parameters(
    kms: &Kms,
    key_id: &str,
    alg: AlgorithmSpec,
    spec: WrappingKeySpec,
) -> Result<GetParametersForImportResponse, coffer::Error> {
    kms.get_parameters_for_import(
        &alice(),
        GetParametersForImportRequest {
            key_id: key_id.into(),
            wrapping_algorithm: Some(alg),
            wrapping_key_spec: Some(spec),
        },
    )
}

/// Wraps `material` as a client would, with the public key GetParametersForImport returned.
fn wrap(alg: AlgorithmSpec, public: &[u8], material: &[u8]) -> Vec<u8> {
    match alg {
        AlgorithmSpec::RsaesOaepSha1 => {
            asym::encrypt_oaep(public, OaepHash::Sha1, material).unwrap()
        }
        AlgorithmSpec::RsaesOaepSha256 => {
            asym::encrypt_oaep(public, OaepHash::Sha256, material).unwrap()
        }
        AlgorithmSpec::RsaAesKeyWrapSha1 | AlgorithmSpec::RsaAesKeyWrapSha256 => {
            let hash = if alg == AlgorithmSpec::RsaAesKeyWrapSha1 {
                OaepHash::Sha1
            } else {
                OaepHash::Sha256
            };
            let kek = [0x42u8; 32];
            let mut out = asym::encrypt_oaep(public, hash, &kek).unwrap();
            out.extend(coffer_crypto::keywrap::aes_kwp_wrap(&kek, material).unwrap());
            out
        }
        _ => panic!("{alg}"),
    }
}

fn import(
    kms: &Kms,
    key_id: &str,
    token: &[u8],
    wrapped: Vec<u8>,
    valid_to: Option<std::time::SystemTime>,
) -> Result<ImportKeyMaterialResponse, coffer::Error> {
    kms.import_key_material(
        &alice(),
        ImportKeyMaterialRequest {
            key_id: key_id.into(),
            import_token: token.to_vec(),
            encrypted_key_material: SecretBytes::new(wrapped),
            expiration_model: Some(if valid_to.is_some() {
                ExpirationModel::KeyMaterialExpires
            } else {
                ExpirationModel::KeyMaterialDoesNotExpire
            }),
            valid_to,
        },
    )
}

fn import_fresh(
    kms: &Kms,
    key_id: &str,
    alg: AlgorithmSpec,
    material: &[u8],
) -> Result<ImportKeyMaterialResponse, coffer::Error> {
    let p = parameters(kms, key_id, alg, WrappingKeySpec::Rsa2048).unwrap();
    import(
        kms,
        key_id,
        &p.import_token,
        wrap(alg, &p.public_key, material),
        None,
    )
}

fn describe(kms: &Kms, key_id: &str) -> KeyMetadata {
    kms.describe_key(
        &alice(),
        DescribeKeyRequest {
            key_id: key_id.into(),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
}

fn encrypt(kms: &Kms, key_id: &str) -> Result<Vec<u8>, coffer::Error> {
    kms.encrypt(
        &alice(),
        EncryptRequest {
            key_id: key_id.into(),
            plaintext: SecretBytes::copy_from(b"imported"),
            ..Default::default()
        },
    )
    .map(|r| r.ciphertext_blob)
}

fn decrypt(kms: &Kms, ct: &[u8]) -> Result<SecretBytes, coffer::Error> {
    kms.decrypt(
        &alice(),
        DecryptRequest {
            ciphertext_blob: ct.to_vec(),
            ..Default::default()
        },
    )
    .map(|r| r.plaintext)
}

#[test]
fn external_keys_wait_for_material_then_work_and_survive_delete_and_reimport() {
    let (kms, _, _) = setup();
    let k = external_key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    assert_eq!(k.origin, Origin::External);
    assert_eq!(k.key_state, KeyState::PendingImport);
    assert!(!k.enabled);
    assert_eq!(
        encrypt(&kms, &k.key_id).unwrap_err().code(),
        "KMSInvalidStateException"
    );
    let material = [0x11u8; 32];
    for alg in [
        AlgorithmSpec::RsaesOaepSha256,
        AlgorithmSpec::RsaesOaepSha1,
        AlgorithmSpec::RsaAesKeyWrapSha256,
        AlgorithmSpec::RsaAesKeyWrapSha1,
    ] {
        // The same material, by each wrapping algorithm: the same material id each time.
        let r = import_fresh(&kms, &k.key_id, alg, &material).unwrap();
        assert_eq!(r.key_id, k.arn);
    }
    let meta = describe(&kms, &k.key_id);
    assert_eq!(meta.key_state, KeyState::Enabled);
    assert_eq!(
        meta.expiration_model,
        Some(ExpirationModel::KeyMaterialDoesNotExpire)
    );
    assert_eq!(meta.valid_to, None);
    let ct = encrypt(&kms, &k.key_id).unwrap();
    assert_eq!(decrypt(&kms, &ct).unwrap().expose(), b"imported");

    // Delete: the key waits again, the ciphertext cannot be opened.
    kms.delete_imported_key_material(
        &alice(),
        DeleteImportedKeyMaterialRequest {
            key_id: k.key_id.clone(),
        },
    )
    .unwrap();
    assert_eq!(describe(&kms, &k.key_id).key_state, KeyState::PendingImport);
    assert_eq!(
        decrypt(&kms, &ct).unwrap_err().code(),
        "KMSInvalidStateException"
    );
    // Other material is refused; the same material brings the old ciphertext back.
    let e = import_fresh(&kms, &k.key_id, AlgorithmSpec::RsaesOaepSha256, &[0x22; 32]).unwrap_err();
    assert_eq!(e.code(), "IncorrectKeyMaterialException");
    import_fresh(&kms, &k.key_id, AlgorithmSpec::RsaesOaepSha256, &material).unwrap();
    assert_eq!(decrypt(&kms, &ct).unwrap().expose(), b"imported");
}

#[test]
fn tokens_are_bound_to_their_key_and_expire_after_a_day() {
    let (kms, clock, _) = setup();
    let a = external_key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let b = external_key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let pa = parameters(&kms, &a.key_id, alg, WrappingKeySpec::Rsa2048).unwrap();
    assert_eq!(
        pa.parameters_valid_to,
        clock.now() + Duration::from_secs(24 * 3600)
    );
    let wrapped = wrap(alg, &pa.public_key, &[1; 32]);
    // A's token on B.
    let e = import(&kms, &b.key_id, &pa.import_token, wrapped.clone(), None).unwrap_err();
    assert_eq!(e.code(), "InvalidImportTokenException");
    // A changed token.
    let mut bad = pa.import_token.clone();
    bad[20] ^= 1;
    let e = import(&kms, &a.key_id, &bad, wrapped.clone(), None).unwrap_err();
    assert_eq!(e.code(), "InvalidImportTokenException");
    // Material wrapped for another wrapping key, or damaged: InvalidCiphertextException.
    let pb = parameters(&kms, &b.key_id, alg, WrappingKeySpec::Rsa3072).unwrap();
    let e = import(
        &kms,
        &a.key_id,
        &pa.import_token,
        wrap(alg, &pb.public_key, &[1; 32]),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidCiphertextException");
    // Material of the wrong size.
    let e = import(
        &kms,
        &a.key_id,
        &pa.import_token,
        wrap(alg, &pa.public_key, &[1; 16]),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    // After 24 hours the token has expired.
    clock.advance(Duration::from_secs(24 * 3600));
    let e = import(&kms, &a.key_id, &pa.import_token, wrapped, None).unwrap_err();
    assert_eq!(e.code(), "ExpiredImportTokenException");
    // Refusals: a key of origin AWS_KMS, PKCS #1 v1.5, OAEP for RSA material, ValidTo rules.
    let own = kms
        .create_key(&alice(), CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let e = parameters(&kms, &own.key_id, alg, WrappingKeySpec::Rsa2048).unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
    let e = parameters(
        &kms,
        &a.key_id,
        AlgorithmSpec::RsaesPkcs1V15,
        WrappingKeySpec::Rsa2048,
    )
    .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let rsa = external_key(&kms, KeySpec::Rsa2048, KeyUsage::SignVerify);
    let e = parameters(&kms, &rsa.key_id, alg, WrappingKeySpec::Rsa2048).unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let p = parameters(&kms, &a.key_id, alg, WrappingKeySpec::Rsa2048).unwrap();
    let e = kms
        .import_key_material(
            &alice(),
            ImportKeyMaterialRequest {
                key_id: a.key_id.clone(),
                import_token: p.import_token.clone(),
                encrypted_key_material: SecretBytes::new(wrap(alg, &p.public_key, &[1; 32])),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        e.code(),
        "ValidationException",
        "KEY_MATERIAL_EXPIRES needs ValidTo"
    );
    let e = import(
        &kms,
        &a.key_id,
        &p.import_token,
        wrap(alg, &p.public_key, &[1; 32]),
        Some(clock.now() + Duration::from_secs(400 * 24 * 3600)),
    )
    .unwrap_err();
    assert_eq!(e.code(), "ValidationException", "at most 365 days");
}

#[test]
fn imported_hmac_and_ec_material_give_the_results_computed_locally() {
    let (kms, _, _) = setup();
    // HMAC: GenerateMac equals the HMAC computed here with the same key.
    let h = external_key(&kms, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
    let hmac_key = [0x5cu8; 40];
    import_fresh(&kms, &h.key_id, AlgorithmSpec::RsaesOaepSha256, &hmac_key).unwrap();
    let mac = kms
        .generate_mac(
            &alice(),
            GenerateMacRequest {
                key_id: h.key_id.clone(),
                message: b"order 4711".to_vec(),
                mac_algorithm: Some(MacAlgorithmSpec::HmacSha256),
                ..Default::default()
            },
        )
        .unwrap()
        .mac;
    let local = coffer_crypto::hmac_sign(
        coffer_crypto::HmacAlgorithm::Sha256,
        &hmac_key,
        b"order 4711",
    )
    .unwrap();
    assert_eq!(mac, local);
    let short = external_key(&kms, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
    let e = import_fresh(
        &kms,
        &short.key_id,
        AlgorithmSpec::RsaesOaepSha256,
        &[1; 31],
    )
    .unwrap_err();
    assert_eq!(e.code(), "ValidationException");

    // EC: a P-256 key made here, imported with RSA_AES_KEY_WRAP; coffer's signature verifies
    // with the public key computed here, and GetPublicKey returns it.
    let ec = external_key(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let local_key = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Sign).unwrap();
    import_fresh(
        &kms,
        &ec.key_id,
        AlgorithmSpec::RsaAesKeyWrapSha256,
        local_key.encoded().expose(),
    )
    .unwrap();
    let public = kms
        .get_public_key(
            &alice(),
            GetPublicKeyRequest {
                key_id: ec.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap()
        .public_key;
    assert_eq!(public, local_key.public_key_der());
    let sig = kms
        .sign(
            &alice(),
            SignRequest {
                key_id: ec.key_id.clone(),
                message: SecretBytes::copy_from(b"release"),
                signing_algorithm: Some(SigningAlgorithmSpec::EcdsaSha256),
                ..Default::default()
            },
        )
        .unwrap()
        .signature;
    assert!(asym::verify(
        AsymmetricAlgorithm::P256,
        local_key.public_key_der(),
        asym::SignatureScheme::Ecdsa(asym::SignatureHash::Sha256),
        asym::SignedMessage::Raw(b"release"),
        &sig
    )
    .unwrap());
    // A P-384 key is not material for a P-256 key.
    let ec2 = external_key(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let wrong = PrivateKey::generate(AsymmetricAlgorithm::P384, KeyRole::Sign).unwrap();
    let e = import_fresh(
        &kms,
        &ec2.key_id,
        AlgorithmSpec::RsaAesKeyWrapSha256,
        wrong.encoded().expose(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
}

#[test]
fn expiring_material_is_deleted_on_time_by_maintenance() {
    let (kms, clock, sink) = setup();
    let k = external_key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let p = parameters(
        &kms,
        &k.key_id,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa4096,
    )
    .unwrap();
    let valid_to = clock.now() + Duration::from_secs(3600);
    let wrapped = wrap(AlgorithmSpec::RsaesOaepSha256, &p.public_key, &[9; 32]);
    import(
        &kms,
        &k.key_id,
        &p.import_token,
        wrapped.clone(),
        Some(valid_to),
    )
    .unwrap();
    let meta = describe(&kms, &k.key_id);
    assert_eq!(
        meta.expiration_model,
        Some(ExpirationModel::KeyMaterialExpires)
    );
    assert_eq!(meta.valid_to, Some(valid_to));
    let ct = encrypt(&kms, &k.key_id).unwrap();
    // A minute before: nothing to do.
    clock.advance(Duration::from_secs(3540));
    assert!(kms.run_maintenance().unwrap().material_expired.is_empty());
    decrypt(&kms, &ct).unwrap();
    // At ValidTo: deleted, back to PendingImport.
    clock.advance(Duration::from_secs(60));
    let report = kms.run_maintenance().unwrap();
    assert_eq!(report.material_expired, vec![k.arn.clone()]);
    let meta = describe(&kms, &k.key_id);
    assert_eq!(meta.key_state, KeyState::PendingImport);
    assert_eq!(meta.valid_to, None);
    assert_eq!(
        decrypt(&kms, &ct).unwrap_err().code(),
        "KMSInvalidStateException"
    );
    // The audit log has the import and the expiry, and no byte of material or token.
    let events = sink.events();
    let names: Vec<_> = events.iter().map(|e| &*e.event_name).collect();
    assert!(
        names.contains(&"ImportKeyMaterial") && names.contains(&"DeleteExpiredKeyMaterial"),
        "{names:?}"
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for e in &events {
        let json = serde_json::to_string(e).unwrap();
        assert!(!json.contains(&b64.encode(&wrapped)[..40]));
        assert!(!json.contains(&b64.encode(&p.import_token)[..40]));
        assert!(!json.contains(&b64.encode([9u8; 32])[..20]));
    }
}

#[test]
fn deleted_material_leaves_no_copy_in_the_data_directory() {
    use coffer::{DataDir, RootKeySource};
    let tmp = std::env::temp_dir().join(format!("coffer-import-scan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let (data, key_file) = (tmp.join("data"), tmp.join("root.key"));
    let dir = DataDir::open(&data, RootKeySource::key_file(&key_file)).unwrap();
    let kms = dir
        .builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .build()
        .unwrap();
    let k = external_key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    import_fresh(&kms, &k.key_id, AlgorithmSpec::RsaesOaepSha256, &[0x33; 32]).unwrap();
    let id: coffer::KeyId = k.key_id.parse().unwrap();
    let wrapped = {
        let store = dir.store();
        let mut txn = coffer::Store::begin(&*store).unwrap();
        let versions = txn.versions(&id).unwrap();
        assert_eq!(versions.len(), 1);
        versions[0].wrapped.clone()
    };
    let contains = |needle: &[u8]| {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&data).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path);
                }
            }
        }
        found
    };
    assert!(
        !contains(&wrapped).is_empty(),
        "the wrapped material is stored before deletion"
    );
    kms.delete_imported_key_material(
        &alice(),
        DeleteImportedKeyMaterialRequest {
            key_id: k.key_id.clone(),
        },
    )
    .unwrap();
    // Database, WAL and every other file: no copy of the wrapped material (secure_delete and
    // a truncating checkpoint on commit).
    assert_eq!(contains(&wrapped), Vec::<std::path::PathBuf>::new());
    drop(kms);
    assert_eq!(contains(&wrapped), Vec::<std::path::PathBuf>::new());
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn import_condition_keys_are_evaluated() {
    let (kms, _, _) = setup();
    let k = external_key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    // Material must expire and be wrapped with RSA_AES_KEY_WRAP_SHA_256 on a 4096-bit key.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Action":"kms:GetParametersForImport","Resource":"*",
         "Condition":{"StringNotEquals":{"kms:WrappingAlgorithm":"RSA_AES_KEY_WRAP_SHA_256"}}},
        {"Effect":"Deny","Action":"kms:GetParametersForImport","Resource":"*",
         "Condition":{"StringNotEquals":{"kms:WrappingKeySpec":"RSA_4096"}}},
        {"Effect":"Deny","Action":"kms:ImportKeyMaterial","Resource":"*",
         "Condition":{"StringEquals":{"kms:ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"}}}
    ]}"#;
    let strict = Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(policy)
        .unwrap();
    let params = |alg, spec| {
        kms.get_parameters_for_import(
            &strict,
            GetParametersForImportRequest {
                key_id: k.key_id.clone(),
                wrapping_algorithm: Some(alg),
                wrapping_key_spec: Some(spec),
            },
        )
    };
    let e = params(AlgorithmSpec::RsaesOaepSha256, WrappingKeySpec::Rsa4096).unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    let e = params(AlgorithmSpec::RsaAesKeyWrapSha256, WrappingKeySpec::Rsa2048).unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    let p = params(AlgorithmSpec::RsaAesKeyWrapSha256, WrappingKeySpec::Rsa4096).unwrap();
    let wrapped = wrap(AlgorithmSpec::RsaAesKeyWrapSha256, &p.public_key, &[3; 32]);
    let attempt = |model, valid_to| {
        kms.import_key_material(
            &strict,
            ImportKeyMaterialRequest {
                key_id: k.key_id.clone(),
                import_token: p.import_token.clone(),
                encrypted_key_material: SecretBytes::new(wrapped.clone()),
                expiration_model: Some(model),
                valid_to,
            },
        )
    };
    let e = attempt(ExpirationModel::KeyMaterialDoesNotExpire, None).unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    let soon = kms_now(&kms) + Duration::from_secs(3600);
    attempt(ExpirationModel::KeyMaterialExpires, Some(soon)).unwrap();
    assert_eq!(describe(&kms, &k.key_id).key_state, KeyState::Enabled);
}

fn kms_now(kms: &Kms) -> std::time::SystemTime {
    // The key's creation date is the manual clock's time (nothing advanced it in this test).
    kms.list_keys(&alice(), ListKeysRequest::default())
        .unwrap()
        .keys
        .first()
        .map(|k| describe(kms, &k.key_id).creation_date)
        .unwrap()
}

#[test]
fn material_expiring_while_pending_deletion_keeps_the_deletion() {
    let (kms, clock, _) = setup();
    let k = external_key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let p = parameters(
        &kms,
        &k.key_id,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .unwrap();
    let wrapped = wrap(AlgorithmSpec::RsaesOaepSha256, &p.public_key, &[5; 32]);
    import(
        &kms,
        &k.key_id,
        &p.import_token,
        wrapped,
        Some(clock.now() + Duration::from_secs(3600)),
    )
    .unwrap();
    kms.schedule_key_deletion(
        &alice(),
        ScheduleKeyDeletionRequest {
            key_id: k.key_id.clone(),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    clock.advance(Duration::from_secs(3600));
    let report = kms.run_maintenance().unwrap();
    assert_eq!(report.material_expired, vec![k.arn.clone()]);
    let meta = describe(&kms, &k.key_id);
    assert_eq!(meta.key_state, KeyState::PendingDeletion);
    assert!(meta.deletion_date.is_some());
    // Cancelling now leaves a key without material pending import, not disabled.
    kms.cancel_key_deletion(
        &alice(),
        KeyIdRequest {
            key_id: k.key_id.clone(),
        },
    )
    .unwrap();
    assert_eq!(describe(&kms, &k.key_id).key_state, KeyState::PendingImport);
    let e = kms
        .enable_key(
            &alice(),
            KeyIdRequest {
                key_id: k.key_id.clone(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");
    // Scheduled again, the deletion happens on time.
    kms.schedule_key_deletion(
        &alice(),
        ScheduleKeyDeletionRequest {
            key_id: k.key_id.clone(),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    clock.advance(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(
        kms.run_maintenance().unwrap().keys_deleted,
        vec![k.arn.clone()]
    );
}

#[test]
fn import_requests_and_parameters_print_no_token_or_material() {
    let (kms, _, _) = setup();
    let meta = external_key(&kms, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let p = parameters(
        &kms,
        &meta.key_id,
        AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .unwrap();
    let hex = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let token_bytes = hex(&p.import_token[..16]);
    let shown = format!("{p:?}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains(&token_bytes), "{shown}");
    let material = [0x5au8; 32];
    let req = ImportKeyMaterialRequest {
        key_id: meta.key_id.clone(),
        import_token: p.import_token.clone(),
        encrypted_key_material: SecretBytes::new(wrap(
            AlgorithmSpec::RsaesOaepSha256,
            &p.public_key,
            &material,
        )),
        ..Default::default()
    };
    let shown = format!("{req:?}");
    assert!(shown.contains(&meta.key_id), "{shown}");
    assert!(!shown.contains(&token_bytes), "{shown}");
    assert!(
        !shown.contains(&hex(&req.encrypted_key_material.expose()[..16])),
        "{shown}"
    );
}
