//! GetKeyLastUsage's memory: the last successful cryptographic use of each key since this
//! process began tracking (its `TrackingStartDate`), with the audit event and request ids.
//!
//! Tracking is in memory: a write per cryptographic call to the store would cost every Encrypt a
//! transaction. After a restart tracking starts again, and `TrackingStartDate` says so, exactly
//! as AWS's response distinguishes "not used since tracking began" from "never used".

use std::collections::HashMap;
use std::time::SystemTime;

use coffer_core::{KeyId, Operation};

use parking_lot::Mutex;

use crate::model::KeyLastUsage;

/// Per-key last use, and when tracking began.
pub(crate) struct LastUsage {
    since: SystemTime,
    uses: Mutex<HashMap<KeyId, KeyLastUsage>>,
}

impl LastUsage {
    pub(crate) fn new(since: SystemTime) -> Self {
        Self {
            since,
            uses: Mutex::new(HashMap::new()),
        }
    }

    /// When tracking began.
    pub(crate) fn since(&self) -> SystemTime {
        self.since
    }

    /// Records successful uses (of keys by operations AWS tracks).
    pub(crate) fn record_all(&self, uses: Vec<(KeyId, KeyLastUsage)>) {
        if uses.is_empty() {
            return;
        }
        let mut map = self.uses.lock();
        for (key, use_) in uses {
            map.insert(key, use_);
        }
    }

    /// The last tracked use of `key`.
    pub(crate) fn get(&self, key: &KeyId) -> Option<KeyLastUsage> {
        self.uses.lock().get(key).cloned()
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
