//! Symmetric cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(+
//! WithoutPlaintext), GenerateRandom.

use coffer_core::EncryptionContext;

use crate::Caller;
use coffer_crypto::asym;
use coffer_crypto::SecretBytes;
use coffer_keys::{blob, EncryptionAlgorithmSpec, KeyError, KeyUsage, MacAlgorithmSpec};

use crate::admission::{Gate, Target};
use crate::audit::{Admitted, Call};
use crate::authz::{Access, Action};
use crate::kms::CachedKey;
use crate::model::*;
use crate::validate::{self, field_error};
use crate::{Error, Kms, Operation};

/// Longest MAC VerifyMac takes (the service model's bound on `Mac`).
const MAX_MAC_LEN: usize = 6144;

/// Most bytes GenerateDataKey and GenerateRandom produce.
const MAX_GENERATED_BYTES: u32 = 1024;

impl Kms {
    /// Encrypts up to 4096 bytes under a symmetric key, binding the encryption context.
    pub(crate) fn encrypt_op(
        &self,
        caller: &Caller,
        req: EncryptRequest,
        call: &Call<'_>,
    ) -> Result<EncryptResponse, Error> {
        let op = Operation::Encrypt;
        let len = req.plaintext.len();
        if len == 0 || len > validate::MAX_PLAINTEXT {
            return Err(field_error(
                "plaintext",
                "Member must have length between 1 and 4096",
            ));
        }
        validate::context(&req.encryption_context, "encryptionContext")?;
        validate::grant_tokens(&req.grant_tokens)?;
        let access = crypto_access(
            &req.encryption_context,
            &req.grant_tokens,
            req.encryption_algorithm,
        );
        let key = self.admit(call, caller, Gate::with(access), Target::Named(&req.key_id))?;
        let algorithm = check_encryption(&key, op, req.encryption_algorithm)?;
        check_context_fits(algorithm, &req.encryption_context, "encryptionContext")?;
        if req.dry_run {
            return Err(dry_run());
        }
        let ciphertext_blob = self.encrypt_with(
            &key,
            algorithm,
            req.plaintext.expose(),
            &req.encryption_context,
        )?;
        Ok(EncryptResponse {
            ciphertext_blob,
            key_id: key.arn.clone(),
            encryption_algorithm: algorithm,
        })
    }

    /// Decrypts a ciphertext blob. The blob names its key, so `key_id` is optional; when given
    /// it must name that key.
    pub(crate) fn decrypt_op(
        &self,
        caller: &Caller,
        req: DecryptRequest,
        call: &Call<'_>,
    ) -> Result<DecryptResponse, Error> {
        let op = Operation::Decrypt;
        validate::ciphertext(&req.ciphertext_blob)?;
        validate::context(&req.encryption_context, "encryptionContext")?;
        validate::grant_tokens(&req.grant_tokens)?;
        let access = crypto_access(
            &req.encryption_context,
            &req.grant_tokens,
            req.encryption_algorithm,
        );
        if let Some(hash) = req.encryption_algorithm.and_then(oaep_hash) {
            // An RSA-OAEP ciphertext names no key: the request must.
            let key_id = req.key_id.as_deref().ok_or_else(asymmetric_needs_key_id)?;
            let key = self.admit(call, caller, Gate::with(access), Target::Named(key_id))?;
            let algorithm = check_encryption(&key, op, req.encryption_algorithm)?;
            check_context_fits(algorithm, &req.encryption_context, "encryptionContext")?;
            if req.dry_run {
                return Err(dry_run());
            }
            let plaintext = decrypt_oaep(&key, hash, &req.ciphertext_blob)?;
            return Ok(DecryptResponse {
                key_id: key.arn.clone(),
                plaintext,
                encryption_algorithm: algorithm,
                key_material_id: None,
            });
        }
        let parsed = match (blob::parse(&req.ciphertext_blob), req.key_id.as_deref()) {
            (Ok(parsed), _) => parsed,
            (Err(_), None) => return Err(invalid_ciphertext()),
            (Err(_), Some(key_id)) => {
                // Not a coffer blob, but the caller named a key: authorize it first, then the
                // named key decides, as AWS answers: SYMMETRIC_DEFAULT (the default) does not
                // fit an asymmetric key (InvalidKeyUsage); for a symmetric key the blob is bad.
                let key = self.admit(call, caller, Gate::with(access), Target::Named(key_id))?;
                check_encryption(&key, op, req.encryption_algorithm)?;
                return Err(invalid_ciphertext());
            }
        };
        let key = self.admit(
            call,
            caller,
            Gate::with(access),
            Target::Blob {
                key_id: parsed.key_id,
                expected: req.key_id.as_deref(),
            },
        )?;
        let algorithm = check_encryption(&key, op, req.encryption_algorithm)?;
        if req.dry_run {
            return Err(dry_run());
        }
        let plaintext = self.open(&key, &parsed, &req.encryption_context)?;
        Ok(DecryptResponse {
            key_id: key.arn.clone(),
            plaintext,
            encryption_algorithm: algorithm,
            key_material_id: Some(if parsed.version == key.record.current_version {
                key.current_material_id.clone()
            } else {
                parsed.version.to_hex().into()
            }),
        })
    }

    /// Decrypts under one key and context and encrypts under another, without the plaintext
    /// leaving the service.
    pub(crate) fn re_encrypt_op(
        &self,
        caller: &Caller,
        req: ReEncryptRequest,
        call: &Call<'_>,
    ) -> Result<ReEncryptResponse, Error> {
        validate::ciphertext(&req.ciphertext_blob)?;
        validate::context(&req.source_encryption_context, "sourceEncryptionContext")?;
        validate::context(
            &req.destination_encryption_context,
            "destinationEncryptionContext",
        )?;
        validate::grant_tokens(&req.grant_tokens)?;
        // kms:ReEncryptOnSameKey is part of both authorizations: know both keys first.
        let source_oaep = req.source_encryption_algorithm.and_then(oaep_hash);
        let (parsed, source_target) = re_encrypt_source(&req, source_oaep)?;
        let source_id = match (&parsed, &source_target) {
            (Some(p), _) => Some(p.key_id),
            (None, Target::Named(name)) => self
                .resolve_key(caller, name, Operation::ReEncrypt)
                .ok()
                .map(|k| k.record.key_id),
            _ => None,
        };
        // The destination's resolution error (a missing key or alias) is reported only after
        // the source is authorized, so a caller with no right to the ciphertext learns nothing
        // about which destinations exist.
        let destination = self.resolve_key(caller, &req.destination_key_id, Operation::ReEncrypt);
        let same_key = [(
            "kms:ReEncryptOnSameKey",
            if destination
                .as_ref()
                .is_ok_and(|d| Some(d.record.key_id) == source_id)
            {
                "true"
            } else {
                "false"
            },
        )];
        let source = self.admit(
            call,
            caller,
            Gate::with(Access {
                extra: &same_key,
                ..crypto_access(
                    &req.source_encryption_context,
                    &req.grant_tokens,
                    req.source_encryption_algorithm,
                )
            })
            .action(Action::ReEncryptFrom),
            source_target,
        )?;
        // One ReEncrypt is one request: the quota was charged with the source key, and the
        // destination is admitted without a second charge.
        let destination = destination?;
        let destination = self.admit(
            call,
            caller,
            Gate::with(Access {
                extra: &same_key,
                ..crypto_access(
                    &req.destination_encryption_context,
                    &req.grant_tokens,
                    req.destination_encryption_algorithm,
                )
            })
            .action(Action::ReEncryptTo),
            Target::Loaded(destination, Some(&req.destination_key_id)),
        )?;
        let source_alg = re_encryption_algorithm(
            &source,
            req.source_encryption_algorithm,
            &req.source_encryption_context,
            "sourceEncryptionContext",
        )?;
        let dest_alg = re_encryption_algorithm(
            &destination,
            req.destination_encryption_algorithm,
            &req.destination_encryption_context,
            "destinationEncryptionContext",
        )?;
        if req.dry_run {
            return Err(dry_run());
        }
        let plaintext = match (&parsed, source_oaep) {
            (Some(p), _) => self.open(&source, p, &req.source_encryption_context)?,
            (None, Some(hash)) => decrypt_oaep(&source, hash, &req.ciphertext_blob)?,
            (None, None) => return Err(invalid_ciphertext()),
        };
        let ciphertext_blob = self.encrypt_with(
            &destination,
            dest_alg,
            plaintext.expose(),
            &req.destination_encryption_context,
        )?;
        Ok(ReEncryptResponse {
            ciphertext_blob,
            source_key_id: source.arn.clone(),
            key_id: destination.arn.clone(),
            source_encryption_algorithm: source_alg,
            destination_encryption_algorithm: dest_alg,
        })
    }

    /// Generates a data key and returns it both in plaintext and wrapped under the key.
    pub(crate) fn generate_data_key_op(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
        call: &Call<'_>,
    ) -> Result<GenerateDataKeyResponse, Error> {
        let (key, plaintext, ciphertext_blob) = self.data_key(caller, call, &req)?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob,
            plaintext,
            key_id: key.arn.clone(),
        })
    }

    /// Generates a data key and returns it only wrapped under the key.
    pub(crate) fn generate_data_key_without_plaintext_op(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
        call: &Call<'_>,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, Error> {
        let (key, _plaintext, ciphertext_blob) = self.data_key(caller, call, &req)?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob,
            key_id: key.arn.clone(),
        })
    }

    /// The HMAC of a 1–4096-byte message under an HMAC key.
    pub(crate) fn generate_mac_op(
        &self,
        caller: &Caller,
        req: GenerateMacRequest,
        call: &Call<'_>,
    ) -> Result<GenerateMacResponse, Error> {
        let (key, algorithm, mac) = self.mac(
            caller,
            call,
            &req.key_id,
            &req.message,
            req.mac_algorithm,
            &req.grant_tokens,
            req.dry_run,
        )?;
        Ok(GenerateMacResponse {
            mac,
            mac_algorithm: algorithm,
            key_id: key.arn.clone(),
        })
    }

    /// Verifies an HMAC made by GenerateMac; an invalid MAC is `KMSInvalidMacException`.
    pub(crate) fn verify_mac_op(
        &self,
        caller: &Caller,
        req: VerifyMacRequest,
        call: &Call<'_>,
    ) -> Result<VerifyMacResponse, Error> {
        if req.mac.is_empty() || req.mac.len() > MAX_MAC_LEN {
            return Err(field_error(
                "mac",
                "Member must have length between 1 and 6144",
            ));
        }
        let (key, algorithm, expected) = self.mac(
            caller,
            call,
            &req.key_id,
            &req.message,
            req.mac_algorithm,
            &req.grant_tokens,
            req.dry_run,
        )?;
        if !coffer_crypto::constant_time_eq(&expected, &req.mac) {
            // No detail: which byte differed is what a forger wants.
            return Err(Error::invalid_mac(""));
        }
        Ok(VerifyMacResponse {
            key_id: key.arn.clone(),
            mac_valid: true,
            mac_algorithm: algorithm,
        })
    }

    /// GenerateMac and VerifyMac (the call's operation): validate, admit, check the key's
    /// usage and algorithm, and compute the MAC.
    #[allow(clippy::too_many_arguments)] // the members the two requests share
    fn mac<'c>(
        &self,
        caller: &Caller,
        call: &'c Call<'_>,
        key_id: &str,
        message: &[u8],
        algorithm: Option<MacAlgorithmSpec>,
        grant_tokens: &[String],
        only_check: bool,
    ) -> Result<(Admitted<'c>, MacAlgorithmSpec, Vec<u8>), Error> {
        let op = call.op();
        if message.is_empty() || message.len() > validate::MAX_PLAINTEXT {
            return Err(field_error(
                "message",
                "Member must have length between 1 and 4096",
            ));
        }
        let algorithm = algorithm.ok_or_else(|| {
            Error::validation(
                "1 validation error detected: Value null at 'macAlgorithm' failed to satisfy constraint: Member must not be null",
            )
        })?;
        validate::grant_tokens(grant_tokens)?;
        let extra = [("kms:MacAlgorithm", algorithm.as_str())];
        let access = Access {
            grant_tokens,
            extra: &extra,
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(key_id))?;
        if key.record.key_usage != KeyUsage::GenerateVerifyMac {
            return Err(Error::invalid_key_usage(format!(
                "{} key usage is {} which is not valid for {}.",
                key.arn,
                key.record.key_usage,
                op.as_str()
            )));
        }
        if !key.record.key_spec.mac_algorithms().contains(&algorithm) {
            return Err(Error::invalid_key_usage(format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                key.record.key_spec
            )));
        }
        if only_check {
            return Err(dry_run());
        }
        let mac = key
            .material
            .mac(algorithm, message)
            .map_err(Error::internal)?;
        Ok((key, algorithm, mac))
    }

    /// Returns 1–1024 random bytes from the service's random source.
    pub(crate) fn generate_random_op(
        &self,
        caller: &Caller,
        req: GenerateRandomRequest,
        call: &Call<'_>,
    ) -> Result<GenerateRandomResponse, Error> {
        let n = req
            .number_of_bytes
            .filter(|n| (1..=MAX_GENERATED_BYTES).contains(n))
            .ok_or_else(|| field_error("numberOfBytes", "Member must be between 1 and 1024"))?;
        self.admit_without_key(call, caller, Gate::default())?;
        let plaintext = SecretBytes::random(self.rng.as_ref(), n as usize)?;
        Ok(GenerateRandomResponse { plaintext })
    }

    /// GenerateDataKey and GenerateDataKeyWithoutPlaintext (the call's operation).
    fn data_key<'c>(
        &self,
        caller: &Caller,
        call: &'c Call<'_>,
        req: &GenerateDataKeyRequest,
    ) -> Result<(Admitted<'c>, SecretBytes, Vec<u8>), Error> {
        let op = call.op();
        let len = match (req.number_of_bytes, req.key_spec) {
            (Some(n), None) if (1..=MAX_GENERATED_BYTES).contains(&n) => n as usize,
            (Some(_), None) => {
                return Err(field_error(
                    "numberOfBytes",
                    "Member must be between 1 and 1024",
                ))
            }
            (None, Some(spec)) => spec.len(),
            _ => {
                return Err(Error::validation(
                    "Please specify either number of bytes or key spec.",
                ))
            }
        };
        validate::context(&req.encryption_context, "encryptionContext")?;
        validate::grant_tokens(&req.grant_tokens)?;
        let access = Access {
            encryption_context: Some(&req.encryption_context),
            encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault.as_str()),
            grant_tokens: &req.grant_tokens,
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(&req.key_id))?;
        check_encryption(&key, op, None)?;
        if req.dry_run {
            return Err(dry_run());
        }
        let plaintext = SecretBytes::random(self.rng.as_ref(), len)?;
        let blob = self.seal(&key, plaintext.expose(), &req.encryption_context)?;
        Ok((key, plaintext, blob))
    }

    /// Encrypts under `key` with `algorithm`: a symmetric blob, or RSA-OAEP to the key's
    /// public key (the plaintext within the key's OAEP limit).
    fn encrypt_with(
        &self,
        key: &CachedKey,
        algorithm: EncryptionAlgorithmSpec,
        plaintext: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Vec<u8>, Error> {
        let Some(hash) = oaep_hash(algorithm) else {
            return self.seal(key, plaintext, ctx);
        };
        let private = key.material.private().map_err(Error::internal)?;
        let max = private.algorithm().oaep_max_plaintext(hash).unwrap_or(0);
        if plaintext.len() > max {
            return Err(Error::validation(format!(
                "Plaintext is too long for {algorithm} with key spec {}: at most {max} bytes.",
                key.record.key_spec
            )));
        }
        asym::encrypt_oaep(private.public_key_der(), hash, plaintext).map_err(Error::internal)
    }

    pub(crate) fn seal(
        &self,
        key: &CachedKey,
        plaintext: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Vec<u8>, Error> {
        if let Some(token) = &key.token {
            return self.token_seal(&key.arn, &key.record.key_id, token, plaintext, ctx);
        }
        key.material
            .seal(plaintext, ctx, self.rng.as_ref())
            .map_err(Error::internal)
    }
}

/// What an Encrypt or Decrypt tells authorization.
/// ReEncrypt's source: a symmetric ciphertext names its key (SourceKeyId, when given, must name
/// it too); an RSA-OAEP one does not, and SourceKeyId must.
fn re_encrypt_source(
    req: &ReEncryptRequest,
    oaep: Option<asym::OaepHash>,
) -> Result<(Option<blob::Blob<'_>>, Target<'_>), Error> {
    match oaep {
        None => {
            let parsed = blob::parse(&req.ciphertext_blob).map_err(|_| invalid_ciphertext())?;
            let target = Target::Blob {
                key_id: parsed.key_id,
                expected: req.source_key_id.as_deref(),
            };
            Ok((Some(parsed), target))
        }
        Some(_) => {
            let name = req
                .source_key_id
                .as_deref()
                .ok_or_else(asymmetric_needs_key_id)?;
            Ok((None, Target::Named(name)))
        }
    }
}

/// One side of ReEncrypt: its algorithm fits its key, and its context fits its algorithm.
fn re_encryption_algorithm(
    key: &CachedKey,
    algorithm: Option<EncryptionAlgorithmSpec>,
    context: &EncryptionContext,
    field: &str,
) -> Result<EncryptionAlgorithmSpec, Error> {
    let algorithm = check_encryption(key, Operation::ReEncrypt, algorithm)?;
    check_context_fits(algorithm, context, field)?;
    Ok(algorithm)
}

fn crypto_access<'a>(
    context: &'a EncryptionContext,
    grant_tokens: &'a [String],
    algorithm: Option<EncryptionAlgorithmSpec>,
) -> Access<'a> {
    Access {
        encryption_context: Some(context),
        grant_tokens,
        encryption_algorithm: Some(
            algorithm
                .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
                .as_str(),
        ),
        ..Access::default()
    }
}

/// Checks usage and algorithm for an encryption operation (admission checked the key's
/// state): the algorithm (SYMMETRIC_DEFAULT when absent) must be one the key's spec allows.
pub(crate) fn check_encryption(
    key: &CachedKey,
    op: Operation,
    algorithm: Option<EncryptionAlgorithmSpec>,
) -> Result<EncryptionAlgorithmSpec, Error> {
    let record = &key.record;
    if record.key_usage != KeyUsage::EncryptDecrypt {
        return Err(Error::invalid_key_usage(format!(
            "{} key usage is {} which is not valid for {}.",
            key.arn,
            record.key_usage,
            op.as_str()
        )));
    }
    let algorithm = algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    if !record
        .key_spec
        .encryption_algorithms(record.key_usage)
        .contains(&algorithm)
    {
        return Err(Error::invalid_key_usage(format!(
            "The encryption algorithm {algorithm} is not supported by {} (key spec {}).",
            key.arn, record.key_spec
        )));
    }
    Ok(algorithm)
}

/// Asymmetric encryption binds no encryption context (AWS refuses one).
fn check_context_fits(
    algorithm: EncryptionAlgorithmSpec,
    context: &EncryptionContext,
    field: &str,
) -> Result<(), Error> {
    if algorithm != EncryptionAlgorithmSpec::SymmetricDefault && !context.is_empty() {
        return Err(Error::validation(format!(
            "The {field} parameter is not supported with the encryption algorithm {algorithm}: asymmetric encryption binds no encryption context."
        )));
    }
    Ok(())
}

/// The OAEP hash of an RSA encryption algorithm.
fn oaep_hash(algorithm: EncryptionAlgorithmSpec) -> Option<asym::OaepHash> {
    match algorithm {
        EncryptionAlgorithmSpec::RsaesOaepSha1 => Some(asym::OaepHash::Sha1),
        EncryptionAlgorithmSpec::RsaesOaepSha256 => Some(asym::OaepHash::Sha256),
        _ => None,
    }
}

fn asymmetric_needs_key_id() -> Error {
    Error::validation(
        "KeyId is required when decrypting with an asymmetric encryption algorithm: the ciphertext does not name its key.",
    )
}

fn decrypt_oaep(
    key: &CachedKey,
    hash: asym::OaepHash,
    ciphertext: &[u8],
) -> Result<SecretBytes, Error> {
    let private = key.material.private().map_err(Error::internal)?;
    // No detail on failure: an OAEP decryption oracle is what Manger's attack needs.
    private
        .decrypt_oaep(hash, ciphertext)
        .map_err(|_| invalid_ciphertext())
}

impl Kms {
    /// Opens a symmetric blob under `key`: in its token for a key in a custom key store.
    fn open(
        &self,
        key: &CachedKey,
        parsed: &blob::Blob<'_>,
        ctx: &EncryptionContext,
    ) -> Result<SecretBytes, Error> {
        if let Some(token) = &key.token {
            return self.token_open(&key.arn, token, parsed, ctx);
        }
        key.material.open(parsed, ctx).map_err(|e| match e {
            KeyError::InvalidCiphertext | KeyError::UnknownVersion | KeyError::Context(_) => {
                invalid_ciphertext()
            }
            other => Error::internal(other),
        })
    }
}

fn invalid_ciphertext() -> Error {
    // No detail: which check failed is what a padding-oracle style attacker wants.
    Error::invalid_ciphertext("")
}

fn dry_run() -> Error {
    Error::dry_run("The request would have succeeded, but the DryRun flag is set.")
}
