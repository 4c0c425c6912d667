//! The wire shapes of ReplicateKey and UpdatePrimaryRegion.

use serde::Deserialize;

use super::{decode, encode, required, tags, TagIn};
use super::{WireRequest, WireResponse};
use crate::model::*;
use crate::{Error, Operation};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReplicateKeyIn {
    key_id: Option<String>,
    replica_region: Option<String>,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    description: Option<String>,
    tags: Option<Vec<TagIn>>,
}

request!(ReplicateKeyRequest, ReplicateKeyIn, |_, i| Ok(
    ReplicateKeyRequest {
        key_id: required("keyId", i.key_id)?,
        replica_region: required("replicaRegion", i.replica_region)?,
        policy: i.policy,
        bypass_policy_lockout_safety_check: i.bypass_policy_lockout_safety_check.unwrap_or(false),
        description: i.description,
        tags: tags(i.tags)?,
    }
));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdatePrimaryRegionIn {
    key_id: Option<String>,
    primary_region: Option<String>,
}

request!(
    UpdatePrimaryRegionRequest,
    UpdatePrimaryRegionIn,
    |_, i| Ok(UpdatePrimaryRegionRequest {
        key_id: required("keyId", i.key_id)?,
        primary_region: required("primaryRegion", i.primary_region)?,
    })
);

impl WireResponse for ReplicateKeyResponse {
    fn to_wire(&self) -> Result<Vec<u8>, Error> {
        encode(self, 0)
    }
}
