/*
 * ctor_crash.so - a library whose constructor segfaults: loading it must
 * cost a probe child, never ptrun (as a kernel library or as a plugin).
 * Its kernel `never` would do nothing, if the library ever loaded.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>

#include <ptools/kernel.h>

/* A real fault: the compiler cannot see that p is null, nor drop the store. */
__attribute__((constructor)) static void crash_on_load(void)
{
    int *volatile p = NULL;
    *p = 42;
    raise(SIGSEGV); /* not reached */
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
