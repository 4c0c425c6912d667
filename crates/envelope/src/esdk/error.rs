//! The errors of the ESDK message format.

use crate::ProviderError;

/// Why reading or writing an AWS Encryption SDK message failed.
///
/// Structural failures carry detail (they are decided before any secret is used); the
/// cryptographic ones say which check failed (commitment, header tag, a frame's tag, the
/// signature) and nothing else.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EsdkError {
    /// The first byte is not message format version 2 (`0x02`); version 1 messages (the
    /// non-committing suites) are not read.
    #[error("unsupported ESDK message format version {0:#04x} (only version 2 is read)")]
    UnsupportedVersion(u8),
    /// The header names an algorithm suite other than 0x0478 or 0x0578.
    #[error("unsupported ESDK algorithm suite {0:#06x}")]
    UnsupportedSuite(u16),
    /// The message ends early.
    #[error("ESDK message is truncated")]
    Truncated,
    /// Bytes follow the end of the message.
    #[error("unexpected data after the end of the ESDK message")]
    TrailingData,
    /// The message is not well formed.
    #[error("malformed ESDK message: {0}")]
    Malformed(EsdkMalformed),
    /// A bound was exceeded (checked before anything is allocated for it).
    #[error("{what} is {found}, above the limit of {max}")]
    LimitExceeded {
        /// Which bound.
        what: &'static str,
        /// The bound in force.
        max: u64,
        /// The value found.
        found: u64,
    },
    /// The key commitment in the header does not match the data key.
    #[error("key commitment does not match the data key")]
    Commitment,
    /// The header authentication tag does not verify.
    #[error("header authentication failed")]
    HeaderAuthentication,
    /// A frame (or the non-framed body) does not authenticate.
    #[error("body authentication failed at sequence number {sequence}")]
    BodyAuthentication {
        /// The sequence number of the frame (1 for a non-framed body).
        sequence: u32,
    },
    /// The footer's ECDSA P-384 signature does not verify.
    #[error("message signature does not verify")]
    Signature,
    /// No keyring could decrypt any of the message's encrypted data keys.
    #[error("none of the {attempted} encrypted data keys tried could be decrypted")]
    NoDecryptableDataKey {
        /// How many encrypted data keys were attempted.
        attempted: usize,
        /// The error for the last one attempted, if any.
        #[source]
        last: Option<ProviderError>,
    },
    /// The data-key provider refused or failed a call.
    #[error("data key provider failed for key {key_id}")]
    Provider {
        /// The key identifier the call was made with.
        key_id: String,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },
    /// The message's encryption context is not the one the caller required.
    #[error("encryption context does not match the expected one")]
    ContextMismatch,
    /// An argument is not acceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// Randomness or a primitive failed outside of authentication.
    #[error("cryptographic primitive failed")]
    Crypto,
    /// An earlier error left the streaming reader unusable.
    #[error("stream is unusable after an earlier error")]
    Poisoned,
    /// The underlying reader failed.
    #[error("I/O error")]
    Io(#[source] std::io::Error),
}

impl From<EsdkError> for std::io::Error {
    /// Wraps the error for `io::Read` (recover it with `get_ref()` and `downcast_ref`); an
    /// [`EsdkError::Io`] gives back the original error.
    fn from(e: EsdkError) -> Self {
        use std::io::ErrorKind;
        match e {
            EsdkError::Io(inner) => inner,
            EsdkError::Truncated => Self::new(ErrorKind::UnexpectedEof, e),
            EsdkError::Provider { .. } | EsdkError::Crypto => Self::other(e),
            other => Self::new(ErrorKind::InvalidData, other),
        }
    }
}

/// What is malformed about an ESDK message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EsdkMalformed {
    /// The content type is neither 0x01 (non-framed) nor 0x02 (framed).
    #[error("unknown content type {0:#04x}")]
    ContentType(u8),
    /// A framed message with frame length 0, or a non-framed one with a frame length.
    #[error("frame length does not fit the content type")]
    FrameLength,
    /// The header lists no encrypted data key.
    #[error("no encrypted data key")]
    NoEncryptedDataKey,
    /// The encryption context's pair count or lengths do not match its AAD length.
    #[error("encryption context does not match its length")]
    ContextLength,
    /// An encryption context key appears twice.
    #[error("encryption context key repeated")]
    ContextDuplicateKey,
    /// An encryption context is present but holds no pair.
    #[error("encryption context has a length but no pairs")]
    ContextEmpty,
    /// A text field is not UTF-8.
    #[error("text is not UTF-8")]
    InvalidUtf8,
    /// A frame's sequence number is not the next one.
    #[error("frame sequence number {found}, expected {expected}")]
    SequenceNumber {
        /// The sequence number the frame should carry.
        expected: u32,
        /// The one it carries.
        found: u32,
    },
    /// A frame's IV is not the one its sequence number determines.
    #[error("IV does not match the sequence number")]
    Iv,
    /// The final frame holds more than the frame length.
    #[error("final frame is longer than the frame length")]
    FinalFrameLength,
    /// The signed suite's `aws-crypto-public-key` context entry is missing or not a
    /// compressed P-384 point in base64.
    #[error("missing or invalid aws-crypto-public-key")]
    PublicKey,
    /// The footer's signature length is zero or not plausible.
    #[error("signature length is not plausible")]
    SignatureLength,
}

impl From<EsdkMalformed> for EsdkError {
    fn from(m: EsdkMalformed) -> Self {
        Self::Malformed(m)
    }
}
