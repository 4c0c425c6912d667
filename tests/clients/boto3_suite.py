"""Drives cofferd with boto3, unchanged: every kind of operation, results and error codes checked.

Run by tests/clients/run.sh with COFFER_ENDPOINT and the administrator credential in the
environment.
"""
import os

import boto3
import botocore

k = boto3.client("kms", endpoint_url=os.environ["COFFER_ENDPOINT"], region_name=os.environ["AWS_DEFAULT_REGION"])
key = k.create_key(Tags=[{"TagKey":"env","TagValue":"prod"}])["KeyMetadata"]
kid = key["KeyId"]
ct = k.encrypt(KeyId=kid, Plaintext=b"boto3 says hi", EncryptionContext={"a":"b"})["CiphertextBlob"]
assert k.decrypt(CiphertextBlob=ct, EncryptionContext={"a":"b"})["Plaintext"] == b"boto3 says hi"
re = k.re_encrypt(CiphertextBlob=ct, SourceEncryptionContext={"a":"b"}, DestinationKeyId=kid)
assert k.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"boto3 says hi"
dk = k.generate_data_key(KeyId=kid, KeySpec="AES_256")
assert len(dk["Plaintext"]) == 32
pol = k.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]
k.put_key_policy(KeyId=kid, PolicyName="default", Policy=pol)
g = k.create_grant(KeyId=kid, GranteePrincipal="arn:aws:iam::111122223333:role/x", Operations=["Decrypt"])
assert len(k.list_grants(KeyId=kid)["Grants"]) == 1
k.revoke_grant(KeyId=kid, GrantId=g["GrantId"])
k.tag_resource(KeyId=kid, Tags=[{"TagKey":"team","TagValue":"a"}])
assert len(k.list_resource_tags(KeyId=kid)["Tags"]) == 2
k.rotate_key_on_demand(KeyId=kid)
assert len(k.list_key_rotations(KeyId=kid)["Rotations"]) == 1
k.disable_key(KeyId=kid)
try:
    k.encrypt(KeyId=kid, Plaintext=b"x")
    raise SystemExit("encrypt on a disabled key succeeded")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "DisabledException", e.response
d = k.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
assert d["KeyState"] == "PendingDeletion"
k.cancel_key_deletion(KeyId=kid)


def error_code(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise SystemExit(f"{call.__name__} succeeded where it should have failed")


# HMAC keys: the key material is not exportable, so Python's hmac module cannot check the MAC;
# the round trip, its length, determinism and the error codes are checked instead.
for spec, alg, n in [("HMAC_224", "HMAC_SHA_224", 28), ("HMAC_256", "HMAC_SHA_256", 32),
                     ("HMAC_384", "HMAC_SHA_384", 48), ("HMAC_512", "HMAC_SHA_512", 64)]:
    md = k.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    assert md["KeySpec"] == spec and md["KeyUsage"] == "GENERATE_VERIFY_MAC", md
    assert md["MacAlgorithms"] == [alg] and "EncryptionAlgorithms" not in md, md
    hk = md["KeyId"]
    m = k.generate_mac(KeyId=hk, Message=b"boto3 mac", MacAlgorithm=alg)
    assert len(m["Mac"]) == n and m["MacAlgorithm"] == alg and m["KeyId"] == md["Arn"], m
    assert k.generate_mac(KeyId=hk, Message=b"boto3 mac", MacAlgorithm=alg)["Mac"] == m["Mac"]
    v = k.verify_mac(KeyId=hk, Message=b"boto3 mac", MacAlgorithm=alg, Mac=m["Mac"])
    assert v["MacValid"] is True and v["MacAlgorithm"] == alg, v
    bad = bytes([m["Mac"][0] ^ 1]) + m["Mac"][1:]
    assert error_code(k.verify_mac, KeyId=hk, Message=b"boto3 mac", MacAlgorithm=alg, Mac=bad) == "KMSInvalidMacException"
    other = "HMAC_SHA_512" if alg != "HMAC_SHA_512" else "HMAC_SHA_256"
    assert error_code(k.generate_mac, KeyId=hk, Message=b"x", MacAlgorithm=other) == "InvalidKeyUsageException"
    assert error_code(k.encrypt, KeyId=hk, Plaintext=b"x") == "InvalidKeyUsageException"
    assert error_code(k.enable_key_rotation, KeyId=hk) == "UnsupportedOperationException"
sym = k.create_key()["KeyMetadata"]["KeyId"]
assert error_code(k.generate_mac, KeyId=sym, Message=b"x", MacAlgorithm="HMAC_SHA_256") == "InvalidKeyUsageException"

print("boto3: all ok;", len(k.list_keys()["Keys"]), "keys")
