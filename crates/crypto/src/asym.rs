//! Asymmetric cryptography: RSA (PSS, PKCS #1 v1.5, OAEP), ECDSA (P-256, P-384, P-521,
//! secp256k1), ECDH (P-256, P-384, P-521), Ed25519, ML-DSA (FIPS 204) and ML-KEM (FIPS 203).
//!
//! ring has none of RSA key generation, OAEP, P-521, secp256k1, signing a digest, ML-DSA or
//! ML-KEM, so this module uses aws-lc-rs (AWS-LC, whose RSA private operations are constant
//! time and blinded). Private keys are kept as PKCS #8 DER (ML-KEM: the FIPS 203 decapsulation
//! key) in [`SecretBytes`] so that the key layer can wrap them under the root key, and parsed
//! once into AWS-LC handles, which clear their private values when dropped. Public keys leave
//! as DER `SubjectPublicKeyInfo`, as AWS KMS's GetPublicKey returns them.
//!
//! Key generation draws from AWS-LC's own generator (the operating system's), not a
//! [`crate::RandomSource`]: AWS-LC takes no caller-supplied randomness for key generation.

use std::fmt;

use aws_lc_rs::encoding::{AsBigEndian, AsDer, Curve25519SeedBin, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::signature::{self, KeyPair as _};
use aws_lc_rs::{agreement, digest, kem, rand, rsa};

use crate::{CryptoError, SecretBytes};

/// The asymmetric key types of AWS KMS that coffer implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsymmetricAlgorithm {
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
    /// SECG secp256k1.
    Secp256k1,
    /// Ed25519.
    Ed25519,
    /// ML-DSA-44.
    MlDsa44,
    /// ML-DSA-65.
    MlDsa65,
    /// ML-DSA-87.
    MlDsa87,
    /// ML-KEM-512.
    MlKem512,
    /// ML-KEM-768.
    MlKem768,
    /// ML-KEM-1024.
    MlKem1024,
}

/// What a private key does; it decides how the key is parsed (an RSA key that decrypts is not
/// parsed as one that signs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRole {
    /// Sign and verify.
    Sign,
    /// RSA-OAEP decryption.
    Decrypt,
    /// ECDH key agreement.
    Agree,
    /// ML-KEM decapsulation.
    Decapsulate,
}

/// The hash of a signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureHash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl SignatureHash {
    /// The digest length in bytes.
    pub const fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Never empty; present for clippy's `len_without_is_empty`.
    pub const fn is_empty(self) -> bool {
        false
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }
}

/// A signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PSS with MGF1 of the same hash and a salt as long as the hash.
    RsaPss(SignatureHash),
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1(SignatureHash),
    /// ECDSA, DER-encoded signature (the hash is the curve's: SHA-256 for P-256 and secp256k1,
    /// SHA-384 for P-384, SHA-512 for P-521).
    Ecdsa(SignatureHash),
    /// Ed25519 (pure: the message itself is signed).
    Ed25519,
    /// Ed25519ph (RFC 8032: the SHA-512 digest of the message is signed, empty context).
    Ed25519Ph,
    /// ML-DSA (pure, empty context string).
    MlDsa,
}

/// What is signed: the message itself, or its digest under the scheme's hash.
#[derive(Clone, Copy, Debug)]
pub enum SignedMessage<'a> {
    /// The message; the scheme hashes it.
    Raw(&'a [u8]),
    /// The message's digest, computed by the caller with the scheme's hash.
    Digest(&'a [u8]),
}

/// The OAEP variants of AWS KMS (MGF1 with the same hash, empty label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OaepHash {
    /// RSAES-OAEP with SHA-1.
    Sha1,
    /// RSAES-OAEP with SHA-256.
    Sha256,
}

impl OaepHash {
    fn algorithm(self) -> &'static rsa::OaepAlgorithm {
        match self {
            Self::Sha1 => &rsa::OAEP_SHA1_MGF1SHA1,
            Self::Sha256 => &rsa::OAEP_SHA256_MGF1SHA256,
        }
    }

    /// The hash's output length (OAEP's overhead is twice this plus two).
    pub const fn hash_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }
}

impl AsymmetricAlgorithm {
    /// The RSA modulus length in bytes (the signature and OAEP ciphertext length).
    pub const fn rsa_modulus_len(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(256),
            Self::Rsa3072 => Some(384),
            Self::Rsa4096 => Some(512),
            _ => None,
        }
    }

    /// The longest plaintext RSA-OAEP with `hash` takes under a key of this algorithm.
    pub const fn oaep_max_plaintext(self, hash: OaepHash) -> Option<usize> {
        match self.rsa_modulus_len() {
            Some(k) => Some(k - 2 * hash.hash_len() - 2),
            None => None,
        }
    }

    /// The length of an ML-KEM ciphertext (encapsulated shared secret).
    pub const fn kem_ciphertext_len(self) -> Option<usize> {
        match self {
            Self::MlKem512 => Some(768),
            Self::MlKem768 => Some(1088),
            Self::MlKem1024 => Some(1568),
            _ => None,
        }
    }

    fn rsa_size(self) -> Option<rsa::KeySize> {
        match self {
            Self::Rsa2048 => Some(rsa::KeySize::Rsa2048),
            Self::Rsa3072 => Some(rsa::KeySize::Rsa3072),
            Self::Rsa4096 => Some(rsa::KeySize::Rsa4096),
            _ => None,
        }
    }

    fn ecdsa_signing(self) -> Option<&'static signature::EcdsaSigningAlgorithm> {
        match self {
            Self::P256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
            Self::P384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
            Self::P521 => Some(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
            Self::Secp256k1 => Some(&signature::ECDSA_P256K1_SHA256_ASN1_SIGNING),
            _ => None,
        }
    }

    fn ecdh(self) -> Option<&'static agreement::Algorithm> {
        match self {
            Self::P256 => Some(&agreement::ECDH_P256),
            Self::P384 => Some(&agreement::ECDH_P384),
            Self::P521 => Some(&agreement::ECDH_P521),
            _ => None,
        }
    }

    /// The named-curve OID (DER contents) of a NIST curve.
    fn named_curve_oid(self) -> Option<&'static [u8]> {
        match self {
            // 1.2.840.10045.3.1.7
            Self::P256 => Some(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            // 1.3.132.0.34
            Self::P384 => Some(&[0x2b, 0x81, 0x04, 0x00, 0x22]),
            // 1.3.132.0.35
            Self::P521 => Some(&[0x2b, 0x81, 0x04, 0x00, 0x23]),
            _ => None,
        }
    }

    fn ml_dsa(self) -> Option<&'static signature::PqdsaSigningAlgorithm> {
        match self {
            Self::MlDsa44 => Some(&signature::ML_DSA_44_SIGNING),
            Self::MlDsa65 => Some(&signature::ML_DSA_65_SIGNING),
            Self::MlDsa87 => Some(&signature::ML_DSA_87_SIGNING),
            _ => None,
        }
    }

    fn ml_kem(self) -> Option<(&'static kem::Algorithm, u8)> {
        match self {
            Self::MlKem512 => Some((&kem::ML_KEM_512, 1)),
            Self::MlKem768 => Some((&kem::ML_KEM_768, 2)),
            Self::MlKem1024 => Some((&kem::ML_KEM_1024, 3)),
            _ => None,
        }
    }

    /// Whether a key of this algorithm can take `role`.
    pub fn supports(self, role: KeyRole) -> bool {
        match role {
            KeyRole::Sign => {
                self.rsa_size().is_some()
                    || self.ecdsa_signing().is_some()
                    || self.ml_dsa().is_some()
                    || self == Self::Ed25519
            }
            KeyRole::Decrypt => self.rsa_size().is_some(),
            KeyRole::Agree => self.ecdh().is_some(),
            KeyRole::Decapsulate => self.ml_kem().is_some(),
        }
    }

    /// Whether `scheme` is a signature scheme of keys of this algorithm.
    pub fn allows(self, scheme: SignatureScheme) -> bool {
        use SignatureHash::*;
        match scheme {
            SignatureScheme::RsaPss(_) | SignatureScheme::RsaPkcs1(_) => self.rsa_size().is_some(),
            SignatureScheme::Ecdsa(h) => matches!(
                (self, h),
                (Self::P256 | Self::Secp256k1, Sha256)
                    | (Self::P384, Sha384)
                    | (Self::P521, Sha512)
            ),
            SignatureScheme::Ed25519 | SignatureScheme::Ed25519Ph => self == Self::Ed25519,
            SignatureScheme::MlDsa => self.ml_dsa().is_some(),
        }
    }
}

/// A parsed private key.
enum Parsed {
    RsaSign(rsa::KeyPair),
    RsaDecrypt(rsa::OaepPrivateDecryptingKey),
    Ecdsa(signature::EcdsaKeyPair),
    Ecdh(agreement::PrivateKey),
    Ed25519(signature::Ed25519KeyPair),
    MlDsa(signature::PqdsaKeyPair),
    MlKem(kem::DecapsulationKey),
}

/// An asymmetric private key: its encoding (wrapped by the key layer) and its parsed form.
/// Prints as `[redacted]`.
pub struct PrivateKey {
    algorithm: AsymmetricAlgorithm,
    role: KeyRole,
    encoded: SecretBytes,
    parsed: Parsed,
    public: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("role", &self.role)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn der_secret(
    der: Result<Pkcs8V1Der<'_>, aws_lc_rs::error::Unspecified>,
) -> Result<SecretBytes, CryptoError> {
    Ok(SecretBytes::copy_from(
        der.map_err(|_| CryptoError)?.as_ref(),
    ))
}

impl PrivateKey {
    /// A fresh key of `algorithm` for `role`.
    pub fn generate(algorithm: AsymmetricAlgorithm, role: KeyRole) -> Result<Self, CryptoError> {
        if !algorithm.supports(role) {
            return Err(CryptoError);
        }
        let encoded = match (role, algorithm) {
            (KeyRole::Sign | KeyRole::Decrypt, a) if a.rsa_size().is_some() => {
                let size = a.rsa_size().ok_or(CryptoError)?;
                let pair = rsa::KeyPair::generate(size).map_err(|_| CryptoError)?;
                der_secret(pair.as_der())?
            }
            (KeyRole::Sign, AsymmetricAlgorithm::Ed25519) => {
                let pair = signature::Ed25519KeyPair::generate().map_err(|_| CryptoError)?;
                SecretBytes::copy_from(pair.to_pkcs8v1().map_err(|_| CryptoError)?.as_ref())
            }
            (KeyRole::Sign, a) if a.ecdsa_signing().is_some() => {
                let alg = a.ecdsa_signing().ok_or(CryptoError)?;
                let pair = signature::EcdsaKeyPair::generate(alg).map_err(|_| CryptoError)?;
                SecretBytes::copy_from(pair.to_pkcs8v1().map_err(|_| CryptoError)?.as_ref())
            }
            (KeyRole::Sign, a) => {
                let alg = a.ml_dsa().ok_or(CryptoError)?;
                let pair = signature::PqdsaKeyPair::generate(alg).map_err(|_| CryptoError)?;
                der_secret(pair.private_key().as_der())?
            }
            (KeyRole::Agree, a) => {
                let alg = a.ecdh().ok_or(CryptoError)?;
                let key = agreement::PrivateKey::generate(alg).map_err(|_| CryptoError)?;
                der_secret(AsDer::<Pkcs8V1Der<'static>>::as_der(&key))?
            }
            (KeyRole::Decapsulate, a) => {
                let (alg, _) = a.ml_kem().ok_or(CryptoError)?;
                let key = kem::DecapsulationKey::generate(alg).map_err(|_| CryptoError)?;
                SecretBytes::copy_from(key.key_bytes().map_err(|_| CryptoError)?.as_ref())
            }
            (KeyRole::Decrypt, _) => return Err(CryptoError),
        };
        Self::from_encoded(algorithm, role, encoded)
    }

    /// Parses a key from its encoding (PKCS #8 DER; ML-KEM: the decapsulation key), checking
    /// that it is a key of `algorithm`.
    pub fn from_encoded(
        algorithm: AsymmetricAlgorithm,
        role: KeyRole,
        encoded: SecretBytes,
    ) -> Result<Self, CryptoError> {
        if !algorithm.supports(role) {
            return Err(CryptoError);
        }
        let der = encoded.expose();
        let (parsed, public) = match role {
            KeyRole::Sign => parse_signing(algorithm, der)?,
            KeyRole::Decrypt => {
                let key = rsa::PrivateDecryptingKey::from_pkcs8(der).map_err(|_| CryptoError)?;
                if Some(key.key_size_bytes()) != algorithm.rsa_modulus_len() {
                    return Err(CryptoError);
                }
                let public = spki(key.public_key().as_der())?;
                let oaep = rsa::OaepPrivateDecryptingKey::new(key).map_err(|_| CryptoError)?;
                (Parsed::RsaDecrypt(oaep), public)
            }
            KeyRole::Agree => {
                let alg = algorithm.ecdh().ok_or(CryptoError)?;
                let key = agreement::PrivateKey::from_private_key_der(alg, der)
                    .map_err(|_| CryptoError)?;
                let public = spki(key.compute_public_key().map_err(|_| CryptoError)?.as_der())?;
                (Parsed::Ecdh(key), public)
            }
            KeyRole::Decapsulate => {
                let (alg, oid_last) = algorithm.ml_kem().ok_or(CryptoError)?;
                let key = kem::DecapsulationKey::new(alg, der).map_err(|_| CryptoError)?;
                // FIPS 203's decapsulation key is dk_PKE (384·k bytes) ‖ ek (384·k + 32) ‖
                // H(ek) ‖ z: the public key is read from it (AWS-LC does not derive it for a
                // key made from bytes). k = 2, 3, 4 for ML-KEM-512, -768, -1024.
                let k = usize::from(oid_last) + 1;
                let ek = der
                    .get(384 * k..384 * k + 384 * k + 32)
                    .ok_or(CryptoError)?;
                kem::EncapsulationKey::new(alg, ek).map_err(|_| CryptoError)?;
                (Parsed::MlKem(key), ml_kem_spki(oid_last, ek))
            }
        };
        Ok(Self {
            algorithm,
            role,
            encoded,
            parsed,
            public,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> AsymmetricAlgorithm {
        self.algorithm
    }

    /// The key's role.
    pub fn role(&self) -> KeyRole {
        self.role
    }

    /// The private key's encoding, for wrapping (PKCS #8 DER; ML-KEM: the decapsulation key).
    pub fn encoded(&self) -> &SecretBytes {
        &self.encoded
    }

    /// The private key as PKCS #8 DER (RFC 5958), as GenerateDataKeyPair returns it: the
    /// encoding itself, except for ML-KEM, whose decapsulation key is wrapped in a
    /// `PrivateKeyInfo` with the `expandedKey` choice of the IETF ML-KEM key format.
    pub fn pkcs8(&self) -> SecretBytes {
        let Some((_, oid_last)) = self.algorithm.ml_kem() else {
            return self.encoded.clone();
        };
        let dk = self.encoded.expose();
        let alg_id = ml_kem_algorithm_identifier(oid_last);
        let inner_len = der_len_of(dk.len());
        let outer_len = der_len_of(inner_len);
        let body_len = 3 + alg_id.len() + outer_len;
        let mut head = Vec::new();
        der_header(&mut head, 0x30, body_len);
        head.extend_from_slice(&[0x02, 0x01, 0x00]);
        head.extend_from_slice(&alg_id);
        der_header(&mut head, 0x04, inner_len);
        der_header(&mut head, 0x04, dk.len());
        let mut out = SecretBytes::with_capacity(head.len() + dk.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(dk);
        out
    }

    /// The public key as DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public
    }

    /// Signs `message` with `scheme`. A digest must be as long as the scheme's hash; Ed25519 and
    /// ML-DSA sign only raw messages.
    pub fn sign(
        &self,
        scheme: SignatureScheme,
        message: SignedMessage<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        if !self.algorithm.allows(scheme) {
            return Err(CryptoError);
        }
        match (&self.parsed, scheme) {
            (Parsed::RsaSign(pair), SignatureScheme::RsaPss(h) | SignatureScheme::RsaPkcs1(h)) => {
                let padding = rsa_padding(scheme, h);
                let mut sig = vec![0u8; pair.public_modulus_len()];
                match message {
                    SignedMessage::Raw(m) => pair
                        .sign(padding, &rand::SystemRandom::new(), m, &mut sig)
                        .map_err(|_| CryptoError)?,
                    SignedMessage::Digest(d) => pair
                        .sign_digest(padding, &import_digest(h, d)?, &mut sig)
                        .map_err(|_| CryptoError)?,
                }
                Ok(sig)
            }
            (Parsed::Ecdsa(pair), SignatureScheme::Ecdsa(h)) => {
                let sig = match message {
                    SignedMessage::Raw(m) => pair.sign(&rand::SystemRandom::new(), m),
                    SignedMessage::Digest(d) => pair.sign_digest(&import_digest(h, d)?),
                };
                Ok(sig.map_err(|_| CryptoError)?.as_ref().to_vec())
            }
            (Parsed::Ed25519(pair), SignatureScheme::Ed25519) => match message {
                SignedMessage::Raw(m) => Ok(pair.sign(m).as_ref().to_vec()),
                SignedMessage::Digest(_) => Err(CryptoError),
            },
            (Parsed::Ed25519(pair), SignatureScheme::Ed25519Ph) => {
                let seed = pair.seed().map_err(|_| CryptoError)?;
                let seed = AsBigEndian::<Curve25519SeedBin<'_>>::as_be_bytes(&seed)
                    .map_err(|_| CryptoError)?;
                let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
                bytes.copy_from_slice(seed.as_ref());
                let key = ed25519_dalek::SigningKey::from_bytes(&bytes);
                let sig = key
                    .sign_prehashed(Prehashed::of(message)?, None)
                    .map_err(|_| CryptoError)?;
                Ok(sig.to_bytes().to_vec())
            }
            (Parsed::MlDsa(pair), SignatureScheme::MlDsa) => match message {
                SignedMessage::Raw(m) => {
                    let mut sig = vec![0u8; pair.algorithm().signature_len()];
                    let n = pair.sign(m, &mut sig).map_err(|_| CryptoError)?;
                    sig.truncate(n);
                    Ok(sig)
                }
                SignedMessage::Digest(_) => Err(CryptoError),
            },
            _ => Err(CryptoError),
        }
    }

    /// Decrypts an RSA-OAEP ciphertext.
    pub fn decrypt_oaep(
        &self,
        hash: OaepHash,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let Parsed::RsaDecrypt(key) = &self.parsed else {
            return Err(CryptoError);
        };
        let mut out = SecretBytes::new(vec![0u8; key.min_output_size()]);
        let n = key
            .decrypt(hash.algorithm(), ciphertext, out.expose_mut(), None)
            .map_err(|_| CryptoError)?
            .len();
        out.truncate(n);
        Ok(out)
    }

    /// ECDH with the peer's public key (DER `SubjectPublicKeyInfo` on the same curve): the
    /// shared secret is the x-coordinate of the shared point, as AWS KMS returns it.
    pub fn agree(&self, peer_spki: &[u8]) -> Result<SecretBytes, CryptoError> {
        let Parsed::Ecdh(key) = &self.parsed else {
            return Err(CryptoError);
        };
        let alg = self.algorithm.ecdh().ok_or(CryptoError)?;
        // Only a SubjectPublicKeyInfo naming the key's own curve is accepted (AWS's PublicKey
        // is DER SPKI with a named curve): AWS-LC would also take a bare point, and a curve
        // spelt out as explicit parameters (even without the cofactor RFC 3279 requires).
        let curve = self.algorithm.named_curve_oid().ok_or(CryptoError)?;
        if !is_named_curve_spki(peer_spki, curve) {
            return Err(CryptoError);
        }
        let peer = agreement::UnparsedPublicKey::new(alg, peer_spki);
        agreement::agree(key, peer, CryptoError, |s| Ok(SecretBytes::copy_from(s)))
    }

    /// ML-KEM decapsulation. A ciphertext of the right length always yields 32 bytes (FIPS 203's
    /// implicit rejection); a ciphertext of another length is an error.
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        let Parsed::MlKem(key) = &self.parsed else {
            return Err(CryptoError);
        };
        if Some(ciphertext.len()) != self.algorithm.kem_ciphertext_len() {
            return Err(CryptoError);
        }
        let secret = key
            .decapsulate(kem::Ciphertext::from(ciphertext))
            .map_err(|_| CryptoError)?;
        Ok(SecretBytes::copy_from(secret.as_ref()))
    }
}

/// A SHA-512 digest handed to Ed25519ph as its "hash" (the `digest` traits ed25519-dalek's
/// pre-hashed API takes): updating it does nothing, finalizing it yields the digest.
#[derive(Clone)]
struct Prehashed([u8; 64]);

impl Default for Prehashed {
    fn default() -> Self {
        Self([0; 64])
    }
}

impl Prehashed {
    /// The digest of a message (RAW: hashed here) or the caller's digest (DIGEST: 64 bytes).
    fn of(message: SignedMessage<'_>) -> Result<Self, CryptoError> {
        let mut out = [0u8; 64];
        match message {
            SignedMessage::Raw(m) => {
                out.copy_from_slice(digest::digest(&digest::SHA512, m).as_ref())
            }
            SignedMessage::Digest(d) if d.len() == 64 => out.copy_from_slice(d),
            SignedMessage::Digest(_) => return Err(CryptoError),
        }
        Ok(Self(out))
    }
}

impl ::digest::HashMarker for Prehashed {}

impl ::digest::OutputSizeUser for Prehashed {
    type OutputSize = ::digest::consts::U64;
}

impl ::digest::Update for Prehashed {
    fn update(&mut self, _data: &[u8]) {}
}

impl ::digest::FixedOutput for Prehashed {
    fn finalize_into(self, out: &mut ::digest::Output<Self>) {
        out.copy_from_slice(&self.0);
    }
}

fn parse_signing(
    algorithm: AsymmetricAlgorithm,
    der: &[u8],
) -> Result<(Parsed, Vec<u8>), CryptoError> {
    if let Some(len) = algorithm.rsa_modulus_len() {
        let pair = rsa::KeyPair::from_pkcs8(der).map_err(|_| CryptoError)?;
        if pair.public_modulus_len() != len {
            return Err(CryptoError);
        }
        let public = spki(pair.public_key().as_der())?;
        return Ok((Parsed::RsaSign(pair), public));
    }
    if let Some(alg) = algorithm.ecdsa_signing() {
        let pair = signature::EcdsaKeyPair::from_pkcs8(alg, der).map_err(|_| CryptoError)?;
        let public = spki(pair.public_key().as_der())?;
        return Ok((Parsed::Ecdsa(pair), public));
    }
    if let Some(alg) = algorithm.ml_dsa() {
        let pair = signature::PqdsaKeyPair::from_pkcs8(alg, der).map_err(|_| CryptoError)?;
        let public = spki(pair.public_key().as_der())?;
        return Ok((Parsed::MlDsa(pair), public));
    }
    if algorithm == AsymmetricAlgorithm::Ed25519 {
        let pair = signature::Ed25519KeyPair::from_pkcs8(der).map_err(|_| CryptoError)?;
        let public = spki(pair.public_key().as_der())?;
        return Ok((Parsed::Ed25519(pair), public));
    }
    Err(CryptoError)
}

fn spki(
    der: Result<PublicKeyX509Der<'_>, aws_lc_rs::error::Unspecified>,
) -> Result<Vec<u8>, CryptoError> {
    Ok(der.map_err(|_| CryptoError)?.as_ref().to_vec())
}

fn rsa_padding(scheme: SignatureScheme, h: SignatureHash) -> &'static dyn signature::RsaEncoding {
    match (scheme, h) {
        (SignatureScheme::RsaPss(_), SignatureHash::Sha256) => &signature::RSA_PSS_SHA256,
        (SignatureScheme::RsaPss(_), SignatureHash::Sha384) => &signature::RSA_PSS_SHA384,
        (SignatureScheme::RsaPss(_), SignatureHash::Sha512) => &signature::RSA_PSS_SHA512,
        (_, SignatureHash::Sha256) => &signature::RSA_PKCS1_SHA256,
        (_, SignatureHash::Sha384) => &signature::RSA_PKCS1_SHA384,
        (_, SignatureHash::Sha512) => &signature::RSA_PKCS1_SHA512,
    }
}

fn import_digest(h: SignatureHash, d: &[u8]) -> Result<digest::Digest, CryptoError> {
    if d.len() != h.len() {
        return Err(CryptoError);
    }
    digest::Digest::import_less_safe(d, h.digest_algorithm()).map_err(|_| CryptoError)
}

fn verification(
    algorithm: AsymmetricAlgorithm,
    scheme: SignatureScheme,
) -> Option<&'static dyn signature::VerificationAlgorithm> {
    use SignatureHash::*;
    if !algorithm.allows(scheme) {
        return None;
    }
    Some(match scheme {
        SignatureScheme::RsaPss(Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
        SignatureScheme::RsaPss(Sha384) => &signature::RSA_PSS_2048_8192_SHA384,
        SignatureScheme::RsaPss(Sha512) => &signature::RSA_PSS_2048_8192_SHA512,
        SignatureScheme::RsaPkcs1(Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RsaPkcs1(Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        SignatureScheme::RsaPkcs1(Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        SignatureScheme::Ecdsa(_) => match algorithm {
            AsymmetricAlgorithm::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            AsymmetricAlgorithm::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            AsymmetricAlgorithm::P521 => &signature::ECDSA_P521_SHA512_ASN1,
            _ => &signature::ECDSA_P256K1_SHA256_ASN1,
        },
        SignatureScheme::Ed25519 | SignatureScheme::Ed25519Ph => &signature::ED25519,
        SignatureScheme::MlDsa => match algorithm {
            AsymmetricAlgorithm::MlDsa44 => &signature::ML_DSA_44,
            AsymmetricAlgorithm::MlDsa65 => &signature::ML_DSA_65,
            _ => &signature::ML_DSA_87,
        },
    })
}

/// Whether `sig` is a valid signature of `message` under the public key `public_spki` (DER
/// `SubjectPublicKeyInfo` of a key of `algorithm`) with `scheme`. A malformed key, a digest of
/// the wrong length or a scheme the algorithm does not allow is an error; a signature that does
/// not verify is `Ok(false)`.
pub fn verify(
    algorithm: AsymmetricAlgorithm,
    public_spki: &[u8],
    scheme: SignatureScheme,
    message: SignedMessage<'_>,
    sig: &[u8],
) -> Result<bool, CryptoError> {
    if scheme == SignatureScheme::Ed25519Ph {
        return verify_ed25519ph(algorithm, public_spki, message, sig);
    }
    let alg = verification(algorithm, scheme).ok_or(CryptoError)?;
    // AWS-LC's RSA verifiers take any modulus from 2048 to 8192 bits: hold the key to the size
    // its algorithm names.
    if let Some(bytes) = algorithm.rsa_modulus_len() {
        if rsa_spki_modulus_bits(public_spki) != Some(bytes * 8) {
            return Err(CryptoError);
        }
    }
    let key = signature::UnparsedPublicKey::new(alg, public_spki);
    let parsed = key.parse().map_err(|_| CryptoError)?;
    let ok = match message {
        SignedMessage::Raw(m) => parsed.verify_sig(m, sig).is_ok(),
        SignedMessage::Digest(d) => {
            let h = match scheme {
                SignatureScheme::RsaPss(h)
                | SignatureScheme::RsaPkcs1(h)
                | SignatureScheme::Ecdsa(h) => h,
                SignatureScheme::Ed25519 | SignatureScheme::Ed25519Ph | SignatureScheme::MlDsa => {
                    return Err(CryptoError)
                }
            };
            parsed.verify_digest_sig(&import_digest(h, d)?, sig).is_ok()
        }
    };
    Ok(ok)
}

/// The modulus size of an RSA `SubjectPublicKeyInfo`, in bits.
fn rsa_spki_modulus_bits(spki: &[u8]) -> Option<usize> {
    let (0x30, outer, []) = der_read(spki)? else {
        return None;
    };
    let (0x30, _algorithm, rest) = der_read(outer)? else {
        return None;
    };
    let (0x03, bits, []) = der_read(rest)? else {
        return None;
    };
    let (&0, rsa_public_key) = bits.split_first()? else {
        return None;
    };
    signature::RsaParameters::public_modulus_len(rsa_public_key)
        .ok()
        .and_then(|b| usize::try_from(b).ok())
}

/// Ed25519ph verification (ed25519-dalek): the SPKI of an Ed25519 key is a fixed 12-byte
/// header and the 32-byte key.
fn verify_ed25519ph(
    algorithm: AsymmetricAlgorithm,
    public_spki: &[u8],
    message: SignedMessage<'_>,
    sig: &[u8],
) -> Result<bool, CryptoError> {
    const HEADER: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    if algorithm != AsymmetricAlgorithm::Ed25519 {
        return Err(CryptoError);
    }
    let raw = public_spki.strip_prefix(&HEADER[..]).ok_or(CryptoError)?;
    let raw: [u8; 32] = raw.try_into().map_err(|_| CryptoError)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| CryptoError)?;
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
        return Ok(false);
    };
    Ok(key
        .verify_prehashed(Prehashed::of(message)?, None, &sig)
        .is_ok())
}

/// RSA-OAEP encryption to the public key `public_spki` (DER `SubjectPublicKeyInfo`). A
/// plaintext longer than the key allows is an error.
pub fn encrypt_oaep(
    public_spki: &[u8],
    hash: OaepHash,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = rsa::PublicEncryptingKey::from_der(public_spki).map_err(|_| CryptoError)?;
    let key = rsa::OaepPublicEncryptingKey::new(key).map_err(|_| CryptoError)?;
    if plaintext.len() > key.max_plaintext_size(hash.algorithm()) {
        return Err(CryptoError);
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let n = key
        .encrypt(hash.algorithm(), plaintext, &mut out, None)
        .map_err(|_| CryptoError)?
        .len();
    out.truncate(n);
    Ok(out)
}

/// ML-KEM encapsulation to a public key given as DER `SubjectPublicKeyInfo` of `algorithm`:
/// the ciphertext and the 32-byte shared secret.
pub fn encapsulate(
    algorithm: AsymmetricAlgorithm,
    public_spki: &[u8],
) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
    let (alg, oid_last) = algorithm.ml_kem().ok_or(CryptoError)?;
    let raw = ml_kem_raw_public(oid_last, public_spki).ok_or(CryptoError)?;
    let key = kem::EncapsulationKey::new(alg, raw).map_err(|_| CryptoError)?;
    let (ct, ss) = key.encapsulate().map_err(|_| CryptoError)?;
    Ok((ct.as_ref().to_vec(), SecretBytes::copy_from(ss.as_ref())))
}

/// Expands a seed with RustCrypto's ML-KEM of one parameter set (a macro: the crate does not
/// export the trait its parameter sets share).
macro_rules! expand_ml_kem {
    ($params:ty, $seed:expr) => {{
        #[allow(deprecated)] // the expanded form is what AWS-LC takes
        use ml_kem::ExpandedKeyEncoding as _;
        let seed = ml_kem::Seed::try_from($seed).map_err(|_| CryptoError)?;
        let key = ml_kem::DecapsulationKey::<$params>::from_seed(seed);
        #[allow(deprecated)]
        let mut expanded = key.to_expanded_bytes();
        let out = SecretBytes::copy_from(&expanded);
        crate::wipe(&mut expanded);
        out
    }};
}

/// A fresh ML-KEM key pair in the form GenerateDataKeyPair returns it, as AWS does: the private
/// key as PKCS #8 holding the 64-byte seed `d ‖ z` (the IETF `seed` choice, `[0] IMPLICIT OCTET
/// STRING`), and the public key as DER `SubjectPublicKeyInfo`. RustCrypto's `ml-kem` expands
/// the seed (aws-lc-rs has no seeded ML-KEM key generation); AWS-LC then parses the expanded
/// key and derives the public key, so a mismatch between the two is an error.
pub fn generate_ml_kem_seed_pair(
    algorithm: AsymmetricAlgorithm,
    rng: &dyn crate::RandomSource,
) -> Result<(SecretBytes, Vec<u8>), CryptoError> {
    let (_, oid_last) = algorithm.ml_kem().ok_or(CryptoError)?;
    let seed = SecretBytes::random(rng, 64)?;
    let expanded = match algorithm {
        AsymmetricAlgorithm::MlKem512 => expand_ml_kem!(ml_kem::MlKem512, seed.expose()),
        AsymmetricAlgorithm::MlKem768 => expand_ml_kem!(ml_kem::MlKem768, seed.expose()),
        _ => expand_ml_kem!(ml_kem::MlKem1024, seed.expose()),
    };
    let key = PrivateKey::from_encoded(algorithm, KeyRole::Decapsulate, expanded)?;
    let alg_id = ml_kem_algorithm_identifier(oid_last);
    let inner_len = 2 + seed.len();
    let body_len = 3 + alg_id.len() + der_len_of(inner_len);
    let mut head = Vec::new();
    der_header(&mut head, 0x30, body_len);
    head.extend_from_slice(&[0x02, 0x01, 0x00]);
    head.extend_from_slice(&alg_id);
    der_header(&mut head, 0x04, inner_len);
    der_header(&mut head, 0x80, seed.len());
    let mut pkcs8 = SecretBytes::with_capacity(head.len() + seed.len());
    pkcs8.extend_from_slice(&head);
    pkcs8.extend_from_slice(seed.expose());
    Ok((pkcs8, key.public_key_der().to_vec()))
}

/// The DER `SubjectPublicKeyInfo` of an ML-KEM public key (id-alg-ml-kem-512/768/1024,
/// 2.16.840.1.101.3.4.4.{1,2,3}, no parameters).
fn ml_kem_spki(oid_last: u8, raw: &[u8]) -> Vec<u8> {
    let alg_id = ml_kem_algorithm_identifier(oid_last);
    let mut bit_string = vec![0x00];
    bit_string.extend_from_slice(raw);
    let mut body = alg_id;
    body.extend(der_tlv(0x03, &bit_string));
    der_tlv(0x30, &body)
}

fn ml_kem_algorithm_identifier(oid_last: u8) -> Vec<u8> {
    let oid = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, oid_last];
    der_tlv(0x30, &der_tlv(0x06, &oid))
}

fn ml_kem_raw_public(oid_last: u8, spki: &[u8]) -> Option<&[u8]> {
    // The SPKI is SEQUENCE { AlgorithmIdentifier, BIT STRING { 0x00, key } }: compare the
    // algorithm identifier, then take the key after the bit string's header.
    let alg_id = ml_kem_algorithm_identifier(oid_last);
    let (tag, body, rest) = der_read(spki)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let after_alg = body.strip_prefix(alg_id.as_slice())?;
    let (tag, bits, rest) = der_read(after_alg)?;
    if tag != 0x03 || !rest.is_empty() {
        return None;
    }
    bits.strip_prefix(&[0x00])
}

/// Whether `spki` is exactly `SEQUENCE { SEQUENCE { id-ecPublicKey, namedCurve }, BIT STRING }`
/// with `curve` as the named curve.
fn is_named_curve_spki(spki: &[u8], curve: &[u8]) -> bool {
    const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let check = || -> Option<bool> {
        let (0x30, outer, []) = der_read(spki)? else {
            return Some(false);
        };
        let (0x30, alg, rest) = der_read(outer)? else {
            return Some(false);
        };
        let (0x03, _, []) = der_read(rest)? else {
            return Some(false);
        };
        let (0x06, kind, rest) = der_read(alg)? else {
            return Some(false);
        };
        let (0x06, named, []) = der_read(rest)? else {
            return Some(false);
        };
        Some(kind == EC_PUBLIC_KEY && named == curve)
    };
    check().unwrap_or(false)
}

fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(der_len_of(body.len()));
    der_header(&mut out, tag, body.len());
    out.extend_from_slice(body);
    out
}

/// Writes a DER tag and definite length.
fn der_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// The length of a DER TLV whose body is `len` bytes.
fn der_len_of(len: usize) -> usize {
    let header = if len < 0x80 {
        2
    } else {
        2 + len.to_be_bytes().iter().skip_while(|b| **b == 0).count()
    };
    header + len
}

/// Reads one DER TLV: (tag, body, rest). Definite lengths of up to four bytes only, in their
/// shortest form.
fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        // DER: the shortest form only.
        if len_bytes.first() == Some(&0) || len < 0x80 {
            return None;
        }
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (body, rest) = rest.split_at(len);
    Some((tag, body, rest))
}

#[cfg(test)]
#[path = "asym_tests.rs"]
mod tests;
