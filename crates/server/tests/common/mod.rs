//! What cofferd's integration tests share: a temporary directory, the running binary, the
//! bootstrap administrator's credential, and SigV4-signed requests. Each test binary uses a
//! part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use coffer::SecretBytes;

/// A directory under the system's temporary directory, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    /// A fresh directory whose name carries `name`, the process id and the time.
    pub(crate) fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "cofferd-test-{name}-{}-{nanos}",
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

/// A running `cofferd` process, killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    /// `HOST:PORT` from its first line on stdout.
    pub(crate) addr: String,
}

impl Server {
    /// `cofferd` with `args`, stderr as given.
    pub(crate) fn command(args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cofferd"));
        c.args(args);
        c
    }

    /// Spawns `cmd` (its stdout is taken) and reads the address from its first line, `cofferd
    /// listening on http://ADDR` (or `https://`); the line and exit status if it is not that.
    pub(crate) fn try_spawn(mut cmd: Command) -> Result<Self, String> {
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("cofferd listening on ")
            .and_then(|a| {
                a.strip_prefix("http://")
                    .or_else(|| a.strip_prefix("https://"))
            })
            .map(str::to_owned);
        match addr {
            Some(addr) => Ok(Self { child, addr }),
            None => {
                let _ = child.kill();
                let status = child.wait();
                Err(format!("first line {line:?}, exit {status:?}"))
            }
        }
    }

    /// [`Self::try_spawn`], panicking if the server does not start.
    pub(crate) fn spawn(cmd: Command) -> Self {
        Self::try_spawn(cmd).unwrap_or_else(|e| panic!("cofferd did not start: {e}"))
    }

    pub(crate) fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bootstrap administrator's credential, as the data dir's `admin-credentials.json` holds
/// it (the shape `coffer credentials create` prints, too).
#[derive(Clone, Debug)]
pub(crate) struct Admin {
    pub(crate) access_key_id: String,
    pub(crate) secret: String,
    pub(crate) account_id: String,
    pub(crate) principal_arn: String,
    pub(crate) region: String,
}

impl Admin {
    /// Reads a credential file.
    pub(crate) fn from_file(path: &Path) -> Self {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        Self {
            access_key_id: s("access_key_id"),
            secret: s("secret_access_key"),
            account_id: s("account_id"),
            principal_arn: s("principal_arn"),
            region: s("region"),
        }
    }

    /// The bootstrap administrator of the data dir `data_dir`.
    pub(crate) fn of(data_dir: &Path) -> Self {
        Self::from_file(&data_dir.join(cofferd::ADMIN_CREDENTIALS_FILE))
    }
}

/// `X-Amz-Date` for now plus `offset_secs`.
pub(crate) fn amz_date_now(offset_secs: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    cofferd::amz_date(i64::try_from(now).unwrap() + offset_secs)
}

/// The headers of a `POST /` to `X-Amz-Target: target` on `host` (host, content type, date,
/// target) and the SigV4 `Authorization` value signing them and `body`.
pub(crate) fn sign(
    host: &str,
    target: &str,
    access_key_id: &str,
    secret: &SecretBytes,
    region: &str,
    amz_date: &str,
    body: &[u8],
) -> (http::HeaderMap, String) {
    let mut headers = http::HeaderMap::new();
    headers.insert("host", host.parse().unwrap());
    headers.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    headers.insert("x-amz-date", amz_date.parse().unwrap());
    headers.insert("x-amz-target", target.parse().unwrap());
    let auth = cofferd::authorization(
        &cofferd::SigningParams {
            access_key_id,
            secret_access_key: secret,
            region,
            service: "kms",
            amz_date,
        },
        &cofferd::RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
        },
        &["content-type", "host", "x-amz-date", "x-amz-target"],
        body,
    );
    (headers, auth)
}

/// The request line and the headers of `headers` as HTTP/1.1 text, with Content-Length (and
/// `Connection: close` when `close`), without the blank line that ends the head.
pub(crate) fn head(headers: &http::HeaderMap, body_len: usize, close: bool) -> String {
    let mut out = format!("POST / HTTP/1.1\r\ncontent-length: {body_len}\r\n");
    if close {
        out.push_str("connection: close\r\n");
    }
    for (k, v) in headers {
        out.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    out
}

/// A complete signed `TrentService.<op>` request by `a` to `host`.
pub(crate) fn signed_request(a: &Admin, host: &str, op: &str, body: &[u8], close: bool) -> Vec<u8> {
    let secret = SecretBytes::copy_from(a.secret.as_bytes());
    let (headers, auth) = sign(
        host,
        &format!("TrentService.{op}"),
        &a.access_key_id,
        &secret,
        &a.region,
        &amz_date_now(0),
        body,
    );
    let mut out = head(&headers, body.len(), close);
    out.push_str(&format!("authorization: {auth}\r\n\r\n"));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The `Authorization` value signing `headers` (which must hold `host` and `x-amz-date`) and
/// `body` as a `POST /`, with exactly the header names `signed` (in the order given, as a client
/// might send them).
pub(crate) fn authorization_for(
    headers: &http::HeaderMap,
    signed: &[&str],
    access_key_id: &str,
    secret: &str,
    region: &str,
    body: &[u8],
) -> String {
    let secret = SecretBytes::copy_from(secret.as_bytes());
    let amz_date = headers["x-amz-date"].to_str().unwrap().to_owned();
    cofferd::authorization(
        &cofferd::SigningParams {
            access_key_id,
            secret_access_key: &secret,
            region,
            service: "kms",
            amz_date: &amz_date,
        },
        &cofferd::RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers,
        },
        signed,
        body,
    )
}

/// An answer read off the wire: status and JSON body (`null` if the body is not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: serde_json::Value,
}

impl Answer {
    /// The AWS error code (`__type`), or "" for a success.
    pub(crate) fn code(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }

    pub(crate) fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

/// Sends one complete HTTP/1.1 request (which should say `connection: close`) to `addr` from
/// the local address `from` (any address of 127/8 reaches the loopback server on Linux), and
/// reads the answer to the end.
pub(crate) async fn exchange(addr: &str, from: std::net::IpAddr, request: &[u8]) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
    let mut s = socket.connect(addr.parse().unwrap()).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    Answer {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    }
}

/// The audit log's lines (records and digests) under the data dir `data_dir`, file by file in
/// name order.
pub(crate) fn audit_lines(data_dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join(coffer::AUDIT_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            // Up to the zeros the live file holds ahead of its records.
            let data = std::fs::read(f).unwrap();
            std::str::from_utf8(coffer::audit_log::file_records(&data))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A SigV4-signed `POST /` to `addr` with `X-Amz-Target: target` and the raw `body`, signed by
/// `access_key_id`/`secret` for `region` (one connection, closed after the answer); the status
/// and the JSON answer (`Null` when the body is not JSON).
pub(crate) fn signed_call(
    addr: &str,
    access_key_id: &str,
    secret: &str,
    region: &str,
    target: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let secret = SecretBytes::copy_from(secret.as_bytes());
    let (headers, auth) = sign(
        addr,
        target,
        access_key_id,
        &secret,
        region,
        &amz_date_now(0),
        body,
    );
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "{}authorization: {auth}\r\n\r\n",
        head(&headers, body.len(), true)
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8(resp).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// The AWS error code of a failed `aws-sdk-kms` call (panics if it succeeded or is not a
/// service error).
pub(crate) fn sdk_code<T, E, R>(r: Result<T, aws_sdk_kms::error::SdkError<E, R>>) -> String
where
    T: std::fmt::Debug,
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = r.expect_err("expected an error");
    err.as_service_error()
        .and_then(|e| e.meta().code())
        .unwrap_or_else(|| panic!("not a service error: {err:?}"))
        .to_owned()
}

/// A cofferd on a fresh data directory in `region`, its administrator's account `account`, on a
/// loopback port; the bootstrap administrator's credential; SDK clients for any credential.
pub(crate) struct Cofferd {
    _server: Server,
    pub(crate) addr: String,
    pub(crate) region: String,
    pub(crate) boot: Admin,
    _dir: TempDir,
}

impl Cofferd {
    pub(crate) fn start(name: &str, region: &str, account: &str) -> Self {
        let dir = TempDir::new(name);
        let mut cmd = Server::command(&[
            "--listen",
            "127.0.0.1:0",
            "--region",
            region,
            "--account-id",
            account,
        ]);
        cmd.arg("--data-dir").arg(dir.path()).stderr(Stdio::null());
        let server = Server::spawn(cmd);
        let addr = server.addr.clone();
        let boot = Admin::of(dir.path());
        Self {
            _server: server,
            addr,
            region: region.to_owned(),
            boot,
            _dir: dir,
        }
    }

    /// A signed `CofferAdmin.<op>` call by the bootstrap administrator: status and answer.
    pub(crate) fn admin(&self, op: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        signed_call(
            &self.addr,
            &self.boot.access_key_id,
            &self.boot.secret,
            &self.region,
            &format!("CofferAdmin.{op}"),
            &serde_json::to_vec(body).unwrap(),
        )
    }

    /// An SDK client signing with `access_key_id`/`secret`.
    pub(crate) fn client(&self, access_key_id: &str, secret: &str) -> aws_sdk_kms::Client {
        use aws_sdk_kms::config::retry::RetryConfig;
        use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(Credentials::new(access_key_id, secret, None, None, "test"))
            .endpoint_url(format!("http://{}", self.addr))
            .retry_config(RetryConfig::disabled())
            .http_client(aws_smithy_http_client::Builder::new().build_http());
        aws_sdk_kms::Client::from_conf(conf.build())
    }
}
