//! The crate's one error type: what stops a store from opening, and why a change is refused.

use std::path::PathBuf;

/// Why the credential store could not open, or why a change to it was refused.
///
/// Opening errors name the file and never quote a value of it (values may be secrets). A
/// refused change carries the message a client may be shown; [`Error::code`] is the AWS-style
/// exception name a server answers with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A credential file is not valid JSON of the expected shape. Only where is kept: the
    /// parser's message can quote the offending value, which could be a secret.
    #[error("{path}: not a valid credential file (line {line}, column {column})")]
    CredentialFile {
        /// The file.
        path: PathBuf,
        /// Where the parser stopped (1-based; 0 when the file was being written).
        line: usize,
        /// The column there.
        column: usize,
    },
    /// A credential file holds a value that is not valid (an account id, principal ARN, …).
    #[error("{path}: invalid credential entry: {what}")]
    InvalidCredential {
        /// The file.
        path: PathBuf,
        /// Which value.
        what: &'static str,
    },
    /// The data dir was created for another region.
    #[error("the data dir was created for region {stored}, not {requested}")]
    RegionMismatch {
        /// The region recorded in the data dir.
        stored: String,
        /// The region asked for.
        requested: String,
    },
    /// A credential file is readable or writable by its group or others.
    #[error("{path}: mode {mode:o} lets group or others read or write it; chmod 600 it")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// What the configuration attaches to principals is invalid.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The random source failed.
    #[error("random source failed")]
    Random(#[source] coffer_crypto::CryptoError),
    /// A request value is invalid (`ValidationException`).
    #[error("{0}")]
    Validation(String),
    /// An identity policy is malformed (`MalformedPolicyDocumentException`).
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// The store is full (`LimitExceededException`).
    #[error("{0}")]
    LimitExceeded(String),
    /// No live credential has the access key id (`NotFoundException`).
    #[error("{0}")]
    NotFound(String),
    /// The change would lock administrators out, or has nothing to act on
    /// (`KMSInvalidStateException`).
    #[error("{0}")]
    InvalidState(String),
    /// The store failed (`KMSInternalException`); the message names what, never a secret.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The AWS-style exception name a server answers with: `ValidationException`,
    /// `MalformedPolicyDocumentException`, `LimitExceededException`, `NotFoundException`,
    /// `KMSInvalidStateException`, or `KMSInternalException` for everything else.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "ValidationException",
            Self::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            Self::LimitExceeded(_) => "LimitExceededException",
            Self::NotFound(_) => "NotFoundException",
            Self::InvalidState(_) => "KMSInvalidStateException",
            _ => "KMSInternalException",
        }
    }

    /// [`Error::CredentialFile`] for `path` from a JSON error, keeping only its position.
    pub(crate) fn credential_file(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(serde_json::Error) -> Self {
        let path = path.into();
        move |e| Self::CredentialFile {
            path,
            line: e.line(),
            column: e.column(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
