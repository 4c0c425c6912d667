use std::fmt;

use zeroize::{Zeroize, Zeroizing};

/// Overwrites `buf` with zeros in a way the optimizer may not remove, a machine word at a time
/// (volatile writes of `u128`, with byte writes only for the unaligned ends): `zeroize` on a
/// `[u8]` writes byte by byte, which costs more than an AES-GCM pass over the same buffer.
pub fn wipe(buf: &mut [u8]) {
    let (head, middle, tail) = bytemuck::pod_align_to_mut::<u8, u128>(buf);
    head.zeroize();
    middle.zeroize();
    tail.zeroize();
}

use crate::{CryptoError, RandomSource};

/// Length of an AES-256 / HMAC-SHA256 key in bytes.
pub const SYMMETRIC_KEY_LEN: usize = 32;

/// A 256-bit secret key. Zeroized on drop; prints as `[redacted]`; no `Display`, no `PartialEq`
/// (compare with [`crate::constant_time_eq`] if you must).
#[derive(Clone)]
pub struct SymmetricKey(Zeroizing<[u8; SYMMETRIC_KEY_LEN]>);

impl SymmetricKey {
    /// A key of fresh random bytes.
    pub fn generate(rng: &dyn RandomSource) -> Result<Self, CryptoError> {
        let mut k = Self::zeroed();
        rng.fill(&mut k.0[..])?;
        Ok(k)
    }

    /// Takes ownership of raw key bytes.
    pub fn from_bytes(mut bytes: [u8; SYMMETRIC_KEY_LEN]) -> Self {
        let k = Self(Zeroizing::new(bytes));
        bytes.zeroize();
        k
    }

    /// Copies a key from a slice, which must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != SYMMETRIC_KEY_LEN {
            return Err(CryptoError);
        }
        let mut k = Self::zeroed();
        k.0.copy_from_slice(bytes);
        Ok(k)
    }

    pub(crate) fn zeroed() -> Self {
        Self(Zeroizing::new([0u8; SYMMETRIC_KEY_LEN]))
    }

    /// The raw key bytes. Callers must not copy them into a non-zeroizing buffer.
    pub fn expose(&self) -> &[u8; SYMMETRIC_KEY_LEN] {
        &self.0
    }

    pub(crate) fn expose_mut(&mut self) -> &mut [u8; SYMMETRIC_KEY_LEN] {
        &mut self.0
    }
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SymmetricKey([redacted])")
    }
}

/// A secret byte string of any length: plaintext, data keys, key material. Wiped on drop
/// (its whole allocation, see [`wipe`]); prints as `[redacted]`; no `Display`.
#[derive(Default)]
pub struct SecretBytes(Vec<u8>);

impl Drop for SecretBytes {
    fn drop(&mut self) {
        // Spare capacity may hold earlier contents (a caller's Vec, a truncated tag): wipe all.
        let len = self.0.capacity();
        self.0.resize(len, 0);
        wipe(&mut self.0);
    }
}

impl Clone for SecretBytes {
    fn clone(&self) -> Self {
        Self::copy_from(&self.0)
    }
}

impl SecretBytes {
    /// Takes ownership of `bytes` (no copy is made, so nothing is left behind to wipe).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// `len` fresh random bytes.
    pub fn random(rng: &dyn RandomSource, len: usize) -> Result<Self, CryptoError> {
        let mut v = Self::new(vec![0u8; len]);
        rng.fill(&mut v.0)?;
        Ok(v)
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret bytes, mutably (the length cannot change through this).
    pub fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Shortens the secret to `len` bytes (the dropped tail is wiped when the secret is).
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// An empty secret with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    /// Appends `bytes`. Growing past the capacity moves the secret to a larger buffer and wipes
    /// the old one (a plain `Vec` would free it unwiped).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let needed = self.0.len() + bytes.len();
        if needed > self.0.capacity() {
            let mut grown = Vec::with_capacity(needed.max(2 * self.0.capacity()));
            grown.extend_from_slice(&self.0);
            wipe(&mut self.0);
            self.0 = grown;
        }
        self.0.extend_from_slice(bytes);
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self::new(v)
    }
}

impl From<SymmetricKey> for SecretBytes {
    fn from(k: SymmetricKey) -> Self {
        Self::copy_from(k.expose())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted]; {} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let k = SymmetricKey::from_bytes([0xAB; 32]);
        let s = SecretBytes::copy_from(b"hunter2hunter2");
        let out = format!("{k:?} {s:?} {k:#?} {s:#?}");
        assert!(out.contains("[redacted]"));
        assert!(!out.contains("hunter2"));
        assert!(!out.to_lowercase().contains("ab, "));
        assert!(!out.contains("171"));
    }

    #[test]
    fn wipe_clears_every_byte_at_any_alignment() {
        let mut buf = vec![0xA5u8; 300];
        for start in 0..17 {
            for end in (start..300).step_by(37) {
                buf.iter_mut().for_each(|b| *b = 0xA5);
                wipe(&mut buf[start..end]);
                assert!(buf[start..end].iter().all(|&b| b == 0));
                assert!(buf[..start].iter().all(|&b| b == 0xA5));
                assert!(buf[end..].iter().all(|&b| b == 0xA5));
            }
        }
    }

    #[test]
    fn from_slice_checks_length() {
        assert!(SymmetricKey::from_slice(&[0u8; 31]).is_err());
        assert!(SymmetricKey::from_slice(&[0u8; 33]).is_err());
        assert!(SymmetricKey::from_slice(&[0u8; 32]).is_ok());
    }
}
