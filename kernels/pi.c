/*
 * pi - estimates pi by Monte Carlo: the share of random points of the unit
 * square that fall inside the quarter circle x^2 + y^2 <= 1, times 4.
 *
 *   args:    samples  how many points (int >= 1, default 1000000)
 *   results: hits     points inside the quarter circle (int)
 *            samples  points drawn (int)
 *            pi       4 * hits / samples (real)
 *
 * The only randomness is pt_task_seed(), so a task's results depend on the
 * job's seed and the task's id alone, never on which worker ran it or when:
 * xoshiro256** seeded by splitmix64, x and y from the top 53 bits of a draw
 * (the loop is in pi_loop.h, shared with the OpenMP benchmark).
 * Averaging the `pi` of many tasks (of equal `samples`) gives a finer value.
 */
#include <ptools/kernel.h>

#include "pi_loop.h"

static int pi_call(pt_ctx *ctx)
{
    int64_t samples = pt_arg_int(ctx, "samples", 1000000);
    if (samples < 1)
        return pt_fail(ctx, "arg `samples` must be >= 1, not %lld",
                       (long long)samples);
    uint64_t hits = pi_loop_hits(pt_task_seed(ctx), samples);
    int rc = pt_result_int(ctx, "hits", (int64_t)hits);
    if (rc == 0)
        rc = pt_result_int(ctx, "samples", samples);
    if (rc == 0)
        rc = pt_result_real(ctx, "pi", 4.0 * (double)hits / (double)samples);
    return rc;
}

static const pt_param pi_params[] = {
    {"samples", PT_PARAM_INT, "1000000", "points to draw (>= 1)"},
    {NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel pi_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "pi",
    .doc = "Monte Carlo pi from `samples` points",
    .call = pi_call,
    .params = pi_params,
};

PT_KERNELS(&pi_kernel);
