//! Requests and answers of the import operations: GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial.

use std::time::SystemTime;

use coffer_crypto::SecretBytes;
use coffer_keys::{AlgorithmSpec, ExpirationModel, WrappingKeySpec};

/// GetParametersForImport.
#[derive(Clone, Debug, Default)]
pub struct GetParametersForImportRequest {
    /// Key id or key ARN of a key of origin EXTERNAL.
    pub key_id: String,
    /// How the material will be wrapped (required).
    pub wrapping_algorithm: Option<AlgorithmSpec>,
    /// The wrapping key's size (required).
    pub wrapping_key_spec: Option<WrappingKeySpec>,
}

/// GetParametersForImport's answer: a fresh wrapping public key and the token that goes with
/// it, both valid for 24 hours. Its Debug leaves the token out (it seals the wrapping private
/// key).
#[derive(Clone)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct GetParametersForImportResponse {
    /// The key ARN.
    pub key_id: crate::KeyArn,
    /// Opaque; ImportKeyMaterial needs it.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub import_token: Vec<u8>,
    /// The wrapping public key, DER SubjectPublicKeyInfo.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_blob"))]
    pub public_key: Vec<u8>,
    /// When the token and the wrapping key expire.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub parameters_valid_to: SystemTime,
}

impl std::fmt::Debug for GetParametersForImportResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetParametersForImportResponse")
            .field("key_id", &self.key_id)
            .field("import_token", &"[redacted]")
            .field("public_key", &self.public_key.len())
            .field("parameters_valid_to", &self.parameters_valid_to)
            .finish()
    }
}

/// ImportKeyMaterial. Its Debug leaves the token and the material out.
#[derive(Clone, Default)]
pub struct ImportKeyMaterialRequest {
    /// Key id or key ARN of a key of origin EXTERNAL.
    pub key_id: String,
    /// From GetParametersForImport.
    pub import_token: Vec<u8>,
    /// The material wrapped with the token's public key and algorithm.
    pub encrypted_key_material: SecretBytes,
    /// When the material expires (required with KEY_MATERIAL_EXPIRES, refused otherwise).
    pub valid_to: Option<SystemTime>,
    /// Defaults to KEY_MATERIAL_EXPIRES, as AWS's does.
    pub expiration_model: Option<ExpirationModel>,
}

impl std::fmt::Debug for ImportKeyMaterialRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportKeyMaterialRequest")
            .field("key_id", &self.key_id)
            .field("import_token", &"[redacted]")
            .field("encrypted_key_material", &self.encrypted_key_material)
            .field("valid_to", &self.valid_to)
            .field("expiration_model", &self.expiration_model)
            .finish()
    }
}

/// ImportKeyMaterial's and DeleteImportedKeyMaterial's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ImportKeyMaterialResponse {
    /// The key ARN.
    pub key_id: String,
    /// The id of the imported material (derived from the key and the material).
    pub key_material_id: String,
}

/// DeleteImportedKeyMaterial.
#[derive(Clone, Debug, Default)]
pub struct DeleteImportedKeyMaterialRequest {
    /// Key id or key ARN of a key of origin EXTERNAL.
    pub key_id: String,
}
