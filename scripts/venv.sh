#!/usr/bin/env bash
# Ensure the project's Python venv exists with scripts/requirements.txt installed.
# The venv lives at $VENV (default: .venv beside this repo's Makefile). It is reused while the
# requirements file is unchanged (a stamp holds its hash) and rebuilt otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
req=$here/scripts/requirements.txt
want=$(sha256sum "$req" | cut -d' ' -f1)
stamp=$venv/.requirements.sha256
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
echo "venv: installing $(grep -cv '^\s*#' "$req") packages into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
echo "$want" > "$stamp"
