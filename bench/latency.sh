#!/usr/bin/env bash
# End-to-end latency (issue 13.5): from each record's produce timestamp (the producer's create
# time) to the call of the plugin that receives it, under a steady load, for each mode and
# batch interval. The plugin is bench/latency/latency_probe.cpp: it takes the wall clock once per
# batch and keeps every record's difference; the host, the producer and the broker share this
# machine's clock. Prints p50, p99 and max per run, and the target (p99 <= interval + 20 ms).
#
# Usage: bench/latency.sh [--rate R] [--seconds S] [--partitions P] [--intervals "100ms 1s"]
#                         [--modes "direct receiver"] [--block-interval D] [--build DIR]
#                         [--keep-logs] [-X K=V ...]
#   defaults: 200,000 records/s of 100 B (lz4) for 20 s into 8 partitions, both modes, 100 ms
#   and 1 s. Each run gets a fresh standalone mock broker; the host starts first (on an empty
#   topic) and the producer only once the host has run a batch (receiver mode: once the group
#   has assigned its partitions). Receiver mode cuts blocks every
#   fifth of the interval (20 ms at 100 ms; 200 ms, Spark's default, at 1 s) unless
#   --block-interval says otherwise: a record waits for its block, then for the next batch.
#   The mock broker holds a fetch for the whole fetch.wait.max.ms even when records arrive
#   meanwhile (a real broker answers at fetch.min.bytes): give -X fetch.wait.max.ms=10, as the
#   direct readers default to and the tests do, or receiver mode measures the mock's 500 ms.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/lib.sh"

rate=200000 seconds=20 partitions=8 intervals="100ms 1s" modes="direct receiver" build=""
keep_logs=0 extra=() block_interval=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --intervals) intervals=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    -X) extra+=(-X "$2"); shift 2 ;;
    --block-interval) block_interval=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/latency.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

targets=(sluice latency_probe)
if [[ -z "$build" ]]; then
  build=$root/build/release
  [[ -f "$build/CMakeCache.txt" ]] || cmake --preset release >/dev/null
  cmake --build --preset release -j 2 --target "${targets[@]}" >/dev/null
else
  cmake --build "$build" -j 2 --target "${targets[@]}" >/dev/null
fi
sluice=$build/bin/sluice
[[ -f "$build/bench-plugins/latency_probe.so" ]] ||
  { echo "bench/latency.sh: $build/bench-plugins/latency_probe.so not built" >&2; exit 1; }

work=$(mktemp -d /tmp/sluice-latency.XXXXXX)
broker="" host="" producer=""
cleanup() {
  [[ -n "$producer" ]] && kill "$producer" 2>/dev/null || true
  [[ -n "$host" ]] && kill "$host" 2>/dev/null || true
  stop_mock_broker
  if [[ $keep_logs == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms_of() {  # 100ms -> 100, 1s -> 1000
  case "$1" in
    *ms) echo "${1%ms}" ;;
    *s) echo $((${1%s} * 1000)) ;;
    *) echo "bench/latency.sh: interval '$1' is not NNms or NNs" >&2; exit 2 ;;
  esac
}

printf '%-9s %-9s %10s %12s %9s %9s %9s %12s\n' mode interval records "produced/s" "p50 ms" \
  "p99 ms" "max ms" "target p99"
for mode in $modes; do
  for interval in $intervals; do
    interval_ms=$(ms_of "$interval")
    run=$work/$mode-$interval
    mkdir -p "$run"
    start_mock_broker lat "$partitions"
    printf '[plugin.latency_probe]\noutput = %s\n' "$run/latency.txt" >"$run/run.ini"
    args=(run --brokers "$bootstrap" --topics lat --group "lat-$mode" --config "$run/run.ini"
      --plugin-dir "$build/bench-plugins" --plugin latency_probe --batch-interval "$interval"
      --auto-offset-reset earliest --log-level info ${extra[@]+"${extra[@]}"})
    if [[ $mode == receiver ]]; then
      block=${block_interval:-$((interval_ms / 5))ms}
      args+=(--mode receiver --block-interval "$block")
    fi
    "$sluice" "${args[@]}" 2>"$run/host.err" &
    host=$!
    ready=' records, '                       # direct mode: a batch has run
    [[ $mode == receiver ]] && ready=': assigned '  # receiver mode: the group gave it partitions
    for _ in $(seq 1 300); do
      grep -q "$ready" "$run/host.err" && break
      kill -0 "$host" 2>/dev/null || { echo "bench/latency.sh: the host exited:" >&2; cat "$run/host.err" >&2; exit 1; }
      sleep 0.1
    done
    "$sluice" produce --brokers "$bootstrap" --topic lat --count $((rate * seconds)) --rate "$rate" \
      --value-size 100 --compression lz4 --log-level warn >"$run/produce.out" 2>"$run/produce.err" &
    producer=$!
    wait "$producer" || { echo "bench/latency.sh: the producer failed:" >&2; cat "$run/produce.err" >&2; exit 1; }
    producer=""
    # Let the last records through, then stop the host (the probe writes its summary).
    sleep $(((2 * interval_ms + 999) / 1000 + 1))
    kill -TERM "$host"
    wait "$host" || true
    host=""
    stop_mock_broker
    broker=""
    produced=$(sed -n 's/.*records\/s=\([0-9.]*\).*/\1/p' "$run/produce.out")
    read -r _ records _ p50 _ p99 _ max <"$run/latency.txt"
    printf '%-9s %-9s %10s %12.0f %9s %9s %9s %12s\n' "$mode" "$interval" "$records" "$produced" \
      "$p50" "$p99" "$max" "<= $((interval_ms + 20))"
  done
done
