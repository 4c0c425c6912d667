//! How the cost of a call grows with what the service holds (issue 22, "Scale"):
//!
//! - `keys_in_store`: Encrypt 1 KiB with 10 / 10,000 / 1,000,000 keys in a SQLite store (the
//!   default durable store), cold (a fresh `Kms` over the same store for every call, so the key
//!   is not in the facade's cache; the key differs from call to call) and warm (one `Kms`, the
//!   key cached).
//! - `grants`: Encrypt 1 KiB on a key with 1 / 100 / 10,000 grants (SQLite), the caller allowed
//!   by its grant or by the key policy (grants merely present); warm, and cold for the grantee.
//! - `policy`: Encrypt 1 KiB under the default key policy (+ an identity policy), and under a
//!   1-, 10- and 100-statement key policy whose last statement is the one that allows the caller.
//! - `list_keys`, `list_aliases`: one page (Limit 100 and 1000) at the start, middle and end of
//!   the largest store's keys and aliases, reached through markers.
//!
//! The stores are filled through the store's own transactions (50,000 keys per transaction),
//! each key a real one: a random backing key wrapped under the bench's root key, the default key
//! policy, and one alias `alias/scale-NNNNNNN`. They are kept under
//! `$CARGO_TARGET_DIR/scale-bench/` and reused by the next run (delete the directory to rebuild).
//! `COFFER_SCALE_KEYS` (default `10,10000,1000000`) sets the store sizes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // a bench may panic on setup failure

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use coffer::model::*;
use coffer::{
    AccountId, Caller, EncryptionContext, KeyId, Kms, LocalRootKey, Region, SqliteStore, Store,
    SymmetricKey, SystemRandom,
};
use coffer_grants::{Grant, GrantOperation as GrantOp};
use coffer_keys::{BackingKey, KeyRecord, KeySpec, KeyUsage, Origin};
use coffer_store::AliasRecord;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};

const ACCOUNT: &str = "111122223333";
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
/// Keys per store transaction while filling a store.
const BATCH: usize = 50_000;

fn account() -> AccountId {
    ACCOUNT.parse().unwrap()
}

/// The bench's fixed root and marker keys, so a store filled by one run serves the next.
fn root_key() -> Arc<LocalRootKey> {
    Arc::new(
        LocalRootKey::new(
            &SymmetricKey::from_bytes([7; 32]),
            Arc::new(SystemRandom::new()),
        )
        .unwrap(),
    )
}

fn kms_over(store: Arc<dyn Store>, root: Arc<LocalRootKey>) -> Kms {
    Kms::builder()
        .store(store)
        .root_key(root)
        .marker_key(SymmetricKey::from_bytes([9; 32]))
        .quotas(coffer_benches::bench_quotas())
        .build()
        .unwrap()
}

fn admin() -> Caller {
    Caller::new(&format!("arn:aws:iam::{ACCOUNT}:user/bench"))
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
}

fn encrypt_req(key: &str) -> EncryptRequest {
    EncryptRequest {
        key_id: key.to_owned(),
        plaintext: vec![0x42u8; 1024].into(),
        ..Default::default()
    }
}

fn bench_root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("scale-bench")
}

/// A real key: a random backing key wrapped under `root`, the default key policy.
fn new_key(
    rng: &SystemRandom,
    root: &LocalRootKey,
    now: SystemTime,
) -> (KeyRecord, coffer_keys::WrappedVersion) {
    let id = KeyId::generate(rng).unwrap();
    let version = BackingKey::generate(rng, now, None).unwrap();
    let wrapped = version.wrap(&id, root).unwrap();
    let mut rec = KeyRecord::new(
        id,
        account(),
        Region::parse("us-east-1").unwrap(),
        now,
        String::new(),
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
        Origin::AwsKms,
        version.id,
    );
    rec.policy = Some(coffer_policy::default_key_policy_json(&account()));
    (rec, wrapped)
}

/// A SQLite store holding `n` keys, each with one alias; the key ids in alias order.
struct Fixture {
    store: Arc<SqliteStore>,
    ids: Vec<KeyId>,
}

fn fixture(n: usize, root: &LocalRootKey) -> Fixture {
    let dir = bench_root().join(format!("keys-{n}"));
    let done = dir.join("ids.bin");
    if let Ok(bytes) = std::fs::read(&done) {
        let t = Instant::now();
        let store = Arc::new(SqliteStore::open(&dir).unwrap());
        let ids: Vec<KeyId> = bytes
            .chunks_exact(16)
            .map(|c| KeyId::from_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(ids.len(), n);
        eprintln!(
            "scale: reusing {} ({n} keys, opened in {:?})",
            dir.display(),
            t.elapsed()
        );
        return Fixture { store, ids };
    }
    let _ = std::fs::remove_dir_all(&dir);
    let t = Instant::now();
    let store = Arc::new(SqliteStore::open(&dir).unwrap());
    let rng = SystemRandom::new();
    let now = SystemTime::now();
    let mut ids = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let mut batch: Vec<_> = (i..end).map(|j| (j, new_key(&rng, root, now))).collect();
        // Insert in key order: neighbouring inserts touch neighbouring pages.
        batch.sort_by(|a, b| a.1 .0.key_id.as_bytes().cmp(b.1 .0.key_id.as_bytes()));
        let mut txn = store.begin().unwrap();
        for (_, (rec, first)) in &batch {
            txn.insert_key(rec, first).unwrap();
        }
        batch.sort_by_key(|(j, _)| *j);
        for (j, (rec, _)) in &batch {
            txn.insert_alias(&AliasRecord {
                account: account(),
                name: format!("alias/scale-{j:07}"),
                target: rec.key_id,
                creation_date: now,
                last_updated: now,
            })
            .unwrap();
            ids.push(rec.key_id);
        }
        txn.commit().unwrap();
        i = end;
    }
    store.checkpoint().unwrap();
    let bytes: Vec<u8> = ids.iter().flat_map(|k| *k.as_bytes()).collect();
    std::fs::write(&done, bytes).unwrap();
    eprintln!(
        "scale: filled {} with {n} keys in {:?}",
        dir.display(),
        t.elapsed()
    );
    Fixture { store, ids }
}

fn sizes() -> Vec<usize> {
    std::env::var("COFFER_SCALE_KEYS")
        .unwrap_or_else(|_| "10,10000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect()
}

fn keys_in_store(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let root = root_key();
    let caller = admin();
    let mut g = c.benchmark_group("keys_in_store");
    g.sample_size(20);
    for n in sizes() {
        let fx = fixture(n, &root);
        let store: Arc<dyn Store> = fx.store.clone();
        // Cold: a fresh Kms (empty cache) over the same store for every call, built outside the
        // timed part; the key walks the store with a stride, so SQLite's page cache does not
        // hold the previous call's pages either.
        let ids: Vec<String> = fx.ids.iter().map(|k| k.to_string()).collect();
        let mut next = 0usize;
        g.bench_function(BenchmarkId::new("encrypt_1024_cold", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let kms = kms_over(store.clone(), root.clone());
                    next = (next + 7_919) % ids.len();
                    let req = encrypt_req(&ids[next]);
                    let t = Instant::now();
                    let out = kms.encrypt(&caller, req).unwrap();
                    total += t.elapsed();
                    drop(out);
                }
                total
            })
        });
        let kms = kms_over(store.clone(), root.clone());
        let key = ids[ids.len() / 2].clone();
        kms.encrypt(&caller, encrypt_req(&key)).unwrap();
        g.bench_function(BenchmarkId::new("encrypt_1024_warm", n), |b| {
            b.iter_batched(
                || encrypt_req(&key),
                |req| kms.encrypt(&caller, req).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn grants(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let root = root_key();
    let dir = bench_root().join("grants");
    let _ = std::fs::remove_dir_all(&dir);
    let sqlite = Arc::new(SqliteStore::open(&dir).unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    let rng = SystemRandom::new();
    let now = SystemTime::now();
    let grantee_arn = format!("arn:aws:iam::{ACCOUNT}:role/grantee");
    // No identity policy: the default key policy delegates to IAM, which allows nothing, so
    // only the grant allows.
    let grantee = Caller::new(&grantee_arn).unwrap();
    let admin = admin();
    let mut g = c.benchmark_group("grants");
    g.sample_size(20);
    for n in [1usize, 100, 10_000] {
        let t = Instant::now();
        let (rec, first) = new_key(&rng, &root, now);
        let key = rec.key_id.to_string();
        let mut txn = sqlite.begin().unwrap();
        txn.insert_key(&rec, &first).unwrap();
        for i in 0..n {
            let mut raw = [0u8; 32];
            coffer::RandomSource::fill(&rng, &mut raw).unwrap();
            let grantee_principal = if i == n / 2 {
                grantee_arn.clone()
            } else {
                format!("arn:aws:iam::{ACCOUNT}:role/other-{i}")
            };
            txn.insert_grant(&Grant {
                grant_id: raw.iter().map(|b| format!("{b:02x}")).collect(),
                key_id: rec.key_id,
                account: account(),
                grantee_principal,
                retiring_principal: None,
                issuing_account: format!("arn:aws:iam::{ACCOUNT}:root"),
                operations: vec![GrantOp::Decrypt, GrantOp::Encrypt],
                constraints: None,
                name: None,
                creation_date: now,
            })
            .unwrap();
        }
        txn.commit().unwrap();
        eprintln!("scale: key with {n} grants in {:?}", t.elapsed());

        let kms = kms_over(store.clone(), root.clone());
        for (who, caller) in [("by_grant", &grantee), ("by_key_policy", &admin)] {
            kms.encrypt(caller, encrypt_req(&key)).unwrap();
            g.bench_function(
                BenchmarkId::new(format!("encrypt_1024_warm_{who}"), n),
                |b| {
                    b.iter_batched(
                        || encrypt_req(&key),
                        |req| kms.encrypt(caller, req).unwrap(),
                        BatchSize::SmallInput,
                    )
                },
            );
        }
        g.bench_function(BenchmarkId::new("encrypt_1024_cold_by_grant", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let kms = kms_over(store.clone(), root.clone());
                    let req = encrypt_req(&key);
                    let t = Instant::now();
                    let out = kms.encrypt(&grantee, req).unwrap();
                    total += t.elapsed();
                    drop(out);
                }
                total
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A key policy of `n` statements; only the last allows alice (with conditions she meets). The
/// others name other principals, deny on conditions she does not meet, or allow her other
/// actions.
fn policy_of(n: usize) -> String {
    let mut statements = Vec::with_capacity(n);
    for i in 0..n - 1 {
        statements.push(match i % 4 {
            0 => format!(
                r#"{{"Sid":"S{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/u{i}"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:tenant":"t{i}"}}}}}}"#
            ),
            1 => format!(
                r#"{{"Sid":"S{i}","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:tenant":"blocked-{i}"}}}}}}"#
            ),
            2 => format!(
                r#"{{"Sid":"S{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/alice"}},"Action":"kms:Sign","Resource":"*","Condition":{{"StringLike":{{"aws:PrincipalTag/team":"t{i}*"}}}}}}"#
            ),
            _ => format!(
                r#"{{"Sid":"S{i}","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"NotIpAddress":{{"aws:SourceIp":"10.{}.0.0/16"}},"Null":{{"kms:ViaService":"false"}}}}}}"#,
                i % 250
            ),
        });
    }
    statements.push(format!(
        r#"{{"Sid":"App","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/alice"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:tenant":"acme","aws:PrincipalTag/team":"finance"}}}}}}"#
    ));
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn policy(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let kms = Kms::builder()
        .quotas(coffer_benches::bench_quotas())
        .build()
        .unwrap();
    let admin = admin();
    let alice = Caller::new(&format!("arn:aws:iam::{ACCOUNT}:user/alice"))
        .unwrap()
        .with_tag("team", "finance")
        .with_source_ip("10.1.2.3".parse().unwrap());
    let ctx: EncryptionContext = [("tenant", "acme")].into_iter().collect();
    let req = |key: &str| EncryptRequest {
        key_id: key.to_owned(),
        plaintext: vec![0x42u8; 1024].into(),
        encryption_context: ctx.clone(),
        ..Default::default()
    };
    let mut g = c.benchmark_group("policy");
    let default_key = kms
        .create_key(&admin, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    kms.encrypt(&admin, req(&default_key)).unwrap();
    g.bench_function("encrypt_1024/default_plus_identity", |b| {
        b.iter_batched(
            || req(&default_key),
            |r| kms.encrypt(&admin, r).unwrap(),
            BatchSize::SmallInput,
        )
    });
    for n in [1usize, 10, 100] {
        let text = policy_of(n);
        assert!(
            text.len() <= coffer_policy::MAX_POLICY_BYTES,
            "{}",
            text.len()
        );
        let key = kms
            .create_key(
                &admin,
                CreateKeyRequest {
                    policy: Some(text),
                    bypass_policy_lockout_safety_check: true,
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata
            .key_id;
        kms.encrypt(&alice, req(&key)).unwrap();
        g.bench_function(BenchmarkId::new("encrypt_1024/statements", n), |b| {
            b.iter_batched(
                || req(&key),
                |r| kms.encrypt(&alice, r).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// Markers positioned at the start (none), the middle and the end (the last page) of a listing.
fn positions(
    n: usize,
    limit: u32,
    mut page: impl FnMut(u32, Option<String>) -> (usize, Option<String>),
) -> [(&'static str, Option<String>); 3] {
    // Walk with pages of 1000 to the middle and to 1000 before the end, then with `limit`.
    let mut marker = None;
    let mut seen = 0usize;
    let mut middle = None;
    while seen + 1000 <= n.saturating_sub(1000) {
        if seen == (n / 2) / 1000 * 1000 {
            middle = marker.clone();
        }
        let (got, next) = page(1000, marker);
        seen += got;
        marker = next;
    }
    if middle.is_none() {
        middle = marker.clone();
    }
    while seen + limit as usize <= n.saturating_sub(limit as usize) {
        let (got, next) = page(limit, marker);
        seen += got;
        marker = next;
    }
    [("start", None), ("middle", middle), ("end", marker)]
}

fn listings(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let root = root_key();
    let caller = admin();
    let n = *sizes().iter().max().unwrap();
    if n < 2_000 {
        eprintln!("scale: listings need a store of at least 2,000 keys; skipped");
        return;
    }
    let fx = fixture(n, &root);
    let kms = kms_over(fx.store.clone(), root.clone());
    let mut g = c.benchmark_group("list_keys");
    g.sample_size(20);
    for limit in [100u32, 1000] {
        let at = positions(n, limit, |l, marker| {
            let r = kms
                .list_keys(
                    &caller,
                    ListKeysRequest {
                        limit: Some(l),
                        marker,
                    },
                )
                .unwrap();
            (r.keys.len(), r.next_marker)
        });
        for (name, marker) in at {
            let page = kms
                .list_keys(
                    &caller,
                    ListKeysRequest {
                        limit: Some(limit),
                        marker: marker.clone(),
                    },
                )
                .unwrap();
            assert_eq!(page.keys.len(), limit as usize, "{name}");
            g.bench_function(
                BenchmarkId::new(format!("limit_{limit}"), format!("{name}_of_{n}")),
                |b| {
                    b.iter(|| {
                        kms.list_keys(
                            &caller,
                            ListKeysRequest {
                                limit: Some(limit),
                                marker: marker.clone(),
                            },
                        )
                        .unwrap()
                    })
                },
            );
        }
    }
    g.finish();
    let mut g = c.benchmark_group("list_aliases");
    g.sample_size(20);
    for limit in [100u32, 1000] {
        let at = positions(n, limit, |l, marker| {
            let r = kms
                .list_aliases(
                    &caller,
                    ListAliasesRequest {
                        key_id: None,
                        limit: Some(l),
                        marker,
                    },
                )
                .unwrap();
            (r.aliases.len(), r.next_marker)
        });
        for (name, marker) in at {
            let page = kms
                .list_aliases(
                    &caller,
                    ListAliasesRequest {
                        key_id: None,
                        limit: Some(limit),
                        marker: marker.clone(),
                    },
                )
                .unwrap();
            assert_eq!(page.aliases.len(), limit as usize, "{name}");
            g.bench_function(
                BenchmarkId::new(format!("limit_{limit}"), format!("{name}_of_{n}")),
                |b| {
                    b.iter(|| {
                        kms.list_aliases(
                            &caller,
                            ListAliasesRequest {
                                key_id: None,
                                limit: Some(limit),
                                marker: marker.clone(),
                            },
                        )
                        .unwrap()
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, keys_in_store, grants, policy, listings);
criterion_main!(benches);
