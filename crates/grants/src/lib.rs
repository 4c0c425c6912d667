//! Grants: standing permissions on one key for one grantee principal, limited to a set of
//! operations and optionally to encryption contexts, as AWS KMS grants are.
//!
//! A [`Grant`] allows what [`Grant::allows`] says; [`GrantTokens`] mint and verify the opaque
//! tokens CreateGrant returns (HMAC-authenticated, compared in constant time).
//!
//! ```
//! use coffer_grants::{Grant, GrantConstraints, GrantOperation};
//! use coffer_core::EncryptionContext;
//! let mut subset = std::collections::BTreeMap::new();
//! subset.insert("dept".to_owned(), "eng".to_owned());
//! let constraints = GrantConstraints { encryption_context_subset: Some(subset), ..Default::default() };
//! let ctx: EncryptionContext = [("dept", "eng"), ("x", "y")].into_iter().collect();
//! assert!(constraints.admits(Some(&ctx)));
//! let _ = GrantOperation::Decrypt;
//! # let _: Option<Grant> = None;
//! ```
#![forbid(unsafe_code)]

mod error;
mod grant;
mod token;

pub use error::GrantError;
pub use grant::{Grant, GrantConstraints, GrantOperation, MAX_GRANTS_PER_KEY, MAX_GRANT_NAME};
pub use token::GrantTokens;
