//! Behaviour of `Quotas` with an injected clock.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use coffer_core::testing::ManualClock;
use coffer_core::AccountId;
use coffer_quota::{
    LimitOverride, QuotaClass, QuotaConfig, QuotaError, Quotas, Throttled, SHARDS,
    THROTTLING_MESSAGE,
};
use proptest::prelude::*;

const START: u64 = 1_700_000_000;

fn acct(n: u64) -> AccountId {
    AccountId::parse(&format!("{n:012}")).unwrap()
}

fn setup(config: &QuotaConfig) -> (Arc<ManualClock>, Quotas) {
    let clock = Arc::new(ManualClock::at_epoch_seconds(START));
    let quotas = Quotas::new(config, clock.clone()).unwrap();
    (clock, quotas)
}

fn config_with(class: QuotaClass, rate: Option<f64>, burst: Option<u64>) -> QuotaConfig {
    let mut config = QuotaConfig::default();
    config.defaults.insert(class, LimitOverride { rate, burst });
    config
}

/// Calls `check` `n` times and counts the grants.
fn grants(q: &Quotas, a: &AccountId, class: QuotaClass, n: u64) -> u64 {
    (0..n).filter(|_| q.check(a, class).is_ok()).count() as u64
}

#[test]
fn default_burst_is_one_second_of_rate_and_refill_is_exact() {
    let (clock, q) = setup(&QuotaConfig::default());
    let a = acct(111_122_223_333);
    let sym = QuotaClass::SymmetricCryptographic;
    // 10,000 per second, burst 10,000.
    assert_eq!(grants(&q, &a, sym, 10_000), 10_000);
    let t = q.check(&a, sym).unwrap_err();
    assert_eq!(t.class(), sym);
    assert_eq!(t.retry_after(), Duration::from_micros(100));
    // 99 µs later: still 1 µs short.
    clock.advance(Duration::from_micros(99));
    assert_eq!(
        q.check(&a, sym).unwrap_err().retry_after(),
        Duration::from_micros(1)
    );
    clock.advance(Duration::from_micros(1));
    assert_eq!(grants(&q, &a, sym, 2), 1);
    // 2.5 intervals later: exactly 2 tokens, and half an interval to wait for the third.
    clock.advance(Duration::from_micros(250));
    assert_eq!(grants(&q, &a, sym, 3), 2);
    assert_eq!(
        q.check(&a, sym).unwrap_err().retry_after(),
        Duration::from_micros(50)
    );
    // A long idle time refills to the burst, not beyond.
    clock.advance(Duration::from_secs(60));
    assert_eq!(grants(&q, &a, sym, 20_000), 10_000);
}

#[test]
fn fractional_rates_allow_one_call_then_wait() {
    let (clock, q) = setup(&QuotaConfig::default());
    let a = acct(1);
    let rsa4096 = QuotaClass::for_operation_name("GenerateDataKeyPair", Some("RSA_4096"));
    assert_eq!(rsa4096, QuotaClass::DataKeyPairRsa4096);
    assert!(q.check(&a, rsa4096).is_ok());
    let t = q.check(&a, rsa4096).unwrap_err();
    assert_eq!(t.retry_after(), Duration::from_secs(10));
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(
        q.check(&a, rsa4096).unwrap_err().retry_after(),
        Duration::from_millis(1)
    );
    clock.advance(Duration::from_millis(1));
    assert!(q.check(&a, rsa4096).is_ok());

    let gpfi = QuotaClass::GetParametersForImport;
    assert!(q.check(&a, gpfi).is_ok());
    assert_eq!(
        q.check(&a, gpfi).unwrap_err().retry_after(),
        Duration::from_secs(4)
    );
}

#[test]
fn configured_burst_and_rate() {
    let config = config_with(QuotaClass::CreateKey, Some(2.0), Some(5));
    let (clock, q) = setup(&config);
    let a = acct(7);
    assert_eq!(grants(&q, &a, QuotaClass::CreateKey, 10), 5);
    clock.advance(Duration::from_secs(1));
    assert_eq!(grants(&q, &a, QuotaClass::CreateKey, 10), 2);
    clock.advance(Duration::from_secs(100));
    assert_eq!(grants(&q, &a, QuotaClass::CreateKey, 10), 5);
    let limit = q.limit(&a, QuotaClass::CreateKey);
    assert_eq!(limit.burst(), 5);
    assert_eq!(limit.interval(), Duration::from_millis(500));
    assert_eq!(limit.rate(), 2.0);
}

#[test]
fn accounts_are_isolated() {
    let (_, q) = setup(&QuotaConfig::default());
    let (a, b) = (acct(1), acct(2));
    assert_eq!(grants(&q, &a, QuotaClass::CreateKey, 10), 5);
    assert!(q.check(&a, QuotaClass::CreateKey).is_err());
    // Another account still has its whole burst.
    assert_eq!(grants(&q, &b, QuotaClass::CreateKey, 10), 5);
}

#[test]
fn classes_are_isolated_and_shared_classes_are_shared() {
    let mut config = config_with(QuotaClass::SymmetricCryptographic, Some(10.0), None);
    config.defaults.insert(
        QuotaClass::RsaCryptographic,
        LimitOverride {
            rate: Some(3.0),
            burst: None,
        },
    );
    let (_, q) = setup(&config);
    let a = acct(1);
    let class = |op, spec| QuotaClass::for_operation_name(op, spec);
    // Encrypt, Decrypt and GenerateDataKey share the symmetric bucket of 10.
    assert_eq!(grants(&q, &a, class("Encrypt", None), 4), 4);
    assert_eq!(
        grants(&q, &a, class("Decrypt", Some("SYMMETRIC_DEFAULT")), 4),
        4
    );
    assert_eq!(grants(&q, &a, class("GenerateDataKey", None), 4), 2);
    assert!(q.check(&a, class("GenerateMac", Some("HMAC_256"))).is_err());
    // RSA keys draw from their own shared bucket.
    assert_eq!(grants(&q, &a, class("Decrypt", Some("RSA_2048")), 2), 2);
    assert_eq!(grants(&q, &a, class("Sign", Some("RSA_4096")), 2), 1);
    // ECC and management classes are untouched.
    assert_eq!(
        grants(&q, &a, class("Sign", Some("ECC_NIST_P256")), 300),
        300
    );
    assert_eq!(grants(&q, &a, class("CreateKey", None), 10), 5);
    assert_eq!(grants(&q, &a, class("CreateAlias", None), 10), 5);
}

#[test]
fn account_overrides_layer_field_by_field() {
    let json = r#"{
        "max_buckets": 4096,
        "defaults": {
            "CreateKey": { "burst": 20 },
            "DescribeKey": { "rate": 100, "burst": 7 }
        },
        "accounts": {
            "111122223333": {
                "CreateKey": { "rate": 50 },
                "DescribeKey": { "rate": 1 },
                "ListKeys": { "burst": 3 }
            }
        }
    }"#;
    let config: QuotaConfig = serde_json::from_str(json).unwrap();
    let (_, q) = setup(&config);
    let special = acct(111_122_223_333);
    let other = acct(444_455_556_666);
    let lim = |a: &AccountId, c| {
        let l = q.limit(a, c);
        (l.rate(), l.burst())
    };
    // Defaults layer over the built-in table.
    assert_eq!(lim(&other, QuotaClass::CreateKey), (5.0, 20));
    assert_eq!(lim(&other, QuotaClass::DescribeKey), (100.0, 7));
    assert_eq!(lim(&other, QuotaClass::ListKeys), (500.0, 500));
    // The account layer over the defaults, field by field.
    assert_eq!(lim(&special, QuotaClass::CreateKey), (50.0, 20));
    assert_eq!(lim(&special, QuotaClass::DescribeKey), (1.0, 7));
    assert_eq!(lim(&special, QuotaClass::ListKeys), (500.0, 3));
    // Classes the account does not mention follow the defaults.
    assert_eq!(lim(&special, QuotaClass::CreateGrant), (50.0, 50));
    // And the buckets follow the limits.
    assert_eq!(grants(&q, &special, QuotaClass::ListKeys, 10), 3);
    assert_eq!(grants(&q, &other, QuotaClass::ListKeys, 10), 10);
    assert_eq!(q.capacity(), 4096);
}

#[test]
fn toml_configuration() {
    let text = r#"
        enabled = true
        max_buckets = 1000

        [defaults.SymmetricCryptographic]
        rate = 50000

        [defaults.DataKeyPair_RSA_4096]
        rate = 0.5
        burst = 2

        [accounts.111122223333.CreateKey]
        rate = 0.25
    "#;
    let config: QuotaConfig = toml::from_str(text).unwrap();
    assert_eq!(config.max_buckets, 1000);
    let (_, q) = setup(&config);
    let a = acct(111_122_223_333);
    assert_eq!(
        q.limit(&a, QuotaClass::SymmetricCryptographic).burst(),
        50_000
    );
    assert_eq!(q.limit(&a, QuotaClass::DataKeyPairRsa4096).burst(), 2);
    let ck = q.limit(&a, QuotaClass::CreateKey);
    assert_eq!((ck.interval(), ck.burst()), (Duration::from_secs(4), 1));
    // Serialization round-trips.
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(serde_json::from_str::<QuotaConfig>(&json).unwrap(), config);
}

#[test]
fn bad_configurations_are_refused() {
    let bad_json = [
        r#"{ "defaults": { "NoSuchClass": { "rate": 1 } } }"#,
        r#"{ "defaults": { "CreateKey": { "rate": 1, "extra": 2 } } }"#,
        r#"{ "bogus": 1 }"#,
    ];
    for j in bad_json {
        assert!(serde_json::from_str::<QuotaConfig>(j).is_err(), "{j}");
    }
    let clock = Arc::new(ManualClock::at_epoch_seconds(START));
    let refuse = |json: &str| -> QuotaError {
        let config: QuotaConfig = serde_json::from_str(json).unwrap();
        Quotas::new(&config, clock.clone()).unwrap_err()
    };
    assert!(matches!(
        refuse(r#"{ "defaults": { "CreateKey": { "rate": 0 } } }"#),
        QuotaError::InvalidRate {
            class: QuotaClass::CreateKey,
            account: None,
            ..
        }
    ));
    assert!(matches!(
        refuse(r#"{ "defaults": { "CreateKey": { "burst": 0 } } }"#),
        QuotaError::InvalidBurst {
            class: QuotaClass::CreateKey,
            burst: 0,
            ..
        }
    ));
    assert!(matches!(
        refuse(r#"{ "accounts": { "12345": {} } }"#),
        QuotaError::InvalidAccountId { .. }
    ));
    let e = refuse(r#"{ "accounts": { "111122223333": { "ListKeys": { "rate": -3 } } } }"#);
    assert!(matches!(
        e,
        QuotaError::InvalidRate {
            account: Some(_),
            ..
        }
    ));
    assert!(e.to_string().contains("111122223333"), "{e}");
    assert!(matches!(
        refuse(r#"{ "max_buckets": 0 }"#),
        QuotaError::InvalidMaxBuckets
    ));
}

#[test]
fn disabled_quotas_grant_everything() {
    let config = QuotaConfig {
        enabled: false,
        ..QuotaConfig::default()
    };
    let (_, q) = setup(&config);
    assert_eq!(
        grants(&q, &acct(1), QuotaClass::GetParametersForImport, 100),
        100
    );
    assert_eq!(q.bucket_count(), 0);
}

#[test]
fn throttled_is_the_aws_message_and_converts() {
    let (_, q) = setup(&QuotaConfig::default());
    let a = acct(1);
    let _ = grants(&q, &a, QuotaClass::CreateKey, 5);
    let t: Throttled = q.check(&a, QuotaClass::CreateKey).unwrap_err();
    assert_eq!(t.to_string(), THROTTLING_MESSAGE);
    let e: QuotaError = t.into();
    assert!(matches!(e, QuotaError::Throttled(x) if x.class() == QuotaClass::CreateKey));
    assert_eq!(e.to_string(), THROTTLING_MESSAGE);
}

#[test]
fn a_clock_stepping_back_grants_nothing_extra() {
    let (clock, q) = setup(&config_with(QuotaClass::CreateKey, Some(1.0), Some(2)));
    let a = acct(1);
    assert_eq!(grants(&q, &a, QuotaClass::CreateKey, 5), 2);
    clock.set(std::time::UNIX_EPOCH + Duration::from_secs(START - 3600));
    assert_eq!(grants(&q, &a, QuotaClass::CreateKey, 5), 0);
    clock.set(std::time::UNIX_EPOCH + Duration::from_secs(START + 1));
    assert_eq!(grants(&q, &a, QuotaClass::CreateKey, 5), 1);
}

#[test]
fn buckets_stay_bounded_with_many_accounts() {
    // Default capacity; 200,000 accounts each make one DescribeKey call, 1 ms apart. Every
    // bucket is full again 0.5 ms after its call, so sweeps keep each shard small: at most
    // twice the 64-bucket sweep threshold.
    let (clock, q) = setup(&QuotaConfig::default());
    let mut peak = 0;
    for n in 0..200_000u64 {
        assert!(q.check(&acct(n), QuotaClass::DescribeKey).is_ok());
        clock.advance(Duration::from_millis(1));
        if n % 1000 == 0 {
            peak = peak.max(q.bucket_count());
        }
    }
    peak = peak.max(q.bucket_count());
    assert!(peak <= SHARDS * 2 * 64, "peak {peak}");
    assert_eq!(q.reclaim_idle(), 0);
}

#[test]
fn capacity_is_a_hard_bound_and_fails_closed() {
    // 640 buckets; GetParametersForImport keeps a bucket non-full for 4 s after a call.
    let config = QuotaConfig {
        max_buckets: 640,
        ..QuotaConfig::default()
    };
    let (clock, q) = setup(&config);
    let class = QuotaClass::GetParametersForImport;
    let mut refused = Vec::new();
    for n in 0..20_000u64 {
        match q.check(&acct(n), class) {
            Ok(()) => {}
            Err(t) => {
                assert_eq!(t.class(), class);
                refused.push(n);
            }
        }
        assert!(q.bucket_count() <= q.capacity());
    }
    assert_eq!(q.capacity(), 640);
    assert_eq!(q.bucket_count(), 640);
    assert_eq!(refused.len(), 20_000 - 640);
    // Once the buckets refill, the first sweep frees them all and refused accounts get in,
    // as many as fit: each shard takes 10 again (19,360 refused keys cover every shard).
    clock.advance(Duration::from_secs(4));
    let admitted = refused
        .iter()
        .filter(|n| q.check(&acct(**n), class).is_ok())
        .count();
    assert_eq!(admitted, 640);
    assert_eq!(q.bucket_count(), 640);
}

#[test]
fn concurrent_phases_grant_exactly_rate_times_time_plus_burst() {
    // Rate 1000/s, burst 50. Four threads call in lock-step phases; between phases the test
    // moves the clock by 7 ms. Within a phase the clock is still, so the total granted is
    // exact whatever the interleaving.
    let config = config_with(QuotaClass::SymmetricCryptographic, Some(1000.0), Some(50));
    let (clock, q) = setup(&config);
    let a = acct(42);
    let threads = 4;
    let phases = 40;
    let per_phase = 100; // calls per thread per phase, more than the tokens available
    let barrier = Barrier::new(threads + 1);
    let granted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..phases {
                    barrier.wait();
                    let g = grants(&q, &a, QuotaClass::SymmetricCryptographic, per_phase);
                    granted.fetch_add(g, Ordering::Relaxed);
                    barrier.wait();
                }
            });
        }
        for _ in 0..phases {
            barrier.wait();
            barrier.wait();
            clock.advance(Duration::from_millis(7));
        }
    });
    // Burst 50 at the start, then 7 tokens for each of the 39 moves seen by a later phase.
    assert_eq!(granted.into_inner(), 50 + 7 * (phases as u64 - 1));
}

#[test]
fn sweeps_racing_the_threads_never_change_what_is_granted() {
    // Rate 1000/s, burst 50. Each phase starts with a full bucket (the clock moved 100 ms),
    // which a sweep may drop at any moment while two threads that live through every phase
    // and two fresh ones take from it; or a sweep dropped it after the phase before. Every
    // interleaving grants exactly the burst per phase.
    let config = config_with(QuotaClass::SymmetricCryptographic, Some(1000.0), Some(50));
    let (clock, q) = setup(&config);
    let a = acct(43);
    let phases = 40;
    let barrier = Barrier::new(3);
    let granted = AtomicU64::new(0);
    let mut per_phase = Vec::new();
    let take = || {
        let g = grants(&q, &a, QuotaClass::SymmetricCryptographic, 30);
        granted.fetch_add(g, Ordering::Relaxed);
    };
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..phases {
                    barrier.wait();
                    take();
                    barrier.wait();
                }
            });
        }
        for phase in 0..phases {
            barrier.wait();
            std::thread::scope(|fresh| {
                fresh.spawn(take);
                fresh.spawn(take);
                // Sweep while the threads take: before, between or after their first calls.
                for _ in 0..phase % 4 {
                    q.reclaim_idle();
                }
            });
            barrier.wait();
            per_phase.push(granted.swap(0, Ordering::Relaxed));
            clock.advance(Duration::from_millis(100));
            if phase % 2 == 0 {
                q.reclaim_idle();
            }
        }
    });
    // Asserted after the threads are joined (a failure inside would leave them waiting).
    assert_eq!(per_phase, vec![50; phases]);
    // The last phase's bucket is full again but was not swept after it: still in the map.
    assert_eq!(q.bucket_count(), 1);
}

#[test]
fn concurrent_free_running_never_exceeds_the_bound() {
    // Threads hammer one bucket while the test moves the clock in 1 ms steps concurrently.
    let rate = 2000.0;
    let burst = 100;
    let config = config_with(QuotaClass::EccCryptographic, Some(rate), Some(burst));
    let (clock, q) = setup(&config);
    let a = acct(9);
    let steps = 200u64;
    let done = std::sync::atomic::AtomicBool::new(false);
    let granted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let mut mine = 0;
                while !done.load(Ordering::Acquire) {
                    if q.check(&a, QuotaClass::EccCryptographic).is_ok() {
                        mine += 1;
                    }
                }
                granted.fetch_add(mine, Ordering::Relaxed);
            });
        }
        for _ in 0..steps {
            clock.advance(Duration::from_millis(1));
            std::thread::yield_now();
        }
        done.store(true, Ordering::Release);
    });
    let elapsed_s = steps as f64 / 1000.0;
    let bound = burst as f64 + rate * elapsed_s;
    let g = granted.into_inner();
    assert!(g as f64 <= bound, "granted {g} > {bound}");
}

/// A reference token bucket in nanosecond credit: `credit` is the time-value of the tokens
/// in the bucket (`burst * interval` when full).
struct Model {
    credit: u64,
    cap: u64,
    interval: u64,
}

impl Model {
    fn advance(&mut self, ns: u64) {
        self.credit = (self.credit + ns).min(self.cap);
    }
    fn take(&mut self) -> Result<(), u64> {
        if self.credit >= self.interval {
            self.credit -= self.interval;
            Ok(())
        } else {
            Err(self.interval - self.credit)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Against any sequence of clock moves and calls, the quota agrees call by call with a
    /// reference token bucket, and never grants more than burst + rate × elapsed, whether or
    /// not sweeps drop its full bucket in between.
    #[test]
    fn matches_reference_bucket_and_bound(
        rate_milli in 1u64..5_000_000,
        burst in 1u64..50,
        steps in prop::collection::vec((0u64..3_000_000_000, 0u32..20, any::<bool>()), 1..40),
    ) {
        let rate = rate_milli as f64 / 1000.0;
        let (clock, q) = setup(&config_with(QuotaClass::CreateKey, Some(rate), Some(burst)));
        let a = acct(5);
        let limit = q.limit(&a, QuotaClass::CreateKey);
        let interval = u64::try_from(limit.interval().as_nanos()).unwrap();
        prop_assert!(interval as f64 >= 1e9 / rate);
        let mut model = Model { credit: burst * interval, cap: burst * interval, interval };
        let mut granted = 0u64;
        let mut elapsed = 0u64;
        for (advance, calls, sweep) in steps {
            clock.advance(Duration::from_nanos(advance));
            model.advance(advance);
            elapsed += advance;
            // A sweep drops the bucket if it is full, which changes no decision.
            if sweep {
                q.reclaim_idle();
            }
            for _ in 0..calls {
                let got = q.check(&a, QuotaClass::CreateKey)
                    .map_err(|t| u64::try_from(t.retry_after().as_nanos()).unwrap());
                prop_assert_eq!(got, model.take());
                if got.is_ok() {
                    granted += 1;
                }
            }
            // granted <= burst + elapsed / interval <= burst + rate * elapsed
            prop_assert!(u128::from(granted) * u128::from(interval)
                <= u128::from(burst) * u128::from(interval) + u128::from(elapsed));
            prop_assert!(granted as f64 <= burst as f64 + rate * elapsed as f64 / 1e9 + 1e-9);
        }
    }
}

#[test]
fn check_at_uses_the_given_time() {
    let (clock, q) = setup(&QuotaConfig::default());
    let a = acct(3);
    let t0 = coffer_core::Clock::now(&*clock);
    assert_eq!(
        (0..10)
            .filter(|_| q.check_at(&a, QuotaClass::CreateKey, t0).is_ok())
            .count(),
        5
    );
    // The injected clock has not moved, but the given time has.
    let later = t0 + Duration::from_millis(200); // one token at 5 per second
    assert!(q.check_at(&a, QuotaClass::CreateKey, later).is_ok());
    assert!(q.check_at(&a, QuotaClass::CreateKey, later).is_err());
    assert!(q.check(&a, QuotaClass::CreateKey).is_err());
}

#[test]
fn check_since_epoch_is_check_at_counted_from_the_epoch() {
    let (clock, q) = setup(&QuotaConfig::default());
    let a = acct(4);
    let t0 = coffer_core::Clock::now(&*clock);
    let d0 = t0.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(
        (0..10)
            .filter(|_| q.check_since_epoch(&a, QuotaClass::CreateKey, d0).is_ok())
            .count(),
        5
    );
    // The same bucket, whichever form of the time charges it.
    assert!(q.check_at(&a, QuotaClass::CreateKey, t0).is_err());
    let later = d0 + Duration::from_millis(200);
    assert!(q
        .check_since_epoch(&a, QuotaClass::CreateKey, later)
        .is_ok());
    assert!(q
        .check_at(&a, QuotaClass::CreateKey, std::time::UNIX_EPOCH + later)
        .is_err());
}

/// Several nodes, each enforcing its share (`nodes`): what the cluster admits against one
/// node holding the whole quota, measured by simulation on one manual clock over 10 s of
/// traffic at four times the rate.
#[test]
fn a_per_node_share_admits_the_account_rate_when_spread_and_its_share_when_not() {
    let sym = QuotaClass::SymmetricCryptographic;
    let account = acct(111_122_223_333);
    let mut whole = config_with(sym, Some(1000.0), Some(1000));
    let mut share = whole.clone();
    share.nodes = 2;
    whole.nodes = 1;
    // Offered: 4 requests per millisecond for 10 s; `route(i)` says which node the i-th of a
    // millisecond goes to (Some(0) or Some(1)), or None for the single node.
    let run = |config: &QuotaConfig, nodes: usize, route: &dyn Fn(usize) -> usize| -> u64 {
        let clock = Arc::new(ManualClock::at_epoch_seconds(START));
        let quotas: Vec<Quotas> = (0..nodes)
            .map(|_| Quotas::new(config, clock.clone()).unwrap())
            .collect();
        let mut admitted = 0;
        for _ in 0..10_000 {
            for i in 0..4 {
                if quotas[route(i)].check(&account, sym).is_ok() {
                    admitted += 1;
                }
            }
            clock.advance(Duration::from_millis(1));
        }
        admitted
    };
    let single = run(&whole, 1, &|_| 0);
    let spread = run(&share, 2, &|i| i % 2);
    let skewed = run(&share, 2, &|_| 0);
    let error = |n: u64| (n as f64 - single as f64) / single as f64;
    eprintln!(
        "one node: {single}; two nodes, half the quota each: spread {spread} ({:+.2}%), all on one node {skewed} ({:+.2}%)",
        100.0 * error(spread),
        100.0 * error(skewed)
    );
    // The whole quota: the burst, then 1,000 per second for 10 s (within a token of rounding).
    assert!((10_999..=11_001).contains(&single), "{single}");
    // Spread evenly, the cluster admits what one node would: no error beyond rounding.
    assert!(error(spread).abs() < 0.001, "{spread} vs {single}");
    // All on one node: that node's share, half of it.
    assert!((error(skewed) + 0.5).abs() < 0.001, "{skewed} vs {single}");
    // A share's burst is rounded up, never zero; zero nodes is refused.
    let mut odd = config_with(sym, Some(3.0), Some(1));
    odd.nodes = 4;
    Quotas::new(&odd, Arc::new(ManualClock::at_epoch_seconds(START))).unwrap();
    odd.nodes = 0;
    assert!(matches!(odd.validate(), Err(QuotaError::InvalidNodes(0))));
}
