//! Who is calling, and everything about the call that authorization may ask.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use coffer_core::{AccountId, CoreError};
use coffer_policy::Policy;

/// The caller of an operation: the authenticated principal and its account, the principal's tags
/// and identity policies, and facts about the request's transport.
///
/// The account owns what the caller creates. Authorization evaluates the key policy, these
/// identity policies and grants as AWS KMS does. `via_service` is set only by a trusted
/// integration (a service credential), never from the request itself.
///
/// Derefs to [`coffer_core::Caller`] (`principal_arn`, `account`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Caller {
    identity: coffer_core::Caller,
    /// The principal's tags (`aws:PrincipalTag/<key>`).
    pub tags: BTreeMap<String, String>,
    /// The principal's identity (IAM) policies.
    pub identity_policies: IdentityPolicies,
    /// The address the request came from (`aws:SourceIp`).
    pub source_ip: Option<IpAddr>,
    /// Whether the request came over TLS (`aws:SecureTransport`); in process: `true`.
    pub secure_transport: bool,
    /// The service calling on the principal's behalf (`kms:ViaService`), asserted by a trusted
    /// service credential.
    pub via_service: Option<String>,
    /// The access key the request was signed with, for the audit record's
    /// `userIdentity.accessKeyId` (a server sets it; in process: `None`).
    pub access_key_id: Option<String>,
    /// The id the server gave the request (its `x-amzn-RequestId`), for the audit record's
    /// `requestID` (in process: `None`).
    pub request_id: Option<String>,
    /// The request's `User-Agent`, at most [`MAX_USER_AGENT_CHARS`] characters, for the audit
    /// record's `userAgent`.
    pub user_agent: Option<String>,
}

/// A caller's identity policies: a list that can only grow through methods that give it a new
/// set id (a process-wide counter, never an address), so that two lists with the same id hold the
/// same policies. Authorization remembers an allow under that id (see `CachedKey`'s memo);
/// a changed list has a new id and is decided afresh.
///
/// Derefs to the slice of policies; grows with [`push`](Self::push) or [`Extend`].
#[derive(Clone, Debug, Default)]
pub struct IdentityPolicies {
    policies: Vec<Arc<Policy>>,
    /// 0 for the empty list (every empty list holds the same policies: none); else unique.
    id: u64,
    /// Whether no statement of any of the policies has a condition.
    condition_free: bool,
}

/// The next identity-policy set id (0 is the empty set's).
static NEXT_SET_ID: AtomicU64 = AtomicU64::new(1);

impl IdentityPolicies {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a policy; the list gets a new set id.
    pub fn push(&mut self, policy: Arc<Policy>) {
        self.policies.push(policy);
        self.renumber();
    }

    fn renumber(&mut self) {
        if self.policies.is_empty() {
            self.id = 0;
            self.condition_free = true;
        } else {
            self.id = NEXT_SET_ID.fetch_add(1, Ordering::Relaxed);
            self.condition_free = self.policies.iter().all(|p| p.is_condition_free());
        }
    }

    /// The set id: equal ids, equal policies (the converse need not hold).
    pub(crate) fn set_id(&self) -> u64 {
        self.id
    }

    /// Whether no statement of any policy has a condition: their decision then depends on the
    /// action, resource and principal alone.
    pub(crate) fn condition_free(&self) -> bool {
        self.condition_free || self.policies.is_empty()
    }
}

impl Deref for IdentityPolicies {
    type Target = [Arc<Policy>];

    fn deref(&self) -> &[Arc<Policy>] {
        &self.policies
    }
}

impl Extend<Arc<Policy>> for IdentityPolicies {
    fn extend<I: IntoIterator<Item = Arc<Policy>>>(&mut self, iter: I) {
        self.policies.extend(iter);
        self.renumber();
    }
}

impl FromIterator<Arc<Policy>> for IdentityPolicies {
    fn from_iter<I: IntoIterator<Item = Arc<Policy>>>(iter: I) -> Self {
        let mut set = Self::default();
        set.extend(iter);
        set
    }
}

impl<'a> IntoIterator for &'a IdentityPolicies {
    type Item = &'a Arc<Policy>;
    type IntoIter = std::slice::Iter<'a, Arc<Policy>>;

    fn into_iter(self) -> Self::IntoIter {
        self.policies.iter()
    }
}

/// The longest `User-Agent` kept in an audit record, in characters; a longer one is cut there.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// `user_agent` cut to [`MAX_USER_AGENT_CHARS`] characters.
pub(crate) fn cut_user_agent(user_agent: &str) -> &str {
    let cut = user_agent
        .char_indices()
        .nth(MAX_USER_AGENT_CHARS)
        .map_or(user_agent.len(), |(i, _)| i);
    user_agent.get(..cut).unwrap_or(user_agent)
}

impl Caller {
    /// A caller with the given principal ARN (a [`coffer_core::PrincipalArn`]; its account is
    /// read from the ARN), no tags and no identity policies. A malformed ARN is
    /// [`CoreError::InvalidPrincipal`], which `?` turns into a `ValidationException`.
    pub fn new(principal_arn: &str) -> Result<Self, CoreError> {
        Ok(Self::from_identity(coffer_core::Caller::new(
            principal_arn,
        )?))
    }

    /// The account's root principal, `arn:aws:iam::ACCOUNT:root`, which needs no identity
    /// policy where a key policy names its account.
    pub fn account_root(account: AccountId) -> Self {
        Self::from_identity(coffer_core::Caller::account_root(account))
    }

    fn from_identity(identity: coffer_core::Caller) -> Self {
        Self {
            identity,
            tags: BTreeMap::new(),
            identity_policies: IdentityPolicies::new(),
            source_ip: None,
            secure_transport: true,
            via_service: None,
            access_key_id: None,
            request_id: None,
            user_agent: None,
        }
    }

    /// Adds an identity policy.
    pub fn with_identity_policy(mut self, policy: Policy) -> Self {
        self.identity_policies.push(Arc::new(policy));
        self
    }

    /// Adds an identity policy given as JSON (the IAM grammar; `MalformedPolicyDocument` errors
    /// say where a document is wrong).
    pub fn with_identity_policy_json(self, json: &str) -> Result<Self, coffer_policy::PolicyError> {
        Ok(self.with_identity_policy(Policy::parse_identity_policy(json)?))
    }

    /// Adds a principal tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Sets the access key the request was signed with (recorded in audit events).
    pub fn with_access_key_id(mut self, access_key_id: impl Into<String>) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self
    }

    /// Sets the id the server gave the request (recorded as the audit record's `requestID`).
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Sets the request's `User-Agent` (recorded as the audit record's `userAgent`), cut to
    /// [`MAX_USER_AGENT_CHARS`] characters.
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = Some(cut_user_agent(user_agent).to_owned());
        self
    }

    /// Sets the source address.
    pub fn with_source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// Sets whether the transport was secure.
    pub fn with_secure_transport(mut self, secure: bool) -> Self {
        self.secure_transport = secure;
        self
    }

    /// Sets the service acting for the principal. Only a trusted integration may call this.
    pub fn with_via_service(mut self, service: impl Into<String>) -> Self {
        self.via_service = Some(service.into());
        self
    }

    /// Whether this is the account's root principal (`arn:PARTITION:iam::ACCOUNT:root`).
    pub fn is_account_root(&self) -> bool {
        self.identity.is_account_root()
    }

    /// The principal without the request facts.
    pub fn identity(&self) -> &coffer_core::Caller {
        &self.identity
    }
}

impl Deref for Caller {
    type Target = coffer_core::Caller;

    fn deref(&self) -> &coffer_core::Caller {
        &self.identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
    const CONDITIONAL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;

    #[test]
    fn every_change_to_an_identity_policy_set_gives_it_a_new_id() {
        let empty = IdentityPolicies::new();
        assert_eq!(empty.set_id(), 0);
        assert!(empty.condition_free());
        let c = Caller::new("arn:aws:iam::111122223333:user/u")
            .unwrap()
            .with_identity_policy_json(ALLOW)
            .unwrap();
        let a = c.identity_policies.set_id();
        assert_ne!(a, 0);
        assert!(c.identity_policies.condition_free());
        // A clone holds the same policies: the same id.
        let same = c.clone();
        assert_eq!(same.identity_policies.set_id(), a);
        // The same document built again is another set.
        let again = Caller::new("arn:aws:iam::111122223333:user/u")
            .unwrap()
            .with_identity_policy_json(ALLOW)
            .unwrap();
        assert_ne!(again.identity_policies.set_id(), a);
        let mut pushed = c.clone();
        pushed.identity_policies.push(Arc::new(
            Policy::parse_identity_policy(CONDITIONAL).unwrap(),
        ));
        assert_ne!(pushed.identity_policies.set_id(), a);
        assert!(!pushed.identity_policies.condition_free());
        let mut extended = c.clone();
        extended.identity_policies.extend(std::iter::empty());
        assert_ne!(extended.identity_policies.set_id(), a);
        let collected: IdentityPolicies = c.identity_policies.iter().cloned().collect();
        assert_ne!(collected.set_id(), a);
        assert_eq!(collected.len(), 1);
    }

    #[test]
    fn a_long_user_agent_is_cut_on_a_character_boundary() {
        let c = Caller::new("arn:aws:iam::111122223333:user/u").unwrap();
        let short = c.clone().with_user_agent("aws-cli/2.15");
        assert_eq!(short.user_agent.as_deref(), Some("aws-cli/2.15"));
        let long = "é".repeat(MAX_USER_AGENT_CHARS + 10);
        let cut = c.with_user_agent(&long);
        let kept = cut.user_agent.unwrap();
        assert_eq!(kept.chars().count(), MAX_USER_AGENT_CHARS);
        assert!(long.starts_with(&kept));
    }
}
