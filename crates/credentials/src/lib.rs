//! coffer's access keys: access key id → sealed secret, principal, account, role and identity
//! policies ([`CredentialStore`]), kept through a [`CredentialBackend`] — the data dir's
//! `credentials.json` ([`FileBackend`]: mode 0600, format 3, every secret sealed with
//! AES-256-GCM under the data dir's sealing key). On first start in an empty data dir the store
//! creates the bootstrap administrator credential (the account root) and writes it once, in
//! clear, to `DATA_DIR/admin-credentials.json` (mode 0600).
//!
//! Reads ([`CredentialStore::get`], on every request) take a read lock on a map; changes are
//! serialized, committed to the backend atomically and durably, and only then become visible
//! in memory. Errors are this crate's [`Error`]; a server maps [`Error::code`] to its wire.
//!
//! docs/CREDENTIALS.md describes the model, the administration operations and the file format.
#![forbid(unsafe_code)]

mod error;
mod file;
mod seal;
mod store;

pub use error::Error;
pub use file::{check_private, CredentialBackend, FileBackend};
pub use store::{
    check_principal, not_found, reject_duplicate_keys, ConfiguredPrincipal, Credential,
    CredentialStore, InitOptions, NewCredential, Page, Rotated, ADMIN_CREDENTIALS_FILE,
    CREDENTIALS_FILE, MAX_CREDENTIALS, MAX_GRACE_SECS, MAX_POLICIES, MAX_TAGS,
    MIGRATED_ADMINISTRATOR_POLICY, SEALING_PURPOSE,
};
