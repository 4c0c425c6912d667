//! The web console, served under `/console/` (docs/CONSOLE.md).
//!
//! - The pages: the single-page app bundled from `console/dist` at build time (`build.rs`);
//!   `/console` redirects to `/console/`; a path that is neither the API nor a bundled file is
//!   answered with `index.html` (the app routes on the client), except under `assets/`.
//! - `POST /console/api/session`: sign-in, a request SigV4-signed by the browser, verified by
//!   the API's own authentication (`auth::authenticate`: failure budgets, clock skew, credential
//!   lookup, signed headers, payload hash). It opens a server-side session (`console_session.rs`)
//!   whose id goes to an `HttpOnly; Secure; SameSite=Strict` cookie, and returns the session's
//!   CSRF token. `GET` reads the session back (the token too, so a reloaded page keeps working);
//!   `DELETE` signs out.
//! - `POST /console/api/kms`: an AWS KMS JSON 1.1 call made with the session's credential,
//!   through the same dispatch as a SigV4 request (`server::run_admitted`): quotas,
//!   authorization and audit as for any call. `CofferAdmin.` is not reachable here.
//! - `GET /console/api/audit` (`console_audit.rs`) and `GET /console/api/metrics`
//!   (`console_metrics.rs`), under the identity-policy actions `coffer:LookupAuditEvents` and
//!   `coffer:GetMetrics`.
//!
//! Every answer carries a strict Content-Security-Policy and its companions; the API's answers
//! are never cached. A request to the API from another origin (`Origin`, `Sec-Fetch-Site`)
//! is refused before anything else, and every call but sign-in and reading the session needs
//! the session's CSRF token in `X-Coffer-Csrf`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use coffer::{IdentityDecision, IdentityRequest};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::api_error::WireCode;
use crate::auth::{self, Api, TARGET_PREFIX};
use crate::console_metrics::Sampler;
use crate::console_session::{csrf_matches, SessionError, SessionView, Sessions};
use crate::limiter::Source;
use crate::metrics::{Metrics, ThrottleStage};
use crate::server::{request_id, State};
use crate::{amz_date, protocol, sigv4, ApiError};
use coffer_credentials::Credential;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// Where the console lives.
const PREFIX: &str = "/console";
/// The session cookie's name.
pub(crate) const COOKIE: &str = "coffer_console";
/// The header that carries the session's CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-coffer-csrf";
/// The `User-Agent` of the audit records of console calls.
pub(crate) const USER_AGENT: &str = "coffer-console";
/// The identity-policy action that allows reading the audit trail (resource `*`).
pub(crate) const LOOKUP_AUDIT_EVENTS: &str = "coffer:LookupAuditEvents";
/// The identity-policy action that allows reading the metrics (resource `*`).
pub(crate) const GET_METRICS: &str = "coffer:GetMetrics";

/// The Content-Security-Policy of every console answer.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// The console's state in the server: sessions and the metrics history.
pub(crate) struct Console {
    pub(crate) sessions: Sessions,
    pub(crate) sampler: Sampler,
}

impl Console {
    pub(crate) fn new() -> Self {
        Self {
            sessions: Sessions::new(),
            sampler: Sampler::new(),
        }
    }

    /// Takes the metrics history's sample for the current step, if it is not taken yet.
    pub(crate) fn sample(&self, metrics: &Metrics) {
        self.sampler
            .sample(amz_date::now_secs(), || metrics.totals());
    }
}

/// Whether `path` is the console's: `/console` or anything under `/console/`.
pub(crate) fn is_console_path(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

type Answer = Response<Full<Bytes>>;

/// Answers a request under `/console`.
pub(crate) async fn handle(state: &Arc<State>, ip: IpAddr, req: Request<Incoming>) -> Answer {
    state.console.sample(&state.metrics);
    let path = req.uri().path().to_owned();
    let mut r = if path == PREFIX {
        redirect("/console/")
    } else if let Some(api) = path.strip_prefix("/console/api/") {
        let mut r = api_call(state, ip, api, req).await;
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    } else {
        page(req.method(), path.strip_prefix("/console/").unwrap_or(""))
    };
    secure_headers(r.headers_mut());
    r
}

/// The headers every console answer carries.
fn secure_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn redirect(to: &'static str) -> Answer {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

fn text(status: StatusCode, body: &'static str) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A bundled file by its path below `/console/`.
fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    assets::ASSETS
        .binary_search_by(|(p, _, _)| (*p).cmp(path))
        .ok()
        .and_then(|i| assets::ASSETS.get(i))
        .map(|(_, ty, bytes)| (*ty, *bytes))
}

/// A page or bundled file (`rest`: the path below `/console/`).
fn page(method: &Method, rest: &str) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let immutable = rest.starts_with("assets/");
    let found = match asset(rest) {
        Some(f) if !rest.is_empty() && rest != "index.html" => Some(f),
        // A missing bundled file is not the app.
        _ if immutable => None,
        _ => asset("index.html"),
    };
    let Some((ty, bytes)) = found else {
        return text(StatusCode::NOT_FOUND, "Not found.\n");
    };
    let mut r = Response::new(Full::new(Bytes::from_static(bytes)));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    // Vite names bundled assets by their content hash; the page itself is always revalidated.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    r
}

/// A JSON answer with its request id.
fn json_answer(status: u16, body: Vec<u8>, content_type: &'static str, id: &str) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

/// A refusal of the console's own: the API's error body with the console's status.
struct Refusal {
    status: u16,
    error: ApiError,
}

impl Refusal {
    fn new(status: u16, error: ApiError) -> Self {
        Self { status, error }
    }

    /// As the API answers it (its status).
    fn api(error: ApiError) -> Self {
        Self {
            status: error.status(),
            error,
        }
    }
}

fn no_session() -> Refusal {
    Refusal::new(
        401,
        ApiError::wire(
            WireCode::MissingAuthenticationToken,
            "No console session: sign in.",
        ),
    )
}

fn forbidden(message: &'static str) -> Refusal {
    Refusal::new(403, ApiError::new("AccessDeniedException", message))
}

const JSON: &str = "application/json";

async fn api_call(state: &Arc<State>, ip: IpAddr, api: &str, req: Request<Incoming>) -> Answer {
    let id = request_id(&state.rng);
    let method = req.method().clone();
    // A source that has spent its failure budget is refused before anything is looked up.
    if !state.ip_limiter.allows(&Source::of(ip), Instant::now()) {
        state.metrics.throttled(ThrottleStage::SourceIp);
        let e = auth::throttled();
        return json_answer(e.status(), e.body(), JSON, &id);
    }
    if let Err(refusal) = same_origin(state, req.headers()) {
        return refuse(state, ip, &id, req.headers(), refusal, true).await;
    }
    match (api, &method) {
        ("session", &Method::POST) => sign_in(state, ip, &id, req).await,
        ("session", &Method::GET) => match session(state, req.headers(), false) {
            Ok((view, cred)) => json_answer(200, session_json(state, &view, &cred), JSON, &id),
            // A page asking whether it is signed in: not charged to the source's budget. The
            // answer names the region (public: it is in every ARN) for the sign-in form.
            Err(refusal) => {
                let mut body = json!({
                    "__type": refusal.error.code(),
                    "message": refusal.error.message(),
                });
                if refusal.status == 401 {
                    body["region"] = json!(state.region);
                }
                json_answer(refusal.status, body.to_string().into_bytes(), JSON, &id)
            }
        },
        ("session", &Method::DELETE) => match session(state, req.headers(), true) {
            Ok((_, cred)) => {
                if let Some(sid) = cookie(req.headers()) {
                    state.console.sessions.remove(sid);
                }
                let caller = console_caller(state, &cred, ip, &id);
                let kms = state.kms.clone();
                // Best effort: the session is gone whether or not the record is written.
                let _ = tokio::task::spawn_blocking(move || {
                    kms.audit_external(&caller, "ConsoleLogout", json!({}), Ok(json!({})))
                })
                .await;
                let mut r = json_answer(200, b"{}".to_vec(), JSON, &id);
                set_cookie(r.headers_mut(), "", 0);
                r
            }
            Err(refusal) => refuse(state, ip, &id, req.headers(), refusal, true).await,
        },
        ("kms", &Method::POST) => kms_call(state, ip, &id, req).await,
        ("audit", &Method::GET) => match session(state, req.headers(), true) {
            Ok((_, cred)) => audit_lookup(state, ip, &id, &cred, req.uri().query()).await,
            Err(refusal) => refuse(state, ip, &id, req.headers(), refusal, true).await,
        },
        ("metrics", &Method::GET) => match session(state, req.headers(), true) {
            Ok((_, cred)) => metrics(state, ip, &id, &cred).await,
            Err(refusal) => refuse(state, ip, &id, req.headers(), refusal, true).await,
        },
        ("session" | "kms" | "audit" | "metrics", _) => {
            let mut r = json_answer(
                405,
                ApiError::validation("Method not allowed.").body(),
                JSON,
                &id,
            );
            let allow = match api {
                "session" => "GET, POST, DELETE",
                "kms" => "POST",
                _ => "GET",
            };
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            r
        }
        _ => json_answer(
            404,
            ApiError::wire(WireCode::UnknownOperation, "No such console API.").body(),
            JSON,
            &id,
        ),
    }
}

/// Answers a refusal; `charge`: it spends the source's failure budget and is audited as any
/// request refused before its operation (`auth::refused`).
async fn refuse(
    state: &Arc<State>,
    ip: IpAddr,
    id: &str,
    headers: &HeaderMap,
    refusal: Refusal,
    charge: bool,
) -> Answer {
    if charge {
        if let Err(e) = auth::refused(state, headers, ip, id, &refusal.error).await {
            return json_answer(e.status(), e.body(), JSON, id);
        }
    }
    json_answer(refusal.status, refusal.error.body(), JSON, id)
}

/// Refuses a request from another origin: an `Origin` that is not this server's own, or a
/// `Sec-Fetch-Site` other than `same-origin` or `none`.
fn same_origin(state: &State, headers: &HeaderMap) -> Result<(), Refusal> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Err(forbidden("Cross-site requests are not allowed."));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let scheme = if state.secure_transport {
            "https"
        } else {
            "http"
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let ok = !host.is_empty()
            && origin
                .to_str()
                .ok()
                .and_then(|o| o.strip_prefix(scheme))
                .and_then(|o| o.strip_prefix("://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
        if !ok {
            return Err(forbidden("Cross-origin requests are not allowed."));
        }
    }
    Ok(())
}

/// The session cookie's value, if the request carries one.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (name, value) = c.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty() && value.len() <= 64).then_some(value)
        })
}

fn set_cookie(h: &mut HeaderMap, value: &str, max_age: i64) {
    let v = format!(
        "{COOKIE}={value}; HttpOnly; Secure; SameSite=Strict; Path={PREFIX}; Max-Age={max_age}"
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        h.insert(header::SET_COOKIE, v);
    }
}

/// The request's live session and its credential, as it stands now (a revoked or expired
/// credential ends its sessions); `csrf`: the request must carry the session's CSRF token.
fn session(
    state: &State,
    headers: &HeaderMap,
    csrf: bool,
) -> Result<(SessionView, Arc<Credential>), Refusal> {
    let sid = cookie(headers).ok_or_else(no_session)?;
    let view = state
        .console
        .sessions
        .touch(sid, amz_date::now_secs())
        .ok_or_else(no_session)?;
    let Some(cred) = state.creds.get(&view.access_key_id) else {
        state.console.sessions.remove_key(&view.access_key_id);
        return Err(no_session());
    };
    if csrf {
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !csrf_matches(&view, given) {
            return Err(forbidden("The CSRF token is missing or wrong."));
        }
    }
    Ok((view, cred))
}

fn session_json(state: &State, view: &SessionView, cred: &Credential) -> Vec<u8> {
    json!({
        "csrfToken": view.csrf,
        "principal": cred.principal_arn(),
        "accountId": cred.account_id(),
        "region": state.region,
        "expiresAt": view.expires_at,
    })
    .to_string()
    .into_bytes()
}

/// The caller of a console request made with `cred`.
fn console_caller(state: &State, cred: &Credential, ip: IpAddr, id: &str) -> coffer::Caller {
    cred.caller()
        .clone()
        .with_source_ip(ip)
        .with_secure_transport(state.secure_transport)
        .with_request_id(id)
        .with_user_agent(USER_AGENT)
}

/// Reads the body within the body timeout and size limit.
async fn body(state: &State, headers: &HeaderMap, body: Incoming) -> Result<Vec<u8>, ApiError> {
    match tokio::time::timeout(
        state.body_timeout,
        auth::read_body(body, headers, state.max_body),
    )
    .await
    {
        Ok(body) => body,
        Err(_) => Err(ApiError::wire(
            WireCode::RequestTimeout,
            "The request body was not received in time.",
        )),
    }
}

/// `POST /console/api/session`: a SigV4-signed `{}` opens a session.
async fn sign_in(state: &Arc<State>, ip: IpAddr, id: &str, req: Request<Incoming>) -> Answer {
    let (parts, incoming) = req.into_parts();
    let result = async {
        // On a shared database: not with credentials that may be stale.
        crate::server::check_fresh(state)?;
        let body = body(state, &parts.headers, incoming).await?;
        let request = sigv4::RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
        };
        let cred =
            auth::authenticate(state, Source::of(ip), &request, &body, amz_date::now_secs())?;
        let json_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(JSON));
        if !json_type {
            return Err(ApiError::serialization(
                "The Content-Type must be application/json.",
            ));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) if m.is_empty() => {}
            _ => {
                return Err(ApiError::serialization(
                    "The sign-in request's body must be {}.",
                ))
            }
        }
        Ok(cred)
    }
    .await;
    let cred = match result {
        Ok(cred) => cred,
        Err(e) => {
            let refusal = Refusal::api(e);
            return refuse(state, ip, id, &parts.headers, refusal, true).await;
        }
    };
    let now = amz_date::now_secs();
    let new = match state.console.sessions.create(cred.access_key_id(), now) {
        Ok(n) => n,
        Err(SessionError::Full) => {
            let e = ApiError::from(coffer::Error::throttling(
                "Too many console sessions; try again later.",
            ));
            return json_answer(e.status(), e.body(), JSON, id);
        }
        Err(SessionError::Random) => {
            let e = ApiError::from(coffer::Error::internal("the random source failed"));
            return json_answer(e.status(), e.body(), JSON, id);
        }
    };
    // Recorded before the session is handed out; no record, no session.
    let caller = console_caller(state, &cred, ip, id);
    let kms = state.kms.clone();
    let expires_at = new.view.expires_at;
    let recorded = tokio::task::spawn_blocking(move || {
        kms.audit_external(
            &caller,
            "ConsoleLogin",
            json!({}),
            Ok(json!({ "expiresAt": expires_at })),
        )
    })
    .await;
    if !matches!(recorded, Ok(Ok(()))) {
        state.console.sessions.remove(&new.id);
        let e = ApiError::from(coffer::Error::internal("the sign-in could not be audited"));
        tracing::error!(request_id = id, "console sign-in not audited: refused");
        return json_answer(e.status(), e.body(), JSON, id);
    }
    tracing::info!(
        request_id = id,
        access_key_id = cred.access_key_id(),
        "console sign-in"
    );
    let mut r = json_answer(200, session_json(state, &new.view, &cred), JSON, id);
    set_cookie(
        r.headers_mut(),
        &new.id,
        crate::console_session::ABSOLUTE_SECS,
    );
    r
}

/// `POST /console/api/kms`: an AWS KMS call with the session's credential, answered exactly as
/// the API answers it.
async fn kms_call(state: &Arc<State>, ip: IpAddr, id: &str, req: Request<Incoming>) -> Answer {
    let _in_flight = state.metrics.in_flight();
    let started = Instant::now();
    let (parts, incoming) = req.into_parts();
    let (_, cred) = match session(state, &parts.headers, true) {
        Ok(s) => s,
        Err(refusal) => return refuse(state, ip, id, &parts.headers, refusal, true).await,
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Only AWS KMS operations: cofferd's own management API (`CofferAdmin.`) is not reachable
    // from a browser session.
    let op = target
        .strip_prefix(TARGET_PREFIX)
        .filter(|op| !op.is_empty() && op.len() <= 64)
        .map(str::to_owned);
    let label = op.as_deref().map_or(Metrics::NONE, Metrics::kms_op);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        source_ip = %ip,
        operation = state.metrics.label(label),
        access_key_id = cred.access_key_id(),
        console = true,
    );
    let result = tracing::Instrument::instrument(
        async {
            crate::server::check_fresh(state)?;
            let body = body(state, &parts.headers, incoming).await?;
            let Some(op) = op else {
                return Err(protocol::unknown_operation());
            };
            auth::check_content_type(&parts.headers)?;
            let caller = console_caller(state, &cred, ip, id);
            crate::server::run_admitted(state, cred.clone(), Api::Kms, op, body, caller).await
        },
        span.clone(),
    )
    .await;
    let elapsed = started.elapsed();
    let _enter = span.enter();
    match result {
        Ok(body) => {
            state.metrics.request(label, elapsed, None);
            crate::server::respond(200, body, id)
        }
        Err(e) => {
            state.metrics.request(label, elapsed, Some(e.code()));
            if e.status() >= 500 {
                tracing::error!(
                    code = e.code(),
                    message = e.message(),
                    cause = e.cause().unwrap_or(""),
                    "request failed"
                );
            }
            crate::server::respond(e.status(), e.body(), id)
        }
    }
}

/// Whether `caller`'s identity policies allow `action` on `*`: an explicit deny refuses; an
/// account root is allowed what no policy denies.
fn allowed(state: &State, caller: &coffer::Caller, action: &str) -> bool {
    match state
        .kms
        .evaluate_identity_policies(caller, action, "*", IdentityRequest::new())
    {
        IdentityDecision::Allow => true,
        IdentityDecision::ExplicitDeny => false,
        _ => caller.is_account_root(),
    }
}

fn access_denied(caller: &coffer::Caller, action: &str) -> ApiError {
    ApiError::new(
        "AccessDeniedException",
        format!(
            "User: {} is not authorized to perform: {action} on resource: *",
            caller.principal_arn
        ),
    )
}

/// Records a console read (`name`) in the audit log: `Ok` when the record is written.
async fn audit_read(
    state: &State,
    caller: coffer::Caller,
    name: &'static str,
    params: Value,
    outcome: Result<(), &ApiError>,
) -> Result<(), ApiError> {
    let kms = state.kms.clone();
    let outcome = outcome.map_err(|e| (e.code(), e.message().to_owned()));
    tokio::task::spawn_blocking(move || {
        let outcome = match &outcome {
            Ok(()) => Ok(Value::Null),
            Err((code, message)) => Err((*code, message.as_str())),
        };
        kms.audit_external(&caller, name, params, outcome)
    })
    .await
    .map_err(|e| ApiError::from(coffer::Error::internal(e)))?
    .map_err(ApiError::from)
}

/// `GET /console/api/audit`.
async fn audit_lookup(
    state: &Arc<State>,
    ip: IpAddr,
    id: &str,
    cred: &Credential,
    query: Option<&str>,
) -> Answer {
    let caller = console_caller(state, cred, ip, id);
    if !allowed(state, &caller, LOOKUP_AUDIT_EVENTS) {
        let e = access_denied(&caller, LOOKUP_AUDIT_EVENTS);
        if let Err(e) = audit_read(state, caller, "LookupAuditEvents", json!({}), Err(&e)).await {
            return json_answer(e.status(), e.body(), JSON, id);
        }
        return json_answer(403, e.body(), JSON, id);
    }
    let q = match crate::console_audit::parse_query(query) {
        Ok(q) => q,
        Err(e) => return json_answer(e.status(), e.body(), JSON, id),
    };
    let params = q.params();
    let audit = state.audit.clone();
    let account = cred.account_id().to_owned();
    let found = tokio::task::spawn_blocking(move || {
        crate::console_audit::lookup(audit.dir(), &audit.verifying_key(), &account, &q)
    })
    .await
    .map_err(|e| ApiError::from(coffer::Error::internal(e)))
    .and_then(|r| r);
    let answer = match found {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(
                request_id = id,
                cause = e.cause().unwrap_or(""),
                "audit lookup failed"
            );
            return json_answer(e.status(), e.body(), JSON, id);
        }
    };
    // The lookup is itself recorded, after the page it read; no record, no answer.
    if let Err(e) = audit_read(state, caller, "LookupAuditEvents", params, Ok(())).await {
        return json_answer(e.status(), e.body(), JSON, id);
    }
    json_answer(200, answer.to_string().into_bytes(), JSON, id)
}

/// `GET /console/api/metrics`.
async fn metrics(state: &Arc<State>, ip: IpAddr, id: &str, cred: &Credential) -> Answer {
    let caller = console_caller(state, cred, ip, id);
    if !allowed(state, &caller, GET_METRICS) {
        let e = access_denied(&caller, GET_METRICS);
        if let Err(e) = audit_read(state, caller, "GetMetrics", json!({}), Err(&e)).await {
            return json_answer(e.status(), e.body(), JSON, id);
        }
        return json_answer(403, e.body(), JSON, id);
    }
    let answer = crate::console_metrics::answer(
        &state.console.sampler,
        &state.metrics,
        amz_date::now_secs(),
    );
    json_answer(200, answer.to_string().into_bytes(), JSON, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths() {
        for p in [
            "/console",
            "/console/",
            "/console/api/kms",
            "/console/keys/x",
        ] {
            assert!(is_console_path(p), "{p}");
        }
        for p in ["/", "/consoles", "/console.html", "/healthz", "/metrics"] {
            assert!(!is_console_path(p), "{p}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; coffer_console=abc; b=2"),
        );
        assert_eq!(cookie(&h), Some("abc"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xcoffer_console=abc"),
        );
        assert_eq!(cookie(&h), None);
        h.insert(header::COOKIE, HeaderValue::from_static("coffer_console="));
        assert_eq!(cookie(&h), None);
    }

    #[test]
    fn pages_fall_back_to_the_app_but_not_under_assets() {
        let index = page(&Method::GET, "");
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(page(&Method::GET, "keys/abc").status(), StatusCode::OK);
        assert_eq!(
            page(&Method::GET, "assets/nope.js").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            page(&Method::POST, "").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
