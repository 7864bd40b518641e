#!/usr/bin/python3
"""Make the HDF5 inputs of tests/test_io.c with h5py and NumPy (the
independent reference): dtypes.h5 with every dtype, byte order and filter
combination plus a manifest and the expected raw bytes, errors.h5 with
unsupported types and links, info.h5 with the expected cask_h5_info rows,
corrupt.h5 with damaged chunks.  Usage: make_io_files.py OUTDIR"""
import os
import sys

import h5py
import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(20261124)

CASK = {'i1': 'int8', 'i2': 'int16', 'i4': 'int32', 'i8': 'int64', 'u1': 'uint8', 'u2': 'uint16',
        'u4': 'uint32', 'u8': 'uint64', 'f4': 'float32', 'f8': 'float64', 'b1': 'bool'}
LAYOUTS = {
    'contig': {},
    'chunk': dict(chunks=True),
    'gzip': dict(chunks=True, compression='gzip', compression_opts=4),
    'shuf_gzip': dict(chunks=True, compression='gzip', compression_opts=1, shuffle=True),
    'fletch': dict(chunks=True, fletcher32=True),
    'shuf_gzip_fletch': dict(chunks=True, compression='gzip', compression_opts=9, shuffle=True,
                             fletcher32=True),
    'shuf': dict(chunks=True, shuffle=True),
}


def data_for(code, shape):
    if code == 'b1':
        return rng.integers(0, 2, size=shape).astype(bool)
    dt = np.dtype(code)
    if dt.kind in 'iu':
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    x = (rng.standard_normal(size=shape) * 1e3).astype(dt)
    flat = x.reshape(-1)
    if flat.size >= 4:
        flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    return x


manifest = []


def add(f, name, x, chunks=None, strided=None, **kw):
    """Create dataset name from x; record it in the manifest with the raw
    native bytes of the full array and of x[strided] (start, stride)."""
    if chunks is True:
        chunks = kw.pop('chunkshape')
    else:
        kw.pop('chunkshape', None)
    d = f.create_dataset(name, data=x, chunks=chunks, **kw)
    back = d[()]
    assert np.array_equal(back, x, equal_nan=x.dtype.kind == 'f')
    i = len(manifest)
    native = np.array(back, dtype=back.dtype.newbyteorder('='), order='C')
    native.tofile(os.path.join(out, 'd%d.bin' % i))
    nd = x.ndim
    if strided is None:
        start, stride = [0] * nd, [1] * nd
    else:
        start, stride = strided
    sl = tuple(slice(s, None, t) for s, t in zip(start, stride))
    sub = np.ascontiguousarray(native[sl]) if nd > 0 else native
    sub.tofile(os.path.join(out, 'd%d.s.bin' % i))
    dchunks = d.chunks if d.chunks is not None else (0,) * nd
    code = 'b1' if x.dtype == bool else x.dtype.str[1:]
    fields = [name, CASK[code], str(nd)] + [str(v) for v in x.shape] + [str(v) for v in dchunks]
    fields += ['1' if (d.compression or d.shuffle or d.fletcher32 or d.scaleoffset is not None) else '0']
    fields += [str(v) for v in start] + [str(v) for v in stride] + [str(v) for v in sub.shape]
    manifest.append(' '.join(fields))


with h5py.File(os.path.join(out, 'dtypes.h5'), 'w') as f:
    for code in ['i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f4', 'f8']:
        for order in '<>':
            for lay, kw in LAYOUTS.items():
                x = data_for(code, (13, 17)).astype(order + code)
                add(f, '/%s/%s_%s' % (lay, code, 'le' if order == '<' else 'be'), x,
                    strided=([1, 2], [3, 4]), chunkshape=(5, 4), **kw)
    for lay in ['contig', 'chunk', 'gzip', 'shuf_gzip_fletch']:
        add(f, '/bool/%s' % lay, data_for('b1', (9, 11)), strided=([0, 1], [2, 5]), chunkshape=(4, 4),
            **LAYOUTS[lay])
    add(f, '/scalar_f8', np.array(3.5))
    add(f, '/scalar_i2_be', np.array(-12345, dtype='>i2'))
    add(f, '/scalar_bool', np.array(True))
    add(f, '/empty_contig', np.zeros((0, 5), dtype='<f4'))
    add(f, '/empty_chunked', np.zeros((0, 5), dtype='<i8'), chunks=(1, 5), maxshape=(None, 5),
        compression='gzip')
    add(f, '/one_d', data_for('u1', (100,)), chunks=(7,), fletcher32=True, strided=([3], [7]))
    add(f, '/three_d', data_for('f4', (6, 7, 9)), chunks=(4, 3, 5), shuffle=True, compression='gzip',
        strided=([1, 0, 2], [2, 3, 2]))
    add(f, '/three_d_be', data_for('i8', (6, 7, 9)).astype('>i8'), chunks=(4, 3, 5), shuffle=True,
        compression='gzip', fletcher32=True, strided=([0, 1, 0], [5, 1, 4]))
    add(f, '/scaleoffset', data_for('i2', (13, 17)) // 8, chunks=(5, 4), scaleoffset=0,
        strided=([1, 2], [3, 4]))
    # Missing chunks read as the fill value (-7, stored big-endian).
    d = f.create_dataset('/fill', shape=(20, 20), dtype='>i4', chunks=(8, 8), fillvalue=-7,
                         compression='gzip')
    d[0:8, 0:8] = data_for('i4', (8, 8))
    d[16:20, 8:16] = data_for('i4', (4, 8))
    back = d[()]
    i = len(manifest)
    back.astype('=i4').tofile(os.path.join(out, 'd%d.bin' % i))
    back[2::3, 1::5].astype('=i4').tofile(os.path.join(out, 'd%d.s.bin' % i))
    manifest.append('/fill int32 2 20 20 8 8 1 2 1 3 5 6 4')

with open(os.path.join(out, 'dtypes.txt'), 'w') as m:
    m.write('\n'.join(manifest) + '\n')

# Things cask must refuse.
with h5py.File(os.path.join(out, 'other.h5'), 'w') as f:
    f['x'] = np.arange(3.0)
with open(os.path.join(out, 'ext_raw.bin'), 'wb') as r:
    r.write(np.arange(10.0).tobytes())
with h5py.File(os.path.join(out, 'errors.h5'), 'w') as f:
    f['compound'] = np.zeros(3, dtype=[('a', '<i4'), ('b', '<f8')])
    f['string'] = np.array([b'abc', b'de'], dtype='S5')
    f.create_dataset('vstring', data=['a', 'bcd'], dtype=h5py.string_dtype())
    f['float16'] = np.ones(4, dtype='<f2')
    f.create_dataset('enum3', data=np.array([0, 1, 2], dtype='i1'),
                     dtype=h5py.enum_dtype({'R': 0, 'G': 1, 'B': 2}, basetype='i1'))
    f['group/inner'] = np.arange(6, dtype='<i4').reshape(2, 3)
    f['ext'] = h5py.ExternalLink('other.h5', '/x')
    f['soft_ok'] = h5py.SoftLink('/group/inner')
    f['soft_rel'] = h5py.SoftLink('group/inner')
    f['soft_ext'] = h5py.SoftLink('/ext')
    f['group/soft_dir'] = h5py.SoftLink('/group')
    f['dangling'] = h5py.SoftLink('/nowhere')
    f.create_dataset('ext_storage', shape=(10,), dtype='<f8', external=[('ext_raw.bin', 0, 80)])
    f.create_dataset('null', data=h5py.Empty('f8'))
    # Bool oddities: stored bytes 2 and 255 in h5py's bool enum (read as true),
    # and the FALSE/TRUE enum over uint8 instead of int8.
    b = f.create_dataset('bool_raw', shape=(4,), dtype=bool, chunks=(4,))
    b.id.write_direct_chunk((0,), bytes([0, 1, 2, 255]))
    f.create_dataset('bool_u1', data=np.array([0, 1, 1, 0], dtype='u1'),
                     dtype=h5py.enum_dtype({'FALSE': 0, 'TRUE': 1}, basetype='u1'))
with open(os.path.join(out, 'notes.txt'), 'w') as t:
    t.write('this is not an HDF5 file\n')

# cask_h5_info expectations, derived from h5py's own view of the file.
FNAMES = {h5py.h5z.FILTER_DEFLATE: 'gzip', h5py.h5z.FILTER_SHUFFLE: 'shuffle',
          h5py.h5z.FILTER_FLETCHER32: 'fletcher32', h5py.h5z.FILTER_SCALEOFFSET: 'scaleoffset'}
with h5py.File(os.path.join(out, 'info.h5'), 'w') as f:
    f.create_dataset('a', data=np.arange(12, dtype='<i4').reshape(3, 4))
    f.create_dataset('g/b', data=np.arange(10.0), chunks=(4,), shuffle=True, compression='gzip',
                     compression_opts=4, fletcher32=True)
    f['g/c'] = np.zeros(2, dtype=[('a', '<i4')])
    f['g/s'] = np.array([b'x'], dtype='S3')
    f['z'] = np.array(1.0, dtype='<f2')
    f['b'] = np.ones((2, 2), dtype=bool)
    f['B_upper'] = np.ones(3, dtype='>u2')
    f.create_group('empty_group')
with h5py.File(os.path.join(out, 'info.h5'), 'r') as f, open(os.path.join(out, 'info.txt'), 'w') as m:
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    for n in names:
        d = f[n]
        dt = d.dtype
        if dt == bool:
            t, sup = 'bool', 1
        elif dt.kind in 'iuf' and dt.itemsize in (4, 8) or dt.kind in 'iu':
            t, sup = CASK[dt.kind + str(dt.itemsize)] if dt.kind != 'f' else CASK['f%d' % dt.itemsize], 1
        elif dt.kind == 'f':
            t, sup = 'float%d' % (dt.itemsize * 8), 0
        elif dt.kind == 'V':
            t, sup = 'compound', 0
        else:
            t, sup = 'string', 0
        plist = d.id.get_create_plist()
        fl = []
        for i in range(plist.get_nfilters()):
            code, flags, vals, _ = plist.get_filter(i)
            fl.append('gzip=%d' % vals[0] if code == h5py.h5z.FILTER_DEFLATE else FNAMES[code])
        chunks = d.chunks if d.chunks is not None else (0,) * d.ndim
        m.write('|'.join(['/' + n, t, str(sup), str(d.ndim), ','.join(map(str, d.shape)),
                          ','.join(map(str, chunks)), ','.join(fl) or 'none',
                          str(d.id.get_storage_size()), str(d.size * dt.itemsize)]) + '\n')

# Damaged chunks: garbage deflate bytes in one chunk, a flipped data byte
# under an unchanged fletcher32 checksum in another.
with h5py.File(os.path.join(out, 'corrupt.h5'), 'w') as f:
    g = f.create_dataset('gz', data=np.arange(256, dtype='<i4').reshape(16, 16), chunks=(8, 8),
                         compression='gzip')
    g.id.write_direct_chunk((0, 8), b'\x78\x9c' + bytes(rng.integers(0, 256, 40, dtype=np.uint8)))
    fl = f.create_dataset('fl', data=np.arange(256, dtype='<i4').reshape(16, 16), chunks=(8, 8),
                          fletcher32=True)
    mask, raw = fl.id.read_direct_chunk((8, 0))
    raw = bytearray(raw)
    raw[5] ^= 0x10
    fl.id.write_direct_chunk((8, 0), bytes(raw), mask)
    # The raw stored bytes of an odd-length fletcher32 chunk, for the checksum test.
    o = f.create_dataset('odd', data=np.arange(7, dtype='u1') * 37, chunks=(7,), fletcher32=True)
    mask, raw = o.id.read_direct_chunk((0,))
    with open(os.path.join(out, 'odd_chunk.bin'), 'wb') as r:
        r.write(raw)
    gf = f.create_dataset('gzfl', data=np.arange(256, dtype='<i2').reshape(16, 16), chunks=(8, 8),
                          compression='gzip', fletcher32=True)
    mask, raw = gf.id.read_direct_chunk((8, 8))
    raw = bytearray(raw)
    raw[len(raw) // 2] ^= 0x01
    gf.id.write_direct_chunk((8, 8), bytes(raw), mask)
