#!/usr/bin/env bash
# Peak memory against the batch (issue 13.2): a backlog far larger than a batch (2 M records of
# 100 B, lz4, on 64 partitions of one standalone mock broker) read by `sluice run` with
# max-batch-bytes, in direct mode and in receiver mode, noop plugin. Prints, per mode, the
# largest batch (keys + values, from the host's batch lines), the peak RSS of the host process
# (VmHWM of /proc/PID/status once every record is read) and the bound 1.5 x largest batch + 40 MB.
# See docs/benchmarks.md ("Memory against the batch").
#
# Usage: bench/memory.sh [--records N] [--partitions P] [--value-size B] [--max-batch-bytes SIZE]
#                        [--modes "direct receiver"] [--build DIR] [--keep-logs]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

records=2000000
value_size=100
partitions=64
max_batch_bytes=32MiB
modes="direct receiver"
build=build/release
keep_logs=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --records) records=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --value-size) value_size=$2; shift 2 ;;
    --max-batch-bytes) max_batch_bytes=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[[ -x "$build/bin/sluice" ]] || build=build/ci
sluice=$build/bin/sluice
[[ -x "$sluice" ]] || { echo "bench/memory.sh: no sluice in $build/bin (build it first)" >&2; exit 1; }

work=$(mktemp -d /tmp/sluice-memory.XXXXXX)
broker=""
host=""
cleanup() {
  [[ -n "$host" ]] && kill "$host" 2>/dev/null || true
  stop_mock_broker
  if [[ $keep_logs == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

topic=memory
start_mock_broker "$topic" "$partitions"
echo "producing $records records of $value_size B (lz4) to $partitions partitions ..." >&2
"$sluice" produce --brokers "$bootstrap" --topic "$topic" --count "$records" --value-size "$value_size" \
  --compression lz4 --log-level warn >"$work/produce.out"
check_data_on_broker "$topic" "$partitions" "$records"

# read_all MODE LOG ARG...: runs the host until its batch lines add up to every record, reads
# its peak RSS (VmHWM in /proc/PID/status), then stops it with SIGTERM;
# "largest_batch_bytes peak_rss_kb" to $work/result.
read_all() {
  local mode=$1 log=$2; shift 2
  "$sluice" run "$@" --brokers "$bootstrap" --topics "$topic" --plugin noop \
    --auto-offset-reset earliest --max-batch-bytes "$max_batch_bytes" --hot-reload false \
    -X fetch.wait.max.ms=10 >"$log" 2>&1 &
  host=$!
  local done=0 hwm=0
  for _ in $(seq 1 2400); do
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$host/status" 2>/dev/null || echo "$hwm")
    done=$(awk '/ batch [0-9]+.*: [0-9]+ records,/ { for (i = 1; i <= NF; i++) if ($i == "records,") n += $(i - 1) } END { print n + 0 }' "$log")
    ((done >= records)) && break
    kill -0 "$host" 2>/dev/null || break
    sleep 0.1
  done
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$host/status" 2>/dev/null || echo "$hwm")
  kill -TERM "$host" 2>/dev/null || true
  wait "$host" || { echo "bench/memory.sh: $mode run failed:" >&2; tail -n 20 "$log" >&2; exit 1; }
  host=""
  ((done >= records)) || { echo "bench/memory.sh: $mode read $done of $records records" >&2; tail -n 5 "$log" >&2; exit 1; }
  # The batch line's "X MB" is keys + values in 10^6 bytes.
  awk -v hwm="$hwm" '/ batch [0-9]+.*: [0-9]+ records,/ { for (i = 1; i <= NF; i++) if ($i == "MB,") if ($(i - 1) > m) m = $(i - 1) } END { printf "%d %d\n", m * 1e6, hwm }' "$log" >"$work/result"
}

printf '%-9s %-15s %8s %10s %14s %14s %s\n' mode max-batch-bytes batches "largest MB" "peak RSS MB" "bound MB" verdict
# The floor: a plain librdkafka batch-consume loop (bench_plain_consumer) on the same data.
if [[ -x "$build/bin/bench_plain_consumer" ]]; then
  /usr/bin/time -f '%M' -o "$work/time" "$build/bin/bench_plain_consumer" --brokers "$bootstrap" \
    --topic "$topic" --records "$records" -X fetch.wait.max.ms=10 >"$work/plain.log" 2>&1
  awk -v r="$(cat "$work/time")" 'BEGIN { printf "%-9s %-15s %8s %10s %14.1f %14s %s\n", "plain", "-", "-", "-", r * 1024 / 1e6, "-", "(librdkafka alone)" }'
fi
for mode in $modes; do
  case $mode in
    direct) read_all direct "$work/direct.log" --batch-interval 10ms ;;
    receiver) read_all receiver "$work/receiver.log" --mode receiver --group memory-bench \
      --batch-interval 200ms --block-interval 200ms ;;
    *) echo "bench/memory.sh: unknown mode $mode" >&2; exit 2 ;;
  esac
  read -r largest rss <"$work/result"
  batches=$(grep -cE ' batch [0-9]+.*: [1-9][0-9]* records,' "$work/$mode.log" || true)
  awk -v m="$mode" -v b="$max_batch_bytes" -v n="$batches" -v l="$largest" -v r="$rss" 'BEGIN {
    bound = 1.5 * l / 1e6 + 40; peak = r * 1024 / 1e6
    printf "%-9s %-15s %8d %10.1f %14.1f %14.1f %s\n", m, b, n, l / 1e6, peak, bound, peak <= bound ? "within" : "OVER"
  }'
done
