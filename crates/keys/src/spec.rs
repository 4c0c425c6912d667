//! The AWS enumerations a key is described by, each spelled as the AWS service model spells it.

use coffer_crypto::asym::{AsymmetricAlgorithm, KeyRole, SignatureHash, SignatureScheme};

macro_rules! aws_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $variant,)+
        }

        impl $name {
            /// Every value, in the service model's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The name as the AWS service model spells it.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s,)+ }
            }

            /// Parses the AWS spelling (exact, case-sensitive, as AWS is).
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

aws_enum!(
    /// The type of key material.
    KeySpec {
        /// AES-256-GCM symmetric encryption key.
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        /// RSA 2048.
        Rsa2048 = "RSA_2048",
        /// RSA 3072.
        Rsa3072 = "RSA_3072",
        /// RSA 4096.
        Rsa4096 = "RSA_4096",
        /// NIST P-256.
        EccNistP256 = "ECC_NIST_P256",
        /// NIST P-384.
        EccNistP384 = "ECC_NIST_P384",
        /// NIST P-521.
        EccNistP521 = "ECC_NIST_P521",
        /// secp256k1.
        EccSecgP256k1 = "ECC_SECG_P256K1",
        /// Ed25519.
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
        /// HMAC-SHA-224 key.
        Hmac224 = "HMAC_224",
        /// HMAC-SHA-256 key.
        Hmac256 = "HMAC_256",
        /// HMAC-SHA-384 key.
        Hmac384 = "HMAC_384",
        /// HMAC-SHA-512 key.
        Hmac512 = "HMAC_512",
        /// SM2 (China regions only in AWS).
        Sm2 = "SM2",
        /// ML-DSA-44.
        MlDsa44 = "ML_DSA_44",
        /// ML-DSA-65.
        MlDsa65 = "ML_DSA_65",
        /// ML-DSA-87.
        MlDsa87 = "ML_DSA_87",
        /// ML-KEM-512.
        MlKem512 = "ML_KEM_512",
        /// ML-KEM-768.
        MlKem768 = "ML_KEM_768",
        /// ML-KEM-1024.
        MlKem1024 = "ML_KEM_1024",
    }
);

aws_enum!(
    /// What a key may be used for.
    KeyUsage {
        /// Encrypt and decrypt.
        EncryptDecrypt = "ENCRYPT_DECRYPT",
        /// Sign and verify.
        SignVerify = "SIGN_VERIFY",
        /// Generate and verify MACs.
        GenerateVerifyMac = "GENERATE_VERIFY_MAC",
        /// Derive shared secrets.
        KeyAgreement = "KEY_AGREEMENT",
        /// ML-KEM encapsulation and decapsulation.
        EncapsulateDecapsulate = "ENCAPSULATE_DECAPSULATE",
    }
);

aws_enum!(
    /// Whether imported key material expires.
    ExpirationModel {
        /// It expires at ValidTo.
        KeyMaterialExpires = "KEY_MATERIAL_EXPIRES",
        /// It does not expire.
        KeyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
);

aws_enum!(
    /// How key material is wrapped for import (GetParametersForImport).
    AlgorithmSpec {
        /// RSAES-PKCS1-v1_5 (refused: AWS no longer accepts it for new imports).
        RsaesPkcs1V15 = "RSAES_PKCS1_V1_5",
        /// RSA-OAEP with SHA-1.
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        /// RSA-OAEP with SHA-256.
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        /// An RSA-OAEP-SHA-1-wrapped AES-256 key, then AES key wrap with padding.
        RsaAesKeyWrapSha1 = "RSA_AES_KEY_WRAP_SHA_1",
        /// An RSA-OAEP-SHA-256-wrapped AES-256 key, then AES key wrap with padding.
        RsaAesKeyWrapSha256 = "RSA_AES_KEY_WRAP_SHA_256",
        /// SM2 public-key encryption (China regions).
        Sm2Pke = "SM2PKE",
    }
);

aws_enum!(
    /// The wrapping key of an import.
    WrappingKeySpec {
        /// RSA 2048.
        Rsa2048 = "RSA_2048",
        /// RSA 3072.
        Rsa3072 = "RSA_3072",
        /// RSA 4096.
        Rsa4096 = "RSA_4096",
        /// SM2 (China regions).
        Sm2 = "SM2",
    }
);

aws_enum!(
    /// Signing algorithms (Sign, Verify).
    SigningAlgorithmSpec {
        /// RSASSA-PSS with SHA-256 (salt as long as the hash).
        RsassaPssSha256 = "RSASSA_PSS_SHA_256",
        /// RSASSA-PSS with SHA-384.
        RsassaPssSha384 = "RSASSA_PSS_SHA_384",
        /// RSASSA-PSS with SHA-512.
        RsassaPssSha512 = "RSASSA_PSS_SHA_512",
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
        /// RSASSA-PKCS1-v1_5 with SHA-384.
        RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384",
        /// RSASSA-PKCS1-v1_5 with SHA-512.
        RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
        /// ECDSA with SHA-256.
        EcdsaSha256 = "ECDSA_SHA_256",
        /// ECDSA with SHA-384.
        EcdsaSha384 = "ECDSA_SHA_384",
        /// ECDSA with SHA-512.
        EcdsaSha512 = "ECDSA_SHA_512",
        /// Ed25519 (pure).
        Ed25519Sha512 = "ED25519_SHA_512",
        /// Ed25519ph (pre-hashed with SHA-512).
        Ed25519PhSha512 = "ED25519_PH_SHA_512",
        /// SM2 signatures (China regions).
        Sm2Dsa = "SM2DSA",
        /// ML-DSA.
        MlDsaShake256 = "ML_DSA_SHAKE_256",
    }
);

aws_enum!(
    /// What Sign and Verify are given.
    MessageType {
        /// The message; the algorithm hashes it.
        Raw = "RAW",
        /// The message's digest.
        Digest = "DIGEST",
        /// ML-DSA's message representative µ.
        ExternalMu = "EXTERNAL_MU",
    }
);

aws_enum!(
    /// Key agreement algorithms (DeriveSharedSecret).
    KeyAgreementAlgorithmSpec {
        /// Elliptic-curve Diffie–Hellman.
        Ecdh = "ECDH",
    }
);

aws_enum!(
    /// Key encapsulation algorithms (Encapsulate, Decapsulate).
    EncapsulationAlgorithmSpec {
        /// ML-KEM (FIPS 203).
        MlKem = "ML_KEM",
    }
);

aws_enum!(
    /// The key pairs GenerateDataKeyPair makes.
    DataKeyPairSpec {
        /// RSA 2048.
        Rsa2048 = "RSA_2048",
        /// RSA 3072.
        Rsa3072 = "RSA_3072",
        /// RSA 4096.
        Rsa4096 = "RSA_4096",
        /// NIST P-256.
        EccNistP256 = "ECC_NIST_P256",
        /// NIST P-384.
        EccNistP384 = "ECC_NIST_P384",
        /// NIST P-521.
        EccNistP521 = "ECC_NIST_P521",
        /// secp256k1.
        EccSecgP256k1 = "ECC_SECG_P256K1",
        /// Ed25519.
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
        /// SM2 (China regions).
        Sm2 = "SM2",
        /// ML-KEM-512.
        MlKem512 = "ML_KEM_512",
        /// ML-KEM-768.
        MlKem768 = "ML_KEM_768",
        /// ML-KEM-1024.
        MlKem1024 = "ML_KEM_1024",
    }
);

impl SigningAlgorithmSpec {
    /// The scheme in coffer-crypto; `None` for SM2DSA, which coffer does not implement.
    pub const fn scheme(self) -> Option<SignatureScheme> {
        use SignatureHash::*;
        Some(match self {
            Self::RsassaPssSha256 => SignatureScheme::RsaPss(Sha256),
            Self::RsassaPssSha384 => SignatureScheme::RsaPss(Sha384),
            Self::RsassaPssSha512 => SignatureScheme::RsaPss(Sha512),
            Self::RsassaPkcs1V15Sha256 => SignatureScheme::RsaPkcs1(Sha256),
            Self::RsassaPkcs1V15Sha384 => SignatureScheme::RsaPkcs1(Sha384),
            Self::RsassaPkcs1V15Sha512 => SignatureScheme::RsaPkcs1(Sha512),
            Self::EcdsaSha256 => SignatureScheme::Ecdsa(Sha256),
            Self::EcdsaSha384 => SignatureScheme::Ecdsa(Sha384),
            Self::EcdsaSha512 => SignatureScheme::Ecdsa(Sha512),
            Self::Ed25519Sha512 => SignatureScheme::Ed25519,
            Self::Ed25519PhSha512 => SignatureScheme::Ed25519Ph,
            Self::MlDsaShake256 => SignatureScheme::MlDsa,
            Self::Sm2Dsa => return None,
        })
    }
}

impl DataKeyPairSpec {
    /// The algorithm in coffer-crypto; `None` for SM2, which coffer does not implement.
    pub const fn algorithm(self) -> Option<AsymmetricAlgorithm> {
        Some(match self {
            Self::Rsa2048 => AsymmetricAlgorithm::Rsa2048,
            Self::Rsa3072 => AsymmetricAlgorithm::Rsa3072,
            Self::Rsa4096 => AsymmetricAlgorithm::Rsa4096,
            Self::EccNistP256 => AsymmetricAlgorithm::P256,
            Self::EccNistP384 => AsymmetricAlgorithm::P384,
            Self::EccNistP521 => AsymmetricAlgorithm::P521,
            Self::EccSecgP256k1 => AsymmetricAlgorithm::Secp256k1,
            Self::EccNistEdwards25519 => AsymmetricAlgorithm::Ed25519,
            Self::MlKem512 => AsymmetricAlgorithm::MlKem512,
            Self::MlKem768 => AsymmetricAlgorithm::MlKem768,
            Self::MlKem1024 => AsymmetricAlgorithm::MlKem1024,
            Self::Sm2 => return None,
        })
    }
}

impl KeyUsage {
    /// The role of an asymmetric private key of this usage.
    pub const fn role(self) -> Option<KeyRole> {
        match self {
            Self::EncryptDecrypt => Some(KeyRole::Decrypt),
            Self::SignVerify => Some(KeyRole::Sign),
            Self::KeyAgreement => Some(KeyRole::Agree),
            Self::EncapsulateDecapsulate => Some(KeyRole::Decapsulate),
            Self::GenerateVerifyMac => None,
        }
    }
}

aws_enum!(
    /// Who manages a key: the customer (every key a caller creates), or AWS (a key coffer
    /// creates for an integrated service on its first use, `alias/aws/<service>`).
    KeyManager {
        /// An AWS managed key.
        Aws = "AWS",
        /// A customer managed key.
        Customer = "CUSTOMER",
    }
);

impl KeyManager {
    /// Whether this is a customer managed key (the default, not stored).
    pub fn is_customer(&self) -> bool {
        *self == Self::Customer
    }
}

aws_enum!(
    /// Where key material came from.
    Origin {
        /// Generated by the KMS.
        AwsKms = "AWS_KMS",
        /// Imported by the customer.
        External = "EXTERNAL",
        /// In a CloudHSM custom key store.
        AwsCloudHsm = "AWS_CLOUDHSM",
        /// In an external key store.
        ExternalKeyStore = "EXTERNAL_KEY_STORE",
    }
);

aws_enum!(
    /// The lifecycle state of a key.
    KeyState {
        /// Being created.
        Creating = "Creating",
        /// Usable.
        Enabled = "Enabled",
        /// Disabled by its owner.
        Disabled = "Disabled",
        /// Scheduled for deletion.
        PendingDeletion = "PendingDeletion",
        /// Waiting for imported key material.
        PendingImport = "PendingImport",
        /// A multi-region replica scheduled for deletion.
        PendingReplicaDeletion = "PendingReplicaDeletion",
        /// Its custom key store is disconnected.
        Unavailable = "Unavailable",
        /// Being updated (multi-region).
        Updating = "Updating",
    }
);

aws_enum!(
    /// Encryption algorithms.
    EncryptionAlgorithmSpec {
        /// AES-256-GCM with a key derived per message.
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        /// RSA-OAEP with SHA-1.
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        /// RSA-OAEP with SHA-256.
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        /// SM2 public-key encryption.
        Sm2Pke = "SM2PKE",
    }
);

aws_enum!(
    /// MAC algorithms of HMAC keys (GenerateMac, VerifyMac).
    MacAlgorithmSpec {
        /// HMAC-SHA-224.
        HmacSha224 = "HMAC_SHA_224",
        /// HMAC-SHA-256.
        HmacSha256 = "HMAC_SHA_256",
        /// HMAC-SHA-384.
        HmacSha384 = "HMAC_SHA_384",
        /// HMAC-SHA-512.
        HmacSha512 = "HMAC_SHA_512",
    }
);

impl MacAlgorithmSpec {
    /// The primitive in coffer-crypto.
    pub const fn hmac(self) -> coffer_crypto::HmacAlgorithm {
        match self {
            Self::HmacSha224 => coffer_crypto::HmacAlgorithm::Sha224,
            Self::HmacSha256 => coffer_crypto::HmacAlgorithm::Sha256,
            Self::HmacSha384 => coffer_crypto::HmacAlgorithm::Sha384,
            Self::HmacSha512 => coffer_crypto::HmacAlgorithm::Sha512,
        }
    }
}

aws_enum!(
    /// Data key lengths for GenerateDataKey.
    DataKeySpec {
        /// 256-bit.
        Aes256 = "AES_256",
        /// 128-bit.
        Aes128 = "AES_128",
    }
);

aws_enum!(
    /// How a backing-key version came about.
    RotationType {
        /// On the automatic schedule.
        Automatic = "AUTOMATIC",
        /// By RotateKeyOnDemand.
        OnDemand = "ON_DEMAND",
    }
);

impl DataKeySpec {
    /// The key length in bytes.
    pub const fn len(self) -> usize {
        match self {
            Self::Aes256 => 32,
            Self::Aes128 => 16,
        }
    }

    /// Never empty; present for clippy's `len_without_is_empty`.
    pub const fn is_empty(self) -> bool {
        false
    }
}

impl KeySpec {
    /// The usages AWS allows for this spec.
    pub fn allowed_usages(self) -> &'static [KeyUsage] {
        match self {
            Self::SymmetricDefault => &[KeyUsage::EncryptDecrypt],
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => {
                &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify]
            }
            Self::EccNistP256 | Self::EccNistP384 | Self::EccNistP521 => {
                &[KeyUsage::SignVerify, KeyUsage::KeyAgreement]
            }
            Self::EccSecgP256k1 | Self::EccNistEdwards25519 => &[KeyUsage::SignVerify],
            Self::Hmac224 | Self::Hmac256 | Self::Hmac384 | Self::Hmac512 => {
                &[KeyUsage::GenerateVerifyMac]
            }
            Self::Sm2 => &[
                KeyUsage::EncryptDecrypt,
                KeyUsage::SignVerify,
                KeyUsage::KeyAgreement,
            ],
            Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87 => &[KeyUsage::SignVerify],
            Self::MlKem512 | Self::MlKem768 | Self::MlKem1024 => {
                &[KeyUsage::EncapsulateDecapsulate]
            }
        }
    }

    /// The asymmetric algorithm of this spec in coffer-crypto; `None` for symmetric, HMAC
    /// and SM2 keys.
    pub const fn asymmetric(self) -> Option<AsymmetricAlgorithm> {
        Some(match self {
            Self::Rsa2048 => AsymmetricAlgorithm::Rsa2048,
            Self::Rsa3072 => AsymmetricAlgorithm::Rsa3072,
            Self::Rsa4096 => AsymmetricAlgorithm::Rsa4096,
            Self::EccNistP256 => AsymmetricAlgorithm::P256,
            Self::EccNistP384 => AsymmetricAlgorithm::P384,
            Self::EccNistP521 => AsymmetricAlgorithm::P521,
            Self::EccSecgP256k1 => AsymmetricAlgorithm::Secp256k1,
            Self::EccNistEdwards25519 => AsymmetricAlgorithm::Ed25519,
            Self::MlDsa44 => AsymmetricAlgorithm::MlDsa44,
            Self::MlDsa65 => AsymmetricAlgorithm::MlDsa65,
            Self::MlDsa87 => AsymmetricAlgorithm::MlDsa87,
            Self::MlKem512 => AsymmetricAlgorithm::MlKem512,
            Self::MlKem768 => AsymmetricAlgorithm::MlKem768,
            Self::MlKem1024 => AsymmetricAlgorithm::MlKem1024,
            Self::SymmetricDefault
            | Self::Hmac224
            | Self::Hmac256
            | Self::Hmac384
            | Self::Hmac512
            | Self::Sm2 => return None,
        })
    }

    /// The signing algorithms of a key of this spec and usage, as AWS lists them.
    pub fn signing_algorithms(self, usage: KeyUsage) -> &'static [SigningAlgorithmSpec] {
        use SigningAlgorithmSpec as S;
        if usage != KeyUsage::SignVerify {
            return &[];
        }
        match self {
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &[
                S::RsassaPkcs1V15Sha256,
                S::RsassaPkcs1V15Sha384,
                S::RsassaPkcs1V15Sha512,
                S::RsassaPssSha256,
                S::RsassaPssSha384,
                S::RsassaPssSha512,
            ],
            Self::EccNistP256 | Self::EccSecgP256k1 => &[S::EcdsaSha256],
            Self::EccNistP384 => &[S::EcdsaSha384],
            Self::EccNistP521 => &[S::EcdsaSha512],
            Self::EccNistEdwards25519 => &[S::Ed25519Sha512, S::Ed25519PhSha512],
            Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87 => &[S::MlDsaShake256],
            Self::Sm2 => &[S::Sm2Dsa],
            _ => &[],
        }
    }

    /// The key agreement algorithms of a key of this spec and usage.
    pub fn key_agreement_algorithms(self, usage: KeyUsage) -> &'static [KeyAgreementAlgorithmSpec] {
        if usage == KeyUsage::KeyAgreement {
            &[KeyAgreementAlgorithmSpec::Ecdh]
        } else {
            &[]
        }
    }

    /// The key encapsulation algorithms of a key of this spec and usage.
    pub fn encapsulation_algorithms(
        self,
        usage: KeyUsage,
    ) -> &'static [EncapsulationAlgorithmSpec] {
        if usage == KeyUsage::EncapsulateDecapsulate {
            &[EncapsulationAlgorithmSpec::MlKem]
        } else {
            &[]
        }
    }

    /// The MAC algorithms a key of this spec supports (only HMAC keys have one: AWS ties each
    /// HMAC key spec to the HMAC of the same hash).
    pub fn mac_algorithms(self) -> &'static [MacAlgorithmSpec] {
        match self {
            Self::Hmac224 => &[MacAlgorithmSpec::HmacSha224],
            Self::Hmac256 => &[MacAlgorithmSpec::HmacSha256],
            Self::Hmac384 => &[MacAlgorithmSpec::HmacSha384],
            Self::Hmac512 => &[MacAlgorithmSpec::HmacSha512],
            _ => &[],
        }
    }

    /// Whether this is an HMAC key spec.
    pub fn is_hmac(self) -> bool {
        !self.mac_algorithms().is_empty()
    }

    /// The length in bytes of an HMAC key of this spec, as AWS generates it (the hash's output
    /// length: 28, 32, 48, 64); `None` for other specs.
    pub fn hmac_key_len(self) -> Option<usize> {
        self.mac_algorithms().first().map(|a| a.hmac().tag_len())
    }

    /// The encryption algorithms a key of this spec and usage supports.
    pub fn encryption_algorithms(self, usage: KeyUsage) -> &'static [EncryptionAlgorithmSpec] {
        if usage != KeyUsage::EncryptDecrypt {
            return &[];
        }
        match self {
            Self::SymmetricDefault => &[EncryptionAlgorithmSpec::SymmetricDefault],
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &[
                EncryptionAlgorithmSpec::RsaesOaepSha1,
                EncryptionAlgorithmSpec::RsaesOaepSha256,
            ],
            Self::Sm2 => &[EncryptionAlgorithmSpec::Sm2Pke],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for s in KeySpec::ALL {
            assert_eq!(KeySpec::parse(s.as_str()), Some(*s));
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        for s in KeyState::ALL {
            assert_eq!(KeyState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(KeySpec::parse("symmetric_default"), None);
        assert_eq!(DataKeySpec::Aes128.len(), 16);
    }
}
