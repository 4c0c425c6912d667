use std::fmt;
use std::sync::Arc;

use coffer_crypto::aead::{Aes256Gcm, Nonce, NONCE_LEN, TAG_LEN};
use coffer_crypto::{CryptoError, RandomSource, SecretBytes, SymmetricKey, SYMMETRIC_KEY_LEN};

use crate::KeyError;

/// The root of trust: wraps every backing key before it reaches the store.
///
/// Implementations: [`LocalRootKey`] (a key held in memory, loaded from a key file or derived from
/// a passphrase); an HSM-held key implements the same trait without the key leaving the token.
pub trait RootKey: Send + Sync {
    /// Wraps `material`, binding `aad`.
    fn wrap(&self, aad: &[u8], material: &SymmetricKey) -> Result<Vec<u8>, KeyError>;
    /// Unwraps; fails unless `aad` and `wrapped` are exactly what `wrap` bound and produced.
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SymmetricKey, KeyError>;
    /// Wraps secret material of any length up to [`MAX_SECRET_LEN`] (HMAC keys), binding `aad`.
    fn wrap_secret(&self, aad: &[u8], material: &SecretBytes) -> Result<Vec<u8>, KeyError>;
    /// Unwraps what [`RootKey::wrap_secret`] produced with the same `aad`.
    fn unwrap_secret(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KeyError>;
}

/// The longest material [`RootKey::wrap_secret`] takes: room for the largest private key's
/// PKCS #8 (ML-DSA-87, about 4.9 KB; RSA 4096 about 2.4 KB).
pub const MAX_SECRET_LEN: usize = 8192;

const WRAP_V1: u8 = 1;
const WRAPPED_LEN: usize = 1 + NONCE_LEN + SYMMETRIC_KEY_LEN + TAG_LEN;

/// A root key held in process memory: AES-256-GCM key wrapping with a random nonce.
///
/// A root key wraps one value per backing-key version ever made, far below the 2^32 random-nonce
/// bound of AES-GCM.
pub struct LocalRootKey {
    aead: Aes256Gcm,
    rng: Arc<dyn RandomSource>,
}

impl LocalRootKey {
    /// A root key from its 32 bytes.
    pub fn new(key: &SymmetricKey, rng: Arc<dyn RandomSource>) -> Result<Self, KeyError> {
        Ok(Self {
            aead: Aes256Gcm::new(key)?,
            rng,
        })
    }

    /// A random root key that lives only as long as the process: for the in-memory store, where
    /// nothing outlives the process anyway.
    pub fn ephemeral(rng: Arc<dyn RandomSource>) -> Result<Self, KeyError> {
        let key = SymmetricKey::generate(rng.as_ref())?;
        Self::new(&key, rng)
    }
}

impl fmt::Debug for LocalRootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalRootKey([redacted])")
    }
}

impl RootKey for LocalRootKey {
    fn wrap(&self, aad: &[u8], material: &SymmetricKey) -> Result<Vec<u8>, KeyError> {
        let nonce = Nonce::random(self.rng.as_ref())?;
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.push(WRAP_V1);
        out.extend_from_slice(nonce.as_bytes());
        self.aead
            .seal_append(&nonce, aad, material.expose(), &mut out)?;
        Ok(out)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SymmetricKey, KeyError> {
        if wrapped.len() != WRAPPED_LEN || wrapped.first() != Some(&WRAP_V1) {
            return Err(KeyError::Crypto(CryptoError));
        }
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(wrapped.get(1..1 + NONCE_LEN).ok_or(CryptoError)?);
        let body = wrapped.get(1 + NONCE_LEN..).ok_or(CryptoError)?;
        let plain = self.aead.open(&Nonce::from_bytes(n), aad, body)?;
        Ok(SymmetricKey::from_slice(plain.expose())?)
    }

    fn wrap_secret(&self, aad: &[u8], material: &SecretBytes) -> Result<Vec<u8>, KeyError> {
        if material.is_empty() || material.len() > MAX_SECRET_LEN {
            return Err(KeyError::Crypto(CryptoError));
        }
        let nonce = Nonce::random(self.rng.as_ref())?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + material.len() + TAG_LEN);
        out.push(WRAP_V1);
        out.extend_from_slice(nonce.as_bytes());
        self.aead
            .seal_append(&nonce, aad, material.expose(), &mut out)?;
        Ok(out)
    }

    fn unwrap_secret(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KeyError> {
        let overhead = 1 + NONCE_LEN + TAG_LEN;
        if wrapped.len() <= overhead
            || wrapped.len() > overhead + MAX_SECRET_LEN
            || wrapped.first() != Some(&WRAP_V1)
        {
            return Err(KeyError::Crypto(CryptoError));
        }
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(wrapped.get(1..1 + NONCE_LEN).ok_or(CryptoError)?);
        let body = wrapped.get(1 + NONCE_LEN..).ok_or(CryptoError)?;
        Ok(self.aead.open(&Nonce::from_bytes(n), aad, body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackingKey, VersionId};
    use coffer_core::KeyId;
    use coffer_crypto::SystemRandom;
    use std::time::SystemTime;

    #[test]
    fn wrapped_version_is_bound_to_key_and_version() {
        let rng: Arc<dyn RandomSource> = Arc::new(SystemRandom::new());
        let root = LocalRootKey::ephemeral(rng.clone()).unwrap();
        let other_root = LocalRootKey::ephemeral(rng.clone()).unwrap();
        let k1 = KeyId::generate(rng.as_ref()).unwrap();
        let k2 = KeyId::generate(rng.as_ref()).unwrap();
        let v = BackingKey::generate(rng.as_ref(), SystemTime::UNIX_EPOCH, None).unwrap();
        let w = v.wrap(&k1, &root).unwrap();
        assert!(w.unwrap(&k1, &root).is_ok());
        // Copied onto another key.
        assert!(matches!(w.unwrap(&k2, &root), Err(KeyError::Unwrap { .. })));
        // Copied onto another version.
        let mut moved = w.clone();
        moved.id = VersionId::generate(rng.as_ref()).unwrap();
        assert!(moved.unwrap(&k1, &root).is_err());
        // Wrong root key.
        assert!(w.unwrap(&k1, &other_root).is_err());
        // Damaged.
        for i in 0..w.wrapped.len() {
            let mut bad = w.clone();
            bad.wrapped[i] ^= 0x40;
            assert!(bad.unwrap(&k1, &root).is_err(), "byte {i}");
        }
        let mut short = w.clone();
        short.wrapped.pop();
        assert!(short.unwrap(&k1, &root).is_err());
    }

    #[test]
    fn hmac_versions_are_bound_as_hmac_material() {
        let rng: Arc<dyn RandomSource> = Arc::new(SystemRandom::new());
        let root = LocalRootKey::ephemeral(rng.clone()).unwrap();
        let k = KeyId::generate(rng.as_ref()).unwrap();
        for len in [28, 32, 48, 64] {
            let v = BackingKey::generate_mac(rng.as_ref(), len, SystemTime::UNIX_EPOCH).unwrap();
            let w = v.wrap(&k, &root).unwrap();
            assert_eq!(w.wrapped.len(), 1 + NONCE_LEN + len + TAG_LEN);
            assert!(w.unwrap_mac(&k, &root).is_ok());
            // Never as an encryption key, even at 32 bytes (the binding differs).
            assert!(w.unwrap(&k, &root).is_err());
            for i in 0..w.wrapped.len() {
                let mut bad = w.clone();
                bad.wrapped[i] ^= 0x40;
                assert!(bad.unwrap_mac(&k, &root).is_err(), "byte {i}");
            }
        }
        // An encryption key's version never unwraps as HMAC material.
        let v = BackingKey::generate(rng.as_ref(), SystemTime::UNIX_EPOCH, None).unwrap();
        assert!(v.wrap(&k, &root).unwrap().unwrap_mac(&k, &root).is_err());
        assert!(BackingKey::generate_mac(rng.as_ref(), 0, SystemTime::UNIX_EPOCH).is_err());
        assert!(
            BackingKey::generate_mac(rng.as_ref(), MAX_SECRET_LEN + 1, SystemTime::UNIX_EPOCH)
                .is_err()
        );
    }
}
