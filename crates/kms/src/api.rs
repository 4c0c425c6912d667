//! The public operations of [`Kms`]: one row each, naming the request and response types,
//! the [`Operation`] it is audited and admitted as, and the `_op` that implements it.

use serde_json::Value;

use crate::audit_shapes::AuditParams;
use crate::model::*;
use crate::{Caller, Error, Kms, Operation};

/// The public operations: each an audited call of its `_op`.
macro_rules! operations {
    ($($(#[$m:meta])* $name:ident($req:ty) -> $resp:ty = $op:ident, $inner:ident;)+) => {
        impl Kms {
            $(
                $(#[$m])*
                pub fn $name(&self, caller: &Caller, req: $req) -> Result<$resp, Error> {
                    let params = if self.audit.is_some() { req.params() } else { Value::Null };
                    self.audited(caller, Operation::$op, params, |call| self.$inner(caller, req, call))
                }
            )+

            /// The operations this table serves, in its order: exactly those with
            /// [`Operation::served`].
            pub const SERVED: &'static [Operation] = &[$(Operation::$op,)+];

            /// Runs operation `op` on its AWS JSON 1.1 request body and returns the response
            /// body: decode and validate the request type of `op`'s row, call its method,
            /// encode the response. `None` if the table has no row for `op` (coffer does not
            /// serve it).
            #[cfg(feature = "wire")]
            pub fn call_wire(
                &self,
                caller: &Caller,
                op: Operation,
                body: &[u8],
            ) -> Option<Result<Vec<u8>, Error>> {
                use crate::wire::{WireRequest as _, WireResponse as _};
                Some(match op {
                    $(Operation::$op => <$req>::from_wire(op, body)
                        .and_then(|req| self.$name(caller, req))
                        .and_then(|resp| resp.to_wire()),)+
                    // Every operation of the model is served today; an operation added to the
                    // model before its row lands is answered None.
                    #[allow(unreachable_patterns)]
                    _ => return None,
                })
            }
        }
    };
}

operations! {
    /// Creates a key in the caller's account.
    create_key(CreateKeyRequest) -> CreateKeyResponse = CreateKey, create_key_op;
    /// Describes a key, in any state. Accepts key ids, key ARNs, alias names and alias ARNs.
    describe_key(DescribeKeyRequest) -> DescribeKeyResponse = DescribeKey, describe_key_op;
    /// Encrypts up to 4096 bytes under a symmetric key, binding the encryption context.
    encrypt(EncryptRequest) -> EncryptResponse = Encrypt, encrypt_op;
    /// Decrypts a ciphertext blob. The blob names its key, so `key_id` is optional; when given
    /// it must name that key.
    decrypt(DecryptRequest) -> DecryptResponse = Decrypt, decrypt_op;
    /// Decrypts under one key and context and encrypts under another, without the plaintext
    /// leaving the service.
    re_encrypt(ReEncryptRequest) -> ReEncryptResponse = ReEncrypt, re_encrypt_op;
    /// The HMAC of a 1–4096-byte message under an HMAC key.
    generate_mac(GenerateMacRequest) -> GenerateMacResponse = GenerateMac, generate_mac_op;
    /// Verifies an HMAC made by GenerateMac; an invalid MAC is `KMSInvalidMacException`.
    verify_mac(VerifyMacRequest) -> VerifyMacResponse = VerifyMac, verify_mac_op;
    /// Signs a message or digest with an asymmetric SIGN_VERIFY key.
    sign(SignRequest) -> SignResponse = Sign, sign_op;
    /// Verifies a signature; an invalid one is `KMSInvalidSignatureException`.
    verify(VerifyRequest) -> VerifyResponse = Verify, verify_op;
    /// The public key of an asymmetric key (DER SubjectPublicKeyInfo).
    get_public_key(GetPublicKeyRequest) -> GetPublicKeyResponse = GetPublicKey, get_public_key_op;
    /// ECDH between a KEY_AGREEMENT key and another party's public key.
    derive_shared_secret(DeriveSharedSecretRequest) -> DeriveSharedSecretResponse = DeriveSharedSecret, derive_shared_secret_op;
    /// A fresh 32-byte shared secret and its ML-KEM encapsulation.
    encapsulate(EncapsulateRequest) -> EncapsulateResponse = Encapsulate, encapsulate_op;
    /// The shared secret of an ML-KEM encapsulation.
    decapsulate(DecapsulateRequest) -> DecapsulateResponse = Decapsulate, decapsulate_op;
    /// A fresh key pair with its private key wrapped under a symmetric key, and in plaintext.
    generate_data_key_pair(GenerateDataKeyPairRequest) -> GenerateDataKeyPairResponse = GenerateDataKeyPair, generate_data_key_pair_op;
    /// A fresh key pair with its private key only wrapped.
    generate_data_key_pair_without_plaintext(GenerateDataKeyPairRequest) -> GenerateDataKeyPairWithoutPlaintextResponse = GenerateDataKeyPairWithoutPlaintext, generate_data_key_pair_without_plaintext_op;
    /// The last successful cryptographic use of a key.
    get_key_last_usage(GetKeyLastUsageRequest) -> GetKeyLastUsageResponse = GetKeyLastUsage, get_key_last_usage_op;
    /// A fresh RSA wrapping key and an import token for a key of origin EXTERNAL.
    get_parameters_for_import(GetParametersForImportRequest) -> GetParametersForImportResponse = GetParametersForImport, get_parameters_for_import_op;
    /// Imports wrapped key material into a key of origin EXTERNAL.
    import_key_material(ImportKeyMaterialRequest) -> ImportKeyMaterialResponse = ImportKeyMaterial, import_key_material_op;
    /// Deletes a key's imported material; the key returns to PendingImport.
    delete_imported_key_material(DeleteImportedKeyMaterialRequest) -> ImportKeyMaterialResponse = DeleteImportedKeyMaterial, delete_imported_key_material_op;
    /// Generates a data key and returns it both in plaintext and wrapped under the key.
    generate_data_key(GenerateDataKeyRequest) -> GenerateDataKeyResponse = GenerateDataKey, generate_data_key_op;
    /// Generates a data key and returns it only wrapped under the key.
    generate_data_key_without_plaintext(GenerateDataKeyRequest) -> GenerateDataKeyWithoutPlaintextResponse = GenerateDataKeyWithoutPlaintext, generate_data_key_without_plaintext_op;
    /// Returns 1–1024 random bytes from the service's random source.
    generate_random(GenerateRandomRequest) -> GenerateRandomResponse = GenerateRandom, generate_random_op;
    /// Replaces a key's policy. Refused if the caller could not call PutKeyPolicy under the new
    /// policy, unless `bypass_policy_lockout_safety_check` is set.
    put_key_policy(PutKeyPolicyRequest) -> () = PutKeyPolicy, put_key_policy_op;
    /// A key's policy document.
    get_key_policy(GetKeyPolicyRequest) -> GetKeyPolicyResponse = GetKeyPolicy, get_key_policy_op;
    /// The names of a key's policies: always `default`.
    list_key_policies(ListKeyPoliciesRequest) -> ListKeyPoliciesResponse = ListKeyPolicies, list_key_policies_op;
    /// Enables a disabled key (a no-op on an enabled one).
    enable_key(KeyIdRequest) -> () = EnableKey, enable_key_op;
    /// Disables a key: it can no longer be used until enabled again.
    disable_key(KeyIdRequest) -> () = DisableKey, disable_key_op;
    /// Replaces a key's description.
    update_key_description(UpdateKeyDescriptionRequest) -> () = UpdateKeyDescription, update_key_description_op;
    /// Lists the caller's account's keys, ordered by key id.
    list_keys(ListKeysRequest) -> ListKeysResponse = ListKeys, list_keys_op;
    /// Schedules a key for deletion after a waiting period of 7–30 days (default 30).
    schedule_key_deletion(ScheduleKeyDeletionRequest) -> ScheduleKeyDeletionResponse = ScheduleKeyDeletion, schedule_key_deletion_op;
    /// Cancels a scheduled deletion; the key is left disabled, as AWS leaves it.
    cancel_key_deletion(KeyIdRequest) -> KeyIdResponse = CancelKeyDeletion, cancel_key_deletion_op;
    /// Turns on automatic rotation every `rotation_period_in_days` (90–2560, default 365).
    enable_key_rotation(EnableKeyRotationRequest) -> () = EnableKeyRotation, enable_key_rotation_op;
    /// Turns off automatic rotation.
    disable_key_rotation(KeyIdRequest) -> () = DisableKeyRotation, disable_key_rotation_op;
    /// Whether automatic rotation is on, its period and next date.
    get_key_rotation_status(KeyIdRequest) -> GetKeyRotationStatusResponse = GetKeyRotationStatus, get_key_rotation_status_op;
    /// Rotates now: a new backing-key version becomes current; the automatic schedule does not
    /// move. At most 25 times per key.
    rotate_key_on_demand(KeyIdRequest) -> KeyIdResponse = RotateKeyOnDemand, rotate_key_on_demand_op;
    /// Completed rotations of a key, oldest first.
    list_key_rotations(ListKeyRotationsRequest) -> ListKeyRotationsResponse = ListKeyRotations, list_key_rotations_op;
    /// Creates an alias for a key of the caller's account.
    create_alias(AliasRequest) -> () = CreateAlias, create_alias_op;
    /// Points an existing alias at another key of the same type and usage.
    update_alias(AliasRequest) -> () = UpdateAlias, update_alias_op;
    /// Deletes an alias; the key is unaffected.
    delete_alias(DeleteAliasRequest) -> () = DeleteAlias, delete_alias_op;
    /// Lists the caller's aliases (all, or those of one key), ordered by name.
    list_aliases(ListAliasesRequest) -> ListAliasesResponse = ListAliases, list_aliases_op;
    /// Adds or replaces tags on a key (at most 50 in all).
    tag_resource(TagResourceRequest) -> () = TagResource, tag_resource_op;
    /// Removes tags from a key by tag key; absent keys are ignored.
    untag_resource(UntagResourceRequest) -> () = UntagResource, untag_resource_op;
    /// A key's tags.
    list_resource_tags(ListResourceTagsRequest) -> ListResourceTagsResponse = ListResourceTags, list_resource_tags_op;
    /// Creates a grant on a key.
    create_grant(CreateGrantRequest) -> CreateGrantResponse = CreateGrant, create_grant_op;
    /// The grants on a key.
    list_grants(ListGrantsRequest) -> ListGrantsResponse = ListGrants, list_grants_op;
    /// The grants of the caller's account that a retiring principal may retire.
    list_retirable_grants(ListRetirableGrantsRequest) -> ListGrantsResponse = ListRetirableGrants, list_retirable_grants_op;
    /// Retires a grant, by its token or by key ARN and grant id.
    retire_grant(RetireGrantRequest) -> () = RetireGrant, retire_grant_op;
    /// Makes a replica of a multi-Region primary key in another region (through the peer
    /// transport set with `set_replica_transport`).
    replicate_key(ReplicateKeyRequest) -> ReplicateKeyResponse = ReplicateKey, replicate_key_op;
    /// Makes the replica in another region the primary key, and this key a replica.
    update_primary_region(UpdatePrimaryRegionRequest) -> () = UpdatePrimaryRegion, update_primary_region_op;
    /// Revokes a grant; the caller needs kms:RevokeGrant on the key.
    revoke_grant(RevokeGrantRequest) -> () = RevokeGrant, revoke_grant_op;
    /// Creates a custom key store over an operator-configured PKCS#11 token.
    create_custom_key_store(CreateCustomKeyStoreRequest) -> CreateCustomKeyStoreResponse = CreateCustomKeyStore, create_custom_key_store_op;
    /// Connects a custom key store to its token (FAILED, with a code, if the token refuses).
    connect_custom_key_store(CustomKeyStoreIdRequest) -> () = ConnectCustomKeyStore, connect_custom_key_store_op;
    /// Disconnects a custom key store: its keys are Unavailable until it is connected again.
    disconnect_custom_key_store(CustomKeyStoreIdRequest) -> () = DisconnectCustomKeyStore, disconnect_custom_key_store_op;
    /// Deletes a disconnected custom key store that holds no keys.
    delete_custom_key_store(CustomKeyStoreIdRequest) -> () = DeleteCustomKeyStore, delete_custom_key_store_op;
    /// The caller's custom key stores and their connection states.
    describe_custom_key_stores(DescribeCustomKeyStoresRequest) -> DescribeCustomKeyStoresResponse = DescribeCustomKeyStores, describe_custom_key_stores_op;
    /// Renames a custom key store, or changes its PIN or token while disconnected.
    update_custom_key_store(UpdateCustomKeyStoreRequest) -> () = UpdateCustomKeyStore, update_custom_key_store_op;
}
