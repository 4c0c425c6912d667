//! The multi-Region shapes of the AWS service model: `MultiRegionConfiguration`,
//! `MultiRegionKey`, `MultiRegionKeyType`, and ReplicateKey's and UpdatePrimaryRegion's
//! requests and responses.

use std::fmt;

use super::{KeyMetadata, Tag};

/// Whether a multi-Region key is the primary or a replica (`MultiRegionKeyType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiRegionKeyType {
    /// `PRIMARY`.
    Primary,
    /// `REPLICA`.
    Replica,
}

impl MultiRegionKeyType {
    /// The AWS name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "PRIMARY",
            Self::Replica => "REPLICA",
        }
    }
}

impl fmt::Display for MultiRegionKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key of a multi-Region key set: its ARN and region (`MultiRegionKey`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct MultiRegionKey {
    /// The key ARN in its region.
    pub arn: String,
    /// The region.
    pub region: String,
}

/// `MultiRegionConfiguration` of DescribeKey's `KeyMetadata`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct MultiRegionConfiguration {
    /// PRIMARY or REPLICA.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub multi_region_key_type: MultiRegionKeyType,
    /// The primary key.
    pub primary_key: MultiRegionKey,
    /// Every replica key.
    pub replica_keys: Vec<MultiRegionKey>,
}

/// ReplicateKey.
#[derive(Clone, Debug, Default)]
pub struct ReplicateKeyRequest {
    /// The primary key: key id or key ARN.
    pub key_id: String,
    /// The region to make the replica in.
    pub replica_region: String,
    /// The replica's key policy (the default key policy if absent).
    pub policy: Option<String>,
    /// Skips the policy lockout check of the replica's policy.
    pub bypass_policy_lockout_safety_check: bool,
    /// The replica's description (empty if absent).
    pub description: Option<String>,
    /// The replica's tags.
    pub tags: Vec<Tag>,
}

/// ReplicateKey's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct ReplicateKeyResponse {
    /// The replica, as its region describes it.
    pub replica_key_metadata: KeyMetadata,
    /// The replica's key policy.
    pub replica_policy: String,
    /// The replica's tags.
    pub replica_tags: Vec<Tag>,
}

/// UpdatePrimaryRegion.
#[derive(Clone, Debug, Default)]
pub struct UpdatePrimaryRegionRequest {
    /// The current primary key: key id or key ARN.
    pub key_id: String,
    /// The region of the replica that becomes the primary.
    pub primary_region: String,
}
