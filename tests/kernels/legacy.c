/*
 * legacy.so - a kernel built for kernel ABI 1: its descriptor ends after
 * `fini` (no params, save, restore), as the old header laid it out. ptrun
 * loads it and runs it unchecked; a wrong arg type fails its task at run
 * time (the accessor says so), never reads as the default.
 *
 *   legacy   result `n` = pt_arg_int(ctx, "n", 7)
 */
#include <ptools/kernel.h>

/* pt_kernel as ABI 1 had it. */
typedef struct abi1_kernel {
    uint32_t abi;
    const char *name;
    const char *doc;
    int (*init)(pt_ctx *);
    int (*call)(pt_ctx *);
    void (*fini)(pt_ctx *);
} abi1_kernel;

static int legacy_call(pt_ctx *ctx)
{
    return pt_result_int(ctx, "n", pt_arg_int(ctx, "n", 7));
}

static const abi1_kernel legacy_kernel = {
    .abi = 1,
    .name = "legacy",
    .doc = "an ABI 1 kernel: result n = arg n (default 7)",
    .call = legacy_call,
};

PT_EXTERN const void *const pt_kernels[] = {&legacy_kernel, NULL};
