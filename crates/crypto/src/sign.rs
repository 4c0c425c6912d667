//! Ed25519 signatures (RFC 8032), for signed audit digests.

use std::fmt;

use ring::signature::{self, Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

use crate::{CryptoError, RandomSource, SecretBytes};

/// Length of an Ed25519 private seed in bytes.
pub const ED25519_SEED_LEN: usize = 32;
/// Length of an Ed25519 public key in bytes.
pub const ED25519_PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature in bytes.
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// The RFC 8410 PKCS#8 v1 prefix for an Ed25519 private key; the 32-byte seed follows.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The PKCS#8 v2 prefix (with the public key after the seed), as ring generates it.
const PKCS8_V2_PREFIX: [u8; 16] = [
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 private key. The seed is zeroized on drop; prints as `[redacted]`.
pub struct SigningKey {
    seed: Zeroizing<[u8; ED25519_SEED_LEN]>,
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// A fresh key from `rng`.
    pub fn generate(rng: &dyn RandomSource) -> Result<Self, CryptoError> {
        let mut seed = Zeroizing::new([0u8; ED25519_SEED_LEN]);
        rng.fill(&mut seed[..])?;
        Self::from_seed(&seed[..])
    }

    /// The key whose 32-byte private seed is `seed` (RFC 8032).
    pub fn from_seed(seed: &[u8]) -> Result<Self, CryptoError> {
        let mut s = Zeroizing::new([0u8; ED25519_SEED_LEN]);
        if seed.len() != ED25519_SEED_LEN {
            return Err(CryptoError);
        }
        s.copy_from_slice(seed);
        let pair = Ed25519KeyPair::from_seed_unchecked(&s[..]).map_err(|_| CryptoError)?;
        Ok(Self { seed: s, pair })
    }

    /// Parses a PKCS#8 document (v1 as [`Self::to_pkcs8`] writes it, or v2 as ring generates it).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let prefix = der.get(..PKCS8_V1_PREFIX.len()).ok_or(CryptoError)?;
        if prefix != PKCS8_V1_PREFIX && prefix != PKCS8_V2_PREFIX {
            return Err(CryptoError);
        }
        // ring checks the whole structure (and, for v2, that the public key matches the seed).
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| CryptoError)?;
        let seed = der
            .get(PKCS8_V1_PREFIX.len()..PKCS8_V1_PREFIX.len() + ED25519_SEED_LEN)
            .ok_or(CryptoError)?;
        Self::from_seed(seed)
    }

    /// The key as an RFC 8410 PKCS#8 v1 document (48 bytes).
    pub fn to_pkcs8(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(PKCS8_V1_PREFIX.len() + ED25519_SEED_LEN);
        out.extend_from_slice(&PKCS8_V1_PREFIX);
        out.extend_from_slice(&self.seed[..]);
        SecretBytes::new(out)
    }

    /// The 32-byte private seed.
    pub fn seed(&self) -> SecretBytes {
        SecretBytes::copy_from(&self.seed[..])
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        let mut pk = [0u8; ED25519_PUBLIC_KEY_LEN];
        pk.copy_from_slice(self.pair.public_key().as_ref());
        VerifyingKey(pk)
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; ED25519_SIGNATURE_LEN] {
        let mut sig = [0u8; ED25519_SIGNATURE_LEN];
        sig.copy_from_slice(self.pair.sign(msg).as_ref());
        sig
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey([redacted]; public {:?})",
            self.verifying_key()
        )
    }
}

/// An Ed25519 public key (not secret).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey([u8; ED25519_PUBLIC_KEY_LEN]);

impl VerifyingKey {
    /// A public key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut pk = [0u8; ED25519_PUBLIC_KEY_LEN];
        if bytes.len() != ED25519_PUBLIC_KEY_LEN {
            return Err(CryptoError);
        }
        pk.copy_from_slice(bytes);
        Ok(Self(pk))
    }

    /// The 32 public key bytes.
    pub fn as_bytes(&self) -> &[u8; ED25519_PUBLIC_KEY_LEN] {
        &self.0
    }

    /// Checks `sig` over `msg` under this key.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        verify_ed25519(&self.0, msg, sig)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifyingKey(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// Checks an Ed25519 signature `sig` over `msg` under the 32-byte public key `public`.
pub fn verify_ed25519(public: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    signature::UnparsedPublicKey::new(&signature::ED25519, public)
        .verify(msg, sig)
        .map_err(|_| CryptoError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRandom;

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let k = SigningKey::from_seed(&seed).unwrap();
        assert_eq!(k.verifying_key().as_bytes()[..], public[..]);
        let sig = k.sign(b"");
        assert_eq!(
            sig[..],
            hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")[..]
        );
        verify_ed25519(&public, b"", &sig).unwrap();
    }

    #[test]
    fn sign_verify_and_reject() {
        let k = SigningKey::generate(&SystemRandom::new()).unwrap();
        let vk = k.verifying_key();
        let sig = k.sign(b"digest");
        vk.verify(b"digest", &sig).unwrap();
        assert!(vk.verify(b"digesT", &sig).is_err());
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(vk.verify(b"digest", &bad).is_err());
        assert!(vk.verify(b"digest", &sig[..63]).is_err());
        let other = SigningKey::generate(&SystemRandom::new()).unwrap();
        assert!(other.verifying_key().verify(b"digest", &sig).is_err());
    }

    #[test]
    fn pkcs8_and_seed_round_trip() {
        let rng = SystemRandom::new();
        let k = SigningKey::generate(&rng).unwrap();
        let k2 = SigningKey::from_pkcs8(k.to_pkcs8().expose()).unwrap();
        assert_eq!(k.verifying_key(), k2.verifying_key());
        let k3 = SigningKey::from_seed(k.seed().expose()).unwrap();
        assert_eq!(k.verifying_key(), k3.verifying_key());
        // ring's own v2 documents are accepted too.
        let v2 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let from_ring = Ed25519KeyPair::from_pkcs8(v2.as_ref()).unwrap();
        let k4 = SigningKey::from_pkcs8(v2.as_ref()).unwrap();
        assert_eq!(
            k4.verifying_key().as_bytes()[..],
            from_ring.public_key().as_ref()[..]
        );
        assert!(SigningKey::from_pkcs8(&[0u8; 48]).is_err());
        assert!(SigningKey::from_pkcs8(&[]).is_err());
        assert!(SigningKey::from_seed(&[0u8; 31]).is_err());
        assert!(VerifyingKey::from_bytes(&[0u8; 33]).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let k = SigningKey::from_seed(&[0xAB; 32]).unwrap();
        let s = format!("{k:?} {k:#?}");
        assert!(s.contains("[redacted]"));
        assert!(!s.contains("abab"));
    }

    fn hex(s: &str) -> Vec<u8> {
        crate::hex::decode(s).unwrap()
    }
}
