/*
 * busy - a bench kernel that computes for a set time: METG and mixed
 * durations (bench/run_bench.py).
 *
 *   args:    iters  steps of the loop in busy_loop.h (int >= 0, default
 *                   0); run_bench.py calibrates steps per us with
 *                   bench/busy_ref first
 *   results: none (the loop's value is kept from the optimiser, not
 *            returned, so a task costs its loop and nothing else)
 */
#include <ptools/kernel.h>

#include "busy_loop.h"

static int busy_call(pt_ctx *ctx)
{
    int64_t n = pt_arg_int(ctx, "iters", 0);
    if (n < 0)
        return pt_fail(ctx, "arg `iters` must be >= 0");
    uint64_t x = busy_loop((uint64_t)pt_task_id(ctx), n);
    __asm__ volatile("" : : "r"(x));
    return 0;
}

static const pt_kernel busy_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "busy",
    .doc = "spins `iters` steps of a multiply-add chain: a compute-bound "
           "task of a calibrated duration",
    .call = busy_call,
};

PT_KERNELS(&busy_kernel);
