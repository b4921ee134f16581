#!/usr/bin/env bash
# Installs the Debian 12 packages Sluice needs, only those missing.
# Usage: scripts/install-deps.sh [build|test|bench]...   (default: build)
set -euo pipefail

build_pkgs=(g++ cmake make pkg-config librdkafka-dev libssl-dev libboost-dev libboost-program-options-dev
            libzookeeper-mt-dev libspdlog-dev nlohmann-json3-dev help2man libpq-dev)
test_pkgs=(libgtest-dev libgmock-dev kcat zookeeper burrow dpkg-dev  # zookeeper pulls a JRE
           clang-14 libclang-rt-14-dev  # libFuzzer, for the WAL fuzz target
           postgresql-15  # the server the postgres-sink tests start
           chromium fonts-dejavu-core)  # headless, for the status page test (tests/metrics)
bench_pkgs=(kcat time postgresql-15)  # the server bench/postgres_sink.sh starts

wanted=()
for group in "${@:-build}"; do
  case "$group" in
    build) wanted+=("${build_pkgs[@]}") ;;
    test) wanted+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    bench) wanted+=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
    *) echo "install-deps: unknown group '$group' (use build, test or bench)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
# De-duplicate while keeping order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install-deps: run this script as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
