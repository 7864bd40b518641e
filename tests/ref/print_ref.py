#!/usr/bin/python3
"""Reference strings for tests/test_print.c: Python's '%.17g' (float64) and
'%.9g' (float32 values widened to double) formatting, the round-trip
precisions the `cask eval` output contract names.  Prints C table rows;
the bit patterns are given as hex so the C side reproduces each value
exactly.  The assertion checks that each string round-trips."""
import struct
import numpy as np

F8 = [0.1, 1 / 3, -0.0, 0.0, 1e-300, 5e-324, 1.7976931348623157e308, 1e16, 2.5, 100.0,
      -123.456, 2.0 ** 53 + 2, 1e-5, 123456789.0]
F4 = [0.1, 1 / 3, -0.0, 16777216.0, 3.4028234663852886e38, 1e-45, 2.5, -7.0, 1e-5, 0.3]

for v in F8:
    s = '%.17g' % v
    assert float(s) == v
    bits = struct.unpack('<Q', struct.pack('<d', v))[0]
    print('\t{ 0x%016xULL, "%s" },' % (bits, s))
print()
for v in F4:
    f = np.float32(v)
    s = '%.9g' % float(f)
    assert np.float32(s) == f
    bits = struct.unpack('<I', struct.pack('<f', f))[0]
    print('\t{ 0x%08xU, "%s" },' % (bits, s))
