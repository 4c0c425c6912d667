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

use coffer_core::{Clock, SystemClock};
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
/// Prefix of the meta names recording the program's parts ([`DataDir::record_part`]).
const META_PART: &str = "part.";
/// The audit log's directory inside the data directory.
pub const AUDIT_DIR: &str = "audit";
/// The audit public key (hex), written beside the log for operators to pin elsewhere.
pub const AUDIT_PUBLIC_KEY_FILE: &str = "audit-public-key.hex";

/// The named values (root-key check value, wrapped service keys) a directory keeps in its
/// store: the SQLite database of a [`DataDir`], the shared database of a
/// [`NodeDir`](crate::NodeDir).
pub(crate) trait MetaValues {
    /// The value named `name`.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `values` (all or none) unless one of them exists: whether they were set. (A
    /// data directory is locked, so nothing races; a shared database may see another node
    /// set them first.)
    fn set_new(&self, values: &[(&str, &[u8])]) -> Result<bool, StoreError>;
    /// How many keys the store holds.
    fn key_count(&self) -> Result<u64, StoreError>;
}

impl MetaValues for SqliteStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta(name)
    }

    fn set_new(&self, values: &[(&str, &[u8])]) -> Result<bool, StoreError> {
        self.set_meta(values).map(|()| true)
    }

    fn key_count(&self) -> Result<u64, StoreError> {
        SqliteStore::key_count(self)
    }
}

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
    parts: Vec<String>,
}

impl Default for DataDirOptions {
    fn default() -> Self {
        Self {
            rng: Arc::new(SystemRandom::new()),
            audit: coffer_audit::FileSinkOptions::default(),
            parts: Vec::new(),
        }
    }
}

impl fmt::Debug for DataDirOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataDirOptions")
            .field("audit", &self.audit)
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl DataDirOptions {
    /// The random source and audit settings (for [`NodeDir`](crate::NodeDir)).
    pub(crate) fn into_parts(self) -> (Arc<dyn RandomSource>, coffer_audit::FileSinkOptions) {
        (self.rng, self.audit)
    }

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

    /// A file the program keeps in the directory beside the store (cofferd:
    /// `credentials.json`), by name. Its presence makes the directory one that holds state (so
    /// a missing `coffer.db` is refused rather than made anew), and once the program has
    /// recorded it ([`DataDir::record_part`]) its absence is refused at open.
    #[must_use]
    pub fn part(mut self, name: impl Into<String>) -> Self {
        self.parts.push(name.into());
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
pub(crate) fn fail(path: &Path, what: impl fmt::Display, cause: Option<InternalCause>) -> Error {
    Error::Internal {
        message: format!("data directory {}: {what}", path.display()),
        source: cause,
    }
}

pub(crate) fn store_fail(path: &Path, e: StoreError) -> Error {
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
        let DataDirOptions { rng, audit, parts } = options;
        let path = path.as_ref().to_path_buf();
        // A directory with state but no database is refused before anything is made: a new
        // database would bring a new audit signing key and strand the existing log.
        // A part missing beside others is refused before the database is even opened.
        let present = present_parts(&path, &parts);
        if !path.join(coffer_store::DB_FILE).exists() {
            if !present.is_empty() {
                return Err(missing(
                    &path,
                    &[coffer_store::DB_FILE.to_owned()],
                    &present,
                ));
            }
        } else if !present.is_empty() {
            let lacking: Vec<String> = [format!("{AUDIT_DIR}/"), AUDIT_PUBLIC_KEY_FILE.to_owned()]
                .into_iter()
                .filter(|p| !present.contains(p))
                .collect();
            if !lacking.is_empty() {
                let mut all = vec![coffer_store::DB_FILE.to_owned()];
                all.extend(present);
                return Err(missing(&path, &lacking, &all));
            }
        }
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
        check_complete(&path, &store, &parts)?;
        let (root, marker) = open_root(&path, &store, source, &rng)?;
        let audit = open_audit(
            &path,
            &store,
            META_AUDIT,
            root.as_ref(),
            rng.as_ref(),
            audit,
        )?;
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
        // One sealing key per purpose even when two threads ask at once.
        let _guard = self.inner.sealing.lock();
        sealing_key_in(
            &self.inner.path,
            self.inner.store.as_ref(),
            self.inner.root.as_ref(),
            self.inner.rng.as_ref(),
            purpose,
        )
    }

    /// Records that the program has made its part `name` (a file it keeps in the directory,
    /// declared with [`DataDirOptions::part`]): from now on an open that does not find it is
    /// refused, naming it, rather than letting the program make a new one.
    pub fn record_part(&self, name: &str) -> Result<(), Error> {
        let key = format!("{META_PART}{name}");
        let store = &self.inner.store;
        let path = &self.inner.path;
        if store.meta(&key).map_err(|e| store_fail(path, e))?.is_none() {
            store
                .set_meta(&[(&key, b"1")])
                .map_err(|e| store_fail(path, e))?;
        }
        Ok(())
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

    /// Places the database backup `backup` ([`DataDir::backup_to`]) as the database of a new
    /// directory `dir`. The database alone is not a data directory: it names an audit signing
    /// key whose log is not there, so [`DataDir::open`] refuses the result until the audit log
    /// and public key are put beside it. To restore a whole directory use
    /// [`DataDir::backup_online`] and [`DataDir::restore_backup`].
    pub fn restore(backup: impl AsRef<Path>, dir: impl AsRef<Path>) -> Result<(), Error> {
        SqliteStore::restore(backup, dir.as_ref()).map_err(|e| store_fail(dir.as_ref(), e))
    }
}

/// The first bytes of a backup file ([`DataDir::backup_online`]): format 1.
const BACKUP_MAGIC: &[u8; 16] = b"coffer-backup/1\n";
/// The backup's first entry: what it holds and the audit position.
const BACKUP_MANIFEST: &str = "manifest.json";
/// The largest entry name.
const MAX_ENTRY_NAME: usize = 255;

/// What a backup holds: returned by [`DataDir::backup_online`] and [`DataDir::restore_backup`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupSummary {
    /// The entries (paths relative to the data directory) and their sizes in bytes, in the
    /// order of the file.
    pub entries: Vec<(String, u64)>,
    /// The audit log's position in the backup: the sequence number of its last record.
    pub audit_last_seq: Option<u64>,
    /// SHA-256 (hex) of that record's line: the `prev` of the next record a restored server
    /// writes, which therefore continues this chain.
    pub audit_last_hash: Option<String>,
    /// The sequence number of the last signed digest in the backup's log.
    pub audit_last_digest_seq: Option<u64>,
}

/// Where an entry's bytes come from while a backup is written.
enum EntrySource {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Whether `name` is a log file name of the audit log (`audit-NNNNNNNNNN.jsonl`).
fn is_log_name(name: &str) -> bool {
    name.strip_prefix("audit-")
        .and_then(|r| r.strip_suffix(".jsonl"))
        .is_some_and(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `name` may name a program part in a backup: one plain file name.
fn is_part_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ENTRY_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        // Never a file of the store's own (a `coffer.db-wal` would be applied on open).
        && !name.starts_with("coffer.")
}

/// The audit position of the log files `logs` (name, bytes; in order): last record's sequence
/// number and line hash, last digest's sequence number.
fn audit_position(logs: &[(String, Vec<u8>)]) -> (Option<u64>, Option<String>, Option<u64>) {
    let mut last = None;
    let mut digest = None;
    for (_, bytes) in logs.iter().rev() {
        for line in bytes.split(|&b| b == b'\n').rev().filter(|l| !l.is_empty()) {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
                continue;
            };
            let seq = v.get("seq").and_then(serde_json::Value::as_u64);
            if last.is_none() {
                last = Some((
                    seq,
                    coffer_crypto::hex::encode(&coffer_crypto::sha256(line)),
                ));
            }
            if v.get("type").and_then(serde_json::Value::as_str) == Some("digest") {
                digest = seq;
                break;
            }
        }
        if digest.is_some() {
            break;
        }
    }
    let (seq, hash) = match last {
        Some((seq, hash)) => (seq, Some(hash)),
        None => (None, None),
    };
    (seq, hash, digest)
}

fn io_fail<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| fail(path, what, Some(Box::new(e)))
}

/// A writer that hashes what it writes.
struct HashingWriter<W> {
    inner: W,
    hash: coffer_crypto::Sha256,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl DataDir {
    /// Writes a backup of the data directory at `dir` to the new file `dest` (mode 0600) while
    /// a service (in this process or another, such as a running cofferd) keeps using it: one
    /// file holding everything a restore needs except the root key.
    ///
    /// In order: the database, copied from one SQLite snapshot (wrapped keys, the wrapped audit
    /// signing key and sealing keys); then the audit public key, the program's `parts` that
    /// exist (cofferd: `credentials.json`, whose secrets are sealed under a key in that
    /// database) and the audit log files as they are at that moment, each cut back to its last
    /// complete line. The log is copied after the snapshot, so it holds the record of every
    /// call acknowledged before the backup began (and perhaps a few calls made during it).
    /// Format: docs/STORAGE.md, "Backup files".
    pub fn backup_online(
        dir: impl AsRef<Path>,
        dest: impl AsRef<Path>,
        parts: &[&str],
    ) -> Result<BackupSummary, Error> {
        let (dir, dest) = (dir.as_ref(), dest.as_ref());
        if dest.exists() {
            return Err(fail(
                dir,
                format_args!("the backup file {} already exists", dest.display()),
                None,
            ));
        }
        let mut tmp_db = dest.as_os_str().to_owned();
        tmp_db.push(".db.tmp");
        let tmp_db = PathBuf::from(tmp_db);
        let _ = std::fs::remove_file(&tmp_db);
        let result = backup_with_snapshot(dir, dest, parts, &tmp_db);
        let _ = std::fs::remove_file(&tmp_db);
        result
    }

    /// Undoes a restore into `dir`: leaves it as it was before, empty if it `existed` (empty, as
    /// [`DataDir::restore_backup`] requires), absent otherwise. Best effort.
    pub fn discard_restore(dir: &Path, existed: bool) {
        if !existed {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let p = entry.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }

    /// Makes a new data directory at `dir` (which must not exist, or be empty) from the backup
    /// file `from` ([`DataDir::backup_online`]). The file's checksum is verified before
    /// anything is written, and the database's integrity before it is placed. On failure what
    /// was made is removed again. Open the directory afterwards with the root key of the
    /// directory the backup came from.
    pub fn restore_backup(
        from: impl AsRef<Path>,
        dir: impl AsRef<Path>,
    ) -> Result<BackupSummary, Error> {
        let (from, dir) = (from.as_ref(), dir.as_ref());
        let existed = match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(fail(
                        dir,
                        "is not empty: a backup is restored into a new or empty directory only",
                        None,
                    ));
                }
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(fail(dir, "cannot be read", Some(Box::new(e)))),
        };
        verify_backup_checksum(from)?;
        let result = restore_entries(from, dir);
        if result.is_err() {
            Self::discard_restore(dir, existed);
        }
        result
    }
}

fn backup_with_snapshot(
    dir: &Path,
    dest: &Path,
    parts: &[&str],
    tmp_db: &Path,
) -> Result<BackupSummary, Error> {
    use std::io::Write;
    SqliteStore::snapshot_dir(dir, tmp_db).map_err(|e| store_fail(dir, e))?;
    let public_file = dir.join(AUDIT_PUBLIC_KEY_FILE);
    let public =
        std::fs::read(&public_file).map_err(io_fail(dir, "cannot read the audit public key"))?;
    let mut entries: Vec<(String, EntrySource)> = vec![
        (
            coffer_store::DB_FILE.to_owned(),
            EntrySource::File(tmp_db.to_path_buf()),
        ),
        (AUDIT_PUBLIC_KEY_FILE.to_owned(), EntrySource::Bytes(public)),
    ];
    for part in parts {
        if !is_part_name(part) {
            return Err(fail(dir, "a part name is not a plain file name", None));
        }
        match std::fs::read(dir.join(part)) {
            Ok(bytes) => entries.push(((*part).to_owned(), EntrySource::Bytes(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(dir, "cannot read a part", Some(Box::new(e)))),
        }
    }
    // The log after the snapshot: it then records every call the snapshot holds that was
    // acknowledged. A file can grow meanwhile; each copy ends at its last complete line.
    let audit_dir = dir.join(AUDIT_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&audit_dir)
        .map_err(io_fail(dir, "cannot read the audit log directory"))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_log_name(n))
        .collect();
    names.sort();
    let mut logs = Vec::with_capacity(names.len());
    for name in names {
        let mut bytes = std::fs::read(audit_dir.join(&name)).map_err(io_fail(
            dir,
            "cannot read an audit log file (pruned during the backup? run it again)",
        ))?;
        // Up to the padding the live file holds ahead of its records, and its last complete
        // line before that.
        let end = coffer_audit::file_records(&bytes)
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        bytes.truncate(end);
        logs.push((name, bytes));
    }
    let (last_seq, last_hash, last_digest) = audit_position(&logs);
    let manifest = serde_json::json!({
        "format": 1,
        "createdAt": coffer_core::time::unix_seconds(SystemClock.now()).max(0),
        "audit": {
            "lastSeq": last_seq,
            "lastHash": last_hash,
            "lastDigestSeq": last_digest,
            "files": logs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        },
    });
    let manifest = serde_json::to_vec(&manifest)
        .map_err(|e| fail(dir, "cannot write the backup manifest", Some(Box::new(e))))?;
    entries.insert(
        0,
        (BACKUP_MANIFEST.to_owned(), EntrySource::Bytes(manifest)),
    );
    entries.extend(
        logs.into_iter()
            .map(|(n, b)| (format!("{AUDIT_DIR}/{n}"), EntrySource::Bytes(b))),
    );

    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let written = (|| -> std::io::Result<Vec<(String, u64)>> {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let file = o.open(&tmp)?;
        let mut w = HashingWriter {
            inner: std::io::BufWriter::new(file),
            hash: coffer_crypto::Sha256::new(),
        };
        w.write_all(BACKUP_MAGIC)?;
        let mut sizes = Vec::with_capacity(entries.len());
        for (name, source) in &entries {
            let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
            w.write_all(&len.to_be_bytes())?;
            w.write_all(name.as_bytes())?;
            let size = match source {
                EntrySource::Bytes(b) => {
                    let size = b.len() as u64;
                    w.write_all(&size.to_be_bytes())?;
                    w.write_all(b)?;
                    size
                }
                EntrySource::File(p) => {
                    let mut f = std::fs::File::open(p)?;
                    let size = f.metadata()?.len();
                    w.write_all(&size.to_be_bytes())?;
                    let copied = std::io::copy(&mut std::io::Read::take(&mut f, size), &mut w)?;
                    if copied != size {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the database snapshot changed size while copied",
                        ));
                    }
                    size
                }
            };
            sizes.push((name.clone(), size));
        }
        w.write_all(&0u16.to_be_bytes())?;
        let HashingWriter { inner, hash } = w;
        let mut inner = inner;
        inner.write_all(&hash.finish())?;
        let file = inner
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&tmp, dest)?;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent)?.sync_all()?;
        }
        Ok(sizes)
    })();
    let sizes = written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(dir, "cannot write the backup file", Some(Box::new(e)))
    })?;
    Ok(BackupSummary {
        entries: sizes,
        audit_last_seq: last_seq,
        audit_last_hash: last_hash,
        audit_last_digest_seq: last_digest,
    })
}

/// Checks a backup file's trailing SHA-256 against its content, before anything is restored.
fn verify_backup_checksum(from: &Path) -> Result<(), Error> {
    use std::io::Read;
    let bad = |what: &'static str| fail(from, what, None);
    let mut f = std::fs::File::open(from).map_err(io_fail(from, "cannot open the backup file"))?;
    let len = f
        .metadata()
        .map_err(io_fail(from, "cannot read the backup file"))?
        .len();
    if len < (BACKUP_MAGIC.len() + 2 + 32) as u64 {
        return Err(bad("not a coffer backup file (too short)"));
    }
    let mut hash = coffer_crypto::Sha256::new();
    let mut rest = len - 32;
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = true;
    while rest > 0 {
        let want = usize::try_from(rest.min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        f.read_exact(chunk)
            .map_err(io_fail(from, "cannot read the backup file"))?;
        if first && !chunk.starts_with(BACKUP_MAGIC) {
            return Err(bad(
                "not a coffer backup file, or one of another format version",
            ));
        }
        first = false;
        hash.update(chunk);
        rest -= want as u64;
    }
    let mut stored = [0u8; 32];
    f.read_exact(&mut stored)
        .map_err(io_fail(from, "cannot read the backup file"))?;
    if hash.finish() != stored {
        return Err(bad(
            "the backup file is damaged or truncated: its checksum does not match (nothing was restored)",
        ));
    }
    Ok(())
}

fn restore_entries(from: &Path, dir: &Path) -> Result<BackupSummary, Error> {
    use std::io::{Read, Write};
    let bad = |what: &'static str| fail(from, what, None);
    let read_fail = io_fail(from, "cannot read the backup file");
    let file = std::fs::File::open(from).map_err(io_fail(from, "cannot open the backup file"))?;
    let mut r = std::io::BufReader::new(file);
    let mut magic = [0u8; 16];
    r.read_exact(&mut magic).map_err(read_fail)?;
    let make_dir = |p: &Path| {
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.recursive(true)
            .create(p)
            .map_err(io_fail(dir, "cannot create the directory"))
    };
    make_dir(dir)?;
    make_dir(&dir.join(AUDIT_DIR))?;
    let staged_db = dir.join("coffer.db.restore.tmp");
    let mut seen: Vec<(String, u64)> = Vec::new();
    let mut manifest: Option<serde_json::Value> = None;
    loop {
        let mut len = [0u8; 2];
        r.read_exact(&mut len)
            .map_err(io_fail(from, "cannot read the backup file"))?;
        let len = usize::from(u16::from_be_bytes(len));
        if len == 0 {
            break;
        }
        if len > MAX_ENTRY_NAME + AUDIT_DIR.len() + 1 {
            return Err(bad("the backup file holds an invalid entry name"));
        }
        let mut name = vec![0u8; len];
        r.read_exact(&mut name)
            .map_err(io_fail(from, "cannot read the backup file"))?;
        let name = String::from_utf8(name).map_err(|_| bad("an entry name is not UTF-8"))?;
        let mut size = [0u8; 8];
        r.read_exact(&mut size)
            .map_err(io_fail(from, "cannot read the backup file"))?;
        let size = u64::from_be_bytes(size);
        if seen.iter().any(|(n, _)| *n == name) {
            return Err(bad("the backup file holds an entry twice"));
        }
        let target = if name == BACKUP_MANIFEST {
            let mut bytes = Vec::new();
            (&mut r)
                .take(size)
                .read_to_end(&mut bytes)
                .map_err(io_fail(from, "cannot read the backup file"))?;
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|_| bad("the manifest is not valid"))?;
            if v.get("format").and_then(serde_json::Value::as_u64) != Some(1) {
                return Err(bad("the backup file is of another format version"));
            }
            manifest = Some(v);
            seen.push((name, size));
            continue;
        } else if name == coffer_store::DB_FILE {
            staged_db.clone()
        } else if let Some(log) = name.strip_prefix(&format!("{AUDIT_DIR}/")) {
            if !is_log_name(log) {
                return Err(bad("the backup file holds an invalid entry name"));
            }
            dir.join(AUDIT_DIR).join(log)
        } else if is_part_name(&name) {
            dir.join(&name)
        } else {
            return Err(bad("the backup file holds an invalid entry name"));
        };
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let write_fail = io_fail(dir, "cannot write a restored file");
        let mut out = o.open(&target).map_err(write_fail)?;
        let copied = std::io::copy(&mut (&mut r).take(size), &mut out)
            .map_err(io_fail(dir, "cannot write a restored file"))?;
        if copied != size {
            return Err(bad("the backup file is truncated"));
        }
        out.flush()
            .and_then(|()| out.sync_all())
            .map_err(io_fail(dir, "cannot write a restored file"))?;
        seen.push((name, size));
    }
    let manifest = manifest.ok_or_else(|| bad("the backup file has no manifest"))?;
    for required in [coffer_store::DB_FILE, AUDIT_PUBLIC_KEY_FILE] {
        if !seen.iter().any(|(n, _)| n == required) {
            return Err(bad(
                "the backup file lacks the database or the audit public key",
            ));
        }
    }
    let placed = SqliteStore::restore(&staged_db, dir).map_err(|e| store_fail(dir, e));
    let _ = std::fs::remove_file(&staged_db);
    placed?;
    for d in [dir.join(AUDIT_DIR), dir.to_path_buf()] {
        std::fs::File::open(&d)
            .and_then(|f| f.sync_all())
            .map_err(io_fail(dir, "cannot sync the restored directory"))?;
    }
    let audit = manifest.get("audit");
    let field = |k: &str| audit.and_then(|a| a.get(k));
    Ok(BackupSummary {
        entries: seen,
        audit_last_seq: field("lastSeq").and_then(serde_json::Value::as_u64),
        audit_last_hash: field("lastHash")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        audit_last_digest_seq: field("lastDigestSeq").and_then(serde_json::Value::as_u64),
    })
}

impl Kms {
    /// Opens the data directory at `path` with its root key and builds a service on it with
    /// every other setting at its default. For other settings use [`DataDir::builder`].
    pub fn open_data_dir(path: impl AsRef<Path>, source: RootKeySource) -> Result<Kms, Error> {
        Ok(DataDir::open(path, source)?.builder().build()?)
    }
}

/// A new directory: make (or take) the root key, then record kind, parameters, check value and
/// marker key in one transaction.
/// The sealing key for `purpose` kept wrapped in `store` (made on first use): see
/// [`DataDir::sealing_key`]. The caller keeps two threads of its own from racing; another node
/// making it at the same moment is handled (its key is the one kept).
pub(crate) fn sealing_key_in(
    path: &Path,
    store: &dyn MetaValues,
    root: &dyn RootKey,
    rng: &dyn RandomSource,
    purpose: &str,
) -> Result<SymmetricKey, Error> {
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
    let name = format!("{META_SEALING}{purpose}");
    let mut aad = AAD_SEALING.to_vec();
    aad.extend_from_slice(purpose.as_bytes());
    let wrap_fail = |e: coffer_keys::KeyError| fail(path, "a sealing key", Some(Box::new(e)));
    for _ in 0..2 {
        if let Some(wrapped) = store.get(&name).map_err(|e| store_fail(path, e))? {
            return root.unwrap(&aad, &wrapped).map_err(wrap_fail);
        }
        let key = SymmetricKey::generate(rng)?;
        let wrapped = root.wrap(&aad, &key).map_err(wrap_fail)?;
        if store
            .set_new(&[(&name, &wrapped)])
            .map_err(|e| store_fail(path, e))?
        {
            return Ok(key);
        }
        // Another node made it first: use theirs.
    }
    Err(fail(path, "a sealing key could not be made", None))
}

/// The root key and marker key of `store`: recorded on first open (a fresh store), verified
/// against the check value on every later one.
pub(crate) fn open_root(
    path: &Path,
    store: &dyn MetaValues,
    source: RootKeySource,
    rng: &Arc<dyn RandomSource>,
) -> Result<(Arc<dyn RootKey>, SymmetricKey), Error> {
    let meta = |name| store.get(name).map_err(|e| store_fail(path, e));
    match meta(META_CHECK)? {
        None => {
            let keys = store.key_count().map_err(|e| store_fail(path, e))?;
            if keys > 0 {
                return Err(fail(
                    path,
                    "the root-key check value is missing from a database that holds keys (damaged)",
                    None,
                ));
            }
            initialize(path, store, source, rng)
        }
        Some(check) => {
            let kind = meta(META_KIND)?.unwrap_or_default();
            if kind != source.kind() {
                return Err(fail(
                    path,
                    format_args!(
                        "it was created with a {} root key, not a {}",
                        String::from_utf8_lossy(&kind),
                        String::from_utf8_lossy(source.kind())
                    ),
                    None,
                ));
            }
            let root = existing_root(path, source, rng, meta(META_PASSPHRASE)?)?;
            verify(path, root.as_ref(), &check)?;
            let wrapped = meta(META_MARKER)?
                .ok_or_else(|| fail(path, "the stored marker key is missing (damaged)", None))?;
            let marker = root
                .unwrap(AAD_MARKER, &wrapped)
                .map_err(|e| fail(path, "the stored marker key is damaged", Some(Box::new(e))))?;
            Ok((root, marker))
        }
    }
}

fn initialize(
    path: &Path,
    store: &dyn MetaValues,
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
    if !store.set_new(&values).map_err(|e| store_fail(path, e))? {
        return Err(fail(
            path,
            "another node recorded the root key in the database at the same moment: start \
             again (the root key is then checked against the one recorded; nothing was changed)",
            None,
        ));
    }
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
pub(crate) fn open_audit(
    path: &Path,
    store: &dyn MetaValues,
    meta_name: &str,
    root: &dyn RootKey,
    rng: &dyn RandomSource,
    options: coffer_audit::FileSinkOptions,
) -> Result<Arc<coffer_audit::FileSink>, Error> {
    let wrap_fail =
        |e: coffer_keys::KeyError| fail(path, "the audit signing key", Some(Box::new(e)));
    let (seed, fresh) = match store.get(meta_name).map_err(|e| store_fail(path, e))? {
        Some(wrapped) => (root.unwrap(AAD_AUDIT, &wrapped).map_err(wrap_fail)?, false),
        None => {
            let seed = SymmetricKey::generate(rng)?;
            let wrapped = root.wrap(AAD_AUDIT, &seed).map_err(wrap_fail)?;
            if !store
                .set_new(&[(meta_name, &wrapped)])
                .map_err(|e| store_fail(path, e))?
            {
                return Err(fail(
                    path,
                    "the audit signing key was made twice at once",
                    None,
                ));
            }
            (seed, true)
        }
    };
    let key = coffer_crypto::SigningKey::from_seed(seed.expose())?;
    let public = coffer_crypto::hex::encode(key.verifying_key().as_bytes());
    // The public key is written once, with the signing key, and never replaced: an existing
    // one must be this key's.
    let public_file = path.join(AUDIT_PUBLIC_KEY_FILE);
    if fresh {
        write_private(&public_file, format!("{public}\n").as_bytes())
            .map_err(|e| fail(path, "cannot write the audit public key", Some(Box::new(e))))?;
    } else {
        let stored = std::fs::read_to_string(&public_file)
            .map_err(|e| fail(path, "cannot read the audit public key", Some(Box::new(e))))?;
        if stored.trim() != public {
            return Err(fail(
                path,
                format_args!(
                    "{AUDIT_PUBLIC_KEY_FILE} is not the public key of the audit signing key in \
                     {}: refusing to open (it is never replaced; nothing was changed)",
                    coffer_store::DB_FILE
                ),
                None,
            ));
        }
    }
    let sink = coffer_audit::FileSink::open(path.join(AUDIT_DIR), key, options)
        .map_err(|e| fail(path, "cannot open the audit log", Some(Box::new(e))))?;
    Ok(Arc::new(sink))
}

/// The parts of a data directory other than its database that are present: the audit log,
/// the audit public key, the program's parts.
fn present_parts(path: &Path, parts: &[String]) -> Vec<String> {
    let mut present = Vec::new();
    if path.join(AUDIT_DIR).exists() {
        present.push(format!("{AUDIT_DIR}/"));
    }
    if path.join(AUDIT_PUBLIC_KEY_FILE).exists() {
        present.push(AUDIT_PUBLIC_KEY_FILE.to_owned());
    }
    present.extend(parts.iter().filter(|p| path.join(p).exists()).cloned());
    present
}

/// The refusal of an incomplete directory, naming what is missing and what is there.
fn missing(path: &Path, lacking: &[String], present: &[String]) -> Error {
    fail(
        path,
        format_args!(
            "incomplete: {} missing while {} present; refusing to open it (nothing was created \
             or changed): put the missing part back, or restore the directory from a backup \
             (`cofferd restore`)",
            lacking.join(", "),
            if present.is_empty() {
                "the rest is".to_owned()
            } else {
                present.join(", ")
            }
        ),
        None,
    )
}

/// Checks, before anything is written, that a directory whose database exists has the other
/// parts the database says were made: the audit log and public key once the database holds an
/// audit signing key, each program part once recorded.
fn check_complete(path: &Path, store: &SqliteStore, parts: &[String]) -> Result<(), Error> {
    let meta = |name: &str| store.meta(name).map_err(|e| store_fail(path, e));
    let audit_key = meta(META_AUDIT)?.is_some();
    let mut lacking = Vec::new();
    if audit_key {
        if !path.join(AUDIT_DIR).is_dir() {
            lacking.push(format!("{AUDIT_DIR}/"));
        }
        if !path.join(AUDIT_PUBLIC_KEY_FILE).exists() {
            lacking.push(AUDIT_PUBLIC_KEY_FILE.to_owned());
        }
    }
    for part in parts {
        if meta(&format!("{META_PART}{part}"))?.is_some() && !path.join(part).exists() {
            lacking.push(part.clone());
        }
    }
    if !lacking.is_empty() {
        let mut present = vec![coffer_store::DB_FILE.to_owned()];
        present.extend(present_parts(path, parts));
        return Err(missing(path, &lacking, &present));
    }
    if !audit_key {
        let strays: Vec<String> = [format!("{AUDIT_DIR}/"), AUDIT_PUBLIC_KEY_FILE.to_owned()]
            .into_iter()
            .filter(|p| path.join(p.trim_end_matches('/')).exists())
            .collect();
        if !strays.is_empty() {
            return Err(fail(
                path,
                format_args!(
                    "{} present but {} holds no audit signing key: they belong to another \
                     database; refusing to replace them (nothing was changed)",
                    strays.join(", "),
                    coffer_store::DB_FILE
                ),
                None,
            ));
        }
    }
    Ok(())
}

/// Writes `bytes` to `file`, creating it 0600 (owner only, whatever the umask).
pub(crate) fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(file)?.write_all(bytes)
}

/// Restricts an existing `file` to its owner (0600) if group or others have any access;
/// returns whether it did.
pub(crate) fn private_file(file: &Path) -> Result<bool, Error> {
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
