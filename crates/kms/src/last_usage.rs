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

/// A key's last use, as kept (the operation by its table entry, not its name).
#[derive(Clone)]
pub(crate) struct LastUse {
    pub(crate) operation: Operation,
    pub(crate) at: SystemTime,
    pub(crate) event_id: Option<String>,
    pub(crate) request_id: Option<String>,
}

/// Per-key last use, and when tracking began.
pub(crate) struct LastUsage {
    since: SystemTime,
    uses: Mutex<HashMap<KeyId, LastUse, coffer_core::KeyIdHash>>,
}

impl LastUsage {
    pub(crate) fn new(since: SystemTime) -> Self {
        Self {
            since,
            uses: Mutex::new(HashMap::default()),
        }
    }

    /// When tracking began.
    pub(crate) fn since(&self) -> SystemTime {
        self.since
    }

    /// Records a successful call's use of its one key (by an operation AWS tracks): one lookup,
    /// the previous use overwritten in place.
    pub(crate) fn record_one(&self, key: KeyId, last: LastUse) {
        let mut map = self.uses.lock();
        match map.get_mut(&key) {
            Some(slot) => *slot = last,
            None => {
                map.insert(key, last);
            }
        }
    }

    /// Records a successful call's use of several keys (ReEncrypt's source and destination).
    pub(crate) fn record_all(&self, keys: impl Iterator<Item = KeyId>, last: LastUse) {
        let mut map = self.uses.lock();
        for key in keys {
            map.insert(key, last.clone());
        }
    }

    /// The last tracked use of `key`.
    pub(crate) fn get(&self, key: &KeyId) -> Option<KeyLastUsage> {
        self.uses.lock().get(key).map(|u| KeyLastUsage {
            operation: u.operation.as_str().to_owned(),
            timestamp: u.at,
            cloud_trail_event_id: u.event_id.clone(),
            kms_request_id: u.request_id.clone(),
        })
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
