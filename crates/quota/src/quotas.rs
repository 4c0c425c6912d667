//! The bucket store: sharded maps keyed by (account, class), swept of full buckets.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_core::{AccountId, Clock};
use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::config::LimitTable;
use crate::limit::{Bucket, Limit};
use crate::{QuotaClass, QuotaConfig, QuotaError, Throttled};

/// Number of shards (a power of two).
pub const SHARDS: usize = 64;
/// A shard sweeps after at least this many new buckets, and otherwise after as many new
/// buckets as it kept at its last sweep (so a sweep's cost is paid by the insertions before it).
const MIN_SWEEP: usize = 64;
/// A shard at capacity may sweep once per this many nanoseconds even if too few buckets were
/// created since its last sweep; it is also the retry-after hint when it stays full.
const FULL_SHARD_RETRY_NS: u64 = 100_000_000;

/// Request quotas: token buckets per (account, quota class) with an injected clock.
///
/// `Quotas` is `Send + Sync`; share it with `Arc`. Each [`check`](Quotas::check) reads the
/// clock once and locks one of [`SHARDS`] shards for a hash-map look-up and a few integer
/// operations.
///
/// Memory is bounded: a bucket that is full again carries no information and is dropped by
/// the next sweep of its shard. A shard sweeps when a call needs a new bucket and as many
/// calls needed one since its last sweep as it kept then (at least 64), so sweeping costs
/// amortized O(1) per such call and never runs on calls that find their bucket. At
/// most [`capacity`](Quotas::capacity) buckets exist at any time; a new (account, class) that
/// finds its shard at capacity, even after a sweep, is throttled (fail closed) until buckets
/// there refill.
pub struct Quotas {
    enabled: bool,
    clock: Arc<dyn Clock>,
    limits: LimitTable,
    shard_capacity: usize,
    shards: Box<[Shard; SHARDS]>,
}

/// One shard on its own cache lines, so that two cores working on two shards do not contend.
#[repr(align(128))]
struct Shard(Mutex<ShardMap>);

struct ShardMap {
    /// Entries keyed by [`bucket_key`], hashed by [`mix`].
    buckets: HashTable<(u64, Bucket)>,
    /// Calls that needed a new bucket since the last sweep.
    created: usize,
    /// Sweep once `created` reaches this.
    sweep_after: usize,
    /// Clock reading at the last sweep, ns since the epoch.
    last_sweep: u64,
}

impl Quotas {
    /// Quotas from a configuration, reading time from `clock`.
    pub fn new(config: &QuotaConfig, clock: Arc<dyn Clock>) -> Result<Self, QuotaError> {
        let limits = LimitTable::resolve(config)?;
        let shard_capacity = config.max_buckets.div_ceil(SHARDS).max(1);
        let shards = Box::new(std::array::from_fn(|_| {
            Shard(Mutex::new(ShardMap {
                buckets: HashTable::new(),
                created: 0,
                sweep_after: MIN_SWEEP,
                last_sweep: 0,
            }))
        }));
        Ok(Self {
            enabled: config.enabled,
            clock,
            limits,
            shard_capacity,
            shards,
        })
    }

    /// Takes one token from `account`'s bucket for `class`, or says why not. Reads the clock
    /// once.
    ///
    /// Charge the caller's account (for cross-account calls too, as AWS does), before
    /// authorization.
    #[inline]
    pub fn check(&self, account: &AccountId, class: QuotaClass) -> Result<(), Throttled> {
        if !self.enabled {
            return Ok(());
        }
        self.take(account, class, epoch_nanos(self.clock.now()))
    }

    /// As [`check`](Quotas::check), at a time the caller read from the same clock: a
    /// request pipeline that reads the clock once per request (for its audit record, say)
    /// saves the second read, about half the cost of a check.
    #[inline]
    pub fn check_at(
        &self,
        account: &AccountId,
        class: QuotaClass,
        now: SystemTime,
    ) -> Result<(), Throttled> {
        self.check_since_epoch(
            account,
            class,
            now.duration_since(UNIX_EPOCH).unwrap_or_default(),
        )
    }

    /// As [`check_at`](Quotas::check_at), with the time given as the time since the Unix
    /// epoch (zero before it; a pipeline that keeps its reading so saves converting it back).
    #[inline]
    pub fn check_since_epoch(
        &self,
        account: &AccountId,
        class: QuotaClass,
        since_epoch: Duration,
    ) -> Result<(), Throttled> {
        if !self.enabled {
            return Ok(());
        }
        let now = u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX);
        self.take(account, class, now)
    }

    /// Takes one token from the bucket of `scope` (not an account: a custom key store's id)
    /// for `class`, at `now`. Scoped buckets are kept apart from every account's; their limit
    /// is the class's configured default (per-account overrides do not apply to them).
    pub fn check_scoped_at(
        &self,
        scope: &str,
        class: QuotaClass,
        now: SystemTime,
    ) -> Result<(), Throttled> {
        if !self.enabled {
            return Ok(());
        }
        self.take_bits(scope_bits(scope), class, epoch_nanos(now))
    }

    #[inline]
    fn take(&self, account: &AccountId, class: QuotaClass, now: u64) -> Result<(), Throttled> {
        self.take_bits(account_bits(account), class, now)
    }

    #[inline]
    fn take_bits(&self, account: u64, class: QuotaClass, now: u64) -> Result<(), Throttled> {
        let key = bucket_key(account, class);
        let hash = mix(key);
        let mut map = self.shard(hash).0.lock();
        match map.buckets.find_mut(hash, |e| e.0 == key) {
            Some((_, bucket)) => bucket
                .take(now)
                .map_err(|ns| Throttled::new(class, Duration::from_nanos(ns))),
            None => self.admit_new(&mut map, key, hash, account, class, now),
        }
    }

    /// The first call of an (account, class) since its bucket was last dropped.
    #[cold]
    fn admit_new(
        &self,
        map: &mut ShardMap,
        key: u64,
        hash: u64,
        account: u64,
        class: QuotaClass,
        now: u64,
    ) -> Result<(), Throttled> {
        map.created = map.created.saturating_add(1);
        let at_capacity = map.buckets.len() >= self.shard_capacity;
        if map.created >= map.sweep_after
            || (at_capacity && now.saturating_sub(map.last_sweep) >= FULL_SHARD_RETRY_NS)
        {
            map.sweep(now);
        }
        if map.buckets.len() >= self.shard_capacity {
            return Err(Throttled::new(
                class,
                Duration::from_nanos(FULL_SHARD_RETRY_NS),
            ));
        }
        let mut bucket = Bucket::full(&self.limits.limit(account, class), now);
        let taken = bucket.take(now);
        if !bucket.is_full(now) {
            map.buckets.insert_unique(hash, (key, bucket), |e| mix(e.0));
        }
        taken.map_err(|ns| Throttled::new(class, Duration::from_nanos(ns)))
    }

    /// The effective limit for an account and class, after configuration.
    pub fn limit(&self, account: &AccountId, class: QuotaClass) -> Limit {
        self.limits.limit(account_bits(account), class)
    }

    /// The most buckets that can exist at once: `max_buckets` rounded up to a multiple of
    /// [`SHARDS`] (each shard holds at most `capacity / SHARDS`).
    pub fn capacity(&self) -> usize {
        self.shard_capacity.saturating_mul(SHARDS)
    }

    /// The number of buckets held now (full ones not yet swept included). Locks every shard
    /// in turn: for metrics and tests, not for the request path.
    pub fn bucket_count(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().buckets.len()).sum()
    }

    /// Drops every full bucket now, in every shard, and returns how many buckets remain.
    /// O(buckets): for a maintenance timer, not for the request path. Not needed for the
    /// memory bound, which holds without it.
    pub fn reclaim_idle(&self) -> usize {
        let now = epoch_nanos(self.clock.now());
        self.shards
            .iter()
            .map(|s| {
                let mut map = s.0.lock();
                map.sweep(now);
                map.buckets.len()
            })
            .sum()
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard {
        // Bits independent of those the hash table uses (low bits and top 7). The mask keeps
        // the index below SHARDS, the array's fixed length: this cannot panic.
        &self.shards[(hash >> 40) as usize & (SHARDS - 1)]
    }
}

impl ShardMap {
    fn sweep(&mut self, now: u64) {
        self.buckets.retain(|e| !e.1.is_full(now));
        let kept = self.buckets.len().max(MIN_SWEEP);
        if self.buckets.capacity() > kept.saturating_mul(4) {
            self.buckets.shrink_to(kept.saturating_mul(2), |e| mix(e.0));
        }
        self.created = 0;
        self.sweep_after = kept;
        self.last_sweep = now;
    }
}

impl fmt::Debug for Quotas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quotas")
            .field("enabled", &self.enabled)
            .field("capacity", &self.capacity())
            .field("accounts_configured", &self.limits.accounts.len())
            .finish_non_exhaustive()
    }
}

/// Nanoseconds since the Unix epoch; 0 before it, saturating after 2554.
fn epoch_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The account id packed into a `u64`, injectively: the low nibble of each of its 12 ASCII
/// digits. Bytes 0..8 give the low nibbles of the eight bytes of the result, bytes 8..12 the
/// high nibbles of its bytes 0..4; the high nibbles of bytes 4..8 stay zero for the class.
#[inline]
pub(crate) fn account_bits(account: &AccountId) -> u64 {
    const LOW_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    let [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11] = *account.as_bytes();
    let lo = u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]);
    let hi = u32::from_le_bytes([b8, b9, b10, b11]);
    (lo & LOW_NIBBLES) | ((u64::from(hi) & 0x0f0f_0f0f) << 4)
}

/// (account, class) as one integer: the class index in the nibbles [`account_bits`] leaves
/// free (bits 36..40 and 44..48).
#[inline]
fn bucket_key(account: u64, class: QuotaClass) -> u64 {
    let c = class.index() as u64;
    account | ((c & 0xf) << 36) | (((c >> 4) & 0xf) << 44)
}

/// The bits of a scope (a custom key store id) in the positions [`account_bits`] uses, with
/// bit 63 set, which no account's bits have: a scope never shares an account's bucket. Two
/// scopes whose hashes agree share a bucket (harmless: the same limit, drawn twice as fast).
fn scope_bits(scope: &str) -> u64 {
    const ACCOUNT_POSITIONS: u64 = 0x0f0f_0f0f_ffff_ffff;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scope.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (mix(h) & ACCOUNT_POSITIONS) | (1 << 63)
}

/// Every input bit into every output bit ([`coffer_core::avalanche`]). Keys come from
/// authenticated account ids; the bound on buckets, not the hash, protects memory.
#[inline]
fn mix(x: u64) -> u64 {
    coffer_core::avalanche(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_core::testing::ManualClock;

    const SECOND: u64 = 1_000_000_000;

    fn acct(n: u64) -> AccountId {
        AccountId::parse(&format!("{n:012}")).unwrap()
    }

    fn setup(config: &QuotaConfig) -> (Arc<ManualClock>, Quotas) {
        let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
        let quotas = Quotas::new(config, clock.clone()).unwrap();
        (clock, quotas)
    }

    #[test]
    fn account_bits_and_keys_are_injective() {
        assert_eq!(account_bits(&acct(0)), 0);
        assert_eq!(account_bits(&acct(1)), 1 << 28);
        assert_eq!(
            account_bits(&acct(1_000_000_000_000 - 1)),
            0x0909_0909_9999_9999
        );
        let mut seen = std::collections::HashSet::new();
        let accounts = [
            0,
            1,
            9,
            10,
            123_456_789_012,
            999_999_999_999,
            100_000_000_000,
        ];
        let accounts: std::collections::BTreeSet<u64> = accounts
            .into_iter()
            .chain((0..2000).map(|i| i * 7_919_999))
            .collect();
        for n in accounts {
            let a = account_bits(&acct(n));
            for c in QuotaClass::ALL {
                assert!(seen.insert(bucket_key(a, *c)), "{n} {c}");
            }
        }
        // The class bits never touch the account's.
        let class_bits = (0xf << 36) | (0xf << 44);
        assert_eq!(account_bits(&acct(999_999_999_999)) & class_bits, 0);
    }

    #[test]
    fn epoch_nanos_saturates() {
        assert_eq!(epoch_nanos(UNIX_EPOCH), 0);
        assert_eq!(epoch_nanos(UNIX_EPOCH - Duration::from_secs(5)), 0);
        assert_eq!(epoch_nanos(UNIX_EPOCH + Duration::from_secs(3)), 3 * SECOND);
    }

    #[test]
    fn sweeps_drop_only_full_buckets() {
        let (clock, q) = setup(&QuotaConfig::default());
        // GetParametersForImport: one in 4 s, so the bucket stays non-full for 4 s.
        q.check(&acct(1), QuotaClass::GetParametersForImport)
            .unwrap();
        // 1000 other accounts call DescribeKey (full again after 0.5 ms).
        for n in 2..1002 {
            q.check(&acct(n), QuotaClass::DescribeKey).unwrap();
        }
        clock.advance(Duration::from_millis(1));
        assert_eq!(q.reclaim_idle(), 1);
        // The kept bucket still remembers its debt.
        let t = q
            .check(&acct(1), QuotaClass::GetParametersForImport)
            .unwrap_err();
        assert_eq!(t.retry_after(), Duration::from_millis(3999));
        clock.advance(Duration::from_secs(4));
        assert_eq!(q.reclaim_idle(), 0);
        q.check(&acct(1), QuotaClass::GetParametersForImport)
            .unwrap();
    }

    #[test]
    fn shard_capacity_rounds_up() {
        let config = QuotaConfig {
            max_buckets: 100,
            ..QuotaConfig::default()
        };
        let (_, q) = setup(&config);
        assert_eq!(q.capacity(), 128);
        assert!(Quotas::new(
            &QuotaConfig {
                max_buckets: 0,
                ..QuotaConfig::default()
            },
            Arc::new(ManualClock::at_epoch_seconds(0))
        )
        .is_err());
    }

    #[test]
    fn a_scope_has_its_own_bucket_apart_from_every_account() {
        let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
        let mut config = QuotaConfig::default();
        config.defaults.insert(
            QuotaClass::CloudHsmKeyStore,
            crate::LimitOverride {
                rate: Some(1.0),
                burst: Some(2),
            },
        );
        let q = Quotas::new(&config, clock.clone()).unwrap();
        let now = clock.now();
        q.check_scoped_at("cks-aaaaaaaaaaaaaaaaa", QuotaClass::CloudHsmKeyStore, now)
            .unwrap();
        q.check_scoped_at("cks-aaaaaaaaaaaaaaaaa", QuotaClass::CloudHsmKeyStore, now)
            .unwrap();
        assert!(q
            .check_scoped_at("cks-aaaaaaaaaaaaaaaaa", QuotaClass::CloudHsmKeyStore, now)
            .is_err());
        // Another store, and every account, are untouched.
        q.check_scoped_at("cks-bbbbbbbbbbbbbbbbb", QuotaClass::CloudHsmKeyStore, now)
            .unwrap();
        q.check_at(&acct(0), QuotaClass::CloudHsmKeyStore, now)
            .unwrap();
        assert_ne!(scope_bits("cks-a") & (1 << 63), 0);
        assert_eq!(account_bits(&acct(999_999_999_999)) & (1 << 63), 0);
        clock.advance(Duration::from_secs(1));
        q.check_scoped_at(
            "cks-aaaaaaaaaaaaaaaaa",
            QuotaClass::CloudHsmKeyStore,
            clock.now(),
        )
        .unwrap();
    }
}
