/*
 * fill - writes one value into a range of a shared memory segment.
 *
 *   args:    segment  the segment's name (required)
 *            value    the number to store (required)
 *            offset, count, or part: worker - the range; see range.h
 *                     (default: the whole segment)
 *   results: filled   elements written (int)
 *
 * The value must fit the segment's type, else the task fails and nothing is
 * written: an integer segment takes whole numbers within its range only
 * (2.0 is fine, 2.5 is an error: never rounded nor truncated), float32 any
 * number up to FLT_MAX in magnitude, inf or nan. Int args are stored
 * exactly, even past 2^53. With `each_worker: true` and `part: worker`, the
 * workers of a set fill a segment together, each its contiguous share.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>

#include <ptools/kernel.h>

#include "range.h"

/* A whole number: -mag when neg, else mag (so that all 64-bit ones fit). */
typedef struct whole {
    bool neg;
    uint64_t mag;
} whole;

/* The arg `value` as a whole number: 0, or -1 for 2.5, nan, 1e30, ... */
static int whole_arg(pt_ctx *ctx, whole *w)
{
    if (pt_arg_type(ctx, "value") == PT_ARG_INT) { /* exact past 2^53 */
        int64_t i = pt_arg_int(ctx, "value", 0);
        w->neg = i < 0;
        w->mag = w->neg ? 0 - (uint64_t)i : (uint64_t)i;
        return 0;
    }
    double v = pt_arg_real(ctx, "value", 0), a = v < 0 ? -v : v;
    w->neg = v < 0;
    w->mag = a < 0x1p64 ? (uint64_t)a : 0;
    return a < 0x1p64 && (double)w->mag == a ? 0 : -1;
}

/* Does w fit integer type t? The minimum of a signed type is -max - 1. */
static bool whole_fits(whole w, pt_dtype t)
{
    static const uint64_t max[] = {
        [PT_INT8] = INT8_MAX,     [PT_INT16] = INT16_MAX,
        [PT_INT32] = INT32_MAX,   [PT_INT64] = INT64_MAX,
        [PT_UINT8] = UINT8_MAX,   [PT_UINT16] = UINT16_MAX,
        [PT_UINT32] = UINT32_MAX, [PT_UINT64] = UINT64_MAX};
    if (!w.neg)
        return w.mag <= max[t];
    return t <= PT_INT64 && w.mag - 1 <= max[t];
}

/* w as an int64, for the signed types it fits (so mag <= 2^63). */
static int64_t whole_int64(whole w)
{
    return w.neg ? -(int64_t)(w.mag - 1) - 1 : (int64_t)w.mag;
}

#define FILL(T, value)                                                         \
    do {                                                                       \
        T x = (T)(value), *p = (T *)r.seg->data + r.begin;                     \
        for (uint64_t i = 0; i < r.count; i++)                                 \
            p[i] = x;                                                          \
    } while (0)

static int fill_call(pt_ctx *ctx)
{
    range r = {0};
    if (range_arg(ctx, &r) != 0)
        return -1;
    pt_arg_kind kind = pt_arg_type(ctx, "value");
    if (kind == PT_ARG_NONE || kind == PT_ARG_NULL)
        return pt_fail(ctx, "arg `value` (a number) is required");
    double v = pt_arg_real(ctx, "value", 0);
    if (kind != PT_ARG_INT && kind != PT_ARG_REAL)
        return -1; /* pt_arg_real failed the task, naming what was given */
    pt_dtype t = r.seg->type;
    whole w = {false, 0};
    bool integer = t >= PT_INT8 && t <= PT_UINT64;
    if (integer ? whole_arg(ctx, &w) < 0 || !whole_fits(w, t)
                : t == PT_FLOAT32 && !isinf(v) && (v > FLT_MAX || v < -FLT_MAX))
        return pt_fail(ctx, "value %.17g does not fit in segment \"%s\" (%s)",
                       v, r.name, range_type_name(t));
    switch (t) {
    case PT_INT8: FILL(int8_t, whole_int64(w)); break;
    case PT_INT16: FILL(int16_t, whole_int64(w)); break;
    case PT_INT32: FILL(int32_t, whole_int64(w)); break;
    case PT_INT64: FILL(int64_t, whole_int64(w)); break;
    case PT_UINT8: FILL(uint8_t, w.mag); break;
    case PT_UINT16: FILL(uint16_t, w.mag); break;
    case PT_UINT32: FILL(uint32_t, w.mag); break;
    case PT_UINT64: FILL(uint64_t, w.mag); break;
    case PT_FLOAT32: FILL(float, v); break;
    case PT_FLOAT64: FILL(double, v); break;
    default: return pt_fail(ctx, "segment \"%s\": unknown type", r.name);
    }
    return pt_result_int(ctx, "filled", (int64_t)r.count);
}

static const pt_param fill_params[] = {
    {"segment", PT_PARAM_STR, NULL, "the segment's name"},
    {"value", PT_PARAM_REAL, NULL,
     "the number to store (it must fit the type)"},
    RANGE_PARAMS,
    {NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel fill_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "fill",
    .doc = "stores `value` in a segment's range (or this worker's part)",
    .call = fill_call,
    .params = fill_params,
};

PT_KERNELS(&fill_kernel);
