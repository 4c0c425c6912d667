//! The AWS Encryption SDK message format, version 2, beside coffer's own format: messages the
//! ESDK (Python, Java, C, JavaScript, .NET, Rust) wrote open here, and messages written here
//! open with the ESDK.
//!
//! Suites: `0x0478` (AES-256-GCM, HKDF-SHA512, key commitment) and `0x0578` (the same with an
//! ECDSA P-384 signature in the footer and the `aws-crypto-public-key` context entry). Version 1
//! messages (the non-committing suites) are refused. Bodies: framed and non-framed, both ways.
//! Streaming decryption: [`EsdkDecryptingReader`]. The data key is wrapped and unwrapped by [`Keyring`]s:
//! [`KmsKeyring`] over any [`DataKeyProvider`](crate::DataKeyProvider) (`aws-kms` encrypted data
//! keys, provider info = key ARN), [`RawAesKeyring`] (the ESDK's raw AES keyring) and
//! [`MultiKeyring`]. See `docs/ESDK.md`.
//!
//! ```
//! use coffer_core::EncryptionContext;
//! use coffer_crypto::SymmetricKey;
//! use coffer_envelope::esdk::{self, EsdkDecryptOptions, EsdkEncryptOptions, RawAesKeyring};
//!
//! let keyring = RawAesKeyring::new("my-namespace", "my-key", SymmetricKey::from_bytes([7; 32]));
//! let mut ctx = EncryptionContext::new();
//! ctx.insert("purpose", "example");
//! let message = esdk::encrypt(&keyring, &ctx, b"hello", &EsdkEncryptOptions::new())?;
//! let opened = esdk::decrypt(&keyring, &message, &EsdkDecryptOptions::new())?;
//! assert_eq!(opened.plaintext().expose(), b"hello");
//! assert_eq!(opened.context().get("purpose"), Some("example"));
//! # Ok::<(), coffer_envelope::esdk::EsdkError>(())
//! ```

mod body;
mod error;
mod header;
mod keyring;
mod sign;
mod stream;

use std::fmt;
use std::sync::Arc;

use coffer_core::EncryptionContext;
use coffer_crypto::{constant_time_eq, RandomSource, SecretBytes, SymmetricKey, SystemRandom};

pub use error::{EsdkError, EsdkMalformed};
pub use header::{
    serialize_context, ContentType, EsdkHeader, ESDK_COMMITMENT_LEN, ESDK_IV_LEN,
    ESDK_MESSAGE_ID_LEN, ESDK_TAG_LEN, ESDK_VERSION,
};
pub use keyring::{Keyring, KmsKeyring, MultiKeyring, RawAesKeyring, AWS_KMS_PROVIDER_ID};
pub use sign::PUBLIC_KEY_CONTEXT_KEY;
pub use stream::EsdkDecryptingReader;

/// The ESDK's default frame length (4096 bytes).
pub const ESDK_DEFAULT_FRAME_LEN: u32 = 4096;
/// The largest frame length the format allows (2^31 − 1).
pub const ESDK_MAX_FRAME_LEN: u32 = i32::MAX as u32;
/// The most frames a message may have (2^32 − 1).
pub const ESDK_MAX_FRAMES: u32 = u32::MAX;
/// The largest non-framed body (2^36 − 32 bytes, the AES-GCM bound).
pub const ESDK_MAX_NON_FRAMED_LEN: u64 = (1 << 36) - 32;
/// Default bound on encrypted data keys per message on decryption (as coffer's own format).
pub const ESDK_DEFAULT_MAX_ENCRYPTED_DATA_KEYS: usize = 10;
/// Default bound on the header length accepted on decryption (1 MiB).
pub const ESDK_DEFAULT_MAX_HEADER_LEN: usize = 1 << 20;
/// Default bound on the frame length accepted on decryption (64 MiB).
pub const ESDK_DEFAULT_MAX_FRAME_LEN: u32 = 1 << 26;

/// The committing algorithm suites of message format v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EsdkSuite {
    /// `0x0478`: AES-256-GCM, HKDF-SHA512, key commitment, no signature.
    Aes256GcmHkdfSha512CommitKey,
    /// `0x0578`: as 0x0478, with an ECDSA P-384 / SHA-384 signature.
    Aes256GcmHkdfSha512CommitKeyEcdsaP384,
}

impl EsdkSuite {
    /// The suite id as written in the header.
    pub const fn id(self) -> u16 {
        match self {
            Self::Aes256GcmHkdfSha512CommitKey => 0x0478,
            Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => 0x0578,
        }
    }

    /// The suite of an id, if supported.
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            0x0478 => Some(Self::Aes256GcmHkdfSha512CommitKey),
            0x0578 => Some(Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384),
            _ => None,
        }
    }

    /// Whether messages of the suite carry a signature.
    pub const fn is_signed(self) -> bool {
        matches!(self, Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384)
    }
}

/// An encrypted data key as the ESDK stores it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EsdkEncryptedDataKey {
    /// The key provider id (`aws-kms`, a raw keyring's namespace).
    pub provider_id: String,
    /// The key provider info (`aws-kms`: the key ARN; raw AES: name, lengths, IV).
    pub provider_info: Vec<u8>,
    /// The wrapped data key.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for EsdkEncryptedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsdkEncryptedDataKey")
            .field("provider_id", &self.provider_id)
            .field(
                "provider_info",
                &String::from_utf8_lossy(&self.provider_info),
            )
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// A bounds-checked reader over a byte slice: every read that would pass the end is
/// [`EsdkError::Truncated`].
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], EsdkError> {
        let end = self.pos.checked_add(n).ok_or(EsdkError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(EsdkError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], EsdkError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, EsdkError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, EsdkError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, EsdkError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, EsdkError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

/// A 32-byte output length for ring's HKDF.
struct Len32;

impl ring::hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// The data encryption key and the key commitment: HKDF-SHA512 with the message id as salt and
/// the data key as input keying material; info = suite id ‖ "DERIVEKEY" for the key,
/// "COMMITKEY" for the commitment.
pub(crate) fn derive(
    data_key: &SymmetricKey,
    suite: EsdkSuite,
    message_id: &[u8; ESDK_MESSAGE_ID_LEN],
) -> Result<(SymmetricKey, [u8; ESDK_COMMITMENT_LEN]), EsdkError> {
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA512, message_id).extract(data_key.expose());
    let suite_id = suite.id().to_be_bytes();
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    prk.expand(&[&suite_id, b"DERIVEKEY"], Len32)
        .and_then(|okm| okm.fill(key.as_mut()))
        .map_err(|_| EsdkError::Crypto)?;
    let mut commitment = [0u8; ESDK_COMMITMENT_LEN];
    prk.expand(&[b"COMMITKEY"], Len32)
        .and_then(|okm| okm.fill(&mut commitment))
        .map_err(|_| EsdkError::Crypto)?;
    Ok((SymmetricKey::from_bytes(*key), commitment))
}

/// How to decrypt: bounds, the context required, whether signed messages are accepted.
#[derive(Debug, Clone)]
pub struct EsdkDecryptOptions {
    pub(crate) max_encrypted_data_keys: usize,
    pub(crate) max_frame_len: u32,
    pub(crate) max_header_len: usize,
    pub(crate) required_context: EncryptionContext,
    pub(crate) unstored_context: EncryptionContext,
    pub(crate) unsigned_only: bool,
}

impl Default for EsdkDecryptOptions {
    fn default() -> Self {
        Self {
            max_encrypted_data_keys: ESDK_DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
            max_frame_len: ESDK_DEFAULT_MAX_FRAME_LEN,
            max_header_len: ESDK_DEFAULT_MAX_HEADER_LEN,
            required_context: EncryptionContext::new(),
            unstored_context: EncryptionContext::new(),
            unsigned_only: false,
        }
    }
}

impl EsdkDecryptOptions {
    /// The defaults: at most [`ESDK_DEFAULT_MAX_ENCRYPTED_DATA_KEYS`] data keys, frames up to
    /// [`ESDK_DEFAULT_MAX_FRAME_LEN`], signed and unsigned messages, no context required.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most encrypted data keys a message may carry (the ESDK's `max_encrypted_data_keys`).
    #[must_use]
    pub fn with_max_encrypted_data_keys(mut self, n: usize) -> Self {
        self.max_encrypted_data_keys = n;
        self
    }

    /// The largest frame length accepted (at most [`ESDK_MAX_FRAME_LEN`] is meaningful).
    #[must_use]
    pub fn with_max_frame_len(mut self, n: u32) -> Self {
        self.max_frame_len = n;
        self
    }

    /// The longest header body accepted (default [`ESDK_DEFAULT_MAX_HEADER_LEN`]); a streaming
    /// reader holds the header whole, so this bounds its memory before the body.
    #[must_use]
    pub fn with_max_header_len(mut self, n: usize) -> Self {
        self.max_header_len = n;
        self
    }

    /// Requires every pair of `ctx` in the message's encryption context (as the ESDK's
    /// encryption context check: the message may hold more pairs).
    #[must_use]
    pub fn require_context(mut self, ctx: EncryptionContext) -> Self {
        self.required_context = ctx;
        self
    }

    /// Supplies the pairs the encrypter authenticated without storing them in the message (the
    /// ESDK's required-encryption-context CMM; coffer's
    /// [`EsdkEncryptOptions::with_unstored_context_keys`]): they join the stored context for
    /// the keyrings and the required-context check, and the header tag covers them. Keys also
    /// stored in the message are refused ([`EsdkError::ContextMismatch`]).
    #[must_use]
    pub fn with_unstored_context(mut self, ctx: EncryptionContext) -> Self {
        self.unstored_context = ctx;
        self
    }

    /// Refuses signed suites (the ESDK's `decrypt-unsigned` mode).
    #[must_use]
    pub fn unsigned_only(mut self) -> Self {
        self.unsigned_only = true;
        self
    }
}

/// An opened message: the plaintext and the header it was stored under.
pub struct EsdkDecrypted {
    plaintext: SecretBytes,
    header: EsdkHeader,
    context: EncryptionContext,
}

impl fmt::Debug for EsdkDecrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsdkDecrypted")
            .field("plaintext_len", &self.plaintext.len())
            .field("header", &self.header)
            .finish()
    }
}

impl EsdkDecrypted {
    /// The plaintext.
    pub fn plaintext(&self) -> &SecretBytes {
        &self.plaintext
    }

    /// The plaintext, taken.
    pub fn into_plaintext(self) -> SecretBytes {
        self.plaintext
    }

    /// The message's encryption context: the stored pairs (with `aws-crypto-public-key` for
    /// 0x0578) and any unstored pairs supplied with
    /// [`EsdkDecryptOptions::with_unstored_context`].
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    /// The header.
    pub fn header(&self) -> &EsdkHeader {
        &self.header
    }
}

/// Decrypts a whole ESDK message v2 held in memory. Checks, in order: the header's structure and
/// bounds, a data key from `keyring`, the key commitment (constant time), the header tag, the
/// required context, every frame in sequence, then (0x0578) the signature; only then is the
/// plaintext returned.
pub fn decrypt(
    keyring: &dyn Keyring,
    message: &[u8],
    options: &EsdkDecryptOptions,
) -> Result<EsdkDecrypted, EsdkError> {
    let (header, header_len) = EsdkHeader::parse(message, options)?;
    let mut c = Cursor::new(message);
    c.take(header_len)?;
    let tag = c.array::<ESDK_TAG_LEN>()?;
    if header.suite.is_signed() && options.unsigned_only {
        return Err(EsdkError::UnsupportedSuite(header.suite.id()));
    }
    let verifier = if header.suite.is_signed() {
        Some(sign::Verifier::from_context(&header.context)?)
    } else {
        None
    };

    let (cipher, context) = open_header(keyring, &header, &message[..header_len], &tag, options)?;

    let plaintext = body::decrypt_body(&mut c, &header, &cipher)?;
    if let Some(verifier) = verifier {
        let signed_len = c.pos();
        let sig_len = c.u16()?;
        if sig_len == 0 || usize::from(sig_len) > sign::MAX_SIGNATURE_LEN {
            return Err(EsdkMalformed::SignatureLength.into());
        }
        let sig = c.take(usize::from(sig_len))?;
        if !c.is_empty() {
            return Err(EsdkError::TrailingData);
        }
        verifier.verify(&message[..signed_len], sig)?;
    } else if !c.is_empty() {
        return Err(EsdkError::TrailingData);
    }
    Ok(EsdkDecrypted {
        plaintext,
        header,
        context,
    })
}

/// The common part of one-shot and streaming decryption once the header is parsed: the full
/// context (stored and unstored pairs), a data key from `keyring`, the commitment (constant
/// time), the header tag (over the header and the serialized unstored pairs), the required
/// context. Returns the body cipher and the full context.
pub(crate) fn open_header(
    keyring: &dyn Keyring,
    header: &EsdkHeader,
    header_bytes: &[u8],
    tag: &[u8; ESDK_TAG_LEN],
    options: &EsdkDecryptOptions,
) -> Result<(coffer_crypto::aead::Aes256Gcm, EncryptionContext), EsdkError> {
    let mut context = header.context.clone();
    for (k, v) in options.unstored_context.iter() {
        if context.get(k).is_some() {
            return Err(EsdkError::ContextMismatch);
        }
        context.insert(k, v);
    }
    let mut attempted = 0;
    let mut last = None;
    let data_key = keyring
        .unwrap(
            &header.encrypted_data_keys,
            &context,
            &mut attempted,
            &mut last,
        )
        .ok_or(EsdkError::NoDecryptableDataKey { attempted, last })?;
    let (key, commitment) = derive(&data_key, header.suite, &header.message_id)?;
    drop(data_key);
    if !constant_time_eq(&commitment, &header.commitment) {
        return Err(EsdkError::Commitment);
    }
    let cipher = coffer_crypto::aead::Aes256Gcm::new(&key).map_err(|_| EsdkError::Crypto)?;
    let unstored = serialize_context(&options.unstored_context)?;
    body::check_header_tag(&cipher, header_bytes, &unstored, tag)?;
    for (k, v) in options.required_context.iter() {
        if context.get(k) != Some(v) {
            return Err(EsdkError::ContextMismatch);
        }
    }
    Ok((cipher, context))
}

/// How to encrypt: suite, frame length, randomness.
#[derive(Clone)]
pub struct EsdkEncryptOptions {
    pub(crate) suite: EsdkSuite,
    pub(crate) frame_len: u32,
    pub(crate) non_framed: bool,
    pub(crate) unstored_keys: Vec<String>,
    pub(crate) max_encrypted_data_keys: usize,
    pub(crate) rng: Arc<dyn RandomSource>,
}

impl fmt::Debug for EsdkEncryptOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsdkEncryptOptions")
            .field("suite", &self.suite)
            .field("frame_len", &self.frame_len)
            .field("non_framed", &self.non_framed)
            .field("unstored_keys", &self.unstored_keys)
            .field("max_encrypted_data_keys", &self.max_encrypted_data_keys)
            .finish_non_exhaustive()
    }
}

impl Default for EsdkEncryptOptions {
    fn default() -> Self {
        Self {
            suite: EsdkSuite::Aes256GcmHkdfSha512CommitKey,
            frame_len: ESDK_DEFAULT_FRAME_LEN,
            non_framed: false,
            unstored_keys: Vec::new(),
            max_encrypted_data_keys: ESDK_DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
            rng: Arc::new(SystemRandom::new()),
        }
    }
}

impl EsdkEncryptOptions {
    /// The defaults: suite 0x0478, 4096-byte frames, the system random source.
    pub fn new() -> Self {
        Self::default()
    }

    /// The algorithm suite.
    #[must_use]
    pub fn with_suite(mut self, suite: EsdkSuite) -> Self {
        self.suite = suite;
        self
    }

    /// Plaintext bytes per frame, 1 to [`ESDK_MAX_FRAME_LEN`].
    #[must_use]
    pub fn with_frame_len(mut self, frame_len: u32) -> Self {
        self.frame_len = frame_len;
        self
    }

    /// Writes a non-framed body (content type 0x01, one AES-GCM ciphertext of at most
    /// [`ESDK_MAX_NON_FRAMED_LEN`] bytes) instead of frames; the frame length is ignored.
    /// Streaming readers must hold such a body whole: prefer frames.
    #[must_use]
    pub fn non_framed(mut self) -> Self {
        self.non_framed = true;
        self
    }

    /// Context keys whose pairs are authenticated (keyrings and header tag) but not stored in
    /// the message, as the ESDK's required-encryption-context CMM does: the reader must supply
    /// them ([`EsdkDecryptOptions::with_unstored_context`]). Each must be in the context.
    #[must_use]
    pub fn with_unstored_context_keys(
        mut self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.unstored_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The most encrypted data keys the keyring may produce.
    #[must_use]
    pub fn with_max_encrypted_data_keys(mut self, n: usize) -> Self {
        self.max_encrypted_data_keys = n;
        self
    }

    /// The random source for message ids (tests use a deterministic one). Signing keys of
    /// 0x0578 always come from the operating system.
    #[must_use]
    pub fn with_rng(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.rng = rng;
        self
    }
}

/// Encrypts `plaintext` as an ESDK message v2 (framed unless [`EsdkEncryptOptions::non_framed`]) under a data key from `keyring`, bound to
/// `context`. Context keys starting `aws-crypto-` are reserved and refused.
pub fn encrypt(
    keyring: &dyn Keyring,
    context: &EncryptionContext,
    plaintext: &[u8],
    options: &EsdkEncryptOptions,
) -> Result<Vec<u8>, EsdkError> {
    if options.non_framed {
        if plaintext.len() as u64 > ESDK_MAX_NON_FRAMED_LEN {
            return Err(EsdkError::LimitExceeded {
                what: "non-framed content length",
                max: ESDK_MAX_NON_FRAMED_LEN,
                found: plaintext.len() as u64,
            });
        }
    } else if options.frame_len == 0 || options.frame_len > ESDK_MAX_FRAME_LEN {
        return Err(EsdkError::InvalidArgument(
            "frame length must be between 1 and 2^31 - 1",
        ));
    }
    if context.iter().any(|(k, _)| k.starts_with("aws-crypto-")) {
        return Err(EsdkError::InvalidArgument(
            "encryption context keys starting aws-crypto- are reserved",
        ));
    }
    if options
        .unstored_keys
        .iter()
        .any(|k| context.get(k).is_none())
    {
        return Err(EsdkError::InvalidArgument(
            "an unstored context key is not in the encryption context",
        ));
    }
    let mut context = context.clone();
    let signer = if options.suite.is_signed() {
        let signer = sign::Signer::generate()?;
        context.insert(PUBLIC_KEY_CONTEXT_KEY, signer.public_key_base64());
        Some(signer)
    } else {
        None
    };
    // Fail on an oversized context before the keyring is called.
    serialize_context(&context)?;
    let (data_key, edks) = keyring.generate(&context)?;
    if edks.is_empty() {
        return Err(EsdkError::InvalidArgument(
            "keyring returned no encrypted data key",
        ));
    }
    if edks.len() > options.max_encrypted_data_keys {
        return Err(EsdkError::LimitExceeded {
            what: "number of encrypted data keys",
            max: options.max_encrypted_data_keys as u64,
            found: edks.len() as u64,
        });
    }
    let mut message_id = [0u8; ESDK_MESSAGE_ID_LEN];
    options
        .rng
        .fill_public(&mut message_id)
        .map_err(|_| EsdkError::Crypto)?;
    let (key, commitment) = derive(&data_key, options.suite, &message_id)?;
    drop(data_key);
    // The stored context lacks the unstored pairs; the header tag covers them.
    let is_unstored = |k: &str| options.unstored_keys.iter().any(|u| u == k);
    let stored: EncryptionContext = context.iter().filter(|(k, _)| !is_unstored(k)).collect();
    let unstored: EncryptionContext = context.iter().filter(|(k, _)| is_unstored(k)).collect();
    let header = EsdkHeader {
        suite: options.suite,
        message_id,
        context: stored,
        encrypted_data_keys: edks,
        content_type: if options.non_framed {
            ContentType::NonFramed
        } else {
            ContentType::Framed
        },
        frame_len: if options.non_framed {
            0
        } else {
            options.frame_len
        },
        commitment,
    };
    let mut out = header::serialize_header(&header)?;
    let cipher = coffer_crypto::aead::Aes256Gcm::new(&key).map_err(|_| EsdkError::Crypto)?;
    body::seal_header_tag(&cipher, &serialize_context(&unstored)?, &mut out)?;
    if options.non_framed {
        body::encrypt_non_framed(&cipher, &header, plaintext, &mut out)?;
    } else {
        body::encrypt_framed(&cipher, &header, plaintext, &mut out)?;
    }
    if let Some(signer) = signer {
        let sig = signer.sign(&out)?;
        let len = u16::try_from(sig.len()).map_err(|_| EsdkError::Crypto)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&sig);
    }
    Ok(out)
}
