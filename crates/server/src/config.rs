//! cofferd's configuration: one [`Config`], its defaults in one place ([`Config::new`]), the
//! TOML file mapped onto it by serde (`docs/CONFIG.md`), and the summary `--check-config` and
//! the start-up log print.
//!
//! Field by field, a command-line flag wins over the file, which wins over the default (the
//! flags are applied by the binary, `main.rs`). Values are checked by
//! [`crate::validate_config`], with messages naming the file key and the flag.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer::AccountId;
use serde::{Deserialize, Serialize};

use crate::{ListenAddr, RateLimit};

/// Default request body limit: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Default clock-skew window: 5 minutes, as AWS.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);
/// Default interval of refusal summaries in the audit log: a minute.
pub const DEFAULT_REFUSAL_SUMMARY_INTERVAL: Duration = Duration::from_secs(60);
/// The default failure budget, per source address and per (address, access key id).
const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    rate: 200.0,
    burst: 400.0,
};
/// The audit flush interval of `periodic` and `buffered` durability when none is given.
pub(crate) const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// How the server runs: the configuration file's shape (`docs/CONFIG.md`). [`Config::new`]
/// gives the defaults; a key the file leaves out keeps its default.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Where the credential store and the keys (SQLite) live.
    pub data_dir: PathBuf,
    /// The region named in ARNs and required in credential scopes.
    pub region: String,
    /// The administrator's account on first start (random 12 digits when `None`).
    #[serde(with = "account_id")]
    pub account_id: Option<AccountId>,
    /// The address to listen on: an IP address or a host name (resolved when the server binds),
    /// and a port. Without TLS only loopback addresses are allowed, unless `allow_plain_http`.
    pub listen: ListenAddr,
    /// Where the root key comes from.
    pub root_key: RootKeyProvider,
    /// TLS certificate and key; `None` serves plain HTTP (loopback only, unless
    /// `allow_plain_http`).
    pub tls: Option<TlsFiles>,
    /// Without TLS, listen off loopback too (a private container network, a TLS-terminating
    /// proxy in front): request bodies cross the network unencrypted, and the server says so
    /// at start. Default `false`: plain HTTP on loopback addresses only.
    pub allow_plain_http: bool,
    /// Request sizes, connections, timeouts and failure budgets.
    pub limits: Limits,
    /// Request quotas per account and class (AWS's defaults unless set).
    pub quotas: coffer::QuotaConfig,
    /// The audit log's durability, failure mode and retention.
    pub audit: AuditSettings,
    /// The deletion and rotation sweep.
    pub maintenance: Maintenance,
    /// Where keys, aliases, grants and credentials live: SQLite in `data_dir` (default), or a
    /// PostgreSQL database shared by several nodes.
    pub store: StoreSettings,
    /// Log format and filter.
    pub log: LogSettings,
    /// Identity policies and tags per principal.
    pub principals: Vec<PrincipalEntry>,
    /// Peer regions for multi-Region keys (`[[peers]]`; docs/MULTI_REGION.md).
    pub peers: Vec<crate::replication::PeerConfig>,
    /// PKCS#11 tokens that custom key stores may use, by cluster id (`[[hsm_clusters]]`;
    /// docs/KEYSTORES.md). No PIN here: it comes with CreateCustomKeyStore.
    pub hsm_clusters: Vec<HsmClusterEntry>,
}

/// The `[limits]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Largest accepted difference between `X-Amz-Date` and the server clock.
    #[serde(rename = "max_skew_secs", with = "secs")]
    pub max_skew: Duration,
    /// Most connections served at once; further ones are closed on accept.
    pub max_connections: usize,
    /// Most connections from one source address; further ones are closed on accept.
    pub max_connections_per_ip: usize,
    /// Time a client has to send a request's headers.
    #[serde(rename = "header_timeout_secs", with = "secs")]
    pub header_timeout: Duration,
    /// Time a client has to send a request's body once its headers are in.
    #[serde(rename = "body_timeout_secs", with = "secs")]
    pub body_timeout: Duration,
    /// A keep-alive connection idle this long between requests is closed.
    #[serde(rename = "idle_timeout_secs", with = "secs")]
    pub idle_timeout: Duration,
    /// At shutdown, how long requests in flight may take to finish.
    #[serde(rename = "drain_timeout_secs", with = "secs")]
    pub drain_timeout: Duration,
    /// Failure budget per source address (an IPv6 address counts by its /64 prefix): only
    /// requests refused before an operation spend it; once it is empty the source's requests
    /// are refused (ThrottlingException) before any signature is computed. Authenticated
    /// requests cost nothing here: the account quotas bound them.
    #[serde(with = "rate_limit")]
    pub per_ip: RateLimit,
    /// Failure budget per access key id claimed from one source address (so that a flood of
    /// bad signatures under a key id from elsewhere cannot lock the key's owner out).
    #[serde(with = "rate_limit")]
    pub per_access_key: RateLimit,
    /// Requests refused before an operation are recorded in the audit log one per source
    /// address and error code per interval; the rest are counted and summarised, one record
    /// per source, when the interval ends (and at shutdown).
    #[serde(rename = "refusal_summary_secs", with = "secs")]
    pub refusal_summary_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_skew: DEFAULT_MAX_SKEW,
            max_connections: 1024,
            max_connections_per_ip: 128,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            per_ip: DEFAULT_RATE_LIMIT,
            per_access_key: DEFAULT_RATE_LIMIT,
            refusal_summary_interval: DEFAULT_REFUSAL_SUMMARY_INTERVAL,
        }
    }
}

/// The `[maintenance]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Maintenance {
    /// How often keys due for deletion or rotation are processed (and an audit digest signed).
    #[serde(rename = "interval_secs", with = "secs")]
    pub interval: Duration,
}

impl Default for Maintenance {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
        }
    }
}

/// The `[store]` table: the shared database of a cluster of nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreSettings {
    /// `postgres://user@host:port/dbname?sslmode=require` (or libpq's `key=value` form):
    /// keys, aliases, grants, policies and credentials in that database, shared with every
    /// node that names it; `data_dir` then holds only this node's lock, id and audit log.
    /// `None` (default): SQLite in `data_dir`. A password in it is never logged or printed,
    /// but prefer `password_file` or `password_env`.
    pub url: Option<StoreUrl>,
    /// The database password, read from this file (the owner's alone; one trailing newline
    /// ignored); overrides one in the URL.
    pub password_file: Option<PathBuf>,
    /// The database password, read from this environment variable; overrides one in the URL.
    pub password_env: Option<String>,
    /// Connections this node keeps open to the database at most.
    pub max_connections: usize,
    /// Cache-coherence bound: a node that cannot confirm within this time that it has seen
    /// every change committed by the other nodes refuses requests (retryable, 500) rather than
    /// serve what may be stale. Milliseconds, 200 to 60000.
    pub coherence_bound_ms: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: None,
            password_file: None,
            password_env: None,
            max_connections: 16,
            coherence_bound_ms: 1000,
        }
    }
}

/// A database URL: printed (`Debug`, the serialized form `--check-config` shows) with any
/// password replaced by `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// The URL as given (with its password, if any): for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl From<String> for StoreUrl {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl Serialize for StoreUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// `url` with the password of a `scheme://user:password@host` URL, and the value of a
/// `password=` pair of the `key=value` form (and of a `password=` query parameter), replaced
/// by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        // The authority ends at the first '/', '?' or '#'; its user info at the last '@'.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) => match user.split_once(':') {
                Some((name, _)) => format!("{name}:***@{host}"),
                None => format!("{user}@{host}"),
            },
            None => authority.to_owned(),
        };
        let tail = match tail.split_once('?') {
            Some((path, query)) => {
                let params: Vec<String> = query
                    .split('&')
                    .map(|p| match p.split_once('=') {
                        Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                        _ => p.to_owned(),
                    })
                    .collect();
                format!("{path}?{}", params.join("&"))
            }
            None => tail.to_owned(),
        };
        return format!("{scheme}://{authority}{tail}");
    }
    // key=value form: values may be quoted; a quoted password is replaced whole.
    let mut out = String::new();
    let mut rest = url;
    while let Some(i) = rest.find("password") {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        let after_key = after.get("password".len()..).unwrap_or_default();
        let trimmed = after_key.trim_start();
        if let Some(value) = trimmed.strip_prefix('=') {
            out.push_str("password=***");
            let value = value.trim_start();
            let skip = if let Some(q) = value.strip_prefix('\'') {
                let mut escaped = false;
                let mut end = q.len();
                for (j, c) in q.char_indices() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '\'' {
                        end = j + 1;
                        break;
                    }
                }
                1 + end
            } else {
                value.find(char::is_whitespace).unwrap_or(value.len())
            };
            rest = value.get(skip..).unwrap_or_default();
        } else {
            out.push_str("password");
            rest = after_key;
        }
    }
    out.push_str(rest);
    out
}

/// The `[log]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LogSettings {
    /// Log format.
    pub format: LogFormat,
    /// Which log lines to write, as a `tracing` filter directive (`info`, `cofferd=debug`, …).
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the root key comes from (the `[root_key]` table, by its `provider`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RootKeyTable", into = "RootKeyTable")]
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
    /// An AES-256 key held in a PKCS#11 token, generated there when the data dir is made and
    /// never extractable (docs/KEYSTORES.md).
    Pkcs11(Pkcs11RootSettings),
}

/// The label the root key object gets in the token when none is configured.
pub const DEFAULT_ROOT_KEY_LABEL: &str = "coffer-root";

/// A root key in a PKCS#11 token (`[root_key] provider = "pkcs11"`). Its PIN comes from
/// `pin_file` or `pin_env`, never from the file or a flag itself; nothing here is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs11RootSettings {
    /// The vendor's PKCS#11 library (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label (or `slot`).
    pub token_label: Option<String>,
    /// The token's slot id (or `token_label`).
    pub slot: Option<u64>,
    /// The root key object's label (`coffer-root` by default).
    pub key_label: String,
    /// A file holding the user PIN (mode 0600), or
    pub pin_file: Option<PathBuf>,
    /// an environment variable holding it.
    pub pin_env: Option<String>,
}

impl Pkcs11RootSettings {
    /// A root key in the token labelled `token_label` of `module`, its PIN in `pin_file`.
    pub fn new(
        module: impl Into<PathBuf>,
        token_label: &str,
        pin_file: impl Into<PathBuf>,
    ) -> Self {
        Self {
            module: module.into(),
            token_label: Some(token_label.to_owned()),
            slot: None,
            key_label: DEFAULT_ROOT_KEY_LABEL.to_owned(),
            pin_file: Some(pin_file.into()),
            pin_env: None,
        }
    }
}

/// One `[[hsm_clusters]]` entry: a token that custom key stores may name by `id` (AWS's
/// `CloudHsmClusterId`). The PIN is not configured: it is the `KeyStorePassword` of
/// CreateCustomKeyStore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HsmClusterEntry {
    /// `cluster-` and 11 to 16 letters or digits, e.g. `cluster-1234567abcd`.
    pub id: String,
    /// The vendor's PKCS#11 library; loaded at the first connect, not at start.
    pub module: PathBuf,
    /// The token's label (or `slot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_label: Option<String>,
    /// The token's slot id (or `token_label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u64>,
    /// A PEM file holding the cluster's trust anchor certificate (AWS's
    /// `TrustAnchorCertificate` must then match it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_anchor: Option<PathBuf>,
}

impl HsmClusterEntry {
    /// A cluster `id` on the token labelled `token_label` of `module`.
    pub fn new(id: &str, module: impl Into<PathBuf>, token_label: &str) -> Self {
        Self {
            id: id.to_owned(),
            module: module.into(),
            token_label: Some(token_label.to_owned()),
            slot: None,
            trust_anchor: None,
        }
    }
}

/// `[root_key]` as written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "provider")]
enum RootKeyTable {
    KeyFile {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    PassphraseFile {
        path: PathBuf,
    },
    PassphraseEnv {
        variable: String,
    },
    Pkcs11 {
        module: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slot: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin_file: Option<PathBuf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin_env: Option<String>,
    },
}

impl From<RootKeyTable> for RootKeyProvider {
    fn from(t: RootKeyTable) -> Self {
        match t {
            RootKeyTable::KeyFile { path } => Self::KeyFile(path),
            RootKeyTable::PassphraseFile { path } => Self::PassphraseFile(path),
            RootKeyTable::PassphraseEnv { variable } => Self::PassphraseEnv(variable),
            RootKeyTable::Pkcs11 {
                module,
                token_label,
                slot,
                key_label,
                pin_file,
                pin_env,
            } => Self::Pkcs11(Pkcs11RootSettings {
                module,
                token_label,
                slot,
                key_label: key_label.unwrap_or_else(|| DEFAULT_ROOT_KEY_LABEL.to_owned()),
                pin_file,
                pin_env,
            }),
        }
    }
}

impl From<RootKeyProvider> for RootKeyTable {
    fn from(p: RootKeyProvider) -> Self {
        match p {
            RootKeyProvider::KeyFile(path) => Self::KeyFile { path },
            RootKeyProvider::PassphraseFile(path) => Self::PassphraseFile { path },
            RootKeyProvider::PassphraseEnv(variable) => Self::PassphraseEnv { variable },
            RootKeyProvider::Pkcs11(p) => Self::Pkcs11 {
                module: p.module,
                token_label: p.token_label,
                slot: p.slot,
                key_label: Some(p.key_label),
                pin_file: p.pin_file,
                pin_env: p.pin_env,
            },
        }
    }
}

/// TLS: a certificate chain and its private key, both PEM files (the `[tls]` table).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1); only the owner may read it.
    pub key: PathBuf,
}

/// How the data dir's audit log behaves (the `[audit]` table).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AuditTable", into = "AuditTable")]
#[non_exhaustive]
pub struct AuditSettings {
    /// When a call's record is safe before the call returns (default: fsynced).
    pub durability: coffer::audit_log::Durability,
    /// `true`: a call whose record cannot be written still succeeds (the loss is counted);
    /// `false` (default): it fails with KMSInternalException.
    pub fail_open: bool,
    /// Size at which a log file rolls over.
    pub max_file_bytes: u64,
    /// How far ahead of its records the live log file is kept written with zeros, so a
    /// batch's fsync commits no file metadata (`0`: plain appends).
    pub preallocate_bytes: u64,
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
            preallocate_bytes: coffer::audit_log::DEFAULT_PREALLOCATE_BYTES,
            max_total_bytes: None,
            anchor_dir: None,
        }
    }
}

/// `[audit]` as written: the durability's mode and interval are two keys.
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AuditTable {
    durability: DurabilityMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    flush_interval_ms: Option<u64>,
    fail_open: bool,
    max_file_bytes: u64,
    preallocate_bytes: u64,
    max_total_bytes: Option<u64>,
    anchor_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DurabilityMode {
    Sync,
    Periodic,
    Buffered,
}

impl Default for AuditTable {
    fn default() -> Self {
        AuditSettings::default().into()
    }
}

impl TryFrom<AuditTable> for AuditSettings {
    type Error = &'static str;

    fn try_from(t: AuditTable) -> Result<Self, Self::Error> {
        use coffer::audit_log::Durability;
        let interval = t
            .flush_interval_ms
            .map_or(DEFAULT_FLUSH_INTERVAL, Duration::from_millis);
        let durability =
            match t.durability {
                DurabilityMode::Sync if t.flush_interval_ms.is_some() => return Err(
                    "audit.flush_interval_ms: only with durability \"periodic\" or \"buffered\"",
                ),
                DurabilityMode::Sync => Durability::Sync,
                DurabilityMode::Periodic => Durability::Periodic(interval),
                DurabilityMode::Buffered => Durability::Buffered(interval),
            };
        Ok(Self {
            durability,
            fail_open: t.fail_open,
            max_file_bytes: t.max_file_bytes,
            preallocate_bytes: t.preallocate_bytes,
            max_total_bytes: t.max_total_bytes,
            anchor_dir: t.anchor_dir,
        })
    }
}

impl From<AuditSettings> for AuditTable {
    fn from(a: AuditSettings) -> Self {
        use coffer::audit_log::Durability;
        let ms = |d: Duration| Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let (durability, flush_interval_ms) = match a.durability {
            Durability::Periodic(d) => (DurabilityMode::Periodic, ms(d)),
            Durability::Buffered(d) => (DurabilityMode::Buffered, ms(d)),
            _ => (DurabilityMode::Sync, None),
        };
        Self {
            durability,
            flush_interval_ms,
            fail_open: a.fail_open,
            max_file_bytes: a.max_file_bytes,
            preallocate_bytes: a.preallocate_bytes,
            max_total_bytes: a.max_total_bytes,
            anchor_dir: a.anchor_dir,
        }
    }
}

/// A `[[principals]]` entry: identity policies and tags the configuration attaches to a
/// principal; every credential of that principal carries them (beside any stored with it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PrincipalEntry {
    /// The principal's ARN (`arn:aws:iam::ACCOUNT:user/NAME`, `…:role/NAME`, `…:root`).
    pub arn: String,
    /// IAM identity policy documents (JSON).
    #[serde(default)]
    pub policies: Vec<String>,
    /// Files of further policy documents, each the owner's alone; read into `policies` by
    /// [`Config::read_policy_files`] (which loading a file does).
    #[serde(default)]
    pub policy_files: Vec<PathBuf>,
    /// Principal tags, for `aws:PrincipalTag/…` conditions.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl PrincipalEntry {
    /// An entry for `arn` with no policy and no tag.
    pub fn new(arn: impl Into<String>) -> Self {
        Self {
            arn: arn.into(),
            ..Self::default()
        }
    }

    /// What the credential store attaches to the principal's credentials.
    pub fn settings(&self) -> coffer_credentials::ConfiguredPrincipal {
        coffer_credentials::ConfiguredPrincipal {
            arn: self.arn.clone(),
            policies: self.policies.clone(),
            tags: self.tags.clone(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new(PathBuf::new())
    }
}

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
            region: "us-east-1".into(),
            account_id: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)).into(),
            root_key: RootKeyProvider::KeyFile(None),
            tls: None,
            allow_plain_http: false,
            limits: Limits::default(),
            quotas: coffer::QuotaConfig::default(),
            audit: AuditSettings::default(),
            maintenance: Maintenance::default(),
            store: StoreSettings::default(),
            log: LogSettings::default(),
            principals: Vec::new(),
            peers: Vec::new(),
            hsm_clusters: Vec::new(),
        }
    }

    /// The root key file a [`RootKeyProvider::KeyFile`] names (`DATA_DIR/root.key` by
    /// default); `None` for a passphrase.
    pub fn root_key_file(&self) -> Option<PathBuf> {
        match &self.root_key {
            RootKeyProvider::KeyFile(file) => Some(
                file.clone()
                    .unwrap_or_else(|| self.data_dir.join("root.key")),
            ),
            _ => None,
        }
    }

    /// Reads each principal's `policy_files` (each must be the owner's alone) into its
    /// `policies`, leaving `policy_files` empty.
    pub fn read_policy_files(&mut self) -> Result<(), crate::Error> {
        for p in &mut self.principals {
            for file in std::mem::take(&mut p.policy_files) {
                crate::config_file::check_private(&file)?;
                p.policies.push(crate::config_file::read_text(&file)?);
            }
        }
        Ok(())
    }

    /// Every setting, one `key = value` line each in the file's terms (`limits.max_connections
    /// = 1024`), derived from the configuration's serialized form. Nothing secret: a
    /// passphrase variable is named (and whether it is set), never read; policies are counted,
    /// not printed.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        match serde_json::to_string(self).map(|json| serde_json::from_str::<Node>(&json)) {
            Ok(Ok(Node::Table(fields))) => {
                for (key, node) in &fields {
                    self.render(&mut out, key, node);
                }
            }
            // Only a path that is not UTF-8 gets here.
            _ => out.push_str("(the configuration cannot be shown: a path is not UTF-8)\n"),
        }
        out
    }

    fn render(&self, out: &mut String, key: &str, node: &Node) {
        use std::fmt::Write as _;
        let quoted = |p: &Path| format!("{:?}", p.display().to_string());
        let _ = match (key, node) {
            ("root_key", _) => match &self.root_key {
                RootKeyProvider::PassphraseFile(file) => {
                    writeln!(out, "root_key = passphrase-file {}", quoted(file))
                }
                RootKeyProvider::PassphraseEnv(var) => {
                    let set = if std::env::var_os(var).is_some() {
                        "set"
                    } else {
                        "NOT SET: the server will not start without it"
                    };
                    writeln!(out, "root_key = passphrase-env {var} ({set})")
                }
                RootKeyProvider::KeyFile(_) => {
                    let file = self.root_key_file().unwrap_or_default();
                    writeln!(out, "root_key = key-file {}", quoted(&file))
                }
                RootKeyProvider::Pkcs11(p) => {
                    let token = match (&p.token_label, p.slot) {
                        (Some(label), _) => format!("token_label {label:?}"),
                        (None, Some(slot)) => format!("slot {slot}"),
                        (None, None) => "(no token_label or slot)".to_owned(),
                    };
                    // The PIN's source is named, never read.
                    let pin = match (&p.pin_file, &p.pin_env) {
                        (Some(file), _) => format!("pin_file {}", quoted(file)),
                        (None, Some(var)) => {
                            let set = if std::env::var_os(var).is_some() {
                                "set"
                            } else {
                                "NOT SET: the server will not start without it"
                            };
                            format!("pin_env {var} ({set})")
                        }
                        (None, None) => "(no pin_file or pin_env)".to_owned(),
                    };
                    writeln!(
                        out,
                        "root_key = pkcs11 module {} {token} key_label {:?} {pin}",
                        quoted(&p.module),
                        p.key_label
                    )
                }
            },
            ("hsm_clusters", _) => {
                for c in &self.hsm_clusters {
                    let token = match (&c.token_label, c.slot) {
                        (Some(label), _) => format!("token_label {label:?}"),
                        (None, Some(slot)) => format!("slot {slot}"),
                        (None, None) => "(no token_label or slot)".to_owned(),
                    };
                    let anchor = c
                        .trust_anchor
                        .as_deref()
                        .map_or_else(|| "(none)".to_owned(), quoted);
                    let _ = writeln!(
                        out,
                        "hsm_cluster {}: module {} {token} trust_anchor {anchor}",
                        c.id,
                        quoted(&c.module)
                    );
                }
                Ok(())
            }
            ("principals", _) => {
                for p in &self.principals {
                    let bytes: usize = p.policies.iter().map(String::len).sum();
                    let tags: Vec<String> =
                        p.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let _ = writeln!(
                        out,
                        "principal {:?}: identity policies: {} ({bytes} bytes), tags: [{}]",
                        p.arn,
                        p.policies.len() + p.policy_files.len(),
                        tags.join(", ")
                    );
                }
                Ok(())
            }
            // A rate and burst (in a table): one line.
            (_, Node::Table(fields))
                if key.contains('.')
                    && !fields.is_empty()
                    && fields.iter().all(|(_, n)| n.is_number()) =>
            {
                let parts: Vec<String> = fields.iter().map(|(k, n)| format!("{k} = {n}")).collect();
                writeln!(out, "{key} = {{ {} }}", parts.join(", "))
            }
            (_, Node::Table(fields)) => {
                for (k, n) in fields {
                    self.render(out, &format!("{key}.{k}"), n);
                }
                Ok(())
            }
            (_, Node::Leaf(serde_json::Value::Null)) => {
                let unset = match key {
                    "account_id" => "(random at first start)",
                    "tls" if self.allow_plain_http => {
                        "(none: plain HTTP, off loopback too: allow_plain_http)"
                    }
                    "tls" => "(none: plain HTTP on loopback)",
                    "audit.max_total_bytes" => "(unlimited)",
                    _ => "(none)",
                };
                writeln!(out, "{key} = {unset}")
            }
            (_, n) => writeln!(out, "{key} = {n}"),
        };
    }
}

/// A serialized configuration with its tables in field order (for [`Config::summary`];
/// `serde_json::Value` would sort them).
enum Node {
    Leaf(serde_json::Value),
    Table(Vec<(String, Node)>),
    List(Vec<Node>),
}

impl Node {
    fn is_number(&self) -> bool {
        matches!(self, Node::Leaf(serde_json::Value::Number(_)))
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Leaf(serde_json::Value::String(s)) => write!(f, "{s:?}"),
            Node::Leaf(v) => write!(f, "{v}"),
            Node::Table(fields) => {
                let parts: Vec<String> = fields.iter().map(|(k, n)| format!("{k} = {n}")).collect();
                write!(f, "{{ {} }}", parts.join(", "))
            }
            Node::List(items) => {
                let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a serialized configuration")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Leaf(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Leaf(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Leaf(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Leaf(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Leaf(v.into()))
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf(serde_json::Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = a.next_element()? {
                    items.push(n);
                }
                Ok(Node::List(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = a.next_entry::<String, Node>()? {
                    fields.push(entry);
                }
                Ok(Node::Table(fields))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Durations written in whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// A failure budget: a table of `rate` and `burst`, either of which may be left out.
mod rate_limit {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::RateLimit;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        rate: Option<f64>,
        burst: Option<f64>,
    }

    pub(super) fn serialize<S: Serializer>(l: &RateLimit, s: S) -> Result<S::Ok, S::Error> {
        // Whole numbers as integers (`burst = 400`, as written).
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Number {
            Whole(u64),
            Real(f64),
        }
        let number = |x: f64| {
            if x.fract() == 0.0 && (0.0..9.0e15).contains(&x) {
                Number::Whole(x as u64)
            } else {
                Number::Real(x)
            }
        };
        #[derive(Serialize)]
        struct Shown {
            rate: Number,
            burst: Number,
        }
        Shown {
            rate: number(l.rate),
            burst: number(l.burst),
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RateLimit, D::Error> {
        let t = Table::deserialize(d)?;
        let default = super::DEFAULT_RATE_LIMIT;
        // Checked with the rest of the configuration (`validate_config`), naming the key.
        Ok(RateLimit {
            rate: t.rate.unwrap_or(default.rate),
            burst: t.burst.unwrap_or(default.burst),
        })
    }
}

/// An account id written as a string of 12 digits.
mod account_id {
    use coffer::AccountId;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        id: &Option<AccountId>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.serialize_str(&id.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<AccountId>, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(Some).map_err(|_| {
            D::Error::custom(format!(
                "account_id: not an account id (12 digits): {text:?}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_never_shows_its_password() {
        for (url, shown) in [
            (
                "postgres://coffer:hunter2@db:5432/coffer?sslmode=require",
                "postgres://coffer:***@db:5432/coffer?sslmode=require",
            ),
            (
                "postgresql://coffer:p%40ss@db/coffer",
                "postgresql://coffer:***@db/coffer",
            ),
            // An '@' in the password (unencoded): the last '@' ends the user info.
            ("postgres://u:a@b@db/x", "postgres://u:***@db/x"),
            ("postgres://coffer@db/coffer", "postgres://coffer@db/coffer"),
            (
                "postgres://db/coffer?user=u&password=hunter2&sslmode=require",
                "postgres://db/coffer?user=u&password=***&sslmode=require",
            ),
            (
                "host=db user=coffer password=hunter2 dbname=coffer",
                "host=db user=coffer password=*** dbname=coffer",
            ),
            (
                "host=db password = 'hunter2 \\' x' dbname=coffer",
                "host=db password=*** dbname=coffer",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        let mut c = Config::new("/srv/coffer");
        c.store.url = Some(StoreUrl::from(
            "postgres://coffer:hunter2@db/coffer".to_owned(),
        ));
        c.store.password_env = Some("DB_PASSWORD".into());
        let summary = c.summary();
        assert!(
            summary.contains("store.url = \"postgres://coffer:***@db/coffer\"\n"),
            "{summary}"
        );
        assert!(summary.contains("store.password_env = \"DB_PASSWORD\"\n"));
        assert!(summary.contains("store.coherence_bound_ms = 1000\n"));
        assert!(!summary.contains("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            c.store.url.as_ref().map(StoreUrl::expose),
            Some("postgres://coffer:hunter2@db/coffer")
        );
    }

    #[test]
    fn the_summary_lists_every_setting_in_the_files_terms() {
        let mut c = Config::new("/srv/coffer");
        c.audit.durability = coffer::audit_log::Durability::Periodic(Duration::from_millis(40));
        c.limits.per_ip = RateLimit::new(7.5, 400.0).unwrap();
        let mut p = PrincipalEntry::new("arn:aws:iam::111122223333:user/a");
        p.policies.push("{}".into());
        p.tags.insert("team".into(), "billing".into());
        c.principals.push(p);
        let s = c.summary();
        for line in [
            "data_dir = \"/srv/coffer\"\n",
            "region = \"us-east-1\"\n",
            "account_id = (random at first start)\n",
            "listen = \"127.0.0.1:0\"\n",
            "root_key = key-file \"/srv/coffer/root.key\"\n",
            "tls = (none: plain HTTP on loopback)\nallow_plain_http = false\n",
            "limits.max_body_bytes = 65536\n",
            "limits.max_skew_secs = 300\n",
            "limits.per_ip = { rate = 7.5, burst = 400 }\n",
            "limits.per_access_key = { rate = 200, burst = 400 }\n",
            "limits.refusal_summary_secs = 60\n",
            "quotas.enabled = true\n",
            "audit.durability = \"periodic\"\naudit.flush_interval_ms = 40\n",
            "audit.max_total_bytes = (unlimited)\n",
            "audit.anchor_dir = (none)\n",
            "maintenance.interval_secs = 60\n",
            "log.format = \"text\"\nlog.level = \"info\"\n",
            "principal \"arn:aws:iam::111122223333:user/a\": identity policies: 1 (2 bytes), \
             tags: [team=billing]\n",
        ] {
            assert!(s.contains(line), "{line:?} in\n{s}");
        }
    }

    #[test]
    fn serialized_and_read_back_a_config_is_the_same() {
        let mut c = Config::new("/d");
        c.audit.durability = coffer::audit_log::Durability::Buffered(Duration::from_millis(7));
        c.root_key = RootKeyProvider::PassphraseEnv("PASS".into());
        c.account_id = Some("111122223333".parse().unwrap());
        let json = serde_json::to_string(&c).unwrap();
        let back: Config = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert_eq!(back.audit, c.audit);
        assert_eq!(back.root_key, c.root_key);
        assert_eq!(back.account_id, c.account_id);
    }

    #[test]
    fn a_pkcs11_root_key_and_clusters_read_back_and_show_no_pin() {
        let toml_text = "data_dir = \"/d\"\n[root_key]\nprovider = \"pkcs11\"\n\
             module = \"/usr/lib/softhsm/libsofthsm2.so\"\nslot = 7\npin_env = \"TOKEN_PIN\"\n\
             [[hsm_clusters]]\nid = \"cluster-1234567abcd\"\nmodule = \"/m.so\"\n\
             token_label = \"cks\"\ntrust_anchor = \"/a.pem\"\n";
        let mut c: Config = toml::from_str(toml_text).unwrap();
        // (A configuration round-trips through JSON with its account id set.)
        c.account_id = Some("111122223333".parse().unwrap());
        let RootKeyProvider::Pkcs11(p) = &c.root_key else {
            panic!("{:?}", c.root_key)
        };
        assert_eq!(p.slot, Some(7));
        assert_eq!(p.key_label, DEFAULT_ROOT_KEY_LABEL);
        assert_eq!(p.pin_env.as_deref(), Some("TOKEN_PIN"));
        assert_eq!(c.hsm_clusters.len(), 1);
        let json = serde_json::to_string(&c).unwrap();
        let back: Config = serde_json::from_str(&json).unwrap();
        assert_eq!(back.root_key, c.root_key);
        assert_eq!(back.hsm_clusters, c.hsm_clusters);
        let summary = c.summary();
        assert!(
            summary.contains(
                "root_key = pkcs11 module \"/usr/lib/softhsm/libsofthsm2.so\" slot 7 \
                 key_label \"coffer-root\" pin_env TOKEN_PIN"
            ),
            "{summary}"
        );
        assert!(
            summary.contains(
                "hsm_cluster cluster-1234567abcd: module \"/m.so\" token_label \"cks\" \
                 trust_anchor \"/a.pem\""
            ),
            "{summary}"
        );
        // A PIN has no place in the table.
        let with_pin = toml_text.replace("pin_env = \"TOKEN_PIN\"", "pin = \"1234\"");
        assert!(toml::from_str::<Config>(&with_pin).is_err());
    }
}
