//! Sharp tools for tests: never for production.

use std::sync::Mutex;

use crate::{CryptoError, RandomSource};

/// A deterministic "random" source: HMAC-SHA256(seed, counter) blocks. For reproducible test
/// vectors and tests only: it is predictable by design.
pub struct DeterministicRandom {
    key: ring::hmac::Key,
    counter: Mutex<u64>,
}

impl DeterministicRandom {
    /// A source whose output is a pure function of `seed` and the sequence of calls.
    pub fn new(seed: &[u8]) -> Self {
        Self {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed),
            counter: Mutex::new(0),
        }
    }
}

impl std::fmt::Debug for DeterministicRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeterministicRandom")
    }
}

impl RandomSource for DeterministicRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        let mut counter = self.counter.lock().map_err(|_| CryptoError)?;
        for chunk in dest.chunks_mut(32) {
            let tag = ring::hmac::sign(&self.key, &counter.to_be_bytes());
            *counter += 1;
            let n = chunk.len();
            chunk.copy_from_slice(tag.as_ref().get(..n).ok_or(CryptoError)?);
        }
        Ok(())
    }
}
