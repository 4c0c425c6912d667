//! Admission of a request before its operation runs: the source's failure budget, method,
//! path and body, SigV4 authentication, the operation named by `X-Amz-Target`, the content
//! type; and the accounting of a request refused on the way (budgets, audit).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{HeaderMap, Method};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::limiter::{Source, SourceKey};
use crate::metrics::{Metrics, OpLabel, ThrottleStage};
use crate::refusals::{Disposition, Refusal};
use crate::server::State;
use crate::{amz_date, protocol, sigv4, ApiError};
use coffer_credentials::Credential;

/// The SigV4 service name of AWS KMS.
pub const SERVICE: &str = "kms";
/// The JSON protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The prefix of `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "TrentService.";
/// The prefix of `X-Amz-Target` for cofferd's own credential-management operations.
pub const ADMIN_TARGET_PREFIX: &str = "CofferAdmin.";

/// A request admitted to its operation.
pub(crate) struct Admitted {
    /// The credential it was signed with.
    pub(crate) cred: Arc<Credential>,
    /// The API it calls.
    pub(crate) api: Api,
    /// The operation it names.
    pub(crate) op: String,
    /// Its body (which may hold plaintext: wiped once used).
    pub(crate) body: Vec<u8>,
}

/// Everything before the operation: the source's failure budget, method and path, the body,
/// authentication, the operation's name and the content type. An error here is a refusal
/// (see [`refused`]).
pub(crate) async fn admit(
    state: &Arc<State>,
    ip: IpAddr,
    parts: &http::request::Parts,
    body: Incoming,
    label: &mut OpLabel,
) -> Result<Admitted, ApiError> {
    // A source that has spent its failure budget is refused before anything is read or
    // computed; one that has not pays nothing here.
    if !state.ip_limiter.allows(&Source::of(ip), Instant::now()) {
        state.metrics.throttled(ThrottleStage::SourceIp);
        return Err(throttled());
    }
    if parts.method != Method::POST || parts.uri.path() != "/" {
        return Err(protocol::unknown_operation());
    }
    // Read once: the label now, the answer (if it is not an operation) only after
    // authentication, so an unauthenticated client learns nothing about operations.
    let named = target(&parts.headers);
    if let Ok((api, op)) = &named {
        *label = match api {
            Api::Kms => Metrics::kms_op(op),
            Api::Admin => Metrics::admin_op(op),
        };
    }
    let mut body = match tokio::time::timeout(
        state.body_timeout,
        read_body(body, &parts.headers, state.max_body),
    )
    .await
    {
        Ok(body) => body?,
        Err(_) => {
            return Err(ApiError::wire(
                crate::api_error::WireCode::RequestTimeout,
                "The request body was not received in time.",
            ))
        }
    };
    match authenticate_parts(state, ip, parts, &body, named) {
        Ok((cred, api, op)) => Ok(Admitted {
            cred,
            api,
            op,
            body,
        }),
        Err(e) => {
            coffer_crypto::wipe(&mut body);
            Err(e)
        }
    }
}

/// Accounts for a request refused before it reached an operation: it spends the failure
/// budgets of its source address and of the access key id it claimed from there, and it is
/// recorded in the audit log — in full if it is the first of its error code from its source
/// in the current interval, else counted into the source's summary (`refusals.rs`).
/// Fail-closed: if a record cannot be written, the client gets KMSInternalException.
pub(crate) async fn refused(
    state: &Arc<State>,
    headers: &http::HeaderMap,
    ip: IpAddr,
    request_id: &str,
    e: &ApiError,
) -> Result<(), ApiError> {
    let (source, now) = (Source::of(ip), Instant::now());
    let key_id = claimed_key_id(headers);
    state.ip_limiter.charge(&source, now);
    if let Some(id) = key_id {
        state.key_limiter.charge(&SourceKey::new(source, id), now);
    }
    let refusal = Refusal {
        ip,
        code: e.code(),
        access_key_id: key_id,
    };
    if state.refusals.note(&refusal, SystemTime::now()) == Disposition::Counted {
        state.metrics.refusal_summarised();
        return Ok(());
    }
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| {
            t.strip_prefix(TARGET_PREFIX)
                .or_else(|| t.strip_prefix(ADMIN_TARGET_PREFIX))
        })
        .filter(|t| t.len() <= 64 && t.bytes().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned);
    let key_id = key_id.map(str::to_owned);
    let (code, message) = (e.code(), e.message().to_owned());
    let (request_id, agent) = (
        request_id.to_owned(),
        user_agent(headers).map(str::to_owned),
    );
    let kms = state.kms.clone();
    tokio::task::spawn_blocking(move || {
        kms.audit_refused_request(
            &coffer::RefusedRequest::new(code, &message)
                .operation(op.as_deref())
                .access_key_id(key_id.as_deref())
                .source_ip(ip)
                .request_id(&request_id)
                .user_agent(agent.as_deref()),
        )
    })
    .await
    .map_err(|e| ApiError::from(coffer::Error::internal(e)))?
    .map_err(ApiError::from)
}

/// The request's `User-Agent`, for its audit record (which cuts it to
/// `coffer::MAX_USER_AGENT_CHARS`); one that is not visible ASCII text is left out.
pub(crate) fn user_agent(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// The access key id a request's `Authorization` header claims, if it looks like one (letters
/// and digits, at most 128): what refusals are audited and limited by, never trusted.
fn claimed_key_id(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .filter(|k| !k.is_empty() && k.len() <= 128 && k.bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// Authenticates the request, then answers for its operation (`named`, read once by the caller)
/// and checks its content type.
fn authenticate_parts(
    state: &State,
    ip: IpAddr,
    parts: &http::request::Parts,
    body: &[u8],
    named: Result<(Api, String), ApiError>,
) -> Result<(Arc<Credential>, Api, String), ApiError> {
    let request = sigv4::RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
    };
    let cred = authenticate(state, Source::of(ip), &request, body, amz_date::now_secs())?;
    let (api, op) = named?;
    check_content_type(&parts.headers)?;
    Ok((cred, api, op))
}

pub(crate) fn throttled() -> ApiError {
    ApiError::from(coffer::Error::throttling("Rate exceeded"))
}

fn too_large(max: usize) -> ApiError {
    ApiError::wire(
        crate::api_error::WireCode::RequestEntityTooLarge,
        format!("The request body exceeds {max} bytes."),
    )
}

pub(crate) async fn read_body(
    mut body: Incoming,
    headers: &HeaderMap,
    max: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    // Sized up front so the buffer (which may hold plaintext) is not reallocated.
    let mut out = Vec::with_capacity(declared.unwrap_or(max).min(max));
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| ApiError::serialization("The request body could not be read."))?;
        if let Ok(data) = frame.into_data() {
            if out.len().saturating_add(data.len()) > max {
                coffer_crypto::wipe(&mut out);
                return Err(too_large(max));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Which API a request calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    /// AWS KMS (`TrentService.`).
    Kms,
    /// cofferd's credential management (`CofferAdmin.`).
    Admin,
}

fn target(headers: &HeaderMap) -> Result<(Api, String), ApiError> {
    let value = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (api, op) = if let Some(op) = value.strip_prefix(TARGET_PREFIX) {
        (Api::Kms, op)
    } else if let Some(op) = value.strip_prefix(ADMIN_TARGET_PREFIX) {
        (Api::Admin, op)
    } else {
        return Err(protocol::unknown_operation());
    };
    if op.is_empty() || op.len() > 64 {
        return Err(protocol::unknown_operation());
    }
    Ok((api, op.to_owned()))
}

pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .is_some_and(|v| {
            v.eq_ignore_ascii_case(CONTENT_TYPE)
                || v.eq_ignore_ascii_case("application/x-amz-json-1.0")
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::serialization(format!(
            "The Content-Type must be {CONTENT_TYPE}."
        )))
    }
}

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::wire(crate::api_error::WireCode::IncompleteSignature, message)
}

fn invalid_signature(message: impl Into<String>) -> ApiError {
    ApiError::wire(crate::api_error::WireCode::InvalidSignature, message)
}

fn unrecognized() -> ApiError {
    ApiError::wire(
        crate::api_error::WireCode::UnrecognizedClient,
        "The security token included in the request is invalid.",
    )
}

/// Verifies the request's SigV4 signature; returns the credential it was made with. The web
/// console's sign-in (`console.rs`) goes through it too.
pub(crate) fn authenticate(
    state: &State,
    source: Source,
    req: &sigv4::RequestParts<'_>,
    body: &[u8],
    now: i64,
) -> Result<Arc<Credential>, ApiError> {
    let headers = req.headers;
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ApiError::wire(
            crate::api_error::WireCode::MissingAuthenticationToken,
            "Request is missing Authentication Token",
        ));
    };
    if values.next().is_some() {
        return Err(incomplete("Only one Authorization header is allowed."));
    }
    let value = value
        .to_str()
        .map_err(|_| incomplete("The Authorization header is not ASCII."))?;
    let auth = sigv4::parse_authorization(value).map_err(|e| incomplete(e.0))?;

    // The key id's failure budget from this source: spent by refusals only (`refused`).
    if !state
        .key_limiter
        .allows(&SourceKey::new(source, auth.access_key_id), Instant::now())
    {
        state.metrics.throttled(ThrottleStage::AccessKey);
        return Err(throttled());
    }

    let mut dates = headers.get_all("x-amz-date").iter();
    let (Some(date), None) = (dates.next(), dates.next()) else {
        return Err(incomplete(
            "Authorization header requires existence of exactly one 'X-Amz-Date' header.",
        ));
    };
    let date = date.to_str().unwrap_or_default();
    let signed_at = amz_date::parse(date)
        .ok_or_else(|| incomplete("X-Amz-Date must have the form YYYYMMDDTHHMMSSZ."))?;
    sigv4::check_signed_headers(&auth.signed_headers, headers)
        .map_err(|e| incomplete(e.to_string()))?;
    if date.get(..8) != Some(auth.date) {
        return Err(invalid_signature(
            "Date in Credential scope does not match the date of X-Amz-Date.",
        ));
    }
    if auth.service != SERVICE {
        return Err(invalid_signature(format!(
            "Credential should be scoped to correct service: '{SERVICE}'."
        )));
    }
    if auth.region != state.region {
        return Err(invalid_signature(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            auth.region.chars().take(32).collect::<String>()
        )));
    }
    if headers.contains_key("x-amz-security-token") {
        // cofferd issues no session credentials.
        return Err(unrecognized());
    }
    let cred = state
        .creds
        .get(auth.access_key_id)
        .ok_or_else(unrecognized)?;

    let skew = state.max_skew_secs;
    if signed_at < now.saturating_sub(skew) {
        return Err(invalid_signature(format!(
            "Signature expired: {date} is now earlier than {} ({} - {} min.)",
            amz_date::format(now.saturating_sub(skew)),
            amz_date::format(now),
            skew / 60
        )));
    }
    if signed_at > now.saturating_add(skew) {
        return Err(invalid_signature(format!(
            "Signature not yet current: {date} is still later than {} ({} + {} min.)",
            amz_date::format(now.saturating_add(skew)),
            amz_date::format(now),
            skew / 60
        )));
    }

    let computed = sigv4::payload_hash(body);
    if let Some(claimed) = headers.get("x-amz-content-sha256") {
        if claimed.as_bytes() != computed.as_bytes() {
            return Err(invalid_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
    }
    let creq = sigv4::canonical_request(req, &auth.signed_headers, &computed);
    let sts = sigv4::string_to_sign(date, &auth.scope(), &creq);
    // The signing key is derived once per credential and scope, and cached for the very
    // credential the store returned above (a rotated or revoked one never matches).
    let expected = state
        .signing_keys
        .signature(&cred, auth.date, auth.region, auth.service, &sts);
    if !coffer_crypto::constant_time_eq(&expected, &auth.signature) {
        return Err(invalid_signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(cred)
}
