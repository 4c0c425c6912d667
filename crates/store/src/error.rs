/// A storage failure. The facade reports these as `KMSInternalException` and keeps the cause for
/// the log; none of them carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was broken (a key id or alias name that exists).
    #[error("{what} already exists")]
    AlreadyExists {
        /// What collided.
        what: &'static str,
    },
    /// A row the transaction depends on is missing.
    #[error("{what} not found")]
    NotFound {
        /// What was missing.
        what: &'static str,
    },
    /// The backend failed.
    #[error("storage backend failed: {context}")]
    Backend {
        /// What was being done.
        context: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The transaction lost a race or its connection and was rolled back: a serialization
    /// failure or deadlock between concurrent transactions (another node changed what this one
    /// read), or the connection to the database server failed. Retrying the whole transaction
    /// (a new [`Store::begin`](crate::Store::begin)) may succeed. If the connection failed during
    /// [`Txn::commit`](crate::Txn::commit), the transaction may have committed: a retry must
    /// read before it writes (every facade mutation does).
    #[error("storage transaction must be retried: {context}")]
    Retryable {
        /// What was being done.
        context: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The data directory is held by another store (another process, or another open in this
    /// one): only one may use it at a time.
    #[error("data directory {} is in use by another coffer store (lock file held)", path.display())]
    Locked {
        /// The lock file.
        path: std::path::PathBuf,
    },
    /// The database was written by a newer coffer whose schema this build does not know.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A stored row of one key failed its integrity check or did not decode.
    #[error("stored {what} of key {key_id} is damaged")]
    DamagedRow {
        /// What kind of row (key record, key version).
        what: &'static str,
        /// The key it belongs to.
        key_id: coffer_core::KeyId,
        /// The decoder's error, if decoding was what failed.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Stored data failed to decode: damage or a version mismatch.
    #[error("stored {what} is damaged")]
    Corrupt {
        /// What failed to decode.
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}
