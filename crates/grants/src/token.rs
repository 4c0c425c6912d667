use std::fmt;

use coffer_crypto::{constant_time_eq, hex, hmac_sha256, SymmetricKey};

use crate::GrantError;

const TAG_LEN: usize = 32;

/// Mints and checks grant tokens: `hex(grant id ‖ key id ‖ HMAC-SHA256(token key, …))`.
///
/// A token names its grant; a token with a wrong tag (forged, altered, or minted under another
/// token key) is refused with [`GrantError::InvalidToken`], compared in constant time.
pub struct GrantTokens(SymmetricKey);

impl fmt::Debug for GrantTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GrantTokens([redacted])")
    }
}

impl GrantTokens {
    /// Tokens under `key`.
    pub fn new(key: SymmetricKey) -> Self {
        Self(key)
    }

    /// The token for a grant.
    pub fn mint(&self, grant_id: &str, key_id: &coffer_core::KeyId) -> String {
        let body = [grant_id.as_bytes(), b":", key_id.as_bytes()].concat();
        let tag = hmac_sha256(&self.0, &[b"coffer grant token v1", &body]);
        let mut out = Vec::with_capacity(2 * (body.len() + TAG_LEN));
        hex::encode_into(&body, &mut out);
        hex::encode_into(&tag, &mut out);
        // Only ASCII hex digits were pushed.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The grant id and key id a token names, if this service minted it.
    pub fn verify(&self, token: &str) -> Result<(String, coffer_core::KeyId), GrantError> {
        if token.len() > 8192 {
            return Err(GrantError::InvalidToken);
        }
        let bytes = hex::decode(token).ok_or(GrantError::InvalidToken)?;
        let split = bytes
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(GrantError::InvalidToken)?;
        let (body, tag) = bytes.split_at(split);
        let want = hmac_sha256(&self.0, &[b"coffer grant token v1", body]);
        if !constant_time_eq(tag, &want) {
            return Err(GrantError::InvalidToken);
        }
        let colon = body.len().checked_sub(17).ok_or(GrantError::InvalidToken)?;
        let (id, rest) = body.split_at(colon);
        let key: [u8; 16] = rest
            .get(1..)
            .and_then(|k| k.try_into().ok())
            .ok_or(GrantError::InvalidToken)?;
        let id = String::from_utf8(id.to_vec()).map_err(|_| GrantError::InvalidToken)?;
        Ok((id, coffer_core::KeyId::from_bytes(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tokens(b: u8) -> GrantTokens {
        GrantTokens::new(SymmetricKey::from_bytes([b; 32]))
    }

    #[test]
    fn mint_and_verify() {
        let key = coffer_core::KeyId::from_bytes([9; 16]);
        let t = tokens(1).mint("abc123", &key);
        assert_eq!(tokens(1).verify(&t).unwrap(), ("abc123".to_owned(), key));
        assert_eq!(tokens(2).verify(&t), Err(GrantError::InvalidToken));
        let mut altered = t.clone().into_bytes();
        altered[0] = if altered[0] == b'6' { b'7' } else { b'6' };
        assert!(tokens(1)
            .verify(std::str::from_utf8(&altered).unwrap())
            .is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_are_refused(s in ".{0,200}") {
            prop_assert!(tokens(1).verify(&s).is_err());
        }
    }
}
