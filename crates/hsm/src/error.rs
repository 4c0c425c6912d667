use std::path::PathBuf;

use coffer_keys::HsmError;
use cryptoki::error::{Error as CkError, RvError};

/// What can go wrong setting up a token: loading its module, finding it, reading its PIN,
/// finding or making the root key. Messages name the module, the token and the PIN's source
/// (a file path or an environment variable's name), never the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The module file does not exist.
    #[error("PKCS#11 module {}: no such file", module.display())]
    ModuleMissing {
        /// The configured library path.
        module: PathBuf,
    },
    /// The module could not be loaded or initialized.
    #[error("PKCS#11 module {}: cannot load or initialize it", module.display())]
    Module {
        /// The configured library path.
        module: PathBuf,
        /// What the library (or the loader) said.
        #[source]
        source: CkError,
    },
    /// The PIN's source cannot be read.
    #[error("the token PIN cannot be read from {from}")]
    Pin {
        /// `file PATH` or `environment variable NAME`.
        from: String,
        /// What went wrong (never the PIN).
        #[source]
        source: PinError,
    },
    /// The token refused, or could not serve, what setting up needed.
    #[error("PKCS#11 module {}, token {token}: {source}", module.display())]
    Token {
        /// The configured library path.
        module: PathBuf,
        /// The token as configured (`label "…"` or `slot N`).
        token: String,
        /// What the token said.
        #[source]
        source: HsmError,
    },
    /// The root key object is not in the token (and the data directory is not new, so it is
    /// not made either), or more than one key has its label.
    #[error("PKCS#11 module {}, token {token}: {what}", module.display())]
    RootKey {
        /// The configured library path.
        module: PathBuf,
        /// The token as configured.
        token: String,
        /// What is wrong with the root key object.
        what: String,
    },
    /// A configuration value is not valid.
    #[error("invalid HSM configuration: {0}")]
    Config(String),
}

/// Why a PIN source could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The PIN file cannot be read.
    #[error("I/O failure")]
    Io(#[source] std::io::Error),
    /// The PIN file is open to group or others.
    #[error("the file is accessible to group or others (mode {0:o}); chmod 600 it")]
    Permissions(u32),
    /// The environment variable is not set, or not UTF-8.
    #[error("it is not set")]
    NotSet,
    /// The PIN is empty (after the trailing newline is dropped) or longer than 255 bytes.
    #[error("the PIN is empty or longer than 255 bytes")]
    Length,
}

/// The [`HsmError`] for a failure of the library: token-gone and session-lost codes are
/// retryable ([`HsmError::Unavailable`]); the PIN and authentication codes have their own
/// variants; anything else is [`HsmError::Failed`] with the return value's name.
pub(crate) fn classify(e: &CkError) -> HsmError {
    let CkError::Pkcs11(rv, function) = e else {
        return HsmError::Failed(e.to_string());
    };
    let name = format!("{function}: {rv:?}");
    match rv {
        RvError::DeviceRemoved
        | RvError::TokenNotPresent
        | RvError::TokenNotRecognized
        | RvError::SessionHandleInvalid
        | RvError::SessionClosed
        | RvError::SessionCount
        | RvError::DeviceError
        | RvError::DeviceMemory
        | RvError::UserNotLoggedIn
        | RvError::SlotIdInvalid
        | RvError::CryptokiNotInitialized
        | RvError::GeneralError
        | RvError::FunctionFailed => HsmError::Unavailable(name),
        RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange => {
            HsmError::InvalidCredentials
        }
        RvError::PinLocked => HsmError::UserLocked,
        RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange => HsmError::Authentication,
        RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid => HsmError::KeyNotFound,
        _ => HsmError::Failed(name),
    }
}

/// Whether `e` means the sessions of this token are lost (drop the pool and reconnect).
pub(crate) fn loses_sessions(e: &HsmError) -> bool {
    matches!(e, HsmError::Unavailable(_))
}
