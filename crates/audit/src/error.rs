use std::fmt;
use std::io;
use std::path::PathBuf;

use coffer_crypto::CryptoError;

/// Everything that can go wrong in coffer-audit: recording, opening a log, parsing a record,
/// and verification (a tampered log is [`AuditError::Tampered`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The random source failed (event ids).
    #[error("random source failed")]
    Random(#[source] CryptoError),
    /// Reading or writing the audit directory failed.
    #[error("audit log I/O failed on {path}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// An earlier write or fsync failed; the sink refuses records until it has written them
    /// again (it retries by itself; see [`crate::FileSink::retry`]).
    #[error("audit log write failed ({kind}); records are refused until a retry succeeds")]
    Failed {
        /// The kind of the I/O error that broke the sink.
        kind: io::ErrorKind,
    },
    /// The sink was closed.
    #[error("audit sink is closed")]
    Closed,
    /// A record could not be encoded as JSON.
    #[error("audit record could not be encoded")]
    Encode(#[source] serde_json::Error),
    /// A line is not a well-formed audit record.
    #[error("malformed audit record")]
    Parse(#[source] serde_json::Error),
    /// A line is JSON but not a record of this format (wrong type tag, missing body).
    #[error("not an audit record: {0}")]
    NotARecord(&'static str),
    /// A public key given for verification is not 32 bytes of hex.
    #[error("invalid audit public key")]
    InvalidPublicKey,
    /// The log was tampered with (or damaged): where and how.
    #[error("audit log tampered: {0}")]
    Tampered(Box<Tampering>),
    /// [`crate::FileSink::open`] refused to continue a log whose tail does not match its last
    /// signed digest (or the newest digest published in the anchor directory): where and how.
    /// Nothing was written.
    #[error("refusing to continue the audit log: {0}")]
    TailRejected(Box<Tampering>),
    /// A line of an anchor directory's file is not a digest of this log.
    #[error("anchor file {}:{line}: {reason}", path.display())]
    BadAnchor {
        /// The anchors file.
        path: PathBuf,
        /// The 1-based line.
        line: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl AuditError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// The tampering found, if this is [`AuditError::Tampered`] or [`AuditError::TailRejected`].
    pub fn tampering(&self) -> Option<&Tampering> {
        match self {
            Self::Tampered(t) | Self::TailRejected(t) => Some(t),
            _ => None,
        }
    }
}

/// The first place where a log stops verifying.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tampering {
    /// The file where the break shows.
    pub file: PathBuf,
    /// The 1-based line number in that file (0 when the finding concerns the file as a whole).
    pub line: u64,
    /// What is wrong.
    pub kind: TamperKind,
    /// How many records verified before the break.
    pub records_verified: u64,
}

impl fmt::Display for Tampering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} (after {} intact records)",
            self.file.display(),
            self.line,
            self.kind,
            self.records_verified
        )
    }
}

/// The kinds of break the verifier reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TamperKind {
    /// The line is not a well-formed record (edited or cut).
    Malformed,
    /// The line's `prev` is not the hash of the line before: the record before was edited, or this
    /// one was inserted or altered.
    ChainBroken,
    /// Sequence numbers jump forward: records were deleted (or moved later).
    Gap {
        /// The sequence number expected here.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// Sequence numbers go back: a record was inserted, duplicated or moved earlier.
    OutOfOrder {
        /// The sequence number expected here.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// A line without its newline before the end of the log: the file was cut mid-line.
    TruncatedLine,
    /// A log file is missing (deleted), or a file holds no records where some are required.
    MissingFile {
        /// The file name expected.
        name: String,
    },
    /// A digest's signature does not verify under the pinned public key.
    BadSignature,
    /// A digest names a public key other than the pinned one.
    ForeignKey,
    /// A digest's fields disagree with its place in the log (file name, rollover).
    DigestMismatch,
    /// An exported digest (anchor) given to the verifier is not in the log: truncated or rewritten.
    AnchorNotFound {
        /// The anchor's sequence number.
        seq: u64,
    },
    /// The directory holds no audit log at all.
    Empty,
    /// No signed digest where the log must have one (the newest file holds none and the file
    /// before it does not end with a rollover digest): the tail cannot be checked.
    MissingDigest,
}

impl fmt::Display for TamperKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("malformed record (edited or cut)"),
            Self::ChainBroken => {
                f.write_str("hash chain broken (the record before was edited, or this one inserted or altered)")
            }
            Self::Gap { expected, found } => {
                write!(f, "expected record {expected}, found {found}: records deleted or reordered")
            }
            Self::OutOfOrder { expected, found } => write!(
                f,
                "expected record {expected}, found {found}: record inserted, duplicated or reordered"
            ),
            Self::TruncatedLine => f.write_str("line cut short before the end of the log"),
            Self::MissingFile { name } => write!(f, "log file {name} is missing or empty"),
            Self::BadSignature => f.write_str("digest signature does not verify"),
            Self::ForeignKey => f.write_str("digest signed by another key"),
            Self::DigestMismatch => f.write_str("digest does not match its place in the log"),
            Self::AnchorNotFound { seq } => {
                write!(f, "exported digest {seq} is not in the log (truncated or rewritten)")
            }
            Self::Empty => f.write_str("no audit records"),
            Self::MissingDigest => {
                f.write_str("no signed digest before the last records: the tail cannot be checked")
            }
        }
    }
}
