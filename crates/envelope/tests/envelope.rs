//! Integration tests of coffer-envelope against an in-memory data-key provider: round trips,
//! tampering, truncation, several keys, the cache under an injected clock, and the test vectors
//! in `tests/vectors/`.

// Test helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coffer_core::testing::ManualClock;
use coffer_core::EncryptionContext;
use coffer_crypto::aead::{self, Aes256Gcm, Nonce};
use coffer_crypto::testing::DeterministicRandom;
use coffer_crypto::{hkdf_sha256, RandomSource, SymmetricKey, SystemRandom};
use coffer_envelope::{
    decrypt, decrypt_in_place, encrypt, encrypt_in_place, AlgorithmSuite, CacheLimits,
    CachingProvider, DataKeyProvider, DecryptOptions, DecryptingReader, EncryptOptions,
    EncryptedDataKey, EncryptingWriter, EnvelopeError, GeneratedDataKey, Header, Limit, Limits,
    ProviderError,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// The test provider: a stand-in for the KMS that wraps data keys under named AES-256-GCM keys.
// A wrapped key is `nonce (12) || AES-256-GCM(wrapping key, nonce, aad, data key)` with
// `aad = key_id || 0x00 || canonical context`.

#[derive(Default)]
struct Calls {
    generate: AtomicUsize,
    encrypt: AtomicUsize,
    decrypt: AtomicUsize,
}

struct TestProvider {
    keys: HashMap<String, SymmetricKey>,
    rng: Arc<dyn RandomSource>,
    calls: Calls,
}

impl TestProvider {
    fn new(names: &[&str]) -> Self {
        Self::with_rng(names, Arc::new(SystemRandom::new()))
    }

    fn with_rng(names: &[&str], rng: Arc<dyn RandomSource>) -> Self {
        let keys = names
            .iter()
            .map(|n| (n.to_string(), SymmetricKey::generate(&*rng).unwrap()))
            .collect();
        Self {
            keys,
            rng,
            calls: Calls::default(),
        }
    }

    fn with_keys(keys: Vec<(&str, SymmetricKey)>, rng: Arc<dyn RandomSource>) -> Self {
        Self {
            keys: keys.into_iter().map(|(n, k)| (n.to_string(), k)).collect(),
            rng,
            calls: Calls::default(),
        }
    }

    /// A provider holding only the key `name` of `self`.
    fn only(&self, name: &str) -> Self {
        Self {
            keys: [(name.to_string(), self.keys[name].clone())].into(),
            rng: self.rng.clone(),
            calls: Calls::default(),
        }
    }

    fn aad(key_id: &str, ctx: &EncryptionContext) -> Vec<u8> {
        let mut aad = key_id.as_bytes().to_vec();
        aad.push(0);
        aad.extend_from_slice(&ctx.canonical_bytes());
        aad
    }

    fn key(&self, key_id: &str) -> Result<&SymmetricKey, ProviderError> {
        self.keys
            .get(key_id)
            .ok_or_else(|| ProviderError::new("NotFoundException", format!("no key {key_id}")))
    }

    fn wrap(
        &self,
        key_id: &str,
        data_key: &SymmetricKey,
        ctx: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        let k = self.key(key_id)?;
        let nonce = Nonce::random(&*self.rng).unwrap();
        let mut blob = nonce.as_bytes().to_vec();
        blob.extend(aead::seal(k, &nonce, &Self::aad(key_id, ctx), data_key.expose()).unwrap());
        Ok(EncryptedDataKey::new(key_id, blob))
    }

    fn generates(&self) -> usize {
        self.calls.generate.load(Ordering::SeqCst)
    }
    fn encrypts(&self) -> usize {
        self.calls.encrypt.load(Ordering::SeqCst)
    }
    fn decrypts(&self) -> usize {
        self.calls.decrypt.load(Ordering::SeqCst)
    }
}

impl DataKeyProvider for TestProvider {
    fn generate_data_key(
        &self,
        key_id: &str,
        ctx: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        self.calls.generate.fetch_add(1, Ordering::SeqCst);
        self.key(key_id)?;
        let data_key = SymmetricKey::generate(&*self.rng).unwrap();
        let encrypted = self.wrap(key_id, &data_key, ctx)?;
        Ok(GeneratedDataKey {
            data_key,
            encrypted,
        })
    }

    fn encrypt_data_key(
        &self,
        key_id: &str,
        data_key: &SymmetricKey,
        ctx: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        self.calls.encrypt.fetch_add(1, Ordering::SeqCst);
        self.wrap(key_id, data_key, ctx)
    }

    fn decrypt_data_key(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        self.calls.decrypt.fetch_add(1, Ordering::SeqCst);
        let k = self.key(key_id)?;
        let bad = || ProviderError::new("InvalidCiphertextException", "");
        if ciphertext.len() < 12 {
            return Err(bad());
        }
        let nonce = Nonce::from_bytes(ciphertext[..12].try_into().unwrap());
        let pt = aead::open(k, &nonce, &Self::aad(key_id, ctx), &ciphertext[12..])
            .map_err(|e| bad().with_source(e))?;
        SymmetricKey::from_slice(pt.expose()).map_err(|e| bad().with_source(e))
    }
}

/// A provider that unwraps every data key to one fixed key: what a recipient sees when a
/// malicious sender wraps a different key for it.
struct FixedKeyProvider(SymmetricKey);

impl DataKeyProvider for FixedKeyProvider {
    fn generate_data_key(
        &self,
        key_id: &str,
        _ctx: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        Ok(GeneratedDataKey {
            data_key: self.0.clone(),
            encrypted: EncryptedDataKey::new(key_id, vec![0xAA; 8]),
        })
    }
    fn encrypt_data_key(
        &self,
        key_id: &str,
        _dk: &SymmetricKey,
        _ctx: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        Ok(EncryptedDataKey::new(key_id, vec![0xBB; 8]))
    }
    fn decrypt_data_key(
        &self,
        _key_id: &str,
        _ct: &[u8],
        _ctx: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        Ok(self.0.clone())
    }
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().copied().collect()
}

fn opts(frame_len: u32) -> EncryptOptions {
    EncryptOptions::new().with_frame_len(frame_len)
}

/// Offset where the body starts (after prefix, CBOR header and header tag).
fn body_start(msg: &[u8]) -> usize {
    8 + u32::from_be_bytes(msg[4..8].try_into().unwrap()) as usize + 16
}

/// Offsets of each frame (start, end) in `msg`.
fn frames(msg: &[u8], frame_len: usize) -> Vec<(usize, usize)> {
    let mut out = vec![];
    let mut at = body_start(msg);
    while at < msg.len() {
        let end = if msg[at] == 0 {
            at + 1 + frame_len + 16
        } else {
            let n = u32::from_be_bytes(msg[at + 1..at + 5].try_into().unwrap()) as usize;
            at + 5 + n + 16
        };
        out.push((at, end));
        at = end;
    }
    out
}

fn read_all<R: Read>(mut r: R, step: usize) -> (Vec<u8>, Option<std::io::Error>) {
    let mut out = vec![];
    let mut buf = vec![0u8; step.max(1)];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn stream_decrypt(
    p: &dyn DataKeyProvider,
    msg: &[u8],
    step: usize,
) -> Result<Vec<u8>, EnvelopeError> {
    let r = DecryptingReader::new(p, msg, &DecryptOptions::new())?;
    match read_all(r, step) {
        (out, None) => Ok(out),
        (_, Some(e)) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip_around_frame_boundaries(
        frame_len in 1u32..64,
        frames_n in 0usize..4,
        delta in -1i64..=1,
        pairs in proptest::collection::vec(("[a-z]{0,6}", ".{0,6}"), 0..4),
        write_step in 1usize..50,
        read_step in 1usize..50,
        seed in any::<u64>(),
    ) {
        let len = (frames_n as i64 * i64::from(frame_len) + delta).max(0) as usize;
        let plaintext: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
        let context: EncryptionContext = pairs.into_iter().collect();
        let p = TestProvider::new(&["k1"]);
        let o = opts(frame_len);

        let msg = encrypt(&p, &["k1"], &context, &plaintext, &o).unwrap();
        let back = decrypt(&p, &msg, &DecryptOptions::new().expect_context(context.clone())).unwrap();
        prop_assert_eq!(back.plaintext().expose(), &plaintext[..]);
        prop_assert_eq!(back.context(), &context);
        prop_assert_eq!(stream_decrypt(&p, &msg, read_step).unwrap(), plaintext.clone());

        let mut w = EncryptingWriter::new(&p, &["k1"], &context, &o, Vec::new()).unwrap();
        for chunk in plaintext.chunks(write_step) {
            w.write_all(chunk).unwrap();
        }
        let streamed = w.finish().unwrap();
        prop_assert_eq!(streamed.len(), msg.len());
        let again = decrypt(&p, &streamed, &DecryptOptions::new()).unwrap();
        prop_assert_eq!(again.plaintext().expose(), &plaintext[..]);
        prop_assert_eq!(stream_decrypt(&p, &streamed, read_step).unwrap(), plaintext);
    }

    #[test]
    fn streaming_equals_one_shot_byte_for_byte(
        frame_len in 1u32..40,
        len in 0usize..200,
        write_step in 1usize..70,
        seed in any::<[u8; 8]>(),
    ) {
        let plaintext = vec![0x5Au8; len];
        let context = ctx(&[("a", "b")]);
        let run = |streaming: bool| {
            let rng: Arc<dyn RandomSource> = Arc::new(DeterministicRandom::new(&seed));
            let p = TestProvider::with_keys(vec![("k", SymmetricKey::from_bytes([3; 32]))], rng.clone());
            let o = opts(frame_len).with_rng(rng);
            if streaming {
                let mut w = EncryptingWriter::new(&p, &["k"], &context, &o, Vec::new()).unwrap();
                for c in plaintext.chunks(write_step) { w.write_all(c).unwrap(); }
                w.finish().unwrap()
            } else {
                encrypt(&p, &["k"], &context, &plaintext, &o).unwrap()
            }
        };
        prop_assert_eq!(run(true), run(false));
    }

    #[test]
    fn multi_key_message_opens_with_each_key(n in 1usize..6, len in 0usize..100) {
        let names: Vec<String> = (0..n).map(|i| format!("arn:aws:kms:us-east-1:111122223333:key/k{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let p = TestProvider::new(&refs);
        let context = ctx(&[("tenant", "t1")]);
        let plaintext = vec![7u8; len];
        let msg = encrypt(&p, &refs, &context, &plaintext, &opts(32)).unwrap();
        prop_assert_eq!(p.generates(), 1);
        prop_assert_eq!(p.encrypts(), n - 1);
        for name in &refs {
            let only = p.only(name);
            let back = decrypt(&only, &msg, &DecryptOptions::new()).unwrap();
            prop_assert_eq!(back.plaintext().expose(), &plaintext[..]);
            // Strict mode: naming only this key also works...
            let strict = DecryptOptions::new().allow_key_ids([*name]);
            prop_assert!(decrypt(&p, &msg, &strict).is_ok());
        }
        // ...and naming none of them opens nothing.
        let none = DecryptOptions::new().allow_key_ids(["other"]);
        let refused = matches!(decrypt(&p, &msg, &none), Err(EnvelopeError::NoDecryptableDataKey { attempted: 0, .. }));
        prop_assert!(refused);
    }
}

#[test]
fn large_stream_with_default_frames() {
    let p = TestProvider::new(&["k"]);
    let plaintext: Vec<u8> = (0..(3 * 65536 + 17)).map(|i| i as u8).collect();
    let mut w = EncryptingWriter::new(
        &p,
        &["k"],
        &EncryptionContext::new(),
        &EncryptOptions::new(),
        Vec::new(),
    )
    .unwrap();
    w.write_all(&plaintext).unwrap();
    let msg = w.finish().unwrap();
    assert_eq!(frames(&msg, 65536).len(), 4);
    assert_eq!(stream_decrypt(&p, &msg, 10_000).unwrap(), plaintext);
}

// ---------------------------------------------------------------------------------------------
// Tampering

fn small_message(p: &TestProvider) -> Vec<u8> {
    // Three frames: 16 + 16 + final 8.
    encrypt(
        p,
        &["k1"],
        &ctx(&[("purpose", "t")]),
        &[0x42; 40],
        &opts(16),
    )
    .unwrap()
}

#[test]
fn truncation_at_every_offset_fails() {
    let p = TestProvider::new(&["k1"]);
    let msg = small_message(&p);
    for cut in 0..msg.len() {
        let part = &msg[..cut];
        assert!(
            decrypt(&p, part, &DecryptOptions::new()).is_err(),
            "cut {cut}"
        );
        assert!(stream_decrypt(&p, part, 7).is_err(), "cut {cut}");
    }
    // A cut on a frame boundary is reported as truncation.
    let f = frames(&msg, 16);
    assert!(matches!(
        decrypt(&p, &msg[..f[2].0], &DecryptOptions::new()),
        Err(EnvelopeError::Truncated)
    ));
}

#[test]
fn every_single_bit_change_fails() {
    let p = TestProvider::new(&["k1"]);
    let msg = small_message(&p);
    for i in 0..msg.len() {
        for bit in 0..8 {
            let mut bad = msg.clone();
            bad[i] ^= 1 << bit;
            assert!(
                decrypt(&p, &bad, &DecryptOptions::new()).is_err(),
                "byte {i} bit {bit}"
            );
        }
    }
}

#[test]
fn trailing_data_fails() {
    let p = TestProvider::new(&["k1"]);
    let mut msg = small_message(&p);
    msg.push(0);
    assert!(matches!(
        decrypt(&p, &msg, &DecryptOptions::new()),
        Err(EnvelopeError::TrailingData)
    ));
}

#[test]
fn reordered_frames_fail() {
    let p = TestProvider::new(&["k1"]);
    let msg = small_message(&p);
    let f = frames(&msg, 16);
    let mut bad = msg[..f[0].0].to_vec();
    bad.extend_from_slice(&msg[f[1].0..f[1].1]);
    bad.extend_from_slice(&msg[f[0].0..f[0].1]);
    bad.extend_from_slice(&msg[f[2].0..f[2].1]);
    assert!(matches!(
        decrypt(&p, &bad, &DecryptOptions::new()),
        Err(EnvelopeError::Authentication)
    ));
    // Dropping a middle frame fails too.
    let mut dropped = msg[..f[1].0].to_vec();
    dropped.extend_from_slice(&msg[f[2].0..]);
    assert!(decrypt(&p, &dropped, &DecryptOptions::new()).is_err());
}

#[test]
fn frames_moved_between_messages_fail_even_under_one_data_key() {
    // The cache makes both messages share a data key; the per-message frame key still differs.
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_000));
    let p = CachingProvider::new(
        TestProvider::new(&["k1"]),
        CacheLimits::new(8, Duration::from_secs(60)),
        clock,
    );
    let a = small_message_with(&p);
    let b = small_message_with(&p);
    assert_eq!(p.inner().generates(), 1);
    let (fa, fb) = (frames(&a, 16), frames(&b, 16));
    let mut spliced = b[..fb[1].0].to_vec();
    spliced.extend_from_slice(&a[fa[1].0..fa[1].1]);
    spliced.extend_from_slice(&b[fb[2].0..]);
    assert!(matches!(
        decrypt(&p, &spliced, &DecryptOptions::new()),
        Err(EnvelopeError::Authentication)
    ));
    // Swapping whole headers fails as well.
    let mut swapped = a[..body_start(&a)].to_vec();
    swapped.extend_from_slice(&b[body_start(&b)..]);
    assert!(decrypt(&p, &swapped, &DecryptOptions::new()).is_err());
}

fn small_message_with(p: &dyn DataKeyProvider) -> Vec<u8> {
    encrypt(
        p,
        &["k1"],
        &ctx(&[("purpose", "t")]),
        &[0x42; 40],
        &opts(16),
    )
    .unwrap()
}

#[test]
fn final_frame_cannot_be_dropped_or_forged() {
    let p = TestProvider::new(&["k1"]);
    let msg = encrypt(&p, &["k1"], &EncryptionContext::new(), &[1; 32], &opts(16)).unwrap();
    let f = frames(&msg, 16);
    assert_eq!(f.len(), 2);
    // Present the first (regular) frame as a final frame of 16 bytes.
    let mut forged = msg[..f[0].0].to_vec();
    forged.extend_from_slice(&[1, 0, 0, 0, 16]);
    forged.extend_from_slice(&msg[f[0].0 + 1..f[0].1]);
    assert!(matches!(
        decrypt(&p, &forged, &DecryptOptions::new()),
        Err(EnvelopeError::Authentication)
    ));
}

#[test]
fn reader_releases_only_authenticated_frames() {
    let p = TestProvider::new(&["k1"]);
    let mut msg = small_message(&p);
    let f = frames(&msg, 16);
    msg[f[1].1 - 1] ^= 1; // break the second frame's tag
    let r = DecryptingReader::new(&p, &msg[..], &DecryptOptions::new()).unwrap();
    let (got, err) = read_all(r, 3);
    assert_eq!(got, vec![0x42; 16], "exactly the first frame");
    assert_eq!(err.unwrap().kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn reader_at_eof_without_final_frame_errors() {
    let p = TestProvider::new(&["k1"]);
    let msg = small_message(&p);
    let f = frames(&msg, 16);
    let r = DecryptingReader::new(&p, &msg[..f[2].0], &DecryptOptions::new()).unwrap();
    let (got, err) = read_all(r, 64);
    assert_eq!(got.len(), 32);
    let err = err.unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(matches!(EnvelopeError::from(err), EnvelopeError::Truncated));
}

#[test]
fn unfinished_writer_never_yields_a_valid_message() {
    let p = TestProvider::new(&["k1"]);
    let mut out = Vec::new();
    {
        let mut w =
            EncryptingWriter::new(&p, &["k1"], &EncryptionContext::new(), &opts(8), &mut out)
                .unwrap();
        w.write_all(&[9; 100]).unwrap();
        // dropped without finish()
    }
    assert!(!out.is_empty());
    assert!(matches!(
        decrypt(&p, &out, &DecryptOptions::new()),
        Err(EnvelopeError::Truncated)
    ));
}

#[test]
fn context_is_enforced() {
    let p = TestProvider::new(&["k1"]);
    let sealed = ctx(&[("purpose", "a")]);
    let msg = encrypt(&p, &["k1"], &sealed, b"x", &opts(16)).unwrap();
    let other = DecryptOptions::new().expect_context(ctx(&[("purpose", "b")]));
    assert!(matches!(
        decrypt(&p, &msg, &other),
        Err(EnvelopeError::ContextMismatch)
    ));
    // Rewriting the context in the header (same length, so the CBOR stays well formed) makes
    // the provider refuse the wrapped key, and the header tag would fail too.
    let pos = msg.windows(7).position(|w| w == b"purpose").unwrap();
    let mut bad = msg.clone();
    bad[pos + 8] = b'b';
    assert!(matches!(
        decrypt(&p, &bad, &DecryptOptions::new()),
        Err(EnvelopeError::NoDecryptableDataKey { attempted: 1, last: Some(ref e) })
            if e.code() == "InvalidCiphertextException"
    ));
}

#[test]
fn provider_errors_pass_through() {
    let p = TestProvider::new(&["k1"]);
    let err = encrypt(&p, &["missing"], &EncryptionContext::new(), b"x", &opts(16)).unwrap_err();
    match err {
        EnvelopeError::Provider { key_id, source } => {
            assert_eq!(key_id, "missing");
            assert_eq!(source.code(), "NotFoundException");
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Recomputes a message's keys from the specification (docs/ENVELOPE.md), outside the crate:
/// suite 0x0001 extracts with the message id as salt; suite 0x0002 extracts the data key once
/// with a fixed salt and puts the message id in each expand.
fn spec_derive(data_key: &SymmetricKey, message_id: &[u8], suite: u16, label: &str) -> [u8; 32] {
    let k = match suite {
        0x0001 => hkdf_sha256(
            data_key,
            message_id,
            &[
                b"coffer-envelope v1",
                &[0, 1],
                if label == "frame" {
                    b"DERIVEKEY"
                } else {
                    b"COMMITKEY"
                },
            ],
        ),
        0x0002 => hkdf_sha256(
            data_key,
            b"coffer-envelope v1 suite 0x0002",
            &[if label == "frame" { b"FK" } else { b"CK" }, message_id],
        ),
        other => panic!("suite {other:#06x}"),
    };
    *k.unwrap().expose()
}

fn spec_frame_key(data_key: &SymmetricKey, message_id: &[u8], suite: u16) -> SymmetricKey {
    SymmetricKey::from_bytes(spec_derive(data_key, message_id, suite, "frame"))
}

fn spec_commitment(data_key: &SymmetricKey, message_id: &[u8], suite: u16) -> [u8; 32] {
    spec_derive(data_key, message_id, suite, "commit")
}

fn spec_header_tag(frame_key: &SymmetricKey, prefix_and_header: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    nonce[11] = 2;
    let mut tag = Vec::new();
    Aes256Gcm::new(frame_key)
        .unwrap()
        .seal_in_place(&Nonce::from_bytes(nonce), prefix_and_header, &mut tag)
        .unwrap();
    tag
}

/// A message sealed under `d2` whose header commits to `d1`, with a header tag that verifies
/// under `d2`: only the key commitment stands between it and a recipient holding `d2`.
fn forge_commitment(d1: &SymmetricKey, d2: &SymmetricKey, suite: AlgorithmSuite) -> Vec<u8> {
    let p2 = FixedKeyProvider(d2.clone());
    let o = opts(16).with_suite(suite);
    let msg = encrypt(&p2, &["k"], &EncryptionContext::new(), b"secret", &o).unwrap();
    let hdr_end = body_start(&msg) - 16;
    let header = Header::decode(&msg[8..hdr_end], &Limits::default()).unwrap();
    assert_eq!(header.suite(), suite);
    let suite = suite.id();
    let id = header.message_id().to_vec();
    // The spec reproduces the real tag exactly...
    assert_eq!(
        spec_header_tag(&spec_frame_key(d2, &id, suite), &msg[..hdr_end]),
        &msg[hdr_end..hdr_end + 16]
    );
    assert_eq!(&spec_commitment(d2, &id, suite), header.commitment());
    // ...so swap in d1's commitment (the last 32 bytes of the CBOR) and re-tag under d2.
    let mut forged = msg.clone();
    forged[hdr_end - 32..hdr_end].copy_from_slice(&spec_commitment(d1, &id, suite));
    let tag = spec_header_tag(&spec_frame_key(d2, &id, suite), &forged[..hdr_end]);
    forged[hdr_end..hdr_end + 16].copy_from_slice(&tag);
    forged
}

#[test]
fn wrapped_key_opening_to_another_key_is_refused() {
    let d1 = SymmetricKey::from_bytes([1; 32]);
    let d2 = SymmetricKey::from_bytes([2; 32]);
    for suite in SUITES {
        let forged = forge_commitment(&d1, &d2, suite);
        assert!(matches!(
            decrypt(
                &FixedKeyProvider(d2.clone()),
                &forged,
                &DecryptOptions::new()
            ),
            Err(EnvelopeError::Authentication)
        ));
        assert!(matches!(
            decrypt(
                &FixedKeyProvider(d1.clone()),
                &forged,
                &DecryptOptions::new()
            ),
            Err(EnvelopeError::Authentication)
        ));
    }
}

const SUITES: [AlgorithmSuite; 2] = [
    AlgorithmSuite::Aes256GcmHkdfSha256Committing,
    AlgorithmSuite::Aes256GcmHkdfSha256CommittingKeyExtract,
];

#[test]
fn both_suites_round_trip_direct_and_through_a_cache_and_suite_2_is_the_default() {
    let default = encrypt(
        &FixedKeyProvider(SymmetricKey::from_bytes([5; 32])),
        &["k"],
        &EncryptionContext::new(),
        b"x",
        &opts(16),
    )
    .unwrap();
    let hdr_end = body_start(&default) - 16;
    assert_eq!(
        Header::decode(&default[8..hdr_end], &Limits::default())
            .unwrap()
            .suite(),
        AlgorithmSuite::Aes256GcmHkdfSha256CommittingKeyExtract
    );
    let mut c = EncryptionContext::new();
    c.insert("purpose", "suites");
    let pt: Vec<u8> = (0..100u8).collect();
    for suite in SUITES {
        let direct = TestProvider::new(&["k1", "k2"]);
        let (cached, _clock) =
            cached(CacheLimits::new(8, Duration::from_secs(60)).with_max_messages(100));
        for p in [&direct as &dyn DataKeyProvider, &cached] {
            let o = opts(16).with_suite(suite);
            let a = encrypt(p, &["k1", "k2"], &c, &pt, &o).unwrap();
            let b = encrypt(p, &["k1", "k2"], &c, &pt, &o).unwrap();
            assert_ne!(a, b, "fresh message ids");
            for m in [&a, &b] {
                let out = decrypt(p, m, &DecryptOptions::new()).unwrap();
                assert_eq!(out.plaintext().expose(), &pt[..]);
                assert_eq!(out.header().suite(), suite);
                // Twice: the second opening is served from the cache's kept derivation key.
                assert!(decrypt(p, m, &DecryptOptions::new()).is_ok());
                assert_eq!(stream_decrypt(p, m, 7).unwrap(), pt);
            }
            // A message's suite id edited to the other suite fails (the header tag and the
            // commitment are derived differently), never opens.
            // The CBOR header starts after the 8-byte prefix: array(7), version 1, then the
            // suite id as a one-byte unsigned integer.
            let mut other = a.clone();
            assert_eq!(other[8..11], [0x87, 0x01, suite.id() as u8]);
            other[10] = if suite.id() == 1 { 2 } else { 1 };
            assert!(decrypt(p, &other, &DecryptOptions::new()).is_err());
        }
        let stats = cached.stats();
        assert_eq!(stats.encrypt_hits, 1, "{stats:?}");
        assert!(stats.decrypt_hits >= 3, "{stats:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bounds

#[test]
fn bounds_on_decrypt() {
    let names: Vec<String> = (0..4).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let p = TestProvider::new(&refs);
    let msg = encrypt(&p, &refs, &EncryptionContext::new(), &[0; 100], &opts(10)).unwrap();
    let check = |limits: Limits, want: Limit| {
        let e = decrypt(&p, &msg, &DecryptOptions::new().with_limits(limits)).unwrap_err();
        assert!(
            matches!(e, EnvelopeError::LimitExceeded { limit, .. } if limit == want),
            "{e:?}"
        );
        let e = DecryptingReader::new(&p, &msg[..], &DecryptOptions::new().with_limits(limits))
            .map(|r| read_all(r, 100).1.map(EnvelopeError::from));
        assert!(matches!(
            e,
            Err(EnvelopeError::LimitExceeded { .. })
                | Ok(Some(EnvelopeError::LimitExceeded { .. }))
        ));
    };
    check(
        Limits::default().with_max_encrypted_data_keys(3),
        Limit::EncryptedDataKeys,
    );
    check(Limits::default().with_max_frame_len(9), Limit::FrameLength);
    check(
        Limits::default().with_max_header_len(64),
        Limit::HeaderLength,
    );
    check(Limits::default().with_max_frames(9), Limit::FrameCount);
    assert!(decrypt(
        &p,
        &msg,
        &DecryptOptions::new().with_limits(Limits::default().with_max_frames(10))
    )
    .is_ok());
}

#[test]
fn bounds_on_encrypt() {
    let p = TestProvider::new(&["k"]);
    let e = EncryptionContext::new();
    let too_many: Vec<&str> = vec!["k"; 11];
    assert!(matches!(
        encrypt(&p, &too_many, &e, b"", &EncryptOptions::new()),
        Err(EnvelopeError::LimitExceeded {
            limit: Limit::EncryptedDataKeys,
            ..
        })
    ));
    assert!(matches!(
        encrypt(&p, &[], &e, b"", &EncryptOptions::new()),
        Err(EnvelopeError::InvalidArgument(_))
    ));
    assert!(matches!(
        encrypt(&p, &["k"], &e, b"", &opts(0)),
        Err(EnvelopeError::InvalidArgument(_))
    ));
    let mut w = EncryptingWriter::new(
        &p,
        &["k"],
        &e,
        &EncryptOptions::new().with_plaintext_len(5),
        Vec::new(),
    )
    .unwrap();
    w.write_all(b"12345").unwrap();
    let err = w.write_all(b"6").unwrap_err();
    assert!(matches!(
        EnvelopeError::from(err),
        EnvelopeError::LimitExceeded {
            limit: Limit::PlaintextLength,
            ..
        }
    ));
    assert!(matches!(w.finish(), Err(EnvelopeError::Poisoned)));
}

// ---------------------------------------------------------------------------------------------
// The cache, under a manual clock

fn cached(limits: CacheLimits) -> (CachingProvider<TestProvider>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
    (
        CachingProvider::new(TestProvider::new(&["k1", "k2"]), limits, clock.clone()),
        clock,
    )
}

fn edk_of(msg: &[u8]) -> Vec<u8> {
    let end = body_start(msg) - 16;
    Header::decode(&msg[8..end], &Limits::default())
        .unwrap()
        .encrypted_data_keys()[0]
        .ciphertext
        .clone()
}

#[test]
fn cache_max_age() {
    let (p, clock) = cached(CacheLimits::new(10, Duration::from_secs(60)));
    let c = ctx(&[("a", "1")]);
    let m1 = encrypt(&p, &["k1", "k2"], &c, b"one", &opts(16)).unwrap();
    clock.advance(Duration::from_secs(59));
    let m2 = encrypt(&p, &["k1", "k2"], &c, b"two", &opts(16)).unwrap();
    assert_eq!(edk_of(&m1), edk_of(&m2));
    assert_eq!((p.inner().generates(), p.inner().encrypts()), (1, 1));
    clock.advance(Duration::from_secs(1));
    let m3 = encrypt(&p, &["k1", "k2"], &c, b"three", &opts(16)).unwrap();
    assert_ne!(edk_of(&m1), edk_of(&m3));
    assert_eq!((p.inner().generates(), p.inner().encrypts()), (2, 2));
    let s = p.stats();
    assert_eq!((s.encrypt_hits, s.encrypt_misses, s.evictions), (1, 2, 1));
    // A clock that goes backwards does not extend an entry's life.
    clock.set(std::time::UNIX_EPOCH);
    encrypt(&p, &["k1", "k2"], &c, b"four", &opts(16)).unwrap();
    assert_eq!(p.inner().generates(), 3);
    for m in [&m1, &m2, &m3] {
        assert!(decrypt(&p, m, &DecryptOptions::new()).is_ok());
    }
}

#[test]
fn cache_max_messages_and_calls_saved() {
    let (p, _clock) = cached(CacheLimits::new(10, Duration::from_secs(3600)).with_max_messages(10));
    let c = ctx(&[("a", "1")]);
    for i in 0..100u8 {
        encrypt(&p, &["k1", "k2"], &c, &[i], &opts(16)).unwrap();
    }
    // 100 messages, 10 per data key: 10 generate + 10 encrypt calls instead of 100 + 100.
    assert_eq!(p.inner().generates(), 10);
    assert_eq!(p.inner().encrypts(), 10);
    let s = p.stats();
    assert_eq!(s.encrypt_hits, 90, "provider call pairs saved");
    assert_eq!(s.encrypt_misses, 10);
}

#[test]
fn cache_max_bytes() {
    let (p, _clock) = cached(CacheLimits::new(10, Duration::from_secs(3600)).with_max_bytes(100));
    let c = EncryptionContext::new();
    for _ in 0..5 {
        encrypt(&p, &["k1"], &c, &[0; 40], &opts(64)).unwrap();
    }
    // 40 + 40 fit in 100 bytes; the third message needs a new key: keys at messages 1, 3, 5.
    assert_eq!(p.inner().generates(), 3);
    // A message longer than max_bytes is never cached.
    encrypt(&p, &["k1"], &c, &[0; 101], &opts(64)).unwrap();
    encrypt(&p, &["k1"], &c, &[0; 101], &opts(64)).unwrap();
    assert_eq!(p.inner().generates(), 5);
    assert_eq!(p.stats().encrypt_bypassed, 2);
}

#[test]
fn cache_capacity_is_lru() {
    let (p, _clock) = cached(CacheLimits::new(2, Duration::from_secs(3600)));
    let (a, b, c) = (ctx(&[("t", "a")]), ctx(&[("t", "b")]), ctx(&[("t", "c")]));
    let enc = |cx: &EncryptionContext| encrypt(&p, &["k1"], cx, b"x", &opts(16)).unwrap();
    enc(&a);
    enc(&b);
    enc(&a); // hit; b is now least recently used
    enc(&c); // evicts b
    assert_eq!(p.len().0, 2);
    assert_eq!(p.inner().generates(), 3);
    enc(&a); // still cached
    assert_eq!(p.inner().generates(), 3);
    enc(&b); // was evicted
    assert_eq!(p.inner().generates(), 4);
    assert!(p.stats().evictions >= 2);
    // The key set is part of the cache key too.
    encrypt(&p, &["k2"], &a, b"x", &opts(16)).unwrap();
    assert_eq!(p.inner().generates(), 5);
    p.clear();
    assert!(p.is_empty());
}

#[test]
fn cache_decryption_keys() {
    let (p, clock) = cached(CacheLimits::new(4, Duration::from_secs(60)));
    let msg = encrypt(&p, &["k1"], &EncryptionContext::new(), b"x", &opts(16)).unwrap();
    for _ in 0..10 {
        decrypt(&p, &msg, &DecryptOptions::new()).unwrap();
    }
    assert_eq!(p.inner().decrypts(), 1);
    assert_eq!(p.stats().decrypt_hits, 9);
    clock.advance(Duration::from_secs(60));
    decrypt(&p, &msg, &DecryptOptions::new()).unwrap();
    assert_eq!(p.inner().decrypts(), 2);
}

#[test]
fn cache_latest_entry_serves_only_its_own_request() {
    // The cache hands out its latest entry without a lookup by key when the request is the
    // same: a request that differs in the context only, the key ids only, or (decrypting) the
    // wrapped key only must not get it.
    let (p, _clock) = cached(CacheLimits::new(8, Duration::from_secs(3600)));
    let (a, b) = (ctx(&[("t", "a")]), ctx(&[("t", "b")]));
    let enc = |ids: &[&str], cx: &EncryptionContext| encrypt(&p, ids, cx, b"x", &opts(16)).unwrap();
    let m1 = enc(&["k1"], &a);
    let m2 = enc(&["k1"], &b);
    let m3 = enc(&["k1", "k2"], &b);
    let m4 = enc(&["k2"], &b);
    assert_eq!(p.inner().generates(), 4);
    let m5 = enc(&["k2"], &b);
    assert_eq!(p.inner().generates(), 4);
    assert_eq!(edk_of(&m4), edk_of(&m5));
    for m in [&m1, &m2, &m3, &m4, &m5, &m1, &m1, &m3, &m2] {
        assert!(decrypt(&p, m, &DecryptOptions::new()).is_ok());
    }
    assert_eq!(p.inner().decrypts(), 4);

    // One message per data key: the same key id and context, a new wrapped key every time.
    let (p, _clock) = cached(CacheLimits::new(8, Duration::from_secs(3600)).with_max_messages(1));
    let c = ctx(&[("t", "a")]);
    let m1 = encrypt(&p, &["k1"], &c, b"one", &opts(16)).unwrap();
    let m2 = encrypt(&p, &["k1"], &c, b"two", &opts(16)).unwrap();
    assert_ne!(edk_of(&m1), edk_of(&m2));
    for (m, pt) in [(&m1, b"one"), (&m2, b"two"), (&m2, b"two"), (&m1, b"one")] {
        let d = decrypt(&p, m, &DecryptOptions::new()).unwrap();
        assert_eq!(d.plaintext().expose(), pt);
    }
    assert_eq!(p.inner().decrypts(), 2);
    assert_eq!(p.stats().decrypt_hits, 2);
}

#[test]
fn cache_streaming_needs_a_declared_length() {
    let (p, _clock) = cached(CacheLimits::new(4, Duration::from_secs(60)));
    let e = EncryptionContext::new();
    for _ in 0..2 {
        let w = EncryptingWriter::new(&p, &["k1"], &e, &EncryptOptions::new(), Vec::new()).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(p.inner().generates(), 2);
    assert_eq!(p.stats().encrypt_bypassed, 2);
    for _ in 0..2 {
        let o = EncryptOptions::new().with_plaintext_len(10);
        let mut w = EncryptingWriter::new(&p, &["k1"], &e, &o, Vec::new()).unwrap();
        w.write_all(&[0; 10]).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(p.inner().generates(), 3);
}

// ---------------------------------------------------------------------------------------------
// Test vectors (tests/vectors/*.txt; negative ones are named fail_*)

const VECTOR_SEED: &[u8] = b"coffer-envelope test vectors";
const WRAP_KEY_1: [u8; 32] = [0x11; 32];
const WRAP_KEY_2: [u8; 32] = [0x22; 32];

fn vector_provider(rng: Arc<dyn RandomSource>) -> TestProvider {
    TestProvider::with_keys(
        vec![
            ("key-1", SymmetricKey::from_bytes(WRAP_KEY_1)),
            ("key-2", SymmetricKey::from_bytes(WRAP_KEY_2)),
        ],
        rng,
    )
}

struct Vector {
    key_ids: Vec<String>,
    context: EncryptionContext,
    frame_len: u32,
    plaintext: Vec<u8>,
    message: Vec<u8>,
    expect: String,
    /// Decrypt with a provider holding only this key (default: all vector keys).
    open_with: Option<String>,
}

use coffer_crypto::hex::encode as hex;

fn unhex(s: &str) -> Vec<u8> {
    coffer_crypto::hex::decode(s).unwrap()
}

fn make_message(key_ids: &[&str], c: &EncryptionContext, frame_len: u32, pt: &[u8]) -> Vec<u8> {
    let rng: Arc<dyn RandomSource> = Arc::new(DeterministicRandom::new(VECTOR_SEED));
    let p = vector_provider(rng.clone());
    // The committed vectors are suite 0x0001 (what every reader of this crate still opens).
    let o = opts(frame_len)
        .with_rng(rng)
        .with_suite(AlgorithmSuite::Aes256GcmHkdfSha256Committing);
    encrypt(&p, key_ids, c, pt, &o).unwrap()
}

fn write_vector(name: &str, v: &Vector, about: &str) {
    let mut s = format!("# {about}\n");
    s += &format!("key_ids = {}\n", v.key_ids.join(","));
    for (k, val) in v.context.iter() {
        s += &format!("context = {k}={val}\n");
    }
    s += &format!("frame_len = {}\n", v.frame_len);
    s += &format!("plaintext = {}\n", hex(&v.plaintext));
    s += &format!("message = {}\n", hex(&v.message));
    s += &format!("expect = {}\n", v.expect);
    if let Some(k) = &v.open_with {
        s += &format!("open_with = {k}\n");
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    std::fs::write(format!("{dir}/{name}.txt"), s).unwrap();
}

fn read_vector(text: &str) -> Vector {
    let mut v = Vector {
        key_ids: vec![],
        context: EncryptionContext::new(),
        frame_len: 0,
        plaintext: vec![],
        message: vec![],
        expect: String::new(),
        open_with: None,
    };
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (k, val) = line.split_once(" = ").unwrap();
        match k {
            "key_ids" => v.key_ids = val.split(',').map(str::to_owned).collect(),
            "context" => {
                let (a, b) = val.split_once('=').unwrap();
                v.context.insert(a, b);
            }
            "frame_len" => v.frame_len = val.parse().unwrap(),
            "plaintext" => v.plaintext = unhex(val),
            "message" => v.message = unhex(val),
            "expect" => v.expect = val.to_owned(),
            "open_with" => v.open_with = Some(val.to_owned()),
            other => panic!("unknown field {other}"),
        }
    }
    v
}

fn error_name(e: &EnvelopeError) -> &'static str {
    match e {
        EnvelopeError::Authentication => "Authentication",
        EnvelopeError::Truncated => "Truncated",
        EnvelopeError::TrailingData => "TrailingData",
        EnvelopeError::NoDecryptableDataKey { .. } => "NoDecryptableDataKey",
        EnvelopeError::Malformed(_) => "Malformed",
        EnvelopeError::LimitExceeded { .. } => "LimitExceeded",
        EnvelopeError::UnsupportedVersion(_) => "UnsupportedVersion",
        _ => "Other",
    }
}

/// Regenerates the vector files: `COFFER_REGEN_VECTORS=1 cargo test -p coffer-envelope vectors`.
fn regenerate() {
    let c = ctx(&[("purpose", "test-vector"), ("tenant", "acme")]);
    let empty = EncryptionContext::new();
    let ok = |name: &str, about: &str, ids: &[&str], cx: &EncryptionContext, fl: u32, pt: &[u8]| {
        let message = make_message(ids, cx, fl, pt);
        let v = Vector {
            key_ids: ids.iter().map(|s| s.to_string()).collect(),
            context: cx.clone(),
            frame_len: fl,
            plaintext: pt.to_vec(),
            message,
            expect: "ok".into(),
            open_with: None,
        };
        write_vector(name, &v, about);
        v
    };
    let bad = |name: &str, about: &str, base: &Vector, message: Vec<u8>, expect: &str| {
        let v = Vector {
            key_ids: base.key_ids.clone(),
            context: base.context.clone(),
            frame_len: base.frame_len,
            plaintext: vec![],
            message,
            expect: expect.into(),
            open_with: None,
        };
        write_vector(name, &v, about);
    };
    ok(
        "empty",
        "Empty plaintext, one key, empty context, default frame length: one empty final frame.",
        &["key-1"],
        &empty,
        65536,
        b"",
    );
    ok(
        "hello",
        "11 bytes, one key, two context pairs, one final frame.",
        &["key-1"],
        &c,
        65536,
        b"hello world",
    );
    let multi = ok(
        "multi_frame_two_keys",
        "40 bytes in 16-byte frames (16 + 16 + final 8) under two keys.",
        &["key-1", "key-2"],
        &c,
        16,
        &(0u8..40).collect::<Vec<_>>(),
    );
    ok(
        "exact_multiple",
        "32 bytes in 16-byte frames: one regular frame and a full final frame.",
        &["key-1"],
        &c,
        16,
        &[0xAB; 32],
    );
    let m = &multi.message;
    let f = frames(m, 16);
    bad(
        "fail_truncated_final",
        "The final frame removed.",
        &multi,
        m[..f[2].0].to_vec(),
        "Truncated",
    );
    bad(
        "fail_truncated_tag",
        "The last byte of the final frame's tag removed.",
        &multi,
        m[..m.len() - 1].to_vec(),
        "Truncated",
    );
    let mut swapped = m[..f[0].0].to_vec();
    swapped.extend_from_slice(&m[f[1].0..f[1].1]);
    swapped.extend_from_slice(&m[f[0].0..f[0].1]);
    swapped.extend_from_slice(&m[f[2].0..]);
    bad(
        "fail_frames_reordered",
        "Frames 0 and 1 swapped.",
        &multi,
        swapped,
        "Authentication",
    );
    let mut trailing = m.clone();
    trailing.push(0);
    bad(
        "fail_trailing_byte",
        "A zero byte after the final frame.",
        &multi,
        trailing,
        "TrailingData",
    );
    let mut ctx_edit = m.clone();
    let pos = ctx_edit.windows(4).position(|w| w == b"acme").unwrap();
    ctx_edit[pos] = b'A';
    bad(
        "fail_context_changed",
        "Context value 'acme' changed to 'Acme' in the header.",
        &multi,
        ctx_edit,
        "NoDecryptableDataKey",
    );
    let mut frame_len_edit = m.clone();
    let hdr_end = body_start(m) - 16;
    // frame_len 16 is the CBOR byte 0x10 just before the commitment's 0x58 0x20 head.
    assert_eq!(
        &frame_len_edit[hdr_end - 35..hdr_end - 32],
        &[0x10, 0x58, 0x20]
    );
    frame_len_edit[hdr_end - 35] = 0x11;
    bad(
        "fail_header_frame_len",
        "Header frame length changed from 16 to 17.",
        &multi,
        frame_len_edit,
        "Authentication",
    );
    let mut tag_edit = m.clone();
    tag_edit[hdr_end] ^= 0x80;
    bad(
        "fail_header_tag",
        "One bit of the header tag flipped.",
        &multi,
        tag_edit,
        "Authentication",
    );
    let mut as_final = m[..f[1].0].to_vec();
    as_final.extend_from_slice(&[1, 0, 0, 0, 16]);
    as_final.extend_from_slice(&m[f[1].0 + 1..f[1].1]);
    bad(
        "fail_regular_frame_as_final",
        "Frame 1 relabelled as the final frame (the real final frame dropped).",
        &multi,
        as_final,
        "Authentication",
    );
    // Two messages from one random stream (so their message ids and data keys differ), the
    // second receiving frame 1 of the first.
    let rng: Arc<dyn RandomSource> = Arc::new(DeterministicRandom::new(VECTOR_SEED));
    let p = vector_provider(rng.clone());
    let first = encrypt(
        &p,
        &["key-1"],
        &c,
        &[0u8; 40],
        &opts(16).with_rng(rng.clone()),
    )
    .unwrap();
    let second = encrypt(&p, &["key-1"], &c, &[0u8; 40], &opts(16).with_rng(rng)).unwrap();
    let (f1, f2) = (frames(&first, 16), frames(&second, 16));
    let mut moved = second[..f2[1].0].to_vec();
    moved.extend_from_slice(&first[f1[1].0..f1[1].1]);
    moved.extend_from_slice(&second[f2[2].0..]);
    let base = Vector {
        key_ids: vec!["key-1".into()],
        context: c.clone(),
        frame_len: 16,
        plaintext: vec![],
        message: vec![],
        expect: String::new(),
        open_with: None,
    };
    bad(
        "fail_frame_from_other_message",
        "Frame 1 taken from another message with the same plaintext.",
        &base,
        moved,
        "Authentication",
    );
    // A malicious sender: key-2's wrapped key opens to another data key, while the header tag
    // is valid under the data key that key-1 opens. Only the key commitment stops key-2's
    // holder from reading a different plaintext than key-1's holder.
    let header = Header::decode(&m[8..hdr_end], &Limits::default()).unwrap();
    let edks = header.encrypted_data_keys();
    let vp = vector_provider(Arc::new(DeterministicRandom::new(b"other")));
    let d1 = vp
        .decrypt_data_key("key-1", &edks[0].ciphertext, &c)
        .unwrap();
    let other_edk = vp
        .wrap("key-2", &SymmetricKey::from_bytes([0x33; 32]), &c)
        .unwrap();
    assert_eq!(other_edk.ciphertext.len(), edks[1].ciphertext.len());
    let at = m
        .windows(edks[1].ciphertext.len())
        .position(|w| w == &edks[1].ciphertext[..])
        .unwrap();
    let mut evil = m.clone();
    evil[at..at + other_edk.ciphertext.len()].copy_from_slice(&other_edk.ciphertext);
    let tag = spec_header_tag(
        &spec_frame_key(&d1, header.message_id(), header.suite().id()),
        &evil[..hdr_end],
    );
    evil[hdr_end..hdr_end + 16].copy_from_slice(&tag);
    assert!(decrypt(&vp.only("key-1"), &evil, &DecryptOptions::new()).is_ok());
    let v = Vector {
        key_ids: multi.key_ids.clone(),
        context: c.clone(),
        frame_len: 16,
        plaintext: vec![],
        message: evil,
        expect: "Authentication".into(),
        open_with: Some("key-2".into()),
    };
    write_vector(
        "fail_wrapped_key_opens_to_other_key",
        &v,
        "key-2's wrapped key replaced by one of another data key, header re-tagged under key-1's data key (which still opens it); opened with key-2 only.",
    );
    let mut magic = m.clone();
    magic[0] = b'X';
    bad(
        "fail_bad_magic",
        "The first magic byte changed.",
        &multi,
        magic,
        "Malformed",
    );
}

#[test]
fn vectors() {
    if std::env::var_os("COFFER_REGEN_VECTORS").is_some() {
        regenerate();
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let (mut ok, mut fail) = (0, 0);
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let v = read_vector(&std::fs::read_to_string(&path).unwrap());
        let all = vector_provider(Arc::new(SystemRandom::new()));
        let p = match &v.open_with {
            Some(k) => all.only(k),
            None => all,
        };
        let result = decrypt(&p, &v.message, &DecryptOptions::new());
        if name.starts_with("fail_") {
            assert_ne!(v.expect, "ok", "{name}");
            let err = result.expect_err(&name);
            assert_eq!(error_name(&err), v.expect, "{name}: {err:?}");
            assert!(stream_decrypt(&p, &v.message, 1000).is_err(), "{name}");
            fail += 1;
        } else {
            assert_eq!(v.expect, "ok", "{name}");
            let out = result.unwrap();
            assert_eq!(out.plaintext().expose(), &v.plaintext[..], "{name}");
            assert_eq!(out.context(), &v.context, "{name}");
            // Encrypting again with the same deterministic randomness gives the same bytes.
            let ids: Vec<&str> = v.key_ids.iter().map(String::as_str).collect();
            assert_eq!(
                hex(&make_message(&ids, &v.context, v.frame_len, &v.plaintext)),
                hex(&v.message),
                "{name}"
            );
            // Each key opens it alone.
            for id in &ids {
                assert!(decrypt(&p.only(id), &v.message, &DecryptOptions::new()).is_ok());
            }
            ok += 1;
        }
    }
    assert!(
        ok >= 4 && fail >= 10,
        "{ok} positive, {fail} negative vectors"
    );
}

// ---------------------------------------------------------------------------------------------
// In place: the caller's buffer, on one thread or several

/// Encrypts `plaintext` in a copy of itself; the message as one buffer.
fn in_place_message(
    p: &dyn DataKeyProvider,
    context: &EncryptionContext,
    plaintext: &[u8],
    o: &EncryptOptions,
) -> Vec<u8> {
    let mut body = plaintext.to_vec();
    let sealed = encrypt_in_place(p, &["k"], context, &mut body, o).unwrap();
    if plaintext.len() >= 16 {
        assert_ne!(body, plaintext, "the body was not encrypted in place");
    }
    let whole = sealed.to_vec(&body).unwrap();
    let mut written = Vec::new();
    sealed.write_to(&body, &mut written).unwrap();
    assert_eq!(whole, written);
    assert_eq!(whole.len() as u64, sealed.message_len());
    whole
}

/// Opens a copy of `msg` in place: the frames, checked against the contiguous form.
fn in_place_open(
    p: &dyn DataKeyProvider,
    msg: &[u8],
    o: &DecryptOptions,
) -> Result<Vec<u8>, EnvelopeError> {
    let mut buf = msg.to_vec();
    let opened = decrypt_in_place(p, &mut buf, o)?;
    let frames: Vec<u8> = opened.frames().flatten().copied().collect();
    let mut written = Vec::new();
    opened.write_to(&mut written).unwrap();
    assert_eq!(frames, written);
    assert_eq!(opened.plaintext_len(), frames.len());
    let contiguous = opened.into_contiguous();
    assert_eq!(&contiguous[..], &frames[..]);
    Ok(frames)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn in_place_is_the_one_shot_message_byte_for_byte_on_any_threads(
        frame_len in 1u32..40,
        len in 0usize..400,
        threads in 0usize..4,
        seed in any::<[u8; 8]>(),
    ) {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        let context = ctx(&[("a", "b")]);
        let run = |in_place: bool| {
            let rng: Arc<dyn RandomSource> = Arc::new(DeterministicRandom::new(&seed));
            let p = TestProvider::with_keys(vec![("k", SymmetricKey::from_bytes([3; 32]))], rng.clone());
            let o = opts(frame_len).with_rng(rng).with_threads(threads);
            if in_place {
                in_place_message(&p, &context, &plaintext, &o)
            } else {
                encrypt(&p, &["k"], &context, &plaintext, &o).unwrap()
            }
        };
        let msg = run(true);
        prop_assert_eq!(&msg, &run(false));
        let p = TestProvider::with_keys(vec![("k", SymmetricKey::from_bytes([3; 32]))], Arc::new(SystemRandom::new()));
        let o = DecryptOptions::new().expect_context(context.clone()).with_threads(threads);
        prop_assert_eq!(in_place_open(&p, &msg, &o).unwrap(), plaintext);
    }
}

#[test]
fn in_place_refuses_what_the_reader_refuses_and_wipes_the_body() {
    let p = TestProvider::new(&["k"]);
    let context = ctx(&[("purpose", "test")]);
    let plaintext: Vec<u8> = (0..150u32).map(|i| i as u8).collect();
    // 10 frames of 16 bytes, opened on two threads.
    let msg = in_place_message(&p, &context, &plaintext, &opts(16));
    let o = DecryptOptions::new().with_threads(2);
    assert_eq!(in_place_open(&p, &msg, &o).unwrap(), plaintext);
    let start = body_start(&msg);

    // Every single bit changed anywhere: refused, and an authentication failure leaves no
    // plaintext behind in the buffer.
    for at in 0..msg.len() {
        for bit in 0..8 {
            let mut bad = msg.clone();
            bad[at] ^= 1 << bit;
            let mut buf = bad.clone();
            match decrypt_in_place(&p, &mut buf, &o) {
                Ok(_) => panic!("byte {at} bit {bit} accepted"),
                Err(EnvelopeError::Authentication) if at >= start => {
                    assert!(buf[start..].iter().all(|b| *b == 0), "byte {at}: not wiped");
                }
                Err(_) => assert!(stream_decrypt(&p, &bad, 64).is_err()),
            }
        }
    }
    // Cut anywhere: refused.
    for cut in 0..msg.len() {
        assert!(in_place_open(&p, &msg[..cut], &o).is_err(), "cut at {cut}");
    }
    // The final frame dropped: truncated.
    let f = frames(&msg, 16);
    let (last_start, _) = *f.last().unwrap();
    assert!(matches!(
        in_place_open(&p, &msg[..last_start], &o),
        Err(EnvelopeError::Truncated)
    ));
    // Anything after the final frame.
    let mut longer = msg.clone();
    longer.push(0);
    assert!(matches!(
        in_place_open(&p, &longer, &o),
        Err(EnvelopeError::TrailingData)
    ));
    // Two frames swapped: their nonces no longer match their places.
    let mut swapped = msg[..f[1].0].to_vec();
    swapped.extend_from_slice(&msg[f[2].0..f[2].1]);
    swapped.extend_from_slice(&msg[f[1].0..f[1].1]);
    swapped.extend_from_slice(&msg[f[2].1..]);
    assert_eq!(swapped.len(), msg.len());
    assert!(matches!(
        in_place_open(&p, &swapped, &o),
        Err(EnvelopeError::Authentication)
    ));
    // The context and the frame-count bound, as the reader applies them.
    let wrong = DecryptOptions::new().expect_context(ctx(&[("purpose", "other")]));
    assert!(matches!(
        in_place_open(&p, &msg, &wrong),
        Err(EnvelopeError::ContextMismatch)
    ));
    let few = DecryptOptions::new().with_limits(Limits::default().with_max_frames(3));
    assert!(matches!(
        in_place_open(&p, &msg, &few),
        Err(EnvelopeError::LimitExceeded {
            limit: Limit::FrameCount,
            ..
        })
    ));
}

#[test]
fn in_place_messages_need_their_own_body() {
    let p = TestProvider::new(&["k"]);
    let mut body = vec![1u8; 100];
    let sealed = encrypt_in_place(&p, &["k"], &ctx(&[]), &mut body, &opts(32)).unwrap();
    assert!(matches!(
        sealed.to_vec(&body[..99]),
        Err(EnvelopeError::InvalidArgument(
            coffer_envelope::InvalidArgument::BodyLength
        ))
    ));
    let shown = format!("{sealed:?}");
    assert!(shown.contains("body_len: 100"), "{shown}");
}

#[test]
fn large_message_on_every_core_opens_with_the_streaming_reader() {
    let p = TestProvider::new(&["k"]);
    let plaintext: Vec<u8> = (0..(3 << 20) + 5).map(|i: usize| (i % 251) as u8).collect();
    let o = EncryptOptions::new().with_threads(0);
    let msg = in_place_message(&p, &ctx(&[]), &plaintext, &o);
    assert_eq!(stream_decrypt(&p, &msg, 1 << 16).unwrap(), plaintext);
    let opened = in_place_open(&p, &msg, &DecryptOptions::new().with_threads(0)).unwrap();
    assert_eq!(opened, plaintext);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// One-shot `decrypt` (its own path on one thread, `decrypt_in_place` on several) gives
    /// exactly what `decrypt_in_place` gives for any message changed anywhere: the same
    /// plaintext, or the same error; the streaming reader refuses the same messages.
    #[test]
    fn one_shot_decrypt_agrees_with_in_place_on_any_change(
        frame_len in 1u32..40,
        len in 0usize..200,
        threads in 1usize..3,
        edits in proptest::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        let p = TestProvider::new(&["k"]);
        let context = ctx(&[("purpose", "test")]);
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
        let mut msg = encrypt(&p, &["k"], &context, &plaintext, &opts(frame_len)).unwrap();
        let unchanged = edits.is_empty();
        for (kind, at, b) in edits {
            if msg.is_empty() {
                // An earlier edit cut it all away: nothing left to change.
                break;
            }
            let i = at.index(msg.len());
            match kind {
                0 => msg[i] ^= b | 1,
                1 => msg.insert(i, b),
                2 => { msg.remove(i); }
                _ => msg.truncate(i),
            }
        }
        let o = DecryptOptions::new().with_threads(threads);
        let one_shot = decrypt(&p, &msg, &o).map(|d| d.plaintext().expose().to_vec());
        let in_place = in_place_open(&p, &msg, &o);
        match (&one_shot, &in_place) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(a, &plaintext);
            }
            (Err(a), Err(b)) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}")),
            _ => prop_assert!(false, "one-shot {:?} / in place {:?}", one_shot.is_ok(), in_place.is_ok()),
        }
        if unchanged {
            prop_assert!(one_shot.is_ok());
        }
        prop_assert_eq!(one_shot.is_ok(), stream_decrypt(&p, &msg, 64).is_ok());
    }
}
