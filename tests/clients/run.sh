#!/usr/bin/env bash
# The real clients against cofferd: the `aws` CLI and boto3 from PyPI, in a virtualenv.
# Usage: tests/clients/run.sh PATH_TO_COFFERD
set -euo pipefail
cofferd=$1
work=$(mktemp -d)
trap 'kill "${pid:-0}" "${dev_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

if ! { python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q awscli boto3 cryptography "aws-encryption-sdk[MPL]==4.0.7"; }; then
    echo "clients: could not install awscli, boto3 and aws-encryption-sdk from PyPI; the client suite did not run"
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
"$work/venv/bin/python" "$(dirname "$0")/boto3_managed.py"
"$work/venv/bin/python" "$(dirname "$0")/esdk_suite.py" "$(dirname "$cofferd")/coffer"
"$work/venv/bin/python" "$(dirname "$0")/esdk_check.py" "$(dirname "$0")/../../crates/envelope/tests/esdk_vectors"
"$work/venv/bin/python" "$(dirname "$0")/boto3_multi_region.py" "$cofferd"
"$work/venv/bin/python" "$(dirname "$0")/boto3_custom_key_stores.py" "$cofferd"

# Developer mode with a seed: `cofferd --dev --seed FILE`, then the aws CLI and `coffer` use the
# seeded aliases with the documented credential, and the seeded HMAC material gives the MAC
# computed here.
coffer="$(dirname "$cofferd")/coffer"
[ -x "$coffer" ] || { echo "clients: $coffer is missing (cargo build -p coffer-cli)"; exit 1; }
cat > "$work/seed.yaml" <<'YAML'
keys:
  - alias: alias/seeded
    aliases: [alias/seeded-too]
    description: seeded for the client suite
  - alias: alias/seeded-mac
    key_spec: HMAC_256
    material: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
YAML
mkfifo "$work/dev-out"
"$cofferd" --dev --seed "$work/seed.yaml" --listen 127.0.0.1:0 > "$work/dev-out" 2> "$work/dev-err" &
dev_pid=$!
exec 4< "$work/dev-out"
read -r first <&4
cat <&4 > /dev/null &
dev_endpoint=${first#cofferd listening on }
[ "$dev_endpoint" != "$first" ] || { echo "clients: unexpected first line: $first"; exit 1; }
(
    export AWS_ACCESS_KEY_ID=AKIACOFFERDEV0000000
    export AWS_SECRET_ACCESS_KEY=coffer-dev-mode-secret-not-for-production
    export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_ENDPOINT_URL=$dev_endpoint
    dev_aws=("$work/venv/bin/aws" --endpoint-url "$dev_endpoint" kms)
    printf 'seeded secret' > "$work/seed-plain.bin"
    "${dev_aws[@]}" encrypt --key-id alias/seeded --plaintext "fileb://$work/seed-plain.bin" \
        --output text --query CiphertextBlob | base64 -d > "$work/seed-ct.bin"
    "$coffer" decrypt "$work/seed-ct.bin" -o "$work/seed-back.bin"
    cmp "$work/seed-plain.bin" "$work/seed-back.bin"
    printf 'the other way' | "$coffer" encrypt --key alias/seeded-too -o "$work/seed-ct2.bin"
    "${dev_aws[@]}" decrypt --ciphertext-blob "fileb://$work/seed-ct2.bin" \
        --output text --query Plaintext | base64 -d > "$work/seed-back2.bin"
    [ "$(cat "$work/seed-back2.bin")" = "the other way" ]
    printf 'order 4711' > "$work/seed-msg.bin"
    mac=$("${dev_aws[@]}" generate-mac --key-id alias/seeded-mac --mac-algorithm HMAC_SHA_256 \
        --message "fileb://$work/seed-msg.bin" --output text --query Mac)
    want=$(python3 -c 'import base64,hmac,hashlib; print(base64.b64encode(hmac.new(bytes(range(32)), b"order 4711", hashlib.sha256).digest()).decode())')
    [ "$mac" = "$want" ] || { echo "clients: the seeded HMAC key gave $mac, expected $want"; exit 1; }
)
echo "clients: cofferd --dev --seed: the aws CLI and coffer use the seeded aliases; the seeded MAC is reproducible"

echo "clients: 10 passed, 0 failed (aws CLI, boto3_suite, boto3_asym, boto3_import, boto3_managed, esdk_suite, esdk_check, boto3_multi_region, boto3_custom_key_stores, dev seed)"
