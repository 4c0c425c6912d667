//! Keyrings: what wraps and unwraps the data key of an ESDK message.

use std::fmt;
use std::sync::Arc;

use coffer_core::EncryptionContext;
use coffer_crypto::aead::{self, Nonce};
use coffer_crypto::{RandomSource, SymmetricKey, SystemRandom};

use super::error::EsdkError;
use super::header::{serialize_context, ESDK_IV_LEN, ESDK_TAG_LEN};
use super::EsdkEncryptedDataKey;
use crate::{DataKeyProvider, MaterialsRequest, ProviderError};

/// The provider id of encrypted data keys wrapped by AWS KMS (and so by coffer's KMS).
pub const AWS_KMS_PROVIDER_ID: &str = "aws-kms";

/// Wraps and unwraps the data key of an ESDK message, as the ESDK's keyrings do.
pub trait Keyring: Send + Sync {
    /// Generates a data key and wraps it (the generator of an encryption).
    fn generate(
        &self,
        context: &EncryptionContext,
    ) -> Result<(SymmetricKey, Vec<EsdkEncryptedDataKey>), EsdkError>;

    /// Wraps an existing data key (a further keyring of an encryption).
    fn wrap(
        &self,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EsdkEncryptedDataKey>, EsdkError>;

    /// Unwraps the first of `edks` this keyring can. Counts the keys it attempted into
    /// `attempted` and keeps the last failure in `last`; `None` when it opened none.
    fn unwrap(
        &self,
        edks: &[EsdkEncryptedDataKey],
        context: &EncryptionContext,
        attempted: &mut usize,
        last: &mut Option<ProviderError>,
    ) -> Option<SymmetricKey>;
}

impl<K: Keyring + ?Sized> Keyring for Arc<K> {
    fn generate(
        &self,
        context: &EncryptionContext,
    ) -> Result<(SymmetricKey, Vec<EsdkEncryptedDataKey>), EsdkError> {
        (**self).generate(context)
    }
    fn wrap(
        &self,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EsdkEncryptedDataKey>, EsdkError> {
        (**self).wrap(data_key, context)
    }
    fn unwrap(
        &self,
        edks: &[EsdkEncryptedDataKey],
        context: &EncryptionContext,
        attempted: &mut usize,
        last: &mut Option<ProviderError>,
    ) -> Option<SymmetricKey> {
        (**self).unwrap(edks, context, attempted, last)
    }
}

/// The AWS KMS keyring over any [`DataKeyProvider`] (the in-process `coffer::Kms`, the
/// `aws-sdk-kms` client of coffer-kms-keyring): encrypted data keys with provider id
/// `aws-kms` and the key ARN as provider info, the KMS ciphertext blob as ciphertext.
///
/// Encryption generates under the first key id and wraps under the others. Decryption tries
/// only `aws-kms` keys whose ARN is one of the key ids given (the ESDK's strict mode), or any
/// `aws-kms` key when built with [`KmsKeyring::discovery`].
pub struct KmsKeyring<P> {
    provider: P,
    key_ids: Vec<String>,
}

impl<P> fmt::Debug for KmsKeyring<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsKeyring")
            .field("key_ids", &self.key_ids)
            .finish_non_exhaustive()
    }
}

impl<P: DataKeyProvider> KmsKeyring<P> {
    /// A strict keyring: encrypts under `key_ids` (the first generates), decrypts only data
    /// keys wrapped under one of them (compare the ARNs the provider stores).
    pub fn new(provider: P, key_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            provider,
            key_ids: key_ids.into_iter().map(Into::into).collect(),
        }
    }

    /// A discovery keyring: decrypts any `aws-kms` data key the provider can; cannot encrypt.
    pub fn discovery(provider: P) -> Self {
        Self {
            provider,
            key_ids: Vec::new(),
        }
    }
}

fn kms_edk(edk: crate::EncryptedDataKey) -> EsdkEncryptedDataKey {
    EsdkEncryptedDataKey {
        provider_id: AWS_KMS_PROVIDER_ID.to_owned(),
        provider_info: edk.key_id.into_bytes(),
        ciphertext: edk.ciphertext,
    }
}

impl<P: DataKeyProvider> Keyring for KmsKeyring<P> {
    fn generate(
        &self,
        context: &EncryptionContext,
    ) -> Result<(SymmetricKey, Vec<EsdkEncryptedDataKey>), EsdkError> {
        let ids: Vec<&str> = self.key_ids.iter().map(String::as_str).collect();
        if ids.is_empty() {
            return Err(EsdkError::InvalidArgument(
                "a discovery keyring cannot encrypt",
            ));
        }
        let materials = self
            .provider
            .encryption_materials(&MaterialsRequest {
                key_ids: &ids,
                context,
                plaintext_len: None,
            })
            .map_err(|e| match e {
                crate::EnvelopeError::Provider { key_id, source } => {
                    EsdkError::Provider { key_id, source }
                }
                _ => EsdkError::InvalidArgument("provider returned unusable materials"),
            })?;
        if materials.encrypted_data_keys.len() != ids.len() {
            return Err(EsdkError::InvalidArgument(
                "provider returned unusable materials",
            ));
        }
        let edks = materials
            .encrypted_data_keys
            .into_iter()
            .map(kms_edk)
            .collect();
        Ok((materials.data_key, edks))
    }

    fn wrap(
        &self,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EsdkEncryptedDataKey>, EsdkError> {
        self.key_ids
            .iter()
            .map(|id| {
                self.provider
                    .encrypt_data_key(id, data_key, context)
                    .map(kms_edk)
                    .map_err(|source| EsdkError::Provider {
                        key_id: id.clone(),
                        source,
                    })
            })
            .collect()
    }

    fn unwrap(
        &self,
        edks: &[EsdkEncryptedDataKey],
        context: &EncryptionContext,
        attempted: &mut usize,
        last: &mut Option<ProviderError>,
    ) -> Option<SymmetricKey> {
        for edk in edks {
            if edk.provider_id != AWS_KMS_PROVIDER_ID {
                continue;
            }
            let Ok(arn) = std::str::from_utf8(&edk.provider_info) else {
                continue;
            };
            if !self.key_ids.is_empty() && !self.key_ids.iter().any(|k| k == arn) {
                continue;
            }
            *attempted += 1;
            match self
                .provider
                .decrypt_data_key(arn, &edk.ciphertext, context)
            {
                Ok(key) => return Some(key),
                Err(e) => *last = Some(e),
            }
        }
        None
    }
}

/// The ESDK's raw AES keyring (AES-256-GCM wrapping): provider id = the key namespace,
/// provider info = key name ‖ tag length in bits (u32, 128) ‖ IV length (u32, 12) ‖ IV,
/// ciphertext = wrapped key ‖ tag, AAD = the serialized encryption context.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: SymmetricKey,
    rng: Arc<dyn RandomSource>,
}

impl fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAesKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RawAesKeyring {
    /// A raw AES-256 keyring with the system random source.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, key: SymmetricKey) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            key,
            rng: Arc::new(SystemRandom::new()),
        }
    }

    /// The random source for data keys and wrapping IVs.
    #[must_use]
    pub fn with_rng(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.rng = rng;
        self
    }

    fn wrap_one(
        &self,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<EsdkEncryptedDataKey, EsdkError> {
        let aad = serialize_context(context)?;
        let nonce = Nonce::random(self.rng.as_ref()).map_err(|_| EsdkError::Crypto)?;
        let ciphertext = aead::seal(&self.key, &nonce, &aad, data_key.expose())
            .map_err(|_| EsdkError::Crypto)?;
        let mut provider_info = Vec::with_capacity(self.name.len() + 8 + ESDK_IV_LEN);
        provider_info.extend_from_slice(self.name.as_bytes());
        provider_info.extend_from_slice(&((ESDK_TAG_LEN * 8) as u32).to_be_bytes());
        provider_info.extend_from_slice(&(ESDK_IV_LEN as u32).to_be_bytes());
        provider_info.extend_from_slice(nonce.as_bytes());
        Ok(EsdkEncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info,
            ciphertext,
        })
    }

    /// The IV of `edk` if it is this keyring's (namespace, name, tag and IV lengths).
    fn iv_of(&self, edk: &EsdkEncryptedDataKey) -> Option<[u8; ESDK_IV_LEN]> {
        if edk.provider_id != self.namespace {
            return None;
        }
        let rest = edk.provider_info.strip_prefix(self.name.as_bytes())?;
        let (lens, iv) = rest.split_at_checked(8)?;
        if lens[..4] != ((ESDK_TAG_LEN * 8) as u32).to_be_bytes()
            || lens[4..] != (ESDK_IV_LEN as u32).to_be_bytes()
        {
            return None;
        }
        iv.try_into().ok()
    }
}

impl Keyring for RawAesKeyring {
    fn generate(
        &self,
        context: &EncryptionContext,
    ) -> Result<(SymmetricKey, Vec<EsdkEncryptedDataKey>), EsdkError> {
        let key = SymmetricKey::generate(self.rng.as_ref()).map_err(|_| EsdkError::Crypto)?;
        let edk = self.wrap_one(&key, context)?;
        Ok((key, vec![edk]))
    }

    fn wrap(
        &self,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EsdkEncryptedDataKey>, EsdkError> {
        Ok(vec![self.wrap_one(data_key, context)?])
    }

    fn unwrap(
        &self,
        edks: &[EsdkEncryptedDataKey],
        context: &EncryptionContext,
        attempted: &mut usize,
        last: &mut Option<ProviderError>,
    ) -> Option<SymmetricKey> {
        let aad = serialize_context(context).ok()?;
        for edk in edks {
            let Some(iv) = self.iv_of(edk) else { continue };
            *attempted += 1;
            let opened = aead::open(&self.key, &Nonce::from_bytes(iv), &aad, &edk.ciphertext)
                .ok()
                .and_then(|pt| SymmetricKey::from_slice(pt.expose()).ok());
            match opened {
                Some(key) => return Some(key),
                None => {
                    *last = Some(ProviderError::new(
                        "InvalidCiphertextException",
                        format!("raw AES key {} did not open the data key", self.name),
                    ));
                }
            }
        }
        None
    }
}

/// A generator keyring and further keyrings: on encryption the generator makes the data key
/// and every child wraps it too; on decryption each is tried in turn.
pub struct MultiKeyring {
    generator: Option<Box<dyn Keyring>>,
    children: Vec<Box<dyn Keyring>>,
}

impl fmt::Debug for MultiKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiKeyring")
            .field("has_generator", &self.generator.is_some())
            .field("children", &self.children.len())
            .finish()
    }
}

impl MultiKeyring {
    /// A multi-keyring whose generator is `generator`.
    pub fn new(generator: impl Keyring + 'static) -> Self {
        Self {
            generator: Some(Box::new(generator)),
            children: Vec::new(),
        }
    }

    /// A multi-keyring without generator: can only decrypt.
    pub fn decrypt_only() -> Self {
        Self {
            generator: None,
            children: Vec::new(),
        }
    }

    /// Adds a child keyring.
    #[must_use]
    pub fn with_child(mut self, child: impl Keyring + 'static) -> Self {
        self.children.push(Box::new(child));
        self
    }
}

impl Keyring for MultiKeyring {
    fn generate(
        &self,
        context: &EncryptionContext,
    ) -> Result<(SymmetricKey, Vec<EsdkEncryptedDataKey>), EsdkError> {
        let generator = self.generator.as_ref().ok_or(EsdkError::InvalidArgument(
            "a multi-keyring without generator cannot encrypt",
        ))?;
        let (key, mut edks) = generator.generate(context)?;
        for child in &self.children {
            edks.extend(child.wrap(&key, context)?);
        }
        Ok((key, edks))
    }

    fn wrap(
        &self,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EsdkEncryptedDataKey>, EsdkError> {
        let mut edks = Vec::new();
        for k in self.generator.iter().chain(self.children.iter()) {
            edks.extend(k.wrap(data_key, context)?);
        }
        Ok(edks)
    }

    fn unwrap(
        &self,
        edks: &[EsdkEncryptedDataKey],
        context: &EncryptionContext,
        attempted: &mut usize,
        last: &mut Option<ProviderError>,
    ) -> Option<SymmetricKey> {
        self.generator
            .iter()
            .chain(self.children.iter())
            .find_map(|k| k.unwrap(edks, context, attempted, last))
    }
}
