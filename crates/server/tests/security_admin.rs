//! Security: credential management is authorized by the caller's identity policies.
//!
//! The attack this reproduces: an administrator credential denied `kms:Decrypt` created a
//! credential for the account root and decrypted with it. Now an administrator may manage only
//! the credentials its policies name (`coffer:CreateCredential` … on the principal's ARN), and
//! what a new credential carries (identity policies, tags, the administrator flag) needs its own
//! action. Each refusal is asserted by its AWS error code, with no state changed (the bootstrap
//! administrator's ListCredentials is the same before and after), no plaintext returned, and an
//! audit record. The real `cofferd` runs on a loopback port; requests are signed by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

mod common;

use common::TempDir;

const REGION: &str = "eu-west-1";
const A: &str = "111122223333";
const B: &str = "444455556666";
const PLAINTEXT_B64: &str = "dG9wIHNlY3JldCBwYXlyb2xs"; // "top secret payroll"

fn start(dir: &Path) -> common::Server {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cofferd"));
    c.arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--region", REGION])
        .args(["--account-id", A])
        .stderr(Stdio::null());
    common::Server::spawn(c)
}

/// A credential: access key id and secret.
#[derive(Clone, Debug)]
struct Cred {
    id: String,
    secret: String,
}

impl Cred {
    fn from_response(v: &Value) -> Self {
        Self {
            id: v["AccessKeyId"].as_str().unwrap().to_owned(),
            secret: v["SecretAccessKey"].as_str().unwrap().to_owned(),
        }
    }
}

/// A SigV4-signed `POST /` with `target` and the raw `body`; the status and the JSON answer.
fn call_raw(addr: &str, as_: &Cred, target: &str, body: &[u8]) -> (u16, Value) {
    common::signed_call(addr, &as_.id, &as_.secret, REGION, target, body)
}

fn admin(addr: &str, as_: &Cred, op: &str, body: &Value) -> (u16, Value) {
    call_raw(
        addr,
        as_,
        &format!("CofferAdmin.{op}"),
        &serde_json::to_vec(body).unwrap(),
    )
}

fn kms(addr: &str, as_: &Cred, op: &str, body: &Value) -> (u16, Value) {
    call_raw(
        addr,
        as_,
        &format!("TrentService.{op}"),
        &serde_json::to_vec(body).unwrap(),
    )
}

fn code(r: &(u16, Value)) -> &str {
    r.1["__type"].as_str().unwrap_or("")
}

/// Every live credential as the bootstrap administrator lists it: (id, principal, admin flag,
/// expiry), sorted.
fn snapshot(addr: &str, boot: &Cred) -> Vec<(String, String, bool, Option<i64>)> {
    let r = admin(addr, boot, "ListCredentials", &json!({"Limit": 1000}));
    assert_eq!(r.0, 200, "{r:?}");
    let mut out: Vec<_> = r.1["Credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["AccessKeyId"].as_str().unwrap().to_owned(),
                c["PrincipalArn"].as_str().unwrap().to_owned(),
                c["Administrator"].as_bool().unwrap(),
                c["ExpiresAt"].as_i64(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Every audit event (each object with an `eventName`) in the data dir's log.
fn audit_events(dir: &Path) -> Vec<Value> {
    fn collect(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(m) if m.contains_key("eventName") => out.push(v.clone()),
            Value::Object(m) => m.values().for_each(|x| collect(x, out)),
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join(coffer::AUDIT_DIR)).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    collect(&v, &mut out);
                }
            }
        }
    }
    out
}

/// How many audit events record `op` refused with `code`.
fn refusals(dir: &Path, op: &str, code: &str) -> usize {
    audit_events(dir)
        .iter()
        .filter(|e| e["eventName"] == op && e["errorCode"] == code)
        .count()
}

fn operator_policy() -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "ManageAppUsers", "Effect": "Allow",
         "Action": ["coffer:CreateCredential", "coffer:ListCredentials",
                    "coffer:RotateCredential", "coffer:RevokeCredential"],
         "Resource": format!("arn:aws:iam::{A}:user/app-*")},
        {"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}
    ]})
    .to_string()
}

const KMS_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// The bootstrap administrator makes a key, encrypts a secret under it, and creates an
/// operator administrator whose policies allow managing `user/app-*` and deny Decrypt.
struct Scene {
    _tmp: TempDir,
    dir: std::path::PathBuf,
    srv: common::Server,
    boot: Cred,
    ops: Cred,
    ciphertext: String,
}

fn scene(name: &str) -> Scene {
    let tmp = TempDir::new(name);
    let dir = tmp.path().join("data");
    let srv = start(&dir);
    let a = common::Admin::of(&dir);
    let boot = Cred {
        id: a.access_key_id,
        secret: a.secret,
    };
    let addr = srv.addr.clone();
    let r = kms(&addr, &boot, "CreateKey", &json!({}));
    assert_eq!(r.0, 200, "{r:?}");
    let key = r.1["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let r = kms(
        &addr,
        &boot,
        "Encrypt",
        &json!({"KeyId": key, "Plaintext": PLAINTEXT_B64}),
    );
    assert_eq!(r.0, 200, "{r:?}");
    let ciphertext = r.1["CiphertextBlob"].as_str().unwrap().to_owned();
    let r = admin(
        &addr,
        &boot,
        "CreateCredential",
        &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/ops"), "Administrator": true,
                "IdentityPolicies": [operator_policy()]}),
    );
    assert_eq!(r.0, 200, "{r:?}");
    let ops = Cred::from_response(&r.1);
    Scene {
        _tmp: tmp,
        dir,
        srv,
        boot,
        ops,
        ciphertext,
    }
}

#[test]
fn an_administrator_denied_decrypt_cannot_become_the_account_root() {
    let s = scene("root");
    let addr = s.srv.addr.as_str();
    // The operator itself may not decrypt.
    let r = kms(
        addr,
        &s.ops,
        "Decrypt",
        &json!({"CiphertextBlob": s.ciphertext}),
    );
    assert_eq!(code(&r), "AccessDeniedException", "{r:?}");
    assert!(r.1.get("Plaintext").is_none());

    let before = snapshot(addr, &s.boot);
    let root = format!("arn:aws:iam::{A}:root");
    for body in [
        json!({"PrincipalArn": root}),
        json!({"PrincipalArn": root, "Administrator": true}),
        json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/ops")}),
        json!({"PrincipalArn": format!("arn:aws:iam::{A}:role/app-1")}),
    ] {
        let r = admin(addr, &s.ops, "CreateCredential", &body);
        assert_eq!(code(&r), "AccessDeniedException", "{body}: {r:?}");
        assert_eq!(r.0, 400);
        assert!(r.1.get("SecretAccessKey").is_none());
    }
    assert_eq!(snapshot(addr, &s.boot), before);
    // Nothing the operator could sign with decrypts.
    let r = kms(
        addr,
        &s.ops,
        "Decrypt",
        &json!({"CiphertextBlob": s.ciphertext}),
    );
    assert_eq!(code(&r), "AccessDeniedException");
    assert_eq!(
        refusals(&s.dir, "CreateCredential", "AccessDeniedException"),
        4
    );
}

#[test]
fn an_administrator_cannot_escalate_through_what_a_credential_carries() {
    let s = scene("escalate");
    let addr = s.srv.addr.as_str();
    let before = snapshot(addr, &s.boot);
    let app2 = format!("arn:aws:iam::{A}:user/app-2");
    let attempts = [
        // An identity policy that gives the new credential kms:* (and so Decrypt).
        json!({"PrincipalArn": app2, "IdentityPolicies": [KMS_ALL]}),
        // Credential management for itself, through a new administrator.
        json!({"PrincipalArn": app2, "Administrator": true}),
        json!({"PrincipalArn": app2, "Administrator": true,
               "IdentityPolicies": [r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"coffer:*","Resource":"*"}]}"#]}),
        // Tags an ABAC key policy might trust.
        json!({"PrincipalArn": app2, "Tags": {"team": "payroll"}}),
        // The same name in another account.
        json!({"PrincipalArn": format!("arn:aws:iam::{B}:user/app-2")}),
        json!({"PrincipalArn": format!("arn:aws:iam::{B}:root")}),
    ];
    for body in &attempts {
        let r = admin(addr, &s.ops, "CreateCredential", body);
        assert_eq!(code(&r), "AccessDeniedException", "{body}: {r:?}");
    }
    assert_eq!(snapshot(addr, &s.boot), before);
    assert_eq!(
        refusals(&s.dir, "CreateCredential", "AccessDeniedException"),
        attempts.len()
    );
}

#[test]
fn an_administrator_cannot_rotate_revoke_or_retire_credentials_it_does_not_manage() {
    let s = scene("others");
    let addr = s.srv.addr.as_str();
    // An app credential with kms:* made by the bootstrap: rotating it would hand the operator
    // a secret with those policies.
    let r = admin(
        addr,
        &s.boot,
        "CreateCredential",
        &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/app-payroll"),
                "IdentityPolicies": [KMS_ALL]}),
    );
    assert_eq!(r.0, 200, "{r:?}");
    let payroll = Cred::from_response(&r.1);
    let before = snapshot(addr, &s.boot);
    for (op, id) in [
        ("RotateCredential", &s.boot.id),
        ("RevokeCredential", &s.boot.id),
        ("RotateCredential", &payroll.id),
        ("RotateCredential", &s.ops.id),
    ] {
        let r = admin(
            addr,
            &s.ops,
            op,
            &json!({"AccessKeyId": id, "GracePeriodSeconds": 0}),
        );
        assert_eq!(code(&r), "AccessDeniedException", "{op} {id}: {r:?}");
        assert!(r.1.get("SecretAccessKey").is_none());
    }
    let r = admin(addr, &s.ops, "RetireBootstrapCredential", &json!({}));
    assert_eq!(code(&r), "AccessDeniedException", "{r:?}");
    assert_eq!(snapshot(addr, &s.boot), before);
    assert!(s.dir.join(cofferd::ADMIN_CREDENTIALS_FILE).exists());
    // The bootstrap and payroll credentials still work.
    let r = kms(
        addr,
        &s.boot,
        "Decrypt",
        &json!({"CiphertextBlob": s.ciphertext}),
    );
    assert_eq!(r.1["Plaintext"], PLAINTEXT_B64);
    assert_eq!(kms(addr, &payroll, "ListKeys", &json!({})).0, 200);
    assert_eq!(
        refusals(&s.dir, "RotateCredential", "AccessDeniedException"),
        3
    );
    assert_eq!(
        refusals(&s.dir, "RevokeCredential", "AccessDeniedException"),
        1
    );
    assert_eq!(
        refusals(&s.dir, "RetireBootstrapCredential", "AccessDeniedException"),
        1
    );
}

#[test]
fn an_administrator_does_exactly_its_part() {
    let s = scene("part");
    let addr = s.srv.addr.as_str();
    let r = admin(
        addr,
        &s.ops,
        "CreateCredential",
        &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/app-1"),
                "Description": "made by ops"}),
    );
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1["Administrator"], false);
    let app = Cred::from_response(&r.1);
    // The new credential has no policy: it cannot decrypt either, nor manage credentials.
    let r = kms(
        addr,
        &app,
        "Decrypt",
        &json!({"CiphertextBlob": s.ciphertext}),
    );
    assert_eq!(code(&r), "AccessDeniedException", "{r:?}");
    let r = admin(addr, &app, "ListCredentials", &json!({}));
    assert_eq!(code(&r), "AccessDeniedException", "{r:?}");

    // The operator lists only what it manages.
    let r = admin(addr, &s.ops, "ListCredentials", &json!({}));
    assert_eq!(r.0, 200, "{r:?}");
    let ids: Vec<&str> = r.1["Credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["AccessKeyId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [app.id.as_str()]);
    assert_eq!(snapshot(addr, &s.boot).len(), 3);

    // Rotate it (at once), then revoke the new key.
    let r = admin(
        addr,
        &s.ops,
        "RotateCredential",
        &json!({"AccessKeyId": app.id, "GracePeriodSeconds": 0}),
    );
    assert_eq!(r.0, 200, "{r:?}");
    let app2 = Cred::from_response(&r.1);
    // `app` signed requests a moment ago (its signing key is cached for today's scope): the
    // rotation still ends it at once.
    assert_eq!(
        code(&kms(addr, &app, "ListKeys", &json!({}))),
        "UnrecognizedClientException"
    );
    // The new key authenticates (its policy allows nothing), warming the cache for it…
    assert_eq!(
        code(&kms(addr, &app2, "ListKeys", &json!({}))),
        "AccessDeniedException"
    );
    let r = admin(
        addr,
        &s.ops,
        "RevokeCredential",
        &json!({"AccessKeyId": app2.id}),
    );
    assert_eq!(r.0, 200, "{r:?}");
    // …and revoking it refuses it at once all the same.
    assert_eq!(
        code(&kms(addr, &app2, "ListKeys", &json!({}))),
        "UnrecognizedClientException"
    );
    let left: Vec<String> = snapshot(addr, &s.boot).into_iter().map(|c| c.0).collect();
    let mut expected = vec![s.boot.id.clone(), s.ops.id.clone()];
    expected.sort();
    assert_eq!(left, expected);
}

#[test]
fn a_credential_that_is_not_an_administrator_is_refused_whatever_its_policies() {
    let s = scene("nonadmin");
    let addr = s.srv.addr.as_str();
    let all =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let r = admin(
        addr,
        &s.boot,
        "CreateCredential",
        &json!({"PrincipalArn": format!("arn:aws:iam::{A}:role/app"), "IdentityPolicies": [all]}),
    );
    assert_eq!(r.0, 200, "{r:?}");
    let app = Cred::from_response(&r.1);
    let before = snapshot(addr, &s.boot);
    for op in cofferd::ADMIN_OPERATIONS {
        let r = admin(
            addr,
            &app,
            op,
            &json!({"PrincipalArn": format!("arn:aws:iam::{A}:root"), "AccessKeyId": s.boot.id}),
        );
        assert_eq!(code(&r), "AccessDeniedException", "{op}: {r:?}");
    }
    assert_eq!(snapshot(addr, &s.boot), before);
}

#[test]
fn duplicate_members_in_admin_requests_are_refused_and_change_nothing() {
    let s = scene("dupes");
    let addr = s.srv.addr.as_str();
    let before = snapshot(addr, &s.boot);
    // serde would keep the last "Administrator" (true).
    let body = format!(
        r#"{{"PrincipalArn":"arn:aws:iam::{A}:user/app-3","Administrator":false,"Administrator":true}}"#
    );
    for as_ in [&s.boot, &s.ops] {
        let r = call_raw(addr, as_, "CofferAdmin.CreateCredential", body.as_bytes());
        assert_eq!(code(&r), "SerializationException", "{r:?}");
    }
    // A policy whose statement says Deny, then Allow.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*","Effect":"Allow"}]}"#;
    let r = admin(
        addr,
        &s.boot,
        "CreateCredential",
        &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/app-3"), "IdentityPolicies": [policy]}),
    );
    assert_eq!(code(&r), "MalformedPolicyDocumentException", "{r:?}");
    assert!(
        r.1["message"]
            .as_str()
            .unwrap()
            .contains("IdentityPolicies[0]"),
        "{r:?}"
    );
    assert_eq!(snapshot(addr, &s.boot), before);
    assert_eq!(
        refusals(&s.dir, "CreateCredential", "SerializationException"),
        2
    );
}
