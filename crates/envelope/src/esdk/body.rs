//! The header tag and the body: framed and non-framed.
//!
//! Regular frame: sequence number (4) ‖ IV (12) ‖ ciphertext (frame length) ‖ tag (16).
//! Final frame: 0xFFFFFFFF (4) ‖ sequence number (4) ‖ IV (12) ‖ content length (4) ‖
//! ciphertext ‖ tag (16). Non-framed: IV (12) ‖ content length (8) ‖ ciphertext ‖ tag (16).
//! Every IV is eight zero bytes and the sequence number (1 for a non-framed body); the header
//! tag's IV is all zeros. Body AAD: message id ‖ content string ‖ sequence number (4) ‖ content
//! length (8).

use coffer_crypto::aead::{Aes256Gcm, Nonce};
use coffer_crypto::SecretBytes;

use super::error::{EsdkError, EsdkMalformed};
use super::header::{ContentType, EsdkHeader, ESDK_IV_LEN, ESDK_TAG_LEN};
use super::{Cursor, ESDK_MAX_FRAMES, ESDK_MAX_NON_FRAMED_LEN};

/// The end-of-sequence marker that opens the final frame.
pub(crate) const FINAL_FRAME_MARKER: u32 = u32::MAX;
const FRAME_LABEL: &[u8] = b"AWSKMSEncryptionClient Frame";
const FINAL_FRAME_LABEL: &[u8] = b"AWSKMSEncryptionClient Final Frame";
const SINGLE_BLOCK_LABEL: &[u8] = b"AWSKMSEncryptionClient Single Block";

/// The deterministic IV of sequence number `seq` (0 for the header tag).
pub(crate) fn frame_iv(seq: u32) -> [u8; ESDK_IV_LEN] {
    let mut iv = [0u8; ESDK_IV_LEN];
    iv[ESDK_IV_LEN - 4..].copy_from_slice(&seq.to_be_bytes());
    iv
}

fn body_aad(message_id: &[u8], label: &[u8], seq: u32, len: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(message_id.len() + label.len() + 12);
    aad.extend_from_slice(message_id);
    aad.extend_from_slice(label);
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(&len.to_be_bytes());
    aad
}

/// Verifies the header tag: AES-GCM over no plaintext, a zero IV, and as AAD the header body
/// followed by the serialized unstored context (empty unless the encrypter kept pairs out of
/// the message).
pub(crate) fn check_header_tag(
    cipher: &Aes256Gcm,
    header: &[u8],
    unstored: &[u8],
    tag: &[u8; ESDK_TAG_LEN],
) -> Result<(), EsdkError> {
    let mut aad = Vec::with_capacity(header.len() + unstored.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(unstored);
    cipher
        .open(&Nonce::from_bytes(frame_iv(0)), &aad, tag)
        .map(drop)
        .map_err(|_| EsdkError::HeaderAuthentication)
}

/// Appends the header tag of the header body `out` (see [`check_header_tag`]).
pub(crate) fn seal_header_tag(
    cipher: &Aes256Gcm,
    unstored: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EsdkError> {
    let mut aad = Vec::with_capacity(out.len() + unstored.len());
    aad.extend_from_slice(out);
    aad.extend_from_slice(unstored);
    let tag = cipher
        .seal_slice(&Nonce::from_bytes(frame_iv(0)), &aad, &mut [])
        .map_err(|_| EsdkError::Crypto)?;
    out.extend_from_slice(&tag);
    Ok(())
}

fn open_into(
    cipher: &Aes256Gcm,
    seq: u32,
    aad: &[u8],
    ct_and_tag: &[u8],
    out: &mut SecretBytes,
) -> Result<(), EsdkError> {
    let pt = cipher
        .open(&Nonce::from_bytes(frame_iv(seq)), aad, ct_and_tag)
        .map_err(|_| EsdkError::BodyAuthentication { sequence: seq })?;
    out.extend_from_slice(pt.expose());
    Ok(())
}

/// Which body AAD content string a ciphertext is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular frame.
    Regular,
    /// The final frame.
    Final,
    /// A non-framed body.
    Single,
}

/// Authenticates and decrypts one frame (or a non-framed body) of content length `len`.
pub(crate) fn open_frame(
    cipher: &Aes256Gcm,
    message_id: &[u8],
    kind: Kind,
    seq: u32,
    len: u64,
    ct_and_tag: &[u8],
) -> Result<SecretBytes, EsdkError> {
    let label = match kind {
        Kind::Regular => FRAME_LABEL,
        Kind::Final => FINAL_FRAME_LABEL,
        Kind::Single => SINGLE_BLOCK_LABEL,
    };
    let aad = body_aad(message_id, label, seq, len);
    cipher
        .open(&Nonce::from_bytes(frame_iv(seq)), &aad, ct_and_tag)
        .map_err(|_| EsdkError::BodyAuthentication { sequence: seq })
}

fn check_iv(c: &mut Cursor<'_>, seq: u32) -> Result<(), EsdkError> {
    if c.array::<ESDK_IV_LEN>()? != frame_iv(seq) {
        return Err(EsdkMalformed::Iv.into());
    }
    Ok(())
}

/// Decrypts the body that starts at `c`, leaving `c` after it. Each frame is authenticated before
/// its plaintext is appended; the caller releases nothing before the whole body (and the
/// signature) verified.
pub(crate) fn decrypt_body(
    c: &mut Cursor<'_>,
    header: &EsdkHeader,
    cipher: &Aes256Gcm,
) -> Result<SecretBytes, EsdkError> {
    let mut out = SecretBytes::new(Vec::new());
    match header.content_type {
        ContentType::NonFramed => {
            check_iv(c, 1)?;
            let len = c.u64()?;
            if len > ESDK_MAX_NON_FRAMED_LEN {
                return Err(EsdkError::LimitExceeded {
                    what: "non-framed content length",
                    max: ESDK_MAX_NON_FRAMED_LEN,
                    found: len,
                });
            }
            let len_usize = usize::try_from(len).map_err(|_| EsdkError::Truncated)?;
            let ct = c.take(
                len_usize
                    .checked_add(ESDK_TAG_LEN)
                    .ok_or(EsdkError::Truncated)?,
            )?;
            let aad = body_aad(&header.message_id, SINGLE_BLOCK_LABEL, 1, len);
            open_into(cipher, 1, &aad, ct, &mut out)?;
        }
        ContentType::Framed => {
            let frame_len = header.frame_len;
            let mut seq: u32 = 1;
            loop {
                let first = c.u32()?;
                if first == FINAL_FRAME_MARKER {
                    let found = c.u32()?;
                    if found != seq {
                        return Err(EsdkMalformed::SequenceNumber {
                            expected: seq,
                            found,
                        }
                        .into());
                    }
                    check_iv(c, seq)?;
                    let len = c.u32()?;
                    if len > frame_len {
                        return Err(EsdkMalformed::FinalFrameLength.into());
                    }
                    let ct = c.take(len as usize + ESDK_TAG_LEN)?;
                    let aad = body_aad(&header.message_id, FINAL_FRAME_LABEL, seq, len.into());
                    open_into(cipher, seq, &aad, ct, &mut out)?;
                    break;
                }
                if first != seq {
                    return Err(EsdkMalformed::SequenceNumber {
                        expected: seq,
                        found: first,
                    }
                    .into());
                }
                check_iv(c, seq)?;
                let ct = c.take(frame_len as usize + ESDK_TAG_LEN)?;
                let aad = body_aad(&header.message_id, FRAME_LABEL, seq, frame_len.into());
                open_into(cipher, seq, &aad, ct, &mut out)?;
                // A regular frame can never be number 2^32 - 1: that is the final-frame marker.
                seq = seq.checked_add(1).ok_or(EsdkError::LimitExceeded {
                    what: "number of frames",
                    max: u64::from(ESDK_MAX_FRAMES),
                    found: u64::from(ESDK_MAX_FRAMES) + 1,
                })?;
            }
        }
    }
    Ok(out)
}

/// Appends the framed body of `plaintext`: full regular frames, then a final frame with the
/// rest (between 1 and the frame length bytes; 0 only for an empty plaintext).
pub(crate) fn encrypt_framed(
    cipher: &Aes256Gcm,
    header: &EsdkHeader,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EsdkError> {
    let frame_len = header.frame_len as usize;
    let frames = plaintext.len().div_ceil(frame_len).max(1);
    if frames as u64 > u64::from(ESDK_MAX_FRAMES) {
        return Err(EsdkError::LimitExceeded {
            what: "number of frames",
            max: u64::from(ESDK_MAX_FRAMES),
            found: frames as u64,
        });
    }
    out.reserve(plaintext.len() + frames * (4 + ESDK_IV_LEN + ESDK_TAG_LEN) + 8);
    let mut chunks = plaintext.chunks(frame_len);
    for i in 1..=frames {
        let seq = u32::try_from(i).map_err(|_| EsdkError::Crypto)?;
        let chunk = chunks.next().unwrap_or(&[]);
        let final_frame = i == frames;
        let aad = if final_frame {
            out.extend_from_slice(&FINAL_FRAME_MARKER.to_be_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&frame_iv(seq));
            let len = u32::try_from(chunk.len()).map_err(|_| EsdkError::Crypto)?;
            out.extend_from_slice(&len.to_be_bytes());
            body_aad(&header.message_id, FINAL_FRAME_LABEL, seq, len.into())
        } else {
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&frame_iv(seq));
            body_aad(&header.message_id, FRAME_LABEL, seq, chunk.len() as u64)
        };
        cipher
            .seal_append(&Nonce::from_bytes(frame_iv(seq)), &aad, chunk, out)
            .map_err(|_| EsdkError::Crypto)?;
    }
    Ok(())
}

/// Appends a non-framed body: IV of sequence number 1, content length (8), ciphertext, tag.
pub(crate) fn encrypt_non_framed(
    cipher: &Aes256Gcm,
    header: &EsdkHeader,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EsdkError> {
    let len = plaintext.len() as u64;
    out.reserve(plaintext.len() + ESDK_IV_LEN + 8 + ESDK_TAG_LEN);
    out.extend_from_slice(&frame_iv(1));
    out.extend_from_slice(&len.to_be_bytes());
    let aad = body_aad(&header.message_id, SINGLE_BLOCK_LABEL, 1, len);
    cipher
        .seal_append(&Nonce::from_bytes(frame_iv(1)), &aad, plaintext, out)
        .map_err(|_| EsdkError::Crypto)
}
