//! `cofferd`: the coffer key management service over the AWS KMS JSON protocol.
//!
//! Wiring only: arguments (over an optional `--config FILE`), the runtime, the bound address on
//! stdout, exit codes (0 done, 1 the server failed, 2 bad arguments or configuration).
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use coffer::audit_log::Durability;
use coffer::AccountId;
use cofferd::{Config, ListenAddr, LogFormat, RootKeyProvider, TlsFiles};

/// `cofferd`'s command line: an optional configuration file and flags over it. The
/// subcommands (`check`, `backup`, `restore`, `audit`) have their own.
#[derive(Debug, Parser)]
#[command(
    name = "cofferd",
    about = "cofferd: the coffer key management service over the AWS KMS JSON protocol.",
    override_usage = "\
cofferd --data-dir DIR [--listen 127.0.0.1:PORT] [options]
       cofferd --config FILE [options]
       cofferd --check-config [--config FILE] [options]
       cofferd check --data-dir DIR [--json]     full integrity check of the database
       cofferd backup --data-dir DIR --to FILE   online backup (everything but the root key)
       cofferd restore --from FILE --data-dir NEW (--root-key FILE | --root-passphrase-file
                       FILE | --root-passphrase-env VAR)   restore into a new directory
       cofferd audit verify --data-dir DIR [--anchors DIR] [--public-key HEX|FILE]
       cofferd healthcheck [--url URL] [--ca-file PEM]   exit 0 if /healthz says ok, else 1
Credentials are managed with `coffer credentials` (docs/CREDENTIALS.md).",
    after_help = "Flags given beside --config override the file's values, which override the \
                  defaults (docs/CONFIG.md). A flag given twice takes its last value. A root \
                  key in a PKCS#11 token ([root_key] provider = \"pkcs11\", its PIN from \
                  pin_file or pin_env) and [[hsm_clusters]] are set in the file only \
                  (docs/KEYSTORES.md).",
    disable_version_flag = true,
    args_override_self = true
)]
struct Cli {
    /// TOML configuration file (mode 0600: refused if its group or others may read or write
    /// it); relative paths in it are relative to its directory
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration, print it (without secrets), exit 0 if valid, 2 if not
    #[arg(long)]
    check_config: bool,
    /// Development mode, NOT for production: a temporary data directory (unless --data-dir),
    /// 127.0.0.1:4000, account 111122223333, the fixed public credential
    /// AKIACOFFERDEV0000000 / coffer-dev-mode-secret-not-for-production (signatures still
    /// verified), quotas and failure budgets off; flags still override
    #[arg(long)]
    dev: bool,
    /// Keys, aliases and grants to create at start, idempotently (TOML, or YAML when the name
    /// ends .yaml/.yml; see docs/SERVER.md),
    /// as the root of the administrator's account
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    #[command(flatten)]
    flags: Flags,
}

/// The flags that override the configuration file, each named after its key.
#[derive(Debug, clap::Args)]
struct Flags {
    /// Credentials, keys and the audit log live here (required unless the configuration file
    /// gives data_dir)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on: IP:PORT, [IPv6]:PORT or HOST:PORT, resolved at start (default
    /// 127.0.0.1:0, an ephemeral port; the bound address is printed on stdout); a non-loopback
    /// address needs TLS or --allow-plain-http
    #[arg(long, value_name = "ADDR")]
    listen: Option<ListenAddr>,
    /// Serve plain HTTP off loopback too, for a private container network (request bodies
    /// cross it unencrypted; a warning is logged at start)
    #[arg(long)]
    allow_plain_http: bool,
    /// TLS certificate chain (PEM), with --tls-key
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM, mode 0600)
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// The root-key file, created 0600 on first start (default DIR/root.key; keep it outside
    /// DIR in production)
    #[arg(long, value_name = "FILE", group = "root")]
    root_key: Option<PathBuf>,
    /// Derive the root key from the passphrase in FILE (mode 0600)
    #[arg(long, value_name = "FILE", group = "root")]
    root_passphrase_file: Option<PathBuf>,
    /// Derive the root key from the passphrase in variable VAR
    #[arg(long, value_name = "VAR", group = "root")]
    root_passphrase_env: Option<String>,
    /// Region of ARNs and credential scopes (default us-east-1; fixed for a data dir at its
    /// first start)
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// The administrator's 12-digit account at first start (default: random)
    #[arg(long, value_name = "ID", value_parser = account_id)]
    account_id: Option<AccountId>,
    /// Accepted X-Amz-Date skew (default 300)
    #[arg(long, value_name = "N", value_parser = secs)]
    max_skew_secs: Option<Duration>,
    /// Largest request body (default 65536)
    #[arg(long, value_name = "N", value_parser = count)]
    max_body_bytes: Option<usize>,
    /// Connections served at once (default 1024)
    #[arg(long, value_name = "N", value_parser = count)]
    max_connections: Option<usize>,
    /// Connections from one address (default 128)
    #[arg(long, value_name = "N", value_parser = count)]
    max_connections_per_ip: Option<usize>,
    /// Time to send request headers (default 10)
    #[arg(long, value_name = "N", value_parser = secs)]
    header_timeout_secs: Option<Duration>,
    /// Time to send a request body (default 10)
    #[arg(long, value_name = "N", value_parser = secs)]
    body_timeout_secs: Option<Duration>,
    /// Keep-alive idle time before closing (default 60)
    #[arg(long, value_name = "N", value_parser = secs)]
    idle_timeout_secs: Option<Duration>,
    /// Time for requests in flight at shutdown (default 30)
    #[arg(long, value_name = "N", value_parser = secs)]
    drain_timeout_secs: Option<Duration>,
    /// Failure budget per source address: refused requests/s before its requests are refused
    /// unverified (default 200); authenticated ones cost nothing
    #[arg(long, value_name = "R")]
    ip_rate: Option<f64>,
    /// Burst of the failure budget per source address (default 400)
    #[arg(long, value_name = "B")]
    ip_burst: Option<f64>,
    /// The same per access key id claimed from one address (default 200)
    #[arg(long, value_name = "R")]
    key_rate: Option<f64>,
    /// Its burst (default 400)
    #[arg(long, value_name = "B")]
    key_burst: Option<f64>,
    /// Refused requests beyond the first per address and error are audited in one summary per
    /// address every N s (default 60)
    #[arg(long, value_name = "N", value_parser = secs)]
    refusal_summary_secs: Option<Duration>,
    /// sync (default), periodic:MS or buffered:MS
    #[arg(long, value_name = "MODE", value_parser = durability)]
    audit_durability: Option<Durability>,
    /// Keys, aliases, grants and credentials in this PostgreSQL database, shared with the
    /// other nodes naming it (postgres://USER@HOST:PORT/DB?sslmode=require); --data-dir then
    /// holds this node's lock, id and audit log only. Give the password with
    /// --store-password-file or --store-password-env, not in the URL (command lines are
    /// visible to other users)
    #[arg(long, value_name = "URL")]
    store_url: Option<cofferd::StoreUrl>,
    /// The database password, from FILE (mode 0600)
    #[arg(long, value_name = "FILE", group = "store_password")]
    store_password_file: Option<PathBuf>,
    /// The database password, from variable VAR
    #[arg(long, value_name = "VAR", group = "store_password")]
    store_password_env: Option<String>,
    /// Deletion and rotation sweep interval (default 60)
    #[arg(long, value_name = "N", value_parser = secs)]
    maintenance_secs: Option<Duration>,
    /// text (default) or json
    #[arg(long, value_name = "FORMAT", value_parser = log_format)]
    log_format: Option<LogFormat>,
    /// Tracing filter directive (default info)
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// A peer region for multi-Region keys: REGION=URL,credentials=FILE[,ca=FILE] (repeatable;
    /// the secret stays in FILE)
    #[arg(long, value_name = "PEER", value_parser = cofferd::replication::parse_peer_flag)]
    peer: Vec<cofferd::replication::PeerConfig>,
}

fn whole(v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("not a whole number: {v}")),
    }
}

fn secs(v: &str) -> Result<Duration, String> {
    whole(v).map(Duration::from_secs)
}

fn count(v: &str) -> Result<usize, String> {
    usize::try_from(whole(v)?).map_err(|_| format!("too large: {v}"))
}

fn account_id(v: &str) -> Result<AccountId, String> {
    v.parse().map_err(|_| format!("not 12 digits: {v}"))
}

fn durability(v: &str) -> Result<Durability, String> {
    let ms = |mode: &str, ms: Option<&str>| {
        let ms = ms.ok_or_else(|| format!("{mode} needs :MS, e.g. {mode}:100"))?;
        whole(ms).map(Duration::from_millis)
    };
    match v.split_once(':').map_or((v, None), |(m, ms)| (m, Some(ms))) {
        ("sync", None) => Ok(Durability::Sync),
        ("periodic", interval) => ms("periodic", interval).map(Durability::Periodic),
        ("buffered", interval) => ms("buffered", interval).map(Durability::Buffered),
        _ => Err(format!("sync, periodic:MS or buffered:MS, not {v}")),
    }
}

fn log_format(v: &str) -> Result<LogFormat, String> {
    match v {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("text or json, not {v}")),
    }
}

/// `field` takes the flag's value, if the flag was given.
fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(v) = flag {
        *field = v;
    }
}

impl Flags {
    /// Applies the flags given over `c` (the defaults or the configuration file's values).
    fn apply(self, c: &mut Config) -> Result<(), &'static str> {
        set(&mut c.data_dir, self.data_dir);
        set(&mut c.listen, self.listen);
        c.allow_plain_http |= self.allow_plain_http;
        set(&mut c.region, self.region);
        set(&mut c.account_id, self.account_id.map(Some));
        let root = self
            .root_key
            .map(|f| RootKeyProvider::KeyFile(Some(f)))
            .or(self
                .root_passphrase_file
                .map(RootKeyProvider::PassphraseFile))
            .or(self.root_passphrase_env.map(RootKeyProvider::PassphraseEnv));
        set(&mut c.root_key, root);
        let l = &mut c.limits;
        set(&mut l.max_skew, self.max_skew_secs);
        set(&mut l.max_body_bytes, self.max_body_bytes);
        set(&mut l.max_connections, self.max_connections);
        set(&mut l.max_connections_per_ip, self.max_connections_per_ip);
        set(&mut l.header_timeout, self.header_timeout_secs);
        set(&mut l.body_timeout, self.body_timeout_secs);
        set(&mut l.idle_timeout, self.idle_timeout_secs);
        set(&mut l.drain_timeout, self.drain_timeout_secs);
        set(&mut l.per_ip.rate, self.ip_rate);
        set(&mut l.per_ip.burst, self.ip_burst);
        set(&mut l.per_access_key.rate, self.key_rate);
        set(&mut l.per_access_key.burst, self.key_burst);
        set(&mut l.refusal_summary_interval, self.refusal_summary_secs);
        set(&mut c.audit.durability, self.audit_durability);
        set(&mut c.maintenance.interval, self.maintenance_secs);
        set(&mut c.store.url, self.store_url.map(Some));
        if let Some(file) = self.store_password_file {
            c.store.password_file = Some(file);
            c.store.password_env = None;
        }
        if let Some(var) = self.store_password_env {
            c.store.password_env = Some(var);
            c.store.password_file = None;
        }
        set(&mut c.log.format, self.log_format);
        set(&mut c.log.level, self.log_level);
        c.peers.extend(self.peer);
        // One of the two beside a file's [tls] replaces that one.
        c.tls = match (self.tls_cert, self.tls_key, c.tls.take()) {
            (None, None, file) => file,
            (Some(cert), Some(key), _) => Some(TlsFiles { cert, key }),
            (Some(cert), None, Some(file)) => Some(TlsFiles { cert, ..file }),
            (None, Some(key), Some(file)) => Some(TlsFiles { key, ..file }),
            (Some(_), None, None) => return Err("--tls-cert needs --tls-key"),
            (None, Some(_), None) => return Err("--tls-key needs --tls-cert"),
        };
        Ok(())
    }
}

/// What the command line asks for.
enum Command {
    Help(String),
    Serve(Config, Dev),
    Check(Config),
}

/// Development mode: whether it is on, and the temporary data directory it made (removed at
/// exit).
#[derive(Default)]
struct Dev {
    on: bool,
    temp_dir: Option<PathBuf>,
    seed: Option<cofferd::seed::Seed>,
}

/// Why the command line cannot run: a usage error (a hint to `--help` follows) or an invalid
/// configuration.
enum ArgError {
    Usage(String),
    Config(String),
}

fn config_error(e: &cofferd::Error) -> ArgError {
    ArgError::Config(cofferd::error_chain(e))
}

fn parse_args(args: &[String]) -> Result<Command, ArgError> {
    use clap::error::{ContextKind, ErrorKind};
    let argv = std::iter::once("cofferd").chain(args.iter().map(String::as_str));
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) if e.kind() == ErrorKind::DisplayHelp => return Ok(Command::Help(e.to_string())),
        Err(e) if e.kind() == ErrorKind::UnknownArgument => {
            let arg = e.get(ContextKind::InvalidArg).map(ToString::to_string);
            return Err(ArgError::Usage(format!(
                "unknown option {}",
                arg.unwrap_or_default()
            )));
        }
        Err(e) => {
            let text = e.to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            return Err(ArgError::Usage(
                text.lines().next().unwrap_or_default().to_owned(),
            ));
        }
    };
    let mut cfg = match &cli.config {
        // A --data-dir flag stands in for a data_dir the file leaves out (and overrides one it
        // gives, below).
        Some(file) => cofferd::load_config_file_with(file, cli.flags.data_dir.as_deref())
            .map_err(|e| config_error(&e))?,
        None => match (cli.flags.data_dir.clone(), cli.dev) {
            (Some(dir), _) => Config::new(dir),
            (None, true) => Config::new(cofferd::dev::temp_data_dir()),
            (None, false) => {
                return Err(ArgError::Usage(
                    "--data-dir is required (or a --config file that gives data_dir, or --dev)"
                        .to_owned(),
                ))
            }
        },
    };
    let seed = cli
        .seed
        .as_deref()
        .map(cofferd::seed::load)
        .transpose()
        .map_err(|e| config_error(&e))?;
    let dev = Dev {
        on: cli.dev,
        seed,
        temp_dir: (cli.dev && cli.config.is_none() && cli.flags.data_dir.is_none())
            .then(|| cfg.data_dir.clone()),
    };
    if cli.dev {
        cofferd::dev::apply(&mut cfg);
    }
    cli.flags
        .apply(&mut cfg)
        .map_err(|m| ArgError::Usage(m.to_owned()))?;
    cofferd::validate_config(&cfg).map_err(|e| config_error(&e))?;
    cofferd::check_start_files(&cfg).map_err(|e| config_error(&e))?;
    Ok(if cli.check_config {
        Command::Check(cfg)
    } else {
        Command::Serve(cfg, dev)
    })
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

async fn serve(cfg: Config, seed: Option<cofferd::seed::Seed>) -> Result<(), cofferd::Error> {
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    // Before the data dir is opened, and so before the server says it is ready: a SIGTERM from
    // here on is kept, and once the server runs it drains and closes the audit log rather than
    // killing the process half-way through opening it.
    let signals = ShutdownSignals::install().map_err(cofferd::Error::Signals)?;
    // The effective configuration as `--check-config` prints it (nothing secret), one line.
    let summary = cfg.summary();
    tracing::info!(config = %summary.trim_end().replace('\n', "; "), "starting");
    let account = cfg.account_id;
    let server = cofferd::Server::bind(cfg).await?;
    if let Some(seed) = seed {
        // The administrator's account: the configured one, or the bootstrap one's.
        let account =
            account
                .or_else(|| server.administrator_account())
                .ok_or(cofferd::Error::Config(
                    "--seed needs the administrator's account (--account-id)",
                ))?;
        // The store may block (PostgreSQL's client): off the reactor.
        let report =
            tokio::task::block_in_place(|| cofferd::seed::apply(server.kms(), &account, &seed))?;
        tracing::info!(created = ?report.created, existing = ?report.existing, aliases = ?report.aliases, grants = report.grants, "seeded");
    }
    let addr = server.local_addr()?;
    // The first line on stdout is the bound address, for scripts and tests (port 0).
    let mut out = std::io::stdout();
    let _ = writeln!(out, "cofferd listening on {scheme}://{addr}");
    let _ = out.flush();
    server.run(signals.wait()).await
}

/// Runs a subcommand (`audit`, `check`, `backup`, `restore`: each parses its own arguments,
/// with clap), or `None` if `args` do not start with one. `credentials` moved to `coffer`.
fn subcommand(args: &[String]) -> Option<ExitCode> {
    let (which, rest) = args.split_first()?;
    let (out, mut err) = (&mut std::io::stdout(), std::io::stderr());
    let mut done = |result: Result<ExitCode, String>| match result {
        Ok(code) => code,
        Err(msg) => {
            let _ = writeln!(err, "cofferd {which}: {}", msg.trim_end());
            ExitCode::from(2)
        }
    };
    Some(match which.as_str() {
        // Offline (or read-only) verification of a data directory's audit log.
        "audit" => ExitCode::from(cofferd::audit_cli::run(rest, out, &mut std::io::stderr())),
        // Credential management moved to the `coffer` CLI (a client of a running cofferd).
        "credentials" => done(Err(
            "moved to `coffer credentials` (same subcommands; see docs/CREDENTIALS.md)".into(),
        )),
        // A full integrity check of a data directory's database.
        "check" => done(cofferd::check_cli::run(rest, out).map(|o| match o {
            cofferd::check_cli::Outcome::Clean => ExitCode::SUCCESS,
            cofferd::check_cli::Outcome::Damaged => ExitCode::FAILURE,
        })),
        // Online backup of a data directory, or restore of one into a new directory.
        "backup" => done(cofferd::backup_cli::run_backup(rest, out).map(|()| ExitCode::SUCCESS)),
        "restore" => done(cofferd::backup_cli::run_restore(rest, out).map(|()| ExitCode::SUCCESS)),
        // A container's health check: GET /healthz, exit 0 healthy, 1 not (2 bad arguments).
        "healthcheck" => ExitCode::from(cofferd::healthcheck_cli::run(
            rest,
            out,
            &mut std::io::stderr(),
        )),
        _ => return None,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = subcommand(&args) {
        return code;
    }
    let mut err = std::io::stderr();
    let (cfg, dev) = match parse_args(&args) {
        Ok(Command::Help(text)) => {
            let _ = write!(std::io::stdout(), "{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Check(cfg)) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "configuration OK");
            if let Some(warning) = cofferd::plain_http_warning(&cfg) {
                let _ = writeln!(out, "WARNING: {warning}");
            }
            let _ = write!(out, "{}", cfg.summary());
            let _ = out.flush();
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve(cfg, dev)) => (cfg, dev),
        Err(ArgError::Usage(msg)) => {
            let _ = writeln!(
                err,
                "cofferd: {msg}\nFor more information, try 'cofferd --help'."
            );
            return ExitCode::from(2);
        }
        Err(ArgError::Config(msg)) => {
            let _ = writeln!(err, "cofferd: {msg}");
            return ExitCode::from(2);
        }
    };
    // Logs (stderr) from here on: the start-up warnings of Server::bind included.
    if let Err(e) = cofferd::init_logging(cfg.log.format, &cfg.log.level) {
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
    if dev.on {
        let _ = write!(err, "{}", cofferd::dev::BANNER);
        // A data directory that does not exist yet starts with the fixed credential.
        if !cfg.data_dir.exists() {
            if let Err(e) = cofferd::dev::prepare(&cfg.data_dir) {
                let _ = writeln!(err, "cofferd: {}", cofferd::error_chain(&e));
                return ExitCode::FAILURE;
            }
        }
    }
    // Seed AWS-LC's DRBG, which refills the pools of public randomness (salts, nonces, event
    // ids), on a thread of its own: ~30 ms of CPU that no request should wait for. Until it is
    // seeded the pools refill from the kernel.
    coffer_crypto::warm_up_public_drbg_in_background();
    let outcome = runtime.block_on(serve(cfg, dev.seed));
    if let Some(dir) = dev.temp_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "cofferd: {}", cofferd::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
