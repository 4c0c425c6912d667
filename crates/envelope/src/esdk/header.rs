//! The message format v2 header: parse and serialize.
//!
//! ```text
//! version (1) = 0x02 | suite id (2) | message id (32) | AAD length (2) | AAD (encryption context)
//! | EDK count (2) | EDKs | content type (1) | frame length (4) | commitment (32) | header tag (16)
//! ```
//! Every integer is big-endian. The AAD is empty for an empty context, else: pair count (2),
//! then per pair key length (2), key, value length (2), value, sorted by key bytes. An EDK is
//! provider id length (2), provider id, provider info length (2), provider info, ciphertext
//! length (2), ciphertext.

use std::fmt;

use coffer_core::EncryptionContext;

use super::error::{EsdkError, EsdkMalformed};
use super::{Cursor, EsdkEncryptedDataKey, EsdkSuite};

/// Format version byte of message format v2.
pub const ESDK_VERSION: u8 = 0x02;
/// Length of a v2 message id.
pub const ESDK_MESSAGE_ID_LEN: usize = 32;
/// Length of the key commitment (the algorithm suite data of 0x0478 and 0x0578).
pub const ESDK_COMMITMENT_LEN: usize = 32;
/// Length of every AES-GCM tag of the format.
pub const ESDK_TAG_LEN: usize = 16;
/// Length of every AES-GCM IV of the format.
pub const ESDK_IV_LEN: usize = 12;

/// How the body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// One AES-GCM ciphertext (content type 0x01, frame length 0).
    NonFramed,
    /// A sequence of frames (content type 0x02).
    Framed,
}

impl ContentType {
    fn byte(self) -> u8 {
        match self {
            Self::NonFramed => 0x01,
            Self::Framed => 0x02,
        }
    }
}

/// A parsed message header.
#[derive(Clone, PartialEq, Eq)]
pub struct EsdkHeader {
    /// The algorithm suite.
    pub suite: EsdkSuite,
    /// The 32-byte message id (the HKDF salt).
    pub message_id: [u8; ESDK_MESSAGE_ID_LEN],
    /// The encryption context stored in the header (for 0x0578 it holds
    /// `aws-crypto-public-key`).
    pub context: EncryptionContext,
    /// The encrypted data keys, in header order.
    pub encrypted_data_keys: Vec<EsdkEncryptedDataKey>,
    /// Framed or not.
    pub content_type: ContentType,
    /// Plaintext bytes per frame (0 when non-framed).
    pub frame_len: u32,
    /// The key commitment.
    pub commitment: [u8; ESDK_COMMITMENT_LEN],
}

impl fmt::Debug for EsdkHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsdkHeader")
            .field("suite", &self.suite)
            .field("context", &self.context)
            .field("encrypted_data_keys", &self.encrypted_data_keys)
            .field("content_type", &self.content_type)
            .field("frame_len", &self.frame_len)
            .finish_non_exhaustive()
    }
}

impl EsdkHeader {
    /// Parses the header body at the start of `message` (everything before the header tag)
    /// under the bounds of `options`; returns the header and its length in bytes. Nothing is
    /// authenticated: that needs the data key ([`decrypt`](super::decrypt) does it).
    pub fn parse(
        message: &[u8],
        options: &super::EsdkDecryptOptions,
    ) -> Result<(Self, usize), EsdkError> {
        let mut c = Cursor::new(message);
        let header = parse_header(
            &mut c,
            HeaderLimits {
                max_encrypted_data_keys: options.max_encrypted_data_keys,
                max_frame_len: options.max_frame_len,
                max_header_len: options.max_header_len,
            },
        )?;
        Ok((header, c.pos()))
    }

    /// Serializes the header body (without the tag, which needs the data key). The context is
    /// written in the ESDK's order (sorted by key bytes).
    pub fn to_bytes(&self) -> Result<Vec<u8>, EsdkError> {
        serialize_header(self)
    }
}

/// Serializes an encryption context as the ESDK does (empty context: no bytes at all).
pub fn serialize_context(ctx: &EncryptionContext) -> Result<Vec<u8>, EsdkError> {
    let mut out = Vec::new();
    if ctx.is_empty() {
        return Ok(out);
    }
    let count = u16::try_from(ctx.len()).map_err(|_| EsdkError::LimitExceeded {
        what: "number of encryption context pairs",
        max: u64::from(u16::MAX),
        found: ctx.len() as u64,
    })?;
    out.extend_from_slice(&count.to_be_bytes());
    // `EncryptionContext` is a map of `String`s in `Ord` order, which is UTF-8 byte order: the
    // ESDK's sort.
    for (k, v) in ctx.iter() {
        put_short_bytes(&mut out, k.as_bytes(), "encryption context key length")?;
        put_short_bytes(&mut out, v.as_bytes(), "encryption context value length")?;
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(EsdkError::LimitExceeded {
            what: "serialized encryption context length",
            max: u64::from(u16::MAX),
            found: out.len() as u64,
        });
    }
    Ok(out)
}

fn put_short_bytes(out: &mut Vec<u8>, b: &[u8], what: &'static str) -> Result<(), EsdkError> {
    let len = u16::try_from(b.len()).map_err(|_| EsdkError::LimitExceeded {
        what,
        max: u64::from(u16::MAX),
        found: b.len() as u64,
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

/// Parses the serialized encryption context of the header.
fn parse_context(aad: &[u8]) -> Result<EncryptionContext, EsdkError> {
    let mut ctx = EncryptionContext::new();
    if aad.is_empty() {
        return Ok(ctx);
    }
    let mut c = Cursor::new(aad);
    let malformed = |_| EsdkError::Malformed(EsdkMalformed::ContextLength);
    let count = c.u16().map_err(malformed)?;
    if count == 0 {
        return Err(EsdkMalformed::ContextEmpty.into());
    }
    for _ in 0..count {
        let klen = c.u16().map_err(malformed)?;
        let k = c.take(usize::from(klen)).map_err(malformed)?;
        let vlen = c.u16().map_err(malformed)?;
        let v = c.take(usize::from(vlen)).map_err(malformed)?;
        let k = std::str::from_utf8(k).map_err(|_| EsdkMalformed::InvalidUtf8)?;
        let v = std::str::from_utf8(v).map_err(|_| EsdkMalformed::InvalidUtf8)?;
        if ctx.get(k).is_some() {
            return Err(EsdkMalformed::ContextDuplicateKey.into());
        }
        ctx.insert(k, v);
    }
    if !c.is_empty() {
        return Err(EsdkMalformed::ContextLength.into());
    }
    Ok(ctx)
}

/// Bounds a header parse enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderLimits {
    pub max_encrypted_data_keys: usize,
    pub max_frame_len: u32,
    pub max_header_len: usize,
}

/// Parses the header body (everything before the header tag) from the start of `c`.
pub(crate) fn parse_header(
    c: &mut Cursor<'_>,
    limits: HeaderLimits,
) -> Result<EsdkHeader, EsdkError> {
    let version = c.u8()?;
    if version != ESDK_VERSION {
        return Err(EsdkError::UnsupportedVersion(version));
    }
    let suite_id = c.u16()?;
    let suite = EsdkSuite::from_id(suite_id).ok_or(EsdkError::UnsupportedSuite(suite_id))?;
    let message_id = c.array::<ESDK_MESSAGE_ID_LEN>()?;
    let aad_len = c.u16()?;
    let context = parse_context(c.take(usize::from(aad_len))?)?;
    let edk_count = c.u16()?;
    if edk_count == 0 {
        return Err(EsdkMalformed::NoEncryptedDataKey.into());
    }
    if usize::from(edk_count) > limits.max_encrypted_data_keys {
        return Err(EsdkError::LimitExceeded {
            what: "number of encrypted data keys",
            max: limits.max_encrypted_data_keys as u64,
            found: u64::from(edk_count),
        });
    }
    let too_long = |found: usize| EsdkError::LimitExceeded {
        what: "header length",
        max: limits.max_header_len as u64,
        found: found as u64,
    };
    if c.pos() > limits.max_header_len {
        return Err(too_long(c.pos()));
    }
    let mut encrypted_data_keys = Vec::with_capacity(usize::from(edk_count));
    for _ in 0..edk_count {
        if c.pos() > limits.max_header_len {
            return Err(too_long(c.pos()));
        }
        let len = c.u16()?;
        let provider_id = std::str::from_utf8(c.take(usize::from(len))?)
            .map_err(|_| EsdkMalformed::InvalidUtf8)?
            .to_owned();
        let len = c.u16()?;
        let provider_info = c.take(usize::from(len))?.to_vec();
        let len = c.u16()?;
        let ciphertext = c.take(usize::from(len))?.to_vec();
        encrypted_data_keys.push(EsdkEncryptedDataKey {
            provider_id,
            provider_info,
            ciphertext,
        });
    }
    let content_type = match c.u8()? {
        0x01 => ContentType::NonFramed,
        0x02 => ContentType::Framed,
        other => return Err(EsdkMalformed::ContentType(other).into()),
    };
    let frame_len = c.u32()?;
    match content_type {
        ContentType::NonFramed if frame_len != 0 => return Err(EsdkMalformed::FrameLength.into()),
        ContentType::Framed if frame_len == 0 => return Err(EsdkMalformed::FrameLength.into()),
        _ => {}
    }
    if frame_len > limits.max_frame_len {
        return Err(EsdkError::LimitExceeded {
            what: "frame length",
            max: u64::from(limits.max_frame_len),
            found: u64::from(frame_len),
        });
    }
    let commitment = c.array::<ESDK_COMMITMENT_LEN>()?;
    if c.pos() > limits.max_header_len {
        return Err(too_long(c.pos()));
    }
    Ok(EsdkHeader {
        suite,
        message_id,
        context,
        encrypted_data_keys,
        content_type,
        frame_len,
        commitment,
    })
}

/// Serializes the header body (without the tag).
pub(crate) fn serialize_header(h: &EsdkHeader) -> Result<Vec<u8>, EsdkError> {
    let aad = serialize_context(&h.context)?;
    let mut out = Vec::with_capacity(128 + aad.len());
    out.push(ESDK_VERSION);
    out.extend_from_slice(&h.suite.id().to_be_bytes());
    out.extend_from_slice(&h.message_id);
    put_short_bytes(&mut out, &aad, "serialized encryption context length")?;
    let count =
        u16::try_from(h.encrypted_data_keys.len()).map_err(|_| EsdkError::LimitExceeded {
            what: "number of encrypted data keys",
            max: u64::from(u16::MAX),
            found: h.encrypted_data_keys.len() as u64,
        })?;
    out.extend_from_slice(&count.to_be_bytes());
    for edk in &h.encrypted_data_keys {
        put_short_bytes(&mut out, edk.provider_id.as_bytes(), "provider id length")?;
        put_short_bytes(&mut out, &edk.provider_info, "provider info length")?;
        put_short_bytes(&mut out, &edk.ciphertext, "encrypted data key length")?;
    }
    out.push(h.content_type.byte());
    out.extend_from_slice(&h.frame_len.to_be_bytes());
    out.extend_from_slice(&h.commitment);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_round_trips_in_byte_order() {
        let mut ctx = EncryptionContext::new();
        ctx.insert("b", "2");
        ctx.insert("a", "1");
        ctx.insert("\u{e9}", "x");
        let bytes = serialize_context(&ctx).unwrap();
        assert_eq!(&bytes[..8], &[0, 3, 0, 1, b'a', 0, 1, b'1']);
        assert_eq!(parse_context(&bytes).unwrap(), ctx);
        assert!(serialize_context(&EncryptionContext::new())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn context_refuses_duplicates_and_bad_lengths() {
        let dup = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert!(matches!(
            parse_context(&dup),
            Err(EsdkError::Malformed(EsdkMalformed::ContextDuplicateKey))
        ));
        assert!(matches!(
            parse_context(&[0, 1, 0, 5, b'a']),
            Err(EsdkError::Malformed(EsdkMalformed::ContextLength))
        ));
        assert!(matches!(
            parse_context(&[0, 0]),
            Err(EsdkError::Malformed(EsdkMalformed::ContextEmpty))
        ));
        assert!(matches!(
            parse_context(&[0, 1, 0, 1, b'a', 0, 0, 9]),
            Err(EsdkError::Malformed(EsdkMalformed::ContextLength))
        ));
    }
}
