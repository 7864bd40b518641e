#!/usr/bin/env bash
# Build cask and run every test: unit tests (cmocka) and end-to-end tests
# (numpy/h5py references) in a normal build, the same under ASan+UBSan, the
# threaded engine tests under ThreadSanitizer (tests/tsan.sh, when clang-14
# and libomp-14-dev are installed) and a short fuzz smoke when clang is
# available.  Exit status 0 only if all pass.
set -euo pipefail
cd "$(dirname "$0")"
CASK_WITH_FUZZ=1 CASK_WITH_TSAN=1 scripts/deps.sh
jobs=$(nproc)

echo "== build (release-like, -Werror)"
[ -d build ] || meson setup build --buildtype=debugoptimized >/dev/null
meson setup --reconfigure build >/dev/null
ninja -C build -j"$jobs"
echo "== tests"
meson test -C build --print-errorlogs --num-processes "$jobs"

echo "== build with ASan+UBSan"
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	--buildtype=debug >/dev/null
meson setup --reconfigure build-asan >/dev/null
ninja -C build-asan -j"$jobs"
echo "== tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --num-processes "$jobs" --suite cask \
	--no-suite e2e-slow

if command -v clang-14 >/dev/null && [ -f /usr/lib/llvm-14/lib/libarcher.so ]; then
	echo "== tests under ThreadSanitizer (clang-14, libomp + Archer)"
	tests/tsan.sh build-tsan
else
	echo "== ThreadSanitizer skipped: clang-14 or libomp-14-dev is not installed"
fi

if [ -x tests/fuzz/smoke.sh ]; then
	echo "== fuzz smoke"
	tests/fuzz/smoke.sh
fi
echo "all tests passed"
