use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use coffer_core::{EncryptionContext, KeyId};
use coffer_crypto::aead::{Aes256Gcm, Nonce, NONCE_LEN};
use coffer_crypto::asym::{AsymmetricAlgorithm, KeyRole, PrivateKey};
use coffer_crypto::{hkdf_sha256, RandomSource, SecretBytes, SymmetricKey};
use serde::{Deserialize, Serialize};

use crate::blob::{self, Blob, SALT_LEN};
use crate::{KeyError, KeySpec, KeyUsage, MacAlgorithmSpec, RootKey, RotationType};

/// Identifies one backing-key version of a key: 16 random bytes, shown as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VersionId(pub [u8; 16]);

impl VersionId {
    /// A fresh random version id.
    pub fn generate(rng: &dyn RandomSource) -> Result<Self, KeyError> {
        let mut b = [0u8; 16];
        rng.fill(&mut b)?;
        Ok(Self(b))
    }

    /// Parses 32 hex digits (either case).
    pub fn parse_hex(s: &str) -> Option<Self> {
        coffer_crypto::hex::decode_array(s).map(Self)
    }

    /// The 32 lowercase hex digits (what AWS calls the `KeyMaterialId`).
    pub fn to_hex(&self) -> String {
        coffer_crypto::hex::encode(&self.0)
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VersionId({self})")
    }
}

/// The secret of a backing-key version: a 256-bit key of a symmetric encryption key, or the
/// key of an HMAC key (of its spec's length).
#[derive(Clone)]
enum Secret {
    Symmetric(SymmetricKey),
    Mac(SecretBytes),
    /// An asymmetric private key (shared: parsed once, never copied).
    Private(Arc<PrivateKey>),
}

impl Secret {
    /// Material of `kind` given as bytes (imported, or replicated from another region),
    /// checked: a 32-byte symmetric key, an HMAC key of 1–64 bytes, or a PKCS #8 private key of
    /// the algorithm and role.
    fn checked(kind: MaterialKind, material: SecretBytes) -> Result<Self, KeyError> {
        Ok(match kind {
            MaterialKind::Symmetric => {
                Self::Symmetric(SymmetricKey::from_slice(material.expose())?)
            }
            MaterialKind::Mac => {
                if material.is_empty() || material.len() > 64 {
                    return Err(KeyError::Crypto(coffer_crypto::CryptoError));
                }
                Self::Mac(material)
            }
            MaterialKind::Private(algorithm, role) => Self::Private(Arc::new(
                PrivateKey::from_encoded(algorithm, role, material)?,
            )),
        })
    }
}

/// What kind of material a wrapped version holds, which decides its wrapping binding and how it
/// is parsed after unwrapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaterialKind {
    /// A 256-bit symmetric encryption key.
    Symmetric,
    /// An HMAC key.
    Mac,
    /// An asymmetric private key of this algorithm and role.
    Private(AsymmetricAlgorithm, KeyRole),
}

impl MaterialKind {
    /// The kind of material a key of `spec` and `usage` holds; `None` for a spec coffer does
    /// not implement (SM2).
    pub fn of(spec: KeySpec, usage: KeyUsage) -> Option<Self> {
        if spec == KeySpec::SymmetricDefault {
            Some(Self::Symmetric)
        } else if spec.is_hmac() {
            Some(Self::Mac)
        } else {
            let algorithm = spec.asymmetric()?;
            let role = usage.role()?;
            algorithm
                .supports(role)
                .then_some(Self::Private(algorithm, role))
        }
    }
}

/// One backing-key version, unwrapped. Zeroized on drop; the material never prints.
#[derive(Clone)]
pub struct BackingKey {
    /// The version's id.
    pub id: VersionId,
    key: Secret,
    /// When the version was made.
    pub created: SystemTime,
    /// How it came about: `None` for the key's first version.
    pub rotation_type: Option<RotationType>,
}

impl BackingKey {
    /// A fresh random version.
    pub fn generate(
        rng: &dyn RandomSource,
        created: SystemTime,
        rotation_type: Option<RotationType>,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            id: VersionId::generate(rng)?,
            key: Secret::Symmetric(SymmetricKey::generate(rng)?),
            created,
            rotation_type,
        })
    }

    /// A fresh random HMAC key of `len` bytes (1–64: AWS's HMAC key of a spec has the spec's
    /// hash length, [`crate::KeySpec::hmac_key_len`]).
    pub fn generate_mac(
        rng: &dyn RandomSource,
        len: usize,
        created: SystemTime,
    ) -> Result<Self, KeyError> {
        if len == 0 || len > crate::root::MAX_SECRET_LEN {
            return Err(KeyError::Crypto(coffer_crypto::CryptoError));
        }
        Ok(Self {
            id: VersionId::generate(rng)?,
            key: Secret::Mac(SecretBytes::random(rng, len)?),
            created,
            rotation_type: None,
        })
    }

    /// A fresh asymmetric key pair (drawn from AWS-LC's generator).
    pub fn generate_private(
        rng: &dyn RandomSource,
        algorithm: AsymmetricAlgorithm,
        role: KeyRole,
        created: SystemTime,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            id: VersionId::generate(rng)?,
            key: Secret::Private(Arc::new(PrivateKey::generate(algorithm, role)?)),
            created,
            rotation_type: None,
        })
    }

    /// A version holding imported material of `kind`, checked for the kind: a 32-byte
    /// symmetric key, an HMAC key of `mac_len` bytes' range, or a PKCS #8 private key of the
    /// algorithm and role. Its id is derived from the key id and the material, so the same
    /// material imported again has the same version id (and old ciphertexts decrypt again).
    pub fn from_imported(
        key_id: &KeyId,
        kind: MaterialKind,
        material: SecretBytes,
        created: SystemTime,
    ) -> Result<Self, KeyError> {
        let id = imported_version_id(key_id, material.expose());
        let key = Secret::checked(kind, material)?;
        Ok(Self {
            id,
            key,
            created,
            rotation_type: None,
        })
    }

    /// A version from known material (imported key material, test vectors).
    pub fn from_parts(
        id: VersionId,
        key: SymmetricKey,
        created: SystemTime,
        rotation_type: Option<RotationType>,
    ) -> Self {
        Self {
            id,
            key: Secret::Symmetric(key),
            created,
            rotation_type,
        }
    }

    /// The version's material as bytes (a symmetric key's 32 bytes, an HMAC key, or a private
    /// key's PKCS #8), for sealing to another region of a multi-Region key. Zeroized on drop.
    pub fn export_material(&self) -> SecretBytes {
        match &self.key {
            Secret::Symmetric(k) => SecretBytes::copy_from(k.expose()),
            Secret::Mac(k) => k.clone(),
            Secret::Private(k) => k.encoded().clone(),
        }
    }

    /// A version of a multi-Region replica: the material [`BackingKey::export_material`] gave
    /// in the primary's region, with the same version id, date and rotation type, checked for
    /// `kind`.
    pub fn from_replicated(
        id: VersionId,
        kind: MaterialKind,
        material: SecretBytes,
        created: SystemTime,
        rotation_type: Option<RotationType>,
    ) -> Result<Self, KeyError> {
        let key = Secret::checked(kind, material)?;
        Ok(Self {
            id,
            key,
            created,
            rotation_type,
        })
    }

    /// Wraps the material under the root key, bound to `key_id` and this version's id.
    pub fn wrap(&self, key_id: &KeyId, root: &dyn RootKey) -> Result<WrappedVersion, KeyError> {
        let wrapped = match &self.key {
            Secret::Symmetric(k) => root.wrap(&wrap_aad(WRAP_SYMMETRIC, key_id, &self.id), k)?,
            Secret::Mac(k) => root.wrap_secret(&wrap_aad(WRAP_MAC, key_id, &self.id), k)?,
            Secret::Private(k) => {
                root.wrap_secret(&wrap_aad(WRAP_PRIVATE, key_id, &self.id), k.encoded())?
            }
        };
        Ok(WrappedVersion {
            id: self.id,
            wrapped,
            created: self.created,
            rotation_type: self.rotation_type,
        })
    }
}

impl BackingKey {
    fn symmetric(&self) -> Result<&SymmetricKey, KeyError> {
        match &self.key {
            Secret::Symmetric(k) => Ok(k),
            Secret::Mac(_) | Secret::Private(_) => {
                Err(KeyError::Crypto(coffer_crypto::CryptoError))
            }
        }
    }
}

impl fmt::Debug for BackingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackingKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .field("created", &self.created)
            .field("rotation_type", &self.rotation_type)
            .finish()
    }
}

/// A backing-key version as the store keeps it: wrapped under the root key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedVersion {
    /// The version's id.
    pub id: VersionId,
    /// The material, wrapped by the root key with key id and version id as authenticated data.
    pub wrapped: Vec<u8>,
    /// When the version was made.
    pub created: SystemTime,
    /// How it came about: `None` for the key's first version.
    pub rotation_type: Option<RotationType>,
}

impl WrappedVersion {
    /// Unwraps a symmetric encryption key's version; fails if the root key is wrong or the
    /// record was damaged or copied from another key or version.
    pub fn unwrap(&self, key_id: &KeyId, root: &dyn RootKey) -> Result<BackingKey, KeyError> {
        self.unwrap_as(key_id, root, MaterialKind::Symmetric)
    }

    /// Unwraps the version of an HMAC key (wrapped with its own binding, so the material of
    /// one kind never unwraps as the other).
    pub fn unwrap_mac(&self, key_id: &KeyId, root: &dyn RootKey) -> Result<BackingKey, KeyError> {
        self.unwrap_as(key_id, root, MaterialKind::Mac)
    }

    /// Unwraps a version holding material of `kind`.
    pub fn unwrap_as(
        &self,
        key_id: &KeyId,
        root: &dyn RootKey,
        kind: MaterialKind,
    ) -> Result<BackingKey, KeyError> {
        let (id, version) = (*key_id, self.id);
        let unwrap_error = move || KeyError::Unwrap {
            key_id: id,
            version,
        };
        // A root key that cannot be reached says so (retryable); anything else is a failure
        // of this record.
        let err = |e: KeyError| match e {
            KeyError::RootUnavailable(_) => e,
            _ => unwrap_error(),
        };
        let key = match kind {
            MaterialKind::Mac => {
                let aad = wrap_aad(WRAP_MAC, key_id, &self.id);
                Secret::Mac(root.unwrap_secret(&aad, &self.wrapped).map_err(err)?)
            }
            MaterialKind::Symmetric => {
                let aad = wrap_aad(WRAP_SYMMETRIC, key_id, &self.id);
                Secret::Symmetric(root.unwrap(&aad, &self.wrapped).map_err(err)?)
            }
            MaterialKind::Private(algorithm, role) => {
                let aad = wrap_aad(WRAP_PRIVATE, key_id, &self.id);
                let encoded = root.unwrap_secret(&aad, &self.wrapped).map_err(err)?;
                let key = PrivateKey::from_encoded(algorithm, role, encoded)
                    .map_err(|_| unwrap_error())?;
                Secret::Private(Arc::new(key))
            }
        };
        Ok(BackingKey {
            id: self.id,
            key,
            created: self.created,
            rotation_type: self.rotation_type,
        })
    }
}

/// The wrapping binding's prefix for a symmetric encryption key's versions.
const WRAP_SYMMETRIC: &[u8; 14] = b"coffer/wrap/v1";
/// The wrapping binding's prefix for an HMAC key's versions.
const WRAP_MAC: &[u8; 14] = b"coffer/hmac/v1";
/// The wrapping binding's prefix for an asymmetric key's private key (PKCS #8).
const WRAP_PRIVATE: &[u8; 14] = b"coffer/asym/v1";

fn wrap_aad(prefix: &[u8; 14], key_id: &KeyId, version: &VersionId) -> [u8; 46] {
    let mut aad = [0u8; 46];
    aad[..14].copy_from_slice(prefix);
    aad[14..30].copy_from_slice(key_id.as_bytes());
    aad[30..].copy_from_slice(&version.0);
    aad
}

/// The version id of imported material: SHA-256 over a label, the key id and the material,
/// truncated to 16 bytes. It says whether two imports carried the same material (AWS's
/// IncorrectKeyMaterialException); the material is at least 28 random bytes (or a private key),
/// so the digest reveals nothing usable about it.
pub fn imported_version_id(key_id: &KeyId, material: &[u8]) -> VersionId {
    let mut h = coffer_crypto::Sha256::new();
    h.update(b"coffer/import/v1");
    h.update(key_id.as_bytes());
    h.update(material);
    let digest = h.finish();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    VersionId(id)
}

/// HKDF info prefix for per-message keys of symmetric ciphertext blobs.
const BLOB_KDF_INFO: &[u8] = b"coffer/v1/symmetric-default";

/// All unwrapped backing-key versions of one key, with constant-time lookup by version id.
#[derive(Clone)]
pub struct KeyMaterial {
    key_id: KeyId,
    /// Hashed with [`coffer_core::KeyIdHash`]: version ids are drawn from the CSPRNG when made,
    /// and a blob's (a caller's) version id is only looked up, never inserted.
    versions: HashMap<VersionId, BackingKey, coffer_core::KeyIdHash>,
    current: VersionId,
}

impl KeyMaterial {
    /// Material with one fresh version.
    pub fn generate(
        key_id: KeyId,
        rng: &dyn RandomSource,
        now: SystemTime,
    ) -> Result<Self, KeyError> {
        let v = BackingKey::generate(rng, now, None)?;
        let current = v.id;
        Self::from_versions(key_id, vec![v], current)
    }

    /// Material from its versions; `current` must be among them.
    pub fn from_versions(
        key_id: KeyId,
        versions: Vec<BackingKey>,
        current: VersionId,
    ) -> Result<Self, KeyError> {
        let versions: HashMap<_, _, coffer_core::KeyIdHash> =
            versions.into_iter().map(|v| (v.id, v)).collect();
        if !versions.contains_key(&current) {
            return Err(KeyError::NoCurrentVersion(key_id));
        }
        Ok(Self {
            key_id,
            versions,
            current,
        })
    }

    /// The material of a key that has none (an EXTERNAL key pending import): every use of it
    /// fails with [`KeyError::NoCurrentVersion`].
    pub fn empty(key_id: KeyId) -> Self {
        Self {
            key_id,
            versions: HashMap::default(),
            current: VersionId([0; 16]),
        }
    }

    /// Unwraps stored versions holding material of `kind` (each kind is bound as such).
    pub fn unwrap_all(
        key_id: KeyId,
        kind: MaterialKind,
        wrapped: &[WrappedVersion],
        current: VersionId,
        root: &dyn RootKey,
    ) -> Result<Self, KeyError> {
        let versions = wrapped
            .iter()
            .map(|w| w.unwrap_as(&key_id, root, kind))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_versions(key_id, versions, current)
    }

    /// The key these versions belong to.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The current version's id.
    pub fn current_version(&self) -> VersionId {
        self.current
    }

    /// Number of versions.
    pub fn version_count(&self) -> usize {
        self.versions.len()
    }

    /// Adds a version and makes it current.
    pub fn push_current(&mut self, v: BackingKey) {
        self.current = v.id;
        self.versions.insert(v.id, v);
    }

    /// The MAC of `message` under the current version of an HMAC key. Fails with
    /// [`KeyError::Crypto`] if the key's material is not an HMAC key (callers check the key's
    /// usage first).
    pub fn mac(&self, algorithm: MacAlgorithmSpec, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let backing = self
            .versions
            .get(&self.current)
            .ok_or(KeyError::NoCurrentVersion(self.key_id))?;
        match &backing.key {
            Secret::Mac(k) => Ok(coffer_crypto::hmac_sign(
                algorithm.hmac(),
                k.expose(),
                message,
            )?),
            Secret::Symmetric(_) | Secret::Private(_) => {
                Err(KeyError::Crypto(coffer_crypto::CryptoError))
            }
        }
    }

    /// The private key of an asymmetric key (its only version: asymmetric keys do not
    /// rotate). Fails with [`KeyError::Crypto`] for other keys (callers check the spec first).
    pub fn private(&self) -> Result<&PrivateKey, KeyError> {
        let backing = self
            .versions
            .get(&self.current)
            .ok_or(KeyError::NoCurrentVersion(self.key_id))?;
        match &backing.key {
            Secret::Private(k) => Ok(k),
            Secret::Symmetric(_) | Secret::Mac(_) => {
                Err(KeyError::Crypto(coffer_crypto::CryptoError))
            }
        }
    }

    /// Encrypts `plaintext` under the current version, binding `context`; returns the blob.
    pub fn seal(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        rng: &dyn RandomSource,
    ) -> Result<Vec<u8>, KeyError> {
        let backing = self
            .versions
            .get(&self.current)
            .ok_or(KeyError::NoCurrentVersion(self.key_id))?;
        let key = backing.symmetric()?;
        let mut salt_nonce = [0u8; SALT_LEN + NONCE_LEN];
        rng.fill_public(&mut salt_nonce)?;
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&salt_nonce[..SALT_LEN]);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&salt_nonce[SALT_LEN..]);
        let nonce = Nonce::from_bytes(nonce_bytes);

        let header = blob::header(&self.key_id, &backing.id, &salt, &nonce);
        let mut out = Vec::with_capacity(blob::OVERHEAD + plaintext.len());
        out.extend_from_slice(&header);
        let derived = hkdf_sha256(
            key,
            &salt,
            &[BLOB_KDF_INFO, self.key_id.as_bytes(), &backing.id.0],
        )?;
        let cipher = Aes256Gcm::new(&derived)?;
        with_aad(&header, context, KeyError::Context, |aad| {
            Ok(cipher.seal_append(&nonce, aad, plaintext, &mut out)?)
        })?;
        Ok(out)
    }

    /// Decrypts a parsed blob of this key with `context`. Every failure is
    /// [`KeyError::InvalidCiphertext`] except a version this key does not have.
    pub fn open(
        &self,
        blob: &Blob<'_>,
        context: &EncryptionContext,
    ) -> Result<SecretBytes, KeyError> {
        if blob.key_id != self.key_id || blob.format != blob::FORMAT_V1 {
            return Err(KeyError::InvalidCiphertext);
        }
        let backing = self
            .versions
            .get(&blob.version)
            .ok_or(KeyError::UnknownVersion)?;
        let derived = hkdf_sha256(
            backing
                .symmetric()
                .map_err(|_| KeyError::InvalidCiphertext)?,
            blob.salt,
            &[BLOB_KDF_INFO, self.key_id.as_bytes(), &backing.id.0],
        )?;
        let cipher = Aes256Gcm::new(&derived)?;
        with_aad(
            blob.header,
            context,
            |_| KeyError::InvalidCiphertext,
            |aad| {
                cipher
                    .open(&blob.nonce, aad, blob.ciphertext_and_tag)
                    .map_err(|_| KeyError::InvalidCiphertext)
            },
        )
    }
}

/// Associated data this long or shorter is built in a small stack buffer (a blob header and a
/// context of a pair or two: what most calls carry); zeroing the buffer is part of every call's
/// cost, so the common size gets one that fits it.
const SMALL_AAD_LEN: usize = 160;

/// Associated data this long or shorter is built on the stack (a blob header and a context of a
/// few pairs); longer, in a `Vec`.
const STACK_AAD_LEN: usize = 512;

/// Runs `f` with a blob's associated data: its header, then the context's canonical encoding.
fn with_aad<T>(
    header: &[u8],
    context: &EncryptionContext,
    too_large: impl Fn(coffer_core::CoreError) -> KeyError,
    f: impl FnOnce(&[u8]) -> Result<T, KeyError>,
) -> Result<T, KeyError> {
    let shared = context.shared_canonical().transpose().map_err(&too_large)?;
    let need = header.len() + shared.map_or_else(|| context.canonical_len(), <[u8]>::len);
    if need <= SMALL_AAD_LEN {
        fill_aad(
            &mut [0u8; SMALL_AAD_LEN][..need],
            header,
            shared,
            context,
            too_large,
            f,
        )
    } else if need <= STACK_AAD_LEN {
        fill_aad(
            &mut [0u8; STACK_AAD_LEN][..need],
            header,
            shared,
            context,
            too_large,
            f,
        )
    } else {
        fill_aad(&mut vec![0u8; need], header, shared, context, too_large, f)
    }
}

/// Writes the header and the context's canonical encoding (`shared`, when already built) into
/// `buf`, exactly their length, and runs `f` with the bytes written.
fn fill_aad<T>(
    buf: &mut [u8],
    header: &[u8],
    shared: Option<&[u8]>,
    context: &EncryptionContext,
    too_large: impl Fn(coffer_core::CoreError) -> KeyError,
    f: impl FnOnce(&[u8]) -> Result<T, KeyError>,
) -> Result<T, KeyError> {
    let (head, rest) = buf.split_at_mut(header.len());
    head.copy_from_slice(header);
    let n = match shared {
        Some(canonical) => {
            rest.copy_from_slice(canonical);
            canonical.len()
        }
        None => context.write_canonical_into(rest).map_err(too_large)?,
    };
    f(&buf[..header.len() + n])
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("key_id", &self.key_id)
            .field("versions", &self.versions.len())
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_crypto::SystemRandom;

    #[test]
    fn mac_uses_the_hmac_material_and_encryption_keys_refuse_it() {
        let rng = SystemRandom::new();
        let key_id = KeyId::generate(&rng).unwrap();
        let v = BackingKey::generate_mac(&rng, 48, SystemTime::UNIX_EPOCH).unwrap();
        let current = v.id;
        let m = KeyMaterial::from_versions(key_id, vec![v], current).unwrap();
        let tag = m.mac(MacAlgorithmSpec::HmacSha384, b"msg").unwrap();
        assert_eq!(tag.len(), 48);
        assert_eq!(tag, m.mac(MacAlgorithmSpec::HmacSha384, b"msg").unwrap());
        // An HMAC key does not encrypt.
        let ctx = EncryptionContext::default();
        assert!(m.seal(b"x", &ctx, &rng).is_err());
        // An encryption key does not make MACs.
        let sym = KeyMaterial::generate(key_id, &rng, SystemTime::UNIX_EPOCH).unwrap();
        assert!(sym.mac(MacAlgorithmSpec::HmacSha256, b"msg").is_err());
        // The material never prints.
        assert!(!format!("{m:?}").contains("Mac("));
    }
}
