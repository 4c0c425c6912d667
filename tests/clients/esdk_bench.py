"""Times the AWS Encryption SDK for Python (4.x) on the workloads of coffer's ESDK bench
(crates/envelope/benches/esdk.rs), which runs this script in the same run when a Python with the
SDK is found (COFFER_ESDK_PYTHON, or /tmp/esdkvenv/bin/python).

    python tests/clients/esdk_bench.py

Raw AES-256 keyring (the vectors' key A, no KMS), frame length 4096 (the SDK's default), suites
0x0478 and 0x0578, 1 KiB and 64 MiB. Prints one line per case: the median time of one message.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esdk_vectors import KEY_A_NAME, keyring  # noqa: E402  (the same raw AES key)

import aws_encryption_sdk  # noqa: E402
from aws_encryption_sdk import CommitmentPolicy  # noqa: E402
from aws_encryption_sdk.identifiers import Algorithm  # noqa: E402

SUITES = {
    "0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}
CASES = [("1KiB", 1024, 200), ("64MiB", 64 << 20, 3)]


def median_time(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ring = keyring([KEY_A_NAME])
    ctx = {"purpose": "bench"}
    for suite_name, suite in SUITES.items():
        client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        for case, size, n in CASES:
            data = os.urandom(size)
            msg, _ = client.encrypt(source=data, keyring=ring, encryption_context=ctx,
                                    algorithm=suite, frame_length=4096)
            enc = median_time(lambda: client.encrypt(source=data, keyring=ring, encryption_context=ctx,
                                                     algorithm=suite, frame_length=4096), n)
            dec = median_time(lambda: client.decrypt(source=msg, keyring=ring), n)
            print(f"python-esdk {suite_name} {case}: encrypt {enc * 1e6:.1f} us, decrypt {dec * 1e6:.1f} us "
                  f"(median of {n}, aws-encryption-sdk {aws_encryption_sdk.__version__})", flush=True)


if __name__ == "__main__":
    main()
