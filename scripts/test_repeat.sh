#!/usr/bin/env bash
# `make test-repeat N=10 [LOAD=2]`: the test suites N times in a row against one moto, then each
# test that ever failed with its failure count. Proves (or disproves) that the suites are stable.
# LOAD=K runs K busy processes meanwhile (a stand-in for another build loading the cores).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

runs=${N:-10}
load=${LOAD:-0}
ensure_venv
work=$(mktemp -d)
load_pids=()
cleanup() {
  [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null
  for pid in "${load_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building the tests once"
cargo test --workspace --locked --no-run 2>&1 | tail -1

port=$(free_port)
log "moto on 127.0.0.1:$port (one server for all $runs runs)"
start_moto "$port" "$work/moto.log"

for _ in $(seq "$load"); do
  (while :; do :; done) &
  load_pids+=("$!")
done
[ "$load" -eq 0 ] || log "$load busy processes loading the cores"

green=0
for run in $(seq "$runs"); do
  started=$SECONDS
  set +e
  cargo test --workspace --locked --no-fail-fast >"$work/run-$run.log" 2>&1
  status=$?
  set -e
  line=$(summarize_tests "$work/run-$run.log" "$status" | tail -1) && green=$((green + 1))
  log "run $run/$runs: $line ($((SECONDS - started)) s)"
  grep -hE '^test .* \.\.\. FAILED$' "$work/run-$run.log" >>"$work/failures" || true
done

echo
if [ -s "$work/failures" ]; then
  echo "failures per test over $runs runs:"
  sed -E 's/^test (.*) \.\.\. FAILED$/\1/' "$work/failures" | sort | uniq -c | sort -rn
else
  echo "no test failed in $runs runs"
fi
echo "runs: $green passed, $((runs - green)) failed"
[ "$green" -eq "$runs" ]
