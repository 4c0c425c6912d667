//! Request and response types, named and shaped after the AWS KMS service model
//! (`kms/2014-11-01`): one request and one response per operation, fields in snake case.
//!
//! Requests implement `Default`, so callers set what they need and `..Default::default()` the
//! rest. Plaintext and data keys are [`SecretBytes`]: zeroized on drop, printed `[redacted]`.

use std::time::SystemTime;

use coffer_core::EncryptionContext;
use coffer_crypto::SecretBytes;
pub use coffer_keys::{
    AlgorithmSpec, DataKeyPairSpec, DataKeySpec, EncapsulationAlgorithmSpec,
    EncryptionAlgorithmSpec, ExpirationModel, KeyAgreementAlgorithmSpec, KeySpec, KeyState,
    KeyUsage, MacAlgorithmSpec, MessageType, Origin, RotationType, SigningAlgorithmSpec, Tag,
    WrappingKeySpec,
};

#[path = "model_asym.rs"]
mod asym;
pub use asym::*;
#[path = "model_import.rs"]
mod import;
pub use import::*;
#[path = "multi_region_model.rs"]
mod multi_region;
pub use multi_region::*;
#[path = "custom_key_store_model.rs"]
mod custom_key_store;
pub use custom_key_store::*;

/// A key's description, as DescribeKey and CreateKey return it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct KeyMetadata {
    /// The owning account.
    #[cfg_attr(feature = "wire", serde(rename = "AWSAccountId"))]
    pub aws_account_id: String,
    /// The key id.
    pub key_id: String,
    /// The key ARN.
    pub arn: String,
    /// When it was created.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub creation_date: SystemTime,
    /// Whether it is enabled (state `Enabled`).
    pub enabled: bool,
    /// Its description.
    pub description: String,
    /// Its usage.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_usage: KeyUsage,
    /// Its state.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_state: KeyState,
    /// When it will be deleted, if pending deletion.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_opt_time",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub deletion_date: Option<SystemTime>,
    /// Where its material came from.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub origin: Origin,
    /// Always `CUSTOMER`: coffer has no service-managed keys.
    pub key_manager: &'static str,
    /// Deprecated twin of `key_spec`, still returned by AWS.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub customer_master_key_spec: KeySpec,
    /// Its spec.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_spec: KeySpec,
    /// The encryption algorithms it supports (absent on the wire when none, as for HMAC keys).
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_algorithms",
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub encryption_algorithms: Vec<EncryptionAlgorithmSpec>,
    /// The MAC algorithms an HMAC key supports (absent on the wire for other keys).
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_mac_algorithms",
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub mac_algorithms: Vec<MacAlgorithmSpec>,
    /// The signing algorithms a SIGN_VERIFY key supports (absent on the wire for others).
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_names",
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub signing_algorithms: Vec<SigningAlgorithmSpec>,
    /// The key agreement algorithms of a KEY_AGREEMENT key (absent on the wire for others).
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_names",
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub key_agreement_algorithms: Vec<KeyAgreementAlgorithmSpec>,
    /// The encapsulation algorithms of an ML-KEM key (absent on the wire for others).
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_names",
            skip_serializing_if = "Vec::is_empty"
        )
    )]
    pub encapsulation_algorithms: Vec<EncapsulationAlgorithmSpec>,
    /// Whether imported material expires (keys of origin EXTERNAL only).
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_opt_display",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub expiration_model: Option<ExpirationModel>,
    /// When imported material expires.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_opt_time",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub valid_to: Option<SystemTime>,
    /// Whether it is a multi-region key.
    pub multi_region: bool,
    /// A multi-Region key's primary and replicas (absent for single-Region keys).
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    /// The waiting period, while pending deletion.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub pending_deletion_window_in_days: Option<u32>,
    /// The id of the current backing-key version.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub current_key_material_id: Option<String>,
    /// The custom key store holding the key.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub custom_key_store_id: Option<String>,
    /// The token (CloudHSM cluster) of the key's custom key store.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub cloud_hsm_cluster_id: Option<String>,
}

/// CreateKey.
#[derive(Clone, Debug, Default)]
pub struct CreateKeyRequest {
    /// The key policy (JSON). Not yet supported beyond storage; see the authorization issue.
    pub policy: Option<String>,
    /// Up to 8192 characters.
    pub description: Option<String>,
    /// Defaults to `ENCRYPT_DECRYPT`.
    pub key_usage: Option<KeyUsage>,
    /// Defaults to `SYMMETRIC_DEFAULT`.
    pub key_spec: Option<KeySpec>,
    /// Deprecated alias of `key_spec`; giving both is an error.
    pub customer_master_key_spec: Option<KeySpec>,
    /// Defaults to `AWS_KMS`.
    pub origin: Option<Origin>,
    /// Skips the policy lockout check.
    pub bypass_policy_lockout_safety_check: bool,
    /// Tags to attach.
    pub tags: Vec<Tag>,
    /// Whether to make a multi-region primary key.
    pub multi_region: Option<bool>,
    /// The custom key store to create the key in (with origin `AWS_CLOUDHSM`).
    pub custom_key_store_id: Option<String>,
}

/// CreateKey's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct CreateKeyResponse {
    /// The new key.
    pub key_metadata: KeyMetadata,
}

/// DescribeKey.
#[derive(Clone, Debug, Default)]
pub struct DescribeKeyRequest {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
}

/// DescribeKey's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct DescribeKeyResponse {
    /// The key.
    pub key_metadata: KeyMetadata,
}

/// Encrypt.
#[derive(Clone, Debug, Default)]
pub struct EncryptRequest {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// 1–4096 bytes.
    pub plaintext: SecretBytes,
    /// Bound to the ciphertext as authenticated data.
    pub encryption_context: EncryptionContext,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Defaults to `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    /// Check access and state without encrypting.
    pub dry_run: bool,
}

/// Encrypt's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct EncryptResponse {
    /// The ciphertext blob.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub ciphertext_blob: Vec<u8>,
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// The algorithm used.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub encryption_algorithm: EncryptionAlgorithmSpec,
}

/// GenerateMac.
#[derive(Clone, Debug, Default)]
pub struct GenerateMacRequest {
    /// Key id, key ARN, alias name or alias ARN of an HMAC key.
    pub key_id: String,
    /// 1–4096 bytes.
    pub message: Vec<u8>,
    /// Must be the key's MAC algorithm (required by AWS; the wire refuses a request without it).
    pub mac_algorithm: Option<MacAlgorithmSpec>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without computing the MAC.
    pub dry_run: bool,
}

/// GenerateMac's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GenerateMacResponse {
    /// The MAC.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub mac: Vec<u8>,
    /// The algorithm used.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub mac_algorithm: MacAlgorithmSpec,
    /// The key ARN.
    pub key_id: crate::KeyArn,
}

/// VerifyMac.
#[derive(Clone, Debug, Default)]
pub struct VerifyMacRequest {
    /// Key id, key ARN, alias name or alias ARN of an HMAC key.
    pub key_id: String,
    /// 1–4096 bytes.
    pub message: Vec<u8>,
    /// Must be the key's MAC algorithm and the one the MAC was made with.
    pub mac_algorithm: Option<MacAlgorithmSpec>,
    /// The MAC to verify (1–6144 bytes).
    pub mac: Vec<u8>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without verifying.
    pub dry_run: bool,
}

/// VerifyMac's answer (only for a valid MAC: an invalid one is `KMSInvalidMacException`).
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct VerifyMacResponse {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// Always `true`.
    pub mac_valid: bool,
    /// The algorithm used.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub mac_algorithm: MacAlgorithmSpec,
}

/// Decrypt.
#[derive(Clone, Debug, Default)]
pub struct DecryptRequest {
    /// The ciphertext blob, 1–6144 bytes.
    pub ciphertext_blob: Vec<u8>,
    /// Must equal the context given at encryption.
    pub encryption_context: EncryptionContext,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Optional for symmetric ciphertext; if given, must name the key that encrypted.
    pub key_id: Option<String>,
    /// Defaults to `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    /// Check access and state without decrypting.
    pub dry_run: bool,
}

/// Decrypt's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct DecryptResponse {
    /// The key ARN that decrypted.
    pub key_id: crate::KeyArn,
    /// The plaintext.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_secret"))]
    pub plaintext: SecretBytes,
    /// The algorithm used.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub encryption_algorithm: EncryptionAlgorithmSpec,
    /// The backing-key version that decrypted (symmetric keys only, as AWS reports it).
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub key_material_id: Option<crate::KeyMaterialId>,
}

/// ReEncrypt.
#[derive(Clone, Debug, Default)]
pub struct ReEncryptRequest {
    /// The ciphertext to re-encrypt.
    pub ciphertext_blob: Vec<u8>,
    /// Its encryption context.
    pub source_encryption_context: EncryptionContext,
    /// Optional for symmetric ciphertext; if given, must name the key that encrypted.
    pub source_key_id: Option<String>,
    /// The key to encrypt under.
    pub destination_key_id: String,
    /// The new encryption context.
    pub destination_encryption_context: EncryptionContext,
    /// Defaults to `SYMMETRIC_DEFAULT`.
    pub source_encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    /// Defaults to `SYMMETRIC_DEFAULT`.
    pub destination_encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without re-encrypting.
    pub dry_run: bool,
}

/// ReEncrypt's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ReEncryptResponse {
    /// The new ciphertext.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub ciphertext_blob: Vec<u8>,
    /// The source key ARN.
    pub source_key_id: crate::KeyArn,
    /// The destination key ARN.
    pub key_id: crate::KeyArn,
    /// Algorithm of the source ciphertext.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub source_encryption_algorithm: EncryptionAlgorithmSpec,
    /// Algorithm of the new ciphertext.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub destination_encryption_algorithm: EncryptionAlgorithmSpec,
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
#[derive(Clone, Debug, Default)]
pub struct GenerateDataKeyRequest {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// Bound to the wrapped data key.
    pub encryption_context: EncryptionContext,
    /// 1–1024; exactly one of this and `key_spec`.
    pub number_of_bytes: Option<u32>,
    /// `AES_256` or `AES_128`; exactly one of this and `number_of_bytes`.
    pub key_spec: Option<DataKeySpec>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Check access and state without generating.
    pub dry_run: bool,
}

/// GenerateDataKey's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GenerateDataKeyResponse {
    /// The data key wrapped under the KMS key.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub ciphertext_blob: Vec<u8>,
    /// The data key.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_secret"))]
    pub plaintext: SecretBytes,
    /// The key ARN.
    pub key_id: crate::KeyArn,
}

/// GenerateDataKeyWithoutPlaintext's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GenerateDataKeyWithoutPlaintextResponse {
    /// The data key wrapped under the KMS key.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub ciphertext_blob: Vec<u8>,
    /// The key ARN.
    pub key_id: crate::KeyArn,
}

/// GenerateRandom.
#[derive(Clone, Debug, Default)]
pub struct GenerateRandomRequest {
    /// 1–1024.
    pub number_of_bytes: Option<u32>,
}

/// GenerateRandom's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GenerateRandomResponse {
    /// The random bytes.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_secret"))]
    pub plaintext: SecretBytes,
}

/// An operation that takes only a key (EnableKey, DisableKey, CancelKeyDeletion,
/// DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand, ListResourceTags' key, …).
#[derive(Clone, Debug, Default)]
pub struct KeyIdRequest {
    /// Key id or key ARN.
    pub key_id: String,
}

/// An answer that names the key it acted on (CancelKeyDeletion, RotateKeyOnDemand).
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct KeyIdResponse {
    /// The key ARN.
    pub key_id: String,
}

/// UpdateKeyDescription.
#[derive(Clone, Debug, Default)]
pub struct UpdateKeyDescriptionRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// The new description, at most 8192 characters.
    pub description: String,
}

/// ListKeys.
#[derive(Clone, Debug, Default)]
pub struct ListKeysRequest {
    /// 1–1000; default 100.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

/// One entry of ListKeys.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct KeyListEntry {
    /// The key id.
    pub key_id: String,
    /// The key ARN.
    pub key_arn: String,
}

/// ListKeys' answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ListKeysResponse {
    /// This page.
    pub keys: Vec<KeyListEntry>,
    /// Where the next page starts, when `truncated`.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
    /// Whether more entries follow.
    pub truncated: bool,
}

/// ScheduleKeyDeletion.
#[derive(Clone, Debug, Default)]
pub struct ScheduleKeyDeletionRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// 7–30; default 30.
    pub pending_window_in_days: Option<u32>,
}

/// ScheduleKeyDeletion's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ScheduleKeyDeletionResponse {
    /// The key ARN.
    pub key_id: String,
    /// When the key will be deleted (absent while a multi-Region primary waits for its
    /// replicas to be deleted, in `PendingReplicaDeletion`).
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_opt_time",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub deletion_date: Option<SystemTime>,
    /// `PendingDeletion`, or `PendingReplicaDeletion`.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub key_state: KeyState,
    /// The waiting period.
    pub pending_window_in_days: u32,
}

/// EnableKeyRotation.
#[derive(Clone, Debug, Default)]
pub struct EnableKeyRotationRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// 90–2560; default 365.
    pub rotation_period_in_days: Option<u32>,
}

/// GetKeyRotationStatus' answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GetKeyRotationStatusResponse {
    /// Whether automatic rotation is enabled.
    pub key_rotation_enabled: bool,
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// The rotation period, when enabled.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub rotation_period_in_days: Option<u32>,
    /// When the next automatic rotation is due, when enabled.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_opt_time",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub next_rotation_date: Option<SystemTime>,
    /// On-demand rotations complete at once in coffer: always `None`.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_opt_time",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub on_demand_rotation_start_date: Option<SystemTime>,
}

/// ListKeyRotations.
#[derive(Clone, Debug, Default)]
pub struct ListKeyRotationsRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// 1–1000; default 100.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

/// One completed rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct RotationsListEntry {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// The new backing-key version's id.
    pub key_material_id: String,
    /// When it happened.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub rotation_date: SystemTime,
    /// Automatic or on demand.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub rotation_type: RotationType,
}

/// ListKeyRotations' answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ListKeyRotationsResponse {
    /// This page, oldest first.
    pub rotations: Vec<RotationsListEntry>,
    /// Where the next page starts, when `truncated`.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
    /// Whether more entries follow.
    pub truncated: bool,
}

/// CreateAlias and UpdateAlias.
#[derive(Clone, Debug, Default)]
pub struct AliasRequest {
    /// `alias/…`.
    pub alias_name: String,
    /// Key id or key ARN of the target.
    pub target_key_id: String,
}

/// DeleteAlias.
#[derive(Clone, Debug, Default)]
pub struct DeleteAliasRequest {
    /// `alias/…`.
    pub alias_name: String,
}

/// ListAliases.
#[derive(Clone, Debug, Default)]
pub struct ListAliasesRequest {
    /// Only aliases of this key (key id or key ARN).
    pub key_id: Option<String>,
    /// 1–1000; default 100.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

/// One alias.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct AliasListEntry {
    /// `alias/…`.
    pub alias_name: String,
    /// The alias ARN.
    pub alias_arn: String,
    /// The target key id.
    pub target_key_id: String,
    /// When it was created.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub creation_date: SystemTime,
    /// When it last changed target.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub last_updated_date: SystemTime,
}

/// ListAliases' answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ListAliasesResponse {
    /// This page, ordered by name.
    pub aliases: Vec<AliasListEntry>,
    /// Where the next page starts, when `truncated`.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
    /// Whether more entries follow.
    pub truncated: bool,
}

/// TagResource.
#[derive(Clone, Debug, Default)]
pub struct TagResourceRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// Tags to add or replace.
    pub tags: Vec<Tag>,
}

/// UntagResource.
#[derive(Clone, Debug, Default)]
pub struct UntagResourceRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// Tag keys to remove.
    pub tag_keys: Vec<String>,
}

/// ListResourceTags.
#[derive(Clone, Debug, Default)]
pub struct ListResourceTagsRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// 1–50; default 50.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

/// ListResourceTags' answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ListResourceTagsResponse {
    /// This page.
    pub tags: Vec<Tag>,
    /// Where the next page starts, when `truncated`.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
    /// Whether more entries follow.
    pub truncated: bool,
}

/// What one maintenance sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Keys deleted because their waiting period ended.
    pub keys_deleted: Vec<String>,
    /// Keys given a new backing-key version by automatic rotation.
    pub keys_rotated: Vec<String>,
    /// Keys whose imported material expired and was deleted (back to PendingImport).
    pub material_expired: Vec<String>,
}

/// PutKeyPolicy.
#[derive(Clone, Debug, Default)]
pub struct PutKeyPolicyRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// Only `default` exists; defaults to it.
    pub policy_name: Option<String>,
    /// The key policy document (JSON, at most 32 KB).
    pub policy: String,
    /// Skips the check that the caller could still change the policy afterwards.
    pub bypass_policy_lockout_safety_check: bool,
}

/// GetKeyPolicy.
#[derive(Clone, Debug, Default)]
pub struct GetKeyPolicyRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// Only `default` exists; defaults to it.
    pub policy_name: Option<String>,
}

/// GetKeyPolicy's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GetKeyPolicyResponse {
    /// The key policy document.
    pub policy: String,
    /// `default`.
    pub policy_name: String,
}

/// ListKeyPolicies.
#[derive(Clone, Debug, Default)]
pub struct ListKeyPoliciesRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// 1–1000; default 100.
    pub limit: Option<u32>,
    /// Ignored: there is one policy.
    pub marker: Option<String>,
}

/// ListKeyPolicies' answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ListKeyPoliciesResponse {
    /// `["default"]`.
    pub policy_names: Vec<String>,
    /// Always `None`.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
    /// Always `false`.
    pub truncated: bool,
}

pub use coffer_grants::{GrantConstraints, GrantOperation};

/// CreateGrant.
#[derive(Clone, Debug, Default)]
pub struct CreateGrantRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// Who may use the grant.
    pub grantee_principal: String,
    /// Who may retire it.
    pub retiring_principal: Option<String>,
    /// What it allows.
    pub operations: Vec<GrantOperation>,
    /// Encryption-context constraints.
    pub constraints: Option<GrantConstraints>,
    /// Grant tokens (at most 10).
    pub grant_tokens: Vec<String>,
    /// Makes CreateGrant idempotent: the same name and parameters return the same grant.
    pub name: Option<String>,
    /// Check access and state without creating.
    pub dry_run: bool,
}

/// CreateGrant's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct CreateGrantResponse {
    /// A token that works with the grant at once.
    pub grant_token: String,
    /// The grant id.
    pub grant_id: String,
}

/// ListGrants.
#[derive(Clone, Debug, Default)]
pub struct ListGrantsRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// 1–100; default 50.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
    /// Only this grant.
    pub grant_id: Option<String>,
    /// Only grants for this grantee.
    pub grantee_principal: Option<String>,
}

/// ListRetirableGrants.
#[derive(Clone, Debug, Default)]
pub struct ListRetirableGrantsRequest {
    /// The retiring principal.
    pub retiring_principal: String,
    /// 1–100; default 50.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

/// A grant as ListGrants shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GrantListEntry {
    /// The key ARN.
    pub key_id: String,
    /// The grant id.
    pub grant_id: String,
    /// Its name.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub name: Option<String>,
    /// When it was created.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub creation_date: SystemTime,
    /// Who may use it.
    pub grantee_principal: String,
    /// Who may retire it.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub retiring_principal: Option<String>,
    /// The account root that created it.
    pub issuing_account: String,
    /// What it allows.
    #[cfg_attr(
        feature = "wire",
        serde(serialize_with = "crate::wire::ser_grant_operations")
    )]
    pub operations: Vec<GrantOperation>,
    /// Its constraints.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_constraints",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub constraints: Option<GrantConstraints>,
}

/// ListGrants' and ListRetirableGrants' answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ListGrantsResponse {
    /// This page.
    pub grants: Vec<GrantListEntry>,
    /// Where the next page starts, when `truncated`.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
    /// Whether more entries follow.
    pub truncated: bool,
}

/// RetireGrant: by token, or by key ARN and grant id.
#[derive(Clone, Debug, Default)]
pub struct RetireGrantRequest {
    /// The grant's token.
    pub grant_token: Option<String>,
    /// The key ARN (with `grant_id`).
    pub key_id: Option<String>,
    /// The grant id (with `key_id`).
    pub grant_id: Option<String>,
    /// Check access without retiring.
    pub dry_run: bool,
}

/// RevokeGrant.
#[derive(Clone, Debug, Default)]
pub struct RevokeGrantRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// The grant id.
    pub grant_id: String,
    /// Check access without revoking.
    pub dry_run: bool,
}
