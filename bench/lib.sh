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
