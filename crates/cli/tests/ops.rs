//! The operator's commands end to end, the built `coffer` against a real cofferd in process:
//! `coffer credentials …` (the walk-through of docs/CREDENTIALS.md, and its TLS client),
//! `coffer audit verify`, and `--data-dir` mode (a data directory opened in process, shared
//! with cofferd in turn).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may panic

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{coffer_bare, run_with, Running, TempDir};
use serde_json::Value;

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "111122223333";

fn config(data: &Path) -> cofferd::Config {
    let mut cfg = cofferd::Config::new(data);
    cfg.region = REGION.into();
    cfg.account_id = Some(ACCOUNT.parse().unwrap());
    cfg
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) -> &Output {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status.code(),
        text(&o.stderr)
    );
    o
}

fn failed(o: &Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains(needle), "{}", text(&o.stderr));
}

/// A credential in the admin-credentials.json shape, kept in a 0600 file.
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

fn write_private(path: &Path, text: &[u8]) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Saves a credential printed by `coffer credentials` for `--credentials-file`.
fn save_cred(dir: &Path, name: &str, stdout: &[u8]) -> Cred {
    let path = dir.join(format!("{name}.json"));
    write_private(&path, stdout);
    read_cred(&path)
}

/// `coffer credentials ARGS --endpoint-url URL --credentials-file AS`.
fn creds(url: &str, as_: &Cred, args: &[&str]) -> Output {
    let mut c = coffer_bare(&["credentials"]);
    c.args(args)
        .args(["--endpoint-url", url, "--credentials-file"])
        .arg(&as_.file);
    run_with(c, b"")
}

/// `coffer ARGS` against `url` signed as `as_` (a KMS call).
fn kms(url: &str, as_: &Cred, args: &[&str], stdin: &[u8]) -> Output {
    let none = as_.file.with_extension("none");
    let mut c = coffer_bare(args);
    c.env("AWS_ENDPOINT_URL", url)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &as_.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &as_.secret)
        .env("AWS_CONFIG_FILE", &none)
        .env("AWS_SHARED_CREDENTIALS_FILE", &none)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1");
    run_with(c, stdin)
}

fn encrypt(url: &str, as_: &Cred, key: &str) -> Output {
    kms(
        url,
        as_,
        &["encrypt", "--key", key, "--output", "json"],
        b"hello",
    )
}

fn listed(url: &str, as_: &Cred) -> Vec<Value> {
    let o = creds(url, as_, &["list"]);
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
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

fn audit_text(data: &Path) -> String {
    let mut files = Vec::new();
    all_files(&data.join("audit"), &mut files);
    files
        .iter()
        .map(|f| text(&std::fs::read(f).unwrap()))
        .collect()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn credentials_walk_through_least_privilege_rotate_revoke_retire_and_restart() {
    let tmp = TempDir::new("creds");
    let data = tmp.path().join("data");
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let srv = Running::start(config(&data));
    let url = format!("http://{}", srv.addr);
    let boot = read_cred(&data.join("admin-credentials.json"));
    assert_eq!(boot.principal_arn, format!("arn:aws:iam::{ACCOUNT}:root"));
    let mut secrets = vec![boot.secret.clone()];

    let o = kms(&url, &boot, &["key", "create", "--output", "json"], b"");
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    let key = v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();

    // A role that may only Encrypt.
    let policy = files.join("encrypt-only.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#,
    )
    .unwrap();
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let o = creds(
        &url,
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
    ok(&o);
    assert!(
        text(&o.stderr).contains("only this once"),
        "{}",
        text(&o.stderr)
    );
    let role = save_cred(&files, "role", &o.stdout);
    secrets.push(role.secret.clone());
    assert_eq!(role.principal_arn, role_arn);
    assert!(role.access_key_id.starts_with("AKIA") && role.access_key_id.len() == 20);
    assert_eq!(role.secret.len(), 40);

    ok(&encrypt(&url, &role, &key));
    failed(
        &kms(&url, &role, &["key", "create"], b""),
        1,
        "AccessDeniedException",
    );
    failed(&creds(&url, &role, &["list"]), 1, "AccessDeniedException");
    // Input is checked before anything is sent: bad JSON, a bad tag, a bad limit.
    let bad = files.join("bad.json");
    std::fs::write(&bad, "{nope").unwrap();
    let arn = format!("arn:aws:iam::{ACCOUNT}:user/x");
    failed(
        &creds(
            &url,
            &boot,
            &[
                "create",
                "--principal",
                &arn,
                "--policy-file",
                bad.to_str().unwrap(),
            ],
        ),
        2,
        "not JSON",
    );
    failed(
        &creds(
            &url,
            &boot,
            &["create", "--principal", &arn, "--tag", "novalue"],
        ),
        2,
        "KEY=VALUE",
    );
    failed(&creds(&url, &boot, &["list", "--limit", "0"]), 2, "--limit");
    failed(
        &creds(
            &url,
            &boot,
            &["create", "--principal", "arn:aws:iam::1:group/g"],
        ),
        1,
        "ValidationException",
    );

    // The list shows it, and no secret.
    let o = creds(&url, &boot, &["list"]);
    ok(&o);
    for s in &secrets {
        assert!(!contains(&o.stdout, s.as_bytes()));
    }
    assert!(!text(&o.stdout).to_lowercase().contains("secret"));
    let items = listed(&url, &boot);
    assert_eq!(items.len(), 2);
    let item = items
        .iter()
        .find(|i| i["AccessKeyId"] == role.access_key_id.as_str())
        .unwrap();
    assert_eq!(item["PrincipalArn"], role_arn.as_str());
    assert_eq!(item["Administrator"], false);
    assert_eq!(item["Bootstrap"], false);
    assert_eq!(item["Description"], "the app");
    let o = creds(&url, &boot, &["list", "--limit", "1"]);
    let page: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    assert_eq!(page["Credentials"].as_array().unwrap().len(), 1);
    assert_eq!(page["Truncated"], true);
    assert!(page["NextMarker"].is_string());

    // Rotate with no grace: the old key is refused at once.
    let o = creds(
        &url,
        &boot,
        &["rotate", &role.access_key_id, "--grace-secs", "0"],
    );
    ok(&o);
    assert!(
        text(&o.stderr).contains("no longer works"),
        "{}",
        text(&o.stderr)
    );
    let role2 = save_cred(&files, "role2", &o.stdout);
    secrets.push(role2.secret.clone());
    assert_ne!(role2.access_key_id, role.access_key_id);
    failed(
        &encrypt(&url, &role, &key),
        1,
        "UnrecognizedClientException",
    );
    ok(&encrypt(&url, &role2, &key));

    // Rotate with a grace period, into a file: both work for now.
    let role3_file = files.join("role3.json");
    let o = creds(
        &url,
        &boot,
        &[
            "rotate",
            &role2.access_key_id,
            "--grace-secs",
            "3600",
            "--out",
            role3_file.to_str().unwrap(),
        ],
    );
    ok(&o);
    assert!(o.stdout.is_empty());
    assert!(
        text(&o.stderr).contains("keeps working until"),
        "{}",
        text(&o.stderr)
    );
    let role3 = read_cred(&role3_file);
    secrets.push(role3.secret.clone());
    ok(&encrypt(&url, &role2, &key));
    ok(&encrypt(&url, &role3, &key));
    let items = listed(&url, &boot);
    let old = items
        .iter()
        .find(|i| i["AccessKeyId"] == role2.access_key_id.as_str())
        .unwrap();
    assert!(old["ExpiresAt"].as_i64().unwrap() > 0);

    // Revoke: refused at once; a second time it is not found.
    ok(&creds(&url, &boot, &["revoke", &role2.access_key_id]));
    failed(
        &encrypt(&url, &role2, &key),
        1,
        "UnrecognizedClientException",
    );
    failed(
        &creds(&url, &boot, &["revoke", &role2.access_key_id]),
        1,
        "NotFoundException",
    );

    // The bootstrap administrator is the only one: not revoked, not retired (the client
    // refuses first; with --force the service does).
    failed(
        &creds(&url, &boot, &["revoke", &boot.access_key_id]),
        1,
        "last administrator",
    );
    failed(
        &creds(&url, &boot, &["retire-bootstrap"]),
        2,
        "no other lasting administrator",
    );
    failed(
        &creds(&url, &boot, &["retire-bootstrap", "--force"]),
        1,
        "KMSInvalidStateException",
    );
    assert!(data.join("admin-credentials.json").exists());

    // Another administrator, allowed every credential-management action (written by the
    // client to a new 0600 file, never over an existing one).
    let ops_file = files.join("ops.json");
    let full = files.join("full-admin.json");
    std::fs::write(
        &full,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"coffer:*","Resource":"*"}]}"#,
    )
    .unwrap();
    let ops_args = [
        "create",
        "--principal",
        &format!("arn:aws:iam::{ACCOUNT}:user/ops"),
        "--admin",
        "--policy-file",
        full.to_str().unwrap(),
        "--out",
        ops_file.to_str().unwrap(),
    ];
    let o = creds(&url, &boot, &ops_args);
    ok(&o);
    assert!(o.stdout.is_empty());
    #[cfg(unix)]
    assert_eq!(mode(&ops_file), 0o600);
    let ops = read_cred(&ops_file);
    secrets.push(ops.secret.clone());
    let before = std::fs::read(&ops_file).unwrap();
    failed(&creds(&url, &boot, &ops_args), 2, "nothing was sent");
    assert_eq!(std::fs::read(&ops_file).unwrap(), before);
    assert_eq!(listed(&url, &boot).len(), 3); // boot, role3 and ops: no second ops

    // ops manages credentials but has no KMS permission: retiring now would leave nobody who
    // can manage the keys. Refused, naming the account root and --force.
    let root_arn = format!("arn:aws:iam::{ACCOUNT}:root");
    let o = creds(&url, &ops, &["retire-bootstrap"]);
    failed(&o, 2, &root_arn);
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    assert!(data.join("admin-credentials.json").exists());
    // A lasting credential for the account root (not an administrator) satisfies it.
    let root_file = files.join("root.json");
    ok(&creds(
        &url,
        &ops,
        &[
            "create",
            "--principal",
            &root_arn,
            "--out",
            root_file.to_str().unwrap(),
        ],
    ));
    let root = read_cred(&root_file);
    secrets.push(root.secret.clone());
    ok(&creds(&url, &ops, &["retire-bootstrap"]));
    assert!(!data.join("admin-credentials.json").exists());
    failed(
        &kms(&url, &boot, &["key", "list"], b""),
        1,
        "UnrecognizedClientException",
    );
    // The root can still manage keys.
    ok(&kms(&url, &root, &["key", "disable", &key], b""));
    ok(&kms(&url, &root, &["key", "enable", &key], b""));
    failed(
        &creds(&url, &ops, &["revoke", &ops.access_key_id]),
        1,
        "last administrator",
    );
    let items = listed(&url, &ops);
    assert!(items.iter().all(|i| i["Bootstrap"] == false));
    assert_eq!(items.len(), 3); // ops, role3, root

    // A restart keeps everything.
    drop(srv);
    let srv = Running::start(config(&data));
    let url = format!("http://{}", srv.addr);
    ok(&encrypt(&url, &role3, &key));
    for gone in [&role, &role2, &boot] {
        failed(&encrypt(&url, gone, &key), 1, "UnrecognizedClientException");
    }
    assert_eq!(listed(&url, &ops).len(), 3);
    drop(srv);

    // No secret anywhere in the data dir; every call was audited.
    let mut all = Vec::new();
    all_files(&data, &mut all);
    for f in all {
        let bytes = std::fs::read(&f).unwrap();
        for s in &secrets {
            assert!(
                !contains(&bytes, s.as_bytes()),
                "{} holds a secret",
                f.display()
            );
        }
    }
    let audit = audit_text(&data);
    for op in [
        "CreateCredential",
        "ListCredentials",
        "RotateCredential",
        "RevokeCredential",
        "RetireBootstrapCredential",
    ] {
        assert!(audit.contains(op), "{op} not audited");
    }
    assert!(audit.contains(&role_arn));
}

#[test]
fn retire_bootstrap_with_force_skips_the_check() {
    let tmp = TempDir::new("force");
    let data = tmp.path().join("data");
    let srv = Running::start(config(&data));
    let url = format!("http://{}", srv.addr);
    let boot = read_cred(&data.join("admin-credentials.json"));
    let full = tmp.path().join("full.json");
    std::fs::write(
        &full,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["coffer:*","kms:*"],"Resource":"*"}]}"#,
    )
    .unwrap();
    let ops_file = tmp.path().join("ops.json");
    ok(&creds(
        &url,
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
    ));
    let ops = read_cred(&ops_file);
    // ops has kms:* in its identity policy, which the client cannot see: refused without
    // --force, retired with it, and ops then manages keys.
    failed(&creds(&url, &ops, &["retire-bootstrap"]), 2, "--force");
    let o = creds(&url, &ops, &["retire-bootstrap", "--force"]);
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    assert_eq!(v["AccessKeyId"], boot.access_key_id.as_str());
    assert!(!data.join("admin-credentials.json").exists());
    ok(&kms(&url, &ops, &["key", "create"], b""));
}

#[test]
fn credentials_client_speaks_https_trusting_only_its_ca_file() {
    let tmp = TempDir::new("tls");
    let data = tmp.path().join("data");
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = files.join("cert.pem");
    write_private(&cert, ck.cert.pem().as_bytes());
    let key = files.join("key.pem");
    write_private(&key, ck.signing_key.serialize_pem().as_bytes());
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_ca = files.join("other.pem");
    write_private(&other_ca, other.cert.pem().as_bytes());
    let mut cfg = config(&data);
    cfg.tls = Some(cofferd::TlsFiles {
        cert: cert.clone(),
        key,
    });
    let srv = Running::start(cfg);
    let boot = read_cred(&data.join("admin-credentials.json"));
    let endpoint = format!("https://localhost:{}", srv.addr.port());

    let o = creds(
        &endpoint,
        &boot,
        &["list", "--ca-file", cert.to_str().unwrap()],
    );
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    assert_eq!(v["Credentials"].as_array().unwrap().len(), 1);
    let o = creds(
        &endpoint,
        &boot,
        &["list", "--ca-file", other_ca.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o.stderr).to_lowercase().contains("certificate"),
        "{}",
        text(&o.stderr)
    );
    failed(&creds(&endpoint, &boot, &["list"]), 3, "--ca-file");
    // Plain HTTP to the TLS port is not answered as a KMS response.
    let o = creds(&format!("http://{}", srv.addr), &boot, &["list"]);
    assert!(!o.status.success());
}

#[test]
fn credentials_usage_errors() {
    // --data-dir and profiles are not for credential management.
    let o = run_with(
        coffer_bare(&["credentials", "--data-dir", "/nonexistent", "list"]),
        b"",
    );
    failed(&o, 2, "--endpoint-url");
    let o = run_with(
        coffer_bare(&[
            "--endpoint-url",
            "http://127.0.0.1:1",
            "--profile",
            "p",
            "credentials",
            "list",
        ]),
        b"",
    );
    failed(&o, 2, "profile");
    let o = run_with(coffer_bare(&["credentials", "list"]), b"");
    failed(&o, 3, "endpoint");
    let o = run_with(coffer_bare(&["--root-key", "/x", "key", "list"]), b"");
    failed(&o, 2, "go with --data-dir");
    let o = run_with(coffer_bare(&["credentials", "revoke"]), b"");
    failed(&o, 2, "ACCESS_KEY_ID");
    // A secret from the environment never shows in an error.
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let mut c = coffer_bare(&[
        "--endpoint-url",
        "http://127.0.0.1:1",
        "credentials",
        "list",
    ]);
    c.env("AWS_ACCESS_KEY_ID", "AKIAAAAAAAAAAAAAAAAA")
        .env("AWS_SECRET_ACCESS_KEY", secret);
    let o = run_with(c, b"");
    assert_eq!(o.status.code(), Some(3));
    assert!(!text(&o.stderr).contains(secret) && !text(&o.stdout).contains(secret));
}

/// The single audit log file of a data dir.
fn log_file(data: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

fn verify(data: &Path, extra: &[&str]) -> Output {
    let mut c = coffer_bare(&["audit", "verify", "--data-dir", data.to_str().unwrap()]);
    c.args(extra);
    run_with(c, b"")
}

#[test]
fn audit_verify_passes_a_clean_log_and_fails_a_cut_one_against_anchors() {
    let tmp = TempDir::new("audit");
    let data = tmp.path().join("data");
    let anchors = tmp.path().join("anchors");
    let mut cfg = config(&data);
    cfg.audit.anchor_dir = Some(anchors.clone());
    let srv = Running::start(cfg);
    let url = format!("http://{}", srv.addr);
    let boot = read_cred(&data.join("admin-credentials.json"));
    for _ in 0..3 {
        ok(&kms(&url, &boot, &["key", "create"], b""));
    }
    drop(srv);

    let a = anchors.to_str().unwrap();
    let o = verify(&data, &["--anchors", a]);
    ok(&o);
    let report = text(&o.stdout);
    assert!(report.contains("result:      OK"), "{report}");
    assert!(report.contains("closed:      yes"), "{report}");
    // The same report as cofferd's (one implementation).
    let (theirs, status) = cofferd::audit_cli::verify(&{
        let mut v = cofferd::audit_cli::VerifyArgs::new(&data);
        v.anchors = Some(anchors.clone());
        v
    });
    assert_eq!(status, 0);
    assert_eq!(theirs, report);

    // A wrong public key, a missing directory: unusable input (2).
    let o = verify(&data, &["--public-key", &"00".repeat(32)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let o = verify(&tmp.path().join("nope"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    let o = run_with(coffer_bare(&["audit", "verify"]), b"");
    failed(&o, 2, "--data-dir");

    // The log cut back to its first lines: it still chains, but the anchors catch it.
    let file = log_file(&data);
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(lines.len() > 4, "{}", lines.len());
    std::fs::write(&file, format!("{}\n", lines[..2].join("\n"))).unwrap();
    let o = verify(&data, &["--anchors", a]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("FAILED"), "{}", text(&o.stdout));
}

/// `coffer --data-dir DATA ARGS` (no AWS variable at all).
fn local(data: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut c = coffer_bare(&["--data-dir", data.to_str().unwrap()]);
    c.args(args);
    run_with(c, stdin)
}

#[test]
fn data_dir_mode_shares_keys_aliases_and_ciphertexts_with_cofferd() {
    let tmp = TempDir::new("local");
    let data = tmp.path().join("data");
    // First start by cofferd (it makes the directory), then stopped.
    drop(Running::start(config(&data)));
    let boot = read_cred(&data.join("admin-credentials.json"));

    // Local: a key and an alias, and a ciphertext.
    let o = local(
        &data,
        &[
            "key",
            "create",
            "--description",
            "local",
            "--output",
            "json",
        ],
        b"",
    );
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    let key = v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(v["KeyMetadata"]["AWSAccountId"], ACCOUNT);
    assert!(v["KeyMetadata"]["Arn"].as_str().unwrap().contains(REGION));
    ok(&local(
        &data,
        &["alias", "create", "alias/local", &key],
        b"",
    ));
    let ct_local = tmp.path().join("local.bin");
    ok(&local(
        &data,
        &[
            "encrypt",
            "--key",
            "alias/local",
            "-o",
            ct_local.to_str().unwrap(),
        ],
        b"made in process",
    ));
    // A service error exits 1 as it would remotely.
    failed(
        &local(&data, &["key", "describe", "alias/none"], b""),
        1,
        "NotFoundException",
    );
    // The envelope commands too: a multi-frame message made and opened in process.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let plain = tmp.path().join("big.bin");
    std::fs::write(&plain, &big).unwrap();
    let sealed = tmp.path().join("big.cfem");
    ok(&local(
        &data,
        &[
            "envelope",
            "encrypt",
            "--key-id",
            "alias/local",
            "--context",
            "app=local",
            "--out",
            sealed.to_str().unwrap(),
            plain.to_str().unwrap(),
        ],
        b"",
    ));
    let o = ok(&local(
        &data,
        &[
            "envelope",
            "decrypt",
            "--context",
            "app=local",
            sealed.to_str().unwrap(),
        ],
        b"",
    ))
    .stdout
    .clone();
    assert!(
        o == big,
        "the envelope round trip through --data-dir changed the data"
    );
    failed(
        &local(
            &data,
            &[
                "envelope",
                "decrypt",
                "--context",
                "app=other",
                sealed.to_str().unwrap(),
            ],
            b"",
        ),
        1,
        "",
    );

    // cofferd sees them, decrypts the local ciphertext, and makes its own.
    let srv = Running::start(config(&data));
    let url = format!("http://{}", srv.addr);
    // While it runs, --data-dir is refused (exit 3), changing nothing.
    failed(&local(&data, &["key", "list"], b""), 3, "in use");
    let o = kms(&url, &boot, &["alias", "list", "--output", "json"], b"");
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    assert!(v["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["AliasName"] == "alias/local" && a["TargetKeyId"] == key.as_str()));
    let o = kms(
        &url,
        &boot,
        &["decrypt", ct_local.to_str().unwrap(), "-o", "-"],
        b"",
    );
    assert_eq!(ok(&o).stdout, b"made in process");
    let o = kms(&url, &boot, &["key", "create", "--output", "json"], b"");
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    let remote_key = v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    ok(&kms(
        &url,
        &boot,
        &["alias", "create", "alias/remote", &remote_key],
        b"",
    ));
    let ct_remote = tmp.path().join("remote.bin");
    ok(&kms(
        &url,
        &boot,
        &[
            "encrypt",
            "--key",
            "alias/remote",
            "-o",
            ct_remote.to_str().unwrap(),
        ],
        b"made by cofferd",
    ));
    drop(srv);

    // Local again: the server's key, alias and ciphertext.
    let o = local(
        &data,
        &["key", "describe", "alias/remote", "--output", "json"],
        b"",
    );
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    assert_eq!(v["KeyMetadata"]["KeyId"], remote_key.as_str());
    let o = local(
        &data,
        &["decrypt", ct_remote.to_str().unwrap(), "-o", "-"],
        b"",
    );
    assert_eq!(ok(&o).stdout, b"made by cofferd");
    let o = local(&data, &["key", "list", "--output", "json"], b"");
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    assert_eq!(v["Keys"].as_array().unwrap().len(), 2);

    // The local calls are audited as the account root, and the log verifies.
    let lines: Vec<Value> = audit_text(&data)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let local_create = lines
        .iter()
        .find(|l| l.to_string().contains("CreateAlias") && l.to_string().contains("alias/local"))
        .expect("the local CreateAlias is audited");
    assert!(local_create.to_string().contains(&root), "{local_create}");
    // The last command closed the log with a signed digest.
    let o = verify(&data, &[]);
    assert!(
        text(&ok(&o).stdout).contains("closed:      yes"),
        "{}",
        text(&o.stdout)
    );

    // Bad directories: nothing is created.
    let missing = tmp.path().join("missing");
    failed(
        &local(&missing, &["key", "list"], b""),
        3,
        "no such directory",
    );
    assert!(!missing.exists());
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    failed(&local(&empty, &["key", "list"], b""), 3, "root key");
    failed(
        &local(
            &empty,
            &["--root-passphrase-env", "COFFER_NOPE", "key", "list"],
            b"",
        ),
        3,
        "not a data directory",
    );
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    // --data-dir and an endpoint are one or the other.
    let o = run_with(
        coffer_bare(&[
            "--data-dir",
            "/x",
            "--endpoint-url",
            "http://127.0.0.1:1",
            "key",
            "list",
        ]),
        b"",
    );
    failed(&o, 2, "cannot be used with");
}

#[test]
fn data_dir_mode_with_a_passphrase_root_key_never_shows_the_passphrase() {
    let tmp = TempDir::new("pass");
    let data = tmp.path().join("data");
    let pass = "correct horse battery staple, not printed";
    let pass_file = tmp.path().join("pass");
    write_private(&pass_file, pass.as_bytes());
    let mut cfg = config(&data);
    cfg.root_key = cofferd::RootKeyProvider::PassphraseFile(pass_file.clone());
    drop(Running::start(cfg));
    let o = local(
        &data,
        &[
            "--root-passphrase-file",
            pass_file.to_str().unwrap(),
            "key",
            "create",
        ],
        b"",
    );
    ok(&o);
    // Through the environment, and a wrong one: refused (3), the passphrase never shown.
    let mut c = coffer_bare(&["--data-dir", data.to_str().unwrap(), "key", "list"]);
    c.args(["--root-passphrase-env", "COFFER_TEST_PASS"])
        .env("COFFER_TEST_PASS", pass);
    ok(&run_with(c, b""));
    let wrong = "a wrong passphrase, not printed either";
    let mut c = coffer_bare(&["--data-dir", data.to_str().unwrap(), "key", "list"]);
    c.args(["--root-passphrase-env", "COFFER_TEST_PASS"])
        .env("COFFER_TEST_PASS", wrong);
    let o = run_with(c, b"");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    for s in [pass, wrong] {
        assert!(!text(&o.stderr).contains(s) && !text(&o.stdout).contains(s));
    }
}
