#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, integration,
# robustness). This is the README's test command and what CI runs.
# Extra arguments go to ctest, e.g.  scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh test
jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$jobs"
ctest --preset ci -j "$jobs" "$@"
