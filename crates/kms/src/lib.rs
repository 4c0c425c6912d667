//! coffer: a key management service with AWS KMS semantics, embeddable in process.
//!
//! [`Kms`] has one method per AWS KMS operation, each taking the [`Caller`] it runs for and a
//! typed request named after the AWS service model, and returning a typed response or an
//! [`Error`] whose [`code`](Error::code) is the AWS exception name.
//!
//! ```
//! use coffer::{Caller, Kms, model::*};
//! let kms = Kms::builder().region("eu-west-1").build()?;
//! // Alice's identity policy lets her use KMS; the default key policy delegates to it.
//! let alice = Caller::new("arn:aws:iam::111122223333:user/alice")?.with_identity_policy_json(
//!     r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
//! )?;
//! let key = kms.create_key(&alice, CreateKeyRequest::default())?.key_metadata;
//!
//! let mut ctx = coffer::EncryptionContext::new();
//! ctx.insert("tenant", "acme");
//! let ct = kms.encrypt(&alice, EncryptRequest {
//!     key_id: key.key_id.clone(),
//!     plaintext: b"attack at dawn".to_vec().into(),
//!     encryption_context: ctx.clone(),
//!     ..Default::default()
//! })?.ciphertext_blob;
//!
//! let pt = kms.decrypt(&alice, DecryptRequest {
//!     ciphertext_blob: ct.clone(),
//!     encryption_context: ctx,
//!     ..Default::default()
//! })?.plaintext;
//! assert_eq!(pt.expose(), b"attack at dawn");
//!
//! // The wrong context is refused, as AWS refuses it.
//! let err = kms.decrypt(&alice, DecryptRequest { ciphertext_blob: ct, ..Default::default() })
//!     .unwrap_err();
//! assert_eq!(err.code(), "InvalidCiphertextException");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod admin_authz;
mod admission;
mod agreement_ops;
mod alias_ops;
mod api;
mod asym_ops;
mod audit;
mod audit_shapes;
mod authz;
mod builder;
mod caller;
mod coherence;
mod crypto_ops;
mod custom_key_store;
#[cfg(feature = "testing")]
mod custom_key_store_testing;
mod data_dir;
mod data_keys;
mod envelope_asym;
mod error;
mod grant_ops;
mod import_ops;
mod key_ops;
mod key_pair_ops;
mod kms;
mod last_usage;
mod lifecycle;
mod managed;
mod marker;
pub mod model;
mod multi_region;
mod multi_region_replicate;
mod node_dir;
mod operation;
mod recent;
mod shared_str;
mod validate;
#[cfg(feature = "wire")]
pub mod wire;

pub use admin_authz::{IdentityDecision, IdentityRequest};
pub use alias_ops::MAX_ALIASES_PER_KEY;
pub use audit::RefusedRequest;
pub use builder::BuildError;
pub use caller::{Caller, IdentityPolicies, MAX_USER_AGENT_CHARS};
pub use coffer_core::{
    AccountId, Clock, CoreError, EncryptionContext, KeyId, Region, SystemClock, UniqueKeys,
};
pub use coffer_crypto::{
    warm_up_public_drbg, warm_up_public_drbg_in_background, RandomSource, SecretBytes,
    SymmetricKey, SystemRandom,
};
pub use coffer_grants::MAX_GRANTS_PER_KEY;
pub use coffer_keys::{HsmCluster, HsmClusters, HsmError, HsmKeyRef, HsmSession};
pub use coffer_keys::{KeyError, LocalRootKey, RootKey};
pub use coffer_policy::{Policy, PolicyError};
pub use coffer_quota::{LimitOverride, QuotaClass, QuotaConfig, QuotaError};
pub use coffer_store::{MemoryStore, Store, DB_FILE};
pub use custom_key_store::MAX_CUSTOM_KEY_STORES;
pub use data_dir::{
    Argon2Params, BackupSummary, DataDir, DataDirOptions, RootKeySource, SqliteStore, AUDIT_DIR,
    AUDIT_PUBLIC_KEY_FILE,
};
pub use data_keys::KmsDataKeys;
pub use envelope_asym::KmsPrivateKeys;
pub use multi_region_replicate::{
    MultiRegionNotice, ReplicaAttributes, ReplicaOffer, ReplicaOfferRequest, ReplicaPackage,
    ReplicaTransport, SealedVersion, ACCEPT_REPLICA_ACTION,
};
pub use node_dir::{NodeDir, SharedStore, NODE_ID_FILE, NODE_LOCK_FILE};

/// The full integrity check of a data directory's database (`cofferd check`): SQLite's
/// `integrity_check` and every row against its digest, damaged rows named by key.
pub mod integrity {
    pub use coffer_store::{check_data_dir, DamagedRecord, IntegrityReport};
}
pub use error::{Error, InternalCause};

/// The result of a facade call: [`Error`] unless said otherwise.
///
/// Everything the facade's own signatures take or return is re-exported here, so that a user
/// needs no internal crate:
///
/// ```
/// use coffer::{model::CreateKeyRequest, Caller, Kms, Region, SymmetricKey, SystemRandom};
///
/// fn new_key(kms: &Kms, who: &Caller) -> coffer::Result<String> {
///     Ok(kms.create_key(who, CreateKeyRequest::default())?.key_metadata.key_id)
/// }
///
/// let marker = SymmetricKey::generate(&SystemRandom::new())?;
/// let kms = Kms::builder().region("eu-west-1").marker_key(marker).build()?;
/// let region: &Region = kms.region();
/// assert_eq!(region.as_str(), "eu-west-1");
/// let root = Caller::new("arn:aws:iam::111122223333:root")?;
/// assert!(!new_key(&kms, &root)?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Envelope encryption (the `coffer-envelope` crate): message format, streaming, data-key cache.
/// [`KmsDataKeys`] is its provider backed by this `Kms`.
pub use coffer_envelope as envelope;

/// Audit events and sinks (the `coffer-audit` crate): see [`KmsBuilder::audit_sink`].
pub use coffer_audit as audit_log;
pub use kms::{Kms, KmsBuilder};
pub use lifecycle::{
    DEFAULT_PENDING_WINDOW_DAYS, DEFAULT_ROTATION_PERIOD_DAYS, MAX_ON_DEMAND_ROTATIONS,
};
pub use operation::{CheckState, Operation};
pub use shared_str::{KeyArn, KeyMaterialId};

/// Sharp tools for tests: a settable clock, deterministic randomness, a store that counts reads.
#[cfg(feature = "testing")]
pub mod testing {
    /// A test double of the HSM contract (tokens in process memory) for custom key stores.
    pub use crate::custom_key_store_testing::{MemoryClusters, MemoryToken};
    pub use coffer_core::testing::ManualClock;
    pub use coffer_crypto::testing::DeterministicRandom;
    pub use coffer_store::testing::CountingStore;
}
