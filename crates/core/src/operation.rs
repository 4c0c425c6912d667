//! The AWS KMS API operations and their properties: one table, one exhaustive `match` per
//! property, so an operation added without a property does not compile.

macro_rules! operations {
    ($($variant:ident,)+) => {
        /// An AWS KMS API operation.
        ///
        /// Deliberately not `#[non_exhaustive]`: the crates that attach a property to an
        /// operation (quota class, grant operation, ...) match on it exhaustively, so a new
        /// operation is a compile error wherever a property is missing.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

            /// The operation's position in [`ALL`](Self::ALL), for tables indexed by operation.
            pub const fn index(self) -> usize {
                self as usize
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
    CreateKey, Decapsulate, Decrypt, DeleteAlias, DeleteCustomKeyStore, DeleteImportedKeyMaterial,
    DeriveSharedSecret, DescribeCustomKeyStores, DescribeKey, DisableKey, DisableKeyRotation,
    DisconnectCustomKeyStore, EnableKey, EnableKeyRotation, Encapsulate, Encrypt, GenerateDataKey,
    GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateDataKeyWithoutPlaintext,
    GenerateMac, GenerateRandom, GetKeyLastUsage, GetKeyPolicy, GetKeyRotationStatus, GetParametersForImport,
    GetPublicKey, ImportKeyMaterial, ListAliases, ListGrants, ListKeyPolicies, ListKeyRotations,
    ListKeys, ListResourceTags, ListRetirableGrants, PutKeyPolicy, ReEncrypt, ReplicateKey,
    RetireGrant, RevokeGrant, RotateKeyOnDemand, ScheduleKeyDeletion, Sign, TagResource,
    UntagResource, UpdateAlias, UpdateCustomKeyStore, UpdateKeyDescription, UpdatePrimaryRegion,
    Verify, VerifyMac,
}

/// Which references to a key an operation's `KeyId` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyReferences {
    /// The operation names no existing key (CreateKey, ListKeys, GenerateRandom,
    /// ListRetirableGrants, custom key stores).
    NoKey,
    /// Key id and key ARN (management operations: an alias is refused as not found).
    IdOrArn,
    /// Key id, key ARN, alias name and alias ARN (cryptographic operations, GetPublicKey and
    /// DescribeKey).
    IdArnOrAlias,
}

impl KeyReferences {
    /// Whether an alias name or alias ARN names the key.
    pub const fn accepts_aliases(self) -> bool {
        matches!(self, Self::IdArnOrAlias)
    }
}

/// How an operation treats key states: the rows of AWS's key-state table, grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyStateRow {
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
    /// The operation's row in AWS's key-state table (the facade's `check_state` reads it).
    pub const fn key_state_row(self) -> KeyStateRow {
        use Operation::*;
        match self {
            DescribeKey | DeleteAlias | GetKeyLastUsage | GetKeyPolicy | ListAliases
            | ListGrants | ListKeyPolicies | ListResourceTags | ListRetirableGrants
            | PutKeyPolicy | RetireGrant | RevokeGrant => KeyStateRow::Any,
            // AWS allows it while the key is pending deletion too (the state is kept); the
            // operation refuses the multi-Region and custom-key-store states itself.
            DeleteImportedKeyMaterial => KeyStateRow::Any,
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
            | Encapsulate
            | Decapsulate
            | CreateGrant
            | ReplicateKey
            | UpdatePrimaryRegion => KeyStateRow::Use,
            CreateAlias
            | UpdateAlias
            | TagResource
            | UntagResource
            | UpdateKeyDescription
            | ScheduleKeyDeletion
            | GetParametersForImport
            | ImportKeyMaterial => KeyStateRow::Manage,
            EnableKey | DisableKey => KeyStateRow::Toggle,
            EnableKeyRotation | DisableKeyRotation | RotateKeyOnDemand => {
                KeyStateRow::RotationChange
            }
            GetKeyRotationStatus | ListKeyRotations => KeyStateRow::RotationRead,
            CancelKeyDeletion => KeyStateRow::Cancel,
            CreateKey
            | ListKeys
            | GenerateRandom
            | ConnectCustomKeyStore
            | CreateCustomKeyStore
            | DeleteCustomKeyStore
            | DescribeCustomKeyStores
            | DisconnectCustomKeyStore
            | UpdateCustomKeyStore => KeyStateRow::NoKey,
        }
    }

    /// Whether a principal of another account may call this operation on a key, given a key
    /// policy that allows it: the "cross-account use" column of AWS KMS's permissions reference.
    /// Every other operation on another account's key is refused however the policies read.
    pub const fn may_cross_account(self) -> bool {
        use Operation::*;
        match self {
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
            | Encapsulate
            | Decapsulate
            | DescribeKey
            | GetPublicKey
            | GetKeyRotationStatus
            | CreateGrant
            | ListGrants
            | RetireGrant
            | RevokeGrant => true,
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
            | GetParametersForImport
            | ImportKeyMaterial
            | ListAliases
            | ListKeyPolicies
            | ListKeyRotations
            | ListKeys
            | ListResourceTags
            | ListRetirableGrants
            | PutKeyPolicy
            | ReplicateKey
            | RotateKeyOnDemand
            | ScheduleKeyDeletion
            | TagResource
            | UntagResource
            | UpdateAlias
            | UpdateCustomKeyStore
            | UpdateKeyDescription
            | UpdatePrimaryRegion => false,
        }
    }

    /// Which key references the operation's `KeyId` accepts, as AWS's API reference says.
    pub const fn key_references(self) -> KeyReferences {
        use Operation::*;
        match self {
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
            | Encapsulate
            | Decapsulate
            | GetPublicKey
            | DescribeKey => KeyReferences::IdArnOrAlias,
            CancelKeyDeletion
            | CreateAlias
            | CreateGrant
            | DeleteAlias
            | DeleteImportedKeyMaterial
            | DisableKey
            | DisableKeyRotation
            | EnableKey
            | EnableKeyRotation
            | GetKeyLastUsage
            | GetKeyPolicy
            | GetKeyRotationStatus
            | GetParametersForImport
            | ImportKeyMaterial
            | ListAliases
            | ListGrants
            | ListKeyPolicies
            | ListKeyRotations
            | ListResourceTags
            | PutKeyPolicy
            | ReplicateKey
            | RetireGrant
            | RevokeGrant
            | RotateKeyOnDemand
            | ScheduleKeyDeletion
            | TagResource
            | UntagResource
            | UpdateAlias
            | UpdateKeyDescription
            | UpdatePrimaryRegion => KeyReferences::IdOrArn,
            CreateKey
            | ListKeys
            | GenerateRandom
            | ListRetirableGrants
            | ConnectCustomKeyStore
            | CreateCustomKeyStore
            | DeleteCustomKeyStore
            | DescribeCustomKeyStores
            | DisconnectCustomKeyStore
            | UpdateCustomKeyStore => KeyReferences::NoKey,
        }
    }

    /// Whether coffer serves the operation today (the facade has a method for it and cofferd
    /// dispatches it); the others are refused with UnsupportedOperationException until their
    /// issues land.
    pub const fn served(self) -> bool {
        use Operation::*;
        match self {
            CancelKeyDeletion
            | CreateAlias
            | CreateGrant
            | CreateKey
            | Decapsulate
            | Decrypt
            | DeleteAlias
            | DeleteImportedKeyMaterial
            | DeriveSharedSecret
            | DescribeKey
            | DisableKey
            | DisableKeyRotation
            | EnableKey
            | EnableKeyRotation
            | Encapsulate
            | Encrypt
            | GenerateDataKey
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
            | GenerateDataKeyWithoutPlaintext
            | GenerateMac
            | GenerateRandom
            | GetKeyLastUsage
            | GetKeyPolicy
            | GetKeyRotationStatus
            | GetParametersForImport
            | GetPublicKey
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
            | RetireGrant
            | RevokeGrant
            | RotateKeyOnDemand
            | ScheduleKeyDeletion
            | Sign
            | TagResource
            | UntagResource
            | UpdateAlias
            | UpdateKeyDescription
            | UpdatePrimaryRegion
            | Verify
            | VerifyMac
            | ConnectCustomKeyStore
            | CreateCustomKeyStore
            | DeleteCustomKeyStore
            | DescribeCustomKeyStores
            | DisconnectCustomKeyStore
            | UpdateCustomKeyStore => true,
        }
    }

    /// Whether CloudTrail marks a call `readOnly`: the cryptographic operations and the
    /// `Describe*`, `Get*` and `List*` calls.
    pub const fn is_read_only(self) -> bool {
        use Operation::*;
        match self {
            Encrypt
            | Decrypt
            | ReEncrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
            | GenerateRandom
            | GenerateMac
            | VerifyMac
            | Sign
            | Verify
            | Encapsulate
            | Decapsulate
            | GetKeyLastUsage
            | DescribeCustomKeyStores
            | DescribeKey
            | GetKeyPolicy
            | GetKeyRotationStatus
            | GetParametersForImport
            | GetPublicKey
            | ListAliases
            | ListGrants
            | ListKeyPolicies
            | ListKeyRotations
            | ListKeys
            | ListResourceTags
            | ListRetirableGrants => true,
            CancelKeyDeletion
            | ConnectCustomKeyStore
            | CreateAlias
            | CreateCustomKeyStore
            | CreateGrant
            | CreateKey
            | DeleteAlias
            | DeleteCustomKeyStore
            | DeleteImportedKeyMaterial
            | DeriveSharedSecret
            | DisableKey
            | DisableKeyRotation
            | DisconnectCustomKeyStore
            | EnableKey
            | EnableKeyRotation
            | ImportKeyMaterial
            | PutKeyPolicy
            | ReplicateKey
            | RetireGrant
            | RevokeGrant
            | RotateKeyOnDemand
            | ScheduleKeyDeletion
            | TagResource
            | UntagResource
            | UpdateAlias
            | UpdateCustomKeyStore
            | UpdateKeyDescription
            | UpdatePrimaryRegion => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_count() {
        assert_eq!(Operation::ALL.len(), 56);
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(Operation::parse(op.as_str()), Some(*op));
            assert_eq!(op.index(), i);
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

    #[test]
    fn aliases_name_keys_of_cryptographic_operations_and_describe_key() {
        use Operation::*;
        let with_aliases: Vec<_> = Operation::ALL
            .iter()
            .copied()
            .filter(|op| op.key_references().accepts_aliases())
            .collect();
        assert_eq!(
            with_aliases,
            [
                Decapsulate,
                Decrypt,
                DeriveSharedSecret,
                DescribeKey,
                Encapsulate,
                Encrypt,
                GenerateDataKey,
                GenerateDataKeyPair,
                GenerateDataKeyPairWithoutPlaintext,
                GenerateDataKeyWithoutPlaintext,
                GenerateMac,
                GetPublicKey,
                ReEncrypt,
                Sign,
                Verify,
                VerifyMac,
            ]
        );
        // An operation on no key has the key-state table's NoKey row, or lists (grants
        // retirable by a principal) without a key.
        for &op in Operation::ALL {
            if op.key_state_row() == KeyStateRow::NoKey {
                assert_eq!(op.key_references(), KeyReferences::NoKey, "{op:?}");
            }
        }
    }
}
