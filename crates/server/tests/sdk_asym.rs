//! cofferd's asymmetric operations driven by the official AWS SDK for Rust (`aws-sdk-kms`)
//! against the real binary, every output checked by an implementation that shares no code with
//! coffer's AWS-LC: RustCrypto (`p256`, `p384`, `p521`, `k256`, `ed25519-dalek`, `ml-dsa`,
//! `ml-kem`) and RFC 8017 written out here over `num-bigint` for RSA (PSS and PKCS #1 v1.5
//! verification, OAEP encryption; the `rsa` crate is banned in deny.toml) and for Ed25519ph
//! (RFC 8032 over `curve25519-dalek`'s arithmetic: coffer signs Ed25519ph with `ed25519-dalek`).
//! cofferd runs with quotas off, so that no call depends on timing.
//!
//! Covered: CreateKey for every asymmetric key spec and usage, DescribeKey and GetPublicKey
//! metadata, Sign / Verify (RAW and DIGEST), DeriveSharedSecret, Encapsulate / Decapsulate,
//! RSA-OAEP Encrypt / Decrypt, GenerateDataKeyPair(+WithoutPlaintext), GetKeyLastUsage, and the
//! error codes KMSInvalidSignatureException, InvalidKeyUsageException, ValidationException,
//! InvalidCiphertextException and UnsupportedOperationException.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::process::Stdio;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, EncapsulationAlgorithmSpec, EncryptionAlgorithmSpec,
    KeyAgreementAlgorithmSpec, KeyMetadata, KeySpec, KeyUsageType, MessageType,
    SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;
use num_bigint::BigUint;
use sha2::Digest as _;

mod common;

use common::sdk_code as code;
use common::{Admin, TempDir};

// ---------------------------------------------------------------------------------------------
// Harness: cofferd with quotas off (the test makes more keys and key pairs a second than AWS's
// default rates allow, and must not depend on timing)
// ---------------------------------------------------------------------------------------------

struct Cofferd {
    _server: common::Server,
    kms: Client,
    _dir: TempDir,
}

fn start(name: &str) -> Cofferd {
    let dir = TempDir::new(name);
    let cfg = dir.path().join("cofferd.toml");
    std::fs::write(&cfg, "[quotas]\nenabled = false\n").unwrap();
    // cofferd refuses a configuration file that others may read.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let data = dir.path().join("data");
    let mut cmd = common::Server::command(&[
        "--config",
        cfg.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--region",
        "eu-west-1",
    ]);
    cmd.arg("--data-dir").arg(&data).stderr(Stdio::null());
    let server = common::Server::spawn(cmd);
    let kms = client(&server.addr, &Admin::of(&data));
    Cofferd {
        _server: server,
        kms,
        _dir: dir,
    }
}

fn client(addr: &str, a: &Admin) -> Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(a.region.clone()))
        .credentials_provider(Credentials::new(
            &a.access_key_id,
            &a.secret,
            None,
            None,
            "test",
        ))
        .endpoint_url(format!("http://{addr}"))
        .http_client(aws_smithy_http_client::Builder::new().build_http());
    Client::from_conf(conf.build())
}

async fn create(kms: &Client, spec: KeySpec, usage: KeyUsageType) -> KeyMetadata {
    let md = kms
        .create_key()
        .key_spec(spec.clone())
        .key_usage(usage.clone())
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(md.key_spec(), Some(&spec));
    assert_eq!(md.key_usage(), Some(&usage));
    // DescribeKey says the same.
    let described = kms
        .describe_key()
        .key_id(md.key_id())
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(described.key_spec(), md.key_spec());
    assert_eq!(described.key_usage(), md.key_usage());
    assert_eq!(described.signing_algorithms(), md.signing_algorithms());
    assert_eq!(
        described.encryption_algorithms(),
        md.encryption_algorithms()
    );
    assert_eq!(
        described.key_agreement_algorithms(),
        md.key_agreement_algorithms()
    );
    assert_eq!(
        described.encapsulation_algorithms(),
        md.encapsulation_algorithms()
    );
    described
}

/// GetPublicKey: the DER SPKI, after checking the response's metadata against the key's.
async fn public_key(kms: &Client, md: &KeyMetadata) -> Vec<u8> {
    let p = kms
        .get_public_key()
        .key_id(md.key_id())
        .send()
        .await
        .unwrap();
    assert_eq!(p.key_id(), md.arn());
    assert_eq!(p.key_spec(), md.key_spec());
    assert_eq!(p.key_usage(), md.key_usage());
    assert_eq!(p.signing_algorithms(), md.signing_algorithms());
    assert_eq!(p.encryption_algorithms(), md.encryption_algorithms());
    assert_eq!(p.key_agreement_algorithms(), md.key_agreement_algorithms());
    assert_eq!(p.encapsulation_algorithms(), md.encapsulation_algorithms());
    p.public_key().unwrap().as_ref().to_vec()
}

// ---------------------------------------------------------------------------------------------
// DER and hashes
// ---------------------------------------------------------------------------------------------

fn der(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let first = input[1];
    let (len, at) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        let len = input[2..2 + n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, 2 + n)
    };
    (tag, &input[at..at + len], &input[at + len..])
}

/// (algorithm OID, raw key) of a SubjectPublicKeyInfo.
fn spki_parts(spki: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (tag, body, rest) = der(spki);
    assert!(tag == 0x30 && rest.is_empty());
    let (_, alg, after) = der(body);
    let (tag, oid, _) = der(alg);
    assert_eq!(tag, 0x06);
    let (tag, bits, _) = der(after);
    assert!(tag == 0x03 && bits[0] == 0);
    (oid.to_vec(), bits[1..].to_vec())
}

/// The privateKey OCTET STRING's contents of a PKCS #8 PrivateKeyInfo, and its algorithm OID.
fn pkcs8_parts(pkcs8: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (tag, body, rest) = der(pkcs8);
    assert!(tag == 0x30 && rest.is_empty());
    let (_, _version, rest) = der(body);
    let (_, alg, rest) = der(rest);
    let (_, oid, _) = der(alg);
    let (tag, key, _) = der(rest);
    assert_eq!(tag, 0x04);
    (oid.to_vec(), key.to_vec())
}

fn nist_oid(family: u8, last: u8) -> Vec<u8> {
    vec![0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, family, last]
}

#[derive(Clone, Copy, Debug)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            // SHA-1 only for OAEP's label hash and MGF1, from its published constants.
            Self::Sha1 => sha1(data),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn len(self) -> usize {
        self.digest(b"").len()
    }
}

/// SHA-1 (FIPS 180-4), for RSAES_OAEP_SHA_1 only.
fn sha1(data: &[u8]) -> Vec<u8> {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend(bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap());
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let i = at % out.len();
    out[i] ^= 0x01;
    out
}

/// Deterministic test bytes (a SHA-256 counter stream).
fn test_bytes(label: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0u32;
    while out.len() < n {
        let mut h = sha2::Sha256::new();
        h.update(label.as_bytes());
        h.update(i.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(n);
    out
}

// ---------------------------------------------------------------------------------------------
// RSA by hand (RFC 8017)
// ---------------------------------------------------------------------------------------------

struct RsaPublic {
    n: BigUint,
    e: BigUint,
    k: usize,
}

const OID_RSA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn rsa_public(spki: &[u8]) -> RsaPublic {
    let (oid, key) = spki_parts(spki);
    assert_eq!(oid, OID_RSA);
    let (_, body, _) = der(&key);
    let (_, n, rest) = der(body);
    let (_, e, _) = der(rest);
    let n = BigUint::from_bytes_be(n);
    let k = usize::try_from(n.bits().div_ceil(8)).unwrap();
    RsaPublic {
        n,
        e: BigUint::from_bytes_be(e),
        k,
    }
}

fn i2osp(x: &BigUint, len: usize) -> Option<Vec<u8>> {
    let bytes = x.to_bytes_be();
    if bytes.len() > len {
        return None;
    }
    let mut out = vec![0u8; len - bytes.len()];
    out.extend(bytes);
    Some(out)
}

fn rsa_public_op(key: &RsaPublic, s: &[u8]) -> Option<Vec<u8>> {
    if s.len() != key.k {
        return None;
    }
    let s = BigUint::from_bytes_be(s);
    if s >= key.n {
        return None;
    }
    i2osp(&s.modpow(&key.e, &key.n), key.k)
}

fn mgf1(h: Hash, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut counter = 0u32;
    while out.len() < len {
        let mut input = seed.to_vec();
        input.extend(counter.to_be_bytes());
        out.extend(h.digest(&input));
        counter += 1;
    }
    out.truncate(len);
    out
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

fn pkcs1_verify(key: &RsaPublic, h: Hash, digest: &[u8], sig: &[u8]) -> bool {
    let oid_last = match h {
        Hash::Sha256 => 1,
        Hash::Sha384 => 2,
        Hash::Sha512 => 3,
        Hash::Sha1 => unreachable!(),
    };
    let hl = u8::try_from(h.len()).unwrap();
    let mut t = vec![0x30, 13 + 4 + hl, 0x30, 0x0d, 0x06, 0x09];
    t.extend(nist_oid(2, oid_last));
    t.extend([0x05, 0x00, 0x04, hl]);
    t.extend_from_slice(digest);
    let Some(em) = rsa_public_op(key, sig) else {
        return false;
    };
    let mut expected = vec![0x00, 0x01];
    expected.extend(std::iter::repeat_n(0xff, key.k - t.len() - 3));
    expected.push(0x00);
    expected.extend(t);
    em == expected
}

/// EMSA-PSS-VERIFY with MGF1 of the same hash and a salt as long as the hash (AWS KMS's PSS).
fn pss_verify(key: &RsaPublic, h: Hash, m_hash: &[u8], sig: &[u8]) -> bool {
    let Some(full) = rsa_public_op(key, sig) else {
        return false;
    };
    let em_bits = usize::try_from(key.n.bits()).unwrap() - 1;
    let em_len = em_bits.div_ceil(8);
    let (high, em) = full.split_at(full.len() - em_len);
    let (h_len, s_len) = (h.len(), h.len());
    if high.iter().any(|b| *b != 0) || em[em_len - 1] != 0xbc {
        return false;
    }
    let masked_db = &em[..em_len - h_len - 1];
    let hh = &em[em_len - h_len - 1..em_len - 1];
    let top_bits = 8 * em_len - em_bits;
    let top_mask = if top_bits == 0 {
        0
    } else {
        0xffu8 << (8 - top_bits)
    };
    if masked_db[0] & top_mask != 0 {
        return false;
    }
    let mut db = xor(masked_db, &mgf1(h, hh, em_len - h_len - 1));
    db[0] &= !top_mask;
    let ps_len = em_len - h_len - s_len - 2;
    if db[..ps_len].iter().any(|b| *b != 0) || db[ps_len] != 0x01 {
        return false;
    }
    let mut m_prime = vec![0u8; 8];
    m_prime.extend_from_slice(m_hash);
    m_prime.extend_from_slice(&db[db.len() - s_len..]);
    h.digest(&m_prime) == hh
}

fn oaep_encrypt(key: &RsaPublic, h: Hash, msg: &[u8], seed: &[u8]) -> Vec<u8> {
    let h_len = h.len();
    let mut db = h.digest(b"");
    db.extend(std::iter::repeat_n(0u8, key.k - msg.len() - 2 * h_len - 2));
    db.push(0x01);
    db.extend_from_slice(msg);
    let masked_db = xor(&db, &mgf1(h, seed, key.k - h_len - 1));
    let masked_seed = xor(seed, &mgf1(h, &masked_db, h_len));
    let mut em = vec![0x00];
    em.extend(masked_seed);
    em.extend(masked_db);
    i2osp(&BigUint::from_bytes_be(&em).modpow(&key.e, &key.n), key.k).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Independent signature verification
// ---------------------------------------------------------------------------------------------

fn signing_hash(alg: &SigningAlgorithmSpec) -> Option<Hash> {
    use SigningAlgorithmSpec as S;
    Some(match alg {
        S::RsassaPssSha256 | S::RsassaPkcs1V15Sha256 | S::EcdsaSha256 => Hash::Sha256,
        S::RsassaPssSha384 | S::RsassaPkcs1V15Sha384 | S::EcdsaSha384 => Hash::Sha384,
        S::RsassaPssSha512 | S::RsassaPkcs1V15Sha512 | S::EcdsaSha512 => Hash::Sha512,
        _ => return None,
    })
}

macro_rules! ecdsa_verify {
    ($krate:ident, $spki:expr, $msg:expr, $digest:expr, $sig:expr, $normalize:expr) => {{
        use $krate::ecdsa::signature::hazmat::PrehashVerifier as _;
        use $krate::ecdsa::signature::Verifier as _;
        use $krate::pkcs8::DecodePublicKey as _;
        let vk = $krate::ecdsa::VerifyingKey::from_public_key_der($spki).unwrap();
        match $krate::ecdsa::Signature::from_der($sig) {
            Ok(s) => {
                let s = if $normalize { s.normalize_s() } else { s };
                let raw = match $msg {
                    Some(m) => vk.verify(m, &s).is_ok(),
                    None => true,
                };
                raw && vk.verify_prehash($digest, &s).is_ok()
            }
            Err(_) => false,
        }
    }};
}

/// Whether `sig` verifies, by an implementation other than coffer's, as a signature by the key
/// `spki` of `spec` with `alg` over `msg` (RAW) or over the digest `msg` (DIGEST).
fn independently_valid(
    spec: &KeySpec,
    spki: &[u8],
    alg: &SigningAlgorithmSpec,
    digest_given: bool,
    msg: &[u8],
    sig: &[u8],
) -> bool {
    let h = signing_hash(alg);
    let digest = match (h, digest_given) {
        (Some(_), true) => msg.to_vec(),
        (Some(h), false) => h.digest(msg),
        (None, _) => Vec::new(),
    };
    let raw = (!digest_given).then_some(msg);
    use SigningAlgorithmSpec as S;
    match spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let key = rsa_public(spki);
            match alg {
                S::RsassaPssSha256 | S::RsassaPssSha384 | S::RsassaPssSha512 => {
                    pss_verify(&key, h.unwrap(), &digest, sig)
                }
                _ => pkcs1_verify(&key, h.unwrap(), &digest, sig),
            }
        }
        KeySpec::EccNistP256 => ecdsa_verify!(p256, spki, raw, &digest, sig, false),
        KeySpec::EccNistP384 => ecdsa_verify!(p384, spki, raw, &digest, sig, false),
        KeySpec::EccNistP521 => ecdsa_verify!(p521, spki, raw, &digest, sig, false),
        // k256 refuses a high s (Bitcoin's rule); ECDSA itself and AWS KMS do not.
        KeySpec::EccSecgP256K1 => ecdsa_verify!(k256, spki, raw, &digest, sig, true),
        KeySpec::EccNistEdwards25519 => {
            use ed25519_dalek::pkcs8::DecodePublicKey as _;
            let vk = ed25519_dalek::VerifyingKey::from_public_key_der(spki).unwrap();
            ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| vk.verify_strict(msg, &s).is_ok())
        }
        KeySpec::MlDsa44 => ml_dsa_valid::<ml_dsa::MlDsa44>(spki, msg, sig),
        KeySpec::MlDsa65 => ml_dsa_valid::<ml_dsa::MlDsa65>(spki, msg, sig),
        KeySpec::MlDsa87 => ml_dsa_valid::<ml_dsa::MlDsa87>(spki, msg, sig),
        other => panic!("no independent verifier for {other:?}"),
    }
}

fn ml_dsa_valid<P: ml_dsa::MlDsaParams>(spki: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let (_, raw) = spki_parts(spki);
    let enc = ml_dsa::EncodedVerifyingKey::<P>::try_from(&raw[..]).unwrap();
    let vk = ml_dsa::VerifyingKey::<P>::decode(&enc);
    ml_dsa::Signature::<P>::try_from(sig).is_ok_and(|s| vk.verify_with_context(msg, b"", &s))
}

/// RFC 8032 Ed25519ph verification written out over the curve arithmetic (curve25519-dalek),
/// independent of ed25519-dalek, which coffer signs Ed25519ph with: `ph` is PH(M), the message's
/// SHA-512; the context is empty. Checks [S]B = R + [k]A with k = SHA-512(dom2(1, "") ‖ R ‖ A ‖
/// PH(M)), S canonical and A, R valid encodings.
fn ed25519ph_valid_by_hand(public: &[u8; 32], ph: &[u8], sig: &[u8]) -> bool {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    if sig.len() != 64 || ph.len() != 64 {
        return false;
    }
    let Some(a) = CompressedEdwardsY(*public).decompress() else {
        return false;
    };
    let r_bytes: [u8; 32] = sig[..32].try_into().unwrap();
    if CompressedEdwardsY(r_bytes).decompress().is_none() {
        return false;
    }
    let Some(s) =
        Option::<Scalar>::from(Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()))
    else {
        return false;
    };
    let mut h = sha2::Sha512::new();
    h.update(b"SigEd25519 no Ed25519 collisions");
    h.update([1u8, 0u8]);
    h.update(r_bytes);
    h.update(public);
    h.update(ph);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    // [S]B - [k]A must be R.
    let r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s);
    r.compress().to_bytes() == r_bytes
}

// ---------------------------------------------------------------------------------------------
// Sign and Verify
// ---------------------------------------------------------------------------------------------

async fn sign(
    kms: &Client,
    key_id: &str,
    alg: &SigningAlgorithmSpec,
    mt: MessageType,
    msg: &[u8],
) -> Result<
    aws_sdk_kms::operation::sign::SignOutput,
    aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::sign::SignError>,
> {
    kms.sign()
        .key_id(key_id)
        .signing_algorithm(alg.clone())
        .message_type(mt)
        .message(Blob::new(msg.to_vec()))
        .send()
        .await
}

async fn verify(
    kms: &Client,
    key_id: &str,
    alg: &SigningAlgorithmSpec,
    mt: MessageType,
    msg: &[u8],
    sig: &[u8],
) -> Result<
    aws_sdk_kms::operation::verify::VerifyOutput,
    aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::verify::VerifyError>,
> {
    kms.verify()
        .key_id(key_id)
        .signing_algorithm(alg.clone())
        .message_type(mt)
        .message(Blob::new(msg.to_vec()))
        .signature(Blob::new(sig.to_vec()))
        .send()
        .await
}

/// The signing key specs, their SPKI algorithm OID and signing algorithms (AWS's lists).
fn signing_specs() -> Vec<(KeySpec, Vec<u8>, Vec<SigningAlgorithmSpec>)> {
    use SigningAlgorithmSpec as S;
    let rsa = vec![
        S::RsassaPkcs1V15Sha256,
        S::RsassaPkcs1V15Sha384,
        S::RsassaPkcs1V15Sha512,
        S::RsassaPssSha256,
        S::RsassaPssSha384,
        S::RsassaPssSha512,
    ];
    let ec = vec![0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    vec![
        (KeySpec::Rsa2048, OID_RSA.to_vec(), rsa.clone()),
        (KeySpec::Rsa3072, OID_RSA.to_vec(), rsa.clone()),
        (KeySpec::Rsa4096, OID_RSA.to_vec(), rsa),
        (KeySpec::EccNistP256, ec.clone(), vec![S::EcdsaSha256]),
        (KeySpec::EccNistP384, ec.clone(), vec![S::EcdsaSha384]),
        (KeySpec::EccNistP521, ec.clone(), vec![S::EcdsaSha512]),
        (KeySpec::EccSecgP256K1, ec, vec![S::EcdsaSha256]),
        (
            KeySpec::EccNistEdwards25519,
            vec![0x2b, 0x65, 0x70],
            vec![S::Ed25519Sha512, S::Ed25519PhSha512],
        ),
        (KeySpec::MlDsa44, nist_oid(3, 17), vec![S::MlDsaShake256]),
        (KeySpec::MlDsa65, nist_oid(3, 18), vec![S::MlDsaShake256]),
        (KeySpec::MlDsa87, nist_oid(3, 19), vec![S::MlDsaShake256]),
    ]
}

#[tokio::test]
async fn sdk_signs_and_verifies_with_every_signing_key_spec() {
    let srv = start("sdk-asym-sign");
    let kms = &srv.kms;
    let mut independently_checked = 0;
    for (spec, oid, algs) in signing_specs() {
        let md = create(kms, spec.clone(), KeyUsageType::SignVerify).await;
        assert_eq!(md.signing_algorithms(), &algs[..], "{spec:?}");
        assert!(md.encryption_algorithms().is_empty(), "{spec:?}");
        assert!(md.key_agreement_algorithms().is_empty(), "{spec:?}");
        assert!(md.encapsulation_algorithms().is_empty(), "{spec:?}");
        let spki = public_key(kms, &md).await;
        assert_eq!(spki_parts(&spki).0, oid, "{spec:?}");
        let arn = md.arn().unwrap();
        let key_id = md.key_id();

        for alg in &algs {
            if *alg == SigningAlgorithmSpec::Ed25519PhSha512 {
                // DIGEST only, 64 bytes, and (AWS: "hashed twice: once by you and once by
                // KMS") the digest D is Ed25519ph's message: PH = SHA-512(D).
                let public: [u8; 32] = spki_parts(&spki).1.try_into().unwrap();
                let d = Hash::Sha512.digest(b"signed by cofferd, prehashed");
                let out = sign(kms, key_id, alg, MessageType::Digest, &d)
                    .await
                    .unwrap();
                assert_eq!(out.signing_algorithm(), Some(alg));
                let sig = out.signature().unwrap().as_ref().to_vec();
                let ph = Hash::Sha512.digest(&d);
                assert!(ed25519ph_valid_by_hand(&public, &ph, &sig));
                assert!(!ed25519ph_valid_by_hand(&public, &d, &sig));
                assert!(!ed25519ph_valid_by_hand(&public, &ph, &flip(&sig, 40)));
                independently_checked += 1;
                let v = verify(kms, key_id, alg, MessageType::Digest, &d, &sig)
                    .await
                    .unwrap();
                assert!(v.signature_valid());
                let e = verify(kms, key_id, alg, MessageType::Digest, &d, &flip(&sig, 40)).await;
                assert_eq!(code(e), "KMSInvalidSignatureException");
                let e = sign(kms, key_id, alg, MessageType::Raw, &d).await;
                assert_eq!(code(e), "ValidationException");
                let e = sign(kms, key_id, alg, MessageType::Digest, &d[..32]).await;
                assert_eq!(code(e), "ValidationException");
                continue;
            }
            let mut cases = vec![
                (MessageType::Raw, b"signed by cofferd".to_vec()),
                (MessageType::Raw, test_bytes("long", 4096)),
            ];
            if let Some(h) = signing_hash(alg) {
                cases.push((MessageType::Digest, h.digest(b"signed by cofferd")));
                // A digest of the wrong length: ValidationException.
                let short = vec![7u8; h.len() - 1];
                let e = sign(kms, key_id, alg, MessageType::Digest, &short).await;
                assert_eq!(code(e), "ValidationException", "{spec:?} {alg:?}");
                let e = verify(kms, key_id, alg, MessageType::Digest, &short, &[1; 8]).await;
                assert_eq!(code(e), "ValidationException", "{spec:?} {alg:?}");
            } else {
                // Ed25519 and ML-DSA sign messages, not digests.
                let e = sign(kms, key_id, alg, MessageType::Digest, &[0; 64]).await;
                assert_eq!(code(e), "ValidationException", "{spec:?} {alg:?}");
            }
            for (mt, msg) in cases {
                let digest_given = mt == MessageType::Digest;
                let out = sign(kms, key_id, alg, mt.clone(), &msg).await.unwrap();
                assert_eq!(out.key_id(), Some(arn));
                assert_eq!(out.signing_algorithm(), Some(alg));
                let sig = out.signature().unwrap().as_ref().to_vec();
                // Checked by another implementation, which also refuses a changed signature.
                assert!(
                    independently_valid(&spec, &spki, alg, digest_given, &msg, &sig),
                    "{spec:?} {alg:?} {mt:?}"
                );
                assert!(
                    !independently_valid(&spec, &spki, alg, digest_given, &msg, &flip(&sig, 10)),
                    "{spec:?} {alg:?} {mt:?}"
                );
                independently_checked += 1;
                // cofferd verifies its own signature…
                let v = verify(kms, key_id, alg, mt.clone(), &msg, &sig)
                    .await
                    .unwrap();
                assert!(v.signature_valid());
                assert_eq!(v.key_id(), Some(arn));
                assert_eq!(v.signing_algorithm(), Some(alg));
                // …and refuses a changed one, or one over another message.
                let e = verify(kms, key_id, alg, mt.clone(), &msg, &flip(&sig, 10)).await;
                assert_eq!(code(e), "KMSInvalidSignatureException", "{spec:?} {alg:?}");
                let e = verify(kms, key_id, alg, mt.clone(), &flip(&msg, 0), &sig).await;
                assert_eq!(code(e), "KMSInvalidSignatureException", "{spec:?} {alg:?}");
            }
        }
        // An algorithm of another key spec: InvalidKeyUsageException.
        let foreign = if algs.contains(&SigningAlgorithmSpec::EcdsaSha384) {
            SigningAlgorithmSpec::EcdsaSha256
        } else {
            SigningAlgorithmSpec::EcdsaSha384
        };
        let e = sign(kms, key_id, &foreign, MessageType::Raw, b"x").await;
        assert_eq!(code(e), "InvalidKeyUsageException", "{spec:?}");
        // A signing key does not encrypt, agree or encapsulate.
        let e = kms
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await;
        assert_eq!(code(e), "InvalidKeyUsageException", "{spec:?}");
        let e = kms
            .encapsulate()
            .key_id(key_id)
            .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
            .send()
            .await;
        assert_eq!(code(e), "InvalidKeyUsageException", "{spec:?}");
    }
    // 3 RSA keys × 6 algorithms × 3 cases, 4 ECDSA × 3, Ed25519 × 2 + Ed25519ph, 3 ML-DSA × 2.
    assert_eq!(independently_checked, 3 * 6 * 3 + 4 * 3 + 2 + 1 + 3 * 2);

    // A message over 4096 bytes, no algorithm: ValidationException.
    let md = create(kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let e = sign(
        kms,
        md.key_id(),
        &SigningAlgorithmSpec::EcdsaSha256,
        MessageType::Raw,
        &[0; 4097],
    )
    .await;
    assert_eq!(code(e), "ValidationException");
    let e = kms
        .sign()
        .key_id(md.key_id())
        .message(Blob::new(b"x".to_vec()))
        .send()
        .await;
    assert_eq!(code(e), "ValidationException");
    // ML-DSA's EXTERNAL_MU is not implemented.
    let md = create(kms, KeySpec::MlDsa44, KeyUsageType::SignVerify).await;
    let e = sign(
        kms,
        md.key_id(),
        &SigningAlgorithmSpec::MlDsaShake256,
        MessageType::ExternalMu,
        &[0; 64],
    )
    .await;
    assert_eq!(code(e), "UnsupportedOperationException");
    // A symmetric key does not sign.
    let sym = create(kms, KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt).await;
    let e = sign(
        kms,
        sym.key_id(),
        &SigningAlgorithmSpec::EcdsaSha256,
        MessageType::Raw,
        b"x",
    )
    .await;
    assert_eq!(code(e), "InvalidKeyUsageException");
}

#[tokio::test]
async fn sdk_signatures_made_elsewhere_verify_in_cofferd_only_for_their_key() {
    // cofferd's Verify refuses a valid signature by another key of the same spec, and a
    // signature made with another algorithm of the same key.
    let srv = start("sdk-asym-verify");
    let kms = &srv.kms;
    let a = create(kms, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let b = create(kms, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let pss = SigningAlgorithmSpec::RsassaPssSha256;
    let pkcs1 = SigningAlgorithmSpec::RsassaPkcs1V15Sha256;
    let sig = sign(kms, a.key_id(), &pss, MessageType::Raw, b"m")
        .await
        .unwrap()
        .signature
        .unwrap()
        .into_inner();
    let e = verify(kms, b.key_id(), &pss, MessageType::Raw, b"m", &sig).await;
    assert_eq!(code(e), "KMSInvalidSignatureException");
    let e = verify(kms, a.key_id(), &pkcs1, MessageType::Raw, b"m", &sig).await;
    assert_eq!(code(e), "KMSInvalidSignatureException");
    assert!(verify(kms, a.key_id(), &pss, MessageType::Raw, b"m", &sig)
        .await
        .unwrap()
        .signature_valid());

    // An Ed25519 signature made by ed25519-dalek does not verify under a cofferd key (the
    // Verify operation uses the KMS key's public key, not one the caller brings).
    use ed25519_dalek::Signer as _;
    let ed = create(kms, KeySpec::EccNistEdwards25519, KeyUsageType::SignVerify).await;
    let sk = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let foreign = sk.sign(b"m").to_bytes();
    let e = verify(
        kms,
        ed.key_id(),
        &SigningAlgorithmSpec::Ed25519Sha512,
        MessageType::Raw,
        b"m",
        &foreign,
    )
    .await;
    assert_eq!(code(e), "KMSInvalidSignatureException");
}

// ---------------------------------------------------------------------------------------------
// DeriveSharedSecret
// ---------------------------------------------------------------------------------------------

async fn derive(
    kms: &Client,
    key_id: &str,
    peer: &[u8],
) -> Result<
    aws_sdk_kms::operation::derive_shared_secret::DeriveSharedSecretOutput,
    aws_sdk_kms::error::SdkError<
        aws_sdk_kms::operation::derive_shared_secret::DeriveSharedSecretError,
    >,
> {
    kms.derive_shared_secret()
        .key_id(key_id)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peer.to_vec()))
        .send()
        .await
}

/// A peer key of the curve made here from fixed bytes: (its SPKI, the ECDH secret it computes
/// with the KMS key's public key `kms_spki`).
macro_rules! peer_agreement {
    ($krate:ident, $label:expr, $kms_spki:expr) => {{
        use $krate::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
        let mut bytes = $krate::FieldBytes::default();
        let n = bytes.len();
        bytes[n - 32..].copy_from_slice(&test_bytes($label, 32));
        let peer = $krate::SecretKey::from_bytes(&bytes).unwrap();
        let spki = peer.public_key().to_public_key_der().unwrap();
        let theirs = $krate::PublicKey::from_public_key_der($kms_spki).unwrap();
        let secret = $krate::ecdh::diffie_hellman(peer.to_nonzero_scalar(), theirs.as_affine());
        (spki.as_bytes().to_vec(), secret.raw_secret_bytes().to_vec())
    }};
}

#[tokio::test]
async fn sdk_derives_shared_secrets_that_rustcrypto_agrees_with() {
    let srv = start("sdk-asym-ecdh");
    let kms = &srv.kms;
    let mut spkis = Vec::new();
    for (spec, len) in [
        (KeySpec::EccNistP256, 32),
        (KeySpec::EccNistP384, 48),
        (KeySpec::EccNistP521, 66),
    ] {
        let md = create(kms, spec.clone(), KeyUsageType::KeyAgreement).await;
        assert_eq!(
            md.key_agreement_algorithms(),
            [KeyAgreementAlgorithmSpec::Ecdh]
        );
        assert!(md.signing_algorithms().is_empty());
        assert!(md.encryption_algorithms().is_empty());
        let spki = public_key(kms, &md).await;
        for i in 0..2 {
            let label = format!("peer {spec:?} {i}");
            let (peer, expected) = match spec {
                KeySpec::EccNistP256 => peer_agreement!(p256, &label, &spki),
                KeySpec::EccNistP384 => peer_agreement!(p384, &label, &spki),
                _ => peer_agreement!(p521, &label, &spki),
            };
            let out = derive(kms, md.key_id(), &peer).await.unwrap();
            let secret = out.shared_secret().unwrap().as_ref();
            assert_eq!(secret.len(), len);
            assert_eq!(secret, &expected[..], "{spec:?}");
            assert_eq!(out.key_id(), md.arn());
            assert_eq!(
                out.key_agreement_algorithm(),
                Some(&KeyAgreementAlgorithmSpec::Ecdh)
            );
            assert_eq!(
                out.key_origin(),
                Some(&aws_sdk_kms::types::OriginType::AwsKms)
            );
        }
        // A bare point instead of an SPKI: ValidationException.
        let (_, bare) = spki_parts(&spki);
        assert_eq!(
            code(derive(kms, md.key_id(), &bare).await),
            "ValidationException"
        );
        spkis.push((md, spki));
    }
    // Two cofferd keys of one curve agree with each other.
    let other = create(kms, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let other_spki = public_key(kms, &other).await;
    let (p256_key, p256_spki) = &spkis[0];
    let ab = derive(kms, p256_key.key_id(), &other_spki).await.unwrap();
    let ba = derive(kms, other.key_id(), p256_spki).await.unwrap();
    assert_eq!(ab.shared_secret(), ba.shared_secret());
    // A peer on another curve: ValidationException.
    let (_, p384_spki) = &spkis[1];
    assert_eq!(
        code(derive(kms, p256_key.key_id(), p384_spki).await),
        "ValidationException"
    );
    // ECDH with a signing key, signing with an agreement key: InvalidKeyUsageException.
    let signer = create(kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    assert_eq!(
        code(derive(kms, signer.key_id(), &other_spki).await),
        "InvalidKeyUsageException"
    );
    let e = sign(
        kms,
        p256_key.key_id(),
        &SigningAlgorithmSpec::EcdsaSha256,
        MessageType::Raw,
        b"x",
    )
    .await;
    assert_eq!(code(e), "InvalidKeyUsageException");
    // No algorithm: ValidationException.
    let e = kms
        .derive_shared_secret()
        .key_id(p256_key.key_id())
        .public_key(Blob::new(other_spki.clone()))
        .send()
        .await;
    assert_eq!(code(e), "ValidationException");
}

// ---------------------------------------------------------------------------------------------
// Encapsulate and Decapsulate
// ---------------------------------------------------------------------------------------------

macro_rules! rustcrypto_encapsulate {
    ($P:ty, $raw:expr) => {{
        use ml_kem::{Encapsulate as _, TryKeyInit as _};
        let ek = ml_kem::EncapsulationKey::<$P>::new_from_slice($raw).unwrap();
        let (ct, ss) = ek.encapsulate();
        (ct.to_vec(), ss.to_vec())
    }};
}

#[tokio::test]
async fn sdk_encapsulates_and_decapsulates_with_ml_kem() {
    let srv = start("sdk-asym-kem");
    let kms = &srv.kms;
    for (spec, oid_last, ek_len, ct_len) in [
        (KeySpec::MlKem512, 1, 800, 768),
        (KeySpec::MlKem768, 2, 1184, 1088),
        (KeySpec::MlKem1024, 3, 1568, 1568),
    ] {
        let md = create(kms, spec.clone(), KeyUsageType::EncapsulateDecapsulate).await;
        assert_eq!(
            md.encapsulation_algorithms(),
            [EncapsulationAlgorithmSpec::MlKem]
        );
        assert!(md.signing_algorithms().is_empty());
        assert!(md.encryption_algorithms().is_empty());
        assert!(md.key_agreement_algorithms().is_empty());
        let spki = public_key(kms, &md).await;
        let (oid, raw) = spki_parts(&spki);
        assert_eq!(oid, nist_oid(4, oid_last), "{spec:?}");
        assert_eq!(raw.len(), ek_len);
        let decapsulate = |ct: Vec<u8>| {
            kms.decapsulate()
                .key_id(md.key_id())
                .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
                .shared_secret_ciphertext_blob(Blob::new(ct))
                .send()
        };
        // cofferd encapsulates, cofferd decapsulates.
        let enc = kms
            .encapsulate()
            .key_id(md.key_id())
            .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
            .send()
            .await
            .unwrap();
        assert_eq!(enc.key_id(), md.arn());
        let ct = enc
            .shared_secret_ciphertext_blob()
            .unwrap()
            .as_ref()
            .to_vec();
        let ss = enc.shared_secret().unwrap().as_ref().to_vec();
        assert_eq!((ct.len(), ss.len()), (ct_len, 32));
        let dec = decapsulate(ct.clone()).await.unwrap();
        assert_eq!(dec.shared_secret().unwrap().as_ref(), &ss[..]);
        assert_eq!(dec.key_id(), md.arn());
        // RustCrypto encapsulates to the public key from GetPublicKey, cofferd decapsulates.
        let (rc_ct, rc_ss) = match spec {
            KeySpec::MlKem512 => rustcrypto_encapsulate!(ml_kem::MlKem512, &raw),
            KeySpec::MlKem768 => rustcrypto_encapsulate!(ml_kem::MlKem768, &raw),
            _ => rustcrypto_encapsulate!(ml_kem::MlKem1024, &raw),
        };
        let dec = decapsulate(rc_ct.clone()).await.unwrap();
        assert_eq!(
            dec.shared_secret().unwrap().as_ref(),
            &rc_ss[..],
            "{spec:?}"
        );
        // A changed ciphertext: another secret (implicit rejection), no error.
        let dec = decapsulate(flip(&rc_ct, 3)).await.unwrap();
        let other = dec.shared_secret().unwrap().as_ref();
        assert_eq!(other.len(), 32);
        assert_ne!(other, &rc_ss[..]);
        // The wrong length: InvalidCiphertextException.
        assert_eq!(
            code(decapsulate(rc_ct[..ct_len - 1].to_vec()).await),
            "InvalidCiphertextException"
        );
        // An ML-KEM key does not sign or encrypt.
        let e = kms
            .encrypt()
            .key_id(md.key_id())
            .plaintext(Blob::new(b"x".to_vec()))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await;
        assert_eq!(code(e), "InvalidKeyUsageException");
    }
}

// ---------------------------------------------------------------------------------------------
// RSA-OAEP Encrypt and Decrypt
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sdk_rsa_oaep_interoperates_with_rfc8017_by_hand() {
    let srv = start("sdk-asym-oaep");
    let kms = &srv.kms;
    // The SHA-1 here is FIPS 180-4's: its published test vector.
    assert_eq!(
        sha1(b"abc"),
        [
            0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
            0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
        ]
    );
    use EncryptionAlgorithmSpec::{RsaesOaepSha1, RsaesOaepSha256};
    let mut rsa_keys = Vec::new();
    for (spec, k) in [
        (KeySpec::Rsa2048, 256),
        (KeySpec::Rsa3072, 384),
        (KeySpec::Rsa4096, 512),
    ] {
        let md = create(kms, spec.clone(), KeyUsageType::EncryptDecrypt).await;
        assert_eq!(md.encryption_algorithms(), [RsaesOaepSha1, RsaesOaepSha256]);
        assert!(md.signing_algorithms().is_empty());
        let spki = public_key(kms, &md).await;
        let public = rsa_public(&spki);
        assert_eq!(public.k, k);
        let decrypt = |ct: Vec<u8>, alg: EncryptionAlgorithmSpec| {
            kms.decrypt()
                .key_id(md.key_id())
                .encryption_algorithm(alg)
                .ciphertext_blob(Blob::new(ct))
                .send()
        };
        for (alg, h) in [(RsaesOaepSha1, Hash::Sha1), (RsaesOaepSha256, Hash::Sha256)] {
            let max = k - 2 * h.len() - 2;
            for len in [1, max] {
                let pt = test_bytes(&format!("{spec:?} {alg:?} {len}"), len);
                // Encrypted here with the public key from GetPublicKey, decrypted by cofferd.
                let seed = test_bytes(&format!("seed {len}"), h.len());
                let ct = oaep_encrypt(&public, h, &pt, &seed);
                let out = decrypt(ct.clone(), alg.clone()).await.unwrap();
                assert_eq!(
                    out.plaintext().unwrap().as_ref(),
                    &pt[..],
                    "{spec:?} {alg:?}"
                );
                assert_eq!(out.key_id(), md.arn());
                assert_eq!(out.encryption_algorithm(), Some(&alg));
                // The other OAEP hash, a changed ciphertext: InvalidCiphertextException.
                let other = if alg == RsaesOaepSha1 {
                    RsaesOaepSha256
                } else {
                    RsaesOaepSha1
                };
                assert_eq!(
                    code(decrypt(ct.clone(), other).await),
                    "InvalidCiphertextException"
                );
                assert_eq!(
                    code(decrypt(flip(&ct, 9), alg.clone()).await),
                    "InvalidCiphertextException"
                );
                // Encrypted by cofferd, decrypted by cofferd.
                let enc = kms
                    .encrypt()
                    .key_id(md.key_id())
                    .encryption_algorithm(alg.clone())
                    .plaintext(Blob::new(pt.clone()))
                    .send()
                    .await
                    .unwrap();
                let ct = enc.ciphertext_blob().unwrap().as_ref().to_vec();
                assert_eq!(ct.len(), k);
                let out = decrypt(ct, alg.clone()).await.unwrap();
                assert_eq!(out.plaintext().unwrap().as_ref(), &pt[..]);
            }
            // One byte over the maximum: ValidationException.
            let e = kms
                .encrypt()
                .key_id(md.key_id())
                .encryption_algorithm(alg.clone())
                .plaintext(Blob::new(vec![1; max + 1]))
                .send()
                .await;
            assert_eq!(code(e), "ValidationException", "{spec:?} {alg:?}");
        }
        // Decrypt without KeyId: an OAEP ciphertext names no key (ValidationException).
        let ct = oaep_encrypt(&public, Hash::Sha256, b"x", &[3; 32]);
        let e = kms
            .decrypt()
            .encryption_algorithm(RsaesOaepSha256)
            .ciphertext_blob(Blob::new(ct))
            .send()
            .await;
        assert_eq!(code(e), "ValidationException");
        // SYMMETRIC_DEFAULT on an RSA key: InvalidKeyUsageException.
        let e = kms
            .encrypt()
            .key_id(md.key_id())
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await;
        assert_eq!(code(e), "InvalidKeyUsageException");
        rsa_keys.push((md, public));
    }

    // ReEncrypt: a ciphertext made here for one RSA key moves to a symmetric key and to
    // another RSA key, and decrypts to what was encrypted here.
    let (a, a_public) = &rsa_keys[0];
    let (b, _) = &rsa_keys[1];
    let sym = create(kms, KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt).await;
    let secret = b"made by hand, moved by cofferd";
    let ct = oaep_encrypt(a_public, Hash::Sha256, secret, &[5; 32]);
    let to_sym = kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(ct.clone()))
        .source_key_id(a.key_id())
        .source_encryption_algorithm(RsaesOaepSha256)
        .destination_key_id(sym.key_id())
        .destination_encryption_context("moved", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(to_sym.source_key_id(), a.arn());
    assert_eq!(to_sym.key_id(), sym.arn());
    let back = kms
        .decrypt()
        .ciphertext_blob(to_sym.ciphertext_blob().unwrap().clone())
        .encryption_context("moved", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), secret);
    let to_b = kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(ct.clone()))
        .source_key_id(a.key_id())
        .source_encryption_algorithm(RsaesOaepSha256)
        .destination_key_id(b.key_id())
        .destination_encryption_algorithm(RsaesOaepSha1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        to_b.destination_encryption_algorithm(),
        Some(&RsaesOaepSha1)
    );
    let back = kms
        .decrypt()
        .key_id(b.key_id())
        .encryption_algorithm(RsaesOaepSha1)
        .ciphertext_blob(to_b.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), secret);
    // The source algorithm that did not make it: InvalidCiphertextException.
    let e = kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(ct))
        .source_key_id(a.key_id())
        .source_encryption_algorithm(RsaesOaepSha1)
        .destination_key_id(sym.key_id())
        .send()
        .await;
    assert_eq!(code(e), "InvalidCiphertextException");
}

// ---------------------------------------------------------------------------------------------
// GenerateDataKeyPair(+WithoutPlaintext)
// ---------------------------------------------------------------------------------------------

/// Checks, independently of coffer, that the PKCS #8 `private` is the private key of the SPKI
/// `public` for `spec` (the public key recomputed from the private one, or for RSA the pair
/// inverting each other).
fn pair_matches(spec: &DataKeyPairSpec, private: &[u8], public: &[u8]) {
    macro_rules! ec_pair {
        ($krate:ident) => {{
            use $krate::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
            let sk = $krate::SecretKey::from_pkcs8_der(private).unwrap();
            assert_eq!(
                sk.public_key().to_public_key_der().unwrap().as_bytes(),
                public,
                "{spec:?}"
            );
        }};
    }
    macro_rules! ml_kem_pair {
        ($P:ty) => {{
            #[allow(deprecated)]
            use ml_kem::ExpandedKeyEncoding as _;
            use ml_kem::{Decapsulate as _, Encapsulate as _, KeyExport as _};
            // The IETF ML-KEM private key, a CHOICE: seed [0] (64 bytes; what AWS documents
            // for data key pairs: "the private key in seed format"), expandedKey (an OCTET
            // STRING: FIPS 203's decapsulation key), or both (a SEQUENCE of the two). Each form
            // is checked by RustCrypto; both must agree.
            let (oid, key) = pkcs8_parts(private);
            assert_eq!(oid, spki_parts(public).0);
            let (tag, body, rest) = der(&key);
            assert!(rest.is_empty(), "{spec:?}: bytes after the private key");
            let (seed, expanded): (Option<&[u8]>, Option<&[u8]>) = match tag {
                0x80 => (Some(body), None),
                0x04 => (None, Some(body)),
                0x30 => {
                    let (t1, seed, rest) = der(body);
                    let (t2, expanded, rest) = der(rest);
                    assert!(t1 == 0x04 && t2 == 0x04 && rest.is_empty(), "{spec:?}");
                    (Some(seed), Some(expanded))
                }
                other => panic!("{spec:?}: private key of unknown form, tag {other:#x}"),
            };
            let mut keys = Vec::new();
            if let Some(seed) = seed {
                let seed: [u8; 64] = seed.try_into().expect("a 64-byte seed");
                keys.push(ml_kem::DecapsulationKey::<$P>::from_seed(seed.into()));
            }
            if let Some(expanded) = expanded {
                #[allow(deprecated)]
                let dk = ml_kem::DecapsulationKey::<$P>::from_expanded_bytes(
                    &expanded.try_into().unwrap(),
                )
                .unwrap();
                keys.push(dk);
            }
            for dk in &keys {
                assert_eq!(
                    &dk.encapsulation_key().to_bytes()[..],
                    &spki_parts(public).1[..],
                    "{spec:?}"
                );
                let (ct, ss) = dk.encapsulation_key().encapsulate();
                assert_eq!(dk.decapsulate(&ct), ss);
            }
            if let [a, b] = &keys[..] {
                #[allow(deprecated)]
                let same = a.to_expanded_bytes() == b.to_expanded_bytes();
                assert!(same, "{spec:?}: seed and expanded key disagree");
            }
        }};
    }
    match spec {
        DataKeyPairSpec::Rsa2048 | DataKeyPairSpec::Rsa3072 | DataKeyPairSpec::Rsa4096 => {
            let (oid, key) = pkcs8_parts(private);
            assert_eq!(oid, OID_RSA);
            let (_, body, _) = der(&key);
            let (_, _version, rest) = der(body);
            let (_, n, rest) = der(rest);
            let (_, e, rest) = der(rest);
            let (_, d, _) = der(rest);
            let public = rsa_public(public);
            let (n, e, d) = (
                BigUint::from_bytes_be(n),
                BigUint::from_bytes_be(e),
                BigUint::from_bytes_be(d),
            );
            assert_eq!((&n, &e), (&public.n, &public.e), "{spec:?}");
            let m = BigUint::from_bytes_be(&test_bytes("rsa pair", 64));
            assert_eq!(m.modpow(&e, &n).modpow(&d, &n), m, "{spec:?}");
        }
        DataKeyPairSpec::EccNistP256 => ec_pair!(p256),
        DataKeyPairSpec::EccNistP384 => ec_pair!(p384),
        DataKeyPairSpec::EccNistP521 => ec_pair!(p521),
        DataKeyPairSpec::EccSecgP256K1 => ec_pair!(k256),
        DataKeyPairSpec::EccNistEdwards25519 => {
            use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
            let sk = ed25519_dalek::SigningKey::from_pkcs8_der(private).unwrap();
            assert_eq!(
                sk.verifying_key().to_public_key_der().unwrap().as_bytes(),
                public
            );
        }
        DataKeyPairSpec::MlKem512 => ml_kem_pair!(ml_kem::MlKem512),
        DataKeyPairSpec::MlKem768 => ml_kem_pair!(ml_kem::MlKem768),
        DataKeyPairSpec::MlKem1024 => ml_kem_pair!(ml_kem::MlKem1024),
        other => panic!("no check for {other:?}"),
    }
}

#[tokio::test]
async fn sdk_generates_data_key_pairs_that_rustcrypto_reads() {
    let srv = start("sdk-asym-gdkp");
    let kms = &srv.kms;
    let wrapper = create(kms, KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt).await;
    use DataKeyPairSpec as D;
    for spec in [
        D::Rsa2048,
        D::Rsa3072,
        D::Rsa4096,
        D::EccNistP256,
        D::EccNistP384,
        D::EccNistP521,
        D::EccSecgP256K1,
        D::EccNistEdwards25519,
        D::MlKem512,
        D::MlKem768,
        D::MlKem1024,
    ] {
        let pair = kms
            .generate_data_key_pair()
            .key_id(wrapper.key_id())
            .key_pair_spec(spec.clone())
            .encryption_context("pair", spec.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(pair.key_pair_spec(), Some(&spec));
        assert_eq!(pair.key_id(), wrapper.arn());
        let private = pair.private_key_plaintext().unwrap().as_ref().to_vec();
        let public = pair.public_key().unwrap().as_ref().to_vec();
        pair_matches(&spec, &private, &public);
        // The wrapped private key decrypts, under its context, to the plaintext one.
        let opened = kms
            .decrypt()
            .ciphertext_blob(pair.private_key_ciphertext_blob().unwrap().clone())
            .encryption_context("pair", spec.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), &private[..]);
        let e = kms
            .decrypt()
            .ciphertext_blob(pair.private_key_ciphertext_blob().unwrap().clone())
            .send()
            .await;
        assert_eq!(code(e), "InvalidCiphertextException");

        // WithoutPlaintext: the wrapped private key opens to the pair of the public key.
        let without = kms
            .generate_data_key_pair_without_plaintext()
            .key_id(wrapper.key_id())
            .key_pair_spec(spec.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(without.key_pair_spec(), Some(&spec));
        let public2 = without.public_key().unwrap().as_ref().to_vec();
        assert_ne!(public2, public, "a fresh pair each call");
        let opened = kms
            .decrypt()
            .ciphertext_blob(without.private_key_ciphertext_blob().unwrap().clone())
            .send()
            .await
            .unwrap();
        pair_matches(&spec, opened.plaintext().unwrap().as_ref(), &public2);
    }
    // An asymmetric key cannot wrap; SM2 is not implemented; the spec is required.
    let rsa = create(kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let e = kms
        .generate_data_key_pair()
        .key_id(rsa.key_id())
        .key_pair_spec(D::EccNistP256)
        .send()
        .await;
    assert_eq!(code(e), "InvalidKeyUsageException");
    let e = kms
        .generate_data_key_pair()
        .key_id(wrapper.key_id())
        .key_pair_spec(D::Sm2)
        .send()
        .await;
    assert_eq!(code(e), "UnsupportedOperationException");
    let e = kms
        .generate_data_key_pair_without_plaintext()
        .key_id(wrapper.key_id())
        .send()
        .await;
    assert_eq!(code(e), "ValidationException");
}

// ---------------------------------------------------------------------------------------------
// GetKeyLastUsage
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sdk_get_key_last_usage_follows_asymmetric_calls() {
    use aws_sdk_kms::types::KeyLastUsageTrackingOperation as Op;
    let srv = start("sdk-asym-usage");
    let kms = &srv.kms;
    let md = create(kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let last = |id: String| kms.get_key_last_usage().key_id(id).send();
    let fresh = last(md.key_id().to_owned()).await.unwrap();
    assert_eq!(fresh.key_id(), md.arn());
    assert!(fresh.key_last_usage().is_none());
    assert_eq!(fresh.key_creation_date(), md.creation_date());
    assert!(fresh.tracking_start_date().unwrap() <= fresh.key_creation_date().unwrap());
    // GetPublicKey and DescribeKey are not tracked; Sign and Verify are.
    public_key(kms, &md).await;
    assert!(last(md.key_id().to_owned())
        .await
        .unwrap()
        .key_last_usage()
        .is_none());
    let alg = SigningAlgorithmSpec::EcdsaSha256;
    let sig = sign(kms, md.key_id(), &alg, MessageType::Raw, b"m")
        .await
        .unwrap()
        .signature
        .unwrap()
        .into_inner();
    let used = last(md.arn().unwrap().to_owned()).await.unwrap();
    let usage = used.key_last_usage().unwrap();
    assert_eq!(usage.operation(), Some(&Op::Sign));
    assert!(usage.timestamp().unwrap() >= md.creation_date().unwrap());
    assert!(usage.kms_request_id().is_some_and(|id| !id.is_empty()));
    assert!(usage
        .cloud_trail_event_id()
        .is_some_and(|id| !id.is_empty()));
    // A failed Verify leaves it; a successful one replaces it.
    let e = verify(kms, md.key_id(), &alg, MessageType::Raw, b"other", &sig).await;
    assert_eq!(code(e), "KMSInvalidSignatureException");
    assert_eq!(
        last(md.key_id().to_owned())
            .await
            .unwrap()
            .key_last_usage()
            .unwrap()
            .operation(),
        Some(&Op::Sign)
    );
    verify(kms, md.key_id(), &alg, MessageType::Raw, b"m", &sig)
        .await
        .unwrap();
    assert_eq!(
        last(md.key_id().to_owned())
            .await
            .unwrap()
            .key_last_usage()
            .unwrap()
            .operation(),
        Some(&Op::Verify)
    );
    // An ECDH key after DeriveSharedSecret, an ML-KEM key after Encapsulate.
    let ecdh = create(kms, KeySpec::EccNistP384, KeyUsageType::KeyAgreement).await;
    let spki = public_key(kms, &ecdh).await;
    derive(kms, ecdh.key_id(), &spki).await.unwrap();
    assert_eq!(
        last(ecdh.key_id().to_owned())
            .await
            .unwrap()
            .key_last_usage()
            .unwrap()
            .operation(),
        Some(&Op::DeriveSharedSecret)
    );
    let kem = create(kms, KeySpec::MlKem768, KeyUsageType::EncapsulateDecapsulate).await;
    kms.encapsulate()
        .key_id(kem.key_id())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .send()
        .await
        .unwrap();
    assert_eq!(
        last(kem.key_id().to_owned())
            .await
            .unwrap()
            .key_last_usage()
            .unwrap()
            .operation(),
        Some(&Op::Encapsulate)
    );
    // An unknown key: NotFoundException.
    let e = last("1234abcd-12ab-34cd-56ef-1234567890ab".to_owned()).await;
    assert_eq!(code(e), "NotFoundException");
}

// ---------------------------------------------------------------------------------------------
// Key specs and usages that do not go together, key states, DryRun
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sdk_refuses_asymmetric_misuse_with_aws_codes() {
    let srv = start("sdk-asym-refusals");
    let kms = &srv.kms;
    // Spec and usage pairs AWS does not offer: ValidationException.
    for (spec, usage) in [
        (KeySpec::Rsa2048, KeyUsageType::KeyAgreement),
        (KeySpec::Rsa2048, KeyUsageType::GenerateVerifyMac),
        (KeySpec::EccNistP256, KeyUsageType::EncryptDecrypt),
        (KeySpec::EccSecgP256K1, KeyUsageType::KeyAgreement),
        (KeySpec::EccNistEdwards25519, KeyUsageType::KeyAgreement),
        (KeySpec::MlDsa65, KeyUsageType::EncryptDecrypt),
        (KeySpec::MlKem768, KeyUsageType::SignVerify),
        (KeySpec::SymmetricDefault, KeyUsageType::SignVerify),
        (
            KeySpec::SymmetricDefault,
            KeyUsageType::EncapsulateDecapsulate,
        ),
    ] {
        let e = kms
            .create_key()
            .key_spec(spec.clone())
            .key_usage(usage.clone())
            .send()
            .await;
        assert_eq!(code(e), "ValidationException", "{spec:?} {usage:?}");
    }
    // No usage means ENCRYPT_DECRYPT, which an ECC key does not have.
    let e = kms.create_key().key_spec(KeySpec::EccNistP256).send().await;
    assert_eq!(code(e), "ValidationException");

    let signer = create(kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let alg = SigningAlgorithmSpec::EcdsaSha256;
    // GetPublicKey through an alias.
    kms.create_alias()
        .alias_name("alias/asym-signer")
        .target_key_id(signer.key_id())
        .send()
        .await
        .unwrap();
    let via_alias = kms
        .get_public_key()
        .key_id("alias/asym-signer")
        .send()
        .await
        .unwrap();
    assert_eq!(via_alias.key_id(), signer.arn());
    // A symmetric key has no public key; asymmetric keys do not rotate or make data keys.
    let sym = create(kms, KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt).await;
    let e = kms.get_public_key().key_id(sym.key_id()).send().await;
    assert_eq!(code(e), "UnsupportedOperationException");
    let e = kms
        .enable_key_rotation()
        .key_id(signer.key_id())
        .send()
        .await;
    assert_eq!(code(e), "UnsupportedOperationException");
    let rsa = create(kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let e = kms
        .generate_data_key()
        .key_id(rsa.key_id())
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await;
    assert_eq!(code(e), "InvalidKeyUsageException");

    // DryRun: DryRunOperationException, and nothing signed.
    let e = kms
        .sign()
        .key_id(signer.key_id())
        .signing_algorithm(alg.clone())
        .message(Blob::new(b"x".to_vec()))
        .dry_run(true)
        .send()
        .await;
    assert_eq!(code(e), "DryRunOperationException");
    let kem = create(kms, KeySpec::MlKem512, KeyUsageType::EncapsulateDecapsulate).await;
    let e = kms
        .encapsulate()
        .key_id(kem.key_id())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(code(e), "DryRunOperationException");

    // A disabled key: DisabledException for Sign, Verify and GetPublicKey; enabled again, it
    // signs, and the signature verifies independently.
    kms.disable_key()
        .key_id(signer.key_id())
        .send()
        .await
        .unwrap();
    let e = sign(kms, signer.key_id(), &alg, MessageType::Raw, b"x").await;
    assert_eq!(code(e), "DisabledException");
    let e = verify(
        kms,
        signer.key_id(),
        &alg,
        MessageType::Raw,
        b"x",
        &[0x30, 0],
    )
    .await;
    assert_eq!(code(e), "DisabledException");
    let e = kms.get_public_key().key_id(signer.key_id()).send().await;
    assert_eq!(code(e), "DisabledException");
    kms.enable_key()
        .key_id(signer.key_id())
        .send()
        .await
        .unwrap();
    let spki = public_key(kms, &signer).await;
    let sig = sign(kms, signer.key_id(), &alg, MessageType::Raw, b"x")
        .await
        .unwrap()
        .signature
        .unwrap()
        .into_inner();
    assert!(independently_valid(
        &KeySpec::EccNistP256,
        &spki,
        &alg,
        false,
        b"x",
        &sig
    ));
    // Pending deletion: KMSInvalidStateException.
    kms.schedule_key_deletion()
        .key_id(kem.key_id())
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let e = kms
        .encapsulate()
        .key_id(kem.key_id())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .send()
        .await;
    assert_eq!(code(e), "KMSInvalidStateException");
    let e = kms.get_public_key().key_id(kem.key_id()).send().await;
    assert_eq!(code(e), "KMSInvalidStateException");
    // An unknown key: NotFoundException.
    let e = sign(
        kms,
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        &alg,
        MessageType::Raw,
        b"x",
    )
    .await;
    assert_eq!(code(e), "NotFoundException");
    // A grant for an operation the key does not support: ValidationException.
    let e = kms
        .create_grant()
        .key_id(rsa.key_id())
        .grantee_principal("arn:aws:iam::111122223333:role/x")
        .operations(aws_sdk_kms::types::GrantOperation::Sign)
        .send()
        .await;
    assert_eq!(code(e), "ValidationException");
    kms.create_grant()
        .key_id(signer.key_id())
        .grantee_principal("arn:aws:iam::111122223333:role/x")
        .operations(aws_sdk_kms::types::GrantOperation::Sign)
        .operations(aws_sdk_kms::types::GrantOperation::GetPublicKey)
        .send()
        .await
        .unwrap();
}
