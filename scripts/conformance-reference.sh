#!/usr/bin/env bash
# Checks that every expected JSONata value in crates/asl/tests/conformance/*.json
# equals what the reference implementation computes: jsonata-js 2.0.6, the
# version AWS Step Functions runs (pinned by package-lock.json next to the
# script, installed into its own node_modules). `--write` stores the reference
# values instead (after adding or changing a case).
set -euo pipefail

JSONATA_VERSION="2.0.6"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/crates/asl/tests/conformance/reference"
MODE="${1:---check}"

fail() {
  printf '\nconformance-reference: FAILED: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}

command -v node >/dev/null 2>&1 || fail "node is not on PATH; the reference check needs Node.js >= 18 and npm"
cd "$DIR"
installed=""
if [[ -f node_modules/jsonata/package.json ]]; then
  installed="$(node -p 'require("./node_modules/jsonata/package.json").version' 2>/dev/null || true)"
fi
if [[ "$installed" != "$JSONATA_VERSION" ]]; then
  printf 'conformance-reference: installing jsonata@%s into %s/node_modules (npm ci)\n' "$JSONATA_VERSION" "${DIR#"$ROOT"/}"
  command -v npm >/dev/null 2>&1 || fail "npm is not on PATH; the reference check needs Node.js >= 18 and npm"
  npm ci --no-audit --no-fund --loglevel=error ||
    fail "npm ci could not install jsonata@$JSONATA_VERSION" "Is the npm registry reachable? Remove $DIR/node_modules and retry."
fi
node check.mjs "$MODE"
