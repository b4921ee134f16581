#!/usr/bin/env bash
# Fuzzes one reader for longer than ctest's smoke (tests/fuzz, docs/reliability.md "Fuzzing").
# Usage: scripts/fuzz.sh [--fast] TARGET SECONDS [libFuzzer flags...]
#   TARGET: wal_fuzz, checkpoint_fuzz, config_fuzz, zk_broker_fuzz, plan_record_fuzz,
#           exporter_fuzz (the short names wal, checkpoint, config, zk_broker, plan_record and
#           exporter work too); e.g. scripts/fuzz.sh checkpoint 600 -jobs=1
# Builds the target and its seed generator (build/ci, the CI configuration), then fuzzes from
# the seeds and the regression inputs (tests/fuzz/regressions/TARGET). The corpus grows in
# build/ci/tests/fuzz/long-corpus/TARGET across runs; a finding is written to
# build/ci/tests/fuzz/findings/TARGET/ and the line to replay it is printed at the end.
# --fast fuzzes with TARGET_ubsan (UBSan without ASan, two to three times the executions a
# second on the readers that allocate most), then replays every input of the corpus it grew, and
# the findings, under TARGET (ASan and UBSan): a memory error the fast build cannot see is still
# caught on each input the campaign kept. Both counts are printed.
# FUZZ_NO_BUILD=1 skips the build (when it was built already, e.g. under a shared build lock).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/fuzz.sh [--fast] TARGET SECONDS [libFuzzer flags...]" \
       "(TARGET: wal, checkpoint, config, zk_broker, plan_record or exporter)" >&2
  exit 2
}
fast=
if [[ "${1:-}" == --fast ]]; then
  fast=_ubsan
  shift
fi
[[ $# -ge 2 ]] || usage
target=$1 seconds=$2
shift 2
[[ "$target" == *_fuzz ]] || target=${target}_fuzz
case "$target" in
  wal_fuzz | checkpoint_fuzz | config_fuzz | zk_broker_fuzz | plan_record_fuzz | exporter_fuzz) ;;
  *) echo "fuzz: unknown target '$target'" >&2; usage ;;
esac
[[ "$seconds" =~ ^[0-9]+$ ]] || usage

build=build/ci
[[ -f "$build/CMakeCache.txt" ]] || cmake --preset ci >/dev/null
[[ "${FUZZ_NO_BUILD:-}" == 1 ]] ||
  cmake --build "$build" --target "$target" "${target}_seeds" ${fast:+"$target$fast"} \
    -j "$(nproc 2>/dev/null || echo 2)"
bin=$build/bin/$target
if [[ ! -x "$bin" || ! -x "$bin$fast" ]]; then
  echo "fuzz: $bin was not built: clang++ with libFuzzer is missing" \
       "(scripts/install-deps.sh test installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi

dir=$build/tests/fuzz
corpus=$dir/long-corpus/$target
seeds=$dir/seeds/$target
findings=$dir/findings/$target
mkdir -p "$corpus" "$findings"
"$build/bin/${target}_seeds" "$seeds" >/dev/null
inputs=("$corpus" "$seeds")
[[ -d tests/fuzz/regressions/$target ]] && inputs+=("tests/fuzz/regressions/$target")

# New inputs go to the first directory; the seeds and regressions are only read.
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
rc=0
"$bin$fast" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$findings/" "$@" "${inputs[@]}" || rc=$?
if [[ -n "$fast" ]]; then
  # The replay under ASan: -runs=0 runs each input once, without mutating.
  # (libFuzzer takes directories or files, not both; a finding is listed below either way.)
  echo "fuzz: replaying $(find "$corpus" -type f | wc -l) corpus inputs under ASan ($bin)" >&2
  "$bin" -runs=0 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$findings/" "$corpus" ||
    rc=$?
fi
found=$(find "$findings" -type f -newer "$marker" 2>/dev/null | head -20)
if [[ -n "$found" ]]; then
  echo "fuzz: findings in $findings/; replay one with:" >&2
  while read -r f; do echo "  $bin $f" >&2; done <<<"$found"
  echo "fuzz: once fixed, keep it as a regression: cp FILE tests/fuzz/regressions/$target/NAME" >&2
fi
exit "$rc"
