"""The `cask` command survives a crash of the code it runs (issue 7, item 3).

HDF5 1.10 crashes on some corrupt files (tests/fuzz/regress/), so the `cask`
command runs each subcommand in a child process (src/cli/supervise.c).  The
tests check, on the binary in $CASK:

  * every file of tests/fuzz/regress/ under `cask info` and `cask eval` (also
    with -o): an answer within a timeout, never a death by a signal, exit 1
    or 2 with a `cask: error:` line (exit 0 only where the damage is not on
    the path read, listed in READABLE), no core file, no temporary file
    (a release build runs under a 4 GiB address-space limit, see
    limit_address_space);
  * a crash of the child at a known moment of a store (the test sends the
    child SIGSEGV, SIGABRT or SIGKILL while its transaction file exists):
    exit 1, one error line naming the input file, the temporary file
    removed, the target absent and the other datasets intact;
  * signals to the supervisor reach the command exactly once: SIGINT /
    SIGTERM to the process (130 / 143), to its whole process group (as a
    shell's `kill %1` or Ctrl-C does) and to both in a row (as timeout(1)
    does);
  * SIGHUP ends the run as before (death by SIGHUP) but leaves no temporary
    file; Ctrl-Z (SIGTSTP) stops the command with the supervisor and SIGCONT
    resumes both; exit statuses 0 / 1 / 2 and stdout pass through;
  * CASK_NO_SUPERVISOR=1 runs the command in the process itself.

In the ASan+UBSan build a crash inside libhdf5 is first reported by ASan in
the child (ASAN_OPTIONS gets abort_on_error=1 here, as in CI, so the child
then dies of SIGABRT and the supervisor reports it).  Such a report is
accepted only if, from the top of its stack, a libhdf5 frame comes before any
frame of cask's own code (as tests/fuzz/smoke.sh classifies fuzz findings): a
report in cask code, or any UBSan report, fails the test.

Run with: CASK=build/src/cli/cask /usr/bin/python3 tests/e2e/run.py tests/e2e/test_supervisor.py
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

CASK = os.environ.get('CASK', 'cask')
CASK = os.path.abspath(CASK) if os.sep in CASK else CASK
HERE = os.path.dirname(os.path.abspath(__file__))
REGRESS = os.path.join(HERE, '..', 'fuzz', 'regress')
TIMEOUT = 120           # seconds per invocation: generous for the ASan build
TEMP_RE = re.compile(r'^\.(.+)\.cask-tmp-(\d+)-([0-9a-f]{16})$')
CRASH_LINE = 'cask: error: the HDF5 library (or cask) crashed'
# (file, command) pairs that may succeed: the damage is not on what they read.
READABLE = {
    # Only the data of /x is damaged (a compact dataset of stored size 0):
    # its metadata lists fine; reading it is refused (test_hostile.py).
    ('h5dread_contig_null_memcpy.h5', 'info'),
    # The corrupt link message is visited when listing the file; /x itself
    # opens and reads.
    ('h5ovisit_bad_free_link_name.h5', 'eval'),
    ('h5ovisit_bad_free_link_name.h5', 'eval-o'),
}
# Stack frames of the sanitizer runtime and libc (glibc's vector string
# functions, e.g. __memcpy_avx_unaligned, show a sysdeps/ path): never the
# place a finding is blamed on.
RUNTIME_FRAME = re.compile(r'__asan|__sanitizer|__ubsan|__interceptor|__lsan|asan_|'
                           r'sanitizer_common|libclang_rt|compiler-rt|libc\.so|sysdeps/')
# cask's own code: a source path under src/, kernels/, linalg/ or tests/, or a
# cask_ function.
CASK_FRAME = re.compile(r'/(src|kernels|linalg|tests)/[^ :]*\.[ch]:\d| in cask_')


# ----------------------------------------------------------------- helpers

def env(extra=None):
    e = dict(os.environ)
    e.pop('CASK_MEMORY', None)
    e.pop('CASK_NO_SUPERVISOR', None)
    # An ASan report must end in a crash the supervisor sees (CI sets it too).
    e['ASAN_OPTIONS'] = e.get('ASAN_OPTIONS', '') + ':abort_on_error=1'
    e.update(extra or {})
    return e


def sanitized():
    """Whether $CASK is a sanitizer build (it then needs terabytes of
    address space for its shadow memory)."""
    try:
        with open(shutil.which(CASK) or CASK, 'rb') as f:
            data = f.read()
    except OSError:
        return False
    return b'libasan' in data or b'__asan_init' in data or b'libtsan' in data


def limit_address_space():
    # One corrupt datatype makes HDF5 allocate 8 GiB; under meson's
    # MALLOC_PERTURB_ glibc then fills it (30 s and 8 GiB of RAM).  With a
    # 4 GiB address space the allocation fails and HDF5 reports an error.
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def run(args, cwd=None, extra=None, timeout=TIMEOUT, limit=False):
    t0 = time.monotonic()
    pre = limit_address_space if limit and not sanitized() else None
    try:
        p = subprocess.run([CASK] + [str(a) for a in args], capture_output=True, text=True,
                           errors='replace', env=env(extra), cwd=cwd, timeout=timeout,
                           preexec_fn=pre)
    except subprocess.TimeoutExpired:
        raise AssertionError('cask %s: no answer within %d s' % (' '.join(args), timeout))
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def temps(d):
    return [n for n in os.listdir(d) if TEMP_RE.match(n)]


def children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        return None


def blamed_frame(err):
    """The frame a sanitizer report is blamed on, as tests/fuzz/smoke.sh
    does: from the top of the stack, the first frame in libhdf5 or in cask's
    own code; other libraries' frames (libc, zlib, ...) are skipped."""
    for line in err.splitlines():
        if not re.match(r'^\s*#\d+ ', line) or RUNTIME_FRAME.search(line):
            continue
        if 'libhdf5' in line or CASK_FRAME.search(line):
            return line
    return ''


def check_sanitizer(err, what):
    """No UBSan report; an ASan report only inside libhdf5."""
    assert 'runtime error:' not in err and 'UndefinedBehaviorSanitizer' not in err, \
        '%s: UBSan report\n%s' % (what, err[-5000:])
    assert 'ThreadSanitizer' not in err and 'LeakSanitizer' not in err, what + err[-5000:]
    if 'AddressSanitizer' in err:
        frame = blamed_frame(err)
        assert 'libhdf5' in frame, '%s: ASan report outside libhdf5 (%s)\n%s' % (
            what, frame.strip(), err[-5000:])
        return True
    return False


class Store:
    """An input of 128 MiB and an output file with another dataset: a store
    of x * 2 + 1 takes long enough (~1 s) to be caught in the middle."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.inp = os.path.join(tmp, 'in.h5')
        x = np.random.default_rng(3).standard_normal((4096, 4096))
        with h5py.File(self.inp, 'w') as f:
            f.create_dataset('x', data=x, chunks=(128, 4096))
        self.want = x * 2 + 1
        self.out = os.path.join(tmp, 'out.h5')
        self.keep = np.arange(100.0)

    def reset(self):
        if os.path.exists(self.out):
            os.unlink(self.out)
        with h5py.File(self.out, 'w') as f:
            f.create_dataset('keep', data=self.keep)

    def args(self):
        # gzip (encoded on the workers) keeps the store at ~1 s: without it
        # the run can end between the temp file appearing and the signal
        return ['eval', '-q', '-i', 'x=%s:/x' % self.inp, 'x * 2 + 1', '-o', self.out + ':/y',
                '--compress', 'gzip=1', '--shuffle']

    def start(self, extra=None, **kw):
        self.reset()
        return subprocess.Popen([CASK] + self.args(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env(extra), **kw)

    def wait_for_temp(self, p, limit=60):
        """Wait until the run has created its transaction file; returns the
        child's pid (None without a supervisor)."""
        t0 = time.monotonic()
        while not temps(self.tmp):
            assert p.poll() is None, 'the run ended before writing: %s' % (p.communicate(),)
            assert time.monotonic() - t0 < limit, 'no temporary file after %d s' % limit
            time.sleep(0.005)
        kids = children(p.pid)
        return kids[0] if kids else None

    def check(self, states, what):
        """The output file opens, keep is intact, y is in one of states
        (None: absent, True: complete); no temporary file is left."""
        with h5py.File(self.out, 'r') as f:
            assert np.array_equal(f['keep'][()], self.keep), what + ': keep damaged'
            if 'y' not in f:
                assert None in states, what + ': y absent'
            else:
                assert True in states, what + ': y present'
                assert np.array_equal(f['y'][()], self.want), what + ': y wrong'
        assert not temps(self.tmp), '%s: temporary file left: %s' % (what, temps(self.tmp))


# ----------------------------------------------------------------- tests

def test_supervisor_fuzz_regress(tmp):
    """Every file of tests/fuzz/regress/ with info, eval and eval -o."""
    files = sorted(glob.glob(os.path.join(REGRESS, '*.h5')))
    assert len(files) >= 4, files
    crashes = []
    for src in files:
        name = os.path.basename(src)
        d = os.path.join(tmp, name + '.d')
        os.mkdir(d)
        shutil.copyfile(src, os.path.join(d, name))
        for kind, args in (('info', ['info', name]),
                           ('eval', ['eval', '-i', 'x=%s:/x' % name, 'sum(x)']),
                           ('eval-o', ['eval', '-i', 'x=%s:/x' % name, 'x + 1', '-o',
                                       'out.h5:/y'])):
            what = 'cask %s (%s)' % (' '.join(args), name)
            rc, out, err, dt = run(args, cwd=d, limit=True)
            print('  %6.2f s  exit %d  %s' % (dt, rc, what))
            asan = check_sanitizer(err, what)
            assert rc >= 0, '%s: killed by signal %d\n%s' % (what, -rc, err[-3000:])
            assert dt < TIMEOUT, what
            if rc == 0:
                assert (name, kind) in READABLE, '%s: exit 0 on a corrupt file\n%s' % (what, out)
                assert not asan, what
            else:
                assert rc in (1, 2), '%s: exit %d\n%s' % (what, rc, err[-3000:])
                lines = [l for l in err.splitlines() if l.startswith('cask: error: ')]
                assert len(lines) == 1, '%s: want one error line\n%s' % (what, err[-3000:])
                if asan:
                    # The report came from libhdf5; the supervisor said so.
                    assert lines[0].startswith(CRASH_LINE) and rc == 1, what + err[-3000:]
                if lines[0].startswith(CRASH_LINE):
                    crashes.append(what)
                    assert "'%s'" % name in lines[0], what + ': input not named: ' + lines[0]
                    assert 'corrupt' in lines[0], lines[0]
                    if kind == 'eval-o':
                        assert 'no output was written' in lines[0], lines[0]
            if rc == 0 and kind == 'eval-o':
                os.unlink(os.path.join(d, 'out.h5'))
            leftovers = [n for n in os.listdir(d) if n != name]
            # An error must not leave anything: no temporary file, no core,
            # no output file (out.h5 did not exist before).
            assert not leftovers, '%s: left %s' % (what, leftovers)
    # HDF5 1.10.8 crashes on three of these; if a newer libhdf5 does not,
    # the supervisor is still covered by the tests below.
    print('  crashes survived: %d (%s)' % (len(crashes), '; '.join(crashes)))


def test_supervisor_child_crash_during_store(tmp):
    """The command dies of SIGSEGV, SIGABRT or SIGKILL (as from the OOM
    killer) while its transaction file exists: exit 1, one line naming the
    input, the temporary file removed, the target absent, the file intact."""
    s = Store(tmp)
    for sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGKILL):
        p = s.start()
        child = s.wait_for_temp(p)
        assert child is not None, 'no child process: is the supervisor on?'
        os.kill(child, sig)
        out, err = p.communicate(timeout=TIMEOUT)
        what = 'child killed by %s' % sig.name
        assert p.returncode == 1, '%s: exit %d\n%s' % (what, p.returncode, err)
        lines = [l for l in err.splitlines() if l.startswith('cask: error: ')]
        assert len(lines) == 1, what + err
        assert "'%s'" % s.inp in lines[0], what + ': input not named: ' + lines[0]
        assert "'%s'" % s.out not in lines[0], what + ': output named as an input'
        assert 'no output was written' in lines[0], lines[0]
        if sig == signal.SIGKILL:
            assert 'killed' in lines[0] and 'out-of-memory' in lines[0], lines[0]
        else:
            # Under ASan, its SEGV handler reports and then aborts.
            names = (sig.name, 'SIGABRT') if 'AddressSanitizer' in err else (sig.name,)
            assert lines[0].startswith(CRASH_LINE), lines[0]
            assert any(n in lines[0] for n in names), lines[0]
        s.check([None], what)


def test_supervisor_child_killed_output_through_dangling_link(tmp):
    """An output named through a dangling symbolic link is written next to
    the file the link leads to; when the child is SIGKILLed, that temporary
    file is removed too, and the link and the missing file stay as they were."""
    s = Store(tmp)
    sub = os.path.join(tmp, 'sub')
    os.mkdir(sub)
    link = os.path.join(tmp, 'link.h5')
    os.symlink('sub/made.h5', link)
    args = ['eval', '-q', '-i', 'x=%s:/x' % s.inp, 'x * 2 + 1', '-o', link + ':/y',
            '--compress', 'gzip=1', '--shuffle']
    p = subprocess.Popen([CASK] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env())
    t0 = time.monotonic()
    while not temps(sub):
        assert p.poll() is None, 'the run ended before writing: %s' % (p.communicate(),)
        assert time.monotonic() - t0 < 60, 'no temporary file next to the target'
        time.sleep(0.005)
    kids = children(p.pid)
    assert kids, 'no child process: is the supervisor on?'
    os.kill(kids[0], signal.SIGKILL)
    out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 1, err
    assert temps(sub) == [] and temps(tmp) == [], (os.listdir(sub), os.listdir(tmp))
    assert os.path.islink(link) and not os.path.exists(os.path.join(sub, 'made.h5'))


def test_supervisor_parent_sigkill(tmp):
    """SIGKILL of the supervisor takes the command with it (PDEATHSIG): the
    child is gone at once, the target absent; its temporary file stays, as
    for any SIGKILLed run (test_crash.py)."""
    s = Store(tmp)
    p = s.start()
    child = s.wait_for_temp(p)
    p.kill()
    p.communicate(timeout=TIMEOUT)
    t0 = time.monotonic()
    while proc_state(child) not in (None, 'Z', 'X'):
        assert time.monotonic() - t0 < 5, 'the command outlived the supervisor'
        time.sleep(0.01)
    left = temps(tmp)
    assert len(left) == 1 and TEMP_RE.match(left[0]).group(2) == str(child), left
    os.unlink(os.path.join(tmp, left[0]))
    s.check([None], 'supervisor SIGKILLed')


def test_supervisor_signals_once(tmp):
    """SIGINT and SIGTERM to the process, to its process group (a shell's
    `kill %1`), and to both in a row as timeout(1) sends them: the command
    stops cleanly with 130 / 143 (a second delivery to the command would
    kill it by the default action instead, without the message).  The
    signals are sent once the run writes its output, so its handlers are
    installed."""
    s = Store(tmp)
    for how in ('process', 'group', 'process and group'):
        for sig in (signal.SIGINT, signal.SIGTERM):
            what = '%s to the %s' % (sig.name, how)
            p = s.start(start_new_session=(how != 'process'))
            s.wait_for_temp(p)
            if how != 'group':
                p.send_signal(sig)
            if how != 'process':
                os.killpg(p.pid, sig)
            out, err = p.communicate(timeout=TIMEOUT)
            assert p.returncode == 128 + sig, '%s: exit %d\n%s' % (what, p.returncode, err)
            assert 'interrupted' in err, what + err
            s.check([None, True], what)


def test_supervisor_sighup_and_job_control(tmp):
    """SIGHUP: death by SIGHUP as without the supervisor, no temporary file.
    SIGTSTP stops both processes; SIGCONT resumes; the run completes."""
    s = Store(tmp)
    # SIGHUP at its default action, even when this test runs under nohup
    # (an ignored SIGHUP is inherited and, rightly, stays ignored)
    p = s.start(preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    s.wait_for_temp(p)
    p.send_signal(signal.SIGHUP)
    p.communicate(timeout=TIMEOUT)
    assert p.returncode == -signal.SIGHUP, p.returncode
    s.check([None], 'SIGHUP')

    p = s.start()
    child = s.wait_for_temp(p)
    p.send_signal(signal.SIGTSTP)
    t0 = time.monotonic()
    while proc_state(p.pid) != 'T' or proc_state(child) != 'T':
        assert time.monotonic() - t0 < 10, (proc_state(p.pid), proc_state(child))
        time.sleep(0.01)
    size = [os.path.getsize(os.path.join(tmp, n)) for n in temps(tmp)]
    time.sleep(0.3)
    assert [os.path.getsize(os.path.join(tmp, n)) for n in temps(tmp)] == size, \
        'the stopped command still writes'
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0, (p.returncode, err)
    s.check([True], 'SIGTSTP then SIGCONT')


def test_supervisor_pass_through(tmp):
    """Exit statuses 0, 1 and 2 and stdout / stderr pass through unchanged."""
    x = os.path.join(tmp, 'x.h5')
    with h5py.File(x, 'w') as f:
        f.create_dataset('x', data=np.arange(10.0))
        f.create_dataset('big', data=np.arange(10000.0) / 3)
    rc, out, err, _ = run(['eval', '-i', 'x=%s:/x' % x, 'sum(x)'])
    assert rc == 0 and float(out) == 45.0 and err == '', (rc, out, err)
    rc, out, err, _ = run(['eval', '-i', 'x=%s:/nope' % x, 'sum(x)'])
    assert rc == 1 and out == '' and err.startswith('cask: error: '), (rc, out, err)
    rc, out, err, _ = run(['eval', '-i', 'x=%s:/x' % x, 'sum(x'])
    assert rc == 2 and err.startswith('cask: error: '), (rc, out, err)
    rc, out, err, _ = run(['info', x, '--memory', '1G'])
    assert rc == 0 and '/x' in out, (rc, out, err)
    rc, out, err, _ = run(['eval', '-i', 'x=%s:/big' % x, 'x'])
    assert rc == 0 and np.array_equal(np.array(out.split(), float), np.arange(10000.0) / 3)
    # `cask eval | head -c 1`: the closed pipe ends the command by SIGPIPE,
    # as without the supervisor (or a write error, exit 1).
    p = subprocess.Popen('"%s" eval -i "x=%s:/big" x | head -c 1 >/dev/null; '
                         'echo "${PIPESTATUS[0]}"' % (CASK, x), shell=True,
                         executable='/bin/bash', stdout=subprocess.PIPE, text=True, env=env())
    out, _ = p.communicate(timeout=TIMEOUT)
    assert out.strip() in ('1', str(128 + signal.SIGPIPE)), out


def test_supervisor_disabled(tmp):
    """CASK_NO_SUPERVISOR=1: no child process; the command is the process."""
    s = Store(tmp)
    p = s.start(extra={'CASK_NO_SUPERVISOR': '1'})
    assert s.wait_for_temp(p) is None, 'a child process although CASK_NO_SUPERVISOR=1'
    name = temps(tmp)[0]
    assert TEMP_RE.match(name).group(2) == str(p.pid), name
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 130, (p.returncode, err)
    s.check([None, True], 'CASK_NO_SUPERVISOR=1 SIGINT')


def test_supervisor_export_png(tmp):
    """`cask export` writes its PNG under the transaction files' name: when
    the command is SIGKILLed (as by the OOM killer) or interrupted while it
    writes, the temporary PNG is removed and an existing PNG is left as it
    was; a finished export replaces it."""
    src = os.path.join(tmp, 'img.h5')
    img = np.random.default_rng(5).standard_normal((3072, 3072))
    with h5py.File(src, 'w') as f:
        f.create_dataset('x', data=img, chunks=(256, 3072))
    png = os.path.join(tmp, 'out.png')
    old = b'not a png, but it must survive'
    args = ['export', '-q', '--bits', '16', '--overwrite', src + ':/x', png]
    for how in ('SIGKILL to the command', 'SIGINT'):
        with open(png, 'wb') as f:
            f.write(old)
        p = subprocess.Popen([CASK] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env())
        t0 = time.monotonic()
        while not temps(tmp):
            assert p.poll() is None, 'export ended before writing: %s' % (p.communicate(),)
            assert time.monotonic() - t0 < 60, 'no temporary PNG after 60 s'
            time.sleep(0.002)
        if how == 'SIGINT':
            p.send_signal(signal.SIGINT)
        else:
            kids = children(p.pid)
            assert kids, 'no child process: is the supervisor on?'
            os.kill(kids[0], signal.SIGKILL)
        out, err = p.communicate(timeout=TIMEOUT)
        want = 130 if how == 'SIGINT' else 1
        # SIGINT may come after the rename: then the export is complete.
        with open(png, 'rb') as f:
            now = f.read()
        if not (how == 'SIGINT' and p.returncode == 0):
            assert p.returncode == want, '%s: exit %d\n%s' % (how, p.returncode, err)
            assert now == old, how + ': the existing PNG was changed'
        assert not temps(tmp), '%s: temporary file left: %s' % (how, temps(tmp))
    rc, out, err, _ = run(args)
    assert rc == 0, err
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert not temps(tmp)
