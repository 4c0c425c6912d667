"""The AWS Encryption SDK for Python (4.0.7, from PyPI) with cofferd as its KMS.

Run by tests/clients/run.sh with AWS_* credentials of the account root and COFFER_ENDPOINT;
AWS_ENDPOINT_URL_KMS points every KMS client the SDK builds itself at cofferd. Covers:

- the strict KMS master-key provider: round trip with an encryption context, the context given
  back, a tampered message refused, a provider that does not trust the key refused;
- the keyring API (aws-cryptographic-material-providers): an AWS KMS keyring, and a multi-keyring
  of two coffer keys whose message opens with either key alone (two encrypted data keys);
- the caching materials manager: N messages cost one GenerateDataKey, counted on the wire;
- a key disabled in cofferd: the SDK's encrypt fails with cofferd's DisabledException;
- with the `coffer` CLI's path as argument: `coffer envelope encrypt --format esdk` messages
  (both suites, two keys) open with the Python ESDK through cofferd, and the Python ESDK's
  messages open with `coffer envelope decrypt` — both directions of the remote keyring.
"""

import logging
import os
import subprocess
import sys
import tempfile

import boto3
import botocore.session
from cryptography.exceptions import InvalidTag
import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError, DecryptKeyError, GenerateKeyError
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CreateAwsKmsKeyringInput,
    CreateMultiKeyringInput,
)

# The SDK logs every failure it raises; the refusals below are expected.
logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)

ENDPOINT = os.environ["COFFER_ENDPOINT"]
REGION = os.environ["AWS_DEFAULT_REGION"]
os.environ["AWS_ENDPOINT_URL_KMS"] = ENDPOINT
os.environ.setdefault("AWS_REGION", REGION)

passed = []


def check(name, cond, detail=""):
    if not cond:
        print(f"esdk: FAILED {name} {detail}")
        sys.exit(1)
    passed.append(name)


def kms_client():
    return boto3.client("kms", endpoint_url=ENDPOINT, region_name=REGION)


kms = kms_client()


def new_key(description):
    return kms.create_key(Description=description)["KeyMetadata"]["Arn"]


arn1 = new_key("esdk one")
arn2 = new_key("esdk two")
other = new_key("esdk not trusted")
plaintext = os.urandom(10_000) + b"end"
context = {"tenant": "acme", "purpose": "esdk-interop"}

client = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)

# --- the strict master-key provider ---------------------------------------------------------
# Count the KMS calls the SDK makes through a botocore session of our own.
calls = {"GenerateDataKey": 0, "Decrypt": 0, "Encrypt": 0}
session = botocore.session.Session()


def counter(op):
    def hook(**_kwargs):
        calls[op] += 1

    return hook


for op in calls:
    session.register(f"before-call.kms.{op}", counter(op))

provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn1], botocore_session=session)
ciphertext, enc_header = client.encrypt(
    source=plaintext, key_provider=provider, encryption_context=context, frame_length=4096
)
check("mkp: one GenerateDataKey for one message", calls["GenerateDataKey"] == 1, str(calls))
back, dec_header = client.decrypt(source=ciphertext, key_provider=provider)
check("mkp: round trip", back == plaintext)
check(
    "mkp: the encryption context comes back",
    all(dec_header.encryption_context.get(k) == v for k, v in context.items()),
    str(dec_header.encryption_context),
)
check(
    "mkp: the data key is wrapped by the coffer key",
    [k.key_provider.key_info.decode() for k in dec_header.encrypted_data_keys] == [arn1],
)
check("mkp: decrypt called coffer's Decrypt", calls["Decrypt"] == 1, str(calls))

tampered = bytearray(ciphertext)
tampered[len(tampered) // 2] ^= 0x01
try:
    client.decrypt(source=bytes(tampered), key_provider=provider)
    check("mkp: a tampered message is refused", False)
except (AWSEncryptionSDKClientError, InvalidTag):
    check("mkp: a tampered message is refused", True)

untrusting = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[other])
try:
    client.decrypt(source=ciphertext, key_provider=untrusting)
    check("mkp: a provider that does not list the key cannot decrypt", False)
except DecryptKeyError:
    check("mkp: a provider that does not list the key cannot decrypt", True)

# --- keyrings (the material providers library) ----------------------------------------------
mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
keyring1 = mpl.create_aws_kms_keyring(
    input=CreateAwsKmsKeyringInput(kms_key_id=arn1, kms_client=kms_client())
)
keyring2 = mpl.create_aws_kms_keyring(
    input=CreateAwsKmsKeyringInput(kms_key_id=arn2, kms_client=kms_client())
)
ct_kr, _ = client.encrypt(source=plaintext, keyring=keyring1, encryption_context=context)
back_kr, hdr_kr = client.decrypt(source=ct_kr, keyring=keyring1, encryption_context=context)
check("keyring: round trip", back_kr == plaintext)
# A message from the keyring opens with the master-key provider too: one format.
back_cross, _ = client.decrypt(source=ct_kr, key_provider=provider)
check("keyring: its message opens with the master-key provider", back_cross == plaintext)

multi = mpl.create_multi_keyring(
    input=CreateMultiKeyringInput(generator=keyring1, child_keyrings=[keyring2])
)
ct_multi, hdr_multi = client.encrypt(source=plaintext, keyring=multi, encryption_context=context)
check("multi-keyring: two encrypted data keys", len(hdr_multi.encrypted_data_keys) == 2)
for name, kr in (("first", keyring1), ("second", keyring2)):
    out, _ = client.decrypt(source=ct_multi, keyring=kr, encryption_context=context)
    check(f"multi-keyring: opens with the {name} key alone", out == plaintext)

# A required encryption context that does not match is refused by the SDK.
try:
    client.decrypt(source=ct_kr, keyring=keyring1, encryption_context={"tenant": "other"})
    check("keyring: a wrong required context is refused", False)
except Exception:  # the MPL raises its own error types
    check("keyring: a wrong required context is refused", True)

# --- the caching materials manager ----------------------------------------------------------
before = dict(calls)
cache = aws_encryption_sdk.LocalCryptoMaterialsCache(capacity=10)
caching = aws_encryption_sdk.CachingCryptoMaterialsManager(
    master_key_provider=provider, cache=cache, max_age=600.0, max_messages_encrypted=10
)
messages = []
for i in range(5):
    ct, _ = client.encrypt(source=plaintext[:100] + bytes([i]), materials_manager=caching,
                           encryption_context=context)
    messages.append(ct)
check(
    "caching CMM: five messages, one GenerateDataKey",
    calls["GenerateDataKey"] - before["GenerateDataKey"] == 1,
    str(calls),
)
for i, ct in enumerate(messages):
    out, _ = client.decrypt(source=ct, materials_manager=caching)
    check(f"caching CMM: message {i} opens", out == plaintext[:100] + bytes([i]))
check(
    "caching CMM: decrypting five messages of one data key, one Decrypt",
    calls["Decrypt"] - before["Decrypt"] == 1,
    str(calls),
)

# --- a disabled key ----------------------------------------------------------------------
kms.disable_key(KeyId=arn2)
try:
    client.encrypt(
        source=b"x",
        key_provider=aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn2]),
    )
    check("disabled key: the SDK's encrypt fails", False)
except GenerateKeyError as e:
    # The SDK wraps the client error; cofferd's answer is its cause.
    cause = e.__cause__ or e.__context__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code")
    check("disabled key: the SDK's encrypt fails with DisabledException", code == "DisabledException", repr(cause))
kms.enable_key(KeyId=arn2)

# --- coffer's ESDK messages and the Python ESDK, through cofferd, both ways -------------
if len(sys.argv) > 1:
    coffer = sys.argv[1]
    env = dict(os.environ, AWS_ENDPOINT_URL=ENDPOINT)
    both = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn1, arn2])
    only2 = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn2])
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "plain.bin")
        with open(src, "wb") as f:
            f.write(plaintext)
        for fmt in ("esdk", "esdk-unsigned"):
            out = os.path.join(tmp, f"{fmt}.msg")
            subprocess.run(
                [coffer, "envelope", "encrypt", "--format", fmt, "--key-id", arn1, "--key-id", arn2,
                 "--context", "tenant=acme", "--out", out, src],
                env=env, check=True,
            )
            with open(out, "rb") as f:
                message = f.read()
            back, hdr = client.decrypt(source=message, key_provider=only2)
            check(f"coffer {fmt} message opens with the Python ESDK (second key alone)", back == plaintext)
            check(f"coffer {fmt} message: two aws-kms data keys", len(hdr.encrypted_data_keys) == 2)
            check(f"coffer {fmt} message: context", hdr.encryption_context.get("tenant") == "acme")
        # The other way: the Python ESDK's message, framed and signed (its default suite).
        esdk_msg, _ = client.encrypt(source=plaintext, key_provider=both,
                                     encryption_context={"tenant": "acme"}, frame_length=1024)
        msg_path = os.path.join(tmp, "python.msg")
        with open(msg_path, "wb") as f:
            f.write(esdk_msg)
        back_path = os.path.join(tmp, "python.back")
        subprocess.run(
            [coffer, "envelope", "decrypt", "--context", "tenant=acme", "--out", back_path, msg_path],
            env=env, check=True,
        )
        with open(back_path, "rb") as f:
            check("the Python ESDK's message opens with coffer envelope decrypt", f.read() == plaintext)
        wrong = subprocess.run(
            [coffer, "envelope", "decrypt", "--context", "tenant=other", "--out", back_path + "2", msg_path],
            env=env, capture_output=True,
        )
        check("coffer refuses the Python ESDK's message with a wrong context",
              wrong.returncode == 1 and b"ContextMismatch" in wrong.stderr, wrong.stderr.decode())

print(f"esdk: {len(passed)} passed, 0 failed (aws-encryption-sdk {aws_encryption_sdk.__version__})")
