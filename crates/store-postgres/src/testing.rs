//! A throwaway PostgreSQL cluster for tests (feature `testing`).
//!
//! [`TestCluster::start`] finds the server binaries (`pg_config --bindir`, else the newest
//! `/usr/lib/postgresql/*/bin`), makes a temporary directory owned by the `postgres` OS user
//! (when run as root: `initdb` refuses root, so it and `pg_ctl` run through
//! `runuser -u postgres --`), runs `initdb` and `pg_ctl start -w` on a free 127.0.0.1 port with
//! the socket directory inside the temporary directory (`fsync=off`: a test cluster need not
//! survive a crash), and checks it with `pg_isready`. [`TestCluster::create_database`] gives each
//! test a database of its own.
//!
//! The cluster is stopped (`pg_ctl stop -m immediate`) and its directory removed when the
//! [`TestCluster`] is dropped, and also when the test process ends in any way (a panic, an
//! abort, a kill, or a cluster kept in a `static`, which is never dropped): a small guard
//! process, started with the cluster, waits for the end of a pipe that only this process holds
//! open, and cleans up when it closes.
//!
//! Missing binaries are an error, not a skip: install PostgreSQL (`apt-get install
//! postgresql`).

// A test harness: its errors are messages for the person running the tests.
#![allow(clippy::print_stderr)]

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a test cluster could not be made.
#[derive(Debug)]
pub struct HarnessError(String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

fn fail(msg: impl Into<String>) -> HarnessError {
    HarnessError(msg.into())
}

/// A running throwaway cluster. See the module docs.
pub struct TestCluster {
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    tls: bool,
    /// The server options `pg_ctl start` was given (for [`TestCluster::start_again`]).
    opts: String,
    databases: AtomicU64,
    /// Closing this pipe (drop, or the end of the process) makes the guard stop the cluster.
    guard_pipe: Option<ChildStdin>,
    guard: Option<Child>,
}

impl fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCluster")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The directory holding `initdb`, `pg_ctl` and `pg_isready`.
pub fn find_bindir() -> Result<PathBuf, HarnessError> {
    find_bindir_in("pg_config", Path::new("/usr/lib/postgresql"))
}

fn find_bindir_in(pg_config: &str, root: &Path) -> Result<PathBuf, HarnessError> {
    let mut tried = Vec::new();
    if let Ok(out) = Command::new(pg_config).arg("--bindir").output() {
        if out.status.success() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
            tried.push(dir.display().to_string());
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    tried.push(format!("{}/*/bin", root.display()));
    Err(fail(format!(
        "PostgreSQL server binaries (initdb, pg_ctl) not found (looked in: {}); these tests need \
         them: install the server (Debian: `apt-get install postgresql`)",
        tried.join(", ")
    )))
}

fn run(cmd: &mut Command, what: &str) -> Result<Output, HarnessError> {
    let out = cmd
        .output()
        .map_err(|e| fail(format!("{what}: could not run {cmd:?}: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out)
}

fn id_of(flag: &str) -> Result<u32, HarnessError> {
    let out = run(
        Command::new("id").args([flag, "postgres"]),
        "looking up the postgres user",
    )?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| fail("`id postgres` printed no number"))
}

fn running_as_root() -> Result<bool, HarnessError> {
    let out = run(Command::new("id").arg("-u"), "looking up the current user")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, HarnessError> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| fail(format!("finding a free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| fail(format!("finding a free port: {e}")))
}

impl TestCluster {
    /// Makes and starts a cluster; see the module docs.
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_inner(false)
    }

    /// Makes and starts a cluster that also accepts TLS (`ssl=on`), with a server certificate
    /// for `127.0.0.1` and `localhost` issued by a test CA made for it (the `openssl` command,
    /// which the PostgreSQL packages depend on). [`TestCluster::ca_certificate`] is the CA's
    /// PEM file.
    pub fn start_with_tls() -> Result<Self, HarnessError> {
        Self::start_inner(true)
    }

    /// The test CA's certificate (PEM) of a cluster started with
    /// [`TestCluster::start_with_tls`].
    pub fn ca_certificate(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join("ca.pem"))
    }

    fn start_inner(tls: bool) -> Result<Self, HarnessError> {
        let bin = find_bindir()?;
        let as_postgres = running_as_root()?;
        static N: AtomicU64 = AtomicU64::new(0);
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "coffer-pg-{}-{stamp}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir(&dir).map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
        let mut cluster = Self {
            data: dir.join("data"),
            dir,
            bin,
            port: 0,
            as_postgres,
            tls,
            opts: String::new(),
            databases: AtomicU64::new(0),
            guard_pipe: None,
            guard: None,
        };
        // From here on, drop removes the directory whatever fails.
        cluster.init()?;
        Ok(cluster)
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn init(&mut self) -> Result<(), HarnessError> {
        if self.as_postgres {
            let (uid, gid) = (id_of("-u")?, id_of("-g")?);
            std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid))
                .map_err(|e| fail(format!("giving {} to postgres: {e}", self.dir.display())))?;
        }
        run(
            self.command("initdb")
                .arg("-D")
                .arg(&self.data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
                .args(["--locale", "C.UTF-8"]),
            "initdb",
        )?;
        self.start_guard()?;
        let tls_opts = if self.tls {
            self.make_certificates()?;
            format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                self.dir.join("server.pem").display(),
                self.dir.join("server.key").display()
            )
        } else {
            String::new()
        };
        // A port found free may be taken before the server binds it (other tests run at the
        // same time): try a few.
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let opts = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=200{tls_opts}",
                self.dir.display()
            );
            let log = self.dir.join("server.log");
            match run(
                self.command("pg_ctl")
                    .arg("-D")
                    .arg(&self.data)
                    .arg("-l")
                    .arg(&log)
                    .args(["-w", "-t", "120", "-o", &opts, "start"]),
                "pg_ctl start",
            ) {
                Ok(_) => {
                    self.port = port;
                    self.opts = opts;
                    run(
                        self.command("pg_isready").args([
                            "-h",
                            "127.0.0.1",
                            "-p",
                            &port.to_string(),
                            "-t",
                            "60",
                        ]),
                        "pg_isready",
                    )?;
                    return Ok(());
                }
                Err(e) => {
                    let tail = fs::read_to_string(&log).unwrap_or_default();
                    last = Some(fail(format!("{e}\nserver log:\n{tail}")));
                }
            }
        }
        Err(last.unwrap_or_else(|| fail("pg_ctl start failed")))
    }

    /// A test CA and a server certificate it issued (P-256, one day), the key readable by the
    /// server only.
    fn make_certificates(&self) -> Result<(), HarnessError> {
        let d = &self.dir;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-new",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=coffer test CA",
                ])
                .args(ec)
                .arg("-keyout")
                .arg(d.join("ca.key"))
                .arg("-out")
                .arg(d.join("ca.pem")),
            "openssl: making the test CA",
        )?;
        run(
            Command::new("openssl")
                .args(["req", "-new", "-subj", "/CN=127.0.0.1"])
                .args(ec)
                .arg("-keyout")
                .arg(d.join("server.key"))
                .arg("-out")
                .arg(d.join("server.csr")),
            "openssl: making the server key",
        )?;
        fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n\
             basicConstraints=CA:FALSE\n",
        )
        .map_err(|e| fail(format!("writing the certificate extensions: {e}")))?;
        run(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "1", "-set_serial", "1"])
                .arg("-in")
                .arg(d.join("server.csr"))
                .arg("-CA")
                .arg(d.join("ca.pem"))
                .arg("-CAkey")
                .arg(d.join("ca.key"))
                .arg("-extfile")
                .arg(d.join("server.ext"))
                .arg("-out")
                .arg(d.join("server.pem")),
            "openssl: issuing the server certificate",
        )?;
        let key = d.join("server.key");
        if self.as_postgres {
            let (uid, gid) = (id_of("-u")?, id_of("-g")?);
            for f in ["server.key", "server.pem", "ca.pem"] {
                std::os::unix::fs::chown(d.join(f), Some(uid), Some(gid))
                    .map_err(|e| fail(format!("giving {f} to postgres: {e}")))?;
            }
        }
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(format!("restricting the server key: {e}")))
    }

    /// Starts the guard: `sh` blocked reading a pipe whose write end only this process holds;
    /// at its end (drop, or this process exiting) it stops the server and removes the directory.
    fn start_guard(&mut self) -> Result<(), HarnessError> {
        let pg_ctl = self.bin.join("pg_ctl");
        let script = if self.as_postgres {
            r#"cat >/dev/null; runuser -u postgres -- "$1" -D "$2" stop -m immediate -w >/dev/null 2>&1; rm -rf "$3""#
        } else {
            r#"cat >/dev/null; "$1" -D "$2" stop -m immediate -w >/dev/null 2>&1; rm -rf "$3""#
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("coffer-pg-guard")
            .arg(&pg_ctl)
            .arg(&self.data)
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C to the test run does not kill it before it
            // has cleaned up.
            .process_group(0)
            .spawn()
            .map_err(|e| fail(format!("starting the cleanup guard: {e}")))?;
        self.guard_pipe = child.stdin.take();
        self.guard = Some(child);
        Ok(())
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are ended, as by a database
    /// restart or failover); [`TestCluster::start_again`] brings it back on the same port.
    pub fn stop(&self) -> Result<(), HarnessError> {
        run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-w", "-t", "120", "-m", "fast", "stop"]),
            "pg_ctl stop",
        )
        .map(drop)
    }

    /// Starts the server again after [`TestCluster::stop`], on the same port with the same
    /// options.
    pub fn start_again(&self) -> Result<(), HarnessError> {
        let log = self.dir.join("server.log");
        run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "120", "-o", &self.opts, "start"]),
            "pg_ctl start",
        )
        .map(drop)
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (user `postgres`, no password: the cluster trusts local
    /// connections).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn create_database(&self) -> Result<String, HarnessError> {
        let name = format!("t{}", self.databases.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| fail(format!("connecting to the test cluster: {e}")))?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| fail(format!("creating database {name}: {e}")))?;
        Ok(self.url(&name))
    }

    /// Runs `sql` as the superuser in database `db` (for tests that inspect the server).
    pub fn admin(&self, db: &str) -> Result<postgres::Client, HarnessError> {
        postgres::Client::connect(&self.url(db), postgres::NoTls)
            .map_err(|e| fail(format!("connecting to the test cluster: {e}")))
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Closing the pipe lets the guard stop the server and remove the directory; wait for
        // it, so the cluster is gone when drop returns.
        match self.guard_pipe.take() {
            Some(mut pipe) => {
                let _ = pipe.flush();
                drop(pipe);
                if let Some(mut g) = self.guard.take() {
                    let _ = g.wait();
                }
            }
            None => {
                // No guard was started (initdb failed): nothing runs, remove the directory.
                let _ = fs::remove_dir_all(&self.dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_server_binaries_are_an_error_saying_what_to_install() {
        let e = find_bindir_in(
            "coffer-no-such-pg_config",
            Path::new("/nonexistent/postgresql"),
        )
        .expect_err("no binaries there");
        let msg = e.to_string();
        assert!(msg.contains("initdb"), "{msg}");
        assert!(msg.contains("/nonexistent/postgresql/*/bin"), "{msg}");
        assert!(msg.contains("apt-get install postgresql"), "{msg}");
    }
}
