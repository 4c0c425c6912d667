//! A token that goes away while in use, and comes back: its own test binary, since bringing a
//! token back re-initializes the module, which ends every session of the process.
//!
//! SoftHSM2's file store keeps a token in memory, so "removal" is its directory renamed away
//! under the token directory: the module then fails C_GetTokenInfo and C_Login, answers "no
//! such object", and after a re-initialization no longer lists the token; renamed back, a
//! re-initialization finds it again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use coffer_crypto::{SecretBytes, SymmetricKey, SystemRandom};
use coffer_hsm::{ClusterConfig, PinSource, Pkcs11Cluster, Pkcs11RootKey, RootKeyConfig};
use coffer_keys::{HsmError, HsmSession, KeyError, RootKey};
use common::*;

#[test]
fn a_token_that_goes_away_fails_retryably_and_recovers_without_restart() {
    let hsm = softhsm(&["gone", "root-gone"]);
    let cluster = Pkcs11Cluster::new(ClusterConfig {
        id: "cluster-1234567abcd".into(),
        token: token("gone"),
        trust_anchor_pem: None,
    })
    .unwrap();
    let s = cluster
        .connect_pkcs11(&SecretBytes::copy_from(PIN.as_bytes()))
        .unwrap();
    let k = s.generate_aes_key("k1").unwrap();
    let n = [7u8; 12];
    let sealed = s.seal(&k, &n, b"aad", b"hello").unwrap();

    let pin_file = hsm.dir.join("root.pin");
    std::fs::write(&pin_file, PIN).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let root = Pkcs11RootKey::open(
        &RootKeyConfig {
            token: token("root-gone"),
            pin: PinSource::File(pin_file),
            key_label: "coffer-root".into(),
        },
        true,
    )
    .unwrap();
    let material = SymmetricKey::generate(&SystemRandom::new()).unwrap();
    let wrapped = root.wrap(b"aad", &material).unwrap();

    let (dir, away) = (hsm.token_dir("gone"), hsm.dir.join("away"));
    let (root_dir, root_away) = (hsm.token_dir("root-gone"), hsm.dir.join("root-away"));
    std::fs::rename(&dir, &away).unwrap();
    std::fs::rename(&root_dir, &root_away).unwrap();
    for _ in 0..3 {
        let e = s.seal(&k, &n, b"aad", b"hello").unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
        let e = s.open(&k, &n, b"aad", &sealed).unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
        assert!(s.check().unwrap_err().is_retryable());
        // Never "the key is gone": the token is.
        assert!(!matches!(s.key_exists(&k), Ok(false)));
        for e in [
            root.unwrap(b"aad", &wrapped).map(|_| ()).unwrap_err(),
            root.wrap(b"aad", &material).map(|_| ()).unwrap_err(),
        ] {
            assert!(matches!(e, KeyError::RootUnavailable(_)), "{e:?}");
            let text = e.to_string();
            assert!(text.contains("root-gone") && !text.contains(PIN), "{text}");
        }
    }
    // Connecting anew fails the same way while it is away.
    assert!(matches!(
        cluster.connect_pkcs11(&SecretBytes::copy_from(PIN.as_bytes())),
        Err(HsmError::Unavailable(_))
    ));

    std::fs::rename(&away, &dir).unwrap();
    std::fs::rename(&root_away, &root_dir).unwrap();
    // The first call after the return succeeds: no restart, no new connection.
    assert_eq!(s.open(&k, &n, b"aad", &sealed).unwrap().expose(), b"hello");
    s.check().unwrap();
    assert!(s.key_exists(&k).unwrap());
    assert_eq!(
        root.unwrap(b"aad", &wrapped).unwrap().expose(),
        material.expose()
    );
    let again = root.wrap(b"aad", &material).unwrap();
    assert_eq!(
        root.unwrap(b"aad", &again).unwrap().expose(),
        material.expose()
    );
}
