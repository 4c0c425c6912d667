use std::fmt;
use std::path::{Path, PathBuf};

use coffer_crypto::SecretBytes;

use crate::error::{Error, PinError};

/// The longest PIN read from a PIN source (PKCS#11 tokens take far shorter ones).
const MAX_PIN_LEN: usize = 255;

/// Which token of a module: by label (what `softhsm2-util --init-token --label` set) or by
/// slot id.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSelector {
    /// The token whose label is this (trailing blanks of the token's label ignored).
    Label(String),
    /// The token in the slot with this id.
    Slot(u64),
}

impl fmt::Debug for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Label(l) => write!(f, "label {l:?}"),
            Self::Slot(s) => write!(f, "slot {s}"),
        }
    }
}

/// A token: the PKCS#11 module (shared library) that serves it and which of its tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenConfig {
    /// The vendor's PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// Which token of the module.
    pub token: TokenSelector,
}

impl TokenConfig {
    /// A token of `module` chosen by `token`.
    pub fn new(module: impl Into<PathBuf>, token: TokenSelector) -> Self {
        Self {
            module: module.into(),
            token,
        }
    }

    /// Checks what can be checked without loading the module.
    pub fn validate(&self) -> Result<(), Error> {
        if self.module.as_os_str().is_empty() {
            return Err(Error::Config("the PKCS#11 module path is empty".into()));
        }
        if let TokenSelector::Label(l) = &self.token {
            // PKCS#11 token labels are 32 bytes, blank padded.
            if l.is_empty() || l.len() > 32 || l.trim_end() != l {
                return Err(Error::Config(format!(
                    "token label {l:?} must be 1 to 32 bytes without trailing blanks"
                )));
            }
        }
        Ok(())
    }
}

/// Where a PIN comes from: a file or an environment variable, never a literal value (which
/// would sit in a command line, a shell history or a config file under version control).
#[derive(Clone, PartialEq, Eq)]
pub enum PinSource {
    /// A file holding the PIN (one trailing newline ignored); it must be private to its owner.
    File(PathBuf),
    /// An environment variable holding the PIN.
    Env(String),
}

impl fmt::Debug for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "file {}", p.display()),
            Self::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

impl PinSource {
    /// Reads the PIN.
    pub fn read(&self) -> Result<SecretBytes, Error> {
        let fail = |source| Error::Pin {
            from: self.to_string(),
            source,
        };
        let mut pin = match self {
            Self::File(path) => read_private(path).map_err(fail)?,
            Self::Env(var) => {
                let v = std::env::var_os(var).ok_or_else(|| fail(PinError::NotSet))?;
                SecretBytes::new(v.into_encoded_bytes())
            }
        };
        let mut len = pin.len();
        if pin.expose().get(..len).is_some_and(|p| p.ends_with(b"\n")) {
            len -= 1;
            if pin.expose().get(..len).is_some_and(|p| p.ends_with(b"\r")) {
                len -= 1;
            }
        }
        pin.truncate(len);
        if pin.is_empty() || pin.len() > MAX_PIN_LEN {
            return Err(fail(PinError::Length));
        }
        Ok(pin)
    }
}

fn read_private(path: &Path) -> Result<SecretBytes, PinError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(PinError::Io)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(PinError::Permissions(mode & 0o777));
        }
    }
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(PinError::Io)?;
    let mut buf = SecretBytes::with_capacity(MAX_PIN_LEN + 2);
    let mut chunk = [0u8; 64];
    let mut reader = file.take((MAX_PIN_LEN + 3) as u64);
    loop {
        let n = reader.read(&mut chunk).map_err(PinError::Io)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    coffer_crypto::wipe(&mut chunk);
    Ok(buf)
}

/// A root key held in a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootKeyConfig {
    /// The token.
    pub token: TokenConfig,
    /// Where its user PIN comes from.
    pub pin: PinSource,
    /// The label of the root key object (made with this label when a data directory is new).
    pub key_label: String,
}

impl RootKeyConfig {
    /// Checks what can be checked without loading the module.
    pub fn validate(&self) -> Result<(), Error> {
        self.token.validate()?;
        if self.key_label.is_empty() || self.key_label.len() > 128 {
            return Err(Error::Config(
                "the root key label must be 1 to 128 bytes".into(),
            ));
        }
        Ok(())
    }
}

/// One configured cluster: a token that custom key stores may name by `id` (AWS's
/// `CloudHsmClusterId`). Its PIN comes with each CreateCustomKeyStore / ConnectCustomKeyStore
/// (AWS's `KeyStorePassword`), never from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The id: `cluster-` and 11 to 16 ASCII letters or digits (19 to 24 characters, AWS's
    /// bounds), e.g. `cluster-1234567abcd`.
    pub id: String,
    /// The token.
    pub token: TokenConfig,
    /// The trust anchor certificate (PEM) the operator configured, if any.
    pub trust_anchor_pem: Option<String>,
}

impl ClusterConfig {
    /// Checks the id and the token's configuration (the module is loaded only at connect time:
    /// a cluster's token may be absent when the service starts).
    pub fn validate(&self) -> Result<(), Error> {
        if !valid_cluster_id(&self.id) {
            return Err(Error::Config(format!(
                "cluster id {:?} must be `cluster-` followed by 11 to 16 letters or digits \
                 (e.g. cluster-1234567abcd)",
                self.id
            )));
        }
        self.token.validate()?;
        if let Some(pem) = &self.trust_anchor_pem {
            if crate::cluster::certificate_der(pem).is_none() {
                return Err(Error::Config(format!(
                    "cluster {}: the trust anchor is not a PEM certificate",
                    self.id
                )));
            }
        }
        Ok(())
    }
}

/// Whether `id` is a cluster id: `cluster-` and 11 to 16 ASCII letters or digits (AWS's
/// `CloudHsmClusterId` is 19 to 24 characters of this form).
pub fn valid_cluster_id(id: &str) -> bool {
    id.strip_prefix("cluster-").is_some_and(|rest| {
        (11..=16).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}
