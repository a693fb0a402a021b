# Shared helpers of the Makefile's scripts (sourced, not run).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python

log() {
  if [ -t 2 ]; then printf '\033[1m==> %s\033[0m\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ensure_venv() {
  command -v python3 >/dev/null || die "python3 is needed to install moto, cargo-lambda and cfn-lint"
  command -v cargo >/dev/null || die "cargo (Rust) is needed: https://rustup.rs"
  bash "$ROOT/scripts/venv.sh"
  export PATH="$VENV/bin:$PATH"
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_in_use() {
  "$PY" -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# wait_http URL SECONDS: until URL answers (any HTTP status) or time runs out.
wait_http() {
  "$PY" - "$1" "$2" <<'PYEOF'
import sys, time, urllib.request, urllib.error
url, deadline = sys.argv[1], time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        urllib.request.urlopen(url, timeout=1)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PYEOF
}

# wait_port PORT SECONDS: until something listens on 127.0.0.1:PORT.
wait_port() {
  local deadline=$((SECONDS + $2))
  until port_in_use "$1"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.3
  done
}

# start_moto PORT LOGFILE: moto's server (DynamoDB, Secrets Manager, SQS) on loopback; sets MOTO_PID.
# Never long-poll its SQS (WaitTimeSeconds > 0): one request at a time means a waiting receive
# holds every other AWS call; devstack's event source short-polls.
start_moto() {
  local port=$1 logfile=$2
  port_in_use "$port" && die "port $port is already in use (set DDB_PORT to another port)"
  # Through scripts/moto_server.py: one request at a time, so that conditional writes are atomic
  # as in DynamoDB (moto's own server lets two concurrent ones both succeed).
  "$PY" "$ROOT/scripts/moto_server.py" 127.0.0.1 "$port" >"$logfile" 2>&1 &
  MOTO_PID=$!
  wait_http "http://127.0.0.1:$port/moto-api/" 30 || { cat "$logfile" >&2; die "moto did not start on port $port"; }
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"
  # The events' outbox: the events table's stream, and the bus the publisher puts them on.
  export AWS_ENDPOINT_URL_DYNAMODB_STREAMS="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$port"
  # moto accepts any credentials; never let a developer's real ones or IMDS be used here.
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

# summarize_tests LOG STATUS: the closing line `tests: N passed, N failed` over every test binary
# of a `cargo test` log, and the names of the failed tests; exits non-zero if any failed. A binary
# that died without its "test result" line (a crash, a build error) counts as one failure.
summarize_tests() {
  local log=$1 status=$2 passed failed crashed
  passed=$(grep -E '^test result: ' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
  failed=$(grep -E '^test result: ' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
  if [ "$status" -ne 0 ]; then
    # Failed targets (cargo's closing "error: N targets failed", or one "error: test failed")
    # minus those that reported failing tests = binaries that crashed or did not build.
    local targets reported
    targets=$(grep -Eo '^error: [0-9]+ targets? failed' "$log" | grep -Eo '[0-9]+' | tail -1)
    [ -n "$targets" ] || targets=$(grep -cE '^error: (test failed|could not compile)' "$log" || true)
    reported=$(grep -cE '^test result: FAILED' "$log" || true)
    crashed=$((targets > reported ? targets - reported : 0))
    failed=$((failed + crashed))
    [ "$failed" -gt 0 ] || failed=1
  fi
  if [ "$failed" -gt 0 ]; then
    echo "failed tests:"
    grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/  \1/' || true
    grep -E '^error: |^    `-p ' "$log" | sed 's/^ */  /' || true
  fi
  echo "tests: $passed passed, $failed failed"
  [ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
}

# A scratch folder in $work, removed on exit with the moto this script started (if any);
# Ctrl-C exits 130.
use_workdir() {
  work=$(mktemp -d)
  trap '[ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null; rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM
}

# bench_moto: what a benchmark needs before its cargo bench: the venv, the work folder and a fresh
# moto on a free port (sets MOTO_PID; the port is in BENCH_MOTO_PORT).
bench_moto() {
  ensure_venv
  use_workdir
  BENCH_MOTO_PORT=$(free_port)
  start_moto "$BENCH_MOTO_PORT" "$work/moto.log"
}

# The browser tests' Chromium, its driver and the CJK fonts (Debian's packages: no download step of
# their own). Installed when missing; root (or sudo) and the Debian archive are needed then.
ensure_browser() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  [ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${missing[*]} (apt) for the console's browser tests"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } \
    || die "could not install ${missing[*]}: install them with apt, then run make test again"
}
