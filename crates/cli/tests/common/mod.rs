//! What the CLI's tests share: a temporary directory, a real cofferd on a loopback port (in
//! process, on a runtime of its own), its bootstrap administrator's credential, and the built
//! `coffer` binary pointed at it through the AWS environment variables.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// A directory under the system's temporary directory, removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory whose name carries `name`, the process id and the time.
    pub(crate) fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "coffer-cli-test-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(std::path::absolute(p).unwrap())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The bootstrap administrator's credential from the data dir's `admin-credentials.json`.
#[derive(Clone, Debug)]
pub(crate) struct Admin {
    pub(crate) access_key_id: String,
    pub(crate) secret: String,
    pub(crate) region: String,
}

impl Admin {
    pub(crate) fn of(data_dir: &Path) -> Self {
        let path = data_dir.join(cofferd::ADMIN_CREDENTIALS_FILE);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        Self {
            access_key_id: s("access_key_id"),
            secret: s("secret_access_key"),
            region: s("region"),
        }
    }
}

/// A running cofferd (stopped and its directory removed when dropped).
pub(crate) struct Cofferd {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    pub(crate) admin: Admin,
    dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A cofferd of a given configuration, in process on an ephemeral loopback port (stopped,
/// its audit log closed, when dropped; its data directory is left).
pub(crate) struct Running {
    /// The bound address.
    pub(crate) addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Serves `cfg` (its listen address replaced by 127.0.0.1:0).
    pub(crate) fn start(mut cfg: cofferd::Config) -> Self {
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = match cofferd::Server::bind(cfg).await {
                    Ok(s) => s,
                    Err(e) => {
                        addr_tx.send(Err(cofferd::error_chain(&e))).unwrap();
                        return;
                    }
                };
                addr_tx.send(Ok(server.local_addr().unwrap())).unwrap();
                server
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = match addr_rx.recv().expect("cofferd did not start") {
            Ok(a) => a,
            Err(e) => {
                thread.join().unwrap();
                panic!("cofferd did not start: {e}");
            }
        };
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Tries to serve `cfg`: the error when it cannot start.
    pub(crate) fn try_bind(cfg: cofferd::Config) -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(cofferd::Server::bind(cfg))
            .map(drop)
            .map_err(|e| cofferd::error_chain(&e))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Cofferd {
    /// A fresh data directory and a server on an ephemeral loopback port.
    pub(crate) fn start(name: &str) -> Self {
        let dir = TempDir::new(name);
        let data = dir.path().join("data");
        let mut cfg = cofferd::Config::new(&data);
        cfg.region = "eu-west-1".into();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = cofferd::Server::bind(cfg).await.unwrap();
                addr_tx.send(server.local_addr().unwrap()).unwrap();
                server
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().expect("cofferd did not start");
        let admin = Admin::of(&data);
        Self {
            url: format!("http://{addr}"),
            admin,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A scratch directory for the test's files.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The AWS environment that points `coffer` (or any SDK) at this server as its
    /// administrator, with no shared config files and no instance metadata.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let none = self.dir.path().join("no-such-file").display().to_string();
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_REGION", self.admin.region.clone()),
            ("AWS_ACCESS_KEY_ID", self.admin.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.admin.secret.clone()),
            ("AWS_CONFIG_FILE", none.clone()),
            ("AWS_SHARED_CREDENTIALS_FILE", none),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_MAX_ATTEMPTS", "1".into()),
        ]
    }

    /// `coffer ARGS` with [`Self::env`] (and no other AWS_ variable from the test's
    /// environment).
    pub(crate) fn coffer(&self, args: &[&str]) -> Command {
        let mut c = coffer_bare(args);
        c.envs(self.env());
        c
    }

    /// Runs `coffer ARGS` with `stdin` as its input.
    pub(crate) fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_with(self.coffer(args), stdin)
    }
}

impl Drop for Cofferd {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `coffer ARGS` with every AWS_ variable of the test's environment removed.
pub(crate) fn coffer_bare(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_coffer"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.args(args);
    c
}

/// Runs `cmd` with `stdin` written to its input; its output.
pub(crate) fn run_with(mut cmd: Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// A loopback address nobody listens on (bound, then released).
pub(crate) fn free_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
