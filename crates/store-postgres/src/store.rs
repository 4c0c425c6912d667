//! [`PostgresStore`]: the store, its options and its connection pool.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use coffer_store::{Store, StoreError, Txn};
use postgres::config::Host;
use postgres::Config;

use crate::error::classify;
use crate::pool::Pool;
use crate::schema;
use crate::tls::Connector;
use crate::txn::PgTxn;
use crate::watch::{Change, Watcher};

/// How a [`PostgresStore`] connects. `Default` gives 8 connections, a 30 s wait for a free
/// one, a 10 s connect timeout unless the URL sets `connect_timeout`, and the system's root
/// certificates for `sslmode=require`.
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Connections the pool keeps open at most (at least 1).
    pub max_connections: usize,
    /// How long `begin` waits for a free connection before it fails with
    /// [`StoreError::Retryable`].
    pub pool_wait: Duration,
    /// Connect timeout, used when the URL has no `connect_timeout`.
    pub connect_timeout: Duration,
    /// The TLS client configuration for `sslmode=require` (its roots are what the server's
    /// certificate is verified against); `None`: rustls with the system's root certificates.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The password, overriding one in the URL (read from a file or the environment by the
    /// caller, so that it need not be in the URL). Never printed.
    pub password: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            pool_wait: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            tls: None,
            password: None,
        }
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("max_connections", &self.max_connections)
            .field("pool_wait", &self.pool_wait)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls.as_ref().map(|_| "custom"))
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A [`Store`] on a PostgreSQL database, shared by every coffer node that connects to it.
///
/// Every transaction is `SERIALIZABLE` on a pooled connection; see the crate docs and
/// `docs/STORAGE.md` for errors, retries and deletion.
pub struct PostgresStore {
    pool: Pool,
    /// What `Debug` and errors may show: host, port, database, user. Never the password.
    target: String,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("tls", self.pool.connector())
            .finish_non_exhaustive()
    }
}

/// `user@host:port/dbname`, without the password.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}@{}:{}/{}",
        config.get_user().unwrap_or("?"),
        hosts.join(","),
        ports.join(","),
        config.get_dbname().unwrap_or("?"),
    )
}

impl PostgresStore {
    /// Connects with [`PostgresOptions::default`]: see [`PostgresStore::connect_with`].
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresOptions::default())
    }

    /// Parses `url` (`postgres://user:password@host:port/dbname?sslmode=require`, or libpq's
    /// `key=value` form), opens one connection and applies the schema migrations the database
    /// lacks. Fails with [`StoreError::SchemaTooNew`] if a newer coffer migrated it, with
    /// [`StoreError::Retryable`] if the server cannot be reached, and with
    /// [`StoreError::Backend`] for a malformed URL or a refused login (the error never contains
    /// the URL).
    pub fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let mut config = Config::from_str(url).map_err(|e| StoreError::Backend {
            context: "parsing the PostgreSQL URL",
            source: Box::new(e),
        })?;
        if config.get_hosts().is_empty() {
            return Err(StoreError::Backend {
                context: "parsing the PostgreSQL URL",
                source: "the URL names no host".into(),
            });
        }
        if config.get_user().is_none() {
            return Err(StoreError::Backend {
                context: "parsing the PostgreSQL URL",
                source: "the URL names no user".into(),
            });
        }
        if let Some(p) = &options.password {
            config.password(p.as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("coffer");
        }
        let connector = Connector::for_config(&mut config, options.tls)?;
        let target = describe(&config);
        let pool = Pool::new(
            config,
            connector,
            options.max_connections,
            options.pool_wait,
        );
        let mut client = pool.connect_one()?;
        schema::migrate(&mut client)?;
        pool.adopt(client);
        Ok(Self { pool, target })
    }

    /// `user@host:port/dbname`: where the store is, for the operator's log (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The newest migration applied to the database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let mut lent = self.pool.get()?;
        let conn = lent.conn()?;
        let v: Option<i64> = conn
            .client
            .query_one("SELECT max(version) FROM schema_migrations", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| classify("reading the schema version", e))?;
        Ok(v.unwrap_or(0))
    }

    /// A named value from the store's own table (root-key check value and the like: nothing
    /// secret in the clear).
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = crate::codec::text(name, "reading a named value")?;
        let mut lent = self.pool.get()?;
        let conn = lent.conn()?;
        let st = conn
            .statement("SELECT value FROM meta WHERE name = $1")
            .map_err(|e| classify("reading a named value", e))?;
        let row = conn
            .client
            .query_opt(&st, &[&name])
            .map_err(|e| classify("reading a named value", e))?;
        row.map(|r| r.try_get(0))
            .transpose()
            .map_err(|e| classify("reading a named value", e))
    }

    /// Sets named values, all in one transaction: all are written or none.
    pub fn set_meta(&self, values: &[(&str, &[u8])]) -> Result<(), StoreError> {
        for (name, _) in values {
            crate::codec::text(name, "writing a named value")?;
        }
        let mut lent = self.pool.get()?;
        let conn = lent.conn()?;
        let err = |e| classify("writing a named value", e);
        let mut tx = conn.client.transaction().map_err(err)?;
        for (name, value) in values {
            tx.execute(
                "INSERT INTO meta (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[name, value],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Sets named values, all in one transaction, only if none of them exists yet: `true` if
    /// they were written, `false` (nothing written) if one was there. Nodes racing to set the
    /// same first values (two first starts at once) serialize on an advisory lock; one writes,
    /// the others find its values.
    pub fn insert_meta(&self, values: &[(&str, &[u8])]) -> Result<bool, StoreError> {
        for (name, _) in values {
            crate::codec::text(name, "writing a named value")?;
        }
        let mut lent = self.pool.get()?;
        let conn = lent.conn()?;
        let err = |e| classify("writing a named value", e);
        let mut tx = conn.client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&META_LOCK])
            .map_err(err)?;
        for (name, _) in values {
            let found = tx
                .query_opt("SELECT 1 FROM meta WHERE name = $1", &[name])
                .map_err(err)?;
            if found.is_some() {
                tx.rollback().map_err(err)?;
                return Ok(false);
            }
        }
        for (name, value) in values {
            tx.execute(
                "INSERT INTO meta (name, value) VALUES ($1, $2)",
                &[name, value],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }

    /// Replaces the named value `name` with `value` only if it is still `expected` (`None`:
    /// absent), in one transaction: `true` if written, `false` (nothing written) if another
    /// node changed it first.
    pub fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        crate::codec::text(name, "writing a named value")?;
        let mut lent = self.pool.get()?;
        let conn = lent.conn()?;
        let err = |e| classify("writing a named value", e);
        let mut tx = conn.client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&META_LOCK])
            .map_err(err)?;
        let current: Option<Vec<u8>> = tx
            .query_opt("SELECT value FROM meta WHERE name = $1", &[&name])
            .map_err(err)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(err)?;
        if current.as_deref() != expected {
            tx.rollback().map_err(err)?;
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&name, &value],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(true)
    }

    /// How many keys the database holds (all accounts).
    pub fn key_count(&self) -> Result<u64, StoreError> {
        let mut lent = self.pool.get()?;
        let conn = lent.conn()?;
        let n: i64 = conn
            .client
            .query_one("SELECT count(*) FROM keys", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| classify("counting keys", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Runs `f` if this process holds the cluster-wide advisory lock `lock` (a session lock on
    /// a connection of its own, taken without waiting), releasing it after: `Ok(None)` when
    /// another node holds it. If the process dies while `f` runs its connection closes and the
    /// lock is released by the server.
    pub fn with_exclusive<T>(
        &self,
        lock: i64,
        f: impl FnOnce() -> T,
    ) -> Result<Option<T>, StoreError> {
        let mut client = self.pool.connect_one()?;
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&lock])
            .and_then(|r| r.try_get(0))
            .map_err(|e| classify("taking an advisory lock", e))?;
        if !got {
            return Ok(None);
        }
        let out = f();
        // Closing the connection releases the lock too; unlock explicitly all the same.
        let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&lock]);
        Ok(Some(out))
    }

    /// Starts watching the database for changes other nodes commit: see [`Watcher`].
    pub fn watch(
        &self,
        heartbeat: Duration,
        on_change: Box<dyn Fn(Change) -> bool + Send + Sync>,
    ) -> Watcher {
        Watcher::start(self.pool.connect_fn(), heartbeat, on_change)
    }
}

/// The advisory lock [`PostgresStore::insert_meta`] and [`PostgresStore::swap_meta`] take
/// (ASCII `coffer-n`).
const META_LOCK: i64 = 0x636f_6666_6572_2d6e;

impl Store for PostgresStore {
    fn begin(&self) -> Result<Box<dyn Txn + '_>, StoreError> {
        Ok(Box::new(PgTxn::begin(&self.pool)?))
    }
}
