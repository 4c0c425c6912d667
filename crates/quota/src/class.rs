//! Quota classes: which bucket an operation draws from, and the default rate of each.

use std::fmt;
use std::str::FromStr;

use coffer_core::Operation;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`QuotaClass`] from one table: variant, configuration name, default rate per second,
/// and whether the class is one management operation's own quota (its name is the operation's).
macro_rules! quota_classes {
    ($( $(#[$m:meta])* $variant:ident = $name:literal, $rate:expr, $op:literal; )+) => {
        /// A quota class: one token bucket per account and class.
        ///
        /// Cryptographic operations share classes by key type ([`QuotaClass::SymmetricCryptographic`],
        /// [`QuotaClass::RsaCryptographic`], [`QuotaClass::EccCryptographic`],
        /// [`QuotaClass::MlDsaCryptographic`]); `GenerateDataKeyPair` and
        /// `GenerateDataKeyPairWithoutPlaintext` share one class per key-pair spec
        /// (`DataKeyPair*`); every management operation has a class of its own, named as the
        /// operation is. Operations coffer does not know draw from [`QuotaClass::Unlisted`].
        ///
        /// In configuration a class is written by its [`name`](QuotaClass::name), e.g.
        /// `"SymmetricCryptographic"`, `"DataKeyPair_RSA_2048"` or `"CreateKey"`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum QuotaClass {
            $( $(#[$m])* $variant, )+
        }

        impl QuotaClass {
            /// Every class, in declaration order.
            pub const ALL: &'static [QuotaClass] = &[$(QuotaClass::$variant,)+];

            /// The class's name as written in configuration.
            pub const fn name(self) -> &'static str {
                match self { $(QuotaClass::$variant => $name,)+ }
            }

            /// Parses a class name (exact, case-sensitive).
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(QuotaClass::$variant),)+ _ => None }
            }

            /// The default rate in requests per second (AWS's published default where AWS
            /// publishes one; see `docs/QUOTAS.md` for the ones coffer chose).
            pub const fn default_rate(self) -> f64 {
                match self { $(QuotaClass::$variant => $rate,)+ }
            }

            /// Whether this class is the own quota of the management operation of the same name.
            pub const fn is_management_operation(self) -> bool {
                match self { $(QuotaClass::$variant => $op,)+ }
            }
        }
    };
}

quota_classes! {
    /// Shared by Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext,
    /// GenerateRandom, GenerateMac and VerifyMac with symmetric (and HMAC) keys.
    SymmetricCryptographic = "SymmetricCryptographic", 10_000.0, false;
    /// Shared by cryptographic operations (Encrypt, Decrypt, ReEncrypt, Sign, Verify) on RSA keys.
    RsaCryptographic = "RsaCryptographic", 500.0, false;
    /// Shared by cryptographic operations (Sign, Verify, DeriveSharedSecret, SM2 Encrypt and
    /// Decrypt) on elliptic-curve and SM2 keys.
    EccCryptographic = "EccCryptographic", 300.0, false;
    /// Shared by Sign and Verify on ML-DSA keys (coffer's choice: AWS publishes no separate
    /// figure in the reference coffer follows).
    MlDsaCryptographic = "MlDsaCryptographic", 300.0, false;
    /// Shared by Encapsulate and Decapsulate on ML-KEM keys (coffer's choice: as ML-DSA).
    MlKemCryptographic = "MlKemCryptographic", 300.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec RSA_2048.
    DataKeyPairRsa2048 = "DataKeyPair_RSA_2048", 1.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec RSA_3072.
    DataKeyPairRsa3072 = "DataKeyPair_RSA_3072", 0.5, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec RSA_4096.
    DataKeyPairRsa4096 = "DataKeyPair_RSA_4096", 0.1, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec ECC_NIST_P256.
    DataKeyPairEccNistP256 = "DataKeyPair_ECC_NIST_P256", 25.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec ECC_NIST_P384.
    DataKeyPairEccNistP384 = "DataKeyPair_ECC_NIST_P384", 10.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec ECC_NIST_P521.
    DataKeyPairEccNistP521 = "DataKeyPair_ECC_NIST_P521", 5.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec ECC_SECG_P256K1.
    DataKeyPairEccSecgP256k1 = "DataKeyPair_ECC_SECG_P256K1", 25.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec ECC_NIST_EDWARDS25519
    /// (coffer's choice: as P-256).
    DataKeyPairEccNistEdwards25519 = "DataKeyPair_ECC_NIST_EDWARDS25519", 25.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec SM2 (coffer's choice: as P-256).
    DataKeyPairSm2 = "DataKeyPair_SM2", 25.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec ML_KEM_512 (coffer's choice: as
    /// P-256).
    DataKeyPairMlKem512 = "DataKeyPair_ML_KEM_512", 25.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec ML_KEM_768 (coffer's choice).
    DataKeyPairMlKem768 = "DataKeyPair_ML_KEM_768", 25.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with KeyPairSpec ML_KEM_1024 (coffer's choice).
    DataKeyPairMlKem1024 = "DataKeyPair_ML_KEM_1024", 25.0, false;
    /// GenerateDataKeyPair(WithoutPlaintext) with a missing or unknown KeyPairSpec (coffer's
    /// choice: the strictest published data-key-pair rate).
    DataKeyPairOther = "DataKeyPair_OTHER", 0.1, false;

    /// CreateKey.
    CreateKey = "CreateKey", 5.0, true;
    /// DescribeKey.
    DescribeKey = "DescribeKey", 2_000.0, true;
    /// ListKeys.
    ListKeys = "ListKeys", 500.0, true;
    /// EnableKey.
    EnableKey = "EnableKey", 5.0, true;
    /// DisableKey.
    DisableKey = "DisableKey", 5.0, true;
    /// ScheduleKeyDeletion.
    ScheduleKeyDeletion = "ScheduleKeyDeletion", 15.0, true;
    /// CancelKeyDeletion.
    CancelKeyDeletion = "CancelKeyDeletion", 5.0, true;
    /// UpdateKeyDescription.
    UpdateKeyDescription = "UpdateKeyDescription", 5.0, true;
    /// GetPublicKey.
    GetPublicKey = "GetPublicKey", 2_000.0, true;
    /// GetKeyLastUsage (coffer's choice: as GetKeyRotationStatus).
    GetKeyLastUsage = "GetKeyLastUsage", 1_000.0, true;
    /// CreateAlias.
    CreateAlias = "CreateAlias", 5.0, true;
    /// UpdateAlias.
    UpdateAlias = "UpdateAlias", 5.0, true;
    /// DeleteAlias.
    DeleteAlias = "DeleteAlias", 15.0, true;
    /// ListAliases.
    ListAliases = "ListAliases", 500.0, true;
    /// GetKeyPolicy.
    GetKeyPolicy = "GetKeyPolicy", 1_000.0, true;
    /// PutKeyPolicy.
    PutKeyPolicy = "PutKeyPolicy", 15.0, true;
    /// ListKeyPolicies.
    ListKeyPolicies = "ListKeyPolicies", 100.0, true;
    /// CreateGrant.
    CreateGrant = "CreateGrant", 50.0, true;
    /// ListGrants.
    ListGrants = "ListGrants", 100.0, true;
    /// ListRetirableGrants.
    ListRetirableGrants = "ListRetirableGrants", 100.0, true;
    /// RetireGrant.
    RetireGrant = "RetireGrant", 30.0, true;
    /// RevokeGrant.
    RevokeGrant = "RevokeGrant", 30.0, true;
    /// TagResource.
    TagResource = "TagResource", 10.0, true;
    /// UntagResource.
    UntagResource = "UntagResource", 5.0, true;
    /// ListResourceTags.
    ListResourceTags = "ListResourceTags", 2_000.0, true;
    /// EnableKeyRotation.
    EnableKeyRotation = "EnableKeyRotation", 15.0, true;
    /// DisableKeyRotation.
    DisableKeyRotation = "DisableKeyRotation", 5.0, true;
    /// GetKeyRotationStatus.
    GetKeyRotationStatus = "GetKeyRotationStatus", 1_000.0, true;
    /// RotateKeyOnDemand (coffer's choice: as the other key-state changes).
    RotateKeyOnDemand = "RotateKeyOnDemand", 5.0, true;
    /// ListKeyRotations (coffer's choice: as GetKeyRotationStatus).
    ListKeyRotations = "ListKeyRotations", 1_000.0, true;
    /// GetParametersForImport (one call in four seconds).
    GetParametersForImport = "GetParametersForImport", 0.25, true;
    /// ImportKeyMaterial.
    ImportKeyMaterial = "ImportKeyMaterial", 5.0, true;
    /// DeleteImportedKeyMaterial.
    DeleteImportedKeyMaterial = "DeleteImportedKeyMaterial", 5.0, true;
    /// ReplicateKey.
    ReplicateKey = "ReplicateKey", 5.0, true;
    /// UpdatePrimaryRegion.
    UpdatePrimaryRegion = "UpdatePrimaryRegion", 5.0, true;
    /// CreateCustomKeyStore (coffer's choice: AWS's older published figure).
    CreateCustomKeyStore = "CreateCustomKeyStore", 5.0, true;
    /// ConnectCustomKeyStore (coffer's choice: AWS's older published figure).
    ConnectCustomKeyStore = "ConnectCustomKeyStore", 5.0, true;
    /// DisconnectCustomKeyStore (coffer's choice: AWS's older published figure).
    DisconnectCustomKeyStore = "DisconnectCustomKeyStore", 5.0, true;
    /// DeleteCustomKeyStore (coffer's choice: AWS's older published figure).
    DeleteCustomKeyStore = "DeleteCustomKeyStore", 5.0, true;
    /// DescribeCustomKeyStores (coffer's choice: AWS's older published figure).
    DescribeCustomKeyStores = "DescribeCustomKeyStores", 5.0, true;
    /// UpdateCustomKeyStore (coffer's choice: AWS's older published figure).
    UpdateCustomKeyStore = "UpdateCustomKeyStore", 5.0, true;

    /// Any operation name coffer does not know: one shared class at the most common
    /// management rate.
    Unlisted = "Unlisted", 5.0, false;
    /// The requests on the keys of one custom key store (CreateKey and the cryptographic
    /// operations), shared by every account's use of that store: AWS's CloudHSM key store
    /// request quota (1,800 per second per store). One bucket per store, drawn from by
    /// [`Quotas::check_scoped_at`](crate::Quotas::check_scoped_at) besides the caller's
    /// account class.
    CloudHsmKeyStore = "CloudHsmKeyStore", 1800.0, false;
}

/// The key family a key spec belongs to, for the cryptographic classes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Symmetric,
    Rsa,
    Ecc,
    MlDsa,
    MlKem,
}

fn family(key_spec: &str) -> Family {
    // The spec of almost every call, decided by one comparison instead of four prefixes.
    if key_spec == "SYMMETRIC_DEFAULT" {
        Family::Symmetric
    } else if key_spec.starts_with("RSA_") {
        Family::Rsa
    } else if key_spec.starts_with("ECC_") || key_spec == "SM2" {
        Family::Ecc
    } else if key_spec.starts_with("ML_DSA_") {
        Family::MlDsa
    } else if key_spec.starts_with("ML_KEM_") {
        Family::MlKem
    } else {
        // SYMMETRIC_DEFAULT, HMAC_*, and anything unknown.
        Family::Symmetric
    }
}

impl QuotaClass {
    /// The class an operation draws from.
    ///
    /// One exhaustive `match` over [`Operation`]: an operation added without a class does not
    /// compile. `key_spec` is:
    /// - for cryptographic operations on a key (Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
    ///   GenerateDataKeyWithoutPlaintext, GenerateMac, VerifyMac, Sign, Verify,
    ///   DeriveSharedSecret), the KMS key's `KeySpec` (`"SYMMETRIC_DEFAULT"`, `"RSA_2048"`, ...):
    ///   RSA specs go to [`RsaCryptographic`](Self::RsaCryptographic), `ECC_*` and `SM2` to
    ///   [`EccCryptographic`](Self::EccCryptographic), `ML_DSA_*` to
    ///   [`MlDsaCryptographic`](Self::MlDsaCryptographic), anything else (symmetric, HMAC) to
    ///   [`SymmetricCryptographic`](Self::SymmetricCryptographic). Without a spec, Sign, Verify
    ///   and DeriveSharedSecret (asymmetric only) go to the ECC class, the others to the
    ///   symmetric one. GenerateRandom is always symmetric.
    /// - for GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext, the request's
    ///   `KeyPairSpec`; a missing or unknown one gives [`DataKeyPairOther`](Self::DataKeyPairOther).
    /// - ignored for every other operation.
    ///
    /// Management operations map to the class of the same name.
    ///
    /// ```
    /// use coffer_core::Operation;
    /// use coffer_quota::QuotaClass;
    /// assert_eq!(QuotaClass::for_operation(Operation::Decrypt, Some("SYMMETRIC_DEFAULT")),
    ///            QuotaClass::SymmetricCryptographic);
    /// assert_eq!(QuotaClass::for_operation(Operation::Sign, Some("RSA_3072")),
    ///            QuotaClass::RsaCryptographic);
    /// assert_eq!(QuotaClass::for_operation(Operation::GenerateDataKeyPair, Some("ECC_NIST_P384")),
    ///            QuotaClass::DataKeyPairEccNistP384);
    /// assert_eq!(QuotaClass::for_operation(Operation::CreateKey, None), QuotaClass::CreateKey);
    /// ```
    pub fn for_operation(operation: Operation, key_spec: Option<&str>) -> QuotaClass {
        use Operation::*;
        match operation {
            GenerateRandom => QuotaClass::SymmetricCryptographic,
            Encrypt
            | Decrypt
            | ReEncrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | GenerateMac
            | VerifyMac => Self::cryptographic(key_spec.map_or(Family::Symmetric, family)),
            Sign | Verify | DeriveSharedSecret => {
                Self::cryptographic(key_spec.map_or(Family::Ecc, family))
            }
            Encapsulate | Decapsulate => {
                Self::cryptographic(key_spec.map_or(Family::MlKem, family))
            }
            GenerateDataKeyPair | GenerateDataKeyPairWithoutPlaintext => {
                Self::data_key_pair(key_spec)
            }
            CancelKeyDeletion => QuotaClass::CancelKeyDeletion,
            ConnectCustomKeyStore => QuotaClass::ConnectCustomKeyStore,
            CreateAlias => QuotaClass::CreateAlias,
            CreateCustomKeyStore => QuotaClass::CreateCustomKeyStore,
            CreateGrant => QuotaClass::CreateGrant,
            CreateKey => QuotaClass::CreateKey,
            DeleteAlias => QuotaClass::DeleteAlias,
            DeleteCustomKeyStore => QuotaClass::DeleteCustomKeyStore,
            DeleteImportedKeyMaterial => QuotaClass::DeleteImportedKeyMaterial,
            DescribeCustomKeyStores => QuotaClass::DescribeCustomKeyStores,
            DescribeKey => QuotaClass::DescribeKey,
            DisableKey => QuotaClass::DisableKey,
            DisableKeyRotation => QuotaClass::DisableKeyRotation,
            DisconnectCustomKeyStore => QuotaClass::DisconnectCustomKeyStore,
            EnableKey => QuotaClass::EnableKey,
            EnableKeyRotation => QuotaClass::EnableKeyRotation,
            GetKeyLastUsage => QuotaClass::GetKeyLastUsage,
            GetKeyPolicy => QuotaClass::GetKeyPolicy,
            GetKeyRotationStatus => QuotaClass::GetKeyRotationStatus,
            GetParametersForImport => QuotaClass::GetParametersForImport,
            GetPublicKey => QuotaClass::GetPublicKey,
            ImportKeyMaterial => QuotaClass::ImportKeyMaterial,
            ListAliases => QuotaClass::ListAliases,
            ListGrants => QuotaClass::ListGrants,
            ListKeyPolicies => QuotaClass::ListKeyPolicies,
            ListKeyRotations => QuotaClass::ListKeyRotations,
            ListKeys => QuotaClass::ListKeys,
            ListResourceTags => QuotaClass::ListResourceTags,
            ListRetirableGrants => QuotaClass::ListRetirableGrants,
            PutKeyPolicy => QuotaClass::PutKeyPolicy,
            ReplicateKey => QuotaClass::ReplicateKey,
            RetireGrant => QuotaClass::RetireGrant,
            RevokeGrant => QuotaClass::RevokeGrant,
            RotateKeyOnDemand => QuotaClass::RotateKeyOnDemand,
            ScheduleKeyDeletion => QuotaClass::ScheduleKeyDeletion,
            TagResource => QuotaClass::TagResource,
            UntagResource => QuotaClass::UntagResource,
            UpdateAlias => QuotaClass::UpdateAlias,
            UpdateCustomKeyStore => QuotaClass::UpdateCustomKeyStore,
            UpdateKeyDescription => QuotaClass::UpdateKeyDescription,
            UpdatePrimaryRegion => QuotaClass::UpdatePrimaryRegion,
        }
    }

    /// [`for_operation`](Self::for_operation) by the operation's name; a name that is no
    /// operation maps to [`Unlisted`](Self::Unlisted).
    ///
    /// ```
    /// use coffer_quota::QuotaClass;
    /// assert_eq!(QuotaClass::for_operation_name("CreateKey", None), QuotaClass::CreateKey);
    /// assert_eq!(QuotaClass::for_operation_name("NoSuchOperation", None), QuotaClass::Unlisted);
    /// ```
    pub fn for_operation_name(operation: &str, key_spec: Option<&str>) -> QuotaClass {
        match Operation::parse(operation) {
            Some(op) => Self::for_operation(op, key_spec),
            None => QuotaClass::Unlisted,
        }
    }

    fn cryptographic(family: Family) -> QuotaClass {
        match family {
            Family::Symmetric => QuotaClass::SymmetricCryptographic,
            Family::Rsa => QuotaClass::RsaCryptographic,
            Family::Ecc => QuotaClass::EccCryptographic,
            Family::MlDsa => QuotaClass::MlDsaCryptographic,
            Family::MlKem => QuotaClass::MlKemCryptographic,
        }
    }

    fn data_key_pair(key_pair_spec: Option<&str>) -> QuotaClass {
        match key_pair_spec {
            Some("RSA_2048") => QuotaClass::DataKeyPairRsa2048,
            Some("RSA_3072") => QuotaClass::DataKeyPairRsa3072,
            Some("RSA_4096") => QuotaClass::DataKeyPairRsa4096,
            Some("ECC_NIST_P256") => QuotaClass::DataKeyPairEccNistP256,
            Some("ECC_NIST_P384") => QuotaClass::DataKeyPairEccNistP384,
            Some("ECC_NIST_P521") => QuotaClass::DataKeyPairEccNistP521,
            Some("ECC_SECG_P256K1") => QuotaClass::DataKeyPairEccSecgP256k1,
            Some("ECC_NIST_EDWARDS25519") => QuotaClass::DataKeyPairEccNistEdwards25519,
            Some("SM2") => QuotaClass::DataKeyPairSm2,
            Some("ML_KEM_512") => QuotaClass::DataKeyPairMlKem512,
            Some("ML_KEM_768") => QuotaClass::DataKeyPairMlKem768,
            Some("ML_KEM_1024") => QuotaClass::DataKeyPairMlKem1024,
            _ => QuotaClass::DataKeyPairOther,
        }
    }

    /// A dense index in `0..QuotaClass::ALL.len()`.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for QuotaClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`QuotaClass`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownQuotaClass;

impl fmt::Display for UnknownQuotaClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown quota class")
    }
}

impl std::error::Error for UnknownQuotaClass {}

impl FromStr for QuotaClass {
    type Err = UnknownQuotaClass;
    fn from_str(s: &str) -> Result<Self, UnknownQuotaClass> {
        QuotaClass::from_name(s).ok_or(UnknownQuotaClass)
    }
}

impl Serialize for QuotaClass {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for QuotaClass {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = QuotaClass;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a quota class name such as \"SymmetricCryptographic\" or \"CreateKey\"",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<QuotaClass, E> {
                QuotaClass::from_name(v)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &"a quota class name"))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_are_dense() {
        for (i, c) in QuotaClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(QuotaClass::from_name(c.name()), Some(*c));
            assert_eq!(c.name().parse::<QuotaClass>(), Ok(*c));
            assert!(c.default_rate() > 0.0);
        }
        assert_eq!("nope".parse::<QuotaClass>(), Err(UnknownQuotaClass));
    }

    #[test]
    fn management_operations_are_their_own_class() {
        for c in QuotaClass::ALL {
            let mapped = QuotaClass::for_operation_name(c.name(), None);
            if c.is_management_operation() {
                assert_eq!(mapped, *c);
            } else {
                // A class name that is not an operation is not taken for one.
                assert_eq!(mapped, QuotaClass::Unlisted, "{c}");
            }
        }
    }

    #[test]
    fn published_management_rates() {
        let table: &[(&str, f64)] = &[
            ("DescribeKey", 2000.0),
            ("GetPublicKey", 2000.0),
            ("ListResourceTags", 2000.0),
            ("GetKeyPolicy", 1000.0),
            ("GetKeyRotationStatus", 1000.0),
            ("ListAliases", 500.0),
            ("ListKeys", 500.0),
            ("ListGrants", 100.0),
            ("ListKeyPolicies", 100.0),
            ("ListRetirableGrants", 100.0),
            ("CreateGrant", 50.0),
            ("RetireGrant", 30.0),
            ("RevokeGrant", 30.0),
            ("DeleteAlias", 15.0),
            ("EnableKeyRotation", 15.0),
            ("PutKeyPolicy", 15.0),
            ("ScheduleKeyDeletion", 15.0),
            ("TagResource", 10.0),
            ("CreateKey", 5.0),
            ("EnableKey", 5.0),
            ("DisableKey", 5.0),
            ("DisableKeyRotation", 5.0),
            ("CancelKeyDeletion", 5.0),
            ("CreateAlias", 5.0),
            ("UpdateAlias", 5.0),
            ("UntagResource", 5.0),
            ("UpdateKeyDescription", 5.0),
            ("ImportKeyMaterial", 5.0),
            ("DeleteImportedKeyMaterial", 5.0),
            ("ReplicateKey", 5.0),
            ("UpdatePrimaryRegion", 5.0),
            ("GetParametersForImport", 0.25),
        ];
        for (op, rate) in table {
            let c = QuotaClass::for_operation_name(op, None);
            assert!(c.is_management_operation(), "{op}");
            assert_eq!(c.default_rate(), *rate, "{op}");
        }
    }

    #[test]
    fn cryptographic_operations_by_key_spec() {
        use QuotaClass as Q;
        let sym = [
            "Encrypt",
            "Decrypt",
            "ReEncrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateMac",
            "VerifyMac",
        ];
        for op in sym {
            assert_eq!(Q::for_operation_name(op, None), Q::SymmetricCryptographic);
            assert_eq!(
                Q::for_operation_name(op, Some("SYMMETRIC_DEFAULT")),
                Q::SymmetricCryptographic
            );
            assert_eq!(
                Q::for_operation_name(op, Some("HMAC_256")),
                Q::SymmetricCryptographic
            );
            assert_eq!(
                Q::for_operation_name(op, Some("RSA_4096")),
                Q::RsaCryptographic
            );
            assert_eq!(Q::for_operation_name(op, Some("SM2")), Q::EccCryptographic);
        }
        for op in ["Sign", "Verify", "DeriveSharedSecret"] {
            assert_eq!(Q::for_operation_name(op, None), Q::EccCryptographic);
            assert_eq!(
                Q::for_operation_name(op, Some("RSA_2048")),
                Q::RsaCryptographic
            );
            assert_eq!(
                Q::for_operation_name(op, Some("ECC_NIST_P256")),
                Q::EccCryptographic
            );
            assert_eq!(
                Q::for_operation_name(op, Some("ECC_SECG_P256K1")),
                Q::EccCryptographic
            );
            assert_eq!(
                Q::for_operation_name(op, Some("ECC_NIST_EDWARDS25519")),
                Q::EccCryptographic
            );
            assert_eq!(
                Q::for_operation_name(op, Some("ML_DSA_65")),
                Q::MlDsaCryptographic
            );
        }
        assert_eq!(
            Q::for_operation_name("GenerateRandom", Some("RSA_2048")),
            Q::SymmetricCryptographic
        );
        assert_eq!(Q::SymmetricCryptographic.default_rate(), 10_000.0);
        assert_eq!(Q::RsaCryptographic.default_rate(), 500.0);
        assert_eq!(Q::EccCryptographic.default_rate(), 300.0);
    }

    #[test]
    fn data_key_pairs_by_spec() {
        use QuotaClass as Q;
        let table = [
            ("RSA_2048", Q::DataKeyPairRsa2048, 1.0),
            ("RSA_3072", Q::DataKeyPairRsa3072, 0.5),
            ("RSA_4096", Q::DataKeyPairRsa4096, 0.1),
            ("ECC_NIST_P256", Q::DataKeyPairEccNistP256, 25.0),
            ("ECC_NIST_P384", Q::DataKeyPairEccNistP384, 10.0),
            ("ECC_NIST_P521", Q::DataKeyPairEccNistP521, 5.0),
            ("ECC_SECG_P256K1", Q::DataKeyPairEccSecgP256k1, 25.0),
            (
                "ECC_NIST_EDWARDS25519",
                Q::DataKeyPairEccNistEdwards25519,
                25.0,
            ),
            ("SM2", Q::DataKeyPairSm2, 25.0),
            ("RSA_1024", Q::DataKeyPairOther, 0.1),
        ];
        for (spec, class, rate) in table {
            for op in ["GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"] {
                assert_eq!(Q::for_operation_name(op, Some(spec)), class);
            }
            assert_eq!(class.default_rate(), rate);
        }
        assert_eq!(
            Q::for_operation_name("GenerateDataKeyPair", None),
            Q::DataKeyPairOther
        );
    }

    #[test]
    fn serde_uses_names() {
        let json = serde_json::to_string(&QuotaClass::DataKeyPairRsa2048).unwrap();
        assert_eq!(json, "\"DataKeyPair_RSA_2048\"");
        let back: QuotaClass = serde_json::from_str(&json).unwrap();
        assert_eq!(back, QuotaClass::DataKeyPairRsa2048);
        assert!(serde_json::from_str::<QuotaClass>("\"Bogus\"").is_err());
    }
}

#[cfg(test)]
mod operation_table {
    use super::*;

    /// Every operation draws from a class AWS publishes (or coffer chose and documented); none
    /// falls through to `Unlisted`, and the typed and named lookups agree.
    #[test]
    fn every_operation_has_its_class() {
        use Operation::*;
        use QuotaClass as Q;
        for &op in Operation::ALL {
            let class = Q::for_operation(op, None);
            assert_ne!(class, Q::Unlisted, "{op:?}");
            assert_eq!(Q::for_operation_name(op.as_str(), None), class, "{op:?}");
            let expected = match op {
                Encrypt
                | Decrypt
                | ReEncrypt
                | GenerateDataKey
                | GenerateDataKeyWithoutPlaintext
                | GenerateMac
                | VerifyMac
                | GenerateRandom => Q::SymmetricCryptographic,
                Sign | Verify | DeriveSharedSecret => Q::EccCryptographic,
                Encapsulate | Decapsulate => Q::MlKemCryptographic,
                GenerateDataKeyPair | GenerateDataKeyPairWithoutPlaintext => Q::DataKeyPairOther,
                _ => {
                    // A management operation: its own quota, named as the operation is.
                    assert!(class.is_management_operation(), "{op:?}");
                    Q::from_name(op.as_str()).unwrap()
                }
            };
            assert_eq!(class, expected, "{op:?}");
        }
        assert_eq!(
            Q::for_operation(GenerateDataKeyPairWithoutPlaintext, Some("RSA_3072")),
            Q::DataKeyPairRsa3072
        );
        assert_eq!(
            Q::for_operation(Sign, Some("RSA_4096")),
            Q::RsaCryptographic
        );
        assert_eq!(Q::for_operation(Encrypt, Some("SM2")), Q::EccCryptographic);
        assert_eq!(
            Q::for_operation(Sign, Some("ML_DSA_65")),
            Q::MlDsaCryptographic
        );
        assert_eq!(
            Q::for_operation(Decapsulate, Some("ML_KEM_768")),
            Q::MlKemCryptographic
        );
        assert_eq!(
            Q::for_operation(GenerateDataKeyPair, Some("ML_KEM_1024")),
            Q::DataKeyPairMlKem1024
        );
    }
}
