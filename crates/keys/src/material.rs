use std::collections::HashMap;
use std::fmt;
use std::time::SystemTime;

use coffer_core::{EncryptionContext, KeyId};
use coffer_crypto::aead::{Aes256Gcm, Nonce, NONCE_LEN};
use coffer_crypto::{hkdf_sha256, RandomSource, SecretBytes, SymmetricKey};
use serde::{Deserialize, Serialize};

use crate::blob::{self, Blob, SALT_LEN};
use crate::{KeyError, KeySpec, MacAlgorithmSpec, RootKey, RotationType};

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

    /// Wraps the material under the root key, bound to `key_id` and this version's id.
    pub fn wrap(&self, key_id: &KeyId, root: &dyn RootKey) -> Result<WrappedVersion, KeyError> {
        let wrapped = match &self.key {
            Secret::Symmetric(k) => root.wrap(&wrap_aad(WRAP_SYMMETRIC, key_id, &self.id), k)?,
            Secret::Mac(k) => root.wrap_secret(&wrap_aad(WRAP_MAC, key_id, &self.id), k)?,
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
            Secret::Mac(_) => Err(KeyError::Crypto(coffer_crypto::CryptoError)),
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
    /// Unwraps the material; fails if the root key is wrong or the record was damaged or copied
    /// from another key or version.
    pub fn unwrap(&self, key_id: &KeyId, root: &dyn RootKey) -> Result<BackingKey, KeyError> {
        self.unwrap_as(key_id, root, false)
    }

    /// Unwraps the version of an HMAC key (wrapped with its own binding, so the material of
    /// one kind never unwraps as the other).
    pub fn unwrap_mac(&self, key_id: &KeyId, root: &dyn RootKey) -> Result<BackingKey, KeyError> {
        self.unwrap_as(key_id, root, true)
    }

    fn unwrap_as(
        &self,
        key_id: &KeyId,
        root: &dyn RootKey,
        mac: bool,
    ) -> Result<BackingKey, KeyError> {
        let err = |_| KeyError::Unwrap {
            key_id: *key_id,
            version: self.id,
        };
        let key = if mac {
            let aad = wrap_aad(WRAP_MAC, key_id, &self.id);
            Secret::Mac(root.unwrap_secret(&aad, &self.wrapped).map_err(err)?)
        } else {
            let aad = wrap_aad(WRAP_SYMMETRIC, key_id, &self.id);
            Secret::Symmetric(root.unwrap(&aad, &self.wrapped).map_err(err)?)
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

fn wrap_aad(prefix: &[u8; 14], key_id: &KeyId, version: &VersionId) -> [u8; 46] {
    let mut aad = [0u8; 46];
    aad[..14].copy_from_slice(prefix);
    aad[14..30].copy_from_slice(key_id.as_bytes());
    aad[30..].copy_from_slice(&version.0);
    aad
}

/// HKDF info prefix for per-message keys of symmetric ciphertext blobs.
const BLOB_KDF_INFO: &[u8] = b"coffer/v1/symmetric-default";

/// All unwrapped backing-key versions of one key, with constant-time lookup by version id.
#[derive(Clone)]
pub struct KeyMaterial {
    key_id: KeyId,
    versions: HashMap<VersionId, BackingKey>,
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
        let versions: HashMap<_, _> = versions.into_iter().map(|v| (v.id, v)).collect();
        if !versions.contains_key(&current) {
            return Err(KeyError::NoCurrentVersion(key_id));
        }
        Ok(Self {
            key_id,
            versions,
            current,
        })
    }

    /// Unwraps stored versions of a key of `spec` (HMAC keys' versions are bound as such).
    pub fn unwrap_all(
        key_id: KeyId,
        spec: KeySpec,
        wrapped: &[WrappedVersion],
        current: VersionId,
        root: &dyn RootKey,
    ) -> Result<Self, KeyError> {
        let versions = wrapped
            .iter()
            .map(|w| {
                if spec.is_hmac() {
                    w.unwrap_mac(&key_id, root)
                } else {
                    w.unwrap(&key_id, root)
                }
            })
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
            Secret::Symmetric(_) => Err(KeyError::Crypto(coffer_crypto::CryptoError)),
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
        rng.fill(&mut salt_nonce)?;
        let (salt, nonce) = salt_nonce.split_at(SALT_LEN);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(nonce);
        let nonce = Nonce::from_bytes(nonce_bytes);

        let mut out = Vec::with_capacity(blob::OVERHEAD + plaintext.len());
        blob::write_header(&mut out, &self.key_id, &backing.id, salt, &nonce);
        let mut aad = Vec::with_capacity(blob::HEADER_LEN + 2 + 16 * context.len());
        aad.extend_from_slice(&out);
        context
            .write_canonical(&mut aad)
            .map_err(KeyError::Context)?;

        let derived = hkdf_sha256(
            key,
            salt,
            &[BLOB_KDF_INFO, self.key_id.as_bytes(), &backing.id.0],
        )?;
        Aes256Gcm::new(&derived)?.seal_append(&nonce, &aad, plaintext, &mut out)?;
        Ok(out)
    }

    /// Decrypts a parsed blob of this key with `context`. Every failure is
    /// [`KeyError::InvalidCiphertext`] except a version this key does not have.
    pub fn open(
        &self,
        blob: &Blob<'_>,
        context: &EncryptionContext,
    ) -> Result<SecretBytes, KeyError> {
        if blob.key_id != self.key_id {
            return Err(KeyError::InvalidCiphertext);
        }
        let backing = self
            .versions
            .get(&blob.version)
            .ok_or(KeyError::UnknownVersion)?;
        let mut aad = Vec::with_capacity(blob::HEADER_LEN + 2 + 16 * context.len());
        aad.extend_from_slice(blob.header);
        context
            .write_canonical(&mut aad)
            .map_err(|_| KeyError::InvalidCiphertext)?;
        let derived = hkdf_sha256(
            backing
                .symmetric()
                .map_err(|_| KeyError::InvalidCiphertext)?,
            blob.salt,
            &[BLOB_KDF_INFO, self.key_id.as_bytes(), &backing.id.0],
        )?;
        Aes256Gcm::new(&derived)?
            .open(&blob.nonce, &aad, blob.ciphertext_and_tag)
            .map_err(|_| KeyError::InvalidCiphertext)
    }
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
