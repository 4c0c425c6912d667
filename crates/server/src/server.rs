//! The HTTP server: configuration, the listener, and the request pipeline — limit, read,
//! authenticate, decode, run, encode.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use coffer::{AccountId, Kms, SystemRandom};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::conn::{ConnClock, ConnLimits, Refused, TimedIo};
use crate::credentials::{Credential, CredentialStore, InitOptions};
use crate::deferred::{run_deferred, DurableWaiter, DEFERRED_OPERATIONS};
use crate::limiter::{Limiter, RateLimit, Source, SourceKey};
use crate::metrics::{Metrics, OpLabel, Rejection, ThrottleStage};
use crate::refusals::{Disposition, Refusal, RefusalLog};
use crate::{amz_date, protocol, sigv4, ApiError, Error};

/// The SigV4 service name of AWS KMS.
pub const SERVICE: &str = "kms";
/// The JSON protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The prefix of `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "TrentService.";
/// The prefix of `X-Amz-Target` for cofferd's own credential-management operations.
pub const ADMIN_TARGET_PREFIX: &str = "CofferAdmin.";

/// The key management service of a data dir, opened as a [`Config`] says.
#[derive(Debug)]
#[non_exhaustive]
pub struct Service {
    /// The service.
    pub kms: Kms,
    /// The open data dir (its store, audit log and sealing keys).
    pub data_dir: coffer::DataDir,
}

/// Opens the key management service of `config.data_dir`: the SQLite store, its backing keys
/// wrapped under the root key `config.root_key` names (a key file is created, mode 0600, on
/// first start), the audit log as `config.audit` says, `config.quotas`, `config.region`.
pub fn open_service(config: &Config) -> Result<Service, Error> {
    let data_dir = &config.data_dir;
    let source = match &config.root_key {
        RootKeyProvider::KeyFile(file) => coffer::RootKeySource::key_file(
            file.clone().unwrap_or_else(|| data_dir.join("root.key")),
        ),
        RootKeyProvider::PassphraseFile(file) => {
            crate::config_file::check_private(file)?;
            let mut bytes = std::fs::read(file).map_err(Error::io(file))?;
            let mut len = bytes.len();
            if bytes.get(len.saturating_sub(1)) == Some(&b'\n') {
                len -= 1;
                if bytes.get(len.saturating_sub(1)) == Some(&b'\r') {
                    len -= 1;
                }
            }
            let passphrase = coffer::SecretBytes::copy_from(bytes.get(..len).unwrap_or_default());
            coffer_crypto::wipe(&mut bytes);
            if passphrase.expose().is_empty() {
                return Err(Error::Config("the passphrase file is empty"));
            }
            coffer::RootKeySource::passphrase(passphrase)
        }
        RootKeyProvider::PassphraseEnv(var) => {
            let value = std::env::var_os(var).ok_or(Error::Config(
                "the passphrase environment variable is not set",
            ))?;
            let mut bytes = value.into_encoded_bytes();
            let passphrase = coffer::SecretBytes::copy_from(&bytes);
            coffer_crypto::wipe(&mut bytes);
            if passphrase.expose().is_empty() {
                return Err(Error::Config(
                    "the passphrase environment variable is empty",
                ));
            }
            coffer::RootKeySource::passphrase(passphrase)
        }
    };
    let audit = coffer::audit_log::FileSinkOptions::default()
        .durability(config.audit.durability)
        .max_file_bytes(config.audit.max_file_bytes)
        .max_total_bytes(config.audit.max_total_bytes)
        .anchor_dir(config.audit.anchor_dir.clone())
        .on_digest(Arc::new(crate::audit_cli::log_digest))
        .failure_mode(if config.audit.fail_open {
            coffer::audit_log::FailureMode::FailOpen
        } else {
            coffer::audit_log::FailureMode::FailClosed
        });
    // Owner-only from the start (the store would tighten a looser one, and say so).
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(Error::io(data_dir))?;
    }
    let dir = coffer::DataDir::open_with_options(
        data_dir,
        source,
        // credentials.json is part of the directory: once made, an open without it is refused.
        coffer::DataDirOptions::default()
            .audit(audit)
            .part(crate::credentials::CREDENTIALS_FILE),
    )
    .map_err(Error::Kms)?;
    for path in dir.tightened_permissions() {
        tracing::warn!(
            path = %path.display(),
            "was readable by others: restricted to its owner"
        );
    }
    let kms = dir
        .builder()
        .region(&config.region)
        .quotas(config.quotas.clone())
        .audit_sink(Arc::new(crate::deferred::DeferringSink::new(
            dir.audit_log(),
        )))
        .build()
        .map_err(Error::Kms)?;
    Ok(Service { kms, data_dir: dir })
}

/// Where the root key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootKeyProvider {
    /// A key file of 32 random bytes, created (mode 0600) at first start; `None` is
    /// `DATA_DIR/root.key` (keep it outside the data dir in production).
    KeyFile(Option<PathBuf>),
    /// A passphrase (stretched with Argon2id) read from this file, which only the owner may
    /// read; one trailing newline is ignored.
    PassphraseFile(PathBuf),
    /// A passphrase read from this environment variable.
    PassphraseEnv(String),
}

/// TLS: a certificate chain and its private key, both PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1); only the owner may read it.
    pub key: PathBuf,
}

/// How the data dir's audit log behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditSettings {
    /// When a call's record is safe before the call returns (default: fsynced).
    pub durability: coffer::audit_log::Durability,
    /// `true`: a call whose record cannot be written still succeeds (the loss is counted);
    /// `false` (default): it fails with KMSInternalException.
    pub fail_open: bool,
    /// Size at which a log file rolls over.
    pub max_file_bytes: u64,
    /// Retention: the oldest whole log files are pruned (after a signed prune digest) when the
    /// files together exceed this; `None` (default) keeps everything.
    pub max_total_bytes: Option<u64>,
    /// Where every signed digest is also published (`anchors.jsonl`), best on another volume;
    /// the log is refused at start if it lacks the newest one. `None` (default): nowhere.
    pub anchor_dir: Option<PathBuf>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            durability: coffer::audit_log::Durability::Sync,
            fail_open: false,
            max_file_bytes: coffer::audit_log::DEFAULT_MAX_FILE_BYTES,
            max_total_bytes: None,
            anchor_dir: None,
        }
    }
}

/// Identity policies and tags the configuration attaches to a principal: every credential of
/// that principal carries them (beside any stored with the credential).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrincipalSettings {
    /// The principal's ARN (`arn:aws:iam::ACCOUNT:user/NAME`, `…:role/NAME`, `…:root`).
    pub arn: String,
    /// IAM identity policy documents (JSON).
    pub policies: Vec<String>,
    /// Principal tags, for `aws:PrincipalTag/…` conditions.
    pub tags: std::collections::BTreeMap<String, String>,
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How the server runs. [`Config::new`] gives the defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Where the credential store and the keys (SQLite) live.
    pub data_dir: PathBuf,
    /// Where the root key comes from.
    pub root_key: RootKeyProvider,
    /// The address to listen on. Without TLS only loopback addresses are allowed.
    pub listen: SocketAddr,
    /// TLS certificate and key; `None` serves plain HTTP (loopback only).
    pub tls: Option<TlsFiles>,
    /// The region named in ARNs and required in credential scopes.
    pub region: String,
    /// The administrator's account on first start (random 12 digits when `None`).
    pub account_id: Option<AccountId>,
    /// Largest accepted difference between `X-Amz-Date` and the server clock.
    pub max_skew: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Failure budget per source address (an IPv6 address counts by its /64 prefix): only
    /// requests refused before an operation spend it; once it is empty the source's requests
    /// are refused (ThrottlingException) before any signature is computed. Authenticated
    /// requests cost nothing here: the account quotas bound them.
    pub ip_limit: RateLimit,
    /// Failure budget per access key id claimed from one source address (so that a flood of
    /// bad signatures under a key id from elsewhere cannot lock the key's owner out).
    pub key_limit: RateLimit,
    /// Requests refused before an operation are recorded in the audit log one per source
    /// address and error code per interval; the rest are counted and summarised, one record
    /// per source, when the interval ends (and at shutdown).
    pub refusal_summary_interval: Duration,
    /// Request quotas per account and class (AWS's defaults unless set).
    pub quotas: coffer::QuotaConfig,
    /// The audit log's durability and failure mode.
    pub audit: AuditSettings,
    /// Identity policies and tags per principal.
    pub principals: Vec<PrincipalSettings>,
    /// How often keys due for deletion or rotation are processed (and an audit digest signed).
    pub maintenance_interval: Duration,
    /// Most connections served at once; further ones are closed on accept.
    pub max_connections: usize,
    /// Most connections from one source address; further ones are closed on accept.
    pub max_connections_per_ip: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body once its headers are in.
    pub body_timeout: Duration,
    /// A keep-alive connection idle this long between requests is closed.
    pub idle_timeout: Duration,
    /// At shutdown, how long requests in flight may take to finish.
    pub drain_timeout: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Which log lines to write, as a `tracing` filter directive (`info`, `cofferd=debug`, …).
    pub log_filter: String,
}

/// Default request body limit: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Default clock-skew window: 5 minutes, as AWS.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);
/// Default interval of refusal summaries in the audit log: a minute.
pub const DEFAULT_REFUSAL_SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

impl Config {
    /// The defaults: `127.0.0.1:0` (an ephemeral port), plain HTTP, the key file
    /// `DATA_DIR/root.key`, region `us-east-1`, 5 minutes of skew, 64 KiB bodies, failure
    /// budgets of 200 refused requests/s (burst 400) per source address and per (source
    /// address, access key id), refusals summarised every 60 s, AWS's request quotas, a
    /// synchronous fail-closed audit log, maintenance every minute, 1024 connections
    /// (128 per source address), 10 s for headers and for a body, 60 s idle, 30 s to drain.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            root_key: RootKeyProvider::KeyFile(None),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
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
            refusal_summary_interval: DEFAULT_REFUSAL_SUMMARY_INTERVAL,
            quotas: coffer::QuotaConfig::default(),
            audit: AuditSettings::default(),
            principals: Vec::new(),
            maintenance_interval: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_ip: 128,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            log_format: LogFormat::Text,
            log_filter: "info".into(),
        }
    }
}

/// Buckets kept per limiter before full ones are dropped.
const LIMITER_KEYS: usize = 10_000;

struct State {
    kms: Arc<Kms>,
    audit: Arc<coffer::audit_log::FileSink>,
    creds: Arc<CredentialStore>,
    metrics: Arc<Metrics>,
    region: String,
    max_skew_secs: i64,
    max_body: usize,
    body_timeout: Duration,
    secure_transport: bool,
    ip_limiter: Limiter<Source>,
    key_limiter: Limiter<SourceKey>,
    refusals: RefusalLog,
    rng: SystemRandom,
    /// What `/healthz` answers: whether the audit log and the store can be written.
    health: crate::health::Health,
    /// With a fail-closed audit log: read-only cryptographic calls run on the reactor and
    /// await their record's durability (see `deferred.rs`).
    deferral: Option<DurableWaiter>,
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Arc<ConnLimits>,
    maintenance_interval: Duration,
    header_timeout: Duration,
    idle_timeout: Duration,
    drain_timeout: Duration,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .field("region", &self.state.region)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the listener, then opens the data dir (creating it and the administrator
    /// credential on first start) and the key management service.
    pub async fn bind(config: Config) -> Result<Self, Error> {
        if config.tls.is_none() && !config.listen.ip().is_loopback() {
            return Err(Error::Config(
                "without TLS cofferd listens on loopback addresses only: configure a certificate and key",
            ));
        }
        if config.max_body_bytes == 0
            || config.max_connections == 0
            || config.max_connections_per_ip == 0
        {
            return Err(Error::Config("limits must be positive"));
        }
        if [
            config.header_timeout,
            config.body_timeout,
            config.idle_timeout,
            config.refusal_summary_interval,
        ]
        .contains(&Duration::ZERO)
        {
            return Err(Error::Config("timeouts must be positive"));
        }
        let tls = match &config.tls {
            Some(files) => Some(crate::tls::acceptor(files)?),
            None => None,
        };
        // The port first: a start that cannot listen leaves no new data dir (or root key)
        // behind.
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let service = open_service(&config)?;
        let init = InitOptions {
            region: config.region.clone(),
            account_id: config.account_id,
            principals: config.principals.clone(),
        };
        let sealing = service
            .data_dir
            .sealing_key(crate::credentials::SEALING_PURPOSE)
            .map_err(Error::Kms)?;
        let creds = CredentialStore::open(&config.data_dir, &init, &SystemRandom::new(), sealing)?;
        service
            .data_dir
            .record_part(crate::credentials::CREDENTIALS_FILE)
            .map_err(Error::Kms)?;
        if creds.created() {
            tracing::info!(
                file = %config.data_dir.join(crate::credentials::ADMIN_CREDENTIALS_FILE).display(),
                "created the bootstrap administrator credential"
            );
        }
        if creds.bootstrap_active() {
            tracing::warn!(
                "the bootstrap administrator credential is active: create an administrator \
                 credential of your own and retire it (`cofferd credentials retire-bootstrap`)"
            );
        }
        let audit = service.data_dir.audit_log();
        let health = crate::health::Health::new(audit.clone(), service.data_dir.store());
        let kms = service.kms;
        // Fail-open logs keep the synchronous path: a lost record must not fail the call.
        let deferral = (!config.audit.fail_open).then(|| DurableWaiter::new(audit.clone()));
        Ok(Self {
            listener,
            state: Arc::new(State {
                kms: Arc::new(kms),
                audit,
                creds: Arc::new(creds),
                metrics: Arc::new(Metrics::new()),
                region: config.region,
                max_skew_secs: i64::try_from(config.max_skew.as_secs()).unwrap_or(i64::MAX),
                max_body: config.max_body_bytes,
                body_timeout: config.body_timeout,
                secure_transport: tls.is_some(),
                ip_limiter: Limiter::new(config.ip_limit, LIMITER_KEYS),
                key_limiter: Limiter::new(config.key_limit, LIMITER_KEYS),
                refusals: RefusalLog::new(
                    config.refusal_summary_interval,
                    crate::refusals::MAX_SOURCES,
                ),
                rng: SystemRandom::new(),
                health,
                deferral,
            }),
            tls,
            limits: ConnLimits::new(config.max_connections, config.max_connections_per_ip),
            maintenance_interval: config.maintenance_interval,
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            drain_timeout: config.drain_timeout,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            source,
        })
    }

    /// Serves until `shutdown` completes; then stops accepting, lets requests in flight finish
    /// (for up to the drain timeout), closes idle connections, and writes the audit log's final
    /// signed digest.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let maintenance = tokio::spawn(maintain(
            self.state.kms.clone(),
            self.state.audit.clone(),
            self.maintenance_interval,
        ));
        let (stop_summaries, stopped) = tokio::sync::oneshot::channel();
        let summaries = tokio::spawn(summarise(self.state.clone(), stopped));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let ip = peer.ip();
            let slot = match self.limits.admit(ip) {
                Ok(slot) => slot,
                Err(refused) => {
                    self.state.metrics.rejected(match refused {
                        Refused::Total => Rejection::Total,
                        Refused::PerIp => Rejection::PerIp,
                    });
                    drop(stream);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let clock = ConnClock::new(self.idle_timeout, self.header_timeout);
            // A response the client will not take is given up after the body timeout.
            let io = TimedIo::new(stream, clock.clone(), self.state.body_timeout);
            let state = self.state.clone();
            let watcher = graceful.watcher();
            let tls = self.tls.clone();
            let handshake_timeout = self.header_timeout;
            tokio::spawn(async move {
                let _slot = slot;
                let _open = state.metrics.connection();
                match tls {
                    None => serve_connection(TokioIo::new(io), state, clock, ip, watcher).await,
                    Some(acceptor) => {
                        // The handshake is bounded by the connection clock (its first bytes
                        // start the head deadline) and, for a silent client, by this timeout.
                        let accepted =
                            tokio::time::timeout(handshake_timeout, acceptor.accept(io)).await;
                        if let Ok(Ok(tls)) = accepted {
                            serve_connection(TokioIo::new(tls), state, clock, ip, watcher).await;
                        }
                    }
                }
            });
        }
        drop(self.listener);
        maintenance.abort();
        tracing::info!(
            connections = graceful.count(),
            "shutting down: draining requests in flight"
        );
        if tokio::time::timeout(self.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.state.metrics.requests_in_flight(),
                "drain timeout: closing connections with requests still in flight"
            );
        }
        // The refusals of the last, unfinished interval are summarised before the log closes.
        let _ = stop_summaries.send(());
        if let Err(e) = summaries.await {
            tracing::error!(error = %e, "the refusal summary task failed");
        }
        // A final signed digest covers everything recorded (and flushes a buffered log).
        let audit = self.state.audit.clone();
        match tokio::task::spawn_blocking(move || audit.close()).await {
            Ok(Ok(_)) => tracing::info!("audit log closed with a signed digest"),
            Ok(Err(e)) => tracing::error!(error = %e, "closing the audit log failed"),
            Err(e) => tracing::error!(error = %e, "closing the audit log failed"),
        }
        Ok(())
    }
}

/// Serves one connection's requests until it closes, times out or is shut down.
async fn serve_connection<I>(
    io: TokioIo<I>,
    state: Arc<State>,
    clock: Arc<ConnClock>,
    ip: IpAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        let clock = clock.clone();
        async move {
            clock.busy();
            let response = handle(&state, ip, req).await;
            clock.idle();
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(64 * 1024);
    let conn = builder.serve_connection(io, service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%ip, error = %e, "connection closed with an error");
    }
}

/// Closes an interval of refusal accounting every `refusal_summary_interval`, writing its
/// summaries; when `stop` fires, writes those of the current interval and returns.
async fn summarise(state: Arc<State>, stop: tokio::sync::oneshot::Receiver<()>) {
    crate::refusals::run_intervals(&state.refusals, stop, |summaries| {
        write_summaries(state.clone(), summaries)
    })
    .await;
}

/// Writes the summaries of an interval that ended.
async fn write_summaries(state: Arc<State>, summaries: Vec<crate::refusals::Summary>) {
    let kms = state.kms.clone();
    let written = tokio::task::spawn_blocking(move || {
        for s in &summaries {
            kms.audit_refused_summary(
                crate::refusals::SUMMARY_EVENT,
                s.source,
                (s.error_code(), &s.message()),
                s.details(),
            )?;
        }
        let refused: u64 = summaries.iter().map(crate::refusals::Summary::total).sum();
        Ok::<_, coffer::Error>((summaries.len(), refused))
    })
    .await;
    match written {
        Ok(Ok((n, refused))) => {
            tracing::debug!(summaries = n, refused, "refusal summaries recorded")
        }
        Ok(Err(e)) => {
            tracing::error!(error = %crate::error_chain(&e), "recording refusal summaries failed")
        }
        Err(e) => tracing::error!(error = %e, "recording refusal summaries failed"),
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
            Ok((Ok(_), Ok(_))) => tracing::debug!("maintenance sweep done"),
            Ok((Err(e), _)) => {
                tracing::error!(error = %crate::error_chain(&e), "maintenance failed")
            }
            Ok((_, Err(e))) => tracing::error!(error = %e, "audit digest failed"),
            Err(e) => tracing::error!(error = %e, "maintenance task failed"),
        }
    }
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

fn request_id(rng: &SystemRandom) -> String {
    let mut b = [0u8; 16];
    let _ = coffer::RandomSource::fill(rng, &mut b);
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

fn respond(status: u16, body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_owner(WipeOnDrop(body))));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

fn plain(body: impl Into<Bytes>, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

async fn handle(state: &Arc<State>, ip: IpAddr, req: Request<Incoming>) -> Response<Full<Bytes>> {
    // HEAD answers like GET, without the body (hyper sends none to a HEAD).
    if req.method() == Method::GET || req.method() == Method::HEAD {
        match req.uri().path() {
            "/healthz" => {
                let (status, text) = state.health.check().await;
                let mut r = plain(text, "text/plain");
                *r.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                return r;
            }
            "/metrics" if req.method() == Method::GET => {
                // Unauthenticated, and rendering costs a little: each scrape spends the
                // source's failure budget, as a refused request does.
                let (source, now) = (Source::of(ip), Instant::now());
                if !state.ip_limiter.allows(&source, now) {
                    state.metrics.throttled(ThrottleStage::SourceIp);
                    return respond(400, throttled().body(), &request_id(&state.rng));
                }
                state.ip_limiter.charge(&source, now);
                let text = state
                    .metrics
                    .render(state.audit.unsynced_records(), state.audit.lost_events());
                return plain(text, "text/plain; version=0.0.4");
            }
            _ => {}
        }
    }
    let _in_flight = state.metrics.in_flight();
    let started = Instant::now();
    let id = request_id(&state.rng);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        source_ip = %ip,
        operation = tracing::field::Empty,
        access_key_id = tracing::field::Empty,
    );
    let mut label = Metrics::NONE;
    let result =
        tracing::Instrument::instrument(serve(state, ip, &id, req, &mut label), span.clone()).await;
    let elapsed = started.elapsed();
    let _enter = span.enter();
    let response = match result {
        Ok(body) => {
            state.metrics.request(label, elapsed, None);
            tracing::debug!(latency_us = elapsed.as_micros() as u64, "ok");
            respond(200, body, &id)
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
            } else {
                tracing::debug!(
                    latency_us = elapsed.as_micros() as u64,
                    code = e.code(),
                    "refused"
                );
            }
            respond(e.status(), e.body(), &id)
        }
    };
    response
}

async fn serve(
    state: &Arc<State>,
    ip: IpAddr,
    request_id: &str,
    req: Request<Incoming>,
    label: &mut OpLabel,
) -> Result<Vec<u8>, ApiError> {
    let (parts, body) = req.into_parts();
    let Admitted {
        cred,
        api,
        op,
        mut body,
    } = match admit(state, ip, &parts, body, label).await {
        Ok(admitted) => admitted,
        Err(e) => {
            refused(state, &parts.headers, ip, request_id, &e).await?;
            return Err(e);
        }
    };
    tracing::Span::current().record("access_key_id", cred.access_key_id());
    let mut caller = cred
        .caller()
        .clone()
        .with_source_ip(ip)
        .with_secure_transport(state.secure_transport)
        .with_request_id(request_id);
    if let Some(agent) = user_agent(&parts.headers) {
        caller = caller.with_user_agent(agent);
    }
    if let (Some(waiter), Api::Kms) = (&state.deferral, api) {
        if coffer::Operation::parse(&op).is_some_and(|o| DEFERRED_OPERATIONS.contains(&o)) {
            let (result, pending) =
                run_deferred(|| protocol::dispatch(&state.kms, &caller, &op, &body));
            coffer_crypto::wipe(&mut body);
            if let Some(seq) = pending {
                if let Err(e) = waiter.wait(seq).await {
                    // No answer without its record: the computed response is wiped unsent.
                    if let Ok(mut out) = result {
                        coffer_crypto::wipe(&mut out);
                    }
                    return Err(ApiError::from(coffer::Error::internal(e)));
                }
            }
            return result;
        }
    }
    let kms = state.kms.clone();
    let creds = state.creds.clone();
    let audit = state.audit.clone();
    // The facade may block on storage: run it off the reactor. The body moves into the task
    // and is wiped there.
    tokio::task::spawn_blocking(move || {
        let r = match api {
            Api::Kms => protocol::dispatch(&kms, &caller, &op, &body),
            Api::Admin => {
                crate::admin::dispatch(&kms, &creds, Some(&audit), &cred, &caller, &op, &body)
            }
        };
        coffer_crypto::wipe(&mut body);
        r
    })
    .await
    .map_err(|e| ApiError::from(coffer::Error::internal(e)))?
}

/// A request admitted to its operation.
struct Admitted {
    /// The credential it was signed with.
    cred: Arc<Credential>,
    /// The API it calls.
    api: Api,
    /// The operation it names.
    op: String,
    /// Its body (which may hold plaintext: wiped once used).
    body: Vec<u8>,
}

/// Everything before the operation: the source's failure budget, method and path, the body,
/// authentication, the operation's name and the content type. An error here is a refusal
/// (see [`refused`]).
async fn admit(
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
        tracing::Span::current().record("operation", state.metrics.label(*label));
    }
    let mut body = match tokio::time::timeout(
        state.body_timeout,
        read_body(body, &parts.headers, state.max_body),
    )
    .await
    {
        Ok(body) => body?,
        Err(_) => {
            return Err(ApiError::new(
                "RequestTimeoutException",
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
async fn refused(
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
fn user_agent(headers: &http::HeaderMap) -> Option<&str> {
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

fn throttled() -> ApiError {
    ApiError::from(coffer::Error::throttling("Rate exceeded"))
}

fn too_large(max: usize) -> ApiError {
    ApiError::wire(
        crate::api_error::WireCode::RequestEntityTooLarge,
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

/// Which API a request calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
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

/// Verifies the request's SigV4 signature; returns the credential it was made with.
fn authenticate(
    state: &State,
    source: Source,
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
    let key = sigv4::signing_key(cred.secret(), auth.date, auth.region, auth.service);
    let expected = sigv4::signature(&key, &sts);
    if !coffer_crypto::constant_time_eq(&expected, &auth.signature) {
        return Err(invalid_signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(cred)
}
