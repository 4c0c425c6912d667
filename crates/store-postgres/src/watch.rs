//! Watching the database for what other nodes commit: LISTEN on `coffer_changes` (announced by
//! the triggers of schema migration 2) on a connection of its own, with a heartbeat that proves
//! the watcher is current.
//!
//! The watcher thread runs, every `heartbeat`: a `SELECT 1` on the listening connection, then
//! hands every notification received to the callback. PostgreSQL sends a session the
//! notifications of transactions committed before it reads its next command, so once query
//! *k + 1* has answered and the notifications before its answer are handed over, every change
//! committed before query *k* was sent has been seen: [`Watcher::confirmed_at`] is that send
//! time. A node that serves only while `confirmed_at` is recent (within its bound) never serves
//! what another node changed longer ago than the bound.
//!
//! The callback returns whether it applied the change. When the connection is lost, or the
//! callback could not apply a change, the watcher drops the connection and reconnects (after
//! `heartbeat`); on each new connection it first reports [`Change::Resync`] (anything may have
//! been missed meanwhile), and `confirmed_at` advances again only after that resync was
//! applied and two heartbeats answered on the new connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use postgres::fallible_iterator::FallibleIterator;

use crate::pool::ConnectFn;

/// The channel the triggers notify.
pub(crate) const CHANNEL: &str = "coffer_changes";

/// A change another node (or this one) committed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The key with this id, or its versions or grants, changed.
    Key([u8; 16]),
    /// An alias that points, or pointed, at the key with this id changed.
    Alias([u8; 16]),
    /// A named value changed (the shared credential set: names beginning `credentials`).
    Meta(String),
    /// The watcher (re)connected and may have missed changes: forget everything cached.
    Resync,
}

impl Change {
    fn parse(payload: &str) -> Self {
        let key = |hex: &str| {
            let mut id = [0u8; 16];
            let bytes = hex.as_bytes();
            if bytes.len() != 32 {
                return None;
            }
            for (i, b) in id.iter_mut().enumerate() {
                let pair = std::str::from_utf8(bytes.get(2 * i..2 * i + 2)?).ok()?;
                *b = u8::from_str_radix(pair, 16).ok()?;
            }
            Some(id)
        };
        match payload.split_once(':') {
            Some(("key", hex)) => key(hex).map_or(Self::Resync, Self::Key),
            Some(("alias", hex)) => key(hex).map_or(Self::Resync, Self::Alias),
            Some(("meta", name)) => Self::Meta(name.to_owned()),
            // Something this build does not know: the safe reading is "anything changed".
            _ => Self::Resync,
        }
    }
}

struct Shared {
    stop: AtomicBool,
    confirmed: Mutex<Option<Instant>>,
}

/// A running watch of the database (see the module docs); stopped when dropped.
pub struct Watcher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("confirmed_at", &*self.shared.confirmed.lock())
            .finish_non_exhaustive()
    }
}

impl Watcher {
    pub(crate) fn start(
        connect: ConnectFn,
        heartbeat: Duration,
        on_change: Box<dyn Fn(Change) -> bool + Send + Sync>,
    ) -> Self {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            confirmed: Mutex::new(None),
        });
        let heartbeat = heartbeat.max(Duration::from_millis(10));
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("coffer-pg-watch".into())
                .spawn(move || run(&connect, heartbeat, on_change.as_ref(), &shared))
                .ok()
        };
        Self { shared, thread }
    }

    /// The moment before which every committed change has been handed to the callback;
    /// `None` until the watcher has confirmed once (and never, if its thread could not start).
    pub fn confirmed_at(&self) -> Option<Instant> {
        *self.shared.confirmed.lock()
    }

    /// Whether every change committed more than `bound` ago has been handed to the callback.
    pub fn is_fresh(&self, bound: Duration) -> bool {
        self.confirmed_at().is_some_and(|t| t.elapsed() <= bound)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    connect: &ConnectFn,
    heartbeat: Duration,
    on_change: &(dyn Fn(Change) -> bool + Send + Sync),
    shared: &Shared,
) {
    while !shared.stop.load(Ordering::SeqCst) {
        let Ok(mut client) = connect() else {
            std::thread::sleep(heartbeat);
            continue;
        };
        if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
            std::thread::sleep(heartbeat);
            continue;
        }
        if !on_change(Change::Resync) {
            std::thread::sleep(heartbeat);
            continue;
        }
        // The send time of the previous heartbeat query on this connection.
        let mut previous: Option<Instant> = None;
        while !shared.stop.load(Ordering::SeqCst) {
            let sent = Instant::now();
            if client.simple_query("SELECT 1").is_err() {
                break;
            }
            let mut failed = false;
            {
                let mut pending = client.notifications();
                let mut it = pending.iter();
                loop {
                    match it.next() {
                        Ok(Some(n)) => {
                            if !on_change(Change::parse(n.payload())) {
                                failed = true;
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
            }
            if failed {
                break;
            }
            if let Some(p) = previous {
                *shared.confirmed.lock() = Some(p);
            }
            previous = Some(sent);
            // Wait for the next heartbeat, handing over notifications as they come.
            let until = sent + heartbeat;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() || shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let mut pending = client.notifications();
                let mut it = pending.timeout_iter(left);
                match it.next() {
                    Ok(Some(n)) => {
                        if !on_change(Change::parse(n.payload())) {
                            failed = true;
                            break;
                        }
                    }
                    Ok(None) => {}
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                break;
            }
        }
        // Lost the connection, or a change could not be applied: confirm nothing until a new
        // connection has started over with a resync.
        std::thread::sleep(heartbeat);
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn payloads_parse_and_unknown_ones_mean_resync() {
        let hex = "00112233445566778899aabbccddeeff";
        let id = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        assert_eq!(Change::parse(&format!("key:{hex}")), Change::Key(id));
        assert_eq!(Change::parse(&format!("alias:{hex}")), Change::Alias(id));
        assert_eq!(
            Change::parse("meta:credentials"),
            Change::Meta("credentials".into())
        );
        assert_eq!(Change::parse("key:zz"), Change::Resync);
        assert_eq!(Change::parse("something-new"), Change::Resync);
    }
}
