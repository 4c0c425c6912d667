//! The binary's life cycle as an operator sees it: start, signals, failed starts, and the
//! messages it leaves behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::Path;
use std::process::Stdio;

mod common;

use common::{audit_lines, Server, TempDir};

/// A shell waiting to send SIGTERM to the process id written to it: started beforehand, so the
/// signal follows the write by a shell builtin's latency, not a fork and exec (unsafe code, and
/// with it `kill(2)` itself, is forbidden here).
struct Killer(std::process::Child);

impl Killer {
    fn ready() -> Self {
        let child = std::process::Command::new("sh")
            .args(["-c", "read pid && kill -TERM \"$pid\""])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        Self(child)
    }

    fn sigterm(mut self, pid: u32) {
        use std::io::Write;
        let mut stdin = self.0.stdin.take().unwrap();
        writeln!(stdin, "{pid}").unwrap();
        drop(stdin);
        let sent = self.0.wait().unwrap();
        assert!(sent.success(), "kill -TERM {pid}: {sent:?}");
    }
}

/// `cofferd` serving `data` on an ephemeral loopback port, its root key beside `data`.
fn serve_args(data: &Path) -> Vec<String> {
    let root = data.with_file_name("root.key");
    vec![
        "--data-dir".into(),
        data.display().to_string(),
        "--root-key".into(),
        root.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]
}

#[test]
fn sigterm_right_after_the_listening_line_drains_and_writes_the_close_digest() {
    let tmp = TempDir::new("sigterm-at-start");
    let data = tmp.path().join("data");
    let args = serve_args(&data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for round in 0..10 {
        let mut cmd = Server::command(&args);
        cmd.stderr(Stdio::null());
        let killer = Killer::ready();
        let mut server = Server::spawn(cmd);
        // At once: no request, no pause between the readiness line and the signal.
        killer.sigterm(server.child.id());
        let status = server.child.wait().unwrap();
        assert!(
            status.success(),
            "round {round}: cofferd did not exit cleanly on SIGTERM: {status:?}"
        );
        let lines = audit_lines(&data);
        let last = lines.last().unwrap();
        assert_eq!(last["type"], "digest", "round {round}: last line {last}");
        assert_eq!(
            last["digest"]["reason"], "close",
            "round {round}: last line {last}"
        );
    }
}

/// Runs `cofferd` with `args` to completion: exit code, stdout, stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Server::command(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_start_that_cannot_listen_says_why_once_and_creates_nothing() {
    let tmp = TempDir::new("bind-fails");
    let data = tmp.path().join("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let root = tmp.path().join("root.key");
    let (code, out, err) = run(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--root-key",
        root.to_str().unwrap(),
        "--listen",
        &addr,
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!out.contains("listening"), "{out}");
    let os = std::io::Error::from(std::io::ErrorKind::AddrInUse).to_string();
    let line = err
        .lines()
        .find(|l| l.starts_with("cofferd: "))
        .unwrap_or_else(|| panic!("no error line in {err}"));
    assert!(line.contains(&format!("cannot listen on {addr}")), "{line}");
    assert_eq!(
        line.matches("Address already in use").count(),
        1,
        "each cause once: {line} ({os})"
    );
    // Nothing left behind: no data dir, no root key.
    assert!(!data.exists(), "a failed start created {}", data.display());
    assert!(!root.exists(), "a failed start created {}", root.display());
}

fn write(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn check_config_checks_the_root_key_directory_and_the_tls_files() {
    let tmp = TempDir::new("check-files");
    let dir = tmp.path();
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec!["--check-config", "--data-dir", data];
        args.extend_from_slice(extra);
        run(&args)
    };

    // A root key to be created in a directory that does not exist, or is a file.
    let missing = dir.join("no-such-dir").join("root.key");
    let (code, _, err) = check(&["--root-key", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no-such-dir: the root key's directory does not exist"),
        "{err}"
    );
    write(&dir.join("plain"), "x", 0o600);
    let under_file = dir.join("plain").join("root.key");
    let (code, _, err) = check(&["--root-key", under_file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a directory"), "{err}");
    // An existing root key readable by others.
    let exposed = dir.join("exposed.key");
    write(&exposed, "0123", 0o644);
    let (code, _, err) = check(&["--root-key", exposed.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mode 644"), "{err}");
    // A root key to be created in a directory that exists, and the default one in a data dir
    // the first start creates: fine.
    let fresh = dir.join("fresh.key");
    let (code, _, err) = check(&["--root-key", fresh.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = check(&[]);
    assert_eq!(code, 0, "{err}");

    // TLS: both files must exist and be files; the key is the owner's alone.
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let (cert_s, key_s) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let tls = |cert: &str, key: &str| check(&["--tls-cert", cert, "--tls-key", key]);
    write(&key, "key", 0o600);
    let (code, _, err) = tls(cert_s, key_s);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cert.pem"), "{err}");
    write(&cert, "cert", 0o644);
    let (code, _, err) = tls(dir.to_str().unwrap(), key_s);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    std::fs::remove_file(&key).unwrap();
    let (code, _, err) = tls(cert_s, key_s);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key.pem"), "{err}");
    write(&key, "key", 0o640);
    let (code, _, err) = tls(cert_s, key_s);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mode 640"), "{err}");
    // Files that are not a certificate and a key.
    write(&key, "key", 0o600);
    let (code, _, err) = tls(cert_s, key_s);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cert.pem: no certificate in the file"),
        "{err}"
    );
    // A real pair: fine.
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let secret_pem = pair.signing_key.serialize_pem();
    write(&cert, &pair.cert.pem(), 0o644);
    write(&key, "not a key", 0o600);
    let (code, _, err) = tls(cert_s, key_s);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key.pem: no PKCS#8"), "{err}");
    write(&key, &secret_pem, 0o600);
    let (code, out, err) = tls(cert_s, key_s);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration OK"), "{out}");
    assert!(!out.contains(&secret_pem) && !err.contains(&secret_pem));
}

/// `METHOD path` to `addr` on one connection, closed after the answer: the raw response.
fn raw(addr: &str, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn healthz_answers_get_and_head_alike_head_without_a_body() {
    let tmp = TempDir::new("healthz");
    let data = tmp.path().join("data");
    let args = serve_args(&data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = Server::command(&args);
    cmd.stderr(Stdio::null());
    let server = Server::spawn(cmd);

    let get = raw(&server.addr, "GET", "/healthz");
    let (get_head, get_body) = get.split_once("\r\n\r\n").unwrap();
    assert!(get_head.starts_with("HTTP/1.1 200 "), "{get}");
    assert_eq!(get_body, "ok\n");
    let head = raw(&server.addr, "HEAD", "/healthz");
    let (head_head, head_body) = head.split_once("\r\n\r\n").unwrap();
    assert!(head_head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(head_body, "", "a HEAD answer has no body");
    let header = |h: &str, name: &str| {
        h.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} in {h}"))
    };
    // The same headers as GET's, Content-Length included.
    for name in ["content-type", "content-length"] {
        assert_eq!(header(head_head, name), header(get_head, name), "{name}");
    }
    // Health checks stay unauthenticated and answer repeatedly (the store probe is reused).
    for _ in 0..5 {
        assert!(raw(&server.addr, "HEAD", "/healthz").starts_with("HTTP/1.1 200 "));
    }
    server.stop();
}
