//! AWS managed keys through cofferd, with the official SDK: a credential bound to a service
//! (`ViaService`, set by an administrator) is a trusted integration acting for its principal;
//! its first use of `alias/aws/<service>` creates the key, KeyManager AWS. The same principal
//! without the binding, another service and another account are refused; management calls
//! are refused with AWS's codes; ListAliases shows the alias.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyManagerType;
use aws_sdk_kms::Client;
use serde_json::{json, Value};

mod common;

use common::{sdk_code as code, Cofferd};

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "111122223333";
const S3: &str = "s3.eu-west-1.amazonaws.com";
const ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// A credential for `principal` allowed kms:* by its identity policy, bound to `via` if given.
fn principal(srv: &Cofferd, principal: &str, via: Option<&str>) -> Client {
    let mut body = json!({"PrincipalArn": principal, "IdentityPolicies": [ALL]});
    if let Some(v) = via {
        body["ViaService"] = json!(v);
    }
    let (status, v) = srv.admin("CreateCredential", &body);
    assert_eq!(status, 200, "{v}");
    srv.client(
        v["AccessKeyId"].as_str().unwrap(),
        v["SecretAccessKey"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn a_service_bound_credential_brings_the_managed_key_to_life() {
    let srv = Cofferd::start("managed-keys", REGION, ACCOUNT);
    let app = "arn:aws:iam::111122223333:role/app";
    let through_s3 = principal(&srv, app, Some(S3));
    let direct = principal(&srv, app, None);
    let through_sqs = principal(&srv, app, Some("sqs.eu-west-1.amazonaws.com"));
    let stranger = principal(&srv, "arn:aws:iam::444455556666:role/x", Some(S3));

    // Before first use: not found, except through S3, which creates it.
    let enc = |c: &Client, key: &str| {
        c.encrypt()
            .key_id(key)
            .plaintext(Blob::new(b"object".to_vec()))
            .send()
    };
    assert_eq!(
        code(enc(&direct, "alias/aws/s3").await),
        "NotFoundException"
    );
    let ct = enc(&through_s3, "alias/aws/s3").await.unwrap();
    let arn = ct.key_id().unwrap().to_owned();
    assert_eq!(
        enc(&through_s3, "alias/aws/s3").await.unwrap().key_id(),
        Some(arn.as_str())
    );
    let meta = direct.describe_key().key_id(&arn).send().await.unwrap();
    let meta = meta.key_metadata().unwrap();
    assert_eq!(meta.key_manager(), Some(&KeyManagerType::Aws));
    let aliases = direct.list_aliases().send().await.unwrap();
    let names: Vec<_> = aliases
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert_eq!(names, ["alias/aws/s3"]);

    // Use only through S3, by the account.
    let blob = ct.ciphertext_blob().unwrap().clone();
    let plain = through_s3
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"object");
    for c in [&direct, &through_sqs, &stranger] {
        assert_eq!(
            code(c.decrypt().ciphertext_blob(blob.clone()).send().await),
            "AccessDeniedException"
        );
    }
    assert_eq!(code(enc(&stranger, &arn).await), "AccessDeniedException");

    // Management: refused, even through S3 and with kms:* in the identity policy.
    for c in [&direct, &through_s3] {
        assert_eq!(
            code(c.disable_key().key_id(&arn).send().await),
            "AccessDeniedException"
        );
        assert_eq!(
            code(c.schedule_key_deletion().key_id(&arn).send().await),
            "AccessDeniedException"
        );
        assert_eq!(
            code(c.put_key_policy().key_id(&arn).policy(ALL).send().await),
            "AccessDeniedException"
        );
        assert_eq!(
            code(c.enable_key_rotation().key_id(&arn).send().await),
            "AccessDeniedException"
        );
    }
    assert_eq!(
        code(
            direct
                .delete_alias()
                .alias_name("alias/aws/s3")
                .send()
                .await
        ),
        "InvalidAliasNameException"
    );

    // Binding a service is its own permission: an operator allowed to create credentials but
    // not coffer:CreateServiceCredential cannot mint a credential that speaks for S3.
    let ops_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "coffer:CreateCredential", "Resource": "*"}]});
    let (status, ops) = srv.admin(
        "CreateCredential",
        &json!({"PrincipalArn": "arn:aws:iam::111122223333:user/ops", "Administrator": true,
                "IdentityPolicies": [ops_policy.to_string()]}),
    );
    assert_eq!(status, 200, "{ops}");
    let as_ops = |body: &Value| {
        common::signed_call(
            &srv.addr,
            ops["AccessKeyId"].as_str().unwrap(),
            ops["SecretAccessKey"].as_str().unwrap(),
            REGION,
            "CofferAdmin.CreateCredential",
            &serde_json::to_vec(body).unwrap(),
        )
    };
    let (status, refused) =
        as_ops(&json!({"PrincipalArn": "arn:aws:iam::111122223333:role/sneaky", "ViaService": S3}));
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["__type"], "AccessDeniedException", "{refused}");
    let (status, plain) = as_ops(&json!({"PrincipalArn": "arn:aws:iam::111122223333:role/plain"}));
    assert_eq!(status, 200, "{plain}");

    // ListCredentials shows the binding; a bad one is refused.
    let (_, listed) = srv.admin("ListCredentials", &json!({}));
    assert!(
        listed
            .to_string()
            .contains(r#""ViaService":"s3.eu-west-1.amazonaws.com""#),
        "{listed}"
    );
    let (status, refused) = srv.admin(
        "CreateCredential",
        &json!({"PrincipalArn": app, "ViaService": "not a service"}),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["__type"], "ValidationException", "{refused}");
}
