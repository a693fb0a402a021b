#!/usr/bin/env bash
# `make test`: every check CI runs, against a moto started here on a free port.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
ensure_browser
use_workdir

log "cargo fmt --check"
cargo fmt --all -- --check

log "cfn-lint template.yaml"
cfn-lint template.yaml

log "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

port=$(free_port)
log "moto on 127.0.0.1:$port"
start_moto "$port" "$work/moto.log"

log "cargo test --workspace --no-fail-fast (every test binary runs, whatever fails)"
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$work/test.log"
status=${PIPESTATUS[0]}
set -e
summarize_tests "$work/test.log" "$status"
