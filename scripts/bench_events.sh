#!/usr/bin/env bash
# `make bench-events`: 10,000 message-URL pushes on a fresh moto (DynamoDB, Streams, EventBridge,
# SQS), stored by ticket-receive and published by event-publisher behind the local stream source
# (every 10th invocation failing to reach the bus). Prints one JSON line. BENCH_PUSHES and
# BENCH_CONCURRENCY change the set-up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_moto
log "events at scale (moto on 127.0.0.1:$BENCH_MOTO_PORT)"
moto_cpu() { awk '{ print ($14 + $15) / 100 }' "/proc/$MOTO_PID/stat"; }
before=$(moto_cpu)
cargo bench --quiet -p event-publisher --bench events_at_scale
log "moto's CPU during the run: $(awk -v a="$before" -v b="$(moto_cpu)" 'BEGIN { printf "%.1f s", b - a }')"
