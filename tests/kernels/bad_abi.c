/*
 * bad_abi.so - a kernel built for an ABI the library does not know (999):
 * loading it must fail with a message naming the file and both versions.
 */
#include <ptools/kernel.h>

static int future_call(pt_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static const pt_kernel future_kernel = {
    .abi = 999,
    .name = "future",
    .doc = "built for kernel ABI 999",
    .call = future_call,
};

PT_KERNELS(&future_kernel);
