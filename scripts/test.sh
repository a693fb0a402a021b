#!/usr/bin/env bash
# `make test`: every check CI runs, against a moto started here on a free port.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
work=$(mktemp -d)
cleanup() { [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

log "cargo fmt --check"
cargo fmt --all -- --check

log "cfn-lint template.yaml"
cfn-lint template.yaml

log "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

port=$(free_port)
log "moto on 127.0.0.1:$port"
start_moto "$port" "$work/moto.log"

log "cargo test --workspace"
set +e
cargo test --workspace --locked 2>&1 | tee "$work/test.log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '[0-9]+ passed' "$work/test.log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$work/test.log" | awk '{s+=$1} END {print s+0}')
echo "tests: $passed passed, $failed failed"
exit "$status"
