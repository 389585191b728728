/*
 * ptools/npy.h - read and write NumPy .npy files.
 *
 * Supports format versions 1.0, 2.0 and 3.0 on read (1.0, or 2.0 when the
 * header needs it, on write), little-endian or byte-order-free data in C
 * order, and the element types of dtype.h. Anything else (big-endian,
 * Fortran order, object arrays, a truncated file) is refused with a message
 * naming the file and the problem (pt_errmsg()). Files are written atomically:
 * a reader never sees a half-written .npy.
 */
#ifndef PTOOLS_NPY_H
#define PTOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include <ptools/common.h>
#include <ptools/dtype.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PT_NPY_MAXDIMS 8

typedef struct pt_npy_info {
    pt_dtype type;
    int ndims; /* 0 for a scalar */
    uint64_t dims[PT_NPY_MAXDIMS];
    uint64_t nbytes;      /* data bytes: product(dims) * size */
    uint64_t data_offset; /* where the data starts in the file */
} pt_npy_info;

/* Read and check the header of `path`: 0 or -errno (-EINVAL: bad file). */
PT_EXTERN int pt_npy_info_read(const char *path, pt_npy_info *info);

/*
 * Load the data of `path` into `dst`, which holds `nbytes` bytes. The file's
 * type must be `type` and its shape `dims[0..ndims)` exactly; a mismatch is
 * -EINVAL with both shapes or types in the message.
 */
PT_EXTERN int pt_npy_load(const char *path, pt_dtype type, int ndims,
                          const uint64_t *dims, void *dst, uint64_t nbytes);

/* Write `data` as a C-order little-endian .npy at `path`, atomically. */
PT_EXTERN int pt_npy_save(const char *path, pt_dtype type, int ndims,
                          const uint64_t *dims, const void *data);

#ifdef __cplusplus
}
#endif
#endif
