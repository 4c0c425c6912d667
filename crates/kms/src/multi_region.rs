//! Multi-Region keys: the configuration DescribeKey shows, and (in the modules beside this one)
//! replication between regions. docs/MULTI_REGION.md.

use coffer_keys::KeyRecord;

use crate::model::{MultiRegionConfiguration, MultiRegionKey, MultiRegionKeyType};

/// The ARN of the key `record` describes, in `region`.
pub(crate) fn arn_in(record: &KeyRecord, region: &str) -> String {
    format!(
        "arn:aws:kms:{region}:{}:key/{}",
        record.account, record.key_id
    )
}

/// `MultiRegionConfiguration` of a record: None for a single-Region key.
pub(crate) fn configuration(record: &KeyRecord) -> Option<MultiRegionConfiguration> {
    let m = record.multi_region.as_ref()?;
    let key = |region: &str| MultiRegionKey {
        arn: arn_in(record, region),
        region: region.to_owned(),
    };
    Some(MultiRegionConfiguration {
        multi_region_key_type: if record.is_primary() {
            MultiRegionKeyType::Primary
        } else {
            MultiRegionKeyType::Replica
        },
        primary_key: key(m.primary_region.as_str()),
        replica_keys: m.replica_regions.iter().map(|r| key(r.as_str())).collect(),
    })
}
