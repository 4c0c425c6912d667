//! Key management operations.

use coffer_core::{Caller, KeyId};
use coffer_keys::{BackingKey, KeyRecord, KeySpec, KeyState, KeyUsage, Origin};

use crate::kms::CachedKey;
use crate::model::*;
use crate::validate::{self, field_error};
use crate::{Error, Kms, Operation};

impl Kms {
    /// Creates a key in the caller's account.
    pub fn create_key(
        &self,
        caller: &Caller,
        req: CreateKeyRequest,
    ) -> Result<CreateKeyResponse, Error> {
        let description = req.description.unwrap_or_default();
        validate::description(&description)?;
        validate::tags(&req.tags)?;
        let spec = match (req.key_spec, req.customer_master_key_spec) {
            (Some(_), Some(_)) => {
                return Err(Error::validation(
                    "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.",
                ))
            }
            (Some(s), None) | (None, Some(s)) => s,
            (None, None) => KeySpec::SymmetricDefault,
        };
        let usage = req.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
        if !spec.allowed_usages().contains(&usage) {
            return Err(field_error(
                "keyUsage",
                &format!("KeyUsage {usage} is not compatible with KeySpec {spec}"),
            ));
        }
        if spec != KeySpec::SymmetricDefault {
            return Err(Error::unsupported(format!(
                "KeySpec {spec} is not supported by this coffer release; use SYMMETRIC_DEFAULT."
            )));
        }
        let origin = req.origin.unwrap_or(Origin::AwsKms);
        if origin != Origin::AwsKms {
            return Err(Error::unsupported(format!(
                "Origin {origin} is not supported by this coffer release."
            )));
        }
        if req.multi_region == Some(true) {
            return Err(Error::unsupported(
                "Multi-Region keys are not supported by this coffer release.",
            ));
        }
        if req.policy.is_some() {
            return Err(Error::unsupported(
                "Key policies are not supported by this coffer release; omit Policy to get the default policy.",
            ));
        }

        self.charge(caller, Operation::CreateKey, None)?;
        let now = self.clock.now();
        let key_id = KeyId::generate(self.rng.as_ref())?;
        let version =
            BackingKey::generate(self.rng.as_ref(), now, None).map_err(Error::internal)?;
        let wrapped = version
            .wrap(&key_id, &*self.root)
            .map_err(Error::internal)?;
        let mut record = KeyRecord::new(
            key_id,
            caller.account,
            self.region.clone(),
            now,
            description,
            spec,
            usage,
            origin,
            version.id,
        );
        record.tags = dedup_tags(req.tags);
        let mut txn = self.store.begin()?;
        txn.insert_key(&record, &wrapped)?;
        txn.commit()?;
        Ok(CreateKeyResponse {
            key_metadata: metadata(&record),
        })
    }

    /// Describes a key, in any state. Accepts key ids, key ARNs, alias names and alias ARNs.
    pub fn describe_key(
        &self,
        caller: &Caller,
        req: DescribeKeyRequest,
    ) -> Result<DescribeKeyResponse, Error> {
        validate::grant_tokens(&req.grant_tokens)?;
        let key = self.key_for(caller, Operation::DescribeKey, &req.key_id, true)?;
        Ok(DescribeKeyResponse {
            key_metadata: metadata(&key.record),
        })
    }

    /// The key for a management operation (key id or key ARN only), with its state checked.
    pub(crate) fn managed_key(
        &self,
        caller: &Caller,
        op: Operation,
        key_id: &str,
    ) -> Result<std::sync::Arc<CachedKey>, Error> {
        let key = self.key_for(caller, op, key_id, false)?;
        op.check_state(key.record.state, &key.arn)?;
        Ok(key)
    }
}

/// Later tags with the same key replace earlier ones, as TagResource does.
pub(crate) fn dedup_tags(tags: Vec<Tag>) -> Vec<Tag> {
    let mut out: Vec<Tag> = Vec::with_capacity(tags.len());
    for t in tags {
        match out.iter_mut().find(|x| x.tag_key == t.tag_key) {
            Some(existing) => existing.tag_value = t.tag_value,
            None => out.push(t),
        }
    }
    out
}

/// The AWS `KeyMetadata` of a record.
pub(crate) fn metadata(r: &KeyRecord) -> KeyMetadata {
    KeyMetadata {
        aws_account_id: r.account.to_string(),
        key_id: r.key_id.to_string(),
        arn: r.arn(),
        creation_date: r.creation_date,
        enabled: r.state == KeyState::Enabled,
        description: r.description.clone(),
        key_usage: r.key_usage,
        key_state: r.state,
        deletion_date: r.deletion_date,
        origin: r.origin,
        key_manager: "CUSTOMER",
        customer_master_key_spec: r.key_spec,
        key_spec: r.key_spec,
        encryption_algorithms: r.key_spec.encryption_algorithms(r.key_usage).to_vec(),
        multi_region: false,
        pending_deletion_window_in_days: r.pending_deletion_window_days,
        current_key_material_id: Some(r.current_version.to_string()),
    }
}
