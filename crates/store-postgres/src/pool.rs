//! A small connection pool: idle connections in a mutex-guarded stack, at most `max` open, a
//! condition variable for callers waiting for one.
//!
//! Why not r2d2: its reaper thread and health-check hooks are more than a store that opens a
//! connection per transaction needs, and the store must decide itself what goes back: a
//! connection whose transaction did not end cleanly (a failed `ROLLBACK`, a lost socket) is
//! closed, never handed to the next transaction. Each pooled connection keeps its prepared
//! statements, so a statement is parsed once per connection.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use coffer_store::StoreError;
use parking_lot::{Condvar, Mutex};
use postgres::{Client, Config, Statement};

use crate::tls::Connector;

/// Opens a connection outside the pool.
pub(crate) type ConnectFn = Box<dyn Fn() -> Result<Client, StoreError> + Send>;

/// One open connection and the statements prepared on it.
pub(crate) struct Conn {
    pub(crate) client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    /// `sql` prepared on this connection (parsed once, then reused).
    pub(crate) fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }
}

struct Slots {
    idle: Vec<Conn>,
    /// Connections open, idle or lent.
    open: usize,
}

pub(crate) struct Pool {
    config: Config,
    connector: Connector,
    max: usize,
    wait: Duration,
    slots: Mutex<Slots>,
    freed: Condvar,
}

impl Pool {
    pub(crate) fn new(config: Config, connector: Connector, max: usize, wait: Duration) -> Self {
        Self {
            config,
            connector,
            max: max.max(1),
            wait,
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Connections open at most.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn connector(&self) -> &Connector {
        &self.connector
    }

    /// An idle connection, or a new one if fewer than `max` are open; otherwise waits for one to
    /// be returned, at most the pool's wait time ([`StoreError::Retryable`] after that).
    pub(crate) fn get(&self) -> Result<Lent<'_>, StoreError> {
        // A wait too long to represent is no deadline at all.
        let deadline = Instant::now().checked_add(self.wait);
        let mut slots = self.slots.lock();
        loop {
            if let Some(conn) = slots.idle.pop() {
                if conn.client.is_closed() {
                    slots.open -= 1;
                    continue;
                }
                return Ok(Lent::new(self, conn));
            }
            if slots.open < self.max {
                slots.open += 1;
                drop(slots);
                return match self.connector.connect(&self.config) {
                    Ok(client) => Ok(Lent::new(
                        self,
                        Conn {
                            client,
                            statements: HashMap::new(),
                        },
                    )),
                    Err(e) => {
                        self.release_slot();
                        Err(e)
                    }
                };
            }
            let timed_out = match deadline {
                Some(d) => self.freed.wait_until(&mut slots, d).timed_out(),
                None => {
                    self.freed.wait(&mut slots);
                    false
                }
            };
            if timed_out {
                return Err(StoreError::Retryable {
                    context: "waiting for a PostgreSQL connection",
                    source: format!(
                        "all {} connections of the pool stayed in use for {:?}",
                        self.max, self.wait
                    )
                    .into(),
                });
            }
        }
    }

    fn release_slot(&self) {
        self.slots.lock().open -= 1;
        self.freed.notify_one();
    }

    fn put_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            self.release_slot();
            return;
        }
        self.slots.lock().idle.push(conn);
        self.freed.notify_one();
    }

    /// Opens a connection outside the pool (migrations); [`Pool::adopt`] takes it in after.
    pub(crate) fn connect_one(&self) -> Result<Client, StoreError> {
        self.connector.connect(&self.config)
    }

    /// A function opening connections outside the pool, as the pool does (the watcher's).
    pub(crate) fn connect_fn(&self) -> ConnectFn {
        let (config, connector) = (self.config.clone(), self.connector.clone());
        Box::new(move || connector.connect(&config))
    }

    /// Makes `client` an idle connection of the pool, if there is room (else closes it).
    pub(crate) fn adopt(&self, client: Client) {
        let mut slots = self.slots.lock();
        if slots.open < self.max && !client.is_closed() {
            slots.open += 1;
            slots.idle.push(Conn {
                client,
                statements: HashMap::new(),
            });
            drop(slots);
            self.freed.notify_one();
        }
    }
}

/// A connection lent by the pool: returned on drop unless marked broken.
pub(crate) struct Lent<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    broken: bool,
}

impl<'a> Lent<'a> {
    fn new(pool: &'a Pool, conn: Conn) -> Self {
        Self {
            pool,
            conn: Some(conn),
            broken: false,
        }
    }

    /// The connection must not be reused (its transaction state is unknown).
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }

    pub(crate) fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        self.conn.as_mut().ok_or_else(|| StoreError::Backend {
            context: "using a pooled connection",
            source: "the connection was already returned".into(),
        })
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.broken {
                drop(conn);
                self.pool.release_slot();
            } else {
                self.pool.put_back(conn);
            }
        }
    }
}
