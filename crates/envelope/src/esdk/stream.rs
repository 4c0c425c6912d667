//! Streaming decryption in bounded memory: [`EsdkDecryptingReader`].

use std::fmt;
use std::io::{self, Read};

use coffer_core::EncryptionContext;
use coffer_crypto::aead::Aes256Gcm;
use coffer_crypto::SecretBytes;
use p384::ecdsa::signature::hazmat::PrehashVerifier as _;

use super::body::{self, FINAL_FRAME_MARKER};
use super::error::{EsdkError, EsdkMalformed};
use super::header::{ContentType, EsdkHeader, ESDK_IV_LEN, ESDK_TAG_LEN, ESDK_VERSION};
use super::{open_header, sign, EsdkDecryptOptions, Keyring, ESDK_MAX_FRAMES};

/// Reads exactly `n` more bytes of `inner` onto `buf`; the end of input is
/// [`EsdkError::Truncated`].
fn read_onto<R: Read>(inner: &mut R, buf: &mut Vec<u8>, n: usize) -> Result<(), EsdkError> {
    let start = buf.len();
    buf.resize(start + n, 0);
    inner.read_exact(&mut buf[start..]).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            EsdkError::Truncated
        } else {
            EsdkError::Io(e)
        }
    })
}

fn be16(b: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads the header body, bounding every length before reading it.
fn read_header<R: Read>(inner: &mut R, options: &EsdkDecryptOptions) -> Result<Vec<u8>, EsdkError> {
    let max = options.max_header_len;
    // Before each read: would the header grow past the limit?
    let fits = |have: usize, n: usize| {
        if have.saturating_add(n) > max {
            Err(EsdkError::LimitExceeded {
                what: "header length",
                max: max as u64,
                found: have.saturating_add(n) as u64,
            })
        } else {
            Ok(())
        }
    };
    let mut h = Vec::with_capacity(256);
    read_onto(inner, &mut h, 1)?;
    if h[0] != ESDK_VERSION {
        return Err(EsdkError::UnsupportedVersion(h[0]));
    }
    read_onto(inner, &mut h, 2 + 32 + 2)?;
    let aad_len = be16(&h[35..37]);
    fits(h.len(), aad_len)?;
    read_onto(inner, &mut h, aad_len)?;
    let at = h.len();
    read_onto(inner, &mut h, 2)?;
    let count = be16(&h[at..]);
    if count > options.max_encrypted_data_keys {
        return Err(EsdkError::LimitExceeded {
            what: "number of encrypted data keys",
            max: options.max_encrypted_data_keys as u64,
            found: count as u64,
        });
    }
    for _ in 0..count * 3 {
        let at = h.len();
        read_onto(inner, &mut h, 2)?;
        let n = be16(&h[at..]);
        fits(h.len(), n)?;
        read_onto(inner, &mut h, n)?;
    }
    fits(h.len(), 1 + 4 + 32)?;
    read_onto(inner, &mut h, 1 + 4 + 32)?;
    Ok(h)
}

enum State {
    Body,
    Done,
    Failed,
}

/// Signature state of a 0x0578 message: SHA-384 over everything before the footer.
struct StreamVerifier {
    digest: ring::digest::Context,
    key: p384::ecdsa::VerifyingKey,
}

/// Decrypts an ESDK message v2 from an `io::Read` in memory bounded by the frame length: each
/// frame is released only once its tag verified, in sequence, and the end of the stream (final
/// frame, footer, no trailing byte) is checked before `read` returns 0.
///
/// Signed messages (0x0578): as in every ESDK's streaming decryption, frames are released as they
/// authenticate, before the signature at the end is verified; a bad signature is an error from
/// the last `read`, after plaintext was released. Callers that cannot tolerate that must treat
/// the plaintext as unverified until `read` returned 0, use
/// [`EsdkDecryptOptions::unsigned_only`], or use the one-shot [`decrypt`](super::decrypt).
/// A non-framed body is held whole (bounded by [`EsdkDecryptOptions::with_max_frame_len`]).
pub struct EsdkDecryptingReader<R> {
    inner: R,
    header: EsdkHeader,
    context: EncryptionContext,
    cipher: Aes256Gcm,
    verifier: Option<StreamVerifier>,
    max_frame_len: u32,
    seq: u32,
    frame: SecretBytes,
    pos: usize,
    state: State,
}

impl<R> fmt::Debug for EsdkDecryptingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsdkDecryptingReader")
            .field("header", &self.header)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<R: Read> EsdkDecryptingReader<R> {
    /// Reads and authenticates the header (data key from `keyring`, commitment, header tag,
    /// required context); the body is decrypted as it is read.
    pub fn new(
        keyring: &dyn Keyring,
        mut inner: R,
        options: &EsdkDecryptOptions,
    ) -> Result<Self, EsdkError> {
        let mut raw = read_header(&mut inner, options)?;
        let (header, len) = EsdkHeader::parse(&raw, options)?;
        if len != raw.len() {
            return Err(EsdkError::Malformed(EsdkMalformed::ContextLength));
        }
        let header_len = raw.len();
        read_onto(&mut inner, &mut raw, ESDK_TAG_LEN)?;
        let mut tag = [0u8; ESDK_TAG_LEN];
        tag.copy_from_slice(&raw[header_len..]);
        if header.suite.is_signed() && options.unsigned_only {
            return Err(EsdkError::UnsupportedSuite(header.suite.id()));
        }
        let verifier = if header.suite.is_signed() {
            let compressed = sign::public_key_bytes(&header.context)?;
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&compressed)
                .map_err(|_| EsdkMalformed::PublicKey)?;
            let mut digest = ring::digest::Context::new(&ring::digest::SHA384);
            digest.update(&raw);
            Some(StreamVerifier { digest, key })
        } else {
            None
        };
        let (cipher, context) = open_header(keyring, &header, &raw[..header_len], &tag, options)?;
        Ok(Self {
            inner,
            header,
            context,
            cipher,
            verifier,
            max_frame_len: options.max_frame_len,
            seq: 1,
            frame: SecretBytes::new(Vec::new()),
            pos: 0,
            state: State::Body,
        })
    }

    /// The authenticated header.
    pub fn header(&self) -> &EsdkHeader {
        &self.header
    }

    /// The authenticated encryption context: stored and unstored pairs.
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>, EsdkError> {
        let mut buf = Vec::new();
        read_onto(&mut self.inner, &mut buf, n)?;
        if let Some(v) = self.verifier.as_mut() {
            v.digest.update(&buf);
        }
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, EsdkError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn check_iv(&mut self, seq: u32) -> Result<(), EsdkError> {
        if self.take(ESDK_IV_LEN)? != body::frame_iv(seq) {
            return Err(EsdkMalformed::Iv.into());
        }
        Ok(())
    }

    /// Reads, authenticates and decrypts the next frame into `self.frame`; at the end of the
    /// body checks the footer and the end of input.
    fn next_frame(&mut self) -> Result<(), EsdkError> {
        let seq = self.seq;
        let id = self.header.message_id;
        let finished = match self.header.content_type {
            ContentType::NonFramed => {
                self.check_iv(1)?;
                let b = self.take(8)?;
                let mut len8 = [0u8; 8];
                len8.copy_from_slice(&b);
                let len = u64::from_be_bytes(len8);
                if len > u64::from(self.max_frame_len) {
                    return Err(EsdkError::LimitExceeded {
                        what: "non-framed content length (streamed)",
                        max: u64::from(self.max_frame_len),
                        found: len,
                    });
                }
                let ct = self.take(len as usize + ESDK_TAG_LEN)?;
                self.frame = body::open_frame(&self.cipher, &id, body::Kind::Single, 1, len, &ct)?;
                true
            }
            ContentType::Framed => {
                let first = self.u32()?;
                let (len, kind) = if first == FINAL_FRAME_MARKER {
                    let found = self.u32()?;
                    if found != seq {
                        return Err(EsdkMalformed::SequenceNumber {
                            expected: seq,
                            found,
                        }
                        .into());
                    }
                    self.check_iv(seq)?;
                    let len = self.u32()?;
                    if len > self.header.frame_len {
                        return Err(EsdkMalformed::FinalFrameLength.into());
                    }
                    (len, body::Kind::Final)
                } else {
                    if first != seq {
                        return Err(EsdkMalformed::SequenceNumber {
                            expected: seq,
                            found: first,
                        }
                        .into());
                    }
                    self.check_iv(seq)?;
                    (self.header.frame_len, body::Kind::Regular)
                };
                let ct = self.take(len as usize + ESDK_TAG_LEN)?;
                self.frame = body::open_frame(&self.cipher, &id, kind, seq, len.into(), &ct)?;
                if kind == body::Kind::Regular {
                    self.seq = seq.checked_add(1).ok_or(EsdkError::LimitExceeded {
                        what: "number of frames",
                        max: u64::from(ESDK_MAX_FRAMES),
                        found: u64::from(ESDK_MAX_FRAMES) + 1,
                    })?;
                }
                kind == body::Kind::Final
            }
        };
        self.pos = 0;
        if finished {
            if let Some(v) = self.verifier.take() {
                let mut len = [0u8; 2];
                read_exact(&mut self.inner, &mut len)?;
                let len = usize::from(u16::from_be_bytes(len));
                if len == 0 || len > sign::MAX_SIGNATURE_LEN {
                    return Err(EsdkMalformed::SignatureLength.into());
                }
                let mut sig = vec![0u8; len];
                read_exact(&mut self.inner, &mut sig)?;
                let digest = v.digest.finish();
                let sig = p384::ecdsa::DerSignature::try_from(sig.as_slice())
                    .map_err(|_| EsdkError::Signature)?;
                v.key
                    .verify_prehash(digest.as_ref(), &sig)
                    .map_err(|_| EsdkError::Signature)?;
            }
            let mut probe = [0u8; 1];
            loop {
                match self.inner.read(&mut probe) {
                    Ok(0) => break,
                    Ok(_) => return Err(EsdkError::TrailingData),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(EsdkError::Io(e)),
                }
            }
            self.state = State::Done;
        }
        Ok(())
    }
}

fn read_exact<R: Read>(inner: &mut R, buf: &mut [u8]) -> Result<(), EsdkError> {
    inner.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            EsdkError::Truncated
        } else {
            EsdkError::Io(e)
        }
    })
}

impl<R: Read> Read for EsdkDecryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let available = self.frame.len() - self.pos;
            if available > 0 {
                let n = available.min(out.len());
                out[..n].copy_from_slice(&self.frame.expose()[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed => return Err(io::Error::other(EsdkError::Poisoned)),
                State::Body => {}
            }
            if let Err(e) = self.next_frame() {
                self.state = State::Failed;
                self.frame = SecretBytes::new(Vec::new());
                self.pos = 0;
                return Err(e.into());
            }
        }
    }
}
