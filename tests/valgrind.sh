#!/usr/bin/env bash
# Memcheck over a few `cask` invocations (issue 7, item 6): info, create,
# eval with reductions, eval -o (store, with and without --overwrite and
# gzip), a failing run (missing dataset) and an interrupted-by-error run
# (corrupt chunk).  Each must finish with no invalid access and no leak that
# valgrind calls "definitely" or "indirectly" lost (--errors-for-leak-kinds),
# and with no file descriptor left open at exit apart from stdio
# (--track-fds).  Not part of the default suite: it takes about a minute
# (valgrind runs cask ~30x slower); run it by hand or in a nightly job:
#   tests/valgrind.sh [path/to/cask]      (default: build/src/cli/cask)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cask="$(realpath "${1:-$root/build/src/cli/cask}")"
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/cask-vg-XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
# OpenBLAS's thread pool and OpenMP's are process-lifetime allocations
# (still reachable); one thread each keeps the run short and deterministic.
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1
vg=(valgrind --quiet --error-exitcode=9 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-fds=yes --num-callers=30)
fails=0
t0=$(date +%s)

# Inputs made without valgrind (and a corrupt chunk made with h5py).
"$cask" create in.h5:/x --shape 120,100 --chunks 32,64 --fill random --seed 3 -q
"$cask" create in.h5:/i --shape 1000 --chunks 128 --fill arange --dtype i4 --compress gzip -q
/usr/bin/python3 - <<'PY'
import h5py, numpy as np
with h5py.File('bad.h5', 'w') as f:
    f.create_dataset('z', data=np.arange(400.0).reshape(20, 20), chunks=(10, 10), compression='gzip')
with h5py.File('bad.h5', 'r') as f:
    info = f['z'].id.get_chunk_info_by_coord((10, 10))
with open('bad.h5', 'r+b') as f:
    f.seek(info.byte_offset + 2)
    f.write(b'\xff' * (info.size - 2))
PY

check() {  # check EXPECTED_EXIT ARGS...
	local want="$1"; shift
	local log="$work/vg.log" rc=0
	"${vg[@]}" --log-file="$log" "$cask" "$@" > "$work/out" 2> "$work/err" || rc=$?
	local fd_open
	# Descriptors cask opened and did not close: those valgrind lists at
	# exit apart from stdio and the ones inherited from the parent.
	fd_open=$(awk '/Open file descriptor [0-9]+:/ { if (fd != "" && !inh) n++; fd = $5; sub(":", "", fd);
		if (fd + 0 <= 2) fd = ""; inh = 0; next }
		/<inherited from parent>/ { inh = 1 }
		END { if (fd != "" && !inh) n++; print n + 0 }' "$log")
	if [ "$rc" = 9 ] || [ "$rc" != "$want" ] || [ "$fd_open" -gt 0 ]; then
		echo "FAIL (exit $rc, expected $want, fds open at exit: ${fd_open:-0}): cask $*"
		grep -v '^==[0-9]*== *$' "$log" | head -60
		head -5 "$work/err"
		fails=$((fails + 1))
	else
		echo "ok   cask $*"
	fi
}

check 0 info in.h5
check 0 create out.h5:/r --shape 100,60 --chunks 50,50 --fill normal --seed 1 -q
check 0 eval -i x=in.h5:/x 'mean(x, axis=0)[:3]'
check 0 eval -i x=in.h5:/x 'x - mean(x, axis=0, keepdims=True)' -o out.h5:/c -q
check 0 eval -i x=in.h5:/x 'std(x, axis=1, ddof=1)' -o out.h5:/s --compress gzip=1 -q
check 0 eval -i x=in.h5:/x 'x * 2' -o out.h5:/c --overwrite -q
check 0 eval -i i=in.h5:/i 'sum(i) + argmax(i)'
check 1 eval -i x=in.h5:/nope 'x + 1'
check 1 eval -i z=bad.h5:/z 'sum(z)'
check 1 eval -i z=bad.h5:/z 'z + 1' -o out.h5:/bad -q
check 2 eval -i x=in.h5:/x 'foo(x)'

echo "valgrind.sh: $fails failure(s), $(( $(date +%s) - t0 )) s"
[ "$fails" -eq 0 ]
