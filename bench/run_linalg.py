#!/usr/bin/python3
"""cask linear algebra benchmark (issue 4): TSQR, SVD and randomized SVD of on-disk
matrices, side by side with dask.array.linalg (threaded scheduler) and numpy.linalg.

    /usr/bin/python3 bench/run_linalg.py            # full sizes, appends to bench/RESULTS.md
    /usr/bin/python3 bench/run_linalg.py --quick    # small sizes, prints only
    CASK=build-x/src/cli/cask /usr/bin/python3 bench/run_linalg.py --results bench/out/RESULTS-linalg.md

Workloads:
  W5   Q and R of an m x 64 float64 matrix (row chunks of 100,000) -> Q stored to HDF5;
       also R only (one read of A, GF/s = 2 m n^2 / time) and the I/O floor
       `cask eval A * 1 -o` (read A + write an m x n dataset); then, in turn for
       --durable-rounds rounds, the hardware's durable floor (dd of A to a new file with
       O_DIRECT and fsync), cask's durable floor and Q and R as cask runs by default,
       durable (fsync; whole chunks written with O_DIRECT); ratios within a round, median.
  W6   SVD (U stored, S, V^T) of the same matrix.
  W6b  randomized SVD, k = 10, of a 32768 x 8192 float64 matrix (2 power iterations).
cask runs with --memory 512M --threads 2 (the CLI: `cask qr`, `cask svd`); dask with
dask.config scheduler='threads', num_workers=2, storing Q / U with da.store into HDF5;
numpy in core where it fits (skipped for W6b: a full SVD of 32768 x 8192 is not the same
problem).  Every process runs under /usr/bin/time -v for its peak RSS; before each run the
output is removed, the earlier runs' writes are synced (then --settle seconds of
quiet) and the page cache is warmed with cat.  This is a benchmark, never a test.
"""
import argparse
import datetime
import os
import re
import subprocess
import sys
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, 'out')
PY = '/usr/bin/python3'


def say(msg=''):
    print(msg, flush=True)


def find_cask():
    env = os.environ.get('CASK')
    cands = [env] if env else []
    cands += [os.path.join(ROOT, d, 'src', 'cli', 'cask') for d in ('build-lead', 'build', 'build-lg')]
    for p in cands:
        if p and os.path.exists(p) and subprocess.run([p, 'qr', '--help'], capture_output=True).returncode == 0:
            return p
    sys.exit('no cask binary: build it first (ninja -C build)')


def make_input(path, m, n, chunk_rows, decay=False):
    if os.path.exists(path):
        return
    say('generating %s (%d x %d) ...' % (path, m, n))
    rng = np.random.default_rng(20221201)
    with h5py.File(path + '.tmp', 'w') as f:
        d = f.create_dataset('x', (m, n), 'f8', chunks=(chunk_rows, n))
        for r in range(0, m, chunk_rows):
            rr = min(chunk_rows, m - r)
            d[r:r + rr] = rng.standard_normal((rr, n))
    os.rename(path + '.tmp', path)


def warm(path):
    subprocess.run(['cat', path], stdout=subprocess.DEVNULL, check=False)


REPEAT = [1]   # best of this many runs (--repeat)
ENV = dict(os.environ)


def timed(cmd, label, inp, out):
    """Runs cmd under /usr/bin/time -v, REPEAT[0] times, each with no file
    at out and inp in the page cache: (seconds, peak RSS bytes, ok) of the
    fastest run; LAST_CPU holds its CPU seconds."""
    best = None
    for _ in range(REPEAT[0]):
        rm(out)
        quiesce()
        warm(inp)
        r = timed_once(cmd, label)
        if best is None or (r[2] and (not best[2] or r[0] < best[0])):
            best = r + (LAST_CPU[0],)
    LAST_CPU[0] = best[3]
    return best[:3]


def timed_once_clean(cmd, label, inp, out):
    """One run as timed() makes it: (seconds, peak RSS, CPU seconds)."""
    rm(out)
    quiesce()
    warm(inp)
    t, r, _ = timed_once(cmd, label)
    return t, r, LAST_CPU[0]


def timed_once(cmd, label):
    t0 = time.monotonic()
    p = subprocess.run(['/usr/bin/time', '-v'] + cmd, capture_output=True, text=True, env=ENV)
    dt = time.monotonic() - t0
    m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', p.stderr)
    rss = int(m.group(1)) * 1024 if m else None
    cpu = 0.0
    for what in ('User', 'System'):
        c = re.search(what + r' time \(seconds\): ([\d.]+)', p.stderr)
        cpu += float(c.group(1)) if c else 0.0
    if p.returncode != 0:
        say('!!! %s failed (%d):\n%s' % (label, p.returncode, p.stderr[-2000:]))
    say('  %-34s %8.2f s  cpu %7.2f s  peak RSS %6.0f MiB' % (label, dt, cpu, (rss or 0) / 2 ** 20))
    LAST_CPU[0] = cpu
    return dt, rss, p.returncode == 0


LAST_CPU = [0.0]  # user + system seconds of the last timed run


SETTLE = [2.0]  # seconds of quiet after sync before each timed run (--settle)


def quiesce():
    """Lets the writeback of earlier runs (their outputs, the file just
    removed) finish before the next timed run: sync, then a short pause.
    Without it a run could pay for the previous run's 2 GiB reaching the
    disk: the durable Q and R of 2026-12-06 03:48 took 4.31 s right after
    the floor's run; by hand after sync and 2 s, 3.5-3.9 s."""
    os.sync()
    time.sleep(SETTLE[0])


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def settle():
    """After an in-core numpy run (8-10 GiB freed at once) the kernel keeps
    reclaiming for a while: the next timed run (cask's) measured 1.63 s
    instead of 1.15-1.30 s for W6b.  Let it finish first."""
    say('  (15 s pause after numpy)')
    time.sleep(15)


def rm(path):
    if os.path.exists(path):
        os.remove(path)


DASK_QR = r'''
import sys, h5py, dask, dask.array as da
path, out, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
dask.config.set(scheduler='threads', num_workers=2)
f = h5py.File(path, 'r'); x = da.from_array(f['x'], chunks=(chunk, f['x'].shape[1]))
q, r = da.linalg.tsqr(x)
g = h5py.File(out, 'w')
dq = g.create_dataset('Q', x.shape, 'f8', chunks=(chunk, x.shape[1]))
dr = g.create_dataset('R', (x.shape[1], x.shape[1]), 'f8')
da.store([q, r], [dq, dr])
'''

DASK_SVD = r'''
import sys, h5py, dask, dask.array as da
path, out, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
dask.config.set(scheduler='threads', num_workers=2)
f = h5py.File(path, 'r'); x = da.from_array(f['x'], chunks=(chunk, f['x'].shape[1]))
u, s, v = da.linalg.svd(x)
g = h5py.File(out, 'w')
n = x.shape[1]
du = g.create_dataset('U', x.shape, 'f8', chunks=(chunk, n))
ds = g.create_dataset('S', (n,), 'f8'); dv = g.create_dataset('VT', (n, n), 'f8')
da.store([u, s, v], [du, ds, dv])
'''

DASK_RSVD = r'''
import sys, h5py, dask, dask.array as da, numpy as np
path, out, chunk, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
dask.config.set(scheduler='threads', num_workers=2)
f = h5py.File(path, 'r'); x = da.from_array(f['x'], chunks=(chunk, f['x'].shape[1]))
u, s, v = da.linalg.svd_compressed(x, k, n_power_iter=2, seed=1)
g = h5py.File(out, 'w')
du = g.create_dataset('U', (x.shape[0], k), 'f8')
ds = g.create_dataset('S', (k,), 'f8'); dv = g.create_dataset('VT', (k, x.shape[1]), 'f8')
da.store([u, s, v], [du, ds, dv])
'''

NP_QR = r'''
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], 'r')['x'][()]
q, r = np.linalg.qr(a)
with h5py.File(sys.argv[2], 'w') as g:
    g['Q'] = q; g['R'] = r
'''

NP_SVD = r'''
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], 'r')['x'][()]
u, s, vt = np.linalg.svd(a, full_matrices=False)
with h5py.File(sys.argv[2], 'w') as g:
    g['U'] = u; g['S'] = s; g['VT'] = vt
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--quick', action='store_true', help='small sizes, no RESULTS.md')
    ap.add_argument('--no-numpy', action='store_true')
    ap.add_argument('--no-dask', action='store_true')
    ap.add_argument('--results', default=os.path.join(HERE, 'RESULTS.md'),
                    help='markdown file the section is appended to (full runs only)')
    ap.add_argument('--repeat', type=int, default=1, help='best of N runs of every tool')
    ap.add_argument('--settle', type=float, default=2.0,
                    help='seconds of quiet after sync before each timed run (default 2)')
    ap.add_argument('--durable-rounds', type=int, default=3,
                    help='rounds of dd floor / cask floor / cask Q and R, durable (default 3)')
    ap.add_argument('--fsync', action='store_true',
                    help='let cask fsync its outputs (default CASK_FSYNC=0: dask and numpy '
                         'never sync)')
    args = ap.parse_args()
    REPEAT[0] = max(1, args.repeat)
    SETTLE[0] = max(0.0, args.settle)
    args.durable_rounds = max(1, args.durable_rounds)
    if not args.fsync:
        ENV['CASK_FSYNC'] = '0'
    cask = find_cask()
    os.makedirs(OUT, exist_ok=True)
    mem, thr = '512M', '2'
    if args.quick:
        m5, n5, c5, m6b, n6b, c6b = 400000, 64, 100000, 4096, 2048, 512
    else:
        m5, n5, c5, m6b, n6b, c6b = 4000000, 64, 100000, 32768, 8192, 1024
    k = 10
    a5 = os.path.join(OUT, 'la_%dx%d_c%d.h5' % (m5, n5, c5))
    a6b = os.path.join(OUT, 'la_%dx%d_c%d.h5' % (m6b, n6b, c6b))
    make_input(a5, m5, n5, c5)
    make_input(a6b, m6b, n6b, c6b)
    o = os.path.join(OUT, 'la_out.h5')
    rows = []  # (workload, tool, seconds, rss, note, cpu seconds)
    load0 = os.getloadavg()[0]
    glob = ['--memory', mem, '--threads', thr, '--overwrite', '-q']

    say('W5: TSQR of %d x %d float64 (%.2f GiB)' % (m5, n5, m5 * n5 * 8 / 2 ** 30))
    t, r, _ = timed([cask, 'eval', '-i', 'A=%s:/x' % a5, 'A * 1', '-o', o + ':/copy'] + glob,
                    'cask floor: read A + write m x n', a5, o)
    floor = t
    rows.append(('W5', 'floor: cask eval A*1 -o', t, r, 'read A + write a copy', LAST_CPU[0]))
    t, r, _ = timed([cask, 'qr', a5 + ':/x', '--r', o + ':/R'] + glob, 'cask qr, R only', a5, o)
    gf = 2.0 * m5 * n5 * n5 / t / 1e9
    rows.append(('W5', 'cask R only', t, r, '%.1f GF/s (2 m n^2 / wall); %.1f GF per CPU-second'
                 % (gf, 2.0 * m5 * n5 * n5 / max(LAST_CPU[0], 1e-9) / 1e9), LAST_CPU[0]))
    t, r, _ = timed([cask, 'qr', a5 + ':/x', '--r', o + ':/R', '--q', o + ':/Q'] + glob,
                    'cask qr, Q and R', a5, o)
    rows.append(('W5', 'cask Q and R', t, r, '%.2fx the I/O floor' % (t / floor), LAST_CPU[0]))
    if not args.fsync:
        # As cask runs by default: durable (fsync before the rename), whole
        # chunks written with O_DIRECT.  Against two floors of "read A +
        # write Q" on this disk: the hardware's (dd of A to a new file,
        # O_DIRECT, fsync: cat reads A from the page cache, as cask does) and
        # cask's own (eval A * 1).  The disk's speed moves from minute to
        # minute, so the three run in turn, --durable-rounds times, and the
        # ratios are taken within a round.
        d = ['env', '-u', 'CASK_FSYNC']
        dd = ['sh', '-c', 'dd if="$0" of="$1" bs=16M oflag=direct conv=fsync status=none', a5, o]
        runs = {'dd': [], 'floor': [], 'qr': []}
        for _ in range(args.durable_rounds):
            runs['dd'].append(timed_once_clean(dd, 'dd floor, durable', a5, o))
            runs['floor'].append(timed_once_clean(
                d + [cask, 'eval', '-i', 'A=%s:/x' % a5, 'A * 1', '-o', o + ':/copy'] + glob,
                'cask floor, durable (default)', a5, o))
            runs['qr'].append(timed_once_clean(
                d + [cask, 'qr', a5 + ':/x', '--r', o + ':/R', '--q', o + ':/Q'] + glob,
                'cask qr, Q and R, durable (default)', a5, o))
        rd = [q[0] / f[0] for q, f in zip(runs['qr'], runs['dd'])]
        rf = [q[0] / f[0] for q, f in zip(runs['qr'], runs['floor'])]
        nr = args.durable_rounds

        def mid(key):
            # the run of median time: (seconds, rss, cpu)
            xs = sorted(runs[key], key=lambda x: x[0])
            return xs[(len(xs) - 1) // 2]
        for key, tool, note in (
                ('dd', 'floor, durable: dd A -> new file (O_DIRECT, fsync)',
                 'read A + write a copy to disk, no cask'),
                ('floor', 'floor, durable: cask eval A*1 -o (default)',
                 'read A + write a copy to disk'),
                ('qr', 'cask Q and R, durable (default)',
                 '%.2fx dd (median of %d rounds; %.2f-%.2f), %.2fx cask\'s floor (%.2f-%.2f)'
                 % (median(rd), nr, min(rd), max(rd), median(rf), min(rf), max(rf)))):
            t, r, cpu = mid(key)
            ts = sorted(x[0] for x in runs[key])
            rows.append(('W5', tool, t, r, note + ('; runs %s s' % ', '.join('%.2f' % x for x in ts)
                                                  if nr > 1 else ''), cpu))
    if not args.no_dask:
        t, r, _ = timed([PY, '-c', DASK_QR, a5, o, str(c5)], 'dask tsqr, Q and R', a5, o)
        rows.append(('W5', 'dask tsqr Q and R', t, r, '', LAST_CPU[0]))
    if not args.no_numpy:
        t, r, _ = timed([PY, '-c', NP_QR, a5, o], 'numpy qr (in core)', a5, o)
        rows.append(('W5', 'numpy.linalg.qr', t, r, 'in core', LAST_CPU[0]))
        settle()

    say('W6: SVD of the same')
    t, r, _ = timed([cask, 'svd', a5 + ':/x', '--s', o + ':/S', '--u', o + ':/U', '--vt',
                     o + ':/VT'] + glob, 'cask svd U S VT', a5, o)
    rows.append(('W6', 'cask svd', t, r, '', LAST_CPU[0]))
    if not args.no_dask:
        t, r, _ = timed([PY, '-c', DASK_SVD, a5, o, str(c5)], 'dask svd', a5, o)
        rows.append(('W6', 'dask svd', t, r, '', LAST_CPU[0]))
    if not args.no_numpy:
        t, r, _ = timed([PY, '-c', NP_SVD, a5, o], 'numpy svd (in core)', a5, o)
        rows.append(('W6', 'numpy.linalg.svd', t, r, 'in core', LAST_CPU[0]))
        settle()

    say('W6b: randomized SVD k=%d of %d x %d float64 (%.2f GiB)'
        % (k, m6b, n6b, m6b * n6b * 8 / 2 ** 30))
    t, r, _ = timed([cask, 'svd', a6b + ':/x', '-k', str(k), '--s', o + ':/S', '--u',
                     o + ':/U', '--vt', o + ':/VT', '--seed', '1'] + glob,
                    'cask svd -k %d (q=2)' % k, a6b, o)
    rows.append(('W6b', 'cask svd -k 10 (p=10, q=2)', t, r, '', LAST_CPU[0]))
    with h5py.File(o, 'r') as g:
        s_cask = g['S'][()]
    if not args.no_dask:
        t, r, _ = timed([PY, '-c', DASK_RSVD, a6b, o, str(c6b), str(k)],
                        'dask svd_compressed (2 power it.)', a6b, o)
        rows.append(('W6b', 'dask svd_compressed (n_power_iter=2)', t, r, '', LAST_CPU[0]))
        with h5py.File(o, 'r') as g:
            s_dask = g['S'][()]
        say('  top singular values cask %s\n                      dask %s'
            % (np.array2string(s_cask[:4], precision=6), np.array2string(s_dask[:4], precision=6)))
    rm(o)

    lines = ['', '## Linear algebra (issue 4)', '',
             'Run %s, `bench/run_linalg.py%s`, cask at `--memory %s --threads %s`; dask '
             '2022.12 threaded (2 workers); numpy in core. Times are wall seconds of the '
             'whole process (best of %d, each after sync, %.0f s of quiet, `cat A > /dev/null` '
             'and with no output file); CPU seconds and peak RSS from /usr/bin/time -v; cask %s. 1-minute load '
             'average %.1f at the start, %.1f at the end (2 cores).'
             % (datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC'),
                ' --quick' if args.quick else (' --repeat %d' % REPEAT[0] if REPEAT[0] > 1 else ''),
                mem, thr, REPEAT[0], SETTLE[0],
                'fsyncs its outputs' if args.fsync else 'without fsync (CASK_FSYNC=0)',
                load0, os.getloadavg()[0]), '',
             '| workload | tool | seconds | CPU s (user+sys) | peak RSS | note |',
             '|---|---|---:|---:|---:|---|']
    for w, tool, t, r, note, cpu in rows:
        lines.append('| %s | %s | %.2f | %.2f | %s | %s |' % (w, tool, t, cpu,
                     '%.0f MiB' % (r / 2 ** 20) if r else 'n/a', note))
    text = '\n'.join(lines) + '\n'
    say(text)
    if not args.quick:
        with open(args.results, 'a') as f:
            f.write(text)
        say('appended to %s' % args.results)


if __name__ == '__main__':
    main()
