/// Why a grant request or token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// An operation name that grants cannot carry.
    #[error("'{0}' is not a grant operation")]
    UnknownOperation(String),
    /// No operations.
    #[error("a grant needs at least one operation")]
    NoOperations,
    /// Both constraint kinds at once.
    #[error("a grant may have EncryptionContextEquals or EncryptionContextSubset, not both")]
    BothConstraints,
    /// Constraints on operations that take no encryption context.
    #[error("encryption context constraints are not allowed with operation {0}")]
    ConstraintNotSupported(&'static str),
    /// A grant name breaks the rules (1–256 of `a-zA-Z0-9:/_-`).
    #[error("grant names are 1 to 256 characters of letters, digits, ':', '/', '_' and '-'")]
    InvalidName,
    /// The token is malformed, forged, or for another key.
    #[error("the grant token is not valid")]
    InvalidToken,
}
