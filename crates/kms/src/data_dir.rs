//! A data directory: the durable home of a [`Kms`], opened in one call.
//!
//! A data directory holds one SQLite database ([`SqliteStore`]: keys, wrapped backing-key
//! versions, aliases) and a lock file; it is held exclusively while open. The root key comes from
//! a [`RootKeySource`]: a key file (kept *outside* the directory, so that a copy of the
//! directory is not a copy of the key), a passphrase (Argon2id; salt and cost parameters are
//! kept in the database), or any [`RootKey`] (an HSM).
//!
//! On first open the directory records a root-key check value (a known value wrapped under the
//! root key) and the list-marker key (random, wrapped under the root key), so markers stay valid
//! across restarts. Every later open verifies the check value first: the wrong root key fails
//! with a clear error and changes nothing.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_crypto::{constant_time_eq, RandomSource, SecretBytes, SymmetricKey, SystemRandom};
use coffer_keys::{KeyFile, PassphraseRoot, RootKey};
use coffer_store::StoreError;

use crate::{Error, InternalCause, Kms, KmsBuilder};

pub use coffer_crypto::Argon2Params;
pub use coffer_store::SqliteStore;

const META_KIND: &str = "root.kind";
const META_PASSPHRASE: &str = "root.passphrase";
const META_CHECK: &str = "root.check";
const META_MARKER: &str = "marker.key";

const AAD_CHECK: &[u8] = b"coffer/root-check/v1";
const AAD_MARKER: &[u8] = b"coffer/marker-key/v1";
const META_AUDIT: &str = "audit.key";
/// Prefix of the meta names of [`DataDir::sealing_key`]s.
const META_SEALING: &str = "sealing.";
const AAD_SEALING: &[u8] = b"coffer/sealing-key/v1/";
const AAD_AUDIT: &[u8] = b"coffer/audit-signing-key/v1";
/// The audit log's directory inside the data directory.
pub const AUDIT_DIR: &str = "audit";
/// The audit public key (hex), written beside the log for operators to pin elsewhere.
pub const AUDIT_PUBLIC_KEY_FILE: &str = "audit-public-key.hex";

/// Where the root key of a data directory comes from.
pub enum RootKeySource {
    /// A key file of 32 random bytes, created (mode 0600) when the directory is first opened.
    /// Keep it outside the data directory.
    KeyFile(PathBuf),
    /// A passphrase, stretched with Argon2id. `params` apply when the directory is created; an
    /// existing directory uses the parameters it recorded.
    Passphrase {
        /// The passphrase.
        passphrase: SecretBytes,
        /// Argon2id cost for a new directory.
        params: Argon2Params,
    },
    /// A root key held elsewhere (an HSM): used as given.
    Custom(Arc<dyn RootKey>),
}

impl RootKeySource {
    /// A key file at `path`.
    pub fn key_file(path: impl Into<PathBuf>) -> Self {
        Self::KeyFile(path.into())
    }

    /// A passphrase, with the default Argon2id cost for a new directory.
    pub fn passphrase(passphrase: SecretBytes) -> Self {
        Self::Passphrase {
            passphrase,
            params: Argon2Params::DEFAULT,
        }
    }

    fn kind(&self) -> &'static [u8] {
        match self {
            Self::KeyFile(_) => b"key-file",
            Self::Passphrase { .. } => b"passphrase",
            Self::Custom(_) => b"custom",
        }
    }
}

impl fmt::Debug for RootKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyFile(p) => f.debug_tuple("KeyFile").field(p).finish(),
            Self::Passphrase { params, .. } => f
                .debug_struct("Passphrase")
                .field("passphrase", &"[redacted]")
                .field("params", params)
                .finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// How a data directory is opened, beyond its path and root key. Build with
/// [`DataDirOptions::default`] and the setters.
#[derive(Clone)]
pub struct DataDirOptions {
    rng: Arc<dyn RandomSource>,
    audit: coffer_audit::FileSinkOptions,
}

impl Default for DataDirOptions {
    fn default() -> Self {
        Self {
            rng: Arc::new(SystemRandom::new()),
            audit: coffer_audit::FileSinkOptions::default(),
        }
    }
}

impl fmt::Debug for DataDirOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataDirOptions")
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

impl DataDirOptions {
    /// The random source (default: the system's).
    #[must_use]
    pub fn random(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.rng = rng;
        self
    }

    /// How the audit log behaves: durability, failure mode, file size (default
    /// [`FileSinkOptions::default`](coffer_audit::FileSinkOptions::default): fsync before a call
    /// returns, fail closed).
    #[must_use]
    pub fn audit(mut self, audit: coffer_audit::FileSinkOptions) -> Self {
        self.audit = audit;
        self
    }
}

/// An open data directory: its store, root key and marker key. Cheap to clone; the directory
/// stays locked while any clone, or any [`Kms`] built from it, is alive.
#[derive(Clone)]
pub struct DataDir {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    store: Arc<SqliteStore>,
    root: Arc<dyn RootKey>,
    marker: SymmetricKey,
    rng: Arc<dyn RandomSource>,
    audit: Arc<coffer_audit::FileSink>,
    sealing: parking_lot::Mutex<()>,
    tightened: Vec<PathBuf>,
}

impl fmt::Debug for DataDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataDir")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// An error at open time, with a message for the operator and the typed cause kept.
fn fail(path: &Path, what: impl fmt::Display, cause: Option<InternalCause>) -> Error {
    Error::Internal {
        message: format!("data directory {}: {what}", path.display()),
        source: cause,
    }
}

fn store_fail(path: &Path, e: StoreError) -> Error {
    let what = match &e {
        StoreError::Locked { .. } => {
            "in use by another coffer (another process, or another open in this one)".to_owned()
        }
        other => other.to_string(),
    };
    fail(path, what, Some(Box::new(e)))
}

impl DataDir {
    /// Opens (creating on first use) the data directory at `path` with the system random
    /// source.
    pub fn open(path: impl AsRef<Path>, source: RootKeySource) -> Result<Self, Error> {
        Self::open_with_random(path, source, Arc::new(SystemRandom::new()))
    }

    /// Opens (creating on first use) the data directory at `path`, drawing randomness from
    /// `rng`.
    ///
    /// Fails, changing nothing, if the directory is in use, its database is damaged or from a
    /// newer coffer, or the root key is not the one the directory was created with.
    pub fn open_with_random(
        path: impl AsRef<Path>,
        source: RootKeySource,
        rng: Arc<dyn RandomSource>,
    ) -> Result<Self, Error> {
        Self::open_with_options(path, source, DataDirOptions::default().random(rng))
    }

    /// Opens (creating on first use) the data directory at `path` with `options`; fails as
    /// [`DataDir::open_with_random`] does.
    pub fn open_with_options(
        path: impl AsRef<Path>,
        source: RootKeySource,
        options: DataDirOptions,
    ) -> Result<Self, Error> {
        let DataDirOptions { rng, audit } = options;
        let path = path.as_ref().to_path_buf();
        if let Some(anchors) = audit.anchor_dir_path() {
            // Anchors kept with the log are cut or replaced with it: they must live elsewhere.
            let inside = std::path::absolute(anchors)
                .ok()
                .zip(std::path::absolute(&path).ok())
                .is_some_and(|(a, d)| a.starts_with(d));
            if inside {
                return Err(fail(
                    &path,
                    format_args!(
                        "the audit anchor directory {} is inside the data directory: keep it \
                     elsewhere (another volume), or a cut of the directory cuts the anchors too",
                        anchors.display()
                    ),
                    None,
                ));
            }
        }
        // Wrapped keys, credentials and the audit log live here: owner only. The store creates
        // the directory 0700 and its files 0600, and tightens looser ones it finds.
        let store = SqliteStore::open(&path).map_err(|e| store_fail(&path, e))?;
        let mut tightened = store.tightened_permissions().to_vec();
        let meta = |name| store.meta(name).map_err(|e| store_fail(&path, e));
        let (root, marker) = match meta(META_CHECK)? {
            None => {
                let keys = store.key_count().map_err(|e| store_fail(&path, e))?;
                if keys > 0 {
                    return Err(fail(
                        &path,
                        "the root-key check value is missing from a database that holds keys (damaged)",
                        None,
                    ));
                }
                initialize(&path, &store, source, &rng)?
            }
            Some(check) => {
                let kind = meta(META_KIND)?.unwrap_or_default();
                if kind != source.kind() {
                    return Err(fail(
                        &path,
                        format_args!(
                            "it was created with a {} root key, not a {}",
                            String::from_utf8_lossy(&kind),
                            String::from_utf8_lossy(source.kind())
                        ),
                        None,
                    ));
                }
                let root = existing_root(&path, source, &rng, meta(META_PASSPHRASE)?)?;
                verify(&path, root.as_ref(), &check)?;
                let wrapped = meta(META_MARKER)?.ok_or_else(|| {
                    fail(&path, "the stored marker key is missing (damaged)", None)
                })?;
                let marker = root.unwrap(AAD_MARKER, &wrapped).map_err(|e| {
                    fail(&path, "the stored marker key is damaged", Some(Box::new(e)))
                })?;
                (root, marker)
            }
        };
        let audit = open_audit(&path, &store, root.as_ref(), rng.as_ref(), audit)?;
        tightened.extend_from_slice(audit.tightened_permissions());
        if private_file(&path.join(AUDIT_PUBLIC_KEY_FILE))? {
            tightened.push(path.join(AUDIT_PUBLIC_KEY_FILE));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                tightened,
                store: Arc::new(store),
                root,
                marker,
                rng,
                audit,
                sealing: parking_lot::Mutex::new(()),
            }),
        })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The directory and files that opening found open to group or others and restricted to
    /// their owner (directories 0700, files 0600): empty unless an older coffer or an operator
    /// loosened them. Opening tightens rather than refuses; log these paths so the operator
    /// knows (cofferd does).
    pub fn tightened_permissions(&self) -> &[PathBuf] {
        &self.inner.tightened
    }

    /// The store.
    pub fn store(&self) -> Arc<SqliteStore> {
        self.inner.store.clone()
    }

    /// A [`KmsBuilder`] with this directory's store, root key, marker key and random source set;
    /// set the rest (region, clock, quotas) and build.
    pub fn builder(&self) -> KmsBuilder {
        Kms::builder()
            .store(self.inner.store.clone())
            .root_key(self.inner.root.clone())
            .marker_key(self.inner.marker.clone())
            .random(self.inner.rng.clone())
            .audit_sink(self.inner.audit.clone())
    }

    /// The tamper-evident audit log every [`Kms`] built from this directory records to; call
    /// [`write_digest`](coffer_audit::FileSink::write_digest) on a timer and
    /// [`close`](coffer_audit::FileSink::close) at shutdown.
    pub fn audit_log(&self) -> Arc<coffer_audit::FileSink> {
        self.inner.audit.clone()
    }

    /// A 256-bit key for sealing the secrets of a program built on this directory (cofferd's
    /// credential secrets), one per `purpose`: random, made on first use and kept wrapped under
    /// the root key in the database, so it is as safe as the backing keys and opens only with
    /// the root key. `purpose` is 1 to 64 ASCII letters, digits, `-` or `.`.
    pub fn sealing_key(&self, purpose: &str) -> Result<SymmetricKey, Error> {
        let valid = !purpose.is_empty()
            && purpose.len() <= 64
            && purpose
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            return Err(Error::validation(format!(
                "a sealing key purpose is 1 to 64 letters, digits, '-' or '.'; got {} characters",
                purpose.len()
            )));
        }
        let path = &self.inner.path;
        let name = format!("{META_SEALING}{purpose}");
        let mut aad = AAD_SEALING.to_vec();
        aad.extend_from_slice(purpose.as_bytes());
        let wrap_fail = |e: coffer_keys::KeyError| fail(path, "a sealing key", Some(Box::new(e)));
        let root = self.inner.root.as_ref();
        // One sealing key per purpose even when two threads ask at once.
        let _guard = self.inner.sealing.lock();
        if let Some(wrapped) = self
            .inner
            .store
            .meta(&name)
            .map_err(|e| store_fail(path, e))?
        {
            return root.unwrap(&aad, &wrapped).map_err(wrap_fail);
        }
        let key = SymmetricKey::generate(self.inner.rng.as_ref())?;
        let wrapped = root.wrap(&aad, &key).map_err(wrap_fail)?;
        self.inner
            .store
            .set_meta(&[(&name, &wrapped)])
            .map_err(|e| store_fail(path, e))?;
        Ok(key)
    }

    /// Writes a consistent copy of the live database to `dest` (which must not exist) while the
    /// service keeps running. The copy holds wrapped material only and opens with the same root
    /// key after [`DataDir::restore`]. It keeps every key that existed when it was taken, even
    /// keys deleted afterwards: deleting a key does not reach into backups.
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> Result<(), Error> {
        self.inner
            .store
            .backup_to(dest)
            .map_err(|e| store_fail(&self.inner.path, e))
    }

    /// Makes a new data directory at `dir` from backup file `backup`; open it afterwards with
    /// the root key of the directory the backup came from.
    pub fn restore(backup: impl AsRef<Path>, dir: impl AsRef<Path>) -> Result<(), Error> {
        SqliteStore::restore(backup, dir.as_ref()).map_err(|e| store_fail(dir.as_ref(), e))
    }
}

impl Kms {
    /// Opens the data directory at `path` with its root key and builds a service on it with
    /// every other setting at its default. For other settings use [`DataDir::builder`].
    pub fn open_data_dir(path: impl AsRef<Path>, source: RootKeySource) -> Result<Kms, Error> {
        DataDir::open(path, source)?.builder().build()
    }
}

/// A new directory: make (or take) the root key, then record kind, parameters, check value and
/// marker key in one transaction.
fn initialize(
    path: &Path,
    store: &SqliteStore,
    source: RootKeySource,
    rng: &Arc<dyn RandomSource>,
) -> Result<(Arc<dyn RootKey>, SymmetricKey), Error> {
    let kind = source.kind();
    let mut passphrase_record = None;
    let root: Arc<dyn RootKey> = match source {
        RootKeySource::KeyFile(p) => {
            let kf = KeyFile::new(p);
            // A key file left by an open that crashed before recording the check value.
            let root = if kf.exists() {
                kf.load(rng.clone())
            } else {
                kf.create(rng.clone())
            };
            Arc::new(
                root.map_err(|e| fail(path, "cannot set up the root key file", Some(Box::new(e))))?,
            )
        }
        RootKeySource::Passphrase { passphrase, params } => {
            let p = PassphraseRoot::generate(rng.as_ref(), params)
                .map_err(|e| fail(path, "cannot draw a salt", Some(Box::new(e))))?;
            let root = p
                .derive(&passphrase, rng.clone())
                .map_err(|e| fail(path, "invalid Argon2id parameters", Some(Box::new(e))))?;
            passphrase_record = Some(p.to_bytes());
            Arc::new(root)
        }
        RootKeySource::Custom(r) => r,
    };
    let marker = SymmetricKey::generate(rng.as_ref())?;
    let wrap_fail = |e| {
        fail(
            path,
            "the root key failed to wrap",
            Some(Box::new(e) as InternalCause),
        )
    };
    let check = root
        .wrap(AAD_CHECK, &SymmetricKey::from_bytes([0; 32]))
        .map_err(wrap_fail)?;
    let wrapped_marker = root.wrap(AAD_MARKER, &marker).map_err(wrap_fail)?;
    let mut values: Vec<(&str, &[u8])> = vec![
        (META_KIND, kind),
        (META_CHECK, &check),
        (META_MARKER, &wrapped_marker),
    ];
    if let Some(p) = &passphrase_record {
        values.push((META_PASSPHRASE, p));
    }
    store.set_meta(&values).map_err(|e| store_fail(path, e))?;
    Ok((root, marker))
}

/// The root key of an existing directory: loaded, never created.
fn existing_root(
    path: &Path,
    source: RootKeySource,
    rng: &Arc<dyn RandomSource>,
    passphrase_record: Option<Vec<u8>>,
) -> Result<Arc<dyn RootKey>, Error> {
    Ok(match source {
        RootKeySource::KeyFile(p) => Arc::new(
            KeyFile::new(p)
                .load(rng.clone())
                .map_err(|e| fail(path, "cannot load the root key file", Some(Box::new(e))))?,
        ),
        RootKeySource::Passphrase { passphrase, .. } => {
            let p = passphrase_record
                .as_deref()
                .and_then(PassphraseRoot::from_bytes)
                .ok_or_else(|| {
                    fail(
                        path,
                        "the stored passphrase parameters are missing or damaged",
                        None,
                    )
                })?;
            Arc::new(p.derive(&passphrase, rng.clone()).map_err(|e| {
                fail(
                    path,
                    "the stored passphrase parameters are invalid",
                    Some(Box::new(e)),
                )
            })?)
        }
        RootKeySource::Custom(r) => r,
    })
}

fn verify(path: &Path, root: &dyn RootKey, check: &[u8]) -> Result<(), Error> {
    let wrong = |cause: Option<InternalCause>| {
        fail(
            path,
            "wrong root key: the root-key check value does not verify (nothing was changed)",
            cause,
        )
    };
    let known = root
        .unwrap(AAD_CHECK, check)
        .map_err(|e| wrong(Some(Box::new(e))))?;
    if !constant_time_eq(known.expose(), &[0; 32]) {
        return Err(wrong(None));
    }
    Ok(())
}

/// The audit log of a directory: its Ed25519 signing key is kept wrapped under the root key in
/// the database (made on first open), its public key written beside the log.
fn open_audit(
    path: &Path,
    store: &SqliteStore,
    root: &dyn RootKey,
    rng: &dyn RandomSource,
    options: coffer_audit::FileSinkOptions,
) -> Result<Arc<coffer_audit::FileSink>, Error> {
    let wrap_fail =
        |e: coffer_keys::KeyError| fail(path, "the audit signing key", Some(Box::new(e)));
    let seed = match store.meta(META_AUDIT).map_err(|e| store_fail(path, e))? {
        Some(wrapped) => root.unwrap(AAD_AUDIT, &wrapped).map_err(wrap_fail)?,
        None => {
            let seed = SymmetricKey::generate(rng)?;
            let wrapped = root.wrap(AAD_AUDIT, &seed).map_err(wrap_fail)?;
            store
                .set_meta(&[(META_AUDIT, &wrapped)])
                .map_err(|e| store_fail(path, e))?;
            seed
        }
    };
    let key = coffer_crypto::SigningKey::from_seed(seed.expose())?;
    let public: String = key
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sink = coffer_audit::FileSink::open(path.join(AUDIT_DIR), key, options)
        .map_err(|e| fail(path, "cannot open the audit log", Some(Box::new(e))))?;
    write_private(
        &path.join(AUDIT_PUBLIC_KEY_FILE),
        format!("{public}\n").as_bytes(),
    )
    .map_err(|e| fail(path, "cannot write the audit public key", Some(Box::new(e))))?;
    Ok(Arc::new(sink))
}

/// Writes `bytes` to `file`, creating it 0600 (owner only, whatever the umask).
fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(file)?.write_all(bytes)
}

/// Restricts an existing `file` to its owner (0600) if group or others have any access;
/// returns whether it did.
fn private_file(file: &Path) -> Result<bool, Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = file.parent().unwrap_or(file);
        let mode = std::fs::metadata(file)
            .map_err(|e| fail(dir, "cannot read a file's permissions", Some(Box::new(e))))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| {
                    fail(
                        dir,
                        "cannot restrict a file to its owner",
                        Some(Box::new(e)),
                    )
                },
            )?;
            return Ok(true);
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anchor_directory_inside_the_data_directory_is_refused_before_anything_is_made() {
        let base = std::env::temp_dir().join(format!(
            "coffer-anchor-inside-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let dir = base.join("data");
        let options = DataDirOptions::default()
            .audit(coffer_audit::FileSinkOptions::default().anchor_dir(Some(dir.join("anchors"))));
        let r = DataDir::open_with_options(
            &dir,
            RootKeySource::key_file(base.join("root.key")),
            options,
        );
        let e = r
            .map(|_| ())
            .expect_err("an anchor dir inside the data dir");
        assert!(e.to_string().contains("inside the data directory"), "{e}");
        assert!(!dir.exists());
        let _ = std::fs::remove_dir_all(&base);
    }
}
