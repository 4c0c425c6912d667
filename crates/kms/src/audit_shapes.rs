//! What each request and response tells the audit record: `requestParameters`,
//! `responseElements` and the key a response names. Never plaintext, ciphertext or key material.

use serde_json::{json, Value};

use crate::model::*;

/// What a response tells the audit record: the key it concerned and `responseElements`.
pub(crate) trait AuditResponse {
    /// The key ARN and account, where the response names one.
    fn key(&self) -> Option<(&str, &str)> {
        None
    }
    /// `responseElements` (`null` for none, as CloudTrail records many KMS calls).
    fn elements(&self) -> Value {
        Value::Null
    }
}

/// The account in a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
pub(crate) fn arn_account(arn: &str) -> &str {
    coffer_core::arn_part(arn, 4).unwrap_or_default()
}

macro_rules! key_arn_response {
    ($($t:ty),+) => {
        $(impl AuditResponse for $t {
            fn key(&self) -> Option<(&str, &str)> {
                Some((&self.key_id, arn_account(&self.key_id)))
            }
            fn elements(&self) -> Value {
                json!({ "keyId": self.key_id })
            }
        })+
    };
}

macro_rules! quiet_response {
    ($($t:ty),+) => { $(impl AuditResponse for $t {})+ };
}

key_arn_response!(
    EncryptResponse,
    GenerateMacResponse,
    VerifyMacResponse,
    DecryptResponse,
    GenerateDataKeyResponse,
    GenerateDataKeyWithoutPlaintextResponse,
    KeyIdResponse,
    GetKeyRotationStatusResponse,
    SignResponse,
    VerifyResponse,
    GetPublicKeyResponse,
    DeriveSharedSecretResponse,
    EncapsulateResponse,
    DecapsulateResponse,
    GenerateDataKeyPairResponse,
    GenerateDataKeyPairWithoutPlaintextResponse,
    GetKeyLastUsageResponse,
    GetParametersForImportResponse,
    ImportKeyMaterialResponse
);
quiet_response!(
    (),
    GenerateRandomResponse,
    ListKeysResponse,
    ListKeyRotationsResponse,
    ListAliasesResponse,
    ListResourceTagsResponse,
    GetKeyPolicyResponse,
    ListKeyPoliciesResponse,
    ListGrantsResponse,
    DescribeCustomKeyStoresResponse
);

impl AuditResponse for CreateCustomKeyStoreResponse {
    fn elements(&self) -> Value {
        json!({ "customKeyStoreId": self.custom_key_store_id })
    }
}

impl AuditResponse for CreateKeyResponse {
    fn key(&self) -> Option<(&str, &str)> {
        Some((&self.key_metadata.arn, &self.key_metadata.aws_account_id))
    }
    fn elements(&self) -> Value {
        json!({ "keyMetadata": {
            "keyId": self.key_metadata.key_id,
            "arn": self.key_metadata.arn,
            "keySpec": self.key_metadata.key_spec.as_str(),
            "keyUsage": self.key_metadata.key_usage.as_str(),
            "keyState": self.key_metadata.key_state.as_str(),
        }})
    }
}

impl AuditResponse for DescribeKeyResponse {
    fn key(&self) -> Option<(&str, &str)> {
        Some((&self.key_metadata.arn, &self.key_metadata.aws_account_id))
    }
}

impl AuditResponse for ReEncryptResponse {
    fn key(&self) -> Option<(&str, &str)> {
        Some((&self.source_key_id, arn_account(&self.source_key_id)))
    }
    fn elements(&self) -> Value {
        json!({ "sourceKeyId": self.source_key_id, "keyId": self.key_id })
    }
}

impl AuditResponse for ScheduleKeyDeletionResponse {
    fn key(&self) -> Option<(&str, &str)> {
        Some((&self.key_id, arn_account(&self.key_id)))
    }
    fn elements(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "keyState": self.key_state.as_str(),
            "pendingWindowInDays": self.pending_window_in_days,
        })
    }
}

impl AuditResponse for CreateGrantResponse {
    fn elements(&self) -> Value {
        json!({ "grantId": self.grant_id })
    }
}

fn context(c: &coffer_core::EncryptionContext) -> Value {
    if c.is_empty() {
        Value::Null
    } else {
        json!(c.as_map())
    }
}

/// `requestParameters` of each request: identifiers, sizes, algorithms and encryption contexts
/// (which CloudTrail records); never plaintext, ciphertext or key material.
pub(crate) trait AuditParams {
    fn params(&self) -> Value;
}

impl AuditParams for CreateKeyRequest {
    fn params(&self) -> Value {
        json!({
            "description": self.description,
            "keySpec": self.key_spec.or(self.customer_master_key_spec).map(|s| s.as_str()),
            "keyUsage": self.key_usage.map(|u| u.as_str()),
            "origin": self.origin.map(|o| o.as_str()),
            "customKeyStoreId": self.custom_key_store_id,
            "bypassPolicyLockoutSafetyCheck": self.bypass_policy_lockout_safety_check,
            "tags": self.tags.iter().map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value})).collect::<Vec<_>>(),
        })
    }
}

impl AuditParams for DescribeKeyRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id })
    }
}

impl AuditParams for EncryptRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "encryptionContext": context(&self.encryption_context),
            "encryptionAlgorithm": self.encryption_algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault).as_str(),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for GenerateMacRequest {
    fn params(&self) -> Value {
        // Never the message (CloudTrail does not record it either).
        json!({
            "keyId": self.key_id,
            "macAlgorithm": self.mac_algorithm.map(|a| a.as_str()),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for VerifyMacRequest {
    fn params(&self) -> Value {
        // Never the message nor the MAC.
        json!({
            "keyId": self.key_id,
            "macAlgorithm": self.mac_algorithm.map(|a| a.as_str()),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for DecryptRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "encryptionContext": context(&self.encryption_context),
            "encryptionAlgorithm": self.encryption_algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault).as_str(),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for ReEncryptRequest {
    fn params(&self) -> Value {
        json!({
            "sourceKeyId": self.source_key_id,
            "destinationKeyId": self.destination_key_id,
            "sourceEncryptionContext": context(&self.source_encryption_context),
            "destinationEncryptionContext": context(&self.destination_encryption_context),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for GenerateDataKeyRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "encryptionContext": context(&self.encryption_context),
            "keySpec": self.key_spec.map(|s| s.as_str()),
            "numberOfBytes": self.number_of_bytes,
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for GenerateRandomRequest {
    fn params(&self) -> Value {
        json!({ "numberOfBytes": self.number_of_bytes })
    }
}

impl AuditParams for KeyIdRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id })
    }
}

impl AuditParams for UpdateKeyDescriptionRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "description": self.description })
    }
}

impl AuditParams for ListKeysRequest {
    fn params(&self) -> Value {
        json!({ "limit": self.limit })
    }
}

impl AuditParams for ScheduleKeyDeletionRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "pendingWindowInDays": self.pending_window_in_days })
    }
}

impl AuditParams for EnableKeyRotationRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "rotationPeriodInDays": self.rotation_period_in_days })
    }
}

impl AuditParams for ListKeyRotationsRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "limit": self.limit })
    }
}

impl AuditParams for AliasRequest {
    fn params(&self) -> Value {
        json!({ "aliasName": self.alias_name, "targetKeyId": self.target_key_id })
    }
}

impl AuditParams for DeleteAliasRequest {
    fn params(&self) -> Value {
        json!({ "aliasName": self.alias_name })
    }
}

impl AuditParams for ListAliasesRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "limit": self.limit })
    }
}

impl AuditParams for TagResourceRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "tags": self.tags.iter().map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value})).collect::<Vec<_>>(),
        })
    }
}

impl AuditParams for UntagResourceRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "tagKeys": self.tag_keys })
    }
}

impl AuditParams for ListResourceTagsRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "limit": self.limit })
    }
}

impl AuditParams for PutKeyPolicyRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "policyName": self.policy_name.as_deref().unwrap_or("default"),
            "policy": self.policy,
            "bypassPolicyLockoutSafetyCheck": self.bypass_policy_lockout_safety_check,
        })
    }
}

impl AuditParams for GetKeyPolicyRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "policyName": self.policy_name.as_deref().unwrap_or("default") })
    }
}

impl AuditParams for ListKeyPoliciesRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id })
    }
}

impl AuditParams for CreateGrantRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "granteePrincipal": self.grantee_principal,
            "retiringPrincipal": self.retiring_principal,
            "operations": self.operations.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
            "constraints": self.constraints.as_ref().map(|c| json!({
                "encryptionContextEquals": c.encryption_context_equals,
                "encryptionContextSubset": c.encryption_context_subset,
            })),
            "name": self.name,
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for ListGrantsRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "grantId": self.grant_id, "granteePrincipal": self.grantee_principal })
    }
}

impl AuditParams for ListRetirableGrantsRequest {
    fn params(&self) -> Value {
        json!({ "retiringPrincipal": self.retiring_principal })
    }
}

impl AuditParams for RetireGrantRequest {
    fn params(&self) -> Value {
        // The token is a bearer credential: only whether one was given.
        json!({
            "keyId": self.key_id,
            "grantId": self.grant_id,
            "grantTokenGiven": self.grant_token.is_some(),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for RevokeGrantRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "grantId": self.grant_id, "dryRun": self.dry_run })
    }
}

impl AuditParams for SignRequest {
    fn params(&self) -> Value {
        // Never the message.
        json!({
            "keyId": self.key_id,
            "signingAlgorithm": self.signing_algorithm.map(|a| a.as_str()),
            "messageType": self.message_type.unwrap_or(MessageType::Raw).as_str(),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for VerifyRequest {
    fn params(&self) -> Value {
        // Never the message nor the signature.
        json!({
            "keyId": self.key_id,
            "signingAlgorithm": self.signing_algorithm.map(|a| a.as_str()),
            "messageType": self.message_type.unwrap_or(MessageType::Raw).as_str(),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for GetPublicKeyRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id })
    }
}

impl AuditParams for DeriveSharedSecretRequest {
    fn params(&self) -> Value {
        // The other party's public key is not secret, but long: CloudTrail omits it too.
        json!({
            "keyId": self.key_id,
            "keyAgreementAlgorithm": self.key_agreement_algorithm.map(|a| a.as_str()),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for EncapsulateRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "encapsulationAlgorithm": self.encapsulation_algorithm.map(|a| a.as_str()),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for DecapsulateRequest {
    fn params(&self) -> Value {
        // Never the encapsulated secret.
        json!({
            "keyId": self.key_id,
            "encapsulationAlgorithm": self.encapsulation_algorithm.map(|a| a.as_str()),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for GenerateDataKeyPairRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "keyPairSpec": self.key_pair_spec.map(|s| s.as_str()),
            "encryptionContext": context(&self.encryption_context),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for GetKeyLastUsageRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id })
    }
}

impl AuditParams for GetParametersForImportRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "wrappingAlgorithm": self.wrapping_algorithm.map(|a| a.as_str()),
            "wrappingKeySpec": self.wrapping_key_spec.map(|s| s.as_str()),
        })
    }
}

impl AuditParams for ImportKeyMaterialRequest {
    fn params(&self) -> Value {
        // Never the material, wrapped or not, nor the token (it seals the wrapping key).
        json!({
            "keyId": self.key_id,
            "expirationModel": self.expiration_model.map(|m| m.as_str()),
            "validTo": self.valid_to.map(coffer_core::time::rfc3339),
        })
    }
}

impl AuditParams for DeleteImportedKeyMaterialRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id })
    }
}

// The custom key store operations: never the KeyStorePassword.

impl AuditParams for CreateCustomKeyStoreRequest {
    fn params(&self) -> Value {
        json!({
            "customKeyStoreName": self.custom_key_store_name,
            "cloudHsmClusterId": self.cloud_hsm_cluster_id,
            "trustAnchorCertificate": self.trust_anchor_certificate,
            "customKeyStoreType": self.custom_key_store_type.unwrap_or(CustomKeyStoreType::AwsCloudHsm).as_str(),
        })
    }
}

impl AuditParams for CustomKeyStoreIdRequest {
    fn params(&self) -> Value {
        json!({ "customKeyStoreId": self.custom_key_store_id })
    }
}

impl AuditParams for DescribeCustomKeyStoresRequest {
    fn params(&self) -> Value {
        json!({
            "customKeyStoreId": self.custom_key_store_id,
            "customKeyStoreName": self.custom_key_store_name,
            "limit": self.limit,
            "marker": self.marker,
        })
    }
}

impl AuditParams for UpdateCustomKeyStoreRequest {
    fn params(&self) -> Value {
        json!({
            "customKeyStoreId": self.custom_key_store_id,
            "newCustomKeyStoreName": self.new_custom_key_store_name,
            "cloudHsmClusterId": self.cloud_hsm_cluster_id,
        })
    }
}
