//! Symmetric cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(+
//! WithoutPlaintext), GenerateRandom.

use std::sync::Arc;

use coffer_core::EncryptionContext;

use crate::Caller;
use coffer_crypto::SecretBytes;
use coffer_keys::{blob, EncryptionAlgorithmSpec, KeyError, KeySpec, KeyUsage};

use crate::audit::Call;
use crate::authz::{Access, Action};
use crate::kms::CachedKey;
use crate::model::*;
use crate::validate::{self, field_error};
use crate::{CheckState, Error, Kms, Operation};

/// Most bytes GenerateDataKey and GenerateRandom produce.
const MAX_GENERATED_BYTES: u32 = 1024;

impl Kms {
    /// Encrypts up to 4096 bytes under a symmetric key, binding the encryption context.
    pub(crate) fn encrypt_op(
        &self,
        caller: &Caller,
        req: EncryptRequest,
        _call: &Call<'_>,
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
        let key = self.key_for_with(caller, op, &req.key_id, &access)?;
        let algorithm = check_symmetric(&key, op, req.encryption_algorithm)?;
        if req.dry_run {
            return Err(dry_run());
        }
        let ciphertext_blob = self.seal(&key, req.plaintext.expose(), &req.encryption_context)?;
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
        _call: &Call<'_>,
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
        let (key, parsed) = self.key_of_blob(
            caller,
            op,
            Action::Op(op),
            &req.ciphertext_blob,
            req.key_id.as_deref(),
            &access,
        )?;
        let algorithm = check_symmetric(&key, op, req.encryption_algorithm)?;
        if req.dry_run {
            return Err(dry_run());
        }
        let plaintext = open(&key, &parsed, &req.encryption_context)?;
        Ok(DecryptResponse {
            key_id: key.arn.clone(),
            plaintext,
            encryption_algorithm: algorithm,
            key_material_id: parsed.version.to_hex(),
        })
    }

    /// Decrypts under one key and context and encrypts under another, without the plaintext
    /// leaving the service.
    pub(crate) fn re_encrypt_op(
        &self,
        caller: &Caller,
        req: ReEncryptRequest,
        _call: &Call<'_>,
    ) -> Result<ReEncryptResponse, Error> {
        validate::ciphertext(&req.ciphertext_blob)?;
        validate::context(&req.source_encryption_context, "sourceEncryptionContext")?;
        validate::context(
            &req.destination_encryption_context,
            "destinationEncryptionContext",
        )?;
        validate::grant_tokens(&req.grant_tokens)?;
        // kms:ReEncryptOnSameKey is part of both authorizations: know both keys first.
        let source_id = blob::parse(&req.ciphertext_blob)
            .map_err(|_| invalid_ciphertext())?
            .key_id;
        // The destination's resolution error (a missing key or alias) is reported only after
        // the source is authorized, so a caller with no right to the ciphertext learns nothing
        // about which destinations exist.
        let destination = self.resolve_key(caller, &req.destination_key_id, Operation::ReEncrypt);
        let same_key = [(
            "kms:ReEncryptOnSameKey",
            if destination
                .as_ref()
                .is_ok_and(|d| d.record.key_id == source_id)
            {
                "true"
            } else {
                "false"
            },
        )];
        let (source, parsed) = self.key_of_blob(
            caller,
            Operation::ReEncrypt,
            Action::ReEncryptFrom,
            &req.ciphertext_blob,
            req.source_key_id.as_deref(),
            &Access {
                encryption_context: Some(&req.source_encryption_context),
                encryption_algorithm: Some(
                    req.source_encryption_algorithm
                        .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
                        .as_str(),
                ),
                grant_tokens: &req.grant_tokens,
                extra: &same_key,
                ..Access::default()
            },
        )?;
        // One ReEncrypt is one request: the quota was charged with the source key.
        let destination = destination?;
        self.authorize(
            caller,
            Action::ReEncryptTo,
            &destination,
            &Access {
                encryption_context: Some(&req.destination_encryption_context),
                encryption_algorithm: Some(
                    req.destination_encryption_algorithm
                        .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
                        .as_str(),
                ),
                request_alias: crate::kms::request_alias(&req.destination_key_id),
                grant_tokens: &req.grant_tokens,
                extra: &same_key,
                ..Access::default()
            },
        )?;
        let source_alg = check_symmetric(
            &source,
            Operation::ReEncrypt,
            req.source_encryption_algorithm,
        )?;
        let dest_alg = check_symmetric(
            &destination,
            Operation::ReEncrypt,
            req.destination_encryption_algorithm,
        )?;
        if req.dry_run {
            return Err(dry_run());
        }
        let plaintext = open(&source, &parsed, &req.source_encryption_context)?;
        let ciphertext_blob = self.seal(
            &destination,
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
        _call: &Call<'_>,
    ) -> Result<GenerateDataKeyResponse, Error> {
        let (key, plaintext, ciphertext_blob) =
            self.data_key(caller, Operation::GenerateDataKey, &req)?;
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
        _call: &Call<'_>,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, Error> {
        let (key, _plaintext, ciphertext_blob) =
            self.data_key(caller, Operation::GenerateDataKeyWithoutPlaintext, &req)?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob,
            key_id: key.arn.clone(),
        })
    }

    /// Returns 1–1024 random bytes from the service's random source.
    pub(crate) fn generate_random_op(
        &self,
        caller: &Caller,
        req: GenerateRandomRequest,
        _call: &Call<'_>,
    ) -> Result<GenerateRandomResponse, Error> {
        let n = req
            .number_of_bytes
            .filter(|n| (1..=MAX_GENERATED_BYTES).contains(n))
            .ok_or_else(|| field_error("numberOfBytes", "Member must be between 1 and 1024"))?;
        self.charge(caller, Operation::GenerateRandom, None)?;
        self.authorize_identity(
            caller,
            Operation::GenerateRandom.action(),
            &Access::default(),
        )?;
        let plaintext = SecretBytes::random(self.rng.as_ref(), n as usize)?;
        Ok(GenerateRandomResponse { plaintext })
    }

    fn data_key(
        &self,
        caller: &Caller,
        op: Operation,
        req: &GenerateDataKeyRequest,
    ) -> Result<(Arc<CachedKey>, SecretBytes, Vec<u8>), Error> {
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
        let key = self.key_for_with(caller, op, &req.key_id, &access)?;
        check_symmetric(&key, op, None)?;
        if req.dry_run {
            return Err(dry_run());
        }
        let plaintext = SecretBytes::random(self.rng.as_ref(), len)?;
        let blob = self.seal(&key, plaintext.expose(), &req.encryption_context)?;
        Ok((key, plaintext, blob))
    }

    fn seal(
        &self,
        key: &CachedKey,
        plaintext: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Vec<u8>, Error> {
        key.material
            .seal(plaintext, ctx, self.rng.as_ref())
            .map_err(Error::internal)
    }

    /// The key a ciphertext blob names, authorized for `op`; `expected`, if given, must
    /// resolve to the same key.
    fn key_of_blob<'b>(
        &self,
        caller: &Caller,
        op: Operation,
        action: Action,
        ciphertext: &'b [u8],
        expected: Option<&str>,
        access: &Access<'_>,
    ) -> Result<(Arc<CachedKey>, blob::Blob<'b>), Error> {
        let parsed = blob::parse(ciphertext).map_err(|_| invalid_ciphertext())?;
        if let Some(expected) = expected {
            let (_, id) = self.resolve_id(caller, expected, op)?;
            if id != parsed.key_id {
                return Err(Error::incorrect_key(
                    "The key ID in the request does not identify a CMK that can perform this operation.",
                ));
            }
        }
        // The blob names a key id, not an account: it is found wherever it lives, and the
        // authorization step decides whether this caller may use it.
        let key = self
            .load(&parsed.key_id)?
            .ok_or_else(|| self.key_not_found(&caller.account, &parsed.key_id))?;
        let now = self.clock.now();
        self.charge_at(caller, op, Some(&key), now)?;
        self.check_cross_account(caller, op, &key)?;
        self.authorize(
            caller,
            action,
            &key,
            &Access {
                now: Some(now),
                ..*access
            },
        )?;
        Ok((key, parsed))
    }
}

/// What an Encrypt or Decrypt tells authorization.
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

/// Checks state, usage and algorithm for a symmetric encryption operation.
fn check_symmetric(
    key: &CachedKey,
    op: Operation,
    algorithm: Option<EncryptionAlgorithmSpec>,
) -> Result<EncryptionAlgorithmSpec, Error> {
    op.check_state(key.record.state, &key.arn)?;
    if key.record.key_usage != KeyUsage::EncryptDecrypt {
        return Err(Error::invalid_key_usage(format!(
            "{} key usage is {} which is not valid for {}.",
            key.arn,
            key.record.key_usage,
            op.as_str()
        )));
    }
    if key.record.key_spec != KeySpec::SymmetricDefault {
        return Err(Error::invalid_key_usage(format!(
            "{} key spec is {} which is not valid for {}.",
            key.arn,
            key.record.key_spec,
            op.as_str()
        )));
    }
    match algorithm {
        None | Some(EncryptionAlgorithmSpec::SymmetricDefault) => {
            Ok(EncryptionAlgorithmSpec::SymmetricDefault)
        }
        Some(other) => Err(Error::invalid_key_usage(format!(
            "The encryption algorithm {other} is not supported by {}.",
            key.arn
        ))),
    }
}

fn open(
    key: &CachedKey,
    parsed: &blob::Blob<'_>,
    ctx: &EncryptionContext,
) -> Result<SecretBytes, Error> {
    key.material.open(parsed, ctx).map_err(|e| match e {
        KeyError::InvalidCiphertext | KeyError::UnknownVersion | KeyError::Context(_) => {
            invalid_ciphertext()
        }
        other => Error::internal(other),
    })
}

fn invalid_ciphertext() -> Error {
    // No detail: which check failed is what a padding-oracle style attacker wants.
    Error::invalid_ciphertext("")
}

fn dry_run() -> Error {
    Error::dry_run("The request would have succeeded, but the DryRun flag is set.")
}
