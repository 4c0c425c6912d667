//! `cofferd healthcheck`: asks a running cofferd's `/healthz` and exits 0 if it answers
//! `200 ok`, 1 otherwise (another status, no answer, no connection, the time out): a container
//! health check that needs no curl in the image (`HEALTHCHECK CMD ["cofferd", "healthcheck"]`).
//! Exit 2 is a bad argument. One GET over HTTP/1.1 (hyper), or HTTPS trusting only the
//! certificates of `--ca-file` (rustls).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::rt::TokioIo;

/// What `cofferd healthcheck` asks without `--url`: `--dev`'s (and the image's) address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:4000/healthz";

/// Most of an answer's body shown (`/healthz` answers a line or two).
const MAX_BODY: usize = 4096;

/// `cofferd healthcheck`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "cofferd healthcheck",
    about = "Ask a running cofferd's /healthz: exit 0 if it answers 200, 1 if not \
             (2: a bad argument).",
    disable_version_flag = true,
    args_override_self = true
)]
struct Args {
    /// The health endpoint: http://HOST:PORT/healthz, or https:// with --ca-file (a URL
    /// without a path asks /healthz)
    #[arg(long, value_name = "URL", default_value = DEFAULT_URL, value_parser = target)]
    url: Target,
    /// With an https URL: the certificates to trust (PEM), and only these
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Give up after N seconds, 1 to 3600
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout_secs: u64,
}

/// Where to send the GET.
#[derive(Clone, Debug)]
struct Target {
    https: bool,
    /// The host to connect to and, with TLS, the server name (an IPv6 address unbracketed).
    host: String,
    port: u16,
    /// The `Host` header.
    authority: String,
    path: String,
}

fn target(text: &str) -> Result<Target, String> {
    let uri: http::Uri = text.parse().map_err(|e| format!("not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("the URL starts with http:// or https://".to_owned()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "the URL names no host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("the URL may not hold a user name or password".to_owned());
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err("the URL names no host".to_owned());
    }
    let path = match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("/") => "/healthz".to_owned(),
        Some(p) => p.to_owned(),
    };
    Ok(Target {
        https,
        host: host.to_owned(),
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        authority: authority.as_str().to_owned(),
        path,
    })
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}

/// Runs `cofferd healthcheck ARGS…`: the answer on `out` when healthy, the reason on `err`
/// when not. Returns the exit code: 0 healthy, 1 not, 2 a bad argument.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    use clap::error::ErrorKind;
    let argv = std::iter::once("cofferd healthcheck").chain(args.iter().map(String::as_str));
    let usage = |err: &mut dyn Write, msg: &str| {
        let _ = writeln!(
            err,
            "cofferd healthcheck: {msg}\nFor more information, try 'cofferd healthcheck --help'."
        );
        2
    };
    let a = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) if e.kind() == ErrorKind::DisplayHelp => {
            let _ = write!(out, "{e}");
            return 0;
        }
        Err(e) => {
            let text = e.to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            return usage(err, text.lines().next().unwrap_or_default());
        }
    };
    let tls = match (a.url.https, &a.ca_file) {
        (true, Some(file)) => match client_config(file) {
            Ok(c) => Some(c),
            Err(msg) => return usage(err, &msg),
        },
        (true, None) => {
            return usage(
                err,
                "an https URL needs --ca-file (the certificates to trust)",
            )
        }
        (false, Some(_)) => return usage(err, "--ca-file is for an https URL only"),
        (false, None) => None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "cofferd healthcheck: cannot start the runtime: {e}");
            return 1;
        }
    };
    let limit = Duration::from_secs(a.timeout_secs);
    let answer = runtime.block_on(async { tokio::time::timeout(limit, get(&a.url, tls)).await });
    let url = &a.url;
    match answer {
        Ok(Ok((200, body))) => {
            let _ = writeln!(out, "healthy: {url}: 200 {}", body.trim_end());
            0
        }
        Ok(Ok((status, body))) => {
            let _ = writeln!(
                err,
                "cofferd healthcheck: unhealthy: {url}: {status} {}",
                body.trim_end()
            );
            1
        }
        Ok(Err(reason)) => {
            let _ = writeln!(err, "cofferd healthcheck: unhealthy: {url}: {reason}");
            1
        }
        Err(_) => {
            let _ = writeln!(
                err,
                "cofferd healthcheck: unhealthy: {url}: no answer within {} s",
                a.timeout_secs
            );
            1
        }
    }
}

/// A client configuration trusting the certificates in `ca_file` and nothing else.
fn client_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{pem::PemObject as _, CertificateDer};
    let bad = |e: &dyn std::fmt::Display| format!("{}: {e}", ca_file.display());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in it"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// GET `t`: the status and (the start of) the body, or why there is none.
async fn get(t: &Target, tls: Option<Arc<rustls::ClientConfig>>) -> Result<(u16, String), String> {
    let tcp = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let Some(config) = tls else {
        return exchange(TokioIo::new(tcp), t).await;
    };
    let name = rustls::pki_types::ServerName::try_from(t.host.clone())
        .map_err(|_| format!("not a server name: {}", t.host))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {}", crate::error_chain(&e)))?;
    exchange(TokioIo::new(stream), t).await
}

async fn exchange<I>(io: I, t: &Target) -> Result<(u16, String), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let http_error = |e: hyper::Error| format!("HTTP: {}", crate::error_chain(&e));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(http_error)?;
    // The connection is driven beside the request; it ends with the runtime.
    tokio::spawn(conn);
    let request = http::Request::get(t.path.as_str())
        .header(http::header::HOST, t.authority.as_str())
        .header(http::header::USER_AGENT, "cofferd-healthcheck")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("cannot make the request: {e}"))?;
    let response = sender.send_request(request).await.map_err(http_error)?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_else(|_| "(the body could not be read in full)".to_owned());
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> (u8, String, String) {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&args, &mut out, &mut err);
        let s = |v: Vec<u8>| String::from_utf8(v).unwrap();
        (code, s(out), s(err))
    }

    #[test]
    fn urls_are_read_with_their_defaults() {
        let t = target(DEFAULT_URL).unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port),
            (false, "127.0.0.1", 4000)
        );
        assert_eq!(t.path, "/healthz");
        let t = target("https://[::1]:4443").unwrap();
        assert_eq!((t.https, t.host.as_str(), t.port), (true, "::1", 4443));
        assert_eq!(t.to_string(), "https://[::1]:4443/healthz");
        let t = target("http://kms").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/healthz"));
    }

    #[test]
    fn fail_bad_arguments_exit_2_with_the_reason() {
        for (args, why) in [
            (&["--url", "ftp://x/healthz"][..], "http:// or https://"),
            (&["--url", "localhost:4000"][..], "http:// or https://"),
            (&["--url", "http://u:p@h:1/"][..], "user name"),
            (
                &["--url", "https://localhost:1/healthz"][..],
                "needs --ca-file",
            ),
            (&["--ca-file", "x.pem"][..], "for an https URL only"),
            (&["--timeout-secs", "0"][..], "--timeout-secs"),
            (&["--nope"][..], "--nope"),
            (
                &["--url", "https://h:1/", "--ca-file", "/nonexistent.pem"][..],
                "/nonexistent.pem",
            ),
        ] {
            let (code, out, err) = run_args(args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty());
            assert!(err.starts_with("cofferd healthcheck: "), "{err}");
            assert!(err.contains(why), "{args:?}: {err}");
        }
        let (code, out, _) = run_args(&["--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("--url"), "{out}");
    }
}
