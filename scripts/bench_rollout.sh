#!/usr/bin/env bash
# `make bench-rollout`: one rollout to 1,000 mini programs (5 % rejected, auto release) on a fresh
# moto (DynamoDB, SQS) and the WeChat simulator, worked by rollout-worker behind the local SQS
# event source. Prints one JSON line. BENCH_TARGETS and BENCH_CONCURRENCY change the set-up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_moto
log "a rollout at scale (moto on 127.0.0.1:$BENCH_MOTO_PORT)"
moto_cpu() { awk '{ print ($14 + $15) / 100 }' "/proc/$MOTO_PID/stat"; }
before=$(moto_cpu)
cargo bench --quiet -p rollout-worker --bench rollout_at_scale
log "moto's CPU during the run: $(awk -v a="$before" -v b="$(moto_cpu)" 'BEGIN { printf "%.1f s", b - a }')"
