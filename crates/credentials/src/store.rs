//! The credential model and its sealed set: formats 3 (current), 2 and 1 (migrated on open),
//! the bootstrap administrator file, and the changes (create, rotate, revoke, retire).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use coffer::{Caller, Policy};
use coffer_core::{AccountId, PrincipalArn, PrincipalKind};
use coffer_crypto::{RandomSource, SecretBytes, SymmetricKey, SystemRandom};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::file::{check_private, read_secret_file, wipe_and_remove, write_private};
use crate::{seal, CredentialBackend, Error, FileBackend};

/// The credential store's file name in the data dir.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// The bootstrap administrator credential's file name in the data dir.
pub const ADMIN_CREDENTIALS_FILE: &str = "admin-credentials.json";

/// The purpose name of the data dir's sealing key that wraps credential secrets.
pub const SEALING_PURPOSE: &str = "cofferd.credentials";

/// The current credential file format: sealed secrets, credential management authorized by
/// identity policies.
const FORMAT: u32 = 3;
/// Sealed secrets, administrators allowed every credential operation; migrated on open.
const FORMAT_V2: u32 = 2;
/// The first release's format (secrets in clear); migrated on open.
const FORMAT_V1: u32 = 1;
/// Domain separation of the sealed secrets' associated data. It names the format, so that an
/// entry cannot be passed off as one of an older format (whose migration grants more).
const AAD_PREFIX: &[u8] = b"cofferd.credentials/3\n";
/// The associated data's prefix in format 2.
const AAD_PREFIX_V2: &[u8] = b"cofferd.credentials/2\n";

/// The identity policy a format-2 administrator credential (other than the bootstrap one) gets
/// when its file is migrated: every credential-management action on every principal, which is
/// what the administrator flag alone meant before.
pub const MIGRATED_ADMINISTRATOR_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"MigratedAdministrator","Effect":"Allow","Action":"coffer:*","Resource":"*"}]}"#;

/// Most credentials a store holds (expired ones not counted).
pub const MAX_CREDENTIALS: usize = 10_000;
/// Longest grace period of a rotation: 30 days.
pub const MAX_GRACE_SECS: i64 = 30 * 86_400;
/// Most identity policies stored with one credential.
pub const MAX_POLICIES: usize = 10;
/// Most tags stored with one credential.
pub const MAX_TAGS: usize = 50;
/// Longest description.
const MAX_DESCRIPTION: usize = 1024;

/// The current time in Unix seconds.
type Now = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The non-secret fields of a credential, as stored; their JSON is the associated data of the
/// sealed secret, so none of them can be changed (or an entry's secret moved to another entry)
/// without the secret failing to open.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Meta {
    access_key_id: String,
    principal_arn: String,
    account_id: String,
    administrator: bool,
    bootstrap: bool,
    created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    identity_policies: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
}

impl Meta {
    fn aad(&self, prefix: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
        let mut aad = prefix.to_vec();
        serde_json::to_writer(&mut aad, self)?;
        Ok(aad)
    }
}

/// One access key: its secret, the principal it authenticates, and its role.
pub struct Credential {
    meta: Meta,
    secret: SecretBytes,
    /// The secret sealed under the sealing key (see `seal`).
    sealed: String,
    caller: Caller,
}

impl Credential {
    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.meta.access_key_id
    }

    /// The secret access key.
    pub fn secret(&self) -> &SecretBytes {
        &self.secret
    }

    /// The principal (and account) the key authenticates, with the identity policies and tags
    /// stored with it and those the configuration attaches to its principal.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The principal's ARN.
    pub fn principal_arn(&self) -> &str {
        &self.meta.principal_arn
    }

    /// The principal's account.
    pub fn account_id(&self) -> &str {
        &self.meta.account_id
    }

    /// Whether the credential may manage credentials (`CofferAdmin.*`).
    pub fn is_administrator(&self) -> bool {
        self.meta.administrator
    }

    /// Whether this is the bootstrap administrator credential of `admin-credentials.json`.
    pub fn is_bootstrap(&self) -> bool {
        self.meta.bootstrap
    }

    /// Creation time, Unix seconds.
    pub fn created_at(&self) -> i64 {
        self.meta.created_at
    }

    /// When the credential stops working (after a rotation), Unix seconds.
    pub fn expires_at(&self) -> Option<i64> {
        self.meta.expires_at
    }

    /// The operator's description.
    pub fn description(&self) -> Option<&str> {
        self.meta.description.as_deref()
    }

    /// The identity policies stored with the credential (not those the configuration adds).
    pub fn stored_identity_policies(&self) -> &[String] {
        &self.meta.identity_policies
    }

    /// The tags stored with the credential (not those the configuration adds).
    pub fn stored_tags(&self) -> &BTreeMap<String, String> {
        &self.meta.tags
    }

    fn expired(&self, now: i64) -> bool {
        self.meta.expires_at.is_some_and(|t| now >= t)
    }

    /// An administrator that does not expire: what keeps the service manageable.
    fn lasting_admin(&self) -> bool {
        self.meta.administrator && self.meta.expires_at.is_none()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.meta.access_key_id)
            .field("secret", &"[redacted]")
            .field("principal_arn", &self.meta.principal_arn)
            .field("administrator", &self.meta.administrator)
            .field("bootstrap", &self.meta.bootstrap)
            .field("expires_at", &self.meta.expires_at)
            .finish_non_exhaustive()
    }
}

/// A format-2 entry as stored.
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    #[serde(flatten)]
    meta: Meta,
    sealed_secret: String,
}

#[derive(Serialize)]
struct StoredEntryRef<'a> {
    #[serde(flatten)]
    meta: &'a Meta,
    sealed_secret: &'a str,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

/// A format-3 (or format-2) file.
#[derive(Deserialize)]
struct StoreFile {
    region: String,
    credentials: Vec<StoredEntry>,
}

#[derive(Serialize)]
struct StoreFileRef<'a> {
    format: u32,
    region: &'a str,
    credentials: Vec<StoredEntryRef<'a>>,
}

/// A format-1 entry (the previous release): the secret in clear.
#[derive(Deserialize)]
struct StoredV1 {
    access_key_id: String,
    secret_access_key: String,
    account_id: String,
    principal_arn: String,
}

impl Drop for StoredV1 {
    fn drop(&mut self) {
        coffer_crypto::wipe(&mut std::mem::take(&mut self.secret_access_key).into_bytes());
    }
}

#[derive(Deserialize)]
struct StoreFileV1 {
    region: String,
    credentials: Vec<StoredV1>,
}

/// The bootstrap administrator's credential file, as the first release fixed its fields.
#[derive(Serialize, Deserialize)]
struct AdminFile {
    access_key_id: String,
    secret_access_key: String,
    account_id: String,
    principal_arn: String,
    region: String,
}

impl Drop for AdminFile {
    fn drop(&mut self) {
        coffer_crypto::wipe(&mut std::mem::take(&mut self.secret_access_key).into_bytes());
    }
}

/// What to create on first start, and what the configuration adds to credentials.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The region the data dir serves.
    pub region: String,
    /// The administrator's account; a random 12-digit one when `None`.
    pub account_id: Option<AccountId>,
    /// Identity policies and tags the configuration attaches to principals.
    pub principals: Vec<ConfiguredPrincipal>,
}

/// Identity policies and tags the configuration attaches to a principal: every credential of
/// that principal carries them (beside any stored with the credential); they are not stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfiguredPrincipal {
    /// The principal's ARN.
    pub arn: String,
    /// IAM identity policy documents (JSON).
    pub policies: Vec<String>,
    /// Principal tags, for `aws:PrincipalTag/…` conditions.
    pub tags: BTreeMap<String, String>,
}

/// The configuration's additions for one principal, parsed.
struct Configured {
    policies: Vec<Arc<Policy>>,
    tags: BTreeMap<String, String>,
}

/// What a new credential is: the fields of `CreateCredential`.
#[derive(Debug, Default)]
pub struct NewCredential {
    /// The principal it authenticates (see [`check_principal`]).
    pub principal_arn: String,
    /// Whether it may manage credentials.
    pub administrator: bool,
    /// Identity policies stored with it (JSON).
    pub identity_policies: Vec<String>,
    /// Principal tags stored with it.
    pub tags: BTreeMap<String, String>,
    /// The operator's description.
    pub description: Option<String>,
}

/// A rotation's outcome.
#[derive(Debug)]
pub struct Rotated {
    /// The new credential.
    pub new: Arc<Credential>,
    /// When the previous key stops working; `None`: it stopped at once.
    pub previous_expires_at: Option<i64>,
}

/// A page of credentials.
#[derive(Debug)]
pub struct Page {
    /// The credentials, in access key id order.
    pub credentials: Vec<Arc<Credential>>,
    /// Where the next page starts, when there is one.
    pub next_marker: Option<String>,
}

/// The credentials a server accepts, loaded through a [`CredentialBackend`].
pub struct CredentialStore {
    region: String,
    backend: Box<dyn CredentialBackend>,
    admin_path: PathBuf,
    sealing: SymmetricKey,
    configured: HashMap<String, Configured>,
    rng: SystemRandom,
    now: Now,
    by_key: RwLock<HashMap<String, Arc<Credential>>>,
    /// Serializes changes (plan, audit, write, publish).
    change: Mutex<()>,
    created: bool,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore")
            .field("region", &self.region)
            .field("backend", &self.backend)
            .field("credentials", &self.by_key.read().len())
            .finish_non_exhaustive()
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl CredentialStore {
    /// Loads the store from `data_dir`, creating the data dir, the store and the bootstrap
    /// administrator credential on first start (the administrator file is written only then).
    /// A store of an earlier format is migrated (sealed under `sealing`) and rewritten. A
    /// credential file its group or others may read or write is refused
    /// ([`Error::Permissions`]). The set is kept in `DATA_DIR/credentials.json`
    /// ([`FileBackend`]).
    pub fn open(
        data_dir: &Path,
        init: &InitOptions,
        rng: &dyn RandomSource,
        sealing: SymmetricKey,
    ) -> Result<Self, Error> {
        create_private_dir(data_dir)?;
        Self::open_with_backend(
            Box::new(FileBackend::new(data_dir.join(CREDENTIALS_FILE))),
            &data_dir.join(ADMIN_CREDENTIALS_FILE),
            init,
            rng,
            sealing,
        )
    }

    /// [`CredentialStore::open`] with the set kept by `backend`; the bootstrap administrator
    /// file is `admin_path` (its directory must exist).
    pub fn open_with_backend(
        backend: Box<dyn CredentialBackend>,
        admin_path: &Path,
        init: &InitOptions,
        rng: &dyn RandomSource,
        sealing: SymmetricKey,
    ) -> Result<Self, Error> {
        Self::open_with_clock(
            backend,
            admin_path,
            init,
            rng,
            sealing,
            Arc::new(system_now),
        )
    }

    fn open_with_clock(
        backend: Box<dyn CredentialBackend>,
        admin_path: &Path,
        init: &InitOptions,
        rng: &dyn RandomSource,
        sealing: SymmetricKey,
        now: Now,
    ) -> Result<Self, Error> {
        let admin_path = admin_path.to_owned();
        let mut configured = HashMap::new();
        for p in &init.principals {
            // The same rules as a credential's own principal and tags.
            PrincipalArn::parse(&p.arn)
                .map_err(|_| Error::Config("a configured principal's ARN is not valid"))?;
            if p.tags
                .iter()
                .any(|(k, v)| coffer_core::check_tag(k, v).is_err())
            {
                return Err(Error::Config(
                    "a tag of a configured principal is not valid",
                ));
            }
            let mut policies = Vec::with_capacity(p.policies.len());
            for doc in &p.policies {
                let policy = Policy::parse_identity_policy(doc).map_err(|_| {
                    Error::Config("an identity policy of a configured principal is not valid")
                })?;
                policies.push(Arc::new(policy));
            }
            let entry = configured.entry(p.arn.clone()).or_insert(Configured {
                policies: Vec::new(),
                tags: BTreeMap::new(),
            });
            entry.policies.extend(policies);
            entry
                .tags
                .extend(p.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let mut store = Self {
            region: init.region.clone(),
            backend,
            admin_path,
            sealing,
            configured,
            rng: SystemRandom::new(),
            now,
            by_key: RwLock::new(HashMap::new()),
            change: Mutex::new(()),
            created: false,
        };
        if store.admin_path.exists() {
            check_private(&store.admin_path)?;
        }
        if let Some(set) = store.backend.load()? {
            store.load(&set)?;
            return Ok(store);
        }
        // First start (or a first start cut short after the admin file was written: recover
        // the administrator from it rather than minting a second one).
        let admin = if store.admin_path.exists() {
            let bytes = read_secret_file(&store.admin_path)?;
            reject_duplicate_keys(bytes.expose())
                .map_err(Error::credential_file(&store.admin_path))?;
            let admin: AdminFile = serde_json::from_slice(bytes.expose())
                .map_err(Error::credential_file(&store.admin_path))?;
            admin
        } else {
            let admin = new_admin(init, rng)?;
            let json = SecretBytes::new(
                serde_json::to_vec_pretty(&admin)
                    .map_err(Error::credential_file(&store.admin_path))?,
            );
            write_private(&store.admin_path, json.expose())?;
            admin
        };
        if admin.region != init.region {
            return Err(Error::RegionMismatch {
                stored: admin.region.clone(),
                requested: init.region.clone(),
            });
        }
        let meta = Meta {
            access_key_id: admin.access_key_id.clone(),
            principal_arn: admin.principal_arn.clone(),
            account_id: admin.account_id.clone(),
            administrator: true,
            bootstrap: true,
            created_at: (store.now)(),
            expires_at: None,
            description: Some("bootstrap administrator".into()),
            identity_policies: Vec::new(),
            tags: BTreeMap::new(),
        };
        let secret = SecretBytes::copy_from(admin.secret_access_key.as_bytes());
        let cred = store
            .build(meta, secret, rng)
            .map_err(|what| store.invalid(what))?;
        let mut map = HashMap::new();
        map.insert(cred.meta.access_key_id.clone(), Arc::new(cred));
        store.write_set(&map)?;
        *store.by_key.get_mut() = map;
        store.created = true;
        Ok(store)
    }

    fn invalid(&self, what: &'static str) -> Error {
        Error::InvalidCredential {
            path: self.backend.location().to_owned(),
            what,
        }
    }

    /// Reads the set: format 3 as is; formats 2 and 1 migrated and rewritten.
    fn load(&mut self, bytes: &SecretBytes) -> Result<(), Error> {
        let path = self.backend.location().to_owned();
        reject_duplicate_keys(bytes.expose()).map_err(Error::credential_file(&path))?;
        let format: FormatOnly =
            serde_json::from_slice(bytes.expose()).map_err(Error::credential_file(&path))?;
        let now = (self.now)();
        let mut map = HashMap::new();
        match format.format {
            FORMAT | FORMAT_V2 => {
                let file: StoreFile = serde_json::from_slice(bytes.expose())
                    .map_err(Error::credential_file(&path))?;
                self.check_region(&file.region)?;
                let v2 = format.format == FORMAT_V2;
                let prefix = if v2 { AAD_PREFIX_V2 } else { AAD_PREFIX };
                for e in file.credentials {
                    let mut cred = self
                        .open_entry(e, prefix)
                        .map_err(|what| self.invalid(what))?;
                    if cred.expired(now) {
                        continue;
                    }
                    if v2 {
                        cred = self.migrate_v2(cred).map_err(|what| self.invalid(what))?;
                    }
                    let k = cred.meta.access_key_id.clone();
                    if map.insert(k, Arc::new(cred)).is_some() {
                        return Err(self.invalid("duplicate access_key_id"));
                    }
                }
                if v2 {
                    self.write_set(&map)?;
                }
            }
            FORMAT_V1 => {
                let file: StoreFileV1 = serde_json::from_slice(bytes.expose())
                    .map_err(Error::credential_file(&path))?;
                self.check_region(&file.region)?;
                // The previous release made one credential, the administrator of the admin
                // file, first; any other entry was added by hand and gets no administration.
                for (i, c) in file.credentials.iter().enumerate() {
                    let meta = Meta {
                        access_key_id: c.access_key_id.clone(),
                        principal_arn: c.principal_arn.clone(),
                        account_id: c.account_id.clone(),
                        administrator: i == 0,
                        bootstrap: i == 0,
                        created_at: now,
                        expires_at: None,
                        description: (i == 0).then(|| "bootstrap administrator".to_owned()),
                        identity_policies: Vec::new(),
                        tags: BTreeMap::new(),
                    };
                    let secret = SecretBytes::copy_from(c.secret_access_key.as_bytes());
                    let cred = self
                        .build(meta, secret, &self.rng)
                        .map_err(|what| self.invalid(what))?;
                    let k = cred.meta.access_key_id.clone();
                    if map.insert(k, Arc::new(cred)).is_some() {
                        return Err(self.invalid("duplicate access_key_id"));
                    }
                }
                if map.is_empty() {
                    return Err(self.invalid("no credentials"));
                }
                self.write_set(&map)?;
            }
            _ => return Err(self.invalid("format")),
        }
        *self.by_key.get_mut() = map;
        Ok(())
    }

    /// A format-2 entry as format 3: resealed under the new associated data; an administrator
    /// other than the bootstrap one keeps what the flag alone meant then (every credential
    /// operation) through [`MIGRATED_ADMINISTRATOR_POLICY`].
    fn migrate_v2(&self, cred: Credential) -> Result<Credential, &'static str> {
        let Credential {
            mut meta, secret, ..
        } = cred;
        if meta.administrator && !meta.bootstrap {
            meta.identity_policies
                .push(MIGRATED_ADMINISTRATOR_POLICY.to_owned());
        }
        self.build(meta, secret, &self.rng)
    }

    fn check_region(&self, stored: &str) -> Result<(), Error> {
        if stored != self.region {
            return Err(Error::RegionMismatch {
                stored: stored.to_owned(),
                requested: self.region.clone(),
            });
        }
        Ok(())
    }

    /// Validates `meta`, builds its caller and seals `secret` with a fresh nonce.
    fn build(
        &self,
        meta: Meta,
        secret: SecretBytes,
        rng: &dyn RandomSource,
    ) -> Result<Credential, &'static str> {
        let caller = self.caller_of(&meta)?;
        let aad = meta.aad(AAD_PREFIX).map_err(|_| "entry")?;
        let sealed = seal::seal(&self.sealing, rng, &aad, secret.expose())?;
        Ok(Credential {
            meta,
            secret,
            sealed,
            caller,
        })
    }

    /// Opens a stored entry's secret (which fails if any of its fields was changed), its
    /// associated data beginning with `prefix`.
    fn open_entry(&self, e: StoredEntry, prefix: &[u8]) -> Result<Credential, &'static str> {
        let caller = self.caller_of(&e.meta)?;
        let aad = e.meta.aad(prefix).map_err(|_| "entry")?;
        let secret = seal::open(&self.sealing, &aad, &e.sealed_secret)?;
        if secret.is_empty() {
            return Err("secret");
        }
        Ok(Credential {
            meta: e.meta,
            secret,
            sealed: e.sealed_secret,
            caller,
        })
    }

    /// The caller of an entry: its principal, its stored policies and tags, then the
    /// configuration's for that principal.
    fn caller_of(&self, meta: &Meta) -> Result<Caller, &'static str> {
        let mut caller = Caller::new(&meta.principal_arn).map_err(|_| "principal_arn")?;
        if caller.account.as_str() != meta.account_id {
            return Err("account_id");
        }
        if meta.access_key_id.is_empty()
            || meta.access_key_id.len() > 128
            || !meta
                .access_key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        {
            return Err("access_key_id");
        }
        for doc in &meta.identity_policies {
            caller = caller
                .with_identity_policy_json(doc)
                .map_err(|_| "identity policy")?;
        }
        for (k, v) in &meta.tags {
            caller = caller.with_tag(k.clone(), v.clone());
        }
        if let Some(c) = self.configured.get(&meta.principal_arn) {
            caller.identity_policies.extend(c.policies.iter().cloned());
            for (k, v) in &c.tags {
                caller = caller.with_tag(k.clone(), v.clone());
            }
        }
        Ok(caller.with_access_key_id(meta.access_key_id.clone()))
    }

    /// Commits `map` (without expired entries) to the backend, atomically and durably.
    fn write_set(&self, map: &HashMap<String, Arc<Credential>>) -> Result<(), Error> {
        let now = (self.now)();
        let mut entries: Vec<&Arc<Credential>> = map.values().filter(|c| !c.expired(now)).collect();
        entries.sort_by(|a, b| {
            (a.meta.created_at, &a.meta.access_key_id)
                .cmp(&(b.meta.created_at, &b.meta.access_key_id))
        });
        let file = StoreFileRef {
            format: FORMAT,
            region: &self.region,
            credentials: entries
                .iter()
                .map(|c| StoredEntryRef {
                    meta: &c.meta,
                    sealed_secret: &c.sealed,
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(Error::credential_file(self.backend.location()))?;
        self.backend.commit(&json)
    }

    /// The live credential of an access key id: `None` when unknown, revoked or expired.
    pub fn get(&self, access_key_id: &str) -> Option<Arc<Credential>> {
        let map = self.by_key.read();
        let cred = map.get(access_key_id)?;
        if cred.meta.expires_at.is_some() && cred.expired((self.now)()) {
            return None;
        }
        Some(cred.clone())
    }

    /// The region the data dir serves.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The bootstrap administrator's access key id, while it is active.
    pub fn bootstrap_access_key_id(&self) -> Option<String> {
        let now = (self.now)();
        self.by_key
            .read()
            .values()
            .find(|c| c.meta.bootstrap && !c.expired(now))
            .map(|c| c.meta.access_key_id.clone())
    }

    /// Whether the bootstrap administrator credential (of `admin-credentials.json`) is still
    /// active: the server warns at start while it is (retire it once another administrator
    /// exists).
    pub fn bootstrap_active(&self) -> bool {
        self.bootstrap_access_key_id().is_some()
    }

    /// Whether this call created the store (first start).
    pub fn created(&self) -> bool {
        self.created
    }

    /// How many live credentials there are.
    pub fn len(&self) -> usize {
        let now = (self.now)();
        self.by_key
            .read()
            .values()
            .filter(|c| !c.expired(now))
            .count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A page of live credentials in access key id order, after `marker`.
    #[cfg(test)]
    fn list(&self, limit: usize, marker: Option<&str>) -> Page {
        self.list_visible(limit, marker, &mut |_| true)
    }

    /// A page of the live credentials `visible` admits, in access key id order, after
    /// `marker` (pages are full: the filter applies before the limit).
    pub fn list_visible(
        &self,
        limit: usize,
        marker: Option<&str>,
        visible: &mut dyn FnMut(&Credential) -> bool,
    ) -> Page {
        let now = (self.now)();
        let map = self.by_key.read();
        let mut all: Vec<&Arc<Credential>> = map
            .values()
            .filter(|c| !c.expired(now))
            .filter(|c| marker.is_none_or(|m| c.meta.access_key_id.as_str() > m))
            .filter(|c| visible(c))
            .collect();
        all.sort_by(|a, b| a.meta.access_key_id.cmp(&b.meta.access_key_id));
        let truncated = all.len() > limit;
        all.truncate(limit);
        let next_marker = if truncated {
            all.last().map(|c| c.meta.access_key_id.clone())
        } else {
            None
        };
        Page {
            credentials: all.into_iter().cloned().collect(),
            next_marker,
        }
    }

    /// Creates a credential. `record` is called with it once the change is planned and before
    /// it is written; if it fails nothing changes.
    ///
    /// The error type is the caller's, so that `record`'s own errors pass through unchanged.
    pub fn create<E: From<Error>>(
        &self,
        req: NewCredential,
        record: &mut dyn FnMut(&Credential) -> Result<(), E>,
    ) -> Result<Arc<Credential>, E> {
        let account_id = check_principal(&req.principal_arn)?.account().to_string();
        if req.identity_policies.len() > MAX_POLICIES {
            return Err(Error::Validation(format!(
                "A credential has at most {MAX_POLICIES} identity policies."
            ))
            .into());
        }
        for (i, doc) in req.identity_policies.iter().enumerate() {
            if let Err(e) = reject_duplicate_keys(doc.as_bytes()) {
                if e.is_data() {
                    return Err(Error::MalformedPolicyDocument(format!(
                        "IdentityPolicies[{i}]: the policy names a member twice (line {}, \
                         column {})",
                        e.line(),
                        e.column()
                    ))
                    .into());
                }
            }
            Policy::parse_identity_policy(doc).map_err(|e| {
                Error::MalformedPolicyDocument(format!("IdentityPolicies[{i}]: {e}"))
            })?;
        }
        validate_tags(&req.tags)?;
        if let Some(d) = &req.description {
            if d.chars().count() > MAX_DESCRIPTION {
                return Err(Error::Validation(format!(
                    "Description is longer than {MAX_DESCRIPTION} characters."
                ))
                .into());
            }
        }
        let _guard = self.change.lock();
        let now = (self.now)();
        let mut next = self.live(now);
        if next.len() >= MAX_CREDENTIALS {
            return Err(full().into());
        }
        let (access_key_id, secret) = new_key_pair(&self.rng, &next)?;
        let meta = Meta {
            access_key_id,
            principal_arn: req.principal_arn,
            account_id,
            administrator: req.administrator,
            bootstrap: false,
            created_at: now,
            expires_at: None,
            description: req.description,
            identity_policies: req.identity_policies,
            tags: req.tags,
        };
        let cred = Arc::new(
            self.build(meta, secret, &self.rng)
                .map_err(|what| internal(format!("cannot seal the credential: {what}")))?,
        );
        next.insert(cred.meta.access_key_id.clone(), cred.clone());
        record(&cred)?;
        self.commit(next)?;
        Ok(cred)
    }

    /// Rotates a credential: a new key with the same principal, role and policies; the old one
    /// works for `grace_secs` more (0: it stops now).
    pub fn rotate<E: From<Error>>(
        &self,
        access_key_id: &str,
        grace_secs: i64,
        record: &mut dyn FnMut(&Rotated) -> Result<(), E>,
    ) -> Result<Rotated, E> {
        if !(0..=MAX_GRACE_SECS).contains(&grace_secs) {
            return Err(Error::Validation(format!(
                "GracePeriodSeconds must be between 0 and {MAX_GRACE_SECS}."
            ))
            .into());
        }
        let _guard = self.change.lock();
        let now = (self.now)();
        let mut next = self.live(now);
        let old = next
            .get(access_key_id)
            .cloned()
            .ok_or_else(|| not_found(access_key_id))?;
        if old.meta.bootstrap {
            return Err(Error::InvalidState(
                "The bootstrap administrator credential is not rotated: create another \
                 administrator credential, then retire the bootstrap one \
                 (RetireBootstrapCredential)."
                    .into(),
            )
            .into());
        }
        if next.len() >= MAX_CREDENTIALS && grace_secs > 0 {
            return Err(full().into());
        }
        let (new_id, secret) = new_key_pair(&self.rng, &next)?;
        let meta = Meta {
            access_key_id: new_id,
            bootstrap: false,
            created_at: now,
            expires_at: old.meta.expires_at,
            ..old.meta.clone()
        };
        let new = Arc::new(
            self.build(meta, secret, &self.rng)
                .map_err(|what| internal(format!("cannot seal the credential: {what}")))?,
        );
        let previous_expires_at = if grace_secs == 0 {
            next.remove(access_key_id);
            None
        } else {
            let until = now.saturating_add(grace_secs);
            let until = old.meta.expires_at.map_or(until, |t| t.min(until));
            let meta = Meta {
                expires_at: Some(until),
                ..old.meta.clone()
            };
            let resealed = self
                .build(meta, old.secret.clone(), &self.rng)
                .map_err(|what| internal(format!("cannot seal the credential: {what}")))?;
            next.insert(access_key_id.to_owned(), Arc::new(resealed));
            Some(until)
        };
        next.insert(new.meta.access_key_id.clone(), new.clone());
        let rotated = Rotated {
            new,
            previous_expires_at,
        };
        record(&rotated)?;
        self.commit(next)?;
        Ok(rotated)
    }

    /// Revokes a credential at once. The last lasting administrator credential is not revoked
    /// (that would lock every administrator out). Revoking the bootstrap credential also
    /// deletes `admin-credentials.json`.
    pub fn revoke<E: From<Error>>(
        &self,
        access_key_id: &str,
        record: &mut dyn FnMut(&Credential) -> Result<(), E>,
    ) -> Result<Arc<Credential>, E> {
        let _guard = self.change.lock();
        let now = (self.now)();
        let mut next = self.live(now);
        let old = next
            .remove(access_key_id)
            .ok_or_else(|| not_found(access_key_id))?;
        if old.meta.administrator && !next.values().any(|c| c.lasting_admin()) {
            return Err(Error::InvalidState(format!(
                "{access_key_id} is the last administrator credential; create another \
                 administrator credential before revoking it."
            ))
            .into());
        }
        record(&old)?;
        self.commit(next)?;
        if old.meta.bootstrap {
            self.remove_admin_file()?;
        }
        Ok(old)
    }

    /// Revokes the bootstrap administrator credential and deletes `admin-credentials.json`
    /// (overwritten with zeros first), once another lasting administrator credential exists.
    /// Returns the retired credential (`None`: it was already gone and only a leftover file
    /// was removed).
    pub fn retire_bootstrap<E: From<Error>>(
        &self,
        record: &mut dyn FnMut(Option<&Credential>) -> Result<(), E>,
    ) -> Result<Option<Arc<Credential>>, E> {
        let _guard = self.change.lock();
        let now = (self.now)();
        let mut next = self.live(now);
        let boot = next
            .values()
            .find(|c| c.meta.bootstrap)
            .map(|c| c.meta.access_key_id.clone());
        let Some(boot) = boot else {
            if self.admin_path.exists() {
                record(None)?;
                self.remove_admin_file()?;
                return Ok(None);
            }
            return Err(Error::InvalidState(
                "There is no bootstrap administrator credential: it was retired already.".into(),
            )
            .into());
        };
        let old = next
            .remove(&boot)
            .ok_or_else(|| internal("the bootstrap credential vanished".into()))?;
        if !next.values().any(|c| c.lasting_admin()) {
            return Err(Error::InvalidState(
                "The bootstrap administrator credential is the only administrator credential; \
                 create another administrator credential (CreateCredential with \
                 Administrator: true) before retiring it."
                    .into(),
            )
            .into());
        }
        record(Some(&old))?;
        self.commit(next)?;
        self.remove_admin_file()?;
        Ok(Some(old))
    }

    /// The live credentials, for planning a change.
    fn live(&self, now: i64) -> HashMap<String, Arc<Credential>> {
        self.by_key
            .read()
            .iter()
            .filter(|(_, c)| !c.expired(now))
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect()
    }

    /// Makes `next` durable, then current.
    fn commit(&self, next: HashMap<String, Arc<Credential>>) -> Result<(), Error> {
        self.write_set(&next).map_err(|e| {
            Error::Internal(format!("the credential store could not be written: {e}"))
        })?;
        *self.by_key.write() = next;
        Ok(())
    }

    fn remove_admin_file(&self) -> Result<(), Error> {
        wipe_and_remove(&self.admin_path).map_err(|e| {
            Error::Internal(format!(
                "the bootstrap credential is revoked, but {} could not be deleted: {e}",
                ADMIN_CREDENTIALS_FILE
            ))
        })
    }
}

fn internal(message: String) -> Error {
    Error::Internal(message)
}

fn full() -> Error {
    Error::LimitExceeded(format!(
        "The store holds the most credentials allowed ({MAX_CREDENTIALS})."
    ))
}

/// `NotFoundException` for an access key id that is unknown, revoked or expired.
pub fn not_found(access_key_id: &str) -> Error {
    let shown: String = access_key_id.chars().take(128).collect();
    Error::NotFound(format!(
        "Access key {shown} does not exist (or was revoked, or has expired)."
    ))
}

/// A principal a credential may be made for: a valid [`PrincipalArn`] (coffer-core holds the
/// rules) naming an account root, an IAM user or an IAM role. A role session
/// (`assumed-role`) is a principal but not one a lasting access key belongs to.
pub fn check_principal(arn: &str) -> Result<PrincipalArn, Error> {
    let invalid = || {
        Error::Validation(
            "PrincipalArn must be an IAM principal: arn:aws:iam::ACCOUNT:root, \
             arn:aws:iam::ACCOUNT:user/NAME or arn:aws:iam::ACCOUNT:role/NAME."
                .into(),
        )
    };
    let p = PrincipalArn::parse(arn).map_err(|_| invalid())?;
    match p.kind() {
        PrincipalKind::Root | PrincipalKind::User | PrincipalKind::Role => Ok(p),
        _ => Err(invalid()),
    }
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), Error> {
    if tags.len() > MAX_TAGS {
        return Err(Error::Validation(format!(
            "A credential has at most {MAX_TAGS} tags."
        )));
    }
    for (k, v) in tags {
        match coffer_core::check_tag(k, v) {
            Ok(()) => {}
            Err(coffer_core::TagError::Reserved) => {
                return Err(Error::Validation(
                    "Tag keys may not begin with aws:.".into(),
                ))
            }
            Err(_) => {
                return Err(Error::Validation(
                    "Tag keys are 1 to 128 characters, values at most 256.".into(),
                ))
            }
        }
    }
    Ok(())
}

/// Characters of an access key id after its `AKIA` prefix (base 32, as AWS's).
const KEY_ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Random bytes of a secret: 30, i.e. 40 base64 characters, the length of an AWS secret.
const SECRET_BYTES: usize = 30;
const SECRET_CHARS: usize = 40;

fn access_key_id(bytes: &[u8]) -> String {
    let mut id = String::with_capacity(4 + bytes.len());
    id.push_str("AKIA");
    id.extend(bytes.iter().map(|x| {
        char::from(
            KEY_ID_ALPHABET
                .get(usize::from(x % 32))
                .copied()
                .unwrap_or(b'A'),
        )
    }));
    id
}

/// The secret's text (base64 of random bytes), built without an unwiped copy.
fn secret_text(bytes: &[u8]) -> Result<SecretBytes, base64::EncodeSliceError> {
    let mut text = SecretBytes::new(vec![0u8; SECRET_CHARS]);
    let n = base64::engine::general_purpose::STANDARD.encode_slice(bytes, text.expose_mut())?;
    text.truncate(n);
    Ok(text)
}

/// A fresh access key id (not in `taken`) and secret.
fn new_key_pair(
    rng: &dyn RandomSource,
    taken: &HashMap<String, Arc<Credential>>,
) -> Result<(String, SecretBytes), Error> {
    let random_failed = |_| internal("the random source failed".into());
    for _ in 0..8 {
        let raw = SecretBytes::random(rng, 16 + SECRET_BYTES).map_err(random_failed)?;
        let (id_bytes, secret_bytes) = raw.expose().split_at(16.min(raw.len()));
        let id = access_key_id(id_bytes);
        if taken.contains_key(&id) {
            continue;
        }
        let secret = secret_text(secret_bytes)
            .map_err(|_| internal("the secret could not be encoded".into()))?;
        return Ok((id, secret));
    }
    Err(internal("no free access key id".into()))
}

fn new_admin(init: &InitOptions, rng: &dyn RandomSource) -> Result<AdminFile, Error> {
    let raw = SecretBytes::random(rng, 16 + SECRET_BYTES + 12).map_err(Error::Random)?;
    let b = raw.expose();
    let (id_bytes, rest) = b.split_at(16.min(b.len()));
    let (secret_bytes, acct_bytes) = rest.split_at(SECRET_BYTES.min(rest.len()));
    let access_key_id = access_key_id(id_bytes);
    let secret = secret_text(secret_bytes).map_err(|_| Error::Config("secret encoding"))?;
    let secret_access_key = String::from_utf8(secret.expose().to_vec())
        .map_err(|_| Error::Config("secret encoding"))?;
    let account = match init.account_id {
        Some(a) => a,
        None => {
            // 12 random decimal digits; the first is never 0, so the id reads as a number too.
            let digits: String = acct_bytes
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let d = if i == 0 { 1 + x % 9 } else { x % 10 };
                    char::from(b'0' + d)
                })
                .collect();
            AccountId::parse(&digits).map_err(|_| Error::Config("generated account id"))?
        }
    };
    Ok(AdminFile {
        access_key_id,
        secret_access_key,
        account_id: account.to_string(),
        principal_arn: PrincipalArn::account_root(account).into_string(),
        region: init.region.clone(),
    })
}

/// Refuses a JSON text in which an object names a member twice (serde would keep the last
/// one silently, so a reader of the text and the server would disagree). The error says where:
/// line and column, after the repeated name, and the member's path of names; never a value,
/// since values may be secrets (`coffer_core::UniqueKeys`, the one walk every document shares).
/// A text that is not JSON is refused as the parser finds it.
pub fn reject_duplicate_keys(json: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<coffer_core::UniqueKeys>(json).map(|_| ())
}

/// Creates `dir` (and missing parents) owner-only.
fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(Error::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_crypto::aead;
    use std::sync::atomic::{AtomicI64, Ordering};

    fn temp_dir(name: &str) -> PathBuf {
        let mut b = [0u8; 8];
        SystemRandom::new().fill(&mut b).unwrap();
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let d = std::env::temp_dir().join(format!("coffer-credentials-{name}-{hex}"));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn init() -> InitOptions {
        InitOptions {
            region: "eu-west-1".into(),
            account_id: None,
            principals: Vec::new(),
        }
    }

    fn key() -> SymmetricKey {
        SymmetricKey::from_bytes([7; 32])
    }

    fn ok(_: &Credential) -> Result<(), Error> {
        Ok(())
    }

    /// An error and its causes, as an operator's log prints them.
    fn chain(e: &(dyn std::error::Error + 'static)) -> String {
        let mut s = e.to_string();
        let mut cur = e.source();
        while let Some(c) = cur {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cur = c.source();
        }
        s
    }

    /// A store with a manual clock.
    fn open_at(dir: &Path, clock: &Arc<AtomicI64>) -> Result<CredentialStore, Error> {
        let c = clock.clone();
        CredentialStore::open_with_clock(
            Box::new(FileBackend::new(dir.join(CREDENTIALS_FILE))),
            &dir.join(ADMIN_CREDENTIALS_FILE),
            &init(),
            &SystemRandom::new(),
            key(),
            Arc::new(move || c.load(Ordering::SeqCst)),
        )
    }

    fn role(arn: &str, admin: bool) -> NewCredential {
        NewCredential {
            principal_arn: arn.into(),
            administrator: admin,
            ..NewCredential::default()
        }
    }

    fn file_json(dir: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join(CREDENTIALS_FILE)).unwrap()).unwrap()
    }

    fn write_json(dir: &Path, v: &serde_json::Value) {
        write_private(
            &dir.join(CREDENTIALS_FILE),
            &serde_json::to_vec_pretty(v).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn first_start_creates_admin_and_restart_keeps_it() {
        let dir = temp_dir("creds");
        let rng = SystemRandom::new();
        let s = CredentialStore::open(&dir, &init(), &rng, key()).unwrap();
        assert!(s.created());
        assert_eq!(s.len(), 1);
        let admin_text = std::fs::read_to_string(dir.join(ADMIN_CREDENTIALS_FILE)).unwrap();
        let admin: serde_json::Value = serde_json::from_str(&admin_text).unwrap();
        let akid = admin["access_key_id"].as_str().unwrap();
        assert!(akid.starts_with("AKIA") && akid.len() == 20);
        let secret = admin["secret_access_key"].as_str().unwrap();
        assert_eq!(secret.len(), 40);
        let account = admin["account_id"].as_str().unwrap();
        assert_eq!(account.len(), 12);
        assert_eq!(
            admin["principal_arn"],
            format!("arn:aws:iam::{account}:root")
        );
        assert_eq!(admin["region"], "eu-west-1");
        let cred = s.get(akid).unwrap();
        assert_eq!(cred.secret().expose(), secret.as_bytes());
        assert!(cred.is_administrator() && cred.is_bootstrap());
        assert!(s.bootstrap_active());
        assert!(!format!("{cred:?}").contains(secret));
        // The store holds the secret sealed only.
        let store_text = std::fs::read_to_string(dir.join(CREDENTIALS_FILE)).unwrap();
        assert!(!store_text.contains(secret));
        assert_eq!(file_json(&dir)["format"], 3);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [ADMIN_CREDENTIALS_FILE, CREDENTIALS_FILE] {
                let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }

        let s2 = CredentialStore::open(&dir, &init(), &rng, key()).unwrap();
        assert!(!s2.created());
        assert_eq!(s2.bootstrap_access_key_id().as_deref(), Some(akid));
        assert_eq!(s2.get(akid).unwrap().secret().expose(), secret.as_bytes());
        assert_eq!(
            std::fs::read_to_string(dir.join(ADMIN_CREDENTIALS_FILE)).unwrap(),
            admin_text
        );

        let other = InitOptions {
            region: "us-east-1".into(),
            account_id: None,
            principals: Vec::new(),
        };
        assert!(matches!(
            CredentialStore::open(&dir, &other, &rng, key()),
            Err(Error::RegionMismatch { .. })
        ));
        // Another sealing key opens nothing.
        assert!(matches!(
            CredentialStore::open(&dir, &init(), &rng, SymmetricKey::from_bytes([8; 32])),
            Err(Error::InvalidCredential { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn interrupted_first_start_recovers_admin() {
        let dir = temp_dir("recover");
        let rng = SystemRandom::new();
        let acct = AccountId::parse("111122223333").unwrap();
        let opts = InitOptions {
            region: "eu-west-1".into(),
            account_id: Some(acct),
            principals: Vec::new(),
        };
        let s = CredentialStore::open(&dir, &opts, &rng, key()).unwrap();
        let akid = s.bootstrap_access_key_id().unwrap();
        std::fs::remove_file(dir.join(CREDENTIALS_FILE)).unwrap();
        let s2 = CredentialStore::open(&dir, &opts, &rng, key()).unwrap();
        assert_eq!(s2.bootstrap_access_key_id().unwrap(), akid);
        assert_eq!(s2.get(&akid).unwrap().caller().account, acct);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_store_is_an_error() {
        let dir = temp_dir("corrupt");
        write_private(&dir.join(CREDENTIALS_FILE), b"{not json").unwrap();
        let r = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key());
        assert!(matches!(r, Err(Error::CredentialFile { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_malformed_file_is_reported_by_position_never_by_its_values() {
        // serde_json's own message would quote the string it did not expect here.
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        for (file, text) in [
            (CREDENTIALS_FILE, format!("{{\"format\": \"{secret}\"}}")),
            (
                ADMIN_CREDENTIALS_FILE,
                format!("{{\"access_key_id\": 1, \"secret_access_key\": {{\"x\": \"{secret}\"}}}}"),
            ),
            (
                ADMIN_CREDENTIALS_FILE,
                format!("{{\"access_key_id\": \"AKIA\", \"secret_access_key\": \"s\", \"account_id\": 7, \"x\": \"{secret}\"}}"),
            ),
        ] {
            let dir = temp_dir("malformed");
            write_private(&dir.join(file), text.as_bytes()).unwrap();
            let e = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap_err();
            assert!(matches!(e, Error::CredentialFile { line: 1, .. }), "{e}");
            let mut chain = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                chain.push_str(&c.to_string());
                cur = c.source();
            }
            assert!(!chain.contains(secret), "{chain}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn readable_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("perms");
        CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap();
        for (f, mode) in [(CREDENTIALS_FILE, 0o640), (ADMIN_CREDENTIALS_FILE, 0o602)] {
            let p = dir.join(f);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let r = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key());
            assert!(
                matches!(&r, Err(Error::Permissions { path, .. }) if path == &p),
                "{f}"
            );
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sealed_secrets_cannot_be_swapped_or_entries_altered() {
        let dir = temp_dir("swap");
        let clock = Arc::new(AtomicI64::new(1_000));
        let s = open_at(&dir, &clock).unwrap();
        let user = s
            .create(role("arn:aws:iam::111122223333:user/u", false), &mut ok)
            .unwrap();
        drop(s);
        let original = file_json(&dir);
        assert!(open_at(&dir, &clock).is_ok());

        // Swap the two sealed secrets.
        let mut v = original.clone();
        let a = v["credentials"][0]["sealed_secret"].clone();
        let b = v["credentials"][1]["sealed_secret"].clone();
        v["credentials"][0]["sealed_secret"] = b;
        v["credentials"][1]["sealed_secret"] = a;
        write_json(&dir, &v);
        assert!(matches!(
            open_at(&dir, &clock),
            Err(Error::InvalidCredential { .. })
        ));

        // Promote the user to administrator, or move it to another principal.
        for (field, value) in [
            ("administrator", serde_json::json!(true)),
            (
                "principal_arn",
                serde_json::json!("arn:aws:iam::111122223333:user/v"),
            ),
            ("access_key_id", serde_json::json!("AKIAAAAAAAAAAAAAAAAA")),
        ] {
            let mut v = original.clone();
            let i = usize::from(v["credentials"][0]["access_key_id"] != user.access_key_id());
            v["credentials"][i][field] = value;
            write_json(&dir, &v);
            assert!(
                matches!(open_at(&dir, &clock), Err(Error::InvalidCredential { .. })),
                "{field}"
            );
        }
        write_json(&dir, &original);
        assert!(open_at(&dir, &clock).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn format_1_is_migrated() {
        let dir = temp_dir("migrate");
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let v1 = serde_json::json!({
            "format": 1,
            "region": "eu-west-1",
            "credentials": [
                {"access_key_id": "AKIAOLDADMIN00000000", "secret_access_key": secret,
                 "account_id": "111122223333",
                 "principal_arn": "arn:aws:iam::111122223333:root"},
                {"access_key_id": "AKIAOLDUSER000000000", "secret_access_key": "other-secret",
                 "account_id": "111122223333",
                 "principal_arn": "arn:aws:iam::111122223333:user/u"}
            ]
        });
        write_json(&dir, &v1);
        let s = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap();
        assert!(!s.created());
        let admin = s.get("AKIAOLDADMIN00000000").unwrap();
        assert_eq!(admin.secret().expose(), secret.as_bytes());
        assert!(admin.is_administrator() && admin.is_bootstrap());
        let user = s.get("AKIAOLDUSER000000000").unwrap();
        assert!(!user.is_administrator());
        let text = std::fs::read_to_string(dir.join(CREDENTIALS_FILE)).unwrap();
        assert!(!text.contains(secret) && !text.contains("other-secret"));
        assert_eq!(file_json(&dir)["format"], 3);
        let s2 = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap();
        assert_eq!(
            s2.get("AKIAOLDUSER000000000").unwrap().secret().expose(),
            b"other-secret"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotation_grace_and_expiry_follow_the_clock() {
        let dir = temp_dir("expiry");
        let clock = Arc::new(AtomicI64::new(10_000));
        let s = open_at(&dir, &clock).unwrap();
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#;
        let mut req = role("arn:aws:iam::111122223333:role/app", false);
        req.identity_policies = vec![policy.into()];
        req.tags.insert("team".into(), "a".into());
        let old = s.create(req, &mut ok).unwrap();
        assert_eq!(old.caller().identity_policies.len(), 1);

        let r = s
            .rotate(old.access_key_id(), 100, &mut |_: &Rotated| {
                Ok::<(), Error>(())
            })
            .unwrap();
        assert_eq!(r.previous_expires_at, Some(10_100));
        assert_eq!(r.new.principal_arn(), old.principal_arn());
        assert_eq!(r.new.caller().identity_policies.len(), 1);
        assert_eq!(
            r.new.caller().tags.get("team").map(String::as_str),
            Some("a")
        );
        assert!(s.get(old.access_key_id()).is_some());
        clock.store(10_099, Ordering::SeqCst);
        assert!(s.get(old.access_key_id()).is_some());
        clock.store(10_100, Ordering::SeqCst);
        assert!(s.get(old.access_key_id()).is_none());
        assert!(s.get(r.new.access_key_id()).is_some());
        assert_eq!(s.list(100, None).credentials.len(), 2);
        // The next write drops the expired entry from the file.
        assert!(file_json(&dir).to_string().contains(old.access_key_id()));
        s.create(role("arn:aws:iam::111122223333:user/x", false), &mut ok)
            .unwrap();
        assert!(!file_json(&dir).to_string().contains(old.access_key_id()));

        // Grace 0: the old key stops at once.
        let r2 = s
            .rotate(r.new.access_key_id(), 0, &mut |_: &Rotated| {
                Ok::<(), Error>(())
            })
            .unwrap();
        assert_eq!(r2.previous_expires_at, None);
        assert!(s.get(r.new.access_key_id()).is_none());
        assert!(s.get(r2.new.access_key_id()).is_some());
        // Out of range, unknown, bootstrap.
        let e = s
            .rotate(
                r2.new.access_key_id(),
                MAX_GRACE_SECS + 1,
                &mut |_: &Rotated| Ok::<(), Error>(()),
            )
            .unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        let e = s
            .rotate(r.new.access_key_id(), 0, &mut |_: &Rotated| {
                Ok::<(), Error>(())
            })
            .unwrap_err();
        assert_eq!(e.code(), "NotFoundException");
        let boot = s.bootstrap_access_key_id().unwrap();
        let e = s
            .rotate(&boot, 0, &mut |_: &Rotated| Ok::<(), Error>(()))
            .unwrap_err();
        assert_eq!(e.code(), "KMSInvalidStateException");

        // A restart at the same time keeps it all; an expiry survives a restart.
        let r3 = s
            .rotate(r2.new.access_key_id(), 50, &mut |_: &Rotated| {
                Ok::<(), Error>(())
            })
            .unwrap();
        drop(s);
        let s = open_at(&dir, &clock).unwrap();
        assert!(s.get(r2.new.access_key_id()).is_some());
        assert!(s.get(r3.new.access_key_id()).is_some());
        clock.store(10_150, Ordering::SeqCst);
        assert!(s.get(r2.new.access_key_id()).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lockout_is_refused_and_retirement_needs_another_admin() {
        let dir = temp_dir("lockout");
        let clock = Arc::new(AtomicI64::new(5));
        let s = open_at(&dir, &clock).unwrap();
        let boot = s.bootstrap_access_key_id().unwrap();
        let mut none = |_: Option<&Credential>| Ok::<(), Error>(());
        let e = s.retire_bootstrap(&mut none).unwrap_err();
        assert_eq!(e.code(), "KMSInvalidStateException");
        let e = s.revoke(&boot, &mut ok).unwrap_err();
        assert_eq!(e.code(), "KMSInvalidStateException");
        let admin = s
            .create(role("arn:aws:iam::111122223333:user/ops", true), &mut ok)
            .unwrap();
        // An audit failure changes nothing.
        let e = s
            .retire_bootstrap(&mut |_| Err(Error::Internal("audit".into())))
            .unwrap_err();
        assert_eq!(e.code(), "KMSInternalException");
        assert!(s.get(&boot).is_some());
        assert!(dir.join(ADMIN_CREDENTIALS_FILE).exists());

        let retired = s.retire_bootstrap(&mut none).unwrap().unwrap();
        assert_eq!(retired.access_key_id(), boot);
        assert!(s.get(&boot).is_none());
        assert!(!s.bootstrap_active());
        assert!(!dir.join(ADMIN_CREDENTIALS_FILE).exists());
        let e = s.retire_bootstrap(&mut none).unwrap_err();
        assert_eq!(e.code(), "KMSInvalidStateException");
        // The last administrator stays; an expiring one does not count.
        let e = s.revoke(admin.access_key_id(), &mut ok).unwrap_err();
        assert_eq!(e.code(), "KMSInvalidStateException");
        let r = s
            .rotate(admin.access_key_id(), 60, &mut |_: &Rotated| {
                Ok::<(), Error>(())
            })
            .unwrap();
        let e = s.revoke(r.new.access_key_id(), &mut ok).unwrap_err();
        assert_eq!(e.code(), "KMSInvalidStateException");
        s.revoke(admin.access_key_id(), &mut ok).unwrap();
        drop(s);
        let s = open_at(&dir, &clock).unwrap();
        assert!(s.get(&boot).is_none());
        assert!(s.get(admin.access_key_id()).is_none());
        assert!(s.get(r.new.access_key_id()).unwrap().is_administrator());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn create_validates_and_list_pages() {
        let dir = temp_dir("create");
        let clock = Arc::new(AtomicI64::new(5));
        let s = open_at(&dir, &clock).unwrap();
        for bad in [
            "arn:aws:iam::111122223333:group/g",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::1111:user/u",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam:us-east-1:111122223333:user/u",
            "user/u",
        ] {
            let e = s.create(role(bad, false), &mut ok).unwrap_err();
            assert_eq!(e.code(), "ValidationException", "{bad}");
        }
        let mut req = role("arn:aws:iam::111122223333:user/u", false);
        req.identity_policies = vec!["{not a policy".into()];
        let e = s.create(req, &mut ok).unwrap_err();
        assert_eq!(e.code(), "MalformedPolicyDocumentException");
        let mut req = role("arn:aws:iam::111122223333:user/u", false);
        req.tags.insert("aws:x".into(), "y".into());
        assert_eq!(
            s.create(req, &mut ok).unwrap_err().code(),
            "ValidationException"
        );
        // An audit failure changes nothing.
        let e = s
            .create(role("arn:aws:iam::111122223333:user/u", false), &mut |_| {
                Err(Error::Internal("audit".into()))
            })
            .unwrap_err();
        assert_eq!(e.code(), "KMSInternalException");
        assert_eq!(s.len(), 1);
        for i in 0..4 {
            s.create(
                role(&format!("arn:aws:iam::111122223333:user/u{i}"), false),
                &mut ok,
            )
            .unwrap();
        }
        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let page = s.list(2, marker.as_deref());
            assert!(page.credentials.len() <= 2);
            seen.extend(
                page.credentials
                    .iter()
                    .map(|c| c.access_key_id().to_owned()),
            );
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn configured_principals_add_policies_and_tags() {
        let dir = temp_dir("configured");
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;
        let mut opts = init();
        opts.principals = vec![ConfiguredPrincipal {
            arn: "arn:aws:iam::111122223333:role/app".into(),
            policies: vec![policy.into()],
            tags: [("env".to_owned(), "prod".to_owned())].into(),
        }];
        let s = CredentialStore::open(&dir, &opts, &SystemRandom::new(), key()).unwrap();
        let c = s
            .create(role("arn:aws:iam::111122223333:role/app", false), &mut ok)
            .unwrap();
        assert_eq!(c.caller().identity_policies.len(), 1);
        assert_eq!(c.caller().tags.get("env").map(String::as_str), Some("prod"));
        // Not written into the entry: the configuration is read at every start.
        assert!(!file_json(&dir).to_string().contains("kms:Decrypt"));
        opts.principals[0].policies = vec!["{".into()];
        assert!(matches!(
            CredentialStore::open(&dir, &opts, &SystemRandom::new(), key()),
            Err(Error::Config(_))
        ));
        // The configuration's principals and tags follow the credentials' rules.
        opts.principals[0].policies = vec![policy.into()];
        assert!(CredentialStore::open(&dir, &opts, &SystemRandom::new(), key()).is_ok());
        for (arn, tag) in [
            ("arn:aws:iam::111122223333:group/app", "env"),
            ("arn:aws:iam::111122223333:role/app", "aws:env"),
            ("arn:aws:iam::111122223333:role/app", ""),
        ] {
            let mut bad = opts.clone();
            bad.principals[0].arn = arn.into();
            bad.principals[0].tags = [(tag.to_owned(), "prod".to_owned())].into();
            assert!(
                matches!(
                    CredentialStore::open(&dir, &bad, &SystemRandom::new(), key()),
                    Err(Error::Config(_))
                ),
                "{arn} {tag}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn duplicate_member_names_are_refused_by_position() {
        for good in [
            "{}",
            "[]",
            r#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#,
            r#" {"a": [true, null, 1.5, -2, "x"]} "#,
        ] {
            reject_duplicate_keys(good.as_bytes()).unwrap();
        }
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        for (bad, line) in [
            (format!(r#"{{"Effect":"Deny","Effect":"{secret}"}}"#), 1),
            (format!("{{\"a\":{{\"k\":1,\n\"k\":\"{secret}\"}}}}"), 2),
            (format!(r#"[{{"x":"{secret}"}},{{"x":1,"x":2}}]"#), 1),
            // Escapes are resolved before names are compared.
            (r#"{"ab":1,"\u0061b":2}"#.to_owned(), 1),
        ] {
            let e = reject_duplicate_keys(bad.as_bytes()).unwrap_err();
            assert_eq!(e.line(), line, "{bad}");
            assert!(e.column() > 0);
            let text = e.to_string();
            assert!(text.contains("duplicate member"), "{text}");
            assert!(!text.contains(secret), "{text}");
        }
        assert!(reject_duplicate_keys(b"{\"a\":1} {}").is_err());
        assert!(reject_duplicate_keys(b"{\"a\":").is_err());
    }

    #[test]
    fn credential_files_with_duplicate_members_refuse_start_by_position() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let dir = temp_dir("dupe-admin");
        let admin = format!(
            "{{\"access_key_id\": \"AKIAAAAAAAAAAAAAAAAA\",\n \"secret_access_key\": \"x\",\n \
             \"secret_access_key\": \"{secret}\", \"account_id\": \"111122223333\", \
             \"principal_arn\": \"arn:aws:iam::111122223333:root\", \"region\": \"eu-west-1\"}}"
        );
        write_private(&dir.join(ADMIN_CREDENTIALS_FILE), admin.as_bytes()).unwrap();
        let e = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap_err();
        assert!(matches!(e, Error::CredentialFile { line: 3, .. }), "{e}");
        assert!(!chain(&e).contains(secret));
        assert!(!dir.join(CREDENTIALS_FILE).exists());
        std::fs::remove_dir_all(&dir).unwrap();

        // A second "administrator" in an entry: serde would take the last one.
        let dir = temp_dir("dupe-store");
        let clock = Arc::new(AtomicI64::new(5));
        let s = open_at(&dir, &clock).unwrap();
        s.create(role("arn:aws:iam::111122223333:user/u", false), &mut ok)
            .unwrap();
        drop(s);
        let text = std::fs::read_to_string(dir.join(CREDENTIALS_FILE)).unwrap();
        let tampered = text.replacen(
            "\"administrator\": false,",
            "\"administrator\": false, \"administrator\": true,",
            1,
        );
        assert_ne!(tampered, text);
        write_private(&dir.join(CREDENTIALS_FILE), tampered.as_bytes()).unwrap();
        assert!(matches!(
            open_at(&dir, &clock),
            Err(Error::CredentialFile { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Rewrites a format-3 file as the previous release wrote it: format 2, every secret
    /// sealed under the format-2 associated data.
    fn downgrade_to_v2(dir: &Path, secrets: &HashMap<String, Vec<u8>>) {
        let mut v = file_json(dir);
        v["format"] = serde_json::json!(2);
        for e in v["credentials"].as_array_mut().unwrap() {
            let mut m = e.clone();
            m.as_object_mut().unwrap().remove("sealed_secret");
            let meta: Meta = serde_json::from_value(m).unwrap();
            let aad = meta.aad(AAD_PREFIX_V2).unwrap();
            let nonce = aead::Nonce::random(&SystemRandom::new()).unwrap();
            let secret = &secrets[&meta.access_key_id];
            let ct = aead::seal(&key(), &nonce, &aad, secret).unwrap();
            let mut blob = nonce.as_bytes().to_vec();
            blob.extend_from_slice(&ct);
            e["sealed_secret"] =
                serde_json::json!(base64::engine::general_purpose::STANDARD.encode(blob));
        }
        write_json(dir, &v);
    }

    #[test]
    fn format_2_is_migrated_and_its_administrators_keep_full_management() {
        let dir = temp_dir("migrate-v2");
        let clock = Arc::new(AtomicI64::new(5));
        let s = open_at(&dir, &clock).unwrap();
        let boot = s.get(&s.bootstrap_access_key_id().unwrap()).unwrap();
        let ops = s
            .create(role("arn:aws:iam::111122223333:user/ops", true), &mut ok)
            .unwrap();
        let app = s
            .create(role("arn:aws:iam::111122223333:role/app", false), &mut ok)
            .unwrap();
        drop(s);
        let secrets: HashMap<String, Vec<u8>> = [&boot, &ops, &app]
            .iter()
            .map(|c| (c.access_key_id().to_owned(), c.secret().expose().to_vec()))
            .collect();
        downgrade_to_v2(&dir, &secrets);
        let v2 = file_json(&dir);

        // A format-3 reader does not take format-2 seals for its own.
        let mut as_v3 = v2.clone();
        as_v3["format"] = serde_json::json!(3);
        write_json(&dir, &as_v3);
        assert!(matches!(
            open_at(&dir, &clock),
            Err(Error::InvalidCredential { .. })
        ));

        write_json(&dir, &v2);
        let s = open_at(&dir, &clock).unwrap();
        assert_eq!(file_json(&dir)["format"], 3);
        let ops2 = s.get(ops.access_key_id()).unwrap();
        assert_eq!(ops2.secret().expose(), ops.secret().expose());
        assert_eq!(
            ops2.stored_identity_policies(),
            [MIGRATED_ADMINISTRATOR_POLICY.to_owned()]
        );
        assert_eq!(ops2.caller().identity_policies.len(), 1);
        let boot2 = s.get(boot.access_key_id()).unwrap();
        assert!(boot2.is_bootstrap() && boot2.stored_identity_policies().is_empty());
        assert!(s
            .get(app.access_key_id())
            .unwrap()
            .stored_identity_policies()
            .is_empty());
        drop(s);
        let s = open_at(&dir, &clock).unwrap();
        assert_eq!(s.len(), 3);
        drop(s);

        // The other way round: a format-3 file labelled format 2, to have its administrators
        // migrated to full management, does not open.
        let mut v = file_json(&dir);
        v["format"] = serde_json::json!(2);
        write_json(&dir, &v);
        assert!(matches!(
            open_at(&dir, &clock),
            Err(Error::InvalidCredential { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn list_visible_filters_before_the_limit() {
        let dir = temp_dir("visible");
        let clock = Arc::new(AtomicI64::new(5));
        let s = open_at(&dir, &clock).unwrap();
        for i in 0..6 {
            let kind = if i % 2 == 0 { "user/app-" } else { "user/db-" };
            s.create(
                role(&format!("arn:aws:iam::111122223333:{kind}{i}"), false),
                &mut ok,
            )
            .unwrap();
        }
        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let page = s.list_visible(2, marker.as_deref(), &mut |c| {
                c.principal_arn().contains(":user/app-")
            });
            assert!(page.credentials.len() == 2 || page.next_marker.is_none());
            seen.extend(
                page.credentials
                    .iter()
                    .map(|c| c.principal_arn().to_owned()),
            );
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            ["app-0", "app-2", "app-4"].map(|n| format!("arn:aws:iam::111122223333:user/{n}"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A set kept in memory; `fail` makes commits fail.
    #[derive(Debug, Default, Clone)]
    struct MemoryBackend {
        set: Arc<Mutex<Option<Vec<u8>>>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl CredentialBackend for MemoryBackend {
        fn location(&self) -> &Path {
            Path::new("memory")
        }

        fn load(&self) -> Result<Option<SecretBytes>, Error> {
            Ok(self.set.lock().clone().map(SecretBytes::new))
        }

        fn commit(&self, set: &[u8]) -> Result<(), Error> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(Error::Io {
                    path: "memory".into(),
                    source: std::io::Error::other("down"),
                });
            }
            *self.set.lock() = Some(set.to_vec());
            Ok(())
        }
    }

    #[test]
    fn another_backend_keeps_the_sealed_set() {
        let dir = temp_dir("backend");
        let backend = MemoryBackend::default();
        let admin = dir.join(ADMIN_CREDENTIALS_FILE);
        let open = |b: &MemoryBackend| {
            CredentialStore::open_with_backend(
                Box::new(b.clone()),
                &admin,
                &init(),
                &SystemRandom::new(),
                key(),
            )
        };
        let s = open(&backend).unwrap();
        assert!(s.created());
        let user = s
            .create(role("arn:aws:iam::111122223333:user/u", false), &mut ok)
            .unwrap();
        let secret = std::str::from_utf8(user.secret().expose())
            .unwrap()
            .to_owned();
        // The backend holds the format-3 set, the secret sealed; no file was written for it.
        let set: serde_json::Value =
            serde_json::from_slice(backend.set.lock().as_deref().unwrap()).unwrap();
        assert_eq!(set["format"], 3);
        assert_eq!(set["credentials"].as_array().unwrap().len(), 2);
        assert!(!set.to_string().contains(&secret));
        assert!(!dir.join(CREDENTIALS_FILE).exists());
        drop(s);
        let s = open(&backend).unwrap();
        assert!(!s.created());
        assert_eq!(
            s.get(user.access_key_id()).unwrap().secret().expose(),
            secret.as_bytes()
        );
        // A commit that fails changes nothing, and says so as an internal error.
        backend.fail.store(true, Ordering::SeqCst);
        let e = s
            .create(role("arn:aws:iam::111122223333:user/v", false), &mut ok)
            .unwrap_err();
        assert_eq!(e.code(), "KMSInternalException");
        assert_eq!(s.len(), 2);
        let e = s.revoke(user.access_key_id(), &mut ok).unwrap_err();
        assert_eq!(e.code(), "KMSInternalException");
        assert!(s.get(user.access_key_id()).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The principal rules are coffer-core's `PrincipalArn` (AWS's), where the store's own
    /// check once disagreed with `Caller::new`.
    #[test]
    fn principals_follow_the_one_principal_arn_rule() {
        let dir = temp_dir("principal-rule");
        let clock = Arc::new(AtomicI64::new(5));
        let s = open_at(&dir, &clock).unwrap();
        // Partitions AWS documents beyond the three the store took; a path with printable
        // ASCII and an empty segment inside.
        for good in [
            "arn:aws-iso:iam::111122223333:user/u",
            "arn:aws-iso-b:iam::111122223333:role/app",
            "arn:aws:iam::111122223333:user/a//b/u",
            "arn:aws:iam::111122223333:role/team~1/app",
        ] {
            let c = s.create(role(good, false), &mut ok).unwrap();
            assert_eq!(c.principal_arn(), good);
            assert_eq!(c.account_id(), "111122223333");
        }
        // Names longer than IAM's 64 characters, names with other characters, a session,
        // an unknown partition: the store took the first two.
        let long = format!("arn:aws:iam::111122223333:user/{}", "n".repeat(65));
        for bad in [
            long.as_str(),
            "arn:aws:iam::111122223333:user/a:b",
            "arn:aws:sts::111122223333:assumed-role/app/session",
            "arn:example:iam::111122223333:user/u",
            "arn:aws:iam::111122223333:user//u",
        ] {
            let e = s.create(role(bad, false), &mut ok).unwrap_err();
            assert_eq!(e.code(), "ValidationException", "{bad}");
            assert!(e.to_string().starts_with("PrincipalArn must be"), "{e}");
        }
        // A session is a principal, just not one a lasting access key belongs to.
        assert!(coffer_core::PrincipalArn::parse(
            "arn:aws:sts::111122223333:assumed-role/app/session"
        )
        .is_ok());
        // Restarted, the created ones load under the same rule.
        drop(s);
        assert_eq!(open_at(&dir, &clock).unwrap().len(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_name_their_exception() {
        for (e, code) in [
            (Error::Validation("v".into()), "ValidationException"),
            (
                Error::MalformedPolicyDocument("m".into()),
                "MalformedPolicyDocumentException",
            ),
            (Error::LimitExceeded("l".into()), "LimitExceededException"),
            (not_found("AKIAX"), "NotFoundException"),
            (Error::InvalidState("s".into()), "KMSInvalidStateException"),
            (Error::Internal("i".into()), "KMSInternalException"),
            (Error::Config("c"), "KMSInternalException"),
        ] {
            assert_eq!(e.code(), code, "{e:?}");
        }
        assert_eq!(
            not_found("AKIAX").to_string(),
            "Access key AKIAX does not exist (or was revoked, or has expired)."
        );
    }
}
