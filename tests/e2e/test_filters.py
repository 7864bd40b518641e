"""End-to-end tests of the image filters (issue 5): `cask filter`, the filter
functions of `cask eval` expressions and `cask export`, run on HDF5 files
written with h5py and compared with scipy.ndimage on the whole array (float64
within 1e-12 * max|ref|, float32 within 1e-5 * max|ref|, integers exactly)
and, for PNG files, with Pillow's decoder and NumPy's min-max scaling.

Run with: CASK=build/src/cli/cask /usr/bin/python3 tests/e2e/run.py tests/e2e/test_filters.py
"""
import os
import subprocess

import h5py
import numpy as np
import scipy.ndimage as ndi
from PIL import Image

CASK = os.environ.get('CASK', 'cask')
RNG = np.random.default_rng(20261125)


def run(*args, timeout=300):
    env = dict(os.environ)
    env.pop('CASK_MEMORY', None)
    p = subprocess.run([CASK] + [str(a) for a in args], capture_output=True, text=True,
                       env=env, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def write(path, name, a, chunks=None):
    with h5py.File(path, 'a') as f:
        if name in f:
            del f[name]
        f.create_dataset(name, data=a, chunks=chunks)


def read(path, dset):
    with h5py.File(path, 'r') as f:
        return f[dset][()]


def close(got, ref, what):
    assert got.dtype == ref.dtype, '%s: dtype %s, scipy %s' % (what, got.dtype, ref.dtype)
    assert got.shape == ref.shape, '%s: shape %s, scipy %s' % (what, got.shape, ref.shape)
    if ref.dtype.kind == 'f':
        tol = (1e-12 if ref.dtype == np.float64 else 1e-5) * max(np.abs(ref).max(), 1e-300)
        err = np.abs(got.astype('f8') - ref.astype('f8')).max() if ref.size else 0
        assert err <= tol, '%s: max abs error %g > %g' % (what, err, tol)
    else:
        bad = np.argwhere(got != ref)
        assert bad.size == 0, '%s: %d cells differ, first at %s: %s vs %s' % (
            what, len(bad), bad[0], got[tuple(bad[0])], ref[tuple(bad[0])])


def image(shape, dtype):
    dt = np.dtype(dtype)
    if dt.kind == 'f':
        return (RNG.standard_normal(shape) * 10).astype(dt)
    info = np.iinfo(dt)
    return RNG.integers(info.min, int(info.max) + 1, size=shape, dtype=dt)


# (command-line name, options, scipy function, scipy keywords)
CMD_CASES = [
    ('gaussian', ['--sigma', '3'], ndi.gaussian_filter, dict(sigma=3)),
    ('gaussian', ['--sigma', '1,2.5', '--mode', 'wrap'], ndi.gaussian_filter,
     dict(sigma=(1, 2.5), mode='wrap')),
    ('gaussian', ['--sigma', '2', '--order', '0,1', '--mode', 'mirror'], ndi.gaussian_filter,
     dict(sigma=2, order=(0, 1), mode='mirror')),
    ('gaussian', ['--sigma', '1.5', '--truncate', '2', '--mode', 'constant', '--cval', '-1.5'],
     ndi.gaussian_filter, dict(sigma=1.5, truncate=2, mode='constant', cval=-1.5)),
    ('uniform', ['--size', '5'], ndi.uniform_filter, dict(size=5)),
    ('uniform', [], ndi.uniform_filter, dict()),
    ('median', ['--size', '3', '--mode', 'nearest'], ndi.median_filter,
     dict(size=3, mode='nearest')),
    ('minimum', ['--size', '4,2', '--mode', 'wrap'], ndi.minimum_filter,
     dict(size=(4, 2), mode='wrap')),
    ('maximum_filter', ['--size', '3'], ndi.maximum_filter, dict(size=3)),
    ('sobel', ['--axis', '0'], ndi.sobel, dict(axis=0)),
    ('prewitt', ['--mode', 'constant', '--cval', '2'], ndi.prewitt,
     dict(mode='constant', cval=2)),
    ('laplace', ['--mode', 'mirror'], ndi.laplace, dict(mode='mirror')),
    ('gaussian_gradient_magnitude', ['--sigma', '2'], ndi.gaussian_gradient_magnitude,
     dict(sigma=2)),
    ('gaussian_laplace', ['--sigma', '1.5', '--mode', 'nearest'], ndi.gaussian_laplace,
     dict(sigma=1.5, mode='nearest')),
]


def test_filter_command_every_filter(tmp):
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    # 50 x 37 in 16 x 10 chunks: ragged edges, chunks smaller than some halos
    for dt in ('f4', 'u2'):
        x = image((50, 37), dt)
        write(inp, 'x', x, chunks=(16, 10))
        for i, (name, opts, fn, kw) in enumerate(CMD_CASES):
            ds = '/%s_%s_%d' % (dt, name, i)
            rc, so, se = run('filter', name, inp + ':/x', '-o', out + ':' + ds, *opts)
            assert rc == 0, (name, opts, se)
            assert 'wrote' in se
            close(read(out, ds), fn(x, **kw), '%s %s %s' % (dt, name, opts))


def test_filter_command_volume_and_dtypes(tmp):
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    for dt in ('u1', 'i2', 'f8'):
        v = image((21, 18, 13), dt)
        write(inp, 'v', v, chunks=(8, 8, 8))
        rc, _, se = run('filter', 'median', inp + ':/v', '-o', out + ':/m' + dt, '--size', '3',
                        '--chunks', '5,7,13', '--compress', 'gzip=1')
        assert rc == 0, se
        close(read(out, '/m' + dt), ndi.median_filter(v, size=3), 'median 3x3x3 ' + dt)
        with h5py.File(out, 'r') as f:
            assert f['/m' + dt].chunks == (5, 7, 13)
        rc, _, se = run('filter', 'gaussian', inp + ':/v', '-o', out + ':/g' + dt,
                        '--sigma', '1,2,2', '--memory', '8M')
        assert rc == 0, se
        close(read(out, '/g' + dt), ndi.gaussian_filter(v, (1, 2, 2)), 'gaussian 3-d ' + dt)


def test_filter_command_errors(tmp):
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    write(inp, 'x', image((20, 20), 'f4'))
    write(inp, 'b', np.zeros((4, 4), bool))
    cases = [
        (['blur', inp + ':/x', '-o', out + ':/y'], 'unknown filter'),
        (['gaussian', inp + ':/x', '-o', out + ':/y'], 'sigma'),
        (['gaussian', inp + ':/x', '-o', out + ':/y', '--sigma', '1', '--mode', 'edge'],
         'unknown mode'),
        (['median', inp + ':/x', '-o', out + ':/y'], 'size'),
        (['sobel', inp + ':/x', '-o', out + ':/y', '--axis', '2'], 'axis'),
        (['gaussian', inp + ':/x', '--sigma', '1'], '-o'),
        (['gaussian_gradient_magnitude', inp + ':/b', '-o', out + ':/y', '--sigma', '1'], 'bool'),
        (['median', inp + ':/x', '-o', out + ':/y', '--size', '0'], 'size'),
        # options the filter does not take were ignored (a gaussian over every
        # axis for --axis 0); scipy raises TypeError for such keywords
        (['gaussian', inp + ':/x', '-o', out + ':/y', '--sigma', '2', '--axis', '0'], '--axis'),
        (['median', inp + ':/x', '-o', out + ':/y', '--size', '3', '--sigma', '2'], '--sigma'),
        (['sobel', inp + ':/x', '-o', out + ':/y', '--size', '3'], '--size'),
        (['uniform', inp + ':/x', '-o', out + ':/y', '--truncate', '2'], '--truncate'),
        (['gaussian_laplace', inp + ':/x', '-o', out + ':/y', '--sigma', '1', '--order', '1'],
         '--order'),
        (['gaussian', inp + ':/x', '-o', out + ':/y', '--sigma', '1', '--cval', 'abc'], 'cval'),
    ]
    for args, word in cases:
        rc, _, se = run('filter', *args)
        assert rc == 2, (args, rc, se)
        assert word in se, (args, se)
    assert not os.path.exists(out)
    rc, _, se = run('filter', 'laplace', inp + ':/x', '-o', out + ':/y')
    assert rc == 0, se
    rc, _, se = run('filter', 'laplace', inp + ':/x', '-o', out + ':/y')
    assert rc == 1 and 'overwrite' in se, se
    rc, _, se = run('filter', 'laplace', inp + ':/missing', '-o', out + ':/z')
    assert rc == 1, se
    # --cval takes NaN and infinities, as scipy's cval does
    x = read(inp, '/x')
    for cval in ('nan', '-inf'):
        rc, _, se = run('filter', 'gaussian', inp + ':/x', '-o', out + ':/c' + cval, '--sigma',
                        '1', '--mode', 'constant', '--cval', cval)
        assert rc == 0, se
        ref = ndi.gaussian_filter(x, 1, mode='constant', cval=float(cval))
        got = read(out, '/c' + cval)
        assert np.array_equal(np.isfinite(got), np.isfinite(ref)), cval
        ok = np.isfinite(ref)
        assert np.array_equal(got[~ok], ref[~ok], equal_nan=True), cval
        close(got[ok], ref[ok], 'cval ' + cval)


# the names the expressions use, bound to scipy for the reference
NS = dict(gaussian=ndi.gaussian_filter, gaussian_filter=ndi.gaussian_filter,
          uniform=ndi.uniform_filter, uniform_filter=ndi.uniform_filter,
          median=ndi.median_filter, median_filter=ndi.median_filter,
          minimum_filter=ndi.minimum_filter, maximum_filter=ndi.maximum_filter,
          sobel=ndi.sobel, prewitt=ndi.prewitt, laplace=ndi.laplace,
          gaussian_gradient_magnitude=ndi.gaussian_gradient_magnitude,
          gaussian_laplace=ndi.gaussian_laplace, correlate=ndi.correlate,
          convolve=ndi.convolve, hypot=np.hypot, sqrt=np.sqrt, abs=np.abs, maximum=np.maximum)

EXPRS_2D = [
    'gaussian(x, sigma=3)',
    'gaussian(x, 2, mode="wrap")',
    'gaussian(x, sigma=(1, 2), order=(1, 0), mode="nearest")',
    'uniform(x, size=5)',
    'uniform_filter(x, size=(3, 4), mode="constant", cval=1.5)',
    'median(x, size=3)',
    'median_filter(x, size=(5, 2), mode="mirror")',
    'minimum_filter(x, size=3, mode="wrap")',
    'maximum_filter(x, size=(2, 3))',
    'sobel(x, axis=0)',
    'sobel(x)',
    'prewitt(x, axis=1, mode="constant", cval=2)',
    'laplace(x, mode="nearest")',
    'gaussian_gradient_magnitude(x, sigma=2)',
    'gaussian_laplace(x, sigma=1.5, mode="mirror")',
    'correlate(x, [[1, 2], [3, 4], [0.5, -1]])',
    'convolve(x, w, mode="wrap")',
    'hypot(sobel(gaussian(x, 2), axis=0), sobel(gaussian(x, 2), axis=1)) > 0.1',
    'sqrt(abs(laplace(uniform(x, size=3)))) + gaussian(x * 2, sigma=1)',
    'gaussian(x, sigma=3)[5:40:3, ::-2]',
]


def test_eval_filter_functions(tmp):
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    for dt in ('f8', 'f4', 'i2'):
        x = image((47, 39), dt)
        if dt == 'f8':
            x = x / 10  # so the pipeline's > 0.1 cuts through the data
        w = RNG.standard_normal((3, 3))
        write(inp, 'x', x, chunks=(10, 12))
        write(inp, 'w', w)
        for i, e in enumerate(EXPRS_2D):
            ds = '/e%s_%d' % (dt, i)
            rc, so, se = run('eval', '-i', 'x=%s:/x' % inp, '-i', 'w=%s:/w' % inp, e,
                             '-o', out + ':' + ds)
            assert rc == 0, (e, se)
            ref = eval(e.replace('[[', 'np.array([[').replace(']]', ']])'),
                       dict(NS, np=np), dict(x=x, w=w))
            close(read(out, ds), np.asarray(ref), '%s %s' % (dt, e))


def test_eval_filter_volume(tmp):
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    v = image((17, 23, 19), 'f4')
    write(inp, 'v', v, chunks=(6, 6, 6))
    for i, e in enumerate(['gaussian(v, sigma=(1, 2, 2))', 'median(v, size=3)',
                           'sobel(v, axis=2, mode="reflect")',
                           'gaussian_gradient_magnitude(v, sigma=1)']):
        rc, _, se = run('eval', '-i', 'v=%s:/v' % inp, e, '-o', '%s:/r%d' % (out, i))
        assert rc == 0, (e, se)
        close(read(out, '/r%d' % i), eval(e, dict(NS), dict(v=v)), e)
    # small results print; errors point at the argument
    rc, so, se = run('eval', '-i', 'v=%s:/v' % inp, 'gaussian(v, sigma=1)[0, 0, :3]')
    assert rc == 0, se
    got = np.array([float(t) for t in so.split()], dtype='f4')
    close(got, ndi.gaussian_filter(v, 1)[0, 0, :3], 'printed')
    for e, word in [('gaussian(v)', 'sigma'), ('sobel(v, axis=5)', 'axis'),
                    ('median(v, size=3, mode="bogus")', 'mode'),
                    ('gaussian(v, sigma=1, output=v)', 'output'),
                    ('uniform(v, size=(1, 2))', 'size')]:
        rc, _, se = run('eval', '-i', 'v=%s:/v' % inp, e)
        assert rc == 2, (e, rc, se)
        assert word in se, (e, se)


def test_eval_ggm_wide_integers(tmp):
    """gaussian_gradient_magnitude on 32/64-bit integers squares with NumPy's
    wrapping *= in the dtype: a uint32 square reaches 2^64, so it must be
    formed in integers (in double its low bits were lost before the wrap)."""
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    cases = [('u4', image((11, 13), 'u4')), ('i4', image((11, 13), 'i4')),
             ('i8', RNG.integers(-2**40, 2**40, size=(11, 13)))]
    for dt, x in cases:
        write(inp, dt, x, chunks=(3, 5))
        for mode in ('reflect', 'wrap'):
            ds = '/%s_%s' % (dt, mode)
            rc, _, se = run('eval', '-i', 'x=%s:/%s' % (inp, dt),
                            'gaussian_gradient_magnitude(x, sigma=1.0, mode="%s")' % mode,
                            '-o', out + ':' + ds)
            assert rc == 0, se
            close(read(out, ds), ndi.gaussian_gradient_magnitude(x, 1.0, mode=mode),
                  'ggm %s %s' % (dt, mode))


def test_gaussian_integer_truncation_as_scipy(tmp):
    """Integer gaussians truncate sums that land next to an integer, so the
    weights must be scipy's to the last bit: NumPy's exp (SVML's on AVX-512
    CPUs) differs from glibc's for a quarter of arguments, and a flat uint8
    image of 7 came out 5 where scipy keeps 7.  Float64 results are then
    bit-equal too."""
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    for dt in ('u1', 'i2', 'i4', 'f8'):
        for shape in ((9,), (12, 11), (5, 6, 7)):
            for kind in ('flat', 'ramp'):
                x = np.full(shape, 7, dtype=dt) if kind == 'flat' else \
                    (np.arange(np.prod(shape)).reshape(shape) % 50).astype(dt)
                write(inp, 'x', x, chunks=tuple(max(1, e // 2) for e in shape))
                for sigma in (0.5, 0.7, 1.5, 2.3):
                    rc, _, se = run('eval', '-i', 'x=%s:/x' % inp, 'gaussian(x, %r)' % sigma,
                                    '-o', out + ':/g', '--overwrite')
                    assert rc == 0, se
                    got, ref = read(out, '/g'), ndi.gaussian_filter(x, sigma)
                    assert got.dtype == ref.dtype and np.array_equal(got, ref), \
                        '%s %s %s sigma %g: %d cells differ' % (dt, shape, kind, sigma,
                                                                 np.sum(got != ref))


def test_filter_narrow_integers_small_budget(tmp):
    """Filters work in float64: the blocks of a uint8 / int16 input's own
    grid (sized in its bytes) needed 4-5x the budget (a contiguous uint8
    image at 16M was refused); the filter cuts its blocks to float64 size."""
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    x8 = image((1500, 1400), 'u1')
    x16 = image((900, 1000), 'i2')
    write(inp, 'u8', x8)
    write(inp, 'i16', x16, chunks=(900, 1000))
    for name, x in (('u8', x8), ('i16', x16)):
        for filt, args, ref in (('gaussian', ['--sigma', '2'], lambda a: ndi.gaussian_filter(a, 2)),
                                ('median', ['--size', '3'], lambda a: ndi.median_filter(a, 3)),
                                ('sobel', ['--axis', '0'], lambda a: ndi.sobel(a, 0))):
            rc, _, se = run('filter', filt, '%s:/%s' % (inp, name), '-o', out + ':/y',
                            '--overwrite', '--memory', '16M', *args)
            assert rc == 0, (name, filt, se)
            close(read(out, '/y'), ref(x), '%s %s' % (filt, name))


def scaled(x, bits):
    x = x.astype('f8')
    finite = x[~np.isnan(x)]
    lo, hi = finite.min(), finite.max()
    m = 65535.0 if bits == 16 else 255.0
    # (x - lo) * m / (hi - lo), exact for integer images: ties round up
    v = np.floor((x - lo) * m / (hi - lo) + 0.5) if hi > lo else np.zeros_like(x)
    v[np.isnan(x)] = 0
    return np.clip(v, 0, m).astype('u2' if bits == 16 else 'u1')


def test_export_png(tmp):
    h5 = os.path.join(tmp, 'img.h5')
    g = (RNG.standard_normal((70, 55)) * 3 + 1).astype('f4')
    g[3, 4] = np.nan
    write(h5, 'g', g, chunks=(16, 16))
    rgb = RNG.integers(0, 256, (33, 41, 3), dtype='u1')
    write(h5, 'rgb', rgb)
    rgba = RNG.integers(0, 60000, (20, 9, 4), dtype='u2')
    write(h5, 'rgba', rgba)
    write(h5, 'c', np.full((5, 6), 7, 'i4'))
    write(h5, 'v', np.zeros(10))
    for bits in (8, 16):
        png = os.path.join(tmp, 'g%d.png' % bits)
        rc, _, se = run('export', h5 + ':/g', png, '--bits', bits)
        assert rc == 0, se
        im = Image.open(png)
        a = np.array(im)
        assert a.shape == g.shape, (a.shape, im.mode)
        assert np.array_equal(a.astype('u2'), scaled(g, bits).astype('u2')), bits
    png = os.path.join(tmp, 'rgb.png')
    rc, _, se = run('export', h5 + ':/rgb', png)
    assert rc == 0, se
    im = Image.open(png)
    assert im.mode == 'RGB'
    assert np.array_equal(np.array(im), scaled(rgb, 8))
    png = os.path.join(tmp, 'rgba.png')
    rc, _, se = run('export', h5 + ':/rgba', png)
    assert rc == 0, se
    im = Image.open(png)
    assert im.mode == 'RGBA'
    assert np.array_equal(np.array(im), scaled(rgba, 8))
    png = os.path.join(tmp, 'c.png')
    rc, _, se = run('export', h5 + ':/c', png)
    assert rc == 0, se
    assert np.array(Image.open(png)).max() == 0
    # a filter result exported: the pipeline the README shows
    rc, _, se = run('filter', 'gaussian', h5 + ':/rgb', '-o', h5 + ':/blur', '--sigma', '2,2,0')
    assert rc == 0, se
    rc, _, se = run('export', h5 + ':/blur', os.path.join(tmp, 'blur.png'))
    assert rc == 0, se
    assert np.array_equal(np.array(Image.open(os.path.join(tmp, 'blur.png'))),
                          scaled(ndi.gaussian_filter(rgb, (2, 2, 0)), 8))
    # errors
    rc, _, se = run('export', h5 + ':/v', os.path.join(tmp, 'v.png'))
    assert rc == 2 and 'shape' in se, se
    rc, _, se = run('export', h5 + ':/g', os.path.join(tmp, 'x.png'), '--bits', '12')
    assert rc == 2, se
    rc, _, se = run('export', h5 + ':/g', os.path.join(tmp, 'no', 'such', 'dir.png'))
    assert rc == 1, se
    assert not os.path.exists(os.path.join(tmp, 'v.png'))
    # An existing PNG is replaced only with --overwrite, through a temporary
    # name (nothing left beside it).
    png = os.path.join(tmp, 'c.png')
    before = open(png, 'rb').read()
    rc, _, se = run('export', h5 + ':/rgb', png)
    assert rc == 1 and '--overwrite' in se, se
    assert open(png, 'rb').read() == before
    rc, _, se = run('export', h5 + ':/rgb', png, '--overwrite')
    assert rc == 0, se
    assert np.array_equal(np.array(Image.open(png)), scaled(rgb, 8))
    assert not [n for n in os.listdir(tmp) if 'cask-tmp' in n]
    # A tie rounds up, whatever the order of the operations: (147 - 82) /
    # (160 - 82) * 255 is 212.5 (once 212: (x - lo) * (1 / (hi - lo)) * 255
    # falls below it); a range wider than DBL_MAX (once all black).
    write(h5, 'tie', np.array([[82, 147, 160]], 'u1'))
    write(h5, 'wide', np.array([[-1e308, 0.0, 1e308, 5e307]]))
    for name, want in (('tie', [0, 213, 255]), ('wide', [0, 128, 255, 191])):
        png = os.path.join(tmp, name + '.png')
        rc, _, se = run('export', h5 + ':/' + name, png)
        assert rc == 0, se
        assert np.array(Image.open(png)).ravel().tolist() == want, name
    # Infinities: the range is the finite values', +inf white, -inf black.
    write(h5, 'inf', np.array([[0.0, 1.0], [np.inf, -np.inf]]))
    rc, _, se = run('export', h5 + ':/inf', os.path.join(tmp, 'inf.png'))
    assert rc == 0 and 'infinite' in se, se
    assert np.array_equal(np.array(Image.open(os.path.join(tmp, 'inf.png'))),
                          [[0, 255], [255, 0]])
    # No finite value at all: a black image, and a warning saying why (it
    # was written silently, 'range nan .. nan' the only hint).
    write(h5, 'nan', np.full((3, 4), np.nan))
    rc, _, se = run('export', h5 + ':/nan', os.path.join(tmp, 'nan.png'))
    assert rc == 0 and 'no finite values' in se, se
    assert np.array(Image.open(os.path.join(tmp, 'nan.png'))).max() == 0


def test_filter_numpy_constants_as_parameters(tmp):
    """np.nan, np.inf, np.pi (and numpy.) are constants in parameters as in
    arithmetic: cval=np.nan (mark the border) and sigma=np.pi / 2 were
    refused with "cval must be a number" though `x + np.nan` worked."""
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    x = image((19, 14), 'f8')
    write(inp, 'x', x, chunks=(5, 4))
    cases = [('gaussian(x, 1, mode="constant", cval=np.nan)',
              ndi.gaussian_filter(x, 1, mode='constant', cval=np.nan)),
             ('gaussian_filter(x, sigma=np.pi / 2, truncate=numpy.e)',
              ndi.gaussian_filter(x, np.pi / 2, truncate=np.e)),
             ('maximum_filter(x, 3, mode="constant", cval=np.inf)',
              ndi.maximum_filter(x, 3, mode='constant', cval=np.inf)),
             ('uniform(x, 3, mode="constant", cval=-2 * np.pi)',
              ndi.uniform_filter(x, 3, mode='constant', cval=-2 * np.pi))]
    for i, (e, ref) in enumerate(cases):
        rc, _, se = run('eval', '-i', 'x=%s:/x' % inp, e, '-o', '%s:/c%d' % (out, i))
        assert rc == 0, (e, se)
        got = read(out, '/c%d' % i)
        assert np.array_equal(np.isnan(got), np.isnan(ref)), e
        ok = np.isfinite(ref)
        assert np.array_equal(got[~ok], ref[~ok], equal_nan=True), e
        close(got[ok], ref[ok], e)


def test_filter_sequence_length_is_the_rank(tmp):
    """A sequence parameter has one entry per axis, as scipy's
    _normalize_sequence wants: mode=('wrap',) or sigma=(2,) of a 2-d image
    is scipy's RuntimeError, and cask applied the one entry to every axis
    (exit 0).  A scalar still stands for every axis, and a sequence of the
    right length works."""
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    x = image((12, 9), 'f8')
    write(inp, 'x', x, chunks=(5, 4))
    bad = [('gaussian(x, 1, mode=("wrap",))', lambda: ndi.gaussian_filter(x, 1, mode=('wrap',))),
           ('gaussian_filter(x, (2,))', lambda: ndi.gaussian_filter(x, (2,))),
           ('uniform(x, [3])', lambda: ndi.uniform_filter(x, [3])),
           ('maximum_filter(x, 3, origin=(1,))', lambda: ndi.maximum_filter(x, 3, origin=(1,))),
           ('gaussian(x, 1, order=(0, 1, 0))', lambda: ndi.gaussian_filter(x, 1, order=(0, 1, 0)))]
    for e, ref in bad:
        try:
            ref()
            raise AssertionError('scipy accepted %s' % e)
        except RuntimeError:
            pass
        rc, _, se = run('eval', '-i', 'x=%s:/x' % inp, e)
        assert rc == 2 and 'one per axis' in se, (e, rc, se)
    good = [('gaussian(x, (1, 2), mode=("wrap", "nearest"))',
             ndi.gaussian_filter(x, (1, 2), mode=('wrap', 'nearest'))),
            ('uniform(x, 3, mode="wrap")', ndi.uniform_filter(x, 3, mode='wrap'))]
    for i, (e, ref) in enumerate(good):
        rc, _, se = run('eval', '-i', 'x=%s:/x' % inp, e, '-o', '%s:/g%d' % (out, i))
        assert rc == 0, (e, se)
        close(read(out, '/g%d' % i), ref, e)


def test_filter_bool_input(tmp):
    """Bool masks filter as in scipy (bool output, each pass cast to bool's
    byte): maximum_filter(mask, 3) is a dilation.  They were refused ("bool
    input is not supported").  The laplace family and
    gaussian_gradient_magnitude, whose terms scipy combines with bool
    arithmetic, stay refused with a clear error."""
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    m = np.random.default_rng(5).random((23, 31)) > 0.7
    v = np.random.default_rng(6).random((9, 11, 8)) > 0.5
    write(inp, 'm', m, chunks=(7, 8))
    write(inp, 'v', v, chunks=(4, 5, 3))
    cases = [('maximum_filter(m, 3)', ndi.maximum_filter(m, 3)),
             ('minimum_filter(m, (3, 2), mode="constant", cval=1)',
              ndi.minimum_filter(m, (3, 2), mode='constant', cval=1)),
             ('median_filter(m, 3)', ndi.median_filter(m, 3)),
             ('uniform_filter(m, 2, mode="wrap")', ndi.uniform_filter(m, 2, mode='wrap')),
             ('gaussian_filter(m, 1, order=(1, 0))', ndi.gaussian_filter(m, 1, order=(1, 0))),
             ('sobel(m, axis=0)', ndi.sobel(m, 0)),
             ('prewitt(m, axis=1)', ndi.prewitt(m, 1)),
             ('correlate(m, [[1, -1], [2, 0]])', ndi.correlate(m, np.array([[1, -1], [2, 0]]))),
             ('maximum_filter(v, (3, 1, 2))', ndi.maximum_filter(v, (3, 1, 2))),
             ('gaussian_filter(v, 0.7, mode="nearest")', ndi.gaussian_filter(v, 0.7, mode='nearest'))]
    for i, (e, ref) in enumerate(cases):
        rc, _, se = run('eval', '-i', 'm=%s:/m' % inp, '-i', 'v=%s:/v' % inp, e,
                        '-o', '%s:/b%d' % (out, i))
        assert rc == 0, (e, se)
        got = read(out, '/b%d' % i)
        assert got.dtype == np.bool_ and ref.dtype == np.bool_, (e, got.dtype)
        # scipy's bool output may hold bytes other than 0 and 1 (sobel's -1
        # cast to unsigned char); True is a byte that is not 0
        assert np.array_equal(got, ref.view(np.uint8) != 0), e
    rc, _, se = run('filter', 'maximum', inp + ':/m', '-o', out + ':/d', '--size', '3')
    assert rc == 0, se
    assert np.array_equal(read(out, '/d'), ndi.maximum_filter(m, 3))
    for e in ('laplace(m)', 'gaussian_laplace(m, 1)', 'gaussian_gradient_magnitude(m, 1)'):
        rc, _, se = run('eval', '-i', 'm=%s:/m' % inp, e)
        assert rc != 0 and 'bool input is not supported' in se, (e, rc, se)


def test_filter_origin_on_unit_size_axis(tmp):
    """scipy's separable uniform / minimum / maximum filters skip an axis of
    size 1, so one origin for every axis (origin=-1 with size=(3, 2, 1)) is
    valid there; cask refused it ("origin out of range").  median_filter
    checks every axis in scipy too, and stays refused."""
    inp, out = os.path.join(tmp, 'in.h5'), os.path.join(tmp, 'out.h5')
    x = image((7, 8, 5), 'f8')
    write(inp, 'x', x, chunks=(4, 3, 2))
    cases = [('uniform_filter(x, size=(3, 2, 1), origin=-1)',
              ndi.uniform_filter(x, (3, 2, 1), origin=-1)),
             ('maximum_filter(x, size=(3, 6, 1), mode="wrap", origin=1)',
              ndi.maximum_filter(x, (3, 6, 1), mode='wrap', origin=1)),
             ('minimum_filter(x, size=(1, 6, 1), origin=(5, 2, -3))',
              ndi.minimum_filter(x, (1, 6, 1), origin=(5, 2, -3)))]
    for i, (e, ref) in enumerate(cases):
        rc, _, se = run('eval', '-i', 'x=%s:/x' % inp, e, '-o', '%s:/o%d' % (out, i))
        assert rc == 0, (e, se)
        close(read(out, '/o%d' % i), ref, e)
    rc, _, se = run('eval', '-i', 'x=%s:/x' % inp, 'median_filter(x, size=(3, 2, 1), origin=-1)',
                    '-o', out + ':/m')
    assert rc == 2 and 'origin' in se, (rc, se)
