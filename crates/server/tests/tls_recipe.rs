//! The TLS certificate recipe of docs/SERVER.md (§ TLS certificates), run literally: its
//! commands are taken from the doc between the `tls-recipe` markers (so the doc and this test
//! cannot drift), run with the system's `openssl` in a temporary directory, and cofferd serves
//! with the result; rustls clients that trust only the recipe's `ca.crt` then call it
//! (`cofferd healthcheck`, a hand-signed request, and `aws-sdk-kms` on rustls). A
//! one-line self-signed certificate, which the doc warns against, is refused by the same
//! client. Skipped, saying so, where there is no `openssl`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{Admin, Server, TempDir};

/// The shell commands of the recipe: the fenced block between the markers of docs/SERVER.md.
fn recipe() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/SERVER.md"))
        .unwrap();
    let start = doc
        .find("<!-- tls-recipe")
        .expect("the recipe's start marker");
    let end = doc
        .find("<!-- /tls-recipe -->")
        .expect("the recipe's end marker");
    let block = &doc[start..end];
    let body = block
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(body, _)| body)
        .expect("a ```sh block between the markers");
    assert!(body.contains("openssl"), "{body}");
    body.to_owned()
}

fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `script` with `sh -eu` in `dir`.
fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .args(["-eu", "-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the recipe failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cofferd healthcheck ARGS…`: exit code, stdout, stderr.
fn healthcheck(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .arg("healthcheck")
        .args(args)
        .output()
        .unwrap();
    let s = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code().unwrap(), s(out.stdout), s(out.stderr))
}

/// A rustls client configuration that trusts the certificates of `ca` and nothing else.
fn trusting(ca: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject as _, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// Sends `request` over TLS to `addr`, verifying the server as `name`; the answer's text.
fn tls_exchange(
    config: Arc<rustls::ClientConfig>,
    name: &str,
    addr: &str,
    request: &[u8],
) -> Result<String, std::io::Error> {
    let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, std::net::TcpStream::connect(addr)?);
    s.write_all(request)?;
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => {}
        // The server may close the connection without a close_notify after `connection: close`.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8(buf).unwrap())
}

/// CreateKey, Encrypt and Decrypt with `aws-sdk-kms` at `endpoint`, trusting only `ca`.
async fn sdk_round_trip(admin: &Admin, endpoint: &str, ca: &Path) {
    use aws_sdk_kms::config::retry::RetryConfig;
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_kms::primitives::Blob;
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty().with_pem_certificate(std::fs::read(ca).unwrap());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https();
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(admin.region.clone()))
        .credentials_provider(Credentials::new(
            &admin.access_key_id,
            &admin.secret,
            None,
            None,
            "recipe",
        ))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .http_client(http)
        .build();
    let kms = aws_sdk_kms::Client::from_conf(conf);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let ct = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"over TLS".to_vec()))
        .send()
        .await
        .unwrap();
    let pt = kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"over TLS");
}

#[test]
fn the_documented_certificate_recipe_is_accepted_by_rustls_clients() {
    if !have_openssl() {
        eprintln!("skipped: no `openssl` on PATH to run the recipe of docs/SERVER.md");
        return;
    }
    let dir = TempDir::new("tls-recipe");
    let d = dir.path();
    sh(d, &recipe());
    for f in ["ca.crt", "ca.key", "server.crt", "server.key"] {
        assert!(d.join(f).is_file(), "the recipe made no {f}");
    }
    // umask 077: the keys are owner-only (cofferd refuses a TLS key others may read).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(d.join("server.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "server.key mode {mode:o}");
    }

    let data = d.join("data");
    let mut cmd = Server::command(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--root-key",
        d.join("root.key").to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        d.join("server.crt").to_str().unwrap(),
        "--tls-key",
        d.join("server.key").to_str().unwrap(),
    ]);
    cmd.stderr(Stdio::null());
    let srv = Server::spawn(cmd);
    let port = srv.addr.rsplit_once(':').unwrap().1.to_owned();
    let ca = d.join("ca.crt");

    // `cofferd healthcheck` (rustls, trusting only ca.crt), by the DNS name and by the IP
    // address the certificate names.
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{port}/healthz");
        let (code, out, err) = healthcheck(&["--url", &url, "--ca-file", ca.to_str().unwrap()]);
        assert_eq!(code, 0, "{host}: {err}");
        assert!(out.starts_with("healthy: "), "{out}");
    }
    // A name the certificate does not hold is refused.
    let e = tls_exchange(trusting(&ca), "coffer.example.com", &srv.addr, b"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid for name"), "{e}");

    // A signed KMS call over the same trust.
    let admin = Admin::of(&data);
    let host = format!("localhost:{port}");
    let request = common::signed_request(&admin, &host, "CreateKey", b"{}", true);
    let answer = tls_exchange(trusting(&ca), "localhost", &srv.addr, &request).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"KeyId\""), "{answer}");
    // And the official SDK, on rustls, with only ca.crt in its trust store.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(sdk_round_trip(
        &admin,
        &format!("https://localhost:{port}"),
        &ca,
    ));
    srv.stop();

    // What the doc warns against: a one-line self-signed certificate (CA:TRUE) as the server's
    // own is refused by rustls with CaUsedAsEndEntity.
    sh(
        d,
        "umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
         -keyout old.key -out old.crt -days 1 -subj /CN=localhost \
         -addext subjectAltName=DNS:localhost,IP:127.0.0.1",
    );
    let mut cmd = Server::command(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--root-key",
        d.join("root.key").to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        d.join("old.crt").to_str().unwrap(),
        "--tls-key",
        d.join("old.key").to_str().unwrap(),
    ]);
    cmd.stderr(Stdio::null());
    let srv = Server::spawn(cmd);
    let e = tls_exchange(trusting(&d.join("old.crt")), "localhost", &srv.addr, b"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("CaUsedAsEndEntity"), "{e}");
    srv.stop();
}
