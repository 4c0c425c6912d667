//! The ciphertext-blob test vectors of docs/FORMATS.md: each positive vector decrypts to its
//! plaintext and is reproduced exactly by sealing with the same inputs; each `fail_` vector is
//! refused. The document must carry the same vectors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::collections::BTreeMap;

use coffer_core::{EncryptionContext, KeyId};
use coffer_crypto::testing::DeterministicRandom;
use coffer_crypto::SymmetricKey;
use coffer_keys::{blob, BackingKey, KeyMaterial, VersionId};

fn hex(s: &str) -> Vec<u8> {
    coffer_crypto::hex::decode(s).unwrap()
}

use coffer_crypto::hex::encode as to_hex;

/// Vectors as `name` → fields, from the data file (blank-line separated `field: value` blocks).
fn vectors() -> Vec<(String, BTreeMap<String, String>)> {
    let text = include_str!("vectors/blob_v1.txt");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut fields = BTreeMap::new();
        for line in block
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (k, v) = line.split_once(':').unwrap();
            fields.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        if let Some(name) = fields.remove("name") {
            out.push((name, fields));
        }
    }
    out
}

fn context(s: &str) -> EncryptionContext {
    if s.is_empty() {
        return EncryptionContext::new();
    }
    s.split(',')
        .map(|pair| pair.split_once('=').unwrap())
        .collect()
}

fn material(f: &BTreeMap<String, String>) -> KeyMaterial {
    let key_id = KeyId::parse(&f["key_id"]).unwrap();
    let version = VersionId::parse_hex(&f["version_id"]).unwrap();
    let key = SymmetricKey::from_slice(&hex(&f["backing_key"])).unwrap();
    let v = BackingKey::from_parts(version, key, std::time::UNIX_EPOCH, None);
    KeyMaterial::from_versions(key_id, vec![v], version).unwrap()
}

#[test]
fn vectors_decrypt_and_reproduce() {
    let all = vectors();
    assert!(all.iter().filter(|(n, _)| !n.starts_with("fail_")).count() >= 3);
    assert!(all.iter().filter(|(n, _)| n.starts_with("fail_")).count() >= 4);
    for (name, f) in &all {
        let m = material(f);
        let ctx = context(f.get("context").map_or("", String::as_str));
        let blob_bytes = hex(&f["blob"]);
        let parsed = blob::parse(&blob_bytes);
        if name.starts_with("fail_") {
            let refused = match parsed {
                Err(_) => true,
                Ok(b) => m.open(&b, &ctx).is_err(),
            };
            assert!(refused, "{name} was accepted");
            continue;
        }
        let pt = hex(&f["plaintext"]);
        let opened = m.open(&parsed.unwrap(), &ctx).unwrap();
        assert_eq!(opened.expose(), &pt[..], "{name}");
        // Sealing with the same random stream reproduces the blob byte for byte.
        let rng = DeterministicRandom::new(f["rng_seed"].as_bytes());
        let sealed = m.seal(&pt, &ctx, &rng).unwrap();
        assert_eq!(to_hex(&sealed), f["blob"], "{name}");
    }
}

#[test]
fn formats_md_carries_the_same_vectors() {
    let doc = include_str!("../../../docs/FORMATS.md");
    for (name, f) in vectors() {
        assert!(
            doc.contains(&f["blob"]),
            "docs/FORMATS.md lacks the blob of {name}"
        );
    }
}

/// Prints vectors for the data file: `cargo test -p coffer-keys --test vectors -- --ignored
/// --nocapture print`.
#[test]
#[ignore = "generator, run by hand"]
fn print_vectors() {
    let cases = [
        ("empty context", "", "68656c6c6f"),
        (
            "two pairs",
            "purpose=test,tenant=acme",
            "61747461636b206174206461776e",
        ),
        ("one byte", "k=v", "00"),
    ];
    for (i, (label, ctx, pt)) in cases.iter().enumerate() {
        let seed = format!("coffer blob vector {i}");
        let setup = DeterministicRandom::new(format!("setup {i}").as_bytes());
        let key_id = KeyId::generate(&setup).unwrap();
        let version = VersionId::generate(&setup).unwrap();
        let key = SymmetricKey::generate(&setup).unwrap();
        let v = BackingKey::from_parts(version, key.clone(), std::time::UNIX_EPOCH, None);
        let m = KeyMaterial::from_versions(key_id, vec![v], version).unwrap();
        let rng = DeterministicRandom::new(seed.as_bytes());
        let blob = m.seal(&hex(pt), &context(ctx), &rng).unwrap();
        println!("# {label}\nname: vector_{i}\nkey_id: {key_id}\nversion_id: {version}\nbacking_key: {}\nrng_seed: {seed}\ncontext: {ctx}\nplaintext: {pt}\nblob: {}\n", to_hex(key.expose()), to_hex(&blob));
    }
}
