//! Data key pairs (GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext) and
//! GetKeyLastUsage.

use coffer_crypto::asym::{self, KeyRole, PrivateKey};
use coffer_crypto::SecretBytes;
use coffer_keys::{DataKeyPairSpec, EncryptionAlgorithmSpec};

use crate::admission::{Gate, Target};
use crate::audit::{Admitted, Call};
use crate::authz::Access;
use crate::crypto_ops::check_encryption;
use crate::model::*;
use crate::validate;
use crate::{Caller, Error, Kms};

/// What both GenerateDataKeyPair operations make.
struct Pair<'c> {
    key: Admitted<'c>,
    spec: DataKeyPairSpec,
    private_plaintext: SecretBytes,
    private_ciphertext: Vec<u8>,
    public: Vec<u8>,
}

impl Kms {
    /// A fresh key pair, its private key (PKCS #8) wrapped under a symmetric encryption key
    /// with the encryption context, and in plaintext.
    pub(crate) fn generate_data_key_pair_op(
        &self,
        caller: &Caller,
        req: GenerateDataKeyPairRequest,
        call: &Call<'_>,
    ) -> Result<GenerateDataKeyPairResponse, Error> {
        let pair = self.data_key_pair(caller, call, &req)?;
        Ok(GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: pair.private_ciphertext,
            private_key_plaintext: pair.private_plaintext,
            public_key: pair.public,
            key_id: pair.key.arn.clone(),
            key_pair_spec: pair.spec,
            key_material_id: pair.key.record.current_version.to_hex(),
        })
    }

    /// A fresh key pair, its private key only wrapped.
    pub(crate) fn generate_data_key_pair_without_plaintext_op(
        &self,
        caller: &Caller,
        req: GenerateDataKeyPairRequest,
        call: &Call<'_>,
    ) -> Result<GenerateDataKeyPairWithoutPlaintextResponse, Error> {
        let pair = self.data_key_pair(caller, call, &req)?;
        Ok(GenerateDataKeyPairWithoutPlaintextResponse {
            private_key_ciphertext_blob: pair.private_ciphertext,
            public_key: pair.public,
            key_id: pair.key.arn.clone(),
            key_pair_spec: pair.spec,
            key_material_id: pair.key.record.current_version.to_hex(),
        })
    }

    fn data_key_pair<'c>(
        &self,
        caller: &Caller,
        call: &'c Call<'_>,
        req: &GenerateDataKeyPairRequest,
    ) -> Result<Pair<'c>, Error> {
        let op = call.op();
        let spec = req.key_pair_spec.ok_or_else(|| {
            Error::validation(
                "1 validation error detected: Value null at 'keyPairSpec' failed to satisfy constraint: Member must not be null",
            )
        })?;
        validate::context(&req.encryption_context, "encryptionContext")?;
        validate::grant_tokens(&req.grant_tokens)?;
        let extra = [("kms:DataKeyPairSpec", spec.as_str())];
        let access = Access {
            encryption_context: Some(&req.encryption_context),
            encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault.as_str()),
            grant_tokens: &req.grant_tokens,
            extra: &extra,
            ..Access::default()
        };
        // The pair's spec picks the quota class (AWS's per-spec GenerateDataKeyPair quotas).
        let gate = Gate::with(access).quota_spec(spec.as_str());
        let key = self.admit(call, caller, gate, Target::Named(&req.key_id))?;
        // The private key is wrapped under a symmetric encryption key.
        check_encryption(&key, op, None)?;
        let Some(algorithm) = spec.algorithm() else {
            return Err(Error::unsupported(format!(
                "KeyPairSpec {spec} is not supported by this coffer release."
            )));
        };
        if req.dry_run {
            return Err(Error::dry_run(
                "The request would have succeeded, but the DryRun flag is set.",
            ));
        }
        let (private_plaintext, public) = if algorithm.supports(KeyRole::Sign) {
            let private =
                PrivateKey::generate(algorithm, KeyRole::Sign).map_err(Error::internal)?;
            (private.pkcs8(), private.public_key_der().to_vec())
        } else {
            // ML-KEM: PKCS #8 in the seed form AWS returns.
            asym::generate_ml_kem_seed_pair(algorithm, self.rng.as_ref())
                .map_err(Error::internal)?
        };
        let private_ciphertext =
            self.seal(&key, private_plaintext.expose(), &req.encryption_context)?;
        Ok(Pair {
            public,
            key,
            spec,
            private_plaintext,
            private_ciphertext,
        })
    }

    /// The last successful cryptographic use of a key since tracking began.
    pub(crate) fn get_key_last_usage_op(
        &self,
        caller: &Caller,
        req: GetKeyLastUsageRequest,
        call: &Call<'_>,
    ) -> Result<GetKeyLastUsageResponse, Error> {
        let key = self.admit(
            call,
            caller,
            Gate::with(Access::default()),
            Target::Named(&req.key_id),
        )?;
        let created = key.record.creation_date;
        Ok(GetKeyLastUsageResponse {
            key_id: key.arn.clone(),
            key_last_usage: self.last_usage.get(&key.record.key_id),
            tracking_start_date: self.last_usage.since().max(created),
            key_creation_date: created,
        })
    }
}
