//! The policy engine's behaviour matrix: operators, qualifiers, negations, wildcards,
//! validation, the combination of key and identity policies, and properties.

// Test and bench code: a failed unwrap is a failed check, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_core::{AccountId, Caller, EncryptionContext};
use coffer_policy::{
    authorize, default_key_policy, default_key_policy_json, Decision, Policy, PolicyError,
    PolicySource, PrincipalMatch, Problem, Reason, RequestContext, OPERATOR_NAMES,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const EVE: &str = "arn:aws:iam::444455556666:user/eve";
const ROOT: &str = "arn:aws:iam::111122223333:root";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY2: &str = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321";

fn policy(v: &Value) -> Policy {
    Policy::parse(&v.to_string()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

fn ctx<'a>(action: &'a str, principal: &'a str) -> RequestContext<'a> {
    let acct = if principal.contains(OTHER) {
        OTHER
    } else {
        ACCT
    };
    RequestContext::new(action, KEY, principal, acct)
}

/// A one-statement Allow policy with a single condition.
fn cond_policy(op: &str, key: &str, values: Value) -> Policy {
    policy(&json!({
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
            "Condition": { op: { key: values } }
        }
    }))
}

/// Whether the condition holds, given the values of `test:key` in the request (none: absent).
fn holds(op: &str, policy_value: &str, request: &[&str]) -> bool {
    let p = cond_policy(op, "kms:GrantConstraintType", json!(policy_value));
    let extra: Vec<(&str, &str)> = request
        .iter()
        .map(|v| ("KMS:grantconstrainttype", *v))
        .collect();
    let mut c = ctx("kms:Encrypt", ALICE);
    c.extra = &extra;
    p.evaluate(&c).decision == Decision::Allow
}

/// (operator, its negation, policy value, a request value that matches, one that does not).
const OPERATOR_ROWS: &[(&str, Option<&str>, &str, &str, &str)] = &[
    (
        "StringEquals",
        Some("StringNotEquals"),
        "prod",
        "prod",
        "Prod",
    ),
    (
        "StringEqualsIgnoreCase",
        Some("StringNotEqualsIgnoreCase"),
        "PROD",
        "prod",
        "dev",
    ),
    (
        "StringLike",
        Some("StringNotLike"),
        "pr*d-?",
        "prod-1",
        "prod-12",
    ),
    (
        "NumericEquals",
        Some("NumericNotEquals"),
        "10",
        "10.0",
        "11",
    ),
    ("NumericLessThan", None, "10", "9.5", "10"),
    ("NumericLessThanEquals", None, "10", "10", "10.01"),
    ("NumericGreaterThan", None, "10", "11", "10"),
    ("NumericGreaterThanEquals", None, "10", "10", "-3"),
    (
        "DateEquals",
        Some("DateNotEquals"),
        "2020-01-01T00:00:00Z",
        "1577836800",
        "2020-01-02",
    ),
    (
        "DateLessThan",
        None,
        "2020-01-01",
        "2019-12-31T23:59:59Z",
        "2020-01-01",
    ),
    (
        "DateLessThanEquals",
        None,
        "2020-01-01",
        "2020-01-01T00:00:00Z",
        "2020-01-01T00:00:01Z",
    ),
    (
        "DateGreaterThan",
        None,
        "2020-01-01",
        "2020-01-01T00:00:01Z",
        "2020-01-01",
    ),
    (
        "DateGreaterThanEquals",
        None,
        "2020-01-01",
        "2020-01-01",
        "2019-12-31",
    ),
    ("Bool", None, "true", "TRUE", "false"),
    (
        "ArnEquals",
        Some("ArnNotEquals"),
        "arn:aws:iam::111122223333:role/*",
        "arn:aws:iam::111122223333:role/x",
        "arn:aws:iam::444455556666:role/x",
    ),
    (
        "ArnLike",
        Some("ArnNotLike"),
        "arn:aws:iam::*:role/app-?",
        "arn:aws:iam::444455556666:role/app-1",
        "arn:aws:iam::444455556666:user/app-1",
    ),
    (
        "IpAddress",
        Some("NotIpAddress"),
        "10.0.0.0/8",
        "10.1.2.3",
        "192.0.2.1",
    ),
];

#[test]
fn every_operator_is_in_the_matrix() {
    let mut covered: Vec<&str> = OPERATOR_ROWS
        .iter()
        .flat_map(|r| std::iter::once(r.0).chain(r.1))
        .collect();
    covered.push("Null");
    for name in OPERATOR_NAMES {
        assert!(covered.contains(&name), "{name} missing from the matrix");
    }
}

#[test]
fn operator_matrix_match_nomatch_absent_ifexists() {
    for &(op, neg, pv, yes, no) in OPERATOR_ROWS {
        // Positive operator: match, no match, key absent; IfExists the same, but absent holds.
        assert!(holds(op, pv, &[yes]), "{op} should match {yes}");
        assert!(!holds(op, pv, &[no]), "{op} should not match {no}");
        assert!(!holds(op, pv, &[]), "{op} on an absent key is false");
        let ie = format!("{op}IfExists");
        assert!(holds(&ie, pv, &[yes]), "{ie} match");
        assert!(!holds(&ie, pv, &[no]), "{ie} no match");
        assert!(holds(&ie, pv, &[]), "{ie} on an absent key is true");
        if let Some(neg) = neg {
            // Negated operator: the opposite when present, and TRUE on an absent key (IAM).
            assert!(!holds(neg, pv, &[yes]), "{neg} vs {yes}");
            assert!(holds(neg, pv, &[no]), "{neg} vs {no}");
            assert!(holds(neg, pv, &[]), "{neg} on an absent key is true");
            let nie = format!("{neg}IfExists");
            assert!(!holds(&nie, pv, &[yes]), "{nie} match");
            assert!(holds(&nie, pv, &[no]), "{nie} no match");
            assert!(holds(&nie, pv, &[]), "{nie} absent");
        }
    }
}

#[test]
fn null_operator() {
    assert!(holds("Null", "true", &[]));
    assert!(!holds("Null", "true", &["x"]));
    assert!(!holds("Null", "false", &[]));
    assert!(holds("Null", "false", &["x"]));
    // An empty multivalued key counts as absent.
    let p = cond_policy("Null", "kms:GrantOperations", json!("true"));
    let mut c = ctx("kms:Encrypt", ALICE);
    let none: Vec<String> = vec![];
    c.grant_operations = Some(&none);
    assert!(p.evaluate(&c).is_allow());
    let some = vec!["Decrypt".to_owned()];
    c.grant_operations = Some(&some);
    assert!(!p.evaluate(&c).is_allow());
}

#[test]
fn qualifier_matrix() {
    // Columns: absent, [match], [no], [match, match], [match, no], [no, no].
    // (qualifier, negated?, expected row)
    let table: &[(&str, bool, [bool; 6])] = &[
        ("", false, [false, true, false, true, true, false]),
        ("", true, [true, false, true, false, false, true]),
        (
            "ForAnyValue:",
            false,
            [false, true, false, true, true, false],
        ),
        (
            "ForAnyValue:",
            true,
            [false, false, true, false, true, true],
        ),
        (
            "ForAllValues:",
            false,
            [true, true, false, true, false, false],
        ),
        (
            "ForAllValues:",
            true,
            [true, false, true, false, false, true],
        ),
    ];
    for &(op, neg, pv, yes, no) in OPERATOR_ROWS {
        let scenarios: [Vec<&str>; 6] = [
            vec![],
            vec![yes],
            vec![no],
            vec![yes, yes],
            vec![yes, no],
            vec![no, no],
        ];
        for &(q, negated, want) in table {
            let base = if negated {
                match neg {
                    Some(n) => n,
                    None => continue,
                }
            } else {
                op
            };
            let name = format!("{q}{base}");
            for (i, req) in scenarios.iter().enumerate() {
                assert_eq!(holds(&name, pv, req), want[i], "{name} over {req:?}");
            }
            // IfExists only changes the absent column, to true.
            let name = format!("{q}{base}IfExists");
            assert!(holds(&name, pv, &[]), "{name} absent");
            for (i, req) in scenarios.iter().enumerate().skip(1) {
                assert_eq!(holds(&name, pv, req), want[i], "{name} over {req:?}");
            }
        }
    }
}

#[test]
fn several_values_or_keys_and_operators_and() {
    let p = policy(&json!({"Statement": {
    "Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
    "Condition": {
        "StringEquals": {"kms:GranteePrincipal": ["x", "y"], "kms:RetiringPrincipal": "z"},
        "StringNotEquals": {"kms:ReplicaRegion": ["p", "q"]}
    }}}));
    let run = |pairs: &[(&str, &str)]| {
        let mut c = ctx("kms:Encrypt", ALICE);
        c.extra = pairs;
        p.evaluate(&c).is_allow()
    };
    assert!(run(&[
        ("kms:GranteePrincipal", "x"),
        ("kms:RetiringPrincipal", "z")
    ]));
    assert!(run(&[
        ("kms:GranteePrincipal", "y"),
        ("kms:RetiringPrincipal", "z"),
        ("kms:ReplicaRegion", "r")
    ]));
    assert!(
        !run(&[
            ("kms:GranteePrincipal", "w"),
            ("kms:RetiringPrincipal", "z")
        ]),
        "values are ORed"
    );
    assert!(!run(&[("kms:GranteePrincipal", "x")]), "keys are ANDed");
    // StringNotEquals with several values: true only if the value matches none.
    assert!(!run(&[
        ("kms:GranteePrincipal", "x"),
        ("kms:RetiringPrincipal", "z"),
        ("kms:ReplicaRegion", "p")
    ]));
    assert!(!run(&[
        ("kms:GranteePrincipal", "x"),
        ("kms:RetiringPrincipal", "z"),
        ("kms:ReplicaRegion", "q")
    ]));
}

#[test]
fn condition_key_names_are_case_insensitive() {
    let p = cond_policy(
        "StringEquals",
        "KMS:VIASERVICE",
        json!("s3.us-east-1.amazonaws.com"),
    );
    let mut c = ctx("kms:Encrypt", ALICE);
    c.via_service = Some("s3.us-east-1.amazonaws.com");
    assert!(p.evaluate(&c).is_allow());
    c.via_service = Some("S3.us-east-1.amazonaws.com");
    assert!(!p.evaluate(&c).is_allow(), "values stay case-sensitive");
}

#[test]
fn condition_values_of_other_json_types() {
    let p = cond_policy("Bool", "aws:SecureTransport", json!(true));
    let mut c = ctx("kms:Encrypt", ALICE);
    c.secure_transport = Some(true);
    assert!(p.evaluate(&c).is_allow());
    c.secure_transport = Some(false);
    assert!(!p.evaluate(&c).is_allow());
    c.secure_transport = None;
    assert!(!p.evaluate(&c).is_allow());
    let p = cond_policy(
        "NumericLessThan",
        "kms:RotationPeriodInDays",
        json!([5, 7.5]),
    );
    c.extra = &[("kms:RotationPeriodInDays", "7")];
    assert!(p.evaluate(&c).is_allow());
}

#[test]
fn encryption_context_key_case_insensitive_value_sensitive() {
    let p = cond_policy(
        "StringEquals",
        "kms:EncryptionContext:Department",
        json!("IT"),
    );
    let ec: EncryptionContext = [("department", "IT")].into_iter().collect();
    let mut c = ctx("kms:Encrypt", ALICE);
    c.encryption_context = Some(&ec);
    assert!(p.evaluate(&c).is_allow());
    let ec2: EncryptionContext = [("Department", "it")].into_iter().collect();
    c.encryption_context = Some(&ec2);
    assert!(!p.evaluate(&c).is_allow());
    let p = cond_policy(
        "StringEqualsIgnoreCase",
        "kms:EncryptionContext:Department",
        json!("IT"),
    );
    assert!(p.evaluate(&c).is_allow());
    // kms:EncryptionContextKeys is the (case-sensitive) set of keys.
    let p = cond_policy(
        "ForAllValues:StringEquals",
        "kms:EncryptionContextKeys",
        json!(["Department", "Project"]),
    );
    let ok: EncryptionContext = [("Department", "x"), ("Project", "y")]
        .into_iter()
        .collect();
    let extra: EncryptionContext = [("Department", "x"), ("Other", "y")].into_iter().collect();
    let lower: EncryptionContext = [("department", "x")].into_iter().collect();
    c.encryption_context = Some(&ok);
    assert!(p.evaluate(&c).is_allow());
    c.encryption_context = Some(&extra);
    assert!(!p.evaluate(&c).is_allow());
    c.encryption_context = Some(&lower);
    assert!(!p.evaluate(&c).is_allow());
    // ForAllValues over an absent key is true (the IAM pitfall), and Null guards it.
    c.encryption_context = None;
    assert!(p.evaluate(&c).is_allow());
    let guarded = policy(&json!({"Statement": {
    "Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
    "Condition": {
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Department"]},
        "Null": {"kms:EncryptionContextKeys": "false"}
    }}}));
    assert!(!guarded.evaluate(&c).is_allow());
    let empty = EncryptionContext::new();
    c.encryption_context = Some(&empty);
    assert!(
        !guarded.evaluate(&c).is_allow(),
        "an empty context counts as absent"
    );
}

#[test]
fn every_named_condition_key_is_looked_up() {
    let tags: BTreeMap<String, String> = [("Env".to_owned(), "prod".to_owned())].into();
    let ops = vec!["Encrypt".to_owned(), "Decrypt".to_owned()];
    let aliases = vec!["alias/app".to_owned()];
    let ec: EncryptionContext = [("k", "v")].into_iter().collect();
    let t = UNIX_EPOCH + Duration::from_secs(1_577_836_800); // 2020-01-01
    let mut c = ctx("kms:Encrypt", ALICE);
    c.principal_tags = Some(&tags);
    c.resource_tags = Some(&tags);
    c.request_tags = Some(&tags);
    c.encryption_context = Some(&ec);
    c.source_ip = Some("2001:db8::7".parse::<IpAddr>().unwrap());
    c.secure_transport = Some(true);
    c.current_time = Some(t);
    c.via_service = Some("ec2.us-east-1.amazonaws.com");
    c.grant_operations = Some(&ops);
    c.grant_is_for_aws_resource = Some(true);
    c.key_spec = Some("SYMMETRIC_DEFAULT");
    c.key_usage = Some("ENCRYPT_DECRYPT");
    c.key_origin = Some("AWS_KMS");
    c.encryption_algorithm = Some("SYMMETRIC_DEFAULT");
    c.signing_algorithm = Some("ECDSA_SHA_256");
    c.message_type = Some("RAW");
    c.request_alias = Some("alias/app");
    c.resource_aliases = Some(&aliases);
    c.requested_region = Some("us-east-1");
    c.multi_region = Some(false);
    let cases: &[(&str, &str, Value)] = &[
        ("StringEquals", "aws:RequestedRegion", json!("us-east-1")),
        ("Bool", "kms:MultiRegion", json!("false")),
        (
            "StringEquals",
            "kms:CustomerMasterKeySpec",
            json!("SYMMETRIC_DEFAULT"),
        ),
        ("StringEquals", "kms:EncryptionContext:k", json!("v")),
        (
            "ForAnyValue:StringEquals",
            "kms:EncryptionContextKeys",
            json!("k"),
        ),
        ("StringLike", "kms:ViaService", json!("ec2.*.amazonaws.com")),
        ("StringEquals", "kms:CallerAccount", json!(ACCT)),
        ("Bool", "kms:GrantIsForAWSResource", json!("true")),
        (
            "ForAllValues:StringEquals",
            "kms:GrantOperations",
            json!(["Encrypt", "Decrypt", "ReEncryptFrom"]),
        ),
        ("StringEquals", "kms:KeySpec", json!("SYMMETRIC_DEFAULT")),
        ("StringEquals", "kms:KeyUsage", json!("ENCRYPT_DECRYPT")),
        ("StringEquals", "kms:KeyOrigin", json!("AWS_KMS")),
        (
            "StringEquals",
            "kms:EncryptionAlgorithm",
            json!("SYMMETRIC_DEFAULT"),
        ),
        (
            "StringEquals",
            "kms:SigningAlgorithm",
            json!("ECDSA_SHA_256"),
        ),
        ("StringEquals", "kms:MessageType", json!("RAW")),
        ("StringEquals", "kms:RequestAlias", json!("alias/app")),
        (
            "ForAnyValue:StringLike",
            "kms:ResourceAliases",
            json!("alias/a*"),
        ),
        ("StringEquals", "aws:ResourceTag/env", json!("prod")),
        ("StringEquals", "aws:RequestTag/ENV", json!("prod")),
        ("ForAllValues:StringEquals", "aws:TagKeys", json!("Env")),
        ("StringEquals", "aws:PrincipalTag/Env", json!("prod")),
        ("ArnEquals", "aws:PrincipalArn", json!(ALICE)),
        ("StringEquals", "aws:PrincipalAccount", json!(ACCT)),
        (
            "IpAddress",
            "aws:SourceIp",
            json!(["203.0.113.0/24", "2001:db8::/32"]),
        ),
        (
            "DateGreaterThan",
            "aws:CurrentTime",
            json!("2019-12-31T23:59:59Z"),
        ),
        (
            "DateLessThan",
            "aws:CurrentTime",
            json!("2020-01-01T00:00:01Z"),
        ),
        ("NumericEquals", "aws:EpochTime", json!(1_577_836_800)),
        ("StringLike", "aws:CurrentTime", json!("2020-01-01T*")),
        ("Bool", "aws:SecureTransport", json!("true")),
    ];
    let bare = ctx("kms:Encrypt", ALICE);
    for (op, key, v) in cases {
        let p = cond_policy(op, key, v.clone());
        assert!(p.evaluate(&c).is_allow(), "{op} {key} should hold");
        // Absent from an empty request: false for positive unqualified/ForAnyValue operators.
        let absent_holds = op.starts_with("ForAllValues:")
            || [
                "kms:CallerAccount",
                "aws:PrincipalArn",
                "aws:PrincipalAccount",
            ]
            .contains(key);
        assert_eq!(
            p.evaluate(&bare).is_allow(),
            absent_holds,
            "{op} {key} absent"
        );
    }
    // Failing values for a few typed keys.
    c.source_ip = Some("198.51.100.1".parse().unwrap());
    assert!(
        !cond_policy("IpAddress", "aws:SourceIp", json!("203.0.113.0/24"))
            .evaluate(&c)
            .is_allow()
    );
    assert!(
        cond_policy("NotIpAddress", "aws:SourceIp", json!("203.0.113.0/24"))
            .evaluate(&c)
            .is_allow()
    );
    assert!(
        !cond_policy("DateGreaterThan", "aws:CurrentTime", json!("2020-01-02"))
            .evaluate(&c)
            .is_allow()
    );
}

fn stmt(effect: &str, action: Value, principal: Value) -> Value {
    json!({"Effect": effect, "Principal": principal, "Action": action, "Resource": "*"})
}

#[test]
fn action_wildcards_and_case() {
    let run = |pattern: &str, action: &str| {
        let p = policy(&json!({"Statement": stmt("Allow", json!(pattern), json!("*"))}));
        p.evaluate(&ctx(action, ALICE)).is_allow()
    };
    assert!(run("*", "kms:Encrypt"));
    assert!(run("kms:*", "kms:Encrypt"));
    assert!(run("KMS:ENCRYPT", "kms:Encrypt"));
    assert!(run("kms:encrypt", "KMS:Encrypt"));
    assert!(run("kms:Re*", "kms:ReEncryptFrom"));
    assert!(run("kms:*DataKey", "kms:GenerateDataKey"));
    assert!(!run("kms:*DataKey", "kms:GenerateDataKeyPair"));
    assert!(run(
        "kms:GenerateDataKey*",
        "kms:GenerateDataKeyPairWithoutPlaintext"
    ));
    assert!(run("kms:?ncrypt", "kms:Encrypt"));
    assert!(!run("kms:?ncrypt", "kms:Decrypt"));
    assert!(!run("kms:Encrypt", "kms:EncryptX"));
    assert!(!run("kms:*", "s3:GetObject"));
}

#[test]
fn resource_wildcards() {
    let run = |pattern: &str, resource: &str| {
        let p = policy(&json!({"Statement": {
            "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": pattern}}));
        let mut c = ctx("kms:Encrypt", ALICE);
        c.resource = resource;
        p.evaluate(&c).is_allow()
    };
    assert!(run("*", KEY));
    assert!(run("arn:aws:kms:*:111122223333:key/*", KEY));
    assert!(run("arn:aws:kms:us-east-?:111122223333:key/*", KEY));
    assert!(!run("arn:aws:kms:*:444455556666:key/*", KEY));
    assert!(run(KEY, KEY));
    assert!(!run(KEY, KEY2));
    // Resource ARNs compare case-sensitively.
    assert!(!run(&KEY.to_uppercase(), KEY));
}

#[test]
fn not_action_not_resource_not_principal() {
    let p = policy(&json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "NotAction": ["kms:ScheduleKeyDeletion", "kms:Put*"], "Resource": "*"}
    ]}));
    assert!(p.evaluate(&ctx("kms:Encrypt", ALICE)).is_allow());
    assert!(!p
        .evaluate(&ctx("kms:ScheduleKeyDeletion", ALICE))
        .is_allow());
    assert!(!p.evaluate(&ctx("kms:PutKeyPolicy", ALICE)).is_allow());

    let p = policy(&json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "NotResource": KEY2}
    ]}));
    assert!(p.evaluate(&ctx("kms:Encrypt", ALICE)).is_allow());
    let mut c = ctx("kms:Encrypt", ALICE);
    c.resource = KEY2;
    assert!(!p.evaluate(&c).is_allow());

    let p = policy(&json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
        {"Sid": "NotAlice", "Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*"}
    ]}));
    assert_eq!(
        p.evaluate(&ctx("kms:Decrypt", ALICE)).decision,
        Decision::Allow
    );
    let e = p.evaluate(&ctx("kms:Decrypt", BOB));
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.statement.unwrap().sid, Some("NotAlice"));
    assert_eq!(e.statement.unwrap().index, 1);
    assert_eq!(
        p.evaluate(&ctx("kms:Encrypt", BOB)).decision,
        Decision::Allow
    );
}

#[test]
fn principals() {
    let p = policy(&json!({"Statement": [
        stmt("Allow", json!("kms:Encrypt"), json!({"AWS": [ALICE, OTHER]})),
        stmt("Allow", json!("kms:Decrypt"), json!({"AWS": "arn:aws:iam::111122223333:role/path/Admin"})),
        stmt("Allow", json!("kms:Sign"), json!({"Service": "logs.amazonaws.com"})),
        stmt("Allow", json!("kms:Verify"), json!({"AWS": "*"})),
    ]}));
    let e = p.evaluate(&ctx("kms:Encrypt", ALICE));
    assert_eq!(
        (e.decision, e.principal_match),
        (Decision::Allow, Some(PrincipalMatch::Direct))
    );
    assert!(!p.evaluate(&ctx("kms:Encrypt", BOB)).is_allow());
    let e = p.evaluate(&ctx("kms:Encrypt", EVE));
    assert!(
        e.allowed_via_account_root(),
        "account id means the whole account"
    );
    // A role matches its sessions, not other roles' sessions.
    let session = "arn:aws:sts::111122223333:assumed-role/Admin/alice-session";
    assert!(p.evaluate(&ctx("kms:Decrypt", session)).is_allow());
    assert!(!p
        .evaluate(&ctx(
            "kms:Decrypt",
            "arn:aws:sts::111122223333:assumed-role/Other/s"
        ))
        .is_allow());
    assert!(!p
        .evaluate(&ctx(
            "kms:Decrypt",
            "arn:aws:sts::444455556666:assumed-role/Admin/s"
        ))
        .is_allow());
    // Service principals.
    let mut c = ctx("kms:Sign", ALICE);
    assert!(!p.evaluate(&c).is_allow());
    c.principal_service = Some("logs.amazonaws.com");
    assert!(p.evaluate(&c).is_allow());
    assert!(p.evaluate(&ctx("kms:Verify", EVE)).is_allow());
}

#[test]
fn direct_allow_is_reported_over_account_allow_whatever_the_order() {
    let a = stmt("Allow", json!("kms:*"), json!({"AWS": ROOT}));
    let mut b = stmt("Allow", json!("kms:Encrypt"), json!({"AWS": ALICE}));
    b["Sid"] = json!("Alice");
    for stmts in [json!([a.clone(), b.clone()]), json!([b, a])] {
        let p = policy(&json!({ "Statement": stmts }));
        let e = p.evaluate(&ctx("kms:Encrypt", ALICE));
        assert_eq!(e.principal_match, Some(PrincipalMatch::Direct));
        assert_eq!(e.statement.unwrap().sid, Some("Alice"));
    }
}

// ---- The AWS policy-evaluation examples -------------------------------------------------------

#[test]
fn key_policy_decrypt_only_beats_identity_encrypt_and_decrypt() {
    let key_policy = Policy::parse_key_policy(&json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowDecrypt", "Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*"}
    ]}).to_string()).unwrap();
    let identity = Policy::parse_identity_policy(
        &json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": KEY}
        ]})
        .to_string(),
    )
    .unwrap();
    let dec = authorize(&key_policy, ACCT, [&identity], &ctx("kms:Decrypt", ALICE));
    assert_eq!(dec.decision, Decision::Allow);
    assert_eq!(dec.reason, Reason::KeyPolicyAllows);
    let enc = authorize(&key_policy, ACCT, [&identity], &ctx("kms:Encrypt", ALICE));
    assert_eq!(enc.decision, Decision::ImplicitDeny);
    assert_eq!(enc.reason, Reason::KeyPolicyDoesNotAllow);
}

#[test]
fn via_service_limits_a_key_to_one_service() {
    let key_policy = Policy::parse_key_policy(&json!({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "ebs.us-east-1.amazonaws.com", "kms:CallerAccount": ACCT}}}
    ]}).to_string()).unwrap();
    let identity = Policy::parse_identity_policy(
        &json!({"Statement":
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}})
        .to_string(),
    )
    .unwrap();
    let mut c = ctx("kms:GenerateDataKeyWithoutPlaintext", ALICE);
    assert_eq!(
        authorize(&key_policy, ACCT, [&identity], &c).decision,
        Decision::ImplicitDeny
    );
    c.via_service = Some("s3.us-east-1.amazonaws.com");
    assert_eq!(
        authorize(&key_policy, ACCT, [&identity], &c).decision,
        Decision::ImplicitDeny
    );
    c.via_service = Some("ebs.us-east-1.amazonaws.com");
    let a = authorize(&key_policy, ACCT, [&identity], &c);
    assert_eq!(
        (a.decision, a.reason),
        (Decision::Allow, Reason::DelegatedToIdentityPolicy)
    );
    assert_eq!(a.decided_by.unwrap().0, PolicySource::IdentityPolicy(0));
}

#[test]
fn tag_condition_allows_prod_refuses_dev() {
    let identity = Policy::parse_identity_policy(&json!({"Statement":
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "arn:aws:kms:*:111122223333:key/*",
         "Condition": {"StringEquals": {"aws:ResourceTag/environment": "prod"}}}}).to_string()).unwrap();
    let key_policy = default_key_policy(&AccountId::parse(ACCT).unwrap());
    let prod: BTreeMap<String, String> = [("environment".to_owned(), "prod".to_owned())].into();
    let dev: BTreeMap<String, String> = [("environment".to_owned(), "dev".to_owned())].into();
    let mut c = ctx("kms:Encrypt", ALICE);
    c.resource_tags = Some(&prod);
    assert!(authorize(&key_policy, ACCT, [&identity], &c).is_allow());
    c.resource_tags = Some(&dev);
    assert!(!authorize(&key_policy, ACCT, [&identity], &c).is_allow());
    c.resource_tags = None;
    assert!(!authorize(&key_policy, ACCT, [&identity], &c).is_allow());
}

#[test]
fn explicit_deny_anywhere_wins() {
    let key_policy = policy(&json!({"Statement": [
        stmt("Allow", json!("kms:*"), json!({"AWS": ALICE})),
    ]}));
    let deny = Policy::parse_identity_policy(
        &json!({"Statement": [
            {"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}
        ]})
        .to_string(),
    )
    .unwrap();
    let a = authorize(&key_policy, ACCT, [&deny], &ctx("kms:Decrypt", ALICE));
    assert_eq!(
        (a.decision, a.reason),
        (Decision::ExplicitDeny, Reason::ExplicitDeny)
    );
    let (src, st) = a.decided_by.unwrap();
    assert_eq!(
        (src, st.sid),
        (PolicySource::IdentityPolicy(0), Some("NoDecrypt"))
    );
    assert!(authorize(&key_policy, ACCT, [&deny], &ctx("kms:Encrypt", ALICE)).is_allow());
    // A deny in the key policy beats an allow in it and in identity policies.
    let key_deny = policy(&json!({"Statement": [
        stmt("Allow", json!("kms:*"), json!({"AWS": ROOT})),
        stmt("Deny", json!("kms:Decrypt"), json!("*")),
    ]}));
    let allow_all = Policy::parse_identity_policy(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    )
    .unwrap();
    let a = authorize(&key_deny, ACCT, [&allow_all], &ctx("kms:Decrypt", ALICE));
    assert_eq!(a.decided_by.unwrap().0, PolicySource::KeyPolicy);
    assert_eq!(a.decision, Decision::ExplicitDeny);
}

#[test]
fn default_key_policy_delegates_to_identity_policies() {
    let acct = AccountId::parse(ACCT).unwrap();
    let kp = default_key_policy(&acct);
    assert!(kp.names_account_root(&acct));
    assert!(!kp.names_account_root(&AccountId::parse(OTHER).unwrap()));
    let allow = Policy::parse_identity_policy(
        r#"{"Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}"#,
    )
    .unwrap();
    // The key policy alone delegates: no identity policy, no access (except the root user).
    let a = authorize(&kp, ACCT, [], &ctx("kms:Encrypt", ALICE));
    assert_eq!(
        (a.decision, a.reason),
        (Decision::ImplicitDeny, Reason::IdentityPolicyDoesNotAllow)
    );
    assert!(a.key_policy.allowed_via_account_root());
    assert!(authorize(&kp, ACCT, [&allow], &ctx("kms:Encrypt", ALICE)).is_allow());
    assert!(!authorize(&kp, ACCT, [&allow], &ctx("kms:Decrypt", ALICE)).is_allow());
    let root = authorize(&kp, ACCT, [], &ctx("kms:ScheduleKeyDeletion", ROOT));
    assert_eq!(
        (root.decision, root.reason),
        (Decision::Allow, Reason::AccountRootCaller)
    );
    // Another account is not named: its identity policies do not help.
    assert!(!authorize(&kp, ACCT, [&allow], &ctx("kms:Encrypt", EVE)).is_allow());
}

#[test]
fn cross_account_needs_both_sides() {
    let kp = policy(&json!({"Statement": [
        stmt("Allow", json!("kms:*"), json!({"AWS": ROOT})),
        stmt("Allow", json!(["kms:Encrypt", "kms:Decrypt"]), json!({"AWS": format!("arn:aws:iam::{OTHER}:root")})),
    ]}));
    let allow = Policy::parse_identity_policy(
        r#"{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}"#,
    )
    .unwrap();
    let eve = ctx("kms:Decrypt", EVE);
    assert!(
        !authorize(&kp, ACCT, [], &eve).is_allow(),
        "key policy alone is not enough"
    );
    let a = authorize(&kp, ACCT, [&allow], &eve);
    assert_eq!(
        (a.decision, a.reason),
        (Decision::Allow, Reason::CrossAccountAllowed)
    );
    assert!(
        !authorize(&kp, ACCT, [&allow], &ctx("kms:Encrypt", EVE)).is_allow(),
        "identity side refuses"
    );
    assert!(
        !authorize(&kp, ACCT, [&allow], &ctx("kms:Sign", EVE)).is_allow(),
        "key side refuses"
    );
    // Naming the external user directly still needs its identity policy.
    let direct =
        policy(&json!({"Statement": stmt("Allow", json!("kms:Decrypt"), json!({"AWS": EVE}))}));
    assert!(!authorize(&direct, ACCT, [], &eve).is_allow());
    assert!(authorize(&direct, ACCT, [&allow], &eve).is_allow());
}

#[test]
fn lockout_check() {
    let acct = AccountId::parse(ACCT).unwrap();
    let alice = Caller::new(ALICE).unwrap();
    let eve = Caller::new(EVE).unwrap();
    assert!(default_key_policy(&acct).allows_put_key_policy(&alice, KEY));
    assert!(!default_key_policy(&acct).allows_put_key_policy(&eve, KEY));
    let only_encrypt =
        policy(&json!({"Statement": stmt("Allow", json!("kms:Encrypt"), json!({"AWS": ALICE}))}));
    assert!(!only_encrypt.allows_put_key_policy(&alice, KEY));
    let conditioned = policy(&json!({"Statement": {
        "Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:*", "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}}}}));
    assert!(
        !conditioned.allows_put_key_policy(&alice, KEY),
        "the empty context has no TLS"
    );
}

// ---- Validation ------------------------------------------------------------------------------

fn problem(text: &str) -> (String, PolicyError) {
    let e = Policy::parse(text).unwrap_err();
    assert_eq!(e.aws_error_code(), "MalformedPolicyDocumentException");
    (e.to_string(), e)
}

#[test]
fn validation_messages_say_where() {
    let ok = json!({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"});
    let bad_cond = json!({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
        "Condition": {"StringEqualz": {"kms:ViaService": "x"}}});
    let doc = json!({"Statement": [ok.clone(), ok.clone(), bad_cond]});
    let (msg, e) = problem(&doc.to_string());
    assert_eq!(
        msg,
        "Statement[2].Condition: unknown operator 'StringEqualz'"
    );
    assert!(matches!(
        e,
        PolicyError::Invalid {
            problem: Problem::UnknownOperator(_),
            ..
        }
    ));

    let cases: &[(Value, &str)] = &[
        (
            json!({"Statement": [{"Effect": "Permit", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}),
            "Statement[0].Effect: Effect must be \"Allow\" or \"Deny\", not 'Permit'",
        ),
        (
            json!({"Statement": ok, "Extra": 1}),
            "policy: unknown element 'Extra'",
        ),
        (
            json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Actions": "x"}}),
            "Statement: unknown element 'Actions'",
        ),
        (
            json!({"Version": "2020-01-01", "Statement": ok}),
            "Version: unsupported Version '2020-01-01'",
        ),
        (json!({}), "policy: missing required element 'Statement'"),
        (json!({"Statement": []}), "Statement: must not be empty"),
        (
            json!({"Statement": [{"Principal": "*", "Action": "kms:*", "Resource": "*"}]}),
            "Statement[0]: missing required element 'Effect'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Resource": "*"}]}),
            "Statement[0]: missing required element 'Action'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*"}]}),
            "Statement[0]: missing required element 'Resource'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "NotAction": "kms:Encrypt", "Resource": "*"}]}),
            "Statement[0]: 'Action' and 'NotAction' cannot both be present",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "me", "Action": "kms:*", "Resource": "*"}]}),
            "Statement[0].Principal: invalid principal 'me'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::*:root"}, "Action": "kms:*", "Resource": "*"}]}),
            "Statement[0].Principal.AWS: invalid principal 'arn:aws:iam::*:root'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": "x"}, "Action": "kms:*", "Resource": "*"}]}),
            "Statement[0].Principal: unsupported principal type 'Federated'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["kms:Encrypt", "Encrypt"], "Resource": "*"}]}),
            "Statement[0].Action[1]: invalid action 'Encrypt'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/99"}}}]}),
            "Statement[0].Condition.IpAddress.aws:SourceIp: invalid CIDR block value '10.0.0.0/99'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:CurrentTime": ["2020-01-01", "soon"]}}}]}),
            "Statement[0].Condition.DateLessThan.aws:CurrentTime: invalid date value 'soon'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"NumericEquals": {"kms:ValidTo": "ten"}}}]}),
            "Statement[0].Condition.NumericEquals.kms:ValidTo: invalid number value 'ten'",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"StringEquals": {"kms:ValidTo": []}}}]}),
            "Statement[0].Condition.StringEquals.kms:ValidTo: must not be empty",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"StringEquals": {"kms:ValidTo": {"a": 1}}}}]}),
            "Statement[0].Condition.StringEquals.kms:ValidTo: expected a string, number or boolean",
        ),
        (
            json!({"Statement": [{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
                              {"Sid": "A", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}),
            "Statement[1].Sid: duplicate Sid 'A'",
        ),
        (json!([1, 2]), "policy: expected an object"),
    ];
    for (doc, want) in cases {
        assert_eq!(problem(&doc.to_string()).0, *want, "{doc}");
    }
}

#[test]
fn repeated_members_are_refused_wherever_they_are() {
    // The attack: the reader of the text sees Deny; a last-wins parser enforces Allow.
    let effect = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",
        "Action":"kms:*","Resource":"*","Effect":"Allow"}]}"#;
    let (msg, e) = problem(effect);
    assert!(matches!(e, PolicyError::DuplicateMember { .. }), "{msg}");
    assert!(msg.contains(r#""Statement"[0]."Effect""#), "{msg}");
    assert_eq!(e.aws_error_code(), "MalformedPolicyDocumentException");
    // A second operator block would have replaced the first.
    let blocks = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*",
        "Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"},
        "StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}}"#;
    let (msg, _) = problem(blocks);
    assert!(msg.contains(r#""Condition"."StringEquals""#), "{msg}");
    // Repeated keys inside one block, and repeated top-level members.
    let keys = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*",
        "Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"1","kms:CallerAccount":"2"}}}}"#;
    assert!(matches!(
        problem(keys).1,
        PolicyError::DuplicateMember { .. }
    ));
    let top = r#"{"Statement":[],"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#;
    assert!(matches!(
        problem(top).1,
        PolicyError::DuplicateMember { .. }
    ));
    // Identity policies too.
    let id = r#"{"Statement":{"Effect":"Deny","Action":"kms:*","Resource":"*","Effect":"Allow"}}"#;
    assert!(matches!(
        Policy::parse_identity_policy(id),
        Err(PolicyError::DuplicateMember { .. })
    ));
}

#[test]
fn condition_keys_coffer_cannot_evaluate_are_refused_by_name() {
    for key in [
        "aws:PrincipalOrgID",
        "aws:SourceVpce",
        "kms:RecipientAttestation:ImageSha384",
        "kms:NoSuchKey",
        "aws:ResourceTag/",
    ] {
        let text = json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "kms:*",
            "Resource": "*", "Condition": {"StringEquals": {key: "x"}}}})
        .to_string();
        let (msg, e) = problem(&text);
        assert!(
            matches!(e, PolicyError::Invalid { problem: Problem::UnsupportedConditionKey(ref k), .. } if k == key),
            "{msg}"
        );
        assert!(msg.contains(key), "{msg}");
    }
    // Every documented key that operations set through `extra` parses.
    for (key, _) in coffer_policy::EXTRA_CONDITION_KEYS {
        let v = json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "kms:*",
            "Resource": "*", "Condition": {"StringEquals": {*key: "x"}}}});
        policy(&v);
    }
}

#[test]
fn bad_json_and_size() {
    let (msg, e) = problem("{\"Statement\": [");
    assert!(
        msg.starts_with("the policy is not valid JSON (line 1"),
        "{msg}"
    );
    assert!(
        std::error::Error::source(&e).is_some(),
        "the parser's error is kept as source"
    );
    let big = format!(
        r#"{{"Statement":{{"Sid":"{}","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}}}"#,
        "x".repeat(coffer_policy::MAX_POLICY_BYTES)
    );
    let (_, e) = problem(&big);
    assert!(matches!(e, PolicyError::TooLarge { .. }));
    // Just under the limit parses.
    let pad = coffer_policy::MAX_POLICY_BYTES - (big.len() - coffer_policy::MAX_POLICY_BYTES);
    let fits = big.replacen(
        &"x".repeat(coffer_policy::MAX_POLICY_BYTES),
        &"x".repeat(pad),
        1,
    );
    assert_eq!(fits.len(), coffer_policy::MAX_POLICY_BYTES);
    assert!(Policy::parse(&fits).is_ok());
}

#[test]
fn key_and_identity_kinds() {
    let no_principal = r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#;
    let with_principal =
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#;
    assert_eq!(
        Policy::parse_key_policy(no_principal)
            .unwrap_err()
            .to_string(),
        "Statement: a key policy statement needs a Principal or NotPrincipal"
    );
    assert_eq!(
        Policy::parse_identity_policy(with_principal).unwrap_err().to_string(),
        "Statement.Principal: an identity policy statement may not name a Principal or NotPrincipal"
    );
    assert!(Policy::parse_key_policy(with_principal).is_ok());
    assert!(Policy::parse_identity_policy(no_principal).is_ok());
}

// ---- Serialization ---------------------------------------------------------------------------

#[test]
fn default_policy_json() {
    let acct = AccountId::parse(ACCT).unwrap();
    let v: Value = serde_json::from_str(&default_key_policy_json(&acct)).unwrap();
    assert_eq!(
        v,
        json!({
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [{
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*"
            }]
        })
    );
    let text = default_key_policy(&acct).to_json();
    assert!(
        text.starts_with(r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"#),
        "{text}"
    );
    assert_eq!(
        Policy::parse_key_policy(&text).unwrap(),
        default_key_policy(&acct)
    );
}

#[test]
fn serialization_keeps_what_was_written() {
    let doc = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "NotPrincipal": {"AWS": [ALICE, OTHER], "Service": "logs.amazonaws.com"},
        "NotAction": ["kms:Encrypt", "KMS:decrypt"], "NotResource": KEY,
        "Condition": {"ForAnyValue:StringLikeIfExists": {"kms:EncryptionContext:Dept": ["a*", "b"]},
                      "NumericLessThan": {"kms:ValidTo": 3}, "Bool": {"aws:SecureTransport": false}}
    }]});
    let p = policy(&doc);
    let back: Value = serde_json::from_str(&p.to_json()).unwrap();
    let mut want = doc.clone();
    want["Statement"][0]["Condition"]["NumericLessThan"]["kms:ValidTo"] = json!("3");
    want["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"] = json!("false");
    assert_eq!(back, want);
    assert_eq!(policy(&back), p);
}

// ---- Properties ------------------------------------------------------------------------------

fn arb_statement() -> impl Strategy<Value = Value> {
    let effect = prop::sample::select(vec!["Allow", "Deny"]);
    let principal = prop::sample::select(vec![
        json!({"Principal": "*"}),
        json!({"Principal": {"AWS": ROOT}}),
        json!({"Principal": {"AWS": ALICE}}),
        json!({"Principal": {"AWS": [BOB, OTHER]}}),
        json!({"NotPrincipal": {"AWS": ALICE}}),
    ]);
    let action = prop::sample::select(vec![
        json!({"Action": "kms:Encrypt"}),
        json!({"Action": ["kms:Decrypt", "kms:ReEncrypt*"]}),
        json!({"Action": "kms:*"}),
        json!({"Action": "*"}),
        json!({"Action": "KMS:generate?atakey*"}),
        json!({"NotAction": "kms:Decrypt"}),
    ]);
    let resource = prop::sample::select(vec![
        json!({"Resource": "*"}),
        json!({"Resource": KEY}),
        json!({"Resource": "arn:aws:kms:*:111122223333:key/0987*"}),
        json!({"NotResource": KEY}),
    ]);
    let condition = prop::sample::select(vec![
        json!(null),
        json!({"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}),
        json!({"StringNotEquals": {"kms:EncryptionContext:app": ["a", "b"]}}),
        json!({"ForAllValues:StringLike": {"kms:EncryptionContextKeys": "app*"}}),
        json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "user"}}),
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        json!({"StringEqualsIfExists": {"aws:ResourceTag/env": "prod"}}),
        json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        json!({"Null": {"kms:ViaService": "true"}, "StringLike": {"aws:PrincipalArn": "*alice"}}),
    ]);
    (effect, principal, action, resource, condition).prop_map(|(e, p, a, r, c)| {
        let mut s = json!({"Effect": e});
        for part in [p, a, r] {
            if let Value::Object(m) = part {
                for (k, v) in m {
                    s[k] = v;
                }
            }
        }
        if !c.is_null() {
            s["Condition"] = c;
        }
        s
    })
}

/// Every request the properties are checked against.
fn each_request(mut f: impl FnMut(&RequestContext<'_>)) {
    let ec_app: EncryptionContext = [("app", "a"), ("application", "z")].into_iter().collect();
    let ec_user: EncryptionContext = [("user", "u")].into_iter().collect();
    let prod: BTreeMap<String, String> = [("env".to_owned(), "prod".to_owned())].into();
    let dev: BTreeMap<String, String> = [("env".to_owned(), "dev".to_owned())].into();
    for action in [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:GenerateDataKey",
        "s3:GetObject",
    ] {
        for resource in [KEY, KEY2] {
            for principal in [ALICE, BOB, ROOT, EVE] {
                for variant in 0..4 {
                    let mut c = ctx(action, principal);
                    c.resource = resource;
                    match variant {
                        1 => {
                            c.via_service = Some("s3.us-east-1.amazonaws.com");
                            c.encryption_context = Some(&ec_app);
                            c.resource_tags = Some(&prod);
                            c.secure_transport = Some(true);
                        }
                        2 => {
                            c.encryption_context = Some(&ec_user);
                            c.resource_tags = Some(&dev);
                            c.source_ip = Some("10.2.3.4".parse().unwrap());
                        }
                        3 => {
                            c.secure_transport = Some(false);
                            c.source_ip = Some("192.0.2.1".parse().unwrap());
                        }
                        _ => {}
                    }
                    f(&c);
                }
            }
        }
    }
}

fn doc(stmts: &[Value]) -> Policy {
    policy(&json!({"Version": "2012-10-17", "Statement": stmts}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn adding_a_deny_never_widens(stmts in prop::collection::vec(arb_statement(), 1..5), extra in arb_statement()) {
        let mut deny = extra;
        deny["Effect"] = json!("Deny");
        let before = doc(&stmts);
        let mut more = stmts.clone();
        more.push(deny);
        let after = doc(&more);
        each_request(|c| {
            if after.evaluate(c).is_allow() {
                assert!(before.evaluate(c).is_allow());
            }
            if authorize(&after, ACCT, [], c).is_allow() {
                assert!(authorize(&before, ACCT, [], c).is_allow());
            }
        });
    }

    #[test]
    fn adding_an_allow_never_narrows(stmts in prop::collection::vec(arb_statement(), 1..5), extra in arb_statement()) {
        let mut allow = extra;
        allow["Effect"] = json!("Allow");
        let before = doc(&stmts);
        let mut more = stmts.clone();
        more.push(allow);
        let after = doc(&more);
        each_request(|c| {
            let (b, a) = (before.evaluate(c).decision, after.evaluate(c).decision);
            match b {
                Decision::Allow => assert_eq!(a, Decision::Allow),
                Decision::ExplicitDeny => assert_eq!(a, Decision::ExplicitDeny),
                Decision::ImplicitDeny => assert_ne!(a, Decision::ExplicitDeny),
            }
            if authorize(&before, ACCT, [], c).is_allow() {
                assert!(authorize(&after, ACCT, [], c).is_allow());
            }
        });
    }

    #[test]
    fn statement_order_never_matters(stmts in prop::collection::vec(arb_statement(), 1..6), seed in any::<u64>()) {
        let mut shuffled = stmts.clone();
        // A deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let j = usize::try_from(s >> 33).unwrap() % (i + 1);
            shuffled.swap(i, j);
        }
        let (p, q) = (doc(&stmts), doc(&shuffled));
        each_request(|c| {
            let (a, b) = (p.evaluate(c), q.evaluate(c));
            assert_eq!(a.decision, b.decision);
            if a.decision == Decision::Allow {
                assert_eq!(a.principal_match, b.principal_match);
            }
        });
    }

    #[test]
    fn serialized_and_parsed_again_evaluates_the_same(stmts in prop::collection::vec(arb_statement(), 1..6)) {
        let p = doc(&stmts);
        let text = p.to_json();
        let q = Policy::parse(&text).unwrap();
        prop_assert_eq!(&q.to_json(), &text);
        prop_assert_eq!(&q, &p);
        each_request(|c| assert_eq!(p.evaluate(c), q.evaluate(c)));
    }
}

#[test]
fn time_is_compared_not_parsed_per_request() {
    // aws:CurrentTime before the epoch still compares correctly.
    let p = cond_policy("DateLessThan", "aws:CurrentTime", json!("1970-01-01"));
    let mut c = ctx("kms:Encrypt", ALICE);
    c.current_time = Some(UNIX_EPOCH - Duration::from_secs(10));
    assert!(p.evaluate(&c).is_allow());
    c.current_time = Some(SystemTime::now());
    assert!(!p.evaluate(&c).is_allow());
}
