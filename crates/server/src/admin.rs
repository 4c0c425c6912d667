//! Credential management over the wire: `X-Amz-Target: CofferAdmin.<Operation>`.
//!
//! Two gates, both required: the caller's credential is an **administrator** credential, and
//! the caller's identity policies (stored with the credential, and the configuration's for its
//! principal) allow the operation's `coffer:` actions on the ARN of the principal whose
//! credential is touched ([`Kms::evaluate_identity_policies`]: an explicit deny wins; nothing is
//! implied, not even for an account root). The bootstrap administrator alone is allowed every
//! action its policies do not explicitly deny. What a new (or rotated) credential carries
//! beyond its principal needs its own action: identity policies `coffer:PutCredentialPolicy`,
//! tags `coffer:TagCredential`, a service binding `coffer:CreateServiceCredential`, the
//! administrator flag `coffer:CreateAdministratorCredential`
//! (docs/CREDENTIALS.md has the table).
//!
//! Every call is audited (`Kms::audit_external`), refusals included, with no secret in the
//! record; a change is recorded before it is written, and a change whose record cannot be
//! written is not made (KMSInternalException).

use std::collections::BTreeMap;

use coffer::audit_log::{FileSink, SignedDigest};
use coffer::{Caller, IdentityDecision, IdentityRequest, Kms};
use serde::Deserialize;
use serde_json::{json, Value};

use coffer_credentials::{Credential, CredentialStore, NewCredential, Rotated};

use crate::ApiError;

/// The credential store's refusals on the wire: its exception name and message, as given.
impl From<coffer_credentials::Error> for ApiError {
    fn from(e: coffer_credentials::Error) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

/// `coffer:CreateCredential`: a credential for the principal (the resource).
pub(crate) const CREATE: &str = "coffer:CreateCredential";
/// `coffer:ListCredentials`: see the principal's credentials in ListCredentials.
pub(crate) const LIST: &str = "coffer:ListCredentials";
/// `coffer:RotateCredential`: a new key for one of the principal's credentials.
pub(crate) const ROTATE: &str = "coffer:RotateCredential";
/// `coffer:RevokeCredential`: remove one of the principal's credentials.
pub(crate) const REVOKE: &str = "coffer:RevokeCredential";
/// `coffer:RetireBootstrapCredential`: retire the bootstrap credential (of its account root).
pub(crate) const RETIRE: &str = "coffer:RetireBootstrapCredential";
/// `coffer:PutCredentialPolicy`: a created or rotated credential carries identity policies.
pub(crate) const PUT_POLICY: &str = "coffer:PutCredentialPolicy";
/// `coffer:TagCredential`: a created or rotated credential carries tags.
pub(crate) const TAG: &str = "coffer:TagCredential";
/// `coffer:CreateAdministratorCredential`: a created or rotated credential is an administrator.
pub(crate) const CREATE_ADMIN: &str = "coffer:CreateAdministratorCredential";
/// `coffer:CreateServiceCredential`: a created or rotated credential is bound to a service
/// (`ViaService`): its calls carry `kms:ViaService`, which AWS managed keys and policies trust.
pub(crate) const BIND_SERVICE: &str = "coffer:CreateServiceCredential";
/// `coffer:GetAuditDigest`: read the audit log's latest signed digest (resource `*`).
pub(crate) const GET_DIGEST: &str = "coffer:GetAuditDigest";

/// Every action an identity policy can name for credential management.
#[cfg(test)]
const ACTIONS: [&str; 10] = [
    CREATE,
    LIST,
    ROTATE,
    REVOKE,
    RETIRE,
    PUT_POLICY,
    TAG,
    CREATE_ADMIN,
    BIND_SERVICE,
    GET_DIGEST,
];

/// The operations, as named after `CofferAdmin.`.
pub const OPERATIONS: [&str; 6] = [
    "CreateCredential",
    "ListCredentials",
    "RotateCredential",
    "RevokeCredential",
    "RetireBootstrapCredential",
    "GetLatestAuditDigest",
];

/// Default grace period of a rotation: one day.
const DEFAULT_GRACE_SECS: i64 = 86_400;
/// Default and largest page of ListCredentials.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateRequest {
    principal_arn: String,
    #[serde(default)]
    administrator: bool,
    #[serde(default)]
    identity_policies: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    via_service: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRequest {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RotateRequest {
    access_key_id: String,
    #[serde(default)]
    grace_period_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RevokeRequest {
    access_key_id: String,
}

/// Runs one credential-management operation for `cred` (already authenticated); `caller` is
/// its caller with the request's facts (source address). `audit_log` is the file sink whose
/// latest digest GetLatestAuditDigest returns (`None`: there is none to return).
pub fn dispatch(
    kms: &Kms,
    creds: &CredentialStore,
    audit_log: Option<&FileSink>,
    cred: &Credential,
    caller: &Caller,
    op: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    // A peer region's replication calls (multi-Region keys): authorized and audited by the
    // facade.
    if let Some(r) = crate::replication::dispatch(kms, caller, op, body) {
        return r;
    }
    let Some(op) = OPERATIONS.iter().copied().find(|o| *o == op) else {
        let name = if op.len() <= 64 && op.bytes().all(|b| b.is_ascii_alphanumeric()) {
            op
        } else {
            "UnknownOperation"
        };
        let e = crate::protocol::unknown_operation();
        audit(kms, caller, name, json!({}), Err(&e))?;
        return Err(e);
    };
    let mut audit_failed = false;
    let mut params = json!({});
    let r = run(
        kms,
        creds,
        audit_log,
        cred,
        caller,
        op,
        body,
        &mut params,
        &mut audit_failed,
    );
    match r {
        Ok(body) => Ok(body),
        Err(e) if audit_failed => Err(e),
        Err(e) => {
            audit(kms, caller, op, params, Err(&e))?;
            Err(e)
        }
    }
}

/// Who asks, and what their policies allow.
struct Authz<'a> {
    kms: &'a Kms,
    cred: &'a Credential,
    caller: &'a Caller,
}

impl Authz<'_> {
    /// Whether `action` on `resource` is allowed: the caller's identity policies decide; the
    /// bootstrap administrator is allowed what they do not explicitly deny.
    fn allows(&self, action: &str, resource: &str, request: IdentityRequest<'_>) -> bool {
        match self
            .kms
            .evaluate_identity_policies(self.caller, action, resource, request)
        {
            IdentityDecision::Allow => true,
            IdentityDecision::ExplicitDeny => false,
            _ => self.cred.is_bootstrap(),
        }
    }

    /// Every action of `actions` on `resource`, or AccessDeniedException naming the first one
    /// refused (the why is for the audit record: the caller's own policies).
    fn require(
        &self,
        actions: &[&str],
        resource: &str,
        request: IdentityRequest<'_>,
    ) -> Result<(), ApiError> {
        match actions.iter().find(|a| !self.allows(a, resource, request)) {
            None => Ok(()),
            Some(action) => Err(ApiError::from(coffer::Error::access_denied(format!(
                "User: {} is not authorized to perform: {action} on resource: {resource}",
                self.caller.principal_arn
            )))),
        }
    }

    /// What minting a secret for a credential of `principal_arn` with these attributes takes:
    /// `base` (create or rotate) on the principal, and the action for each thing the
    /// credential carries beyond its principal (tags are `aws:RequestTag/…`).
    fn require_shape(
        &self,
        base: &str,
        principal_arn: &str,
        administrator: bool,
        has_policies: bool,
        tags: &BTreeMap<String, String>,
        via_service: bool,
    ) -> Result<(), ApiError> {
        let mut actions = vec![base];
        if via_service {
            actions.push(BIND_SERVICE);
        }
        if has_policies {
            actions.push(PUT_POLICY);
        }
        if !tags.is_empty() {
            actions.push(TAG);
        }
        if administrator {
            actions.push(CREATE_ADMIN);
        }
        let mut request = IdentityRequest::new();
        if !tags.is_empty() {
            request = request.request_tags(tags);
        }
        self.require(&actions, principal_arn, request)
    }
}

/// Records one call; a failed record is KMSInternalException.
fn audit(
    kms: &Kms,
    caller: &Caller,
    op: &str,
    params: Value,
    outcome: Result<Value, &ApiError>,
) -> Result<(), ApiError> {
    let outcome = match &outcome {
        Ok(v) => Ok(v.clone()),
        Err(e) => Err((e.code(), e.message())),
    };
    kms.audit_external(caller, op, params, outcome)
        .map_err(ApiError::from)
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    if let Err(e) = coffer_credentials::reject_duplicate_keys(body) {
        if e.is_data() {
            return Err(ApiError::serialization(format!(
                "The request body names a member twice (line {}, column {}).",
                e.line(),
                e.column()
            )));
        }
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::serialization(format!(
            "The request body is not valid for this operation: {e}"
        ))
    })
}

/// The operation proper. `params` receives the request parameters to audit (set as soon as
/// the body is read); `audit_failed` is set when the audit record of a change failed (the
/// error is then not recorded again).
#[allow(clippy::too_many_arguments)]
fn run(
    kms: &Kms,
    creds: &CredentialStore,
    audit_log: Option<&FileSink>,
    cred: &Credential,
    caller: &Caller,
    op: &'static str,
    body: &[u8],
    params: &mut Value,
    audit_failed: &mut bool,
) -> Result<Vec<u8>, ApiError> {
    if !cred.is_administrator() {
        return Err(ApiError::from(coffer::Error::access_denied(format!(
            "User: {} is not authorized to perform: coffer:{op} because the access \
                 key {} is not an administrator credential",
            caller.principal_arn,
            cred.access_key_id()
        ))));
    }
    let authz = Authz { kms, cred, caller };
    // Records a change before it is made; a failed record stops it.
    let mut record = |params: &Value, elements: Value| -> Result<(), ApiError> {
        audit(kms, caller, op, params.clone(), Ok(elements)).inspect_err(|_| *audit_failed = true)
    };
    match op {
        "CreateCredential" => {
            let req: CreateRequest = parse(body)?;
            *params = json!({
                "principalArn": req.principal_arn,
                "administrator": req.administrator,
                "identityPolicies": req.identity_policies,
                "tags": req.tags,
                "description": req.description,
                "viaService": req.via_service,
            });
            coffer_credentials::check_principal(&req.principal_arn)?;
            authz.require_shape(
                CREATE,
                &req.principal_arn,
                req.administrator,
                !req.identity_policies.is_empty(),
                &req.tags,
                req.via_service.is_some(),
            )?;
            let p = params.clone();
            let new = creds.create(
                NewCredential {
                    principal_arn: req.principal_arn,
                    administrator: req.administrator,
                    identity_policies: req.identity_policies,
                    tags: req.tags,
                    description: req.description,
                    via_service: req.via_service,
                },
                &mut |c| record(&p, summary(c)),
            )?;
            new_credential_body(creds, &new, None)
        }
        "ListCredentials" => {
            let req: ListRequest = parse(body)?;
            *params = json!({ "limit": req.limit, "marker": req.marker });
            let limit = match req.limit {
                None => DEFAULT_LIMIT,
                Some(n) => usize::try_from(n)
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::validation(format!("Limit must be between 1 and {MAX_LIMIT}."))
                    })?,
            };
            if let Some(m) = &req.marker {
                if m.is_empty() || m.len() > 128 || !m.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(ApiError::validation("Marker is not valid."));
                }
            }
            let page = creds.list_visible(limit, req.marker.as_deref(), &mut |c| {
                let tags = IdentityRequest::new().resource_tags(c.stored_tags());
                authz.allows(LIST, c.principal_arn(), tags)
            });
            let items: Vec<Value> = page.credentials.iter().map(|c| listed(c)).collect();
            let mut out = json!({
                "Credentials": items,
                "Truncated": page.next_marker.is_some(),
            });
            if let Some(m) = &page.next_marker {
                out["NextMarker"] = json!(m);
            }
            audit(
                kms,
                caller,
                op,
                params.clone(),
                Ok(json!({ "count": items_len(&out), "truncated": page.next_marker.is_some() })),
            )
            .inspect_err(|_| *audit_failed = true)?;
            serde_json::to_vec(&out).map_err(|e| ApiError::from(coffer::Error::internal(e)))
        }
        "RotateCredential" => {
            let req: RotateRequest = parse(body)?;
            let grace = req.grace_period_seconds.unwrap_or(DEFAULT_GRACE_SECS);
            *params = json!({
                "accessKeyId": req.access_key_id,
                "gracePeriodSeconds": grace,
            });
            let target = live(creds, &req.access_key_id)?;
            authz.require_shape(
                ROTATE,
                target.principal_arn(),
                target.is_administrator(),
                !target.stored_identity_policies().is_empty(),
                target.stored_tags(),
                target.via_service().is_some(),
            )?;
            let p = params.clone();
            let rotated = creds.rotate(&req.access_key_id, grace, &mut |r: &Rotated| {
                let mut elements = summary(&r.new);
                elements["previousAccessKeyId"] = json!(req.access_key_id);
                elements["previousExpiresAt"] = json!(r.previous_expires_at);
                record(&p, elements)
            })?;
            new_credential_body(creds, &rotated.new, Some((&req.access_key_id, &rotated)))
        }
        "RevokeCredential" => {
            let req: RevokeRequest = parse(body)?;
            *params = json!({ "accessKeyId": req.access_key_id });
            let target = live(creds, &req.access_key_id)?;
            let tags = IdentityRequest::new().resource_tags(target.stored_tags());
            authz.require(&[REVOKE], target.principal_arn(), tags)?;
            let p = params.clone();
            creds.revoke(&req.access_key_id, &mut |c| record(&p, summary(c)))?;
            Ok(b"{}".to_vec())
        }
        "RetireBootstrapCredential" => {
            // On the bootstrap credential's principal; once it is gone (a leftover file to
            // remove, or nothing to do), on `*`.
            let target = creds
                .bootstrap_access_key_id()
                .and_then(|id| creds.get(&id));
            let resource = target.as_deref().map_or("*", Credential::principal_arn);
            authz.require(&[RETIRE], resource, IdentityRequest::new())?;
            let p = params.clone();
            let retired = creds.retire_bootstrap(&mut |c| {
                let elements = match c {
                    Some(c) => summary(c),
                    None => json!({ "leftoverFileRemoved": true }),
                };
                record(&p, elements)
            })?;
            let out = match retired {
                Some(c) => json!({ "AccessKeyId": c.access_key_id() }),
                None => json!({}),
            };
            serde_json::to_vec(&out).map_err(|e| ApiError::from(coffer::Error::internal(e)))
        }
        "GetLatestAuditDigest" => {
            let _: Empty = parse(body)?;
            authz.require(&[GET_DIGEST], "*", IdentityRequest::new())?;
            let digest = audit_log.and_then(FileSink::latest_digest).ok_or_else(|| {
                ApiError::from(coffer::Error::not_found(
                    "The audit log has no signed digest.",
                ))
            })?;
            let out = digest_body(&digest);
            audit(
                kms,
                caller,
                op,
                params.clone(),
                Ok(json!({ "anchor": out["Anchor"].clone() })),
            )
            .inspect_err(|_| *audit_failed = true)?;
            serde_json::to_vec(&out).map_err(|e| ApiError::from(coffer::Error::internal(e)))
        }
        _ => Err(crate::protocol::unknown_operation()),
    }
}

/// A request body with no member.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// GetLatestAuditDigest's answer: the digest's fields, its anchor (`SEQ:HASH`, the SHA-256 of
/// its line) and the line itself, as the log and the anchor directory hold it.
fn digest_body(d: &SignedDigest) -> Value {
    let anchor = d.anchor();
    json!({
        "Sequence": anchor.seq,
        "Hash": crate::sigv4::hex(&anchor.hash),
        "Anchor": anchor.to_string(),
        "Reason": d.record.reason.as_str(),
        "Time": d.record.time,
        "File": d.record.file,
        "PublicKey": crate::sigv4::hex(&d.record.public_key),
        "Signature": crate::sigv4::hex(&d.record.signature),
        "Line": d.line,
    })
}

/// The live credential of an access key id, or NotFoundException. (Whether an access key id
/// exists is thus told to administrator credentials before their policies are asked.)
fn live(
    creds: &CredentialStore,
    access_key_id: &str,
) -> Result<std::sync::Arc<Credential>, ApiError> {
    creds
        .get(access_key_id)
        .ok_or_else(|| coffer_credentials::not_found(access_key_id).into())
}

fn items_len(out: &Value) -> usize {
    out.get("Credentials")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// What the audit record says of a credential (never its secret).
fn summary(c: &Credential) -> Value {
    json!({
        "accessKeyId": c.access_key_id(),
        "principalArn": c.principal_arn(),
        "accountId": c.account_id(),
        "administrator": c.is_administrator(),
        "createdAt": c.created_at(),
    })
}

/// A ListCredentials item (never a secret).
fn listed(c: &Credential) -> Value {
    let mut v = json!({
        "AccessKeyId": c.access_key_id(),
        "PrincipalArn": c.principal_arn(),
        "AccountId": c.account_id(),
        "Administrator": c.is_administrator(),
        "Bootstrap": c.is_bootstrap(),
        "CreatedAt": c.created_at(),
    });
    if let Some(t) = c.expires_at() {
        v["ExpiresAt"] = json!(t);
    }
    if let Some(d) = c.description() {
        v["Description"] = json!(d);
    }
    if let Some(s) = c.via_service() {
        v["ViaService"] = json!(s);
    }
    v
}

/// The response with a new secret, written straight into one buffer (which the server wipes
/// after sending) rather than through an unwiped `Value`.
fn new_credential_body(
    creds: &CredentialStore,
    c: &Credential,
    previous: Option<(&str, &Rotated)>,
) -> Result<Vec<u8>, ApiError> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        principal_arn: &'a str,
        account_id: &'a str,
        region: &'a str,
        administrator: bool,
        created_at: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        previous_access_key_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        previous_expires_at: Option<i64>,
    }
    let secret = std::str::from_utf8(c.secret().expose())
        .map_err(|e| ApiError::from(coffer::Error::internal(e)))?;
    let out = Out {
        access_key_id: c.access_key_id(),
        secret_access_key: secret,
        principal_arn: c.principal_arn(),
        account_id: c.account_id(),
        region: creds.region(),
        administrator: c.is_administrator(),
        created_at: c.created_at(),
        previous_access_key_id: previous.map(|(id, _)| id),
        previous_expires_at: previous.and_then(|(_, r)| r.previous_expires_at),
    };
    let mut buf = Vec::with_capacity(1024);
    serde_json::to_writer(&mut buf, &out)
        .map_err(|e| ApiError::from(coffer::Error::internal(e)))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use coffer::{RandomSource, SystemRandom};
    use coffer_crypto::SymmetricKey;

    use super::*;
    use coffer_credentials::{ConfiguredPrincipal, InitOptions};

    const A: &str = "111122223333";
    const B: &str = "444455556666";

    /// A credential store in a temporary directory (removed on drop) and a facade.
    struct Fixture {
        dir: PathBuf,
        kms: Kms,
        creds: CredentialStore,
        boot: Arc<Credential>,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn fixture(principals: Vec<ConfiguredPrincipal>) -> Fixture {
        let mut b = [0u8; 8];
        SystemRandom::new().fill(&mut b).unwrap();
        let dir = std::env::temp_dir().join(format!("cofferd-admin-{}", crate::sigv4::hex(&b)));
        let init = InitOptions {
            region: "eu-west-1".into(),
            account_id: Some(coffer::AccountId::parse(A).unwrap()),
            principals,
        };
        let creds = CredentialStore::open(
            &dir,
            &init,
            &SystemRandom::new(),
            SymmetricKey::from_bytes([9; 32]),
        )
        .unwrap();
        let boot = creds
            .get(&creds.bootstrap_access_key_id().unwrap())
            .unwrap();
        let kms = Kms::builder().region("eu-west-1").build().unwrap();
        Fixture {
            dir,
            kms,
            creds,
            boot,
        }
    }

    impl Fixture {
        fn call(&self, as_: &Credential, op: &str, body: &Value) -> Result<Value, ApiError> {
            let body = serde_json::to_vec(body).unwrap();
            self.call_raw(as_, op, &body)
        }

        fn call_raw(&self, as_: &Credential, op: &str, body: &[u8]) -> Result<Value, ApiError> {
            dispatch(&self.kms, &self.creds, None, as_, as_.caller(), op, body)
                .map(|out| serde_json::from_slice(&out).unwrap())
        }

        fn create(&self, as_: &Credential, body: &Value) -> Result<Arc<Credential>, ApiError> {
            let v = self.call(as_, "CreateCredential", body)?;
            Ok(self.creds.get(v["AccessKeyId"].as_str().unwrap()).unwrap())
        }

        /// Every live access key id, as the bootstrap administrator lists them.
        fn all_ids(&self) -> Vec<String> {
            let v = self
                .call(&self.boot, "ListCredentials", &json!({"Limit": 1000}))
                .unwrap();
            let mut ids: Vec<String> = v["Credentials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["AccessKeyId"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    }

    fn operator_policy() -> String {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow",
             "Action": ["coffer:CreateCredential", "coffer:ListCredentials",
                        "coffer:RotateCredential", "coffer:RevokeCredential"],
             "Resource": format!("arn:aws:iam::{A}:user/app-*")},
            {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}
        ]})
        .to_string()
    }

    fn code(r: Result<impl std::fmt::Debug, ApiError>) -> &'static str {
        r.map_or_else(|e| e.code(), |v| panic!("succeeded: {v:?}"))
    }

    #[test]
    fn an_operator_does_exactly_what_its_policies_allow() {
        let f = fixture(Vec::new());
        let ops = f
            .create(
                &f.boot,
                &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/ops"),
                        "Administrator": true, "IdentityPolicies": [operator_policy()]}),
            )
            .unwrap();
        let app = f
            .create(
                &ops,
                &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/app-1")}),
            )
            .unwrap();
        assert!(!app.is_administrator() && app.stored_identity_policies().is_empty());
        let before = f.all_ids();

        let refused = [
            json!({"PrincipalArn": format!("arn:aws:iam::{A}:root")}),
            json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/ops")}),
            json!({"PrincipalArn": format!("arn:aws:iam::{A}:role/app-1")}),
            json!({"PrincipalArn": format!("arn:aws:iam::{B}:user/app-1")}),
            json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/app-2"), "Administrator": true}),
            json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/app-2"),
                   "IdentityPolicies": [r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#]}),
            json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/app-2"), "Tags": {"team": "x"}}),
        ];
        for body in &refused {
            assert_eq!(
                code(f.call(&ops, "CreateCredential", body)),
                "AccessDeniedException",
                "{body}"
            );
        }
        for (op, id) in [
            ("RotateCredential", f.boot.access_key_id()),
            ("RevokeCredential", f.boot.access_key_id()),
            ("RotateCredential", ops.access_key_id()),
            ("RevokeCredential", ops.access_key_id()),
        ] {
            assert_eq!(
                code(f.call(&ops, op, &json!({"AccessKeyId": id}))),
                "AccessDeniedException",
                "{op} {id}"
            );
        }
        assert_eq!(
            code(f.call(&ops, "RetireBootstrapCredential", &json!({}))),
            "AccessDeniedException"
        );
        assert_eq!(f.all_ids(), before);

        // Its own part: list (only app-*), rotate and revoke app-* credentials.
        let v = f.call(&ops, "ListCredentials", &json!({})).unwrap();
        let listed: Vec<&str> = v["Credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["PrincipalArn"].as_str().unwrap())
            .collect();
        assert_eq!(listed, [app.principal_arn()]);
        let v = f
            .call(
                &ops,
                "RotateCredential",
                &json!({"AccessKeyId": app.access_key_id(), "GracePeriodSeconds": 0}),
            )
            .unwrap();
        let new_id = v["AccessKeyId"].as_str().unwrap();
        f.call(&ops, "RevokeCredential", &json!({"AccessKeyId": new_id}))
            .unwrap();
        assert_eq!(f.creds.len(), 2);
    }

    #[test]
    fn what_a_credential_carries_needs_its_own_action() {
        let f = fixture(Vec::new());
        let tagged = format!("arn:aws:iam::{A}:role/tagged");
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["coffer:CreateCredential", "coffer:RotateCredential"],
             "Resource": format!("arn:aws:iam::{A}:role/*")},
            {"Effect": "Allow", "Action": "coffer:TagCredential", "Resource": tagged,
             "Condition": {"StringEquals": {"aws:RequestTag/team": "payments"}}}
        ]})
        .to_string();
        let ops = f
            .create(
                &f.boot,
                &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/ops"),
                        "Administrator": true, "IdentityPolicies": [policy]}),
            )
            .unwrap();
        let c = f
            .create(
                &ops,
                &json!({"PrincipalArn": tagged, "Tags": {"team": "payments"}}),
            )
            .unwrap();
        assert_eq!(
            code(f.call(
                &ops,
                "CreateCredential",
                &json!({"PrincipalArn": tagged, "Tags": {"team": "search"}})
            )),
            "AccessDeniedException"
        );
        // Rotating hands out a secret with the same tags: the same condition applies.
        f.call(
            &ops,
            "RotateCredential",
            &json!({"AccessKeyId": c.access_key_id()}),
        )
        .unwrap();
        // A credential with policies (made by the bootstrap) cannot be rotated by ops, who
        // could not have given it those policies.
        let with_policy = f
            .create(
                &f.boot,
                &json!({"PrincipalArn": format!("arn:aws:iam::{A}:role/p"),
                        "IdentityPolicies": [r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#]}),
            )
            .unwrap();
        let admin = f
            .create(
                &f.boot,
                &json!({"PrincipalArn": format!("arn:aws:iam::{A}:role/admin"), "Administrator": true}),
            )
            .unwrap();
        for target in [&with_policy, &admin] {
            assert_eq!(
                code(f.call(
                    &ops,
                    "RotateCredential",
                    &json!({"AccessKeyId": target.access_key_id()})
                )),
                "AccessDeniedException"
            );
        }
        // A named administrator with no policy may do nothing at all.
        for (op, body) in [
            ("ListCredentials", json!({})),
            (
                "CreateCredential",
                json!({"PrincipalArn": format!("arn:aws:iam::{A}:role/x")}),
            ),
            (
                "RevokeCredential",
                json!({"AccessKeyId": c.access_key_id()}),
            ),
            ("RetireBootstrapCredential", json!({})),
        ] {
            let r = f.call(&admin, op, &body);
            if op == "ListCredentials" {
                assert_eq!(r.unwrap()["Credentials"], json!([]));
            } else {
                assert_eq!(code(r), "AccessDeniedException", "{op}");
            }
        }
    }

    #[test]
    fn a_non_administrator_is_refused_whatever_its_policies_say() {
        let f = fixture(Vec::new());
        let all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let app = f
            .create(
                &f.boot,
                &json!({"PrincipalArn": format!("arn:aws:iam::{A}:role/app"), "IdentityPolicies": [all]}),
            )
            .unwrap();
        for op in OPERATIONS {
            let body = json!({"PrincipalArn": format!("arn:aws:iam::{A}:root"), "AccessKeyId": app.access_key_id()});
            assert_eq!(
                code(f.call(&app, op, &body)),
                "AccessDeniedException",
                "{op}"
            );
        }
    }

    #[test]
    fn an_explicit_deny_binds_the_bootstrap_administrator() {
        let deny = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "coffer:CreateCredential",
             "Resource": format!("arn:aws:iam::{B}:*")}
        ]})
        .to_string();
        let f = fixture(vec![ConfiguredPrincipal {
            arn: format!("arn:aws:iam::{A}:root"),
            policies: vec![deny],
            tags: BTreeMap::new(),
        }]);
        assert_eq!(
            code(f.call(
                &f.boot,
                "CreateCredential",
                &json!({"PrincipalArn": format!("arn:aws:iam::{B}:root")})
            )),
            "AccessDeniedException"
        );
        f.create(
            &f.boot,
            &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/u")}),
        )
        .unwrap();
    }

    #[test]
    fn duplicate_members_in_bodies_and_policies_are_refused() {
        let f = fixture(Vec::new());
        let arn = format!("arn:aws:iam::{A}:user/u");
        let body =
            format!(r#"{{"PrincipalArn":"{arn}","Administrator":true,"Administrator":false}}"#);
        assert_eq!(
            code(f.call_raw(&f.boot, "CreateCredential", body.as_bytes())),
            "SerializationException"
        );
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*","Effect":"Allow"}]}"#;
        let r = f.call(
            &f.boot,
            "CreateCredential",
            &json!({"PrincipalArn": arn, "IdentityPolicies": [policy]}),
        );
        let e = r.unwrap_err();
        assert_eq!(e.code(), "MalformedPolicyDocumentException");
        assert!(
            e.message().starts_with("IdentityPolicies[0]"),
            "{}",
            e.message()
        );
        assert_eq!(f.creds.len(), 1);
    }

    #[test]
    fn the_latest_audit_digest_needs_its_action_on_any_resource() {
        let f = fixture(Vec::new());
        let log = f.dir.join("audit-log");
        let sink = FileSink::open(
            &log,
            coffer_crypto::SigningKey::from_seed(&[5; 32]).unwrap(),
            coffer::audit_log::FileSinkOptions::default(),
        )
        .unwrap();
        let timer = sink.write_digest().unwrap();
        let get = |as_: &Credential| {
            dispatch(
                &f.kms,
                &f.creds,
                Some(&sink),
                as_,
                as_.caller(),
                "GetLatestAuditDigest",
                b"{}",
            )
            .map(|out| serde_json::from_slice::<Value>(&out).unwrap())
        };
        let v = get(&f.boot).unwrap();
        assert_eq!(v["Anchor"], json!(timer.anchor().to_string()));
        assert_eq!(v["Line"], json!(timer.line));
        assert_eq!(v["Reason"], json!("timer"));
        // Without the action (an operator's policy), and without the flag: refused.
        let ops = f
            .create(
                &f.boot,
                &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/ops"),
                        "Administrator": true, "IdentityPolicies": [operator_policy()]}),
            )
            .unwrap();
        assert_eq!(code(get(&ops)), "AccessDeniedException");
        let reader = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "coffer:GetAuditDigest", "Resource": "*"}]})
        .to_string();
        let app = f
            .create(
                &f.boot,
                &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/app"),
                        "IdentityPolicies": [reader.clone()]}),
            )
            .unwrap();
        assert_eq!(code(get(&app)), "AccessDeniedException");
        let monitor = f
            .create(
                &f.boot,
                &json!({"PrincipalArn": format!("arn:aws:iam::{A}:user/monitor"),
                        "Administrator": true, "IdentityPolicies": [reader]}),
            )
            .unwrap();
        assert_eq!(get(&monitor).unwrap()["Sequence"], json!(timer.record.seq));
        // A body with members is refused; no sink is NotFoundException.
        let r = dispatch(
            &f.kms,
            &f.creds,
            Some(&sink),
            &f.boot,
            f.boot.caller(),
            "GetLatestAuditDigest",
            br#"{"X":1}"#,
        );
        assert_eq!(code(r), "SerializationException");
        assert_eq!(
            code(f.call(&f.boot, "GetLatestAuditDigest", &json!({}))),
            "NotFoundException"
        );
    }

    #[test]
    fn every_action_is_documented() {
        let doc = include_str!("../../../docs/CREDENTIALS.md");
        for a in ACTIONS {
            assert!(doc.contains(&format!("`{a}`")), "{a}");
        }
    }
}
