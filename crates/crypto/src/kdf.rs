use ring::{hkdf, hmac};

use crate::{CryptoError, SymmetricKey, SYMMETRIC_KEY_LEN};

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        SYMMETRIC_KEY_LEN
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` from `ikm`, expand with the concatenation of `info`
/// into a 256-bit key.
pub fn hkdf_sha256(
    ikm: &SymmetricKey,
    salt: &[u8],
    info: &[&[u8]],
) -> Result<SymmetricKey, CryptoError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm.expose());
    let okm = prk.expand(info, Len32).map_err(|_| CryptoError)?;
    let mut out = SymmetricKey::zeroed();
    okm.fill(out.expose_mut()).map_err(|_| CryptoError)?;
    Ok(out)
}

/// HKDF-SHA256 with one extract and several expands: `N` keys, the `i`-th expanded with the
/// concatenation of `infos[i]`. Each key equals `hkdf_sha256(ikm, salt, infos[i])`; this only
/// saves the repeated extract step.
pub fn hkdf_sha256_each<const N: usize>(
    ikm: &SymmetricKey,
    salt: &[u8],
    infos: [&[&[u8]]; N],
) -> Result<[SymmetricKey; N], CryptoError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm.expose());
    let mut out: [SymmetricKey; N] = std::array::from_fn(|_| SymmetricKey::zeroed());
    for (key, info) in out.iter_mut().zip(infos) {
        let okm = prk.expand(info, Len32).map_err(|_| CryptoError)?;
        okm.fill(key.expose_mut()).map_err(|_| CryptoError)?;
    }
    Ok(out)
}

/// The result of HKDF-SHA256's extract step, kept so that many expands share one extract.
///
/// For a key that derives many others (an envelope data key serving many messages): `extract`
/// once, then [`expand`](Self::expand) per use, each costing one HMAC instead of three (RFC 5869
/// §3.1: with uniformly random input keying material a fixed salt loses nothing, and distinct
/// `info` gives independent outputs). Cloning shares nothing mutable: the clone holds the same
/// HMAC key state. Held by ring, whose key types are not wiped on drop (as every ring AEAD key
/// coffer holds); prints as `[redacted]`.
#[derive(Clone)]
pub struct HkdfPrk(hmac::Key);

impl HkdfPrk {
    /// HKDF-SHA256 extract of `ikm` with `salt`: the PRK, kept as the HMAC key the expands use
    /// (its pads already hashed).
    pub fn extract(ikm: &SymmetricKey, salt: &[u8]) -> Self {
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm.expose());
        Self(hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()))
    }

    /// HKDF-SHA256 expand with the concatenation of `info` into 32 bytes written to `out`.
    /// `expand(extract(ikm, salt), info)` equals `hkdf_sha256(ikm, salt, info)`: 32 bytes are
    /// HKDF's first output block, `T(1) = HMAC(PRK, info || 0x01)` (RFC 5869 §2.3), computed as
    /// that one HMAC without HKDF's general output loop.
    pub fn expand_into(
        &self,
        info: &[&[u8]],
        out: &mut [u8; SYMMETRIC_KEY_LEN],
    ) -> Result<(), CryptoError> {
        // A short `info` (labels and ids: not secret) is joined on the stack and hashed in one
        // call, which ring does faster than a context fed part by part.
        let len: usize = info.iter().map(|part| part.len()).sum();
        let mut joined = [0u8; 64];
        let tag = match joined.get_mut(..=len) {
            Some(buf) => {
                let mut at = 0;
                for part in info {
                    buf[at..at + part.len()].copy_from_slice(part);
                    at += part.len();
                }
                buf[len] = 1;
                hmac::sign(&self.0, buf)
            }
            None => {
                let mut ctx = hmac::Context::with_key(&self.0);
                info.iter().for_each(|part| ctx.update(part));
                ctx.update(&[1]);
                ctx.sign()
            }
        };
        out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// HKDF-SHA256 expand with the concatenation of `info` into a 256-bit key.
    pub fn expand(&self, info: &[&[u8]]) -> Result<SymmetricKey, CryptoError> {
        let mut out = SymmetricKey::zeroed();
        self.expand_into(info, out.expose_mut())?;
        Ok(out)
    }
}

impl std::fmt::Debug for HkdfPrk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HkdfPrk([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5869_case_1_prefix() {
        // RFC 5869 test case 1 uses a 22-byte IKM; we only take 32-byte keys, so check the
        // derivation is deterministic and input-sensitive instead, and that info parts concatenate.
        let k = SymmetricKey::from_bytes([7u8; 32]);
        let a = hkdf_sha256(&k, b"salt", &[b"ab", b"c"]).unwrap();
        let b = hkdf_sha256(&k, b"salt", &[b"abc"]).unwrap();
        let c = hkdf_sha256(&k, b"salt2", &[b"abc"]).unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_ne!(a.expose(), c.expose());
        let [x, y] = hkdf_sha256_each(&k, b"salt", [&[b"abc"], &[b"salt2"]]).unwrap();
        assert_eq!(x.expose(), a.expose());
        assert_ne!(y.expose(), a.expose());
    }

    #[test]
    fn a_kept_extract_expands_as_hkdf_does() {
        let k = SymmetricKey::from_bytes([9u8; 32]);
        let prk = HkdfPrk::extract(&k, b"salt");
        let whole = hkdf_sha256(&k, b"salt", &[b"info-", b"1"]).unwrap();
        assert_eq!(prk.expand(&[b"info-1"]).unwrap().expose(), whole.expose());
        let mut out = [0u8; 32];
        prk.clone()
            .expand_into(&[b"info-", b"1"], &mut out)
            .unwrap();
        assert_eq!(&out, whole.expose());
        assert_ne!(prk.expand(&[b"info-2"]).unwrap().expose(), whole.expose());
        assert_eq!(format!("{prk:?}"), "HkdfPrk([redacted])");
    }

    #[test]
    fn a_kept_extract_matches_one_shot_hkdf_for_any_salt_and_info() {
        let k = SymmetricKey::from_bytes(std::array::from_fn(|i| i as u8));
        for salt in [&b""[..], b"x", &[0u8; 80]] {
            let prk = HkdfPrk::extract(&k, salt);
            for info in [&b""[..], b"a", &[7u8; 100]] {
                let expected = hkdf_sha256(&k, salt, &[info]).unwrap();
                assert_eq!(prk.expand(&[info]).unwrap().expose(), expected.expose());
            }
        }
    }
}
