//! SqliteStore passes the conformance kit, and keeps its own rules: the directory lock, the
//! schema version, indexed queries, and a checkpoint after deletion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::Path;

use coffer_store::{SqliteStore, Store, StoreError, Txn, DB_FILE, SCHEMA_VERSION};

/// A store in a fresh temporary directory, removed after the store closes.
struct TmpStore {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Store for TmpStore {
    fn begin(&self) -> Result<Box<dyn Txn + '_>, StoreError> {
        self.store.begin()
    }
}

fn tmp_store() -> TmpStore {
    let dir = tempfile::tempdir().unwrap();
    TmpStore {
        store: SqliteStore::open(dir.path().join("data")).unwrap(),
        _dir: dir,
    }
}

coffer_store::store_conformance_tests!(tmp_store);

#[test]
fn the_directory_is_locked_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::open(dir.path()).unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("in use"));
    drop(first);
    SqliteStore::open(dir.path()).unwrap();
}

#[test]
fn a_newer_schema_is_refused_and_the_current_one_recorded() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let db = dir.path().join(DB_FILE);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
}

#[test]
fn durability_settings_are_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.set_meta(&[("probe", b"x")]).unwrap();
    assert_eq!(store.meta("probe").unwrap(), Some(b"x".to_vec()));
    // The journal mode is recorded in the file; the other settings are per connection and
    // checked through the store's own behaviour (see the facade's durability tests).
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

fn plan(db: &Path, sql: &str) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows.join("; ")
}

#[test]
fn listing_and_maintenance_queries_use_indexes() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let db = dir.path().join(DB_FILE);
    let list = plan(
        &db,
        "SELECT key_id, body, digest FROM keys
         WHERE account = '111122223333' AND key_id > x'00' ORDER BY key_id LIMIT 10",
    );
    assert!(list.contains("keys_by_account"), "{list}");
    assert!(!list.contains("TEMP B-TREE"), "{list}");
    let due = plan(
        &db,
        "SELECT key_id FROM keys WHERE due_at <= 5 ORDER BY due_at, key_id LIMIT 10",
    );
    assert!(due.contains("keys_by_due"), "{due}");
    let by_target = plan(&db, "DELETE FROM aliases WHERE target = x'00'");
    assert!(by_target.contains("aliases_by_target"), "{by_target}");
}
