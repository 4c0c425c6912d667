//! HMAC keys end to end through the facade: CreateKey with each HMAC key spec, GenerateMac and
//! VerifyMac, usage and algorithm checks, validation, key state, authorization by key policy and
//! grants, aliases, rotation refused, and audit records without message or MAC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;

use coffer::audit_log::MemorySink;
use coffer::model::*;
use coffer::{Caller, Kms};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:role/bob";
const CAROL: &str = "arn:aws:iam::111122223333:role/carol";
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

const SPECS: [(KeySpec, MacAlgorithmSpec, usize); 4] = [
    (KeySpec::Hmac224, MacAlgorithmSpec::HmacSha224, 28),
    (KeySpec::Hmac256, MacAlgorithmSpec::HmacSha256, 32),
    (KeySpec::Hmac384, MacAlgorithmSpec::HmacSha384, 48),
    (KeySpec::Hmac512, MacAlgorithmSpec::HmacSha512, 64),
];

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

fn hmac_key(kms: &Kms, who: &Caller, spec: KeySpec) -> KeyMetadata {
    kms.create_key(
        who,
        CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(KeyUsage::GenerateVerifyMac),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
}

fn generate(
    kms: &Kms,
    who: &Caller,
    key_id: &str,
    message: &[u8],
    alg: MacAlgorithmSpec,
) -> Result<GenerateMacResponse, coffer::Error> {
    kms.generate_mac(
        who,
        GenerateMacRequest {
            key_id: key_id.into(),
            message: message.to_vec(),
            mac_algorithm: Some(alg),
            ..Default::default()
        },
    )
}

fn verify(
    kms: &Kms,
    who: &Caller,
    key_id: &str,
    message: &[u8],
    alg: MacAlgorithmSpec,
    mac: &[u8],
) -> Result<VerifyMacResponse, coffer::Error> {
    kms.verify_mac(
        who,
        VerifyMacRequest {
            key_id: key_id.into(),
            message: message.to_vec(),
            mac_algorithm: Some(alg),
            mac: mac.to_vec(),
            ..Default::default()
        },
    )
}

fn code<T: std::fmt::Debug>(r: Result<T, coffer::Error>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn every_hmac_spec_creates_and_round_trips() {
    let kms = kms();
    let a = alice();
    for (spec, alg, len) in SPECS {
        let key = hmac_key(&kms, &a, spec);
        assert_eq!(key.key_spec, spec);
        assert_eq!(key.customer_master_key_spec, spec);
        assert_eq!(key.key_usage, KeyUsage::GenerateVerifyMac);
        assert_eq!(key.mac_algorithms, vec![alg]);
        assert!(key.encryption_algorithms.is_empty());
        let described = kms
            .describe_key(
                &a,
                DescribeKeyRequest {
                    key_id: key.key_id.clone(),
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata;
        assert_eq!(described, key);

        let msg = b"the message";
        let g = generate(&kms, &a, &key.key_id, msg, alg).unwrap();
        assert_eq!(g.mac.len(), len, "{spec}");
        assert_eq!(g.mac_algorithm, alg);
        assert_eq!(g.key_id, key.arn);
        // Deterministic: the same message gives the same MAC; another message another.
        let again = generate(&kms, &a, &key.key_id, msg, alg).unwrap();
        assert_eq!(again.mac, g.mac);
        let other = generate(&kms, &a, &key.key_id, b"the messagf", alg).unwrap();
        assert_ne!(other.mac, g.mac);

        let v = verify(&kms, &a, &key.key_id, msg, alg, &g.mac).unwrap();
        assert!(v.mac_valid);
        assert_eq!(v.mac_algorithm, alg);
        assert_eq!(v.key_id, key.arn);

        // Every flipped bit is an invalid MAC.
        for i in [0, g.mac.len() / 2, g.mac.len() - 1] {
            let mut bad = g.mac.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                code(verify(&kms, &a, &key.key_id, msg, alg, &bad)),
                "KMSInvalidMacException"
            );
        }
        // A truncated MAC, and the right MAC for another message.
        assert_eq!(
            code(verify(&kms, &a, &key.key_id, msg, alg, &g.mac[..len - 1])),
            "KMSInvalidMacException"
        );
        assert_eq!(
            code(verify(&kms, &a, &key.key_id, b"another", alg, &g.mac)),
            "KMSInvalidMacException"
        );
    }
}

#[test]
fn two_keys_of_one_spec_have_different_material() {
    let kms = kms();
    let a = alice();
    let k1 = hmac_key(&kms, &a, KeySpec::Hmac256);
    let k2 = hmac_key(&kms, &a, KeySpec::Hmac256);
    let alg = MacAlgorithmSpec::HmacSha256;
    let m1 = generate(&kms, &a, &k1.key_id, b"m", alg).unwrap().mac;
    let m2 = generate(&kms, &a, &k2.key_id, b"m", alg).unwrap().mac;
    assert_ne!(m1, m2);
    // A MAC of one key does not verify under the other.
    assert_eq!(
        code(verify(&kms, &a, &k2.key_id, b"m", alg, &m1)),
        "KMSInvalidMacException"
    );
}

#[test]
fn wrong_algorithm_and_wrong_key_type_are_invalid_key_usage() {
    let kms = kms();
    let a = alice();
    let key = hmac_key(&kms, &a, KeySpec::Hmac384);
    let good = generate(&kms, &a, &key.key_id, b"m", MacAlgorithmSpec::HmacSha384)
        .unwrap()
        .mac;
    for alg in [
        MacAlgorithmSpec::HmacSha224,
        MacAlgorithmSpec::HmacSha256,
        MacAlgorithmSpec::HmacSha512,
    ] {
        assert_eq!(
            code(generate(&kms, &a, &key.key_id, b"m", alg)),
            "InvalidKeyUsageException"
        );
        assert_eq!(
            code(verify(&kms, &a, &key.key_id, b"m", alg, &good)),
            "InvalidKeyUsageException"
        );
    }
    // An HMAC key cannot encrypt or make data keys.
    assert_eq!(
        code(kms.encrypt(
            &a,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )),
        "InvalidKeyUsageException"
    );
    assert_eq!(
        code(kms.generate_data_key(
            &a,
            GenerateDataKeyRequest {
                key_id: key.key_id.clone(),
                key_spec: Some(DataKeySpec::Aes256),
                ..Default::default()
            },
        )),
        "InvalidKeyUsageException"
    );
    // A symmetric encryption key cannot make or verify MACs.
    let sym = kms
        .create_key(&a, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    assert!(sym.mac_algorithms.is_empty());
    assert_eq!(
        code(generate(
            &kms,
            &a,
            &sym.key_id,
            b"m",
            MacAlgorithmSpec::HmacSha256
        )),
        "InvalidKeyUsageException"
    );
    assert_eq!(
        code(verify(
            &kms,
            &a,
            &sym.key_id,
            b"m",
            MacAlgorithmSpec::HmacSha256,
            &[0u8; 32]
        )),
        "InvalidKeyUsageException"
    );
}

#[test]
fn create_key_checks_spec_and_usage() {
    let kms = kms();
    let a = alice();
    // An HMAC spec with the default usage (ENCRYPT_DECRYPT) is refused, as AWS refuses it.
    let e = kms
        .create_key(
            &a,
            CreateKeyRequest {
                key_spec: Some(KeySpec::Hmac256),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    // GENERATE_VERIFY_MAC on a symmetric key is refused too.
    let e = kms
        .create_key(
            &a,
            CreateKeyRequest {
                key_usage: Some(KeyUsage::GenerateVerifyMac),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
}

#[test]
fn message_and_mac_lengths_and_missing_algorithm_are_validation_errors() {
    let kms = kms();
    let a = alice();
    let key = hmac_key(&kms, &a, KeySpec::Hmac256);
    let alg = MacAlgorithmSpec::HmacSha256;
    assert_eq!(
        code(generate(&kms, &a, &key.key_id, b"", alg)),
        "ValidationException"
    );
    assert_eq!(
        code(generate(&kms, &a, &key.key_id, &[7u8; 4097], alg)),
        "ValidationException"
    );
    assert_eq!(
        code(verify(&kms, &a, &key.key_id, b"", alg, &[0u8; 32])),
        "ValidationException"
    );
    assert_eq!(
        code(verify(&kms, &a, &key.key_id, &[7u8; 4097], alg, &[0u8; 32])),
        "ValidationException"
    );
    assert_eq!(
        code(verify(&kms, &a, &key.key_id, b"m", alg, &[])),
        "ValidationException"
    );
    // 1 and 4096 bytes are fine.
    let g = generate(&kms, &a, &key.key_id, &[7u8; 4096], alg).unwrap();
    assert!(
        verify(&kms, &a, &key.key_id, &[7u8; 4096], alg, &g.mac)
            .unwrap()
            .mac_valid
    );
    generate(&kms, &a, &key.key_id, b"x", alg).unwrap();
    let e = kms
        .generate_mac(
            &a,
            GenerateMacRequest {
                key_id: key.key_id.clone(),
                message: b"m".to_vec(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
}

#[test]
fn key_state_dry_run_and_aliases() {
    let kms = kms();
    let a = alice();
    let key = hmac_key(&kms, &a, KeySpec::Hmac512);
    let alg = MacAlgorithmSpec::HmacSha512;
    let mac = generate(&kms, &a, &key.key_id, b"m", alg).unwrap().mac;

    kms.create_alias(
        &a,
        AliasRequest {
            alias_name: "alias/macs".into(),
            target_key_id: key.key_id.clone(),
        },
    )
    .unwrap();
    let by_alias = generate(&kms, &a, "alias/macs", b"m", alg).unwrap();
    assert_eq!(by_alias.mac, mac);
    assert_eq!(by_alias.key_id, key.arn);
    // The alias ARN: the key ARN's prefix with `alias/macs`.
    let alias_arn = format!("{}:alias/macs", key.arn.rsplit_once(":key/").unwrap().0);
    assert!(
        verify(&kms, &a, &alias_arn, b"m", alg, &mac)
            .unwrap()
            .mac_valid
    );
    assert!(
        verify(&kms, &a, &key.arn, b"m", alg, &mac)
            .unwrap()
            .mac_valid
    );

    let dry = kms
        .generate_mac(
            &a,
            GenerateMacRequest {
                key_id: key.key_id.clone(),
                message: b"m".to_vec(),
                mac_algorithm: Some(alg),
                dry_run: true,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(dry.code(), "DryRunOperationException");
    let dry = kms
        .verify_mac(
            &a,
            VerifyMacRequest {
                key_id: key.key_id.clone(),
                message: b"m".to_vec(),
                mac_algorithm: Some(alg),
                mac: vec![0u8; 64],
                dry_run: true,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(dry.code(), "DryRunOperationException");

    kms.disable_key(
        &a,
        KeyIdRequest {
            key_id: key.key_id.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        code(generate(&kms, &a, &key.key_id, b"m", alg)),
        "DisabledException"
    );
    assert_eq!(
        code(verify(&kms, &a, &key.key_id, b"m", alg, &mac)),
        "DisabledException"
    );
    kms.enable_key(
        &a,
        KeyIdRequest {
            key_id: key.key_id.clone(),
        },
    )
    .unwrap();
    assert!(
        verify(&kms, &a, &key.key_id, b"m", alg, &mac)
            .unwrap()
            .mac_valid
    );

    kms.schedule_key_deletion(
        &a,
        ScheduleKeyDeletionRequest {
            key_id: key.key_id.clone(),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    assert_eq!(
        code(generate(&kms, &a, &key.key_id, b"m", alg)),
        "KMSInvalidStateException"
    );
}

#[test]
fn rotation_is_refused_for_hmac_keys() {
    let kms = kms();
    let a = alice();
    let key = hmac_key(&kms, &a, KeySpec::Hmac256);
    assert_eq!(
        code(kms.enable_key_rotation(
            &a,
            EnableKeyRotationRequest {
                key_id: key.key_id.clone(),
                ..Default::default()
            },
        )),
        "UnsupportedOperationException"
    );
    assert_eq!(
        code(kms.rotate_key_on_demand(
            &a,
            KeyIdRequest {
                key_id: key.key_id.clone(),
            },
        )),
        "UnsupportedOperationException"
    );
}

#[test]
fn key_policy_and_grants_authorize_and_others_are_denied() {
    let kms = kms();
    let a = alice();
    // The key policy: the account delegates to IAM (alice's identity policy), and carol may
    // only verify.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"{CAROL}"}},"Action":"kms:VerifyMac","Resource":"*"}}
        ]}}"#
    );
    let key = kms
        .create_key(
            &a,
            CreateKeyRequest {
                key_spec: Some(KeySpec::Hmac256),
                key_usage: Some(KeyUsage::GenerateVerifyMac),
                policy: Some(policy),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata;
    let alg = MacAlgorithmSpec::HmacSha256;
    let mac = generate(&kms, &a, &key.key_id, b"m", alg).unwrap().mac;

    let carol = Caller::new(CAROL).unwrap();
    assert!(
        verify(&kms, &carol, &key.key_id, b"m", alg, &mac)
            .unwrap()
            .mac_valid
    );
    assert_eq!(
        code(generate(&kms, &carol, &key.key_id, b"m", alg)),
        "AccessDeniedException"
    );

    // Bob has nothing until a grant for GenerateMac.
    let bob = Caller::new(BOB).unwrap();
    assert_eq!(
        code(generate(&kms, &bob, &key.key_id, b"m", alg)),
        "AccessDeniedException"
    );
    kms.create_grant(
        &a,
        CreateGrantRequest {
            key_id: key.key_id.clone(),
            grantee_principal: BOB.into(),
            operations: vec![GrantOperation::GenerateMac],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        generate(&kms, &bob, &key.key_id, b"m", alg).unwrap().mac,
        mac
    );
    // The grant gives GenerateMac only.
    assert_eq!(
        code(verify(&kms, &bob, &key.key_id, b"m", alg, &mac)),
        "AccessDeniedException"
    );

    // A grant may allow only what its key supports: no Encrypt on an HMAC key, no GenerateMac
    // on a symmetric encryption key (ValidationException, as AWS answers).
    let grant = |key_id: &str, ops: Vec<GrantOperation>| {
        kms.create_grant(
            &a,
            CreateGrantRequest {
                key_id: key_id.into(),
                grantee_principal: BOB.into(),
                operations: ops,
                ..Default::default()
            },
        )
    };
    assert_eq!(
        code(grant(
            &key.key_id,
            vec![GrantOperation::GenerateMac, GrantOperation::Encrypt]
        )),
        "ValidationException"
    );
    let sym = kms
        .create_key(&a, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    assert_eq!(
        code(grant(&sym.key_id, vec![GrantOperation::VerifyMac])),
        "ValidationException"
    );
    grant(
        &key.key_id,
        vec![
            GrantOperation::VerifyMac,
            GrantOperation::DescribeKey,
            GrantOperation::RetireGrant,
        ],
    )
    .unwrap();
    grant(
        &sym.key_id,
        vec![GrantOperation::Encrypt, GrantOperation::CreateGrant],
    )
    .unwrap();
}

#[test]
fn audit_records_carry_neither_message_nor_mac() {
    let sink = Arc::new(MemorySink::new());
    let kms = kms_with(sink.clone());
    let a = alice();
    let key = hmac_key(&kms, &a, KeySpec::Hmac256);
    let alg = MacAlgorithmSpec::HmacSha256;
    let message = b"a message that must not be logged";
    let mac = generate(&kms, &a, &key.key_id, message, alg).unwrap().mac;
    verify(&kms, &a, &key.key_id, message, alg, &mac).unwrap();
    let mut bad = mac.clone();
    bad[0] ^= 1;
    verify(&kms, &a, &key.key_id, message, alg, &bad).unwrap_err();

    let events = sink.events();
    let names: Vec<_> = events.iter().map(|e| &*e.event_name).collect();
    assert_eq!(
        names,
        ["CreateKey", "GenerateMac", "VerifyMac", "VerifyMac"]
    );
    assert_eq!(
        events[3].error_code.as_deref(),
        Some("KMSInvalidMacException")
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        b64.encode(message),
        b64.encode(&mac),
        b64.encode(&bad),
        String::from_utf8_lossy(message).into_owned(),
        mac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ];
    for e in &events[1..] {
        assert!(e.read_only);
        assert_eq!(e.resources[0].arn, key.arn);
        let params = e.request_parameters.as_ref().unwrap();
        assert_eq!(params["macAlgorithm"], "HMAC_SHA_256");
        assert_eq!(params["keyId"], key.key_id.as_str());
        let json = serde_json::to_string(e).unwrap();
        for f in &forms {
            assert!(!json.contains(f.as_str()), "{f} in {json}");
        }
    }
}

#[test]
fn hmac_keys_survive_a_reopen_of_the_data_directory() {
    use coffer::{DataDir, RootKeySource};
    let tmp = std::env::temp_dir().join(format!("coffer-hmac-reopen-{}", std::process::id()));
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
    let a = alice();
    let mut made = Vec::new();
    {
        let kms = open();
        for (spec, alg, _) in SPECS {
            let key = hmac_key(&kms, &a, spec);
            let mac = generate(&kms, &a, &key.key_id, b"persisted", alg)
                .unwrap()
                .mac;
            made.push((key, alg, mac));
        }
    }
    let kms = open();
    for (key, alg, mac) in &made {
        // The material came back from the store, unwrapped under the root key: same MACs.
        assert!(
            verify(&kms, &a, &key.key_id, b"persisted", *alg, mac)
                .unwrap()
                .mac_valid
        );
        assert_eq!(
            &generate(&kms, &a, &key.key_id, b"persisted", *alg)
                .unwrap()
                .mac,
            mac
        );
    }
    drop(kms);
    let _ = std::fs::remove_dir_all(&tmp);
}
