//! One SQLite transaction: `BEGIN IMMEDIATE` on a connection held by a mutex guard for the
//! transaction's life; `COMMIT` in [`Txn::commit`], `ROLLBACK` on drop.

use std::time::SystemTime;

use coffer_core::{AccountId, KeyId};
use coffer_grants::Grant;
use coffer_keys::{KeyRecord, WrappedVersion};
use parking_lot::MutexGuard;
use rusqlite::{params, Connection, OptionalExtension};

use super::{checkpoint_truncate, sql_err};
use crate::codec::{
    decode_alias, decode_custom_key_store, decode_grant, decode_key, decode_version, digest,
    encode, key_id_from, limit, nanos, version_digest, VersionMeta,
};
use crate::{AliasRecord, CustomKeyStoreRecord, StoreError, Txn};

pub(super) struct SqliteTxn<'a> {
    conn: MutexGuard<'a, Connection>,
    open: bool,
    /// A key was deleted: checkpoint after commit so its wrapped material leaves the WAL.
    purged: bool,
}

impl<'a> SqliteTxn<'a> {
    pub(super) fn begin(conn: MutexGuard<'a, Connection>) -> Result<Self, StoreError> {
        if !conn.is_autocommit() {
            // A transaction whose rollback failed earlier: end it before starting anew.
            conn.execute_batch("ROLLBACK")
                .map_err(sql_err("ending an abandoned transaction"))?;
        }
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(sql_err("beginning a transaction"))?;
        Ok(Self {
            conn,
            open: true,
            purged: false,
        })
    }
}

impl Drop for SqliteTxn<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: if this fails, the next begin rolls back first.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

type KeyRow = (Vec<u8>, Vec<u8>, Vec<u8>);

/// An account's aliases after a name: a range of the primary key `(account, name)`.
const LIST_ALIASES: &str = "SELECT account, name, body, digest FROM aliases
     WHERE account = ?1 AND name > ?2 ORDER BY name LIMIT ?3";
/// The aliases of one key: a range of `aliases_by_target`, whose entries (of a table without
/// rowid) end with the primary key, so `(target, account, name)` in name order.
const LIST_ALIASES_OF_KEY: &str = "SELECT account, name, body, digest FROM aliases
     WHERE target = ?3 AND account = ?1 AND name > ?2 ORDER BY name LIMIT ?4";

/// The grants of an account a principal may retire, after a marker (`''` for none).
const GRANTS_RETIRABLE_BY: &str = "SELECT body, digest FROM grants
     WHERE account = ?1 AND retiring = ?2 AND grant_id > ?3
     ORDER BY grant_id LIMIT ?4";

type AliasRow = (String, String, Vec<u8>, Vec<u8>);

impl SqliteTxn<'_> {
    fn key_exists(&self, id: &KeyId) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("SELECT 1 FROM keys WHERE key_id = ?1")
            .and_then(|mut s| s.exists([id.as_bytes().as_slice()]))
            .map_err(sql_err("looking up a key"))
    }

    fn alias_exists(&self, account: &AccountId, name: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("SELECT 1 FROM aliases WHERE account = ?1 AND name = ?2")
            .and_then(|mut s| s.exists(params![account.as_str(), name]))
            .map_err(sql_err("looking up an alias"))
    }

    fn write_key(&self, rec: &KeyRecord, insert: bool) -> Result<(), StoreError> {
        let body = encode(rec, "encoding a key record")?;
        let dig = digest(&[&body]);
        let due = rec.due_at().map(nanos);
        let sql = if insert {
            "INSERT INTO keys (key_id, account, due_at, body, digest) VALUES (?1, ?2, ?3, ?4, ?5)"
        } else {
            "UPDATE keys SET account = ?2, due_at = ?3, body = ?4, digest = ?5 WHERE key_id = ?1"
        };
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| {
                s.execute(params![
                    rec.key_id.as_bytes().as_slice(),
                    rec.account.as_str(),
                    due,
                    body,
                    dig.as_slice()
                ])
            })
            .map_err(sql_err("writing a key record"))?;
        Ok(())
    }

    fn write_version(&self, id: &KeyId, v: &WrappedVersion) -> Result<(), StoreError> {
        let meta = encode(&VersionMeta::of(v), "encoding a key version")?;
        let dig = version_digest(id, &v.id.0, &v.wrapped, &meta);
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO versions (key_id, seq, version_id, wrapped, meta, digest)
                 SELECT ?1, coalesce(max(seq), -1) + 1, ?2, ?3, ?4, ?5
                 FROM versions WHERE key_id = ?1
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    id.as_bytes().as_slice(),
                    v.id.0.as_slice(),
                    v.wrapped,
                    meta,
                    dig.as_slice()
                ])
            })
            .map_err(sql_err("writing a key version"))?;
        if n == 0 {
            return Err(StoreError::AlreadyExists {
                what: "key version",
            });
        }
        Ok(())
    }

    fn write_alias(&self, rec: &AliasRecord, insert: bool) -> Result<(), StoreError> {
        let body = encode(rec, "encoding an alias")?;
        let dig = digest(&[&body]);
        let sql = if insert {
            "INSERT INTO aliases (account, name, target, body, digest) VALUES (?1, ?2, ?3, ?4, ?5)"
        } else {
            "UPDATE aliases SET target = ?3, body = ?4, digest = ?5 WHERE account = ?1 AND name = ?2"
        };
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| {
                s.execute(params![
                    rec.account.as_str(),
                    rec.name,
                    rec.target.as_bytes().as_slice(),
                    body,
                    dig.as_slice()
                ])
            })
            .map_err(sql_err("writing an alias"))?;
        Ok(())
    }
}

impl SqliteTxn<'_> {
    fn custom_key_store_exists(&self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("SELECT 1 FROM custom_key_stores WHERE id = ?1")
            .and_then(|mut s| s.exists([id]))
            .map_err(sql_err("looking up a custom key store"))
    }

    fn write_custom_key_store(
        &self,
        rec: &CustomKeyStoreRecord,
        insert: bool,
    ) -> Result<(), StoreError> {
        let body = encode(rec, "encoding a custom key store")?;
        let dig = digest(&[&body]);
        let sql = if insert {
            "INSERT INTO custom_key_stores (id, account, body, digest) VALUES (?1, ?2, ?3, ?4)"
        } else {
            "UPDATE custom_key_stores SET account = ?2, body = ?3, digest = ?4 WHERE id = ?1"
        };
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| {
                s.execute(params![rec.id, rec.account.as_str(), body, dig.as_slice()])
            })
            .map_err(sql_err("writing a custom key store"))?;
        Ok(())
    }
}

impl Txn for SqliteTxn<'_> {
    fn custom_key_stores(
        &mut self,
        account: Option<&AccountId>,
    ) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
        let map = |r: &rusqlite::Row<'_>| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        };
        let rows: Vec<(String, Vec<u8>, Vec<u8>)> = match account {
            Some(a) => self
                .conn
                .prepare_cached(
                    "SELECT id, body, digest FROM custom_key_stores WHERE account = ?1 ORDER BY id",
                )
                .and_then(|mut s| s.query_map([a.as_str()], map)?.collect()),
            None => self
                .conn
                .prepare_cached("SELECT id, body, digest FROM custom_key_stores ORDER BY id")
                .and_then(|mut s| s.query_map([], map)?.collect()),
        }
        .map_err(sql_err("listing custom key stores"))?;
        rows.iter()
            .map(|(id, b, d)| decode_custom_key_store(id, b, d))
            .collect()
    }

    fn insert_custom_key_store(&mut self, rec: &CustomKeyStoreRecord) -> Result<(), StoreError> {
        if self.custom_key_store_exists(&rec.id)? {
            return Err(StoreError::AlreadyExists {
                what: "custom key store",
            });
        }
        self.write_custom_key_store(rec, true)
    }

    fn update_custom_key_store(&mut self, rec: &CustomKeyStoreRecord) -> Result<(), StoreError> {
        if !self.custom_key_store_exists(&rec.id)? {
            return Err(StoreError::NotFound {
                what: "custom key store",
            });
        }
        self.write_custom_key_store(rec, false)
    }

    fn delete_custom_key_store(&mut self, id: &str) -> Result<(), StoreError> {
        if !self.custom_key_store_exists(id)? {
            return Err(StoreError::NotFound {
                what: "custom key store",
            });
        }
        self.conn
            .prepare_cached("DELETE FROM custom_key_stores WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(sql_err("deleting a custom key store"))?;
        // The wrapped PIN leaves the files too (secure_delete, then the WAL is folded in).
        self.purged = true;
        Ok(())
    }

    fn key(&mut self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let row: Option<KeyRow> = self
            .conn
            .prepare_cached("SELECT key_id, body, digest FROM keys WHERE key_id = ?1")
            .and_then(|mut s| {
                s.query_row([id.as_bytes().as_slice()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(sql_err("reading a key"))?;
        row.map(|(k, b, d)| decode_key(&k, &b, &d)).transpose()
    }

    fn insert_key(&mut self, rec: &KeyRecord, first: &WrappedVersion) -> Result<(), StoreError> {
        if self.key_exists(&rec.key_id)? {
            return Err(StoreError::AlreadyExists { what: "key" });
        }
        self.write_key(rec, true)?;
        self.write_version(&rec.key_id, first)
    }

    fn insert_pending_key(&mut self, rec: &KeyRecord) -> Result<(), StoreError> {
        if self.key_exists(&rec.key_id)? {
            return Err(StoreError::AlreadyExists { what: "key" });
        }
        self.write_key(rec, true)
    }

    fn delete_versions(&mut self, id: &KeyId) -> Result<(), StoreError> {
        if !self.key_exists(id)? {
            return Err(StoreError::NotFound { what: "key" });
        }
        self.conn
            .prepare_cached("DELETE FROM versions WHERE key_id = ?1")
            .and_then(|mut s| s.execute([id.as_bytes().as_slice()]))
            .map_err(sql_err("deleting key material"))?;
        // secure_delete zeroes the rows; the commit folds the WAL into the database and
        // truncates it, so no copy of the wrapped material stays in any file.
        self.purged = true;
        Ok(())
    }

    fn update_key(&mut self, rec: &KeyRecord) -> Result<(), StoreError> {
        if !self.key_exists(&rec.key_id)? {
            return Err(StoreError::NotFound { what: "key" });
        }
        self.write_key(rec, false)
    }

    fn delete_key(&mut self, id: &KeyId) -> Result<(), StoreError> {
        if !self.key_exists(id)? {
            return Err(StoreError::NotFound { what: "key" });
        }
        let k = id.as_bytes().as_slice();
        for sql in [
            "DELETE FROM versions WHERE key_id = ?1",
            "DELETE FROM aliases WHERE target = ?1",
            "DELETE FROM grants WHERE key_id = ?1",
            "DELETE FROM keys WHERE key_id = ?1",
        ] {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute([k]))
                .map_err(sql_err("deleting a key"))?;
        }
        self.purged = true;
        Ok(())
    }

    fn list_keys(
        &mut self,
        account: &AccountId,
        after: Option<&KeyId>,
        limit_n: usize,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        let after: &[u8] = after.map_or(&[], |k| k.as_bytes().as_slice());
        let rows: Vec<KeyRow> = self
            .conn
            .prepare_cached(
                "SELECT key_id, body, digest FROM keys
                 WHERE account = ?1 AND key_id > ?2 ORDER BY key_id LIMIT ?3",
            )
            .and_then(|mut s| {
                s.query_map(params![account.as_str(), after, limit(limit_n)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect()
            })
            .map_err(sql_err("listing keys"))?;
        rows.iter().map(|(k, b, d)| decode_key(k, b, d)).collect()
    }

    fn keys_due(&mut self, now: SystemTime, limit_n: usize) -> Result<Vec<KeyId>, StoreError> {
        let rows: Vec<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT key_id FROM keys WHERE due_at <= ?1 ORDER BY due_at, key_id LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![nanos(now), limit(limit_n)], |r| r.get(0))?
                    .collect()
            })
            .map_err(sql_err("listing keys due"))?;
        rows.iter().map(|k| key_id_from(k)).collect()
    }

    fn versions(&mut self, id: &KeyId) -> Result<Vec<WrappedVersion>, StoreError> {
        type Row = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);
        let rows: Vec<Row> = self
            .conn
            .prepare_cached(
                "SELECT version_id, wrapped, meta, digest FROM versions
                 WHERE key_id = ?1 ORDER BY seq",
            )
            .and_then(|mut s| {
                s.query_map([id.as_bytes().as_slice()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect()
            })
            .map_err(sql_err("reading key versions"))?;
        rows.into_iter()
            .map(|(vid, wrapped, meta, dig)| decode_version(id, vid, wrapped, &meta, &dig))
            .collect()
    }

    fn add_version(&mut self, id: &KeyId, v: &WrappedVersion) -> Result<(), StoreError> {
        if !self.key_exists(id)? {
            return Err(StoreError::NotFound { what: "key" });
        }
        self.write_version(id, v)
    }

    fn alias(
        &mut self,
        account: &AccountId,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT body, digest FROM aliases WHERE account = ?1 AND name = ?2")
            .and_then(|mut s| {
                s.query_row(params![account.as_str(), name], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(sql_err("reading an alias"))?;
        row.map(|(b, d)| decode_alias(account.as_str(), name, &b, &d))
            .transpose()
    }

    fn insert_alias(&mut self, rec: &AliasRecord) -> Result<(), StoreError> {
        if self.alias_exists(&rec.account, &rec.name)? {
            return Err(StoreError::AlreadyExists { what: "alias" });
        }
        self.write_alias(rec, true)
    }

    fn update_alias(&mut self, rec: &AliasRecord) -> Result<(), StoreError> {
        if !self.alias_exists(&rec.account, &rec.name)? {
            return Err(StoreError::NotFound { what: "alias" });
        }
        self.write_alias(rec, false)
    }

    fn delete_alias(&mut self, account: &AccountId, name: &str) -> Result<(), StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM aliases WHERE account = ?1 AND name = ?2")
            .and_then(|mut s| s.execute(params![account.as_str(), name]))
            .map_err(sql_err("deleting an alias"))?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "alias" });
        }
        Ok(())
    }

    fn list_aliases(
        &mut self,
        account: &AccountId,
        key: Option<&KeyId>,
        after: Option<&str>,
        limit_n: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        // One statement per shape, so each is a range of an index: an `(?2 IS NULL OR …)`
        // term leaves SQLite only `account = ?`, a scan of every alias of the account (which a
        // cache miss paid for its key's aliases). Alias names are never empty, so `name > ''`
        // is the whole account.
        let after = after.unwrap_or("");
        let map = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?));
        let rows: Vec<AliasRow> = match key {
            Some(k) => self
                .conn
                .prepare_cached(LIST_ALIASES_OF_KEY)
                .and_then(|mut s| {
                    s.query_map(
                        params![
                            account.as_str(),
                            after,
                            k.as_bytes().as_slice(),
                            limit(limit_n)
                        ],
                        map,
                    )?
                    .collect()
                }),
            None => self.conn.prepare_cached(LIST_ALIASES).and_then(|mut s| {
                s.query_map(params![account.as_str(), after, limit(limit_n)], map)?
                    .collect()
            }),
        }
        .map_err(sql_err("listing aliases"))?;
        rows.iter()
            .map(|(a, n, b, d)| decode_alias(a, n, b, d))
            .collect()
    }

    fn grants(&mut self, key: &KeyId) -> Result<Vec<Grant>, StoreError> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT body, digest FROM grants WHERE key_id = ?1 ORDER BY grant_id")
            .and_then(|mut s| {
                s.query_map([key.as_bytes().as_slice()], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(sql_err("listing grants"))?;
        rows.iter().map(|(b, d)| decode_grant(b, d)).collect()
    }

    fn grant(&mut self, key: &KeyId, grant_id: &str) -> Result<Option<Grant>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT body, digest FROM grants WHERE key_id = ?1 AND grant_id = ?2")
            .and_then(|mut s| {
                s.query_row(params![key.as_bytes().as_slice(), grant_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(sql_err("reading a grant"))?;
        row.map(|(b, d)| decode_grant(&b, &d)).transpose()
    }

    fn insert_grant(&mut self, grant: &Grant) -> Result<(), StoreError> {
        if !self.key_exists(&grant.key_id)? {
            return Err(StoreError::NotFound { what: "key" });
        }
        if self.grant(&grant.key_id, &grant.grant_id)?.is_some() {
            return Err(StoreError::AlreadyExists { what: "grant" });
        }
        let body = encode(grant, "encoding a grant")?;
        let dig = digest(&[&body]);
        self.conn
            .prepare_cached(
                "INSERT INTO grants (key_id, grant_id, account, retiring, body, digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    grant.key_id.as_bytes().as_slice(),
                    grant.grant_id,
                    grant.account.as_str(),
                    grant.retiring_principal,
                    body,
                    dig.as_slice()
                ])
            })
            .map_err(sql_err("inserting a grant"))?;
        Ok(())
    }

    fn delete_grant(&mut self, key: &KeyId, grant_id: &str) -> Result<(), StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM grants WHERE key_id = ?1 AND grant_id = ?2")
            .and_then(|mut s| s.execute(params![key.as_bytes().as_slice(), grant_id]))
            .map_err(sql_err("deleting a grant"))?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "grant" });
        }
        Ok(())
    }

    fn grants_retirable_by(
        &mut self,
        account: &AccountId,
        principal: &str,
        after: Option<&str>,
        limit_n: usize,
    ) -> Result<Vec<Grant>, StoreError> {
        // "No marker" is `grant_id > ''` (every grant id sorts after the empty string), so the
        // statement stays a range of `grants_by_retiring`, not a scan of the principal's grants
        // filtered by an `(?3 IS NULL OR …)` the planner cannot use.
        let after = after.unwrap_or("");
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached(GRANTS_RETIRABLE_BY)
            .and_then(|mut s| {
                s.query_map(
                    params![account.as_str(), principal, after, limit(limit_n)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect()
            })
            .map_err(sql_err("listing retirable grants"))?;
        rows.iter().map(|(b, d)| decode_grant(b, d)).collect()
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(sql_err("committing"))?;
        self.open = false;
        if self.purged {
            // Deletion means gone: fold the WAL (which still holds the deleted rows' old pages)
            // into the database, where secure_delete has zeroed them, and truncate it. The
            // change is committed whatever happens here: a checkpoint that cannot run now (a
            // backup is reading) is done by the next one, at the latest when the store closes.
            let _ = checkpoint_truncate(&self.conn);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(sql: &str) -> String {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let rows = stmt
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("; ")
    }

    /// A page of the grants a principal may retire is a range of `grants_by_retiring` after
    /// the marker, in grant-id order without a sort.
    #[test]
    fn retirable_grants_are_an_index_range() {
        let p = plan(GRANTS_RETIRABLE_BY);
        assert!(
            p.contains("grants_by_retiring (account=? AND retiring=? AND grant_id>?)"),
            "{p}"
        );
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }

    /// Listing aliases after a marker, and a key's aliases (every cache miss reads them), are
    /// index ranges, not scans of the account's aliases.
    #[test]
    fn alias_listings_are_index_ranges() {
        let all = plan(LIST_ALIASES);
        assert!(all.contains("PRIMARY KEY (account=? AND name>?)"), "{all}");
        assert!(!all.contains("TEMP B-TREE"), "{all}");
        let of_key = plan(LIST_ALIASES_OF_KEY);
        assert!(
            of_key.contains("aliases_by_target (target=? AND account=? AND name>?)"),
            "{of_key}"
        );
        assert!(!of_key.contains("TEMP B-TREE"), "{of_key}");
    }
}
