//! Custom key stores end to end: a real `cofferd` configured with `[[hsm_clusters]]` on
//! SoftHSM2 tokens, driven by the official AWS SDK for Rust. A store is created, connected, a
//! key made in it and used (Encrypt, Decrypt, GenerateDataKey), the store disconnected (the key
//! Unavailable, Encrypt refused) and reconnected (old ciphertext decrypts), the key scheduled
//! for deletion, the store's deletion refused while it has keys; the key's material is shown to
//! stay in the token (CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_VALUE unreadable) with only the
//! object's id in the data directory; a wrong KeyStorePassword is FAILED with
//! INVALID_CREDENTIALS; another account and a principal without permission are refused.
//! SoftHSM reads its configuration once per process: each cofferd gets `SOFTHSM2_CONF`, and
//! this test process sets the same before it first loads the module itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::{Path, PathBuf};
use std::process::Stdio;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    ConnectionErrorCodeType, ConnectionStateType, DataKeySpec, KeyState, OriginType,
};
use aws_sdk_kms::Client;
use serde_json::json;

mod common;

use common::{sdk_code as code, signed_call, Admin, Server, TempDir};

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "e2e-user-pin-1";
const CLUSTER: &str = "cluster-e2etoken0001";
const CLUSTER2: &str = "cluster-e2etoken0002";
const ANCHOR: &str = include_str!("../../kms/tests/data/trust-anchor.pem");

/// SoftHSM2 tokens `cks-e2e-1` and `cks-e2e-2` under `dir`; the configuration file's path.
fn softhsm(dir: &Path) -> PathBuf {
    let hsm = coffer_hsm::softhsm::SoftHsmDir::create(dir, "").unwrap();
    for label in ["cks-e2e-1", "cks-e2e-2"] {
        hsm.init_token(label, PIN, "7654321").unwrap();
    }
    hsm.conf().to_path_buf()
}

struct Node {
    _server: Server,
    addr: String,
    boot: Admin,
    data: PathBuf,
}

/// cofferd with a configuration file naming the two tokens as clusters.
fn start(dir: &Path, softhsm_conf: &Path) -> Node {
    use std::os::unix::fs::PermissionsExt;
    let anchor = dir.join("anchor.pem");
    std::fs::write(&anchor, ANCHOR).unwrap();
    let data = dir.join("data");
    let cfg = dir.join("cofferd.toml");
    let text = format!(
        r#"data_dir = {data:?}
listen = "127.0.0.1:0"
region = "{REGION}"
account_id = "{ACCOUNT}"

[[hsm_clusters]]
id = "{CLUSTER}"
module = "{MODULE}"
token_label = "cks-e2e-1"
trust_anchor = {anchor:?}

[[hsm_clusters]]
id = "{CLUSTER2}"
module = "{MODULE}"
token_label = "cks-e2e-2"

# The test asks for each store's state after every step: more DescribeCustomKeyStores calls in a
# second than the management quota's default burst, which would answer ThrottlingException.
[quotas.defaults.DescribeCustomKeyStores]
rate = 1000.0
burst = 1000

[quotas.defaults.ConnectCustomKeyStore]
rate = 1000.0
burst = 1000

[quotas.defaults.DisconnectCustomKeyStore]
rate = 1000.0
burst = 1000
"#,
        data = data.display().to_string(),
        anchor = anchor.display().to_string(),
    );
    std::fs::write(&cfg, text).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = Server::command(&["--config", cfg.to_str().unwrap()]);
    cmd.env("SOFTHSM2_CONF", softhsm_conf).stderr(Stdio::null());
    let server = Server::spawn(cmd);
    let addr = server.addr.clone();
    let boot = Admin::of(&data);
    Node {
        _server: server,
        addr,
        boot,
        data,
    }
}

impl Node {
    fn client(&self, access_key_id: &str, secret: &str) -> Client {
        use aws_sdk_kms::config::retry::RetryConfig;
        use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(access_key_id, secret, None, None, "test"))
            .endpoint_url(format!("http://{}", self.addr))
            .retry_config(RetryConfig::disabled())
            .http_client(aws_smithy_http_client::Builder::new().build_http());
        Client::from_conf(conf.build())
    }

    fn root(&self) -> Client {
        self.client(&self.boot.access_key_id, &self.boot.secret)
    }

    /// A credential for `principal` with `policies`, made by the bootstrap administrator.
    fn principal(&self, principal: &str, policies: &[serde_json::Value]) -> Client {
        let docs: Vec<String> = policies.iter().map(|p| p.to_string()).collect();
        let (status, v) = signed_call(
            &self.addr,
            &self.boot.access_key_id,
            &self.boot.secret,
            REGION,
            "CofferAdmin.CreateCredential",
            &serde_json::to_vec(&json!({"PrincipalArn": principal, "IdentityPolicies": docs}))
                .unwrap(),
        );
        assert_eq!(status, 200, "CreateCredential: {v}");
        self.client(
            v["AccessKeyId"].as_str().unwrap(),
            v["SecretAccessKey"].as_str().unwrap(),
        )
    }
}

async fn state(c: &Client, id: &str) -> (ConnectionStateType, Option<ConnectionErrorCodeType>) {
    let r = c
        .describe_custom_key_stores()
        .custom_key_store_id(id)
        .send()
        .await
        .unwrap();
    let e = &r.custom_key_stores()[0];
    (
        e.connection_state().unwrap().clone(),
        e.connection_error_code().cloned(),
    )
}

async fn key_state(c: &Client, key: &str) -> KeyState {
    c.describe_key()
        .key_id(key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_state
        .unwrap()
}

#[tokio::test]
async fn a_custom_key_store_on_softhsm_through_the_sdk() {
    let dir = TempDir::new("cks");
    let conf = softhsm(dir.path());
    let node = start(dir.path(), &conf);
    let kms = node.root();

    // Created: DISCONNECTED, as AWS shows a store never connected.
    let id = kms
        .create_custom_key_store()
        .custom_key_store_name("payments")
        .cloud_hsm_cluster_id(CLUSTER)
        .trust_anchor_certificate(ANCHOR)
        .key_store_password(PIN)
        .send()
        .await
        .unwrap()
        .custom_key_store_id
        .unwrap();
    assert_eq!(state(&kms, &id).await.0, ConnectionStateType::Disconnected);
    let wrong_anchor = kms
        .create_custom_key_store()
        .custom_key_store_name("other")
        .cloud_hsm_cluster_id(CLUSTER2)
        .trust_anchor_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
        .key_store_password(PIN)
        .send()
        .await;
    // CLUSTER2 has no configured anchor: any well-formed certificate; this one is not.
    let wrong_anchor_code = code(wrong_anchor);
    assert!(
        wrong_anchor_code == "IncorrectTrustAnchorException",
        "{wrong_anchor_code}"
    );

    // Connected; a key made in the token; used.
    kms.connect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        state(&kms, &id).await,
        (ConnectionStateType::Connected, None)
    );
    let md = kms
        .create_key()
        .origin(OriginType::AwsCloudhsm)
        .custom_key_store_id(&id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(md.origin(), Some(&OriginType::AwsCloudhsm));
    assert_eq!(md.custom_key_store_id(), Some(id.as_str()));
    assert_eq!(md.cloud_hsm_cluster_id(), Some(CLUSTER));
    let key = md.key_id().to_owned();
    let blob = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"wire transfer".to_vec()))
        .encryption_context("tenant", "acme")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let plain = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("tenant", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"wire transfer");
    assert_eq!(plain.key_id(), md.arn());
    let dk = kms
        .generate_data_key()
        .key_id(&key)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    let opened = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext(), dk.plaintext());

    // Disconnected: Unavailable, Encrypt refused.
    kms.disconnect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(state(&kms, &id).await.0, ConnectionStateType::Disconnected);
    assert_eq!(key_state(&kms, &key).await, KeyState::Unavailable);
    let refused = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await;
    assert_eq!(code(refused), "KMSInvalidStateException");

    // Reconnected: the old ciphertext decrypts.
    kms.connect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(key_state(&kms, &key).await, KeyState::Enabled);
    let again = kms
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("tenant", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(again.plaintext().unwrap().as_ref(), b"wire transfer");

    // Another account neither sees nor touches the store; a principal without permission is
    // refused.
    let mallory = node.principal(
        &format!("arn:aws:iam::{OTHER}:user/mallory"),
        &[json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})],
    );
    let theirs = mallory.describe_custom_key_stores().send().await.unwrap();
    assert!(theirs.custom_key_stores().is_empty());
    let r = mallory
        .disconnect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await;
    assert_eq!(code(r), "CustomKeyStoreNotFoundException");
    let r = mallory
        .create_key()
        .origin(OriginType::AwsCloudhsm)
        .custom_key_store_id(&id)
        .send()
        .await;
    assert_eq!(code(r), "CustomKeyStoreNotFoundException");
    let bob = node.principal(&format!("arn:aws:iam::{ACCOUNT}:user/bob"), &[]);
    let r = bob
        .disconnect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await;
    assert_eq!(code(r), "AccessDeniedException");
    let r = bob.describe_custom_key_stores().send().await;
    assert_eq!(code(r), "AccessDeniedException");
    assert_eq!(state(&kms, &id).await.0, ConnectionStateType::Connected);

    // A wrong KeyStorePassword: FAILED, INVALID_CREDENTIALS.
    let id2 = kms
        .create_custom_key_store()
        .custom_key_store_name("wrong-pin")
        .cloud_hsm_cluster_id(CLUSTER2)
        .trust_anchor_certificate(ANCHOR)
        .key_store_password("not-the-pin")
        .send()
        .await
        .unwrap()
        .custom_key_store_id
        .unwrap();
    kms.connect_custom_key_store()
        .custom_key_store_id(&id2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        state(&kms, &id2).await,
        (
            ConnectionStateType::Failed,
            Some(ConnectionErrorCodeType::InvalidCredentials)
        )
    );

    // Deletion: the key scheduled; the store refused while connected and while it has keys.
    kms.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let r = kms
        .delete_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await;
    assert_eq!(code(r), "CustomKeyStoreInvalidStateException");
    kms.disconnect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await
        .unwrap();
    let r = kms
        .delete_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await;
    assert_eq!(code(r), "CustomKeyStoreHasCMKsException");
    // The store without keys goes.
    kms.disconnect_custom_key_store()
        .custom_key_store_id(&id2)
        .send()
        .await
        .unwrap();
    kms.delete_custom_key_store()
        .custom_key_store_id(&id2)
        .send()
        .await
        .unwrap();

    // The data directory holds only the object's id; the PIN is nowhere in it.
    let data = node.data.clone();
    drop(node);
    let mut all = Vec::new();
    collect(&data, &mut all);
    assert!(!all.windows(PIN.len()).any(|w| w == PIN.as_bytes()));
    let store = coffer::SqliteStore::open(&data).unwrap();
    let key_id: coffer::KeyId = key.parse().unwrap();
    let versions = coffer::Store::begin(&store)
        .unwrap()
        .versions(&key_id)
        .unwrap();
    assert_eq!(versions.len(), 1);
    let stored = versions[0].wrapped.clone();
    assert_eq!(
        stored[0], 0x80,
        "a token key reference, not wrapped material"
    );
    drop(store);

    // In the token: sensitive, never extractable, its value unreadable.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let probe = coffer_hsm::Pkcs11Cluster::new(coffer_hsm::ClusterConfig {
        id: CLUSTER.into(),
        token: coffer_hsm::TokenConfig::new(
            MODULE,
            coffer_hsm::TokenSelector::Label("cks-e2e-1".into()),
        ),
        trust_anchor_pem: None,
    })
    .unwrap();
    let session = probe
        .connect_pkcs11(&coffer::SecretBytes::copy_from(PIN.as_bytes()))
        .unwrap();
    let p = session
        .key_protection(&coffer::HsmKeyRef(stored[1..].to_vec()))
        .unwrap();
    assert_eq!(p.sensitive, Some(true));
    assert_eq!(p.extractable, Some(false));
    assert!(!p.value_readable);
}

fn collect(dir: &Path, out: &mut Vec<u8>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.extend(std::fs::read(&p).unwrap_or_default());
        }
    }
}
