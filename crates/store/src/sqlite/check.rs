//! A full integrity check of a data directory's database: SQLite's own `PRAGMA
//! integrity_check` (every page, index and constraint, where the check run at open is
//! `quick_check`), then every row of every table decoded and checked against its digest, so
//! that damage SQLite cannot see (a zeroed value, flipped bits inside a record) is found and
//! named by the key it belongs to.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use coffer_core::KeyId;
use rusqlite::{Connection, OpenFlags};

use super::{sql_err, SqliteStore, DB_FILE};
use crate::codec::{decode_alias, decode_grant, decode_key, decode_version, key_id_from};
use crate::StoreError;

/// What [`SqliteStore::check_integrity`] and [`check_data_dir`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntegrityReport {
    /// SQLite's `integrity_check` findings; empty when it answered `ok`.
    pub sqlite_problems: Vec<String>,
    /// Rows read and checked, in every table.
    pub rows_checked: u64,
    /// Rows that failed their digest or did not decode.
    pub damaged: Vec<DamagedRecord>,
}

/// One damaged row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DamagedRecord {
    /// Its table: `keys`, `versions`, `aliases` or `grants`.
    pub table: &'static str,
    /// The key it belongs to, when that much is readable.
    pub key_id: Option<KeyId>,
    /// Which row (an alias name, a grant id) and what is wrong with it; never stored bytes.
    pub detail: String,
}

impl IntegrityReport {
    /// Whether nothing is damaged.
    pub fn is_ok(&self) -> bool {
        self.sqlite_problems.is_empty() && self.damaged.is_empty()
    }

    /// The keys with a damaged row of their own (record, version, grant, alias).
    pub fn damaged_keys(&self) -> BTreeSet<KeyId> {
        self.damaged.iter().filter_map(|d| d.key_id).collect()
    }
}

impl fmt::Display for DamagedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key_id {
            Some(k) => write!(f, "{} row of key {k}: {}", self.table, self.detail),
            None => write!(f, "{} row: {}", self.table, self.detail),
        }
    }
}

impl SqliteStore {
    /// Runs the full integrity check on this open store (holding its connection meanwhile).
    pub fn check_integrity(&self) -> Result<IntegrityReport, StoreError> {
        check(&self.conn.lock())
    }
}

/// Runs the full integrity check on the database of data directory `dir`, read-only and
/// without its lock, so it works on a database the store would refuse to open (a failed
/// quick check) and beside a running server.
pub fn check_data_dir(dir: impl AsRef<Path>) -> Result<IntegrityReport, StoreError> {
    let conn = Connection::open_with_flags(
        dir.as_ref().join(DB_FILE),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err("opening the database to check it"))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql_err("opening the database to check it"))?;
    check(&conn)
}

/// The cause chain of a decoding failure, as one line (no stored bytes are in it).
fn reason(e: &StoreError) -> String {
    let mut out = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

fn check(conn: &Connection) -> Result<IntegrityReport, StoreError> {
    let mut report = IntegrityReport::default();
    let found: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(sql_err("checking the database"))?;
    if found != ["ok"] {
        report.sqlite_problems = found;
    }
    let mut damaged = |table, key_id, detail| {
        report.damaged.push(DamagedRecord {
            table,
            key_id,
            detail,
        })
    };
    let mut rows = 0u64;

    let mut keys = conn
        .prepare("SELECT key_id, body, digest FROM keys")
        .map_err(sql_err("checking keys"))?;
    let mut it = keys.query([]).map_err(sql_err("checking keys"))?;
    while let Some(r) = it.next().map_err(sql_err("checking keys"))? {
        rows += 1;
        let (k, b, d): (Vec<u8>, Vec<u8>, Vec<u8>) = (
            r.get(0).map_err(sql_err("checking keys"))?,
            r.get(1).map_err(sql_err("checking keys"))?,
            r.get(2).map_err(sql_err("checking keys"))?,
        );
        if let Err(e) = decode_key(&k, &b, &d) {
            damaged("keys", key_id_from(&k).ok(), reason(&e));
        }
    }

    let mut versions = conn
        .prepare("SELECT key_id, seq, version_id, wrapped, meta, digest FROM versions")
        .map_err(sql_err("checking versions"))?;
    let mut it = versions.query([]).map_err(sql_err("checking versions"))?;
    while let Some(r) = it.next().map_err(sql_err("checking versions"))? {
        rows += 1;
        let k: Vec<u8> = r.get(0).map_err(sql_err("checking versions"))?;
        let seq: i64 = r.get(1).map_err(sql_err("checking versions"))?;
        let Ok(id) = key_id_from(&k) else {
            damaged(
                "versions",
                None,
                format!("version {seq}: unreadable key id"),
            );
            continue;
        };
        let (vid, wrapped, meta, dig): (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) = (
            r.get(2).map_err(sql_err("checking versions"))?,
            r.get(3).map_err(sql_err("checking versions"))?,
            r.get(4).map_err(sql_err("checking versions"))?,
            r.get(5).map_err(sql_err("checking versions"))?,
        );
        if let Err(e) = decode_version(&id, vid, wrapped, &meta, &dig) {
            damaged(
                "versions",
                Some(id),
                format!("version {seq}: {}", reason(&e)),
            );
        }
    }

    let mut aliases = conn
        .prepare("SELECT account, name, target, body, digest FROM aliases")
        .map_err(sql_err("checking aliases"))?;
    let mut it = aliases.query([]).map_err(sql_err("checking aliases"))?;
    while let Some(r) = it.next().map_err(sql_err("checking aliases"))? {
        rows += 1;
        let (account, name, target, body, dig): (String, String, Vec<u8>, Vec<u8>, Vec<u8>) = (
            r.get(0).map_err(sql_err("checking aliases"))?,
            r.get(1).map_err(sql_err("checking aliases"))?,
            r.get(2).map_err(sql_err("checking aliases"))?,
            r.get(3).map_err(sql_err("checking aliases"))?,
            r.get(4).map_err(sql_err("checking aliases"))?,
        );
        if let Err(e) = decode_alias(&account, &name, &body, &dig) {
            let name: String = name.chars().take(256).collect();
            damaged(
                "aliases",
                key_id_from(&target).ok(),
                format!("{name} of account {account}: {}", reason(&e)),
            );
        }
    }

    let mut grants = conn
        .prepare("SELECT key_id, grant_id, body, digest FROM grants")
        .map_err(sql_err("checking grants"))?;
    let mut it = grants.query([]).map_err(sql_err("checking grants"))?;
    while let Some(r) = it.next().map_err(sql_err("checking grants"))? {
        rows += 1;
        let (k, gid, body, dig): (Vec<u8>, String, Vec<u8>, Vec<u8>) = (
            r.get(0).map_err(sql_err("checking grants"))?,
            r.get(1).map_err(sql_err("checking grants"))?,
            r.get(2).map_err(sql_err("checking grants"))?,
            r.get(3).map_err(sql_err("checking grants"))?,
        );
        if let Err(e) = decode_grant(&body, &dig) {
            let gid: String = gid.chars().take(128).collect();
            damaged(
                "grants",
                key_id_from(&k).ok(),
                format!("grant {gid}: {}", reason(&e)),
            );
        }
    }
    report.rows_checked = rows;
    Ok(report)
}
