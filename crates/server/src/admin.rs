//! Credential management over the wire: `X-Amz-Target: CofferAdmin.<Operation>`, for
//! administrator credentials only. Every call is audited (`Kms::audit_external`), with no
//! secret in the record; a change is recorded before it is written, and a change whose record
//! cannot be written is not made (KMSInternalException).

use std::collections::BTreeMap;

use coffer::{Caller, Kms};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::credentials::{Credential, CredentialStore, NewCredential, Rotated};
use crate::ApiError;

/// The operations, as named after `CofferAdmin.`.
pub const OPERATIONS: [&str; 5] = [
    "CreateCredential",
    "ListCredentials",
    "RotateCredential",
    "RevokeCredential",
    "RetireBootstrapCredential",
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
/// its caller with the request's facts (source address).
pub fn dispatch(
    kms: &Kms,
    creds: &CredentialStore,
    cred: &Credential,
    caller: &Caller,
    op: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
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
    cred: &Credential,
    caller: &Caller,
    op: &'static str,
    body: &[u8],
    params: &mut Value,
    audit_failed: &mut bool,
) -> Result<Vec<u8>, ApiError> {
    if !cred.is_administrator() {
        return Err(ApiError::new(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: cofferadmin:{op} because the access \
                 key {} is not an administrator credential",
                caller.principal_arn,
                cred.access_key_id()
            ),
        ));
    }
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
            });
            let p = params.clone();
            let new = creds.create(
                NewCredential {
                    principal_arn: req.principal_arn,
                    administrator: req.administrator,
                    identity_policies: req.identity_policies,
                    tags: req.tags,
                    description: req.description,
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
            let page = creds.list(limit, req.marker.as_deref());
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
            let p = params.clone();
            creds.revoke(&req.access_key_id, &mut |c| record(&p, summary(c)))?;
            Ok(b"{}".to_vec())
        }
        "RetireBootstrapCredential" => {
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
        _ => Err(crate::protocol::unknown_operation()),
    }
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
