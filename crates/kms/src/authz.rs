//! Authorization: the key policy, the caller's identity policies and (with grants) what the
//! caller holds, evaluated as AWS KMS does. These functions decide; admission
//! (`crate::admission`) calls them and turns a [`Verdict::Deny`] into the refusal the caller sees
//! (which says nothing of why) and the denial the call's audit record carries (which says why).

use std::collections::BTreeMap;

use coffer_core::{AccountId, EncryptionContext};
use coffer_grants::{GrantConstraints, GrantOperation};
use coffer_policy::{Authorization, Decision, PolicySource, Reason, RequestContext, StatementRef};
use std::sync::OnceLock;

use crate::kms::CachedKey;
use crate::{Caller, Error, Kms, Operation};

/// What is authorized on a key: an operation's action, or one half of ReEncrypt (which AWS
/// authorizes as `kms:ReEncryptFrom` on the source key and `kms:ReEncryptTo` on the destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// The operation's own action, `kms:<name>`.
    Op(Operation),
    /// `kms:ReEncryptFrom`, on ReEncrypt's source key.
    ReEncryptFrom,
    /// `kms:ReEncryptTo`, on ReEncrypt's destination key.
    ReEncryptTo,
}

impl Action {
    /// The IAM action.
    pub(crate) const fn iam(self) -> &'static str {
        match self {
            Self::Op(op) => op.action(),
            Self::ReEncryptFrom => "kms:ReEncryptFrom",
            Self::ReEncryptTo => "kms:ReEncryptTo",
        }
    }

    /// The grant operation that may allow it.
    pub(crate) const fn grant_operation(self) -> Option<GrantOperation> {
        match self {
            Self::Op(op) => GrantOperation::for_operation(op),
            Self::ReEncryptFrom => Some(GrantOperation::ReEncryptFrom),
            Self::ReEncryptTo => Some(GrantOperation::ReEncryptTo),
        }
    }
}

impl From<Operation> for Action {
    fn from(op: Operation) -> Self {
        Self::Op(op)
    }
}

/// What a request tells authorization besides who calls and which key.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Access<'a> {
    /// `kms:EncryptionContext:<key>`, `kms:EncryptionContextKeys`.
    pub(crate) encryption_context: Option<&'a EncryptionContext>,
    /// `kms:RequestAlias`.
    pub(crate) request_alias: Option<&'a str>,
    /// `kms:EncryptionAlgorithm`.
    pub(crate) encryption_algorithm: Option<&'a str>,
    /// `kms:SigningAlgorithm`.
    pub(crate) signing_algorithm: Option<&'a str>,
    /// `kms:MessageType`.
    pub(crate) message_type: Option<&'a str>,
    /// `aws:RequestTag/<key>`, `aws:TagKeys`.
    pub(crate) request_tags: Option<&'a BTreeMap<String, String>>,
    /// `aws:TagKeys` of a request that names tag keys alone (UntagResource).
    pub(crate) tag_keys: Option<&'a [String]>,
    /// `kms:KeySpec` etc. of a key being created.
    pub(crate) key_spec: Option<&'a str>,
    /// `kms:KeyUsage` of a key being created.
    pub(crate) key_usage: Option<&'a str>,
    /// `kms:KeyOrigin` of a key being created.
    pub(crate) key_origin: Option<&'a str>,
    /// `kms:MultiRegion` of a key being created.
    pub(crate) multi_region: Option<bool>,
    /// Grant tokens sent with the request: each must be one this service minted.
    pub(crate) grant_tokens: &'a [String],
    /// `kms:GrantOperations` of a CreateGrant request.
    pub(crate) grant_operations: Option<&'a [String]>,
    /// What a CreateGrant asks to give (operations and constraints): a grant of the caller's
    /// may allow it only if it allows CreateGrant and covers all of it.
    pub(crate) grant_request: Option<GrantRequest<'a>>,
    /// Other condition keys of the request (`kms:GranteePrincipal`,
    /// `kms:ScheduleKeyDeletionPendingWindowInDays`, ...).
    pub(crate) extra: &'a [(&'a str, &'a str)],
    /// The time the request was read at (`aws:CurrentTime`), when already known.
    pub(crate) now: Option<std::time::SystemTime>,
}

/// What a CreateGrant request would pass on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GrantRequest<'a> {
    /// The grant operations asked for.
    pub(crate) operations: &'a [GrantOperation],
    /// The constraints asked for.
    pub(crate) constraints: Option<&'a GrantConstraints>,
}

/// What authorization decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Allowed.
    Allow,
    /// Refused, and why in words: for the audit record, never for the caller.
    Deny(String),
}

/// How many allows one key entry remembers. A full memo remembers nothing more (later callers
/// are decided afresh every time) until the entry is replaced.
const MEMO_CAPACITY: usize = 16;

/// One remembered allow: the caller (its identity-policy set, principal and account) may take
/// the action on the key whose entry holds it.
#[derive(Debug)]
struct MemoEntry {
    set: u64,
    account: AccountId,
    action: Action,
    principal: Box<str>,
}

impl MemoEntry {
    fn is(&self, caller: &Caller, action: Action) -> bool {
        self.set == caller.identity_policies.set_id()
            && self.action == action
            && self.account == caller.account
            && *self.principal == *caller.principal_arn
    }
}

/// The authorization decision memo of one cached key: allows the key policy and the caller's
/// identity policies gave, so that the next call with the same inputs skips evaluating them.
///
/// Sound because it is kept only where the decision depends on nothing else:
/// - the key's entry has a memo only if its key policy has no condition, and a caller's allow is
///   looked up or remembered only if its identity policies have none
///   ([`IdentityPolicies::condition_free`](crate::IdentityPolicies)). A condition-free
///   statement reads the action, the resource (this key's ARN), and the principal's ARN, account
///   and service principal (which the facade never sets); [`coffer_policy::authorize`] reads
///   the key's account besides. Tags, aliases, encryption context, request alias, source IP,
///   transport, `kms:ViaService`, time, region and every other condition key are read only by
///   conditions;
/// - the entry is keyed by the identity-policy set id (a counter: a changed set has a new one),
///   the principal ARN, the account and the action; the key's own inputs (policy, account,
///   ARN) belong to the entry, which any change to the key replaces;
/// - only allows are remembered: an explicit or implicit deny is decided afresh every time,
///   and an allow means no statement of these policies denies these inputs. Grants are
///   consulted only where no policy allows, so an allow never skips them; grant tokens are
///   verified on every call.
///
/// Write-once slots, allocated at the first allow: a lookup is plain loads (no lock, no
/// read-modify-write on the hot path).
#[derive(Debug, Default)]
pub(crate) struct AllowMemo {
    slots: OnceLock<Box<[OnceLock<MemoEntry>; MEMO_CAPACITY]>>,
}

impl AllowMemo {
    /// Whether an allow of `action` to `caller` is remembered.
    fn allows(&self, caller: &Caller, action: Action) -> bool {
        self.slots.get().is_some_and(|slots| {
            slots
                .iter()
                .map_while(OnceLock::get)
                .any(|e| e.is(caller, action))
        })
    }

    /// Remembers an allow of `action` to `caller`, in the first free slot (none: not at all).
    fn remember(&self, caller: &Caller, action: Action) {
        let slots = self.slots.get_or_init(Box::default);
        for slot in slots.iter() {
            match slot.get() {
                Some(e) if e.is(caller, action) => return,
                Some(_) => continue,
                None => {}
            }
            let entry = MemoEntry {
                set: caller.identity_policies.set_id(),
                account: caller.account,
                action,
                principal: caller.principal_arn.as_str().into(),
            };
            // Another thread may have filled the slot meanwhile: then look further.
            match slot.set(entry) {
                Ok(()) => return,
                Err(_) if slot.get().is_some_and(|e| e.is(caller, action)) => return,
                Err(_) => {}
            }
        }
    }

    /// How many allows are remembered (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots
            .get()
            .map_or(0, |s| s.iter().map_while(OnceLock::get).count())
    }
}

impl Kms {
    pub(crate) fn context<'a>(
        &'a self,
        caller: &'a Caller,
        action: &'a str,
        resource: &'a str,
        access: &Access<'a>,
    ) -> RequestContext<'a> {
        let mut ctx = RequestContext::new(
            action,
            resource,
            &caller.principal_arn,
            caller.account.as_str(),
        );
        if !caller.tags.is_empty() {
            ctx.principal_tags = Some(&caller.tags);
        }
        ctx.encryption_context = access.encryption_context;
        ctx.request_alias = access.request_alias;
        ctx.encryption_algorithm = access.encryption_algorithm;
        ctx.request_tags = access.request_tags;
        ctx.key_spec = access.key_spec;
        ctx.key_usage = access.key_usage;
        ctx.key_origin = access.key_origin;
        ctx.multi_region = access.multi_region;
        ctx.grant_operations = access.grant_operations;
        ctx.extra = access.extra;
        ctx.signing_algorithm = access.signing_algorithm;
        ctx.message_type = access.message_type;
        ctx.source_ip = caller.source_ip;
        ctx.secure_transport = Some(caller.secure_transport);
        ctx.via_service = caller.via_service.as_deref();
        ctx.current_time = Some(access.now.unwrap_or_else(|| self.clock.now()));
        ctx.requested_region = Some(self.region.as_str());
        // kms:GrantIsForAWSResource: set for the grant operations AWS names, true when a
        // trusted integration calls on the principal's behalf.
        let grant_actions = [
            Operation::CreateGrant.action(),
            Operation::ListGrants.action(),
            Operation::RevokeGrant.action(),
        ];
        if grant_actions.contains(&action) {
            ctx.grant_is_for_aws_resource = Some(caller.via_service.is_some());
        }
        ctx.tag_keys = access.tag_keys;
        ctx
    }

    /// Authorizes `action` on `key`: an explicit deny anywhere wins; the key policy must allow,
    /// directly or by naming the account (which delegates to the caller's identity policies); a
    /// caller of another account needs both. Where no policy allows and none denies, a grant of
    /// the caller's may. `Err` only for a grant token this service did not mint.
    pub(crate) fn authorize(
        &self,
        caller: &Caller,
        action: Action,
        key: &CachedKey,
        access: &Access<'_>,
    ) -> Result<Verdict, Error> {
        if !self.authorization {
            return Ok(Verdict::Allow);
        }
        for t in access.grant_tokens {
            self.grant_tokens
                .verify(t)
                .map_err(|_| Error::invalid_grant_token("The grant token is not valid."))?;
        }
        // Where every policy is condition-free, an allow already decided for these inputs
        // stands (see `AllowMemo`).
        let memo = key
            .memo
            .as_ref()
            .filter(|_| caller.identity_policies.condition_free());
        if memo.is_some_and(|m| m.allows(caller, action)) {
            return Ok(Verdict::Allow);
        }
        let iam = action.iam();
        let (decision, why) = self.policy_authorization(caller, iam, key, access);
        let why = why.unwrap_or_default();
        Ok(match decision {
            Decision::Allow => {
                if let Some(m) = memo {
                    m.remember(caller, action);
                }
                Verdict::Allow
            }
            Decision::ExplicitDeny => Verdict::Deny(why),
            _ => {
                // No policy allows and none denies: a grant may.
                let granted = action.grant_operation().is_some_and(|op| {
                    key.grants.get(&caller.principal_arn).is_some_and(|gs| {
                        gs.iter().any(|g| match access.grant_request {
                            // A grantee may pass on no more than its own grant gives.
                            Some(asked) => {
                                g.operations.contains(&op)
                                    && g.covers(asked.operations, asked.constraints)
                            }
                            None => g.allows(op, &caller.principal_arn, access.encryption_context),
                        })
                    })
                });
                if granted {
                    Verdict::Allow
                } else {
                    Verdict::Deny(format!("{why}; no grant allows {iam} to the caller"))
                }
            }
        })
    }

    /// Evaluates key and identity policies (grants aside): the decision and, unless it allows,
    /// why in words for the audit record (which statement of which policy denied, or what
    /// allowed nothing); an allowed call, the common one, builds no text.
    fn policy_authorization(
        &self,
        caller: &Caller,
        action: &str,
        key: &CachedKey,
        access: &Access<'_>,
    ) -> (Decision, Option<String>) {
        // kms:MultiRegionKeyType, on operations on a multi-Region key (an allocation only for
        // those keys).
        let mut with_type: Vec<(&str, &str)> = Vec::new();
        if key.record.multi_region.is_some() {
            with_type.extend_from_slice(access.extra);
            let kind = if key.record.is_primary() {
                "PRIMARY"
            } else {
                "REPLICA"
            };
            with_type.push(("kms:MultiRegionKeyType", kind));
        }
        let mut ctx = self.context(caller, action, &key.arn, access);
        if !with_type.is_empty() {
            ctx.extra = &with_type;
        }
        ctx.resource_tags = Some(&key.tags);
        ctx.key_spec = Some(key.record.key_spec.as_str());
        ctx.key_usage = Some(key.record.key_usage.as_str());
        ctx.key_origin = Some(key.record.origin.as_str());
        ctx.resource_aliases = Some(&key.aliases);
        ctx.multi_region = Some(key.record.multi_region.is_some());
        let auth = coffer_policy::authorize(
            &key.policy,
            key.record.account.as_str(),
            caller.identity_policies.iter().map(|p| &**p),
            &ctx,
        );
        let why = (auth.decision != Decision::Allow).then(|| explain(&auth, action));
        (auth.decision, why)
    }

    /// Authorizes `action` on `resource` by the caller's identity policies alone: actions on no
    /// key (CreateKey, ListKeys, GenerateRandom, ...; resource `*`), IAM-only permissions
    /// (ListAliases), and the alias half of CreateAlias, UpdateAlias and DeleteAlias (resource:
    /// the alias ARN; aliases have no resource policy). The account's root principal is allowed
    /// unless denied.
    pub(crate) fn authorize_identity(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        access: &Access<'_>,
    ) -> Verdict {
        if !self.authorization {
            return Verdict::Allow;
        }
        let ctx = self.context(caller, action, resource, access);
        match identity_evaluation(caller, &ctx) {
            (Decision::ExplicitDeny, by) => Verdict::Deny(match by {
                Some((i, st)) => format!("explicit deny: identity policy {i}, {st}"),
                None => "explicit deny in an identity policy".to_owned(),
            }),
            (Decision::Allow, _) => Verdict::Allow,
            _ if caller.is_account_root() => Verdict::Allow,
            _ => Verdict::Deny(format!("no identity policy allows {action}")),
        }
    }
}

/// The caller's identity policies on `ctx`: an explicit deny in any wins, else one allow
/// allows, else implicit deny.
pub(crate) fn identity_decision(caller: &Caller, ctx: &RequestContext<'_>) -> Decision {
    identity_evaluation(caller, ctx).0
}

/// [`identity_decision`] and, for an explicit deny, the policy (its index) and statement that
/// denied, in words.
fn identity_evaluation(
    caller: &Caller,
    ctx: &RequestContext<'_>,
) -> (Decision, Option<(usize, String)>) {
    let mut decision = Decision::ImplicitDeny;
    for (i, p) in caller.identity_policies.iter().enumerate() {
        let e = p.evaluate(ctx);
        match e.decision {
            Decision::ExplicitDeny => {
                return (
                    Decision::ExplicitDeny,
                    e.statement.map(|st| (i, st.to_string())),
                )
            }
            Decision::Allow => decision = Decision::Allow,
            _ => {}
        }
    }
    (decision, None)
}

/// Why [`coffer_policy::authorize`] decided as it did, in words for the audit record.
fn explain(auth: &Authorization<'_>, action: &str) -> String {
    let by = |(source, st): (PolicySource, StatementRef<'_>)| match source {
        PolicySource::KeyPolicy => format!("the key policy, {st}"),
        PolicySource::IdentityPolicy(i) => format!("identity policy {i}, {st}"),
    };
    match auth.reason {
        Reason::ExplicitDeny => match auth.decided_by {
            Some(d) => format!("explicit deny: {}", by(d)),
            None => "explicit deny".to_owned(),
        },
        Reason::KeyPolicyDoesNotAllow => {
            format!("no statement of the key policy allows {action} to the caller")
        }
        Reason::IdentityPolicyDoesNotAllow => format!(
            "the key policy leaves {action} to the caller's identity policies, and none allows it"
        ),
        other => format!("{other:?}"),
    }
}

/// The refusal of `action` on `resource` as the caller sees it: AccessDeniedException naming
/// the principal, action and resource, nothing of why.
pub(crate) fn access_denied(caller: &Caller, action: &str, resource: &str) -> Error {
    Error::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: {resource}",
        caller.principal_arn
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CreateKeyRequest, EncryptRequest};

    const ALLOW: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
    const CONDITIONAL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;

    fn kms() -> Kms {
        Kms::builder()
            .quotas(coffer_quota::QuotaConfig {
                enabled: false,
                ..Default::default()
            })
            .build()
            .unwrap()
    }

    fn encrypt(kms: &Kms, caller: &Caller, key: &str) -> bool {
        kms.encrypt(
            caller,
            EncryptRequest {
                key_id: key.into(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )
        .is_ok()
    }

    fn memo_len(kms: &Kms, key: &str) -> Option<usize> {
        let id: coffer_core::KeyId = key.parse().unwrap();
        kms.load(&id)
            .unwrap()
            .unwrap()
            .memo
            .as_ref()
            .map(AllowMemo::len)
    }

    fn user(name: &str, policy: &str) -> Caller {
        Caller::new(&format!("arn:aws:iam::111122223333:user/{name}"))
            .unwrap()
            .with_identity_policy_json(policy)
            .unwrap()
    }

    #[test]
    fn only_condition_free_allows_are_remembered_and_the_memo_is_bounded() {
        let kms = kms();
        let admin = user("admin", ALLOW);
        let key = kms
            .create_key(&admin, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id;
        assert!(encrypt(&kms, &admin, &key));
        assert_eq!(memo_len(&kms, &key), Some(1));
        // Again: remembered once.
        assert!(encrypt(&kms, &admin, &key));
        assert_eq!(memo_len(&kms, &key), Some(1));
        // An identity policy with a condition: allowed, not remembered.
        let cond = user("cond", CONDITIONAL);
        assert!(encrypt(&kms, &cond, &key));
        assert_eq!(memo_len(&kms, &key), Some(1));
        // A denied caller: nothing remembered.
        let bare = Caller::new("arn:aws:iam::111122223333:user/bare").unwrap();
        assert!(!encrypt(&kms, &bare, &key));
        assert_eq!(memo_len(&kms, &key), Some(1));
        // Many principals: the memo never holds more than its capacity.
        for i in 0..(MEMO_CAPACITY + 10) {
            assert!(encrypt(&kms, &user(&format!("u{i}"), ALLOW), &key));
            assert!(memo_len(&kms, &key).unwrap() <= MEMO_CAPACITY);
        }
    }

    #[test]
    fn a_key_policy_with_a_condition_has_no_memo() {
        let kms = kms();
        let admin = user("admin", ALLOW);
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
        let key = kms
            .create_key(
                &admin,
                CreateKeyRequest {
                    policy: Some(policy.into()),
                    bypass_policy_lockout_safety_check: true,
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata
            .key_id;
        assert!(encrypt(&kms, &admin, &key));
        assert_eq!(memo_len(&kms, &key), None);
        assert!(!encrypt(
            &kms,
            &admin.clone().with_secure_transport(false),
            &key
        ));
    }

    #[test]
    fn a_change_to_the_key_replaces_the_memo() {
        let kms = kms();
        let admin = user("admin", ALLOW);
        let key = kms
            .create_key(&admin, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id;
        assert!(encrypt(&kms, &admin, &key));
        assert_eq!(memo_len(&kms, &key), Some(1));
        kms.update_key_description(
            &admin,
            crate::model::UpdateKeyDescriptionRequest {
                key_id: key.clone(),
                description: "changed".into(),
            },
        )
        .unwrap();
        assert_eq!(memo_len(&kms, &key), Some(0));
    }
}
