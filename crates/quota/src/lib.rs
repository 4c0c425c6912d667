//! Request quotas for coffer: token buckets per (account, [`QuotaClass`]), with the classes
//! and default rates of AWS KMS, an injected [`Clock`](coffer_core::Clock), configurable
//! rates and bursts ([`QuotaConfig`]), and bounded memory.
//!
//! The facade takes one token for the caller's account before authorization; a call over
//! quota gets [`Throttled`], which it answers with `ThrottlingException` and
//! [`THROTTLING_MESSAGE`].
//!
//! ```
//! use std::sync::Arc;
//! use coffer_core::{AccountId, SystemClock};
//! use coffer_quota::{QuotaClass, QuotaConfig, Quotas, THROTTLING_MESSAGE};
//!
//! let config: QuotaConfig =
//!     serde_json::from_str(r#"{ "defaults": { "CreateKey": { "rate": 1, "burst": 2 } } }"#)?;
//! let quotas = Quotas::new(&config, Arc::new(SystemClock))?;
//! let account = AccountId::parse("111122223333")?;
//! let class = QuotaClass::for_operation_name("CreateKey", None);
//! assert!(quotas.check(&account, class).is_ok());
//! assert!(quotas.check(&account, class).is_ok());
//! let throttled = quotas.check(&account, class).unwrap_err();
//! assert_eq!(throttled.class(), QuotaClass::CreateKey);
//! assert_eq!(throttled.to_string(), THROTTLING_MESSAGE);
//! assert!(throttled.retry_after().as_secs_f64() <= 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See `docs/QUOTAS.md` for the classes, the defaults table and the reclamation bound.
#![forbid(unsafe_code)]

mod class;
mod config;
mod error;
mod limit;
mod quotas;

pub use class::{QuotaClass, UnknownQuotaClass};
pub use config::{LimitOverride, QuotaConfig, DEFAULT_MAX_BUCKETS, MAX_NODES};
pub use error::{QuotaError, Throttled, THROTTLING_MESSAGE};
pub use limit::{Bucket, Limit, MAX_BURST, MAX_RATE, MIN_RATE};
pub use quotas::{Quotas, SHARDS};
