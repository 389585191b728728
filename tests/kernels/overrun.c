/*
 * overrun.so - a kernel that writes where it is told, in or out of bounds, so
 * that tests can check that a stray write into shared memory costs only the
 * task that made it (the guard pages of lib/shm_data.c), never another segment.
 *
 *   overrun  args:   segment  the segment's name (required)
 *                    offset   bytes from the segment's data start (default
 *                             0; may be negative or past the end)
 *                    value    the byte to store (default 0xAB)
 *            writes one byte at data + offset; result `offset`
 */
#include <stdint.h>

#include <ptools/kernel.h>

/* kernel.h shows a kernel its ctx and the shared types, none of the
 * library's functions (no pt_shm_create, no pt_strerror). */
#if defined(PTOOLS_SHM_H) || defined(PTOOLS_COMMON_H) || defined(PTOOLS_DTYPE_H)
#error "ptools/kernel.h must not include shm.h, dtype.h or common.h"
#endif

static int overrun_call(pt_ctx *ctx)
{
    const char *name = pt_arg_str(ctx, "segment", NULL);
    const pt_shm_view *v = name ? pt_shm_get(ctx, name) : NULL;
    if (!v)
        return pt_fail(ctx, "no segment \"%s\"", name ? name : "(none)");
    int64_t off = pt_arg_int(ctx, "offset", 0);
    /* Integer arithmetic, so that the compiler cannot reason the store away
     * as out of bounds: the address is what the task asked for. */
    uintptr_t at = (uintptr_t)v->data + (uintptr_t)off;
    *(volatile uint8_t *)at = (uint8_t)pt_arg_int(ctx, "value", 0xAB);
    return pt_result_int(ctx, "offset", off);
}

static const pt_kernel overrun_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "overrun",
    .doc = "writes one byte at `offset` from a segment's data start",
    .call = overrun_call,
};

PT_KERNELS(&overrun_kernel);
