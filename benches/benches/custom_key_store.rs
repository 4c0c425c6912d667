//! Encrypt of 1 KiB through the facade with a key in a custom key store (its AES key in a
//! SoftHSM2 token), beside the floor it cannot avoid: a raw AES-256-GCM seal of the same size
//! on the same token through `coffer-hsm` (cryptoki), with a random nonce from the same source.
//! Paired: both sides alternate, call by call (`coffer_benches`). Needs SoftHSM2
//! (`/usr/lib/softhsm/libsofthsm2.so`, `softhsm2-util`); the token lives in a directory of
//! its own under the target directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use std::path::PathBuf;
use std::sync::Arc;

use coffer::model::*;
use coffer::{AccountId, Caller, EncryptionContext, HsmSession, Kms, SecretBytes};
use coffer_benches::paired;
use coffer_crypto::{RandomSource, SystemRandom};
use coffer_hsm::{ClusterConfig, ConfiguredClusters, Pkcs11Cluster, TokenConfig, TokenSelector};
use criterion::{criterion_group, criterion_main, Criterion};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "bench-user-pin";
const CLUSTER: &str = "cluster-benchmark001";
const ANCHOR: &str = include_str!("../../crates/kms/tests/data/trust-anchor.pem");

fn softhsm() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cks-bench-softhsm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hsm = coffer_hsm::softhsm::SoftHsmDir::create(&dir, "").unwrap();
    hsm.init_token("coffer-bench", PIN, "7654321").unwrap();
    std::env::set_var("SOFTHSM2_CONF", hsm.conf());
    dir
}

fn config() -> ClusterConfig {
    ClusterConfig {
        id: CLUSTER.into(),
        token: TokenConfig::new(MODULE, TokenSelector::Label("coffer-bench".into())),
        trust_anchor_pem: Some(ANCHOR.into()),
    }
}

fn custom_key_store(c: &mut Criterion) {
    // Steady state: the public pool refilled from AWS-LC's DRBG, seeded before the clock runs.
    coffer_crypto::warm_up_public_drbg().unwrap();
    let dir = softhsm();
    let kms = Kms::builder()
        .quotas(coffer_benches::bench_quotas())
        .hsm_clusters(Arc::new(ConfiguredClusters::new(vec![config()]).unwrap()))
        .build()
        .unwrap();
    let me = Caller::account_root(AccountId::parse("111122223333").unwrap());
    let store = kms
        .create_custom_key_store(
            &me,
            CreateCustomKeyStoreRequest {
                custom_key_store_name: "bench".into(),
                cloud_hsm_cluster_id: Some(CLUSTER.into()),
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
            custom_key_store_id: store.clone(),
        },
    )
    .unwrap();
    let key = kms
        .create_key(
            &me,
            CreateKeyRequest {
                origin: Some(Origin::AwsCloudHsm),
                custom_key_store_id: Some(store),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .key_id;
    let ctx: EncryptionContext = [("tenant", "acme"), ("purpose", "bench")]
        .into_iter()
        .collect();

    // The floor: one seal in the same token, under a key of its own, through coffer-hsm.
    let raw = Pkcs11Cluster::new(config()).unwrap();
    let session = raw
        .connect_pkcs11(&SecretBytes::copy_from(PIN.as_bytes()))
        .unwrap();
    let raw_key = session.generate_aes_key("bench raw").unwrap();
    let rng = SystemRandom::new();
    let aad = vec![0u8; 45 + ctx.canonical_bytes().len()];
    let pt = vec![0x42u8; 1024];

    paired(
        c,
        "custom_key_store_encrypt_1024",
        None,
        &mut (
            || SecretBytes::copy_from(&pt),
            |p: SecretBytes| {
                let mut nonce = [0u8; 12];
                rng.fill_public(&mut nonce).unwrap();
                session.seal(&raw_key, &nonce, &aad, p.expose()).unwrap()
            },
        ),
        &mut (
            || EncryptRequest {
                key_id: key.clone(),
                plaintext: pt.clone().into(),
                encryption_context: ctx.clone(),
                ..Default::default()
            },
            |r: EncryptRequest| kms.encrypt(&me, r).unwrap(),
        ),
    );
    drop(kms);
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, custom_key_store);
criterion_main!(benches);
