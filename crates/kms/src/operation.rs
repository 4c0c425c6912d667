//! The API operations, and the one table that says which of them a key's state permits.

use coffer_keys::KeyState;

use crate::Error;

macro_rules! operations {
    ($($variant:ident,)+) => {
        /// An AWS KMS API operation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Operation {
            $(
                #[doc = concat!("`", stringify!($variant), "`")]
                $variant,
            )+
        }

        impl Operation {
            /// Every operation.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The operation's name, as in `X-Amz-Target: TrentService.<name>`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => stringify!($variant),)+ }
            }

            /// The IAM action, `kms:<name>`.
            pub const fn action(self) -> &'static str {
                match self { $(Self::$variant => concat!("kms:", stringify!($variant)),)+ }
            }

            /// Parses an operation name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $(stringify!($variant) => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

operations! {
    CancelKeyDeletion, ConnectCustomKeyStore, CreateAlias, CreateCustomKeyStore, CreateGrant,
    CreateKey, Decrypt, DeleteAlias, DeleteCustomKeyStore, DeleteImportedKeyMaterial,
    DeriveSharedSecret, DescribeCustomKeyStores, DescribeKey, DisableKey, DisableKeyRotation,
    DisconnectCustomKeyStore, EnableKey, EnableKeyRotation, Encrypt, GenerateDataKey,
    GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateDataKeyWithoutPlaintext,
    GenerateMac, GenerateRandom, GetKeyPolicy, GetKeyRotationStatus, GetParametersForImport,
    GetPublicKey, ImportKeyMaterial, ListAliases, ListGrants, ListKeyPolicies, ListKeyRotations,
    ListKeys, ListResourceTags, ListRetirableGrants, PutKeyPolicy, ReEncrypt, ReplicateKey,
    RetireGrant, RevokeGrant, RotateKeyOnDemand, ScheduleKeyDeletion, Sign, TagResource,
    UntagResource, UpdateAlias, UpdateCustomKeyStore, UpdateKeyDescription, UpdatePrimaryRegion,
    Verify, VerifyMac,
}

/// How an operation treats key states: the rows of AWS's key-state table, grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Row {
    /// Works in every state (describe, list, policy, grant retirement).
    Any,
    /// Uses the key material: Enabled only.
    Use,
    /// Management that works while enabled, disabled or pending import.
    Manage,
    /// EnableKey / DisableKey: enabled or disabled.
    Toggle,
    /// Rotation changes: enabled only; disabled → DisabledException; pending import → unsupported.
    RotationChange,
    /// Rotation reads: not while pending import.
    RotationRead,
    /// CancelKeyDeletion: pending deletion only.
    Cancel,
    /// Operations that use no existing key (CreateKey, ListKeys, GenerateRandom, custom key
    /// stores).
    NoKey,
}

impl Operation {
    fn row(self) -> Row {
        use Operation::*;
        match self {
            DescribeKey | DeleteAlias | GetKeyPolicy | ListAliases | ListGrants
            | ListKeyPolicies | ListResourceTags | ListRetirableGrants | PutKeyPolicy
            | RetireGrant | RevokeGrant => Row::Any,
            Encrypt
            | Decrypt
            | ReEncrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
            | Sign
            | Verify
            | GetPublicKey
            | GenerateMac
            | VerifyMac
            | DeriveSharedSecret
            | CreateGrant
            | ReplicateKey
            | UpdatePrimaryRegion => Row::Use,
            CreateAlias
            | UpdateAlias
            | TagResource
            | UntagResource
            | UpdateKeyDescription
            | ScheduleKeyDeletion
            | GetParametersForImport
            | ImportKeyMaterial
            | DeleteImportedKeyMaterial => Row::Manage,
            EnableKey | DisableKey => Row::Toggle,
            EnableKeyRotation | DisableKeyRotation | RotateKeyOnDemand => Row::RotationChange,
            GetKeyRotationStatus | ListKeyRotations => Row::RotationRead,
            CancelKeyDeletion => Row::Cancel,
            CreateKey
            | ListKeys
            | GenerateRandom
            | ConnectCustomKeyStore
            | CreateCustomKeyStore
            | DeleteCustomKeyStore
            | DescribeCustomKeyStores
            | DisconnectCustomKeyStore
            | UpdateCustomKeyStore => Row::NoKey,
        }
    }

    /// Whether a principal of another account may call this operation on a key, given a key
    /// policy that allows it: the "cross-account use" column of AWS KMS's permissions reference.
    /// Every other operation on another account's key is refused however the policies read.
    pub const fn may_cross_account(self) -> bool {
        use Operation::*;
        matches!(
            self,
            Encrypt
                | Decrypt
                | ReEncrypt
                | GenerateDataKey
                | GenerateDataKeyWithoutPlaintext
                | GenerateDataKeyPair
                | GenerateDataKeyPairWithoutPlaintext
                | Sign
                | Verify
                | GenerateMac
                | VerifyMac
                | DeriveSharedSecret
                | DescribeKey
                | GetPublicKey
                | GetKeyRotationStatus
                | CreateGrant
                | ListGrants
                | RetireGrant
                | RevokeGrant
        )
    }

    /// Whether this operation is allowed on a key in `state`, and if not, the exception AWS
    /// gives (messages as AWS words them, naming the key ARN).
    pub fn check_state(self, state: KeyState, arn: &str) -> Result<(), Error> {
        use KeyState::*;
        let pending_deletion = || Error::invalid_state(format!("{arn} is pending deletion."));
        let pending_import = || Error::invalid_state(format!("{arn} is pending import."));
        let unavailable = || Error::invalid_state(format!("{arn} is unavailable."));
        let disabled = || Error::disabled(format!("{arn} is disabled."));
        let unsupported = || {
            Error::unsupported(format!(
                "{arn} origin is EXTERNAL which is not valid for this operation."
            ))
        };
        match (self.row(), state) {
            (Row::Any | Row::NoKey, _) => Ok(()),
            (Row::Cancel, PendingDeletion) => Ok(()),
            (Row::Cancel, _) => Err(Error::invalid_state(format!(
                "{arn} is not pending deletion."
            ))),
            (Row::RotationRead, Enabled | Disabled | PendingDeletion) => Ok(()),
            (_, PendingDeletion | PendingReplicaDeletion) => Err(pending_deletion()),
            (Row::Use, Enabled) => Ok(()),
            (Row::Use, Disabled) => Err(disabled()),
            (Row::Use, PendingImport) => Err(pending_import()),
            (Row::Manage, Enabled | Disabled | PendingImport) => Ok(()),
            (Row::Toggle, Enabled | Disabled) => Ok(()),
            (Row::Toggle, PendingImport) => Err(pending_import()),
            (Row::RotationChange, Enabled) => Ok(()),
            (Row::RotationChange, Disabled) => Err(disabled()),
            (Row::RotationChange | Row::RotationRead, PendingImport) => Err(unsupported()),
            (_, Creating | Unavailable | Updating) => Err(unavailable()),
            // KeyState is non-exhaustive: a state this table does not know refuses.
            #[allow(unreachable_patterns)]
            _ => Err(unavailable()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_count() {
        assert_eq!(Operation::ALL.len(), 53);
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(*op));
        }
        assert_eq!(Operation::parse("encrypt"), None);
    }

    #[test]
    fn only_use_describe_and_grant_operations_cross_accounts() {
        use Operation::*;
        for op in [
            DisableKey,
            EnableKey,
            ScheduleKeyDeletion,
            CancelKeyDeletion,
            PutKeyPolicy,
            GetKeyPolicy,
            TagResource,
            UntagResource,
            ListResourceTags,
            CreateAlias,
            UpdateAlias,
            DeleteAlias,
            ListAliases,
            EnableKeyRotation,
            DisableKeyRotation,
            RotateKeyOnDemand,
            ListKeyRotations,
            UpdateKeyDescription,
            ListKeyPolicies,
        ] {
            assert!(!op.may_cross_account(), "{op:?}");
        }
        for op in [
            Encrypt,
            Decrypt,
            DescribeKey,
            CreateGrant,
            GetKeyRotationStatus,
        ] {
            assert!(op.may_cross_account(), "{op:?}");
        }
    }
}
