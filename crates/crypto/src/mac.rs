use ring::hmac;

use crate::{SymmetricKey, SHA256_LEN};

/// HMAC-SHA256 of the concatenation of `parts`.
pub fn hmac_sha256(key: &SymmetricKey, parts: &[&[u8]]) -> [u8; SHA256_LEN] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
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
    }
}
