use std::time::SystemTime;

use coffer_core::{AccountId, KeyId, Region};
use serde::{Deserialize, Serialize};

use crate::{ExpirationModel, KeyManager, KeySpec, KeyState, KeyUsage, Origin, VersionId};

/// A resource tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Tag key, 1–128 characters.
    #[serde(rename = "TagKey")]
    pub tag_key: String,
    /// Tag value, 0–256 characters.
    #[serde(rename = "TagValue")]
    pub tag_value: String,
}

/// Automatic rotation settings of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationSchedule {
    /// Days between automatic rotations (90–2560).
    pub period_days: u32,
    /// When the next automatic rotation is due.
    pub next_rotation: SystemTime,
}

/// A multi-Region key's configuration as its record in one region keeps it: which region holds
/// the primary key and which hold its replicas (all of them sharing the key id and material).
/// The key in this record's region is the primary when `primary_region` is its region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegion {
    /// The region of the primary key.
    pub primary_region: Region,
    /// The regions holding replicas, in the order they were made.
    #[serde(default)]
    pub replica_regions: Vec<Region>,
    /// On the primary: replica regions that have yet to learn of a change (a rotation,
    /// another replica). Maintenance retries them until they answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_sync: Vec<Region>,
}

/// Everything the store keeps about a key except its wrapped material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyRecord {
    /// The key id.
    pub key_id: KeyId,
    /// The owning account.
    pub account: AccountId,
    /// The region the key lives in.
    pub region: Region,
    /// When it was created.
    pub creation_date: SystemTime,
    /// The description, at most 8192 characters.
    pub description: String,
    /// What kind of key material it has.
    pub key_spec: KeySpec,
    /// What it may be used for.
    pub key_usage: KeyUsage,
    /// Where its material came from.
    pub origin: Origin,
    /// Its lifecycle state.
    pub state: KeyState,
    /// When it will be deleted, while pending deletion.
    pub deletion_date: Option<SystemTime>,
    /// The waiting period chosen at ScheduleKeyDeletion.
    pub pending_deletion_window_days: Option<u32>,
    /// Its tags, in the order they were first added.
    pub tags: Vec<Tag>,
    /// Automatic rotation, when enabled.
    pub rotation: Option<RotationSchedule>,
    /// The backing-key version new ciphertext uses.
    pub current_version: VersionId,
    /// How many on-demand rotations it has had.
    pub on_demand_rotations: u32,
    /// The key policy document, when one is set.
    pub policy: Option<String>,
    /// Incremented by every change; caches compare it.
    pub revision: u64,
    /// Whether imported key material expires (keys of origin EXTERNAL that have had material).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModel>,
    /// When imported key material expires (with `KEY_MATERIAL_EXPIRES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<SystemTime>,
    /// The version id of the material first imported into an EXTERNAL key: only the same
    /// material may be imported again (IncorrectKeyMaterialException otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_material: Option<VersionId>,
    /// Who manages the key (customer unless coffer made it for an integrated service).
    #[serde(
        default = "customer_managed",
        skip_serializing_if = "KeyManager::is_customer"
    )]
    pub manager: KeyManager,
    /// A multi-Region key's configuration (absent for single-Region keys, and in records
    /// written before multi-Region keys existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region: Option<MultiRegion>,
    /// The custom key store holding the key (origin `AWS_CLOUDHSM`): its versions hold the ids
    /// of key objects in that store's token instead of wrapped material. Absent otherwise (and
    /// in records written before custom key stores existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
}

/// Records written before AWS managed keys existed are customer managed.
fn customer_managed() -> KeyManager {
    KeyManager::Customer
}

impl KeyRecord {
    /// A new enabled key record.
    #[allow(clippy::too_many_arguments)] // one constructor for the one place keys are made
    pub fn new(
        key_id: KeyId,
        account: AccountId,
        region: Region,
        creation_date: SystemTime,
        description: String,
        key_spec: KeySpec,
        key_usage: KeyUsage,
        origin: Origin,
        current_version: VersionId,
    ) -> Self {
        Self {
            key_id,
            account,
            region,
            creation_date,
            description,
            key_spec,
            key_usage,
            origin,
            state: KeyState::Enabled,
            deletion_date: None,
            pending_deletion_window_days: None,
            tags: Vec::new(),
            rotation: None,
            current_version,
            on_demand_rotations: 0,
            policy: None,
            revision: 0,
            expiration_model: None,
            valid_to: None,
            imported_material: None,
            manager: KeyManager::Customer,
            multi_region: None,
            custom_key_store_id: None,
        }
    }

    /// The key's ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{}",
            self.region, self.account, self.key_id
        )
    }

    /// Whether this is the primary key of a multi-Region key.
    pub fn is_primary(&self) -> bool {
        self.multi_region
            .as_ref()
            .is_some_and(|m| m.primary_region == self.region)
    }

    /// Whether this is a replica of a multi-Region key.
    pub fn is_replica(&self) -> bool {
        self.multi_region
            .as_ref()
            .is_some_and(|m| m.primary_region != self.region)
    }

    /// The earliest time at which maintenance has something to do for this key: its deletion
    /// date while pending deletion, or its next automatic rotation while enabled (a disabled
    /// key's rotation waits, and happens at the first sweep after it is enabled again).
    pub fn due_at(&self) -> Option<SystemTime> {
        let lifecycle = match self.state {
            KeyState::PendingDeletion => self.deletion_date,
            // A replica shows its primary's rotation schedule; the primary rotates for it.
            KeyState::Enabled if !self.is_replica() => {
                self.rotation.as_ref().map(|r| r.next_rotation)
            }
            _ => None,
        };
        // Imported material that expires is deleted at its ValidTo, whatever the state (a
        // key pending import has none).
        let expiry = match self.state {
            KeyState::PendingImport => None,
            _ => self.valid_to,
        };
        // A primary whose replicas have yet to learn of a change is due at once.
        let sync = self
            .multi_region
            .as_ref()
            .filter(|m| !m.pending_sync.is_empty())
            .map(|_| self.creation_date);
        [lifecycle, expiry, sync].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_manager_is_stored_only_for_aws_managed_keys() {
        let mut r = KeyRecord::new(
            KeyId::from_bytes([7; 16]),
            AccountId::parse("111122223333").expect("account"),
            Region::parse("us-east-1").expect("region"),
            SystemTime::UNIX_EPOCH,
            String::new(),
            KeySpec::SymmetricDefault,
            KeyUsage::EncryptDecrypt,
            Origin::AwsKms,
            VersionId([1; 16]),
        );
        // A customer key's record is what it was before the field existed, and reads back.
        let customer = serde_json::to_string(&r).expect("json");
        assert!(!customer.contains("manager"), "{customer}");
        assert!(!customer.contains("multi_region"), "{customer}");
        assert!(!customer.contains("custom_key_store"), "{customer}");
        let back: KeyRecord = serde_json::from_str(&customer).expect("parse");
        assert_eq!(back.manager, KeyManager::Customer);
        r.manager = KeyManager::Aws;
        let aws = serde_json::to_string(&r).expect("json");
        assert!(aws.contains(r#""manager":"AWS""#), "{aws}");
        let back: KeyRecord = serde_json::from_str(&aws).expect("parse");
        assert_eq!(back, r);
    }
}
