//! The authorization decision memo, attacked: an allow remembered for one caller must never
//! admit another principal, another account, a changed identity policy, a key whose policy,
//! tags or aliases changed, a call a condition decides, or a call a Deny added later refuses.
//! Each test first makes the allow remembered (the same call twice), then tries the variant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;

use coffer::model::*;
use coffer::Policy;
use coffer::{Caller, EncryptionContext, Kms};

mod common;
use common::*;

fn key_policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Id":"test","Statement":[{statements}]}}"#)
}

fn root_admin(account: &str) -> String {
    format!(
        r#"{{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}"#
    )
}

fn create(kms: &Kms, caller: &Caller, policy: Option<String>) -> String {
    kms.create_key(
        caller,
        CreateKeyRequest {
            policy,
            bypass_policy_lockout_safety_check: true,
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .key_id
}

fn encrypt_plain(kms: &Kms, caller: &Caller, key: &str) -> &'static str {
    encrypt(kms, caller, key, &EncryptionContext::new())
}

/// The same allowed call twice: the second is answered from the memo (where there is one).
fn remembered(kms: &Kms, caller: &Caller, key: &str) {
    assert_eq!(encrypt_plain(kms, caller, key), "ok");
    assert_eq!(encrypt_plain(kms, caller, key), "ok");
}

fn put_policy(kms: &Kms, key: &str, policy: String) {
    kms.put_key_policy(
        &root(ACCOUNT),
        PutKeyPolicyRequest {
            key_id: key.into(),
            policy,
            bypass_policy_lockout_safety_check: true,
            ..Default::default()
        },
    )
    .unwrap();
}

const DENIED: &str = "AccessDeniedException";

#[test]
fn a_second_principal_is_not_let_in_by_anothers_allow() {
    let kms = kms();
    // A key policy naming Alice alone: no delegation to identity policies.
    let key = create(
        &kms,
        &root(ACCOUNT),
        Some(key_policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:*","Resource":"*"}}"#
        ))),
    );
    let alice = who(ALICE, &[allow_all()]);
    remembered(&kms, &alice, &key);
    // Bob holds Alice's very identity-policy set (same set id): still refused.
    let mut bob = who(BOB, &[]);
    bob.identity_policies = alice.identity_policies.clone();
    assert_eq!(encrypt_plain(&kms, &bob, &key), DENIED);
    assert_eq!(encrypt_plain(&kms, &alice, &key), "ok");
}

#[test]
fn another_account_is_not_let_in_by_an_allow_in_this_one() {
    let kms = kms();
    let alice = who(ALICE, &[allow_all()]);
    let key = create(&kms, &alice, None);
    let arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}");
    remembered(&kms, &alice, &arn);
    // Mallory, of another account, with the same identity-policy set: the default key policy
    // names only the key's account.
    let mut mallory = who(MALLORY, &[]);
    mallory.identity_policies = alice.identity_policies.clone();
    assert_eq!(encrypt_plain(&kms, &mallory, &arn), DENIED);
    // The other account's root neither.
    remembered(&kms, &root(ACCOUNT), &arn);
    assert_eq!(encrypt_plain(&kms, &root(OTHER), &arn), DENIED);
}

#[test]
fn a_changed_identity_policy_set_is_decided_afresh() {
    let kms = kms();
    let alice = who(ALICE, &[allow_all()]);
    let key = create(&kms, &alice, None);
    remembered(&kms, &alice, &key);
    // The same principal with a Deny added to its set: a new set id, refused.
    let mut denied = alice.clone();
    let deny = identity(r#"{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}"#);
    denied
        .identity_policies
        .push(Arc::new(Policy::parse_identity_policy(&deny).unwrap()));
    assert_eq!(encrypt_plain(&kms, &denied, &key), DENIED);
    // Extended rather than pushed: likewise.
    let mut extended = alice.clone();
    extended
        .identity_policies
        .extend([Arc::new(Policy::parse_identity_policy(&deny).unwrap())]);
    assert_eq!(encrypt_plain(&kms, &extended, &key), DENIED);
    // The same principal with no identity policy: the default key policy delegates to none.
    assert_eq!(encrypt_plain(&kms, &who(ALICE, &[]), &key), DENIED);
    // A policy allowing only Decrypt, built anew: refused Encrypt.
    let decrypt_only = who(
        ALICE,
        &[identity(
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#,
        )],
    );
    assert_eq!(encrypt_plain(&kms, &decrypt_only, &key), DENIED);
    assert_eq!(encrypt_plain(&kms, &alice, &key), "ok");
}

#[test]
fn another_action_is_not_let_in_by_an_allow_of_one() {
    let kms = kms();
    let key = create(
        &kms,
        &root(ACCOUNT),
        Some(key_policy(&format!(
            r#"{},{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:Encrypt","Resource":"*"}}"#,
            root_admin(ACCOUNT)
        ))),
    );
    let alice = who(ALICE, &[]);
    remembered(&kms, &alice, &key);
    let r = kms.generate_data_key(
        &alice,
        GenerateDataKeyRequest {
            key_id: key.clone(),
            key_spec: Some(DataKeySpec::Aes256),
            ..Default::default()
        },
    );
    assert_eq!(r.unwrap_err().code(), DENIED);
}

#[test]
fn a_deny_added_to_the_key_policy_after_an_allow_wins() {
    let kms = kms();
    let alice = who(ALICE, &[allow_all()]);
    let key = create(&kms, &alice, None);
    remembered(&kms, &alice, &key);
    put_policy(
        &kms,
        &key,
        key_policy(&format!(
            r#"{},{{"Effect":"Deny","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:Encrypt","Resource":"*"}}"#,
            root_admin(ACCOUNT)
        )),
    );
    assert_eq!(encrypt_plain(&kms, &alice, &key), DENIED);
    assert_eq!(encrypt_plain(&kms, &alice, &key), DENIED);
    // And back: allowed again.
    put_policy(&kms, &key, key_policy(&root_admin(ACCOUNT)));
    remembered(&kms, &alice, &key);
    // A key policy that no longer delegates to the account: refused.
    put_policy(
        &kms,
        &key,
        key_policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{BOB}"}},"Action":"kms:*","Resource":"*"}}"#
        )),
    );
    assert_eq!(encrypt_plain(&kms, &alice, &key), DENIED);
}

#[test]
fn a_disabled_key_is_refused_after_an_allow() {
    let kms = kms();
    let alice = who(ALICE, &[allow_all()]);
    let key = create(&kms, &alice, None);
    remembered(&kms, &alice, &key);
    kms.disable_key(
        &alice,
        KeyIdRequest {
            key_id: key.clone(),
        },
    )
    .unwrap();
    assert_eq!(encrypt_plain(&kms, &alice, &key), "DisabledException");
}

#[test]
fn a_condition_on_resource_tags_is_decided_on_every_call() {
    let kms = kms();
    // The key policy's allow depends on a tag: nothing is remembered for this key.
    let key = create(
        &kms,
        &root(ACCOUNT),
        Some(key_policy(&format!(
            r#"{},{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"StringEquals":{{"aws:ResourceTag/env":"prod"}}}}}}"#,
            root_admin(ACCOUNT)
        ))),
    );
    let alice = who(ALICE, &[]);
    let tag = |value: &str| {
        kms.tag_resource(
            &root(ACCOUNT),
            TagResourceRequest {
                key_id: key.clone(),
                tags: vec![Tag {
                    tag_key: "env".into(),
                    tag_value: value.into(),
                }],
            },
        )
        .unwrap();
    };
    assert_eq!(encrypt_plain(&kms, &alice, &key), DENIED);
    tag("prod");
    remembered(&kms, &alice, &key);
    tag("dev");
    assert_eq!(encrypt_plain(&kms, &alice, &key), DENIED);
}

#[test]
fn a_condition_in_an_identity_policy_is_decided_on_every_call() {
    let kms = kms();
    // Condition-free key policy (the default), identity policy with a condition on the
    // encryption context and one on the request alias.
    let admin = who(ALICE, &[allow_all()]);
    let key = create(&kms, &admin, None);
    kms.create_alias(
        &admin,
        AliasRequest {
            alias_name: "alias/app".into(),
            target_key_id: key.clone(),
        },
    )
    .unwrap();
    let carol = who(
        "arn:aws:iam::111122223333:user/carol",
        &[identity(
            r#"{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"billing"}}},
               {"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:RequestAlias":"alias/app"}}}"#,
        )],
    );
    let billing: EncryptionContext = [("app", "billing")].into_iter().collect();
    let other: EncryptionContext = [("app", "payroll")].into_iter().collect();
    assert_eq!(encrypt(&kms, &carol, &key, &billing), "ok");
    assert_eq!(encrypt(&kms, &carol, &key, &billing), "ok");
    assert_eq!(encrypt(&kms, &carol, &key, &other), DENIED);
    assert_eq!(encrypt_plain(&kms, &carol, &key), DENIED);
    // By the alias: allowed; by the key id right after: refused again.
    assert_eq!(encrypt_plain(&kms, &carol, "alias/app"), "ok");
    assert_eq!(encrypt_plain(&kms, &carol, "alias/app"), "ok");
    assert_eq!(encrypt_plain(&kms, &carol, &key), DENIED);
}

#[test]
fn a_condition_on_aliases_sees_an_alias_change() {
    let kms = kms();
    // kms:ResourceAliases in the key policy: a condition, so decided on every call; and the
    // alias change replaces the cached key.
    let key = create(
        &kms,
        &root(ACCOUNT),
        Some(key_policy(&format!(
            r#"{},{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"ForAnyValue:StringEquals":{{"kms:ResourceAliases":"alias/ok"}}}}}}"#,
            root_admin(ACCOUNT)
        ))),
    );
    let alice = who(ALICE, &[]);
    assert_eq!(encrypt_plain(&kms, &alice, &key), DENIED);
    kms.create_alias(
        &root(ACCOUNT),
        AliasRequest {
            alias_name: "alias/ok".into(),
            target_key_id: key.clone(),
        },
    )
    .unwrap();
    remembered(&kms, &alice, &key);
    kms.delete_alias(
        &root(ACCOUNT),
        DeleteAliasRequest {
            alias_name: "alias/ok".into(),
        },
    )
    .unwrap();
    assert_eq!(encrypt_plain(&kms, &alice, &key), DENIED);
}

#[test]
fn a_grant_still_allows_where_no_policy_does_and_a_revoked_one_stops() {
    let kms = kms();
    let admin = who(ALICE, &[allow_all()]);
    let key = create(&kms, &admin, None);
    remembered(&kms, &admin, &key);
    let bob = who(BOB, &[]);
    assert_eq!(encrypt_plain(&kms, &bob, &key), DENIED);
    let grant = kms
        .create_grant(
            &admin,
            CreateGrantRequest {
                key_id: key.clone(),
                grantee_principal: BOB.into(),
                operations: vec![GrantOperation::Encrypt],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(encrypt_plain(&kms, &bob, &key), "ok");
    assert_eq!(encrypt_plain(&kms, &bob, &key), "ok");
    kms.revoke_grant(
        &admin,
        RevokeGrantRequest {
            key_id: key.clone(),
            grant_id: grant.grant_id,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(encrypt_plain(&kms, &bob, &key), DENIED);
}

#[test]
fn an_invalid_grant_token_is_refused_after_an_allow() {
    let kms = kms();
    let alice = who(ALICE, &[allow_all()]);
    let key = create(&kms, &alice, None);
    remembered(&kms, &alice, &key);
    let r = kms.encrypt(
        &alice,
        EncryptRequest {
            key_id: key,
            plaintext: b"x".to_vec().into(),
            grant_tokens: vec!["not-a-token".into()],
            ..Default::default()
        },
    );
    assert_eq!(r.unwrap_err().code(), "InvalidGrantTokenException");
}
