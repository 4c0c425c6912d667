//! Auditing through the facade: one event per call (allowed or denied, success or failure), no
//! secret in any record, fail-closed sinks fail the call and roll its change back, and the file
//! log verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;

use coffer::audit_log::{self, AuditSink, FileSink, FileSinkOptions, MemorySink};
use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms};

const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn alice() -> Caller {
    Caller::new("arn:aws:iam::111122223333:user/alice")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
}

fn kms_with(sink: Arc<dyn AuditSink>) -> Kms {
    Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .audit_sink(sink)
        .build()
        .unwrap()
}

#[test]
fn one_event_per_call_allowed_or_denied() {
    let sink = Arc::new(MemorySink::new());
    let kms = kms_with(sink.clone());
    let a = alice();
    let key = kms
        .create_key(&a, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let ctx: EncryptionContext = [("tenant", "acme")].into_iter().collect();
    kms.encrypt(
        &a,
        EncryptRequest {
            key_id: key.key_id.clone(),
            plaintext: b"x".to_vec().into(),
            encryption_context: ctx,
            ..Default::default()
        },
    )
    .unwrap();
    let bare = Caller::new("arn:aws:iam::111122223333:user/bob").unwrap();
    assert!(kms
        .describe_key(
            &bare,
            DescribeKeyRequest {
                key_id: key.key_id.clone(),
                ..Default::default()
            }
        )
        .is_err());
    kms.disable_key(
        &a,
        KeyIdRequest {
            key_id: key.key_id.clone(),
        },
    )
    .unwrap();
    assert!(kms
        .encrypt(
            &a,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            }
        )
        .is_err());

    let events = sink.events();
    let names: Vec<_> = events.iter().map(|e| &*e.event_name).collect();
    assert_eq!(
        names,
        [
            "CreateKey",
            "Encrypt",
            "DescribeKey",
            "DisableKey",
            "Encrypt"
        ]
    );
    let create = &events[0];
    assert_eq!(create.error_code, None);
    assert_eq!(create.resources[0].arn, key.arn);
    assert_eq!(
        create.user_identity.arn.as_deref(),
        Some("arn:aws:iam::111122223333:user/alice")
    );
    assert!(!create.read_only);
    let enc = &events[1];
    assert!(enc.read_only);
    assert_eq!(enc.resources[0].arn, key.arn);
    // The encryption context is recorded, as CloudTrail records it.
    let params = enc.request_parameters.as_ref().unwrap();
    assert_eq!(params["encryptionContext"]["tenant"], "acme");
    assert_eq!(
        events[2].error_code.as_deref(),
        Some("AccessDeniedException")
    );
    assert_eq!(events[4].error_code.as_deref(), Some("DisabledException"));
    // Event ids are unique.
    let mut ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len());
}

#[test]
fn a_failing_sink_fails_the_call_and_leaves_no_change() {
    let sink = Arc::new(MemorySink::new());
    let kms = kms_with(sink.clone());
    let a = alice();
    let key = kms
        .create_key(&a, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    sink.set_failing(true);
    let err = kms
        .disable_key(
            &a,
            KeyIdRequest {
                key_id: key.key_id.clone(),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "KMSInternalException");
    assert_eq!(
        kms.create_key(&a, CreateKeyRequest::default())
            .unwrap_err()
            .code(),
        "KMSInternalException"
    );
    // Reads fail closed too.
    assert_eq!(
        kms.describe_key(
            &a,
            DescribeKeyRequest {
                key_id: key.key_id.clone(),
                ..Default::default()
            }
        )
        .unwrap_err()
        .code(),
        "KMSInternalException"
    );
    sink.set_failing(false);
    // Nothing changed while the log was down.
    let d = kms
        .describe_key(
            &a,
            DescribeKeyRequest {
                key_id: key.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(d.key_metadata.key_state, KeyState::Enabled);
    assert_eq!(
        kms.list_keys(&a, ListKeysRequest::default())
            .unwrap()
            .keys
            .len(),
        1
    );
}

#[test]
fn no_secret_reaches_the_audit_files_and_the_log_verifies() {
    let dir = std::env::temp_dir().join(format!("coffer-audit-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rng = coffer::SystemRandom::new();
    let signing = coffer_crypto::SigningKey::generate(&rng).unwrap();
    let public = signing.verifying_key();
    let sink = Arc::new(FileSink::open(&dir, signing, FileSinkOptions::default()).unwrap());
    let kms = kms_with(sink.clone());
    let a = alice();
    let key = kms
        .create_key(&a, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let k2 = kms
        .create_key(&a, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let ctx: EncryptionContext = [("purpose", "scan")].into_iter().collect();
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let plaintext = b"TOP-SECRET-PLAINTEXT-4c0ffee".to_vec();
    secrets.push(plaintext.clone());
    let blob = kms
        .encrypt(
            &a,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: plaintext.clone().into(),
                encryption_context: ctx.clone(),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob;
    let dec = kms
        .decrypt(
            &a,
            DecryptRequest {
                ciphertext_blob: blob.clone(),
                encryption_context: ctx.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    secrets.push(dec.plaintext.expose().to_vec());
    let moved = kms
        .re_encrypt(
            &a,
            ReEncryptRequest {
                ciphertext_blob: blob,
                source_encryption_context: ctx.clone(),
                destination_key_id: k2.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    let dk = kms
        .generate_data_key(
            &a,
            GenerateDataKeyRequest {
                key_id: key.key_id.clone(),
                key_spec: Some(DataKeySpec::Aes256),
                ..Default::default()
            },
        )
        .unwrap();
    secrets.push(dk.plaintext.expose().to_vec());
    let rnd = kms
        .generate_random(
            &a,
            GenerateRandomRequest {
                number_of_bytes: Some(64),
            },
        )
        .unwrap();
    secrets.push(rnd.plaintext.expose().to_vec());
    let grant = kms
        .create_grant(
            &a,
            CreateGrantRequest {
                key_id: key.key_id.clone(),
                grantee_principal: "arn:aws:iam::111122223333:role/app".into(),
                retiring_principal: Some("arn:aws:iam::111122223333:user/alice".into()),
                operations: vec![GrantOperation::Decrypt],
                ..Default::default()
            },
        )
        .unwrap();
    kms.retire_grant(
        &a,
        RetireGrantRequest {
            grant_token: Some(grant.grant_token.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    secrets.push(grant.grant_token.clone().into_bytes());
    // A failed decrypt with the plaintext's bytes as a "ciphertext".
    let _ = kms.decrypt(
        &a,
        DecryptRequest {
            ciphertext_blob: plaintext.clone(),
            ..Default::default()
        },
    );
    let _ = moved;
    sink.close().unwrap();

    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(text.contains("\"eventName\":\"GenerateDataKey\""));
    assert!(text.contains("purpose"), "the context is recorded");
    use base64_like::*;
    for s in &secrets {
        for form in [
            String::from_utf8_lossy(s).into_owned(),
            hex(s),
            b64(s),
            b64(s).trim_end_matches('=').to_owned(),
        ] {
            if form.len() >= 8 {
                assert!(
                    !text.contains(&form),
                    "a secret reached the audit log: {form}"
                );
            }
        }
    }
    let report = audit_log::verify(&dir, &public).unwrap();
    assert!(report.records >= 9, "{report:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Encodings to scan for, written out here so the test depends on no encoder it checks.
mod base64_like {
    pub(crate) fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    pub(crate) fn b64(b: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk.len();
            let v = (u32::from(chunk[0]) << 16)
                | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
                | u32::from(*chunk.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= n {
                    out.push(char::from(A[((v >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[test]
fn a_data_directory_keeps_a_signed_log_and_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("coffer-audit-dd-{}", std::process::id()));
    let key = std::env::temp_dir().join(format!("coffer-audit-dd-{}.key", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&key);
    {
        let dd = coffer::DataDir::open(&dir, coffer::RootKeySource::key_file(&key)).unwrap();
        let kms = dd.builder().build().unwrap();
        kms.create_key(&alice(), CreateKeyRequest::default())
            .unwrap();
        dd.audit_log().close().unwrap();
    }
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the data directory is owner-only");
    let public = std::fs::read_to_string(dir.join(coffer::AUDIT_PUBLIC_KEY_FILE)).unwrap();
    let pinned = audit_log::public_key_from_hex(public.trim()).unwrap();
    let report = audit_log::verify(dir.join(coffer::AUDIT_DIR), &pinned).unwrap();
    assert_eq!(report.events, 1);
    assert!(report.closed);
    // The signing key is the same after a reopen (kept wrapped under the root key).
    {
        let dd = coffer::DataDir::open(&dir, coffer::RootKeySource::key_file(&key)).unwrap();
        assert_eq!(dd.audit_log().public_key_hex(), public.trim());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(&key).unwrap();
}

#[test]
fn a_denied_call_records_the_key_and_why_and_the_caller_sees_neither_reason_nor_statement() {
    let sink = Arc::new(MemorySink::new());
    let kms = kms_with(sink.clone());
    let a = alice()
        .with_request_id("req-1")
        .with_user_agent("aws-cli/2.15");
    let key = kms
        .create_key(&a, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let created = sink.last().unwrap();
    assert_eq!(created.request_id.as_deref(), Some("req-1"));
    assert_eq!(created.user_agent.as_deref(), Some("aws-cli/2.15"));
    assert_eq!(created.additional_event_data, None);

    // The default key policy leaves bob to his identity policies, and he has none.
    let bob = Caller::new("arn:aws:iam::111122223333:user/bob")
        .unwrap()
        .with_request_id("req-2");
    let describe = DescribeKeyRequest {
        key_id: key.key_id.clone(),
        ..Default::default()
    };
    let e = kms.describe_key(&bob, describe.clone()).unwrap_err();
    let ev = sink.last().unwrap();
    assert_eq!(ev.request_id.as_deref(), Some("req-2"));
    assert_eq!(ev.error_message.as_deref(), Some(e.message()));
    assert_eq!(ev.resources[0].arn, key.arn);
    let data = ev.additional_event_data.unwrap();
    assert_eq!(data["deniedResource"], key.arn.as_str());
    let reason = data["denialReason"].as_str().unwrap();
    assert!(
        reason.contains("identity policies, and none allows"),
        "{reason}"
    );
    assert!(reason.contains("no grant"), "{reason}");
    assert!(!e.message().contains("identity"), "{e}");

    // An identity policy's named Deny statement, on an action on no key.
    let carol = Caller::new("arn:aws:iam::111122223333:user/carol")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
        .with_identity_policy_json(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoNewKeys","Effect":"Deny","Action":"kms:CreateKey","Resource":"*"}]}"#,
        )
        .unwrap();
    let e = kms
        .create_key(&carol, CreateKeyRequest::default())
        .unwrap_err();
    assert!(!e.message().contains("NoNewKeys"), "{e}");
    let ev = sink.last().unwrap();
    let data = ev.additional_event_data.unwrap();
    assert_eq!(data["deniedResource"], "*");
    let reason = data["denialReason"].as_str().unwrap();
    assert!(
        reason.contains("explicit deny: identity policy 1"),
        "{reason}"
    );
    assert!(reason.contains("NoNewKeys"), "{reason}");

    // The next call, allowed, carries no denial of an earlier one.
    kms.describe_key(&a, describe).unwrap();
    assert_eq!(sink.last().unwrap().additional_event_data, None);
}

#[test]
fn a_cross_account_management_refusal_records_why() {
    let sink = Arc::new(MemorySink::new());
    let kms = kms_with(sink.clone());
    let owner = alice();
    // A key policy that gives another account everything.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
        {"Sid":"partner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let key = kms
        .create_key(
            &owner,
            CreateKeyRequest {
                policy: Some(policy.into()),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata;
    let partner = Caller::account_root("444455556666".parse().unwrap());
    let e = kms
        .disable_key(
            &partner,
            coffer::model::KeyIdRequest {
                key_id: key.arn.clone(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    assert!(!e.message().contains("another account"), "{e}");
    let ev = sink.last().unwrap();
    let data = ev.additional_event_data.unwrap();
    assert_eq!(data["deniedResource"], key.arn.as_str());
    let reason = data["denialReason"].as_str().unwrap();
    assert!(
        reason.contains("DisableKey cannot be called on a key of another account"),
        "{reason}"
    );
}
