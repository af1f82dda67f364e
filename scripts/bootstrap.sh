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
# Reinstall only when the dependency list changed.
if [ ! -f "$stamp" ] || ! cmp -s "$repo/setup.cfg" "$stamp"; then
  "$repo/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$repo/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$repo[test,bench]"
  cp "$repo/setup.cfg" "$stamp"
fi
