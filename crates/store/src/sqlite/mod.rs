//! [`SqliteStore`]: the embedded default store, one SQLite database in a data directory.
//!
//! Durability: WAL journal, `synchronous = FULL` (every commit is on disk before `commit`
//! returns), `secure_delete` on (deleted rows are overwritten with zeros), temporary files in
//! memory. One connection behind a mutex: a transaction holds it from `BEGIN IMMEDIATE` to
//! `COMMIT` or `ROLLBACK`, so transactions are serializable and a reader never sees half a
//! change. After a transaction that deleted a key commits, the WAL is checkpointed and
//! truncated, so no copy of the deleted wrapped material is left in the WAL.
//!
//! The data directory is held with an exclusive advisory lock on `coffer.lock` for the life of
//! the store: a second open, from this process or another, fails with [`StoreError::Locked`].

mod check;
mod perms;
mod schema;
mod txn;

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use crate::{Store, StoreError, Txn};

pub use check::{check_data_dir, DamagedRecord, IntegrityReport};
pub use schema::SCHEMA_VERSION;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "coffer.db";
/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "coffer.lock";

/// The embedded store: one SQLite database (`coffer.db`) in a data directory that it holds
/// locked. See the module docs for durability and deletion.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    dir: PathBuf,
    db_path: PathBuf,
    // Held for the store's life: the exclusive lock is released when this file is closed.
    _lock: File,
    tightened: Vec<PathBuf>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Maps a SQLite error: damage (`SQLITE_CORRUPT`, `SQLITE_NOTADB`) becomes
/// [`StoreError::Corrupt`] naming the database file; anything else a backend failure.
pub(crate) fn sql_err(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
            what: "database file",
            source: Some(Box::new(e)),
        },
        _ => StoreError::Backend {
            context,
            source: Box::new(e),
        },
    }
}

fn io_err(context: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Backend {
        context,
        source: Box::new(e),
    }
}

impl SqliteStore {
    /// Opens the store in data directory `dir`, creating the directory (mode 0700) and an empty
    /// database if there is none, and running the schema migrations.
    ///
    /// Everything the store makes is its owner's alone, whatever the umask: the directory 0700,
    /// the lock file, the database and its `-wal`, `-shm` and `-journal` files 0600. An existing
    /// directory or file that group or others may reach is tightened to those modes (see
    /// [`SqliteStore::tightened_permissions`]), not refused.
    ///
    /// Fails with [`StoreError::Locked`] if another store holds the directory, with
    /// [`StoreError::Corrupt`] if the database file is damaged (an integrity check runs on
    /// open), and with [`StoreError::SchemaTooNew`] if a newer coffer wrote it.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        perms::create_dir(&dir)?;
        let lock = lock_dir(&dir)?;
        let db_path = dir.join(DB_FILE);
        let tightened = perms::tighten_data_dir(&dir, &db_path, &dir.join(LOCK_FILE))?;
        match fs::metadata(&db_path) {
            Ok(m) if m.len() == 0 => {
                return Err(StoreError::Corrupt {
                    what: "database file (empty)",
                    source: None,
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_db(&dir, &db_path)?,
            Err(e) => return Err(io_err("reading the database file's metadata")(e)),
        }
        let mut conn = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_err("opening the database"))?;
        configure(&conn)?;
        integrity_check(&conn)?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            dir,
            db_path,
            _lock: lock,
            tightened,
        })
    }

    /// The directory and files that [`SqliteStore::open`] found open to group or others and
    /// restricted to their owner (0700, 0600): empty unless an older coffer or an operator
    /// loosened them. Worth a line in the operator's log.
    pub fn tightened_permissions(&self) -> &[PathBuf] {
        &self.tightened
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// A named value from the store's own table (root-key check value, wrapped marker key and
    /// the like: nothing secret in the clear).
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn.lock();
        conn.prepare_cached("SELECT value FROM meta WHERE name = ?1")
            .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
            .map_err(sql_err("reading a named value"))
    }

    /// Sets named values, all in one transaction: all are written or none.
    pub fn set_meta(&self, values: &[(&str, &[u8])]) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql_err("starting a transaction"))?;
        for (name, value) in values {
            tx.execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                rusqlite::params![name, value],
            )
            .map_err(sql_err("writing a named value"))?;
        }
        tx.commit().map_err(sql_err("committing"))
    }

    /// How many keys the store holds.
    pub fn key_count(&self) -> Result<u64, StoreError> {
        let conn = self.conn.lock();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM keys", [], |r| r.get(0))
            .map_err(sql_err("counting keys"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Writes a consistent copy of the live database to `dest`, which must not exist, while the
    /// store stays in use: the copy is read from a snapshot through a second connection (WAL
    /// lets it read while transactions commit), into `dest` with a temporary name, synced, then
    /// renamed into place.
    ///
    /// A backup is a full database: it keeps every key and wrapped version that existed when it
    /// was taken, including keys deleted later. Restore by placing it as `coffer.db` in an empty
    /// data directory ([`SqliteStore::restore`]); opening it needs the same root key.
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> Result<(), StoreError> {
        snapshot_db(&self.db_path, dest.as_ref())
    }

    /// [`SqliteStore::backup_to`] for the database of data directory `dir` while another
    /// store (in this process or another, such as a running server) holds it: reads the
    /// database through its own read-only connection from one snapshot and takes no lock, so
    /// the owner keeps writing meanwhile.
    pub fn snapshot_dir(dir: impl AsRef<Path>, dest: impl AsRef<Path>) -> Result<(), StoreError> {
        let db_path = dir.as_ref().join(DB_FILE);
        if !db_path.is_file() {
            return Err(StoreError::Backend {
                context: "opening the database for backup",
                source: format!("{} does not exist", db_path.display()).into(),
            });
        }
        snapshot_db(&db_path, dest.as_ref())
    }

    /// Places backup `backup` as the database of data directory `dir`, which must hold no
    /// database yet. Open the directory afterwards as usual (with the same root key).
    pub fn restore(backup: impl AsRef<Path>, dir: impl AsRef<Path>) -> Result<(), StoreError> {
        let dir = dir.as_ref();
        perms::create_dir(dir)?;
        let _lock = lock_dir(dir)?;
        let db_path = dir.join(DB_FILE);
        if db_path.exists() {
            return Err(StoreError::AlreadyExists {
                what: "database in the target directory",
            });
        }
        // Check it is a sound database before it takes the place of one.
        {
            let conn = Connection::open_with_flags(
                backup.as_ref(),
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(sql_err("opening the backup"))?;
            integrity_check(&conn)?;
        }
        let tmp = tmp_path(&db_path);
        remove_if_exists(&tmp)?;
        {
            // Created 0600 here (fs::copy would give it the backup file's mode).
            let mut out = perms::create_empty(&tmp)?;
            let mut input = File::open(backup.as_ref()).map_err(io_err("opening the backup"))?;
            std::io::copy(&mut input, &mut out).map_err(io_err("copying the backup"))?;
        }
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err("syncing the restored database"))?;
        fs::rename(&tmp, &db_path).map_err(io_err("renaming the restored database"))?;
        sync_parent(&db_path)
    }

    /// Checkpoints the WAL into the database file and truncates it to zero bytes.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        checkpoint_truncate(&self.conn.lock())
    }
}

impl Store for SqliteStore {
    fn begin(&self) -> Result<Box<dyn Txn + '_>, StoreError> {
        Ok(Box::new(txn::SqliteTxn::begin(self.conn.lock())?))
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Best effort: leave the directory as one file. Closing the connection checkpoints too.
        let _ = checkpoint_truncate(&self.conn.lock());
    }
}

/// Copies the database at `db_path` to `dest` (which must not exist) from one read snapshot,
/// through a read-only connection of its own: under a temporary name, synced, then renamed.
fn snapshot_db(db_path: &Path, dest: &Path) -> Result<(), StoreError> {
    if dest.exists() {
        return Err(StoreError::AlreadyExists {
            what: "backup file",
        });
    }
    let tmp = tmp_path(dest);
    remove_if_exists(&tmp)?;
    let src = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err("opening the database for backup"))?;
    src.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql_err("configuring the backup"))?;
    {
        // 0600: a backup holds what the database holds.
        drop(perms::create_empty(&tmp)?);
        let mut dst = Connection::open(&tmp).map_err(sql_err("creating the backup file"))?;
        dst.pragma_update(None, "synchronous", "FULL")
            .map_err(sql_err("configuring the backup file"))?;
        let backup = rusqlite::backup::Backup::new(&src, &mut dst)
            .map_err(sql_err("starting the backup"))?;
        // All pages in one step: one read snapshot, so the copy is consistent.
        match backup.step(-1).map_err(sql_err("copying the database"))? {
            rusqlite::backup::StepResult::Done => {}
            _ => {
                drop(backup);
                drop(dst);
                let _ = fs::remove_file(&tmp);
                return Err(StoreError::Backend {
                    context: "copying the database",
                    source: "the database was busy".into(),
                });
            }
        }
        drop(backup);
        // A backup is one self-contained file.
        dst.pragma_update(None, "journal_mode", "DELETE")
            .map_err(sql_err("finishing the backup file"))?;
    }
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_err("syncing the backup file"))?;
    fs::rename(&tmp, dest).map_err(io_err("renaming the backup file"))?;
    sync_parent(dest)
}

pub(crate) fn checkpoint_truncate(conn: &Connection) -> Result<(), StoreError> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(sql_err("checkpointing the WAL"))
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(sql_err("enabling the WAL journal"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend {
            context: "enabling the WAL journal",
            source: format!("journal mode is {mode}").into(),
        });
    }
    for (name, value) in [
        ("synchronous", "FULL"),
        ("secure_delete", "ON"),
        ("temp_store", "MEMORY"),
        ("foreign_keys", "OFF"),
    ] {
        conn.pragma_update(None, name, value)
            .map_err(sql_err("configuring the database"))?;
    }
    // Another connection (a backup) may read while this one writes; wait rather than fail.
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql_err("configuring the database"))
}

fn integrity_check(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .map_err(sql_err("checking the database"))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sql_err("checking the database"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err("checking the database"))?;
    if rows.len() == 1 && rows.first().is_some_and(|r| r == "ok") {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            what: "database file",
            source: Some(rows.join("; ").into()),
        })
    }
}

/// Creates an empty database at `db_path` atomically: built under a temporary name with the
/// schema in place, synced, then renamed, so a crash leaves either no database or a whole one.
fn create_db(dir: &Path, db_path: &Path) -> Result<(), StoreError> {
    let tmp = tmp_path(db_path);
    remove_if_exists(&tmp)?;
    for suffix in perms::COMPANIONS {
        remove_if_exists(&dir.join(format!("{DB_FILE}{suffix}")))?;
        remove_if_exists(&perms::companion(&tmp, suffix))?;
    }
    {
        drop(perms::create_empty(&tmp)?);
        let mut conn = Connection::open(&tmp).map_err(sql_err("creating the database"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql_err("creating the database"))?;
        schema::migrate(&mut conn)?;
        // Set WAL now so the file's header already says so.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_err("creating the database"))?;
        conn.close()
            .map_err(|(_, e)| sql_err("creating the database")(e))?;
    }
    remove_if_exists(&PathBuf::from(format!("{}-wal", tmp.display())))?;
    remove_if_exists(&PathBuf::from(format!("{}-shm", tmp.display())))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_err("syncing the new database"))?;
    fs::rename(&tmp, db_path).map_err(io_err("renaming the new database"))?;
    sync_parent(db_path)
}

fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = perms::private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err("opening the lock file"))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(StoreError::Locked { path }),
        Err(fs4::TryLockError::Error(e)) => Err(io_err("locking the data directory")(e)),
    }
}

fn tmp_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn remove_if_exists(p: &Path) -> Result<(), StoreError> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing a stale temporary file")(e)),
    }
}

/// Syncs the directory holding `p`, so a rename into it survives a crash.
fn sync_parent(p: &Path) -> Result<(), StoreError> {
    let Some(parent) = p.parent() else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing the directory"))
}
