//! Authorization through the facade: key policies, identity policies, delegation to the account,
//! cross-account access, explicit denies, conditions, and the lockout safety check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms};

mod common;
use common::*;

fn create(kms: &Kms, caller: &Caller, policy: Option<String>) -> KeyMetadata {
    kms.create_key(
        caller,
        CreateKeyRequest {
            policy,
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
}

fn decrypt(kms: &Kms, caller: &Caller, blob: &[u8]) -> &'static str {
    match kms.decrypt(
        caller,
        DecryptRequest {
            ciphertext_blob: blob.to_vec(),
            ..Default::default()
        },
    ) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

fn key_policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Id":"test","Statement":[{statements}]}}"#)
}

/// A statement that keeps the account root able to administer the key (and passes the lockout
/// check for the root).
fn root_admin(account: &str) -> String {
    format!(
        r#"{{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}"#
    )
}

#[test]
fn default_policy_delegates_to_identity_policies() {
    let kms = kms();
    let none = EncryptionContext::new();
    let admin = who(ALICE, &[allow_all()]);
    let key = create(&kms, &admin, None);
    // The default policy names the account root: identity policies decide for principals.
    assert_eq!(encrypt(&kms, &admin, &key.key_id, &none), "ok");
    let bare = who(BOB, &[]);
    assert_eq!(
        encrypt(&kms, &bare, &key.key_id, &none),
        "AccessDeniedException"
    );
    // The root principal needs no identity policy.
    assert_eq!(encrypt(&kms, &root(ACCOUNT), &key.key_id, &none), "ok");
    // The stored default policy is AWS's.
    let p = kms
        .get_key_policy(
            &admin,
            GetKeyPolicyRequest {
                key_id: key.key_id.clone(),
                policy_name: None,
            },
        )
        .unwrap();
    assert_eq!(p.policy_name, "default");
    assert!(p.policy.contains("Enable IAM User Permissions"));
    assert!(p.policy.contains("arn:aws:iam::111122223333:root"));
    let names = kms
        .list_key_policies(
            &admin,
            ListKeyPoliciesRequest {
                key_id: key.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(names.policy_names, ["default"]);
    // Identity policies decide CreateKey and ListKeys.
    assert_eq!(
        kms.create_key(&bare, CreateKeyRequest::default())
            .unwrap_err()
            .code(),
        "AccessDeniedException"
    );
    assert_eq!(
        kms.list_keys(&bare, ListKeysRequest::default())
            .unwrap_err()
            .code(),
        "AccessDeniedException"
    );
    assert!(kms.list_keys(&admin, ListKeysRequest::default()).is_ok());
}

#[test]
fn key_policy_without_root_does_not_delegate() {
    let kms = kms();
    let none = EncryptionContext::new();
    let policy = key_policy(&format!(
        r#"{{"Sid":"Alice","Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:*","Resource":"*"}}"#
    ));
    let alice_bare = who(ALICE, &[]);
    let key = kms
        .create_key(
            &root(ACCOUNT),
            CreateKeyRequest {
                policy: Some(policy.clone()),
                bypass_policy_lockout_safety_check: true,
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata;
    // Named directly: allowed without any identity policy.
    assert_eq!(encrypt(&kms, &alice_bare, &key.key_id, &none), "ok");
    // Bob's identity policy allows kms:*, but the key policy does not name his account.
    let bob = who(BOB, &[allow_all()]);
    assert_eq!(
        encrypt(&kms, &bob, &key.key_id, &none),
        "AccessDeniedException"
    );
    // Not even the root: the key policy is the only way in.
    assert_eq!(
        encrypt(&kms, &root(ACCOUNT), &key.key_id, &none),
        "AccessDeniedException"
    );
}

#[test]
fn cross_account_needs_both_sides() {
    let kms = kms();
    let none = EncryptionContext::new();
    let owner = who(ALICE, &[allow_all()]);
    let policy = key_policy(&format!(
        r#"{},{{"Sid":"Partner","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:root"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#,
        root_admin(ACCOUNT)
    ));
    let key = create(&kms, &owner, Some(policy));
    let blob = kms
        .encrypt(
            &owner,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"shared".to_vec().into(),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob;
    // The partner's principal with its own identity policy: allowed (by ARN, not bare id).
    let mallory = who(MALLORY, &[allow_all()]);
    assert_eq!(encrypt(&kms, &mallory, &key.arn, &none), "ok");
    assert_eq!(decrypt(&kms, &mallory, &blob), "ok");
    // Without her own identity policy: refused.
    let bare = who(MALLORY, &[]);
    assert_eq!(
        encrypt(&kms, &bare, &key.arn, &none),
        "AccessDeniedException"
    );
    assert_eq!(decrypt(&kms, &bare, &blob), "AccessDeniedException");
    // The key policy allows only Encrypt and Decrypt to the partner.
    assert_eq!(
        kms.describe_key(
            &mallory,
            DescribeKeyRequest {
                key_id: key.arn.clone(),
                ..Default::default()
            }
        )
        .unwrap_err()
        .code(),
        "AccessDeniedException"
    );
    // A third account gets nothing.
    let eve = who("arn:aws:iam::777788889999:user/eve", &[allow_all()]);
    assert_eq!(
        encrypt(&kms, &eve, &key.arn, &none),
        "AccessDeniedException"
    );
}

#[test]
fn explicit_deny_in_identity_policy_overrides_key_policy_allow() {
    let kms = kms();
    let none = EncryptionContext::new();
    let policy = key_policy(&format!(
        r#"{},{{"Sid":"Alice","Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:*","Resource":"*"}}"#,
        root_admin(ACCOUNT)
    ));
    let key = create(&kms, &root(ACCOUNT), Some(policy));
    let deny_encrypt = identity(r#"{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}"#);
    let alice = who(ALICE, &[deny_encrypt]);
    assert_eq!(
        encrypt(&kms, &alice, &key.key_id, &none),
        "AccessDeniedException"
    );
    // The deny is for Encrypt only.
    assert!(kms
        .describe_key(
            &alice,
            DescribeKeyRequest {
                key_id: key.key_id.clone(),
                ..Default::default()
            }
        )
        .is_ok());
}

#[test]
fn key_policy_allowing_only_decrypt_wins_over_a_wider_identity_policy() {
    let kms = kms();
    let none = EncryptionContext::new();
    let admin = who(ALICE, &[allow_all()]);
    let key = create(&kms, &admin, None);
    let blob = kms
        .encrypt(
            &admin,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob;
    // Now the key policy lets Bob only decrypt; his identity policy allows both.
    let policy = key_policy(&format!(
        r#"{},{{"Sid":"BobDecrypt","Effect":"Allow","Principal":{{"AWS":"{BOB}"}},"Action":"kms:Decrypt","Resource":"*"}}"#,
        // The admin statement is for Alice only, so Bob gets no delegation.
        format_args!(
            r#"{{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:*","Resource":"*"}}"#
        )
    ));
    kms.put_key_policy(
        &admin,
        PutKeyPolicyRequest {
            key_id: key.key_id.clone(),
            policy,
            ..Default::default()
        },
    )
    .unwrap();
    let bob = who(
        BOB,
        &[identity(
            r#"{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}"#,
        )],
    );
    assert_eq!(decrypt(&kms, &bob, &blob), "ok");
    assert_eq!(
        encrypt(&kms, &bob, &key.key_id, &none),
        "AccessDeniedException"
    );
}

#[test]
fn via_service_limits_a_key_to_one_service() {
    let kms = kms();
    let none = EncryptionContext::new();
    let policy = key_policy(&format!(
        r#"{},{{"Sid":"ViaS3","Effect":"Allow","Principal":{{"AWS":"{BOB}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}}}}"#,
        root_admin(ACCOUNT)
    ));
    let key = create(&kms, &root(ACCOUNT), Some(policy));
    let bob = who(BOB, &[]);
    assert_eq!(
        encrypt(&kms, &bob, &key.key_id, &none),
        "AccessDeniedException"
    );
    let via_s3 = who(BOB, &[]).with_via_service("s3.us-east-1.amazonaws.com");
    assert_eq!(encrypt(&kms, &via_s3, &key.key_id, &none), "ok");
    let via_ebs = who(BOB, &[]).with_via_service("ec2.us-east-1.amazonaws.com");
    assert_eq!(
        encrypt(&kms, &via_ebs, &key.key_id, &none),
        "AccessDeniedException"
    );
}

#[test]
fn tag_condition_allows_prod_and_refuses_dev() {
    let kms = kms();
    let none = EncryptionContext::new();
    let admin = who(ALICE, &[allow_all()]);
    let abac = identity(
        r#"{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/environment":"prod"}}}"#,
    );
    let bob = who(BOB, &[abac]);
    let tagged = |env: &str| {
        kms.create_key(
            &admin,
            CreateKeyRequest {
                tags: vec![Tag {
                    tag_key: "environment".into(),
                    tag_value: env.into(),
                }],
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
    };
    let prod = tagged("prod");
    let dev = tagged("dev");
    assert_eq!(encrypt(&kms, &bob, &prod.key_id, &none), "ok");
    assert_eq!(
        encrypt(&kms, &bob, &dev.key_id, &none),
        "AccessDeniedException"
    );
    // Retagging takes effect at once (the cached key is invalidated).
    kms.tag_resource(
        &admin,
        TagResourceRequest {
            key_id: dev.key_id.clone(),
            tags: vec![Tag {
                tag_key: "environment".into(),
                tag_value: "prod".into(),
            }],
        },
    )
    .unwrap();
    assert_eq!(encrypt(&kms, &bob, &dev.key_id, &none), "ok");
}

#[test]
fn encryption_context_conditions() {
    let kms = kms();
    let admin = who(ALICE, &[allow_all()]);
    let key = create(&kms, &admin, None);
    let tenant = identity(
        r#"{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}}"#,
    );
    let bob = who(BOB, &[tenant]);
    let acme: EncryptionContext = [("tenant", "acme")].into_iter().collect();
    let other: EncryptionContext = [("tenant", "globex")].into_iter().collect();
    assert_eq!(encrypt(&kms, &bob, &key.key_id, &acme), "ok");
    assert_eq!(
        encrypt(&kms, &bob, &key.key_id, &other),
        "AccessDeniedException"
    );
    assert_eq!(
        encrypt(&kms, &bob, &key.key_id, &EncryptionContext::new()),
        "AccessDeniedException"
    );
}

#[test]
fn re_encrypt_checks_from_and_to() {
    let kms = kms();
    let admin = who(ALICE, &[allow_all()]);
    let k1 = create(&kms, &admin, None);
    let k2 = create(&kms, &admin, None);
    let blob = kms
        .encrypt(
            &admin,
            EncryptRequest {
                key_id: k1.key_id.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob;
    let only_from = identity(&format!(
        r#"{{"Effect":"Allow","Action":"kms:ReEncryptFrom","Resource":"{}"}},{{"Effect":"Allow","Action":"kms:ReEncryptTo","Resource":"{}"}}"#,
        k1.arn, k1.arn
    ));
    let bob = who(BOB, &[only_from]);
    let re = |to: &str| {
        kms.re_encrypt(
            &bob,
            ReEncryptRequest {
                ciphertext_blob: blob.clone(),
                destination_key_id: to.into(),
                ..Default::default()
            },
        )
    };
    assert!(re(&k1.key_id).is_ok());
    assert_eq!(re(&k2.key_id).unwrap_err().code(), "AccessDeniedException");
}

#[test]
fn lockout_safety_check_and_policy_validation() {
    let kms = kms();
    let admin = who(ALICE, &[allow_all()]);
    let key = create(&kms, &admin, None);
    let put = |policy: String, bypass: bool| {
        kms.put_key_policy(
            &admin,
            PutKeyPolicyRequest {
                key_id: key.key_id.clone(),
                policy,
                bypass_policy_lockout_safety_check: bypass,
                ..Default::default()
            },
        )
    };
    // A policy that lets only Bob administer the key would lock Alice out.
    let bob_only = key_policy(&format!(
        r#"{{"Sid":"Bob","Effect":"Allow","Principal":{{"AWS":"{BOB}"}},"Action":"kms:*","Resource":"*"}}"#
    ));
    let err = put(bob_only.clone(), false).unwrap_err();
    assert_eq!(err.code(), "MalformedPolicyDocumentException");
    assert!(err
        .message()
        .contains("will not allow you to update the key policy"));
    // Malformed documents say where.
    let bad = key_policy(
        r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}"#,
    );
    let err = put(bad, false).unwrap_err();
    assert_eq!(err.code(), "MalformedPolicyDocumentException");
    assert!(err.message().contains("StringEqualz"), "{}", err.message());
    assert_eq!(
        put("not json".into(), false).unwrap_err().code(),
        "MalformedPolicyDocumentException"
    );
    assert_eq!(
        put(String::new(), false).unwrap_err().code(),
        "ValidationException"
    );
    assert_eq!(
        kms.put_key_policy(
            &admin,
            PutKeyPolicyRequest {
                key_id: key.key_id.clone(),
                policy_name: Some("other".into()),
                policy: bob_only.clone(),
                ..Default::default()
            }
        )
        .unwrap_err()
        .code(),
        "ValidationException"
    );
    // With the bypass it is accepted, takes effect at once, and Alice is locked out.
    put(bob_only, true).unwrap();
    assert_eq!(
        put(key_policy(&root_admin(ACCOUNT)), false)
            .unwrap_err()
            .code(),
        "AccessDeniedException"
    );
    assert_eq!(
        encrypt(&kms, &admin, &key.key_id, &EncryptionContext::new()),
        "AccessDeniedException"
    );
    // CreateKey applies the same check.
    let err = kms
        .create_key(
            &admin,
            CreateKeyRequest {
                policy: Some(key_policy(&format!(
                    r#"{{"Sid":"Bob","Effect":"Allow","Principal":{{"AWS":"{BOB}"}},"Action":"kms:*","Resource":"*"}}"#
                ))),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "MalformedPolicyDocumentException");
}

#[test]
fn denials_give_no_reason() {
    let kms = kms();
    let admin = who(ALICE, &[allow_all()]);
    let key = create(&kms, &admin, None);
    let deny =
        identity(r#"{"Sid":"SecretSidName","Effect":"Deny","Action":"kms:*","Resource":"*"}"#);
    let bob = who(BOB, &[allow_all(), deny]);
    let err = kms
        .encrypt(
            &bob,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
    assert!(!err.message().contains("SecretSidName"));
    assert!(!err.message().to_lowercase().contains("deny"));
}

/// ReEncrypt resolves its destination early (for `kms:ReEncryptOnSameKey`) but reports a missing
/// destination only after the source is authorized: a caller with no right to the ciphertext
/// gets AccessDeniedException whatever destination it names, and learns nothing about which
/// keys or aliases exist.
#[test]
fn re_encrypt_denies_before_saying_whether_the_destination_exists() {
    let kms = kms();
    let alice = who(ALICE, &[allow_all()]);
    let key = kms
        .create_key(&alice, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let blob = kms
        .encrypt(
            &alice,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"payroll".to_vec().into(),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob;
    let bob = who(BOB, &[]);
    for destination in [
        "alias/no-such-alias",
        "alias/also-missing",
        key.key_id.as_str(),
    ] {
        let e = kms
            .re_encrypt(
                &bob,
                ReEncryptRequest {
                    ciphertext_blob: blob.clone(),
                    destination_key_id: destination.into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "AccessDeniedException", "{destination}: {e}");
    }
    // The owner still gets the destination's own error.
    let e = kms
        .re_encrypt(
            &alice,
            ReEncryptRequest {
                ciphertext_blob: blob,
                destination_key_id: "alias/no-such-alias".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "NotFoundException", "{e}");
}
