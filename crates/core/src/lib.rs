//! The shared vocabulary of coffer: identifiers and ARNs, principals ([`PrincipalArn`]) and the
//! [`Caller`], tag rules ([`check_tag`]), the [`EncryptionContext`] and its canonical encoding,
//! the injected [`Clock`] and the one calendar ([`time`]).
//!
//! ```
//! use coffer_core::{KeyRef, EncryptionContext};
//! let id = KeyRef::parse("arn:aws:kms:us-east-1:111122223333:alias/app")?;
//! assert!(matches!(id, KeyRef::AliasArn { alias: "alias/app", .. }));
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
mod key_hash;
mod operation;
mod principal;
mod tags;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
mod unique_keys;

pub use arn::{arn_part, AliasName, KeyRef, ALIAS_PREFIX};
pub use caller::Caller;
pub use clock::{Clock, SystemClock};
pub use context::{EncryptionContext, MAX_ENCRYPTION_CONTEXT_BYTES};
pub use error::CoreError;
pub use ids::{AccountId, KeyId, Region, MRK_PREFIX};
pub use key_hash::{avalanche, KeyIdHash, KeyIdHasher};
pub use operation::{KeyReferences, KeyStateRow, Operation};
pub use principal::{PrincipalArn, PrincipalKind, MAX_PRINCIPAL_ARN, PARTITIONS};
pub use tags::{check_tag, TagError, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS};
pub use time::epoch_seconds;
pub use unique_keys::UniqueKeys;
