/*
 * range.h - which elements of a segment `fill` and `sum` work on.
 *
 * Header-only (static inline) because every kernel .so stands alone and
 * links nothing. The arguments, the same for both kernels:
 *
 *   segment  the name of one of the job's shm segments (required)
 *   offset   the first element, in flat row-major order (default 0)
 *   count    how many elements (default: from offset to the end)
 *   part     "worker": this worker's contiguous share instead; worker i of
 *            n gets [i*size/n, (i+1)*size/n), so the shares of all workers
 *            tile the segment exactly, whatever n. Not with offset/count.
 *
 * A range that does not fit in the segment is an error, never clipped.
 */
#ifndef PTOOLS_KERNELS_RANGE_H
#define PTOOLS_KERNELS_RANGE_H

#include <string.h>

#include <ptools/kernel.h>

/* The declared params of the range (kernel ABI 2), after `segment`. */
#define RANGE_PARAMS                                                           \
    {"offset", PT_PARAM_INT, "0", "first element, in flat row-major order"},   \
        {"count", PT_PARAM_INT, "~",                                           \
         "how many elements (default: to the end)"},                           \
    {                                                                          \
        "part", PT_PARAM_STR, "~",                                             \
            "`worker`: this worker's contiguous share (not with offset/count)" \
    }

/* The elements [begin, begin + count) of the segment `seg`. */
typedef struct range {
    const char *name; /* the `segment` arg */
    const pt_shm_view *seg;
    uint64_t begin, count;
} range;

/* The NumPy name of a segment's element type, for messages. */
static inline const char *range_type_name(pt_dtype t)
{
    static const char *const names[PT_DTYPE_COUNT] = {
        "none",   "int8",   "int16",  "int32",   "int64",  "uint8",
        "uint16", "uint32", "uint64", "float32", "float64"};
    return t > PT_DTYPE_NONE && t < PT_DTYPE_COUNT ? names[t] : "unknown";
}

/*
 * Element i*size/n, computed without overflowing 64 bits: with size = q*n+r,
 * i*size/n = i*q + i*r/n exactly, and i*r < n*n < 2^62 as n is an int.
 */
static inline uint64_t range_share_start(uint64_t size, uint64_t i, uint64_t n)
{
    return i * (size / n) + i * (size % n) / n;
}

/* A count argument: `def` when absent, else an int >= 0 (or pt_fail). */
static inline int range_count_arg(pt_ctx *ctx, const char *key, uint64_t def,
                                  uint64_t *out)
{
    *out = def;
    if (!pt_arg_has(ctx, key))
        return 0;
    int64_t v = pt_arg_int(ctx, key, -1); /* a non-int fails the task */
    if (v < 0)
        return pt_fail(ctx, "arg `%s` must be an integer >= 0", key);
    *out = (uint64_t)v;
    return 0;
}

/* This worker's share of `size` elements (`part: worker`). */
static inline void range_worker_share(pt_ctx *ctx, uint64_t size, range *r)
{
    int i = pt_worker_index(ctx), n = pt_worker_count(ctx);
    if (n < 1 || i < 0 || i >= n) { /* not in a worker set: everything */
        i = 0;
        n = 1;
    }
    r->begin = range_share_start(size, (uint64_t)i, (uint64_t)n);
    r->count = range_share_start(size, (uint64_t)i + 1, (uint64_t)n) - r->begin;
}

/* Read segment/offset/count/part into *r: 0, or pt_fail()'s -1. */
static inline int range_arg(pt_ctx *ctx, range *r)
{
    const char *name = r->name = pt_arg_str(ctx, "segment", NULL);
    if (!name)
        return pt_fail(ctx, "arg `segment` (a segment name) is required");
    r->seg = pt_shm_get(ctx, name);
    if (!r->seg)
        return pt_fail(ctx, "no shared memory segment named \"%s\"", name);
    uint64_t size = r->seg->size;
    if (pt_arg_has(ctx, "part")) {
        const char *part = pt_arg_str(ctx, "part", "");
        if (strcmp(part, "worker") != 0)
            return pt_fail(ctx, "arg `part` must be \"worker\"");
        if (pt_arg_has(ctx, "offset") || pt_arg_has(ctx, "count"))
            return pt_fail(ctx, "`part` excludes `offset` and `count`");
        range_worker_share(ctx, size, r);
        return 0;
    }
    if (range_count_arg(ctx, "offset", 0, &r->begin) != 0)
        return -1;
    if (r->begin > size)
        return pt_fail(
            ctx, "offset %llu is past the end of \"%s\" (%llu elements)",
            (unsigned long long)r->begin, name, (unsigned long long)size);
    if (range_count_arg(ctx, "count", size - r->begin, &r->count) != 0)
        return -1;
    if (r->count > size - r->begin)
        return pt_fail(ctx,
                       "offset %llu + count %llu is past the end of "
                       "\"%s\" (%llu elements)",
                       (unsigned long long)r->begin,
                       (unsigned long long)r->count, name,
                       (unsigned long long)size);
    return 0;
}

#endif
