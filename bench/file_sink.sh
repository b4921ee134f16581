#!/usr/bin/env bash
# file-sink end to end, one command: Kafka -> batch -> file-sink (direct mode, `sluice run`),
# every batch's lines written and fdatasynced before its offsets (the plugin's protocol), from
# one standalone mock broker (loopback), beside noop on the same data. Times the whole process
# from its start until the batch holding the last record is logged (its lines are on disk by
# then), and prints records/s, MB of JSON written and peak RSS (medians).
# --baseline REV also runs the file-sink of git revision REV (plugins/file-sink of REV,
# compiled with g++ -O3 against this tree's SDK headers) on the same data, side by side.
# See docs/benchmarks.md (file-sink end to end).
#
# Usage: bench/file_sink.sh [--records N] [--partitions P] [--compression lz4|none]
#                           [--repeat R] [--batch-interval D] [--max-batch-records M]
#                           [--baseline REV] [--build DIR] [--no-build] [--keep-logs]
#                           [--sluice-arg ARG]...
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
root=$PWD

records=2000000
partitions=8
compression=lz4
repeat=3
value_size=100
batch_interval=10ms  # shorter than a batch takes: batches run back to back (as bench/run.sh)
max_batch_records=50000
baseline=""
build=""
no_build=0
keep_logs=0
sluice_args=()

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --records) records=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --compression) compression=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --batch-interval) batch_interval=$2; shift 2 ;;
    --max-batch-records) max_batch_records=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    --keep-logs) keep_logs=1; shift ;;
    --sluice-arg) sluice_args+=("$2"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "bench/file_sink.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
for n in "$records" "$partitions" "$repeat" "$max_batch_records"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/file_sink.sh: '$n' is not a positive integer" >&2; exit 2; }
done
for tool in kcat /usr/bin/time g++; do
  command -v "$tool" >/dev/null || {
    echo "bench/file_sink.sh: $tool is missing: run scripts/install-deps.sh bench" >&2; exit 1; }
done
if [[ -n "$baseline" ]]; then
  git cat-file -e "$baseline:plugins/file-sink/file_sink.cpp" 2>/dev/null || {
    echo "bench/file_sink.sh: --baseline '$baseline': no plugins/file-sink/file_sink.cpp at that revision" >&2
    exit 2; }
fi

# ---- build -------------------------------------------------------------------------------
targets=(sluice noop file-sink)
[[ -n "$build" ]] || build=$root/build/release
if [[ $no_build == 0 ]]; then
  if [[ "$build" == "$root/build/release" && ! -f "$build/CMakeCache.txt" ]]; then
    cmake --preset release >/dev/null
  fi
  cmake --build "$build" -j 2 --target "${targets[@]}" >/dev/null
fi
sluice=$build/bin/sluice
for so in noop file-sink; do
  [[ -f "$build/plugin-dir/$so.so" ]] || { echo "bench/file_sink.sh: $build/plugin-dir/$so.so not built" >&2; exit 1; }
done

# The output goes to $work, on the disk of /tmp (the figure includes its fdatasyncs).
work=$(mktemp -d /tmp/sluice-bench-fsink.XXXXXX)
broker=""
running=""
cleanup() {
  [[ -n "$running" ]] && kill "$running" 2>/dev/null || true
  stop_mock_broker
  if [[ $keep_logs == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The baseline: that revision's file_sink.cpp as a plugin of its own directory, built the way
# sdk/cmake/SluicePlugin.cmake builds one (hidden symbols, the entry its only export).
if [[ -n "$baseline" ]]; then
  mkdir -p "$work/baseline/src" "$work/baseline/plugin-dir"
  git archive "$baseline" plugins/file-sink | tar -x -C "$work/baseline/src"
  printf '{\n  global: sluice_plugin_entry;\n  local: *;\n};\n' >"$work/baseline/exports.map"
  echo "building the file-sink of $baseline ..." >&2
  g++ -std=c++20 -O3 -DNDEBUG -fPIC -shared -fvisibility=hidden -fvisibility-inlines-hidden \
    -fno-gnu-unique -I"$root/sdk/include" "$work"/baseline/src/plugins/file-sink/*.cpp \
    -Wl,--version-script="$work/baseline/exports.map" -pthread \
    -o "$work/baseline/plugin-dir/file-sink.so"
fi

topic=bench
start_mock_broker "$topic" "$partitions"
echo "producing $records records of $value_size bytes ($compression) to $partitions partitions at $bootstrap ..." >&2
"$sluice" produce --brokers "$bootstrap" --topic "$topic" --count "$records" \
  --value-size "$value_size" --compression "$compression" --log-level warn >"$work/produce.out"
cat "$work/produce.out" >&2
check_data_on_broker "$topic" "$partitions" "$records"

# run_host NAME ROUND PLUGIN [ARG...]: `sluice run` from the beginning until the log shows
# a batch holding the last record, then SIGTERM. Writes "records until_last whole rss
# out_bytes" to $work/result: until_last = from the start of the process to that batch's log
# line (the batch line is logged once process() returned, so every line is on disk), whole =
# the whole process under /usr/bin/time (with the stop), out_bytes = the data file's size.
run_host() {
  local name=$1 r=$2 plugin=$3; shift 3
  local log=$work/$name.$r.log
  local start
  start=$(date +%s.%N)
  /usr/bin/time -f '%e %M' -o "$work/time" "$sluice" run --brokers "$bootstrap" --topics "$topic" \
    --plugin "$plugin" "$@" --auto-offset-reset earliest \
    --batch-interval "$batch_interval" --max-batch-records "$max_batch_records" \
    -X fetch.wait.max.ms=10 ${sluice_args[@]+"${sluice_args[@]}"} >"$log" 2>&1 &
  running=$!
  local child="" seen=0 deadline=$((SECONDS + 300))
  while [[ -z "$child" ]] && kill -0 "$running" 2>/dev/null; do
    child=$(pgrep -P "$running" | head -n1) || true
    [[ -n "$child" ]] || sleep 0.02
  done
  while kill -0 "$running" 2>/dev/null && ((SECONDS < deadline)); do
    seen=$(awk '/ batch [0-9]+.*: [0-9]+ records,/ {
      for (i = 1; i <= NF; i++) if ($i == "records,") n += $(i - 1) } END { print n + 0 }' "$log")
    ((seen >= records)) && break
    sleep 0.05
  done
  if ((seen < records)); then
    echo "bench/file_sink.sh: $name read $seen of $records records (log: $log):" >&2
    tail -n 20 "$log" >&2; keep_logs=1; exit 1
  fi
  kill -TERM "$child"
  if ! wait "$running"; then
    running=""
    echo "bench/file_sink.sh: $name failed (log: $log):" >&2; tail -n 20 "$log" >&2
    keep_logs=1; exit 1
  fi
  running=""
  # The log's times are local wall-clock times of day, as `date +%T.%N` prints them.
  local start_tod
  start_tod=$(date -d "@$start" +%H:%M:%S.%N)
  awk -v whole="$(cat "$work/time")" -v start="$start_tod" -v want="$records" '
    function secs(t,   a) { split(t, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
    / batch [0-9]+.*: [0-9]+ records,/ {
      for (i = 1; i <= NF; i++) if ($i == "records,") n = $(i - 1)
      if (total >= want) next
      total += n
      if (total >= want) last = secs($2)
    }
    END {
      t = last - secs(start); if (t < 0) t += 86400
      printf "%d %.3f %s\n", total, t, whole
    }' "$log" >"$work/result"
}

check_output() {  # check_output FILE: every record written once, the last line whole
  local file=$1 lines
  lines=$(wc -l <"$file")
  if [[ "$lines" != "$records" || "$(tail -c 1 "$file" | od -An -c | tr -d ' ')" != '\n' ]]; then
    echo "bench/file_sink.sh: $file holds $lines lines, expected $records" >&2; keep_logs=1; exit 1
  fi
  stat -c %s "$file"
}

run_noop() { run_host noop "$1" noop; echo 0 >"$work/bytes"; }
run_fsink_with() {  # run_fsink_with NAME ROUND [ARG...]
  local name=$1 r=$2; shift 2
  local out=$work/out.$name.$r.jsonl
  printf '[plugin.file-sink]\npath = %s\n' "$out" >"$work/$name.$r.ini"
  run_host "$name" "$r" file-sink --config "$work/$name.$r.ini" "$@"
  check_output "$out" >"$work/bytes"
  rm -f "$out" "$out.offsets" "$out.lock"
}
run_fsink() { run_fsink_with fsink "$1"; }
run_base() { run_fsink_with base "$1" --plugin-dir "$work/baseline/plugin-dir"; }

runs=(noop fsink)
[[ -n "$baseline" ]] && runs+=(base)
: >"$work/results"
for ((r = 1; r <= repeat; r++)); do
  for ((i = 0; i < ${#runs[@]}; i++)); do  # the order rotates each round (as bench/run.sh)
    c=${runs[$(((i + r - 1) % ${#runs[@]}))]}
    "run_$c" "$r"
    read -r got until whole rss <"$work/result"
    bytes=$(cat "$work/bytes")
    if [[ "$got" != "$records" ]]; then
      echo "bench/file_sink.sh: $c read $got records, expected $records (log: $work/$c.$r.log)" >&2
      keep_logs=1; exit 1
    fi
    echo "round $r: $c $until s to the last line (whole process $whole s), peak RSS $((rss / 1024)) MB" >&2
    echo "$c $got $until $whole $rss $bytes" >>"$work/results"
  done
done

echo
echo "Sluice file-sink end to end: $records records x $value_size B ($compression), $partitions partitions," \
  "one mock broker, median of $repeat runs,"
echo "direct mode, batch-interval $batch_interval, max-batch-records $max_batch_records${sluice_args[*]+ ${sluice_args[*]}};" \
  "output on $(df --output=source,fstype "$work" | tail -n1 | tr -s ' '); $(date -u '+%Y-%m-%d %H:%M UTC')," \
  "$(nproc) cores, tree $(git rev-parse --short HEAD)$(git diff --quiet -- plugins/file-sink || echo '+changes')"
awk -v base="$baseline" "
  function median(list,   a, n, i, j, t) {
    n = split(list, a, \" \")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }"'
  { recs[$1] = $2; until[$1] = until[$1] " " $3; whole[$1] = whole[$1] " " $4; rss[$1] = rss[$1] " " $5
    bytes[$1] = bytes[$1] " " $6 }
  END {
    name["noop"] = "noop (no output)"; name["fsink"] = "file-sink (this tree)"
    name["base"] = "file-sink (" base ")"
    split("noop fsink base", order, " ")
    printf "%-28s %9s %13s %11s %10s %9s %8s\n", "plugin", "records", "to last line s", "records/s",
      "JSON MB", "RSS MB", "whole s"
    for (i = 1; i <= 3; i++) {
      k = order[i]
      if (!(k in recs)) continue
      u = median(until[k]); rate[k] = recs[k] / u
      printf "%-28s %9d %13.3f %11.0f %10.1f %9.1f %8.2f\n", name[k], recs[k], u, rate[k],
        median(bytes[k]) / 1e6, median(rss[k]) / 1024, median(whole[k])
    }
    printf "\nto last line s = from the start of the process to the log line of the batch holding the last\n"
    printf "record (file-sink: its lines and offsets fdatasynced); whole s = the whole process with its stop.\n"
    if ("base" in rate) printf "this tree against %s: %.2fx\n", base, rate["fsink"] / rate["base"]
    printf "target: file-sink >= 1.5 M records/s: %.2f M/s %s\n", rate["fsink"] / 1e6,
      (rate["fsink"] >= 1.5e6 ? "MET" : "MISSED")
  }' "$work/results"
