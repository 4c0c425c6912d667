//! Multi-Region keys in the facade: CreateKey with MultiRegion, `mrk-` ids, DescribeKey's
//! MultiRegionConfiguration, ListKeys, aliases, ciphertexts, and ordinary ids unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;
use std::time::Duration;

use coffer::model::*;
use coffer::testing::ManualClock;
use coffer::{Caller, Kms, SecretBytes};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const KMS_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn kms(region: &str) -> Kms {
    let clock = Arc::new(ManualClock::new(
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .clock(clock)
        .region(region)
        .build()
        .unwrap()
}

fn alice() -> Caller {
    Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(KMS_ALL)
        .unwrap()
}

fn create(kms: &Kms, caller: &Caller, spec: KeySpec, usage: KeyUsage) -> KeyMetadata {
    kms.create_key(
        caller,
        CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(usage),
            multi_region: Some(true),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
}

#[test]
fn create_key_multi_region_makes_a_primary_with_an_mrk_id() {
    let kms = kms("eu-west-1");
    let alice = alice();
    for (spec, usage) in [
        (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
        (KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
        (KeySpec::EccNistP256, KeyUsage::SignVerify),
    ] {
        let m = create(&kms, &alice, spec, usage);
        assert!(m.key_id.starts_with("mrk-"), "{}", m.key_id);
        assert_eq!(m.key_id.len(), 36);
        assert_eq!(
            m.arn,
            format!("arn:aws:kms:eu-west-1:111122223333:key/{}", m.key_id)
        );
        assert!(m.multi_region);
        let conf = m.multi_region_configuration.clone().unwrap();
        assert_eq!(conf.multi_region_key_type, MultiRegionKeyType::Primary);
        assert_eq!(conf.primary_key.arn, m.arn);
        assert_eq!(conf.primary_key.region, "eu-west-1");
        assert!(conf.replica_keys.is_empty());
        // DescribeKey by id and by ARN says the same.
        for name in [m.key_id.clone(), m.arn.clone()] {
            let d = kms
                .describe_key(
                    &alice,
                    DescribeKeyRequest {
                        key_id: name,
                        ..Default::default()
                    },
                )
                .unwrap()
                .key_metadata;
            assert_eq!(d, m);
        }
    }
    // ListKeys lists them by their mrk ids.
    let listed = kms.list_keys(&alice, ListKeysRequest::default()).unwrap();
    let mrks = listed
        .keys
        .iter()
        .filter(|k| k.key_id.starts_with("mrk-"))
        .count();
    assert_eq!(mrks, 3);
}

#[test]
fn single_region_keys_are_as_before() {
    let kms = kms("us-east-1");
    let alice = alice();
    for multi_region in [None, Some(false)] {
        let m = kms
            .create_key(
                &alice,
                CreateKeyRequest {
                    multi_region,
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata;
        assert!(!m.key_id.starts_with("mrk-"));
        assert_eq!(m.key_id.len(), 36);
        assert_eq!(m.key_id.matches('-').count(), 4);
        assert!(!m.multi_region);
        assert_eq!(m.multi_region_configuration, None);
    }
}

#[test]
fn an_mrk_key_encrypts_and_decrypts_by_alias_and_its_blob_names_it() {
    let kms = kms("us-east-1");
    let alice = alice();
    let m = create(&kms, &alice, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    kms.create_alias(
        &alice,
        AliasRequest {
            alias_name: "alias/global".into(),
            target_key_id: m.key_id.clone(),
        },
    )
    .unwrap();
    let aliases = kms
        .list_aliases(
            &alice,
            ListAliasesRequest {
                key_id: Some(m.key_id.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(aliases.aliases.len(), 1);
    assert_eq!(aliases.aliases[0].target_key_id, m.key_id);
    let blob = kms
        .encrypt(
            &alice,
            EncryptRequest {
                key_id: "alias/global".into(),
                plaintext: SecretBytes::copy_from(b"everywhere"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(blob.key_id, m.arn);
    let plain = kms
        .decrypt(
            &alice,
            DecryptRequest {
                ciphertext_blob: blob.ciphertext_blob,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(plain.plaintext.expose(), b"everywhere");
    assert_eq!(plain.key_id, m.arn);
}

#[test]
fn multi_region_external_keys_are_refused_and_bad_mrk_ids_are_not_found() {
    let kms = kms("us-east-1");
    let alice = alice();
    let e = kms
        .create_key(
            &alice,
            CreateKeyRequest {
                origin: Some(Origin::External),
                multi_region: Some(true),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
    for bad in [
        "mrk-1234abcd12ab34cd56ef1234567890ab",
        "mrk-1234abcd12ab34cde6ef1234567890ab",
        "mrk-zz",
    ] {
        let e = kms
            .describe_key(
                &alice,
                DescribeKeyRequest {
                    key_id: bad.into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "NotFoundException", "{bad}");
    }
}

#[test]
fn kms_multi_region_condition_key_sees_the_key_kind() {
    let kms = kms("us-east-1");
    // Alice may do anything except create multi-Region keys.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Action":"kms:CreateKey","Resource":"*","Condition":{"Bool":{"kms:MultiRegion":"true"}}}]}"#;
    let limited = Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(policy)
        .unwrap();
    let e = kms
        .create_key(
            &limited,
            CreateKeyRequest {
                multi_region: Some(true),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    kms.create_key(&limited, CreateKeyRequest::default())
        .unwrap();
}
