use crate::{AccountId, CoreError, PrincipalArn, PrincipalKind};

/// Who is calling: the authenticated principal and the account it belongs to.
///
/// Every facade operation takes one. Keys are owned by the account that created them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caller {
    /// The principal's ARN, e.g. `arn:aws:iam::111122223333:user/alice`.
    pub principal_arn: String,
    /// The principal's account.
    pub account: AccountId,
    kind: PrincipalKind,
}

impl Caller {
    /// A caller with the given principal ARN, which must be a valid [`PrincipalArn`]
    /// ([`CoreError::InvalidPrincipal`] otherwise); the account is the ARN's.
    pub fn new(principal_arn: &str) -> Result<Self, CoreError> {
        Ok(Self::from_principal(PrincipalArn::parse(principal_arn)?))
    }

    /// A caller for a parsed principal.
    pub fn from_principal(principal: PrincipalArn) -> Self {
        Self {
            account: principal.account(),
            kind: principal.kind(),
            principal_arn: principal.into_string(),
        }
    }

    /// The account's root principal, `arn:aws:iam::ACCOUNT:root`.
    pub fn account_root(account: AccountId) -> Self {
        Self::from_principal(PrincipalArn::account_root(account))
    }

    /// What the principal ARN names.
    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    /// Whether the principal is its account's root (in any partition).
    pub fn is_account_root(&self) -> bool {
        self.kind == PrincipalKind::Root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_principal() {
        let c = Caller::new("arn:aws:iam::111122223333:user/alice").unwrap();
        assert_eq!(c.account.as_str(), "111122223333");
        assert_eq!(c.kind(), PrincipalKind::User);
        assert!(Caller::new("arn:aws:iam::1111:user/alice").is_err());
        assert!(Caller::new("user/alice").is_err());
        assert!(Caller::new("arn:aws:iam::111122223333:").is_err());
        let root = Caller::account_root(AccountId::parse("111122223333").unwrap());
        assert_eq!(root.principal_arn, "arn:aws:iam::111122223333:root");
        assert!(root.is_account_root());
    }

    #[test]
    fn takes_the_principal_arn_rules() {
        // What `Caller::new` once took and AWS does not: another service, a region, no type.
        for bad in [
            "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
            "arn:aws:iam::111122223333:anything",
            "arn:nope:iam::111122223333:root",
        ] {
            assert_eq!(Caller::new(bad), Err(CoreError::InvalidPrincipal), "{bad}");
        }
        let s = Caller::new("arn:aws:sts::111122223333:assumed-role/app/session").unwrap();
        assert_eq!(s.kind(), PrincipalKind::AssumedRole);
        assert!(Caller::new("arn:aws-cn:iam::111122223333:root")
            .unwrap()
            .is_account_root());
    }
}
