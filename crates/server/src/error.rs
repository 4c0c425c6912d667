//! The crate's one error type: what can stop `cofferd` from starting or serving.

use std::path::PathBuf;

/// Why the server could not start or keep running. Request failures are not errors of this
/// type: they become AWS error responses (see `docs/SERVER.md`).
///
/// A variant with a cause returns it from `source()` and leaves it out of its own message;
/// [`crate::error_chain`] prints the whole chain, each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory in the data dir could not be read or written.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The credential store could not open (a credential file is malformed, altered, open to
    /// others, or of another region); its message names the file, never a value in it.
    #[error(transparent)]
    Credentials(#[from] coffer_credentials::Error),
    /// A file that must be the owner's alone (configuration, credentials, passphrase, TLS key)
    /// is readable or writable by its group or others.
    #[error("{path}: mode {mode:o} lets group or others read or write it; chmod 600 it")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file the configuration names (a TLS certificate or key, a passphrase or root key file)
    /// is not a regular file.
    #[error("{path}: not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The root key file is to be created (at first start) in a directory that cannot hold it.
    #[error("{path}: the root key's directory {problem}")]
    RootKeyDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it ("does not exist", "is not a directory").
        problem: &'static str,
    },
    /// The TLS certificate or key cannot be used.
    #[error("{path}: {message}")]
    Tls {
        /// The certificate or key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A command-line argument or configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The configuration file (`--config FILE`) cannot be parsed or holds an invalid value;
    /// the message names the key (and, for a syntax error, the line and column).
    #[error("{path}: {message}")]
    ConfigFile {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The host name of `listen` could not be resolved.
    #[error("cannot resolve {addr}")]
    Resolve {
        /// The address as configured (`HOST:PORT`).
        addr: String,
        /// What the resolver said.
        #[source]
        source: std::io::Error,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The key management service could not be built.
    #[error("cannot open the key management service")]
    Kms(#[source] coffer::Error),
    /// The handlers of the signals that stop the server (SIGTERM, SIGINT) could not be
    /// installed.
    #[error("cannot install the shutdown signal handlers")]
    Signals(#[source] std::io::Error),
    /// A data directory opened in process (`coffer --data-dir`) is missing or not one cofferd
    /// made: it is never created there, only by cofferd's first start.
    #[error("{path}: {problem}")]
    NotADataDir {
        /// The directory (or the file it lacks).
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// The administrator's account of a data directory opened in process is not one account.
    #[error(
        "the data directory's administrator credentials belong to several accounts ({0}): \
             no one account root to act as"
    )]
    AmbiguousAccount(String),
    /// A PKCS#11 token (the root key's) could not be used at start: its module, token, PIN
    /// source or root key object; the cause names them, never the PIN.
    #[error("PKCS#11")]
    Hsm(#[source] coffer_hsm::Error),
    /// The random source failed.
    #[error("random source failed")]
    Random(#[source] coffer_crypto::CryptoError),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
