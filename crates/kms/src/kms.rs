//! The `Kms` facade: construction, the key cache and key resolution (admission, which charges
//! and authorizes, is `admission.rs`).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use coffer_core::{AccountId, Clock, KeyId, KeyRef, Region, SystemClock};
use coffer_crypto::{RandomSource, SymmetricKey, SystemRandom};
use coffer_keys::{KeyMaterial, KeyRecord, LocalRootKey, MaterialKind, RootKey};
use coffer_policy::Policy;
use coffer_quota::{QuotaConfig, Quotas};
use coffer_store::{MemoryStore, Store};
use parking_lot::RwLock;

use crate::builder::BuildError;
use crate::marker::Markers;
use crate::{Caller, Error, Operation};

/// A key management service with AWS KMS semantics.
///
/// `Send + Sync`: build one with [`Kms::builder`] and share it by `Arc`. Every operation takes
/// the [`Caller`] it runs for; keys belong to the account that created them.
pub struct Kms {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) root: Arc<dyn RootKey>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Arc<dyn RandomSource>,
    pub(crate) region: Region,
    pub(crate) cache: KeyCache,
    pub(crate) markers: Markers,
    pub(crate) quotas: Quotas,
    pub(crate) grant_tokens: coffer_grants::GrantTokens,
    pub(crate) authorization: bool,
    pub(crate) audit: Option<Arc<dyn coffer_audit::AuditSink>>,
    pub(crate) event_ids: crate::audit::EventIds,
    pub(crate) last_usage: crate::last_usage::LastUsage,
    /// How multi-Region keys reach their replica regions.
    pub(crate) replication: crate::multi_region_replicate::Replication,
    /// The configured tokens and the custom key stores' connections.
    pub(crate) cks: crate::custom_key_store::Runtime,
}

impl fmt::Debug for Kms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kms")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Kms`]. Everything has a default: an in-memory store, an ephemeral root key, the
/// system clock and random source, region `us-east-1`.
#[derive(Default)]
pub struct KmsBuilder {
    store: Option<Arc<dyn Store>>,
    root: Option<Arc<dyn RootKey>>,
    clock: Option<Arc<dyn Clock>>,
    rng: Option<Arc<dyn RandomSource>>,
    region: Option<String>,
    marker_key: Option<SymmetricKey>,
    quotas: Option<QuotaConfig>,
    skip_authorization: bool,
    audit: Option<Arc<dyn coffer_audit::AuditSink>>,
    hsm_clusters: Option<Arc<dyn coffer_keys::HsmClusters>>,
}

impl fmt::Debug for KmsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsBuilder")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl KmsBuilder {
    /// The store that keeps keys and aliases.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The root key that wraps backing keys before they reach the store.
    pub fn root_key(mut self, root: Arc<dyn RootKey>) -> Self {
        self.root = Some(root);
        self
    }

    /// The clock (dates, deletion windows, rotation schedules).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The random source (keys, salts, nonces, ids).
    pub fn random(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.rng = Some(rng);
        self
    }

    /// The region named in ARNs.
    pub fn region(mut self, region: &str) -> Self {
        self.region = Some(region.to_owned());
        self
    }

    /// The key that authenticates pagination markers. Nodes that share a store should share it;
    /// by default each `Kms` draws its own, so markers stay valid for the life of the process.
    pub fn marker_key(mut self, key: SymmetricKey) -> Self {
        self.marker_key = Some(key);
        self
    }

    /// Request quotas per account (AWS KMS's classes and default rates unless configured).
    pub fn quotas(mut self, config: QuotaConfig) -> Self {
        self.quotas = Some(config);
        self
    }

    /// Turns authorization off: every caller may do everything. Only for measuring what
    /// authorization costs (the `authz` bench); never for a service.
    #[cfg(feature = "testing")]
    pub fn danger_skip_authorization(mut self) -> Self {
        self.skip_authorization = true;
        self
    }

    /// Where every call's audit event goes (none by default: an embedder opts in; a data
    /// directory opened with [`crate::DataDir`] records to its tamper-evident log). With a sink,
    /// a call whose event cannot be recorded fails with KMSInternalException (unless the sink
    /// is configured to fail open), and a change is never committed without its record.
    pub fn audit_sink(mut self, sink: Arc<dyn coffer_audit::AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// The PKCS#11 tokens the operator configured, which custom key stores name as their
    /// `CloudHsmClusterId`. Without them, CreateCustomKeyStore answers
    /// CloudHsmClusterNotFoundException. Stores that were connected when the service last
    /// stopped are connected again by [`build`](Self::build).
    pub fn hsm_clusters(mut self, clusters: Arc<dyn coffer_keys::HsmClusters>) -> Self {
        self.hsm_clusters = Some(clusters);
        self
    }

    /// Builds the service. A region or quota configuration that is invalid is a
    /// [`BuildError`] of its own variant (and through `?` a `ValidationException`).
    pub fn build(self) -> Result<Kms, BuildError> {
        let region_name = self.region.as_deref().unwrap_or("us-east-1");
        let region = Region::parse(region_name).map_err(|_| BuildError::InvalidRegion {
            region: region_name.to_owned(),
        })?;
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let quotas = Quotas::new(&self.quotas.unwrap_or_default(), clock.clone())
            .map_err(BuildError::Quotas)?;
        let rng: Arc<dyn RandomSource> = self.rng.unwrap_or_else(|| Arc::new(SystemRandom::new()));
        let root: Arc<dyn RootKey> = match self.root {
            Some(r) => r,
            None => Arc::new(LocalRootKey::ephemeral(rng.clone()).map_err(BuildError::RootKey)?),
        };
        let marker_key = match self.marker_key {
            Some(k) => k,
            None => SymmetricKey::generate(rng.as_ref()).map_err(BuildError::ServiceKeys)?,
        };
        let token_key = coffer_crypto::hkdf_sha256(&marker_key, b"", &[b"coffer grant tokens v1"])
            .map_err(BuildError::ServiceKeys)?;
        let kms = Kms {
            grant_tokens: coffer_grants::GrantTokens::new(token_key),
            authorization: !self.skip_authorization,
            audit: self.audit,
            event_ids: crate::audit::EventIds::new(rng.clone()),
            last_usage: crate::last_usage::LastUsage::new(clock.now()),
            markers: Markers::new(marker_key),
            quotas,
            store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
            root,
            clock,
            rng,
            region,
            cache: KeyCache::default(),
            replication: Default::default(),
            cks: crate::custom_key_store::Runtime::new(self.hsm_clusters),
        };
        kms.reconnect_custom_key_stores()
            .map_err(|e| BuildError::CustomKeyStores(Box::new(e)))?;
        Ok(kms)
    }
}

/// A key as the facade holds it: its record and unwrapped material.
pub(crate) struct CachedKey {
    pub(crate) record: KeyRecord,
    pub(crate) material: KeyMaterial,
    /// The key's ARN, built once: every answer about the key shares it.
    pub(crate) arn: crate::KeyArn,
    /// The current backing-key version's id, written once: a Decrypt under it shares it.
    pub(crate) current_material_id: crate::KeyMaterialId,
    /// The key policy, parsed once.
    pub(crate) policy: Policy,
    /// The key's tags as a map, for `aws:ResourceTag/<key>`.
    pub(crate) tags: std::collections::BTreeMap<String, String>,
    /// The key's grants by grantee principal.
    pub(crate) grants: HashMap<String, Vec<coffer_grants::Grant>>,
    /// The names of the aliases that point at the key, for `kms:ResourceAliases`.
    pub(crate) aliases: Vec<String>,
    /// A key in a custom key store: its store and key objects (its `material` is empty).
    pub(crate) token: Option<crate::custom_key_store::TokenKey>,
    /// Allows already decided on this entry (`None` when the key policy has a condition: then
    /// every call is decided afresh). It lives and dies with the entry: any change to the key
    /// (policy, tags, aliases, grants, state, a reload) replaces the entry and so forgets it.
    pub(crate) memo: Option<crate::authz::AllowMemo>,
    /// The key's last use (GetKeyLastUsage), shared with every later entry of the key.
    pub(crate) last_use: Arc<crate::last_usage::LastUseCell>,
}

/// Unwrapped keys and alias targets, in memory. Every mutation invalidates what it touched after
/// it commits; loads that raced with an invalidation are not cached (the epoch check).
pub(crate) struct KeyCache {
    /// This cache among every `Kms`'s, for each thread's recent keys (`recent.rs`).
    id: u64,
    epoch: AtomicU64,
    keys: RwLock<HashMap<KeyId, Arc<CachedKey>, coffer_core::KeyIdHash>>,
    /// Alias targets by account, then alias name (looked up by `&str`, no allocation).
    aliases: RwLock<HashMap<AccountId, HashMap<Box<str>, KeyId>>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            id: crate::recent::cache_id(),
            epoch: AtomicU64::new(0),
            keys: RwLock::default(),
            aliases: RwLock::default(),
        }
    }
}

impl KeyCache {
    pub(crate) fn invalidate_key(&self, id: &KeyId) {
        let mut keys = self.keys.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        keys.remove(id);
        drop(keys);
        // Aliases pointing at a deleted key vanish with it; cheap to forget them all.
        let mut aliases = self.aliases.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for names in aliases.values_mut() {
            names.retain(|_, k| k != id);
        }
        aliases.retain(|_, names| !names.is_empty());
    }

    pub(crate) fn invalidate_all(&self) {
        let mut keys = self.keys.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        keys.clear();
        drop(keys);
        let mut aliases = self.aliases.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        aliases.clear();
    }

    pub(crate) fn invalidate_alias(&self, account: &AccountId, name: &str) {
        let mut aliases = self.aliases.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(names) = aliases.get_mut(account) {
            names.remove(name);
            if names.is_empty() {
                aliases.remove(account);
            }
        }
    }
}

/// Largest accepted key identifier, as in the service model.
const MAX_KEY_ID_LEN: usize = 2048;

impl Kms {
    /// A builder with every default set.
    pub fn builder() -> KmsBuilder {
        KmsBuilder::default()
    }

    /// The region this service runs in.
    pub fn region(&self) -> &Region {
        &self.region
    }

    pub(crate) fn key_arn(&self, account: &AccountId, id: &KeyId) -> String {
        format!("arn:aws:kms:{}:{}:key/{}", self.region, account, id)
    }

    pub(crate) fn alias_arn(&self, account: &AccountId, name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{}", self.region, account, name)
    }

    /// The cached key, loading and unwrapping it from the store on a miss.
    pub(crate) fn load(&self, id: &KeyId) -> Result<Option<Arc<CachedKey>>, Error> {
        // The epoch before the lookup: an entry fetched under it is fresh while it holds.
        let epoch = self.cache.epoch.load(Ordering::Acquire);
        if let Some(k) = crate::recent::get(self.cache.id, epoch, id) {
            return Ok(Some(k));
        }
        if let Some(k) = self.cache.keys.read().get(id) {
            crate::recent::put(self.cache.id, epoch, id, k);
            return Ok(Some(k.clone()));
        }
        let (record, versions, grant_list, alias_list) = {
            let mut txn = self.store.begin()?;
            let Some(record) = txn.key(id)? else {
                return Ok(None);
            };
            let versions = txn.versions(id)?;
            let grants = txn.grants(id)?;
            let aliases = txn.list_aliases(
                &record.account,
                Some(id),
                None,
                crate::alias_ops::MAX_ALIASES_PER_KEY,
            )?;
            (record, versions, grants, aliases)
        };
        let kind = MaterialKind::of(record.key_spec, record.key_usage)
            .ok_or_else(|| Error::internal(format!("key {id} has a spec coffer cannot load")))?;
        // A key in a custom key store has its material in the token: only its objects' ids.
        let token = match &record.custom_key_store_id {
            Some(store) => Some(crate::custom_key_store::TokenKey::new(
                store.clone(),
                &versions,
                record.current_version,
            )?),
            None => None,
        };
        // A key pending import has no material: every use of it is refused by its state.
        let material = if versions.is_empty() || token.is_some() {
            KeyMaterial::empty(*id)
        } else {
            KeyMaterial::unwrap_all(*id, kind, &versions, record.current_version, &*self.root)
                .map_err(Error::internal)?
        };
        let policy = match &record.policy {
            Some(text) => Policy::parse_key_policy(text).map_err(Error::internal)?,
            None => coffer_policy::default_key_policy(&record.account),
        };
        let tags = record
            .tags
            .iter()
            .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
            .collect();
        let mut grants: HashMap<String, Vec<coffer_grants::Grant>> = HashMap::new();
        for g in grant_list {
            grants
                .entry(g.grantee_principal.clone())
                .or_default()
                .push(g);
        }
        let memo = policy
            .is_condition_free()
            .then(crate::authz::AllowMemo::default);
        let cached = Arc::new(CachedKey {
            memo,
            arn: record.arn().into(),
            current_material_id: record.current_version.to_hex().into(),
            record,
            material,
            policy,
            tags,
            grants,
            aliases: alias_list.into_iter().map(|a| a.name).collect(),
            token,
            last_use: self.last_usage.cell(id),
        });
        let mut keys = self.cache.keys.write();
        if self.cache.epoch.load(Ordering::Acquire) == epoch {
            keys.insert(*id, cached.clone());
        }
        Ok(Some(cached))
    }

    fn alias_target(&self, account: &AccountId, name: &str) -> Result<Option<KeyId>, Error> {
        // The epoch before the lookup: an answer found under it is fresh while it holds.
        let epoch = self.cache.epoch.load(Ordering::Acquire);
        if let Some(id) = crate::recent::alias_get(self.cache.id, epoch, account, name) {
            return Ok(Some(id));
        }
        if let Some(id) = self
            .cache
            .aliases
            .read()
            .get(account)
            .and_then(|names| names.get(name))
        {
            crate::recent::alias_put(self.cache.id, epoch, account, name, *id);
            return Ok(Some(*id));
        }
        let found = self.store.begin()?.alias(account, name)?;
        let Some(rec) = found else { return Ok(None) };
        let mut aliases = self.cache.aliases.write();
        if self.cache.epoch.load(Ordering::Acquire) == epoch {
            aliases
                .entry(*account)
                .or_default()
                .insert(name.into(), rec.target);
            crate::recent::alias_put(self.cache.id, epoch, account, name, rec.target);
        }
        Ok(Some(rec.target))
    }

    /// Resolves a key identifier to the key's account and id; alias names and alias ARNs only
    /// where `op` accepts them ([`Operation::key_references`]).
    pub(crate) fn resolve_id(
        &self,
        caller: &Caller,
        key_id: &str,
        op: Operation,
    ) -> Result<(AccountId, KeyId), Error> {
        if key_id.is_empty() || key_id.len() > MAX_KEY_ID_LEN {
            return Err(Error::validation(format!(
                "1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length between 1 and {MAX_KEY_ID_LEN}"
            )));
        }
        let invalid = || Error::not_found(format!("Invalid keyId '{key_id}'"));
        let ident = KeyRef::parse(key_id).map_err(|_| invalid())?;
        if ident.is_alias() && !op.key_references().accepts_aliases() {
            return Err(invalid());
        }
        let wrong_region = |region: &str| region != self.region.as_str();
        let (account, id) = match ident {
            KeyRef::KeyId(id) => (caller.account, id),
            KeyRef::KeyArn {
                region,
                account,
                key_id: id,
            } => {
                if wrong_region(region) {
                    return Err(self.key_not_found(&account, &id));
                }
                (account, id)
            }
            KeyRef::AliasName(name) => {
                let id = match self.alias_target(&caller.account, name)? {
                    Some(id) => id,
                    // An AWS managed key comes to life on its first use through its service.
                    None => self
                        .managed_key_on_first_use(caller, name, op)?
                        .ok_or_else(|| self.alias_not_found(&caller.account, name))?,
                };
                (caller.account, id)
            }
            KeyRef::AliasArn {
                region,
                account,
                alias,
            } => {
                if wrong_region(region) {
                    return Err(Error::not_found(format!("Alias {key_id} is not found.")));
                }
                let id = self
                    .alias_target(&account, alias)?
                    .ok_or_else(|| self.alias_not_found(&account, alias))?;
                (account, id)
            }
        };
        Ok((account, id))
    }

    pub(crate) fn key_not_found(&self, account: &AccountId, id: &KeyId) -> Error {
        Error::not_found(format!(
            "Key '{}' does not exist",
            self.key_arn(account, id)
        ))
    }

    fn alias_not_found(&self, account: &AccountId, name: &str) -> Error {
        Error::not_found(format!(
            "Alias {} is not found.",
            self.alias_arn(account, name)
        ))
    }

    /// Resolves and loads the key named by `key_id` for `op` (no quota, no authorization: the
    /// first step of admission, and ReEncrypt's early look at its destination).
    pub(crate) fn resolve_key(
        &self,
        caller: &Caller,
        key_id: &str,
        op: Operation,
    ) -> Result<Arc<CachedKey>, Error> {
        let (account, id) = self.resolve_id(caller, key_id, op)?;
        self.load_owned(&account, &id)
    }

    /// Loads a key known by account and id; `NotFoundException` if it is not that account's.
    pub(crate) fn load_owned(
        &self,
        account: &AccountId,
        id: &KeyId,
    ) -> Result<Arc<CachedKey>, Error> {
        self.load(id)?
            .filter(|k| k.record.account == *account)
            .ok_or_else(|| self.key_not_found(account, id))
    }
}
