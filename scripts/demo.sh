#!/usr/bin/env bash
# The main job on embedded defaults: synthetic sample trail -> ingest (local runner) -> summary.
# Extra arguments go to `trailbeam demo` (e.g. --out DIR --events 20000).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/bootstrap.sh"
out="$repo/demo"
rm -rf "$out"
exec "$repo/.venv/bin/trailbeam" demo --out "$out" "$@"
