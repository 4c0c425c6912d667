//! Whole messages encrypted and decrypted in the caller's own buffer, on one thread or several.
//!
//! The streaming writer copies every byte into a frame buffer before sealing it, because
//! `io::Write` only lends its bytes. When the whole plaintext is already in memory, nothing needs
//! copying: [`encrypt_in_place`] seals each frame where it lies and keeps the framing (the type
//! byte, the final frame's length, the tags) beside it, in [`SealedInPlace`], which writes the
//! message out (header, then each frame's framing, ciphertext and tag: byte for byte what
//! [`EncryptingWriter`](crate::EncryptingWriter) writes). [`decrypt_in_place`] opens a message
//! where it lies and hands back the plaintext frames as slices of it ([`OpenedInPlace`]).
//!
//! Frames are independent under the message's frame key (each has its own nonce: its sequence
//! number and the final flag), so both functions can spread them over threads
//! ([`EncryptOptions::with_threads`], [`DecryptOptions::with_threads`]); the format, the
//! ordering of frames and the truncation guarantees are the same on any number of threads,
//! because a frame's nonce, not the order in which it was processed, binds it to its place.

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::ops::Range;

use coffer_core::EncryptionContext;
use coffer_crypto::aead::TAG_LEN;

use crate::error::{InvalidArgument, Limit, Malformed};
use crate::header::{malformed, MAX_FRAMES};
use crate::message::{self, DecryptOptions, EncryptOptions, OpenedHeader, SealedHeader};
use crate::stream::{frame_nonce, FRAME_FINAL, FRAME_REGULAR};
use crate::{DataKeyProvider, EnvelopeError, Header};

/// Fewer frames than this per thread are not worth a thread: below it a message is sealed on
/// the calling thread alone.
const MIN_FRAMES_PER_THREAD: usize = 4;

/// How many threads to use for `frames` frames when the caller allows `allowed` (0: one per
/// available core).
pub(crate) fn threads_for(allowed: usize, frames: usize) -> usize {
    let allowed = match allowed {
        0 => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        n => n,
    };
    allowed.min(frames / MIN_FRAMES_PER_THREAD).max(1)
}

/// Work on a run of frames: the index of its first frame, and the frames.
type FrameWork<'w, T> = dyn Fn(usize, &mut [T]) -> Result<(), EnvelopeError> + Sync + 'w;

/// Runs `work(first_frame_index, items)` over `items` split into `threads` contiguous runs, on
/// the calling thread and `threads - 1` scoped threads; the first error wins.
fn split_work<T: Send>(
    items: &mut [T],
    threads: usize,
    work: &FrameWork<'_, T>,
) -> Result<(), EnvelopeError> {
    if threads <= 1 || items.len() < 2 {
        return work(0, items);
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut runs = items.chunks_mut(per).enumerate();
        let first = runs.next();
        let handles: Vec<_> = runs
            .map(|(i, run)| scope.spawn(move || work(i * per, run)))
            .collect();
        let mut result = match first {
            Some((_, run)) => work(0, run),
            None => Ok(()),
        };
        for h in handles {
            let r = h
                .join()
                .unwrap_or(Err(EnvelopeError::Crypto(coffer_crypto::CryptoError)));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

/// A message whose frames were sealed in the caller's buffer: the header and each frame's
/// framing and tag, to be interleaved with the buffer's ciphertext when written out.
pub struct SealedInPlace {
    header_bytes: Vec<u8>,
    header: Header,
    frame_len: usize,
    body_len: usize,
    tags: Vec<[u8; TAG_LEN]>,
}

impl SealedInPlace {
    /// The message's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The length of the whole message in bytes.
    pub fn message_len(&self) -> u64 {
        let frames = self.tags.len() as u64;
        // Each regular frame adds its type byte and tag; the final one also its 4-byte length.
        (self.header_bytes.len() as u64)
            .saturating_add(self.body_len as u64)
            .saturating_add(frames.saturating_mul((1 + TAG_LEN) as u64))
            .saturating_add(4)
    }

    /// The frames as (type bytes, ciphertext range, tag), in order.
    fn frames(&self) -> impl Iterator<Item = (FrameHead, Range<usize>, &[u8; TAG_LEN])> {
        let last = self.tags.len().saturating_sub(1);
        self.tags.iter().enumerate().map(move |(i, tag)| {
            let start = i.saturating_mul(self.frame_len);
            let end = start.saturating_add(self.frame_len).min(self.body_len);
            let head = if i == last {
                FrameHead::last(end.saturating_sub(start))
            } else {
                FrameHead::regular()
            };
            (head, start..end, tag)
        })
    }

    fn check(&self, body: &[u8]) -> Result<(), EnvelopeError> {
        if body.len() == self.body_len {
            Ok(())
        } else {
            Err(EnvelopeError::InvalidArgument(InvalidArgument::BodyLength))
        }
    }

    /// Writes the message to `w`: the header, then each frame's framing, its ciphertext from
    /// `body` (the buffer [`encrypt_in_place`] sealed) and its tag. Many small writes: give a
    /// buffered writer.
    pub fn write_to<W: Write>(&self, body: &[u8], w: &mut W) -> Result<(), EnvelopeError> {
        self.check(body)?;
        w.write_all(&self.header_bytes)?;
        for (head, range, tag) in self.frames() {
            w.write_all(head.bytes())?;
            w.write_all(body.get(range).unwrap_or_default())?;
            w.write_all(tag)?;
        }
        Ok(())
    }

    /// The whole message as one buffer (a copy of `body`'s ciphertext with the framing).
    pub fn to_vec(&self, body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        self.check(body)?;
        let mut out = Vec::with_capacity(usize::try_from(self.message_len()).unwrap_or(0));
        self.write_to(body, &mut out)?;
        Ok(out)
    }
}

impl std::fmt::Debug for SealedInPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedInPlace")
            .field("header", &self.header)
            .field("body_len", &self.body_len)
            .field("frames", &self.tags.len())
            .finish()
    }
}

/// A frame's type byte, and for the final frame its big-endian length.
struct FrameHead {
    bytes: [u8; 5],
    len: usize,
}

impl FrameHead {
    fn regular() -> Self {
        Self {
            bytes: [FRAME_REGULAR, 0, 0, 0, 0],
            len: 1,
        }
    }

    fn last(plaintext_len: usize) -> Self {
        let mut bytes = [FRAME_FINAL, 0, 0, 0, 0];
        // Frames are at most MAX_FRAME_LEN (< 2^32) long.
        let n = u32::try_from(plaintext_len).unwrap_or(u32::MAX);
        bytes[1..].copy_from_slice(&n.to_be_bytes());
        Self { bytes, len: 5 }
    }

    fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// Encrypts `body` in place into a message under `key_ids` bound to `context`: afterwards
/// `body` holds the frames' ciphertext, and the returned [`SealedInPlace`] writes the message.
/// On an error `body` may be partly encrypted: treat it as lost, never as plaintext or
/// ciphertext.
///
/// The message is byte for byte what [`encrypt`](crate::encrypt) and the streaming writer
/// produce with the same options and randomness, whatever
/// [`EncryptOptions::with_threads`] says.
pub fn encrypt_in_place(
    provider: &dyn DataKeyProvider,
    key_ids: &[&str],
    context: &EncryptionContext,
    body: &mut [u8],
    options: &EncryptOptions,
) -> Result<SealedInPlace, EnvelopeError> {
    let mut header_bytes = Vec::new();
    let sealed = message::seal_header(
        provider,
        key_ids,
        context,
        options,
        Some(body.len() as u64),
        &mut header_bytes,
    )?;
    // seal_header checked the frame length (1..=MAX_FRAME_LEN).
    let frame_len = sealed.frame_len as usize;
    let frames = body.len().div_ceil(frame_len).max(1);
    if frames as u64 > MAX_FRAMES {
        return Err(EnvelopeError::LimitExceeded {
            limit: Limit::FrameCount,
            max: MAX_FRAMES,
            found: frames as u64,
        });
    }
    let header = sealed.header(context);
    let SealedHeader { cipher, .. } = sealed;
    let aead = cipher.aead();
    let body_len = body.len();
    let mut work: Vec<(&mut [u8], [u8; TAG_LEN])> = if body.is_empty() {
        vec![(body, [0; TAG_LEN])]
    } else {
        body.chunks_mut(frame_len)
            .map(|c| (c, [0; TAG_LEN]))
            .collect()
    };
    let last = frames - 1;
    let seal = |first: usize, run: &mut [(&mut [u8], [u8; TAG_LEN])]| {
        for (i, (frame, tag)) in run.iter_mut().enumerate() {
            let seq = first.saturating_add(i);
            *tag = seal_frame(aead, seq, seq == last, frame)?;
        }
        Ok(())
    };
    split_work(&mut work, threads_for(options.threads, frames), &seal)?;
    let tags = work.into_iter().map(|(_, tag)| tag).collect();
    Ok(SealedInPlace {
        header_bytes,
        header,
        frame_len,
        body_len,
        tags,
    })
}

fn seal_frame(
    aead: &coffer_crypto::aead::Aes256Gcm,
    seq: usize,
    last: bool,
    frame: &mut [u8],
) -> Result<[u8; TAG_LEN], EnvelopeError> {
    aead.seal_slice(&frame_nonce(seq as u64, last), &[], frame)
        .map_err(EnvelopeError::Crypto)
}

/// A message opened in place: its authenticated header, and its plaintext as one slice per
/// frame of the caller's buffer (between them lie the framing bytes, now meaningless).
///
/// The plaintext stays in the caller's buffer when this is dropped: wiping it is the caller's
/// to decide.
pub struct OpenedInPlace<'a> {
    header: Header,
    buf: &'a mut [u8],
    frames: Vec<Range<usize>>,
}

impl<'a> OpenedInPlace<'a> {
    /// The authenticated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The encryption context the message was bound to.
    pub fn context(&self) -> &EncryptionContext {
        &self.header.context
    }

    /// The plaintext's length.
    pub fn plaintext_len(&self) -> usize {
        self.frames.iter().map(ExactSizeIterator::len).sum()
    }

    /// The plaintext, frame by frame, in order.
    pub fn frames(&self) -> impl Iterator<Item = &[u8]> {
        self.frames
            .iter()
            .map(|r| self.buf.get(r.clone()).unwrap_or_default())
    }

    /// Writes the plaintext to `w`, frame by frame.
    pub fn write_to<W: Write>(&self, w: &mut W) -> io::Result<()> {
        self.frames().try_for_each(|f| w.write_all(f))
    }

    /// Moves the plaintext frames together to the start of the buffer (one `memmove` of the
    /// whole plaintext) and returns it as one slice; the rest of the buffer, which held the
    /// framing and the end of the ciphertext, is wiped.
    pub fn into_contiguous(self) -> &'a mut [u8] {
        self.into_header_and_contiguous_slice().1
    }

    /// [`into_contiguous`](Self::into_contiguous), keeping the header; the plaintext's length.
    pub(crate) fn into_header_and_contiguous(self) -> (Header, usize) {
        let (header, plaintext) = self.into_header_and_contiguous_slice();
        (header, plaintext.len())
    }

    fn into_header_and_contiguous_slice(self) -> (Header, &'a mut [u8]) {
        let Self {
            header,
            buf,
            frames,
        } = self;
        let mut at = 0usize;
        for r in frames {
            let n = r.len();
            buf.copy_within(r, at);
            at = at.saturating_add(n);
        }
        let (plaintext, rest) = buf.split_at_mut(at.min(buf.len()));
        coffer_crypto::wipe(rest);
        (header, plaintext)
    }
}

impl std::fmt::Debug for OpenedInPlace<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedInPlace")
            .field("header", &self.header)
            .field("frames", &self.frames.len())
            .field("plaintext", &"[redacted]")
            .finish()
    }
}

/// Decrypts the message in `message` in place: the header is read and authenticated (the data
/// key unwrapped, the commitment and header tag checked), the frame structure checked whole
/// (every frame present, the final one last, nothing after it: else
/// [`EnvelopeError::Truncated`], [`EnvelopeError::TrailingData`] or a malformed frame), then
/// every frame opened where it lies. Nothing is returned unless every frame authenticated; on
/// any failure the whole body is wiped, so no unauthenticated or partial plaintext remains in
/// the buffer.
pub fn decrypt_in_place<'a>(
    provider: &dyn DataKeyProvider,
    message: &'a mut [u8],
    options: &DecryptOptions,
) -> Result<OpenedInPlace<'a>, EnvelopeError> {
    let mut cursor: &[u8] = message;
    let OpenedHeader { header, cipher } = message::open_header(provider, &mut cursor, options)?;
    let body_start = message.len().saturating_sub(cursor.len());
    let max_frames = options.limits.max_frames.min(MAX_FRAMES);
    let layout = frame_layout(
        message.get(body_start..).unwrap_or_default(),
        header.frame_len as usize,
        max_frames,
    )?;
    let body = message.get_mut(body_start..).unwrap_or_default();
    let aead = cipher.aead();
    // Each frame's ciphertext-and-tag as its own slice of the body, with its plaintext length.
    let mut work: Vec<(&mut [u8], usize)> = Vec::with_capacity(layout.len());
    let mut rest: &mut [u8] = &mut *body;
    let mut consumed = 0usize;
    for f in &layout {
        let (_, tail) = rest.split_at_mut(f.sealed.start.saturating_sub(consumed));
        let (sealed, tail) = tail.split_at_mut(f.sealed.len());
        consumed = f.sealed.end;
        work.push((sealed, 0));
        rest = tail;
    }
    let last = layout.len().saturating_sub(1);
    let open = |first: usize, run: &mut [(&mut [u8], usize)]| {
        for (i, (sealed, len)) in run.iter_mut().enumerate() {
            let seq = first.saturating_add(i);
            *len = aead
                .open_slice(&frame_nonce(seq as u64, seq == last), &[], sealed)
                .map_err(|_| EnvelopeError::Authentication)?;
        }
        Ok(())
    };
    let threads = threads_for(options.threads, layout.len());
    if let Err(e) = split_work(&mut work, threads, &open) {
        drop(work);
        coffer_crypto::wipe(body);
        return Err(e);
    }
    drop(work);
    let frames = layout
        .iter()
        .map(|f| {
            let start = body_start.saturating_add(f.sealed.start);
            start..start.saturating_add(f.sealed.len().saturating_sub(TAG_LEN))
        })
        .collect();
    Ok(OpenedInPlace {
        header,
        buf: message,
        frames,
    })
}

/// Where one frame's ciphertext-and-tag lies in the body.
struct FrameAt {
    sealed: Range<usize>,
}

/// The frames of `body` (everything after the header), checked whole before any is opened.
fn frame_layout(
    body: &[u8],
    frame_len: usize,
    max_frames: u64,
) -> Result<Vec<FrameAt>, EnvelopeError> {
    let regular = frame_len.saturating_add(1 + TAG_LEN);
    let mut frames = Vec::with_capacity((body.len() / regular.max(1)).saturating_add(1));
    walk_frames(body, frame_len, max_frames, |_, sealed, _| {
        frames.push(FrameAt { sealed });
        Ok(())
    })?;
    Ok(frames)
}

/// Walks the frames of `body` (everything after the header) in order, calling
/// `each(sequence number, where the frame's ciphertext-and-tag lies in body, whether it is the
/// final frame)`. Fails (and stops) at the first structural fault: a truncated frame or a
/// missing final frame ([`EnvelopeError::Truncated`]), an unknown type byte, a final frame
/// longer than `frame_len`, more than `max_frames` frames, or bytes after the final frame
/// ([`EnvelopeError::TrailingData`], decided before `each` sees the final frame), or at
/// `each`'s first error. `each` sees frame *i* only once frames 0..*i* were well formed: a
/// caller that must know the whole structure is sound before acting walks it twice.
pub(crate) fn walk_frames(
    body: &[u8],
    frame_len: usize,
    max_frames: u64,
    mut each: impl FnMut(u64, Range<usize>, bool) -> Result<(), EnvelopeError>,
) -> Result<(), EnvelopeError> {
    let mut at = 0usize;
    let mut seq = 0u64;
    loop {
        if seq >= max_frames {
            return Err(EnvelopeError::LimitExceeded {
                limit: Limit::FrameCount,
                max: max_frames,
                found: seq.saturating_add(1),
            });
        }
        let (ct_start, ct_len, last) = match body.get(at) {
            None => return Err(EnvelopeError::Truncated),
            Some(&FRAME_REGULAR) => (at.saturating_add(1), frame_len, false),
            Some(&FRAME_FINAL) => {
                let l = body
                    .get(at.saturating_add(1)..at.saturating_add(5))
                    .ok_or(EnvelopeError::Truncated)?;
                let len = u32::from_be_bytes(
                    <[u8; 4]>::try_from(l).map_err(|_| EnvelopeError::Truncated)?,
                ) as usize;
                if len > frame_len {
                    return Err(malformed(Malformed::FinalFrameLength));
                }
                (at.saturating_add(5), len, true)
            }
            Some(&other) => return Err(malformed(Malformed::FrameType(other))),
        };
        let end = ct_start.saturating_add(ct_len).saturating_add(TAG_LEN);
        if end > body.len() {
            return Err(EnvelopeError::Truncated);
        }
        if last && end != body.len() {
            return Err(EnvelopeError::TrailingData);
        }
        each(seq, ct_start..end, last)?;
        if last {
            return Ok(());
        }
        at = end;
        seq = seq.saturating_add(1);
    }
}
