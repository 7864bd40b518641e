#!/usr/bin/python3
"""cask benchmark: the same workloads with cask, dask and a hand-written floor.

Run with /usr/bin/python3 (Debian's numpy, h5py and dask 2022.12) from anywhere:

    /usr/bin/python3 bench/run.py                       # the full run -> bench/RESULTS.md
    /usr/bin/python3 bench/run.py --only W2,W3 --sizes 0.5   # a quick look (< 1 minute)
    /usr/bin/python3 bench/run.py --peak-sizes 0.5,2,8  # add the flat-peak-RSS series

Workloads (bench/README.md explains each and how to read the numbers):
  W1  y = sqrt(abs(x)) * 2 + x stored to a new file
  W2  sum(x)
  W3  std(x, axis=0)
  W4  sum(x) of the same data stored with gzip level 1 + shuffle (also cask at 1 thread)
  W4w x*1 written with gzip 1 + shuffle by cask at 1 and 2 threads
  W9  per-task overhead: sum over a 1-d array in chunks of 1 element

Inputs are made with h5py chunk by chunk (random data from numpy's default_rng, seeded)
under bench/out/ and reused by later runs.  Every timed process runs under
/usr/bin/time -v for its peak RSS; the page cache is warmed (cat FILE > /dev/null) before
timing.  This is a benchmark, never a test: nothing here runs from the test suite.
"""

import argparse
import concurrent.futures
import datetime
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SEED = 20221201
ALL_WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'W4w', 'W9']
EXPR_W1 = 'sqrt(abs(x)) * 2 + x'

problems = []  # every disagreement or failure, repeated in RESULTS.md
KEEP_MARK = '<!-- sections below are kept when bench/run.py rewrites this file -->'


def say(msg=''):
    print(msg, flush=True)


def loud(msg):
    """Records and prints a problem so nobody can miss it."""
    problems.append(msg)
    say('!' * 78)
    say('!!! ' + msg)
    say('!' * 78)


def parse_size(s):
    m = re.fullmatch(r'\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*', s, re.I)
    if not m:
        raise argparse.ArgumentTypeError('bad size %r' % s)
    mult = {'': 1, 'K': KiB, 'M': MiB, 'G': GiB, 'T': GiB * KiB}[m.group(2).upper()]
    return int(float(m.group(1)) * mult)


def fmt_bytes(n):
    if n is None:
        return 'n/a'
    return '%.0f MiB' % (n / MiB)


def fmt_s(t):
    if t is None:
        return 'n/a'
    return '%.3f' % t if t < 10 else '%.2f' % t


def fmt_ratio(a, b):
    if a is None or b is None or b <= 0:
        return 'n/a'
    return '%.2fx' % (a / b)


# ------------------------------------------------------------------ inputs

def geometry(size_gib, per_side, chunk=None):
    """A square float64 shape of about size_gib and its chunk shape.

    0.5 GiB -> 8192^2 in 1024^2 chunks and 2 GiB -> 16384^2 in 2048^2 chunks with the
    default of 8 chunks per side: the issue's two cases."""
    n = int(round(math.sqrt(size_gib * GiB / 8) / 8)) * 8
    n = max(n, 8)
    c = chunk if chunk else max(n // per_side, 1)
    return (n, n), (c, c)


def input_path(outdir, shape, chunks, gz):
    return os.path.join(outdir, '%s_%dx%d_c%dx%d.h5' % (
        'xgz' if gz else 'x', shape[0], shape[1], chunks[0], chunks[1]))


def is_complete(path):
    try:
        with h5py.File(path, 'r') as f:
            return bool(f.attrs.get('bench_complete', False))
    except Exception:
        return False


def make_input(path, shape, chunks, gz):
    """Writes x (uniform in [-0.5, 1.5)) chunk by chunk, so memory stays at one chunk
    whatever the size.  The gzip copy holds the same values: it is made from the raw file."""
    if is_complete(path):
        return
    if gz:
        raw = input_path(os.path.dirname(path), shape, chunks, False)
        make_input(raw, shape, chunks, False)
        return make_gzip_copy(raw, path, shape, chunks)
    say('making %s (%s, chunks %s) ...' % (os.path.basename(path), shape, chunks))
    t0 = time.perf_counter()
    tmp = path + '.part'
    rng = np.random.default_rng(SEED)
    with h5py.File(tmp, 'w') as f:
        d = f.create_dataset('x', shape=shape, dtype='<f8', chunks=chunks)
        for i in range(0, shape[0], chunks[0]):
            for j in range(0, shape[1], chunks[1]):
                r, c = min(chunks[0], shape[0] - i), min(chunks[1], shape[1] - j)
                d[i:i + r, j:j + c] = rng.random((r, c)) * 2 - 0.5
        f.attrs['bench_complete'] = True
    os.replace(tmp, path)
    say('  done in %.1f s, %.2f GiB on disk' % (time.perf_counter() - t0,
                                                os.path.getsize(path) / GiB))


def shuffle_deflate(block, chunks):
    """HDF5's shuffle then deflate (level 1) of one chunk, edge chunks padded with 0."""
    if block.shape != tuple(chunks):
        full = np.zeros(chunks, dtype='<f8')
        full[:block.shape[0], :block.shape[1]] = block
        block = full
    shuffled = np.ascontiguousarray(block, dtype='<f8').view(np.uint8).reshape(-1, 8).T
    return zlib.compress(shuffled.tobytes(), 1)


def make_gzip_copy(raw, path, shape, chunks):
    """Copies raw into a gzip 1 + shuffle dataset: the filters run in Python threads (zlib
    drops the GIL) and the chunks go in with write_direct_chunk; HDF5's own deflate in one
    thread takes minutes per GiB.  Spot-checked through h5py's normal read path."""
    say('making %s (gzip 1 + shuffle copy of %s) ...' % (os.path.basename(path),
                                                        os.path.basename(raw)))
    t0 = time.perf_counter()
    tmp = path + '.part'
    offs = [(i, j) for i in range(0, shape[0], chunks[0]) for j in range(0, shape[1], chunks[1])]
    with h5py.File(raw, 'r') as fr, h5py.File(tmp, 'w') as f, \
            concurrent.futures.ThreadPoolExecutor(max(os.cpu_count() or 1, 1)) as pool:
        x = fr['x']
        d = f.create_dataset('x', shape=shape, dtype='<f8', chunks=chunks,
                             compression='gzip', compression_opts=1, shuffle=True)
        pending = []
        for k, (i, j) in enumerate(offs):
            block = x[i:i + chunks[0], j:j + chunks[1]]
            pending.append(((i, j), pool.submit(shuffle_deflate, block, chunks)))
            while len(pending) > 4 or (pending and k == len(offs) - 1):
                off, fut = pending.pop(0)
                d.id.write_direct_chunk(off, fut.result(), 0)
        f.attrs['bench_complete'] = True
    with h5py.File(raw, 'r') as fr, h5py.File(tmp, 'r') as f:
        for (i, j) in (offs[0], offs[len(offs) // 2], offs[-1]):
            sl = np.s_[i:i + chunks[0], j:j + chunks[1]]
            if not np.array_equal(fr['x'][sl], f['x'][sl]):
                sys.exit('the gzip copy %s does not read back equal' % tmp)
    os.replace(tmp, path)
    say('  done in %.1f s, %.2f GiB on disk' % (time.perf_counter() - t0,
                                                os.path.getsize(path) / GiB))


def make_w9_input(path, n):
    """A 1-d float64 array of n ones in chunks of one element (h5py, one write call)."""
    if is_complete(path):
        return
    say('making %s (%d chunks of 1 element; h5py is slow at this) ...' % (
        os.path.basename(path), n))
    t0 = time.perf_counter()
    tmp = path + '.part'
    with h5py.File(tmp, 'w') as f:
        d = f.create_dataset('x', shape=(n,), dtype='<f8', chunks=(1,))
        d[:] = np.ones(n)
        f.attrs['bench_complete'] = True
    os.replace(tmp, path)
    say('  done in %.1f s' % (time.perf_counter() - t0))


# Seconds this harness takes to launch and reap any process (fork of this
# Python, nice, /usr/bin/time): the fastest of 9 runs of /bin/true through
# run_timed.  It is subtracted from every time taken from outside a process
# (cask, the floor, cat), never from dask's, which is taken inside Python.
LAUNCH = [0.0]


def measure_launch(nice=0):
    LAUNCH[0] = min(run_timed(['/bin/true'], 60, nice=nice)['wall'] for _ in range(9))
    return LAUNCH[0]


def warm(path, nice=0):
    """Reads the file through the page cache twice; returns the second (warm) cat time,
    less the launch overhead."""
    subprocess.run('cat %s > /dev/null' % sh_quote(path), shell=True, check=True)
    r = run_timed(['sh', '-c', 'cat %s > /dev/null' % sh_quote(path)], 600, nice=nice)
    return max(0.0, r['wall'] - LAUNCH[0])


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


# ------------------------------------------------------------------ running

def run_timed(cmd, timeout, env=None, nice=0):
    """Runs cmd under /usr/bin/time -v; returns wall time, peak RSS and output.

    The child gets its own session (so a timeout can end the whole process group).  With
    sched_autogroup a new session is also a new scheduling group that competes with every
    other session as an equal, whatever plain nice says; nice != 0 therefore sets the
    group's nice value too (/proc/self/autogroup), as well as the process's."""
    full = ['/usr/bin/time', '-v'] + cmd
    if nice:
        full = ['nice', '-n', str(nice)] + full

    def boost():
        if nice:
            try:
                with open('/proc/self/autogroup', 'w') as f:
                    f.write(str(nice))
            except OSError:
                pass
    t0 = time.perf_counter()
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, start_new_session=True, preexec_fn=boost)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return dict(ok=False, rc=None, wall=time.perf_counter() - t0, rss=None,
                    stdout=out or '', stderr='TIMEOUT after %d s' % timeout, cmd=cmd)
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)  # Ctrl-C: the child is in its own session
        raise
    wall = time.perf_counter() - t0
    cut = err.find('\tCommand being timed:')
    prog_err, time_err = (err[:cut], err[cut:]) if cut >= 0 else (err, '')
    prog_err = re.sub(r'Command (exited with non-zero status|terminated by signal) \d+\n?$',
                      '', prog_err)
    m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', time_err)
    rss = int(m.group(1)) * KiB if m else None
    return dict(ok=p.returncode == 0, rc=p.returncode, wall=wall, rss=rss,
                stdout=out, stderr=prog_err, cmd=cmd)


def keyvals(text):
    out = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            out[parts[0]] = parts[1].strip()
    return out


def sync_and_settle():
    """Flushes dirty pages left by the previous run (untimed) so runs don't overlap."""
    subprocess.run(['sync'], check=False)


def loadavg():
    try:
        with open('/proc/loadavg') as f:
            return float(f.read().split()[0])
    except OSError:
        return None


def busy_cores(seconds=3.0):
    """Cores in use by anything (from /proc/stat) over the next few seconds."""
    def snap():
        with open('/proc/stat') as f:
            v = [int(t) for t in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
    except OSError:
        return None
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(t1 - t0, 1))


def wait_quiet(limit, max_wait):
    """Waits (up to max_wait s) until other processes use less than limit cores."""
    t0 = time.perf_counter()
    busy = busy_cores()
    while busy is not None and busy >= limit and time.perf_counter() - t0 < max_wait:
        say('  %.2f cores busy >= %.2f: waiting for a quiet machine ...' % (busy, limit))
        busy = busy_cores(10.0)
    return busy


def rm(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


DASK_SCRIPT = r'''
import sys, time
import numpy as np, h5py, dask, dask.array as da
w, path, dname, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
dask.config.set(scheduler="threads", num_workers=threads)
t0 = time.perf_counter()
f = h5py.File(path, "r")
d = f[dname]
x = da.from_array(d, chunks=d.chunks)
res = None
graph = None
if w in ("W1", "W4w"):
    y = (da.sqrt(abs(x)) * 2 + x) if w == "W1" else x * 1
    kw = dict(compression="gzip", compression_opts=1, shuffle=True) if w == "W4w" else {}
    fo = h5py.File(out, "w")
    dy = fo.create_dataset("y", shape=y.shape, dtype=y.dtype, chunks=d.chunks, **kw)
    da.store(y, dy)
    fo.close()
elif w == "W3":
    r = x.std(axis=0)
    graph = r
    res = r.compute()
else:
    r = x.sum()
    graph = r
    res = float(r.compute())
t1 = time.perf_counter()
f.close()
print("seconds %.6f" % (t1 - t0))
if w == "W3":
    np.save(out, res)
    print("result %r" % float(res.sum()))
    print("std0 %r" % float(res[0]))
elif res is not None:
    print("result %r" % res)
if graph is not None:
    print("tasks %d" % len(dict(graph.__dask_graph__())))
print("dask %s" % dask.__version__)
'''


class Bench:
    def __init__(self, args):
        self.a = args
        self.rows = []        # main table (issue 2)
        self.extra = []       # issue 6 rows
        self.peak = []        # flat-RSS series
        self.stats_log = []   # (label, cask --stats text)
        self.cat = {}         # path -> warm cat seconds
        self.loads = []       # (case, 1-minute load average before it)

    # -- one tool, one workload
    def cask(self, label, inp, expr, out=None, threads=None, extra=()):
        if not self.a.cask_bin:
            return None
        cmd = [self.a.cask_bin, 'eval', '-i', 'x=%s:/x' % inp, expr]
        if out:
            rm(out.split(':/')[0])
            cmd += ['-o', out]
        cmd += list(extra)
        cmd += ['--memory', self.a.memory_str, '--threads', str(threads or self.a.threads),
                '--stats']
        return self.repeat(label + ' cask', cmd, out)

    def dask(self, label, w, inp, out, threads=None):
        if 'dask' not in self.a.tools:
            return None
        rm(out)
        cmd = [sys.executable, '-c', DASK_SCRIPT, w, inp, '/x', out,
               str(threads or self.a.threads)]
        return self.repeat(label + ' dask', cmd, out)

    def floor(self, label, args, out=None, threads=None):
        if not self.a.floor_bin:
            return None
        cmd = [self.a.floor_bin, '-t', str(threads or self.a.threads)] + args
        return self.repeat(label + ' floor', cmd, out)

    def repeat(self, label, cmd, out):
        """Runs cmd a.repeat times; keeps the fastest run and the highest peak RSS."""
        best = None
        for k in range(self.a.repeat):
            if out:
                rm(out.split(':/')[0])
            sync_and_settle()
            r = run_timed(cmd, self.a.timeout, nice=self.a.nice)
            r['time'] = max(0.0, r['wall'] - LAUNCH[0])
            if r['ok'] and cmd[0] == sys.executable:
                r['kv'] = keyvals(r['stdout'])
                r['time'] = float(r['kv']['seconds'])  # dask: in-Python, after imports
            if not r['ok']:
                loud('%s FAILED (exit %s): %s\n    stderr: %s' % (
                    label, r['rc'], ' '.join(sh_quote(c) if ' ' in c else c for c in cmd[:6]),
                    r['stderr'].strip()[-800:]))
                return r
            say('  %-28s %8.3f s   peak RSS %s' % (label, r['time'], fmt_bytes(r['rss'])))
            if best is None:
                best = r
            else:
                rss = max(best['rss'] or 0, r['rss'] or 0)
                if r['time'] < best['time']:
                    best = r
                best['rss'] = rss
        if label.endswith('cask'):
            self.stats_log.append((label, best['stderr'].strip()))
        return best

    # -- result checks
    def check_scalar(self, label, vals, tol):
        """vals: {tool: float or None}; flags a relative disagreement above tol."""
        got = {k: v for k, v in vals.items() if v is not None}
        if len(got) < 2:
            return
        ref_name, ref = next(iter(got.items()))
        for k, v in got.items():
            d = abs(v - ref) / max(abs(ref), abs(v), 1e-300)
            if not d <= tol:
                loud('%s: results disagree: %s=%r vs %s=%r (relative %.3g > %g)' % (
                    label, ref_name, ref, k, v, d, tol))
                return
        say('  %s: results agree (%s)' % (label, ', '.join(
            '%s=%.15g' % (k, v) for k, v in got.items())))

    def scalar_of(self, r, key='result'):
        if not r or not r['ok']:
            return None
        if r['cmd'][0] == self.a.cask_bin:
            txt = r['stdout'].strip()
            try:
                return float(txt.split()[-1]) if key == 'result' else None
            except (ValueError, IndexError):
                loud('cannot parse cask output %r' % txt[:200])
                return None
        kv = r.get('kv') or keyvals(r['stdout'])
        return float(kv[key]) if key in kv else None

    def compare_arrays(self, label, files, ref_fn=None, tol=1e-12):
        """Compares HDF5 outputs band by band: {tool: (path, dset)}; ref_fn(x_band) -> y."""
        opened = {}
        try:
            for k, (p, d) in files.items():
                if os.path.exists(p):
                    opened[k] = h5py.File(p, 'r')[d]
            if not opened:
                return
            shapes = {k: v.shape for k, v in opened.items()}
            if len(set(shapes.values())) != 1:
                loud('%s: output shapes differ: %s' % (label, shapes))
                return
            names = list(opened)
            ds0 = opened[names[0]]
            band = (ds0.chunks or (min(ds0.shape[0], 1024),))[0] if ds0.ndim else 1
            worst = {k: 0.0 for k in names}
            xin = ref_fn[0] if ref_fn else None
            for i in range(0, ds0.shape[0], band):
                a0 = opened[names[0]][i:i + band]
                if ref_fn:
                    ref = ref_fn[1](xin[i:i + band])
                    worst['formula'] = max(worst.get('formula', 0.0), float(
                        np.max(np.abs(a0 - ref) / np.maximum(np.abs(ref), 1e-300))))
                for k in names[1:]:
                    b = opened[k][i:i + band]
                    worst[k] = max(worst[k], float(np.max(
                        np.abs(a0 - b) / np.maximum(np.abs(a0), 1e-300))))
            bad = {k: v for k, v in worst.items() if not v <= tol}
            if bad:
                loud('%s: outputs disagree with %s: max relative differences %s (tol %g)'
                     % (label, names[0], bad, tol))
            else:
                say('  %s: outputs agree (max relative differences vs %s: %s)' % (
                    label, names[0], {k: '%.2g' % v for k, v in worst.items() if k != names[0]}))
        finally:
            for v in opened.values():
                v.file.close()

    def settle(self, what):
        """Waits for a quiet machine if asked, records how busy it was before `what`."""
        a = self.a
        busy = wait_quiet(a.quiet_load, a.quiet_wait) if a.quiet_wait else busy_cores()
        la = loadavg()
        self.loads.append((what.strip().lstrip('=').strip(), la, busy))
        say('%s  (load average %s, %.2f cores busy)' % (what, la, busy or 0))
        if busy is not None and busy > 0.5 and a.nice < 0:
            say('  note: %.2f cores busy before %s; timed processes run at nice %d' % (
                busy, what, a.nice))
        elif busy is not None and busy > 0.5:
            loud('%.2f cores busy (load average %.2f) before %s: other processes compete for '
                 'the 2 cores, times are not trustworthy' % (busy, la or 0, what))

    # -- the workloads for one size
    def run_case(self, size):
        a = self.a
        shape, chunks = geometry(size, a.chunks_per_side)
        cbytes = chunks[0] * chunks[1] * 8
        raw = input_path(a.outdir, shape, chunks, False)
        gz = input_path(a.outdir, shape, chunks, True)
        tag = '%.3g GiB %dx%d / %dx%d (%.3g MiB chunks)' % (
            shape[0] * shape[1] * 8 / GiB, shape[0], shape[1], chunks[0], chunks[1], cbytes / MiB)
        size_label = '%.3g GiB, %.3g MiB chunks' % (shape[0] * shape[1] * 8 / GiB, cbytes / MiB)
        need_raw = any(w in a.only for w in ('W1', 'W2', 'W3', 'W4w'))
        need_gz = 'W4' in a.only
        if need_raw:
            make_input(raw, shape, chunks, False)
        if need_gz:
            make_input(gz, shape, chunks, True)
        say('\n=== %s' % tag)
        if need_raw:
            self.cat[raw] = warm(raw, a.nice)
            say('  page cache warmed: cat %s > /dev/null (warm re-read %.3f s)' % (
                os.path.basename(raw), self.cat[raw]))
        if need_gz:
            self.cat[gz] = warm(gz, a.nice)
            say('  page cache warmed: cat %s > /dev/null' % os.path.basename(gz))
        o = a.outdir
        target_x = 10.0 if cbytes >= 32 * MiB else 3.0

        def row(w, rc, rd, rf, dask_target, note=''):
            self.rows.append(dict(w=w, size=size_label, cask=rc, dask=rd, floor=rf,
                                  dask_target=dask_target, note=note, cbytes=cbytes))

        if 'W1' in a.only:
            self.settle('W1 %s, %s' % (EXPR_W1, size_label))
            yc, yd, yf = (os.path.join(o, 'w1_%s.h5' % t) for t in ('cask', 'dask', 'floor'))
            rc = self.cask('W1', raw, EXPR_W1, out=yc + ':/y')
            rd = self.dask('W1', 'W1', raw, yd)
            rf = self.floor('W1', ['W1', raw, '/x', yf, '/y'], out=yf)
            files = {}
            for k, p, r in (('cask', yc, rc), ('floor', yf, rf), ('dask', yd, rd)):
                if r and r['ok']:
                    files[k] = (p, '/y')
            xin = h5py.File(raw, 'r')
            try:
                self.compare_arrays('W1 %s' % size_label, files,
                                    ref_fn=(xin['x'], lambda x: np.sqrt(np.abs(x)) * 2 + x),
                                    tol=1e-15)
            finally:
                xin.close()
            for p in (yc, yd, yf):
                rm(p)
            row('W1', rc, rd, rf, min(2.0, target_x))

        if 'W2' in a.only:
            self.settle('W2 sum(x), %s' % size_label)
            rc = self.cask('W2', raw, 'sum(x)')
            rd = self.dask('W2', 'W2', raw, os.path.join(o, 'w2_dask.npy'))
            rf = self.floor('W2', ['W2', raw, '/x'])
            self.check_scalar('W2 %s' % size_label, dict(
                cask=self.scalar_of(rc), dask=self.scalar_of(rd), floor=self.scalar_of(rf)), 1e-9)
            row('W2', rc, rd, rf, target_x)
            self.extra.append(dict(what='W2 sum vs cat (warm)', size=size_label,
                                   a=('cask', rc['time'] if rc and rc['ok'] else None),
                                   b=('cat', self.cat[raw]), target=1.5, kind='le'))

        if 'W3' in a.only:
            self.settle('W3 std(x, axis=0), %s' % size_label)
            sc = os.path.join(o, 'w3_cask.h5')
            sd = os.path.join(o, 'w3_dask.npy')
            rc = self.cask('W3', raw, 'std(x, axis=0)', out=sc + ':/s')
            rd = self.dask('W3', 'W3', raw, sd)
            rf = self.floor('W3', ['W3', raw, '/x'])
            cvec = None
            if rc and rc['ok']:
                try:
                    with h5py.File(sc, 'r') as f:
                        cvec = f['s'][...]
                except Exception as e:
                    loud('W3: cannot read cask output %s: %s' % (sc, e))
            dvec = np.load(sd) if rd and rd['ok'] and os.path.exists(sd) else None
            vals = dict(cask=float(cvec.sum()) if cvec is not None else None,
                        dask=self.scalar_of(rd), floor=self.scalar_of(rf))
            self.check_scalar('W3 sum of std %s' % size_label, vals, 1e-9)
            self.check_scalar('W3 std[0] %s' % size_label, dict(
                cask=float(cvec[0]) if cvec is not None else None,
                dask=self.scalar_of(rd, 'std0'), floor=self.scalar_of(rf, 'std0')), 1e-9)
            if cvec is not None and dvec is not None:
                if cvec.shape != dvec.shape:
                    loud('W3: cask std has shape %s, dask %s' % (cvec.shape, dvec.shape))
                else:
                    d = float(np.max(np.abs(cvec - dvec) / np.abs(dvec)))
                    if not d <= 1e-9:
                        loud('W3: cask and dask std vectors differ: max relative %.3g' % d)
                    else:
                        say('  W3: std vectors agree elementwise (max relative %.2g)' % d)
            rm(sc)
            rm(sd)
            row('W3', rc, rd, rf, target_x)

        if 'W4' in a.only:
            self.settle('W4 sum(x) gzip 1 + shuffle, %s' % size_label)
            rc = self.cask('W4', gz, 'sum(x)')
            rc1 = self.cask('W4 1-thread', gz, 'sum(x)', threads=1)
            rd = self.dask('W4', 'W4', gz, os.path.join(o, 'w4_dask.npy'))
            rf = self.floor('W4', ['W4', gz, '/x'])
            rf1 = self.floor('W4 1-thread', ['W4', gz, '/x'], threads=1)
            self.check_scalar('W4 %s' % size_label, dict(
                cask=self.scalar_of(rc), cask1=self.scalar_of(rc1), dask=self.scalar_of(rd),
                floor=self.scalar_of(rf)), 1e-9)
            row('W4', rc, rd, rf, 15.0 if cbytes >= 32 * MiB else 3.0,
                note='issue 6 target vs dask')
            t = lambda r: r['time'] if r and r['ok'] else None
            self.extra.append(dict(what='W4 cask 1 thread / 2 threads', size=size_label,
                                   a=('1 thread', t(rc1)), b=('2 threads', t(rc)),
                                   target=1.8, kind='ge'))
            self.extra.append(dict(what='W4 floor 1 thread / 2 threads', size=size_label,
                                   a=('1 thread', t(rf1)), b=('2 threads', t(rf)),
                                   target=None, kind='info'))

        if 'W4w' in a.only:
            self.settle('W4w x*1 written with gzip 1 + shuffle, %s' % size_label)
            yw = os.path.join(o, 'w4w_cask.h5')
            args = ['--compress', 'gzip=1', '--shuffle']
            rc1 = self.cask('W4w 1-thread', raw, 'x*1', out=yw + ':/y', threads=1, extra=args)
            rc = self.cask('W4w', raw, 'x*1', out=yw + ':/y', extra=args)
            if rc and rc['ok']:
                self.check_w4w(yw, raw, size_label)
            rm(yw)
            t = lambda r: r['time'] if r and r['ok'] else None
            self.extra.append(dict(what='W4w cask 1 thread / 2 threads', size=size_label,
                                   a=('1 thread', t(rc1)), b=('2 threads', t(rc)),
                                   target=1.8, kind='ge'))

    def check_w4w(self, yw, raw, size_label):
        try:
            with h5py.File(yw, 'r') as f, h5py.File(raw, 'r') as g:
                y, x = f['y'], g['x']
                filt = (y.compression, y.compression_opts, y.shuffle)
                if filt != ('gzip', 1, True):
                    loud('W4w: output filters are %s, expected gzip 1 + shuffle' % (filt,))
                band = x.chunks[0]
                for i in range(0, x.shape[0], band):
                    if not np.array_equal(y[i:i + band], x[i:i + band]):
                        loud('W4w %s: output differs from the input in rows %d..' % (
                            size_label, i))
                        return
            say('  W4w %s: output equals the input exactly, gzip 1 + shuffle' % size_label)
        except Exception as e:
            loud('W4w: cannot check the output: %s' % e)

    def run_w9(self):
        a = self.a
        self.settle('\n=== W9 per-task overhead')
        pc = os.path.join(a.outdir, 'w9_%d.h5' % a.w9_n)
        pd = os.path.join(a.outdir, 'w9_%d.h5' % a.w9_dask_n)
        make_w9_input(pc, a.w9_n)
        make_w9_input(pd, a.w9_dask_n)
        warm(pc)
        warm(pd)
        # per-chunk tasks (grouping off) measure the per-task overhead; the
        # default groups 1-element chunks into ~1 MiB tasks
        os.environ['CASK_TASK_BYTES'] = '0'
        rcs = self.cask('W9 n=%d' % a.w9_dask_n, pd, 'sum(x)')
        os.environ.pop('CASK_TASK_BYTES')
        rd = self.dask('W9 n=%d' % a.w9_dask_n, 'W9', pd, os.path.join(a.outdir, 'w9.npy'))
        rfs = self.floor('W9 n=%d' % a.w9_dask_n, ['W2', pd, '/x'])
        rf = self.floor('W9 n=%d' % a.w9_n, ['W2', pc, '/x'])
        saved = a.timeout
        a.timeout = a.w9_timeout
        os.environ['CASK_TASK_BYTES'] = '0'
        rc = self.cask('W9 n=%d' % a.w9_n, pc, 'sum(x)')
        os.environ.pop('CASK_TASK_BYTES')
        rcg = self.cask('W9 n=%d grouped' % a.w9_n, pc, 'sum(x)')
        a.timeout = saved
        for n, r, who in ((a.w9_n, rc, 'cask'), (a.w9_n, rcg, 'cask grouped'),
                          (a.w9_dask_n, rcs, 'cask'),
                          (a.w9_dask_n, rd, 'dask'), (a.w9_n, rf, 'floor'),
                          (a.w9_dask_n, rfs, 'floor')):
            v = self.scalar_of(r)
            if v is not None and v != n:
                loud('W9: %s sum over %d ones gave %r' % (who, n, v))
        tasks = None
        if rd and rd['ok']:
            tasks = int(rd['kv'].get('tasks', 0)) or None
        self.w9 = dict(cask=rc, cask_grouped=rcg, cask_small=rcs, dask=rd, dask_tasks=tasks, floor=rf,
                       floor_small=rfs)

    def run_peak(self):
        a = self.a
        say('\n=== peak RSS across input sizes: W2 sum(x), %dx%d chunks' % (
            a.peak_chunk, a.peak_chunk))
        for s in a.peak_sizes:
            shape, chunks = geometry(s, a.chunks_per_side, chunk=a.peak_chunk)
            p = input_path(a.outdir, shape, chunks, False)
            make_input(p, shape, chunks, False)
            catt = warm(p, a.nice)
            lab = '%.3g GiB' % (shape[0] * shape[1] * 8 / GiB)
            self.settle('peak W2 %s' % lab)
            r = self.cask('peak W2 %s' % lab, p, 'sum(x)')
            self.peak.append(dict(size=lab, shape=shape, r=r, cat=catt))

    # -- report
    def table(self):
        a = self.a
        lim = a.memory + 64 * MiB
        hdr = ['workload', 'size', 'cask s', 'cask engine s', 'dask s', 'floor s', 'dask/cask',
               'cask/floor', 'cask peak RSS', 'dask peak RSS', 'RSS <= budget+64MiB',
               'targets']
        lines = ['| ' + ' | '.join(hdr) + ' |', '|' + '---|' * len(hdr)]
        for r in self.rows:
            t = lambda x: x['time'] if x and x['ok'] else None
            rss = lambda x: x['rss'] if x and x['ok'] else None
            tc, td, tf = t(r['cask']), t(r['dask']), t(r['floor'])
            rc = rss(r['cask'])
            met = 'n/a' if rc is None else ('yes' if rc <= lim else '**NO**')
            tg = []
            if tc and tf:
                tg.append('floor<=1.5x ' + ('yes' if tc / tf <= 1.5 else '**NO**'))
            if tc and td:
                tg.append('dask>=%gx %s' % (r['dask_target'],
                                            'yes' if td / tc >= r['dask_target'] else '**NO**'))
            lines.append('| ' + ' | '.join([
                r['w'], r['size'], fmt_s(tc), fmt_s(stats_wall(r['cask'])), fmt_s(td), fmt_s(tf), fmt_ratio(td, tc),
                fmt_ratio(tc, tf), fmt_bytes(rc), fmt_bytes(rss(r['dask'])), met,
                '; '.join(tg) or 'n/a']) + ' |')
        return '\n'.join(lines)

    def extra_table(self):
        lines = ['| measurement | size | A | B | A/B | target |', '|---|---|---|---|---|---|']
        for e in self.extra:
            (na, ta), (nb, tb) = e['a'], e['b']
            ratio = ta / tb if ta and tb else None
            if e['kind'] == 'le':
                tgt = '<= %gx: %s' % (e['target'], 'n/a' if ratio is None else
                                      ('yes' if ratio <= e['target'] else '**NO**'))
            elif e['kind'] == 'ge':
                tgt = '>= %gx: %s' % (e['target'], 'n/a' if ratio is None else
                                      ('yes' if ratio >= e['target'] else '**NO**'))
            else:
                tgt = '(reference)'
            lines.append('| %s | %s | %s %s s | %s %s s | %s | %s |' % (
                e['what'], e['size'], na, fmt_s(ta), nb, fmt_s(tb),
                'n/a' if ratio is None else '%.2fx' % ratio, tgt))
        return '\n'.join(lines)

    def w9_table(self):
        w = getattr(self, 'w9', None)
        if not w:
            return None
        a = self.a
        t = lambda x: x['time'] if x and x['ok'] else None
        lines = ['| run | chunks (1 element each) | graph tasks | wall s | us per chunk | '
                 'peak RSS |', '|---|---|---|---|---|---|']
        for lab, r, n, tasks in (('cask, a task per chunk', w['cask'], a.w9_n,
                                  cask_tasks(w['cask'])),
                                 ('cask, grouped (default)', w.get('cask_grouped'), a.w9_n,
                                  cask_tasks(w.get('cask_grouped'))),
                                 ('cask, a task per chunk', w['cask_small'], a.w9_dask_n,
                                  cask_tasks(w['cask_small'])),
                                 ('dask', w['dask'], a.w9_dask_n, w['dask_tasks'] or 'n/a'),
                                 ('floor', w['floor'], a.w9_n, '-'),
                                 ('floor', w['floor_small'], a.w9_dask_n, '-')):
            tt = t(r)
            if r and not r['ok'] and r['rc'] is None:
                lines.append('| %s | %d | %s | TIMEOUT (> %d s) | > %.0f | n/a |' % (
                    lab, n, tasks, a.w9_timeout, a.w9_timeout / n * 1e6))
                continue
            lines.append('| %s | %d | %s | %s | %s | %s |' % (
                lab, n, tasks, fmt_s(tt), 'n/a' if tt is None else '%.2f' % (tt / n * 1e6),
                fmt_bytes(r['rss'] if r and r['ok'] else None)))
        return '\n'.join(lines)

    def peak_table(self):
        if not self.peak:
            return None
        lim = self.a.memory + 64 * MiB
        lines = ['| input | shape | cask W2 s | cat s (warm) | cask peak RSS | <= budget+64MiB |',
                 '|---|---|---|---|---|---|']
        for p in self.peak:
            r = p['r']
            ok = r and r['ok']
            lines.append('| %s | %dx%d | %s | %s | %s | %s |' % (
                p['size'], p['shape'][0], p['shape'][1], fmt_s(r['time'] if ok else None),
                fmt_s(p['cat']), fmt_bytes(r['rss'] if ok else None),
                'n/a' if not ok else ('yes' if r['rss'] <= lim else '**NO**')))
        return '\n'.join(lines)


def stats_wall(r):
    """The wall time cask's --stats reports for the computation itself, if any."""
    m = re.search(r'wall time\s+([0-9.]+) s', r['stderr']) if r and r['ok'] else None
    return float(m.group(1)) if m else None


def cask_tasks(r):
    """The task count from cask's --stats output, if it printed one."""
    m = re.search(r'tasks\s+(\d+)', r['stderr']) if r else None
    return m.group(1) if m else 'n/a'


def machine_info(cask_bin):
    def read(p):
        try:
            with open(p) as f:
                return f.read()
        except OSError:
            return ''
    cpu = re.search(r'model name\s*:\s*(.*)', read('/proc/cpuinfo'))
    mem = re.search(r'MemTotal:\s*(\d+) kB', read('/proc/meminfo'))
    import dask
    info = {
        'date': datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC'),
        'nproc': str(os.cpu_count()),
        'cpu': cpu.group(1).strip() if cpu else '?',
        'ram': '%.1f GiB' % (int(mem.group(1)) / 1024 / 1024) if mem else '?',
        'kernel': os.uname().release,
        'hdf5': h5py.version.hdf5_version,
        'h5py': h5py.version.version,
        'numpy': np.__version__,
        'dask': dask.__version__,
    }
    try:
        info['hdf5 (C, pkg-config)'] = subprocess.run(
            ['pkg-config', '--modversion', 'hdf5-serial'], capture_output=True,
            text=True).stdout.strip()
    except OSError:
        pass
    if cask_bin:
        try:
            info['cask'] = subprocess.run([cask_bin, '--version'], capture_output=True,
                                          text=True, timeout=10).stdout.strip()
        except Exception:
            info['cask'] = '?'
    try:
        rev = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain', '--untracked-files=no'],
                               capture_output=True, text=True).stdout.strip()
        info['git'] = rev + (' + uncommitted changes' if dirty else '')
    except OSError:
        pass
    return info


def find_bin(explicit, rel):
    if explicit:
        return os.path.abspath(explicit) if explicit != 'none' else None
    own = os.path.join(ROOT, 'build-bench', rel)
    if os.access(own, os.X_OK):
        return own
    cands = []
    for d in os.listdir(ROOT):
        p = os.path.join(ROOT, d, rel)
        if d.startswith('build') and os.access(p, os.X_OK):
            cands.append((os.path.getmtime(p), p))
    return max(cands)[1] if cands else None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sizes', default='0.5,2',
                    help='input sizes in GiB (square float64, 8 chunks per side); default 0.5,2')
    ap.add_argument('--only', default=','.join(ALL_WORKLOADS),
                    help='workloads to run, from %s' % ','.join(ALL_WORKLOADS))
    ap.add_argument('--tools', default='cask,dask,floor', help='subset of cask,dask,floor')
    ap.add_argument('--peak-sizes', default='',
                    help='also run cask W2 on these sizes (GiB) to show flat peak RSS, '
                    'e.g. 0.5,2,8 (8 GiB needs ~8 GiB disk and a few minutes to make)')
    ap.add_argument('--peak-chunk', type=int, default=2048,
                    help='chunk side for the peak-RSS series (same at every size)')
    ap.add_argument('--chunks-per-side', type=int, default=8)
    ap.add_argument('--memory', default='256M', help="cask's --memory budget")
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeat', type=int, default=1,
                    help='runs per tool and workload: best time, highest RSS')
    ap.add_argument('--fsync', action='store_true',
                    help='let cask fsync stored outputs before renaming them into place (its '
                         'default); without it the benchmark sets CASK_FSYNC=0, since neither '
                         'dask nor the floor syncs')
    ap.add_argument('--w9-n', type=int, default=200000,
                    help='chunks of one element for cask W9 (the issue says 10^6; h5py '
                    'needs ~50 s to make that file)')
    ap.add_argument('--w9-timeout', type=int, default=300,
                    help='seconds allowed for cask W9 at --w9-n chunks')
    ap.add_argument('--w9-dask-n', type=int, default=20000, help='chunks for dask W9')
    ap.add_argument('--cask', dest='cask_bin', default=None,
                    help='path to the cask binary (default: build-bench, else newest build-*); '
                    '"none" to skip')
    ap.add_argument('--floor', dest='floor_bin', default=None,
                    help='path to the floor binary (default as for --cask)')
    ap.add_argument('--outdir', default=os.path.join(HERE, 'out'))
    ap.add_argument('--results', default=None,
                    help='markdown output; default bench/RESULTS.md for a full default run, '
                    'else bench/out/RESULTS-partial.md')
    ap.add_argument('--prepare', action='store_true',
                    help='only make the input files for --sizes (and --peak-sizes, W9)')
    ap.add_argument('--quiet-wait', type=int, default=0,
                    help='before each case wait up to this many seconds until other '
                    'processes use fewer than --quiet-load cores')
    ap.add_argument('--nice', type=int, default=0,
                    help='run every timed process (and its autogroup) at nice N, e.g. -20 as '
                    'root on a shared machine, so other work disturbs the timings less')
    ap.add_argument('--quiet-load', type=float, default=0.3)
    ap.add_argument('--timeout', type=int, default=1800, help='seconds per process')
    a = ap.parse_args()
    if not a.fsync:
        os.environ['CASK_FSYNC'] = '0'

    a.sizes = [float(s) for s in a.sizes.split(',') if s]
    a.only = [w.strip() for w in a.only.split(',') if w.strip()]
    a.tools = [t.strip() for t in a.tools.split(',')]
    a.peak_sizes = [float(s) for s in a.peak_sizes.split(',') if s]
    for w in a.only:
        if w not in ALL_WORKLOADS:
            ap.error('unknown workload %s' % w)
    a.memory_str = a.memory
    a.memory = parse_size(a.memory)
    a.cask_bin = find_bin(a.cask_bin, 'src/cli/cask') if 'cask' in a.tools else None
    a.floor_bin = find_bin(a.floor_bin, 'bench/floor') if 'floor' in a.tools else None
    full = (a.sizes == [0.5, 2.0] and a.only == ALL_WORKLOADS and a.repeat >= 1
            and set(a.tools) == {'cask', 'dask', 'floor'})
    if a.results is None:
        a.results = os.path.join(HERE, 'RESULTS.md') if full else \
            os.path.join(a.outdir, 'RESULTS-partial.md')
    os.makedirs(a.outdir, exist_ok=True)
    if a.prepare:
        for s in a.sizes:
            shape, chunks = geometry(s, a.chunks_per_side)
            make_input(input_path(a.outdir, shape, chunks, False), shape, chunks, False)
            make_input(input_path(a.outdir, shape, chunks, True), shape, chunks, True)
        for s in a.peak_sizes:
            shape, chunks = geometry(s, a.chunks_per_side, chunk=a.peak_chunk)
            make_input(input_path(a.outdir, shape, chunks, False), shape, chunks, False)
        if 'W9' in a.only:
            make_w9_input(os.path.join(a.outdir, 'w9_%d.h5' % a.w9_n), a.w9_n)
            make_w9_input(os.path.join(a.outdir, 'w9_%d.h5' % a.w9_dask_n), a.w9_dask_n)
        return

    if not os.access('/usr/bin/time', os.X_OK):
        sys.exit('needs /usr/bin/time (Debian package "time")')
    if 'cask' in a.tools and not a.cask_bin:
        loud('no cask binary found (build it: meson setup build-bench && ninja -C build-bench)')
    if 'floor' in a.tools and not a.floor_bin:
        loud('no floor binary found (ninja -C build-bench bench/floor)')
    say('cask:  %s\nfloor: %s\nbudget %s, %d threads' % (a.cask_bin, a.floor_bin,
                                                         a.memory_str, a.threads))

    say('launch overhead of this harness: %.1f ms (subtracted from cask, floor and cat)'
        % (measure_launch(a.nice) * 1e3))
    b = Bench(a)
    t_start = time.perf_counter()
    for s in a.sizes:
        if any(w in a.only for w in ('W1', 'W2', 'W3', 'W4', 'W4w')):
            b.run_case(s)
    if 'W9' in a.only and a.cask_bin:
        b.run_w9()
    if a.peak_sizes and a.cask_bin:
        b.run_peak()

    info = machine_info(a.cask_bin)
    md = ['# cask benchmark results', '',
          'Made by `bench/run.py` (see bench/README.md). Command: `%s`' % ' '.join(
              ['/usr/bin/python3', 'bench/run.py'] + sys.argv[1:]), '']
    md += ['- %s: %s' % (k, v) for k, v in info.items()]
    md += ['- budget `--memory %s`, `--threads %d`; dask threaded scheduler, num_workers=%d, '
           'chunks = the HDF5 chunks' % (a.memory_str, a.threads, a.threads),
           '- cask stores %s (`CASK_FSYNC`; dask and the floor never sync)' % (
               'fsync their output before the rename' if a.fsync else
               'without fsync (`CASK_FSYNC=0`)'),
           '- page cache warmed before timing (`cat FILE > /dev/null`); `sync` before every '
           'timed process; best of %d run(s)' % a.repeat,
           '- timed processes run at nice %d, their sched autogroup too' % a.nice if a.nice else
           '- timed processes run at normal priority',
           '- cask and floor: wall time of the whole process (start-up, supervisor and exit '
           'included) less this harness\'s launch overhead of %.1f ms (the fastest of 9 runs of '
           '`/bin/true` through the same Python fork + nice + `/usr/bin/time` path; also taken '
           'off `cat`); dask: timed inside Python after imports; peak RSS from '
           '`/usr/bin/time -v` (whole process, Python included)' % (LAUNCH[0] * 1e3),
           '- "cask engine s" is the wall time in cask\'s own `--stats`: the computation without '
           'process start-up and without committing the output (cask fsyncs a stored output '
           'before renaming it into place; neither dask nor the floor fsync)', '']
    main_t = b.table()
    md += ['## Workloads (issue 2 targets)', '', main_t, '',
           'Targets: cask within 1.5x of the floor; >= 10x faster than dask with 32 MiB chunks, '
           '>= 3x with 8 MiB chunks (W1: 2x); W4 vs dask per issue 6 (15x at 32 MiB chunks, 3x '
           'at 8 MiB); peak RSS <= budget + 64 MiB = %s.' % fmt_bytes(a.memory + 64 * MiB), '']
    if b.extra:
        md += ['## Issue 6 measurements', '', b.extra_table(), '']
    w9 = b.w9_table()
    if w9:
        md += ['## W9 per-task overhead (sum over chunks of one element)', '', w9, '',
               'dask per-task figure in issue 6: 126 us. Per chunk = wall / chunks (dask: '
               'in-Python time; its graph has about 2.3 tasks per chunk). "A task per chunk" '
               'runs with CASK_TASK_BYTES=0; the default groups chunks smaller than 64 KiB into '
               'tasks of about 1 MiB (cask_ctx_set_task_bytes), which bounds the graph: about '
               'one task per MiB of data.', '']
    pk = b.peak_table()
    if pk:
        md += ['## Peak RSS across input sizes (cask W2, %dx%d chunks)' % (
            a.peak_chunk, a.peak_chunk), '', pk, '']
    if b.loads:
        md += ['Machine activity just before each workload (1-minute load average; cores busy '
               'over 3 s): ' + '; '.join('%s: %s, %.2f' % (t, l, c or 0)
                                        for t, l, c in b.loads), '']
    md += ['## Problems seen', '']
    md += ['- ' + p.replace('\n', ' ') for p in problems] or ['- none']
    md += ['', '## cask --stats output per run', '']
    for lab, s in b.stats_log:
        md += ['- %s:' % lab, '', '```', s or '(empty)', '```', '']
    text = '\n'.join(md) + '\n'
    # Sections written by other scripts or by hand (linear algebra, filters,
    # notes) follow KEEP_MARK in RESULTS.md; they are carried over.
    kept = ''
    try:
        with open(a.results) as f:
            old = f.read()
        if KEEP_MARK in old:
            kept = old[old.index(KEEP_MARK):]
    except OSError:
        pass
    with open(a.results, 'w') as f:
        f.write(text + ('\n' + kept if kept else ''))
    with open(os.path.join(a.outdir, 'last-run.json'), 'w') as f:
        json.dump(dict(info=info, problems=problems, stats=b.stats_log), f, indent=1)

    say('\n' + main_t)
    if b.extra:
        say('\n' + b.extra_table())
    if w9:
        say('\n' + w9)
    if pk:
        say('\n' + pk)
    say('\nwritten %s (%.0f s total)' % (a.results, time.perf_counter() - t_start))
    if problems:
        say('\n%d PROBLEM(S):' % len(problems))
        for p in problems:
            say('  !!! ' + p)
        sys.exit(1)


if __name__ == '__main__':
    main()
