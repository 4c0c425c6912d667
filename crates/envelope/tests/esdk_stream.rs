//! Streaming decryption of ESDK messages (`EsdkDecryptingReader`): every committed message (by
//! the Python ESDK and by coffer) streams to its plaintext through tiny reads; truncation,
//! trailing bytes, reordering and a forged signature are errors from `read`; a signed message's
//! final frame is withheld until the signature verified.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{self, Read};
use std::path::PathBuf;

use coffer_crypto::SymmetricKey;
use coffer_envelope::esdk::{
    EsdkDecryptOptions, EsdkDecryptingReader, EsdkError, EsdkMalformed, RawAesKeyring,
};

/// `*unstored*` vectors were written with `tenant=unstored` authenticated but not stored.
fn opts_for(name: &str) -> EsdkDecryptOptions {
    if name.contains("unstored") {
        EsdkDecryptOptions::new()
            .with_unstored_context([("tenant", "unstored")].into_iter().collect())
    } else {
        EsdkDecryptOptions::new()
    }
}

fn key_a() -> RawAesKeyring {
    let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
    RawAesKeyring::new(
        "coffer-esdk-vectors",
        "key-a",
        SymmetricKey::from_bytes(bytes),
    )
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/esdk_vectors")
}

fn vector(name: &str) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(dir().join(format!("{name}.esdk"))).unwrap(),
        std::fs::read(dir().join(format!("{name}.txt"))).unwrap(),
    )
}

/// A reader that hands out at most `step` bytes per call.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn esdk_err(e: &io::Error) -> &EsdkError {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<EsdkError>())
        .unwrap_or_else(|| panic!("not an EsdkError: {e:?}"))
}

/// Streams `message`, reading `chunk` bytes at a time; returns what was released and the
/// outcome.
fn stream(message: &[u8], step: usize, chunk: usize) -> (Vec<u8>, Result<(), EsdkError>) {
    stream_with(message, step, chunk, &EsdkDecryptOptions::new())
}

fn stream_with(
    message: &[u8],
    step: usize,
    chunk: usize,
    options: &EsdkDecryptOptions,
) -> (Vec<u8>, Result<(), EsdkError>) {
    let mut out = Vec::new();
    let mut reader = match EsdkDecryptingReader::new(
        &key_a(),
        Trickle {
            data: message,
            step,
        },
        options,
    ) {
        Ok(r) => r,
        Err(e) => return (out, Err(e)),
    };
    let mut buf = vec![0u8; chunk];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (out, Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                let inner = e
                    .into_inner()
                    .unwrap()
                    .downcast::<EsdkError>()
                    .map(|b| *b)
                    .unwrap();
                return (out, Err(inner));
            }
        }
    }
}

fn names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "esdk"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn every_committed_message_streams_to_its_plaintext() {
    let all = names();
    assert_eq!(all.len(), 21);
    for name in all {
        let (message, plaintext) = vector(&name);
        for (step, chunk) in [(1, 1), (7, 13), (4096, 4096)] {
            let (out, result) = stream_with(&message, step, chunk, &opts_for(&name));
            result.unwrap_or_else(|e| panic!("{name} {step}/{chunk}: {e}"));
            assert_eq!(out, plaintext, "{name}");
        }
    }
}

#[test]
fn truncation_is_an_error_never_a_short_plaintext() {
    for name in [
        "framed_0478",
        "nonframed_0478",
        "framed_0578",
        "coffer_odd_frames_0478",
    ] {
        let (message, _) = vector(name);
        for len in 0..message.len() {
            let (_, result) = stream(&message[..len], 64, 64);
            assert!(
                matches!(result, Err(EsdkError::Truncated)),
                "{name} cut at {len}: {result:?}"
            );
        }
    }
}

#[test]
fn trailing_byte_is_an_error() {
    for name in ["framed_0478", "nonframed_0478", "framed_0578"] {
        let (mut message, _) = vector(name);
        message.push(0);
        assert!(matches!(
            stream(&message, 100, 100).1,
            Err(EsdkError::TrailingData)
        ));
    }
}

#[test]
fn reordered_frames_are_an_error_before_any_plaintext() {
    let (message, _) = vector("framed_0478");
    let (out, _) = stream(&message, 4096, 4096);
    assert_eq!(out.len(), 315);
    // Locate the body: the stream's header length is that of the one-shot parse plus the tag.
    let (h, len) =
        coffer_envelope::esdk::EsdkHeader::parse(&message, &EsdkDecryptOptions::new()).unwrap();
    assert_eq!(h.frame_len, 128);
    let body = len + 16;
    let frame = 4 + 12 + 128 + 16;
    let mut swapped = message[..body].to_vec();
    swapped.extend_from_slice(&message[body + frame..body + 2 * frame]);
    swapped.extend_from_slice(&message[body..body + frame]);
    swapped.extend_from_slice(&message[body + 2 * frame..]);
    let (out, result) = stream(&swapped, 4096, 4096);
    assert!(out.is_empty());
    assert!(matches!(
        result,
        Err(EsdkError::Malformed(EsdkMalformed::SequenceNumber {
            expected: 1,
            found: 2
        }))
    ));
}

#[test]
fn forged_signature_withholds_the_final_frame_and_fails() {
    for name in ["framed_0578", "coffer_framed_0578", "nonframed_0578"] {
        let (mut message, plaintext) = vector(name);
        let last = message.len() - 1;
        message[last] ^= 1;
        let (out, result) = stream(&message, 4096, 4096);
        assert!(
            matches!(result, Err(EsdkError::Signature)),
            "{name}: {result:?}"
        );
        // The ESDK streaming caveat: earlier frames were released; the final frame was not.
        assert!(out.len() < plaintext.len(), "{name}");
        assert_eq!(out, plaintext[..out.len()], "{name}");
        if name == "nonframed_0578" {
            assert!(out.is_empty());
        }
    }
}

#[test]
fn options_and_limits_apply_at_the_header() {
    let (message, _) = vector("framed_0578");
    let err = EsdkDecryptingReader::new(
        &key_a(),
        &message[..],
        &EsdkDecryptOptions::new().unsigned_only(),
    )
    .unwrap_err();
    assert!(matches!(err, EsdkError::UnsupportedSuite(0x0578)));
    let (message, _) = vector("two_keys_0478");
    let err = EsdkDecryptingReader::new(
        &key_a(),
        &message[..],
        &EsdkDecryptOptions::new().with_max_encrypted_data_keys(1),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        EsdkError::LimitExceeded {
            max: 1,
            found: 2,
            ..
        }
    ));
    // A streamed non-framed body is held whole, so it is bounded by the frame-length limit.
    let (message, _) = vector("nonframed_0478");
    let mut reader = EsdkDecryptingReader::new(
        &key_a(),
        &message[..],
        &EsdkDecryptOptions::new().with_max_frame_len(100),
    )
    .unwrap();
    let e = reader.read_to_end(&mut Vec::new()).unwrap_err();
    assert!(matches!(
        esdk_err(&e),
        EsdkError::LimitExceeded {
            max: 100,
            found: 315,
            ..
        }
    ));
    // After an error the reader stays failed.
    let e = reader.read(&mut [0u8; 8]).unwrap_err();
    assert!(matches!(esdk_err(&e), EsdkError::Poisoned));
}

#[test]
fn header_length_limit_applies_before_reading_on() {
    let (message, _) = vector("two_keys_0478");
    let (_, header_len) =
        coffer_envelope::esdk::EsdkHeader::parse(&message, &EsdkDecryptOptions::new()).unwrap();
    let tight = EsdkDecryptOptions::new().with_max_header_len(header_len - 1);
    let err = EsdkDecryptingReader::new(&key_a(), &message[..], &tight).unwrap_err();
    assert!(
        matches!(
            err,
            EsdkError::LimitExceeded {
                what: "header length",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        coffer_envelope::esdk::decrypt(&key_a(), &message, &tight),
        Err(EsdkError::LimitExceeded {
            what: "header length",
            ..
        })
    ));
    let exact = EsdkDecryptOptions::new().with_max_header_len(header_len);
    let mut out = Vec::new();
    EsdkDecryptingReader::new(&key_a(), &message[..], &exact)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out.len(), 315);
}
