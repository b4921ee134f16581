#!/usr/bin/env bash
# What a receiver-mode crash costs, per commit rule: `sluice produce` feeds a standalone mock
# broker while `sluice run --mode receiver` (WAL on, print-offsets + file-sink) is killed with
# SIGKILL at random moments; --machine-loss also deletes its WAL directory each time (the disk
# went with the machine) so the next host starts on a fresh one. A last undisturbed host catches
# up; then every produced record is looked for in the sink. Prints, per rule: records missing
# (never processed) and records delivered to the plugins more than once.
#
# Usage: bench/receiver_crash.sh [--rules "processed stored"] [--cycles 10] [--records 24000]
#                                [--rate 800] [--machine-loss] [--build DIR] [--seed N]
# See docs/benchmarks.md (receiver mode) for the figures it gives.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

rules="processed stored"
cycles=10
records=24000
rate=800
machine_loss=0
build="$(cd "$(dirname "$0")/.." && pwd)/build/ci"
seed=$RANDOM
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rules) rules=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --machine-loss) machine_loss=1; shift ;;
    --build) build=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    *) echo "bench/receiver_crash.sh: unknown argument '$1' (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done
sluice=$build/bin/sluice
[[ -x "$sluice" ]] || { echo "bench/receiver_crash.sh: no $sluice: build the tree first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-rcrash-XXXXXX")
host=""
cleanup() {
  [[ -n "$host" ]] && kill -KILL "$host" 2>/dev/null || true
  stop_mock_broker
  rm -rf "$work"
}
trap cleanup EXIT
RANDOM=$seed

# run_host RULE WAL LOG: starts one receiver-mode host in the background; sets $host.
run_host() {
  "$sluice" run --mode receiver --brokers "$bootstrap" --topics rcrash:2 --group "crash-$1" \
    --config "$work/$1.ini" --plugin print-offsets --plugin file-sink --wal-dir "$2" \
    --receiver-commit "$1" --auto-offset-reset earliest --batch-interval 200ms \
    --block-interval 50ms -X fetch.wait.max.ms=10 -X session.timeout.ms=3000 \
    -X heartbeat.interval.ms=500 2>"$3" &
  host=$!
}

echo "receiver crash cost: $cycles kill -9 cycles, $records records at $rate/s, 4 partitions," \
  "2 consumer threads$([[ $machine_loss == 1 ]] && echo ", WAL deleted after each kill (machine loss)"), seed $seed"
printf "%-12s %9s %9s %9s %16s\n" "rule" "produced" "in sink" "missing" "delivered twice"
for rule in $rules; do
  topic=rcrash
  start_mock_broker "$topic" 4
  printf "[plugin.file-sink]\npath = %s\n[plugin.print-offsets]\noutput = %s\n" \
    "$work/$rule.jsonl" "$work/$rule.ranges" >"$work/$rule.ini"
  "$sluice" produce --brokers "$bootstrap" --topic "$topic" --count "$records" --rate "$rate" \
    --key-size 8 >/dev/null 2>"$work/producer.err" &
  producer=$!
  for ((c = 0; c < cycles; c++)); do
    wal=$work/wal.$rule
    [[ $machine_loss == 1 ]] && wal=$work/wal.$rule.$c
    run_host "$rule" "$wal" "$work/$rule.$c.log"
    sleep "$((1 + RANDOM % 6)).$((RANDOM % 10))"
    kill -KILL "$host" 2>/dev/null || true
    wait "$host" 2>/dev/null || true
    host=""
    [[ $machine_loss == 1 ]] && rm -rf "$wal"
  done
  wait "$producer"
  # The last host (on the same WAL, or a fresh one after a machine loss) catches up.
  wal=$work/wal.$rule
  [[ $machine_loss == 1 ]] && wal=$work/wal.$rule.last
  run_host "$rule" "$wal" "$work/$rule.last.log"
  for _ in $(seq 1 300); do
    [[ $(wc -l <"$work/$rule.jsonl" 2>/dev/null || echo 0) -ge $records ]] && break
    lag=$(grep -c "batch [0-9]*: 0 records" "$work/$rule.last.log" || true)
    ((lag > 50)) && break  # caught up: nothing more will come
    sleep 0.1
  done
  kill -TERM "$host"; wait "$host" 2>/dev/null || true; host=""
  highs=""
  for p in 0 1 2 3; do highs+="$(kcat -b "$bootstrap" -Q -t "$topic:$p:-1" | awk '{print $NF}') "; done
  stop_mock_broker; broker=""
  python3 - "$work/$rule.jsonl" "$work/$rule.ranges" "$records" "$rule" "$highs" <<'EOF'
import collections, json, sys
sink, ranges, records, rule = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
highs = [int(h) for h in sys.argv[5].split()]
got = set()
for line in open(sink):
    j = json.loads(line)
    got.add((j["partition"], j["offset"]))
missing = sum(1 for p, high in enumerate(highs) for o in range(high) if (p, o) not in got)
seen = collections.Counter()
for line in open(ranges):
    w = line.split()
    if w and w[0] != "batch":
        for o in range(int(w[2]), int(w[3])):
            seen[(int(w[1]), o)] += 1
twice = sum(n - 1 for n in seen.values() if n > 1)
print(f"{rule:<12} {records:>9} {len(got):>9} {missing:>9} {twice:>16}")
EOF
done
