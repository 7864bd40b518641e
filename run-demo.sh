#!/usr/bin/env bash
# Build cask and run the demo on the sample data in data/ (installs the
# Debian packages it needs first).  Results go to demo-out/.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
[ -d build ] || meson setup build --buildtype=debugoptimized >/dev/null
meson setup --reconfigure build >/dev/null
ninja -C build >/dev/null
cask=build/src/cli/cask
mkdir -p demo-out
run() { printf '\n$ %s\n' "$*"; "$@"; }

# 1. What is in the sample file.
run $cask info data/sample.h5
# 2. Per-sensor statistics, printed (the result is small).
run $cask eval -i x=data/sample.h5:/readings 'mean(x, axis=0)[:6]'
run $cask eval -i x=data/sample.h5:/readings 'std(x, axis=0, ddof=1)[:6]'
# 3. Standardise every sensor and store the result (two streamed passes over x).
run $cask eval -i x=data/sample.h5:/readings \
	'(x - mean(x, axis=0)) / std(x, axis=0)' -o demo-out/demo.h5:/zscore --overwrite --stats
run $cask eval -i z=demo-out/demo.h5:/zscore 'max(abs(mean(z, axis=0)))'
# 4. Masked statistics with a bool dataset.
run $cask eval -i x=data/sample.h5:/readings -i v=data/sample.h5:/valid \
	'sum(where(v, x, 0), axis=0)[:4] / count_nonzero(v, axis=0)[:4]'
# 5. A larger synthetic array made on the spot, reduced under a small budget.
run $cask create demo-out/big.h5:/x --shape 4096,4096 --chunks 512,512 --fill normal --seed 1 \
	--overwrite
run $cask eval -i x=demo-out/big.h5:/x 'count_nonzero(x > 2) / 16777216' --memory 64M --stats
