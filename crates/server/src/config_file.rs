//! `--config FILE`: the TOML configuration file, and the permission checks on files that hold
//! secrets or say who may do what.
//!
//! The file is read into a private serde model (every table `deny_unknown_fields`), checked
//! value by value with messages that name the key, and mapped onto [`Config`]; relative paths in
//! it resolve against the file's directory. `docs/CONFIG.md` documents every key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::server::{AuditSettings, LogFormat, PrincipalSettings, RootKeyProvider, TlsFiles};
use crate::{Config, Error, RateLimit};

/// Refuses a file that its group or others may read or write: the configuration, credential
/// and passphrase files must be the owner's alone.
pub(crate) fn check_private(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(Error::io(path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::Permissions {
                path: path.to_owned(),
                mode: mode & 0o777,
            });
        }
    }
    Ok(())
}

/// The audit flush interval of `periodic` and `buffered` durability when the file gives none.
const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// The smallest audit file size the audit log honours.
const MIN_AUDIT_FILE_BYTES: u64 = 4096;
/// The largest configuration file read (a guard against pointing `--config` at a device).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// The file's model.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    data_dir: Option<PathBuf>,
    region: Option<String>,
    account_id: Option<String>,
    listen: Option<String>,
    root_key: Option<RootKeyModel>,
    tls: Option<TlsModel>,
    #[serde(default)]
    limits: LimitsModel,
    quotas: Option<coffer::QuotaConfig>,
    #[serde(default)]
    audit: AuditModel,
    #[serde(default)]
    maintenance: MaintenanceModel,
    #[serde(default)]
    log: LogModel,
    #[serde(default)]
    principals: Vec<PrincipalModel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "provider")]
enum RootKeyModel {
    KeyFile { path: Option<PathBuf> },
    PassphraseFile { path: PathBuf },
    PassphraseEnv { variable: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsModel {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsModel {
    max_body_bytes: Option<u64>,
    max_skew_secs: Option<u64>,
    max_connections: Option<u64>,
    max_connections_per_ip: Option<u64>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    drain_timeout_secs: Option<u64>,
    per_ip: Option<RateModel>,
    per_access_key: Option<RateModel>,
    refusal_summary_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateModel {
    rate: Option<f64>,
    burst: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditModel {
    durability: Option<DurabilityModel>,
    flush_interval_ms: Option<u64>,
    fail_open: Option<bool>,
    max_file_bytes: Option<u64>,
    max_total_bytes: Option<u64>,
    anchor_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DurabilityModel {
    Sync,
    Periodic,
    Buffered,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceModel {
    interval_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogModel {
    format: Option<LogFormatModel>,
    level: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LogFormatModel {
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalModel {
    arn: String,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    policy_files: Vec<PathBuf>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// Reads the TOML configuration file at `path` into a [`Config`] (defaults for what it leaves
/// out), checked as [`validate_config`] checks a configuration.
///
/// The file itself must be the owner's alone (mode 0600 or stricter; [`Error::Permissions`]
/// otherwise), as must a TLS private key, a passphrase file, an existing root-key file and the
/// policy files it names. Relative paths in the file are relative to the file's directory.
/// Unknown keys, syntax errors (with line and column) and invalid values are
/// [`Error::ConfigFile`], whose message names the key. `data_dir` is required.
pub fn load_config_file(path: &Path) -> Result<Config, Error> {
    load_config_file_with(path, None)
}

/// [`load_config_file`], with `data_dir` used when the file names none (the command line's
/// `--data-dir`).
pub fn load_config_file_with(path: &Path, data_dir: Option<&Path>) -> Result<Config, Error> {
    check_private(path)?;
    let text = read_text(path)?;
    let base = config_dir(path)?;
    parse_config_with(&text, path, &base, data_dir)
}

/// [`load_config_file`] on the file's text: `path` names the file in errors, relative paths
/// resolve against `base`. The files the configuration names are checked as there.
pub fn parse_config(text: &str, path: &Path, base: &Path) -> Result<Config, Error> {
    parse_config_with(text, path, base, None)
}

fn parse_config_with(
    text: &str,
    path: &Path,
    base: &Path,
    data_dir: Option<&Path>,
) -> Result<Config, Error> {
    let fail = |message: String| Error::ConfigFile {
        path: path.to_owned(),
        message,
    };
    let model: FileModel = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
    let config = to_config(model, base, data_dir).map_err(|p| match p {
        Problem::Value(message) => fail(message),
        Problem::Fs(e) => e,
    })?;
    check_values(&config).map_err(|m| fail(m.to_owned()))?;
    check_files(&config)?;
    Ok(config)
}

/// Checks a complete configuration — from [`load_config_file`], [`Config::new`], command-line
/// flags, or all of these — without starting anything: the region's shape, that a
/// non-loopback `listen` has TLS, positive sizes, durations and rates, the log filter, the
/// principals' ARNs and identity policies, the quotas, and that the TLS key, the passphrase file
/// and an existing root-key file are the owner's alone ([`Error::Permissions`]) and the TLS
/// certificate exists ([`Error::Io`]). Other problems are [`Error::Config`], naming the file
/// key and the command-line flag.
pub fn validate_config(config: &Config) -> Result<(), Error> {
    check_values(config).map_err(Error::Config)?;
    check_principals(&config.principals).map_err(|_| {
        Error::Config("principals: an ARN or identity policy is invalid (see docs/CONFIG.md)")
    })?;
    check_quotas(&config.quotas).map_err(|_| {
        Error::Config("quotas: a rate, burst, account id or max_buckets is invalid")
    })?;
    check_files(config)
}

/// Why the file's values cannot become a [`Config`].
enum Problem {
    /// A value is invalid; the message names the key.
    Value(String),
    /// A file the configuration names cannot be used.
    Fs(Error),
}

impl From<String> for Problem {
    fn from(message: String) -> Self {
        Self::Value(message)
    }
}

fn read_text(path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(Error::io(path))?;
    if u64::try_from(text.len()).unwrap_or(u64::MAX) > MAX_CONFIG_BYTES {
        return Err(Error::ConfigFile {
            path: path.to_owned(),
            message: format!("larger than {MAX_CONFIG_BYTES} bytes"),
        });
    }
    Ok(text)
}

/// The absolute directory of the configuration file, which relative paths in it are relative to.
fn config_dir(path: &Path) -> Result<PathBuf, Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(dir).map_err(Error::io(dir))
}

fn resolve(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

fn secs(key: &str, value: Option<u64>, default: Duration) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(0) => Err(format!("{key}: must be at least 1")),
        Some(n) => Ok(Duration::from_secs(n)),
    }
}

fn count(key: &str, value: Option<u64>, default: usize) -> Result<usize, String> {
    match value {
        None => Ok(default),
        Some(0) => Err(format!("{key}: must be at least 1")),
        Some(n) => usize::try_from(n).map_err(|_| format!("{key}: too large: {n}")),
    }
}

fn rate(key: &str, value: Option<RateModel>, default: RateLimit) -> Result<RateLimit, String> {
    let Some(v) = value else {
        return Ok(default);
    };
    let (r, b) = (
        v.rate.unwrap_or(default.rate),
        v.burst.unwrap_or(default.burst),
    );
    RateLimit::new(r, b).ok_or_else(|| {
        format!("{key}: rate must be a number above 0 and burst at least 1 (rate {r}, burst {b})")
    })
}

fn to_config(m: FileModel, base: &Path, fallback: Option<&Path>) -> Result<Config, Problem> {
    let data_dir = match (m.data_dir, fallback) {
        (Some(d), _) => resolve(base, d),
        (None, Some(d)) => d.to_path_buf(),
        (None, None) => {
            return Err(
                "data_dir: missing (the data directory is required, here or as --data-dir)"
                    .to_owned()
                    .into(),
            )
        }
    };
    let mut c = Config::new(data_dir);
    if let Some(region) = m.region {
        c.region = region;
    }
    if let Some(id) = m.account_id {
        c.account_id = Some(
            id.parse()
                .map_err(|_| format!("account_id: not an account id (12 digits): {id:?}"))?,
        );
    }
    if let Some(listen) = m.listen {
        c.listen = listen
            .parse()
            .map_err(|_| format!("listen: not an IP address and port: {listen:?}"))?;
    }
    if let Some(root) = m.root_key {
        c.root_key = match root {
            RootKeyModel::KeyFile { path } => {
                RootKeyProvider::KeyFile(path.map(|p| resolve(base, p)))
            }
            RootKeyModel::PassphraseFile { path } => {
                RootKeyProvider::PassphraseFile(resolve(base, path))
            }
            RootKeyModel::PassphraseEnv { variable } => {
                if variable.is_empty() || variable.contains(['=', '\0']) {
                    return Err(format!(
                        "root_key.variable: not an environment variable name: {variable:?}"
                    )
                    .into());
                }
                RootKeyProvider::PassphraseEnv(variable)
            }
        };
    }
    c.tls = m.tls.map(|t| TlsFiles {
        cert: resolve(base, t.cert),
        key: resolve(base, t.key),
    });

    let l = m.limits;
    c.max_body_bytes = count("limits.max_body_bytes", l.max_body_bytes, c.max_body_bytes)?;
    c.max_skew = secs("limits.max_skew_secs", l.max_skew_secs, c.max_skew)?;
    c.max_connections = count(
        "limits.max_connections",
        l.max_connections,
        c.max_connections,
    )?;
    c.max_connections_per_ip = count(
        "limits.max_connections_per_ip",
        l.max_connections_per_ip,
        c.max_connections_per_ip,
    )?;
    c.header_timeout = secs(
        "limits.header_timeout_secs",
        l.header_timeout_secs,
        c.header_timeout,
    )?;
    c.body_timeout = secs(
        "limits.body_timeout_secs",
        l.body_timeout_secs,
        c.body_timeout,
    )?;
    c.idle_timeout = secs(
        "limits.idle_timeout_secs",
        l.idle_timeout_secs,
        c.idle_timeout,
    )?;
    c.drain_timeout = secs(
        "limits.drain_timeout_secs",
        l.drain_timeout_secs,
        c.drain_timeout,
    )?;
    c.ip_limit = rate("limits.per_ip", l.per_ip, c.ip_limit)?;
    c.key_limit = rate("limits.per_access_key", l.per_access_key, c.key_limit)?;
    c.refusal_summary_interval = secs(
        "limits.refusal_summary_secs",
        l.refusal_summary_secs,
        c.refusal_summary_interval,
    )?;

    if let Some(q) = m.quotas {
        check_quotas(&q).map_err(|e| format!("quotas: {e}"))?;
        c.quotas = q;
    }

    let a = m.audit;
    let interval = match a.flush_interval_ms {
        None => DEFAULT_FLUSH_INTERVAL,
        Some(0) => {
            return Err("audit.flush_interval_ms: must be at least 1"
                .to_owned()
                .into())
        }
        Some(ms) => Duration::from_millis(ms),
    };
    use coffer::audit_log::Durability;
    let durability = match a.durability.unwrap_or(DurabilityModel::Sync) {
        DurabilityModel::Sync => {
            if a.flush_interval_ms.is_some() {
                return Err(
                    "audit.flush_interval_ms: only with durability \"periodic\" or \
                            \"buffered\""
                        .to_owned()
                        .into(),
                );
            }
            Durability::Sync
        }
        DurabilityModel::Periodic => Durability::Periodic(interval),
        DurabilityModel::Buffered => Durability::Buffered(interval),
    };
    let mut audit = AuditSettings::default();
    audit.durability = durability;
    audit.fail_open = a.fail_open.unwrap_or(audit.fail_open);
    if let Some(bytes) = a.max_file_bytes {
        if bytes < MIN_AUDIT_FILE_BYTES {
            return Err(
                format!("audit.max_file_bytes: must be at least {MIN_AUDIT_FILE_BYTES}").into(),
            );
        }
        audit.max_file_bytes = bytes;
    }
    if let Some(total) = a.max_total_bytes {
        if total < audit.max_file_bytes {
            return Err(format!(
                "audit.max_total_bytes: must be at least audit.max_file_bytes ({})",
                audit.max_file_bytes
            )
            .into());
        }
        audit.max_total_bytes = Some(total);
    }
    audit.anchor_dir = a.anchor_dir.map(|p| resolve(base, p));
    c.audit = audit;

    c.maintenance_interval = secs(
        "maintenance.interval_secs",
        m.maintenance.interval_secs,
        c.maintenance_interval,
    )?;

    if let Some(f) = m.log.format {
        c.log_format = match f {
            LogFormatModel::Text => LogFormat::Text,
            LogFormatModel::Json => LogFormat::Json,
        };
    }
    if let Some(level) = m.log.level {
        tracing_subscriber::EnvFilter::try_new(&level)
            .map_err(|e| format!("log.level: not a filter directive ({e}): {level:?}"))?;
        c.log_filter = level;
    }

    let mut principals = Vec::with_capacity(m.principals.len());
    for p in m.principals {
        let mut policies = p.policies;
        for file in p.policy_files {
            let file = resolve(base, file);
            check_private(&file).map_err(Problem::Fs)?;
            let text = read_text(&file).map_err(Problem::Fs)?;
            policies.push(text);
        }
        principals.push(PrincipalSettings {
            arn: p.arn,
            policies,
            tags: p.tags,
        });
    }
    check_principals(&principals)?;
    c.principals = principals;
    Ok(c)
}

// ---------------------------------------------------------------------------------------------
// Checks.

/// Checks the values that command-line flags can set too; the message names the file key and
/// the flag.
fn check_values(c: &Config) -> Result<(), &'static str> {
    let region_ok = !c.region.is_empty()
        && c.region.len() <= 32
        && c.region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err("region (--region): 1 to 32 characters of a-z, 0-9 and -");
    }
    if c.data_dir.as_os_str().is_empty() {
        return Err("data_dir (--data-dir): missing");
    }
    if !c.listen.ip().is_loopback() && c.tls.is_none() {
        return Err(
            "listen (--listen): a non-loopback address needs TLS ([tls] cert and key, \
                    or --tls-cert and --tls-key); plain HTTP is served on loopback only",
        );
    }
    if c.max_body_bytes == 0 {
        return Err("limits.max_body_bytes (--max-body-bytes): must be at least 1");
    }
    if c.max_connections == 0 {
        return Err("limits.max_connections (--max-connections): must be at least 1");
    }
    if c.max_connections_per_ip == 0 {
        return Err("limits.max_connections_per_ip (--max-connections-per-ip): must be at least 1");
    }
    let durations = [
        (
            c.max_skew,
            "limits.max_skew_secs (--max-skew-secs): must be at least 1",
        ),
        (
            c.header_timeout,
            "limits.header_timeout_secs (--header-timeout-secs): must be at least 1",
        ),
        (
            c.body_timeout,
            "limits.body_timeout_secs (--body-timeout-secs): must be at least 1",
        ),
        (
            c.idle_timeout,
            "limits.idle_timeout_secs (--idle-timeout-secs): must be at least 1",
        ),
        (
            c.drain_timeout,
            "limits.drain_timeout_secs (--drain-timeout-secs): must be at least 1",
        ),
        (
            c.maintenance_interval,
            "maintenance.interval_secs (--maintenance-secs): must be at least 1",
        ),
        (
            c.refusal_summary_interval,
            "limits.refusal_summary_secs (--refusal-summary-secs): must be at least 1",
        ),
    ];
    if let Some((_, message)) = durations.iter().find(|(d, _)| d.is_zero()) {
        return Err(message);
    }
    if RateLimit::new(c.ip_limit.rate, c.ip_limit.burst).is_none() {
        return Err("limits.per_ip (--ip-rate, --ip-burst): rate above 0, burst at least 1");
    }
    if RateLimit::new(c.key_limit.rate, c.key_limit.burst).is_none() {
        return Err(
            "limits.per_access_key (--key-rate, --key-burst): rate above 0, burst at least 1",
        );
    }
    use coffer::audit_log::Durability;
    match c.audit.durability {
        Durability::Periodic(d) | Durability::Buffered(d) if d.is_zero() => {
            return Err("audit.flush_interval_ms (--audit-durability MODE:MS): must be at least 1");
        }
        _ => {}
    }
    if c.audit.max_file_bytes < MIN_AUDIT_FILE_BYTES {
        return Err("audit.max_file_bytes: must be at least 4096");
    }
    if c.audit
        .max_total_bytes
        .is_some_and(|total| total < c.audit.max_file_bytes)
    {
        return Err("audit.max_total_bytes: must be at least audit.max_file_bytes");
    }
    if tracing_subscriber::EnvFilter::try_new(&c.log_filter).is_err() {
        return Err("log.level (--log-level): not a tracing filter directive");
    }
    if let RootKeyProvider::PassphraseEnv(var) = &c.root_key {
        if var.is_empty() || var.contains(['=', '\0']) {
            return Err("root_key.variable (--root-passphrase-env): not a variable name");
        }
    }
    Ok(())
}

/// Checks the files the configuration names: private keys and passphrases are the owner's
/// alone, the certificate exists.
/// The files the configuration names: the TLS certificate and key exist and can be read, the
/// key is the owner's alone; a passphrase file likewise; a root key file that exists likewise.
fn check_files(c: &Config) -> Result<(), Error> {
    if let Some(tls) = &c.tls {
        check_readable(&tls.cert)?;
        check_private(&tls.key)?;
        check_readable(&tls.key)?;
    }
    match &c.root_key {
        RootKeyProvider::PassphraseFile(p) => {
            check_private(p)?;
            check_readable(p)?;
        }
        RootKeyProvider::KeyFile(Some(p)) if p.exists() => {
            check_private(p)?;
            check_readable(p)?;
        }
        _ => {}
    }
    Ok(())
}

/// What `cofferd` checks of the files a configuration names before it starts (and
/// `--check-config` reports), beyond [`validate_config`]: the TLS certificate chain and private
/// key parse and belong together (the key's parse error is not echoed: it could quote key
/// material), and a root key file still to be created (at first start) has an existing
/// directory to be created in — the data dir, which the first start creates, excepted.
pub fn check_start_files(config: &Config) -> Result<(), Error> {
    if let Some(files) = &config.tls {
        crate::tls::acceptor(files)?;
    }
    let RootKeyProvider::KeyFile(file) = &config.root_key else {
        return Ok(());
    };
    let path = file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("root.key"));
    if path.exists() {
        return Ok(());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if file.is_none() && dir == config.data_dir && !dir.exists() {
        return Ok(());
    }
    check_key_dir(dir)
}

/// `path` is a regular file this process can open for reading.
fn check_readable(path: &Path) -> Result<(), Error> {
    let meta = std::fs::metadata(path).map_err(Error::io(path))?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.to_owned(),
        });
    }
    std::fs::File::open(path).map_err(Error::io(path))?;
    Ok(())
}

/// `dir`, where a root key file is to be created, is an existing directory.
fn check_key_dir(dir: &Path) -> Result<(), Error> {
    let problem = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "is not a directory",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist",
        Err(source) => return Err(Error::io(dir)(source)),
    };
    Err(Error::RootKeyDir {
        path: dir.to_owned(),
        problem,
    })
}

fn check_principal(index: usize, p: &PrincipalSettings) -> Result<(), String> {
    let at = format!("principals[{index}]");
    coffer::Caller::new(&p.arn)
        .map_err(|_| format!("{at}.arn: not a principal ARN: {:?}", p.arn))?;
    for (j, text) in p.policies.iter().enumerate() {
        coffer::Policy::parse_identity_policy(text)
            .map_err(|e| format!("{at} ({}): identity policy {j} is invalid: {e}", p.arn))?;
    }
    for (k, v) in &p.tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(format!(
                "{at}.tags: key {k:?}: keys are 1 to 128 characters, values at most 256"
            ));
        }
    }
    Ok(())
}

fn check_principals(principals: &[PrincipalSettings]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for (i, p) in principals.iter().enumerate() {
        check_principal(i, p)?;
        if !seen.insert(p.arn.as_str()) {
            return Err(format!(
                "principals[{i}].arn: {:?} appears twice; give each principal one entry",
                p.arn
            ));
        }
    }
    Ok(())
}

/// Resolves the quota configuration as the service will (every rate, burst and account id).
fn check_quotas(q: &coffer::QuotaConfig) -> Result<(), String> {
    coffer::Kms::builder()
        .quotas(q.clone())
        .build()
        .map(drop)
        .map_err(|e| {
            // "ValidationException: invalid quota configuration: quota configuration: X" -> X
            let m = e.to_string();
            m.rsplit_once("quota configuration: ")
                .map_or(m.clone(), |(_, rest)| rest.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let model: FileModel = toml::from_str(text).map_err(|e| e.to_string())?;
        let c = to_config(model, Path::new("/etc/cofferd"), None).map_err(|p| match p {
            Problem::Value(m) => m,
            Problem::Fs(e) => e.to_string(),
        })?;
        check_values(&c)?;
        Ok(c)
    }

    #[test]
    fn minimal_file_gives_the_defaults() {
        let c = parse("data_dir = \"data\"").unwrap();
        let d = Config::new("/etc/cofferd/data");
        assert_eq!(c.data_dir, d.data_dir);
        assert_eq!(c.region, d.region);
        assert_eq!(c.listen, d.listen);
        assert_eq!(c.root_key, d.root_key);
        assert_eq!(c.audit, d.audit);
        assert_eq!(c.quotas, d.quotas);
        assert_eq!(c.max_connections, d.max_connections);
        assert_eq!(c.log_filter, d.log_filter);
    }

    #[test]
    fn data_dir_is_required() {
        let e = parse("region = \"eu-west-1\"").unwrap_err();
        assert!(e.starts_with("data_dir:"), "{e}");
    }

    #[test]
    fn values_are_checked_naming_the_key() {
        let cases = [
            ("region = \"EU_WEST\"", "region"),
            ("account_id = \"12345\"", "account_id"),
            ("listen = \"localhost:4000\"", "listen"),
            ("listen = \"0.0.0.0:4000\"", "listen"),
            ("[limits]\nmax_body_bytes = 0", "limits.max_body_bytes"),
            (
                "[limits]\nidle_timeout_secs = 0",
                "limits.idle_timeout_secs",
            ),
            ("[limits.per_ip]\nrate = 0.0", "limits.per_ip"),
            (
                "[limits]\nrefusal_summary_secs = 0",
                "limits.refusal_summary_secs",
            ),
            (
                "[limits.per_access_key]\nburst = 0.5",
                "limits.per_access_key",
            ),
            ("[audit]\nflush_interval_ms = 10", "audit.flush_interval_ms"),
            (
                "[audit]\ndurability = \"periodic\"\nflush_interval_ms = 0",
                "audit.flush",
            ),
            ("[audit]\nmax_file_bytes = 10", "audit.max_file_bytes"),
            (
                "[audit]\nmax_file_bytes = 8192\nmax_total_bytes = 4096",
                "audit.max_total_bytes",
            ),
            (
                "[maintenance]\ninterval_secs = 0",
                "maintenance.interval_secs",
            ),
            ("[log]\nlevel = \"cofferd=loud\"", "log.level"),
            ("[quotas.defaults.CreateKey]\nrate = -1.0", "quotas"),
            ("[quotas.accounts.\"12\".CreateKey]\nrate = 1.0", "quotas"),
            ("[[principals]]\narn = \"alice\"", "principals[0].arn"),
            (
                "[[principals]]\narn = \"arn:aws:iam::111122223333:user/a\"\npolicies = [\"{\"]",
                "principals[0]",
            ),
            (
                "[[principals]]\narn = \"arn:aws:iam::111122223333:user/a\"\n\
                 [[principals]]\narn = \"arn:aws:iam::111122223333:user/a\"",
                "principals[1].arn",
            ),
            (
                "[root_key]\nprovider = \"passphrase-env\"\nvariable = \"\"",
                "root_key.variable",
            ),
        ];
        for (body, key) in cases {
            let e = parse(&format!("data_dir = \"/d\"\n{body}")).unwrap_err();
            assert!(e.starts_with(key), "{body:?}: {e}");
        }
    }

    #[test]
    fn syntax_and_shape_errors_come_from_toml_with_position() {
        for body in [
            "[limits]\nmax_bodybytes = 1",
            "[root_key]\nprovider = \"hsm\"",
            "[root_key]\nprovider = \"key-file\"\nvariable = \"X\"",
            "[audit]\ndurability = \"never\"",
            "[log]\nformat = \"xml\"",
            "[quotas]\nenable = true",
            "listen = 4000",
        ] {
            let e = parse(&format!("data_dir = \"/d\"\n{body}")).unwrap_err();
            assert!(
                e.contains("line 2") || e.contains("line 3"),
                "{body:?}: {e}"
            );
        }
    }

    #[test]
    fn audit_retention_maps_and_defaults_to_unlimited() {
        let c = parse("data_dir = \"/d\"").unwrap();
        assert_eq!(c.audit.max_total_bytes, None);
        let c = parse("data_dir = \"/d\"\n[audit]\nmax_total_bytes = 1073741824").unwrap();
        assert_eq!(c.audit.max_total_bytes, Some(1 << 30));
    }

    #[test]
    fn durability_modes_map() {
        use coffer::audit_log::Durability;
        let c = parse("data_dir = \"/d\"\n[audit]\ndurability = \"buffered\"").unwrap();
        assert_eq!(
            c.audit.durability,
            Durability::Buffered(DEFAULT_FLUSH_INTERVAL)
        );
        let c =
            parse("data_dir = \"/d\"\n[audit]\ndurability = \"periodic\"\nflush_interval_ms = 7")
                .unwrap();
        assert_eq!(
            c.audit.durability,
            Durability::Periodic(Duration::from_millis(7))
        );
    }

    #[test]
    fn a_rate_table_may_set_one_of_its_two_values() {
        let c = parse("data_dir = \"/d\"\n[limits.per_ip]\nrate = 5.5").unwrap();
        assert_eq!(c.ip_limit.rate, 5.5);
        assert_eq!(c.ip_limit.burst, Config::new("/d").ip_limit.burst);
    }

    #[test]
    fn the_refusal_summary_interval_is_set_in_seconds() {
        let c = parse("data_dir = \"/d\"").unwrap();
        assert_eq!(c.refusal_summary_interval, Duration::from_secs(60));
        let c = parse("data_dir = \"/d\"\n[limits]\nrefusal_summary_secs = 300").unwrap();
        assert_eq!(c.refusal_summary_interval, Duration::from_secs(300));
    }

    #[test]
    fn validate_config_accepts_the_defaults_and_names_the_flag() {
        validate_config(&Config::new("/d")).unwrap();
        let mut c = Config::new("/d");
        c.listen = "0.0.0.0:4000".parse().unwrap();
        let e = validate_config(&c).unwrap_err().to_string();
        assert!(e.contains("--tls-cert"), "{e}");
        let mut c = Config::new("/d");
        c.principals.push(PrincipalSettings::default());
        assert!(matches!(validate_config(&c), Err(Error::Config(_))));
    }
}
