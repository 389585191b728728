#!/usr/bin/python3
"""Regenerate the .npy fixtures of tests/test_npy.c (run with Debian's
/usr/bin/python3, which has NumPy). The values follow simple formulas that
test_npy.c recomputes: signed i*3 - 5, unsigned max - i, float i*0.25 - 1,
for i the element's index in C order."""
import os

import numpy as np
import numpy.lib.format as fmt

HERE = os.path.dirname(os.path.abspath(__file__))


def values(dtype, shape):
    n = int(np.prod(shape, dtype=np.int64))
    i = np.arange(n, dtype=np.int64)
    dt = np.dtype(dtype)
    if dt.kind == 'i':
        v = (i * 3 - 5).astype(dt)
    elif dt.kind == 'u':
        v = (np.iinfo(dt).max - i.astype(np.uint64)).astype(dt)
    else:
        v = (i * 0.25 - 1).astype(dt)
    return v.reshape(shape)


def save(name, a, version=None):
    with open(os.path.join(HERE, name), 'wb') as f:
        fmt.write_array(f, a, version=version)


def main():
    # Good files, one per element type, and the other two format versions.
    save('i1_4.npy', values('i1', (4,)))
    save('i2_3.npy', values('<i2', (3,)))
    save('i4_2x3.npy', values('<i4', (2, 3)))
    save('i8_scalar.npy', values('<i8', ()))
    save('u1_5.npy', values('u1', (5,)))
    save('u2_2x2.npy', values('<u2', (2, 2)))
    save('u4_3.npy', values('<u4', (3,)))
    save('u8_2.npy', values('<u8', (2,)))
    save('f4_2x2x2.npy', values('<f4', (2, 2, 2)))
    save('f8_2x3.npy', values('<f8', (2, 3)))
    save('f8_empty.npy', values('<f8', (3, 0)))
    save('i4_v2.npy', values('<i4', (2, 3)), version=(2, 0))
    save('f8_v3.npy', values('<f8', (4,)), version=(3, 0))
    # Files the reader must refuse.
    save('bad_be_f8.npy', values('>f8', (3,)))
    save('bad_fortran.npy', np.asfortranarray(values('<f8', (2, 3))))
    save('bad_c16.npy', np.zeros(2, dtype='<c16'))
    save('bad_bool.npy', np.zeros(2, dtype='?'))
    save('bad_struct.npy', np.zeros(2, dtype=[('x', '<f4'), ('y', '<i4')]))
    np.save(os.path.join(HERE, 'bad_object.npy'),
            np.array([1, 'a'], dtype=object), allow_pickle=True)


if __name__ == '__main__':
    main()
