"""What the boto3 client scripts share: starting a cofferd child process, the administrator's
SigV4-signed CofferAdmin calls (signed with botocore's own SigV4, as an operator's tool would),
and reading a refusal's AWS error code.

Imported by the scripts beside it (`python3 tests/clients/x.py` puts this directory first on
sys.path).
"""
import json
import os
import subprocess
import threading
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions

# An identity policy allowing every KMS action (the key policy still decides).
EVERYTHING = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})

LISTENING = "cofferd listening on "


def spawn_cofferd(binary, args, data_dir, stderr_path, who, env=None):
    """Starts `binary args...`, waits for its `cofferd listening on URL` line and returns
    (process, endpoint URL, the administrator's botocore Credentials from the data dir).
    stdout is drained in the background so the server never blocks on a full pipe; stderr goes
    to `stderr_path`. Exits the script naming `who` if the server does not start."""
    err = open(stderr_path, "ab")
    proc = subprocess.Popen([binary, *args], stdout=subprocess.PIPE, stderr=err, text=True,
                            env=env)
    first = proc.stdout.readline().strip()
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    if not first.startswith(LISTENING):
        proc.kill()
        raise SystemExit(f"{who}: cofferd did not start: first line {first!r}")
    with open(os.path.join(data_dir, "admin-credentials.json")) as f:
        c = json.load(f)
    creds = botocore.credentials.Credentials(c["access_key_id"], c["secret_access_key"])
    return proc, first[len(LISTENING):], creds


def admin_call(endpoint, creds, region, op, body):
    """A SigV4-signed `CofferAdmin.<op>` call with `creds`: (HTTP status, JSON answer)."""
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=endpoint + "/", data=json.dumps(body).encode(),
        headers={"X-Amz-Target": "CofferAdmin." + op,
                 "Content-Type": "application/x-amz-json-1.1"})
    botocore.auth.SigV4Auth(creds, "kms", region).add_auth(req)
    p = req.prepare()
    try:
        with urllib.request.urlopen(urllib.request.Request(
                p.url, data=p.body, headers=dict(p.headers), method="POST")) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def error_code(call, *args, **kwargs):
    """The AWS error code `call(...)` is refused with; an AssertionError if it succeeds."""
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded where it should have failed")
