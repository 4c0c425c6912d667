//! AWS managed keys: created on first use through their service (or by DescribeKey of a
//! predefined alias), KeyManager AWS, a policy that allows use only through the service by the
//! account's principals, yearly rotation, listed as AWS lists them, and every management
//! operation refused through the one admission path — with the attacker's tests: no service,
//! the wrong service, another account, a customer alias pointed at the key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;
use std::time::Duration;

use coffer::audit_log::MemorySink;
use coffer::model::*;
use coffer::testing::ManualClock;
use coffer::{Caller, Kms, SecretBytes};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const S3: &str = "s3.us-east-1.amazonaws.com";
const KMS_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn setup() -> (Kms, Arc<ManualClock>, Arc<MemorySink>) {
    let clock = Arc::new(ManualClock::new(
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let sink = Arc::new(MemorySink::new());
    let kms = Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .clock(clock.clone())
        .audit_sink(sink.clone())
        .build()
        .unwrap();
    (kms, clock, sink)
}

/// Alice, allowed everything by her identity policy.
fn alice() -> Caller {
    Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(KMS_ALL)
        .unwrap()
}

/// Alice acting through `service`.
fn alice_via(service: &str) -> Caller {
    alice().with_via_service(service)
}

fn encrypt(kms: &Kms, caller: &Caller, key_id: &str) -> Result<EncryptResponse, coffer::Error> {
    kms.encrypt(
        caller,
        EncryptRequest {
            key_id: key_id.into(),
            plaintext: SecretBytes::copy_from(b"object"),
            ..Default::default()
        },
    )
}

fn describe(kms: &Kms, caller: &Caller, key_id: &str) -> Result<KeyMetadata, coffer::Error> {
    kms.describe_key(
        caller,
        DescribeKeyRequest {
            key_id: key_id.into(),
            ..Default::default()
        },
    )
    .map(|r| r.key_metadata)
}

fn aliases(kms: &Kms) -> Vec<(String, String)> {
    kms.list_aliases(&alice(), ListAliasesRequest::default())
        .unwrap()
        .aliases
        .into_iter()
        .map(|a| (a.alias_name, a.target_key_id))
        .collect()
}

#[test]
fn first_use_through_the_service_creates_the_key_once() {
    let (kms, _, sink) = setup();
    // Before its first use the alias does not exist, for anyone not acting through S3.
    let e = encrypt(&kms, &alice(), "alias/aws/s3").unwrap_err();
    assert_eq!(e.code(), "NotFoundException");
    assert!(aliases(&kms).is_empty());

    let first = encrypt(&kms, &alice_via(S3), "alias/aws/s3").unwrap();
    let again = encrypt(&kms, &alice_via(S3), "alias/aws/s3").unwrap();
    assert_eq!(
        first.key_id, again.key_id,
        "one key per service and account"
    );
    let listed = aliases(&kms);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, "alias/aws/s3");
    assert!(first.key_id.ends_with(&listed[0].1));
    assert_eq!(
        kms.list_keys(&alice(), ListKeysRequest::default())
            .unwrap()
            .keys
            .len(),
        1
    );

    // Its metadata: KeyManager AWS, a symmetric key, rotated every year.
    let meta = describe(&kms, &alice(), "alias/aws/s3").unwrap();
    assert_eq!(meta.key_manager, "AWS");
    assert_eq!(meta.key_spec, KeySpec::SymmetricDefault);
    assert!(meta.description.contains("s3"), "{}", meta.description);
    let rotation = kms
        .get_key_rotation_status(
            &alice(),
            KeyIdRequest {
                key_id: meta.key_id.clone(),
            },
        )
        .unwrap();
    assert!(rotation.key_rotation_enabled);
    assert_eq!(rotation.rotation_period_in_days, Some(365));
    // A ciphertext made through the service opens through it, not directly.
    let ct = first.ciphertext_blob.clone();
    let decrypt = |caller: &Caller| {
        kms.decrypt(
            caller,
            DecryptRequest {
                ciphertext_blob: ct.clone(),
                ..Default::default()
            },
        )
    };
    assert_eq!(
        decrypt(&alice_via(S3)).unwrap().plaintext.expose(),
        b"object"
    );
    assert_eq!(
        decrypt(&alice()).unwrap_err().code(),
        "AccessDeniedException"
    );
    // The creation is in the audit trail, made by the service, not by Alice.
    let created = sink
        .events()
        .into_iter()
        .find(|e| e.event_name == "CreateKey")
        .unwrap();
    let who = serde_json::to_value(&created.user_identity).unwrap();
    assert_eq!(who["type"], "AWSService", "{who}");
    // A customer key says CUSTOMER.
    let own = kms
        .create_key(&alice(), CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    assert_eq!(own.key_manager, "CUSTOMER");
}

#[test]
fn only_its_own_service_and_account_may_use_it() {
    let (kms, _, _) = setup();
    let key = encrypt(&kms, &alice_via(S3), "alias/aws/s3")
        .unwrap()
        .key_id;
    // Directly, or through another service: refused by the key policy.
    assert_eq!(
        encrypt(&kms, &alice(), &key).unwrap_err().code(),
        "AccessDeniedException"
    );
    assert_eq!(
        encrypt(&kms, &alice_via("sqs.us-east-1.amazonaws.com"), &key)
            .unwrap_err()
            .code(),
        "AccessDeniedException"
    );
    // Another service's alias is not created by S3's integration.
    assert_eq!(
        encrypt(&kms, &alice_via(S3), "alias/aws/sqs")
            .unwrap_err()
            .code(),
        "NotFoundException"
    );
    // Another account acting through S3, naming the key by ARN or its alias by ARN: refused,
    // and no key is made in either account.
    let mallory = Caller::new("arn:aws:iam::444455556666:user/mallory")
        .unwrap()
        .with_identity_policy_json(KMS_ALL)
        .unwrap()
        .with_via_service(S3);
    assert_eq!(
        encrypt(&kms, &mallory, &key).unwrap_err().code(),
        "AccessDeniedException"
    );
    let e = encrypt(
        &kms,
        &mallory,
        "arn:aws:kms:us-east-1:111122223333:alias/aws/s3",
    )
    .unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    let e = encrypt(
        &kms,
        &mallory,
        "arn:aws:kms:us-east-1:111122223333:alias/aws/sns",
    )
    .unwrap_err();
    assert_eq!(e.code(), "NotFoundException");
    assert_eq!(aliases(&kms).len(), 1);
}

#[test]
fn describe_key_of_a_predefined_alias_creates_it_and_others_are_not_found() {
    let (kms, _, _) = setup();
    let meta = describe(&kms, &alice(), "alias/aws/ebs").unwrap();
    assert_eq!(meta.key_manager, "AWS");
    // EBS volumes are EC2's: its key trusts ec2.<region>.amazonaws.com.
    let policy = kms
        .get_key_policy(
            &alice(),
            GetKeyPolicyRequest {
                key_id: meta.key_id.clone(),
                policy_name: None,
            },
        )
        .unwrap()
        .policy;
    assert!(policy.contains("ec2.us-east-1.amazonaws.com"), "{policy}");
    encrypt(
        &kms,
        &alice_via("ec2.us-east-1.amazonaws.com"),
        "alias/aws/ebs",
    )
    .unwrap();
    // Not a predefined service: DescribeKey alone does not make one.
    assert_eq!(
        describe(&kms, &alice(), "alias/aws/unheard-of")
            .unwrap_err()
            .code(),
        "NotFoundException"
    );
    // But an integration acting as that service does.
    let custom = "unheard-of.us-east-1.amazonaws.com";
    encrypt(&kms, &alice_via(custom), "alias/aws/unheard-of").unwrap();
}

#[test]
fn management_operations_are_refused_as_aws_refuses_them() {
    let (kms, _, _) = setup();
    let key = String::from(
        encrypt(&kms, &alice_via(S3), "alias/aws/s3")
            .unwrap()
            .key_id,
    );
    let id = || KeyIdRequest {
        key_id: key.clone(),
    };
    // Even for a principal whose identity policy allows kms:* and who acts through S3.
    for caller in [alice(), alice_via(S3)] {
        let denied = |r: Result<(), coffer::Error>, what: &str| {
            assert_eq!(r.unwrap_err().code(), "AccessDeniedException", "{what}");
        };
        denied(
            kms.put_key_policy(
                &caller,
                PutKeyPolicyRequest {
                    key_id: key.clone(),
                    policy_name: None,
                    policy: KMS_ALL.replace(r#""Action""#, r#""Principal":{"AWS":"*"},"Action""#),
                    bypass_policy_lockout_safety_check: true,
                },
            ),
            "PutKeyPolicy",
        );
        denied(kms.disable_key(&caller, id()), "DisableKey");
        denied(
            kms.schedule_key_deletion(
                &caller,
                ScheduleKeyDeletionRequest {
                    key_id: key.clone(),
                    pending_window_in_days: Some(7),
                },
            )
            .map(|_| ()),
            "ScheduleKeyDeletion",
        );
        denied(
            kms.enable_key_rotation(
                &caller,
                EnableKeyRotationRequest {
                    key_id: key.clone(),
                    ..Default::default()
                },
            ),
            "EnableKeyRotation",
        );
        denied(
            kms.disable_key_rotation(&caller, id()),
            "DisableKeyRotation",
        );
        denied(
            kms.rotate_key_on_demand(&caller, id()).map(|_| ()),
            "RotateKeyOnDemand",
        );
        denied(
            kms.tag_resource(
                &caller,
                TagResourceRequest {
                    key_id: key.clone(),
                    tags: vec![Tag {
                        tag_key: "k".into(),
                        tag_value: "v".into(),
                    }],
                },
            ),
            "TagResource",
        );
        denied(
            kms.update_key_description(
                &caller,
                UpdateKeyDescriptionRequest {
                    key_id: key.clone(),
                    description: "mine now".into(),
                },
            ),
            "UpdateKeyDescription",
        );
        // A customer alias pointed at it.
        denied(
            kms.create_alias(
                &caller,
                AliasRequest {
                    alias_name: "alias/hijack".into(),
                    target_key_id: key.clone(),
                },
            ),
            "CreateAlias",
        );
    }
    // Its alias cannot be moved or deleted: the alias/aws/ names are reserved.
    let own = kms
        .create_key(&alice(), CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let e = kms
        .update_alias(
            &alice(),
            AliasRequest {
                alias_name: "alias/aws/s3".into(),
                target_key_id: own.key_id.clone(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "InvalidAliasNameException");
    let e = kms
        .delete_alias(
            &alice(),
            DeleteAliasRequest {
                alias_name: "alias/aws/s3".into(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "InvalidAliasNameException");
    // A customer alias cannot be moved onto it either.
    kms.create_alias(
        &alice(),
        AliasRequest {
            alias_name: "alias/mine".into(),
            target_key_id: own.key_id.clone(),
        },
    )
    .unwrap();
    let e = kms
        .update_alias(
            &alice(),
            AliasRequest {
                alias_name: "alias/mine".into(),
                target_key_id: key.clone(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    // Nothing changed.
    let meta = describe(&kms, &alice(), &key).unwrap();
    assert_eq!(meta.key_state, KeyState::Enabled);
    assert!(meta.deletion_date.is_none());
    assert_eq!(aliases(&kms).len(), 2);
}

#[test]
fn maintenance_rotates_it_every_year() {
    let (kms, clock, _) = setup();
    let key = encrypt(&kms, &alice_via(S3), "alias/aws/s3")
        .unwrap()
        .key_id;
    let rotations = |kms: &Kms| {
        kms.list_key_rotations(
            &alice(),
            ListKeyRotationsRequest {
                key_id: key.to_string(),
                ..Default::default()
            },
        )
        .unwrap()
        .rotations
        .len()
    };
    assert_eq!(rotations(&kms), 0);
    clock.advance(Duration::from_secs(86_400 * 365 + 1));
    kms.run_maintenance().unwrap();
    assert_eq!(rotations(&kms), 1);
}

#[test]
fn concurrent_first_uses_make_one_key() {
    let (kms, _, _) = setup();
    let kms = Arc::new(kms);
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (kms, barrier) = (kms.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                encrypt(&kms, &alice_via(S3), "alias/aws/s3")
                    .unwrap()
                    .key_id
            })
        })
        .collect();
    let ids: Vec<coffer::KeyArn> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(
        kms.list_keys(&alice(), ListKeysRequest::default())
            .unwrap()
            .keys
            .len(),
        1
    );
}
