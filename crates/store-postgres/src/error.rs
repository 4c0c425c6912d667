//! PostgreSQL errors as [`StoreError`]s, mapped in one place.
//!
//! - unique violation (23505) → [`StoreError::AlreadyExists`];
//! - serialization failure (40001), deadlock (40P01), a lost or refused connection (class 08,
//!   57P01–57P03, an I/O error, a closed connection) → [`StoreError::Retryable`];
//! - anything else → [`StoreError::Backend`], whose source names the SQLSTATE.

use std::fmt;

use coffer_store::StoreError;
use postgres::error::SqlState;

/// A PostgreSQL error with its SQLSTATE in the message. The server's message and detail name
/// tables, constraints and key values (ids, names), never wrapped material, which is not part
/// of any constraint; the connection URL is never part of it.
#[derive(Debug)]
pub(crate) struct PgError {
    inner: postgres::Error,
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.code() {
            Some(code) => write!(f, "SQLSTATE {}: {}", code.code(), self.inner),
            None => write!(f, "{}", self.inner),
        }
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner)
    }
}

/// Whether a retry of the whole transaction may succeed where this one failed.
pub(crate) fn is_retryable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
        }
        // No SQLSTATE: the client failed to talk to the server (I/O, timeout, a connection
        // that ended mid-message), to set up TLS, or to encode or decode a value. Only I/O is
        // transient, and not a TLS failure reported through it (a certificate that does not
        // verify stays so).
        None => std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|io| {
                !io.get_ref()
                    .is_some_and(|inner| inner.is::<rustls::Error>())
            }),
    }
}

/// Maps an error of a statement that may break a uniqueness rule on `what`.
pub(crate) fn pg_err(
    context: &'static str,
    what: &'static str,
) -> impl Fn(postgres::Error) -> StoreError {
    move |e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            return StoreError::AlreadyExists { what };
        }
        classify(context, e)
    }
}

/// Maps an error: retryable or a backend failure naming its SQLSTATE.
pub(crate) fn classify(context: &'static str, e: postgres::Error) -> StoreError {
    if is_retryable(&e) {
        StoreError::Retryable {
            context,
            source: Box::new(PgError { inner: e }),
        }
    } else {
        StoreError::Backend {
            context,
            source: Box::new(PgError { inner: e }),
        }
    }
}

/// A transaction that an earlier failed statement aborted: PostgreSQL refuses every later
/// statement, and its `COMMIT` would silently roll back.
#[derive(Debug, thiserror::Error)]
#[error("an earlier statement of this transaction failed, so PostgreSQL aborted it")]
pub(crate) struct Aborted;
