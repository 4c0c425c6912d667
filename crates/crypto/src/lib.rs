//! Cryptographic primitives for coffer, and the only crate that calls `ring`.
//!
//! Everything above this crate sees secrets through [`SecretBytes`] and [`SymmetricKey`]: zeroized on
//! drop, printed as `[redacted]`, never `Display`. Failures are opaque ([`CryptoError`]): an AEAD
//! failure says nothing about why, so no oracle can be built from it.
//!
//! ```
//! use coffer_crypto::{aead, RandomSource, SymmetricKey, SystemRandom};
//! let rng = SystemRandom::new();
//! let key = SymmetricKey::generate(&rng)?;
//! let nonce = aead::Nonce::random(&rng)?;
//! let sealed = aead::seal(&key, &nonce, b"header", b"secret")?;
//! assert_eq!(aead::open(&key, &nonce, b"header", &sealed)?.expose(), b"secret");
//! # Ok::<(), coffer_crypto::CryptoError>(())
//! ```
#![forbid(unsafe_code)]

pub mod aead;
mod argon;
pub mod asym;
mod ct;
mod error;
mod hash;
pub mod hex;
mod kdf;
pub mod keywrap;
mod mac;
mod random;
mod secret;
mod sign;
#[cfg(feature = "testing")]
pub mod testing;

pub use argon::{derive_key_argon2id, Argon2Params};
pub use ct::constant_time_eq;
pub use error::CryptoError;
pub use hash::{sha256, Sha256, SHA256_LEN};
pub use kdf::{hkdf_sha256, hkdf_sha256_each, HkdfPrk};
pub use mac::{hmac_sha256, hmac_sha256_bytes, hmac_sign, HmacAlgorithm};
pub use random::{
    public_drbg, warm_up_public_drbg, warm_up_public_drbg_in_background, PublicDrbg, RandomSource,
    SystemRandom, PUBLIC_POOL_LEN, REFILLS_BEFORE_WARMING,
};
pub use secret::{wipe, SecretBytes, SymmetricKey, SYMMETRIC_KEY_LEN};
pub use sign::{
    verify_ed25519, SigningKey, VerifyingKey, ED25519_PUBLIC_KEY_LEN, ED25519_SEED_LEN,
    ED25519_SIGNATURE_LEN,
};
