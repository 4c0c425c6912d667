//! JSON text → [`Policy`], with validation that says where a fault lies.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::condition::{Condition, Operator, Values};
use crate::context::{is_account_id, root_account_of, KeyRef};
use crate::error::{Location, PolicyError, Problem};
use crate::model::{
    AwsPrincipal, Effect, MatchList, Policy, PrincipalElem, Statement, MAX_POLICY_BYTES,
};

/// Which kind of policy a document must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Either: `Principal` optional.
    Any,
    /// A key policy: every statement names a principal.
    Key,
    /// An identity policy: no statement names a principal.
    Identity,
}

type Result<T> = std::result::Result<T, PolicyError>;

pub(crate) fn parse(text: &str, kind: Kind) -> Result<Policy> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge {
            size: text.len(),
            max: MAX_POLICY_BYTES,
        });
    }
    let v: Value = serde_json::from_str(text).map_err(|e| PolicyError::Json {
        line: e.line(),
        column: e.column(),
        source: e,
    })?;
    // Valid JSON: now refuse repeated members, which `Value` would have silently collapsed.
    serde_json::from_str::<coffer_core::UniqueKeys>(text).map_err(|e| {
        PolicyError::DuplicateMember {
            line: e.line(),
            column: e.column(),
            source: e,
        }
    })?;
    from_value(&v, kind)
}

fn err<T>(at: &Location, p: Problem) -> Result<T> {
    Err(PolicyError::at(at, p))
}

fn string<'v>(at: &Location, v: &'v Value) -> Result<&'v str> {
    v.as_str()
        .map_or_else(|| err(at, Problem::WrongType("a string")), Ok)
}

/// A string or a non-empty list of strings.
fn string_list(at: &Location, v: &Value) -> Result<Vec<String>> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if a.is_empty() => err(at, Problem::Empty),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| string(&at.index(i), x).map(str::to_owned))
            .collect(),
        _ => err(at, Problem::WrongType("a string or a list of strings")),
    }
}

/// A condition value: a string, number or boolean, or a non-empty list of them.
fn scalar_list(at: &Location, v: &Value) -> Result<Vec<String>> {
    fn scalar(at: &Location, v: &Value) -> Result<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => err(at, Problem::WrongType("a string, number or boolean")),
        }
    }
    match v {
        Value::Array(a) if a.is_empty() => err(at, Problem::Empty),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| scalar(&at.index(i), x))
            .collect(),
        other => Ok(vec![scalar(at, other)?]),
    }
}

fn object<'v>(at: &Location, v: &'v Value) -> Result<&'v Map<String, Value>> {
    v.as_object()
        .map_or_else(|| err(at, Problem::WrongType("an object")), Ok)
}

pub(crate) fn from_value(v: &Value, kind: Kind) -> Result<Policy> {
    let root = Location::root();
    let obj = object(&root, v)?;
    let mut version = None;
    let mut id = None;
    let mut statements = None;
    for (k, v) in obj {
        let at = root.field(k);
        match k.as_str() {
            "Version" => {
                let s = string(&at, v)?;
                if s != "2012-10-17" && s != "2008-10-17" {
                    return err(&at, Problem::BadVersion(s.to_owned()));
                }
                version = Some(s.to_owned());
            }
            "Id" => id = Some(string(&at, v)?.to_owned()),
            "Statement" => {
                let list: Vec<Statement> = match v {
                    Value::Array(a) if a.is_empty() => return err(&at, Problem::Empty),
                    Value::Array(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, s)| statement(&at.index(i), s, kind))
                        .collect::<Result<_>>()?,
                    Value::Object(_) => vec![statement(&at, v, kind)?],
                    _ => return err(&at, Problem::WrongType("an object or a list of objects")),
                };
                let mut seen = HashSet::new();
                for (i, s) in list.iter().enumerate() {
                    if let Some(sid) = s.sid.as_deref().filter(|s| !s.is_empty()) {
                        if !seen.insert(sid) {
                            return err(
                                &at.index(i).field("Sid"),
                                Problem::DuplicateSid(sid.to_owned()),
                            );
                        }
                    }
                }
                statements = Some(list);
            }
            other => return err(&root, Problem::UnknownElement(other.to_owned())),
        }
    }
    let statements = match statements {
        Some(s) => s,
        None => return err(&root, Problem::Missing("Statement")),
    };
    Ok(Policy {
        version,
        id,
        statements,
    })
}

fn statement(at: &Location, v: &Value, kind: Kind) -> Result<Statement> {
    let obj = object(at, v)?;
    let mut sid = None;
    let mut effect = None;
    let mut principal: Option<PrincipalElem> = None;
    let mut action: Option<MatchList> = None;
    let mut resource: Option<MatchList> = None;
    let mut conditions = Vec::new();
    for (k, v) in obj {
        let here = at.field(k);
        match k.as_str() {
            "Sid" => sid = Some(string(&here, v)?.to_owned()),
            "Effect" => {
                effect = Some(match v.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    Some(other) => return err(&here, Problem::BadEffect(other.to_owned())),
                    None => return err(&here, Problem::BadEffect(v.to_string())),
                });
            }
            "Principal" | "NotPrincipal" => {
                if principal.is_some() {
                    return err(at, Problem::Conflicting("Principal", "NotPrincipal"));
                }
                if kind == Kind::Identity {
                    return err(&here, Problem::PrincipalForbidden);
                }
                principal = Some(principal_elem(&here, v, k == "NotPrincipal")?);
            }
            "Action" | "NotAction" => {
                if action.is_some() {
                    return err(at, Problem::Conflicting("Action", "NotAction"));
                }
                let raw = string_list(&here, v)?;
                for (i, a) in raw.iter().enumerate() {
                    let ok = a == "*"
                        || a.split_once(':').is_some_and(|(svc, op)| {
                            !svc.is_empty() && !op.is_empty() && !svc.contains(['*', '?'])
                        });
                    if !ok {
                        let loc = if raw.len() == 1 {
                            here.clone()
                        } else {
                            here.index(i)
                        };
                        return err(&loc, Problem::BadAction(a.clone()));
                    }
                }
                action = Some(MatchList::new(k == "NotAction", raw, true));
            }
            "Resource" | "NotResource" => {
                if resource.is_some() {
                    return err(at, Problem::Conflicting("Resource", "NotResource"));
                }
                let raw = string_list(&here, v)?;
                if raw.iter().any(String::is_empty) {
                    return err(&here, Problem::Empty);
                }
                resource = Some(MatchList::new(k == "NotResource", raw, false));
            }
            "Condition" => conditions = condition_block(&here, v)?,
            other => return err(at, Problem::UnknownElement(other.to_owned())),
        }
    }
    let Some(effect) = effect else {
        return err(at, Problem::Missing("Effect"));
    };
    let Some(action) = action else {
        return err(at, Problem::Missing("Action"));
    };
    let Some(resource) = resource else {
        return err(at, Problem::Missing("Resource"));
    };
    if kind == Kind::Key && principal.is_none() {
        return err(at, Problem::PrincipalRequired);
    }
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn principal_elem(at: &Location, v: &Value, negated: bool) -> Result<PrincipalElem> {
    let mut elem = PrincipalElem {
        negated,
        star: false,
        aws_raw: Vec::new(),
        aws: Vec::new(),
        service: Vec::new(),
    };
    match v {
        Value::String(s) if s == "*" => elem.star = true,
        Value::String(s) => return err(at, Problem::BadPrincipal(s.clone())),
        Value::Object(m) => {
            if m.is_empty() {
                return err(at, Problem::Empty);
            }
            for (k, v) in m {
                let here = at.field(k);
                match k.as_str() {
                    "AWS" => {
                        let raw = string_list(&here, v)?;
                        for s in &raw {
                            elem.aws.push(aws_principal(&here, s)?);
                        }
                        elem.aws_raw = raw;
                    }
                    "Service" => {
                        let raw = string_list(&here, v)?;
                        if let Some(bad) = raw
                            .iter()
                            .find(|s| s.is_empty() || s.contains(char::is_whitespace))
                        {
                            return err(&here, Problem::BadPrincipal(bad.clone()));
                        }
                        elem.service = raw;
                    }
                    other => return err(at, Problem::UnsupportedPrincipalType(other.to_owned())),
                }
            }
        }
        _ => return err(at, Problem::WrongType("\"*\" or an object")),
    }
    Ok(elem)
}

fn aws_principal(at: &Location, s: &str) -> Result<AwsPrincipal> {
    if s == "*" {
        Ok(AwsPrincipal::Any)
    } else if is_account_id(s) {
        Ok(AwsPrincipal::Account(s.to_owned()))
    } else if let Some(acct) = root_account_of(s) {
        Ok(AwsPrincipal::Account(acct.to_owned()))
    } else if is_principal_arn(s) {
        Ok(AwsPrincipal::Arn(s.to_owned()))
    } else {
        err(at, Problem::BadPrincipal(s.to_owned()))
    }
}

/// `arn:PARTITION:iam|sts::ACCOUNT:RESOURCE` with no wildcard (IAM allows none in principals).
fn is_principal_arn(s: &str) -> bool {
    let mut p = s.splitn(6, ':');
    p.next() == Some("arn")
        && p.next().is_some_and(|x| x.starts_with("aws"))
        && matches!(p.next(), Some("iam" | "sts"))
        && p.next() == Some("")
        && p.next().is_some_and(is_account_id)
        && p.next().is_some_and(|r| !r.is_empty())
        && !s.contains(['*', '?'])
}

fn condition_block(at: &Location, v: &Value) -> Result<Vec<Condition>> {
    let ops = object(at, v)?;
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let op = Operator::parse(op_name).map_err(|p| PolicyError::at(at, p))?;
        let here = at.field(op_name);
        let keys = object(&here, keys)?;
        if keys.is_empty() {
            return err(&here, Problem::Empty);
        }
        for (key_name, vals) in keys {
            let kat = here.field(key_name);
            if key_name.is_empty() {
                return err(&here, Problem::Empty);
            }
            let raw = scalar_list(&kat, vals)?;
            let values = Values::compile(op.base, &raw).map_err(|p| PolicyError::at(&kat, p))?;
            out.push(Condition {
                op: op.clone(),
                key_name: key_name.clone(),
                key: KeyRef::resolve(key_name).map_err(|p| PolicyError::at(&kat, p))?,
                raw,
                values,
            });
        }
    }
    Ok(out)
}
