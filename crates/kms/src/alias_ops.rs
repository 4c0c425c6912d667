//! Aliases and tags.

use coffer_core::AliasName;

use crate::Caller;
use coffer_store::AliasRecord;

use crate::audit::Call;
use crate::authz::Access;
use crate::key_ops::dedup_tags;
use crate::marker::{self, DEFAULT_LIMIT};
use crate::model::*;
use crate::validate;
use crate::{Error, Kms, Operation};

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
    /// Creates an alias for a key of the caller's account.
    pub(crate) fn create_alias_op(
        &self,
        caller: &Caller,
        req: AliasRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let name = alias_name(&req.alias_name)?;
        let key = self.managed_key(caller, Operation::CreateAlias, &req.target_key_id)?;
        let now = self.clock.now();
        let mut txn = self.store.begin()?;
        if txn.alias(&caller.account, name.as_str())?.is_some() {
            return Err(Error::already_exists(format!(
                "An alias with the name {} already exists",
                self.alias_arn(&caller.account, name.as_str())
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
        Ok(())
    }

    /// Points an existing alias at another key of the same type and usage.
    pub(crate) fn update_alias_op(
        &self,
        caller: &Caller,
        req: AliasRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let name = alias_name(&req.alias_name)?;
        let key = self.managed_key(caller, Operation::UpdateAlias, &req.target_key_id)?;
        let mut txn = self.store.begin()?;
        let mut rec = txn
            .alias(&caller.account, name.as_str())?
            .ok_or_else(|| self.alias_missing(caller, &name))?;
        if let Some(current) = txn.key(&rec.target)? {
            if current.key_spec != key.record.key_spec || current.key_usage != key.record.key_usage
            {
                return Err(Error::validation(
                    "The current and new KMS key of an alias must have the same key spec and key usage.",
                ));
            }
        }
        rec.target = key.record.key_id;
        rec.last_updated = self.clock.now();
        txn.update_alias(&rec)?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_alias(&caller.account, name.as_str());
        Ok(())
    }

    /// Deletes an alias; the key is unaffected.
    pub(crate) fn delete_alias_op(
        &self,
        caller: &Caller,
        req: DeleteAliasRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let name = alias_name(&req.alias_name)?;
        let mut txn = self.store.begin()?;
        let rec = txn
            .alias(&caller.account, name.as_str())?
            .ok_or_else(|| self.alias_missing(caller, &name))?;
        // The caller must be allowed to manage the key the alias points at.
        drop(txn);
        let key = self.load_owned(&rec.account, &rec.target)?;
        self.charge(caller, Operation::DeleteAlias, Some(&key))?;
        self.authorize(
            caller,
            Operation::DeleteAlias.action(),
            &key,
            &Access::default(),
        )?;
        let mut txn = self.store.begin()?;
        txn.delete_alias(&caller.account, name.as_str())?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_alias(&caller.account, name.as_str());
        Ok(())
    }

    /// Lists the caller's aliases (all, or those of one key), ordered by name.
    pub(crate) fn list_aliases_op(
        &self,
        caller: &Caller,
        req: ListAliasesRequest,
        _call: &Call<'_>,
    ) -> Result<ListAliasesResponse, Error> {
        let limit = marker::limit(req.limit, DEFAULT_LIMIT, 1000)?;
        let key = match &req.key_id {
            Some(k) => Some(self.resolve_key(caller, k, false)?),
            None => None,
        };
        // ListAliases is an IAM-only permission: identity policies decide.
        self.charge(caller, Operation::ListAliases, None)?;
        self.authorize_identity(caller, Operation::ListAliases.action(), &Access::default())?;
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
        self.change_key(caller, call, Operation::TagResource, &req.key_id, |r, _| {
            let mut merged = std::mem::take(&mut r.tags);
            merged.extend(req.tags);
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
        self.change_key(
            caller,
            call,
            Operation::UntagResource,
            &req.key_id,
            |r, _| {
                r.tags.retain(|t| !req.tag_keys.contains(&t.tag_key));
                Ok(())
            },
        )?;
        Ok(())
    }

    /// A key's tags.
    pub(crate) fn list_resource_tags_op(
        &self,
        caller: &Caller,
        req: ListResourceTagsRequest,
        _call: &Call<'_>,
    ) -> Result<ListResourceTagsResponse, Error> {
        let limit = marker::limit(req.limit, 50, 50)?;
        let key = self.managed_key(caller, Operation::ListResourceTags, &req.key_id)?;
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
