//! What authorization costs an Encrypt of 1 KiB: with authorization off (the baseline), under
//! the default key policy (delegating to one identity policy), and under a 10-statement key policy
//! with conditions. Paired (`coffer_benches`): each policy's calls alternate, batch by batch,
//! with calls on a service with authorization off, and each group prints the median ratio.
//! Targets: the default policy at most 1.05× the baseline (issue 22), the ten statements 1.6×.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms};
use coffer_benches::{paired, Batched};
use criterion::{criterion_group, criterion_main, Criterion};

const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

const TEN: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
     "Action": "kms:*", "Resource": "*"},
    {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:role/Admin", "arn:aws:iam::111122223333:user/bob"]},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"],
     "Resource": "*"},
    {"Sid": "DenyNoTls", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "DenyOutsideNet", "Effect": "Deny", "Principal": "*", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}, "Null": {"kms:ViaService": "true"}}},
    {"Sid": "DenyExpired", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
     "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2099-01-01T00:00:00Z"}}},
    {"Sid": "DenyDev", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
     "Condition": {"StringEquals": {"aws:ResourceTag/environment": "dev"}}},
    {"Sid": "ViaS3", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/carol"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:CallerAccount": "111122223333"}}},
    {"Sid": "Grants", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Service"},
     "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    {"Sid": "ContextKeys", "Effect": "Deny", "Principal": "*", "Action": ["kms:Encrypt", "kms:GenerateDataKey*"], "Resource": "*",
     "Condition": {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "secret*"}}},
    {"Sid": "App", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:app": ["billing", "payroll"], "aws:PrincipalTag/team": "finance"},
                   "StringLike": {"aws:ResourceTag/environment": "prod*"}}}
  ]
}"#;

fn quotas() -> coffer::QuotaConfig {
    coffer::QuotaConfig {
        enabled: false,
        ..Default::default()
    }
}

/// Inputs per timed batch: calls of a few microseconds are timed sixteen at a time.
const BATCH: usize = 16;

fn authz(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let alice = Caller::new("arn:aws:iam::111122223333:user/alice")
        .unwrap()
        .with_tag("team", "finance")
        .with_source_ip("10.1.2.3".parse().unwrap())
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let ctx: EncryptionContext = [("app", "billing"), ("order", "42")].into_iter().collect();
    let tags = vec![Tag {
        tag_key: "environment".into(),
        tag_value: "production".into(),
    }];
    let make = |kms: &Kms, policy: Option<&str>| {
        kms.create_key(
            &alice,
            CreateKeyRequest {
                policy: policy.map(str::to_owned),
                tags: tags.clone(),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .key_id
    };
    let off = Kms::builder()
        .quotas(quotas())
        .danger_skip_authorization()
        .build()
        .unwrap();
    let on = Kms::builder().quotas(quotas()).build().unwrap();
    let off_key = make(&off, None);
    let request = |key: &str| EncryptRequest {
        key_id: key.to_owned(),
        plaintext: vec![0x42u8; 1024].into(),
        encryption_context: ctx.clone(),
        ..Default::default()
    };
    for (name, key) in [
        ("default_policy", make(&on, None)),
        ("ten_statement_policy", make(&on, Some(TEN))),
    ] {
        paired(
            c,
            &format!("encrypt_1024_authorization/{name}"),
            None,
            &mut Batched::new(
                BATCH,
                || request(&off_key),
                |req| off.encrypt(&alice, req).unwrap(),
            ),
            &mut Batched::new(
                BATCH,
                || request(&key),
                |req| on.encrypt(&alice, req).unwrap(),
            ),
        );
    }
}

criterion_group!(benches, authz);
criterion_main!(benches);
