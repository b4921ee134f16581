#!/usr/bin/env bash
# Fuzzes the WAL reader (tests/wal/wal_fuzz.cpp) for longer than the 20 s of ctest's
# wal_fuzz_smoke. Usage: scripts/fuzz-wal.sh [SECONDS] [extra libFuzzer flags...]
# (default 600 s; e.g. scripts/fuzz-wal.sh 3600 -jobs=2 -workers=2).
# The corpus grows in build/ci/tests/wal/fuzz-long-corpus across runs; a finding is written to
# build/ci/tests/wal/fuzz-findings/ (replay it: build/ci/bin/wal_fuzz FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
[[ $# -gt 0 ]] && shift
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz-wal.sh [SECONDS] [libFuzzer flags...]" >&2
  exit 2
fi

build=build/ci
cmake --preset ci >/dev/null
cmake --build "$build" --target wal_fuzz wal_fuzz_seeds -j "$(nproc 2>/dev/null || echo 2)"
if [[ ! -x "$build/bin/wal_fuzz" ]]; then
  echo "fuzz-wal: $build/bin/wal_fuzz was not built: clang++ with libFuzzer is missing" \
       "(scripts/install-deps.sh test installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi

corpus=$build/tests/wal/fuzz-long-corpus
seeds=$build/tests/wal/fuzz-seeds
findings=$build/tests/wal/fuzz-findings
mkdir -p "$corpus" "$findings"
"$build/bin/wal_fuzz_seeds" "$seeds" >/dev/null
# New inputs go to the first directory; the seeds are read only.
exec "$build/bin/wal_fuzz" -max_total_time="$seconds" -timeout=5 -print_final_stats=1 \
  -artifact_prefix="$findings/" "$@" "$corpus" "$seeds"
