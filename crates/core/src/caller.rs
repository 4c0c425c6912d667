use crate::{AccountId, CoreError};

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
}

impl Caller {
    /// A caller with the given principal ARN; the account is read from the ARN's account field and
    /// must be present.
    pub fn new(principal_arn: &str) -> Result<Self, CoreError> {
        let mut parts = principal_arn.splitn(6, ':');
        let (arn, _partition, _service, _region, account, resource) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        );
        if arn != Some("arn") || resource.is_none_or(str::is_empty) {
            return Err(CoreError::InvalidPrincipal);
        }
        let account = AccountId::parse(account.unwrap_or_default())
            .map_err(|_| CoreError::InvalidPrincipal)?;
        Ok(Self {
            principal_arn: principal_arn.to_owned(),
            account,
        })
    }

    /// The account's root principal, `arn:aws:iam::ACCOUNT:root`.
    pub fn account_root(account: AccountId) -> Self {
        Self {
            principal_arn: format!("arn:aws:iam::{account}:root"),
            account,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_principal() {
        let c = Caller::new("arn:aws:iam::111122223333:user/alice").unwrap();
        assert_eq!(c.account.as_str(), "111122223333");
        assert!(Caller::new("arn:aws:iam::1111:user/alice").is_err());
        assert!(Caller::new("user/alice").is_err());
        assert!(Caller::new("arn:aws:iam::111122223333:").is_err());
        let root = Caller::account_root(AccountId::parse("111122223333").unwrap());
        assert_eq!(root.principal_arn, "arn:aws:iam::111122223333:root");
    }
}
