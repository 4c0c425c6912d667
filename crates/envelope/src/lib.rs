//! Client-side envelope encryption for coffer: a message format, streaming in constant memory,
//! and a data-key cache.
//!
//! A message is encrypted under a fresh 256-bit data key that a [`DataKeyProvider`] (the
//! in-process `coffer::Kms`, or a remote client) generates under one key and wraps under any
//! further keys; the wrapped keys travel in the message header. The body is a sequence of
//! AES-256-GCM frames under a key derived from the data key and a random message id, with nonces
//! made of the frame number and a final-frame flag. The header commits to the data key and is
//! authenticated; truncation, reordering, frames moved between messages, header edits, a wrapped
//! key that opens to another key, and a changed encryption context are all refused. The format is
//! specified, with test vectors, in `docs/ENVELOPE.md`.
//!
//! ```
//! use coffer_core::EncryptionContext;
//! use coffer_crypto::{aead, SymmetricKey, SystemRandom};
//! use coffer_envelope::{
//!     decrypt, encrypt, DataKeyProvider, DecryptOptions, EncryptOptions, EncryptedDataKey,
//!     GeneratedDataKey, ProviderError,
//! };
//!
//! /// A toy provider with one wrapping key (a real one is the KMS).
//! struct OneKey(SymmetricKey);
//!
//! impl DataKeyProvider for OneKey {
//!     fn generate_data_key(&self, key_id: &str, ctx: &EncryptionContext)
//!         -> Result<GeneratedDataKey, ProviderError> {
//!         let data_key = SymmetricKey::generate(&SystemRandom::new())
//!             .map_err(|e| ProviderError::new("KMSInternalException", "rng").with_source(e))?;
//!         let encrypted = self.encrypt_data_key(key_id, &data_key, ctx)?;
//!         Ok(GeneratedDataKey { data_key, encrypted })
//!     }
//!     fn encrypt_data_key(&self, key_id: &str, data_key: &SymmetricKey, ctx: &EncryptionContext)
//!         -> Result<EncryptedDataKey, ProviderError> {
//!         let nonce = aead::Nonce::from_bytes([0; 12]); // toy only: one data key per wrap key
//!         let ct = aead::seal(&self.0, &nonce, &ctx.canonical_bytes(), data_key.expose())
//!             .map_err(|e| ProviderError::new("KMSInternalException", "seal").with_source(e))?;
//!         Ok(EncryptedDataKey::new(key_id, ct))
//!     }
//!     fn decrypt_data_key(&self, _key_id: &str, ct: &[u8], ctx: &EncryptionContext)
//!         -> Result<SymmetricKey, ProviderError> {
//!         let nonce = aead::Nonce::from_bytes([0; 12]);
//!         let pt = aead::open(&self.0, &nonce, &ctx.canonical_bytes(), ct)
//!             .map_err(|e| ProviderError::new("InvalidCiphertextException", "").with_source(e))?;
//!         SymmetricKey::from_slice(pt.expose())
//!             .map_err(|e| ProviderError::new("InvalidCiphertextException", "").with_source(e))
//!     }
//! }
//!
//! let provider = OneKey(SymmetricKey::from_bytes([7; 32]));
//! let mut ctx = EncryptionContext::new();
//! ctx.insert("purpose", "example");
//! let message = encrypt(&provider, &["key-1"], &ctx, b"hello", &EncryptOptions::new())?;
//! let opened = decrypt(&provider, &message, &DecryptOptions::new().expect_context(ctx))?;
//! assert_eq!(opened.plaintext().expose(), b"hello");
//! # Ok::<(), coffer_envelope::EnvelopeError>(())
//! ```
//!
//! Streaming: [`EncryptingWriter`] (an `io::Write` that must be [finished](EncryptingWriter::finish))
//! and [`DecryptingReader`] (an `io::Read` that releases a frame only once it authenticated).
//! Caching: [`CachingProvider`] wraps any provider and reuses data keys within limits of age,
//! messages and bytes.
//! Asymmetric recipients: [`PublicKeyRecipients`] encrypts offline to KMS keys' public keys
//! (RSA-OAEP-SHA-256 or ECDH P-256), and [`PrivateKeyUnwrapper`] opens such messages through the
//! KMS's Decrypt or DeriveSharedSecret ([`PrivateKeyOperations`]).
#![forbid(unsafe_code)]

mod asymmetric;
mod cache;
mod error;
pub mod esdk;
mod header;
mod inplace;
mod message;
mod provider;
mod stream;

pub use asymmetric::{
    p256_spki, unwrap_data_key, NoFallback, PrivateKeyOperations, PrivateKeyUnwrapper,
    PublicKeyRecipients, RecipientKey, WrappedKey, WrappedKeyError, WrappingScheme, P256_POINT_LEN,
    WRAPPED_KEY_MAGIC,
};
pub use cache::{CacheLimits, CacheStats, CachingProvider};
pub use error::{EnvelopeError, InvalidArgument, Limit, Malformed, ProviderError};
pub use header::{
    AlgorithmSuite, Header, Limits, COMMITMENT_LEN, DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    DEFAULT_MAX_FRAME_LEN, DEFAULT_MAX_HEADER_LEN, FORMAT_VERSION, FRAME_LEN, HEADER_TAG_LEN,
    MAGIC, MAX_FRAMES, MAX_FRAME_LEN, MAX_KEY_ID_LEN, MAX_WRAPPED_KEY_LEN, MESSAGE_ID_LEN,
    PREFIX_LEN,
};
pub use inplace::{decrypt_in_place, encrypt_in_place, OpenedInPlace, SealedInPlace};
pub use message::{decrypt, encrypt, DecryptOptions, Decrypted, EncryptOptions};
pub use provider::{
    DataKeyProvider, DerivationKey, EncryptedDataKey, EncryptionMaterials, GeneratedDataKey,
    MaterialsRequest, MessageMaterials, SharedMessageMaterials,
};
pub use stream::{DecryptingReader, EncryptingWriter};
