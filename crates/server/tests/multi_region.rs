//! Multi-Region keys across two cofferd processes on loopback, each its own region and data
//! directory, with the official SDK: CreateKey MultiRegion, ReplicateKey from us-east-1 to
//! eu-west-1 (the primary's cofferd calls the replica's over SigV4 with a credential of the
//! replica's cofferd), DescribeKey's MultiRegionConfiguration in both regions, a ciphertext of
//! one region decrypting in the other, rotation of the primary reaching the replica, the
//! replica region down (a retryable error; rotation converges once it is back on the same data
//! dir), and the attacker's tests (no kms:ReplicateKey; unsigned, wrongly signed and
//! unauthorized calls to the replica region's replication endpoint).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, MultiRegionKeyType, Tag};
use aws_sdk_kms::Client;
use serde_json::{json, Value};

mod common;

use common::{audit_lines, sdk_code as code, signed_call, Admin, Server, TempDir};

const ACCOUNT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const KMS_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
const ACCEPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"coffer:AcceptReplica","Resource":"*"}]}"#;

/// One region: a cofferd on a fixed loopback port (so it can be restarted where its peer
/// expects it) over its own data directory.
struct RegionNode {
    server: Option<Server>,
    dir: TempDir,
    port: u16,
    region: String,
    boot: Admin,
    extra: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &Path, region: &str, port: u16, extra: &[String]) -> Server {
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = Server::command(&[
        "--listen",
        &listen,
        "--region",
        region,
        "--account-id",
        ACCOUNT,
        "--maintenance-secs",
        "1",
    ]);
    cmd.args(extra);
    cmd.arg("--data-dir").arg(dir).stderr(Stdio::null());
    Server::spawn(cmd)
}

impl RegionNode {
    fn start(name: &str, region: &str, extra: Vec<String>) -> Self {
        let dir = TempDir::new(name);
        let port = free_port();
        let server = spawn(dir.path(), region, port, &extra);
        let boot = Admin::of(dir.path());
        Self {
            server: Some(server),
            dir,
            port,
            region: region.to_owned(),
            boot,
            extra,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }

    /// Starts it again on the same data directory and port.
    fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut cmd = Server::command(&[
                "--listen",
                &self.addr(),
                "--region",
                &self.region,
                "--account-id",
                ACCOUNT,
                "--maintenance-secs",
                "1",
            ]);
            cmd.args(&self.extra);
            cmd.arg("--data-dir")
                .arg(self.dir.path())
                .stderr(Stdio::null());
            match Server::try_spawn(cmd) {
                Ok(s) => {
                    self.server = Some(s);
                    return;
                }
                // The port may take a moment to be free again.
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::yield_now();
                }
                Err(e) => panic!("cofferd did not restart: {e}"),
            }
        }
    }

    fn admin(&self, op: &str, body: &Value) -> (u16, Value) {
        signed_call(
            &self.addr(),
            &self.boot.access_key_id,
            &self.boot.secret,
            &self.region,
            &format!("CofferAdmin.{op}"),
            &serde_json::to_vec(body).unwrap(),
        )
    }

    /// A new credential of `principal` with `policy`: its id and secret.
    fn credential(&self, principal: &str, policy: &str) -> (String, String) {
        let (status, v) = self.admin(
            "CreateCredential",
            &json!({"PrincipalArn": principal, "IdentityPolicies": [policy]}),
        );
        assert_eq!(status, 200, "{v}");
        (
            v["AccessKeyId"].as_str().unwrap().to_owned(),
            v["SecretAccessKey"].as_str().unwrap().to_owned(),
        )
    }

    fn client(&self, (id, secret): &(String, String)) -> Client {
        use aws_sdk_kms::config::retry::RetryConfig;
        use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(Credentials::new(id, secret, None, None, "test"))
            .endpoint_url(format!("http://{}", self.addr()))
            .retry_config(RetryConfig::disabled())
            .http_client(aws_smithy_http_client::Builder::new().build_http());
        Client::from_conf(conf.build())
    }
}

/// A credentials file (mode 0600) for `cred` in `region`, as a peer configuration names it.
fn credentials_file(dir: &Path, region: &str, (id, secret): &(String, String)) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(format!("peer-{region}.json"));
    let text = json!({"access_key_id": id, "secret_access_key": secret, "region": region});
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, text.to_string().as_bytes()).unwrap();
    path
}

/// us-east-1 (primary) configured with eu-west-1 as its peer.
struct Pair {
    a: RegionNode,
    b: RegionNode,
    _secrets: TempDir,
}

fn pair(name: &str) -> Pair {
    let b = RegionNode::start(&format!("{name}-b"), "eu-west-1", Vec::new());
    let secrets = TempDir::new(&format!("{name}-secrets"));
    let peer = b.credential("arn:aws:iam::111122223333:role/replicator", ACCEPT);
    let file = credentials_file(secrets.path(), "eu-west-1", &peer);
    let flag = format!(
        "eu-west-1=http://{},credentials={}",
        b.addr(),
        file.display()
    );
    let a = RegionNode::start(
        &format!("{name}-a"),
        "us-east-1",
        vec!["--peer".into(), flag],
    );
    Pair {
        a,
        b,
        _secrets: secrets,
    }
}

async fn create_mrk(c: &Client) -> aws_sdk_kms::types::KeyMetadata {
    c.create_key()
        .multi_region(true)
        .description("global")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
}

async fn encrypt(c: &Client, key: &str, text: &[u8]) -> Blob {
    c.encrypt()
        .key_id(key)
        .plaintext(Blob::new(text))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap()
}

async fn decrypt(c: &Client, blob: Blob) -> Result<Vec<u8>, String> {
    match c.decrypt().ciphertext_blob(blob).send().await {
        Ok(o) => Ok(o.plaintext.unwrap().into_inner()),
        Err(e) => Err(e
            .as_service_error()
            .and_then(|s| aws_sdk_kms::error::ProvideErrorMetadata::code(s))
            .unwrap_or("no code")
            .to_owned()),
    }
}

#[tokio::test]
async fn replicate_decrypt_across_regions_rotate_and_survive_a_region_down() {
    let mut p = pair("mrk");
    let alice = (
        p.a.credential(ALICE, KMS_ALL),
        p.b.credential(ALICE, KMS_ALL),
    );
    let (ca, cb) = (p.a.client(&alice.0), p.b.client(&alice.1));

    // CreateKey MultiRegion: an mrk- id, PRIMARY, no replicas yet.
    let key = create_mrk(&ca).await;
    let id = key.key_id().to_owned();
    assert!(id.starts_with("mrk-") && id.len() == 36, "{id}");
    assert_eq!(key.multi_region(), Some(true));
    let conf = key.multi_region_configuration().unwrap();
    assert_eq!(
        conf.multi_region_key_type(),
        Some(&MultiRegionKeyType::Primary)
    );
    assert_eq!(conf.primary_key().unwrap().region(), Some("us-east-1"));
    assert!(conf.replica_keys().is_empty());
    let before = encrypt(&ca, &id, b"before replication").await;

    // ReplicateKey to eu-west-1.
    let out = ca
        .replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .description("the Dublin copy")
        .tags(
            Tag::builder()
                .tag_key("site")
                .tag_value("dub")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let rm = out.replica_key_metadata().unwrap();
    assert_eq!(rm.key_id(), id);
    assert_eq!(
        rm.arn(),
        Some(format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{id}").as_str())
    );
    assert_eq!(rm.key_state(), Some(&KeyState::Enabled));
    assert!(out.replica_policy().unwrap().contains("Statement"));
    assert_eq!(out.replica_tags().len(), 1);

    // Both regions describe the set.
    let b = cb.describe_key().key_id(&id).send().await.unwrap();
    let b = b.key_metadata().unwrap();
    assert_eq!(b.description(), Some("the Dublin copy"));
    let conf = b.multi_region_configuration().unwrap();
    assert_eq!(
        conf.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(conf.primary_key().unwrap().region(), Some("us-east-1"));
    assert_eq!(conf.primary_key().unwrap().arn(), key.arn());
    let a = ca.describe_key().key_id(&id).send().await.unwrap();
    let conf = a
        .key_metadata()
        .unwrap()
        .multi_region_configuration()
        .unwrap();
    assert_eq!(conf.replica_keys().len(), 1);
    assert_eq!(conf.replica_keys()[0].region(), Some("eu-west-1"));
    let listed = cb.list_keys().send().await.unwrap();
    assert!(listed
        .keys()
        .iter()
        .any(|k| k.key_id() == Some(id.as_str())));

    // Region B audited the peer's two steps as ReplicateKey by the peer principal, naming the
    // replica, with nothing of the token, the wrapped key or the sealed versions.
    let events: Vec<Value> = audit_lines(p.b.dir.path())
        .into_iter()
        .map(|l| l["event"].clone())
        .filter(|e| e["eventName"] == "ReplicateKey")
        .collect();
    let steps: Vec<&str> = events
        .iter()
        .filter_map(|e| e["requestParameters"]["step"].as_str())
        .collect();
    assert_eq!(steps, ["offer", "install"], "{events:?}");
    for e in &events {
        let text = e.to_string();
        assert!(text.contains("role/replicator"), "{text}");
        assert!(
            text.contains(&format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{id}")),
            "{text}"
        );
        for secret in ["token", "wrapped_key", "sealed", "public_key"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    // A ciphertext made in us-east-1 decrypts in eu-west-1.
    assert_eq!(decrypt(&cb, before).await.unwrap(), b"before replication");

    // Rotation of the primary reaches the replica.
    ca.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let rotated = encrypt(&ca, &id, b"after rotation").await;
    assert_eq!(decrypt(&cb, rotated).await.unwrap(), b"after rotation");

    // The replica region goes down: ReplicateKey is a retryable error, rotation waits.
    let other = create_mrk(&ca).await;
    p.b.stop();
    let e = ca
        .replicate_key()
        .key_id(other.key_id())
        .replica_region("eu-west-1")
        .send()
        .await;
    assert_eq!(code(e), "DependencyTimeoutException");
    ca.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let while_down = encrypt(&ca, &id, b"while down").await;

    // Back on the same data dir: the primary's maintenance brings the replica up to date.
    p.b.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match decrypt(&cb, while_down.clone()).await {
            Ok(text) => {
                assert_eq!(text, b"while down");
                break;
            }
            Err(code) if Instant::now() < deadline => {
                assert_eq!(code, "InvalidCiphertextException");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(code) => panic!("the replica did not converge: {code}"),
        }
    }
    // And the key that could not be replicated while it was down now can be.
    ca.replicate_key()
        .key_id(other.key_id())
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn attackers_cannot_replicate_or_reach_the_replication_endpoint() {
    let p = pair("mrk-attack");
    let alice = p.a.client(&p.a.credential(ALICE, KMS_ALL));
    let key = create_mrk(&alice).await;
    let id = key.key_id().to_owned();

    // A principal of the account without kms:ReplicateKey.
    let bob = p.a.client(&p.a.credential(
        "arn:aws:iam::111122223333:user/bob",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},
            {"Effect":"Deny","Action":"kms:ReplicateKey","Resource":"*"}]}"#,
    ));
    let e = bob
        .replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await;
    assert_eq!(code(e), "AccessDeniedException");
    // Single-Region keys do not replicate; regions without a peer are refused.
    let single = alice.create_key().send().await.unwrap();
    let e = alice
        .replicate_key()
        .key_id(single.key_metadata().unwrap().key_id())
        .replica_region("eu-west-1")
        .send()
        .await;
    assert_eq!(code(e), "UnsupportedOperationException");
    let e = alice
        .replicate_key()
        .key_id(&id)
        .replica_region("ap-south-1")
        .send()
        .await;
    assert_eq!(code(e), "UnsupportedOperationException");

    // The replica region's endpoint: a replication message in the shape the primary sends.
    let offer = json!({
        "key_id": id, "account": ACCOUNT, "primary_region": "us-east-1",
        "key_spec": "SYMMETRIC_DEFAULT", "key_usage": "ENCRYPT_DECRYPT",
        "create": {"description": "", "tags": [], "policy": null,
                   "bypass_policy_lockout_safety_check": false, "principal": ALICE}
    });
    let body = serde_json::to_vec(&offer).unwrap();
    // Unsigned.
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: CofferAdmin.ReplicaOffer\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        p.b.addr(),
        body.len()
    );
    let mut s = std::net::TcpStream::connect(p.b.addr()).unwrap();
    std::io::Write::write_all(&mut s, raw.as_bytes()).unwrap();
    std::io::Write::write_all(&mut s, &body).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("MissingAuthenticationToken"), "{answer}");
    // Signed with a wrong secret.
    let peer =
        p.b.credential("arn:aws:iam::111122223333:role/other", ACCEPT);
    let (status, v) = signed_call(
        &p.b.addr(),
        &peer.0,
        "not-the-secret",
        "eu-west-1",
        "CofferAdmin.ReplicaOffer",
        &body,
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["__type"].as_str().unwrap().contains("InvalidSignature"),
        "{v}"
    );
    // Correctly signed, by a credential of the region that is not allowed coffer:AcceptReplica.
    let mallory =
        p.b.credential("arn:aws:iam::111122223333:user/mallory", KMS_ALL);
    let (status, v) = signed_call(
        &p.b.addr(),
        &mallory.0,
        &mallory.1,
        "eu-west-1",
        "CofferAdmin.ReplicaOffer",
        &body,
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["__type"].as_str().unwrap().contains("AccessDenied"),
        "{v}"
    );
    // Allowed, but of another account than the key's.
    let outsider =
        p.b.credential("arn:aws:iam::444455556666:role/replicator", ACCEPT);
    let (status, v) = signed_call(
        &p.b.addr(),
        &outsider.0,
        &outsider.1,
        "eu-west-1",
        "CofferAdmin.ReplicaOffer",
        &body,
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["__type"].as_str().unwrap().contains("AccessDenied"),
        "{v}"
    );
    // None of it made a replica.
    let cb = p.b.client(&p.b.credential(ALICE, KMS_ALL));
    let e = cb.describe_key().key_id(&id).send().await;
    assert_eq!(code(e), "NotFoundException");
}

/// A pair whose regions reach each other (each configured with the other as its peer).
fn both_ways(name: &str) -> Pair {
    let mut p = pair(name);
    let to_a =
        p.a.credential("arn:aws:iam::111122223333:role/replicator", ACCEPT);
    let file = credentials_file(p._secrets.path(), "us-east-1", &to_a);
    p.b.extra = vec![
        "--peer".into(),
        format!(
            "us-east-1=http://{},credentials={}",
            p.a.addr(),
            file.display()
        ),
    ];
    p.b.stop();
    p.b.restart();
    p
}

#[tokio::test]
async fn update_primary_region_swaps_roles_and_a_primary_waits_for_its_replicas() {
    let p = both_ways("mrk-promote");
    let alice = (
        p.a.credential(ALICE, KMS_ALL),
        p.b.credential(ALICE, KMS_ALL),
    );
    let (ca, cb) = (p.a.client(&alice.0), p.b.client(&alice.1));
    let key = create_mrk(&ca).await;
    let id = key.key_id().to_owned();
    ca.replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();

    // A replica cannot move the primary; the primary moves it to the replica's region.
    let e = cb
        .update_primary_region()
        .key_id(&id)
        .primary_region("eu-west-1")
        .send()
        .await;
    assert_eq!(code(e), "UnsupportedOperationException");
    ca.update_primary_region()
        .key_id(&id)
        .primary_region("eu-west-1")
        .send()
        .await
        .unwrap();
    let kind = |m: &aws_sdk_kms::types::KeyMetadata| {
        m.multi_region_configuration()
            .unwrap()
            .multi_region_key_type()
            .cloned()
            .unwrap()
    };
    let a = ca.describe_key().key_id(&id).send().await.unwrap();
    let b = cb.describe_key().key_id(&id).send().await.unwrap();
    let (a, b) = (a.key_metadata().unwrap(), b.key_metadata().unwrap());
    assert_eq!(kind(a), MultiRegionKeyType::Replica);
    assert_eq!(kind(b), MultiRegionKeyType::Primary);
    assert_eq!(a.key_state(), Some(&KeyState::Enabled));
    assert_eq!(b.key_state(), Some(&KeyState::Enabled));
    let conf = b.multi_region_configuration().unwrap();
    assert_eq!(conf.primary_key().unwrap().region(), Some("eu-west-1"));
    assert_eq!(conf.replica_keys().len(), 1);
    assert_eq!(conf.replica_keys()[0].region(), Some("us-east-1"));

    // The new primary rotates; its new version reaches the former primary.
    cb.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let blob = encrypt(&cb, &id, b"from eu-west-1").await;
    assert_eq!(decrypt(&ca, blob).await.unwrap(), b"from eu-west-1");

    // Deletion: the primary waits for its replicas (no date); the replica deletes normally.
    let s = cb
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(s.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert!(s.deletion_date().is_none());
    assert_eq!(s.pending_window_in_days(), Some(7));
    let s = ca
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(s.key_state(), Some(&KeyState::PendingDeletion));
    assert!(s.deletion_date().is_some());
    // The waiting primary can be cancelled like any key pending deletion.
    cb.cancel_key_deletion().key_id(&id).send().await.unwrap();
    let b = cb.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        b.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
}
