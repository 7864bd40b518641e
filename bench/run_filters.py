#!/usr/bin/python3
"""cask filter benchmark (issue 5): image filters over HDF5 data, side by side.

    /usr/bin/python3 bench/run_filters.py               # W7 + W8 -> bench/out/RESULTS-filters.md
    /usr/bin/python3 bench/run_filters.py --only W7 --results /tmp/r.md

Workloads:
  W7  gaussian(x, sigma=3) on 8192 x 8192 float32 (chunks 1024 x 1024), stored to a new file:
      cask `filter gaussian`, dask map_overlap(scipy.ndimage.gaussian_filter, depth=12,
      boundary='reflect'), scikit-image apply_parallel (same function, depth 12, mode
      'reflect'; it takes an in-memory array), and scipy.ndimage on the whole image.
  W8  median 3x3x3 of a 512^3 uint16 volume (chunks 128^3): cask `filter median --size 3`,
      dask map_overlap(scipy.ndimage.median_filter, depth=1, boundary='reflect'), scipy on
      the whole volume.

Every timed process runs under /usr/bin/time -v (wall time and peak RSS) after the input is
read twice through the page cache; every tool reads the input file and writes its result to
a new HDF5 file, and every result is compared with scipy's (the max abs difference is
reported).  dask and scikit-image run with the same thread count as cask.  This is a
benchmark, not a test.  The results go to bench/out/RESULTS-filters.md (--results) under the
"Filters" heading (that section only is replaced, the rest of the file is kept), to be merged
into bench/RESULTS.md by hand.
"""

import argparse
import datetime
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MiB = 1 << 20

DASK_W7 = r'''
import sys, h5py, dask, dask.array as da, numpy as np, scipy.ndimage as ndi
inp, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
dask.config.set(scheduler='threads', num_workers=threads)
f = h5py.File(inp, 'r')
x = da.from_array(f['x'], chunks=(1024, 1024))
y = x.map_overlap(ndi.gaussian_filter, depth=12, boundary='reflect', sigma=3, dtype=x.dtype)
with h5py.File(out, 'w') as g:
    d = g.create_dataset('y', shape=x.shape, dtype=x.dtype, chunks=(1024, 1024))
    da.store(y, d, lock=True)
'''

DASK_W8 = r'''
import sys, h5py, dask, dask.array as da, numpy as np, scipy.ndimage as ndi
inp, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
dask.config.set(scheduler='threads', num_workers=threads)
f = h5py.File(inp, 'r')
x = da.from_array(f['x'], chunks=(128, 128, 128))
y = x.map_overlap(ndi.median_filter, depth=1, boundary='reflect', size=3, dtype=x.dtype)
with h5py.File(out, 'w') as g:
    d = g.create_dataset('y', shape=x.shape, dtype=x.dtype, chunks=(128, 128, 128))
    da.store(y, d, lock=True)
'''

SKIMAGE_W7 = r'''
import sys, h5py, numpy as np, scipy.ndimage as ndi
from skimage.util import apply_parallel
inp, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
import dask
dask.config.set(scheduler='threads', num_workers=threads)
x = h5py.File(inp, 'r')['x'][...]
y = apply_parallel(ndi.gaussian_filter, x, chunks=(1024, 1024), depth=12, mode='reflect',
                   extra_keywords={'sigma': 3}, dtype=x.dtype, compute=True)
with h5py.File(out, 'w') as g:
    g.create_dataset('y', data=y, chunks=(1024, 1024))
'''

SCIPY = r'''
import sys, h5py, numpy as np, scipy.ndimage as ndi
inp, out, what = sys.argv[1], sys.argv[2], sys.argv[3]
x = h5py.File(inp, 'r')['x'][...]
if what == 'W7':
    y = ndi.gaussian_filter(x, 3)
else:
    y = ndi.median_filter(x, size=3)
with h5py.File(out, 'w') as g:
    g.create_dataset('y', data=y, chunks=(1024, 1024) if x.ndim == 2 else (128, 128, 128))
'''


def say(msg=''):
    print(msg, flush=True)


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def warm(path):
    for _ in range(2):
        subprocess.run('cat %s > /dev/null' % sh_quote(path), shell=True, check=True)


def rm(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def run_timed(cmd, timeout):
    """Runs cmd under /usr/bin/time -v: wall time, peak RSS, output."""
    full = ['/usr/bin/time', '-v'] + cmd
    t0 = time.perf_counter()
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return dict(ok=False, wall=time.perf_counter() - t0, rss=None, err='timeout')
    wall = time.perf_counter() - t0
    m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', err)
    cpu = sum(float(x) for x in re.findall(r'(?:User|System) time \(seconds\): ([\d.]+)', err))
    cut = err.find('\tCommand being timed:')
    return dict(ok=p.returncode == 0, wall=wall, rss=int(m.group(1)) * 1024 if m else None,
                cpu=cpu, err=err[:cut] if cut >= 0 else err, out=out)


def find_cask(explicit):
    if explicit:
        return os.path.abspath(explicit)
    own = os.path.join(ROOT, 'build-bench', 'src', 'cli', 'cask')
    if os.access(own, os.X_OK):
        return own
    cands = []
    for d in os.listdir(ROOT):
        p = os.path.join(ROOT, d, 'src', 'cli', 'cask')
        if d.startswith('build') and 'asan' not in d and os.access(p, os.X_OK):
            cands.append((os.path.getmtime(p), p))
    return max(cands)[1] if cands else None


def make_inputs(outdir, only):
    os.makedirs(outdir, exist_ok=True)
    paths = {}
    rng = np.random.default_rng(20221205)
    if 'W7' in only:
        p = os.path.join(outdir, 'w7_8192x8192_f4_c1024.h5')
        if not os.path.exists(p):
            say('making %s' % p)
            with h5py.File(p + '.part', 'w') as f:
                d = f.create_dataset('x', (8192, 8192), 'f4', chunks=(1024, 1024))
                for i in range(0, 8192, 1024):
                    d[i:i + 1024] = rng.random((1024, 8192), dtype='f4')
            os.rename(p + '.part', p)
        paths['W7'] = p
    if 'W8' in only:
        p = os.path.join(outdir, 'w8_512cube_u16_c128.h5')
        if not os.path.exists(p):
            say('making %s' % p)
            with h5py.File(p + '.part', 'w') as f:
                d = f.create_dataset('x', (512, 512, 512), 'u2', chunks=(128, 128, 128))
                for i in range(0, 512, 128):
                    d[i:i + 128] = rng.integers(0, 65536, (128, 512, 512), dtype='u2')
            os.rename(p + '.part', p)
        paths['W8'] = p
    return paths


def max_diff(a, b):
    with h5py.File(a, 'r') as f, h5py.File(b, 'r') as g:
        x, y = f['y'], g['y']
        if x.shape != y.shape or x.dtype != y.dtype:
            return 'shape/dtype %s %s vs %s %s' % (x.shape, x.dtype, y.shape, y.dtype)
        m = 0.0
        for i in range(0, x.shape[0], 256):
            d = np.abs(x[i:i + 256].astype('f8') - y[i:i + 256].astype('f8')).max()
            m = max(m, float(d))
        return m


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--cask', help='cask binary (default: build-bench, else newest build-*)')
    ap.add_argument('--only', default='W7,W8')
    ap.add_argument('--tools', default='cask,dask,skimage,scipy')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--memory', default='256M', help="cask's memory budget")
    ap.add_argument('--repeat', type=int, default=1, help='best of N (cask, dask)')
    ap.add_argument('--timeout', type=int, default=900)
    ap.add_argument('--outdir', default=os.path.join(HERE, 'out'))
    ap.add_argument('--fsync', action='store_true',
                    help='let cask fsync its output before the rename (its default); without '
                         'it CASK_FSYNC=0, as dask and scipy do not sync')
    ap.add_argument('--results', default=os.path.join(HERE, 'out', 'RESULTS-filters.md'))
    a = ap.parse_args()
    if not a.fsync:
        os.environ['CASK_FSYNC'] = '0'  # neither dask nor scipy syncs its output
    only = a.only.split(',')
    tools = a.tools.split(',')
    cask = find_cask(a.cask)
    if 'cask' in tools and not cask:
        sys.exit('no cask binary found (meson setup build-bench && ninja -C build-bench)')
    paths = make_inputs(a.outdir, only)
    rows = []
    for w in only:
        inp = paths[w]
        warm(inp)
        outs = {}
        cmds = {}
        if 'cask' in tools:
            o = os.path.join(a.outdir, '%s_cask.h5' % w.lower())
            args = (['gaussian', '--sigma', '3'] if w == 'W7' else ['median', '--size', '3'])
            cmds['cask'] = ([cask, 'filter'] + args[:1] + ['%s:/x' % inp, '-o', '%s:/y' % o] +
                            args[1:] + ['--memory', a.memory, '--threads', str(a.threads)])
            outs['cask'] = o
        if 'dask' in tools:
            o = os.path.join(a.outdir, '%s_dask.h5' % w.lower())
            cmds['dask'] = [sys.executable, '-c', DASK_W7 if w == 'W7' else DASK_W8, inp, o,
                            str(a.threads)]
            outs['dask'] = o
        if 'skimage' in tools and w == 'W7':
            o = os.path.join(a.outdir, '%s_skimage.h5' % w.lower())
            cmds['skimage apply_parallel'] = [sys.executable, '-c', SKIMAGE_W7, inp, o,
                                              str(a.threads)]
            outs['skimage apply_parallel'] = o
        if 'scipy' in tools:
            o = os.path.join(a.outdir, '%s_scipy.h5' % w.lower())
            cmds['scipy (whole array, 1 thread)'] = [sys.executable, '-c', SCIPY, inp, o, w]
            outs['scipy (whole array, 1 thread)'] = o
        res = {}
        for name, cmd in cmds.items():
            best = None
            for _ in range(a.repeat if name in ('cask', 'dask') else 1):
                rm(outs[name])
                load = os.getloadavg()[0]
                r = run_timed(cmd, a.timeout)
                r['load'] = load
                if not r['ok']:
                    say('%s %s FAILED: %s' % (w, name, r['err'][-2000:]))
                    best = r
                    break
                if best is None or r['wall'] < best['wall']:
                    best = dict(r, rss=max(r['rss'], best['rss']) if best else r['rss'])
            res[name] = best
            say('%s %-32s %8.2f s  %8.1f MiB  cpu %.2f s' % (w, name, best['wall'],
                                                             (best['rss'] or 0) / MiB,
                                                             best.get('cpu') or 0))
        ref = outs.get('scipy (whole array, 1 thread)')
        for name in cmds:
            r = res[name]
            diff = ''
            if r['ok'] and ref and name in outs and os.path.exists(ref) and outs[name] != ref:
                diff = max_diff(outs[name], ref)
                diff = '%.3g' % diff if isinstance(diff, float) else diff
            rows.append((w, name, r, diff))
    # the table
    when = datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')
    lines = ['## Filters', '',
             'Written by `bench/run_filters.py` (%s; %d threads for cask, dask and scikit-image; '
             'cask budget %s).  W7: `gaussian(x, sigma=3)`, 8192x8192 float32, chunks 1024x1024, '
             'to a new file.  W8: median 3x3x3 of 512^3 uint16, chunks 128^3.  Times include '
             'reading the input and writing the output file (cask %s); peak RSS from '
             '/usr/bin/time -v; "max diff" is against scipy.ndimage on the whole array.' % (
                 when, a.threads, a.memory,
                 'fsyncs it' if a.fsync else 'without fsync, CASK_FSYNC=0, as the others'),
             '', 'The machine has 2 cores; "load" is the 1-minute load average when the run '
             'started (other work on the machine inflates the times); "cpu s" is user + system '
             'time of the process, less sensitive to that load than the wall time.',
             '', '| workload | tool | wall s | peak RSS MiB | time / cask | max diff vs scipy | load '
             '| cpu s |',
             '|---|---|---:|---:|---:|---:|---:|---:|']
    old = open(a.results).read() if os.path.exists(a.results) else ''
    m = re.search(r'^## Filters\n.*?(?=^## |\Z)', old, flags=re.S | re.M)
    # rows of workloads not rerun this time are kept from the previous section
    kept = [ln for ln in (m.group(0).splitlines() if m else [])
            if re.match(r'\| (W\d+) \|', ln) and ln.split('|')[1].strip() not in only]
    for w, name, r, diff in rows:
        c = [x for x in rows if x[0] == w and x[1] == 'cask']
        ratio = ''
        if c and c[0][2]['ok'] and r['ok']:
            ratio = '%.2fx' % (r['wall'] / c[0][2]['wall'])
        lines.append('| %s | %s | %s | %s | %s | %s | %.1f | %s |' % (
            w, name, '%.2f' % r['wall'] if r['ok'] else 'FAILED',
            '%.0f' % (r['rss'] / MiB) if r.get('rss') else '', ratio, diff, r.get('load', 0),
            '%.2f' % r['cpu'] if r.get('cpu') else ''))
    for ln in kept:  # older sections had no load / cpu columns
        lines.append(ln + ' |' * max(0, 9 - ln.count('|')))
    lines.append('')
    section = '\n'.join(lines) + '\n'
    new = old[:m.start()] + section + old[m.end():] if m else (
        old + ('\n' if old and not old.endswith('\n\n') else '') + section)
    with open(a.results, 'w') as f:
        f.write(new)
    say(section)


if __name__ == '__main__':
    main()
