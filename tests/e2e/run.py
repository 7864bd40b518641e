#!/usr/bin/python3
"""A tiny runner for the end-to-end tests (no pytest on the build machines).

Usage: run.py TEST_MODULE.py [NAME_SUBSTRING...]

Imports the module, runs every function named test_* in file order (only
those whose name contains one of the substrings, if given), and prints one
line per test and then 'N passed, N failed'.  A test function taking one
argument receives a fresh temporary directory (removed afterwards if the
test passed).  Exits 1 if any test failed.  The tests find the binary in
the environment variable CASK.
"""
import importlib.util
import inspect
import os
import shutil
import sys
import tempfile
import time
import traceback


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    path = sys.argv[1]
    wanted = sys.argv[2:]
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec.loader.exec_module(mod)
    tests = [(n, f) for n, f in vars(mod).items()
             if n.startswith('test_') and inspect.isfunction(f)]
    tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
    if wanted:
        tests = [t for t in tests if any(w in t[0] for w in wanted)]
    passed = failed = 0
    for tname, fn in tests:
        tmp = None
        t0 = time.monotonic()
        try:
            if len(inspect.signature(fn).parameters) == 1:
                tmp = tempfile.mkdtemp(prefix='cask-e2e-' + tname + '-')
                fn(tmp)
            else:
                fn()
        except Exception:
            failed += 1
            print('FAIL %s (%.2f s)' % (tname, time.monotonic() - t0))
            traceback.print_exc()
            if tmp:
                print('     (files kept in %s)' % tmp)
            sys.stdout.flush()
            continue
        passed += 1
        print('ok   %s (%.2f s)' % (tname, time.monotonic() - t0))
        sys.stdout.flush()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
