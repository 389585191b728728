/*
 * dup_names.so - two kernels with the same name "twice": the loader must
 * refuse the library rather than pick one of them.
 */
#include <ptools/kernel.h>

static int first_call(pt_ctx *ctx)
{
    return pt_result_int(ctx, "which", 1);
}

static int second_call(pt_ctx *ctx)
{
    return pt_result_int(ctx, "which", 2);
}

static const pt_kernel first_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "twice",
    .doc = "the first kernel named twice",
    .call = first_call,
};

static const pt_kernel second_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "twice",
    .doc = "the second kernel named twice",
    .call = second_call,
};

PT_KERNELS(&first_kernel, &second_kernel);
