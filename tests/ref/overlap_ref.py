#!/usr/bin/python3
"""Reference values for tests/test_overlap.c, computed by scipy.ndimage on
the whole array.

usage: overlap_ref.py JOBS DIR

JOBS has one Python dict literal per line:
  {"id": 3, "filter": "gaussian_filter", "dtype": "float32", "shape": [23, 17],
   "seed": 7, "kw": {"sigma": [1.0, 2.0], "mode": "reflect", "cval": 1.5},
   "wshape": [3, 2]}          # correlate / convolve only
   "pipeline": "edges"        # instead of "filter": a fused expression
                              # ("center": gaussian(x - x.mean(), mode wrap))
For each job the script writes DIR/<id>.in (the input, C order, raw), DIR/<id>.w
(float64 weights, when wshape is given) and DIR/<id>.ref (scipy's result in its
own dtype, raw).  Inputs are random: floats normal*100, integers over the full
range of the dtype.
"""
import ast
import os
import sys
import warnings

import numpy as np
import scipy.ndimage as ndi


def make_input(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dt)


def main():
    # integer gradient magnitudes overflow into NaN casts, as in the tests
    warnings.filterwarnings("ignore")
    jobs, out = sys.argv[1], sys.argv[2]
    with open(jobs) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            j = ast.literal_eval(line)
            rng = np.random.default_rng(j["seed"])
            x = make_input(j["dtype"], tuple(j["shape"]), rng)
            x.tofile(os.path.join(out, "%d.in" % j["id"]))
            kw = dict(j.get("kw", {}))
            if j.get("pipeline") == "center":
                # a filter over an expression holding a reduction
                s = kw.pop("sigma")
                r = ndi.gaussian_filter(x - x.mean(), s[0], mode="wrap")
            elif "pipeline" in j:
                s = kw.pop("sigma")
                s = s[0] if len(s) == 1 else s
                g = ndi.gaussian_filter(x, s)
                r = np.hypot(ndi.sobel(g, axis=0), ndi.sobel(g, axis=1)) > kw["threshold"]
            else:
                fn = getattr(ndi, j["filter"])
                if "wshape" in j:
                    w = rng.standard_normal(tuple(j["wshape"]))
                    w.tofile(os.path.join(out, "%d.w" % j["id"]))
                    r = fn(x, w, **kw)
                elif j["filter"] in ("sobel", "prewitt", "laplace"):
                    r = fn(x, **kw)
                else:
                    r = fn(x, **kw)
            np.ascontiguousarray(r).tofile(os.path.join(out, "%d.ref" % j["id"]))


if __name__ == "__main__":
    main()
