//! What the authorization tests share: the accounts and principals, a `Kms` without quotas,
//! identity policies and callers.
#![allow(dead_code)] // each test file uses its own part

use coffer::model::EncryptRequest;
use coffer::{AccountId, Caller, EncryptionContext, Kms};

pub(crate) const ACCOUNT: &str = "111122223333";
pub(crate) const OTHER: &str = "444455556666";
pub(crate) const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
pub(crate) const BOB: &str = "arn:aws:iam::111122223333:user/bob";
pub(crate) const MALLORY: &str = "arn:aws:iam::444455556666:user/mallory";

pub(crate) fn kms() -> Kms {
    Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .build()
        .unwrap()
}

pub(crate) fn identity(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

pub(crate) fn allow_all() -> String {
    identity(r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#)
}

pub(crate) fn who(arn: &str, policies: &[String]) -> Caller {
    let mut c = Caller::new(arn).unwrap();
    for p in policies {
        c = c.with_identity_policy_json(p).unwrap();
    }
    c
}

pub(crate) fn root(account: &str) -> Caller {
    Caller::account_root(AccountId::parse(account).unwrap())
}

/// Encrypts one byte: "ok", or the error's AWS code.
pub(crate) fn encrypt(
    kms: &Kms,
    caller: &Caller,
    key: &str,
    ctx: &EncryptionContext,
) -> &'static str {
    match kms.encrypt(
        caller,
        EncryptRequest {
            key_id: key.into(),
            plaintext: b"x".to_vec().into(),
            encryption_context: ctx.clone(),
            ..Default::default()
        },
    ) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}
