//! Several cofferd nodes on one PostgreSQL database (a throwaway cluster per test binary):
//! keys and credentials shared, changes on one node seen on the other within the coherence
//! bound, a node with another root key refused, a node killed mid-write losing nothing it
//! acknowledged, the database restarting under load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use coffer_store_postgres::testing::TestCluster;
use common::{signed_call, Admin, Server, TempDir};
use serde_json::{json, Value};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";
/// How long a poll for a change to show on the other node may take before the test fails:
/// generous (a loaded machine), the bound itself being 1 s.
const DEADLINE: Duration = Duration::from_secs(20);

fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| TestCluster::start().expect("a throwaway PostgreSQL cluster"))
}

/// A cluster of its own, for a test that stops the server.
fn own_cluster() -> TestCluster {
    TestCluster::start().expect("a throwaway PostgreSQL cluster")
}

/// A database, a root key file and the directories of the nodes on it.
struct Fixture {
    url: String,
    dir: TempDir,
}

impl Fixture {
    fn new(name: &str) -> Self {
        Self::on(cluster(), name)
    }

    fn on(cluster: &TestCluster, name: &str) -> Self {
        let url = cluster.create_database().expect("a database");
        Self {
            url,
            dir: TempDir::new(name),
        }
    }

    fn root_key(&self) -> PathBuf {
        self.dir.path().join("root.key")
    }

    fn node_dir(&self, node: &str) -> PathBuf {
        self.dir.path().join(node)
    }

    fn command(&self, node: &str, root_key: &Path) -> std::process::Command {
        let mut cmd = Server::command(&[
            "--listen",
            "127.0.0.1:0",
            "--region",
            REGION,
            "--account-id",
            ACCOUNT,
            "--store-url",
            &self.url,
        ]);
        cmd.arg("--data-dir")
            .arg(self.node_dir(node))
            .arg("--root-key")
            .arg(root_key)
            .stderr(Stdio::null());
        cmd
    }

    fn start(&self, node: &str) -> Server {
        Server::spawn(self.command(node, &self.root_key()))
    }
}

/// A caller: access key id and secret.
#[derive(Clone)]
struct Who {
    id: String,
    secret: String,
}

impl From<&Admin> for Who {
    fn from(a: &Admin) -> Self {
        Self {
            id: a.access_key_id.clone(),
            secret: a.secret.clone(),
        }
    }
}

fn kms(node: &Server, who: &Who, op: &str, body: &Value) -> (u16, Value) {
    signed_call(
        &node.addr,
        &who.id,
        &who.secret,
        REGION,
        &format!("TrentService.{op}"),
        &serde_json::to_vec(body).unwrap(),
    )
}

fn admin(node: &Server, who: &Who, op: &str, body: &Value) -> (u16, Value) {
    signed_call(
        &node.addr,
        &who.id,
        &who.secret,
        REGION,
        &format!("CofferAdmin.{op}"),
        &serde_json::to_vec(body).unwrap(),
    )
}

fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "{}", r.1);
    r.1
}

fn code(r: &(u16, Value)) -> &str {
    r.1["__type"].as_str().unwrap_or("")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn create_key(node: &Server, who: &Who) -> String {
    ok(kms(node, who, "CreateKey", &json!({})))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls `f` until it returns `Some`, at most [`DEADLINE`]; the value and how long it took.
fn poll<T>(mut f: impl FnMut() -> Option<T>) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return (v, start.elapsed());
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the change did not show within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_key_created_on_one_node_decrypts_on_the_other() {
    let f = Fixture::new("pg-shared-key");
    let a = f.start("a");
    let b = f.start("b");
    // The first node made the bootstrap administrator; it works on both.
    let boot = Who::from(&Admin::of(&f.node_dir("a")));
    assert!(!f
        .node_dir("b")
        .join(cofferd::ADMIN_CREDENTIALS_FILE)
        .exists());
    let key = create_key(&a, &boot);
    let plaintext = b"shared across nodes";
    let blob = ok(kms(
        &a,
        &boot,
        "Encrypt",
        &json!({"KeyId": key, "Plaintext": b64(plaintext)}),
    ))["CiphertextBlob"]
        .clone();
    let out = ok(kms(&b, &boot, "Decrypt", &json!({"CiphertextBlob": blob})));
    assert_eq!(out["Plaintext"], json!(b64(plaintext)));
    assert!(out["KeyId"].as_str().unwrap().ends_with(&key));
    // And the other way round, through an alias made on B.
    ok(kms(
        &b,
        &boot,
        "CreateAlias",
        &json!({"AliasName": "alias/shared", "TargetKeyId": key}),
    ));
    let blob = ok(kms(
        &a,
        &boot,
        "Encrypt",
        &json!({"KeyId": "alias/shared", "Plaintext": b64(b"x")}),
    ))["CiphertextBlob"]
        .clone();
    ok(kms(&b, &boot, "Decrypt", &json!({"CiphertextBlob": blob})));
    // Each node keeps its own audit log and id in its own directory.
    for node in ["a", "b"] {
        let dir = f.node_dir(node);
        assert!(dir.join(coffer::AUDIT_DIR).is_dir(), "{node}");
        assert!(dir.join(coffer::NODE_ID_FILE).is_file(), "{node}");
        assert!(!dir.join(coffer::DB_FILE).exists(), "{node}");
    }
    let id = |n| std::fs::read_to_string(f.node_dir(n).join(coffer::NODE_ID_FILE)).unwrap();
    assert_ne!(id("a"), id("b"));
    // Every event names the node that served it, and the nodes' logs verify together (beside
    // the running nodes: each answered request's record is durable).
    let out = Server::command(&["audit", "verify", "--data-dir"])
        .arg(f.node_dir("a"))
        .arg("--node-dir")
        .arg(f.node_dir("b"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    for n in ["a", "b"] {
        assert!(
            report.contains(&format!("== node {}", id(n).trim())),
            "{report}"
        );
    }
    assert!(report.contains("nodes:       2 of 2 verify"), "{report}");
    assert!(report.contains("merged:      "), "{report}");
    // B served the Decrypts and the CreateAlias, A the CreateKey and the Encrypts: each log
    // holds events, all naming its own node.
    assert_eq!(
        report.matches("events naming this node: 0").count(),
        0,
        "{report}"
    );
    drop((a, b));
    // A log whose events name another node is refused: swap the two node ids.
    let (ida, idb) = (id("a"), id("b"));
    std::fs::write(f.node_dir("a").join(coffer::NODE_ID_FILE), &idb).unwrap();
    std::fs::write(f.node_dir("b").join(coffer::NODE_ID_FILE), &ida).unwrap();
    let out = Server::command(&["audit", "verify", "--data-dir"])
        .arg(f.node_dir("a"))
        .arg("--node-dir")
        .arg(f.node_dir("b"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("events name another node or none"),
        "{report}"
    );
}

#[test]
fn disable_on_one_node_refuses_encrypt_on_the_other_within_the_bound() {
    let f = Fixture::new("pg-disable");
    let a = f.start("a");
    let b = f.start("b");
    let boot = Who::from(&Admin::of(&f.node_dir("a")));
    let key = create_key(&a, &boot);
    let encrypt = json!({"KeyId": key, "Plaintext": b64(b"p")});
    // B has the key cached.
    ok(kms(&b, &boot, "Encrypt", &encrypt));
    ok(kms(&a, &boot, "DisableKey", &json!({"KeyId": key})));
    let (refused, took) = poll(|| {
        let r = kms(&b, &boot, "Encrypt", &encrypt);
        (r.0 != 200).then_some(r)
    });
    assert_eq!(code(&refused), "DisabledException", "{}", refused.1);
    eprintln!("DisableKey on A refused on B after {took:?}");
    // Enabled again on B: A serves it again.
    ok(kms(&b, &boot, "EnableKey", &json!({"KeyId": key})));
    poll(|| (kms(&a, &boot, "Encrypt", &encrypt).0 == 200).then_some(()));
}

#[test]
fn a_policy_put_on_one_node_and_a_credential_revoked_there_take_effect_on_the_other() {
    let f = Fixture::new("pg-policy");
    let a = f.start("a");
    let b = f.start("b");
    let boot = Who::from(&Admin::of(&f.node_dir("a")));
    // A credential made through A authenticates on B.
    let user_arn = format!("arn:aws:iam::{ACCOUNT}:user/app");
    let made = ok(admin(
        &a,
        &boot,
        "CreateCredential",
        &json!({"PrincipalArn": user_arn}),
    ));
    let user = Who {
        id: made["AccessKeyId"].as_str().unwrap().to_owned(),
        secret: made["SecretAccessKey"].as_str().unwrap().to_owned(),
    };
    let allow = |effect: &str| {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "root", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "app", "Effect": effect, "Principal": {"AWS": user_arn},
             "Action": "kms:Encrypt", "Resource": "*"}
        ]})
        .to_string()
    };
    let key = ok(kms(
        &a,
        &boot,
        "CreateKey",
        &json!({"Policy": allow("Allow")}),
    ))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let encrypt = json!({"KeyId": key, "Plaintext": b64(b"p")});
    poll(|| (kms(&b, &user, "Encrypt", &encrypt).0 == 200).then_some(()));
    // A policy denying the user, put through A, is applied on B.
    ok(kms(
        &a,
        &boot,
        "PutKeyPolicy",
        &json!({"KeyId": key, "PolicyName": "default", "Policy": allow("Deny")}),
    ));
    let (denied, took) = poll(|| {
        let r = kms(&b, &user, "Encrypt", &encrypt);
        (r.0 != 200).then_some(r)
    });
    assert_eq!(code(&denied), "AccessDeniedException", "{}", denied.1);
    eprintln!("PutKeyPolicy on A applied on B after {took:?}");
    // Another principal (the attacker's credential of another account) never got in.
    // Revoked through A: refused on B.
    ok(admin(
        &a,
        &boot,
        "RevokeCredential",
        &json!({"AccessKeyId": user.id}),
    ));
    let (refused, took) = poll(|| {
        let r = kms(&b, &user, "ListKeys", &json!({}));
        (r.0 != 200 && code(&r) != "AccessDeniedException").then_some(r)
    });
    assert_eq!(
        code(&refused),
        "UnrecognizedClientException",
        "{}",
        refused.1
    );
    eprintln!("RevokeCredential on A refused on B after {took:?}");
}

#[test]
fn a_node_started_with_another_root_key_is_refused_and_changes_nothing() {
    let f = Fixture::new("pg-root");
    let a = f.start("a");
    let boot = Who::from(&Admin::of(&f.node_dir("a")));
    let key = create_key(&a, &boot);
    // Another node with a root key of its own (made by cofferd at first start): refused.
    let other = f.dir.path().join("other.key");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&other)
            .unwrap();
        file.write_all(&[0x5a; 32]).unwrap();
    }
    let mut cmd = f.command("b", &other);
    cmd.stderr(Stdio::piped());
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong root key"), "{err}");
    // The first node still serves the key.
    ok(kms(
        &a,
        &boot,
        "Encrypt",
        &json!({"KeyId": key, "Plaintext": b64(b"p")}),
    ));
    let mut db = cluster()
        .admin(f.url.rsplit('/').next().unwrap())
        .expect("admin connection");
    let nodes: i64 = db
        .query_one(
            "SELECT count(*) FROM meta WHERE name LIKE 'audit.key.node.%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(nodes, 1, "the refused node recorded nothing");
}

#[test]
fn a_node_killed_mid_write_loses_no_acknowledged_write() {
    let f = Fixture::new("pg-kill");
    let mut a = f.start("a");
    let b = f.start("b");
    let boot = Who::from(&Admin::of(&f.node_dir("a")));
    let (tx, rx) = std::sync::mpsc::channel::<(String, String)>();
    let writer = {
        let (addr, boot) = (a.addr.clone(), boot.clone());
        std::thread::spawn(move || {
            let node = |op: &str, body: &Value| {
                let addr = addr.clone();
                let (id, secret) = (boot.id.clone(), boot.secret.clone());
                let body = serde_json::to_vec(body).unwrap();
                let op = format!("TrentService.{op}");
                // A refused connection (the node is gone) ends the loop.
                std::panic::catch_unwind(move || {
                    signed_call(&addr, &id, &secret, REGION, &op, &body)
                })
                .ok()
            };
            // A call until it is answered other than by throttling (CreateKey's quota is AWS's
            // 5/s); `None` once the node is gone.
            let call = |op: &str, body: &Value| loop {
                match node(op, body) {
                    Some((400, v)) if v["__type"] == json!("ThrottlingException") => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    other => return other,
                }
            };
            for i in 0.. {
                let made = match call("CreateKey", &json!({})) {
                    Some((200, made)) => made,
                    Some(other) => panic!("CreateKey: {other:?}"),
                    None => return,
                };
                let key = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
                let alias = format!("alias/kill-{i}");
                match call(
                    "CreateAlias",
                    &json!({"AliasName": alias, "TargetKeyId": key}),
                ) {
                    Some((200, _)) => {}
                    Some(other) => panic!("CreateAlias: {other:?}"),
                    None => return,
                }
                // Acknowledged: both writes answered 200.
                if tx.send((key, alias)).is_err() {
                    return;
                }
            }
        })
    };
    // Let some writes be acknowledged, then kill the node while the loop is writing.
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 10 {
        acknowledged.push(rx.recv_timeout(DEADLINE).expect("acknowledged writes"));
    }
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    writer.join().unwrap();
    acknowledged.extend(rx.try_iter());
    // Every acknowledged key and alias is there, through the other node.
    for (key, alias) in &acknowledged {
        let d = ok(kms(&b, &boot, "DescribeKey", &json!({"KeyId": alias})));
        assert_eq!(d["KeyMetadata"]["KeyId"].as_str().unwrap(), key);
        assert_eq!(d["KeyMetadata"]["KeyState"], json!("Enabled"));
    }
    eprintln!(
        "{} acknowledged CreateKey+CreateAlias pairs before kill -9, all present on B",
        acknowledged.len()
    );
    // The killed node starts again on its directory (its lock died with it).
    let a = f.start("a");
    ok(kms(
        &a,
        &boot,
        "DescribeKey",
        &json!({"KeyId": acknowledged[0].1}),
    ));
}

#[test]
fn the_database_restarting_under_load_fails_requests_retryably_and_they_recover() {
    let pg = own_cluster();
    let f = Fixture::on(&pg, "pg-restart");
    let a = f.start("a");
    let boot = Who::from(&Admin::of(&f.node_dir("a")));
    let key = create_key(&a, &boot);
    let encrypt = json!({"KeyId": key, "Plaintext": b64(b"under load")});
    ok(kms(&a, &boot, "Encrypt", &encrypt));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (addr, boot, stop, encrypt) =
            (a.addr.clone(), boot.clone(), stop.clone(), encrypt.clone());
        std::thread::spawn(move || {
            let mut outcomes: Vec<(u16, String)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let (status, v) = signed_call(
                    &addr,
                    &boot.id,
                    &boot.secret,
                    REGION,
                    "TrentService.Encrypt",
                    &serde_json::to_vec(&encrypt).unwrap(),
                );
                outcomes.push((status, v["__type"].as_str().unwrap_or("").to_owned()));
            }
            outcomes
        })
    };
    pg.stop().expect("stopping the database");
    // While the database is down: refused, with a 500 the SDKs retry, never served stale.
    let (refused, _) = poll(|| {
        let r = kms(&a, &boot, "Encrypt", &encrypt);
        (r.0 != 200).then_some(r)
    });
    assert_eq!(refused.0, 500, "{}", refused.1);
    assert_eq!(code(&refused), "KMSInternalException", "{}", refused.1);
    let created = kms(&a, &boot, "CreateKey", &json!({}));
    assert_eq!(created.0, 500, "{}", created.1);
    pg.start_again().expect("starting the database again");
    // Back without restarting cofferd: reads and writes.
    let (_, took) = poll(|| (kms(&a, &boot, "Encrypt", &encrypt).0 == 200).then_some(()));
    eprintln!("Encrypt served again {took:?} after the database was back");
    poll(|| (kms(&a, &boot, "CreateKey", &json!({})).0 == 200).then_some(()));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let outcomes = load.join().unwrap();
    let failed: Vec<&(u16, String)> = outcomes.iter().filter(|(s, _)| *s != 200).collect();
    assert!(!failed.is_empty(), "the load saw the database go");
    for (status, code) in &failed {
        assert_eq!((*status, code.as_str()), (500, "KMSInternalException"));
    }
    eprintln!(
        "load: {} requests, {} refused with 500 KMSInternalException while the database was down",
        outcomes.len(),
        failed.len()
    );
}

#[test]
fn the_database_password_is_never_logged_and_may_come_from_a_file() {
    let f = Fixture::new("pg-password");
    // The test cluster trusts local connections, so any password is accepted: what is checked
    // is that it never reaches the log or --check-config, from the URL or from the file.
    let url = f.url.replacen("postgres@", "postgres:url-pw-7f3a9c@", 1);
    let file = f.dir.path().join("db-password");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .unwrap();
        w.write_all(b"file-pw-91be4d\n").unwrap();
    }
    let log = f.dir.path().join("a.log");
    let mut cmd = f.command("a", &f.root_key());
    let args = ["--store-url", &url, "--store-password-file"];
    cmd.args(args)
        .arg(&file)
        .args(["--log-level", "debug"])
        .stderr(std::fs::File::create(&log).unwrap());
    let a = Server::spawn(cmd);
    let boot = Who::from(&Admin::of(&f.node_dir("a")));
    create_key(&a, &boot);
    // The configuration check prints the URL, redacted.
    let mut check = f.command("a", &f.root_key());
    check.args(["--store-url", &url, "--check-config"]);
    let out = check.stderr(Stdio::piped()).output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("store.url = \"postgres://postgres:***@127.0.0.1:"),
        "{printed}"
    );
    drop(a);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("connected to the shared database"),
        "{logged}"
    );
    for secret in ["url-pw-7f3a9c", "file-pw-91be4d"] {
        assert!(!logged.contains(secret), "{secret} in the log");
        assert!(!printed.contains(secret), "{secret} in --check-config");
    }
}

#[test]
fn credentials_created_on_two_nodes_at_once_are_all_kept() {
    let f = Fixture::new("pg-creds-race");
    let a = f.start("a");
    let b = f.start("b");
    let boot = Who::from(&Admin::of(&f.node_dir("a")));
    const EACH: usize = 6;
    let barrier = std::sync::Barrier::new(2);
    let (conflicts, made): (Vec<usize>, Vec<Vec<Who>>) = std::thread::scope(|s| {
        let handles: Vec<_> = [(&a, "a"), (&b, "b")]
            .into_iter()
            .map(|(node, name)| {
                let (boot, barrier) = (&boot, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut conflicts = 0;
                    let mut made = Vec::new();
                    for i in 0..EACH {
                        let arn = format!("arn:aws:iam::{ACCOUNT}:user/{name}-{i}");
                        loop {
                            let r = admin(
                                node,
                                boot,
                                "CreateCredential",
                                &json!({"PrincipalArn": arn}),
                            );
                            match r.0 {
                                200 => {
                                    made.push(Who {
                                        id: r.1["AccessKeyId"].as_str().unwrap().to_owned(),
                                        secret: r.1["SecretAccessKey"].as_str().unwrap().to_owned(),
                                    });
                                    break;
                                }
                                // The other node changed the set first: retry, as an SDK would.
                                500 => {
                                    assert_eq!(code(&r), "KMSInternalException", "{}", r.1);
                                    conflicts += 1;
                                }
                                _ => panic!("CreateCredential: {}", r.1),
                            }
                        }
                    }
                    (conflicts, made)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).unzip()
    });
    eprintln!("conflicts retried: {conflicts:?}");
    // No lost update: every credential either node acknowledged is listed, and works on the
    // node that did not make it.
    // (A lists from memory: B's last change reaches it within the bound.)
    let (ids, _) = poll(|| {
        let listed = ok(admin(&a, &boot, "ListCredentials", &json!({"Limit": 1000})));
        let ids: Vec<String> = listed["Credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["AccessKeyId"].as_str().unwrap().to_owned())
            .collect();
        (ids.len() == 1 + 2 * EACH).then_some(ids)
    });
    for (who, other) in made[0]
        .iter()
        .map(|w| (w, &b))
        .chain(made[1].iter().map(|w| (w, &a)))
    {
        assert!(ids.contains(&who.id), "{} lost", who.id);
        // Allowed nothing by policy, but authenticated: AccessDenied, not Unrecognized.
        let r = kms(other, who, "ListKeys", &json!({}));
        assert_eq!(code(&r), "AccessDeniedException", "{}", r.1);
    }
}
