//! The AWS Encryption SDK message format v2: messages made by the Python ESDK 4.0.7
//! (tests/esdk_vectors/, from tests/clients/esdk_vectors.py) open here; messages made here
//! round-trip; every kind of tampering is refused with its own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use coffer_core::EncryptionContext;
use coffer_crypto::SymmetricKey;
use coffer_envelope::esdk::{
    self, EsdkDecryptOptions, EsdkEncryptOptions, EsdkError, EsdkMalformed, EsdkSuite, Keyring,
    MultiKeyring, RawAesKeyring, PUBLIC_KEY_CONTEXT_KEY,
};

const NAMESPACE: &str = "coffer-esdk-vectors";

fn key_a() -> RawAesKeyring {
    let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
    RawAesKeyring::new(NAMESPACE, "key-a", SymmetricKey::from_bytes(bytes))
}

fn key_b() -> RawAesKeyring {
    let bytes: [u8; 32] = std::array::from_fn(|i| 100 + i as u8);
    RawAesKeyring::new(NAMESPACE, "key-b", SymmetricKey::from_bytes(bytes))
}

fn keyring(name: &str) -> RawAesKeyring {
    match name {
        "key-a" => key_a(),
        "key-b" => key_b(),
        other => panic!("unknown key {other}"),
    }
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/esdk_vectors")
}

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(vectors_dir().join(format!("{name}.esdk"))).unwrap()
}

fn opts() -> EsdkDecryptOptions {
    EsdkDecryptOptions::new()
}

/// The options a committed vector needs: `*unstored*` vectors were written with the pair
/// `tenant=unstored` authenticated but not stored.
fn opts_for(name: &str) -> EsdkDecryptOptions {
    if name.contains("unstored") {
        opts().with_unstored_context([("tenant", "unstored")].into_iter().collect())
    } else {
        opts()
    }
}

struct Entry {
    name: String,
    suite: u16,
    frame: u32,
    keys: Vec<String>,
    context: EncryptionContext,
}

fn manifest() -> Vec<Entry> {
    read_manifest(&vectors_dir().join("manifest.txt"))
}

fn read_manifest(path: &std::path::Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.splitn(5, ' ');
            let name = parts.next().unwrap().to_owned();
            let suite = u16::from_str_radix(parts.next().unwrap(), 16).unwrap();
            let frame = parts.next().unwrap().parse().unwrap();
            let keys = parts
                .next()
                .unwrap()
                .split('+')
                .map(str::to_owned)
                .collect();
            let pairs = parts.next().unwrap();
            let mut context = EncryptionContext::new();
            if pairs != "-" {
                for pair in pairs.split(',') {
                    let (k, v) = pair.split_once('=').unwrap();
                    context.insert(k, v);
                }
            }
            Entry {
                name,
                suite,
                frame,
                keys,
                context,
            }
        })
        .collect()
}

#[test]
fn python_esdk_vectors_decrypt_with_each_key() {
    let entries = manifest();
    assert_eq!(entries.len(), 11);
    for e in &entries {
        let message = vector(&e.name);
        let plaintext = std::fs::read(vectors_dir().join(format!("{}.txt", e.name))).unwrap();
        for key in &e.keys {
            let opened = esdk::decrypt(&keyring(key), &message, &opts_for(&e.name))
                .unwrap_or_else(|err| panic!("{} with {key}: {err}", e.name));
            assert_eq!(
                opened.header().context.get("tenant").is_some(),
                e.context.get("tenant").is_some() && !e.name.contains("unstored"),
                "{}",
                e.name
            );
            assert_eq!(opened.plaintext().expose(), &plaintext[..], "{}", e.name);
            assert_eq!(opened.header().suite.id(), e.suite, "{}", e.name);
            assert_eq!(opened.header().frame_len, e.frame, "{}", e.name);
            assert_eq!(
                opened.header().encrypted_data_keys.len(),
                e.keys.len(),
                "{}",
                e.name
            );
            // The stored context is the caller's, plus the signing key for 0x0578.
            let mut stored = opened.context().clone();
            if e.suite == 0x0578 {
                assert!(stored.get(PUBLIC_KEY_CONTEXT_KEY).is_some(), "{}", e.name);
                stored = stored
                    .iter()
                    .filter(|(k, _)| *k != PUBLIC_KEY_CONTEXT_KEY)
                    .collect();
            }
            assert_eq!(stored, e.context, "{}", e.name);
            // Required-context check: the caller's own context passes.
            esdk::decrypt(
                &keyring(key),
                &message,
                &opts_for(&e.name).require_context(e.context.clone()),
            )
            .unwrap();
        }
    }
}

#[test]
fn wrong_keyring_finds_no_data_key() {
    let other = RawAesKeyring::new(NAMESPACE, "key-a", SymmetricKey::from_bytes([9; 32]));
    match esdk::decrypt(&other, &vector("framed_0478"), &opts()) {
        Err(EsdkError::NoDecryptableDataKey { attempted: 1, last }) => assert!(last.is_some()),
        other => panic!("unexpected {other:?}"),
    }
    // A keyring of another namespace attempts nothing.
    let foreign = RawAesKeyring::new("elsewhere", "key-a", SymmetricKey::from_bytes([0; 32]));
    assert!(matches!(
        esdk::decrypt(&foreign, &vector("framed_0478"), &opts()),
        Err(EsdkError::NoDecryptableDataKey {
            attempted: 0,
            last: None
        })
    ));
}

#[test]
fn required_context_mismatch_is_refused() {
    let mut ctx = EncryptionContext::new();
    ctx.insert("purpose", "something else");
    assert!(matches!(
        esdk::decrypt(
            &key_a(),
            &vector("framed_0478"),
            &opts().require_context(ctx)
        ),
        Err(EsdkError::ContextMismatch)
    ));
}

#[test]
fn unsigned_only_refuses_signed_suite() {
    assert!(matches!(
        esdk::decrypt(&key_a(), &vector("framed_0578"), &opts().unsigned_only()),
        Err(EsdkError::UnsupportedSuite(0x0578))
    ));
    esdk::decrypt(&key_a(), &vector("framed_0478"), &opts().unsigned_only()).unwrap();
}

// ---- Layout helpers for tampering (framed_0478: one EDK, frame length 128, 315 bytes). ----

/// Offset of the body: the header body plus the 16-byte header tag.
fn body_offset(message: &[u8]) -> usize {
    let opened = esdk::decrypt(&key_a(), message, &opts()).unwrap();
    let h = opened.header();
    let ctx = esdk::serialize_context(&h.context).unwrap();
    let edks: usize = h
        .encrypted_data_keys
        .iter()
        .map(|e| 6 + e.provider_id.len() + e.provider_info.len() + e.ciphertext.len())
        .sum();
    1 + 2 + 32 + 2 + ctx.len() + 2 + edks + 1 + 4 + 32 + 16
}

/// Offset of the commitment.
fn commitment_offset(message: &[u8]) -> usize {
    body_offset(message) - 16 - 32
}

const REGULAR_FRAME: usize = 4 + 12 + 128 + 16;

#[test]
fn truncation_anywhere_is_refused() {
    let message = vector("framed_0478");
    for len in 0..message.len() {
        match esdk::decrypt(&key_a(), &message[..len], &opts()) {
            Err(EsdkError::Truncated) => {}
            other => panic!("truncated to {len}: {other:?}"),
        }
    }
}

#[test]
fn trailing_data_is_refused() {
    for name in ["framed_0478", "nonframed_0478", "framed_0578"] {
        let mut message = vector(name);
        message.push(0);
        assert!(
            matches!(
                esdk::decrypt(&key_a(), &message, &opts()),
                Err(EsdkError::TrailingData)
            ),
            "{name}"
        );
    }
}

#[test]
fn swapped_frames_are_refused() {
    let message = vector("framed_0478");
    let body = body_offset(&message);
    let (f1, f2) = (
        body..body + REGULAR_FRAME,
        body + REGULAR_FRAME..body + 2 * REGULAR_FRAME,
    );
    let mut swapped = message[..body].to_vec();
    swapped.extend_from_slice(&message[f2.clone()]);
    swapped.extend_from_slice(&message[f1]);
    swapped.extend_from_slice(&message[f2.end..]);
    assert!(matches!(
        esdk::decrypt(&key_a(), &swapped, &opts()),
        Err(EsdkError::Malformed(EsdkMalformed::SequenceNumber {
            expected: 1,
            found: 2
        }))
    ));
    // Renumbering the swapped frames does not help: the IV and the tag bind the number.
    let mut renumbered = swapped.clone();
    renumbered[body..body + 4].copy_from_slice(&1u32.to_be_bytes());
    renumbered[body + 4 + 8..body + 16].copy_from_slice(&1u32.to_be_bytes());
    assert!(matches!(
        esdk::decrypt(&key_a(), &renumbered, &opts()),
        Err(EsdkError::BodyAuthentication { sequence: 1 })
    ));
}

#[test]
fn dropped_frame_is_refused() {
    let message = vector("framed_0478");
    let body = body_offset(&message);
    let mut dropped = message[..body].to_vec();
    dropped.extend_from_slice(&message[body + REGULAR_FRAME..]);
    assert!(matches!(
        esdk::decrypt(&key_a(), &dropped, &opts()),
        Err(EsdkError::Malformed(EsdkMalformed::SequenceNumber {
            expected: 1,
            found: 2
        }))
    ));
}

#[test]
fn frame_from_another_message_is_refused() {
    let ctx = EncryptionContext::new();
    let o = EsdkEncryptOptions::new().with_frame_len(128);
    let a = esdk::encrypt(&key_a(), &ctx, &[1; 300], &o).unwrap();
    let b = esdk::encrypt(&key_a(), &ctx, &[1; 300], &o).unwrap();
    let body = body_offset(&a);
    let mut spliced = a.clone();
    spliced[body..body + REGULAR_FRAME].copy_from_slice(&b[body..body + REGULAR_FRAME]);
    assert!(matches!(
        esdk::decrypt(&key_a(), &spliced, &opts()),
        Err(EsdkError::BodyAuthentication { sequence: 1 })
    ));
}

#[test]
fn flipped_commitment_bit_is_refused() {
    let message = vector("framed_0478");
    let at = commitment_offset(&message);
    for bit in [0, 7] {
        let mut m = message.clone();
        m[at + 5] ^= 1 << bit;
        assert!(matches!(
            esdk::decrypt(&key_a(), &m, &opts()),
            Err(EsdkError::Commitment)
        ));
    }
}

#[test]
fn header_and_tag_edits_are_refused() {
    let message = vector("framed_0478");
    let body = body_offset(&message);
    // The frame length and the header tag.
    let mut m = message.clone();
    m[body - 16 - 32 - 1] ^= 0x80; // low byte of the frame length: 128 -> 0
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::Malformed(EsdkMalformed::FrameLength))
    ));
    let mut m = message.clone();
    m[body - 1] ^= 1;
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::HeaderAuthentication)
    ));
    // The message id changes the derived key: the commitment no longer matches.
    let mut m = message.clone();
    m[3] ^= 1;
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::Commitment)
    ));
    // Version and suite.
    let mut m = message.clone();
    m[0] = 1;
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::UnsupportedVersion(1))
    ));
    let mut m = message.clone();
    m[1..3].copy_from_slice(&0x0178u16.to_be_bytes());
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::UnsupportedSuite(0x0178))
    ));
}

#[test]
fn body_edits_are_refused() {
    let message = vector("framed_0478");
    let body = body_offset(&message);
    let mut m = message.clone();
    m[body + 20] ^= 1; // ciphertext of frame 1
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::BodyAuthentication { sequence: 1 })
    ));
    let mut m = message.clone();
    m[body + 5] ^= 1; // IV of frame 1
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::Malformed(EsdkMalformed::Iv))
    ));
    // A regular frame relabelled as the final frame.
    let mut m = message[..body].to_vec();
    m.extend_from_slice(&u32::MAX.to_be_bytes());
    m.extend_from_slice(&message[body..body + 16]);
    m.extend_from_slice(&128u32.to_be_bytes());
    m.extend_from_slice(&message[body + 16..body + REGULAR_FRAME]);
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::BodyAuthentication { sequence: 1 })
    ));
    // A final frame longer than the frame length.
    let final_at = body + 2 * REGULAR_FRAME;
    let mut m = message.clone();
    m[final_at + 20..final_at + 24].copy_from_slice(&129u32.to_be_bytes());
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::Malformed(EsdkMalformed::FinalFrameLength))
    ));
}

#[test]
fn non_framed_edits_are_refused() {
    let message = vector("nonframed_0478");
    let body = body_offset(&message);
    let mut m = message.clone();
    m[body + 12..body + 20].copy_from_slice(&(1u64 << 40).to_be_bytes());
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::LimitExceeded { .. })
    ));
    let mut m = message.clone();
    m[body + 19] ^= 1; // length 315 -> 314
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::BodyAuthentication { sequence: 1 }) | Err(EsdkError::TrailingData)
    ));
    let mut m = message.clone();
    let last = m.len() - 1;
    m[last] ^= 1;
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::BodyAuthentication { sequence: 1 })
    ));
}

#[test]
fn too_many_data_keys_is_refused_before_unwrapping() {
    let message = vector("two_keys_0478");
    assert!(matches!(
        esdk::decrypt(&key_a(), &message, &opts().with_max_encrypted_data_keys(1)),
        Err(EsdkError::LimitExceeded {
            max: 1,
            found: 2,
            ..
        })
    ));
    // A header claiming 65535 keys fails on the limit, not on memory.
    let mut m = vector("framed_0478");
    let edk_count_at = 1
        + 2
        + 32
        + 2
        + esdk::serialize_context(esdk::decrypt(&key_a(), &m, &opts()).unwrap().context())
            .unwrap()
            .len();
    m[edk_count_at..edk_count_at + 2].copy_from_slice(&u16::MAX.to_be_bytes());
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::LimitExceeded {
            max: 10,
            found: 65535,
            ..
        })
    ));
    m[edk_count_at..edk_count_at + 2].copy_from_slice(&0u16.to_be_bytes());
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::Malformed(EsdkMalformed::NoEncryptedDataKey))
    ));
}

#[test]
fn frame_length_limit_applies() {
    assert!(matches!(
        esdk::decrypt(
            &key_a(),
            &vector("framed_0478"),
            &opts().with_max_frame_len(64)
        ),
        Err(EsdkError::LimitExceeded {
            max: 64,
            found: 128,
            ..
        })
    ));
}

#[test]
fn forged_signature_is_refused() {
    let message = vector("framed_0578");
    // The last byte of the DER signature.
    let mut m = message.clone();
    let last = m.len() - 1;
    m[last] ^= 1;
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::Signature)
    ));
    // Signature of another message of the same key cannot exist; a signature of a valid
    // message over a different body: re-sign nothing, just swap the footer of two messages.
    let other = vector("two_keys_0578");
    let sig_len = |m: &[u8]| {
        // Footer = length (2) + DER; the DER starts 0x30 len.
        let n = m.len();
        (3..=106)
            .find(|l| {
                let at = n - l;
                u16::from_be_bytes([m[at], m[at + 1]]) as usize == l - 2 && m[at + 2] == 0x30
            })
            .unwrap()
    };
    let (la, lb) = (sig_len(&message), sig_len(&other));
    let mut m = message[..message.len() - la].to_vec();
    m.extend_from_slice(&other[other.len() - lb..]);
    assert!(matches!(
        esdk::decrypt(&key_a(), &m, &opts()),
        Err(EsdkError::Signature)
    ));
    // No footer at all.
    assert!(matches!(
        esdk::decrypt(&key_a(), &message[..message.len() - la], &opts()),
        Err(EsdkError::Truncated)
    ));
}

#[test]
fn coffer_written_messages_round_trip() {
    let mut ctx = EncryptionContext::new();
    ctx.insert("purpose", "round trip");
    let plaintext: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    for suite in [
        EsdkSuite::Aes256GcmHkdfSha512CommitKey,
        EsdkSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ] {
        for (len, frame) in [
            (0, 4096),
            (1, 1),
            (128, 128),
            (1000, 128),
            (1000, 4096),
            (1000, 7),
        ] {
            let o = EsdkEncryptOptions::new()
                .with_suite(suite)
                .with_frame_len(frame);
            let m = esdk::encrypt(&key_a(), &ctx, &plaintext[..len], &o).unwrap();
            let opened = esdk::decrypt(&key_a(), &m, &opts().with_max_encrypted_data_keys(1))
                .unwrap_or_else(|e| panic!("{suite:?} {len}/{frame}: {e}"));
            assert_eq!(opened.plaintext().expose(), &plaintext[..len]);
            assert_eq!(opened.context().get("purpose"), Some("round trip"));
            assert_eq!(
                opened.context().get(PUBLIC_KEY_CONTEXT_KEY).is_some(),
                suite.is_signed()
            );
        }
    }
}

#[test]
fn multi_keyring_message_opens_with_either_key() {
    let ring = MultiKeyring::new(key_a()).with_child(key_b());
    let ctx = EncryptionContext::new();
    let m = esdk::encrypt(&ring, &ctx, b"two keys", &EsdkEncryptOptions::new()).unwrap();
    for k in [&key_a() as &dyn Keyring, &key_b(), &ring] {
        assert_eq!(
            esdk::decrypt(k, &m, &opts()).unwrap().plaintext().expose(),
            b"two keys"
        );
    }
    // The encryption-side limit.
    assert!(matches!(
        esdk::encrypt(
            &ring,
            &ctx,
            b"x",
            &EsdkEncryptOptions::new().with_max_encrypted_data_keys(1)
        ),
        Err(EsdkError::LimitExceeded { .. })
    ));
}

#[test]
fn encrypt_refuses_reserved_context_and_bad_frame_length() {
    let mut ctx = EncryptionContext::new();
    ctx.insert(PUBLIC_KEY_CONTEXT_KEY, "x");
    assert!(matches!(
        esdk::encrypt(&key_a(), &ctx, b"x", &EsdkEncryptOptions::new()),
        Err(EsdkError::InvalidArgument(_))
    ));
    assert!(matches!(
        esdk::encrypt(
            &key_a(),
            &EncryptionContext::new(),
            b"x",
            &EsdkEncryptOptions::new().with_frame_len(0)
        ),
        Err(EsdkError::InvalidArgument(_))
    ));
}

// ---- Coffer-written messages for the Python ESDK (tests/clients/esdk_check.py). ----

fn pangram() -> Vec<u8> {
    b"The quick brown fox jumps over the lazy dog. ".repeat(7)
}

/// name, suite, frame length, keys, context pairs, plaintext.
#[allow(clippy::type_complexity)]
fn coffer_vector_specs() -> Vec<(
    &'static str,
    EsdkSuite,
    u32,
    &'static [&'static str],
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
)> {
    use EsdkSuite::{
        Aes256GcmHkdfSha512CommitKey as S0478, Aes256GcmHkdfSha512CommitKeyEcdsaP384 as S0578,
    };
    vec![
        (
            "coffer_framed_0478",
            S0478,
            128,
            &["key-a"],
            vec![("purpose", "coffer"), ("tenant", "t1")],
            pangram(),
        ),
        (
            "coffer_exact_0478",
            S0478,
            128,
            &["key-a"],
            vec![("purpose", "exact")],
            pangram()[..256].to_vec(),
        ),
        (
            "coffer_odd_frames_0478",
            S0478,
            7,
            &["key-a"],
            vec![("purpose", "odd frames")],
            pangram(),
        ),
        (
            "coffer_empty_0478",
            S0478,
            4096,
            &["key-a"],
            vec![],
            Vec::new(),
        ),
        (
            "coffer_two_keys_0478",
            S0478,
            4096,
            &["key-a", "key-b"],
            vec![("\u{e9}t\u{e9}", "\u{2603}"), ("purpose", "two")],
            pangram(),
        ),
        (
            "coffer_framed_0578",
            S0578,
            128,
            &["key-a"],
            vec![("purpose", "signed")],
            pangram(),
        ),
        (
            "coffer_two_keys_0578",
            S0578,
            64,
            &["key-a", "key-b"],
            vec![],
            pangram(),
        ),
        (
            "coffer_nonframed_0478",
            S0478,
            0,
            &["key-a"],
            vec![("purpose", "non-framed")],
            pangram(),
        ),
        (
            "coffer_nonframed_0578",
            S0578,
            0,
            &["key-a", "key-b"],
            vec![("purpose", "signed non-framed")],
            pangram(),
        ),
        (
            "coffer_unstored_0578",
            S0578,
            128,
            &["key-a"],
            vec![("purpose", "stored"), ("tenant", "unstored")],
            pangram(),
        ),
    ]
}

fn write_coffer_vectors(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut manifest = String::new();
    for (name, suite, frame, keys, pairs, plaintext) in coffer_vector_specs() {
        let ctx: EncryptionContext = pairs.iter().copied().collect();
        let mut ring = MultiKeyring::new(keyring(keys[0]));
        for k in &keys[1..] {
            ring = ring.with_child(keyring(k));
        }
        let mut o = EsdkEncryptOptions::new().with_suite(suite);
        o = if frame == 0 {
            o.non_framed()
        } else {
            o.with_frame_len(frame)
        };
        if name.contains("unstored") {
            o = o.with_unstored_context_keys(["tenant"]);
        }
        let message = esdk::encrypt(&ring, &ctx, &plaintext, &o).unwrap();
        std::fs::write(dir.join(format!("{name}.esdk")), &message).unwrap();
        std::fs::write(dir.join(format!("{name}.txt")), &plaintext).unwrap();
        let pairs: Vec<String> = ctx.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let pairs = if pairs.is_empty() {
            "-".to_owned()
        } else {
            pairs.join(",")
        };
        manifest.push_str(&format!(
            "{name} {:04x} {frame} {} {pairs}\n",
            suite.id(),
            keys.join("+")
        ));
    }
    std::fs::write(dir.join("coffer_manifest.txt"), manifest).unwrap();
}

/// Regenerates the committed coffer-written vectors:
/// `cargo test -p coffer-envelope --test esdk -- --ignored write_coffer_vectors`.
#[test]
#[ignore = "writes the committed vectors; run by hand"]
fn write_coffer_vectors_into_tree() {
    write_coffer_vectors(&vectors_dir());
}

#[test]
fn committed_coffer_vectors_open_here() {
    let entries = read_manifest(&vectors_dir().join("coffer_manifest.txt"));
    assert_eq!(entries.len(), coffer_vector_specs().len());
    for e in &entries {
        let message = vector(&e.name);
        let plaintext = std::fs::read(vectors_dir().join(format!("{}.txt", e.name))).unwrap();
        for key in &e.keys {
            let opened = esdk::decrypt(&keyring(key), &message, &opts_for(&e.name)).unwrap();
            assert_eq!(opened.plaintext().expose(), &plaintext[..], "{}", e.name);
            assert_eq!(opened.header().suite.id(), e.suite);
            assert_eq!(opened.header().frame_len, e.frame);
        }
    }
}

/// With the Python ESDK at hand (`COFFER_ESDK_PYTHON`, or the venv at /tmp/esdkvenv), fresh
/// coffer-written messages are opened by it through tests/clients/esdk_check.py. Without one
/// the test says so and passes: the committed vectors are the CI's path.
#[test]
fn python_esdk_opens_fresh_coffer_messages() {
    let python = std::env::var_os("COFFER_ESDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/esdkvenv/bin/python"));
    if !python.exists() {
        eprintln!("skipped: no Python ESDK at {}", python.display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("coffer-esdk-check-{}", std::process::id()));
    write_coffer_vectors(&dir);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/esdk_check.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "esdk_check.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("10 coffer-written messages opened"));
}

// ---- The AWS KMS keyring over a DataKeyProvider. ----

mod kms {
    use super::*;
    use coffer_crypto::aead;
    use coffer_envelope::esdk::{KmsKeyring, AWS_KMS_PROVIDER_ID};
    use coffer_envelope::{DataKeyProvider, EncryptedDataKey, GeneratedDataKey, ProviderError};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A toy KMS: each key id has its own wrapping key; the "ARN" is `arn:<id>`; ciphertexts
    /// are bound to the key id and the context; calls are counted.
    #[derive(Default)]
    struct ToyKms {
        decrypts: AtomicUsize,
    }

    fn wrapping_key(id: &str) -> SymmetricKey {
        let mut k = [0u8; 32];
        for (i, b) in id.bytes().enumerate() {
            k[i % 32] ^= b;
        }
        SymmetricKey::from_bytes(k)
    }

    fn aad(arn: &str, ctx: &EncryptionContext) -> Vec<u8> {
        let mut a = arn.as_bytes().to_vec();
        a.extend_from_slice(&ctx.canonical_bytes());
        a
    }

    impl DataKeyProvider for ToyKms {
        fn generate_data_key(
            &self,
            key_id: &str,
            ctx: &EncryptionContext,
        ) -> Result<GeneratedDataKey, ProviderError> {
            let data_key = SymmetricKey::from_bytes([0x5a; 32]);
            let encrypted = self.encrypt_data_key(key_id, &data_key, ctx)?;
            Ok(GeneratedDataKey {
                data_key,
                encrypted,
            })
        }
        fn encrypt_data_key(
            &self,
            key_id: &str,
            data_key: &SymmetricKey,
            ctx: &EncryptionContext,
        ) -> Result<EncryptedDataKey, ProviderError> {
            let arn = format!("arn:{}", key_id.trim_start_matches("arn:"));
            let ct = aead::seal(
                &wrapping_key(&arn),
                &aead::Nonce::from_bytes([0; 12]),
                &aad(&arn, ctx),
                data_key.expose(),
            )
            .map_err(|e| ProviderError::new("KMSInternalException", "").with_source(e))?;
            Ok(EncryptedDataKey::new(arn, ct))
        }
        fn decrypt_data_key(
            &self,
            key_id: &str,
            ct: &[u8],
            ctx: &EncryptionContext,
        ) -> Result<SymmetricKey, ProviderError> {
            self.decrypts.fetch_add(1, Ordering::SeqCst);
            let pt = aead::open(
                &wrapping_key(key_id),
                &aead::Nonce::from_bytes([0; 12]),
                &aad(key_id, ctx),
                ct,
            )
            .map_err(|e| ProviderError::new("InvalidCiphertextException", "").with_source(e))?;
            SymmetricKey::from_slice(pt.expose())
                .map_err(|e| ProviderError::new("InvalidCiphertextException", "").with_source(e))
        }
    }

    #[test]
    fn kms_keyring_writes_aws_kms_edks_and_strict_mode_filters() {
        let kms = std::sync::Arc::new(ToyKms::default());
        let mut ctx = EncryptionContext::new();
        ctx.insert("purpose", "kms");
        let ring = KmsKeyring::new(&kms, ["k1", "arn:k2"]);
        let m = esdk::encrypt(&ring, &ctx, b"through the kms", &EsdkEncryptOptions::new()).unwrap();
        let opened = esdk::decrypt(&KmsKeyring::discovery(&kms), &m, &opts()).unwrap();
        assert_eq!(opened.plaintext().expose(), b"through the kms");
        let edks = &opened.header().encrypted_data_keys;
        assert_eq!(edks.len(), 2);
        for (edk, arn) in edks.iter().zip(["arn:k1", "arn:k2"]) {
            assert_eq!(edk.provider_id, AWS_KMS_PROVIDER_ID);
            assert_eq!(edk.provider_info, arn.as_bytes());
        }
        // Strict mode: only the named ARN is attempted (one Decrypt call, on the second key).
        let before = kms.decrypts.load(Ordering::SeqCst);
        let only_k2 = KmsKeyring::new(&kms, ["arn:k2"]);
        esdk::decrypt(&only_k2, &m, &opts()).unwrap();
        assert_eq!(kms.decrypts.load(Ordering::SeqCst) - before, 1);
        // A key the message was not encrypted under attempts nothing.
        assert!(matches!(
            esdk::decrypt(&KmsKeyring::new(&kms, ["arn:k3"]), &m, &opts()),
            Err(EsdkError::NoDecryptableDataKey { attempted: 0, .. })
        ));
        // A discovery keyring cannot encrypt.
        assert!(matches!(
            esdk::encrypt(
                &KmsKeyring::discovery(&kms),
                &ctx,
                b"x",
                &EsdkEncryptOptions::new()
            ),
            Err(EsdkError::InvalidArgument(_))
        ));
        // KMS and raw AES keyrings mix in one message.
        let mixed = MultiKeyring::new(KmsKeyring::new(kms.clone(), ["k1"])).with_child(key_a());
        let m = esdk::encrypt(&mixed, &ctx, b"mixed", &EsdkEncryptOptions::new()).unwrap();
        assert_eq!(
            esdk::decrypt(&key_a(), &m, &opts())
                .unwrap()
                .plaintext()
                .expose(),
            b"mixed"
        );
        assert_eq!(
            esdk::decrypt(&KmsKeyring::discovery(&kms), &m, &opts())
                .unwrap()
                .plaintext()
                .expose(),
            b"mixed"
        );
    }
}

#[test]
fn unstored_context_must_be_supplied_exactly() {
    for name in ["unstored_0478", "unstored_0578", "coffer_unstored_0578"] {
        let message = vector(name);
        // Without the pair the keyring's context differs: the data key does not open.
        assert!(
            matches!(
                esdk::decrypt(&key_a(), &message, &opts()),
                Err(EsdkError::NoDecryptableDataKey { attempted: 1, .. })
            ),
            "{name}"
        );
        // A wrong value likewise.
        let wrong = opts().with_unstored_context([("tenant", "other")].into_iter().collect());
        assert!(matches!(
            esdk::decrypt(&key_a(), &message, &wrong),
            Err(EsdkError::NoDecryptableDataKey { .. })
        ));
        // A pair that is stored cannot be supplied again.
        let dup = opts().with_unstored_context(
            [("tenant", "unstored"), ("purpose", "stored")]
                .into_iter()
                .collect(),
        );
        assert!(matches!(
            esdk::decrypt(&key_a(), &message, &dup),
            Err(EsdkError::ContextMismatch)
        ));
        let opened = esdk::decrypt(&key_a(), &message, &opts_for(name)).unwrap();
        assert_eq!(opened.context().get("tenant"), Some("unstored"));
        assert_eq!(opened.header().context.get("tenant"), None);
    }
}

#[test]
fn unstored_keys_must_be_in_the_context() {
    assert!(matches!(
        esdk::encrypt(
            &key_a(),
            &EncryptionContext::new(),
            b"x",
            &EsdkEncryptOptions::new().with_unstored_context_keys(["tenant"])
        ),
        Err(EsdkError::InvalidArgument(_))
    ));
}
