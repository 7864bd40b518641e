"""End-to-end tests of the `cask` command (issue 3): run the binary ($CASK) on
HDF5 files written with h5py and compare with NumPy.

The reference for an expression is NumPy evaluating the same text (the
language is Python syntax with NumPy names), so every expression here is
checked against an independent implementation.  Printed results are checked
twice: the layout exactly (every value replaced by a placeholder, against the
layout the issue prescribes), and the values exactly for data movement and
integer arithmetic, or within a stated tolerance for floating reductions.
Stored results (-o) are read back with h5py and their dtype compared too.

Run with: CASK=build/src/cli/cask /usr/bin/python3 tests/e2e/run.py tests/e2e/test_cli.py
"""
import os
import re
import signal
import subprocess
import time

import h5py
import numpy as np

CASK = os.environ.get('CASK', 'cask')
RNG = np.random.default_rng(20261124)


# ----------------------------------------------------------------- helpers

def run(*args, env=None, timeout=300):
    full_env = dict(os.environ)
    full_env.pop('CASK_MEMORY', None)
    if env:
        full_env.update(env)
    p = subprocess.run([CASK] + [str(a) for a in args], capture_output=True, text=True,
                       env=full_env, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def write_inputs(path, arrays):
    """arrays: name -> ndarray or (ndarray, chunks)."""
    with h5py.File(path, 'a') as f:
        for name, a in arrays.items():
            chunks = None
            if isinstance(a, tuple):
                a, chunks = a
            if name in f:
                del f[name]
            f.create_dataset(name, data=a, chunks=chunks)


def read(path, dset):
    with h5py.File(path, 'r') as f:
        return f[dset][()]


def np_namespace(arrays):
    ns = {n: getattr(np, n) for n in dir(np) if not n.startswith('_')}
    ns.update({'np': np, 'numpy': np, 'abs': np.abs, 'min': np.min, 'max': np.max,
               'round': np.round, 'sum': np.sum, 'all': np.all, 'any': np.any,
               'pi': np.pi, 'e': np.e, 'nan': np.nan, 'inf': np.inf,
               'astype': lambda x, t: np.asarray(x).astype(t)})
    for n, a in arrays.items():
        ns[n] = a[0] if isinstance(a, tuple) else a
    return ns


def np_eval(expr, arrays):
    with np.errstate(all='ignore'):
        return np.asarray(eval(expr, np_namespace(arrays)))


def fmt_value(v, dtype):
    if dtype == np.bool_:
        return 'True' if v else 'False'
    if dtype.kind in 'iu':
        return str(int(v))
    if np.isnan(v):
        return 'nan'
    if np.isinf(v):
        return 'inf' if v > 0 else '-inf'
    return ('%.17g' if dtype == np.float64 else '%.9g') % float(v)


def fmt_array(a):
    """The print format of issue 3, written independently of the C printer."""
    a = np.asarray(a)
    if a.ndim == 0:
        return fmt_value(a[()], a.dtype) + '\n'
    if a.ndim == 1:
        return ''.join(fmt_value(v, a.dtype) + '\n' for v in a)
    rows, cols = a.shape[-2], a.shape[-1]
    nslices = int(np.prod(a.shape[:-2], dtype=np.int64))
    flat = a.reshape(nslices, rows, cols)
    slices = [''.join(' '.join(fmt_value(v, a.dtype) for v in row) + '\n' for row in s)
              for s in flat]
    return '\n'.join(slices)


def layout(text):
    return re.sub(r'[^\s]+', 'v', text)


def parse_values(text, dtype):
    toks = text.split()
    if dtype == np.bool_:
        return np.array([t == 'True' for t in toks], dtype=bool)
    if dtype.kind in 'iu':
        return np.array([int(t) for t in toks], dtype=dtype)
    return np.array([float(t) for t in toks], dtype=dtype)


def ev(tmp, expr, arrays, *extra, env=None):
    path = os.path.join(tmp, 'in.h5')
    write_inputs(path, arrays)
    args = ['eval']
    for n in arrays:
        args += ['-i', '%s=%s:/%s' % (n, path, n)]
    args += list(extra)
    args += ['--', expr] if expr.startswith('-') else [expr]
    return run(*args, env=env)


def check_print(tmp, expr, arrays, rtol=0.0, atol=0.0):
    """Evaluate expr with cask (printed) and NumPy; compare layout and values."""
    want = np_eval(expr, arrays)
    rc, out, err = ev(tmp, expr, arrays)
    assert rc == 0, 'cask eval %r failed (%d): %s' % (expr, rc, err)
    assert layout(out) == layout(fmt_array(want)), \
        '%r: layout differs:\n%r\nwant\n%r' % (expr, out, fmt_array(want))
    got = parse_values(out, want.dtype)
    w = want.reshape(-1)
    if rtol == 0 and atol == 0:
        if want.dtype.kind == 'f':
            same = (got == w) | (np.isnan(got) & np.isnan(w))
            assert same.all(), '%r: got %s want %s' % (expr, got[~same][:5], w[~same][:5])
            # The printed text is exactly NumPy's value in %.17g / %.9g.
            assert out == fmt_array(want), '%r: text differs' % expr
        else:
            assert (got == w).all(), '%r: got %s want %s' % (expr, got[:10], w[:10])
    else:
        assert np.allclose(got, w, rtol=rtol, atol=atol, equal_nan=True), \
            '%r: got %s want %s (max abs diff %g)' % (expr, got[:6], w[:6],
                                                      np.nanmax(np.abs(got - w)))


def check_store(tmp, expr, arrays, rtol=0.0, atol=0.0, extra=(), env=None):
    """Evaluate expr with cask into a dataset; compare dtype, shape and values."""
    want = np_eval(expr, arrays)
    out = os.path.join(tmp, 'out.h5')
    rc, _, err = ev(tmp, expr, arrays, '-o', out + ':/r', '--overwrite', *extra, env=env)
    assert rc == 0, 'cask eval %r -o failed (%d): %s' % (expr, rc, err)
    got = read(out, '/r')
    got = np.asarray(got)
    assert got.shape == want.shape, '%r: shape %s want %s' % (expr, got.shape, want.shape)
    assert got.dtype == want.dtype, '%r: dtype %s want %s' % (expr, got.dtype, want.dtype)
    if rtol == 0 and atol == 0:
        same = (got == want) | (np.isnan(got) & np.isnan(want)) if want.dtype.kind == 'f' \
            else (got == want)
        assert np.all(same), '%r: values differ' % expr
    else:
        assert np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True), \
            '%r: max abs diff %g' % (expr, np.nanmax(np.abs(got - want)))


def float_inputs():
    x = RNG.uniform(-1, 1, (30, 20))
    y = RNG.uniform(-1, 1, (30, 20))
    return {'x': (x, (7, 6)), 'y': (y, (30, 20))}


# ----------------------------------------------------------------- basics

def test_version_and_help():
    rc, out, _ = run('--version')
    assert rc == 0 and re.match(r'^cask \d+\.\d+\.\d+\n$', out), out
    for cmd in ('info', 'create', 'eval'):
        rc, out, err = run(cmd, '--help')
        assert rc == 0, err
        for section in ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXAMPLES',
                        'EXIT STATUS'):
            assert re.search(r'^' + section + r'$', out, re.M), (cmd, section)
        assert '--memory' in out and '--threads' in out, cmd
    rc, out, _ = run('--help')
    assert rc == 0 and 'COMMANDS' in out
    rc, _, err = run()
    assert rc == 2
    rc, _, err = run('evl')
    assert rc == 2 and "did you mean 'eval'" in err, err
    rc, _, err = run('eval', '--outptu', 'x.h5:/y', '1')
    assert rc == 2 and "did you mean '--output'" in err, err


def test_literal_expressions(tmp):
    # No inputs: Python literals evaluate to 0-d arrays.
    for expr, want in [('1 + 2 * 3', '7\n'), ('-2**2', '-4\n'), ('(-2)**2', '4\n'),
                       ('2.0**-1', '0.5\n'), ('2**3**2', '512\n'), ('7 // -2', '-4\n'),
                       ('7 % -2', '-1\n'), ('-7.5 // 2', '-4\n'), ('1 < 2', 'True\n'),
                       ('True & False', 'False\n'), ('~True', 'False\n'), ('~5', '-6\n'),
                       ('6 ^ 3', '5\n'), ('6 | 3', '7\n'), ('6 & 3', '2\n'),
                       ('pi', '3.1415926535897931\n'), ('e', '2.7182818284590451\n'),
                       ('nan', 'nan\n'), ('-inf', '-inf\n'), ('0.1', '0.10000000000000001\n'),
                       ('1/3', '0.33333333333333331\n'), ('sqrt(2.0)', '1.4142135623730951\n'),
                       ('-9223372036854775808', '-9223372036854775808\n'),
                       ('astype(0.1, "f4")', '0.100000001\n')]:
        rc, out, err = run('eval', '--', expr)
        assert rc == 0, (expr, err)
        assert out == want, (expr, out, want)


def test_python_int_literals_numpy2(tmp):
    # NumPy 2 (NEP 50) semantics of Python int literals next to integer
    # arrays.  The machine's NumPy 1.24 still does value-based casting (its
    # a + 300 is int16), so the expectations are written out: comparisons are
    # checked against exact Python int arithmetic; the errors are NumPy 2's
    # OverflowError / ValueError texts.
    arrays = {'u': np.array([0, 1, 5, 255], np.uint8),
              'a': np.array([-128, 0, 1, 127], np.int8),
              'v': np.array([0, 1, 2**64 - 1], np.uint64),
              'q': np.array([1, 2, -1], np.int32),
              'qp': np.array([1, 2, 3], np.int32),
              'b': np.array([True, False]),
              'f': np.array([1.5, 2], np.float32)}
    ops = {'<': lambda x, y: x < y, '<=': lambda x, y: x <= y, '>': lambda x, y: x > y,
           '>=': lambda x, y: x >= y, '==': lambda x, y: x == y, '!=': lambda x, y: x != y}
    cmp_cases = [('u', '<', '-1', False), ('u', '==', '256', False), ('a', '<', '300', False),
                 ('v', '==', '-1', False), ('v', '<', '2**64', False),
                 ('v', '<', '2**70', False), ('v', '>', '2**70', True),
                 ('a', '>', '-2**70', False), ('v', '==', '18446744073709551615', False),
                 ('v', '!=', '2**64 - 1', False), ('a', '!=', '-129', False),
                 ('u', '>=', '256', False), ('u', '<=', '-1', True), ('b', '==', '2**63', False),
                 ('a', '<=', '2**63', False)]
    for name, op, lit, lit_left in cmp_cases:
        expr = '%s %s %s' % ((lit, op, name) if lit_left else (name, op, lit))
        k = eval(lit)
        want = [ops[op](k, int(x)) if lit_left else ops[op](int(x), k) for x in arrays[name]]
        rc, out, err = ev(tmp, expr, arrays)
        assert rc == 0, (expr, err)
        assert out == ''.join('%s\n' % w for w in want), (expr, out, want)
    for expr, want in [('np.less(u, -1)', 'False\nFalse\nFalse\nFalse\n'),
                       ('v + 18446744073709551615', '18446744073709551615\n0\n'
                                                    '18446744073709551614\n'),
                       # numpy/_core/_methods.py _clip (NumPy >= 2.1) drops a Python
                       # int bound beyond the dtype's range on its own side.
                       ('clip(u, -1, 1)', '0\n1\n1\n1\n'),
                       ('clip(u, -2**70, 2**70)', '0\n1\n5\n255\n'),
                       ('u.clip(1, 300)', '1\n1\n5\n255\n'),
                       ('18446744073709551615', '18446744073709551615\n'),
                       ('q ** 2', '1\n4\n1\n')]:
        rc, out, err = ev(tmp, expr, arrays)
        assert rc == 0, (expr, err)
        assert out == want, (expr, out, want)
    for expr, msg in [('a + 300', 'Python integer 300 out of bounds for int8'),
                      ('a + 2**70', 'Python integer 1180591620717411303424 out of bounds for '
                                    'int8'),
                      ('u - (-1)', 'Python integer -1 out of bounds for uint8'),
                      ('u * 256', 'Python integer 256 out of bounds for uint8'),
                      ('minimum(u, -1)', 'Python integer -1 out of bounds for uint8'),
                      ('where(a > 0, a, 300)', 'Python integer 300 out of bounds for int8'),
                      ('clip(u, 0, -1)', 'Python integer -1 out of bounds for uint8'),
                      ('b + 2**63', 'Python integer 9223372036854775808 out of bounds for int64'),
                      ('q ** -1', 'Integers to negative integer powers are not allowed.'),
                      ('u ** -1', 'Python integer -1 out of bounds for uint8'),
                      ('0 ** -1', 'ZeroDivisionError'), ('7 // 0', 'ZeroDivisionError'),
                      ('2**64', 'outside the range of int64 and uint64')]:
        rc, out, err = ev(tmp, expr, arrays)
        assert rc == 2 and msg in err and out == '', (expr, rc, out, err)
    # A negative exponent in the data: NumPy's ValueError at run time; the
    # message names the inputs (the library's own names no file).
    in_path = os.path.join(tmp, 'in.h5')
    for expr in ['2 ** q', 'qp ** q', 'power(qp, q)']:
        rc, out, err = ev(tmp, expr, arrays)
        assert rc == 1 and 'Integers to negative integer powers are not allowed.' in err \
            and out == '', (expr, rc, out, err)
        assert 'q=%s:/q' % in_path in err, (expr, err)
    # Literal-only arithmetic is Python's: an int to a negative power is a float.
    for expr, want in [('2 ** -1', '0.5\n'), ('2 ** 64 - 1', '18446744073709551615\n'),
                       ('-2**63 // -1', '9223372036854775808\n'), ('10**20 // 10**19', '10\n')]:
        rc, out, err = run('eval', '--', expr)
        assert rc == 0 and out == want, (expr, out, err)
    # round keeps an integer dtype; square(bool) runs int8's loop.
    out_path = os.path.join(tmp, 'o.h5')
    for expr, dtype, want in [('round(q)', np.int32, [1, 2, -1]),
                              ('square(b)', np.int8, [1, 0])]:
        rc, out, err = ev(tmp, expr, arrays, '-o', out_path + ':/r', '--overwrite')
        assert rc == 0, (expr, err)
        got = read(out_path, '/r')
        assert got.dtype == dtype and got.tolist() == want, (expr, got.dtype, got)


# ----------------------------------------------------------------- elementwise

ELEMENTWISE = [
    'x + 1', 'x - y', 'x * y', 'x / y', 'x // 0.3', 'x % 0.3', 'x ** 2', 'abs(x) ** 0.5',
    '-x', '+x', '2 * x + 1 > 0.5', 'x < y', 'x <= y', 'x >= y', 'x == x', 'x != y',
    '(x > 0) & (y < 0)', '(x > 0) | (y < 0)', '(x > 0) ^ (y < 0)', '~(x > 0)',
    'abs(x)', 'absolute(x)', 'sqrt(abs(x))', 'exp(x)', 'log(abs(x) + 1)', 'log2(abs(x) + 1)',
    'log10(abs(x) + 1)', 'log1p(abs(x))', 'expm1(x)', 'sin(x)', 'cos(x)', 'tan(x)',
    'arcsin(x)', 'arccos(x)', 'arctan(x)', 'sinh(x)', 'cosh(x)', 'tanh(x)', 'floor(x * 10)',
    'ceil(x * 10)', 'rint(x * 10)', 'round(x * 10)', 'sign(x)', 'isnan(x)', 'isinf(x / 0.0)',
    'isfinite(x)', 'minimum(x, y)', 'maximum(x, y)', 'arctan2(x, y)', 'hypot(x, y)',
    'add(x, y)', 'subtract(x, y)', 'multiply(x, y)', 'divide(x, y)', 'true_divide(x, y)',
    'floor_divide(x, y)', 'mod(x, y)', 'remainder(x, y)', 'power(abs(x), y)', 'negative(x)',
    'square(x)', 'less(x, y)', 'greater_equal(x, y)', 'equal(x, y)', 'not_equal(x, y)',
    'logical_and(x > 0, y > 0)', 'logical_or(x > 0, y)', 'logical_xor(x, y > 0)',
    'logical_not(x > 0)', 'where(x > 0, x, y)', 'where(x > y, 1.0, 0.0)',
    'clip(x, -0.5, 0.5)', 'clip(x, None, 0.25)', 'x.clip(0, 1)', 'astype(x * 100, "i4")',
    'x.astype("f4")', 'np.sqrt(abs(x))', 'numpy.maximum(x, 0)', 'x * pi + e',
]


def test_eval_elementwise_float64(tmp):
    arrays = float_inputs()
    for expr in ELEMENTWISE:
        # Transcendental functions: libm vs NumPy's SIMD versions may differ in
        # the last bit, so compare within 4 ulp; the rest exactly.
        transcendental = re.search(r'exp|log|sin|cos|tan|arc|hypot|sqrt|\*\*|power|pi',
                                   expr)
        if transcendental:
            check_store(tmp, expr, arrays, rtol=4 * 2.2e-16, atol=1e-300)
        else:
            check_store(tmp, expr, arrays)


def test_eval_round_decimals(tmp):
    """np.round(a, decimals) as NumPy computes it: rint(a * 10^d) / 10^d
    (d < 0: rint(a / 10^-d) * 10^-d) in a's float dtype, integers through
    float64 and back for d < 0, as they are for d >= 0; ties to even; once
    refused for any d != 0."""
    x = RNG.standard_normal(300) * 10.0 ** RNG.integers(-5, 8, 300)
    x[:6] = [2.5, -0.125, 1.005, 2.675, 1.25e300, -0.0]
    arrays = {'x': (x, (64,)), 'f': ((x[:200] % 1e4).astype('f4'), (50,)),
              'i': (RNG.integers(-10**6, 10**6, 200).astype('i4'), (64,)),
              'u': (RNG.integers(0, 256, 200).astype('u1'), (64,))}
    with np.errstate(over='ignore'):
        for v in 'xfiu':
            for d in (-3, -1, 1, 2, 7, 30):
                check_store(tmp, 'round(%s, %d)' % (v, d), arrays)
            check_store(tmp, '%s.round(decimals=2)' % v, arrays)
            check_store(tmp, 'around(%s, -2)' % v, arrays)
    rc, out, err = ev(tmp, 'round(x > 0, 1)', arrays)
    assert rc == 2 and 'bool' in err, (rc, err)


def test_eval_integer_ops(tmp):
    a = RNG.integers(-50, 50, (12, 9)).astype(np.int32)
    b = RNG.integers(1, 7, (12, 9)).astype(np.int32)
    u = RNG.integers(0, 200, (12, 9)).astype(np.uint8)
    arrays = {'a': (a, (5, 4)), 'b': b, 'u': (u, (12, 2))}
    for expr in ['a + b', 'a - b', 'a * b', 'a // b', 'a % b', '-a // b', 'a ** 2', 'a & 5',
                 'a | 2', 'a ^ 7', '~a', '-a', 'abs(a)', 'a / b', 'a + 1', 'a * 2.5',
                 'a > b', 'minimum(a, b)', 'where(a > 0, a, b)', 'sign(a)', 'u + u',
                 'u // 3', '~u', 'u & 0x0f', 'a + u', 'astype(a, "i8") * b',
                 'sum(a)', 'sum(u)', 'prod(b[:3, :3])', 'mean(a, axis=0)',
                 'sum(a, axis=1)', 'max(u, axis=0)', 'argmax(a)', 'count_nonzero(a > 0)',
                 'any(a > 40)', 'all(a > -100, axis=1)']:
        # mean: NumPy divides the exact sum; cask merges partial means, which
        # may differ by a few ulps of the data's magnitude (|a| <= 50):
        # 4 * eps * 50 ~ 4.4e-14.
        tol = 4 * 2.2e-16 * 50 if 'mean' in expr else 0.0
        check_store(tmp, expr, arrays, atol=tol)
        check_print(tmp, expr, arrays, atol=tol)


def test_eval_broadcasting(tmp):
    x = RNG.standard_normal((4, 1, 3))
    y = RNG.standard_normal((5, 1))
    z = RNG.standard_normal(3).astype(np.float32)
    arrays = {'x': (x, (2, 1, 2)), 'y': y, 'z': z}
    for expr in ['x + y', 'x * y - z', 'where(x > 0, y, z)', 'z * 2.0', 'z + y',
                 'maximum(x, z)', 'x[..., 0] + y[:, 0]', 'x - mean(x, axis=0)']:
        check_store(tmp, expr, arrays, rtol=1e-15, atol=1e-15)
    # NEP 50: a float32 array times a Python float stays float32.
    check_store(tmp, 'z * 2.0', arrays)
    check_store(tmp, 'z + 1', arrays)


# ----------------------------------------------------------------- reductions

REDUCTIONS = [
    'sum(x)', 'sum(x, axis=0)', 'sum(x, axis=-1)', 'sum(x, axis=(0, 2))',
    'sum(x, axis=(0, 1, 2), keepdims=True)', 'sum(x, axis=1, keepdims=True)',
    'prod(x[:2, :3], axis=0)', 'mean(x)', 'mean(x, axis=(1, 2))', 'var(x)',
    'var(x, axis=0, ddof=1)', 'std(x, axis=-2)', 'std(x, ddof=1)', 'min(x)',
    'min(x, axis=2)', 'max(x, axis=(0, 1))', 'amin(x, axis=0)', 'amax(x)', 'argmin(x)',
    'argmax(x)', 'argmin(x, axis=1)', 'argmax(x, axis=-1)', 'any(x > 2)', 'all(x > -5)',
    'any(x > 1, axis=0)', 'all(x > -1, axis=(1, 2))', 'count_nonzero(x > 0)',
    'count_nonzero(x > 0, axis=1)', 'nansum(w)', 'nansum(w, axis=0)', 'nanmean(w, axis=1)',
    'nanvar(w)', 'nanstd(w, axis=0, ddof=1)', 'var(x, axis=1, ddof=-1)', 'nanstd(w, ddof=-2)', 'nanmin(w, axis=2)', 'nanmax(w)',
    'nanprod(w[:2], axis=(1, 2))', 'x.sum(axis=0)', 'x.mean()', 'x.max(1)',
    'x.std(axis=(0, 1), keepdims=True)', 'x - mean(x, axis=0)',
    '(x - mean(x, axis=0)) / std(x, axis=0)', 'x - x.mean(axis=(1, 2), keepdims=True)',
    'sum(x * x, axis=0) - 2 * sum(x, axis=0)', 'mean(sqrt(abs(x)), axis=1)[::-1, 2]',
]


def test_eval_reductions(tmp):
    x = RNG.standard_normal((17, 11, 6))
    w = x.copy()
    w[RNG.random(w.shape) < 0.2] = np.nan
    arrays = {'x': (x, (5, 4, 6)), 'w': (w, (17, 3, 2))}
    # Sums of n = 1122 values of size ~1 in any order differ by at most
    # ~n * eps * sum|x| ~ 3e-10; products of 6 values stay exact-ish.
    for expr in REDUCTIONS:
        check_store(tmp, expr, arrays, rtol=1e-12, atol=1e-10)
    for expr in ['sum(x, axis=(0, 2))', 'argmax(x, axis=-1)', 'sum(x, axis=1, keepdims=True)',
                 'mean(x)', 'count_nonzero(x > 0, axis=1)', 'any(x > 1, axis=0)']:
        check_print(tmp, expr, arrays, rtol=1e-12, atol=1e-10)


def test_eval_centering_streams(tmp):
    """x - mean(x, axis=0) on a dataset bigger than the budget, stored."""
    x = RNG.standard_normal((20000, 300))  # 46 MiB, 1.1 MiB chunks, 16 MiB budget
    arrays = {'x': (x, (500, 300))}
    out = os.path.join(tmp, 'out.h5')
    rc, _, err = ev(tmp, 'x - mean(x, axis=0)', arrays, '-o', out + ':/c', '--memory', '16M',
                    '--threads', '2')
    assert rc == 0, err
    got = read(out, '/c')
    assert np.allclose(got, x - x.mean(axis=0), rtol=0, atol=1e-13)


# ----------------------------------------------------------------- indexing, shape

INDEXING = [
    'x[0]', 'x[-1]', 'x[2, 3]', 'x[2, 3, 4]', 'x[10:200:2, ::-1, 5]', 'x[::-1]',
    'x[::-3, 1:-1]', 'x[..., 0]', 'x[..., ::-2]', 'x[1, ..., 2]', 'x[None]',
    'x[:, None, :, None]', 'x[None, ..., None]', 'x[3:3]', 'x[-100:100]', 'x[5:1:-1, 2::3]',
    'x[()]', 'x[(1, 2)]', 'x[1:][2]', 'x[12 - 1]', 'x[-(2 ** 2)]', 'x.T', 'x.T[0]', 'x[0].T',
    'transpose(x)', 'transpose(x, (2, 0, 1))', 'transpose(x, [1, 0, 2])', 'transpose(x, (-1, 0, 1))',
    'x.transpose(1, 0, 2)', 'x.transpose((2, 1, 0))', 'x.reshape(13, 1, 7, 6)',
    'reshape(x[0], (7, 1, -1))', 'reshape(x, (13, 7, 6, 1))', 'x[::2, ::2].T + 1',
]


def test_eval_indexing(tmp):
    x = np.arange(13 * 7 * 6, dtype=np.int64).reshape(13, 7, 6) * 3 - 100
    arrays = {'x': (x, (4, 3, 2))}
    for expr in INDEXING:
        check_store(tmp, expr, arrays)
    for expr in ['x[10:200:2, ::-1, 5 - 5]', 'x[..., 0]', 'x[::-1, 0, ::-1]', 'x[None]']:
        check_print(tmp, expr, arrays)
    # Python's index errors are expression errors.
    rc, _, err = ev(tmp, 'x[13]', arrays)
    assert rc == 2 and 'cask: error:' in err, err
    rc, _, err = ev(tmp, 'x[::0]', arrays)
    assert rc == 2 and 'step' in err, err
    rc, _, err = ev(tmp, 'x[1, 2, 3, 4]', arrays)
    assert rc == 2, err
    # A reshape that regroups axes across chunks is refused cleanly (ENOTSUP).
    rc, _, err = ev(tmp, 'reshape(x, (-1,))', arrays)
    assert rc in (0, 2), err


def test_eval_concatenate_stack(tmp):
    a = RNG.standard_normal((6, 4))
    b = RNG.standard_normal((3, 4))
    c = RNG.standard_normal((6, 4))
    arrays = {'a': (a, (4, 3)), 'b': (b, (2, 4)), 'c': c}
    for expr in ['concatenate((a, b))', 'concatenate((a, b), axis=0)',
                 'concatenate([a, c], axis=1)', 'concatenate((a, c, a), axis=-1)',
                 'stack((a, c))', 'stack((a, c), axis=1)', 'stack([a, c, a], axis=-1)',
                 'concatenate((a[::-1], b * 2))', 'stack((a, c))[1, ::2]']:
        check_store(tmp, expr, arrays)
    rc, _, err = ev(tmp, 'concatenate((a, b), axis=1)', arrays)
    assert rc == 2, err


# ----------------------------------------------------------------- printing

def test_eval_every_region_fits_the_plan(tmp):
    # A stage's scratch is planned from its first region and must bound all
    # of them.  One task per chunk (CASK_TASK_BYTES=0) or a small budget
    # makes the regions differ: the first lies in the first operand of a
    # concatenation (later, computed operands need more), a float32 vector
    # is read as a hyperslab in one region and as a whole stored chunk in
    # another.  Whole arrays compared with NumPy.
    a = RNG.standard_normal((100, 60))
    b = RNG.standard_normal((100, 60)).astype(np.float32)
    cat = {'a': (a, (25, 30)), 'b': (b, (50, 60))}
    small = [({'CASK_TASK_BYTES': '0'}, ()), (None, ('--memory', '2M'))]
    for env, extra in small:
        for expr in ['concatenate((a, a*2), axis=0)', 'stack((a, a+1))',
                     'concatenate((a, a[::-1]))', "concatenate((a, astype(b, 'f4')))",
                     'concatenate((a, a * 2, a[:, ::-1]), axis=1)', 'stack((a, b, a.T.T), axis=2)']:
            check_store(tmp, expr, cat, extra=extra, env=env)
        check_store(tmp, 'sum(concatenate((a, a*2)))', cat, rtol=1e-12, atol=1e-12,
                    extra=extra, env=env)
    x = RNG.standard_normal((100, 80))
    r = RNG.standard_normal(80).astype(np.float32)
    bc = {'x': (x, (10, 20)), 'r': (r, (30,))}
    for env, extra in small:
        for expr in ['x + r', "astype(x, 'f4') + r", 'where(x > 0, r, x)']:
            check_store(tmp, expr, bc, extra=extra, env=env)
        check_store(tmp, 'sum(x + r)', bc, rtol=1e-12, atol=1e-12, extra=extra, env=env)


def test_eval_reduce_empty_kept_axis(tmp):
    # Reducing over a non-empty axis of an array with a zero-length other
    # axis is an empty result in NumPy, for every reduction (nothing is
    # reduced over an empty set); over the empty axis itself sum gives zeros
    # and max has no identity.
    x = {'x': RNG.standard_normal((11, 8, 6))}
    for expr in ['sum(x[:, 0:0], axis=0)', 'max(x[:, 0:0], axis=0)', 'min(x[:, 0:0], axis=2)',
                 'argmin(x[:, 0:0], axis=0)', 'argmax(x[:, 0:0], axis=-1)',
                 'mean(x[:, 0:0], axis=(0, 2))', 'sum(x[:, 0:0], axis=0, keepdims=True)',
                 'x[:, 0:0] - max(x[:, 0:0], axis=0)', 'sum(x[:, 0:0], axis=1)']:
        check_store(tmp, expr, x)
    rc, _, err = ev(tmp, 'max(x[:, 0:0], axis=1)', x)
    assert rc == 1 and 'zero-size' in err, (rc, err)


def test_print_format(tmp):
    f8 = np.array([[0.1, 1 / 3, -0.0], [np.nan, np.inf, -np.inf]])
    f4 = np.array([0.1, 1 / 3, 16777216.0, 1e-45], dtype=np.float32)
    i8 = np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max])
    u8 = np.array([0, np.iinfo(np.uint64).max], dtype=np.uint64)
    b = np.array([True, False])
    c = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    d = np.arange(16, dtype=np.int8).reshape(2, 2, 2, 2)
    arrays = {'f8': f8, 'f4': f4, 'i8': i8, 'u8': u8, 'b': b, 'c': c, 'd': d}
    cases = [
        ('f8', '0.10000000000000001 0.33333333333333331 -0\nnan inf -inf\n'),
        ('f4', '0.100000001\n0.333333343\n16777216\n1.40129846e-45\n'),
        ('i8', '-9223372036854775808\n0\n9223372036854775807\n'),
        ('u8', '0\n18446744073709551615\n'),
        ('b', 'True\nFalse\n'),
        ('c', '0 1 2 3\n4 5 6 7\n8 9 10 11\n\n12 13 14 15\n16 17 18 19\n20 21 22 23\n'),
        ('d', '0 1\n2 3\n\n4 5\n6 7\n\n8 9\n10 11\n\n12 13\n14 15\n'),
        ('f8[0, 0]', '0.10000000000000001\n'),
        ('sum(c)', '276\n'),
        ('c[0, :0]', ''),
        ('c[:, :0]', '\n'),
        ('c[0, :, :0]', '\n\n\n'),
        ('b[0]', 'True\n'),
    ]
    for expr, want in cases:
        rc, out, err = ev(tmp, expr, arrays)
        assert rc == 0, (expr, err)
        assert out == want, (expr, out, want)
        # And the format matches the independent Python formatter.
        assert out == fmt_array(np_eval(expr, arrays)), expr


def test_print_limit(tmp):
    x = np.zeros((100, 101))
    arrays = {'x': x}
    rc, out, err = ev(tmp, 'x', arrays)
    assert rc == 2 and out == '' and '-o' in err and '10100' in err, err
    rc, out, err = ev(tmp, 'x[:99, :]', arrays)  # 9999 elements
    assert rc == 0 and out.count('\n') == 99, err
    rc, out, err = ev(tmp, 'x[:, :100]', arrays)  # exactly 10000
    assert rc == 0, err


# ----------------------------------------------------------------- errors

def test_exit_codes_and_carets(tmp):
    arrays = {'x': np.arange(6.0).reshape(2, 3), 'y': np.arange(4.0)}
    cases = [
        ('x + sqr(x)', 4, "unknown function 'sqr' (did you mean 'sqrt'?)"),
        ('x + z', 4, "name 'z' is not defined"),
        ('xx * 2', 0, "did you mean 'x'?"),
        ('x +', 3, 'unexpected end of expression'),
        ('(x + 1', 0, "'(' was never closed"),
        ('x + y', 2, ''),  # shapes (2, 3) and (4,) do not broadcast
        ('sum(x, axis=2)', 12, 'out of bounds'),
        ('sum(x, axs=1)', 7, "did you mean 'axis'"),
        ('where(x > 1, x)', 0, "missing required argument 'y'"),
        ('x < y < 1', 6, 'chained comparisons'),
        ('x and y', 2, 'logical_and'),
        ('x[1.5]', 2, 'index'),
        ('x << 1', 2, 'not supported'),
        ('astype(x, "f3")', 10, "unknown dtype 'f3'"),
        ('x @ x.T', 2, 'not available'),
        ('gaussian(x, sigma=2)', 0, 'not available'),
        ('sqrt', 0, 'is a function'),
        ('x.foo', 2, "attribute 'foo'"),
    ]
    for expr, col, msg in cases:
        rc, out, err = ev(tmp, expr, arrays)
        if expr == 'x @ x.T' and rc == 0:
            continue  # matmul implemented by now
        if expr.startswith('gaussian') and rc == 0:
            continue  # filters implemented by now
        assert rc == 2, (expr, rc, err)
        assert out == ''
        lines = err.split('\n')
        assert lines[0].startswith('cask: error: '), (expr, err)
        assert msg in lines[0], (expr, err)
        assert lines[1] == '  ' + expr, (expr, err)
        assert lines[2] == '  ' + ' ' * col + '^', (expr, col, err)
    # Runtime errors: exit 1, naming the file / dataset.
    rc, _, err = run('eval', '-i', 'x=%s:/x' % os.path.join(tmp, 'missing.h5'), 'x')
    assert rc == 1 and 'missing.h5' in err and err.startswith('cask: error: '), err
    rc, _, err = run('eval', '-i', 'x=%s:/nope' % os.path.join(tmp, 'in.h5'), 'x')
    assert rc == 1 and 'nope' in err, err
    # Usage errors: exit 2.
    for args in (['eval'], ['eval', '-i', 'x', '1'], ['eval', '-i', 'x=f.h5', '1'],
                 ['eval', '-i', 'pi=f.h5:/x', '1'], ['eval', '1', '--chunks', '2'],
                 ['eval', '1', '-o', 'out.h5'], ['eval', '1', '2'],
                 ['eval', '1', '--dtype', 'f9'], ['eval', '1', '--memory', 'lots'],
                 ['eval', '1', '--threads', '0'], ['eval', '-x'],
                 ['create', 'f.h5:/x'], ['create', 'f.h5:/x', '--shape', '2,-1'],
                 ['create', 'f.h5:/x', '--shape', '3', '--fill', 'random', '--dtype', 'i4'],
                 ['create', 'f.h5:/x', '--shape', '3', '--fill', '300', '--dtype', 'u1'],
                 ['create', 'f.h5:/x', '--shape', '3', '--fill', 'banana'],
                 ['create', 'f.h5:/x', '--shape', '3', '--compress', 'lzf'],
                 ['create', 'f.h5:/x', '--shape', '3,3', '--chunks', '2'],
                 ['info']):
        rc, _, err = run(*args)
        assert rc == 2, (args, rc, err)
        assert err.startswith('cask: error: '), (args, err)
    rc, _, err = run('eval', '1', env={'CASK_MEMORY': 'lots'})
    assert rc == 2 and 'CASK_MEMORY' in err, err
    # a size that parses but is below the minimum: the message names the
    # variable it came from (it said "--memory", an option not given)
    rc, _, err = run('eval', '1', env={'CASK_MEMORY': '1K'})
    assert rc == 2 and 'CASK_MEMORY' in err and '--memory' not in err, err


# ----------------------------------------------------------------- output

def test_output_and_overwrite(tmp):
    x = RNG.standard_normal((50, 40))
    src = os.path.join(tmp, 'in.h5')
    write_inputs(src, {'x': (x, (16, 16)), 'keep': np.arange(5)})
    out = os.path.join(tmp, 'out.h5')
    rc, _, err = run('eval', '-i', 'x=%s:/x' % src, 'x * 2', '-o', out + ':/g/y')
    assert rc == 0, err
    assert np.array_equal(read(out, '/g/y'), x * 2)
    # A second dataset in the same file.
    rc, _, err = run('eval', '-i', 'x=%s:/x' % src, 'x + 1', '-o', out + ':/z', '-q')
    assert rc == 0 and err == '', err
    assert np.array_equal(read(out, '/z'), x + 1)
    assert np.array_equal(read(out, '/g/y'), x * 2)
    # Existing output: error (exit 1) and nothing changes.
    rc, _, err = run('eval', '-i', 'x=%s:/x' % src, 'x * 3', '-o', out + ':/z')
    assert rc == 1 and '--overwrite' in err, err
    assert np.array_equal(read(out, '/z'), x + 1)
    rc, _, err = run('eval', '-i', 'x=%s:/x' % src, 'x * 3', '-o', out + ':/z', '--overwrite')
    assert rc == 0, err
    assert np.array_equal(read(out, '/z'), x * 3)
    # Output = input, with a reduction that needs the whole input first.
    rc, _, err = run('eval', '-i', 'x=%s:/x' % src, 'x - mean(x, axis=0)', '-o', src + ':/x',
                     '--overwrite')
    assert rc == 0, err
    assert np.allclose(read(src, '/x'), x - x.mean(axis=0), atol=1e-14)
    assert np.array_equal(read(src, '/keep'), np.arange(5))
    rc, _, err = run('eval', '-i', 'x=%s:/x' % src, 'x*2', '-o', src + ':/x', '--overwrite')
    assert rc == 0, err
    assert np.allclose(read(src, '/x'), 2 * (x - x.mean(axis=0)), atol=1e-14)


def test_output_options(tmp):
    x = RNG.standard_normal((60, 50))
    arrays = {'x': (x, (20, 50))}
    out = os.path.join(tmp, 'out.h5')
    rc, _, err = ev(tmp, 'x * 10', arrays, '-o', out + ':/y', '--chunks', '16,25', '--dtype',
                    'f4', '--compress', 'gzip=5', '--shuffle')
    assert rc == 0, err
    with h5py.File(out, 'r') as f:
        d = f['y']
        assert d.dtype == np.float32
        assert d.chunks == (16, 25)
        assert d.compression == 'gzip' and d.compression_opts == 5
        assert d.shuffle
        assert np.array_equal(d[()], (x * 10).astype(np.float32))
    rc, _, err = ev(tmp, 'x', arrays, '-o', out + ':/z', '--compress', 'gzip')
    assert rc == 0, err
    with h5py.File(out, 'r') as f:
        assert f['z'].compression_opts == 4
    rc, _, err = ev(tmp, 'x', arrays, '-o', out + ':/w', '--chunks', '2,2,2')
    assert rc == 2, err
    # Printing with --dtype converts too.
    rc, out_text, err = ev(tmp, 'x[0, :3]', arrays, '--dtype', 'i2')
    assert rc == 0 and out_text == fmt_array(x[0, :3].astype(np.int16)), (out_text, err)


def test_dataset_reference_last_colon_slash(tmp):
    d = os.path.join(tmp, 'odd:')
    os.mkdir(d)
    path = os.path.join(d, 'f.h5')  # ".../odd:/f.h5" contains ":/"
    write_inputs(path, {'x': np.arange(4.0)})
    rc, out, err = run('eval', '-i', 'x=%s:/x' % path, 'sum(x)')
    assert rc == 0 and out == '6\n', (out, err)
    rc, out, err = run('info', path + ':/x')
    assert rc == 0 and '/x' in out, err


# ----------------------------------------------------------------- info, create

def test_info(tmp):
    path = os.path.join(tmp, 'f.h5')
    with h5py.File(path, 'w') as f:
        f.create_dataset('a', data=np.zeros((100, 20)), chunks=(10, 20), compression='gzip',
                         compression_opts=4, shuffle=True)
        f.create_dataset('g/b', data=np.arange(7, dtype=np.int32))
        f.create_dataset('s', data=np.float32(3))
    rc, out, err = run('info', path)
    assert rc == 0, err
    lines = out.strip('\n').split('\n')
    assert lines[0].split()[:7] == ['DATASET', 'SHAPE', 'DTYPE', 'CHUNKS', 'FILTERS', 'STORED',
                                    'LOGICAL'], lines[0]
    body = '\n'.join(lines[1:])
    a = [ln for ln in lines if ln.startswith('/a ')][0]
    assert '(100, 20)' in a and 'float64' in a and '(10, 20)' in a, a
    assert 'gzip' in a and 'shuffle' in a and '15.6 KiB' in a, a
    b = [ln for ln in lines if ln.startswith('/g/b ')][0]
    assert '(7,)' in b and 'int32' in b and 'contiguous' in b and 'none' in b, b
    s = [ln for ln in lines if ln.startswith('/s ')][0]
    assert '()' in s and 'float32' in s, s
    assert body.index('/a ') < body.index('/g/b ') < body.index('/s ')
    rc, out, err = run('info', path + ':/g/b')
    assert rc == 0 and len(out.strip('\n').split('\n')) == 2 and '/g/b' in out, out
    rc, _, err = run('info', os.path.join(tmp, 'none.h5'))
    assert rc == 1 and 'none.h5' in err, err
    rc, _, err = run('info', path + ':/zzz')
    assert rc == 1 and 'zzz' in err, err


def test_create_fills(tmp):
    path = os.path.join(tmp, 'c.h5')

    def create(name, *args):
        rc, _, err = run('create', path + ':/' + name, *args)
        assert rc == 0, (name, args, err)
        return read(path, '/' + name)

    z = create('z', '--shape', '30,20')
    assert z.dtype == np.float64 and z.shape == (30, 20) and not z.any()
    o = create('o', '--shape', '5,4,3', '--dtype', 'i2', '--fill', 'ones')
    assert o.dtype == np.int16 and (o == 1).all()
    v = create('v', '--shape', '7', '--fill', '-1.5')
    assert (v == -1.5).all()
    vi = create('vi', '--shape', '3', '--dtype', 'int64', '--fill', '-9223372036854775808')
    assert (vi == np.iinfo(np.int64).min).all()
    vu = create('vu', '--shape', '3', '--dtype', 'u8', '--fill', '18446744073709551615')
    assert (vu == np.iinfo(np.uint64).max).all()
    vb = create('vb', '--shape', '2,2', '--dtype', 'bool', '--fill', 'True')
    assert vb.dtype == np.bool_ and vb.all()
    vn = create('vn', '--shape', '2', '--dtype', 'f4', '--fill', 'nan')
    assert vn.dtype == np.float32 and np.isnan(vn).all()
    a = create('a', '--shape', '6,7', '--dtype', 'i4', '--fill', 'arange', '--chunks', '4,3')
    assert np.array_equal(a, np.arange(42, dtype=np.int32).reshape(6, 7))
    a0 = create('a0', '--shape', '', '--fill', 'arange')
    assert a0.shape == () and a0 == 0
    e = create('e', '--shape', '0,5')
    assert e.shape == (0, 5)
    r1 = create('r1', '--shape', '300,200', '--fill', 'random', '--seed', '5', '--chunks',
                '64,64')
    r2 = create('r2', '--shape', '300,200', '--fill', 'random', '--seed', '5', '--chunks',
                '300,7', '--threads', '1')
    r3 = create('r3', '--shape', '300,200', '--fill', 'random', '--seed', '6')
    assert r1.dtype == np.float64 and (r1 >= 0).all() and (r1 < 1).all()
    assert np.array_equal(r1, r2)  # chunking and threads do not change values
    assert not np.array_equal(r1, r3)
    # Uniform [0, 1): mean 1/2 and variance 1/12; 60000 samples give a
    # standard error of 0.0012 on the mean, so 0.01 is > 8 sigma.
    assert abs(r1.mean() - 0.5) < 0.01 and abs(r1.var() - 1 / 12) < 0.01
    n = create('n', '--shape', '100000', '--fill', 'normal', '--dtype', 'f4', '--seed', '1')
    assert n.dtype == np.float32 and abs(n.mean()) < 0.02 and abs(n.std() - 1) < 0.02
    c = create('c', '--shape', '100,100', '--fill', 'ones', '--compress', 'gzip=9',
               '--shuffle', '--chunks', '50,25')
    with h5py.File(path, 'r') as f:
        d = f['c']
        assert d.chunks == (50, 25) and d.compression == 'gzip' and d.compression_opts == 9
        assert d.shuffle
    assert (c == 1).all()
    # Existing dataset: exit 1 without --overwrite, replaced with it.
    rc, _, err = run('create', path + ':/z', '--shape', '3')
    assert rc == 1 and '--overwrite' in err, err
    assert read(path, '/z').shape == (30, 20)
    rc, _, err = run('create', path + ':/z', '--shape', '3', '--fill', '2', '--overwrite')
    assert rc == 0, err
    assert np.array_equal(read(path, '/z'), [2.0, 2.0, 2.0])
    assert np.array_equal(read(path, '/a'), np.arange(42, dtype=np.int32).reshape(6, 7))


def test_plugin_filter_fallback(tmp):
    """A dataset compressed by a dynamically loaded HDF5 filter plugin (LZ4,
    id 32004, from Debian's hdf5-filter-plugin) that cask does not decode
    itself is read through HDF5's pipeline: values equal NumPy's, whole and
    through a view.  (The command links HDF5 statically; the plugin loads
    the shared libhdf5 for its own few calls.)"""
    p = os.path.join(tmp, 'lz4.h5')
    x = np.arange(120000, dtype='f8').reshape(600, 200) * 0.5 - 7
    try:
        with h5py.File(p, 'w') as f:
            f.create_dataset('x', data=x, chunks=(64, 50), compression=32004)
        with h5py.File(p, 'r') as f:
            assert np.array_equal(f['x'][()], x)
    except Exception as e:  # no plugin on this machine
        print('  SKIP: the LZ4 filter plugin is not available (%s)' % e)
        return
    rc, out, err = run('eval', '-i', 'x=%s:/x' % p, 'sum(x)')
    assert rc == 0, err
    assert float(out) == x.sum(), (out, x.sum())
    rc, out, err = run('eval', '-i', 'x=%s:/x' % p, 'x[37:41, 190:]')
    assert rc == 0, err
    got = np.array([[float(v) for v in line.replace('[', ' ').replace(']', ' ').split()]
                    for line in out.strip().splitlines()])
    assert np.array_equal(got, x[37:41, 190:]), (got, x[37:41, 190:])


def test_stats_and_progress(tmp):
    arrays = {'x': (RNG.standard_normal((200, 100)), (50, 100))}
    rc, out, err = ev(tmp, 'sum(x)', arrays, '--stats', '--no-progress')
    assert rc == 0, err
    for word in ('tasks', 'read', 'written', 'peak memory', 'wall time', 'I/O time',
                 'compute time'):
        assert word in err, (word, err)
    m = re.search(r'read\s+\S+ \S+ \((\d+) bytes\)', err)
    assert m and int(m.group(1)) >= 200 * 100 * 8, err
    # --progress forces the bar on a non-terminal stderr; the result is unchanged.
    rc, out2, err = ev(tmp, 'sum(x)', arrays, '--progress')
    assert rc == 0 and out2 == out, err
    # Default: no bar when stderr is not a terminal.
    rc, out3, err = ev(tmp, 'sum(x)', arrays)
    assert rc == 0 and err == '', err


def test_memory_budget_option(tmp):
    arrays = {'x': (RNG.standard_normal((1000, 100)), (100, 100))}
    want = np_eval('sum(x, axis=0)', arrays)
    for extra, env in ((['--memory', '2M'], None), ([], {'CASK_MEMORY': '2M'}),
                       (['--memory', '1G', '--threads', '1'], None)):
        out = os.path.join(tmp, 'o.h5')
        rc, _, err = ev(tmp, 'sum(x, axis=0)', arrays, '-o', out + ':/s', '--overwrite',
                        *extra, env=env)
        assert rc == 0, (extra, err)
        assert np.allclose(read(out, '/s'), want, rtol=1e-12, atol=1e-12)
    # A budget below a stored chunk: unfiltered chunks are read in parts (the
    # block grid cuts them), so the result is numpy's; a compressed chunk
    # must be decoded whole, and the error names the input and its chunks.
    xb = RNG.standard_normal((2000, 100))
    big = {'x': (xb, (1000, 100))}
    bpath = os.path.join(tmp, 'b.h5')
    rc, out, err = ev(tmp, 'sum(x * 2, axis=0)', big, '--memory', '1M', '-o', bpath + ':/s')
    assert rc == 0, err
    assert np.allclose(read(bpath, '/s'), np.sum(xb * 2, axis=0), rtol=1e-12, atol=1e-12)
    rc, out, err = ev(tmp, 'x * 2', big, '--memory', '1M', '-o', bpath + ':/y')
    assert rc == 0, err
    assert np.array_equal(read(bpath, '/y'), xb * 2)
    zpath = os.path.join(tmp, 'z.h5')
    with h5py.File(zpath, 'w') as f:
        f.create_dataset('x', data=xb, chunks=(1000, 100), compression='gzip')
    for expr, extra in (('sum(x * 2)', ()), ('x * 2', ('-o', os.path.join(tmp, 'zo.h5:/y')))):
        rc, _, err = run('eval', '-i', 'x=%s:/x' % zpath, expr, '--memory', '1M', *extra)
        assert rc == 1 and 'budget' in err and "'/x'" in err and '(1000, 100)' in err, err


def test_budget_below_unfiltered_chunk(tmp):
    """One unfiltered stored chunk of 3.8 MiB under a 1 MiB budget: every
    command reads it in parts (ragged last blocks too) and gives numpy's
    and scipy's results; the factors keep the stored row chunks."""
    import scipy.ndimage
    rng = np.random.default_rng(5)
    a = rng.standard_normal((10001, 50))
    img = rng.random((700, 700)).astype('f4')
    src = os.path.join(tmp, 'in.h5')
    with h5py.File(src, 'w') as f:
        f.create_dataset('A', data=a, chunks=a.shape)
        f.create_dataset('img', data=img, chunks=img.shape)
    out = os.path.join(tmp, 'o.h5')
    mem = ('--memory', '1M', '--overwrite')
    rc, _, err = run('eval', '-i', 'A=%s:/A' % src, 'A.T @ A', '-o', out + ':/G', *mem)
    assert rc == 0, err
    assert np.allclose(read(out, '/G'), a.T @ a, rtol=1e-12, atol=1e-9)
    rc, _, err = run('eval', '-i', 'A=%s:/A' % src, 'A[::-1, 3:] * 2', '-o', out + ':/r', *mem)
    assert rc == 0, err
    assert np.array_equal(read(out, '/r'), a[::-1, 3:] * 2)
    rc, _, err = run('qr', src + ':/A', '--q', out + ':/Q', '--r', out + ':/R', *mem)
    assert rc == 0, err
    q, r = read(out, '/Q'), read(out, '/R')
    assert np.abs(q @ r - a).max() < 1e-12 * np.abs(a).max() * 100
    with h5py.File(out, 'r') as f:
        assert f['Q'].chunks == (10001, 50), f['Q'].chunks
    rc, _, err = run('svd', src + ':/A', '--s', out + ':/S', '-k', '3', *mem)
    assert rc == 0, err
    rc, _, err = run('svd', src + ':/A', '--s', out + ':/S5', '-k', '3', '--memory', '512M',
                     '--overwrite')
    assert rc == 0, err
    assert np.allclose(read(out, '/S'), read(out, '/S5'), rtol=1e-12)
    rc, _, err = run('filter', 'gaussian', src + ':/img', '-o', out + ':/g', '--sigma', '2', *mem)
    assert rc == 0, err
    assert np.allclose(read(out, '/g'), scipy.ndimage.gaussian_filter(img, 2), rtol=1e-5, atol=1e-6)


def test_sigint_leaves_no_partial_output(tmp):
    path = os.path.join(tmp, 'big.h5')
    write_inputs(path, {'other': np.arange(10)})
    # 4 GiB of random numbers: takes several seconds, so the signal lands mid-run.
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        p = subprocess.Popen([CASK, 'create', path + ':/x', '--shape', '32768,16384', '--fill',
                              'random', '--memory', '256M'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        if p.poll() is not None:
            out, err = p.communicate()
            raise AssertionError('finished before the signal: %d %s' % (p.returncode, err))
        p.send_signal(sig)
        out, err = p.communicate(timeout=120)
        assert p.returncode == code, (sig, p.returncode, err)
        assert 'interrupted' in err, err
        with h5py.File(path, 'r') as f:
            assert 'x' not in f, list(f)
            assert np.array_equal(f['other'][()], np.arange(10))
        # No temporary file is left behind either.
        assert os.listdir(tmp) == ['big.h5'], os.listdir(tmp)


def test_random_expressions_never_crash(tmp):
    """Random expressions (valid, invalid and truncated) over mixed dtypes:
    every run ends with exit 0, 1 or 2, errors are 'cask: error:' lines, and
    expression errors repeat the expression with a caret inside it.  Run
    with an ASan build of cask to catch memory errors in the builder."""
    rng = np.random.default_rng(7)
    arrays = {'x': (RNG.standard_normal((6, 5)), (4, 2)), 'y': RNG.standard_normal(5),
              'i': RNG.integers(-9, 9, (6, 5)).astype(np.int32),
              'b': RNG.random((6, 5)) > 0.5}
    path = os.path.join(tmp, 'in.h5')
    write_inputs(path, arrays)
    binds = []
    for n in arrays:
        binds += ['-i', '%s=%s:/%s' % (n, path, n)]

    def atom(d):
        r = rng.integers(0, 8 if d < 3 else 4)
        if r < 4:
            return ['x', 'y', 'i', 'b'][r]
        if r == 4:
            return str(rng.choice(['1', '2.5', '-3', 'True', 'nan', 'pi', '0']))
        if r == 5:
            f = rng.choice(['sum', 'mean', 'max', 'argmin', 'std', 'any', 'count_nonzero'])
            kw = rng.choice(['', ', axis=0', ', axis=-1', ', axis=(0, 1)', ', keepdims=True',
                             ', axis=1, keepdims=True', ', axis=3', ', ddof=1'])
            return '%s(%s%s)' % (f, expr(d + 1), kw)
        if r == 6:
            f = rng.choice(['sqrt', 'abs', 'exp', 'floor', 'isnan', 'negative', 'sign'])
            return '%s(%s)' % (f, expr(d + 1))
        form = rng.integers(0, 9)
        a = expr(d + 1)
        return ['%s[::-1]' % a, '%s[1:]' % a, '%s.T' % a, '%s[..., 0]' % a,
                'where(%s > 0, %s, %s)' % (a, a, expr(d + 1)), 'clip(%s, 0, 1)' % a,
                'astype(%s, "f4")' % a, 'concatenate((%s, %s))' % (a, a),
                'maximum(%s, %s)' % (a, expr(d + 1))][form]

    def expr(d=0):
        if d > 3 or rng.random() < 0.4:
            return atom(d)
        op = rng.choice(['+', '-', '*', '/', '//', '%', '**', '<', '==', '&', '|', '^'])
        e = '%s %s %s' % (atom(d), op, atom(d))
        return '(%s)' % e if rng.random() < 0.5 else e

    counts = {0: 0, 1: 0, 2: 0}
    for k in range(150):
        e = expr()
        if k % 5 == 4:  # damage it
            cut = int(rng.integers(1, len(e) + 1))
            e = e[:cut] + rng.choice(['', ')', ',', '[', 'sqr(', ' @', '='])
        rc, out, err = run('eval', *binds, '--', e)
        assert rc in counts, (e, rc, err)
        counts[rc] += 1
        if rc == 0:
            assert out.endswith('\n') or out == '', (e, out)
            assert err == '', (e, err)
        else:
            assert err.startswith('cask: error: '), (e, err)
            if rc == 2:
                lines = err.split('\n')
                assert lines[1] == '  ' + e, (e, err)
                caret = lines[2]
                assert caret.strip() == '^' and len(caret) - 3 <= len(e), (e, err)
    assert counts[0] > 10 and counts[2] > 10, counts
