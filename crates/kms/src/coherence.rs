//! Cache coherence between nodes sharing a store: what another node committed, the facade's
//! cache forgets (the node's watcher calls these; see cofferd's `cluster.rs`).

use coffer_core::KeyId;

use crate::Kms;

impl Kms {
    /// Forgets the cached key `id` (its record, material, policy, grants) and every cached
    /// alias pointing at it: the next use loads it from the store.
    pub fn forget_cached_key(&self, id: &KeyId) {
        self.cache.invalidate_key(id);
    }

    /// Forgets every cached key and alias.
    pub fn forget_cache(&self) {
        self.cache.invalidate_all();
    }
}
