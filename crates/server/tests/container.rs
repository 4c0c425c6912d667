//! The container pieces without a container engine: the Dockerfile's default ENTRYPOINT + CMD
//! (parsed out of the Dockerfile, so the two cannot drift) run as the built binary and its
//! HEALTHCHECK command passes against it; the plain-HTTP opt-in that CMD relies on; and
//! `cofferd healthcheck` against an in-process server (healthy: 0), nothing listening (1), a
//! 503 (1) and a server that never answers (1).
//!
//! The image itself is built and run by tests/container/smoke.sh where a Docker engine exists.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use std::process::{Command, Stdio};

use common::{Server, TempDir};

/// An instruction's exec-form argument list (`CMD ["a", "b"]`), the last of its kind in the
/// Dockerfile (the final stage's); for HEALTHCHECK, the list after its options' `CMD`.
fn dockerfile_argv(instruction: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Dockerfile")).unwrap();
    // Continuation lines joined, comments dropped.
    let joined = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let line = joined
        .lines()
        .rfind(|l| l.trim_start().starts_with(&format!("{instruction} ")))
        .unwrap_or_else(|| panic!("no {instruction} in the Dockerfile"));
    let rest = line.trim_start()[instruction.len()..].trim();
    let list = if instruction == "HEALTHCHECK" {
        rest.split_once(" CMD ")
            .unwrap_or_else(|| panic!("HEALTHCHECK without CMD: {line}"))
            .1
    } else {
        rest
    };
    serde_json::from_str(list.trim())
        .unwrap_or_else(|e| panic!("{instruction} is not in exec form (a JSON list): {e}: {line}"))
}

/// `cofferd` (the argv's first word, as the image's PATH finds it) replaced by the built binary.
fn command(argv: &[String]) -> Command {
    assert_eq!(argv[0], "cofferd", "{argv:?}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_cofferd"));
    c.args(&argv[1..]);
    c
}

/// Runs `cmd`: exit code, stdout, stderr.
fn output(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    let s = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code().unwrap(), s(out.stdout), s(out.stderr))
}

fn healthcheck(url: &str, extra: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cofferd"));
    c.args(["healthcheck", "--url", url]).args(extra);
    output(c)
}

#[test]
fn the_dockerfiles_default_command_serves_and_its_healthcheck_passes() {
    let entrypoint = dockerfile_argv("ENTRYPOINT");
    let cmd = dockerfile_argv("CMD");
    let check = dockerfile_argv("HEALTHCHECK");
    assert_eq!(entrypoint, ["cofferd"]);
    assert_eq!(check, ["cofferd", "healthcheck"]);
    // Development mode on every interface, by the explicit plain-HTTP opt-in.
    for word in ["--dev", "0.0.0.0:4000", "--allow-plain-http"] {
        assert!(cmd.iter().any(|w| w == word), "{word} in CMD {cmd:?}");
    }
    let argv: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();

    // Without the opt-in, the same command is refused; with it, it is valid and says so loudly.
    let without: Vec<String> = argv
        .iter()
        .filter(|w| *w != "--allow-plain-http")
        .cloned()
        .collect();
    let (code, _, err) = output({
        let mut c = command(&without);
        c.arg("--check-config");
        c
    });
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allow-plain-http"), "{err}");
    let (code, out, err) = output({
        let mut c = command(&argv);
        c.arg("--check-config");
        c
    });
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("WARNING: PLAIN HTTP OFF LOOPBACK: listening on 0.0.0.0:4000"),
        "{out}"
    );
    assert!(out.contains("allow_plain_http = true\n"), "{out}");

    // The command itself, on a free loopback port instead of 4000 (a later --listen wins).
    let mut server = command(&argv);
    server.args(["--listen", "127.0.0.1:0"]);
    server.stderr(Stdio::null());
    let srv = Server::spawn(server);
    // The image's health check, pointed at that port.
    let mut hc = command(&check);
    hc.args(["--url", &format!("http://{}/healthz", srv.addr)]);
    let (code, out, err) = output(hc);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("healthy: http://{}/healthz: 200 ok\n", srv.addr)
    );
    srv.stop();
}

#[test]
fn the_container_configuration_is_valid_with_its_secrets_in_place() {
    // docs/cofferd.container.toml (compose.yaml's prod service) beside files like the secrets
    // it names: valid as written (TLS on 0.0.0.0, no plain-HTTP opt-in, no warning).
    let dir = TempDir::new("container-config");
    let d = dir.path();
    let config = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/cofferd.container.toml"
    ))
    .unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(d.join(name))
            .unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
    };
    write("cofferd.toml", config.as_bytes());
    write("server.crt", cert.cert.pem().as_bytes());
    write("server.key", cert.signing_key.serialize_pem().as_bytes());
    write("root.key", &[7u8; 32]);
    let mut c = Command::new(env!("CARGO_BIN_EXE_cofferd"));
    c.args([
        "--check-config",
        "--config",
        d.join("cofferd.toml").to_str().unwrap(),
    ]);
    let (code, out, err) = output(c);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("listen = \"0.0.0.0:4000\"\n"), "{out}");
    assert!(out.contains("data_dir = \"/data\"\n"), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_for_a_healthy_server_and_1_otherwise() {
    let tmp = TempDir::new("healthcheck");
    let mut cfg = cofferd::Config::new(tmp.path().join("data"));
    cfg.root_key = cofferd::RootKeyProvider::KeyFile(Some(tmp.path().join("root.key")));
    let server = cofferd::Server::bind(cfg).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let run = |url: String, extra: &'static [&'static str]| {
        tokio::task::spawn_blocking(move || healthcheck(&url, extra))
    };

    // Healthy; a URL without a path asks /healthz.
    let (code, out, err) = run(format!("http://{addr}/healthz"), &[]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("healthy: http://{addr}/healthz: 200 ok\n"));
    let (code, _, err) = run(format!("http://{addr}"), &[]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    // Another path is not the health endpoint (400 UnknownOperationException): not healthy.
    let (code, _, err) = run(format!("http://{addr}/nothing"), &[]).await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/nothing: 400 "), "{err}");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    // Nothing listening: the port the server had, now closed.
    let (code, out, err) = run(format!("http://{addr}/healthz"), &[]).await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!(
            "cofferd healthcheck: unhealthy: http://{addr}/healthz: cannot connect"
        )),
        "{err}"
    );

    // 503 with the reason, as /healthz answers when the audit log cannot be written.
    let unhealthy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = unhealthy.local_addr().unwrap();
    let answer = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut s, _) = unhealthy.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        let body = "audit log: cannot write (No space left on device (os error 28))\n";
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(response.as_bytes()).await.unwrap();
        String::from_utf8(head).unwrap()
    });
    let (code, _, err) = run(format!("http://{addr}/healthz"), &[]).await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("503 audit log: cannot write (No space left on device"),
        "{err}"
    );
    let head = answer.await.unwrap();
    assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");

    // A server that accepts and never answers: the time limit ends it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let (code, _, err) = run(format!("http://{addr}/healthz"), &["--timeout-secs", "1"])
        .await
        .unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no answer within 1 s"), "{err}");
    drop(silent);
}

#[test]
fn listen_takes_a_host_name_resolved_at_start() {
    // `localhost` resolves to loopback addresses: plain HTTP without the opt-in.
    let dir = TempDir::new("listen-host");
    let mut cmd = Server::command(&[
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
        "--listen",
        "localhost:0",
    ]);
    cmd.stderr(Stdio::null());
    let srv = Server::spawn(cmd);
    let ip: std::net::SocketAddr = srv.addr.parse().unwrap();
    assert!(ip.ip().is_loopback(), "{ip}");
    let (code, _, err) = healthcheck(&format!("http://{}/healthz", srv.addr), &[]);
    assert_eq!(code, 0, "{err}");
    srv.stop();

    // Checked before anything starts: a bad address says why, a name that does not resolve
    // is named.
    let data = dir.path().join("data");
    let check = |listen: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cofferd"));
        c.args(["--check-config", "--data-dir", data.to_str().unwrap()])
            .args(["--listen", listen]);
        output(c)
    };
    let (code, out, _) = check("localhost:4000");
    assert_eq!(code, 0);
    assert!(out.contains("listen = \"localhost:4000\"\n"), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
    let (code, _, err) = check("localhost");
    assert_eq!(code, 2);
    assert!(err.contains("a port is needed"), "{err}");
    let (code, _, err) = check("::1:4000");
    assert_eq!(code, 2);
    assert!(err.contains("in brackets"), "{err}");
    let (code, _, err) = check("nosuch.invalid:4000");
    assert_eq!(code, 2);
    assert!(
        err.starts_with("cofferd: cannot resolve nosuch.invalid:4000"),
        "{err}"
    );
}
