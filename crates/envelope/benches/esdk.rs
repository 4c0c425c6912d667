//! AWS Encryption SDK messages (`coffer_envelope::esdk`, message format v2) beside raw ring
//! AES-256-GCM over the same bytes and beside the AWS Encryption SDK for Python, in the same run.
//!
//! - `esdk_1KiB_<suite>/*`: one message of 1 KiB, encrypt and decrypt, under a raw AES-256
//!   keyring (no KMS: the data key is wrapped locally, as the Python side does), beside one raw
//!   AES-256-GCM seal of 1 KiB under a pre-expanded key.
//! - `esdk_64MiB_<suite>/*`: one message of 64 MiB in 4096-byte frames (the ESDK's default),
//!   beside raw AES-256-GCM sealing the same bytes in place in 4096-byte chunks.
//! - Then, when a Python with the AWS Encryption SDK is found (`COFFER_ESDK_PYTHON`, else
//!   `/tmp/esdkvenv/bin/python`), `tests/clients/esdk_bench.py` times the Python SDK on the same
//!   cases and its lines are printed after criterion's.
//!
//! Suites: 0x0478 (no signature) and 0x0578 (ECDSA P-384: a key pair generated, and the whole
//! message hashed and signed, per message).
// Bench code: a failed unwrap is a failed check, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use coffer_core::EncryptionContext;
use coffer_crypto::SymmetricKey;
use coffer_envelope::esdk::{
    self, EsdkDecryptOptions, EsdkEncryptOptions, EsdkSuite, RawAesKeyring,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ring::aead::{Aad, LessSafeKey, Nonce as RingNonce, UnboundKey, AES_256_GCM};

const FRAME: usize = 4096;

fn suites() -> [(&'static str, EsdkSuite); 2] {
    [
        ("0478", EsdkSuite::Aes256GcmHkdfSha512CommitKey),
        ("0578", EsdkSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384),
    ]
}

fn ring_key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9u8; 32]).unwrap())
}

fn raw_seal_chunks(key: &LessSafeKey, buf: &mut [u8], chunk: usize) {
    for (i, c) in buf.chunks_mut(chunk).enumerate() {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(RingNonce::assume_unique_for_key(nonce), Aad::empty(), c)
            .unwrap();
        let _ = black_box(tag);
    }
}

fn esdk(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let keyring = RawAesKeyring::new(
        "coffer-esdk-vectors",
        "key-a",
        SymmetricKey::from_bytes([7; 32]),
    );
    let mut ctx = EncryptionContext::new();
    ctx.insert("purpose", "bench");
    let raw = ring_key();
    for (size_name, size) in [("1KiB", 1024usize), ("64MiB", 64 << 20)] {
        let plaintext: Vec<u8> = (0..size).map(|i| (i * 131 % 253) as u8).collect();
        for (suite_name, suite) in suites() {
            let options = EsdkEncryptOptions::new()
                .with_suite(suite)
                .with_frame_len(FRAME as u32);
            let message = esdk::encrypt(&keyring, &ctx, &plaintext, &options).unwrap();
            let dopts = EsdkDecryptOptions::new();
            let mut g = c.benchmark_group(format!("esdk_{size_name}_{suite_name}"));
            g.throughput(Throughput::Bytes(size as u64));
            if size > FRAME * 16 {
                g.sample_size(10);
            }
            g.bench_function("coffer_encrypt", |b| {
                b.iter(|| esdk::encrypt(&keyring, &ctx, black_box(&plaintext), &options).unwrap())
            });
            g.bench_function("coffer_decrypt", |b| {
                b.iter(|| esdk::decrypt(&keyring, black_box(&message), &dopts).unwrap())
            });
            g.bench_function("raw_ring_aes256gcm_seal_4KiB_chunks", |b| {
                let mut buf = plaintext.clone();
                b.iter(|| raw_seal_chunks(&raw, black_box(&mut buf), FRAME))
            });
            g.finish();
        }
    }
    python_side();
}

/// The Python SDK on the same cases, when it is installed.
#[allow(clippy::print_stdout)] // the Python figures are this bench's output too
fn python_side() {
    let python = std::env::var("COFFER_ESDK_PYTHON").ok().or_else(|| {
        let p = "/tmp/esdkvenv/bin/python";
        Path::new(p).exists().then(|| p.to_owned())
    });
    let Some(python) = python else {
        println!(
            "python-esdk: not run (set COFFER_ESDK_PYTHON to a Python with aws-encryption-sdk)"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/esdk_bench.py");
    match Command::new(&python).arg(&script).output() {
        Ok(o) if o.status.success() => print!("{}", String::from_utf8_lossy(&o.stdout)),
        Ok(o) => println!(
            "python-esdk: failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => println!("python-esdk: could not run {python}: {e}"),
    }
}

criterion_group!(benches, esdk);
criterion_main!(benches);
