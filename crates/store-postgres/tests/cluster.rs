//! What several nodes on one database rely on beyond the `Store` trait: first values set once
//! whoever races, compare-and-swap of a named value, the maintenance lock (one holder; freed
//! when the holder's session dies), and the change watcher.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

use coffer_store_postgres::testing::TestCluster;
use coffer_store_postgres::{Change, PostgresStore};

fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| TestCluster::start().unwrap_or_else(|e| panic!("{e}")))
}

fn fresh_db() -> String {
    cluster()
        .create_database()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `f` until true, failing after a generous deadline.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn first_values_are_set_once_whoever_races() {
    let url = fresh_db();
    let nodes: Vec<PostgresStore> = (0..4)
        .map(|_| PostgresStore::connect(&url).unwrap())
        .collect();
    let barrier = Barrier::new(nodes.len());
    let won: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mine = [i as u8; 4];
                    barrier.wait();
                    n.insert_meta(&[("root.check", &mine), ("marker.key", &mine)])
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let winner = won.iter().position(|w| *w).unwrap() as u8;
    // Both values are the winner's: never one from each.
    assert_eq!(nodes[0].meta("root.check").unwrap(), Some(vec![winner; 4]));
    assert_eq!(nodes[3].meta("marker.key").unwrap(), Some(vec![winner; 4]));
    // A later insert of a value that exists changes nothing.
    assert!(!nodes[1].insert_meta(&[("root.check", b"late")]).unwrap());
    assert_eq!(nodes[1].meta("root.check").unwrap(), Some(vec![winner; 4]));
}

#[test]
fn a_named_value_is_swapped_only_from_what_the_writer_read() {
    let url = fresh_db();
    let (a, b) = (
        PostgresStore::connect(&url).unwrap(),
        PostgresStore::connect(&url).unwrap(),
    );
    assert!(a.swap_meta("credentials", None, b"v1").unwrap());
    // B read nothing (stale): refused, nothing written.
    assert!(!b.swap_meta("credentials", None, b"v2-from-b").unwrap());
    assert!(b.swap_meta("credentials", Some(b"v1"), b"v2").unwrap());
    assert!(!a.swap_meta("credentials", Some(b"v1"), b"v3-lost").unwrap());
    assert_eq!(a.meta("credentials").unwrap(), Some(b"v2".to_vec()));
}

#[test]
fn the_maintenance_lock_has_one_holder_and_is_freed_when_its_session_dies() {
    const LOCK: i64 = 0x7465_7374;
    let url = fresh_db();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let (a, b) = (
        PostgresStore::connect(&url).unwrap(),
        PostgresStore::connect(&url).unwrap(),
    );
    let inner = a
        .with_exclusive(LOCK, || {
            // While A sweeps, B skips its turn.
            let skipped = b.with_exclusive(LOCK, || ()).unwrap();
            // A dies mid-sweep: its session ends (as when the process is killed).
            let mut admin = cluster().admin(&db).unwrap();
            let ended: i64 = admin
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
                     WHERE locktype = 'advisory' AND granted AND classid = 0 \
                     AND objid = $1::bigint::oid AND objsubid = 1 AND database = \
                     (SELECT oid FROM pg_database WHERE datname = current_database())",
                    &[&LOCK],
                )
                .unwrap()
                .get(0);
            // Then B takes the lock and sweeps (once the server has ended the session).
            let mut took = None;
            eventually("the dead holder's lock is freed", || {
                took = b.with_exclusive(LOCK, || "b swept").unwrap();
                took.is_some()
            });
            (skipped, ended, took)
        })
        .unwrap();
    let (skipped, ended, took) = inner.expect("A held the lock");
    assert_eq!(skipped, None, "B ran while A held the lock");
    assert_eq!(ended, 1);
    assert_eq!(took, Some("b swept"));
    // Released after: A takes it again.
    assert_eq!(a.with_exclusive(LOCK, || 1).unwrap(), Some(1));
}

#[test]
fn the_watcher_reports_committed_changes_and_confirms_it_is_current() {
    let url = fresh_db();
    let (a, b) = (
        PostgresStore::connect(&url).unwrap(),
        PostgresStore::connect(&url).unwrap(),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = {
        let seen = seen.clone();
        b.watch(
            Duration::from_millis(50),
            Box::new(move |c| {
                seen.lock().unwrap().push(c);
                true
            }),
        )
    };
    eventually("the watcher confirms", || watcher.confirmed_at().is_some());
    assert!(seen.lock().unwrap().contains(&Change::Resync));
    // A change committed on another node is reported, and confirmed after it was committed.
    a.set_meta(&[("credentials", b"set")]).unwrap();
    let committed = Instant::now();
    eventually("the change is reported", || {
        seen.lock()
            .unwrap()
            .contains(&Change::Meta("credentials".into()))
    });
    eventually("the watcher confirms past the commit", || {
        watcher.confirmed_at().is_some_and(|t| t > committed)
    });
    assert!(watcher.is_fresh(Duration::from_secs(60)));
    // A value other nodes need not hear of (a health probe row) is not announced.
    a.set_meta(&[("health_probe.x", b"1")]).unwrap();
    let after = Instant::now();
    eventually("the watcher confirms again", || {
        watcher.confirmed_at().is_some_and(|t| t > after)
    });
    let reported = seen.lock().unwrap().clone();
    assert!(
        !reported
            .iter()
            .any(|c| matches!(c, Change::Meta(n) if n.starts_with("health"))),
        "{reported:?}"
    );
}
