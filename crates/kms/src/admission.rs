//! Admission: the one path by which every operation is let in, or refused, before it acts.
//!
//! [`Kms::admit`] (an operation on a key) and [`Kms::admit_without_key`] (an operation on no
//! key, or on a resource that is not a key) take these steps, in the order AWS-visible
//! behaviour depends on:
//!
//! 1. **Resolve** the key the request names, as the operation accepts references
//!    ([`Operation::key_references`](crate::Operation::key_references): alias names and alias ARNs only where AWS takes them), and
//!    load it. A key or alias that does not exist is NotFoundException, before anything is
//!    charged.
//! 2. **Charge** the caller's account one request of the operation's quota class
//!    ([`QuotaClass::for_operation`]) — once per call, at its first admission, and before any
//!    policy is evaluated, so that floods of refused calls are throttled too.
//! 3. **Refuse cross-account use** of a key where the operation cannot cross accounts
//!    ([`Operation::may_cross_account`](crate::Operation::may_cross_account)), whatever the policies say.
//! 4. **Authorize** ([`Authority`]): the key policy, the identity policies it delegates to and
//!    the key's grants; identity policies alone for actions on no key and on aliases. The request
//!    context has `kms:RequestAlias` whenever the key was named by an alias name or alias ARN.
//! 5. **Check the key's state** for the operation ([`CheckState`]).
//!
//! The key is recorded on the [`Call`] (the audit record's `resources`) once resolved; a refusal
//! records the resource refused and why on the call (the record's `additionalEventData`), and
//! the caller is told neither.

use std::sync::Arc;

use coffer_core::KeyId;
use coffer_grants::Grant;
use coffer_quota::QuotaClass;

use crate::audit::{Admitted, Call};
use crate::authz::{access_denied, Access, Action, Verdict};
use crate::kms::CachedKey;
use crate::{Caller, CheckState, Error, Kms};

/// The key a request names.
pub(crate) enum Target<'a> {
    /// A `KeyId` field: a key id, key ARN, alias name or alias ARN, as the operation accepts.
    Named(&'a str),
    /// The key a ciphertext blob names: found in whichever account holds it (authorization
    /// decides whether the caller may use it). `expected`, the request's own `KeyId` if it gave
    /// one, must resolve to the same key (IncorrectKeyException otherwise).
    Blob {
        /// The key id in the blob.
        key_id: KeyId,
        /// The request's `KeyId`, if any.
        expected: Option<&'a str>,
    },
    /// A key resolved before this admission (ReEncrypt's destination, resolved early for
    /// `kms:ReEncryptOnSameKey`; the key an alias points at), with the reference the request
    /// named it by, if it named it.
    Loaded(Arc<CachedKey>, Option<&'a str>),
}

/// Whose word admits a call.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Authority<'a> {
    /// On a key: its key policy, the caller's identity policies where the key policy delegates
    /// to them, and the key's grants. On no key: the caller's identity policies on `*` (the
    /// account root is allowed unless denied).
    Policies,
    /// The caller's identity policies alone, on `resource`: IAM-only permissions (ListAliases,
    /// on `*`) and the alias half of CreateAlias, UpdateAlias and DeleteAlias (on the alias
    /// ARN). The account root is allowed unless denied.
    Identity(&'a str),
    /// RetireGrant: the grant's own rule (its retiring principal, its grantee where it allows
    /// RetireGrant, the account that issued it); no policy has a say. `None`: there is no such
    /// grant; the call is charged and the operation reports NotFoundException.
    Retiring(Option<&'a Grant>),
}

/// What a call is admitted to do: the action authorized, by whom, with what the request tells
/// the policies. The operation is the call's own ([`Call::op`]): it decides resolution, quota
/// class, cross-account use and the key-state row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gate<'a> {
    action: Option<Action>,
    authority: Authority<'a>,
    access: Access<'a>,
    state: bool,
    quota_spec: Option<&'a str>,
}

impl Default for Gate<'_> {
    fn default() -> Self {
        Self {
            action: None,
            authority: Authority::Policies,
            access: Access::default(),
            state: true,
            quota_spec: None,
        }
    }
}

impl<'a> Gate<'a> {
    /// A gate with what the request tells authorization.
    pub(crate) fn with(access: Access<'a>) -> Self {
        Self {
            access,
            ..Self::default()
        }
    }

    /// Authorizes `action` instead of the operation's own (ReEncrypt's two halves).
    pub(crate) fn action(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }

    /// The spec the quota class is chosen by, instead of the key's: GenerateDataKeyPair draws
    /// from the class of the pair it makes.
    pub(crate) fn quota_spec(mut self, spec: &'a str) -> Self {
        self.quota_spec = Some(spec);
        self
    }

    /// Authorized by `authority` instead of the policies.
    pub(crate) fn authority(mut self, authority: Authority<'a>) -> Self {
        self.authority = authority;
        self
    }

    /// The key's state is not checked here: the operation checks it on the record it reads in
    /// its transaction (`change_key`), or the key is one the request does not act on (the key an
    /// alias points away from).
    pub(crate) fn state_checked_elsewhere(mut self) -> Self {
        self.state = false;
        self
    }
}

impl Kms {
    /// Admits `caller` to the call's operation on the key `target` names: resolves, charges,
    /// refuses cross-account use, authorizes and checks state (see the module documentation).
    pub(crate) fn admit<'c>(
        &self,
        call: &'c Call<'_>,
        caller: &Caller,
        gate: Gate<'_>,
        target: Target<'_>,
    ) -> Result<Admitted<'c>, Error> {
        let op = call.op();
        let (key, reference) = match target {
            Target::Named(key_id) => (self.resolve_key(caller, key_id, op)?, Some(key_id)),
            Target::Blob { key_id, expected } => {
                if let Some(expected) = expected {
                    let (_, id) = self.resolve_id(caller, expected, op)?;
                    if id != key_id {
                        return Err(Error::incorrect_key(
                            "The key ID in the request does not identify a CMK that can perform this operation.",
                        ));
                    }
                }
                let key = self
                    .load(&key_id)?
                    .ok_or_else(|| self.key_not_found(&caller.account, &key_id))?;
                (key, expected)
            }
            Target::Loaded(key, reference) => (key, reference),
        };
        call.resource(&key.arn, &key.record.account);
        self.decide(call, caller, gate, Some((&key, reference)))?;
        Ok(call.hold(key))
    }

    /// Admits `caller` to the call's operation on no key ([`Authority::Policies`]: identity
    /// policies on `*`), on an alias ([`Authority::Identity`]) or on a grant
    /// ([`Authority::Retiring`]): charges and authorizes.
    pub(crate) fn admit_without_key(
        &self,
        call: &Call<'_>,
        caller: &Caller,
        gate: Gate<'_>,
    ) -> Result<(), Error> {
        self.decide(call, caller, gate, None)
    }

    /// Steps 2 to 5 of admission, on a resolved key (with the reference that named it) or none.
    fn decide<'a>(
        &self,
        call: &Call<'_>,
        caller: &Caller,
        mut gate: Gate<'a>,
        key: Option<(&CachedKey, Option<&'a str>)>,
    ) -> Result<(), Error> {
        let op = call.op();
        let action = gate.action.unwrap_or(Action::Op(op));
        // The call's one clock reading serves the quota and the policies' aws:CurrentTime.
        let now = call.at();
        if call.first_charge() {
            let spec = gate
                .quota_spec
                .or_else(|| key.map(|(k, _)| k.record.key_spec.as_str()));
            let class = QuotaClass::for_operation(op, spec);
            self.quotas
                .check_since_epoch(&caller.account, class, call.since_epoch())
                .map_err(|t| Error::throttling(t.to_string()))?;
        }
        if let Some((k, _)) = key {
            if k.record.account != caller.account && !op.may_cross_account() {
                let why = format!(
                    "{} cannot be called on a key of another account ({}), whatever its policies say",
                    op.as_str(),
                    k.record.account
                );
                return Err(refuse(call, caller, action, &k.arn, why));
            }
        }
        // Completed in place: `Access` is ~40 words, and a copy of it per call is measurable.
        gate.access.now = Some(now);
        gate.access.request_alias = key.and_then(|(_, r)| r).and_then(request_alias);
        let access = &gate.access;
        match (gate.authority, key) {
            (Authority::Policies, Some((k, _))) => {
                if let Verdict::Deny(why) = self.authorize(caller, action, k, access)? {
                    return Err(refuse(call, caller, action, &k.arn, why));
                }
            }
            (Authority::Policies, None) => {
                if let Verdict::Deny(why) =
                    self.authorize_identity(caller, action.iam(), "*", access)
                {
                    return Err(refuse(call, caller, action, "*", why));
                }
            }
            (Authority::Identity(resource), _) => {
                if let Verdict::Deny(why) =
                    self.authorize_identity(caller, action.iam(), resource, access)
                {
                    return Err(refuse(call, caller, action, resource, why));
                }
            }
            (Authority::Retiring(grant), _) => {
                if let Some(g) = grant {
                    let arn = self.key_arn(&g.account, &g.key_id);
                    call.resource(&arn, &g.account);
                    if self.authorization && !g.retirable_by(&caller.principal_arn) {
                        let why = "the caller is not the grant's retiring principal, nor its grantee with RetireGrant, nor the account that issued it".to_owned();
                        return Err(refuse(call, caller, action, &arn, why));
                    }
                }
            }
        }
        if gate.state {
            if let Some((k, _)) = key {
                // A key in a custom key store that is not connected cannot be used (AWS's
                // Unavailable); it can still be managed.
                let state = if op.key_state_row() == coffer_core::KeyStateRow::Use {
                    self.effective_state(&k.record)
                } else {
                    k.record.state
                };
                op.check_state(state, &k.arn)?;
            }
        }
        Ok(())
    }
}

/// The refusal the caller sees (AccessDeniedException naming principal, action and resource),
/// with the resource and why recorded on the call.
fn refuse(call: &Call<'_>, caller: &Caller, action: Action, resource: &str, why: String) -> Error {
    call.denied(resource, Some(why));
    access_denied(caller, action.iam(), resource)
}

/// The alias a key reference names, for `kms:RequestAlias`: `alias/…` of an alias name or an
/// alias ARN; `None` for a key id or key ARN.
pub(crate) fn request_alias(key_id: &str) -> Option<&str> {
    if key_id.starts_with(coffer_core::ALIAS_PREFIX) {
        Some(key_id)
    } else if key_id.starts_with("arn:") {
        key_id.find(":alias/").and_then(|i| key_id.get(i + 1..))
    } else {
        None
    }
}
