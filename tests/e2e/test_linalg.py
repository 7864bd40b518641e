"""End-to-end tests of the linear algebra commands (issue 4): `cask qr`,
`cask svd` (exact and randomized), `cask lstsq` and `@` in `cask eval`, run
on HDF5 files written with h5py and compared with numpy.linalg.

Tolerances: QR and SVD are backward stable, so Q R and U S V^T reproduce A
to c * eps * ||A|| (we allow 1e-12 relative to max|A| for well-conditioned
inputs of a few thousand rows); R is compared with numpy's R after making
its diagonal non-negative, to 1e-10 relative (cond(A) ~ 10 here); singular
values to 1e-12 * s_max (Weyl).  Products are compared to m * eps times the
sum of absolute terms, the bound of any summation order.

Run with: CASK=build/src/cli/cask /usr/bin/python3 tests/e2e/run.py tests/e2e/test_linalg.py
"""
import os
import re
import subprocess

import h5py
import numpy as np

CASK = os.environ.get('CASK', 'cask')
RNG = np.random.default_rng(4)
EPS = np.finfo(np.float64).eps


def run(*args, timeout=300):
    env = dict(os.environ)
    env.pop('CASK_MEMORY', None)
    p = subprocess.run([CASK] + [str(a) for a in args], capture_output=True, text=True,
                       env=env, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def ok(*args):
    rc, out, err = run(*args)
    assert rc == 0, 'cask %s -> %d\n%s%s' % (' '.join(map(str, args)), rc, out, err)
    return out


def write(path, name, a, chunks=None):
    with h5py.File(path, 'a') as f:
        if name in f:
            del f[name]
        f.create_dataset(name, data=a, chunks=chunks)


def read(path, name):
    with h5py.File(path, 'r') as f:
        return f[name][()], f[name].dtype, f[name].chunks


def with_spectrum(m, n, sv):
    """An m x n matrix whose singular values are sv (random orthonormal
    factors of len(sv) columns)."""
    u, _ = np.linalg.qr(RNG.standard_normal((m, len(sv))))
    v, _ = np.linalg.qr(RNG.standard_normal((n, len(sv))))
    return (u * sv) @ v.T


def tall(m, n, cond=10.0, dtype=np.float64):
    return with_spectrum(m, n, np.geomspace(1, 1 / cond, n)).astype(dtype)


def test_qr_matches_numpy(tmp):
    a = tall(5003, 17)
    f = os.path.join(tmp, 'a.h5')
    write(f, 'A', a, chunks=(600, 17))
    o = os.path.join(tmp, 'o.h5')
    ok('qr', f + ':/A', '--r', o + ':/R', '--q', o + ':/Q', '--memory', '64M', '--threads', '2')
    q, qdt, qch = read(o, 'Q')
    r, rdt, _ = read(o, 'R')
    assert qdt == np.float64 and rdt == np.float64
    assert qch[0] == 600
    assert q.shape == (5003, 17) and r.shape == (17, 17)
    assert np.all(np.diag(r) >= 0) and np.all(np.tril(r, -1) == 0)
    assert np.abs(q @ r - a).max() <= 1e-12 * np.abs(a).max() * 17
    assert np.abs(q.T @ q - np.eye(17)).max() <= 30 * EPS * 5003
    rn = np.linalg.qr(a, mode='r')
    rn = rn * np.sign(np.diag(rn))[:, None]
    assert np.abs(r - rn).max() <= 1e-10 * np.abs(rn).max()


def test_qr_float32_and_errors(tmp):
    a = tall(3000, 8, dtype=np.float32)
    f = os.path.join(tmp, 'a.h5')
    write(f, 'A', a, chunks=(1000, 8))
    o = os.path.join(tmp, 'o.h5')
    ok('qr', f + ':/A', '--r', o + ':/R', '--q', o + ':/Q')
    q, qdt, _ = read(o, 'Q')
    r, _, _ = read(o, 'R')
    assert qdt == np.float32
    a64 = a.astype(np.float64)
    rn = np.linalg.qr(a64, mode='r')
    rn = rn * np.sign(np.diag(rn))[:, None]
    assert np.abs(r - rn).max() <= 1e-10 * np.abs(rn).max()
    assert np.abs(q.astype(np.float64) @ r - a64).max() <= 1e-5 * np.abs(a64).max()
    # Existing output without --overwrite; a wide matrix; NaN names the dataset.
    rc, _, err = run('qr', f + ':/A', '--r', o + ':/R')
    assert rc == 1 and 'overwrite' in err
    write(f, 'W', a.T.copy())
    rc, _, err = run('qr', f + ':/W', '--r', o + ':/R2')
    assert rc == 1 and 'tall' in err
    bad = a.copy()
    bad[1234, 3] = np.nan
    write(f, 'bad', bad)
    rc, _, err = run('qr', f + ':/bad', '--r', o + ':/R3')
    assert rc == 1 and '/bad' in err and 'non-finite' in err and 'row 1234, column 3' in err
    with h5py.File(o, 'r') as h:
        assert 'R3' not in h
    rc, _, err = run('qr', f + ':/A')
    assert rc == 2


def test_svd_tall_and_wide(tmp):
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    for name, a in (('T', tall(4000, 13, cond=1e6)), ('W', tall(2500, 9).T.copy())):
        write(f, name, a)
        ok('svd', f + ':/' + name, '--s', o + ':/S' + name, '--u', o + ':/U' + name,
           '--vt', o + ':/V' + name, '--memory', '64M')
        s, _, _ = read(o, 'S' + name)
        u, _, _ = read(o, 'U' + name)
        vt, _, _ = read(o, 'V' + name)
        k = min(a.shape)
        assert s.shape == (k,) and u.shape == (a.shape[0], k) and vt.shape == (k, a.shape[1])
        sn = np.linalg.svd(a, compute_uv=False)
        assert np.abs(s - sn).max() <= 1e-12 * sn[0]
        assert np.abs(u.T @ u - np.eye(k)).max() <= 1e-12
        assert np.abs(vt @ vt.T - np.eye(k)).max() <= 1e-12
        assert np.abs((u * s) @ vt - a).max() <= 1e-12 * np.abs(a).max() * k


def test_svd_randomized(tmp):
    m, n, k = 3000, 400, 5
    sv = 0.5 ** np.arange(n)
    u0, _ = np.linalg.qr(RNG.standard_normal((m, n)))
    v0, _ = np.linalg.qr(RNG.standard_normal((n, n)))
    a = (u0 * sv) @ v0.T
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'A', a, chunks=(500, n))
    ok('svd', f + ':/A', '-k', k, '--s', o + ':/S', '--u', o + ':/U', '--vt', o + ':/VT',
       '--seed', 3)
    s, _, _ = read(o, 'S')
    u, _, _ = read(o, 'U')
    vt, _, _ = read(o, 'VT')
    assert s.shape == (k,) and u.shape == (m, k) and vt.shape == (k, n)
    assert np.all(np.abs(s - sv[:k]) <= 1e-6 * sv[:k])
    assert np.abs(u.T @ u - np.eye(k)).max() <= 1e-10
    # Best rank-k approximation up to the tail (Eckart-Young).
    assert np.linalg.norm((u * s) @ vt - a) <= 1.01 * np.linalg.norm(sv[k:])
    rc, _, err = run('svd', f + ':/A', '-k', 1000, '--s', o + ':/S2')
    assert rc == 2
    rc, _, err = run('svd', f + ':/A', '--seed', 1, '--s', o + ':/S2')
    assert rc == 2


def test_randomized_svd_extreme_magnitudes(tmp):
    """The fused power iterations form A^T (A X): without scaling, |A| ~
    1e-160 underflowed to garbage singular values (exit 0) and |A| ~ 1e155
    overflowed ("non-finite value" of a finite input).  S of a zero matrix
    is +0, not -0."""
    m, n, k = 2000, 30, 5
    sv = np.logspace(0, -3, n)
    u0, _ = np.linalg.qr(RNG.standard_normal((m, n)))
    v0, _ = np.linalg.qr(RNG.standard_normal((n, n)))
    base = (u0 * sv) @ v0.T
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    for scale in (1e-300, 1e-160, 1e155, 1e300):
        write(f, 'A', base * scale, chunks=(200, n))
        ok('svd', f + ':/A', '-k', k, '--s', o + ':/S', '--overwrite')
        s, _, _ = read(o, 'S')
        assert np.all(np.abs(s / scale - sv[:k]) <= 1e-6 * sv[:k]), (scale, s)
    write(f, 'Z', np.zeros((300, 6)))
    for extra in ((), ('-k', 3)):
        ok('svd', f + ':/Z', '--s', o + ':/SZ', '--overwrite', *extra)
        s, _, _ = read(o, 'SZ')
        assert np.all(s == 0) and not np.signbit(s).any(), s


def test_overflow_is_an_error(tmp):
    """Finite input whose factors overflow is an error, never Inf or NaN
    written with exit 0; a residual of ~1e301 is printed, not inf."""
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    big = RNG.standard_normal((500, 6)) * 1e300
    bb = RNG.standard_normal(500) * 1e300
    write(f, 'Amax', np.full((500, 6), np.finfo(np.float64).max))
    write(f, 'Ahuge', big)
    write(f, 'Atiny', RNG.standard_normal((500, 6)) * 1e-300)
    write(f, 'bhuge', bb)
    for args in (('qr', f + ':/Amax', '--r', o + ':/R', '--q', o + ':/Q'),
                 ('svd', f + ':/Amax', '--s', o + ':/S'),
                 ('lstsq', f + ':/Amax', f + ':/bhuge', '-o', o + ':/x'),
                 ('lstsq', f + ':/Atiny', f + ':/bhuge', '-o', o + ':/x')):
        rc, _, err = run(*args)
        assert rc == 1 and 'overflow' in err and args[1] in err, (args, err)
        assert not os.path.exists(o), args
    out = ok('lstsq', f + ':/Ahuge', f + ':/bhuge', '-o', o + ':/x')
    x, _, _ = read(o, 'x')
    xn = np.linalg.lstsq(big / 1e300, bb / 1e300, rcond=None)[0]
    assert np.abs(x - xn).max() <= 1e-12 * np.abs(xn).max()
    got = float(out.split()[1])
    true = np.linalg.norm((big / 1e300) @ x - bb / 1e300) * 1e300
    assert np.isfinite(got) and abs(got - true) <= 1e-9 * true, (got, true)


def test_outputs_must_be_distinct(tmp):
    """Two outputs naming one dataset, or one file spelt two ways: an error
    or both outputs kept, never one silently replacing the other."""
    a = tall(1000, 20)
    f = os.path.join(tmp, 'a.h5')
    write(f, 'A', a)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        ok('qr', 'a.h5:/A', '--r', 'al.h5:/R', '--q', './al.h5:/Q')
        ok('svd', 'a.h5:/A', '--s', 'al.h5:/S', '--u', './al.h5:/U', '--vt',
           os.path.join(tmp, 'al.h5') + ':/VT')
        with h5py.File('al.h5', 'r') as h:
            assert sorted(h) == ['Q', 'R', 'S', 'U', 'VT']
        for args in (('qr', 'a.h5:/A', '--r', 'o3.h5:/R', '--q', './o3.h5:/R'),
                     ('qr', 'a.h5:/A', '--r', 'al.h5:/R', '--q', 'al.h5:/R', '--overwrite'),
                     ('svd', 'a.h5:/A', '--s', 'al.h5:/X', '--u', 'al.h5://X'),
                     ('svd', 'a.h5:/A', '--s', 'al.h5:/X', '--vt', './al.h5:/X', '-k', 3)):
            rc, _, err = run(*args)
            assert rc == 1 and 'would both be written' in err, (args, err)
        assert not os.path.exists('o3.h5')
        with h5py.File('al.h5', 'r') as h:
            assert sorted(h) == ['Q', 'R', 'S', 'U', 'VT'] and h['R'].shape == (20, 20)
        # An existing output is named by itself, once.
        rc, _, err = run('qr', 'a.h5:/A', '--r', 'al.h5:/R')
        assert rc == 1 and err.count('--overwrite') == 1 and 'a.h5:/A' not in err, err
    finally:
        os.chdir(cwd)


def test_svd_factor_dtypes_and_wide_errors(tmp):
    """S and the small factor are float64, the large factor (U of a tall
    A, V^T of a wide one) in A's dtype, exact or randomized; a NaN in a
    wide matrix is named by its row and column in A, not in A^T."""
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'T', tall(400, 20).astype(np.float32))
    write(f, 'W', tall(400, 20).T.astype(np.float32))
    for name, big in (('T', 'U'), ('W', 'VT')):
        for extra in ((), ('-k', 5)):
            if os.path.exists(o):
                os.remove(o)
            ok('svd', f + ':/' + name, '--s', o + ':/S', '--u', o + ':/U', '--vt', o + ':/VT',
               *extra)
            with h5py.File(o, 'r') as h:
                for d in ('S', 'U', 'VT'):
                    want = np.float32 if d == big else np.float64
                    assert h[d].dtype == want, (name, extra, d, h[d].dtype)
    w = RNG.standard_normal((50, 1000))
    w[33, 777] = -np.inf
    write(f, 'Wn', w, chunks=(16, 128))
    rc, _, err = run('svd', f + ':/Wn', '--s', o + ':/S2')
    assert rc == 1 and 'row 33, column 777' in err, err


def test_tiny_budget_is_an_error(tmp):
    """A budget below one row of a leaf's working set: "needs", not a
    division by zero (SIGFPE)."""
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'S', RNG.standard_normal((1000, 1000)))
    for args in (('qr', f + ':/S', '--r', o + ':/R'), ('svd', f + ':/S', '--s', o + ':/S'),
                 ('lstsq', f + ':/S', f + ':/S', '-o', o + ':/x')):
        rc, _, err = run('--memory', '64K', *args)
        assert rc == 1 and 'needs' in err and 'crashed' not in err, (args, err)


def test_lstsq(tmp):
    a = tall(4000, 11, cond=1e3)
    b = RNG.standard_normal(4000)
    b2 = RNG.standard_normal((4000, 3))
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'A', a, chunks=(700, 11))
    write(f, 'b', b)
    write(f, 'B', b2)
    out = ok('lstsq', f + ':/A', f + ':/b', '-o', o + ':/x')
    x, xdt, _ = read(o, 'x')
    xn, res, _, _ = np.linalg.lstsq(a, b, rcond=None)
    assert xdt == np.float64 and x.shape == (11,)
    assert np.abs(x - xn).max() <= 1e-9 * np.abs(xn).max()
    got = float(out.split()[1])
    assert abs(got - np.sqrt(res[0])) <= 1e-10 * np.sqrt(res[0])
    out = ok('lstsq', f + ':/A', f + ':/B', '-o', o + ':/X')
    x2, _, _ = read(o, 'X')
    xn2, res2, _, _ = np.linalg.lstsq(a, b2, rcond=None)
    assert x2.shape == (11, 3)
    assert np.abs(x2 - xn2).max() <= 1e-9 * np.abs(xn2).max()
    norms = [float(l.split()[1]) for l in out.strip().splitlines() if l.startswith('residual_norm')]
    assert np.allclose(norms, np.sqrt(res2), rtol=1e-10)
    assert out.strip().splitlines()[-1] == 'rank 11', out
    # A NaN in b is named by its row; nothing is written.
    bad = b.copy()
    bad[2077] = np.inf
    write(f, 'bad', bad)
    rc, _, err = run('lstsq', f + ':/A', f + ':/bad', '-o', o + ':/xbad')
    assert rc == 1 and 'row 2077 of the right-hand side' in err, err
    assert err.startswith('cask: error: %s:/bad: non-finite' % f), err
    with h5py.File(o, 'r') as h:
        assert 'xbad' not in h
    # Shapes of the data are runtime errors (exit 1), as qr's wide A is.
    write(f, 'W', np.ones((3, 5)))
    write(f, 'c3', np.ones((4, 2, 2)))
    for args, what in (((f + ':/W', f + ':/W'), 'tall A'), ((f + ':/A', f + ':/W'), "A's"),
                       ((f + ':/A', f + ':/c3'), '1-d or 2-d'), ((f + ':/c3', f + ':/b'), '2-d')):
        rc, _, err = run('lstsq', *args, '-o', o + ':/xs')
        assert rc == 1 and what in err and 'Try' not in err, (args, rc, err)


def test_lstsq_rank_deficient(tmp):
    """As numpy.linalg.lstsq: the minimum-norm solution of a rank-deficient
    A (exactly, and to rounding), the rank, and the residual of that x."""
    m = 3000
    a = np.zeros((m, 3))
    a[:, 0] = 1
    a[:, 1] = np.arange(m) % 7
    a[:, 2] = a[:, 0] + a[:, 1]              # rank 2, R[2, 2] ~ 1e-13, not 0
    b = np.arange(m, dtype=float) % 5
    d = RNG.standard_normal((m, 5))
    d[:, 3] = d[:, 1]
    d[:, 4] = 0.0                             # rank 3
    bd = RNG.standard_normal((m, 2))
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'A', a, chunks=(400, 3))
    write(f, 'b', b)
    write(f, 'D', d, chunks=(700, 5))
    write(f, 'bd', bd)
    for an, bn, av, bv in (('A', 'b', a, b), ('D', 'bd', d, bd)):
        rc, out, err = run('lstsq', f + ':/' + an, f + ':/' + bn, '-o', o + ':/' + an)
        assert rc == 0, err
        x, _, _ = read(o, an)
        xn, _, rk, _ = np.linalg.lstsq(av, bv, rcond=None)
        assert np.abs(x - xn).max() <= 1e-9 * np.abs(xn).max(), (x, xn)
        lines = out.strip().splitlines()
        assert lines[-1] == 'rank %d' % rk, out
        assert 'minimum-norm' in err, err
        norms = [float(l.split()[1]) for l in lines if l.startswith('residual_norm')]
        true = np.linalg.norm((av @ x).reshape(m, -1) - bv.reshape(m, -1), axis=0)
        assert np.allclose(norms, true, rtol=1e-9), (norms, true)
    # --rcond as numpy's rcond, also outside (0, 1), where LAPACK takes eps
    # (on a full-rank G: at eps, the ranks of A and D are rounding noise).
    g = RNG.standard_normal((m, 4))
    write(f, 'G', g, chunks=(700, 4))
    for rcond, mat, rhs in (('0.9', 'D', d), ('1e-3', 'D', d), ('0', 'G', g), ('1', 'G', g),
                            ('2.5', 'G', g), ('-1', 'G', g), ('inf', 'G', g)):
        bn, bv = ('bd', bd) if mat == 'D' else ('b', b)
        out = ok('lstsq', f + ':/' + mat, f + ':/' + bn, '-o', o + ':/D1', '--rcond', rcond,
                 '--overwrite')
        x, _, _ = read(o, 'D1')
        xn, _, rk, _ = np.linalg.lstsq(rhs, bv, rcond=float(rcond))
        assert out.strip().splitlines()[-1] == 'rank %d' % rk, (rcond, out, rk)
        assert np.abs(x - xn).max() <= 1e-9 * np.abs(xn).max(), rcond
    rc, _, err = run('lstsq', f + ':/D', f + ':/bd', '-o', o + ':/D2', '--rcond', 'nan')
    assert rc == 2 and 'rcond' in err, err


def test_eval_matmul(tmp):
    m, n = 3001, 6
    a = RNG.standard_normal((m, n))
    w = RNG.standard_normal((n, 4))
    b = RNG.standard_normal(m)
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'A', a, chunks=(500, 6))
    write(f, 'W', w)
    write(f, 'b', b)
    cases = [('A @ W', a @ w, np.abs(a) @ np.abs(w)),
             ('A.T @ A', a.T @ a, np.abs(a).T @ np.abs(a)),
             ('A.T @ b', a.T @ b, np.abs(a).T @ np.abs(b)),
             ('(A @ W)[::7, 1:3] + 1', (a @ w)[::7, 1:3] + 1, (np.abs(a) @ np.abs(w))[::7, 1:3])]
    for i, (expr, ref, mag) in enumerate(cases):
        ok('eval', '-i', 'A=' + f + ':/A', '-i', 'W=' + f + ':/W', '-i', 'b=' + f + ':/b',
           expr, '-o', '%s:/r%d' % (o, i))
        got, dt, _ = read(o, 'r%d' % i)
        assert got.shape == ref.shape, expr
        assert dt == np.float64
        assert np.all(np.abs(got - ref) <= m * EPS * (mag + 1)), expr
    rc, _, err = run('eval', '-i', 'A=' + f + ':/A', 'A @ A')
    assert rc == 2 and 'not aligned' in err


def _ints(shape, dt, big=False):
    """Random integers of dtype dt; big: the whole range (products wrap)."""
    info = np.iinfo(dt)
    lo, hi = (info.min, info.max) if big else (max(info.min, -50), min(info.max, 50))
    return RNG.integers(lo, hi, shape, dtype=dt, endpoint=True)


def test_eval_matmul_dtypes(tmp):
    """Result dtypes are numpy.result_type's on every path (A @ B, X.T @ X,
    X.T @ b); integer and bool products equal NumPy's exactly, wraparound
    included; float products to m eps times the sum of absolute terms."""
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    m = 2500
    arrays = {
        'f4': RNG.standard_normal((m, 5)).astype(np.float32),
        'f8': RNG.standard_normal((m, 5)),
        'i1': _ints((m, 5), np.int8, big=True),
        'u1': _ints((m, 5), np.uint8, big=True),
        'i4': _ints((m, 5), np.int32, big=True),
        'u4': _ints((m, 5), np.uint32),
        'i8': _ints((m, 5), np.int64, big=True),
        'u8': _ints((m, 5), np.uint64, big=True),
        'b': RNG.random((m, 5)) < 0.3,
    }
    for k, v in arrays.items():
        write(f, k, v, chunks=(700, 5))
        write(f, 'w' + k, v[:5, :3].copy())       # the small right operand
        write(f, 'v' + k, v[:, 2].copy())         # a column for X.T @ v
    pairs = [('f4', 'f4'), ('f4', 'f8'), ('i8', 'f4'), ('i1', 'f4'), ('u1', 'f4'),
             ('i1', 'i1'), ('u1', 'i1'), ('i4', 'i4'), ('i8', 'i8'), ('u4', 'i8'),
             ('u8', 'u8'), ('i8', 'u8'), ('b', 'b'), ('b', 'i4'), ('i1', 'b'),
             ('f8', 'u1')]
    i = 0
    for x, y in pairs:
        a, b = arrays[x], arrays[y]
        cases = [('A @ W', a, b[:5, :3], a @ b[:5, :3]),
                 ('A.T @ B', a, b, a.T @ b),
                 ('A.T @ v', a, b[:, 2], a.T @ b[:, 2]),
                 ('W.T @ A.T', a, b[:5, :3], b[:5, :3].T @ a.T)]
        if x == y:
            cases.append(('A.T @ A', a, a, a.T @ a))
        for expr, _, _, ref in cases:
            ok('eval', '-i', 'A=%s:/%s' % (f, x), '-i', 'B=%s:/%s' % (f, y),
               '-i', 'W=%s:/w%s' % (f, y), '-i', 'v=%s:/v%s' % (f, y), expr,
               '-o', '%s:/r%d' % (o, i), '--memory', '64M')
            got, dt, _ = read(o, 'r%d' % i)
            i += 1
            what = '%s with A %s, B %s' % (expr, x, y)
            assert dt == ref.dtype, (what, dt, ref.dtype)
            assert got.shape == ref.shape, what
            if ref.dtype.kind in 'biu':
                assert np.array_equal(got, ref), what
            else:
                # Reference and bound in float64: m eps sum |a_i b_i| (any
                # order), plus float32's rounding of the result.
                a64 = np.abs(a.astype(np.float64))
                b64 = np.abs(b.astype(np.float64))
                mag = {'A @ W': lambda: a64 @ b64[:5, :3], 'A.T @ B': lambda: a64.T @ b64,
                       'A.T @ v': lambda: a64.T @ b64[:, 2], 'A.T @ A': lambda: a64.T @ a64,
                       'W.T @ A.T': lambda: b64[:5, :3].T @ a64.T}[expr]()
                ref64 = {'A @ W': lambda: a.astype(np.float64) @ b.astype(np.float64)[:5, :3],
                         'A.T @ B': lambda: a.astype(np.float64).T @ b.astype(np.float64),
                         'A.T @ v': lambda: a.astype(np.float64).T @ b.astype(np.float64)[:, 2],
                         'A.T @ A': lambda: a.astype(np.float64).T @ a.astype(np.float64),
                         'W.T @ A.T': lambda: b.astype(np.float64)[:5, :3].T
                         @ a.astype(np.float64).T}[expr]()
                tol = m * EPS * mag + np.finfo(ref.dtype).eps * np.abs(ref64)
                assert np.all(np.abs(got - ref64) <= tol), what


def test_eval_matmul_int_exact(tmp):
    """int64 products near 2^62 are exact (they went through float64 once)."""
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    i = np.array([[2**31 + 1, 3], [5, 2**31 + 7]], dtype=np.int64)
    write(f, 'I', i)
    ref = i @ i
    assert ref[0, 0] == 4611686022722355216
    out = ok('eval', '-i', 'I=' + f + ':/I', 'I @ I')
    assert [[int(t) for t in line.split()] for line in out.split('\n') if line] == ref.tolist()
    ok('eval', '-i', 'I=' + f + ':/I', 'I @ I', '-o', o + ':/r')
    got, dt, _ = read(o, 'r')
    assert dt == np.int64 and np.array_equal(got, ref)
    # A tall int64 X with values near 2^40: X.T @ X (the reduction tree) and
    # X @ W wrap modulo 2^64 exactly as NumPy does.
    x = RNG.integers(-2**40, 2**40, (5000, 3), dtype=np.int64)
    write(f, 'X', x, chunks=(1000, 3))
    write(f, 'W', x[:3, :2].copy())
    for k, (expr, ref) in enumerate([('X.T @ X', x.T @ x), ('X @ W', x @ x[:3, :2]),
                                     ('X.T @ X[:, 1]', x.T @ x[:, 1])]):
        ok('eval', '-i', 'X=' + f + ':/X', '-i', 'W=' + f + ':/W', expr, '-o',
           '%s:/x%d' % (o, k))
        got, dt, _ = read(o, 'x%d' % k)
        assert dt == np.int64 and np.array_equal(got, ref), expr


def test_eval_matmul_empty(tmp):
    """Empty dimensions: an inner dimension of 0 gives zeros of the result
    shape, 0 rows or columns an empty result (numpy.matmul)."""
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    shapes = {'E50': (5, 0), 'E05': (0, 5), 'E53': (5, 3), 'E0': (0,), 'E5': (5,),
              'E30': (3, 0)}
    for k, sh in shapes.items():
        write(f, k, np.ones(sh))
        write(f, k + 'i', np.ones(sh, dtype=np.int32))
    cases = [('E50 @ E05', (5, 5)), ('E05 @ E50', (0, 0)), ('E05 @ E53', (0, 3)),
             ('E30 @ E05', (3, 5)), ('E0 @ E05', (5,)), ('E50 @ E0', (5,)),
             ('E05.T @ E05', (5, 5)), ('E05.T @ E0', (5,)), ('E53 @ E30', (5, 0))]
    ins = []
    for k in shapes:
        ins += ['-i', '%s=%s:/%s' % (k, f, k), '-i', '%si=%s:/%si' % (k, f, k)]
    n = 0
    for expr, shape in cases:
        for suffix, dt in (('', np.float64), ('i', np.int32)):
            e = ' @ '.join(t.strip() if '.T' in t else t.strip() + suffix
                           for t in expr.split('@'))
            e = e.replace('.T', suffix + '.T')
            ok('eval', *ins, e, '-o', '%s:/r%d' % (o, n))
            got, gdt, _ = read(o, 'r%d' % n)
            n += 1
            assert got.shape == shape and gdt == dt, (e, got.shape, gdt)
            assert not np.any(got), e
    # 1-d @ 1-d of length 0 is the scalar 0.
    out = ok('eval', *ins, 'E0 @ E0')
    assert out.strip() == '0', out


def test_eval_matmul_messages(tmp):
    """Shape errors print 1-d operands as (5,), name the datasets, and do
    not call a 1-d operand 2-d; batched products are refused clearly."""
    f = os.path.join(tmp, 'a.h5')
    write(f, 'v5', np.ones(5))
    write(f, 'v101', np.ones(101))
    write(f, 'T', np.ones((2, 5, 3)))
    write(f, 'M', np.ones((4, 101)))
    ins = ['-i', 'v=%s:/v5' % f, '-i', 'w=%s:/v101' % f, '-i', 'T=%s:/T' % f,
           '-i', 'M=%s:/M' % f]
    rc, _, err = run('eval', *ins, 'v @ w')
    assert rc == 2 and 'shapes (5,) and (101,) not aligned' in err, err
    assert '%s:/v5' % f in err and '%s:/v101' % f in err, err
    rc, _, err = run('eval', *ins, 'M @ v')
    assert rc == 2 and 'shapes (4,101) and (5,) not aligned: 101 (dim 1) != 5 (dim 0)' in err, err
    rc, _, err = run('eval', *ins, 'v @ T')
    assert rc == 2 and 'batched' in err and '(5,) (1-d)' in err and '2-d @' not in err, err
    rc, _, err = run('eval', *ins, 'dot(v, 2)')
    assert rc == 2 and '0-d' in err, err


def test_eval_matmul_reductions(tmp):
    """Operands containing reductions: B is computed into memory, the lazy
    product's A is planned like any expression, and the reduction tree of
    X.T @ Y computes the reductions inside X and Y first."""
    m, n = 3001, 4
    a = RNG.standard_normal((m, n))
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'A', a, chunks=(400, n))
    c = a - a.mean(axis=0)
    cases = [('A @ mean(A, axis=0)', a @ a.mean(axis=0), np.abs(a) @ np.abs(a.mean(axis=0))),
             ('(A - mean(A, axis=0)).T @ (A - mean(A, axis=0))', c.T @ c, np.abs(c).T @ np.abs(c)),
             ('(A - mean(A, axis=0)) @ (A.T @ A)', c @ (a.T @ a),
              np.abs(c) @ (np.abs(a).T @ np.abs(a))),
             ('A.T @ (A / sum(A))', a.T @ (a / a.sum()), np.abs(a).T @ np.abs(a / a.sum()))]
    for i, (expr, ref, mag) in enumerate(cases):
        ok('eval', '-i', 'A=' + f + ':/A', expr, '-o', '%s:/r%d' % (o, i), '--memory', '32M')
        got, dt, _ = read(o, 'r%d' % i)
        assert got.shape == ref.shape and dt == np.float64, expr
        assert np.all(np.abs(got - ref) <= 4 * m * EPS * (mag + 1)), expr


def check_qr(o, a):
    """Q and R in o: Q R = A and Q^T Q = I to LAPACK's TSQR test ratios."""
    m, n = a.shape
    q, _, _ = read(o, 'Q')
    r, _, _ = read(o, 'R')
    assert np.abs(q @ r - a).max() <= 1e-12 * np.abs(a).max() * n
    assert np.abs(q.T @ q - np.eye(n)).max() <= 30 * EPS * m


def run_direct(direct, args):
    """Run cask with CASK_DIRECT=direct and no CASK_MEMORY; it must succeed."""
    env = dict(os.environ, CASK_DIRECT=direct)
    env.pop('CASK_MEMORY', None)
    p = subprocess.run([CASK] + args, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, (direct, args, p.stderr)
    return p


def test_large_chunks_direct_writes(tmp):
    """Outputs whose chunks are 1 MiB or more are written past the page cache
    (src/io_direct.c): Q, U and an eval result with ragged last chunks, run
    with direct writes on (the default) and off (CASK_DIRECT=0), must be
    bit-identical and correct."""
    m, n = 40000, 50
    a = tall(m, n)
    f = os.path.join(tmp, 'a.h5')
    write(f, 'A', a, chunks=(6000, n))  # 2.4 MB chunks, the last 4000 rows
    outs = {}
    for direct in ('1', '0'):
        o = os.path.join(tmp, 'o%s.h5' % direct)
        for args in (['qr', f + ':/A', '--r', o + ':/R', '--q', o + ':/Q'],
                     ['svd', f + ':/A', '--s', o + ':/S', '--u', o + ':/U'],
                     ['eval', '-i', 'A=' + f + ':/A', 'A * 2 + 1', '-o', o + ':/E']):
            run_direct(direct, args + ['--memory', '96M', '--threads', '2'])
        with h5py.File(o, 'r') as h:
            assert h['Q'].chunks == (6000, n) and h['E'].chunks == (6000, n)
            outs[direct] = {k: h[k][()] for k in ('Q', 'R', 'S', 'U', 'E')}
    for k in outs['1']:
        assert np.array_equal(outs['1'][k], outs['0'][k]), k
    q, r, s, u, e = (outs['1'][k] for k in ('Q', 'R', 'S', 'U', 'E'))
    assert np.abs(q @ r - a).max() <= 1e-12 * np.abs(a).max() * n
    assert np.abs(q.T @ q - np.eye(n)).max() <= 30 * EPS * m
    assert np.abs(u.T @ u - np.eye(n)).max() <= 30 * EPS * m
    assert np.abs(s - np.linalg.svd(a, compute_uv=False)).max() <= 1e-12 * s[0]
    assert np.array_equal(e, a * 2 + 1)
    # Small budgets: the write buffers shrink or go (none under 24 MiB), so a
    # budget that fits one task still works with direct writes asked for.
    b = RNG.standard_normal((2048, 256))
    write(f, 'B', b, chunks=(512, 256))  # 1 MiB chunks
    for direct in ('1', '0'):
        o = os.path.join(tmp, 'small%s.h5' % direct)
        run_direct(direct, ['eval', '-i', 'B=' + f + ':/B', 'B * 2', '-o', o + ':/y',
                            '--memory', '5M'])
        got, _, _ = read(o, 'y')
        assert np.array_equal(got, b * 2)


def test_leaves_split_chunks(tmp):
    """Leaves of at most 8 MiB of V factors split large row chunks (tsqr.c,
    choose_blocks): in equal parts that start on a file block of Q's chunk
    (32768-row chunks in halves: direct writes of parts of chunks), or,
    when no such part exists (30000 rows), in parts that straddle chunks
    (written through HDF5).  Q and R with direct writes on and off must be
    bit-identical, R equal to an R-only run's, and Q R = A, Q^T Q = I."""
    m, n = 80000, 50
    a = tall(m, n)
    f = os.path.join(tmp, 'a.h5')
    for c0 in (32768, 30000):
        write(f, 'A', a, chunks=(c0, n))
        outs = {}
        for direct in ('1', '0'):
            o = os.path.join(tmp, 'o%s.h5' % direct)
            for args in (['qr', f + ':/A', '--r', o + ':/R', '--q', o + ':/Q'],
                         ['qr', f + ':/A', '--r', o + ':/R1']):
                p = run_direct(direct, args + ['--memory', '256M', '--threads', '2',
                                               '--overwrite', '--stats'])
            # R only: a task per leaf, one fold (fan-in 8), the root: leaves
            # of 16384 rows (halves), of 15104 (30000 / 2 rounded up to 256
            # rows, the rows of 4 KiB of Q: 50 * 8 bytes each).
            tasks = [l.split()[3] for l in p.stderr.splitlines() if 'stats: tasks' in l]
            assert tasks == [{32768: '7', 30000: '8'}[c0]], (c0, p.stderr)
            with h5py.File(o, 'r') as h:
                assert h['Q'].chunks == (c0, n)
                outs[direct] = {k: h[k][()] for k in ('Q', 'R', 'R1')}
        for k in outs['1']:
            assert np.array_equal(outs['1'][k], outs['0'][k]), (c0, k)
        q, r, r1 = (outs['1'][k] for k in ('Q', 'R', 'R1'))
        assert np.array_equal(r, r1), c0
        assert np.abs(q @ r - a).max() <= 1e-12 * np.abs(a).max() * n, c0
        assert np.abs(q.T @ q - np.eye(n)).max() <= 30 * EPS * m, c0


def test_tree_factors_spilled(tmp):
    """Tree factors past a sixteenth of the budget go to a scratch file next
    to the output (CASK_TSQR_SPILL=1 forces that): Q, R, U, S bit-identical
    to the run that keeps them in memory, no file left behind; and a budget
    that spills by itself (16 MiB, 100 leaves) still gives Q R = A, Q^T Q = I."""
    m, n = 200000, 50
    a = tall(m, n)
    f = os.path.join(tmp, 'a.h5')
    write(f, 'A', a, chunks=(2000, n))
    outs = {}
    for spill in ('0', '1'):
        d = os.path.join(tmp, 'out' + spill)
        os.mkdir(d)
        o = os.path.join(d, 'o.h5')
        env = dict(os.environ, CASK_TSQR_SPILL=spill)
        env.pop('CASK_MEMORY', None)
        for args in (['qr', f + ':/A', '--r', o + ':/R', '--q', o + ':/Q'],
                     ['svd', f + ':/A', '--s', o + ':/S', '--u', o + ':/U']):
            p = subprocess.run([CASK] + args + ['--memory', '256M', '--threads', '2'],
                               capture_output=True, text=True, env=env, timeout=300)
            assert p.returncode == 0, (spill, args, p.stderr)
        assert os.listdir(d) == ['o.h5'], os.listdir(d)
        with h5py.File(o, 'r') as h:
            outs[spill] = {k: h[k][()] for k in ('Q', 'R', 'S', 'U')}
    for k in outs['0']:
        assert np.array_equal(outs['0'][k], outs['1'][k]), k
    o = os.path.join(tmp, 'small.h5')
    ok('qr', f + ':/A', '--r', o + ':/R', '--q', o + ':/Q', '--memory', '16M', '--threads', '2')
    check_qr(o, a)



def test_leaves_of_a_chunk_larger_than_the_budget(tmp):
    """A 64 MiB row chunk under a 32 MiB budget: each leaf reads only its
    rows of the chunk (an exact plan of every leaf region, no whole-chunk
    staging reserved), so the run fits; Q R = A, Q^T Q = I."""
    m, n = 131072, 64
    a = tall(m, n)
    f = os.path.join(tmp, 'a.h5')
    write(f, 'A', a, chunks=(m, n))
    o = os.path.join(tmp, 'o.h5')
    ok('qr', f + ':/A', '--r', o + ':/R', '--q', o + ':/Q', '--memory', '32M', '--threads', '2')
    check_qr(o, a)


def count_preads(args):
    """Run cask under strace and return the number of pread64 calls of all
    its processes, or None when strace is missing or cannot trace here."""
    import shutil
    import tempfile
    if shutil.which('strace') is None:
        return None
    env = dict(os.environ)
    env.pop('CASK_MEMORY', None)
    with tempfile.NamedTemporaryFile('r', suffix='.strace') as log:
        p = subprocess.run(['strace', '-f', '-c', '-e', 'trace=pread64', '-o', log.name, CASK]
                           + [str(a) for a in args], capture_output=True, text=True, env=env,
                           timeout=300)
        if p.returncode != 0 and 'ptrace' in p.stderr:
            return None
        assert p.returncode == 0, (args, p.stderr)
        for line in log.read().splitlines():
            if line.split() and line.split()[-1] == 'pread64':
                return int(line.split()[3])
    return 0


def test_column_chunks_cut_by_leaves(tmp):
    """A matrix stored in one-column chunks, read by leaves of fewer rows
    than a chunk: HDF5 read each leaf's part of a chunk with one pread per
    element (its runs end where the caller's buffer is not contiguous), so
    QR of 50000 x 40 took 6 s instead of 0.2.  Pieces now go through a
    buffer of their own shape: a handful of preads per piece.  Values as
    numpy's; the pread count is bounded by far less than one per element
    (old code: 96025 here for m * n = 48000 elements)."""
    m, n = 6000, 8
    a = tall(m, n)
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'A', a, chunks=(m, 1))
    args = ['qr', f + ':/A', '--r', o + ':/R', '--q', o + ':/Q', '--memory', '2M']
    preads = count_preads(args)
    if preads is None:             # (LeakSanitizer refuses to run under ptrace)
        ok(*args, '--overwrite')
    else:
        assert preads < 2000, preads
    check_qr(o, a)
    r, _, _ = read(o, 'R')
    rn = np.linalg.qr(a, mode='r')
    rn = rn * np.sign(np.diag(rn))[:, None]
    assert np.abs(r - rn).max() <= 1e-10 * np.abs(rn).max()
    # A misaligned view of chunks two columns wide, in 3-d, with unwritten
    # chunks (fill value): data movement is exact.
    v = np.arange(40 * 50 * 30, dtype=np.int16).reshape(40, 50, 30)
    with h5py.File(f, 'a') as h:
        d = h.create_dataset('V', shape=v.shape, dtype=v.dtype, chunks=(20, 25, 2),
                             fillvalue=-7)
        d[:30, :40, :20] = v[:30, :40, :20]
        v = d[()]
    ok('eval', '-i', 'V=%s:/V' % f, 'V[3:37, 5:45, 1:29] * 1', '-o', o + ':/W', '--chunks',
       '10,10,28')
    w, _, _ = read(o, 'W')
    assert np.array_equal(w, v[3:37, 5:45, 1:29])


def test_svd_reports_each_output_with_its_file(tmp):
    """`cask svd` names every output with its own file: U and V^T in other
    files than S were reported as S's file ('wrote s.h5:/S, /U, /VT')."""
    f = os.path.join(tmp, 'a.h5')
    write(f, 'A', tall(300, 5))
    s, u = os.path.join(tmp, 's.h5'), os.path.join(tmp, 'u.h5')
    for extra in ((), ('-k', 2)):
        rc, _, err = run('svd', f + ':/A', '--s', s + ':/S', '--u', u + ':/g/U', '--vt',
                         s + ':/VT', '--overwrite', *extra)
        assert rc == 0, err
        assert 'wrote %s:/S, %s:/g/U, %s:/VT' % (s, u, s) in err, err
    with h5py.File(u, 'r') as h:
        assert h['g/U'].shape == (300, 2)


def test_products_of_column_chunked_a_under_a_small_budget(tmp):
    """A @ B streams row blocks of A: a block was A's whole row chunk, so an
    A chunked by columns, (m, 1), made one block of the whole matrix
    (20,000 x 30: 10 MiB with its result), refused under budgets that hold
    a few thousand rows; and the randomized SVD, whose sketch A Omega is
    such a product, with it.  Now a row chunk too tall for the budget is
    cut in equal blocks.  Checked against NumPy's product and singular
    values (decaying spectrum: rank-5 sketch exact to rounding)."""
    m, n = 20000, 30
    s = np.geomspace(1, 1e-12, n)
    a = with_spectrum(m, n, s)
    bm = RNG.standard_normal((n, 15))
    f = os.path.join(tmp, 'a.h5')
    write(f, 'A', a, chunks=(m, 1))
    write(f, 'B', bm)
    o = os.path.join(tmp, 'o.h5')
    for mem in ('1M', '4M'):
        ok('eval', '-i', 'A=' + f + ':/A', '-i', 'B=' + f + ':/B', 'A @ B',
           '-o', o + ':/y' + mem, '--memory', mem)
        y, _, _ = read(o, 'y' + mem)
        ref = a @ bm
        # m x n times n x k: n * eps * sum |a_ij b_jk| bounds any order
        assert np.abs(y - ref).max() <= n * EPS * (np.abs(a) @ np.abs(bm)).max()
        ok('svd', f + ':/A', '-k', '5', '--s', o + ':/S' + mem, '--u', o + ':/U' + mem,
           '--memory', mem)
        got, _, _ = read(o, 'S' + mem)
        assert np.abs(got - s[:5]).max() <= 1e-12 * s[0]
        uu, _, _ = read(o, 'U' + mem)
        assert np.abs(uu.T @ uu - np.eye(5)).max() <= 30 * EPS * np.sqrt(m)

    # Compressed column chunks decode whole: a block that fits the budget
    # whole is not cut (each cut read all of A once more: 4.6 -> 13.7 MiB
    # at --memory 12M).  --stats' bytes read are A's, once, and B's.
    with h5py.File(f, 'a') as h:
        h.create_dataset('Z', data=a, chunks=(m, 1), compression='gzip')
    for mem in ('12M', '16M'):
        rc, _, err = run('eval', '-i', 'A=' + f + ':/Z', '-i', 'B=' + f + ':/B', 'A @ B',
                         '-o', o + ':/z' + mem, '--memory', mem, '--threads', 1, '--stats')
        assert rc == 0, err
        got = int(re.search(r'read .*\((\d+) bytes\)', err).group(1))
        assert got <= a.nbytes + bm.nbytes + 4096, (mem, got, a.nbytes)
        y, _, _ = read(o, 'z' + mem)
        assert np.abs(y - a @ bm).max() <= n * EPS * (np.abs(a) @ np.abs(bm)).max()


def test_transposed_products_with_many_row_blocks(tmp):
    """A^T B and A^T A sum one n x k partial per row block in a tree of
    fan-in 8, and the scheduler's post-order holds up to 7 finished
    partials per level: with hundreds of blocks and an 80 KB product (a
    thirteenth of a 1 MiB budget, the documented limit being an eighth) the
    tree needed 1.7 MiB and was refused.  Now a leaf sums several blocks
    when the tree would not fit.  A wide A chunked by rows, (1, n), made
    one block per row (the 2048-row block was cut back to the chunk), so
    the randomized SVD's A^T (A X) held 9 partials of n x (k + p) and
    failed at 64 MiB."""
    m, n = 20000, 100
    a = RNG.standard_normal((m, n))
    b = RNG.standard_normal((m, n))
    f = os.path.join(tmp, 'a.h5')
    write(f, 'A', a, chunks=(1000, n))
    write(f, 'B', b, chunks=(1000, n))
    o = os.path.join(tmp, 'o.h5')
    for mem in ('640K', '1M'):
        ok('eval', '-i', 'A=' + f + ':/A', '-i', 'B=' + f + ':/B', 'A.T @ B',
           '-o', o + ':/p' + mem, '--memory', mem)
        ok('eval', '-i', 'A=' + f + ':/A', 'A.T @ A', '-o', o + ':/g' + mem, '--memory', mem)
        p, _, _ = read(o, 'p' + mem)
        g, _, _ = read(o, 'g' + mem)
        assert np.abs(p - a.T @ b).max() <= m * EPS * (np.abs(a).T @ np.abs(b)).max()
        assert np.abs(g - a.T @ a).max() <= m * EPS * (np.abs(a).T @ np.abs(a)).max()
    # wide, one row per chunk: A^T (A X) with X 50,000 x 20 (8 MB partials)
    w = RNG.standard_normal((20, 50000))
    write(f, 'W', w, chunks=(1, 50000))
    ok('svd', f + ':/W', '-k', '20', '--s', o + ':/S', '--u', o + ':/U', '--vt', o + ':/VT',
       '--memory', '64M')
    s, _, _ = read(o, 'S')
    u, _, _ = read(o, 'U')
    vt, _, _ = read(o, 'VT')
    sr = np.linalg.svd(w, compute_uv=False)
    assert np.abs(s - sr).max() <= 1e-12 * sr[0]  # k = m: the sketch is exact
    assert np.abs((u * s) @ vt - w).max() <= 1e-12 * sr[0]


def test_randomized_svd_wide_at_the_budget_of_its_partials(tmp):
    """svd -k of a wide A kept its n x (k + p) matrices in memory when 3 of
    them fitted the budget, but A^T B reduces them in partials that must
    fit an eighth of it: 1000 x 3000 at -k 100 (3000 x 110, 2.6 MB) under
    --memory 16M passed the first test and failed on the second ('the
    3000 x 110 product A^T B ... must fit an eighth of the budget'), where
    the route through A^T (its m x (k + p) of 0.9 MB) fits.  Rank 100
    exactly, so S is NumPy's to rounding and U^T A V = diag(S)."""
    m, n, r = 1000, 3000, 100
    sv = np.geomspace(10, 0.1, r)
    a = with_spectrum(m, n, sv)
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'A', a, chunks=(100, n))
    ok('svd', f + ':/A', '-k', r, '--s', o + ':/S', '--u', o + ':/U', '--vt', o + ':/VT',
       '--memory', '16M')
    s, _, _ = read(o, 'S')
    uu, _, _ = read(o, 'U')
    vt, _, _ = read(o, 'VT')
    assert np.abs(s - sv).max() <= 1e-12 * sv[0]
    assert np.abs(uu.T @ a @ vt.T - np.diag(s)).max() <= 1e-12 * sv[0]
    # Below what the partials need either way: the up-front refusal.
    rc, _, err = run('svd', f + ':/A', '-k', r, '--s', o + ':/S2', '--memory', '4M')
    assert rc == 1 and 'raise --memory' in err, err


def test_product_of_short_rows_is_not_grouped_past_the_budget(tmp):
    """Small output chunks are grouped into tasks of about 1 MiB of output,
    but a row of A @ B reads a whole row of A: 200 x 20,000 A chunked one
    row a chunk, times a 20,000 x 3 B, made one task of all 200 rows
    (4.8 KB of result, 32 MB of A): 'store-chunk needs 32.0 MiB' at
    --memory 2M..16M, and the same for sum(A @ B).  Grouping is now undone
    when a grouped block would need over a quarter of the budget."""
    a = RNG.standard_normal((200, 20000))
    bm = RNG.standard_normal((20000, 3))
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'A', a, chunks=(1, 20000))
    write(f, 'B', bm)
    ref = a @ bm
    tol = 20000 * EPS * (np.abs(a) @ np.abs(bm)).max()
    ok('eval', '-i', 'A=' + f + ':/A', '-i', 'B=' + f + ':/B', 'A @ B', '-o', o + ':/y',
       '--memory', '4M')
    y, _, _ = read(o, 'y')
    assert np.abs(y - ref).max() <= tol
    out = ok('eval', '-i', 'A=' + f + ':/A', '-i', 'B=' + f + ':/B', 'sum(A @ B, axis=0)',
             '--memory', '4M')
    got = np.array([float(v) for v in out.split()])
    assert np.abs(got - ref.sum(axis=0)).max() <= 200 * tol


def test_randomized_svd_default_sketch_has_20_columns(tmp):
    """By default the sketch is max(k + 10, 20) columns wide, as dask's
    svd_compressed (compression_level): -k 1 sketched 11 columns, and its
    top singular value was ~1e6 times further from exact than dask's.  A
    rank-20 matrix with a flat spectrum and no power iteration shows it: a
    20-column sketch spans its range (S[0] exact to rounding), 11 columns
    cannot.  An explicit --oversample still gives exactly k + p columns."""
    m, n, r = 3000, 60, 20
    sv = np.linspace(1.0, 0.5, r)
    a = with_spectrum(m, n, sv)
    f = os.path.join(tmp, 'a.h5')
    o = os.path.join(tmp, 'o.h5')
    write(f, 'A', a, chunks=(500, n))
    exact = np.linalg.svd(a, compute_uv=False)[0]
    ok('svd', f + ':/A', '-k', 1, '--power-iters', 0, '--s', o + ':/S')
    s, _, _ = read(o, 'S')
    assert abs(s[0] - exact) <= 1e-12 * exact, (s[0], exact)
    ok('svd', f + ':/A', '-k', 1, '--power-iters', 0, '--oversample', 10, '--s', o + ':/S11',
       '--overwrite')
    s11, _, _ = read(o, 'S11')
    assert abs(s11[0] - exact) > 1e-6 * exact, (s11[0], exact)
    # Wide: through the transpose, the same default.
    write(f, 'W', a.T.copy(), chunks=(n, 500))
    ok('svd', f + ':/W', '-k', 1, '--power-iters', 0, '--s', o + ':/SW')
    sw, _, _ = read(o, 'SW')
    assert abs(sw[0] - exact) <= 1e-12 * exact, (sw[0], exact)
