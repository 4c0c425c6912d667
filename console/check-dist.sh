#!/usr/bin/env bash
# CI: cofferd embeds console/dist at cargo build time (no npm needed there), so the committed
# bundle must be what the committed sources build to. Rebuilds and fails if dist/ differs.
# Usage: console/check-dist.sh
set -euo pipefail
cd "$(dirname "$0")"
# Vite 7 needs Node.js 20.19 or later (22.12 on the 22 line).
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1)' \
    || { echo "console: Node.js $(node --version) is too old for Vite 7 (20.19+ or 22.12+)" >&2; exit 1; }
npm ci --no-audit --no-fund
npm run build
if ! git diff --quiet --exit-code -- dist || [ -n "$(git ls-files --others --exclude-standard -- dist)" ]; then
    echo "console: dist/ is not what the sources build to; run 'npm run build' in console/ and commit dist/" >&2
    git status --short -- dist >&2
    exit 1
fi
echo "console: dist/ matches the sources"
