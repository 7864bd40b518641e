#!/usr/bin/python3
"""Write tests/ref/ndimage_ref.h: scipy.ndimage (1.10) reference values for
tests/test_ndimage.c.  Run with /usr/bin/python3 (numpy 1.24, scipy 1.10):

    /usr/bin/python3 tests/ref/gen_ndimage.py > tests/ref/ndimage_ref.h

Each case is a filter with its parameters on an input array of one dtype and
one boundary mode; the reference is scipy.ndimage's result on the WHOLE array
with the default output dtype (the input dtype).
"""
import sys
import numpy as np
import scipy.ndimage as ndi
from scipy.ndimage._filters import _gaussian_kernel1d

MODES = ['reflect', 'mirror', 'nearest', 'constant', 'wrap']
CMODE = {m: 'CASK_K_PAD_' + m.upper() for m in MODES}
DTYPES = {'f8': (np.float64, 'CASK_FLOAT64'), 'f4': (np.float32, 'CASK_FLOAT32'),
          'u8': (np.uint8, 'CASK_UINT8'), 'u16': (np.uint16, 'CASK_UINT16'),
          'i16': (np.int16, 'CASK_INT16')}
SHAPES = {1: (13,), 2: (7, 9), 3: (5, 6, 4)}
CVAL = {'f8': 2.5, 'f4': -1.25, 'u8': 7.5, 'u16': 300.0, 'i16': -3.0}

rng = np.random.default_rng(20261124)


def make_input(dt, shape):
    if dt in ('f8', 'f4'):
        return (rng.standard_normal(shape) * 10).astype(DTYPES[dt][0])
    info = np.iinfo(DTYPES[dt][0])
    return rng.integers(info.min, int(info.max) + 1, size=shape).astype(DTYPES[dt][0])


INPUTS = {(dt, nd): make_input(dt, SHAPES[nd]) for dt in DTYPES for nd in SHAPES}
W_ND = rng.standard_normal((3, 2, 4))
W_ND[0, 1, 2] = 0.0            # dropped by NI_Correlate (|w| <= eps)
W_1D4 = np.array([0.5, -1.25, 2.0, 0.75])
W_1D5 = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0


def tup(v, nd):
    return tuple(v[:nd]) if isinstance(v, (list, tuple)) else v


# name, kind, scipy call (x, nd, mode, cval) -> result, C fields (nd) -> dict
FILTERS = [
    ('gauss_1.3', 'GAUSSIAN',
     lambda x, nd, m, c: ndi.gaussian_filter(x, 1.3, mode=m, cval=c),
     lambda nd: dict(sigma=[1.3] * nd)),
    ('gauss_axes_order', 'GAUSSIAN',
     lambda x, nd, m, c: ndi.gaussian_filter(x, tup([0.8, 2.1, 0.0], nd), order=tup([1, 2, 1], nd),
                                             mode=m, cval=c, truncate=3.0),
     lambda nd: dict(sigma=[0.8, 2.1, 0.0][:nd], order=[1, 2, 1][:nd], truncate=3.0)),
    ('gauss_wide_o2', 'GAUSSIAN',
     lambda x, nd, m, c: ndi.gaussian_filter(x, 2.5, order=tuple([0, 0, 2][-nd:]),
                                             mode=m, cval=c),
     lambda nd: dict(sigma=[2.5] * nd, order=([0, 0, 2][-nd:] if nd > 1 else [2]))),
    ('uniform_3', 'UNIFORM',
     lambda x, nd, m, c: ndi.uniform_filter(x, 3, mode=m, cval=c),
     lambda nd: dict(size=[3] * nd)),
    ('uniform_even', 'UNIFORM',
     lambda x, nd, m, c: ndi.uniform_filter(x, tup([4, 2, 5], nd), mode=m, cval=c),
     lambda nd: dict(size=[4, 2, 5][:nd])),
    ('minimum', 'MINIMUM',
     lambda x, nd, m, c: ndi.minimum_filter(x, tup([3, 2, 4], nd), mode=m, cval=c),
     lambda nd: dict(size=[3, 2, 4][:nd])),
    ('maximum', 'MAXIMUM',
     lambda x, nd, m, c: ndi.maximum_filter(x, 3, mode=m, cval=c),
     lambda nd: dict(size=[3] * nd)),
    ('median_3', 'MEDIAN',
     lambda x, nd, m, c: ndi.median_filter(x, 3, mode=m, cval=c),
     lambda nd: dict(size=[3] * nd)),
    ('median_even', 'MEDIAN',
     lambda x, nd, m, c: ndi.median_filter(x, tup([2, 3, 2], nd), mode=m, cval=c),
     lambda nd: dict(size=[2, 3, 2][:nd])),
    ('sobel_0', 'SOBEL',
     lambda x, nd, m, c: ndi.sobel(x, 0, mode=m, cval=c),
     lambda nd: dict(axis=0)),
    ('sobel_last', 'SOBEL',
     lambda x, nd, m, c: ndi.sobel(x, -1, mode=m, cval=c),
     lambda nd: dict(axis=nd - 1)),
    ('prewitt_0', 'PREWITT',
     lambda x, nd, m, c: ndi.prewitt(x, 0, mode=m, cval=c),
     lambda nd: dict(axis=0)),
    ('laplace', 'LAPLACE',
     lambda x, nd, m, c: ndi.laplace(x, mode=m, cval=c),
     lambda nd: dict()),
    ('ggm', 'GAUSSIAN_GRADIENT_MAGNITUDE',
     lambda x, nd, m, c: ndi.gaussian_gradient_magnitude(x, 1.1, mode=m, cval=c),
     lambda nd: dict(sigma=[1.1] * nd)),
    ('glaplace', 'GAUSSIAN_LAPLACE',
     lambda x, nd, m, c: ndi.gaussian_laplace(x, tup([1.0, 1.5, 0.7], nd), mode=m, cval=c),
     lambda nd: dict(sigma=[1.0, 1.5, 0.7][:nd])),
    ('correlate', 'CORRELATE',
     lambda x, nd, m, c: ndi.correlate(x, W_ND[tuple(slice(None) for _ in range(nd)) + (0,) * (3 - nd)],
                                       mode=m, cval=c),
     lambda nd: dict(weights='nd', wshape=list(W_ND.shape[:nd]))),
    ('convolve', 'CONVOLVE',
     lambda x, nd, m, c: ndi.convolve(x, W_ND[tuple(slice(None) for _ in range(nd)) + (0,) * (3 - nd)],
                                      mode=m, cval=c),
     lambda nd: dict(weights='nd', wshape=list(W_ND.shape[:nd]))),
    ('correlate_origin', 'CORRELATE',
     lambda x, nd, m, c: ndi.correlate(x, W_ND[tuple(slice(None) for _ in range(nd)) + (0,) * (3 - nd)],
                                       mode=m, cval=c, origin=tup([-1, 0, 1], nd)),
     lambda nd: dict(weights='nd', wshape=list(W_ND.shape[:nd]), origin=[-1, 0, 1][:nd])),
    ('correlate1d_4', 'CORRELATE1D',
     lambda x, nd, m, c: ndi.correlate1d(x, W_1D4, 0, mode=m, cval=c),
     lambda nd: dict(axis=0, weights='w4', wshape=[4])),
    ('convolve1d_4', 'CONVOLVE1D',
     lambda x, nd, m, c: ndi.convolve1d(x, W_1D4, -1, mode=m, cval=c),
     lambda nd: dict(axis=nd - 1, weights='w4', wshape=[4])),
    ('convolve1d_5', 'CONVOLVE1D',
     lambda x, nd, m, c: ndi.convolve1d(x, W_1D5, 0, mode=m, cval=c, origin=1),
     lambda nd: dict(axis=0, weights='w5', wshape=[5], origin=[1, 0, 0][:nd])),
]


def cnum(v):
    if isinstance(v, (np.floating, float)):
        if np.isnan(v):
            return 'NAN'
        if np.isinf(v):
            return 'INFINITY' if v > 0 else '-INFINITY'
        return repr(float(v))
    return str(int(v))


def carr(name, vals, ctype='double'):
    vals = list(vals)
    body = ',\n'.join(', '.join(cnum(v) for v in vals[i:i + 8]) for i in range(0, len(vals), 8))
    return 'static const %s %s[%d] = {\n%s\n};\n' % (ctype, name, max(len(vals), 1), body or '0')


def ilist(vals, nd=3, fill=0):
    v = list(vals) + [fill] * (nd - len(vals))
    return '{' + ', '.join(cnum(x) for x in v) + '}'


def main():
    out = []
    out.append('/* Generated by tests/ref/gen_ndimage.py with scipy %s, numpy %s: do not edit. */\n'
               % (__import__('scipy').__version__, np.__version__))
    # Boundary index maps, read back from scipy by correlating arange(n)
    # with a delta: output[0] with the delta at k is extension[k - R].
    out.append('#define NDREF_PAD_LO (-12)\n#define NDREF_PAD_SPAN 30\n')
    rows = []
    for mi, m in enumerate(MODES):
        if m == 'constant':
            continue
        for n in range(1, 6):
            R = 20
            x = np.arange(n, dtype=np.float64)
            vals = []
            for i in range(-12, -12 + 30):
                w = np.zeros(2 * R + 1)
                w[i + R] = 1.0
                vals.append(int(ndi.correlate1d(x, w, mode=m)[0]))
            rows.append('{%s, %d, %s}' % (CMODE[m], n, ilist(vals, 30)))
    out.append('static const struct { cask_k_pad_mode_t mode; int64_t n; int64_t src[30]; } '
               'ndref_pad[] = {\n' + ',\n'.join(rows) + '\n};\n')
    # Gaussian weights.
    rows = []
    for si, s in enumerate([0.5, 0.7, 1.3, 2.0, 3.1, 5.3, 7.7]):
        for o in range(3):
            r = int(4.0 * s + 0.5)
            w = _gaussian_kernel1d(s, o, r)[::-1]
            name = 'ndref_gw_%d_%d' % (si, o)
            out.append(carr(name, w))
            rows.append('{%r, %d, %d, %s}' % (s, o, r, name))
    svml = int(bool(np.core._multiarray_umath.__cpu_features__.get('AVX512_SKX')))
    out.append("/* 1: NumPy took its AVX-512 (SVML) exp for these weights, 0: libm's. */\n"
               'static const int ndref_gw_svml = %d;\n' % svml)
    out.append('static const struct { double sigma; int order; int64_t radius; const double *w; } '
               'ndref_gw[] = {\n' + ',\n'.join(rows) + '\n};\n')
    # Inputs and weights.
    for (dt, nd), x in INPUTS.items():
        out.append(carr('ndref_in_%s_%d' % (dt, nd), x.ravel()))
    for nd in SHAPES:
        out.append(carr('ndref_w_nd%d' % nd, W_ND[tuple(slice(None) for _ in range(nd)) + (0,) * (3 - nd)].ravel()))
    out.append(carr('ndref_w_w4', W_1D4))
    out.append(carr('ndref_w_w5', W_1D5))
    # Cases.
    cases = []
    ci = 0
    for dt in DTYPES:
        for nd in SHAPES:
            x = INPUTS[(dt, nd)]
            modes = MODES
            for fname, kind, call, fields in FILTERS:
                for m in modes:
                    c = CVAL[dt]
                    ref = call(x, nd, m, c)
                    assert ref.dtype == x.dtype
                    rname = 'ndref_out_%d' % ci
                    out.append(carr(rname, ref.ravel().astype(np.float64)))
                    fd = fields(nd)
                    w = fd.get('weights')
                    w = w + str(nd) if w == 'nd' else w
                    cases.append(
                        '{"%s %s %dd %s", CASK_K_ND_%s, %s, %d, %s, %s, %s, %s, %s, %s, %s, %s, %d, %s, %s, %s, %s, {0, 0, 0}}' % (
                            fname, dt, nd, m, kind, DTYPES[dt][1], nd, ilist(SHAPES[nd]), CMODE[m],
                            cnum(float(c)), ilist(fd.get('sigma', []), fill=0.0),
                            ilist(fd.get('order', [])), cnum(float(fd.get('truncate', 4.0))),
                            ilist(fd.get('size', [])), ilist(fd.get('origin', [])),
                            fd.get('axis', 0), ('ndref_w_' + w) if w else 'NULL',
                            ilist(fd.get('wshape', [])), 'ndref_in_%s_%d' % (dt, nd), rname))
                    ci += 1
    # Mixed per-axis modes for the separable filters (2-d and 3-d, f8 and u8).
    for dt in ('f8', 'u8'):
        for nd in (2, 3):
            x = INPUTS[(dt, nd)]
            mm = ['constant', 'reflect', 'wrap'][:nd]
            c = CVAL[dt]
            for fname, kind, call in [
                    ('gauss_mixed', 'GAUSSIAN', lambda: ndi.gaussian_filter(x, 1.7, mode=mm, cval=c)),
                    ('uniform_mixed', 'UNIFORM', lambda: ndi.uniform_filter(x, 4, mode=mm, cval=c)),
                    ('maximum_mixed', 'MAXIMUM', lambda: ndi.maximum_filter(x, 3, mode=mm, cval=c)),
                    ('sobel_mixed', 'SOBEL', lambda: ndi.sobel(x, 1, mode=mm, cval=c)),
                    ('laplace_mixed', 'LAPLACE', lambda: ndi.laplace(x, mode=mm, cval=c))]:
                ref = call()
                rname = 'ndref_out_%d' % ci
                out.append(carr(rname, ref.ravel().astype(np.float64)))
                size = [4] * nd if kind == 'UNIFORM' else ([3] * nd if kind == 'MAXIMUM' else [])
                cases.append(
                    '{"%s %s %dd", CASK_K_ND_%s, %s, %d, %s, %s, %s, %s, %s, 4.0, %s, {0, 0, 0}, %d, NULL, '
                    '{0, 0, 0}, %s, %s, {%s}}' % (
                        fname, dt, nd, kind, DTYPES[dt][1], nd, ilist(SHAPES[nd]), 'CASK_K_PAD_REFLECT',
                        cnum(float(c)), ilist([1.7] * nd if kind == 'GAUSSIAN' else [], fill=0.0),
                        ilist([]), ilist(size), 1, 'ndref_in_%s_%d' % (dt, nd), rname,
                        ', '.join(CMODE[v] for v in mm)))
                ci += 1
    out.append('static const ndref_case_t ndref_cases[] = {\n' + ',\n'.join(cases) + '\n};\n')
    sys.stdout.write(''.join(out))


if __name__ == '__main__':
    main()
