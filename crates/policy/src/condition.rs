//! Condition operators, compiled at parse time, and their evaluation.

use std::borrow::Cow;

use crate::context::{eq_fold, KeyRef, RequestContext, Val};
use crate::date::{format_millis, parse_date};
use crate::error::Problem;
use crate::glob::Pattern;
use crate::ip::Cidr;

/// The operator family, without negation, qualifier or `IfExists`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    Null,
    ArnLike,
    IpAddress,
}

/// Every operator name the grammar knows: name, family, negated.
const OPERATORS: &[(&str, Base, bool)] = &[
    ("StringEquals", Base::StringEquals, false),
    ("StringNotEquals", Base::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Base::StringLike, false),
    ("StringNotLike", Base::StringLike, true),
    ("NumericEquals", Base::NumericEquals, false),
    ("NumericNotEquals", Base::NumericEquals, true),
    ("NumericLessThan", Base::NumericLessThan, false),
    ("NumericLessThanEquals", Base::NumericLessThanEquals, false),
    ("NumericGreaterThan", Base::NumericGreaterThan, false),
    (
        "NumericGreaterThanEquals",
        Base::NumericGreaterThanEquals,
        false,
    ),
    ("DateEquals", Base::DateEquals, false),
    ("DateNotEquals", Base::DateEquals, true),
    ("DateLessThan", Base::DateLessThan, false),
    ("DateLessThanEquals", Base::DateLessThanEquals, false),
    ("DateGreaterThan", Base::DateGreaterThan, false),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals, false),
    ("Bool", Base::Bool, false),
    ("Null", Base::Null, false),
    // IAM treats ArnEquals exactly as ArnLike: both take wildcards.
    ("ArnEquals", Base::ArnLike, false),
    ("ArnNotEquals", Base::ArnLike, true),
    ("ArnLike", Base::ArnLike, false),
    ("ArnNotLike", Base::ArnLike, true),
    ("IpAddress", Base::IpAddress, false),
    ("NotIpAddress", Base::IpAddress, true),
];

/// The names of every operator family, for documentation and tests.
pub const OPERATOR_NAMES: [&str; 26] = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "Null",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "IpAddress",
    "NotIpAddress",
];

/// A set qualifier for multivalued keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Qualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

/// A parsed operator name such as `ForAllValues:StringNotLikeIfExists`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Operator {
    pub(crate) base: Base,
    pub(crate) negated: bool,
    pub(crate) if_exists: bool,
    pub(crate) qualifier: Qualifier,
    /// The canonical name, for serialization.
    pub(crate) name: String,
}

impl Operator {
    pub(crate) fn parse(full: &str) -> Result<Self, Problem> {
        let unknown = || Problem::UnknownOperator(full.to_owned());
        let (qualifier, rest) = if let Some(r) = full.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, r)
        } else if let Some(r) = full.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, r)
        } else {
            (Qualifier::None, full)
        };
        let (if_exists, name) = match rest.strip_suffix("IfExists") {
            Some(n) => (true, n),
            None => (false, rest),
        };
        let &(_, base, negated) = OPERATORS
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(unknown)?;
        if base == Base::Null && (if_exists || qualifier != Qualifier::None) {
            return Err(Problem::BadQualifier(full.to_owned()));
        }
        Ok(Self {
            base,
            negated,
            if_exists,
            qualifier,
            name: full.to_owned(),
        })
    }
}

/// An ARN pattern: six colon-separated parts, each a wildcard pattern; or, for a value that is
/// not an ARN, one pattern over the whole string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    Parts(Vec<Pattern>),
    Whole(Pattern),
}

impl ArnPattern {
    fn new(s: &str) -> Self {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() == 6 {
            Self::Parts(parts.iter().map(|p| Pattern::new(p, false)).collect())
        } else {
            Self::Whole(Pattern::new(s, false))
        }
    }

    fn matches(&self, arn: &str) -> bool {
        match self {
            Self::Whole(p) => p.matches(arn, false),
            Self::Parts(parts) => {
                let mut n = 0;
                let mut all = true;
                for (p, t) in parts.iter().zip(arn.splitn(6, ':')) {
                    n += 1;
                    all = all && p.matches(t, false);
                }
                all && n == 6
            }
        }
    }
}

/// The policy's values for one key, compiled for the operator's family.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Values {
    Strings(Vec<String>),
    /// Lowercased, for the `IgnoreCase` operators.
    Folded(Vec<String>),
    Patterns(Vec<Pattern>),
    Numbers(Vec<f64>),
    /// Milliseconds since the epoch.
    Dates(Vec<i64>),
    Bools(Vec<bool>),
    Arns(Vec<ArnPattern>),
    Cidrs(Vec<Cidr>),
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

fn all_or<T>(
    raw: &[String],
    kind: &'static str,
    f: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, Problem> {
    raw.iter()
        .map(|s| {
            f(s).ok_or_else(|| Problem::BadValue {
                kind,
                value: s.clone(),
            })
        })
        .collect()
}

impl Values {
    pub(crate) fn compile(base: Base, raw: &[String]) -> Result<Self, Problem> {
        Ok(match base {
            Base::StringEquals => Self::Strings(raw.to_vec()),
            Base::StringEqualsIgnoreCase => {
                Self::Folded(raw.iter().map(|s| s.to_lowercase()).collect())
            }
            Base::StringLike => {
                Self::Patterns(raw.iter().map(|s| Pattern::new(s, false)).collect())
            }
            Base::NumericEquals
            | Base::NumericLessThan
            | Base::NumericLessThanEquals
            | Base::NumericGreaterThan
            | Base::NumericGreaterThanEquals => Self::Numbers(all_or(raw, "number", parse_number)?),
            Base::DateEquals
            | Base::DateLessThan
            | Base::DateLessThanEquals
            | Base::DateGreaterThan
            | Base::DateGreaterThanEquals => Self::Dates(all_or(raw, "date", parse_date)?),
            Base::Bool | Base::Null => Self::Bools(all_or(raw, "boolean", parse_bool)?),
            Base::ArnLike => Self::Arns(raw.iter().map(|s| ArnPattern::new(s)).collect()),
            Base::IpAddress => Self::Cidrs(all_or(raw, "CIDR block", Cidr::parse)?),
        })
    }
}

/// One key under one operator: `"StringEquals": {"kms:ViaService": [...]}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    pub(crate) op: Operator,
    /// The key name as written.
    pub(crate) key_name: String,
    pub(crate) key: KeyRef,
    /// The values as written.
    pub(crate) raw: Vec<String>,
    pub(crate) values: Values,
}

/// A request value as text; only non-string values allocate (a rare path).
fn as_text(v: Val<'_>) -> Cow<'_, str> {
    match v {
        Val::Str(s) => Cow::Borrowed(s),
        Val::Bool(true) => Cow::Borrowed("true"),
        Val::Bool(false) => Cow::Borrowed("false"),
        Val::Ip(ip) => Cow::Owned(ip.to_string()),
        Val::Millis(ms) => Cow::Owned(format_millis(ms)),
        Val::Seconds(s) => Cow::Owned(s.to_string()),
    }
}

fn as_number(v: Val<'_>) -> Option<f64> {
    match v {
        Val::Str(s) => parse_number(s),
        // Seconds fit an f64 exactly well past any date that matters.
        #[allow(clippy::cast_precision_loss)]
        Val::Seconds(s) => Some(s as f64),
        Val::Bool(_) | Val::Ip(_) | Val::Millis(_) => None,
    }
}

fn as_millis(v: Val<'_>) -> Option<i64> {
    match v {
        Val::Millis(ms) => Some(ms),
        Val::Seconds(s) => s.checked_mul(1000),
        Val::Str(s) => parse_date(s),
        Val::Bool(_) | Val::Ip(_) => None,
    }
}

impl Condition {
    /// Whether one request value matches some policy value under the un-negated operator.
    fn matches_value(&self, v: Val<'_>) -> bool {
        let base = self.op.base;
        match &self.values {
            Values::Strings(ps) => {
                let t = as_text(v);
                ps.iter().any(|p| *p == t)
            }
            Values::Folded(ps) => {
                let t = as_text(v);
                ps.iter().any(|p| eq_fold(p, &t))
            }
            Values::Patterns(ps) => {
                let t = as_text(v);
                ps.iter().any(|p| p.matches(&t, false))
            }
            Values::Numbers(ps) => as_number(v).is_some_and(|x| {
                ps.iter().any(|&p| match base {
                    Base::NumericLessThan => x < p,
                    Base::NumericLessThanEquals => x <= p,
                    Base::NumericGreaterThan => x > p,
                    Base::NumericGreaterThanEquals => x >= p,
                    _ => x == p,
                })
            }),
            Values::Dates(ps) => as_millis(v).is_some_and(|x| {
                ps.iter().any(|&p| match base {
                    Base::DateLessThan => x < p,
                    Base::DateLessThanEquals => x <= p,
                    Base::DateGreaterThan => x > p,
                    Base::DateGreaterThanEquals => x >= p,
                    _ => x == p,
                })
            }),
            Values::Bools(ps) => {
                let b = match v {
                    Val::Bool(b) => Some(b),
                    Val::Str(s) => parse_bool(s),
                    _ => None,
                };
                b.is_some_and(|b| ps.contains(&b))
            }
            Values::Arns(ps) => {
                let t = as_text(v);
                ps.iter().any(|p| p.matches(&t))
            }
            Values::Cidrs(ps) => {
                let ip = match v {
                    Val::Ip(ip) => Some(ip),
                    Val::Str(s) => s.trim().parse().ok(),
                    _ => None,
                };
                ip.is_some_and(|ip| ps.iter().any(|c| c.contains(ip)))
            }
        }
    }

    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &RequestContext<'_>) -> bool {
        let found = ctx.lookup(&self.key);
        if self.op.base == Base::Null {
            // "Null": {"k": "true"} holds when k is absent; "false" when it is present.
            let absent = found.is_absent();
            return self.values_bools().contains(&absent);
        }
        if found.is_absent() {
            if self.op.if_exists {
                return true;
            }
            return match self.op.qualifier {
                Qualifier::ForAllValues => true,
                Qualifier::ForAnyValue => false,
                // A negated operator on an absent key: nothing matches, so "matches none" holds.
                Qualifier::None => self.op.negated,
            };
        }
        // Each request value passes if it matches some policy value (or, negated, none).
        let pass = |v| self.matches_value(v) != self.op.negated;
        match self.op.qualifier {
            Qualifier::ForAllValues => found.all(pass),
            Qualifier::ForAnyValue => found.any(pass),
            // Unqualified on a multivalued key: positive operators need some value to match,
            // negated ones need no value to match (the negation of the positive operator).
            Qualifier::None => found.any(|v| self.matches_value(v)) != self.op.negated,
        }
    }

    fn values_bools(&self) -> &[bool] {
        match &self.values {
            Values::Bools(b) => b,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        for name in OPERATOR_NAMES {
            let op = Operator::parse(name).unwrap();
            assert_eq!(op.name, name);
            if name != "Null" {
                assert!(
                    Operator::parse(&format!("{name}IfExists"))
                        .unwrap()
                        .if_exists
                );
                assert_eq!(
                    Operator::parse(&format!("ForAllValues:{name}"))
                        .unwrap()
                        .qualifier,
                    Qualifier::ForAllValues
                );
                assert_eq!(
                    Operator::parse(&format!("ForAnyValue:{name}IfExists"))
                        .unwrap()
                        .qualifier,
                    Qualifier::ForAnyValue
                );
            }
        }
        assert_eq!(OPERATORS.len(), OPERATOR_NAMES.len());
        for bad in [
            "StringEqualz",
            "stringequals",
            "ForSomeValues:StringEquals",
            "IfExists",
            "NullIfExists",
            "ForAllValues:Null",
            "",
        ] {
            assert!(Operator::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arn_patterns() {
        let p = ArnPattern::new("arn:aws:iam::*:role/admin-*");
        assert!(p.matches("arn:aws:iam::111122223333:role/admin-x"));
        assert!(!p.matches("arn:aws:iam::111122223333:user/admin-x"));
        assert!(!p.matches("arn:aws:iam"));
        // A `*` in one part does not cross a colon.
        let q = ArnPattern::new("arn:*:kms:us-east-1:111122223333:key/*");
        assert!(q.matches("arn:aws:kms:us-east-1:111122223333:key/abc"));
        assert!(!q.matches("arn:aws:x:kms:us-east-1:111122223333:key/abc"));
        assert!(ArnPattern::new("*").matches("anything"));
    }
}
