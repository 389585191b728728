/*
 * ptools/dtype.h - element types of shared-memory segments and .npy files.
 *
 * Names are NumPy's (`int8` ... `float64`); codes are stable (they are
 * stored in segment headers), so new types only ever go at the end.
 */
#ifndef PTOOLS_DTYPE_H
#define PTOOLS_DTYPE_H

#include <stddef.h>

#include <ptools/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pt_dtype {
    PT_DTYPE_NONE = 0, /* "any" where a type is expected */
    PT_INT8 = 1,
    PT_INT16,
    PT_INT32,
    PT_INT64,
    PT_UINT8,
    PT_UINT16,
    PT_UINT32,
    PT_UINT64,
    PT_FLOAT32,
    PT_FLOAT64,
    PT_DTYPE_COUNT /* one past the last valid code */
} pt_dtype;

/* Bytes per element, or 0 for an invalid type. */
PT_EXTERN size_t pt_dtype_size(pt_dtype t);
/* "int8" ... "float64", or NULL for an invalid type. */
PT_EXTERN const char *pt_dtype_name(pt_dtype t);
/* The type named `name`, or PT_DTYPE_NONE when there is none. */
PT_EXTERN pt_dtype pt_dtype_parse(const char *name);
/* true for PT_INT8 ... PT_UINT64. */
PT_EXTERN int pt_dtype_is_integer(pt_dtype t);

#ifdef __cplusplus
}
#endif
#endif
