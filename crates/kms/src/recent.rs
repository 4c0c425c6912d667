//! Each thread's few most recently used keys and aliases, in front of the shared key cache.
//!
//! The shared cache is a map behind a reader-writer lock: a hit takes the read lock and
//! releases it (two atomic read-modify-writes, ~8 ns each uncontended on the benchmark machine,
//! and a cache line every thread writes), hashes the id and clones the entry's `Arc`. A thread
//! that uses the same key call after call finds it here instead, for one atomic (the `Weak`'s
//! upgrade) and no lock.
//!
//! Freshness: an entry is taken only while the cache's epoch is the one read before the entry
//! was fetched from the shared map. Every invalidation bumps the epoch, so a change to any key
//! (committed, then invalidated) sends every thread back to the shared map, exactly as it
//! empties the shared entry. Entries hold `Weak` references: a key dropped from the shared
//! cache (and out of every call) is freed, and its material wiped, as before; a thread's slot
//! only keeps the emptied allocation until it is reused.
//!
//! Aliases likewise: the shared alias map is a map of maps behind the same kind of lock, and a
//! thread keeps its two most recent resolutions (account and name to key id) under the same
//! epoch rule; every change of an alias bumps the epoch. A resolution only names the key: the
//! key is then loaded and admitted as any other.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use coffer_core::{AccountId, KeyId};

use crate::kms::CachedKey;

/// Slots per thread: a service uses a handful of keys at a time.
const SLOTS: usize = 4;

/// Tells caches apart (two `Kms` in one process; a cache freed and another made at its address).
static NEXT_CACHE: AtomicU64 = AtomicU64::new(1);

/// A fresh cache identity.
pub(crate) fn cache_id() -> u64 {
    NEXT_CACHE.fetch_add(1, Ordering::Relaxed)
}

/// A thread's few slots, reused in turn.
struct Ring<T, const N: usize> {
    slots: [Option<T>; N],
    next: usize,
}

impl<T, const N: usize> Ring<T, N> {
    const EMPTY: Self = Self {
        slots: [const { None }; N],
        next: 0,
    };

    /// The first filled slot that `hit` accepts.
    fn find(&self, hit: impl Fn(&T) -> bool) -> Option<&T> {
        self.slots.iter().flatten().find(|s| hit(s))
    }

    /// The slot of the entry `same` accepts, or else the next slot in turn.
    fn place(&mut self, same: impl Fn(&T) -> bool) -> Option<&mut Option<T>> {
        let at = match self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(&same))
        {
            Some(i) => i,
            None => {
                let i = self.next;
                self.next = (i + 1) % N;
                i
            }
        };
        self.slots.get_mut(at)
    }
}

struct Slot {
    cache: u64,
    epoch: u64,
    id: KeyId,
    key: Weak<CachedKey>,
}

/// Alias slots per thread: a service names one or two keys by alias.
const ALIAS_SLOTS: usize = 2;

/// An alias this thread resolved: the alias map of cache `cache` held `name` of `account` at
/// `target` at `epoch`.
struct AliasSlot {
    cache: u64,
    epoch: u64,
    account: AccountId,
    /// Kept across reuses of the slot, so that a thread resolving the same few aliases does not
    /// allocate.
    name: String,
    target: KeyId,
}

thread_local! {
    static RECENT: RefCell<Ring<Slot, SLOTS>> = const { RefCell::new(Ring::EMPTY) };
    static ALIASES: RefCell<Ring<AliasSlot, ALIAS_SLOTS>> = const { RefCell::new(Ring::EMPTY) };
}

/// The key `id` of cache `cache`, if this thread fetched it at `epoch` (the cache's epoch now)
/// and it is still alive.
pub(crate) fn get(cache: u64, epoch: u64, id: &KeyId) -> Option<Arc<CachedKey>> {
    RECENT
        .try_with(|r| {
            r.try_borrow()
                .ok()?
                .find(|s| s.id == *id && s.cache == cache && s.epoch == epoch)
                .and_then(|s| s.key.upgrade())
        })
        .ok()
        .flatten()
}

/// Remembers `key`, fetched from cache `cache` at `epoch` (read before the fetch), in this
/// thread's slot of the same key or the next slot in turn.
pub(crate) fn put(cache: u64, epoch: u64, id: &KeyId, key: &Arc<CachedKey>) {
    let _ = RECENT.try_with(|r| {
        let Ok(mut r) = r.try_borrow_mut() else {
            return;
        };
        if let Some(slot) = r.place(|s| s.id == *id && s.cache == cache) {
            *slot = Some(Slot {
                cache,
                epoch,
                id: *id,
                key: Arc::downgrade(key),
            });
        }
    });
}

/// The key alias `name` of `account` named in cache `cache`, if this thread resolved it at
/// `epoch` (the cache's epoch now). Every change of an alias bumps the epoch, as a key's
/// change does, so the answer is the shared alias map's.
pub(crate) fn alias_get(cache: u64, epoch: u64, account: &AccountId, name: &str) -> Option<KeyId> {
    ALIASES
        .try_with(|r| {
            r.try_borrow()
                .ok()?
                .find(|s| {
                    s.epoch == epoch && s.cache == cache && s.account == *account && s.name == name
                })
                .map(|s| s.target)
        })
        .ok()
        .flatten()
}

/// Remembers that alias `name` of `account` named `target` in cache `cache` at `epoch` (read
/// before the lookup), in the slot of the same alias or the next in turn.
pub(crate) fn alias_put(cache: u64, epoch: u64, account: &AccountId, name: &str, target: KeyId) {
    let _ = ALIASES.try_with(|r| {
        let Ok(mut r) = r.try_borrow_mut() else {
            return;
        };
        let Some(slot) = r.place(|s| s.cache == cache && s.account == *account && s.name == name)
        else {
            return;
        };
        let mut kept = slot.take().map(|s| s.name).unwrap_or_default();
        kept.clear();
        kept.push_str(name);
        *slot = Some(AliasSlot {
            cache,
            epoch,
            account: *account,
            name: kept,
            target,
        });
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::CreateKeyRequest;
    use crate::{Caller, Kms};

    /// A service with `n` keys of account 111122223333 (its root made them), and their ids.
    pub(crate) fn kms_with_keys(n: usize) -> (Kms, Vec<KeyId>) {
        let kms = Kms::builder().build().unwrap();
        let root = Caller::new("arn:aws:iam::111122223333:root").unwrap();
        let ids = (0..n)
            .map(|_| {
                let id = kms
                    .create_key(&root, CreateKeyRequest::default())
                    .unwrap()
                    .key_metadata
                    .key_id;
                KeyId::parse(&id).unwrap()
            })
            .collect();
        (kms, ids)
    }

    #[test]
    fn a_slot_serves_only_its_cache_key_and_epoch_and_never_keeps_a_key_alive() {
        let (kms, ids) = kms_with_keys(2);
        let key = kms.load(&ids[0]).unwrap().unwrap();
        put(7, 1, &ids[0], &key);
        assert!(get(7, 1, &ids[0]).is_some_and(|k| Arc::ptr_eq(&k, &key)));
        // Any invalidation since (the epoch moved), another cache, another key: not served,
        // even while the key is alive.
        assert!(get(7, 2, &ids[0]).is_none());
        assert!(get(8, 1, &ids[0]).is_none());
        assert!(get(7, 1, &ids[1]).is_none());
        // Once the shared cache and every caller let the key go, the slot has nothing.
        kms.forget_cache();
        drop(key);
        assert!(get(7, 1, &ids[0]).is_none());
    }

    #[test]
    fn an_alias_slot_serves_only_its_cache_epoch_account_and_name() {
        let a = AccountId::parse("111122223333").unwrap();
        let b = AccountId::parse("444455556666").unwrap();
        let (_, ids) = kms_with_keys(2);
        alias_put(7, 1, &a, "alias/app", ids[0]);
        assert_eq!(alias_get(7, 1, &a, "alias/app"), Some(ids[0]));
        // Another epoch (any change since), cache, account or name: not served.
        assert_eq!(alias_get(7, 2, &a, "alias/app"), None);
        assert_eq!(alias_get(8, 1, &a, "alias/app"), None);
        assert_eq!(alias_get(7, 1, &b, "alias/app"), None);
        assert_eq!(alias_get(7, 1, &a, "alias/ap"), None);
        assert_eq!(alias_get(7, 1, &a, "alias/app2"), None);
        // The same alias put again takes its own slot back, with its new target and epoch.
        alias_put(7, 1, &a, "alias/other", ids[1]);
        alias_put(7, 3, &a, "alias/app", ids[1]);
        assert_eq!(alias_get(7, 3, &a, "alias/app"), Some(ids[1]));
        assert_eq!(alias_get(7, 1, &a, "alias/other"), Some(ids[1]));
        // A third alias takes the next slot in turn: the first one's, kept by alias/app.
        alias_put(7, 3, &b, "alias/app", ids[0]);
        assert_eq!(alias_get(7, 3, &a, "alias/app"), None);
        assert_eq!(alias_get(7, 1, &a, "alias/other"), Some(ids[1]));
        assert_eq!(alias_get(7, 3, &b, "alias/app"), Some(ids[0]));
        // Another thread has slots of its own.
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(alias_get(7, 3, &b, "alias/app"), None));
        });
    }

    #[test]
    fn a_thread_keeps_its_last_few_keys() {
        let (kms, ids) = kms_with_keys(SLOTS + 1);
        let keys: Vec<_> = ids
            .iter()
            .map(|id| kms.load(id).unwrap().unwrap())
            .collect();
        for (id, key) in ids.iter().zip(&keys) {
            put(9, 1, id, key);
        }
        // The first was the oldest: its slot went to the last.
        assert!(get(9, 1, &ids[0]).is_none());
        for id in &ids[1..] {
            assert!(get(9, 1, id).is_some());
        }
        // A key put again takes its own slot back, not another's.
        put(9, 1, &ids[1], &keys[1]);
        for id in &ids[1..] {
            assert!(get(9, 1, id).is_some());
        }
        // Another thread has slots of its own.
        std::thread::scope(|s| {
            s.spawn(|| assert!(get(9, 1, &ids[1]).is_none()));
        });
    }
}
