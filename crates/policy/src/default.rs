//! The default key policy.

use coffer_core::AccountId;

use crate::model::{AwsPrincipal, Effect, MatchList, Policy, PrincipalElem, Statement};

/// The `Sid` of the default key policy's one statement.
pub const DEFAULT_KEY_POLICY_SID: &str = "Enable IAM User Permissions";

/// The default key policy AWS KMS gives a key created without one: one statement,
/// "Enable IAM User Permissions", that allows the account root `kms:*` on the key, delegating
/// access to the account's identity policies.
pub fn default_key_policy(account: &AccountId) -> Policy {
    let root = format!("arn:aws:iam::{account}:root");
    Policy {
        version: Some("2012-10-17".to_owned()),
        id: Some("key-default-1".to_owned()),
        statements: vec![Statement {
            sid: Some(DEFAULT_KEY_POLICY_SID.to_owned()),
            effect: Effect::Allow,
            principal: Some(PrincipalElem {
                negated: false,
                star: false,
                aws_raw: vec![root],
                aws: vec![AwsPrincipal::Account(account.as_str().to_owned())],
                service: Vec::new(),
            }),
            action: MatchList::new(false, vec!["kms:*".to_owned()], true),
            resource: MatchList::new(false, vec!["*".to_owned()], false),
            conditions: Vec::new(),
        }],
    }
}

/// [`default_key_policy`] as the indented JSON text AWS returns from GetKeyPolicy.
pub fn default_key_policy_json(account: &AccountId) -> String {
    default_key_policy(account).to_json_pretty()
}
