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

# 6. An image pipeline on the astronaut photograph (data/astronaut.h5: NASA, public
#    domain, as shipped by scikit-image): smooth, edge strength, threshold; look at the
#    results as PNG files in demo-out/.
run $cask filter gaussian data/astronaut.h5:/gray -o demo-out/img.h5:/smooth --sigma 2 --overwrite
run $cask eval -i g=data/astronaut.h5:/gray \
	"hypot(sobel(gaussian(astype(g, 'f4'), sigma=2), axis=0), sobel(gaussian(astype(g, 'f4'), sigma=2), axis=1))" \
	-o demo-out/img.h5:/edges --overwrite
run $cask eval -i edges=demo-out/img.h5:/edges 'edges > 0.25 * max(edges)' -o demo-out/img.h5:/mask --overwrite
run $cask export demo-out/img.h5:/smooth demo-out/smooth.png --overwrite
run $cask export demo-out/img.h5:/edges demo-out/edges.png --overwrite
run $cask export demo-out/img.h5:/mask demo-out/mask.png --overwrite
# 7. A larger synthetic volume made on the spot, median-filtered block by block with halos.
run $cask create demo-out/vol.h5:/v --shape 64,192,192 --chunks 32,96,96 --dtype f4 --fill normal \
	--seed 3 --overwrite
run $cask filter median demo-out/vol.h5:/v -o demo-out/vol.h5:/med --size 3 --overwrite --stats
run $cask eval -i v=demo-out/vol.h5:/v -i m=demo-out/vol.h5:/med 'std(m) / std(v)'
# 8. Linear algebra.  Tall-skinny QR of the readings (check: Q R gives them back to
#    rounding); a least-squares fit of sensor 0 from the other 149 (prints the residual
#    norm and the rank); a rank-20 approximation of the photograph by randomized SVD,
#    rebuilt with @ and exported (demo-out/rank20.png), with its relative error.
run $cask qr data/sample.h5:/readings --q demo-out/la.h5:/Q --r demo-out/la.h5:/R --overwrite
run $cask eval -i q=demo-out/la.h5:/Q -i r=demo-out/la.h5:/R -i x=data/sample.h5:/readings \
	'max(abs(q @ r - x)) / max(abs(x))'
run $cask eval -i z=demo-out/demo.h5:/zscore 'z[:, 1:]' -o demo-out/la.h5:/A --overwrite
run $cask eval -i z=demo-out/demo.h5:/zscore 'z[:, 0]' -o demo-out/la.h5:/b --overwrite
run $cask lstsq demo-out/la.h5:/A demo-out/la.h5:/b -o demo-out/la.h5:/coef --overwrite
run $cask svd data/astronaut.h5:/gray -k 20 --seed 1 --u demo-out/la.h5:/U --s demo-out/la.h5:/S \
	--vt demo-out/la.h5:/Vt --overwrite
run $cask eval -i u=demo-out/la.h5:/U -i s=demo-out/la.h5:/S -i vt=demo-out/la.h5:/Vt \
	'clip((u * s) @ vt, 0, 255)' -o demo-out/la.h5:/rank20 --overwrite
run $cask eval -i g=data/astronaut.h5:/gray -i a=demo-out/la.h5:/rank20 \
	'sqrt(sum((g - a) ** 2) / sum((g * 1.0) ** 2))'
run $cask export demo-out/la.h5:/rank20 demo-out/rank20.png --overwrite
echo
echo "demo done: results in demo-out/ (PNG images: demo-out/*.png)"
