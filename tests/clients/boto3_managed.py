"""AWS managed keys through cofferd, with boto3 unchanged: a credential bound to a service
(CofferAdmin.CreateCredential with ViaService, signed here with botocore's own SigV4) brings
alias/aws/s3 to life; DescribeKey says KeyManager AWS; ListAliases lists it; the same
principal without the binding may not use it; management calls are refused with AWS's codes.

Run by tests/clients/run.sh with COFFER_ENDPOINT and the administrator credential in the
environment.
"""
import os

import boto3
import botocore.credentials

from _common import EVERYTHING, admin_call, error_code

endpoint = os.environ["COFFER_ENDPOINT"]
region = os.environ["AWS_DEFAULT_REGION"]
admin_creds = botocore.credentials.Credentials(
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
ok = []


def admin(op, body):
    """A SigV4-signed CofferAdmin.<op> call by the administrator: (status, answer)."""
    return admin_call(endpoint, admin_creds, region, op, body)


account = boto3.client("kms", endpoint_url=endpoint, region_name=region) \
    .create_key()["KeyMetadata"]["AWSAccountId"]
everything = EVERYTHING


def client_for(principal, via=None):
    body = {"PrincipalArn": principal, "IdentityPolicies": [everything]}
    if via:
        body["ViaService"] = via
    status, cred = admin("CreateCredential", body)
    assert status == 200, cred
    return boto3.client("kms", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=cred["AccessKeyId"],
                        aws_secret_access_key=cred["SecretAccessKey"])




s3 = f"s3.{region}.amazonaws.com"
app = f"arn:aws:iam::{account}:role/boto3-app"
via_s3 = client_for(app, s3)
direct = client_for(app)

assert error_code(direct.encrypt, KeyId="alias/aws/s3", Plaintext=b"x") == "NotFoundException"
ct = via_s3.encrypt(KeyId="alias/aws/s3", Plaintext=b"object", EncryptionContext={"b": "k"})
arn = ct["KeyId"]
md = direct.describe_key(KeyId=arn)["KeyMetadata"]
assert md["KeyManager"] == "AWS" and md["KeySpec"] == "SYMMETRIC_DEFAULT", md
assert direct.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is True
names = [a["AliasName"] for a in direct.list_aliases()["Aliases"]]
assert "alias/aws/s3" in names, names
ok.append("created on first use through the service, KeyManager AWS, listed")

blob = ct["CiphertextBlob"]
assert via_s3.decrypt(CiphertextBlob=blob, EncryptionContext={"b": "k"})["Plaintext"] == b"object"
assert error_code(direct.decrypt, CiphertextBlob=blob, EncryptionContext={"b": "k"}) \
    == "AccessDeniedException"
ok.append("used only through the service")

for c in (direct, via_s3):
    assert error_code(c.disable_key, KeyId=arn) == "AccessDeniedException"
    assert error_code(c.schedule_key_deletion, KeyId=arn) == "AccessDeniedException"
    assert error_code(c.put_key_policy, KeyId=arn, PolicyName="default",
                      Policy=everything) == "AccessDeniedException"
    assert error_code(c.tag_resource, KeyId=arn,
                      Tags=[{"TagKey": "k", "TagValue": "v"}]) == "AccessDeniedException"
assert error_code(direct.delete_alias, AliasName="alias/aws/s3") == "InvalidAliasNameException"
assert direct.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
ok.append("management refused with AWS's codes")

own = direct.create_key()["KeyMetadata"]
assert own["KeyManager"] == "CUSTOMER", own
ok.append("customer keys say CUSTOMER")

for name in ok:
    print(f"  ok   {name}")
print(f"boto3_managed: {len(ok)} passed, 0 failed")
