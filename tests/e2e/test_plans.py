"""Randomized differential test of `cask eval` against NumPy and SciPy, aimed
at the evaluation plan (the scratch a stage reserves from a dry run of one
region) and the paths the run takes in other regions.

Random expressions over small inputs of random dtypes, chunkings and
filters: elementwise trees with broadcasting, casts, where, concatenate and
stack of computed operands, strided / negative / integer slices, transposes,
reshapes adding unit axes, reductions (also of arrays with zero-length
axes), filters and products.  Each runs with one task per chunk
(CASK_TASK_BYTES=0) or grouped tasks, budgets down to 1 MiB, 1-3 threads and
random output chunks, and is compared with NumPy on the whole array
(exactly for integers; float32 anywhere allows 1e-4, float64 1e-9: the
summation orders differ).

Run with: CASK=build/src/cli/cask /usr/bin/python3 tests/e2e/run.py tests/e2e/test_plans.py
CASK_PLANS_SEEDS=FIRST:COUNT runs other seeds (the default is fixed).
"""
import os
import subprocess
import warnings

import h5py
import numpy as np
import scipy.ndimage

CASK = os.environ.get('CASK', 'cask')
MODE2 = False


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.inputs = {}  # name -> (array, chunks, gzip)

    def new_input(self, shape, dtype=None):
        r = self.rng
        if dtype is None:
            dtype = r.choice(['f8', 'f4', 'i4', 'i8', 'f8', 'f4'])
        if dtype[0] == 'f':
            a = r.standard_normal(shape).astype(dtype)
        else:
            a = r.integers(-9, 10, shape).astype(dtype)
        chunks = tuple(int(r.integers(1, max(d, 1) + 1)) for d in shape) if len(shape) else None
        if chunks is not None and any(d == 0 for d in shape):
            chunks = None
        gz = bool(r.random() < 0.25) and chunks is not None
        name = 'd%d' % len(self.inputs)
        self.inputs[name] = (a, chunks, gz)
        return name

    def leaf(self, shape):
        r = self.rng
        nd = len(shape)
        k = r.integers(0, 4)
        if k == 0 or nd == 0:
            return self.new_input(shape)
        if k == 1:
            # slice with steps (possibly negative) of a larger input
            big, idx = [], []
            for d in shape:
                s = int(r.choice([1, 1, 2, 3, -1, -2]))
                extra = int(r.integers(0, 4))
                if d == 0:
                    n = int(r.integers(0, 4))
                    big.append(n)
                    idx.append('%d:%d' % (n, n) if s > 0 else ':0:-1' if n == 0 else '0:0')
                    continue
                span = (d - 1) * abs(s) + 1
                n = span + extra
                big.append(n)
                off = int(r.integers(0, extra + 1))
                if s > 0:
                    idx.append('%d:%d:%d' % (off, off + span, s))
                else:
                    hi = n - 1 - off
                    lo = hi - span
                    idx.append('%d:%s:%d' % (hi, str(lo) if lo >= 0 else '', s))
            name = self.new_input(tuple(big))
            return '%s[%s]' % (name, ', '.join(idx))
        if k == 2 and nd >= 2:
            perm = list(r.permutation(nd))
            inv = [0] * nd
            src = tuple(shape[perm.index(j)] for j in range(nd))
            name = self.new_input(src)
            return 'transpose(%s, (%s,))' % (name, ', '.join(str(p) for p in perm))
        if k == 3:
            # integer index into a larger input (adds then drops an axis)
            ax = int(r.integers(0, nd + 1))
            n = int(r.integers(1, 4))
            big = list(shape[:ax]) + [n] + list(shape[ax:])
            name = self.new_input(tuple(big))
            idx = [':'] * (nd + 1)
            idx[ax] = str(int(r.integers(-n, n)))
            return '%s[%s]' % (name, ', '.join(idx))
        return self.new_input(shape)

    def gen(self, shape, depth):
        r = self.rng
        nd = len(shape)
        if depth <= 0 or r.random() < 0.2:
            return self.leaf(shape)
        if MODE2 and r.random() < 0.3:
            return self.gen2(shape, depth - 1)
        k = int(r.integers(0, 10))
        if k == 0:
            op = r.choice(['+', '-', '*'])
            return '(%s %s %s)' % (self.gen(shape, depth - 1), op, self.gen(shape, depth - 1))
        if k == 1 and nd >= 1:
            # broadcast: lower rank, or a unit axis
            if r.random() < 0.5:
                m = int(r.integers(0, nd))
                sub = shape[m:]
            else:
                sub = tuple(1 if r.random() < 0.5 else d for d in shape)
            return '(%s + %s)' % (self.gen(shape, depth - 1), self.gen(sub, depth - 1))
        if k == 2:
            t = r.choice(["'f4'", "'f8'", "'i8'", "'i4'"])
            return 'astype(%s, %s)' % (self.gen(shape, depth - 1), t)
        if k == 3:
            return 'where(%s > 0, %s, %s)' % (self.gen(shape, depth - 1),
                                              self.gen(shape, depth - 1),
                                              self.gen(shape, depth - 1))
        if k == 4 and nd >= 1:
            ax = int(r.integers(0, nd))
            d = shape[ax]
            nparts = int(r.integers(2, 4))
            cuts = sorted(int(r.integers(0, d + 1)) for _ in range(nparts - 1))
            sizes = [b - a for a, b in zip([0] + cuts, cuts + [d])]
            parts = []
            for sz in sizes:
                s = list(shape)
                s[ax] = sz
                parts.append(self.gen(tuple(s), depth - 1))
            return 'concatenate((%s), axis=%d)' % (', '.join(parts), ax)
        if k == 5 and nd >= 1 and 1 <= shape[0] <= 3 or (k == 5 and nd >= 1 and shape[-1] <= 3 and shape[-1] >= 1):
            ax = 0 if 1 <= shape[0] <= 3 else nd - 1
            sub = tuple(shape[:ax]) + tuple(shape[ax + 1:])
            parts = [self.gen(sub, depth - 1) for _ in range(shape[ax])]
            return 'stack((%s,), axis=%d)' % (', '.join(parts), ax)
        if k == 6 and nd < 3:
            # reduction over an added axis
            ax = int(r.integers(0, nd + 1))
            n = int(r.integers(1, 6))
            big = tuple(shape[:ax]) + (n,) + tuple(shape[ax:])
            op = r.choice(['sum', 'max', 'min', 'mean'])
            return '%s(%s, axis=%d)' % (op, self.gen(big, depth - 1), ax)
        if k == 7 and nd >= 1:
            inner = self.gen(shape, depth - 1)
            return '(%s - mean(%s, axis=0))' % (inner, inner)
        if k == 8:
            return 'abs(%s)' % self.gen(shape, depth - 1)
        if k == 9 and nd >= 1:
            # a view of a computed array: reverse or step one axis
            ax = int(r.integers(0, nd))
            d = shape[ax]
            s = int(r.choice([-1, 2, -2]))
            span = max(0, (d - 1) * abs(s) + 1) if d > 0 else 0
            big = list(shape)
            big[ax] = span
            idx = [':'] * nd
            idx[ax] = '::%d' % s
            return '(%s)[%s]' % (self.gen(tuple(big), depth - 1), ', '.join(idx))
        return self.leaf(shape)

    def gen2(self, shape, depth):
        """gen plus shape nodes that need care: reshape, filters, matmul."""
        r = self.rng
        nd = len(shape)
        k = int(r.integers(0, 8))
        if k == 0 and 1 in shape:
            ax = shape.index(1)
            sub = shape[:ax] + shape[ax + 1:]
            return 'reshape(%s, (%s,))' % (self.gen2(sub, depth - 1) if depth > 0 else self.gen(sub, 0),
                                         ', '.join(str(d) for d in shape))
        if k == 1 and nd >= 1 and min(shape) > 0 and depth > 0:
            f = r.choice(['uniform(%s, size=3)', 'gaussian(%s, sigma=1)',
                          "uniform(%s, size=2, mode='wrap')", "median(%s, size=3, mode='nearest')"])
            inner = self.gen(shape, depth - 1)
            return f % ('astype(%s, \'f8\')' % inner)
        if k == 2 and nd == 2 and depth > 0:
            kk = int(r.integers(1, 5))
            return '(astype(%s, \'f8\') @ astype(%s, \'f8\'))' % (
                self.gen((shape[0], kk), depth - 1), self.gen((kk, shape[1]), depth - 1))
        return self.gen(shape, depth)


def np_ns(inputs):
    ns = {'np': np, 'sum': np.sum, 'max': np.max, 'min': np.min, 'mean': np.mean,
          'abs': np.abs, 'where': np.where, 'concatenate': np.concatenate,
          'stack': np.stack, 'transpose': np.transpose,
          'astype': lambda x, t: np.asarray(x).astype(t),
          'reshape': np.reshape,
          'uniform': scipy.ndimage.uniform_filter, 'gaussian': scipy.ndimage.gaussian_filter,
          'median': scipy.ndimage.median_filter}
    for n, (a, c, g) in inputs.items():
        ns[n] = a
    return ns


def one(seed, tmp):
    rng = np.random.default_rng(seed)
    g = Gen(rng)
    nd = int(rng.integers(1, 4))
    shape = tuple(int(rng.integers(0 if rng.random() < 0.1 else 1, 14)) for _ in range(nd))
    expr = (g.gen2 if MODE2 else g.gen)(shape, int(rng.integers(1, 4)))
    if rng.random() < 0.25:
        op = rng.choice(['sum', 'max', 'min'])
        if len(shape) > 1 and rng.random() < 0.6:
            expr = '%s(%s, axis=%d)' % (op, expr, int(rng.integers(0, len(shape))))
        else:
            expr = '%s(%s)' % (op, expr)
    try:
        with np.errstate(all='ignore'), warnings.catch_warnings():
            warnings.simplefilter('ignore')
            ref = np.asarray(eval(expr, np_ns(g.inputs)))
    except ValueError:
        return None  # min/max over an empty axis: an error in both
    path = os.path.join(tmp, 'in%d.h5' % seed)
    with h5py.File(path, 'w') as f:
        for n, (a, c, gz) in g.inputs.items():
            f.create_dataset(n, data=a, chunks=c, compression='gzip' if gz else None)
    out = os.path.join(tmp, 'out%d.h5' % seed)
    args = [CASK, 'eval', '-q']
    for n in g.inputs:
        args += ['-i', '%s=%s:/%s' % (n, path, n)]
    args += ['-o', out + ':/r', '--overwrite']
    mem = rng.choice(['1M', '2M', '4M', '64M'])
    args += ['--memory', mem, '--threads', str(int(rng.integers(1, 4)))]
    if ref.ndim > 0 and rng.random() < 0.4:
        ch = [int(rng.integers(1, max(d, 1) + 1)) for d in ref.shape]
        args += ['--chunks', ','.join(str(c) for c in ch)]
    args += ['--', expr]
    env = dict(os.environ)
    env.pop('CASK_MEMORY', None)
    if rng.random() < 0.7:
        env['CASK_TASK_BYTES'] = '0'
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    cmd = ' '.join(a if ' ' not in a else repr(a) for a in args[1:])
    if env.get('CASK_TASK_BYTES'):
        cmd = 'CASK_TASK_BYTES=0 cask ' + cmd
    desc = 'seed %d: %s\n  shape %s\n  %s' % (seed, expr, ref.shape, cmd)
    if p.returncode != 0:
        if 'budget' in p.stderr and 'exhausted' not in p.stderr:
            return None  # refused up front by the budget: legitimate
        return 'FAIL rc=%d %s\n  %s' % (p.returncode, desc, p.stderr.strip())
    with h5py.File(out, 'r') as f:
        got = f['r'][()]
    os.unlink(path)
    os.unlink(out)
    if got.shape != ref.shape:
        return 'FAIL shape %s vs %s %s' % (got.shape, ref.shape, desc)
    if got.dtype != ref.dtype:
        return 'FAIL dtype %s vs %s %s' % (got.dtype, ref.dtype, desc)
    if ref.dtype.kind == 'f':
        f32 = "'f4'" in expr or any(a.dtype == np.float32 for a, c, gz in g.inputs.values())
        tol = 1e-4 if f32 else 1e-9
        if not np.allclose(got, ref, rtol=tol, atol=tol, equal_nan=True):
            return 'FAIL values (max err %g) %s' % (np.nanmax(np.abs(got - ref)), desc)
    elif not np.array_equal(got, ref):
        return 'FAIL values %s' % desc
    return 'ok'


def run_seeds(tmp, first, count, mode2):
    global MODE2
    MODE2 = mode2
    fails = []
    for s in range(first, first + count):
        r = one(s, tmp)
        if r is not None and r != 'ok':
            fails.append(r)
    assert not fails, '%d of %d failed:\n%s' % (len(fails), count, '\n'.join(fails[:5]))


def seeds(default_first, default_count):
    spec = os.environ.get('CASK_PLANS_SEEDS')
    if spec:
        a, b = spec.split(':')
        return int(a), int(b)
    return default_first, default_count


def test_views_concat_broadcast_reductions(tmp):
    run_seeds(tmp, *seeds(0, 80), mode2=False)


def test_with_reshape_filters_products(tmp):
    run_seeds(tmp, *seeds(7000, 60), mode2=True)
