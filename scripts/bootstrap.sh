#!/usr/bin/env bash
# Creates ./.venv (once) and installs trailbeam with its test and benchmark extras into it.
# Sourced by scripts/demo.sh and scripts/test.sh, so a fresh machine needs nothing installed by hand.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if [ ! -x "$repo/.venv/bin/python" ]; then
  "$python" -m venv "$repo/.venv"
fi
stamp="$repo/.venv/.trailbeam-installed"
# Reinstall only when the dependencies or the C extension's source changed (the install builds it in place).
state="$(cat "$repo/setup.cfg" "$repo/setup.py" "$repo/trailbeam/_storescan.c" | sha256sum)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$state" ]; then
  "$repo/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$repo/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$repo[test,bench]"
  echo "$state" > "$stamp"
fi
