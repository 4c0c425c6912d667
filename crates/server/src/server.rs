//! The HTTP server: configuration, the listener, and the request pipeline — limit, read,
//! authenticate, decode, run, encode.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use coffer::{AccountId, Kms, SystemRandom};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::credentials::{Credential, CredentialStore, InitOptions};
use crate::limiter::{Limiter, RateLimit};
use crate::{amz_date, protocol, sigv4, ApiError, Error};

/// The SigV4 service name of AWS KMS.
pub const SERVICE: &str = "kms";
/// The JSON protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The prefix of `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "TrentService.";

/// Opens the key management service of a data dir: the SQLite store in `data_dir`, its backing
/// keys wrapped under the root key in `root_key` (created, mode 0600, on first start; by default
/// `data_dir/root.key` — keep it elsewhere with `--root-key` so that a copy of the directory alone
/// reveals nothing).
pub fn open_kms(data_dir: &Path, root_key: Option<&Path>, region: &str) -> Result<Kms, Error> {
    open_service(data_dir, root_key, region).map(|(kms, _)| kms)
}

/// [`open_kms`], also returning the data dir's audit log (for periodic signed digests and a
/// final one at shutdown).
pub fn open_service(
    data_dir: &Path,
    root_key: Option<&Path>,
    region: &str,
) -> Result<(Kms, Arc<coffer::audit_log::FileSink>), Error> {
    let key_file = root_key.map_or_else(|| data_dir.join("root.key"), Path::to_path_buf);
    let dir = coffer::DataDir::open(data_dir, coffer::RootKeySource::key_file(key_file))
        .map_err(Error::Kms)?;
    let kms = dir.builder().region(region).build().map_err(Error::Kms)?;
    Ok((kms, dir.audit_log()))
}

/// How the server runs. [`Config::new`] gives the defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Where the credential store (and, with the SQLite store, the keys) live.
    pub data_dir: PathBuf,
    /// The root-key file (default `data_dir/root.key`).
    pub root_key: Option<PathBuf>,
    /// The address to listen on (loopback only: cofferd speaks plain HTTP).
    pub listen: SocketAddr,
    /// The region named in ARNs and required in credential scopes.
    pub region: String,
    /// The administrator's account on first start (random 12 digits when `None`).
    pub account_id: Option<AccountId>,
    /// Largest accepted difference between `X-Amz-Date` and the server clock.
    pub max_skew: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Pre-authentication limit per source IP.
    pub ip_limit: RateLimit,
    /// Pre-authentication limit per access key id.
    pub key_limit: RateLimit,
    /// How often keys due for deletion or rotation are processed.
    pub maintenance_interval: Duration,
    /// Most connections served at once; further ones are closed on accept.
    pub max_connections: usize,
}

/// Default request body limit: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Default clock-skew window: 5 minutes, as AWS.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);

impl Config {
    /// The defaults: `127.0.0.1:0` (an ephemeral port), region `us-east-1`, 5 minutes of skew,
    /// 64 KiB bodies, 200 requests/s (burst 400) per IP and per access key id before
    /// authentication, maintenance every minute.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            root_key: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            region: "us-east-1".into(),
            account_id: None,
            max_skew: DEFAULT_MAX_SKEW,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ip_limit: RateLimit {
                rate: 200.0,
                burst: 400.0,
            },
            key_limit: RateLimit {
                rate: 200.0,
                burst: 400.0,
            },
            maintenance_interval: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Buckets kept per limiter before full ones are dropped.
const LIMITER_KEYS: usize = 10_000;
/// Time allowed for a client to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

struct State {
    kms: Arc<Kms>,
    audit: Arc<coffer::audit_log::FileSink>,
    creds: CredentialStore,
    region: String,
    max_skew_secs: i64,
    max_body: usize,
    ip_limiter: Limiter<IpAddr>,
    key_limiter: Limiter<String>,
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
    maintenance_interval: Duration,
    max_connections: usize,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .field("region", &self.state.region)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Opens the data dir (creating the administrator credential on first start), the key
    /// management service, and binds the listener.
    pub async fn bind(config: Config) -> Result<Self, Error> {
        if !config.listen.ip().is_loopback() {
            return Err(Error::Config(
                "cofferd serves plain HTTP and listens on loopback addresses only",
            ));
        }
        if config.max_body_bytes == 0 || config.max_connections == 0 {
            return Err(Error::Config("limits must be positive"));
        }
        let init = InitOptions {
            region: config.region.clone(),
            account_id: config.account_id,
        };
        let creds = CredentialStore::open(&config.data_dir, &init, &SystemRandom::new())?;
        if creds.created() {
            log(format_args!(
                "created the administrator credential in {}",
                config
                    .data_dir
                    .join(crate::credentials::ADMIN_CREDENTIALS_FILE)
                    .display()
            ));
        }
        let (kms, audit) =
            open_service(&config.data_dir, config.root_key.as_deref(), &config.region)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        Ok(Self {
            listener,
            state: Arc::new(State {
                kms: Arc::new(kms),
                audit,
                creds,
                region: config.region,
                max_skew_secs: i64::try_from(config.max_skew.as_secs()).unwrap_or(i64::MAX),
                max_body: config.max_body_bytes,
                ip_limiter: Limiter::new(config.ip_limit, LIMITER_KEYS),
                key_limiter: Limiter::new(config.key_limit, LIMITER_KEYS),
            }),
            maintenance_interval: config.maintenance_interval,
            max_connections: config.max_connections,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            source,
        })
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let maintenance = tokio::spawn(maintain(
            self.state.kms.clone(),
            self.state.audit.clone(),
            self.maintenance_interval,
        ));
        let permits = Arc::new(Semaphore::new(self.max_connections));
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly, keep serving.
                        log(format_args!("accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                drop(stream);
                continue;
            };
            let state = self.state.clone();
            tokio::spawn(async move {
                let ip = peer.ip();
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(&state, ip, req).await) }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT);
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
        maintenance.abort();
        // A final signed digest covers everything recorded.
        let audit = self.state.audit.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || audit.close()).await {
            log(format_args!("closing the audit log failed: {e}"));
        }
        Ok(())
    }
}

async fn maintain(kms: Arc<Kms>, audit: Arc<coffer::audit_log::FileSink>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let kms = kms.clone();
        let audit = audit.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let swept = kms.run_maintenance();
            // A signed digest on the same timer bounds what an undetected cut can remove.
            (swept, audit.write_digest())
        })
        .await;
        match swept {
            Ok((Ok(_), Ok(_))) => {}
            Ok((Err(e), _)) => log(format_args!("maintenance failed: {}", chain(&e))),
            Ok((_, Err(e))) => log(format_args!("audit digest failed: {e}")),
            Err(e) => log(format_args!("maintenance task failed: {e}")),
        }
    }
}

/// An error and its causes, for the operator's log.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// One line on stderr.
pub(crate) fn log(args: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "cofferd: {args}");
}

/// A response body that wipes its buffer when the last reference to it drops.
struct WipeOnDrop(Vec<u8>);

impl AsRef<[u8]> for WipeOnDrop {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        coffer_crypto::wipe(&mut self.0);
    }
}

fn request_id() -> String {
    let mut b = [0u8; 16];
    let _ = coffer::RandomSource::fill(&SystemRandom::new(), &mut b);
    let h = sigv4::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

fn respond(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_owner(WipeOnDrop(body))));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE),
    );
    if let Ok(v) = http::HeaderValue::from_str(&request_id()) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

fn error_response(e: &ApiError) -> Response<Full<Bytes>> {
    respond(e.status(), e.body())
}

async fn handle(state: &Arc<State>, ip: IpAddr, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() == Method::GET && req.uri().path() == "/healthz" {
        let mut r = Response::new(Full::new(Bytes::from_static(b"ok\n")));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        return r;
    }
    match serve(state, ip, req).await {
        Ok(body) => respond(200, body),
        Err(e) => error_response(&e),
    }
}

async fn serve(
    state: &Arc<State>,
    ip: IpAddr,
    req: Request<Incoming>,
) -> Result<Vec<u8>, ApiError> {
    if !state.ip_limiter.check(&ip, Instant::now()) {
        return Err(throttled());
    }
    if req.method() != Method::POST || req.uri().path() != "/" {
        return Err(protocol::unknown_operation());
    }
    let (parts, body) = req.into_parts();
    let mut body = read_body(body, &parts.headers, state.max_body).await?;
    let checked = authenticate_parts(state, &parts, &body);
    let (cred, op) = match checked {
        Ok(x) => x,
        Err(e) => {
            coffer_crypto::wipe(&mut body);
            audit_refused(state, &parts.headers, ip, &e).await?;
            return Err(e);
        }
    };
    let kms = state.kms.clone();
    // aws:SourceIp and aws:SecureTransport for policy conditions: cofferd speaks plain HTTP.
    let caller = cred
        .caller()
        .clone()
        .with_source_ip(ip)
        .with_secure_transport(false);
    // The facade may block on storage: run it off the reactor. The body moves into the task
    // and is wiped there.
    tokio::task::spawn_blocking(move || {
        let r = protocol::dispatch(&kms, &caller, &op, &body);
        coffer_crypto::wipe(&mut body);
        if let Err(e) = &r {
            if e.status() >= 500 {
                log(format_args!("{op}: {e}"));
            }
        }
        r
    })
    .await
    .map_err(|e| ApiError::from(coffer::Error::internal(e)))?
}

/// Records a request refused before it reached an operation (authentication, content type).
/// Fail-closed: if the record cannot be written, the client gets KMSInternalException.
async fn audit_refused(
    state: &Arc<State>,
    headers: &http::HeaderMap,
    ip: IpAddr,
    e: &ApiError,
) -> Result<(), ApiError> {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .filter(|t| t.len() <= 64 && t.bytes().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned);
    let key_id = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .filter(|k| k.len() <= 128 && k.bytes().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned);
    let (code, message) = (e.code(), e.message().to_owned());
    let kms = state.kms.clone();
    tokio::task::spawn_blocking(move || {
        kms.audit_refused(op.as_deref(), key_id.as_deref(), Some(ip), code, &message)
    })
    .await
    .map_err(|e| ApiError::from(coffer::Error::internal(e)))?
    .map_err(ApiError::from)
}

/// Authenticates the request, then reads its operation and checks its content type.
fn authenticate_parts(
    state: &State,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<(Arc<Credential>, String), ApiError> {
    let request = sigv4::RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
    };
    let cred = authenticate(state, &request, body, amz_date::now_secs())?;
    let op = target(&parts.headers)?;
    check_content_type(&parts.headers)?;
    Ok((cred, op))
}

fn throttled() -> ApiError {
    ApiError::new("ThrottlingException", "Rate exceeded")
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        crate::api_error::REQUEST_TOO_LARGE,
        format!("The request body exceeds {max} bytes."),
    )
}

async fn read_body(
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

fn target(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(TARGET_PREFIX))
        .filter(|op| !op.is_empty() && op.len() <= 64)
        .map(str::to_owned)
        .ok_or_else(protocol::unknown_operation)
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
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
    ApiError::new("IncompleteSignatureException", message)
}

fn invalid_signature(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidSignatureException", message)
}

fn unrecognized() -> ApiError {
    ApiError::new(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}

/// Verifies the request's SigV4 signature; returns the credential it was made with.
fn authenticate(
    state: &State,
    req: &sigv4::RequestParts<'_>,
    body: &[u8],
    now: i64,
) -> Result<Arc<Credential>, ApiError> {
    let headers = req.headers;
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ApiError::new(
            "MissingAuthenticationTokenException",
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

    if !state
        .key_limiter
        .check(&auth.access_key_id.to_owned(), Instant::now())
    {
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
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.contains(&required) {
            return Err(incomplete(format!("'{required}' must be a signed header.")));
        }
    }
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
    let key = sigv4::signing_key(cred.secret(), auth.date, auth.region, auth.service);
    let expected = sigv4::signature(&key, &sts);
    if !coffer_crypto::constant_time_eq(&expected, &auth.signature) {
        return Err(invalid_signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(cred)
}
