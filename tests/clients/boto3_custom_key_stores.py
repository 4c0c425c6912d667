"""Custom key stores (AWS_CLOUDHSM) with boto3 against a cofferd whose configuration file names
SoftHSM2 tokens as [[hsm_clusters]] (a token directory and a SOFTHSM2_CONF of its own, made
here with softhsm2-util; a self-signed trust anchor made with the `cryptography` package).

Covers CreateCustomKeyStore (and its refusals: unknown cluster, wrong trust anchor, a name in
use, a short password, EXTERNAL_KEY_STORE), DescribeCustomKeyStores (by id, by name, paging),
ConnectCustomKeyStore, CreateKey in the store (Origin AWS_CLOUDHSM, CustomKeyStoreId and
CloudHsmClusterId in KeyMetadata), Encrypt/Decrypt/GenerateDataKey with it,
DisconnectCustomKeyStore (the key Unavailable, Encrypt refused with KMSInvalidStateException),
reconnection (old ciphertext decrypts), UpdateCustomKeyStore (rename while connected, password
only while disconnected), a wrong password (FAILED, INVALID_CREDENTIALS), ScheduleKeyDeletion
and DeleteCustomKeyStore (refused while it has keys), another account refused.

Usage: boto3_custom_key_stores.py PATH_TO_COFFERD
Prints one line per check and `boto3_custom_key_stores: N passed, M failed`; exits 1 on a
failure. Skips (exit 0, saying so) when SoftHSM2 is not installed.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

import boto3
import botocore.exceptions
from botocore.config import Config

from _common import EVERYTHING, admin_call, spawn_cofferd

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
PIN = "boto3-user-pin"
CLUSTER = "cluster-boto3token001"
CLUSTER2 = "cluster-boto3token002"


def trust_anchor():
    """A self-signed certificate (PEM) to configure as the first cluster's trust anchor."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coffer boto3 trust anchor")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def expect(code, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{call.__name__}: {got}, expected {code}"
        return e
    raise AssertionError(f"{call.__name__} succeeded where it should have failed")


class Cofferd:
    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.data = os.path.join(work, "data")
        tokens = os.path.join(work, "tokens")
        os.makedirs(tokens)
        self.softhsm_conf = os.path.join(work, "softhsm2.conf")
        with open(self.softhsm_conf, "w") as f:
            f.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
        env = dict(os.environ, SOFTHSM2_CONF=self.softhsm_conf)
        for label in ("boto3-cks-1", "boto3-cks-2"):
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                            "--pin", PIN, "--so-pin", "7654321"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        self.anchor = trust_anchor()
        anchor_file = os.path.join(work, "anchor.pem")
        with open(anchor_file, "w") as f:
            f.write(self.anchor)
        cfg = os.path.join(work, "cofferd.toml")
        with open(cfg, "w") as f:
            # JSON string quoting is valid TOML basic-string quoting.
            f.write(f"data_dir = {json.dumps(self.data)}\nregion = {json.dumps(REGION)}\n"
                    f"account_id = {json.dumps(ACCOUNT)}\nlisten = \"127.0.0.1:0\"\n"
                    "[quotas]\nenabled = false\n"
                    f"[[hsm_clusters]]\nid = {json.dumps(CLUSTER)}\nmodule = {json.dumps(MODULE)}\n"
                    f"token_label = \"boto3-cks-1\"\ntrust_anchor = {json.dumps(anchor_file)}\n"
                    f"[[hsm_clusters]]\nid = {json.dumps(CLUSTER2)}\n"
                    f"module = {json.dumps(MODULE)}\ntoken_label = \"boto3-cks-2\"\n")
        os.chmod(cfg, 0o600)
        self.proc, self.endpoint, self.admin_creds = spawn_cofferd(
            binary, ["--config", cfg], self.data, os.path.join(work, "cofferd.err"),
            "boto3_custom_key_stores", env)

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def admin(self, op, body):
        return admin_call(self.endpoint, self.admin_creds, REGION, op, body)

    def client(self, principal=None, policy=EVERYTHING):
        if principal is None:
            key, secret = self.admin_creds.access_key, self.admin_creds.secret_key
        else:
            status, cred = self.admin("CreateCredential",
                                      {"PrincipalArn": principal, "IdentityPolicies": [policy]})
            assert status == 200, cred
            key, secret = cred["AccessKeyId"], cred["SecretAccessKey"]
        return boto3.client("kms", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            config=Config(retries={"max_attempts": 1}))


def main():
    if not (os.path.exists(MODULE) and shutil.which("softhsm2-util")):
        print("boto3_custom_key_stores: SoftHSM2 is not installed; skipped")
        sys.exit(0)
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="boto3-cks-")
    srv = Cofferd(binary, work)
    passed, failed = [], []
    try:
        kms = srv.client()
        state = {}

        def check(name, fn):
            try:
                fn()
                passed.append(name)
                print(f"ok   {name}")
            except Exception:  # noqa: BLE001 - every failure is reported, then counted
                failed.append(name)
                print(f"FAIL {name}")
                traceback.print_exc()

        def entry(store_id):
            stores = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"]
            assert len(stores) == 1, stores
            return stores[0]

        def create():
            out = kms.create_custom_key_store(
                CustomKeyStoreName="payments", CloudHsmClusterId=CLUSTER,
                TrustAnchorCertificate=srv.anchor, KeyStorePassword=PIN)
            sid = out["CustomKeyStoreId"]
            assert sid.startswith("cks-") and len(sid) == 21, sid
            state["store"] = sid
            e = entry(sid)
            assert e["CustomKeyStoreName"] == "payments", e
            assert e["CloudHsmClusterId"] == CLUSTER, e
            assert e["ConnectionState"] == "DISCONNECTED", e
            assert e["CustomKeyStoreType"] == "AWS_CLOUDHSM", e
            assert e["TrustAnchorCertificate"] == srv.anchor, e
            assert "KeyStorePassword" not in e
            by_name = kms.describe_custom_key_stores(CustomKeyStoreName="payments")
            assert [s["CustomKeyStoreId"] for s in by_name["CustomKeyStores"]] == [sid]

        def refusals():
            expect("CloudHsmClusterNotFoundException", kms.create_custom_key_store,
                   CustomKeyStoreName="x", CloudHsmClusterId="cluster-000000000000",
                   TrustAnchorCertificate=srv.anchor, KeyStorePassword=PIN)
            expect("IncorrectTrustAnchorException", kms.create_custom_key_store,
                   CustomKeyStoreName="x", CloudHsmClusterId=CLUSTER2,
                   TrustAnchorCertificate="not a certificate", KeyStorePassword=PIN)
            expect("CustomKeyStoreNameInUseException", kms.create_custom_key_store,
                   CustomKeyStoreName="payments", CloudHsmClusterId=CLUSTER2,
                   TrustAnchorCertificate=srv.anchor, KeyStorePassword=PIN)
            expect("CloudHsmClusterInUseException", kms.create_custom_key_store,
                   CustomKeyStoreName="again", CloudHsmClusterId=CLUSTER,
                   TrustAnchorCertificate=srv.anchor, KeyStorePassword=PIN)
            e = expect("UnsupportedOperationException", kms.create_custom_key_store,
                       CustomKeyStoreName="xks", CustomKeyStoreType="EXTERNAL_KEY_STORE",
                       XksProxyUriEndpoint="https://xks.example.com",
                       XksProxyConnectivity="PUBLIC_ENDPOINT")
            assert PIN not in str(e.response)
            expect("CustomKeyStoreNotFoundException", kms.connect_custom_key_store,
                   CustomKeyStoreId="cks-00000000000000000")

        def connect_and_use():
            kms.connect_custom_key_store(CustomKeyStoreId=state["store"])
            assert entry(state["store"])["ConnectionState"] == "CONNECTED"
            md = kms.create_key(Origin="AWS_CLOUDHSM",
                                CustomKeyStoreId=state["store"])["KeyMetadata"]
            assert md["Origin"] == "AWS_CLOUDHSM", md
            assert md["CustomKeyStoreId"] == state["store"], md
            assert md["CloudHsmClusterId"] == CLUSTER, md
            assert md["KeyState"] == "Enabled", md
            state["key"] = md["KeyId"]
            blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"in the token",
                               EncryptionContext={"k": "v"})["CiphertextBlob"]
            state["blob"] = blob
            out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})
            assert out["Plaintext"] == b"in the token" and out["KeyId"] == md["Arn"], out
            expect("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob)
            dk = kms.generate_data_key(KeyId=md["KeyId"], NumberOfBytes=32)
            assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
            expect("UnsupportedOperationException", kms.enable_key_rotation, KeyId=md["KeyId"])

        def disconnect_and_reconnect():
            sid, key = state["store"], state["key"]
            kms.disconnect_custom_key_store(CustomKeyStoreId=sid)
            assert entry(sid)["ConnectionState"] == "DISCONNECTED"
            assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Unavailable"
            expect("KMSInvalidStateException", kms.encrypt, KeyId=key, Plaintext=b"x")
            expect("CustomKeyStoreInvalidStateException", kms.create_key,
                   Origin="AWS_CLOUDHSM", CustomKeyStoreId=sid)
            expect("CustomKeyStoreInvalidStateException", kms.disconnect_custom_key_store,
                   CustomKeyStoreId=sid)
            kms.connect_custom_key_store(CustomKeyStoreId=sid)
            out = kms.decrypt(CiphertextBlob=state["blob"], EncryptionContext={"k": "v"})
            assert out["Plaintext"] == b"in the token"

        def update():
            sid = state["store"]
            kms.update_custom_key_store(CustomKeyStoreId=sid, NewCustomKeyStoreName="renamed")
            assert entry(sid)["CustomKeyStoreName"] == "renamed"
            expect("CustomKeyStoreInvalidStateException", kms.update_custom_key_store,
                   CustomKeyStoreId=sid, KeyStorePassword="another-pin")

        def wrong_password():
            sid = kms.create_custom_key_store(
                CustomKeyStoreName="wrong", CloudHsmClusterId=CLUSTER2,
                TrustAnchorCertificate=srv.anchor, KeyStorePassword="not-the-pin")[
                    "CustomKeyStoreId"]
            kms.connect_custom_key_store(CustomKeyStoreId=sid)
            e = entry(sid)
            assert e["ConnectionState"] == "FAILED", e
            assert e["ConnectionErrorCode"] == "INVALID_CREDENTIALS", e
            expect("CustomKeyStoreInvalidStateException", kms.connect_custom_key_store,
                   CustomKeyStoreId=sid)
            kms.disconnect_custom_key_store(CustomKeyStoreId=sid)
            kms.update_custom_key_store(CustomKeyStoreId=sid, KeyStorePassword=PIN)
            kms.connect_custom_key_store(CustomKeyStoreId=sid)
            assert entry(sid)["ConnectionState"] == "CONNECTED"
            kms.disconnect_custom_key_store(CustomKeyStoreId=sid)
            kms.delete_custom_key_store(CustomKeyStoreId=sid)
            expect("CustomKeyStoreNotFoundException", kms.describe_custom_key_stores,
                   CustomKeyStoreId=sid)

        def paging():
            page = kms.describe_custom_key_stores(Limit=1)
            assert len(page["CustomKeyStores"]) == 1 and not page["Truncated"], page

        def other_account():
            mallory = srv.client(f"arn:aws:iam::{OTHER}:user/mallory")
            assert mallory.describe_custom_key_stores()["CustomKeyStores"] == []
            expect("CustomKeyStoreNotFoundException", mallory.disconnect_custom_key_store,
                   CustomKeyStoreId=state["store"])
            bob = srv.client(f"arn:aws:iam::{ACCOUNT}:user/bob", json.dumps(
                {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]}))
            expect("AccessDeniedException", bob.describe_custom_key_stores)
            expect("AccessDeniedException", bob.disconnect_custom_key_store,
                   CustomKeyStoreId=state["store"])

        def deletion():
            sid, key = state["store"], state["key"]
            s = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
            assert s["KeyState"] == "PendingDeletion", s
            expect("CustomKeyStoreInvalidStateException", kms.delete_custom_key_store,
                   CustomKeyStoreId=sid)
            kms.disconnect_custom_key_store(CustomKeyStoreId=sid)
            expect("CustomKeyStoreHasCMKsException", kms.delete_custom_key_store,
                   CustomKeyStoreId=sid)

        for name, fn in [("CreateCustomKeyStore", create), ("refusals", refusals),
                         ("connect, CreateKey, Encrypt/Decrypt/GenerateDataKey", connect_and_use),
                         ("disconnect and reconnect", disconnect_and_reconnect),
                         ("UpdateCustomKeyStore", update),
                         ("wrong password is FAILED/INVALID_CREDENTIALS", wrong_password),
                         ("DescribeCustomKeyStores paging", paging),
                         ("another account, a principal without permission", other_account),
                         ("ScheduleKeyDeletion, DeleteCustomKeyStore refused", deletion)]:
            check(name, fn)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"boto3_custom_key_stores: {len(passed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
