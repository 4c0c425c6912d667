//! Custom key stores through the facade against a real PKCS#11 token (SoftHSM2, through
//! `coffer-hsm`): the key's material is generated in the token, stays there (CKA_SENSITIVE,
//! not CKA_EXTRACTABLE, CKA_VALUE unreadable), and the data directory's database holds only the
//! object's id; a wrong PIN is FAILED with INVALID_CREDENTIALS. SoftHSM reads its
//! configuration once per process, so this binary makes its tokens before first loading it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer::model::*;
use coffer::{AccountId, Caller, EncryptionContext, Kms, SecretBytes, SqliteStore, Store};
use coffer_hsm::{ClusterConfig, ConfiguredClusters, Pkcs11Cluster, TokenConfig, TokenSelector};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "7654-user-pin";
const CLUSTER: &str = "cluster-softhsm0001";
const ACCOUNT: &str = "111122223333";
/// A self-signed certificate: the trust anchor configured for the token.
const ANCHOR: &str = include_str!("data/trust-anchor.pem");

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A SoftHSM2 token directory with one token, `coffer-cks`, and `SOFTHSM2_CONF` pointing at it.
fn softhsm() -> Dir {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cks-softhsm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hsm = coffer_hsm::softhsm::SoftHsmDir::create(&dir, "").unwrap();
    hsm.init_token("coffer-cks", PIN, "7654321").unwrap();
    std::env::set_var("SOFTHSM2_CONF", hsm.conf());
    Dir(dir)
}

fn cluster_config() -> ClusterConfig {
    ClusterConfig {
        id: CLUSTER.into(),
        token: TokenConfig::new(MODULE, TokenSelector::Label("coffer-cks".into())),
        trust_anchor_pem: Some(ANCHOR.into()),
    }
}

fn root() -> Caller {
    Caller::account_root(AccountId::parse(ACCOUNT).unwrap())
}

fn create_store(kms: &Kms, name: &str, pin: &str) -> String {
    kms.create_custom_key_store(
        &root(),
        CreateCustomKeyStoreRequest {
            custom_key_store_name: name.into(),
            cloud_hsm_cluster_id: Some(CLUSTER.into()),
            trust_anchor_certificate: Some(ANCHOR.into()),
            key_store_password: Some(pin.as_bytes().to_vec().into()),
            custom_key_store_type: None,
        },
    )
    .unwrap()
    .custom_key_store_id
}

fn id_req(id: &str) -> CustomKeyStoreIdRequest {
    CustomKeyStoreIdRequest {
        custom_key_store_id: id.into(),
    }
}

fn state(kms: &Kms, id: &str) -> (ConnectionState, Option<ConnectionErrorCode>) {
    let r = kms
        .describe_custom_key_stores(
            &root(),
            DescribeCustomKeyStoresRequest {
                custom_key_store_id: Some(id.into()),
                ..Default::default()
            },
        )
        .unwrap();
    (
        r.custom_key_stores[0].connection_state,
        r.custom_key_stores[0].connection_error_code,
    )
}

fn db_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(p).unwrap());
        }
    }
    all
}

#[test]
fn a_key_in_a_softhsm_token_never_leaves_it() {
    let hsm = softhsm();
    let data = hsm.0.join("data");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data).unwrap());
    let clusters = Arc::new(ConfiguredClusters::new(vec![cluster_config()]).unwrap());
    let kms = Kms::builder()
        .store(store.clone())
        .hsm_clusters(clusters)
        .build()
        .unwrap();
    let me = root();

    // A wrong PIN: FAILED, INVALID_CREDENTIALS; fixed while disconnected, then CONNECTED.
    let id = create_store(&kms, "softhsm", "wrong-pin-00");
    kms.connect_custom_key_store(&me, id_req(&id)).unwrap();
    assert_eq!(
        state(&kms, &id),
        (
            ConnectionState::Failed,
            Some(ConnectionErrorCode::InvalidCredentials)
        )
    );
    kms.disconnect_custom_key_store(&me, id_req(&id)).unwrap();
    kms.update_custom_key_store(
        &me,
        UpdateCustomKeyStoreRequest {
            custom_key_store_id: id.clone(),
            key_store_password: Some(PIN.as_bytes().to_vec().into()),
            ..Default::default()
        },
    )
    .unwrap();
    kms.connect_custom_key_store(&me, id_req(&id)).unwrap();
    assert_eq!(state(&kms, &id), (ConnectionState::Connected, None));

    let key = kms
        .create_key(
            &me,
            CreateKeyRequest {
                origin: Some(Origin::AwsCloudHsm),
                custom_key_store_id: Some(id.clone()),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata;
    assert_eq!(key.cloud_hsm_cluster_id.as_deref(), Some(CLUSTER));
    let ctx: EncryptionContext = [("purpose", "test")].into_iter().collect();
    let blob = kms
        .encrypt(
            &me,
            EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"sealed in the token".to_vec().into(),
                encryption_context: ctx.clone(),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob;
    let plain = kms
        .decrypt(
            &me,
            DecryptRequest {
                ciphertext_blob: blob.clone(),
                encryption_context: ctx.clone(),
                ..Default::default()
            },
        )
        .unwrap()
        .plaintext;
    assert_eq!(plain.expose(), b"sealed in the token");

    // The store holds only the object's id: 0x80 and the CKA_ID.
    let key_id: coffer::KeyId = key.key_id.parse().unwrap();
    let versions = store.begin().unwrap().versions(&key_id).unwrap();
    assert_eq!(versions.len(), 1);
    let stored = &versions[0].wrapped;
    assert_eq!(stored[0], 0x80);
    let object = coffer::HsmKeyRef(stored[1..].to_vec());
    assert!(stored.len() <= 1 + 32, "{} bytes", stored.len());

    // In the token: sensitive, never extractable, its value unreadable.
    let probe = Pkcs11Cluster::new(cluster_config()).unwrap();
    let session = probe
        .connect_pkcs11(&SecretBytes::copy_from(PIN.as_bytes()))
        .unwrap();
    let p = session.key_protection(&object).unwrap();
    assert_eq!(p.sensitive, Some(true));
    assert_eq!(p.extractable, Some(false));
    assert_eq!(p.never_extractable, Some(true));
    assert_eq!(p.token, Some(true));
    assert!(!p.value_readable);

    // The database and its WAL never held the PIN in clear.
    let bytes = db_bytes(&data);
    assert!(!bytes.windows(PIN.len()).any(|w| w == PIN.as_bytes()));

    // Disconnected: Unavailable; reconnected: the old blob opens.
    kms.disconnect_custom_key_store(&me, id_req(&id)).unwrap();
    let refused = kms.decrypt(
        &me,
        DecryptRequest {
            ciphertext_blob: blob.clone(),
            encryption_context: ctx.clone(),
            ..Default::default()
        },
    );
    assert_eq!(refused.unwrap_err().code(), "KMSInvalidStateException");
    kms.connect_custom_key_store(&me, id_req(&id)).unwrap();
    let again = kms
        .decrypt(
            &me,
            DecryptRequest {
                ciphertext_blob: blob,
                encryption_context: ctx,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(again.plaintext.expose(), b"sealed in the token");
}
