/* A user's kernel, built by ptools_add_kernel: y = x^3. */
#include <ptools/kernel.h>

static int cube(pt_ctx *ctx)
{
    int64_t x = pt_arg_int(ctx, "x", 0);
    return pt_result_int(ctx, "y", x * x * x);
}

static const pt_kernel cube_kernel = {
    .abi = PT_KERNEL_ABI, .name = "cube", .doc = "y = x^3", .call = cube};
PT_KERNELS(&cube_kernel);
