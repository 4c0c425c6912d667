//! The PKCS#11 implementation of the HSM contract and the token-held root key, against
//! SoftHSM2: one token per test, all made before the module is loaded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use coffer_crypto::{SecretBytes, SymmetricKey, SystemRandom};
use coffer_hsm::{
    ClusterConfig, ConfiguredClusters, Error, PinSource, Pkcs11Cluster, Pkcs11RootKey,
    RootKeyConfig, TokenConfig, TokenSelector, PKCS11_WRAP_V1,
};
use coffer_keys::{HsmCluster, HsmClusters, HsmError, HsmSession, KeyError, LocalRootKey, RootKey};
use common::*;

const TOKENS: &[&str] = &[
    "session",
    "pins",
    "locked-out",
    "root-new",
    "root-missing",
    "root-dup",
    "threads",
    "anchor",
    "root-pin-env",
];

fn hsm() -> &'static SoftHsm {
    softhsm(TOKENS)
}

fn pin() -> SecretBytes {
    SecretBytes::copy_from(PIN.as_bytes())
}

fn cluster(label: &str) -> Pkcs11Cluster {
    hsm();
    Pkcs11Cluster::new(ClusterConfig {
        id: "cluster-1234567abcd".into(),
        token: token(label),
        trust_anchor_pem: None,
    })
    .unwrap()
}

fn pin_file(name: &str, contents: &str, mode: u32) -> std::path::PathBuf {
    let p = hsm().dir.join(name);
    std::fs::write(&p, contents).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn root_config(label: &str, key_label: &str) -> RootKeyConfig {
    RootKeyConfig {
        token: token(label),
        pin: PinSource::File(pin_file(
            &format!("{label}.pin"),
            &format!("{PIN}\n"),
            0o600,
        )),
        key_label: key_label.into(),
    }
}

#[test]
fn a_session_seals_and_opens_in_the_token_with_keys_that_never_leave_it() {
    let s = cluster("session").connect_pkcs11(&pin()).unwrap();
    let k = s.generate_aes_key("coffer key 1").unwrap();
    assert_eq!(k.0.len(), 16);
    let other = s.generate_aes_key("coffer key 2").unwrap();
    assert_ne!(k, other);
    let nonce = [1u8; 12];
    let sealed = s.seal(&k, &nonce, b"context", b"attack at dawn").unwrap();
    assert_eq!(sealed.len(), 14 + 16);
    assert_eq!(
        s.open(&k, &nonce, b"context", &sealed).unwrap().expose(),
        b"attack at dawn"
    );
    // Empty plaintext and empty AAD are fine.
    let empty = s.seal(&k, &nonce, b"", b"").unwrap();
    assert!(s.open(&k, &nonce, b"", &empty).unwrap().is_empty());
    // Other AAD, other nonce, other key, any flipped byte, a cut tag: Authentication.
    assert_eq!(
        s.open(&k, &nonce, b"other", &sealed).unwrap_err(),
        HsmError::Authentication
    );
    assert_eq!(
        s.open(&k, &[2u8; 12], b"context", &sealed).unwrap_err(),
        HsmError::Authentication
    );
    assert_eq!(
        s.open(&other, &nonce, b"context", &sealed).unwrap_err(),
        HsmError::Authentication
    );
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 1;
        assert_eq!(
            s.open(&k, &nonce, b"context", &bad).unwrap_err(),
            HsmError::Authentication,
            "byte {i}"
        );
    }
    assert_eq!(
        s.open(&k, &nonce, b"context", &sealed[..10]).unwrap_err(),
        HsmError::Authentication
    );

    let p = s.key_protection(&k).unwrap();
    assert_eq!(p.sensitive, Some(true));
    assert_eq!(p.extractable, Some(false));
    assert_eq!(p.always_sensitive, Some(true));
    assert_eq!(p.never_extractable, Some(true));
    assert_eq!(p.token, Some(true));
    assert_eq!(p.private, Some(true));
    assert!(!p.value_readable);

    s.check().unwrap();
    assert!(s.key_exists(&k).unwrap());
    s.destroy(&k).unwrap();
    assert!(!s.key_exists(&k).unwrap());
    assert_eq!(
        s.seal(&k, &nonce, b"", b"x").unwrap_err(),
        HsmError::KeyNotFound
    );
    assert_eq!(s.destroy(&k).unwrap_err(), HsmError::KeyNotFound);
    assert!(s.key_exists(&other).unwrap());

    // Keys persist in the token: a new connection finds them.
    let s2 = cluster("session").connect_pkcs11(&pin()).unwrap();
    let sealed2 = s2.seal(&other, &nonce, b"", b"persisted").unwrap();
    assert_eq!(
        s.open(&other, &nonce, b"", &sealed2).unwrap().expose(),
        b"persisted"
    );
    // Closed: later calls fail, others' connections carry on.
    s.close();
    assert!(s.check().is_err());
    s2.check().unwrap();
}

#[test]
fn a_wrong_pin_is_refused_even_while_the_right_one_is_logged_in() {
    let c = cluster("pins");
    let wrong = SecretBytes::copy_from(b"not-the-pin");
    assert!(matches!(
        c.connect(&wrong),
        Err(HsmError::InvalidCredentials)
    ));
    let right = c.connect(&pin()).unwrap();
    // PKCS#11 logs in per application and token: the token says "already logged in" to any
    // PIN now, and the crate still refuses the wrong one.
    assert!(matches!(
        c.connect(&wrong),
        Err(HsmError::InvalidCredentials)
    ));
    assert!(c.connect(&pin()).is_ok());
    right.check().unwrap();
}

#[test]
fn an_absent_token_is_unavailable_and_a_missing_module_too() {
    hsm();
    let c = Pkcs11Cluster::new(ClusterConfig {
        id: "cluster-abcdefghijk".into(),
        token: TokenConfig::new(MODULE, TokenSelector::Slot(987_654_321)),
        trust_anchor_pem: None,
    })
    .unwrap();
    assert!(matches!(c.connect(&pin()), Err(HsmError::Unavailable(_))));
    let c = Pkcs11Cluster::new(ClusterConfig {
        id: "cluster-abcdefghijk".into(),
        token: TokenConfig::new(
            "/nonexistent/libpkcs11.so",
            TokenSelector::Label("x".into()),
        ),
        trust_anchor_pem: None,
    })
    .unwrap();
    match c.connect(&pin()) {
        Err(HsmError::Unavailable(m)) => assert!(m.contains("/nonexistent/libpkcs11.so"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn many_threads_share_one_connection() {
    let s = Arc::new(cluster("threads").connect_pkcs11(&pin()).unwrap());
    let k = s.generate_aes_key("shared").unwrap();
    let handles: Vec<_> = (0..8u8)
        .map(|t| {
            let (s, k) = (s.clone(), k.clone());
            std::thread::spawn(move || {
                for i in 0..50u8 {
                    let nonce = [t, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                    let msg = [t, i];
                    let sealed = s.seal(&k, &nonce, &[t], &msg).unwrap();
                    assert_eq!(s.open(&k, &nonce, &[t], &sealed).unwrap().expose(), msg);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn the_trust_anchor_is_compared_as_a_certificate() {
    hsm();
    // A syntactically valid DER SEQUENCE is enough here: the anchor is compared, not parsed.
    let der_a: Vec<u8> = [0x30, 0x82, 0x00, 0x20]
        .into_iter()
        .chain([0xAA; 32])
        .collect();
    let der_b: Vec<u8> = [0x30, 0x82, 0x00, 0x20]
        .into_iter()
        .chain([0xBB; 32])
        .collect();
    use base64::Engine;
    let pem = |der: &[u8]| {
        let b = base64::engine::general_purpose::STANDARD.encode(der);
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n{}\n-----END CERTIFICATE-----\n",
            &b[..20],
            &b[20..]
        )
    };
    let c = Pkcs11Cluster::new(ClusterConfig {
        id: "cluster-anchor12345".into(),
        token: token("anchor"),
        trust_anchor_pem: Some(pem(&der_a)),
    })
    .unwrap();

    assert!(c.trust_anchor_matches(&pem(&der_a)));
    // Line breaks do not matter; the certificate does.
    assert!(c.trust_anchor_matches(&pem(&der_a).replace('\n', "\r\n")));
    assert!(!c.trust_anchor_matches(&pem(&der_b)));
    assert!(!c.trust_anchor_matches("not a certificate"));
    let open = cluster("anchor");
    assert!(open.trust_anchor_matches(&pem(&der_b)));
    assert!(
        !open.trust_anchor_matches("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----")
    );
    // A configured anchor must be a certificate.
    assert!(Pkcs11Cluster::new(ClusterConfig {
        id: "cluster-anchor12345".into(),
        token: token("anchor"),
        trust_anchor_pem: Some("junk".into()),
    })
    .is_err());
}

#[test]
fn configured_clusters_are_validated_and_found_by_id() {
    hsm();
    let cfg = |id: &str, label: &str| ClusterConfig {
        id: id.into(),
        token: token(label),
        trust_anchor_pem: None,
    };
    let clusters = ConfiguredClusters::new(vec![
        cfg("cluster-zzzzzzzzzzz", "a"),
        cfg("cluster-1234567abcd", "b"),
    ])
    .unwrap();
    assert_eq!(
        clusters.cluster_ids(),
        ["cluster-1234567abcd", "cluster-zzzzzzzzzzz"]
    );
    assert_eq!(
        clusters.cluster("cluster-1234567abcd").unwrap().id(),
        "cluster-1234567abcd"
    );
    assert!(clusters.cluster("cluster-nope0000000").is_none());
    for bad in [
        "cluster-short",
        "clust-1234567abcd",
        "cluster-1234567abcd!",
        "",
        "cluster-12345678901234567",
    ] {
        assert!(
            matches!(
                ConfiguredClusters::new(vec![cfg(bad, "a")]),
                Err(Error::Config(_))
            ),
            "{bad}"
        );
    }
    assert!(ConfiguredClusters::new(vec![
        cfg("cluster-1234567abcd", "a"),
        cfg("cluster-1234567abcd", "b")
    ])
    .is_err());
    assert!(ConfiguredClusters::new(vec![
        cfg("cluster-1234567abcd", "a"),
        cfg("cluster-zzzzzzzzzzz", "a")
    ])
    .is_err());
    // The module is not loaded before a connect: a cluster on a missing module configures.
    assert!(ConfiguredClusters::new(vec![ClusterConfig {
        id: "cluster-1234567abcd".into(),
        token: TokenConfig::new("/nonexistent/lib.so", TokenSelector::Label("a".into())),
        trust_anchor_pem: None,
    }])
    .is_ok());
}

#[test]
fn a_root_key_is_made_in_the_token_once_and_found_by_label_after() {
    let config = root_config("root-new", "coffer-root");
    let root = Pkcs11RootKey::open(&config, true).unwrap();
    let p = root.protection().unwrap();
    assert_eq!((p.sensitive, p.extractable), (Some(true), Some(false)));
    assert_eq!((p.token, p.private), (Some(true), Some(true)));
    assert!(!p.value_readable);
    let material = SymmetricKey::generate(&SystemRandom::new()).unwrap();
    let wrapped = root.wrap(b"binding", &material).unwrap();
    assert_eq!(wrapped.len(), 1 + 12 + 32 + 16);
    assert_eq!(wrapped[0], PKCS11_WRAP_V1);
    let secret = SecretBytes::copy_from(&[9u8; 100]);
    let wrapped_secret = root.wrap_secret(b"s", &secret).unwrap();

    // Opened again (create or not), the same key object: old values unwrap.
    for create in [false, true] {
        let again = Pkcs11RootKey::open(&config, create).unwrap();
        assert_eq!(again.key_ref(), root.key_ref());
        assert_eq!(
            again.unwrap(b"binding", &wrapped).unwrap().expose(),
            material.expose()
        );
        assert_eq!(
            again.unwrap_secret(b"s", &wrapped_secret).unwrap().expose(),
            secret.expose()
        );
    }
    // Bound to its AAD; damage fails; a LocalRootKey's value is not read, nor the reverse.
    assert!(matches!(
        root.unwrap(b"other", &wrapped),
        Err(KeyError::Crypto(_))
    ));
    for i in 0..wrapped.len() {
        let mut bad = wrapped.clone();
        bad[i] ^= 0x10;
        assert!(root.unwrap(b"binding", &bad).is_err(), "byte {i}");
    }
    let local = LocalRootKey::ephemeral(Arc::new(SystemRandom::new())).unwrap();
    let local_wrapped = local.wrap(b"binding", &material).unwrap();
    assert!(root.unwrap(b"binding", &local_wrapped).is_err());
    assert!(local.unwrap(b"binding", &wrapped).is_err());
    // A secret too long or empty is refused before it reaches the token.
    assert!(root
        .wrap_secret(
            b"",
            &SecretBytes::copy_from(&[1u8; coffer_keys::MAX_SECRET_LEN + 1])
        )
        .is_err());
    assert!(root.wrap_secret(b"", &SecretBytes::copy_from(b"")).is_err());
    // Debug names the token and the key, never the PIN.
    let debug = format!("{root:?} {config:?}");
    assert!(
        debug.contains("root-new") && debug.contains("coffer-root"),
        "{debug}"
    );
    assert!(!debug.contains(PIN), "{debug}");
}

#[test]
fn a_root_key_that_is_missing_or_ambiguous_is_refused() {
    let config = root_config("root-missing", "coffer-root");
    match Pkcs11RootKey::open(&config, false) {
        Err(e @ Error::RootKey { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("root-missing") && text.contains("coffer-root"),
                "{text}"
            );
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let config = root_config("root-dup", "dup");
    let s = cluster("root-dup").connect_pkcs11(&pin()).unwrap();
    s.generate_aes_key("dup").unwrap();
    s.generate_aes_key("dup").unwrap();
    assert!(matches!(
        Pkcs11RootKey::open(&config, true),
        Err(Error::RootKey { .. })
    ));
}

#[test]
fn a_root_key_with_a_wrong_or_unreadable_pin_names_the_token_and_never_the_pin() {
    hsm();
    let wrong = "wrong-pin-7777";
    let mut config = root_config("locked-out", "coffer-root");
    config.pin = PinSource::File(pin_file("wrong.pin", wrong, 0o600));
    let e = Pkcs11RootKey::open(&config, true).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        matches!(
            e,
            Error::Token {
                source: HsmError::InvalidCredentials,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("locked-out") && text.contains(MODULE),
        "{text}"
    );
    assert!(!text.contains(wrong) && !text.contains(PIN), "{text}");

    // A PIN file others can read is refused; so are an empty one and a missing variable.
    config.pin = PinSource::File(pin_file("open.pin", PIN, 0o644));
    let e = Pkcs11RootKey::open(&config, true).unwrap_err();
    assert!(e.to_string().contains("open.pin"), "{e}");
    assert!(!format!("{e} {e:?}").contains(PIN));
    config.pin = PinSource::File(pin_file("empty.pin", "\n", 0o600));
    assert!(matches!(
        Pkcs11RootKey::open(&config, true),
        Err(Error::Pin { .. })
    ));
    config.pin = PinSource::Env("COFFER_TEST_PIN_NOT_SET_ANYWHERE".into());
    let e = Pkcs11RootKey::open(&config, true).unwrap_err();
    assert!(
        e.to_string().contains("COFFER_TEST_PIN_NOT_SET_ANYWHERE"),
        "{e}"
    );

    // An absent token: the module and token are named.
    let mut absent = root_config("locked-out", "coffer-root");
    absent.token = token("no-such-token");
    let e = Pkcs11RootKey::open(&absent, true).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("no-such-token") && text.contains("not present"),
        "{text}"
    );
    // A missing module.
    absent.token = TokenConfig::new("/nonexistent/pkcs11.so", TokenSelector::Label("x".into()));
    let e = Pkcs11RootKey::open(&absent, true).unwrap_err();
    assert!(matches!(e, Error::ModuleMissing { .. }), "{e}");
}

#[test]
fn a_root_key_pin_may_come_from_the_environment() {
    hsm();
    std::env::set_var("COFFER_TEST_ROOT_PIN", PIN);
    let config = RootKeyConfig {
        token: token("root-pin-env"),
        pin: PinSource::Env("COFFER_TEST_ROOT_PIN".into()),
        key_label: "k".into(),
    };
    let root = Pkcs11RootKey::open(&config, true).unwrap();
    let m = SymmetricKey::generate(&SystemRandom::new()).unwrap();
    let w = root.wrap(b"", &m).unwrap();
    assert_eq!(root.unwrap(b"", &w).unwrap().expose(), m.expose());
    assert!(!format!("{config:?} {root:?}").contains(PIN));
}
