/// Why a value of the shared vocabulary was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// An account id is not 12 decimal digits.
    #[error("account id must be 12 digits")]
    InvalidAccountId,
    /// A region name is empty, too long or has characters other than `a-z0-9-`.
    #[error("invalid region name")]
    InvalidRegion,
    /// A key id is not a UUID.
    #[error("invalid key id")]
    InvalidKeyId,
    /// An ARN is not of the form `arn:PARTITION:kms:REGION:ACCOUNT:key/ID` or `…:alias/NAME`.
    #[error("invalid ARN")]
    InvalidArn,
    /// An alias name breaks the naming rules.
    #[error("alias names must begin with 'alias/', contain only letters, digits, '/', '_' and '-', and be at most 256 characters")]
    InvalidAliasName,
    /// A principal ARN is malformed (see [`crate::PrincipalArn`] for the rules).
    #[error("invalid principal ARN: expected arn:PARTITION:iam::ACCOUNT:root, …:user/NAME, …:role/NAME or arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION")]
    InvalidPrincipal,
    /// The encryption context is larger than the service accepts.
    #[error("encryption context exceeds {max} bytes", max = crate::MAX_ENCRYPTION_CONTEXT_BYTES)]
    EncryptionContextTooLarge,
    /// The canonical encoding of an encryption context is malformed.
    #[error("malformed encryption context encoding")]
    MalformedEncryptionContext,
    /// Randomness could not be drawn.
    #[error("random source failed")]
    Random(#[source] coffer_crypto::CryptoError),
}
