//! Pagination markers: opaque to clients, authenticated so that a forged or altered marker, or
//! one from another listing, is refused with `InvalidMarkerException`.

use coffer_crypto::{constant_time_eq, hmac_sha256, SymmetricKey};

use crate::Error;

const TAG_LEN: usize = 16;

/// Default page size of list operations.
pub(crate) const DEFAULT_LIMIT: u32 = 100;

/// Checks a list `Limit` against `1..=max` and applies the default.
pub(crate) fn limit(limit: Option<u32>, default: u32, max: u32) -> Result<usize, Error> {
    match limit {
        None => Ok(default as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(_) => Err(crate::validate::field_error(
            "limit",
            &format!("Member must be between 1 and {max}"),
        )),
    }
}

/// Makes and reads markers under one key.
pub(crate) struct Markers(SymmetricKey);

impl Markers {
    pub(crate) fn new(key: SymmetricKey) -> Self {
        Self(key)
    }

    /// A key for another purpose, derived from the marker key (HKDF-SHA256 with `label`): the
    /// import tokens' sealing key, persistent like the marker key.
    pub(crate) fn derive(&self, label: &[u8]) -> Result<SymmetricKey, coffer_crypto::CryptoError> {
        coffer_crypto::hkdf_sha256(&self.0, b"", &[label])
    }

    /// A marker for `position` within the listing identified by `scope`.
    pub(crate) fn make(&self, scope: &[u8], position: &[u8]) -> String {
        let tag = hmac_sha256(&self.0, &[scope, position]);
        let mut out = String::with_capacity(2 * (position.len() + TAG_LEN));
        for b in position.iter().chain(tag.iter().take(TAG_LEN)) {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }

    /// Cuts a page fetched with one entry more than `limit`: returns whether it was truncated and
    /// the marker for the next page, positioned after the last entry kept.
    pub(crate) fn page<T>(
        &self,
        scope: &[u8],
        page: &mut Vec<T>,
        limit: usize,
        position: impl Fn(&T) -> &[u8],
    ) -> (Option<String>, bool) {
        let truncated = page.len() > limit;
        page.truncate(limit);
        let next = match page.last() {
            Some(last) if truncated => Some(self.make(scope, position(last))),
            _ => None,
        };
        (next, truncated)
    }

    /// A text position from an optional marker (alias names, grant ids).
    pub(crate) fn read_text(
        &self,
        scope: &[u8],
        marker: Option<&str>,
    ) -> Result<Option<String>, Error> {
        marker
            .map(|m| {
                String::from_utf8(self.read(scope, m)?)
                    .map_err(|_| Error::invalid_marker("The marker is not valid."))
            })
            .transpose()
    }

    /// The position a marker holds, if this service made it for `scope`.
    pub(crate) fn read(&self, scope: &[u8], marker: &str) -> Result<Vec<u8>, Error> {
        let invalid = || Error::invalid_marker("The marker is not valid.");
        if marker.is_empty() || marker.len() > 1024 || marker.len() % 2 != 0 {
            return Err(invalid());
        }
        let bytes = marker
            .as_bytes()
            .chunks(2)
            .map(|c| match c {
                [h, l] => Some((nibble(*h)? << 4) | nibble(*l)?),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(invalid)?;
        let split = bytes.len().checked_sub(TAG_LEN).ok_or_else(invalid)?;
        let (position, tag) = bytes.split_at(split);
        let want = hmac_sha256(&self.0, &[scope, position]);
        if !constant_time_eq(tag, want.get(..TAG_LEN).ok_or_else(invalid)?) {
            return Err(invalid());
        }
        Ok(position.to_vec())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let m = Markers::new(SymmetricKey::from_bytes([3u8; 32]));
        let mk = m.make(b"scope", b"position-1");
        assert_eq!(m.read(b"scope", &mk).unwrap(), b"position-1");
        assert!(m.read(b"other-scope", &mk).is_err());
        let mut bad = mk.clone().into_bytes();
        bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
        assert!(m.read(b"scope", &String::from_utf8(bad).unwrap()).is_err());
        for forged in ["", "zz", "abc", "00", &"0".repeat(2000)] {
            assert_eq!(
                m.read(b"scope", forged).unwrap_err().code(),
                "InvalidMarkerException"
            );
        }
        let other = Markers::new(SymmetricKey::from_bytes([4u8; 32]));
        assert!(other.read(b"scope", &mk).is_err());
    }
}
