//! The key hierarchy of coffer.
//!
//! - [`KeyRecord`]: a customer master key's metadata (spec, usage, state, dates, tags, rotation),
//!   exactly what the store keeps besides wrapped material.
//! - [`VersionId`], [`WrappedVersion`], [`KeyMaterial`]: backing-key versions. Rotation adds one and
//!   makes it current; older ones stay for decryption. Material reaches the store only wrapped by a
//!   [`RootKey`], bound to its key id and version id.
//! - [`blob`]: the symmetric ciphertext blob, which names its key and version so Decrypt needs no
//!   key id (format in `docs/FORMATS.md`).
//!
//! ```
//! use coffer_core::{EncryptionContext, KeyId};
//! use coffer_crypto::SystemRandom;
//! use coffer_keys::{KeyMaterial, VersionId};
//! let rng = SystemRandom::new();
//! let key_id = KeyId::generate(&rng)?;
//! let material = KeyMaterial::generate(key_id, &rng, std::time::SystemTime::UNIX_EPOCH)?;
//! let ctx: EncryptionContext = [("dept", "eng")].into_iter().collect();
//! let blob = material.seal(b"secret", &ctx, &rng)?;
//! assert_eq!(material.open(&coffer_keys::blob::parse(&blob)?, &ctx)?.expose(), b"secret");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod blob;
mod error;
pub mod hsm;
mod material;
mod record;
mod root;
mod root_providers;
mod spec;

pub use error::KeyError;
pub use hsm::{HsmCluster, HsmClusters, HsmError, HsmKeyRef, HsmSession};
pub use material::{
    imported_version_id, BackingKey, KeyMaterial, MaterialKind, VersionId, WrappedVersion,
};
pub use record::{KeyRecord, MultiRegion, RotationSchedule, Tag};
pub use root::{LocalRootKey, RootKey, MAX_SECRET_LEN};
pub use root_providers::{KeyFile, PassphraseRoot};
pub use spec::{
    AlgorithmSpec, DataKeyPairSpec, DataKeySpec, EncapsulationAlgorithmSpec,
    EncryptionAlgorithmSpec, ExpirationModel, KeyAgreementAlgorithmSpec, KeyManager, KeySpec,
    KeyState, KeyUsage, MacAlgorithmSpec, MessageType, Origin, RotationType, SigningAlgorithmSpec,
    WrappingKeySpec,
};
