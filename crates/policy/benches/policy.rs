//! Evaluating policies on the hot path of every cryptographic call.
//!
//! `evaluate_10_statements`: a 10-statement key policy with conditions (encryption context,
//! ViaService, tags, source IP, time, TLS) against an Encrypt request that every statement must
//! be checked for; target under 2 µs. Baseline in the same run: the one-statement default key
//! policy.
// Test and bench code: a failed unwrap is a failed check, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use coffer_core::{AccountId, EncryptionContext};
use coffer_policy::{authorize, default_key_policy, Policy, RequestContext};
use criterion::{criterion_group, criterion_main, Criterion};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Id": "bench",
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

fn bench(c: &mut Criterion) {
    let policy = Policy::parse_key_policy(POLICY).unwrap();
    assert_eq!(policy.len(), 10);
    let account = AccountId::parse("111122223333").unwrap();
    let default = default_key_policy(&account);
    let identity = Policy::parse_identity_policy(
        r#"{"Statement":{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"arn:aws:kms:*:111122223333:key/*"}}"#,
    )
    .unwrap();

    let ec: EncryptionContext = [("app", "billing"), ("order", "42")].into_iter().collect();
    let rtags: BTreeMap<String, String> =
        [("environment".to_owned(), "production".to_owned())].into();
    let ptags: BTreeMap<String, String> = [("team".to_owned(), "finance".to_owned())].into();
    let mut ctx = RequestContext::new("kms:Encrypt", KEY, ALICE, "111122223333");
    ctx.encryption_context = Some(&ec);
    ctx.resource_tags = Some(&rtags);
    ctx.principal_tags = Some(&ptags);
    ctx.source_ip = Some("10.1.2.3".parse().unwrap());
    ctx.secure_transport = Some(true);
    ctx.current_time = Some(UNIX_EPOCH + Duration::from_secs(1_750_000_000));
    let e = policy.evaluate(&ctx);
    assert!(e.is_allow());
    assert_eq!(e.statement.unwrap().sid, Some("App"));

    let mut g = c.benchmark_group("policy");
    g.bench_function("evaluate_default_policy_baseline", |b| {
        b.iter(|| black_box(&default).evaluate(black_box(&ctx)).decision)
    });
    g.bench_function("evaluate_10_statements", |b| {
        b.iter(|| black_box(&policy).evaluate(black_box(&ctx)).decision)
    });
    g.bench_function("authorize_10_statements_plus_identity", |b| {
        b.iter(|| {
            authorize(
                black_box(&policy),
                "111122223333",
                [&identity],
                black_box(&ctx),
            )
            .decision
        })
    });
    g.bench_function("parse_10_statements", |b| {
        b.iter(|| Policy::parse_key_policy(black_box(POLICY)).map(|p| p.len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
