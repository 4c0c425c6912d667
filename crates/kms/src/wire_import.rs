//! The wire shapes of the import operations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::{decode, encode, enumeration, required, unsupported_member, Blob, SecretBlob};
use super::{WireRequest, WireResponse};
use crate::model::*;
use crate::{Error, Operation};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ParametersIn {
    key_id: Option<String>,
    wrapping_algorithm: Option<String>,
    wrapping_key_spec: Option<String>,
}

request!(GetParametersForImportRequest, ParametersIn, |_, i| Ok(
    GetParametersForImportRequest {
        key_id: required("keyId", i.key_id)?,
        wrapping_algorithm: Some(required(
            "wrappingAlgorithm",
            enumeration("wrappingAlgorithm", i.wrapping_algorithm)?
        )?),
        wrapping_key_spec: Some(required(
            "wrappingKeySpec",
            enumeration("wrappingKeySpec", i.wrapping_key_spec)?
        )?),
    }
));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImportIn {
    key_id: Option<String>,
    import_token: Option<Blob>,
    encrypted_key_material: Option<SecretBlob>,
    valid_to: Option<f64>,
    expiration_model: Option<String>,
    import_type: Option<String>,
    key_material_description: Option<String>,
    key_material_id: Option<String>,
}

/// A timestamp member: epoch seconds (fractions allowed), as the JSON 1.1 protocol sends it.
fn timestamp(field: &str, v: Option<f64>) -> Result<Option<SystemTime>, Error> {
    v.map(|secs| {
        if secs.is_finite() && (0.0..1e11).contains(&secs) {
            Ok(UNIX_EPOCH + Duration::from_secs_f64(secs))
        } else {
            Err(Error::validation(format!(
                "1 validation error detected: Value at '{field}' is not a valid timestamp"
            )))
        }
    })
    .transpose()
}

request!(ImportKeyMaterialRequest, ImportIn, |op, i| {
    // Several materials per imported key (ImportType NEW_KEY_MATERIAL, on-demand rotation of
    // imported keys) are not in coffer yet: refused, never ignored.
    unsupported_member(
        op,
        "ImportType",
        i.import_type
            .as_deref()
            .is_some_and(|t| t != "EXISTING_KEY_MATERIAL"),
    )?;
    unsupported_member(
        op,
        "KeyMaterialDescription",
        i.key_material_description.is_some(),
    )?;
    unsupported_member(op, "KeyMaterialId", i.key_material_id.is_some())?;
    Ok(ImportKeyMaterialRequest {
        key_id: required("keyId", i.key_id)?,
        import_token: required("importToken", i.import_token)?.0,
        encrypted_key_material: required("encryptedKeyMaterial", i.encrypted_key_material)?.0,
        valid_to: timestamp("validTo", i.valid_to)?,
        expiration_model: enumeration("expirationModel", i.expiration_model)?,
    })
});

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteImportedIn {
    key_id: Option<String>,
    key_material_id: Option<String>,
}

request!(
    DeleteImportedKeyMaterialRequest,
    DeleteImportedIn,
    |op, i| {
        unsupported_member(op, "KeyMaterialId", i.key_material_id.is_some())?;
        Ok(DeleteImportedKeyMaterialRequest {
            key_id: required("keyId", i.key_id)?,
        })
    }
);

responses! {
    GetParametersForImportResponse,
    ImportKeyMaterialResponse,
}
