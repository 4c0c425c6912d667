"""cofferd's asymmetric operations driven by boto3, every output checked independently.

Python's `cryptography` (OpenSSL underneath, no code shared with coffer's AWS-LC) verifies
cofferd's signatures (RSA PSS and PKCS #1 v1.5, ECDSA on P-256, P-384, P-521 and secp256k1,
Ed25519), makes RSA-OAEP ciphertexts with the public key from GetPublicKey that cofferd must
decrypt, computes the ECDH secrets cofferd derives, and reads the key pairs GenerateDataKeyPair
returns. The `openssl` command line, where installed, verifies one ECDSA and one RSA-PSS
signature from a PEM made of the DER public key. Error codes are checked along the way.

Run by tests/clients/run.sh with COFFER_ENDPOINT and the administrator credential in the
environment. Prints "boto3_asym: N passed, M failed"; exits non-zero on any failure.
"""
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

import boto3
import botocore
from botocore.config import Config
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

try:  # ML-DSA and ML-KEM arrived in cryptography 46-47; older ones only get the round trips.
    from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
except ImportError:
    mldsa = mlkem = None

# cofferd runs with AWS's default quotas (CreateKey: 5 a second, DataKeyPair_RSA_2048: 1 a
# second): the standard retry mode backs off on ThrottlingException as a real client would.
k = boto3.client(
    "kms",
    endpoint_url=os.environ["COFFER_ENDPOINT"],
    region_name=os.environ["AWS_DEFAULT_REGION"],
    config=Config(retries={"max_attempts": 12, "mode": "standard"}),
)

passed = 0
failures = []


def case(fn):
    """Runs one check; a failed assertion or an unexpected error is counted, not fatal."""
    global passed
    try:
        fn()
        passed += 1
        print(f"boto3_asym: ok   {fn.__name__}")
    except Exception:  # noqa: BLE001 - every failure is reported
        failures.append(fn.__name__)
        print(f"boto3_asym: FAIL {fn.__name__}")
        traceback.print_exc()
    return fn


def error_code(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded where it should have failed")


def create(spec, usage):
    md = k.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    assert md["KeySpec"] == spec and md["KeyUsage"] == usage, md
    described = k.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    for field in ("KeySpec", "KeyUsage", "SigningAlgorithms", "EncryptionAlgorithms",
                  "KeyAgreementAlgorithms", "EncapsulationAlgorithms"):
        assert described.get(field) == md.get(field), (field, described, md)
    return md


def public_key(md):
    p = k.get_public_key(KeyId=md["KeyId"])
    assert p["KeyId"] == md["Arn"], p
    assert p["KeySpec"] == md["KeySpec"] and p["KeyUsage"] == md["KeyUsage"], p
    for field in ("SigningAlgorithms", "EncryptionAlgorithms", "KeyAgreementAlgorithms",
                  "EncapsulationAlgorithms"):
        assert p.get(field) == md.get(field), (field, p, md)
    return p["PublicKey"]


def flip(b, i):
    b = bytearray(b)
    b[i % len(b)] ^= 1
    return bytes(b)


HASHES = {"SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}
RSA_ALGS = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
            "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]


def local_verify(pub, alg, message, message_type, sig):
    """Verifies with `cryptography`; raises InvalidSignature if the signature is bad."""
    if alg == "ED25519_SHA_512":
        assert isinstance(pub, ed25519.Ed25519PublicKey)
        pub.verify(sig, message)
        return
    h = HASHES[alg[-7:]]()
    data, algo = (message, h) if message_type == "RAW" else (message, utils.Prehashed(h))
    if alg.startswith("RSASSA_PSS"):
        assert isinstance(pub, rsa.RSAPublicKey)
        pub.verify(sig, data, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), algo)
    elif alg.startswith("RSASSA_PKCS1"):
        pub.verify(sig, data, padding.PKCS1v15(), algo)
    else:
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(sig, data, ec.ECDSA(algo))


def digest_of(alg, message):
    return hashlib.new(alg[-7:].replace("_", "").lower(), message).digest()


def sign_and_check(spec, algs, curve=None):
    md = create(spec, "SIGN_VERIFY")
    assert md["SigningAlgorithms"] == algs, md
    assert "EncryptionAlgorithms" not in md or md["EncryptionAlgorithms"] == [], md
    pub = serialization.load_der_public_key(public_key(md))
    if curve is not None:
        assert isinstance(pub.curve, curve), pub.curve
    message = b"signed by cofferd, checked by OpenSSL through cryptography"
    for alg in algs:
        if alg == "ED25519_PH_SHA_512":
            # DIGEST only (64 bytes), hashed again by the service. cryptography has no Ed25519ph
            # (the Rust suite checks it by hand over the curve arithmetic): round trip and codes.
            d = hashlib.sha512(message).digest()
            sig = k.sign(KeyId=md["KeyId"], Message=d, MessageType="DIGEST", SigningAlgorithm=alg)["Signature"]
            assert len(sig) == 64
            try:  # not a pure Ed25519 signature of the message or of the digest
                pub.verify(sig, message)
                raise AssertionError("an Ed25519ph signature verified as pure Ed25519")
            except InvalidSignature:
                pass
            assert k.verify(KeyId=md["KeyId"], Message=d, MessageType="DIGEST", Signature=sig,
                            SigningAlgorithm=alg)["SignatureValid"] is True
            assert error_code(k.verify, KeyId=md["KeyId"], Message=d, MessageType="DIGEST",
                              Signature=flip(sig, 3), SigningAlgorithm=alg) == "KMSInvalidSignatureException"
            assert error_code(k.sign, KeyId=md["KeyId"], Message=d, MessageType="RAW",
                              SigningAlgorithm=alg) == "ValidationException"
            assert error_code(k.sign, KeyId=md["KeyId"], Message=d[:32], MessageType="DIGEST",
                              SigningAlgorithm=alg) == "ValidationException"
            continue
        types = [("RAW", message)]
        if alg != "ED25519_SHA_512":
            d = digest_of(alg, message)
            types.append(("DIGEST", d))
            assert error_code(k.sign, KeyId=md["KeyId"], Message=d[:-1], MessageType="DIGEST",
                              SigningAlgorithm=alg) == "ValidationException"
        for message_type, m in types:
            out = k.sign(KeyId=md["KeyId"], Message=m, MessageType=message_type, SigningAlgorithm=alg)
            assert out["KeyId"] == md["Arn"] and out["SigningAlgorithm"] == alg, out
            sig = out["Signature"]
            local_verify(pub, alg, m, message_type, sig)
            try:
                local_verify(pub, alg, m, message_type, flip(sig, 12))
                raise AssertionError(f"{spec} {alg}: a changed signature verified locally")
            except InvalidSignature:
                pass
            v = k.verify(KeyId=md["KeyId"], Message=m, MessageType=message_type, Signature=sig,
                         SigningAlgorithm=alg)
            assert v["SignatureValid"] is True and v["SigningAlgorithm"] == alg, v
            assert error_code(k.verify, KeyId=md["KeyId"], Message=m, MessageType=message_type,
                              Signature=flip(sig, 12), SigningAlgorithm=alg) == "KMSInvalidSignatureException"
    # An algorithm of another key spec: InvalidKeyUsageException; a signing key does not encrypt.
    other = "ECDSA_SHA_256" if "ECDSA_SHA_256" not in algs else "ECDSA_SHA_384"
    assert error_code(k.sign, KeyId=md["KeyId"], Message=message, SigningAlgorithm=other) \
        == "InvalidKeyUsageException"
    assert error_code(k.encrypt, KeyId=md["KeyId"], Plaintext=b"x") == "InvalidKeyUsageException"
    return md, pub


@case
def rsa_signatures_verify_with_cryptography():
    sign_and_check("RSA_2048", RSA_ALGS)


@case
def ecdsa_p256_signatures_verify_with_cryptography():
    sign_and_check("ECC_NIST_P256", ["ECDSA_SHA_256"], ec.SECP256R1)


@case
def ecdsa_p384_signatures_verify_with_cryptography():
    sign_and_check("ECC_NIST_P384", ["ECDSA_SHA_384"], ec.SECP384R1)


@case
def ecdsa_p521_signatures_verify_with_cryptography():
    sign_and_check("ECC_NIST_P521", ["ECDSA_SHA_512"], ec.SECP521R1)


@case
def ecdsa_secp256k1_signatures_verify_with_cryptography():
    sign_and_check("ECC_SECG_P256K1", ["ECDSA_SHA_256"], ec.SECP256K1)


@case
def ed25519_signatures_verify_with_cryptography():
    sign_and_check("ECC_NIST_EDWARDS25519", ["ED25519_SHA_512", "ED25519_PH_SHA_512"])


@case
def ml_dsa_signatures_verify_with_cryptography():
    sizes = {"ML_DSA_44": 2420, "ML_DSA_65": 3309, "ML_DSA_87": 4627}
    if mldsa is None:
        print("boto3_asym: note: this cryptography has no ML-DSA; ML-DSA is checked by round trip only")
    for spec, n in sizes.items():
        md = create(spec, "SIGN_VERIFY")
        assert md["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"], md
        spki = public_key(md)
        message = b"post-quantum, checked by OpenSSL"
        out = k.sign(KeyId=md["KeyId"], Message=message, SigningAlgorithm="ML_DSA_SHAKE_256")
        sig = out["Signature"]
        assert len(sig) == n, (spec, len(sig))
        if mldsa is not None:
            pub = serialization.load_der_public_key(spki)
            assert type(pub).__name__ == "MLDSA" + spec[-2:] + "PublicKey", type(pub)
            pub.verify(sig, message)  # pure ML-DSA, empty context, as AWS signs RAW messages
            for bad_sig, bad_msg, ctx in [(flip(sig, 40), message, None), (sig, message + b"!", None),
                                          (sig, message, b"ctx")]:
                try:
                    pub.verify(bad_sig, bad_msg, ctx)
                    raise AssertionError(f"{spec}: a wrong signature verified locally")
                except InvalidSignature:
                    pass
        assert k.verify(KeyId=md["KeyId"], Message=message, Signature=sig,
                        SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
        assert error_code(k.verify, KeyId=md["KeyId"], Message=b"pQ", Signature=sig,
                          SigningAlgorithm="ML_DSA_SHAKE_256") == "KMSInvalidSignatureException"
        assert error_code(k.sign, KeyId=md["KeyId"], Message=b"\0" * 64, MessageType="DIGEST",
                          SigningAlgorithm="ML_DSA_SHAKE_256") == "ValidationException"


def pem_of(der):
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


@case
def openssl_command_line_verifies_ecdsa_and_rsa_pss():
    openssl = shutil.which("openssl")
    if openssl is None:
        print("boto3_asym: note: no openssl command line here; its check is skipped")
        return
    message = b"checked by the openssl command line"
    with tempfile.TemporaryDirectory() as d:
        msg_path = os.path.join(d, "msg.bin")
        with open(msg_path, "wb") as f:
            f.write(message)
        for spec, alg, opts in [
            ("ECC_NIST_P384", "ECDSA_SHA_384", ["-sha384"]),
            ("RSA_3072", "RSASSA_PSS_SHA_256",
             ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
              "-sigopt", "rsa_mgf1_md:sha256"]),
        ]:
            md = create(spec, "SIGN_VERIFY")
            pem_path = os.path.join(d, f"{spec}.pem")
            with open(pem_path, "w") as f:
                f.write(pem_of(public_key(md)))
            sig = k.sign(KeyId=md["KeyId"], Message=message, SigningAlgorithm=alg)["Signature"]
            for name, s, want in [("good", sig, 0), ("changed", flip(sig, 20), 1)]:
                sig_path = os.path.join(d, f"{spec}-{name}.sig")
                with open(sig_path, "wb") as f:
                    f.write(s)
                r = subprocess.run([openssl, "dgst", *opts, "-verify", pem_path, "-signature",
                                    sig_path, msg_path], capture_output=True, text=True)
                ok = r.returncode == 0 and "Verified OK" in r.stdout
                assert ok == (want == 0), (spec, name, r.returncode, r.stdout, r.stderr)


@case
def rsa_oaep_ciphertexts_from_cryptography_decrypt_in_cofferd():
    for spec, size in [("RSA_2048", 256), ("RSA_3072", 384)]:
        md = create(spec, "ENCRYPT_DECRYPT")
        assert md["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"], md
        pub = serialization.load_der_public_key(public_key(md))
        assert pub.key_size == size * 8
        for alg, h in [("RSAES_OAEP_SHA_1", hashes.SHA1), ("RSAES_OAEP_SHA_256", hashes.SHA256)]:
            oaep = padding.OAEP(mgf=padding.MGF1(algorithm=h()), algorithm=h(), label=None)
            max_len = size - 2 * h.digest_size - 2
            for n in (1, max_len):
                pt = os.urandom(n)
                ct = pub.encrypt(pt, oaep)
                out = k.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm=alg)
                assert out["Plaintext"] == pt and out["KeyId"] == md["Arn"], (spec, alg, n)
                assert out["EncryptionAlgorithm"] == alg
                assert error_code(k.decrypt, KeyId=md["KeyId"], CiphertextBlob=flip(ct, 30),
                                  EncryptionAlgorithm=alg) == "InvalidCiphertextException"
                # cofferd's own ciphertext round-trips.
                ct2 = k.encrypt(KeyId=md["KeyId"], Plaintext=pt, EncryptionAlgorithm=alg)["CiphertextBlob"]
                assert len(ct2) == size
                assert k.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct2, EncryptionAlgorithm=alg)["Plaintext"] == pt
            assert error_code(k.encrypt, KeyId=md["KeyId"], Plaintext=b"\1" * (max_len + 1),
                              EncryptionAlgorithm=alg) == "ValidationException"
        ct = pub.encrypt(b"x", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        # No KeyId: an OAEP ciphertext names no key.
        assert error_code(k.decrypt, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256") \
            == "ValidationException"
        assert error_code(k.encrypt, KeyId=md["KeyId"], Plaintext=b"x") == "InvalidKeyUsageException"


@case
def ecdh_secrets_match_cryptography():
    curves = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1, "ECC_NIST_P521": ec.SECP521R1}
    keys = {}
    for spec, curve in curves.items():
        md = create(spec, "KEY_AGREEMENT")
        assert md["KeyAgreementAlgorithms"] == ["ECDH"], md
        kms_pub = serialization.load_der_public_key(public_key(md))
        mine = ec.generate_private_key(curve())
        mine_der = mine.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        out = k.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=mine_der)
        assert out["SharedSecret"] == mine.exchange(ec.ECDH(), kms_pub), spec
        assert out["KeyId"] == md["Arn"] and out["KeyAgreementAlgorithm"] == "ECDH", out
        keys[spec] = (md, mine_der)
    # A peer on another curve: ValidationException; ECDH with a signing key: InvalidKeyUsage.
    assert error_code(k.derive_shared_secret, KeyId=keys["ECC_NIST_P256"][0]["KeyId"],
                      KeyAgreementAlgorithm="ECDH",
                      PublicKey=keys["ECC_NIST_P384"][1]) == "ValidationException"
    signer = create("ECC_NIST_P256", "SIGN_VERIFY")
    assert error_code(k.derive_shared_secret, KeyId=signer["KeyId"], KeyAgreementAlgorithm="ECDH",
                      PublicKey=keys["ECC_NIST_P256"][1]) == "InvalidKeyUsageException"
    assert error_code(k.sign, KeyId=keys["ECC_NIST_P256"][0]["KeyId"], Message=b"x",
                      SigningAlgorithm="ECDSA_SHA_256") == "InvalidKeyUsageException"


def spki_raw(spki):
    """The raw key of a SubjectPublicKeyInfo whose AlgorithmIdentifier has no parameters."""
    body, _ = der_read(spki, 0x30)
    _, rest = der_read(body, 0x30)
    bits, _ = der_read(rest, 0x03)
    assert bits[0] == 0
    return bits[1:]


def der_read(data, tag):
    """(body, rest) of the DER TLV at the start of `data`, which must have `tag`."""
    assert data[0] == tag, (hex(data[0]), hex(tag))
    n, at = data[1], 2
    if n & 0x80:
        width = n & 0x7F
        n, at = int.from_bytes(data[2:2 + width], "big"), 2 + width
    return data[at:at + n], data[at + n:]


@case
def ml_kem_encapsulates_and_decapsulates():
    if mlkem is None:
        print("boto3_asym: note: this cryptography has no ML-KEM; ML-KEM is checked by round trip only")
    for spec, ek_len, ct_len in [("ML_KEM_512", 800, 768), ("ML_KEM_768", 1184, 1088),
                                 ("ML_KEM_1024", 1568, 1568)]:
        md = create(spec, "ENCAPSULATE_DECAPSULATE")
        assert md["EncapsulationAlgorithms"] == ["ML_KEM"], md
        spki = public_key(md)
        assert len(spki_raw(spki)) == ek_len, spec
        e = k.encapsulate(KeyId=md["KeyId"], EncapsulationAlgorithm="ML_KEM")
        ct, ss = e["SharedSecretCiphertextBlob"], e["SharedSecret"]
        assert len(ct) == ct_len and len(ss) == 32, (spec, len(ct), len(ss))
        d = k.decapsulate(KeyId=md["KeyId"], EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=ct)
        assert d["SharedSecret"] == ss
        # cryptography (OpenSSL) encapsulates to the public key, cofferd decapsulates. This
        # cryptography has ML-KEM-768 and -1024 only.
        if mlkem is not None and spec != "ML_KEM_512":
            pub = serialization.load_der_public_key(spki)
            theirs, their_ct = pub.encapsulate()
            d = k.decapsulate(KeyId=md["KeyId"], EncapsulationAlgorithm="ML_KEM",
                              SharedSecretCiphertextBlob=their_ct)
            assert d["SharedSecret"] == theirs, spec
        d = k.decapsulate(KeyId=md["KeyId"], EncapsulationAlgorithm="ML_KEM",
                          SharedSecretCiphertextBlob=flip(ct, 5))
        assert d["SharedSecret"] != ss and len(d["SharedSecret"]) == 32
        assert error_code(k.decapsulate, KeyId=md["KeyId"], EncapsulationAlgorithm="ML_KEM",
                          SharedSecretCiphertextBlob=ct[:-1]) == "InvalidCiphertextException"


@case
def data_key_pairs_load_in_cryptography():
    wrapper = k.create_key()["KeyMetadata"]["KeyId"]
    der_spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for spec in ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
                 "ECC_NIST_EDWARDS25519"]:
        pair = k.generate_data_key_pair(KeyId=wrapper, KeyPairSpec=spec, EncryptionContext={"spec": spec})
        assert pair["KeyPairSpec"] == spec, pair["KeyPairSpec"]
        private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
        assert private.public_key().public_bytes(*der_spki) == pair["PublicKey"], spec
        opened = k.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], EncryptionContext={"spec": spec})
        assert opened["Plaintext"] == pair["PrivateKeyPlaintext"]
        # The private key signs, and the public key verifies it (all in `cryptography`).
        if isinstance(private, ed25519.Ed25519PrivateKey):
            private.public_key().verify(private.sign(b"pair"), b"pair")
        elif isinstance(private, ec.EllipticCurvePrivateKey):
            private.public_key().verify(private.sign(b"pair", ec.ECDSA(hashes.SHA256())), b"pair",
                                        ec.ECDSA(hashes.SHA256()))
        without = k.generate_data_key_pair_without_plaintext(KeyId=wrapper, KeyPairSpec=spec)
        assert "PrivateKeyPlaintext" not in without
        assert without["PublicKey"] != pair["PublicKey"]
        opened = k.decrypt(CiphertextBlob=without["PrivateKeyCiphertextBlob"])["Plaintext"]
        private = serialization.load_der_private_key(opened, password=None)
        assert private.public_key().public_bytes(*der_spki) == without["PublicKey"], spec
    # ML-KEM pairs. The IETF private key is a CHOICE: seed [0] (64 bytes; AWS documents "the
    # private key in seed format" for data key pairs), expandedKey (FIPS 203's decapsulation
    # key, an OCTET STRING) or both. An expanded key must hold the public key and its SHA3-256;
    # cryptography (seed form only, ML-KEM-768/1024) must read a seed and find the public key.
    for spec, kk in [("ML_KEM_512", 2), ("ML_KEM_768", 3), ("ML_KEM_1024", 4)]:
        pair = k.generate_data_key_pair(KeyId=wrapper, KeyPairSpec=spec)
        info, _ = der_read(pair["PrivateKeyPlaintext"], 0x30)
        version, rest = der_read(info, 0x02)
        assert version == b"\0"
        _alg, rest = der_read(rest, 0x30)
        private, _ = der_read(rest, 0x04)
        ek = spki_raw(pair["PublicKey"])
        seed = dk = None
        if private[0] == 0x80:
            seed, rest = der_read(private, 0x80)
        elif private[0] == 0x04:
            dk, rest = der_read(private, 0x04)
        else:
            both, rest = der_read(private, 0x30)
            seed, more = der_read(both, 0x04)
            dk, more = der_read(more, 0x04)
            assert more == b""
        assert rest == b"", spec
        if dk is not None:
            assert len(dk) == 768 * kk + 96, (spec, len(dk))
            assert dk[384 * kk:768 * kk + 32] == ek, spec
            assert dk[768 * kk + 32:768 * kk + 64] == hashlib.sha3_256(ek).digest(), spec
        if seed is None:
            print(f"boto3_asym: note: cofferd's {spec} data key pair has no seed (AWS documents the "
                  "seed form); checked as an expanded key")
        else:
            assert len(seed) == 64, (spec, len(seed))
            if mlkem is not None and spec != "ML_KEM_512":
                priv = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
                assert priv.public_key().public_bytes(*der_spki) == pair["PublicKey"], spec
    assert error_code(k.generate_data_key_pair, KeyId=wrapper, KeyPairSpec="SM2") \
        == "UnsupportedOperationException"


@case
def get_key_last_usage_reports_sign():
    md = create("ECC_NIST_P256", "SIGN_VERIFY")
    fresh = k.get_key_last_usage(KeyId=md["KeyId"])
    assert "KeyLastUsage" not in fresh or not fresh["KeyLastUsage"], fresh
    assert fresh["KeyId"] == md["Arn"]
    assert fresh["TrackingStartDate"] <= fresh["KeyCreationDate"], fresh
    k.sign(KeyId=md["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    used = k.get_key_last_usage(KeyId=md["KeyId"])["KeyLastUsage"]
    assert used["Operation"] == "Sign", used
    assert used.get("KmsRequestId") and used.get("CloudTrailEventId"), used


print(f"boto3_asym: {passed} passed, {len(failures)} failed")
if failures:
    print("boto3_asym: failed:", ", ".join(failures))
    sys.exit(1)
