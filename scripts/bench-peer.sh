#!/usr/bin/env bash
# Peer comparison, whole process: aws-local-stepfunctions (npm; JSONPath only,
# it has no JSONata) against `saga-local exec` in JSONPath and in JSONata, on a
# 2,000-state Pass/Choice chain and a 2,000-item Map (generated into
# target/bench-peer/). Prints the median of N runs of each and the ratios.
# The peer is pinned by scripts/bench-peer/package-lock.json and installed
# into scripts/bench-peer/node_modules; saga-local is built with the `local`
# profile (what `make local` runs).
#   bash scripts/bench-peer.sh [RUNS]      (default 5)
set -euo pipefail

PEER_VERSION="3.0.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/scripts/bench-peer"
RUNS="${1:-5}"

fail() {
  printf '\nbench-peer: FAILED: %s\n' "$1" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || fail "node is not on PATH; the peer comparison needs Node.js >= 18 and npm"
installed=""
if [[ -f "$DIR/node_modules/aws-local-stepfunctions/package.json" ]]; then
  installed="$(node -p "require('$DIR/node_modules/aws-local-stepfunctions/package.json').version" 2>/dev/null || true)"
fi
if [[ "$installed" != "$PEER_VERSION" ]]; then
  printf 'bench-peer: installing aws-local-stepfunctions@%s into %s/node_modules (npm ci)\n' "$PEER_VERSION" "${DIR#"$ROOT"/}"
  command -v npm >/dev/null 2>&1 || fail "npm is not on PATH"
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci could not install aws-local-stepfunctions@$PEER_VERSION (is the npm registry reachable?)"
fi

cd "$ROOT"
cargo build --locked --profile local -p saga-local --bin saga-local
node "$DIR/bench.mjs" --saga-local "$ROOT/target/local/saga-local" --runs "$RUNS" --dir "$ROOT/target/bench-peer"
