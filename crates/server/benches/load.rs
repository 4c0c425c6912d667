//! Load generator for cofferd: N keep-alive HTTP/1.1 connections, one request in flight on
//! each (a closed loop), every request signed with SigV4, for a fixed time after a warm-up;
//! reports requests per second and the latency distribution from an HDR histogram, and the CPU
//! time the server and the generator used (they share the machine).
//!
//! By default it starts its own server: the `cofferd` binary of this build, as a separate
//! process, on a fresh data dir (audit log on, default durability), with the
//! pre-authentication limiters raised out of the way. It creates a key with `CreateKey` and
//! then runs the operation under test against it.
//!
//! ```text
//! cargo bench -p cofferd --bench load                       # Encrypt, 1 KiB, 8 connections, 10 s
//! cargo bench -p cofferd --bench load -- --connections 16 --duration 20 --op Decrypt
//! cargo bench -p cofferd --bench load -- --quota-rate 1000000 --matrix   # the issue-22 table
//! cargo bench -p cofferd --bench load -- --endpoint http://127.0.0.1:4000 \
//!     --access-key-id AKIA... --secret ... --region us-east-1
//! ```
//!
//! Options (after `--`, or as `COFFER_LOAD_<NAME>` environment variables, e.g.
//! `COFFER_LOAD_CONNECTIONS=4`; arguments win):
//!
//! - `--connections N` (8), `--duration SECS` (10), `--warmup SECS` (2), `--threads N` (1:
//!   the generator's tokio worker threads; 1 is a current-thread runtime, which leaves the
//!   most CPU to the server on a small machine)
//! - `--op Encrypt|Decrypt|GenerateDataKey` (Encrypt), `--payload BYTES` (1024: the
//!   plaintext of Encrypt and of the ciphertext Decrypt decrypts; GenerateDataKey asks for
//!   an AES_256 key)
//! - `--endpoint URL --access-key-id ID --secret SECRET --region REGION`: load a running
//!   server instead of starting one; `--server-pid PID` adds its CPU time to the report;
//!   `--key-id ID` uses an existing key instead of creating one
//! - `--matrix`: Encrypt, Decrypt and GenerateDataKey at 8 and 32 connections, one after the
//!   other against one server, then a table (the issue-22 targets: each ≥ 0.5 × the floor,
//!   p99 < 5 ms, ≤ 20 µs of server CPU per request)
//! - the **floor**: before the operations at each connection count, the same connections
//!   ask `GET /healthz` (the server's own HTTP stack: no signature, no operation, no audit
//!   record) for the same warm-up and duration; every operation is reported as a ratio to it,
//!   with p50/p99 and the server's CPU per request (utime + stime from `/proc/PID/stat`, so a
//!   spawned server or `--server-pid`). `--no-floor` skips it; `--op healthz` measures only it
//! - `--server-bin PATH`: spawn another `cofferd` binary (say, a copy built from an earlier
//!   commit) instead of this build's, for a before/after in one sitting
//! - `--server-arg ARG` (repeatable): one more argument for the spawned `cofferd`
//!   (e.g. `--server-arg --config --server-arg quotas.toml`)
//! - `--quota-rate R`: the spawned server's `SymmetricCryptographic` request quota per
//!   second (and burst), through a generated `--config` file; the default is AWS's 10,000/s,
//!   which caps Encrypt, Decrypt and GenerateDataKey near that rate (the excess comes back as
//!   `ThrottlingException`, counted apart)
//! - `--limits raised|default`: `raised` (the default) lifts the spawned server's
//!   pre-authentication failure budgets out of the way; `default` keeps cofferd's defaults,
//!   to show that correctly signed traffic from one address spends none of them
//! - `--data-dir-parent DIR`: where the spawned server's temporary data dir is created
//!   (default: the system temp dir; the audit log's fsync cost depends on this file system)
//!
//! `--bench` (which cargo passes) and a filter are accepted and ignored; `--help` lists the
//! rest (clap). The run exits with status 1 if any
//! response was neither 200 nor a throttle, or any connection failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)] // bench code

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use coffer::{RandomSource, SecretBytes, SystemRandom};
use hdrhistogram::Histogram;
use http::{HeaderMap, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const SIGNED_HEADERS: [&str; 4] = ["content-type", "host", "x-amz-date", "x-amz-target"];
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Histogram range: 1 µs to 60 s, 3 significant figures.
const HIST_MAX_US: u64 = 60_000_000;

// ---------------------------------------------------------------------------------------------
// Options

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `GET /healthz`: the floor, the server's own HTTP stack with nothing behind it (no
    /// signature, no operation, no audit record).
    Healthz,
    Encrypt,
    Decrypt,
    GenerateDataKey,
}

impl Op {
    fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "encrypt" => Ok(Self::Encrypt),
            "decrypt" => Ok(Self::Decrypt),
            "generatedatakey" | "gdk" => Ok(Self::GenerateDataKey),
            "healthz" => Ok(Self::Healthz),
            _ => Err(format!(
                "unknown operation {s} (Encrypt, Decrypt or GenerateDataKey)"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Healthz => "healthz",
            Self::Encrypt => "Encrypt",
            Self::Decrypt => "Decrypt",
            Self::GenerateDataKey => "GenerateDataKey",
        }
    }

    /// A field every successful response of the operation has.
    fn response_field(self) -> &'static str {
        match self {
            Self::Healthz => "ok",
            Self::Encrypt => "CiphertextBlob",
            Self::Decrypt => "Plaintext",
            Self::GenerateDataKey => "CiphertextBlob",
        }
    }
}

#[derive(Debug)]
struct Options {
    connections: usize,
    duration: Duration,
    warmup: Duration,
    threads: usize,
    op: Op,
    payload: usize,
    endpoint: Option<String>,
    access_key_id: Option<String>,
    secret: Option<String>,
    region: Option<String>,
    server_pid: Option<u32>,
    key_id: Option<String>,
    server_args: Vec<String>,
    data_dir_parent: Option<PathBuf>,
    /// Another `cofferd` binary to spawn (a build of an earlier commit, for before/after).
    server_bin: Option<PathBuf>,
    quota_rate: Option<f64>,
    /// Whether the spawned server's pre-authentication budgets are lifted.
    raise_limits: bool,
    /// Encrypt, Decrypt and GenerateDataKey at 8 and 32 connections.
    matrix: bool,
    /// Measure `GET /healthz` before the operation at each connection count.
    floor: bool,
}

/// The load generator's command line (see the module documentation). Each option may also
/// come from a `COFFER_LOAD_<NAME>` environment variable; arguments win.
#[derive(Debug, clap::Parser)]
#[command(
    name = "load",
    about = "Signed KMS load against cofferd, beside its /healthz floor",
    args_override_self = true
)]
struct Cli {
    /// Keep-alive connections, one request in flight each.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Seconds measured per phase.
    #[arg(long, default_value = "10", value_parser = secs)]
    duration: Duration,
    /// Seconds of warm-up before each phase.
    #[arg(long, default_value = "2", value_parser = secs)]
    warmup: Duration,
    /// The generator's tokio worker threads (1: a current-thread runtime).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    threads: u32,
    /// Encrypt, Decrypt, GenerateDataKey (or healthz: the floor alone).
    #[arg(long, default_value = "Encrypt", value_parser = Op::parse)]
    op: Op,
    /// Plaintext bytes of Encrypt and of the ciphertext Decrypt decrypts.
    #[arg(long, default_value_t = 1024)]
    payload: usize,
    /// Load a running server instead of spawning one.
    #[arg(long, requires_all = ["access_key_id", "secret", "region"])]
    endpoint: Option<String>,
    /// The running server's access key id (with --endpoint).
    #[arg(long)]
    access_key_id: Option<String>,
    /// Its secret access key (with --endpoint).
    #[arg(long)]
    secret: Option<String>,
    /// Its region (with --endpoint).
    #[arg(long)]
    region: Option<String>,
    /// The running server's pid, for its CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// An existing key instead of a new one.
    #[arg(long)]
    key_id: Option<String>,
    /// One more argument for the spawned cofferd (repeatable).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Where the spawned server's temporary data dir is created.
    #[arg(long)]
    data_dir_parent: Option<PathBuf>,
    /// Another cofferd binary to spawn (a build of an earlier commit, for before/after).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The spawned server's SymmetricCryptographic quota per second (and burst).
    #[arg(long, value_parser = quota_rate)]
    quota_rate: Option<f64>,
    /// raised: lift the spawned server's pre-authentication budgets; default: keep them.
    #[arg(long, default_value = "raised", value_parser = ["raised", "default"])]
    limits: String,
    /// Encrypt, Decrypt and GenerateDataKey at 8 and 32 connections, then a table.
    #[arg(long)]
    matrix: bool,
    /// Skip the GET /healthz floor.
    #[arg(long)]
    no_floor: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    /// A benchmark filter `cargo bench` may pass through; nothing to filter here.
    #[arg(hide = true)]
    filter: Vec<String>,
}

/// The options that take a value, in the order their environment variables are read.
const VALUED: [&str; 17] = [
    "connections",
    "duration",
    "warmup",
    "threads",
    "op",
    "payload",
    "endpoint",
    "access-key-id",
    "secret",
    "region",
    "server-pid",
    "key-id",
    "server-arg",
    "data-dir-parent",
    "server-bin",
    "quota-rate",
    "limits",
];

fn secs(v: &str) -> Result<Duration, String> {
    let s: f64 = v.parse().map_err(|_| format!("not a number: {v}"))?;
    if !(0.0..=86_400.0).contains(&s) {
        return Err(format!("out of range: {v}"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn quota_rate(v: &str) -> Result<f64, String> {
    let r: f64 = v.parse().map_err(|_| format!("not a number: {v}"))?;
    if !(1.0..=1e9).contains(&r) {
        return Err(format!("out of range: {v}"));
    }
    Ok(r)
}

impl Options {
    /// The environment's `COFFER_LOAD_*` options first, then the arguments (which win).
    fn from_env_and_args() -> Result<Self, clap::Error> {
        let mut argv: Vec<std::ffi::OsString> = std::env::args_os().take(1).collect();
        for name in VALUED {
            let var = format!(
                "COFFER_LOAD_{}",
                name.replace('-', "_").to_ascii_uppercase()
            );
            if let Some(v) = std::env::var_os(&var) {
                let mut arg = std::ffi::OsString::from(format!("--{name}="));
                arg.push(v);
                argv.push(arg);
            }
        }
        argv.extend(std::env::args_os().skip(1));
        let cli = <Cli as clap::Parser>::try_parse_from(argv)?;
        if cli.duration.is_zero() {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                "--duration must be positive\n",
            ));
        }
        Ok(Self {
            connections: cli.connections as usize,
            duration: cli.duration,
            warmup: cli.warmup,
            threads: cli.threads as usize,
            op: cli.op,
            payload: cli.payload,
            endpoint: cli.endpoint,
            access_key_id: cli.access_key_id,
            secret: cli.secret,
            region: cli.region,
            server_pid: cli.server_pid,
            key_id: cli.key_id,
            server_args: cli.server_args,
            data_dir_parent: cli.data_dir_parent,
            server_bin: cli.server_bin,
            quota_rate: cli.quota_rate,
            raise_limits: cli.limits == "raised",
            matrix: cli.matrix,
            floor: !cli.no_floor,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The spawned server

/// The `cofferd` process; killed (and its data dir removed) on drop, panics included.
struct ServerProcess {
    child: Child,
    data_dir: PathBuf,
    stderr_path: PathBuf,
    addr: String,
}

impl ServerProcess {
    fn spawn(opts: &Options) -> Result<Self, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let parent = opts
            .data_dir_parent
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let root = parent.join(format!("cofferd-load-{}-{nanos}", std::process::id()));
        let data_dir = root.join("data");
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let stderr_path = root.join("cofferd.stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| format!("cannot create {}: {e}", stderr_path.display()))?;
        let mut config_args = Vec::new();
        if let Some(rate) = opts.quota_rate {
            // The configuration file gives the data dir; flags override the rest.
            let path = root.join("cofferd.toml");
            let dir = data_dir
                .to_str()
                .ok_or("the data dir's path is not UTF-8")?
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            let text = format!(
                "data_dir = \"{dir}\"\n\n[quotas.defaults.SymmetricCryptographic]\n\
                 rate = {rate:.1}\nburst = {}\n",
                rate.ceil() as u64
            );
            write_private(&path, &text)?;
            config_args.push("--config".into());
            config_args.push(path.into_os_string());
        }
        let bin = opts
            .server_bin
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cofferd")));
        let bin = bin.display().to_string();
        let raised: &[&str] = if opts.raise_limits {
            &[
                "--ip-rate",
                "1000000",
                "--ip-burst",
                "1000000",
                "--key-rate",
                "1000000",
                "--key-burst",
                "1000000",
            ]
        } else {
            &[]
        };
        let mut child = Command::new(&bin)
            .args(&config_args)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(raised)
            .args(&opts.server_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        // From here on the guard kills the child on every exit path.
        let mut server = Self {
            child,
            data_dir: root,
            stderr_path,
            addr: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading cofferd's stdout: {e}"))?;
        let addr = line
            .trim()
            .strip_prefix("cofferd listening on http://")
            .ok_or_else(|| {
                format!(
                    "cofferd did not start (first line {line:?}); its stderr:\n{}",
                    server.stderr_tail()
                )
            })?;
        server.addr = addr.to_owned();
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn admin_credentials(&self) -> Result<(String, String, String), String> {
        let path = self
            .data_dir
            .join("data")
            .join(cofferd::ADMIN_CREDENTIALS_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let field = |name: &str| {
            v.get(name)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("{}: no {name}", path.display()))
        };
        Ok((
            field("access_key_id")?,
            field("secret_access_key")?,
            field("region")?,
        ))
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn audit_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(p) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path)
                    } else if path.to_string_lossy().contains("audit") {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    } else {
                        0
                    }
                })
                .sum()
        }
        walk(&self.data_dir.join("data"))
    }

    /// SIGTERM (graceful: the final audit digest), then SIGKILL after 5 s.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Writes a file only its owner may read (cofferd refuses configuration files others can read).
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc

/// utime + stime of a process, in seconds.
fn process_cpu_secs(pid: u32, tick: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / tick)
}

/// (busy, total) jiffies over all CPUs, from /proc/stat.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total.saturating_sub(idle), total))
}

fn clock_tick() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[derive(Clone, Copy, Debug, Default)]
struct CpuSnapshot {
    server: Option<f64>,
    generator: Option<f64>,
    machine: Option<(u64, u64)>,
}

fn cpu_snapshot(server_pid: Option<u32>, tick: f64) -> CpuSnapshot {
    CpuSnapshot {
        server: server_pid.and_then(|p| process_cpu_secs(p, tick)),
        generator: process_cpu_secs(std::process::id(), tick),
        machine: machine_jiffies(),
    }
}

// ---------------------------------------------------------------------------------------------
// SigV4

use coffer_crypto::hex::encode as hex;

/// Signs requests with one credential; the signing key is derived once per day, as SDKs do.
struct Signer {
    access_key_id: String,
    secret: SecretBytes,
    region: String,
    key: Option<(String, SecretBytes)>,
}

impl Signer {
    fn new(access_key_id: &str, secret: &str, region: &str) -> Self {
        Self {
            access_key_id: access_key_id.to_owned(),
            secret: SecretBytes::copy_from(secret.as_bytes()),
            region: region.to_owned(),
            key: None,
        }
    }

    /// The `Authorization` value for a `POST /` with `headers` (holding every signed header)
    /// and `body`, signed at `amz_date`.
    fn sign(&mut self, headers: &HeaderMap, body: &[u8], amz_date: &str) -> String {
        let day = amz_date.get(..8).unwrap_or_default();
        if self.key.as_ref().is_none_or(|(d, _)| d != day) {
            let key = cofferd::signing_key(&self.secret, day, &self.region, cofferd::SERVICE);
            self.key = Some((day.to_owned(), key));
        }
        let key = &self.key.as_ref().unwrap().1;
        let scope = format!("{day}/{}/{}/aws4_request", self.region, cofferd::SERVICE);
        let req = cofferd::RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers,
        };
        let creq = cofferd::canonical_request(&req, &SIGNED_HEADERS, &cofferd::payload_hash(body));
        let sts = cofferd::string_to_sign(amz_date, &scope, &creq);
        format!(
            "{} Credential={}/{scope}, SignedHeaders={}, Signature={}",
            cofferd::ALGORITHM,
            self.access_key_id,
            SIGNED_HEADERS.join(";"),
            hex(&cofferd::signature(key, &sts))
        )
    }

    /// The same request signed by [`cofferd::authorization`], to check [`Signer::sign`].
    fn reference(&self, headers: &HeaderMap, body: &[u8], amz_date: &str) -> String {
        let params = cofferd::SigningParams {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret,
            region: &self.region,
            service: cofferd::SERVICE,
            amz_date,
        };
        let req = cofferd::RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers,
        };
        cofferd::authorization(&params, &req, &SIGNED_HEADERS, body)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Builds signed requests for one connection: the headers stay, the date and signature change.
struct RequestBuilder {
    signer: Signer,
    host: String,
    headers: HeaderMap,
    date: (i64, String),
    out: Vec<u8>,
}

impl RequestBuilder {
    fn new(signer: Signer, host: &str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(host).unwrap());
        headers.insert(
            "content-type",
            HeaderValue::from_static(cofferd::CONTENT_TYPE),
        );
        Self {
            signer,
            host: host.to_owned(),
            headers,
            date: (i64::MIN, String::new()),
            out: Vec::with_capacity(4096),
        }
    }

    /// The bytes of a freshly signed request for `op` with `body`.
    fn build(&mut self, op: &str, body: &[u8]) -> &[u8] {
        use std::io::Write;
        let now = unix_now();
        if self.date.0 != now {
            self.date = (now, cofferd::amz_date(now));
        }
        let date = self.date.1.as_str();
        self.headers
            .insert("x-amz-date", HeaderValue::from_str(date).unwrap());
        let target = format!("{}{op}", cofferd::TARGET_PREFIX);
        self.headers
            .insert("x-amz-target", HeaderValue::from_str(&target).unwrap());
        let auth = self.signer.sign(&self.headers, body, date);
        self.out.clear();
        write!(
            self.out,
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nX-Amz-Date: {date}\r\n\
             X-Amz-Target: {target}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n",
            self.host,
            cofferd::CONTENT_TYPE,
            body.len()
        )
        .unwrap();
        self.out.extend_from_slice(body);
        &self.out
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one request at a time on a keep-alive connection; responses
// must carry Content-Length (hyper's server sets it for the full bodies cofferd sends).

struct Reply {
    status: u16,
    body: std::ops::Range<usize>,
    close: bool,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_owned())
}

/// Status, Content-Length and `Connection: close` of a response head.
fn parse_head(head: &[u8]) -> std::io::Result<(u16, usize, bool)> {
    let text = std::str::from_utf8(head).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP/1 response"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut length = None;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse().map_err(|_| bad("bad Content-Length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("chunked responses are not supported"));
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let length = length.ok_or_else(|| bad("response without Content-Length"))?;
    if length > MAX_BODY {
        return Err(bad("response body too large"));
    }
    Ok((status, length, close))
}

impl Conn {
    async fn connect(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(8192),
        })
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        self.buf.reserve(8192);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        Ok(())
    }

    async fn round_trip(&mut self, request: &[u8]) -> std::io::Result<Reply> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("response head too large"));
            }
            self.fill().await?;
        };
        let (status, length, close) = parse_head(&self.buf[..head_end])?;
        let start = head_end + 4;
        let end = start + length;
        while self.buf.len() < end {
            self.fill().await?;
        }
        if self.buf.len() > end {
            return Err(bad("bytes after the response (nothing was pipelined)"));
        }
        Ok(Reply {
            status,
            body: start..end,
            close,
        })
    }

    fn body(&self, reply: &Reply) -> &[u8] {
        &self.buf[reply.body.clone()]
    }
}

/// The `__type` of an error body (namespace prefix removed), or `"?"`.
fn error_type(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("__type").and_then(|t| t.as_str()).map(str::to_owned))
        .map(|t| t.rsplit('#').next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| "?".into())
}

/// One call outside the measurement (setup): the parsed JSON of a 200, or an error.
async fn call(
    conn: &mut Conn,
    builder: &mut RequestBuilder,
    op: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let body = serde_json::to_vec(body).unwrap();
    let request = builder.build(op, &body).to_vec();
    let reply = conn
        .round_trip(&request)
        .await
        .map_err(|e| format!("{op}: {e}"))?;
    let text = conn.body(&reply);
    if reply.status != 200 {
        return Err(format!(
            "{op}: HTTP {}: {}",
            reply.status,
            String::from_utf8_lossy(text)
        ));
    }
    serde_json::from_slice(text).map_err(|e| format!("{op}: response is not JSON: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The load

struct Plan {
    addr: String,
    op: Op,
    body: Vec<u8>,
    measure_start: Instant,
    end: Instant,
    credentials: (String, String, String),
}

#[derive(Default)]
struct WorkerStats {
    ok: u64,
    throttled: u64,
    errors: BTreeMap<String, u64>,
    io_errors: BTreeMap<String, u64>,
    reconnects: u64,
    bad_bodies: u64,
    /// Requests completed in the warm-up or straddling a window edge (not counted).
    outside: u64,
}

struct WorkerResult {
    hist: Histogram<u64>,
    stats: WorkerStats,
}

async fn worker(plan: Arc<Plan>) -> WorkerResult {
    let (akid, secret, region) = &plan.credentials;
    let mut builder = RequestBuilder::new(Signer::new(akid, secret, region), &plan.addr);
    let mut hist = Histogram::<u64>::new_with_bounds(1, HIST_MAX_US, 3).unwrap();
    let mut stats = WorkerStats::default();
    let field = format!("\"{}\"", plan.op.response_field());
    let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", plan.addr).into_bytes();
    let mut conn: Option<Conn> = None;
    let mut checked_first = false;
    while Instant::now() < plan.end {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::connect(&plan.addr).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    *stats.io_errors.entry(format!("connect: {e}")).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let request = if plan.op == Op::Healthz {
            &healthz[..]
        } else {
            builder.build(plan.op.name(), &plan.body)
        };
        let t0 = Instant::now();
        let result = c.round_trip(request).await;
        let t1 = Instant::now();
        let measured = t0 >= plan.measure_start && t1 <= plan.end;
        match result {
            Ok(reply) => {
                let body = c.body(&reply);
                if reply.status == 200 {
                    // A full check of the first response, a cheap one of the rest.
                    let good = if plan.op == Op::Healthz {
                        body.starts_with(b"ok")
                    } else if checked_first {
                        body.first() == Some(&b'{') && body.last() == Some(&b'}')
                    } else {
                        checked_first = true;
                        find(body, field.as_bytes()).is_some()
                            && serde_json::from_slice::<serde_json::Value>(body).is_ok()
                    };
                    if !measured {
                        stats.outside += 1;
                    } else if good {
                        stats.ok += 1;
                        let us = u64::try_from((t1 - t0).as_micros()).unwrap_or(u64::MAX);
                        hist.saturating_record(us.max(1));
                    } else {
                        stats.bad_bodies += 1;
                    }
                } else if measured {
                    let kind = error_type(body);
                    if kind.contains("Throttling") {
                        stats.throttled += 1;
                    } else {
                        *stats
                            .errors
                            .entry(format!("HTTP {} {kind}", reply.status))
                            .or_default() += 1;
                    }
                } else {
                    stats.outside += 1;
                }
                if reply.close {
                    conn = None;
                    stats.reconnects += 1;
                }
            }
            Err(e) => {
                *stats.io_errors.entry(e.to_string()).or_default() += 1;
                conn = None;
                stats.reconnects += 1;
            }
        }
    }
    WorkerResult { hist, stats }
}

fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

/// One measured phase: an operation (or the floor) at a number of connections.
struct Phase {
    op: Op,
    connections: usize,
    hist: Histogram<u64>,
    stats: WorkerStats,
    /// Server CPU seconds (utime + stime) over the measured window.
    server_cpu: Option<f64>,
    generator_cpu: Option<f64>,
    /// Busy cores of the whole machine over the window, and the number of cores.
    machine: Option<(f64, f64)>,
    secs: f64,
}

impl Phase {
    fn rps(&self) -> f64 {
        self.stats.ok as f64 / self.secs
    }

    fn errors(&self) -> u64 {
        self.stats.errors.values().sum::<u64>()
            + self.stats.io_errors.values().sum::<u64>()
            + self.stats.bad_bodies
    }

    /// Server CPU per successful request, in µs.
    fn cpu_per_request(&self) -> Option<f64> {
        let c = self.server_cpu?;
        (self.stats.ok > 0).then(|| c / self.secs * 1e6 / self.rps())
    }

    fn quantile(&self, q: f64) -> Option<u64> {
        (!self.hist.is_empty()).then(|| self.hist.value_at_quantile(q))
    }
}

/// The server under load: its address, the credential to sign with, its pid (for its CPU
/// time) and the clock tick of `/proc`.
struct Target<'a> {
    addr: &'a str,
    credentials: &'a (String, String, String),
    server_pid: Option<u32>,
    tick: f64,
}

/// Runs `op` on `connections` connections for the warm-up and the measured window.
async fn measure(
    opts: &Options,
    target: &Target<'_>,
    op: Op,
    connections: usize,
    body: Vec<u8>,
) -> Result<Phase, String> {
    let Target {
        addr,
        credentials,
        server_pid,
        tick,
    } = *target;
    let start = Instant::now();
    let plan = Arc::new(Plan {
        addr: addr.to_owned(),
        op,
        body,
        measure_start: start + opts.warmup,
        end: start + opts.warmup + opts.duration,
        credentials: credentials.clone(),
    });
    let snapshots = tokio::spawn({
        let plan = plan.clone();
        async move {
            tokio::time::sleep_until(plan.measure_start).await;
            let a = cpu_snapshot(server_pid, tick);
            tokio::time::sleep_until(plan.end).await;
            let b = cpu_snapshot(server_pid, tick);
            (a, b)
        }
    });
    let workers: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(worker(plan.clone())))
        .collect();
    let mut results = Vec::new();
    let all = async {
        for w in workers {
            results.push(w.await.map_err(|e| format!("worker failed: {e}"))?);
        }
        Ok::<_, String>(())
    };
    // A hung server must not hang the bench.
    tokio::time::timeout(opts.warmup + opts.duration + Duration::from_secs(30), all)
        .await
        .map_err(|_| "requests did not complete 30 s after the end: server hung?".to_owned())??;
    let (a, b) = snapshots.await.map_err(|e| format!("snapshot task: {e}"))?;

    let mut hist = Histogram::<u64>::new_with_bounds(1, HIST_MAX_US, 3).unwrap();
    let mut total = WorkerStats::default();
    for r in &results {
        hist.add(&r.hist).unwrap();
        total.ok += r.stats.ok;
        total.throttled += r.stats.throttled;
        total.reconnects += r.stats.reconnects;
        total.bad_bodies += r.stats.bad_bodies;
        total.outside += r.stats.outside;
        for (k, v) in &r.stats.errors {
            *total.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &r.stats.io_errors {
            *total.io_errors.entry(k.clone()).or_default() += v;
        }
    }
    let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
    let machine = a.machine.zip(b.machine).map(|((ba, ta), (bb, tb))| {
        let busy = bb.saturating_sub(ba) as f64;
        let total = tb.saturating_sub(ta).max(1) as f64;
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        (busy / total * ncpu, ncpu)
    });
    Ok(Phase {
        op,
        connections,
        hist,
        stats: total,
        server_cpu: delta(a.server, b.server),
        generator_cpu: delta(a.generator, b.generator),
        machine,
        secs: opts.duration.as_secs_f64(),
    })
}

/// The request body of `op` against `key_id` (Decrypt's needs an Encrypt first).
async fn body_for(
    op: Op,
    opts: &Options,
    conn: &mut Conn,
    builder: &mut RequestBuilder,
    key_id: &str,
) -> Result<Vec<u8>, String> {
    let mut plaintext = vec![0u8; opts.payload];
    SystemRandom::new()
        .fill(&mut plaintext)
        .map_err(|e| format!("random: {e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = match op {
        Op::Healthz => return Ok(Vec::new()),
        Op::Encrypt => {
            serde_json::json!({"KeyId": key_id, "Plaintext": b64.encode(&plaintext)})
        }
        Op::GenerateDataKey => serde_json::json!({"KeyId": key_id, "KeySpec": "AES_256"}),
        Op::Decrypt => {
            let enc = call(
                conn,
                builder,
                "Encrypt",
                &serde_json::json!({"KeyId": key_id, "Plaintext": b64.encode(&plaintext)}),
            )
            .await?;
            let blob = enc
                .get("CiphertextBlob")
                .and_then(|v| v.as_str())
                .ok_or("Encrypt: no CiphertextBlob")?
                .to_owned();
            let body = serde_json::json!({"KeyId": key_id, "CiphertextBlob": blob});
            let dec = call(conn, builder, "Decrypt", &body).await?;
            if dec.get("Plaintext").and_then(|v| v.as_str())
                != Some(b64.encode(&plaintext).as_str())
            {
                return Err("Decrypt did not return the plaintext".into());
            }
            body
        }
    };
    Ok(serde_json::to_vec(&body).unwrap())
}

fn print_phase(p: &Phase, floor: Option<&Phase>) {
    let label = match p.op {
        Op::Healthz => "GET /healthz (the floor)".to_owned(),
        op => op.name().to_owned(),
    };
    println!("  {label}, {} connections", p.connections);
    println!(
        "    requests    {} ok, {} throttled, {} errors ({} warm-up/edge requests not counted)",
        p.stats.ok,
        p.stats.throttled,
        p.errors(),
        p.stats.outside
    );
    let ratio = floor
        .filter(|f| f.rps() > 0.0)
        .map(|f| format!(" = {:.2} x the floor ({:.0}/s)", p.rps() / f.rps(), f.rps()))
        .unwrap_or_default();
    println!("    throughput  {:.0} requests/s{ratio}", p.rps());
    if p.hist.is_empty() {
        println!("    latency     no successful requests");
    } else {
        println!(
            "    latency     p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {:.0} µs; client-side)",
            fmt_us(p.hist.value_at_quantile(0.50)),
            fmt_us(p.hist.value_at_quantile(0.90)),
            fmt_us(p.hist.value_at_quantile(0.99)),
            fmt_us(p.hist.value_at_quantile(0.999)),
            fmt_us(p.hist.max()),
            p.hist.mean()
        );
    }
    let show = |c: Option<f64>| c.map_or("?".to_owned(), |c| format!("{:.2}", c / p.secs));
    let mut cpu_line = format!(
        "    cpu         server {} cores, generator {} cores",
        show(p.server_cpu),
        show(p.generator_cpu)
    );
    if let Some((busy, ncpu)) = p.machine {
        let others = busy - (p.server_cpu.unwrap_or(0.0) + p.generator_cpu.unwrap_or(0.0)) / p.secs;
        cpu_line.push_str(&format!(
            ", machine {busy:.2} of {ncpu:.0} cores busy (others {:.2})",
            others.max(0.0)
        ));
    }
    println!("{cpu_line}");
    if let Some(c) = p.cpu_per_request() {
        println!("    server cost {c:.1} µs CPU per ok request");
    }
    if p.stats.throttled > 0 {
        println!(
            "    WARNING: {} requests were throttled (ThrottlingException): a quota (AWS's \
             default 10,000/s for symmetric cryptographic operations) or a limiter capped the \
             load; their latencies are not in the histogram.",
            p.stats.throttled
        );
    }
    if p.errors() > 0 {
        println!(
            "    !!! {} ERRORS — these figures are not valid !!!",
            p.errors()
        );
        for (k, v) in p.stats.errors.iter().chain(&p.stats.io_errors) {
            println!("      {v:>10}  {k}");
        }
        if p.stats.bad_bodies > 0 {
            println!("      {:>10}  malformed 200 responses", p.stats.bad_bodies);
        }
    }
    if p.stats.reconnects > 0 {
        println!("    note: {} reconnects", p.stats.reconnects);
    }
}

/// The summary: each operation beside the floor measured just before it, with the targets of
/// issue 22 (≥ 0.5 × the floor, p99 < 5 ms, ≤ 20 µs of server CPU per request).
fn print_table(phases: &[Phase]) {
    println!();
    println!(
        "| op | conns | floor /s | op /s | op/floor | p50 | p99 | server CPU/req (floor) | targets |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut floor: Option<&Phase> = None;
    for p in phases {
        if p.op == Op::Healthz {
            floor = Some(p);
            continue;
        }
        let f = floor.filter(|f| f.connections == p.connections);
        let ratio = f.filter(|f| f.rps() > 0.0).map(|f| p.rps() / f.rps());
        let cpu = p.cpu_per_request();
        let p99 = p.quantile(0.99);
        let met = |ok: Option<bool>| match ok {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "?",
        };
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} ({}) | ratio {}, p99 {}, CPU {}{} |",
            p.op.name(),
            p.connections,
            f.map_or("-".to_owned(), |f| format!("{:.0}", f.rps())),
            p.rps(),
            ratio.map_or("-".to_owned(), |r| format!("{r:.2}")),
            p.quantile(0.5).map_or("-".to_owned(), fmt_us),
            p99.map_or("-".to_owned(), fmt_us),
            cpu.map_or("?".to_owned(), |c| format!("{c:.1} µs")),
            f.and_then(Phase::cpu_per_request)
                .map_or("?".to_owned(), |c| format!("{c:.1} µs")),
            met(ratio.map(|r| r >= 0.5)),
            met(p99.map(|v| v < 5_000)),
            met(cpu.map(|c| c <= 20.0)),
            if p.errors() > 0 || p.stats.throttled > 0 {
                ", ERRORS/THROTTLES: invalid"
            } else {
                ""
            }
        );
    }
    println!();
}

fn run(opts: &Options) -> Result<bool, String> {
    let tick = clock_tick();
    let load_before = loadavg();

    let mut server = None;
    let (addr, credentials, server_pid) = match &opts.endpoint {
        Some(url) => {
            let addr = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned();
            if addr.starts_with("https://") {
                return Err("the load generator speaks plain HTTP only".into());
            }
            let creds = (
                opts.access_key_id.clone().unwrap_or_default(),
                opts.secret.clone().unwrap_or_default(),
                opts.region.clone().unwrap_or_default(),
            );
            (addr, creds, opts.server_pid)
        }
        None => {
            let s = ServerProcess::spawn(opts)?;
            let creds = s.admin_credentials()?;
            let out = (s.addr.clone(), creds, Some(s.pid()));
            server = Some(s);
            out
        }
    };

    let runtime = if opts.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("cannot start the runtime: {e}"))?;

    // The phases: at each connection count, the floor first, then each operation.
    let (ops, conns): (Vec<Op>, Vec<usize>) = if opts.matrix {
        (
            vec![Op::Encrypt, Op::Decrypt, Op::GenerateDataKey],
            vec![8, 32],
        )
    } else {
        (vec![opts.op], vec![opts.connections])
    };

    println!();
    println!("cofferd load generator");
    match &server {
        Some(s) => {
            println!(
                "  server        spawned {} (pid {}), data dir under {}",
                opts.server_bin
                    .as_ref()
                    .map_or(env!("CARGO_BIN_EXE_cofferd").to_owned(), |b| b
                        .display()
                        .to_string()),
                s.pid(),
                s.data_dir.display()
            );
            println!(
                "  server config audit log on ({}), SymmetricCryptographic quota {}, \
                 pre-authentication budgets {}{}",
                if opts.server_args.iter().any(|a| a.contains("durability")) {
                    "durability from --server-arg"
                } else {
                    "default durability: sync, group commit"
                },
                opts.quota_rate
                    .map_or("10000/s (AWS default)".to_owned(), |r| format!("{r}/s")),
                if opts.raise_limits {
                    "raised"
                } else {
                    "cofferd's defaults"
                },
                if opts.server_args.is_empty() {
                    String::new()
                } else {
                    format!(", extra args: {}", opts.server_args.join(" "))
                }
            );
        }
        None => println!("  server        {addr} (external)"),
    }
    println!(
        "  load          keep-alive connections, 1 request in flight each, {} generator \
         thread(s), {:.1} s measured after {:.1} s warm-up per phase; payload {} bytes \
         (GenerateDataKey: AES_256)",
        opts.threads,
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64(),
        opts.payload
    );

    let result = runtime.block_on(async {
        // Setup: the signer against cofferd's own, a key, and the request bodies.
        let (akid, secret, region) = &credentials;
        let mut builder = RequestBuilder::new(Signer::new(akid, secret, region), &addr);
        let mut headers = builder.headers.clone();
        headers.insert("x-amz-date", HeaderValue::from_static("20250101T000000Z"));
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("TrentService.Encrypt"),
        );
        if builder.signer.sign(&headers, b"{}", "20250101T000000Z")
            != builder
                .signer
                .reference(&headers, b"{}", "20250101T000000Z")
        {
            return Err("the generator's signer disagrees with cofferd::authorization".into());
        }
        let mut conn = Conn::connect(&addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let key_id = match &opts.key_id {
            Some(k) => k.clone(),
            None => {
                let created =
                    call(&mut conn, &mut builder, "CreateKey", &serde_json::json!({})).await?;
                created
                    .pointer("/KeyMetadata/KeyId")
                    .and_then(|v| v.as_str())
                    .ok_or("CreateKey: no KeyMetadata.KeyId")?
                    .to_owned()
            }
        };
        println!("  key           {key_id}");
        let mut bodies = Vec::new();
        for op in &ops {
            bodies.push(body_for(*op, opts, &mut conn, &mut builder, &key_id).await?);
        }
        drop(conn);
        println!();

        let target = Target {
            addr: &addr,
            credentials: &credentials,
            server_pid,
            tick,
        };
        let mut phases: Vec<Phase> = Vec::new();
        for &c in &conns {
            let floor = if opts.floor && !ops.contains(&Op::Healthz) {
                let p = measure(opts, &target, Op::Healthz, c, Vec::new()).await?;
                print_phase(&p, None);
                phases.push(p);
                phases.len() - 1
            } else {
                usize::MAX
            };
            for (op, body) in ops.iter().zip(&bodies) {
                let p = measure(opts, &target, *op, c, body.clone()).await?;
                print_phase(&p, phases.get(floor));
                phases.push(p);
            }
        }
        Ok(phases)
    });
    let phases = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(s) = &server {
                return Err(format!(
                    "{e}\ncofferd's stderr (tail):\n{}",
                    s.stderr_tail()
                ));
            }
            return Err(e);
        }
    };
    let load_after = loadavg();
    let audit_bytes = server.as_ref().map(ServerProcess::audit_bytes);
    let stderr_tail = server.as_ref().map(ServerProcess::stderr_tail);
    if let Some(s) = server.as_mut() {
        s.stop();
    }
    if let Some(b) = audit_bytes {
        println!("  audit log     {:.1} MiB written", b as f64 / 1048576.0);
    }
    println!("  load average  {load_before} before, {load_after} after");
    print_table(&phases);
    let errors: u64 = phases.iter().map(Phase::errors).sum();
    if errors > 0 {
        println!("!!! THE RUN HAD {errors} ERRORS — the figures above are not valid !!!");
        if let Some(t) = stderr_tail.filter(|t| !t.is_empty()) {
            println!("cofferd's stderr (tail):\n{t}");
        }
    }
    Ok(errors == 0)
}

fn main() -> ExitCode {
    let opts = match Options::from_env_and_args() {
        Ok(o) => o,
        Err(e) => e.exit(),
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}
