//! cofferd as one node of several on a shared PostgreSQL database (`[store] url`).
//!
//! The database holds keys, versions, aliases, grants, policies, the shared named values (the
//! root-key check value, the marker and sealing keys, each node's wrapped audit signing key)
//! and the credential set (the named value [`CREDENTIALS_META`], sealed as in
//! `credentials.json`). The node's `data_dir` holds its lock, its id and its own audit log
//! ([`coffer::NodeDir`]).
//!
//! Cache coherence: every committed change to a key, alias, grant or the credential set is
//! announced by a trigger (NOTIFY); the node's [`Watcher`] drops what it cached on each, and
//! confirms by a heartbeat on the listening connection that it has seen everything up to a
//! recent moment. A request arriving while that moment is older than the bound
//! (`store.coherence_bound_ms`, default 1 s) is refused with a retryable 500
//! (KMSInternalException) rather than served from what may be stale.
//!
//! Maintenance (deletions, rotations) runs on one node at a time: the sweep takes a
//! PostgreSQL advisory lock without waiting and skips its turn when another node holds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer::Kms;
use coffer_credentials::{CredentialBackend, CredentialStore};
use coffer_crypto::SecretBytes;
use coffer_store::StoreError;
use coffer_store_postgres::{Change, PostgresOptions, PostgresStore, Watcher};

use crate::config::Config;
use crate::Error;

/// The named value holding the shared credential set.
pub const CREDENTIALS_META: &str = "credentials";
/// The advisory lock the maintenance sweep takes (ASCII `coffer-s`).
const MAINTENANCE_LOCK: i64 = 0x636f_6666_6572_2d73;
/// How often the watcher proves it is current.
const HEARTBEAT: Duration = Duration::from_millis(200);
/// How long a starting node waits for its watcher to confirm before it serves anyway (its
/// requests are refused until it does).
const FIRST_CONFIRM: Duration = Duration::from_secs(10);

/// The shared database as [`coffer::NodeDir`] uses it.
struct Shared(Arc<PostgresStore>);

impl coffer::SharedStore for Shared {
    fn store(&self) -> Arc<dyn coffer::Store> {
        self.0.clone()
    }

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.meta(name)
    }

    fn insert_meta(&self, values: &[(&str, &[u8])]) -> Result<bool, StoreError> {
        self.0.insert_meta(values)
    }

    fn key_count(&self) -> Result<u64, StoreError> {
        self.0.key_count()
    }

    fn location(&self) -> String {
        format!("postgres {}", self.0.target())
    }
}

/// The credential set in the shared database (named value [`CREDENTIALS_META`]).
#[derive(Debug)]
struct Credentials {
    store: Arc<PostgresStore>,
    location: PathBuf,
}

fn credential_error(e: StoreError) -> coffer_credentials::Error {
    coffer_credentials::Error::Internal(format!(
        "the shared credential store: {}",
        crate::error_chain(&e)
    ))
}

impl CredentialBackend for Credentials {
    fn location(&self) -> &Path {
        &self.location
    }

    fn load(&self) -> Result<Option<SecretBytes>, coffer_credentials::Error> {
        Ok(self
            .store
            .meta(CREDENTIALS_META)
            .map_err(credential_error)?
            .map(SecretBytes::new))
    }

    fn commit(&self, set: &[u8]) -> Result<(), coffer_credentials::Error> {
        self.store
            .set_meta(&[(CREDENTIALS_META, set)])
            .map_err(credential_error)
    }

    fn shared(&self) -> bool {
        true
    }

    fn commit_if(
        &self,
        set: &[u8],
        expected: Option<&[u8]>,
    ) -> Result<bool, coffer_credentials::Error> {
        self.store
            .swap_meta(CREDENTIALS_META, expected, set)
            .map_err(credential_error)
    }
}

/// Connects to the database `config.store` names, with the password from its file or
/// variable if one is given.
pub(crate) fn connect(config: &Config) -> Result<Arc<PostgresStore>, Error> {
    let settings = &config.store;
    let url = settings
        .url
        .as_ref()
        .ok_or(Error::Config("store.url: missing"))?;
    let mut options = PostgresOptions::default();
    options.max_connections = settings.max_connections;
    if let Some(file) = &settings.password_file {
        crate::config_file::check_private(file)?;
        let mut bytes = std::fs::read(file).map_err(Error::io(file))?;
        let text = std::str::from_utf8(&bytes)
            .map(|t| t.strip_suffix('\n').unwrap_or(t))
            .map(|t| t.strip_suffix('\r').unwrap_or(t).to_owned());
        coffer_crypto::wipe(&mut bytes);
        let text = text.map_err(|_| Error::Config("store.password_file: not UTF-8"))?;
        if text.is_empty() {
            return Err(Error::Config("store.password_file: empty"));
        }
        options.password = Some(text);
    }
    if let Some(var) = &settings.password_env {
        let value = std::env::var(var).map_err(|_| {
            Error::Config("store.password_env: the variable is not set (or not UTF-8)")
        })?;
        if value.is_empty() {
            return Err(Error::Config("store.password_env: the variable is empty"));
        }
        options.password = Some(value);
    }
    let store = PostgresStore::connect_with(url.expose(), options)
        .map_err(|e| Error::Kms(coffer::Error::from(e)))?;
    tracing::info!(database = %store.target(), schema = coffer_store_postgres::SCHEMA_VERSION, "connected to the shared database");
    Ok(Arc::new(store))
}

/// An open node: its directory over the shared database.
pub(crate) struct Node {
    pub(crate) dir: coffer::NodeDir,
    pub(crate) db: Arc<PostgresStore>,
}

/// Opens this node's directory `config.data_dir` over the database `config.store` names.
pub(crate) fn open_node(
    config: &Config,
    source: coffer::RootKeySource,
    options: coffer::DataDirOptions,
) -> Result<Node, Error> {
    let db = connect(config)?;
    let dir = coffer::NodeDir::open(
        &config.data_dir,
        Arc::new(Shared(db.clone())),
        source,
        options,
    )
    .map_err(Error::Kms)?;
    tracing::info!(node_id = dir.node_id(), "node directory open");
    Ok(Node { dir, db })
}

/// The credential store of a node: the shared set, the bootstrap administrator's file (made
/// by the node that starts first) in its data dir.
pub(crate) fn open_credentials(
    node: &Node,
    data_dir: &Path,
    init: &coffer_credentials::InitOptions,
) -> Result<CredentialStore, Error> {
    let sealing = node
        .dir
        .sealing_key(coffer_credentials::SEALING_PURPOSE)
        .map_err(Error::Kms)?;
    let backend = Credentials {
        store: node.db.clone(),
        location: PathBuf::from(format!(
            "postgres {} (named value {CREDENTIALS_META})",
            node.db.target()
        )),
    };
    Ok(CredentialStore::open_with_backend(
        Box::new(backend),
        &data_dir.join(coffer_credentials::ADMIN_CREDENTIALS_FILE),
        init,
        &coffer::SystemRandom::new(),
        sealing,
    )?)
}

/// What a running node keeps of the cluster: the watcher, the bound, the database.
pub(crate) struct Cluster {
    watcher: Watcher,
    bound: Duration,
    db: Arc<PostgresStore>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("bound", &self.bound)
            .field("database", &self.db.target())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Starts watching the database for changes, dropping what `kms` and `creds` cached as
    /// they come; waits (a while) for the first confirmation.
    pub(crate) fn start(
        db: Arc<PostgresStore>,
        kms: Arc<Kms>,
        creds: Arc<CredentialStore>,
        bound: Duration,
    ) -> Self {
        // A credential set that cannot be reloaded is not applied: the watcher then confirms
        // nothing (requests are refused after the bound) until a resync reloads it.
        let reload = move |creds: &CredentialStore| match creds.refresh() {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %crate::error_chain(&e), "reloading the shared credentials failed");
                false
            }
        };
        let on_change = move |change: Change| match change {
            Change::Key(id) | Change::Alias(id) => {
                kms.forget_cached_key(&coffer::KeyId::from_bytes(id));
                true
            }
            Change::Meta(name) if name.starts_with(CREDENTIALS_META) => reload(&creds),
            Change::Meta(_) => true,
            _ => {
                kms.forget_cache();
                reload(&creds)
            }
        };
        let watcher = db.watch(HEARTBEAT, Box::new(on_change));
        let deadline = Instant::now() + FIRST_CONFIRM;
        while watcher.confirmed_at().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { watcher, bound, db }
    }

    /// Whether every change another node committed more than the bound ago has been applied
    /// here.
    pub(crate) fn fresh(&self) -> bool {
        self.watcher.is_fresh(self.bound)
    }

    /// The bound.
    pub(crate) fn bound(&self) -> Duration {
        self.bound
    }

    /// Runs `sweep` if no other node is sweeping (the maintenance advisory lock): `None` when
    /// another node holds it.
    pub(crate) fn exclusively<T>(&self, sweep: impl FnOnce() -> T) -> Result<Option<T>, Error> {
        self.db
            .with_exclusive(MAINTENANCE_LOCK, sweep)
            .map_err(|e| Error::Kms(coffer::Error::from(e)))
    }

    /// The store probe of `/healthz`: a one-row write, as on SQLite.
    pub(crate) fn probe(&self, node_id: &str) -> crate::health::Probe {
        let db = self.db.clone();
        let row = format!("health_probe.{node_id}");
        Box::new(move || {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            db.set_meta(&[(&row, &now.to_be_bytes())])
                .map_err(crate::health::Cause::from)
        })
    }
}
