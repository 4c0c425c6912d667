//! The row encoding SQL backends share: records as JSON bodies beside SHA-256 digests over
//! length-prefixed parts, so a row is checked before it is decoded and damage is reported
//! (`StoreError::Corrupt`), never misread. SQLite and PostgreSQL store the same bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{AliasRecord, CustomKeyStoreRecord, StoreError};
use coffer_core::KeyId;
use coffer_crypto::{constant_time_eq, Sha256};
use coffer_grants::Grant;
use coffer_keys::{KeyRecord, RotationType, VersionId, WrappedVersion};
use serde::{Deserialize, Serialize};

/// Nanoseconds since the epoch, saturating: the order of times is kept.
pub fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// A row limit as SQL's 64-bit integer (saturating).
pub fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// SHA-256 over length-prefixed parts, so parts cannot slide into each other.
pub fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(&(p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finish()
}

/// A record's JSON body; `what` names it in the error.
pub fn encode<T: Serialize>(v: &T, what: &'static str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Backend {
        context: what,
        source: Box::new(e),
    })
}

/// A key id column (16 bytes).
pub fn key_id_from(col: &[u8]) -> Result<KeyId, StoreError> {
    let b: [u8; 16] = col.try_into().map_err(|_| StoreError::Corrupt {
        what: "key id column",
        source: None,
    })?;
    Ok(KeyId::from_bytes(b))
}

/// A key row, checked and decoded.
pub fn decode_key(key_col: &[u8], body: &[u8], dig: &[u8]) -> Result<KeyRecord, StoreError> {
    let id = key_id_from(key_col)?;
    let damaged = |source| StoreError::DamagedRow {
        what: "key record",
        key_id: id,
        source,
    };
    if !constant_time_eq(&digest(&[body]), dig) {
        return Err(damaged(Some("digest mismatch".into())));
    }
    let rec: KeyRecord = serde_json::from_slice(body).map_err(|e| damaged(Some(Box::new(e))))?;
    if rec.key_id != id {
        return Err(damaged(Some("record names another key".into())));
    }
    Ok(rec)
}

/// A version row's metadata column: when it was made and how (its wrapped material is a
/// column of its own).
#[derive(Debug, Serialize, Deserialize)]
pub struct VersionMeta {
    created: SystemTime,
    rotation_type: Option<RotationType>,
}

impl VersionMeta {
    /// The metadata of `v`.
    pub fn of(v: &WrappedVersion) -> Self {
        Self {
            created: v.created,
            rotation_type: v.rotation_type,
        }
    }
}

/// The digest of a version row: key, version id, wrapped material and metadata.
pub fn version_digest(key: &KeyId, version: &[u8], wrapped: &[u8], meta: &[u8]) -> [u8; 32] {
    digest(&[key.as_bytes(), version, wrapped, meta])
}

/// A backing-key version row, checked against its digest.
pub fn decode_version(
    id: &KeyId,
    vid: Vec<u8>,
    wrapped: Vec<u8>,
    meta: &[u8],
    dig: &[u8],
) -> Result<WrappedVersion, StoreError> {
    let damaged = |source| StoreError::DamagedRow {
        what: "key version",
        key_id: *id,
        source,
    };
    if !constant_time_eq(&version_digest(id, &vid, &wrapped, meta), dig) {
        return Err(damaged(Some("digest mismatch".into())));
    }
    let vid: [u8; 16] = vid
        .as_slice()
        .try_into()
        .map_err(|_| damaged(Some("version id length".into())))?;
    let m: VersionMeta = serde_json::from_slice(meta).map_err(|e| damaged(Some(Box::new(e))))?;
    Ok(WrappedVersion {
        id: VersionId(vid),
        wrapped,
        created: m.created,
        rotation_type: m.rotation_type,
    })
}

/// An alias row, checked against its digest and its key columns.
pub fn decode_alias(
    account: &str,
    name: &str,
    body: &[u8],
    dig: &[u8],
) -> Result<AliasRecord, StoreError> {
    let damaged = |source| StoreError::Corrupt {
        what: "alias record",
        source,
    };
    if !constant_time_eq(&digest(&[body]), dig) {
        return Err(damaged(Some("digest mismatch".into())));
    }
    let rec: AliasRecord = serde_json::from_slice(body).map_err(|e| damaged(Some(Box::new(e))))?;
    if rec.account.as_str() != account || rec.name != name {
        return Err(damaged(Some("record names another alias".into())));
    }
    Ok(rec)
}

/// A grant row, checked against its digest.
pub fn decode_grant(body: &[u8], dig: &[u8]) -> Result<Grant, StoreError> {
    let damaged = |source| StoreError::Corrupt {
        what: "grant record",
        source,
    };
    if !constant_time_eq(&digest(&[body]), dig) {
        return Err(damaged(Some("digest mismatch".into())));
    }
    serde_json::from_slice(body).map_err(|e| damaged(Some(Box::new(e))))
}

/// A custom key store row, checked against its digest and its key column.
pub fn decode_custom_key_store(
    id: &str,
    body: &[u8],
    dig: &[u8],
) -> Result<CustomKeyStoreRecord, StoreError> {
    let damaged = |source| StoreError::Corrupt {
        what: "custom key store record",
        source,
    };
    if !constant_time_eq(&digest(&[body]), dig) {
        return Err(damaged(Some("digest mismatch".into())));
    }
    let rec: CustomKeyStoreRecord =
        serde_json::from_slice(body).map_err(|e| damaged(Some(Box::new(e))))?;
    if rec.id != id {
        return Err(damaged(Some(
            "record names another custom key store".into(),
        )));
    }
    Ok(rec)
}
