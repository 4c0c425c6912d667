//! Setting up a message (data key, derivations, header) and the one-shot `encrypt` / `decrypt`.

use std::fmt;
use std::io::Read;
use std::sync::Arc;

use coffer_core::EncryptionContext;
use coffer_crypto::aead::TAG_LEN;
use coffer_crypto::{
    constant_time_eq, hkdf_sha256_each, RandomSource, SecretBytes, SymmetricKey, SystemRandom,
};

use crate::error::{InvalidArgument, Limit};
use crate::header::{
    encode_header, parse_prefix, prefix, AlgorithmSuite, Limits, COMMITMENT_LEN,
    DEFAULT_MAX_ENCRYPTED_DATA_KEYS, DEFAULT_MAX_HEADER_LEN, FRAME_LEN, MAX_FRAMES, MAX_FRAME_LEN,
    MAX_KEY_ID_LEN, MAX_WRAPPED_KEY_LEN, MESSAGE_ID_LEN, PREFIX_LEN,
};
use crate::stream::{FrameCipher, FRAME_FINAL, FRAME_REGULAR};
use crate::{
    DataKeyProvider, DerivationKey, EncryptedDataKey, EnvelopeError, Header, MaterialsRequest,
};

/// The HKDF `info` prefix of every derivation; followed by the suite id and a label.
const KDF_LABEL: &[u8] = b"coffer-envelope v1";
/// Label of the frame-key derivation.
const DERIVE_LABEL: &[u8] = b"DERIVEKEY";
/// Label of the key-commitment derivation.
const COMMIT_LABEL: &[u8] = b"COMMITKEY";

/// Suite `0x0002`'s extract salt. Fixed, so the extract depends on the data key alone and is
/// made once per data key ([`DerivationKey`]).
pub(crate) const PRK_SALT: &[u8] = b"coffer-envelope v1 suite 0x0002";
/// Suite `0x0002`'s expand label of the frame key, before the message id. Label, message id
/// and HKDF's counter byte (35 bytes) fit in the one block an HMAC over a kept key hashes.
const FRAME_KEY_INFO: &[u8] = b"FK";
/// Suite `0x0002`'s expand label of the key commitment, before the message id.
const COMMIT_INFO: &[u8] = b"CK";

/// Suite `0x0001`: the frame key and the key commitment of a message by HKDF-SHA256 with the
/// message id as salt and the data key as input keying material, under two labels.
fn derive_per_message(
    data_key: &SymmetricKey,
    suite: AlgorithmSuite,
    message_id: &[u8; MESSAGE_ID_LEN],
) -> Result<(SymmetricKey, [u8; COMMITMENT_LEN]), EnvelopeError> {
    let suite_id = suite.id().to_be_bytes();
    // One extract, two expands: the same keys as two separate HKDF calls.
    let [frame_key, commit] = hkdf_sha256_each(
        data_key,
        message_id,
        [
            &[KDF_LABEL, &suite_id, DERIVE_LABEL],
            &[KDF_LABEL, &suite_id, COMMIT_LABEL],
        ],
    )
    .map_err(EnvelopeError::Crypto)?;
    Ok((frame_key, *commit.expose()))
}

/// Suite `0x0002`: the frame key and the key commitment of a message, expanded from the data
/// key's [`DerivationKey`] with the message id in each `info`.
fn derive_from_key(
    derivation_key: &DerivationKey,
    message_id: &[u8; MESSAGE_ID_LEN],
) -> Result<(SymmetricKey, [u8; COMMITMENT_LEN]), EnvelopeError> {
    let frame_key = derivation_key
        .0
        .expand(&[FRAME_KEY_INFO, message_id])
        .map_err(EnvelopeError::Crypto)?;
    let mut commitment = [0u8; COMMITMENT_LEN];
    derivation_key
        .0
        .expand_into(&[COMMIT_INFO, message_id], &mut commitment)
        .map_err(EnvelopeError::Crypto)?;
    Ok((frame_key, commitment))
}

/// A message's data key in the form its suite derives from.
enum MessageKey {
    /// Suite `0x0001`: the data key itself.
    DataKey(SymmetricKey),
    /// Suite `0x0002`: the data key's extract.
    Derivation(DerivationKey),
}

impl MessageKey {
    fn derive(
        &self,
        suite: AlgorithmSuite,
        message_id: &[u8; MESSAGE_ID_LEN],
    ) -> Result<(SymmetricKey, [u8; COMMITMENT_LEN]), EnvelopeError> {
        match self {
            Self::DataKey(k) => derive_per_message(k, suite, message_id),
            Self::Derivation(d) => derive_from_key(d, message_id),
        }
    }
}

/// How to encrypt: frame length, randomness, bounds, and (for caching) the plaintext length.
#[derive(Clone)]
pub struct EncryptOptions {
    pub(crate) frame_len: u32,
    pub(crate) max_encrypted_data_keys: usize,
    pub(crate) plaintext_len: Option<u64>,
    pub(crate) rng: Arc<dyn RandomSource>,
    pub(crate) threads: usize,
    pub(crate) suite: AlgorithmSuite,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            suite: AlgorithmSuite::Aes256GcmHkdfSha256CommittingKeyExtract,
            frame_len: FRAME_LEN,
            max_encrypted_data_keys: DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
            plaintext_len: None,
            rng: Arc::new(SystemRandom::new()),
            threads: 1,
        }
    }
}

impl fmt::Debug for EncryptOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptOptions")
            .field("frame_len", &self.frame_len)
            .field("max_encrypted_data_keys", &self.max_encrypted_data_keys)
            .field("plaintext_len", &self.plaintext_len)
            .field("threads", &self.threads)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl EncryptOptions {
    /// The defaults: [`FRAME_LEN`] frames, at most [`DEFAULT_MAX_ENCRYPTED_DATA_KEYS`] keys, the
    /// system random source, no declared length.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plaintext bytes per frame, 1 to [`MAX_FRAME_LEN`]. Readers accept at most
    /// [`Limits::max_frame_len`] (1 MiB by default).
    #[must_use]
    pub fn with_frame_len(mut self, frame_len: u32) -> Self {
        self.frame_len = frame_len;
        self
    }

    /// The most key identifiers one message may be encrypted under.
    #[must_use]
    pub fn with_max_encrypted_data_keys(mut self, n: usize) -> Self {
        self.max_encrypted_data_keys = n;
        self
    }

    /// Declares the plaintext length of a streamed message. An [`EncryptingWriter`] then refuses
    /// to write more, and a caching provider can count the bytes (without a declared length a
    /// streamed message bypasses the cache, as in the AWS Encryption SDK). The one-shot
    /// [`encrypt`] sets it itself.
    ///
    /// [`EncryptingWriter`]: crate::EncryptingWriter
    #[must_use]
    pub fn with_plaintext_len(mut self, len: u64) -> Self {
        self.plaintext_len = Some(len);
        self
    }

    /// The algorithm suite to write: `0x0002` by default; `0x0001` for readers older than it
    /// (every reader of this crate opens both).
    #[must_use]
    pub fn with_suite(mut self, suite: AlgorithmSuite) -> Self {
        self.suite = suite;
        self
    }

    /// The random source for message ids (tests use a deterministic one).
    #[must_use]
    pub fn with_rng(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.rng = rng;
        self
    }

    /// Threads [`encrypt_in_place`](crate::encrypt_in_place) may spread a message's frames over: 1 (the
    /// default) works on the calling thread only, 0 uses one per available core. A message
    /// gets at most one thread per 4 frames, so small ones stay on the calling thread. The
    /// output does not depend on it.
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
}

/// How to decrypt: bounds, the context the caller expects, and which keys may be used.
#[derive(Debug, Clone)]
pub struct DecryptOptions {
    pub(crate) limits: Limits,
    pub(crate) expected_context: Option<EncryptionContext>,
    pub(crate) allowed_key_ids: Option<Vec<String>>,
    pub(crate) threads: usize,
}

impl Default for DecryptOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            expected_context: None,
            allowed_key_ids: None,
            threads: 1,
        }
    }
}

impl DecryptOptions {
    /// Threads [`decrypt_in_place`](crate::decrypt_in_place) may spread a message's frames over: 1 (the
    /// default) works on the calling thread only, 0 uses one per available core. A message
    /// gets at most one thread per 4 frames, so small ones stay on the calling thread. The
    /// output does not depend on it.
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Default limits, any context, any key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the bounds.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Refuses a message whose encryption context is not exactly `context`
    /// ([`EnvelopeError::ContextMismatch`]), before any provider call.
    #[must_use]
    pub fn expect_context(mut self, context: EncryptionContext) -> Self {
        self.expected_context = Some(context);
        self
    }

    /// Offers the provider only the encrypted data keys whose key identifier is in `key_ids`
    /// (the AWS Encryption SDK's strict mode).
    #[must_use]
    pub fn allow_key_ids<I, S>(mut self, key_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_key_ids = Some(key_ids.into_iter().map(Into::into).collect());
        self
    }
}

/// A header made for a new message: its parts, and the body cipher. Its wire form (prefix,
/// CBOR, tag) has been appended to the caller's buffer.
pub(crate) struct SealedHeader {
    pub(crate) suite: AlgorithmSuite,
    pub(crate) message_id: [u8; MESSAGE_ID_LEN],
    pub(crate) encrypted_data_keys: Vec<EncryptedDataKey>,
    pub(crate) frame_len: u32,
    pub(crate) commitment: [u8; COMMITMENT_LEN],
    pub(crate) cipher: FrameCipher,
}

impl SealedHeader {
    /// The header as a value (the context is not kept, to spare the one-shot path a copy).
    pub(crate) fn header(&self, context: &EncryptionContext) -> Header {
        Header {
            suite: self.suite,
            message_id: self.message_id,
            context: context.clone(),
            encrypted_data_keys: self.encrypted_data_keys.clone(),
            frame_len: self.frame_len,
            commitment: self.commitment,
        }
    }
}

/// Gets a data key, derives the frame key and commitment, and appends the header (prefix, CBOR,
/// tag) to `out`.
pub(crate) fn seal_header(
    provider: &dyn DataKeyProvider,
    key_ids: &[&str],
    context: &EncryptionContext,
    options: &EncryptOptions,
    plaintext_len: Option<u64>,
    out: &mut Vec<u8>,
) -> Result<SealedHeader, EnvelopeError> {
    let start = out.len();
    let (parts, frame_key) = write_header(provider, key_ids, context, options, plaintext_len, out)?;
    let cipher = FrameCipher::new(frame_key)?;
    append_header_tag(&cipher, out, start)?;
    let WrittenHeader {
        suite,
        message_id,
        encrypted_data_keys,
        frame_len,
        commitment,
    } = parts;
    Ok(SealedHeader {
        suite,
        message_id,
        encrypted_data_keys: encrypted_data_keys.into_vec(),
        frame_len,
        commitment,
        cipher,
    })
}

/// Appends the header tag over `out[start..]` (the prefix and CBOR header just written).
fn append_header_tag(
    cipher: &FrameCipher,
    out: &mut Vec<u8>,
    start: usize,
) -> Result<(), EnvelopeError> {
    let tag = cipher.header_tag(out.get(start..).unwrap_or_default())?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// A message's wrapped data keys: owned, or shared with the provider's cache.
enum WrappedKeys {
    Owned(Vec<EncryptedDataKey>),
    Shared(Arc<[EncryptedDataKey]>),
}

impl WrappedKeys {
    fn as_slice(&self) -> &[EncryptedDataKey] {
        match self {
            Self::Owned(v) => v,
            Self::Shared(a) => a,
        }
    }

    fn into_vec(self) -> Vec<EncryptedDataKey> {
        match self {
            Self::Owned(v) => v,
            Self::Shared(a) => a.to_vec(),
        }
    }
}

/// What [`write_header`] wrote: the header's parts but its context.
pub(crate) struct WrittenHeader {
    suite: AlgorithmSuite,
    message_id: [u8; MESSAGE_ID_LEN],
    encrypted_data_keys: WrappedKeys,
    frame_len: u32,
    commitment: [u8; COMMITMENT_LEN],
}

/// [`seal_header`] up to the tag: gets a data key, derives the frame key and commitment, and
/// appends the prefix and CBOR header to `out`; returns the parts and the frame key, from which
/// the caller expands the body cipher where it keeps it (the expanded key is large: returning
/// it would copy it) and appends the tag.
fn write_header(
    provider: &dyn DataKeyProvider,
    key_ids: &[&str],
    context: &EncryptionContext,
    options: &EncryptOptions,
    plaintext_len: Option<u64>,
    out: &mut Vec<u8>,
) -> Result<(WrittenHeader, SymmetricKey), EnvelopeError> {
    if key_ids.is_empty() {
        return Err(EnvelopeError::InvalidArgument(InvalidArgument::NoKeyIds));
    }
    if key_ids.len() > options.max_encrypted_data_keys {
        return Err(EnvelopeError::LimitExceeded {
            limit: Limit::EncryptedDataKeys,
            max: options.max_encrypted_data_keys as u64,
            found: key_ids.len() as u64,
        });
    }
    if options.frame_len == 0 || options.frame_len > MAX_FRAME_LEN {
        return Err(EnvelopeError::InvalidArgument(InvalidArgument::FrameLength));
    }
    context.validate().map_err(EnvelopeError::InvalidContext)?;
    let request = MaterialsRequest {
        key_ids,
        context,
        plaintext_len,
    };
    let suite = options.suite;
    let (key, encrypted_data_keys) = match suite {
        AlgorithmSuite::Aes256GcmHkdfSha256Committing => {
            let m = provider.encryption_materials(&request)?;
            (
                MessageKey::DataKey(m.data_key),
                WrappedKeys::Owned(m.encrypted_data_keys),
            )
        }
        AlgorithmSuite::Aes256GcmHkdfSha256CommittingKeyExtract => {
            // Shared with the cache, if there is one: no copy of the wrapped keys per message.
            let m = provider.shared_message_materials(&request)?;
            (
                MessageKey::Derivation(m.derivation_key),
                WrappedKeys::Shared(m.encrypted_data_keys),
            )
        }
    };
    let fits = encrypted_data_keys.as_slice().len() == key_ids.len()
        && encrypted_data_keys
            .as_slice()
            .iter()
            .all(|e| e.key_id.len() <= MAX_KEY_ID_LEN && e.ciphertext.len() <= MAX_WRAPPED_KEY_LEN);
    if !fits {
        return Err(EnvelopeError::InvalidArgument(InvalidArgument::Materials));
    }
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    options
        .rng
        .fill_public(&mut message_id)
        .map_err(EnvelopeError::Crypto)?;
    let (frame_key, commitment) = key.derive(suite, &message_id)?;
    drop(key);
    let start = out.len();
    out.extend_from_slice(&prefix(0));
    encode_header(
        out,
        suite,
        &message_id,
        context,
        encrypted_data_keys.as_slice(),
        options.frame_len,
        &commitment,
    );
    let cbor_len = out.len().saturating_sub(start.saturating_add(PREFIX_LEN));
    let len = u32::try_from(cbor_len)
        .ok()
        .filter(|l| *l <= DEFAULT_MAX_HEADER_LEN)
        .ok_or(EnvelopeError::LimitExceeded {
            limit: Limit::HeaderLength,
            max: u64::from(DEFAULT_MAX_HEADER_LEN),
            found: cbor_len as u64,
        })?;
    if let Some(p) = out.get_mut(start..start.saturating_add(PREFIX_LEN)) {
        p.copy_from_slice(&prefix(len));
    }
    Ok((
        WrittenHeader {
            suite,
            message_id,
            encrypted_data_keys,
            frame_len: options.frame_len,
            commitment,
        },
        frame_key,
    ))
}

/// An authenticated header and the body cipher it yields.
pub(crate) struct OpenedHeader {
    pub(crate) header: Header,
    pub(crate) cipher: FrameCipher,
}

fn read_exact<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), EnvelopeError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            EnvelopeError::Truncated
        } else {
            EnvelopeError::from(e)
        }
    })
}

/// Reads the header from `r`, unwraps the data key, checks the commitment and the header tag.
pub(crate) fn open_header<R: Read>(
    provider: &dyn DataKeyProvider,
    r: &mut R,
    options: &DecryptOptions,
) -> Result<OpenedHeader, EnvelopeError> {
    let limits = &options.limits;
    let mut pre = [0u8; PREFIX_LEN];
    read_exact(r, &mut pre)?;
    let len = parse_prefix(&pre, limits)? as usize;
    // Bounded by `limits.max_header_len` before this allocation.
    let mut aad = Vec::with_capacity(PREFIX_LEN.saturating_add(len));
    aad.extend_from_slice(&pre);
    aad.resize(PREFIX_LEN.saturating_add(len), 0);
    read_exact(r, aad.get_mut(PREFIX_LEN..).unwrap_or_default())?;
    // Checks every bound, the frame length included.
    let header = Header::decode(aad.get(PREFIX_LEN..).unwrap_or_default(), limits)?;
    let mut tag = [0u8; TAG_LEN];
    read_exact(r, &mut tag)?;
    authenticate_header(provider, header, &aad, &tag, options)
}

/// The header of a whole message in memory, parsed where it lies.
struct HeaderIn<'m> {
    header: Header,
    /// The bytes the header tag covers: the prefix and the CBOR header.
    aad: &'m [u8],
    tag: &'m [u8; TAG_LEN],
    /// Where the body starts.
    body_start: usize,
}

/// Parses the header of a whole message in memory where it lies.
fn parse_header_in<'m>(message: &'m [u8], limits: &Limits) -> Result<HeaderIn<'m>, EnvelopeError> {
    let pre = message
        .first_chunk::<PREFIX_LEN>()
        .ok_or(EnvelopeError::Truncated)?;
    let len = parse_prefix(pre, limits)? as usize;
    let header_end = PREFIX_LEN.saturating_add(len);
    let aad = message.get(..header_end).ok_or(EnvelopeError::Truncated)?;
    let header = Header::decode(aad.get(PREFIX_LEN..).unwrap_or_default(), limits)?;
    let body_start = header_end.saturating_add(TAG_LEN);
    let tag = message
        .get(header_end..body_start)
        .and_then(|t| <&[u8; TAG_LEN]>::try_from(t).ok())
        .ok_or(EnvelopeError::Truncated)?;
    Ok(HeaderIn {
        header,
        aad,
        tag,
        body_start,
    })
}

/// Checks a parsed header: the expected context, a data key from the provider, the key
/// commitment, and the header tag over `aad` (the prefix and CBOR header as read).
fn authenticate_header(
    provider: &dyn DataKeyProvider,
    header: Header,
    aad: &[u8],
    tag: &[u8; TAG_LEN],
    options: &DecryptOptions,
) -> Result<OpenedHeader, EnvelopeError> {
    let cipher = FrameCipher::new(committed_frame_key(provider, &header, options)?)?;
    cipher.verify_header(aad, tag)?;
    Ok(OpenedHeader { header, cipher })
}

/// The expected context checked, a data key from the provider, the frame key derived and the
/// key commitment checked: the frame key, whose header tag the caller still has to check.
fn committed_frame_key(
    provider: &dyn DataKeyProvider,
    header: &Header,
    options: &DecryptOptions,
) -> Result<SymmetricKey, EnvelopeError> {
    if let Some(expected) = &options.expected_context {
        if *expected != header.context {
            return Err(EnvelopeError::ContextMismatch);
        }
    }
    let mut attempted = 0usize;
    let mut last = None;
    let mut data_key = None;
    for edk in &header.encrypted_data_keys {
        if let Some(allowed) = &options.allowed_key_ids {
            if !allowed.contains(&edk.key_id) {
                continue;
            }
        }
        attempted = attempted.saturating_add(1);
        let unwrapped = match header.suite {
            AlgorithmSuite::Aes256GcmHkdfSha256Committing => provider
                .decrypt_data_key(&edk.key_id, &edk.ciphertext, &header.context)
                .map(MessageKey::DataKey),
            AlgorithmSuite::Aes256GcmHkdfSha256CommittingKeyExtract => provider
                .decrypt_derivation_key(&edk.key_id, &edk.ciphertext, &header.context)
                .map(MessageKey::Derivation),
        };
        match unwrapped {
            Ok(k) => {
                data_key = Some(k);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let data_key = data_key.ok_or(EnvelopeError::NoDecryptableDataKey { attempted, last })?;
    let (frame_key, commitment) = data_key.derive(header.suite, &header.message_id)?;
    drop(data_key);
    if !constant_time_eq(&commitment, &header.commitment) {
        return Err(EnvelopeError::Authentication);
    }
    Ok(frame_key)
}

/// Encrypts `plaintext` into one message under `key_ids` (the first generates the data key;
/// each further one can open the message too), bound to `context`.
pub fn encrypt(
    provider: &dyn DataKeyProvider,
    key_ids: &[&str],
    context: &EncryptionContext,
    plaintext: &[u8],
    options: &EncryptOptions,
) -> Result<Vec<u8>, EnvelopeError> {
    let frame_len = options.frame_len.max(1) as usize;
    let frames = plaintext.len().div_ceil(frame_len).max(1);
    let body = plaintext
        .len()
        .saturating_add(frames.saturating_mul(1 + TAG_LEN))
        .saturating_add(4);
    let mut out = Vec::with_capacity(body.saturating_add(512));
    let (_, frame_key) = write_header(
        provider,
        key_ids,
        context,
        options,
        Some(plaintext.len() as u64),
        &mut out,
    )?;
    let mut cipher = FrameCipher::new(frame_key)?;
    append_header_tag(&cipher, &mut out, 0)?;
    if frames as u64 > MAX_FRAMES {
        return Err(EnvelopeError::LimitExceeded {
            limit: Limit::FrameCount,
            max: MAX_FRAMES,
            found: frames as u64,
        });
    }
    out.reserve(body);
    // Each frame is copied into `out` and sealed there before the next is copied, so `out`
    // never holds plaintext when it grows.
    let mut chunks = plaintext.chunks(frame_len).peekable();
    let mut seal_one = |out: &mut Vec<u8>, chunk: &[u8], last: bool| {
        if last {
            let n = u32::try_from(chunk.len())
                .map_err(|_| EnvelopeError::InvalidArgument(InvalidArgument::FrameLength))?;
            out.push(FRAME_FINAL);
            out.extend_from_slice(&n.to_be_bytes());
        } else {
            out.push(FRAME_REGULAR);
        }
        cipher.seal_append(chunk, out, last)?;
        Ok::<(), EnvelopeError>(())
    };
    if chunks.peek().is_none() {
        seal_one(&mut out, &[], true)?;
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        seal_one(&mut out, chunk, last)?;
    }
    Ok(out)
}

/// A decrypted message: its plaintext and its authenticated header.
pub struct Decrypted {
    plaintext: SecretBytes,
    header: Header,
}

impl Decrypted {
    /// The plaintext.
    pub fn plaintext(&self) -> &SecretBytes {
        &self.plaintext
    }

    /// The plaintext, by value.
    pub fn into_plaintext(self) -> SecretBytes {
        self.plaintext
    }

    /// The encryption context the message was bound to.
    pub fn context(&self) -> &EncryptionContext {
        &self.header.context
    }

    /// The authenticated header.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("plaintext", &self.plaintext)
            .field("header", &self.header)
            .finish()
    }
}

/// Decrypts a whole message. Nothing is returned unless every frame, the final frame included,
/// authenticated and nothing follows it.
pub fn decrypt(
    provider: &dyn DataKeyProvider,
    message: &[u8],
    options: &DecryptOptions,
) -> Result<Decrypted, EnvelopeError> {
    let HeaderIn {
        header,
        aad,
        tag,
        body_start,
    } = parse_header_in(message, &options.limits)?;
    // The body cipher expanded here, where it stays (it is large: no struct carries it back).
    let cipher = FrameCipher::new(committed_frame_key(provider, &header, options)?)?;
    cipher.verify_header(aad, tag)?;
    let body = message.get(body_start..).unwrap_or_default();
    let frame_len = header.frame_len as usize;
    let max_frames = options.limits.max_frames.min(MAX_FRAMES);
    // The frame structure checked whole (every frame present, the final one last, nothing
    // after it) before any frame is opened; the plaintext's length counted on the way.
    let mut frames = 0usize;
    let mut plaintext_len = 0usize;
    crate::inplace::walk_frames(body, frame_len, max_frames, |_, sealed, _| {
        frames = frames.saturating_add(1);
        plaintext_len = plaintext_len.saturating_add(sealed.len().saturating_sub(TAG_LEN));
        Ok(())
    })?;
    if crate::inplace::threads_for(options.threads, frames) > 1 {
        // Spread over threads: one copy of the message, opened where it lies
        // (`decrypt_in_place`: every frame authenticated, else the body wiped), the plaintext
        // moved to the start and the rest wiped. The copy is a `SecretBytes` from the start,
        // so it is wiped whole (its capacity included) however this returns.
        let mut buf = SecretBytes::copy_from(message);
        let (header, len) = crate::inplace::decrypt_in_place(provider, buf.expose_mut(), options)?
            .into_header_and_contiguous();
        buf.truncate(len);
        return Ok(Decrypted {
            plaintext: buf,
            header,
        });
    }
    // On the calling thread: each frame's ciphertext (without its tag) is copied to the end
    // of the plaintext so far and opened there under the tag read where it lies, so the
    // output is the one allocation, exactly the plaintext's size, and the plaintext is never
    // moved. On any failure the output is dropped, which wipes all of it.
    let aead = cipher.aead();
    let mut out = SecretBytes::with_capacity(plaintext_len);
    crate::inplace::walk_frames(body, frame_len, max_frames, |seq, sealed, last| {
        let sealed = body.get(sealed).unwrap_or_default();
        let (ciphertext, tag) = sealed.split_at(sealed.len().saturating_sub(TAG_LEN));
        let tag = <&[u8; TAG_LEN]>::try_from(tag).map_err(|_| EnvelopeError::Authentication)?;
        let at = out.len();
        out.extend_from_slice(ciphertext);
        aead.open_detached(
            &crate::stream::frame_nonce(seq, last),
            &[],
            tag,
            out.expose_mut().get_mut(at..).unwrap_or_default(),
        )
        .map_err(|_| EnvelopeError::Authentication)
    })?;
    Ok(Decrypted {
        plaintext: out,
        header,
    })
}

#[cfg(test)]
mod suite_tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        coffer_crypto::hex::decode(s).unwrap()
    }

    /// Suite 0x0002's derivation against values computed outside Rust (Python's `hmac` and
    /// `hashlib`, HKDF written out by hand) for the data key and message id of docs/ENVELOPE.md's
    /// `hello` vector.
    #[test]
    fn suite_2_known_answer() {
        let dk = SymmetricKey::from_slice(&unhex(
            "5fa8606352bf9d2aae610544e4c4bf1a9b17a6347c641ae44df0e24804dbb603",
        ))
        .unwrap();
        let mut id = [0u8; MESSAGE_ID_LEN];
        id.copy_from_slice(&unhex(
            "e1d96bb979c4b94f144faf9a315c64b815f4164e0af4cc9ab3ed266b13c01eb3",
        ));
        let (frame_key, commitment) = MessageKey::Derivation(DerivationKey::of(&dk))
            .derive(AlgorithmSuite::Aes256GcmHkdfSha256CommittingKeyExtract, &id)
            .unwrap();
        assert_eq!(
            frame_key.expose().to_vec(),
            unhex("59e907a242e4a536a21c4930c8fe0b3917c1a72da7e27f9d697faafc37065bf9")
        );
        assert_eq!(
            commitment.to_vec(),
            unhex("95d3a1b3d3be6f992be7d7e276ee6e85f60c48751e0dfa15ffbd75e688d35e5b")
        );
        // Suite 0x0001 from the same inputs gives the vector's published keys.
        let (v1_frame, v1_commit) = MessageKey::DataKey(dk)
            .derive(AlgorithmSuite::Aes256GcmHkdfSha256Committing, &id)
            .unwrap();
        assert_eq!(
            v1_frame.expose().to_vec(),
            unhex("16220807383fcaad17b98fe2cb3c9663fe4dc5ab73c41422ecdd619a082e6273")
        );
        assert_eq!(
            v1_commit.to_vec(),
            unhex("4bab474a2709217396f60a8ffc3ec70c20a652e4426805c65aece19d70f28d11")
        );
    }
}
