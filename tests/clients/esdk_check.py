"""Decrypts, with the AWS Encryption SDK for Python 4.x, the ESDK-format messages coffer-envelope
wrote (crates/envelope/src/esdk), and checks plaintext and encryption context.

    python tests/clients/esdk_check.py [DIR]

DIR (default crates/envelope/tests/esdk_vectors) holds coffer_manifest.txt, one line per
message: NAME SUITE FRAME KEYS CONTEXT (KEYS joined by '+', CONTEXT as k=v,k=v or '-'), and
NAME.esdk / NAME.txt for each. The raw AES keyrings are those of esdk_vectors.py. Each message is
opened with each of its keys alone, under the strict REQUIRE_ENCRYPT_REQUIRE_DECRYPT policy, and
a copy with one flipped bit must be refused. Messages named *unstored* keep their `tenant` pair
out of the header: they open through the required-encryption-context CMM given that pair. Exits non-zero on the first failure.
"""

import logging
import os
import sys

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esdk_vectors import UNSTORED_KEYS, keyring, required_ec_cmm  # noqa: E402  (same keys)

logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)

PUBLIC_KEY = "aws-crypto-public-key"
SUITE_IDS = {"0478": 0x0478, "0578": 0x0578}


def fail(msg):
    print(f"esdk_check: FAILED {msg}")
    sys.exit(1)


def main(directory):
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    with open(os.path.join(directory, "coffer_manifest.txt"), encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    if not lines:
        fail("empty manifest")
    checked = 0
    for line in lines:
        name, suite, frame, keys, pairs = line.split(" ", 4)
        expected_ctx = {} if pairs == "-" else dict(p.split("=", 1) for p in pairs.split(","))
        with open(os.path.join(directory, name + ".esdk"), "rb") as f:
            message = f.read()
        with open(os.path.join(directory, name + ".txt"), "rb") as f:
            plaintext = f.read()
        unstored = "unstored" in name
        for key in keys.split("+"):
            try:
                if unstored:
                    # Written with the tenant pair authenticated but not stored: supply it
                    # through the required-encryption-context CMM, as an ESDK reader must.
                    back, header = client.decrypt(
                        source=message,
                        materials_manager=required_ec_cmm([key]),
                        encryption_context={k: expected_ctx[k] for k in UNSTORED_KEYS},
                    )
                else:
                    back, header = client.decrypt(source=message, keyring=keyring([key]))
            except Exception as e:  # noqa: BLE001 - report any SDK failure as a test failure
                fail(f"{name} with {key}: {type(e).__name__}: {e}")
            if back != plaintext:
                fail(f"{name} with {key}: plaintext differs")
            if header.algorithm.algorithm_id != SUITE_IDS[suite]:
                fail(f"{name}: suite {header.algorithm.algorithm_id:#06x}")
            if header.frame_length != int(frame):
                fail(f"{name}: frame length {header.frame_length}")
            ctx = dict(header.encryption_context)
            if (PUBLIC_KEY in ctx) != (suite == "0578"):
                fail(f"{name}: {PUBLIC_KEY} presence")
            ctx.pop(PUBLIC_KEY, None)
            if unstored:
                if any(k in ctx for k in UNSTORED_KEYS):
                    fail(f"{name}: an unstored pair is in the header")
                ctx.update({k: expected_ctx[k] for k in UNSTORED_KEYS})
            if ctx != expected_ctx:
                fail(f"{name}: context {ctx} != {expected_ctx}")
            checked += 1
        tampered = bytearray(message)
        tampered[len(tampered) // 2] ^= 1
        try:
            client.decrypt(source=bytes(tampered), keyring=keyring([keys.split("+")[0]]))
            fail(f"{name}: tampered copy decrypted")
        except aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError:
            pass
        except Exception:  # noqa: BLE001 - cryptography's InvalidTag and friends also refuse
            pass
    print(f"esdk_check: {len(lines)} coffer-written messages opened with the Python ESDK ({checked} decryptions)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "crates/envelope/tests/esdk_vectors")
