use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::time::SystemTime;

use coffer_core::{AccountId, KeyId};
use coffer_grants::Grant;
use coffer_keys::{KeyRecord, WrappedVersion};
use parking_lot::{Mutex, MutexGuard};

use crate::{AliasRecord, CustomKeyStoreRecord, Store, StoreError, Txn};

#[derive(Default)]
struct State {
    keys: BTreeMap<KeyId, KeyRecord>,
    versions: HashMap<KeyId, Vec<WrappedVersion>>,
    aliases: BTreeMap<(AccountId, String), AliasRecord>,
    /// `aliases` by target: a key's aliases without a scan of its account's.
    aliases_by_target: HashMap<KeyId, BTreeSet<(AccountId, String)>>,
    grants: BTreeMap<(KeyId, String), Grant>,
    custom_key_stores: BTreeMap<String, CustomKeyStoreRecord>,
}

impl State {
    /// Sets or removes an alias, keeping `aliases_by_target` in step; returns the old one.
    fn put_alias(&mut self, k: (AccountId, String), a: Option<AliasRecord>) -> Option<AliasRecord> {
        let old = match a {
            Some(a) => {
                self.aliases_by_target
                    .entry(a.target)
                    .or_default()
                    .insert(k.clone());
                self.aliases.insert(k.clone(), a)
            }
            None => self.aliases.remove(&k),
        };
        if let Some(o) = &old {
            let now = self.aliases.get(&k).map(|a| a.target);
            if now != Some(o.target) {
                if let Some(names) = self.aliases_by_target.get_mut(&o.target) {
                    names.remove(&k);
                    if names.is_empty() {
                        self.aliases_by_target.remove(&o.target);
                    }
                }
            }
        }
        old
    }
}

/// A store in process memory: the test double, and the default when nothing needs to outlive the
/// process. Transactions are serialized by one lock and undone from a log on rollback.
#[derive(Default)]
pub struct MemoryStore(Mutex<State>);

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl Store for MemoryStore {
    fn begin(&self) -> Result<Box<dyn Txn + '_>, StoreError> {
        Ok(Box::new(MemoryTxn {
            state: self.0.lock(),
            undo: Vec::new(),
        }))
    }
}

enum Undo {
    Key(KeyId, Option<KeyRecord>),
    Versions(KeyId, Option<Vec<WrappedVersion>>),
    Alias((AccountId, String), Option<AliasRecord>),
    Grant((KeyId, String), Option<Grant>),
    CustomKeyStore(String, Option<CustomKeyStoreRecord>),
}

struct MemoryTxn<'a> {
    state: MutexGuard<'a, State>,
    undo: Vec<Undo>,
}

impl MemoryTxn<'_> {
    fn set_key(&mut self, id: KeyId, rec: Option<KeyRecord>) {
        let old = match rec {
            Some(r) => self.state.keys.insert(id, r),
            None => self.state.keys.remove(&id),
        };
        self.undo.push(Undo::Key(id, old));
    }

    fn set_versions(&mut self, id: KeyId, v: Option<Vec<WrappedVersion>>) {
        let old = match v {
            Some(v) => self.state.versions.insert(id, v),
            None => self.state.versions.remove(&id),
        };
        self.undo.push(Undo::Versions(id, old));
    }

    fn set_grant(&mut self, k: (KeyId, String), g: Option<Grant>) {
        let old = match g {
            Some(g) => self.state.grants.insert(k.clone(), g),
            None => self.state.grants.remove(&k),
        };
        self.undo.push(Undo::Grant(k, old));
    }

    fn set_custom_key_store(&mut self, id: String, r: Option<CustomKeyStoreRecord>) {
        let old = match r {
            Some(r) => self.state.custom_key_stores.insert(id.clone(), r),
            None => self.state.custom_key_stores.remove(&id),
        };
        self.undo.push(Undo::CustomKeyStore(id, old));
    }

    fn set_alias(&mut self, k: (AccountId, String), a: Option<AliasRecord>) {
        let old = self.state.put_alias(k.clone(), a);
        self.undo.push(Undo::Alias(k, old));
    }
}

impl Drop for MemoryTxn<'_> {
    fn drop(&mut self) {
        while let Some(u) = self.undo.pop() {
            match u {
                Undo::Key(id, Some(r)) => {
                    self.state.keys.insert(id, r);
                }
                Undo::Key(id, None) => {
                    self.state.keys.remove(&id);
                }
                Undo::Versions(id, Some(v)) => {
                    self.state.versions.insert(id, v);
                }
                Undo::Versions(id, None) => {
                    self.state.versions.remove(&id);
                }
                Undo::Alias(k, a) => {
                    self.state.put_alias(k, a);
                }
                Undo::Grant(k, Some(g)) => {
                    self.state.grants.insert(k, g);
                }
                Undo::Grant(k, None) => {
                    self.state.grants.remove(&k);
                }
                Undo::CustomKeyStore(id, Some(r)) => {
                    self.state.custom_key_stores.insert(id, r);
                }
                Undo::CustomKeyStore(id, None) => {
                    self.state.custom_key_stores.remove(&id);
                }
            }
        }
    }
}

impl Txn for MemoryTxn<'_> {
    fn custom_key_stores(
        &mut self,
        account: Option<&AccountId>,
    ) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
        Ok(self
            .state
            .custom_key_stores
            .values()
            .filter(|r| account.is_none_or(|a| r.account == *a))
            .cloned()
            .collect())
    }

    fn insert_custom_key_store(&mut self, rec: &CustomKeyStoreRecord) -> Result<(), StoreError> {
        if self.state.custom_key_stores.contains_key(&rec.id) {
            return Err(StoreError::AlreadyExists {
                what: "custom key store",
            });
        }
        self.set_custom_key_store(rec.id.clone(), Some(rec.clone()));
        Ok(())
    }

    fn update_custom_key_store(&mut self, rec: &CustomKeyStoreRecord) -> Result<(), StoreError> {
        if !self.state.custom_key_stores.contains_key(&rec.id) {
            return Err(StoreError::NotFound {
                what: "custom key store",
            });
        }
        self.set_custom_key_store(rec.id.clone(), Some(rec.clone()));
        Ok(())
    }

    fn delete_custom_key_store(&mut self, id: &str) -> Result<(), StoreError> {
        if !self.state.custom_key_stores.contains_key(id) {
            return Err(StoreError::NotFound {
                what: "custom key store",
            });
        }
        self.set_custom_key_store(id.to_owned(), None);
        Ok(())
    }

    fn key(&mut self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.state.keys.get(id).cloned())
    }

    fn insert_key(&mut self, rec: &KeyRecord, first: &WrappedVersion) -> Result<(), StoreError> {
        if self.state.keys.contains_key(&rec.key_id) {
            return Err(StoreError::AlreadyExists { what: "key" });
        }
        self.set_key(rec.key_id, Some(rec.clone()));
        self.set_versions(rec.key_id, Some(vec![first.clone()]));
        Ok(())
    }

    fn insert_pending_key(&mut self, rec: &KeyRecord) -> Result<(), StoreError> {
        if self.state.keys.contains_key(&rec.key_id) {
            return Err(StoreError::AlreadyExists { what: "key" });
        }
        self.set_key(rec.key_id, Some(rec.clone()));
        self.set_versions(rec.key_id, Some(Vec::new()));
        Ok(())
    }

    fn delete_versions(&mut self, id: &KeyId) -> Result<(), StoreError> {
        if !self.state.keys.contains_key(id) {
            return Err(StoreError::NotFound { what: "key" });
        }
        self.set_versions(*id, Some(Vec::new()));
        Ok(())
    }

    fn update_key(&mut self, rec: &KeyRecord) -> Result<(), StoreError> {
        if !self.state.keys.contains_key(&rec.key_id) {
            return Err(StoreError::NotFound { what: "key" });
        }
        self.set_key(rec.key_id, Some(rec.clone()));
        Ok(())
    }

    fn delete_key(&mut self, id: &KeyId) -> Result<(), StoreError> {
        if !self.state.keys.contains_key(id) {
            return Err(StoreError::NotFound { what: "key" });
        }
        self.set_key(*id, None);
        self.set_versions(*id, None);
        let doomed: Vec<_> = self
            .state
            .aliases_by_target
            .get(id)
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default();
        for k in doomed {
            self.set_alias(k, None);
        }
        let grants: Vec<_> = self
            .state
            .grants
            .range((*id, String::new())..)
            .take_while(|((k, _), _)| k == id)
            .map(|(k, _)| k.clone())
            .collect();
        for k in grants {
            self.set_grant(k, None);
        }
        Ok(())
    }

    fn list_keys(
        &mut self,
        account: &AccountId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .state
            .keys
            .range((lower, Bound::Unbounded))
            .map(|(_, r)| r)
            .filter(|r| r.account == *account)
            .take(limit)
            .cloned()
            .collect())
    }

    fn keys_due(&mut self, now: SystemTime, limit: usize) -> Result<Vec<KeyId>, StoreError> {
        Ok(self
            .state
            .keys
            .values()
            .filter(|r| r.due_at().is_some_and(|d| d <= now))
            .take(limit)
            .map(|r| r.key_id)
            .collect())
    }

    fn versions(&mut self, id: &KeyId) -> Result<Vec<WrappedVersion>, StoreError> {
        Ok(self.state.versions.get(id).cloned().unwrap_or_default())
    }

    fn add_version(&mut self, id: &KeyId, v: &WrappedVersion) -> Result<(), StoreError> {
        let mut list = self
            .state
            .versions
            .get(id)
            .cloned()
            .ok_or(StoreError::NotFound { what: "key" })?;
        if list.iter().any(|x| x.id == v.id) {
            return Err(StoreError::AlreadyExists {
                what: "key version",
            });
        }
        list.push(v.clone());
        self.set_versions(*id, Some(list));
        Ok(())
    }

    fn alias(
        &mut self,
        account: &AccountId,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        Ok(self
            .state
            .aliases
            .get(&(*account, name.to_owned()))
            .cloned())
    }

    fn insert_alias(&mut self, rec: &AliasRecord) -> Result<(), StoreError> {
        let k = (rec.account, rec.name.clone());
        if self.state.aliases.contains_key(&k) {
            return Err(StoreError::AlreadyExists { what: "alias" });
        }
        self.set_alias(k, Some(rec.clone()));
        Ok(())
    }

    fn update_alias(&mut self, rec: &AliasRecord) -> Result<(), StoreError> {
        let k = (rec.account, rec.name.clone());
        if !self.state.aliases.contains_key(&k) {
            return Err(StoreError::NotFound { what: "alias" });
        }
        self.set_alias(k, Some(rec.clone()));
        Ok(())
    }

    fn delete_alias(&mut self, account: &AccountId, name: &str) -> Result<(), StoreError> {
        let k = (*account, name.to_owned());
        if !self.state.aliases.contains_key(&k) {
            return Err(StoreError::NotFound { what: "alias" });
        }
        self.set_alias(k, None);
        Ok(())
    }

    fn list_aliases(
        &mut self,
        account: &AccountId,
        key: Option<&KeyId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let start = (*account, after.unwrap_or("").to_owned());
        let lower = if after.is_some() {
            Bound::Excluded(start)
        } else {
            Bound::Included(start)
        };
        let state = &*self.state;
        if let Some(k) = key {
            // A key's aliases from the index, not a scan of the account's.
            let Some(names) = state.aliases_by_target.get(k) else {
                return Ok(Vec::new());
            };
            return Ok(names
                .range((lower, Bound::Unbounded))
                .take_while(|(acct, _)| acct == account)
                .filter_map(|n| state.aliases.get(n))
                .take(limit)
                .cloned()
                .collect());
        }
        Ok(state
            .aliases
            .range((lower, Bound::Unbounded))
            .take_while(|((acct, _), _)| acct == account)
            .map(|(_, a)| a)
            .take(limit)
            .cloned()
            .collect())
    }

    fn grants(&mut self, key: &KeyId) -> Result<Vec<Grant>, StoreError> {
        Ok(self
            .state
            .grants
            .range((*key, String::new())..)
            .take_while(|((k, _), _)| k == key)
            .map(|(_, g)| g.clone())
            .collect())
    }

    fn grant(&mut self, key: &KeyId, grant_id: &str) -> Result<Option<Grant>, StoreError> {
        Ok(self.state.grants.get(&(*key, grant_id.to_owned())).cloned())
    }

    fn insert_grant(&mut self, grant: &Grant) -> Result<(), StoreError> {
        if !self.state.keys.contains_key(&grant.key_id) {
            return Err(StoreError::NotFound { what: "key" });
        }
        let k = (grant.key_id, grant.grant_id.clone());
        if self.state.grants.contains_key(&k) {
            return Err(StoreError::AlreadyExists { what: "grant" });
        }
        self.set_grant(k, Some(grant.clone()));
        Ok(())
    }

    fn delete_grant(&mut self, key: &KeyId, grant_id: &str) -> Result<(), StoreError> {
        let k = (*key, grant_id.to_owned());
        if !self.state.grants.contains_key(&k) {
            return Err(StoreError::NotFound { what: "grant" });
        }
        self.set_grant(k, None);
        Ok(())
    }

    fn grants_retirable_by(
        &mut self,
        account: &AccountId,
        principal: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Grant>, StoreError> {
        let mut found: Vec<Grant> = self
            .state
            .grants
            .values()
            .filter(|g| {
                g.account == *account
                    && g.retiring_principal.as_deref() == Some(principal)
                    && after.is_none_or(|a| g.grant_id.as_str() > a)
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
        found.truncate(limit);
        Ok(found)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.undo.clear();
        Ok(())
    }
}
