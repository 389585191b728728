/*
 * blob - a bench kernel that returns a large byte array: result bandwidth.
 *
 *   args:    bytes  the size of the result (int >= 0, default 64 MiB)
 *   results: data   `bytes` bytes (a pattern, filled once per worker)
 *
 * The buffer is kept in the worker's state, so that a call costs what
 * moving the result costs, not what making it costs.
 */
#include <stdlib.h>
#include <string.h>

#include <ptools/kernel.h>

typedef struct blob {
    size_t len;
    unsigned char data[];
} blob;

/* This worker's buffer of n bytes, made on first use (or when n changes). */
static const blob *get_blob(pt_ctx *ctx, size_t n)
{
    blob *b = pt_state_get(ctx, "blob");
    if (b && b->len == n)
        return b;
    b = malloc(sizeof *b + (n ? n : 1));
    if (!b)
        return NULL;
    b->len = n;
    for (size_t i = 0; i < n; i++)
        b->data[i] = (unsigned char)(i * 131u + 7u);
    if (pt_state_set(ctx, "blob", b, free) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

static int blob_call(pt_ctx *ctx)
{
    int64_t n = pt_arg_int(ctx, "bytes", (int64_t)64 << 20);
    if (n < 0)
        return pt_fail(ctx, "arg `bytes` must be >= 0");
    const blob *b = get_blob(ctx, (size_t)n);
    if (!b)
        return pt_fail(ctx, "out of memory for %lld bytes", (long long)n);
    int rc = pt_result_bytes(ctx, "data", b->data, b->len);
    return rc == 0 ? 0
                   : pt_fail(ctx, "result of %lld bytes: error %d",
                             (long long)n, rc);
}

static const pt_kernel blob_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "blob",
    .doc = "returns `bytes` bytes (default 64 MiB): result bandwidth",
    .call = blob_call,
};

PT_KERNELS(&blob_kernel);
