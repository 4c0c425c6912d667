"""Multi-Region keys with boto3 against two cofferd processes, each its own region (us-east-1 and
eu-west-1) and data directory, configured with each other as peers by their configuration
files' [[peers]] tables (endpoint and a credential file of the other cofferd, whose identity
policy allows coffer:AcceptReplica; CofferAdmin calls signed here with botocore's SigV4).

Covers CreateKey MultiRegion (mrk- ids, MultiRegionConfiguration), ReplicateKey (its members
and answer), DescribeKey in both regions, a ciphertext of one region decrypting in the other,
RotateKeyOnDemand of the primary reaching the replica, UpdatePrimaryRegion, ScheduleKeyDeletion
of a primary with replicas (PendingReplicaDeletion, no DeletionDate) and of a replica, and the
refusals (ReplicateKey of a single-Region key, to an unknown region, of a replica).

Usage: boto3_multi_region.py PATH_TO_COFFERD
Prints one line per check and `boto3_multi_region: N passed, M failed`; exits 1 on a failure.
"""
import json
import os
import shutil
import sys
import tempfile
import traceback

import boto3
from botocore.config import Config

from _common import EVERYTHING, admin_call, error_code, spawn_cofferd

ACCOUNT = "111122223333"
ACCEPT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "coffer:AcceptReplica", "Resource": "*"}]})


class Region:
    """A cofferd of one region on a port of its own; restartable with peers."""

    def __init__(self, binary, work, name, port):
        self.binary, self.name, self.port = binary, name, port
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc = None
        self.peers = []

    def start(self):
        cfg = os.path.join(self.dir, "cofferd.toml")
        with open(cfg, "w") as f:
            # JSON string quoting is valid TOML basic-string quoting.
            f.write(f"data_dir = {json.dumps(self.data)}\nregion = {json.dumps(self.name)}\n"
                    f"account_id = {json.dumps(ACCOUNT)}\n"
                    f"listen = {json.dumps('127.0.0.1:' + str(self.port))}\n"
                    "[quotas]\nenabled = false\n[maintenance]\ninterval_secs = 1\n")
            for region, endpoint, creds in self.peers:
                f.write(f"[[peers]]\nregion = {json.dumps(region)}\n"
                        f"endpoint = {json.dumps(endpoint)}\n"
                        f"credentials_file = {json.dumps(creds)}\n")
        os.chmod(cfg, 0o600)
        self.proc, _, self.admin_creds = spawn_cofferd(
            self.binary, ["--config", cfg], self.data, os.path.join(self.dir, "cofferd.err"),
            f"boto3_multi_region ({self.name})")

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def admin(self, op, body):
        return admin_call(self.endpoint, self.admin_creds, self.name, op, body)

    def credential(self, principal, policy):
        status, cred = self.admin("CreateCredential",
                                  {"PrincipalArn": principal, "IdentityPolicies": [policy]})
        assert status == 200, cred
        return cred

    def credential_file(self, principal, policy):
        """A credential of this region written to a 0600 file, as a peer's config names it."""
        cred = self.credential(principal, policy)
        path = os.path.join(self.dir, "peer-credential.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"access_key_id": cred["AccessKeyId"],
                       "secret_access_key": cred["SecretAccessKey"], "region": self.name}, f)
        return path

    def client(self, cred):
        return boto3.client("kms", endpoint_url=self.endpoint, region_name=self.name,
                            aws_access_key_id=cred["AccessKeyId"],
                            aws_secret_access_key=cred["SecretAccessKey"],
                            config=Config(retries={"max_attempts": 1}))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port




def main():
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="boto3-mrk-")
    a = Region(binary, work, "us-east-1", free_port())
    b = Region(binary, work, "eu-west-1", free_port())
    passed, failed = [], []
    try:
        # Each region gets a credential of the other; then both start with their peers.
        b.start()
        a.start()
        b_file = b.credential_file(f"arn:aws:iam::{ACCOUNT}:role/replicator", ACCEPT)
        a_file = a.credential_file(f"arn:aws:iam::{ACCOUNT}:role/replicator", ACCEPT)
        a.stop()
        b.stop()
        a.peers = [("eu-west-1", b.endpoint, b_file)]
        b.peers = [("us-east-1", a.endpoint, a_file)]
        a.start()
        b.start()
        alice = f"arn:aws:iam::{ACCOUNT}:user/alice"
        ka = a.client(a.credential(alice, EVERYTHING))
        kb = b.client(b.credential(alice, EVERYTHING))
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

        def create():
            md = ka.create_key(MultiRegion=True, Description="global")["KeyMetadata"]
            assert md["KeyId"].startswith("mrk-") and len(md["KeyId"]) == 36, md
            assert md["MultiRegion"] is True
            conf = md["MultiRegionConfiguration"]
            assert conf["MultiRegionKeyType"] == "PRIMARY", conf
            assert conf["PrimaryKey"] == {"Arn": md["Arn"], "Region": "us-east-1"}, conf
            assert conf["ReplicaKeys"] == [], conf
            single = ka.create_key()["KeyMetadata"]
            assert single["MultiRegion"] is False and "MultiRegionConfiguration" not in single
            state.update(key=md["KeyId"], arn=md["Arn"], single=single["KeyId"])
            state["blob"] = ka.encrypt(KeyId=md["KeyId"], Plaintext=b"made in us-east-1")[
                "CiphertextBlob"]

        def replicate():
            out = ka.replicate_key(KeyId=state["key"], ReplicaRegion="eu-west-1",
                                   Description="the Dublin copy",
                                   Tags=[{"TagKey": "site", "TagValue": "dub"}])
            md = out["ReplicaKeyMetadata"]
            assert md["KeyId"] == state["key"], md
            assert md["Arn"] == f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{state['key']}", md
            assert md["KeyState"] == "Enabled", md
            assert md["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
            assert "Statement" in out["ReplicaPolicy"]
            assert out["ReplicaTags"] == [{"TagKey": "site", "TagValue": "dub"}], out
            primary = ka.describe_key(KeyId=state["key"])["KeyMetadata"]["MultiRegionConfiguration"]
            assert primary["ReplicaKeys"] == [{"Arn": md["Arn"], "Region": "eu-west-1"}], primary
            replica = kb.describe_key(KeyId=state["key"])["KeyMetadata"]
            assert replica["Description"] == "the Dublin copy"
            conf = replica["MultiRegionConfiguration"]
            assert conf["MultiRegionKeyType"] == "REPLICA"
            assert conf["PrimaryKey"] == {"Arn": state["arn"], "Region": "us-east-1"}, conf
            assert error_code(ka.replicate_key, KeyId=state["key"],
                              ReplicaRegion="eu-west-1") == "AlreadyExistsException"

        def decrypt_across():
            back = kb.decrypt(CiphertextBlob=state["blob"])
            assert back["Plaintext"] == b"made in us-east-1"
            assert back["KeyId"] == f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{state['key']}"
            made = kb.encrypt(KeyId=state["key"], Plaintext=b"made in eu-west-1")["CiphertextBlob"]
            assert ka.decrypt(CiphertextBlob=made)["Plaintext"] == b"made in eu-west-1"

        def rotation():
            ka.rotate_key_on_demand(KeyId=state["key"])
            blob = ka.encrypt(KeyId=state["key"], Plaintext=b"rotated")["CiphertextBlob"]
            assert kb.decrypt(CiphertextBlob=blob)["Plaintext"] == b"rotated"
            assert error_code(kb.rotate_key_on_demand,
                              KeyId=state["key"]) == "UnsupportedOperationException"

        def refusals():
            assert error_code(ka.replicate_key, KeyId=state["single"],
                              ReplicaRegion="eu-west-1") == "UnsupportedOperationException"
            assert error_code(ka.replicate_key, KeyId=state["key"],
                              ReplicaRegion="ap-south-1") == "UnsupportedOperationException"
            assert error_code(kb.replicate_key, KeyId=state["key"],
                              ReplicaRegion="us-east-1") == "UnsupportedOperationException"

        def promote():
            ka.update_primary_region(KeyId=state["key"], PrimaryRegion="eu-west-1")
            ca = ka.describe_key(KeyId=state["key"])["KeyMetadata"]["MultiRegionConfiguration"]
            cb = kb.describe_key(KeyId=state["key"])["KeyMetadata"]["MultiRegionConfiguration"]
            assert ca["MultiRegionKeyType"] == "REPLICA", ca
            assert cb["MultiRegionKeyType"] == "PRIMARY", cb
            assert cb["PrimaryKey"]["Region"] == "eu-west-1"
            assert [r["Region"] for r in cb["ReplicaKeys"]] == ["us-east-1"], cb

        def deletion_order():
            s = kb.schedule_key_deletion(KeyId=state["key"], PendingWindowInDays=7)
            assert s["KeyState"] == "PendingReplicaDeletion", s
            assert "DeletionDate" not in s, s
            s = ka.schedule_key_deletion(KeyId=state["key"], PendingWindowInDays=7)
            assert s["KeyState"] == "PendingDeletion" and "DeletionDate" in s, s
            md = kb.describe_key(KeyId=state["key"])["KeyMetadata"]
            assert md["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in md, md

        for name, fn in [("CreateKey MultiRegion", create), ("ReplicateKey", replicate),
                         ("decrypt across regions", decrypt_across),
                         ("rotation reaches the replica", rotation), ("refusals", refusals),
                         ("UpdatePrimaryRegion", promote), ("deletion order", deletion_order)]:
            check(name, fn)
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"boto3_multi_region: {len(passed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
