/*
 * ctor_exit.so - a library whose constructor calls exit(0): a process that
 * loads it ends "successfully" having done nothing, so ptrun must never be
 * that process. Its kernel `never` would do nothing.
 */
#include <stdlib.h>

#include <ptools/kernel.h>

__attribute__((constructor)) static void exit_on_load(void)
{
    exit(0);
}

static int never_call(pt_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static const pt_kernel never = {.abi = PT_KERNEL_ABI,
                                .name = "never",
                                .doc = "not reached",
                                .call = never_call};
PT_KERNELS(&never);
