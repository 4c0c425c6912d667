//! The in-process [`DataKeyProvider`] for envelope encryption: data keys generated, wrapped and
//! unwrapped by this `Kms` on behalf of one caller.

use std::ops::Deref;

use coffer_core::EncryptionContext;

use crate::Caller;
use coffer_crypto::SymmetricKey;
use coffer_envelope::{DataKeyProvider, EncryptedDataKey, GeneratedDataKey, ProviderError};
use coffer_keys::DataKeySpec;

use crate::model::{DecryptRequest, EncryptRequest, GenerateDataKeyRequest};
use crate::{Error, Kms};

/// A `Kms` acting for one caller as an envelope [`DataKeyProvider`]. Every call goes through the
/// full pipeline (quota, authorization, key state) as that caller, and errors keep their AWS
/// exception names (`ProviderError::code`).
///
/// `K` is `&Kms` or `Arc<Kms>` (anything that derefs to a `Kms` and can be shared).
#[derive(Debug, Clone)]
pub struct KmsDataKeys<K> {
    kms: K,
    caller: Caller,
}

impl<K: Deref<Target = Kms> + Send + Sync> KmsDataKeys<K> {
    /// A provider acting as `caller`.
    pub fn new(kms: K, caller: Caller) -> Self {
        Self { kms, caller }
    }
}

impl Kms {
    /// This service as an envelope data-key provider acting for `caller`.
    pub fn data_keys(&self, caller: Caller) -> KmsDataKeys<&Kms> {
        KmsDataKeys::new(self, caller)
    }
}

fn provider_error(e: Error) -> ProviderError {
    let message = e.message().to_owned();
    ProviderError::new(e.code(), message).with_source(e)
}

fn key_from(bytes: &[u8]) -> Result<SymmetricKey, ProviderError> {
    SymmetricKey::from_slice(bytes).map_err(|_| {
        ProviderError::new(
            "InvalidCiphertextException",
            "the wrapped data key is not a 256-bit key",
        )
    })
}

impl<K: Deref<Target = Kms> + Send + Sync> DataKeyProvider for KmsDataKeys<K> {
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        let out = self
            .kms
            .generate_data_key(
                &self.caller,
                GenerateDataKeyRequest {
                    key_id: key_id.to_owned(),
                    encryption_context: context.clone(),
                    key_spec: Some(DataKeySpec::Aes256),
                    ..Default::default()
                },
            )
            .map_err(provider_error)?;
        Ok(GeneratedDataKey {
            data_key: key_from(out.plaintext.expose())?,
            encrypted: EncryptedDataKey::new(out.key_id, out.ciphertext_blob),
        })
    }

    fn encrypt_data_key(
        &self,
        key_id: &str,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        let out = self
            .kms
            .encrypt(
                &self.caller,
                EncryptRequest {
                    key_id: key_id.to_owned(),
                    plaintext: data_key.expose().to_vec().into(),
                    encryption_context: context.clone(),
                    ..Default::default()
                },
            )
            .map_err(provider_error)?;
        Ok(EncryptedDataKey::new(out.key_id, out.ciphertext_blob))
    }

    fn decrypt_data_key(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        let out = self
            .kms
            .decrypt(
                &self.caller,
                DecryptRequest {
                    ciphertext_blob: ciphertext.to_vec(),
                    encryption_context: context.clone(),
                    key_id: Some(key_id.to_owned()),
                    ..Default::default()
                },
            )
            .map_err(provider_error)?;
        key_from(out.plaintext.expose())
    }
}
