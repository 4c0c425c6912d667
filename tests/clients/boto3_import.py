"""Imported key material ("bring your own key") with boto3 against cofferd, the material wrapped
here as AWS's developer guide shows: with Python's `cryptography` (RSA-OAEP with SHA-1 and
SHA-256; RSA_AES_KEY_WRAP as RSA-OAEP of a fresh AES-256 key followed by AES key wrap with
padding) and with the `openssl` command line (`pkeyutl` OAEP, `enc -id-aes256-wrap-pad`).
Every result that can be computed locally is: HMACs with Python's `hmac`, signatures verified
with `cryptography` and `openssl`, public keys compared byte for byte.

Usage: boto3_import.py PATH_TO_COFFERD

It starts its own cofferd (fresh data directory, request quotas disabled: GetParametersForImport
is limited to one call in four seconds per account by default) so it neither sleeps nor waits for
retries. Prints one line per check and `boto3_import: N passed, M failed`; exits 1 on a failure.
"""
import datetime
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback

import boto3
import botocore
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]


# ---------------------------------------------------------------------------------------------
# cofferd, started here with quotas off
# ---------------------------------------------------------------------------------------------

def start_cofferd(binary, work):
    data = os.path.join(work, "data")
    cfg = os.path.join(work, "cofferd.toml")
    with open(cfg, "w") as f:
        # JSON string quoting is valid TOML basic-string quoting for a path.
        f.write(f"data_dir = {json.dumps(data)}\n[quotas]\nenabled = false\n")
    os.chmod(cfg, 0o600)
    err = open(os.path.join(work, "cofferd.err"), "wb")
    proc = subprocess.Popen([binary, "--config", cfg, "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=err, text=True)
    first = proc.stdout.readline().strip()
    # Keep draining stdout so the server never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    prefix = "cofferd listening on "
    if not first.startswith(prefix):
        proc.kill()
        raise SystemExit(f"boto3 import: cofferd did not start: first line {first!r}")
    with open(os.path.join(data, "admin-credentials.json")) as f:
        creds = json.load(f)
    return proc, first[len(prefix):], creds


# ---------------------------------------------------------------------------------------------
# Wrapping, as a client does it
# ---------------------------------------------------------------------------------------------

def oaep(alg):
    h = hashes.SHA1() if alg.endswith("SHA_1") else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def wrap(alg, public_der, material):
    """`material` wrapped with `cryptography` for the wrapping public key `public_der`."""
    pub = serialization.load_der_public_key(public_der)
    if alg.startswith("RSAES_OAEP"):
        return pub.encrypt(material, oaep(alg))
    kek = os.urandom(32)
    return pub.encrypt(kek, oaep(alg)) + aes_key_wrap_with_padding(kek, material)


def openssl_wrap_pad_supported():
    if shutil.which("openssl") is None:
        return False
    out = subprocess.run(["openssl", "enc", "-list"], capture_output=True, text=True)
    return "-id-aes256-wrap-pad" in out.stdout.split()


def openssl_wrap(alg, public_der, material, work):
    """`material` wrapped with the openssl command line, as AWS's developer guide does it."""
    d = tempfile.mkdtemp(dir=work)
    p = lambda name: os.path.join(d, name)  # noqa: E731
    pem = serialization.load_der_public_key(public_der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(p("wrapping.pem"), "wb") as f:
        f.write(pem)
    with open(p("material.bin"), "wb") as f:
        f.write(material)
    md = "sha1" if alg.endswith("SHA_1") else "sha256"
    pkeyutl = ["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", p("wrapping.pem"),
               "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}",
               "-pkeyopt", f"rsa_mgf1_md:{md}"]
    if alg.startswith("RSAES_OAEP"):
        subprocess.run(pkeyutl + ["-in", p("material.bin"), "-out", p("wrapped.bin")], check=True)
        return open(p("wrapped.bin"), "rb").read()
    subprocess.run(["openssl", "rand", "-out", p("aes-key.bin"), "32"], check=True)
    kek_hex = open(p("aes-key.bin"), "rb").read().hex()
    subprocess.run(["openssl", "enc", "-id-aes256-wrap-pad", "-K", kek_hex, "-iv", "A65959A6",
                    "-in", p("material.bin"), "-out", p("material-wrapped.bin")], check=True)
    subprocess.run(pkeyutl + ["-in", p("aes-key.bin"), "-out", p("aes-key-wrapped.bin")], check=True)
    return open(p("aes-key-wrapped.bin"), "rb").read() + open(p("material-wrapped.bin"), "rb").read()


# ---------------------------------------------------------------------------------------------
# Helpers over boto3
# ---------------------------------------------------------------------------------------------

class Ctx:
    def __init__(self, kms, work):
        self.k = kms
        self.work = work

    def external_key(self, spec="SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT"):
        md = self.k.create_key(KeySpec=spec, KeyUsage=usage, Origin="EXTERNAL")["KeyMetadata"]
        assert md["Origin"] == "EXTERNAL", md
        assert md["KeyState"] == "PendingImport" and md["Enabled"] is False, md
        return md

    def params(self, key_id, alg="RSAES_OAEP_SHA_256", spec="RSA_2048"):
        return self.k.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=alg, WrappingKeySpec=spec)

    def import_wrapped(self, key_id, token, wrapped, valid_to=None):
        kw = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
        if valid_to is not None:
            kw = {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": valid_to}
        return self.k.import_key_material(KeyId=key_id, ImportToken=token, EncryptedKeyMaterial=wrapped, **kw)

    def import_material(self, key_id, material, alg="RSAES_OAEP_SHA_256", spec="RSA_2048", wrapper=None,
                        valid_to=None):
        p = self.params(key_id, alg, spec)
        wrapped = (wrapper or wrap)(alg, p["PublicKey"], material)
        return self.import_wrapped(key_id, p["ImportToken"], wrapped, valid_to)

    def describe(self, key_id):
        return self.k.describe_key(KeyId=key_id)["KeyMetadata"]


def error_code(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded where it should have failed")


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------

def symmetric_round_trip_with_every_wrapping_algorithm(c):
    md = c.external_key()
    kid = md["KeyId"]
    assert "ExpirationModel" not in md, md
    assert error_code(c.k.encrypt, KeyId=kid, Plaintext=b"x") == "KMSInvalidStateException"
    before = utcnow()
    p = c.params(kid, "RSAES_OAEP_SHA_256", "RSA_2048")
    after = utcnow()
    assert p["KeyId"] == md["Arn"], p
    # The parameters are valid for 24 hours; the public key is an RSA-2048 SubjectPublicKeyInfo.
    day, second = datetime.timedelta(hours=24), datetime.timedelta(seconds=1)
    assert before + day - second <= p["ParametersValidTo"] <= after + day + second, (before, p, after)
    assert serialization.load_der_public_key(p["PublicKey"]).key_size == 2048
    material = os.urandom(32)
    ids = set()
    specs = ["RSA_2048", "RSA_3072", "RSA_4096", "RSA_2048"]
    for alg, spec in zip(ALGORITHMS, specs):
        pk = c.params(kid, alg, spec)
        assert serialization.load_der_public_key(pk["PublicKey"]).key_size == int(spec[4:]), spec
        r = c.import_wrapped(kid, pk["ImportToken"], wrap(alg, pk["PublicKey"], material))
        assert r["KeyId"] == md["Arn"], r
        ids.add(r.get("KeyMaterialId"))
    assert len(ids) == 1, f"the same material got different ids: {ids}"
    d = c.describe(kid)
    assert d["KeyState"] == "Enabled" and d["Enabled"] is True and d["Origin"] == "EXTERNAL", d
    assert d["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in d, d
    plain = os.urandom(1000)
    ct = c.k.encrypt(KeyId=kid, Plaintext=plain, EncryptionContext={"byok": "yes"})["CiphertextBlob"]
    assert c.k.decrypt(CiphertextBlob=ct, EncryptionContext={"byok": "yes"})["Plaintext"] == plain
    dk = c.k.generate_data_key(KeyId=kid, KeySpec="AES_256")
    assert c.k.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]


def hmac_of_imported_material_equals_pythons(c):
    for spec, alg, size, digest in [("HMAC_224", "HMAC_SHA_224", 28, hashlib.sha224),
                                    ("HMAC_256", "HMAC_SHA_256", 40, hashlib.sha256),
                                    ("HMAC_384", "HMAC_SHA_384", 48, hashlib.sha384),
                                    ("HMAC_512", "HMAC_SHA_512", 64, hashlib.sha512)]:
        kid = c.external_key(spec, "GENERATE_VERIFY_MAC")["KeyId"]
        assert error_code(c.k.generate_mac, KeyId=kid, Message=b"m", MacAlgorithm=alg) == "KMSInvalidStateException"
        material = os.urandom(size)
        c.import_material(kid, material, "RSA_AES_KEY_WRAP_SHA_256" if size > 40 else "RSAES_OAEP_SHA_1")
        msg = b"order 4711 " + spec.encode()
        mac = c.k.generate_mac(KeyId=kid, Message=msg, MacAlgorithm=alg)["Mac"]
        local = hmac.new(material, msg, digest).digest()
        assert mac == local, (spec, mac.hex(), local.hex())
        v = c.k.verify_mac(KeyId=kid, Message=b"local", MacAlgorithm=alg,
                           Mac=hmac.new(material, b"local", digest).digest())
        assert v["MacValid"] is True, v
    # HMAC material shorter than the hash, or longer than 64 bytes: ValidationException.
    kid = c.external_key("HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
    for size in (31, 65):
        p = c.params(kid, "RSA_AES_KEY_WRAP_SHA_256")
        code = error_code(c.import_wrapped, key_id=kid, token=p["ImportToken"],
                          wrapped=wrap("RSA_AES_KEY_WRAP_SHA_256", p["PublicKey"], os.urandom(size)))
        assert code == "ValidationException", (size, code)
    assert c.describe(kid)["KeyState"] == "PendingImport"


def ec_p256_pkcs8_import_signs_verifiably(c):
    md = c.external_key("ECC_NIST_P256", "SIGN_VERIFY")
    kid = md["KeyId"]
    assert error_code(c.k.sign, KeyId=kid, Message=b"m", SigningAlgorithm="ECDSA_SHA_256") == "KMSInvalidStateException"
    assert error_code(c.k.get_public_key, KeyId=kid) == "KMSInvalidStateException"
    local = ec.generate_private_key(ec.SECP256R1())
    der = local.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    c.import_material(kid, der, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    spki = local.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    pub = c.k.get_public_key(KeyId=kid)
    assert pub["PublicKey"] == spki and pub["KeySpec"] == "ECC_NIST_P256", pub
    msg = b"release 1.0"
    sig = c.k.sign(KeyId=kid, Message=msg, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    local.public_key().verify(sig, msg, ec.ECDSA(hashes.SHA256()))  # raises if invalid
    digest = hashlib.sha256(b"by digest").digest()
    sig = c.k.sign(KeyId=kid, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    local.public_key().verify(sig, b"by digest", ec.ECDSA(hashes.SHA256()))
    # A signature made here verifies in cofferd.
    mine = local.sign(b"made here", ec.ECDSA(hashes.SHA256()))
    v = c.k.verify(KeyId=kid, Message=b"made here", Signature=mine, SigningAlgorithm="ECDSA_SHA_256")
    assert v["SignatureValid"] is True, v
    # A P-384 key is not material for a P-256 key; nor is the P-256 key for another P-256 key
    # that already has its own material.
    other = c.external_key("ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    p = c.params(other, "RSA_AES_KEY_WRAP_SHA_256")
    assert error_code(c.import_wrapped, key_id=other, token=p["ImportToken"],
                      wrapped=wrap("RSA_AES_KEY_WRAP_SHA_256", p["PublicKey"], p384)) == "ValidationException"
    p = c.params(kid, "RSA_AES_KEY_WRAP_SHA_1")
    fresh = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert error_code(c.import_wrapped, key_id=kid, token=p["ImportToken"],
                      wrapped=wrap("RSA_AES_KEY_WRAP_SHA_1", p["PublicKey"], fresh)) == "IncorrectKeyMaterialException"


def pkcs8(key):
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def spki(public):
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def other_asymmetric_material_matches_local_keys(c):
    """P-384, P-521, secp256k1 and Ed25519 signing keys, an ECDH key agreement key and an RSA
    decryption key, all made by `cryptography`: cofferd's results check out locally."""
    for spec, curve, alg, h in [("ECC_NIST_P384", ec.SECP384R1(), "ECDSA_SHA_384", hashes.SHA384()),
                                ("ECC_NIST_P521", ec.SECP521R1(), "ECDSA_SHA_512", hashes.SHA512()),
                                ("ECC_SECG_P256K1", ec.SECP256K1(), "ECDSA_SHA_256", hashes.SHA256())]:
        kid = c.external_key(spec, "SIGN_VERIFY")["KeyId"]
        local = ec.generate_private_key(curve)
        c.import_material(kid, pkcs8(local), "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048")
        assert c.k.get_public_key(KeyId=kid)["PublicKey"] == spki(local.public_key()), spec
        sig = c.k.sign(KeyId=kid, Message=b"curves", SigningAlgorithm=alg)["Signature"]
        local.public_key().verify(sig, b"curves", ec.ECDSA(h))
    kid = c.external_key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["KeyId"]
    ed = ed25519.Ed25519PrivateKey.generate()
    c.import_material(kid, pkcs8(ed), "RSA_AES_KEY_WRAP_SHA_256")
    assert c.k.get_public_key(KeyId=kid)["PublicKey"] == spki(ed.public_key())
    sig = c.k.sign(KeyId=kid, Message=b"edwards", MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")["Signature"]
    ed.public_key().verify(sig, b"edwards")
    # ECDH: cofferd's shared secret with a peer equals the one computed here.
    kid = c.external_key("ECC_NIST_P256", "KEY_AGREEMENT")["KeyId"]
    mine = ec.generate_private_key(ec.SECP256R1())
    c.import_material(kid, pkcs8(mine), "RSA_AES_KEY_WRAP_SHA_256")
    peer = ec.generate_private_key(ec.SECP256R1())
    shared = c.k.derive_shared_secret(KeyId=kid, KeyAgreementAlgorithm="ECDH",
                                      PublicKey=spki(peer.public_key()))["SharedSecret"]
    assert shared == peer.exchange(ec.ECDH(), mine.public_key())
    # RSA-3072 decryption: a ciphertext made here decrypts in cofferd, and cofferd's decrypts here.
    kid = c.external_key("RSA_3072", "ENCRYPT_DECRYPT")["KeyId"]
    key = rsa.generate_private_key(65537, 3072)
    c.import_material(kid, pkcs8(key), "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
    for alg in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
        ct = key.public_key().encrypt(b"made here " + alg.encode(), oaep(alg))
        out = c.k.decrypt(KeyId=kid, CiphertextBlob=ct, EncryptionAlgorithm=alg)
        assert out["Plaintext"] == b"made here " + alg.encode(), out
        ct = c.k.encrypt(KeyId=kid, Plaintext=b"from cofferd", EncryptionAlgorithm=alg)["CiphertextBlob"]
        assert key.decrypt(ct, oaep(alg)) == b"from cofferd"


def old_ciphertexts_decrypt_after_delete_and_reimport(c):
    kid = c.external_key()["KeyId"]
    material = os.urandom(32)
    first = c.import_material(kid, material)["KeyMaterialId"]
    ct = c.k.encrypt(KeyId=kid, Plaintext=b"kept across a re-import")["CiphertextBlob"]
    deleted = c.k.delete_imported_key_material(KeyId=kid)
    assert deleted.get("KeyMaterialId", first) == first, deleted
    d = c.describe(kid)
    assert d["KeyState"] == "PendingImport" and d["Enabled"] is False and "ExpirationModel" not in d, d
    assert error_code(c.k.decrypt, CiphertextBlob=ct) == "KMSInvalidStateException"
    assert error_code(c.k.encrypt, KeyId=kid, Plaintext=b"x") == "KMSInvalidStateException"
    # Other material: IncorrectKeyMaterialException, and the key still waits.
    assert error_code(c.import_material, key_id=kid, material=os.urandom(32)) == "IncorrectKeyMaterialException"
    assert c.describe(kid)["KeyState"] == "PendingImport"
    # The same material, by another wrapping algorithm, now with an expiry: the old ciphertext
    # decrypts again, and DescribeKey shows the expiry.
    valid_to = (utcnow() + datetime.timedelta(days=30)).replace(microsecond=0)
    again = c.import_material(kid, material, "RSA_AES_KEY_WRAP_SHA_1", "RSA_4096", valid_to=valid_to)
    assert again["KeyMaterialId"] == first, again
    assert c.k.decrypt(CiphertextBlob=ct)["Plaintext"] == b"kept across a re-import"
    d = c.describe(kid)
    assert d["KeyState"] == "Enabled" and d["ExpirationModel"] == "KEY_MATERIAL_EXPIRES", d
    assert abs((d["ValidTo"] - valid_to).total_seconds()) < 1, (d["ValidTo"], valid_to)


def import_errors(c):
    a = c.external_key()["KeyId"]
    b = c.external_key()["KeyId"]
    pa = c.params(a)
    good = wrap("RSAES_OAEP_SHA_256", pa["PublicKey"], os.urandom(32))
    # A's token on B: InvalidImportTokenException; a damaged token too.
    assert error_code(c.import_wrapped, key_id=b, token=pa["ImportToken"], wrapped=good) == "InvalidImportTokenException"
    bad = bytearray(pa["ImportToken"])
    bad[len(bad) // 2] ^= 1
    assert error_code(c.import_wrapped, key_id=a, token=bytes(bad), wrapped=good) == "InvalidImportTokenException"
    # Material wrapped for B's wrapping key, or with the other OAEP hash, or damaged:
    # InvalidCiphertextException.
    pb = c.params(b)
    for_b = wrap("RSAES_OAEP_SHA_256", pb["PublicKey"], os.urandom(32))
    assert error_code(c.import_wrapped, key_id=a, token=pa["ImportToken"], wrapped=for_b) == "InvalidCiphertextException"
    sha1 = wrap("RSAES_OAEP_SHA_1", pa["PublicKey"], os.urandom(32))
    assert error_code(c.import_wrapped, key_id=a, token=pa["ImportToken"], wrapped=sha1) == "InvalidCiphertextException"
    pk = c.params(a, "RSA_AES_KEY_WRAP_SHA_256")
    kw = bytearray(wrap("RSA_AES_KEY_WRAP_SHA_256", pk["PublicKey"], os.urandom(32)))
    kw[-1] ^= 1
    assert error_code(c.import_wrapped, key_id=a, token=pk["ImportToken"], wrapped=bytes(kw)) == "InvalidCiphertextException"
    # Symmetric material of the wrong size: ValidationException.
    for size in (16, 31, 33, 64):
        short = wrap("RSAES_OAEP_SHA_256", pa["PublicKey"], os.urandom(size))
        code = error_code(c.import_wrapped, key_id=a, token=pa["ImportToken"], wrapped=short)
        assert code == "ValidationException", (size, code)
    # ValidTo: required with KEY_MATERIAL_EXPIRES, at most 365 days ahead, in the future,
    # refused with KEY_MATERIAL_DOES_NOT_EXPIRE.
    for kw in [{"ExpirationModel": "KEY_MATERIAL_EXPIRES"},
               {},
               {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": utcnow() + datetime.timedelta(days=366)},
               {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": utcnow() - datetime.timedelta(hours=1)},
               {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": utcnow() + datetime.timedelta(days=1)}]:
        code = error_code(c.k.import_key_material, KeyId=a, ImportToken=pa["ImportToken"],
                          EncryptedKeyMaterial=good, **kw)
        assert code == "ValidationException", (kw, code)
    assert c.describe(a)["KeyState"] == "PendingImport"
    # ValidTo without ExpirationModel: the default model, KEY_MATERIAL_EXPIRES.
    c.k.import_key_material(KeyId=a, ImportToken=pa["ImportToken"], EncryptedKeyMaterial=good,
                            ValidTo=utcnow() + datetime.timedelta(days=2))
    assert c.describe(a)["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    # About 365 days ahead is accepted (the same material again changes only the expiry).
    valid_to = (utcnow() + datetime.timedelta(days=364, hours=23)).replace(microsecond=0)
    c.import_wrapped(a, pa["ImportToken"], good, valid_to=valid_to)
    d = c.describe(a)
    assert d["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and abs((d["ValidTo"] - valid_to).total_seconds()) < 1, d
    # Wrapping algorithms: PKCS #1 v1.5 is refused, RSA material needs RSA_AES_KEY_WRAP.
    assert error_code(c.params, key_id=b, alg="RSAES_PKCS1_V1_5") == "ValidationException"
    rsa = c.external_key("RSA_2048", "SIGN_VERIFY")["KeyId"]
    for alg in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
        assert error_code(c.params, key_id=rsa, alg=alg) == "ValidationException", alg
    c.params(rsa, "RSA_AES_KEY_WRAP_SHA_256")
    # Keys of origin AWS_KMS have no parameters and take no material.
    own = c.k.create_key()["KeyMetadata"]["KeyId"]
    assert error_code(c.params, key_id=own) == "UnsupportedOperationException"
    assert error_code(c.k.delete_imported_key_material, KeyId=own) == "UnsupportedOperationException"
    assert error_code(c.import_wrapped, key_id=own, token=pa["ImportToken"], wrapped=good) == "UnsupportedOperationException"
    # A key waiting for material cannot be used, enabled or rotated.
    assert error_code(c.k.encrypt, KeyId=b, Plaintext=b"x") == "KMSInvalidStateException"
    assert error_code(c.k.generate_data_key, KeyId=b, KeySpec="AES_256") == "KMSInvalidStateException"
    assert error_code(c.k.enable_key, KeyId=b) == "KMSInvalidStateException"


def openssl_wrapped_material(c):
    """The developer guide's openssl commands: RSAES_OAEP_SHA_256 and SHA_1 for symmetric
    material, RSA_AES_KEY_WRAP_SHA_256 (`enc -id-aes256-wrap-pad`) for HMAC material and for an
    RSA private key made by `openssl genpkey`."""
    w = lambda alg, pub, m: openssl_wrap(alg, pub, m, c.work)  # noqa: E731
    # Symmetric: openssl's wrapping and cryptography's carry the same material (the re-import
    # with the other wrapper is accepted and the old ciphertext decrypts).
    kid = c.external_key()["KeyId"]
    material = os.urandom(32)
    c.import_material(kid, material, "RSAES_OAEP_SHA_256", "RSA_2048", wrapper=w)
    ct = c.k.encrypt(KeyId=kid, Plaintext=b"wrapped by openssl")["CiphertextBlob"]
    c.k.delete_imported_key_material(KeyId=kid)
    c.import_material(kid, material, "RSAES_OAEP_SHA_256", "RSA_3072")
    assert c.k.decrypt(CiphertextBlob=ct)["Plaintext"] == b"wrapped by openssl"
    c.k.delete_imported_key_material(KeyId=kid)
    c.import_material(kid, material, "RSAES_OAEP_SHA_1", "RSA_4096", wrapper=w)
    assert c.k.decrypt(CiphertextBlob=ct)["Plaintext"] == b"wrapped by openssl"
    if not openssl_wrap_pad_supported():
        print("  note: this openssl has no -id-aes256-wrap-pad; the RSA_AES_KEY_WRAP openssl checks did not run")
        return
    # HMAC_512 material wrapped with RSA_AES_KEY_WRAP_SHA_256 by openssl: Python's hmac agrees.
    hk = c.external_key("HMAC_512", "GENERATE_VERIFY_MAC")["KeyId"]
    hm = os.urandom(64)
    c.import_material(hk, hm, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096", wrapper=w)
    mac = c.k.generate_mac(KeyId=hk, Message=b"openssl", MacAlgorithm="HMAC_SHA_512")["Mac"]
    assert mac == hmac.new(hm, b"openssl", hashlib.sha512).digest()
    # An RSA-2048 private key from `openssl genpkey` (PKCS#8 DER): signatures verify with
    # `openssl dgst -verify`, and GetPublicKey is openssl's public key.
    d = tempfile.mkdtemp(dir=c.work)
    p = lambda name: os.path.join(d, name)  # noqa: E731
    # As the guide does: genpkey, then `pkcs8 -topk8` (OpenSSL 3's `genpkey -outform DER` writes
    # PKCS #1, which is not import material: refused below).
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", p("private.pem")], check=True, capture_output=True)
    subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-inform", "PEM", "-in", p("private.pem"),
                    "-outform", "DER", "-out", p("private.der")], check=True)
    subprocess.run(["openssl", "rsa", "-traditional", "-in", p("private.pem"), "-outform", "DER",
                    "-out", p("pkcs1.der")], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", p("private.der"), "-pubout",
                    "-outform", "DER", "-out", p("public.der")], check=True)
    subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", p("public.der"), "-pubin",
                    "-pubout", "-out", p("public.pem")], check=True)
    rk = c.external_key("RSA_2048", "SIGN_VERIFY")["KeyId"]
    assert error_code(c.import_material, key_id=rk, material=open(p("pkcs1.der"), "rb").read(),
                      alg="RSA_AES_KEY_WRAP_SHA_256", wrapper=w) == "ValidationException"
    c.import_material(rk, open(p("private.der"), "rb").read(), "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072", wrapper=w)
    assert c.k.get_public_key(KeyId=rk)["PublicKey"] == open(p("public.der"), "rb").read()
    with open(p("msg.txt"), "wb") as f:
        f.write(b"signed by an imported openssl key")
    for alg, extra in [("RSASSA_PKCS1_V1_5_SHA_256", []),
                       ("RSASSA_PSS_SHA_256", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"])]:
        sig = c.k.sign(KeyId=rk, Message=b"signed by an imported openssl key", SigningAlgorithm=alg)["Signature"]
        with open(p("sig.bin"), "wb") as f:
            f.write(sig)
        out = subprocess.run(["openssl", "dgst", "-sha256", "-verify", p("public.pem"), *extra,
                              "-signature", p("sig.bin"), p("msg.txt")], capture_output=True, text=True)
        assert out.returncode == 0 and "Verified OK" in out.stdout, (alg, out.stdout, out.stderr)


CHECKS = [
    symmetric_round_trip_with_every_wrapping_algorithm,
    hmac_of_imported_material_equals_pythons,
    ec_p256_pkcs8_import_signs_verifiably,
    other_asymmetric_material_matches_local_keys,
    old_ciphertexts_decrypt_after_delete_and_reimport,
    import_errors,
]


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: boto3_import.py PATH_TO_COFFERD")
    work = tempfile.mkdtemp(prefix="coffer-boto3-import-")
    proc = None
    try:
        proc, endpoint, creds = start_cofferd(sys.argv[1], work)
        kms = boto3.client("kms", endpoint_url=endpoint, region_name=creds["region"],
                           aws_access_key_id=creds["access_key_id"],
                           aws_secret_access_key=creds["secret_access_key"],
                           config=Config(retries={"total_max_attempts": 1}))
        c = Ctx(kms, work)
        checks = list(CHECKS)
        if shutil.which("openssl") is None:
            print("  note: no openssl command; the openssl-wrapped checks did not run")
        else:
            checks.append(openssl_wrapped_material)
        passed = failed = 0
        for check in checks:
            try:
                check(c)
                passed += 1
                print(f"  ok   {check.__name__}")
            except Exception:  # noqa: BLE001 -- every failure is reported, then counted
                failed += 1
                print(f"  FAIL {check.__name__}")
                traceback.print_exc()
        print(f"boto3_import: {passed} passed, {failed} failed")
        if failed:
            with open(os.path.join(work, "cofferd.err")) as f:
                sys.stderr.write(f.read()[-4000:])
            sys.exit(1)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
