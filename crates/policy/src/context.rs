//! The request context: what a policy's elements and condition keys are matched against.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use coffer_core::{Caller, EncryptionContext};

use crate::date::system_time_millis;
use crate::error::Problem;

/// Everything a policy can be asked about one request.
///
/// It borrows what the caller already holds, so building one allocates nothing, and condition keys
/// are looked up only when a statement that reaches its `Condition` asks for them. Fields left
/// `None` (or empty) are absent from the request, as IAM means it: a condition on an absent key is
/// false, except for negated operators, `...IfExists`, `ForAllValues:` and `Null`.
///
/// ```
/// use coffer_policy::RequestContext;
/// let mut ctx = RequestContext::new(
///     "kms:Encrypt",
///     "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
///     "arn:aws:iam::111122223333:user/alice",
///     "111122223333",
/// );
/// ctx.via_service = Some("s3.us-east-1.amazonaws.com");
/// ctx.secure_transport = Some(true);
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct RequestContext<'a> {
    /// The action, `service:Operation`, e.g. `kms:Encrypt` (matched case-insensitively).
    pub action: &'a str,
    /// The resource ARN, e.g. the key ARN (`*` for operations on no resource).
    pub resource: &'a str,
    /// The calling principal's ARN (`aws:PrincipalArn`).
    pub principal_arn: &'a str,
    /// The calling principal's account (`aws:PrincipalAccount`, `kms:CallerAccount`).
    pub principal_account: &'a str,
    /// When an AWS service calls as itself: its service principal, e.g. `logs.amazonaws.com`,
    /// matched by a `{"Service": ...}` principal.
    pub principal_service: Option<&'a str>,
    /// The principal's tags (`aws:PrincipalTag/<key>`).
    pub principal_tags: Option<&'a BTreeMap<String, String>>,
    /// The resource's tags (`aws:ResourceTag/<key>`).
    pub resource_tags: Option<&'a BTreeMap<String, String>>,
    /// Tags in the request, for CreateKey and TagResource (`aws:RequestTag/<key>`, and
    /// `aws:TagKeys` unless [`tag_keys`](Self::tag_keys) is set).
    pub request_tags: Option<&'a BTreeMap<String, String>>,
    /// The tag keys of a request that names keys without values, UntagResource's
    /// (`aws:TagKeys`).
    pub tag_keys: Option<&'a [String]>,
    /// The region the request is sent to (`aws:RequestedRegion`).
    pub requested_region: Option<&'a str>,
    /// Whether the key is a multi-Region key (`kms:MultiRegion`).
    pub multi_region: Option<bool>,
    /// The request's encryption context (`kms:EncryptionContext:<key>`,
    /// `kms:EncryptionContextKeys`).
    pub encryption_context: Option<&'a EncryptionContext>,
    /// The caller's address (`aws:SourceIp`).
    pub source_ip: Option<IpAddr>,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure_transport: Option<bool>,
    /// The time of the request (`aws:CurrentTime`, `aws:EpochTime`).
    pub current_time: Option<SystemTime>,
    /// The service that called on the principal's behalf, e.g. `ec2.us-east-1.amazonaws.com`
    /// (`kms:ViaService`).
    pub via_service: Option<&'a str>,
    /// The operations a CreateGrant request would allow (`kms:GrantOperations`).
    pub grant_operations: Option<&'a [String]>,
    /// Whether a CreateGrant request comes from an integrated AWS service
    /// (`kms:GrantIsForAWSResource`).
    pub grant_is_for_aws_resource: Option<bool>,
    /// `kms:KeySpec`: the key's spec, or the one a CreateKey request asks for.
    pub key_spec: Option<&'a str>,
    /// `kms:KeyUsage`.
    pub key_usage: Option<&'a str>,
    /// `kms:KeyOrigin`.
    pub key_origin: Option<&'a str>,
    /// `kms:EncryptionAlgorithm`.
    pub encryption_algorithm: Option<&'a str>,
    /// `kms:SigningAlgorithm`.
    pub signing_algorithm: Option<&'a str>,
    /// `kms:MessageType`.
    pub message_type: Option<&'a str>,
    /// `kms:RequestAlias`: the alias the request named the key by.
    pub request_alias: Option<&'a str>,
    /// `kms:ResourceAliases`: the key's aliases.
    pub resource_aliases: Option<&'a [String]>,
    /// Any other condition key: `(name, value)` pairs, names case-insensitive; a name given more
    /// than once is a multivalued key.
    pub extra: &'a [(&'a str, &'a str)],
}

impl<'a> RequestContext<'a> {
    /// A context with the action, resource and principal set, and nothing else.
    pub fn new(
        action: &'a str,
        resource: &'a str,
        principal_arn: &'a str,
        principal_account: &'a str,
    ) -> Self {
        Self {
            action,
            resource,
            principal_arn,
            principal_account,
            ..Self::default()
        }
    }

    /// A context for `caller` calling `action` on `resource`.
    pub fn for_caller(action: &'a str, resource: &'a str, caller: &'a Caller) -> Self {
        Self::new(
            action,
            resource,
            &caller.principal_arn,
            caller.account.as_str(),
        )
    }

    /// Whether the caller is its account's root user (`arn:PARTITION:iam::ACCOUNT:root`).
    pub fn caller_is_account_root(&self) -> bool {
        // Every root ARN ends so; the full parse runs only for those that do.
        self.principal_arn.ends_with(":root")
            && root_account_of(self.principal_arn) == Some(self.principal_account)
    }

    pub(crate) fn lookup<'k>(&self, key: &'k KeyRef) -> Found<'a, 'k> {
        use Found::{Absent, Keys, List, One};
        let s = |v: Option<&'a str>| {
            v.filter(|s| !s.is_empty())
                .map_or(Absent, |s| One(Val::Str(s)))
        };
        let b = |v: Option<bool>| v.map_or(Absent, |b| One(Val::Bool(b)));
        let list = |v: Option<&'a [String]>| v.map_or(Absent, List);
        let tag =
            |m: Option<&'a BTreeMap<String, String>>, k: &str| s(m.and_then(|m| get_fold(m, k)));
        match key {
            KeyRef::EncryptionContext(k) => s(self
                .encryption_context
                .and_then(|ec| get_fold(ec.as_map(), k))),
            KeyRef::EncryptionContextKeys => self
                .encryption_context
                .map_or(Absent, |ec| Keys(ec.as_map())),
            KeyRef::ViaService => s(self.via_service),
            KeyRef::CallerAccount | KeyRef::PrincipalAccount => s(Some(self.principal_account)),
            KeyRef::PrincipalArn => s(Some(self.principal_arn)),
            KeyRef::GrantIsForAwsResource => b(self.grant_is_for_aws_resource),
            KeyRef::GrantOperations => list(self.grant_operations),
            KeyRef::KeySpec => s(self.key_spec),
            KeyRef::KeyUsage => s(self.key_usage),
            KeyRef::KeyOrigin => s(self.key_origin),
            KeyRef::EncryptionAlgorithm => s(self.encryption_algorithm),
            KeyRef::SigningAlgorithm => s(self.signing_algorithm),
            KeyRef::MessageType => s(self.message_type),
            KeyRef::RequestAlias => s(self.request_alias),
            KeyRef::ResourceAliases => list(self.resource_aliases),
            KeyRef::ResourceTag(k) => tag(self.resource_tags, k),
            KeyRef::RequestTag(k) => tag(self.request_tags, k),
            KeyRef::PrincipalTag(k) => tag(self.principal_tags, k),
            KeyRef::TagKeys => match self.tag_keys {
                Some(keys) => List(keys),
                None => self.request_tags.map_or(Absent, Keys),
            },
            KeyRef::SourceIp => self.source_ip.map_or(Absent, |ip| One(Val::Ip(ip))),
            KeyRef::CurrentTime => self
                .current_time
                .map_or(Absent, |t| One(Val::Millis(system_time_millis(t)))),
            KeyRef::EpochTime => self.current_time.map_or(Absent, |t| {
                One(Val::Seconds(system_time_millis(t).div_euclid(1000)))
            }),
            KeyRef::SecureTransport => b(self.secure_transport),
            KeyRef::RequestedRegion => s(self.requested_region),
            KeyRef::MultiRegion => b(self.multi_region),
            KeyRef::Other(name) => Found::Extra(self.extra, name),
        }
    }
}

/// The account of a root-user ARN `arn:PARTITION:iam::ACCOUNT:root`, if `arn` is one.
pub(crate) fn root_account_of(arn: &str) -> Option<&str> {
    let mut p = arn.splitn(6, ':');
    let ok = p.next() == Some("arn")
        && p.next().is_some_and(|part| part.starts_with("aws"))
        && p.next() == Some("iam")
        && p.next() == Some("");
    let account = p.next()?;
    (ok && p.next() == Some("root") && is_account_id(account)).then_some(account)
}

/// Whether `s` is a 12-digit account id.
pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|c| c.is_ascii_digit())
}

/// Case-insensitive lookup: exact first, then a scan (maps here are small).
fn get_fold<'m>(m: &'m BTreeMap<String, String>, k: &str) -> Option<&'m str> {
    if let Some(v) = m.get(k) {
        return Some(v);
    }
    m.iter()
        .find(|(mk, _)| eq_fold(mk, k))
        .map(|(_, v)| v.as_str())
}

/// Unicode case-insensitive equality, without allocating.
pub(crate) fn eq_fold(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || (!(a.is_ascii() && b.is_ascii())
            && a.chars()
                .flat_map(char::to_lowercase)
                .eq(b.chars().flat_map(char::to_lowercase)))
}

/// A condition key, resolved at parse time so lookups need no string comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyRef {
    EncryptionContext(String),
    EncryptionContextKeys,
    ViaService,
    CallerAccount,
    GrantIsForAwsResource,
    GrantOperations,
    KeySpec,
    KeyUsage,
    KeyOrigin,
    EncryptionAlgorithm,
    SigningAlgorithm,
    MessageType,
    RequestAlias,
    ResourceAliases,
    ResourceTag(String),
    RequestTag(String),
    PrincipalTag(String),
    TagKeys,
    PrincipalArn,
    PrincipalAccount,
    SourceIp,
    CurrentTime,
    EpochTime,
    SecureTransport,
    RequestedRegion,
    MultiRegion,
    /// A key of [`EXTRA_CONDITION_KEYS`], lowercased; looked up in [`RequestContext::extra`].
    Other(String),
}

/// Condition keys that operations set through [`RequestContext::extra`] (lowercased): each is
/// documented by AWS KMS for the operations named beside it, and coffer sets it for those it
/// serves. A key in no list here and not modelled by a field is refused at parse time.
pub const EXTRA_CONDITION_KEYS: &[(&str, &str)] = &[
    (
        "kms:bypasspolicylockoutsafetycheck",
        "CreateKey, PutKeyPolicy",
    ),
    ("kms:granteeprincipal", "CreateGrant"),
    ("kms:retiringprincipal", "CreateGrant"),
    ("kms:grantconstrainttype", "CreateGrant"),
    ("kms:rotationperiodindays", "EnableKeyRotation"),
    (
        "kms:schedulekeydeletionpendingwindowindays",
        "ScheduleKeyDeletion",
    ),
    ("kms:reencryptonsamekey", "ReEncrypt"),
    (
        "kms:datakeypairspec",
        "GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext",
    ),
    ("kms:macalgorithm", "GenerateMac, VerifyMac"),
    ("kms:keyagreementalgorithm", "DeriveSharedSecret"),
    ("kms:multiregionkeytype", "operations on multi-Region keys"),
    ("kms:primaryregion", "UpdatePrimaryRegion"),
    ("kms:replicaregion", "ReplicateKey"),
    ("kms:expirationmodel", "ImportKeyMaterial"),
    ("kms:validto", "ImportKeyMaterial"),
    ("kms:wrappingalgorithm", "GetParametersForImport"),
    ("kms:wrappingkeyspec", "GetParametersForImport"),
];

impl KeyRef {
    /// Resolves a condition key name (case-insensitively, as IAM does); a key coffer does not
    /// evaluate is an error, never a key that silently matches nothing.
    pub(crate) fn resolve(name: &str) -> Result<Self, Problem> {
        let lower = name.to_ascii_lowercase();
        // The part after a prefix keeps its original case: it is compared case-insensitively.
        let rest = |prefix: &str| name.get(prefix.len()..).unwrap_or_default().to_owned();
        for (prefix, make) in [
            (
                "kms:encryptioncontext:",
                KeyRef::EncryptionContext as fn(String) -> KeyRef,
            ),
            ("aws:resourcetag/", KeyRef::ResourceTag),
            ("aws:requesttag/", KeyRef::RequestTag),
            ("aws:principaltag/", KeyRef::PrincipalTag),
        ] {
            if lower.starts_with(prefix) && lower.len() > prefix.len() {
                return Ok(make(rest(prefix)));
            }
        }
        Ok(match lower.as_str() {
            "kms:encryptioncontextkeys" => Self::EncryptionContextKeys,
            "kms:viaservice" => Self::ViaService,
            "kms:calleraccount" => Self::CallerAccount,
            "kms:grantisforawsresource" => Self::GrantIsForAwsResource,
            "kms:grantoperations" => Self::GrantOperations,
            // The deprecated names are the same keys with the same values.
            "kms:keyspec" | "kms:customermasterkeyspec" => Self::KeySpec,
            "kms:keyusage" | "kms:customermasterkeyusage" => Self::KeyUsage,
            "kms:keyorigin" => Self::KeyOrigin,
            "kms:encryptionalgorithm" => Self::EncryptionAlgorithm,
            "kms:signingalgorithm" => Self::SigningAlgorithm,
            "kms:messagetype" => Self::MessageType,
            "kms:requestalias" => Self::RequestAlias,
            "kms:resourcealiases" => Self::ResourceAliases,
            "kms:multiregion" => Self::MultiRegion,
            "aws:tagkeys" => Self::TagKeys,
            "aws:principalarn" => Self::PrincipalArn,
            "aws:principalaccount" => Self::PrincipalAccount,
            "aws:sourceip" => Self::SourceIp,
            "aws:currenttime" => Self::CurrentTime,
            "aws:epochtime" => Self::EpochTime,
            "aws:securetransport" => Self::SecureTransport,
            "aws:requestedregion" => Self::RequestedRegion,
            other if EXTRA_CONDITION_KEYS.iter().any(|(k, _)| *k == other) => Self::Other(lower),
            _ => return Err(Problem::UnsupportedConditionKey(name.to_owned())),
        })
    }
}

/// One value of a key in the request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Val<'a> {
    Str(&'a str),
    Bool(bool),
    Ip(IpAddr),
    /// A time, in milliseconds since the epoch.
    Millis(i64),
    /// A count of seconds (`aws:EpochTime`).
    Seconds(i64),
}

/// The values of a key in the request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Found<'a, 'k> {
    Absent,
    One(Val<'a>),
    List(&'a [String]),
    /// The keys of a map (encryption-context keys, tag keys).
    Keys(&'a BTreeMap<String, String>),
    /// The entries of `extra` named (case-insensitively) by the second field.
    Extra(&'a [(&'a str, &'a str)], &'k str),
}

impl<'a> Found<'a, '_> {
    /// Whether the key is absent or has no values (IAM treats an empty set as absent).
    pub(crate) fn is_absent(&self) -> bool {
        match self {
            Self::Absent => true,
            Self::One(_) => false,
            Self::List(l) => l.is_empty(),
            Self::Keys(m) => m.is_empty(),
            Self::Extra(e, name) => !e.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)),
        }
    }

    /// Whether `f` holds for some value.
    pub(crate) fn any(&self, mut f: impl FnMut(Val<'a>) -> bool) -> bool {
        match *self {
            Self::Absent => false,
            Self::One(v) => f(v),
            Self::List(l) => l.iter().any(|s| f(Val::Str(s))),
            Self::Keys(m) => m.keys().any(|s| f(Val::Str(s))),
            Self::Extra(e, name) => e
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .any(|(_, v)| f(Val::Str(v))),
        }
    }

    /// Whether `f` holds for every value (true when there are none).
    pub(crate) fn all(&self, mut f: impl FnMut(Val<'a>) -> bool) -> bool {
        !self.any(|v| !f(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_arns() {
        assert_eq!(
            root_account_of("arn:aws:iam::111122223333:root"),
            Some("111122223333")
        );
        assert_eq!(
            root_account_of("arn:aws-cn:iam::111122223333:root"),
            Some("111122223333")
        );
        assert_eq!(root_account_of("arn:aws:iam::111122223333:user/root"), None);
        assert_eq!(root_account_of("arn:aws:sts::111122223333:root"), None);
        assert_eq!(root_account_of("arn:aws:iam::1111:root"), None);
        assert_eq!(root_account_of("111122223333"), None);
    }

    #[test]
    fn key_names_resolve_case_insensitively() {
        let r = |n: &str| KeyRef::resolve(n).unwrap();
        assert_eq!(r("KMS:ViaService"), KeyRef::ViaService);
        assert_eq!(
            r("kms:EncryptionContext:Department"),
            KeyRef::EncryptionContext("Department".into())
        );
        assert_eq!(r("AWS:RESOURCETAG/env"), KeyRef::ResourceTag("env".into()));
        assert_eq!(r("kms:CustomerMasterKeySpec"), KeyRef::KeySpec);
        assert_eq!(
            r("kms:GranteePrincipal"),
            KeyRef::Other("kms:granteeprincipal".into())
        );
    }

    #[test]
    fn keys_coffer_cannot_evaluate_are_refused() {
        for name in [
            "aws:ResourceTag/",
            "kms:Custom",
            "aws:PrincipalOrgID",
            "aws:SourceVpce",
            "aws:MultiFactorAuthPresent",
            "kms:RecipientAttestation:ImageSha384",
            "s3:prefix",
        ] {
            assert_eq!(
                KeyRef::resolve(name),
                Err(Problem::UnsupportedConditionKey(name.into())),
                "{name}"
            );
        }
    }

    #[test]
    fn folding() {
        assert!(eq_fold("Department", "department"));
        assert!(eq_fold("ÉTÉ", "été"));
        assert!(!eq_fold("a", "b"));
    }
}
