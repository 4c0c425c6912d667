//! A secret sealed under the data dir's sealing key: `base64(nonce ‖ ciphertext ‖ tag)` of
//! coffer-crypto's AES-256-GCM, the entry's non-secret fields as associated data.

use base64::Engine;
use coffer_crypto::{aead, RandomSource, SecretBytes, SymmetricKey};

/// Seals `secret` under `key` with a fresh nonce, bound to `aad`.
pub(crate) fn seal(
    key: &SymmetricKey,
    rng: &dyn RandomSource,
    aad: &[u8],
    secret: &[u8],
) -> Result<String, &'static str> {
    let nonce = aead::Nonce::random(rng).map_err(|_| "random source")?;
    let ct = aead::seal(key, &nonce, aad, secret).map_err(|_| "seal")?;
    let mut blob = Vec::with_capacity(aead::NONCE_LEN + ct.len());
    blob.extend_from_slice(nonce.as_bytes());
    blob.extend_from_slice(&ct);
    Ok(base64::engine::general_purpose::STANDARD.encode(blob))
}

/// Opens what [`seal`] made; fails if `aad` is not the one it was sealed with.
pub(crate) fn open(
    key: &SymmetricKey,
    aad: &[u8],
    sealed: &str,
) -> Result<SecretBytes, &'static str> {
    let blob = base64::engine::general_purpose::STANDARD
        .decode(sealed.as_bytes())
        .map_err(|_| "sealed_secret")?;
    let (nonce, ct) = blob
        .split_first_chunk::<{ aead::NONCE_LEN }>()
        .ok_or("sealed_secret")?;
    aead::open(key, &aead::Nonce::from_bytes(*nonce), aad, ct).map_err(|_| {
        "a sealed secret does not open: the entry was altered, or the data dir's sealing key \
         is not the one it was sealed with"
    })
}
