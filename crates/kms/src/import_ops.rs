//! Imported key material (origin EXTERNAL): GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, and the expiry of imported material.
//!
//! The import token is stateless: the fresh RSA wrapping key's private half, the wrapping
//! algorithm and the token's expiry, sealed (AES-256-GCM) under a key derived from the
//! persistent marker key with the key id as authenticated data. A token therefore works only
//! for its key, survives restarts for its 24 hours, and holds nothing readable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_crypto::aead::{self, Nonce, NONCE_LEN};
use coffer_crypto::asym::{AsymmetricAlgorithm, KeyRole, OaepHash, PrivateKey};
use coffer_crypto::SecretBytes;
use coffer_keys::{
    AlgorithmSpec, BackingKey, ExpirationModel, KeySpec, KeyState, MaterialKind, Origin,
    WrappingKeySpec,
};

use crate::admission::{Gate, Target};
use crate::audit::Call;
use crate::authz::Access;
use crate::model::*;
use crate::{Caller, Error, Kms};

/// How long GetParametersForImport's wrapping key and token are valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The latest ValidTo ImportKeyMaterial accepts, from the request's time (AWS: 365 days).
const MAX_VALID_FOR: Duration = Duration::from_secs(365 * 24 * 3600);
const TOKEN_VERSION: u8 = 1;
const TOKEN_LABEL: &[u8] = b"coffer/import-token/v1";

impl Kms {
    /// A fresh RSA wrapping key and an import token for a key of origin EXTERNAL.
    pub(crate) fn get_parameters_for_import_op(
        &self,
        caller: &Caller,
        req: GetParametersForImportRequest,
        call: &Call<'_>,
    ) -> Result<GetParametersForImportResponse, Error> {
        let algorithm = req
            .wrapping_algorithm
            .ok_or_else(|| null_member("wrappingAlgorithm"))?;
        let wrapping_spec = req
            .wrapping_key_spec
            .ok_or_else(|| null_member("wrappingKeySpec"))?;
        let extra = [
            ("kms:WrappingAlgorithm", algorithm.as_str()),
            ("kms:WrappingKeySpec", wrapping_spec.as_str()),
        ];
        let access = Access {
            extra: &extra,
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(&req.key_id))?;
        let record = &key.record;
        external_only(record)?;
        let rsa = match wrapping_spec {
            WrappingKeySpec::Rsa2048 => AsymmetricAlgorithm::Rsa2048,
            WrappingKeySpec::Rsa3072 => AsymmetricAlgorithm::Rsa3072,
            WrappingKeySpec::Rsa4096 => AsymmetricAlgorithm::Rsa4096,
            _ => {
                return Err(Error::unsupported(format!(
                    "The wrapping key spec {wrapping_spec} is not supported by coffer (SM2 is offered only in the China regions)."
                )))
            }
        };
        check_wrapping(algorithm, record.key_spec)?;
        let wrapping = PrivateKey::generate(rsa, KeyRole::Decrypt).map_err(Error::internal)?;
        let valid_to = self.clock.now() + TOKEN_LIFETIME;
        let import_token = self.seal_token(&record.key_id, algorithm, valid_to, &wrapping)?;
        Ok(GetParametersForImportResponse {
            key_id: key.arn.clone(),
            import_token,
            public_key: wrapping.public_key_der().to_vec(),
            parameters_valid_to: valid_to,
        })
    }

    /// Imports material wrapped with GetParametersForImport's public key: the key becomes
    /// usable until the material expires or is deleted.
    pub(crate) fn import_key_material_op(
        &self,
        caller: &Caller,
        req: ImportKeyMaterialRequest,
        call: &Call<'_>,
    ) -> Result<ImportKeyMaterialResponse, Error> {
        let now = self.clock.now();
        let model = req
            .expiration_model
            .unwrap_or(ExpirationModel::KeyMaterialExpires);
        let valid_to = match (model, req.valid_to) {
            (ExpirationModel::KeyMaterialExpires, Some(t)) => {
                if t <= now || t > now + MAX_VALID_FOR {
                    return Err(Error::validation(
                        "ValidTo must be in the future and at most 365 days from now.",
                    ));
                }
                Some(t)
            }
            (ExpirationModel::KeyMaterialExpires, None) => return Err(Error::validation(
                "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES (the default).",
            )),
            (_, Some(_)) => {
                return Err(Error::validation(
                    "ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.",
                ))
            }
            (_, None) => None,
        };
        let valid_to_text = valid_to
            .map(|t| epoch_secs(t).to_string())
            .unwrap_or_default();
        let mut extra = vec![("kms:ExpirationModel", model.as_str())];
        if valid_to.is_some() {
            extra.push(("kms:ValidTo", valid_to_text.as_str()));
        }
        let access = Access {
            extra: &extra,
            ..Access::default()
        };
        let (record, version_id) =
            self.change_key_with(caller, call, &req.key_id, access, |record, txn| {
                external_only(record)?;
                let (algorithm, wrapping) =
                    self.open_token(&record.key_id, &req.import_token, now)?;
                let material =
                    unwrap_material(algorithm, &wrapping, req.encrypted_key_material.expose())?;
                let kind = MaterialKind::of(record.key_spec, record.key_usage)
                    .ok_or_else(|| Error::unsupported("This key's spec cannot be imported."))?;
                check_material_size(record.key_spec, &material)?;
                let version = BackingKey::from_imported(&record.key_id, kind, material, now)
                    .map_err(|_| {
                        Error::validation(format!(
                            "The key material is not a valid {} key for this key's spec and usage.",
                            record.key_spec
                        ))
                    })?;
                let version_id = version.id;
                let wrapped = version
                    .wrap(&record.key_id, &*self.root)
                    .map_err(Error::internal)?;
                if let Some(first) = record.imported_material {
                    if first != version_id {
                        return Err(Error::incorrect_key_material(
                        "The key material is not the material this key was first imported with.",
                    ));
                    }
                }
                if !txn.versions(&record.key_id)?.is_empty() {
                    // The same material again: only its expiry changes (AWS: reimport to change it).
                    txn.delete_versions(&record.key_id)?;
                }
                txn.add_version(&record.key_id, &wrapped)?;
                record.imported_material = Some(version_id);
                record.current_version = version_id;
                record.expiration_model = Some(model);
                record.valid_to = valid_to;
                if record.state == KeyState::PendingImport {
                    record.state = KeyState::Enabled;
                }
                Ok(version_id)
            })?;
        Ok(ImportKeyMaterialResponse {
            key_id: record.arn(),
            key_material_id: version_id.to_hex(),
        })
    }

    /// Deletes a key's imported material: the key returns to PendingImport, and the same
    /// material may be imported again.
    pub(crate) fn delete_imported_key_material_op(
        &self,
        caller: &Caller,
        req: DeleteImportedKeyMaterialRequest,
        call: &Call<'_>,
    ) -> Result<ImportKeyMaterialResponse, Error> {
        let (record, material_id) = self.change_key(caller, call, &req.key_id, |record, txn| {
            if !matches!(
                record.state,
                KeyState::Enabled
                    | KeyState::Disabled
                    | KeyState::PendingImport
                    | KeyState::PendingDeletion
            ) {
                return Err(Error::invalid_state(format!(
                    "{} is {}.",
                    record.arn(),
                    record.state
                )));
            }
            external_only(record)?;
            let id = record
                .imported_material
                .map(|v| v.to_hex())
                .unwrap_or_default();
            delete_material(record, txn)?;
            Ok(id)
        })?;
        Ok(ImportKeyMaterialResponse {
            key_id: record.arn(),
            key_material_id: material_id,
        })
    }

    fn token_key(&self) -> Result<coffer_crypto::SymmetricKey, Error> {
        self.markers.derive(TOKEN_LABEL).map_err(Error::internal)
    }

    fn seal_token(
        &self,
        key_id: &coffer_core::KeyId,
        algorithm: AlgorithmSpec,
        valid_to: SystemTime,
        wrapping: &PrivateKey,
    ) -> Result<Vec<u8>, Error> {
        let der = wrapping.encoded().expose();
        let mut body = SecretBytes::with_capacity(1 + 1 + 1 + 8 + der.len());
        body.extend_from_slice(&[
            TOKEN_VERSION,
            algorithm_code(algorithm),
            rsa_code(wrapping.algorithm()),
        ]);
        body.extend_from_slice(&epoch_secs(valid_to).to_be_bytes());
        body.extend_from_slice(der);
        let nonce = Nonce::random(self.rng.as_ref())?;
        let sealed = aead::seal(
            &self.token_key()?,
            &nonce,
            &token_aad(key_id),
            body.expose(),
        )?;
        let mut token = Vec::with_capacity(NONCE_LEN + sealed.len());
        token.extend_from_slice(nonce.as_bytes());
        token.extend_from_slice(&sealed);
        Ok(token)
    }

    fn open_token(
        &self,
        key_id: &coffer_core::KeyId,
        token: &[u8],
        now: SystemTime,
    ) -> Result<(AlgorithmSpec, PrivateKey), Error> {
        let invalid = || {
            Error::invalid_import_token(
                "The import token is not valid for this key (it was made for another key, or changed).",
            )
        };
        if token.len() <= NONCE_LEN {
            return Err(invalid());
        }
        let (n, sealed) = token.split_at(NONCE_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(n);
        let body = aead::open(
            &self.token_key()?,
            &Nonce::from_bytes(nonce),
            &token_aad(key_id),
            sealed,
        )
        .map_err(|_| invalid())?;
        let b = body.expose();
        let (Some(&version), Some(&alg), Some(&rsa)) = (b.first(), b.get(1), b.get(2)) else {
            return Err(invalid());
        };
        let mut secs = [0u8; 8];
        secs.copy_from_slice(b.get(3..11).ok_or_else(invalid)?);
        if version != TOKEN_VERSION {
            return Err(invalid());
        }
        if now >= UNIX_EPOCH + Duration::from_secs(u64::from_be_bytes(secs)) {
            return Err(Error::expired_import_token(
                "The import token has expired: call GetParametersForImport again.",
            ));
        }
        let algorithm = AlgorithmSpec::ALL
            .get(usize::from(alg))
            .copied()
            .ok_or_else(invalid)?;
        let rsa = [
            AsymmetricAlgorithm::Rsa2048,
            AsymmetricAlgorithm::Rsa3072,
            AsymmetricAlgorithm::Rsa4096,
        ]
        .get(usize::from(rsa))
        .copied()
        .ok_or_else(invalid)?;
        let der = SecretBytes::copy_from(b.get(11..).ok_or_else(invalid)?);
        let wrapping =
            PrivateKey::from_encoded(rsa, KeyRole::Decrypt, der).map_err(|_| invalid())?;
        Ok((algorithm, wrapping))
    }

    /// Deletes imported material that has expired (the maintenance sweep).
    pub(crate) fn expire_material(
        &self,
        record: &mut coffer_keys::KeyRecord,
        txn: &mut dyn coffer_store::Txn,
        now: SystemTime,
    ) -> Result<bool, Error> {
        let has_material = !txn.versions(&record.key_id)?.is_empty();
        match record.valid_to {
            Some(t) if t <= now && has_material => {
                delete_material(record, txn)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Removes a key's material and returns it to PendingImport (the record keeps the material's
/// id, so only the same material can come back). A key pending deletion stays pending deletion,
/// with its date: losing its material does not cancel its deletion.
fn delete_material(
    record: &mut coffer_keys::KeyRecord,
    txn: &mut dyn coffer_store::Txn,
) -> Result<(), Error> {
    txn.delete_versions(&record.key_id)?;
    if record.state != KeyState::PendingDeletion {
        record.state = KeyState::PendingImport;
    }
    record.expiration_model = None;
    record.valid_to = None;
    Ok(())
}

fn external_only(record: &coffer_keys::KeyRecord) -> Result<(), Error> {
    if record.origin != Origin::External {
        return Err(Error::unsupported(format!(
            "{} origin is {} which is not valid for this operation.",
            record.arn(),
            record.origin
        )));
    }
    Ok(())
}

/// AWS's rules on wrapping algorithms: PKCS #1 v1.5 is no longer accepted; RSA and ML-DSA
/// private keys are too large for RSA-OAEP alone and need RSA_AES_KEY_WRAP.
fn check_wrapping(algorithm: AlgorithmSpec, spec: KeySpec) -> Result<(), Error> {
    match algorithm {
        AlgorithmSpec::RsaesPkcs1V15 => Err(Error::validation(
            "The wrapping algorithm RSAES_PKCS1_V1_5 is no longer supported: use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.",
        )),
        AlgorithmSpec::Sm2Pke => Err(Error::unsupported(
            "The wrapping algorithm SM2PKE is not supported by coffer (it is offered only in the China regions).",
        )),
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaesOaepSha256
            if matches!(
                spec,
                KeySpec::Rsa2048
                    | KeySpec::Rsa3072
                    | KeySpec::Rsa4096
                    | KeySpec::MlDsa44
                    | KeySpec::MlDsa65
                    | KeySpec::MlDsa87
            ) =>
        {
            Err(Error::validation(format!(
                "The wrapping algorithm {algorithm} cannot wrap {spec} key material: use RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256."
            )))
        }
        _ if matches!(spec, KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024) => {
            Err(Error::unsupported(format!(
                "Importing {spec} key material is not supported by this coffer release."
            )))
        }
        _ => Ok(()),
    }
}

/// The material sizes AWS accepts: 32 bytes for SYMMETRIC_DEFAULT; for an HMAC key at least
/// its hash's length and at most 64 bytes.
fn check_material_size(spec: KeySpec, material: &SecretBytes) -> Result<(), Error> {
    let len = material.len();
    let ok = match spec {
        KeySpec::SymmetricDefault => len == 32,
        s if s.is_hmac() => s.hmac_key_len().is_some_and(|min| len >= min) && len <= 64,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "The key material is {len} bytes, which is not a valid length for KeySpec {spec}."
        )))
    }
}

/// Unwraps the material: RSA-OAEP directly, or RSA-OAEP of an AES-256 key followed by AES key
/// wrap with padding of the material. Any failure is InvalidCiphertextException, with no
/// detail (no padding oracle).
fn unwrap_material(
    algorithm: AlgorithmSpec,
    wrapping: &PrivateKey,
    wrapped: &[u8],
) -> Result<SecretBytes, Error> {
    let invalid = || Error::invalid_ciphertext("");
    let modulus = wrapping.algorithm().rsa_modulus_len().unwrap_or(0);
    match algorithm {
        AlgorithmSpec::RsaesOaepSha1 => wrapping.decrypt_oaep(OaepHash::Sha1, wrapped),
        AlgorithmSpec::RsaesOaepSha256 => wrapping.decrypt_oaep(OaepHash::Sha256, wrapped),
        AlgorithmSpec::RsaAesKeyWrapSha1 | AlgorithmSpec::RsaAesKeyWrapSha256 => {
            let hash = if algorithm == AlgorithmSpec::RsaAesKeyWrapSha1 {
                OaepHash::Sha1
            } else {
                OaepHash::Sha256
            };
            if wrapped.len() <= modulus {
                return Err(invalid());
            }
            let (head, body) = wrapped.split_at(modulus);
            let kek = wrapping.decrypt_oaep(hash, head).map_err(|_| invalid())?;
            if kek.len() != 32 {
                return Err(invalid());
            }
            coffer_crypto::keywrap::aes_kwp_unwrap(kek.expose(), body)
        }
        _ => return Err(invalid()),
    }
    .map_err(|_| invalid())
}

fn token_aad(key_id: &coffer_core::KeyId) -> Vec<u8> {
    let mut aad = TOKEN_LABEL.to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

fn algorithm_code(algorithm: AlgorithmSpec) -> u8 {
    AlgorithmSpec::ALL
        .iter()
        .position(|a| *a == algorithm)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

fn rsa_code(algorithm: AsymmetricAlgorithm) -> u8 {
    match algorithm {
        AsymmetricAlgorithm::Rsa2048 => 0,
        AsymmetricAlgorithm::Rsa3072 => 1,
        _ => 2,
    }
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn null_member(field: &str) -> Error {
    Error::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}
