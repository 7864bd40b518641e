#!/usr/bin/env bash
# Install the Debian 12 packages cask needs, if any is missing.  Used by
# run-demo.sh and run-tests.sh; safe to run repeatedly.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc libc6-dev libhdf5-dev hdf5-tools libopenblas-dev
      liblapacke-dev libcmocka-dev zlib1g-dev libdeflate-dev libpng-dev python3 python3-numpy python3-h5py
      python3-scipy python3-pil hdf5-filter-plugin time)
[ "${CASK_WITH_BENCH:-0}" = 1 ] && pkgs+=(python3-dask python3-skimage)
[ "${CASK_WITH_FUZZ:-0}" = 1 ] && pkgs+=(clang libclang-rt-14-dev)
# tests/tsan.sh: clang-14 with LLVM's OpenMP runtime and its Archer tool.
[ "${CASK_WITH_TSAN:-0}" = 1 ] && pkgs+=(clang-14 libomp-14-dev)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
