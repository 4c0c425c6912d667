#![no_main]
//! Envelope frame parsing. The first byte picks a mode:
//! - 0: the rest is a body after a valid header; one-shot and streaming decryption must agree.
//! - 1: the rest is plaintext (next byte: frame length); encrypt, streamed encrypt and decrypt
//!   must round-trip and agree byte for byte.
//! - otherwise: the rest is a whole message; decryption must not panic.
use std::io::{Read, Write};
use std::sync::Arc;

use coffer_core::EncryptionContext;
use coffer_crypto::{CryptoError, RandomSource, SymmetricKey};
use coffer_envelope::{
    decrypt, encrypt, DataKeyProvider, DecryptOptions, DecryptingReader, EncryptOptions,
    EncryptedDataKey, EncryptingWriter, GeneratedDataKey, ProviderError,
};
use libfuzzer_sys::fuzz_target;

/// Deterministic "randomness" so that runs reproduce.
struct Counter(std::sync::atomic::AtomicU8);

impl RandomSource for Counter {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        dest.fill(n);
        Ok(())
    }
}

/// Every wrapped key opens to one fixed data key.
struct Fixed;

impl DataKeyProvider for Fixed {
    fn generate_data_key(
        &self,
        key_id: &str,
        _: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        Ok(GeneratedDataKey {
            data_key: SymmetricKey::from_bytes([7; 32]),
            encrypted: EncryptedDataKey::new(key_id, vec![1; 8]),
        })
    }
    fn encrypt_data_key(
        &self,
        key_id: &str,
        _: &SymmetricKey,
        _: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        Ok(EncryptedDataKey::new(key_id, vec![2; 8]))
    }
    fn decrypt_data_key(
        &self,
        _: &str,
        _: &[u8],
        _: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        Ok(SymmetricKey::from_bytes([7; 32]))
    }
}

fn options(frame_len: u32) -> EncryptOptions {
    EncryptOptions::new()
        .with_frame_len(frame_len)
        .with_rng(Arc::new(Counter(Default::default())))
}

fn both(message: &[u8]) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let d = DecryptOptions::new();
    let one = decrypt(&Fixed, message, &d)
        .ok()
        .map(|p| p.plaintext().expose().to_vec());
    let streamed = DecryptingReader::new(&Fixed, message, &d).ok().and_then(|mut r| {
        let mut out = Vec::new();
        r.read_to_end(&mut out).ok().map(|_| out)
    });
    (one, streamed)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ctx = EncryptionContext::new();
    match mode {
        0 => {
            let valid = encrypt(&Fixed, &["k"], &ctx, b"", &options(16)).unwrap();
            let header_len = u32::from_be_bytes(valid[4..8].try_into().unwrap()) as usize;
            let mut message = valid[..8 + header_len + 16].to_vec();
            message.extend_from_slice(rest);
            let (one, streamed) = both(&message);
            assert_eq!(one, streamed);
        }
        1 => {
            let Some((&fl, plaintext)) = rest.split_first() else {
                return;
            };
            let frame_len = u32::from(fl % 64) + 1;
            let message = encrypt(&Fixed, &["k"], &ctx, plaintext, &options(frame_len)).unwrap();
            let mut w =
                EncryptingWriter::new(&Fixed, &["k"], &ctx, &options(frame_len), Vec::new())
                    .unwrap();
            for chunk in plaintext.chunks(7) {
                w.write_all(chunk).unwrap();
            }
            assert_eq!(w.finish().unwrap(), message);
            let (one, streamed) = both(&message);
            assert_eq!(one.as_deref(), Some(plaintext));
            assert_eq!(streamed.as_deref(), Some(plaintext));
        }
        _ => {
            let (one, streamed) = both(rest);
            assert_eq!(one, streamed);
        }
    }
});
