//! AES-256-GCM, the one AEAD coffer uses.
//!
//! [`seal`] / [`open`] take a [`SymmetricKey`] for one-off use; [`Aes256Gcm`] keeps the expanded key
//! schedule for many messages under one key (frames of an envelope message, root-key wrapping).
//!
//! AWS-LC's AES-GCM (through aws-lc-rs), not ring's: on this project's reference machine (VAES,
//! VPCLMULQDQ) ring 0.17 hashes the additional data one 16-byte block per call into its GHASH
//! routine, so an envelope header's tag (~300 bytes of AAD, no plaintext) took 207–214 ns against
//! AWS-LC's 117–120 ns; ring's key setup took 170–185 ns against 143–156 ns, and its 64 KiB seal
//! 7.4–7.6 µs against 6.2 µs. AWS-LC also wipes the key schedule when the key is dropped
//! (`EVP_AEAD_CTX_free` cleanses it), which ring does not. The figures come from
//! `benches/aead.rs` (BENCHMARKS.md); `ring_agrees` below holds both to the same bytes.

use std::fmt;

use aws_lc_rs::aead::{self as raead, LessSafeKey, UnboundKey, AES_256_GCM};

use crate::{CryptoError, RandomSource, SecretBytes, SymmetricKey};

/// Length of an AES-GCM nonce in bytes.
pub const NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag in bytes.
pub const TAG_LEN: usize = 16;

/// A 96-bit AES-GCM nonce.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Nonce([u8; NONCE_LEN]);

impl Nonce {
    /// A nonce from its bytes.
    pub const fn from_bytes(bytes: [u8; NONCE_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh random nonce.
    pub fn random(rng: &dyn RandomSource) -> Result<Self, CryptoError> {
        let mut n = [0u8; NONCE_LEN];
        rng.fill(&mut n)?;
        Ok(Self(n))
    }

    /// The nonce bytes.
    pub const fn as_bytes(&self) -> &[u8; NONCE_LEN] {
        &self.0
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// An AES-256-GCM key with its expanded schedule, for sealing many messages. The schedule lives
/// in AWS-LC's own allocation, which is wiped when this is dropped.
pub struct Aes256Gcm(LessSafeKey);

impl Aes256Gcm {
    /// Expands `key`.
    pub fn new(key: &SymmetricKey) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key.expose()).map_err(|_| CryptoError)?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// Encrypts `in_out` in place and appends the tag.
    pub fn seal_in_place(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        self.0
            .seal_in_place_append_tag(
                raead::Nonce::assume_unique_for_key(nonce.0),
                raead::Aad::from(aad),
                in_out,
            )
            .map_err(|_| CryptoError)
    }

    /// Encrypts `plaintext` and appends ciphertext and tag to `out`.
    pub fn seal_append(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                raead::Nonce::assume_unique_for_key(nonce.0),
                raead::Aad::from(aad),
                out.get_mut(start..).ok_or(CryptoError)?,
            )
            .map_err(|_| CryptoError)?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Encrypts `in_out` (any slice: a frame inside a larger buffer) in place and returns the
    /// tag, which the caller stores where its format puts it.
    pub fn seal_slice(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .0
            .seal_in_place_separate_tag(
                raead::Nonce::assume_unique_for_key(nonce.0),
                raead::Aad::from(aad),
                in_out,
            )
            .map_err(|_| CryptoError)?;
        <[u8; TAG_LEN]>::try_from(tag.as_ref()).map_err(|_| CryptoError)
    }

    /// Decrypts `ciphertext_and_tag` (any slice) in place and returns the plaintext's length
    /// (the plaintext is its first bytes). On failure the whole slice is wiped, so no
    /// unauthenticated plaintext survives.
    pub fn open_slice(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        ciphertext_and_tag: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let res = self
            .0
            .open_in_place(
                raead::Nonce::assume_unique_for_key(nonce.0),
                raead::Aad::from(aad),
                &mut *ciphertext_and_tag,
            )
            .map(|pt| pt.len());
        res.map_err(|_| {
            crate::wipe(ciphertext_and_tag);
            CryptoError
        })
    }

    /// Decrypts `in_out` (a ciphertext alone, its tag kept elsewhere) in place under `tag`. On
    /// failure `in_out` is wiped, so no unauthenticated plaintext survives.
    pub fn open_detached(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        tag: &[u8; TAG_LEN],
        in_out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let res = self.0.open_in_place_separate_tag(
            raead::Nonce::assume_unique_for_key(nonce.0),
            raead::Aad::from(aad),
            tag,
            &mut *in_out,
        );
        res.map(|_| ()).map_err(|_| {
            crate::wipe(in_out);
            CryptoError
        })
    }

    /// Decrypts ciphertext-and-tag in place; on success `in_out` is truncated to the plaintext.
    /// On failure `in_out` is cleared, so no unauthenticated plaintext survives.
    pub fn open_in_place(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let res = self.0.open_in_place(
            raead::Nonce::assume_unique_for_key(nonce.0),
            raead::Aad::from(aad),
            in_out,
        );
        match res {
            Ok(pt) => {
                let n = pt.len();
                in_out.truncate(n);
                Ok(())
            }
            Err(_) => {
                crate::wipe(in_out);
                in_out.clear();
                Err(CryptoError)
            }
        }
    }

    /// Decrypts `ciphertext_and_tag` into a new secret.
    pub fn open(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        if ciphertext_and_tag.len() < TAG_LEN {
            return Err(CryptoError);
        }
        let mut buf = SecretBytes::copy_from(ciphertext_and_tag);
        let n = self
            .0
            .open_in_place(
                raead::Nonce::assume_unique_for_key(nonce.0),
                raead::Aad::from(aad),
                buf.expose_mut(),
            )
            .map_err(|_| CryptoError)?
            .len();
        buf.truncate(n);
        Ok(buf)
    }
}

impl fmt::Debug for Aes256Gcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Aes256Gcm([redacted])")
    }
}

/// Encrypts `plaintext` under `key`, returning ciphertext followed by the 16-byte tag.
pub fn seal(
    key: &SymmetricKey,
    nonce: &Nonce,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    Aes256Gcm::new(key)?.seal_append(nonce, aad, plaintext, &mut out)?;
    Ok(out)
}

/// Decrypts ciphertext-and-tag under `key`; any change to key, nonce, aad or bytes fails.
pub fn open(
    key: &SymmetricKey,
    nonce: &Nonce,
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<SecretBytes, CryptoError> {
    Aes256Gcm::new(key)?.open(nonce, aad, ciphertext_and_tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRandom;
    use proptest::prelude::*;

    #[test]
    fn nist_gcm_known_answer() {
        // NIST GCM test case 14 (AES-256, zero key, zero IV, one zero block).
        let key = SymmetricKey::from_bytes([0u8; 32]);
        let nonce = Nonce::from_bytes([0u8; 12]);
        let ct = seal(&key, &nonce, b"", &[0u8; 16]).unwrap();
        let hex = crate::hex::encode(&ct);
        assert_eq!(
            hex,
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
        );
    }

    proptest! {
        #[test]
        fn round_trip_and_tamper(pt in proptest::collection::vec(any::<u8>(), 0..300),
                                 aad in proptest::collection::vec(any::<u8>(), 0..40),
                                 flip in any::<prop::sample::Index>()) {
            let rng = SystemRandom::new();
            let key = SymmetricKey::generate(&rng).unwrap();
            let nonce = Nonce::random(&rng).unwrap();
            let ct = seal(&key, &nonce, &aad, &pt).unwrap();
            let opened = open(&key, &nonce, &aad, &ct).unwrap();
            prop_assert_eq!(opened.expose(), &pt[..]);
            let mut bad = ct.clone();
            let i = flip.index(bad.len());
            bad[i] ^= 1;
            prop_assert!(open(&key, &nonce, &aad, &bad).is_err());
            let mut v = ct.clone();
            let g = Aes256Gcm::new(&key).unwrap();
            g.open_in_place(&nonce, &aad, &mut v).unwrap();
            prop_assert_eq!(&v[..], &pt[..]);
        }

        /// ring's AES-256-GCM, an independent implementation, seals the same bytes and opens
        /// what coffer seals, whatever the lengths of additional data and plaintext.
        #[test]
        fn ring_agrees(key in any::<[u8; 32]>(), nonce in any::<[u8; 12]>(),
                       aad in proptest::collection::vec(any::<u8>(), 0..400),
                       pt in proptest::collection::vec(any::<u8>(), 0..300)) {
            use ring::aead as r;
            let ours = seal(&SymmetricKey::from_bytes(key), &Nonce::from_bytes(nonce), &aad, &pt).unwrap();
            let ring_key = r::LessSafeKey::new(r::UnboundKey::new(&r::AES_256_GCM, &key).unwrap());
            let mut theirs = pt.clone();
            ring_key
                .seal_in_place_append_tag(r::Nonce::assume_unique_for_key(nonce), r::Aad::from(&aad), &mut theirs)
                .unwrap();
            prop_assert_eq!(&ours, &theirs);
            let mut opened = ours.clone();
            let got = ring_key
                .open_in_place(r::Nonce::assume_unique_for_key(nonce), r::Aad::from(&aad), &mut opened)
                .unwrap();
            prop_assert_eq!(&got[..], &pt[..]);
        }

        #[test]
        fn detached_tag_round_trip_and_tamper(pt in proptest::collection::vec(any::<u8>(), 1..300),
                                              flip in any::<prop::sample::Index>()) {
            let rng = SystemRandom::new();
            let g = Aes256Gcm::new(&SymmetricKey::generate(&rng).unwrap()).unwrap();
            let nonce = Nonce::random(&rng).unwrap();
            let mut body = pt.clone();
            let tag = g.seal_slice(&nonce, b"aad", &mut body).unwrap();
            let sealed = body.clone();
            g.open_detached(&nonce, b"aad", &tag, &mut body).unwrap();
            prop_assert_eq!(&body, &pt);
            // A flipped ciphertext bit fails and leaves nothing of the plaintext behind.
            let mut bad = sealed;
            let i = flip.index(bad.len());
            bad[i] ^= 1;
            prop_assert!(g.open_detached(&nonce, b"aad", &tag, &mut bad).is_err());
            prop_assert!(bad.iter().all(|b| *b == 0));
            // So does a wrong tag.
            let mut body = pt.clone();
            let tag = g.seal_slice(&nonce, b"aad", &mut body).unwrap();
            let mut wrong = tag;
            wrong[0] ^= 1;
            prop_assert!(g.open_detached(&nonce, b"aad", &wrong, &mut body).is_err());
            prop_assert!(body.iter().all(|b| *b == 0));
        }
    }
}
