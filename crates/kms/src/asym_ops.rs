//! Operations on asymmetric signing keys: Sign, Verify, GetPublicKey.

use coffer_crypto::asym::{self, SignedMessage};
use coffer_keys::{KeyUsage, MessageType, SigningAlgorithmSpec};

use crate::admission::{Gate, Target};
use crate::audit::{Admitted, Call};
use crate::authz::Access;
use crate::model::*;
use crate::validate::{self, field_error};
use crate::{Caller, Error, Kms};

/// Longest signature Verify takes (the service model's bound on `Signature`).
const MAX_SIGNATURE_LEN: usize = 6144;

impl Kms {
    /// Signs a message (1–4096 bytes) or its digest with an asymmetric SIGN_VERIFY key.
    pub(crate) fn sign_op(
        &self,
        caller: &Caller,
        req: SignRequest,
        call: &Call<'_>,
    ) -> Result<SignResponse, Error> {
        let signing = self.signing(
            caller,
            call,
            &req.key_id,
            req.message.expose(),
            req.message_type,
            req.signing_algorithm,
            &req.grant_tokens,
            req.dry_run,
        )?;
        let private = signing.key.material.private().map_err(Error::internal)?;
        let signature = private
            .sign(signing.scheme, signing.message(req.message.expose()))
            .map_err(Error::internal)?;
        Ok(SignResponse {
            key_id: signing.key.arn.clone(),
            signature,
            signing_algorithm: signing.algorithm,
        })
    }

    /// Verifies a signature made by Sign (or offline with the public key); an invalid signature
    /// is `KMSInvalidSignatureException`.
    pub(crate) fn verify_op(
        &self,
        caller: &Caller,
        req: VerifyRequest,
        call: &Call<'_>,
    ) -> Result<VerifyResponse, Error> {
        if req.signature.is_empty() || req.signature.len() > MAX_SIGNATURE_LEN {
            return Err(field_error(
                "signature",
                "Member must have length between 1 and 6144",
            ));
        }
        let signing = self.signing(
            caller,
            call,
            &req.key_id,
            req.message.expose(),
            req.message_type,
            req.signing_algorithm,
            &req.grant_tokens,
            req.dry_run,
        )?;
        let private = signing.key.material.private().map_err(Error::internal)?;
        let valid = asym::verify(
            private.algorithm(),
            private.public_key_der(),
            signing.scheme,
            signing.message(req.message.expose()),
            &req.signature,
        )
        .map_err(Error::internal)?;
        if !valid {
            return Err(Error::invalid_signature(""));
        }
        Ok(VerifyResponse {
            key_id: signing.key.arn.clone(),
            signature_valid: true,
            signing_algorithm: signing.algorithm,
        })
    }

    /// The public key of an asymmetric key, as DER `SubjectPublicKeyInfo`.
    pub(crate) fn get_public_key_op(
        &self,
        caller: &Caller,
        req: GetPublicKeyRequest,
        call: &Call<'_>,
    ) -> Result<GetPublicKeyResponse, Error> {
        validate::grant_tokens(&req.grant_tokens)?;
        let access = Access {
            grant_tokens: &req.grant_tokens,
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(&req.key_id))?;
        let record = &key.record;
        if record.key_spec.asymmetric().is_none() {
            return Err(Error::unsupported(format!(
                "{} is not an asymmetric key: KeySpec {} has no public key.",
                key.arn, record.key_spec
            )));
        }
        let private = key.material.private().map_err(Error::internal)?;
        Ok(GetPublicKeyResponse {
            key_id: key.arn.clone(),
            public_key: private.public_key_der().to_vec(),
            customer_master_key_spec: record.key_spec,
            key_spec: record.key_spec,
            key_usage: record.key_usage,
            encryption_algorithms: record
                .key_spec
                .encryption_algorithms(record.key_usage)
                .to_vec(),
            signing_algorithms: record
                .key_spec
                .signing_algorithms(record.key_usage)
                .to_vec(),
            key_agreement_algorithms: record
                .key_spec
                .key_agreement_algorithms(record.key_usage)
                .to_vec(),
            encapsulation_algorithms: record
                .key_spec
                .encapsulation_algorithms(record.key_usage)
                .to_vec(),
        })
    }

    /// Sign and Verify (the call's operation): validate, admit, check the key's usage, the
    /// algorithm and the message type.
    #[allow(clippy::too_many_arguments)] // the members the two requests share
    fn signing<'c>(
        &self,
        caller: &Caller,
        call: &'c Call<'_>,
        key_id: &str,
        message: &[u8],
        message_type: Option<MessageType>,
        algorithm: Option<SigningAlgorithmSpec>,
        grant_tokens: &[String],
        only_check: bool,
    ) -> Result<Signing<'c>, Error> {
        let op = call.op();
        if message.is_empty() || message.len() > validate::MAX_PLAINTEXT {
            return Err(field_error(
                "message",
                "Member must have length between 1 and 4096",
            ));
        }
        let algorithm = algorithm.ok_or_else(|| {
            Error::validation(
                "1 validation error detected: Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null",
            )
        })?;
        let message_type = message_type.unwrap_or(MessageType::Raw);
        validate::grant_tokens(grant_tokens)?;
        let access = Access {
            grant_tokens,
            signing_algorithm: Some(algorithm.as_str()),
            message_type: Some(message_type.as_str()),
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(key_id))?;
        let record = &key.record;
        if record.key_usage != KeyUsage::SignVerify {
            return Err(Error::invalid_key_usage(format!(
                "{} key usage is {} which is not valid for {}.",
                key.arn,
                record.key_usage,
                op.as_str()
            )));
        }
        if !record
            .key_spec
            .signing_algorithms(record.key_usage)
            .contains(&algorithm)
        {
            return Err(Error::invalid_key_usage(format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                record.key_spec
            )));
        }
        let Some(scheme) = algorithm.scheme() else {
            return Err(Error::unsupported(format!(
                "The signing algorithm {algorithm} is not supported by this coffer release."
            )));
        };
        check_message_type(algorithm, message_type, message.len())?;
        if only_check {
            return Err(Error::dry_run(
                "The request would have succeeded, but the DryRun flag is set.",
            ));
        }
        Ok(Signing {
            key,
            algorithm,
            scheme,
            digest: message_type == MessageType::Digest,
        })
    }
}

/// What `signing` admitted.
struct Signing<'c> {
    key: Admitted<'c>,
    algorithm: SigningAlgorithmSpec,
    scheme: asym::SignatureScheme,
    digest: bool,
}

impl Signing<'_> {
    fn message<'m>(&self, message: &'m [u8]) -> SignedMessage<'m> {
        // ED25519_PH_SHA_512 takes a DIGEST and still performs Ed25519ph's own SHA-512
        // prehash over it (AWS: "the input is hashed twice: once by you and once by KMS").
        if self.digest && self.scheme != asym::SignatureScheme::Ed25519Ph {
            SignedMessage::Digest(message)
        } else {
            SignedMessage::Raw(message)
        }
    }
}

/// The message types AWS accepts per algorithm: RAW for all; DIGEST for RSA and ECDSA (the
/// digest as long as the algorithm's hash); EXTERNAL_MU only for ML-DSA, which coffer does not
/// implement yet.
fn check_message_type(
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    len: usize,
) -> Result<(), Error> {
    use asym::SignatureScheme as S;
    let scheme = algorithm.scheme();
    match message_type {
        MessageType::Raw if scheme == Some(S::Ed25519Ph) => Err(Error::validation(
            "The ED25519_PH_SHA_512 signing algorithm requires MessageType DIGEST.",
        )),
        MessageType::Raw => Ok(()),
        MessageType::Digest if scheme == Some(S::Ed25519Ph) => {
            if len == 64 {
                Ok(())
            } else {
                Err(Error::validation(format!(
                    "Digest is invalid length for algorithm {algorithm}: a DIGEST message must be 64 bytes."
                )))
            }
        }
        MessageType::Digest => match scheme {
            Some(S::RsaPss(h) | S::RsaPkcs1(h) | S::Ecdsa(h)) => {
                if len == h.len() {
                    Ok(())
                } else {
                    Err(Error::validation(format!(
                        "Digest is invalid length for algorithm {algorithm}: a DIGEST message must be {} bytes.",
                        h.len()
                    )))
                }
            }
            _ => Err(Error::validation(format!(
                "The message type DIGEST is not valid for the signing algorithm {algorithm}."
            ))),
        },
        _ => match scheme {
            Some(S::MlDsa) => Err(Error::unsupported(
                "The message type EXTERNAL_MU is not supported by this coffer release.",
            )),
            _ => Err(Error::validation(format!(
                "The message type EXTERNAL_MU is not valid for the signing algorithm {algorithm}."
            ))),
        },
    }
}
