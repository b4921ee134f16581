# Shared by the bench/ scripts (sourced, not run). Each script sets $sluice and $work first.

# start_mock_broker TOPIC PARTITIONS: starts `sluice mock-broker` with that topic; sets $broker
# (its pid) and $bootstrap, or exits naming what went wrong.
start_mock_broker() {
  local topic=$1 partitions=$2
  "$sluice" mock-broker --topic "$topic:$partitions" --log-level warn >"$work/broker.out" 2>"$work/broker.err" &
  broker=$!
  bootstrap=""
  for _ in $(seq 1 100); do
    bootstrap=$(sed -n 's/^bootstrap.servers=//p' "$work/broker.out" | head -n1)
    [[ -n "$bootstrap" ]] && break
    kill -0 "$broker" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$bootstrap" ]] || { echo "$(basename "$0"): the mock broker did not start:" >&2; cat "$work/broker.err" >&2; exit 1; }
}

# stop_mock_broker: ends the broker started by start_mock_broker, if any.
stop_mock_broker() {
  if [[ -n "${broker:-}" ]]; then
    kill -TERM "$broker" 2>/dev/null || true
    wait "$broker" 2>/dev/null || true
  fi
}

# check_data_on_broker TOPIC PARTITIONS RECORDS: every partition still holds its records from
# offset 0 (the mock drops the oldest past ~5 MiB) and they add up to RECORDS; sets $on_broker
# and $highs (each partition's high watermark), or exits naming the problem.
check_data_on_broker() {
  local topic=$1 partitions=$2 records=$3 low high
  on_broker=0
  highs=()
  for ((p = 0; p < partitions; p++)); do
    low=$(kcat -b "$bootstrap" -Q -t "$topic:$p:-2" | awk '{print $NF}')
    high=$(kcat -b "$bootstrap" -Q -t "$topic:$p:-1" | awk '{print $NF}')
    if [[ "$low" != 0 ]]; then
      echo "$(basename "$0"): partition $p lost its first $low records (the mock keeps ~5 MiB" \
        "per partition): use more --partitions or --compression lz4" >&2
      exit 1
    fi
    on_broker=$((on_broker + high))
    highs+=("$high")
  done
  [[ $on_broker == "$records" ]] ||
    { echo "$(basename "$0"): $on_broker records on the broker, expected $records" >&2; exit 1; }
}
