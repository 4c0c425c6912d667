use std::{fmt, io};

use coffer_core::CoreError;
use coffer_crypto::CryptoError;

/// Why an envelope operation failed.
///
/// Cryptographic failures are deliberately opaque: a bad header tag, a bad frame tag and a key
/// commitment that does not match all read [`EnvelopeError::Authentication`], so that no oracle can
/// be built from the difference. Structural failures (a truncated stream, a malformed header, a bound
/// exceeded) carry detail, since they are decided before any secret is touched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The data-key provider refused or failed a call.
    #[error("data key provider failed for key {key_id}")]
    Provider {
        /// The key identifier the call was made with.
        key_id: String,
        /// The provider's error, passed through unchanged.
        #[source]
        source: ProviderError,
    },
    /// None of the message's encrypted data keys could be decrypted.
    #[error("none of the {attempted} encrypted data keys tried could be decrypted")]
    NoDecryptableDataKey {
        /// How many encrypted data keys were offered to the provider.
        attempted: usize,
        /// The provider's error for the last one tried, if any was tried.
        #[source]
        last: Option<ProviderError>,
    },
    /// The header tag, a frame tag or the key commitment did not verify.
    #[error("message authentication failed")]
    Authentication,
    /// The message ended before its final frame (or inside the header).
    #[error("message is truncated")]
    Truncated,
    /// Bytes follow the final frame.
    #[error("unexpected data after the final frame")]
    TrailingData,
    /// The message is not well formed.
    #[error("malformed message: {0}")]
    Malformed(Malformed),
    /// The header names a format version this crate does not know.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u64),
    /// The header names an algorithm suite this crate does not know.
    #[error("unsupported algorithm suite {0:#06x}")]
    UnsupportedSuite(u64),
    /// A bound was exceeded (checked before anything is allocated for it).
    #[error("{limit} is {found}, above the limit of {max}")]
    LimitExceeded {
        /// Which bound.
        limit: Limit,
        /// The bound in force.
        max: u64,
        /// The value found.
        found: u64,
    },
    /// The message's encryption context is not the one the caller required.
    #[error("encryption context does not match the expected one")]
    ContextMismatch,
    /// The encryption context is not acceptable (too large).
    #[error("invalid encryption context")]
    InvalidContext(#[source] CoreError),
    /// An argument of the caller is not acceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(InvalidArgument),
    /// An earlier error left the writer or reader unusable.
    #[error("stream is unusable after an earlier error")]
    Poisoned,
    /// The underlying reader or writer failed.
    #[error("I/O error")]
    Io(#[source] io::Error),
    /// Randomness or a primitive failed outside of authentication.
    #[error("cryptographic primitive failed")]
    Crypto(#[source] CryptoError),
}

impl EnvelopeError {
    /// The `io::ErrorKind` under which this error travels through `io::Read` / `io::Write`.
    fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::Truncated => io::ErrorKind::UnexpectedEof,
            Self::Io(e) => e.kind(),
            Self::InvalidArgument(_) => io::ErrorKind::InvalidInput,
            Self::Provider { .. } | Self::Crypto(_) | Self::Poisoned => io::ErrorKind::Other,
            _ => io::ErrorKind::InvalidData,
        }
    }
}

impl From<EnvelopeError> for io::Error {
    /// Wraps the error for `io::Read` / `io::Write`; an [`EnvelopeError::Io`] gives back the
    /// original `io::Error`.
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Io(inner) => inner,
            other => io::Error::new(other.io_kind(), other),
        }
    }
}

impl From<io::Error> for EnvelopeError {
    /// Recovers an `EnvelopeError` that travelled inside an `io::Error`; any other I/O error
    /// becomes [`EnvelopeError::Io`].
    fn from(e: io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<EnvelopeError>()) {
            let kind = e.kind();
            match e.into_inner().map(|b| b.downcast::<EnvelopeError>()) {
                Some(Ok(inner)) => *inner,
                Some(Err(other)) => Self::Io(io::Error::new(kind, other)),
                None => Self::Io(io::Error::from(kind)),
            }
        } else {
            Self::Io(e)
        }
    }
}

/// What is malformed about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The message does not start with the envelope magic bytes.
    #[error("not an envelope message (bad magic)")]
    BadMagic,
    /// The CBOR header is not well formed or not of the expected shape.
    #[error("header is not the expected CBOR structure")]
    HeaderStructure,
    /// The CBOR header is well formed but not in its one deterministic encoding.
    #[error("header is not deterministically encoded")]
    NotCanonical,
    /// The header's CBOR ends before the length prefix says, or continues after it.
    #[error("header length does not match its contents")]
    HeaderLength,
    /// A text string is not UTF-8.
    #[error("text is not UTF-8")]
    InvalidUtf8,
    /// The message id is not 32 bytes, or the key commitment is not 32 bytes.
    #[error("fixed-length field has the wrong length")]
    FieldLength,
    /// Encryption-context keys are not in deterministic order or repeat.
    #[error("encryption context keys are out of order or repeated")]
    ContextOrder,
    /// The header lists no encrypted data key.
    #[error("no encrypted data key")]
    NoEncryptedDataKey,
    /// The frame length is zero.
    #[error("frame length is zero")]
    ZeroFrameLength,
    /// A frame starts with an unknown type byte.
    #[error("unknown frame type {0:#04x}")]
    FrameType(u8),
    /// A final frame claims more plaintext than the frame length.
    #[error("final frame is longer than the frame length")]
    FinalFrameLength,
}

/// A bound checked before allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Length of the CBOR header in bytes.
    HeaderLength,
    /// Number of encrypted data keys in the header.
    EncryptedDataKeys,
    /// Length of a key identifier in bytes.
    KeyIdLength,
    /// Length of a wrapped data key in bytes.
    WrappedKeyLength,
    /// Frame length in bytes.
    FrameLength,
    /// Number of frames.
    FrameCount,
    /// Plaintext bytes written beyond the declared length.
    PlaintextLength,
    /// Length of an encryption-context key or value in bytes.
    EncryptionContext,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HeaderLength => "header length",
            Self::EncryptedDataKeys => "number of encrypted data keys",
            Self::KeyIdLength => "key identifier length",
            Self::WrappedKeyLength => "wrapped data key length",
            Self::FrameLength => "frame length",
            Self::FrameCount => "number of frames",
            Self::PlaintextLength => "plaintext length",
            Self::EncryptionContext => "encryption context entry length",
        })
    }
}

/// Which argument was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidArgument {
    /// No key identifier was given to encrypt under.
    #[error("at least one key identifier is required")]
    NoKeyIds,
    /// The frame length is zero or above [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN).
    #[error("frame length must be between 1 and MAX_FRAME_LEN")]
    FrameLength,
    /// The provider returned encryption materials that do not fit the request.
    #[error("provider returned encryption materials that do not fit the request")]
    Materials,
    /// The buffer given to [`SealedInPlace`](crate::SealedInPlace) is not the one it sealed
    /// (its length differs).
    #[error("the body is not the buffer this message was sealed in")]
    BodyLength,
}

/// A failure reported by a [`DataKeyProvider`](crate::DataKeyProvider): an error code (for the
/// in-process KMS, the AWS exception name such as `AccessDeniedException`), a message, and
/// optionally the provider's own error as the source.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProviderError {
    code: String,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ProviderError {
    /// An error with a code (e.g. `NotFoundException`) and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the provider's own error as the source.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The error code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_error_survives_io_round_trip() {
        let io: io::Error = EnvelopeError::Truncated.into();
        assert_eq!(io.kind(), io::ErrorKind::UnexpectedEof);
        assert!(matches!(EnvelopeError::from(io), EnvelopeError::Truncated));
        let plain = io::Error::new(io::ErrorKind::BrokenPipe, "pipe");
        match EnvelopeError::from(plain) {
            EnvelopeError::Io(e) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
            other => panic!("unexpected {other:?}"),
        }
        let back: io::Error = EnvelopeError::Io(io::Error::from(io::ErrorKind::TimedOut)).into();
        assert_eq!(back.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn provider_error_keeps_code_and_source() {
        use std::error::Error as _;
        let e = ProviderError::new("AccessDeniedException", "no")
            .with_source(io::Error::from(io::ErrorKind::Other));
        assert_eq!(e.code(), "AccessDeniedException");
        assert_eq!(e.to_string(), "AccessDeniedException: no");
        assert!(e.source().is_some());
        let outer = EnvelopeError::Provider {
            key_id: "k".into(),
            source: e,
        };
        assert!(outer.source().is_some());
    }
}
