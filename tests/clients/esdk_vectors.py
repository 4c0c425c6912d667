"""Generates the AWS Encryption SDK message-format-v2 vectors that coffer-envelope's Rust tests
(crates/envelope/tests/esdk.rs) decrypt without Python.

Run with the AWS Encryption SDK for Python 4.x and the material providers library installed:

    python tests/clients/esdk_vectors.py crates/envelope/tests/esdk_vectors

Every message is made by the SDK itself under raw AES-256 keyrings (no KMS needed) whose
wrapping keys are fixed below, so the Rust test can hold the same keys. Each vector is a pair:
NAME.esdk (the message, binary) and NAME.txt (the plaintext). manifest.txt lists each vector
with its suite, frame length, keys and encryption context as one line:
NAME SUITE FRAME KEYS k=v,k=v. Vectors named unstored_* were made through the
required-encryption-context CMM: their `tenant` pair is authenticated but not stored.
The messages are random (message ids, data keys, IVs, signing keys); regenerating changes the
bytes, never the expectations.
"""

import os
import sys

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import Algorithm
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    AesWrappingAlg,
    CreateDefaultCryptographicMaterialsManagerInput,
    CreateMultiKeyringInput,
    CreateRawAesKeyringInput,
    CreateRequiredEncryptionContextCMMInput,
)

# The raw AES keyrings' wrapping keys, shared with the Rust tests.
NAMESPACE = "coffer-esdk-vectors"
KEY_A_NAME = "key-a"
KEY_A = bytes(range(32))
KEY_B_NAME = "key-b"
KEY_B = bytes(range(100, 132))

mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())


def raw_aes(name, key):
    return mpl.create_raw_aes_keyring(
        input=CreateRawAesKeyringInput(
            key_namespace=NAMESPACE,
            key_name=name,
            wrapping_key=key,
            wrapping_alg=AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16,
        )
    )


def keyring(names):
    rings = [raw_aes(n, {KEY_A_NAME: KEY_A, KEY_B_NAME: KEY_B}[n]) for n in names]
    if len(rings) == 1:
        return rings[0]
    return mpl.create_multi_keyring(input=CreateMultiKeyringInput(generator=rings[0], child_keyrings=rings[1:]))


# Vectors named unstored_*: the required-encryption-context CMM keeps these context keys out of
# the message (only the header tag covers them); the reader must supply their pairs.
UNSTORED_KEYS = ["tenant"]


def required_ec_cmm(names):
    return mpl.create_required_encryption_context_cmm(
        input=CreateRequiredEncryptionContextCMMInput(
            underlying_cmm=mpl.create_default_cryptographic_materials_manager(
                input=CreateDefaultCryptographicMaterialsManagerInput(keyring=keyring(names))
            ),
            required_encryption_context_keys=UNSTORED_KEYS,
        )
    )


SUITES = {
    "0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}

PANGRAM = b"The quick brown fox jumps over the lazy dog. " * 7  # 315 bytes

# name, suite, frame length (0: non-framed; the Python SDK wants multiples of 128), keyring key names, context, plaintext
VECTORS = [
    ("framed_0478", "0478", 128, ["key-a"], {"purpose": "vectors", "tenant": "coffer"}, PANGRAM),
    ("framed_exact_0478", "0478", 128, ["key-a"], {"purpose": "exact"}, PANGRAM[:256]),
    ("one_frame_0478", "0478", 4096, ["key-a"], {"purpose": "default frame"}, b"hello, esdk"),
    ("nonframed_0478", "0478", 0, ["key-a"], {"purpose": "non-framed"}, PANGRAM),
    ("empty_0478", "0478", 4096, ["key-a"], {}, b""),
    ("two_keys_0478", "0478", 128, ["key-a", "key-b"], {"purpose": "two keyrings", "\u00e9t\u00e9": "\u2603"}, PANGRAM),
    ("framed_0578", "0578", 128, ["key-a"], {"purpose": "signed"}, PANGRAM),
    ("nonframed_0578", "0578", 0, ["key-a"], {"purpose": "signed non-framed"}, PANGRAM),
    ("two_keys_0578", "0578", 128, ["key-a", "key-b"], {}, PANGRAM),
    ("unstored_0478", "0478", 128, ["key-a"], {"purpose": "stored", "tenant": "unstored"}, PANGRAM),
    ("unstored_0578", "0578", 128, ["key-a"], {"purpose": "stored", "tenant": "unstored"}, PANGRAM),
]


def main(out_dir):
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    for name, suite, frame, names, ctx, plaintext in VECTORS:
        unstored = name.startswith("unstored_")
        kwargs = dict(source=plaintext, encryption_context=ctx, algorithm=SUITES[suite], frame_length=frame)
        if unstored:
            kwargs["materials_manager"] = required_ec_cmm(names)
        else:
            kwargs["keyring"] = keyring(names)
        message, _ = client.encrypt(**kwargs)
        # Round trip here first, with each key alone: a vector that does not open is useless.
        for n in names:
            if unstored:
                reproduced = {k: ctx[k] for k in UNSTORED_KEYS}
                back, header = client.decrypt(
                    source=message, materials_manager=required_ec_cmm([n]), encryption_context=reproduced
                )
                assert all(k not in header.encryption_context for k in UNSTORED_KEYS), name
            else:
                back, header = client.decrypt(source=message, keyring=keyring([n]))
            assert back == plaintext, name
        with open(os.path.join(out_dir, name + ".esdk"), "wb") as f:
            f.write(message)
        with open(os.path.join(out_dir, name + ".txt"), "wb") as f:
            f.write(plaintext)
        pairs = ",".join(f"{k}={v}" for k, v in sorted(ctx.items(), key=lambda kv: kv[0].encode()))
        manifest.append(f"{name} {suite} {frame} {'+'.join(names)} {pairs or '-'}")
    with open(os.path.join(out_dir, "manifest.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(manifest) + "\n")
    print(f"esdk_vectors: wrote {len(manifest)} vectors to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "crates/envelope/tests/esdk_vectors")
