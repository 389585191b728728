/*
 * no_call.so - a kernel descriptor without its required `call`: the loader
 * must refuse it (naming the kernel) instead of jumping to NULL later.
 */
#include <ptools/kernel.h>

static const pt_kernel no_call_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "no_call",
    .doc = "a kernel whose call is NULL",
    .call = NULL,
};

PT_KERNELS(&no_call_kernel);
