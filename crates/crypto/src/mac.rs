use ring::hmac;

use crate::{SymmetricKey, SHA256_LEN};

/// HMAC-SHA256 of the concatenation of `parts`.
pub fn hmac_sha256(key: &SymmetricKey, parts: &[&[u8]]) -> [u8; SHA256_LEN] {
    hmac_sha256_bytes(key.expose(), parts)
}

/// HMAC-SHA256 under a key of any length (as protocols such as SigV4 need: its first key is
/// `"AWS4"` followed by the secret), over the concatenation of `parts`. Prefer
/// [`hmac_sha256`] with a [`SymmetricKey`] where the key is a 256-bit secret of ours.
pub fn hmac_sha256_bytes(key: &[u8], parts: &[&[u8]]) -> [u8; SHA256_LEN] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    for p in parts {
        ctx.update(p);
    }
    let tag = ctx.sign();
    let mut out = [0u8; SHA256_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_concatenate_and_key_matters() {
        let k = SymmetricKey::from_bytes([1u8; 32]);
        let k2 = SymmetricKey::from_bytes([2u8; 32]);
        assert_eq!(hmac_sha256(&k, &[b"ab", b"c"]), hmac_sha256(&k, &[b"abc"]));
        assert_ne!(hmac_sha256(&k, &[b"abc"]), hmac_sha256(&k2, &[b"abc"]));
        assert_eq!(
            hmac_sha256(&k, &[b"abc"]),
            hmac_sha256_bytes(&[1u8; 32], &[b"abc"])
        );
    }

    #[test]
    fn rfc_4231_case_2() {
        let tag = hmac_sha256_bytes(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex = crate::hex::encode(&tag);
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
