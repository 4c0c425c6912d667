//! The shared vocabulary of coffer: identifiers and ARNs, the [`Caller`], the
//! [`EncryptionContext`] and its canonical encoding, the injected [`Clock`] and the one
//! calendar ([`time`]).
//!
//! ```
//! use coffer_core::{KeyIdentifier, EncryptionContext};
//! let id = KeyIdentifier::parse("arn:aws:kms:us-east-1:111122223333:alias/app")?;
//! assert!(matches!(id, KeyIdentifier::AliasArn { .. }));
//! let mut ctx = EncryptionContext::new();
//! ctx.insert("purpose", "test");
//! assert_eq!(ctx.canonical_bytes(), ctx.clone().canonical_bytes());
//! # Ok::<(), coffer_core::CoreError>(())
//! ```
#![forbid(unsafe_code)]

mod arn;
mod caller;
mod clock;
mod context;
mod error;
mod ids;
mod operation;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
mod unique_keys;

pub use arn::{AliasName, KeyIdentifier, ALIAS_PREFIX};
pub use caller::Caller;
pub use clock::{Clock, SystemClock};
pub use context::{EncryptionContext, MAX_ENCRYPTION_CONTEXT_BYTES};
pub use error::CoreError;
pub use ids::{AccountId, KeyId, Region};
pub use operation::{KeyReferences, KeyStateRow, Operation};
pub use time::epoch_seconds;
pub use unique_keys::UniqueKeys;
