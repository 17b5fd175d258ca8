#!/usr/bin/env bash
# Regenerates openapi/docs.html, the API reference served at GET /docs, from
# openapi/openapi.yaml with Redocly's build-docs (the @redocly/cli pinned in
# tests/package-lock.json; installed with `npm ci` when tests/node_modules
# lacks it). Run it after every change to the contract and commit the result:
# tests/http/docs.test.mjs fails while the page is stale.
#
#   openapi/build-docs.sh [OUTPUT]     (default: openapi/docs.html)
#
# The page is self-contained: Redoc's script is inlined (--inlineBundle) and
# nothing on it loads from another host. Same contract in, same bytes out.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
out=$(realpath -m -- "${1:-$here/docs.html}")
cli=$root/tests/node_modules/@redocly/cli/bin/cli.js

if [ ! -f "$cli" ]; then
  echo "build-docs: installing the pinned test tools (npm ci in tests/)" >&2
  (cd "$root/tests" && npm ci --no-audit --no-fund >&2)
fi

mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$(dirname "$out")/.docs.XXXXXX.html")
trap 'rm -f "$tmp"' EXIT

# No telemetry from the CLI, and the page is told to send none either (the
# CLI writes disableTelemetry from this variable). The CLI reads a
# redocly.yaml from its working directory: openapi/ has none, so no local
# configuration changes the output.
cd "$here"
if ! log=$(REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
             node "$cli" build-docs openapi.yaml --inlineBundle --template docs-template.hbs -o "$tmp" 2>&1); then
  echo "$log" >&2
  exit 1
fi

# Redoc's sidebar credit shows its logo from cdn.redoc.ly once the page runs;
# our page loads nothing from elsewhere, so the credit gets the word instead
# (an inline SVG). Fails loudly when a CLI upgrade moves these strings.
node - "$tmp" <<'EOF'
const fs = require('node:fs');
const file = process.argv[2];
let html = fs.readFileSync(file, 'utf8');
const word = (text, width) => 'data:image/svg+xml,' + encodeURIComponent(
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="16"><text x="0" y="12" font-family="sans-serif" font-size="12" fill="#5c6670">${text}</text></svg>`);
const swaps = [
  ['https://cdn.redoc.ly/redoc/logo-mini-full.svg', word('Redocly', 48)],
  ['https://cdn.redoc.ly/redoc/logo-mini.svg', word('R', 10)],
];
for (const [from, to] of swaps) {
  const n = html.split(from).length - 1;
  if (n !== 1) throw new Error(`build-docs: expected ${from} once in Redoc's bundle, found it ${n} times`);
  html = html.replace(from, () => to);
}
if (!html.includes('"disableTelemetry":true')) throw new Error('build-docs: the page would send telemetry');
fs.writeFileSync(file, html);
EOF

chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "build-docs: wrote $out ($(stat -c %s "$out") bytes)" >&2
