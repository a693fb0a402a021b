#!/usr/bin/env bash
# `make bench-refresh`: 10,000 authorizers due at once, refreshed in one token-refresh run against
# the WeChat simulator (20 ms added to every answer) and a fresh moto. Prints one JSON line.
# BENCH_AUTHORIZERS, BENCH_LATENCY_MS and REFRESH_CONCURRENCY change the set-up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_moto
log "token-refresh at scale (moto on 127.0.0.1:$BENCH_MOTO_PORT)"
cargo bench --quiet -p token-refresh --bench refresh_at_scale
