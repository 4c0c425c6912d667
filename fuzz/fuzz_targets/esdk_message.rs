#![no_main]
//! The AWS Encryption SDK message format v2 (coffer_envelope::esdk): the header parser never
//! panics and what it accepts re-serializes to a header that parses back the same; whole-message
//! decryption of arbitrary bytes never panics and never succeeds (no keyring holds a key for
//! them); and the input taken as plaintext round-trips through both suites.
use coffer_core::EncryptionContext;
use coffer_crypto::SymmetricKey;
use coffer_envelope::esdk::{
    self, EsdkDecryptOptions, EsdkEncryptOptions, EsdkHeader, EsdkSuite, RawAesKeyring,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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

    // Round trip of the input as plaintext, with a frame length from its first byte.
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
        &EsdkEncryptOptions::new().with_suite(suite).with_frame_len(frame),
    )
    .expect("encrypts");
    let opened = esdk::decrypt(&keyring, &message, &options).expect("decrypts");
    assert_eq!(opened.plaintext().expose(), data);
});
