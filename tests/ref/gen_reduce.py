#!/usr/bin/python3
"""Generate tests/ref/reduce_ref.h: NumPy 1.24 reference results for the
reduction kernels (kernels/reduce.c), used by tests/test_reduce.c.

Inputs: every dtype on 0-d, 1-d, 2-d and 3-d shapes, with zero-length and
extent-1 axes, random values from a fixed seed (small integer ranges for
ties and zeros, full-range integers for wrapping sums and products, floats
with NaN, all-NaN rows and infinities).  For every input, every reduction
op, the axis sets None, (), each single axis and (in 3-d) each pair, and
ddof 0/1 (plus 5 where fewer than 6 values are reduced) for var/std, the
expected values come straight from NumPy.  arg* over several axes is
NumPy's argmin of the array with the reduced axes moved last and flattened.

Run:  /usr/bin/python3 tests/ref/gen_reduce.py > tests/ref/reduce_ref.h
"""
import sys
import warnings

import numpy as np

assert np.__version__.startswith("1.24"), np.__version__
warnings.simplefilter("ignore")

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "uint64", "float32", "float64"]
CASK_DTYPE = {d: "CASK_" + d.upper() for d in DTYPES}
CTYPE = {"bool": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
         "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t",
         "uint32": "uint32_t", "uint64": "uint64_t", "float32": "float",
         "float64": "double"}
# cask_redop_t order (include/cask.h).
OPS = ["sum", "prod", "mean", "var", "std", "min", "max", "argmin", "argmax", "any", "all",
       "count_nonzero", "nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmin",
       "nanmax"]
VAR_OPS = {"var", "std", "nanvar", "nanstd"}
SHAPES = [(), (0,), (1,), (7,), (300,), (5, 6), (4, 0), (1, 9), (6, 1), (3, 4, 5),
          (2, 1, 3), (3, 0, 2)]
WIDE_SHAPES = [(300,), (5, 6), (3, 4, 5)]

rng = np.random.default_rng(20261124)


def make_input(dt, shape, variant):
    n = int(np.prod(shape))
    if dt == "bool":
        return (rng.random(shape) < 0.8)
    info = np.iinfo(dt) if dt not in ("float32", "float64") else None
    if info is not None:
        if variant == "small":
            lo, hi = (-3, 4) if info.min < 0 else (0, 6)
            return rng.integers(lo, hi, size=shape).astype(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    if variant == "nan":
        # Values from a small set (ties for arg*, exact zeros), ~15% NaN, and
        # one all-NaN line along the last axis; products stay in f4 range.
        v = rng.choice(np.array([-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2]), size=shape)
        v = v.astype(dt)
        v[rng.random(shape) < 0.15] = np.nan
        if len(shape) >= 2 and n > 0:
            v[(0,) * (len(shape) - 1)] = np.nan
        return v
    if variant == "inf":
        v = rng.uniform(-1.5, 1.5, size=shape).astype(dt)
        flat = v.reshape(-1)
        flat[rng.random(n) < 0.2] = np.inf
        flat[rng.random(n) < 0.1] = -np.inf
        return v
    # clean: no NaN, magnitudes near 1 so f4 products neither overflow nor
    # underflow; random signs give cancellation in sums.
    return (rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
            ).astype(dt)


def inputs():
    out = []
    for dt in DTYPES:
        for shape in SHAPES:
            if dt in ("float32", "float64"):
                out.append((dt, shape, make_input(dt, shape, "nan")))
                if shape in WIDE_SHAPES or shape == (7,):
                    out.append((dt, shape, make_input(dt, shape, "clean")))
                if shape in [(7,), (5, 6)]:
                    out.append((dt, shape, make_input(dt, shape, "inf")))
            else:
                out.append((dt, shape, make_input(dt, shape, "small")))
                if dt != "bool" and shape in WIDE_SHAPES:
                    out.append((dt, shape, make_input(dt, shape, "wide")))
    return out


def axis_sets(shape):
    nd = len(shape)
    # axis=() (nothing reduced) only on small inputs: its output is the input.
    sets = [None] + ([()] if np.prod(shape) <= 30 else [])
    sets += [(k,) for k in range(nd)]
    if nd == 3:
        sets += [(0, 1), (0, 2), (1, 2)]
    return sets


def numpy_fn(op):
    return {"min": np.amin, "max": np.amax}.get(op, getattr(np, op, None))


def reference(op, x, axes, ddof):
    """NumPy's result, or None where NumPy raises (empty min/max/arg*)."""
    nd = x.ndim
    red = tuple(range(nd)) if axes is None else axes
    if op in ("argmin", "argmax"):
        keep = [k for k in range(nd) if k not in red]
        kshape = tuple(x.shape[k] for k in keep)
        nred = int(np.prod([x.shape[k] for k in red]))
        y = np.transpose(x, keep + list(red)).reshape(kshape + (nred,))
        try:
            return np.asarray(getattr(np, op)(y, axis=-1))
        except ValueError:
            return None
    fn = numpy_fn(op)
    kw = {"ddof": ddof} if op in VAR_OPS else {}
    try:
        r = fn(x, axis=red if axes is not None else None, **kw)
    except ValueError:
        return None
    return np.asarray(r)


def scale(op, x, axes, ddof):
    """A magnitude the rounding error of op is proportional to (see the test)."""
    red = tuple(range(x.ndim)) if axes is None else axes
    a = np.abs(x.astype(np.float64))
    if op in ("sum", "nansum"):
        s = np.nansum(a, axis=red)
    elif op in ("mean", "nanmean"):
        s = np.nanmean(a, axis=red)
    elif op in ("prod", "nanprod"):
        s = np.nanprod(a, axis=red)
    else:
        cnt = np.sum(~np.isnan(a), axis=red)
        s = np.nansum(a * a, axis=red) / np.maximum(cnt - ddof, 1)
        if op in ("std", "nanstd"):
            s = np.sqrt(s)
    s = np.asarray(s, dtype=np.float64)
    return np.where(np.isfinite(s), s, 0.0)


def c_float(v):
    v = float(v)
    if np.isnan(v):
        return "NAN"
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return v.hex()


def c_int(v):
    v = int(v)
    if v == -2**63:
        return "INT64_MIN"
    return str(v) + "LL"


def c_uint(v):
    return str(int(v)) + "ULL"


def c_value(dt, v):
    if dt in ("float32", "float64"):
        return c_float(v)
    if dt.startswith("uint"):
        return c_uint(v)
    return c_int(v)


def wrap(items, per=8):
    lines = []
    for i in range(0, len(items), per):
        lines.append("\t" + ", ".join(items[i:i + per]) + ",")
    return "\n".join(lines) if lines else "\t0,"


def main():
    out = sys.stdout
    w = out.write
    w("/* Generated by tests/ref/gen_reduce.py (NumPy %s): do not edit. */\n"
      % np.__version__)
    w("#ifndef CASK_REDUCE_REF_H\n#define CASK_REDUCE_REF_H\n\n")
    w("#include <math.h>\n#include <stdint.h>\n\n#include \"cask.h\"\n\n")
    w("typedef struct {\n\tcask_dtype_t t;\n\tint nd;\n\tint64_t shape[3];\n"
      "\tconst void *data;\n\tconst char *what;\n} ref_input_t;\n\n")
    w("/* One reduction: expected values of dtype rdt at offset off of the pool\n"
      " * of their kind (ref_i64 for bool and signed, ref_u64 for unsigned,\n"
      " * ref_f64 and ref_scale for floats); rc 1 where NumPy raises. */\n")
    w("typedef struct {\n\tint input;\n\tcask_redop_t op;\n\tuint32_t redmask;\n"
      "\tint ddof;\n\tint rc;\n\tcask_dtype_t rdt;\n\tint64_t nout;\n\tint64_t off;\n"
      "} ref_case_t;\n\n")

    # Result dtype table, from NumPy on a small array.
    w("/* NumPy's result dtype of op (row, cask_redop_t order) on each dtype. */\n")
    w("static const cask_dtype_t ref_rdt[%d][%d] = {\n" % (len(OPS), len(DTYPES)))
    for op in OPS:
        row = []
        for dt in DTYPES:
            r = reference(op, np.ones((2, 3), dtype=dt), (0,), 0)
            row.append(CASK_DTYPE[str(r.dtype)])
        w("\t{" + ", ".join(row) + "}, /* %s */\n" % op)
    w("};\n\n")

    ins = inputs()
    for i, (dt, shape, x) in enumerate(ins):
        vals = [c_value(dt, v) if dt != "bool" else str(int(v)) for v in x.reshape(-1)]
        w("static const %s ref_in_%d[] = {\n%s\n};\n" % (CTYPE[dt], i, wrap(vals)))
    w("\nstatic const ref_input_t ref_inputs[] = {\n")
    for i, (dt, shape, x) in enumerate(ins):
        sh = list(shape) + [0] * (3 - len(shape))
        w("\t{%s, %d, {%s}, ref_in_%d, \"%s%s\"},\n" % (
            CASK_DTYPE[dt], len(shape), ", ".join(str(s) for s in sh), i, dt,
            str(shape).replace(" ", "")))
    w("};\n\n")

    pools = {"i": [], "u": [], "f": []}
    scales = []
    cases = []
    for i, (dt, shape, x) in enumerate(ins):
        nd = len(shape)
        for axes in axis_sets(shape):
            red = tuple(range(nd)) if axes is None else axes
            mask = sum(1 << k for k in red)
            keep = [shape[k] for k in range(nd) if k not in red]
            nout = int(np.prod(keep))
            nred = int(np.prod([shape[k] for k in red]))
            for opi, op in enumerate(OPS):
                ddofs = [0]
                if op in VAR_OPS:
                    ddofs = [0, 1] + ([5] if nred < 6 else [])
                for ddof in ddofs:
                    r = reference(op, x, axes, ddof)
                    rdt = str(reference(op, np.ones((2, 3), dtype=dt), (0,), 0).dtype)
                    if r is None:
                        cases.append((i, opi, mask, ddof, 1, rdt, nout, 0))
                        continue
                    assert r.size == nout, (op, dt, shape, axes)
                    assert str(r.dtype) == rdt, (op, dt, r.dtype, rdt)
                    flat = r.reshape(-1)
                    if rdt in ("float32", "float64"):
                        kind = "f"
                        vals = [c_float(v) for v in flat]
                        if op in ("min", "max", "nanmin", "nanmax"):
                            sc = np.zeros(nout)
                        else:
                            sc = scale(op, x, axes, ddof).reshape(-1)
                        scales += [c_float(v) for v in sc]
                    elif rdt.startswith("uint"):
                        kind = "u"
                        vals = [c_uint(v) for v in flat]
                    else:
                        kind = "i"
                        vals = [c_int(v) for v in flat]
                    off = len(pools[kind])
                    pools[kind] += vals
                    cases.append((i, opi, mask, ddof, 0, rdt, nout, off))

    for kind, ctype, name in (("i", "int64_t", "ref_i64"), ("u", "uint64_t", "ref_u64"),
                              ("f", "double", "ref_f64")):
        w("static const %s %s[] = {\n%s\n};\n\n" % (ctype, name, wrap(pools[kind])))
    w("static const double ref_scale[] = {\n%s\n};\n\n" % wrap(scales))
    w("static const ref_case_t ref_cases[] = {\n")
    for (i, opi, mask, ddof, rc, rdt, nout, off) in cases:
        w("\t{%d, %d, 0x%xu, %d, %d, %s, %d, %d},\n" % (i, opi, mask, ddof, rc,
                                                      CASK_DTYPE[rdt], nout, off))
    w("};\n\n#endif /* CASK_REDUCE_REF_H */\n")
    sys.stderr.write("%d inputs, %d cases\n" % (len(ins), len(cases)))


if __name__ == "__main__":
    main()
