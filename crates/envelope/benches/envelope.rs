//! Envelope encryption against raw ring AES-256-GCM over the same bytes, in the same run.
//!
//! - `one_shot_1KiB/*`: `encrypt` / `decrypt` of 1 KiB with the data key served from a
//!   `CachingProvider` (target: encrypt under 3 µs), beside one raw AES-256-GCM seal / open of
//!   1 KiB under a pre-expanded key.
//! - `stream_64MiB/*` and `stream_8MiB/*`: `EncryptingWriter` into `io::sink()` and
//!   `DecryptingReader` from memory, 64 KiB frames (target: encryption at least 0.9 of raw
//!   throughput), beside raw AES-256-GCM over the same bytes in 64 KiB chunks, sealed in place
//!   (no copy: the input is destroyed) and copied then sealed (what any `io::Write` encryptor
//!   over a borrowed input must do). 8 MiB stays in the last-level cache; 64 MiB does not.
//! - `in_place_64MiB/*`: `encrypt_in_place` and `decrypt_in_place` of 64 MiB (64 KiB frames) on
//!   the calling thread and on every core, beside raw AES-256-GCM sealing and opening the same
//!   bytes in place in 64 KiB chunks on one core (targets: ≥ 0.9 of raw on one thread, ≥ 1.6 ×
//!   raw on two cores). Opening destroys its input, so each opening iteration gets a fresh
//!   copy of the ciphertext outside the measured time.
// Bench code: a failed unwrap is a failed check, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use coffer_core::{EncryptionContext, SystemClock};
use coffer_crypto::aead::{self, Nonce};
use coffer_crypto::{SymmetricKey, SystemRandom};
use coffer_envelope::{
    decrypt, decrypt_in_place, encrypt, encrypt_in_place, CacheLimits, CachingProvider,
    DataKeyProvider, DecryptOptions, DecryptingReader, EncryptOptions, EncryptedDataKey,
    EncryptingWriter, GeneratedDataKey, ProviderError,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ring::aead::{Aad, LessSafeKey, Nonce as RingNonce, UnboundKey, AES_256_GCM};

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const FRAME: usize = 64 << 10;

/// A local stand-in for the KMS: wraps data keys with AES-256-GCM under one key.
struct LocalProvider(SymmetricKey);

impl DataKeyProvider for LocalProvider {
    fn generate_data_key(
        &self,
        key_id: &str,
        ctx: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        let data_key = SymmetricKey::generate(&SystemRandom::new()).unwrap();
        let encrypted = self.encrypt_data_key(key_id, &data_key, ctx)?;
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
        let nonce = Nonce::random(&SystemRandom::new()).unwrap();
        let mut blob = nonce.as_bytes().to_vec();
        blob.extend(
            aead::seal(&self.0, &nonce, &ctx.canonical_bytes(), data_key.expose()).unwrap(),
        );
        Ok(EncryptedDataKey::new(key_id, blob))
    }

    fn decrypt_data_key(
        &self,
        _key_id: &str,
        ct: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        let nonce = Nonce::from_bytes(ct[..12].try_into().unwrap());
        let pt = aead::open(&self.0, &nonce, &ctx.canonical_bytes(), &ct[12..])
            .map_err(|_| ProviderError::new("InvalidCiphertextException", ""))?;
        Ok(SymmetricKey::from_slice(pt.expose()).unwrap())
    }
}

fn ring_key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9u8; 32]).unwrap())
}

fn one_shot(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let provider = CachingProvider::new(
        LocalProvider(SymmetricKey::from_bytes([1; 32])),
        CacheLimits::new(16, Duration::from_secs(300)).with_max_messages(1 << 30),
        Arc::new(SystemClock),
    );
    let mut ctx = EncryptionContext::new();
    ctx.insert("purpose", "bench");
    let plaintext = vec![0x61u8; 1024];
    let opts = EncryptOptions::new();
    let message = encrypt(&provider, &[KEY_ARN], &ctx, &plaintext, &opts).unwrap();
    let dopts = DecryptOptions::new();
    decrypt(&provider, &message, &dopts).unwrap();

    let mut g = c.benchmark_group("one_shot_1KiB");
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("envelope_encrypt_cached_key", |b| {
        b.iter(|| encrypt(&provider, &[KEY_ARN], &ctx, black_box(&plaintext), &opts).unwrap())
    });
    g.bench_function("envelope_decrypt_cached_key", |b| {
        b.iter(|| decrypt(&provider, black_box(&message), &dopts).unwrap())
    });
    let key = ring_key();
    g.bench_function("raw_ring_aes256gcm_seal", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&n.to_be_bytes());
            let mut buf = black_box(&plaintext).clone();
            key.seal_in_place_append_tag(
                RingNonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut buf,
            )
            .unwrap();
            buf
        })
    });
    let mut sealed = plaintext.clone();
    key.seal_in_place_append_tag(
        RingNonce::assume_unique_for_key([0; 12]),
        Aad::empty(),
        &mut sealed,
    )
    .unwrap();
    g.bench_function("raw_ring_aes256gcm_open", |b| {
        b.iter(|| {
            let mut buf = black_box(&sealed).clone();
            let n = key
                .open_in_place(
                    RingNonce::assume_unique_for_key([0; 12]),
                    Aad::empty(),
                    &mut buf,
                )
                .unwrap()
                .len();
            buf.truncate(n);
            buf
        })
    });
    g.finish();
}

fn streaming(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    stream_group(c, "stream_64MiB", 64 << 20);
    stream_group(c, "stream_8MiB", 8 << 20);
}

fn stream_group(c: &mut Criterion, name: &str, len: usize) {
    let provider = LocalProvider(SymmetricKey::from_bytes([2; 32]));
    let ctx = EncryptionContext::new();
    let data = vec![0x5Au8; len];
    let opts = EncryptOptions::new();
    let mut message = Vec::with_capacity(len + len / 1000 + 1024);
    {
        let mut w =
            EncryptingWriter::new(&provider, &[KEY_ARN], &ctx, &opts, &mut message).unwrap();
        w.write_all(&data).unwrap();
        w.finish().unwrap();
    }

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(len as u64));
    g.sample_size(10);
    g.bench_function("envelope_encrypt_to_sink", |b| {
        b.iter(|| {
            let mut w =
                EncryptingWriter::new(&provider, &[KEY_ARN], &ctx, &opts, io::sink()).unwrap();
            w.write_all(black_box(&data)).unwrap();
            w.finish().unwrap();
        })
    });
    let key = ring_key();
    // Baseline 1: seal the input in place, 64 KiB at a time (destroys the input: no copy).
    let mut buf = data.clone();
    g.bench_function("raw_ring_aes256gcm_in_place_64KiB_chunks", |b| {
        b.iter(|| {
            let mut sink = io::sink();
            for (i, chunk) in buf.chunks_mut(FRAME).enumerate() {
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
                let tag = key
                    .seal_in_place_separate_tag(
                        RingNonce::assume_unique_for_key(nonce),
                        Aad::empty(),
                        chunk,
                    )
                    .unwrap();
                sink.write_all(chunk).unwrap();
                sink.write_all(tag.as_ref()).unwrap();
            }
        })
    });
    // Baseline 2: what any `io::Write` encryptor over ring must do with a borrowed input:
    // copy each 64 KiB chunk into a buffer, seal it there.
    g.bench_function("raw_ring_aes256gcm_copy_and_seal_64KiB_chunks", |b| {
        let mut frame = Vec::with_capacity(FRAME + 16);
        b.iter(|| {
            let mut sink = io::sink();
            for (i, chunk) in black_box(&data).chunks(FRAME).enumerate() {
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
                frame.clear();
                frame.extend_from_slice(chunk);
                key.seal_in_place_append_tag(
                    RingNonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    &mut frame,
                )
                .unwrap();
                sink.write_all(&frame).unwrap();
            }
        })
    });
    let dopts = DecryptOptions::new();
    g.bench_function("envelope_decrypt_from_memory", |b| {
        let mut out = vec![0u8; FRAME];
        b.iter(|| {
            let mut r = DecryptingReader::new(&provider, black_box(&message[..]), &dopts).unwrap();
            let mut total = 0usize;
            loop {
                let n = r.read(&mut out).unwrap();
                if n == 0 {
                    break;
                }
                total += n;
            }
            assert_eq!(total, len);
        })
    });
    g.finish();
}

fn chunk_nonce(i: usize) -> RingNonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
    RingNonce::assume_unique_for_key(nonce)
}

fn in_place(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let len = 64 << 20;
    let provider = LocalProvider(SymmetricKey::from_bytes([2; 32]));
    let ctx = EncryptionContext::new();
    let key = ring_key();
    let mut g = c.benchmark_group("in_place_64MiB");
    g.throughput(Throughput::Bytes(len as u64));
    g.sample_size(10);
    let mut buf = vec![0x5Au8; len];
    g.bench_function("raw_ring_aes256gcm_seal_in_place_64KiB_chunks", |b| {
        b.iter(|| {
            let mut sink = io::sink();
            for (i, chunk) in buf.chunks_mut(FRAME).enumerate() {
                let tag = key
                    .seal_in_place_separate_tag(chunk_nonce(i), Aad::empty(), chunk)
                    .unwrap();
                sink.write_all(chunk).unwrap();
                sink.write_all(tag.as_ref()).unwrap();
            }
        })
    });
    for (name, threads) in [("1_thread", 1), ("all_cores", 0)] {
        let opts = EncryptOptions::new().with_threads(threads);
        g.bench_function(format!("envelope_encrypt_in_place_{name}"), |b| {
            b.iter(|| {
                let sealed =
                    encrypt_in_place(&provider, &[KEY_ARN], &ctx, &mut buf, &opts).unwrap();
                sealed.write_to(&buf, &mut io::sink()).unwrap();
            })
        });
    }
    // Raw opening: 64 KiB chunks, each followed by its tag.
    let mut sealed_chunks = Vec::with_capacity(len + len / FRAME * 16);
    for (i, chunk) in vec![0x5Au8; len].chunks(FRAME).enumerate() {
        let start = sealed_chunks.len();
        sealed_chunks.extend_from_slice(chunk);
        let tag = key
            .seal_in_place_separate_tag(chunk_nonce(i), Aad::empty(), &mut sealed_chunks[start..])
            .unwrap();
        sealed_chunks.extend_from_slice(tag.as_ref());
    }
    g.bench_function("raw_ring_aes256gcm_open_in_place_64KiB_chunks", |b| {
        b.iter_batched_ref(
            || sealed_chunks.clone(),
            |ct| {
                for (i, chunk) in ct.chunks_mut(FRAME + 16).enumerate() {
                    let pt = key
                        .open_in_place(chunk_nonce(i), Aad::empty(), chunk)
                        .unwrap();
                    black_box(pt);
                }
            },
            BatchSize::LargeInput,
        )
    });
    let mut plain = vec![0x5Au8; len];
    let message = encrypt_in_place(
        &provider,
        &[KEY_ARN],
        &ctx,
        &mut plain,
        &EncryptOptions::new(),
    )
    .unwrap()
    .to_vec(&plain)
    .unwrap();
    for (name, threads) in [("1_thread", 1), ("all_cores", 0)] {
        let opts = DecryptOptions::new().with_threads(threads);
        g.bench_function(format!("envelope_decrypt_in_place_{name}"), |b| {
            b.iter_batched_ref(
                || message.clone(),
                |m| {
                    let opened = decrypt_in_place(&provider, m, &opts).unwrap();
                    assert_eq!(opened.plaintext_len(), len);
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, one_shot, streaming, in_place);
criterion_main!(benches);
