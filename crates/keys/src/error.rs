/// Failures of the key hierarchy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A ciphertext blob is malformed, names another key, or fails authentication. Deliberately
    /// without detail.
    #[error("the ciphertext is invalid")]
    InvalidCiphertext,
    /// The blob names a backing-key version this key does not have.
    #[error("the ciphertext names an unknown key version")]
    UnknownVersion,
    /// Wrapped key material failed to unwrap: the root key is wrong or the record was damaged or
    /// moved onto another key or version.
    #[error("wrapped key material of key {key_id} version {version} failed to unwrap")]
    Unwrap {
        /// The key whose material failed.
        key_id: coffer_core::KeyId,
        /// The version that failed.
        version: crate::VersionId,
    },
    /// A cryptographic primitive failed (randomness, key setup).
    #[error("cryptographic failure")]
    Crypto(#[source] coffer_crypto::CryptoError),
    /// A key has no material for its current version.
    #[error("key {0} has no current key material")]
    NoCurrentVersion(coffer_core::KeyId),
    /// The encryption context cannot be encoded.
    #[error("invalid encryption context")]
    Context(#[source] coffer_core::CoreError),
}

impl From<coffer_crypto::CryptoError> for KeyError {
    fn from(e: coffer_crypto::CryptoError) -> Self {
        Self::Crypto(e)
    }
}
