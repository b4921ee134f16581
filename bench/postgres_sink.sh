#!/usr/bin/env bash
# postgres-sink end to end, one command: Kafka -> batch -> postgres-sink -> a local
# PostgreSQL 15 server (its own, started here), beside `sluice run --plugin noop` on the SAME
# records from the same standalone mock broker, and beside the server's own ceiling: psql
# \copy of the same rows (binary COPY in one transaction, from a file). Run one after another,
# the order rotated each round; prints records/s (medians) and the ratios.
# See docs/benchmarks.md ("postgres-sink") for what is measured and how to read it.
#
# Usage: bench/postgres_sink.sh [--records N] [--partitions P] [--compression lz4|none]
#                               [--repeat R] [--batch-interval D] [--max-batch-records M]
#                               [--build DIR] [--no-build] [--keep-logs] [--pg-setting S]...
#   --pg-setting NAME=VALUE is passed to the server as -c NAME=VALUE (repeatable); the
#   default is the server's own configuration (fsync and synchronous_commit on).
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
build=""
no_build=0
keep_logs=0
pg_settings=()
pg_bin=/usr/lib/postgresql/15/bin

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
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
    --build) build=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    --keep-logs) keep_logs=1; shift ;;
    --pg-setting) pg_settings+=("$2"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "bench/postgres_sink.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
for n in "$records" "$partitions" "$repeat" "$max_batch_records"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/postgres_sink.sh: '$n' is not a positive integer" >&2; exit 2; }
done
for tool in kcat /usr/bin/time python3 "$pg_bin/initdb" "$pg_bin/psql"; do
  command -v "$tool" >/dev/null || {
    echo "bench/postgres_sink.sh: $tool is missing: run scripts/install-deps.sh bench" >&2; exit 1; }
done

# ---- build -------------------------------------------------------------------------------
targets=(sluice noop postgres-sink)
[[ -n "$build" ]] || build=$root/build/release
if [[ $no_build == 0 ]]; then
  if [[ "$build" == "$root/build/release" && ! -f "$build/CMakeCache.txt" ]]; then
    cmake --preset release >/dev/null
  fi
  cmake --build "$build" -j 2 --target "${targets[@]}" >/dev/null
fi
sluice=$build/bin/sluice
for so in noop postgres-sink; do
  [[ -f "$build/plugin-dir/$so.so" ]] || { echo "bench/postgres_sink.sh: $build/plugin-dir/$so.so not built" >&2; exit 1; }
done

# ---- broker and server -------------------------------------------------------------------
work=$(mktemp -d /tmp/sluice-bench-pg.XXXXXX)
chmod 755 "$work"  # the server's user reads and writes $work/pg
broker=""
running=""
pg_up=0
as_pg() {  # the server refuses to run as root: as the package's `postgres` user then
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  [[ -n "$running" ]] && kill "$running" 2>/dev/null || true
  stop_mock_broker
  [[ $pg_up == 1 ]] && as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  if [[ $keep_logs == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

topic=bench
start_mock_broker "$topic" "$partitions"

mkdir -p "$work/pg"
[[ $(id -u) -eq 0 ]] && chown postgres: "$work/pg"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$pg_bin/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --locale=C >"$work/pg/initdb.log" 2>&1 ||
  { echo "bench/postgres_sink.sh: initdb failed:" >&2; cat "$work/pg/initdb.log" >&2; exit 1; }
pg_opts="-p $port -k $work/pg -c listen_addresses=127.0.0.1"
for s in ${pg_settings[@]+"${pg_settings[@]}"}; do pg_opts+=" -c $s"; done
as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -o "$pg_opts" -w start >/dev/null ||
  { echo "bench/postgres_sink.sh: the server did not start:" >&2; cat "$work/pg/server.log" >&2; exit 1; }
pg_up=1
conninfo="host=127.0.0.1 port=$port user=postgres dbname=postgres"
psql() { "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"; }

# ---- data, written once (as bench/run.sh) ------------------------------------------------
echo "producing $records records of $value_size bytes ($compression) to $partitions partitions at $bootstrap ..." >&2
"$sluice" produce --brokers "$bootstrap" --topic "$topic" --count "$records" \
  --value-size "$value_size" --compression "$compression" --log-level warn >"$work/produce.out"
check_data_on_broker "$topic" "$partitions" "$records"

# ---- runs --------------------------------------------------------------------------------
# Each run_X writes "records data_seconds whole_seconds peak_rss_kb" to $work/result.

# sluice run with PLUGIN until its batches hold every record, then SIGTERM (it finishes the
# batch and exits 0). Data time: from the start of the first batch holding records (its log
# time minus its processing time) to the log time of the last one, as bench/run.sh.
run_host() {  # run_host NAME ROUND PLUGIN [CONFIG]
  local name=$1 r=$2 plugin=$3 cfg=${4:-}
  local log=$work/$name.$r.log
  /usr/bin/time -f '%e %M' -o "$work/time" "$sluice" run --brokers "$bootstrap" --topics "$topic" \
    --plugin "$plugin" ${cfg:+--config "$cfg"} --auto-offset-reset earliest \
    --batch-interval "$batch_interval" --max-batch-records "$max_batch_records" \
    -X fetch.wait.max.ms=10 >"$log" 2>&1 &
  running=$!
  local child="" seen=0 deadline=$((SECONDS + 300))
  while [[ -z "$child" ]] && kill -0 "$running" 2>/dev/null; do
    child=$(pgrep -P "$running" | head -n1) || true
    [[ -n "$child" ]] || sleep 0.05
  done
  while kill -0 "$running" 2>/dev/null && ((SECONDS < deadline)); do
    seen=$(awk '/ batch [0-9]+.*: [0-9]+ records,/ {
      for (i = 1; i <= NF; i++) if ($i == "records,") n += $(i - 1) } END { print n + 0 }' "$log")
    ((seen >= records)) && break
    sleep 0.05
  done
  if ((seen < records)); then
    echo "bench/postgres_sink.sh: $name read $seen of $records records (log: $log):" >&2
    tail -n 20 "$log" >&2; keep_logs=1; exit 1
  fi
  kill -TERM "$child"
  if ! wait "$running"; then
    running=""
    echo "bench/postgres_sink.sh: $name failed (log: $log):" >&2; tail -n 20 "$log" >&2
    keep_logs=1; exit 1
  fi
  running=""
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

run_noop() { run_host noop "$1" noop; }

# A fresh table per round (dropped after it is checked): every record exactly once.
run_postgres() {
  local r=$1 table=bench_r$1
  local cfg=$work/pg.$r.ini
  printf '[plugin.postgres-sink]\nconninfo = %s\ntable = %s\noffsets-table = %s_offsets\n' \
    "$conninfo" "$table" "$table" >"$cfg"
  run_host postgres "$r" postgres-sink "$cfg"
  # Every offset of [0, high) exactly once per partition: count, min, max, the sum and the sum
  # of squares of the offsets all match (a DISTINCT over 2 M rows takes minutes here).
  local bad values="" p
  for ((p = 0; p < partitions; p++)); do values+="${values:+, }($p, ${highs[$p]}::numeric)"; done
  bad=$(psql -At -c "WITH h(p, high) AS (VALUES $values),
      s AS (SELECT partition AS p, count(*) AS c, min(\"offset\") AS lo, max(\"offset\") AS hi,
            sum(\"offset\"::numeric) AS s1, sum(\"offset\"::numeric * \"offset\") AS s2
            FROM $table GROUP BY partition)
    SELECT 'partition ' || p || ': ' || coalesce(c, 0) || ' rows, high watermark ' || coalesce(high, 0)
    FROM h FULL JOIN s USING (p)
    WHERE coalesce(c, 0) <> coalesce(high, 0) OR (c > 0 AND (lo <> 0 OR hi <> high - 1 OR
          s1 <> high * (high - 1) / 2 OR s2 <> (high - 1) * high * (2 * high - 1) / 6))" | tr '\n' ';')
  if [[ -n "$bad" ]]; then
    echo "bench/postgres_sink.sh: $table does not hold every record exactly once: $bad" >&2
    keep_logs=1; exit 1
  fi
  # The first round's rows are the copy ceiling's input.
  if [[ ! -f "$work/pg/rows.bin" ]]; then
    psql -c "\\copy $table (topic, partition, \"offset\", \"timestamp\", key, value, headers) TO '$work/pg/rows.bin' (FORMAT binary)"
  fi
  psql -c "DROP TABLE $table; DROP TABLE ${table}_offsets; CHECKPOINT"
}

# The server's ceiling for these rows: psql \copy of the same binary COPY stream from a file
# into an empty table of the same shape, in one transaction (the sink commits per batch).
run_copy() {
  local r=$1 table=copy_r$1
  if [[ ! -f "$work/pg/rows.bin" ]]; then  # not yet written: the postgres run comes first
    echo "-1 -1 -1 -1" >"$work/result"; return
  fi
  psql -c "CREATE TABLE $table (topic text NOT NULL, partition integer NOT NULL, \"offset\" bigint NOT NULL, \"timestamp\" bigint, key bytea, value bytea, headers jsonb NOT NULL)"
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%e %M' -o "$work/time" "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
    -p "$port" -U postgres -d postgres \
    -c "\\copy $table FROM '$work/pg/rows.bin' (FORMAT binary)" >"$work/copy.$r.log" 2>&1
  end=$(date +%s.%N)
  local rows
  rows=$(psql -At -c "SELECT count(*) FROM $table")
  psql -c "DROP TABLE $table; CHECKPOINT"
  echo "$rows $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }') $(cat "$work/time")" >"$work/result"
}

consumers=(noop postgres copy)
: >"$work/results"
for ((r = 1; r <= repeat; r++)); do
  # Rotate the order each round (a noisy neighbour or a warm server favours no one). Round 1
  # runs noop, postgres, copy: its postgres run writes the rows that copy reads.
  for ((i = 0; i < ${#consumers[@]}; i++)); do
    c=${consumers[$(((i + r - 1) % ${#consumers[@]}))]}
    "run_$c" "$r"
    read -r got data whole rss <"$work/result"
    [[ "$got" == "-1" ]] && continue
    if [[ "$got" != "$records" ]]; then
      echo "bench/postgres_sink.sh: $c wrote $got records, expected $records" >&2
      keep_logs=1; exit 1
    fi
    echo "round $r: $c $data s (whole process $whole s), peak RSS $((rss / 1024)) MB" >&2
    echo "$c $got $data $whole $rss" >>"$work/results"
  done
done

# ---- table (medians) ---------------------------------------------------------------------
echo
echo "Sluice postgres-sink benchmark: $records records x $value_size B ($compression), $partitions partitions,"
echo "one mock broker (librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo '?')), PostgreSQL" \
  "$("$pg_bin/postgres" --version | awk '{print $3}') on loopback (${pg_settings[*]:-server defaults: fsync on, synchronous_commit on})," \
  "median of $repeat runs, batch-interval $batch_interval, max-batch-records $max_batch_records, build $build"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, data directory on $(df --output=source,fstype "$work" | tail -n1 | tr -s ' ')"
awk -v vs="$value_size" '
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { recs[$1] = $2; data[$1] = data[$1] " " $3; whole[$1] = whole[$1] " " $4; rss[$1] = rss[$1] " " $5; runs[$1]++ }
  END {
    name["noop"] = "sluice run (noop)"; name["postgres"] = "sluice run (postgres-sink)"
    name["copy"] = "psql \\copy (server ceiling)"
    split("noop postgres copy", order, " ")
    for (k in recs) { d[k] = median(data[k]); rate[k] = recs[k] / d[k] }
    printf "%-29s %9s %5s %8s %11s %8s %9s %10s %8s\n", "writer", "records", "runs", "seconds", "records/s", "RSS MB",
      "vs noop", "vs \\copy", "whole s"
    for (i = 1; i <= 3; i++) {
      k = order[i]
      if (!(k in recs)) continue
      printf "%-29s %9d %5d %8.3f %11.0f %8.1f %8.2fx %9.2fx %8.2f\n", name[k], recs[k], runs[k], d[k], rate[k],
        median(rss[k]) / 1024, rate[k] / rate["noop"], rate[k] / rate["copy"], median(whole[k])
    }
    printf "\nseconds: sluice = start of the first batch to the end of the last (its log); \\copy = the\n"
    printf "psql process (one transaction). Every postgres-sink round is checked: each partition holds\n"
    printf "each offset of [0, high watermark) once. RSS of \\copy is psql'\''s, not the server'\''s.\n"
    printf "target: postgres-sink >= 300,000 records/s: %.0f %s\n", rate["postgres"],
      (rate["postgres"] >= 300000 ? "MET" : "MISSED")
  }' "$work/results"
