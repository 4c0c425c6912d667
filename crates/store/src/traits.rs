use std::time::SystemTime;

use coffer_core::{AccountId, KeyId};
use coffer_grants::Grant;
use coffer_keys::{KeyRecord, WrappedVersion};

use crate::{AliasRecord, CustomKeyStoreRecord, StoreError};

/// A place where coffer keeps its state.
///
/// `begin` starts a transaction that sees a consistent state and is isolated from other
/// transactions (serializable); a dropped transaction rolls back.
pub trait Store: Send + Sync {
    /// Starts a transaction.
    fn begin(&self) -> Result<Box<dyn Txn + '_>, StoreError>;
}

/// One transaction over the store's tables.
pub trait Txn {
    /// A key's record.
    fn key(&mut self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;
    /// Inserts a new key with its first version; `AlreadyExists` if the id is taken.
    fn insert_key(&mut self, rec: &KeyRecord, first: &WrappedVersion) -> Result<(), StoreError>;
    /// Inserts a new key without material (an EXTERNAL key pending import); `AlreadyExists` if
    /// the id is taken.
    fn insert_pending_key(&mut self, rec: &KeyRecord) -> Result<(), StoreError>;
    /// Replaces an existing key's record; `NotFound` if absent.
    fn update_key(&mut self, rec: &KeyRecord) -> Result<(), StoreError>;
    /// Deletes a key, its versions, its grants and the aliases that point at it; `NotFound` if
    /// absent.
    fn delete_key(&mut self, id: &KeyId) -> Result<(), StoreError>;
    /// Keys of `account` ordered by key id, strictly after `after`, at most `limit`.
    fn list_keys(
        &mut self,
        account: &AccountId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyRecord>, StoreError>;
    /// Ids of keys whose [`KeyRecord::due_at`] is at or before `now`, at most `limit`.
    fn keys_due(&mut self, now: SystemTime, limit: usize) -> Result<Vec<KeyId>, StoreError>;

    /// A key's wrapped versions, oldest first.
    fn versions(&mut self, id: &KeyId) -> Result<Vec<WrappedVersion>, StoreError>;
    /// Deletes every version of a key (DeleteImportedKeyMaterial, expiry), leaving no copy of
    /// the wrapped material in the store's files once committed; `NotFound` if the key is
    /// absent.
    fn delete_versions(&mut self, id: &KeyId) -> Result<(), StoreError>;
    /// Adds a version to an existing key; `AlreadyExists` if that version id exists.
    fn add_version(&mut self, id: &KeyId, v: &WrappedVersion) -> Result<(), StoreError>;

    /// An alias of `account` by name.
    fn alias(&mut self, account: &AccountId, name: &str)
        -> Result<Option<AliasRecord>, StoreError>;
    /// Inserts an alias; `AlreadyExists` if the name is taken in the account.
    fn insert_alias(&mut self, rec: &AliasRecord) -> Result<(), StoreError>;
    /// Replaces an alias; `NotFound` if absent.
    fn update_alias(&mut self, rec: &AliasRecord) -> Result<(), StoreError>;
    /// Deletes an alias; `NotFound` if absent.
    fn delete_alias(&mut self, account: &AccountId, name: &str) -> Result<(), StoreError>;
    /// Aliases of `account` (only those for `key` when given) ordered by name, strictly after
    /// `after`, at most `limit`.
    fn list_aliases(
        &mut self,
        account: &AccountId,
        key: Option<&KeyId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError>;

    /// The grants on a key, ordered by grant id.
    fn grants(&mut self, key: &KeyId) -> Result<Vec<Grant>, StoreError>;
    /// One grant.
    fn grant(&mut self, key: &KeyId, grant_id: &str) -> Result<Option<Grant>, StoreError>;
    /// Inserts a grant on an existing key; `AlreadyExists` if the id is taken, `NotFound` if the
    /// key is absent.
    fn insert_grant(&mut self, grant: &Grant) -> Result<(), StoreError>;
    /// Deletes a grant; `NotFound` if absent.
    fn delete_grant(&mut self, key: &KeyId, grant_id: &str) -> Result<(), StoreError>;
    /// Grants of `account` whose retiring principal is `principal`, ordered by grant id,
    /// strictly after `after`, at most `limit`.
    fn grants_retirable_by(
        &mut self,
        account: &AccountId,
        principal: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Grant>, StoreError>;

    /// The custom key stores of `account` (of every account if `None`), ordered by id.
    fn custom_key_stores(
        &mut self,
        account: Option<&AccountId>,
    ) -> Result<Vec<CustomKeyStoreRecord>, StoreError>;
    /// Inserts a custom key store; `AlreadyExists` if the id is taken.
    fn insert_custom_key_store(&mut self, rec: &CustomKeyStoreRecord) -> Result<(), StoreError>;
    /// Replaces a custom key store; `NotFound` if absent.
    fn update_custom_key_store(&mut self, rec: &CustomKeyStoreRecord) -> Result<(), StoreError>;
    /// Deletes a custom key store; `NotFound` if absent.
    fn delete_custom_key_store(&mut self, id: &str) -> Result<(), StoreError>;

    /// Makes every change durable and visible, atomically.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}
