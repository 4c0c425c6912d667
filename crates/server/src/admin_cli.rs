//! `cofferd credentials …`: the credential-management client of a running cofferd. It signs
//! `CofferAdmin.*` requests with SigV4 (an administrator credential) and sends them over plain
//! HTTP (loopback) or HTTPS (trusting only the certificates of `--ca-file`), one blocking
//! HTTP/1.1 exchange per request.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coffer::SecretBytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{ADMIN_TARGET_PREFIX, CONTENT_TYPE, SERVICE};

/// The usage text of `cofferd credentials`.
pub const USAGE: &str = "\
usage: cofferd credentials COMMAND [options]

commands:
  create --principal ARN [--admin] [--policy-file FILE]... [--tag KEY=VALUE]...
         [--description TEXT] [--out FILE]
                        a new credential (least privilege: only what its identity
                        policies and the key policies allow; --admin lets it call
                        CofferAdmin, where its policies' coffer: actions decide what it
                        may manage); prints it in the admin-credentials.json shape
                        (the secret is shown once)
  list [--limit N] [--marker M]
                        the credentials, never a secret (all pages unless --limit/--marker)
  rotate ACCESS_KEY_ID [--grace-secs N] [--out FILE]
                        a new key for the same principal; the old one keeps working N
                        seconds (default 86400; 0: it stops at once)
  revoke ACCESS_KEY_ID  the key stops working at once (not the last administrator)
  retire-bootstrap      revoke the bootstrap administrator and delete
                        admin-credentials.json (needs another administrator first)

options:
  --endpoint URL        http://HOST:PORT or https://HOST:PORT (default: $AWS_ENDPOINT_URL)
  --ca-file PEM         certificates to trust for https (only these)
  --credentials-file F  an administrator credential, JSON as admin-credentials.json
                        (default: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY)
  --region REGION       default: the credentials file's, $AWS_REGION, $AWS_DEFAULT_REGION,
                        us-east-1
";

/// How long a connection, a write or a read may take.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response accepted.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Runs `cofferd credentials ARGS…`, writing results to `out` (notes go to stderr); the error
/// is a message for the operator (for a refused request: the AWS error code and message).
pub fn run(args: &[String], out: &mut dyn Write) -> Result<(), String> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(format!("a command is required\n{USAGE}"));
    };
    if matches!(cmd.as_str(), "-h" | "--help" | "help") {
        return out.write_all(USAGE.as_bytes()).map_err(|e| e.to_string());
    }
    let mut opts = Options::default();
    let mut positional = Vec::new();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--endpoint" => opts.endpoint = Some(value(arg)?),
            "--ca-file" => opts.ca_file = Some(PathBuf::from(value(arg)?)),
            "--credentials-file" => opts.credentials_file = Some(PathBuf::from(value(arg)?)),
            "--region" => opts.region = Some(value(arg)?),
            "--principal" => opts.principal = Some(value(arg)?),
            "--admin" => opts.admin = true,
            "--policy-file" => opts.policy_files.push(PathBuf::from(value(arg)?)),
            "--tag" => {
                let v = value(arg)?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--tag wants KEY=VALUE, not {v}"))?;
                opts.tags.insert(k.to_owned(), val.to_owned());
            }
            "--description" => opts.description = Some(value(arg)?),
            "--out" => opts.out_file = Some(PathBuf::from(value(arg)?)),
            "--grace-secs" => {
                let v = value(arg)?;
                opts.grace_secs = Some(
                    v.parse()
                        .map_err(|_| format!("--grace-secs: not a whole number: {v}"))?,
                );
            }
            "--limit" => {
                let v = value(arg)?;
                opts.limit = Some(
                    v.parse()
                        .map_err(|_| format!("--limit: not a whole number: {v}"))?,
                );
            }
            "--marker" => opts.marker = Some(value(arg)?),
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
            s => positional.push(s.to_owned()),
        }
    }
    let one_key = |positional: &[String]| -> Result<String, String> {
        match positional {
            [k] => Ok(k.clone()),
            _ => Err(format!("{cmd} takes one ACCESS_KEY_ID")),
        }
    };
    let no_positional = |positional: &[String]| -> Result<(), String> {
        match positional.first() {
            None => Ok(()),
            Some(p) => Err(format!("{cmd}: unexpected argument {p}")),
        }
    };
    match cmd.as_str() {
        "create" => {
            no_positional(&positional)?;
            let principal = opts
                .principal
                .clone()
                .ok_or("create needs --principal ARN")?;
            let mut policies = Vec::new();
            for f in &opts.policy_files {
                let text =
                    std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| format!("{}: not JSON: {e}", f.display()))?;
                coffer_credentials::reject_duplicate_keys(text.as_bytes()).map_err(|e| {
                    format!(
                        "{}: names a member twice (line {}, column {})",
                        f.display(),
                        e.line(),
                        e.column()
                    )
                })?;
                policies.push(text);
            }
            let mut body = json!({
                "PrincipalArn": principal,
                "Administrator": opts.admin,
                "IdentityPolicies": policies,
                "Tags": opts.tags,
            });
            if let Some(d) = &opts.description {
                body["Description"] = json!(d);
            }
            let client = Client::new(&opts)?;
            let resp = client.call("CreateCredential", &body)?;
            print_new_credential(&client, &opts, &resp, out)
        }
        "list" => {
            no_positional(&positional)?;
            let client = Client::new(&opts)?;
            if opts.limit.is_some() || opts.marker.is_some() {
                let mut body = json!({});
                if let Some(l) = opts.limit {
                    body["Limit"] = json!(l);
                }
                if let Some(m) = &opts.marker {
                    body["Marker"] = json!(m);
                }
                let resp = client.call("ListCredentials", &body)?;
                return print_json(out, &resp.json()?);
            }
            let mut all = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let mut body = json!({ "Limit": 1000 });
                if let Some(m) = &marker {
                    body["Marker"] = json!(m);
                }
                let page = client.call("ListCredentials", &body)?.json()?;
                if let Some(items) = page.get("Credentials").and_then(Value::as_array) {
                    all.extend(items.iter().cloned());
                }
                match page.get("NextMarker").and_then(Value::as_str) {
                    Some(m) if page.get("Truncated") == Some(&Value::Bool(true)) => {
                        marker = Some(m.to_owned());
                    }
                    _ => break,
                }
            }
            print_json(out, &json!({ "Credentials": all, "Truncated": false }))
        }
        "rotate" => {
            let key = one_key(&positional)?;
            let mut body = json!({ "AccessKeyId": key });
            if let Some(g) = opts.grace_secs {
                body["GracePeriodSeconds"] = json!(g);
            }
            let client = Client::new(&opts)?;
            let resp = client.call("RotateCredential", &body)?;
            print_new_credential(&client, &opts, &resp, out)?;
            let v = resp.json()?;
            let note = match v.get("PreviousExpiresAt").and_then(Value::as_i64) {
                Some(t) => format!(
                    "the previous key {key} keeps working until {} (Unix {t})",
                    crate::amz_date(t)
                ),
                None => format!("the previous key {key} no longer works"),
            };
            note_stderr(&note);
            Ok(())
        }
        "revoke" => {
            let key = one_key(&positional)?;
            let client = Client::new(&opts)?;
            let resp = client.call("RevokeCredential", &json!({ "AccessKeyId": key }))?;
            print_json(out, &resp.json()?)
        }
        "retire-bootstrap" => {
            no_positional(&positional)?;
            let client = Client::new(&opts)?;
            let resp = client.call("RetireBootstrapCredential", &json!({}))?;
            print_json(out, &resp.json()?)
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    }
}

#[derive(Default)]
struct Options {
    endpoint: Option<String>,
    ca_file: Option<PathBuf>,
    credentials_file: Option<PathBuf>,
    region: Option<String>,
    principal: Option<String>,
    admin: bool,
    policy_files: Vec<PathBuf>,
    tags: BTreeMap<String, String>,
    description: Option<String>,
    out_file: Option<PathBuf>,
    grace_secs: Option<i64>,
    limit: Option<i64>,
    marker: Option<String>,
}

fn note_stderr(msg: &str) {
    let _ = writeln!(std::io::stderr(), "cofferd credentials: {msg}");
}

fn print_json(out: &mut dyn Write, v: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    writeln!(out, "{text}").map_err(|e| e.to_string())
}

/// Prints (or writes to `--out`, mode 0600, never over an existing file) a new credential in
/// the shape of `admin-credentials.json`, so it can be used as `--credentials-file`.
fn print_new_credential(
    client: &Client,
    opts: &Options,
    resp: &Response,
    out: &mut dyn Write,
) -> Result<(), String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct New<'a> {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        account_id: &'a str,
        principal_arn: &'a str,
        #[serde(default)]
        region: Option<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct Shaped<'a> {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        account_id: &'a str,
        principal_arn: &'a str,
        region: &'a str,
    }
    let new: New<'_> = serde_json::from_slice(resp.body.expose()).map_err(|e| unexpected(&e))?;
    let shaped = Shaped {
        access_key_id: new.access_key_id,
        secret_access_key: new.secret_access_key,
        account_id: new.account_id,
        principal_arn: new.principal_arn,
        region: new.region.unwrap_or(&client.region),
    };
    let mut text = Vec::with_capacity(1024);
    serde_json::to_writer_pretty(&mut text, &shaped).map_err(|e| e.to_string())?;
    text.push(b'\n');
    let text = SecretBytes::new(text);
    match &opts.out_file {
        Some(path) => {
            write_new_private(path, text.expose())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            note_stderr(&format!(
                "wrote {} ({}) to {} (mode 0600); the secret is not shown again",
                new.access_key_id,
                new.principal_arn,
                path.display()
            ));
        }
        None => {
            out.write_all(text.expose()).map_err(|e| e.to_string())?;
            note_stderr(
                "the secret access key above is shown only this once: store it now \
                 (or use --out FILE)",
            );
        }
    }
    Ok(())
}

fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The administrator credential a credentials file holds.
#[derive(Deserialize)]
struct CredentialsFile {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    region: Option<String>,
}

impl Drop for CredentialsFile {
    fn drop(&mut self) {
        coffer_crypto::wipe(&mut std::mem::take(&mut self.secret_access_key).into_bytes());
    }
}

/// Where and as whom to send requests.
struct Client {
    scheme_https: bool,
    host: String,
    port: u16,
    /// The `Host` header: the host, and the port unless it is the scheme's default.
    host_header: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    access_key_id: String,
    secret: SecretBytes,
    region: String,
}

/// A response: the status and the body (wiped on drop: it may hold a secret).
struct Response {
    status: u16,
    body: SecretBytes,
}

/// A response that is not the JSON expected: where it went wrong, not what it said (a response
/// can hold a secret access key, which the parser's message could quote).
fn unexpected(e: &serde_json::Error) -> String {
    format!(
        "unexpected response (line {}, column {})",
        e.line(),
        e.column()
    )
}

impl Response {
    fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(self.body.expose()).map_err(|e| unexpected(&e))
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Client {
    fn new(opts: &Options) -> Result<Self, String> {
        let endpoint = opts
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .ok_or("--endpoint URL is required (or AWS_ENDPOINT_URL)")?;
        let (https, rest) = if let Some(r) = endpoint.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = endpoint.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!(
                "--endpoint must start with http:// or https://: {endpoint}"
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains('/') || authority.contains('@') {
            return Err(format!(
                "--endpoint must be SCHEME://HOST[:PORT]: {endpoint}"
            ));
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = split_host_port(authority, default_port)
            .ok_or_else(|| format!("--endpoint: not HOST[:PORT]: {authority}"))?;
        let host_header = if port == default_port {
            authority
                .strip_suffix(&format!(":{port}"))
                .unwrap_or(authority)
                .to_owned()
        } else {
            authority.to_owned()
        };
        let tls = if https {
            let ca = opts
                .ca_file
                .as_deref()
                .ok_or("https needs --ca-file PEM (the certificates to trust)")?;
            Some(tls_config(ca)?)
        } else {
            if opts.ca_file.is_some() {
                return Err("--ca-file applies to an https:// endpoint only".into());
            }
            None
        };
        let (access_key_id, secret, file_region) = match &opts.credentials_file {
            Some(path) => {
                crate::config_file::check_private(path).map_err(|e| e.to_string())?;
                let mut bytes =
                    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let parsed: Result<CredentialsFile, _> =
                    coffer_credentials::reject_duplicate_keys(&bytes)
                        .and_then(|()| serde_json::from_slice(&bytes));
                coffer_crypto::wipe(&mut bytes);
                // Where, not what: the parser's message could quote the secret.
                let f = parsed.map_err(|e| {
                    format!(
                        "{}: not a credentials file (line {}, column {})",
                        path.display(),
                        e.line(),
                        e.column()
                    )
                })?;
                (
                    f.access_key_id.clone(),
                    SecretBytes::copy_from(f.secret_access_key.as_bytes()),
                    f.region.clone(),
                )
            }
            None => {
                let id = env("AWS_ACCESS_KEY_ID")
                    .ok_or("--credentials-file FILE is required (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")?;
                let secret = std::env::var_os("AWS_SECRET_ACCESS_KEY")
                    .filter(|v| !v.is_empty())
                    .ok_or("AWS_SECRET_ACCESS_KEY is not set")?;
                let mut raw = secret.into_encoded_bytes();
                let secret = SecretBytes::copy_from(&raw);
                coffer_crypto::wipe(&mut raw);
                (id, secret, None)
            }
        };
        let region = opts
            .region
            .clone()
            .or(file_region)
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        Ok(Self {
            scheme_https: https,
            host,
            port,
            host_header,
            tls,
            access_key_id,
            secret,
            region,
        })
    }

    /// Sends `CofferAdmin.<op>` with `body`; an error response becomes `CODE: message`.
    fn call(&self, op: &str, body: &Value) -> Result<Response, String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let amz_date = crate::amz_date(crate::amz_date::now_secs());
        let target = format!("{ADMIN_TARGET_PREFIX}{op}");
        let mut headers = http::HeaderMap::new();
        let value = |v: &str| {
            http::HeaderValue::from_str(v).map_err(|_| format!("not a valid header value: {v}"))
        };
        headers.insert(http::header::HOST, value(&self.host_header)?);
        headers.insert("x-amz-date", value(&amz_date)?);
        headers.insert("x-amz-target", value(&target)?);
        headers.insert(http::header::CONTENT_TYPE, value(CONTENT_TYPE)?);
        let parts = crate::sigv4::RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
        };
        let auth = crate::sigv4::authorization(
            &crate::sigv4::SigningParams {
                access_key_id: &self.access_key_id,
                secret_access_key: &self.secret,
                region: &self.region,
                service: SERVICE,
                amz_date: &amz_date,
            },
            &parts,
            &["content-type", "host", "x-amz-date", "x-amz-target"],
            &body,
        );
        let mut request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Date: {amz_date}\r\nX-Amz-Target: {target}\r\n\
             Content-Type: {CONTENT_TYPE}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            self.host_header,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let response = self.exchange(&request)?;
        if response.status == 200 {
            return Ok(response);
        }
        let v: Value = serde_json::from_slice(response.body.expose()).unwrap_or_default();
        let code = v
            .get("__type")
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
            .unwrap_or_else(|| format!("HTTP {}", response.status));
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        Err(format!("{code}: {message}"))
    }

    fn exchange(&self, request: &[u8]) -> Result<Response, String> {
        let addr = format!("{}:{}", self.host, self.port);
        let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&addr)
            .map_err(|e| format!("{addr}: {e}"))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = stream.ok_or_else(|| match last {
            Some(e) => format!("cannot connect to {addr}: {e}"),
            None => format!("{addr}: no address"),
        })?;
        let io = |e: std::io::Error| format!("{addr}: {e}");
        tcp.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        tcp.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        match (&self.tls, self.scheme_https) {
            (Some(config), true) => {
                let name = rustls::pki_types::ServerName::try_from(
                    self.host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                )
                .map_err(|e| format!("{}: {e}", self.host))?;
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| format!("TLS: {e}"))?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                http_exchange(&mut s, request).map_err(|e| format!("{addr}: {e}"))
            }
            _ => {
                let mut s = tcp;
                http_exchange(&mut s, request).map_err(|e| format!("{addr}: {e}"))
            }
        }
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`.
fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((format!("[{host}]"), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => Some((h.to_owned(), p.parse().ok()?)),
        Some(_) => None,
        None => Some((authority.to_owned(), default_port)),
    }
}

fn tls_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{}: {e}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate", ca_file.display()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Writes `request`, reads one HTTP/1.1 response (its body by `Content-Length`, or to the end
/// of the stream).
fn http_exchange<S: Read + Write>(s: &mut S, request: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    s.write_all(request)?;
    s.flush()?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return Err(bad("response headers too long"));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(bad("connection closed before a response"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let head = std::str::from_utf8(buf.get(..header_end).unwrap_or_default())
        .map_err(|_| bad("response headers are not text"))?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no HTTP status"))?;
    let mut length = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = Some(
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| bad("bad Content-Length"))?,
                );
            } else if k.trim().eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad("chunked responses are not supported"));
            }
        }
    }
    let mut body = buf.split_off(header_end.saturating_add(4).min(buf.len()));
    match length {
        Some(n) if n > MAX_RESPONSE => return Err(bad("response too large")),
        Some(n) => {
            body.reserve(n.saturating_sub(body.len()));
            while body.len() < n {
                let k = s.read(&mut chunk)?;
                if k == 0 {
                    return Err(bad("response body cut short"));
                }
                body.extend_from_slice(chunk.get(..k).unwrap_or_default());
            }
            body.truncate(n);
        }
        None => loop {
            let k = match s.read(&mut chunk) {
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e),
            };
            if k == 0 {
                break;
            }
            if body.len() > MAX_RESPONSE {
                return Err(bad("response too large"));
            }
            body.extend_from_slice(chunk.get(..k).unwrap_or_default());
        },
    }
    coffer_crypto::wipe(&mut chunk);
    Ok(Response {
        status,
        body: SecretBytes::new(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(
            split_host_port("127.0.0.1:4000", 80),
            Some(("127.0.0.1".into(), 4000))
        );
        assert_eq!(
            split_host_port("kms.local", 443),
            Some(("kms.local".into(), 443))
        );
        assert_eq!(
            split_host_port("[::1]:8443", 443),
            Some(("[::1]".into(), 8443))
        );
        assert_eq!(split_host_port("[::1]", 443), Some(("[::1]".into(), 443)));
        assert_eq!(split_host_port("::1:80", 443), None);
        assert_eq!(split_host_port("h:notaport", 443), None);
    }

    #[test]
    fn response_parsing() {
        struct Io(std::io::Cursor<Vec<u8>>, Vec<u8>);
        impl Read for Io {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                self.0.read(b)
            }
        }
        impl Write for Io {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.1.write(b)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut io = Io(
            std::io::Cursor::new(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\n{\"a\"}trailing".to_vec(),
            ),
            Vec::new(),
        );
        let r = http_exchange(&mut io, b"req").unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.body.expose(), b"{\"a\"}");
        assert_eq!(io.1, b"req");
        let mut io = Io(
            std::io::Cursor::new(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}".to_vec()),
            Vec::new(),
        );
        assert!(http_exchange(&mut io, b"").is_err());
    }

    #[test]
    fn usage_and_argument_errors() {
        let mut out = Vec::new();
        run(&["--help".into()], &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("retire-bootstrap"));
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut out = Vec::new();
        assert!(run(&args(&["nope"]), &mut out)
            .unwrap_err()
            .contains("unknown command"));
        assert!(run(
            &args(&["create", "--endpoint", "http://127.0.0.1:1"]),
            &mut out
        )
        .unwrap_err()
        .contains("--principal"));
        assert!(run(&args(&["revoke"]), &mut out)
            .unwrap_err()
            .contains("one ACCESS_KEY_ID"));
        assert!(run(&args(&["create", "--tag", "novalue"]), &mut out)
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(run(
            &args(&[
                "list",
                "--endpoint",
                "ftp://x",
                "--credentials-file",
                "/nonexistent"
            ]),
            &mut out
        )
        .unwrap_err()
        .contains("http://"));
        assert!(out.is_empty());
    }
    #[test]
    fn files_that_name_a_member_twice_are_refused_by_position() {
        let mut b = [0u8; 8];
        coffer::RandomSource::fill(&coffer::SystemRandom::new(), &mut b).unwrap();
        let dir = std::env::temp_dir().join(format!("cofferd-cli-{}", crate::sigv4::hex(&b)));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let creds = dir.join("creds.json");
        let policy = dir.join("policy.json");
        for (p, text) in [
            (
                &creds,
                format!(
                    "{{\"access_key_id\":\"AKIAAAAAAAAAAAAAAAAA\",\"secret_access_key\":\"x\",\n\
                     \"secret_access_key\":\"{secret}\",\"region\":\"eu-west-1\"}}"
                ),
            ),
            (
                &policy,
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Effect":"Allow","Action":"kms:*","Resource":"*"}}"#.to_owned(),
            ),
        ] {
            std::fs::write(p, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut out = Vec::new();
        let e = run(
            &args(&[
                "list",
                "--endpoint",
                "http://127.0.0.1:1",
                "--credentials-file",
                creds.to_str().unwrap(),
            ]),
            &mut out,
        )
        .unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains(secret), "{e}");
        std::fs::write(
            &creds,
            "{\"access_key_id\":\"AKIAAAAAAAAAAAAAAAAA\",\"secret_access_key\":\"x\",\"region\":\"eu-west-1\"}",
        )
        .unwrap();
        let e = run(
            &args(&[
                "create",
                "--principal",
                "arn:aws:iam::111122223333:user/u",
                "--policy-file",
                policy.to_str().unwrap(),
                "--endpoint",
                "http://127.0.0.1:1",
                "--credentials-file",
                creds.to_str().unwrap(),
            ]),
            &mut out,
        )
        .unwrap_err();
        assert!(e.contains("names a member twice"), "{e}");
        assert!(out.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
