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

/// Checks a `kms:ViaService` value: a lowercase DNS name (letters, digits, `-`, `.`), at most
/// 128 characters, with at least one dot, such as `s3.us-east-1.amazonaws.com`.
fn check_via_service(v: &str) -> Result<(), Error> {
    let ok = (3..=128).contains(&v.len())
        && v.contains('.')
        && !v.starts_with('.')
        && !v.ends_with('.')
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::Validation(
            "ViaService must be a service endpoint name such as s3.us-east-1.amazonaws.com.".into(),
        ))
    }
}

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
    /// The service this credential's calls come through (`kms:ViaService`): the credential of
    /// a trusted integration acting for its principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    via_service: Option<String>,
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

    /// The service this credential's calls come through (`kms:ViaService`), if it is bound
    /// to one.
    pub fn via_service(&self) -> Option<&str> {
        self.meta.via_service.as_deref()
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
    /// The service the credential's calls come through (`kms:ViaService`, e.g.
    /// `s3.us-east-1.amazonaws.com`): the credential of an integration acting for the principal,
    /// which may use the principal's AWS managed key `alias/aws/<service>`.
    pub via_service: Option<String>,
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
    /// The set as last loaded or committed (what a shared backend's `commit_if` expects).
    loaded: Mutex<Option<SecretBytes>>,
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
            loaded: Mutex::new(None),
            created: false,
        };
        if store.admin_path.exists() {
            check_private(&store.admin_path)?;
        }
        if let Some(set) = store.backend.load()? {
            store.load(&set)?;
            return Ok(store);
        }
        store.create_first(init, rng)?;
        Ok(store)
    }

    /// The first start: the bootstrap administrator (recovered from its file if an earlier
    /// first start was cut short). With a shared backend another node may make the first set
    /// at the same moment: then that set is loaded instead.
    fn create_first(&mut self, init: &InitOptions, rng: &dyn RandomSource) -> Result<(), Error> {
        let store = self;
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
            via_service: None,
        };
        let secret = SecretBytes::copy_from(admin.secret_access_key.as_bytes());
        let cred = store
            .build(meta, secret, rng)
            .map_err(|what| store.invalid(what))?;
        let mut map = HashMap::new();
        map.insert(cred.meta.access_key_id.clone(), Arc::new(cred));
        if !store.try_write_set(&map)? {
            // Another node made the first set: ours is not used (nor its admin file).
            let _ = wipe_and_remove(&store.admin_path);
            let set = store.backend.load()?.ok_or_else(|| {
                internal("the shared credential set vanished while it was made".into())
            })?;
            return store.load(&set);
        }
        *store.by_key.get_mut() = map;
        store.created = true;
        Ok(())
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
                        via_service: None,
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
        if format.format == FORMAT {
            *self.loaded.get_mut() = Some(bytes.clone());
        }
        *self.by_key.get_mut() = map;
        Ok(())
    }

    /// Reads the set again from a shared backend (another node may have changed it) and
    /// makes it current: whether it had changed. A no-op (`false`) for a backend one process
    /// holds. Only format 3 is read here (an older one is migrated at open).
    pub fn refresh(&self) -> Result<bool, Error> {
        if !self.backend.shared() {
            return Ok(false);
        }
        let _guard = self.change.lock();
        self.refresh_locked()?;
        self.refresh_locked()
    }

    /// [`CredentialStore::refresh`] with the change lock held.
    fn refresh_locked(&self) -> Result<bool, Error> {
        if !self.backend.shared() {
            return Ok(false);
        }
        let Some(bytes) = self.backend.load()? else {
            return Err(self.invalid("the shared credential set is missing"));
        };
        if self
            .loaded
            .lock()
            .as_ref()
            .is_some_and(|b| b.expose() == bytes.expose())
        {
            return Ok(false);
        }
        let path = self.backend.location().to_owned();
        reject_duplicate_keys(bytes.expose()).map_err(Error::credential_file(&path))?;
        let format: FormatOnly =
            serde_json::from_slice(bytes.expose()).map_err(Error::credential_file(&path))?;
        if format.format != FORMAT {
            return Err(self.invalid("format"));
        }
        let file: StoreFile =
            serde_json::from_slice(bytes.expose()).map_err(Error::credential_file(&path))?;
        self.check_region(&file.region)?;
        let now = (self.now)();
        let mut map = HashMap::new();
        for e in file.credentials {
            let cred = self
                .open_entry(e, AAD_PREFIX)
                .map_err(|what| self.invalid(what))?;
            if cred.expired(now) {
                continue;
            }
            let k = cred.meta.access_key_id.clone();
            if map.insert(k, Arc::new(cred)).is_some() {
                return Err(self.invalid("duplicate access_key_id"));
            }
        }
        *self.by_key.write() = map;
        *self.loaded.lock() = Some(bytes);
        Ok(true)
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
        if let Some(v) = &meta.via_service {
            caller = caller.with_via_service(v.clone());
        }
        if let Some(c) = self.configured.get(&meta.principal_arn) {
            caller.identity_policies.extend(c.policies.iter().cloned());
            for (k, v) in &c.tags {
                caller = caller.with_tag(k.clone(), v.clone());
            }
        }
        Ok(caller.with_access_key_id(meta.access_key_id.clone()))
    }

    /// Commits `map` (without expired entries) to the backend, atomically and durably; fails
    /// if another node changed the shared set since this store read it.
    fn write_set(&self, map: &HashMap<String, Arc<Credential>>) -> Result<(), Error> {
        if self.try_write_set(map)? {
            Ok(())
        } else {
            Err(internal(
                "another node changed the credential store at the same moment: nothing was \
                 changed; retry"
                    .into(),
            ))
        }
    }

    /// [`CredentialStore::write_set`]: `Ok(false)`, committing nothing, when another node
    /// changed the shared set first.
    fn try_write_set(&self, map: &HashMap<String, Arc<Credential>>) -> Result<bool, Error> {
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
        let mut loaded = self.loaded.lock();
        let done = self
            .backend
            .commit_if(&json, loaded.as_ref().map(SecretBytes::expose))?;
        if done {
            *loaded = Some(SecretBytes::new(json));
        }
        Ok(done)
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
        if let Some(v) = &req.via_service {
            check_via_service(v)?;
        }
        if let Some(d) = &req.description {
            if d.chars().count() > MAX_DESCRIPTION {
                return Err(Error::Validation(format!(
                    "Description is longer than {MAX_DESCRIPTION} characters."
                ))
                .into());
            }
        }
        let _guard = self.change.lock();
        self.refresh_locked()?;
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
            via_service: req.via_service,
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
        self.refresh_locked()?;
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
        self.refresh_locked()?;
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
        self.refresh_locked()?;
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
#[path = "store_tests.rs"]
mod tests;
