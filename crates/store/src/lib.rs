//! Storage for coffer.
//!
//! [`Store`] hands out transactions ([`Txn`]); every mutation of the facade is one transaction,
//! committed with [`Txn::commit`] and rolled back if dropped. Backends: [`MemoryStore`] (the test
//! double and the ephemeral default) and [`SqliteStore`] (the embedded default: one SQLite
//! database in a locked data directory, WAL, full sync, secure delete; see `docs/STORAGE.md`).
//! Each backend runs the same conformance kit
//! ([`store_conformance_tests!`], feature `testing`).
//!
//! ```
//! use coffer_store::{MemoryStore, Store};
//! let store = MemoryStore::new();
//! let mut txn = store.begin()?;
//! assert!(txn.list_aliases(&"111122223333".parse()?, None, None, 10)?.is_empty());
//! txn.commit()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod codec;
mod error;
mod memory;
mod record;
mod sqlite;
mod traits;

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use record::{AliasRecord, CustomKeyStoreRecord};
pub use sqlite::{
    check_data_dir, DamagedRecord, IntegrityReport, SqliteStore, DB_FILE, LOCK_FILE, SCHEMA_VERSION,
};
pub use traits::{Store, Txn};
