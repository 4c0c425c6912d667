//! Properties of the ESDK message format: every single-byte change to a valid message (made by
//! the Python ESDK or by coffer) is refused; arbitrary bytes never panic the parser or the
//! decryptor (the body of fuzz/fuzz_targets/esdk_message.rs); any plaintext round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use coffer_core::EncryptionContext;
use coffer_crypto::SymmetricKey;
use coffer_envelope::esdk::{
    self, EsdkDecryptOptions, EsdkEncryptOptions, EsdkHeader, EsdkSuite, RawAesKeyring,
};
use proptest::prelude::*;

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

/// Every committed message (all open with key-a).
fn messages() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/esdk_vectors");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "esdk"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert_eq!(out.len(), 21);
    out
}

#[test]
fn every_message_opens_unchanged() {
    for (name, m) in messages() {
        esdk::decrypt(&key_a(), &m, &opts_for(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn flipping_the_low_bit_of_any_byte_is_refused() {
    // Exhaustive over positions; the proptest below covers every other change of a byte.
    let ring = key_a();
    for (name, m) in messages() {
        let o = opts_for(&name);
        for i in 0..m.len() {
            {
                let x = 0x01u8;
                let mut t = m.clone();
                t[i] ^= x;
                assert!(
                    esdk::decrypt(&ring, &t, &o).is_err(),
                    "{name}: byte {i} ^ {x:#04x} accepted"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_single_byte_change_is_refused(which in 0usize..21, at in any::<prop::sample::Index>(), x in 1u8..=255) {
        let all = messages();
        let (name, m) = &all[which];
        let i = at.index(m.len());
        let mut t = m.clone();
        t[i] ^= x;
        prop_assert!(esdk::decrypt(&key_a(), &t, &opts_for(name)).is_err(), "{}: byte {} ^ {:#04x}", name, i, x);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        fuzz_body(&data);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_prefix_never_panic(cut in any::<prop::sample::Index>(), tail in prop::collection::vec(any::<u8>(), 0..200)) {
        let m = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/esdk_vectors/framed_0478.esdk")).unwrap();
        let mut data = m[..cut.index(m.len())].to_vec();
        data.extend_from_slice(&tail);
        fuzz_body(&data);
    }
}

/// The body of the fuzz target.
fn fuzz_body(data: &[u8]) {
    let options = EsdkDecryptOptions::new();
    if let Ok((header, len)) = EsdkHeader::parse(data, &options) {
        assert!(len <= data.len());
        let bytes = header.to_bytes().expect("a parsed header serializes");
        let (again, again_len) = EsdkHeader::parse(&bytes, &options).expect("re-parses");
        assert_eq!(again, header);
        assert_eq!(again_len, bytes.len());
    }
    let keyring = RawAesKeyring::new("fuzz", "key", SymmetricKey::from_bytes([3; 32]));
    assert!(esdk::decrypt(&keyring, data, &options).is_err());
    let frame = u32::from(data.first().copied().unwrap_or(0)) + 1;
    let suite = if data.len() % 2 == 0 {
        EsdkSuite::Aes256GcmHkdfSha512CommitKey
    } else {
        EsdkSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384
    };
    let mut ctx = EncryptionContext::new();
    ctx.insert("fuzz", "esdk");
    let message = esdk::encrypt(
        &keyring,
        &ctx,
        data,
        &EsdkEncryptOptions::new()
            .with_suite(suite)
            .with_frame_len(frame),
    )
    .expect("encrypts");
    let opened = esdk::decrypt(&keyring, &message, &options).expect("decrypts");
    assert_eq!(opened.plaintext().expose(), data);
}
