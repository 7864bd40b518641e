#!/usr/bin/python3
"""Generate tests/ref/elementwise_ref.h: NumPy 1.24 reference results for the
elementwise kernels (every op x every dtype that has a loop) and for
cask_k_cast (all 121 dtype pairs).

Run from the repository root:  /usr/bin/python3 tests/ref/gen_elementwise.py

Binary ops are evaluated on the cartesian product of a per-dtype edge-case
value list v (0, +-1, small values, INT_MIN/INT_MAX, NaN, +-inf, -0.0,
subnormals, half-integers, ...): a[i*nv+j] = v[i], b[i*nv+j] = v[j].  Unary
ops use a longer per-dtype list.  Where NumPy has no defined result our
contract defines one, and the generator writes that instead (stated where it
happens): integer power with a negative exponent (NumPy raises).  Float ->
int casts of NaN/inf/out-of-range values, unspecified in NumPy, are NumPy's
results on x86-64 element by element (its scalar loop: the vectorised loop
of a long array agrees except for uint32 destinations).
"""
import math
import platform
import sys

import numpy as np

np.seterr(all="ignore")
assert np.__version__.startswith("1.24"), np.__version__

DT = [  # (cask enum, numpy dtype, C type, suffix)
    ("CASK_BOOL", np.bool_, "uint8_t", "b"),
    ("CASK_INT8", np.int8, "int8_t", "i8"),
    ("CASK_INT16", np.int16, "int16_t", "i16"),
    ("CASK_INT32", np.int32, "int32_t", "i32"),
    ("CASK_INT64", np.int64, "int64_t", "i64"),
    ("CASK_UINT8", np.uint8, "uint8_t", "u8"),
    ("CASK_UINT16", np.uint16, "uint16_t", "u16"),
    ("CASK_UINT32", np.uint32, "uint32_t", "u32"),
    ("CASK_UINT64", np.uint64, "uint64_t", "u64"),
    ("CASK_FLOAT32", np.float32, "float", "f32"),
    ("CASK_FLOAT64", np.float64, "double", "f64"),
]


def kind(npt):
    if npt is np.bool_:
        return "b"
    return np.dtype(npt).kind  # i u f


# Functions computed by libm / NumPy SIMD code that are not correctly
# rounded: compared within TOL_ULP units in the last place (see the test).
TRANSCENDENTAL = {"exp", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan",
                  "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arctan2",
                  "hypot", "power"}
TOL_ULP = 4

# (cask op, numpy function name, kinds having the loop, output is bool)
BINARY = [
    ("CASK_ADD", "add", "biuf", False), ("CASK_SUB", "subtract", "iuf", False),
    ("CASK_MUL", "multiply", "biuf", False), ("CASK_DIV", "true_divide", "f", False),
    ("CASK_FLOORDIV", "floor_divide", "iuf", False), ("CASK_MOD", "remainder", "iuf", False),
    ("CASK_POW", "power", "iuf", False),
    ("CASK_LT", "less", "biuf", True), ("CASK_LE", "less_equal", "biuf", True),
    ("CASK_GT", "greater", "biuf", True), ("CASK_GE", "greater_equal", "biuf", True),
    ("CASK_EQ", "equal", "biuf", True), ("CASK_NE", "not_equal", "biuf", True),
    ("CASK_AND", "bitwise_and", "biu", False), ("CASK_OR", "bitwise_or", "biu", False),
    ("CASK_XOR", "bitwise_xor", "biu", False),
    ("CASK_LOGICAL_AND", "logical_and", "b", True), ("CASK_LOGICAL_OR", "logical_or", "b", True),
    ("CASK_LOGICAL_XOR", "logical_xor", "b", True),
    ("CASK_MINIMUM", "minimum", "biuf", False), ("CASK_MAXIMUM", "maximum", "biuf", False),
    ("CASK_ARCTAN2", "arctan2", "f", False), ("CASK_HYPOT", "hypot", "f", False),
]
UNARY = [
    ("CASK_NEG", "negative", "iuf", False), ("CASK_ABS", "absolute", "biuf", False),
    ("CASK_SQRT", "sqrt", "f", False), ("CASK_EXP", "exp", "f", False),
    ("CASK_LOG", "log", "f", False), ("CASK_LOG2", "log2", "f", False),
    ("CASK_LOG10", "log10", "f", False), ("CASK_LOG1P", "log1p", "f", False),
    ("CASK_EXPM1", "expm1", "f", False), ("CASK_SIN", "sin", "f", False),
    ("CASK_COS", "cos", "f", False), ("CASK_TAN", "tan", "f", False),
    ("CASK_ARCSIN", "arcsin", "f", False), ("CASK_ARCCOS", "arccos", "f", False),
    ("CASK_ARCTAN", "arctan", "f", False), ("CASK_SINH", "sinh", "f", False),
    ("CASK_COSH", "cosh", "f", False), ("CASK_TANH", "tanh", "f", False),
    ("CASK_FLOOR", "floor", "f", False), ("CASK_CEIL", "ceil", "f", False),
    ("CASK_RINT", "rint", "f", False), ("CASK_SIGN", "sign", "iuf", False),
    ("CASK_ISNAN", "isnan", "biuf", True), ("CASK_ISINF", "isinf", "biuf", True),
    ("CASK_ISFINITE", "isfinite", "biuf", True),
    ("CASK_INVERT", "invert", "biu", False), ("CASK_LOGICAL_NOT", "logical_not", "b", True),
]


def values(npt, unary):
    """Edge-case values of one dtype."""
    k = kind(npt)
    if k == "b":
        return np.array([False, True])
    if k in "iu":
        info = np.iinfo(npt)
        cand = [0, 1, -1, 2, -2, 3, -3, 5, -7, 10, 64, info.min, info.min + 1, info.max,
                info.max - 1, info.max // 2, info.max // 2 + 1]
        if unary:
            cand += [-100, 100, 127, -128, 255]
        out = []
        for c in cand:
            if info.min <= c <= info.max and c not in out:
                out.append(c)
        return np.array(out, dtype=npt)
    fi = np.finfo(npt)
    cand = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, -7.0, 0.1, 1e-5, 100.0,
            float(fi.max), float(fi.tiny) / 4, math.inf, -math.inf, math.nan, math.pi,
            -1e30, 7.25,
            # pairs among 0.7, 0.9, 4.6, 1e-5, 100 exercise npy_divmod's
            # snapping of the quotient to the nearest integer
            0.7, 0.9, 4.6]
    if unary:
        cand += [-0.3, 2.0, 10.0, 20.0, -20.0, 88.5, 700.0, 710.0, -745.0, 1e10,
                 -1e-10, 0.999, -0.999, 3.5, -3.5, 4.5, -1.5, 2.0**51 + 0.5 if npt is np.float64
                 else 2.0**22 + 0.5, 1e-300, 5e-324, 1.5e-45]
    return np.array(cand, dtype=npt)


def c_value(x, ctype):
    """A C literal for one value of ctype (exact)."""
    if ctype in ("float", "double"):
        f = float(x)
        suf = "f" if ctype == "float" else ""
        if math.isnan(f):
            return "NAN"
        if math.isinf(f):
            return "INFINITY" if f > 0 else "-INFINITY"
        return f.hex() + suf
    v = int(x)
    if ctype == "int64_t":
        if v == -2**63:
            return "INT64_MIN"
        return "%dLL" % v
    if ctype == "uint64_t":
        return "%dULL" % v
    if ctype == "int32_t" and v == -2**31:
        return "INT32_MIN"
    if ctype == "uint32_t":
        return "%du" % v
    return "%d" % v


def c_array(name, arr, ctype):
    items = [c_value(x, ctype) for x in arr]
    lines = []
    for i in range(0, len(items), 8):
        lines.append("\t" + ", ".join(items[i:i + 8]) + ",")
    body = "\n".join(lines) if items else "\t0"
    return "static const %s %s[] = {\n%s\n};\n" % (ctype, name, body)


def int_power(a, b, npt):
    """NumPy's power where defined; for negative exponents (NumPy raises) the
    cask contract: 1 for base 1, +-1 for base -1, else 0."""
    neg = b < 0
    r = np.power(a, np.where(neg, 0, b).astype(npt))
    for i in np.nonzero(neg)[0]:
        x, y = int(a[i]), int(b[i])
        r[i] = 1 if x == 1 else ((-1 if y % 2 else 1) if x == -1 else 0)
    return r


def main(path):
    out = []
    out.append("/* Generated by tests/ref/gen_elementwise.py from NumPy %s: do not edit. */\n"
               % np.__version__)
    out.append("#ifndef ELEMENTWISE_REF_H\n#define ELEMENTWISE_REF_H\n")
    out.append("#include <math.h>\n#include <stdint.h>\n#include \"cask.h\"\n")
    out.append("#define REF_TOL_ULP %d\n" % TOL_ULP)
    out.append("typedef struct {\n\tcask_op_t op;\n\tcask_dtype_t dt;  /* input dtype */\n"
               "\tcask_dtype_t odt; /* output dtype */\n\tint binary;\n"
               "\tint64_t nv;       /* binary: inputs are nv x nv pairs; unary: nv values */\n"
               "\tconst void *a, *b;\n\tconst void *expect;\n"
               "\tint tol_ulp;      /* 0: bit-exact (any NaN matches any NaN) */\n"
               "} ref_case_t;\n")
    cases = []
    for enum, npt, ctype, sfx in DT:
        k = kind(npt)
        v = values(npt, False)
        nv = len(v)
        a = np.repeat(v, nv)
        b = np.tile(v, nv)
        u = values(npt, True)
        out.append(c_array("ref_%s_a" % sfx, a, ctype))
        out.append(c_array("ref_%s_b" % sfx, b, ctype))
        out.append(c_array("ref_%s_u" % sfx, u, ctype))
        for op, fname, kinds, isbool in BINARY:
            if k not in kinds:
                continue
            if fname == "power" and k in "iu":
                r = int_power(a, b, npt)
            else:
                r = getattr(np, fname)(a, b)
            octype = "uint8_t" if (isbool or k == "b") else ctype
            oenum = "CASK_BOOL" if (isbool or k == "b") else enum
            assert r.dtype == (np.bool_ if oenum == "CASK_BOOL" else npt), (fname, sfx, r.dtype)
            name = "ref_%s_%s" % (fname, sfx)
            out.append(c_array(name, r, octype))
            tol = TOL_ULP if (k == "f" and fname in TRANSCENDENTAL) else 0
            cases.append("\t{%s, %s, %s, 1, %d, ref_%s_a, ref_%s_b, %s, %d},"
                         % (op, enum, oenum, nv, sfx, sfx, name, tol))
        for op, fname, kinds, isbool in UNARY:
            if k not in kinds:
                continue
            r = getattr(np, fname)(u)
            octype = "uint8_t" if (isbool or k == "b") else ctype
            oenum = "CASK_BOOL" if (isbool or k == "b") else enum
            assert r.dtype == (np.bool_ if oenum == "CASK_BOOL" else npt), (fname, sfx, r.dtype)
            name = "ref_%s_%s" % (fname, sfx)
            out.append(c_array(name, r, octype))
            tol = TOL_ULP if (k == "f" and fname in TRANSCENDENTAL) else 0
            cases.append("\t{%s, %s, %s, 0, %d, ref_%s_u, NULL, %s, %d},"
                         % (op, enum, oenum, len(u), sfx, name, tol))
    out.append("static const ref_case_t ref_cases[] = {\n" + "\n".join(cases) + "\n};\n")
    out.append("#define REF_NCASES %d\n" % len(cases))

    # Casts: every source dtype has a value list; for each of the 11
    # destinations the expected output of x.astype(dst).
    cand = [0, 1, -1, 2, 7, -7, 100, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768,
            -32769, 65535, 65536, 2**24 + 1, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32 - 1,
            2**32, 2**53 + 1, 2**63 - 1, -2**63, 2**64 - 1, 2**63]
    fcand = [0.0, -0.0, 0.5, -0.5, 0.999, -0.999, 1.9, -1.9, 127.9, 128.0, -128.5, -128.9,
             -129.0, 255.9, 256.0, 32767.5, -32768.9, 65535.9, 65536.0, 16777217.0,
             2147483647.0, 2147483647.9, 2147483648.0, -2147483648.0, -2147483648.9,
             -2147483649.0, 4294967295.0, 4294967296.0, 9007199254740993.0, 2.0**63,
             -2.0**63, 2.0**64, -2.0**64, 1e30, 3.4028234663852886e38, 1e300, 1e-40, 5e-324,
             math.nan, math.inf, -math.inf, math.pi, -7.5]
    casts = []
    for senum, snpt, sctype, ssfx in DT:
        sk = kind(snpt)
        if sk == "b":
            src = np.array([False, True, False])
        elif sk in "iu":
            info = np.iinfo(snpt)
            src = np.array([c for c in cand if info.min <= c <= info.max], dtype=snpt)
        else:
            src = np.array(fcand, dtype=snpt)
        out.append(c_array("cast_src_%s" % ssfx, src, sctype))
        for denum, dnpt, dctype, dsfx in DT:
            dk = kind(dnpt)
            r = src.astype(dnpt)
            if sk == "f" and dk in "iu":
                # Outside the range NumPy's result is unspecified: cask's
                # contract is what NumPy gives on x86-64 for one element
                # (NaN to int32 is INT32_MIN, 300.0 to uint8 44).
                assert platform.machine() == "x86_64", platform.machine()
                r = np.array([src[i:i + 1].astype(dnpt)[0] for i in range(len(src))],
                             dtype=dnpt)
            name = "cast_%s_%s" % (ssfx, dsfx)
            out.append(c_array(name, r, dctype))
            casts.append("\t{%s, %s, %d, cast_src_%s, %s}," % (senum, denum, len(src), ssfx,
                                                              name))
    out.append("typedef struct {\n\tcask_dtype_t st, dt;\n\tint64_t n;\n\tconst void *src;\n"
               "\tconst void *expect;\n} ref_cast_t;\n")
    out.append("static const ref_cast_t ref_casts[] = {\n" + "\n".join(casts) + "\n};\n")
    out.append("#define REF_NCASTS %d\n" % len(casts))
    out.append("#endif /* ELEMENTWISE_REF_H */\n")
    with open(path, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/ref/elementwise_ref.h")
