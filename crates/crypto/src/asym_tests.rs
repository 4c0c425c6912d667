use super::*;

const ALL: [AsymmetricAlgorithm; 14] = [
    AsymmetricAlgorithm::Rsa2048,
    AsymmetricAlgorithm::Rsa3072,
    AsymmetricAlgorithm::Rsa4096,
    AsymmetricAlgorithm::P256,
    AsymmetricAlgorithm::P384,
    AsymmetricAlgorithm::P521,
    AsymmetricAlgorithm::Secp256k1,
    AsymmetricAlgorithm::Ed25519,
    AsymmetricAlgorithm::MlDsa44,
    AsymmetricAlgorithm::MlDsa65,
    AsymmetricAlgorithm::MlDsa87,
    AsymmetricAlgorithm::MlKem512,
    AsymmetricAlgorithm::MlKem768,
    AsymmetricAlgorithm::MlKem1024,
];

fn schemes(a: AsymmetricAlgorithm) -> Vec<SignatureScheme> {
    use SignatureHash::*;
    let all = [
        SignatureScheme::RsaPss(Sha256),
        SignatureScheme::RsaPss(Sha384),
        SignatureScheme::RsaPss(Sha512),
        SignatureScheme::RsaPkcs1(Sha256),
        SignatureScheme::RsaPkcs1(Sha384),
        SignatureScheme::RsaPkcs1(Sha512),
        SignatureScheme::Ecdsa(Sha256),
        SignatureScheme::Ecdsa(Sha384),
        SignatureScheme::Ecdsa(Sha512),
        SignatureScheme::Ed25519,
        SignatureScheme::Ed25519Ph,
        SignatureScheme::MlDsa,
    ];
    all.into_iter().filter(|s| a.allows(*s)).collect()
}

fn sha(h: SignatureHash, m: &[u8]) -> Vec<u8> {
    digest::digest(h.digest_algorithm(), m).as_ref().to_vec()
}

#[test]
fn every_signing_algorithm_signs_and_verifies_raw_and_digest() {
    for a in ALL
        .into_iter()
        .filter(|a| a.supports(KeyRole::Sign) && a.rsa_size() != Some(rsa::KeySize::Rsa4096))
    {
        let key = PrivateKey::generate(a, KeyRole::Sign).unwrap();
        let again = PrivateKey::from_encoded(a, KeyRole::Sign, key.encoded().clone()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der(), "{a:?}");
        let schemes = schemes(a);
        assert!(!schemes.is_empty(), "{a:?}");
        for s in schemes {
            let msg = b"the message";
            let sig = again.sign(s, SignedMessage::Raw(msg)).unwrap();
            let spki = key.public_key_der();
            assert!(
                verify(a, spki, s, SignedMessage::Raw(msg), &sig).unwrap(),
                "{a:?} {s:?}"
            );
            assert!(
                !verify(a, spki, s, SignedMessage::Raw(b"another"), &sig).unwrap(),
                "{a:?} {s:?}"
            );
            let mut bad = sig.clone();
            bad[sig.len() / 2] ^= 1;
            assert!(
                !verify(a, spki, s, SignedMessage::Raw(msg), &bad).unwrap(),
                "{a:?} {s:?}"
            );
            if s == SignatureScheme::Ed25519Ph {
                // The pre-hashed variant signs SHA-512(message): given as a digest, the same.
                let d = digest::digest(&digest::SHA512, msg).as_ref().to_vec();
                let dsig = key.sign(s, SignedMessage::Digest(&d)).unwrap();
                assert_eq!(dsig, sig, "Ed25519ph is deterministic");
                assert!(verify(a, spki, s, SignedMessage::Digest(&d), &sig).unwrap());
                assert!(key.sign(s, SignedMessage::Digest(&d[1..])).is_err());
                // A pure Ed25519 signature is not an Ed25519ph one.
                let pure = key
                    .sign(SignatureScheme::Ed25519, SignedMessage::Raw(msg))
                    .unwrap();
                assert!(!verify(a, spki, s, SignedMessage::Raw(msg), &pure).unwrap());
                continue;
            }
            let h = match s {
                SignatureScheme::RsaPss(h)
                | SignatureScheme::RsaPkcs1(h)
                | SignatureScheme::Ecdsa(h) => h,
                _ => {
                    assert!(key.sign(s, SignedMessage::Digest(&[0; 64])).is_err());
                    continue;
                }
            };
            // A signature over the digest verifies as one over the raw message, and back.
            let d = sha(h, msg);
            let dsig = key.sign(s, SignedMessage::Digest(&d)).unwrap();
            assert!(
                verify(a, spki, s, SignedMessage::Raw(msg), &dsig).unwrap(),
                "{a:?} {s:?}"
            );
            assert!(
                verify(a, spki, s, SignedMessage::Digest(&d), &sig).unwrap(),
                "{a:?} {s:?}"
            );
            assert!(
                key.sign(s, SignedMessage::Digest(&d[1..])).is_err(),
                "short digest"
            );
            assert!(verify(a, spki, s, SignedMessage::Digest(&d[1..]), &sig).is_err());
        }
    }
}

#[test]
fn schemes_follow_the_curve_and_the_role() {
    use SignatureHash::*;
    assert!(AsymmetricAlgorithm::P256.allows(SignatureScheme::Ecdsa(Sha256)));
    assert!(!AsymmetricAlgorithm::P256.allows(SignatureScheme::Ecdsa(Sha384)));
    assert!(AsymmetricAlgorithm::P521.allows(SignatureScheme::Ecdsa(Sha512)));
    assert!(!AsymmetricAlgorithm::P256.allows(SignatureScheme::RsaPss(Sha256)));
    assert!(PrivateKey::generate(AsymmetricAlgorithm::Ed25519, KeyRole::Decrypt).is_err());
    assert!(PrivateKey::generate(AsymmetricAlgorithm::Secp256k1, KeyRole::Agree).is_err());
    let p256 = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Sign).unwrap();
    // A P-256 key's encoding is not taken as a P-384 key.
    assert!(PrivateKey::from_encoded(
        AsymmetricAlgorithm::P384,
        KeyRole::Sign,
        p256.encoded().clone()
    )
    .is_err());
    assert!(p256
        .sign(SignatureScheme::Ecdsa(Sha384), SignedMessage::Raw(b"m"))
        .is_err());
}

#[test]
fn rsa_oaep_round_trips_with_aws_size_limits() {
    let key = PrivateKey::generate(AsymmetricAlgorithm::Rsa2048, KeyRole::Decrypt).unwrap();
    assert_eq!(
        AsymmetricAlgorithm::Rsa2048.oaep_max_plaintext(OaepHash::Sha1),
        Some(214)
    );
    assert_eq!(
        AsymmetricAlgorithm::Rsa2048.oaep_max_plaintext(OaepHash::Sha256),
        Some(190)
    );
    assert_eq!(
        AsymmetricAlgorithm::Rsa4096.oaep_max_plaintext(OaepHash::Sha256),
        Some(446)
    );
    for h in [OaepHash::Sha1, OaepHash::Sha256] {
        let max = AsymmetricAlgorithm::Rsa2048.oaep_max_plaintext(h).unwrap();
        let pt = vec![7u8; max];
        let ct = encrypt_oaep(key.public_key_der(), h, &pt).unwrap();
        assert_eq!(ct.len(), 256);
        assert_eq!(key.decrypt_oaep(h, &ct).unwrap().expose(), &pt[..]);
        assert!(encrypt_oaep(key.public_key_der(), h, &vec![7u8; max + 1]).is_err());
        let other = if h == OaepHash::Sha1 {
            OaepHash::Sha256
        } else {
            OaepHash::Sha1
        };
        assert!(key.decrypt_oaep(other, &ct).is_err());
        let mut bad = ct.clone();
        bad[10] ^= 1;
        assert!(key.decrypt_oaep(h, &bad).is_err());
    }
    assert!(key
        .sign(
            SignatureScheme::RsaPss(SignatureHash::Sha256),
            SignedMessage::Raw(b"m")
        )
        .is_err());
}

#[test]
fn ecdh_both_sides_agree() {
    for a in [
        AsymmetricAlgorithm::P256,
        AsymmetricAlgorithm::P384,
        AsymmetricAlgorithm::P521,
    ] {
        let alice = PrivateKey::generate(a, KeyRole::Agree).unwrap();
        let bob = PrivateKey::generate(a, KeyRole::Agree).unwrap();
        let ab = alice.agree(bob.public_key_der()).unwrap();
        let ba = bob.agree(alice.public_key_der()).unwrap();
        assert_eq!(ab.expose(), ba.expose());
        let field = match a {
            AsymmetricAlgorithm::P256 => 32,
            AsymmetricAlgorithm::P384 => 48,
            _ => 66,
        };
        assert_eq!(ab.len(), field);
        let reparsed =
            PrivateKey::from_encoded(a, KeyRole::Agree, alice.encoded().clone()).unwrap();
        assert_eq!(
            reparsed.agree(bob.public_key_der()).unwrap().expose(),
            ab.expose()
        );
    }
    let p256 = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Agree).unwrap();
    let p384 = PrivateKey::generate(AsymmetricAlgorithm::P384, KeyRole::Agree).unwrap();
    assert!(p256.agree(p384.public_key_der()).is_err(), "another curve");
    assert!(p256.agree(b"\x30\x03\x02\x01\x00").is_err(), "garbage");
}

#[test]
fn ml_kem_encapsulates_and_decapsulates() {
    for a in [
        AsymmetricAlgorithm::MlKem512,
        AsymmetricAlgorithm::MlKem768,
        AsymmetricAlgorithm::MlKem1024,
    ] {
        let key = PrivateKey::generate(a, KeyRole::Decapsulate).unwrap();
        let (ct, ss) = encapsulate(a, key.public_key_der()).unwrap();
        assert_eq!(Some(ct.len()), a.kem_ciphertext_len());
        assert_eq!(ss.len(), 32);
        let again =
            PrivateKey::from_encoded(a, KeyRole::Decapsulate, key.encoded().clone()).unwrap();
        assert_eq!(again.decapsulate(&ct).unwrap().expose(), ss.expose());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        let rejected = key.decapsulate(&bad).unwrap();
        assert_eq!(rejected.len(), 32);
        assert_ne!(rejected.expose(), ss.expose(), "implicit rejection");
        assert!(key.decapsulate(&ct[1..]).is_err());
    }
    assert!(encapsulate(AsymmetricAlgorithm::MlKem768, b"\x30\x00").is_err());
}

#[test]
fn debug_never_shows_the_key() {
    let key = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Sign).unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains("[redacted]"));
    assert!(!shown.contains(&format!("{:?}", key.encoded().expose())));
}

#[test]
fn pkcs8_of_ml_kem_wraps_the_decapsulation_key() {
    let key = PrivateKey::generate(AsymmetricAlgorithm::MlKem512, KeyRole::Decapsulate).unwrap();
    let p8 = key.pkcs8();
    let (tag, body, rest) = der_read(p8.expose()).unwrap();
    assert_eq!((tag, rest.len()), (0x30, 0));
    let body = body.strip_prefix(&[0x02, 0x01, 0x00][..]).unwrap();
    let body = body
        .strip_prefix(ml_kem_algorithm_identifier(1).as_slice())
        .unwrap();
    let (tag, inner, rest) = der_read(body).unwrap();
    assert_eq!((tag, rest.len()), (0x04, 0));
    let (tag, dk, rest) = der_read(inner).unwrap();
    assert_eq!((tag, rest.len()), (0x04, 0));
    assert_eq!(dk, key.encoded().expose());
    // Other keys' PKCS #8 is their encoding.
    let p256 = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Sign).unwrap();
    assert_eq!(p256.pkcs8().expose(), p256.encoded().expose());
}

/// RFC 8032 section 7.3, the Ed25519ph test vector ("abc").
#[test]
fn ed25519ph_matches_rfc_8032() {
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let seed = hex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42");
    let public = hex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf");
    let expected = hex(concat!(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41",
        "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
    ));
    let pair = signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let der = SecretBytes::copy_from(pair.to_pkcs8v1().unwrap().as_ref());
    let key = PrivateKey::from_encoded(AsymmetricAlgorithm::Ed25519, KeyRole::Sign, der).unwrap();
    assert!(key.public_key_der().ends_with(&public));
    let sig = key
        .sign(SignatureScheme::Ed25519Ph, SignedMessage::Raw(b"abc"))
        .unwrap();
    assert_eq!(sig, expected);
    assert!(verify(
        AsymmetricAlgorithm::Ed25519,
        key.public_key_der(),
        SignatureScheme::Ed25519Ph,
        SignedMessage::Raw(b"abc"),
        &expected
    )
    .unwrap());
}

#[test]
fn ml_kem_data_key_pairs_carry_the_seed_and_work() {
    let rng = crate::SystemRandom::new();
    for (a, oid_last) in [
        (AsymmetricAlgorithm::MlKem512, 1u8),
        (AsymmetricAlgorithm::MlKem768, 2),
        (AsymmetricAlgorithm::MlKem1024, 3),
    ] {
        let (pkcs8, spki) = generate_ml_kem_seed_pair(a, &rng).unwrap();
        // PrivateKeyInfo { 0, id-alg-ml-kem-N, OCTET STRING { [0] seed (64) } }.
        let (tag, body, rest) = der_read(pkcs8.expose()).unwrap();
        assert_eq!((tag, rest.len()), (0x30, 0));
        let body = body.strip_prefix(&[0x02, 0x01, 0x00][..]).unwrap();
        let body = body
            .strip_prefix(ml_kem_algorithm_identifier(oid_last).as_slice())
            .unwrap();
        let (tag, inner, rest) = der_read(body).unwrap();
        assert_eq!((tag, rest.len()), (0x04, 0));
        let (tag, seed, rest) = der_read(inner).unwrap();
        assert_eq!((tag, seed.len(), rest.len()), (0x80, 64, 0));
        // The seed expands (independently of the function under test) to the key whose
        // public key was returned: what is encapsulated to it decapsulates with the seed's key.
        let expanded = match a {
            AsymmetricAlgorithm::MlKem512 => {
                (|| Ok::<_, CryptoError>(expand_ml_kem!(ml_kem::MlKem512, seed)))()
            }
            AsymmetricAlgorithm::MlKem768 => {
                (|| Ok::<_, CryptoError>(expand_ml_kem!(ml_kem::MlKem768, seed)))()
            }
            _ => (|| Ok::<_, CryptoError>(expand_ml_kem!(ml_kem::MlKem1024, seed)))(),
        }
        .unwrap();
        let key = PrivateKey::from_encoded(a, KeyRole::Decapsulate, expanded).unwrap();
        assert_eq!(key.public_key_der(), &spki[..]);
        let (ct, ss) = encapsulate(a, &spki).unwrap();
        assert_eq!(key.decapsulate(&ct).unwrap().expose(), ss.expose());
    }
}

#[test]
fn agreement_takes_only_a_named_curve_spki_of_the_keys_curve() {
    let a = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Agree).unwrap();
    let b = PrivateKey::generate(AsymmetricAlgorithm::P256, KeyRole::Agree).unwrap();
    let spki = b.public_key_der().to_vec();
    let p256 = AsymmetricAlgorithm::P256.named_curve_oid().unwrap();
    assert!(is_named_curve_spki(&spki, p256));
    assert_eq!(
        a.agree(&spki).unwrap().expose(),
        b.agree(a.public_key_der()).unwrap().expose()
    );
    // The same point labelled P-384; a trailing byte; a length in long form where the short
    // one fits; the bare point: all refused.
    let p384 = AsymmetricAlgorithm::P384.named_curve_oid().unwrap();
    let relabelled = {
        let mut v = spki.clone();
        let at = v.windows(p256.len()).position(|w| w == p256).unwrap();
        v.splice(at..at + p256.len(), p384.iter().copied());
        v[at - 1] = p384.len() as u8;
        // Fix the two enclosing lengths (both shrink by 3).
        v[1] -= 3;
        v[3] -= 3;
        v
    };
    assert!(is_named_curve_spki(&relabelled, p384));
    assert!(!is_named_curve_spki(&relabelled, p256));
    assert!(a.agree(&relabelled).is_err());
    let mut trailing = spki.clone();
    trailing.push(0);
    assert!(a.agree(&trailing).is_err());
    let mut long_form = vec![0x30, 0x81, spki[1]];
    long_form.extend_from_slice(&spki[2..]);
    assert!(a.agree(&long_form).is_err());
    let point = der_read(der_read(&spki).unwrap().1).unwrap().2;
    assert!(a.agree(point).is_err());
    assert!(a.agree(&[]).is_err());
}

#[test]
fn rsa_verification_holds_the_key_to_its_algorithms_size() {
    let k = PrivateKey::generate(AsymmetricAlgorithm::Rsa3072, KeyRole::Sign).unwrap();
    let scheme = SignatureScheme::RsaPss(SignatureHash::Sha256);
    let sig = k.sign(scheme, SignedMessage::Raw(b"m")).unwrap();
    let spki = k.public_key_der();
    assert_eq!(rsa_spki_modulus_bits(spki), Some(3072));
    assert!(verify(
        AsymmetricAlgorithm::Rsa3072,
        spki,
        scheme,
        SignedMessage::Raw(b"m"),
        &sig
    )
    .unwrap());
    // The same key and signature, claimed as RSA_2048 or RSA_4096: refused.
    for other in [AsymmetricAlgorithm::Rsa2048, AsymmetricAlgorithm::Rsa4096] {
        assert!(verify(other, spki, scheme, SignedMessage::Raw(b"m"), &sig).is_err());
    }
    assert_eq!(rsa_spki_modulus_bits(b"\x30\x00"), None);
}
