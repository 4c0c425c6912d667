//! Keys from passphrases: Argon2id (RFC 9106).

use crate::{CryptoError, SecretBytes, SymmetricKey, SYMMETRIC_KEY_LEN};

/// Argon2id cost parameters. Stored beside the salt so a key can be derived again; raising them
/// later needs the data re-wrapped under the new key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory, in KiB (at least 8 × `parallelism`).
    pub memory_kib: u32,
    /// Passes over memory (at least 1).
    pub iterations: u32,
    /// Lanes (at least 1).
    pub parallelism: u32,
}

impl Argon2Params {
    /// The default: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option, one lane
    /// since the derivation runs once, at start-up).
    pub const DEFAULT: Self = Self {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Derives a 256-bit key from `passphrase` and `salt` (at least 8 bytes; 16 random bytes is
/// usual) with Argon2id version 0x13. Fails on parameters out of range or a short salt.
pub fn derive_key_argon2id(
    passphrase: &SecretBytes,
    salt: &[u8],
    params: &Argon2Params,
) -> Result<SymmetricKey, CryptoError> {
    let p = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(SYMMETRIC_KEY_LEN),
    )
    .map_err(|_| CryptoError)?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = SymmetricKey::zeroed();
    a.hash_password_into(passphrase.expose(), salt, out.expose_mut())
        .map_err(|_| CryptoError)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Argon2Params = Argon2Params {
        memory_kib: 32,
        iterations: 3,
        parallelism: 4,
    };

    #[test]
    fn reference_implementation_vectors() {
        // From the Argon2 reference implementation's test.c (Argon2id, version 0x13,
        // "password" / "somesalt", one lane).
        let pw = SecretBytes::copy_from(b"password");
        for (m, t, want) in [
            (
                1 << 16,
                2,
                "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7",
            ),
            (
                1 << 8,
                2,
                "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe",
            ),
        ] {
            let params = Argon2Params {
                memory_kib: m,
                iterations: t,
                parallelism: 1,
            };
            let k = derive_key_argon2id(&pw, b"somesalt", &params).unwrap();
            let hex = crate::hex::encode(k.expose());
            assert_eq!(hex, want, "m={m} t={t}");
        }
    }

    #[test]
    fn inputs_matter_and_bad_params_fail() {
        let pw = SecretBytes::copy_from(b"correct horse");
        let k1 = derive_key_argon2id(&pw, b"saltsaltsalt", &SMALL).unwrap();
        let k2 = derive_key_argon2id(&pw, b"saltsaltsalT", &SMALL).unwrap();
        let k3 = derive_key_argon2id(
            &SecretBytes::copy_from(b"correct horsf"),
            b"saltsaltsalt",
            &SMALL,
        )
        .unwrap();
        let k4 = derive_key_argon2id(&pw, b"saltsaltsalt", &SMALL).unwrap();
        assert_ne!(k1.expose(), k2.expose());
        assert_ne!(k1.expose(), k3.expose());
        assert_eq!(k1.expose(), k4.expose());
        assert!(derive_key_argon2id(&pw, b"short", &SMALL).is_err());
        let zero = Argon2Params {
            iterations: 0,
            ..SMALL
        };
        assert!(derive_key_argon2id(&pw, b"saltsaltsalt", &zero).is_err());
    }
}
