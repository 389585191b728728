/*
 * ptools/dtype.h - element types of shared-memory segments and .npy files.
 *
 * The enum itself, pt_dtype, lives in ptools/types.h (kernels see it
 * there). Names are NumPy's (`int8` ... `float64`); codes are stable (they
 * are stored in segment headers), so new types only ever go at the end.
 */
#ifndef PTOOLS_DTYPE_H
#define PTOOLS_DTYPE_H

#include <stdbool.h>
#include <stddef.h>

#include <ptools/common.h>
#include <ptools/types.h> /* the pt_dtype enum */

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes per element, or 0 for an invalid type. */
PT_EXTERN size_t pt_dtype_size(pt_dtype t);
/* "int8" ... "float64", or NULL for an invalid type. */
PT_EXTERN const char *pt_dtype_name(pt_dtype t);
/* The type named `name`, or PT_DTYPE_NONE when there is none. */
PT_EXTERN pt_dtype pt_dtype_parse(const char *name);
/* true for PT_INT8 ... PT_UINT64. */
PT_EXTERN bool pt_dtype_is_integer(pt_dtype t);

#ifdef __cplusplus
}
#endif
#endif
