//! Evaluation of one policy, and the combination of a key policy with identity policies.

use std::fmt;

use coffer_core::{AccountId, Caller};

use crate::context::RequestContext;
use crate::error::PolicyError;
use crate::model::{Effect, Policy, PrincipalMatch};
use crate::parse::{self, Kind};

/// The outcome of evaluating policies against a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Some statement allows the request and none denies it.
    Allow,
    /// A statement denies the request. Nothing overrides this.
    ExplicitDeny,
    /// No statement applies (the default).
    ImplicitDeny,
}

/// The statement that decided, by position and `Sid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatementRef<'p> {
    /// Index in the policy's `Statement` list, from 0.
    pub index: usize,
    /// Its `Sid`, if it has one.
    pub sid: Option<&'p str>,
}

impl fmt::Display for StatementRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sid {
            Some(sid) if !sid.is_empty() => write!(f, "Statement[{}] (Sid {sid:?})", self.index),
            _ => write!(f, "Statement[{}]", self.index),
        }
    }
}

/// The result of [`Policy::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Evaluation<'p> {
    /// Allow, explicit deny or implicit deny.
    pub decision: Decision,
    /// The deciding statement: a denying one for `ExplicitDeny`, an allowing one for `Allow`
    /// (one whose principal matched [`Direct`](PrincipalMatch::Direct)ly if there is such),
    /// none for `ImplicitDeny`.
    pub statement: Option<StatementRef<'p>>,
    /// For `Allow`: how the allowing statement's principal matched. `AccountRoot` alone means a
    /// key policy delegates the decision to the caller's identity policies.
    pub principal_match: Option<PrincipalMatch>,
}

impl Evaluation<'_> {
    /// Whether the decision is `Allow`.
    pub fn is_allow(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// Whether the policy allows the request only through an account-root principal (the key
    /// policy says "ask the account's IAM").
    pub fn allowed_via_account_root(&self) -> bool {
        self.is_allow() && self.principal_match == Some(PrincipalMatch::AccountRoot)
    }
}

impl Policy {
    /// Parses a policy of either kind: `Principal` is optional, and a statement without one
    /// applies to whoever is asking (as in an identity policy).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        parse::parse(text, Kind::Any)
    }

    /// Parses a key policy: every statement must have `Principal` or `NotPrincipal`.
    pub fn parse_key_policy(text: &str) -> Result<Self, PolicyError> {
        parse::parse(text, Kind::Key)
    }

    /// Parses an identity policy: no statement may have `Principal` or `NotPrincipal`.
    pub fn parse_identity_policy(text: &str) -> Result<Self, PolicyError> {
        parse::parse(text, Kind::Identity)
    }

    /// Evaluates the policy alone against a request: an applicable `Deny` wins, else an
    /// applicable `Allow`, else implicit deny. Statement order never changes the decision.
    /// Allocates nothing unless a condition compares a non-string value (an IP address or a
    /// time) with a string operator.
    pub fn evaluate(&self, ctx: &RequestContext<'_>) -> Evaluation<'_> {
        let mut allow: Option<(usize, PrincipalMatch)> = None;
        for (i, st) in self.statements.iter().enumerate() {
            let Some(m) = st.applies(ctx) else { continue };
            match st.effect {
                Effect::Deny => {
                    return Evaluation {
                        decision: Decision::ExplicitDeny,
                        statement: Some(self.statement_ref(i)),
                        principal_match: Some(m),
                    }
                }
                Effect::Allow => {
                    let better = match allow {
                        None => true,
                        Some((_, prev)) => {
                            prev == PrincipalMatch::AccountRoot && m == PrincipalMatch::Direct
                        }
                    };
                    if better {
                        allow = Some((i, m));
                    }
                }
            }
        }
        match allow {
            Some((i, m)) => Evaluation {
                decision: Decision::Allow,
                statement: Some(self.statement_ref(i)),
                principal_match: Some(m),
            },
            None => Evaluation {
                decision: Decision::ImplicitDeny,
                statement: None,
                principal_match: None,
            },
        }
    }

    fn statement_ref(&self, index: usize) -> StatementRef<'_> {
        StatementRef {
            index,
            sid: self.statements.get(index).and_then(|s| s.sid.as_deref()),
        }
    }

    /// Whether an `Allow` statement names `account`'s root as a principal (`"111122223333"` or
    /// `"arn:aws:iam::111122223333:root"`), delegating to that account's identity policies.
    pub fn names_account_root(&self, account: &AccountId) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.principal
                    .as_ref()
                    .is_some_and(|p| p.names_account(account.as_str()))
        })
    }

    /// The lockout safety check: whether this key policy lets `caller` call `kms:PutKeyPolicy`
    /// on `key_arn`, with nothing else in the request. An allow through the caller's account
    /// root counts (the account's IAM can then grant it).
    pub fn allows_put_key_policy(&self, caller: &Caller, key_arn: &str) -> bool {
        let ctx = RequestContext::for_caller("kms:PutKeyPolicy", key_arn, caller);
        self.evaluate(&ctx).is_allow()
    }
}

/// Which policy decided an [`Authorization`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicySource {
    /// The key policy.
    KeyPolicy,
    /// The identity policy at this index in the list given.
    IdentityPolicy(usize),
}

/// Why [`authorize`] decided as it did (for the audit record; callers see only "access denied").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A statement denied the request.
    ExplicitDeny,
    /// The key policy allows the caller directly (same account).
    KeyPolicyAllows,
    /// The key policy names the caller's account root and an identity policy allows.
    DelegatedToIdentityPolicy,
    /// The key policy names the caller's account root and the caller is that root.
    AccountRootCaller,
    /// Cross-account: the key policy allows the caller's account or the caller, and the caller's
    /// identity policies allow.
    CrossAccountAllowed,
    /// The key policy allows nothing here.
    KeyPolicyDoesNotAllow,
    /// The key policy delegates (or the call is cross-account) but no identity policy allows.
    IdentityPolicyDoesNotAllow,
}

/// The combined outcome of [`authorize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Authorization<'p> {
    /// The decision. A grant may still turn `ImplicitDeny` into allow; nothing turns
    /// `ExplicitDeny`.
    pub decision: Decision,
    /// Why.
    pub reason: Reason,
    /// The statement that decided, if one did.
    pub decided_by: Option<(PolicySource, StatementRef<'p>)>,
    /// The key policy's own evaluation.
    pub key_policy: Evaluation<'p>,
}

impl Authorization<'_> {
    /// Whether the request is allowed.
    pub fn is_allow(&self) -> bool {
        self.decision == Decision::Allow
    }
}

/// Decides a request to use a KMS key, as AWS KMS does:
/// - an explicit deny in the key policy or any identity policy wins;
/// - same account: the key policy must allow the caller directly, or allow the caller's account
///   root, which delegates to the identity policies (one of which must then allow);
/// - another account: the key policy must allow (the caller or its account) *and* an identity
///   policy of the caller must allow.
///
/// The caller's account's root user needs no identity policy. `key_account` is the account that
/// owns the key; `ctx.principal_account` is the caller's.
pub fn authorize<'p, I>(
    key_policy: &'p Policy,
    key_account: &str,
    identity_policies: I,
    ctx: &RequestContext<'_>,
) -> Authorization<'p>
where
    I: IntoIterator<Item = &'p Policy>,
{
    let key_eval = key_policy.evaluate(ctx);
    let result = |decision, reason, decided_by| Authorization {
        decision,
        reason,
        decided_by,
        key_policy: key_eval,
    };
    if key_eval.decision == Decision::ExplicitDeny {
        let by = key_eval.statement.map(|s| (PolicySource::KeyPolicy, s));
        return result(Decision::ExplicitDeny, Reason::ExplicitDeny, by);
    }
    // Identity policies: any deny wins; remember the first allow.
    let mut identity_allow = None;
    for (i, p) in identity_policies.into_iter().enumerate() {
        let e = p.evaluate(ctx);
        match e.decision {
            Decision::ExplicitDeny => {
                let by = e.statement.map(|s| (PolicySource::IdentityPolicy(i), s));
                return result(Decision::ExplicitDeny, Reason::ExplicitDeny, by);
            }
            Decision::Allow if identity_allow.is_none() => {
                identity_allow = e.statement.map(|s| (PolicySource::IdentityPolicy(i), s));
            }
            _ => {}
        }
    }
    if !key_eval.is_allow() {
        return result(Decision::ImplicitDeny, Reason::KeyPolicyDoesNotAllow, None);
    }
    let key_by = key_eval.statement.map(|s| (PolicySource::KeyPolicy, s));
    let same_account = ctx.principal_account == key_account;
    let root = ctx.caller_is_account_root();
    if same_account && key_eval.principal_match == Some(PrincipalMatch::Direct) {
        return result(Decision::Allow, Reason::KeyPolicyAllows, key_by);
    }
    if root {
        return result(Decision::Allow, Reason::AccountRootCaller, key_by);
    }
    match identity_allow {
        Some(by) => {
            let reason = if same_account {
                Reason::DelegatedToIdentityPolicy
            } else {
                Reason::CrossAccountAllowed
            };
            result(Decision::Allow, reason, Some(by))
        }
        None => result(
            Decision::ImplicitDeny,
            Reason::IdentityPolicyDoesNotAllow,
            None,
        ),
    }
}
