#!/usr/bin/env bash
# Build the libFuzzer targets of cask with clang (ASan + UBSan + libFuzzer):
#   fuzz_expr    the expression parser (src/cli/expr.c alone)
#   fuzz_h5open  cask_h5_info / cask_array_open / a small compute on any file
# The library sources are compiled directly (no meson), so the whole library
# is instrumented; HDF5, zlib, OpenBLAS and LAPACKE are the system ones.
# OpenMP: clang's -fopenmp links LLVM's libomp (package libomp-dev).
#
# Usage: tests/fuzz/build.sh [OUTDIR]   (default: build-fuzz at the repo root)
# Env:   CC (default clang-14, else clang), CASK_FUZZ_CFLAGS (extra flags).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/build-fuzz}"
mkdir -p "$out"

if [ -z "${CC:-}" ]; then
	if command -v clang-14 >/dev/null; then CC=clang-14
	elif command -v clang >/dev/null; then CC=clang
	else
		echo "build.sh: clang not found; installing clang and libclang-rt-14-dev" >&2
		sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
			clang libclang-rt-14-dev libomp-dev >/dev/null
		CC=clang
	fi
fi

san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
# -fsanitize=fuzzer-no-link for the library objects: coverage instrumentation
# without a second main().
libsan="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
common="-std=c11 -g -O1 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -fno-omit-frame-pointer \
	-I$root/include -I$root/src -I$root/kernels -I$root/linalg -I$root/src/cli \
	$(pkg-config --cflags hdf5-serial openblas lapacke zlib) ${CASK_FUZZ_CFLAGS:-}"

objdir="$out/obj"
mkdir -p "$objdir"

# The expression parser: pure C, no library.
echo "build.sh: $CC fuzz_expr" >&2
$CC $san $common -o "$out/fuzz_expr" "$here/fuzz_expr.c" "$root/src/cli/expr.c" -lm

# The library: every source the meson build puts in libcask, if present.
srcs=()
for f in ctx io io_direct filters pool graph sched array eval compute store overlap; do
	[ -f "$root/src/$f.c" ] && srcs+=("$root/src/$f.c")
done
for f in elementwise cast gather random reduce ndimage skinny houseqr gemm_i64; do
	[ -f "$root/kernels/$f.c" ] && srcs+=("$root/kernels/$f.c")
done
for f in tsqr_kernels tsqr_mem tsqr svd matmul; do
	[ -f "$root/linalg/$f.c" ] && srcs+=("$root/linalg/$f.c")
done
objs=()
pids=()
for s in "${srcs[@]}"; do
	o="$objdir/$(basename "$(dirname "$s")")_$(basename "$s" .c).o"
	objs+=("$o")
	if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$0" -nt "$o" ] || \
	   [ -n "$(find "$root/include" "$root/src" "$root/kernels" "$root/linalg" -name '*.h' -newer "$o" -print -quit)" ]; then
		$CC $libsan $common -fopenmp -c "$s" -o "$o" &
		pids+=($!)
	fi
done
for p in "${pids[@]+"${pids[@]}"}"; do wait "$p"; done
echo "build.sh: $CC fuzz_h5open (${#objs[@]} library sources)" >&2
$CC $san $common -fopenmp -o "$out/fuzz_h5open" "$here/fuzz_h5open.c" "${objs[@]}" \
	$(pkg-config --libs hdf5-serial openblas lapacke zlib) -lpthread -lm
echo "build.sh: built $out/fuzz_expr $out/fuzz_h5open" >&2
