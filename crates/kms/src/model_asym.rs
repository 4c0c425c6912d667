//! Requests and answers of the asymmetric, key-agreement, encapsulation and key-usage
//! operations (Sign, Verify, GetPublicKey, DeriveSharedSecret, Encapsulate, Decapsulate,
//! GenerateDataKeyPair(+WithoutPlaintext), GetKeyLastUsage), shaped as AWS's service model.

use std::time::SystemTime;

use coffer_core::EncryptionContext;
use coffer_crypto::SecretBytes;
use coffer_keys::{
    DataKeyPairSpec, EncapsulationAlgorithmSpec, EncryptionAlgorithmSpec,
    KeyAgreementAlgorithmSpec, KeySpec, KeyUsage, MessageType, Origin, SigningAlgorithmSpec,
};

/// Sign.
#[derive(Clone, Debug, Default)]
pub struct SignRequest {
    /// Key id, key ARN, alias name or alias ARN of a SIGN_VERIFY key.
    pub key_id: String,
    /// The message (1–4096 bytes) or its digest.
    pub message: SecretBytes,
    /// RAW (default) or DIGEST.
    pub message_type: Option<MessageType>,
    /// One of the key's signing algorithms (required by AWS; the wire refuses its absence).
    pub signing_algorithm: Option<SigningAlgorithmSpec>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without signing.
    pub dry_run: bool,
}

/// Sign's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct SignResponse {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// The signature (DER for ECDSA, as AWS returns it).
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub signature: Vec<u8>,
    /// The algorithm used.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub signing_algorithm: SigningAlgorithmSpec,
}

/// Verify.
#[derive(Clone, Debug, Default)]
pub struct VerifyRequest {
    /// Key id, key ARN, alias name or alias ARN of a SIGN_VERIFY key.
    pub key_id: String,
    /// The message (1–4096 bytes) or its digest.
    pub message: SecretBytes,
    /// RAW (default) or DIGEST.
    pub message_type: Option<MessageType>,
    /// The signature to check (1–6144 bytes).
    pub signature: Vec<u8>,
    /// The algorithm the signature was made with.
    pub signing_algorithm: Option<SigningAlgorithmSpec>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without verifying.
    pub dry_run: bool,
}

/// Verify's answer (an invalid signature is `KMSInvalidSignatureException`, never `false`).
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct VerifyResponse {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// Always `true`.
    pub signature_valid: bool,
    /// The algorithm used.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub signing_algorithm: SigningAlgorithmSpec,
}

/// GetPublicKey.
#[derive(Clone, Debug, Default)]
pub struct GetPublicKeyRequest {
    /// Key id, key ARN, alias name or alias ARN of an asymmetric key.
    pub key_id: String,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
}

/// GetPublicKey's answer: the public key and what the key may do.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GetPublicKeyResponse {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// DER `SubjectPublicKeyInfo` (RFC 5280).
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub public_key: Vec<u8>,
    /// Deprecated twin of `key_spec`.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub customer_master_key_spec: KeySpec,
    /// The key's spec.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_spec: KeySpec,
    /// The key's usage.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_usage: KeyUsage,
    /// For ENCRYPT_DECRYPT keys.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_names",
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub encryption_algorithms: Vec<EncryptionAlgorithmSpec>,
    /// For SIGN_VERIFY keys.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_names",
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub signing_algorithms: Vec<SigningAlgorithmSpec>,
    /// For KEY_AGREEMENT keys.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_names",
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub key_agreement_algorithms: Vec<KeyAgreementAlgorithmSpec>,
    /// For ENCAPSULATE_DECAPSULATE keys.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_names",
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub encapsulation_algorithms: Vec<EncapsulationAlgorithmSpec>,
}

/// DeriveSharedSecret.
#[derive(Clone, Debug, Default)]
pub struct DeriveSharedSecretRequest {
    /// Key id, key ARN, alias name or alias ARN of a KEY_AGREEMENT key.
    pub key_id: String,
    /// `ECDH` (required).
    pub key_agreement_algorithm: Option<KeyAgreementAlgorithmSpec>,
    /// The other party's public key: DER `SubjectPublicKeyInfo` on the key's curve.
    pub public_key: Vec<u8>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without deriving.
    pub dry_run: bool,
}

/// DeriveSharedSecret's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct DeriveSharedSecretResponse {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// The raw ECDH shared secret (the shared point's x-coordinate).
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_secret"))]
    pub shared_secret: SecretBytes,
    /// The algorithm used.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_agreement_algorithm: KeyAgreementAlgorithmSpec,
    /// The key's origin.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_origin: Origin,
}

/// Encapsulate.
#[derive(Clone, Debug, Default)]
pub struct EncapsulateRequest {
    /// Key id, key ARN, alias name or alias ARN of an ML-KEM key.
    pub key_id: String,
    /// `ML_KEM` (required).
    pub encapsulation_algorithm: Option<EncapsulationAlgorithmSpec>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without encapsulating.
    pub dry_run: bool,
}

/// Encapsulate's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct EncapsulateResponse {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// The 32-byte shared secret.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_secret"))]
    pub shared_secret: SecretBytes,
    /// Its encapsulation, for Decapsulate (768, 1088 or 1568 bytes).
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub shared_secret_ciphertext_blob: Vec<u8>,
    /// The algorithm used.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub encapsulation_algorithm: EncapsulationAlgorithmSpec,
}

/// Decapsulate.
#[derive(Clone, Debug, Default)]
pub struct DecapsulateRequest {
    /// Key id, key ARN, alias name or alias ARN of an ML-KEM key.
    pub key_id: String,
    /// What Encapsulate returned.
    pub shared_secret_ciphertext_blob: Vec<u8>,
    /// `ML_KEM` (required).
    pub encapsulation_algorithm: Option<EncapsulationAlgorithmSpec>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without decapsulating.
    pub dry_run: bool,
}

/// Decapsulate's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct DecapsulateResponse {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// The 32-byte shared secret (pseudo-random for a ciphertext not made for this key: ML-KEM's
    /// implicit rejection).
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_secret"))]
    pub shared_secret: SecretBytes,
    /// The algorithm used.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub encapsulation_algorithm: EncapsulationAlgorithmSpec,
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
#[derive(Clone, Debug, Default)]
pub struct GenerateDataKeyPairRequest {
    /// Key id, key ARN, alias name or alias ARN of a symmetric encryption key, which wraps the
    /// private key.
    pub key_id: String,
    /// The pair to make (required).
    pub key_pair_spec: Option<DataKeyPairSpec>,
    /// Bound to the wrapped private key.
    pub encryption_context: EncryptionContext,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without generating.
    pub dry_run: bool,
}

/// GenerateDataKeyPair's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GenerateDataKeyPairResponse {
    /// The private key (PKCS #8 DER) encrypted under the key.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub private_key_ciphertext_blob: Vec<u8>,
    /// The private key, PKCS #8 DER.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_secret"))]
    pub private_key_plaintext: SecretBytes,
    /// The public key, DER `SubjectPublicKeyInfo`.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub public_key: Vec<u8>,
    /// The key ARN that wrapped the private key.
    pub key_id: crate::KeyArn,
    /// The pair's spec.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_pair_spec: DataKeyPairSpec,
    /// The backing-key version that wrapped the private key.
    pub key_material_id: String,
}

/// GenerateDataKeyPairWithoutPlaintext's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GenerateDataKeyPairWithoutPlaintextResponse {
    /// The private key (PKCS #8 DER) encrypted under the key.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub private_key_ciphertext_blob: Vec<u8>,
    /// The public key, DER `SubjectPublicKeyInfo`.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub public_key: Vec<u8>,
    /// The key ARN that wrapped the private key.
    pub key_id: crate::KeyArn,
    /// The pair's spec.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_pair_spec: DataKeyPairSpec,
    /// The backing-key version that wrapped the private key.
    pub key_material_id: String,
}

/// GetKeyLastUsage.
#[derive(Clone, Debug, Default)]
pub struct GetKeyLastUsageRequest {
    /// Key id or key ARN (aliases are refused, as AWS refuses them).
    pub key_id: String,
}

/// The last successful cryptographic use of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct KeyLastUsage {
    /// The operation (its AWS name).
    pub operation: String,
    /// When.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub timestamp: SystemTime,
    /// The audit record's event id (CloudTrail's `eventID`), when an audit log is kept.
    #[cfg_attr(
        feature = "wire",
        serde(rename = "CloudTrailEventId", skip_serializing_if = "Option::is_none")
    )]
    pub cloud_trail_event_id: Option<String>,
    /// The request id, when the caller had one (cofferd gives every request one).
    #[cfg_attr(
        feature = "wire",
        serde(rename = "KmsRequestId", skip_serializing_if = "Option::is_none")
    )]
    pub kms_request_id: Option<String>,
}

/// GetKeyLastUsage's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GetKeyLastUsageResponse {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// The last successful cryptographic use, if any since tracking began.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub key_last_usage: Option<KeyLastUsage>,
    /// When tracking began (coffer tracks from the key's creation).
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub tracking_start_date: SystemTime,
    /// When the key was created.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub key_creation_date: SystemTime,
}
