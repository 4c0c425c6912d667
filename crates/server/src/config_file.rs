//! `--config FILE`: the TOML configuration file read onto [`Config`], and the checks of a
//! configuration: its values, and the files that hold secrets or say who may do what.
//!
//! The file maps onto [`Config`] by serde (every table `deny_unknown_fields`); relative paths
//! in it resolve against the file's directory; values are checked with messages that name the
//! key. `docs/CONFIG.md` documents every key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::PrincipalEntry;
use crate::{Config, Error, RateLimit, RootKeyProvider};

/// Refuses a file that its group or others may read or write: the configuration, credential
/// and passphrase files must be the owner's alone.
pub(crate) fn check_private(path: &Path) -> Result<(), Error> {
    // The one check (coffer-credentials), reported as cofferd's own error for its files.
    coffer_credentials::check_private(path).map_err(|e| match e {
        coffer_credentials::Error::Permissions { path, mode } => Error::Permissions { path, mode },
        other => other.into(),
    })
}

/// The smallest audit file size the audit log honours.
const MIN_AUDIT_FILE_BYTES: u64 = 4096;
/// The largest configuration file read (a guard against pointing `--config` at a device).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

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
    let mut config: Config = toml::from_str(text).map_err(|e| fail(toml_message(&e, text)))?;
    let file_names_data_dir = !config.data_dir.as_os_str().is_empty();
    resolve_paths(&mut config, base, file_names_data_dir);
    if !file_names_data_dir {
        let Some(dir) = data_dir else {
            return Err(fail(
                "data_dir: missing (the data directory is required, here or as --data-dir)"
                    .to_owned(),
            ));
        };
        config.data_dir = dir.to_owned();
    }
    config.read_policy_files()?;
    check_values(&config).map_err(|m| fail(m.to_owned()))?;
    check_principals(&config.principals).map_err(fail)?;
    check_quotas(&config.quotas).map_err(fail)?;
    check_files(&config)?;
    Ok(config)
}

/// A TOML error as one line: what is wrong (naming the key, for a value cofferd refuses), then
/// where (`line L, column C`).
fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim_end();
    let Some(span) = e.span() else {
        return message.to_owned();
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    format!("{message} (line {line}, column {column})")
}

/// Resolves the relative paths of a configuration read from a file against the file's
/// directory `base` (`data_dir` only if the file named it).
fn resolve_paths(c: &mut Config, base: &Path, data_dir: bool) {
    let resolve = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    if data_dir {
        resolve(&mut c.data_dir);
    }
    match &mut c.root_key {
        RootKeyProvider::KeyFile(Some(p)) | RootKeyProvider::PassphraseFile(p) => resolve(p),
        RootKeyProvider::Pkcs11(p) => {
            resolve(&mut p.module);
            if let Some(file) = &mut p.pin_file {
                resolve(file);
            }
        }
        _ => {}
    }
    for cluster in &mut c.hsm_clusters {
        resolve(&mut cluster.module);
        if let Some(anchor) = &mut cluster.trust_anchor {
            resolve(anchor);
        }
    }
    if let Some(tls) = &mut c.tls {
        resolve(&mut tls.cert);
        resolve(&mut tls.key);
    }
    if let Some(dir) = &mut c.audit.anchor_dir {
        resolve(dir);
    }
    if let Some(file) = &mut c.store.password_file {
        resolve(file);
    }
    for p in &mut c.principals {
        p.policy_files.iter_mut().for_each(resolve);
    }
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

pub(crate) fn read_text(path: &Path) -> Result<String, Error> {
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
    if let Some(url) = &c.store.url {
        let url = url.expose();
        let postgres = url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || (!url.contains("://") && url.contains('='));
        if !postgres {
            return Err(
                "store.url (--store-url): a postgres:// or postgresql:// URL, or a \
                        key=value connection string",
            );
        }
    } else if c.store.password_file.is_some() || c.store.password_env.is_some() {
        return Err(
            "store.password_file / store.password_env (--store-password-file, \
                    --store-password-env): only with store.url (--store-url)",
        );
    }
    if c.store.password_file.is_some() && c.store.password_env.is_some() {
        return Err("store.password_file and store.password_env: one or the other");
    }
    if c.store.max_connections == 0 || c.store.max_connections > 1000 {
        return Err("store.max_connections: 1 to 1000");
    }
    if !(200..=60_000).contains(&c.store.coherence_bound_ms) {
        return Err("store.coherence_bound_ms: 200 to 60000");
    }
    // A host name is checked once resolved (`check_start_files`, and again at bind).
    if let Some(ip) = c.listen.ip() {
        let addr = std::net::SocketAddr::new(ip, c.listen.port());
        crate::listen_addr::plain_http(&c.listen, &[addr], c.tls.is_some(), c.allow_plain_http)?;
    }
    if c.limits.max_body_bytes == 0 {
        return Err("limits.max_body_bytes (--max-body-bytes): must be at least 1");
    }
    if c.limits.max_connections == 0 {
        return Err("limits.max_connections (--max-connections): must be at least 1");
    }
    if c.limits.max_connections_per_ip == 0 {
        return Err("limits.max_connections_per_ip (--max-connections-per-ip): must be at least 1");
    }
    let durations = [
        (
            c.limits.max_skew,
            "limits.max_skew_secs (--max-skew-secs): must be at least 1",
        ),
        (
            c.limits.header_timeout,
            "limits.header_timeout_secs (--header-timeout-secs): must be at least 1",
        ),
        (
            c.limits.body_timeout,
            "limits.body_timeout_secs (--body-timeout-secs): must be at least 1",
        ),
        (
            c.limits.idle_timeout,
            "limits.idle_timeout_secs (--idle-timeout-secs): must be at least 1",
        ),
        (
            c.limits.drain_timeout,
            "limits.drain_timeout_secs (--drain-timeout-secs): must be at least 1",
        ),
        (
            c.maintenance.interval,
            "maintenance.interval_secs (--maintenance-secs): must be at least 1",
        ),
        (
            c.limits.refusal_summary_interval,
            "limits.refusal_summary_secs (--refusal-summary-secs): must be at least 1",
        ),
    ];
    if let Some((_, message)) = durations.iter().find(|(d, _)| d.is_zero()) {
        return Err(message);
    }
    if RateLimit::new(c.limits.per_ip.rate, c.limits.per_ip.burst).is_none() {
        return Err("limits.per_ip (--ip-rate, --ip-burst): rate above 0, burst at least 1");
    }
    if RateLimit::new(c.limits.per_access_key.rate, c.limits.per_access_key.burst).is_none() {
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
    if tracing_subscriber::EnvFilter::try_new(&c.log.level).is_err() {
        return Err("log.level (--log-level): not a tracing filter directive");
    }
    if let RootKeyProvider::PassphraseEnv(var) = &c.root_key {
        if var.is_empty() || var.contains(['=', '\0']) {
            return Err("root_key.variable (--root-passphrase-env): not a variable name");
        }
    }
    crate::hsm::check(c)
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
        RootKeyProvider::Pkcs11(p) => {
            if let Some(file) = &p.pin_file {
                check_private(file)?;
                check_readable(file)?;
            }
        }
        _ => {}
    }
    for cluster in &c.hsm_clusters {
        if let Some(anchor) = &cluster.trust_anchor {
            check_readable(anchor)?;
        }
    }
    Ok(())
}

/// What `cofferd` checks of the environment before it starts (and `--check-config` reports),
/// beyond [`validate_config`]: a host name in `listen` resolves, and to loopback addresses
/// only unless TLS or `allow_plain_http` ([`Error::Resolve`], [`Error::Config`]); the TLS
/// certificate chain and private
/// key parse and belong together (the key's parse error is not echoed: it could quote key
/// material), and a root key file still to be created (at first start) has an existing
/// directory to be created in — the data dir, which the first start creates, excepted.
pub fn check_start_files(config: &Config) -> Result<(), Error> {
    let addrs = resolve_listen(config)?;
    crate::listen_addr::plain_http(
        &config.listen,
        &addrs,
        config.tls.is_some(),
        config.allow_plain_http,
    )
    .map_err(Error::Config)?;
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

/// The addresses `listen` resolves to, now (blocking).
fn resolve_listen(config: &Config) -> Result<Vec<std::net::SocketAddr>, Error> {
    config
        .listen
        .resolve_blocking()
        .map_err(|source| Error::Resolve {
            addr: config.listen.to_string(),
            source,
        })
}

/// The warning to print for a valid configuration that serves plain HTTP off loopback (with
/// `allow_plain_http`), resolving a host name in `listen`; `None` if it does not (or the name
/// does not resolve, which [`check_start_files`] reports).
pub fn plain_http_warning(config: &Config) -> Option<String> {
    let addrs = resolve_listen(config).ok()?;
    crate::listen_addr::plain_http(
        &config.listen,
        &addrs,
        config.tls.is_some(),
        config.allow_plain_http,
    )
    .ok()
    .flatten()
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

fn check_principal(index: usize, p: &PrincipalEntry) -> Result<(), String> {
    let at = format!("principals[{index}]");
    // The credential store's rule at open: a root, user or role (not a role session).
    coffer_credentials::check_principal(&p.arn)
        .map_err(|_| format!("{at}.arn: not a principal ARN: {:?}", p.arn))?;
    for (j, text) in p.policies.iter().enumerate() {
        coffer::Policy::parse_identity_policy(text)
            .map_err(|e| format!("{at} ({}): identity policy {j} is invalid: {e}", p.arn))?;
    }
    for (k, v) in &p.tags {
        coffer_core::check_tag(k, v).map_err(|e| format!("{at}.tags: key {k:?}: {e}"))?;
    }
    Ok(())
}

fn check_principals(principals: &[PrincipalEntry]) -> Result<(), String> {
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

/// Resolves the quota configuration as the service will (every rate, burst and account id);
/// the message names the key.
fn check_quotas(q: &coffer::QuotaConfig) -> Result<(), String> {
    use coffer::QuotaError;
    let at = |class, account: Option<coffer::AccountId>| match account {
        Some(a) => format!("quotas.accounts.\"{a}\".{class}"),
        None => format!("quotas.defaults.{class}"),
    };
    q.validate().map_err(|e| match e {
        QuotaError::InvalidMaxBuckets => "quotas.max_buckets: must be at least 1".to_owned(),
        QuotaError::InvalidAccountId { account, .. } => {
            format!("quotas.accounts.{account:?}: not an account id (12 digits)")
        }
        QuotaError::InvalidRate {
            class,
            account,
            rate,
        } => format!(
            "{}.rate: must be a number from 0.000001 to 1000000000 (rate {rate})",
            at(class, account)
        ),
        QuotaError::InvalidBurst {
            class,
            account,
            burst,
        } => format!(
            "{}.burst: must be at least 1, and a full bucket at most a few years of the rate \
             (burst {burst})",
            at(class, account)
        ),
        other => format!("quotas: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::DEFAULT_FLUSH_INTERVAL;

    fn parse(text: &str) -> Result<Config, String> {
        let base = Path::new("/etc/cofferd");
        parse_config(text, &base.join("cofferd.toml"), base).map_err(|e| match e {
            Error::ConfigFile { message, .. } => message,
            other => other.to_string(),
        })
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
        assert_eq!(c.limits, d.limits);
        assert_eq!(c.log, d.log);
        assert_eq!(c.maintenance, d.maintenance);
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
            ("listen = \"localhost\"", "listen"),
            ("listen = \"0.0.0.0:4000\"", "listen"),
            ("listen = \"::1:4000\"", "listen"),
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
            // The credential store's own rules, so `cofferd check` and a start agree: a role
            // session holds no lasting key, and `aws:` tag keys are AWS's.
            (
                "[[principals]]\narn = \"arn:aws:sts::111122223333:assumed-role/r/s\"",
                "principals[0].arn",
            ),
            (
                "[[principals]]\narn = \"arn:aws:iam::111122223333:user/a\"\n\
                 [principals.tags]\n\"aws:team\" = \"x\"",
                "principals[0].tags",
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
        assert_eq!(c.limits.per_ip.rate, 5.5);
        assert_eq!(c.limits.per_ip.burst, Config::new("/d").limits.per_ip.burst);
    }

    #[test]
    fn the_refusal_summary_interval_is_set_in_seconds() {
        let c = parse("data_dir = \"/d\"").unwrap();
        assert_eq!(c.limits.refusal_summary_interval, Duration::from_secs(60));
        let c = parse("data_dir = \"/d\"\n[limits]\nrefusal_summary_secs = 300").unwrap();
        assert_eq!(c.limits.refusal_summary_interval, Duration::from_secs(300));
    }

    #[test]
    fn validate_config_accepts_the_defaults_and_names_the_flag() {
        validate_config(&Config::new("/d")).unwrap();
        let mut c = Config::new("/d");
        c.listen = "0.0.0.0:4000".parse().unwrap();
        let e = validate_config(&c).unwrap_err().to_string();
        assert!(e.contains("--tls-cert"), "{e}");
        assert!(e.contains("--allow-plain-http"), "{e}");
        assert_eq!(plain_http_warning(&c), None);
        // The explicit opt-in: valid, with a warning.
        c.allow_plain_http = true;
        validate_config(&c).unwrap();
        check_start_files(&c).unwrap();
        let w = plain_http_warning(&c).unwrap();
        assert!(
            w.contains("0.0.0.0:4000") && w.contains("unencrypted"),
            "{w}"
        );
        // On loopback the opt-in changes nothing and warns of nothing.
        c.listen = "localhost:4000".parse().unwrap();
        check_start_files(&c).unwrap();
        assert_eq!(plain_http_warning(&c), None);
        let mut c = Config::new("/d");
        c.principals.push(PrincipalEntry::default());
        assert!(matches!(validate_config(&c), Err(Error::Config(_))));
    }
}
