//! The attacker's tests for authorization, against the real `cofferd` driven by the official
//! AWS SDK for Rust: each reproduces an attack found against an earlier release and asserts the
//! AWS error code, that no state changed and that no plaintext came back.
//!
//! - alias hijack: a principal that may only create keys points `alias/prod-pay` at its own key;
//! - cross-account management: another account given `kms:*` by a key policy disables, tags,
//!   re-policies and schedules deletion of the key;
//! - condition keys that never matched: `aws:TagKeys`, `aws:RequestTag/*`, `kms:ResourceAliases`;
//! - policies coffer cannot evaluate (unknown condition keys) and policies with repeated members.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, Tag};
use aws_sdk_kms::Client;
use serde_json::{json, Value};

mod common;

use common::Cofferd;

const REGION: &str = "eu-west-1";
const ACCOUNT_A: &str = "111122223333";
const ACCOUNT_B: &str = "444455556666";
const SECRET: &[u8] = b"the payroll export";

/// The suite's cofferd: account A's, in the suite's region.
fn start(name: &str) -> Cofferd {
    Cofferd::start(name, REGION, ACCOUNT_A)
}

/// What the suite asks of a cofferd beyond the shared harness.
trait Principals {
    /// A new credential for `principal_arn` with `policies` as its identity policies, made by
    /// the bootstrap administrator.
    fn principal(&self, principal_arn: &str, policies: &[Value]) -> Client;
    /// The bootstrap administrator (account A's root).
    fn root(&self) -> Client;
}

impl Principals for Cofferd {
    fn principal(&self, principal_arn: &str, policies: &[Value]) -> Client {
        let docs: Vec<String> = policies.iter().map(Value::to_string).collect();
        let (status, v) = self.admin(
            "CreateCredential",
            &json!({"PrincipalArn": principal_arn, "IdentityPolicies": docs}),
        );
        assert_eq!(status, 200, "CreateCredential: {v}");
        self.client(
            v["AccessKeyId"].as_str().unwrap(),
            v["SecretAccessKey"].as_str().unwrap(),
        )
    }

    fn root(&self) -> Client {
        self.client(&self.boot.access_key_id, &self.boot.secret)
    }
}

use common::sdk_code as code;

fn message<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    r: Result<T, SdkError<E, R>>,
) -> String {
    let err = r.expect_err("expected an error");
    err.as_service_error()
        .and_then(|e| e.meta().message())
        .unwrap_or_default()
        .to_owned()
}

fn user(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user/{name}")
}

fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// An identity policy of one Allow statement.
fn allow(actions: &[&str], resource: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": resource}]})
}

async fn create_key(c: &Client, policy: Option<Value>) -> String {
    let mut req = c.create_key();
    if let Some(p) = policy {
        req = req.policy(p.to_string());
    }
    req.send().await.unwrap().key_metadata.unwrap().arn.unwrap()
}

async fn alias_target(c: &Client, name: &str) -> Option<String> {
    c.list_aliases()
        .send()
        .await
        .unwrap()
        .aliases
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.alias_name.as_deref() == Some(name))
        .and_then(|a| a.target_key_id)
}

async fn encrypt_secret(c: &Client, key_id: &str) -> Blob {
    c.encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(SECRET))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap()
}

async fn assert_decrypts_to_secret(c: &Client, ct: Blob) {
    let pt = c
        .decrypt()
        .ciphertext_blob(ct)
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(pt.as_ref(), SECRET);
}

async fn policy_of(c: &Client, key: &str) -> String {
    c.get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
}

async fn key_count(c: &Client) -> usize {
    c.list_keys().send().await.unwrap().keys.unwrap().len()
}

fn key_id_of(arn: &str) -> String {
    arn.rsplit('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn alias_hijack_is_refused_on_every_resource_an_alias_operation_touches() {
    let srv = start("alias-hijack");
    let root = srv.root();
    let payroll = create_key(&root, None).await;
    root.create_alias()
        .alias_name("alias/prod-pay")
        .target_key_id(&payroll)
        .send()
        .await
        .unwrap();
    let ct = encrypt_secret(&root, "alias/prod-pay").await;

    // Mallory may only create keys; she makes one whose key policy gives her everything.
    let mallory_arn = user(ACCOUNT_A, "mallory");
    let mallory = srv.principal(&mallory_arn, &[allow(&["kms:CreateKey"], "*")]);
    let own_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": mallory_arn}, "Action": "kms:*",
         "Resource": "*"}]});
    let own = create_key(&mallory, Some(own_policy)).await;

    // The attack: point the victim's alias at her key. Refused on the alias (no identity policy
    // allows kms:UpdateAlias on it) and on the key it points at now.
    let r = mallory
        .update_alias()
        .alias_name("alias/prod-pay")
        .target_key_id(&own)
        .send()
        .await;
    assert_eq!(code(r), "AccessDeniedException");
    assert_eq!(
        alias_target(&root, "alias/prod-pay").await.as_deref(),
        Some(key_id_of(&payroll).as_str())
    );
    // She cannot delete it either, nor create an alias for her own key without the alias
    // permission, even though her key's policy allows kms:CreateAlias on the key.
    let r = mallory
        .delete_alias()
        .alias_name("alias/prod-pay")
        .send()
        .await;
    assert_eq!(code(r), "AccessDeniedException");
    let r = mallory
        .create_alias()
        .alias_name("alias/prod-pay-2")
        .target_key_id(&own)
        .send()
        .await;
    assert_eq!(code(r), "AccessDeniedException");
    assert_eq!(alias_target(&root, "alias/prod-pay-2").await, None);
    // Nothing encrypted under the alias reaches her.
    let r = mallory.decrypt().ciphertext_blob(ct.clone()).send().await;
    assert_eq!(code(r), "AccessDeniedException");

    // A principal allowed kms:UpdateAlias on every alias (identity policy) and on its own key
    // (key policy) still cannot move an alias away from a key it does not manage.
    let trent_arn = user(ACCOUNT_A, "trent");
    let trent = srv.principal(
        &trent_arn,
        &[
            allow(&["kms:CreateKey"], "*"),
            allow(
                &["kms:UpdateAlias", "kms:CreateAlias", "kms:DeleteAlias"],
                &format!("arn:aws:kms:{REGION}:{ACCOUNT_A}:alias/*"),
            ),
        ],
    );
    let trent_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": trent_arn}, "Action": "kms:*",
         "Resource": "*"}]});
    let trents = create_key(&trent, Some(trent_policy)).await;
    let r = trent
        .update_alias()
        .alias_name("alias/prod-pay")
        .target_key_id(&trents)
        .send()
        .await;
    assert_eq!(code(r), "AccessDeniedException");
    let r = trent
        .delete_alias()
        .alias_name("alias/prod-pay")
        .send()
        .await;
    assert_eq!(code(r), "AccessDeniedException");
    // With both halves it works: its own alias, its own key.
    trent
        .create_alias()
        .alias_name("alias/trent")
        .target_key_id(&trents)
        .send()
        .await
        .unwrap();
    assert_eq!(
        alias_target(&root, "alias/prod-pay").await.as_deref(),
        Some(key_id_of(&payroll).as_str())
    );

    // The owner, with both, moves and deletes its alias.
    let second = create_key(&root, None).await;
    root.update_alias()
        .alias_name("alias/prod-pay")
        .target_key_id(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(
        alias_target(&root, "alias/prod-pay").await.as_deref(),
        Some(key_id_of(&second).as_str())
    );
    root.delete_alias()
        .alias_name("alias/prod-pay")
        .send()
        .await
        .unwrap();
    // And the data encrypted before still decrypts for the owner.
    assert_decrypts_to_secret(&root, ct).await;
}

#[tokio::test]
async fn another_account_given_kms_star_can_use_but_never_manage_the_key() {
    let srv = start("cross-account");
    let root_a = srv.root();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": root_arn(ACCOUNT_A)},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "partner", "Effect": "Allow", "Principal": {"AWS": root_arn(ACCOUNT_B)},
         "Action": "kms:*", "Resource": "*"}]});
    let key = create_key(&root_a, Some(policy.clone())).await;
    let b = srv.principal(&root_arn(ACCOUNT_B), &[]);

    // Use is what the policy gives across accounts.
    let ct = encrypt_secret(&b, &key).await;
    assert!(b.describe_key().key_id(&key).send().await.is_ok());
    assert!(b
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .is_ok());

    // Management is not, however the policy reads.
    let lockout = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "mine", "Effect": "Allow", "Principal": {"AWS": root_arn(ACCOUNT_B)},
         "Action": "kms:*", "Resource": "*"}]});
    let attempts = [
        (
            "DisableKey",
            code(b.disable_key().key_id(&key).send().await),
        ),
        (
            "TagResource",
            code(
                b.tag_resource()
                    .key_id(&key)
                    .tags(
                        Tag::builder()
                            .tag_key("owner")
                            .tag_value("b")
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await,
            ),
        ),
        (
            "PutKeyPolicy",
            code(
                b.put_key_policy()
                    .key_id(&key)
                    .policy_name("default")
                    .policy(lockout.to_string())
                    .bypass_policy_lockout_safety_check(true)
                    .send()
                    .await,
            ),
        ),
        (
            "ScheduleKeyDeletion",
            code(
                b.schedule_key_deletion()
                    .key_id(&key)
                    .pending_window_in_days(7)
                    .send()
                    .await,
            ),
        ),
        (
            "UpdateKeyDescription",
            code(
                b.update_key_description()
                    .key_id(&key)
                    .description("mine now")
                    .send()
                    .await,
            ),
        ),
        (
            "EnableKeyRotation",
            code(b.enable_key_rotation().key_id(&key).send().await),
        ),
        (
            "GetKeyPolicy",
            code(
                b.get_key_policy()
                    .key_id(&key)
                    .policy_name("default")
                    .send()
                    .await,
            ),
        ),
        (
            "ListResourceTags",
            code(b.list_resource_tags().key_id(&key).send().await),
        ),
    ];
    for (op, c) in attempts {
        assert_eq!(c, "AccessDeniedException", "{op}");
    }
    let r = b
        .create_alias()
        .alias_name("alias/borrowed")
        .target_key_id(&key)
        .send()
        .await;
    assert_eq!(code(r), "AccessDeniedException");

    // The owner's key is as it was.
    let meta = root_a
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.key_state, Some(KeyState::Enabled));
    assert_eq!(meta.description.as_deref(), Some(""));
    assert!(meta.deletion_date.is_none());
    let tags = root_a
        .list_resource_tags()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert!(tags.is_empty());
    let stored: Value = serde_json::from_str(&policy_of(&root_a, &key).await).unwrap();
    assert_eq!(stored, policy);
    assert!(
        !root_a
            .get_key_rotation_status()
            .key_id(&key)
            .send()
            .await
            .unwrap()
            .key_rotation_enabled
    );
    // What B encrypted is the owner's to decrypt.
    assert_decrypts_to_secret(&root_a, ct).await;
}

#[tokio::test]
async fn tag_conditions_fire_on_tag_untag_and_create_key() {
    let srv = start("abac");
    let root = srv.root();
    let key = create_key(&root, None).await;
    root.tag_resource()
        .key_id(&key)
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("payments")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // May tag and untag, create keys and use keys tagged team=web — but never touch the `team`
    // tag, never create a key tagged env=prod.
    let eve_arn = user(ACCOUNT_A, "eve");
    let eve = srv.principal(
        &eve_arn,
        &[json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Resource": "*", "Action":
                ["kms:TagResource", "kms:UntagResource", "kms:CreateKey", "kms:ListResourceTags"]},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "web"}}},
            {"Effect": "Deny", "Action": ["kms:TagResource", "kms:UntagResource"],
             "Resource": "*",
             "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}},
            {"Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}}}]})],
    );
    let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().unwrap();

    // The attack: retag the key into the Allow on team=web.
    let r = eve
        .tag_resource()
        .key_id(&key)
        .tags(tag("team", "web"))
        .send()
        .await;
    assert_eq!(code(r), "AccessDeniedException");
    let r = eve
        .untag_resource()
        .key_id(&key)
        .tag_keys("team")
        .send()
        .await;
    assert_eq!(code(r), "AccessDeniedException");
    let tags = root
        .list_resource_tags()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags, vec![tag("team", "payments")]);
    // Other tags are hers to set.
    eve.tag_resource()
        .key_id(&key)
        .tags(tag("note", "x"))
        .send()
        .await
        .unwrap();
    eve.untag_resource()
        .key_id(&key)
        .tag_keys("note")
        .send()
        .await
        .unwrap();

    // CreateKey: aws:RequestTag/env.
    let before = key_count(&root).await;
    let r = eve.create_key().tags(tag("env", "prod")).send().await;
    assert_eq!(code(r), "AccessDeniedException");
    assert_eq!(key_count(&root).await, before);
    eve.create_key()
        .tags(tag("env", "dev"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn resource_aliases_condition_fires() {
    let srv = start("resource-aliases");
    let root = srv.root();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": root_arn(ACCOUNT_A)},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "no-restricted", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt",
         "Resource": "*",
         "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/restricted-*"}}}]});
    let key = create_key(&root, Some(policy)).await;
    let ct = encrypt_secret(&root, &key).await;
    assert!(root
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .is_ok());
    root.create_alias()
        .alias_name("alias/restricted-hr")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    let r = root.decrypt().ciphertext_blob(ct.clone()).send().await;
    assert_eq!(code(r), "AccessDeniedException");
    root.delete_alias()
        .alias_name("alias/restricted-hr")
        .send()
        .await
        .unwrap();
    assert_decrypts_to_secret(&root, ct).await;
}

#[tokio::test]
async fn policies_coffer_cannot_evaluate_or_that_repeat_a_member_are_refused() {
    let srv = start("policy-refusals");
    let root = srv.root();
    let key = create_key(&root, None).await;
    let original = policy_of(&root, &key).await;
    let owner = json!({"Sid": "owner", "Effect": "Allow",
        "Principal": {"AWS": root_arn(ACCOUNT_A)}, "Action": "kms:*", "Resource": "*"});

    // A Deny on a key coffer cannot evaluate would never fire: refused, naming the key.
    let unknown = json!({"Version": "2012-10-17", "Statement": [owner,
        {"Sid": "vpc", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt",
         "Resource": "*", "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}]});
    let r = root
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(unknown.to_string())
        .send()
        .await;
    let m = message(r);
    assert!(m.contains("aws:SourceVpce"), "{m}");
    let r = root
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(unknown.to_string())
        .send()
        .await;
    assert_eq!(code(r), "MalformedPolicyDocumentException");
    let before = key_count(&root).await;
    let r = root.create_key().policy(unknown.to_string()).send().await;
    assert_eq!(code(r), "MalformedPolicyDocumentException");
    assert_eq!(key_count(&root).await, before);

    // The reader sees Deny; a last-wins parser would enforce Allow.
    let repeated = format!(
        r#"{{"Version":"2012-10-17","Statement":[{owner},{{"Sid":"x","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Effect":"Allow"}}]}}"#
    );
    let r = root
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(&repeated)
        .send()
        .await;
    assert_eq!(code(r), "MalformedPolicyDocumentException");
    let r = root.create_key().policy(&repeated).send().await;
    assert_eq!(code(r), "MalformedPolicyDocumentException");

    let now = policy_of(&root, &key).await;
    assert_eq!(now, original);
    assert_eq!(key_count(&root).await, before);
}
