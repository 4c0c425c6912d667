//! The contract between coffer and a hardware security module (a PKCS#11 token).
//!
//! Two users, one contract:
//! - a **root key held in a token** (the data directory's root of trust; implements
//!   [`crate::RootKey`] in `coffer-hsm`), and
//! - **custom key stores** (AWS's `AWS_CLOUDHSM` type): each store names an [`HsmCluster`] that the
//!   operator configured in cofferd; a key created in the store is an AES-256 key generated inside
//!   the token, never extractable, and every Encrypt/Decrypt/GenerateDataKey with it runs in the
//!   token through an [`HsmSession`].
//!
//! The facade (`coffer`) sees only these traits; `coffer-hsm` implements them with `cryptoki`
//! (PKCS#11), and tests of the facade that need no real token may use any implementation.
//! Nothing here hands key material out of the token: the session seals and opens with a key it
//! names by its object id.

use std::fmt;
use std::sync::Arc;

use coffer_crypto::SecretBytes;

/// Length of the nonce [`HsmSession::seal`] and [`HsmSession::open`] take (AES-GCM's 96 bits).
pub const HSM_NONCE_LEN: usize = 12;
/// Length of the tag [`HsmSession::seal`] appends.
pub const HSM_TAG_LEN: usize = 16;

/// What can go wrong talking to a token. Messages never carry a PIN or key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// No configured cluster (token) has this id.
    #[error("no HSM cluster {0} is configured")]
    ClusterNotFound(String),
    /// The PIN (AWS's `KeyStorePassword`) was refused by the token.
    #[error("the token refused the PIN")]
    InvalidCredentials,
    /// The token's user is locked out (too many wrong PINs).
    #[error("the token's user is locked")]
    UserLocked,
    /// The token is absent, removed, or its session was lost: retryable, never a wrong answer.
    #[error("the token is unavailable: {0}")]
    Unavailable(String),
    /// No key object with this id in the token.
    #[error("no key object with this id in the token")]
    KeyNotFound,
    /// Authentication of sealed data failed (wrong key, damaged ciphertext, other AAD).
    #[error("the ciphertext failed authentication in the token")]
    Authentication,
    /// Anything else the token reported (a PKCS#11 return value name, never data).
    #[error("token failure: {0}")]
    Failed(String),
}

impl HsmError {
    /// Whether retrying later may succeed (the token may come back).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The id of a key object inside a token (PKCS#11 `CKA_ID`): what coffer stores in place of
/// wrapped material for a key in a custom key store. Not secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HsmKeyRef(pub Vec<u8>);

impl fmt::Debug for HsmKeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HsmKeyRef({})", coffer_crypto::hex::encode(&self.0))
    }
}

/// The operator's configured tokens, by the id a CreateCustomKeyStore request gives as
/// `CloudHsmClusterId`. Callers of the API can name only configured clusters: a request never
/// chooses a PKCS#11 module to load.
pub trait HsmClusters: Send + Sync {
    /// The cluster with this id, if configured.
    fn cluster(&self, cluster_id: &str) -> Option<Arc<dyn HsmCluster>>;
    /// Every configured cluster id, sorted.
    fn cluster_ids(&self) -> Vec<String>;
}

/// One configured token.
pub trait HsmCluster: Send + Sync {
    /// The configured id (AWS's `CloudHsmClusterId`).
    fn id(&self) -> &str;
    /// Whether `pem` is the trust anchor the operator configured for this cluster (AWS's
    /// `TrustAnchorCertificate`; `IncorrectTrustAnchorException` otherwise). A cluster configured
    /// without one accepts any well-formed certificate.
    fn trust_anchor_matches(&self, pem: &str) -> bool;
    /// Opens a logged-in session with the user PIN (AWS's `KeyStorePassword`).
    fn connect(&self, pin: &SecretBytes) -> Result<Arc<dyn HsmSession>, HsmError>;
}

/// A logged-in session on a token. Every call may fail with [`HsmError::Unavailable`] when the
/// token goes away; the implementation reconnects when it returns.
pub trait HsmSession: Send + Sync {
    /// Generates a non-extractable, sensitive AES-256 key object in the token, labelled `label`
    /// (for operators listing the token), and returns its id.
    fn generate_aes_key(&self, label: &str) -> Result<HsmKeyRef, HsmError>;
    /// AES-256-GCM in the token under `key`: returns ciphertext followed by the 16-byte tag.
    fn seal(
        &self,
        key: &HsmKeyRef,
        nonce: &[u8; HSM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError>;
    /// Opens what [`seal`](Self::seal) produced with the same key, nonce and AAD.
    fn open(
        &self,
        key: &HsmKeyRef,
        nonce: &[u8; HSM_NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, HsmError>;
    /// Destroys the key object (deletion of a key in a custom key store).
    fn destroy(&self, key: &HsmKeyRef) -> Result<(), HsmError>;
    /// Whether the key object exists in the token.
    fn key_exists(&self, key: &HsmKeyRef) -> Result<bool, HsmError>;
    /// A cheap liveness check (the token is present and the session logged in).
    fn check(&self) -> Result<(), HsmError>;
    /// Logs out and closes the session (DisconnectCustomKeyStore).
    fn close(&self);
}
