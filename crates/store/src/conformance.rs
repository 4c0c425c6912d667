//! The conformance kit: one set of checks every [`Store`] backend must pass.
//!
//! A backend's test file runs them all with
//! `coffer_store::store_conformance_tests!(|| make_a_fresh_store());`, which expands to one
//! `#[test]` per check.

// A test kit: panicking on failure is its job.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use coffer_core::{AccountId, KeyId, Region};
use coffer_crypto::testing::DeterministicRandom;
use coffer_grants::{Grant, GrantOperation};
use coffer_keys::{KeyRecord, KeySpec, KeyUsage, Origin, VersionId, WrappedVersion};

use crate::{AliasRecord, CustomKeyStoreRecord, Store, StoreError};

/// Expands to one `#[test]` per conformance check, each on a fresh store from `$make`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@each $make;
            keys_round_trip, duplicate_key_refused, update_and_delete, rollback_on_drop,
            versions_in_order, list_keys_pages_by_account, keys_due, aliases_round_trip,
            alias_listing, delete_key_removes_its_aliases, missing_rows, grants_round_trip,
            grants_cascade_and_roll_back, pending_keys_and_deleted_material,
            custom_key_stores_round_trip);
    };
    (@each $make:expr; $($name:ident),+) => {
        $(
            #[test]
            fn $name() {
                let store = ($make)();
                $crate::conformance::$name(&store);
            }
        )+
    };
}

const T0: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn acct(n: u8) -> AccountId {
    AccountId::parse(&format!("{:012}", n)).expect("valid account")
}

struct Gen(DeterministicRandom);

impl Gen {
    fn new(seed: &str) -> Self {
        Self(DeterministicRandom::new(seed.as_bytes()))
    }

    fn key(&self, account: AccountId) -> (KeyRecord, WrappedVersion) {
        let id = KeyId::generate(&self.0).expect("rng");
        let v = self.version(0);
        let rec = KeyRecord::new(
            id,
            account,
            Region::parse("us-east-1").expect("region"),
            at(0),
            "test key".into(),
            KeySpec::SymmetricDefault,
            KeyUsage::EncryptDecrypt,
            Origin::AwsKms,
            v.id,
        );
        (rec, v)
    }

    fn version(&self, t: u64) -> WrappedVersion {
        WrappedVersion {
            id: VersionId::generate(&self.0).expect("rng"),
            wrapped: vec![0xA5; 61],
            created: at(t),
            rotation_type: None,
        }
    }
}

fn alias(account: AccountId, name: &str, target: KeyId) -> AliasRecord {
    AliasRecord {
        account,
        name: name.into(),
        target,
        creation_date: at(1),
        last_updated: at(1),
    }
}

/// A key inserted and committed reads back equal, with its first version.
pub fn keys_round_trip(store: &dyn Store) {
    let g = Gen::new("round");
    let (rec, v) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&rec, &v).expect("insert");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert_eq!(t.key(&rec.key_id).expect("get"), Some(rec.clone()));
    assert_eq!(t.versions(&rec.key_id).expect("versions"), vec![v]);
}

/// Inserting an existing key id fails with `AlreadyExists` and changes nothing.
pub fn duplicate_key_refused(store: &dyn Store) {
    let g = Gen::new("dup");
    let (rec, v) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&rec, &v).expect("insert");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    let mut other = rec.clone();
    other.description = "other".into();
    assert!(matches!(
        t.insert_key(&other, &g.version(1)),
        Err(StoreError::AlreadyExists { .. })
    ));
    drop(t);
    let mut t = store.begin().expect("begin");
    assert_eq!(t.key(&rec.key_id).expect("get"), Some(rec));
}

/// Updates replace the record; deletion removes record and versions.
pub fn update_and_delete(store: &dyn Store) {
    let g = Gen::new("upd");
    let (mut rec, v) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&rec, &v).expect("insert");
    rec.description = "changed".into();
    rec.revision += 1;
    t.update_key(&rec).expect("update");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert_eq!(t.key(&rec.key_id).expect("get"), Some(rec.clone()));
    t.delete_key(&rec.key_id).expect("delete");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert_eq!(t.key(&rec.key_id).expect("get"), None);
    assert!(t.versions(&rec.key_id).expect("versions").is_empty());
}

/// A transaction dropped without commit leaves no trace of any of its writes.
pub fn rollback_on_drop(store: &dyn Store) {
    let g = Gen::new("rollback");
    let (rec, v) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&rec, &v).expect("insert");
    t.commit().expect("commit");

    let (rec2, v2) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&rec2, &v2).expect("insert");
    let mut changed = rec.clone();
    changed.description = "uncommitted".into();
    t.update_key(&changed).expect("update");
    t.add_version(&rec.key_id, &g.version(5)).expect("add");
    t.insert_alias(&alias(acct(1), "alias/x", rec.key_id))
        .expect("alias");
    drop(t);

    let mut t = store.begin().expect("begin");
    assert_eq!(t.key(&rec2.key_id).expect("get"), None);
    assert_eq!(t.key(&rec.key_id).expect("get"), Some(rec.clone()));
    assert_eq!(t.versions(&rec.key_id).expect("versions").len(), 1);
    assert_eq!(t.alias(&acct(1), "alias/x").expect("alias"), None);
}

/// Versions come back oldest first; a duplicate version id is refused.
pub fn versions_in_order(store: &dyn Store) {
    let g = Gen::new("versions");
    let (rec, v0) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&rec, &v0).expect("insert");
    let mut all = vec![v0];
    for i in 1..=5 {
        let v = g.version(i);
        t.add_version(&rec.key_id, &v).expect("add");
        all.push(v);
    }
    let dup = all[2].clone();
    assert!(matches!(
        t.add_version(&rec.key_id, &dup),
        Err(StoreError::AlreadyExists { .. })
    ));
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert_eq!(t.versions(&rec.key_id).expect("versions"), all);
}

/// A key may exist without material (pending import); deleting a key's versions leaves the key
/// and removes every version; both refuse a missing or duplicate key as the other calls do.
pub fn pending_keys_and_deleted_material(store: &dyn Store) {
    let g = Gen::new("pending");
    let (rec, v0) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_pending_key(&rec).expect("insert pending");
    assert!(matches!(
        t.insert_pending_key(&rec),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(t.versions(&rec.key_id).expect("versions").is_empty());
    t.add_version(&rec.key_id, &v0).expect("import");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert_eq!(t.versions(&rec.key_id).expect("versions"), vec![v0.clone()]);
    t.delete_versions(&rec.key_id).expect("delete material");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert!(t.versions(&rec.key_id).expect("versions").is_empty());
    assert_eq!(t.key(&rec.key_id).expect("key"), Some(rec.clone()));
    // Re-importing the same version works after deletion.
    t.add_version(&rec.key_id, &v0).expect("re-import");
    let (other, _) = g.key(acct(2));
    assert!(matches!(
        t.delete_versions(&other.key_id),
        Err(StoreError::NotFound { .. })
    ));
}

/// Listing is per account, ordered by key id, and pages without gaps or repeats.
pub fn list_keys_pages_by_account(store: &dyn Store) {
    let g = Gen::new("list");
    let mut mine = Vec::new();
    let mut t = store.begin().expect("begin");
    for i in 0..7 {
        let a = if i % 3 == 0 { acct(2) } else { acct(1) };
        let (rec, v) = g.key(a);
        t.insert_key(&rec, &v).expect("insert");
        if a == acct(1) {
            mine.push(rec.key_id);
        }
    }
    t.commit().expect("commit");
    mine.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let mut t = store.begin().expect("begin");
        let page = t.list_keys(&acct(1), after.as_ref(), 2).expect("list");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        assert!(page.iter().all(|r| r.account == acct(1)));
        after = page.last().map(|r| r.key_id);
        seen.extend(page.into_iter().map(|r| r.key_id));
    }
    assert_eq!(seen, mine);
}

/// Keys come due at their deletion date or next rotation.
pub fn keys_due(store: &dyn Store) {
    let g = Gen::new("due");
    let (mut del, v1) = g.key(acct(1));
    del.state = coffer_keys::KeyState::PendingDeletion;
    del.deletion_date = Some(at(100));
    let (mut rot, v2) = g.key(acct(1));
    rot.rotation = Some(coffer_keys::RotationSchedule {
        period_days: 90,
        next_rotation: at(200),
    });
    let (idle, v3) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&del, &v1).expect("insert");
    t.insert_key(&rot, &v2).expect("insert");
    t.insert_key(&idle, &v3).expect("insert");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert!(t.keys_due(at(99), 10).expect("due").is_empty());
    assert_eq!(t.keys_due(at(100), 10).expect("due"), vec![del.key_id]);
    let mut both = t.keys_due(at(500), 10).expect("due");
    both.sort();
    let mut want = vec![del.key_id, rot.key_id];
    want.sort();
    assert_eq!(both, want);
    assert_eq!(t.keys_due(at(500), 1).expect("due").len(), 1);
}

/// Aliases are unique per account, updatable and deletable.
pub fn aliases_round_trip(store: &dyn Store) {
    let g = Gen::new("alias");
    let (k1, v1) = g.key(acct(1));
    let (k2, v2) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&k1, &v1).expect("insert");
    t.insert_key(&k2, &v2).expect("insert");
    let a = alias(acct(1), "alias/app", k1.key_id);
    t.insert_alias(&a).expect("alias");
    assert!(matches!(
        t.insert_alias(&a),
        Err(StoreError::AlreadyExists { .. })
    ));
    // Same name in another account is another alias.
    t.insert_alias(&alias(acct(2), "alias/app", k2.key_id))
        .expect("other account");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert_eq!(
        t.alias(&acct(1), "alias/app").expect("get"),
        Some(a.clone())
    );
    let mut moved = a.clone();
    moved.target = k2.key_id;
    moved.last_updated = at(9);
    t.update_alias(&moved).expect("update");
    t.commit().expect("commit");
    // Listing by key follows the move, in the account only.
    let of_key = |t: &mut Box<dyn crate::Txn + '_>, k: &KeyRecord| {
        t.list_aliases(&acct(1), Some(&k.key_id), None, 10)
            .expect("list")
            .into_iter()
            .map(|a| a.name)
            .collect::<Vec<_>>()
    };
    let mut t = store.begin().expect("begin");
    assert!(of_key(&mut t, &k1).is_empty());
    assert_eq!(of_key(&mut t, &k2), ["alias/app"]);
    assert_eq!(t.alias(&acct(1), "alias/app").expect("get"), Some(moved));
    t.delete_alias(&acct(1), "alias/app").expect("delete");
    assert!(of_key(&mut t, &k2).is_empty());
    // A rolled-back move and a rolled-back delete leave the listing as it was.
    drop(t);
    let mut t = store.begin().expect("begin");
    assert_eq!(of_key(&mut t, &k2), ["alias/app"]);
    let mut back = a.clone();
    back.last_updated = at(10);
    t.update_alias(&back).expect("update");
    assert_eq!(of_key(&mut t, &k1), ["alias/app"]);
    drop(t);
    let mut t = store.begin().expect("begin");
    assert!(of_key(&mut t, &k1).is_empty());
    assert_eq!(of_key(&mut t, &k2), ["alias/app"]);
    t.delete_alias(&acct(1), "alias/app").expect("delete");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert_eq!(t.alias(&acct(1), "alias/app").expect("get"), None);
    assert!(of_key(&mut t, &k2).is_empty());
    assert!(t.alias(&acct(2), "alias/app").expect("get").is_some());
}

/// Alias listing is per account, ordered by name, pages, and filters by key.
pub fn alias_listing(store: &dyn Store) {
    let g = Gen::new("alias-list");
    let (k1, v1) = g.key(acct(1));
    let (k2, v2) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&k1, &v1).expect("insert");
    t.insert_key(&k2, &v2).expect("insert");
    for (name, k) in [
        ("alias/c", k1.key_id),
        ("alias/a", k2.key_id),
        ("alias/b", k1.key_id),
        ("alias/d", k2.key_id),
    ] {
        t.insert_alias(&alias(acct(1), name, k)).expect("alias");
    }
    t.insert_alias(&alias(acct(3), "alias/zz", k1.key_id))
        .expect("alias");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    let names = |v: Vec<AliasRecord>| v.into_iter().map(|a| a.name).collect::<Vec<_>>();
    assert_eq!(
        names(t.list_aliases(&acct(1), None, None, 10).expect("list")),
        ["alias/a", "alias/b", "alias/c", "alias/d"]
    );
    assert_eq!(
        names(
            t.list_aliases(&acct(1), None, Some("alias/b"), 1)
                .expect("list")
        ),
        ["alias/c"]
    );
    assert_eq!(
        names(
            t.list_aliases(&acct(1), Some(&k1.key_id), None, 10)
                .expect("list")
        ),
        ["alias/b", "alias/c"]
    );
    assert_eq!(
        names(
            t.list_aliases(&acct(1), Some(&k1.key_id), Some("alias/b"), 10)
                .expect("list")
        ),
        ["alias/c"]
    );
    assert_eq!(
        names(
            t.list_aliases(&acct(1), Some(&k1.key_id), None, 1)
                .expect("list")
        ),
        ["alias/b"]
    );
    assert!(t
        .list_aliases(&acct(2), None, None, 10)
        .expect("list")
        .is_empty());
}

/// Deleting a key deletes the aliases that point at it, and only those.
pub fn delete_key_removes_its_aliases(store: &dyn Store) {
    let g = Gen::new("cascade");
    let (k1, v1) = g.key(acct(1));
    let (k2, v2) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&k1, &v1).expect("insert");
    t.insert_key(&k2, &v2).expect("insert");
    t.insert_alias(&alias(acct(1), "alias/one", k1.key_id))
        .expect("alias");
    t.insert_alias(&alias(acct(1), "alias/two", k2.key_id))
        .expect("alias");
    t.delete_key(&k1.key_id).expect("delete");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert_eq!(t.alias(&acct(1), "alias/one").expect("get"), None);
    assert!(t.alias(&acct(1), "alias/two").expect("get").is_some());
}

/// Operations on rows that do not exist report `NotFound`.
pub fn missing_rows(store: &dyn Store) {
    let g = Gen::new("missing");
    let (rec, _) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    assert!(matches!(
        t.update_key(&rec),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        t.delete_key(&rec.key_id),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        t.add_version(&rec.key_id, &g.version(1)),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        t.update_alias(&alias(acct(1), "alias/none", rec.key_id)),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        t.delete_alias(&acct(1), "alias/none"),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(t.key(&rec.key_id).expect("get"), None);
}

fn grant(key: &KeyRecord, id: &str, retiring: Option<&str>) -> Grant {
    Grant {
        grant_id: id.into(),
        key_id: key.key_id,
        account: key.account,
        grantee_principal: "arn:aws:iam::000000000001:role/app".into(),
        retiring_principal: retiring.map(Into::into),
        issuing_account: "arn:aws:iam::000000000001:root".into(),
        operations: vec![GrantOperation::Decrypt, GrantOperation::Encrypt],
        constraints: None,
        name: Some("n".into()),
        creation_date: at(3),
    }
}

/// Grants are stored per key, ordered by id, unique, deletable, and listed by retiring
/// principal within an account.
pub fn grants_round_trip(store: &dyn Store) {
    let g = Gen::new("grants");
    let (k1, v1) = g.key(acct(1));
    let (k2, v2) = g.key(acct(1));
    let (k3, v3) = g.key(acct(2));
    let mut t = store.begin().expect("begin");
    t.insert_key(&k1, &v1).expect("insert");
    t.insert_key(&k2, &v2).expect("insert");
    t.insert_key(&k3, &v3).expect("insert");
    let retiree = "arn:aws:iam::000000000001:role/retiree";
    for (k, id, r) in [
        (&k1, "c", Some(retiree)),
        (&k1, "a", None),
        (&k1, "b", Some(retiree)),
        (&k2, "d", Some(retiree)),
        (&k3, "e", Some(retiree)),
    ] {
        t.insert_grant(&grant(k, id, r)).expect("grant");
    }
    assert!(matches!(
        t.insert_grant(&grant(&k1, "a", None)),
        Err(StoreError::AlreadyExists { .. })
    ));
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    let ids = |v: Vec<Grant>| v.into_iter().map(|g| g.grant_id).collect::<Vec<_>>();
    assert_eq!(ids(t.grants(&k1.key_id).expect("grants")), ["a", "b", "c"]);
    assert_eq!(
        t.grant(&k1.key_id, "b").expect("grant"),
        Some(grant(&k1, "b", Some(retiree)))
    );
    assert_eq!(t.grant(&k2.key_id, "b").expect("grant"), None);
    assert_eq!(
        ids(t
            .grants_retirable_by(&acct(1), retiree, None, 10)
            .expect("retirable")),
        ["b", "c", "d"]
    );
    assert_eq!(
        ids(t
            .grants_retirable_by(&acct(1), retiree, Some("b"), 1)
            .expect("retirable")),
        ["c"]
    );
    t.delete_grant(&k1.key_id, "b").expect("delete");
    assert!(matches!(
        t.delete_grant(&k1.key_id, "b"),
        Err(StoreError::NotFound { .. })
    ));
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert_eq!(ids(t.grants(&k1.key_id).expect("grants")), ["a", "c"]);
    let (missing, _) = g.key(acct(1));
    assert!(matches!(
        t.insert_grant(&grant(&missing, "z", None)),
        Err(StoreError::NotFound { .. })
    ));
}

/// Deleting a key deletes its grants; a rolled-back grant leaves no trace.
pub fn grants_cascade_and_roll_back(store: &dyn Store) {
    let g = Gen::new("grant-cascade");
    let (k1, v1) = g.key(acct(1));
    let (k2, v2) = g.key(acct(1));
    let mut t = store.begin().expect("begin");
    t.insert_key(&k1, &v1).expect("insert");
    t.insert_key(&k2, &v2).expect("insert");
    t.insert_grant(&grant(&k1, "x", None)).expect("grant");
    t.insert_grant(&grant(&k2, "y", None)).expect("grant");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    t.insert_grant(&grant(&k1, "uncommitted", None))
        .expect("grant");
    drop(t);
    let mut t = store.begin().expect("begin");
    assert_eq!(t.grants(&k1.key_id).expect("grants").len(), 1);
    t.delete_key(&k1.key_id).expect("delete");
    t.commit().expect("commit");
    let mut t = store.begin().expect("begin");
    assert!(t.grants(&k1.key_id).expect("grants").is_empty());
    assert_eq!(t.grants(&k2.key_id).expect("grants").len(), 1);
}

fn custom_key_store(id: &str, account: AccountId, name: &str) -> CustomKeyStoreRecord {
    CustomKeyStoreRecord {
        id: id.into(),
        account,
        name: name.into(),
        cluster_id: "cluster-1234567890a".into(),
        trust_anchor: "-----BEGIN CERTIFICATE-----".into(),
        wrapped_password: vec![1, 2, 3],
        creation_date: at(5),
        connect: false,
    }
}

/// Custom key stores: inserted, listed by account in id order (and all of them), updated,
/// deleted, refused when duplicated or missing, and rolled back with their transaction.
pub fn custom_key_stores_round_trip(store: &dyn Store) {
    let a = custom_key_store("cks-00000000000000002", acct(1), "b");
    let b = custom_key_store("cks-00000000000000001", acct(1), "a");
    let c = custom_key_store("cks-00000000000000003", acct(2), "a");
    let mut t = store.begin().unwrap();
    for r in [&a, &b, &c] {
        t.insert_custom_key_store(r).unwrap();
    }
    assert!(matches!(
        t.insert_custom_key_store(&a),
        Err(StoreError::AlreadyExists { .. })
    ));
    t.commit().unwrap();
    let mut t = store.begin().unwrap();
    assert_eq!(
        t.custom_key_stores(Some(&acct(1))).unwrap(),
        vec![b.clone(), a.clone()]
    );
    assert_eq!(t.custom_key_stores(None).unwrap().len(), 3);
    let mut a2 = a.clone();
    a2.connect = true;
    a2.name = "renamed".into();
    t.update_custom_key_store(&a2).unwrap();
    t.delete_custom_key_store(&c.id).unwrap();
    assert!(matches!(
        t.delete_custom_key_store(&c.id),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        t.update_custom_key_store(&c),
        Err(StoreError::NotFound { .. })
    ));
    t.commit().unwrap();
    // A dropped transaction leaves nothing behind.
    {
        let mut t = store.begin().unwrap();
        t.delete_custom_key_store(&a.id).unwrap();
        t.insert_custom_key_store(&c).unwrap();
    }
    let mut t = store.begin().unwrap();
    assert_eq!(t.custom_key_stores(None).unwrap(), vec![b, a2]);
    assert!(t.custom_key_stores(Some(&acct(2))).unwrap().is_empty());
}
