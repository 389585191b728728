/*
 * tally.c - a kernel whose state outlives its worker: `tally` adds each
 * task's `x` (default 1) to a running total kept in the worker's state,
 * and returns the total so far. With `checkpoint:` on its worker set,
 * `save` writes the total into the worker's snapshot and `restore` reads
 * it back in a replacement worker or a resumed run.
 * Built as build/examples/tally.so; run by configs/checkpoint.yaml.
 */
#include <stdlib.h>
#include <string.h>
#include <ptools/kernel.h>

static int64_t *total_of(pt_ctx *ctx)
{
    int64_t *t = pt_state_get(ctx, "total");
    if (!t && (t = calloc(1, sizeof *t)) &&
        pt_state_set(ctx, "total", t, free) < 0) {
        free(t);
        t = NULL;
    }
    return t;
}

static int tally(pt_ctx *ctx)
{
    int64_t *t = total_of(ctx);
    if (!t)
        return pt_fail(ctx, "out of memory");
    *t += pt_arg_int(ctx, "x", 1);
    return pt_result_int(ctx, "total", *t);
}

static int save(pt_ctx *ctx, pt_buf *out)
{
    int64_t *t = total_of(ctx);
    return t ? pt_save_bytes(ctx, out, t, sizeof *t) : -1;
}

static int restore(pt_ctx *ctx, const void *data, size_t len)
{
    int64_t *t = total_of(ctx);
    if (!t || len != sizeof *t)
        return pt_fail(ctx, "expected 8 bytes of total, got %zu", len);
    memcpy(t, data, sizeof *t);
    return 0;
}

static const pt_kernel tally_kernel = {.abi = PT_KERNEL_ABI,
                                       .name = "tally",
                                       .doc = "a running total that "
                                              "survives its worker",
                                       .call = tally,
                                       .save = save,
                                       .restore = restore};

PT_KERNELS(&tally_kernel);
