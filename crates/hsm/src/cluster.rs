use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use coffer_crypto::{constant_time_eq, RandomSource, SecretBytes, SystemRandom};
use coffer_keys::hsm::HSM_NONCE_LEN;
use coffer_keys::{HsmCluster, HsmClusters, HsmError, HsmKeyRef, HsmSession};

use crate::config::ClusterConfig;
use crate::error::Error;
use crate::module::Module;
use crate::token::Token;

/// The DER bytes of the one certificate in `pem`, if it is a well-formed PEM certificate.
pub(crate) fn certificate_der(pem: &str) -> Option<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let body = pem.trim().strip_prefix(BEGIN)?.strip_suffix(END)?;
    if body.contains("-----") {
        return None;
    }
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    // A DER certificate is a SEQUENCE.
    (der.len() > 16 && der.first() == Some(&0x30)).then_some(der)
}

/// A configured token that custom key stores may use, by its cluster id. The module is loaded
/// at the first connect, not before: a cluster's token may be absent when the service starts.
pub struct Pkcs11Cluster {
    config: ClusterConfig,
    anchor: Option<Vec<u8>>,
    rng: Arc<dyn RandomSource>,
}

impl fmt::Debug for Pkcs11Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Cluster")
            .field("id", &self.config.id)
            .field("module", &self.config.token.module)
            .field("token", &self.config.token.token)
            .field("trust_anchor", &self.anchor.is_some())
            .finish()
    }
}

impl Pkcs11Cluster {
    /// A cluster from its configuration (validated here), drawing key ids from the system's
    /// random source.
    pub fn new(config: ClusterConfig) -> Result<Self, Error> {
        Self::with_random(config, Arc::new(SystemRandom::new()))
    }

    /// A cluster drawing key ids from `rng`.
    pub fn with_random(config: ClusterConfig, rng: Arc<dyn RandomSource>) -> Result<Self, Error> {
        config.validate()?;
        let anchor = config.trust_anchor_pem.as_deref().and_then(certificate_der);
        Ok(Self {
            config,
            anchor,
            rng,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Connects with `pin` and returns the concrete session (for tests and tools that need
    /// more than the trait, such as reading a key's attributes).
    pub fn connect_pkcs11(&self, pin: &SecretBytes) -> Result<Pkcs11Session, HsmError> {
        // A module that cannot be loaded is, to a caller of the API, a cluster that cannot be
        // reached; the operator's log gets the cause from the error text.
        let module = Module::load(&self.config.token.module)
            .map_err(|e| HsmError::Unavailable(e.to_string()))?;
        let token = Token::connect(
            module,
            self.config.token.clone(),
            pin.clone(),
            self.rng.clone(),
        )?;
        Ok(Pkcs11Session {
            token: Arc::new(token),
        })
    }
}

impl HsmCluster for Pkcs11Cluster {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn trust_anchor_matches(&self, pem: &str) -> bool {
        let Some(given) = certificate_der(pem) else {
            return false;
        };
        match &self.anchor {
            None => true,
            Some(anchor) => anchor.len() == given.len() && constant_time_eq(anchor, &given),
        }
    }

    fn connect(&self, pin: &SecretBytes) -> Result<Arc<dyn HsmSession>, HsmError> {
        Ok(Arc::new(self.connect_pkcs11(pin)?))
    }
}

/// A logged-in connection to a cluster's token: a pool of PKCS#11 sessions, safe to share
/// between threads.
#[derive(Clone, Debug)]
pub struct Pkcs11Session {
    token: Arc<Token>,
}

impl Pkcs11Session {
    /// The boolean and length attributes of a key object, for operators and tests:
    /// `(sensitive, extractable, token, private)`, and whether reading `CKA_VALUE` was
    /// refused.
    pub fn key_protection(&self, key: &HsmKeyRef) -> Result<crate::KeyProtection, HsmError> {
        crate::root::protection(&self.token, key)
    }
}

impl HsmSession for Pkcs11Session {
    fn generate_aes_key(&self, label: &str) -> Result<HsmKeyRef, HsmError> {
        self.token.generate_aes_key(label)
    }

    fn seal(
        &self,
        key: &HsmKeyRef,
        nonce: &[u8; HSM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        self.token.seal(key, nonce, aad, plaintext)
    }

    fn open(
        &self,
        key: &HsmKeyRef,
        nonce: &[u8; HSM_NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, HsmError> {
        self.token.open(key, nonce, aad, ciphertext_and_tag)
    }

    fn destroy(&self, key: &HsmKeyRef) -> Result<(), HsmError> {
        self.token.destroy(key)
    }

    fn key_exists(&self, key: &HsmKeyRef) -> Result<bool, HsmError> {
        self.token.key_exists(key)
    }

    fn check(&self) -> Result<(), HsmError> {
        self.token.check()
    }

    fn close(&self) {
        self.token.close();
    }
}

/// The operator's configured clusters.
pub struct ConfiguredClusters {
    clusters: Vec<Arc<Pkcs11Cluster>>,
}

impl fmt::Debug for ConfiguredClusters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clusters.iter()).finish()
    }
}

impl ConfiguredClusters {
    /// The clusters of `configs`, each validated; ids must be distinct, and so must tokens
    /// (two ids on one token would share its login).
    pub fn new(configs: Vec<ClusterConfig>) -> Result<Self, Error> {
        let mut clusters: Vec<Arc<Pkcs11Cluster>> = Vec::with_capacity(configs.len());
        for config in configs {
            if clusters.iter().any(|c| c.config.id == config.id) {
                return Err(Error::Config(format!(
                    "cluster id {} is configured twice",
                    config.id
                )));
            }
            if let Some(other) = clusters.iter().find(|c| c.config.token == config.token) {
                return Err(Error::Config(format!(
                    "clusters {} and {} name the same token",
                    other.config.id, config.id
                )));
            }
            clusters.push(Arc::new(Pkcs11Cluster::new(config)?));
        }
        clusters.sort_by(|a, b| a.config.id.cmp(&b.config.id));
        Ok(Self { clusters })
    }

    /// The configured clusters, sorted by id.
    pub fn clusters(&self) -> &[Arc<Pkcs11Cluster>] {
        &self.clusters
    }
}

impl HsmClusters for ConfiguredClusters {
    fn cluster(&self, cluster_id: &str) -> Option<Arc<dyn HsmCluster>> {
        self.clusters
            .iter()
            .find(|c| c.config.id == cluster_id)
            .map(|c| c.clone() as Arc<dyn HsmCluster>)
    }

    fn cluster_ids(&self) -> Vec<String> {
        self.clusters.iter().map(|c| c.config.id.clone()).collect()
    }
}
