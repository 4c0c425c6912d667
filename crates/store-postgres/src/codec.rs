//! Row encoding: the shared codec of coffer-store (the same bytes as the SQLite store), and
//! PostgreSQL's own rule for text.

use coffer_store::StoreError;

pub(crate) use coffer_store::codec::*;

/// PostgreSQL `text` cannot hold a NUL character: such a value is refused with a clear error
/// before it reaches the server (where it would abort the transaction).
pub(crate) fn text<'a>(s: &'a str, what: &'static str) -> Result<&'a str, StoreError> {
    if s.contains('\0') {
        return Err(StoreError::Backend {
            context: what,
            source: "the value contains a NUL character, which PostgreSQL text cannot hold".into(),
        });
    }
    Ok(s)
}
