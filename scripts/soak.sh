#!/usr/bin/env bash
# The crash soaks of issue 15 (not in CI: CI runs the same tests with 10-20 cycles). Each soak is
# one of the suite's kill -9 tests run with SLUICE_SOAK_CYCLES=N, which scales its kills and its
# load; each prints its counts (cycles, missing, duplicated, replays) and fails on a record lost
# (or, where the mode promises exactly once, duplicated).
# Usage: scripts/soak.sh [CYCLES] [SOAK...]   (default 100 cycles, every soak)
#   SOAK: direct    kill -9 of sluice run, direct mode, file-sink, checkpoint
#         receiver  kill -9 of sluice run, receiver mode, WAL, file-sink
#         group     three (then four) hosts, direct-assignment = group, file-sink; one host at a
#                   time killed, one graceful leave, one host added
#         worker    kill -9 of an isolated plugin's worker (isolation = process) under load
# Builds what it runs in build/ci (SOAK_NO_BUILD=1 skips that). Logs: build/ci/soak/SOAK.log.
set -euo pipefail
cd "$(dirname "$0")/.."

cycles=${1:-100}
[[ "$cycles" =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: scripts/soak.sh [CYCLES] [direct|receiver|group|worker ...]" >&2
  exit 2
}
shift || true
soaks=("$@")
[[ ${#soaks[@]} -gt 0 ]] || soaks=(direct receiver group worker)

declare -A binary filter
binary[direct]=kill9_direct_robustness_test
filter[direct]='*'
binary[receiver]=kill9_receiver_robustness_test
filter[receiver]='*'
binary[group]=scale_out_file_sink_robustness_test
filter[group]='*'
binary[worker]=isolation_integration_test
filter[worker]='*KillNine*'

targets=()
for s in "${soaks[@]}"; do
  [[ -n "${binary[$s]:-}" ]] || {
    echo "soak: unknown soak '$s' (direct, receiver, group or worker)" >&2
    exit 2
  }
  targets+=("${binary[$s]}")
done

build=build/ci
[[ -f "$build/CMakeCache.txt" ]] || cmake --preset ci >/dev/null
[[ "${SOAK_NO_BUILD:-}" == 1 ]] ||
  cmake --build "$build" --target sluice file-sink print-offsets crashy "${targets[@]}" \
    -j "$(nproc 2>/dev/null || echo 2)"
mkdir -p "$build/soak"

failed=0
for s in "${soaks[@]}"; do
  log=$build/soak/$s.log
  echo "soak $s: $cycles cycles ($(date -u +%H:%M:%S) UTC), log $log"
  start=$(date +%s)
  if SLUICE_SOAK_CYCLES=$cycles "$build/bin/${binary[$s]}" --gtest_filter="${filter[$s]}" \
    >"$log" 2>&1; then
    result=passed
  else
    result=FAILED
    failed=1
  fi
  # The test's own summary lines (what it counted), then the verdict.
  grep -E '^(kill9|scale-out|isolation kill)' "$log" | grep -v 'seed' | sed 's/^/  /' || true
  echo "  $result in $(($(date +%s) - start)) s"
done
exit $failed
