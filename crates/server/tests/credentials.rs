//! The credential store end to end at the server: the real `cofferd` on a loopback port,
//! driven by raw SigV4-signed requests. The client, `coffer credentials`, is tested with the
//! CLI (crates/cli/tests/ops.rs); `cofferd credentials` only says where it moved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::Path;
use std::process::{Command, Stdio};

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
        let mut cmd = server_command(dir);
        cmd.stderr(Stdio::null());
        let server = common::Server::spawn(cmd);
        let addr = server.addr.clone();
        Self {
            _server: server,
            addr,
        }
    }
}

/// A credential as `admin-credentials.json` shapes it.
#[derive(Clone, Debug)]
struct Cred {
    access_key_id: String,
    secret: String,
    principal_arn: String,
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

fn listed(srv: &Cofferd, as_: &Cred) -> Vec<Value> {
    let r = call(srv, as_, "CofferAdmin.ListCredentials", &json!({}));
    assert_eq!(r.0, 200, "{r:?}");
    r.1["Credentials"].as_array().unwrap().clone()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn cofferd_credentials_says_where_it_moved() {
    for args in [
        &["credentials"][..],
        &["credentials", "list", "--endpoint", "x"][..],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_cofferd"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(err.contains("moved to `coffer credentials`"), "{err}");
    }
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
