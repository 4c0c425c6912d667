//! The credential-management client of a running cofferd, as a library with no argument
//! parsing (`coffer credentials` is its command line). It signs `CofferAdmin.*` requests with
//! SigV4 (an administrator credential) and sends them over plain HTTP (loopback) or HTTPS
//! (trusting only the certificates of a CA file), one blocking HTTP/1.1 exchange per request.
//!
//! It lives in cofferd because it shares cofferd's SigV4 signer and wire names, and `coffer`
//! depends on cofferd anyway (for `--data-dir`).

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coffer::SecretBytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{ADMIN_TARGET_PREFIX, CONTENT_TYPE, SERVICE};

/// How long a connection, a write or a read may take.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response accepted.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Where and as whom a [`Client`] sends its requests.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ClientOptions {
    /// `http://HOST:PORT` or `https://HOST:PORT` (default: `$AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// With https: the certificates to trust (only these).
    pub ca_file: Option<PathBuf>,
    /// An administrator credential in the `admin-credentials.json` shape (default:
    /// `$AWS_ACCESS_KEY_ID`, `$AWS_SECRET_ACCESS_KEY`).
    pub credentials_file: Option<PathBuf>,
    /// The region to sign for (default: the credentials file's, `$AWS_REGION`,
    /// `$AWS_DEFAULT_REGION`, us-east-1).
    pub region: Option<String>,
}

/// Why a request got no answer, or a refusal.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The service refused the request: its AWS error code and message.
    Refused {
        /// The exception name, e.g. `AccessDeniedException`.
        code: String,
        /// Its message.
        message: String,
    },
    /// Input refused before anything was sent (a policy file that is not JSON, …).
    Input(String),
    /// Configuration (endpoint, CA file, credentials), connection or I/O.
    Io(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { code, message } => write!(f, "{code}: {message}"),
            Self::Input(m) | Self::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<String> for ClientError {
    fn from(m: String) -> Self {
        Self::Io(m)
    }
}

impl From<&str> for ClientError {
    fn from(m: &str) -> Self {
        Self::Io(m.to_owned())
    }
}

/// Reads an identity policy file for `CreateCredential`: JSON that names no member twice.
pub fn read_policy_file(f: &Path) -> Result<String, ClientError> {
    let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
    serde_json::from_str::<Value>(&text)
        .map_err(|e| ClientError::Input(format!("{}: not JSON: {e}", f.display())))?;
    coffer_credentials::reject_duplicate_keys(text.as_bytes()).map_err(|e| {
        ClientError::Input(format!(
            "{}: names a member twice (line {}, column {})",
            f.display(),
            e.line(),
            e.column()
        ))
    })?;
    Ok(text)
}

/// A new credential (a CreateCredential or RotateCredential response) in the shape of
/// `admin-credentials.json`, so that it can be used as a credentials file; `default_region`
/// when the response names none. The text is wiped on drop.
pub fn credential_file_text(
    resp: &Response,
    default_region: &str,
) -> Result<SecretBytes, ClientError> {
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
        region: new.region.unwrap_or(default_region),
    };
    let mut buf = Vec::with_capacity(1024);
    let written = serde_json::to_writer_pretty(&mut buf, &shaped);
    buf.push(b'\n');
    // Wiped on drop, whether or not it was written whole.
    let text = SecretBytes::new(buf);
    written.map_err(|e| unexpected(&e))?;
    Ok(text)
}

/// Creates `path` holding `bytes`: mode 0600 (owner-only) from the start, never over an
/// existing file, synced.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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

/// Whether retiring the bootstrap credential leaves someone able to manage keys, judged from
/// a ListCredentials listing (`credentials`: its items). `Err` says why not.
///
/// The rule: once the bootstrap credential (the root of account A) is gone, there must remain
/// 1. another *lasting* (not expiring) administrator credential, or nobody could manage
///    credentials any more (the service refuses this case too), and
/// 2. a lasting credential for `arn:aws:iam::A:root`. The keys made as the bootstrap
///    credential have the default key policy, which gives A's root `kms:*` with no identity
///    policy needed. Any other principal reaches a key only through identity policies and key
///    policies that a listing does not show (and a key policy may have been changed since), so
///    the client cannot know that it can: an operator who knows (a `user/ops` with a `kms:*`
///    identity policy, say) overrides the check.
pub fn check_retire_bootstrap(credentials: &[Value]) -> Result<(), String> {
    let flag = |c: &Value, k: &str| c.get(k).and_then(Value::as_bool) == Some(true);
    let lasting = |c: &Value| c.get("ExpiresAt").is_none_or(Value::is_null);
    let Some(boot) = credentials.iter().find(|c| flag(c, "Bootstrap")) else {
        return Err(
            "no bootstrap credential is listed (retired already, or not visible to this \
             credential)"
                .into(),
        );
    };
    let account = boot
        .get("AccountId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let root = format!("arn:aws:iam::{account}:root");
    let others: Vec<&Value> = credentials
        .iter()
        .filter(|c| !flag(c, "Bootstrap") && lasting(c))
        .collect();
    if !others.iter().any(|c| flag(c, "Administrator")) {
        return Err(
            "no other lasting administrator credential: nobody could manage credentials \
             afterwards (create one with --admin first)"
                .into(),
        );
    }
    if !others
        .iter()
        .any(|c| c.get("PrincipalArn").and_then(Value::as_str) == Some(root.as_str()))
    {
        return Err(format!(
            "no other lasting credential for {root}: the default key policy gives the keys to \
             the account root, and no remaining credential is known to be able to manage them \
             (create one with `coffer credentials create --principal {root}`, or pass --force \
             if another principal's identity policies allow it)"
        ));
    }
    Ok(())
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

/// A client of one cofferd, signing as one administrator credential.
pub struct Client {
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

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("https", &self.scheme_https)
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"[redacted]")
            .field("region", &self.region)
            .finish()
    }
}

/// A response: the status and the body (wiped on drop: it may hold a secret).
pub struct Response {
    status: u16,
    body: SecretBytes,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body", &"[redacted]")
            .finish()
    }
}

/// A response that is not the JSON expected: where it went wrong, not what it said (a response
/// can hold a secret access key, which the parser's message could quote).
fn unexpected(e: &serde_json::Error) -> ClientError {
    ClientError::Io(format!(
        "unexpected response (line {}, column {})",
        e.line(),
        e.column()
    ))
}

impl Response {
    /// The body as JSON (call it only for responses that hold no secret, or wipe the value).
    pub fn json(&self) -> Result<Value, ClientError> {
        serde_json::from_slice(self.body.expose()).map_err(|e| unexpected(&e))
    }

    /// The members of the body that `T` names (the others, a secret among them, are skipped
    /// unread).
    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(self.body.expose()).map_err(|e| unexpected(&e))
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Client {
    /// Every credential `ListCredentials` shows this caller, following every page.
    pub fn list_all(&self) -> Result<Vec<Value>, ClientError> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut body = json!({ "Limit": 1000 });
            if let Some(m) = &marker {
                body["Marker"] = json!(m);
            }
            let page = self.call("ListCredentials", &body)?.json()?;
            if let Some(items) = page.get("Credentials").and_then(Value::as_array) {
                all.extend(items.iter().cloned());
            }
            match page.get("NextMarker").and_then(Value::as_str) {
                Some(m) if page.get("Truncated") == Some(&Value::Bool(true)) => {
                    marker = Some(m.to_owned());
                }
                _ => return Ok(all),
            }
        }
    }

    /// The region it signs for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// A client for the endpoint and credential `opts` name (nothing is sent yet).
    pub fn new(opts: &ClientOptions) -> Result<Self, ClientError> {
        let endpoint = opts
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .ok_or("no endpoint: give --endpoint-url URL or set AWS_ENDPOINT_URL")?;
        let (https, rest) = if let Some(r) = endpoint.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = endpoint.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(
                format!("the endpoint must start with http:// or https://: {endpoint}").into(),
            );
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains('/') || authority.contains('@') {
            return Err(format!("the endpoint must be SCHEME://HOST[:PORT]: {endpoint}").into());
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = split_host_port(authority, default_port)
            .ok_or_else(|| format!("the endpoint is not SCHEME://HOST[:PORT]: {authority}"))?;
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

    /// Sends `CofferAdmin.<op>` with `body`; an error response is [`ClientError::Refused`].
    pub fn call(&self, op: &str, body: &Value) -> Result<Response, ClientError> {
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
        Err(ClientError::Refused {
            code,
            message: message.to_owned(),
        })
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
        // A response may hold a secret: its Debug never shows the body.
        assert!(!format!("{r:?}").contains("\"a\""), "{r:?}");
        assert_eq!(r.status, 400);
        assert_eq!(r.body.expose(), b"{\"a\"}");
        assert_eq!(io.1, b"req");
        let mut io = Io(
            std::io::Cursor::new(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}".to_vec()),
            Vec::new(),
        );
        assert!(http_exchange(&mut io, b"").is_err());
    }

    fn opts(endpoint: &str, creds: Option<&Path>) -> ClientOptions {
        ClientOptions {
            endpoint: Some(endpoint.to_owned()),
            credentials_file: creds.map(Path::to_owned),
            ..ClientOptions::default()
        }
    }

    #[test]
    fn endpoints_are_checked() {
        let missing = Path::new("/nonexistent");
        for bad in ["ftp://x", "http://a/b", "http://u@h", "http://h:x"] {
            let e = Client::new(&opts(bad, Some(missing))).unwrap_err();
            assert!(matches!(e, ClientError::Io(_)), "{bad}: {e}");
            assert!(e.to_string().contains("endpoint"), "{bad}: {e}");
        }
        let e = Client::new(&opts("https://127.0.0.1:1", Some(missing))).unwrap_err();
        assert!(e.to_string().contains("--ca-file"), "{e}");
    }

    fn listed(arn: &str, admin: bool, boot: bool, expires: Option<i64>) -> Value {
        let mut v = json!({"AccessKeyId": "AKIA", "PrincipalArn": arn,
                           "AccountId": "111122223333", "Administrator": admin,
                           "Bootstrap": boot, "CreatedAt": 1});
        if let Some(t) = expires {
            v["ExpiresAt"] = json!(t);
        }
        v
    }

    #[test]
    fn retiring_the_bootstrap_needs_an_administrator_and_a_lasting_root() {
        let root = "arn:aws:iam::111122223333:root";
        let ops = "arn:aws:iam::111122223333:user/ops";
        let boot = listed(root, true, true, None);
        // Nobody else.
        let e = check_retire_bootstrap(std::slice::from_ref(&boot)).unwrap_err();
        assert!(e.contains("administrator"), "{e}");
        // An administrator that cannot be known to manage keys.
        let e =
            check_retire_bootstrap(&[boot.clone(), listed(ops, true, false, None)]).unwrap_err();
        assert!(e.contains(root) && e.contains("--force"), "{e}");
        // A root credential that expires does not count; a lasting one does.
        let expiring = listed(root, false, false, Some(5));
        assert!(
            check_retire_bootstrap(&[boot.clone(), listed(ops, true, false, None), expiring])
                .is_err()
        );
        check_retire_bootstrap(&[
            boot.clone(),
            listed(ops, true, false, None),
            listed(root, false, false, None),
        ])
        .unwrap();
        // One lasting root administrator is both.
        check_retire_bootstrap(&[boot, listed(root, true, false, None)]).unwrap();
        // The root of another account is not this account's.
        let other = "arn:aws:iam::444455556666:root";
        assert!(check_retire_bootstrap(&[
            listed(root, true, true, None),
            listed(other, true, false, None)
        ])
        .is_err());
        // No bootstrap listed.
        assert!(check_retire_bootstrap(&[listed(ops, true, false, None)]).is_err());
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
        let e = Client::new(&opts("http://127.0.0.1:1", Some(&creds))).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains(secret), "{e}");
        let e = read_policy_file(&policy).unwrap_err();
        assert!(matches!(e, ClientError::Input(_)));
        assert!(e.to_string().contains("names a member twice"), "{e}");
        // The client's Debug never shows the secret.
        std::fs::write(
            &creds,
            format!(
                "{{\"access_key_id\":\"AKIAAAAAAAAAAAAAAAAA\",\"secret_access_key\":\"{secret}\"}}"
            ),
        )
        .unwrap();
        let c = Client::new(&opts("http://127.0.0.1:1", Some(&creds))).unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains(secret) && shown.contains("redacted"),
            "{shown}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn new_credentials_are_written_owner_only_and_never_over_a_file() {
        let mut b = [0u8; 8];
        coffer::RandomSource::fill(&coffer::SystemRandom::new(), &mut b).unwrap();
        let dir = std::env::temp_dir().join(format!("cofferd-out-{}", crate::sigv4::hex(&b)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("new.json");
        write_new_private(&path, b"{}").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_new_private(&path, b"[]").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
