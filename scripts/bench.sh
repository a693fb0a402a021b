#!/usr/bin/env bash
# `make bench`: per-push cost of verify + decrypt + parse of a ticket push, this project (criterion)
# against wechatpy (timeit) on the same vector, in the same run on the same machine.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv
log "criterion: shared/benches/push.rs"
cargo bench --quiet -p shared --bench push -- --noplot ticket_push_verify_decrypt_parse
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
ours=$("$PY" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["mean"]["point_estimate"]))' \
  "$target_dir/criterion/ticket_push_verify_decrypt_parse/new/estimates.json")
log "wechatpy: scripts/bench_wechatpy.py"
theirs=$("$PY" scripts/bench_wechatpy.py | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["ns_per_push"])')
printf '\nticket push, verify + decrypt + parse, per push:\n'
printf '  this project (Rust, criterion mean)   %8s ns\n' "$ours"
printf '  wechatpy 1.8.18 (Python, timeit best) %8s ns\n' "$theirs"
"$PY" -c 'import sys; print("  ratio                                 %8.1fx" % (int(sys.argv[2]) / int(sys.argv[1])))' "$ours" "$theirs"
