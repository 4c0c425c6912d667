#![no_main]
//! The grant-token parser: never panics, accepts nothing it did not mint, and what it mints it
//! reads back.
use coffer_crypto::SymmetricKey;
use coffer_grants::GrantTokens;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tokens = GrantTokens::new(SymmetricKey::from_bytes([7u8; 32]));
    if let Ok(s) = std::str::from_utf8(data) {
        assert!(tokens.verify(s).is_err() || s.len() > 64);
    }
    let id: String = data.iter().take(64).map(|b| format!("{b:02x}")).collect();
    let key = coffer_core::KeyId::from_bytes([1u8; 16]);
    let minted = tokens.mint(&id, &key);
    assert_eq!(tokens.verify(&minted), Ok((id, key)));
});
