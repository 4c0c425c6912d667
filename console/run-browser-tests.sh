#!/usr/bin/env bash
# The web console in a real Chromium against a real cofferd.
# Usage: console/run-browser-tests.sh          (COFFERD=path/to/cofferd, default target/debug/cofferd)
# Screenshots of every page are written to docs/console/*.png (SCREENSHOT_DIR to change it).
# cofferd embeds console/dist when it is built: build cofferd after `npm run build`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cofferd=${COFFERD:-$root/target/debug/cofferd}
case $cofferd in /*) ;; *) cofferd=$PWD/$cofferd ;; esac
[ -x "$cofferd" ] || { echo "console: $cofferd is missing (cargo build -p cofferd, or set COFFERD)" >&2; exit 1; }

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    # CI runs as root on a fresh Debian machine.
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
[ -f dist/index.html ] || npm run build

work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; wait "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
# cofferd prints its address on the first line of stdout: read it from a pipe, no polling.
mkfifo "$work/out"
# The tests make 53 keys at once (more than one page of the list): CreateKey's burst is raised
# from its default of 5. UpdateKeyDescription gets one call and then (practically) none, so that
# the dashboard has throttled requests to show. Every other quota is the default one.
(umask 077; cat > "$work/cofferd.toml" <<'TOML'
[quotas.defaults.CreateKey]
burst = 100

[quotas.defaults.UpdateKeyDescription]
rate = 0.000001
burst = 1

# Audit digests every few seconds, so that the audit trail has verified records to show.
[maintenance]
interval_secs = 5
TOML
)
"$cofferd" --config "$work/cofferd.toml" --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/out" 2> "$work/cofferd.log" &
pid=$!
exec 3< "$work/out"
read -r first <&3 || { echo "console: cofferd did not start:" >&2; cat "$work/cofferd.log" >&2; exit 1; }
cat <&3 > /dev/null &
endpoint=${first#cofferd listening on }
[ "$endpoint" != "$first" ] || { echo "console: unexpected first line: $first" >&2; exit 1; }
# cofferd embeds console/dist when it is compiled: a binary older than the bundle would test
# yesterday's console.
node -e '
  const want = require("fs").readFileSync(process.argv[2], "utf8");
  fetch(process.argv[1]).then(r => r.text()).then(
    got => process.exit(got === want ? 0 : 1), () => process.exit(1));' "$endpoint/console/" dist/index.html \
    || { echo "console: $cofferd does not serve this console/dist: rebuild it (cargo build -p cofferd)" >&2; exit 1; }

export COFFER_ENDPOINT=$endpoint
export COFFER_ADMIN_CREDENTIALS=$work/data/admin-credentials.json
start=$(date +%s)
status=0
node --test --test-concurrency=1 --test-reporter=spec tests/console.test.mjs || status=$?
echo "console: browser tests took $(( $(date +%s) - start )) s"
if [ $status -ne 0 ]; then
    echo "--- cofferd log (last 40 lines) ---" >&2
    tail -n 40 "$work/cofferd.log" >&2
fi
exit $status
