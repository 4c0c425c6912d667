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
    /// The root key file cannot be read or written.
    #[error("root key file {}: I/O failure", path.display())]
    KeyFileIo {
        /// The key file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The root key file is open to group or others; refused until it is `chmod 600`.
    #[error("root key file {} is accessible to group or others (mode {mode:o}); chmod 600 it", path.display())]
    KeyFilePermissions {
        /// The key file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The root key file does not hold exactly 32 bytes: damaged or not a key file.
    #[error("root key file {} is damaged: {len} bytes, expected 32", path.display())]
    KeyFileLength {
        /// The key file.
        path: std::path::PathBuf,
        /// How many bytes it holds (33 means "more than 32").
        len: usize,
    },
    /// The root key is held elsewhere (a PKCS#11 token) and cannot be reached now: the token is
    /// absent, removed, or its session was lost. Retryable: the operation may succeed once the
    /// token is back. The message names the token, never a PIN or key bytes.
    #[error("the root key is unavailable: {0}")]
    RootUnavailable(String),
    /// The encryption context cannot be encoded.
    #[error("invalid encryption context")]
    Context(#[source] coffer_core::CoreError),
}

impl From<coffer_crypto::CryptoError> for KeyError {
    fn from(e: coffer_crypto::CryptoError) -> Self {
        Self::Crypto(e)
    }
}
