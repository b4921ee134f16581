#!/usr/bin/env bash
# End-to-end read benchmark, one command: Kafka -> batch -> no-op plugin (sluice run)
# against a plain librdkafka batch-consume loop (bench_plain_consumer), the fastest librdkafka
# reader written here (bench_plain_consumer --threads: a queue per partition, a thread per core)
# and `kcat -C -e`,
# all reading the SAME records from one standalone mock broker (loopback), one after
# another, each from the beginning. Prints records/s, MB/s and peak RSS (medians).
# --receiver compares receiver mode instead: the plain loop, direct mode, and receiver
# mode under each commit rule (receiver-commit = read, processed, stored), with the WAL off,
# on with wal-fsync=block and on with group commit.
# --isolation compares noop in-process with noop in a worker process (isolation = process) on
# the same data, and times the calls themselves (bench_isolation_call: p50/p99 added per batch).
# --postgres runs bench/postgres_sink.sh with the other arguments (postgres-sink into a
# local PostgreSQL 15, beside noop and psql \copy).
# See docs/benchmarks.md for what is measured and how to read it.
#
# Usage: bench/run.sh [--records N] [--partitions P] [--compression lz4|none]
#                     [--repeat R] [--batch-interval D] [--max-batch-records M]
#                     [--build DIR] [--keep-logs] [--sluice-arg ARG]...
#                     [--receiver [--receiver-threads N] [--block-interval D]
#                      [--receiver-batch-interval D] [--group-commit D]] [--isolation]
#   --sluice-arg ARG is appended to `sluice run` (repeatable), e.g.
#   --sluice-arg -X --sluice-arg queued.min.messages=12500
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
# max-batch-records bounds what one batch holds in memory (50,000 records of
# 100 B, ~8 MB of views and messages) and, through the host, librdkafka's
# prefetch; it turns the backlog into 40+ batches, so the per-batch costs
# (watermark query, planning, plugin call) are paid as in a real run. Larger
# caps were not faster (more prefetched memory; docs/benchmarks.md). The
# interval is shorter than reading one batch takes (~25 ms), so batches run
# back to back and the interval never idles the host: the figure is the host's
# read rate, not the scheduler's pacing.
batch_interval=10ms
max_batch_records=50000
sluice_args=()
build=""
keep_logs=0
# --receiver: receiver mode's settings. Blocks every 200 ms (Spark's default); batches
# every 200 ms too, so that the hand-over delay at the end of the backlog (a record waits
# for its block to be sealed, then for the next batch) stays small beside the read time.
receiver=0
receiver_threads=1
block_interval=200ms
receiver_batch_interval=200ms
group_commit=50ms
isolation=0

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[[ "${1:-}" == --postgres ]] && { shift; exec bench/postgres_sink.sh "$@"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --records) records=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --compression) compression=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --batch-interval) batch_interval=$2; shift 2 ;;
    --max-batch-records) max_batch_records=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    --sluice-arg) sluice_args+=("$2"); shift 2 ;;
    --receiver) receiver=1; shift ;;
    --receiver-threads) receiver_threads=$2; shift 2 ;;
    --block-interval) block_interval=$2; shift 2 ;;
    --receiver-batch-interval) receiver_batch_interval=$2; shift 2 ;;
    --group-commit) group_commit=$2; shift 2 ;;
    --isolation) isolation=1; shift ;;
    -h|--help) usage ;;
    *) echo "bench/run.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
for n in "$records" "$partitions" "$repeat" "$max_batch_records" "$receiver_threads"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: '$n' is not a positive integer" >&2; exit 2; }
done

for tool in kcat /usr/bin/time; do
  command -v "$tool" >/dev/null || {
    echo "bench/run.sh: $tool is missing: run scripts/install-deps.sh bench" >&2; exit 1; }
done

# ---- build -------------------------------------------------------------------------------
targets=(sluice noop bench_plain_consumer)
[[ $isolation == 1 ]] && targets+=(bench_isolation_call)
if [[ -z "$build" ]]; then
  build=$root/build/release
  [[ -f "$build/CMakeCache.txt" ]] || cmake --preset release >/dev/null
  cmake --build --preset release -j 2 --target "${targets[@]}" >/dev/null
else
  cmake --build "$build" -j 2 --target "${targets[@]}" >/dev/null
fi
sluice=$build/bin/sluice
plain=$build/bin/bench_plain_consumer
[[ -f "$build/plugin-dir/noop.so" ]] || { echo "bench/run.sh: $build/plugin-dir/noop.so not built" >&2; exit 1; }

# ---- broker ------------------------------------------------------------------------------
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
broker=""
running=""
child=""  # receiver mode: the sluice process under /usr/bin/time
cleanup() {
  [[ -n "$child" ]] && kill "$child" 2>/dev/null || true
  [[ -n "$running" ]] && kill "$running" 2>/dev/null || true
  stop_mock_broker
  if [[ $keep_logs == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

topic=bench
start_mock_broker "$topic" "$partitions"

# ---- data, written once ------------------------------------------------------------------
# The producer's default (sticky) partitioner: full producer batches. The mock
# answers a Fetch with at most one producer batch per partition, so small batches
# (e.g. sticky.partitioning.linger.ms=0) slow every consumer down alike. It fills
# partitions unevenly: the check below catches a partition over the mock's 5 MiB.
echo "producing $records records of $value_size bytes ($compression) to $partitions partitions at $bootstrap ..." >&2
"$sluice" produce --brokers "$bootstrap" --topic "$topic" --count "$records" \
  --value-size "$value_size" --compression "$compression" --log-level warn \
  >"$work/produce.out"
cat "$work/produce.out" >&2
# Every record must still be on the broker (low watermark 0, high watermarks add up).
check_data_on_broker "$topic" "$partitions" "$records"

# ---- consumers ---------------------------------------------------------------------------
# How many batches sluice needs to read everything, so that it stops right after
# the last record (--max-batches): its planner (host/stream/offset_planner.cpp,
# plan_ranges) replayed on the partitions' high watermarks. Since the host caps
# each range at librdkafka's per-partition prefetch (queued.min.messages: a -X
# given here, else clamp(2 x ceil(max-batch-records / partitions), 1000, 100000)),
# the tail batches of unevenly filled partitions hold fewer than max-batch-records,
# so records / max-batch-records batches are not enough.
per_partition_cap=""
for a in ${sluice_args[@]+"${sluice_args[@]}"}; do
  [[ "$a" =~ ^(--kafka\.)?queued\.min\.messages=([0-9]+)$ ]] && per_partition_cap=${BASH_REMATCH[2]}
done
if [[ -z "$per_partition_cap" ]]; then
  per_partition_cap=$((2 * ((max_batch_records + partitions - 1) / partitions)))
  ((per_partition_cap < 1000)) && per_partition_cap=1000
  ((per_partition_cap > 100000)) && per_partition_cap=100000
fi
max_batches=$(awk -v M="$max_batch_records" -v cap="$per_partition_cap" -v highs="${highs[*]}" '
  BEGIN {
    n = split(highs, left, " "); batches = 0
    while (1) {
      total = 0
      for (i = 1; i <= n; i++) { b[i] = left[i] < cap ? left[i] : cap; total += b[i] }
      if (total == 0) break
      if (total > M) {
        given = 0
        for (i = 1; i <= n; i++) { s[i] = int(b[i] * M / total); given += s[i]; o[i] = i }
        # stable sort by what is left over, largest first; then one more each until full
        for (i = 2; i <= n; i++)
          for (j = i; j > 1 && b[o[j]] - s[o[j]] > b[o[j - 1]] - s[o[j - 1]]; j--) { t = o[j]; o[j] = o[j - 1]; o[j - 1] = t }
        for (k = 1; given < M && k <= n; k++) if (s[o[k]] < b[o[k]]) { s[o[k]]++; given++ }
        for (i = 1; i <= n; i++) b[i] = s[i]
      }
      for (i = 1; i <= n; i++) left[i] -= b[i]
      batches++
    }
    print batches
  }')
echo "records per partition: ${highs[*]}; sluice reads them in $max_batches batches" \
  "(at most $max_batch_records records, $per_partition_cap per partition)" >&2

# Each run_X writes "records data_seconds whole_seconds peak_rss_kb" to $work/result.
timed() {  # timed LOG CMD...: runs CMD under /usr/bin/time, stdout+stderr to LOG
  local log=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$log" 2>&1 &
  running=$!
  if ! wait "$running"; then
    running=""
    echo "bench/run.sh: '$*' failed:" >&2; tail -n 20 "$log" >&2; exit 1
  fi
  running=""
}

run_plain() {
  local log=$work/plain.$1.log
  timed "$log" "$plain" --brokers "$bootstrap" --topic "$topic" --records "$records" \
    -X fetch.wait.max.ms=10
  local got secs
  got=$(sed -n 's/.*records=\([0-9]*\) .*/\1/p' "$log")
  secs=$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' "$log")
  echo "$got $secs $(cat "$work/time")" >"$work/result"
}

run_ceiling() {  # the fastest librdkafka reader here: a queue per partition, a thread per core
  local log=$work/ceiling.$1.log
  timed "$log" "$plain" --brokers "$bootstrap" --topic "$topic" --records "$records" \
    --threads "$(nproc 2>/dev/null || echo 2)" -X fetch.wait.max.ms=10
  local got secs
  got=$(sed -n 's/.*records=\([0-9]*\) .*/\1/p' "$log")
  secs=$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' "$log")
  echo "$got $secs $(cat "$work/time")" >"$work/result"
}

run_sluice() {  # run_sluice ROUND [NAME [ARG...]]: NAME names the log; ARGs go to sluice run
  local log=$work/${2:-sluice}.$1.log
  timed "$log" "$sluice" run "${@:3}" --brokers "$bootstrap" --topics "$topic" --plugin noop \
    --auto-offset-reset earliest --batch-interval "$batch_interval" \
    --max-batch-records "$max_batch_records" --max-batches "$max_batches" \
    -X fetch.wait.max.ms=10 ${sluice_args[@]+"${sluice_args[@]}"}
  # Data time: from the start of the first batch holding records (its log time minus
  # its processing time) to the log time of the last one.
  awk -v whole="$(cat "$work/time")" '
    function secs(d, t,   a) { split(t, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
    / batch [0-9]+.*: [0-9]+ records,/ {
      for (i = 1; i <= NF; i++) {
        if ($i == "records,") n = $(i - 1)
        if ($i == "processing") ms = $(i + 1)
      }
      if (n == 0) next
      t = secs($1, $2)
      if (!seen) { first = t - ms / 1000; seen = 1 }
      if (t < first) t += 86400
      last = t; total += n
    }
    END { printf "%d %.3f %s\n", total, last - first, whole }' "$log" >"$work/result"
}

# noop in a worker process: the same run with [plugin.noop] isolation = process.
run_sluice_iso() {
  printf '[plugin.noop]\nisolation = process\n' >"$work/isolated.ini"
  run_sluice "$1" sluice_iso --config "$work/isolated.ini"
}

run_kcat() {
  local log=$work/kcat.$1.log
  # Cheapest output: the value and a newline, to /dev/null. kcat prints no timing, so
  # its figure is the whole process (start-up is ~20 ms of it).
  /usr/bin/time -f '%e %M' -o "$work/time" kcat -C -b "$bootstrap" -t "$topic" -o beginning -e -q \
    -X fetch.wait.max.ms=10 -f '%s\n' >/dev/null 2>"$log" &
  running=$!
  wait "$running" || { running=""; echo "bench/run.sh: kcat failed:" >&2; cat "$log" >&2; exit 1; }
  running=""
  local t
  t=$(cat "$work/time")
  echo "$records ${t%% *} $t" >"$work/result"
}

# Receiver mode, until every record is processed: run_receiver NAME ROUND [WAL-ARG]...
# (no WAL args, or --no-wal ARG...: the WAL is off). A fresh group (so it starts at the beginning) and a fresh
# WAL directory on the local disk, under $work, deleted afterwards. The script follows the
# log; once the batches hold every record it reads /proc/PID/io, sends SIGTERM and waits.
run_receiver() {
  local name=$1 r=$2; shift 2
  local log=$work/$name.$r.log group=sluice-bench-$name-$r-$$ wal=$work/wal.$name.$r
  local wal_args=()
  if [[ ${1:-} == --no-wal ]]; then
    shift
    wal_args=("$@")
  elif [[ $# -gt 0 ]]; then
    wal_args=(--wal-dir "$wal" "$@")
  fi
  /usr/bin/time -f '%e %M' -o "$work/time" "$sluice" run --mode receiver --brokers "$bootstrap" \
    --topics "$topic:$receiver_threads" --group "$group" --plugin noop \
    --block-interval "$block_interval" --batch-interval "$receiver_batch_interval" \
    --auto-offset-reset earliest -X fetch.wait.max.ms=10 -X session.timeout.ms=6000 \
    ${wal_args[@]+"${wal_args[@]}"} ${sluice_args[@]+"${sluice_args[@]}"} >"$log" 2>&1 &
  running=$!
  local seen=0 io="" deadline=$((SECONDS + 120))
  child=""
  while [[ -z "$child" ]] && kill -0 "$running" 2>/dev/null; do
    child=$(pgrep -P "$running" | head -n1) || true
    [[ -n "$child" ]] || sleep 0.05
  done
  while kill -0 "$running" 2>/dev/null && ((SECONDS < deadline)); do
    seen=$(awk '/ batch [0-9]+.*: [0-9]+ records,/ {
      for (i = 1; i <= NF; i++) if ($i == "records,") n += $(i - 1) } END { print n + 0 }' "$log")
    ((seen >= records)) && break
    sleep 0.1
  done
  if ((seen < records)); then
    echo "bench/run.sh: receiver $name read $seen of $records records (log: $log):" >&2
    tail -n 20 "$log" >&2; keep_logs=1; exit 1
  fi
  # wchar: bytes handed to write() (the WAL, and a few KB of log); write_bytes: what
  # reached the block layer. Read before the stop, which writes almost nothing more.
  io=$(awk '/^(wchar|write_bytes):/ { printf "%s ", $2 }' "/proc/$child/io" 2>/dev/null) || true
  kill -TERM "$child"
  child=""
  if ! wait "$running"; then
    running=""
    echo "bench/run.sh: receiver $name failed (log: $log):" >&2; tail -n 20 "$log" >&2
    keep_logs=1; exit 1
  fi
  running=""
  rm -rf "$wal"
  # Data time: from the assignment (the group join is over; consumption starts) to the
  # log time of the batch that holds the last record, so it includes the hand-over delay
  # (<= block interval + batch interval). Steady rate: the batches between the first
  # non-empty one and the last, over the time between their ends (no ramp-up, no tail).
  # Also: the block payload bytes (what the WAL holds), blocks, batches, /proc/PID/io.
  awk -v whole="$(cat "$work/time")" -v io="${io:-- -}" -v want="$records" '
    function secs(d, t,   a) { split(t, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
    function at(  t) { t = secs($1, $2); if (t0 != "" && t < t0) t += 86400; return t }
    / assigned / && t0 == "" { t0 = at() }
    / stopped after [0-9]+ batches, [0-9]+ records/ {
      for (i = 1; i <= NF; i++) if ($i == "records") stopped = $(i - 1) + 0 }
    / batch [0-9]+.*: [0-9]+ records,/ {
      for (i = 1; i <= NF; i++) {
        if ($i == "records,") n = $(i - 1)
        if ($i == "MB,") mb = $(i - 1)
        if ($i == "blocks,") b = $(i - 1)
      }
      if (total >= want) next  # the final batch at the stop
      ++batches
      if (n == 0) next
      t = at(); total += n; bytes += mb * 1e6; blocks += b
      if (!k++) first = t
      else if (total < want) { mid += n; last_mid = t }
      if (total >= want) end = t
    }
    END {
      steady = (last_mid > first) ? mid / (last_mid - first) : 0
      split(io, w, " ")
      printf "%d %.3f %s %.0f %.0f %s %s %d %d %d\n", total, end - t0, whole, steady, bytes,
        w[1], w[2], blocks, batches, stopped
    }' "$log" >"$work/result"
}
# The commit rules side by side (receiver-commit): read = auto-commit, no WAL; processed (the
# default) with and without the WAL; stored = Spark's receiver WAL (commit once fsynced).
run_recv_read() { run_receiver recv_read "$1" --no-wal --receiver-commit read; }
run_recv_off() { run_receiver recv_off "$1"; }
run_recv_stored() { run_receiver recv_stored "$1" --wal-fsync block --receiver-commit stored; }
run_recv_block() { run_receiver recv_block "$1" --wal-fsync block; }
run_recv_group() { run_receiver recv_group "$1" --wal-fsync "$group_commit"; }

# kcat's output is not counted in the timed runs: count it once here.
kcat_count=$(kcat -C -b "$bootstrap" -t "$topic" -o beginning -e -q -X fetch.wait.max.ms=10 -f '\n' | wc -l)
[[ $kcat_count == "$records" ]] || { echo "bench/run.sh: kcat read $kcat_count records, expected $records" >&2; exit 1; }

consumers=(plain ceiling sluice kcat)
[[ $receiver == 1 ]] && consumers=(plain sluice recv_read recv_off recv_stored recv_block recv_group)
[[ $isolation == 1 ]] && consumers=(sluice sluice_iso)
: >"$work/results"
for ((r = 1; r <= repeat; r++)); do
  # Rotate the order each round: a noisy neighbour or a warm broker favours no one.
  for ((i = 0; i < ${#consumers[@]}; i++)); do
    c=${consumers[$(((i + r - 1) % ${#consumers[@]}))]}
    "run_$c" "$r"
    read -r got data whole rss extra <"$work/result"
    if [[ "$got" != "$records" ]]; then
      echo "bench/run.sh: $c read $got records, expected $records (log: $work/$c.$r.log)" >&2
      keep_logs=1; exit 1
    fi
    if [[ -n "${extra:-}" && "${extra##* }" != "$records" ]]; then
      echo "bench/run.sh: warning: $c processed ${extra##* } records by its stop line, expected" \
        "$records (read twice after a rebalance?) (log: $work/$c.$r.log)" >&2
      keep_logs=1
    fi
    echo "round $r: $c $data s (whole process $whole s), peak RSS $((rss / 1024)) MB${extra:+ [$extra]}" >&2
    echo "$c $got $data $whole $rss${extra:+ $extra}" >>"$work/results"
  done
done

# ---- table (medians) ---------------------------------------------------------------------
median_awk='
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }'
echo
if [[ $receiver == 1 ]]; then
  echo "Sluice receiver-mode benchmark: $records records x $value_size B ($compression), $partitions partitions,"
  echo "one mock broker (librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo '?')), median of $repeat runs;" \
    "receiver: $receiver_threads consumer thread(s), block-interval $block_interval, batch-interval" \
    "$receiver_batch_interval, group commit $group_commit; direct: batch-interval $batch_interval," \
    "max-batch-records $max_batch_records${sluice_args[*]+; ${sluice_args[*]}}"
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, WAL on $(df --output=source,fstype "$work" | tail -n1 | tr -s ' ')"
  awk -v vs="$value_size" -v gc="$group_commit" "$median_awk"'
    { recs[$1] = $2; data[$1] = data[$1] " " $3; whole[$1] = whole[$1] " " $4; rss[$1] = rss[$1] " " $5
      if (NF > 5) { steady[$1] = steady[$1] " " $6; wal[$1] = wal[$1] " " $7; wchar[$1] = wchar[$1] " " $8
        wbytes[$1] = wbytes[$1] " " $9; blocks[$1] = blocks[$1] " " $10; batches[$1] = batches[$1] " " $11 } }
    END {
      name["plain"] = "plain librdkafka loop"; name["sluice"] = "direct mode (noop)"
      name["recv_read"] = "receiver, read (no WAL)"; name["recv_off"] = "receiver, processed, no WAL"
      name["recv_stored"] = "receiver, stored, fsync=block"
      name["recv_block"] = "receiver, processed, fsync=block"
      name["recv_group"] = "receiver, processed, fsync=" gc
      split("plain sluice recv_read recv_off recv_stored recv_block recv_group", order, " ")
      for (k in recs) { d[k] = median(data[k]); rate[k] = recs[k] / d[k] }
      printf "%-33s %9s %8s %11s %7s %8s %9s %10s %11s %8s\n", "consumer", "records", "seconds", "records/s",
        "MB/s", "RSS MB", "vs plain", "vs no WAL", "steady r/s", "whole s"
      for (i = 1; i <= 7; i++) {
        k = order[i]
        printf "%-33s %9d %8.3f %11.0f %7.1f %8.1f %8.2fx", name[k], recs[k], d[k], rate[k],
          recs[k] * vs / 1e6 / d[k], median(rss[k]) / 1024, rate[k] / rate["plain"]
        if (k ~ /^recv_/) printf " %9.2fx %11.0f", rate[k] / rate["recv_off"], median(steady[k])
        else printf " %10s %11s", "", ""
        printf " %8.2f\n", median(whole[k])
      }
      printf "\n%-33s %12s %12s %12s %8s %8s\n", "WAL (per run, medians)", "block MB", "write() MB",
        "to disk MB", "blocks", "batches"
      for (i = 3; i <= 7; i++) {
        k = order[i]
        printf "%-33s %12.1f %12.1f %12.1f %8d %8d\n", name[k], median(wal[k]) / 1e6, median(wchar[k]) / 1e6,
          median(wbytes[k]) / 1e6, median(blocks[k]), median(batches[k])
      }
      printf "input: %.1f MB of values (%d x %d B); block MB = block payloads (what the WAL holds);\n",
        recs["plain"] * vs / 1e6, recs["plain"], vs
      printf "write() MB / to disk MB = /proc/PID/io wchar / write_bytes (the WAL, its done marks, the log).\n"
      printf "fsyncs: fsync=block: one per block + one per batch (done mark); group commit: at most one per\n"
      printf "%s while blocks wait + one per batch.\n", gc
      printf "\nseconds: plain = assign to last record; direct = start of first batch to end of last batch;\n"
      printf "receiver = partitions assigned (after the ~3 s group join) to the end of the batch holding the\n"
      printf "last record (includes the hand-over delay, <= block + batch interval). steady r/s = the\n"
      printf "batches between the first and the last non-empty one, over the time between their ends.\n"
      printf "receiver-commit: read = auto-commit as read; processed = once the batch succeeded (the\n"
      printf "default); stored = once the block is fsynced in the WAL (docs/receiver-mode.md).\n"
      printf "target: WAL fsync=block >= 0.5x WAL off: %.2fx %s\n", rate["recv_block"] / rate["recv_off"],
        (rate["recv_block"] >= 0.5 * rate["recv_off"] ? "MET" : "MISSED")
    }' "$work/results"
  exit 0
fi
if [[ $isolation == 1 ]]; then
  echo "Sluice plugin isolation benchmark: $records records x $value_size B ($compression), $partitions partitions,"
  echo "one mock broker, median of $repeat runs, batch-interval $batch_interval, max-batch-records" \
    "$max_batch_records${sluice_args[*]+ ${sluice_args[*]}}; $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
  awk -v vs="$value_size" "$median_awk"'
    { recs[$1] = $2; data[$1] = data[$1] " " $3; whole[$1] = whole[$1] " " $4; rss[$1] = rss[$1] " " $5 }
    END {
      name["sluice"] = "noop in-process"; name["sluice_iso"] = "noop, isolation = process"
      split("sluice sluice_iso", order, " ")
      for (k in recs) { d[k] = median(data[k]); rate[k] = recs[k] / d[k] }
      printf "%-27s %9s %8s %11s %8s %12s %12s\n", "plugin", "records", "seconds", "records/s", "MB/s",
        "host RSS MB", "vs in-proc"
      for (i = 1; i <= 2; i++) {
        k = order[i]
        printf "%-27s %9d %8.3f %11.0f %8.1f %12.1f %11.2fx\n", name[k], recs[k], d[k], rate[k],
          recs[k] * vs / 1e6 / d[k], median(rss[k]) / 1024, rate[k] / rate["sluice"]
      }
      printf "target: isolated >= 0.8x in-process: %.2fx %s\n", rate["sluice_iso"] / rate["sluice"],
        (rate["sluice_iso"] >= 0.8 * rate["sluice"] ? "MET" : "MISSED")
    }' "$work/results"
  echo
  "$build/bin/bench_isolation_call" --plugin-dir "$build/plugin-dir" --plugin noop \
    --records "$max_batch_records" --value-size "$value_size" --batches 200
  exit 0
fi
echo "Sluice end-to-end read benchmark: $records records x $value_size B ($compression), $partitions partitions,"
echo "one mock broker (librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo '?')), median of $repeat runs," \
  "sluice batch-interval $batch_interval, max-batch-records $max_batch_records${sluice_args[*]+ ${sluice_args[*]}};"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
awk -v vs="$value_size" "$median_awk"'
  { recs[$1] = $2; data[$1] = data[$1] " " $3; whole[$1] = whole[$1] " " $4; rss[$1] = rss[$1] " " $5 }
  END {
    name["plain"] = "plain librdkafka loop"; name["sluice"] = "sluice run (noop)"; name["kcat"] = "kcat -C -e"
    name["ceiling"] = "queue per partition"
    split("plain ceiling sluice kcat", order, " ")
    for (k in recs) { d[k] = median(data[k]); rate[k] = recs[k] / d[k] }
    printf "%-22s %9s %8s %11s %8s %12s %9s %8s\n", "consumer", "records", "seconds", "records/s", "MB/s", "peak RSS MB", "vs plain", "whole s"
    for (i = 1; i <= 4; i++) {
      k = order[i]
      printf "%-22s %9d %8.3f %11.0f %8.1f %12.1f %8.2fx %8.2f\n", name[k], recs[k], d[k], rate[k],
        recs[k] * vs / 1e6 / d[k], median(rss[k]) / 1024, rate[k] / rate["plain"], median(whole[k])
    }
    printf "\nseconds: plain, queue per partition = assign to last record; sluice = start of first batch to end of last batch\n"
    printf "(from its log); kcat = whole process. whole s = wall time of the whole process, for all.\n"
    printf "targets: sluice >= 0.9x plain: %.2fx %s; sluice >= 0.9x queue per partition: %.2fx %s; sluice >= 1.5x kcat: %.2fx %s\n",
      rate["sluice"] / rate["plain"], (rate["sluice"] >= 0.9 * rate["plain"] ? "MET" : "MISSED"),
      rate["sluice"] / rate["ceiling"], (rate["sluice"] >= 0.9 * rate["ceiling"] ? "MET" : "MISSED"),
      rate["sluice"] / rate["kcat"], (rate["sluice"] >= 1.5 * rate["kcat"] ? "MET" : "MISSED")
  }' "$work/results"
