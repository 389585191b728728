/*
 * sleep - sleeps for a while: a stand-in for a task that takes time.
 *
 *   args:    ms        milliseconds to sleep (int >= 0, default 0)
 *   results: slept_ms  the time asked for, once it has passed (int)
 *
 * Useful to try timeouts, priorities and worker modes without burning CPU.
 * A signal does not cut the sleep short: nanosleep() resumes with the time
 * that remains.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>
#include <time.h>

#include <ptools/kernel.h>

static int sleep_call(pt_ctx *ctx)
{
    int64_t ms = pt_arg_int(ctx, "ms", 0);
    if (ms < 0)
        return pt_fail(ctx, "arg `ms` must be >= 0, not %lld", (long long)ms);
    struct timespec left = {.tv_sec = (time_t)(ms / 1000),
                            .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0)
        if (errno != EINTR)
            return pt_fail(ctx, "nanosleep: %s", strerror(errno));
    return pt_result_int(ctx, "slept_ms", ms);
}

static const pt_param sleep_params[] = {
    {"ms", PT_PARAM_INT, "0", "milliseconds to sleep (>= 0)"},
    {NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel sleep_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "sleep",
    .doc = "sleeps `ms` milliseconds",
    .call = sleep_call,
    .params = sleep_params,
};

PT_KERNELS(&sleep_kernel);
