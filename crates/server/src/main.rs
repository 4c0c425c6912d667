//! `cofferd`: the coffer key management service over the AWS KMS JSON protocol.
//!
//! Wiring only: arguments (over an optional `--config FILE`), the runtime, the bound address on
//! stdout, exit codes (0 done, 1 the server failed, 2 bad arguments or configuration).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cofferd::{Config, LogFormat, RateLimit, RootKeyProvider, TlsFiles};

const USAGE: &str = "\
usage: cofferd --data-dir DIR [--listen 127.0.0.1:PORT] [options]
       cofferd --config FILE [options]
       cofferd --check-config [--config FILE] [options]
       cofferd credentials ...
       cofferd check --data-dir DIR [--json]     full integrity check of the database
       cofferd backup --data-dir DIR --to FILE   online backup (everything but the root key)
       cofferd restore --from FILE --data-dir NEW (--root-key FILE | --root-passphrase-file
                       FILE | --root-passphrase-env VAR)   restore into a new directory
       cofferd audit verify --data-dir DIR [--anchors DIR] [--public-key HEX|FILE]

Flags given beside --config override the file's values (docs/CONFIG.md).

  --config FILE               TOML configuration file (mode 0600: refused if its group or
                              others may read or write it); relative paths in it are
                              relative to its directory
  --check-config              validate the configuration, print it (without secrets), exit
                              0 if valid, 2 if not
  --data-dir DIR              credentials, keys and the audit log live here (required
                              unless the configuration file gives data_dir)
  --listen ADDR               address to listen on (default 127.0.0.1:0, an ephemeral port;
                              the bound address is printed on stdout); a non-loopback
                              address needs TLS
  --tls-cert FILE             TLS certificate chain (PEM), with --tls-key
  --tls-key FILE              TLS private key (PEM, mode 0600)
  --root-key FILE             the root-key file, created 0600 on first start (default
                              DIR/root.key; keep it outside DIR in production)
  --root-passphrase-file FILE derive the root key from the passphrase in FILE (mode 0600)
  --root-passphrase-env VAR   derive the root key from the passphrase in variable VAR
  --region REGION             region of ARNs and credential scopes (default us-east-1;
                              fixed for a data dir at its first start)
  --account-id ID             the administrator's 12-digit account at first start
                              (default: random)
  --max-skew-secs N           accepted X-Amz-Date skew (default 300)
  --max-body-bytes N          largest request body (default 65536)
  --max-connections N         connections served at once (default 1024)
  --max-connections-per-ip N  connections from one address (default 128)
  --header-timeout-secs N     time to send request headers (default 10)
  --body-timeout-secs N       time to send a request body (default 10)
  --idle-timeout-secs N       keep-alive idle time before closing (default 60)
  --drain-timeout-secs N      time for requests in flight at shutdown (default 30)
  --ip-rate R --ip-burst B    failure budget per source address: refused requests/s and
                              burst before its requests are refused unverified
                              (default 200 / 400); authenticated ones cost nothing
  --key-rate R --key-burst B  the same per access key id claimed from one address
                              (default 200 / 400)
  --refusal-summary-secs N    refused requests beyond the first per address and error are
                              audited in one summary per address every N s (default 60)
  --audit-durability MODE     sync (default), periodic:MS or buffered:MS
  --maintenance-secs N        deletion and rotation sweep interval (default 60)
  --log-format FORMAT         text (default) or json
  --log-level FILTER          tracing filter directive (default info)
  -h, --help                  this text
";

/// The flags that take a value, in the order `--help` lists them.
const VALUE_FLAGS: &[&str] = &[
    "--config",
    "--data-dir",
    "--listen",
    "--tls-cert",
    "--tls-key",
    "--root-key",
    "--root-passphrase-file",
    "--root-passphrase-env",
    "--region",
    "--account-id",
    "--max-skew-secs",
    "--max-body-bytes",
    "--max-connections",
    "--max-connections-per-ip",
    "--header-timeout-secs",
    "--body-timeout-secs",
    "--idle-timeout-secs",
    "--drain-timeout-secs",
    "--ip-rate",
    "--ip-burst",
    "--key-rate",
    "--key-burst",
    "--refusal-summary-secs",
    "--audit-durability",
    "--maintenance-secs",
    "--log-format",
    "--log-level",
];

/// What the command line asks for.
enum Command {
    Help,
    Serve(Config),
    Check(Config),
}

/// Why the command line cannot run: a usage error (the usage text follows) or an invalid
/// configuration.
enum ArgError {
    Usage(String),
    Config(String),
}

fn usage(msg: impl Into<String>) -> ArgError {
    ArgError::Usage(msg.into())
}

fn config_error(e: &cofferd::Error) -> ArgError {
    ArgError::Config(cofferd::error_chain(e))
}

fn parse_args(args: &[String]) -> Result<Command, ArgError> {
    let mut flags: BTreeMap<&str, &str> = BTreeMap::new();
    let mut check = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--check-config" => check = true,
            f => {
                let Some(&name) = VALUE_FLAGS.iter().find(|&&n| n == f) else {
                    return Err(usage(format!("unknown option {f}")));
                };
                let value = it
                    .next()
                    .ok_or_else(|| usage(format!("{f} needs a value")))?;
                // Given twice, the last one wins (as before --config existed).
                flags.insert(name, value);
            }
        }
    }
    let mut cfg = match flags.get("--config") {
        Some(file) => {
            // A --data-dir flag stands in for a data_dir the file leaves out (and overrides one
            // it gives, below).
            let data_dir = flags.get("--data-dir").map(Path::new);
            cofferd::load_config_file_with(Path::new(file), data_dir)
                .map_err(|e| config_error(&e))?
        }
        None => {
            let dir = flags.get("--data-dir").ok_or_else(|| {
                usage("--data-dir is required (or a --config file that gives data_dir)")
            })?;
            Config::new(*dir)
        }
    };
    apply(&mut cfg, &flags)?;
    cofferd::validate_config(&cfg).map_err(|e| config_error(&e))?;
    cofferd::check_start_files(&cfg).map_err(|e| config_error(&e))?;
    Ok(if check {
        Command::Check(cfg)
    } else {
        Command::Serve(cfg)
    })
}

/// Applies the command-line flags over `cfg` (the defaults or the configuration file's values).
fn apply(cfg: &mut Config, flags: &BTreeMap<&str, &str>) -> Result<(), ArgError> {
    let whole = |flag: &str, v: &str| {
        v.parse::<u64>()
            .map_err(|_| usage(format!("{flag}: not a whole number: {v}")))
    };
    let positive = |flag: &str, v: &str| match whole(flag, v)? {
        0 => Err(usage(format!("{flag}: must be at least 1"))),
        n => Ok(n),
    };
    let secs = |flag: &str, v: &str| positive(flag, v).map(Duration::from_secs);
    let size = |flag: &str, v: &str| {
        usize::try_from(positive(flag, v)?).map_err(|_| usage(format!("{flag}: too large: {v}")))
    };
    let number = |flag: &str, v: &str| {
        v.parse::<f64>()
            .map_err(|_| usage(format!("{flag}: not a number: {v}")))
    };
    let root_flags = [
        "--root-key",
        "--root-passphrase-file",
        "--root-passphrase-env",
    ];
    if root_flags.iter().filter(|f| flags.contains_key(*f)).count() > 1 {
        return Err(usage(
            "give at most one of --root-key, --root-passphrase-file, --root-passphrase-env",
        ));
    }
    let (mut ip, mut key) = (cfg.ip_limit, cfg.key_limit);
    let (mut tls_cert, mut tls_key) = (None, None);
    for (&flag, &v) in flags {
        match flag {
            "--config" => {}
            "--data-dir" => cfg.data_dir = PathBuf::from(v),
            "--listen" => {
                cfg.listen = v
                    .parse::<SocketAddr>()
                    .map_err(|_| usage(format!("--listen: not an IP address and port: {v}")))?;
            }
            "--tls-cert" => tls_cert = Some(PathBuf::from(v)),
            "--tls-key" => tls_key = Some(PathBuf::from(v)),
            "--root-key" => cfg.root_key = RootKeyProvider::KeyFile(Some(PathBuf::from(v))),
            "--root-passphrase-file" => {
                cfg.root_key = RootKeyProvider::PassphraseFile(PathBuf::from(v));
            }
            "--root-passphrase-env" => cfg.root_key = RootKeyProvider::PassphraseEnv(v.to_owned()),
            "--region" => cfg.region = v.to_owned(),
            "--account-id" => {
                cfg.account_id = Some(
                    v.parse()
                        .map_err(|_| usage(format!("--account-id: not 12 digits: {v}")))?,
                );
            }
            "--max-skew-secs" => cfg.max_skew = secs(flag, v)?,
            "--max-body-bytes" => cfg.max_body_bytes = size(flag, v)?,
            "--max-connections" => cfg.max_connections = size(flag, v)?,
            "--max-connections-per-ip" => cfg.max_connections_per_ip = size(flag, v)?,
            "--header-timeout-secs" => cfg.header_timeout = secs(flag, v)?,
            "--body-timeout-secs" => cfg.body_timeout = secs(flag, v)?,
            "--idle-timeout-secs" => cfg.idle_timeout = secs(flag, v)?,
            "--drain-timeout-secs" => cfg.drain_timeout = secs(flag, v)?,
            "--ip-rate" => ip.rate = number(flag, v)?,
            "--ip-burst" => ip.burst = number(flag, v)?,
            "--key-rate" => key.rate = number(flag, v)?,
            "--key-burst" => key.burst = number(flag, v)?,
            "--refusal-summary-secs" => cfg.refusal_summary_interval = secs(flag, v)?,
            "--audit-durability" => {
                use coffer::audit_log::Durability;
                let (mode, ms) = match v.split_once(':') {
                    Some((mode, ms)) => (mode, Some(ms)),
                    None => (v, None),
                };
                let interval = || {
                    let ms = ms.ok_or_else(|| {
                        usage(format!(
                            "--audit-durability: {mode} needs :MS, e.g. {mode}:100"
                        ))
                    })?;
                    positive("--audit-durability", ms).map(Duration::from_millis)
                };
                cfg.audit.durability = match (mode, ms) {
                    ("sync", None) => Durability::Sync,
                    ("periodic", _) => Durability::Periodic(interval()?),
                    ("buffered", _) => Durability::Buffered(interval()?),
                    _ => {
                        return Err(usage(format!(
                            "--audit-durability: sync, periodic:MS or buffered:MS, not {v}"
                        )))
                    }
                };
            }
            "--maintenance-secs" => cfg.maintenance_interval = secs(flag, v)?,
            "--log-format" => {
                cfg.log_format = match v {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(usage(format!("--log-format: text or json, not {v}"))),
                };
            }
            "--log-level" => cfg.log_filter = v.to_owned(),
            other => return Err(usage(format!("unknown option {other}"))),
        }
    }
    cfg.ip_limit = RateLimit::new(ip.rate, ip.burst)
        .ok_or_else(|| usage("--ip-rate must be > 0 and --ip-burst >= 1"))?;
    cfg.key_limit = RateLimit::new(key.rate, key.burst)
        .ok_or_else(|| usage("--key-rate must be > 0 and --key-burst >= 1"))?;
    cfg.tls = match (tls_cert, tls_key, cfg.tls.take()) {
        (None, None, file) => file,
        (Some(cert), Some(key), _) => Some(TlsFiles { cert, key }),
        // One of the two beside a file's [tls]: replace that one.
        (Some(cert), None, Some(file)) => Some(TlsFiles {
            cert,
            key: file.key,
        }),
        (None, Some(key), Some(file)) => Some(TlsFiles {
            cert: file.cert,
            key,
        }),
        (Some(_), None, None) => return Err(usage("--tls-cert needs --tls-key")),
        (None, Some(_), None) => return Err(usage("--tls-key needs --tls-cert")),
    };
    Ok(())
}

/// The configuration as `--check-config` prints it: every setting, no secret (a passphrase
/// variable is named, never read into the output; policies are counted, not printed).
fn summary(c: &Config) -> String {
    use coffer::audit_log::Durability;
    let mut s = String::new();
    let p = |p: &Path| format!("{:?}", p.display().to_string());
    let _ = writeln!(s, "data_dir = {}", p(&c.data_dir));
    let _ = writeln!(s, "region = {:?}", c.region);
    match &c.account_id {
        Some(id) => {
            let _ = writeln!(s, "account_id = \"{id}\"");
        }
        None => {
            let _ = writeln!(s, "account_id = (random at first start)");
        }
    }
    let _ = writeln!(s, "listen = \"{}\"", c.listen);
    match &c.tls {
        Some(t) => {
            let _ = writeln!(s, "tls.cert = {}", p(&t.cert));
            let _ = writeln!(s, "tls.key = {}", p(&t.key));
        }
        None => {
            let _ = writeln!(s, "tls = (none: plain HTTP on loopback)");
        }
    }
    let _ = match &c.root_key {
        RootKeyProvider::KeyFile(file) => {
            let file = file.clone().unwrap_or_else(|| c.data_dir.join("root.key"));
            writeln!(s, "root_key = key-file {}", p(&file))
        }
        RootKeyProvider::PassphraseFile(file) => {
            writeln!(s, "root_key = passphrase-file {}", p(file))
        }
        RootKeyProvider::PassphraseEnv(var) => {
            let set = if std::env::var_os(var).is_some() {
                "set"
            } else {
                "NOT SET: the server will not start without it"
            };
            writeln!(s, "root_key = passphrase-env {var} ({set})")
        }
        _ => writeln!(s, "root_key = (other)"),
    };
    let _ = writeln!(s, "limits.max_body_bytes = {}", c.max_body_bytes);
    let _ = writeln!(s, "limits.max_skew_secs = {}", c.max_skew.as_secs());
    let _ = writeln!(s, "limits.max_connections = {}", c.max_connections);
    let _ = writeln!(
        s,
        "limits.max_connections_per_ip = {}",
        c.max_connections_per_ip
    );
    for (name, d) in [
        ("header_timeout_secs", c.header_timeout),
        ("body_timeout_secs", c.body_timeout),
        ("idle_timeout_secs", c.idle_timeout),
        ("drain_timeout_secs", c.drain_timeout),
    ] {
        let _ = writeln!(s, "limits.{name} = {}", d.as_secs());
    }
    for (name, l) in [("per_ip", c.ip_limit), ("per_access_key", c.key_limit)] {
        let _ = writeln!(
            s,
            "limits.{name} = {{ rate = {}, burst = {} }}",
            l.rate, l.burst
        );
    }
    let _ = writeln!(
        s,
        "limits.refusal_summary_secs = {}",
        c.refusal_summary_interval.as_secs()
    );
    let q = &c.quotas;
    let _ = writeln!(s, "quotas.enabled = {}", q.enabled);
    let _ = writeln!(s, "quotas.max_buckets = {}", q.max_buckets);
    let limit = |l: &coffer::LimitOverride| {
        let rate = l.rate.map_or("default".to_owned(), |r| r.to_string());
        let burst = l.burst.map_or("default".to_owned(), |b| b.to_string());
        format!("{{ rate = {rate}, burst = {burst} }}")
    };
    for (class, l) in &q.defaults {
        let _ = writeln!(s, "quotas.defaults.{class} = {}", limit(l));
    }
    for (account, classes) in &q.accounts {
        for (class, l) in classes {
            let _ = writeln!(s, "quotas.accounts.\"{account}\".{class} = {}", limit(l));
        }
    }
    let _ = match c.audit.durability {
        Durability::Sync => writeln!(s, "audit.durability = \"sync\""),
        Durability::Periodic(d) => writeln!(
            s,
            "audit.durability = \"periodic\"\naudit.flush_interval_ms = {}",
            d.as_millis()
        ),
        Durability::Buffered(d) => writeln!(
            s,
            "audit.durability = \"buffered\"\naudit.flush_interval_ms = {}",
            d.as_millis()
        ),
        _ => writeln!(s, "audit.durability = (other)"),
    };
    let _ = writeln!(s, "audit.fail_open = {}", c.audit.fail_open);
    let _ = writeln!(s, "audit.max_file_bytes = {}", c.audit.max_file_bytes);
    let _ = match c.audit.max_total_bytes {
        Some(b) => writeln!(s, "audit.max_total_bytes = {b}"),
        None => writeln!(s, "audit.max_total_bytes = (unlimited)"),
    };
    let _ = match &c.audit.anchor_dir {
        Some(d) => writeln!(s, "audit.anchor_dir = {:?}", d.display().to_string()),
        None => writeln!(s, "audit.anchor_dir = (none)"),
    };
    let _ = writeln!(
        s,
        "maintenance.interval_secs = {}",
        c.maintenance_interval.as_secs()
    );
    let format = match c.log_format {
        LogFormat::Json => "json",
        _ => "text",
    };
    let _ = writeln!(s, "log.format = \"{format}\"");
    let _ = writeln!(s, "log.level = {:?}", c.log_filter);
    for pr in &c.principals {
        let bytes: usize = pr.policies.iter().map(String::len).sum();
        let tags: Vec<String> = pr.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            s,
            "principal {:?}: identity policies: {} ({bytes} bytes), tags: [{}]",
            pr.arn,
            pr.policies.len(),
            tags.join(", ")
        );
    }
    s
}

/// The signals that stop the server (SIGTERM, SIGINT), registered when this is built: a
/// signal that arrives after that is kept until [`Self::wait`] sees it. Built before the
/// listening line is printed, so a signal sent as soon as the server says it is ready drains it
/// rather than killing it.
struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Registers the handlers (inside the runtime).
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Completes when one of the signals has arrived (since [`Self::install`]).
    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(cfg: Config) -> Result<(), cofferd::Error> {
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    // Before the data dir is opened, and so before the server says it is ready: a SIGTERM from
    // here on is kept, and once the server runs it drains and closes the audit log rather than
    // killing the process half-way through opening it.
    let signals = ShutdownSignals::install().map_err(cofferd::Error::Signals)?;
    let server = cofferd::Server::bind(cfg).await?;
    let addr = server.local_addr()?;
    // The first line on stdout is the bound address, for scripts and tests (port 0).
    let mut out = std::io::stdout();
    let _ = writeln!(out, "cofferd listening on {scheme}://{addr}");
    let _ = out.flush();
    server.run(signals.wait()).await
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut err = std::io::stderr();
    if args.first().map(String::as_str) == Some("audit") {
        // Offline (or read-only) verification of a data directory's audit log.
        let rest = args.get(1..).unwrap_or_default();
        return ExitCode::from(cofferd::audit_cli::run(
            rest,
            &mut std::io::stdout(),
            &mut err,
        ));
    }
    if args.first().map(String::as_str) == Some("credentials") {
        // Credential management: a client of a running cofferd.
        let rest = args.get(1..).unwrap_or_default();
        return match cofferd::admin_cli::run(rest, &mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                let _ = writeln!(err, "cofferd credentials: {msg}");
                ExitCode::from(2)
            }
        };
    }
    if args.first().map(String::as_str) == Some("check") {
        // A full integrity check of a data directory's database.
        let rest = args.get(1..).unwrap_or_default();
        return match cofferd::check_cli::run(rest, &mut std::io::stdout()) {
            Ok(cofferd::check_cli::Outcome::Clean) => ExitCode::SUCCESS,
            Ok(cofferd::check_cli::Outcome::Damaged) => ExitCode::FAILURE,
            Err(msg) => {
                let _ = writeln!(err, "cofferd check: {}", msg.trim_end());
                ExitCode::from(2)
            }
        };
    }
    if let Some(which @ ("backup" | "restore")) = args.first().map(String::as_str) {
        // Online backup of a data directory, or restore of one into a new directory.
        let rest = args.get(1..).unwrap_or_default();
        let run = if which == "backup" {
            cofferd::backup_cli::run_backup
        } else {
            cofferd::backup_cli::run_restore
        };
        return match run(rest, &mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                let _ = writeln!(err, "cofferd {which}: {}", msg.trim_end());
                ExitCode::from(2)
            }
        };
    }
    let cfg = match parse_args(&args) {
        Ok(Command::Help) => {
            let _ = write!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Check(cfg)) => {
            let mut out = std::io::stdout();
            let _ = write!(out, "configuration OK\n{}", summary(&cfg));
            let _ = out.flush();
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve(cfg)) => cfg,
        Err(ArgError::Usage(msg)) => {
            let _ = writeln!(err, "cofferd: {msg}");
            let _ = write!(err, "{USAGE}");
            return ExitCode::from(2);
        }
        Err(ArgError::Config(msg)) => {
            let _ = writeln!(err, "cofferd: {msg}");
            return ExitCode::from(2);
        }
    };
    // Logs (stderr) from here on: the start-up warnings of Server::bind included.
    if let Err(e) = cofferd::init_logging(cfg.log_format, &cfg.log_filter) {
        let _ = writeln!(err, "cofferd: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "cofferd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "cofferd: {}", cofferd::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
