/*
 * sum - adds up a range of a shared memory segment.
 *
 *   args:    segment  the segment's name (required)
 *            offset, count, or part: worker - the range; see range.h
 *                     (default: the whole segment)
 *   results: sum      the sum: int for integer segments, real for float ones
 *            count    elements added (int)
 *
 * Integer segments are summed in 64-bit integers, exactly while the true
 * sum fits an int64; beyond that it wraps around modulo 2^64 (two's
 * complement), so a uint64 segment whose sum exceeds 2^63 - 1 reports it
 * as a negative int. Float segments are summed in double, in element order.
 * With `part: worker` on every worker, the per-task sums add up to the
 * whole segment's.
 */
#include <ptools/kernel.h>

#include "range.h"

/* Add up elements of type T into acc: uint64 (wraps, well defined) or double.
 */
#define SUM(T, acc)                                                            \
    do {                                                                       \
        const T *p = (const T *)r.seg->data + r.begin;                         \
        for (uint64_t i = 0; i < r.count; i++)                                 \
            acc += p[i];                                                       \
    } while (0)

/* The int64 with the bits of u (a plain cast is implementation-defined). */
static int64_t as_int64(uint64_t u)
{
    return u <= INT64_MAX ? (int64_t)u : -(int64_t)~u - 1;
}

static int sum_call(pt_ctx *ctx)
{
    range r = {0};
    if (range_arg(ctx, &r) != 0)
        return -1;
    uint64_t n = 0;
    double x = 0;
    switch (r.seg->type) {
    case PT_INT8: SUM(int8_t, n); break;
    case PT_INT16: SUM(int16_t, n); break;
    case PT_INT32: SUM(int32_t, n); break;
    case PT_INT64: SUM(int64_t, n); break;
    case PT_UINT8: SUM(uint8_t, n); break;
    case PT_UINT16: SUM(uint16_t, n); break;
    case PT_UINT32: SUM(uint32_t, n); break;
    case PT_UINT64: SUM(uint64_t, n); break;
    case PT_FLOAT32: SUM(float, x); break;
    case PT_FLOAT64: SUM(double, x); break;
    default: return pt_fail(ctx, "segment \"%s\": unknown type", r.name);
    }
    int rc = r.seg->type <= PT_UINT64 ? pt_result_int(ctx, "sum", as_int64(n))
                                      : pt_result_real(ctx, "sum", x);
    if (rc == 0)
        rc = pt_result_int(ctx, "count", (int64_t)r.count);
    return rc;
}

static const pt_param sum_params[] = {
    {"segment", PT_PARAM_STR, NULL, "the segment's name"},
    RANGE_PARAMS,
    {NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel sum_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "sum",
    .doc = "adds up a segment's range (or this worker's part)",
    .call = sum_call,
    .params = sum_params,
};

PT_KERNELS(&sum_kernel);
