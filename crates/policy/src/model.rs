//! The compiled policy: statements with their patterns and conditions ready to evaluate.

use crate::condition::Condition;
use crate::context::{is_account_id, RequestContext};
use crate::glob::Pattern;

/// The largest policy document accepted, in bytes (AWS: 32 KB).
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// A statement's `Effect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

impl Effect {
    /// `"Allow"` or `"Deny"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        }
    }
}

/// One entry of an `"AWS"` principal list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AwsPrincipal {
    /// `"*"`.
    Any,
    /// `"111122223333"` or `"arn:aws:iam::111122223333:root"`: the whole account.
    Account(String),
    /// Any other ARN: that principal exactly (a role also matches its sessions).
    Arn(String),
}

/// A `Principal` or `NotPrincipal` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrincipalElem {
    pub(crate) negated: bool,
    /// Written as the bare string `"*"`.
    pub(crate) star: bool,
    /// `"AWS"` entries: as written, and compiled.
    pub(crate) aws_raw: Vec<String>,
    pub(crate) aws: Vec<AwsPrincipal>,
    /// `"Service"` entries.
    pub(crate) service: Vec<String>,
}

/// How a statement's principal matched the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalMatch {
    /// The caller itself, `*`, a service principal, a `NotPrincipal` that excludes it, or (in an
    /// identity policy) the implied principal.
    Direct,
    /// The caller's account, by `"111122223333"` or `"arn:aws:iam::111122223333:root"`. In a key
    /// policy this delegates to the account's identity policies.
    AccountRoot,
}

/// Whether `caller` is a session of the role named by `role_arn`:
/// `arn:P:iam::A:role/path/Name` matches `arn:P:sts::A:assumed-role/Name/session`.
fn role_session_matches(role_arn: &str, caller: &str) -> bool {
    let mut r = role_arn.splitn(6, ':');
    let mut c = caller.splitn(6, ':');
    let (Some("arn"), Some(rp), Some("iam"), Some(""), Some(ra), Some(rres)) =
        (r.next(), r.next(), r.next(), r.next(), r.next(), r.next())
    else {
        return false;
    };
    let (Some("arn"), Some(cp), Some("sts"), Some(""), Some(ca), Some(cres)) =
        (c.next(), c.next(), c.next(), c.next(), c.next(), c.next())
    else {
        return false;
    };
    let Some(role_path) = rres.strip_prefix("role/") else {
        return false;
    };
    let role_name = role_path.rsplit('/').next().unwrap_or(role_path);
    let Some(session) = cres.strip_prefix("assumed-role/") else {
        return false;
    };
    let mut sp = session.splitn(2, '/');
    rp == cp && ra == ca && sp.next() == Some(role_name) && sp.next().is_some_and(|s| !s.is_empty())
}

impl PrincipalElem {
    fn positive(&self, ctx: &RequestContext<'_>) -> Option<PrincipalMatch> {
        if self.star {
            return Some(PrincipalMatch::Direct);
        }
        let mut best = None;
        for p in &self.aws {
            match p {
                AwsPrincipal::Any => return Some(PrincipalMatch::Direct),
                AwsPrincipal::Arn(a) => {
                    if !ctx.principal_arn.is_empty()
                        && (a == ctx.principal_arn || role_session_matches(a, ctx.principal_arn))
                    {
                        return Some(PrincipalMatch::Direct);
                    }
                }
                AwsPrincipal::Account(acct) => {
                    if is_account_id(ctx.principal_account) && acct == ctx.principal_account {
                        best = Some(PrincipalMatch::AccountRoot);
                    }
                }
            }
        }
        if let Some(svc) = ctx.principal_service {
            if self.service.iter().any(|s| s == svc) {
                return Some(PrincipalMatch::Direct);
            }
        }
        best
    }

    pub(crate) fn matches(&self, ctx: &RequestContext<'_>) -> Option<PrincipalMatch> {
        let m = self.positive(ctx);
        if self.negated {
            match m {
                Some(_) => None,
                None => Some(PrincipalMatch::Direct),
            }
        } else {
            m
        }
    }

    /// Whether this (non-negated) element names `account`'s root.
    pub(crate) fn names_account(&self, account: &str) -> bool {
        !self.negated
            && self
                .aws
                .iter()
                .any(|p| matches!(p, AwsPrincipal::Account(a) if a == account))
    }
}

/// `Action` / `NotAction` or `Resource` / `NotResource`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MatchList {
    pub(crate) negated: bool,
    pub(crate) raw: Vec<String>,
    pub(crate) patterns: Vec<Pattern>,
    /// Whether matching ignores ASCII case (actions).
    pub(crate) fold: bool,
}

impl MatchList {
    pub(crate) fn new(negated: bool, raw: Vec<String>, fold: bool) -> Self {
        let patterns = raw.iter().map(|s| Pattern::new(s, fold)).collect();
        Self {
            negated,
            raw,
            patterns,
            fold,
        }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(text, self.fold)) != self.negated
    }
}

/// One statement.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<PrincipalElem>,
    pub(crate) action: MatchList,
    pub(crate) resource: MatchList,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    /// Whether the statement applies to the request, and how its principal matched.
    pub(crate) fn applies(&self, ctx: &RequestContext<'_>) -> Option<PrincipalMatch> {
        if !self.action.matches(ctx.action) || !self.resource.matches(ctx.resource) {
            return None;
        }
        let m = match &self.principal {
            None => PrincipalMatch::Direct,
            Some(p) => p.matches(ctx)?,
        };
        self.conditions.iter().all(|c| c.holds(ctx)).then_some(m)
    }
}

/// A parsed, validated and compiled policy document.
///
/// Build one with [`Policy::parse`], [`Policy::parse_key_policy`],
/// [`Policy::parse_identity_policy`] or [`default_key_policy`](crate::default_key_policy);
/// evaluate with [`Policy::evaluate`]; write it back with [`Policy::to_json`].
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub(crate) version: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    /// The `Version` element, if present.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The `Id` element, if present.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Number of statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether there are no statements (never true of a parsed policy).
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Whether no statement has a `Condition`. Then the policy's decision on a request depends
    /// on nothing but the action, the resource and the principal (its ARN, account and service
    /// principal): the facade may remember an allow by those alone.
    pub fn is_condition_free(&self) -> bool {
        self.statements.iter().all(|s| s.conditions.is_empty())
    }

    /// The `Sid` of each statement, in order.
    pub fn sids(&self) -> impl ExactSizeIterator<Item = Option<&str>> {
        self.statements.iter().map(|s| s.sid.as_deref())
    }

    /// The `Effect` of each statement, in order.
    pub fn effects(&self) -> impl ExactSizeIterator<Item = Effect> + '_ {
        self.statements.iter().map(|s| s.effect)
    }
}
