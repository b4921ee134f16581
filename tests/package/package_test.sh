#!/usr/bin/env bash
# package_test.sh BUILD_DIR CXX: builds the .deb packages with CPack, unpacks them into a
# scratch root and checks what a user of the package gets. Fails with the step that broke.
set -euo pipefail
build=$1
cxx=$2
scratch=$(mktemp -d /tmp/sluice-package-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
chmod 755 "$scratch"
fail() { echo "package test: $*" >&2; exit 1; }

echo "== cpack"
cpack --config "$build/CPackConfig.cmake" -B "$scratch/out" >"$scratch/cpack.log" 2>&1 ||
  { cat "$scratch/cpack.log"; fail "cpack failed"; }
host_deb=$(ls "$scratch"/out/sluice_*.deb)
dev_deb=$(ls "$scratch"/out/sluice-dev_*.deb)
echo "built $(basename "$host_deb") and $(basename "$dev_deb")"

echo "== package metadata"
depends=$(dpkg-deb -f "$host_deb" Depends)
echo "sluice Depends: $depends"
for lib in librdkafka1 libzookeeper-mt2 libc6; do
  [[ "$depends" == *"$lib"* ]] || fail "the sluice package does not depend on $lib"
done
[[ "$(dpkg-deb -f "$dev_deb" Depends)" == *"sluice (= "* ]] || fail "sluice-dev does not depend on sluice"

echo "== unpack"
root="$scratch/root"
dpkg-deb -x "$host_deb" "$root"
dpkg-deb -x "$dev_deb" "$root"
for f in usr/bin/sluice usr/lib/sluice/plugins/file-sink.so usr/lib/sluice/plugins/print-offsets.so \
         usr/share/man/man1/sluice.1 usr/share/man/man1/sluice-run.1 \
         usr/lib/systemd/system/sluice@.service usr/share/doc/sluice/README.md \
         usr/share/doc/sluice/durability.md usr/share/doc/sluice/examples/example-job.ini \
         usr/include/sluice/sluice.h usr/include/sluice/plugin.hpp usr/include/sluice/sdk/host.hpp \
         usr/lib/cmake/Sluice/SluiceConfig.cmake; do
  [[ -e "$root/$f" ]] || fail "the packages lack /$f"
done
# dpkg may lay lib/systemd under /usr or /; accept either.

echo "== the installed binary"
"$root/usr/bin/sluice" --version | grep -q '^sluice [0-9]' || fail "sluice --version"
"$root/usr/bin/sluice" plugins "$root/usr/lib/sluice/plugins" | tee "$scratch/plugins.txt"
grep -q 'file-sink.so .*loads=yes' "$scratch/plugins.txt" || fail "the bundled file-sink does not load"
# Without --plugin-dir an installed sluice finds its bundled plugins under the prefix.
timeout 60 "$root/usr/bin/sluice" run --brokers embedded --topics pkg --plugin print-offsets \
  --batch-interval 100ms --max-batches 2 >"$scratch/run.out" 2>"$scratch/run.err" ||
  { cat "$scratch/run.err"; fail "sluice run with the installed plugin"; }
grep -q 'from .*/usr/lib/sluice/plugins/print-offsets.so' "$scratch/run.err" ||
  { cat "$scratch/run.err"; fail "the run did not load print-offsets from the installed path"; }

echo "== man pages and the unit"
grep -q '^\.TH SLUICE-RUN ' "$root/usr/share/man/man1/sluice-run.1" || fail "sluice-run.1 has no .TH"
grep -q 'batch\\-interval' "$root/usr/share/man/man1/sluice-run.1" || fail "sluice-run.1 lacks the options"
grep -q '^ExecStart=/usr/bin/sluice run --config /etc/sluice/%i.ini$' \
  "$root/usr/lib/systemd/system/sluice@.service" || fail "the unit's ExecStart"

echo "== a plugin built against the installed SDK"
cmake -S "$root/usr/share/doc/sluice/examples/plugin-project" -B "$scratch/plugin-build" \
  -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_CXX_COMPILER="$cxx" >"$scratch/cmake.log" 2>&1 ||
  { cat "$scratch/cmake.log"; fail "configuring the sample plugin project"; }
cmake --build "$scratch/plugin-build" >"$scratch/build.log" 2>&1 ||
  { cat "$scratch/build.log"; fail "building the sample plugin project"; }
mkdir -m 755 "$scratch/my-plugins"
cp "$scratch"/plugin-build/*.so "$scratch/my-plugins/"
"$root/usr/bin/sluice" plugins "$scratch/my-plugins" | tee "$scratch/mine.txt"
grep -q 'loads=yes' "$scratch/mine.txt" || fail "the sample plugin does not load in the installed sluice"
echo "package test: ok"
