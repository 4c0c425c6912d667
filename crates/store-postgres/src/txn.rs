//! One PostgreSQL transaction: `BEGIN ISOLATION LEVEL SERIALIZABLE` on a pooled connection held
//! for the transaction's life; `COMMIT` in [`Txn::commit`], `ROLLBACK` on drop.
//!
//! Expected outcomes (a duplicate, a missing row) are found by reading first or by
//! `ON CONFLICT DO NOTHING` and row counts, never by letting a statement fail: in PostgreSQL a
//! failed statement aborts the whole transaction, and the caller may go on after an
//! `AlreadyExists` (the conformance kit does). If a statement does fail, the transaction is
//! marked aborted: every later call, and `commit`, fails (PostgreSQL would turn the `COMMIT` of
//! an aborted transaction into a silent `ROLLBACK`).

use std::time::SystemTime;

use coffer_core::{AccountId, KeyId};
use coffer_grants::Grant;
use coffer_keys::{KeyRecord, WrappedVersion};
use coffer_store::{AliasRecord, CustomKeyStoreRecord, StoreError, Txn};
use postgres::types::ToSql;
use postgres::Row;

use crate::codec::{
    decode_alias, decode_custom_key_store, decode_grant, decode_key, decode_version, digest,
    encode, key_id_from, limit, nanos, text, version_digest, VersionMeta,
};
use crate::error::{classify, is_retryable, pg_err, Aborted};
use crate::pool::{Lent, Pool};

type Params<'p> = [&'p (dyn ToSql + Sync)];

pub(crate) struct PgTxn<'a> {
    lent: Lent<'a>,
    /// `BEGIN` ran and neither `COMMIT` nor `ROLLBACK` has.
    open: bool,
    /// A statement failed: `Some(retryable)`.
    aborted: Option<bool>,
    /// Versions were deleted: vacuum after commit so no dead copy stays readable.
    purged: bool,
}

impl<'a> PgTxn<'a> {
    pub(crate) fn begin(pool: &'a Pool) -> Result<Self, StoreError> {
        // An idle connection may have died with the server (a restart): it fails at BEGIN, is
        // dropped, and the next one is tried; a new connection is made once the idle ones are
        // used up, so this ends.
        let mut last = None;
        for _ in 0..=pool.max() {
            let mut lent = pool.get()?;
            let conn = lent.conn()?;
            match conn
                .client
                .batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
            {
                Ok(()) => {
                    return Ok(Self {
                        lent,
                        open: true,
                        aborted: None,
                        purged: false,
                    })
                }
                Err(e) => {
                    // A connection the server ended while it was idle reports it here (the
                    // server's FATAL message, or a closed socket).
                    let stale = conn.client.is_closed() || is_retryable(&e);
                    lent.mark_broken();
                    if !stale {
                        return Err(classify("beginning a transaction", e));
                    }
                    last = Some(e);
                }
            }
        }
        Err(match last {
            Some(e) => classify("beginning a transaction", e),
            None => StoreError::Retryable {
                context: "beginning a transaction",
                source: "no connection could be used".into(),
            },
        })
    }

    fn check_open(&self, context: &'static str) -> Result<(), StoreError> {
        match self.aborted {
            None => Ok(()),
            Some(true) => Err(StoreError::Retryable {
                context,
                source: Box::new(Aborted),
            }),
            Some(false) => Err(StoreError::Backend {
                context,
                source: Box::new(Aborted),
            }),
        }
    }

    fn failed(
        &mut self,
        e: postgres::Error,
        context: &'static str,
        what: &'static str,
    ) -> StoreError {
        self.aborted = Some(is_retryable(&e));
        if let Ok(conn) = self.lent.conn() {
            if conn.client.is_closed() {
                self.lent.mark_broken();
            }
        }
        pg_err(context, what)(e)
    }

    /// Runs a query; `what` names the row for a uniqueness violation.
    fn query(
        &mut self,
        context: &'static str,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, StoreError> {
        self.check_open(context)?;
        let conn = self.lent.conn()?;
        let res = conn
            .statement(sql)
            .and_then(|st| conn.client.query(&st, params));
        res.map_err(|e| self.failed(e, context, context))
    }

    /// Runs a statement and returns the number of rows it changed.
    fn execute(
        &mut self,
        context: &'static str,
        what: &'static str,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<u64, StoreError> {
        self.check_open(context)?;
        let conn = self.lent.conn()?;
        let res = conn
            .statement(sql)
            .and_then(|st| conn.client.execute(&st, params));
        res.map_err(|e| self.failed(e, context, what))
    }

    fn key_exists(&mut self, id: &KeyId) -> Result<bool, StoreError> {
        let k: &[u8] = id.as_bytes();
        Ok(!self
            .query(
                "looking up a key",
                "SELECT 1 FROM keys WHERE key_id = $1",
                &[&k],
            )?
            .is_empty())
    }

    fn alias_exists(&mut self, account: &AccountId, name: &str) -> Result<bool, StoreError> {
        Ok(!self
            .query(
                "looking up an alias",
                "SELECT 1 FROM aliases WHERE account = $1 AND name = $2",
                &[&account.as_str(), &name],
            )?
            .is_empty())
    }

    fn write_key(&mut self, rec: &KeyRecord, insert: bool) -> Result<u64, StoreError> {
        let body = encode(rec, "encoding a key record")?;
        let dig = digest(&[&body]);
        let due = rec.due_at().map(nanos);
        let sql = if insert {
            "INSERT INTO keys (key_id, account, due_at, body, digest) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key_id) DO NOTHING"
        } else {
            "UPDATE keys SET account = $2, due_at = $3, body = $4, digest = $5 WHERE key_id = $1"
        };
        let k: &[u8] = rec.key_id.as_bytes();
        let d: &[u8] = &dig;
        self.execute(
            "writing a key record",
            "key",
            sql,
            &[&k, &rec.account.as_str(), &due, &body, &d],
        )
    }

    fn write_version(&mut self, id: &KeyId, v: &WrappedVersion) -> Result<(), StoreError> {
        let meta = encode(&VersionMeta::of(v), "encoding a key version")?;
        let dig = version_digest(id, &v.id.0, &v.wrapped, &meta);
        let k: &[u8] = id.as_bytes();
        let vid: &[u8] = &v.id.0;
        let d: &[u8] = &dig;
        // Two nodes adding a version to one key at once compute the same `seq`: the second
        // fails with a serialization failure (it read the versions the first wrote), which is
        // retryable; a repeated version id is `AlreadyExists`.
        let n = self.execute(
            "writing a key version",
            "key version",
            "INSERT INTO versions (key_id, seq, version_id, wrapped, meta, digest)
             SELECT $1, coalesce(max(seq), -1) + 1, $2, $3, $4, $5
             FROM versions WHERE key_id = $1
             ON CONFLICT (key_id, version_id) DO NOTHING",
            &[&k, &vid, &v.wrapped, &meta, &d],
        )?;
        if n == 0 {
            return Err(StoreError::AlreadyExists {
                what: "key version",
            });
        }
        Ok(())
    }

    fn write_alias(&mut self, rec: &AliasRecord, insert: bool) -> Result<u64, StoreError> {
        let name = text(&rec.name, "writing an alias")?;
        let body = encode(rec, "encoding an alias")?;
        let dig = digest(&[&body]);
        let sql = if insert {
            "INSERT INTO aliases (account, name, target, body, digest) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account, name) DO NOTHING"
        } else {
            "UPDATE aliases SET target = $3, body = $4, digest = $5
             WHERE account = $1 AND name = $2"
        };
        let t: &[u8] = rec.target.as_bytes();
        let d: &[u8] = &dig;
        self.execute(
            "writing an alias",
            "alias",
            sql,
            &[&rec.account.as_str(), &name, &t, &body, &d],
        )
    }
}

impl Drop for PgTxn<'_> {
    fn drop(&mut self) {
        if self.open {
            let ok = self
                .lent
                .conn()
                .is_ok_and(|c| c.client.batch_execute("ROLLBACK").is_ok());
            if !ok {
                // The connection's state is unknown: it is closed, not reused.
                self.lent.mark_broken();
            }
        }
    }
}

fn col<'r, T: postgres::types::FromSql<'r>>(row: &'r Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i).map_err(|e| StoreError::Corrupt {
        what: "database column",
        source: Some(Box::new(e)),
    })
}

fn keys_from(rows: &[Row]) -> Result<Vec<KeyRecord>, StoreError> {
    rows.iter()
        .map(|r| {
            decode_key(
                col::<&[u8]>(r, 0)?,
                col::<&[u8]>(r, 1)?,
                col::<&[u8]>(r, 2)?,
            )
        })
        .collect()
}

fn grants_from(rows: &[Row]) -> Result<Vec<Grant>, StoreError> {
    rows.iter()
        .map(|r| decode_grant(col::<&[u8]>(r, 0)?, col::<&[u8]>(r, 1)?))
        .collect()
}

fn aliases_from(rows: &[Row]) -> Result<Vec<AliasRecord>, StoreError> {
    rows.iter()
        .map(|r| {
            decode_alias(
                col::<&str>(r, 0)?,
                col::<&str>(r, 1)?,
                col::<&[u8]>(r, 2)?,
                col::<&[u8]>(r, 3)?,
            )
        })
        .collect()
}

impl Txn for PgTxn<'_> {
    fn custom_key_stores(
        &mut self,
        account: Option<&AccountId>,
    ) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
        let rows = match account {
            Some(a) => self.query(
                "listing custom key stores",
                "SELECT id, body, digest FROM custom_key_stores WHERE account = $1 ORDER BY id",
                &[&a.as_str()],
            )?,
            None => self.query(
                "listing custom key stores",
                "SELECT id, body, digest FROM custom_key_stores ORDER BY id",
                &[],
            )?,
        };
        rows.iter()
            .map(|r| {
                decode_custom_key_store(
                    col::<&str>(r, 0)?,
                    col::<&[u8]>(r, 1)?,
                    col::<&[u8]>(r, 2)?,
                )
            })
            .collect()
    }

    fn insert_custom_key_store(&mut self, rec: &CustomKeyStoreRecord) -> Result<(), StoreError> {
        let id = text(&rec.id, "writing a custom key store")?;
        let body = encode(rec, "encoding a custom key store")?;
        let dig = digest(&[&body]);
        let d: &[u8] = &dig;
        let n = self.execute(
            "writing a custom key store",
            "custom key store",
            "INSERT INTO custom_key_stores (id, account, body, digest) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
            &[&id, &rec.account.as_str(), &body, &d],
        )?;
        if n == 0 {
            return Err(StoreError::AlreadyExists {
                what: "custom key store",
            });
        }
        Ok(())
    }

    fn update_custom_key_store(&mut self, rec: &CustomKeyStoreRecord) -> Result<(), StoreError> {
        let id = text(&rec.id, "writing a custom key store")?;
        let body = encode(rec, "encoding a custom key store")?;
        let dig = digest(&[&body]);
        let d: &[u8] = &dig;
        let n = self.execute(
            "writing a custom key store",
            "custom key store",
            "UPDATE custom_key_stores SET account = $2, body = $3, digest = $4 WHERE id = $1",
            &[&id, &rec.account.as_str(), &body, &d],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "custom key store",
            });
        }
        Ok(())
    }

    fn delete_custom_key_store(&mut self, id: &str) -> Result<(), StoreError> {
        let id = text(id, "deleting a custom key store")?;
        let n = self.execute(
            "deleting a custom key store",
            "custom key store",
            "DELETE FROM custom_key_stores WHERE id = $1",
            &[&id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "custom key store",
            });
        }
        Ok(())
    }

    fn key(&mut self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let k: &[u8] = id.as_bytes();
        let rows = self.query(
            "reading a key",
            "SELECT key_id, body, digest FROM keys WHERE key_id = $1",
            &[&k],
        )?;
        Ok(keys_from(&rows)?.pop())
    }

    fn insert_key(&mut self, rec: &KeyRecord, first: &WrappedVersion) -> Result<(), StoreError> {
        if self.write_key(rec, true)? == 0 {
            return Err(StoreError::AlreadyExists { what: "key" });
        }
        self.write_version(&rec.key_id, first)
    }

    fn insert_pending_key(&mut self, rec: &KeyRecord) -> Result<(), StoreError> {
        if self.write_key(rec, true)? == 0 {
            return Err(StoreError::AlreadyExists { what: "key" });
        }
        Ok(())
    }

    fn update_key(&mut self, rec: &KeyRecord) -> Result<(), StoreError> {
        if self.write_key(rec, false)? == 0 {
            return Err(StoreError::NotFound { what: "key" });
        }
        Ok(())
    }

    fn delete_key(&mut self, id: &KeyId) -> Result<(), StoreError> {
        let k: &[u8] = id.as_bytes();
        // Versions, aliases and grants go with the key (ON DELETE CASCADE).
        let n = self.execute(
            "deleting a key",
            "key",
            "DELETE FROM keys WHERE key_id = $1",
            &[&k],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "key" });
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
        let rows = self.query(
            "listing keys",
            "SELECT key_id, body, digest FROM keys
             WHERE account = $1 AND key_id > $2 ORDER BY key_id LIMIT $3",
            &[&account.as_str(), &after, &limit(limit_n)],
        )?;
        keys_from(&rows)
    }

    fn keys_due(&mut self, now: SystemTime, limit_n: usize) -> Result<Vec<KeyId>, StoreError> {
        let rows = self.query(
            "listing keys due",
            "SELECT key_id FROM keys WHERE due_at <= $1 ORDER BY due_at, key_id LIMIT $2",
            &[&nanos(now), &limit(limit_n)],
        )?;
        rows.iter()
            .map(|r| key_id_from(col::<&[u8]>(r, 0)?))
            .collect()
    }

    fn versions(&mut self, id: &KeyId) -> Result<Vec<WrappedVersion>, StoreError> {
        let k: &[u8] = id.as_bytes();
        let rows = self.query(
            "reading key versions",
            "SELECT version_id, wrapped, meta, digest FROM versions
             WHERE key_id = $1 ORDER BY seq",
            &[&k],
        )?;
        rows.iter()
            .map(|r| {
                decode_version(
                    id,
                    col::<Vec<u8>>(r, 0)?,
                    col::<Vec<u8>>(r, 1)?,
                    col::<&[u8]>(r, 2)?,
                    col::<&[u8]>(r, 3)?,
                )
            })
            .collect()
    }

    fn delete_versions(&mut self, id: &KeyId) -> Result<(), StoreError> {
        if !self.key_exists(id)? {
            return Err(StoreError::NotFound { what: "key" });
        }
        let k: &[u8] = id.as_bytes();
        self.execute(
            "deleting key material",
            "key version",
            "DELETE FROM versions WHERE key_id = $1",
            &[&k],
        )?;
        self.purged = true;
        Ok(())
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
        let name = text(name, "reading an alias")?;
        let rows = self.query(
            "reading an alias",
            "SELECT account, name, body, digest FROM aliases WHERE account = $1 AND name = $2",
            &[&account.as_str(), &name],
        )?;
        Ok(aliases_from(&rows)?.pop())
    }

    fn insert_alias(&mut self, rec: &AliasRecord) -> Result<(), StoreError> {
        let name = text(&rec.name, "writing an alias")?;
        if self.alias_exists(&rec.account, name)? {
            return Err(StoreError::AlreadyExists { what: "alias" });
        }
        // The target must exist (a foreign key, so a key deleted on another node cannot be
        // left with an alias); checked first so the transaction is not aborted by the
        // constraint.
        if !self.key_exists(&rec.target)? {
            return Err(StoreError::NotFound { what: "key" });
        }
        if self.write_alias(rec, true)? == 0 {
            return Err(StoreError::AlreadyExists { what: "alias" });
        }
        Ok(())
    }

    fn update_alias(&mut self, rec: &AliasRecord) -> Result<(), StoreError> {
        let name = text(&rec.name, "writing an alias")?;
        if !self.alias_exists(&rec.account, name)? {
            return Err(StoreError::NotFound { what: "alias" });
        }
        if !self.key_exists(&rec.target)? {
            return Err(StoreError::NotFound { what: "key" });
        }
        if self.write_alias(rec, false)? == 0 {
            return Err(StoreError::NotFound { what: "alias" });
        }
        Ok(())
    }

    fn delete_alias(&mut self, account: &AccountId, name: &str) -> Result<(), StoreError> {
        let name = text(name, "deleting an alias")?;
        let n = self.execute(
            "deleting an alias",
            "alias",
            "DELETE FROM aliases WHERE account = $1 AND name = $2",
            &[&account.as_str(), &name],
        )?;
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
        // One statement per shape: an `$n IS NULL OR …` filter would leave a prepared
        // statement's generic plan only `account = $1`, a scan of every alias of the account.
        // The empty string sorts before every alias name, so "no marker" is `name > ''`.
        let after = text(after.unwrap_or(""), "listing aliases")?;
        let rows = match key {
            // A key's aliases: the `aliases_by_target` index, then the few rows it finds.
            Some(k) => {
                let k: &[u8] = k.as_bytes();
                self.query(
                    "listing aliases",
                    "SELECT account, name, body, digest FROM aliases
                     WHERE target = $3 AND account = $1 AND name > $2
                     ORDER BY name LIMIT $4",
                    &[&account.as_str(), &after, &k, &limit(limit_n)],
                )?
            }
            // A page of the account's aliases: a range of the primary key.
            None => self.query(
                "listing aliases",
                "SELECT account, name, body, digest FROM aliases
                 WHERE account = $1 AND name > $2
                 ORDER BY name LIMIT $3",
                &[&account.as_str(), &after, &limit(limit_n)],
            )?,
        };
        aliases_from(&rows)
    }

    fn grants(&mut self, key: &KeyId) -> Result<Vec<Grant>, StoreError> {
        let k: &[u8] = key.as_bytes();
        let rows = self.query(
            "listing grants",
            "SELECT body, digest FROM grants WHERE key_id = $1 ORDER BY grant_id",
            &[&k],
        )?;
        grants_from(&rows)
    }

    fn grant(&mut self, key: &KeyId, grant_id: &str) -> Result<Option<Grant>, StoreError> {
        let grant_id = text(grant_id, "reading a grant")?;
        let k: &[u8] = key.as_bytes();
        let rows = self.query(
            "reading a grant",
            "SELECT body, digest FROM grants WHERE key_id = $1 AND grant_id = $2",
            &[&k, &grant_id],
        )?;
        Ok(grants_from(&rows)?.pop())
    }

    fn insert_grant(&mut self, grant: &Grant) -> Result<(), StoreError> {
        let grant_id = text(&grant.grant_id, "inserting a grant")?;
        let retiring = grant
            .retiring_principal
            .as_deref()
            .map(|p| text(p, "inserting a grant"))
            .transpose()?;
        if !self.key_exists(&grant.key_id)? {
            return Err(StoreError::NotFound { what: "key" });
        }
        let body = encode(grant, "encoding a grant")?;
        let dig = digest(&[&body]);
        let k: &[u8] = grant.key_id.as_bytes();
        let d: &[u8] = &dig;
        let n = self.execute(
            "inserting a grant",
            "grant",
            "INSERT INTO grants (key_id, grant_id, account, retiring, body, digest)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key_id, grant_id) DO NOTHING",
            &[&k, &grant_id, &grant.account.as_str(), &retiring, &body, &d],
        )?;
        if n == 0 {
            return Err(StoreError::AlreadyExists { what: "grant" });
        }
        Ok(())
    }

    fn delete_grant(&mut self, key: &KeyId, grant_id: &str) -> Result<(), StoreError> {
        let grant_id = text(grant_id, "deleting a grant")?;
        let k: &[u8] = key.as_bytes();
        let n = self.execute(
            "deleting a grant",
            "grant",
            "DELETE FROM grants WHERE key_id = $1 AND grant_id = $2",
            &[&k, &grant_id],
        )?;
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
        let principal = text(principal, "listing retirable grants")?;
        // No `$3 IS NULL OR …` (a generic plan could not use it as a range of
        // `grants_by_retiring`): "no marker" is `grant_id > ''`.
        let after = text(after.unwrap_or(""), "listing retirable grants")?;
        let rows = self.query(
            "listing retirable grants",
            "SELECT body, digest FROM grants
             WHERE account = $1 AND retiring = $2 AND grant_id > $3
             ORDER BY grant_id LIMIT $4",
            &[&account.as_str(), &principal, &after, &limit(limit_n)],
        )?;
        grants_from(&rows)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        // An aborted transaction is rolled back by drop; its COMMIT would roll back silently.
        self.check_open("committing")?;
        let res = self.lent.conn()?.client.batch_execute("COMMIT");
        // Committed or not, the transaction is over (a failed COMMIT rolls back); if the
        // connection was lost, its outcome is unknown and the connection is not reused.
        self.open = false;
        if let Err(e) = res {
            // A refused COMMIT (a serialization failure found at commit) leaves a usable
            // connection; a lost one, or one in an unknown state, is not reused.
            let closed = self.lent.conn().map_or(true, |c| c.client.is_closed());
            let connection_failed = e.code().is_none_or(|c| {
                let c = c.code();
                c.starts_with("08") || c.starts_with("57P")
            });
            if closed || connection_failed {
                self.lent.mark_broken();
            }
            return Err(classify("committing", e));
        }
        if self.purged {
            // Deleted versions stay in the table as dead tuples until VACUUM removes them: do
            // it now, so no copy of the wrapped material stays readable. The change is
            // committed whatever happens here; a tuple that another open transaction can still
            // see is kept by VACUUM and removed by the next one (autovacuum, or the next purge).
            if let Ok(conn) = self.lent.conn() {
                let _ = conn.client.batch_execute("VACUUM versions");
            }
        }
        Ok(())
    }
}
