//! Custom key stores through the facade, over the in-memory test double of the HSM contract
//! (`coffer::testing::MemoryClusters`): the six operations and their errors, keys in a store
//! (sealed in the token, Unavailable while disconnected), restart, authorization, and the PIN
//! never leaving in clear. The same flows against SoftHSM2 through cofferd are in
//! crates/server/tests/custom_key_stores.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;
use std::time::Duration;

use coffer::audit_log::MemorySink;
use coffer::model::*;
use coffer::testing::{ManualClock, MemoryClusters, MemoryToken};
use coffer::SystemRandom;
use coffer::{
    AccountId, Caller, EncryptionContext, Kms, LocalRootKey, MemoryStore, RootKey, Store,
};

const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";
const CLUSTER: &str = "cluster-1234567890a";
const CLUSTER2: &str = "cluster-abcdefghijk";
const PIN: &str = "correct-horse-7";
const ANCHOR: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

struct World {
    kms: Kms,
    token: Arc<MemoryToken>,
    token2: Arc<MemoryToken>,
    store: Arc<MemoryStore>,
    root: Arc<dyn RootKey>,
    clock: Arc<ManualClock>,
    sink: Arc<MemorySink>,
}

impl World {
    fn new() -> Self {
        let token = MemoryToken::new(CLUSTER, PIN, Some(ANCHOR));
        let token2 = MemoryToken::new(CLUSTER2, PIN, None);
        let store = Arc::new(MemoryStore::new());
        let rng = Arc::new(SystemRandom::new());
        let root: Arc<dyn RootKey> = Arc::new(LocalRootKey::ephemeral(rng).unwrap());
        let clock = Arc::new(ManualClock::at_epoch_seconds(1_800_000_000));
        let sink = Arc::new(MemorySink::new());
        let kms = Self::build(&token, &token2, &store, &root, &clock, &sink);
        Self {
            kms,
            token,
            token2,
            store,
            root,
            clock,
            sink,
        }
    }

    fn build(
        token: &Arc<MemoryToken>,
        token2: &Arc<MemoryToken>,
        store: &Arc<MemoryStore>,
        root: &Arc<dyn RootKey>,
        clock: &Arc<ManualClock>,
        sink: &Arc<MemorySink>,
    ) -> Kms {
        Kms::builder()
            .store(store.clone())
            .root_key(root.clone())
            .clock(clock.clone())
            .audit_sink(sink.clone())
            .hsm_clusters(MemoryClusters::new(&[token.clone(), token2.clone()]))
            .build()
            .unwrap()
    }

    /// The same store and root key in a new service: a restart.
    fn restart(&mut self) {
        self.kms = Self::build(
            &self.token,
            &self.token2,
            &self.store,
            &self.root,
            &self.clock,
            &self.sink,
        );
    }

    fn create_store(
        &self,
        who: &Caller,
        name: &str,
        cluster: &str,
    ) -> Result<String, coffer::Error> {
        self.kms
            .create_custom_key_store(
                who,
                CreateCustomKeyStoreRequest {
                    custom_key_store_name: name.into(),
                    cloud_hsm_cluster_id: Some(cluster.into()),
                    trust_anchor_certificate: Some(ANCHOR.into()),
                    key_store_password: Some(PIN.as_bytes().to_vec().into()),
                    custom_key_store_type: None,
                },
            )
            .map(|r| r.custom_key_store_id)
    }

    fn connect(&self, who: &Caller, id: &str) -> Result<(), coffer::Error> {
        self.kms.connect_custom_key_store(
            who,
            CustomKeyStoreIdRequest {
                custom_key_store_id: id.into(),
            },
        )
    }

    fn disconnect(&self, who: &Caller, id: &str) -> Result<(), coffer::Error> {
        self.kms.disconnect_custom_key_store(
            who,
            CustomKeyStoreIdRequest {
                custom_key_store_id: id.into(),
            },
        )
    }

    fn delete(&self, who: &Caller, id: &str) -> Result<(), coffer::Error> {
        self.kms.delete_custom_key_store(
            who,
            CustomKeyStoreIdRequest {
                custom_key_store_id: id.into(),
            },
        )
    }

    fn entry(&self, who: &Caller, id: &str) -> CustomKeyStoresListEntry {
        let mut r = self
            .kms
            .describe_custom_key_stores(
                who,
                DescribeCustomKeyStoresRequest {
                    custom_key_store_id: Some(id.into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(r.custom_key_stores.len(), 1);
        r.custom_key_stores.remove(0)
    }

    fn state(&self, id: &str) -> ConnectionState {
        self.entry(&root(ACCOUNT), id).connection_state
    }

    fn create_key(&self, who: &Caller, store: &str) -> Result<KeyMetadata, coffer::Error> {
        self.kms
            .create_key(
                who,
                CreateKeyRequest {
                    origin: Some(Origin::AwsCloudHsm),
                    custom_key_store_id: Some(store.into()),
                    ..Default::default()
                },
            )
            .map(|r| r.key_metadata)
    }

    fn encrypt(
        &self,
        key: &str,
        text: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Vec<u8>, coffer::Error> {
        self.kms
            .encrypt(
                &root(ACCOUNT),
                EncryptRequest {
                    key_id: key.into(),
                    plaintext: text.to_vec().into(),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                },
            )
            .map(|r| r.ciphertext_blob)
    }

    fn decrypt(&self, blob: &[u8], ctx: &EncryptionContext) -> Result<Vec<u8>, coffer::Error> {
        self.kms
            .decrypt(
                &root(ACCOUNT),
                DecryptRequest {
                    ciphertext_blob: blob.to_vec(),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                },
            )
            .map(|r| r.plaintext.expose().to_vec())
    }

    fn describe_key(&self, key: &str) -> KeyMetadata {
        self.kms
            .describe_key(
                &root(ACCOUNT),
                DescribeKeyRequest {
                    key_id: key.into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata
    }
}

fn root(account: &str) -> Caller {
    Caller::account_root(AccountId::parse(account).unwrap())
}

fn ctx() -> EncryptionContext {
    [("tenant", "acme")].into_iter().collect()
}

fn code<T: std::fmt::Debug>(r: Result<T, coffer::Error>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn a_store_from_creation_to_deletion_with_a_key_sealed_in_the_token() {
    let w = World::new();
    let me = root(ACCOUNT);
    let id = w.create_store(&me, "primary", CLUSTER).unwrap();
    assert!(id.starts_with("cks-") && id.len() == 21, "{id}");
    let e = w.entry(&me, &id);
    assert_eq!(e.connection_state, ConnectionState::Disconnected);
    assert_eq!(e.cloud_hsm_cluster_id, CLUSTER);
    assert_eq!(e.trust_anchor_certificate, ANCHOR);
    assert_eq!(e.custom_key_store_type, CustomKeyStoreType::AwsCloudHsm);
    assert_eq!(e.connection_error_code, None);

    // Not connected: no key can be created in it.
    assert_eq!(
        code(w.create_key(&me, &id)),
        "CustomKeyStoreInvalidStateException"
    );
    w.connect(&me, &id).unwrap();
    assert_eq!(w.state(&id), ConnectionState::Connected);
    // Connecting a connected store is a no-op.
    w.connect(&me, &id).unwrap();

    let key = w.create_key(&me, &id).unwrap();
    assert_eq!(key.origin, Origin::AwsCloudHsm);
    assert_eq!(key.custom_key_store_id.as_deref(), Some(id.as_str()));
    assert_eq!(key.cloud_hsm_cluster_id.as_deref(), Some(CLUSTER));
    assert_eq!(key.key_state, KeyState::Enabled);
    assert_eq!(w.token.object_count(), 1);
    let d = w.describe_key(&key.key_id);
    assert_eq!(d.custom_key_store_id.as_deref(), Some(id.as_str()));
    assert_eq!(d.cloud_hsm_cluster_id.as_deref(), Some(CLUSTER));

    // Encrypt and Decrypt run in the token; the blob is format 2 and names its key.
    let blob = w.encrypt(&key.key_id, b"attack at dawn", &ctx()).unwrap();
    assert_eq!(blob[0], 2);
    assert_eq!(blob.len(), 45 + 14 + 16);
    assert_eq!(w.decrypt(&blob, &ctx()).unwrap(), b"attack at dawn");
    // Another context, a flipped byte: InvalidCiphertextException.
    assert_eq!(
        code(w.decrypt(&blob, &EncryptionContext::new())),
        "InvalidCiphertextException"
    );
    for i in [0usize, 20, 40, 50, blob.len() - 1] {
        let mut bad = blob.clone();
        bad[i] ^= 1;
        assert_eq!(
            code(w.decrypt(&bad, &ctx())),
            "InvalidCiphertextException",
            "byte {i}"
        );
    }
    // GenerateDataKey: its blob opens to its plaintext.
    let dk = w
        .kms
        .generate_data_key(
            &me,
            GenerateDataKeyRequest {
                key_id: key.key_id.clone(),
                key_spec: Some(DataKeySpec::Aes256),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        w.decrypt(&dk.ciphertext_blob, &EncryptionContext::new())
            .unwrap(),
        dk.plaintext.expose()
    );
    // ReEncrypt from the token key to an ordinary key and back.
    let plain = w
        .kms
        .create_key(&me, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let moved = w
        .kms
        .re_encrypt(
            &me,
            ReEncryptRequest {
                ciphertext_blob: blob.clone(),
                source_encryption_context: ctx(),
                destination_key_id: plain.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(moved.ciphertext_blob[0], 1);
    let back = w
        .kms
        .re_encrypt(
            &me,
            ReEncryptRequest {
                ciphertext_blob: moved.ciphertext_blob,
                destination_key_id: key.key_id.clone(),
                destination_encryption_context: ctx(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        w.decrypt(&back.ciphertext_blob, &ctx()).unwrap(),
        b"attack at dawn"
    );

    // Rotation is not offered for keys in a custom key store (AWS).
    let rotate = w.kms.rotate_key_on_demand(
        &me,
        KeyIdRequest {
            key_id: key.key_id.clone(),
        },
    );
    assert_eq!(code(rotate), "UnsupportedOperationException");
    let enable = w.kms.enable_key_rotation(
        &me,
        EnableKeyRotationRequest {
            key_id: key.key_id.clone(),
            ..Default::default()
        },
    );
    assert_eq!(code(enable), "UnsupportedOperationException");

    // Delete refused while connected, and while it holds a key.
    assert_eq!(
        code(w.delete(&me, &id)),
        "CustomKeyStoreInvalidStateException"
    );

    // Disconnected: the key is Unavailable and cannot be used, but can be managed.
    w.disconnect(&me, &id).unwrap();
    assert_eq!(w.state(&id), ConnectionState::Disconnected);
    assert_eq!(
        code(w.disconnect(&me, &id)),
        "CustomKeyStoreInvalidStateException"
    );
    let d = w.describe_key(&key.key_id);
    assert_eq!(d.key_state, KeyState::Unavailable);
    assert!(!d.enabled);
    assert_eq!(
        code(w.encrypt(&key.key_id, b"x", &ctx())),
        "KMSInvalidStateException"
    );
    assert_eq!(code(w.decrypt(&blob, &ctx())), "KMSInvalidStateException");
    assert_eq!(
        code(w.create_key(&me, &id)),
        "CustomKeyStoreInvalidStateException"
    );
    assert_eq!(code(w.delete(&me, &id)), "CustomKeyStoreHasCMKsException");
    w.kms
        .tag_resource(
            &me,
            TagResourceRequest {
                key_id: key.key_id.clone(),
                tags: vec![Tag {
                    tag_key: "k".into(),
                    tag_value: "v".into(),
                }],
            },
        )
        .unwrap();

    // Reconnected: old ciphertext decrypts again.
    w.connect(&me, &id).unwrap();
    assert_eq!(w.describe_key(&key.key_id).key_state, KeyState::Enabled);
    assert_eq!(w.decrypt(&blob, &ctx()).unwrap(), b"attack at dawn");

    // Deletion: scheduled, then done by maintenance, which destroys the token's object.
    w.kms
        .schedule_key_deletion(
            &me,
            ScheduleKeyDeletionRequest {
                key_id: key.key_id.clone(),
                pending_window_in_days: Some(7),
            },
        )
        .unwrap();
    assert_eq!(
        code(w.encrypt(&key.key_id, b"x", &ctx())),
        "KMSInvalidStateException"
    );
    w.clock.advance(Duration::from_secs(8 * 86_400));
    let report = w.kms.run_maintenance().unwrap();
    assert_eq!(report.keys_deleted.len(), 1);
    assert_eq!(w.token.object_count(), 0);

    // Now empty: deleted once disconnected.
    assert_eq!(
        code(w.delete(&me, &id)),
        "CustomKeyStoreInvalidStateException"
    );
    w.disconnect(&me, &id).unwrap();
    w.delete(&me, &id).unwrap();
    assert_eq!(w.token.open_sessions(), 0);
    let gone = w.kms.describe_custom_key_stores(
        &me,
        DescribeCustomKeyStoresRequest {
            custom_key_store_id: Some(id.clone()),
            ..Default::default()
        },
    );
    assert_eq!(code(gone), "CustomKeyStoreNotFoundException");
    assert_eq!(code(w.connect(&me, &id)), "CustomKeyStoreNotFoundException");
}

#[test]
fn every_use_goes_to_the_token_and_nothing_is_cached_outside_it() {
    let w = World::new();
    let me = root(ACCOUNT);
    let id = w.create_store(&me, "s", CLUSTER).unwrap();
    w.connect(&me, &id).unwrap();
    let key = w.create_key(&me, &id).unwrap();
    let blob = w.encrypt(&key.key_id, b"hello", &ctx()).unwrap();
    assert_eq!(w.decrypt(&blob, &ctx()).unwrap(), b"hello");
    // The token goes away: the warm key can do nothing (a retryable fault, never a wrong
    // answer), and works again when it returns.
    w.token.set_present(false);
    assert_eq!(
        code(w.encrypt(&key.key_id, b"x", &ctx())),
        "DependencyTimeoutException"
    );
    assert_eq!(code(w.decrypt(&blob, &ctx())), "DependencyTimeoutException");
    w.token.set_present(true);
    assert_eq!(w.decrypt(&blob, &ctx()).unwrap(), b"hello");
}

#[test]
fn a_restarted_service_reconnects_the_stores_that_were_connected() {
    let mut w = World::new();
    let me = root(ACCOUNT);
    let a = w.create_store(&me, "a", CLUSTER).unwrap();
    let b = w.create_store(&me, "b", CLUSTER2).unwrap();
    w.connect(&me, &a).unwrap();
    w.connect(&me, &b).unwrap();
    w.disconnect(&me, &b).unwrap();
    let key = w.create_key(&me, &a).unwrap();
    let blob = w.encrypt(&key.key_id, b"persist", &ctx()).unwrap();
    w.restart();
    assert_eq!(w.state(&a), ConnectionState::Connected);
    assert_eq!(w.state(&b), ConnectionState::Disconnected);
    assert_eq!(w.decrypt(&blob, &ctx()).unwrap(), b"persist");
}

#[test]
fn connection_failures_show_as_failed_with_their_code() {
    let w = World::new();
    let me = root(ACCOUNT);
    let id = w.create_store(&me, "s", CLUSTER).unwrap();
    // A wrong PIN: the call succeeds, the store is FAILED with INVALID_CREDENTIALS.
    w.kms
        .update_custom_key_store(
            &me,
            UpdateCustomKeyStoreRequest {
                custom_key_store_id: id.clone(),
                key_store_password: Some(b"wrong-pin-1".to_vec().into()),
                ..Default::default()
            },
        )
        .unwrap();
    w.connect(&me, &id).unwrap();
    let e = w.entry(&me, &id);
    assert_eq!(e.connection_state, ConnectionState::Failed);
    assert_eq!(
        e.connection_error_code,
        Some(ConnectionErrorCode::InvalidCredentials)
    );
    // FAILED: connect again only after a disconnect.
    assert_eq!(
        code(w.connect(&me, &id)),
        "CustomKeyStoreInvalidStateException"
    );
    // Only the name may change while not disconnected.
    let pin_while_failed = w.kms.update_custom_key_store(
        &me,
        UpdateCustomKeyStoreRequest {
            custom_key_store_id: id.clone(),
            key_store_password: Some(PIN.as_bytes().to_vec().into()),
            ..Default::default()
        },
    );
    assert_eq!(
        code(pin_while_failed),
        "CustomKeyStoreInvalidStateException"
    );
    w.disconnect(&me, &id).unwrap();
    w.kms
        .update_custom_key_store(
            &me,
            UpdateCustomKeyStoreRequest {
                custom_key_store_id: id.clone(),
                key_store_password: Some(PIN.as_bytes().to_vec().into()),
                new_custom_key_store_name: Some("renamed".into()),
                ..Default::default()
            },
        )
        .unwrap();
    w.connect(&me, &id).unwrap();
    let e = w.entry(&me, &id);
    assert_eq!(e.connection_state, ConnectionState::Connected);
    assert_eq!(e.custom_key_store_name, "renamed");
    // A token that is absent: NETWORK_ERRORS.
    w.disconnect(&me, &id).unwrap();
    w.token.set_present(false);
    w.connect(&me, &id).unwrap();
    assert_eq!(
        w.entry(&me, &id).connection_error_code,
        Some(ConnectionErrorCode::NetworkErrors)
    );
}

#[test]
fn create_refuses_what_aws_refuses() {
    let w = World::new();
    let me = root(ACCOUNT);
    let req = |name: &str, cluster: &str, anchor: &str, pin: &str| CreateCustomKeyStoreRequest {
        custom_key_store_name: name.into(),
        cloud_hsm_cluster_id: Some(cluster.into()),
        trust_anchor_certificate: Some(anchor.into()),
        key_store_password: Some(pin.as_bytes().to_vec().into()),
        custom_key_store_type: None,
    };
    let create = |r| {
        w.kms
            .create_custom_key_store(&me, r)
            .map(|r| r.custom_key_store_id)
    };
    assert_eq!(
        code(create(req("a", "cluster-00000000000", ANCHOR, PIN))),
        "CloudHsmClusterNotFoundException"
    );
    assert_eq!(
        code(create(req("a", "short", ANCHOR, PIN))),
        "ValidationException"
    );
    assert_eq!(
        code(create(req(
            "a",
            CLUSTER,
            "-----BEGIN CERTIFICATE-----\nOTHER",
            PIN
        ))),
        "IncorrectTrustAnchorException"
    );
    let short = create(req("a", CLUSTER, ANCHOR, "123456")).unwrap_err();
    assert_eq!(short.code(), "ValidationException");
    assert!(!short.message().contains("123456"), "{}", short.message());
    let long = "x".repeat(33);
    assert_eq!(
        code(create(req("a", CLUSTER, ANCHOR, &long))),
        "ValidationException"
    );
    assert_eq!(
        code(create(req("", CLUSTER, ANCHOR, PIN))),
        "ValidationException"
    );
    let xks = w.kms.create_custom_key_store(
        &me,
        CreateCustomKeyStoreRequest {
            custom_key_store_type: Some(CustomKeyStoreType::ExternalKeyStore),
            ..req("x", CLUSTER, ANCHOR, PIN)
        },
    );
    assert_eq!(code(xks), "UnsupportedOperationException");
    let id = create(req("a", CLUSTER, ANCHOR, PIN)).unwrap();
    assert_eq!(
        code(create(req("a", CLUSTER2, ANCHOR, PIN))),
        "CustomKeyStoreNameInUseException"
    );
    assert_eq!(
        code(create(req("b", CLUSTER, ANCHOR, PIN))),
        "CloudHsmClusterInUseException"
    );
    // A token serves one store, whichever the account.
    let theirs = w.create_store(&root(OTHER), "a", CLUSTER);
    assert_eq!(code(theirs), "CloudHsmClusterInUseException");
    // Keys in a store are symmetric encryption keys of origin AWS_CLOUDHSM.
    w.connect(&me, &id).unwrap();
    let hmac = w.kms.create_key(
        &me,
        CreateKeyRequest {
            origin: Some(Origin::AwsCloudHsm),
            custom_key_store_id: Some(id.clone()),
            key_spec: Some(KeySpec::Hmac256),
            key_usage: Some(KeyUsage::GenerateVerifyMac),
            ..Default::default()
        },
    );
    assert_eq!(code(hmac), "UnsupportedOperationException");
    let no_origin = w.kms.create_key(
        &me,
        CreateKeyRequest {
            custom_key_store_id: Some(id.clone()),
            ..Default::default()
        },
    );
    assert_eq!(code(no_origin), "ValidationException");
    let no_store = w.kms.create_key(
        &me,
        CreateKeyRequest {
            origin: Some(Origin::AwsCloudHsm),
            ..Default::default()
        },
    );
    assert_eq!(code(no_store), "ValidationException");
    assert_eq!(
        code(w.create_key(&me, "cks-00000000000000000")),
        "CustomKeyStoreNotFoundException"
    );
    let multi = w.kms.create_key(
        &me,
        CreateKeyRequest {
            origin: Some(Origin::AwsCloudHsm),
            custom_key_store_id: Some(id.clone()),
            multi_region: Some(true),
            ..Default::default()
        },
    );
    assert_eq!(code(multi), "UnsupportedOperationException");
    assert_eq!(
        w.token.object_count(),
        0,
        "a refused CreateKey leaves no object"
    );
}

#[test]
fn an_account_has_at_most_ten_stores() {
    let tokens: Vec<_> = (0..11)
        .map(|i| MemoryToken::new(&format!("cluster-{i:011}"), PIN, None))
        .collect();
    let kms = Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .hsm_clusters(MemoryClusters::new(&tokens))
        .build()
        .unwrap();
    let me = root(ACCOUNT);
    for (i, t) in tokens.iter().enumerate() {
        let r = kms.create_custom_key_store(
            &me,
            CreateCustomKeyStoreRequest {
                custom_key_store_name: format!("s{i}"),
                cloud_hsm_cluster_id: Some(format!("cluster-{i:011}")),
                trust_anchor_certificate: Some(ANCHOR.into()),
                key_store_password: Some(PIN.as_bytes().to_vec().into()),
                custom_key_store_type: None,
            },
        );
        if i < 10 {
            r.unwrap();
        } else {
            assert_eq!(code(r), "LimitExceededException");
        }
        let _ = t;
    }
    let all = kms
        .describe_custom_key_stores(
            &me,
            DescribeCustomKeyStoresRequest {
                limit: Some(4),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(all.custom_key_stores.len(), 4);
    assert!(all.truncated);
    let rest = kms
        .describe_custom_key_stores(
            &me,
            DescribeCustomKeyStoresRequest {
                marker: all.next_marker.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rest.custom_key_stores.len(), 6);
    assert!(!rest.truncated);
    let forged = kms.describe_custom_key_stores(
        &me,
        DescribeCustomKeyStoresRequest {
            marker: Some("00".repeat(20)),
            ..Default::default()
        },
    );
    assert_eq!(code(forged), "InvalidMarkerException");
}

#[test]
fn another_account_neither_sees_nor_touches_a_store() {
    let w = World::new();
    let me = root(ACCOUNT);
    let them = root(OTHER);
    let id = w.create_store(&me, "mine", CLUSTER).unwrap();
    w.connect(&me, &id).unwrap();
    let key = w.create_key(&me, &id).unwrap();
    let theirs = w
        .kms
        .describe_custom_key_stores(&them, DescribeCustomKeyStoresRequest::default())
        .unwrap();
    assert!(theirs.custom_key_stores.is_empty());
    let by_id = w.kms.describe_custom_key_stores(
        &them,
        DescribeCustomKeyStoresRequest {
            custom_key_store_id: Some(id.clone()),
            ..Default::default()
        },
    );
    assert_eq!(code(by_id), "CustomKeyStoreNotFoundException");
    assert_eq!(
        code(w.connect(&them, &id)),
        "CustomKeyStoreNotFoundException"
    );
    assert_eq!(
        code(w.disconnect(&them, &id)),
        "CustomKeyStoreNotFoundException"
    );
    assert_eq!(
        code(w.delete(&them, &id)),
        "CustomKeyStoreNotFoundException"
    );
    let rename = w.kms.update_custom_key_store(
        &them,
        UpdateCustomKeyStoreRequest {
            custom_key_store_id: id.clone(),
            new_custom_key_store_name: Some("stolen".into()),
            ..Default::default()
        },
    );
    assert_eq!(code(rename), "CustomKeyStoreNotFoundException");
    assert_eq!(
        code(w.create_key(&them, &id)),
        "CustomKeyStoreNotFoundException"
    );
    // Nor use the key in it (the default key policy trusts only its own account).
    let arn = key.arn.clone();
    let enc = w.kms.encrypt(
        &them,
        EncryptRequest {
            key_id: arn,
            plaintext: b"x".to_vec().into(),
            ..Default::default()
        },
    );
    assert_eq!(code(enc), "AccessDeniedException");
    assert_eq!(w.state(&id), ConnectionState::Connected);
    assert_eq!(w.entry(&me, &id).custom_key_store_name, "mine");
}

#[test]
fn a_principal_needs_the_iam_permission_for_each_operation() {
    let w = World::new();
    let me = root(ACCOUNT);
    let id = w.create_store(&me, "s", CLUSTER).unwrap();
    let bare = Caller::new("arn:aws:iam::111122223333:user/bob").unwrap();
    let describe_only = Caller::new("arn:aws:iam::111122223333:user/carol")
        .unwrap()
        .with_identity_policy_json(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeCustomKeyStores","Resource":"*"}]}"#,
        )
        .unwrap();
    let denied = Caller::account_root(AccountId::parse(ACCOUNT).unwrap())
        .with_identity_policy_json(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:ConnectCustomKeyStore","Resource":"*"}]}"#,
        )
        .unwrap();
    for who in [&bare, &describe_only] {
        assert_eq!(
            code(w.create_store(who, "t", CLUSTER2)),
            "AccessDeniedException"
        );
        assert_eq!(code(w.connect(who, &id)), "AccessDeniedException");
        assert_eq!(code(w.disconnect(who, &id)), "AccessDeniedException");
        assert_eq!(code(w.delete(who, &id)), "AccessDeniedException");
        let u = w.kms.update_custom_key_store(
            who,
            UpdateCustomKeyStoreRequest {
                custom_key_store_id: id.clone(),
                new_custom_key_store_name: Some("x".into()),
                ..Default::default()
            },
        );
        assert_eq!(code(u), "AccessDeniedException");
    }
    let d = w
        .kms
        .describe_custom_key_stores(&bare, DescribeCustomKeyStoresRequest::default());
    assert_eq!(code(d), "AccessDeniedException");
    w.kms
        .describe_custom_key_stores(&describe_only, DescribeCustomKeyStoresRequest::default())
        .unwrap();
    assert_eq!(code(w.connect(&denied, &id)), "AccessDeniedException");
    assert_eq!(w.state(&id), ConnectionState::Disconnected);
}

#[test]
fn the_pin_is_stored_only_wrapped_and_never_audited_or_shown() {
    let w = World::new();
    let me = root(ACCOUNT);
    let id = w.create_store(&me, "s", CLUSTER).unwrap();
    w.connect(&me, &id).unwrap();
    w.kms
        .update_custom_key_store(
            &me,
            UpdateCustomKeyStoreRequest {
                custom_key_store_id: id.clone(),
                new_custom_key_store_name: Some("n".into()),
                ..Default::default()
            },
        )
        .unwrap();
    // The stored record holds the PIN only wrapped by the root key.
    let records = w.store.begin().unwrap().custom_key_stores(None).unwrap();
    assert_eq!(records.len(), 1);
    let pin = PIN.as_bytes();
    assert!(!records[0]
        .wrapped_password
        .windows(pin.len())
        .any(|x| x == pin));
    assert!(!format!("{:?}", records[0]).contains(PIN));
    // Every audit record of the calls is free of it.
    let events = w.sink.events();
    assert!(events.len() >= 3);
    for e in &events {
        let json = serde_json::to_string(e).unwrap();
        assert!(!json.contains(PIN), "{json}");
    }
    let create = events
        .iter()
        .find(|e| e.event_name == "CreateCustomKeyStore")
        .expect("CreateCustomKeyStore is audited");
    let json = serde_json::to_string(create).unwrap();
    assert!(json.contains(CLUSTER), "{json}");
    // Nor does a request's Debug show it.
    let req = CreateCustomKeyStoreRequest {
        key_store_password: Some(PIN.as_bytes().to_vec().into()),
        ..Default::default()
    };
    assert!(!format!("{req:?}").contains(PIN));
}

#[test]
fn a_store_has_its_own_request_quota_shared_by_its_keys() {
    let token = MemoryToken::new(CLUSTER, PIN, None);
    let token2 = MemoryToken::new(CLUSTER2, PIN, None);
    let mut quotas = coffer::QuotaConfig::default();
    quotas.defaults.insert(
        coffer::QuotaClass::CloudHsmKeyStore,
        coffer::LimitOverride {
            rate: Some(0.001),
            burst: Some(3),
        },
    );
    let kms = Kms::builder()
        .quotas(quotas)
        .clock(Arc::new(ManualClock::at_epoch_seconds(1_800_000_000)))
        .hsm_clusters(MemoryClusters::new(&[token, token2]))
        .build()
        .unwrap();
    let me = root(ACCOUNT);
    let mut keys = Vec::new();
    for (name, cluster) in [("a", CLUSTER), ("b", CLUSTER2)] {
        let id = kms
            .create_custom_key_store(
                &me,
                CreateCustomKeyStoreRequest {
                    custom_key_store_name: name.into(),
                    cloud_hsm_cluster_id: Some(cluster.into()),
                    trust_anchor_certificate: Some(ANCHOR.into()),
                    key_store_password: Some(PIN.as_bytes().to_vec().into()),
                    custom_key_store_type: None,
                },
            )
            .unwrap()
            .custom_key_store_id;
        kms.connect_custom_key_store(
            &me,
            CustomKeyStoreIdRequest {
                custom_key_store_id: id.clone(),
            },
        )
        .unwrap();
        let key = kms
            .create_key(
                &me,
                CreateKeyRequest {
                    origin: Some(Origin::AwsCloudHsm),
                    custom_key_store_id: Some(id),
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata;
        keys.push(key.key_id);
    }
    let encrypt = |key: &str| {
        kms.encrypt(
            &me,
            EncryptRequest {
                key_id: key.into(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            },
        )
        .map(|_| ())
    };
    // CreateKey took one of store a's three; two Encrypts take the rest.
    encrypt(&keys[0]).unwrap();
    encrypt(&keys[0]).unwrap();
    assert_eq!(code(encrypt(&keys[0])), "ThrottlingException");
    // Store b has its own bucket.
    encrypt(&keys[1]).unwrap();
}
