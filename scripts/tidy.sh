#!/usr/bin/env bash
# clang-tidy over host/ with the checks of .clang-tidy (bugprone-*, performance-*; the two left
# out are explained there). Uses build/ci's compile_commands.json (configured if missing).
# Usage: scripts/tidy.sh [FILE...]   (default: every host/*/*.cpp). Exit 1 when a check fires.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/ci
[[ -f "$build/compile_commands.json" ]] || cmake --preset ci >/dev/null
files=("$@")
[[ ${#files[@]} -gt 0 ]] || mapfile -t files < <(ls host/*/*.cpp)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for f in "${files[@]}"; do
  clang-tidy -p "$build" --quiet "$f" 2>/dev/null | grep -E 'warning:|error:' >>"$out" || true
done
if [[ -s "$out" ]]; then
  cat "$out"
  echo "tidy: $(wc -l <"$out") findings in ${#files[@]} files" >&2
  exit 1
fi
echo "tidy: clean (${#files[@]} files)"
