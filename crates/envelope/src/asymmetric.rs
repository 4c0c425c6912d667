//! Asymmetric recipients: a message encrypted offline for a KMS key with only its public key, and
//! opened through the KMS, which alone holds the private key.
//!
//! The encrypting side ([`PublicKeyRecipients`]) needs no KMS at all: it draws the data key itself
//! and wraps it to each recipient's public key (DER `SubjectPublicKeyInfo`, as GetPublicKey returns
//! it), with one of two [`WrappingScheme`]s:
//!
//! - [`WrappingScheme::RsaesOaepSha256`]: RSA-OAEP with SHA-256 to an RSA `ENCRYPT_DECRYPT` key,
//!   unwrapped with Decrypt (`RSAES_OAEP_SHA_256`);
//! - [`WrappingScheme::EcdhP256HkdfSha256`]: an ephemeral P-256 key agreed with a P-256
//!   `KEY_AGREEMENT` key, HKDF-SHA256 from the shared secret to a one-time AES-256-GCM key that
//!   seals the data key; unwrapped with DeriveSharedSecret (`ECDH`) on the ephemeral public key.
//!
//! The decrypting side ([`PrivateKeyUnwrapper`]) forwards the private-key half to a
//! [`PrivateKeyOperations`], which the KMS implements (`coffer::Kms`), as the symmetric provider
//! forwards to Decrypt.
//!
//! The header format is unchanged: an asymmetric recipient is an ordinary
//! `[key_id, wrapped]` entry whose `wrapped` bytes describe themselves (magic `"CFAR"`, a scheme
//! byte, the scheme's body; `docs/FORMATS.md` section 4). Existing messages read as before, and a
//! [`PrivateKeyUnwrapper`] hands every entry without the magic to its fallback provider, so one
//! message may carry symmetric KMS recipients and public-key recipients together.
//!
//! Public-key encryption authenticates nobody: anyone holding the public key can make a message
//! that opens. The header tag and key commitment still make every message one that its data key's
//! holder made, and the encryption context is authenticated by the header tag, but the context is
//! not bound into the wrapping (AWS's asymmetric Decrypt takes no encryption context).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use coffer_core::EncryptionContext;
use coffer_crypto::aead::{self, Nonce, TAG_LEN};
use coffer_crypto::asym::{self, AsymmetricAlgorithm, KeyRole, OaepHash, PrivateKey};
use coffer_crypto::{hkdf_sha256, SecretBytes, SymmetricKey, SystemRandom, SYMMETRIC_KEY_LEN};

use crate::{DataKeyProvider, EncryptedDataKey, GeneratedDataKey, ProviderError};

/// The first four bytes of every asymmetrically wrapped data key.
pub const WRAPPED_KEY_MAGIC: [u8; 4] = *b"CFAR";

/// Length of an uncompressed P-256 point (`0x04 ‖ X ‖ Y`).
pub const P256_POINT_LEN: usize = 65;

/// The DER prefix of a P-256 `SubjectPublicKeyInfo` with an uncompressed point: `SEQUENCE {
/// SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) }`; the 65-byte point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// HKDF `info` of the ECDH wrapping key; the scheme byte follows.
const ECDH_LABEL: &[u8] = b"coffer-envelope v1 asymmetric recipient";

/// The RSA modulus lengths coffer's RSA keys have (2048, 3072, 4096 bits).
const RSA_MODULUS_LENS: [usize; 3] = [256, 384, 512];

/// How a data key is wrapped to a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WrappingScheme {
    /// Scheme `0x01`: RSAES-OAEP with SHA-256 (and MGF1-SHA-256, empty label) to an RSA
    /// `ENCRYPT_DECRYPT` key; the KMS unwraps with Decrypt, `RSAES_OAEP_SHA_256`.
    RsaesOaepSha256,
    /// Scheme `0x02`: ECDH of an ephemeral P-256 key with a P-256 `KEY_AGREEMENT` key,
    /// HKDF-SHA256 to an AES-256-GCM key that seals the data key; the KMS unwraps with
    /// DeriveSharedSecret.
    EcdhP256HkdfSha256,
}

impl WrappingScheme {
    /// The scheme's byte on the wire.
    pub const fn id(self) -> u8 {
        match self {
            Self::RsaesOaepSha256 => 0x01,
            Self::EcdhP256HkdfSha256 => 0x02,
        }
    }

    /// The scheme with byte `id`, if known.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0x01 => Some(Self::RsaesOaepSha256),
            0x02 => Some(Self::EcdhP256HkdfSha256),
            _ => None,
        }
    }
}

/// A data key wrapped to a public key, parsed from (or about to become) the `wrapped` bytes of a
/// header entry.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WrappedKey {
    /// RSA-OAEP-SHA-256 ciphertext of the data key, as long as the key's modulus (256, 384 or
    /// 512 bytes).
    RsaesOaepSha256 {
        /// The OAEP ciphertext.
        ciphertext: Vec<u8>,
    },
    /// The ephemeral public key and the sealed data key.
    EcdhP256HkdfSha256 {
        /// The ephemeral P-256 public key, uncompressed (`0x04 ‖ X ‖ Y`).
        ephemeral_point: [u8; P256_POINT_LEN],
        /// AES-256-GCM ciphertext of the 32-byte data key, then its 16-byte tag.
        sealed_key: [u8; SYMMETRIC_KEY_LEN + TAG_LEN],
    },
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RsaesOaepSha256 { ciphertext } => f
                .debug_struct("RsaesOaepSha256")
                .field("ciphertext_len", &ciphertext.len())
                .finish(),
            Self::EcdhP256HkdfSha256 { .. } => f.debug_struct("EcdhP256HkdfSha256").finish(),
        }
    }
}

/// Why `wrapped` bytes are not an asymmetrically wrapped data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WrappedKeyError {
    /// The bytes do not start with [`WRAPPED_KEY_MAGIC`] (another provider's wrapping).
    #[error("not an asymmetrically wrapped data key")]
    NotAsymmetric,
    /// The scheme byte is unknown.
    #[error("unknown wrapping scheme {0:#04x}")]
    UnknownScheme(u8),
    /// The scheme's body has the wrong length.
    #[error("wrapped data key has the wrong length for its scheme")]
    Length,
}

impl WrappedKey {
    /// The scheme of this wrapping.
    pub fn scheme(&self) -> WrappingScheme {
        match self {
            Self::RsaesOaepSha256 { .. } => WrappingScheme::RsaesOaepSha256,
            Self::EcdhP256HkdfSha256 { .. } => WrappingScheme::EcdhP256HkdfSha256,
        }
    }

    /// The wire form: magic, scheme byte, body (`docs/FORMATS.md` section 4).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + 512);
        out.extend_from_slice(&WRAPPED_KEY_MAGIC);
        out.push(self.scheme().id());
        match self {
            Self::RsaesOaepSha256 { ciphertext } => out.extend_from_slice(ciphertext),
            Self::EcdhP256HkdfSha256 {
                ephemeral_point,
                sealed_key,
            } => {
                out.extend_from_slice(ephemeral_point);
                out.extend_from_slice(sealed_key);
            }
        }
        out
    }

    /// Parses the wire form. Every length is fixed by the scheme (an RSA body is 256, 384 or
    /// 512 bytes), so a byte string has at most one reading and re-encodes to itself.
    pub fn decode(bytes: &[u8]) -> Result<Self, WrappedKeyError> {
        let rest = bytes
            .strip_prefix(&WRAPPED_KEY_MAGIC)
            .ok_or(WrappedKeyError::NotAsymmetric)?;
        let (&id, body) = rest.split_first().ok_or(WrappedKeyError::Length)?;
        match WrappingScheme::from_id(id).ok_or(WrappedKeyError::UnknownScheme(id))? {
            WrappingScheme::RsaesOaepSha256 => {
                if !RSA_MODULUS_LENS.contains(&body.len()) {
                    return Err(WrappedKeyError::Length);
                }
                Ok(Self::RsaesOaepSha256 {
                    ciphertext: body.to_vec(),
                })
            }
            WrappingScheme::EcdhP256HkdfSha256 => {
                let (point, sealed) = body
                    .split_at_checked(P256_POINT_LEN)
                    .ok_or(WrappedKeyError::Length)?;
                Ok(Self::EcdhP256HkdfSha256 {
                    ephemeral_point: point.try_into().map_err(|_| WrappedKeyError::Length)?,
                    sealed_key: sealed.try_into().map_err(|_| WrappedKeyError::Length)?,
                })
            }
        }
    }
}

/// The ephemeral point as the DER `SubjectPublicKeyInfo` DeriveSharedSecret takes.
pub fn p256_spki(point: &[u8; P256_POINT_LEN]) -> Vec<u8> {
    let mut spki = Vec::with_capacity(P256_SPKI_PREFIX.len() + P256_POINT_LEN);
    spki.extend_from_slice(&P256_SPKI_PREFIX);
    spki.extend_from_slice(point);
    spki
}

/// The one-time key that seals the data key under scheme `0x02`: HKDF-SHA256 with the shared
/// secret (the x-coordinate of the shared point) as input keying material, the ephemeral point as
/// salt, and `"coffer-envelope v1 asymmetric recipient" ‖ 0x02` as info.
fn ecdh_wrapping_key(
    shared_secret: &SecretBytes,
    ephemeral_point: &[u8; P256_POINT_LEN],
) -> Result<SymmetricKey, ProviderError> {
    let ikm = SymmetricKey::from_slice(shared_secret.expose()).map_err(|e| {
        ProviderError::new(
            "InvalidCiphertextException",
            "shared secret is not 32 bytes",
        )
        .with_source(e)
    })?;
    hkdf_sha256(
        &ikm,
        ephemeral_point,
        &[ECDH_LABEL, &[WrappingScheme::EcdhP256HkdfSha256.id()]],
    )
    .map_err(|e| internal("HKDF failed").with_source(e))
}

/// The AES-GCM additional data of scheme `0x02`: magic, scheme byte and ephemeral point (the
/// bytes before the sealed key).
fn ecdh_aad(ephemeral_point: &[u8; P256_POINT_LEN]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(5 + P256_POINT_LEN);
    aad.extend_from_slice(&WRAPPED_KEY_MAGIC);
    aad.push(WrappingScheme::EcdhP256HkdfSha256.id());
    aad.extend_from_slice(ephemeral_point);
    aad
}

fn internal(message: &str) -> ProviderError {
    ProviderError::new("KMSInternalException", message)
}

fn invalid_ciphertext(message: &str) -> ProviderError {
    ProviderError::new("InvalidCiphertextException", message)
}

/// A recipient: the key's identifier (for the KMS, its ARN, which is what the header records and
/// what the decrypting side is called with), its public key and the scheme to wrap with.
#[derive(Clone, PartialEq, Eq)]
pub struct RecipientKey {
    key_id: String,
    scheme: WrappingScheme,
    public_key: Vec<u8>,
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientKey")
            .field("key_id", &self.key_id)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl RecipientKey {
    /// An RSA `ENCRYPT_DECRYPT` key's public key (DER `SubjectPublicKeyInfo`, 2048 to 4096
    /// bits), wrapped to with RSAES-OAEP-SHA-256. Refuses a key that is not RSA of those sizes.
    pub fn rsa_oaep_sha256(
        key_id: impl Into<String>,
        public_key: impl Into<Vec<u8>>,
    ) -> Result<Self, ProviderError> {
        let public_key = public_key.into();
        // A trial encryption parses the key and checks its size the way wrapping will.
        let trial = asym::encrypt_oaep(&public_key, OaepHash::Sha256, &[0; SYMMETRIC_KEY_LEN])
            .map_err(|e| {
                ProviderError::new("InvalidKeyUsageException", "not an RSA public key")
                    .with_source(e)
            })?;
        if !RSA_MODULUS_LENS.contains(&trial.len()) {
            return Err(ProviderError::new(
                "InvalidKeyUsageException",
                "RSA key is not 2048, 3072 or 4096 bits",
            ));
        }
        Ok(Self {
            key_id: key_id.into(),
            scheme: WrappingScheme::RsaesOaepSha256,
            public_key,
        })
    }

    /// A P-256 `KEY_AGREEMENT` key's public key (DER `SubjectPublicKeyInfo`), wrapped to with an
    /// ephemeral ECDH agreement. Refuses a key that is not a valid P-256 point.
    pub fn ecdh_p256(
        key_id: impl Into<String>,
        public_key: impl Into<Vec<u8>>,
    ) -> Result<Self, ProviderError> {
        let public_key = public_key.into();
        let not_p256 = || ProviderError::new("InvalidKeyUsageException", "not a P-256 public key");
        if public_key.len() != P256_SPKI_PREFIX.len() + P256_POINT_LEN
            || !public_key.starts_with(&P256_SPKI_PREFIX)
        {
            return Err(not_p256());
        }
        // A trial agreement checks that the point is on the curve.
        PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Agree)
            .and_then(|e| e.agree(&public_key))
            .map_err(|e| not_p256().with_source(e))?;
        Ok(Self {
            key_id: key_id.into(),
            scheme: WrappingScheme::EcdhP256HkdfSha256,
            public_key,
        })
    }

    /// The key identifier recorded in the header.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The wrapping scheme.
    pub fn scheme(&self) -> WrappingScheme {
        self.scheme
    }

    /// The public key (DER `SubjectPublicKeyInfo`).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Wraps `data_key` to this recipient: the header entry `[key_id, wrapped]`.
    pub fn wrap(&self, data_key: &SymmetricKey) -> Result<EncryptedDataKey, ProviderError> {
        let wrapped = match self.scheme {
            WrappingScheme::RsaesOaepSha256 => WrappedKey::RsaesOaepSha256 {
                ciphertext: asym::encrypt_oaep(
                    &self.public_key,
                    OaepHash::Sha256,
                    data_key.expose(),
                )
                .map_err(|e| internal("RSA-OAEP encryption failed").with_source(e))?,
            },
            WrappingScheme::EcdhP256HkdfSha256 => {
                let ephemeral = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Agree)
                    .map_err(|e| internal("ephemeral key generation failed").with_source(e))?;
                let shared = ephemeral
                    .agree(&self.public_key)
                    .map_err(|e| internal("ECDH failed").with_source(e))?;
                let ephemeral_point: [u8; P256_POINT_LEN] = ephemeral
                    .public_key_der()
                    .strip_prefix(&P256_SPKI_PREFIX)
                    .and_then(|p| p.try_into().ok())
                    .ok_or_else(|| internal("unexpected ephemeral public key encoding"))?;
                let key = ecdh_wrapping_key(&shared, &ephemeral_point)?;
                // The key is used once: a fixed nonce is safe.
                let sealed = aead::seal(
                    &key,
                    &Nonce::from_bytes([0; 12]),
                    &ecdh_aad(&ephemeral_point),
                    data_key.expose(),
                )
                .map_err(|e| internal("AES-GCM seal failed").with_source(e))?;
                WrappedKey::EcdhP256HkdfSha256 {
                    ephemeral_point,
                    sealed_key: sealed
                        .as_slice()
                        .try_into()
                        .map_err(|_| internal("unexpected sealed key length"))?,
                }
            }
        };
        Ok(EncryptedDataKey::new(self.key_id.clone(), wrapped.encode()))
    }
}

/// The encrypting side: a [`DataKeyProvider`] that needs no KMS. It draws each data key from the
/// system random source and wraps it to the recipients' public keys; it cannot unwrap
/// (`decrypt_data_key` answers `UnsupportedOperationException`).
///
/// Key identifiers given to `encrypt` must be recipients' [`RecipientKey::key_id`]s exactly.
#[derive(Clone, Default)]
pub struct PublicKeyRecipients {
    recipients: BTreeMap<String, RecipientKey>,
}

impl fmt::Debug for PublicKeyRecipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.recipients.values()).finish()
    }
}

impl PublicKeyRecipients {
    /// No recipients yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a recipient under its key identifier.
    #[must_use]
    pub fn with(mut self, recipient: RecipientKey) -> Self {
        self.recipients.insert(recipient.key_id.clone(), recipient);
        self
    }

    fn recipient(&self, key_id: &str) -> Result<&RecipientKey, ProviderError> {
        self.recipients.get(key_id).ok_or_else(|| {
            ProviderError::new(
                "NotFoundException",
                format!("no public key for recipient {key_id}"),
            )
        })
    }
}

impl DataKeyProvider for PublicKeyRecipients {
    fn generate_data_key(
        &self,
        key_id: &str,
        _context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        let recipient = self.recipient(key_id)?;
        let data_key = SymmetricKey::generate(&SystemRandom::new())
            .map_err(|e| internal("random source failed").with_source(e))?;
        let encrypted = recipient.wrap(&data_key)?;
        Ok(GeneratedDataKey {
            data_key,
            encrypted,
        })
    }

    fn encrypt_data_key(
        &self,
        key_id: &str,
        data_key: &SymmetricKey,
        _context: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        self.recipient(key_id)?.wrap(data_key)
    }

    fn decrypt_data_key(
        &self,
        _key_id: &str,
        _ciphertext: &[u8],
        _context: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        Err(ProviderError::new(
            "UnsupportedOperationException",
            "a public key cannot unwrap a data key: decrypt through the KMS",
        ))
    }
}

/// The private-key operations the decrypting side needs, each on the key named `key_id`. The
/// in-process `coffer::Kms` implements it (Decrypt and DeriveSharedSecret as one caller); errors
/// keep the service's exception names.
pub trait PrivateKeyOperations: Send + Sync {
    /// Decrypt with `RSAES_OAEP_SHA_256`: the plaintext of an RSA-OAEP-SHA-256 ciphertext.
    fn decrypt_rsaes_oaep_sha256(
        &self,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, ProviderError>;

    /// DeriveSharedSecret with `ECDH`: the shared secret of the key and `public_key` (DER
    /// `SubjectPublicKeyInfo`).
    fn derive_shared_secret(
        &self,
        key_id: &str,
        public_key: &[u8],
    ) -> Result<SecretBytes, ProviderError>;
}

impl<T: PrivateKeyOperations + ?Sized> PrivateKeyOperations for Arc<T> {
    fn decrypt_rsaes_oaep_sha256(
        &self,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, ProviderError> {
        (**self).decrypt_rsaes_oaep_sha256(key_id, ciphertext)
    }

    fn derive_shared_secret(
        &self,
        key_id: &str,
        public_key: &[u8],
    ) -> Result<SecretBytes, ProviderError> {
        (**self).derive_shared_secret(key_id, public_key)
    }
}

impl<T: PrivateKeyOperations + ?Sized> PrivateKeyOperations for &T {
    fn decrypt_rsaes_oaep_sha256(
        &self,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, ProviderError> {
        (**self).decrypt_rsaes_oaep_sha256(key_id, ciphertext)
    }

    fn derive_shared_secret(
        &self,
        key_id: &str,
        public_key: &[u8],
    ) -> Result<SecretBytes, ProviderError> {
        (**self).derive_shared_secret(key_id, public_key)
    }
}

/// Unwraps one asymmetrically wrapped data key with `ops`.
pub fn unwrap_data_key(
    ops: &dyn PrivateKeyOperations,
    key_id: &str,
    wrapped: &WrappedKey,
) -> Result<SymmetricKey, ProviderError> {
    let data_key = match wrapped {
        WrappedKey::RsaesOaepSha256 { ciphertext } => {
            ops.decrypt_rsaes_oaep_sha256(key_id, ciphertext)?
        }
        WrappedKey::EcdhP256HkdfSha256 {
            ephemeral_point,
            sealed_key,
        } => {
            let shared = ops.derive_shared_secret(key_id, &p256_spki(ephemeral_point))?;
            let key = ecdh_wrapping_key(&shared, ephemeral_point)?;
            aead::open(
                &key,
                &Nonce::from_bytes([0; 12]),
                &ecdh_aad(ephemeral_point),
                sealed_key,
            )
            .map_err(|e| {
                invalid_ciphertext("the wrapped data key does not open under this key")
                    .with_source(e)
            })?
        }
    };
    SymmetricKey::from_slice(data_key.expose())
        .map_err(|_| invalid_ciphertext("the wrapped data key is not a 256-bit key"))
}

/// The decrypting side: a [`DataKeyProvider`] that unwraps asymmetrically wrapped data keys with a
/// [`PrivateKeyOperations`] (the KMS). Header entries that are not asymmetric wrappings, and every
/// generate and encrypt call, go to the fallback provider `F`: by default [`NoFallback`], which
/// refuses them; with [`with_fallback`](Self::with_fallback) the symmetric KMS provider, so that
/// messages with both kinds of recipient open.
pub struct PrivateKeyUnwrapper<O, F = NoFallback> {
    ops: O,
    fallback: F,
}

impl<O, F: fmt::Debug> fmt::Debug for PrivateKeyUnwrapper<O, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKeyUnwrapper")
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl<O: PrivateKeyOperations> PrivateKeyUnwrapper<O> {
    /// Unwraps with `ops`; no fallback.
    pub fn new(ops: O) -> Self {
        Self {
            ops,
            fallback: NoFallback,
        }
    }
}

impl<O: PrivateKeyOperations, F: DataKeyProvider> PrivateKeyUnwrapper<O, F> {
    /// Hands entries that are not asymmetric wrappings, and every generate and encrypt call, to
    /// `fallback`.
    pub fn with_fallback<G: DataKeyProvider>(self, fallback: G) -> PrivateKeyUnwrapper<O, G> {
        PrivateKeyUnwrapper {
            ops: self.ops,
            fallback,
        }
    }

    /// The private-key operations.
    pub fn operations(&self) -> &O {
        &self.ops
    }
}

/// The fallback of a [`PrivateKeyUnwrapper`] that has none: it generates and wraps no data keys
/// (`UnsupportedOperationException`) and unwraps nothing (`InvalidCiphertextException`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

impl DataKeyProvider for NoFallback {
    fn generate_data_key(
        &self,
        _key_id: &str,
        _context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        Err(ProviderError::new(
            "UnsupportedOperationException",
            "an asymmetric unwrapper generates no data keys",
        ))
    }

    fn encrypt_data_key(
        &self,
        _key_id: &str,
        _data_key: &SymmetricKey,
        _context: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        Err(ProviderError::new(
            "UnsupportedOperationException",
            "an asymmetric unwrapper wraps no data keys",
        ))
    }

    fn decrypt_data_key(
        &self,
        _key_id: &str,
        _ciphertext: &[u8],
        _context: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        Err(invalid_ciphertext("not an asymmetrically wrapped data key"))
    }
}

impl<O: PrivateKeyOperations, F: DataKeyProvider> DataKeyProvider for PrivateKeyUnwrapper<O, F> {
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        self.fallback.generate_data_key(key_id, context)
    }

    fn encrypt_data_key(
        &self,
        key_id: &str,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        self.fallback.encrypt_data_key(key_id, data_key, context)
    }

    fn decrypt_data_key(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        match WrappedKey::decode(ciphertext) {
            Ok(wrapped) => unwrap_data_key(&self.ops, key_id, &wrapped),
            Err(WrappedKeyError::NotAsymmetric) => {
                self.fallback.decrypt_data_key(key_id, ciphertext, context)
            }
            Err(e) => {
                Err(invalid_ciphertext("malformed asymmetrically wrapped data key").with_source(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decrypt, encrypt, DecryptOptions, EncryptOptions, EnvelopeError};
    use proptest::prelude::*;

    /// The private half held locally, standing in for the KMS.
    struct LocalKeys(BTreeMap<String, PrivateKey>);

    impl LocalKeys {
        fn key(&self, key_id: &str) -> Result<&PrivateKey, ProviderError> {
            self.0
                .get(key_id)
                .ok_or_else(|| ProviderError::new("NotFoundException", key_id.to_owned()))
        }
    }

    impl PrivateKeyOperations for LocalKeys {
        fn decrypt_rsaes_oaep_sha256(
            &self,
            key_id: &str,
            ciphertext: &[u8],
        ) -> Result<SecretBytes, ProviderError> {
            self.key(key_id)?
                .decrypt_oaep(OaepHash::Sha256, ciphertext)
                .map_err(|e| invalid_ciphertext("").with_source(e))
        }

        fn derive_shared_secret(
            &self,
            key_id: &str,
            public_key: &[u8],
        ) -> Result<SecretBytes, ProviderError> {
            self.key(key_id)?
                .agree(public_key)
                .map_err(|e| ProviderError::new("ValidationException", "").with_source(e))
        }
    }

    fn keys() -> (LocalKeys, PublicKeyRecipients) {
        let rsa = PrivateKey::generate(AsymmetricAlgorithm::Rsa2048, KeyRole::Decrypt).unwrap();
        let ec = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Agree).unwrap();
        let recipients = PublicKeyRecipients::new()
            .with(RecipientKey::rsa_oaep_sha256("rsa", rsa.public_key_der()).unwrap())
            .with(RecipientKey::ecdh_p256("ec", ec.public_key_der()).unwrap());
        let local = LocalKeys([("rsa".to_owned(), rsa), ("ec".to_owned(), ec)].into());
        (local, recipients)
    }

    fn ctx() -> EncryptionContext {
        [("purpose", "offline")].into_iter().collect()
    }

    #[test]
    fn each_scheme_round_trips_and_either_recipient_opens() {
        let (local, recipients) = keys();
        let unwrapper = PrivateKeyUnwrapper::new(&local);
        for ids in [&["rsa"][..], &["ec"], &["rsa", "ec"], &["ec", "rsa"]] {
            let msg = encrypt(
                &recipients,
                ids,
                &ctx(),
                b"for your eyes",
                &EncryptOptions::new(),
            )
            .unwrap();
            let opened = decrypt(&unwrapper, &msg, &DecryptOptions::new()).unwrap();
            assert_eq!(opened.plaintext().expose(), b"for your eyes");
            for id in ids {
                let only = DecryptOptions::new().allow_key_ids([*id]);
                let opened = decrypt(&unwrapper, &msg, &only).unwrap();
                assert_eq!(opened.context(), &ctx());
            }
        }
    }

    #[test]
    fn public_keys_cannot_decrypt() {
        let (_, recipients) = keys();
        let msg = encrypt(&recipients, &["ec"], &ctx(), b"x", &EncryptOptions::new()).unwrap();
        match decrypt(&recipients, &msg, &DecryptOptions::new()) {
            Err(EnvelopeError::NoDecryptableDataKey { last: Some(e), .. }) => {
                assert_eq!(e.code(), "UnsupportedOperationException");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn another_keys_private_half_is_refused() {
        let (_, recipients) = keys();
        let (other, _) = keys();
        let unwrapper = PrivateKeyUnwrapper::new(&other);
        for id in ["rsa", "ec"] {
            let msg = encrypt(&recipients, &[id], &ctx(), b"x", &EncryptOptions::new()).unwrap();
            match decrypt(&unwrapper, &msg, &DecryptOptions::new()) {
                Err(EnvelopeError::NoDecryptableDataKey { attempted: 1, .. }) => {}
                other => panic!("{id}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_recipient_and_wrong_key_types_are_refused() {
        let (_, recipients) = keys();
        assert!(encrypt(
            &recipients,
            &["nobody"],
            &ctx(),
            b"x",
            &EncryptOptions::new()
        )
        .is_err());
        let ec = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Agree).unwrap();
        let rsa = PrivateKey::generate(AsymmetricAlgorithm::Rsa2048, KeyRole::Decrypt).unwrap();
        let p384 = PrivateKey::generate(AsymmetricAlgorithm::P384, KeyRole::Agree).unwrap();
        assert!(RecipientKey::rsa_oaep_sha256("k", ec.public_key_der()).is_err());
        assert!(RecipientKey::ecdh_p256("k", rsa.public_key_der()).is_err());
        assert!(RecipientKey::ecdh_p256("k", p384.public_key_der()).is_err());
        let mut off_curve = ec.public_key_der().to_vec();
        if let Some(b) = off_curve.last_mut() {
            *b ^= 1;
        }
        assert!(RecipientKey::ecdh_p256("k", off_curve).is_err());
    }

    #[test]
    fn tampered_wrapping_is_refused() {
        let (local, recipients) = keys();
        let unwrapper = PrivateKeyUnwrapper::new(&local);
        let data_key = SymmetricKey::from_bytes([3; 32]);
        for id in ["rsa", "ec"] {
            let edk = recipients.encrypt_data_key(id, &data_key, &ctx()).unwrap();
            let ok = unwrapper
                .decrypt_data_key(id, &edk.ciphertext, &ctx())
                .unwrap();
            assert_eq!(ok.expose(), data_key.expose());
            // Flip one bit of every byte after the magic and scheme in turn (and every tenth
            // bit of those): none opens to the data key.
            for i in (5..edk.ciphertext.len()).step_by(7) {
                let mut bad = edk.ciphertext.clone();
                bad[i] ^= 0x10;
                if let Ok(k) = unwrapper.decrypt_data_key(id, &bad, &ctx()) {
                    assert_ne!(k.expose(), data_key.expose(), "{id} byte {i}");
                }
            }
            // Another scheme byte, a cut, a byte more: malformed.
            let mut bad = edk.ciphertext.clone();
            bad[4] = 0x7f;
            assert!(unwrapper.decrypt_data_key(id, &bad, &ctx()).is_err());
            let cut = &edk.ciphertext[..edk.ciphertext.len() - 1];
            assert!(unwrapper.decrypt_data_key(id, cut, &ctx()).is_err());
            let mut long = edk.ciphertext.clone();
            long.push(0);
            assert!(unwrapper.decrypt_data_key(id, &long, &ctx()).is_err());
            // The entry under the other recipient's name: refused.
            let other = if id == "rsa" { "ec" } else { "rsa" };
            assert!(unwrapper
                .decrypt_data_key(other, &edk.ciphertext, &ctx())
                .is_err());
        }
    }

    #[test]
    fn tampered_message_header_is_refused() {
        let (local, recipients) = keys();
        let unwrapper = PrivateKeyUnwrapper::new(&local);
        let msg = encrypt(
            &recipients,
            &["ec", "rsa"],
            &ctx(),
            b"x",
            &EncryptOptions::new(),
        )
        .unwrap();
        let header_end = crate::PREFIX_LEN
            + u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]) as usize
            + crate::HEADER_TAG_LEN;
        for i in 0..header_end {
            let mut bad = msg.clone();
            bad[i] ^= 0x01;
            assert!(
                decrypt(&unwrapper, &bad, &DecryptOptions::new()).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn other_entries_go_to_the_fallback() {
        struct Refuses;
        impl DataKeyProvider for Refuses {
            fn generate_data_key(
                &self,
                _: &str,
                _: &EncryptionContext,
            ) -> Result<GeneratedDataKey, ProviderError> {
                Err(ProviderError::new("Fallback", "generate"))
            }
            fn encrypt_data_key(
                &self,
                _: &str,
                _: &SymmetricKey,
                _: &EncryptionContext,
            ) -> Result<EncryptedDataKey, ProviderError> {
                Err(ProviderError::new("Fallback", "encrypt"))
            }
            fn decrypt_data_key(
                &self,
                _: &str,
                _: &[u8],
                _: &EncryptionContext,
            ) -> Result<SymmetricKey, ProviderError> {
                Err(ProviderError::new("Fallback", "decrypt"))
            }
        }
        let (local, _) = keys();
        let plain = PrivateKeyUnwrapper::new(&local);
        let e = plain.decrypt_data_key("k", &[1, 2, 3], &ctx()).unwrap_err();
        assert_eq!(e.code(), "InvalidCiphertextException");
        assert!(plain.generate_data_key("k", &ctx()).is_err());
        let with = PrivateKeyUnwrapper::new(&local).with_fallback(Refuses);
        let e = with.decrypt_data_key("k", &[1, 2, 3], &ctx()).unwrap_err();
        assert_eq!((e.code(), e.message()), ("Fallback", "decrypt"));
        let e = with.generate_data_key("k", &ctx()).unwrap_err();
        assert_eq!(e.message(), "generate");
    }

    #[test]
    fn wire_form_is_magic_scheme_body() {
        let ecdh = WrappedKey::EcdhP256HkdfSha256 {
            ephemeral_point: [4; P256_POINT_LEN],
            sealed_key: [5; 48],
        };
        let enc = ecdh.encode();
        assert_eq!(&enc[..5], b"CFAR\x02");
        assert_eq!(enc.len(), 5 + 65 + 48);
        let rsa = WrappedKey::RsaesOaepSha256 {
            ciphertext: vec![6; 384],
        };
        assert_eq!(&rsa.encode()[..5], b"CFAR\x01");
        assert_eq!(
            WrappedKey::decode(b"\x01rest"),
            Err(WrappedKeyError::NotAsymmetric)
        );
        assert_eq!(WrappedKey::decode(b"CFAR"), Err(WrappedKeyError::Length));
        assert_eq!(
            WrappedKey::decode(b"CFAR\x03"),
            Err(WrappedKeyError::UnknownScheme(3))
        );
        let mut p = P256_SPKI_PREFIX.to_vec();
        p.extend_from_slice(&[4; P256_POINT_LEN]);
        assert_eq!(p256_spki(&[4; P256_POINT_LEN]), p);
    }

    fn wrapped_key() -> impl Strategy<Value = WrappedKey> {
        prop_oneof![
            prop::sample::select(RSA_MODULUS_LENS.to_vec())
                .prop_flat_map(|n| prop::collection::vec(any::<u8>(), n))
                .prop_map(|ciphertext| WrappedKey::RsaesOaepSha256 { ciphertext }),
            (
                prop::collection::vec(any::<u8>(), P256_POINT_LEN),
                prop::collection::vec(any::<u8>(), 48)
            )
                .prop_map(|(p, s)| WrappedKey::EcdhP256HkdfSha256 {
                    ephemeral_point: p.try_into().unwrap(),
                    sealed_key: s.try_into().unwrap(),
                }),
        ]
    }

    proptest! {
        #[test]
        fn encoding_round_trips(w in wrapped_key()) {
            let enc = w.encode();
            prop_assert_eq!(WrappedKey::decode(&enc), Ok(w));
        }

        #[test]
        fn decoding_is_exact(bytes in prop::collection::vec(any::<u8>(), 0..600), scheme in 0u8..4) {
            // Anything decoded re-encodes to the same bytes; half the inputs get the magic.
            let mut input = bytes;
            if scheme % 2 == 0 {
                let mut m = WRAPPED_KEY_MAGIC.to_vec();
                m.push(scheme / 2 + 1);
                m.append(&mut input);
                input = m;
            }
            if let Ok(w) = WrappedKey::decode(&input) {
                prop_assert_eq!(w.encode(), input);
            }
        }
    }
}
