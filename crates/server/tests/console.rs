//! The web console's server side against a real cofferd: sign-in by a SigV4-signed request
//! (and its refusals), the session cookie, CSRF and origin checks, the KMS call path with its
//! authorization and audit, revoked credentials, the security headers of every answer, the
//! audit-trail endpoint (filters, verification, account isolation) and the metrics endpoint.
//! Secrets never appear in an answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

use coffer::SecretBytes;
use common::{amz_date_now, Admin, Server, TempDir};
use serde_json::{json, Value};

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A cofferd on a fresh data dir, with its bootstrap administrator.
struct Node {
    server: Option<Server>,
    addr: String,
    boot: Admin,
    dir: TempDir,
    conf: TempDir,
}

fn spawn(dir: &Path, config: &Path) -> Server {
    let mut cmd = Server::command(&[
        "--listen",
        "127.0.0.1:0",
        "--region",
        REGION,
        "--account-id",
        ACCOUNT,
    ]);
    cmd.arg("--data-dir")
        .arg(dir)
        .arg("--config")
        .arg(config)
        .stderr(Stdio::null());
    Server::spawn(cmd)
}

impl Node {
    fn start(name: &str) -> Self {
        Self::start_with(name, "")
    }

    /// A node whose configuration file holds `config`.
    fn start_with(name: &str, config: &str) -> Self {
        let dir = TempDir::new(name);
        let conf = TempDir::new(&format!("{name}-conf"));
        let file = conf.path().join("cofferd.toml");
        std::fs::write(&file, config).unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let server = spawn(dir.path(), &file);
        let addr = server.addr.clone();
        let boot = Admin::of(dir.path());
        Self {
            server: Some(server),
            addr,
            boot,
            dir,
            conf,
        }
    }

    /// Kills the server (as a crash would) and runs `between` before starting it again on the
    /// same data dir (the audit log's open digest then covers what was logged before).
    fn restart(&mut self, between: impl FnOnce(&Path)) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
        between(self.dir.path());
        let server = spawn(self.dir.path(), &self.conf.path().join("cofferd.toml"));
        self.addr = server.addr.clone();
        self.server = Some(server);
    }

    /// A new credential for `principal` with `policies`: (access key id, secret).
    fn credential(&self, principal: &str, policies: &[&str]) -> (String, String) {
        let (status, v) = common::signed_call(
            &self.addr,
            &self.boot.access_key_id,
            &self.boot.secret,
            REGION,
            "CofferAdmin.CreateCredential",
            &serde_json::to_vec(&json!({"PrincipalArn": principal, "IdentityPolicies": policies}))
                .unwrap(),
        );
        assert_eq!(status, 200, "{v}");
        (
            v["AccessKeyId"].as_str().unwrap().to_owned(),
            v["SecretAccessKey"].as_str().unwrap().to_owned(),
        )
    }

    fn admin(&self, op: &str, body: &Value) -> (u16, Value) {
        common::signed_call(
            &self.addr,
            &self.boot.access_key_id,
            &self.boot.secret,
            REGION,
            &format!("CofferAdmin.{op}"),
            &serde_json::to_vec(body).unwrap(),
        )
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

/// An HTTP answer: status, headers (names lowercase) and body.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["__type"].as_str().unwrap_or("").to_owned()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on its own connection.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: {addr}\r\n"));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// The headers of a sign-in signed by `key`/`secret` at `date` over `signed_body`.
fn sign_in_headers(
    addr: &str,
    key: &str,
    secret: &str,
    date: &str,
    signed_body: &[u8],
) -> Vec<(String, String)> {
    let mut h = http::HeaderMap::new();
    h.insert("host", addr.parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert("x-amz-date", date.parse().unwrap());
    let secret = SecretBytes::copy_from(secret.as_bytes());
    let auth = cofferd::authorization(
        &cofferd::SigningParams {
            access_key_id: key,
            secret_access_key: &secret,
            region: REGION,
            service: "kms",
            amz_date: date,
        },
        &cofferd::RequestParts {
            method: "POST",
            path: "/console/api/session",
            query: "",
            headers: &h,
        },
        &["content-type", "host", "x-amz-date"],
        signed_body,
    );
    vec![
        ("content-type".into(), "application/json".into()),
        ("x-amz-date".into(), date.to_owned()),
        ("authorization".into(), auth),
    ]
}

fn post_sign_in(addr: &str, headers: &[(String, String)], body: &[u8]) -> Resp {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    http(addr, "POST", "/console/api/session", &h, body)
}

/// A signed-in console session.
struct Session {
    addr: String,
    cookie: String,
    csrf: String,
    signed_in: Resp,
}

impl Session {
    fn open(addr: &str, key: &str, secret: &str) -> Self {
        let r = post_sign_in(
            addr,
            &sign_in_headers(addr, key, secret, &amz_date_now(0), b"{}"),
            b"{}",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let set = r.header("set-cookie").unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();
        let csrf = r.json()["csrfToken"].as_str().unwrap().to_owned();
        Self {
            addr: addr.to_owned(),
            cookie,
            csrf,
            signed_in: r,
        }
    }

    /// A console KMS call.
    fn kms(&self, op: &str, body: &Value) -> Resp {
        let target = format!("TrentService.{op}");
        http(
            &self.addr,
            "POST",
            "/console/api/kms",
            &[
                ("cookie", &self.cookie),
                ("x-coffer-csrf", &self.csrf),
                ("x-amz-target", &target),
                ("content-type", "application/x-amz-json-1.1"),
                ("origin", &format!("http://{}", self.addr)),
                ("sec-fetch-site", "same-origin"),
            ],
            &serde_json::to_vec(body).unwrap(),
        )
    }

    fn get(&self, path: &str) -> Resp {
        http(
            &self.addr,
            "GET",
            path,
            &[("cookie", &self.cookie), ("x-coffer-csrf", &self.csrf)],
            b"",
        )
    }
}

fn assert_console_headers(r: &Resp, what: &str) {
    assert_eq!(r.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
}

fn assert_api_headers(r: &Resp, what: &str) {
    assert_console_headers(r, what);
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
}

fn assert_no_secret(r: &Resp, secrets: &[&str], what: &str) {
    let raw = format!("{:?}{}", r.headers, r.text());
    for s in secrets {
        assert!(!raw.contains(s), "{what}: a secret in the answer");
    }
}

#[test]
fn sign_in_opens_a_session_with_a_strict_cookie_and_calls_go_through_the_api() {
    let node = Node::start("console-signin");
    let b = &node.boot;
    let s = Session::open(&node.addr, &b.access_key_id, &b.secret);
    let r = &s.signed_in;
    assert_api_headers(r, "sign-in");
    assert_no_secret(r, &[&b.secret], "sign-in");
    let set = r.header("set-cookie").unwrap();
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    for a in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=3600",
    ] {
        assert!(attrs.contains(&a), "{a} in {set}");
    }
    let id = s.cookie.strip_prefix("coffer_console=").unwrap();
    assert_eq!(id.len(), 43, "256 bits in base64url");
    assert!(id
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    let v = r.json();
    assert_eq!(v["principal"], json!(b.principal_arn));
    assert_eq!(v["accountId"], json!(ACCOUNT));
    assert_eq!(v["region"], json!(REGION));
    assert!(v["expiresAt"].as_i64().unwrap() > 0);
    assert_eq!(s.csrf.len(), 43);
    assert_ne!(s.csrf, id);

    // The session reads back (with its token, for a reloaded page).
    let again = s.get("/console/api/session");
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["csrfToken"], json!(s.csrf));
    assert_eq!(again.json()["principal"], json!(b.principal_arn));

    // A KMS call answers as the API does, and is audited with the console's user agent.
    let created = s.kms("CreateKey", &json!({"Description": "from the console"}));
    assert_eq!(created.status, 200, "{}", created.text());
    assert_api_headers(&created, "kms call");
    assert_eq!(
        created.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert!(created.header("x-amzn-requestid").is_some());
    let key_id = created.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = s.kms("DescribeKey", &json!({"KeyId": "alias/nope"}));
    assert_eq!(missing.status, 400);
    assert_eq!(missing.code(), "NotFoundException");
    let bad = s.kms("Encrypt", &json!({"KeyId": key_id}));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.code(), "ValidationException");
    let secret_text = "console plaintext 42";
    let enc = s.kms(
        "Encrypt",
        &json!({"KeyId": key_id, "Plaintext": base64_encode(secret_text.as_bytes())}),
    );
    assert_eq!(enc.status, 200, "{}", enc.text());
    let lines = common::audit_lines(node.data_dir());
    let ev = lines
        .iter()
        .filter_map(|l| l.get("event"))
        .find(|e| e["eventName"] == "CreateKey")
        .unwrap();
    assert_eq!(ev["userAgent"], json!("coffer-console"));
    assert_eq!(ev["userIdentity"]["arn"], json!(b.principal_arn));
    assert!(lines
        .iter()
        .filter_map(|l| l.get("event"))
        .any(|e| e["eventName"] == "ConsoleLogin"));
    let log = lines.iter().map(Value::to_string).collect::<String>();
    assert!(!log.contains(&b.secret));
    assert!(!log.contains(&base64_encode(secret_text.as_bytes())));

    // Cofferd's own management API is not reachable from a session.
    let target = "CofferAdmin.ListCredentials";
    let admin = http(
        &node.addr,
        "POST",
        "/console/api/kms",
        &[
            ("cookie", &s.cookie),
            ("x-coffer-csrf", &s.csrf),
            ("x-amz-target", target),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        b"{}",
    );
    assert_eq!(admin.status, 400);
    assert_eq!(admin.code(), "UnknownOperationException");
    assert_no_secret(&admin, &[&b.secret], "admin target");

    // Sign-out ends the session (CSRF-checked).
    let out = http(
        &node.addr,
        "DELETE",
        "/console/api/session",
        &[("cookie", &s.cookie)],
        b"",
    );
    assert_eq!(out.status, 403);
    assert_eq!(out.code(), "AccessDeniedException");
    let out = http(
        &node.addr,
        "DELETE",
        "/console/api/session",
        &[("cookie", &s.cookie), ("x-coffer-csrf", &s.csrf)],
        b"",
    );
    assert_eq!(out.status, 200);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = s.kms("ListKeys", &json!({}));
    assert_eq!(after.status, 401);
    assert_eq!(after.code(), "MissingAuthenticationTokenException");
    assert_eq!(s.get("/console/api/session").status, 401);
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A refused sign-in: what it is, its headers, its body, the exception it gets.
type BadSignIn<'a> = (&'a str, Vec<(String, String)>, &'a [u8], &'a str);

#[test]
fn bad_sign_ins_are_refused_as_the_api_refuses_them() {
    let node = Node::start("console-bad-signin");
    let b = &node.boot;
    let now = amz_date_now(0);
    let cases: Vec<BadSignIn<'_>> = vec![
        (
            "wrong secret",
            sign_in_headers(&node.addr, &b.access_key_id, "not-the-secret", &now, b"{}"),
            b"{}",
            "InvalidSignatureException",
        ),
        (
            "unsigned",
            vec![("content-type".into(), "application/json".into())],
            b"{}",
            "MissingAuthenticationTokenException",
        ),
        (
            "expired date",
            sign_in_headers(
                &node.addr,
                &b.access_key_id,
                &b.secret,
                &amz_date_now(-3600),
                b"{}",
            ),
            b"{}",
            "InvalidSignatureException",
        ),
        (
            "body not the one signed",
            sign_in_headers(&node.addr, &b.access_key_id, &b.secret, &now, b"{}"),
            br#"{"a":1}"#,
            "InvalidSignatureException",
        ),
        (
            "unknown access key",
            sign_in_headers(&node.addr, "AKIANOTAKEY0000", &b.secret, &now, b"{}"),
            b"{}",
            "UnrecognizedClientException",
        ),
    ];
    for (what, headers, body, code) in cases {
        let r = post_sign_in(&node.addr, &headers, body);
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert_eq!(r.code(), code, "{what}");
        assert!(r.header("set-cookie").is_none(), "{what}");
        assert_api_headers(&r, what);
        assert_no_secret(&r, &[&b.secret], what);
    }
    // A signed body that is not `{}`.
    let body = br#"{"x":1}"#;
    let r = post_sign_in(
        &node.addr,
        &sign_in_headers(&node.addr, &b.access_key_id, &b.secret, &now, body),
        body,
    );
    assert_eq!(r.code(), "SerializationException");
    assert!(r.header("set-cookie").is_none());
    // The refusals are in the audit log, none with the secret.
    let lines = common::audit_lines(node.data_dir());
    assert!(lines
        .iter()
        .filter_map(|l| l.get("event"))
        .any(|e| e["errorCode"] == "InvalidSignatureException"));
    let log = lines.iter().map(Value::to_string).collect::<String>();
    assert!(!log.contains(&b.secret));
}

#[test]
fn calls_without_a_session_or_with_a_forged_request_are_refused() {
    let node = Node::start("console-csrf");
    let b = &node.boot;
    let s = Session::open(&node.addr, &b.access_key_id, &b.secret);
    let call = |headers: &[(&str, &str)]| {
        let mut h = vec![
            ("x-amz-target", "TrentService.ListKeys"),
            ("content-type", "application/x-amz-json-1.1"),
        ];
        h.extend_from_slice(headers);
        http(&node.addr, "POST", "/console/api/kms", &h, b"{}")
    };
    let own_origin = format!("http://{}", node.addr);
    let good = call(&[
        ("cookie", &s.cookie),
        ("x-coffer-csrf", &s.csrf),
        ("origin", &own_origin),
    ]);
    assert_eq!(good.status, 200, "{}", good.text());

    let forged_cookie = format!("coffer_console={}", "A".repeat(43));
    let unauthenticated: [(&str, Vec<(&str, &str)>); 3] = [
        ("no cookie", vec![("x-coffer-csrf", &s.csrf)]),
        (
            "unknown session",
            vec![("cookie", &forged_cookie), ("x-coffer-csrf", &s.csrf)],
        ),
        (
            "the token as the cookie",
            vec![("cookie", "coffer_console=x"), ("x-coffer-csrf", &s.csrf)],
        ),
    ];
    for (what, h) in unauthenticated {
        let r = call(&h);
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(r.code(), "MissingAuthenticationTokenException", "{what}");
        assert_api_headers(&r, what);
    }
    let wrong_token = "B".repeat(43);
    let other_scheme = format!("https://{}", node.addr);
    let forged: [(&str, Vec<(&str, &str)>); 6] = [
        ("no csrf token", vec![("cookie", &s.cookie)]),
        (
            "wrong csrf token",
            vec![("cookie", &s.cookie), ("x-coffer-csrf", &wrong_token)],
        ),
        (
            "empty csrf token",
            vec![("cookie", &s.cookie), ("x-coffer-csrf", "")],
        ),
        (
            "cross-site origin",
            vec![
                ("cookie", &s.cookie),
                ("x-coffer-csrf", &s.csrf),
                ("origin", "https://evil.example"),
            ],
        ),
        (
            "same host, other scheme",
            vec![
                ("cookie", &s.cookie),
                ("x-coffer-csrf", &s.csrf),
                ("origin", &other_scheme),
            ],
        ),
        (
            "sec-fetch-site cross-site",
            vec![
                ("cookie", &s.cookie),
                ("x-coffer-csrf", &s.csrf),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
    ];
    for (what, h) in forged {
        let r = call(&h);
        assert_eq!(r.status, 403, "{what}: {}", r.text());
        assert_eq!(r.code(), "AccessDeniedException", "{what}");
        assert_api_headers(&r, what);
        assert_no_secret(&r, &[&b.secret, &s.csrf], what);
    }
    // A cross-site sign-in (login CSRF) is refused too, even correctly signed.
    let mut h = sign_in_headers(
        &node.addr,
        &b.access_key_id,
        &b.secret,
        &amz_date_now(0),
        b"{}",
    );
    h.push(("origin".into(), "https://evil.example".into()));
    let r = post_sign_in(&node.addr, &h, b"{}");
    assert_eq!(r.status, 403);
    assert!(r.header("set-cookie").is_none());
    // The audit and metrics endpoints want the token too.
    for path in ["/console/api/audit", "/console/api/metrics"] {
        let r = http(&node.addr, "GET", path, &[("cookie", &s.cookie)], b"");
        assert_eq!(r.status, 403, "{path}");
        let r = http(&node.addr, "GET", path, &[], b"");
        assert_eq!(r.status, 401, "{path}");
    }
    // The session still works after all that.
    assert_eq!(s.kms("ListKeys", &json!({})).status, 200);
}

#[test]
fn every_console_answer_carries_the_security_headers() {
    let node = Node::start("console-headers");
    let redirect = http(&node.addr, "GET", "/console", &[], b"");
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/console/"));
    assert_console_headers(&redirect, "redirect");
    let index = http(&node.addr, "GET", "/console/", &[], b"");
    assert_eq!(index.status, 200);
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(index.text().contains("<html"));
    assert_console_headers(&index, "index");
    // Client-side routes get the app.
    let route = http(&node.addr, "GET", "/console/keys/1234", &[], b"");
    assert_eq!(route.status, 200);
    assert_eq!(route.body, index.body);
    assert_console_headers(&route, "route");
    // Every bundled asset the page names is served with its type; a missing one is a 404.
    let page = index.text();
    for asset in page
        .split(['"', '\''])
        .filter(|s| s.starts_with("/console/assets/"))
    {
        let r = http(&node.addr, "GET", asset, &[], b"");
        assert_eq!(r.status, 200, "{asset}");
        assert_console_headers(&r, asset);
        assert!(r.header("content-type").is_some());
    }
    let missing = http(&node.addr, "GET", "/console/assets/missing.js", &[], b"");
    assert_eq!(missing.status, 404);
    assert_console_headers(&missing, "missing asset");
    let post = http(&node.addr, "POST", "/console/", &[], b"");
    assert_eq!(post.status, 405);
    assert_console_headers(&post, "405");
    let unknown = http(&node.addr, "GET", "/console/api/nothing", &[], b"");
    assert_eq!(unknown.status, 404);
    assert_api_headers(&unknown, "unknown api");
    let no_session = http(&node.addr, "GET", "/console/api/session", &[], b"");
    assert_eq!(no_session.status, 401);
    assert_eq!(no_session.code(), "MissingAuthenticationTokenException");
    // The sign-in form learns the region to sign for.
    assert_eq!(no_session.json()["region"], json!(REGION));
    assert_api_headers(&no_session, "no session");
    let head = http(&node.addr, "HEAD", "/console/", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_console_headers(&head, "HEAD");
    // The API itself is untouched: no console headers on `/`.
    let (status, _) = common::signed_call(
        &node.addr,
        &node.boot.access_key_id,
        &node.boot.secret,
        REGION,
        "TrentService.ListKeys",
        b"{}",
    );
    assert_eq!(status, 200);
}

#[test]
fn authorization_is_the_apis_and_revoked_credentials_end_their_sessions() {
    let node = Node::start("console-authz");
    let b = &node.boot;
    let root = Session::open(&node.addr, &b.access_key_id, &b.secret);
    let key = root.kms("CreateKey", &json!({}));
    assert_eq!(key.status, 200);
    let key_id = key.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:DescribeKey","kms:GetKeyPolicy","kms:ListKeys"],"Resource":"*"}]}"#;
    let user_arn = format!("arn:aws:iam::{ACCOUNT}:user/reader");
    let (uid, usecret) = node.credential(&user_arn, &[reader]);
    let user = Session::open(&node.addr, &uid, &usecret);
    assert_eq!(user.signed_in.json()["principal"], json!(user_arn));
    assert_no_secret(&user.signed_in, &[&usecret], "user sign-in");
    assert_eq!(
        user.kms("DescribeKey", &json!({"KeyId": key_id})).status,
        200
    );
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}"#;
    let put = user.kms(
        "PutKeyPolicy",
        &json!({"KeyId": key_id, "PolicyName": "default", "Policy": policy}),
    );
    assert_eq!(put.status, 400, "{}", put.text());
    assert_eq!(put.code(), "AccessDeniedException");
    // The user may not read the audit trail or the metrics.
    for path in ["/console/api/audit", "/console/api/metrics"] {
        let r = user.get(path);
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.code(), "AccessDeniedException");
    }
    // The root sees the denial in the audit trail.
    let r = root.get("/console/api/audit?outcome=denied&operation=PutKeyPolicy");
    assert_eq!(r.status, 200, "{}", r.text());
    let events = r.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["eventName"], json!("PutKeyPolicy"));
    assert_eq!(e["principal"], json!(user_arn));
    assert_eq!(e["outcome"], json!("denied"));
    assert_eq!(e["errorCode"], json!("AccessDeniedException"));
    assert_eq!(e["record"]["userAgent"], json!("coffer-console"));
    assert!(e["keyArn"].as_str().unwrap().ends_with(&key_id));

    // Revoking the credential ends its session at once.
    let (status, v) = node.admin("RevokeCredential", &json!({"AccessKeyId": uid}));
    assert_eq!(status, 200, "{v}");
    let r = user.kms("DescribeKey", &json!({"KeyId": key_id}));
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "MissingAuthenticationTokenException");
    assert_eq!(user.get("/console/api/session").status, 401);
    // Its key id no longer signs in either.
    let r = post_sign_in(
        &node.addr,
        &sign_in_headers(&node.addr, &uid, &usecret, &amz_date_now(0), b"{}"),
        b"{}",
    );
    assert_eq!(r.code(), "UnrecognizedClientException");
    assert_eq!(root.kms("ListKeys", &json!({})).status, 200);
}

const ALL_KMS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","coffer:LookupAuditEvents","coffer:GetMetrics"],"Resource":"*"}]}"#;

fn events(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["events"].as_array().unwrap().clone()
}

#[test]
fn the_audit_trail_filters_pages_and_keeps_accounts_apart() {
    let node = Node::start("console-audit");
    let b = &node.boot;
    let root = Session::open(&node.addr, &b.access_key_id, &b.secret);
    let mut keys = Vec::new();
    for _ in 0..2 {
        let r = root.kms("CreateKey", &json!({}));
        keys.push(
            r.json()["KeyMetadata"]["KeyId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for k in &keys {
        assert_eq!(root.kms("DescribeKey", &json!({"KeyId": k})).status, 200);
    }
    assert_eq!(
        root.kms("DescribeKey", &json!({"KeyId": "alias/missing"}))
            .code(),
        "NotFoundException"
    );
    // Another account, with its own key and calls.
    let other_arn = format!("arn:aws:iam::{OTHER_ACCOUNT}:user/other");
    let (oid, osecret) = node.credential(&other_arn, &[ALL_KMS]);
    let other = Session::open(&node.addr, &oid, &osecret);
    let okey = other.kms("CreateKey", &json!({}));
    assert_eq!(okey.status, 200, "{}", okey.text());
    let okey_arn = okey.json()["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    // Its attempt on our key is denied (no key policy names it).
    let denied = other.kms(
        "DescribeKey",
        &json!({"KeyId": format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{}", keys[0])}),
    );
    assert_eq!(denied.code(), "AccessDeniedException");

    // Our trail: newest first, only our account's events.
    let all = events(&root.get("/console/api/audit?limit=200"));
    assert!(!all.is_empty());
    for e in &all {
        let rec = &e["record"];
        let ours = rec["recipientAccountId"] == json!(ACCOUNT)
            || rec["userIdentity"]["accountId"] == json!(ACCOUNT);
        assert!(ours, "{e}");
        assert_ne!(e["keyArn"], json!(okey_arn));
        for f in [
            "eventId",
            "eventTime",
            "eventName",
            "outcome",
            "verification",
            "requestId",
        ] {
            assert!(!e[f].is_null(), "{f} in {e}");
        }
        assert_no_secret_value(e, &[&b.secret, &osecret]);
    }
    let times: Vec<&str> = all
        .iter()
        .map(|e| e["eventTime"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // The other account's denied call on our key is ours too (the key is ours), as CloudTrail
    // gives it to both; its own key's events are not.
    assert!(all
        .iter()
        .any(|e| e["principal"] == json!(other_arn) && e["outcome"] == json!("denied")));
    // The other account sees its own, never ours.
    let theirs = events(&other.get("/console/api/audit?limit=200"));
    assert!(theirs.iter().any(|e| e["keyArn"] == json!(okey_arn)));
    for e in &theirs {
        let rec = &e["record"];
        assert!(
            rec["userIdentity"]["accountId"] == json!(OTHER_ACCOUNT)
                || rec["recipientAccountId"] == json!(OTHER_ACCOUNT),
            "{e}"
        );
        assert_ne!(e["principal"], json!(b.principal_arn), "{e}");
    }

    // Filters.
    let by_key = events(&root.get(&format!("/console/api/audit?keyId={}", keys[0])));
    assert_eq!(
        by_key
            .iter()
            .filter(|e| e["eventName"] == json!("DescribeKey") && e["outcome"] == json!("allowed"))
            .count(),
        1
    );
    assert!(by_key
        .iter()
        .all(|e| e["keyArn"].as_str().unwrap().ends_with(&keys[0])));
    let by_op = events(&root.get("/console/api/audit?operation=CreateKey"));
    assert_eq!(by_op.len(), 2);
    let principal = b.principal_arn.replace(':', "%3A").replace('/', "%2F");
    let by_principal = events(&root.get(&format!("/console/api/audit?principal={principal}")));
    assert!(!by_principal.is_empty());
    assert!(by_principal
        .iter()
        .all(|e| e["principal"] == json!(b.principal_arn)));
    let errors = events(&root.get("/console/api/audit?outcome=error&operation=DescribeKey"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["errorCode"], json!("NotFoundException"));
    let allowed = events(&root.get("/console/api/audit?outcome=allowed&operation=DescribeKey"));
    assert_eq!(allowed.len(), 2);
    assert!(events(&root.get("/console/api/audit?from=4102444800")).is_empty());
    assert!(events(&root.get("/console/api/audit?to=946684800")).is_empty());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let window = events(&root.get(&format!(
        "/console/api/audit?operation=CreateKey&from={}&to={}",
        now - 3600,
        now + 3600
    )));
    assert_eq!(window.len(), 2);

    // Pages of 3 walk the same events, without overlap.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/console/api/audit?limit=3&operation=DescribeKey&cursor={c}"),
            None => "/console/api/audit?limit=3&operation=DescribeKey".to_owned(),
        };
        let r = root.get(&path);
        paged.extend(events(&r));
        match r.json()["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let ids: Vec<&Value> = paged.iter().map(|e| &e["eventId"]).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), unique.len());
    assert_eq!(
        paged.len(),
        4,
        "two allowed, one missing alias, one of the other account"
    );

    // Bad queries are ValidationExceptions.
    for q in [
        "limit=0",
        "limit=201",
        "outcome=maybe",
        "from=x",
        "cursor=zz",
        "bogus=1",
    ] {
        let r = root.get(&format!("/console/api/audit?{q}"));
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.code(), "ValidationException", "{q}");
        assert_api_headers(&r, q);
    }
    // The lookups are themselves in the trail.
    let lookups = events(&root.get("/console/api/audit?operation=LookupAuditEvents&limit=1"));
    assert_eq!(lookups.len(), 1);
}

fn assert_no_secret_value(v: &Value, secrets: &[&str]) {
    let text = v.to_string();
    for s in secrets {
        assert!(!text.contains(s), "a secret in {text}");
    }
}

#[test]
fn the_audit_trail_says_what_the_signed_digests_vouch_for() {
    // Small log files: each ends with its signed rollover digest after a few records.
    let mut node = Node::start_with("console-audit-verify", "[audit]\nmax_file_bytes = 4096\n");
    let (kid, ksecret) = (node.boot.access_key_id.clone(), node.boot.secret.clone());
    let s = Session::open(&node.addr, &kid, &ksecret);
    let key = s.kms("CreateKey", &json!({}));
    let key_id = key.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..12 {
        assert_eq!(s.kms("DescribeKey", &json!({"KeyId": key_id})).status, 200);
    }
    // Edit one DescribeKey record of an older file by hand, server stopped.
    let mut edited_id = String::new();
    node.restart(|dir| {
        let audit = dir.join(coffer::AUDIT_DIR);
        let mut files: Vec<_> = std::fs::read_dir(&audit)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        assert!(files.len() >= 3, "{files:?}");
        for path in &files[..files.len() - 1] {
            let text = std::fs::read_to_string(path).unwrap();
            let Some(line) = text
                .lines()
                .find(|l| l.contains("\"eventName\":\"DescribeKey\""))
            else {
                continue;
            };
            let v: Value = serde_json::from_str(line).unwrap();
            edited_id = v["event"]["eventID"].as_str().unwrap().to_owned();
            let forged = line.replace("\"readOnly\":true", "\"readOnly\":false");
            assert_ne!(forged, line);
            std::fs::write(path, text.replace(line, &forged)).unwrap();
            break;
        }
        assert!(!edited_id.is_empty());
    });
    let s = Session::open(&node.addr, &kid, &ksecret);
    assert_eq!(s.kms("ListKeys", &json!({})).status, 200);
    let all = events(&s.get("/console/api/audit?limit=200"));
    let of = |pred: &dyn Fn(&Value) -> bool| -> Vec<String> {
        all.iter()
            .filter(|e| pred(e))
            .map(|e| e["verification"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(of(&|e| e["eventId"] == json!(edited_id)), ["failed"]);
    assert_eq!(of(&|e| e["eventName"] == json!("ListKeys")), ["pending"]);
    assert_eq!(of(&|e| e["eventName"] == json!("CreateKey")).len(), 1);
    let describes = of(&|e| e["eventName"] == json!("DescribeKey"));
    assert_eq!(describes.len(), 12);
    assert!(
        describes.iter().filter(|v| *v == "verified").count() >= 6,
        "{describes:?}"
    );
    assert!(describes.iter().all(|v| v != "pending"), "{describes:?}");
}

#[test]
fn the_metrics_endpoint_has_totals_and_a_history() {
    let node = Node::start("console-metrics");
    let b = &node.boot;
    let s = Session::open(&node.addr, &b.access_key_id, &b.secret);
    for _ in 0..3 {
        assert_eq!(s.kms("ListKeys", &json!({})).status, 200);
    }
    assert_eq!(
        s.kms("DescribeKey", &json!({"KeyId": "alias/none"})).code(),
        "NotFoundException"
    );
    let r = s.get("/console/api/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_api_headers(&r, "metrics");
    let v = r.json();
    let now = v["now"].as_i64().unwrap();
    let op = |name: &str| {
        v["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["operation"] == json!(name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {v}"))
    };
    assert_eq!(op("ListKeys")["requests"], json!(3));
    assert_eq!(op("ListKeys")["errors"], json!(0));
    assert_eq!(op("DescribeKey")["errors"], json!(1));
    assert_eq!(op("DescribeKey")["throttles"], json!(0));
    let history = v["history"].as_array().unwrap();
    assert_eq!(history.len(), 180);
    let ts: Vec<i64> = history.iter().map(|h| h["t"].as_i64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[1] - w[0] == 10));
    assert!(*ts.last().unwrap() <= now && now - ts.last().unwrap() < 10);
    let total: u64 = history
        .iter()
        .map(|h| h["requests"].as_u64().unwrap())
        .sum();
    assert!(total >= 4, "{total}");
    for h in history {
        for f in ["requests", "errors", "throttles"] {
            assert!(h[f].is_u64(), "{f}");
        }
    }
}
