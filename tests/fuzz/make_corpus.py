#!/usr/bin/python3
"""Write the seed corpora of the fuzz targets (committed; rerun to refresh).

corpus_h5/: tiny HDF5 files made by h5py covering what fuzz_h5open should
mutate from: every supported dtype, contiguous and chunked layouts, gzip,
shuffle, fletcher32, 0-d and zero-length datasets, groups, soft and
external links, and a few unsupported types.  Kept small (a few KiB each) so
mutations hit the metadata.
corpus_expr/: expressions using every operator, literal form, call form,
keyword, subscript and slice form of the language, and some errors.
"""
import os

import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
hd = os.path.join(here, 'corpus_h5')
ed = os.path.join(here, 'corpus_expr')
os.makedirs(hd, exist_ok=True)
os.makedirs(ed, exist_ok=True)


def h5(name, fill):
    p = os.path.join(hd, name)
    with h5py.File(p, 'w', libver='earliest') as f:
        fill(f)


h5('contig_f8.h5', lambda f: f.create_dataset('x', data=np.arange(12.0).reshape(3, 4)))
h5('chunk_i4.h5', lambda f: f.create_dataset('x', data=np.arange(40, dtype='i4').reshape(8, 5),
                                             chunks=(3, 2)))
h5('gzip_shuffle_f4.h5', lambda f: f.create_dataset(
    'x', data=np.linspace(0, 1, 64, dtype='f4').reshape(8, 8), chunks=(4, 4),
    compression='gzip', shuffle=True))
h5('fletcher_u2.h5', lambda f: f.create_dataset('x', data=np.arange(30, dtype='u2'),
                                                chunks=(7,), fletcher32=True))
h5('bool_i1_u8.h5', lambda f: (f.create_dataset('x', data=np.array([True, False, True])),
                               f.create_dataset('g/i1', data=np.arange(-3, 3, dtype='i1')),
                               f.create_dataset('g/u8', data=np.arange(5, dtype='u8'),
                                                chunks=(2,))))
h5('scalar_empty.h5', lambda f: (f.create_dataset('x', data=np.float64(2.5)),
                                 f.create_dataset('e', shape=(0, 3), dtype='f8', chunks=(1, 3),
                                                  maxshape=(None, 3))))
h5('fill_unwritten.h5', lambda f: f.create_dataset('x', shape=(6, 6), dtype='i8', chunks=(4, 4),
                                                   fillvalue=7))
h5('links.h5', lambda f: (f.create_dataset('x', data=np.arange(4.0)),
                          f.__setitem__('soft', h5py.SoftLink('/x')),
                          f.__setitem__('ext', h5py.ExternalLink('other.h5', '/x'))))
h5('unsupported.h5', lambda f: (f.create_dataset('x', data=np.zeros(3, dtype=[('a', 'f8'),
                                                                           ('b', 'i2')])),
                                f.create_dataset('s', data=np.array([b'ab', b'c'])),
                                f.create_dataset('c', data=np.zeros(2, dtype='c8'))))
h5('rank5.h5', lambda f: f.create_dataset('x', data=np.arange(32.0).reshape(2, 2, 2, 2, 2),
                                          chunks=(1, 2, 1, 2, 1)))
h5('latest_gzip.h5', lambda f: None)
with h5py.File(os.path.join(hd, 'latest_gzip.h5'), 'w', libver='latest') as f:
    f.create_dataset('x', data=np.arange(100.0).reshape(10, 10), chunks=(5, 5),
                     compression='gzip', compression_opts=9, maxshape=(None, 10))
    f.attrs['note'] = 'v2 object headers and B-trees'

def compact(f):
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    sp = h5py.h5s.create_simple((10,))
    d = h5py.h5d.create(f.id, b'x', h5py.h5t.IEEE_F64LE, sp, dcpl=dcpl)
    d.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(10.0))


h5('compact.h5', compact)
# corpus_h5/compact_bad_size.h5 is not generated here: it is a fuzzer finding
# (a compact dataset whose stored size is 0), kept as a seed; see regress/.

exprs = {
    'arith': 'x + y * 2 - z / 3 // 4 % 5 ** -1',
    'unary': '-x + +y - ~z',
    'pow': '-2**2**-1',
    'cmp': '(x < 1) & (y >= 2) | (z != 3) ^ (x == y)',
    'shift_matmul': 'x << 2 >> 1 @ y',
    'calls': "where(x > 0, sqrt(x), clip(y, -1, 1.5e3))",
    'reduce': 'x - mean(x, axis=(0, -1), keepdims=True) + std(y, ddof=1)',
    'index': 'x[10:200:2, ::-1, 5][..., 0][None]',
    'attr': "x.T.astype('f4').sum(axis=0)",
    'np': "np.concatenate((a, b), axis=0)",
    'literals': "[1, 2.5, 1e-3, 0x1f, True, False, None, nan, inf, pi, e, 'f4', \"s\\n\"]",
    'tuple': '((1,), (), (a, b, c))',
    'err_chain': 'a < b < c',
    'err_unclosed': 'sum((x',
    'err_char': 'x $ y',
    'deepish': '(' * 150 + 'x' + ')' * 150,
    'unicode': "\u00e9 + 'caf\u00e9'",
}
for k, v in exprs.items():
    with open(os.path.join(ed, k), 'w') as f:
        f.write(v)
print('wrote', len(os.listdir(hd)), 'HDF5 seeds and', len(os.listdir(ed)), 'expressions')
