use std::fmt;
use std::sync::Arc;

use coffer_crypto::{CryptoError, RandomSource, SecretBytes, SymmetricKey, SystemRandom};
use coffer_keys::hsm::{HSM_NONCE_LEN, HSM_TAG_LEN};
use coffer_keys::{HsmError, HsmKeyRef, KeyError, RootKey, MAX_SECRET_LEN};
use cryptoki::object::{Attribute, AttributeType};

use crate::config::RootKeyConfig;
use crate::error::Error;
use crate::module::Module;
use crate::token::Token;

/// The format byte of a value wrapped by a [`Pkcs11RootKey`] (a [`coffer_keys::LocalRootKey`]
/// writes 1): the two never read each other's values.
pub const PKCS11_WRAP_V1: u8 = 0x50;
const OVERHEAD: usize = 1 + HSM_NONCE_LEN + HSM_TAG_LEN;

/// How a key object in a token is protected, as the token reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyProtection {
    /// `CKA_SENSITIVE`.
    pub sensitive: Option<bool>,
    /// `CKA_EXTRACTABLE`.
    pub extractable: Option<bool>,
    /// `CKA_ALWAYS_SENSITIVE`.
    pub always_sensitive: Option<bool>,
    /// `CKA_NEVER_EXTRACTABLE`.
    pub never_extractable: Option<bool>,
    /// `CKA_TOKEN` (a persistent object).
    pub token: Option<bool>,
    /// `CKA_PRIVATE` (visible only after login).
    pub private: Option<bool>,
    /// Whether the token handed out `CKA_VALUE` when asked (it must not).
    pub value_readable: bool,
}

pub(crate) fn protection(token: &Token, key: &HsmKeyRef) -> Result<KeyProtection, HsmError> {
    let attrs = token.key_attributes(
        key,
        &[
            AttributeType::Sensitive,
            AttributeType::Extractable,
            AttributeType::AlwaysSensitive,
            AttributeType::NeverExtractable,
            AttributeType::Token,
            AttributeType::Private,
        ],
    )?;
    let mut p = KeyProtection {
        sensitive: None,
        extractable: None,
        always_sensitive: None,
        never_extractable: None,
        token: None,
        private: None,
        value_readable: false,
    };
    for a in attrs {
        match a {
            Attribute::Sensitive(v) => p.sensitive = Some(v),
            Attribute::Extractable(v) => p.extractable = Some(v),
            Attribute::AlwaysSensitive(v) => p.always_sensitive = Some(v),
            Attribute::NeverExtractable(v) => p.never_extractable = Some(v),
            Attribute::Token(v) => p.token = Some(v),
            Attribute::Private(v) => p.private = Some(v),
            _ => {}
        }
    }
    // Asked on its own: a token refuses a sensitive value (CKR_ATTRIBUTE_SENSITIVE, which
    // cryptoki reports as the attribute missing) or fails the call; either way it is not read.
    p.value_readable = match token.key_attributes(key, &[AttributeType::Value]) {
        Ok(attrs) => attrs.iter().any(|a| matches!(a, Attribute::Value(_))),
        Err(_) => false,
    };
    Ok(p)
}

/// The root key of a data directory held in a PKCS#11 token: an AES-256 key object generated
/// in the token (sensitive, never extractable), found by its label. Every wrap and unwrap runs
/// in the token (AES-256-GCM with a random 96-bit nonce); the key never enters this process.
///
/// When the token goes away while the service runs, wrap and unwrap fail with
/// [`KeyError::RootUnavailable`] (retryable) and recover when it returns.
pub struct Pkcs11RootKey {
    token: Token,
    key: HsmKeyRef,
    label: String,
    rng: Arc<dyn RandomSource>,
}

impl fmt::Debug for Pkcs11RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11RootKey")
            .field("module", &self.token.config().module)
            .field("token", &self.token.config().token)
            .field("key_label", &self.label)
            .field("key_id", &self.key)
            .finish()
    }
}

impl Pkcs11RootKey {
    /// Opens the root key `config` names, reading the PIN from its source. With `create`
    /// (a data directory being made), a missing key object is generated; without it, a
    /// missing key object is an error (the directory's backing keys would be lost). Fails with
    /// a message naming the module and token (never the PIN) when the token is absent, the PIN
    /// wrong or the user locked.
    pub fn open(config: &RootKeyConfig, create: bool) -> Result<Self, Error> {
        Self::open_with_random(config, create, Arc::new(SystemRandom::new()))
    }

    /// [`Pkcs11RootKey::open`], drawing nonces and key ids from `rng`.
    pub fn open_with_random(
        config: &RootKeyConfig,
        create: bool,
        rng: Arc<dyn RandomSource>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let pin = config.pin.read()?;
        let module = Module::load(&config.token.module)?;
        let token_err = |source| Error::Token {
            module: config.token.module.clone(),
            token: config.token.token.to_string(),
            source,
        };
        let token =
            Token::connect(module, config.token.clone(), pin, rng.clone()).map_err(token_err)?;
        let found = token.find_by_label(&config.key_label).map_err(token_err)?;
        let root_err = |what: String| Error::RootKey {
            module: config.token.module.clone(),
            token: config.token.token.to_string(),
            what,
        };
        let key = match found.as_slice() {
            [key] => key.clone(),
            [] if create => token
                .generate_aes_key(&config.key_label)
                .map_err(token_err)?,
            [] => {
                return Err(root_err(format!(
                    "no AES key object labelled {:?}: the data directory was made with a root \
                     key that this token does not hold (another token, or a key deleted)",
                    config.key_label
                )))
            }
            _ => {
                return Err(root_err(format!(
                    "{} AES key objects are labelled {:?}; the root key's label must be unique",
                    found.len(),
                    config.key_label
                )))
            }
        };
        let root = Self {
            token,
            key,
            label: config.key_label.clone(),
            rng,
        };
        let p = root.protection().map_err(token_err)?;
        if p.extractable != Some(false) || p.sensitive != Some(true) || p.value_readable {
            return Err(root_err(format!(
                "the key object labelled {:?} is extractable or not sensitive: a root key must \
                 never leave the token",
                config.key_label
            )));
        }
        Ok(root)
    }

    /// How the token protects the root key object.
    pub fn protection(&self) -> Result<KeyProtection, HsmError> {
        protection(&self.token, &self.key)
    }

    /// The root key object's `CKA_ID`.
    pub fn key_ref(&self) -> &HsmKeyRef {
        &self.key
    }

    fn fail(&self, e: HsmError) -> KeyError {
        match e {
            HsmError::Authentication => KeyError::Crypto(CryptoError),
            HsmError::Failed(_) => KeyError::Crypto(CryptoError),
            other => KeyError::RootUnavailable(format!(
                "the root key in token {} of PKCS#11 module {}: {other}",
                self.token.config().token,
                self.token.config().module.display()
            )),
        }
    }

    fn seal_material(&self, aad: &[u8], material: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; HSM_NONCE_LEN];
        self.rng.fill_public(&mut nonce)?;
        let bound = bind(aad);
        let sealed = self
            .token
            .seal(&self.key, &nonce, &bound, material)
            .map_err(|e| self.fail(e))?;
        let mut out = Vec::with_capacity(OVERHEAD + material.len());
        out.push(PKCS11_WRAP_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open_sealed(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KeyError> {
        if wrapped.len() <= OVERHEAD
            || wrapped.len() > OVERHEAD + MAX_SECRET_LEN
            || wrapped.first() != Some(&PKCS11_WRAP_V1)
        {
            return Err(KeyError::Crypto(CryptoError));
        }
        let mut nonce = [0u8; HSM_NONCE_LEN];
        nonce.copy_from_slice(wrapped.get(1..1 + HSM_NONCE_LEN).ok_or(CryptoError)?);
        let body = wrapped.get(1 + HSM_NONCE_LEN..).ok_or(CryptoError)?;
        self.token
            .open(&self.key, &nonce, &bind(aad), body)
            .map_err(|e| self.fail(e))
    }
}

/// The authenticated data given to the token: the format byte, then the caller's.
fn bind(aad: &[u8]) -> Vec<u8> {
    let mut bound = Vec::with_capacity(1 + aad.len());
    bound.push(PKCS11_WRAP_V1);
    bound.extend_from_slice(aad);
    bound
}

impl RootKey for Pkcs11RootKey {
    fn wrap(&self, aad: &[u8], material: &SymmetricKey) -> Result<Vec<u8>, KeyError> {
        self.seal_material(aad, material.expose())
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SymmetricKey, KeyError> {
        let plain = self.open_sealed(aad, wrapped)?;
        Ok(SymmetricKey::from_slice(plain.expose())?)
    }

    fn wrap_secret(&self, aad: &[u8], material: &SecretBytes) -> Result<Vec<u8>, KeyError> {
        if material.is_empty() || material.len() > MAX_SECRET_LEN {
            return Err(KeyError::Crypto(CryptoError));
        }
        self.seal_material(aad, material.expose())
    }

    fn unwrap_secret(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KeyError> {
        self.open_sealed(aad, wrapped)
    }
}
