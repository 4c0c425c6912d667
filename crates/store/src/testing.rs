//! Test wrappers: a store that counts the transactions begun through it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{Store, StoreError, Txn};

/// Wraps a store and counts every transaction begun (every read or write reaches the store
/// through one).
#[derive(Debug)]
pub struct CountingStore<S> {
    inner: S,
    begun: Arc<AtomicU64>,
}

impl<S: Store> CountingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            begun: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A handle to the counter, which stays valid after the store moves into the facade.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.begun.clone()
    }
}

impl<S: Store> Store for CountingStore<S> {
    fn begin(&self) -> Result<Box<dyn Txn + '_>, StoreError> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        self.inner.begin()
    }
}
