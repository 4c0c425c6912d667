//! `PostgresStore` on a throwaway PostgreSQL cluster (one per test binary, a database per test):
//! the conformance kit, then what only a shared database has: two stores ("nodes") racing on
//! one database, migrations run by two nodes at once, lost connections, deletion under MVCC,
//! and a URL whose password must never be printed.
//!
//! Races are synchronized with barriers, never sleeps, and assert outcomes, never timings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::{Barrier, OnceLock};
use std::time::{Duration, SystemTime};

use coffer_core::{AccountId, KeyId, Region};
use coffer_crypto::testing::DeterministicRandom;
use coffer_grants::{Grant, GrantOperation};
use coffer_keys::{KeyRecord, KeySpec, KeyState, KeyUsage, Origin, VersionId, WrappedVersion};
use coffer_store::{AliasRecord, Store, StoreError, Txn};
use coffer_store_postgres::testing::TestCluster;
use coffer_store_postgres::{PostgresOptions, PostgresStore, SCHEMA_VERSION};

static CLUSTER: OnceLock<TestCluster> = OnceLock::new();

fn cluster() -> &'static TestCluster {
    CLUSTER.get_or_init(|| TestCluster::start().unwrap_or_else(|e| panic!("{e}")))
}

fn fresh_db() -> String {
    cluster()
        .create_database()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn node(url: &str) -> PostgresStore {
    PostgresStore::connect(url).expect("connect")
}

fn fresh_postgres_store() -> PostgresStore {
    node(&fresh_db())
}

coffer_store::store_conformance_tests!(fresh_postgres_store);

// ---- helpers ----

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn acct() -> AccountId {
    AccountId::parse("000000000001").expect("account")
}

struct Gen(DeterministicRandom);

impl Gen {
    fn new(seed: &str) -> Self {
        Self(DeterministicRandom::new(seed.as_bytes()))
    }

    fn version(&self, wrapped: &[u8]) -> WrappedVersion {
        WrappedVersion {
            id: VersionId::generate(&self.0).expect("rng"),
            wrapped: wrapped.to_vec(),
            created: at(0),
            rotation_type: None,
        }
    }

    fn key(&self) -> (KeyRecord, WrappedVersion) {
        let v = self.version(&[0xA5; 61]);
        let rec = KeyRecord::new(
            KeyId::generate(&self.0).expect("rng"),
            acct(),
            Region::parse("us-east-1").expect("region"),
            at(0),
            "race".into(),
            KeySpec::SymmetricDefault,
            KeyUsage::EncryptDecrypt,
            Origin::AwsKms,
            v.id,
        );
        (rec, v)
    }
}

fn alias(name: &str, target: KeyId) -> AliasRecord {
    AliasRecord {
        account: acct(),
        name: name.into(),
        target,
        creation_date: at(1),
        last_updated: at(1),
    }
}

fn grant(key: &KeyRecord, id: &str) -> Grant {
    Grant {
        grant_id: id.into(),
        key_id: key.key_id,
        account: key.account,
        grantee_principal: "arn:aws:iam::000000000001:role/app".into(),
        retiring_principal: None,
        issuing_account: "arn:aws:iam::000000000001:root".into(),
        operations: vec![GrantOperation::Decrypt],
        constraints: None,
        name: None,
        creation_date: at(3),
    }
}

fn insert(store: &PostgresStore, rec: &KeyRecord, v: &WrappedVersion) {
    let mut t = store.begin().expect("begin");
    t.insert_key(rec, v).expect("insert");
    t.commit().expect("commit");
}

/// Runs `a` and `b` on two threads that meet at the barrier they are handed.
fn race<A: Send, B: Send>(
    a: impl FnOnce(&Barrier) -> A + Send,
    b: impl FnOnce(&Barrier) -> B + Send,
) -> (A, B) {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let ha = s.spawn(|| a(&barrier));
        let hb = s.spawn(|| b(&barrier));
        (ha.join().expect("thread a"), hb.join().expect("thread b"))
    })
}

/// What one node saw: the first attempt's result, and the retry's if it was retryable.
#[derive(Debug)]
struct Attempts {
    first: Result<(), StoreError>,
    retry: Option<Result<(), StoreError>>,
}

/// Runs `work` in a transaction; retries once, without the barrier, if it was retryable.
fn attempt(
    store: &PostgresStore,
    barrier: &Barrier,
    work: impl Fn(&mut dyn Txn, &dyn Fn()) -> Result<(), StoreError>,
) -> Attempts {
    let run = |b: Option<&Barrier>| -> Result<(), StoreError> {
        let waited = std::cell::Cell::new(false);
        let sync = || {
            if let Some(b) = b {
                b.wait();
                waited.set(true);
            }
        };
        let r = store.begin().and_then(|mut t| {
            work(&mut *t, &sync)?;
            t.commit()
        });
        // A failure before the barrier must not leave the other thread waiting at it.
        if let (Some(b), false) = (b, waited.get()) {
            b.wait();
        }
        r
    };
    let first = run(Some(barrier));
    let retry = match first {
        Err(StoreError::Retryable { .. }) => Some(run(None)),
        _ => None,
    };
    Attempts { first, retry }
}

fn count(cluster_db: &str, sql: &str, key: &KeyId) -> i64 {
    let db = cluster_db.rsplit('/').next().expect("db name");
    let mut admin = cluster().admin(db).expect("admin");
    let k: &[u8] = key.as_bytes();
    admin.query_one(sql, &[&k]).expect("count").get::<_, i64>(0)
}

// ---- two nodes racing ----

/// Two nodes create one alias name at the same moment: one commits; the other, whose snapshot
/// predates the winner's row, gets `Retryable` (PostgreSQL reports the unique conflict with a
/// concurrent serializable transaction as a serialization failure) and, on retry, sees the
/// alias: `AlreadyExists`. Never two aliases, never a lost one.
#[test]
fn two_nodes_create_one_alias_name_one_wins() {
    let url = fresh_db();
    let (a, b) = (node(&url), node(&url));
    let g = Gen::new("alias-race");
    let (k1, v1) = g.key();
    let (k2, v2) = g.key();
    insert(&a, &k1, &v1);
    insert(&a, &k2, &v2);
    for round in 0..5 {
        let name = format!("alias/race-{round}");
        let work = |target: KeyId| {
            let name = name.clone();
            move |t: &mut dyn Txn, sync: &dyn Fn()| {
                let seen = t.alias(&acct(), &name)?;
                sync();
                if seen.is_some() {
                    return Err(StoreError::AlreadyExists { what: "alias" });
                }
                t.insert_alias(&alias(&name, target))
            }
        };
        let (ra, rb) = race(
            |bar| attempt(&a, bar, work(k1.key_id)),
            |bar| attempt(&b, bar, work(k2.key_id)),
        );
        let (winner, loser, target) = match (&ra.first, &rb.first) {
            (Ok(()), _) => (&ra, &rb, k1.key_id),
            (_, Ok(())) => (&rb, &ra, k2.key_id),
            _ => panic!("round {round}: no node won: {ra:?} {rb:?}"),
        };
        assert!(winner.retry.is_none());
        assert!(
            matches!(loser.first, Err(StoreError::Retryable { .. })),
            "round {round}: the loser's first attempt: {:?}",
            loser.first
        );
        assert!(
            matches!(loser.retry, Some(Err(StoreError::AlreadyExists { .. }))),
            "round {round}: the loser's retry: {:?}",
            loser.retry
        );
        let mut t = b.begin().expect("begin");
        assert_eq!(
            t.alias(&acct(), &name).expect("alias").map(|r| r.target),
            Some(target)
        );
    }
}

/// Two nodes create a grant with one id on one key at once: one commits, the other gets
/// `Retryable`, then `AlreadyExists`; one grant is stored, the winner's.
#[test]
fn two_nodes_create_one_grant_id_one_wins() {
    let url = fresh_db();
    let (a, b) = (node(&url), node(&url));
    let g = Gen::new("grant-race");
    let (k, v) = g.key();
    insert(&a, &k, &v);
    for round in 0..5 {
        let id = format!("grant-{round}");
        let work = |grantee: &'static str| {
            let (k, id) = (k.clone(), id.clone());
            move |t: &mut dyn Txn, sync: &dyn Fn()| {
                let seen = t.grant(&k.key_id, &id)?;
                sync();
                if seen.is_some() {
                    return Err(StoreError::AlreadyExists { what: "grant" });
                }
                let mut gr = grant(&k, &id);
                gr.grantee_principal = grantee.into();
                t.insert_grant(&gr)
            }
        };
        let ga = "arn:aws:iam::000000000001:role/a";
        let gb = "arn:aws:iam::000000000001:role/b";
        let (ra, rb) = race(
            |bar| attempt(&a, bar, work(ga)),
            |bar| attempt(&b, bar, work(gb)),
        );
        let (loser, grantee) = match (&ra.first, &rb.first) {
            (Ok(()), _) => (&rb, ga),
            (_, Ok(())) => (&ra, gb),
            _ => panic!("round {round}: no node won: {ra:?} {rb:?}"),
        };
        assert!(matches!(loser.first, Err(StoreError::Retryable { .. })));
        assert!(matches!(
            loser.retry,
            Some(Err(StoreError::AlreadyExists { .. }))
        ));
        let mut t = a.begin().expect("begin");
        let stored = t.grant(&k.key_id, &id).expect("grant").expect("stored");
        assert_eq!(stored.grantee_principal, grantee);
    }
    let mut t = a.begin().expect("begin");
    assert_eq!(t.grants(&k.key_id).expect("grants").len(), 5);
}

/// UpdateKey on one node races DeleteKey on the other: exactly one first attempt is refused
/// as `Retryable`; after the retry the key is gone with every version, alias and grant, and no
/// row of it is left anywhere (never a half-applied state).
#[test]
fn update_racing_delete_is_never_half_applied() {
    let url = fresh_db();
    let (a, b) = (node(&url), node(&url));
    let g = Gen::new("update-delete");
    for round in 0..5 {
        let (k, v) = g.key();
        insert(&a, &k, &v);
        let mut t = a.begin().expect("begin");
        t.add_version(&k.key_id, &g.version(&[1; 61])).expect("v");
        t.insert_alias(&alias(&format!("alias/ud-{round}"), k.key_id))
            .expect("alias");
        t.insert_grant(&grant(&k, "g")).expect("grant");
        t.commit().expect("commit");

        let update = |t: &mut dyn Txn, sync: &dyn Fn()| {
            let cur = t.key(&k.key_id)?;
            sync();
            let mut rec = cur.ok_or(StoreError::NotFound { what: "key" })?;
            rec.description = "updated".into();
            rec.revision += 1;
            t.update_key(&rec)
        };
        let delete = |t: &mut dyn Txn, sync: &dyn Fn()| {
            let cur = t.key(&k.key_id)?;
            sync();
            if cur.is_none() {
                return Err(StoreError::NotFound { what: "key" });
            }
            t.delete_key(&k.key_id)
        };
        let (ru, rd) = race(
            |bar| attempt(&a, bar, update),
            |bar| attempt(&b, bar, delete),
        );
        let retried = [&ru, &rd]
            .iter()
            .filter(|r| matches!(r.first, Err(StoreError::Retryable { .. })))
            .count();
        assert_eq!(retried, 1, "round {round}: {ru:?} {rd:?}");
        // The delete always ends applied; an update retried after it finds no key.
        assert!(
            rd.first.is_ok() || matches!(rd.retry, Some(Ok(()))),
            "{rd:?}"
        );
        if ru.first.is_err() {
            assert!(matches!(ru.retry, Some(Err(StoreError::NotFound { .. }))));
        }
        let mut t = b.begin().expect("begin");
        assert_eq!(t.key(&k.key_id).expect("key"), None);
        assert!(t.versions(&k.key_id).expect("versions").is_empty());
        assert!(t.grants(&k.key_id).expect("grants").is_empty());
        assert!(t
            .list_aliases(&acct(), Some(&k.key_id), None, 10)
            .expect("aliases")
            .is_empty());
        for table in ["versions", "grants"] {
            let sql = format!("SELECT count(*) FROM {table} WHERE key_id = $1");
            assert_eq!(count(&url, &sql, &k.key_id), 0, "{table}");
        }
        assert_eq!(
            count(
                &url,
                "SELECT count(*) FROM aliases WHERE target = $1",
                &k.key_id
            ),
            0
        );
    }
}

/// RotateKeyOnDemand on one node during DisableKey on the other (the example): one is
/// refused as `Retryable`; the key ends disabled, and rotated only if the rotation committed
/// first, whole (its new version and its current-version pointer together).
#[test]
fn rotation_racing_disable_is_never_half_applied() {
    let url = fresh_db();
    let (a, b) = (node(&url), node(&url));
    let g = Gen::new("rotate-disable");
    for round in 0..5 {
        let (k, v0) = g.key();
        insert(&a, &k, &v0);
        let new_version = g.version(&[2; 61]);
        let rotate = |t: &mut dyn Txn, sync: &dyn Fn()| {
            let cur = t.key(&k.key_id)?;
            sync();
            let mut rec = cur.ok_or(StoreError::NotFound { what: "key" })?;
            if rec.state != KeyState::Enabled {
                // The facade refuses to rotate a disabled key.
                return Err(StoreError::NotFound {
                    what: "enabled key",
                });
            }
            t.add_version(&k.key_id, &new_version)?;
            rec.current_version = new_version.id;
            rec.on_demand_rotations += 1;
            rec.revision += 1;
            t.update_key(&rec)
        };
        let disable = |t: &mut dyn Txn, sync: &dyn Fn()| {
            let cur = t.key(&k.key_id)?;
            sync();
            let mut rec = cur.ok_or(StoreError::NotFound { what: "key" })?;
            rec.state = KeyState::Disabled;
            rec.revision += 1;
            t.update_key(&rec)
        };
        let (rr, rd) = race(
            |bar| attempt(&a, bar, rotate),
            |bar| attempt(&b, bar, disable),
        );
        let retried = [&rr, &rd]
            .iter()
            .filter(|r| matches!(r.first, Err(StoreError::Retryable { .. })))
            .count();
        assert_eq!(retried, 1, "round {round}: {rr:?} {rd:?}");
        let mut t = a.begin().expect("begin");
        let rec = t.key(&k.key_id).expect("key").expect("present");
        let versions = t.versions(&k.key_id).expect("versions");
        assert_eq!(rec.state, KeyState::Disabled, "round {round}");
        let rotated = rr.first.is_ok();
        if rotated {
            assert_eq!(versions, vec![v0.clone(), new_version.clone()]);
            assert_eq!(rec.current_version, new_version.id);
            assert_eq!(rec.on_demand_rotations, 1);
        } else {
            assert!(matches!(rr.retry, Some(Err(StoreError::NotFound { .. }))));
            assert_eq!(versions, vec![v0.clone()]);
            assert_eq!(rec.current_version, v0.id);
        }
        assert_eq!(rec.revision, k.revision + 1 + u64::from(rotated));
    }
}

/// Two nodes rotate one key at once (both compute the next version's position): one is
/// `Retryable`; after its retry the key has both new versions, in commit order, each once, and
/// its record points at the last.
#[test]
fn two_rotations_at_once_keep_every_version_once() {
    let url = fresh_db();
    let (a, b) = (node(&url), node(&url));
    let g = Gen::new("rotate-rotate");
    let (k, v0) = g.key();
    insert(&a, &k, &v0);
    let (va, vb) = (g.version(&[3; 61]), g.version(&[4; 61]));
    let rotate = |v: &WrappedVersion| {
        let (k, v) = (k.clone(), v.clone());
        move |t: &mut dyn Txn, sync: &dyn Fn()| {
            let cur = t.key(&k.key_id)?;
            let _ = t.versions(&k.key_id)?;
            sync();
            let mut rec = cur.ok_or(StoreError::NotFound { what: "key" })?;
            t.add_version(&k.key_id, &v)?;
            rec.current_version = v.id;
            rec.revision += 1;
            t.update_key(&rec)
        }
    };
    let (ra, rb) = race(
        |bar| attempt(&a, bar, rotate(&va)),
        |bar| attempt(&b, bar, rotate(&vb)),
    );
    let (first, second) = match (&ra.first, &rb.first) {
        (Ok(()), Err(StoreError::Retryable { .. })) => (&va, &vb),
        (Err(StoreError::Retryable { .. }), Ok(())) => (&vb, &va),
        _ => panic!("{ra:?} {rb:?}"),
    };
    assert!(matches!(
        ra.retry.as_ref().or(rb.retry.as_ref()),
        Some(Ok(()))
    ));
    let mut t = a.begin().expect("begin");
    assert_eq!(
        t.versions(&k.key_id).expect("versions"),
        vec![v0.clone(), first.clone(), second.clone()]
    );
    let rec = t.key(&k.key_id).expect("key").expect("present");
    assert_eq!(rec.current_version, second.id);
    assert_eq!(rec.revision, k.revision + 2);
}

/// Two nodes open a fresh database at the same moment: both succeed, every migration is
/// recorded once, and the schema is whole.
#[test]
fn two_nodes_migrating_at_once_apply_each_migration_once() {
    for _ in 0..3 {
        let url = fresh_db();
        let (a, b) = race(
            |bar| {
                bar.wait();
                PostgresStore::connect(&url)
            },
            |bar| {
                bar.wait();
                PostgresStore::connect(&url)
            },
        );
        let (a, b) = (a.expect("node a"), b.expect("node b"));
        assert_eq!(a.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(b.schema_version().expect("version"), SCHEMA_VERSION);
        let db = url.rsplit('/').next().expect("db");
        let mut admin = cluster().admin(db).expect("admin");
        let rows = admin
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )
            .expect("migrations");
        let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
        // And the schema works from both nodes.
        let g = Gen::new("migrated");
        let (k, v) = g.key();
        insert(&a, &k, &v);
        let mut t = b.begin().expect("begin");
        assert!(t.key(&k.key_id).expect("key").is_some());
    }
}

/// A transaction dropped on one node leaves nothing, on that node or another, and holds no
/// lock: the other node writes the same key id and alias name at once; no session of the
/// database is left idle in a transaction.
#[test]
fn a_dropped_transaction_leaves_nothing_on_any_node() {
    let url = fresh_db();
    let (a, b) = (node(&url), node(&url));
    let g = Gen::new("dropped");
    let (k, v) = g.key();
    let mut t = a.begin().expect("begin");
    t.insert_key(&k, &v).expect("insert");
    t.insert_alias(&alias("alias/dropped", k.key_id))
        .expect("alias");
    t.insert_grant(&grant(&k, "g")).expect("grant");
    drop(t);
    let db = url.rsplit('/').next().expect("db");
    let mut admin = cluster().admin(db).expect("admin");
    let idle: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            &[],
        )
        .expect("activity")
        .get(0);
    assert_eq!(idle, 0);
    let mut t = b.begin().expect("begin");
    assert_eq!(t.key(&k.key_id).expect("key"), None);
    assert_eq!(t.alias(&acct(), "alias/dropped").expect("alias"), None);
    t.insert_key(&k, &v).expect("the same id, free");
    t.insert_alias(&alias("alias/dropped", k.key_id))
        .expect("the same name, free");
    t.commit().expect("commit");
}

// ---- errors ----

/// A connection killed by the server (a restart, a failover) fails the open transaction with
/// `Retryable`; the next transaction gets a working connection without any restart of the
/// store, also when every idle pooled connection died meanwhile.
#[test]
fn a_lost_connection_is_retryable_and_the_pool_recovers() {
    let url = fresh_db();
    let store = node(&url);
    let g = Gen::new("lost");
    let (k, v) = g.key();
    insert(&store, &k, &v);
    let db = url.rsplit('/').next().expect("db");
    let mut admin = cluster().admin(db).expect("admin");
    // Waits (up to 60 s) until each terminated backend has exited: no race with what follows.
    let kill = |admin: &mut postgres::Client| {
        admin
            .execute(
                "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'coffer'",
                &[],
            )
            .expect("terminate")
    };
    let mut t = store.begin().expect("begin");
    assert!(kill(&mut admin) >= 1);
    let e = t.key(&k.key_id).expect_err("connection gone");
    assert!(matches!(e, StoreError::Retryable { .. }), "{e:?}");
    // Every later call of that transaction fails too, and so does its commit.
    assert!(t.key(&k.key_id).is_err());
    assert!(matches!(t.commit(), Err(StoreError::Retryable { .. })));
    let mut t = store.begin().expect("begin after the loss");
    assert!(t.key(&k.key_id).expect("key").is_some());
    drop(t);
    // Idle connections killed between transactions: the next begin still works.
    kill(&mut admin);
    let mut t = store.begin().expect("begin with dead idle connections");
    assert!(t.key(&k.key_id).expect("key").is_some());
}

/// The pool opens at most `max_connections`: with its one connection held by an open
/// transaction, another `begin` waits `pool_wait` and then fails as `Retryable`; once the
/// transaction ends, `begin` works again on the same connection.
#[test]
fn the_pool_is_bounded_and_a_wait_for_it_is_retryable() {
    let url = fresh_db();
    let mut options = PostgresOptions::default();
    options.max_connections = 1;
    options.pool_wait = Duration::from_millis(50);
    let store = PostgresStore::connect_with(&url, options).expect("connect");
    let held = store.begin().expect("begin");
    match store.begin() {
        Err(StoreError::Retryable { .. }) => {}
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("a second connection was opened"),
    }
    drop(held);
    let mut t = store.begin().expect("begin after the first ended");
    assert!(t.list_keys(&acct(), None, 1).expect("list").is_empty());
    t.commit().expect("commit");
    let db = url.rsplit('/').next().expect("db");
    let mut admin = cluster().admin(db).expect("admin");
    let sessions: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'coffer'",
            &[],
        )
        .expect("activity")
        .get(0);
    assert_eq!(sessions, 1);
    // Out-of-range options are clamped, not a panic: no pool of zero, an endless wait.
    let mut odd = PostgresOptions::default();
    odd.max_connections = 0;
    odd.pool_wait = Duration::MAX;
    let other = PostgresStore::connect_with(&url, odd).expect("connect");
    other.begin().expect("begin").commit().expect("commit");
}

/// A password in the URL appears in no error and no `Debug` output: not for a malformed URL,
/// not for a server that cannot be reached, not for a store that connected.
#[test]
fn the_url_password_is_never_printed() {
    let secret = "hunter2-Zq8";
    let show = |e: &StoreError| {
        let mut s = format!("{e} | {e:?}");
        let mut src = std::error::Error::source(e);
        while let Some(c) = src {
            s.push_str(&format!(" | {c} | {c:?}"));
            src = c.source();
        }
        s
    };
    let port = cluster().port();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
        // dropped: nothing listens there any more
    };
    for url in [
        format!("postgres://coffer:{secret}@127.0.0.1:notaport/db"),
        format!("postgres://coffer:{secret}@127.0.0.1:{closed}/db?connect_timeout=5"),
        format!("postgres://coffer:{secret}@127.0.0.1:{port}/db?sslmode=sometimes"),
        format!("host=127.0.0.1 port={closed} user=coffer password={secret} dbname=x"),
        format!("postgres://:{secret}@/db"),
    ] {
        let e = PostgresStore::connect(&url).expect_err("must fail");
        let text = show(&e);
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
    // The test cluster trusts local connections: the password is accepted and ignored.
    let db = fresh_db();
    let with_password = db.replacen("postgres@", &format!("postgres:{secret}@"), 1);
    let store = PostgresStore::connect(&with_password).expect("connect");
    let dbg = format!("{store:?} {}", store.target());
    assert!(!dbg.contains(secret), "{dbg}");
    assert!(dbg.contains("127.0.0.1"), "{dbg}");
    assert!(!format!("{:?}", PostgresOptions::default()).contains(secret));
}

/// `sslmode=require` asks for TLS and does not fall back to plain text: the test cluster has
/// no TLS, so the connection is refused with an error that says so.
#[test]
fn sslmode_require_never_falls_back_to_plain_text() {
    let url = format!("{}?sslmode=require", fresh_db());
    let e = PostgresStore::connect(&url).expect_err("no TLS on the server");
    let mut text = format!("{e}");
    let mut src = std::error::Error::source(&e);
    while let Some(c) = src {
        text.push_str(&format!(": {c}"));
        src = c.source();
    }
    assert!(text.to_lowercase().contains("tls"), "{text}");
}

/// A database migrated by a newer coffer is refused, not misread.
#[test]
fn a_newer_schema_is_refused() {
    let url = fresh_db();
    drop(node(&url));
    let db = url.rsplit('/').next().expect("db");
    let mut admin = cluster().admin(db).expect("admin");
    admin
        .execute("INSERT INTO schema_migrations (version) VALUES (999)", &[])
        .expect("future migration");
    match PostgresStore::connect(&url) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (999, SCHEMA_VERSION));
        }
        other => panic!("{other:?}"),
    }
}

/// Text PostgreSQL cannot hold (a NUL character) is refused with an error before it reaches the
/// server, and the transaction goes on.
#[test]
fn nul_characters_are_refused_and_the_transaction_goes_on() {
    let store = fresh_postgres_store();
    let g = Gen::new("nul");
    let (k, v) = g.key();
    let mut t = store.begin().expect("begin");
    t.insert_key(&k, &v).expect("insert");
    let e = t
        .insert_alias(&alias("alias/a\0b", k.key_id))
        .expect_err("NUL");
    assert!(format!("{e}: {:?}", e).contains("NUL"), "{e:?}");
    assert!(t.alias(&acct(), "x\0").is_err());
    assert!(t.grant(&k.key_id, "\0").is_err());
    assert!(t.grants_retirable_by(&acct(), "\0", None, 1).is_err());
    t.insert_alias(&alias("alias/fine", k.key_id))
        .expect("the transaction goes on");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert!(t.alias(&acct(), "alias/fine").expect("alias").is_some());
}

/// Named values (root-key check value and the like) round-trip, several in one transaction.
#[test]
fn meta_values_round_trip() {
    let store = fresh_postgres_store();
    assert_eq!(store.meta("root.check").expect("meta"), None);
    store
        .set_meta(&[("root.check", b"abc"), ("marker.key", b"def")])
        .expect("set");
    store.set_meta(&[("root.check", b"xyz")]).expect("set");
    assert_eq!(
        store.meta("root.check").expect("meta").as_deref(),
        Some(&b"xyz"[..])
    );
    assert_eq!(
        store.meta("marker.key").expect("meta").as_deref(),
        Some(&b"def"[..])
    );
    assert!(store.meta("a\0").is_err());
}

/// An alias is refused for a key that does not exist (PostgreSQL enforces the reference), as
/// `NotFound`, without aborting the transaction.
#[test]
fn an_alias_to_a_missing_key_is_not_found() {
    let store = fresh_postgres_store();
    let g = Gen::new("dangling");
    let (k, v) = g.key();
    let (missing, _) = g.key();
    let mut t = store.begin().expect("begin");
    t.insert_key(&k, &v).expect("insert");
    assert!(matches!(
        t.insert_alias(&alias("alias/x", missing.key_id)),
        Err(StoreError::NotFound { what: "key" })
    ));
    t.insert_alias(&alias("alias/x", k.key_id)).expect("alias");
    let mut moved = alias("alias/x", missing.key_id);
    moved.last_updated = at(5);
    assert!(matches!(
        t.update_alias(&moved),
        Err(StoreError::NotFound { what: "key" })
    ));
    t.commit().expect("commit");
}

// ---- deletion under MVCC ----

/// After `delete_versions` commits, no copy of the wrapped material is left in any tuple of the
/// versions table, live or dead: the store vacuums the table after the commit. Checked with
/// `pageinspect`, which reads every line pointer of every page, including dead tuples that no
/// query can see.
#[test]
fn deleted_material_leaves_no_tuple_behind() {
    let url = fresh_db();
    let store = node(&url);
    let g = Gen::new("purge");
    let marker = *b"coffer-purge-marker-0123456789abcdef-0123456789abcdef-0123456";
    let (k, _) = g.key();
    let v = g.version(&marker);
    let (mut k, _) = (k, ());
    k.current_version = v.id;
    insert(&store, &k, &v);
    let db = url.rsplit('/').next().expect("db");
    let mut admin = cluster().admin(db).expect("admin");
    admin
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        .expect("pageinspect");
    let tuples_with_marker = |admin: &mut postgres::Client| -> i64 {
        let m: &[u8] = &marker;
        admin
            .query_one(
                "SELECT count(*)
                 FROM generate_series(0, (pg_relation_size('versions') / 8192)::int - 1) AS blk,
                      LATERAL heap_page_items(get_raw_page('versions', blk)) AS items
                 WHERE items.t_data IS NOT NULL AND position($1::bytea IN items.t_data) > 0",
                &[&m],
            )
            .expect("pageinspect")
            .get(0)
    };
    assert_eq!(tuples_with_marker(&mut admin), 1, "the material is stored");
    let mut t = store.begin().expect("begin");
    t.delete_versions(&k.key_id).expect("delete");
    t.commit().expect("commit");
    assert_eq!(
        tuples_with_marker(&mut admin),
        0,
        "a tuple still holds the deleted material"
    );
    // The same for a key deleted whole.
    let (k2, _) = g.key();
    let v2 = g.version(&marker);
    insert(&store, &k2, &v2);
    assert_eq!(tuples_with_marker(&mut admin), 1);
    let mut t = store.begin().expect("begin");
    t.delete_key(&k2.key_id).expect("delete");
    t.commit().expect("commit");
    assert_eq!(tuples_with_marker(&mut admin), 0);
}

// ---- TLS ----

static TLS_CLUSTER: OnceLock<TestCluster> = OnceLock::new();

fn tls_cluster() -> &'static TestCluster {
    TLS_CLUSTER.get_or_init(|| TestCluster::start_with_tls().unwrap_or_else(|e| panic!("{e}")))
}

/// A rustls configuration that trusts only the TLS cluster's test CA.
fn trusting_test_ca() -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let ca = tls_cluster().ca_certificate().expect("a TLS cluster");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("CA PEM"))
        .expect("CA");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Whether the store's sessions in `db` of the TLS cluster are encrypted, per the server.
fn sessions_use_tls(db_url: &str) -> Vec<bool> {
    let db = db_url.rsplit('/').next().expect("db");
    let mut admin = tls_cluster().admin(db).expect("admin");
    admin
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = current_database() AND a.application_name = 'coffer'",
            &[],
        )
        .expect("pg_stat_ssl")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// `sslmode=require` with the database's CA: the store connects over TLS (the server says
/// so), the certificate verified, and works.
#[test]
fn sslmode_require_connects_over_verified_tls() {
    let url = tls_cluster().create_database().expect("db");
    let mut options = PostgresOptions::default();
    options.tls = Some(trusting_test_ca());
    let store =
        PostgresStore::connect_with(&format!("{url}?sslmode=require"), options).expect("connect");
    let g = Gen::new("tls");
    let (k, v) = g.key();
    insert(&store, &k, &v);
    let _hold = store.begin().expect("begin");
    let sessions = sessions_use_tls(&url);
    assert!(
        !sessions.is_empty() && sessions.iter().all(|&s| s),
        "{sessions:?}"
    );
    assert!(format!("{store:?}").contains("tls"));
}

/// `sslmode=require` refuses a server whose certificate does not verify (the system's roots do
/// not include the test CA): no unauthenticated TLS.
#[test]
fn sslmode_require_refuses_an_unverified_certificate() {
    let url = tls_cluster().create_database().expect("db");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let empty = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let mut options = PostgresOptions::default();
    options.tls = Some(std::sync::Arc::new(empty));
    let e = PostgresStore::connect_with(&format!("{url}?sslmode=require"), options)
        .expect_err("unverified certificate");
    assert!(
        matches!(e, StoreError::Backend { .. }),
        "not retryable: {e:?}"
    );
    let mut text = format!("{e}");
    let mut src = std::error::Error::source(&e);
    while let Some(c) = src {
        text.push_str(&format!(": {c}"));
        src = c.source();
    }
    assert!(text.contains("certificate"), "{text}");
}

/// The default `sslmode=prefer` connects without TLS even where the server offers it (coffer
/// does no opportunistic, unverified TLS): said in the docs, shown here.
#[test]
fn sslmode_prefer_is_plain_text() {
    let url = tls_cluster().create_database().expect("db");
    let store = PostgresStore::connect(&url).expect("connect");
    let _hold = store.begin().expect("begin");
    let sessions = sessions_use_tls(&url);
    assert!(
        !sessions.is_empty() && sessions.iter().all(|&s| !s),
        "{sessions:?}"
    );
}
