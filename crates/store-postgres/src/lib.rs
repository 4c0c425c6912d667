//! A PostgreSQL backend for coffer's [`Store`](coffer_store::Store) trait: several coffer nodes
//! serving the same keys from one database.
//!
//! [`PostgresStore::connect`] parses a `postgres://` URL (or a `key=value` connection string),
//! opens a connection and brings the schema up to [`SCHEMA_VERSION`] (versioned migrations in a
//! `schema_migrations` table, each applied once, in a transaction, under an advisory lock, so
//! nodes starting together do not race). Transactions are `SERIALIZABLE`; a transaction that
//! loses a race with another node fails with [`StoreError::Retryable`] and changes nothing.
//! See `docs/STORAGE.md`, "PostgreSQL".
//!
//! ```no_run
//! use coffer_store::Store;
//! use coffer_store_postgres::PostgresStore;
//! let store = PostgresStore::connect("postgres://coffer@db.internal/coffer?sslmode=require")?;
//! let mut txn = store.begin()?;
//! assert!(txn.list_keys(&"111122223333".parse()?, None, 10)?.is_empty());
//! txn.commit()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What several nodes need beyond the trait: [`PostgresStore::insert_meta`] (first values set
//! once, whoever races), [`PostgresStore::swap_meta`] (compare-and-swap of a named value: the
//! shared credential set), [`PostgresStore::with_exclusive`] (a cluster-wide advisory lock:
//! maintenance on one node at a time) and [`PostgresStore::watch`] (LISTEN/NOTIFY of every
//! committed change, with a heartbeat that bounds how stale a node can be: [`Watcher`]).
//!
//! The URL may hold a password: it is never printed (the store's `Debug` shows host, port,
//! database and user only; errors name what failed, not the URL).
//!
//! [`StoreError::Retryable`]: coffer_store::StoreError::Retryable
#![forbid(unsafe_code)]

mod codec;
mod error;
mod pool;
mod schema;
mod store;
mod tls;
mod txn;
mod watch;

#[cfg(feature = "testing")]
pub mod testing;

pub use schema::SCHEMA_VERSION;
pub use store::{PostgresOptions, PostgresStore};
pub use watch::{Change, Watcher};
