//! Configuration: rates and bursts per class, a default for every account and overrides per
//! account.

use std::collections::{BTreeMap, HashMap};

use coffer_core::AccountId;
use serde::{Deserialize, Serialize};

use crate::limit::Limit;
use crate::{QuotaClass, QuotaError};

/// The most nodes [`QuotaConfig::nodes`] may name.
pub const MAX_NODES: u32 = 1024;

/// The default bound on the number of buckets kept in memory.
pub const DEFAULT_MAX_BUCKETS: usize = 1 << 18;

/// The quota configuration, embeddable in the server's configuration file.
///
/// Every field may be left out. Field by field, the most specific setting wins: an account's
/// override, then the `defaults` entry of the class, then the built-in default
/// ([`QuotaClass::default_rate`]; burst = one second of the effective rate, at least 1).
///
/// ```
/// # use coffer_quota::QuotaConfig;
/// let config: QuotaConfig = serde_json::from_str(r#"{
///     "defaults": { "SymmetricCryptographic": { "rate": 50000 }, "CreateKey": { "burst": 20 } },
///     "accounts": { "111122223333": { "DataKeyPair_RSA_4096": { "rate": 0.5, "burst": 2 } } }
/// }"#)?;
/// assert!(config.enabled);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// `false` turns quotas off: every check is granted. Default `true`.
    pub enabled: bool,
    /// The most buckets kept in memory at once (default [`DEFAULT_MAX_BUCKETS`]). See
    /// [`Quotas::capacity`](crate::Quotas::capacity) for the exact bound and what happens at it.
    pub max_buckets: usize,
    /// Per-class settings for every account.
    pub defaults: BTreeMap<QuotaClass, LimitOverride>,
    /// Per-class settings for one account, keyed by the 12-digit account id.
    pub accounts: BTreeMap<String, BTreeMap<QuotaClass, LimitOverride>>,
    /// How many nodes share these quotas (default 1). Several cofferd nodes on one database
    /// each enforce their share: every effective rate divided by `nodes`, every burst divided
    /// and rounded up (at least 1). With requests spread evenly over the nodes the cluster
    /// admits the account's rate; with them on `k` of the nodes, `k / nodes` of it
    /// (docs/QUOTAS.md, "Several nodes").
    pub nodes: u32,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_buckets: DEFAULT_MAX_BUCKETS,
            defaults: BTreeMap::new(),
            accounts: BTreeMap::new(),
            nodes: 1,
        }
    }
}

impl QuotaConfig {
    /// Checks the configuration as [`Quotas::new`](crate::Quotas::new) resolves it: every
    /// account id is 12 digits, every effective rate and burst (an account's override over the
    /// class default over the built-in default) is in range, and `max_buckets` is at least 1.
    /// The error is one of the configuration variants of [`QuotaError`], never
    /// [`QuotaError::Throttled`].
    ///
    /// ```
    /// # use coffer_quota::{QuotaConfig, QuotaError};
    /// let bad: QuotaConfig = serde_json::from_str(r#"{"accounts": {"12": {}}}"#)?;
    /// assert!(matches!(bad.validate(), Err(QuotaError::InvalidAccountId { .. })));
    /// QuotaConfig::default().validate()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn validate(&self) -> Result<(), QuotaError> {
        LimitTable::resolve(self).map(drop)
    }
}

/// A rate and burst setting; either may be left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverride {
    /// Requests per second (fractions allowed: 0.25 is one request in four seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// The most requests granted back to back from a full bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
}

/// One effective limit per class, indexed by [`QuotaClass::index`].
pub(crate) type ClassLimits = Box<[Limit]>;

/// The resolved configuration.
#[derive(Debug)]
pub(crate) struct LimitTable {
    pub(crate) defaults: ClassLimits,
    /// Keyed by [`crate::quotas::account_bits`].
    pub(crate) accounts: HashMap<u64, ClassLimits>,
}

impl LimitTable {
    pub(crate) fn resolve(config: &QuotaConfig) -> Result<Self, QuotaError> {
        if config.max_buckets == 0 {
            return Err(QuotaError::InvalidMaxBuckets);
        }
        if config.nodes == 0 || config.nodes > MAX_NODES {
            return Err(QuotaError::InvalidNodes(config.nodes));
        }
        let nodes = config.nodes;
        let defaults = resolve_layer(&config.defaults, None, &BTreeMap::new(), nodes)?;
        let mut accounts = HashMap::with_capacity(config.accounts.len());
        for (id, overrides) in &config.accounts {
            let account = AccountId::parse(id).map_err(|source| QuotaError::InvalidAccountId {
                account: id.clone(),
                source,
            })?;
            let limits = resolve_layer(overrides, Some(account), &config.defaults, nodes)?;
            accounts.insert(crate::quotas::account_bits(&account), limits);
        }
        Ok(Self { defaults, accounts })
    }

    /// The limit for one account and class.
    pub(crate) fn limit(&self, account: u64, class: QuotaClass) -> Limit {
        let limits = self.accounts.get(&account).unwrap_or(&self.defaults);
        match limits.get(class.index()) {
            Some(limit) => *limit,
            // Unreachable: every table has one entry per class. Fall back to a strict limit
            // rather than panic.
            None => Limit::ONE_PER_SECOND,
        }
    }
}

/// Resolves every class: `top` (the layer being resolved), then `below` (the defaults layer,
/// empty when resolving the defaults themselves), then the built-in default.
fn resolve_layer(
    top: &BTreeMap<QuotaClass, LimitOverride>,
    account: Option<AccountId>,
    below: &BTreeMap<QuotaClass, LimitOverride>,
    nodes: u32,
) -> Result<ClassLimits, QuotaError> {
    let mut out = Vec::with_capacity(QuotaClass::ALL.len());
    for &class in QuotaClass::ALL {
        let top = top.get(&class).copied().unwrap_or_default();
        let below = below.get(&class).copied().unwrap_or_default();
        let rate = top.rate.or(below.rate).unwrap_or(class.default_rate());
        let burst = top
            .burst
            .or(below.burst)
            .unwrap_or_else(|| Limit::default_burst(rate));
        if Limit::new(rate, 1).is_none() {
            return Err(QuotaError::InvalidRate {
                class,
                account,
                rate,
            });
        }
        let limit = Limit::new(rate, burst).ok_or(QuotaError::InvalidBurst {
            class,
            account,
            burst,
        })?;
        // This node's share: the account's limit as configured was checked above.
        let limit = if nodes > 1 {
            let share_rate = rate / f64::from(nodes);
            let share_burst = burst.div_ceil(u64::from(nodes)).max(1);
            Limit::new(share_rate, share_burst).ok_or(QuotaError::InvalidRate {
                class,
                account,
                rate: share_rate,
            })?
        } else {
            limit
        };
        out.push(limit);
    }
    Ok(out.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> QuotaConfig {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn validate_names_each_problem_by_its_variant() {
        config("{}").validate().unwrap();
        config(r#"{"defaults": {"CreateKey": {"rate": 2.5, "burst": 3}}}"#)
            .validate()
            .unwrap();
        assert!(matches!(
            config(r#"{"max_buckets": 0}"#).validate(),
            Err(QuotaError::InvalidMaxBuckets)
        ));
        assert!(matches!(
            config(r#"{"accounts": {"12": {}}}"#).validate(),
            Err(QuotaError::InvalidAccountId { ref account, .. }) if account == "12"
        ));
        assert!(matches!(
            config(r#"{"defaults": {"CreateKey": {"rate": -1.0}}}"#).validate(),
            Err(QuotaError::InvalidRate {
                class: QuotaClass::CreateKey,
                account: None,
                ..
            })
        ));
        let e = config(r#"{"accounts": {"111122223333": {"CreateKey": {"burst": 0}}}}"#)
            .validate()
            .unwrap_err();
        assert!(
            matches!(
                e,
                QuotaError::InvalidBurst { class: QuotaClass::CreateKey, account: Some(a), burst: 0 }
                    if a.to_string() == "111122223333"
            ),
            "{e:?}"
        );
    }
}
