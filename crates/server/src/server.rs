//! The service wiring: opening the data dir's key management service, binding the [`Server`],
//! and each request's pipeline — admit (`auth.rs`), run, encode — with the background tasks
//! (maintenance, refusal summaries). The accept loop is in `listener.rs`, the configuration in
//! `config.rs`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use coffer::{Kms, SystemRandom};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::auth::{admit, refused, throttled, user_agent, Admitted, Api, CONTENT_TYPE};
use crate::config::{Config, PrincipalEntry, RootKeyProvider};
use crate::conn::ConnLimits;
use crate::deferred::{run_deferred, DurableWaiter, DEFERRED_OPERATIONS};
use crate::limiter::{Limiter, Source, SourceKey};
use crate::metrics::{Metrics, OpLabel, ThrottleStage};
use crate::refusals::RefusalLog;
use crate::{protocol, ApiError, Error};
use coffer_credentials::{CredentialStore, InitOptions};

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
    let dir = open_data_dir(config)?;
    let kms = build_kms(&dir, config, &config.region)?;
    Ok(Service { kms, data_dir: dir })
}

/// The data dir of `config` opened (created on first start), with its audit log.
pub(crate) fn open_data_dir(config: &Config) -> Result<coffer::DataDir, Error> {
    let data_dir = &config.data_dir;
    let source = root_source(config)?;
    let audit = audit_options(config);
    make_private_dir(data_dir)?;
    let dir = coffer::DataDir::open_with_options(
        data_dir,
        source,
        // credentials.json is part of the directory: once made, an open without it is refused.
        coffer::DataDirOptions::default()
            .audit(audit)
            .part(coffer_credentials::CREDENTIALS_FILE),
    )
    .map_err(Error::Kms)?;
    for path in dir.tightened_permissions() {
        tracing::warn!(
            path = %path.display(),
            "was readable by others: restricted to its owner"
        );
    }
    Ok(dir)
}

/// Creates `dir` owner-only if it does not exist.
fn make_private_dir(dir: &std::path::Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(Error::io(dir))
}

/// Where the root key comes from, as `config.root_key` says.
fn root_source(config: &Config) -> Result<coffer::RootKeySource, Error> {
    let data_dir = &config.data_dir;
    Ok(match &config.root_key {
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
        RootKeyProvider::Pkcs11(p) => {
            // Made in the token when the directory is new (no database yet; on a shared
            // PostgreSQL database, by the first node), found by its label afterwards.
            let create =
                config.store.url.is_some() || !data_dir.join(coffer_store::DB_FILE).exists();
            let root = crate::hsm::open_root_key(p, create)?;
            tracing::info!(root_key = ?root, "the root key is held in a PKCS#11 token");
            coffer::RootKeySource::Custom(Arc::new(root))
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
    })
}

/// The audit log's options, as `config.audit` says.
fn audit_options(config: &Config) -> coffer::audit_log::FileSinkOptions {
    coffer::audit_log::FileSinkOptions::default()
        .durability(config.audit.durability)
        .max_file_bytes(config.audit.max_file_bytes)
        .preallocate(config.audit.preallocate_bytes)
        .max_total_bytes(config.audit.max_total_bytes)
        .anchor_dir(config.audit.anchor_dir.clone())
        .on_digest(Arc::new(crate::audit_cli::log_digest))
        .failure_mode(if config.audit.fail_open {
            coffer::audit_log::FailureMode::FailOpen
        } else {
            coffer::audit_log::FailureMode::FailClosed
        })
}

/// What serving needs, opened from a data dir (SQLite) or a node directory (PostgreSQL).
struct Opened {
    kms: Arc<Kms>,
    audit: Arc<coffer::audit_log::FileSink>,
    creds: Arc<CredentialStore>,
    health: crate::health::Health,
    cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// Opens this node's directory over the shared database, its key management service, the
/// shared credentials and the watcher.
fn open_cluster_node(config: &Config, init: &InitOptions) -> Result<Opened, Error> {
    make_private_dir(&config.data_dir)?;
    let node = crate::cluster::open_node(
        config,
        root_source(config)?,
        coffer::DataDirOptions::default().audit(audit_options(config)),
    )?;
    for path in node.dir.tightened_permissions() {
        tracing::warn!(
            path = %path.display(),
            "was readable by others: restricted to its owner"
        );
    }
    let creds = crate::cluster::open_credentials(&node, &config.data_dir, init)?;
    if creds.created() {
        tracing::info!(
            file = %config.data_dir.join(coffer_credentials::ADMIN_CREDENTIALS_FILE).display(),
            "created the bootstrap administrator credential (shared by every node)"
        );
    }
    let audit = node.dir.audit_log();
    let kms = with_hsm_clusters(node.dir.builder(), config)?
        .region(&config.region)
        .quotas(config.quotas.clone())
        .audit_sink(Arc::new(crate::deferred::DeferringSink::new(audit.clone())))
        .build()
        .map_err(|e| Error::Kms(e.into()))?;
    let kms = Arc::new(kms);
    let creds = Arc::new(creds);
    let cluster = Arc::new(crate::cluster::Cluster::start(
        node.db.clone(),
        kms.clone(),
        creds.clone(),
        Duration::from_millis(config.store.coherence_bound_ms),
    ));
    let health =
        crate::health::Health::with_store_probe(audit.clone(), cluster.probe(node.dir.node_id()));
    Ok(Opened {
        kms,
        audit,
        creds,
        health,
        cluster: Some(cluster),
    })
}

/// The key management service of an open data dir, serving `region`.
pub(crate) fn build_kms(
    dir: &coffer::DataDir,
    config: &Config,
    region: &str,
) -> Result<Kms, Error> {
    with_hsm_clusters(dir.builder(), config)?
        .region(region)
        .quotas(config.quotas.clone())
        .audit_sink(Arc::new(crate::deferred::DeferringSink::new(
            dir.audit_log(),
        )))
        .build()
        .map_err(|e| Error::Kms(e.into()))
}

/// The one place cofferd's `[[hsm_clusters]]` reach the key management service, for custom
/// key stores (AWS_CLOUDHSM): validated here (no module is loaded before a key store
/// connects, so an absent token does not stop the start).
fn with_hsm_clusters(
    builder: coffer::KmsBuilder,
    config: &Config,
) -> Result<coffer::KmsBuilder, Error> {
    let clusters = crate::hsm::hsm_clusters_from_config(config)?;
    Ok(builder.hsm_clusters(clusters))
}

/// Opens the SQLite data dir, its key management service and `credentials.json`.
fn open_local(config: &Config, init: &InitOptions) -> Result<Opened, Error> {
    let service = open_service(config)?;
    let sealing = service
        .data_dir
        .sealing_key(coffer_credentials::SEALING_PURPOSE)
        .map_err(Error::Kms)?;
    let creds = CredentialStore::open(&config.data_dir, init, &SystemRandom::new(), sealing)?;
    service
        .data_dir
        .record_part(coffer_credentials::CREDENTIALS_FILE)
        .map_err(Error::Kms)?;
    if creds.created() {
        tracing::info!(
            file = %config.data_dir.join(coffer_credentials::ADMIN_CREDENTIALS_FILE).display(),
            "created the bootstrap administrator credential"
        );
    }
    let audit = service.data_dir.audit_log();
    let health = crate::health::Health::new(audit.clone(), service.data_dir.store());
    Ok(Opened {
        kms: Arc::new(service.kms),
        audit,
        creds: Arc::new(creds),
        health,
        cluster: None,
    })
}

/// Buckets kept per limiter before full ones are dropped.
const LIMITER_KEYS: usize = 10_000;

pub(crate) struct State {
    pub(crate) kms: Arc<Kms>,
    pub(crate) audit: Arc<coffer::audit_log::FileSink>,
    pub(crate) creds: Arc<CredentialStore>,
    /// On a shared database: the watcher (coherence bound) and the maintenance lock.
    pub(crate) cluster: Option<Arc<crate::cluster::Cluster>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) region: String,
    pub(crate) max_skew_secs: i64,
    pub(crate) max_body: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) secure_transport: bool,
    pub(crate) ip_limiter: Limiter<Source>,
    pub(crate) key_limiter: Limiter<SourceKey>,
    pub(crate) refusals: RefusalLog,
    pub(crate) rng: RequestIds,
    /// SigV4 signing keys by credential and scope (`signing_keys.rs`).
    pub(crate) signing_keys: crate::signing_keys::SigningKeys,
    /// What `/healthz` answers: whether the audit log and the store can be written.
    pub(crate) health: crate::health::Health,
    /// With a fail-closed audit log: read-only cryptographic calls run on the reactor and
    /// await their record's durability (see `deferred.rs`).
    pub(crate) deferral: Option<DurableWaiter>,
    /// The web console's sessions and metrics history (`console.rs`).
    pub(crate) console: crate::console::Console,
}

/// A bound, ready server.
pub struct Server {
    pub(crate) listener: TcpListener,
    pub(crate) state: Arc<State>,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) limits: Arc<ConnLimits>,
    pub(crate) maintenance_interval: Duration,
    pub(crate) header_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) drain_timeout: Duration,
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
        // A host name is resolved now; plain HTTP is checked on the addresses it gives.
        let addrs = config
            .listen
            .resolve()
            .await
            .map_err(|source| Error::Resolve {
                addr: config.listen.to_string(),
                source,
            })?;
        let plain_http = crate::listen_addr::plain_http(
            &config.listen,
            &addrs,
            config.tls.is_some(),
            config.allow_plain_http,
        )
        .map_err(Error::Config)?;
        if let Some(warning) = plain_http {
            tracing::warn!("{warning}");
        }
        let limits = &config.limits;
        if limits.max_body_bytes == 0
            || limits.max_connections == 0
            || limits.max_connections_per_ip == 0
        {
            return Err(Error::Config("limits must be positive"));
        }
        if [
            limits.header_timeout,
            limits.body_timeout,
            limits.idle_timeout,
            limits.refusal_summary_interval,
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
        // The first of the resolved addresses that can be bound.
        let mut bound = Err(Error::Config("listen: no address to bind"));
        for addr in addrs {
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    bound = Ok(l);
                    break;
                }
                Err(source) => bound = Err(Error::Bind { addr, source }),
            }
        }
        let listener = bound?;
        let mut config = config;
        config.read_policy_files()?;
        let init = InitOptions {
            region: config.region.clone(),
            account_id: config.account_id,
            principals: config
                .principals
                .iter()
                .map(PrincipalEntry::settings)
                .collect(),
        };
        let opened = if config.store.url.is_some() {
            // The PostgreSQL client blocks (on a runtime of its own): off the reactor.
            tokio::task::block_in_place(|| open_cluster_node(&config, &init))?
        } else {
            open_local(&config, &init)?
        };
        let Opened {
            kms,
            audit,
            creds,
            health,
            cluster,
        } = opened;
        if creds.bootstrap_active() {
            tracing::warn!(
                "the bootstrap administrator credential is active: create an administrator \
                 credential of your own and retire it (`coffer credentials retire-bootstrap`)"
            );
        }
        crate::replication::install(&kms, &config.region, &config.peers)?;
        // Fail-open logs keep the synchronous path: a lost record must not fail the call.
        // Not on a shared database either: a cache miss there blocks on the PostgreSQL
        // client, which must not run on the reactor.
        let deferral = (!config.audit.fail_open && cluster.is_none())
            .then(|| DurableWaiter::new(audit.clone()));
        let limits = config.limits;
        Ok(Self {
            listener,
            state: Arc::new(State {
                kms,
                audit,
                creds,
                cluster,
                metrics: Arc::new(Metrics::new()),
                region: config.region,
                max_skew_secs: i64::try_from(limits.max_skew.as_secs()).unwrap_or(i64::MAX),
                max_body: limits.max_body_bytes,
                body_timeout: limits.body_timeout,
                secure_transport: tls.is_some(),
                ip_limiter: Limiter::new(limits.per_ip, LIMITER_KEYS),
                key_limiter: Limiter::new(limits.per_access_key, LIMITER_KEYS),
                refusals: RefusalLog::new(
                    limits.refusal_summary_interval,
                    crate::refusals::MAX_SOURCES,
                ),
                rng: RequestIds::new(),
                signing_keys: crate::signing_keys::SigningKeys::new(),
                health,
                deferral,
                console: crate::console::Console::new(),
            }),
            tls,
            limits: ConnLimits::new(limits.max_connections, limits.max_connections_per_ip),
            maintenance_interval: config.maintenance.interval,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            drain_timeout: limits.drain_timeout,
        })
    }

    /// The service behind the server (to seed it before it serves).
    pub fn kms(&self) -> &coffer::Kms {
        &self.state.kms
    }

    /// The bootstrap administrator's account, while that credential is active.
    pub fn administrator_account(&self) -> Option<coffer::AccountId> {
        let id = self.state.creds.bootstrap_access_key_id()?;
        self.state.creds.get(&id)?.account_id().parse().ok()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            source,
        })
    }
}

/// Closes an interval of refusal accounting every `refusal_summary_interval`, writing its
/// summaries; when `stop` fires, writes those of the current interval and returns.
pub(crate) async fn summarise(state: Arc<State>, stop: tokio::sync::oneshot::Receiver<()>) {
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

/// Maintenance every `every` (at least a second), the first pass one period after startup:
/// [`Server::run`] makes the startup pass itself, before it accepts a request.
pub(crate) async fn maintain(
    kms: Arc<Kms>,
    audit: Arc<coffer::audit_log::FileSink>,
    cluster: Option<Arc<crate::cluster::Cluster>>,
    every: Duration,
) {
    let every = every.max(Duration::from_secs(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        maintenance_pass(&kms, &audit, &cluster).await;
    }
}

/// One maintenance pass: keys due for deletion or rotation are processed (on a shared database
/// by one node at a time), then a signed audit digest is written.
pub(crate) async fn maintenance_pass(
    kms: &Arc<Kms>,
    audit: &Arc<coffer::audit_log::FileSink>,
    cluster: &Option<Arc<crate::cluster::Cluster>>,
) {
    let kms = kms.clone();
    let audit = audit.clone();
    let cluster = cluster.clone();
    let swept = tokio::task::spawn_blocking(move || {
        // On a shared database one node sweeps at a time; the others skip their turn.
        let swept = match &cluster {
            None => kms.run_maintenance().map(Some),
            Some(c) => match c.exclusively(|| kms.run_maintenance()) {
                Ok(Some(r)) => r.map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(coffer::Error::internal(crate::error_chain(&e))),
            },
        };
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

/// Randomness for request ids, drawn from the system 1 KiB at a time: an id names a request,
/// it protects nothing, and one system call per request cost more than the rest of the id.
pub(crate) struct RequestIds {
    rng: SystemRandom,
    buf: parking_lot::Mutex<(Box<[u8; 1024]>, usize)>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        Self {
            rng: SystemRandom::new(),
            buf: parking_lot::Mutex::new((Box::new([0u8; 1024]), 1024)),
        }
    }

    /// 16 random bytes (zeros if the system source failed: ids are then not unique, which
    /// costs only the ability to tell requests apart in logs).
    fn next(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let mut guard = self.buf.lock();
        let (buf, pos) = &mut *guard;
        if *pos + out.len() > buf.len() {
            if coffer::RandomSource::fill(&self.rng, &mut buf[..]).is_err() {
                return out;
            }
            *pos = 0;
        }
        if let Some(b) = buf.get(*pos..*pos + out.len()) {
            out.copy_from_slice(b);
        }
        *pos += out.len();
        out
    }
}

/// A request id: 16 random bytes as 8-4-4-4-12 lowercase hex.
pub(crate) fn request_id(ids: &RequestIds) -> String {
    format_request_id(&ids.next())
}

fn format_request_id(b: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(byte >> 4)]));
        s.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    s
}

pub(crate) fn respond(status: u16, body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
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

pub(crate) async fn handle(
    state: &Arc<State>,
    ip: IpAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    // The web console: its pages, and its API over a session cookie (`console.rs`).
    if crate::console::is_console_path(req.uri().path()) {
        return crate::console::handle(state, ip, req).await;
    }
    state.console.sample(&state.metrics);
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
    // Every log line a request writes is in its span (request id, source, operation, key id).
    // Building a span costs the log subscriber a slab entry and a formatted copy of its fields
    // per request (~4 % of the server's CPU under load: docs/perf/README.md), so it is built up
    // front only when the request's debug lines are on; otherwise the only line a request can
    // write is `request failed` below, and its span is built then, with the same fields.
    let eager = tracing::enabled!(tracing::Level::DEBUG);
    let span = if eager {
        request_span(&id, ip)
    } else {
        tracing::Span::none()
    };
    let mut label = Metrics::NONE;
    let mut cred = None;
    let result = tracing::Instrument::instrument(
        serve(state, ip, &id, req, &mut label, &mut cred),
        span.clone(),
    )
    .await;
    let elapsed = started.elapsed();
    let logs = eager || matches!(&result, Err(e) if e.status() >= 500);
    let span = if logs && span.is_none() {
        request_span(&id, ip)
    } else {
        span
    };
    if logs {
        if label != Metrics::NONE {
            span.record("operation", state.metrics.label(label));
        }
        if let Some(cred) = &cred {
            span.record("access_key_id", cred.access_key_id());
        }
    }
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

/// The span of a request's log lines; `operation` and `access_key_id` are recorded once known.
fn request_span(id: &str, ip: IpAddr) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = %id,
        source_ip = %ip,
        operation = tracing::field::Empty,
        access_key_id = tracing::field::Empty,
    )
}

/// Admits and runs one request; `label` and `signer` say, for its log span and metrics, which
/// operation it named and which credential signed it, as far as it got.
async fn serve(
    state: &Arc<State>,
    ip: IpAddr,
    request_id: &str,
    req: Request<Incoming>,
    label: &mut OpLabel,
    signer: &mut Option<Arc<coffer_credentials::Credential>>,
) -> Result<Vec<u8>, ApiError> {
    check_fresh(state)?;
    let (parts, body) = req.into_parts();
    let Admitted {
        cred,
        api,
        op,
        body,
    } = match admit(state, ip, &parts, body, label).await {
        Ok(admitted) => admitted,
        Err(e) => {
            refused(state, &parts.headers, ip, request_id, &e).await?;
            return Err(e);
        }
    };
    *signer = Some(cred.clone());
    let mut caller = cred
        .caller()
        .clone()
        .with_source_ip(ip)
        .with_secure_transport(state.secure_transport)
        .with_request_id(request_id);
    if let Some(agent) = user_agent(&parts.headers) {
        caller = caller.with_user_agent(agent);
    }
    run_admitted(state, cred, api, op, body, caller).await
}

/// On a shared database: refuses (a 500, which the SDKs retry) when this node is not sure to
/// have seen every change the other nodes made within the coherence bound, rather than serve
/// stale keys, policies or credentials.
pub(crate) fn check_fresh(state: &State) -> Result<(), ApiError> {
    if let Some(cluster) = &state.cluster {
        if !cluster.fresh() {
            return Err(ApiError::from(coffer::Error::internal(format!(
                "this node cannot confirm it is current with the shared database (bound {} ms); retry",
                cluster.bound().as_millis()
            ))));
        }
    }
    Ok(())
}

/// Runs an admitted request's operation for `caller` (the credential's caller with the
/// request's facts): what every authenticated call does after admission, whether it came
/// signed with SigV4 or from a web console session (`console.rs`).
pub(crate) async fn run_admitted(
    state: &Arc<State>,
    cred: Arc<coffer_credentials::Credential>,
    api: Api,
    op: String,
    mut body: Vec<u8>,
    caller: coffer::Caller,
) -> Result<Vec<u8>, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The id keeps the form it had when each was hex-encoded and formatted with `format!`.
    #[test]
    fn request_ids_are_hyphenated_lowercase_hex() {
        let b: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(3));
        let h = crate::sigv4::hex(&b);
        let old = format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        );
        assert_eq!(format_request_id(&b), old);
        let ids = RequestIds::new();
        let seen: std::collections::HashSet<String> = (0..200).map(|_| request_id(&ids)).collect();
        assert_eq!(seen.len(), 200);
    }
}
