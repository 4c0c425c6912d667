#![no_main]
//! The ciphertext-blob parser: never panics, and what it accepts serializes back to the same
//! bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(blob) = coffer_keys::blob::parse(data) {
        assert_eq!(blob.to_bytes(), data);
    }
});
