#!/usr/bin/python3
"""Check HDF5 files written by tests/test_io.c with h5py.  Each line of the
manifest (argv[1]): FILE|DSET|DTYPE|SHAPE|CHUNKS|FILTERS|BIN with SHAPE and
CHUNKS comma-separated ('-' for contiguous chunks, '' for 0-d), FILTERS as
'shuffle,gzip=4,fletcher32' or 'none', BIN the raw native bytes expected.
Prints every mismatch and exits 1 if there was one."""
import sys

import h5py
import numpy as np

NAMES = {h5py.h5z.FILTER_DEFLATE: 'gzip', h5py.h5z.FILTER_SHUFFLE: 'shuffle',
         h5py.h5z.FILTER_FLETCHER32: 'fletcher32'}
bad = 0


def fail(msg):
    global bad
    print('check_io_output:', msg)
    bad = 1


for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if not line:
        continue
    path, dset, dtype, shape, chunks, filters, binpath = line.split('|')
    shape = tuple(int(v) for v in shape.split(',')) if shape else ()
    want_chunks = None if chunks == '-' else tuple(int(v) for v in chunks.split(','))
    dt = np.dtype(bool) if dtype == 'bool' else np.dtype(dtype)
    with h5py.File(path, 'r') as f:
        if dset not in f:
            fail('%s: %s missing' % (path, dset))
            continue
        d = f[dset]
        if d.dtype != dt:
            fail('%s: dtype %s != %s' % (dset, d.dtype, dt))
            continue
        if d.shape != shape:
            fail('%s: shape %s != %s' % (dset, d.shape, shape))
        if d.chunks != want_chunks:
            fail('%s: chunks %s != %s' % (dset, d.chunks, want_chunks))
        plist = d.id.get_create_plist()
        fl = []
        for i in range(plist.get_nfilters()):
            code, flags, vals, _ = plist.get_filter(i)
            fl.append('gzip=%d' % vals[0] if code == h5py.h5z.FILTER_DEFLATE else NAMES.get(code, str(code)))
        if (','.join(fl) or 'none') != filters:
            fail('%s: filters %s != %s' % (dset, ','.join(fl) or 'none', filters))
        got = np.array(d[()], dtype=dt.newbyteorder('='))
        want = np.fromfile(binpath, dtype=dt.newbyteorder('=')).reshape(shape)
        if got.tobytes() != want.tobytes():
            fail('%s: data differ (%d of %d elements)' % (
                dset, int(np.sum(got.view(np.uint8) != want.view(np.uint8))), want.size))
sys.exit(bad)
