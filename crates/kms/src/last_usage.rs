//! GetKeyLastUsage's memory: the last successful cryptographic use of each key since this
//! process began tracking (its `TrackingStartDate`), with the audit event and request ids.
//!
//! Tracking is in memory: a write per cryptographic call to the store would cost every Encrypt a
//! transaction. After a restart tracking starts again, and `TrackingStartDate` says so, exactly
//! as AWS's response distinguishes "not used since tracking began" from "never used".

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_core::{KeyId, Operation};

use parking_lot::Mutex;

use crate::model::KeyLastUsage;

/// One key's last use, shared by every cache entry of the key (an entry is replaced whenever the
/// key changes; its cell is not). A use is its time and operation packed in one word, written
/// with a plain store: recording a use takes no lock and no atomic read-modify-write, which an
/// Encrypt would otherwise pay twice (a mutex's lock and unlock, ~7 ns each here) on top of a
/// map lookup. A use that carries ids (an audit event id, a request id: every call through
/// cofferd, and a facade with an audit log) also leaves them, stamped with its word, under a
/// lock of this key's alone.
#[derive(Default)]
pub(crate) struct LastUseCell {
    /// The last use: microseconds since the epoch << 8 | the operation's index + 1; 0: none.
    packed: AtomicU64,
    /// The ids of the last use that had any, with that use's word: shown with the last use
    /// when the words are equal (a use without ids since then leaves them unshown; one of the
    /// same operation within the same clock tick cannot be told from it).
    ids: Mutex<Option<UseIds>>,
}

struct UseIds {
    packed: u64,
    event_id: Option<String>,
    request_id: Option<String>,
}

impl LastUseCell {
    /// Records a successful use of the key (its [`word`]), with the call's ids if it has any.
    /// The last call to record wins, as under a lock (of two uses racing, either may stay).
    #[inline]
    pub(crate) fn record(&self, packed: u64, event_id: Option<String>, request_id: Option<String>) {
        if event_id.is_none() && request_id.is_none() {
            // Read first: a key used again within the clock's tick by the same operation
            // leaves its cache line unwritten (no cross-core traffic for a hot key).
            if self.packed.load(Ordering::Relaxed) != packed {
                self.packed.store(packed, Ordering::Relaxed);
            }
            return;
        }
        self.record_ids(packed, event_id, request_id);
    }

    /// A use with ids (every call through cofferd; a facade call with an audit log).
    fn record_ids(&self, packed: u64, event_id: Option<String>, request_id: Option<String>) {
        // The word is written under the ids' lock, so that of two uses with ids the word and
        // the ids left are one use's.
        let mut ids = self.ids.lock();
        *ids = Some(UseIds {
            packed,
            event_id,
            request_id,
        });
        self.packed.store(packed, Ordering::Relaxed);
    }

    /// The last use, if any: its ids when the last use carried them.
    fn get(&self) -> Option<KeyLastUsage> {
        // The word is read under the ids' lock: a use with ids writes both under it, so the
        // word read and the ids seen are one use's (read before the lock, a use with ids
        // landing in between would leave the previous word and the new ids, shown apart).
        let ids = self.ids.lock();
        let packed = self.packed.load(Ordering::Relaxed);
        let (op, at) = unpack(packed)?;
        let (event_id, request_id) = match ids.as_ref() {
            Some(i) if i.packed == packed => (i.event_id.clone(), i.request_id.clone()),
            _ => (None, None),
        };
        Some(KeyLastUsage {
            operation: op.as_str().to_owned(),
            timestamp: at,
            cloud_trail_event_id: event_id,
            kms_request_id: request_id,
        })
    }
}

/// A use's word: whole microseconds since the epoch (2^56 µs: 2,283 years), then the
/// operation's index + 1, so that 0 is none.
pub(crate) fn word(op: Operation, since_epoch: Duration) -> u64 {
    let micros = u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX);
    (micros.min((1 << 56) - 1) << 8) | (op.index() as u64 + 1)
}

fn unpack(packed: u64) -> Option<(Operation, SystemTime)> {
    let op = *Operation::ALL.get(usize::try_from(packed & 0xff).ok()?.checked_sub(1)?)?;
    Some((op, UNIX_EPOCH + Duration::from_micros(packed >> 8)))
}

/// Per-key last use, and when tracking began.
pub(crate) struct LastUsage {
    since: SystemTime,
    /// Every key's cell, made when the key is first loaded (a cache entry holds its key's).
    cells: Mutex<HashMap<KeyId, Arc<LastUseCell>, coffer_core::KeyIdHash>>,
}

impl LastUsage {
    pub(crate) fn new(since: SystemTime) -> Self {
        Self {
            since,
            cells: Mutex::new(HashMap::default()),
        }
    }

    /// When tracking began.
    pub(crate) fn since(&self) -> SystemTime {
        self.since
    }

    /// The cell of `key`, made on first asking.
    pub(crate) fn cell(&self, key: &KeyId) -> Arc<LastUseCell> {
        self.cells.lock().entry(*key).or_default().clone()
    }

    /// Forgets a deleted key.
    pub(crate) fn forget(&self, key: &KeyId) {
        self.cells.lock().remove(key);
    }

    /// The last tracked use of `key`.
    pub(crate) fn get(&self, key: &KeyId) -> Option<KeyLastUsage> {
        let cell = self.cells.lock().get(key).cloned()?;
        cell.get()
    }
}

/// The operations AWS's `KeyLastUsageTrackingOperation` lists: the cryptographic operations
/// that use a key's material (not GenerateRandom, GetPublicKey or DescribeKey).
pub(crate) const fn tracked(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        Decapsulate
            | Decrypt
            | DeriveSharedSecret
            | Encapsulate
            | Encrypt
            | GenerateDataKey
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
            | GenerateDataKeyWithoutPlaintext
            | GenerateMac
            | ReEncrypt
            | Sign
            | Verify
            | VerifyMac
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(micros)
    }

    fn word(op: Operation, t: SystemTime) -> u64 {
        super::word(op, t.duration_since(UNIX_EPOCH).unwrap())
    }

    #[test]
    fn a_word_keeps_every_operation_and_the_time_to_the_microsecond() {
        for &op in Operation::ALL {
            let t = at(1_764_900_000_123_456);
            assert_eq!(unpack(word(op, t)), Some((op, t)));
        }
        // Nanoseconds below a microsecond are dropped; 0 is no use.
        let t = at(5) + Duration::from_nanos(999);
        assert_eq!(
            unpack(word(Operation::Encrypt, t)),
            Some((Operation::Encrypt, at(5)))
        );
        assert_eq!(unpack(0), None);
        assert_eq!(unpack(u64::from(u8::MAX)), None);
    }

    #[test]
    fn the_last_use_recorded_wins_and_shows_its_own_ids_only() {
        let cell = LastUseCell::default();
        assert_eq!(cell.get(), None);
        cell.record(
            word(Operation::Encrypt, at(10)),
            Some("event-1".into()),
            Some("request-1".into()),
        );
        let first = cell.get().unwrap();
        assert_eq!(first.operation, "Encrypt");
        assert_eq!(first.timestamp, at(10));
        assert_eq!(first.cloud_trail_event_id.as_deref(), Some("event-1"));
        assert_eq!(first.kms_request_id.as_deref(), Some("request-1"));
        // The same instant, another operation: the later call wins (a coarse clock gives
        // successive calls one time).
        cell.record(word(Operation::Decrypt, at(10)), None, None);
        let second = cell.get().unwrap();
        assert_eq!(second.operation, "Decrypt");
        assert_eq!(second.cloud_trail_event_id, None);
        assert_eq!(second.kms_request_id, None);
        cell.record(word(Operation::Sign, at(20)), Some("event-3".into()), None);
        let third = cell.get().unwrap();
        assert_eq!(
            (third.operation.as_str(), third.timestamp),
            ("Sign", at(20))
        );
        assert_eq!(third.cloud_trail_event_id.as_deref(), Some("event-3"));
        assert_eq!(third.kms_request_id, None);
    }

    #[test]
    fn a_reader_racing_uses_with_ids_always_sees_one_use_with_its_own_ids() {
        // Two threads record uses that all carry ids (the event id names the use's time),
        // while this thread reads: every read shows a use together with that use's ids.
        let cell = LastUseCell::default();
        cell.record(word(Operation::Encrypt, at(1)), Some("1".into()), None);
        let done = std::sync::atomic::AtomicBool::new(false);
        let mut reads = 0u32;
        std::thread::scope(|s| {
            for start in [2u64, 3] {
                let (cell, done) = (&cell, &done);
                s.spawn(move || {
                    for micros in (start..20_000).step_by(2) {
                        cell.record(
                            word(Operation::Decrypt, at(micros)),
                            Some(micros.to_string()),
                            None,
                        );
                    }
                    done.store(true, Ordering::Release);
                });
            }
            let mut bad = Vec::new();
            while !done.load(Ordering::Acquire) || reads == 0 {
                let last = cell.get().unwrap();
                let micros = last
                    .timestamp
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_micros();
                if last.cloud_trail_event_id != Some(micros.to_string()) {
                    bad.push((micros, last.cloud_trail_event_id));
                }
                reads += 1;
            }
            assert_eq!(bad, vec![], "{reads} reads");
        });
    }

    #[test]
    fn cells_outlive_cache_entries_until_the_key_is_forgotten() {
        let usage = LastUsage::new(at(0));
        let key = KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
        usage
            .cell(&key)
            .record(word(Operation::Encrypt, at(7)), None, None);
        // A later cache entry of the key gets the same cell.
        assert_eq!(usage.cell(&key).get().unwrap().timestamp, at(7));
        assert_eq!(usage.get(&key).unwrap().operation, "Encrypt");
        usage.forget(&key);
        assert_eq!(usage.get(&key), None);
    }
}
