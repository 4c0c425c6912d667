//! Who is calling, and everything about the call that authorization may ask.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Deref;
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
    pub identity_policies: Vec<Arc<Policy>>,
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
            identity_policies: Vec::new(),
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
