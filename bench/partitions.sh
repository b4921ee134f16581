#!/usr/bin/env bash
# Cost per batch against the partition count (issue 17): for each count, one standalone mock
# broker with one topic of that many partitions, and `sluice run` (noop, --checkpoint in direct
# mode) at a short batch interval, twice: idle (no record at all) and 1% busy (a keyed producer
# writes partitions/100 records per batch interval, spread at random over the partitions, so a
# batch has records in about 1% of them). Prints, per mode and count, from the host's own batch
# lines (the last --batches of each run; the first batches start the partitions):
#   e2e     scheduling delay + processing of a batch (median / max, ms): direct mode plans
#           after the batch was due and before its processing starts, so this is the batch's
#           cost from its due time to its commit
#   delay   the scheduling delay alone (median / max, ms)
#   ckpt    checkpoint bytes written per batch (offsets + commits + bases, direct mode)
#   first   the first batch's e2e (ms): starting every partition
#   rss     peak RSS of the host (MB)
# Usage: bench/partitions.sh [--counts "10 100 1000 10000 20000"] [--modes "direct receiver"]
#                            [--batch-interval D] [--batches N] [--build DIR] [--no-build]
#                            [--keep-logs]
# Builds sluice and noop in DIR (build/ci, the RelWithDebInfo CI tree) first, unless --no-build.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
root=$PWD

counts="10 100 1000 10000 20000"
modes="direct receiver"
batch_interval=100ms
batches=40
build=$root/build/ci
build_first=1
keep_logs=0
usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --counts) counts=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --batch-interval) batch_interval=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --no-build) build_first=0; shift ;;
    --keep-logs) keep_logs=1; shift ;;
    -h|--help) usage ;;
    *) echo "bench/partitions.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
for n in $counts "$batches"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/partitions.sh: '$n' is not a positive integer" >&2; exit 2; }
done
[[ "$batch_interval" =~ ^([0-9]+)ms$ ]] ||
  { echo "bench/partitions.sh: --batch-interval takes milliseconds, e.g. 100ms" >&2; exit 2; }
interval_ms=${BASH_REMATCH[1]}
command -v /usr/bin/time >/dev/null ||
  { echo "bench/partitions.sh: /usr/bin/time is missing: run scripts/install-deps.sh bench" >&2; exit 1; }

[[ $build_first == 1 ]] && cmake --build "$build" -j 2 --target sluice noop >/dev/null
sluice=$build/bin/sluice
[[ -f "$build/plugin-dir/noop.so" ]] || { echo "bench/partitions.sh: $build/plugin-dir/noop.so not built" >&2; exit 1; }

work=$(mktemp -d /tmp/sluice-partitions.XXXXXX)
broker=""
producer=""
cleanup() {
  [[ -n "$producer" ]] && kill "$producer" 2>/dev/null || true
  stop_mock_broker
  if [[ $keep_logs == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# summarize LOG SKIP: "e2e_med e2e_max delay_med delay_max first_e2e" over the batch lines
# after the first SKIP (receiver mode: after the group's assignment).
summarize() {
  awk -v skip="$2" '
    /: assigned / { skip = n }
    / batch [0-9]+: [0-9]+ records,/ {
      for (i = 1; i <= NF; i++) {
        if ($i == "processing") p = $(i + 1)
        if ($i == "delay") d = $(i + 1)
      }
      n++
      if (n == 1) first = p + d
      if (n <= skip) next
      m++; e[m] = p + d; dl[m] = d
    }
    function median(a, k,   i, j, t) {
      for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return k ? a[int((k + 1) / 2)] : -1
    }
    END {
      if (!m) { print "- - - - -"; exit }
      emax = 0; dmax = 0
      for (i = 1; i <= m; i++) { if (e[i] > emax) emax = e[i]; if (dl[i] > dmax) dmax = dl[i] }
      printf "%d %d %d %d %d\n", median(e, m), emax, median(dl, m), dmax, first
    }' "$1"
}

# run_one MODE PARTITIONS LOAD(idle|busy): one host run; prints the table row.
run_one() {
  local mode=$1 parts=$2 load=$3 log=$work/$1-$2-$3.log ckpt=$work/ckpt-$1-$2-$3
  local skip=5 total=$((batches + 5)) args=()
  if [[ $mode == direct ]]; then
    args=(--checkpoint "$ckpt")
  else
    args=(--mode receiver --group "bench-$parts-$load" --block-interval "$batch_interval"
      -X session.timeout.ms=6000)
  fi
  if [[ $load == busy ]]; then
    local rate=$(((parts + 99) / 100 * 1000 / interval_ms))
    "$sluice" produce --brokers "$bootstrap" --topic "$topic" --count 0 --rate "$rate" \
      --key-size 20 --log-level warn >/dev/null 2>&1 &
    producer=$!
  fi
  # Receiver mode's batches count from the group's assignment, which takes seconds: it runs
  # until --batches batches after it, then stops (SIGTERM).
  [[ $mode == receiver ]] && total=0
  /usr/bin/time -f '%M' -o "$work/time" "$sluice" run --brokers "$bootstrap" --topics "$topic" \
    --plugin noop --auto-offset-reset latest --batch-interval "$batch_interval" \
    --max-batches "$total" -X fetch.wait.max.ms=10 "${args[@]}" >"$log" 2>&1 &
  local running=$! child=""
  if [[ $mode == receiver ]]; then
    local deadline=$((SECONDS + 300))
    while kill -0 "$running" 2>/dev/null && ((SECONDS < deadline)); do
      if awk '/: assigned /{a=1} a && / batch [0-9]+: [0-9]+ records,/{n++} END{exit !(n >= '"$batches"')}' "$log"; then
        break
      fi
      sleep 0.2
    done
    child=$(pgrep -P "$running" | head -n1) || true
    [[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null
  fi
  wait "$running" ||
    { echo "bench/partitions.sh: sluice run failed ($mode, $parts partitions, $load):" >&2; tail -5 "$log" | cut -c1-300 >&2; }
  if [[ -n "$producer" ]]; then
    kill "$producer" 2>/dev/null || true
    wait "$producer" 2>/dev/null || true
    producer=""
  fi
  local stats bytes="-" rss
  stats=$(summarize "$log" "$skip")
  rss=$(($(tail -n1 "$work/time") / 1024))
  if [[ $mode == direct && -d "$ckpt" ]]; then
    # Everything the checkpoint wrote for the measured batches: entries of ids >= skip and the
    # bases they made (a base named after batch id b holds the positions after b).
    bytes=$(find "$ckpt/offsets" "$ckpt/commits" "$ckpt/bases" -type f -printf '%f %s\n' |
      awk -v skip="$skip" -v n="$batches" '$1 >= skip { s += $2 } END { printf "%d", s / n }')
  fi
  read -r e2e_med e2e_max delay_med delay_max first <<<"$stats"
  printf '| %s | %s | %s | %s / %s | %s / %s | %s | %s | %s |\n' "$mode" "$parts" "$load" \
    "$e2e_med" "$e2e_max" "$delay_med" "$delay_max" "$bytes" "$first" "$rss"
}

echo "# bench/partitions.sh $(date -u '+%Y-%m-%d %H:%M UTC'), tree $(git rev-parse --short HEAD 2>/dev/null || echo '?'), interval $batch_interval, $batches batches measured"
echo "| mode | partitions | load | e2e ms (median / max) | delay ms (median / max) | ckpt bytes/batch | first batch ms | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
topic=parts
for parts in $counts; do
  : >"$work/broker.out"  # the previous broker's address must not be read for the new one
  start_mock_broker "$topic" "$parts"
  for mode in $modes; do
    for load in idle busy; do run_one "$mode" "$parts" "$load"; done
  done
  stop_mock_broker
  broker=""
done
