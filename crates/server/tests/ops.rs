//! cofferd as an operator runs it, in process: TLS with a real certificate and a rustls client,
//! graceful shutdown that finishes the request in flight and closes the audit log, metrics that
//! count what was served, and the start-up refusals (plain HTTP off loopback, a TLS key others
//! can read).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cofferd::{Config, Server, TlsFiles};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;

use common::{signed_request, Admin, TempDir as TmpDir};

fn admin(data_dir: &Path) -> Admin {
    Admin::of(data_dir)
}

/// Reads one HTTP/1.1 response with a Content-Length body: (status, body).
async fn read_response<S: AsyncRead + Unpin>(s: &mut S) -> (u16, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "connection closed inside a response head");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    (status, body)
}

async fn call<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    a: &Admin,
    host: &str,
    op: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let req = signed_request(a, host, op, body.to_string().as_bytes(), false);
    s.write_all(&req).await.unwrap();
    let (status, body) = read_response(s).await;
    (status, serde_json::from_slice(&body).unwrap())
}

async fn get<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, path: &str) -> (u16, String) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (status, body) = read_response(s).await;
    (status, String::from_utf8(body).unwrap())
}

fn config(dir: &Path) -> Config {
    let mut c = Config::new(dir.join("data"));
    c.root_key = cofferd::RootKeyProvider::KeyFile(Some(dir.join("root.key")));
    c
}

/// Starts `server` on a task; returns its address, the shutdown trigger and the task.
fn start(
    server: Server,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), cofferd::Error>>,
) {
    let addr = server.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

/// A server on a task with one key, and a connection to it.
struct Running {
    _tmp: TmpDir,
    cfg: Config,
    addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), cofferd::Error>>,
    a: Admin,
    conn: TcpStream,
    key_id: String,
}

async fn start_with_key(name: &str) -> Running {
    let tmp = TmpDir::new(name);
    let cfg = config(&tmp.0);
    let (addr, stop, task) = start(Server::bind(cfg.clone()).await.unwrap());
    let a = admin(&cfg.data_dir);
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let (status, key) = call(&mut conn, &a, &addr, "CreateKey", serde_json::json!({})).await;
    assert_eq!(status, 200);
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    Running {
        _tmp: tmp,
        cfg,
        addr,
        stop,
        task,
        a,
        conn,
        key_id,
    }
}

fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A self-signed certificate for `localhost` in `dir`: (certificate, cert.pem, key.pem with
/// `key_mode`).
fn self_signed(
    dir: &Path,
    key_mode: u32,
) -> (rcgen::CertifiedKey<rcgen::KeyPair>, PathBuf, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    chmod(&key_path, key_mode);
    (cert, cert_path, key_path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_a_real_client_and_marks_transport_secure() {
    let tmp = TmpDir::new("tls");
    let (cert, cert_path, key_path) = self_signed(&tmp.0, 0o600);
    let mut cfg = config(&tmp.0);
    cfg.tls = Some(TlsFiles {
        cert: cert_path.clone(),
        key: key_path.clone(),
    });
    let (addr, stop, task) = start(Server::bind(cfg.clone()).await.unwrap());
    let a = admin(&cfg.data_dir);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();

    let (status, key) = call(&mut tls, &a, &addr, "CreateKey", serde_json::json!({})).await;
    assert_eq!(status, 200, "{key}");
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    // A key policy that demands TLS: allowed over this connection.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", key["KeyMetadata"]["AWSAccountId"].as_str().unwrap())},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]
    });
    let (status, body) = call(
        &mut tls,
        &a,
        &addr,
        "PutKeyPolicy",
        serde_json::json!({"KeyId": key_id, "PolicyName": "default", "Policy": policy.to_string()}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &mut tls,
        &a,
        &addr,
        "Encrypt",
        serde_json::json!({"KeyId": key_id, "Plaintext": "aGVsbG8="}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, health) = get(&mut tls, "/healthz").await;
    assert_eq!((status, health.as_str()), (200, "ok\n"));

    // Plain HTTP to the TLS port is not served.
    let mut plain = TcpStream::connect(&addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = plain.read_to_end(&mut rest).await;
    assert!(!String::from_utf8_lossy(&rest).contains("ok"));

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_refuses_plain_http_off_loopback_and_exposed_tls_keys() {
    let tmp = TmpDir::new("refuse");
    let mut cfg = config(&tmp.0);
    cfg.listen = "0.0.0.0:0".parse().unwrap();
    let err = Server::bind(cfg).await.unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");

    let (_, cert_path, key_path) = self_signed(&tmp.0, 0o644);
    let mut cfg = config(&tmp.0);
    cfg.tls = Some(TlsFiles {
        cert: cert_path.clone(),
        key: key_path.clone(),
    });
    let err = Server::bind(cfg.clone()).await.unwrap_err();
    assert!(
        matches!(&err, cofferd::Error::Permissions { path, .. } if path == &key_path),
        "{err}"
    );
    // A certificate file that holds no certificate.
    chmod(&key_path, 0o600);
    std::fs::write(&cert_path, b"not a certificate").unwrap();
    let err = Server::bind(cfg).await.unwrap_err();
    assert!(
        matches!(&err, cofferd::Error::Tls { path, .. } if path == &cert_path),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_then_closes_the_audit_log() {
    let Running {
        _tmp,
        cfg,
        addr,
        stop,
        task,
        a,
        mut conn,
        key_id,
    } = start_with_key("drain").await;
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    let (status, _) = get(&mut idle, "/healthz").await;
    assert_eq!(status, 200);

    // A request in flight: its head and half its body are in when shutdown begins.
    let body = serde_json::json!({"KeyId": key_id, "Plaintext": "aW4gZmxpZ2h0"}).to_string();
    let req = signed_request(&a, &addr, "Encrypt", body.as_bytes(), false);
    let split = req.len() - body.len() / 2;
    conn.write_all(&req[..split]).await.unwrap();
    let mut metrics_conn = TcpStream::connect(&addr).await.unwrap();
    loop {
        // Wait (by asking the server, not by sleeping) until it is reading that body.
        let (_, m) = get(&mut metrics_conn, "/metrics").await;
        if sample(&m, "cofferd_requests_in_flight") >= 1.0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    drop(metrics_conn);
    stop.send(()).unwrap();

    // The idle connection is closed by the drain...
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    // ...while the request in flight completes.
    conn.write_all(&req[split..]).await.unwrap();
    let (status, body) = read_response(&mut conn).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(v["CiphertextBlob"].as_str().is_some());
    // Then the connection closes, and run() returns.
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    task.await.unwrap().unwrap();
    assert!(TcpStream::connect(&addr).await.is_err());

    // The audit log ends with the close digest and verifies; the Encrypt is in it.
    let public = std::fs::read_to_string(cfg.data_dir.join(coffer::AUDIT_PUBLIC_KEY_FILE)).unwrap();
    let vk = coffer::audit_log::public_key_from_hex(public.trim()).unwrap();
    let report = coffer::audit_log::verify(cfg.data_dir.join(coffer::AUDIT_DIR), &vk).unwrap();
    assert!(report.closed);
    let mut log = String::new();
    for entry in std::fs::read_dir(cfg.data_dir.join(coffer::AUDIT_DIR)).unwrap() {
        log.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    let encrypt = log
        .lines()
        .find(|l| l.contains("\"eventName\":\"Encrypt\""))
        .expect("the Encrypt is in the log");
    // The access key that signed the request, as CloudTrail records it.
    assert!(
        encrypt.contains(&format!("\"accessKeyId\":\"{}\"", a.access_key_id)),
        "{encrypt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_errors_and_connections() {
    let Running {
        _tmp,
        cfg: _,
        addr,
        stop,
        task,
        a,
        mut conn,
        key_id,
    } = start_with_key("metrics").await;
    for _ in 0..3 {
        let (status, _) = call(
            &mut conn,
            &a,
            &addr,
            "Encrypt",
            serde_json::json!({"KeyId": key_id, "Plaintext": "eA=="}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, body) = call(
        &mut conn,
        &a,
        &addr,
        "DescribeKey",
        serde_json::json!({"KeyId": "alias/none"}),
    )
    .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("NotFoundException"))
    );
    let (_, m) = get(&mut conn, "/metrics").await;
    assert_eq!(
        sample(&m, "cofferd_requests_total{operation=\"Encrypt\"}"),
        3.0
    );
    assert_eq!(
        sample(&m, "cofferd_requests_total{operation=\"CreateKey\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "cofferd_errors_total{operation=\"DescribeKey\",code=\"NotFoundException\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "cofferd_request_duration_seconds_count{operation=\"Encrypt\"}"
        ),
        3.0
    );
    assert_eq!(sample(&m, "cofferd_connections_open"), 1.0);
    // The synchronous audit log has nothing unsynced between calls.
    assert_eq!(sample(&m, "cofferd_audit_unsynced_records"), 0.0);
    // No secret or key id beyond operation names in the exposition.
    assert!(!m.contains(&a.access_key_id));
    assert!(!m.contains(&key_id));
    drop(conn);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Reads the response's `x-amzn-RequestId`.
async fn call_with_id<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    a: &Admin,
    host: &str,
    op: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value, String) {
    let req = signed_request(a, host, op, body.to_string().as_bytes(), false);
    s.write_all(&req).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap()
    };
    let len: usize = header("content-length").parse().unwrap();
    let id = header("x-amzn-requestid");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap(), id)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_json_spans_by_request_id_never_a_secret_and_drains_on_sigterm() {
    use base64::Engine;
    use std::io::BufRead;
    let b64 = base64::engine::general_purpose::STANDARD;
    let tmp = TmpDir::new("logs");
    let data = tmp.0.join("data");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--root-key", tmp.0.join("root.key").to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--log-level", "debug"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("cofferd listening on http://")
        .unwrap()
        .to_owned();
    let a = admin(&data);
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let (status, key, _) =
        call_with_id(&mut conn, &a, &addr, "CreateKey", serde_json::json!({})).await;
    assert_eq!(status, 200);
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let plaintext = b"log-canary-plaintext-0123456789";
    let (status, _, encrypt_id) = call_with_id(
        &mut conn,
        &a,
        &addr,
        "Encrypt",
        serde_json::json!({"KeyId": key_id, "Plaintext": b64.encode(plaintext)}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, gdk, _) = call_with_id(
        &mut conn,
        &a,
        &addr,
        "GenerateDataKey",
        serde_json::json!({"KeyId": key_id, "KeySpec": "AES_256"}),
    )
    .await;
    assert_eq!(status, 200);
    let data_key = b64.decode(gdk["Plaintext"].as_str().unwrap()).unwrap();
    let (status, err, refused_id) = call_with_id(
        &mut conn,
        &a,
        &addr,
        "Decrypt",
        serde_json::json!({"CiphertextBlob": b64.encode(b"not a ciphertext at all, but long enough to parse")}),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    drop(conn);

    // SIGTERM: the binary drains and exits 0.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let logs = String::from_utf8(out.stderr).unwrap();

    // One JSON object per line; the requests' spans carry the ids the clients got.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["span"]["request_id"] == id)
            .unwrap_or_else(|| panic!("no log line for request {id} in\n{logs}"))
            .clone()
    };
    let enc = by_id(&encrypt_id);
    assert_eq!(enc["span"]["operation"], "Encrypt");
    assert_eq!(enc["span"]["access_key_id"], a.access_key_id.as_str());
    let refused = by_id(&refused_id);
    assert_eq!(refused["code"], "InvalidCiphertextException");
    assert!(lines.iter().any(|l| l["level"] == "WARN"
        && l["message"]
            .as_str()
            .unwrap_or_default()
            .contains("bootstrap administrator")));
    assert!(lines.iter().any(|l| l["message"]
        .as_str()
        .unwrap_or_default()
        .contains("audit log closed")));

    // Never a secret: not the plaintext, the data key, or the secret access key, in any
    // encoding.
    for (what, secret) in [
        ("plaintext", plaintext.to_vec()),
        ("data key", data_key),
        ("secret access key", a.secret.as_bytes().to_vec()),
    ] {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        for form in [
            String::from_utf8_lossy(&secret).into_owned(),
            b64.encode(&secret),
            hex,
        ] {
            assert!(!logs.contains(&form), "the {what} is in the logs");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_rate_limited_per_address_and_health_checks_are_not() {
    let tmp = TmpDir::new("metrics-limit");
    let mut cfg = config(&tmp.0);
    cfg.limits.per_ip = cofferd::RateLimit::new(0.001, 2.0).unwrap();
    let (addr, stop, task) = start(Server::bind(cfg).await.unwrap());
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        let (status, m) = get(&mut conn, "/metrics").await;
        assert_eq!(status, 200);
        assert!(m.contains("cofferd_connections_open"));
    }
    let (status, body) = get(&mut conn, "/metrics").await;
    assert_eq!(status, 400);
    assert!(body.contains("ThrottlingException"), "{body}");
    for _ in 0..5 {
        assert_eq!(get(&mut conn, "/healthz").await, (200, "ok\n".to_owned()));
    }
    drop(conn);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// `signed_request` with a `User-Agent` header (unsigned, as SDKs send it).
fn with_user_agent(req: Vec<u8>, agent: &str) -> Vec<u8> {
    let text = req;
    let at = text.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut out = text[..at].to_vec();
    out.extend_from_slice(format!("user-agent: {agent}\r\n").as_bytes());
    out.extend_from_slice(&text[at..]);
    out
}

/// The audited event whose `requestID` is `id`.
fn record_of(data_dir: &Path, id: &str) -> serde_json::Value {
    let lines = common::audit_lines(data_dir);
    lines
        .iter()
        .map(|l| &l["event"])
        .find(|e| e["requestID"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no audit record with requestID {id}: {lines:#?}"))
}

/// Sends `op` with `body` and a User-Agent; (status, answer, x-amzn-RequestId).
async fn call_as_agent(
    r: &mut Running,
    agent: &str,
    op: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value, String) {
    let req = signed_request(&r.a, &r.addr, op, body.to_string().as_bytes(), false);
    r.conn
        .write_all(&with_user_agent(req, agent))
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(r.conn.read(&mut byte).await.unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap()
    };
    let len: usize = header("content-length").parse().unwrap();
    let mut body = vec![0u8; len];
    r.conn.read_exact(&mut body).await.unwrap();
    (
        status,
        serde_json::from_slice(&body).unwrap(),
        header("x-amzn-requestid"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_carry_the_request_id_the_user_agent_and_why_a_call_was_denied() {
    let mut r = start_with_key("audit-fields").await;
    let data = r.cfg.data_dir.clone();
    let key_id = r.key_id.clone();

    // An allowed call: requestID is the response's x-amzn-RequestId, userAgent the header's.
    let agent = "aws-sdk-rust/1.0 os/linux lang/rust#1.80 coffer-test";
    let (status, described, id) = call_as_agent(
        &mut r,
        agent,
        "DescribeKey",
        serde_json::json!({ "KeyId": key_id }),
    )
    .await;
    assert_eq!(status, 200, "{described}");
    let key_arn = described["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    let rec = record_of(&data, &id);
    assert_eq!(rec["eventName"], "DescribeKey");
    assert_eq!(rec["userAgent"], agent);
    assert!(rec.get("additionalEventData").is_none(), "{rec}");

    // A User-Agent beyond coffer::MAX_USER_AGENT_CHARS is cut there.
    let long = "x".repeat(coffer::MAX_USER_AGENT_CHARS * 4);
    let (status, _, id) = call_as_agent(
        &mut r,
        &long,
        "DescribeKey",
        serde_json::json!({ "KeyId": key_id }),
    )
    .await;
    assert_eq!(status, 200);
    let rec = record_of(&data, &id);
    assert_eq!(
        rec["userAgent"].as_str().unwrap().len(),
        coffer::MAX_USER_AGENT_CHARS
    );

    // A key policy that denies Encrypt to the caller by a named statement.
    let sid = "NoEncryptForTheAdministrator";
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Owner", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{}:root", r.a.account_id)},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": sid, "Effect": "Deny",
             "Principal": {"AWS": r.a.principal_arn.clone()},
             "Action": "kms:Encrypt", "Resource": "*"},
        ]
    });
    let (status, answer, _) = call_as_agent(
        &mut r,
        agent,
        "PutKeyPolicy",
        serde_json::json!({
            "KeyId": key_id, "PolicyName": "default", "Policy": policy.to_string(),
        }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer, id) = call_as_agent(
        &mut r,
        agent,
        "Encrypt",
        serde_json::json!({ "KeyId": key_id, "Plaintext": "AAAA" }),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["__type"], "AccessDeniedException", "{answer}");
    let message = answer["message"].as_str().unwrap_or_default().to_owned()
        + answer["Message"].as_str().unwrap_or_default();
    // The client learns nothing of why.
    assert!(message.contains(&key_arn), "{answer}");
    assert!(!message.contains(sid), "{message}");
    assert!(!message.to_lowercase().contains("deny"), "{message}");
    // The record names the key and the statement that denied.
    let rec = record_of(&data, &id);
    assert_eq!(rec["eventName"], "Encrypt");
    assert_eq!(rec["errorCode"], "AccessDeniedException");
    assert_eq!(rec["userAgent"], agent);
    assert!(
        rec["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|res| res["ARN"] == key_arn.as_str()),
        "{rec}"
    );
    let data_ = &rec["additionalEventData"];
    assert_eq!(data_["deniedResource"], key_arn.as_str(), "{rec}");
    let reason = data_["denialReason"].as_str().unwrap();
    assert!(reason.contains("explicit deny"), "{reason}");
    assert!(reason.contains("the key policy"), "{reason}");
    assert!(reason.contains(sid), "{reason}");

    // Nothing allows: the reason says so, and that no grant does either.
    let principal = r.a.principal_arn.clone();
    let (status, answer, id) = call_as_agent(
        &mut r,
        agent,
        "PutKeyPolicy",
        serde_json::json!({
            "KeyId": key_id, "PolicyName": "default",
            "BypassPolicyLockoutSafetyCheck": true,
            "Policy": serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Sid": "OnlyDescribe", "Effect": "Allow",
                    "Principal": {"AWS": principal},
                    "Action": "kms:DescribeKey", "Resource": "*"}]
            }).to_string(),
        }),
    )
    .await;
    assert_eq!(status, 200, "{answer} {id}");
    let (status, answer, id) = call_as_agent(
        &mut r,
        agent,
        "Encrypt",
        serde_json::json!({ "KeyId": key_id, "Plaintext": "AAAA" }),
    )
    .await;
    assert_eq!(answer["__type"], "AccessDeniedException", "{answer}");
    assert_eq!(status, 400);
    let rec = record_of(&data, &id);
    let reason = rec["additionalEventData"]["denialReason"].as_str().unwrap();
    assert!(
        reason.contains("no statement of the key policy allows kms:Encrypt"),
        "{reason}"
    );
    assert!(reason.contains("no grant"), "{reason}");

    // A request refused before it reached an operation (a bad signature) carries them too.
    let good = std::mem::replace(&mut r.a.secret, "not-the-secret-access-key".into());
    let (status, answer, id) = call_as_agent(
        &mut r,
        agent,
        "DescribeKey",
        serde_json::json!({ "KeyId": key_id }),
    )
    .await;
    r.a.secret = good;
    assert_eq!(status, 400);
    assert_eq!(answer["__type"], "InvalidSignatureException", "{answer}");
    let rec = record_of(&data, &id);
    assert_eq!(rec["errorCode"], "InvalidSignatureException");
    assert_eq!(rec["userAgent"], agent);

    let _ = r.stop.send(());
    r.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_503_while_the_audit_log_cannot_be_written_and_200_once_it_recovers() {
    let tmp = TmpDir::new("healthz-audit");
    let mut cfg = config(&tmp.0);
    // Small files, so that calls soon roll the log over to its second file...
    cfg.audit.max_file_bytes = 4096;
    let (addr, stop, task) = start(Server::bind(cfg.clone()).await.unwrap());
    let a = admin(&cfg.data_dir);
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(get(&mut conn, "/healthz").await, (200, "ok\n".to_owned()));
    // ... whose name a directory takes (root may write anywhere, but cannot open a directory
    // as a file): the rollover fails, and the log with it.
    let next = cfg
        .data_dir
        .join(coffer::AUDIT_DIR)
        .join("audit-0000000002.jsonl");
    std::fs::create_dir(&next).unwrap();
    let mut failed = false;
    for _ in 0..100 {
        let (status, _) = call(&mut conn, &a, &addr, "CreateKey", serde_json::json!({})).await;
        if status == 500 {
            failed = true;
            break;
        }
        assert_eq!(status, 200);
    }
    assert!(
        failed,
        "the audit log never rolled over into the blocked file"
    );
    let (status, body) = get(&mut conn, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("audit log: cannot write ("), "{body}");
    assert!(!body.contains("store:"), "{body}");
    // Unauthenticated: the root cause, never a path inside the data directory.
    assert!(!body.contains(&*cfg.data_dir.to_string_lossy()), "{body}");
    // HEAD says the same, without the body.
    conn.write_all(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(conn.read(&mut byte).await.unwrap(), 1);
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 503 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // Calls are refused meanwhile.
    let (status, _) = call(&mut conn, &a, &addr, "CreateKey", serde_json::json!({})).await;
    assert_eq!(status, 500);

    // The obstacle goes: the sink retries by itself (every second), without a restart, and
    // /healthz says so. Bounded: a few retry intervals.
    std::fs::remove_dir(&next).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = get(&mut conn, "/healthz").await;
        if status == 200 {
            assert_eq!(body, "ok\n");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "the audit log did not recover: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = call(&mut conn, &a, &addr, "CreateKey", serde_json::json!({})).await;
    assert_eq!(status, 200, "{body:?}");
    drop(conn);
    let _ = stop.send(());
    let _ = task.await.unwrap();

    // The log verifies, with the gap in it: one recovery, the refused call counted.
    let public = std::fs::read_to_string(cfg.data_dir.join(coffer::AUDIT_PUBLIC_KEY_FILE)).unwrap();
    let vk = coffer::audit_log::public_key_from_hex(public.trim()).unwrap();
    let report = coffer::audit_log::verify(cfg.data_dir.join(coffer::AUDIT_DIR), &vk).unwrap();
    assert_eq!(report.recoveries, 1, "{report:?}");
    assert!(report.refused_in_gaps >= 1, "{report:?}");
    assert!(report.closed, "{report:?}");
}
