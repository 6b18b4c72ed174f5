#!/usr/bin/env bash
# saga-local serve: orders per second and POST → COMPLETED latency (p50/p99)
# at concurrency 1 and 32, for orders below the approval threshold. Builds the
# server and the load generator with the `local` profile (what `make local`
# runs). Clients wait with `GET /orders/{id}?wait=20` (`--poll-ms N`: poll
# instead). Extra arguments go to the benchmark, e.g.
#   bash scripts/bench-local.sh --orders 1000 --concurrency 1,8,32
#   bash scripts/bench-local.sh --server /path/to/other/saga-local --poll-ms 2
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked --profile local -p saga-local --bench serve -- "$@"
