use std::time::Duration;

use coffer_core::{AccountId, CoreError};

use crate::QuotaClass;

/// The message AWS KMS sends with a `ThrottlingException` (AWS KMS Developer Guide,
/// "Throttling AWS KMS requests"). Other AWS services say `Rate exceeded`.
pub const THROTTLING_MESSAGE: &str =
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.";

/// A call over quota: the facade answers `ThrottlingException` with
/// [`THROTTLING_MESSAGE`] (which is also this error's `Display`).
///
/// The class and the retry-after hint are for logs, metrics and a `Retry-After` header;
/// AWS's message names neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", THROTTLING_MESSAGE)]
pub struct Throttled {
    class: QuotaClass,
    retry_after: Duration,
}

impl Throttled {
    pub(crate) fn new(class: QuotaClass, retry_after: Duration) -> Self {
        Self { class, retry_after }
    }

    /// The class whose bucket was empty.
    pub fn class(&self) -> QuotaClass {
        self.class
    }

    /// How long until the same call would be granted, if nothing else takes the token first.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

/// The errors of coffer-quota.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// A call over quota.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// An account id in the configuration is not 12 digits.
    #[error("quota configuration: invalid account id {account:?}")]
    InvalidAccountId {
        /// The id as written.
        account: String,
        /// Why it is invalid.
        #[source]
        source: CoreError,
    },
    /// A configured rate is not a finite number in the accepted range.
    #[error("quota configuration: invalid rate {rate} for class {class}{}", for_account(.account))]
    InvalidRate {
        /// The class configured.
        class: QuotaClass,
        /// The account, when the rate is an account override.
        account: Option<AccountId>,
        /// The rate as configured.
        rate: f64,
    },
    /// A configured burst is out of range, or too long a window at the class's rate.
    #[error("quota configuration: invalid burst {burst} for class {class}{}", for_account(.account))]
    InvalidBurst {
        /// The class configured.
        class: QuotaClass,
        /// The account, when the burst is an account override.
        account: Option<AccountId>,
        /// The burst as configured.
        burst: u64,
    },
    /// `max_buckets` is zero.
    #[error("quota configuration: max_buckets must be at least 1")]
    InvalidMaxBuckets,
    /// `nodes` is zero or above [`MAX_NODES`](crate::MAX_NODES).
    #[error("quota configuration: nodes must be between 1 and 1024, not {0}")]
    InvalidNodes(u32),
}

fn for_account(account: &Option<AccountId>) -> String {
    account
        .map(|a| format!(" of account {a}"))
        .unwrap_or_default()
}
