//! SqliteStore (WAL, synchronous = FULL) beside MemoryStore, measured in the same run: the
//! transactions CreateKey and RotateKeyOnDemand commit, and the read a cache miss makes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use coffer_core::{AccountId, KeyId, Region};
use coffer_crypto::SystemRandom;
use coffer_keys::{KeyRecord, KeySpec, KeyUsage, Origin, RotationType, VersionId, WrappedVersion};
use coffer_store::{MemoryStore, SqliteStore, Store};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn version(rng: &SystemRandom) -> WrappedVersion {
    WrappedVersion {
        id: VersionId::generate(rng).unwrap(),
        wrapped: vec![0xA5; 61],
        created: SystemTime::now(),
        rotation_type: Some(RotationType::OnDemand),
    }
}

fn record(rng: &SystemRandom, v: &WrappedVersion) -> KeyRecord {
    KeyRecord::new(
        KeyId::generate(rng).unwrap(),
        AccountId::parse("111122223333").unwrap(),
        Region::parse("us-east-1").unwrap(),
        SystemTime::now(),
        "bench".into(),
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
        Origin::AwsKms,
        v.id,
    )
}

fn insert(store: &dyn Store, rng: &SystemRandom) -> KeyRecord {
    let v = version(rng);
    let rec = record(rng, &v);
    let mut t = store.begin().unwrap();
    t.insert_key(&rec, &v).unwrap();
    t.commit().unwrap();
    rec
}

fn stores(base: &std::path::Path) -> Vec<(&'static str, Box<dyn Store>)> {
    vec![
        ("memory", Box::new(MemoryStore::new())),
        (
            "sqlite",
            Box::new(SqliteStore::open(base.join("data")).unwrap()),
        ),
    ]
}

fn sqlite(c: &mut Criterion) {
    // Under the target directory (a real disk), so fsync is real.
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join(format!("sqlite-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let rng = SystemRandom::new();
    let stores = stores(&base);

    let mut g = c.benchmark_group("store_insert_key");
    for (name, store) in &stores {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| insert(store.as_ref(), &rng))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("store_rotate");
    for (name, store) in &stores {
        let mut rec = insert(store.as_ref(), &rng);
        let mut n = 0u32;
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                // A key takes at most 25 on-demand rotations: a fresh key now and then keeps
                // the version list realistic.
                n += 1;
                if n % 25 == 0 {
                    rec = insert(store.as_ref(), &rng);
                }
                let v = version(&rng);
                let mut t = store.begin().unwrap();
                let mut r = t.key(&rec.key_id).unwrap().unwrap();
                t.add_version(&rec.key_id, &v).unwrap();
                r.current_version = v.id;
                r.revision += 1;
                t.update_key(&r).unwrap();
                t.commit().unwrap();
                rec = r;
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("store_load_key");
    for (name, store) in &stores {
        let rec = insert(store.as_ref(), &rng);
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut t = store.begin().unwrap();
                let r = t.key(&rec.key_id).unwrap().unwrap();
                let v = t.versions(&rec.key_id).unwrap();
                (r, v)
            })
        });
    }
    g.finish();
    drop(stores);
    let _ = std::fs::remove_dir_all(&base);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = sqlite
}
criterion_main!(benches);
