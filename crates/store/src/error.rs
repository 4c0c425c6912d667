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
