//! AWS managed keys: one key per integrated service and account, `alias/aws/<service>`, created
//! by coffer on first use, as AWS KMS creates them.
//!
//! A key is created when a caller acting through the service (`Caller::via_service`, which
//! only a trusted integration sets) names `alias/aws/<service>` and no such alias exists yet,
//! or when DescribeKey names the alias of one of AWS's predefined services (AWS's DescribeKey
//! does the same). It is a symmetric key with `KeyManager` AWS, rotated every year, under a key
//! policy that coffer writes and nobody can change: principals of the account may use it only
//! through that service (`kms:ViaService`, `kms:CallerAccount`), and the account may read its
//! metadata and revoke grants. Everything else — PutKeyPolicy, DisableKey, ScheduleKeyDeletion,
//! rotation settings, tags, descriptions, aliases — is refused by that policy through the one
//! admission path, with `AccessDeniedException`, as AWS refuses it.

use std::time::Duration;

use coffer_core::{AccountId, KeyId, Operation};
use coffer_keys::{KeyManager, KeyRecord, KeySpec, KeyUsage, Origin, RotationSchedule};
use coffer_store::AliasRecord;
use serde_json::json;

use crate::{Caller, Error, Kms};

/// The reserved alias prefix of AWS managed keys.
pub(crate) const MANAGED_PREFIX: &str = "alias/aws/";

/// AWS's predefined aliases that DescribeKey brings to life, with the service endpoint prefix
/// whose `kms:ViaService` their key trusts (EBS volumes are EC2's).
const PREDEFINED: &[(&str, &str)] = &[
    ("acm", "acm"),
    ("backup", "backup"),
    ("dynamodb", "dynamodb"),
    ("ebs", "ec2"),
    ("elasticfilesystem", "elasticfilesystem"),
    ("es", "es"),
    ("glue", "glue"),
    ("kinesis", "kinesis"),
    ("lambda", "lambda"),
    ("rds", "rds"),
    ("redshift", "redshift"),
    ("s3", "s3"),
    ("secretsmanager", "secretsmanager"),
    ("sns", "sns"),
    ("sqs", "sqs"),
    ("ssm", "ssm"),
];

/// AWS managed keys rotate every year.
const MANAGED_ROTATION_DAYS: u32 = 365;

/// The service an `alias/aws/<service>` names, if the name is one (lowercase letters, digits
/// and hyphens).
fn service_of(alias: &str) -> Option<&str> {
    let service = alias.strip_prefix(MANAGED_PREFIX)?;
    let ok = !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(service)
}

/// The `kms:ViaService` value of `service` in `region`.
fn via_service(service: &str, region: &str) -> String {
    let endpoint = PREDEFINED
        .iter()
        .find(|(s, _)| *s == service)
        .map_or(service, |(_, e)| e);
    format!("{endpoint}.{region}.amazonaws.com")
}

/// The key policy of an AWS managed key: use through the service by the account's principals,
/// metadata and grant revocation for the account.
pub(crate) fn managed_key_policy(account: &AccountId, via: &str) -> String {
    let root = format!("arn:aws:iam::{account}:root");
    let policy = json!({
        "Version": "2012-10-17",
        "Id": "auto-coffer-managed-1",
        "Statement": [
            {
                "Sid": "Allow access through the service for all principals in the account that are authorized to use it",
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": [
                    "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                    "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": via,
                        "kms:CallerAccount": account.as_str()
                    }
                }
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": { "AWS": root },
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*"
            }
        ]
    });
    serde_json::to_string_pretty(&policy).unwrap_or_default()
}

impl Kms {
    /// The AWS managed key `alias` (an `alias/aws/<service>` of the caller's account that does
    /// not exist yet) names, created now if the caller acts through that service or, for
    /// DescribeKey, if it is one of AWS's predefined aliases; `None` if it is not to be made.
    pub(crate) fn managed_key_on_first_use(
        &self,
        caller: &Caller,
        alias: &str,
        op: Operation,
    ) -> Result<Option<KeyId>, Error> {
        let Some(service) = service_of(alias) else {
            return Ok(None);
        };
        let via = via_service(service, self.region.as_str());
        let through_service = caller.via_service.as_deref() == Some(via.as_str());
        let predefined =
            op == Operation::DescribeKey && PREDEFINED.iter().any(|(s, _)| *s == service);
        if !(through_service || predefined) {
            return Ok(None);
        }
        self.create_managed_key(&caller.account, alias, service, &via)
            .map(Some)
    }

    /// Creates the managed key and its alias in one transaction; a concurrent creator's key,
    /// if it won, is returned instead.
    fn create_managed_key(
        &self,
        account: &AccountId,
        alias: &str,
        service: &str,
        via: &str,
    ) -> Result<KeyId, Error> {
        let now = self.clock.now();
        let key_id = KeyId::generate(self.rng.as_ref())?;
        let version = coffer_keys::BackingKey::generate(self.rng.as_ref(), now, None)
            .map_err(Error::internal)?;
        let wrapped = version
            .wrap(&key_id, &*self.root)
            .map_err(Error::internal)?;
        let mut record = KeyRecord::new(
            key_id,
            *account,
            self.region.clone(),
            now,
            format!("Default key that protects my {service} data when no other key is defined"),
            KeySpec::SymmetricDefault,
            KeyUsage::EncryptDecrypt,
            Origin::AwsKms,
            version.id,
        );
        record.manager = KeyManager::Aws;
        record.policy = Some(managed_key_policy(account, via));
        record.rotation = Some(RotationSchedule {
            period_days: MANAGED_ROTATION_DAYS,
            next_rotation: now + Duration::from_secs(86_400) * MANAGED_ROTATION_DAYS,
        });
        let mut txn = self.store.begin()?;
        if let Some(existing) = txn.alias(account, alias)? {
            return Ok(existing.target);
        }
        txn.insert_key(&record, &wrapped)?;
        txn.insert_alias(&AliasRecord {
            account: *account,
            name: alias.to_owned(),
            target: key_id,
            creation_date: now,
            last_updated: now,
        })?;
        self.service_event("CreateKey", &record)?;
        match txn.commit() {
            Ok(()) => {}
            // Another node made it first: theirs is the key.
            Err(coffer_store::StoreError::AlreadyExists { .. }) => {
                return self
                    .store
                    .begin()?
                    .alias(account, alias)?
                    .map(|a| a.target)
                    .ok_or_else(|| Error::internal(coffer_crypto::CryptoError));
            }
            Err(e) => return Err(e.into()),
        }
        self.cache.invalidate_alias(account, alias);
        Ok(key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_their_endpoints() {
        assert_eq!(service_of("alias/aws/s3"), Some("s3"));
        assert_eq!(service_of("alias/aws/"), None);
        assert_eq!(service_of("alias/aws/S3"), None);
        assert_eq!(service_of("alias/aws/a/b"), None);
        assert_eq!(service_of("alias/s3"), None);
        assert_eq!(
            via_service("ebs", "eu-west-1"),
            "ec2.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            via_service("my-service", "us-east-1"),
            "my-service.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn the_managed_policy_parses_as_a_key_policy() {
        let account = AccountId::parse("111122223333").expect("an account id");
        let text = managed_key_policy(&account, "s3.us-east-1.amazonaws.com");
        assert!(
            coffer_policy::Policy::parse_key_policy(&text).is_ok(),
            "{text}"
        );
    }
}
