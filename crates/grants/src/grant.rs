use std::collections::BTreeMap;
use std::time::SystemTime;

use coffer_core::{AccountId, EncryptionContext, KeyId, Operation};
use serde::{Deserialize, Serialize};

use crate::GrantError;

/// Most grants one key may have (AWS's quota).
pub const MAX_GRANTS_PER_KEY: usize = 50_000;
/// Longest grant name.
pub const MAX_GRANT_NAME: usize = 256;

macro_rules! grant_operations {
    ($($variant:ident $(context $ctx:tt)?,)+) => {
        /// An operation a grant may allow.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum GrantOperation {
            $(
                #[doc = concat!("`", stringify!($variant), "`")]
                $variant,
            )+
        }

        impl GrantOperation {
            /// Every grant operation.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The name as AWS spells it.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => stringify!($variant),)+ }
            }

            /// Parses the AWS spelling.
            pub fn parse(s: &str) -> Result<Self, GrantError> {
                match s {
                    $(stringify!($variant) => Ok(Self::$variant),)+
                    other => Err(GrantError::UnknownOperation(other.to_owned())),
                }
            }

            /// Whether the operation takes an encryption context (and so may carry constraints).
            pub const fn takes_context(self) -> bool {
                match self { $(Self::$variant => grant_operations!(@ctx $($ctx)?),)+ }
            }
        }
    };
    (@ctx yes) => { true };
    (@ctx) => { false };
}

grant_operations! {
    Decrypt context yes,
    Encrypt context yes,
    GenerateDataKey context yes,
    GenerateDataKeyWithoutPlaintext context yes,
    ReEncryptFrom context yes,
    ReEncryptTo context yes,
    GenerateDataKeyPair context yes,
    GenerateDataKeyPairWithoutPlaintext context yes,
    CreateGrant context yes,
    RetireGrant context yes,
    DescribeKey context yes,
    Sign,
    Verify,
    GetPublicKey,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
    Encapsulate,
    Decapsulate,
}

impl GrantOperation {
    /// The grant operation that lets a grantee call `op`, if a grant can: one exhaustive
    /// `match`, so an operation added without an answer does not compile. `ReEncrypt` is
    /// two grant operations, one per key ([`ReEncryptFrom`](Self::ReEncryptFrom) for the
    /// source, [`ReEncryptTo`](Self::ReEncryptTo) for the destination), so it has none here.
    pub const fn for_operation(op: Operation) -> Option<Self> {
        use Operation::*;
        match op {
            Decrypt => Some(GrantOperation::Decrypt),
            Encrypt => Some(GrantOperation::Encrypt),
            GenerateDataKey => Some(GrantOperation::GenerateDataKey),
            GenerateDataKeyWithoutPlaintext => {
                Some(GrantOperation::GenerateDataKeyWithoutPlaintext)
            }
            GenerateDataKeyPair => Some(GrantOperation::GenerateDataKeyPair),
            GenerateDataKeyPairWithoutPlaintext => {
                Some(GrantOperation::GenerateDataKeyPairWithoutPlaintext)
            }
            CreateGrant => Some(GrantOperation::CreateGrant),
            RetireGrant => Some(GrantOperation::RetireGrant),
            DescribeKey => Some(GrantOperation::DescribeKey),
            Sign => Some(GrantOperation::Sign),
            Verify => Some(GrantOperation::Verify),
            GetPublicKey => Some(GrantOperation::GetPublicKey),
            GenerateMac => Some(GrantOperation::GenerateMac),
            VerifyMac => Some(GrantOperation::VerifyMac),
            DeriveSharedSecret => Some(GrantOperation::DeriveSharedSecret),
            Encapsulate => Some(GrantOperation::Encapsulate),
            Decapsulate => Some(GrantOperation::Decapsulate),
            CancelKeyDeletion
            | ConnectCustomKeyStore
            | CreateAlias
            | CreateCustomKeyStore
            | CreateKey
            | DeleteAlias
            | DeleteCustomKeyStore
            | DeleteImportedKeyMaterial
            | DescribeCustomKeyStores
            | DisableKey
            | DisableKeyRotation
            | DisconnectCustomKeyStore
            | EnableKey
            | EnableKeyRotation
            | GenerateRandom
            | GetKeyLastUsage
            | GetKeyPolicy
            | GetKeyRotationStatus
            | GetParametersForImport
            | ImportKeyMaterial
            | ListAliases
            | ListGrants
            | ListKeyPolicies
            | ListKeyRotations
            | ListKeys
            | ListResourceTags
            | ListRetirableGrants
            | PutKeyPolicy
            | ReEncrypt
            | ReplicateKey
            | RevokeGrant
            | RotateKeyOnDemand
            | ScheduleKeyDeletion
            | TagResource
            | UntagResource
            | UpdateAlias
            | UpdateCustomKeyStore
            | UpdateKeyDescription
            | UpdatePrimaryRegion => None,
        }
    }
}

/// Encryption-context constraints of a grant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantConstraints {
    /// The request's context must be exactly this.
    #[serde(
        rename = "EncryptionContextEquals",
        skip_serializing_if = "Option::is_none"
    )]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// The request's context must include these pairs (it may have more).
    #[serde(
        rename = "EncryptionContextSubset",
        skip_serializing_if = "Option::is_none"
    )]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
}

impl GrantConstraints {
    /// Whether a request with `context` meets the constraints. A request with no context meets
    /// `EncryptionContextEquals` only if that is empty, and a subset constraint only if empty.
    pub fn admits(&self, context: Option<&EncryptionContext>) -> bool {
        let empty = BTreeMap::new();
        let ctx = context.map_or(&empty, EncryptionContext::as_map);
        if let Some(eq) = &self.encryption_context_equals {
            if eq != ctx {
                return false;
            }
        }
        if let Some(sub) = &self.encryption_context_subset {
            if !sub.iter().all(|(k, v)| ctx.get(k) == Some(v)) {
                return false;
            }
        }
        true
    }

    /// Whether these constraints are at least as strict as `other` (every request they admit,
    /// `other` admits too): a grantee may not create a grant wider than its own.
    pub fn at_least_as_strict_as(&self, other: Option<&GrantConstraints>) -> bool {
        let Some(other) = other else { return true };
        if let Some(o_eq) = &other.encryption_context_equals {
            // Only an identical Equals constraint is as strict.
            return self.encryption_context_equals.as_ref() == Some(o_eq);
        }
        if let Some(o_sub) = &other.encryption_context_subset {
            let implied =
                |m: &BTreeMap<String, String>| o_sub.iter().all(|(k, v)| m.get(k) == Some(v));
            return self.encryption_context_equals.as_ref().is_some_and(implied)
                || self.encryption_context_subset.as_ref().is_some_and(implied);
        }
        true
    }

    fn is_empty(&self) -> bool {
        self.encryption_context_equals.is_none() && self.encryption_context_subset.is_none()
    }
}

/// A grant as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// 64 hex digits.
    pub grant_id: String,
    /// The key it is on.
    pub key_id: KeyId,
    /// The key's account.
    pub account: AccountId,
    /// Who may use it.
    pub grantee_principal: String,
    /// Who may retire it.
    pub retiring_principal: Option<String>,
    /// The account root ARN of the account that created it.
    pub issuing_account: String,
    /// What it allows, sorted and without repeats.
    pub operations: Vec<GrantOperation>,
    /// Context constraints.
    pub constraints: Option<GrantConstraints>,
    /// The idempotency name.
    pub name: Option<String>,
    /// When it was created.
    pub creation_date: SystemTime,
}

impl Grant {
    /// Checks and normalizes a new grant's parts (operations sorted and deduplicated).
    pub fn validate(
        operations: &mut Vec<GrantOperation>,
        constraints: &Option<GrantConstraints>,
        name: Option<&str>,
    ) -> Result<(), GrantError> {
        if operations.is_empty() {
            return Err(GrantError::NoOperations);
        }
        operations.sort();
        operations.dedup();
        if let Some(c) = constraints {
            if c.encryption_context_equals.is_some() && c.encryption_context_subset.is_some() {
                return Err(GrantError::BothConstraints);
            }
            if !c.is_empty() {
                if let Some(op) = operations.iter().find(|o| !o.takes_context()) {
                    return Err(GrantError::ConstraintNotSupported(op.as_str()));
                }
            }
        }
        if let Some(n) = name {
            let ok = !n.is_empty()
                && n.len() <= MAX_GRANT_NAME
                && n.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'/' | b'_' | b'-'));
            if !ok {
                return Err(GrantError::InvalidName);
            }
        }
        Ok(())
    }

    /// Whether this grant lets `principal_arn` perform `op` with `context`.
    pub fn allows(
        &self,
        op: GrantOperation,
        principal_arn: &str,
        context: Option<&EncryptionContext>,
    ) -> bool {
        self.grantee_principal == principal_arn
            && self.operations.contains(&op)
            && self.constraints.as_ref().is_none_or(|c| c.admits(context))
    }

    /// Whether a grant with `operations` and `constraints` asks no more than this grant gives.
    pub fn covers(
        &self,
        operations: &[GrantOperation],
        constraints: Option<&GrantConstraints>,
    ) -> bool {
        operations.iter().all(|o| self.operations.contains(o))
            && match &self.constraints {
                None => true,
                Some(mine) => constraints.is_some_and(|c| c.at_least_as_strict_as(Some(mine))),
            }
    }

    /// Whether `principal_arn` may retire this grant: its retiring principal, its grantee when
    /// it allows RetireGrant, or the root of the account the grant was created in.
    pub fn retirable_by(&self, principal_arn: &str) -> bool {
        self.retiring_principal.as_deref() == Some(principal_arn)
            || (self.grantee_principal == principal_arn
                && self.operations.contains(&GrantOperation::RetireGrant))
            || self.issuing_account == principal_arn
    }

    /// Whether a CreateGrant with these parameters is the same grant (idempotent re-creation by
    /// name).
    pub fn same_request(
        &self,
        grantee: &str,
        retiring: Option<&str>,
        operations: &[GrantOperation],
        constraints: Option<&GrantConstraints>,
    ) -> bool {
        self.grantee_principal == grantee
            && self.retiring_principal.as_deref() == retiring
            && self.operations == operations
            && self.constraints.as_ref() == constraints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn constraints_admit() {
        let ctx: EncryptionContext = [("a", "1"), ("b", "2")].into_iter().collect();
        let eq = GrantConstraints {
            encryption_context_equals: Some(map(&[("a", "1"), ("b", "2")])),
            ..Default::default()
        };
        assert!(eq.admits(Some(&ctx)));
        let only_a: EncryptionContext = [("a", "1")].into_iter().collect();
        assert!(!eq.admits(Some(&only_a)));
        assert!(!eq.admits(None));
        let sub = GrantConstraints {
            encryption_context_subset: Some(map(&[("a", "1")])),
            ..Default::default()
        };
        assert!(sub.admits(Some(&ctx)));
        assert!(sub.admits(Some(&only_a)));
        let wrong: EncryptionContext = [("a", "2")].into_iter().collect();
        assert!(!sub.admits(Some(&wrong)));
        assert!(!sub.admits(None));
        assert!(GrantConstraints::default().admits(None));
    }

    #[test]
    fn strictness() {
        let sub_a = GrantConstraints {
            encryption_context_subset: Some(map(&[("a", "1")])),
            ..Default::default()
        };
        let sub_ab = GrantConstraints {
            encryption_context_subset: Some(map(&[("a", "1"), ("b", "2")])),
            ..Default::default()
        };
        let eq_ab = GrantConstraints {
            encryption_context_equals: Some(map(&[("a", "1"), ("b", "2")])),
            ..Default::default()
        };
        assert!(sub_ab.at_least_as_strict_as(Some(&sub_a)));
        assert!(!sub_a.at_least_as_strict_as(Some(&sub_ab)));
        assert!(eq_ab.at_least_as_strict_as(Some(&sub_a)));
        assert!(!sub_ab.at_least_as_strict_as(Some(&eq_ab)));
        assert!(eq_ab.at_least_as_strict_as(Some(&eq_ab)));
        assert!(sub_a.at_least_as_strict_as(None));
    }

    #[test]
    fn validation() {
        let mut ops = vec![
            GrantOperation::Encrypt,
            GrantOperation::Decrypt,
            GrantOperation::Encrypt,
        ];
        Grant::validate(&mut ops, &None, Some("name:1/x_y-z")).unwrap();
        assert_eq!(ops, [GrantOperation::Decrypt, GrantOperation::Encrypt]);
        assert_eq!(
            Grant::validate(&mut vec![], &None, None),
            Err(GrantError::NoOperations)
        );
        let both = Some(GrantConstraints {
            encryption_context_equals: Some(map(&[])),
            encryption_context_subset: Some(map(&[])),
        });
        assert_eq!(
            Grant::validate(&mut vec![GrantOperation::Decrypt], &both, None),
            Err(GrantError::BothConstraints)
        );
        let sub = Some(GrantConstraints {
            encryption_context_subset: Some(map(&[("a", "1")])),
            ..Default::default()
        });
        assert_eq!(
            Grant::validate(&mut vec![GrantOperation::Sign], &sub, None),
            Err(GrantError::ConstraintNotSupported("Sign"))
        );
        for bad in ["", "has space", &"n".repeat(257)] {
            assert_eq!(
                Grant::validate(&mut vec![GrantOperation::Decrypt], &None, Some(bad)),
                Err(GrantError::InvalidName)
            );
        }
        assert!(GrantOperation::parse("Decrypt").is_ok());
        assert!(GrantOperation::parse("PutKeyPolicy").is_err());
    }
}

#[cfg(test)]
mod operation_table {
    use super::*;

    /// The typed lookup answers as the old one did (the action's name, parsed): every grant
    /// operation but ReEncryptFrom/ReEncryptTo is an operation of the same name.
    #[test]
    fn grant_operation_of_each_operation() {
        for &op in Operation::ALL {
            assert_eq!(
                GrantOperation::for_operation(op),
                GrantOperation::parse(op.as_str()).ok(),
                "{op:?}"
            );
        }
        assert_eq!(GrantOperation::for_operation(Operation::ReEncrypt), None);
        let named = Operation::ALL
            .iter()
            .filter_map(|&op| GrantOperation::for_operation(op))
            .count();
        assert_eq!(named + 2, GrantOperation::ALL.len());
    }
}
