//! The symmetric ciphertext blob, format version 1 (see `docs/FORMATS.md`).
//!
//! ```text
//! offset  size  field
//! 0       1     format version (0x01)
//! 1       16    key id (UUID bytes)
//! 17      16    backing-key version id
//! 33      32    salt (random; HKDF salt of the per-message key)
//! 65      12    nonce (random)
//! 77      n     AES-256-GCM ciphertext
//! 77+n    16    tag
//! ```
//! The authenticated data is bytes 0..77 followed by the canonical encryption context.

use coffer_core::KeyId;
use coffer_crypto::aead::{Nonce, NONCE_LEN, TAG_LEN};

use crate::{KeyError, VersionId};

/// The format version byte this code writes and reads.
pub const FORMAT_V1: u8 = 1;
/// Length of the random HKDF salt.
pub const SALT_LEN: usize = 32;
/// Length of the header (everything before the ciphertext).
pub const HEADER_LEN: usize = 1 + 16 + 16 + SALT_LEN + NONCE_LEN;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// A parsed blob, borrowing the bytes it came from.
#[derive(Debug, Clone, Copy)]
pub struct Blob<'a> {
    /// The key that made it.
    pub key_id: KeyId,
    /// The backing-key version that made it.
    pub version: VersionId,
    /// The header bytes (authenticated).
    pub header: &'a [u8],
    /// The HKDF salt.
    pub salt: &'a [u8],
    /// The AES-GCM nonce.
    pub nonce: Nonce,
    /// Ciphertext followed by the tag.
    pub ciphertext_and_tag: &'a [u8],
}

/// Parses a blob's structure (nothing is authenticated yet).
pub fn parse(bytes: &[u8]) -> Result<Blob<'_>, KeyError> {
    if bytes.len() < OVERHEAD {
        return Err(KeyError::InvalidCiphertext);
    }
    let (header, body) = bytes.split_at(HEADER_LEN);
    let (version_byte, rest) = header.split_at(1);
    if version_byte != [FORMAT_V1] {
        return Err(KeyError::InvalidCiphertext);
    }
    let (key_id, rest) = rest.split_at(16);
    let (version, rest) = rest.split_at(16);
    let (salt, nonce) = rest.split_at(SALT_LEN);
    let mut k = [0u8; 16];
    k.copy_from_slice(key_id);
    let mut v = [0u8; 16];
    v.copy_from_slice(version);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    Ok(Blob {
        key_id: KeyId::from_bytes(k),
        version: VersionId(v),
        header,
        salt,
        nonce: Nonce::from_bytes(n),
        ciphertext_and_tag: body,
    })
}

/// Appends a header to `out`.
pub fn write_header(
    out: &mut Vec<u8>,
    key_id: &KeyId,
    version: &VersionId,
    salt: &[u8],
    nonce: &Nonce,
) {
    out.push(FORMAT_V1);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&version.0);
    out.extend_from_slice(salt);
    out.extend_from_slice(nonce.as_bytes());
}

impl Blob<'_> {
    /// Serializes the blob again (for round-trip checks).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.ciphertext_and_tag.len());
        write_header(
            &mut out,
            &self.key_id,
            &self.version,
            self.salt,
            &self.nonce,
        );
        out.extend_from_slice(self.ciphertext_and_tag);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths() {
        assert_eq!(HEADER_LEN, 77);
        assert_eq!(OVERHEAD, 93);
        assert!(parse(&[1u8; OVERHEAD - 1]).is_err());
        assert!(parse(&[1u8; OVERHEAD]).is_ok());
        let mut b = [1u8; OVERHEAD];
        b[0] = 2;
        assert!(parse(&b).is_err());
    }

    proptest! {
        #[test]
        fn parser_total_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            match parse(&bytes) {
                Ok(blob) => prop_assert_eq!(blob.to_bytes(), bytes),
                Err(e) => prop_assert!(matches!(e, KeyError::InvalidCiphertext)),
            }
        }
    }
}
