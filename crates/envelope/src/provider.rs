use std::fmt;
use std::sync::Arc;

use coffer_core::EncryptionContext;
use coffer_crypto::{HkdfPrk, SymmetricKey};

use crate::{EnvelopeError, InvalidArgument, ProviderError};

/// A data key wrapped under one key-encryption key, as stored in a message header.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EncryptedDataKey {
    /// The identifier of the wrapping key as the provider names it (for the KMS: the key ARN).
    pub key_id: String,
    /// The wrapped data key (for the KMS: a ciphertext blob).
    pub ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    /// A wrapped data key under `key_id`.
    pub fn new(key_id: impl Into<String>, ciphertext: Vec<u8>) -> Self {
        Self {
            key_id: key_id.into(),
            ciphertext,
        }
    }
}

impl fmt::Debug for EncryptedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedDataKey")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// A freshly generated data key: the plaintext key and its wrapped form.
#[derive(Clone)]
pub struct GeneratedDataKey {
    /// The plaintext data key.
    pub data_key: SymmetricKey,
    /// The same key wrapped under the key it was generated under.
    pub encrypted: EncryptedDataKey,
}

impl fmt::Debug for GeneratedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedDataKey")
            .field("data_key", &"[redacted]")
            .field("encrypted", &self.encrypted)
            .finish()
    }
}

/// What a message is about to be encrypted with: one data key and its wrapped forms, one per
/// key identifier of the request, in the request's order.
#[derive(Clone)]
pub struct EncryptionMaterials {
    /// The plaintext data key.
    pub data_key: SymmetricKey,
    /// The data key wrapped under each requested key.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
}

impl fmt::Debug for EncryptionMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionMaterials")
            .field("data_key", &"[redacted]")
            .field("encrypted_data_keys", &self.encrypted_data_keys)
            .finish()
    }
}

/// A request for [`EncryptionMaterials`].
#[derive(Debug, Clone, Copy)]
pub struct MaterialsRequest<'a> {
    /// The keys to wrap the data key under; the first generates it. Never empty.
    pub key_ids: &'a [&'a str],
    /// The encryption context every wrapping is bound to.
    pub context: &'a EncryptionContext,
    /// The plaintext length, when known in advance (a cache needs it to count bytes).
    pub plaintext_len: Option<u64>,
}

/// The remote side of envelope encryption: something that holds key-encryption keys and wraps and
/// unwraps data keys under them, binding each wrapping to an encryption context.
///
/// The in-process `coffer::Kms` implements it (GenerateDataKey, Encrypt, Decrypt); so does a
/// remote client. Object safe, `Send + Sync`, every method takes `&self`.
pub trait DataKeyProvider: Send + Sync {
    /// Generates a 256-bit data key under `key_id` (GenerateDataKey, `AES_256`). The returned
    /// [`EncryptedDataKey::key_id`] is the provider's full name for the key (the key ARN), which
    /// may differ from `key_id` (an alias, a bare key id).
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError>;

    /// Wraps an existing data key under `key_id` (Encrypt), so that a message can be opened with
    /// any of several keys.
    fn encrypt_data_key(
        &self,
        key_id: &str,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError>;

    /// Unwraps a data key (Decrypt). `key_id` is the identifier stored beside the wrapped key; a
    /// provider should refuse a `ciphertext` that was not made under that key.
    fn decrypt_data_key(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError>;

    /// The materials for one message: a data key generated under the first key identifier and
    /// wrapped under each of the others. Caching providers override this; the default makes one
    /// `generate_data_key` call and one `encrypt_data_key` call per further key, and reports a
    /// failure as [`EnvelopeError::Provider`] naming the key.
    fn encryption_materials(
        &self,
        request: &MaterialsRequest<'_>,
    ) -> Result<EncryptionMaterials, EnvelopeError> {
        let (first, rest) = request
            .key_ids
            .split_first()
            .ok_or(EnvelopeError::InvalidArgument(InvalidArgument::NoKeyIds))?;
        let generated = self
            .generate_data_key(first, request.context)
            .map_err(|source| EnvelopeError::Provider {
                key_id: (*first).to_owned(),
                source,
            })?;
        let mut encrypted_data_keys = Vec::with_capacity(request.key_ids.len());
        encrypted_data_keys.push(generated.encrypted);
        for id in rest {
            let edk = self
                .encrypt_data_key(id, &generated.data_key, request.context)
                .map_err(|source| EnvelopeError::Provider {
                    key_id: (*id).to_owned(),
                    source,
                })?;
            encrypted_data_keys.push(edk);
        }
        Ok(EncryptionMaterials {
            data_key: generated.data_key,
            encrypted_data_keys,
        })
    }

    /// The materials for one message in the form the writer uses: the wrapped data keys and
    /// the data key's [`DerivationKey`]. Caching providers override this to keep the derivation
    /// key beside the cached materials, so a cached data key costs no extract per message; the
    /// default derives it from [`encryption_materials`](Self::encryption_materials).
    fn message_materials(
        &self,
        request: &MaterialsRequest<'_>,
    ) -> Result<MessageMaterials, EnvelopeError> {
        let m = self.encryption_materials(request)?;
        Ok(MessageMaterials {
            derivation_key: DerivationKey::of(&m.data_key),
            encrypted_data_keys: m.encrypted_data_keys,
        })
    }

    /// [`message_materials`](Self::message_materials) with the wrapped data keys shared rather
    /// than copied: what the one-shot [`encrypt`](crate::encrypt) asks for. Caching providers
    /// override this to hand out the cached keys by reference count (no allocation per
    /// message); the default wraps [`message_materials`](Self::message_materials).
    fn shared_message_materials(
        &self,
        request: &MaterialsRequest<'_>,
    ) -> Result<SharedMessageMaterials, EnvelopeError> {
        let m = self.message_materials(request)?;
        Ok(SharedMessageMaterials {
            derivation_key: m.derivation_key,
            encrypted_data_keys: m.encrypted_data_keys.into(),
        })
    }

    /// Unwraps a data key (as [`decrypt_data_key`](Self::decrypt_data_key)) and returns its
    /// [`DerivationKey`]. Caching providers override this to keep the derivation key beside
    /// the cached data key.
    fn decrypt_derivation_key(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<DerivationKey, ProviderError> {
        Ok(DerivationKey::of(
            &self.decrypt_data_key(key_id, ciphertext, context)?,
        ))
    }
}

/// What suite `0x0002` derives every message's keys from: HKDF-SHA256's extract of the data key
/// with the suite's fixed salt, made once per data key (docs/FORMATS.md). Opaque; prints as
/// `[redacted]`.
#[derive(Clone)]
pub struct DerivationKey(pub(crate) HkdfPrk);

impl DerivationKey {
    /// The derivation key of `data_key`.
    pub fn of(data_key: &SymmetricKey) -> Self {
        Self(HkdfPrk::extract(data_key, crate::message::PRK_SALT))
    }
}

impl fmt::Debug for DerivationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivationKey([redacted])")
    }
}

/// The wrapped data keys of one message and the data key's [`DerivationKey`] (the plaintext
/// data key itself is not needed once the derivation key exists).
#[derive(Clone)]
pub struct MessageMaterials {
    /// Derives the message's frame key and commitment.
    pub derivation_key: DerivationKey,
    /// The data key wrapped under each requested key.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
}

impl fmt::Debug for MessageMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageMaterials")
            .field("derivation_key", &self.derivation_key)
            .field("encrypted_data_keys", &self.encrypted_data_keys)
            .finish()
    }
}

/// [`MessageMaterials`] whose wrapped data keys are shared (with a cache) instead of owned.
#[derive(Clone)]
pub struct SharedMessageMaterials {
    /// Derives the message's frame key and commitment.
    pub derivation_key: DerivationKey,
    /// The data key wrapped under each requested key.
    pub encrypted_data_keys: Arc<[EncryptedDataKey]>,
}

impl fmt::Debug for SharedMessageMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMessageMaterials")
            .field("derivation_key", &self.derivation_key)
            .field("encrypted_data_keys", &self.encrypted_data_keys)
            .finish()
    }
}

/// A provider behind a pointer is the provider: every method, the defaults included, forwards.
macro_rules! forward_provider {
    ($($ptr:ty),+) => {$(
        impl<T: DataKeyProvider + ?Sized> DataKeyProvider for $ptr {
            fn generate_data_key(
                &self,
                key_id: &str,
                context: &EncryptionContext,
            ) -> Result<GeneratedDataKey, ProviderError> {
                (**self).generate_data_key(key_id, context)
            }

            fn encrypt_data_key(
                &self,
                key_id: &str,
                data_key: &SymmetricKey,
                context: &EncryptionContext,
            ) -> Result<EncryptedDataKey, ProviderError> {
                (**self).encrypt_data_key(key_id, data_key, context)
            }

            fn decrypt_data_key(
                &self,
                key_id: &str,
                ciphertext: &[u8],
                context: &EncryptionContext,
            ) -> Result<SymmetricKey, ProviderError> {
                (**self).decrypt_data_key(key_id, ciphertext, context)
            }

            fn encryption_materials(
                &self,
                request: &MaterialsRequest<'_>,
            ) -> Result<EncryptionMaterials, EnvelopeError> {
                (**self).encryption_materials(request)
            }

            fn message_materials(
                &self,
                request: &MaterialsRequest<'_>,
            ) -> Result<MessageMaterials, EnvelopeError> {
                (**self).message_materials(request)
            }

            fn shared_message_materials(
                &self,
                request: &MaterialsRequest<'_>,
            ) -> Result<SharedMessageMaterials, EnvelopeError> {
                (**self).shared_message_materials(request)
            }

            fn decrypt_derivation_key(
                &self,
                key_id: &str,
                ciphertext: &[u8],
                context: &EncryptionContext,
            ) -> Result<DerivationKey, ProviderError> {
                (**self).decrypt_derivation_key(key_id, ciphertext, context)
            }
        }
    )+};
}

forward_provider!(Arc<T>, &T);
