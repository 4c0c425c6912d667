//! A test double of the HSM contract: tokens held in process memory, for tests of the facade
//! that need no real token. Clearly not a token: its keys are ordinary memory. The tests that
//! must show material staying in a token run against SoftHSM2 through `coffer-hsm`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use coffer_crypto::aead::{Aes256Gcm, Nonce};
use coffer_crypto::{SecretBytes, SymmetricKey, SystemRandom};
use coffer_keys::hsm::HSM_NONCE_LEN;
use coffer_keys::{HsmCluster, HsmClusters, HsmError, HsmKeyRef, HsmSession};
use parking_lot::Mutex;

/// One in-memory "token": a PIN, an optional trust anchor, key objects by id.
pub struct MemoryToken {
    id: String,
    pin: Vec<u8>,
    trust_anchor: Option<String>,
    objects: Mutex<HashMap<Vec<u8>, SymmetricKey>>,
    next: AtomicU64,
    present: AtomicBool,
    sessions_open: AtomicU64,
}

impl std::fmt::Debug for MemoryToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MemoryToken {
    /// A token `id` (a cluster id) whose user PIN is `pin`.
    pub fn new(id: &str, pin: &str, trust_anchor: Option<&str>) -> Arc<Self> {
        Arc::new(Self {
            id: id.to_owned(),
            pin: pin.as_bytes().to_vec(),
            trust_anchor: trust_anchor.map(str::to_owned),
            objects: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            present: AtomicBool::new(true),
            sessions_open: AtomicU64::new(0),
        })
    }

    /// How many key objects the token holds.
    pub fn object_count(&self) -> usize {
        self.objects.lock().len()
    }

    /// Whether a key object with this id exists.
    pub fn has_object(&self, id: &[u8]) -> bool {
        self.objects.lock().contains_key(id)
    }

    /// Removes the token (every call fails as unavailable) or puts it back.
    pub fn set_present(&self, present: bool) {
        self.present.store(present, Ordering::SeqCst);
    }

    /// Sessions opened and not closed.
    pub fn open_sessions(&self) -> u64 {
        self.sessions_open.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), HsmError> {
        if self.present.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(HsmError::Unavailable("the token was removed".into()))
        }
    }
}

/// A set of in-memory tokens by cluster id.
#[derive(Default, Debug)]
pub struct MemoryClusters(HashMap<String, Arc<MemoryToken>>);

impl MemoryClusters {
    /// The set of `tokens`.
    pub fn new(tokens: &[Arc<MemoryToken>]) -> Arc<Self> {
        Arc::new(Self(
            tokens.iter().map(|t| (t.id.clone(), t.clone())).collect(),
        ))
    }
}

struct Cluster(Arc<MemoryToken>);

impl HsmClusters for MemoryClusters {
    fn cluster(&self, cluster_id: &str) -> Option<Arc<dyn HsmCluster>> {
        self.0
            .get(cluster_id)
            .map(|t| Arc::new(Cluster(t.clone())) as Arc<dyn HsmCluster>)
    }

    fn cluster_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.0.keys().cloned().collect();
        ids.sort();
        ids
    }
}

impl HsmCluster for Cluster {
    fn id(&self) -> &str {
        &self.0.id
    }

    fn trust_anchor_matches(&self, pem: &str) -> bool {
        self.0.trust_anchor.as_deref().is_none_or(|a| a == pem)
    }

    fn connect(&self, pin: &SecretBytes) -> Result<Arc<dyn HsmSession>, HsmError> {
        self.0.check()?;
        if pin.expose() != self.0.pin.as_slice() {
            return Err(HsmError::InvalidCredentials);
        }
        self.0.sessions_open.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(Session {
            token: self.0.clone(),
            open: AtomicBool::new(true),
        }))
    }
}

struct Session {
    token: Arc<MemoryToken>,
    open: AtomicBool,
}

impl Session {
    fn key(&self, key: &HsmKeyRef) -> Result<Aes256Gcm, HsmError> {
        self.token.check()?;
        if !self.open.load(Ordering::SeqCst) {
            return Err(HsmError::Unavailable("the session is closed".into()));
        }
        let objects = self.token.objects.lock();
        let k = objects.get(&key.0).ok_or(HsmError::KeyNotFound)?;
        Aes256Gcm::new(k).map_err(|_| HsmError::Failed("CKR_GENERAL_ERROR".into()))
    }
}

impl HsmSession for Session {
    fn generate_aes_key(&self, _label: &str) -> Result<HsmKeyRef, HsmError> {
        self.token.check()?;
        let key = SymmetricKey::generate(&SystemRandom::new())
            .map_err(|_| HsmError::Failed("CKR_GENERAL_ERROR".into()))?;
        let id = self
            .token
            .next
            .fetch_add(1, Ordering::SeqCst)
            .to_be_bytes()
            .to_vec();
        self.token.objects.lock().insert(id.clone(), key);
        Ok(HsmKeyRef(id))
    }

    fn seal(
        &self,
        key: &HsmKeyRef,
        nonce: &[u8; HSM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let cipher = self.key(key)?;
        let mut out = Vec::with_capacity(plaintext.len() + 16);
        cipher
            .seal_append(&Nonce::from_bytes(*nonce), aad, plaintext, &mut out)
            .map_err(|_| HsmError::Failed("CKR_GENERAL_ERROR".into()))?;
        Ok(out)
    }

    fn open(
        &self,
        key: &HsmKeyRef,
        nonce: &[u8; HSM_NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, HsmError> {
        let cipher = self.key(key)?;
        cipher
            .open(&Nonce::from_bytes(*nonce), aad, ciphertext_and_tag)
            .map_err(|_| HsmError::Authentication)
    }

    fn destroy(&self, key: &HsmKeyRef) -> Result<(), HsmError> {
        self.token.check()?;
        self.token
            .objects
            .lock()
            .remove(&key.0)
            .map(|_| ())
            .ok_or(HsmError::KeyNotFound)
    }

    fn key_exists(&self, key: &HsmKeyRef) -> Result<bool, HsmError> {
        self.token.check()?;
        Ok(self.token.objects.lock().contains_key(&key.0))
    }

    fn check(&self) -> Result<(), HsmError> {
        self.token.check()
    }

    fn close(&self) {
        if self.open.swap(false, Ordering::SeqCst) {
            self.token.sessions_open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
