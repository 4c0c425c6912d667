//! `cofferd`: the coffer key management service over the AWS KMS JSON protocol.
//!
//! Wiring only: arguments, the runtime, the bound address on stdout, exit codes.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cofferd::{Config, RateLimit};

const USAGE: &str = "\
usage: cofferd --data-dir DIR [--listen 127.0.0.1:PORT] [options]

  --data-dir DIR              credentials (and keys, with the SQLite store) live here
  --listen ADDR               loopback address to listen on (default 127.0.0.1:0, an
                              ephemeral port; the bound address is printed on stdout)
  --root-key FILE             the root-key file, created 0600 on first start (default
                              DIR/root.key; keep it outside DIR in production)
  --region REGION             region of ARNs and credential scopes (default us-east-1;
                              fixed for a data dir at its first start)
  --account-id ID             the administrator's 12-digit account at first start
                              (default: random)
  --max-skew-secs N           accepted X-Amz-Date skew (default 300)
  --max-body-bytes N          largest request body (default 65536)
  --ip-rate R --ip-burst B    pre-authentication requests/s and burst per source IP
                              (default 200 / 400)
  --key-rate R --key-burst B  the same per access key id (default 200 / 400)
  --maintenance-secs N        deletion and rotation sweep interval (default 60)
";

fn parse_args(args: &[String]) -> Result<Config, String> {
    let mut data_dir: Option<PathBuf> = None;
    let mut cfg = Config::new("");
    let (mut ip_rate, mut ip_burst) = (cfg.ip_limit.rate, cfg.ip_limit.burst);
    let (mut key_rate, mut key_burst) = (cfg.key_limit.rate, cfg.key_limit.burst);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        let int = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a whole number: {v}"))
        };
        match flag.as_str() {
            "--data-dir" => data_dir = Some(PathBuf::from(value)),
            "--listen" => {
                cfg.listen = value
                    .parse::<SocketAddr>()
                    .map_err(|_| format!("--listen: not an address: {value}"))?;
            }
            "--region" => cfg.region = value.clone(),
            "--root-key" => {
                cfg.root_key = cofferd::RootKeyProvider::KeyFile(Some(PathBuf::from(value)));
            }
            "--account-id" => {
                cfg.account_id = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--account-id: not 12 digits: {value}"))?,
                );
            }
            "--max-skew-secs" => cfg.max_skew = Duration::from_secs(int(value)?),
            "--max-body-bytes" => {
                cfg.max_body_bytes = usize::try_from(int(value)?)
                    .map_err(|_| "--max-body-bytes: too large".to_owned())?;
            }
            "--ip-rate" => ip_rate = num(value)?,
            "--ip-burst" => ip_burst = num(value)?,
            "--key-rate" => key_rate = num(value)?,
            "--key-burst" => key_burst = num(value)?,
            "--maintenance-secs" => cfg.maintenance_interval = Duration::from_secs(int(value)?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    cfg.data_dir = data_dir.ok_or("--data-dir is required")?;
    cfg.ip_limit =
        RateLimit::new(ip_rate, ip_burst).ok_or("--ip-rate must be > 0 and --ip-burst >= 1")?;
    cfg.key_limit =
        RateLimit::new(key_rate, key_burst).ok_or("--key-rate must be > 0 and --key-burst >= 1")?;
    Ok(cfg)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn serve(cfg: Config) -> Result<(), cofferd::Error> {
    let server = cofferd::Server::bind(cfg).await?;
    let addr = server.local_addr()?;
    // The first line on stdout is the bound address, for scripts and tests (port 0).
    let mut out = std::io::stdout();
    let _ = writeln!(out, "cofferd listening on http://{addr}");
    let _ = out.flush();
    server.run(shutdown_signal()).await
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut err = std::io::stderr();
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
    let cfg = match parse_args(&args) {
        Ok(c) => c,
        Err(msg) => {
            if !msg.is_empty() {
                let _ = writeln!(err, "cofferd: {msg}");
            }
            let _ = write!(err, "{USAGE}");
            return if msg.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
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
            let mut msg = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                msg.push_str(": ");
                msg.push_str(&c.to_string());
                cur = c.source();
            }
            let _ = writeln!(err, "cofferd: {msg}");
            ExitCode::FAILURE
        }
    }
}
