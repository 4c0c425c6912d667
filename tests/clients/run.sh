#!/usr/bin/env bash
# The real clients against cofferd: the `aws` CLI and boto3 from PyPI, in a virtualenv.
# Usage: tests/clients/run.sh PATH_TO_COFFERD
set -euo pipefail
cofferd=$1
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

if ! { python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q awscli boto3 cryptography; }; then
    echo "clients: could not install awscli and boto3 from PyPI; the client suite did not run"
    exit 0
fi

# cofferd prints its address on the first line of stdout: read it from a pipe, no polling.
mkfifo "$work/out"
"$cofferd" --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/out" 2> "$work/err" &
pid=$!
exec 3< "$work/out"
read -r first <&3
cat <&3 > /dev/null &
endpoint=${first#cofferd listening on }
[ "$endpoint" != "$first" ] || { echo "clients: unexpected first line: $first"; exit 1; }

creds="$work/data/admin-credentials.json"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$creds" "$1"; }
export AWS_ACCESS_KEY_ID=$(field access_key_id)
export AWS_SECRET_ACCESS_KEY=$(field secret_access_key)
export AWS_DEFAULT_REGION=$(field region)
export COFFER_ENDPOINT=$endpoint
aws=("$work/venv/bin/aws" --endpoint-url "$endpoint" kms)

key=$("${aws[@]}" create-key --description cli --query KeyMetadata.KeyId --output text)
"${aws[@]}" create-alias --alias-name alias/cli --target-key-id "$key"
head -c 3000 /dev/urandom > "$work/plain.bin"
"${aws[@]}" encrypt --key-id alias/cli --plaintext "fileb://$work/plain.bin" \
    --encryption-context purpose=ci --output text --query CiphertextBlob | base64 -d > "$work/ct.bin"
"${aws[@]}" decrypt --ciphertext-blob "fileb://$work/ct.bin" --encryption-context purpose=ci \
    --output text --query Plaintext | base64 -d > "$work/back.bin"
cmp "$work/plain.bin" "$work/back.bin"
if "${aws[@]}" decrypt --ciphertext-blob "fileb://$work/ct.bin" 2> "$work/err.txt"; then
    echo "clients: decrypt without the context succeeded"; exit 1
fi
grep -q InvalidCiphertextException "$work/err.txt"
echo "clients: aws CLI round trip byte for byte, wrong context refused"

"$work/venv/bin/python" "$(dirname "$0")/boto3_suite.py"
"$work/venv/bin/python" "$(dirname "$0")/boto3_asym.py"
"$work/venv/bin/python" "$(dirname "$0")/boto3_import.py" "$cofferd"
echo "clients: 4 passed, 0 failed (aws CLI, boto3_suite, boto3_asym, boto3_import)"
