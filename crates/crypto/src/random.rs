use ring::rand::SecureRandom;

use crate::CryptoError;

/// A source of cryptographically secure random bytes.
///
/// Injected into every component that draws randomness, so tests can make outputs reproducible
/// (see the `testing` feature). Production uses [`SystemRandom`].
pub trait RandomSource: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError>;
}

/// The operating system's CSPRNG (getrandom), through `ring`.
#[derive(Debug, Clone)]
pub struct SystemRandom(ring::rand::SystemRandom);

impl SystemRandom {
    /// The system random source.
    pub fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomSource for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        self.0.fill(dest).map_err(|_| CryptoError)
    }
}

impl<T: RandomSource + ?Sized> RandomSource for std::sync::Arc<T> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        (**self).fill(dest)
    }
}
