//! The one principal-ARN type: what `Caller::new`, the credential store and the configuration
//! checker accept as a principal, by the rules AWS documents for IAM and STS identifiers.

use std::fmt;
use std::str::FromStr;

use crate::{AccountId, CoreError};

/// The partitions AWS documents.
pub const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// Longest principal ARN accepted (IAM's limit on an ARN).
pub const MAX_PRINCIPAL_ARN: usize = 2048;
/// Longest IAM path, slashes included.
const MAX_PATH: usize = 512;
/// Longest user, role or session name.
const MAX_NAME: usize = 64;

/// What a principal ARN names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrincipalKind {
    /// `arn:PARTITION:iam::ACCOUNT:root`, the account itself.
    Root,
    /// `arn:PARTITION:iam::ACCOUNT:user/PATH/NAME`.
    User,
    /// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
    Role,
    /// `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION`, a role session.
    AssumedRole,
}

/// A valid principal ARN: `arn:PARTITION:iam::ACCOUNT:root`, `…:user/[PATH/]NAME`,
/// `…:role/[PATH/]NAME` or `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
///
/// The rules are IAM's: a documented partition; no region; a 12-digit account; a path of
/// printable ASCII (`!` to `~`) between slashes, at most 512 characters; a user or role name of
/// 1–64 of `A-Za-z0-9_+=,.@-`; a session name of 2–64 of the same.
///
/// ```
/// use coffer_core::{PrincipalArn, PrincipalKind};
/// let p = PrincipalArn::parse("arn:aws:iam::111122223333:role/ops/app")?;
/// assert_eq!(p.kind(), PrincipalKind::Role);
/// assert_eq!(p.account().as_str(), "111122223333");
/// assert_eq!(p.partition(), "aws");
/// assert_eq!(p.name(), Some("app"));
/// assert_eq!(p.to_string(), "arn:aws:iam::111122223333:role/ops/app");
/// # Ok::<(), coffer_core::CoreError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PrincipalArn {
    arn: String,
    account: AccountId,
    kind: PrincipalKind,
}

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b)
}

fn valid_name(s: &str, min: usize) -> bool {
    (min..=MAX_NAME).contains(&s.len()) && s.bytes().all(name_char)
}

/// `rest` of `user/…` or `role/…`: an optional path then a name; returns whether valid.
fn valid_path_and_name(rest: &str) -> bool {
    let (path, name) = match rest.rfind('/') {
        // The path is everything up to and including the last slash, with the leading one
        // implied by the resource type's own.
        Some(i) => (
            rest.get(..=i).unwrap_or_default(),
            rest.get(i + 1..).unwrap_or_default(),
        ),
        None => ("", rest),
    };
    // The whole path is `/` or `/…/` with at least one character between the slashes.
    let path_ok =
        path != "/" && path.len() < MAX_PATH && path.bytes().all(|b| (b'!'..=b'~').contains(&b));
    path_ok && valid_name(name, 1)
}

impl PrincipalArn {
    /// Parses and validates a principal ARN ([`CoreError::InvalidPrincipal`] otherwise).
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Self::parse_parts(s).ok_or(CoreError::InvalidPrincipal)
    }

    fn parse_parts(s: &str) -> Option<Self> {
        if s.len() > MAX_PRINCIPAL_ARN {
            return None;
        }
        let mut parts = s.splitn(6, ':');
        let (arn, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if arn != "arn" || !PARTITIONS.contains(&partition) || !region.is_empty() {
            return None;
        }
        let account = AccountId::parse(account).ok()?;
        let kind = match service {
            "iam" if resource == "root" => PrincipalKind::Root,
            "iam" => {
                if let Some(rest) = resource.strip_prefix("user/") {
                    valid_path_and_name(rest).then_some(PrincipalKind::User)?
                } else {
                    let rest = resource.strip_prefix("role/")?;
                    valid_path_and_name(rest).then_some(PrincipalKind::Role)?
                }
            }
            "sts" => {
                let (role, session) = resource.strip_prefix("assumed-role/")?.split_once('/')?;
                (valid_name(role, 1) && valid_name(session, 2))
                    .then_some(PrincipalKind::AssumedRole)?
            }
            _ => return None,
        };
        Some(Self {
            arn: s.to_owned(),
            account,
            kind,
        })
    }

    /// The account's root principal, `arn:aws:iam::ACCOUNT:root`.
    pub fn account_root(account: AccountId) -> Self {
        Self {
            arn: format!("arn:aws:iam::{account}:root"),
            account,
            kind: PrincipalKind::Root,
        }
    }

    /// The ARN as given.
    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// The ARN, owned.
    pub fn into_string(self) -> String {
        self.arn
    }

    /// The partition (`aws`, `aws-cn`, …).
    pub fn partition(&self) -> &str {
        self.arn.split(':').nth(1).unwrap_or_default()
    }

    /// The principal's account.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// What the ARN names.
    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    /// The user's or role's name (without its path), or the session name of an assumed role;
    /// `None` for an account root.
    pub fn name(&self) -> Option<&str> {
        match self.kind {
            PrincipalKind::Root => None,
            _ => self.arn.rsplit('/').next(),
        }
    }
}

impl FromStr for PrincipalArn {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Self::parse(s)
    }
}

impl fmt::Display for PrincipalArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

impl fmt::Debug for PrincipalArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrincipalArn({})", self.arn)
    }
}

impl AsRef<str> for PrincipalArn {
    fn as_ref(&self) -> &str {
        &self.arn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_kinds() {
        for (arn, kind, name) in [
            ("arn:aws:iam::111122223333:root", PrincipalKind::Root, None),
            (
                "arn:aws:iam::111122223333:user/alice",
                PrincipalKind::User,
                Some("alice"),
            ),
            (
                "arn:aws:iam::111122223333:user/ops/eu/alice",
                PrincipalKind::User,
                Some("alice"),
            ),
            (
                "arn:aws:iam::111122223333:role/app",
                PrincipalKind::Role,
                Some("app"),
            ),
            (
                "arn:aws:sts::111122223333:assumed-role/app/session-1",
                PrincipalKind::AssumedRole,
                Some("session-1"),
            ),
        ] {
            let p = PrincipalArn::parse(arn).unwrap();
            assert_eq!(p.kind(), kind, "{arn}");
            assert_eq!(p.name(), name, "{arn}");
            assert_eq!(p.account().as_str(), "111122223333");
            assert_eq!(p.to_string(), arn);
            assert_eq!(arn.parse::<PrincipalArn>().unwrap(), p);
        }
        let root = PrincipalArn::account_root(AccountId::parse("111122223333").unwrap());
        assert_eq!(root.as_str(), "arn:aws:iam::111122223333:root");
        assert_eq!(root.kind(), PrincipalKind::Root);
    }

    #[test]
    fn malformed() {
        let long_name = format!("arn:aws:iam::111122223333:user/{}", "a".repeat(65));
        let long_path = format!("arn:aws:iam::111122223333:user/{}/a", "p".repeat(511));
        let long_arn = format!("arn:aws:iam::111122223333:user/{}/a", "p/".repeat(1100));
        for bad in [
            "",
            "user/alice",
            "arn:aws:iam::111122223333:",
            "arn:aws:iam::1111:user/alice",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::111122223333:user/ops/",
            "arn:aws:iam::111122223333:user//alice",
            "arn:aws:iam::111122223333:group/g",
            "arn:aws:iam::111122223333:user/has space",
            "arn:aws:iam::111122223333:user/ünï",
            "arn:aws:iam:us-east-1:111122223333:user/u",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:sts::111122223333:assumed-role/app",
            "arn:aws:sts::111122223333:assumed-role/app/s",
            "arn:aws:sts::111122223333:user/alice",
            "arn:aws:iam::111122223333:assumed-role/app/session",
            "arn:aws:iam::111122223333:root/x",
            long_name.as_str(),
            long_path.as_str(),
            long_arn.as_str(),
        ] {
            assert_eq!(
                PrincipalArn::parse(bad),
                Err(CoreError::InvalidPrincipal),
                "{bad}"
            );
        }
    }

    /// Cases the two validators coffer had disagreed on, now decided by AWS's rules.
    #[test]
    fn where_the_old_validators_disagreed() {
        // The credential store took only three partitions; AWS documents more.
        let iso = PrincipalArn::parse("arn:aws-iso-b:iam::111122223333:root").unwrap();
        assert_eq!(iso.partition(), "aws-iso-b");
        // `Caller::new` took any partition, service, region and resource.
        for bad in [
            "arn:example:iam::111122223333:root",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
            "arn:aws:iam::111122223333:anything",
        ] {
            assert!(PrincipalArn::parse(bad).is_err(), "{bad}");
        }
        // A role session is a principal (the credential store's check refused it).
        assert!(PrincipalArn::parse("arn:aws:sts::111122223333:assumed-role/r/s1").is_ok());
        // IAM paths are printable ASCII, not only the name characters.
        assert!(PrincipalArn::parse("arn:aws:iam::111122223333:user/a~b!/alice").is_ok());
        // An empty path segment inside a path is printable ASCII too (the store had refused it).
        assert!(PrincipalArn::parse("arn:aws:iam::111122223333:role/a//b/app").is_ok());
    }
}
