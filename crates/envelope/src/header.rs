//! The message header: its deterministic CBOR encoding, its length-prefixed framing and its bounds.

use std::collections::BTreeMap;
use std::fmt;

use coffer_core::EncryptionContext;

use crate::error::{Limit, Malformed};
use crate::{EncryptedDataKey, EnvelopeError};

/// The four bytes every message starts with.
pub const MAGIC: [u8; 4] = *b"CFEM";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the random message id in bytes.
pub const MESSAGE_ID_LEN: usize = 32;
/// Length of the key commitment in bytes.
pub const COMMITMENT_LEN: usize = 32;
/// Length of the header authentication tag in bytes.
pub const HEADER_TAG_LEN: usize = 16;
/// Length of the prefix before the CBOR header: magic and a big-endian `u32` header length.
pub const PREFIX_LEN: usize = 8;
/// The default frame length: 64 KiB of plaintext per frame, as age's STREAM.
pub const FRAME_LEN: u32 = 64 * 1024;
/// The largest frame length the format allows (16 MiB).
pub const MAX_FRAME_LEN: u32 = 1 << 24;
/// The most frames one message may have (2^32), whatever the configured limit.
pub const MAX_FRAMES: u64 = 1 << 32;
/// The longest key identifier the format allows (the KMS `KeyId` maximum).
pub const MAX_KEY_ID_LEN: usize = 2048;
/// The longest wrapped data key the format allows (the KMS ciphertext-blob maximum).
pub const MAX_WRAPPED_KEY_LEN: usize = 6144;
/// The default bound on the number of encrypted data keys in a header.
pub const DEFAULT_MAX_ENCRYPTED_DATA_KEYS: usize = 10;
/// The default bound on the CBOR header length (64 KiB); the writer refuses longer headers.
pub const DEFAULT_MAX_HEADER_LEN: u32 = 64 * 1024;
/// The default bound on the frame length a reader accepts (1 MiB).
pub const DEFAULT_MAX_FRAME_LEN: u32 = 1 << 20;

/// The cryptographic algorithms of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlgorithmSuite {
    /// Suite `0x0001`: AES-256-GCM frames under a key derived with HKDF-SHA256 from the data key
    /// and the message id, with an HKDF-SHA256 key commitment.
    Aes256GcmHkdfSha256Committing,
    /// Suite `0x0002`, what this crate writes: as `0x0001`, but HKDF's extract runs once per
    /// *data key* (a fixed salt), and the message id goes into each expand's `info`: four
    /// SHA-256 compressions per message instead of ten when the data key is cached.
    Aes256GcmHkdfSha256CommittingKeyExtract,
}

impl AlgorithmSuite {
    /// The suite's identifier on the wire.
    pub const fn id(self) -> u16 {
        match self {
            Self::Aes256GcmHkdfSha256Committing => 0x0001,
            Self::Aes256GcmHkdfSha256CommittingKeyExtract => 0x0002,
        }
    }

    /// The suite with identifier `id`, if known.
    pub const fn from_id(id: u64) -> Option<Self> {
        match id {
            0x0001 => Some(Self::Aes256GcmHkdfSha256Committing),
            0x0002 => Some(Self::Aes256GcmHkdfSha256CommittingKeyExtract),
            _ => None,
        }
    }
}

/// Bounds a reader enforces before allocating anything for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest CBOR header accepted, in bytes. Default [`DEFAULT_MAX_HEADER_LEN`].
    pub max_header_len: u32,
    /// The most encrypted data keys accepted. Default [`DEFAULT_MAX_ENCRYPTED_DATA_KEYS`].
    pub max_encrypted_data_keys: usize,
    /// The largest frame length accepted. Default [`DEFAULT_MAX_FRAME_LEN`]; never above
    /// [`MAX_FRAME_LEN`].
    pub max_frame_len: u32,
    /// The most frames accepted. Default and ceiling [`MAX_FRAMES`].
    pub max_frames: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_len: DEFAULT_MAX_HEADER_LEN,
            max_encrypted_data_keys: DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_frames: MAX_FRAMES,
        }
    }
}

impl Limits {
    /// Sets the header-length bound.
    #[must_use]
    pub fn with_max_header_len(mut self, n: u32) -> Self {
        self.max_header_len = n;
        self
    }

    /// Sets the bound on encrypted data keys.
    #[must_use]
    pub fn with_max_encrypted_data_keys(mut self, n: usize) -> Self {
        self.max_encrypted_data_keys = n;
        self
    }

    /// Sets the frame-length bound (capped at [`MAX_FRAME_LEN`]).
    #[must_use]
    pub fn with_max_frame_len(mut self, n: u32) -> Self {
        self.max_frame_len = n.min(MAX_FRAME_LEN);
        self
    }

    /// Sets the frame-count bound (capped at [`MAX_FRAMES`]).
    #[must_use]
    pub fn with_max_frames(mut self, n: u64) -> Self {
        self.max_frames = n.min(MAX_FRAMES);
        self
    }
}

/// The header of a message: everything needed to find and check its data key and read its frames.
///
/// Not secret. A header parsed with [`Header::decode`] is *unauthenticated*: only a
/// [`DecryptingReader`](crate::DecryptingReader) or [`decrypt`](crate::decrypt) checks it.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    pub(crate) suite: AlgorithmSuite,
    pub(crate) message_id: [u8; MESSAGE_ID_LEN],
    pub(crate) context: EncryptionContext,
    pub(crate) encrypted_data_keys: Vec<EncryptedDataKey>,
    pub(crate) frame_len: u32,
    pub(crate) commitment: [u8; COMMITMENT_LEN],
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("suite", &self.suite)
            .field("message_id", &Hex(&self.message_id))
            .field("context", &self.context)
            .field("encrypted_data_keys", &self.encrypted_data_keys)
            .field("frame_len", &self.frame_len)
            .finish_non_exhaustive()
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Header {
    /// The format version (always [`FORMAT_VERSION`]).
    pub fn version(&self) -> u8 {
        FORMAT_VERSION
    }

    /// The algorithm suite.
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The random message id.
    pub fn message_id(&self) -> &[u8; MESSAGE_ID_LEN] {
        &self.message_id
    }

    /// The encryption context the message is bound to.
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    /// The data key, wrapped once per key that can open the message.
    pub fn encrypted_data_keys(&self) -> &[EncryptedDataKey] {
        &self.encrypted_data_keys
    }

    /// Plaintext bytes per frame.
    pub fn frame_len(&self) -> u32 {
        self.frame_len
    }

    /// The key commitment.
    pub fn commitment(&self) -> &[u8; COMMITMENT_LEN] {
        &self.commitment
    }

    /// The header's one deterministic CBOR encoding (RFC 8949 §4.2.1: preferred integer
    /// encodings, definite lengths, map keys in bytewise order of their encodings):
    ///
    /// `[version, suite, message_id, {context}, [[key_id, wrapped], ...], frame_len, commitment]`
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        encode_header(
            &mut out,
            self.suite,
            &self.message_id,
            &self.context,
            &self.encrypted_data_keys,
            self.frame_len,
            &self.commitment,
        );
        out
    }

    fn encoded_len_hint(&self) -> usize {
        let ctx: usize = self
            .context
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum();
        let edks: usize = self
            .encrypted_data_keys
            .iter()
            .map(|e| e.key_id.len() + e.ciphertext.len() + 7)
            .sum();
        96 + ctx + edks
    }

    /// Parses a CBOR header, refusing anything but its one deterministic encoding, and checking
    /// every bound of `limits` before allocating for it. The result is not authenticated.
    ///
    /// One pass over the bytes as given: every CBOR head must be in its shortest form (else
    /// [`Malformed::NotCanonical`], reported only once the rest of the header parsed, as a
    /// decode-then-re-encode comparison would), map keys strictly in deterministic order, and
    /// nothing but the seven items. What it accepts therefore re-encodes to exactly `cbor`, with
    /// no second encoding made to check it.
    pub fn decode(cbor: &[u8], limits: &Limits) -> Result<Self, EnvelopeError> {
        let found = cbor.len() as u64;
        if found > u64::from(limits.max_header_len) {
            return Err(EnvelopeError::LimitExceeded {
                limit: Limit::HeaderLength,
                max: u64::from(limits.max_header_len),
                found,
            });
        }
        let mut p = Parser {
            buf: cbor,
            pos: 0,
            canonical: true,
        };
        if p.array()? != 7 {
            return Err(malformed(Malformed::HeaderStructure));
        }
        let version = p.uint()?;
        if version != u64::from(FORMAT_VERSION) {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let suite_id = p.uint()?;
        let suite =
            AlgorithmSuite::from_id(suite_id).ok_or(EnvelopeError::UnsupportedSuite(suite_id))?;
        let message_id = p.fixed::<MESSAGE_ID_LEN>()?;
        let context = p.context()?;
        let n_edks = p.array()?;
        if n_edks == 0 {
            return Err(malformed(Malformed::NoEncryptedDataKey));
        }
        if n_edks > limits.max_encrypted_data_keys {
            return Err(EnvelopeError::LimitExceeded {
                limit: Limit::EncryptedDataKeys,
                max: limits.max_encrypted_data_keys as u64,
                found: n_edks as u64,
            });
        }
        let mut encrypted_data_keys = Vec::with_capacity(n_edks);
        for _ in 0..n_edks {
            if p.array()? != 2 {
                return Err(malformed(Malformed::HeaderStructure));
            }
            let key_id = p.text(MAX_KEY_ID_LEN, Limit::KeyIdLength)?.to_owned();
            let ciphertext = p
                .bytes(MAX_WRAPPED_KEY_LEN, Limit::WrappedKeyLength)?
                .to_vec();
            encrypted_data_keys.push(EncryptedDataKey { key_id, ciphertext });
        }
        let frame_len = p.uint()?;
        check_frame_len(frame_len, limits)?;
        let frame_len =
            u32::try_from(frame_len).map_err(|_| malformed(Malformed::HeaderStructure))?;
        let commitment = p.fixed::<COMMITMENT_LEN>()?;
        if p.pos != cbor.len() {
            return Err(malformed(Malformed::HeaderLength));
        }
        if !p.canonical {
            return Err(malformed(Malformed::NotCanonical));
        }
        Ok(Self {
            suite,
            message_id,
            context,
            encrypted_data_keys,
            frame_len,
            commitment,
        })
    }
}

/// Appends the deterministic CBOR encoding of a header made of these parts to `out`.
pub(crate) fn encode_header(
    out: &mut Vec<u8>,
    suite: AlgorithmSuite,
    message_id: &[u8; MESSAGE_ID_LEN],
    context: &EncryptionContext,
    encrypted_data_keys: &[EncryptedDataKey],
    frame_len: u32,
    commitment: &[u8; COMMITMENT_LEN],
) {
    head(out, 4, 7);
    head(out, 0, u64::from(FORMAT_VERSION));
    head(out, 0, u64::from(suite.id()));
    bytes(out, message_id);
    head(out, 5, context.len() as u64);
    // Deterministic map order: by encoded key, i.e. shorter keys first, then bytewise. The
    // context iterates bytewise, so when its key lengths never decrease (one pair, or keys of
    // one length, as most contexts) that is already the order; otherwise a stable sort by
    // length alone finishes the job.
    let mut lens = context.iter().map(|(k, _)| k.len());
    let in_order = lens
        .next()
        .is_none_or(|first| lens.try_fold(first, |p, l| (l >= p).then_some(l)).is_some());
    if in_order {
        for (k, v) in context.iter() {
            text(out, k);
            text(out, v);
        }
    } else {
        let mut pairs: Vec<(&str, &str)> = context.iter().collect();
        pairs.sort_by_key(|(k, _)| k.len());
        for (k, v) in pairs {
            text(out, k);
            text(out, v);
        }
    }
    head(out, 4, encrypted_data_keys.len() as u64);
    for edk in encrypted_data_keys {
        head(out, 4, 2);
        text(out, &edk.key_id);
        bytes(out, &edk.ciphertext);
    }
    head(out, 0, u64::from(frame_len));
    bytes(out, commitment);
}

/// Checks a frame length against the format and `limits`.
pub(crate) fn check_frame_len(frame_len: u64, limits: &Limits) -> Result<(), EnvelopeError> {
    if frame_len == 0 {
        return Err(malformed(Malformed::ZeroFrameLength));
    }
    let max = u64::from(limits.max_frame_len.min(MAX_FRAME_LEN));
    if frame_len > max {
        return Err(EnvelopeError::LimitExceeded {
            limit: Limit::FrameLength,
            max,
            found: frame_len,
        });
    }
    Ok(())
}

/// The message prefix for a CBOR header of `len` bytes.
pub(crate) fn prefix(len: u32) -> [u8; PREFIX_LEN] {
    let l = len.to_be_bytes();
    [
        MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], l[0], l[1], l[2], l[3],
    ]
}

/// Checks the magic and returns the CBOR header length, bounded by `limits`.
pub(crate) fn parse_prefix(p: &[u8; PREFIX_LEN], limits: &Limits) -> Result<u32, EnvelopeError> {
    let [m0, m1, m2, m3, l0, l1, l2, l3] = *p;
    if [m0, m1, m2, m3] != MAGIC {
        return Err(malformed(Malformed::BadMagic));
    }
    let len = u32::from_be_bytes([l0, l1, l2, l3]);
    if len > limits.max_header_len {
        return Err(EnvelopeError::LimitExceeded {
            limit: Limit::HeaderLength,
            max: u64::from(limits.max_header_len),
            found: u64::from(len),
        });
    }
    Ok(len)
}

pub(crate) fn malformed(m: Malformed) -> EnvelopeError {
    EnvelopeError::Malformed(m)
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if let Ok(b) = u8::try_from(n) {
        out.extend_from_slice(&[m | 24, b]);
    } else if let Ok(s) = u16::try_from(n) {
        out.push(m | 25);
        out.extend_from_slice(&s.to_be_bytes());
    } else if let Ok(w) = u32::try_from(n) {
        out.push(m | 26);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// CBOR major types the header uses.
const MAJOR_UINT: u8 = 0;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;

/// A reader of the header's CBOR over the bytes as given: heads are decoded by hand (definite
/// lengths only, no tags, floats or simple values: anything else is
/// [`Malformed::HeaderStructure`]), strings are borrowed from the input, and a head not in its
/// shortest form clears `canonical` (the caller reports it once the rest parsed).
struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    canonical: bool,
}

impl<'a> Parser<'a> {
    /// The next `n` bytes, or [`Malformed::HeaderLength`] if the header ends first.
    fn take(&mut self, n: usize) -> Result<&'a [u8], EnvelopeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(malformed(Malformed::HeaderLength))?;
        let out = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }

    /// The next head: its major type and argument.
    fn head(&mut self) -> Result<(u8, u64), EnvelopeError> {
        let &[first] = self.take(1)? else {
            return Err(malformed(Malformed::HeaderLength));
        };
        let major = first >> 5;
        let info = first & 0x1f;
        let (n, shortest) = match info {
            0..=23 => (u64::from(info), true),
            24 => {
                let &[b] = self.take(1)? else {
                    return Err(malformed(Malformed::HeaderLength));
                };
                (u64::from(b), b >= 24)
            }
            25 => {
                let n = u64::from(u16::from_be_bytes(self.array_of::<2>()?));
                (n, n > 0xff)
            }
            26 => {
                let n = u64::from(u32::from_be_bytes(self.array_of::<4>()?));
                (n, n > 0xffff)
            }
            27 => {
                let n = u64::from_be_bytes(self.array_of::<8>()?);
                (n, n > 0xffff_ffff)
            }
            // 28..=30 are reserved; 31 is an indefinite length or a break.
            _ => return Err(malformed(Malformed::HeaderStructure)),
        };
        if major > MAJOR_MAP {
            // Negative integers are major 1 (refused by the callers); tags, floats and simple
            // values (6, 7) never appear in a header.
            return Err(malformed(Malformed::HeaderStructure));
        }
        self.canonical &= shortest;
        Ok((major, n))
    }

    fn array_of<const N: usize>(&mut self) -> Result<[u8; N], EnvelopeError> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| malformed(Malformed::HeaderLength))
    }

    /// The argument of the next head, which must be of major type `major`.
    fn expect(&mut self, major: u8) -> Result<u64, EnvelopeError> {
        match self.head()? {
            (m, n) if m == major => Ok(n),
            _ => Err(malformed(Malformed::HeaderStructure)),
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn array(&mut self) -> Result<usize, EnvelopeError> {
        let n = self.expect(MAJOR_ARRAY)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn uint(&mut self) -> Result<u64, EnvelopeError> {
        self.expect(MAJOR_UINT)
    }

    /// The contents of a string of major type `major`, bounded by `max` before it is read.
    fn string(&mut self, major: u8, max: usize, limit: Limit) -> Result<&'a [u8], EnvelopeError> {
        let n = usize::try_from(self.expect(major)?).unwrap_or(usize::MAX);
        bound(n, max, limit)?;
        self.take(n)
    }

    fn bytes(&mut self, max: usize, limit: Limit) -> Result<&'a [u8], EnvelopeError> {
        self.string(MAJOR_BYTES, max, limit)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], EnvelopeError> {
        let n = self.expect(MAJOR_BYTES)?;
        if n != N as u64 {
            return Err(malformed(Malformed::FieldLength));
        }
        self.array_of::<N>()
    }

    fn text(&mut self, max: usize, limit: Limit) -> Result<&'a str, EnvelopeError> {
        let raw = self.string(MAJOR_TEXT, max, limit)?;
        std::str::from_utf8(raw).map_err(|_| malformed(Malformed::InvalidUtf8))
    }

    fn context(&mut self) -> Result<EncryptionContext, EnvelopeError> {
        let n = usize::try_from(self.expect(MAJOR_MAP)?).unwrap_or(usize::MAX);
        // Each pair takes at least two bytes: a longer count cannot be honest.
        if n > self.remaining() / 2 {
            return Err(malformed(Malformed::HeaderLength));
        }
        let cap = coffer_core::MAX_ENCRYPTION_CONTEXT_BYTES;
        let mut map = BTreeMap::new();
        let mut prev: Option<&str> = None;
        for _ in 0..n {
            let k = self.text(cap, Limit::EncryptionContext)?;
            let v = self.text(cap, Limit::EncryptionContext)?;
            if let Some(p) = prev {
                if (p.len(), p.as_bytes()) >= (k.len(), k.as_bytes()) {
                    return Err(malformed(Malformed::ContextOrder));
                }
            }
            prev = Some(k);
            map.insert(k.to_owned(), v.to_owned());
        }
        let ctx = EncryptionContext::from(map);
        ctx.validate().map_err(EnvelopeError::InvalidContext)?;
        Ok(ctx)
    }
}

fn bound(n: usize, max: usize, limit: Limit) -> Result<(), EnvelopeError> {
    if n > max {
        return Err(EnvelopeError::LimitExceeded {
            limit,
            max: max as u64,
            found: n as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        let mut context = EncryptionContext::new();
        context.insert("purpose", "test");
        context.insert("bb", "2");
        context.insert("a", "1");
        Header {
            suite: AlgorithmSuite::Aes256GcmHkdfSha256Committing,
            message_id: [7; MESSAGE_ID_LEN],
            context,
            encrypted_data_keys: vec![
                EncryptedDataKey::new("arn:aws:kms:us-east-1:111122223333:key/a", vec![1; 40]),
                EncryptedDataKey::new("k2", vec![2; 300]),
            ],
            frame_len: FRAME_LEN,
            commitment: [9; COMMITMENT_LEN],
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let h = sample();
        let enc = h.encode();
        let back = Header::decode(&enc, &Limits::default()).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.encode(), enc);
    }

    #[test]
    fn context_keys_in_deterministic_order() {
        let enc = sample().encode();
        // Map keys sorted shortest first: "a", "bb", "purpose".
        let pos = |needle: &[u8]| enc.windows(needle.len()).position(|w| w == needle).unwrap();
        assert!(pos(b"a") < pos(b"bb"));
        assert!(pos(b"bb") < pos(b"purpose"));
    }

    #[test]
    fn refuses_non_canonical_integer() {
        let h = sample();
        let enc = h.encode();
        // Version 1 encoded in two bytes (0x18 0x01) instead of one: well-formed, not canonical.
        let mut bad = vec![enc[0], 0x18, 0x01];
        bad.extend_from_slice(&enc[2..]);
        assert!(matches!(
            Header::decode(&bad, &Limits::default()),
            Err(EnvelopeError::Malformed(Malformed::NotCanonical))
        ));
    }

    #[test]
    fn refuses_trailing_bytes_and_truncation() {
        let mut enc = sample().encode();
        enc.push(0);
        assert!(Header::decode(&enc, &Limits::default()).is_err());
        enc.pop();
        for cut in 0..enc.len() {
            assert!(Header::decode(&enc[..cut], &Limits::default()).is_err());
        }
    }

    #[test]
    fn bounds_are_checked() {
        let enc = sample().encode();
        let l = Limits::default().with_max_encrypted_data_keys(1);
        assert!(matches!(
            Header::decode(&enc, &l),
            Err(EnvelopeError::LimitExceeded {
                limit: Limit::EncryptedDataKeys,
                ..
            })
        ));
        let l = Limits::default().with_max_frame_len(1024);
        assert!(matches!(
            Header::decode(&enc, &l),
            Err(EnvelopeError::LimitExceeded {
                limit: Limit::FrameLength,
                ..
            })
        ));
        let l = Limits::default().with_max_header_len(10);
        assert!(matches!(
            Header::decode(&enc, &l),
            Err(EnvelopeError::LimitExceeded {
                limit: Limit::HeaderLength,
                ..
            })
        ));
        // A huge declared array count is refused before any allocation.
        let mut huge = vec![0x87, 0x01, 0x01, 0x58, 0x20];
        huge.extend_from_slice(&[0; 32]);
        huge.extend_from_slice(&[0xa0, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            Header::decode(&huge, &Limits::default()),
            Err(EnvelopeError::LimitExceeded {
                limit: Limit::EncryptedDataKeys,
                ..
            })
        ));
    }

    #[test]
    fn prefix_checks_magic_and_length() {
        let l = Limits::default();
        assert_eq!(parse_prefix(&prefix(100), &l).unwrap(), 100);
        assert!(parse_prefix(&prefix(DEFAULT_MAX_HEADER_LEN + 1), &l).is_err());
        let mut p = prefix(1);
        p[0] ^= 1;
        assert!(matches!(
            parse_prefix(&p, &l),
            Err(EnvelopeError::Malformed(Malformed::BadMagic))
        ));
    }

    /// The decoder this crate used before the one-pass parser (ciborium-ll, then a re-encode
    /// compared with the input), kept as the oracle the new one must agree with.
    mod reference {
        use super::*;
        use ciborium_ll::{Decoder, Header as Item};

        pub(super) fn decode(cbor: &[u8], limits: &Limits) -> Result<Header, EnvelopeError> {
            let found = cbor.len() as u64;
            if found > u64::from(limits.max_header_len) {
                return Err(EnvelopeError::LimitExceeded {
                    limit: Limit::HeaderLength,
                    max: u64::from(limits.max_header_len),
                    found,
                });
            }
            let mut p = RefParser {
                dec: Decoder::from(cbor),
                total: cbor.len(),
            };
            if p.array()? != 7 {
                return Err(malformed(Malformed::HeaderStructure));
            }
            let version = p.uint()?;
            if version != u64::from(FORMAT_VERSION) {
                return Err(EnvelopeError::UnsupportedVersion(version));
            }
            let suite_id = p.uint()?;
            let suite = AlgorithmSuite::from_id(suite_id)
                .ok_or(EnvelopeError::UnsupportedSuite(suite_id))?;
            let message_id = p.fixed::<MESSAGE_ID_LEN>()?;
            let context = p.context()?;
            let n_edks = p.array()?;
            if n_edks == 0 {
                return Err(malformed(Malformed::NoEncryptedDataKey));
            }
            if n_edks > limits.max_encrypted_data_keys {
                return Err(EnvelopeError::LimitExceeded {
                    limit: Limit::EncryptedDataKeys,
                    max: limits.max_encrypted_data_keys as u64,
                    found: n_edks as u64,
                });
            }
            let mut encrypted_data_keys = Vec::with_capacity(n_edks);
            for _ in 0..n_edks {
                if p.array()? != 2 {
                    return Err(malformed(Malformed::HeaderStructure));
                }
                let key_id = p.text(MAX_KEY_ID_LEN, Limit::KeyIdLength)?;
                let ciphertext = p.bytes(MAX_WRAPPED_KEY_LEN, Limit::WrappedKeyLength)?;
                encrypted_data_keys.push(EncryptedDataKey { key_id, ciphertext });
            }
            let frame_len = p.uint()?;
            check_frame_len(frame_len, limits)?;
            let frame_len =
                u32::try_from(frame_len).map_err(|_| malformed(Malformed::HeaderStructure))?;
            let commitment = p.fixed::<COMMITMENT_LEN>()?;
            if p.dec.offset() != cbor.len() {
                return Err(malformed(Malformed::HeaderLength));
            }
            let header = Header {
                suite,
                message_id,
                context,
                encrypted_data_keys,
                frame_len,
                commitment,
            };
            if header.encode() != cbor {
                return Err(malformed(Malformed::NotCanonical));
            }
            Ok(header)
        }

        struct RefParser<'a> {
            dec: Decoder<&'a [u8]>,
            total: usize,
        }

        impl RefParser<'_> {
            fn pull(&mut self) -> Result<Item, EnvelopeError> {
                self.dec.pull().map_err(|e| match e {
                    ciborium_ll::Error::Io(_) => malformed(Malformed::HeaderLength),
                    ciborium_ll::Error::Syntax(_) => malformed(Malformed::HeaderStructure),
                })
            }

            fn remaining(&mut self) -> usize {
                self.total.saturating_sub(self.dec.offset())
            }

            fn array(&mut self) -> Result<usize, EnvelopeError> {
                match self.pull()? {
                    Item::Array(Some(n)) => Ok(n),
                    _ => Err(malformed(Malformed::HeaderStructure)),
                }
            }

            fn uint(&mut self) -> Result<u64, EnvelopeError> {
                match self.pull()? {
                    Item::Positive(n) => Ok(n),
                    _ => Err(malformed(Malformed::HeaderStructure)),
                }
            }

            /// Reads `n` raw bytes of a definite-length string, after checking they are there.
            fn raw(&mut self, n: usize) -> Result<Vec<u8>, EnvelopeError> {
                if n > self.remaining() {
                    return Err(malformed(Malformed::HeaderLength));
                }
                let mut v = vec![0u8; n];
                ciborium_io::Read::read_exact(&mut self.dec, &mut v)
                    .map_err(|_| malformed(Malformed::HeaderLength))?;
                Ok(v)
            }

            fn bytes(&mut self, max: usize, limit: Limit) -> Result<Vec<u8>, EnvelopeError> {
                match self.pull()? {
                    Item::Bytes(Some(n)) => {
                        bound(n, max, limit)?;
                        self.raw(n)
                    }
                    _ => Err(malformed(Malformed::HeaderStructure)),
                }
            }

            fn fixed<const N: usize>(&mut self) -> Result<[u8; N], EnvelopeError> {
                match self.pull()? {
                    Item::Bytes(Some(n)) if n == N => {
                        let v = self.raw(n)?;
                        <[u8; N]>::try_from(v).map_err(|_| malformed(Malformed::FieldLength))
                    }
                    Item::Bytes(Some(_)) => Err(malformed(Malformed::FieldLength)),
                    _ => Err(malformed(Malformed::HeaderStructure)),
                }
            }

            fn text(&mut self, max: usize, limit: Limit) -> Result<String, EnvelopeError> {
                match self.pull()? {
                    Item::Text(Some(n)) => {
                        bound(n, max, limit)?;
                        String::from_utf8(self.raw(n)?)
                            .map_err(|_| malformed(Malformed::InvalidUtf8))
                    }
                    _ => Err(malformed(Malformed::HeaderStructure)),
                }
            }

            fn context(&mut self) -> Result<EncryptionContext, EnvelopeError> {
                let n = match self.pull()? {
                    Item::Map(Some(n)) => n,
                    _ => return Err(malformed(Malformed::HeaderStructure)),
                };
                // Each pair takes at least two bytes: a longer count cannot be honest.
                if n > self.remaining() / 2 {
                    return Err(malformed(Malformed::HeaderLength));
                }
                let cap = coffer_core::MAX_ENCRYPTION_CONTEXT_BYTES;
                let mut map = BTreeMap::new();
                let mut prev: Option<String> = None;
                for _ in 0..n {
                    let k = self.text(cap, Limit::EncryptionContext)?;
                    let v = self.text(cap, Limit::EncryptionContext)?;
                    if let Some(p) = &prev {
                        if (p.len(), p.as_bytes()) >= (k.len(), k.as_bytes()) {
                            return Err(malformed(Malformed::ContextOrder));
                        }
                    }
                    prev = Some(k.clone());
                    map.insert(k, v);
                }
                let ctx = EncryptionContext::from(map);
                ctx.validate().map_err(EnvelopeError::InvalidContext)?;
                Ok(ctx)
            }
        }
    }

    fn same_outcome(bytes: &[u8], limits: &Limits) -> Result<(), String> {
        let new = Header::decode(bytes, limits);
        let old = reference::decode(bytes, limits);
        let show = |r: &Result<Header, EnvelopeError>| match r {
            Ok(h) => format!("Ok({h:?} {:?} {:?})", h.message_id, h.commitment),
            Err(e) => format!("Err({e:?})"),
        };
        if show(&new) == show(&old) && new.as_ref().ok() == old.as_ref().ok() {
            Ok(())
        } else {
            Err(format!("new {} / reference {}", show(&new), show(&old)))
        }
    }

    /// A header from proptest's parts.
    fn header_of(
        suite2: bool,
        ctx: Vec<(String, String)>,
        edks: Vec<(String, Vec<u8>)>,
        frame_len: u32,
        id: u8,
    ) -> Header {
        let mut context = EncryptionContext::new();
        for (k, v) in ctx {
            context.insert(k, v);
        }
        Header {
            suite: if suite2 {
                AlgorithmSuite::Aes256GcmHkdfSha256CommittingKeyExtract
            } else {
                AlgorithmSuite::Aes256GcmHkdfSha256Committing
            },
            message_id: [id; MESSAGE_ID_LEN],
            context,
            encrypted_data_keys: edks
                .into_iter()
                .map(|(k, c)| EncryptedDataKey::new(k, c))
                .collect(),
            frame_len,
            commitment: [id ^ 0x5a; COMMITMENT_LEN],
        }
    }

    use proptest::prelude::*;

    fn header_strategy() -> impl Strategy<Value = Header> {
        (
            any::<bool>(),
            proptest::collection::vec(("[a-z\\u{e9}]{0,30}", ".{0,40}"), 0..5),
            proptest::collection::vec(
                (
                    "[ -~]{0,300}",
                    proptest::collection::vec(any::<u8>(), 0..300),
                ),
                1..4,
            ),
            prop_oneof![1u32..30, 20u32..300, 60_000u32..70_000, Just(1 << 20)],
            any::<u8>(),
        )
            .prop_map(|(s, c, e, f, id)| header_of(s, c, e, f, id))
    }

    proptest! {
        /// Every header encodes to bytes the parser reads back to the same header, and the
        /// reference decoder agrees.
        #[test]
        fn parse_round_trips(h in header_strategy()) {
            let enc = h.encode();
            let back = Header::decode(&enc, &Limits::default()).unwrap();
            prop_assert_eq!(&back, &h);
            prop_assert_eq!(back.encode(), enc.clone());
            prop_assert_eq!(same_outcome(&enc, &Limits::default()), Ok(()));
        }

        /// Any change to a valid header (a byte changed, inserted or removed, a cut) gets the
        /// same outcome, header or error, from the one-pass parser as from the reference
        /// decode-and-re-encode.
        #[test]
        fn parser_agrees_with_reference_on_mutations(
            h in header_strategy(),
            edits in proptest::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<u8>()), 1..4),
            small_limits in any::<bool>(),
        ) {
            let mut bytes = h.encode();
            for (kind, at, b) in edits {
                let i = at.index(bytes.len().max(1));
                match kind {
                    0 if !bytes.is_empty() => bytes[i] = b,
                    1 => bytes.insert(i.min(bytes.len()), b),
                    2 if !bytes.is_empty() => { bytes.remove(i); }
                    _ => bytes.truncate(i),
                }
            }
            let limits = if small_limits {
                Limits::default().with_max_encrypted_data_keys(2).with_max_frame_len(100)
            } else {
                Limits::default()
            };
            prop_assert_eq!(same_outcome(&bytes, &limits), Ok(()));
        }

        /// Arbitrary bytes, and arbitrary CBOR-looking bytes after a valid array head: the same
        /// outcome from both decoders.
        #[test]
        fn parser_agrees_with_reference_on_noise(
            tail in proptest::collection::vec(any::<u8>(), 0..200),
            prefix in proptest::collection::vec(any::<u8>(), 0..6),
        ) {
            let mut bytes = vec![0x87, 0x01];
            bytes.extend_from_slice(&prefix);
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(same_outcome(&bytes, &Limits::default()), Ok(()));
            prop_assert_eq!(same_outcome(&tail, &Limits::default()), Ok(()));
        }
    }

    #[test]
    fn non_shortest_heads_are_refused_everywhere() {
        // Re-encode each head of a valid header in every longer form: refused as not canonical,
        // as the reference decoder refuses it.
        let enc = sample().encode();
        let mut found = 0;
        let mut p = Parser {
            buf: &enc,
            pos: 0,
            canonical: true,
        };
        let mut heads = Vec::new();
        // Walk the heads: strings are skipped over by their length.
        while p.pos < enc.len() {
            let at = p.pos;
            let (major, n) = p.head().unwrap();
            heads.push((at, p.pos, major, n));
            if major == MAJOR_BYTES || major == MAJOR_TEXT {
                p.take(n as usize).unwrap();
            }
        }
        for (start, end, major, n) in heads {
            for (info, width) in [(24u8, 1usize), (25, 2), (26, 4), (27, 8)] {
                if width < 8 && n >> (8 * width) != 0 {
                    continue;
                }
                if end - start == 1 + if info == 24 { 1 } else { width } && (end - start) > 1 {
                    continue; // this is the shortest form already
                }
                let mut bad = enc[..start].to_vec();
                bad.push(major << 5 | info);
                bad.extend_from_slice(&n.to_be_bytes()[8 - width..]);
                bad.extend_from_slice(&enc[end..]);
                if bad.len() - enc.len() == 0 {
                    continue;
                }
                found += 1;
                assert!(matches!(
                    Header::decode(&bad, &Limits::default()),
                    Err(EnvelopeError::Malformed(Malformed::NotCanonical))
                ));
                same_outcome(&bad, &Limits::default()).unwrap();
            }
        }
        assert!(found > 30);
    }

    #[test]
    fn is_generic_cbor() {
        let enc = sample().encode();
        let v: ciborium::Value = ciborium::from_reader(&enc[..]).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 7);
        assert_eq!(arr[0].as_integer().unwrap(), 1.into());
        assert_eq!(arr[3].as_map().unwrap().len(), 3);
    }
}
