//! Aliases and tags.

use coffer_core::AliasName;

use crate::Caller;
use coffer_store::AliasRecord;

use crate::admission::{Authority, Gate, Target};
use crate::audit::Call;
use crate::authz::Access;
use crate::key_ops::dedup_tags;
use crate::marker::{self, DEFAULT_LIMIT};
use crate::model::*;
use crate::validate;
use crate::{Error, Kms};

/// Most aliases one key may have.
pub const MAX_ALIASES_PER_KEY: usize = 50;

fn alias_name(name: &str) -> Result<AliasName, Error> {
    let parsed = AliasName::parse(name).map_err(|_| {
        Error::invalid_alias_name(format!(
            "Alias name {name:?} is invalid: it must begin with 'alias/' and contain only letters, digits, '/', '_' and '-', at most 256 characters."
        ))
    })?;
    if parsed.is_reserved() {
        return Err(Error::invalid_alias_name(
            "Alias names beginning with 'alias/aws/' are reserved.",
        ));
    }
    Ok(parsed)
}

impl Kms {
    /// Creates an alias for a key of the caller's account. AWS authorizes both resources:
    /// `kms:CreateAlias` on the key (its key policy) and on the alias (identity policies).
    pub(crate) fn create_alias_op(
        &self,
        caller: &Caller,
        req: AliasRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let name = alias_name(&req.alias_name)?;
        let key = self.admit(
            call,
            caller,
            Gate::default(),
            Target::Named(&req.target_key_id),
        )?;
        let alias_arn = self.alias_arn(&caller.account, name.as_str());
        let on_alias = Gate::default().authority(Authority::Identity(&alias_arn));
        self.admit_without_key(call, caller, on_alias)?;
        let now = self.clock.now();
        let mut txn = self.store.begin()?;
        if txn.alias(&caller.account, name.as_str())?.is_some() {
            return Err(Error::already_exists(format!(
                "An alias with the name {alias_arn} already exists"
            )));
        }
        let existing = txn.list_aliases(
            &caller.account,
            Some(&key.record.key_id),
            None,
            MAX_ALIASES_PER_KEY,
        )?;
        if existing.len() >= MAX_ALIASES_PER_KEY {
            return Err(Error::limit_exceeded(format!(
                "{} already has {MAX_ALIASES_PER_KEY} aliases.",
                key.arn
            )));
        }
        txn.insert_alias(&AliasRecord {
            account: caller.account,
            name: name.as_str().to_owned(),
            target: key.record.key_id,
            creation_date: now,
            last_updated: now,
        })?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_alias(&caller.account, name.as_str());
        // The key's kms:ResourceAliases changed.
        self.cache.invalidate_key(&key.record.key_id);
        Ok(())
    }

    /// Points an existing alias at another key of the same type and usage. AWS authorizes all
    /// three resources: `kms:UpdateAlias` on the alias (identity policies), on the key it points
    /// at now and on the new key (their key policies), so nobody can take over an alias they
    /// could not have created or point it away from a key they do not manage.
    pub(crate) fn update_alias_op(
        &self,
        caller: &Caller,
        req: AliasRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let name = alias_name(&req.alias_name)?;
        let key = self.admit(
            call,
            caller,
            Gate::default(),
            Target::Named(&req.target_key_id),
        )?;
        let alias_arn = self.alias_arn(&caller.account, name.as_str());
        let on_alias = Gate::default().authority(Authority::Identity(&alias_arn));
        self.admit_without_key(call, caller, on_alias)?;
        let current_id = self
            .store
            .begin()?
            .alias(&caller.account, name.as_str())?
            .ok_or_else(|| self.alias_missing(caller, &name))?
            .target;
        let current = self.load_owned(&caller.account, &current_id)?;
        // The key the alias points away from: authorized, in whatever state it is.
        let current = self.admit(
            call,
            caller,
            Gate::default().state_checked_elsewhere(),
            Target::Loaded(current, None),
        )?;
        if current.record.key_spec != key.record.key_spec
            || current.record.key_usage != key.record.key_usage
        {
            return Err(Error::validation(
                "The current and new KMS key of an alias must have the same key spec and key usage.",
            ));
        }
        let mut txn = self.store.begin()?;
        let mut rec = txn
            .alias(&caller.account, name.as_str())?
            .ok_or_else(|| self.alias_missing(caller, &name))?;
        if rec.target != current_id {
            // Repointed since it was authorized: the caller was not authorized for the new
            // current key.
            return Err(Error::Conflict {
                message: format!("{alias_arn} was changed by another request; try again."),
            });
        }
        rec.target = key.record.key_id;
        rec.last_updated = self.clock.now();
        txn.update_alias(&rec)?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_alias(&caller.account, name.as_str());
        self.cache.invalidate_key(&current_id);
        self.cache.invalidate_key(&key.record.key_id);
        Ok(())
    }

    /// Deletes an alias; the key is unaffected. AWS authorizes `kms:DeleteAlias` on the alias
    /// (identity policies) and on the key it points at (its key policy).
    pub(crate) fn delete_alias_op(
        &self,
        caller: &Caller,
        req: DeleteAliasRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let name = alias_name(&req.alias_name)?;
        let target = self
            .store
            .begin()?
            .alias(&caller.account, name.as_str())?
            .ok_or_else(|| self.alias_missing(caller, &name))?
            .target;
        let key = self.load_owned(&caller.account, &target)?;
        // The alias first (its admission charges the call), then the key it points at.
        let alias_arn = self.alias_arn(&caller.account, name.as_str());
        let on_alias = Gate::default().authority(Authority::Identity(&alias_arn));
        self.admit_without_key(call, caller, on_alias)?;
        self.admit(call, caller, Gate::default(), Target::Loaded(key, None))?;
        let mut txn = self.store.begin()?;
        match txn.alias(&caller.account, name.as_str())? {
            Some(rec) if rec.target == target => {}
            Some(_) => {
                return Err(Error::Conflict {
                    message: format!("{alias_arn} was changed by another request; try again."),
                })
            }
            None => return Err(self.alias_missing(caller, &name)),
        }
        txn.delete_alias(&caller.account, name.as_str())?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_alias(&caller.account, name.as_str());
        self.cache.invalidate_key(&target);
        Ok(())
    }

    /// Lists the caller's aliases (all, or those of one key), ordered by name.
    pub(crate) fn list_aliases_op(
        &self,
        caller: &Caller,
        req: ListAliasesRequest,
        call: &Call<'_>,
    ) -> Result<ListAliasesResponse, Error> {
        let limit = marker::limit(req.limit, DEFAULT_LIMIT, 1000)?;
        // ListAliases is an IAM-only permission: identity policies decide, on `*`.
        let gate = Gate::default().authority(Authority::Identity("*"));
        let key = match &req.key_id {
            Some(k) => Some(self.admit(call, caller, gate, Target::Named(k))?),
            None => {
                self.admit_without_key(call, caller, gate)?;
                None
            }
        };
        let filter = key.as_ref().map(|k| k.record.key_id);
        let scope = [
            b"aliases:".as_slice(),
            caller.account.as_str().as_bytes(),
            filter.as_ref().map_or(&[][..], |k| k.as_bytes()),
        ]
        .concat();
        let after = self.markers.read_text(&scope, req.marker.as_deref())?;
        let mut page = self.store.begin()?.list_aliases(
            &caller.account,
            filter.as_ref(),
            after.as_deref(),
            limit + 1,
        )?;
        let (next_marker, truncated) = self
            .markers
            .page(&scope, &mut page, limit, |x| x.name.as_bytes());
        Ok(ListAliasesResponse {
            aliases: page
                .into_iter()
                .map(|a| AliasListEntry {
                    alias_arn: self.alias_arn(&a.account, &a.name),
                    alias_name: a.name,
                    target_key_id: a.target.to_string(),
                    creation_date: a.creation_date,
                    last_updated_date: a.last_updated,
                })
                .collect(),
            next_marker,
            truncated,
        })
    }

    fn alias_missing(&self, caller: &Caller, name: &AliasName) -> Error {
        Error::not_found(format!(
            "Alias {} is not found.",
            self.alias_arn(&caller.account, name.as_str())
        ))
    }

    /// Adds or replaces tags on a key (at most 50 in all).
    pub(crate) fn tag_resource_op(
        &self,
        caller: &Caller,
        req: TagResourceRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        validate::tags(&req.tags)?;
        // aws:RequestTag/<key> and aws:TagKeys: the tags asked for (a later duplicate wins, as
        // it does when they are applied).
        let request_tags: std::collections::BTreeMap<String, String> = req
            .tags
            .iter()
            .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
            .collect();
        let access = Access {
            request_tags: Some(&request_tags),
            ..Access::default()
        };
        self.change_key_with(caller, call, &req.key_id, access, |r, _| {
            let mut merged = std::mem::take(&mut r.tags);
            merged.extend(req.tags.iter().cloned());
            let merged = dedup_tags(merged);
            validate::tags(&merged)?;
            r.tags = merged;
            Ok(())
        })?;
        Ok(())
    }

    /// Removes tags from a key by tag key; absent keys are ignored, as AWS ignores them.
    pub(crate) fn untag_resource_op(
        &self,
        caller: &Caller,
        req: UntagResourceRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        for k in &req.tag_keys {
            let n = k.chars().count();
            if n == 0 || n > 128 {
                return Err(Error::tag("Tag keys must be 1 to 128 characters long."));
            }
            if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
                return Err(Error::tag("Tag keys beginning with 'aws:' are reserved."));
            }
        }
        // aws:TagKeys: the keys to remove (there is no aws:RequestTag for UntagResource).
        let access = Access {
            tag_keys: Some(&req.tag_keys),
            ..Access::default()
        };
        self.change_key_with(caller, call, &req.key_id, access, |r, _| {
            r.tags.retain(|t| !req.tag_keys.contains(&t.tag_key));
            Ok(())
        })?;
        Ok(())
    }

    /// A key's tags.
    pub(crate) fn list_resource_tags_op(
        &self,
        caller: &Caller,
        req: ListResourceTagsRequest,
        call: &Call<'_>,
    ) -> Result<ListResourceTagsResponse, Error> {
        let limit = marker::limit(req.limit, 50, 50)?;
        let key = self.admit(call, caller, Gate::default(), Target::Named(&req.key_id))?;
        let scope = [b"tags:".as_slice(), key.record.key_id.as_bytes()].concat();
        let start = match &req.marker {
            Some(m) => {
                let pos = self.markers.read(&scope, m)?;
                let b: [u8; 2] = pos
                    .try_into()
                    .map_err(|_| Error::invalid_marker("The marker is not valid."))?;
                usize::from(u16::from_be_bytes(b))
            }
            None => 0,
        };
        let all = &key.record.tags;
        let tags: Vec<Tag> = all.iter().skip(start).take(limit).cloned().collect();
        let end = start + tags.len();
        let truncated = end < all.len();
        let next_marker = truncated
            .then(|| u16::try_from(end).ok())
            .flatten()
            .map(|e| self.markers.make(&scope, &e.to_be_bytes()));
        Ok(ListResourceTagsResponse {
            tags,
            next_marker,
            truncated,
        })
    }
}
