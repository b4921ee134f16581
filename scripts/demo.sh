#!/usr/bin/env bash
# The main job in one command: builds Sluice, starts `sluice run` on the
# embedded Kafka (librdkafka's mock cluster) with the print-offsets plugin,
# feeds it with `sluice produce`, and shows every batch and its offset ranges.
# Usage: scripts/demo.sh [BATCHES=20]   (Ctrl-C stops it cleanly at any time)
set -euo pipefail
cd "$(dirname "$0")/.."
batches=${1:-20}

scripts/install-deps.sh build
echo "demo: building sluice (release preset, build/release)..." >&2
build_log=build/demo-build.log
mkdir -p build
if ! { cmake --preset release && cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" \
         --target sluice print-offsets; } >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  echo "demo: the build failed; the whole log is in $build_log" >&2
  exit 1
fi

bin=build/release/bin/sluice
log=$(mktemp)
trap 'kill "$producer" 2>/dev/null || true; rm -f "$log"' EXIT

"$bin" run --brokers embedded --topics demo --embedded-partitions 4 \
  --plugin print-offsets --batch-interval 1s --max-batches "$batches" \
  --auto-offset-reset earliest -X fetch.wait.max.ms=10 2> >(tee "$log" >&2) &
host=$!

# The embedded cluster's port is random: take it from the host's log line.
for _ in $(seq 1 100); do
  bootstrap=$(grep -o 'embedded Kafka[^;]* at [0-9.:,]*' "$log" | awk '{print $NF}' | head -n1 || true)
  [[ -n "$bootstrap" ]] && break
  sleep 0.1
done
if [[ -z "${bootstrap:-}" ]]; then
  echo "demo: the host did not start; see the messages above" >&2
  wait "$host" || true
  exit 1
fi
"$bin" produce --brokers "$bootstrap" --topic demo --count 1000000 --rate 5000 \
  --value-size 100 --key-size 8 >/dev/null 2>&1 &
producer=$!
wait "$host"
