/*
 * ptools/types.h - the types kernels and the library share, and nothing
 * else: no function is declared here, so that kernel.h can include it and
 * a kernel sees only its pt_ctx accessors.
 *
 * Task ids are int64_t in every public call and struct (pt_call, pt_reply,
 * pt_request, pt_queue, pt_output_fn, pt_event, pt_task_id): ids count up
 * from 0 and never come near 2^63, and a signed id lets one value,
 * PT_TASK_NONE, say "no task" and lets a call return an id or a negative
 * errno (pt_queue_submit) like the rest of the API.
 */
#ifndef PTOOLS_TYPES_H
#define PTOOLS_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where a task id is expected: no task. */
#define PT_TASK_NONE ((int64_t)-1)

/*
 * Element types of shared-memory segments and .npy files (ptools/dtype.h
 * names them). Names are NumPy's (`int8` ... `float64`); codes are stable
 * (they are stored in segment headers), so new types only go at the end.
 */
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

/* The most dims a segment has. */
#define PT_SHM_MAXDIMS 8

/* What a shared segment holds, as kernels (pt_shm_get) and its owner see
 * it (ptools/shm.h). */
typedef struct pt_shm_view {
    void *data; /* page-aligned */
    pt_dtype type;
    int ndims;
    uint64_t dims[PT_SHM_MAXDIMS];
    uint64_t size;    /* elements: the product of dims */
    uint64_t nbytes;  /* size * pt_dtype_size(type) */
    const char *name; /* the segment's name (without prefix) */
} pt_shm_view;

#ifdef __cplusplus
}
#endif
#endif
