#![no_main]
//! The canonical encryption-context decoder: never panics, and what it accepts re-encodes to the
//! same bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ctx) = coffer_core::EncryptionContext::from_canonical_bytes(data) {
        assert_eq!(ctx.canonical_bytes(), data);
    }
});
