//! Admission through the facade: one path for every operation. `kms:RequestAlias` whenever a key
//! is named by an alias (ReEncrypt's destination and Decrypt's KeyId included); a refused call's
//! audit record names the key and says why, whichever kind of operation refused it; the quota is
//! charged once per call, before any policy is evaluated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use coffer::audit_log::{AuditEvent, MemorySink};
use coffer::model::*;
use coffer::testing::ManualClock;
use coffer::{Caller, Kms, LimitOverride, QuotaClass, QuotaConfig};

const ACCOUNT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const CAROL: &str = "arn:aws:iam::111122223333:user/carol";
const DAVE: &str = "arn:aws:iam::111122223333:role/dave";
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn no_quotas() -> QuotaConfig {
    QuotaConfig {
        enabled: false,
        ..Default::default()
    }
}

fn quotas(limits: &[(QuotaClass, u32)]) -> QuotaConfig {
    let mut defaults = BTreeMap::new();
    for (class, n) in limits {
        defaults.insert(
            *class,
            LimitOverride {
                rate: Some(f64::from(*n)),
                burst: Some(u64::from(*n)),
            },
        );
    }
    QuotaConfig {
        defaults,
        ..Default::default()
    }
}

struct World {
    kms: Kms,
    sink: Arc<MemorySink>,
    clock: Arc<ManualClock>,
    alice: Caller,
}

fn world(quotas: QuotaConfig) -> World {
    let sink = Arc::new(MemorySink::new());
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
    let kms = Kms::builder()
        .clock(clock.clone())
        .quotas(quotas)
        .audit_sink(sink.clone())
        .build()
        .unwrap();
    World {
        kms,
        sink,
        clock,
        alice: who(ALICE, &[KMS_ADMIN]),
    }
}

fn who(arn: &str, policies: &[&str]) -> Caller {
    let mut c = Caller::new(arn).unwrap();
    for p in policies {
        c = c.with_identity_policy_json(p).unwrap();
    }
    c
}

fn code<T>(r: Result<T, coffer::Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// A key policy: the account root administers the key (delegating to identity policies), plus
/// `statements`.
fn key_policy(statements: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}{statements}]}}"#
    )
}

fn alias_arn(name: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:{name}")
}

impl World {
    fn key(&self, policy: Option<String>) -> KeyMetadata {
        self.kms
            .create_key(
                &self.alice,
                CreateKeyRequest {
                    policy,
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata
    }

    fn alias(&self, name: &str, key: &KeyMetadata) {
        self.kms
            .create_alias(
                &self.alice,
                AliasRequest {
                    alias_name: name.into(),
                    target_key_id: key.key_id.clone(),
                },
            )
            .unwrap();
    }

    fn blob(&self, key: &KeyMetadata) -> Vec<u8> {
        self.kms
            .encrypt(
                &self.alice,
                EncryptRequest {
                    key_id: key.key_id.clone(),
                    plaintext: b"payroll".to_vec().into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .ciphertext_blob
    }

    fn last(&self) -> AuditEvent {
        self.sink.last().unwrap()
    }
}

/// The last record is a refusal: it names `key` among its resources (if any), `denied` as the
/// resource refused, and a reason that contains `why`.
fn assert_denial(ev: &AuditEvent, key: Option<&str>, denied: &str, why: &str) {
    assert_eq!(ev.error_code.as_deref(), Some("AccessDeniedException"));
    if let Some(key) = key {
        assert!(
            ev.resources.iter().any(|r| r.arn == key),
            "{}: {:?}",
            ev.event_name,
            ev.resources
        );
    }
    let data = ev.additional_event_data.as_ref().unwrap();
    assert_eq!(data["deniedResource"], denied, "{}", ev.event_name);
    let reason = data["denialReason"].as_str().unwrap();
    assert!(reason.contains(why), "{}: {reason}", ev.event_name);
    // The caller is told neither.
    let message = ev.error_message.as_deref().unwrap();
    assert!(!message.contains(reason), "{message}");
}

#[test]
fn re_encrypt_destination_named_by_alias_honours_request_alias_conditions() {
    let w = world(no_quotas());
    let source = w.key(None);
    // Bob may re-encrypt into the destination only when he names it by alias/good.
    let destination = w.key(Some(key_policy(&format!(
        r#",{{"Sid":"ViaGoodAlias","Effect":"Allow","Principal":{{"AWS":"{BOB}"}},"Action":"kms:ReEncryptTo","Resource":"*",
            "Condition":{{"StringEquals":{{"kms:RequestAlias":"alias/good"}}}}}}"#
    ))));
    w.alias("alias/good", &destination);
    w.alias("alias/other", &destination);
    let blob = w.blob(&source);
    // Bob's identity policy gives him the source half only.
    let from_source = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:ReEncryptFrom","Resource":"{}"}}]}}"#,
        source.arn
    );
    let bob = who(BOB, &[&from_source]);
    let re = |to: &str| {
        w.kms.re_encrypt(
            &bob,
            ReEncryptRequest {
                ciphertext_blob: blob.clone(),
                destination_key_id: to.into(),
                ..Default::default()
            },
        )
    };
    for to in ["alias/good".to_owned(), alias_arn("alias/good")] {
        let out = re(&to).unwrap_or_else(|e| panic!("{to}: {e}"));
        assert_eq!(out.key_id, destination.arn, "{to}");
        assert_eq!(out.source_key_id, source.arn, "{to}");
        // Both keys are the call's resources.
        let ev = w.last();
        let arns: Vec<&str> = ev.resources.iter().map(|r| r.arn.as_str()).collect();
        assert_eq!(
            arns,
            [source.arn.as_str(), destination.arn.as_str()],
            "{to}"
        );
    }
    for to in [
        "alias/other".to_owned(),
        alias_arn("alias/other"),
        destination.key_id.clone(),
        destination.arn.clone(),
    ] {
        let e = re(&to).unwrap_err();
        assert_eq!(e.code(), "AccessDeniedException", "{to}: {e}");
        assert!(e.message().contains("kms:ReEncryptTo"), "{e}");
        assert_denial(
            &w.last(),
            Some(&destination.arn),
            &destination.arn,
            "no grant allows kms:ReEncryptTo",
        );
    }
}

#[test]
fn decrypt_key_id_given_as_an_alias_sets_request_alias() {
    let w = world(no_quotas());
    let key = w.key(Some(key_policy(&format!(
        r#",{{"Sid":"ViaGoodAlias","Effect":"Allow","Principal":{{"AWS":"{BOB}"}},"Action":"kms:Decrypt","Resource":"*",
            "Condition":{{"StringEquals":{{"kms:RequestAlias":"alias/good"}}}}}}"#
    ))));
    w.alias("alias/good", &key);
    w.alias("alias/other", &key);
    let blob = w.blob(&key);
    let bob = who(BOB, &[]);
    let decrypt = |key_id: Option<String>| {
        w.kms.decrypt(
            &bob,
            DecryptRequest {
                ciphertext_blob: blob.clone(),
                key_id,
                ..Default::default()
            },
        )
    };
    for named in [Some("alias/good".to_owned()), Some(alias_arn("alias/good"))] {
        let out = decrypt(named.clone()).unwrap_or_else(|e| panic!("{named:?}: {e}"));
        assert_eq!(out.plaintext.expose(), b"payroll");
    }
    for named in [
        None,
        Some("alias/other".to_owned()),
        Some(key.key_id.clone()),
        Some(key.arn.clone()),
    ] {
        assert_eq!(
            code(decrypt(named.clone())),
            "AccessDeniedException",
            "{named:?}"
        );
    }
}

#[test]
fn every_admission_path_records_the_refused_key_and_why() {
    let w = world(no_quotas());
    let key = w.key(None);
    let blob = w.blob(&key);
    // Bob has no identity policy: the default key policy leaves him to them, and they say nothing.
    let bob = who(BOB, &[]);
    let none_allows = "identity policies, and none allows";

    // A cryptographic operation on a named key, and on the key a ciphertext names.
    let e = w
        .kms
        .encrypt(
            &bob,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    assert_denial(&w.last(), Some(&key.arn), &key.arn, none_allows);
    assert_eq!(
        code(w.kms.decrypt(
            &bob,
            DecryptRequest {
                ciphertext_blob: blob,
                ..Default::default()
            }
        )),
        "AccessDeniedException"
    );
    assert_denial(&w.last(), Some(&key.arn), &key.arn, none_allows);

    // Management operations that change the key in a transaction.
    assert_eq!(
        code(w.kms.disable_key(
            &bob,
            KeyIdRequest {
                key_id: key.key_id.clone()
            }
        )),
        "AccessDeniedException"
    );
    assert_denial(&w.last(), Some(&key.arn), &key.arn, "kms:DisableKey");
    assert_eq!(
        code(w.kms.update_key_description(
            &bob,
            UpdateKeyDescriptionRequest {
                key_id: key.arn.clone(),
                description: "mine now".into(),
            }
        )),
        "AccessDeniedException"
    );
    assert_denial(&w.last(), Some(&key.arn), &key.arn, none_allows);

    // An alias operation refused on its alias half (identity policies on the alias ARN)...
    let key_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:CreateAlias","kms:DeleteAlias"],"Resource":"arn:aws:kms:*:*:key/*"}]}"#;
    let carol = who(CAROL, &[key_only]);
    assert_eq!(
        code(w.kms.create_alias(
            &carol,
            AliasRequest {
                alias_name: "alias/carol".into(),
                target_key_id: key.key_id.clone(),
            }
        )),
        "AccessDeniedException"
    );
    assert_denial(
        &w.last(),
        Some(&key.arn),
        &alias_arn("alias/carol"),
        "no identity policy allows kms:CreateAlias",
    );
    // ... and on its key half (the key policy of the key the alias points at).
    w.alias("alias/shared", &key);
    let alias_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DeleteAlias","Resource":"arn:aws:kms:*:*:alias/*"}]}"#;
    let dave = who(DAVE, &[alias_only]);
    assert_eq!(
        code(w.kms.delete_alias(
            &dave,
            DeleteAliasRequest {
                alias_name: "alias/shared".into(),
            }
        )),
        "AccessDeniedException"
    );
    assert_denial(&w.last(), Some(&key.arn), &key.arn, none_allows);

    // Grant operations: CreateGrant by policy or grant, RetireGrant by the grant's own rule.
    let e = w
        .kms
        .create_grant(
            &bob,
            CreateGrantRequest {
                key_id: key.key_id.clone(),
                grantee_principal: DAVE.into(),
                operations: vec![GrantOperation::Encrypt],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    assert_denial(
        &w.last(),
        Some(&key.arn),
        &key.arn,
        "no grant allows kms:CreateGrant",
    );
    let grant = w
        .kms
        .create_grant(
            &w.alice,
            CreateGrantRequest {
                key_id: key.key_id.clone(),
                grantee_principal: DAVE.into(),
                operations: vec![GrantOperation::Encrypt],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        code(w.kms.retire_grant(
            &bob,
            RetireGrantRequest {
                grant_token: Some(grant.grant_token.clone()),
                ..Default::default()
            }
        )),
        "AccessDeniedException"
    );
    assert_denial(&w.last(), Some(&key.arn), &key.arn, "retiring principal");

    // Operations on no key: identity policies on `*`.
    assert_eq!(
        code(w.kms.list_keys(&bob, ListKeysRequest::default())),
        "AccessDeniedException"
    );
    let ev = w.last();
    assert!(ev.resources.is_empty(), "{:?}", ev.resources);
    assert_denial(&ev, None, "*", "no identity policy allows kms:ListKeys");
    assert_eq!(
        code(w.kms.generate_random(
            &bob,
            GenerateRandomRequest {
                number_of_bytes: Some(8)
            }
        )),
        "AccessDeniedException"
    );
    assert_denial(
        &w.last(),
        None,
        "*",
        "no identity policy allows kms:GenerateRandom",
    );

    // A refusal is the call's own: the next call, allowed, carries none.
    w.kms
        .list_keys(&w.alice, ListKeysRequest::default())
        .unwrap();
    assert_eq!(w.last().additional_event_data, None);
    assert_eq!(w.last().error_code, None);
}

#[test]
fn a_call_admitted_on_several_resources_is_charged_once() {
    let w = world(quotas(&[
        (QuotaClass::SymmetricCryptographic, 2),
        (QuotaClass::UpdateAlias, 1),
        (QuotaClass::DeleteAlias, 1),
        (QuotaClass::RetireGrant, 1),
    ]));
    let k1 = w.key(None);
    let k2 = w.key(None);
    let blob = w.blob(&k1);
    w.clock.advance(Duration::from_secs(1));

    // ReEncrypt admits its source and its destination: one request of the symmetric class.
    let re = || {
        w.kms.re_encrypt(
            &w.alice,
            ReEncryptRequest {
                ciphertext_blob: blob.clone(),
                destination_key_id: k2.key_id.clone(),
                ..Default::default()
            },
        )
    };
    assert_eq!(code(re()), "ok");
    assert_eq!(code(re()), "ok");
    assert_eq!(code(re()), "ThrottlingException");

    // UpdateAlias admits the new key, the alias and the key it points at now: one request.
    w.alias("alias/moving", &k1);
    let update = |to: &KeyMetadata| {
        w.kms.update_alias(
            &w.alice,
            AliasRequest {
                alias_name: "alias/moving".into(),
                target_key_id: to.key_id.clone(),
            },
        )
    };
    assert_eq!(code(update(&k2)), "ok");
    assert_eq!(code(update(&k1)), "ThrottlingException");
    w.clock.advance(Duration::from_secs(1));
    assert_eq!(code(update(&k1)), "ok");

    // DeleteAlias admits the alias and its key: one request.
    w.alias("alias/a", &k1);
    w.alias("alias/b", &k1);
    let delete = |name: &str| {
        w.kms.delete_alias(
            &w.alice,
            DeleteAliasRequest {
                alias_name: name.into(),
            },
        )
    };
    assert_eq!(code(delete("alias/a")), "ok");
    assert_eq!(code(delete("alias/b")), "ThrottlingException");

    // RetireGrant is charged whether or not the grant exists, as AWS charges it.
    let retire = || {
        w.kms.retire_grant(
            &w.alice,
            RetireGrantRequest {
                key_id: Some(k1.arn.clone()),
                grant_id: Some("0".repeat(64)),
                ..Default::default()
            },
        )
    };
    assert_eq!(code(retire()), "NotFoundException");
    assert_eq!(code(retire()), "ThrottlingException");
}

#[test]
fn a_call_over_quota_is_throttled_before_any_policy_is_evaluated() {
    let w = world(quotas(&[
        (QuotaClass::SymmetricCryptographic, 1),
        (QuotaClass::ListKeys, 1),
        (QuotaClass::DisableKey, 1),
    ]));
    let key = w.key(None);
    w.clock.advance(Duration::from_secs(1));
    let bob = who(BOB, &[]);
    let encrypt = || {
        w.kms.encrypt(
            &bob,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )
    };
    let disable = || {
        w.kms.disable_key(
            &bob,
            KeyIdRequest {
                key_id: key.key_id.clone(),
            },
        )
    };
    let list = || w.kms.list_keys(&bob, ListKeysRequest::default());
    // Within quota, the policies refuse, and the record says why.
    assert_eq!(code(encrypt()), "AccessDeniedException");
    assert!(w.last().additional_event_data.is_some());
    assert_eq!(code(disable()), "AccessDeniedException");
    assert!(w.last().additional_event_data.is_some());
    assert_eq!(code(list()), "AccessDeniedException");
    assert!(w.last().additional_event_data.is_some());
    // Over quota, the call is throttled before any policy is read: no denial to record.
    let throttled = |name: &str, outcome: &str| {
        assert_eq!(outcome, "ThrottlingException", "{name}");
        let ev = w.last();
        assert_eq!(ev.event_name, name);
        assert_eq!(ev.error_code.as_deref(), Some("ThrottlingException"));
        assert_eq!(ev.additional_event_data, None, "{name}");
    };
    throttled("Encrypt", code(encrypt()));
    throttled("DisableKey", code(disable()));
    throttled("ListKeys", code(list()));
}
