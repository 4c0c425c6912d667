use ring::hmac;

use crate::{CryptoError, SymmetricKey, SHA256_LEN};

/// The HMACs of AWS KMS's HMAC keys (`HMAC_SHA_224` … `HMAC_SHA_512`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HmacAlgorithm {
    /// HMAC-SHA-224 (RustCrypto's `hmac` + `sha2`: ring has no SHA-224).
    Sha224,
    /// HMAC-SHA-256 (ring).
    Sha256,
    /// HMAC-SHA-384 (ring).
    Sha384,
    /// HMAC-SHA-512 (ring).
    Sha512,
}

impl HmacAlgorithm {
    /// The tag length in bytes (the hash's output length).
    pub const fn tag_len(self) -> usize {
        match self {
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// The HMAC of `message` under `key` (any length) with `algorithm`. A MAC is verified by
/// recomputing it and comparing with [`crate::constant_time_eq`]. Never fails for a key of any
/// length; the error exists so that no path of ours can panic.
pub fn hmac_sign(
    algorithm: HmacAlgorithm,
    key: &[u8],
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let ring_alg = match algorithm {
        HmacAlgorithm::Sha224 => return hmac_sha224(key, message),
        HmacAlgorithm::Sha256 => hmac::HMAC_SHA256,
        HmacAlgorithm::Sha384 => hmac::HMAC_SHA384,
        HmacAlgorithm::Sha512 => hmac::HMAC_SHA512,
    };
    Ok(hmac::sign(&hmac::Key::new(ring_alg, key), message)
        .as_ref()
        .to_vec())
}

/// HMAC-SHA-224, which ring lacks (RustCrypto's `hmac` over `sha2`).
fn hmac_sha224(key: &[u8], message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    use ::hmac::{KeyInit as _, Mac as _};
    let mut mac = ::hmac::Hmac::<sha2::Sha224>::new_from_slice(key).map_err(|_| CryptoError)?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub fn hmac_sha256(key: &SymmetricKey, parts: &[&[u8]]) -> [u8; SHA256_LEN] {
    hmac_sha256_bytes(key.expose(), parts)
}

/// HMAC-SHA256 under a key of any length (as protocols such as SigV4 need: its first key is
/// `"AWS4"` followed by the secret), over the concatenation of `parts`. Prefer
/// [`hmac_sha256`] with a [`SymmetricKey`] where the key is a 256-bit secret of ours.
pub fn hmac_sha256_bytes(key: &[u8], parts: &[&[u8]]) -> [u8; SHA256_LEN] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    for p in parts {
        ctx.update(p);
    }
    let tag = ctx.sign();
    let mut out = [0u8; SHA256_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_concatenate_and_key_matters() {
        let k = SymmetricKey::from_bytes([1u8; 32]);
        let k2 = SymmetricKey::from_bytes([2u8; 32]);
        assert_eq!(hmac_sha256(&k, &[b"ab", b"c"]), hmac_sha256(&k, &[b"abc"]));
        assert_ne!(hmac_sha256(&k, &[b"abc"]), hmac_sha256(&k2, &[b"abc"]));
        assert_eq!(
            hmac_sha256(&k, &[b"abc"]),
            hmac_sha256_bytes(&[1u8; 32], &[b"abc"])
        );
    }

    /// RFC 4231 test cases 1–4, 6 and 7 for all four HMACs (case 5 is about truncation).
    #[test]
    fn rfc_4231_known_answers() {
        use crate::hex::decode as unhex;
        let h = |s: &str| unhex(s).unwrap();
        let cases: [(Vec<u8>, Vec<u8>, [&str; 4]); 6] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                [
                    "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
                    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                    "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                    "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
                ],
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                [
                    "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
                ],
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                [
                    "7fb3cb3588c6c1f6ffa9694d7d6ad2649365b0c1f65d69d1ec8333ea",
                    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
                    "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
                    "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
                ],
            ),
            (
                h("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                vec![0xcd; 50],
                [
                    "6c11506874013cac6a2abc1bb382627cec6a90d86efc012de7afec5a",
                    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
                    "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
                    "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
                ],
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                [
                    "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
                    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                    "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                    "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
                ],
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                [
                    "3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1",
                    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                    "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
                    "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
                ],
            ),
        ];
        let algs = [
            HmacAlgorithm::Sha224,
            HmacAlgorithm::Sha256,
            HmacAlgorithm::Sha384,
            HmacAlgorithm::Sha512,
        ];
        for (i, (key, data, expected)) in cases.iter().enumerate() {
            for (alg, want) in algs.iter().zip(expected) {
                let tag = hmac_sign(*alg, key, data).unwrap();
                assert_eq!(tag.len(), alg.tag_len(), "case {i} {alg:?}");
                assert_eq!(crate::hex::encode(&tag), *want, "case {i} {alg:?}");
            }
        }
    }

    #[test]
    fn rfc_4231_case_2() {
        let tag = hmac_sha256_bytes(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex = crate::hex::encode(&tag);
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
