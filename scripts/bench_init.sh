#!/usr/bin/env bash
# `make bench-init`: every function's init time (spawn → first /invocation/next on a local Runtime
# API) beside the smallest lambda_http function (tests/init-baseline), all built with the
# workspace's release profile, in one interleaved run (scripts/bench_init.py). ROUNDS (30) and
# WARMUP (2) set the rounds; BENCH_INIT_ENV_<NAME>=value passes NAME=value to every binary.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
command -v python3 >/dev/null || die "python3 is needed"
command -v cargo >/dev/null || die "cargo (Rust) is needed: https://rustup.rs"

functions=(ticket-receive auth-start auth-callback token-refresh code-admin)
# One `cargo build` per binary, as each is built for deployment (cargo resolves features per
# command); the dependencies they share are compiled once.
for bin in init-baseline "${functions[@]}"; do
  log "building $bin (release profile)"
  cargo build --quiet --release -p "$bin" --bin "$bin" || die "building $bin failed"
done
target=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
args=(init-baseline="$target/release/init-baseline")
for fn in "${functions[@]}"; do args+=("$fn=$target/release/$fn"); done
log "measuring init (${ROUNDS:-30} rounds, interleaved)"
python3 scripts/bench_init.py --rounds "${ROUNDS:-30}" --warmup "${WARMUP:-2}" "${args[@]}"
