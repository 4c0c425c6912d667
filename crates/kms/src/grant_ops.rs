//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

use coffer_grants::{Grant, MAX_GRANTS_PER_KEY};

use crate::admission::{Authority, Gate, Target};
use crate::audit::Call;
use crate::authz::{Access, GrantRequest};
use crate::marker;
use crate::model::*;
use crate::validate::{self, field_error};
use crate::{Caller, Error, Kms, Operation};

fn grant_error(e: coffer_grants::GrantError) -> Error {
    Error::validation(e.to_string())
}

fn principal_arn(field: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.len() > 256 || !value.starts_with("arn:") {
        return Err(field_error(
            field,
            "Member must be a principal ARN of 1 to 256 characters",
        ));
    }
    Ok(())
}

fn entry(arn: &str, g: Grant) -> GrantListEntry {
    GrantListEntry {
        key_id: arn.to_owned(),
        grant_id: g.grant_id,
        name: g.name,
        creation_date: g.creation_date,
        grantee_principal: g.grantee_principal,
        retiring_principal: g.retiring_principal,
        issuing_account: g.issuing_account,
        operations: g.operations,
        constraints: g.constraints,
    }
}

impl Kms {
    /// Creates a grant on a key. The caller needs kms:CreateGrant from a policy, or a grant of its
    /// own that allows CreateGrant and covers every operation (and constraint) asked for.
    pub(crate) fn create_grant_op(
        &self,
        caller: &Caller,
        req: CreateGrantRequest,
        call: &Call<'_>,
    ) -> Result<CreateGrantResponse, Error> {
        principal_arn("granteePrincipal", &req.grantee_principal)?;
        if let Some(r) = &req.retiring_principal {
            principal_arn("retiringPrincipal", r)?;
        }
        validate::grant_tokens(&req.grant_tokens)?;
        let mut operations = req.operations.clone();
        Grant::validate(&mut operations, &req.constraints, req.name.as_deref())
            .map_err(grant_error)?;
        let op_names: Vec<String> = operations.iter().map(|o| o.as_str().to_owned()).collect();

        let mut extra = vec![("kms:GranteePrincipal", req.grantee_principal.as_str())];
        if let Some(r) = &req.retiring_principal {
            extra.push(("kms:RetiringPrincipal", r.as_str()));
        }
        if let Some(c) = &req.constraints {
            if c.encryption_context_equals.is_some() {
                extra.push(("kms:GrantConstraintType", "EncryptionContextEquals"));
            }
            if c.encryption_context_subset.is_some() {
                extra.push(("kms:GrantConstraintType", "EncryptionContextSubset"));
            }
        }
        let access = Access {
            grant_tokens: &req.grant_tokens,
            grant_operations: Some(&op_names),
            // A grantee may pass on no more than its own grant gives.
            grant_request: Some(GrantRequest {
                operations: &operations,
                constraints: req.constraints.as_ref(),
            }),
            extra: &extra,
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(&req.key_id))?;
        check_operations_fit_key(&key.record, &operations)?;
        if req.dry_run {
            return Err(Error::dry_run(
                "The request would have succeeded, but the DryRun flag is set.",
            ));
        }

        let id = key.record.key_id;
        let mut txn = self.store.begin()?;
        let existing = txn.grants(&id)?;
        if let Some(name) = &req.name {
            if let Some(same) = existing.iter().find(|g| {
                g.name.as_deref() == Some(name)
                    && g.same_request(
                        &req.grantee_principal,
                        req.retiring_principal.as_deref(),
                        &operations,
                        req.constraints.as_ref(),
                    )
            }) {
                return Ok(CreateGrantResponse {
                    grant_token: self.grant_tokens.mint(&same.grant_id, &id),
                    grant_id: same.grant_id.clone(),
                });
            }
        }
        if existing.len() >= MAX_GRANTS_PER_KEY {
            return Err(Error::limit_exceeded(format!(
                "{} already has {MAX_GRANTS_PER_KEY} grants.",
                key.arn
            )));
        }
        let mut raw = [0u8; 32];
        self.rng.fill(&mut raw)?;
        let grant_id = coffer_crypto::hex::encode(&raw);
        let grant = Grant {
            grant_id: grant_id.clone(),
            key_id: id,
            account: key.record.account,
            grantee_principal: req.grantee_principal,
            retiring_principal: req.retiring_principal,
            issuing_account: format!("arn:aws:iam::{}:root", caller.account),
            operations,
            constraints: req.constraints,
            name: req.name,
            creation_date: self.clock.now(),
        };
        txn.insert_grant(&grant)?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_key(&id);
        Ok(CreateGrantResponse {
            grant_token: self.grant_tokens.mint(&grant_id, &id),
            grant_id,
        })
    }

    /// The grants on a key.
    pub(crate) fn list_grants_op(
        &self,
        caller: &Caller,
        req: ListGrantsRequest,
        call: &Call<'_>,
    ) -> Result<ListGrantsResponse, Error> {
        let limit = marker::limit(req.limit, 50, 100)?;
        let key = self.admit(call, caller, Gate::default(), Target::Named(&req.key_id))?;
        let scope = [b"grants:".as_slice(), key.record.key_id.as_bytes()].concat();
        let after = self.markers.read_text(&scope, req.marker.as_deref())?;
        let all = self.store.begin()?.grants(&key.record.key_id)?;
        let mut page: Vec<Grant> = all
            .into_iter()
            .filter(|g| after.as_ref().is_none_or(|a| g.grant_id > *a))
            .filter(|g| req.grant_id.as_ref().is_none_or(|id| g.grant_id == *id))
            .filter(|g| {
                req.grantee_principal
                    .as_ref()
                    .is_none_or(|p| g.grantee_principal == *p)
            })
            .take(limit + 1)
            .collect();
        let (next_marker, truncated) = self
            .markers
            .page(&scope, &mut page, limit, |x| x.grant_id.as_bytes());
        Ok(ListGrantsResponse {
            grants: page.into_iter().map(|g| entry(&key.arn, g)).collect(),
            next_marker,
            truncated,
        })
    }

    /// The grants of the caller's account that `retiring_principal` may retire.
    pub(crate) fn list_retirable_grants_op(
        &self,
        caller: &Caller,
        req: ListRetirableGrantsRequest,
        call: &Call<'_>,
    ) -> Result<ListGrantsResponse, Error> {
        let limit = marker::limit(req.limit, 50, 100)?;
        principal_arn("retiringPrincipal", &req.retiring_principal)?;
        self.admit_without_key(call, caller, Gate::default())?;
        let scope = [
            b"retirable:".as_slice(),
            caller.account.as_str().as_bytes(),
            req.retiring_principal.as_bytes(),
        ]
        .concat();
        let after = self.markers.read_text(&scope, req.marker.as_deref())?;
        let mut page = self.store.begin()?.grants_retirable_by(
            &caller.account,
            &req.retiring_principal,
            after.as_deref(),
            limit + 1,
        )?;
        let (next_marker, truncated) = self
            .markers
            .page(&scope, &mut page, limit, |x| x.grant_id.as_bytes());
        Ok(ListGrantsResponse {
            grants: page
                .into_iter()
                .map(|g| {
                    let arn = self.key_arn(&g.account, &g.key_id);
                    entry(&arn, g)
                })
                .collect(),
            next_marker,
            truncated,
        })
    }

    /// Retires a grant, by its token or by key ARN and grant id. Allowed to the grant's retiring
    /// principal, to its grantee when the grant allows RetireGrant, and to the root of the
    /// account that created it.
    pub(crate) fn retire_grant_op(
        &self,
        caller: &Caller,
        req: RetireGrantRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let (grant_id, key_id) = match (&req.grant_token, &req.key_id, &req.grant_id) {
            (Some(token), _, _) => self
                .grant_tokens
                .verify(token)
                .map_err(|_| Error::invalid_grant_token("The grant token is not valid."))?,
            (None, Some(key), Some(id)) => {
                let (_, key_id) = self.resolve_id(caller, key, Operation::RetireGrant)?;
                (id.clone(), key_id)
            }
            _ => {
                return Err(Error::validation(
                    "Specify a GrantToken, or a KeyId and GrantId.",
                ))
            }
        };
        let mut txn = self.store.begin()?;
        let grant = txn.grant(&key_id, &grant_id)?;
        // Charged whether or not the grant exists; then the grant's own rule decides.
        let gate = Gate::default().authority(Authority::Retiring(grant.as_ref()));
        self.admit_without_key(call, caller, gate)?;
        if grant.is_none() {
            return Err(Error::not_found(format!(
                "Grant {grant_id} does not exist."
            )));
        }
        if req.dry_run {
            return Err(Error::dry_run(
                "The request would have succeeded, but the DryRun flag is set.",
            ));
        }
        txn.delete_grant(&key_id, &grant_id)?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_key(&key_id);
        Ok(())
    }

    /// Revokes a grant; the caller needs kms:RevokeGrant on the key.
    pub(crate) fn revoke_grant_op(
        &self,
        caller: &Caller,
        req: RevokeGrantRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        if req.grant_id.is_empty() || req.grant_id.len() > 128 {
            return Err(Error::invalid_grant_id("The grant id is not valid."));
        }
        let key = self.admit(call, caller, Gate::default(), Target::Named(&req.key_id))?;
        let id = key.record.key_id;
        let mut txn = self.store.begin()?;
        if txn.grant(&id, &req.grant_id)?.is_none() {
            return Err(Error::not_found(format!(
                "Grant {} does not exist.",
                req.grant_id
            )));
        }
        if req.dry_run {
            return Err(Error::dry_run(
                "The request would have succeeded, but the DryRun flag is set.",
            ));
        }
        txn.delete_grant(&id, &req.grant_id)?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_key(&id);
        Ok(())
    }
}

/// A grant may allow only operations its key supports (AWS: "if the grant allows an operation
/// that the KMS key does not support, CreateGrant fails with a ValidationException"): each
/// cryptographic operation needs its key usage (and data keys a symmetric encryption key,
/// GetPublicKey an asymmetric key); CreateGrant, RetireGrant and DescribeKey fit every key.
fn check_operations_fit_key(
    key: &coffer_keys::KeyRecord,
    operations: &[GrantOperation],
) -> Result<(), Error> {
    use coffer_keys::KeyUsage as U;
    use GrantOperation as G;
    let symmetric = key.key_spec == KeySpec::SymmetricDefault;
    let usage = key.key_usage;
    let fits = |op: &GrantOperation| match op {
        G::CreateGrant | G::RetireGrant | G::DescribeKey => true,
        G::GenerateMac | G::VerifyMac => usage == U::GenerateVerifyMac,
        G::Sign | G::Verify => usage == U::SignVerify,
        G::DeriveSharedSecret => usage == U::KeyAgreement,
        G::Encapsulate | G::Decapsulate => usage == U::EncapsulateDecapsulate,
        G::GetPublicKey => key.key_spec.asymmetric().is_some(),
        G::Encrypt | G::Decrypt | G::ReEncryptFrom | G::ReEncryptTo => usage == U::EncryptDecrypt,
        _ => symmetric,
    };
    let misfits: Vec<&str> = operations
        .iter()
        .filter(|op| !fits(op))
        .map(|op| op.as_str())
        .collect();
    if misfits.is_empty() {
        return Ok(());
    }
    Err(Error::validation(format!(
        "Grant operations [{}] are not supported by {} (key spec {}, key usage {}).",
        misfits.join(", "),
        key.arn(),
        key.key_spec,
        key.key_usage
    )))
}
