//! Key management operations.

use coffer_core::KeyId;

use crate::Caller;
use coffer_keys::{BackingKey, KeyRecord, KeySpec, KeyState, KeyUsage, MaterialKind, Origin};

use crate::admission::{Gate, Target};
use crate::audit::Call;
use crate::authz::Access;
use crate::model::*;
use crate::validate::{self, field_error};
use crate::{Error, Kms};

impl Kms {
    /// Creates a key in the caller's account.
    pub(crate) fn create_key_op(
        &self,
        caller: &Caller,
        req: CreateKeyRequest,
        call: &Call<'_>,
    ) -> Result<CreateKeyResponse, Error> {
        validate::description(req.description.as_deref().unwrap_or_default())?;
        validate::tags(&req.tags)?;
        let (spec, usage, origin, kind) = key_type(&req)?;
        let description = req.description.unwrap_or_default();
        let multi_region = req.multi_region == Some(true);
        if multi_region && origin == Origin::AwsCloudHsm {
            return Err(Error::unsupported(
                "Multi-Region keys cannot be created in a custom key store.",
            ));
        }
        if multi_region && origin != Origin::AwsKms {
            return Err(Error::unsupported(
                "Multi-Region keys with imported key material are not supported by this coffer release.",
            ));
        }
        let store_id = match (origin, req.custom_key_store_id.as_deref()) {
            (Origin::AwsCloudHsm, Some(id)) => {
                if id.is_empty() || id.len() > 64 {
                    return Err(field_error(
                        "customKeyStoreId",
                        "Member must have length between 1 and 64",
                    ));
                }
                if spec != KeySpec::SymmetricDefault || usage != KeyUsage::EncryptDecrypt {
                    return Err(Error::unsupported(
                        "Keys in a custom key store are symmetric encryption keys: KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT.",
                    ));
                }
                Some(id.to_owned())
            }
            (Origin::AwsCloudHsm, None) => {
                return Err(Error::validation(
                    "Origin AWS_CLOUDHSM requires a CustomKeyStoreId: the custom key store to create the key in.",
                ))
            }
            (_, Some(_)) => {
                return Err(Error::validation(
                    "A key in a custom key store (CustomKeyStoreId) must have Origin AWS_CLOUDHSM.",
                ))
            }
            (_, None) => None,
        };
        let request_tags: std::collections::BTreeMap<String, String> = req
            .tags
            .iter()
            .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
            .collect();
        let bypass = if req.bypass_policy_lockout_safety_check {
            "true"
        } else {
            "false"
        };
        let access = Access {
            request_tags: Some(&request_tags),
            key_spec: Some(spec.as_str()),
            key_usage: Some(usage.as_str()),
            key_origin: Some(origin.as_str()),
            multi_region: Some(multi_region),
            extra: &[("kms:BypassPolicyLockoutSafetyCheck", bypass)],
            ..Access::default()
        };
        self.admit_without_key(call, caller, Gate::with(access))?;

        let now = self.clock.now();
        let key_id = if multi_region {
            KeyId::generate_multi_region(self.rng.as_ref())?
        } else {
            KeyId::generate(self.rng.as_ref())?
        };
        let version = match store_id {
            Some(_) => None,
            None => self.first_version(origin, kind, spec, now)?,
        };
        let mut wrapped = version
            .as_ref()
            .map(|v| v.wrap(&key_id, &*self.root))
            .transpose()
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
            version
                .as_ref()
                .map_or(coffer_keys::VersionId([0; 16]), |v| v.id),
        );
        if origin == Origin::External {
            record.state = KeyState::PendingImport;
        }
        if multi_region {
            record.multi_region = Some(coffer_keys::MultiRegion {
                primary_region: self.region.clone(),
                replica_regions: Vec::new(),
                pending_sync: Vec::new(),
            });
        }
        record.tags = dedup_tags(req.tags);
        record.policy = Some(match req.policy {
            Some(text) => {
                self.check_policy(
                    caller,
                    &text,
                    &record.arn(),
                    req.bypass_policy_lockout_safety_check,
                )?;
                text
            }
            None => coffer_policy::default_key_policy_json(&caller.account),
        });
        // A key in a custom key store: its AES key is generated in the store's token, last,
        // once everything else about the request has been checked.
        if let Some(store) = &store_id {
            let (first, _) = self.create_token_key(&caller.account, store, &key_id, now)?;
            record.current_version = first.id;
            record.custom_key_store_id = Some(store.clone());
            wrapped = Some(first);
        }
        let insert = || -> Result<(), Error> {
            let mut txn = self.store.begin()?;
            match &wrapped {
                Some(first) => txn.insert_key(&record, first)?,
                None => txn.insert_pending_key(&record)?,
            }
            call.resource(&record.arn(), &record.account);
            call.before_commit()?;
            txn.commit()?;
            Ok(())
        };
        if let Err(e) = insert() {
            // The token's object would be an orphan: destroy it (best effort).
            if let (Some(store), Some(first)) = (&store_id, &wrapped) {
                self.destroy_token_objects(store, std::slice::from_ref(first));
            }
            return Err(e);
        }
        Ok(CreateKeyResponse {
            key_metadata: self.key_metadata(&record),
        })
    }

    /// Describes a key, in any state. Accepts key ids, key ARNs, alias names and alias ARNs.
    pub(crate) fn describe_key_op(
        &self,
        caller: &Caller,
        req: DescribeKeyRequest,
        call: &Call<'_>,
    ) -> Result<DescribeKeyResponse, Error> {
        validate::grant_tokens(&req.grant_tokens)?;
        let access = Access {
            grant_tokens: &req.grant_tokens,
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(&req.key_id))?;
        Ok(DescribeKeyResponse {
            key_metadata: self.key_metadata(&key.record),
        })
    }

    /// Replaces a key's policy. Refused if the caller could not call PutKeyPolicy under the new
    /// policy, unless `bypass_policy_lockout_safety_check` is set.
    pub(crate) fn put_key_policy_op(
        &self,
        caller: &Caller,
        req: PutKeyPolicyRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        policy_name(req.policy_name.as_deref(), false)?;
        let bypass = req.bypass_policy_lockout_safety_check;
        let extra = [(
            "kms:BypassPolicyLockoutSafetyCheck",
            if bypass { "true" } else { "false" },
        )];
        // One resolution, one quota charge, one authorization (with the request's condition
        // keys); the new policy is checked against the record read inside the transaction.
        self.change_key_with(
            caller,
            call,
            &req.key_id,
            Access {
                extra: &extra,
                ..Access::default()
            },
            |r, _| {
                self.check_policy(caller, &req.policy, &r.arn(), bypass)?;
                r.policy = Some(req.policy);
                Ok(())
            },
        )?;
        Ok(())
    }

    /// A key's policy document.
    pub(crate) fn get_key_policy_op(
        &self,
        caller: &Caller,
        req: GetKeyPolicyRequest,
        call: &Call<'_>,
    ) -> Result<GetKeyPolicyResponse, Error> {
        policy_name(req.policy_name.as_deref(), true)?;
        let key = self.admit(call, caller, Gate::default(), Target::Named(&req.key_id))?;
        Ok(GetKeyPolicyResponse {
            policy: key
                .record
                .policy
                .clone()
                .unwrap_or_else(|| coffer_policy::default_key_policy_json(&key.record.account)),
            policy_name: "default".into(),
        })
    }

    /// The names of a key's policies: always `default`.
    pub(crate) fn list_key_policies_op(
        &self,
        caller: &Caller,
        req: ListKeyPoliciesRequest,
        call: &Call<'_>,
    ) -> Result<ListKeyPoliciesResponse, Error> {
        crate::marker::limit(req.limit, 100, 1000)?;
        self.admit(call, caller, Gate::default(), Target::Named(&req.key_id))?;
        Ok(ListKeyPoliciesResponse {
            policy_names: vec!["default".into()],
            next_marker: None,
            truncated: false,
        })
    }

    /// Parses a key policy and applies the lockout safety check.
    pub(crate) fn check_policy(
        &self,
        caller: &Caller,
        text: &str,
        key_arn: &str,
        bypass: bool,
    ) -> Result<(), Error> {
        if text.is_empty()
            || !text
                .chars()
                .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'))
        {
            return Err(field_error(
                "policy",
                "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
            ));
        }
        let policy = coffer_policy::Policy::parse_key_policy(text)?;
        if !bypass && !policy.allows_put_key_policy(caller.identity(), key_arn) {
            return Err(Error::MalformedPolicyDocument {
                message:
                    "The new key policy will not allow you to update the key policy in the future."
                        .into(),
            });
        }
        Ok(())
    }
}

/// Key policies have one name, `default`.
fn policy_name(name: Option<&str>, get: bool) -> Result<(), Error> {
    match name {
        None | Some("default") => Ok(()),
        Some(other) if get => Err(Error::not_found(format!("No such policy: {other}"))),
        Some(_) => Err(field_error(
            "policyName",
            "Member must satisfy regular expression pattern: default",
        )),
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

/// What CreateKey asks for, checked: the spec (KeySpec or its deprecated twin), the usage (one
/// the spec allows), the origin (AWS_KMS or EXTERNAL), and the kind of material it holds.
fn key_type(req: &CreateKeyRequest) -> Result<(KeySpec, KeyUsage, Origin, MaterialKind), Error> {
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
    let Some(kind) = MaterialKind::of(spec, usage) else {
        // SM2: AWS offers it only in the China regions, and coffer does not implement it.
        return Err(Error::unsupported(format!(
            "KeySpec {spec} is not supported by this coffer release."
        )));
    };
    let origin = req.origin.unwrap_or(Origin::AwsKms);
    if !matches!(
        origin,
        Origin::AwsKms | Origin::External | Origin::AwsCloudHsm
    ) {
        return Err(Error::unsupported(format!(
            "Origin {origin} is not supported by this coffer release (external key stores are not)."
        )));
    }
    if origin == Origin::External
        && matches!(
            spec,
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024
        )
    {
        return Err(Error::unsupported(format!(
            "Importing {spec} key material is not supported by this coffer release."
        )));
    }
    Ok((spec, usage, origin, kind))
}

impl Kms {
    /// A new key's first version: generated material of its kind, or none for a key of origin
    /// EXTERNAL (it starts pending import).
    fn first_version(
        &self,
        origin: Origin,
        kind: MaterialKind,
        spec: KeySpec,
        now: std::time::SystemTime,
    ) -> Result<Option<BackingKey>, Error> {
        // A key of origin EXTERNAL starts with no material, pending import.
        let version =
            match (origin, kind, spec.hmac_key_len()) {
                (Origin::External, _, _) => None,
                // An HMAC key: random material of the spec's length, as AWS generates it.
                (_, MaterialKind::Mac, Some(len)) => {
                    Some(BackingKey::generate_mac(self.rng.as_ref(), len, now))
                }
                (_, MaterialKind::Private(algorithm, role), _) => Some(
                    BackingKey::generate_private(self.rng.as_ref(), algorithm, role, now),
                ),
                _ => Some(BackingKey::generate(self.rng.as_ref(), now, None)),
            }
            .transpose()
            .map_err(Error::internal)?;
        Ok(version)
    }
}

impl Kms {
    /// The `KeyMetadata` DescribeKey shows: a key in a custom key store with its token's id,
    /// and `Unavailable` while its store is not connected.
    pub(crate) fn key_metadata(&self, r: &KeyRecord) -> KeyMetadata {
        let mut m = metadata(r);
        if let Some(store) = &r.custom_key_store_id {
            m.key_state = self.effective_state(r);
            m.enabled = m.key_state == KeyState::Enabled;
            m.cloud_hsm_cluster_id = self.cluster_of_store(store);
        }
        m
    }
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
        key_manager: r.manager.as_str(),
        customer_master_key_spec: r.key_spec,
        key_spec: r.key_spec,
        encryption_algorithms: r.key_spec.encryption_algorithms(r.key_usage).to_vec(),
        mac_algorithms: r.key_spec.mac_algorithms().to_vec(),
        signing_algorithms: r.key_spec.signing_algorithms(r.key_usage).to_vec(),
        key_agreement_algorithms: r.key_spec.key_agreement_algorithms(r.key_usage).to_vec(),
        encapsulation_algorithms: r.key_spec.encapsulation_algorithms(r.key_usage).to_vec(),
        expiration_model: r.expiration_model,
        valid_to: r.valid_to,
        multi_region: r.multi_region.is_some(),
        multi_region_configuration: crate::multi_region::configuration(r),
        pending_deletion_window_in_days: r.pending_deletion_window_days,
        // Only symmetric encryption keys report it (AWS), and a key pending import has none.
        current_key_material_id: (r.key_spec == KeySpec::SymmetricDefault
            && r.state != KeyState::PendingImport)
            .then(|| r.current_version.to_string()),
        custom_key_store_id: r.custom_key_store_id.clone(),
        cloud_hsm_cluster_id: None,
    }
}
