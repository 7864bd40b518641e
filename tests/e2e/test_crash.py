"""Crash safety of `cask eval -o` (issue 7, items 1 and 2).

The runs are killed at random moments and the files are checked every time:

  * SIGKILL (no handler can run): the target dataset is absent, or with
    --overwrite exactly what it was before, or complete and equal to the
    NumPy result; the other datasets in the output file are intact and the
    file opens with h5py; the input file is unchanged.  A SIGKILLed run cannot
    remove its temporary file: the test checks that the leftover is a hidden
    ".<name>.cask-tmp-<pid>-<hex>" next to the target, never the target name
    and never a name ending in ".h5", then removes it (documented behaviour:
    such files may be deleted by hand).
  * SIGINT and SIGTERM: the same guarantees, plus the run stops promptly
    (within STOP_SECONDS of the signal), exits 130 / 143 and leaves no
    temporary file.
  * Disk full (a 2 MiB tmpfs, mounted by the test when run as root): exit 1,
    an error naming the path, the target and the existing file untouched, no
    temporary file left.

The delays are random with a fixed seed (printed on failure) so a failing
moment can be replayed.  The whole module takes about a minute.

Run with: CASK=build/src/cli/cask /usr/bin/python3 tests/e2e/run.py tests/e2e/test_crash.py
"""
import glob
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

CASK = os.environ.get('CASK', 'cask')
SEED = int(os.environ.get('CASK_CRASH_SEED', '20261125'))
STOP_SECONDS = 3.0
TEMP_RE = re.compile(r'^\.(.+)\.cask-tmp-(\d+)-([0-9a-f]+)$')


# ----------------------------------------------------------------- helpers

def env():
    e = dict(os.environ)
    e.pop('CASK_MEMORY', None)
    return e


def run(*args, timeout=300, extra_env=None):
    e = env()
    e.update(extra_env or {})
    p = subprocess.run([CASK] + [str(a) for a in args], capture_output=True, text=True,
                       env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def sha(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 22)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def start(*args):
    return subprocess.Popen([CASK] + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())


def leftovers(d, target_base):
    """Temporary files of cask in directory d; checks their names."""
    found = []
    for n in os.listdir(d):
        m = TEMP_RE.match(n)
        if not m:
            continue
        assert m.group(1) == target_base, n
        assert n != target_base and not n.endswith('.h5'), n
        found.append(os.path.join(d, n))
    return found


def input_state(path):
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def check_output(out, dset, keep_want, states, what):
    """out must open; 'keep' equals keep_want; dset is in one of states
    (None = absent, or an array it must equal exactly).  Returns the index of
    the state found."""
    with h5py.File(out, 'r') as f:
        assert np.array_equal(f['keep'][()], keep_want), what + ': keep damaged'
        if dset not in f:
            assert None in states, what + ': target missing, but it existed before'
            return states.index(None)
        got = f[dset][()]
    for k, s in enumerate(states):
        if s is not None and s.shape == got.shape and np.array_equal(s, got):
            return k
    raise AssertionError('%s: %s is neither absent, old nor the full result (shape %s)'
                         % (what, dset, got.shape))


class Store:
    """An input of 128 MiB (32 chunks of 4 MiB) and its expected result."""

    def __init__(self, tmp):
        self.inp = os.path.join(tmp, 'in.h5')
        rng = np.random.default_rng(5)
        x = rng.standard_normal((4096, 4096))
        with h5py.File(self.inp, 'w') as f:
            f.create_dataset('x', data=x, chunks=(128, 4096))
            f.create_dataset('other', data=np.arange(100))
        self.want = x * 2 + 1          # exact in float64: x*2 is exact
        self.keep = np.arange(1000, dtype='i4').reshape(10, 100)
        self.old = np.full(5, 7.0)
        self.in_hash = sha(self.inp)
        self.in_state = input_state(self.inp)
        self.out = os.path.join(tmp, 'out.h5')
        self.tmp = tmp

    def reset_output(self, with_old):
        if os.path.exists(self.out):
            os.unlink(self.out)
        with h5py.File(self.out, 'w') as f:
            f.create_dataset('keep', data=self.keep)
            if with_old:
                f.create_dataset('y', data=self.old)

    def args(self, overwrite):
        # gzip (encoded on the worker threads) keeps a run long enough
        # (~1 s) for signals to land in the middle of it
        a = ['eval', '-q', '-i', 'x=%s:/x' % self.inp, 'x * 2 + 1', '-o', self.out + ':/y',
             '--compress', 'gzip=1', '--shuffle']
        if overwrite:
            a.append('--overwrite')
        return a

    def check(self, overwrite, what):
        states = [self.old if overwrite else None, self.want]
        k = check_output(self.out, 'y', self.keep, states, what)
        assert input_state(self.inp) == self.in_state, what + ': input touched'
        return k


# ----------------------------------------------------------------- tests

def timed_full_run(s, overwrite):
    s.reset_output(overwrite)
    t0 = time.monotonic()
    rc, out, err = run(*s.args(overwrite))
    t = time.monotonic() - t0
    assert rc == 0, err
    assert s.check(overwrite, 'full run') == 1
    assert not leftovers(s.tmp, 'out.h5')
    return t


def test_crash_sigkill_random(tmp):
    """20 runs killed with SIGKILL at random moments between the start and a
    little after the time a full run takes; with and without --overwrite."""
    s = Store(tmp)
    rng = random.Random(SEED)
    timed_full_run(s, False)  # warms the page cache
    t_full = max(timed_full_run(s, False), timed_full_run(s, True))
    seen = {}
    for i in range(20):
        overwrite = i % 2 == 1
        s.reset_output(overwrite)
        delay = rng.uniform(0.0, 1.1 * t_full)
        p = start(*s.args(overwrite))
        time.sleep(delay)
        p.kill()
        p.communicate()
        what = 'run %d (seed %d, delay %.3f s of %.3f, overwrite=%s)' % (
            i, SEED, delay, t_full, overwrite)
        k = s.check(overwrite, what)
        seen[(overwrite, k, p.returncode == -9)] = seen.get((overwrite, k, p.returncode == -9),
                                                            0) + 1
        for t in leftovers(tmp, 'out.h5'):
            # A SIGKILLed run's temporary file: not a valid target; remove it.
            assert p.returncode == -9, what + ': temp left by a run that was not killed'
            os.unlink(t)
    assert sha(s.inp) == s.in_hash
    print('  outcomes (overwrite, state 0=before/1=complete, killed): %s' % sorted(seen.items()))
    # The random delays must have hit the middle of runs, not only the ends.
    assert any(k == 0 and killed for (o, k, killed) in seen), seen


def test_crash_sigkill_in_place(tmp):
    """The output is the input (x = x + 1 with --overwrite): after SIGKILL,
    x is either the old array or the new one, never a mix."""
    p0 = os.path.join(tmp, 'f.h5')
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2048, 2048))
    keep = np.arange(50.0)
    with h5py.File(p0, 'w') as f:
        f.create_dataset('x', data=x, chunks=(128, 2048))
        f.create_dataset('keep', data=keep)
    pristine = os.path.join(tmp, 'pristine.h5')
    shutil.copyfile(p0, pristine)
    args = ['eval', '-q', '-i', 'x=%s:/x' % p0, 'x + 1', '-o', p0 + ':/x', '--overwrite']
    t0 = time.monotonic()
    rc, out, err = run(*args)
    t_full = time.monotonic() - t0
    assert rc == 0, err
    with h5py.File(p0, 'r') as f:
        assert np.array_equal(f['x'][()], x + 1)
    r = random.Random(SEED + 1)
    for i in range(8):
        shutil.copyfile(pristine, p0)
        delay = r.uniform(0, 1.1 * t_full)
        p = start(*args)
        time.sleep(delay)
        p.kill()
        p.communicate()
        with h5py.File(p0, 'r') as f:
            assert np.array_equal(f['keep'][()], keep)
            got = f['x'][()]
        assert np.array_equal(got, x) or np.array_equal(got, x + 1), \
            'run %d delay %.3f: x is a mix' % (i, delay)
        for t in leftovers(tmp, 'f.h5'):
            os.unlink(t)


def test_crash_sigint_sigterm(tmp):
    """SIGINT and SIGTERM at random moments: exit 130 / 143 within
    STOP_SECONDS (or 0 if the run had already finished), the same file
    guarantees, no temporary file left, a message on stderr."""
    s = Store(tmp)
    rng = random.Random(SEED + 2)
    # The fastest of two runs: the first one reads the input from disk.
    t_full = min(timed_full_run(s, True), timed_full_run(s, True))
    stopped = 0
    for i in range(12):
        sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
        overwrite = (i // 2) % 2 == 1
        s.reset_output(overwrite)
        delay = rng.uniform(0.05, 0.9 * t_full)
        p = start(*s.args(overwrite))
        time.sleep(delay)
        t0 = time.monotonic()
        p.send_signal(sig)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError('no exit 30 s after %s' % sig.name)
        dt = time.monotonic() - t0
        what = 'run %d (%s after %.3f s, overwrite=%s)' % (i, sig.name, delay, overwrite)
        if p.returncode == 0:
            # The run had finished before the signal.
            assert s.check(overwrite, what) == 1, what + ': exit 0, output not complete'
        elif p.returncode == -sig:
            # The default action killed it: the signal came before the
            # handlers were installed (nothing written yet; seen under ASan,
            # whose start-up is slow) or after they were removed at the end
            # (output committed).  Either way the file guarantees hold.
            s.check(overwrite, what)
        else:
            assert p.returncode == 128 + sig, '%s: exit %d\n%s' % (what, p.returncode, err)
            assert 'cask: error: ' in err or 'interrupt' in err.lower(), what + err
            if s.check(overwrite, what) == 0:
                # Really stopped (not a signal during the final fsync and
                # rename, which completes the output): it must be prompt.
                assert dt < STOP_SECONDS, '%s: took %.2f s to stop' % (what, dt)
                stopped += 1
        assert not leftovers(tmp, 'out.h5'), what + ': temporary file left'
    assert stopped >= 4, 'only %d of 12 runs were interrupted mid-way' % stopped
    assert sha(s.inp) == s.in_hash


# ----------------------------------------------------------------- disk full

def mount_tmpfs(d, size):
    os.makedirs(d, exist_ok=True)
    if os.geteuid() != 0:
        return 'not root'
    p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s' % size, 'tmpfs', d],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return p.stderr.strip() or 'mount failed'
    return None


def test_crash_disk_full(tmp):
    """A 2 MiB tmpfs: a 4 MiB result does not fit (fails while writing
    chunks), and --overwrite of a 1.2 MiB file cannot even copy it."""
    mnt = os.path.join(tmp, 'mnt')
    why = mount_tmpfs(mnt, '2M')
    if why:
        print('  SKIP: cannot mount a tmpfs (%s); disk-full behaviour not tested' % why)
        return
    # Under ASan: HDF5 1.10 loses one chunk-sized buffer when H5Dwrite fails
    # with ENOSPC (a "direct leak" whose only frame is in libhdf5; a handle
    # cask failed to close would keep it reachable instead).  Suppress leaks
    # inside libhdf5 for this test only; any other leak still fails it.
    supp = os.path.join(tmp, 'lsan.supp')
    with open(supp, 'w') as f:
        f.write('leak:libhdf5_serial.so\n')
    lsan = {'LSAN_OPTIONS': 'suppressions=%s:print_suppressions=0' % supp}

    def runl(*args):
        return run(*args, extra_env=lsan)
    try:
        inp = os.path.join(tmp, 'in.h5')
        with h5py.File(inp, 'w') as f:
            f.create_dataset('x', data=np.random.default_rng(1).standard_normal((512, 1024)),
                             chunks=(64, 1024))
            f.create_dataset('s', data=np.arange(10.0))
        keep = np.arange(300.0)
        out = os.path.join(mnt, 'out.h5')
        with h5py.File(out, 'w') as f:
            f.create_dataset('keep', data=keep)
        before = sha(out)
        # 1. Existing small file, result too big.
        rc, o, err = runl('eval', '-i', 'x=%s:/x' % inp, 'x + 1', '-o', out + ':/y')
        assert rc == 1, (rc, err)
        assert 'cask: error: ' in err and out in err, err
        assert sha(out) == before
        assert not leftovers(mnt, 'out.h5'), os.listdir(mnt)
        # 2. New file, result too big: no file appears.
        new = os.path.join(mnt, 'new.h5')
        rc, o, err = runl('eval', '-i', 'x=%s:/x' % inp, 'x * 3', '-o', new + ':/y')
        assert rc == 1 and new in err, (rc, err)
        assert not os.path.exists(new)
        assert not leftovers(mnt, 'new.h5'), os.listdir(mnt)
        # 3. create that does not fit.
        rc, o, err = runl('create', new + ':/z', '--shape', '1000,1000', '--fill', 'random')
        assert rc == 1 and new in err, (rc, err)
        assert not os.path.exists(new) and not leftovers(mnt, 'new.h5')
        # 4. --overwrite of a 1.2 MiB file: the copy itself does not fit.
        big = os.path.join(mnt, 'big.h5')
        with h5py.File(big, 'w') as f:
            f.create_dataset('keep', data=np.arange(150000.0))
            f.create_dataset('s', data=np.zeros(10))
        before = sha(big)
        rc, o, err = runl('eval', '-i', 'x=%s:/s' % inp, 'x + 1', '-o', big + ':/s',
                         '--overwrite')
        assert rc == 1 and big in err, (rc, err)
        assert sha(big) == before
        assert not leftovers(mnt, 'big.h5'), os.listdir(mnt)
        # 4b. A compressed result fails inside HDF5's file driver, whose
        # message held a ctime() stamp with its newline and buffer addresses:
        # one line now, with the system's words for errno 28.
        rc, o, err = runl('eval', '-i', 'x=%s:/x' % inp, 'x * 5', '-o', new + ':/y',
                         '--compress', 'gzip=1')
        assert rc == 1 and new in err, (rc, err)
        assert err.count('\n') == 1 and 'No space left on device' in err, err
        assert 'time =' not in err and 'buf = 0x' not in err, err
        assert not os.path.exists(new) and not leftovers(mnt, 'new.h5')
        # 5. Space freed: the same small store now works (nothing was wedged).
        os.unlink(big)
        rc, o, err = runl('eval', '-i', 'x=%s:/s' % inp, 'x + 1', '-o', out + ':/s1')
        assert rc == 0, err
        with h5py.File(out, 'r') as f:
            assert np.array_equal(f['s1'][()], np.arange(10.0) + 1)
            assert np.array_equal(f['keep'][()], keep)
    finally:
        subprocess.run(['umount', mnt], capture_output=True)


def test_crash_disk_full_linalg(tmp):
    """qr, svd and svd -k fill an 8 MiB tmpfs with a 16 MiB factor (written
    with direct chunk writes): a clear ENOSPC error naming the file, the
    target untouched, no temporary file, and no crash: HDF5 1.10 once
    crashed at exit (H5F__close_cb) after the aborted temporary file failed
    to close on the full disk, which the supervisor reported as a corrupt
    input."""
    mnt = os.path.join(tmp, 'mnt')
    why = mount_tmpfs(mnt, '8M')
    if why:
        print('  SKIP: cannot mount a tmpfs (%s); disk-full behaviour not tested' % why)
        return
    supp = os.path.join(tmp, 'lsan.supp')
    with open(supp, 'w') as f:
        f.write('leak:libhdf5_serial.so\n')
    try:
        inp = os.path.join(tmp, 'a.h5')
        with h5py.File(inp, 'w') as f:
            f.create_dataset('A', data=np.random.default_rng(5).standard_normal((100000, 20)),
                             chunks=(25000, 20))
        in_hash = sha(inp)
        out = os.path.join(mnt, 'o.h5')
        with h5py.File(out, 'w') as f:
            f.create_dataset('keep', data=np.arange(100.0))
        before = sha(out)
        cmds = [['qr', inp + ':/A', '--r', out + ':/R', '--q', out + ':/Q'],
                ['svd', inp + ':/A', '--s', out + ':/S', '--u', out + ':/U'],
                ['svd', inp + ':/A', '-k', '3', '--s', out + ':/S', '--u', out + ':/U',
                 '--memory', '32M']]
        for cmd in cmds:
            for sup in ('0', '1'):
                e = {'LSAN_OPTIONS': 'suppressions=%s:print_suppressions=0' % supp,
                     'CASK_NO_SUPERVISOR': sup, 'CASK_FSYNC': '1'}
                rc, o, err = run(*cmd, extra_env=e)
                what = '%s (no supervisor: %s)' % (' '.join(cmd[:3]), sup)
                assert rc == 1, (what, rc, err)
                assert 'No space left on device' in err and mnt in err, (what, err)
                assert 'crashed' not in err, (what, err)
                assert sha(out) == before, what
                assert sorted(os.listdir(mnt)) == ['o.h5'], (what, os.listdir(mnt))
        assert sha(inp) == in_hash
    finally:
        subprocess.run(['umount', mnt], capture_output=True)


def test_crash_two_writers_one_file(tmp):
    """Two runs writing datasets of the same file at once: the one that
    commits second used to rename its copy (taken before the first
    committed) over the file, silently dropping the first run's dataset while
    both exited 0.  Now the second fails naming the file and nothing the
    first wrote is lost.  The slow run is stopped (SIGSTOP to the command,
    whose pid its temporary file's name holds) once that file exists, the
    quick one runs to completion, then the slow one continues: the overlap
    is certain.  Both for an existing and for a new target."""
    inp = os.path.join(tmp, 'in.h5')
    x = np.random.default_rng(3).standard_normal((1024, 1024))
    with h5py.File(inp, 'w') as f:
        f.create_dataset('x', data=x, chunks=(256, 1024))
        f.create_dataset('s', data=np.arange(5.0))
    for existing in (True, False):
        out = os.path.join(tmp, 'o.h5')
        for attempt in range(5):  # a loaded machine may miss the window: retry
            if existing:
                with h5py.File(out, 'w') as f:
                    f.create_dataset('keep', data=np.arange(7.0))
            # about a second of arithmetic (801 taps a pass) on one thread
            slow = start('eval', '-i', 'x=%s:/x' % inp, 'gaussian(x, 100)', '-o',
                         out + ':/big', '--threads', '1', '-q')
            t0 = time.time()
            while not leftovers(tmp, 'o.h5') and slow.poll() is None and time.time() - t0 < 30:
                time.sleep(0.001)
            temps = leftovers(tmp, 'o.h5')
            if temps:
                break
            slow.communicate(timeout=120)
            os.unlink(out)
        assert temps, 'the slow run ended before it could be stopped, 5 times'
        pid = int(TEMP_RE.match(os.path.basename(temps[0])).group(2))
        os.kill(pid, signal.SIGSTOP)
        try:
            rc, o, err = run('eval', '-i', 's=%s:/s' % inp, 's * 3', '-o', out + ':/quick', '-q')
        finally:
            os.kill(pid, signal.SIGCONT)
        assert rc == 0, err
        _, err = slow.communicate(timeout=120)
        assert slow.returncode == 1, (slow.returncode, err)
        assert out in err and 'during this run' in err, err
        with h5py.File(out, 'r') as f:
            assert np.array_equal(f['quick'][()], np.arange(5.0) * 3)
            assert 'big' not in f
            if existing:
                assert np.array_equal(f['keep'][()], np.arange(7.0))
        assert not leftovers(tmp, 'o.h5'), os.listdir(tmp)
        os.unlink(out)


def test_crash_output_open_by_hdf5_writer(tmp):
    """An output file that another process (h5py) holds open for writing:
    cask copied it, renamed its copy over it and exited 0, and everything
    that process wrote afterwards went to the unlinked old file (lost).
    HDF5 writers hold an exclusive flock, so cask now refuses, naming the
    file, as HDF5 itself refuses a second writer.  An h5py reader does not
    stop cask, and an in-place store still works."""
    inp = os.path.join(tmp, 'in.h5')
    with h5py.File(inp, 'w') as f:
        f.create_dataset('s', data=np.arange(5.0))
    out = os.path.join(tmp, 'o.h5')
    w = h5py.File(out, 'w')
    try:
        w['a'] = np.arange(3.0)
        w.flush()
        rc, o, err = run('eval', '-i', 's=%s:/s' % inp, 's * 2', '-o', out + ':/y', '-q')
        assert rc == 1 and out in err and 'open for writing' in err, (rc, err)
        w['b'] = np.arange(4.0)
    finally:
        w.close()
    with h5py.File(out, 'r') as f:
        assert sorted(f) == ['a', 'b'] and np.array_equal(f['b'][()], np.arange(4.0))
    assert not leftovers(tmp, 'o.h5'), os.listdir(tmp)
    with h5py.File(out, 'r'):
        rc, o, err = run('eval', '-i', 's=%s:/s' % inp, 's * 2', '-o', out + ':/y', '-q')
        assert rc == 0, err
    rc, o, err = run('eval', '-i', 'a=%s:/a' % out, 'a + 1', '-o', out + ':/a', '--overwrite', '-q')
    assert rc == 0, err
    with h5py.File(out, 'r') as f:
        assert np.array_equal(f['a'][()], np.arange(3.0) + 1)
        assert np.array_equal(f['y'][()], np.arange(5.0) * 2)
