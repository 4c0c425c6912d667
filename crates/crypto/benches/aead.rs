//! coffer's AES-256-GCM (`coffer_crypto::aead`, AWS-LC) beside ring's, and the public
//! randomness pool's refill from AWS-LC's DRBG beside the same 4 KiB from the kernel, in one run:
//! the measurements behind moving the AEAD and the pool off ring (BENCHMARKS.md, eleventh
//! session).
//!
//! `cargo bench -p coffer-crypto --bench aead -- --warm-up-time 1 --measurement-time 2`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use coffer_crypto::aead::{Aes256Gcm, Nonce};
use coffer_crypto::{RandomSource, SymmetricKey, SystemRandom, PUBLIC_POOL_LEN};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ring::aead::{Aad, LessSafeKey, Nonce as RingNonce, UnboundKey, AES_256_GCM};
use ring::rand::SecureRandom;

const KEY: [u8; 32] = [7; 32];

fn ring_key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEY).unwrap())
}

fn aead(c: &mut Criterion) {
    let ours = Aes256Gcm::new(&SymmetricKey::from_bytes(KEY)).unwrap();
    let theirs = ring_key();
    let nonce = [9u8; 12];
    // (name, additional data, plaintext): an envelope header's tag (its CBOR header as AAD,
    // nothing encrypted), a KMS blob of 1 KiB (ARN, version and a two-pair context as AAD), a
    // 64 KiB envelope frame.
    let cases: [(&str, usize, usize); 3] = [
        ("header_tag_aad300", 300, 0),
        ("blob_aad117_1KiB", 117, 1024),
        ("frame_64KiB", 0, 64 << 10),
    ];
    for (name, aad_len, pt_len) in cases {
        let aad = vec![3u8; aad_len];
        let mut buf = vec![1u8; pt_len];
        let mut g = c.benchmark_group(format!("aes256gcm_seal/{name}"));
        g.bench_function("ring", |b| {
            b.iter(|| {
                theirs
                    .seal_in_place_separate_tag(
                        RingNonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        &mut buf,
                    )
                    .unwrap()
            })
        });
        g.bench_function("coffer_aws_lc", |b| {
            b.iter(|| {
                ours.seal_slice(&Nonce::from_bytes(nonce), &aad, &mut buf)
                    .unwrap()
            })
        });
        g.finish();
    }
    // A KMS blob as the facade seals it: a key used once (set up, seal 1 KiB under 117 bytes
    // of additional data, dropped).
    let aad = vec![3u8; 117];
    let mut buf = vec![1u8; 1024];
    let mut g = c.benchmark_group("aes256gcm_one_off_blob_1KiB");
    g.bench_function("ring", |b| {
        b.iter(|| {
            ring_key()
                .seal_in_place_separate_tag(
                    RingNonce::assume_unique_for_key(nonce),
                    Aad::from(&aad[..]),
                    &mut buf,
                )
                .unwrap()
        })
    });
    let key = SymmetricKey::from_bytes(KEY);
    g.bench_function("coffer_aws_lc", |b| {
        b.iter(|| {
            Aes256Gcm::new(&key)
                .unwrap()
                .seal_slice(&Nonce::from_bytes(nonce), &aad, &mut buf)
                .unwrap()
        })
    });
    g.finish();
    let mut g = c.benchmark_group("aes256gcm_key_setup");
    g.bench_function("ring", |b| b.iter(|| black_box(ring_key())));
    g.bench_function("coffer_aws_lc", |b| {
        b.iter(|| black_box(Aes256Gcm::new(black_box(&key)).unwrap()))
    });
    g.finish();
}

fn randomness(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let mut g = c.benchmark_group("public_pool_refill_4KiB");
    let mut buf = vec![0u8; PUBLIC_POOL_LEN];
    let kernel = ring::rand::SystemRandom::new();
    g.bench_function("getrandom_via_ring", |b| {
        b.iter(|| kernel.fill(&mut buf).unwrap())
    });
    g.bench_function("aws_lc_drbg", |b| {
        b.iter(|| aws_lc_rs::rand::fill(&mut buf).unwrap())
    });
    g.finish();
    // One 44-byte salt and nonce as the facade draws it, the pool's refills included.
    let rng = SystemRandom::new();
    let mut salt_nonce = [0u8; 44];
    c.bench_function("fill_public_44", |b| {
        b.iter(|| rng.fill_public(&mut salt_nonce).unwrap())
    });
    c.bench_function("aws_lc_drbg_44", |b| {
        b.iter(|| aws_lc_rs::rand::fill(&mut salt_nonce).unwrap())
    });
    c.bench_function("getpid", |b| b.iter(|| black_box(std::process::id())));
}

criterion_group!(benches, aead, randomness);
criterion_main!(benches);
