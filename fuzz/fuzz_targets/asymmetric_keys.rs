#![no_main]
//! The asymmetric key parsers: any bytes as a public key (DER SubjectPublicKeyInfo for
//! Verify, RSA-OAEP encryption, ML-KEM encapsulation and an ECDH peer), as a signature, or as
//! a stored private key's encoding — an error or a result, never a panic.
use std::sync::OnceLock;

use coffer_crypto::asym::{
    self, AsymmetricAlgorithm as A, KeyRole, PrivateKey, SignatureHash as H, SignatureScheme as S,
    SignedMessage,
};
use coffer_crypto::SecretBytes;
use libfuzzer_sys::fuzz_target;

const ALGORITHMS: [A; 14] = [
    A::Rsa2048,
    A::Rsa3072,
    A::Rsa4096,
    A::P256,
    A::P384,
    A::P521,
    A::Secp256k1,
    A::Ed25519,
    A::MlDsa44,
    A::MlDsa65,
    A::MlDsa87,
    A::MlKem512,
    A::MlKem768,
    A::MlKem1024,
];
const SCHEMES: [S; 12] = [
    S::RsaPss(H::Sha256),
    S::RsaPss(H::Sha384),
    S::RsaPss(H::Sha512),
    S::RsaPkcs1(H::Sha256),
    S::RsaPkcs1(H::Sha384),
    S::RsaPkcs1(H::Sha512),
    S::Ecdsa(H::Sha256),
    S::Ecdsa(H::Sha384),
    S::Ecdsa(H::Sha512),
    S::Ed25519,
    S::Ed25519Ph,
    S::MlDsa,
];
const ROLES: [KeyRole; 4] = [
    KeyRole::Sign,
    KeyRole::Decrypt,
    KeyRole::Agree,
    KeyRole::Decapsulate,
];

fn ecdh_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate(A::P256, KeyRole::Agree).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let [a, s, r, split, rest @ ..] = data else {
        return;
    };
    let algorithm = ALGORITHMS[usize::from(*a) % ALGORITHMS.len()];
    let scheme = SCHEMES[usize::from(*s) % SCHEMES.len()];
    let role = ROLES[usize::from(*r) % ROLES.len()];
    let cut = usize::from(*split).min(rest.len());
    let (key, sig) = rest.split_at(rest.len() - cut);
    let _ = asym::verify(algorithm, key, scheme, SignedMessage::Raw(b"message"), sig);
    let _ = asym::verify(algorithm, key, scheme, SignedMessage::Digest(sig), sig);
    let _ = asym::encrypt_oaep(key, asym::OaepHash::Sha256, b"plaintext");
    let _ = asym::encapsulate(algorithm, key);
    let _ = ecdh_key().agree(key);
    if let Ok(k) = PrivateKey::from_encoded(algorithm, role, SecretBytes::copy_from(key)) {
        // A key that parsed is a usable key of its algorithm.
        assert!(!k.public_key_der().is_empty());
        let _ = k.sign(scheme, SignedMessage::Raw(b"m"));
        let _ = k.decrypt_oaep(asym::OaepHash::Sha1, sig);
        let _ = k.decapsulate(sig);
    }
});
