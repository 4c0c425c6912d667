//! Key agreement and key encapsulation: DeriveSharedSecret (ECDH), Encapsulate and Decapsulate
//! (ML-KEM).

use coffer_crypto::asym;
use coffer_keys::{EncapsulationAlgorithmSpec, KeyAgreementAlgorithmSpec, KeyUsage};

use crate::admission::{Gate, Target};
use crate::audit::{Admitted, Call};
use crate::authz::Access;
use crate::model::*;
use crate::validate::{self, field_error};
use crate::{Caller, Error, Kms};

/// Longest public key DeriveSharedSecret takes (the service model's bound).
const MAX_PUBLIC_KEY_LEN: usize = 8192;

impl Kms {
    /// ECDH between a KEY_AGREEMENT key and the other party's public key (DER
    /// SubjectPublicKeyInfo on the key's curve): the raw shared secret, as AWS returns it.
    pub(crate) fn derive_shared_secret_op(
        &self,
        caller: &Caller,
        req: DeriveSharedSecretRequest,
        call: &Call<'_>,
    ) -> Result<DeriveSharedSecretResponse, Error> {
        let algorithm = req.key_agreement_algorithm.ok_or_else(|| {
            Error::validation(
                "1 validation error detected: Value null at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must not be null",
            )
        })?;
        if req.public_key.is_empty() || req.public_key.len() > MAX_PUBLIC_KEY_LEN {
            return Err(field_error(
                "publicKey",
                "Member must have length between 1 and 8192",
            ));
        }
        let extra = [("kms:KeyAgreementAlgorithm", algorithm.as_str())];
        let key = self.admit_use(
            caller,
            call,
            &req.key_id,
            &req.grant_tokens,
            &extra,
            KeyUsage::KeyAgreement,
        )?;
        if algorithm != KeyAgreementAlgorithmSpec::Ecdh {
            return Err(Error::invalid_key_usage(format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                key.record.key_spec
            )));
        }
        if req.dry_run {
            return Err(dry_run());
        }
        let private = key.material.private().map_err(Error::internal)?;
        let shared_secret = private.agree(&req.public_key).map_err(|_| {
            // Not the caller's key bytes in the message: they are not secret, but they are
            // long and attacker-chosen.
            Error::validation(format!(
                "The public key is not a DER-encoded SubjectPublicKeyInfo of a point on the curve of {} ({}).",
                key.arn, key.record.key_spec
            ))
        })?;
        Ok(DeriveSharedSecretResponse {
            key_id: key.arn.clone(),
            shared_secret,
            key_agreement_algorithm: algorithm,
            key_origin: key.record.origin,
        })
    }

    /// A fresh 32-byte shared secret and its ML-KEM encapsulation under an ML-KEM key.
    pub(crate) fn encapsulate_op(
        &self,
        caller: &Caller,
        req: EncapsulateRequest,
        call: &Call<'_>,
    ) -> Result<EncapsulateResponse, Error> {
        let algorithm = kem_algorithm(req.encapsulation_algorithm)?;
        let extra = [("kms:EncapsulationAlgorithm", algorithm.as_str())];
        let key = self.admit_use(
            caller,
            call,
            &req.key_id,
            &req.grant_tokens,
            &extra,
            KeyUsage::EncapsulateDecapsulate,
        )?;
        if req.dry_run {
            return Err(dry_run());
        }
        let private = key.material.private().map_err(Error::internal)?;
        let (shared_secret_ciphertext_blob, shared_secret) =
            asym::encapsulate(private.algorithm(), private.public_key_der())
                .map_err(Error::internal)?;
        Ok(EncapsulateResponse {
            key_id: key.arn.clone(),
            shared_secret,
            shared_secret_ciphertext_blob,
            encapsulation_algorithm: algorithm,
        })
    }

    /// The shared secret of an ML-KEM encapsulation. A ciphertext of the wrong length for the
    /// key is `InvalidCiphertextException`; any other yields 32 bytes (ML-KEM's implicit
    /// rejection: a ciphertext made for another key gives an unrelated secret).
    pub(crate) fn decapsulate_op(
        &self,
        caller: &Caller,
        req: DecapsulateRequest,
        call: &Call<'_>,
    ) -> Result<DecapsulateResponse, Error> {
        let algorithm = kem_algorithm(req.encapsulation_algorithm)?;
        let len = req.shared_secret_ciphertext_blob.len();
        if len == 0 || len > validate::MAX_CIPHERTEXT {
            return Err(field_error(
                "sharedSecretCiphertextBlob",
                "Member must have length between 1 and 6144",
            ));
        }
        let extra = [("kms:EncapsulationAlgorithm", algorithm.as_str())];
        let key = self.admit_use(
            caller,
            call,
            &req.key_id,
            &req.grant_tokens,
            &extra,
            KeyUsage::EncapsulateDecapsulate,
        )?;
        if req.dry_run {
            return Err(dry_run());
        }
        let private = key.material.private().map_err(Error::internal)?;
        let shared_secret = private
            .decapsulate(&req.shared_secret_ciphertext_blob)
            .map_err(|_| Error::invalid_ciphertext(""))?;
        Ok(DecapsulateResponse {
            key_id: key.arn.clone(),
            shared_secret,
            encapsulation_algorithm: algorithm,
        })
    }

    /// Admits a call that uses a key of `usage` (the grant tokens validated, the key's usage
    /// checked after admission, as AWS checks it).
    fn admit_use<'c>(
        &self,
        caller: &Caller,
        call: &'c Call<'_>,
        key_id: &str,
        grant_tokens: &[String],
        extra: &[(&str, &str)],
        usage: KeyUsage,
    ) -> Result<Admitted<'c>, Error> {
        validate::grant_tokens(grant_tokens)?;
        let access = Access {
            grant_tokens,
            extra,
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(key_id))?;
        if key.record.key_usage != usage {
            return Err(Error::invalid_key_usage(format!(
                "{} key usage is {} which is not valid for {}.",
                key.arn,
                key.record.key_usage,
                call.op().as_str()
            )));
        }
        Ok(key)
    }
}

fn kem_algorithm(
    algorithm: Option<EncapsulationAlgorithmSpec>,
) -> Result<EncapsulationAlgorithmSpec, Error> {
    algorithm.ok_or_else(|| {
        Error::validation(
            "1 validation error detected: Value null at 'encapsulationAlgorithm' failed to satisfy constraint: Member must not be null",
        )
    })
}

fn dry_run() -> Error {
    Error::dry_run("The request would have succeeded, but the DryRun flag is set.")
}
