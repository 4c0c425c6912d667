//! Refusing documents that name an object member twice.
//!
//! JSON parsers keep one of two equal member names (serde_json keeps the last), so a document
//! such as `{"Effect":"Deny", …, "Effect":"Allow"}` means something other than what a reader of
//! its text sees. [`UniqueKeys`] walks any self-describing document (JSON, TOML, CBOR) through
//! serde and fails at the first repeated member, naming it and where it is. Member *names* are
//! reported; values never are (they may be secrets).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Deserializing into `UniqueKeys` succeeds only if no object in the document repeats a member
/// name. It keeps nothing.
///
/// ```
/// use coffer_core::UniqueKeys;
/// assert!(serde_json::from_str::<UniqueKeys>(r#"{"a":{"b":1},"c":[{"b":2}]}"#).is_ok());
/// let e = serde_json::from_str::<UniqueKeys>(r#"{"s":[{"Effect":"Deny","Effect":"Allow"}]}"#)
///     .unwrap_err();
/// assert!(e.to_string().contains(r#"duplicate member "s"[0]."Effect""#), "{e}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UniqueKeys;

/// Deepest nesting walked; deeper documents are refused (the parsers' own limits are lower).
const MAX_DEPTH: usize = 256;

impl<'de> de::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Walk { path: &Path::Root }.deserialize(d)
    }
}

/// Where a value sits, as a chain of parents (no allocation per level).
enum Path<'a> {
    Root,
    Member(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn depth(&self) -> usize {
        match self {
            Path::Root => 0,
            Path::Member(p, _) | Path::Index(p, _) => p.depth() + 1,
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("the document"),
            Path::Member(Path::Root, name) => write!(f, "{name:?}"),
            Path::Member(p, name) => write!(f, "{p}.{name:?}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

struct Walk<'a> {
    path: &'a Path<'a>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = UniqueKeys;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<UniqueKeys, D::Error> {
        if self.path.depth() > MAX_DEPTH {
            return Err(de::Error::custom("the document is nested too deeply"));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i128<E>(self, _: i128) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u128<E>(self, _: u128) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_none<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<UniqueKeys, D::Error> {
        self.deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<UniqueKeys, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        let mut i = 0;
        loop {
            let path = Path::Index(self.path, i);
            if seq.next_element_seed(Walk { path: &path })?.is_none() {
                return Ok(UniqueKeys);
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<MemberName>()? {
            let name = name.0;
            if seen.contains(&name) {
                let at = Path::Member(self.path, &name);
                return Err(de::Error::custom(format_args!(
                    "duplicate member {at}: a member name may appear once in an object"
                )));
            }
            let path = Path::Member(self.path, &name);
            map.next_value_seed(Walk { path: &path })?;
            seen.insert(name);
        }
        Ok(UniqueKeys)
    }
}

/// An object member's name: a string, or for formats whose keys are not strings, their text.
struct MemberName(String);

impl<'de> de::Deserialize<'de> for MemberName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MemberName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E>(self, s: &str) -> Result<MemberName, E> {
                Ok(MemberName(s.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<MemberName, E> {
                Ok(MemberName(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<MemberName, E> {
                Ok(MemberName(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<MemberName, E> {
                Ok(MemberName(v.to_string()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<MemberName, E> {
                Ok(MemberName(String::from_utf8_lossy(v).into_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), String> {
        serde_json::from_str::<UniqueKeys>(text)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_documents_without_repeats() {
        for ok in [
            "null",
            "1",
            r#""s""#,
            "[]",
            "{}",
            r#"{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}"#,
            r#"[{"x":1},{"x":1}]"#,
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_a_repeat_at_any_depth_and_names_where() {
        let e = check(r#"{"a":1,"a":2}"#).unwrap_err();
        assert!(e.contains(r#"duplicate member "a""#), "{e}");
        let e = check(r#"{"Statement":[{},{"Condition":{"StringEquals":{},"StringEquals":{}}}]}"#)
            .unwrap_err();
        assert!(
            e.contains(r#""Statement"[1]."Condition"."StringEquals""#),
            "{e}"
        );
        // Names differing only in case are different members (JSON is case-sensitive).
        assert_eq!(check(r#"{"Effect":1,"effect":2}"#), Ok(()));
    }

    #[test]
    fn never_reports_a_value() {
        let e = check(r#"{"secret":"hunter2-value","secret":"other-value"}"#).unwrap_err();
        assert!(!e.contains("hunter2") && !e.contains("other-value"), "{e}");
    }

    #[test]
    fn refuses_absurd_nesting_without_overflow() {
        let deep = "[".repeat(100_000);
        assert!(check(&deep).is_err());
    }
}
