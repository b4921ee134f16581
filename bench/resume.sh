#!/usr/bin/env bash
# Catching up after a restart, one command: a cold start reads a topic from the beginning,
# stops (checkpoint), a backlog is produced, and a resume from the checkpoint reads it, on one
# standalone mock broker. Prints, per phase, the records, the batch's processing time, the
# microseconds per record and the CPU the broker process spent meanwhile.
# See docs/benchmarks.md ("Catching up after a restart") for what it shows.
#
# Usage: bench/resume.sh [--partitions P] [--cold N] [--backlog N]
#                        [--producer-batch N] [--build DIR] [--keep-logs]
#   --producer-batch N  records per producer batch (-X batch.num.messages=N -X linger.ms=5
#                       for `sluice produce`); 0 (default) = the producer's defaults (big batches)
#   --build DIR         where sluice and the noop plugin are built (default build/ci)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
root=$PWD

partitions=4
cold=74000
backlog=60000
producer_batch=0
build=$root/build/ci
keep_logs=0

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --partitions) partitions=$2; shift 2 ;;
    --cold) cold=$2; shift 2 ;;
    --backlog) backlog=$2; shift 2 ;;
    --producer-batch) producer_batch=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    -h|--help) usage ;;
    *) echo "bench/resume.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
for n in "$partitions" "$cold" "$backlog"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/resume.sh: '$n' is not a positive integer" >&2; exit 2; }
done
[[ "$producer_batch" =~ ^[0-9]+$ ]] || { echo "bench/resume.sh: '$producer_batch' is not a number" >&2; exit 2; }

sluice=$build/bin/sluice
[[ -x "$sluice" && -f "$build/plugin-dir/noop.so" ]] || {
  echo "bench/resume.sh: build sluice and noop in $build first (cmake --build $build --target sluice noop)" >&2
  exit 1
}

work=$(mktemp -d /tmp/sluice-resume.XXXXXX)
broker=""
cleanup() {
  stop_mock_broker
  if [[ $keep_logs == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

topic=catchup
start_mock_broker "$topic" "$partitions"
[[ -n "${bootstrap:-}" ]] || { echo "bench/resume.sh: the mock broker did not start" >&2; exit 1; }
# The mock serves from its own thread inside the broker process: its CPU is the broker's work.
broker_cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$broker/stat"; }

produce() {  # produce COUNT
  # Spread evenly (no sticky partitioner): one partition would take most of the records
  # (and the mock keeps only ~5 MiB of it), read one producer batch per round trip, alone.
  local args=(-X sticky.partitioning.linger.ms=0)
  [[ $producer_batch -gt 0 ]] && args+=(-X "batch.num.messages=$producer_batch" -X linger.ms=5)
  "$sluice" produce --brokers "$bootstrap" --topic "$topic" --count "$1" --log-level warn \
    "${args[@]}" >>"$work/produce.out"
}

run_phase() {  # run_phase NAME EXTRA-ARGS...: one batch; prints its line of the table
  local name=$1; shift
  local before after
  before=$(broker_cpu)
  "$sluice" run --brokers "$bootstrap" --topics "$topic" --plugin noop --checkpoint "$work/ck" \
    --batch-interval 1s --max-batches 1 -X fetch.wait.max.ms=10 "$@" >"$work/$name.log" 2>&1 ||
    { echo "bench/resume.sh: the $name run failed:" >&2; tail -n 20 "$work/$name.log" >&2; exit 1; }
  after=$(broker_cpu)
  # "batch N: R records, ... processing T ms"
  sed -n 's/.*batch [0-9]*: \([0-9]*\) records, .*processing \([0-9]*\) ms.*/\1 \2/p' \
    "$work/$name.log" | tail -n1 | awk -v n="$name" -v cpu="$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" '
      { printf "%-8s %9d records %8d ms %8.2f us/record   broker CPU %6.2f s\n", n, $1, $2,
               $1 ? $2 * 1000 / $1 : 0, cpu }'
}

echo "mock broker $bootstrap, topic $topic with $partitions partitions;" \
  "producer batches: $([[ $producer_batch -gt 0 ]] && echo "$producer_batch records" || echo "producer defaults")"
produce "$cold"
run_phase cold --auto-offset-reset earliest
produce "$backlog"
run_phase resume
