//! Credential management end to end: the real `cofferd` on a loopback port, driven by the
//! `cofferd credentials …` client (as a process) and by raw SigV4-signed requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{json, Value};

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "111122223333";

mod common;

use common::TempDir;

fn server_command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cofferd"));
    c.arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--region", REGION])
        .args(["--account-id", ACCOUNT]);
    c
}

/// A running `cofferd`, killed when dropped.
struct Cofferd {
    _server: common::Server,
    addr: String,
}

impl Cofferd {
    fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    fn start_with(dir: &Path, extra: &[&str]) -> Self {
        let mut cmd = server_command(dir);
        cmd.args(extra).stderr(Stdio::null());
        let server = common::Server::spawn(cmd);
        let addr = server.addr.clone();
        Self {
            _server: server,
            addr,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A credential as `admin-credentials.json` (and `cofferd credentials create`) shapes it.
#[derive(Clone, Debug)]
struct Cred {
    access_key_id: String,
    secret: String,
    principal_arn: String,
    file: PathBuf,
}

fn read_cred(path: &Path) -> Cred {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    assert_eq!(s("region"), REGION);
    assert_eq!(s("account_id"), ACCOUNT);
    Cred {
        access_key_id: s("access_key_id"),
        secret: s("secret_access_key"),
        principal_arn: s("principal_arn"),
        file: path.to_owned(),
    }
}

/// Saves a credential printed by the client as a 0600 file for `--credentials-file`.
fn save_cred(dir: &Path, name: &str, stdout: &str) -> Cred {
    let path = dir.join(format!("{name}.json"));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(&path)
        .unwrap()
        .write_all(stdout.as_bytes())
        .unwrap();
    read_cred(&path)
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `cofferd credentials ARGS --endpoint … --credentials-file AS`.
fn cli(srv: &Cofferd, as_: &Cred, args: &[&str]) -> Out {
    cli_at(&srv.endpoint(), as_, args)
}

fn cli_at(endpoint: &str, as_: &Cred, args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .arg("credentials")
        .args(args)
        .args(["--endpoint", endpoint, "--credentials-file"])
        .arg(&as_.file)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    Out {
        ok: o.status.success(),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    }
}

/// A SigV4-signed request; returns the status and the JSON body.
fn call(srv: &Cofferd, as_: &Cred, target: &str, body: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(body).unwrap();
    common::signed_call(
        &srv.addr,
        &as_.access_key_id,
        &as_.secret,
        REGION,
        target,
        &body,
    )
}

fn code(r: &(u16, Value)) -> &str {
    r.1["__type"].as_str().unwrap_or("")
}

fn kms(srv: &Cofferd, as_: &Cred, op: &str, body: &Value) -> (u16, Value) {
    call(srv, as_, &format!("TrentService.{op}"), body)
}

fn encrypt(srv: &Cofferd, as_: &Cred, key: &str) -> (u16, Value) {
    kms(
        srv,
        as_,
        "Encrypt",
        &json!({"KeyId": key, "Plaintext": "aGVsbG8="}),
    )
}

fn listed(srv: &Cofferd, as_: &Cred) -> Vec<Value> {
    let o = cli(srv, as_, &["list"]);
    assert!(o.ok, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    v["Credentials"].as_array().unwrap().clone()
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every credential secret, raw or base64, is absent from the store, the audit log and every
/// other file of the data dir but `admin-credentials.json`.
fn assert_no_secret_in(dir: &Path, secrets: &[&str]) {
    let mut files = Vec::new();
    all_files(dir, &mut files);
    assert!(files.iter().any(|f| f.ends_with("credentials.json")));
    assert!(files
        .iter()
        .any(|f| f.components().any(|c| c.as_os_str() == "audit")));
    for f in files {
        if f.file_name().unwrap() == "admin-credentials.json" {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        for s in secrets {
            let b64 = base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
            assert!(
                !contains(&bytes, s.as_bytes()),
                "{} holds a secret",
                f.display()
            );
            assert!(
                !contains(&bytes, b64.as_bytes()),
                "{} holds a secret",
                f.display()
            );
        }
    }
}

fn audit_text(dir: &Path) -> String {
    let mut files = Vec::new();
    all_files(&dir.join("audit"), &mut files);
    files
        .iter()
        .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned())
        .collect()
}

#[test]
fn least_privilege_rotate_revoke_retire_and_restart() {
    let tmp = TempDir::new("flow");
    let dir = tmp.0.join("data");
    let files = tmp.0.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let srv = Cofferd::start(&dir);
    let boot = read_cred(&dir.join("admin-credentials.json"));
    assert_eq!(boot.principal_arn, format!("arn:aws:iam::{ACCOUNT}:root"));
    let mut secrets = vec![boot.secret.clone()];

    let r = kms(&srv, &boot, "CreateKey", &json!({}));
    assert_eq!(r.0, 200, "{r:?}");
    let key = r.1["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();

    // A role that may only Encrypt.
    let policy = files.join("encrypt-only.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#,
    )
    .unwrap();
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let o = cli(
        &srv,
        &boot,
        &[
            "create",
            "--principal",
            &role_arn,
            "--policy-file",
            policy.to_str().unwrap(),
            "--tag",
            "team=payments",
            "--description",
            "the app",
        ],
    );
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stderr.contains("only this once"), "{}", o.stderr);
    let role = save_cred(&files, "role", &o.stdout);
    secrets.push(role.secret.clone());
    assert_eq!(role.principal_arn, role_arn);
    assert!(role.access_key_id.starts_with("AKIA") && role.access_key_id.len() == 20);
    assert_eq!(role.secret.len(), 40);

    let r = encrypt(&srv, &role, &key);
    assert_eq!(r.0, 200, "{r:?}");
    let blob = r.1["CiphertextBlob"].as_str().unwrap().to_owned();
    let r = kms(&srv, &role, "CreateKey", &json!({}));
    assert_eq!(code(&r), "AccessDeniedException", "{r:?}");
    let r = kms(&srv, &role, "Decrypt", &json!({"CiphertextBlob": blob}));
    assert_eq!(code(&r), "AccessDeniedException", "{r:?}");
    for op in [
        "ListCredentials",
        "CreateCredential",
        "RetireBootstrapCredential",
    ] {
        let r = call(
            &srv,
            &role,
            &format!("CofferAdmin.{op}"),
            &json!({"PrincipalArn": role_arn, "Administrator": true}),
        );
        assert_eq!(code(&r), "AccessDeniedException", "{op}: {r:?}");
    }
    let o = cli(&srv, &role, &["list"]);
    assert!(
        !o.ok && o.stderr.contains("AccessDeniedException"),
        "{}",
        o.stderr
    );
    // Malformed requests are refused.
    let r = call(
        &srv,
        &boot,
        "CofferAdmin.CreateCredential",
        &json!({"PrincipalArn": "arn:aws:iam::111122223333:group/g"}),
    );
    assert_eq!(code(&r), "ValidationException", "{r:?}");
    let r = call(
        &srv,
        &boot,
        "CofferAdmin.CreateCredential",
        &json!({"PrincipalArn": role_arn, "IdentityPolicies": ["{nope"]}),
    );
    assert_eq!(code(&r), "MalformedPolicyDocumentException", "{r:?}");
    let r = call(&srv, &boot, "CofferAdmin.Frobnicate", &json!({}));
    assert_eq!(code(&r), "UnknownOperationException", "{r:?}");

    // The list shows it, and no secret.
    let o = cli(&srv, &boot, &["list"]);
    assert!(o.ok, "{}", o.stderr);
    for s in &secrets {
        assert!(!o.stdout.contains(s.as_str()));
    }
    assert!(!o.stdout.to_lowercase().contains("secret"));
    let items = listed(&srv, &boot);
    assert_eq!(items.len(), 2);
    let item = items
        .iter()
        .find(|i| i["AccessKeyId"] == role.access_key_id.as_str())
        .unwrap();
    assert_eq!(item["PrincipalArn"], role_arn.as_str());
    assert_eq!(item["Administrator"], false);
    assert_eq!(item["Bootstrap"], false);
    assert_eq!(item["Description"], "the app");
    let b = items
        .iter()
        .find(|i| i["AccessKeyId"] == boot.access_key_id.as_str())
        .unwrap();
    assert_eq!(b["Bootstrap"], true);
    assert_eq!(b["Administrator"], true);
    let page = call(
        &srv,
        &boot,
        "CofferAdmin.ListCredentials",
        &json!({"Limit": 1}),
    );
    assert_eq!(page.1["Credentials"].as_array().unwrap().len(), 1);
    assert_eq!(page.1["Truncated"], true);
    assert!(page.1["NextMarker"].is_string());

    // Rotate with no grace: the old key is refused at once, the new one works with the same
    // policies.
    let o = cli(
        &srv,
        &boot,
        &["rotate", &role.access_key_id, "--grace-secs", "0"],
    );
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stderr.contains("no longer works"), "{}", o.stderr);
    let role2 = save_cred(&files, "role2", &o.stdout);
    secrets.push(role2.secret.clone());
    assert_ne!(role2.access_key_id, role.access_key_id);
    assert_eq!(role2.principal_arn, role_arn);
    assert_eq!(
        code(&encrypt(&srv, &role, &key)),
        "UnrecognizedClientException"
    );
    assert_eq!(encrypt(&srv, &role2, &key).0, 200);
    assert_eq!(
        code(&kms(&srv, &role2, "CreateKey", &json!({}))),
        "AccessDeniedException"
    );

    // Rotate with a grace period: both work for now.
    let o = cli(
        &srv,
        &boot,
        &["rotate", &role2.access_key_id, "--grace-secs", "3600"],
    );
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stderr.contains("keeps working until"), "{}", o.stderr);
    let role3 = save_cred(&files, "role3", &o.stdout);
    secrets.push(role3.secret.clone());
    assert_eq!(encrypt(&srv, &role2, &key).0, 200);
    assert_eq!(encrypt(&srv, &role3, &key).0, 200);
    let items = listed(&srv, &boot);
    let old = items
        .iter()
        .find(|i| i["AccessKeyId"] == role2.access_key_id.as_str())
        .unwrap();
    assert!(old["ExpiresAt"].as_i64().unwrap() > 0);

    // Revoke: refused at once.
    let o = cli(&srv, &boot, &["revoke", &role2.access_key_id]);
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(
        code(&encrypt(&srv, &role2, &key)),
        "UnrecognizedClientException"
    );
    let o = cli(&srv, &boot, &["revoke", &role2.access_key_id]);
    assert!(
        !o.ok && o.stderr.contains("NotFoundException"),
        "{}",
        o.stderr
    );

    // The bootstrap administrator is the only one: neither revoked nor retired.
    let o = cli(&srv, &boot, &["revoke", &boot.access_key_id]);
    assert!(!o.ok, "{}", o.stdout);
    assert!(
        o.stderr.contains("KMSInvalidStateException"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("last administrator"), "{}", o.stderr);
    let o = cli(&srv, &boot, &["retire-bootstrap"]);
    assert!(!o.ok);
    assert!(
        o.stderr.contains("KMSInvalidStateException"),
        "{}",
        o.stderr
    );
    assert!(dir.join("admin-credentials.json").exists());

    // Another administrator (written by the client to a 0600 file), allowed every
    // credential-management action, then retirement.
    let ops_file = files.join("ops.json");
    let full = files.join("full-admin.json");
    std::fs::write(
        &full,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"coffer:*","Resource":"*"}]}"#,
    )
    .unwrap();
    let o = cli(
        &srv,
        &boot,
        &[
            "create",
            "--principal",
            &format!("arn:aws:iam::{ACCOUNT}:user/ops"),
            "--admin",
            "--policy-file",
            full.to_str().unwrap(),
            "--out",
            ops_file.to_str().unwrap(),
        ],
    );
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ops_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let ops = read_cred(&ops_file);
    secrets.push(ops.secret.clone());
    let o = cli(&srv, &ops, &["retire-bootstrap"]);
    assert!(o.ok, "{}", o.stderr);
    assert!(!dir.join("admin-credentials.json").exists());
    assert_eq!(
        code(&kms(&srv, &boot, "ListKeys", &json!({}))),
        "UnrecognizedClientException"
    );
    let o = cli(&srv, &ops, &["revoke", &ops.access_key_id]);
    assert!(
        !o.ok && o.stderr.contains("last administrator"),
        "{}",
        o.stderr
    );
    let items = listed(&srv, &ops);
    assert!(items.iter().all(|i| i["Bootstrap"] == false));
    assert_eq!(items.len(), 2); // ops and role3

    // A restart keeps everything.
    drop(srv);
    let srv = Cofferd::start(&dir);
    assert_eq!(encrypt(&srv, &role3, &key).0, 200);
    assert_eq!(
        code(&kms(&srv, &role3, "CreateKey", &json!({}))),
        "AccessDeniedException"
    );
    for gone in [&role, &role2, &boot] {
        assert_eq!(
            code(&encrypt(&srv, gone, &key)),
            "UnrecognizedClientException"
        );
    }
    assert_eq!(listed(&srv, &ops).len(), 2);
    assert!(!dir.join("admin-credentials.json").exists());
    drop(srv);

    // No secret anywhere in the data dir; every call was audited.
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secret_in(&dir, &refs);
    let audit = audit_text(&dir);
    for op in [
        "CreateCredential",
        "ListCredentials",
        "RotateCredential",
        "RevokeCredential",
        "RetireBootstrapCredential",
    ] {
        assert!(audit.contains(op), "{op} not audited");
    }
    assert!(audit.contains("AccessDeniedException"));
    assert!(audit.contains(&role_arn));
}

#[cfg(unix)]
#[test]
fn group_readable_credentials_file_refuses_start() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new("perms");
    let dir = tmp.0.join("data");
    drop(Cofferd::start(&dir));
    for (file, mode) in [
        ("credentials.json", 0o640),
        ("admin-credentials.json", 0o604),
    ] {
        let path = dir.join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let o = server_command(&dir).output().unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(
            err.contains(file) && err.contains("chmod 600"),
            "{file}: {err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    drop(Cofferd::start(&dir));
}

#[test]
fn format_1_file_is_migrated() {
    let tmp = TempDir::new("migrate");
    let dir = tmp.0.join("data");
    drop(Cofferd::start(&dir));
    let boot = read_cred(&dir.join("admin-credentials.json"));
    let user_secret = "AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjj";
    let v1 = json!({
        "format": 1,
        "region": REGION,
        "credentials": [
            {"access_key_id": boot.access_key_id, "secret_access_key": boot.secret,
             "account_id": ACCOUNT, "principal_arn": boot.principal_arn},
            {"access_key_id": "AKIAUSERFROMRELEASE1", "secret_access_key": user_secret,
             "account_id": ACCOUNT, "principal_arn": format!("arn:aws:iam::{ACCOUNT}:user/old")}
        ]
    });
    let path = dir.join("credentials.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&v1).unwrap()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let srv = Cofferd::start(&dir);
    let stored: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(stored["format"], 3);
    let items = listed(&srv, &boot);
    assert_eq!(items.len(), 2);
    let old = items
        .iter()
        .find(|i| i["AccessKeyId"] == "AKIAUSERFROMRELEASE1")
        .unwrap();
    assert_eq!(old["Administrator"], false);
    let user = Cred {
        access_key_id: "AKIAUSERFROMRELEASE1".into(),
        secret: user_secret.into(),
        principal_arn: String::new(),
        file: PathBuf::new(),
    };
    // Recognized (its secret opened), but an IAM user with no policy may do nothing.
    assert_eq!(
        code(&kms(&srv, &user, "CreateKey", &json!({}))),
        "AccessDeniedException"
    );
    drop(srv);
    let text = std::fs::read(&path).unwrap();
    assert!(!contains(&text, boot.secret.as_bytes()));
    assert!(!contains(&text, user_secret.as_bytes()));
}

#[test]
fn client_speaks_https_trusting_only_its_ca_file() {
    let tmp = TempDir::new("tls");
    let dir = tmp.0.join("data");
    let files = tmp.0.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let write_private = |name: &str, text: &str| {
        let p = files.join(name);
        std::fs::write(&p, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        p
    };
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = write_private("cert.pem", &ck.cert.pem());
    let key = write_private("key.pem", &ck.signing_key.serialize_pem());
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_ca = write_private("other.pem", &other.cert.pem());
    let srv = Cofferd::start_with(
        &dir,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let boot = read_cred(&dir.join("admin-credentials.json"));
    let port = srv.addr.rsplit(':').next().unwrap();
    let endpoint = format!("https://localhost:{port}");

    let o = cli_at(
        &endpoint,
        &boot,
        &["list", "--ca-file", cert.to_str().unwrap()],
    );
    assert!(o.ok, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["Credentials"].as_array().unwrap().len(), 1);

    let o = cli_at(
        &endpoint,
        &boot,
        &["list", "--ca-file", other_ca.to_str().unwrap()],
    );
    assert!(!o.ok);
    assert!(
        o.stderr.to_lowercase().contains("certificate"),
        "{}",
        o.stderr
    );
    let o = cli_at(&endpoint, &boot, &["list"]);
    assert!(!o.ok && o.stderr.contains("--ca-file"), "{}", o.stderr);
    // Plain HTTP to the TLS port is not answered as a KMS response.
    let o = cli_at(&format!("http://{}", srv.addr), &boot, &["list"]);
    assert!(!o.ok);
}
