//! AES-256-GCM in a SoftHSM2 token beside ring's (coffer-crypto) in the same run: a seal of
//! 1 KiB through a cluster session, and a root-key wrap + unwrap of a 32-byte key through
//! `Pkcs11RootKey` beside `LocalRootKey`.
//!
//! Run: `cargo bench -p coffer-hsm --bench token` (needs SoftHSM2: apt-get install softhsm2).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may panic on setup failure

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use coffer_crypto::aead::{Aes256Gcm, Nonce};
use coffer_crypto::{RandomSource, SecretBytes, SymmetricKey, SystemRandom};
use coffer_hsm::{
    ClusterConfig, PinSource, Pkcs11Cluster, Pkcs11RootKey, RootKeyConfig, TokenConfig,
    TokenSelector,
};
use coffer_keys::{HsmSession, LocalRootKey, RootKey};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "bench-pin-1234";

/// A SoftHSM token directory with the tokens `labels`, for this process.
fn softhsm(labels: &[&str]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("softhsm-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hsm = coffer_hsm::softhsm::SoftHsmDir::create(&dir, "").unwrap();
    for label in labels {
        hsm.init_token(label, PIN, "bench-so-pin").unwrap();
    }
    std::env::set_var("SOFTHSM2_CONF", hsm.conf());
    dir
}

fn token(label: &str) -> TokenConfig {
    TokenConfig::new(MODULE, TokenSelector::Label(label.into()))
}

fn benches(c: &mut Criterion) {
    let dir = softhsm(&["bench-session", "bench-root"]);
    let rng: Arc<dyn RandomSource> = Arc::new(SystemRandom::new());

    // AES-256-GCM seal of 1 KiB: in the token vs ring.
    let cluster = Pkcs11Cluster::new(ClusterConfig {
        id: "cluster-benchbench12".into(),
        token: token("bench-session"),
        trust_anchor_pem: None,
    })
    .unwrap();
    let session = cluster
        .connect_pkcs11(&SecretBytes::copy_from(PIN.as_bytes()))
        .unwrap();
    let key = session.generate_aes_key("bench").unwrap();
    let ring_key = SymmetricKey::generate(rng.as_ref()).unwrap();
    let ring = Aes256Gcm::new(&ring_key).unwrap();
    let plaintext = vec![0x5a_u8; 1024];
    let aad = b"coffer bench";
    let nonce = [7u8; 12];
    let mut g = c.benchmark_group("aes256gcm_seal_1KiB");
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("pkcs11_softhsm", |b| {
        b.iter(|| session.seal(&key, &nonce, aad, &plaintext).unwrap())
    });
    g.bench_function("ring", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(1024 + 16);
            ring.seal_append(&Nonce::from_bytes(nonce), aad, &plaintext, &mut out)
                .unwrap();
            out
        })
    });
    g.finish();

    // Root key: wrap + unwrap of a 32-byte key.
    let pin_file = dir.join("root.pin");
    std::fs::write(&pin_file, PIN).unwrap();
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let hsm_root = Pkcs11RootKey::open(
        &RootKeyConfig {
            token: token("bench-root"),
            pin: PinSource::File(pin_file),
            key_label: "coffer-root".into(),
        },
        true,
    )
    .unwrap();
    let local_root = LocalRootKey::ephemeral(rng.clone()).unwrap();
    let material = SymmetricKey::generate(rng.as_ref()).unwrap();
    let binding = [3u8; 46];
    let mut g = c.benchmark_group("root_wrap_unwrap_32B");
    g.bench_function("pkcs11_softhsm", |b| {
        b.iter(|| {
            let w = hsm_root.wrap(&binding, &material).unwrap();
            hsm_root.unwrap(&binding, &w).unwrap()
        })
    });
    g.bench_function("local_ring", |b| {
        b.iter(|| {
            let w = local_root.wrap(&binding, &material).unwrap();
            local_root.unwrap(&binding, &w).unwrap()
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(token_benches, benches);
criterion_main!(token_benches);
