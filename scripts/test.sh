#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/bootstrap.sh"
# The HTML report's browser test (tests/test_report_browser.py) opens it in Debian's headless chromium.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing Debian's chromium for the report's browser test" >&2
    export DEBIAN_FRONTEND=noninteractive
    install=(apt-get install -y -qq --no-install-recommends chromium fonts-liberation)
    # Package lists may be missing on a fresh machine: update them only when the first try fails.
    "${install[@]}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && "${install[@]}" >/dev/null; } \
      || echo "test.sh: could not install chromium: the browser test will be skipped" >&2
  else
    echo "test.sh: chromium is not installed and apt-get is unavailable (or this is not root): the report's" \
         "browser test will be skipped" >&2
  fi
fi
cd "$repo"
exec "$repo/.venv/bin/python" -m pytest "$@"
