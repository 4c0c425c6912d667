//! [`Policy`] → JSON, in the element order AWS writes.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::model::{MatchList, Policy, PrincipalElem, Statement};

/// A list written as a bare string when it has one element.
struct OneOrMany<'a>(&'a [String]);

impl Serialize for OneOrMany<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => s.serialize_str(one),
            many => {
                let mut seq = s.serialize_seq(Some(many.len()))?;
                for x in many {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
        }
    }
}

struct PrincipalOut<'a>(&'a PrincipalElem);

impl Serialize for PrincipalOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        if p.star {
            return s.serialize_str("*");
        }
        let mut m = s.serialize_map(None)?;
        if !p.aws_raw.is_empty() {
            m.serialize_entry("AWS", &OneOrMany(&p.aws_raw))?;
        }
        if !p.service.is_empty() {
            m.serialize_entry("Service", &OneOrMany(&p.service))?;
        }
        m.end()
    }
}

struct StatementOut<'a>(&'a Statement);

fn entry<M: SerializeMap>(
    m: &mut M,
    name: &str,
    not_name: &str,
    l: &MatchList,
) -> Result<(), M::Error> {
    m.serialize_entry(if l.negated { not_name } else { name }, &OneOrMany(&l.raw))
}

impl Serialize for StatementOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(sid) = &st.sid {
            m.serialize_entry("Sid", sid)?;
        }
        m.serialize_entry("Effect", st.effect.as_str())?;
        if let Some(p) = &st.principal {
            let name = if p.negated {
                "NotPrincipal"
            } else {
                "Principal"
            };
            m.serialize_entry(name, &PrincipalOut(p))?;
        }
        entry(&mut m, "Action", "NotAction", &st.action)?;
        entry(&mut m, "Resource", "NotResource", &st.resource)?;
        if !st.conditions.is_empty() {
            let mut block: BTreeMap<&str, BTreeMap<&str, OneOrMany<'_>>> = BTreeMap::new();
            for c in &st.conditions {
                block
                    .entry(c.op.name.as_str())
                    .or_default()
                    .insert(c.key_name.as_str(), OneOrMany(&c.raw));
            }
            m.serialize_entry("Condition", &block)?;
        }
        m.end()
    }
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(v) = &self.version {
            m.serialize_entry("Version", v)?;
        }
        if let Some(id) = &self.id {
            m.serialize_entry("Id", id)?;
        }
        let stmts: Vec<StatementOut<'_>> = self.statements.iter().map(StatementOut).collect();
        m.serialize_entry("Statement", &stmts)?;
        m.end()
    }
}

impl Policy {
    /// The policy as compact JSON. Parsing it again gives a policy that evaluates every request
    /// the same way. (GetKeyPolicy should return the text as it was put, which the caller keeps.)
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The policy as indented JSON, as AWS shows default key policies.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
