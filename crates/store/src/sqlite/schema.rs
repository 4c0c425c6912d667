//! The SQLite schema and its migrations.
//!
//! `PRAGMA user_version` holds the schema version. [`migrate`] runs, in one transaction, every
//! migration newer than the database's version; a database newer than this build is refused.
//! Migrations are append-only: a released step is never edited, a change is a new step.

use rusqlite::Connection;

use crate::StoreError;

use super::sql_err;

/// Migration `i` (0-based) takes the schema from version `i` to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: keys, backing-key versions, aliases, and a small table of named values (root-key check
    // value, wrapped marker key, passphrase parameters).
    "
    CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;

    -- One row per key. `body` is the KeyRecord (JSON); the columns beside it are what queries
    -- select on. `digest` is SHA-256 of `body`: damage is reported, never decoded.
    CREATE TABLE keys (
        key_id  BLOB PRIMARY KEY,
        account TEXT NOT NULL,
        due_at  INTEGER,
        body    BLOB NOT NULL,
        digest  BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX keys_by_account ON keys (account, key_id);
    CREATE INDEX keys_by_due ON keys (due_at);

    -- Backing-key versions, wrapped by the root key; `seq` orders them oldest first. `digest` is
    -- SHA-256 over key id, version id, wrapped bytes and `meta`.
    CREATE TABLE versions (
        key_id     BLOB NOT NULL,
        seq        INTEGER NOT NULL,
        version_id BLOB NOT NULL,
        wrapped    BLOB NOT NULL,
        meta       BLOB NOT NULL,
        digest     BLOB NOT NULL,
        PRIMARY KEY (key_id, seq),
        UNIQUE (key_id, version_id)
    ) WITHOUT ROWID;

    -- Aliases, unique per account. `body` is the AliasRecord (JSON).
    CREATE TABLE aliases (
        account TEXT NOT NULL,
        name    TEXT NOT NULL,
        target  BLOB NOT NULL,
        body    BLOB NOT NULL,
        digest  BLOB NOT NULL,
        PRIMARY KEY (account, name)
    ) WITHOUT ROWID;
    CREATE INDEX aliases_by_target ON aliases (target);
    ",
    // 2: grants. `body` is the Grant (JSON); `retiring` and `account` serve ListRetirableGrants.
    "
    CREATE TABLE grants (
        key_id   BLOB NOT NULL,
        grant_id TEXT NOT NULL,
        account  TEXT NOT NULL,
        retiring TEXT,
        body     BLOB NOT NULL,
        digest   BLOB NOT NULL,
        PRIMARY KEY (key_id, grant_id)
    ) WITHOUT ROWID;
    CREATE INDEX grants_by_retiring ON grants (account, retiring, grant_id);
    ",
    // 3: custom key stores. `body` is the CustomKeyStoreRecord (JSON; the PIN only wrapped by
    // the root key); `account` serves DescribeCustomKeyStores.
    "
    CREATE TABLE custom_key_stores (
        id      TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        body    BLOB NOT NULL,
        digest  BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX custom_key_stores_by_account ON custom_key_stores (account, id);
    ",
];

/// The schema version this build of [`SqliteStore`](crate::SqliteStore) writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`SCHEMA_VERSION`], in one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql_err("reading the schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let start = usize::try_from(found).map_err(|_| StoreError::Corrupt {
        what: "schema version",
        source: None,
    })?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err("starting a migration"))?;
    for step in MIGRATIONS.iter().skip(start) {
        tx.execute_batch(step)
            .map_err(sql_err("running a schema migration"))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sql_err("recording the schema version"))?;
    tx.commit().map_err(sql_err("committing a migration"))
}
