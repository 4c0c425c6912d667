use std::fmt;

use crate::{AccountId, CoreError, KeyId, Region};

/// The prefix every alias name carries.
pub const ALIAS_PREFIX: &str = "alias/";

/// One part of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`) by its index (0 is
/// `arn`, 4 the account): the text between two colons, or for index 5 (the resource) all the
/// rest, colons included. `None` when the text has fewer parts, and for an index past 5. The
/// same answers as `split(':').nth(index)` (index < 5) and `splitn(6, ':').nth(5)`, found by
/// one pass over the bytes up to the part: the audit record takes a key's account and a
/// caller's resource from an ARN on every call, and `str::split` searched for each colon with
/// a general char searcher.
pub fn arn_part(arn: &str, index: usize) -> Option<&str> {
    if index > 5 {
        return None;
    }
    let bytes = arn.as_bytes();
    let mut start = 0;
    for _ in 0..index {
        let colon = bytes.get(start..)?.iter().position(|&b| b == b':')?;
        start += colon + 1;
    }
    let rest = arn.get(start..)?;
    if index == 5 {
        return Some(rest);
    }
    Some(match rest.as_bytes().iter().position(|&b| b == b':') {
        Some(end) => rest.get(..end)?,
        None => rest,
    })
}

/// A valid alias name: `alias/` followed by 1–250 of `a-zA-Z0-9/_-` (at most 256 characters in all).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AliasName(String);

impl AliasName {
    /// Checks the naming rules. (Whether the `alias/aws/` prefix is reserved for the caller is the
    /// facade's decision: the name itself is valid.)
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Self::check(s)?;
        Ok(Self(s.to_owned()))
    }

    /// Checks an alias name by [`parse`](Self::parse)'s rules without keeping it.
    pub fn check(s: &str) -> Result<(), CoreError> {
        let rest = s
            .strip_prefix(ALIAS_PREFIX)
            .ok_or(CoreError::InvalidAliasName)?;
        let ok = !rest.is_empty()
            && s.len() <= 256
            && rest
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-'));
        if ok {
            Ok(())
        } else {
            Err(CoreError::InvalidAliasName)
        }
    }

    /// The full name, `alias/…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name lies in the `alias/aws/` namespace that AWS reserves for its own keys.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with("alias/aws/")
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AliasName({})", self.0)
    }
}

/// A key named by a caller, in one of the four forms AWS accepts, borrowed from the text that
/// names it: the facade resolves one on every call, so an ARN's region and an alias name are
/// checked, not copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRef<'a> {
    /// `1234abcd-12ab-34cd-56ef-1234567890ab`
    KeyId(KeyId),
    /// `arn:aws:kms:us-east-2:111122223333:key/1234abcd-…`
    KeyArn {
        /// Region named in the ARN (a valid region name).
        region: &'a str,
        /// Account named in the ARN.
        account: AccountId,
        /// The key id.
        key_id: KeyId,
    },
    /// `alias/ExampleAlias` (in the caller's account and region; a valid alias name).
    AliasName(&'a str),
    /// `arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias`
    AliasArn {
        /// Region named in the ARN (a valid region name).
        region: &'a str,
        /// Account named in the ARN.
        account: AccountId,
        /// The alias name, `alias/…` (a valid alias name).
        alias: &'a str,
    },
}

impl<'a> KeyRef<'a> {
    /// Parses any of the four forms.
    pub fn parse(s: &'a str) -> Result<Self, CoreError> {
        if let Some(rest) = s.strip_prefix("arn:") {
            let mut parts = rest.splitn(5, ':');
            let partition = parts.next().ok_or(CoreError::InvalidArn)?;
            let service = parts.next().ok_or(CoreError::InvalidArn)?;
            let region = parts.next().ok_or(CoreError::InvalidArn)?;
            let account = parts.next().ok_or(CoreError::InvalidArn)?;
            let resource = parts.next().ok_or(CoreError::InvalidArn)?;
            if partition.is_empty() || !partition.starts_with("aws") || service != "kms" {
                return Err(CoreError::InvalidArn);
            }
            Region::check(region).map_err(|_| CoreError::InvalidArn)?;
            let account = AccountId::parse(account).map_err(|_| CoreError::InvalidArn)?;
            if let Some(id) = resource.strip_prefix("key/") {
                Ok(Self::KeyArn {
                    region,
                    account,
                    key_id: KeyId::parse(id)?,
                })
            } else if resource.starts_with(ALIAS_PREFIX) {
                AliasName::check(resource)?;
                Ok(Self::AliasArn {
                    region,
                    account,
                    alias: resource,
                })
            } else {
                Err(CoreError::InvalidArn)
            }
        } else if s.starts_with(ALIAS_PREFIX) {
            AliasName::check(s)?;
            Ok(Self::AliasName(s))
        } else {
            Ok(Self::KeyId(KeyId::parse(s)?))
        }
    }

    /// Whether this names an alias rather than a key.
    pub fn is_alias(&self) -> bool {
        matches!(self, Self::AliasName(_) | Self::AliasArn { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    proptest::proptest! {
        /// `arn_part` answers as `split(':').nth(i)` for the first five parts and as
        /// `splitn(6, ':').nth(5)` for the resource, on any text (colons anywhere, none, many;
        /// multi-byte characters beside them).
        #[test]
        fn arn_part_is_split_by_colons(
            text in "(arn:aws:kms:us-east-1:111122223333:key/[0-9a-f-]{36}|[:a\\x{e9}\\x{1F600}/]{0,24}|.{0,40})",
        ) {
            for i in 0..5 {
                proptest::prop_assert_eq!(arn_part(&text, i), text.split(':').nth(i));
            }
            proptest::prop_assert_eq!(arn_part(&text, 5), text.splitn(6, ':').nth(5));
            proptest::prop_assert_eq!(arn_part(&text, 6), None);
        }

        /// What the parse accepts, it reads from the text: each part a slice of it (not a copy)
        /// that satisfies its own rule, the key id the one the text spells, and an ARN's parts
        /// where `arn_part` finds them.
        #[test]
        fn key_ref_reads_its_parts_from_the_text(
            text in "(arn:(aws|aws-cn|x):(kms|s3):(us-east-2|eu-west-1|US|):(111122223333|1234):(key/|alias/|grant/)(1234abcd-12ab-34cd-56ef-1234567890ab|mrk-1234abcd12ab34cd56ef1234567890ab|app|a b|)|alias/[a-zA-Z0-9/_ -]{0,8}|1234abcd-12ab-34cd-56ef-1234567890a[a-f0-9g]|mrk-[0-9a-f]{32}|.{0,40})",
        ) {
            let Ok(parsed) = KeyRef::parse(&text) else {
                return Ok(());
            };
            let inside = |part: &str| {
                let (start, end) = (text.as_ptr() as usize, text.as_ptr() as usize + text.len());
                (start..=end).contains(&(part.as_ptr() as usize))
            };
            let arn_key = |resource: &str| arn_part(&text, 5).and_then(|r| r.strip_prefix(resource));
            match parsed {
                KeyRef::KeyId(id) => {
                    proptest::prop_assert!(!parsed.is_alias());
                    proptest::prop_assert_eq!(KeyId::parse(&text), Ok(id));
                }
                KeyRef::KeyArn { region, account, key_id } => {
                    proptest::prop_assert!(!parsed.is_alias());
                    proptest::prop_assert!(inside(region) && Region::check(region).is_ok());
                    proptest::prop_assert_eq!(arn_part(&text, 3), Some(region));
                    proptest::prop_assert_eq!(arn_part(&text, 4), Some(account.as_str()));
                    proptest::prop_assert_eq!(arn_key("key/").map(KeyId::parse), Some(Ok(key_id)));
                }
                KeyRef::AliasName(name) => {
                    proptest::prop_assert!(parsed.is_alias());
                    proptest::prop_assert!(inside(name) && AliasName::check(name).is_ok());
                    proptest::prop_assert_eq!(name, text.as_str());
                }
                KeyRef::AliasArn { region, account, alias } => {
                    proptest::prop_assert!(parsed.is_alias());
                    proptest::prop_assert!(inside(region) && Region::check(region).is_ok());
                    proptest::prop_assert!(inside(alias) && AliasName::check(alias).is_ok());
                    proptest::prop_assert_eq!(arn_part(&text, 3), Some(region));
                    proptest::prop_assert_eq!(arn_part(&text, 4), Some(account.as_str()));
                    proptest::prop_assert_eq!(arn_part(&text, 5), Some(alias));
                }
            }
        }
    }

    #[test]
    fn arn_parts_of_a_key_arn() {
        let arn = format!("arn:aws:kms:us-east-2:111122223333:key/{ID}");
        assert_eq!(arn_part(&arn, 0), Some("arn"));
        assert_eq!(arn_part(&arn, 4), Some("111122223333"));
        assert_eq!(arn_part(&arn, 5), Some(format!("key/{ID}").as_str()));
        assert_eq!(
            arn_part("arn:aws:iam::111122223333:role/a:b", 5),
            Some("role/a:b")
        );
        assert_eq!(arn_part("arn:aws:iam::111122223333:role/a:b", 3), Some(""));
        assert_eq!(arn_part("not-an-arn", 1), None);
    }

    #[test]
    fn the_four_forms() {
        assert!(matches!(KeyRef::parse(ID), Ok(KeyRef::KeyId(_))));
        let arn = format!("arn:aws:kms:us-east-2:111122223333:key/{ID}");
        match KeyRef::parse(&arn).unwrap() {
            KeyRef::KeyArn {
                region,
                account,
                key_id,
            } => {
                assert_eq!(region, "us-east-2");
                assert_eq!(account.as_str(), "111122223333");
                assert_eq!(key_id.to_string(), ID);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            KeyRef::parse("alias/my-app_1/x"),
            Ok(KeyRef::AliasName("alias/my-app_1/x"))
        );
        assert_eq!(
            KeyRef::parse("arn:aws:kms:us-east-2:111122223333:alias/app"),
            Ok(KeyRef::AliasArn {
                region: "us-east-2",
                account: AccountId::parse("111122223333").unwrap(),
                alias: "alias/app",
            })
        );
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "alias/",
            "alias/has space",
            "alias/ünïcode",
            "arn:aws:s3:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-2:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-2:111122223333:key/nope",
            "arn:aws:kms:us-east-2:111122223333:grant/x",
            "arn:aws:kms",
            "1234abcd",
        ] {
            assert!(KeyRef::parse(bad).is_err(), "{bad}");
        }
        assert!(KeyRef::parse("arn:aws:kms:US-EAST-2:111122223333:alias/app").is_err());
        let long = format!("alias/{}", "a".repeat(251));
        assert!(AliasName::parse(&long).is_err());
        let max = format!("alias/{}", "a".repeat(250));
        assert!(AliasName::parse(&max).is_ok());
        assert!(AliasName::parse("alias/aws/x").unwrap().is_reserved());
    }
}
