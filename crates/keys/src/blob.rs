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
//!
//! Format version 2 is the blob of a key in a custom key store, sealed inside its token (no
//! salt: the token's AES-256-GCM key is used directly, and never leaves the token):
//!
//! ```text
//! offset  size  field
//! 0       1     format version (0x02)
//! 1       16    key id (UUID bytes)
//! 17      16    backing-key version id
//! 33      12    nonce (random, from coffer's random source)
//! 45      n     AES-256-GCM ciphertext (made in the token)
//! 45+n    16    tag
//! ```
//! The authenticated data is bytes 0..45 followed by the canonical encryption context.

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
/// The format version byte of a blob sealed in a custom key store's token.
pub const FORMAT_TOKEN: u8 = 2;
/// Length of a token blob's header.
pub const TOKEN_HEADER_LEN: usize = 1 + 16 + 16 + NONCE_LEN;
/// Bytes a token blob adds to its plaintext.
pub const TOKEN_OVERHEAD: usize = TOKEN_HEADER_LEN + TAG_LEN;

/// A parsed blob, borrowing the bytes it came from.
#[derive(Debug, Clone, Copy)]
pub struct Blob<'a> {
    /// The format version: [`FORMAT_V1`], or [`FORMAT_TOKEN`] for a key in a custom key store.
    pub format: u8,
    /// The key that made it.
    pub key_id: KeyId,
    /// The backing-key version that made it.
    pub version: VersionId,
    /// The header bytes (authenticated).
    pub header: &'a [u8],
    /// The HKDF salt (empty in a token blob).
    pub salt: &'a [u8],
    /// The AES-GCM nonce.
    pub nonce: Nonce,
    /// Ciphertext followed by the tag.
    pub ciphertext_and_tag: &'a [u8],
}

/// Parses a blob's structure (nothing is authenticated yet).
pub fn parse(bytes: &[u8]) -> Result<Blob<'_>, KeyError> {
    if bytes.first() == Some(&FORMAT_TOKEN) {
        return parse_token(bytes);
    }
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
        format: FORMAT_V1,
        key_id: KeyId::from_bytes(k),
        version: VersionId(v),
        header,
        salt,
        nonce: Nonce::from_bytes(n),
        ciphertext_and_tag: body,
    })
}

/// Parses a token blob (format 2).
fn parse_token(bytes: &[u8]) -> Result<Blob<'_>, KeyError> {
    if bytes.len() < TOKEN_OVERHEAD {
        return Err(KeyError::InvalidCiphertext);
    }
    let (header, body) = bytes.split_at(TOKEN_HEADER_LEN);
    let mut k = [0u8; 16];
    k.copy_from_slice(&header[1..17]);
    let mut v = [0u8; 16];
    v.copy_from_slice(&header[17..33]);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(&header[33..]);
    Ok(Blob {
        format: FORMAT_TOKEN,
        key_id: KeyId::from_bytes(k),
        version: VersionId(v),
        header,
        salt: &[],
        nonce: Nonce::from_bytes(n),
        ciphertext_and_tag: body,
    })
}

/// Appends a token blob's header to `out`.
pub fn write_token_header(
    out: &mut Vec<u8>,
    key_id: &KeyId,
    version: &VersionId,
    nonce: &[u8; NONCE_LEN],
) {
    out.push(FORMAT_TOKEN);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&version.0);
    out.extend_from_slice(nonce);
}

/// A blob's header: format byte, key id, version id, salt, nonce. Built as one array (the
/// sealer appends it to its output once and authenticates the same bytes as the start of the
/// associated data, without reading them back from the output).
pub fn header(
    key_id: &KeyId,
    version: &VersionId,
    salt: &[u8; SALT_LEN],
    nonce: &Nonce,
) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = FORMAT_V1;
    h[1..17].copy_from_slice(key_id.as_bytes());
    h[17..33].copy_from_slice(&version.0);
    h[33..33 + SALT_LEN].copy_from_slice(salt);
    h[33 + SALT_LEN..].copy_from_slice(nonce.as_bytes());
    h
}

impl Blob<'_> {
    /// Serializes the blob again (for round-trip checks).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.ciphertext_and_tag.len());
        if self.format == FORMAT_TOKEN {
            write_token_header(&mut out, &self.key_id, &self.version, self.nonce.as_bytes());
            out.extend_from_slice(self.ciphertext_and_tag);
            return out;
        }
        out.push(FORMAT_V1);
        out.extend_from_slice(self.key_id.as_bytes());
        out.extend_from_slice(&self.version.0);
        out.extend_from_slice(self.salt);
        out.extend_from_slice(self.nonce.as_bytes());
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
        b[0] = 3;
        assert!(parse(&b).is_err());
        assert_eq!(TOKEN_HEADER_LEN, 45);
        assert_eq!(TOKEN_OVERHEAD, 61);
        let mut t = [7u8; TOKEN_OVERHEAD];
        t[0] = FORMAT_TOKEN;
        let parsed = parse(&t).unwrap();
        assert_eq!(parsed.format, FORMAT_TOKEN);
        assert!(parsed.salt.is_empty());
        assert_eq!(parsed.header.len(), TOKEN_HEADER_LEN);
        assert!(parse(&t[..TOKEN_OVERHEAD - 1]).is_err());
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
