//! The framed body, after age's STREAM: a named frame size, a nonce that is a counter plus a
//! final flag, a key consumed by value, a writer that must be finished and a reader that
//! authenticates each frame before it releases any of it.

use std::fmt;
use std::io::{self, Read, Write};

use coffer_crypto::aead::{Aes256Gcm, Nonce, NONCE_LEN, TAG_LEN};
use coffer_crypto::SymmetricKey;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Limit, Malformed};
use crate::header::{malformed, MAX_FRAMES};
use crate::message::{self, DecryptOptions, EncryptOptions, OpenedHeader, SealedHeader};
use coffer_core::EncryptionContext;

use crate::{DataKeyProvider, EnvelopeError, Header};

/// Type byte of a regular (non-final) frame: `0x00 || ciphertext(frame_len) || tag`.
pub(crate) const FRAME_REGULAR: u8 = 0x00;
/// Type byte of the final frame: `0x01 || u32 BE length || ciphertext(length) || tag`.
pub(crate) const FRAME_FINAL: u8 = 0x01;

/// What a nonce is used for; its last byte. The three uses never share a nonce.
#[derive(Clone, Copy)]
#[repr(u8)]
enum NonceUse {
    Frame = 0,
    Final = 1,
    Header = 2,
}

/// A frame nonce: an 88-bit big-endian counter (the frame's sequence number, from 0) followed by
/// a flag byte (0 regular frame, 1 final frame, 2 header tag, whose counter is 0).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FrameNonce(u64);

impl FrameNonce {
    fn with(counter: u64, flag: NonceUse) -> Nonce {
        let mut n = [0u8; NONCE_LEN];
        n[3..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = flag as u8;
        Nonce::from_bytes(n)
    }

    /// The nonce of the header tag.
    pub(crate) fn header() -> Nonce {
        Self::with(0, NonceUse::Header)
    }

    /// The current frame's nonce.
    fn nonce(self, last: bool) -> Nonce {
        Self::with(
            self.0,
            if last {
                NonceUse::Final
            } else {
                NonceUse::Frame
            },
        )
    }

    /// The sequence number of the current frame.
    fn counter(self) -> u64 {
        self.0
    }

    /// Moves to the next frame.
    fn advance(&mut self) -> Result<(), EnvelopeError> {
        self.0 = self.0.checked_add(1).filter(|c| *c < MAX_FRAMES).ok_or(
            EnvelopeError::LimitExceeded {
                limit: Limit::FrameCount,
                max: MAX_FRAMES,
                found: MAX_FRAMES,
            },
        )?;
        Ok(())
    }
}

/// The nonce of frame `seq` (from 0), the final frame's if `last`: what the streaming cipher
/// uses for that frame, for code that seals frames out of order.
pub(crate) fn frame_nonce(seq: u64, last: bool) -> Nonce {
    FrameNonce(seq).nonce(last)
}

/// The body cipher of one message: the expanded frame key and the frame counter.
pub(crate) struct FrameCipher {
    aead: Aes256Gcm,
    nonce: FrameNonce,
}

impl FrameCipher {
    /// Takes the message's frame key by value: it is expanded once and the key itself dropped
    /// (zeroized).
    #[inline(always)]
    pub(crate) fn new(key: SymmetricKey) -> Result<Self, EnvelopeError> {
        let aead = Aes256Gcm::new(&key).map_err(EnvelopeError::Crypto)?;
        drop(key);
        Ok(Self {
            aead,
            nonce: FrameNonce::default(),
        })
    }

    /// The expanded frame key, for sealing or opening frames out of order (in place, on
    /// several threads) with [`frame_nonce`].
    pub(crate) fn aead(&self) -> &Aes256Gcm {
        &self.aead
    }

    /// The header tag over `aad` (the prefix and CBOR header).
    pub(crate) fn header_tag(&self, aad: &[u8]) -> Result<[u8; TAG_LEN], EnvelopeError> {
        self.aead
            .seal_slice(&FrameNonce::header(), aad, &mut [])
            .map_err(EnvelopeError::Crypto)
    }

    /// Checks the header tag over `aad` (the bytes as read: nothing is re-encoded).
    pub(crate) fn verify_header(
        &self,
        aad: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), EnvelopeError> {
        // An empty ciphertext and its tag, opened on the stack.
        let mut t = *tag;
        match self.aead.open_slice(&FrameNonce::header(), aad, &mut t) {
            Ok(0) => Ok(()),
            _ => Err(EnvelopeError::Authentication),
        }
    }

    /// Seals `buf` (one frame's plaintext) in place, appending the tag, and moves to the next
    /// frame.
    pub(crate) fn seal(&mut self, buf: &mut Vec<u8>, last: bool) -> Result<(), EnvelopeError> {
        self.aead
            .seal_in_place(&self.nonce.nonce(last), &[], buf)
            .map_err(EnvelopeError::Crypto)?;
        if !last {
            self.nonce.advance()?;
        }
        Ok(())
    }

    /// Seals `plaintext` as the next frame, appending ciphertext and tag to `out`.
    pub(crate) fn seal_append(
        &mut self,
        plaintext: &[u8],
        out: &mut Vec<u8>,
        last: bool,
    ) -> Result<(), EnvelopeError> {
        self.aead
            .seal_append(&self.nonce.nonce(last), &[], plaintext, out)
            .map_err(EnvelopeError::Crypto)?;
        if !last {
            self.nonce.advance()?;
        }
        Ok(())
    }

    /// Opens `buf` (one frame's ciphertext and tag) in place; on failure `buf` is wiped.
    pub(crate) fn open(&mut self, buf: &mut Vec<u8>, last: bool) -> Result<(), EnvelopeError> {
        self.aead
            .open_in_place(&self.nonce.nonce(last), &[], buf)
            .map_err(|_| EnvelopeError::Authentication)?;
        if !last {
            self.nonce.advance()?;
        }
        Ok(())
    }

    /// The sequence number of the next frame.
    pub(crate) fn frames_done(&self) -> u64 {
        self.nonce.counter()
    }
}

/// Makes sure `buf` can hold `cap` bytes without reallocating in place: a larger buffer is a new
/// allocation and the old one is wiped as it is dropped, so no plaintext is left in freed memory.
pub(crate) fn reserve_zeroizing(buf: &mut Zeroizing<Vec<u8>>, cap: usize) {
    if buf.capacity() < cap {
        let mut fresh = Zeroizing::new(Vec::with_capacity(cap));
        fresh.extend_from_slice(buf);
        std::mem::swap(buf, &mut fresh);
    }
}

/// Encrypts a stream into an envelope message, one frame at a time, in constant memory.
///
/// Created with [`EncryptingWriter::new`], which writes the header at once. Plaintext is
/// buffered until a frame is full; a full frame is sealed and written when more data arrives or
/// at [`finish`](Self::finish), which writes the final frame. A writer dropped without `finish`
/// never leaves a valid message behind: it lacks its final frame, and readers refuse it.
///
/// `flush` flushes the inner writer but cannot flush a partial frame.
pub struct EncryptingWriter<W: Write> {
    inner: W,
    header: Header,
    cipher: FrameCipher,
    buf: Zeroizing<Vec<u8>>,
    frame_len: usize,
    declared_len: Option<u64>,
    written: u64,
    poisoned: bool,
}

impl<W: Write> EncryptingWriter<W> {
    /// Starts a message to `inner`: gets a data key from `provider` under `key_ids` (the first
    /// generates it, every further one wraps it too) bound to `context`, and writes the header.
    pub fn new(
        provider: &dyn DataKeyProvider,
        key_ids: &[&str],
        context: &EncryptionContext,
        options: &EncryptOptions,
        mut inner: W,
    ) -> Result<Self, EnvelopeError> {
        let mut bytes = Vec::new();
        let sealed = message::seal_header(
            provider,
            key_ids,
            context,
            options,
            options.plaintext_len,
            &mut bytes,
        )?;
        inner.write_all(&bytes)?;
        let header = sealed.header(context);
        let SealedHeader { cipher, .. } = sealed;
        let frame_len = header.frame_len as usize;
        Ok(Self {
            inner,
            header,
            cipher,
            buf: Zeroizing::new(Vec::with_capacity(frame_len.saturating_add(TAG_LEN))),
            frame_len,
            declared_len: options.plaintext_len,
            written: 0,
            poisoned: false,
        })
    }

    /// The message header (already written).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Seals and writes the frame in `buf`.
    fn emit(&mut self, last: bool) -> Result<(), EnvelopeError> {
        let len = self.buf.len();
        self.cipher.seal(&mut self.buf, last)?;
        if last {
            let n = u32::try_from(len).map_err(|_| malformed(Malformed::FinalFrameLength))?;
            let mut head = [FRAME_FINAL, 0, 0, 0, 0];
            head[1..].copy_from_slice(&n.to_be_bytes());
            self.inner.write_all(&head)?;
        } else {
            self.inner.write_all(&[FRAME_REGULAR])?;
        }
        self.inner.write_all(&self.buf)?;
        // Ciphertext only: no need to wipe, clearing keeps the allocation.
        self.buf.clear();
        Ok(())
    }

    fn write_inner(&mut self, mut data: &[u8]) -> Result<(), EnvelopeError> {
        let total =
            self.written
                .checked_add(data.len() as u64)
                .ok_or(EnvelopeError::LimitExceeded {
                    limit: Limit::PlaintextLength,
                    max: u64::MAX,
                    found: u64::MAX,
                })?;
        if let Some(max) = self.declared_len {
            if total > max {
                return Err(EnvelopeError::LimitExceeded {
                    limit: Limit::PlaintextLength,
                    max,
                    found: total,
                });
            }
        }
        while !data.is_empty() {
            if self.buf.len() == self.frame_len {
                // More data follows a full frame: it is not the last one.
                self.emit(false)?;
            }
            let room = self.frame_len.saturating_sub(self.buf.len());
            let (now, later) = data.split_at(room.min(data.len()));
            self.buf.extend_from_slice(now);
            data = later;
        }
        self.written = total;
        Ok(())
    }

    /// Writes the final frame, flushes, and returns the inner writer.
    pub fn finish(mut self) -> Result<W, EnvelopeError> {
        if self.poisoned {
            return Err(EnvelopeError::Poisoned);
        }
        self.emit(true)?;
        self.inner.flush()?;
        let Self { inner, .. } = self;
        Ok(inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.poisoned {
            return Err(EnvelopeError::Poisoned.into());
        }
        match self.write_inner(data) {
            Ok(()) => Ok(data.len()),
            Err(e) => {
                self.poisoned = true;
                Err(e.into())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptingWriter")
            .field("header", &self.header)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ReadState {
    Frames,
    Done,
    Failed,
}

/// Decrypts an envelope message from a stream, one frame at a time, in constant memory.
///
/// [`DecryptingReader::new`] reads the header, unwraps the data key, checks the key commitment
/// and the header tag; only then does it return. Each frame is authenticated before any of its
/// plaintext is released.
///
/// What a caller may trust before the end: every byte returned so far is authentic plaintext of
/// this message, in order, with nothing missing between. What it may *not* trust until `read`
/// returns `Ok(0)`: that the message is complete. A stream cut after a frame boundary yields
/// authentic but partial plaintext and then an error ([`EnvelopeError::Truncated`], as an
/// `io::Error` of kind `UnexpectedEof`); `Ok(0)` comes only after the final frame authenticated and
/// the inner reader proved empty. Callers who must not act on partial data should buffer or stage
/// it until `Ok(0)`.
pub struct DecryptingReader<R: Read> {
    inner: R,
    header: Header,
    cipher: FrameCipher,
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    frame_len: usize,
    max_frames: u64,
    state: ReadState,
}

impl<R: Read> DecryptingReader<R> {
    /// Reads and authenticates the header of a message from `inner`.
    pub fn new(
        provider: &dyn DataKeyProvider,
        mut inner: R,
        options: &DecryptOptions,
    ) -> Result<Self, EnvelopeError> {
        let OpenedHeader { header, cipher } = message::open_header(provider, &mut inner, options)?;
        let frame_len = header.frame_len as usize;
        Ok(Self {
            inner,
            header,
            cipher,
            buf: Zeroizing::new(Vec::new()),
            pos: 0,
            frame_len,
            max_frames: options.limits.max_frames.min(MAX_FRAMES),
            state: ReadState::Frames,
        })
    }

    /// The authenticated header: the encryption context, the wrapped keys, the frame length.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads, authenticates and decrypts the next frame into `buf`. Returns `false` after the
    /// final frame.
    fn next_frame(&mut self) -> Result<bool, EnvelopeError> {
        match self.state {
            ReadState::Done => return Ok(false),
            ReadState::Failed => return Err(EnvelopeError::Poisoned),
            ReadState::Frames => {}
        }
        // The previous frame's plaintext stays in `buf` until it is overwritten below (or wiped on
        // failure or drop): wiping 64 KiB per frame would cost more than the copy.
        self.pos = 0;
        let seq = self.cipher.frames_done();
        if seq >= self.max_frames {
            return Err(EnvelopeError::LimitExceeded {
                limit: Limit::FrameCount,
                max: self.max_frames,
                found: seq.saturating_add(1),
            });
        }
        let mut ty = [0u8; 1];
        read_exact(&mut self.inner, &mut ty)?;
        let (last, len) = match ty {
            [FRAME_REGULAR] => (false, self.frame_len),
            [FRAME_FINAL] => {
                let mut l = [0u8; 4];
                read_exact(&mut self.inner, &mut l)?;
                let len = u32::from_be_bytes(l) as usize;
                if len > self.frame_len {
                    return Err(malformed(Malformed::FinalFrameLength));
                }
                (true, len)
            }
            [other] => return Err(malformed(Malformed::FrameType(other))),
        };
        let sealed = len.saturating_add(TAG_LEN);
        reserve_zeroizing(&mut self.buf, sealed);
        // After the first regular frame this only fills the tag's 16 bytes: the buffer keeps
        // the previous frame's length.
        self.buf.resize(sealed, 0);
        read_exact(&mut self.inner, &mut self.buf)?;
        self.cipher.open(&mut self.buf, last)?;
        if last {
            // Nothing may follow the final frame; check before releasing it.
            let mut probe = [0u8; 1];
            loop {
                match self.inner.read(&mut probe) {
                    Ok(0) => break,
                    Ok(_) => return Err(EnvelopeError::TrailingData),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.state = ReadState::Done;
        }
        Ok(true)
    }

    fn fail(&mut self) {
        self.state = ReadState::Failed;
        self.buf.zeroize();
        self.buf.clear();
        self.pos = 0;
    }
}

fn read_exact<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), EnvelopeError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            EnvelopeError::Truncated
        } else {
            EnvelopeError::from(e)
        }
    })
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos >= self.buf.len() {
            match self.next_frame() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => {
                    self.fail();
                    return Err(e.into());
                }
            }
        }
        let avail = self.buf.get(self.pos..).unwrap_or_default();
        let n = avail.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos = self.pos.saturating_add(n);
        Ok(n)
    }
}

impl<R: Read> fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptingReader")
            .field("header", &self.header)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_distinct_per_use() {
        let h = FrameNonce::header();
        let f0 = FrameNonce(0).nonce(false);
        let l0 = FrameNonce(0).nonce(true);
        assert_ne!(h, f0);
        assert_ne!(h, l0);
        assert_ne!(f0, l0);
        assert_eq!(
            FrameNonce(0x0102_0304_0506_0708).nonce(true).as_bytes(),
            &[0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1]
        );
        assert_eq!(h.as_bytes(), &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn counter_stops_at_the_frame_limit() {
        let mut n = FrameNonce(MAX_FRAMES - 2);
        assert!(n.advance().is_ok());
        assert!(n.advance().is_err());
    }

    #[test]
    fn reserve_keeps_contents() {
        let mut b = Zeroizing::new(vec![1u8, 2, 3]);
        reserve_zeroizing(&mut b, 100);
        assert!(b.capacity() >= 100);
        assert_eq!(&b[..], &[1, 2, 3]);
    }
}
