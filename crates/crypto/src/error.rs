/// An opaque cryptographic failure.
///
/// Deliberately carries no detail: which check failed (tag, length, padding) is exactly what an
/// attacker probing a decryption oracle would like to learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cryptographic operation failed")]
pub struct CryptoError;
