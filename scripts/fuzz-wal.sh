#!/usr/bin/env bash
# Fuzzes the WAL reader: scripts/fuzz.sh wal_fuzz (kept for the habit).
# Usage: scripts/fuzz-wal.sh [SECONDS] [libFuzzer flags...]   (default 600 s)
set -euo pipefail
seconds=${1:-600}
[[ $# -gt 0 ]] && shift
exec "$(dirname "$0")/fuzz.sh" wal_fuzz "$seconds" "$@"
