//! Identity-policy decisions for actions outside KMS, such as a server's own management API
//! (cofferd's `coffer:CreateCredential` on a principal's ARN).
//!
//! Only the caller's identity policies are evaluated (there is no key, so no key policy and no
//! grant), by the same engine as every KMS request ([`Policy::evaluate`](crate::Policy)): an
//! explicit deny in any policy wins, otherwise one allow is needed. Unlike KMS actions on no key
//! (CreateKey, ListKeys), the account's root principal gets **no** implied permission here: what
//! the policies say is all there is.

use std::collections::BTreeMap;

use coffer_policy::Decision;

use crate::authz::{identity_decision, Access};

use crate::{Caller, Kms};

/// The outcome of [`Kms::evaluate_identity_policies`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdentityDecision {
    /// An identity policy allows the action on the resource and none denies it.
    Allow,
    /// An identity policy denies it. Nothing overrides this.
    ExplicitDeny,
    /// No statement applies: denied by default.
    ImplicitDeny,
}

impl IdentityDecision {
    /// Whether the decision is [`Allow`](Self::Allow).
    pub fn is_allow(self) -> bool {
        self == Self::Allow
    }
}

/// What a request tells the policies besides action, resource and caller: the condition keys
/// `aws:RequestTag/<key>` and `aws:TagKeys` (tags the request sets) and `aws:ResourceTag/<key>`
/// (tags of the resource acted on). The caller's own facts (`aws:PrincipalTag/…`,
/// `aws:SourceIp`, `aws:SecureTransport`, `aws:CurrentTime`) come from the [`Caller`].
#[derive(Clone, Copy, Debug, Default)]
pub struct IdentityRequest<'a> {
    request_tags: Option<&'a BTreeMap<String, String>>,
    resource_tags: Option<&'a BTreeMap<String, String>>,
}

impl<'a> IdentityRequest<'a> {
    /// A request with no tags.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tags the request sets (`aws:RequestTag/<key>`, `aws:TagKeys`).
    pub fn request_tags(mut self, tags: &'a BTreeMap<String, String>) -> Self {
        self.request_tags = Some(tags);
        self
    }

    /// The tags of the resource acted on (`aws:ResourceTag/<key>`).
    pub fn resource_tags(mut self, tags: &'a BTreeMap<String, String>) -> Self {
        self.resource_tags = Some(tags);
        self
    }
}

impl Kms {
    /// Evaluates `caller`'s identity policies for `action` (`service:Operation`, e.g.
    /// `coffer:CreateCredential`) on `resource` (an ARN), for an API outside KMS.
    ///
    /// An action of the `kms` service is always [`ImplicitDeny`](IdentityDecision::ImplicitDeny):
    /// KMS operations are authorized by the operations themselves, with the key policy and
    /// grants, and must not be decided from identity policies alone. No principal, not even the
    /// account root, is allowed anything its policies do not allow. With
    /// `KmsBuilder::danger_skip_authorization` (feature `testing`) everything is allowed, as for
    /// every other request.
    ///
    /// ```
    /// use coffer::{Caller, IdentityDecision, IdentityRequest, Kms};
    /// let kms = Kms::builder().build()?;
    /// let ops = Caller::new("arn:aws:iam::111122223333:user/ops")?.with_identity_policy_json(
    ///     r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    ///         "Action":"coffer:CreateCredential","Resource":"arn:aws:iam::111122223333:user/app-*"}]}"#,
    /// )?;
    /// let decide = |resource| {
    ///     kms.evaluate_identity_policies(&ops, "coffer:CreateCredential", resource, IdentityRequest::new())
    /// };
    /// assert_eq!(decide("arn:aws:iam::111122223333:user/app-1"), IdentityDecision::Allow);
    /// assert_eq!(decide("arn:aws:iam::111122223333:root"), IdentityDecision::ImplicitDeny);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn evaluate_identity_policies(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        request: IdentityRequest<'_>,
    ) -> IdentityDecision {
        if !self.authorization {
            return IdentityDecision::Allow;
        }
        if action
            .get(..4)
            .is_none_or(|s| s.eq_ignore_ascii_case("kms:"))
        {
            return IdentityDecision::ImplicitDeny;
        }
        let access = Access {
            request_tags: request.request_tags,
            ..Access::default()
        };
        let mut ctx = self.context(caller, action, resource, &access);
        ctx.resource_tags = request.resource_tags;
        match identity_decision(caller, &ctx) {
            Decision::Allow => IdentityDecision::Allow,
            Decision::ExplicitDeny => IdentityDecision::ExplicitDeny,
            _ => IdentityDecision::ImplicitDeny,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(policies: &[&str]) -> Caller {
        let mut c = Caller::new("arn:aws:iam::111122223333:user/ops").unwrap();
        for p in policies {
            c = c.with_identity_policy_json(p).unwrap();
        }
        c
    }

    const APP: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"coffer:*Credential*","Resource":"arn:aws:iam::111122223333:user/app-*"},
        {"Effect":"Deny","Action":"coffer:RevokeCredential","Resource":"arn:aws:iam::111122223333:user/app-prod"}]}"#;

    #[test]
    fn policies_decide_and_explicit_deny_wins() {
        let kms = Kms::builder().build().unwrap();
        let c = caller(&[APP]);
        let d = |a: &str, r: &str| kms.evaluate_identity_policies(&c, a, r, IdentityRequest::new());
        let app = "arn:aws:iam::111122223333:user/app-1";
        assert_eq!(d("coffer:CreateCredential", app), IdentityDecision::Allow);
        assert_eq!(d("COFFER:createcredential", app), IdentityDecision::Allow);
        assert_eq!(
            d(
                "coffer:CreateCredential",
                "arn:aws:iam::111122223333:user/ops"
            ),
            IdentityDecision::ImplicitDeny
        );
        assert_eq!(
            d(
                "coffer:RevokeCredential",
                "arn:aws:iam::111122223333:user/app-prod"
            ),
            IdentityDecision::ExplicitDeny
        );
        // A deny in another policy wins over this allow.
        let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"coffer:*","Resource":"*"}]}"#;
        let c2 = caller(&[APP, deny]);
        assert_eq!(
            kms.evaluate_identity_policies(
                &c2,
                "coffer:CreateCredential",
                app,
                IdentityRequest::new()
            ),
            IdentityDecision::ExplicitDeny
        );
    }

    #[test]
    fn the_account_root_gets_nothing_implied_and_kms_actions_are_never_decided_here() {
        let kms = Kms::builder().build().unwrap();
        let root = Caller::new("arn:aws:iam::111122223333:root").unwrap();
        for a in ["coffer:CreateCredential", "coffer:ListCredentials"] {
            assert_eq!(
                kms.evaluate_identity_policies(
                    &root,
                    a,
                    "arn:aws:iam::111122223333:root",
                    IdentityRequest::new()
                ),
                IdentityDecision::ImplicitDeny
            );
        }
        let all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let c = caller(&[all]);
        for a in ["kms:Decrypt", "KMS:CreateKey", "kms", ""] {
            assert_eq!(
                kms.evaluate_identity_policies(&c, a, "*", IdentityRequest::new()),
                IdentityDecision::ImplicitDeny,
                "{a}"
            );
        }
        assert!(kms
            .evaluate_identity_policies(&c, "coffer:TagCredential", "*", IdentityRequest::new())
            .is_allow());
    }

    #[test]
    fn request_and_resource_tags_reach_conditions() {
        let kms = Kms::builder().build().unwrap();
        let p = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"coffer:TagCredential","Resource":"*",
             "Condition":{"StringEquals":{"aws:RequestTag/team":"payments"},
                          "ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}},
            {"Effect":"Allow","Action":"coffer:RotateCredential","Resource":"*",
             "Condition":{"StringEquals":{"aws:ResourceTag/team":"payments"}}}]}"#;
        let c = caller(&[p]);
        let tags = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        let r = "arn:aws:iam::111122223333:role/app";
        let good = tags("team", "payments");
        let bad = tags("team", "search");
        let d = |a: &str, req: IdentityRequest<'_>| kms.evaluate_identity_policies(&c, a, r, req);
        assert!(d(
            "coffer:TagCredential",
            IdentityRequest::new().request_tags(&good)
        )
        .is_allow());
        assert!(!d(
            "coffer:TagCredential",
            IdentityRequest::new().request_tags(&bad)
        )
        .is_allow());
        assert!(!d("coffer:TagCredential", IdentityRequest::new()).is_allow());
        assert!(d(
            "coffer:RotateCredential",
            IdentityRequest::new().resource_tags(&good)
        )
        .is_allow());
        assert!(!d(
            "coffer:RotateCredential",
            IdentityRequest::new().resource_tags(&bad)
        )
        .is_allow());
    }

    #[cfg(feature = "testing")]
    #[test]
    fn skipping_authorization_allows_everything() {
        let kms = Kms::builder().danger_skip_authorization().build().unwrap();
        let c = caller(&[]);
        assert!(kms
            .evaluate_identity_policies(&c, "coffer:CreateCredential", "*", IdentityRequest::new())
            .is_allow());
    }
}
