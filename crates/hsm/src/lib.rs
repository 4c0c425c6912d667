//! PKCS#11 tokens for coffer, over the `cryptoki` crate.
//!
//! - [`Pkcs11RootKey`]: a data directory's root key held in a token (implements
//!   [`coffer_keys::RootKey`]): generated in the token when the directory is made, never
//!   extractable; every wrap and unwrap runs in the token.
//! - [`Pkcs11Cluster`], [`Pkcs11Session`], [`ConfiguredClusters`]: the HSM contract of
//!   [`coffer_keys::hsm`] for custom key stores: a configured token per cluster id, a pool of
//!   logged-in sessions per connection, AES-256-GCM in the token.
//! - [`TokenConfig`], [`PinSource`], [`RootKeyConfig`], [`ClusterConfig`]: what an operator
//!   configures. A PIN comes from a file or an environment variable, never a literal value.
//!
//! A token that goes away while in use fails calls with a retryable error
//! ([`coffer_keys::HsmError::Unavailable`], [`coffer_keys::KeyError::RootUnavailable`]); the
//! next call after it returns logs in again.
//!
//! ```no_run
//! use coffer_hsm::{PinSource, Pkcs11RootKey, RootKeyConfig, TokenConfig, TokenSelector};
//! let config = RootKeyConfig {
//!     token: TokenConfig::new(
//!         "/usr/lib/softhsm/libsofthsm2.so",
//!         TokenSelector::Label("coffer".into()),
//!     ),
//!     pin: PinSource::File("/etc/coffer/token.pin".into()),
//!     key_label: "coffer-root".into(),
//! };
//! let root = Pkcs11RootKey::open(&config, true)?;
//! assert_eq!(root.protection()?.extractable, Some(false));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod cluster;
mod config;
mod error;
mod module;
mod root;
#[cfg(feature = "testing")]
pub mod softhsm;
mod token;

pub use cluster::{ConfiguredClusters, Pkcs11Cluster, Pkcs11Session};
pub use config::{
    valid_cluster_id, ClusterConfig, PinSource, RootKeyConfig, TokenConfig, TokenSelector,
};
pub use error::{Error, PinError};
pub use root::{KeyProtection, Pkcs11RootKey, PKCS11_WRAP_V1};
