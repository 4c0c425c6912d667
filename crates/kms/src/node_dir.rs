//! A node directory: one node of several serving the same keys from a shared database.
//!
//! [`DataDir`](crate::DataDir) keeps everything in one directory; a [`NodeDir`] splits it:
//!
//! - the **shared store** ([`SharedStore`]: cofferd's is PostgreSQL) holds keys, versions,
//!   aliases, grants, and the named values every node needs alike: the root-key check value,
//!   the marker key and the sealing keys (wrapped under the root key), and each node's wrapped
//!   audit signing key (`audit.key.node.<node id>`);
//! - the **local directory** (held with an exclusive lock on `node.lock` while open) holds the
//!   node's id (`node-id`, made on first open), its own audit log and the audit public key.
//!
//! The root key stays outside both (a key file, a passphrase, an HSM). The first node to open
//! an empty database records the check value; every later open, by any node, verifies it
//! first: a node given another root key is refused with a clear error and changes nothing.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_crypto::{RandomSource, SymmetricKey};
use coffer_keys::RootKey;
use coffer_store::{Store, StoreError};

use crate::data_dir::{
    fail, open_audit, open_root, private_file, sealing_key_in, store_fail, write_private,
    MetaValues, AUDIT_DIR, AUDIT_PUBLIC_KEY_FILE,
};
use crate::{DataDirOptions, Error, Kms, KmsBuilder, RootKeySource};

/// The node id's file in the local directory.
pub const NODE_ID_FILE: &str = "node-id";
/// The lock file of the local directory.
pub const NODE_LOCK_FILE: &str = "node.lock";
/// Prefix of the meta names of the nodes' audit signing keys.
const META_NODE_AUDIT: &str = "audit.key.node.";

/// A database several nodes share: its [`Store`] and its named values.
pub trait SharedStore: Send + Sync {
    /// The store (keys, versions, aliases, grants).
    fn store(&self) -> Arc<dyn Store>;
    /// The value named `name`.
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `values`, all or none, unless one of them exists (another node set it first):
    /// whether they were set.
    fn insert_meta(&self, values: &[(&str, &[u8])]) -> Result<bool, StoreError>;
    /// How many keys the database holds.
    fn key_count(&self) -> Result<u64, StoreError>;
    /// Where the database is, for errors and logs (never a password).
    fn location(&self) -> String;
}

struct Values<'a>(&'a dyn SharedStore);

impl MetaValues for Values<'_> {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.meta(name)
    }

    fn set_new(&self, values: &[(&str, &[u8])]) -> Result<bool, StoreError> {
        self.0.insert_meta(values)
    }

    fn key_count(&self) -> Result<u64, StoreError> {
        self.0.key_count()
    }
}

/// An open node directory over a shared database. Cheap to clone; the local directory stays
/// locked while any clone, or any [`Kms`] built from it, is alive.
#[derive(Clone)]
pub struct NodeDir {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    node_id: String,
    shared: Arc<dyn SharedStore>,
    store: Arc<dyn Store>,
    root: Arc<dyn RootKey>,
    marker: SymmetricKey,
    rng: Arc<dyn RandomSource>,
    audit: Arc<coffer_audit::FileSink>,
    sealing: parking_lot::Mutex<()>,
    tightened: Vec<PathBuf>,
    _lock: File,
}

impl fmt::Debug for NodeDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeDir")
            .field("path", &self.inner.path)
            .field("node_id", &self.inner.node_id)
            .field("database", &self.inner.shared.location())
            .finish_non_exhaustive()
    }
}

/// Whether `id` may be a node id: 1 to 64 ASCII letters, digits, `-` or `_`.
fn valid_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl NodeDir {
    /// Opens (creating on first use) the local directory `path` of a node serving the keys of
    /// `shared`, with the root key from `source`; `options` as for a data directory (its
    /// random source and audit log settings; parts do not apply: shared state is in the
    /// database).
    ///
    /// Fails, changing nothing, if the local directory is in use, the database cannot be
    /// reached, or the root key is not the one the database was first opened with.
    pub fn open(
        path: impl AsRef<Path>,
        shared: Arc<dyn SharedStore>,
        source: RootKeySource,
        options: DataDirOptions,
    ) -> Result<Self, Error> {
        let (rng, audit) = options.into_parts();
        let path = path.as_ref().to_path_buf();
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)
                .map_err(|e| fail(&path, "cannot be created", Some(Box::new(e))))?;
        }
        let lock = lock_dir(&path)?;
        let node_id = node_id(&path, rng.as_ref())?;
        let values = Values(shared.as_ref());
        let (root, marker) = open_root(&path, &values, source, &rng)?;
        let audit_name = format!("{META_NODE_AUDIT}{node_id}");
        let has_key = values
            .get(&audit_name)
            .map_err(|e| store_fail(&path, e))?
            .is_some();
        let local_log = path.join(AUDIT_DIR).is_dir() || path.join(AUDIT_PUBLIC_KEY_FILE).exists();
        if has_key != local_log {
            let what = if has_key {
                "the database holds this node's audit signing key but its audit log or public \
                 key is missing from the directory: refusing to start a new log (nothing was \
                 changed)"
            } else {
                "an audit log or public key is present but the database holds no signing key for \
                 this node id: it belongs to another database (nothing was changed)"
            };
            return Err(fail(&path, what, None));
        }
        let audit = open_audit(
            &path,
            &values,
            &audit_name,
            root.as_ref(),
            rng.as_ref(),
            // Every event names the node that served it: logs of several nodes verify apart
            // and read together.
            audit.node_id(node_id.clone()),
        )?;
        let mut tightened = audit.tightened_permissions().to_vec();
        if private_file(&path.join(AUDIT_PUBLIC_KEY_FILE))? {
            tightened.push(path.join(AUDIT_PUBLIC_KEY_FILE));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                node_id,
                store: shared.store(),
                shared,
                root,
                marker,
                rng,
                audit,
                sealing: parking_lot::Mutex::new(()),
                tightened,
                _lock: lock,
            }),
        })
    }

    /// The local directory's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// This node's id (made at its first open, kept in `node-id`).
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// Files that opening restricted to their owner (see [`DataDir::tightened_permissions`]).
    ///
    /// [`DataDir::tightened_permissions`]: crate::DataDir::tightened_permissions
    pub fn tightened_permissions(&self) -> &[PathBuf] {
        &self.inner.tightened
    }

    /// The shared store.
    pub fn shared(&self) -> Arc<dyn SharedStore> {
        self.inner.shared.clone()
    }

    /// A [`KmsBuilder`] with the shared store, root key, marker key, random source and this
    /// node's audit log set.
    pub fn builder(&self) -> KmsBuilder {
        Kms::builder()
            .store(self.inner.store.clone())
            .root_key(self.inner.root.clone())
            .marker_key(self.inner.marker.clone())
            .random(self.inner.rng.clone())
            .audit_sink(self.inner.audit.clone())
    }

    /// This node's audit log.
    pub fn audit_log(&self) -> Arc<coffer_audit::FileSink> {
        self.inner.audit.clone()
    }

    /// The sealing key for `purpose`, the same on every node (see [`DataDir::sealing_key`]).
    ///
    /// [`DataDir::sealing_key`]: crate::DataDir::sealing_key
    pub fn sealing_key(&self, purpose: &str) -> Result<SymmetricKey, Error> {
        let _guard = self.inner.sealing.lock();
        sealing_key_in(
            &self.inner.path,
            &Values(self.inner.shared.as_ref()),
            self.inner.root.as_ref(),
            self.inner.rng.as_ref(),
            purpose,
        )
    }
}

fn lock_dir(path: &Path) -> Result<File, Error> {
    let file_path = path.join(NODE_LOCK_FILE);
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let file = o
        .open(&file_path)
        .map_err(|e| fail(path, "cannot open the lock file", Some(Box::new(e))))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(fail(
            path,
            "in use by another coffer node (another process, or another open in this one)",
            None,
        )),
        Err(fs4::TryLockError::Error(e)) => {
            Err(fail(path, "cannot lock the directory", Some(Box::new(e))))
        }
    }
}

/// The node id kept in the directory, made (16 random hex digits) on first open.
fn node_id(path: &Path, rng: &dyn RandomSource) -> Result<String, Error> {
    let file = path.join(NODE_ID_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let id = text.trim().to_owned();
            if !valid_node_id(&id) {
                return Err(fail(
                    path,
                    format_args!("{NODE_ID_FILE} is not 1 to 64 letters, digits, '-' or '_'"),
                    None,
                ));
            }
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = [0u8; 8];
            rng.fill(&mut b)
                .map_err(|e| fail(path, "cannot draw a node id", Some(Box::new(e))))?;
            let id = coffer_crypto::hex::encode(&b);
            write_private(&file, format!("{id}\n").as_bytes())
                .map_err(|e| fail(path, "cannot write the node id", Some(Box::new(e))))?;
            Ok(id)
        }
        Err(e) => Err(fail(path, "cannot read the node id", Some(Box::new(e)))),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_node_id;

    #[test]
    fn node_ids_are_short_plain_names() {
        assert!(valid_node_id("a1b2c3d4e5f60718"));
        assert!(valid_node_id("node-A_1"));
        assert!(!valid_node_id(""));
        assert!(!valid_node_id("../x"));
        assert!(!valid_node_id(&"a".repeat(65)));
    }
}
