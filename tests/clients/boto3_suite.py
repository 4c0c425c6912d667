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
print("boto3: all ok;", len(k.list_keys()["Keys"]), "keys")
